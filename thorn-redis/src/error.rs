//! Errors of the Redis backend.

use thorn_core::config::redact_url;

use crate::entry::DecodeError;

/// What went wrong talking to Redis or reading the queue.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Redis could not be reached or answered with an error.
    #[error("redis at {url} failed: {source}")]
    Redis {
        /// The server, with any password redacted.
        url: String,
        /// The client's error.
        #[source]
        source: redis::RedisError,
    },
    /// A queue entry or dead letter could not be decoded.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// A setting of the worker or the backend cannot be used.
    #[error("invalid setting {name}: {reason}")]
    Setting {
        /// The setting (command-line flag or builder method).
        name: &'static str,
        /// What is wrong and what is accepted.
        reason: String,
    },
    /// An error of Thorn's core (settings, HTTP client).
    #[error(transparent)]
    Core(#[from] thorn_core::Error),
}

impl Error {
    pub(crate) fn redis(url: &str, source: redis::RedisError) -> Self {
        Error::Redis {
            url: redact_url(url),
            source,
        }
    }

    /// Whether trying again later may succeed (Redis unreachable or busy).
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Redis { source, .. } => !source.is_unrecoverable_error() || source.is_io_error(),
            Error::Core(e) => e.is_retryable(),
            _ => false,
        }
    }

    /// Whether the error says the consumer group is missing (Redis lost it,
    /// say by restarting without persistence).
    pub fn is_no_group(&self) -> bool {
        matches!(self, Error::Redis { source, .. } if is_no_group(source))
    }

    /// Whether Redis answered, but not as expected: asking again would get
    /// the same answer.
    pub(crate) fn is_unexpected_reply(&self) -> bool {
        matches!(self, Error::Redis { source, .. } if matches!(
            source.kind(),
            redis::ErrorKind::UnexpectedReturnType | redis::ErrorKind::Parse
        ))
    }
}

pub(crate) fn is_no_group(e: &redis::RedisError) -> bool {
    e.code() == Some("NOGROUP") || e.to_string().contains("NOGROUP")
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

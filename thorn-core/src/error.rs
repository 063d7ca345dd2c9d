//! Typed errors of Thorn's core.

use std::fmt;

/// A boxed error from a backend, an HTTP client or a store.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What went wrong, as data that callers can decide on.
///
/// Messages name the offending value and say what to do; secrets never
/// appear in them.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An event name or subscription pattern is not dot-separated segments.
    #[error("invalid {what} {value:?}: {reason}")]
    InvalidName {
        /// `"event name"` or `"event pattern"`.
        what: &'static str,
        /// The rejected text ([`excerpt`] of it when long).
        value: String,
        /// Why it was rejected and what is allowed.
        reason: String,
    },
    /// A subscriber URL could not be parsed or is not http/https.
    #[error("invalid subscriber URL {url:?}: {reason}")]
    InvalidUrl {
        /// The rejected URL ([`excerpt`] of it when long).
        url: String,
        /// Why it was rejected.
        reason: String,
    },
    /// A secret is empty or a `whsec_` secret is not valid base64.
    #[error("invalid secret for subscription {subscription}: {reason}")]
    InvalidSecret {
        /// The subscription the secret belongs to (never the secret).
        subscription: String,
        /// Why it was rejected.
        reason: String,
    },
    /// A `THORN_*` setting (or its builder method) got a value it cannot use.
    #[error("invalid setting {name}={value:?}: {reason}")]
    InvalidSetting {
        /// The environment variable that names the setting.
        name: &'static str,
        /// The rejected value ([`excerpt`] of it when long).
        value: String,
        /// What the setting accepts.
        reason: String,
    },
    /// The payload cannot be encoded in a subscription's content type.
    #[error("cannot encode the payload of event {event:?} as {content_type}: {reason}")]
    Encode {
        /// The event's name.
        event: String,
        /// The content type asked for.
        content_type: &'static str,
        /// What in the payload could not be encoded.
        reason: String,
    },
    /// The file of static subscriptions could not be read or parsed.
    #[error("cannot load subscriptions from {path:?}: {reason}")]
    SubscribersFile {
        /// The file named by `THORN_SUBSCRIBERS`.
        path: String,
        /// What was wrong with it.
        reason: String,
    },
    /// No backend is registered under the asked name.
    #[error(
        "unknown dispatcher {name:?}; registered dispatchers: {}{}",
        known.join(", "),
        hint.as_deref().map(|h| format!("; to use {name:?}, {h}")).unwrap_or_default()
    )]
    UnknownDispatcher {
        /// The name asked for (`THORN_DISPATCHER`; [`excerpt`] of it when
        /// long).
        name: String,
        /// Every registered name, sorted.
        known: Vec<String>,
        /// How to get the backend, when the registry knows of it (a crate
        /// feature that is off).
        hint: Option<String>,
    },
    /// The recipient policy refuses a URL or an address.
    #[error("recipient refused: {0}")]
    Refused(#[from] crate::policy::Refusal),
    /// A backend failed to take the events; nothing was lost (they are held
    /// for the next flush) unless the message says otherwise.
    #[error("dispatcher {backend:?} failed: {source}")]
    Dispatch {
        /// The backend's name.
        backend: String,
        /// Whether trying the same call again later can succeed.
        retryable: bool,
        /// The underlying error.
        #[source]
        source: BoxError,
    },
    /// A change to a subscription lost a race: the subscription changed
    /// (or went, or already exists) since the change was read from it.
    /// Nothing was written; read it again and decide anew.
    #[error("subscription {subscription} {reason}; nothing was changed: read it again and retry")]
    Conflict {
        /// The subscription's id.
        subscription: String,
        /// What changed under the write (`"changed since it was read
        /// (revision 3, now 4)"`, `"was removed"`, `"already exists"`).
        reason: String,
    },
    /// An owner already has as many subscriptions as a store was asked to
    /// allow; nothing was added.
    #[error(
        "owner {owner:?} already has {limit} subscriptions, the most allowed; remove one first"
    )]
    OwnerLimit {
        /// The owner ([`excerpt`] of it when long).
        owner: String,
        /// How many an owner may have.
        limit: usize,
    },
    /// A database that is not the subscriber store failed: a backend's
    /// own tables, a log of attempts.
    #[error("{what} failed: {source}")]
    Database {
        /// What failed, as a log says it (`"the event table"`).
        what: &'static str,
        /// Whether trying again later can succeed.
        retryable: bool,
        /// The underlying error.
        #[source]
        source: BoxError,
    },
    /// A subscriber store failed.
    #[error("subscriber store failed: {source}")]
    Store {
        /// Whether trying again later can succeed.
        retryable: bool,
        /// The underlying error.
        #[source]
        source: BoxError,
    },
}

impl Error {
    /// Whether the same call may succeed if tried again later (a network or
    /// backend fault), as opposed to bad input that will fail every time.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Dispatch { retryable, .. }
            | Error::Store { retryable, .. }
            | Error::Database { retryable, .. } => *retryable,
            _ => false,
        }
    }

    /// Whether the error is about input the caller gave (names, URLs,
    /// secrets, settings, payloads).
    pub fn is_invalid_input(&self) -> bool {
        matches!(
            self,
            Error::InvalidName { .. }
                | Error::InvalidUrl { .. }
                | Error::InvalidSecret { .. }
                | Error::InvalidSetting { .. }
                | Error::Encode { .. }
                | Error::SubscribersFile { .. }
                | Error::UnknownDispatcher { .. }
        )
    }

    /// Whether a change lost a race ([`Error::Conflict`]) or met the
    /// owner's limit ([`Error::OwnerLimit`]): the store is fine, the change
    /// was not made.
    pub fn is_conflict(&self) -> bool {
        matches!(self, Error::Conflict { .. } | Error::OwnerLimit { .. })
    }

    /// Builds an [`Error::Conflict`] about `subscription`.
    pub fn conflict(subscription: uuid::Uuid, reason: impl Into<String>) -> Self {
        Error::Conflict {
            subscription: subscription.to_string(),
            reason: reason.into(),
        }
    }

    /// Builds an [`Error::OwnerLimit`].
    pub fn owner_limit(owner: &str, limit: usize) -> Self {
        Error::OwnerLimit {
            owner: excerpt(owner),
            limit,
        }
    }

    /// Whether the recipient policy refused the target.
    pub fn is_refused(&self) -> bool {
        matches!(self, Error::Refused(_))
    }

    /// Builds a [`Error::Dispatch`] from a backend's error.
    pub fn dispatch(
        backend: impl Into<String>,
        retryable: bool,
        source: impl Into<BoxError>,
    ) -> Self {
        Error::Dispatch {
            backend: backend.into(),
            retryable,
            source: source.into(),
        }
    }

    pub(crate) fn setting(
        name: &'static str,
        value: impl fmt::Display,
        reason: impl Into<String>,
    ) -> Self {
        Error::InvalidSetting {
            name,
            value: excerpt(&value.to_string()),
            reason: reason.into(),
        }
    }
}

/// How many characters of a rejected value an error shows.
const EXCERPT_CHARS: usize = 64;

/// `text` as an error shows it: whole when short, else its first 64
/// characters and its length, so that a huge input cannot flood a log.
pub fn excerpt(text: &str) -> String {
    match text.char_indices().nth(EXCERPT_CHARS) {
        None => text.to_owned(),
        Some((cut, _)) => format!("{}… ({} characters)", &text[..cut], text.chars().count()),
    }
}

/// `Result` with Thorn's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

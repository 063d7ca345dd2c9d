//! Where the queue lives: the Redis URL, the queue's name, and timeouts.

use std::fmt;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use thorn_core::Config;
use thorn_core::config::redact_url;
use tokio::sync::OnceCell;

use crate::error::{Error, Result};
use crate::keys::Keys;
use crate::settings::{QUEUE, URL};

/// How to reach the queue. Read from [`Config`] (`THORN_REDIS_URL`,
/// `THORN_REDIS_QUEUE`) or built with the methods here; the URL's password
/// never appears in `Debug`.
///
/// ```
/// use std::time::Duration;
/// use thorn_redis::RedisOptions;
/// let options = RedisOptions::default()
///     .url("redis://:secret@127.0.0.1:6379/")
///     .queue("mail")
///     .connect_timeout(Duration::from_secs(1));
/// assert_eq!(options.keys().stream, "thorn:{mail}:stream");
/// assert!(!format!("{options:?}").contains("secret"));
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct RedisOptions {
    /// The server (`redis://[:password@]host[:port][/db]`).
    pub url: String,
    /// The queue's name: its keys are `thorn:{queue}:…`.
    pub queue: String,
    /// How long to wait for a connection before giving up (default 2 s).
    pub connect_timeout: Duration,
    /// How long to wait for an answer to a command (default 5 s).
    pub response_timeout: Duration,
}

impl Default for RedisOptions {
    /// The defaults of [`URL`] and [`QUEUE`].
    fn default() -> Self {
        RedisOptions {
            url: URL.doc().default.to_owned(),
            queue: QUEUE.doc().default.to_owned(),
            connect_timeout: Duration::from_secs(2),
            response_timeout: Duration::from_secs(5),
        }
    }
}

impl fmt::Debug for RedisOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisOptions")
            .field("url", &redact_url(&self.url))
            .field("queue", &self.queue)
            .field("connect_timeout", &self.connect_timeout)
            .field("response_timeout", &self.response_timeout)
            .finish()
    }
}

impl RedisOptions {
    /// The options `config` names ([`URL`], [`QUEUE`]); a bad value is
    /// an error naming the variable.
    pub fn from_config(config: &Config) -> Result<Self> {
        Ok(RedisOptions {
            url: config.get(&URL)?,
            queue: config.get(&QUEUE)?,
            ..Self::default()
        })
    }

    /// Another server.
    pub fn url(mut self, url: impl Into<String>) -> Self {
        self.url = url.into();
        self
    }

    /// Another queue.
    pub fn queue(mut self, queue: impl Into<String>) -> Self {
        self.queue = queue.into();
        self
    }

    /// Another connect timeout.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Another response timeout.
    pub fn response_timeout(mut self, timeout: Duration) -> Self {
        self.response_timeout = timeout;
        self
    }

    /// The queue's keys.
    pub fn keys(&self) -> Keys {
        Keys::new(&self.queue)
    }

    /// The URL as logs show it: without its password or query.
    pub fn redacted_url(&self) -> String {
        redact_url(&self.url)
    }

    pub(crate) fn connection(&self, response_timeout: Duration) -> Result<Connection> {
        let client =
            redis::Client::open(self.url.as_str()).map_err(|e| Error::redis(&self.url, e))?;
        Ok(Connection {
            client,
            url: self.url.clone(),
            connect_timeout: self.connect_timeout,
            response_timeout,
            manager: OnceCell::new(),
        })
    }
}

/// A lazily opened, self-healing connection: connects on first use, and
/// reconnects in the background after a connection error.
pub(crate) struct Connection {
    client: redis::Client,
    url: String,
    connect_timeout: Duration,
    response_timeout: Duration,
    manager: OnceCell<ConnectionManager>,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("url", &redact_url(&self.url))
            .finish_non_exhaustive()
    }
}

impl Connection {
    /// The connection (a cheap clone of a multiplexed one).
    pub(crate) async fn get(&self) -> Result<ConnectionManager> {
        let manager = self
            .manager
            .get_or_try_init(|| async {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(self.connect_timeout))
                    .set_response_timeout(Some(self.response_timeout))
                    // Callers decide how to retry; one quick reconnect here.
                    .set_number_of_retries(1)
                    .set_min_delay(Duration::from_millis(50))
                    .set_max_delay(Duration::from_millis(500));
                ConnectionManager::new_lazy_with_config(self.client.clone(), config)
            })
            .await
            .map_err(|e| Error::redis(&self.url, e))?;
        Ok(manager.clone())
    }

    /// Wraps a client error with the (redacted) URL.
    pub(crate) fn err(&self, e: redis::RedisError) -> Error {
        Error::redis(&self.url, e)
    }
}

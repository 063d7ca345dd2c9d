//! Settings, from `THORN_*` environment variables or a builder.
//!
//! Core reads the settings declared in [`core`]; each backend crate
//! declares its own as [`Setting`] constants and reads them from the same
//! [`Config`], which keeps every `THORN_*` variable it was built from (and
//! every one set on a builder). A bad value is an error naming the variable
//! and the value, whichever way it came. The README's table of settings is
//! made from the declarations ([`setting::table`]).
//!
//! Durations are seconds (`3`, `0.5`) or a number with `ms`, `s` or `m`,
//! from 1 ms to one day. Booleans are `true`/`false`, `1`/`0`, `yes`/`no`,
//! `on`/`off`.

pub mod builder;
pub mod core;
pub mod extensions;
pub mod parse;
pub mod setting;

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

pub use builder::ConfigBuilder;
pub use extensions::Extensions;
pub use setting::{Setting, SettingDoc};

use crate::breaker::BreakerPolicy;
use crate::error::{Error, Result};
use crate::policy::RecipientPolicy;
use crate::redirect::RedirectPolicy;
use crate::report::SharedObserver;
use crate::retry::RetryPolicy;
use crate::signer::Signer;

/// Thorn's settings. Build with [`Config::builder`] or read with
/// [`Config::from_env`].
///
/// ```
/// use std::time::Duration;
/// use thorn_core::Config;
/// let config = Config::builder()
///     .dispatcher("disabled")
///     .event_timeout(Duration::from_secs(5))
///     .var("THORN_MYQUEUE_URL", "mq://127.0.0.1/")
///     .build()
///     .unwrap();
/// assert_eq!(config.dispatcher, "disabled");
/// assert_eq!(config.var("THORN_MYQUEUE_URL"), Some("mq://127.0.0.1/"));
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct Config {
    /// The backend's registered name (`THORN_DISPATCHER`).
    pub dispatcher: String,
    /// Events per queue entry on flush (`THORN_CHUNKSIZE`).
    pub chunk_size: usize,
    /// Timeout of one HTTP attempt (`THORN_EVENT_TIMEOUT`).
    pub event_timeout: Duration,
    /// Retries (`THORN_RETRY`, `THORN_RETRY_MAX`, `THORN_RETRY_DELAY`,
    /// `THORN_RETRY_MAX_DELAY`).
    pub retry: RetryPolicy,
    /// Who may be sent to (`THORN_RECIPIENT_VALIDATORS`).
    pub recipients: RecipientPolicy,
    /// Which redirects are followed (`THORN_ALLOW_REDIRECTS`).
    pub allow_redirects: RedirectPolicy,
    /// A JSON file of static subscriptions (`THORN_SUBSCRIBERS`).
    pub subscribers_file: Option<PathBuf>,
    /// Deliveries in flight at once (`THORN_CONCURRENCY`).
    pub concurrency: usize,
    /// Whether bodies are wrapped in the envelope (`THORN_ENVELOPE`).
    pub envelope: bool,
    /// Whether every delivery carries Standard Webhooks headers
    /// (`THORN_STANDARD_WEBHOOKS`).
    pub standard_webhooks: bool,
    /// The `Hook-HMAC` scheme of subscriptions that name none
    /// (`THORN_HMAC_SIGNER`).
    pub hmac_signer: Signer,
    /// When a subscription's circuit opens (`THORN_BREAKER`,
    /// `THORN_BREAKER_FAILURES`, `THORN_BREAKER_COOL_DOWN`,
    /// `THORN_BREAKER_MAX_COOL_DOWN`).
    pub breaker: BreakerPolicy,
    /// Observers of every attempt.
    pub observers: Vec<SharedObserver>,
    /// Typed values for backends.
    pub extensions: Extensions,
    /// Every `THORN_*` variable the config was built from, and every one
    /// set on a builder, as text: backends read their own settings here
    /// (through [`Config::get`]).
    pub vars: BTreeMap<String, String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            dispatcher: "default".into(),
            chunk_size: 10,
            event_timeout: Duration::from_secs(3),
            retry: RetryPolicy::default(),
            recipients: RecipientPolicy::default(),
            allow_redirects: RedirectPolicy::Never,
            subscribers_file: None,
            concurrency: 64,
            envelope: false,
            standard_webhooks: false,
            hmac_signer: Signer::Hmac,
            breaker: BreakerPolicy::default(),
            observers: Vec::new(),
            extensions: Extensions::default(),
            vars: BTreeMap::new(),
        }
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Variables' values may hold secrets (a URL's password): names only.
        f.debug_struct("Config")
            .field("dispatcher", &self.dispatcher)
            .field("chunk_size", &self.chunk_size)
            .field("event_timeout", &self.event_timeout)
            .field("retry", &self.retry)
            .field("recipients", &self.recipients)
            .field("allow_redirects", &self.allow_redirects)
            .field("subscribers_file", &self.subscribers_file)
            .field("concurrency", &self.concurrency)
            .field("envelope", &self.envelope)
            .field("standard_webhooks", &self.standard_webhooks)
            .field("hmac_signer", &self.hmac_signer)
            .field("breaker", &self.breaker)
            .field("observers", &self.observers.len())
            .field("extensions", &self.extensions)
            .field("vars", &self.vars.keys())
            .finish()
    }
}

/// A URL as logs and errors show it: without credentials or query (see
/// [`shown_url`](crate::shown_url())).
pub fn redact_url(url: &str) -> String {
    crate::shown_url(url)
}

/// The prefix of every variable a config keeps.
pub const PREFIX: &str = "THORN_";

impl Config {
    /// Starts from the defaults.
    pub fn builder() -> ConfigBuilder {
        ConfigBuilder::new()
    }

    /// Reads every `THORN_*` variable of the process environment.
    pub fn from_env() -> Result<Self> {
        Self::from_vars(std::env::vars())
    }

    /// Reads the `THORN_*` variables among `vars` (names and values from
    /// any source) and keeps them all, core's and backends' alike.
    pub fn from_vars<K, V>(vars: impl IntoIterator<Item = (K, V)>) -> Result<Self>
    where
        K: Into<String>,
        V: Into<String>,
    {
        let vars: BTreeMap<String, String> = vars
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .filter(|(k, _)| k.starts_with(PREFIX))
            .collect();
        let mut c = Config::default();
        for (name, value) in vars {
            c.set_var(name, value)?;
        }
        c.check()?;
        Ok(c)
    }

    /// A variable's text, as read or set.
    pub fn var(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str)
    }

    /// The value of `setting`: its variable if set, else its default; an
    /// error names the variable and the value.
    pub fn get<T>(&self, setting: &Setting<T>) -> Result<T> {
        setting.read(self)
    }

    /// Sets a variable as the environment would: a core setting is parsed
    /// into its field now (an error names it and leaves the config as it
    /// was); any other `THORN_*` variable is kept for its backend.
    pub fn set_var(&mut self, name: impl Into<String>, value: impl Into<String>) -> Result<()> {
        let (name, value) = (name.into(), value.into());
        self.apply(&name, &value)?;
        self.vars.insert(name, value);
        Ok(())
    }

    /// Parses the core setting `name`, if it is one, into its field.
    fn apply(&mut self, name: &str, text: &str) -> Result<()> {
        use self::core::*;
        if name == DISPATCHER.name() {
            self.dispatcher = DISPATCHER.parse(text)?;
        } else if name == CHUNKSIZE.name() {
            self.chunk_size = CHUNKSIZE.parse(text)?;
        } else if name == EVENT_TIMEOUT.name() {
            self.event_timeout = EVENT_TIMEOUT.parse(text)?;
        } else if name == RETRY.name() {
            self.retry.enabled = RETRY.parse(text)?;
        } else if name == RETRY_MAX.name() {
            self.retry.max_retries = RETRY_MAX.parse(text)?;
        } else if name == RETRY_DELAY.name() {
            self.retry.base_delay = RETRY_DELAY.parse(text)?;
        } else if name == RETRY_MAX_DELAY.name() {
            self.retry.max_delay = RETRY_MAX_DELAY.parse(text)?;
        } else if name == RECIPIENT_VALIDATORS.name() {
            self.recipients = RECIPIENT_VALIDATORS.parse(text)?;
        } else if name == ALLOW_REDIRECTS.name() {
            self.allow_redirects = ALLOW_REDIRECTS.parse(text)?;
        } else if name == SUBSCRIBERS.name() {
            self.subscribers_file = SUBSCRIBERS.parse(text)?;
        } else if name == CONCURRENCY.name() {
            self.concurrency = CONCURRENCY.parse(text)?;
        } else if name == ENVELOPE.name() {
            self.envelope = ENVELOPE.parse(text)?;
        } else if name == STANDARD_WEBHOOKS.name() {
            self.standard_webhooks = STANDARD_WEBHOOKS.parse(text)?;
        } else if name == HMAC_SIGNER.name() {
            self.hmac_signer = HMAC_SIGNER.parse(text)?;
        } else if name == BREAKER.name() {
            self.breaker.enabled = BREAKER.parse(text)?;
        } else if name == BREAKER_FAILURES.name() {
            self.breaker.consecutive_failures = BREAKER_FAILURES.parse(text)?;
        } else if name == BREAKER_COOL_DOWN.name() {
            self.breaker.cool_down = BREAKER_COOL_DOWN.parse(text)?;
        } else if name == BREAKER_MAX_COOL_DOWN.name() {
            self.breaker.max_cool_down = BREAKER_MAX_COOL_DOWN.parse(text)?;
        }
        Ok(())
    }

    /// The checks across settings: the longest retry delay is at least the
    /// first.
    fn check(&self) -> Result<()> {
        let (cool, longest) = (self.breaker.cool_down, self.breaker.max_cool_down);
        if longest < cool {
            return Err(Error::setting(
                self::core::BREAKER_MAX_COOL_DOWN.name(),
                format!("{longest:?}"),
                format!(
                    "it is shorter than THORN_BREAKER_COOL_DOWN ({cool:?}); make it at least as long"
                ),
            ));
        }
        let (base, max) = (self.retry.base_delay, self.retry.max_delay);
        if max >= base {
            return Ok(());
        }
        let given = |setting: &Setting<Duration>, d: Duration| {
            self.var(setting.name())
                .map_or_else(|| format!("{d:?}"), |v| v.trim().to_owned())
        };
        Err(Error::setting(
            self::core::RETRY_MAX_DELAY.name(),
            given(&self::core::RETRY_MAX_DELAY, max),
            format!(
                "it is shorter than THORN_RETRY_DELAY ({}); make it at least as long",
                given(&self::core::RETRY_DELAY, base)
            ),
        ))
    }
}

#[cfg(test)]
mod tests;

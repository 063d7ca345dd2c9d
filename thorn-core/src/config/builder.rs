//! [`ConfigBuilder`]: settings one by one, checked as the environment's are.

use std::any::Any;
use std::path::PathBuf;
use std::time::Duration;

use crate::config::Config;
use crate::config::core::{
    CHUNKSIZE, CONCURRENCY, EVENT_TIMEOUT, RETRY_DELAY, RETRY_MAX, RETRY_MAX_DELAY,
};
use crate::config::setting::Setting;
use crate::error::Result;
use crate::policy::RecipientPolicy;
use crate::redirect::RedirectPolicy;
use crate::report::SharedObserver;
use crate::retry::RetryPolicy;
use crate::signer::Signer;

/// Sets [`Config`] fields one by one; a bad value surfaces at
/// [`build`](Self::build), naming the setting. Typed values pass the same
/// checks as the variables' text ([`Setting::accept`]).
#[derive(Debug)]
#[must_use]
pub struct ConfigBuilder(Result<Config>);

impl Default for ConfigBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl ConfigBuilder {
    /// Starts from the defaults.
    pub fn new() -> Self {
        ConfigBuilder(Ok(Config::default()))
    }

    fn map(self, f: impl FnOnce(&mut Config) -> Result<()>) -> Self {
        ConfigBuilder(self.0.and_then(|mut c| f(&mut c).map(|()| c)))
    }

    /// Sets a `THORN_*` variable as the environment would: core's settings
    /// are parsed now; any other (a backend's) is kept for its backend,
    /// which parses it when it is built.
    pub fn var(self, name: impl Into<String>, value: impl Into<String>) -> Self {
        let (name, value) = (name.into(), value.into());
        self.map(|c| c.set_var(name, value))
    }

    /// Sets a declared setting from its text, parsed now so that a bad
    /// value fails [`build`](Self::build).
    pub fn set<T>(self, setting: &Setting<T>, value: impl Into<String>) -> Self {
        let value = value.into();
        self.map(|c| {
            setting.parse(&value)?;
            c.set_var(setting.name(), value)
        })
    }

    /// The backend's registered name; empty means the default.
    pub fn dispatcher(self, name: impl Into<String>) -> Self {
        let name = name.into();
        self.map(|c| {
            let name = name.trim();
            c.dispatcher = if name.is_empty() { "default" } else { name }.to_owned();
            Ok(())
        })
    }
    /// Events per queue entry on flush.
    pub fn chunk_size(self, n: usize) -> Self {
        self.map(|c| {
            c.chunk_size = CHUNKSIZE.accept(n)?;
            Ok(())
        })
    }
    /// Timeout of one HTTP attempt.
    pub fn event_timeout(self, t: Duration) -> Self {
        self.map(|c| {
            c.event_timeout = EVENT_TIMEOUT.accept(t)?;
            Ok(())
        })
    }
    /// The retry policy.
    pub fn retry(self, retry: RetryPolicy) -> Self {
        self.map(|c| {
            RETRY_MAX.accept(retry.max_retries)?;
            RETRY_DELAY.accept(retry.base_delay)?;
            RETRY_MAX_DELAY.accept(retry.max_delay)?;
            c.retry = retry;
            Ok(())
        })
    }
    /// The recipient policy.
    pub fn recipients(self, policy: RecipientPolicy) -> Self {
        self.map(|c| {
            c.recipients = policy;
            Ok(())
        })
    }
    /// Whether redirects are followed: `true` within the subscription's
    /// origin only ([`RedirectPolicy::SameOrigin`]).
    pub fn allow_redirects(self, yes: bool) -> Self {
        self.redirects(yes.into())
    }
    /// Which redirects are followed.
    pub fn redirects(self, policy: RedirectPolicy) -> Self {
        self.map(|c| {
            c.allow_redirects = policy;
            Ok(())
        })
    }
    /// A JSON file of static subscriptions.
    pub fn subscribers_file(self, path: impl Into<PathBuf>) -> Self {
        let path = path.into();
        self.map(|c| {
            c.subscribers_file = Some(path);
            Ok(())
        })
    }
    /// Deliveries in flight at once.
    pub fn concurrency(self, n: usize) -> Self {
        self.map(|c| {
            c.concurrency = CONCURRENCY.accept(n)?;
            Ok(())
        })
    }
    /// Whether bodies are wrapped in the envelope.
    pub fn envelope(self, yes: bool) -> Self {
        self.map(|c| {
            c.envelope = yes;
            Ok(())
        })
    }
    /// Whether every delivery carries Standard Webhooks headers.
    pub fn standard_webhooks(self, yes: bool) -> Self {
        self.map(|c| {
            c.standard_webhooks = yes;
            Ok(())
        })
    }
    /// The `Hook-HMAC` scheme of subscriptions that name none.
    pub fn hmac_signer(self, signer: Signer) -> Self {
        self.map(|c| {
            c.hmac_signer = signer;
            Ok(())
        })
    }
    /// Adds an observer of every attempt.
    pub fn observer(self, observer: SharedObserver) -> Self {
        self.map(|c| {
            c.observers.push(observer);
            Ok(())
        })
    }
    /// Stores a typed value for backends.
    pub fn extension<T: Any + Send + Sync>(self, value: T) -> Self {
        self.map(|c| {
            c.extensions.insert(value);
            Ok(())
        })
    }
    /// Applies any change to the config.
    pub fn with(self, f: impl FnOnce(&mut Config)) -> Self {
        self.map(|c| {
            f(c);
            Ok(())
        })
    }
    /// The config, or the first bad value.
    pub fn build(self) -> Result<Config> {
        let c = self.0?;
        c.check()?;
        Ok(c)
    }
}

//! Settings, from `THORN_*` environment variables or a builder.
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `THORN_DISPATCHER` | `default` | the backend's registered name |
//! | `THORN_CHUNKSIZE` | `10` | events per queue entry when a buffer is flushed |
//! | `THORN_EVENT_TIMEOUT` | `3s` | timeout of one HTTP attempt |
//! | `THORN_RETRY` | `true` | whether failed deliveries are retried |
//! | `THORN_RETRY_MAX` | `10` | retries after the first attempt |
//! | `THORN_RETRY_DELAY` | `1s` | the first retry's delay; doubles each retry |
//! | `THORN_RETRY_MAX_DELAY` | `10m` | the longest retry delay and the clamp of `Retry-After` |
//! | `THORN_RECIPIENT_VALIDATORS` | `default` | the recipient policy, see [`RecipientPolicy::parse`] |
//! | `THORN_ALLOW_REDIRECTS` | `false` | which redirects are followed: `false`, `true`/`same_origin` or `any_origin`, see [`RedirectPolicy`] |
//! | `THORN_SUBSCRIBERS` | unset | a JSON file of static subscriptions |
//! | `THORN_REDIS_URL` | `redis://127.0.0.1:6379` | the Redis backend's server |
//! | `THORN_REDIS_QUEUE` | `default` | the Redis backend's queue name |
//! | `THORN_CONCURRENCY` | `64` | deliveries in flight at once per send or worker |
//! | `THORN_ENVELOPE` | `false` | wrap data as `{"event","ref","sender","data"}` |
//! | `THORN_STANDARD_WEBHOOKS` | `false` | send Standard Webhooks headers on every delivery |
//!
//! Durations are seconds (`3`, `0.5`) or a number with `ms`, `s` or `m`,
//! from 1 ms to one day.
//! Booleans are `true`/`false`, `1`/`0`, `yes`/`no`, `on`/`off`.

use std::any::{Any, TypeId};
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::policy::RecipientPolicy;
use crate::redirect::RedirectPolicy;
use crate::report::SharedObserver;
use crate::retry::RetryPolicy;

/// Every variable this module reads.
pub const VARIABLES: &[&str] = &[
    "THORN_DISPATCHER",
    "THORN_CHUNKSIZE",
    "THORN_EVENT_TIMEOUT",
    "THORN_RETRY",
    "THORN_RETRY_MAX",
    "THORN_RETRY_DELAY",
    "THORN_RETRY_MAX_DELAY",
    "THORN_RECIPIENT_VALIDATORS",
    "THORN_ALLOW_REDIRECTS",
    "THORN_SUBSCRIBERS",
    "THORN_REDIS_URL",
    "THORN_REDIS_QUEUE",
    "THORN_CONCURRENCY",
    "THORN_ENVELOPE",
    "THORN_STANDARD_WEBHOOKS",
];

/// Typed values that backends share through the config, such as a custom
/// TLS root store; keyed by type.
#[derive(Clone, Default)]
pub struct Extensions(HashMap<TypeId, Arc<dyn Any + Send + Sync>>);

impl Extensions {
    /// Stores `value`, replacing one of the same type.
    pub fn insert<T: Any + Send + Sync>(&mut self, value: T) {
        self.0.insert(TypeId::of::<T>(), Arc::new(value));
    }

    /// The stored value of type `T`.
    pub fn get<T: Any + Send + Sync>(&self) -> Option<&T> {
        self.0
            .get(&TypeId::of::<T>())
            .and_then(|v| v.downcast_ref())
    }
}

impl fmt::Debug for Extensions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Extensions({} values)", self.0.len())
    }
}

/// Thorn's settings. Build with [`Config::builder`] or read with
/// [`Config::from_env`].
///
/// ```
/// use std::time::Duration;
/// use thorn_core::Config;
/// let config = Config::builder()
///     .dispatcher("disabled")
///     .event_timeout(Duration::from_secs(5))
///     .build()
///     .unwrap();
/// assert_eq!(config.dispatcher, "disabled");
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
    /// The Redis server (`THORN_REDIS_URL`); may hold a password, so it is
    /// redacted in `Debug`.
    pub redis_url: Option<String>,
    /// The Redis queue's name (`THORN_REDIS_QUEUE`).
    pub redis_queue: String,
    /// Deliveries in flight at once (`THORN_CONCURRENCY`).
    pub concurrency: usize,
    /// Whether bodies are wrapped in the envelope (`THORN_ENVELOPE`).
    pub envelope: bool,
    /// Whether every delivery carries Standard Webhooks headers
    /// (`THORN_STANDARD_WEBHOOKS`).
    pub standard_webhooks: bool,
    /// Observers of every attempt.
    pub observers: Vec<SharedObserver>,
    /// Typed values for backends.
    pub extensions: Extensions,
    /// Every `THORN_*` variable that was read, for custom backends' own
    /// settings.
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
            redis_url: None,
            redis_queue: "default".into(),
            concurrency: 64,
            envelope: false,
            standard_webhooks: false,
            observers: Vec::new(),
            extensions: Extensions::default(),
            vars: BTreeMap::new(),
        }
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("dispatcher", &self.dispatcher)
            .field("chunk_size", &self.chunk_size)
            .field("event_timeout", &self.event_timeout)
            .field("retry", &self.retry)
            .field("recipients", &self.recipients)
            .field("allow_redirects", &self.allow_redirects)
            .field("subscribers_file", &self.subscribers_file)
            .field("redis_url", &self.redis_url.as_deref().map(redact_url))
            .field("redis_queue", &self.redis_queue)
            .field("concurrency", &self.concurrency)
            .field("envelope", &self.envelope)
            .field("standard_webhooks", &self.standard_webhooks)
            .field("observers", &self.observers.len())
            .field("extensions", &self.extensions)
            .finish_non_exhaustive()
    }
}

/// A URL with any password replaced by `***`, for logs and errors.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        Ok(u) => u.to_string(),
        Err(_) => "<unparsable URL>".into(),
    }
}

impl Config {
    /// Starts from the defaults.
    pub fn builder() -> ConfigBuilder {
        ConfigBuilder(Ok(Config::default()))
    }

    /// Reads every `THORN_*` variable of the process environment.
    pub fn from_env() -> Result<Self> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the settings through `lookup` (a variable's value, if set), so
    /// that they can come from any source.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let mut c = Config::default();
        for name in VARIABLES {
            if let Some(v) = lookup(name) {
                c.vars.insert((*name).to_owned(), v);
            }
        }
        let get = |name: &str| c.vars.get(name).map(|s| s.trim().to_owned());
        // Set but empty (`THORN_DISPATCHER=`) means the default, as unset.
        if let Some(v) = get("THORN_DISPATCHER").filter(|v| !v.is_empty()) {
            c.dispatcher = v;
        }
        if let Some(v) = get("THORN_CHUNKSIZE") {
            c.chunk_size = parse_count("THORN_CHUNKSIZE", &v, 1, 100_000)?;
        }
        if let Some(v) = get("THORN_EVENT_TIMEOUT") {
            c.event_timeout = parse_duration("THORN_EVENT_TIMEOUT", &v)?;
        }
        if let Some(v) = get("THORN_RETRY") {
            c.retry.enabled = parse_bool("THORN_RETRY", &v)?;
        }
        if let Some(v) = get("THORN_RETRY_MAX") {
            c.retry.max_retries = parse_count("THORN_RETRY_MAX", &v, 0, 1000)? as u32;
        }
        if let Some(v) = get("THORN_RETRY_DELAY") {
            c.retry.base_delay = parse_duration("THORN_RETRY_DELAY", &v)?;
        }
        if let Some(v) = get("THORN_RETRY_MAX_DELAY") {
            c.retry.max_delay = parse_duration("THORN_RETRY_MAX_DELAY", &v)?;
        }
        if c.retry.max_delay < c.retry.base_delay {
            let given = |name: &str, d: Duration| {
                c.vars
                    .get(name)
                    .map_or_else(|| format!("{d:?} (the default)"), |v| v.trim().to_owned())
            };
            return Err(Error::setting(
                "THORN_RETRY_MAX_DELAY",
                given("THORN_RETRY_MAX_DELAY", c.retry.max_delay),
                format!(
                    "it is shorter than THORN_RETRY_DELAY ({}); make it at least as long",
                    given("THORN_RETRY_DELAY", c.retry.base_delay)
                ),
            ));
        }
        if let Some(v) = get("THORN_RECIPIENT_VALIDATORS") {
            c.recipients = RecipientPolicy::parse(&v)?;
        }
        if let Some(v) = get("THORN_ALLOW_REDIRECTS") {
            c.allow_redirects = RedirectPolicy::parse(&v)?;
        }
        if let Some(v) = get("THORN_SUBSCRIBERS") {
            if v.is_empty() {
                return Err(Error::setting(
                    "THORN_SUBSCRIBERS",
                    &v,
                    "give the path of a JSON file of subscriptions",
                ));
            }
            c.subscribers_file = Some(PathBuf::from(v));
        }
        if let Some(v) = get("THORN_REDIS_URL") {
            check_redis_url(&v)?;
            c.redis_url = Some(v);
        }
        if let Some(v) = get("THORN_REDIS_QUEUE") {
            check_queue(&v)?;
            c.redis_queue = v;
        }
        if let Some(v) = get("THORN_CONCURRENCY") {
            c.concurrency = parse_count("THORN_CONCURRENCY", &v, 1, 100_000)?;
        }
        if let Some(v) = get("THORN_ENVELOPE") {
            c.envelope = parse_bool("THORN_ENVELOPE", &v)?;
        }
        if let Some(v) = get("THORN_STANDARD_WEBHOOKS") {
            c.standard_webhooks = parse_bool("THORN_STANDARD_WEBHOOKS", &v)?;
        }
        Ok(c)
    }

    /// The Redis URL, or the local default.
    pub fn redis_url_or_default(&self) -> &str {
        self.redis_url
            .as_deref()
            .unwrap_or("redis://127.0.0.1:6379")
    }
}

fn check_redis_url(v: &str) -> Result<()> {
    match url::Url::parse(v) {
        Ok(u) if matches!(u.scheme(), "redis" | "rediss" | "redis+unix" | "unix") => Ok(()),
        Ok(u) => Err(Error::setting(
            "THORN_REDIS_URL",
            redact_url(v),
            format!("scheme {:?} is not redis:// or rediss://", u.scheme()),
        )),
        Err(e) => Err(Error::setting(
            "THORN_REDIS_URL",
            "<unparsable URL>",
            format!("{e}; expected redis://[:password@]host[:port][/db]"),
        )),
    }
}

fn check_queue(v: &str) -> Result<()> {
    if v.is_empty()
        || v.len() > 100
        || !v
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.:".contains(c))
    {
        return Err(Error::setting(
            "THORN_REDIS_QUEUE",
            v,
            "a queue name is 1 to 100 letters, digits, `_`, `-`, `.` or `:`",
        ));
    }
    Ok(())
}

/// Parses a boolean setting.
pub fn parse_bool(name: &'static str, v: &str) -> Result<bool> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(Error::setting(
            name,
            v,
            "expected true or false (also 1/0, yes/no, on/off)",
        )),
    }
}

/// Parses a whole-number setting within `min..=max`.
pub fn parse_count(name: &'static str, v: &str, min: usize, max: usize) -> Result<usize> {
    match v.parse::<usize>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(Error::setting(
            name,
            v,
            format!("expected a whole number from {min} to {max}"),
        )),
    }
}

/// The shortest duration a setting takes: shorter ones cannot be kept by a
/// timer and, as timeouts, would fail every attempt.
pub const MIN_DURATION: Duration = Duration::from_millis(1);

/// The longest duration a setting takes: one day.
pub const MAX_DURATION: Duration = Duration::from_secs(86_400);

/// Parses a duration setting: seconds (`3`, `0.5`) or a number with `ms`,
/// `s` or `m`, from 1 ms to one day. An error names the setting and the
/// value as given.
pub fn parse_duration(name: &'static str, v: &str) -> Result<Duration> {
    let bad = |why: &str| {
        Error::setting(
            name,
            v,
            format!("{why}; give a duration such as 3, 0.5, 250ms, 10s or 2m, from 1ms to 24h"),
        )
    };
    let (num, scale) = if let Some(n) = v.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = v.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = v.strip_suffix('m') {
        (n, 60.0)
    } else {
        (v, 1.0)
    };
    let x: f64 = num.trim().parse().map_err(|_| bad("it is not a number"))?;
    let secs = x * scale;
    if !secs.is_finite() || secs > MAX_DURATION.as_secs_f64() {
        return Err(bad("it is longer than one day"));
    }
    if secs < MIN_DURATION.as_secs_f64() {
        return Err(bad("it is shorter than 1 ms"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Checks a duration given to a builder method, as [`parse_duration`]
/// checks the text of a variable.
fn check_duration(name: &'static str, d: Duration) -> Result<Duration> {
    if (MIN_DURATION..=MAX_DURATION).contains(&d) {
        Ok(d)
    } else {
        Err(Error::setting(
            name,
            format!("{d:?}"),
            "give a duration from 1ms to 24h",
        ))
    }
}

/// Sets [`Config`] fields one by one; a bad value surfaces at
/// [`build`](Self::build), naming the setting.
#[derive(Debug)]
#[must_use]
pub struct ConfigBuilder(Result<Config>);

impl ConfigBuilder {
    fn map(self, f: impl FnOnce(&mut Config) -> Result<()>) -> Self {
        ConfigBuilder(self.0.and_then(|mut c| f(&mut c).map(|()| c)))
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
            c.chunk_size = parse_count("THORN_CHUNKSIZE", &n.to_string(), 1, 100_000)?;
            Ok(())
        })
    }
    /// Timeout of one HTTP attempt.
    pub fn event_timeout(self, t: Duration) -> Self {
        self.map(|c| {
            c.event_timeout = check_duration("THORN_EVENT_TIMEOUT", t)?;
            Ok(())
        })
    }
    /// The retry policy.
    pub fn retry(self, retry: RetryPolicy) -> Self {
        self.map(|c| {
            check_duration("THORN_RETRY_DELAY", retry.base_delay)?;
            check_duration("THORN_RETRY_MAX_DELAY", retry.max_delay)?;
            if retry.max_delay < retry.base_delay {
                return Err(Error::setting(
                    "THORN_RETRY_MAX_DELAY",
                    format!("{:?}", retry.max_delay),
                    format!(
                        "it is shorter than THORN_RETRY_DELAY ({:?}); make it at least as long",
                        retry.base_delay
                    ),
                ));
            }
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
    /// The Redis server.
    pub fn redis_url(self, url: impl Into<String>) -> Self {
        let url = url.into();
        self.map(|c| {
            check_redis_url(&url)?;
            c.redis_url = Some(url);
            Ok(())
        })
    }
    /// The Redis queue's name.
    pub fn redis_queue(self, queue: impl Into<String>) -> Self {
        let queue = queue.into();
        self.map(|c| {
            check_queue(&queue)?;
            c.redis_queue = queue;
            Ok(())
        })
    }
    /// Deliveries in flight at once.
    pub fn concurrency(self, n: usize) -> Self {
        self.map(|c| {
            c.concurrency = parse_count("THORN_CONCURRENCY", &n.to_string(), 1, 100_000)?;
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
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(pairs: &[(&str, &str)]) -> Result<Config> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults() {
        let c = from(&[]).unwrap();
        assert_eq!(c.dispatcher, "default");
        assert_eq!(c.chunk_size, 10);
        assert_eq!(c.event_timeout, Duration::from_secs(3));
        assert!(c.retry.enabled);
        assert_eq!(c.retry.max_retries, 10);
        assert_eq!(c.allow_redirects, RedirectPolicy::Never);
        assert_eq!(c.redis_queue, "default");
        assert_eq!(c.recipients, RecipientPolicy::default());
    }

    #[test]
    fn every_variable_is_read() {
        let c = from(&[
            ("THORN_DISPATCHER", "redis"),
            ("THORN_CHUNKSIZE", "25"),
            ("THORN_EVENT_TIMEOUT", "250ms"),
            ("THORN_RETRY", "false"),
            ("THORN_RETRY_MAX", "3"),
            ("THORN_RETRY_DELAY", "0.5"),
            ("THORN_RETRY_MAX_DELAY", "2m"),
            (
                "THORN_RECIPIENT_VALIDATORS",
                "allow_loopback,allow_port=8080",
            ),
            ("THORN_ALLOW_REDIRECTS", "yes"),
            ("THORN_SUBSCRIBERS", "/etc/thorn/subs.json"),
            ("THORN_REDIS_URL", "redis://:pw@127.0.0.1:7000/2"),
            ("THORN_REDIS_QUEUE", "hooks"),
            ("THORN_CONCURRENCY", "8"),
            ("THORN_ENVELOPE", "1"),
            ("THORN_STANDARD_WEBHOOKS", "on"),
        ])
        .unwrap();
        assert_eq!(c.dispatcher, "redis");
        assert_eq!(c.chunk_size, 25);
        assert_eq!(c.event_timeout, Duration::from_millis(250));
        assert!(!c.retry.enabled);
        assert_eq!(c.retry.max_retries, 3);
        assert_eq!(c.retry.base_delay, Duration::from_millis(500));
        assert_eq!(c.retry.max_delay, Duration::from_secs(120));
        assert!(c.recipients.allow_loopback);
        assert!(c.recipients.ports.as_ref().unwrap().contains(&8080));
        assert_eq!(c.allow_redirects, RedirectPolicy::SameOrigin);
        assert_eq!(
            c.subscribers_file,
            Some(PathBuf::from("/etc/thorn/subs.json"))
        );
        assert_eq!(c.redis_url.as_deref(), Some("redis://:pw@127.0.0.1:7000/2"));
        assert_eq!(c.redis_queue, "hooks");
        assert_eq!(c.concurrency, 8);
        assert!(c.envelope);
        assert!(c.standard_webhooks);
        let dbg = format!("{c:?}");
        assert!(!dbg.contains("pw@"), "{dbg}");
    }

    #[test]
    fn a_bad_value_of_each_names_variable_and_value() {
        let cases = [
            ("THORN_CHUNKSIZE", "0"),
            ("THORN_CHUNKSIZE", "ten"),
            ("THORN_EVENT_TIMEOUT", "soon"),
            ("THORN_EVENT_TIMEOUT", "0"),
            ("THORN_RETRY", "maybe"),
            ("THORN_RETRY_MAX", "-1"),
            ("THORN_RETRY_DELAY", "fast"),
            ("THORN_RETRY_MAX_DELAY", "x1"),
            ("THORN_RECIPIENT_VALIDATORS", "allow_everything"),
            ("THORN_ALLOW_REDIRECTS", "sometimes"),
            ("THORN_SUBSCRIBERS", ""),
            ("THORN_REDIS_URL", "http://127.0.0.1:6379"),
            ("THORN_REDIS_QUEUE", "no spaces"),
            ("THORN_CONCURRENCY", "0"),
            ("THORN_ENVELOPE", "2"),
            ("THORN_STANDARD_WEBHOOKS", "y e s"),
        ];
        for (var, value) in cases {
            let err = from(&[(var, value)]).unwrap_err();
            let msg = err.to_string();
            assert!(msg.contains(var), "{var}: {msg}");
            if !value.trim().is_empty() && var != "THORN_REDIS_URL" {
                assert!(msg.contains(value.trim()), "{var}: {msg}");
            }
            assert!(err.is_invalid_input());
        }
        // Every variable has a bad-value case, but the backend's name: any
        // name is one (an unknown one fails when the backend is built).
        for var in VARIABLES.iter().filter(|v| **v != "THORN_DISPATCHER") {
            assert!(
                cases.iter().any(|(v, _)| v == var),
                "{var} has no bad-value case"
            );
        }
        let e = from(&[("THORN_REDIS_URL", "redis://:topsecret@[bad")]).unwrap_err();
        assert!(!e.to_string().contains("topsecret"), "{e}");
        let e = from(&[
            ("THORN_RETRY_DELAY", "10s"),
            ("THORN_RETRY_MAX_DELAY", "1s"),
        ])
        .unwrap_err();
        let text = e.to_string();
        assert!(text.contains("THORN_RETRY_MAX_DELAY=\"1s\""), "{text}");
        assert!(text.contains("THORN_RETRY_DELAY (10s)"), "{text}");
    }

    #[test]
    fn durations_are_at_least_a_millisecond_and_errors_show_them_as_given() {
        for (var, value) in [
            ("THORN_EVENT_TIMEOUT", "1e-10"),
            ("THORN_EVENT_TIMEOUT", "0.0001"),
            ("THORN_EVENT_TIMEOUT", "-1"),
            ("THORN_EVENT_TIMEOUT", "NaN"),
            ("THORN_EVENT_TIMEOUT", "1e300"),
            ("THORN_RETRY_DELAY", "0"),
            ("THORN_RETRY_MAX_DELAY", "0"),
            ("THORN_RETRY_MAX_DELAY", "0.5ms"),
        ] {
            let text = from(&[(var, value)]).unwrap_err().to_string();
            assert!(text.contains(&format!("{var}={value:?}")), "{text}");
            assert!(!text.contains("ns"), "{text}");
        }
        let c = from(&[("THORN_EVENT_TIMEOUT", "1ms")]).unwrap();
        assert_eq!(c.event_timeout, Duration::from_millis(1));
        for d in [
            Duration::ZERO,
            Duration::from_nanos(10),
            Duration::from_secs(86_401),
        ] {
            let e = Config::builder().event_timeout(d).build().unwrap_err();
            assert!(e.to_string().contains("THORN_EVENT_TIMEOUT"), "{e}");
        }
        let zero = RetryPolicy::default().with_delays(Duration::ZERO, Duration::from_secs(1));
        assert!(Config::builder().retry(zero).build().is_err());
    }

    #[test]
    fn an_empty_dispatcher_means_the_default() {
        for value in ["", "  "] {
            assert_eq!(
                from(&[("THORN_DISPATCHER", value)]).unwrap().dispatcher,
                "default"
            );
            let built = Config::builder().dispatcher(value).build().unwrap();
            assert_eq!(built.dispatcher, "default");
        }
    }

    #[test]
    fn builder_reports_first_bad_value() {
        let e = Config::builder()
            .chunk_size(0)
            .concurrency(4)
            .build()
            .unwrap_err();
        assert!(e.to_string().contains("THORN_CHUNKSIZE"), "{e}");
        let c = Config::builder()
            .concurrency(4)
            .redis_queue("q1")
            .build()
            .unwrap();
        assert_eq!((c.concurrency, c.redis_queue.as_str()), (4, "q1"));
    }
}

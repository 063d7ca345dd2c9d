//! The settings of core: the backend's name, retries, timeouts, the
//! recipient policy and the payload's form. Backends declare their own.

use std::path::PathBuf;
use std::time::Duration;

use crate::config::parse;
use crate::config::setting::{Setting, SettingDoc};
use crate::error::Error;
use crate::policy::RecipientPolicy;
use crate::redirect::RedirectPolicy;
use crate::signer::Signer;

/// The backend's registered name (`THORN_DISPATCHER`).
pub const DISPATCHER: Setting<String> = Setting::new(
    "THORN_DISPATCHER",
    "default",
    "the backend's registered name; empty means `default`",
    dispatcher,
);

/// Events per queue entry on flush (`THORN_CHUNKSIZE`).
pub const CHUNKSIZE: Setting<usize> = Setting::new(
    "THORN_CHUNKSIZE",
    "10",
    "events per queue entry when a buffer is flushed to a queueing backend",
    parse::count,
)
.checked(|n| parse::within(*n, 1, 100_000));

/// Timeout of one HTTP attempt (`THORN_EVENT_TIMEOUT`).
pub const EVENT_TIMEOUT: Setting<Duration> = Setting::new(
    "THORN_EVENT_TIMEOUT",
    "3s",
    "timeout of one HTTP attempt",
    parse::duration,
)
.checked(parse::duration_range);

/// Whether failed deliveries are retried (`THORN_RETRY`).
pub const RETRY: Setting<bool> = Setting::new(
    "THORN_RETRY",
    "true",
    "whether failed deliveries are retried",
    parse::boolean,
);

/// Retries after the first attempt (`THORN_RETRY_MAX`).
pub const RETRY_MAX: Setting<u32> = Setting::new(
    "THORN_RETRY_MAX",
    "10",
    "retries after the first attempt",
    retries,
)
.checked(|n| parse::within(*n as usize, 0, 1000));

/// The first retry's delay (`THORN_RETRY_DELAY`).
pub const RETRY_DELAY: Setting<Duration> = Setting::new(
    "THORN_RETRY_DELAY",
    "1s",
    "the first retry's delay; doubles each retry, with jitter",
    parse::duration,
)
.checked(parse::duration_range);

/// The longest retry delay (`THORN_RETRY_MAX_DELAY`).
pub const RETRY_MAX_DELAY: Setting<Duration> = Setting::new(
    "THORN_RETRY_MAX_DELAY",
    "10m",
    "the longest retry delay and the clamp of `Retry-After`",
    parse::duration,
)
.checked(parse::duration_range);

/// The recipient policy (`THORN_RECIPIENT_VALIDATORS`).
pub const RECIPIENT_VALIDATORS: Setting<RecipientPolicy> = Setting::new(
    "THORN_RECIPIENT_VALIDATORS",
    "default",
    "recipient policy: `allow_loopback`, `allow_private`, `allow_cidr=CIDR`, `allow_port=N`, `allow_any_port`, `https_only` (comma-separated)",
    recipients,
);

/// Which redirects are followed (`THORN_ALLOW_REDIRECTS`).
pub const ALLOW_REDIRECTS: Setting<RedirectPolicy> = Setting::new(
    "THORN_ALLOW_REDIRECTS",
    "false",
    "which redirects are followed: `false`, `true`/`same_origin` (303, 307, 308 within the subscription's origin) or `any_origin` (also to other origins, without signature headers)",
    redirects,
);

/// A JSON file of static subscriptions (`THORN_SUBSCRIBERS`).
pub const SUBSCRIBERS: Setting<Option<PathBuf>> = Setting::new(
    "THORN_SUBSCRIBERS",
    "",
    "a JSON file of static subscriptions",
    parse::path,
);

/// Deliveries in flight at once (`THORN_CONCURRENCY`).
pub const CONCURRENCY: Setting<usize> = Setting::new(
    "THORN_CONCURRENCY",
    "64",
    "deliveries in flight at once",
    parse::count,
)
.checked(|n| parse::within(*n, 1, 100_000));

/// Whether bodies are wrapped in the envelope (`THORN_ENVELOPE`).
pub const ENVELOPE: Setting<bool> = Setting::new(
    "THORN_ENVELOPE",
    "false",
    "wrap data as `{\"event\",\"ref\",\"sender\",\"data\"}`",
    parse::boolean,
);

/// Whether every delivery carries Standard Webhooks headers
/// (`THORN_STANDARD_WEBHOOKS`).
pub const STANDARD_WEBHOOKS: Setting<bool> = Setting::new(
    "THORN_STANDARD_WEBHOOKS",
    "false",
    "send Standard Webhooks headers on every delivery",
    parse::boolean,
);

/// The scheme of `Hook-HMAC` of subscriptions that name none
/// (`THORN_HMAC_SIGNER`).
pub const HMAC_SIGNER: Setting<Signer> = Setting::new(
    "THORN_HMAC_SIGNER",
    "hmac",
    "`Hook-HMAC` scheme of subscriptions that name none: `hmac` (plain HMAC) or `compat` (Python Thorn's itsdangerous signer)",
    signer,
);

/// Every setting of core, in the order of the README's table.
pub const SETTINGS: &[SettingDoc] = &[
    DISPATCHER.doc(),
    CHUNKSIZE.doc(),
    EVENT_TIMEOUT.doc(),
    RETRY.doc(),
    RETRY_MAX.doc(),
    RETRY_DELAY.doc(),
    RETRY_MAX_DELAY.doc(),
    RECIPIENT_VALIDATORS.doc(),
    ALLOW_REDIRECTS.doc(),
    SUBSCRIBERS.doc(),
    CONCURRENCY.doc(),
    ENVELOPE.doc(),
    STANDARD_WEBHOOKS.doc(),
    HMAC_SIGNER.doc(),
    BREAKER.doc(),
    BREAKER_FAILURES.doc(),
    BREAKER_COOL_DOWN.doc(),
    BREAKER_MAX_COOL_DOWN.doc(),
];

/// Whether circuits open for failing receivers (`THORN_BREAKER`).
pub const BREAKER: Setting<bool> = Setting::new(
    "THORN_BREAKER",
    "true",
    "whether a subscription whose receiver keeps failing has its deliveries deferred, without attempts, until a probe succeeds",
    parse::boolean,
);

/// Failed attempts in a row that open a circuit (`THORN_BREAKER_FAILURES`).
pub const BREAKER_FAILURES: Setting<u32> = Setting::new(
    "THORN_BREAKER_FAILURES",
    "5",
    "failed attempts in a row that open a subscription's circuit (half of 20 or more within a minute do too)",
    retries,
)
.checked(|n| parse::within(*n as usize, 1, 1000));

/// The first cool-down of an open circuit (`THORN_BREAKER_COOL_DOWN`).
pub const BREAKER_COOL_DOWN: Setting<Duration> = Setting::new(
    "THORN_BREAKER_COOL_DOWN",
    "30s",
    "how long an opened circuit defers deliveries before one probe; doubles while probes fail",
    parse::duration,
)
.checked(parse::duration_range);

/// The longest cool-down (`THORN_BREAKER_MAX_COOL_DOWN`).
pub const BREAKER_MAX_COOL_DOWN: Setting<Duration> = Setting::new(
    "THORN_BREAKER_MAX_COOL_DOWN",
    "10m",
    "the longest cool-down of a circuit whose probes keep failing",
    parse::duration,
)
.checked(parse::duration_range);

fn dispatcher(text: &str) -> Result<String, String> {
    // Set but empty (`THORN_DISPATCHER=`) means the default, as unset.
    Ok(if text.is_empty() { "default" } else { text }.to_owned())
}

fn retries(text: &str) -> Result<u32, String> {
    let n = parse::count(text)?;
    u32::try_from(n).map_err(|_| "expected a whole number from 0 to 1000".into())
}

/// The reason of a parser that reports a whole error.
fn reason(error: Error) -> String {
    match error {
        Error::InvalidSetting { reason, .. } => reason,
        other => other.to_string(),
    }
}

fn recipients(text: &str) -> Result<RecipientPolicy, String> {
    RecipientPolicy::parse(text).map_err(reason)
}

fn signer(text: &str) -> Result<Signer, String> {
    Signer::parse(text).map_err(reason)
}

fn redirects(text: &str) -> Result<RedirectPolicy, String> {
    RedirectPolicy::parse(text).map_err(reason)
}

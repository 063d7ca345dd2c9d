//! The settings of the subscriptions API, declared here and read from the
//! [`Config`](thorn_core::Config).

use std::time::Duration;

use thorn_core::config::{Setting, SettingDoc, parse};

/// How long a rotated-out secret keeps signing (`THORN_ROTATION_GRACE`).
pub const ROTATION_GRACE: Setting<Duration> = Setting::new(
    "THORN_ROTATION_GRACE",
    "24h",
    "how long the old secret keeps signing (as a previous secret) after `POST /{id}/rotate-secret`: seconds, or `90m`, `24h`, `2d`",
    grace,
)
.checked(grace_range);

/// How many subscriptions one owner may have
/// (`THORN_MAX_SUBSCRIPTIONS_PER_OWNER`).
pub const MAX_SUBSCRIPTIONS_PER_OWNER: Setting<usize> = Setting::new(
    "THORN_MAX_SUBSCRIPTIONS_PER_OWNER",
    "100",
    "how many subscriptions one owner may create through the subscriptions API",
    parse::count,
)
.checked(|n| parse::within(*n, 1, 1_000_000));

/// Every setting of the subscriptions API, in the order of the README's
/// table.
pub const SETTINGS: &[SettingDoc] = &[ROTATION_GRACE.doc(), MAX_SUBSCRIPTIONS_PER_OWNER.doc()];

fn grace(text: &str) -> Result<Duration, String> {
    parse::duration(text).or_else(|_| {
        humantime::parse_duration(text.trim())
            .map_err(|e| format!("{e}; give seconds, or a duration such as 90m, 24h or 2d"))
    })
}

fn grace_range(d: &Duration) -> Result<(), String> {
    if *d <= Duration::from_secs(30 * 24 * 3600) {
        Ok(())
    } else {
        Err("give a duration from 0s to 30 days (720h)".into())
    }
}

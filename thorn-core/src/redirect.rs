//! Which redirects an HTTP backend follows (`THORN_ALLOW_REDIRECTS`).

use std::fmt;

use crate::error::{Error, Result};

/// Which redirects an HTTP backend follows (`THORN_ALLOW_REDIRECTS`).
///
/// Whatever the value, every hop is checked again against the
/// [`RecipientPolicy`](crate::RecipientPolicy), and signature headers are
/// never sent to an origin other than the subscription's. Which statuses
/// are followed (303, 307, 308) is the HTTP backend's business; see
/// `thorn_http`.
///
/// ```
/// use thorn_core::RedirectPolicy;
/// assert_eq!(RedirectPolicy::parse("true").unwrap(), RedirectPolicy::SameOrigin);
/// assert_eq!(RedirectPolicy::parse("any_origin").unwrap(), RedirectPolicy::AnyOrigin);
/// assert_eq!(RedirectPolicy::from(false), RedirectPolicy::Never);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum RedirectPolicy {
    /// `false` (the default): a redirect is a permanent failure.
    #[default]
    Never,
    /// `true` or `same_origin`: redirects are followed while they stay on
    /// the subscription URL's origin (scheme, host and port); one to
    /// another origin is a permanent failure.
    SameOrigin,
    /// `any_origin`: redirects to other origins are followed too, without
    /// the signature headers from the first hop that leaves the
    /// subscription's origin on (the receiver there cannot verify them, and
    /// must not be able to replay them to the subscriber).
    AnyOrigin,
}

impl RedirectPolicy {
    /// Parses a `THORN_ALLOW_REDIRECTS` value: a boolean (`false`, `true`,
    /// and the other spellings booleans accept), `same_origin` or
    /// `any_origin`.
    pub fn parse(value: &str) -> Result<Self> {
        match value.trim().to_ascii_lowercase().as_str() {
            "false" | "0" | "no" | "off" => Ok(RedirectPolicy::Never),
            "true" | "1" | "yes" | "on" | "same_origin" => Ok(RedirectPolicy::SameOrigin),
            "any_origin" => Ok(RedirectPolicy::AnyOrigin),
            _ => Err(Error::setting(
                "THORN_ALLOW_REDIRECTS",
                value,
                "expected false, true (same as same_origin), same_origin or any_origin",
            )),
        }
    }

    /// The setting's value as [`parse`](Self::parse) reads it.
    pub const fn as_str(self) -> &'static str {
        match self {
            RedirectPolicy::Never => "false",
            RedirectPolicy::SameOrigin => "same_origin",
            RedirectPolicy::AnyOrigin => "any_origin",
        }
    }
}

/// `true` is [`SameOrigin`](RedirectPolicy::SameOrigin): what the boolean
/// setting meant, made safe.
impl From<bool> for RedirectPolicy {
    fn from(yes: bool) -> Self {
        if yes {
            RedirectPolicy::SameOrigin
        } else {
            RedirectPolicy::Never
        }
    }
}

impl fmt::Display for RedirectPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::RedirectPolicy;

    #[test]
    fn every_value_parses_and_prints_back() {
        for (text, policy) in [
            ("false", RedirectPolicy::Never),
            ("off", RedirectPolicy::Never),
            ("true", RedirectPolicy::SameOrigin),
            ("YES", RedirectPolicy::SameOrigin),
            (" same_origin ", RedirectPolicy::SameOrigin),
            ("any_origin", RedirectPolicy::AnyOrigin),
        ] {
            assert_eq!(RedirectPolicy::parse(text).unwrap(), policy, "{text}");
            assert_eq!(RedirectPolicy::parse(policy.as_str()).unwrap(), policy);
        }
        assert_eq!(RedirectPolicy::default(), RedirectPolicy::Never);
        assert_eq!(RedirectPolicy::from(true), RedirectPolicy::SameOrigin);
    }

    #[test]
    fn a_bad_value_names_the_setting_and_the_choices() {
        let e = RedirectPolicy::parse("any-origin").unwrap_err();
        let msg = e.to_string();
        for part in [
            "THORN_ALLOW_REDIRECTS",
            "any-origin",
            "same_origin",
            "any_origin",
        ] {
            assert!(msg.contains(part), "{part} not in {msg}");
        }
        assert!(e.is_invalid_input());
    }
}

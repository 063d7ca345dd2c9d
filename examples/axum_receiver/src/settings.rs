//! The receiver's settings, from `AXUM_RECEIVER_*` variables.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

use thorn::axum::WebhookReceiver;
use thorn::{Digest, Secret, Signer};

/// Where to listen when `AXUM_RECEIVER_ADDR` is unset.
pub const DEFAULT_ADDR: SocketAddr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 3001));

/// Whether deliveries must carry the Standard Webhooks headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StandardHeaders {
    /// A delivery without `webhook-id`, `webhook-timestamp` and
    /// `webhook-signature` is refused (the default): only these bound a
    /// delivery in time and sign its id.
    Required,
    /// Verified when present; a delivery with `Hook-HMAC` alone passes (for
    /// senders that have none, such as Python Thorn). Replays are then
    /// caught only while their `Hook-Delivery` is remembered, and that
    /// header is not signed.
    Optional,
}

/// How the receiver verifies deliveries, and where it listens.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Where to listen (`AXUM_RECEIVER_ADDR`, default [`DEFAULT_ADDR`]).
    pub addr: SocketAddr,
    /// The secret shared with the sender (`AXUM_RECEIVER_SECRET`, required).
    pub secret: Secret,
    /// The `Hook-HMAC` scheme (`AXUM_RECEIVER_SIGNER`: `hmac`, the default,
    /// or `compat`, Python Thorn's).
    pub signer: Signer,
    /// The `Hook-HMAC` digest (`AXUM_RECEIVER_DIGEST`: `sha1`, `sha256`,
    /// the default, or `sha512`).
    pub digest: Digest,
    /// Whether the Standard Webhooks headers are required
    /// (`AXUM_RECEIVER_STANDARD`: `required`, the default, or `optional`).
    pub standard: StandardHeaders,
}

/// A setting that is missing or has a value the receiver cannot use.
#[derive(Debug, thiserror::Error)]
#[error("{var}: {reason}")]
pub struct SettingsError {
    var: &'static str,
    reason: String,
}

impl SettingsError {
    fn new(var: &'static str, reason: impl Into<String>) -> Self {
        SettingsError {
            var,
            reason: reason.into(),
        }
    }

    /// The variable that was wrong.
    pub fn var(&self) -> &'static str {
        self.var
    }
}

impl Settings {
    /// Settings with `secret` and every other setting at its default.
    pub fn new(secret: Secret) -> Self {
        Settings {
            addr: DEFAULT_ADDR,
            secret,
            signer: Signer::Hmac,
            digest: Digest::Sha256,
            standard: StandardHeaders::Required,
        }
    }

    /// Reads the process environment.
    pub fn from_env() -> Result<Self, SettingsError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the settings from `lookup`, which gives a variable's value.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        const SECRET: &str = "AXUM_RECEIVER_SECRET";
        let text = lookup(SECRET).ok_or_else(|| {
            SettingsError::new(SECRET, "is unset; give it the secret the sender signs with")
        })?;
        // Thorn's message names the problem and never the secret.
        let secret = Secret::new(text).map_err(|e| SettingsError::new(SECRET, e.to_string()))?;
        let mut settings = Settings::new(secret);
        // Every value below is echoed in errors: none of them is secret.
        if let Some(v) = lookup("AXUM_RECEIVER_ADDR") {
            settings.addr = v.trim().parse().map_err(|_| {
                SettingsError::new(
                    "AXUM_RECEIVER_ADDR",
                    format!("{v:?} is not an address such as 127.0.0.1:3001"),
                )
            })?;
        }
        if let Some(v) = lookup("AXUM_RECEIVER_SIGNER") {
            // Not `Signer::parse`: its error names THORN_HMAC_SIGNER.
            settings.signer = match v.trim().to_ascii_lowercase().as_str() {
                "hmac" => Signer::Hmac,
                "compat" => Signer::Compat,
                _ => {
                    return Err(SettingsError::new(
                        "AXUM_RECEIVER_SIGNER",
                        format!("{v:?} is neither hmac (plain HMAC) nor compat (Python Thorn's)"),
                    ));
                }
            };
        }
        if let Some(v) = lookup("AXUM_RECEIVER_DIGEST") {
            settings.digest = Digest::parse(v.trim()).ok_or_else(|| {
                SettingsError::new(
                    "AXUM_RECEIVER_DIGEST",
                    format!("{v:?} is not sha1, sha256 or sha512"),
                )
            })?;
        }
        if let Some(v) = lookup("AXUM_RECEIVER_STANDARD") {
            settings.standard = match v.trim().to_ascii_lowercase().as_str() {
                "required" => StandardHeaders::Required,
                "optional" => StandardHeaders::Optional,
                _ => {
                    return Err(SettingsError::new(
                        "AXUM_RECEIVER_STANDARD",
                        format!("{v:?} is neither required nor optional"),
                    ));
                }
            };
        }
        Ok(settings)
    }

    /// The checks of every delivery: this secret, signer and digest, and
    /// the Standard Webhooks headers as required or optional.
    pub fn checks(&self) -> WebhookReceiver {
        WebhookReceiver::new(self.secret.clone())
            .signer(self.signer)
            .digest(Some(self.digest))
            .require_standard_headers(self.standard == StandardHeaders::Required)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(vars: &[(&str, &str)]) -> Result<Settings, SettingsError> {
        Settings::from_lookup(|name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        })
    }

    #[test]
    fn defaults_and_values() {
        let s = read(&[("AXUM_RECEIVER_SECRET", "s3cret")]).unwrap();
        assert_eq!(s.addr, DEFAULT_ADDR);
        assert_eq!((s.signer, s.digest), (Signer::Hmac, Digest::Sha256));
        assert_eq!(s.standard, StandardHeaders::Required);
        let s = read(&[
            ("AXUM_RECEIVER_SECRET", "s3cret"),
            ("AXUM_RECEIVER_SIGNER", "Compat"),
            ("AXUM_RECEIVER_DIGEST", "sha512"),
            ("AXUM_RECEIVER_STANDARD", "optional"),
            ("AXUM_RECEIVER_ADDR", "127.0.0.1:0"),
        ])
        .unwrap();
        assert_eq!((s.signer, s.digest), (Signer::Compat, Digest::Sha512));
        assert_eq!(s.standard, StandardHeaders::Optional);
        assert_eq!(s.addr.port(), 0);
    }

    #[test]
    fn errors_name_the_variable_and_never_the_secret() {
        let e = read(&[]).unwrap_err();
        assert_eq!(e.var(), "AXUM_RECEIVER_SECRET");
        let e = read(&[("AXUM_RECEIVER_SECRET", "whsec_not base64!")]).unwrap_err();
        assert_eq!(e.var(), "AXUM_RECEIVER_SECRET");
        assert!(!e.to_string().contains("not base64!"), "{e}");
        let e = read(&[
            ("AXUM_RECEIVER_SECRET", "s3cret"),
            ("AXUM_RECEIVER_SIGNER", "itsdangerous"),
        ])
        .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("AXUM_RECEIVER_SIGNER: \"itsdangerous\""),
            "{e}"
        );
    }
}

//! Checking a delivery's signatures and freshness.

use std::time::SystemTime;

use axum::http::{HeaderMap, StatusCode};
use thorn::delivery::headers;
use thorn::signing::{self, VerifyError};

use crate::settings::{Settings, StandardHeaders};

/// A delivery whose signatures verified.
#[derive(Debug)]
pub struct Verified {
    /// The id replays are caught by: `webhook-id` when sent (it is
    /// signed), else `Hook-Delivery`.
    pub id: String,
    /// The event's name (`Hook-Event`).
    pub event: String,
}

/// Why a delivery was refused.
#[derive(Debug, thiserror::Error)]
pub enum Rejection {
    /// A header the receiver needs is missing or not text.
    #[error("the {0} header is missing")]
    Missing(&'static str),
    /// `Hook-HMAC` or `webhook-signature` does not verify.
    #[error("{0}")]
    Signature(VerifyError),
    /// The Standard Webhooks timestamp is too far from now.
    #[error("{0}")]
    Stale(VerifyError),
    /// The unsigned `Hook-Delivery` differs from the signed `webhook-id`.
    #[error("Hook-Delivery {hook:?} differs from webhook-id {standard:?}")]
    IdMismatch {
        /// `Hook-Delivery`.
        hook: String,
        /// `webhook-id`.
        standard: String,
    },
}

impl Rejection {
    /// The answer's status: 401 when the delivery cannot be trusted, 400
    /// when a signed delivery lacks what the receiver needs.
    pub fn status(&self) -> StatusCode {
        match self {
            Rejection::Missing(headers::HOOK_DELIVERY | headers::HOOK_EVENT) => {
                StatusCode::BAD_REQUEST
            }
            _ => StatusCode::UNAUTHORIZED,
        }
    }

    /// A short title for the problem document.
    pub fn title(&self) -> &'static str {
        match self {
            Rejection::Missing(_) => "missing header",
            Rejection::Signature(_) => "signature does not verify",
            Rejection::Stale(_) => "stale delivery",
            Rejection::IdMismatch { .. } => "delivery ids differ",
        }
    }
}

/// Checks `body` and `headers` against `settings` at `now`: `Hook-HMAC` in
/// the configured scheme, then the Standard Webhooks headers when present
/// or required (signature and timestamp).
pub fn verify(
    settings: &Settings,
    headers: &HeaderMap,
    body: &[u8],
    now: SystemTime,
) -> Result<Verified, Rejection> {
    let get = |name: &'static str| headers.get(name).and_then(|v| v.to_str().ok());
    let need = |name: &'static str| get(name).ok_or(Rejection::Missing(name));
    let hmac = need(headers::HOOK_HMAC)?;
    settings
        .signer
        .verify(settings.secret.hook_key(), settings.digest, body, hmac)
        .map_err(Rejection::Signature)?;
    let delivery = need(headers::HOOK_DELIVERY)?;
    let event = need(headers::HOOK_EVENT)?;
    let sent_standard = headers.contains_key(headers::WEBHOOK_SIGNATURE);
    let id = if sent_standard || settings.standard == StandardHeaders::Required {
        let id = need(headers::WEBHOOK_ID)?;
        signing::verify_standard(
            &[settings.secret.standard_key()],
            id,
            need(headers::WEBHOOK_TIMESTAMP)?,
            need(headers::WEBHOOK_SIGNATURE)?,
            body,
            now,
        )
        .map_err(|e| match e {
            VerifyError::Stale { .. } => Rejection::Stale(e),
            e => Rejection::Signature(e),
        })?;
        // Hook-HMAC covers the body only: a replay could carry a new
        // Hook-Delivery, but not a new webhook-id.
        if id != delivery {
            return Err(Rejection::IdMismatch {
                hook: delivery.to_owned(),
                standard: id.to_owned(),
            });
        }
        id
    } else {
        delivery
    };
    Ok(Verified {
        id: id.to_owned(),
        event: event.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use axum::http::HeaderValue;
    use thorn::{Secret, Signer};

    use super::*;

    const BODY: &[u8] = br#"{"id": 1}"#;
    const ID: &str = "5a1c0a6e-4d0e-4c59-9f37-1b0b6a3e2f10";
    const TS: i64 = 1_700_000_000;

    fn settings(signer: Signer) -> Settings {
        let mut s = Settings::new(Secret::new("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD").unwrap());
        s.signer = signer;
        s
    }

    /// The headers a sender with `settings`' secret makes for `BODY`.
    fn signed(settings: &Settings, standard: bool) -> HeaderMap {
        let mut h = HeaderMap::new();
        let mut put = |name: &'static str, value: String| {
            h.insert(name, HeaderValue::from_str(&value).unwrap());
        };
        let key = settings.secret.hook_key();
        put(
            headers::HOOK_HMAC,
            settings.signer.sign(key, settings.digest, BODY),
        );
        put(headers::HOOK_DELIVERY, ID.into());
        put(headers::HOOK_EVENT, "order.created".into());
        if standard {
            let key = settings.secret.standard_key();
            put(headers::WEBHOOK_ID, ID.into());
            put(headers::WEBHOOK_TIMESTAMP, TS.to_string());
            put(
                headers::WEBHOOK_SIGNATURE,
                signing::standard_signature(key, ID, TS, BODY),
            );
        }
        h
    }

    fn at(ts: i64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(ts as u64)
    }

    #[test]
    fn both_schemes_verify_and_the_other_does_not() {
        for signer in [Signer::Hmac, Signer::Compat] {
            let s = settings(signer);
            let v = verify(&s, &signed(&s, true), BODY, at(TS)).unwrap();
            assert_eq!((v.id.as_str(), v.event.as_str()), (ID, "order.created"));
            let other = settings(match signer {
                Signer::Hmac => Signer::Compat,
                Signer::Compat => Signer::Hmac,
            });
            let e = verify(&other, &signed(&s, true), BODY, at(TS)).unwrap_err();
            assert!(matches!(e, Rejection::Signature(_)), "{e}");
        }
    }

    #[test]
    fn stale_and_tampered_are_told_apart() {
        let s = settings(Signer::Hmac);
        let h = signed(&s, true);
        let e = verify(&s, &h, BODY, at(TS + 301)).unwrap_err();
        assert!(matches!(e, Rejection::Stale(_)), "{e}");
        let e = verify(&s, &h, br#"{"id": 2}"#, at(TS)).unwrap_err();
        assert!(matches!(e, Rejection::Signature(_)), "{e}");
    }

    #[test]
    fn standard_headers_required_unless_optional() {
        let mut s = settings(Signer::Hmac);
        let h = signed(&s, false);
        let e = verify(&s, &h, BODY, at(TS)).unwrap_err();
        assert!(matches!(e, Rejection::Missing(headers::WEBHOOK_ID)), "{e}");
        s.standard = StandardHeaders::Optional;
        assert_eq!(verify(&s, &h, BODY, at(TS)).unwrap().id, ID);
    }

    #[test]
    fn an_unsigned_delivery_id_must_match_the_signed_one() {
        let s = settings(Signer::Hmac);
        let mut h = signed(&s, true);
        h.insert(headers::HOOK_DELIVERY, HeaderValue::from_static("other"));
        let e = verify(&s, &h, BODY, at(TS)).unwrap_err();
        assert!(matches!(e, Rejection::IdMismatch { .. }), "{e}");
    }
}

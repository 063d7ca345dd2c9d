//! Signing deliveries and verifying them on the receiving side.
//!
//! Two schemes:
//! - `Hook-HMAC`: standard padded base64 of HMAC(secret, body) with the
//!   subscription's digest (sha256 by default).
//! - [Standard Webhooks](https://www.standardwebhooks.com/): HMAC-SHA256 of
//!   `{id}.{timestamp}.{body}` under the base64-decoded `whsec_` key, sent as
//!   `v1,<base64>`, several space-separated during key rotation.
//!
//! Verification compares in constant time.
//!
//! ```
//! use thorn_core::{Digest, signing};
//! let sig = signing::hook_signature(b"s3cret", Digest::Sha256, br#"{"id": 1, "name": "Ada"}"#);
//! assert_eq!(sig, "O9SV12RuA0alhpGfc2plwlt4HGyunFlfkZcbuDsuzJc=");
//! assert!(signing::verify_hook_signature(b"s3cret", Digest::Sha256, br#"{"id": 1, "name": "Ada"}"#, &sig).is_ok());
//! ```

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};

use crate::subscriber::Digest;

/// How far a Standard Webhooks timestamp may be from now: five minutes.
pub const TIMESTAMP_TOLERANCE: Duration = Duration::from_secs(300);

/// Why a signature did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// A header is missing or not of the scheme's form.
    #[error("malformed signature header: {0}")]
    Malformed(&'static str),
    /// No signature matched the body under the given key(s).
    #[error("signature does not match the body")]
    Mismatch,
    /// The timestamp is more than five minutes from now.
    #[error(
        "timestamp {timestamp} is outside the tolerance of {tolerance_secs} s around now ({now})"
    )]
    Stale {
        /// The timestamp sent.
        timestamp: i64,
        /// The receiver's clock.
        now: i64,
        /// The allowed difference.
        tolerance_secs: u64,
    },
}

/// HMAC output of any supported digest, without allocation.
pub(crate) struct Tag {
    buf: [u8; 64],
    len: usize,
}

impl Tag {
    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

fn mac_of<M: Mac + hmac::digest::KeyInit>(key: &[u8], parts: &[&[u8]]) -> Tag {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <M as hmac::digest::KeyInit>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("hmac takes any key length"));
    for p in parts {
        mac.update(p);
    }
    let out = mac.finalize().into_bytes();
    let mut tag = Tag {
        buf: [0; 64],
        len: out.len(),
    };
    tag.buf[..out.len()].copy_from_slice(&out);
    tag
}

pub(crate) fn tag(key: &[u8], digest: Digest, parts: &[&[u8]]) -> Tag {
    match digest {
        Digest::Sha1 => mac_of::<Hmac<sha1::Sha1>>(key, parts),
        Digest::Sha256 => mac_of::<Hmac<sha2::Sha256>>(key, parts),
        Digest::Sha512 => mac_of::<Hmac<sha2::Sha512>>(key, parts),
    }
}

/// Constant-time equality of two tags (length is not secret).
pub(crate) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut diff = 0u8;
    for (x, y) in a.iter().zip(b) {
        diff |= x ^ y;
    }
    std::hint::black_box(diff) == 0
}

/// The `Hook-HMAC` value of `body` under `key`.
pub fn hook_signature(key: &[u8], digest: Digest, body: &[u8]) -> String {
    STANDARD.encode(tag(key, digest, &[body]).as_bytes())
}

/// Checks a `Hook-HMAC` header value against `body`, in constant time.
pub fn verify_hook_signature(
    key: &[u8],
    digest: Digest,
    body: &[u8],
    header: &str,
) -> Result<(), VerifyError> {
    let mut sent = [0u8; 64];
    let n = STANDARD
        .decode_slice(header.trim().as_bytes(), &mut sent)
        .map_err(|_| VerifyError::Malformed("Hook-HMAC is not standard base64 of a digest"))?;
    let expected = tag(key, digest, &[body]);
    if ct_eq(&sent[..n], expected.as_bytes()) {
        Ok(())
    } else {
        Err(VerifyError::Mismatch)
    }
}

/// The Standard Webhooks signature (`v1,<base64>`) of one key.
pub fn standard_signature(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
    let ts = timestamp.to_string();
    let t = tag(
        key,
        Digest::Sha256,
        &[id.as_bytes(), b".", ts.as_bytes(), b".", body],
    );
    let mut out = String::with_capacity(3 + 44);
    out.push_str("v1,");
    STANDARD.encode_string(t.as_bytes(), &mut out);
    out
}

/// The `webhook-signature` header for several keys (key rotation):
/// their signatures, space-separated.
pub fn standard_signatures<K: AsRef<[u8]>>(
    keys: &[K],
    id: &str,
    timestamp: i64,
    body: &[u8],
) -> String {
    let mut out = String::new();
    for k in keys {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(&standard_signature(k.as_ref(), id, timestamp, body));
    }
    out
}

/// Seconds since the Unix epoch of `t`.
pub fn unix_seconds(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
    }
}

/// Verifies Standard Webhooks headers against `body`.
///
/// Passes when any `v1` signature in `signature_header` matches under any of
/// `keys` (the decoded `whsec_` keys, old and new during rotation), and the
/// timestamp is within [`TIMESTAMP_TOLERANCE`] of `now`.
pub fn verify_standard<K: AsRef<[u8]>>(
    keys: &[K],
    id: &str,
    timestamp_header: &str,
    signature_header: &str,
    body: &[u8],
    now: SystemTime,
) -> Result<(), VerifyError> {
    verify_standard_within(
        TIMESTAMP_TOLERANCE,
        keys,
        id,
        timestamp_header,
        signature_header,
        body,
        now,
    )
}

/// [`verify_standard`] with a tolerance of one's own: how far the
/// timestamp may be from `now`.
pub fn verify_standard_within<K: AsRef<[u8]>>(
    tolerance: Duration,
    keys: &[K],
    id: &str,
    timestamp_header: &str,
    signature_header: &str,
    body: &[u8],
    now: SystemTime,
) -> Result<(), VerifyError> {
    let timestamp: i64 = timestamp_header
        .trim()
        .parse()
        .map_err(|_| VerifyError::Malformed("webhook-timestamp is not whole seconds"))?;
    let now = unix_seconds(now);
    let tolerance = tolerance.as_secs();
    if now.abs_diff(timestamp) > tolerance {
        return Err(VerifyError::Stale {
            timestamp,
            now,
            tolerance_secs: tolerance,
        });
    }
    let ts = timestamp.to_string();
    let mut any = false;
    let expected: Vec<Tag> = keys
        .iter()
        .map(|k| {
            tag(
                k.as_ref(),
                Digest::Sha256,
                &[id.as_bytes(), b".", ts.as_bytes(), b".", body],
            )
        })
        .collect();
    let mut matched = false;
    for part in signature_header.split(' ').filter(|p| !p.is_empty()) {
        let Some(b64) = part.strip_prefix("v1,") else {
            continue;
        };
        any = true;
        let mut sent = [0u8; 64];
        let Ok(n) = STANDARD.decode_slice(b64.as_bytes(), &mut sent) else {
            continue;
        };
        for e in &expected {
            // No early exit: every candidate is compared.
            matched |= ct_eq(&sent[..n], e.as_bytes());
        }
    }
    if !any {
        return Err(VerifyError::Malformed(
            "webhook-signature has no v1 signature",
        ));
    }
    if matched {
        Ok(())
    } else {
        Err(VerifyError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;

    use super::{
        VerifyError, hook_signature, standard_signature, standard_signatures,
        verify_hook_signature, verify_standard,
    };
    use crate::subscriber::Digest;

    const BODY: &[u8] = br#"{"id": 1, "name": "Ada"}"#;

    #[test]
    fn hook_check_value() {
        assert_eq!(
            hook_signature(b"s3cret", Digest::Sha256, BODY),
            "O9SV12RuA0alhpGfc2plwlt4HGyunFlfkZcbuDsuzJc="
        );
    }

    #[test]
    fn hook_round_trip_every_digest() {
        for (d, len) in [
            (Digest::Sha1, 20),
            (Digest::Sha256, 32),
            (Digest::Sha512, 64),
        ] {
            let sig = hook_signature(b"k", d, BODY);
            assert_eq!(STANDARD.decode(&sig).unwrap().len(), len);
            assert_eq!(verify_hook_signature(b"k", d, BODY, &sig), Ok(()));
            assert_eq!(
                verify_hook_signature(b"other", d, BODY, &sig),
                Err(VerifyError::Mismatch)
            );
            assert_eq!(
                verify_hook_signature(b"k", d, b"{}", &sig),
                Err(VerifyError::Mismatch)
            );
        }
        // A signature of one digest does not pass as another.
        let sig = hook_signature(b"k", Digest::Sha1, BODY);
        assert!(verify_hook_signature(b"k", Digest::Sha256, BODY, &sig).is_err());
        assert!(matches!(
            verify_hook_signature(b"k", Digest::Sha256, BODY, "%%%"),
            Err(VerifyError::Malformed(_))
        ));
    }

    fn spec_key() -> Vec<u8> {
        STANDARD.decode("C2FVsBQIhrscChlQIMV+b5sSYspob7oD").unwrap()
    }
    const SPEC_ID: &str = "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk";
    const SPEC_TS: i64 = 1649367553;
    const SPEC_BODY: &[u8] = br#"{"email":"test@example.com","username":"test_user"}"#;

    fn at(ts: i64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(ts as u64)
    }

    #[test]
    fn standard_check_value() {
        assert_eq!(
            standard_signature(&spec_key(), SPEC_ID, SPEC_TS, SPEC_BODY),
            "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw="
        );
    }

    #[test]
    fn standard_verify() {
        let key = spec_key();
        let sig = "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=";
        let ts = SPEC_TS.to_string();
        assert_eq!(
            verify_standard(&[&key], SPEC_ID, &ts, sig, SPEC_BODY, at(SPEC_TS + 299)),
            Ok(())
        );
        assert_eq!(
            verify_standard(&[&key], SPEC_ID, &ts, sig, SPEC_BODY, at(SPEC_TS - 299)),
            Ok(())
        );
        assert!(matches!(
            verify_standard(&[&key], SPEC_ID, &ts, sig, SPEC_BODY, at(SPEC_TS + 301)),
            Err(VerifyError::Stale { .. })
        ));
        assert!(matches!(
            verify_standard(&[&key], SPEC_ID, &ts, sig, SPEC_BODY, at(SPEC_TS - 301)),
            Err(VerifyError::Stale { .. })
        ));
        let changed = br#"{"email":"test@example.com","username":"test_userX"}"#;
        assert_eq!(
            verify_standard(&[&key], SPEC_ID, &ts, sig, changed, at(SPEC_TS)),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            verify_standard(
                &[b"wrong key".as_slice()],
                SPEC_ID,
                &ts,
                sig,
                SPEC_BODY,
                at(SPEC_TS)
            ),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            verify_standard(&[&key], "msg_other", &ts, sig, SPEC_BODY, at(SPEC_TS)),
            Err(VerifyError::Mismatch)
        );
    }

    #[test]
    fn standard_rotation() {
        let old = b"old key".to_vec();
        let new = b"new key".to_vec();
        let header = standard_signatures(&[&old, &new], "id1", SPEC_TS, b"body");
        assert_eq!(header.split(' ').count(), 2);
        // A receiver holding either key verifies.
        for key in [&new, &old] {
            let verified = verify_standard(
                &[key],
                "id1",
                &SPEC_TS.to_string(),
                &header,
                b"body",
                at(SPEC_TS),
            );
            assert!(verified.is_ok());
        }
        let only_new = standard_signature(&new, "id1", SPEC_TS, b"body");
        assert!(
            verify_standard(
                &[&old, &new],
                "id1",
                &SPEC_TS.to_string(),
                &only_new,
                b"body",
                at(SPEC_TS)
            )
            .is_ok()
        );
        assert_eq!(
            verify_standard(
                &[&old],
                "id1",
                &SPEC_TS.to_string(),
                &only_new,
                b"body",
                at(SPEC_TS)
            ),
            Err(VerifyError::Mismatch)
        );
    }
}

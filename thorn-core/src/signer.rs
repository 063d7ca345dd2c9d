//! Which scheme makes `Hook-HMAC`: plain HMAC, or Python Thorn's default.
//!
//! Python Thorn 1.5 signs with itsdangerous's `Signer` (its
//! `THORN_HMAC_SIGNER` default, `compat_sign`): the key is the digest of
//! `b"itsdangerous.Signer" + b"signer" + secret`, the signature the HMAC of
//! the body under that key with the same digest, in URL-safe base64 without
//! padding. Receivers written for Python Thorn verify [`Signer::Compat`]
//! unchanged.
//!
//! ```
//! use thorn_core::{Digest, Signer};
//! let body = br#"{"id": 1, "name": "Ada"}"#;
//! let sig = Signer::Compat.sign(b"s3cret", Digest::Sha256, body);
//! assert_eq!(sig, "ck3iZ3XAsS4KmYlNyaKuuZ-4ZIV04dUsWIxAsZp1V3w");
//! assert!(Signer::Compat.verify(b"s3cret", Digest::Sha256, body, &sig).is_ok());
//! ```

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::signing::{self, Tag, VerifyError, ct_eq, tag};
use crate::subscriber::Digest;

/// The scheme of `Hook-HMAC`, per subscription or for all
/// (`THORN_HMAC_SIGNER=hmac|compat`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Signer {
    /// Standard padded base64 of HMAC(secret, body): the default.
    #[default]
    Hmac,
    /// Python Thorn's default signer (itsdangerous), see the module docs.
    Compat,
}

/// The salt and separator itsdangerous derives its key with.
const COMPAT_PREFIX: &[u8] = b"itsdangerous.Signersigner";

impl Signer {
    /// Parses `hmac` or `compat` (any case).
    pub fn parse(text: &str) -> Result<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "hmac" => Ok(Signer::Hmac),
            "compat" => Ok(Signer::Compat),
            _ => Err(Error::setting(
                "THORN_HMAC_SIGNER",
                text,
                "expected hmac (plain HMAC) or compat (Python Thorn's itsdangerous signer)",
            )),
        }
    }

    /// The `Hook-HMAC` value of `body` under `secret`.
    pub fn sign(self, secret: &[u8], digest: Digest, body: &[u8]) -> String {
        match self {
            Signer::Hmac => signing::hook_signature(secret, digest, body),
            Signer::Compat => URL_SAFE_NO_PAD.encode(compat_tag(secret, digest, body).as_bytes()),
        }
    }

    /// Checks a `Hook-HMAC` header value against `body`, in constant time.
    pub fn verify(
        self,
        secret: &[u8],
        digest: Digest,
        body: &[u8],
        header: &str,
    ) -> Result<(), VerifyError> {
        match self {
            Signer::Hmac => signing::verify_hook_signature(secret, digest, body, header),
            Signer::Compat => {
                let mut sent = [0u8; 64];
                let n = URL_SAFE_NO_PAD
                    .decode_slice(header.trim().trim_end_matches('=').as_bytes(), &mut sent)
                    .map_err(|_| {
                        VerifyError::Malformed("Hook-HMAC is not URL-safe base64 of a digest")
                    })?;
                if ct_eq(&sent[..n], compat_tag(secret, digest, body).as_bytes()) {
                    Ok(())
                } else {
                    Err(VerifyError::Mismatch)
                }
            }
        }
    }

    /// The setting's value as [`parse`](Self::parse) reads it.
    pub const fn as_str(self) -> &'static str {
        match self {
            Signer::Hmac => "hmac",
            Signer::Compat => "compat",
        }
    }
}

impl fmt::Display for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// HMAC of `body` under itsdangerous's derived key.
fn compat_tag(secret: &[u8], digest: Digest, body: &[u8]) -> Tag {
    /// The derived key in a buffer of the largest digest, not on the heap.
    fn derive<H: sha2::Digest>(secret: &[u8], key: &mut [u8; 64]) -> usize {
        let mut h = H::new();
        h.update(COMPAT_PREFIX);
        h.update(secret);
        let out = h.finalize();
        key[..out.len()].copy_from_slice(&out);
        out.len()
    }
    let mut key = [0u8; 64];
    let len = match digest {
        Digest::Sha1 => derive::<sha1::Sha1>(secret, &mut key),
        Digest::Sha256 => derive::<sha2::Sha256>(secret, &mut key),
        Digest::Sha512 => derive::<sha2::Sha512>(secret, &mut key),
    };
    tag(&key[..len], digest, &[body])
}

#[cfg(test)]
mod tests {
    use super::{Signer, VerifyError};
    use crate::subscriber::Digest;

    const BODY: &[u8] = br#"{"id": 1, "name": "Ada"}"#;

    #[test]
    fn check_values() {
        assert_eq!(
            Signer::Compat.sign(b"s3cret", Digest::Sha256, BODY),
            "ck3iZ3XAsS4KmYlNyaKuuZ-4ZIV04dUsWIxAsZp1V3w"
        );
        assert_eq!(
            Signer::Hmac.sign(b"s3cret", Digest::Sha256, BODY),
            "O9SV12RuA0alhpGfc2plwlt4HGyunFlfkZcbuDsuzJc="
        );
    }

    #[test]
    fn round_trip_and_mismatch_every_digest() {
        for digest in [Digest::Sha1, Digest::Sha256, Digest::Sha512] {
            for signer in [Signer::Hmac, Signer::Compat] {
                let sig = signer.sign(b"k", digest, BODY);
                assert!(signer.verify(b"k", digest, BODY, &sig).is_ok());
                assert_eq!(
                    signer.verify(b"other", digest, BODY, &sig),
                    Err(VerifyError::Mismatch)
                );
                assert!(signer.verify(b"k", digest, b"tampered", &sig).is_err());
            }
            let compat = Signer::Compat.sign(b"k", digest, BODY);
            assert!(!compat.contains('=') && !compat.contains('+') && !compat.contains('/'));
            assert!(Signer::Hmac.verify(b"k", digest, BODY, &compat).is_err());
        }
    }

    #[test]
    fn parse_names_the_setting() {
        assert_eq!(Signer::parse("COMPAT").unwrap(), Signer::Compat);
        let e = Signer::parse("itsdangerous").unwrap_err().to_string();
        assert!(e.contains("THORN_HMAC_SIGNER=\"itsdangerous\""), "{e}");
    }
}

//! Secrets sealed at rest: AES-256-GCM under `THORN_PG_SECRET_KEY`, a new
//! random nonce per value, stored as `aesgcm1:` and base64 of the nonce
//! and the ciphertext.

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use thorn_core::{Error, Result};

/// The prefix of a sealed value.
const SEALED: &str = "aesgcm1:";

/// Seals and opens secrets; without a key, stores them as given.
#[derive(Clone)]
pub(crate) struct Cipher(Option<Aes256Gcm>);

impl std::fmt::Debug for Cipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "Cipher(sealed)"
        } else {
            "Cipher(plain)"
        })
    }
}

impl Cipher {
    pub(crate) fn new(key: Option<[u8; 32]>) -> Self {
        Cipher(key.map(|k| Aes256Gcm::new(&k.into())))
    }

    /// The stored form of `secret`.
    pub(crate) fn seal(&self, secret: &str) -> Result<String> {
        let Some(aes) = &self.0 else {
            return Ok(secret.to_owned());
        };
        let mut nonce = [0u8; 12];
        getrandom::getrandom(&mut nonce).map_err(|e| failure(format!("no random nonce: {e}")))?;
        let sealed = aes
            .encrypt(Nonce::from_slice(&nonce), secret.as_bytes())
            .map_err(|_| failure("sealing a secret failed".into()))?;
        let mut both = nonce.to_vec();
        both.extend_from_slice(&sealed);
        Ok(format!("{SEALED}{}", STANDARD.encode(both)))
    }

    /// The secret a stored value holds.
    pub(crate) fn open(&self, stored: &str) -> Result<String> {
        let Some(b64) = stored.strip_prefix(SEALED) else {
            return Ok(stored.to_owned());
        };
        let Some(aes) = &self.0 else {
            return Err(failure(
                "a stored secret is sealed and THORN_PG_SECRET_KEY is unset; set it to the key it was sealed with".into(),
            ));
        };
        let both = STANDARD
            .decode(b64)
            .map_err(|_| failure("a sealed secret is not base64".into()))?;
        if both.len() < 12 {
            return Err(failure("a sealed secret is too short".into()));
        }
        let (nonce, sealed) = both.split_at(12);
        let plain = aes.decrypt(Nonce::from_slice(nonce), sealed).map_err(|_| {
            failure("a sealed secret does not open under THORN_PG_SECRET_KEY; is it the key it was sealed with?".into())
        })?;
        String::from_utf8(plain).map_err(|_| failure("a sealed secret is not text".into()))
    }
}

fn failure(reason: String) -> Error {
    Error::Store {
        retryable: false,
        source: reason.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::Cipher;

    #[test]
    fn sealed_secrets_open_only_under_their_key() {
        let cipher = Cipher::new(Some([7; 32]));
        let sealed = cipher.seal("whsec_abc").unwrap();
        assert!(sealed.starts_with("aesgcm1:") && !sealed.contains("whsec_abc"));
        assert_ne!(
            sealed,
            cipher.seal("whsec_abc").unwrap(),
            "a new nonce each time"
        );
        assert_eq!(cipher.open(&sealed).unwrap(), "whsec_abc");
        assert!(Cipher::new(Some([8; 32])).open(&sealed).is_err());
        let e = Cipher::new(None).open(&sealed).unwrap_err().to_string();
        assert!(e.contains("THORN_PG_SECRET_KEY"), "{e}");
        assert_eq!(Cipher::new(None).seal("plain").unwrap(), "plain");
        assert_eq!(
            cipher.open("plain").unwrap(),
            "plain",
            "values stored before the key"
        );
    }
}

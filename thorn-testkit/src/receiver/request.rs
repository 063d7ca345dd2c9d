//! A request the receiver got, and checks of its signatures.

use std::time::{Instant, SystemTime};

use bytes::Bytes;
use http::{HeaderMap, Method, Version};
use thorn_core::delivery::headers;
use thorn_core::signing::{self, VerifyError};
use thorn_core::{Digest, Secret, Signer};

/// One request the receiver got.
#[derive(Clone, Debug)]
pub struct ReceivedRequest {
    /// The method.
    pub method: Method,
    /// The path and query.
    pub path: String,
    /// The HTTP version.
    pub version: Version,
    /// Every header.
    pub headers: HeaderMap,
    /// The body, as received.
    pub body: Bytes,
    /// Which TCP connection it came on (1 for the first accepted).
    pub connection: u64,
    /// When it had arrived whole (headers and body), by the monotonic
    /// clock: the time between two requests says how they were paced.
    pub received_at: Instant,
    /// Whether the signature(s) verified under the receiver's secret, when
    /// one was given ([`MockReceiverBuilder::secret`](super::MockReceiverBuilder::secret)): `Hook-HMAC`, and
    /// the Standard Webhooks headers when present.
    pub signature_ok: Option<bool>,
}

impl ReceivedRequest {
    /// A header's value as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The `Hook-Event` header.
    pub fn event(&self) -> Option<&str> {
        self.header(headers::HOOK_EVENT)
    }

    /// The `Hook-Delivery` header.
    pub fn delivery(&self) -> Option<&str> {
        self.header(headers::HOOK_DELIVERY)
    }

    /// The body parsed as JSON.
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// The body parsed as `application/x-www-form-urlencoded` pairs.
    pub fn form(&self) -> Vec<(String, String)> {
        form_urlencoded::parse(&self.body).into_owned().collect()
    }

    /// Verifies `Hook-HMAC` (plain HMAC) under `secret` with `digest`.
    pub fn verify_hook(&self, secret: &str, digest: Digest) -> Result<(), VerifyError> {
        self.verify_hook_with(Signer::Hmac, secret, digest)
    }

    /// Verifies `Hook-HMAC` made by `signer` (plain HMAC, or Python
    /// Thorn's) under `secret` with `digest`.
    pub fn verify_hook_with(
        &self,
        signer: Signer,
        secret: &str,
        digest: Digest,
    ) -> Result<(), VerifyError> {
        let header = self
            .header(headers::HOOK_HMAC)
            .ok_or(VerifyError::Malformed("no Hook-HMAC header"))?;
        signer.verify(secret.as_bytes(), digest, &self.body, header)
    }

    /// Verifies the Standard Webhooks headers under `secret` (a `whsec_`
    /// secret is base64-decoded, as senders do).
    pub fn verify_standard(&self, secret: &str) -> Result<(), VerifyError> {
        let secret = Secret::new(secret).map_err(|_| {
            VerifyError::Malformed("the secret is not a valid Standard Webhooks secret")
        })?;
        let key = secret.standard_key();
        let get = |name: &'static str| {
            self.header(name)
                .ok_or(VerifyError::Malformed("a webhook-* header is missing"))
        };
        signing::verify_standard(
            &[key],
            get(headers::WEBHOOK_ID)?,
            get(headers::WEBHOOK_TIMESTAMP)?,
            get(headers::WEBHOOK_SIGNATURE)?,
            &self.body,
            SystemTime::now(),
        )
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use http::{HeaderMap, Method, Version};

    use super::ReceivedRequest;

    fn with_body(body: &'static str) -> ReceivedRequest {
        ReceivedRequest {
            method: Method::POST,
            path: "/".into(),
            version: Version::HTTP_11,
            headers: HeaderMap::new(),
            body: Bytes::from_static(body.as_bytes()),
            connection: 1,
            received_at: std::time::Instant::now(),
            signature_ok: None,
        }
    }

    #[test]
    fn form_decodes_pairs_plus_and_percent_escapes() {
        let got = with_body("name=Ada+Lovelace&city=Z%C3%BCrich&&flag&pct=100%25&bad=%zz").form();
        let pairs: Vec<(&str, &str)> = got.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(
            pairs,
            [
                ("name", "Ada Lovelace"),
                ("city", "Zürich"),
                ("flag", ""),
                ("pct", "100%"),
                ("bad", "%zz"),
            ]
        );
        assert!(with_body("").form().is_empty());
    }
}

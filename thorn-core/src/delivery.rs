//! `Delivery`: one prepared request to one subscriber.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::event::EventName;
use crate::report::Outcome;
use crate::signer::Signer;
use crate::signing;
use crate::subscriber::Subscriber;

/// Names of the headers of Thorn's wire format.
pub mod headers {
    /// The event's name.
    pub const HOOK_EVENT: &str = "hook-event";
    /// The delivery's id, the same on every attempt.
    pub const HOOK_DELIVERY: &str = "hook-delivery";
    /// The `Hook-HMAC` signature of the body.
    pub const HOOK_HMAC: &str = "hook-hmac";
    /// The subscription's id.
    pub const HOOK_SUBSCRIPTION: &str = "hook-subscription";
    /// Standard Webhooks: the message id (the delivery id).
    pub const WEBHOOK_ID: &str = "webhook-id";
    /// Standard Webhooks: the attempt's Unix timestamp in seconds.
    pub const WEBHOOK_TIMESTAMP: &str = "webhook-timestamp";
    /// Standard Webhooks: `v1,<base64>` signatures.
    pub const WEBHOOK_SIGNATURE: &str = "webhook-signature";
    /// The `User-Agent` prefix: `thorn/<version>`.
    pub const USER_AGENT: &str = concat!("thorn/", env!("CARGO_PKG_VERSION"));
}

/// One request prepared for one subscriber: its id (stable across
/// attempts), the event, the subscription (URL, secret, digest, content type)
/// and the encoded body, shared with every other delivery of the same event
/// and content type.
///
/// The headers other than the signature follow from these fields; the
/// signature is made per attempt by [`Delivery::sign`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Delivery {
    /// The delivery's id, sent as `Hook-Delivery` and `webhook-id`: a
    /// version 7 UUID ([`new_id`]), so it also says when the event was sent.
    pub id: Uuid,
    /// The event's name, sent as `Hook-Event`.
    pub event: EventName,
    /// Who receives it.
    pub subscriber: Arc<Subscriber>,
    /// The encoded body.
    pub body: Bytes,
    /// The per-attempt timeout of this event, if it has its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
    /// Whether to send the Standard Webhooks headers, whatever the
    /// subscription says.
    #[serde(default)]
    pub standard_webhooks: bool,
    /// The `Hook-HMAC` scheme when the subscription names none
    /// (`THORN_HMAC_SIGNER`).
    #[serde(default)]
    pub hmac_signer: Signer,
}

/// The signature headers of one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    /// The `Hook-HMAC` value.
    pub hook_hmac: String,
    /// `webhook-timestamp` and `webhook-signature`, when Standard Webhooks
    /// headers are sent.
    pub standard: Option<(i64, String)>,
}

/// A new delivery id for an event sent at `sent`: a version 7 UUID, which
/// holds `sent` to the millisecond (so a worker can tell how long a
/// delivery waited, across retries) and 74 random bits. One clock reading
/// serves all the deliveries of an event, and no lock is taken.
///
/// ```
/// use std::time::{Duration, SystemTime, UNIX_EPOCH};
/// let sent = UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
/// let id = thorn_core::delivery::new_id(sent);
/// assert_eq!(id.get_version_num(), 7);
/// assert_eq!(id.get_timestamp().unwrap().to_unix(), (1_700_000_000, 123_000_000));
/// assert_ne!(id, thorn_core::delivery::new_id(sent));
/// ```
pub fn new_id(sent: SystemTime) -> Uuid {
    let since = sent
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let ts = uuid::Timestamp::from_unix_time(since.as_secs(), since.subsec_nanos(), 0, 0);
    Uuid::new_v7(ts)
}

/// The delivery id of the event `event` (first sent at `sent`) to the
/// subscription `subscription`: the same every time, a version 7 UUID
/// holding `sent` to the millisecond and 74 bits of SHA-256 over both ids.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use uuid::Uuid;
/// let sent = UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
/// let (event, sub) = (Uuid::from_u128(1), Uuid::from_u128(2));
/// let id = thorn_core::delivery::derived_id(event, sub, sent);
/// assert_eq!(id, thorn_core::delivery::derived_id(event, sub, sent));
/// assert_ne!(id, thorn_core::delivery::derived_id(event, Uuid::from_u128(3), sent));
/// assert_eq!(id.get_version_num(), 7);
/// assert_eq!(id.get_timestamp().unwrap().to_unix(), (1_700_000_000, 123_000_000));
/// ```
pub fn derived_id(event: Uuid, subscription: Uuid, sent: SystemTime) -> Uuid {
    use sha2::Digest as _;
    let mut hash = sha2::Sha256::new();
    hash.update(event.as_bytes());
    hash.update(subscription.as_bytes());
    let digest = hash.finalize();
    let mut bits = [0u8; 10];
    bits.copy_from_slice(&digest[..10]);
    let millis = sent
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    uuid::Builder::from_unix_timestamp_millis(millis, &bits).into_uuid()
}

impl Delivery {
    /// Signs the body for an attempt made at `now`.
    pub fn sign(&self, now: SystemTime) -> Signature {
        let sub = &self.subscriber;
        let signer = sub.signer.unwrap_or(self.hmac_signer);
        let hook_hmac = signer.sign(sub.secret.hook_key(), sub.digest, &self.body);
        let standard = (self.standard_webhooks || sub.signatures.standard()).then(|| {
            let ts = signing::unix_seconds(now);
            let mut id = uuid::Uuid::encode_buffer();
            let id = self.id.hyphenated().encode_lower(&mut id);
            let key = sub.secret.standard_key();
            let mut header = signing::standard_signature(key, id, ts, &self.body);
            let previous: &[_] = match sub.previous_until {
                Some(until) if ts > until => &[],
                _ => &sub.previous_secrets,
            };
            for old in previous {
                header.push(' ');
                header.push_str(&signing::standard_signature(
                    old.standard_key(),
                    id,
                    ts,
                    &self.body,
                ));
            }
            (ts, header)
        });
        Signature {
            hook_hmac,
            standard,
        }
    }

    /// Whether this delivery carries the Standard Webhooks headers.
    pub fn sends_standard(&self) -> bool {
        self.standard_webhooks || self.subscriber.signatures.standard()
    }
}

/// One sent event with its deliveries, as handed to a dispatcher.
#[derive(Debug, Clone)]
pub struct PreparedEvent {
    /// The event's name.
    pub name: EventName,
    /// One delivery per matching subscriber.
    pub deliveries: Vec<Delivery>,
    /// The final outcomes of deliveries that failed before any attempt
    /// (the payload cannot be encoded in their subscriber's content type).
    /// [`Thorn::send`](crate::Thorn::send) reports them and hands only
    /// `deliveries` to the backend.
    pub failed: Vec<Outcome>,
}

impl PreparedEvent {
    /// An event with `deliveries` and nothing failed.
    pub fn new(name: EventName, deliveries: Vec<Delivery>) -> Self {
        PreparedEvent {
            name,
            deliveries,
            failed: Vec::new(),
        }
    }
}

/// What a dispatcher receives: one send, or every event a buffer flushed, in
/// the order they were sent.
#[derive(Debug, Clone, Default)]
pub struct Batch {
    /// The events, in send order.
    pub events: Vec<PreparedEvent>,
}

impl Batch {
    /// A batch of one event.
    pub fn one(event: PreparedEvent) -> Self {
        Batch {
            events: vec![event],
        }
    }

    /// Every delivery of every event, in order.
    pub fn deliveries(&self) -> impl Iterator<Item = &Delivery> {
        self.events.iter().flat_map(|e| e.deliveries.iter())
    }

    /// How many deliveries the batch holds.
    pub fn delivery_count(&self) -> usize {
        self.events.iter().map(|e| e.deliveries.len()).sum()
    }

    /// Whether the batch holds no event.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::SystemTime;

    use bytes::Bytes;
    use uuid::Uuid;

    use super::Delivery;
    use crate::event::EventName;
    use crate::signing;
    use crate::subscriber::{Digest, Secret, Signatures, Subscriber};

    fn delivery(sub: Subscriber) -> Delivery {
        Delivery {
            id: Uuid::now_v7(),
            event: EventName::new("a.b").unwrap(),
            subscriber: Arc::new(sub),
            body: Bytes::from_static(br#"{"id":1}"#),
            timeout: None,
            standard_webhooks: false,
            hmac_signer: crate::Signer::Hmac,
        }
    }

    #[test]
    fn the_subscription_s_signer_wins_over_the_global_one() {
        use crate::signer::Signer;
        let body = br#"{"id":1}"#;
        let hmac = Signer::Hmac.sign(b"s3cret", Digest::Sha256, body);
        let compat = Signer::Compat.sign(b"s3cret", Digest::Sha256, body);
        for (own, global, expected) in [
            (None, Signer::Hmac, &hmac),
            (None, Signer::Compat, &compat),
            (Some(Signer::Compat), Signer::Hmac, &compat),
            (Some(Signer::Hmac), Signer::Compat, &hmac),
        ] {
            let mut builder = Subscriber::builder("a.*", "https://example.com/", "s3cret");
            if let Some(own) = own {
                builder = builder.signer(own);
            }
            let mut d = delivery(builder.build().unwrap());
            d.hmac_signer = global;
            assert_eq!(
                &d.sign(SystemTime::now()).hook_hmac,
                expected,
                "{own:?} {global:?}"
            );
        }
    }

    #[test]
    fn rotation_signs_under_current_and_previous_secrets() {
        let old = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let new = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
        let sub = Subscriber::builder("a.*", "https://example.com/", new)
            .previous_secret(old)
            .signatures(Signatures::Both)
            .build()
            .unwrap();
        assert!(
            !format!("{sub:?}").contains("whsec_"),
            "secrets leak into Debug"
        );
        let d = delivery(sub);
        let now = SystemTime::now();
        let sig = d.sign(now);
        let (ts, header) = sig.standard.expect("standard headers asked for");
        assert_eq!(header.split(' ').count(), 2);
        let id = d.id.to_string();
        let key = |s: &str| Secret::new(s).unwrap().standard_key().to_vec();
        for k in [key(old), key(new)] {
            assert_eq!(
                signing::verify_standard(&[k], &id, &ts.to_string(), &header, &d.body, now),
                Ok(())
            );
        }
        let other = key("whsec_dGhpcyBpcyBub3QgdGhlIGtleQ==");
        assert!(
            signing::verify_standard(&[other], &id, &ts.to_string(), &header, &d.body, now)
                .is_err()
        );
        // Hook-HMAC is made with the current secret only.
        assert!(
            signing::verify_hook_signature(new.as_bytes(), Digest::Sha256, &d.body, &sig.hook_hmac)
                .is_ok()
        );
        assert!(
            signing::verify_hook_signature(old.as_bytes(), Digest::Sha256, &d.body, &sig.hook_hmac)
                .is_err()
        );
    }

    #[test]
    fn previous_secrets_stop_signing_when_their_grace_ends() {
        let until = 1_700_000_000;
        let sub = Subscriber::builder("a.*", "https://example.com/", "new")
            .previous_secret("old")
            .previous_until(until)
            .signatures(Signatures::Both)
            .build()
            .unwrap();
        let d = delivery(sub);
        let at = |ts: i64| std::time::UNIX_EPOCH + std::time::Duration::from_secs(ts as u64);
        let count = |ts| d.sign(at(ts)).standard.unwrap().1.split(' ').count();
        assert_eq!(count(until), 2, "the last second of grace still signs");
        assert_eq!(count(until + 1), 1, "then only the new secret");
    }

    #[test]
    fn no_rotation_means_one_signature() {
        let sub = Subscriber::builder("a.*", "https://example.com/", "k")
            .signatures(Signatures::Both)
            .build()
            .unwrap();
        let (_, header) = delivery(sub).sign(SystemTime::now()).standard.unwrap();
        assert_eq!(header.split(' ').count(), 1);
        assert!(header.starts_with("v1,"));
    }

    #[test]
    fn a_bad_previous_secret_is_refused_without_showing_it() {
        let err = Subscriber::builder("a.*", "https://example.com/", "k")
            .previous_secret("whsec_!!not base64!!")
            .build()
            .unwrap_err();
        assert!(err.is_invalid_input());
        assert!(!err.to_string().contains("not base64!!"), "{err}");
    }
}

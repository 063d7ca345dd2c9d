//! `Delivery`: one prepared request to one subscriber.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::event::EventName;
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
    /// The delivery's id, sent as `Hook-Delivery` and `webhook-id`.
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

impl Delivery {
    /// Signs the body for an attempt made at `now`.
    pub fn sign(&self, now: SystemTime) -> Signature {
        let sub = &self.subscriber;
        let hook_hmac = signing::hook_signature(sub.secret.hook_key(), sub.digest, &self.body);
        let standard = (self.standard_webhooks || sub.signatures.standard()).then(|| {
            let ts = signing::unix_seconds(now);
            // The key was validated when the secret was made.
            let key = sub.secret.standard_key().unwrap_or_default();
            let mut id = uuid::Uuid::encode_buffer();
            let id = self.id.hyphenated().encode_lower(&mut id);
            (ts, signing::standard_signature(&key, id, ts, &self.body))
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

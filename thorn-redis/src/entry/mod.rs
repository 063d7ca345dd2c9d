//! The encoding of a stream entry: a compact binary format in which every
//! body, subscription and event name is stored once, and each delivery
//! refers to them by index.
//!
//! ```text
//! "TH1"                                      magic and version
//! 16 bytes                                   the batch's id (zeros: none)
//! n, n × (len, bytes)                        bodies
//! n, n × (len, subscription as JSON)         subscriptions (with secrets)
//! n, n × (len, UTF-8)                        event names
//! n, n × (16-byte id, name, subscription,    deliveries
//!         body, timeout ms + 1 or 0,
//!         flags, attempts made)
//! ```
//!
//! Every number is an unsigned LEB128 varint. A flushed batch that spans
//! several entries gives them one batch id, so that a worker keeps each
//! subscription's deliveries of that batch in order across the entries. The
//! id of all ones ([`LOOSE`](crate::merge::LOOSE)) marks an entry of
//! separate sends merged together: no order among its deliveries. The same format holds one
//! delivery in the retry set and in the dead-letter stream, so a delivery
//! keeps its id (and everything else) through retries and replays.

mod cache;
mod decode;
mod encode;
mod interner;
mod queued;

pub use cache::SubscriberCache;
pub use decode::{DecodeError, decode, decode_entry, decode_entry_cached};
pub use encode::{EntryEncoder, encode_one, encode_queued, encode_with};
pub use queued::QueuedDelivery;

/// The first bytes of every entry: the format and its version.
const MAGIC: &[u8; 3] = b"TH1";
/// A delivery's flag: it carries the Standard Webhooks headers.
const FLAG_STANDARD: u8 = 1;
/// A delivery's flag: its `Hook-HMAC` is made by Python Thorn's signer
/// (`THORN_HMAC_SIGNER=compat`) unless its subscription names one.
const FLAG_COMPAT: u8 = 2;
/// A delivery's flag: its subscription's rate-limit slot is taken (it
/// waited for it in the retry set).
const FLAG_PACED: u8 = 4;

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use bytes::Bytes;
    use thorn_core::{Delivery, EventName, Subscriber};
    use uuid::Uuid;

    use super::{EntryEncoder, decode, decode_entry, encode_one};

    fn delivery(event: &str, sub: &Arc<Subscriber>, body: &Bytes) -> Delivery {
        Delivery {
            id: Uuid::new_v4(),
            event: EventName::new(event).unwrap(),
            subscriber: Arc::clone(sub),
            body: body.clone(),
            timeout: None,
            standard_webhooks: false,
            hmac_signer: thorn_core::Signer::Hmac,
        }
    }

    #[test]
    fn round_trip_shares_bodies_and_subscriptions() {
        let a = Arc::new(
            Subscriber::builder("a.*", "https://a.example/hook", "s3cret")
                .build()
                .unwrap(),
        );
        let b = Arc::new(
            Subscriber::builder("a.*", "https://b.example/hook", "other")
                .build()
                .unwrap(),
        );
        let body = Bytes::from_static(br#"{"id":1}"#);
        let body2 = Bytes::from_static(br#"{"id":2}"#);
        let mut d1 = delivery("a.b", &a, &body);
        d1.timeout = Some(Duration::from_millis(1500));
        let mut d2 = delivery("a.b", &b, &body);
        d2.standard_webhooks = true;
        let mut d3 = delivery("a.c", &a, &body2);
        d3.hmac_signer = thorn_core::Signer::Compat;
        let mut enc = EntryEncoder::new();
        let batch = Uuid::new_v4();
        enc.set_batch(Some(batch));
        enc.push(&d1, 0);
        enc.push(&d2, 3);
        enc.push(&d3, 0);
        let bytes = Bytes::from(enc.to_vec());
        // Each body is stored once.
        let text = String::from_utf8_lossy(&bytes);
        assert_eq!(text.matches(r#"{"id":1}"#).count(), 1);
        let (got_batch, got) = decode_entry(&bytes).unwrap();
        assert_eq!(got_batch, Some(batch));
        assert_eq!(got.len(), 3);
        assert_eq!(got[0].delivery.id, d1.id);
        assert_eq!(got[0].delivery.timeout, Some(Duration::from_millis(1500)));
        assert_eq!(got[1].attempts, 3);
        assert!(got[1].delivery.standard_webhooks);
        assert_eq!(got[1].delivery.hmac_signer, thorn_core::Signer::Hmac);
        assert_eq!(got[2].delivery.hmac_signer, thorn_core::Signer::Compat);
        assert!(!got[2].delivery.standard_webhooks);
        assert_eq!(
            got[1].delivery.subscriber.url.as_str(),
            "https://b.example/hook"
        );
        assert_eq!(got[1].delivery.subscriber.secret.expose(), "other");
        assert_eq!(got[2].delivery.event.as_str(), "a.c");
        assert_eq!(&got[2].delivery.body[..], br#"{"id":2}"#);
        // Decoded deliveries of one entry share the subscription again.
        assert!(Arc::ptr_eq(
            &got[0].delivery.subscriber,
            &got[2].delivery.subscriber
        ));
    }

    #[test]
    fn many_subscriptions_and_bodies_are_each_stored_once() {
        // Past the count where the encoder switches from scanning to an
        // index, in an order that revisits early ones.
        let subs: Vec<Arc<Subscriber>> = (0..40)
            .map(|i| {
                let url = format!("https://s{i}.example/hook");
                Arc::new(Subscriber::builder("a.*", url, "k").build().unwrap())
            })
            .collect();
        let bodies: Vec<Bytes> = (0..25)
            .map(|i| Bytes::from(format!("{{\"n\":{i}}}")))
            .collect();
        let deliveries: Vec<Delivery> = (0..200)
            .map(|i| delivery("a.b", &subs[(i * 7) % 40], &bodies[(i * 3) % 25]))
            .collect();
        let mut enc = EntryEncoder::new();
        for d in &deliveries {
            enc.push(d, 0);
        }
        let bytes = Bytes::from(enc.to_vec());
        let text = String::from_utf8_lossy(&bytes);
        assert_eq!(text.matches("s7.example").count(), 1);
        assert_eq!(text.matches(r#"{"n":24}"#).count(), 1);
        let got = decode(&bytes).unwrap();
        assert_eq!(got.len(), deliveries.len());
        for (g, d) in got.iter().zip(&deliveries) {
            assert_eq!(g.delivery.id, d.id);
            assert_eq!(g.delivery.subscriber.url, d.subscriber.url);
            assert_eq!(g.delivery.body, d.body);
        }
    }

    #[test]
    fn corrupt_entries_are_errors() {
        assert!(decode(&Bytes::from_static(b"nope")).is_err());
        let a = Arc::new(
            Subscriber::builder("a.*", "https://a.example/", "k")
                .build()
                .unwrap(),
        );
        let body = Bytes::from_static(b"{}");
        let bytes = encode_one(&delivery("a.b", &a, &body), 0);
        for cut in [3, 10, 25, bytes.len() - 1] {
            assert!(
                decode(&Bytes::copy_from_slice(&bytes[..cut])).is_err(),
                "cut at {cut}"
            );
        }
        let mut long = bytes.clone();
        long.push(0);
        assert!(decode(&Bytes::from(long)).is_err());
    }
}

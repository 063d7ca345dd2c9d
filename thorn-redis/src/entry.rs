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
//! subscription's deliveries of that batch in order across the entries. The same format holds one
//! delivery in the retry set and in the dead-letter stream, so a delivery
//! keeps its id (and everything else) through retries and replays.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use thorn_core::{Delivery, EventName, Subscriber};
use uuid::Uuid;

const MAGIC: &[u8; 3] = b"TH1";
const FLAG_STANDARD: u8 = 1;

/// A delivery read from the queue, with the attempts already made.
#[derive(Debug, Clone)]
pub struct QueuedDelivery {
    /// The delivery, as the producer prepared it.
    pub delivery: Delivery,
    /// Attempts made before this one (0 for a fresh delivery).
    pub attempts: u32,
}

/// An entry that cannot be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError(String);

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "malformed queue entry: {}", self.0)
    }
}

impl std::error::Error for DecodeError {}

/// Collects deliveries into one entry, deduplicating what they share.
#[derive(Debug, Default)]
pub struct EntryEncoder<'a> {
    batch: Option<Uuid>,
    bodies: Vec<&'a Bytes>,
    body_index: Interner<(usize, usize)>,
    subs: Vec<&'a Subscriber>,
    sub_index: Interner<*const Subscriber>,
    names: Vec<&'a EventName>,
    items: Vec<Item<'a>>,
}

#[derive(Debug)]
struct Item<'a> {
    delivery: &'a Delivery,
    name: u32,
    sub: u32,
    body: u32,
    attempts: u32,
}

impl<'a> EntryEncoder<'a> {
    /// An empty encoder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Marks the entry as part of the multi-entry batch `id`.
    pub fn set_batch(&mut self, id: Option<Uuid>) {
        self.batch = id;
    }

    /// How many deliveries it holds.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Adds a delivery on which `attempts` attempts were made.
    pub fn push(&mut self, delivery: &'a Delivery, attempts: u32) {
        // Deliveries of one event share their body's allocation, so the
        // pointer identifies it without hashing the bytes.
        let body_key = (delivery.body.as_ptr() as usize, delivery.body.len());
        let (body, new) = self.body_index.intern(body_key);
        if new {
            self.bodies.push(&delivery.body);
        }
        let (sub, new) = self.sub_index.intern(Arc::as_ptr(&delivery.subscriber));
        if new {
            self.subs.push(&delivery.subscriber);
        }
        // Names come in runs (one event's deliveries are consecutive).
        let name = match self.names.iter().rposition(|n| *n == &delivery.event) {
            Some(i) => i as u32,
            None => {
                self.names.push(&delivery.event);
                (self.names.len() - 1) as u32
            }
        };
        self.items.push(Item {
            delivery,
            name,
            sub,
            body,
            attempts,
        });
    }

    /// Writes the entry to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let bodies: usize = self.bodies.iter().map(|b| b.len()).sum();
        out.reserve(bodies + 64 * self.items.len() + 256 * self.subs.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(self.batch.unwrap_or(Uuid::nil()).as_bytes());
        put_len(out, self.bodies.len());
        for b in &self.bodies {
            put_len(out, b.len());
            out.extend_from_slice(b);
        }
        put_len(out, self.subs.len());
        let mut json = Vec::new();
        for s in &self.subs {
            json.clear();
            // A subscriber is plain data: serialising it cannot fail.
            if serde_json::to_writer(&mut json, *s).is_err() {
                json.clear();
            }
            put_len(out, json.len());
            out.extend_from_slice(&json);
        }
        put_len(out, self.names.len());
        for n in &self.names {
            put_len(out, n.as_str().len());
            out.extend_from_slice(n.as_str().as_bytes());
        }
        put_len(out, self.items.len());
        for it in &self.items {
            out.extend_from_slice(it.delivery.id.as_bytes());
            put_varint(out, u64::from(it.name));
            put_varint(out, u64::from(it.sub));
            put_varint(out, u64::from(it.body));
            let timeout = it
                .delivery
                .timeout
                .map_or(0, |t| (t.as_millis() as u64).saturating_add(1));
            put_varint(out, timeout);
            out.push(if it.delivery.standard_webhooks {
                FLAG_STANDARD
            } else {
                0
            });
            put_varint(out, u64::from(it.attempts));
        }
    }

    /// Forgets the deliveries (keeping the batch id and the allocations).
    pub fn clear(&mut self) {
        self.bodies.clear();
        self.body_index.clear();
        self.subs.clear();
        self.sub_index.clear();
        self.names.clear();
        self.items.clear();
    }

    /// The encoded entry.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(&mut out);
        out
    }
}

/// Numbers distinct keys in the order they are first seen: by a scan while
/// there are few (the usual entry: one body, one subscription), through a
/// map once there are many.
#[derive(Debug)]
struct Interner<K> {
    keys: Vec<K>,
    index: HashMap<K, u32>,
}

impl<K> Default for Interner<K> {
    fn default() -> Self {
        Interner {
            keys: Vec::new(),
            index: HashMap::new(),
        }
    }
}

impl<K: Copy + Eq + std::hash::Hash> Interner<K> {
    /// Up to this many keys, a scan is cheaper than hashing.
    const SCAN: usize = 16;

    /// The key's number, and whether it is new.
    fn intern(&mut self, key: K) -> (u32, bool) {
        let next = self.keys.len() as u32;
        if self.keys.len() < Self::SCAN {
            // The latest key first: deliveries sharing one come in a run.
            if let Some(i) = self.keys.iter().rposition(|k| *k == key) {
                return (i as u32, false);
            }
        } else {
            if self.index.is_empty() {
                self.index = self.keys.iter().copied().zip(0..).collect();
            }
            if let Some(i) = self.index.get(&key) {
                return (*i, false);
            }
            self.index.insert(key, next);
        }
        self.keys.push(key);
        (next, true)
    }

    fn clear(&mut self) {
        self.keys.clear();
        self.index.clear();
    }
}

/// Encodes one delivery (for the retry set and dead letters).
pub fn encode_one(delivery: &Delivery, attempts: u32) -> Vec<u8> {
    let mut enc = EntryEncoder::new();
    enc.push(delivery, attempts);
    enc.to_vec()
}

/// Decodes an entry's deliveries. Bodies are slices of `data`, not copies.
pub fn decode(data: &Bytes) -> Result<Vec<QueuedDelivery>, DecodeError> {
    decode_entry(data).map(|(_, d)| d)
}

/// Decodes an entry: its batch id (if it is one of several entries of a
/// batch) and its deliveries.
pub fn decode_entry(data: &Bytes) -> Result<(Option<Uuid>, Vec<QueuedDelivery>), DecodeError> {
    decode_with(data, None)
}

/// Subscriptions already decoded, keyed by their stored JSON, so that a
/// worker parses each subscription once rather than once per entry.
/// Bounded: it is emptied when it grows past 10,000.
#[derive(Default)]
pub struct SubscriberCache {
    map: std::sync::Mutex<HashMap<Bytes, Arc<Subscriber>>>,
}

impl fmt::Debug for SubscriberCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SubscriberCache").finish_non_exhaustive()
    }
}

impl SubscriberCache {
    const LIMIT: usize = 10_000;

    fn get_or_parse(&self, json: &[u8]) -> Result<Arc<Subscriber>, serde_json::Error> {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = map.get(json) {
            return Ok(Arc::clone(s));
        }
        let sub = Arc::new(serde_json::from_slice::<Subscriber>(json)?);
        if map.len() >= Self::LIMIT {
            map.clear();
        }
        // A copy: a slice would keep the whole entry alive.
        map.insert(Bytes::copy_from_slice(json), Arc::clone(&sub));
        Ok(sub)
    }
}

/// Like [`decode_entry`], reusing subscriptions decoded before.
pub fn decode_entry_cached(
    data: &Bytes,
    cache: &SubscriberCache,
) -> Result<(Option<Uuid>, Vec<QueuedDelivery>), DecodeError> {
    decode_with(data, Some(cache))
}

fn decode_with(
    data: &Bytes,
    cache: Option<&SubscriberCache>,
) -> Result<(Option<Uuid>, Vec<QueuedDelivery>), DecodeError> {
    let mut r = Reader { data, pos: 0 };
    if r.take(3)? != MAGIC {
        return Err(DecodeError("unknown format (no TH1 header)".into()));
    }
    let batch = Uuid::from_slice(r.take(16)?).map_err(|e| DecodeError(e.to_string()))?;
    let batch = (!batch.is_nil()).then_some(batch);
    let n = r.count()?;
    let mut bodies = Vec::with_capacity(n);
    for _ in 0..n {
        let len = r.count()?;
        let start = r.pos;
        r.take(len)?;
        bodies.push(data.slice(start..start + len));
    }
    let n = r.count()?;
    let mut subs = Vec::with_capacity(n);
    for i in 0..n {
        let len = r.count()?;
        let json = r.take(len)?;
        let sub = match cache {
            Some(c) => c.get_or_parse(json),
            None => serde_json::from_slice::<Subscriber>(json).map(Arc::new),
        }
        .map_err(|e| DecodeError(format!("subscription {i}: {e}")))?;
        subs.push(sub);
    }
    let n = r.count()?;
    let mut names = Vec::with_capacity(n);
    for _ in 0..n {
        let len = r.count()?;
        let text = std::str::from_utf8(r.take(len)?)
            .map_err(|_| DecodeError("event name is not UTF-8".into()))?;
        names.push(EventName::new(text).map_err(|e| DecodeError(e.to_string()))?);
    }
    let n = r.count()?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let id = Uuid::from_slice(r.take(16)?).map_err(|e| DecodeError(e.to_string()))?;
        let name = pick(&names, r.count()?, "event name")?;
        let sub = pick(&subs, r.count()?, "subscription")?;
        let body = pick(&bodies, r.count()?, "body")?;
        let timeout = match r.varint()? {
            0 => None,
            ms => Some(Duration::from_millis(ms - 1)),
        };
        let flags = r.take(1)?[0];
        let attempts = u32::try_from(r.varint()?)
            .map_err(|_| DecodeError("attempt count out of range".into()))?;
        out.push(QueuedDelivery {
            delivery: Delivery {
                id,
                event: name,
                subscriber: sub,
                body,
                timeout,
                standard_webhooks: flags & FLAG_STANDARD != 0,
            },
            attempts,
        });
    }
    if r.pos != data.len() {
        return Err(DecodeError(format!(
            "{} bytes after the last delivery",
            data.len() - r.pos
        )));
    }
    Ok((batch, out))
}

fn pick<T: Clone>(items: &[T], i: usize, what: &str) -> Result<T, DecodeError> {
    items
        .get(i)
        .cloned()
        .ok_or_else(|| DecodeError(format!("{what} index {i} out of range")))
}

fn put_len(out: &mut Vec<u8>, n: usize) {
    put_varint(out, n as u64);
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.data.len())
            .ok_or_else(|| DecodeError("truncated".into()))?;
        let s = &self.data[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn varint(&mut self) -> Result<u64, DecodeError> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.take(1)?[0];
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(DecodeError("varint too long".into()))
    }

    fn count(&mut self) -> Result<usize, DecodeError> {
        let v = self.varint()?;
        // No count can exceed the bytes left: this bounds allocations made
        // from a corrupt entry.
        usize::try_from(v)
            .ok()
            .filter(|&n| n <= self.data.len())
            .ok_or_else(|| DecodeError(format!("count {v} exceeds the entry's size")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delivery(event: &str, sub: &Arc<Subscriber>, body: &Bytes) -> Delivery {
        Delivery {
            id: Uuid::new_v4(),
            event: EventName::new(event).unwrap(),
            subscriber: Arc::clone(sub),
            body: body.clone(),
            timeout: None,
            standard_webhooks: false,
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
        let d3 = delivery("a.c", &a, &body2);
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

//! Writing an entry: deliveries collected, what they share stored once.

use std::sync::Arc;

use bytes::Bytes;
use thorn_core::{Delivery, EventName, Signer, Subscriber};
use uuid::Uuid;

use super::interner::Interner;
use super::{FLAG_COMPAT, FLAG_PACED, FLAG_STANDARD, MAGIC, QueuedDelivery};

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
    paced: bool,
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
        self.push_item(delivery, attempts, false);
    }

    /// Adds a delivery whose rate-limit slot is taken (`paced`): a worker
    /// delivers it when it is read without taking another.
    pub fn push_paced(&mut self, delivery: &'a Delivery, attempts: u32, paced: bool) {
        self.push_item(delivery, attempts, paced);
    }

    fn push_item(&mut self, delivery: &'a Delivery, attempts: u32, paced: bool) {
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
            paced,
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
            let standard = if it.delivery.standard_webhooks {
                FLAG_STANDARD
            } else {
                0
            };
            let compat = match it.delivery.hmac_signer {
                Signer::Compat => FLAG_COMPAT,
                Signer::Hmac => 0,
            };
            let paced = if it.paced { FLAG_PACED } else { 0 };
            out.push(standard | compat | paced);
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

/// Encodes one delivery (for the retry set and dead letters).
pub fn encode_one(delivery: &Delivery, attempts: u32) -> Vec<u8> {
    let mut enc = EntryEncoder::new();
    enc.push(delivery, attempts);
    enc.to_vec()
}

/// Encodes one delivery read from the queue as it was read (its attempts
/// and whether its slot is taken): the member a worker holds it under in
/// the retry set while it delivers it past its entry.
pub fn encode_queued(item: &QueuedDelivery) -> Vec<u8> {
    encode_with(&item.delivery, item.attempts, item.paced)
}

/// Encodes one delivery with its rate-limit slot taken or not.
pub fn encode_with(delivery: &Delivery, attempts: u32, paced: bool) -> Vec<u8> {
    let mut enc = EntryEncoder::new();
    enc.push_item(delivery, attempts, paced);
    enc.to_vec()
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

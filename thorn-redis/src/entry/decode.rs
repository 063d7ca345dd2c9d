//! Reading an entry back, refusing a malformed one with what is wrong.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;
use thorn_core::config::parse::clamp_duration;

use bytes::Bytes;
use thorn_core::{Delivery, EventName, Signer, Subscriber};
use uuid::Uuid;

use super::cache::SubscriberCache;
use super::queued::QueuedDelivery;
use super::{FLAG_COMPAT, FLAG_PACED, FLAG_STANDARD, MAGIC};

/// An entry that cannot be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError(String);

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "malformed queue entry: {}", self.0)
    }
}

impl std::error::Error for DecodeError {}

/// Decodes an entry's deliveries. Bodies are slices of `data`, not copies.
pub fn decode(data: &Bytes) -> Result<Vec<QueuedDelivery>, DecodeError> {
    decode_entry(data).map(|(_, d)| d)
}

/// Decodes an entry: its batch id (if it is one of several entries of a
/// batch) and its deliveries.
pub fn decode_entry(data: &Bytes) -> Result<(Option<Uuid>, Vec<QueuedDelivery>), DecodeError> {
    decode_with(data, None)
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
            ms => Some(clamp_duration(Duration::from_millis(ms - 1))),
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
                hmac_signer: if flags & FLAG_COMPAT != 0 {
                    Signer::Compat
                } else {
                    Signer::Hmac
                },
            },
            attempts,
            paced: flags & FLAG_PACED != 0,
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

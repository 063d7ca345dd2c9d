//! The `"redis"` dispatcher: enqueues deliveries to the queue's stream.

use std::fmt;
use std::sync::Arc;

use thorn_core::{Batch, Config, Dispatcher, Outcome, Registry, Report, Status, async_trait};

use crate::entry::{EntryEncoder, encode_one};
use crate::error::Result;
use crate::keys::Keys;
use crate::merge::Merger;
use crate::options::{Connection, RedisOptions};
use crate::scripts;

/// The name the backend is registered under.
pub const NAME: &str = "redis";

/// The most deliveries one stream entry holds: an event with more
/// subscribers is split over several entries, so that no entry is huge and
/// a worker's unit of work stays bounded.
pub const MAX_DELIVERIES_PER_ENTRY: usize = 500;

/// Registers the `"redis"` backend in `registry` (linking this crate does it
/// for every [`Registry::linked`]).
pub fn register(registry: &mut Registry) {
    registry.register(NAME, |config: &Config| {
        RedisDispatcher::new(config).map_err(|e| thorn_core::Error::dispatch(NAME, false, e))
    });
}

thorn_core::link_backend!(register);

/// Enqueues every delivery of a batch to the queue's stream, for workers to
/// deliver.
///
/// A batch of one delivery (a plain `send`) is merged: sends that arrive while another's write is on the wire share the
/// next `XADD` (see [`crate::merge`]).
///
/// The deliveries of [ordered](thorn_core::Subscriber::ordered)
/// subscriptions go one on its way per subscription (the rest wait in a
/// list until the worker ends the one before), in one script call with the
/// batch's other entries.
///
/// A batch of `n` events becomes `ceil(n / chunk_size)` entries (more when
/// an entry would exceed [`MAX_DELIVERIES_PER_ENTRY`]), written in one
/// `MULTI`/`EXEC` transaction: all or none. Each body is stored once per
/// entry, however many subscribers share it. The connection is opened on
/// the first dispatch and re-opened after failures; when Redis cannot be
/// reached, `dispatch` fails with a retryable error within the connect
/// timeout and the caller keeps the events.
pub struct RedisDispatcher {
    options: RedisOptions,
    keys: Keys,
    chunk_size: usize,
    conn: Connection,
    /// Single sends that arrive together go in one entry.
    merger: Arc<Merger>,
}

impl fmt::Debug for RedisDispatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisDispatcher")
            .field("options", &self.options)
            .field("chunk_size", &self.chunk_size)
            .finish_non_exhaustive()
    }
}

impl RedisDispatcher {
    /// A dispatcher for the queue `config` names (`THORN_REDIS_URL`,
    /// `THORN_REDIS_QUEUE`, `THORN_CHUNKSIZE`). Does not connect yet.
    pub fn new(config: &Config) -> Result<Self> {
        Self::with_options(RedisOptions::from_config(config)?, config.chunk_size)
    }

    /// A dispatcher with explicit options and events per entry.
    pub fn with_options(options: RedisOptions, chunk_size: usize) -> Result<Self> {
        let conn = options.connection(options.response_timeout)?;
        let keys = options.keys();
        let merger = Merger::new(
            keys.stream.clone(),
            options.connection(options.response_timeout)?,
        );
        Ok(RedisDispatcher {
            keys,
            options,
            chunk_size: chunk_size.max(1),
            conn,
            merger,
        })
    }

    /// The queue's keys.
    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// Encodes `batch` into stream entries (see the type's docs); the
    /// deliveries of ordered subscriptions are not among them (see
    /// [`encode_ordered`](Self::encode_ordered)).
    pub fn encode(&self, batch: &Batch) -> Vec<Vec<u8>> {
        let mut entries = Vec::with_capacity(batch.events.len() / self.chunk_size + 1);
        let mut enc = EntryEncoder::new();
        // Entries of one batch share an id, so that a worker keeps each
        // subscription's deliveries in batch order across them.
        let spans = batch.events.len() > self.chunk_size
            || batch.delivery_count() > MAX_DELIVERIES_PER_ENTRY;
        let id = spans.then(uuid::Uuid::new_v4);
        enc.set_batch(id);
        let mut events = 0;
        let cut = |enc: &mut EntryEncoder<'_>, entries: &mut Vec<Vec<u8>>| {
            entries.push(enc.to_vec());
            enc.clear();
        };
        for event in &batch.events {
            if event.deliveries.is_empty() {
                continue;
            }
            let full = events == self.chunk_size
                || enc.len() + event.deliveries.len() > MAX_DELIVERIES_PER_ENTRY;
            if full && !enc.is_empty() {
                cut(&mut enc, &mut entries);
                events = 0;
            }
            for d in &event.deliveries {
                if d.subscriber.ordered {
                    continue;
                }
                if enc.len() == MAX_DELIVERIES_PER_ENTRY {
                    cut(&mut enc, &mut entries);
                    events = 0;
                }
                enc.push(d, 0);
            }
            events += 1;
        }
        if !enc.is_empty() {
            entries.push(enc.to_vec());
        }
        entries
    }

    /// The deliveries of ordered subscriptions in `batch`, in order, each
    /// encoded on its own: (subscription id, delivery id, encoding). They
    /// are enqueued one on its way per subscription (`order_push.lua`).
    pub fn encode_ordered(&self, batch: &Batch) -> Vec<(uuid::Uuid, uuid::Uuid, Vec<u8>)> {
        batch
            .deliveries()
            .filter(|d| d.subscriber.ordered)
            .map(|d| (d.subscriber.id, d.id, encode_one(d, 0)))
            .collect()
    }

    async fn enqueue(&self, batch: &Batch) -> Result<Report> {
        let entries = self.encode(batch);
        let ordered = self.encode_ordered(batch);
        if entries.is_empty() && ordered.is_empty() {
            return Ok(Report::default());
        }
        if let ([entry], true) = (entries.as_slice(), ordered.is_empty()) {
            if let Some(delivery) = batch
                .deliveries()
                .next()
                .filter(|_| batch.delivery_count() == 1)
            {
                // A single send: merged with those that come meanwhile.
                self.merger.send(delivery, entry.clone()).await?;
                return Ok(queued(batch));
            }
        }
        let mut conn = self.conn.get().await?;
        if !ordered.is_empty() {
            let mut inv = scripts::ORDER_PUSH.prepare_invoke();
            inv.key(&self.keys.stream)
                .arg(&self.keys.prefix)
                .arg(entries.len());
            for e in &entries {
                inv.arg(e.as_slice());
            }
            for (sub, id, blob) in &ordered {
                inv.arg(sub.to_string())
                    .arg(id.as_bytes().as_slice())
                    .arg(blob.as_slice());
            }
            inv.invoke_async::<u64>(&mut conn)
                .await
                .map_err(|e| self.conn.err(e))?;
            return Ok(queued(batch));
        }
        // One command for one entry; a transaction around several.
        crate::merge::write(&self.conn, &self.keys.stream, &entries).await?;
        Ok(queued(batch))
    }
}

/// Every delivery of `batch`, queued.
fn queued(batch: &Batch) -> Report {
    let outcomes = batch
        .deliveries()
        .map(|d| Outcome::new(d, Status::Queued))
        .collect();
    Report { outcomes }
}

#[async_trait]
impl Dispatcher for RedisDispatcher {
    fn name(&self) -> &str {
        NAME
    }

    async fn dispatch(&self, batch: &Batch) -> thorn_core::Result<Report> {
        self.enqueue(batch).await.map_err(|e| {
            let retryable = e.is_retryable();
            thorn_core::Error::dispatch(NAME, retryable, e)
        })
    }
}

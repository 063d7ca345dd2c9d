//! The worker: reads the queue through a consumer group, delivers, and
//! settles each entry (acknowledge, retry later, or dead-letter) atomically.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use redis::AsyncCommands;
use redis::streams::{StreamAutoClaimOptions, StreamAutoClaimReply};
use thorn_core::Config;
use thorn_http::{AttemptRecorder, HttpClient};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, mpsc};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::entry;
use crate::error::{Error, Result};
use crate::keys::{FIELD, GROUP, Keys};
use crate::lanes::Lanes;
use crate::options::{Connection, RedisOptions};
use crate::scripts;

mod background;
mod backoff;
mod deliver;
mod outage;
mod reclaim;
mod recover;
mod reply;
mod settle;

use background::{heartbeat_loop, promote_loop};
use backoff::now_ms;
use deliver::{DeadItem, Filed, Work, deliver, lanes};
use outage::{Link, Outage};
use reclaim::reclaim;
use recover::recover;
use reply::{Payload, RawEntry, read_reply};
use settle::{SettleJob, settle_loop};

/// What the ack deadline must exceed beyond one attempt's timeout.
pub const ACK_MARGIN: Duration = Duration::from_secs(1);

/// Entries a worker holds (read, not yet settled) per delivery it may have
/// in flight: more entries than deliveries keep the HTTP side busy while
/// finished entries wait to be settled. The held entries bound what a
/// killed worker leaves to be delivered again.
pub const ENTRIES_PER_DELIVERY_SLOT: usize = 4;

/// How many times an entry may be handed to a worker without being
/// settled. Each handover after the first means the worker holding it died
/// or stalled past the ack deadline: it was reclaimed by another worker, or
/// recovered by the next run of a worker of the same name. An entry handed
/// over this often is likely what kills its workers, so its deliveries go
/// to the dead letters (with the reason) instead of taking down the next
/// worker too. A worker looking for entries it was handed but never saw
/// (after a lost connection) skips those it is delivering: that is no
/// handover, and does not count.
pub const MAX_HANDOVERS: usize = 5;

/// Entries one read or reclaim asks for at most.
const READ_COUNT: usize = 128;

/// Entries one settle call settles at most.
const SETTLE_BATCH: usize = 256;

/// Retries one promotion moves at most (then it runs again at once).
const PROMOTE_COUNT: usize = 1000;

/// Stops a [`Worker`]: it stops reading, finishes the entries in flight,
/// settles them, and [`Worker::run`] returns. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct ShutdownHandle(CancellationToken);

impl ShutdownHandle {
    /// Asks the worker to stop.
    pub fn shutdown(&self) {
        self.0.cancel();
    }

    /// Whether a stop was asked for.
    pub fn is_shutdown(&self) -> bool {
        self.0.is_cancelled()
    }
}

/// Counters of what a worker did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct WorkerStats {
    /// Entries settled.
    pub entries: u64,
    /// Deliveries that got a 2xx.
    pub delivered: u64,
    /// Deliveries scheduled for a retry.
    pub retried: u64,
    /// Deliveries (or malformed entries) moved to the dead letters.
    pub dead: u64,
    /// Entries reclaimed from workers that stopped answering, or recovered
    /// from this worker's own pending list (a read whose reply was lost).
    pub reclaimed: u64,
    /// Reads of the queue that failed (Redis unreachable, the group lost),
    /// its own pending entries' included, each followed by a backoff or a
    /// repair. While Redis stays unreachable the backoff doubles from
    /// 100 ms to 5 s (with jitter), so an outage costs a few reads, not one
    /// per 100 ms.
    pub read_errors: u64,
    /// Consumers of other workers removed from the group: they held no
    /// entries and had been idle past the ack deadline (their workers died
    /// and their entries were reclaimed).
    pub consumers_removed: u64,
}

/// Reads a worker's counters from elsewhere while it runs. Cheap to clone.
#[derive(Clone)]
pub struct WorkerMonitor(Arc<Shared>);

impl fmt::Debug for WorkerMonitor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("WorkerMonitor")
            .field(&self.0.consumer)
            .finish()
    }
}

impl WorkerMonitor {
    /// What the worker did so far.
    pub fn stats(&self) -> WorkerStats {
        self.0.counters.snapshot()
    }
}

#[derive(Debug, Default)]
struct Counters {
    entries: AtomicU64,
    delivered: AtomicU64,
    retried: AtomicU64,
    dead: AtomicU64,
    reclaimed: AtomicU64,
    read_errors: AtomicU64,
    consumers_removed: AtomicU64,
}

impl Counters {
    fn snapshot(&self) -> WorkerStats {
        WorkerStats {
            entries: self.entries.load(Ordering::Relaxed),
            delivered: self.delivered.load(Ordering::Relaxed),
            retried: self.retried.load(Ordering::Relaxed),
            dead: self.dead.load(Ordering::Relaxed),
            reclaimed: self.reclaimed.load(Ordering::Relaxed),
            read_errors: self.read_errors.load(Ordering::Relaxed),
            consumers_removed: self.consumers_removed.load(Ordering::Relaxed),
        }
    }
}

/// Builds a [`Worker`].
#[must_use]
pub struct WorkerBuilder {
    config: Config,
    options: Option<RedisOptions>,
    consumer: Option<String>,
    ack_deadline: Option<Duration>,
    block: Duration,
    http: Option<HttpClient>,
}

impl fmt::Debug for WorkerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkerBuilder")
            .field("options", &self.options)
            .field("consumer", &self.consumer)
            .field("ack_deadline", &self.ack_deadline)
            .field("block", &self.block)
            .finish_non_exhaustive()
    }
}

impl WorkerBuilder {
    /// Another server or queue than the config's.
    pub fn options(mut self, options: RedisOptions) -> Self {
        self.options = Some(options);
        self
    }

    /// This worker's name in the consumer group (default
    /// `worker-<pid>-<random>`). Names must be unique among live workers.
    pub fn consumer_name(mut self, name: impl Into<String>) -> Self {
        self.consumer = Some(name.into());
        self
    }

    /// How long an entry may stay unacknowledged (and unrefreshed) before
    /// another worker reclaims it. Default: 30 s, or the event timeout plus
    /// [`ACK_MARGIN`] when that is longer.
    pub fn ack_deadline(mut self, deadline: Duration) -> Self {
        self.ack_deadline = Some(deadline);
        self
    }

    /// The longest a read blocks waiting for entries (default 1 s); also
    /// bounds how late a shutdown is noticed.
    pub fn block(mut self, block: Duration) -> Self {
        self.block = block.clamp(Duration::from_millis(10), Duration::from_secs(30));
        self
    }

    /// The HTTP client (default: a new one from the config).
    pub fn http_client(mut self, client: HttpClient) -> Self {
        self.http = Some(client);
        self
    }

    /// Checks the settings and builds; does not connect yet.
    ///
    /// The ack deadline must be at least the event timeout plus
    /// [`ACK_MARGIN`]: a live worker refreshes its entries every third of
    /// the deadline, and the margin keeps a worker that stalls for one
    /// attempt's length from losing its entries to another.
    pub fn build(self) -> Result<Worker> {
        let min_deadline = self.config.event_timeout + ACK_MARGIN;
        let ack_deadline = self
            .ack_deadline
            .unwrap_or_else(|| Duration::from_secs(30).max(min_deadline));
        if ack_deadline < min_deadline {
            return Err(Error::Setting {
                name: "ack_deadline",
                reason: format!(
                    "{ack_deadline:?} is shorter than the longest delivery attempt: THORN_EVENT_TIMEOUT ({:?}) plus {ACK_MARGIN:?}; \
                     give at least {min_deadline:?}",
                    self.config.event_timeout
                ),
            });
        }
        let http = match self.http {
            Some(h) => h,
            None => HttpClient::new(&self.config)?,
        };
        let consumer = self.consumer.unwrap_or_else(|| {
            let id = uuid::Uuid::new_v4().simple().to_string();
            format!("worker-{}-{}", std::process::id(), &id[..8])
        });
        if consumer.is_empty() {
            return Err(Error::Setting {
                name: "consumer_name",
                reason: "the consumer name is empty".into(),
            });
        }
        let options = match self.options {
            Some(options) => options,
            None => RedisOptions::from_config(&self.config)?,
        };
        let conn = options.connection(options.response_timeout)?;
        // A blocking read holds its connection: give it one of its own.
        let reader = options.connection(self.block + options.response_timeout)?;
        let concurrency = self.config.concurrency.max(1);
        let (settle_tx, settle_rx) = mpsc::unbounded_channel();
        let shutdown = ShutdownHandle::default();
        let slot_count =
            u32::try_from(concurrency * ENTRIES_PER_DELIVERY_SLOT).unwrap_or(u32::MAX >> 4);
        Ok(Worker {
            shared: Arc::new(Shared {
                keys: options.keys(),
                options,
                consumer,
                ack_deadline,
                block: self.block,
                http,
                conn,
                reader,
                slots: Arc::new(Semaphore::new(slot_count as usize)),
                slot_count,
                deliveries: Arc::new(Semaphore::new(concurrency)),
                lanes: Lanes::default(),
                in_flight: Mutex::new(HashSet::new()),
                next_due: AtomicU64::new(0),
                promote: Notify::new(),
                counters: Counters::default(),
                settle_tx,
                settle_rx: Mutex::new(Some(settle_rx)),
                stopping: shutdown.0.clone(),
                subscribers: entry::SubscriberCache::default(),
                recorder: AttemptRecorder::new(&self.config),
                config: self.config,
            }),
            shutdown,
        })
    }
}

/// Delivers what producers enqueue to one queue.
///
/// It reads through the consumer group `thorn` with blocking reads, delivers
/// each entry's deliveries through the HTTP client (sorted by URL origin so
/// that keep-alive connections are reused; at most `THORN_CONCURRENCY` in
/// flight), then settles the entry in one script: acknowledged and deleted,
/// with each failed delivery either scheduled for a retry (exponential
/// backoff with jitter, or the receiver's `Retry-After`) or moved to the
/// dead letters (retries used up, a permanent failure, 410 Gone, or any
/// failure when `THORN_RETRY=false`). Due retries return to the stream with
/// the same delivery id.
///
/// Each attempt is reported as it ends through `thorn-http`'s
/// [`AttemptRecorder`], as the `"default"` backend reports its own:
/// `Config::observers` (a failure that will be retried with
/// `Status::Retrying`), a `thorn.delivery` span with a `tracing` event, and
/// the [`Metrics`](thorn_http::Metrics) found in `Config::extensions`.
///
/// Entries left pending by a worker that died are reclaimed after the ack
/// deadline; a live worker refreshes its own. A consumer group lost to a
/// Redis restart is recreated; a lost connection is retried with backoff.
///
/// ```no_run
/// # #[tokio::main]
/// # async fn main() -> thorn_redis::Result<()> {
/// use thorn_redis::Worker;
/// let worker = Worker::builder(thorn_core::Config::from_env()?).build()?;
/// let stop = worker.shutdown_handle();
/// tokio::spawn(async move {
///     let _ = tokio::signal::ctrl_c().await;
///     stop.shutdown();
/// });
/// let stats = worker.run().await?;
/// println!("delivered {}", stats.delivered);
/// # Ok(()) }
/// ```
pub struct Worker {
    shared: Arc<Shared>,
    shutdown: ShutdownHandle,
}

impl fmt::Debug for Worker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Worker")
            .field("options", &self.shared.options)
            .field("consumer", &self.shared.consumer)
            .field("ack_deadline", &self.shared.ack_deadline)
            .finish_non_exhaustive()
    }
}

struct Shared {
    config: Config,
    options: RedisOptions,
    keys: Keys,
    consumer: String,
    ack_deadline: Duration,
    block: Duration,
    http: HttpClient,
    conn: Connection,
    reader: Connection,
    /// Entries held (read and not yet settled).
    slots: Arc<Semaphore>,
    slot_count: u32,
    /// Deliveries in flight.
    deliveries: Arc<Semaphore>,
    /// Each subscription's order of delivery.
    lanes: Lanes,
    /// Ids of the entries in flight, for the heartbeat.
    in_flight: Mutex<HashSet<String>>,
    /// When the earliest known retry is due (Unix ms; 0 when none known).
    next_due: AtomicU64,
    promote: Notify,
    counters: Counters,
    settle_tx: mpsc::UnboundedSender<SettleJob>,
    /// Cancelled when a stop is asked for.
    stopping: CancellationToken,
    /// The settler's end of `settle_tx`, taken by `run`.
    settle_rx: Mutex<Option<mpsc::UnboundedReceiver<SettleJob>>>,
    /// Subscriptions already decoded, by their stored JSON.
    subscribers: entry::SubscriberCache,
    /// Reports each attempt: observers, tracing, metrics.
    recorder: AttemptRecorder,
}

impl Shared {
    fn in_flight(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.in_flight.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Worker {
    /// Starts building a worker for the queue `config` names.
    pub fn builder(config: Config) -> WorkerBuilder {
        WorkerBuilder {
            options: None,
            config,
            consumer: None,
            ack_deadline: None,
            block: Duration::from_secs(1),
            http: None,
        }
    }

    /// A handle that stops the worker.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        self.shutdown.clone()
    }

    /// This worker's consumer name.
    pub fn consumer_name(&self) -> &str {
        &self.shared.consumer
    }

    /// The ack deadline in force.
    pub fn ack_deadline(&self) -> Duration {
        self.shared.ack_deadline
    }

    /// What the worker did so far.
    pub fn stats(&self) -> WorkerStats {
        self.shared.counters.snapshot()
    }

    /// A handle that reads the counters while [`run`](Self::run) goes on.
    pub fn monitor(&self) -> WorkerMonitor {
        WorkerMonitor(Arc::clone(&self.shared))
    }

    /// Runs until the shutdown handle is used; then finishes and settles
    /// what is in flight and returns the counters. Redis being unreachable
    /// is not an error: the worker waits (with backoff) until it is back.
    pub async fn run(self) -> Result<WorkerStats> {
        let shared = Arc::clone(&self.shared);
        let stop = self.shutdown.0.clone();
        // Background tasks outlive the read loop until in-flight work is
        // settled.
        let drained = CancellationToken::new();
        let promoter = tokio::spawn(promote_loop(Arc::clone(&shared), stop.clone()));
        let heart = tokio::spawn(heartbeat_loop(Arc::clone(&shared), drained.clone()));
        let settle_rx = shared
            .settle_rx
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        let Some(settle_rx) = settle_rx else {
            return Err(Error::Setting {
                name: "run",
                reason: "this worker already ran".into(),
            });
        };
        let settler = tokio::spawn(settle_loop(Arc::clone(&shared), settle_rx, drained.clone()));
        tracing::info!(queue = %shared.keys.queue, consumer = %shared.consumer, url = %shared.options.redacted_url(), "thorn worker started");

        let mut tasks = JoinSet::new();
        let mut outage = Outage::new("reading the queue", &[Link::Commands, Link::Reads]);
        let mut group_ready = false;
        let mut next_reclaim = Instant::now();
        // Entries Redis handed to this consumer earlier (before a restart
        // of the worker, or in a reply lost with a connection): read from
        // this cursor in the consumer's own pending list.
        let mut own_pending: Option<String> = Some(recover::START.into());
        while !stop.is_cancelled() {
            while let Some(done) = tasks.try_join_next() {
                if let Err(e) = done {
                    tracing::error!(error = %e, "an entry's task failed");
                }
            }
            if !group_ready {
                match create_group(&shared).await {
                    Ok(()) => {
                        outage.answered(Link::Commands);
                        group_ready = true;
                    }
                    Err(e) => {
                        shared.counters.read_errors.fetch_add(1, Ordering::Relaxed);
                        outage.failed(&e);
                        outage.wait(&stop).await;
                        continue;
                    }
                }
            }
            let Some(permits) = take_slots(&shared, &stop).await else {
                break;
            };
            let (link, result) = if let Some(cursor) = own_pending.take() {
                let result = match recover(&shared, permits, &mut tasks, cursor).await {
                    Ok(next) => {
                        own_pending = next;
                        Ok(())
                    }
                    // Not read again: it would fail the same way forever.
                    Err(e) if e.is_unexpected_reply() => {
                        tracing::warn!(error = %e, "reading this worker's own pending entries failed; the ack deadline will reclaim them");
                        Ok(())
                    }
                    // Like any failed read: backed off, then tried again.
                    Err(e) => Err(e),
                };
                (Link::Commands, result)
            } else if Instant::now() >= next_reclaim {
                next_reclaim = Instant::now() + shared.ack_deadline / 2;
                (Link::Commands, reclaim(&shared, permits, &mut tasks).await)
            } else {
                (Link::Reads, read(&shared, permits, &mut tasks).await)
            };
            if result.is_err() {
                // A read whose reply was lost with the connection left its
                // entries pending for this worker: look for them first.
                own_pending = Some(recover::START.into());
            }
            match result {
                Ok(()) => outage.answered(link),
                Err(e) if e.is_no_group() => {
                    // Redis answered: the group is made again at once.
                    outage.answered(link);
                    shared.counters.read_errors.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!("the consumer group is gone (Redis lost it); recreating it");
                    group_ready = false;
                }
                Err(e) => {
                    shared.counters.read_errors.fetch_add(1, Ordering::Relaxed);
                    outage.failed(&e);
                    outage.wait(&stop).await;
                }
            }
        }
        tracing::info!(
            in_flight = tasks.len(),
            "thorn worker stopping: finishing entries in flight"
        );
        while let Some(done) = tasks.join_next().await {
            if let Err(e) = done {
                tracing::error!(error = %e, "an entry's task failed");
            }
        }
        // Every entry is settled when every slot is back.
        let _all = shared.slots.acquire_many(shared.slot_count).await;
        drained.cancel();
        let _ = promoter.await;
        let _ = heart.await;
        let _ = settler.await;
        leave_group(&shared).await;
        let stats = shared.counters.snapshot();
        tracing::info!(?stats, "thorn worker stopped");
        Ok(stats)
    }
}

/// Waits for one free entry slot, then takes as many more as are free.
async fn take_slots(
    shared: &Shared,
    stop: &CancellationToken,
) -> Option<Vec<OwnedSemaphorePermit>> {
    let first = tokio::select! {
        p = Arc::clone(&shared.slots).acquire_owned() => p.ok()?,
        () = stop.cancelled() => return None,
    };
    let mut permits = vec![first];
    while permits.len() < READ_COUNT {
        match Arc::clone(&shared.slots).try_acquire_owned() {
            Ok(p) => permits.push(p),
            Err(_) => break,
        }
    }
    Some(permits)
}

async fn create_group(shared: &Shared) -> Result<()> {
    let mut conn = shared.conn.get().await?;
    let created: redis::RedisResult<()> = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(&shared.keys.stream)
        .arg(GROUP)
        .arg("0")
        .arg("MKSTREAM")
        .query_async(&mut conn)
        .await;
    match created {
        Ok(()) => Ok(()),
        Err(e) if e.code() == Some("BUSYGROUP") || e.to_string().contains("BUSYGROUP") => Ok(()),
        Err(e) => Err(shared.conn.err(e)),
    }
}

/// Removes this consumer from the group when it holds nothing pending.
async fn leave_group(shared: &Shared) {
    let Ok(mut conn) = shared.conn.get().await else {
        return;
    };
    let pending: redis::RedisResult<redis::Value> = redis::cmd("XPENDING")
        .arg(&shared.keys.stream)
        .arg(GROUP)
        .arg("-")
        .arg("+")
        .arg(1)
        .arg(&shared.consumer)
        .query_async(&mut conn)
        .await;
    if matches!(pending, Ok(redis::Value::Array(ref a)) if a.is_empty()) {
        let _: redis::RedisResult<i64> = redis::cmd("XGROUP")
            .arg("DELCONSUMER")
            .arg(&shared.keys.stream)
            .arg(GROUP)
            .arg(&shared.consumer)
            .query_async(&mut conn)
            .await;
    }
}

/// Reads new entries (`XREADGROUP` from `>`) on the reader's own
/// connection, blocking for up to the block time, and starts them.
async fn read(
    shared: &Arc<Shared>,
    permits: Vec<OwnedSemaphorePermit>,
    tasks: &mut JoinSet<()>,
) -> Result<()> {
    let mut cmd = redis::cmd("XREADGROUP");
    cmd.arg("GROUP")
        .arg(GROUP)
        .arg(&shared.consumer)
        .arg("COUNT")
        .arg(permits.len())
        .arg("BLOCK")
        .arg(shared.block.as_millis() as u64)
        .arg("STREAMS")
        .arg(&shared.keys.stream)
        .arg(">");
    let conn = &shared.reader;
    let mut c = conn.get().await?;
    let reply: redis::Value = cmd.query_async(&mut c).await.map_err(|e| conn.err(e))?;
    let entries = read_reply(reply).map_err(|detail| {
        conn.err(redis::RedisError::from((
            redis::ErrorKind::UnexpectedReturnType,
            "unexpected XREADGROUP reply",
            detail,
        )))
    })?;
    spawn_entries(shared, entries, permits, tasks);
    Ok(())
}

fn spawn_entries(
    shared: &Arc<Shared>,
    entries: impl IntoIterator<Item = RawEntry>,
    permits: Vec<OwnedSemaphorePermit>,
    tasks: &mut JoinSet<()>,
) {
    spawn_checked(shared, entries, permits, tasks, &HashMap::new());
}

/// Starts the entries; those in `poison` (handed over too often) go to the
/// dead letters undelivered.
fn spawn_checked(
    shared: &Arc<Shared>,
    entries: impl IntoIterator<Item = RawEntry>,
    permits: Vec<OwnedSemaphorePermit>,
    tasks: &mut JoinSet<()>,
    poison: &HashMap<String, usize>,
) {
    let mut permits = permits.into_iter();
    let mut batch = Vec::new();
    for entry in entries {
        let Some(permit) = permits.next() else {
            // Never more entries than asked for; were there, they stay
            // pending and are reclaimed.
            break;
        };
        let work = match entry.payload {
            Payload::Blob(blob) => {
                match entry::decode_entry_cached(&blob, &shared.subscribers) {
                    Ok((_, items)) if poison.contains_key(&entry.id) => {
                        let times = poison.get(&entry.id).copied().unwrap_or(MAX_HANDOVERS);
                        tracing::error!(entry = %entry.id, times, deliveries = items.len(),
                            "an entry was handed to workers too often without being settled; its deliveries go to the dead letters");
                        Work::Poison(items, times)
                    }
                    // Lanes are joined here, in read order.
                    Ok((batch, items)) => Work::Lanes(lanes(shared, batch, items)),
                    Err(e) => Work::Malformed(blob.to_vec(), e.to_string()),
                }
            }
            Payload::Missing => Work::Malformed(
                Vec::new(),
                format!("malformed queue entry: no `{FIELD}` field"),
            ),
            Payload::Deleted => {
                tracing::warn!(entry = %entry.id, "a pending entry was deleted from the stream (trimmed?); acknowledging it, there is nothing to deliver");
                Work::Deleted
            }
        };
        batch.push((entry.id, work, permit));
    }
    if batch.is_empty() {
        return;
    }
    shared
        .in_flight()
        .extend(batch.iter().map(|(id, _, _)| id.clone()));
    // One task per read: its entries progress together and each is handed
    // to the settler as soon as its deliveries are done.
    let shared = Arc::clone(shared);
    tasks.spawn(async move {
        let mut running: FuturesUnordered<_> = batch
            .into_iter()
            .map(|(id, work, permit)| process(&shared, id, work, permit))
            .collect();
        while running.next().await.is_some() {}
    });
}

async fn process(shared: &Arc<Shared>, id: String, work: Work, permit: OwnedSemaphorePermit) {
    let filed = match work {
        Work::Lanes(lanes) => deliver(shared, lanes).await,
        Work::Poison(items, times) => {
            let error = format!(
                "handed to workers {times} times without being settled (each time its worker died or \
                 stalled past the ack deadline); not delivered again"
            );
            shared
                .counters
                .dead
                .fetch_add(items.len() as u64, Ordering::Relaxed);
            Filed {
                retries: Vec::new(),
                dead: items
                    .iter()
                    .map(|item| DeadItem {
                        blob: entry::encode_one(&item.delivery, item.attempts),
                        error: error.clone(),
                        status: None,
                    })
                    .collect(),
            }
        }
        Work::Deleted => Filed {
            retries: Vec::new(),
            dead: Vec::new(),
        },
        Work::Malformed(blob, error) => {
            shared.counters.dead.fetch_add(1, Ordering::Relaxed);
            Filed {
                retries: Vec::new(),
                dead: vec![DeadItem {
                    blob,
                    error,
                    status: None,
                }],
            }
        }
    };
    let job = SettleJob {
        id,
        filed,
        _slot: permit,
    };
    if let Err(mpsc::error::SendError(job)) = shared.settle_tx.send(job) {
        // The settler is gone only after every slot came back; unreachable,
        // and the entry would then be reclaimed.
        shared.in_flight().remove(&job.id);
    }
}

//! The worker: reads the queue through a consumer group, delivers, and
//! settles each entry (acknowledge, retry later, or dead-letter) atomically.

use std::collections::HashSet;
use std::fmt;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use thorn_core::Config;
use thorn_http::{AttemptRecorder, HttpClient};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, mpsc};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::entry;
use crate::error::{Error, Result};
use crate::keys::Keys;
use crate::lanes::Lanes;
use crate::options::{Connection, RedisOptions};

mod background;
mod backoff;
mod builder;
mod circuits;
mod deliver;
mod group;
mod held;
mod outage;
mod pace;
mod process;
mod read;
mod reclaim;
mod recover;
mod reply;
mod settle;
mod shutdown;
mod stats;

use background::{gauges_loop, heartbeat_loop, promote_loop};
pub use builder::{ACK_MARGIN, ENTRIES_PER_DELIVERY_SLOT, WorkerBuilder};
use group::{create_group, leave_group};
use outage::{Link, Outage};
use read::read;
use reclaim::reclaim;
use recover::recover;
use settle::{SettleJob, settle_loop};
pub use shutdown::ShutdownHandle;
use stats::Counters;
pub use stats::{WorkerMonitor, WorkerStats};

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
    /// How long a stop waits for the entries in flight.
    shutdown_grace: Duration,
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
    /// The subscriptions' circuits, shared through Redis.
    circuits: circuits::SharedCircuits,
    /// Each subscription's share of the deliveries in flight (and its own
    /// cap, in this worker).
    pace: thorn_http::Pace,
    /// Deliveries held past their entry (see [`held`]): a bound, and
    /// their leases.
    held_slots: Arc<Semaphore>,
    held_count: u32,
    leases: held::Leases,
    /// The tasks of held lanes.
    held_tasks: Mutex<JoinSet<()>>,
}

impl Shared {
    fn in_flight(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.in_flight.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn held_tasks(&self) -> std::sync::MutexGuard<'_, JoinSet<()>> {
        self.held_tasks.lock().unwrap_or_else(|p| p.into_inner())
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
        let gauges = tokio::spawn(gauges_loop(Arc::clone(&shared), stop.clone()));
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
            while let Some(done) = shared.held_tasks().try_join_next() {
                if let Err(e) = done {
                    tracing::error!(error = %e, "a held lane's task failed");
                }
            }
            if !group_ready {
                match create_group(&shared).await {
                    Ok(()) => {
                        outage.answered(Link::Commands);
                        group_ready = true;
                    }
                    Err(e) => {
                        shared.counters.add(|c| &c.read_errors, 1);
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
                    shared.counters.add(|c| &c.read_errors, 1);
                    tracing::warn!("the consumer group is gone (Redis lost it); recreating it");
                    group_ready = false;
                }
                Err(e) => {
                    shared.counters.add(|c| &c.read_errors, 1);
                    outage.failed(&e);
                    outage.wait(&stop).await;
                }
            }
        }
        tracing::info!(
            in_flight = tasks.len(),
            "thorn worker stopping: finishing entries in flight"
        );
        let finished = tokio::time::timeout(shared.shutdown_grace, async {
            while let Some(done) = tasks.join_next().await {
                if let Err(e) = done {
                    tracing::error!(error = %e, "an entry's task failed");
                }
            }
            // Held lanes are started by entries' tasks only: none is
            // added once those are done.
            let mut held = std::mem::take(&mut *shared.held_tasks());
            while let Some(done) = held.join_next().await {
                if let Err(e) = done {
                    tracing::error!(error = %e, "a held lane's task failed");
                }
            }
        })
        .await;
        if finished.is_err() {
            // Their entries stay pending, unacknowledged: once the ack
            // deadline passes without this worker's heartbeat, another
            // worker reclaims and delivers them.
            let left = shared.in_flight().len();
            let held = shared.leases.len();
            tracing::warn!(entries = left, held, grace = ?shared.shutdown_grace,
                "deliveries still in flight after the shutdown grace; leaving their entries (and the held deliveries, due when this worker's heartbeat stops) to another worker");
            tasks.abort_all();
            while tasks.join_next().await.is_some() {}
            let mut held = std::mem::take(&mut *shared.held_tasks());
            held.abort_all();
            while held.join_next().await.is_some() {}
        }
        // Every entry is settled when every slot is back, and every held
        // delivery when every held slot is.
        let _all = shared.slots.acquire_many(shared.slot_count).await;
        let _held = shared.held_slots.acquire_many(shared.held_count).await;
        drained.cancel();
        let _ = promoter.await;
        let _ = heart.await;
        let _ = gauges.await;
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

//! Delivering an entry: lanes per subscription, attempts, and filing
//! failures for a retry or the dead letters. What an attempt means and who
//! hears of it (observers, tracing, metrics) is `thorn-http`'s shared path,
//! [`AttemptRecorder`](thorn_http::AttemptRecorder); filing is this
//! worker's own, as its retries are durable.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::FutureExt as _;
use futures_util::StreamExt as _;
use futures_util::stream::FuturesUnordered;
use thorn_core::breaker::Admission;
use thorn_core::{Outcome, ShownUrl, Status};
use thorn_http::circuits::signal;
use thorn_http::{Attempt, Verdict, group_by_subscription};
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;
use uuid::Uuid;

use super::backoff::now_ms;
use super::held::{self, HOLD_PARTIAL};
use super::{Shared, circuits, pace};
use crate::entry::{self, QueuedDelivery};
use crate::lanes::Turn;

pub(super) enum Work {
    Lanes(Vec<Lane>),
    /// Handed over too often (the count): dead-lettered undelivered.
    Poison(Vec<QueuedDelivery>, usize),
    Malformed(Vec<u8>, String),
    /// Deleted from the stream while pending: only acknowledged.
    Deleted,
}

/// One subscription's deliveries of an entry, in order, with its turn when
/// the entry is one of several of a batch.
pub(super) struct Lane {
    pub(super) turn: Option<Turn>,
    pub(super) items: Vec<QueuedDelivery>,
}

/// An entry's deliveries filed for a retry or the dead letters, how many
/// were delivered, and which ordered subscriptions may send their next.
#[derive(Default)]
pub(super) struct Filed {
    pub(super) retries: Vec<(u64, Vec<u8>)>,
    pub(super) dead: Vec<DeadItem>,
    pub(super) delivered: u64,
    /// Deliveries of ordered subscriptions that ended (delivered or dead):
    /// (subscription, delivery).
    pub(super) ended: Vec<(Uuid, Uuid)>,
    /// Deliveries this worker went on with past their entry (see
    /// [`super::held`]), each filed on its own.
    pub(super) released: Vec<Released>,
    /// What the attempts said of their receivers, for the breaker.
    pub(super) health: Vec<Health>,
}

/// What attempts to one subscription said of its receiver, in a row.
pub(super) struct Health {
    pub(super) sub: Arc<thorn_core::Subscriber>,
    /// Whether one succeeded: the count of failures in a row starts over.
    pub(super) reset: bool,
    /// Failures after the last success.
    pub(super) tail: u32,
    pub(super) attempts: u32,
    pub(super) failures: u32,
}

impl Health {
    pub(super) fn new(sub: &Arc<thorn_core::Subscriber>) -> Self {
        Health {
            sub: Arc::clone(sub),
            reset: false,
            tail: 0,
            attempts: 0,
            failures: 0,
        }
    }

    /// Adds one attempt's word: `true` for a receiver that answered.
    pub(super) fn add(&mut self, success: bool) {
        self.attempts += 1;
        if success {
            self.reset = true;
            self.tail = 0;
        } else {
            self.failures += 1;
            self.tail += 1;
        }
    }

    /// Adds `later`'s attempts, made after these.
    pub(super) fn then(&mut self, later: &Health) {
        if later.reset {
            self.reset = true;
            self.tail = later.tail;
        } else {
            self.tail += later.tail;
        }
        self.attempts += later.attempts;
        self.failures += later.failures;
    }
}

impl Filed {
    /// Whether settling it only acknowledges its entry.
    pub(super) fn is_clean(&self) -> bool {
        self.retries.is_empty()
            && self.dead.is_empty()
            && self.ended.is_empty()
            && self.released.is_empty()
    }

    /// How many deliveries were delivered, its released ones included.
    pub(super) fn delivered_all(&self) -> u64 {
        self.delivered + self.released.iter().map(|r| r.filed.delivered).sum::<u64>()
    }
}

/// A delivery held in the retry set under `lease` while this worker
/// delivered it past its entry, and how it ended.
pub(super) struct Released {
    pub(super) delivery: Uuid,
    pub(super) lease: Vec<u8>,
    pub(super) filed: Filed,
}

/// A delivery whose attempt ended, and where it left the delivery.
pub(super) struct Done {
    pub(super) item: QueuedDelivery,
    pub(super) attempt: Attempt,
    pub(super) status: Status,
    /// For a [`Status::Deferred`] delivery: when it may be tried (Unix
    /// ms): its circuit lets a probe through, or its rate-limit slot.
    pub(super) until: u64,
    /// For a [`Status::Deferred`] delivery: whether its slot is taken.
    pub(super) paced: bool,
    /// What its attempt said of the receiver (`None`: no attempt, a
    /// refused one, or a probe, whose outcome the worker shares itself).
    pub(super) health: Option<bool>,
}

pub(super) struct DeadItem {
    pub(super) blob: Vec<u8>,
    pub(super) error: String,
    pub(super) status: Option<u16>,
}

/// Splits an entry into one lane per subscription (entry order kept within
/// each), lanes sorted by URL origin so that deliveries to one receiver go
/// out together and reuse its keep-alive connections (see
/// [`group_by_subscription`]). Lanes of an entry that is one of several of
/// a batch wait for the same subscription's lane of the batch's earlier
/// entries.
pub(super) fn lanes(
    shared: &Shared,
    batch: Option<uuid::Uuid>,
    items: Vec<QueuedDelivery>,
) -> Vec<Lane> {
    let lane = |items: Vec<QueuedDelivery>| {
        let sub = items.first().map(|item| item.delivery.subscriber.id);
        Lane {
            turn: batch.zip(sub).map(|key| shared.lanes.join(key)),
            items,
        }
    };
    // Most entries are one send to one subscriber: the entry is the lane.
    if items.len() == 1 {
        return vec![lane(items)];
    }
    // Deliveries of separate sends: each its own lane, in no order.
    if batch == Some(crate::merge::LOOSE) {
        return items
            .into_iter()
            .map(|item| Lane {
                turn: None,
                items: vec![item],
            })
            .collect();
    }
    group_by_subscription(items, |item| &item.delivery.subscriber)
        .into_iter()
        .map(lane)
        .collect()
}

/// A lane on its way: its deliveries once it ends.
pub(super) type LaneRun = Pin<Box<dyn Future<Output = Vec<Done>> + Send>>;

/// Delivers an entry's lanes and files what they did; with the lanes held
/// past the entry, if any, to be let go on once the entry's filing is
/// handed to the settler. A lane still going
/// when the entry has waited on it for [`HOLD_PARTIAL`] after another lane
/// ended, or when `hold` fires (the read has waited for [`held::HOLD_READ`]),
/// goes on past the entry (see [`held`]): the entry is then filed with
/// what ended, and settled, without waiting for a slow receiver.
pub(super) async fn deliver(
    shared: &Arc<Shared>,
    lanes: Vec<Lane>,
    hold: &CancellationToken,
    raw: Option<&Bytes>,
) -> (Filed, Option<held::GoOn>) {
    let mut filed = Filed::default();
    // Most entries are one send to one subscriber: no task to spawn.
    let single = lanes.len() == 1;
    let mut running: FuturesUnordered<LaneRun> = lanes
        .into_iter()
        .map(|lane| start_lane(shared, lane, single))
        .collect();
    // The deliveries that ended, when the entry has several lanes.
    let mut ended: Vec<Uuid> = Vec::new();
    let mut partial: Option<Pin<Box<tokio::time::Sleep>>> = None;
    let mut may_hold = raw.is_some();
    loop {
        let stuck = tokio::select! {
            biased;
            next = running.next() => {
                let Some(done) = next else { return (filed, None) };
                for d in done {
                    if !single {
                        ended.push(d.item.delivery.id);
                    }
                    file(shared, &mut filed, d);
                }
                if running.is_empty() {
                    return (filed, None);
                }
                if partial.is_none() {
                    partial = Some(Box::pin(tokio::time::sleep(HOLD_PARTIAL)));
                }
                false
            }
            () = hold.cancelled(), if may_hold => true,
            () = async { if let Some(p) = partial.as_mut() { p.await } }, if may_hold && partial.is_some() => true,
        };
        if stuck {
            match raw.and_then(|raw| held::hold(shared, raw, &ended, &mut filed)) {
                // Goes on once the entry's settle job (with the leases) is
                // on its way: a held delivery's filing must come after it.
                Some(holding) => return (filed, Some(held::GoOn { running, holding })),
                // No room to hold more: the entry waits for its lanes.
                None => may_hold = false,
            }
        }
    }
}

/// Starts a lane: in this task when it is the entry's only one, else on a
/// task of its own (aborted if the entry's task is dropped).
fn start_lane(shared: &Arc<Shared>, lane: Lane, single: bool) -> LaneRun {
    if single {
        return Box::pin(run_lane(Arc::clone(shared), lane));
    }
    let handle = tokio::spawn(run_lane(Arc::clone(shared), lane));
    let abort = handle.abort_handle();
    Box::pin(async move {
        let _abort = AbortOnDrop(abort);
        match handle.await {
            Ok(done) => done,
            // Handled where the entry is: its deliveries are not lost.
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => {
                tracing::error!("a delivery lane was cancelled");
                Vec::new()
            }
        }
    })
}

/// Aborts a lane's task when what waits for it is dropped.
struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Delivers a lane's deliveries one after another, after its turn, each
/// attempt reported as it ends. Before its attempt a delivery passes its
/// subscription's circuit, rate limit, share of this worker and cap of
/// deliveries in flight ([`pace`]); one that must wait for them is
/// deferred to the retry set without an attempt.
pub(super) async fn run_lane(shared: Arc<Shared>, mut lane: Lane) -> Vec<Done> {
    if let Some(turn) = lane.turn.as_mut() {
        turn.wait().await;
    }
    let policy = shared.config.retry;
    let mut done = Vec::with_capacity(lane.items.len());
    for item in lane.items {
        let sub = item.delivery.subscriber.id;
        let admission = circuits::admit(&shared, sub).await;
        if let Admission::Defer { until } = admission {
            let mut outcome = Outcome::new(&item.delivery, Status::Deferred);
            if shared.circuits.is_pause(sub) {
                shared.recorder.defer_paused(&mut outcome, until);
            } else {
                shared.recorder.defer(&mut outcome, until);
            }
            let paced = item.paced;
            done.push(deferred(item, until, paced));
            continue;
        }
        if let Some(slot) = pace::slot(&shared, &item).await {
            done.push(deferred(item, slot, true));
            continue;
        }
        let _share = shared.pace.in_flight(&item.delivery.subscriber).await;
        let flight = match pace::Flight::enter(&shared, &item).await {
            Ok(flight) => flight,
            Err(until) => {
                let paced = item.paced;
                done.push(deferred(item, until, paced));
                continue;
            }
        };
        // The count comes from Redis: it may be anything.
        let n = item.attempts.saturating_add(1);
        let span = shared.recorder.span(&item.delivery);
        let attempt = async {
            let attempt = match shared.deliveries.acquire().await {
                Ok(_permit) => shared.http.attempt(&item.delivery, n).await,
                Err(_) => unreachable_attempt(),
            };
            let status = shared.recorder.record_detached(
                &item.delivery,
                &attempt,
                n,
                policy.should_retry(n),
            );
            (attempt, status)
        };
        // A delivery whose attempt panics goes to the dead letters with
        // the reason; the lane and the entry's other deliveries go on.
        let (attempt, status) = match AssertUnwindSafe(attempt.instrument(span))
            .catch_unwind()
            .await
        {
            Ok(ended) => ended,
            Err(panic) => {
                let reason = panic_message(panic.as_ref());
                tracing::error!(delivery = %item.delivery.id, %reason, "delivering a delivery panicked; it goes to the dead letters");
                (panicked_attempt(&reason), Status::Failed)
            }
        };
        flight.leave(&shared).await;
        let probe = admission == Admission::Probe;
        if let Some(transition) = circuits::record(&shared, sub, probe, &attempt).await {
            shared.recorder.circuit(
                &item.delivery.subscriber,
                transition,
                shared.circuits.open_count(),
            );
        }
        if attempt.status == Some(429) {
            if let Some(wait) = attempt.retry_after {
                circuits::pause(&shared, sub, wait).await;
            }
        }
        let health = if probe { None } else { signal(&attempt) };
        done.push(Done {
            item,
            attempt,
            status,
            until: 0,
            paced: false,
            health,
        });
    }
    if let Some(turn) = lane.turn {
        shared.lanes.leave(turn);
    }
    done
}

/// A delivery not attempted: it waits in the retry set until `until`.
fn deferred(item: QueuedDelivery, until: u64, paced: bool) -> Done {
    Done {
        item,
        attempt: unreachable_attempt(),
        status: Status::Deferred,
        until,
        paced,
        health: None,
    }
}

/// Files a delivery by where its attempt left it: delivered, a retry, or
/// the dead letters.
pub(super) fn file(shared: &Shared, filed: &mut Filed, done: Done) {
    let Done {
        item,
        attempt,
        status,
        until,
        paced,
        health,
    } = done;
    let n = item.attempts.saturating_add(1);
    let sub = &item.delivery.subscriber;
    if let Some(success) = health {
        match filed.health.last_mut() {
            Some(last) if last.sub.id == sub.id => last.add(success),
            _ => {
                let mut h = Health::new(sub);
                h.add(success);
                filed.health.push(h);
            }
        }
    }
    if sub.ordered && !matches!(status, Status::Deferred | Status::Retrying) {
        filed.ended.push((sub.id, item.delivery.id));
    }
    match status {
        Status::Deferred => {
            // No attempt was made: none is counted.
            filed.retries.push((
                until,
                entry::encode_with(&item.delivery, item.attempts, paced),
            ));
            shared.counters.add(|c| &c.deferred, 1);
        }
        Status::Delivered => {
            filed.delivered += 1;
            shared.counters.add(|c| &c.delivered, 1);
        }
        Status::Retrying => {
            let delay = shared.config.retry.delay(n, attempt.retry_after);
            let due = now_ms().saturating_add(delay.as_millis() as u64);
            filed
                .retries
                .push((due, entry::encode_one(&item.delivery, n)));
            shared.counters.add(|c| &c.retried, 1);
        }
        _ => {
            let error = last_error(&attempt);
            tracing::warn!(delivery = %item.delivery.id, url = %ShownUrl(&item.delivery.subscriber.url), attempts = n,
                error = %error, "delivery moved to the dead letters");
            filed.dead.push(DeadItem {
                blob: entry::encode_one(&item.delivery, n),
                error,
                status: attempt.status,
            });
            shared.counters.add(|c| &c.dead, 1);
        }
    }
}

pub(super) fn unreachable_attempt() -> Attempt {
    // The semaphore is never closed; should it be, the delivery is retried.
    Attempt {
        verdict: Verdict::Retryable,
        status: None,
        retry_after: None,
        timed_out: false,
        refused: false,
        duration: Duration::ZERO,
        error: Some("worker is shutting down".into()),
    }
}

/// What a panic carried, as text.
pub(super) fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    let text = panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)");
    format!("delivering it panicked: {text}")
}

/// The attempt of a delivery whose attempt panicked: failed for good.
fn panicked_attempt(reason: &str) -> Attempt {
    Attempt {
        verdict: Verdict::Permanent,
        status: None,
        retry_after: None,
        timed_out: false,
        refused: false,
        duration: Duration::ZERO,
        error: Some(reason.to_owned()),
    }
}

pub(super) fn last_error(a: &Attempt) -> String {
    match (&a.error, a.status) {
        (Some(e), _) => e.clone(),
        (None, Some(s)) => format!("HTTP {s}"),
        (None, None) => "failed".into(),
    }
}

//! Delivering an entry: lanes per subscription, attempts, and filing
//! failures for a retry or the dead letters. What an attempt means and who
//! hears of it (observers, tracing, metrics) is `thorn-http`'s shared path,
//! [`AttemptRecorder`](thorn_http::AttemptRecorder); filing is this
//! worker's own, as its retries are durable.

use std::sync::Arc;
use std::time::Duration;

use std::panic::AssertUnwindSafe;

use futures_util::FutureExt as _;
use thorn_core::breaker::Admission;
use thorn_core::{Outcome, ShownUrl, Status};
use thorn_http::{Attempt, Verdict, group_by_subscription};
use tokio::task::JoinSet;
use tracing::Instrument as _;

use super::backoff::now_ms;
use super::{Shared, circuits};
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

/// An entry's deliveries filed for a retry or the dead letters, and how
/// many were delivered.
#[derive(Default)]
pub(super) struct Filed {
    pub(super) retries: Vec<(u64, Vec<u8>)>,
    pub(super) dead: Vec<DeadItem>,
    pub(super) delivered: u64,
}

/// A delivery whose attempt ended, and where it left the delivery.
pub(super) struct Done {
    pub(super) item: QueuedDelivery,
    pub(super) attempt: Attempt,
    pub(super) status: Status,
    /// For a [`Status::Deferred`] delivery: when its circuit lets a probe
    /// through (Unix ms).
    pub(super) until: u64,
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
    group_by_subscription(items, |item| &item.delivery.subscriber)
        .into_iter()
        .map(lane)
        .collect()
}

pub(super) async fn deliver(shared: &Arc<Shared>, mut lanes: Vec<Lane>) -> Filed {
    let mut filed = Filed::default();
    // Most entries are one send to one subscriber: no task to spawn.
    if lanes.len() == 1 {
        if let Some(lane) = lanes.pop() {
            for done in run_lane(Arc::clone(shared), lane).await {
                file(shared, &mut filed, done);
            }
        }
        return filed;
    }
    let mut set = JoinSet::new();
    for lane in lanes {
        set.spawn(run_lane(Arc::clone(shared), lane));
    }
    while let Some(done) = set.join_next().await {
        let done = match done {
            Ok(done) => done,
            // Handled where the entry is: its deliveries are not lost.
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => {
                tracing::error!("a delivery lane was cancelled");
                continue;
            }
        };
        for done in done {
            file(shared, &mut filed, done);
        }
    }
    filed
}

/// Delivers a lane's deliveries one after another, after its turn, each
/// attempt reported as it ends.
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
            shared.recorder.defer(&mut outcome, until);
            done.push(Done {
                item,
                attempt: unreachable_attempt(),
                status: Status::Deferred,
                until,
            });
            continue;
        }
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
        let probe = admission == Admission::Probe;
        if let Some(transition) = circuits::record(&shared, sub, probe, &attempt).await {
            shared.recorder.circuit(
                &item.delivery.subscriber,
                transition,
                shared.circuits.open_count(),
            );
        }
        done.push(Done {
            item,
            attempt,
            status,
            until: 0,
        });
    }
    if let Some(turn) = lane.turn {
        shared.lanes.leave(turn);
    }
    done
}

/// Files a delivery by where its attempt left it: delivered, a retry, or
/// the dead letters.
pub(super) fn file(shared: &Shared, filed: &mut Filed, done: Done) {
    let Done {
        item,
        attempt,
        status,
        until,
    } = done;
    let n = item.attempts.saturating_add(1);
    match status {
        Status::Deferred => {
            // No attempt was made: none is counted.
            filed
                .retries
                .push((until, entry::encode_one(&item.delivery, item.attempts)));
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

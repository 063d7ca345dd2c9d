//! Delivering an entry: lanes per subscription, attempts, and filing
//! failures for a retry or the dead letters.

use super::*;

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

/// A delivery filed for a retry or the dead letters.
pub(super) struct Filed {
    pub(super) retries: Vec<(u64, Vec<u8>)>,
    pub(super) dead: Vec<DeadItem>,
}

pub(super) struct DeadItem {
    pub(super) blob: Vec<u8>,
    pub(super) error: String,
    pub(super) status: Option<u16>,
}

pub(super) fn origin(d: &QueuedDelivery) -> (&str, Option<&str>, Option<u16>) {
    let u = &d.delivery.subscriber.url;
    (u.scheme(), u.host_str(), u.port_or_known_default())
}

/// Splits an entry into one lane per subscription (entry order kept within
/// each), lanes sorted by URL origin so that deliveries to one receiver go
/// out together and reuse its keep-alive connections. Lanes of an entry
/// that is one of several of a batch wait for the same subscription's lane
/// of the batch's earlier entries.
pub(super) fn lanes(
    shared: &Shared,
    batch: Option<uuid::Uuid>,
    items: Vec<QueuedDelivery>,
) -> Vec<Lane> {
    if items.len() == 1 {
        let turn = batch.map(|b| shared.lanes.join((b, items[0].delivery.subscriber.id)));
        return vec![Lane { turn, items }];
    }
    let mut index: HashMap<uuid::Uuid, usize> = HashMap::new();
    let mut groups: Vec<Vec<QueuedDelivery>> = Vec::new();
    for item in items {
        let i = *index.entry(item.delivery.subscriber.id).or_insert_with(|| {
            groups.push(Vec::new());
            groups.len() - 1
        });
        groups[i].push(item);
    }
    groups.sort_by(|a, b| origin(&a[0]).cmp(&origin(&b[0])));
    groups
        .into_iter()
        .map(|items| Lane {
            turn: batch.map(|b| shared.lanes.join((b, items[0].delivery.subscriber.id))),
            items,
        })
        .collect()
}

pub(super) async fn deliver(shared: &Arc<Shared>, mut lanes: Vec<Lane>) -> Filed {
    let mut filed = Filed {
        retries: Vec::new(),
        dead: Vec::new(),
    };
    // Most entries are one send to one subscriber: no task to spawn.
    if lanes.len() == 1 {
        if let Some(lane) = lanes.pop() {
            for (item, attempt) in run_lane(Arc::clone(shared), lane).await {
                file(shared, &mut filed, item, &attempt);
            }
        }
        return filed;
    }
    let mut set = JoinSet::new();
    for lane in lanes {
        set.spawn(run_lane(Arc::clone(shared), lane));
    }
    while let Some(done) = set.join_next().await {
        let Ok(done) = done else {
            // A panicked lane leaves its deliveries unsettled in this entry;
            // the entry is still settled so the others are not repeated.
            tracing::error!("a delivery lane panicked");
            continue;
        };
        for (item, attempt) in done {
            file(shared, &mut filed, item, &attempt);
        }
    }
    filed
}

/// Delivers a lane's deliveries one after another, after its turn.
pub(super) async fn run_lane(
    shared: Arc<Shared>,
    mut lane: Lane,
) -> Vec<(QueuedDelivery, Attempt)> {
    if let Some(turn) = lane.turn.as_mut() {
        turn.wait().await;
    }
    let mut done = Vec::with_capacity(lane.items.len());
    for item in lane.items {
        let attempt = match shared.deliveries.acquire().await {
            Ok(_permit) => shared.http.attempt(&item.delivery, item.attempts + 1).await,
            Err(_) => unreachable_attempt(),
        };
        done.push((item, attempt));
    }
    if let Some(turn) = lane.turn {
        shared.lanes.leave(turn);
    }
    done
}

/// Reports an attempt to the observers and files a failed delivery.
pub(super) fn file(shared: &Shared, filed: &mut Filed, item: QueuedDelivery, attempt: &Attempt) {
    let policy = shared.config.retry;
    let n = item.attempts + 1;
    let status = match attempt.verdict {
        Verdict::Success => {
            shared.counters.delivered.fetch_add(1, Ordering::Relaxed);
            Status::Delivered
        }
        Verdict::Retryable if policy.should_retry(n) => {
            let delay = policy.delay(n, attempt.retry_after);
            let due = now_ms().saturating_add(delay.as_millis() as u64);
            filed
                .retries
                .push((due, entry::encode_one(&item.delivery, n)));
            shared.counters.retried.fetch_add(1, Ordering::Relaxed);
            Status::Retrying
        }
        ref verdict => {
            let error = last_error(attempt);
            tracing::warn!(delivery = %item.delivery.id, url = %item.delivery.subscriber.url, attempts = n,
                error = %error, "delivery moved to the dead letters");
            filed.dead.push(DeadItem {
                blob: entry::encode_one(&item.delivery, n),
                error,
                status: attempt.status,
            });
            shared.counters.dead.fetch_add(1, Ordering::Relaxed);
            match verdict {
                Verdict::Gone => Status::Gone,
                _ if attempt.timed_out => Status::TimedOut,
                _ => Status::Failed,
            }
        }
    };
    if shared.config.observers.is_empty() {
        return;
    }
    let mut outcome = Outcome::new(&item.delivery, status);
    outcome.attempts = n;
    outcome.http_status = attempt.status;
    outcome.duration = attempt.duration;
    outcome.error = attempt.error.clone();
    for o in &shared.config.observers {
        if status == Status::Delivered {
            o.on_success(&outcome);
        } else if attempt.timed_out {
            o.on_timeout(&outcome);
        } else {
            o.on_error(&outcome);
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

pub(super) fn last_error(a: &Attempt) -> String {
    match (&a.error, a.status) {
        (Some(e), _) => e.clone(),
        (None, Some(s)) => format!("HTTP {s}"),
        (None, None) => "failed".into(),
    }
}

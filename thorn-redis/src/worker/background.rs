//! The worker's timers: moving due retries back to the stream, the
//! heartbeat that keeps a live worker's entries, and the queue's gauges.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::Shared;
use super::backoff::now_ms;
use super::outage::{Link, Outage};
use crate::keys::GROUP;
use crate::queue::{Queue, QueueGauges};
use crate::scripts;

/// How often a worker reads the queue's numbers into its gauges.
const GAUGES_EVERY: Duration = Duration::from_secs(5);

/// Retries one promotion moves at most (then it runs again at once).
const PROMOTE_COUNT: usize = 1000;

/// Moves due retries back to the stream: when the earliest known one is
/// due, when told of a new one, and at least every read's block time (for
/// retries other workers scheduled).
pub(super) async fn promote_loop(shared: Arc<Shared>, stop: CancellationToken) {
    let mut outage = Outage::new("moving due retries", &[Link::Commands]);
    loop {
        let now = now_ms();
        let due = shared.next_due.load(Ordering::Relaxed);
        let wait = if due == 0 {
            shared.block
        } else {
            Duration::from_millis(due.saturating_sub(now)).min(shared.block)
        };
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = shared.promote.notified() => continue,
            () = stop.cancelled() => return,
        }
        let result = match shared.conn.get().await {
            Ok(mut conn) => scripts::PROMOTE
                .key(&shared.keys.delayed)
                .key(&shared.keys.stream)
                .arg(now_ms())
                .arg(PROMOTE_COUNT)
                .invoke_async::<(u64, String)>(&mut conn)
                .await
                .map_err(|e| shared.conn.err(e)),
            Err(e) => Err(e),
        };
        match result {
            Ok((moved, next)) => {
                outage.answered(Link::Commands);
                let next = next.parse::<f64>().map(|f| f as u64).unwrap_or(0);
                shared.next_due.store(next, Ordering::Relaxed);
                if moved > 0 {
                    tracing::debug!(moved, "retries due moved back to the stream");
                }
                if moved as usize >= PROMOTE_COUNT {
                    shared.next_due.store(now_ms(), Ordering::Relaxed);
                }
            }
            Err(e) => {
                outage.failed(&e);
                outage.wait(&stop).await;
            }
        }
    }
}

/// Refreshes the idle time of the entries in flight every third of the ack
/// deadline, so that no other worker reclaims them while they are worked on.
pub(super) async fn heartbeat_loop(shared: Arc<Shared>, stop: CancellationToken) {
    let every = shared.ack_deadline / 3;
    loop {
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            () = stop.cancelled() => return,
        }
        let ids: Vec<String> = shared.in_flight().iter().cloned().collect();
        let leases = shared.leases.all();
        if ids.is_empty() && leases.is_empty() {
            continue;
        }
        let result = match shared.conn.get().await {
            Ok(mut conn) => {
                let mut result = Ok(());
                if !ids.is_empty() {
                    let mut inv = scripts::HEARTBEAT.prepare_invoke();
                    inv.key(&shared.keys.stream)
                        .arg(GROUP)
                        .arg(&shared.consumer)
                        .arg(&ids);
                    result = inv.invoke_async::<i64>(&mut conn).await.map(drop);
                }
                if !leases.is_empty() && result.is_ok() {
                    // Held deliveries stay due one ack deadline ahead.
                    let due = now_ms().saturating_add(shared.ack_deadline.as_millis() as u64);
                    let mut zadd = redis::cmd("ZADD");
                    zadd.arg(&shared.keys.delayed).arg("XX");
                    for lease in &leases {
                        zadd.arg(due).arg(lease.as_slice());
                    }
                    result = zadd.query_async::<()>(&mut conn).await;
                }
                result.map_err(|e| shared.conn.err(e))
            }
            Err(e) => Err(e),
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, "refreshing entries in flight failed");
        }
    }
}

/// Sets the queue's gauges (`thorn_queue_*`) every few seconds; a failed
/// read leaves them as they were (the read loop reports outages).
pub(super) async fn gauges_loop(shared: Arc<Shared>, stop: CancellationToken) {
    let gauges = QueueGauges::new(&shared.keys.queue);
    let queue = match Queue::new(&shared.options) {
        Ok(queue) => queue,
        Err(e) => {
            tracing::warn!(error = %e, "the queue's gauges are not kept");
            return;
        }
    };
    loop {
        match queue.stats().await {
            Ok(stats) => gauges.set(&stats),
            Err(e) => tracing::debug!(error = %e, "reading the queue's numbers failed"),
        }
        tokio::select! {
            () = tokio::time::sleep(GAUGES_EVERY) => {}
            () = stop.cancelled() => return,
        }
    }
}

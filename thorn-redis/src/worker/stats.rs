//! What a worker did: its counters, and reading them while it runs.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::Notify;

use super::Shared;

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
    /// Deliveries not attempted because their subscription's circuit was
    /// open (or paused by a 429), or they must wait for their rate-limit
    /// slot or a place among their subscription's deliveries in flight:
    /// back to the delayed set, due when they may go, their attempt count
    /// unchanged.
    pub deferred: u64,
    /// Deliveries this worker went on with past their entry, so that the
    /// entry's other deliveries were settled without waiting for them (a
    /// slow or hanging receiver); each is held in the delayed set until it
    /// ends.
    pub held: u64,
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
pub struct WorkerMonitor(pub(super) Arc<Shared>);

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

    /// Waits until the counters satisfy `done`, for at most `timeout`; the
    /// counters then (those of the timeout's end when they never did).
    /// Woken by each change of a counter, so nothing polls.
    ///
    /// ```no_run
    /// # async fn run(monitor: thorn_redis::WorkerMonitor) {
    /// use std::time::Duration;
    /// let stats = monitor.wait_until(Duration::from_secs(10), |s| s.delivered >= 3).await;
    /// assert!(stats.delivered >= 3);
    /// # }
    /// ```
    pub async fn wait_until(
        &self,
        timeout: Duration,
        done: impl Fn(&WorkerStats) -> bool,
    ) -> WorkerStats {
        let counters = &self.0.counters;
        counters.watchers.fetch_add(1, Ordering::SeqCst);
        let wait = async {
            loop {
                let changed = counters.changed.notified();
                tokio::pin!(changed);
                // Registered before the counters are read: a change after
                // the read wakes it.
                changed.as_mut().enable();
                let stats = counters.snapshot();
                if done(&stats) {
                    return stats;
                }
                changed.await;
            }
        };
        let stats = tokio::time::timeout(timeout, wait).await;
        counters.watchers.fetch_sub(1, Ordering::SeqCst);
        stats.unwrap_or_else(|_| counters.snapshot())
    }
}

#[derive(Debug, Default)]
pub(super) struct Counters {
    pub(super) entries: AtomicU64,
    pub(super) delivered: AtomicU64,
    pub(super) retried: AtomicU64,
    pub(super) dead: AtomicU64,
    pub(super) deferred: AtomicU64,
    pub(super) held: AtomicU64,
    pub(super) reclaimed: AtomicU64,
    pub(super) read_errors: AtomicU64,
    pub(super) consumers_removed: AtomicU64,
    /// Tasks in [`WorkerMonitor::wait_until`]: a change wakes them only when
    /// there are some, so counting costs no lock otherwise.
    watchers: AtomicUsize,
    changed: Notify,
}

impl Counters {
    /// Adds `n` to one counter and wakes the tasks waiting for a change.
    pub(super) fn add(&self, counter: impl FnOnce(&Self) -> &AtomicU64, n: u64) {
        // SeqCst with the watchers' count: a waiter that registered after
        // this change reads the new value; one that registered before is
        // woken.
        counter(self).fetch_add(n, Ordering::SeqCst);
        if self.watchers.load(Ordering::SeqCst) > 0 {
            self.changed.notify_waiters();
        }
    }

    pub(super) fn snapshot(&self) -> WorkerStats {
        WorkerStats {
            entries: self.entries.load(Ordering::SeqCst),
            delivered: self.delivered.load(Ordering::SeqCst),
            retried: self.retried.load(Ordering::SeqCst),
            dead: self.dead.load(Ordering::SeqCst),
            deferred: self.deferred.load(Ordering::SeqCst),
            held: self.held.load(Ordering::SeqCst),
            reclaimed: self.reclaimed.load(Ordering::SeqCst),
            read_errors: self.read_errors.load(Ordering::SeqCst),
            consumers_removed: self.consumers_removed.load(Ordering::SeqCst),
        }
    }
}

//! What a worker did: its counters, and reading them while it runs.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

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
}

#[derive(Debug, Default)]
pub(super) struct Counters {
    pub(super) entries: AtomicU64,
    pub(super) delivered: AtomicU64,
    pub(super) retried: AtomicU64,
    pub(super) dead: AtomicU64,
    pub(super) reclaimed: AtomicU64,
    pub(super) read_errors: AtomicU64,
    pub(super) consumers_removed: AtomicU64,
}

impl Counters {
    pub(super) fn snapshot(&self) -> WorkerStats {
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

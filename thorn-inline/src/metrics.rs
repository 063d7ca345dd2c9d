//! Counters of the `"default"` backend.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Counters of every attempt and outcome, shared by clones. Put one in
/// [`Config::extensions`](thorn_core::Config::extensions) before building
/// the backend to read them from outside:
///
/// ```
/// use thorn_core::Config;
/// use thorn_inline::Metrics;
/// let metrics = Metrics::default();
/// let mut config = Config::default();
/// config.extensions.insert(metrics.clone());
/// let backend = thorn_inline::Inline::new(&config).unwrap();
/// assert_eq!(backend.metrics().snapshot().attempts, 0);
/// assert_eq!(metrics.snapshot(), backend.metrics().snapshot());
/// ```
#[derive(Clone, Debug, Default)]
pub struct Metrics(Arc<Counters>);

#[derive(Debug, Default)]
struct Counters {
    attempts: AtomicU64,
    retries: AtomicU64,
    delivered: AtomicU64,
    failed: AtomicU64,
    timed_out: AtomicU64,
    gone: AtomicU64,
    refused: AtomicU64,
}

/// The counters at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MetricsSnapshot {
    /// HTTP attempts made.
    pub attempts: u64,
    /// Attempts that failed and were followed by another.
    pub retries: u64,
    /// Deliveries that got a 2xx.
    pub delivered: u64,
    /// Deliveries that failed for good (not counting timed out or gone).
    pub failed: u64,
    /// Deliveries whose last attempt timed out.
    pub timed_out: u64,
    /// Deliveries answered 410 Gone.
    pub gone: u64,
    /// Attempts the recipient policy refused.
    pub refused: u64,
}

impl Metrics {
    /// The counters now.
    pub fn snapshot(&self) -> MetricsSnapshot {
        let c = &self.0;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        MetricsSnapshot {
            attempts: get(&c.attempts),
            retries: get(&c.retries),
            delivered: get(&c.delivered),
            failed: get(&c.failed),
            timed_out: get(&c.timed_out),
            gone: get(&c.gone),
            refused: get(&c.refused),
        }
    }

    pub(crate) fn attempt(&self, refused: bool) {
        self.0.attempts.fetch_add(1, Ordering::Relaxed);
        if refused {
            self.0.refused.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(crate) fn retry(&self) {
        self.0.retries.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn ended(&self, status: thorn_core::Status) {
        use thorn_core::Status;
        let counter = match status {
            Status::Delivered => &self.0.delivered,
            Status::TimedOut => &self.0.timed_out,
            Status::Gone => &self.0.gone,
            _ => &self.0.failed,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

//! Counters of delivery attempts and outcomes.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use thorn_core::Status;

/// Counters of every attempt and outcome, shared by clones; an
/// [`AttemptRecorder`](crate::AttemptRecorder) counts into one. Put one in
/// [`Config::extensions`](thorn_core::Config::extensions) before building
/// a backend to read them from outside:
///
/// ```
/// use thorn_core::Config;
/// use thorn_http::{AttemptRecorder, Metrics};
/// let metrics = Metrics::default();
/// let mut config = Config::default();
/// config.extensions.insert(metrics.clone());
/// let recorder = AttemptRecorder::new(&config);
/// assert_eq!(recorder.metrics().snapshot().attempts, 0);
/// assert_eq!(metrics.snapshot(), recorder.metrics().snapshot());
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
    /// Attempts that failed and are followed by another (in process, or
    /// filed for a durable retry).
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

    /// Counts an attempt and where it left its delivery: a retry, or the
    /// delivery's end under `status`.
    pub(crate) fn attempt(&self, refused: bool, status: Status) {
        let c = &self.0;
        c.attempts.fetch_add(1, Ordering::Relaxed);
        if refused {
            c.refused.fetch_add(1, Ordering::Relaxed);
        }
        let counter = match status {
            Status::Retrying => &c.retries,
            Status::Delivered => &c.delivered,
            Status::TimedOut => &c.timed_out,
            Status::Gone => &c.gone,
            _ => &c.failed,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

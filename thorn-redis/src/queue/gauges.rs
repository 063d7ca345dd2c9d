//! The queue's gauges, through the `metrics` facade, labelled `queue`.

use metrics::{Gauge, Key, Label, Metadata, Recorder};

use super::stats::QueueStats;

/// Entries in the stream.
pub const DEPTH: &str = "thorn_queue_depth";
/// Entries handed to a worker and not settled yet.
pub const PENDING: &str = "thorn_queue_pending";
/// Retries waiting in the retry set.
pub const DELAYED: &str = "thorn_queue_delayed";
/// Dead letters.
pub const DEAD: &str = "thorn_queue_dead";

static METADATA: Metadata<'static> =
    Metadata::new(module_path!(), metrics::Level::INFO, Some(module_path!()));

/// Handles to one queue's gauges in one recorder; a worker sets them from
/// [`QueueStats`] every few seconds.
#[derive(Clone)]
pub struct QueueGauges {
    depth: Gauge,
    pending: Gauge,
    delayed: Gauge,
    dead: Gauge,
}

impl std::fmt::Debug for QueueGauges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("QueueGauges")
    }
}

impl QueueGauges {
    /// The gauges of `queue` in the recorder installed now.
    pub fn new(queue: &str) -> Self {
        metrics::with_recorder(|recorder| Self::from_recorder(recorder, queue))
    }

    /// The gauges of `queue` in `recorder`.
    pub fn from_recorder(recorder: &(impl Recorder + ?Sized), queue: &str) -> Self {
        let gauge = |name: &'static str| {
            let key = Key::from_parts(name, vec![Label::new("queue", queue.to_owned())]);
            recorder.register_gauge(&key, &METADATA)
        };
        QueueGauges {
            depth: gauge(DEPTH),
            pending: gauge(PENDING),
            delayed: gauge(DELAYED),
            dead: gauge(DEAD),
        }
    }

    /// Sets every gauge from `stats`.
    pub fn set(&self, stats: &QueueStats) {
        self.depth.set(stats.length as f64);
        self.pending.set(stats.pending as f64);
        self.delayed.set(stats.delayed() as f64);
        self.dead.set(stats.dead as f64);
    }
}

//! A `metrics` recorder that a test owns, to assert on what Thorn counted
//! without installing anything process-wide.

use std::collections::HashMap;
use std::sync::Mutex;

use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};

/// Collects the metrics registered in its [`recorder`](Self::recorder) and
/// sums them across reads.
///
/// ```
/// use metrics::Recorder as _;
/// use thorn_testkit::metrics::MetricsProbe;
///
/// let probe = MetricsProbe::new();
/// let key = metrics::Key::from_static_name("thorn_retries_total");
/// let meta = metrics::Metadata::new("t", metrics::Level::INFO, None);
/// probe.recorder().register_counter(&key, &meta).increment(2);
/// assert_eq!(probe.counter("thorn_retries_total", &[]), 2);
/// assert_eq!(probe.counter("thorn_retries_total", &[]), 2, "a read does not reset");
/// ```
#[derive(Debug)]
pub struct MetricsProbe {
    recorder: DebuggingRecorder,
    snapshotter: Snapshotter,
    seen: Mutex<Seen>,
}

#[derive(Debug, Default)]
struct Seen {
    counters: HashMap<String, u64>,
    samples: HashMap<String, Vec<f64>>,
}

impl Default for MetricsProbe {
    fn default() -> Self {
        Self::new()
    }
}

impl MetricsProbe {
    /// An empty probe.
    pub fn new() -> Self {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        MetricsProbe {
            recorder,
            snapshotter,
            seen: Mutex::new(Seen::default()),
        }
    }

    /// The recorder to register metrics in (say, with
    /// `thorn_http::Metrics::from_recorder`).
    pub fn recorder(&self) -> &DebuggingRecorder {
        &self.recorder
    }

    /// The counter `name` with exactly `labels`, summed since the probe
    /// was made (0 if it was never registered).
    pub fn counter(&self, name: &str, labels: &[(&str, &str)]) -> u64 {
        let seen = self.read();
        seen.counters
            .get(&id(name, labels))
            .copied()
            .unwrap_or_default()
    }

    /// Every value recorded into the histogram `name` (no labels).
    pub fn histogram(&self, name: &str) -> Vec<f64> {
        let seen = self.read();
        seen.samples
            .get(&id(name, &[]))
            .cloned()
            .unwrap_or_default()
    }

    fn read(&self) -> std::sync::MutexGuard<'_, Seen> {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        for (key, _, _, value) in self.snapshotter.snapshot().into_vec() {
            let key = key.key();
            let labels: Vec<(&str, &str)> = key.labels().map(|l| (l.key(), l.value())).collect();
            let id = id(key.name(), &labels);
            match value {
                DebugValue::Counter(n) => *seen.counters.entry(id).or_default() += n,
                DebugValue::Histogram(values) => seen
                    .samples
                    .entry(id)
                    .or_default()
                    .extend(values.into_iter().map(|v| v.into_inner())),
                DebugValue::Gauge(_) => {}
            }
        }
        seen
    }
}

/// A metric's name and sorted labels as one string.
fn id(name: &str, labels: &[(&str, &str)]) -> String {
    let mut labels = labels.to_vec();
    labels.sort_unstable();
    let mut out = name.to_owned();
    for (k, v) in labels {
        out.push_str(&format!(",{k}={v}"));
    }
    out
}

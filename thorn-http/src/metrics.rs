//! Delivery metrics, through the [`metrics`] facade: whatever recorder the
//! program installs (a Prometheus exporter, StatsD, a test's own) sees
//! them, with no Thorn-specific code.
//!
//! | name | kind | labels | what |
//! |---|---|---|---|
//! | `thorn_attempts_total` | counter | `class`: `2xx` `3xx` `4xx` `5xx` `1xx`, `timeout`, `refused`, `error` | HTTP attempts, by what answered |
//! | `thorn_deliveries_total` | counter | `status`: `delivered` `failed` `timed_out` `gone` `deferred` | deliveries that ended, by how (`deferred`: not attempted, the subscription's circuit being open or its receiver having asked for a pause) |
//! | `thorn_retries_total` | counter | | attempts followed by another |
//! | `thorn_refused_total` | counter | | attempts the recipient policy refused |
//! | `thorn_dead_lettered_total` | counter | | deliveries moved to a dead-letter store |
//! | `thorn_attempt_duration_seconds` | histogram | | the time of each attempt |
//! | `thorn_delivery_latency_seconds` | histogram | | from `send` to a 2xx, retries and queueing included |
//! | `thorn_circuit_openings_total` | counter | | subscriptions' circuits opened (again after a failed probe too) |
//! | `thorn_circuits_open` | gauge | | subscriptions whose circuit is open or half-open now |
//!
//! The histograms are recorded as samples; the exporter chooses how to
//! keep them. Exported as Prometheus histograms (which, unlike summaries,
//! add up across workers), they use [`ATTEMPT_DURATION_BUCKETS`] and
//! [`DELIVERY_LATENCY_BUCKETS`]: `thorn worker --metrics-addr` gives them
//! to `metrics_exporter_prometheus::PrometheusBuilder::set_buckets_for_metric`
//! with a `Matcher::Full` of each name, and an application that serves its
//! own exporter can do the same.
//!
//! The `"redis"` worker adds its queue's gauges (see `thorn_redis`).

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use metrics::{Counter, Gauge, Histogram, Key, Label, Metadata, Recorder};
use thorn_core::Status;
use uuid::Uuid;

/// HTTP attempts, by the class of the answer (`class` label).
pub const ATTEMPTS: &str = "thorn_attempts_total";
/// Deliveries that ended, by status (`status` label).
pub const DELIVERIES: &str = "thorn_deliveries_total";
/// Attempts followed by another.
pub const RETRIES: &str = "thorn_retries_total";
/// Attempts the recipient policy refused.
pub const REFUSED: &str = "thorn_refused_total";
/// Deliveries moved to a dead-letter store.
pub const DEAD_LETTERED: &str = "thorn_dead_lettered_total";
/// The time of each attempt, in seconds.
pub const ATTEMPT_DURATION: &str = "thorn_attempt_duration_seconds";
/// From `send` to a 2xx, in seconds.
pub const DELIVERY_LATENCY: &str = "thorn_delivery_latency_seconds";

/// Circuits opened.
pub const CIRCUIT_OPENINGS: &str = "thorn_circuit_openings_total";
/// Circuits open now.
pub const CIRCUITS_OPEN: &str = "thorn_circuits_open";

/// The upper bounds (seconds) of the buckets of [`ATTEMPT_DURATION`]:
/// 5 ms to 30 s, for attempts that take milliseconds on a good day and
/// up to `THORN_EVENT_TIMEOUT` (3 s by default) on a bad one.
pub const ATTEMPT_DURATION_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];
/// The upper bounds (seconds) of the buckets of [`DELIVERY_LATENCY`]:
/// 10 ms to 4 h, for deliveries that arrive at the first attempt and for
/// those that arrive after queueing and retries minutes apart.
pub const DELIVERY_LATENCY_BUCKETS: &[f64] = &[
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0,
    14400.0,
];

/// The values of the `class` label of [`ATTEMPTS`].
pub const CLASSES: [&str; 8] = [
    "1xx", "2xx", "3xx", "4xx", "5xx", "timeout", "refused", "error",
];
/// The values of the `status` label of [`DELIVERIES`].
pub const ENDS: [&str; 5] = ["delivered", "failed", "timed_out", "gone", "deferred"];

/// Handles to Thorn's metrics in one recorder, registered once so that
/// counting on the send path is an atomic add (with the exporters that
/// work so) and never a lookup by name. Cheap to clone.
///
/// [`Metrics::default`] registers in the recorder installed when it is
/// called (install yours before building a backend); a test can count
/// into a recorder of its own with [`Metrics::from_recorder`] and hand
/// the handles to a backend through
/// [`Config::extensions`](thorn_core::Config::extensions):
///
/// ```
/// use metrics_util::debugging::DebuggingRecorder;
/// use thorn_core::Config;
/// use thorn_http::{AttemptRecorder, Metrics};
///
/// let recorder = DebuggingRecorder::new();
/// let mut config = Config::default();
/// config.extensions.insert(Metrics::from_recorder(&recorder));
/// let attempts = AttemptRecorder::new(&config);
/// # let _ = attempts;
/// ```
#[derive(Clone)]
pub struct Metrics(Arc<Handles>);

struct Handles {
    attempts: [Counter; CLASSES.len()],
    ends: [Counter; ENDS.len()],
    retries: Counter,
    refused: Counter,
    dead_lettered: Counter,
    attempt_duration: Histogram,
    latency: Histogram,
    circuit_openings: Counter,
    circuits_open: Gauge,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    /// Handles in the recorder installed now (a no-op one if none is).
    fn default() -> Self {
        metrics::with_recorder(|recorder| Self::from_recorder(recorder))
    }
}

static METADATA: Metadata<'static> =
    Metadata::new(module_path!(), metrics::Level::INFO, Some(module_path!()));

impl Metrics {
    /// Handles registered in `recorder`.
    pub fn from_recorder(recorder: &(impl Recorder + ?Sized)) -> Self {
        let counter =
            |name: &'static str| recorder.register_counter(&Key::from_static_name(name), &METADATA);
        let labelled = |name: &'static str, label: &'static str, value: &'static str| {
            let key = Key::from_parts(name, vec![Label::from_static_parts(label, value)]);
            recorder.register_counter(&key, &METADATA)
        };
        let histogram = |name: &'static str| {
            recorder.register_histogram(&Key::from_static_name(name), &METADATA)
        };
        Metrics(Arc::new(Handles {
            attempts: CLASSES.map(|class| labelled(ATTEMPTS, "class", class)),
            ends: ENDS.map(|end| labelled(DELIVERIES, "status", end)),
            retries: counter(RETRIES),
            refused: counter(REFUSED),
            dead_lettered: counter(DEAD_LETTERED),
            attempt_duration: histogram(ATTEMPT_DURATION),
            latency: histogram(DELIVERY_LATENCY),
            circuit_openings: counter(CIRCUIT_OPENINGS),
            circuits_open: recorder
                .register_gauge(&Key::from_static_name(CIRCUITS_OPEN), &METADATA),
        }))
    }

    /// Counts an attempt of the delivery `id` and where it left it: a
    /// retry, or the delivery's end under `status`.
    pub(crate) fn attempt(
        &self,
        id: Uuid,
        class: AttemptClass,
        duration: Duration,
        status: Status,
    ) {
        let h = &*self.0;
        h.attempts[class as usize].increment(1);
        if class == AttemptClass::Refused {
            h.refused.increment(1);
        }
        h.attempt_duration.record(duration.as_secs_f64());
        let end = match status {
            Status::Retrying => {
                h.retries.increment(1);
                return;
            }
            Status::Delivered => {
                if let Some(latency) = since_sent(id) {
                    h.latency.record(latency.as_secs_f64());
                }
                0
            }
            Status::TimedOut => 2,
            Status::Gone => 3,
            _ => 1,
        };
        h.ends[end].increment(1);
    }

    /// Counts a delivery that was not attempted, its circuit being open.
    pub fn deferred(&self) {
        self.0.ends[4].increment(1);
    }

    /// Counts a circuit's opening, and sets how many are open now.
    pub fn circuit_opened(&self, open_now: usize) {
        self.0.circuit_openings.increment(1);
        self.0.circuits_open.set(open_now as f64);
    }

    /// Sets how many circuits are open now (one closed).
    pub fn circuits_open(&self, open_now: usize) {
        self.0.circuits_open.set(open_now as f64);
    }

    /// Counts `n` deliveries moved to a dead-letter store.
    pub fn dead_lettered(&self, n: u64) {
        self.0.dead_lettered.increment(n);
    }
}

/// What answered an attempt: the index of its `class` label.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AttemptClass {
    Informational,
    Success,
    Redirection,
    ClientError,
    ServerError,
    Timeout,
    Refused,
    Error,
}

impl AttemptClass {
    /// The class of an answer with `status`, or of none.
    pub(crate) fn of(status: Option<u16>, timed_out: bool, refused: bool) -> Self {
        match status {
            Some(100..=199) => Self::Informational,
            Some(200..=299) => Self::Success,
            Some(300..=399) => Self::Redirection,
            Some(400..=499) => Self::ClientError,
            Some(_) => Self::ServerError,
            None if refused => Self::Refused,
            None if timed_out => Self::Timeout,
            None => Self::Error,
        }
    }
}

/// How long ago the delivery `id` was made, from the time a version 7
/// UUID (which Thorn's delivery ids are) carries.
fn since_sent(id: Uuid) -> Option<Duration> {
    let (secs, nanos) = id.get_timestamp()?.to_unix();
    let sent = UNIX_EPOCH + Duration::new(secs, nanos);
    SystemTime::now().duration_since(sent).ok()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use uuid::Uuid;

    use super::{AttemptClass, since_sent};

    #[test]
    fn classes_follow_the_status_line() {
        assert_eq!(
            AttemptClass::of(Some(204), false, false),
            AttemptClass::Success
        );
        assert_eq!(
            AttemptClass::of(Some(503), false, false),
            AttemptClass::ServerError
        );
        assert_eq!(
            AttemptClass::of(Some(410), false, false),
            AttemptClass::ClientError
        );
        assert_eq!(AttemptClass::of(None, true, false), AttemptClass::Timeout);
        assert_eq!(AttemptClass::of(None, false, true), AttemptClass::Refused);
        assert_eq!(AttemptClass::of(None, false, false), AttemptClass::Error);
    }

    #[test]
    fn buckets_grow_and_cover_the_default_timeout() {
        for buckets in [
            super::ATTEMPT_DURATION_BUCKETS,
            super::DELIVERY_LATENCY_BUCKETS,
        ] {
            assert!(buckets.windows(2).all(|w| w[0] < w[1]), "{buckets:?}");
        }
        let timeout = thorn_core::Config::default().event_timeout.as_secs_f64();
        assert!(super::ATTEMPT_DURATION_BUCKETS.iter().any(|b| *b > timeout));
    }

    #[test]
    fn latency_is_read_from_a_v7_id_only() {
        assert!(since_sent(Uuid::new_v4()).is_none());
        let elapsed = since_sent(Uuid::now_v7()).unwrap();
        assert!(elapsed < Duration::from_secs(60), "{elapsed:?}");
    }
}

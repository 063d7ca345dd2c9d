//! What an attempt means for its delivery, and who hears of it: the one
//! path every HTTP-delivering backend reports its attempts through.

use std::sync::Arc;

use thorn_core::breaker::Transition;
use thorn_core::report::{notify, notify_circuit};
use thorn_core::{AttemptEnd, Config, Delivery, Outcome, SharedObserver, Status, Subscriber};
use tracing::Span;
use uuid::Uuid;

use crate::attempt::{Attempt, Verdict};
use crate::metrics::{AttemptClass, Metrics};

/// Where a delivery stands after `attempt`. `retry_allowed` says whether
/// the backend's retry policy allows another attempt after this one; only
/// a [`Verdict::Retryable`] attempt uses it.
///
/// | verdict | retry allowed | timed out | status |
/// |---|---|---|---|
/// | `Success` | any | any | [`Status::Delivered`] |
/// | `Retryable` | yes | any | [`Status::Retrying`] |
/// | `Gone` | any | any | [`Status::Gone`] |
/// | `Retryable`, `Permanent` | no | yes | [`Status::TimedOut`] |
/// | `Retryable`, `Permanent` | no | no | [`Status::Failed`] |
///
/// (`Permanent` is never retried: for it "retry allowed" is always "no".)
pub fn status_of(attempt: &Attempt, retry_allowed: bool) -> Status {
    match attempt.verdict {
        Verdict::Success => Status::Delivered,
        Verdict::Retryable if retry_allowed => Status::Retrying,
        Verdict::Gone => Status::Gone,
        _ if attempt.timed_out => Status::TimedOut,
        _ => Status::Failed,
    }
}

/// Reports every attempt of a backend: it maps the attempt to a
/// [`Status`] ([`status_of`]), tells `Config::observers` (`on_success` for
/// a 2xx, `on_timeout` for a timed-out attempt, `on_error` otherwise, with
/// [`Status::Retrying`] when another attempt follows), emits a `tracing`
/// event (`thorn delivery attempt`, at `INFO`) inside the delivery's
/// [`span`](Self::span), and counts into [`Metrics`]. The `"default"` and
/// `"redis"` backends both report through it; a custom HTTP backend should
/// too, so that its users see the same outcomes.
///
/// Cheap to clone; clones share the observers and the metrics.
///
/// ```no_run
/// use std::time::Duration;
/// use thorn_core::{Delivery, Outcome, Status};
/// use thorn_http::{AttemptRecorder, HttpClient};
/// use tracing::Instrument as _;
///
/// /// Up to three attempts, one second apart.
/// async fn deliver(client: &HttpClient, recorder: &AttemptRecorder, delivery: &Delivery) -> Outcome {
///     let attempts = async {
///         let mut outcome = Outcome::new(delivery, Status::Retrying);
///         for n in 1..=3 {
///             let attempt = client.attempt(delivery, n).await;
///             if recorder.record(&mut outcome, &attempt, n, n < 3) != Status::Retrying {
///                 break;
///             }
///             tokio::time::sleep(Duration::from_secs(1)).await;
///         }
///         outcome
///     };
///     attempts.instrument(recorder.span(delivery)).await
/// }
/// ```
#[derive(Clone, Debug)]
pub struct AttemptRecorder {
    observers: Arc<[SharedObserver]>,
    metrics: Metrics,
}

impl AttemptRecorder {
    /// A recorder for `config`'s observers, counting into the [`Metrics`]
    /// found in `Config::extensions`, else into the `metrics` recorder
    /// installed now.
    pub fn new(config: &Config) -> Self {
        AttemptRecorder {
            observers: config.observers.iter().cloned().collect(),
            metrics: config
                .extensions
                .get::<Metrics>()
                .cloned()
                .unwrap_or_default(),
        }
    }

    /// The metrics this recorder counts into.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The `thorn.delivery` span (`INFO`) to run a delivery's attempts in,
    /// with the delivery's id, event, subscription id and URL without its
    /// query (which may carry a token). Its fields are formatted only when a
    /// subscriber takes the span.
    pub fn span(&self, delivery: &Delivery) -> Span {
        let url = thorn_core::ShownUrl(&delivery.subscriber.url);
        tracing::info_span!(
            "thorn.delivery",
            delivery = %delivery.id,
            event = %delivery.event,
            subscription = %delivery.subscriber.id,
            url = %url,
        )
    }

    /// Records attempt `n` (counting from 1) into `outcome`, the delivery's
    /// outcome so far (made with [`Outcome::new`]), and reports it. Returns
    /// the new status: [`Status::Retrying`] when the caller should attempt
    /// again.
    pub fn record(
        &self,
        outcome: &mut Outcome,
        attempt: &Attempt,
        n: u32,
        retry_allowed: bool,
    ) -> Status {
        outcome.status = status_of(attempt, retry_allowed);
        outcome.attempts = n;
        outcome.duration += attempt.duration;
        outcome.http_status = attempt.status;
        outcome.error.clone_from(&attempt.error);
        self.trace_and_count(outcome.delivery, attempt, n, outcome.status);
        let end = if attempt.is_success() {
            AttemptEnd::Success
        } else if attempt.timed_out {
            AttemptEnd::Timeout
        } else {
            AttemptEnd::Error
        };
        notify(&self.observers, outcome, end);
        outcome.status
    }

    /// Records attempt `n` of `delivery` when the caller keeps no outcome
    /// of its own (a durable queue's worker, whose earlier attempts may
    /// have been made elsewhere): the observers' outcome holds this
    /// attempt's duration, and is only made when there are observers.
    /// Returns the new status, as [`record`](Self::record) does.
    pub fn record_detached(
        &self,
        delivery: &Delivery,
        attempt: &Attempt,
        n: u32,
        retry_allowed: bool,
    ) -> Status {
        if self.observers.is_empty() {
            let status = status_of(attempt, retry_allowed);
            self.trace_and_count(delivery.id, attempt, n, status);
            return status;
        }
        let mut outcome = Outcome::new(delivery, Status::Retrying);
        self.record(&mut outcome, attempt, n, retry_allowed)
    }

    /// Makes `outcome` [`Status::Deferred`]: not attempted (again) because
    /// its subscription's circuit is open until `until` (Unix ms); tells
    /// the observers (`on_error`), `tracing` and the metrics.
    pub fn defer(&self, outcome: &mut Outcome, until: u64) {
        let at = rfc3339(until);
        outcome.error = Some(format!(
            "not attempted: the circuit of subscription {} is open (its receiver kept failing); \
             it lets a probe through at {at}",
            outcome.subscriber.id
        ));
        tracing::debug!(delivery = %outcome.delivery, subscription = %outcome.subscriber.id, until = %at,
            "thorn delivery deferred: the circuit is open");
        self.deferred(outcome);
    }

    /// Makes `outcome` [`Status::Deferred`]: not attempted (again) because
    /// its subscription's receiver asked for a pause until `until` (Unix
    /// ms), answering 429 with `Retry-After`; tells the observers
    /// (`on_error`), `tracing` and the metrics, as [`defer`](Self::defer)
    /// does. No circuit opened: nothing is said of one.
    pub fn defer_paused(&self, outcome: &mut Outcome, until: u64) {
        let at = rfc3339(until);
        outcome.error = Some(format!(
            "not attempted: the receiver of subscription {} asked for a pause (429 with \
             Retry-After); its deliveries go again from {at}",
            outcome.subscriber.id
        ));
        tracing::debug!(delivery = %outcome.delivery, subscription = %outcome.subscriber.id, until = %at,
            "thorn delivery deferred: the receiver asked for a pause");
        self.deferred(outcome);
    }

    /// Reports that `subscriber`'s receiver asked for a pause until
    /// `until` (Unix ms): a `tracing` event. A pause is not a circuit
    /// opening: no observer hears of a transition, no opening is counted.
    pub fn paused(&self, subscriber: &Subscriber, until: u64) {
        tracing::info!(subscription = %subscriber.id, url = %thorn_core::ShownUrl(&subscriber.url), until = %rfc3339(until),
            "a subscription's receiver asked for a pause (429 with Retry-After): its deliveries are deferred until then");
    }

    fn deferred(&self, outcome: &mut Outcome) {
        outcome.status = Status::Deferred;
        self.metrics.deferred();
        notify(&self.observers, outcome, AttemptEnd::Error);
    }

    /// Reports a change of `subscriber`'s circuit: observers
    /// ([`Observer::on_circuit`](thorn_core::Observer::on_circuit)), a
    /// `tracing` event, and the metrics, with `open_now` circuits open.
    pub fn circuit(&self, subscriber: &Subscriber, transition: Transition, open_now: usize) {
        match transition {
            Transition::Opened { until } => {
                let at = rfc3339(until);
                self.metrics.circuit_opened(open_now);
                tracing::warn!(subscription = %subscriber.id, url = %thorn_core::ShownUrl(&subscriber.url), until = %at,
                    "a subscription's circuit opened: its receiver keeps failing; deliveries wait for a probe");
            }
            Transition::Closed => {
                self.metrics.circuits_open(open_now);
                tracing::info!(subscription = %subscriber.id, "a subscription's circuit closed: a probe succeeded");
            }
        }
        notify_circuit(&self.observers, subscriber, transition);
    }

    fn trace_and_count(&self, id: Uuid, attempt: &Attempt, n: u32, status: Status) {
        let class = AttemptClass::of(attempt.status, attempt.timed_out, attempt.refused);
        self.metrics.attempt(id, class, attempt.duration, status);
        tracing::info!(
            attempt = n,
            status = ?status,
            http_status = attempt.status,
            duration_ms = attempt.duration.as_millis() as u64,
            error = attempt.error.as_deref(),
            "thorn delivery attempt"
        );
    }
}

/// A time in Unix ms, for people: RFC 3339 with milliseconds.
fn rfc3339(ms: u64) -> humantime::Rfc3339Timestamp {
    humantime::format_rfc3339_millis(std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms))
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use bytes::Bytes;
    use thorn_core::{Config, Delivery, EventName, Observer, Outcome, Status, Subscriber};

    use super::{AttemptRecorder, status_of};
    use crate::attempt::{Attempt, Verdict};
    use thorn_testkit::metrics::MetricsProbe;

    use crate::metrics::Metrics;

    fn attempt(verdict: Verdict, timed_out: bool) -> Attempt {
        Attempt {
            verdict,
            status: None,
            retry_after: None,
            timed_out,
            refused: false,
            duration: Duration::from_millis(10),
            error: None,
        }
    }

    #[test]
    fn every_verdict_maps_to_a_status() {
        use Status::{Delivered, Failed, Gone, Retrying, TimedOut};
        use Verdict::{Gone as G, Permanent as P, Retryable as R, Success as S};
        // (verdict, retry allowed, timed out) -> status
        let table = [
            (S, false, false, Delivered),
            (S, false, true, Delivered),
            (S, true, false, Delivered),
            (S, true, true, Delivered),
            (R, false, false, Failed),
            (R, false, true, TimedOut),
            (R, true, false, Retrying),
            (R, true, true, Retrying),
            (G, false, false, Gone),
            (G, false, true, Gone),
            (G, true, false, Gone),
            (G, true, true, Gone),
            (P, false, false, Failed),
            (P, false, true, TimedOut),
            (P, true, false, Failed),
            (P, true, true, TimedOut),
        ];
        for (verdict, allowed, timed_out, want) in table {
            let got = status_of(&attempt(verdict.clone(), timed_out), allowed);
            assert_eq!(
                got, want,
                "{verdict:?}, retry allowed {allowed}, timed out {timed_out}"
            );
        }
    }

    #[derive(Debug, Default)]
    struct Calls(Mutex<Vec<(&'static str, Status, u32, Duration)>>);

    impl Calls {
        fn push(&self, call: &'static str, o: &Outcome) {
            let mut calls = self.0.lock().unwrap_or_else(|p| p.into_inner());
            calls.push((call, o.status, o.attempts, o.duration));
        }

        fn take(&self) -> Vec<(&'static str, Status, u32, Duration)> {
            std::mem::take(&mut *self.0.lock().unwrap_or_else(|p| p.into_inner()))
        }
    }

    impl Observer for Calls {
        fn on_success(&self, o: &Outcome) {
            self.push("success", o);
        }
        fn on_error(&self, o: &Outcome) {
            self.push("error", o);
        }
        fn on_timeout(&self, o: &Outcome) {
            self.push("timeout", o);
        }
    }

    fn delivery() -> Delivery {
        Delivery {
            id: uuid::Uuid::now_v7(),
            event: EventName::new("a.b").unwrap(),
            subscriber: Arc::new(
                Subscriber::builder("a.*", "https://example.com/", "k")
                    .build()
                    .unwrap(),
            ),
            body: Bytes::from_static(b"{}"),
            timeout: None,
            standard_webhooks: false,
            hmac_signer: thorn_core::Signer::Hmac,
        }
    }

    #[test]
    fn observers_and_metrics_see_each_attempt() {
        let calls = Arc::new(Calls::default());
        let probe = MetricsProbe::new();
        let metrics = Metrics::from_recorder(probe.recorder());
        let mut config = Config::default();
        config.observers.push(calls.clone());
        config.extensions.insert(metrics.clone());
        let recorder = AttemptRecorder::new(&config);
        let ms = Duration::from_millis;

        let d = delivery();
        let mut outcome = Outcome::new(&d, Status::Retrying);
        let mut failed = attempt(Verdict::Retryable, false);
        failed.status = Some(503);
        failed.error = Some("HTTP 503".into());
        assert_eq!(
            recorder.record(&mut outcome, &failed, 1, true),
            Status::Retrying
        );
        let mut ok = attempt(Verdict::Success, false);
        ok.status = Some(200);
        assert_eq!(
            recorder.record(&mut outcome, &ok, 2, true),
            Status::Delivered
        );
        assert_eq!(
            calls.take(),
            [
                ("error", Status::Retrying, 1, ms(10)),
                ("success", Status::Delivered, 2, ms(20))
            ]
        );
        assert_eq!(
            (outcome.http_status, outcome.error),
            (Some(200), None),
            "the last attempt's"
        );

        let timed_out = attempt(Verdict::Retryable, true);
        assert_eq!(
            recorder.record_detached(&d, &timed_out, 4, true),
            Status::Retrying
        );
        assert_eq!(
            recorder.record_detached(&d, &timed_out, 5, false),
            Status::TimedOut
        );
        let mut refused = attempt(Verdict::Permanent, false);
        refused.refused = true;
        assert_eq!(
            recorder.record_detached(&d, &refused, 1, true),
            Status::Failed
        );
        assert_eq!(
            calls.take(),
            [
                ("timeout", Status::Retrying, 4, ms(10)),
                ("timeout", Status::TimedOut, 5, ms(10)),
                ("error", Status::Failed, 1, ms(10)),
            ],
            "a detached outcome holds this attempt only"
        );

        // Without observers, only the counters hear of it.
        let quiet = AttemptRecorder::new(&{
            let mut c = Config::default();
            c.extensions.insert(metrics.clone());
            c
        });
        let mut gone = attempt(Verdict::Gone, false);
        gone.status = Some(410);
        assert_eq!(quiet.record_detached(&d, &gone, 1, true), Status::Gone);
        assert!(calls.take().is_empty());

        let counter = |name, labels: &[(&str, &str)]| probe.counter(name, labels);
        assert_eq!(counter("thorn_attempts_total", &[("class", "5xx")]), 1);
        assert_eq!(counter("thorn_attempts_total", &[("class", "2xx")]), 1);
        assert_eq!(counter("thorn_attempts_total", &[("class", "timeout")]), 2);
        assert_eq!(counter("thorn_attempts_total", &[("class", "refused")]), 1);
        assert_eq!(counter("thorn_attempts_total", &[("class", "4xx")]), 1);
        assert_eq!(counter("thorn_retries_total", &[]), 2);
        assert_eq!(counter("thorn_refused_total", &[]), 1);
        for (status, n) in [
            ("delivered", 1),
            ("failed", 1),
            ("timed_out", 1),
            ("gone", 1),
        ] {
            assert_eq!(
                counter("thorn_deliveries_total", &[("status", status)]),
                n,
                "{status}"
            );
        }
        assert_eq!(probe.histogram("thorn_attempt_duration_seconds").len(), 6);
        assert_eq!(
            probe.histogram("thorn_delivery_latency_seconds").len(),
            1,
            "one delivery got a 2xx"
        );
    }

    #[test]
    fn a_pause_and_an_open_circuit_defer_with_their_own_reason() {
        let calls = Arc::new(Calls::default());
        let probe = MetricsProbe::new();
        let mut config = Config::default();
        config.observers.push(calls.clone());
        config
            .extensions
            .insert(Metrics::from_recorder(probe.recorder()));
        let recorder = AttemptRecorder::new(&config);
        let d = delivery();
        let until = 1_700_000_000_000;

        let mut paused = Outcome::new(&d, Status::Retrying);
        recorder.defer_paused(&mut paused, until);
        let error = paused.error.clone().unwrap_or_default();
        assert_eq!(paused.status, Status::Deferred);
        assert!(
            error.contains("429") && error.contains("2023-11-14T22:13:20.000Z"),
            "{error}"
        );
        assert!(!error.contains("circuit"), "{error}");

        let mut open = Outcome::new(&d, Status::Retrying);
        recorder.defer(&mut open, until);
        let error = open.error.clone().unwrap_or_default();
        assert!(
            error.contains("circuit") && error.contains("probe"),
            "{error}"
        );

        recorder.paused(&d.subscriber, until);
        assert_eq!(
            calls.take(),
            [
                ("error", Status::Deferred, 0, Duration::ZERO),
                ("error", Status::Deferred, 0, Duration::ZERO)
            ]
        );
        assert_eq!(
            probe.counter("thorn_deliveries_total", &[("status", "deferred")]),
            2
        );
        assert_eq!(probe.counter("thorn_circuit_openings_total", &[]), 0);
    }
}

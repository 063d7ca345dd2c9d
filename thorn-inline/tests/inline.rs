//! The `"default"` backend's own guarantees, against a real receiver.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use thorn_core::{
    Config, Event, Observer, Outcome, RecipientPolicy, Registry, RetryPolicy, Status, Subscriber,
    Thorn,
};
use thorn_inline::{Inline, Metrics};
use thorn_testkit::metrics::MetricsProbe;
use thorn_testkit::receiver::{MockReceiver, Reply};

fn config() -> Config {
    let mut c = Config::default();
    c.recipients = RecipientPolicy::allow_loopback_any_port();
    c.retry =
        RetryPolicy::default().with_delays(Duration::from_millis(5), Duration::from_millis(20));
    c
}

fn thorn(config: Config) -> Thorn {
    let mut registry = Registry::new();
    thorn_inline::register(&mut registry);
    Thorn::new(config, &registry).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_sends_use_a_handful_of_connections() {
    let receiver = MockReceiver::start().await.unwrap();
    let thorn = thorn(config());
    subscribe(&thorn, "load.*", receiver.url("/")).await;
    let mut tasks = Vec::new();
    for t in 0..4 {
        let thorn = thorn.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..250 {
                let r = thorn
                    .send(Event::new("load.tick", json!({"t": t, "i": i})).unwrap())
                    .await
                    .unwrap();
                assert_eq!(r.count(Status::Delivered), 1);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(receiver.len(), 1000);
    let connections = receiver.connections();
    assert!(
        (1..=8).contains(&connections),
        "{connections} connections for 1000 sends"
    );
}

#[derive(Debug, Default)]
struct Statuses(Mutex<Vec<(Status, &'static str)>>);

impl Observer for Statuses {
    fn on_success(&self, o: &Outcome) {
        self.0.lock().unwrap().push((o.status, "success"));
    }
    fn on_error(&self, o: &Outcome) {
        self.0.lock().unwrap().push((o.status, "error"));
    }
    fn on_timeout(&self, o: &Outcome) {
        self.0.lock().unwrap().push((o.status, "timeout"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn observers_and_metrics_see_every_attempt_and_retries_are_capped() {
    let receiver = MockReceiver::start().await.unwrap();
    receiver.script_path(
        "/flaky",
        [
            Reply::status(503).header("Retry-After", "3600"),
            Reply::status(200),
        ],
    );
    receiver.script_path(
        "/down",
        [
            Reply::status(500),
            Reply::status(500),
            Reply::status(500),
            Reply::status(500),
        ],
    );
    let statuses = Arc::new(Statuses::default());
    let probe = MetricsProbe::new();
    let mut c = config();
    c.observers.push(statuses.clone());
    c.extensions
        .insert(Metrics::from_recorder(probe.recorder()));
    let thorn = thorn(c);
    subscribe(&thorn, "a.*", receiver.url("/flaky")).await;
    let report = thorn
        .send(Event::new("a.b", json!({})).unwrap())
        .await
        .unwrap();
    let o = &report.outcomes[0];
    assert_eq!((o.status, o.attempts), (Status::Delivered, 2));
    assert_eq!(
        *statuses.0.lock().unwrap(),
        vec![(Status::Retrying, "error"), (Status::Delivered, "success")]
    );

    let other = thorn_core::Event::new("x.y", json!({})).unwrap().also_to(
        Subscriber::builder("x.*", receiver.url("/down"), "k")
            .build()
            .unwrap(),
    );
    let report = thorn.send(other).await.unwrap();
    let o = &report.outcomes[0];
    assert_eq!(o.status, Status::Failed, "{o:?}");
    assert_eq!(
        o.attempts,
        thorn_inline::MAX_ATTEMPTS,
        "in-process attempts are capped"
    );
    assert_eq!(receiver.requests_on("/down").len(), 3);
    assert_eq!(
        probe.counter("thorn_attempts_total", &[("class", "5xx")]),
        4
    );
    assert_eq!(
        probe.counter("thorn_attempts_total", &[("class", "2xx")]),
        1
    );
    assert_eq!(probe.counter("thorn_retries_total", &[]), 3);
    assert_eq!(
        probe.counter("thorn_deliveries_total", &[("status", "delivered")]),
        1
    );
    assert_eq!(
        probe.counter("thorn_deliveries_total", &[("status", "failed")]),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_recipient_is_reported_without_sending() {
    let receiver = MockReceiver::start().await.unwrap();
    let mut c = config();
    c.recipients = RecipientPolicy::default();
    let thorn = thorn(c);
    // Subscribing is refused at once; an extra subscriber of one send is
    // checked when it is sent to.
    let sub = Subscriber::builder("a.*", receiver.url("/"), "k")
        .build()
        .unwrap();
    assert!(thorn.subscribe(sub.clone()).await.unwrap_err().is_refused());
    let report = thorn
        .send(Event::new("a.b", json!({})).unwrap().also_to(sub))
        .await
        .unwrap();
    let o = &report.outcomes[0];
    assert_eq!(
        (o.status, o.attempts),
        (Status::Failed, 1),
        "refusals are not retried"
    );
    assert!(
        o.error
            .as_deref()
            .unwrap()
            .contains("THORN_RECIPIENT_VALIDATORS")
    );
    assert_eq!(receiver.connections(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_off_means_one_attempt() {
    let receiver = MockReceiver::start().await.unwrap();
    receiver.otherwise(Reply::status(500));
    let mut c = config();
    c.retry = RetryPolicy::never();
    let backend = Inline::new(&c).unwrap();
    assert_eq!(backend.max_attempts(), 1);
    let thorn = Thorn::builder()
        .config(c)
        .dispatcher(Arc::new(backend))
        .build()
        .unwrap();
    subscribe(&thorn, "a.*", receiver.url("/")).await;
    let report = thorn
        .send(Event::new("a.b", json!({})).unwrap())
        .await
        .unwrap();
    assert_eq!(
        (report.outcomes[0].status, report.outcomes[0].attempts),
        (Status::Failed, 1)
    );
    assert_eq!(receiver.len(), 1);
}

/// Subscribes `url` to `pattern`, with the secret `k`.
async fn subscribe(thorn: &Thorn, pattern: &str, url: impl AsRef<str>) {
    let sub = Subscriber::builder(pattern, url, "k").build().unwrap();
    thorn.subscribe(sub).await.unwrap();
}

//! The `"default"` backend's circuit breaker against a real receiver: a
//! failing subscription's circuit opens after the threshold, its
//! deliveries are then answered `Deferred` at once without an attempt
//! while the other subscriptions' go on, one probe goes through after the
//! cool-down, and its success closes the circuit.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use thorn_core::breaker::Transition;
use thorn_core::{
    Config, Event, Observer, Outcome, RecipientPolicy, Registry, RetryPolicy, Status, Subscriber,
    Thorn,
};
use thorn_inline::Metrics;
use thorn_testkit::metrics::MetricsProbe;
use thorn_testkit::receiver::{MockReceiver, Reply};

/// The circuit changes observers heard of.
#[derive(Debug, Default)]
struct Changes(Mutex<Vec<Transition>>);

impl Observer for Changes {
    fn on_circuit(&self, _subscriber: &Subscriber, transition: Transition) {
        self.0.lock().unwrap().push(transition);
    }
}

impl Changes {
    fn seen(&self) -> Vec<Transition> {
        self.0.lock().unwrap().clone()
    }
}

fn status_of(report: &thorn_core::Report, sub: &Subscriber) -> Outcome {
    report
        .outcomes
        .iter()
        .find(|o| o.subscriber.id == sub.id)
        .unwrap()
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_subscription_s_circuit_opens_defers_probes_and_closes() {
    let receiver = MockReceiver::start().await.unwrap();
    // Five failures, then the receiver is well again.
    receiver.script_path("/bad", std::iter::repeat_n(Reply::status(503), 5));
    let changes = Arc::new(Changes::default());
    let probe = MetricsProbe::new();
    let mut config = Config::default();
    config.recipients = RecipientPolicy::allow_loopback_any_port();
    config.retry =
        RetryPolicy::default().with_delays(Duration::from_millis(1), Duration::from_millis(2));
    config.set_var("THORN_BREAKER_COOL_DOWN", "200ms").unwrap();
    config.observers.push(changes.clone());
    config
        .extensions
        .insert(Metrics::from_recorder(probe.recorder()));
    let mut registry = Registry::new();
    thorn_inline::register(&mut registry);
    let thorn = Thorn::new(config, &registry).unwrap();
    let bad = Subscriber::builder("order.*", receiver.url("/bad"), "k")
        .build()
        .unwrap();
    let good = Subscriber::builder("order.*", receiver.url("/good"), "k")
        .build()
        .unwrap();
    thorn.subscribe(bad.clone()).await.unwrap();
    thorn.subscribe(good.clone()).await.unwrap();
    let send = |n: u32| {
        let thorn = thorn.clone();
        async move {
            thorn
                .send(Event::new("order.created", json!({ "n": n })).unwrap())
                .await
                .unwrap()
        }
    };

    // Three attempts, then two: the fifth failure in a row opens it, and
    // the third attempt of the second send is not made.
    let first = send(1).await;
    assert_eq!(status_of(&first, &bad).status, Status::Failed);
    let second = send(2).await;
    let deferred = status_of(&second, &bad);
    assert_eq!(deferred.status, Status::Deferred, "{deferred:?}");
    assert_eq!(deferred.attempts, 2);
    assert_eq!(receiver.requests_on("/bad").len(), 5);
    assert!(matches!(changes.seen()[..], [Transition::Opened { .. }]));

    // Open: answered at once, without an attempt; the other goes on.
    let third = send(3).await;
    let deferred = status_of(&third, &bad);
    assert_eq!(deferred.status, Status::Deferred);
    assert_eq!(deferred.attempts, 0);
    let error = deferred.error.unwrap();
    assert!(
        error.contains(&bad.id.to_string()) && error.contains("probe"),
        "{error}"
    );
    assert_eq!(status_of(&third, &good).status, Status::Delivered);
    assert_eq!(
        receiver.requests_on("/bad").len(),
        5,
        "no attempt while open"
    );
    assert_eq!(receiver.requests_on("/good").len(), 3);
    assert!(!third.is_success(), "a deferred delivery did not arrive");
    assert_eq!(
        probe.counter("thorn_deliveries_total", &[("status", "deferred")]),
        2
    );
    assert_eq!(probe.counter("thorn_circuit_openings_total", &[]), 1);

    // The cool-down is the wait under test: after it, one probe goes
    // through, succeeds and closes the circuit.
    tokio::time::sleep(Duration::from_millis(250)).await;
    let fourth = send(4).await;
    assert_eq!(status_of(&fourth, &bad).status, Status::Delivered);
    assert_eq!(receiver.requests_on("/bad").len(), 6);
    assert!(
        matches!(
            changes.seen()[..],
            [Transition::Opened { .. }, Transition::Closed]
        ),
        "{:?}",
        changes.seen()
    );
    let fifth = send(5).await;
    assert_eq!(status_of(&fifth, &bad).status, Status::Delivered);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_breaker_off_every_delivery_is_attempted() {
    let receiver = MockReceiver::start().await.unwrap();
    receiver.otherwise(Reply::status(503));
    let mut config = Config::default();
    config.recipients = RecipientPolicy::allow_loopback_any_port();
    config.retry = RetryPolicy::never();
    config.set_var("THORN_BREAKER", "false").unwrap();
    let mut registry = Registry::new();
    thorn_inline::register(&mut registry);
    let thorn = Thorn::new(config, &registry).unwrap();
    thorn
        .subscribe(
            Subscriber::builder("a.*", receiver.url("/x"), "k")
                .build()
                .unwrap(),
        )
        .await
        .unwrap();
    for n in 0..8 {
        let report = thorn
            .send(Event::new("a.b", json!({ "n": n })).unwrap())
            .await
            .unwrap();
        assert_eq!(report.outcomes[0].status, Status::Failed);
    }
    assert_eq!(receiver.len(), 8);
}

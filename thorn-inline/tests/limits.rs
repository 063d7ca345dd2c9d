//! The `"default"` backend's per-subscription limits against real
//! receivers: a rate limit spaces one subscription's requests and leaves
//! the others alone, a cap holds its requests in flight, a 429 with
//! `Retry-After` pauses its subscription only (and is no circuit opening),
//! and an ordered subscription gets concurrent sends one after another.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use thorn_core::breaker::Transition;
use thorn_core::{
    Config, Event, Observer, Outcome, RecipientPolicy, Report, RetryPolicy, Status, Subscriber,
    Thorn,
};
use thorn_inline::{Inline, Metrics};
use thorn_testkit::metrics::MetricsProbe;
use thorn_testkit::receiver::{MockReceiver, ReceivedRequest, Reply};

/// How much closer than the rate's interval two requests may arrive: the
/// first of them may have waited for a connection the second reused, and
/// clocks are read to the millisecond.
const TOLERANCE: Duration = Duration::from_millis(25);

/// How long a test waits for a request it is sure to get.
const PATIENCE: Duration = Duration::from_secs(10);

fn config() -> Config {
    let mut c = Config::default();
    c.recipients = RecipientPolicy::allow_loopback_any_port();
    c.retry =
        RetryPolicy::default().with_delays(Duration::from_millis(5), Duration::from_millis(20));
    c
}

/// A Thorn over `backend`, so that the test can look at its pace.
fn thorn(config: Config) -> (Thorn, Inline) {
    let backend = Inline::new(&config).unwrap();
    let thorn = Thorn::builder()
        .config(config)
        .dispatcher(Arc::new(backend.clone()))
        .build()
        .unwrap();
    (thorn, backend)
}

async fn subscribe(thorn: &Thorn, subscriber: &Subscriber) {
    thorn.subscribe(subscriber.clone()).await.unwrap();
}

fn event(name: &str, n: u32) -> Event {
    Event::new(name, json!({ "n": n })).unwrap()
}

/// The outcome of `sub`'s one delivery in `report`.
fn outcome_of(report: &Report, sub: &Subscriber) -> Outcome {
    let mut of_sub = report.outcomes.iter().filter(|o| o.subscriber.id == sub.id);
    let outcome = of_sub.next().expect("a delivery to the subscription");
    assert!(of_sub.next().is_none(), "one delivery to the subscription");
    outcome.clone()
}

/// The `n` of each request's body, in arrival order.
fn numbers(requests: &[ReceivedRequest]) -> Vec<u64> {
    requests
        .iter()
        .map(|r| r.json().unwrap()["n"].as_u64().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limit_spaces_its_subscription_s_requests_and_no_other_s() {
    let receiver = MockReceiver::start().await.unwrap();
    let (thorn, backend) = thorn(config());
    let limited = Subscriber::builder("tick.*", receiver.url("/limited"), "k")
        .rate_limit(5, 1)
        .build()
        .unwrap();
    let free = Subscriber::builder("tick.*", receiver.url("/free"), "k")
        .build()
        .unwrap();
    subscribe(&thorn, &limited).await;
    subscribe(&thorn, &free).await;

    // Four events in one batch: one lane each, side by side.
    let ((), flushed) = thorn
        .buffer_events(async {
            for n in 1..=4 {
                thorn.send(event("tick.tock", n)).await.unwrap();
            }
        })
        .await;
    let report = flushed.unwrap();
    assert_eq!(report.count(Status::Delivered), 8, "{report:?}");

    let spaced = receiver.requests_on("/limited");
    assert_eq!(numbers(&spaced), [1, 2, 3, 4], "in order, none lost");
    let interval = Duration::from_millis(200);
    for pair in spaced.windows(2) {
        let gap = pair[1].received_at - pair[0].received_at;
        assert!(
            gap + TOLERANCE >= interval,
            "5 a second with a burst of 1, yet two arrived {gap:?} apart"
        );
    }
    // The free lane did not queue behind the limited one: all of it was
    // in before the limited lane's last slot, 600 ms after its first.
    let requests = receiver.requests();
    let last_limited = requests.iter().rposition(|r| r.path == "/limited").unwrap();
    let free_seen: Vec<&ReceivedRequest> = requests[..last_limited]
        .iter()
        .filter(|r| r.path == "/free")
        .collect();
    assert_eq!(free_seen.len(), 4, "the free subscription was held back");
    assert_eq!(numbers(&receiver.requests_on("/free")), [1, 2, 3, 4]);
    assert_eq!(
        backend.pace().rate_limited(),
        1,
        "the pace kept nothing for the free subscription"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_in_flight_one_holds_concurrent_sends_to_one_request_at_a_time() {
    // A receiver of its own, which holds each request a while.
    let receiver = MockReceiver::start().await.unwrap();
    let hold = Duration::from_millis(100);
    receiver.otherwise(Reply::status(200).delay(hold));
    let (thorn, _) = thorn(config());
    let capped = Subscriber::builder("job.*", receiver.url("/capped"), "k")
        .max_in_flight(1)
        .build()
        .unwrap();
    subscribe(&thorn, &capped).await;

    let sends: Vec<_> = (1..=4)
        .map(|n| {
            let thorn = thorn.clone();
            tokio::spawn(async move { thorn.send(event("job.done", n)).await.unwrap() })
        })
        .collect();
    for send in sends {
        let report = send.await.unwrap();
        assert_eq!(outcome_of(&report, &capped).status, Status::Delivered);
    }

    assert_eq!(receiver.len(), 4);
    assert_eq!(
        receiver.peak_in_flight(),
        1,
        "more than one request of a subscription capped at 1 in flight"
    );
    // Each went only once the one before had been answered.
    let requests = receiver.requests();
    for pair in requests.windows(2) {
        let gap = pair[1].received_at - pair[0].received_at;
        assert!(gap + TOLERANCE >= hold, "{gap:?} apart");
    }
}

/// The circuit changes observers heard of.
#[derive(Debug, Default)]
struct Changes(Mutex<Vec<Transition>>);

impl Observer for Changes {
    fn on_circuit(&self, _subscriber: &Subscriber, transition: Transition) {
        self.0.lock().unwrap().push(transition);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_with_retry_after_pauses_its_subscription_only() {
    let receiver = MockReceiver::start().await.unwrap();
    receiver.script_path("/busy", [Reply::status(429).header("Retry-After", "2")]);
    let changes = Arc::new(Changes::default());
    let probe = MetricsProbe::new();
    let mut c = config();
    c.observers.push(changes.clone());
    c.extensions
        .insert(Metrics::from_recorder(probe.recorder()));
    let (thorn, backend) = thorn(c);
    let busy = Subscriber::builder("order.*", receiver.url("/busy"), "k")
        .build()
        .unwrap();
    let calm = Subscriber::builder("order.*", receiver.url("/calm"), "k")
        .build()
        .unwrap();
    subscribe(&thorn, &busy).await;
    subscribe(&thorn, &calm).await;

    // The 429 asks for 2 s, longer than this backend keeps a caller
    // waiting: the delivery that got it is answered at once.
    let first = thorn.send(event("order.created", 1)).await.unwrap();
    let got_429 = outcome_of(&first, &busy);
    assert_eq!(
        (got_429.status, got_429.attempts, got_429.http_status),
        (Status::Deferred, 1, Some(429)),
        "{got_429:?}"
    );
    assert_eq!(outcome_of(&first, &calm).status, Status::Delivered);
    assert_eq!(receiver.requests_on("/busy").len(), 1);

    // The next send: its delivery to the paused subscription is answered
    // at once, without a request; the other is delivered.
    let second = thorn.send(event("order.created", 2)).await.unwrap();
    let paused = outcome_of(&second, &busy);
    assert_eq!((paused.status, paused.attempts), (Status::Deferred, 0));
    let error = paused.error.unwrap();
    assert!(
        error.contains("429") && error.contains(&busy.id.to_string()),
        "{error}"
    );
    assert_eq!(outcome_of(&second, &calm).status, Status::Delivered);
    assert_eq!(
        receiver.requests_on("/busy").len(),
        1,
        "no request while paused"
    );
    assert_eq!(receiver.requests_on("/calm").len(), 2);

    // A pause, not a circuit opening.
    assert!(changes.0.lock().unwrap().is_empty());
    assert_eq!(backend.circuits().open(), 0);
    assert_eq!(probe.counter("thorn_circuit_openings_total", &[]), 0);
    assert_eq!(
        probe.counter("thorn_deliveries_total", &[("status", "deferred")]),
        2
    );

    // The pause is the wait under test: once it has passed, the
    // subscription's deliveries go again.
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    let third = thorn.send(event("order.created", 3)).await.unwrap();
    assert_eq!(outcome_of(&third, &busy).status, Status::Delivered);
    assert_eq!(numbers(&receiver.requests_on("/busy")), [1, 3]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ordered_subscription_gets_concurrent_sends_in_send_order() {
    let receiver = MockReceiver::start().await.unwrap();
    // The first attempt fails; every later one succeeds.
    receiver.script_path("/ordered", [Reply::status(500)]);
    let mut c = config();
    // Long enough a backoff that a later send would overtake the retry,
    // were it not held back.
    c.retry =
        RetryPolicy::default().with_delays(Duration::from_millis(300), Duration::from_millis(300));
    let (thorn, _) = thorn(c);
    let ordered = Subscriber::builder("doc.*", receiver.url("/ordered"), "k")
        .ordered(true)
        .build()
        .unwrap();
    subscribe(&thorn, &ordered).await;

    let send = |n: u32| {
        let thorn = thorn.clone();
        tokio::spawn(async move { thorn.send(event("doc.saved", n)).await.unwrap() })
    };
    let first = send(1);
    // The first send has its turn once its first attempt is in.
    assert_eq!(receiver.wait_for(1, PATIENCE).await, 1);
    let second = send(2);
    let (first, second) = (first.await.unwrap(), second.await.unwrap());

    let one = outcome_of(&first, &ordered);
    assert_eq!((one.status, one.attempts), (Status::Delivered, 2));
    let two = outcome_of(&second, &ordered);
    assert_eq!((two.status, two.attempts), (Status::Delivered, 1));
    // The 500, the first's retry, then the second.
    assert_eq!(numbers(&receiver.requests_on("/ordered")), [1, 1, 2]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ordered_subscription_gets_one_batch_whole_before_the_next() {
    let receiver = MockReceiver::start().await.unwrap();
    receiver.script_path("/ordered", [Reply::status(500)]);
    let mut c = config();
    c.retry =
        RetryPolicy::default().with_delays(Duration::from_millis(300), Duration::from_millis(300));
    let (thorn, _) = thorn(c);
    let ordered = Subscriber::builder("doc.*", receiver.url("/ordered"), "k")
        .ordered(true)
        .build()
        .unwrap();
    subscribe(&thorn, &ordered).await;

    // Two events to it in each of two batches.
    let flush = |first: u32| {
        let thorn = thorn.clone();
        tokio::spawn(async move {
            let inner = thorn.clone();
            let ((), flushed) = thorn
                .buffer_events(async move {
                    for n in first..first + 2 {
                        inner.send(event("doc.saved", n)).await.unwrap();
                    }
                })
                .await;
            flushed.unwrap()
        })
    };
    let first = flush(1);
    assert_eq!(receiver.wait_for(1, PATIENCE).await, 1);
    let second = flush(3);
    let (first, second) = (first.await.unwrap(), second.await.unwrap());
    assert_eq!(first.count(Status::Delivered), 2, "{first:?}");
    assert_eq!(second.count(Status::Delivered), 2, "{second:?}");
    // The first batch's retry and its second event come before any of the
    // second batch's.
    assert_eq!(numbers(&receiver.requests_on("/ordered")), [1, 1, 2, 3, 4]);
}

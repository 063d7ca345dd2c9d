//! One bad receiver costs the others nothing, against real receivers and a
//! real redis-server: a hanging subscription holds its own deliveries only
//! (the entries are settled without it, its deliveries held in the delayed
//! set), a rate limit is one pace for every worker of the queue, a 429
//! slows its own subscription, and an ordered subscription keeps its order
//! across a retry.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{RunningWorker, WAIT, grouped, queue, thorn};
use redis::AsyncCommands as _;
use thorn_core::{Event, Subscriber, Thorn};
use thorn_redis::RedisOptions;
use thorn_redis::entry;
use thorn_testkit::receiver::{MockReceiver, Reply};

async fn send(thorn: &Thorn, name: &str, n: u64) {
    thorn
        .send(Event::new(name, serde_json::json!({ "n": n })).unwrap())
        .await
        .unwrap();
}

async fn add(thorn: &Thorn, sub: thorn_core::SubscriberBuilder) -> Subscriber {
    let sub = sub.build().unwrap();
    thorn.subscribe(sub.clone()).await.unwrap();
    sub
}

/// The `n` of each request's body, in the order they arrived.
fn numbers(receiver: &MockReceiver, path: &str) -> Vec<u64> {
    receiver
        .requests_on(path)
        .iter()
        .map(|r| {
            let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
            body["data"]["n"]
                .as_u64()
                .or_else(|| body["n"].as_u64())
                .unwrap()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_subscription_holds_its_own_deliveries_and_the_entries_are_settled() {
    let (_redis, receiver, mut config, thorn, keys, mut c) = grouped().await;
    // Attempts to the hanging receiver stay in flight for the whole test.
    config.event_timeout = Duration::from_secs(60);
    config.set_var("THORN_SHUTDOWN_GRACE", "1s").unwrap();
    let hanging = MockReceiver::start().await.unwrap();
    hanging.otherwise(Reply::hang());
    let stuck = add(
        &thorn,
        Subscriber::builder("tick.*", hanging.url("/h"), "k"),
    )
    .await;
    for n in 0..5 {
        send(&thorn, "tick.one", n).await;
    }
    let worker = RunningWorker::with_config(config.clone());
    // Each entry holds one delivery to each receiver.
    let stats = worker
        .monitor
        .wait_until(WAIT, |s| s.delivered >= 5 && s.held >= 5 && s.entries >= 5)
        .await;
    assert_eq!(
        (stats.delivered, stats.held, stats.entries),
        (5, 5, 5),
        "{stats:?}"
    );
    assert_eq!(receiver.requests_on("/t").len(), 5);
    assert_eq!(hanging.wait_for(5, WAIT).await, 5, "still in flight");

    // Every entry is acknowledged and gone; the hanging deliveries are
    // held in the delayed set, due one ack deadline ahead.
    let pending: redis::streams::StreamPendingReply =
        c.xpending(&keys.stream, "thorn").await.unwrap();
    assert_eq!(pending.count(), 0, "nothing pending");
    let length: usize = c.xlen(&keys.stream).await.unwrap();
    assert_eq!(length, 0, "the entries are deleted");
    let held: Vec<(Vec<u8>, f64)> = c.zrange_withscores(&keys.delayed, 0, -1).await.unwrap();
    assert_eq!(held.len(), 5);
    let now = thorn_core::breaker::now_ms() as f64;
    for (blob, due) in &held {
        let deliveries = entry::decode(&bytes::Bytes::from(blob.clone())).unwrap();
        assert_eq!(deliveries.len(), 1);
        assert_eq!(deliveries[0].delivery.subscriber.id, stuck.id);
        assert_eq!(deliveries[0].attempts, 0, "no attempt spent");
        assert!(
            *due > now + 30_000.0,
            "due when the worker would be presumed dead"
        );
    }

    // A stop gives them up after the grace: they stay held, and come back
    // once the lease is due. Nothing is lost.
    worker.stop().await;
    let after: usize = c.zcard(&keys.delayed).await.unwrap();
    assert_eq!(after, 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limit_is_one_pace_for_every_worker() {
    let (_redis, receiver, config) = queue().await;
    let thorn = thorn(config.clone());
    // One a second, one at once: slots exactly one second apart.
    let sub = add(
        &thorn,
        Subscriber::builder("paced.*", receiver.url("/p"), "k").rate_limit(1, 1),
    )
    .await;
    let keys = RedisOptions::from_config(&config).unwrap().keys();
    let mut c = common::conn(&_redis).await;

    for n in 0..3 {
        send(&thorn, "paced.one", n).await;
    }
    let first = RunningWorker::named(config.clone(), "first");
    let a = first
        .monitor
        .wait_until(WAIT, |s| s.entries >= 3 && s.deferred >= 2)
        .await;
    first.stop().await;
    assert_eq!(
        a.deferred, 2,
        "the first goes, two wait for their slots: {a:?}"
    );

    // Another worker takes the slots after the first's: the pace is kept
    // in Redis, not in a worker.
    for n in 3..6 {
        send(&thorn, "paced.one", n).await;
    }
    let second = RunningWorker::named(config.clone(), "second");
    let b = second
        .monitor
        .wait_until(WAIT, |s| s.entries >= 3 && s.deferred >= 3)
        .await;
    assert!(
        b.deferred >= 3,
        "all three wait for slots after the first worker's: {b:?}"
    );
    let slots: Vec<(Vec<u8>, f64)> = c.zrange_withscores(&keys.delayed, 0, -1).await.unwrap();
    let mut dues: Vec<u64> = slots
        .iter()
        .filter(|(blob, _)| {
            entry::decode(&bytes::Bytes::from(blob.clone())).unwrap()[0]
                .delivery
                .subscriber
                .id
                == sub.id
        })
        .map(|(_, due)| *due as u64)
        .collect();
    dues.sort_unstable();
    assert!(dues.len() >= 2, "{dues:?}");
    for pair in dues.windows(2) {
        assert!(pair[1] - pair[0] >= 1000, "slots a second apart: {dues:?}");
    }

    // Each waits, none fails for it.
    let b = second
        .monitor
        .wait_until(WAIT, |s| s.delivered >= 6 - 1)
        .await;
    let stats = second.stop().await;
    assert_eq!(stats.retried + stats.dead, 0, "{stats:?}");
    assert!(b.delivered + 1 >= 6, "{b:?}");
    let mut got = numbers(&receiver, "/p");
    got.sort_unstable();
    assert_eq!(got, [0, 1, 2, 3, 4, 5]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_slows_its_own_subscription_only() {
    let (_redis, receiver, config) = queue().await;
    let thorn = thorn(config.clone());
    receiver.script_path("/slow", [Reply::status(429).header("Retry-After", "2")]);
    add(
        &thorn,
        Subscriber::builder("shop.*", receiver.url("/slow"), "k"),
    )
    .await;
    add(
        &thorn,
        Subscriber::builder("shop.*", receiver.url("/ok"), "k"),
    )
    .await;
    let worker = RunningWorker::with_config(config.clone());
    send(&thorn, "shop.order", 0).await;
    worker
        .monitor
        .wait_until(WAIT, |s| s.retried >= 1 && s.delivered >= 1)
        .await;
    assert_eq!(receiver.requests_on("/slow").len(), 1);

    for n in 1..4 {
        send(&thorn, "shop.order", n).await;
    }
    // The other subscription gets them at once; the throttled one's wait,
    // without an attempt.
    let stats = worker
        .monitor
        .wait_until(WAIT, |s| s.delivered >= 4 && s.deferred >= 3)
        .await;
    assert!(stats.deferred >= 3, "{stats:?}");
    let mut ok = numbers(&receiver, "/ok");
    ok.sort_unstable();
    assert_eq!(ok, [0, 1, 2, 3]);
    assert_eq!(receiver.requests_on("/slow").len(), 1, "paused");

    // After the pause, everything arrives.
    let stats = worker.monitor.wait_until(WAIT, |s| s.delivered >= 8).await;
    assert_eq!(stats.delivered, 8, "{stats:?}");
    let mut slow = numbers(&receiver, "/slow");
    slow.sort_unstable();
    assert_eq!(slow, [0, 0, 1, 2, 3]);
    worker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ordered_subscription_keeps_its_order_across_a_retry_and_two_workers() {
    let (_redis, receiver, config) = queue().await;
    let thorn = thorn(config.clone());
    // The first attempt fails; it is retried 50 ms later, and nothing
    // after it may overtake it.
    receiver.script_path("/o", [Reply::status(500)]);
    add(
        &thorn,
        Subscriber::builder("ledger.*", receiver.url("/o"), "k").ordered(true),
    )
    .await;
    add(
        &thorn,
        Subscriber::builder("ledger.*", receiver.url("/any"), "k"),
    )
    .await;
    for n in 0..6 {
        send(&thorn, "ledger.entry", n).await;
    }
    let one = RunningWorker::named(config.clone(), "one");
    let two = RunningWorker::named(config.clone(), "two");
    assert_eq!(receiver.wait_for(13, WAIT).await, 13);
    assert_eq!(numbers(&receiver, "/o"), [0, 0, 1, 2, 3, 4, 5]);
    let mut any = numbers(&receiver, "/any");
    any.sort_unstable();
    assert_eq!(any, [0, 1, 2, 3, 4, 5]);
    let a = one.stop().await;
    let b = two.stop().await;
    assert_eq!(a.retried + b.retried, 1, "{a:?} {b:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cap_in_flight_is_held_across_two_workers() {
    let (_redis, receiver, config) = queue().await;
    let thorn = thorn(config.clone());
    // Each answer takes a while, so that deliveries would overlap.
    receiver.otherwise(Reply::status(200).delay(Duration::from_millis(100)));
    add(
        &thorn,
        Subscriber::builder("capped.*", receiver.url("/c"), "k").max_in_flight(1),
    )
    .await;
    for n in 0..6 {
        send(&thorn, "capped.one", n).await;
    }
    let one = RunningWorker::named(config.clone(), "one");
    let two = RunningWorker::named(config.clone(), "two");
    assert_eq!(receiver.wait_for(6, WAIT).await, 6);
    assert_eq!(
        receiver.peak_in_flight(),
        1,
        "one at a time, across both workers"
    );
    let a = one.stop().await;
    let b = two.stop().await;
    assert_eq!(a.delivered + b.delivered, 6, "{a:?} {b:?}");
    assert_eq!(
        a.retried + b.retried + a.dead + b.dead,
        0,
        "none failed for the cap"
    );
}

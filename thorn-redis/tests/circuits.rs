//! The circuit breaker shared by a queue's workers, against a real
//! receiver and redis-server: one worker's failures open a subscription's
//! circuit in Redis; another worker then defers that subscription's
//! deliveries to the delayed set without an attempt and without spending
//! one; after the cool-down one probe goes through and its success closes
//! the circuit for all.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{RunningWorker, WAIT, grouped, subscribe};
use redis::AsyncCommands as _;
use thorn_core::Event;
use thorn_redis::entry;
use thorn_testkit::receiver::Reply;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_worker_s_failures_open_the_circuit_for_the_others_until_a_probe_succeeds() {
    let (_redis, receiver, mut config, thorn, keys, mut c) = grouped().await;
    config.set_var("THORN_RETRY", "false").unwrap();
    // Long enough that the deferred deliveries are still waiting when the
    // test looks (they come back when it ends).
    config.set_var("THORN_BREAKER_COOL_DOWN", "2s").unwrap();
    // Five failures, then the receiver is well again.
    receiver.script_path("/bad", std::iter::repeat_n(Reply::status(503), 5));
    subscribe(&thorn, "bad.*", receiver.url("/bad")).await;
    let bad = thorn
        .store()
        .all()
        .await
        .unwrap()
        .into_iter()
        .find(|s| s.url.path() == "/bad")
        .unwrap();
    let circuits = format!("thorn:{{{}}}:circuits", keys.queue);
    let send = |name: &'static str| {
        let thorn = thorn.clone();
        async move {
            thorn
                .send(Event::new(name, serde_json::json!({})).unwrap())
                .await
                .unwrap();
        }
    };

    for _ in 0..5 {
        send("bad.first").await;
    }
    let first = RunningWorker::named(config.clone(), "first");
    let stats = first.monitor.wait_until(WAIT, |s| s.dead >= 5).await;
    assert_eq!(stats.dead, 5, "{stats:?}");
    first.stop().await;
    let open: Option<String> = c.hget(&circuits, bad.id.to_string()).await.unwrap();
    assert!(
        open.is_some(),
        "the fifth failure in a row opened the circuit in Redis"
    );

    // Another worker: the circuit is open, no attempt is made, and the
    // deliveries wait in the delayed set with no attempt spent.
    for _ in 0..3 {
        send("bad.second").await;
    }
    let second = RunningWorker::named(config.clone(), "second");
    // Counted when filed, then settled: wait for both.
    let stats = second
        .monitor
        .wait_until(WAIT, |s| s.deferred >= 3 && s.entries >= 3)
        .await;
    assert_eq!(stats.deferred, 3, "{stats:?}");
    assert_eq!(
        receiver.requests_on("/bad").len(),
        5,
        "no attempt while open"
    );
    let delayed: Vec<Vec<u8>> = c.zrange(&keys.delayed, 0, -1).await.unwrap();
    let attempts: Vec<u32> = delayed
        .iter()
        .flat_map(|blob| entry::decode(&bytes::Bytes::from(blob.clone())).unwrap())
        .map(|d| d.attempts)
        .collect();
    assert_eq!(attempts.len(), 3, "deferred, waiting");
    assert!(attempts.iter().all(|&n| n == 0), "{attempts:?}");

    // After the cool-down: one probe, a 2xx, the circuit closes, and the
    // rest follow.
    let stats = second.monitor.wait_until(WAIT, |s| s.delivered >= 3).await;
    assert_eq!(stats.delivered, 3, "{stats:?}");
    assert_eq!(receiver.requests_on("/bad").len(), 8);
    let open: Option<String> = c.hget(&circuits, bad.id.to_string()).await.unwrap();
    assert_eq!(open, None, "closed for every worker");
    second.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_breaker_off_every_delivery_is_attempted() {
    let (_redis, receiver, mut config, thorn, _keys, _c) = grouped().await;
    config.set_var("THORN_RETRY", "false").unwrap();
    config.set_var("THORN_BREAKER", "false").unwrap();
    receiver.script_path("/bad", std::iter::repeat_n(Reply::status(503), 100));
    subscribe(&thorn, "bad.*", receiver.url("/bad")).await;
    let worker = RunningWorker::with_config(config.clone());
    for round in 0..3 {
        for _ in 0..4 {
            thorn
                .send(Event::new("bad.one", serde_json::json!({})).unwrap())
                .await
                .unwrap();
        }
        let stats = worker
            .monitor
            .wait_until(WAIT, |s| s.dead >= 4 * (round + 1))
            .await;
        assert_eq!(stats.dead, 4 * (round + 1), "{stats:?}");
    }
    assert_eq!(receiver.requests_on("/bad").len(), 12);
    assert_eq!(worker.stop().await.deferred, 0);
}

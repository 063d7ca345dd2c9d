//! Entries and events that could pin a worker: an attempt count at the
//! type's end, a delivery whose handling panics, a timeout without end.
//! The rest of the queue goes on; nothing is left pinned.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::{RunningWorker, WAIT, grouped, subscribe};
use redis::AsyncCommands as _;
use thorn_core::{Delivery, Event, EventName, Observer, Outcome, Signer, Subscriber};
use thorn_redis::entry::encode_one;
use thorn_redis::keys::FIELD;
use thorn_redis::{DeadLetters, RedisOptions};
use thorn_testkit::receiver::Reply;

/// Runs a worker until it delivered four deliveries and dead-lettered one,
/// and says it did exactly that.
async fn four_delivered_and_one_dead(config: &thorn_core::Config) -> RunningWorker {
    let worker = RunningWorker::with_config(config.clone());
    let stats = worker
        .monitor
        .wait_until(WAIT, |s| s.delivered >= 4 && s.dead >= 1)
        .await;
    assert_eq!((stats.delivered, stats.dead), (4, 1), "{stats:?}");
    worker
}

/// How many entries of `stream` are pending in the group.
async fn pending(c: &mut redis::aio::MultiplexedConnection, stream: &str) -> usize {
    let reply: redis::streams::StreamPendingReply = c.xpending(stream, "thorn").await.unwrap();
    reply.count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attempt_count_at_its_end_is_tried_once_and_dead_lettered() {
    let (_redis, receiver, config, thorn, keys, mut c) = grouped().await;
    receiver.script_path("/poison", [Reply::status(500)]);
    let url = receiver.url("/poison");
    let delivery = Delivery {
        id: uuid::Uuid::new_v4(),
        event: EventName::new("tick.poison").unwrap(),
        subscriber: Arc::new(Subscriber::builder("tick.*", &url, "k").build().unwrap()),
        body: Bytes::from_static(b"{}"),
        timeout: None,
        standard_webhooks: false,
        hmac_signer: Signer::Hmac,
    };
    // Good entries around one whose attempt count is u32::MAX.
    for i in 0..2 {
        thorn
            .send(Event::new(format!("tick.good{i}"), serde_json::json!({})).unwrap())
            .await
            .unwrap();
    }
    let blob = encode_one(&delivery, u32::MAX);
    let _: String = c.xadd(&keys.stream, "*", &[(FIELD, blob)]).await.unwrap();
    for i in 2..4 {
        thorn
            .send(Event::new(format!("tick.good{i}"), serde_json::json!({})).unwrap())
            .await
            .unwrap();
    }

    let worker = four_delivered_and_one_dead(&config).await;
    assert_eq!(receiver.requests_on("/t").len(), 4);
    assert_eq!(
        receiver.requests_on("/poison").len(),
        1,
        "tried once, no retry left"
    );
    worker.stop().await;
    assert_eq!(pending(&mut c, &keys.stream).await, 0, "nothing is pinned");
    let dead = DeadLetters::new(RedisOptions::from_config(&config).unwrap()).unwrap();
    let letters = dead.list(10).await.unwrap();
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].attempts, u32::MAX);
    assert_eq!(letters[0].http_status, Some(500));
}

/// Panics in the observer of one event, as user code may.
#[derive(Debug)]
struct PanicsOn(&'static str);

impl Observer for PanicsOn {
    fn on_success(&self, outcome: &Outcome) {
        if outcome.event.as_str() == self.0 {
            panic!("the observer of {} failed", self.0);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_whose_handling_panics_is_dead_lettered_and_the_others_go_on() {
    let (_redis, receiver, mut config, thorn, keys, mut c) = grouped().await;
    for name in ["tick.a", "tick.boom", "tick.b", "tick.c", "tick.d"] {
        thorn
            .send(Event::new(name, serde_json::json!({})).unwrap())
            .await
            .unwrap();
    }
    config.observers.push(Arc::new(PanicsOn("tick.boom")));
    let worker = four_delivered_and_one_dead(&config).await;
    worker.stop().await;
    assert_eq!(pending(&mut c, &keys.stream).await, 0, "nothing is pinned");
    let dead = DeadLetters::new(RedisOptions::from_config(&config).unwrap()).unwrap();
    let letters = dead.list(10).await.unwrap();
    assert_eq!(letters.len(), 1, "{letters:?}");
    assert!(
        letters[0]
            .error
            .contains("panicked: the observer of tick.boom failed"),
        "{}",
        letters[0].error
    );
    assert_eq!(
        letters[0]
            .delivery
            .as_ref()
            .map(|d| d.event.as_str().to_owned()),
        Some("tick.boom".to_owned())
    );
    assert_eq!(
        receiver.requests_on("/t").len(),
        5,
        "every delivery was attempted once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_gives_up_on_an_endless_attempt_after_the_grace_and_leaves_its_entry() {
    let (_redis, receiver, mut config, thorn, keys, mut c) = grouped().await;
    config.set_var("THORN_SHUTDOWN_GRACE", "200ms").unwrap();
    receiver.script_path("/hang", [Reply::hang()]);
    subscribe(&thorn, "slow.*", receiver.url("/hang")).await;
    let event = Event::new("slow.one", serde_json::json!({}))
        .unwrap()
        .timeout(Duration::MAX);
    assert_eq!(
        event.timeout_value(),
        Some(Duration::from_secs(86_400)),
        "clamped to 24 h"
    );
    thorn.send(event).await.unwrap();
    let worker = RunningWorker::with_config(config.clone());
    assert_eq!(receiver.wait_for(1, WAIT).await, 1, "the attempt started");
    // Stops within the test's bound (20 s), though the attempt would
    // wait a day.
    worker.stop().await;
    assert_eq!(
        pending(&mut c, &keys.stream).await,
        1,
        "left to another worker"
    );
}

/// The settle script as the worker runs it.
fn settle_script() -> redis::Script {
    redis::Script::new(concat!(
        include_str!("../src/scripts/guard.lua"),
        include_str!("../src/scripts/settle.lua")
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_settle_that_cannot_file_its_dead_letter_writes_nothing() {
    let (_redis, _receiver, _config, thorn, keys, mut c) = grouped().await;
    thorn
        .send(Event::new("tick.one", serde_json::json!({})).unwrap())
        .await
        .unwrap();
    common::hand_new_entries_to(&mut c, &keys.stream, "w1").await;
    let ids = common::stream_ids(&mut c, &keys.stream).await;
    assert_eq!(ids.len(), 1);
    // The dead-letter key holds another type.
    let _: () = c.set(&keys.dead, "not a stream").await.unwrap();
    let script = settle_script();
    let settle = |c: &mut redis::aio::MultiplexedConnection| {
        let mut inv = script.prepare_invoke();
        inv.key(&keys.stream)
            .key(&keys.delayed)
            .key(&keys.dead)
            .key(&keys.stats)
            .key(&keys.circuits)
            .key(&keys.health)
            .arg("thorn")
            .arg(0)
            .arg(keys.prefix.as_str())
            // Now, and the breaker's policy.
            .arg(1_700_000_000_000u64)
            .arg(5)
            .arg(60_000)
            .arg(20)
            .arg(30_000)
            // No clean entry; one filing: the entry, no retry, one dead
            // letter, no ordered delivery ended.
            .arg(0)
            .arg(1)
            .arg(&ids[0])
            .arg(0)
            .arg(1)
            .arg(0)
            .arg(b"blob".as_slice())
            .arg("HTTP 404")
            .arg("404")
            .arg(1_700_000_000_000u64)
            // No held delivery, no word on a receiver's health.
            .arg(0)
            .arg(0);
        let mut c = c.clone();
        async move { inv.invoke_async::<(u64, Vec<String>)>(&mut c).await }
    };
    let failed = settle(&mut c).await.unwrap_err();
    assert!(
        failed.to_string().contains("holds a string, not a stream"),
        "{failed}"
    );
    assert_eq!(pending(&mut c, &keys.stream).await, 1, "still pending");
    assert_eq!(
        common::stream_ids(&mut c, &keys.stream).await,
        ids,
        "not deleted"
    );

    // Once the key is right, the same call settles it.
    let _: () = c.del(&keys.dead).await.unwrap();
    assert_eq!(settle(&mut c).await.unwrap(), (1, Vec::new()));
    assert_eq!(pending(&mut c, &keys.stream).await, 0);
    let dead: usize = c.xlen(&keys.dead).await.unwrap();
    assert_eq!(dead, 1);
}

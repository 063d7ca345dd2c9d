//! Crash recovery with the real `thorn worker` binary: a worker killed with
//! SIGKILL mid-run, and another that reclaims what it left pending.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../thorn-redis/tests/common/mod.rs"]
mod common;

use std::collections::{HashMap, HashSet};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{config, redis, thorn};
use serde_json::json;
use thorn_core::{Event, Subscriber};
use thorn_testkit::receiver::{MockReceiver, Reply};
use thorn_testkit::redis_server::RedisServer;

const EVENTS: usize = 2000;
const LANES: usize = 4;
const CONCURRENCY: usize = 8;

fn worker(redis: &RedisServer, name: &str, ack_deadline: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_thorn"))
        .args([
            "worker",
            "--redis-url",
            &redis.url(),
            "--queue",
            "default",
            "--consumer-name",
            name,
        ])
        .args([
            "--concurrency",
            &CONCURRENCY.to_string(),
            "--ack-deadline",
            ack_deadline,
        ])
        .env(
            "THORN_RECIPIENT_VALIDATORS",
            "allow_loopback,allow_any_port",
        )
        .env("THORN_EVENT_TIMEOUT", "1")
        .env("THORN_RETRY_DELAY", "50ms")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("thorn worker starts")
}

fn terminate(child: &Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_worker_s_entries_are_reclaimed_and_only_in_flight_ones_repeat() {
    let redis = redis().await;
    let receiver = MockReceiver::start().await.unwrap();
    // Slow enough that the kill lands mid-run.
    receiver.otherwise(Reply::status(200).delay(Duration::from_millis(3)));
    let thorn = thorn(config(&redis));
    for lane in 0..LANES {
        let sub = Subscriber::builder(
            format!("crash.l{lane}"),
            receiver.url(&format!("/{lane}")),
            "k",
        )
        .build()
        .unwrap();
        thorn.subscribe(sub).await.unwrap();
    }
    let mut sent = HashSet::new();
    for i in 0..EVENTS {
        let r = thorn
            .send(Event::new(format!("crash.l{}", i % LANES), json!({"i": i})).unwrap())
            .await
            .unwrap();
        sent.extend(r.outcomes.iter().map(|o| o.delivery.to_string()));
    }
    assert_eq!(sent.len(), EVENTS);

    let mut first = worker(&redis, "first", "30");
    receiver.wait_for(EVENTS / 10, common::WAIT).await;
    first.kill().unwrap();
    first.wait().unwrap();
    let at_kill = receiver.len();
    assert!(
        (EVENTS / 10..EVENTS).contains(&at_kill),
        "killed mid-run ({at_kill} received)"
    );

    // Reclaims the first worker's pending entries once they are 2 s idle
    // (the event timeout is 1 s: the shortest deadline allowed).
    let mut second = worker(&redis, "second", "2");
    let ids = || -> HashMap<String, usize> {
        let mut m = HashMap::new();
        for r in receiver.requests() {
            *m.entry(r.delivery().unwrap().to_owned()).or_default() += 1;
        }
        m
    };
    let mut n = receiver.wait_for(EVENTS, Duration::from_secs(30)).await;
    // Duplicates make the count reach EVENTS early; wait for every id.
    for _ in 0..(CONCURRENCY * thorn_redis::ENTRIES_PER_DELIVERY_SLOT + 1) {
        if ids().len() == EVENTS {
            break;
        }
        n = receiver.wait_for(n + 1, Duration::from_secs(30)).await;
    }
    terminate(&second);
    let status = second.wait().unwrap();
    assert!(status.success(), "SIGTERM is a clean exit: {status}");

    let got = ids();
    let received: HashSet<String> = got.keys().cloned().collect();
    assert_eq!(received, sent, "every event reached the receiver");
    let duplicates: usize = got.values().map(|c| c - 1).sum();
    eprintln!("received {at_kill} before the kill; {duplicates} duplicates after it");
    // A worker holds at most this many entries (read, not yet settled).
    let held = CONCURRENCY * thorn_redis::ENTRIES_PER_DELIVERY_SLOT;
    assert!(
        duplicates <= held,
        "{duplicates} duplicates; only the {held} entries held at the kill may repeat"
    );
}

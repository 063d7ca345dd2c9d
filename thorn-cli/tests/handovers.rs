//! Poison detection counts handovers between workers: an entry a worker
//! looks for again while delivering it is not handed over, the handovers of
//! each reclaimed entry are read exactly, and an entry recovered under the
//! name of a worker that died holding it is a handover too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../thorn-redis/tests/common/mod.rs"]
mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::{
    RunningWorker, WAIT, claim_as, conn, grouped, hand_new_entries_to, queue, send_one, stream_ids,
    subscribe, thorn,
};
use redis::aio::MultiplexedConnection;
use serde_json::json;
use thorn_core::Event;
use thorn_redis::{DeadLetters, MAX_HANDOVERS, RedisOptions, Worker};
use thorn_testkit::receiver::Reply;

const STREAM: &str = "thorn:{default}:stream";

/// The ids of the clients blocked in `XREADGROUP`: the workers' readers.
async fn blocked_readers(c: &mut MultiplexedConnection) -> Vec<u64> {
    let list: String = redis::cmd("CLIENT")
        .arg("LIST")
        .query_async(c)
        .await
        .unwrap();
    list.lines()
        .filter_map(|line| {
            let field = |name: &str| {
                line.split(' ')
                    .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
            };
            let blocked = field("flags")?.contains('b') && field("cmd")? == "xreadgroup";
            blocked.then(|| field("id")?.parse().ok())?
        })
        .collect()
}

/// Waits until a reader other than those in `old` is blocked, and returns
/// it.
async fn new_reader(c: &mut MultiplexedConnection, old: &[u64]) -> u64 {
    for _ in 0..1000 {
        if let Some(id) = blocked_readers(c)
            .await
            .into_iter()
            .find(|id| !old.contains(id))
        {
            return id;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("no new reader blocked within 10 s");
}

/// The times the group handed the entry `id` to a consumer.
async fn times_delivered(c: &mut MultiplexedConnection, id: &str) -> usize {
    let reply: redis::streams::StreamPendingCountReply = redis::cmd("XPENDING")
        .arg(STREAM)
        .arg("thorn")
        .arg(id)
        .arg(id)
        .arg(1)
        .query_async(c)
        .await
        .unwrap();
    reply.ids[0].times_delivered
}

/// A worker whose reads fail while it delivers an entry (each failure
/// makes it look for entries it was handed but never saw) dies holding the
/// entry; the next worker delivers it. Re-reading the entry it had in
/// flight is no handover: were each counted, the entry would reach
/// `MAX_HANDOVERS` and be dead-lettered undelivered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn re_reads_by_the_worker_delivering_an_entry_are_not_handovers() {
    let (redis, receiver, config) = queue().await;
    // The first attempt never ends: the entry stays in flight.
    receiver.script([Reply::hang()]);
    let thorn = thorn(config.clone());
    subscribe(&thorn, "tick.*", receiver.url("/t")).await;
    let sent = send_one(&thorn, "tick.a").await;
    // A process of its own, to be killed as a crash would.
    let mut first = Command::new(env!("CARGO_BIN_EXE_thorn"))
        .args([
            "worker",
            "--redis-url",
            &redis.url(),
            "--consumer-name",
            "first",
        ])
        .env(
            "THORN_RECIPIENT_VALIDATORS",
            "allow_loopback,allow_any_port",
        )
        .env("THORN_EVENT_TIMEOUT", "20")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("thorn worker starts");
    assert_eq!(
        receiver.wait_for(1, WAIT).await,
        1,
        "the entry is in flight"
    );
    let mut c = conn(&redis).await;
    let entry = stream_ids(&mut c, STREAM).await.remove(0);

    // Each lost connection fails the read; the worker then reads its own
    // pending entries before it blocks on a new connection.
    let mut killed = Vec::new();
    for _ in 0..MAX_HANDOVERS - 1 {
        let reader = new_reader(&mut c, &killed).await;
        let _: () = redis::cmd("CLIENT")
            .arg("KILL")
            .arg("ID")
            .arg(reader)
            .query_async(&mut c)
            .await
            .unwrap();
        killed.push(reader);
    }
    new_reader(&mut c, &killed).await;
    let at_crash = times_delivered(&mut c, &entry).await;
    first.kill().unwrap();
    first.wait().unwrap();

    // The shortest ack deadline allowed: the entry is reclaimed soon.
    let second = Worker::builder(config.clone())
        .ack_deadline(config.event_timeout + thorn_redis::worker::ACK_MARGIN)
        .block(Duration::from_millis(200))
        .build()
        .unwrap();
    let second = RunningWorker::start(second);
    second.monitor.wait_until(WAIT, |s| s.entries > 0).await;
    let stats = second.stop().await;
    assert_eq!(stats.reclaimed, 1, "the entry is reclaimed");
    assert_eq!(
        (stats.delivered, stats.dead),
        (1, 0),
        "delivered, not dead-lettered, after {at_crash} deliveries to the first worker"
    );
    assert_eq!(
        receiver.delivery_ids(),
        [sent.to_string(), sent.to_string()]
    );
    assert_eq!(at_crash, 1, "the first worker's re-reads left the count");
}

/// The handovers of reclaimed entries are looked up by their ids: an entry
/// pending elsewhere between two reclaimed ones does not hide the second.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reclaimed_entry_s_handovers_are_read_past_entries_pending_elsewhere() {
    let (_redis, receiver, config, thorn, keys, mut c) = grouped().await;
    let mut sent = Vec::new();
    for name in ["tick.healthy", "tick.busy", "tick.poison"] {
        sent.push(send_one(&thorn, name).await.to_string());
    }
    let ids = stream_ids(&mut c, &keys.stream).await;
    assert_eq!(ids.len(), 3);
    hand_new_entries_to(&mut c, &keys.stream, "ghost").await;
    // The first and the last were left by dead workers an hour ago, the
    // last handed over `MAX_HANDOVERS - 1` times; the middle one is being
    // delivered by a live worker, `busy`.
    for (id, consumer, idle, handovers) in [
        (&ids[0], "ghost", 3_600_000, 1),
        (&ids[1], "busy", 0, 1),
        (&ids[2], "ghost", 3_600_000, MAX_HANDOVERS - 1),
    ] {
        claim_as(&mut c, &keys.stream, consumer, id, idle, handovers).await;
    }

    let running = RunningWorker::with_config(config.clone());
    assert!(receiver.wait_for(1, WAIT).await >= 1);
    // Both were reclaimed in one pass, which ends before the stop is seen.
    let stats = running.stop().await;
    assert_eq!(stats.reclaimed, 2);
    assert_eq!(
        receiver.delivery_ids(),
        [sent[0].clone()],
        "only the healthy one"
    );
    assert_eq!(stats.dead, 1);
    let dead = DeadLetters::new(RedisOptions::from_config(&config).unwrap()).unwrap();
    let letters = dead.list(10).await.unwrap();
    assert_eq!(letters.len(), 1);
    assert_eq!(
        letters[0].delivery.as_ref().map(|d| d.id.to_string()),
        Some(sent[2].clone())
    );
    assert_eq!(
        stream_ids(&mut c, &keys.stream).await,
        [ids[1].clone()],
        "the busy entry is left to its worker"
    );
}

/// An entry a worker of one name keeps dying on comes back to that name
/// at each restart, before any other worker could reclaim it: each time is
/// a handover, and the limit holds there too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entry_recovered_too_often_under_one_name_is_dead_lettered() {
    let (_redis, receiver, config, thorn, keys, mut c) = grouped().await;
    let poisoned = send_one(&thorn, "tick.poison").await;
    // Runs of `w1` died holding it, `MAX_HANDOVERS - 1` times; it idled
    // for no time, so no other worker would reclaim it yet.
    hand_new_entries_to(&mut c, &keys.stream, "w1").await;
    let ids = stream_ids(&mut c, &keys.stream).await;
    claim_as(&mut c, &keys.stream, "w1", &ids[0], 0, MAX_HANDOVERS - 1).await;
    let healthy = send_one(&thorn, "tick.ok").await;

    let running = RunningWorker::named(config.clone(), "w1");
    assert_eq!(receiver.wait_for(1, WAIT).await, 1);
    let stats = running.stop().await;
    assert_eq!((stats.reclaimed, stats.dead), (1, 1));
    assert_eq!(receiver.delivery_ids(), [healthy.to_string()]);
    let dead = DeadLetters::new(RedisOptions::from_config(&config).unwrap()).unwrap();
    let letters = dead.list(10).await.unwrap();
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].delivery.as_ref().map(|d| d.id), Some(poisoned));
}

/// An entry deleted from the stream (trimmed) while pending for a worker's
/// name is dropped from the pending list when that name recovers it, and
/// the worker goes on with the rest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pending_entry_deleted_from_the_stream_is_dropped_on_recovery() {
    let (_redis, receiver, config, thorn, keys, mut c) = grouped().await;
    for name in ["tick.trimmed", "tick.kept"] {
        thorn
            .send(Event::new(name, json!({})).unwrap())
            .await
            .unwrap();
    }
    hand_new_entries_to(&mut c, &keys.stream, "w1").await;
    let ids = stream_ids(&mut c, &keys.stream).await;
    let _: usize = redis::cmd("XDEL")
        .arg(&keys.stream)
        .arg(&ids[0])
        .query_async(&mut c)
        .await
        .unwrap();

    let running = RunningWorker::named(config, "w1");
    assert_eq!(receiver.wait_for(1, WAIT).await, 1);
    running.stop().await;
    assert_eq!(receiver.requests()[0].event(), Some("tick.kept"));
    let pending: redis::streams::StreamPendingReply = redis::cmd("XPENDING")
        .arg(&keys.stream)
        .arg("thorn")
        .query_async(&mut c)
        .await
        .unwrap();
    assert_eq!(pending.count(), 0, "nothing is left pending");
}

//! The Redis backend against real redis-server processes and real HTTP
//! receivers: chunking, retries with backoff, dead letters and replay,
//! Redis going away, a lost consumer group, graceful shutdown.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use common::{
    RunningWorker, WAIT, claim_as, config, conn, grouped, hand_new_entries_to, queue, redis,
    send_one, stream_ids, subscribe, thorn,
};
use redis::AsyncCommands;
use serde_json::json;
use thorn_core::{
    Batch, Delivery, Event, EventName, Observer, Outcome, PreparedEvent, Status, Subscriber,
};
use thorn_http::Metrics;
use thorn_redis::{DeadLetters, RedisDispatcher, RedisOptions, Worker, entry};
use thorn_testkit::metrics::MetricsProbe;
use thorn_testkit::receiver::Reply;
use tokio::sync::Notify;
use tokio::time::Instant;

fn event(name: &str, i: usize) -> Event {
    Event::new(name, json!({"i": i})).unwrap()
}

/// Records when each attempt was reported.
#[derive(Debug, Default)]
struct Timeline {
    seen: Mutex<Vec<(Instant, Outcome)>>,
    changed: Notify,
}

impl Timeline {
    fn push(&self, o: &Outcome) {
        self.seen.lock().unwrap().push((Instant::now(), o.clone()));
        self.changed.notify_waiters();
    }

    fn all(&self) -> Vec<(Instant, Outcome)> {
        self.seen.lock().unwrap().clone()
    }

    async fn wait_final(&self, n: usize) -> usize {
        let count = || {
            self.all()
                .iter()
                .filter(|(_, o)| o.status != Status::Retrying)
                .count()
        };
        let wait = async {
            loop {
                let notified = self.changed.notified();
                if count() >= n {
                    return;
                }
                notified.await;
            }
        };
        let _ = tokio::time::timeout(WAIT, wait).await;
        count()
    }
}

#[derive(Debug, Default, Clone)]
struct Recorder(Arc<Timeline>);

impl Observer for Recorder {
    fn on_success(&self, o: &Outcome) {
        self.0.push(o);
    }
    fn on_error(&self, o: &Outcome) {
        self.0.push(o);
    }
    fn on_timeout(&self, o: &Outcome) {
        self.0.push(o);
    }
}

async fn stream_entries(
    redis: &thorn_testkit::redis_server::RedisServer,
) -> Vec<Vec<entry::QueuedDelivery>> {
    let mut c = conn(redis).await;
    let reply: redis::streams::StreamRangeReply =
        c.xrange_all("thorn:{default}:stream").await.unwrap();
    reply
        .ids
        .into_iter()
        .map(|id| match id.map.get("d") {
            Some(redis::Value::BulkString(b)) => entry::decode(&Bytes::from(b.clone())).unwrap(),
            other => panic!("entry without a blob: {other:?}"),
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_buffered_flush_of_100_events_is_10_entries() {
    let redis = redis().await;
    let thorn = thorn(config(&redis));
    subscribe(&thorn, "chunk.*", "http://127.0.0.1:9/hook").await;
    let ((), flushed) = thorn
        .buffer_events(async {
            for i in 0..100 {
                thorn.send(event("chunk.made", i)).await.unwrap();
            }
        })
        .await;
    assert_eq!(flushed.unwrap().count(Status::Queued), 100);
    let entries = stream_entries(&redis).await;
    assert_eq!(entries.len(), 10, "THORN_CHUNKSIZE=10 events per entry");
    let mut order = Vec::new();
    for e in &entries {
        assert_eq!(e.len(), 10);
        for q in e {
            assert_eq!(q.attempts, 0);
            let v: serde_json::Value = serde_json::from_slice(&q.delivery.body).unwrap();
            order.push(v["i"].as_u64().unwrap());
        }
    }
    assert_eq!(
        order,
        (0..100).collect::<Vec<u64>>(),
        "entries keep send order"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_event_to_three_subscribers_is_one_entry_and_three_posts() {
    let (redis, receiver, config) = queue().await;
    let thorn = thorn(config.clone());
    for path in ["/a", "/b", "/c"] {
        thorn
            .subscribe(
                Subscriber::builder("user.*", receiver.url(path), "k")
                    .build()
                    .unwrap(),
            )
            .await
            .unwrap();
    }
    let report = thorn.send(event("user.created", 1)).await.unwrap();
    assert_eq!(report.count(Status::Queued), 3);
    let entries = stream_entries(&redis).await;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].len(), 3);
    // The three deliveries share one body in the entry.
    assert_eq!(
        entries[0][0].delivery.body.as_ptr(),
        entries[0][2].delivery.body.as_ptr()
    );

    let worker = RunningWorker::with_config(config);
    assert_eq!(receiver.wait_for(3, WAIT).await, 3);
    let stats = worker.stop().await;
    assert_eq!(stats.delivered, 3);
    let paths: HashSet<String> = receiver.requests().iter().map(|r| r.path.clone()).collect();
    assert_eq!(
        paths,
        HashSet::from(["/a".into(), "/b".into(), "/c".into()])
    );
    let mut c = conn(&redis).await;
    let len: usize = c.xlen("thorn:{default}:stream").await.unwrap();
    assert_eq!(len, 0, "acknowledged entries are deleted");
}

#[test]
fn an_event_with_many_subscribers_is_split_over_entries() {
    let body = Bytes::from_static(br#"{"big":true}"#);
    let event = EventName::new("big.one").unwrap();
    let deliveries: Vec<Delivery> = (0..1200)
        .map(|i| Delivery {
            id: uuid::Uuid::new_v4(),
            event: event.clone(),
            subscriber: Arc::new(
                Subscriber::builder("big.*", format!("http://127.0.0.1:9/{i}"), "k")
                    .build()
                    .unwrap(),
            ),
            body: body.clone(),
            timeout: None,
            standard_webhooks: false,
            hmac_signer: thorn_core::Signer::Hmac,
        })
        .collect();
    let batch = Batch::one(PreparedEvent::new(event, deliveries));
    let d = RedisDispatcher::with_options(RedisOptions::default(), 10).unwrap();
    let entries = d.encode(&batch);
    let sizes: Vec<usize> = entries
        .iter()
        .map(|e| entry::decode(&Bytes::from(e.clone())).unwrap().len())
        .collect();
    assert_eq!(sizes, [500, 500, 200]);
    for e in &entries {
        let text = String::from_utf8_lossy(e);
        assert_eq!(
            text.matches(r#"{"big":true}"#).count(),
            1,
            "the body is stored once per entry"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_receiver_gets_retries_with_one_delivery_id_spaced_by_backoff() {
    let (_redis, receiver, mut config) = queue().await;
    receiver.script_path("/flaky", [Reply::status(500), Reply::status(503)]);
    let timeline = Recorder::default();
    config.observers.push(Arc::new(timeline.clone()));
    let thorn = thorn(config.clone());
    subscribe(&thorn, "job.*", receiver.url("/flaky")).await;
    let _worker = RunningWorker::with_config(config);
    let report = thorn.send(event("job.done", 1)).await.unwrap();
    let id = report.outcomes[0].delivery;

    assert_eq!(receiver.wait_for(3, WAIT).await, 3);
    assert_eq!(timeline.0.wait_final(1).await, 1);
    let ids: HashSet<String> = receiver.delivery_ids().into_iter().collect();
    assert_eq!(
        ids,
        HashSet::from([id.to_string()]),
        "one delivery id on every attempt"
    );

    let seen = timeline.0.all();
    let statuses: Vec<(u32, Status)> = seen.iter().map(|(_, o)| (o.attempts, o.status)).collect();
    assert_eq!(
        statuses,
        [
            (1, Status::Retrying),
            (2, Status::Retrying),
            (3, Status::Delivered)
        ]
    );
    // Jitter keeps each delay in [delay/2, delay]: 25..50 ms, then 50..100
    // ms (less a millisecond of rounding to Redis's clock).
    let gap1 = seen[1].0 - seen[0].0;
    let gap2 = seen[2].0 - seen[1].0;
    assert!(gap1 >= Duration::from_millis(24), "first backoff {gap1:?}");
    assert!(gap2 >= Duration::from_millis(49), "second backoff {gap2:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_used_up_go_to_dead_letters_and_a_replay_delivers() {
    let (_redis, receiver, mut config) = queue().await;
    let probe = MetricsProbe::new();
    config
        .extensions
        .insert(Metrics::from_recorder(probe.recorder()));
    receiver.otherwise(Reply::status(500));
    let thorn = thorn(config.clone());
    subscribe(&thorn, "job.*", receiver.url("/down")).await;
    let worker = RunningWorker::with_config(config.clone());
    let report = thorn.send(event("job.failed", 7)).await.unwrap();
    let id = report.outcomes[0].delivery;
    // The first attempt and two retries.
    assert_eq!(receiver.wait_for(3, WAIT).await, 3);
    let stats = worker.stop().await;
    assert_eq!(stats.dead, 1);
    assert_eq!(receiver.len(), 3, "no attempt after the last retry");
    // The worker counts as the "default" backend does.
    assert_eq!(
        probe.counter("thorn_attempts_total", &[("class", "5xx")]),
        3
    );
    assert_eq!(probe.counter("thorn_retries_total", &[]), 2);
    assert_eq!(
        probe.counter("thorn_deliveries_total", &[("status", "failed")]),
        1
    );
    assert_eq!(probe.counter("thorn_dead_lettered_total", &[]), 1);

    let dead = DeadLetters::new(RedisOptions::from_config(&config).unwrap()).unwrap();
    let letters = dead.list(10).await.unwrap();
    assert_eq!(letters.len(), 1);
    let letter = &letters[0];
    assert_eq!(letter.delivery.as_ref().unwrap().id, id);
    assert_eq!(letter.attempts, 3);
    assert_eq!(letter.http_status, Some(500));
    assert!(!letter.error.is_empty());
    assert!(dead.get(&letter.id).await.unwrap().is_some());

    receiver.otherwise(Reply::status(200));
    let worker = RunningWorker::with_config(config);
    assert!(dead.replay(&letter.id).await.unwrap());
    assert!(
        !dead.replay(&letter.id).await.unwrap(),
        "a replayed letter is gone"
    );
    assert_eq!(receiver.wait_for(4, WAIT).await, 4);
    let last = receiver.requests().pop().unwrap();
    assert_eq!(
        last.delivery(),
        Some(id.to_string().as_str()),
        "a replay keeps the delivery id"
    );
    assert_eq!(worker.stop().await.delivered, 1);
    assert!(dead.is_empty().await.unwrap());
    assert_eq!(
        probe.counter("thorn_attempts_total", &[("class", "2xx")]),
        1
    );
    assert_eq!(
        probe.counter("thorn_deliveries_total", &[("status", "delivered")]),
        1
    );
    let latency = probe.histogram("thorn_delivery_latency_seconds");
    assert_eq!(
        latency.len(),
        1,
        "measured from the send, across the dead letters"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_retries_off_a_failure_is_dead_lettered_at_once_and_purge_empties() {
    let (_redis, receiver, mut config) = queue().await;
    receiver.otherwise(Reply::status(503));
    config.retry.enabled = false;
    let thorn = thorn(config.clone());
    subscribe(&thorn, "job.*", receiver.url("/x")).await;
    let worker = RunningWorker::with_config(config.clone());
    for i in 0..3 {
        thorn.send(event("job.x", i)).await.unwrap();
    }
    assert_eq!(receiver.wait_for(3, WAIT).await, 3);
    assert_eq!(worker.stop().await.dead, 3);
    assert_eq!(receiver.len(), 3, "one attempt each");
    let dead = DeadLetters::new(RedisOptions::from_config(&config).unwrap()).unwrap();
    assert_eq!(dead.len().await.unwrap(), 3);
    let first = dead.list(1).await.unwrap().remove(0);
    assert!(dead.purge(&first.id).await.unwrap());
    assert_eq!(dead.purge_all().await.unwrap(), 2);
    assert!(dead.is_empty().await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_all_redelivers_every_dead_letter() {
    let (_redis, receiver, config) = queue().await;
    receiver.otherwise(Reply::status(404));
    let thorn = thorn(config.clone());
    subscribe(&thorn, "job.*", receiver.url("/gone-for-now")).await;
    let worker = RunningWorker::with_config(config.clone());
    for i in 0..5 {
        thorn.send(event("job.y", i)).await.unwrap();
    }
    assert_eq!(receiver.wait_for(5, WAIT).await, 5);
    assert_eq!(worker.stop().await.dead, 5, "404 is permanent: no retry");
    receiver.otherwise(Reply::status(200));
    let dead = DeadLetters::new(RedisOptions::from_config(&config).unwrap()).unwrap();
    assert_eq!(dead.replay_all().await.unwrap(), 5);
    let worker = RunningWorker::with_config(config);
    assert_eq!(receiver.wait_for(10, WAIT).await, 10);
    assert_eq!(worker.stop().await.delivered, 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_at_send_is_an_error_and_a_later_flush_delivers() {
    let (redis, receiver, config) = queue().await;
    let thorn = thorn(config.clone());
    subscribe(&thorn, "order.*", receiver.url("/o")).await;
    redis.stop();
    let err = thorn.send(event("order.placed", 1)).await.unwrap_err();
    assert!(err.is_retryable(), "{err}");
    assert_eq!(
        thorn.held_events(),
        1,
        "the event is kept for the next flush"
    );
    assert!(thorn.flush().await.is_err());
    assert_eq!(thorn.held_events(), 1);

    redis.restart().await.unwrap();
    let _worker = RunningWorker::with_config(config);
    // The first command after the outage may still meet the old socket.
    let mut flushed = None;
    for _ in 0..20 {
        match thorn.flush().await {
            Ok(r) => {
                flushed = Some(r);
                break;
            }
            Err(e) => {
                assert!(e.is_retryable());
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    assert_eq!(
        flushed
            .expect("a flush succeeds once Redis is back")
            .count(Status::Queued),
        1
    );
    assert_eq!(thorn.held_events(), 0);
    assert_eq!(receiver.wait_for(1, WAIT).await, 1);
    assert_eq!(receiver.requests()[0].event(), Some("order.placed"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_rides_out_a_redis_restart_and_loses_nothing_acknowledged() {
    const EACH: usize = 150;
    let (redis, receiver, config) = queue().await;
    let thorn = thorn(config.clone());
    subscribe(&thorn, "tick.*", receiver.url("/t")).await;
    let _worker = RunningWorker::with_config(config);
    let mut acknowledged = HashSet::new();
    for i in 0..EACH {
        let r = thorn.send(event("tick.a", i)).await.unwrap();
        acknowledged.extend(r.outcomes.iter().map(|o| o.delivery.to_string()));
    }
    assert!(receiver.wait_for(10, WAIT).await >= 10);
    redis.restart().await.unwrap();
    for i in 0..EACH {
        match thorn.send(event("tick.b", i)).await {
            Ok(r) => acknowledged.extend(r.outcomes.iter().map(|o| o.delivery.to_string())),
            Err(e) => assert!(e.is_retryable(), "{e}"),
        }
    }
    // Whatever a send could not hand over is held; flush it.
    for _ in 0..50 {
        match thorn.flush().await {
            Ok(r) => {
                acknowledged.extend(r.outcomes.iter().map(|o| o.delivery.to_string()));
                if thorn.held_events() == 0 {
                    break;
                }
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    assert_eq!(thorn.held_events(), 0);
    assert_eq!(acknowledged.len(), 2 * EACH);
    receiver.wait_for(2 * EACH, WAIT).await;
    let received: HashSet<String> = receiver.delivery_ids().into_iter().collect();
    let missing: Vec<_> = acknowledged.difference(&received).collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged deliveries never arrived",
        missing.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_consumer_group_is_recreated() {
    let (redis, receiver, config) = queue().await;
    let thorn = thorn(config.clone());
    subscribe(&thorn, "g.*", receiver.url("/g")).await;
    let _worker = RunningWorker::with_config(config);
    thorn.send(event("g.one", 1)).await.unwrap();
    assert_eq!(receiver.wait_for(1, WAIT).await, 1);
    let mut c = conn(&redis).await;
    let destroyed: i64 = redis::cmd("XGROUP")
        .arg("DESTROY")
        .arg("thorn:{default}:stream")
        .arg("thorn")
        .query_async(&mut c)
        .await
        .unwrap();
    assert_eq!(destroyed, 1);
    thorn.send(event("g.two", 2)).await.unwrap();
    // g.one comes again if its acknowledgement raced the loss of the group
    // (delivery is at least once); g.two must come.
    let has_two = || {
        receiver
            .requests()
            .iter()
            .any(|r| r.event() == Some("g.two"))
    };
    let mut n = 1;
    while !has_two() && n < 4 {
        n = receiver.wait_for(n + 1, WAIT).await;
    }
    assert!(has_two(), "the worker kept going after the group was lost");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_finishes_and_acknowledges_what_is_in_flight() {
    let (redis, receiver, config) = queue().await;
    receiver.script([Reply::status(200).delay(Duration::from_millis(300))]);
    let thorn = thorn(config.clone());
    subscribe(&thorn, "s.*", receiver.url("/s")).await;
    let worker = RunningWorker::with_config(config);
    thorn.send(event("s.slow", 1)).await.unwrap();
    assert_eq!(receiver.wait_for(1, WAIT).await, 1);
    // The answer is still 300 ms away: the stop waits for it.
    let stats = worker.stop().await;
    assert_eq!((stats.entries, stats.delivered), (1, 1));
    let mut c = conn(&redis).await;
    let pending: redis::streams::StreamPendingReply =
        c.xpending("thorn:{default}:stream", "thorn").await.unwrap();
    assert_eq!(pending.count(), 0, "nothing left pending");
    let len: usize = c.xlen("thorn:{default}:stream").await.unwrap();
    assert_eq!(len, 0);
}

#[test]
fn an_ack_deadline_shorter_than_an_attempt_is_refused() {
    let mut config = thorn_core::Config::default();
    config.event_timeout = Duration::from_secs(3);
    let err = Worker::builder(config.clone())
        .ack_deadline(Duration::from_secs(2))
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("THORN_EVENT_TIMEOUT"), "{err}");
    let ok = Worker::builder(config)
        .ack_deadline(Duration::from_secs(4))
        .build()
        .unwrap();
    assert_eq!(ok.ack_deadline(), Duration::from_secs(4));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_waits_for_the_receivers_retry_after() {
    let (_redis, receiver, mut config) = queue().await;
    receiver.script([Reply::status(429).header("Retry-After", "1")]);
    let timeline = Recorder::default();
    config.observers.push(Arc::new(timeline.clone()));
    let thorn = thorn(config.clone());
    subscribe(&thorn, "ra.*", receiver.url("/ra")).await;
    let _worker = RunningWorker::with_config(config);
    thorn.send(event("ra.x", 1)).await.unwrap();
    assert_eq!(receiver.wait_for(2, WAIT).await, 2);
    assert_eq!(timeline.0.wait_final(1).await, 1);
    let seen = timeline.0.all();
    assert_eq!(seen[0].1.http_status, Some(429));
    let gap = seen[1].0 - seen[0].0;
    assert!(
        gap >= Duration::from_millis(999),
        "Retry-After: 1 honoured, waited {gap:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_started_while_redis_is_down_waits_for_it() {
    let (redis, receiver, config) = queue().await;
    redis.stop();
    let worker = RunningWorker::with_config(config.clone());
    let stats = worker.monitor.wait_until(WAIT, |s| s.read_errors > 0).await;
    assert!(stats.read_errors > 0, "the worker met Redis down");
    redis.restart().await.unwrap();
    let thorn = thorn(config);
    subscribe(&thorn, "late.*", receiver.url("/late")).await;
    thorn.send(event("late.one", 1)).await.unwrap();
    assert_eq!(receiver.wait_for(1, WAIT).await, 1);
    assert_eq!(worker.stop().await.delivered, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_with_redis_down_ends_and_another_worker_delivers_the_entry_again() {
    let (redis, receiver, config) = queue().await;
    receiver.script([Reply::status(200).delay(Duration::from_millis(300))]);
    let thorn = thorn(config.clone());
    subscribe(&thorn, "down.*", receiver.url("/d")).await;
    let worker = RunningWorker::with_config(config.clone());
    let id = thorn.send(event("down.x", 1)).await.unwrap().outcomes[0].delivery;
    assert_eq!(receiver.wait_for(1, WAIT).await, 1);
    redis.stop();
    // The answer comes, but the entry cannot be acknowledged: the stop
    // still ends, leaving it pending.
    let stats = worker.stop().await;
    assert_eq!((stats.delivered, stats.entries), (1, 0));

    redis.restart().await.unwrap();
    let again = Worker::builder(config)
        .block(Duration::from_millis(200))
        .ack_deadline(Duration::from_secs(3))
        .build()
        .unwrap();
    let again = RunningWorker::start(again);
    assert_eq!(receiver.wait_for(2, WAIT).await, 2);
    let ids: Vec<String> = receiver.delivery_ids();
    assert_eq!(
        ids,
        [id.to_string(), id.to_string()],
        "the same delivery, again"
    );
    let stats = again.stop().await;
    assert_eq!((stats.reclaimed, stats.entries), (1, 1));
}

/// Entries Redis handed to a consumer whose reply it never saw (a lost
/// connection, a restart of the worker) are delivered as soon as a worker of
/// that name runs again, not only after the ack deadline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_handed_to_this_consumer_but_never_seen_are_recovered_at_once() {
    let (_redis, receiver, config, thorn, keys, mut c) = grouped().await;
    for i in 0..5 {
        thorn.send(event("tick.a", i)).await.unwrap();
    }
    // Hand every entry to the consumer `w1`, and drop the reply.
    hand_new_entries_to(&mut c, &keys.stream, "w1").await;
    // The default ack deadline (30 s) is far longer than this test waits.
    let worker = Worker::builder(config)
        .consumer_name("w1")
        .block(Duration::from_millis(200))
        .build()
        .unwrap();
    assert!(worker.ack_deadline() > WAIT);
    let running = RunningWorker::start(worker);
    assert_eq!(receiver.wait_for(5, WAIT).await, 5);
    let stats = running.stop().await;
    assert_eq!(stats.reclaimed, 5);
    assert_eq!(stats.delivered, 5);
    let pending: redis::Value = redis::cmd("XPENDING")
        .arg(&keys.stream)
        .arg("thorn")
        .query_async(&mut c)
        .await
        .unwrap();
    match pending {
        redis::Value::Array(v) => assert_eq!(v.first(), Some(&redis::Value::Int(0))),
        other => panic!("unexpected XPENDING reply {other:?}"),
    }
}

/// An entry that was handed to workers again and again without being
/// settled (each of them died holding it) goes to the dead letters with the
/// reason, and is not delivered again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entry_handed_over_too_often_is_dead_lettered_not_delivered() {
    let (_redis, receiver, config, thorn, keys, mut c) = grouped().await;
    let poisoned = send_one(&thorn, "tick.poison").await;
    let ids: Vec<String> = stream_ids(&mut c, &keys.stream).await;
    assert_eq!(ids.len(), 1);
    // A worker `ghost` took it, and workers before it died holding it: it
    // has been handed over MAX_HANDOVERS - 1 times, and idled for an hour.
    hand_new_entries_to(&mut c, &keys.stream, "ghost").await;
    let handovers = thorn_redis::MAX_HANDOVERS - 1;
    claim_as(&mut c, &keys.stream, "ghost", &ids[0], 3_600_000, handovers).await;
    let healthy = send_one(&thorn, "tick.ok").await;

    let running = RunningWorker::with_config(config.clone());
    assert_eq!(receiver.wait_for(1, WAIT).await, 1);
    let stats = running.stop().await;
    assert_eq!(stats.reclaimed, 1);
    assert_eq!(stats.dead, 1);
    let got: Vec<String> = receiver.delivery_ids();
    assert_eq!(
        got,
        [healthy.to_string()],
        "only the healthy entry is delivered"
    );
    let dead = DeadLetters::new(RedisOptions::from_config(&config).unwrap()).unwrap();
    let letters = dead.list(10).await.unwrap();
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].delivery.as_ref().map(|d| d.id), Some(poisoned));
    assert!(
        letters[0].error.contains("handed to workers"),
        "{}",
        letters[0].error
    );
    assert_eq!(
        stream_ids(&mut c, &keys.stream).await.len(),
        0,
        "the entry is settled"
    );
}

/// A worker that died holding an entry leaves its name in the group; once
/// the entry is reclaimed and the name has been idle past the ack deadline,
/// a live worker removes it, so that the group does not collect the name of
/// every dead worker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_worker_s_consumer_is_removed_once_its_entries_are_reclaimed() {
    let (_redis, receiver, config, thorn, keys, mut c) = grouped().await;
    let sent = thorn.send(event("tick.a", 0)).await.unwrap().outcomes[0].delivery;
    // `ghost` takes the entry and dies.
    hand_new_entries_to(&mut c, &keys.stream, "ghost").await;
    assert_eq!(consumers(&mut c, &keys.stream).await, ["ghost"]);
    let ack_deadline = config.event_timeout + thorn_redis::worker::ACK_MARGIN;
    let worker = Worker::builder(config)
        .consumer_name("live")
        .ack_deadline(ack_deadline)
        .block(Duration::from_millis(200))
        .build()
        .unwrap();
    let running = RunningWorker::start(worker);
    assert_eq!(receiver.wait_for(1, WAIT).await, 1);
    // The pass that reclaimed the entry goes on to the removal before the
    // worker notices the stop.
    let stats = running.stop().await;
    assert_eq!(stats.reclaimed, 1);
    assert_eq!(stats.consumers_removed, 1);
    assert_eq!(
        receiver.requests()[0].delivery(),
        Some(sent.to_string().as_str())
    );
    // `live` left the group itself when it stopped with nothing pending.
    assert!(consumers(&mut c, &keys.stream).await.is_empty());
}

async fn consumers(c: &mut redis::aio::MultiplexedConnection, stream: &str) -> Vec<String> {
    let reply: redis::streams::StreamInfoConsumersReply =
        c.xinfo_consumers(stream, "thorn").await.unwrap();
    reply.consumers.into_iter().map(|c| c.name).collect()
}

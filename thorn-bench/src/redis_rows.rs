//! Rows of the `"redis"` backend: end-to-end deliveries per second with one
//! worker (sends at concurrency 64, timed until the receiver has them all),
//! and the enqueue rate of `send` alone, unbuffered and buffered.
//!
//! The end-to-end row runs in rounds paired with rounds of `"default"`, so
//! that both see the same load from elsewhere on the machine.

use std::time::{Duration, Instant};

use serde_json::json;
use thorn::redis::{Worker, WorkerStats};
use thorn::{Config, Event, RecipientPolicy, Status, Subscriber, Thorn};
use thorn_testkit::receiver::MockReceiver;
use thorn_testkit::redis_server::RedisServer;

pub(crate) const SENDERS: usize = 64;

fn data(i: usize) -> serde_json::Value {
    json!({"id": i, "name": "Ada Lovelace", "email": "ada@example.com", "tags": ["a", "b", "c"]})
}

pub(crate) fn config(redis: &RedisServer, queue: &str) -> Config {
    let mut config = Config::from_env().unwrap();
    config.dispatcher = "redis".into();
    config.set_var("THORN_REDIS_URL", redis.url()).unwrap();
    config.set_var("THORN_REDIS_QUEUE", queue).unwrap();
    config.recipients = RecipientPolicy::allow_loopback_any_port();
    config
}

pub(crate) async fn thorn_for(config: Config, url: String) -> Thorn {
    let thorn = Thorn::new(config, &thorn::registry()).unwrap();
    thorn
        .subscribe(
            Subscriber::builder("bench.*", url, super::SECRET)
                .build()
                .unwrap(),
        )
        .await
        .unwrap();
    thorn
}

fn print(name: &str, concurrency: usize, n: usize, elapsed: Duration, failed: usize) -> f64 {
    let rate = n as f64 / elapsed.as_secs_f64();
    println!(
        "{name:<28} c={concurrency:<3} {n:>7} events in {:>6.2} s: {rate:>9.0}/s ({failed} failed)",
        elapsed.as_secs_f64()
    );
    rate
}

/// Sends `n` events from `SENDERS` tasks; how many sends failed.
async fn send_all(thorn: &Thorn, n: usize) -> usize {
    let per_task = n / SENDERS;
    let mut tasks = Vec::with_capacity(SENDERS);
    for t in 0..SENDERS {
        let thorn = thorn.clone();
        tasks.push(tokio::spawn(async move {
            let mut failed = 0;
            for i in 0..per_task {
                match thorn
                    .send(Event::new("bench.tick", data(t * per_task + i)).unwrap())
                    .await
                {
                    Ok(r) if r.count(Status::Queued) == 1 => {}
                    _ => failed += 1,
                }
            }
            failed
        }));
    }
    let mut failed = 0;
    for t in tasks {
        failed += t.await.unwrap();
    }
    failed
}

/// The `"redis"` backend end to end: producers send, one in-process worker
/// delivers, a round ends when the receiver has every delivery.
pub(crate) struct EndToEnd {
    thorn: Thorn,
    stop: thorn::redis::ShutdownHandle,
    running: tokio::task::JoinHandle<thorn::redis::Result<WorkerStats>>,
}

impl EndToEnd {
    pub(crate) async fn start(redis: &RedisServer, receiver: &MockReceiver) -> Self {
        let config = config(redis, "e2e");
        let thorn = thorn_for(config.clone(), receiver.url("/redis")).await;
        let worker = Worker::builder(config).build().unwrap();
        let stop = worker.shutdown_handle();
        let running = tokio::spawn(worker.run());
        // Warm the pools.
        send_all(&thorn, SENDERS).await;
        receiver.wait_for(SENDERS, Duration::from_secs(30)).await;
        receiver.clear();
        EndToEnd {
            thorn,
            stop,
            running,
        }
    }

    /// One round of `n` events from `SENDERS` tasks: the rate, and how many
    /// sends failed or never arrived.
    pub(crate) async fn round(&self, receiver: &MockReceiver, n: usize) -> (f64, usize) {
        let n = n / SENDERS * SENDERS;
        let started = Instant::now();
        let failed = send_all(&self.thorn, n).await;
        let got = receiver.wait_for(n, Duration::from_secs(300)).await;
        let elapsed = started.elapsed();
        receiver.clear();
        let failed = failed + n.saturating_sub(got);
        (got as f64 / elapsed.as_secs_f64(), failed)
    }

    pub(crate) async fn finish(self) -> WorkerStats {
        self.stop.shutdown();
        self.running.await.unwrap().unwrap()
    }
}

/// The rows beside the end-to-end one: the enqueue rate of `send` alone
/// (unbuffered at concurrency 64, and buffered), and a worker draining.
pub(crate) async fn enqueue_rows(redis: &RedisServer, receiver: &MockReceiver, deliveries: usize) {
    let n = deliveries / SENDERS * SENDERS;
    receiver.clear();

    // Enqueue alone (no worker on this queue).
    let thorn = thorn_for(config_for_enqueue(redis), receiver.url("/none")).await;
    let started = Instant::now();
    let failed = send_all(&thorn, n).await;
    print("thorn redis enqueue", SENDERS, n, started.elapsed(), failed);

    // The worker alone, draining what the enqueue row left.
    receiver.clear();
    let worker = Worker::builder(config_for_enqueue(redis)).build().unwrap();
    let stop = worker.shutdown_handle();
    let started = Instant::now();
    let running = tokio::spawn(worker.run());
    let got = receiver.wait_for(n, Duration::from_secs(300)).await;
    print(
        "thorn redis worker drain",
        1,
        got,
        started.elapsed(),
        n.saturating_sub(got),
    );
    stop.shutdown();
    let _ = running.await;

    let started = Instant::now();
    let mut failed = 0;
    const SCOPE: usize = 1000;
    for scope in 0..n.div_ceil(SCOPE) {
        let ((), flushed) = thorn
            .buffer_events(async {
                for i in scope * SCOPE..((scope + 1) * SCOPE).min(n) {
                    let _ = thorn.send(Event::new("bench.tick", data(i)).unwrap()).await;
                }
            })
            .await;
        match flushed {
            Ok(r) => failed += SCOPE.min(n - scope * SCOPE) - r.count(Status::Queued),
            Err(_) => failed += SCOPE,
        }
    }
    let buffered = print(
        "thorn redis enqueue buffered",
        1,
        n,
        started.elapsed(),
        failed,
    );
    println!(
        "buffered enqueue: {buffered:.0} events/s ({} per entry)",
        thorn.config().chunk_size,
    );
}

fn config_for_enqueue(redis: &RedisServer) -> Config {
    config(redis, "enqueue")
}

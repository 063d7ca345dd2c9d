//! One bad receiver among healthy ones, through `"redis"`: ten
//! subscriptions to `order.*`, nine on a healthy receiver and one on a
//! receiver that hangs (every attempt times out, `THORN_EVENT_TIMEOUT=1s`)
//! or answers 500 (`THORN_RETRY_DELAY=0.2s`); 3,000 events enqueued by
//! one buffered flush (10 per entry), one worker. The healthy deliveries
//! per second (the nine receivers' 27,000, or as many as arrive within
//! the window) are paired with a round where all ten are healthy.
//!
//! ```text
//! THORN_BENCH_ONLY="thorn redis isolation" cargo run --release -p thorn-bench
//! ```

use std::time::{Duration, Instant};

use thorn::redis::Worker;
use thorn::{Config, Event, RecipientPolicy, Thorn};
use thorn_testkit::receiver::MockReceiver;
use thorn_testkit::redis_server::RedisServer;

use crate::data;
use crate::isolation_rows::{Bad, paired, subscribe};

/// Events per round.
const EVENTS: usize = 3_000;
/// Healthy subscriptions besides the one that may be bad.
const HEALTHY: usize = 9;

/// Prints the isolation rows of `"redis"`, `pairs` pairs each.
pub(crate) async fn redis_isolation_paired(redis: &RedisServer, pairs: usize) {
    paired("thorn redis", pairs, |bad, with_bad, window, k| {
        round_rate(redis, k, with_bad, bad, window)
    })
    .await;
}

/// One round on a queue of its own: the healthy deliveries per second,
/// and how many requests the bad receiver got.
async fn round_rate(
    redis: &RedisServer,
    queue: usize,
    with_bad: bool,
    bad: Bad,
    window: Duration,
) -> (f64, usize) {
    let healthy = MockReceiver::start().await.unwrap();
    let other = bad.receiver(with_bad).await;
    let mut config = Config::from_env().unwrap();
    config.dispatcher = "redis".into();
    config.recipients = RecipientPolicy::allow_loopback_any_port();
    config.set_var("THORN_REDIS_URL", redis.url()).unwrap();
    config
        .set_var("THORN_REDIS_QUEUE", format!("isolation{queue}"))
        .unwrap();
    config.set_var("THORN_EVENT_TIMEOUT", "1s").unwrap();
    config.set_var("THORN_RETRY_DELAY", "0.2s").unwrap();
    let thorn = Thorn::new(config.clone(), &thorn::registry()).unwrap();
    for _ in 0..HEALTHY {
        subscribe(&thorn, &healthy.url("/isolation")).await;
    }
    subscribe(&thorn, &other.url("/isolation")).await;
    let ((), flushed) = thorn
        .buffer_events(async {
            for i in 0..EVENTS {
                let _ = thorn
                    .send(Event::new("order.created", data(i)).unwrap())
                    .await;
            }
        })
        .await;
    flushed.unwrap();
    let worker = Worker::builder(config).build().unwrap();
    let stop = worker.shutdown_handle();
    let started = Instant::now();
    let running = tokio::spawn(worker.run());
    let got = healthy.wait_for(EVENTS * HEALTHY, window).await;
    let elapsed = started.elapsed();
    stop.shutdown();
    let _ = running.await;
    (got as f64 / elapsed.as_secs_f64(), other.len())
}

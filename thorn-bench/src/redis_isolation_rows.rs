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
use thorn::{Config, Event, RecipientPolicy, Subscriber, Thorn};
use thorn_testkit::receiver::{MockReceiver, Reply};
use thorn_testkit::redis_server::RedisServer;

use crate::ratio::Ratios;
use crate::{SECRET, data};

/// Events per round.
const EVENTS: usize = 3_000;
/// Healthy subscriptions besides the one that may be bad.
const HEALTHY: usize = 9;

/// How the bad receiver behaves.
#[derive(Clone, Copy, Debug)]
enum Bad {
    Hangs,
    Fails,
}

/// Prints the isolation rows of `"redis"`, `pairs` pairs each.
pub(crate) async fn redis_isolation_paired(redis: &RedisServer, pairs: usize) {
    let window = Duration::from_secs_f64(
        std::env::var("THORN_BENCH_ISOLATION_WINDOW")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(8.0),
    );
    let mut queue = 0;
    for bad in [Bad::Hangs, Bad::Fails] {
        let mut ratios = Ratios::default();
        let mut bad_requests = Vec::new();
        for round in 1..=pairs.max(1) {
            queue += 1;
            let (healthy, _) = round_rate(redis, queue, None, bad, window).await;
            queue += 1;
            let (with_bad, requests) = round_rate(redis, queue, Some(()), bad, window).await;
            println!(
                "round {round} thorn redis, one receiver {bad:?}: healthy {with_bad:>8.0}/s against {healthy:>8.0}/s all healthy; the bad receiver got {requests} requests"
            );
            ratios.push(with_bad, healthy);
            bad_requests.push(requests);
        }
        println!(
            "thorn redis, one receiver of ten {bad:?}, healthy deliveries / all healthy, {:.0} s windows at most, paired rounds: {}; bad receiver's requests per round {bad_requests:?}",
            window.as_secs_f64(),
            ratios.summary()
        );
    }
}

/// One round on a queue of its own: the healthy deliveries per second,
/// and how many requests the bad receiver got.
async fn round_rate(
    redis: &RedisServer,
    queue: usize,
    with_bad: Option<()>,
    bad: Bad,
    window: Duration,
) -> (f64, usize) {
    let healthy = MockReceiver::start().await.unwrap();
    let other = MockReceiver::start().await.unwrap();
    if with_bad.is_some() {
        other.otherwise(match bad {
            Bad::Hangs => Reply::hang(),
            Bad::Fails => Reply::status(500),
        });
    }
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

async fn subscribe(thorn: &Thorn, url: &str) {
    thorn
        .subscribe(Subscriber::builder("order.*", url, SECRET).build().unwrap())
        .await
        .unwrap();
}

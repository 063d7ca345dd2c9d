//! The `"redis"` backend's latency at a steady rate: one event per `send`
//! to one subscriber, the producer and one worker in this process, sent at
//! a fixed rate (half the end-to-end maximum measured before it, or
//! `THORN_BENCH_LATENCY_RATE`) for `THORN_BENCH_LATENCY_SECS` (20) seconds;
//! the time from the `send` call to the receiver's request, p50, p99 and
//! max, read from the receiver's clock.
//!
//! ```text
//! THORN_BENCH_ONLY="thorn redis latency" THORN_BENCH_LATENCY_RATE=20000 cargo run --release -p thorn-bench
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use thorn::redis::Worker;
use thorn::{Config, Event, RecipientPolicy, Subscriber, Thorn};
use thorn_testkit::receiver::MockReceiver;
use thorn_testkit::redis_server::RedisServer;

fn env(name: &str) -> Option<f64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

/// Sends at `rate` a second (or `THORN_BENCH_LATENCY_RATE`) and prints
/// the latency row.
pub(crate) async fn latency_row(redis: &RedisServer, rate: f64) {
    let rate = env("THORN_BENCH_LATENCY_RATE").unwrap_or(rate).max(1.0);
    let secs = env("THORN_BENCH_LATENCY_SECS").unwrap_or(20.0);
    let receiver = MockReceiver::start().await.unwrap();
    let mut config = Config::from_env().unwrap();
    config.dispatcher = "redis".into();
    config.set_var("THORN_REDIS_URL", redis.url()).unwrap();
    config.set_var("THORN_REDIS_QUEUE", "latency").unwrap();
    config.recipients = RecipientPolicy::allow_loopback_any_port();
    let thorn = Thorn::new(config.clone(), &thorn::registry()).unwrap();
    thorn
        .subscribe(
            Subscriber::builder("bench.*", receiver.url("/latency"), super::SECRET)
                .build()
                .unwrap(),
        )
        .await
        .unwrap();
    let worker = Worker::builder(config).build().unwrap();
    let stop = worker.shutdown_handle();
    let running = tokio::spawn(worker.run());

    let total = (rate * secs) as usize;
    let started = Instant::now();
    let sent: Arc<Vec<std::sync::OnceLock<Instant>>> =
        Arc::new((0..total).map(|_| std::sync::OnceLock::new()).collect());
    // Every millisecond, the sends due by then: each on a task of its own,
    // so that a slow one does not hold back the rate.
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut next = 0;
    while next < total {
        tick.tick().await;
        let due = ((started.elapsed().as_secs_f64() * rate) as usize).min(total);
        while next < due {
            let (thorn, sent, i) = (thorn.clone(), Arc::clone(&sent), next);
            tokio::spawn(async move {
                let _ = sent[i].set(Instant::now());
                let _ = thorn
                    .send(Event::new("bench.tick", json!({ "seq": i })).unwrap())
                    .await;
            });
            next += 1;
        }
    }
    let got = receiver.wait_for(total, Duration::from_secs(120)).await;
    stop.shutdown();
    let _ = running.await;
    let mut latencies: Vec<Duration> = receiver
        .requests()
        .iter()
        .filter_map(|r| {
            let body: serde_json::Value = serde_json::from_slice(&r.body).ok()?;
            let seq = body["data"]["seq"].as_u64().or(body["seq"].as_u64())? as usize;
            let at = sent.get(seq)?.get()?;
            Some(r.received_at.saturating_duration_since(*at))
        })
        .collect();
    latencies.sort_unstable();
    let pick = |q: f64| {
        latencies
            .get(((latencies.len() as f64 * q) as usize).min(latencies.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    println!(
        "thorn redis latency at {rate:.0}/s for {secs:.0} s: send → received p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({got} of {total} arrived)",
        pick(0.50).as_secs_f64() * 1000.0,
        pick(0.99).as_secs_f64() * 1000.0,
        latencies.last().copied().unwrap_or_default().as_secs_f64() * 1000.0,
    );
}

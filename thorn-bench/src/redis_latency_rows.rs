//! The `"redis"` backend's latency at a steady rate: one event per `send`
//! to one subscriber, the producer and one worker in this process, sent at
//! a fixed rate (half the end-to-end maximum measured before it, or
//! `THORN_BENCH_LATENCY_RATE`) for `THORN_BENCH_LATENCY_SECS` (20) seconds;
//! the time from the `send` call to the receiver's request, p50, p99 and
//! max, read from the receiver's clock. The receiver here keeps only when
//! each event arrived (in a table made before the run), so that its own
//! bookkeeping does not add to the tail.
//!
//! ```text
//! THORN_BENCH_ONLY="thorn redis latency" THORN_BENCH_LATENCY_RATE=20000 cargo run --release -p thorn-bench
//! ```

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::json;
use thorn::Event;
use thorn::redis::Worker;
use thorn_testkit::redis_server::RedisServer;

fn env(name: &str) -> Option<f64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

/// Sends at `rate` a second (or `THORN_BENCH_LATENCY_RATE`) and prints
/// the latency row.
pub(crate) async fn latency_row(redis: &RedisServer, rate: f64) {
    let rate = env("THORN_BENCH_LATENCY_RATE").unwrap_or(rate).max(1.0);
    let secs = env("THORN_BENCH_LATENCY_SECS").unwrap_or(20.0);
    let total = (rate * secs) as usize;
    let arrived: Arc<Vec<OnceLock<Instant>>> =
        Arc::new((0..total).map(|_| OnceLock::new()).collect());
    let (url, count) = clock_receiver(Arc::clone(&arrived)).await;
    let config = crate::redis_rows::config(redis, "latency");
    let thorn = crate::redis_rows::thorn_for(config.clone(), url).await;
    let worker = Worker::builder(config).build().unwrap();
    let stop = worker.shutdown_handle();
    let running = tokio::spawn(worker.run());

    let started = Instant::now();
    let sent: Arc<Vec<OnceLock<Instant>>> = Arc::new((0..total).map(|_| OnceLock::new()).collect());
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
    // Bounded: two minutes at most for the last ones to arrive.
    for _ in 0..1200 {
        if count.load(Ordering::Relaxed) >= total {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let got = count.load(Ordering::Relaxed);
    stop.shutdown();
    let _ = running.await;
    let mut latencies: Vec<Duration> = sent
        .iter()
        .zip(arrived.iter())
        .filter_map(|(s, a)| Some(a.get()?.saturating_duration_since(*s.get()?)))
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

/// A receiver that notes when each event (by its `seq`) arrived and
/// answers 204: its URL and how many arrived.
async fn clock_receiver(arrived: Arc<Vec<OnceLock<Instant>>>) -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/latency", listener.local_addr().unwrap());
    let count = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&count);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (arrived, count) = (Arc::clone(&arrived), Arc::clone(&counted));
            tokio::spawn(async move {
                let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let (arrived, count) = (Arc::clone(&arrived), Arc::clone(&count));
                    async move {
                        let at = Instant::now();
                        let body = req.into_body().collect().await?.to_bytes();
                        if let Some(seq) = seq_of(&body) {
                            if arrived.get(seq).is_some_and(|slot| slot.set(at).is_ok()) {
                                count.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        let mut answer = hyper::Response::new(Full::new(Bytes::new()));
                        *answer.status_mut() = hyper::StatusCode::NO_CONTENT;
                        Ok::<_, hyper::Error>(answer)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (url, count)
}

/// The `seq` of an event's JSON body.
fn seq_of(body: &[u8]) -> Option<usize> {
    let at = body.windows(6).position(|w| w == b"\"seq\":")? + 6;
    let digits = body[at..].iter().take_while(|b| b.is_ascii_digit()).count();
    std::str::from_utf8(&body[at..at + digits])
        .ok()?
        .parse()
        .ok()
}

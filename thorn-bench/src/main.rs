//! Deliveries per second through Thorn's backends to a local receiver,
//! next to a bare hyper client loop doing the same work (POST the same body
//! with an HMAC-SHA256 header and the other headers of Thorn's wire format,
//! made by hand), at concurrency 1 and 64.
//!
//! ```text
//! cargo run --release -p thorn-bench            # default: 50000 deliveries per row, best of 3 rounds
//! THORN_BENCH_DELIVERIES=5000 cargo run --release -p thorn-bench
//! THORN_BENCH_CONCURRENCY=64 THORN_BENCH_ROUNDS=1 cargo run --release -p thorn-bench
//! THORN_BENCH_PAIRS=9 cargo run --release -p thorn-bench  # redis/default pairs (default 5)
//! THORN_BENCH_LANE=20000 cargo run --release -p thorn-bench  # events flushed to one subscriber
//! ```
//!
//! Every ratio is the median (and range) of ratios taken within one round,
//! where both rates saw the same load from elsewhere on the machine.
//!
//! Each row is a [`Scenario`]; a backend (say, `"redis"` with its worker)
//! joins the table by adding one to the `scenarios` list in `main`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use bytes::Bytes;
use hmac::{Hmac, Mac};
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::json;
use sha2::Sha256;
use thorn::{Config, Event, RecipientPolicy, Status, Subscriber, Thorn};
use thorn_testkit::receiver::MockReceiver;

mod isolation_rows;
mod lane_rows;
mod outbox_rows;
mod pg_store_rows;
mod ratio;
mod redis_isolation_rows;
mod redis_latency_rows;
mod redis_profile;
mod redis_rows;

use ratio::Ratios;

/// Every row runs on the same allocator, one built for many threads, as a
/// service sending webhooks at this rate would.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const SECRET: &str = "bench-secret";

type Sender = Arc<dyn Fn(usize) -> Pin<Box<dyn Future<Output = bool> + Send>> + Send + Sync>;

/// One row of the table: a name, and how to make one delivery.
struct Scenario {
    name: &'static str,
    send: Sender,
}

/// One measurement.
struct Row {
    name: &'static str,
    concurrency: usize,
    deliveries: usize,
    failures: usize,
    elapsed: Duration,
}

impl Row {
    fn per_second(&self) -> f64 {
        self.deliveries as f64 / self.elapsed.as_secs_f64()
    }
}

fn data(i: usize) -> serde_json::Value {
    json!({"id": i, "name": "Ada Lovelace", "email": "ada@example.com", "tags": ["a", "b", "c"]})
}

/// A Thorn on `"default"` (the environment's settings otherwise, loopback
/// allowed) whose one subscription, to `bench.*`, posts to `path`.
async fn default_thorn(receiver: &MockReceiver, path: &str) -> Thorn {
    let mut config = Config::from_env().unwrap();
    config.dispatcher = "default".into();
    config.recipients = RecipientPolicy::allow_loopback_any_port();
    let thorn = Thorn::new(config, &thorn::registry()).unwrap();
    thorn
        .subscribe(
            Subscriber::builder("bench.*", receiver.url(path), SECRET)
                .build()
                .unwrap(),
        )
        .await
        .unwrap();
    thorn
}

async fn thorn_default(receiver: &MockReceiver) -> Scenario {
    let thorn = default_thorn(receiver, "/default").await;
    Scenario {
        name: "thorn default",
        send: Arc::new(move |i| {
            let thorn = thorn.clone();
            Box::pin(async move {
                match thorn.send(Event::new("bench.tick", data(i)).unwrap()).await {
                    Ok(r) => r.count(Status::Delivered) == 1,
                    Err(_) => false,
                }
            })
        }),
    }
}

/// One `HttpClient::attempt` per delivery, without matching, encoding or
/// the backend around it: what the HTTP layer alone costs.
fn http_attempt(receiver: &MockReceiver) -> Scenario {
    let mut config = Config::default();
    config.recipients = RecipientPolicy::allow_loopback_any_port();
    let client = thorn::http::HttpClient::new(&config).unwrap();
    let subscriber = Arc::new(
        Subscriber::builder("bench.*", receiver.url("/attempt"), SECRET)
            .build()
            .unwrap(),
    );
    Scenario {
        name: "thorn-http only",
        send: Arc::new(move |i| {
            let client = client.clone();
            let delivery = thorn::Delivery {
                id: uuid::Uuid::new_v4(),
                event: thorn::EventName::new("bench.tick").unwrap(),
                subscriber: Arc::clone(&subscriber),
                body: Bytes::from(serde_json::to_vec(&data(i)).unwrap()),
                timeout: None,
                standard_webhooks: false,
                hmac_signer: thorn::Signer::Hmac,
            };
            Box::pin(async move { client.attempt(&delivery, 1).await.is_success() })
        }),
    }
}

fn bare_hyper(receiver: &MockReceiver) -> Scenario {
    let client: Client<HttpConnector, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    let uri: http::Uri = receiver.url("/bare").parse().unwrap();
    let subscription = Arc::new(uuid::Uuid::new_v4().to_string());
    Scenario {
        name: "bare hyper",
        send: Arc::new(move |i| {
            let client = client.clone();
            let uri = uri.clone();
            let subscription = Arc::clone(&subscription);
            Box::pin(async move {
                let body = Bytes::from(serde_json::to_vec(&data(i)).unwrap());
                let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
                mac.update(&body);
                let sig =
                    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
                // The same wire format as Thorn's: its headers, hand-made.
                let id = uuid::Uuid::new_v4().to_string();
                let request = http::Request::post(uri)
                    .header("content-type", "application/json")
                    .header("user-agent", "bench/1")
                    .header("hook-event", "bench.tick")
                    .header("hook-delivery", id)
                    .header("hook-subscription", subscription.as_str())
                    .header("hook-hmac", sig)
                    .body(Full::new(body))
                    .unwrap();
                match client.request(request).await {
                    Ok(r) => {
                        let ok = r.status().is_success();
                        let _ = http_body_util::BodyExt::collect(r.into_body()).await;
                        ok
                    }
                    Err(_) => false,
                }
            })
        }),
    }
}

async fn measure(scenario: &Scenario, concurrency: usize, deliveries: usize) -> Row {
    let per_task = deliveries / concurrency;
    // Warm the pool so rows compare steady states.
    for i in 0..concurrency.min(8) {
        (scenario.send)(i).await;
    }
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(concurrency);
    for t in 0..concurrency {
        let send = Arc::clone(&scenario.send);
        tasks.push(tokio::spawn(async move {
            let mut failures = 0;
            for i in 0..per_task {
                if !send(t * per_task + i).await {
                    failures += 1;
                }
            }
            failures
        }));
    }
    let mut failures = 0;
    for t in tasks {
        failures += t.await.unwrap();
    }
    Row {
        name: scenario.name,
        concurrency,
        deliveries: per_task * concurrency,
        failures,
        elapsed: started.elapsed(),
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let deliveries: usize = std::env::var("THORN_BENCH_DELIVERIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50_000);
    let rounds: usize = std::env::var("THORN_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    // A median needs more than three pairs to shrug off one bad second.
    let pairs: usize = std::env::var("THORN_BENCH_PAIRS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let receiver = MockReceiver::start().await.unwrap();
    let mut scenarios = vec![
        thorn_default(&receiver).await,
        http_attempt(&receiver),
        bare_hyper(&receiver),
    ];
    // THORN_BENCH_ONLY="bare hyper" keeps one row (for profiling): also
    // "thorn default", "thorn-http only", "thorn default lane" (one ordered
    // lane beside bare hyper at c=1), "thorn redis e2e", "thorn redis
    // enqueue" (the enqueue and drain rows of "redis"), "thorn outbox", or
    // "thorn isolation" and "thorn redis isolation" (one bad receiver
    // among healthy ones), or "thorn redis latency" (send to delivered at
    // a steady rate).
    let only = std::env::var("THORN_BENCH_ONLY").ok();
    if let Some(only) = &only {
        // The end-to-end row is paired with "thorn default".
        let paired_with = (only == "thorn redis e2e").then_some("thorn default");
        scenarios.retain(|s| s.name == only.as_str() || Some(s.name) == paired_with);
    }
    let mut rows = Vec::new();
    // Every round's rate, for ratios within a round.
    let mut per_round: Vec<(&'static str, usize, usize, f64)> = Vec::new();
    // Rounds interleave the scenarios so that a burst of load from
    // elsewhere on the machine hits them alike; each keeps its best round.
    // THORN_BENCH_CONCURRENCY=64 measures one level only.
    let levels: Vec<usize> = match std::env::var("THORN_BENCH_CONCURRENCY") {
        Ok(v) => v.split(',').filter_map(|c| c.trim().parse().ok()).collect(),
        Err(_) => vec![1, 64],
    };
    for &concurrency in &levels {
        for round in 1..=rounds {
            // Each round starts with another scenario, so none is always
            // first (or always right after a given one).
            for k in 0..scenarios.len() {
                let s = &scenarios[(k + round) % scenarios.len()];
                let row = measure(s, concurrency, deliveries).await;
                println!(
                    "round {round} {:<16} c={:<3} {:>7} deliveries in {:>6.2} s: {:>9.0}/s ({} failed)",
                    row.name,
                    row.concurrency,
                    row.deliveries,
                    row.elapsed.as_secs_f64(),
                    row.per_second(),
                    row.failures
                );
                receiver.clear();
                per_round.push((row.name, concurrency, round, row.per_second()));
                let best = rows
                    .iter_mut()
                    .find(|r: &&mut Row| r.name == row.name && r.concurrency == concurrency);
                match best {
                    Some(b) if b.per_second() >= row.per_second() => {}
                    Some(b) => *b = row,
                    None => rows.push(row),
                }
            }
        }
    }
    println!();
    for row in &rows {
        println!(
            "best {:<16} c={:<3} {:>9.0}/s",
            row.name,
            row.concurrency,
            row.per_second()
        );
    }
    println!();
    for &concurrency in &levels {
        let mut ratios = Ratios::default();
        for round in 1..=rounds {
            let rate = |name: &str| {
                per_round
                    .iter()
                    .find(|(n, c, r, _)| *n == name && *c == concurrency && *r == round)
                    .map(|(_, _, _, rate)| *rate)
            };
            if let (Some(thorn), Some(bare)) = (rate("thorn default"), rate("bare hyper")) {
                ratios.push(thorn, bare);
            }
        }
        println!(
            "c={concurrency:<3} thorn default / bare hyper, paired rounds: {}",
            ratios.summary()
        );
    }
    if matches!(only.as_deref(), None | Some("thorn default lane")) {
        println!();
        let bare = bare_hyper(&receiver);
        lane_rows::lane_paired(&receiver, &bare, pairs).await;
    }
    match only.as_deref() {
        None | Some("thorn redis e2e") => {
            redis_paired(&receiver, &scenarios, deliveries, pairs).await
        }
        Some("thorn outbox") => {}
        Some("thorn redis enqueue") => {
            if let Some(redis) = redis_server().await {
                redis_rows::enqueue_rows(&redis, &receiver, deliveries).await;
            }
        }
        Some(_) => {}
    }
    if matches!(only.as_deref(), None | Some("thorn isolation")) {
        println!();
        isolation_rows::isolation_paired(&receiver, pairs).await;
    }
    if matches!(only.as_deref(), None | Some("thorn redis isolation")) {
        if let Some(redis) = redis_server().await {
            println!();
            redis_isolation_rows::redis_isolation_paired(&redis, pairs).await;
        }
    }
    if only.as_deref() == Some("thorn redis latency") {
        if let Some(redis) = redis_server().await {
            // Half of about the end-to-end maximum on a 2-core machine.
            redis_latency_rows::latency_row(&redis, 20_000.0).await;
        }
    }
    if matches!(only.as_deref(), None | Some("thorn outbox")) {
        let all = vec![thorn_default(&receiver).await];
        outbox_rows::outbox_paired(&receiver, &all, deliveries, pairs).await;
    }
}

/// A private Redis with the usual production durability (fsync once a
/// second), not the testkit's fsync on every write.
async fn redis_server() -> Option<thorn_testkit::redis_server::RedisServer> {
    use thorn_testkit::redis_server::RedisServer;
    match RedisServer::start_with(&[("appendfsync", "everysec")]).await {
        Ok(r) => Some(r),
        Err(e) => {
            println!("\nredis rows skipped: {e}");
            None
        }
    }
}

/// The `"redis"` rows. End to end, each round is paired with a round of
/// `"default"` at the same concurrency (the order alternating), and the
/// ratio is taken within each pair: the two backends share the machine
/// with Redis and the receiver, and load from elsewhere swings both rates
/// by tens of percent from one second to the next.
async fn redis_paired(
    receiver: &MockReceiver,
    scenarios: &[Scenario],
    deliveries: usize,
    pairs: usize,
) {
    let Some(redis) = redis_server().await else {
        return;
    };
    println!();
    let default = scenarios.iter().find(|s| s.name == "thorn default");
    let e2e = redis_rows::EndToEnd::start(&redis, receiver).await;
    let before = redis_profile::Profile::read(&redis).await;
    let mut delivered = 0;
    let concurrency = redis_rows::SENDERS;
    let mut ratios = Ratios::default();
    let (mut best_redis, mut best_default) = (0.0_f64, 0.0_f64);
    for round in 1..=pairs.max(1) {
        let mut pair = [None, None];
        for k in 0..2 {
            if (k + round) % 2 == 0 {
                let (rate, failed) = e2e.round(receiver, deliveries).await;
                delivered += deliveries / redis_rows::SENDERS * redis_rows::SENDERS;
                println!(
                    "round {round} thorn redis e2e c={concurrency:<3} {rate:>9.0}/s ({failed} failed)"
                );
                pair[0] = Some(rate);
            } else if let Some(d) = default {
                let row = measure(d, concurrency, deliveries).await;
                receiver.clear();
                println!(
                    "round {round} thorn default   c={concurrency:<3} {:>9.0}/s ({} failed)",
                    row.per_second(),
                    row.failures
                );
                pair[1] = Some(row.per_second());
            }
        }
        if let [Some(r), Some(d)] = pair {
            ratios.push(r, d);
            best_default = best_default.max(d);
        }
        best_redis = best_redis.max(pair[0].unwrap_or(0.0));
    }
    let after = redis_profile::Profile::read(&redis).await;
    let stats = e2e.finish().await;
    println!();
    before.report(&after, "thorn redis e2e", delivered);
    println!("best thorn redis e2e  c={concurrency:<3} {best_redis:>9.0}/s");
    println!(
        "c={concurrency:<3} thorn redis end to end / thorn default, paired rounds: {}; best / best {:.2}",
        ratios.summary(),
        best_redis / best_default.max(f64::MIN_POSITIVE)
    );
    println!("worker settled {} entries", stats.entries);
    if default.is_some() {
        println!();
        redis_rows::enqueue_rows(&redis, receiver, deliveries).await;
        println!();
        redis_latency_rows::latency_row(&redis, best_redis / 2.0).await;
    }
}

//! One ordered lane: many buffered events to **one** subscriber, flushed
//! through `"default"`, which delivers them one after another on one
//! keep-alive connection. Each round is paired with bare hyper at
//! concurrency 1 sending as many requests, the most this lane could do.

use std::time::Instant;

use thorn::{Config, Event, RecipientPolicy, Status, Subscriber, Thorn};
use thorn_testkit::receiver::MockReceiver;

use crate::ratio::Ratios;
use crate::{Scenario, data, measure};

/// Events per flush (`THORN_BENCH_LANE`, default 20,000).
fn events() -> usize {
    std::env::var("THORN_BENCH_LANE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000)
}

async fn lane_thorn(receiver: &MockReceiver) -> Thorn {
    let mut config = Config::from_env().unwrap();
    config.dispatcher = "default".into();
    config.recipients = RecipientPolicy::allow_loopback_any_port();
    let thorn = Thorn::new(config, &thorn::registry()).unwrap();
    thorn
        .subscribe(
            Subscriber::builder("bench.*", receiver.url("/lane"), crate::SECRET)
                .build()
                .unwrap(),
        )
        .await
        .unwrap();
    thorn
}

/// Buffers `n` events and flushes them once; deliveries per second and how
/// many were not delivered.
async fn flush_once(thorn: &Thorn, n: usize) -> (f64, usize) {
    let started = Instant::now();
    let (sent, flushed) = thorn
        .buffer_events(async {
            for i in 0..n {
                thorn
                    .send(Event::new("bench.tick", data(i)).unwrap())
                    .await
                    .unwrap();
            }
        })
        .await;
    let () = sent;
    let delivered = flushed.map_or(0, |r| r.count(Status::Delivered));
    (n as f64 / started.elapsed().as_secs_f64(), n - delivered)
}

/// The lane rows: `rounds` pairs of a flush from a spawned task and bare
/// hyper at c=1, then one flush from the runtime's `block_on` for
/// comparison.
pub(crate) async fn lane_paired(receiver: &MockReceiver, bare: &Scenario, rounds: usize) {
    let n = events();
    let thorn = lane_thorn(receiver).await;
    // Warm the pool.
    flush_once(&thorn, 8).await;
    let mut ratios = Ratios::default();
    for round in 1..=rounds.max(1) {
        let mut pair = [0.0, 0.0];
        for k in 0..2 {
            if (k + round) % 2 == 0 {
                let t = thorn.clone();
                let (rate, failed) = tokio::spawn(async move { flush_once(&t, n).await })
                    .await
                    .unwrap();
                println!(
                    "round {round} thorn default lane c=1 {n:>7} events: {rate:>9.0}/s ({failed} failed)"
                );
                pair[0] = rate;
            } else {
                let row = measure(bare, 1, n).await;
                println!(
                    "round {round} bare hyper          c=1 {n:>7} requests: {:>9.0}/s ({} failed)",
                    row.per_second(),
                    row.failures
                );
                pair[1] = row.per_second();
            }
            receiver.clear();
        }
        ratios.push(pair[0], pair[1]);
    }
    println!(
        "c=1   thorn default one lane / bare hyper, paired rounds: {}",
        ratios.summary()
    );
    let (rate, failed) = flush_once(&thorn, n).await;
    receiver.clear();
    println!("thorn default one lane, flushed from block_on: {rate:.0}/s ({failed} failed)");
}

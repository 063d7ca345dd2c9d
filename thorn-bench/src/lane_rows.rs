//! One ordered lane: many buffered events to **one** subscriber, flushed
//! through `"default"`, which delivers them one after another on one
//! keep-alive connection, from a spawned task and from the runtime's
//! `block_on`. Each round is paired with bare hyper at concurrency 1
//! sending as many requests, the most this lane could do.

use std::time::Instant;

use thorn::{Event, Status, Thorn};
use thorn_testkit::receiver::MockReceiver;

use crate::ratio::Ratios;
use crate::{Scenario, data, default_thorn, measure};

/// Events per flush (`THORN_BENCH_LANE`, default 20,000).
fn events() -> usize {
    std::env::var("THORN_BENCH_LANE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000)
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

/// The lane rows: `rounds` rounds, each of a flush from a spawned task,
/// a flush from the runtime's `block_on` (the caller of this function), and
/// bare hyper at c=1, in an order that turns each round; each flush's rate
/// is paired with the bare hyper rate of its round.
pub(crate) async fn lane_paired(receiver: &MockReceiver, bare: &Scenario, rounds: usize) {
    let n = events();
    let thorn = default_thorn(receiver, "/lane").await;
    // Warm the pool.
    flush_once(&thorn, 8).await;
    let (mut spawned, mut block_on) = (Ratios::default(), Ratios::default());
    for round in 1..=rounds.max(1) {
        let mut rates = [0.0; 3];
        for k in 0..3 {
            let which = (k + round) % 3;
            let (name, rate, failed) = match which {
                0 => {
                    let t = thorn.clone();
                    let (rate, failed) = tokio::spawn(async move { flush_once(&t, n).await })
                        .await
                        .unwrap();
                    ("thorn default lane, spawned", rate, failed)
                }
                1 => {
                    let (rate, failed) = flush_once(&thorn, n).await;
                    ("thorn default lane, block_on", rate, failed)
                }
                _ => {
                    let row = measure(bare, 1, n).await;
                    ("bare hyper", row.per_second(), row.failures)
                }
            };
            println!("round {round} {name:<29} c=1 {n:>7}: {rate:>9.0}/s ({failed} failed)");
            rates[which] = rate;
            receiver.clear();
        }
        spawned.push(rates[0], rates[2]);
        block_on.push(rates[1], rates[2]);
    }
    println!(
        "c=1   thorn default one lane (spawned task) / bare hyper, paired rounds: {}",
        spawned.summary()
    );
    println!(
        "c=1   thorn default one lane (from block_on) / bare hyper, paired rounds: {}",
        block_on.summary()
    );
}

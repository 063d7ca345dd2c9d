//! Rows of the PostgreSQL outbox (PostgreSQL with `fsync=on`, as in
//! production):
//!
//! - the cost of writing an event in the outbox inside the application's
//!   transaction, over the same transaction without it;
//! - a relay end to end, through `"default"` and through `"redis"` (one
//!   in-process worker), from committed rows to the receiver, each round
//!   paired with a round of `"default"` sending directly.

use std::time::{Duration, Instant};

use serde_json::json;
use thorn::postgres::Outbox;
use thorn::{Config, Event, RecipientPolicy, Subscriber, Thorn};
use thorn_testkit::postgres_server::PostgresServer;
use thorn_testkit::receiver::MockReceiver;
use thorn_testkit::redis_server::RedisServer;

use crate::ratio::Ratios;
use crate::{Scenario, measure};

/// Concurrent application transactions in the write rows.
const WRITERS: usize = 16;

fn data(i: usize) -> serde_json::Value {
    json!({"id": i, "name": "Ada Lovelace", "email": "ada@example.com", "tags": ["a", "b", "c"]})
}

/// The outbox rows; skipped with a note when PostgreSQL cannot start.
pub(crate) async fn outbox_paired(
    receiver: &MockReceiver,
    scenarios: &[Scenario],
    deliveries: usize,
    pairs: usize,
) {
    let pg = match PostgresServer::start_with(&[("fsync", "on"), ("full_page_writes", "on")]).await
    {
        Ok(pg) => pg,
        Err(e) => {
            println!("\noutbox rows skipped: {e}");
            return;
        }
    };
    let Ok(redis) = RedisServer::start_with(&[("appendfsync", "everysec")]).await else {
        println!("\noutbox rows skipped: no redis-server");
        return;
    };
    let url = pg.url();
    let mut config = Config::from_vars([
        ("THORN_PG_URL", url.as_str()),
        ("THORN_REDIS_URL", redis.url().as_str()),
    ])
    .unwrap();
    config.recipients = RecipientPolicy::allow_loopback_any_port();
    let pool = thorn::postgres::connect(&config).await.unwrap();
    thorn::postgres::migrate(&pool, &config).await.unwrap();
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS bench_orders (id bigserial PRIMARY KEY, body jsonb NOT NULL)",
    )
    .execute(&pool)
    .await
    .unwrap();
    let outbox = Outbox::new(&config).unwrap();
    println!();
    crate::pg_store_rows::store_rows(&pool, &config).await;
    write_rows(&pool, &outbox, deliveries.min(20_000)).await;

    let default = scenarios.iter().find(|s| s.name == "thorn default");
    let n = deliveries.min(50_000);
    for backend in ["default", "redis"] {
        let mut backend_config = config.clone();
        backend_config.dispatcher = backend.into();
        backend_config
            .set_var("THORN_REDIS_QUEUE", "outbox")
            .unwrap();
        let thorn = Thorn::new(backend_config.clone(), &thorn::registry()).unwrap();
        thorn
            .subscribe(
                Subscriber::builder("bench.*", receiver.url("/outbox"), crate::SECRET)
                    .build()
                    .unwrap(),
            )
            .await
            .unwrap();
        let worker = (backend == "redis").then(|| {
            let w = thorn::redis::Worker::builder(backend_config.clone())
                .build()
                .unwrap();
            let stop = w.shutdown_handle();
            (stop, tokio::spawn(w.run()))
        });
        let mut ratios = Ratios::default();
        let mut best = 0.0_f64;
        for round in 1..=pairs.max(1) {
            let mut pair = [None, None];
            for k in 0..2 {
                if (k + round) % 2 == 0 {
                    let rate = relay_round(&pool, &outbox, &thorn, receiver, n).await;
                    println!("round {round} outbox relay -> {backend:<7} {rate:>9.0}/s");
                    pair[0] = Some(rate);
                } else if let Some(d) = default {
                    let row = measure(d, 64, n).await;
                    receiver.clear();
                    println!(
                        "round {round} thorn default          {:>9.0}/s",
                        row.per_second()
                    );
                    pair[1] = Some(row.per_second());
                }
            }
            if let [Some(r), Some(d)] = pair {
                ratios.push(r, d);
            }
            best = best.max(pair[0].unwrap_or(0.0));
        }
        println!("best outbox relay -> {backend:<7} {best:>9.0}/s");
        println!(
            "outbox relay -> {backend} end to end / thorn default, paired rounds: {}",
            ratios.summary()
        );
        if let Some((stop, running)) = worker {
            stop.shutdown();
            let _ = running.await;
        }
        println!();
    }
}

/// Application transactions (an insert each) without and with an outbox
/// event: the rates, and the extra cost per event.
async fn write_rows(pool: &sqlx::PgPool, outbox: &Outbox, n: usize) {
    let mut rates = [0.0_f64; 2];
    for (k, with_outbox) in [false, true].into_iter().enumerate() {
        let started = Instant::now();
        let tasks: Vec<_> = (0..WRITERS)
            .map(|w| {
                let (pool, outbox) = (pool.clone(), outbox.clone());
                tokio::spawn(async move {
                    for i in 0..n / WRITERS {
                        let body = data(w * n + i);
                        let mut tx = pool.begin().await.unwrap();
                        sqlx::query("INSERT INTO bench_orders (body) VALUES ($1)")
                            .bind(sqlx::types::Json(&body))
                            .execute(&mut *tx)
                            .await
                            .unwrap();
                        if with_outbox {
                            let event = Event::new("bench.order", body).unwrap();
                            outbox.send(&mut *tx, &event).await.unwrap();
                        }
                        tx.commit().await.unwrap();
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        let elapsed = started.elapsed();
        rates[k] = (n / WRITERS * WRITERS) as f64 / elapsed.as_secs_f64();
        println!(
            "app transaction {:<13} c={WRITERS:<3} {:>9.0}/s",
            if with_outbox { "+ outbox" } else { "alone" },
            rates[k]
        );
    }
    let extra_us = (1.0 / rates[1] - 1.0 / rates[0]) * 1e6 * WRITERS as f64;
    println!("outbox write: {extra_us:.0} µs more per transaction ({WRITERS} at once)");
    sqlx::query("DELETE FROM thorn.outbox")
        .execute(pool)
        .await
        .unwrap();
}

/// Commits `n` events in transactions of 500, then times a relay from its
/// start until the receiver has them all.
async fn relay_round(
    pool: &sqlx::PgPool,
    outbox: &Outbox,
    thorn: &Thorn,
    receiver: &MockReceiver,
    n: usize,
) -> f64 {
    for chunk in 0..n.div_ceil(500) {
        let mut tx = pool.begin().await.unwrap();
        for i in chunk * 500..((chunk + 1) * 500).min(n) {
            outbox
                .send(&mut *tx, &Event::new("bench.tick", data(i)).unwrap())
                .await
                .unwrap();
        }
        tx.commit().await.unwrap();
    }
    receiver.clear();
    let started = Instant::now();
    let relay = outbox.relay(pool.clone(), thorn.clone());
    let got = receiver.wait_for(n, Duration::from_secs(300)).await;
    let elapsed = started.elapsed();
    relay.shutdown().await;
    receiver.clear();
    got as f64 / elapsed.as_secs_f64()
}

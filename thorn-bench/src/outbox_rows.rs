//! Rows of the PostgreSQL outbox (PostgreSQL with `fsync=on`, as in
//! production):
//!
//! - the application's transaction with an outbox write over the same
//!   transaction without it, 16 at once, in paired rounds; next to it, the
//!   same transaction with a plain second `INSERT` (of the event's columns
//!   into a table with a primary key only), what any second statement
//!   costs;
//! - a relay end to end, through `"default"` and through `"redis"` (one
//!   in-process worker), from committed rows to the receiver, each round
//!   paired with a round of `"default"` sending directly (64 at once). The
//!   rows are written one event per transaction by 16 writers: separate
//!   sends, as the direct ones are. A second relay row writes them 500 per
//!   transaction, which by contract reach a subscription in order, one
//!   after another (a buffer's flush does the same);
//! - the delay from a commit to the receiver's request while rows flow at
//!   a steady rate, through `"default"`, with the NOTIFYs the commits sent.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use thorn::postgres::Outbox;
use thorn::{Config, Event, RecipientPolicy, Subscriber, Thorn};
use thorn_testkit::postgres_server::PostgresServer;
use thorn_testkit::receiver::MockReceiver;
use thorn_testkit::redis_server::RedisServer;

use crate::ratio::Ratios;
use crate::{Scenario, measure};

/// Concurrent application transactions in the write rows, and writers
/// filling the outbox for the relay rows.
const WRITERS: usize = 16;

/// Events per transaction in the second relay row.
const BIG_TRANSACTION: usize = 500;

/// The steady rates of the delay rows (events per second), and how long
/// each flows.
const FLOWS: [u32; 2] = [20, 500];
const FLOW_FOR: Duration = Duration::from_secs(5);

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
    write_rows(&pool, &outbox, deliveries.min(20_000), pairs).await;

    let default = scenarios.iter().find(|s| s.name == "thorn default");
    let n = deliveries.min(50_000);
    let big = (n / 5).max(BIG_TRANSACTION);
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
        let (mut ratios, mut big_ratios) = (Ratios::default(), Ratios::default());
        let mut best = 0.0_f64;
        for round in 1..=pairs.max(1) {
            let mut pair = [None, None];
            for k in 0..2 {
                if (k + round) % 2 == 0 {
                    let r = relay_round(&pool, &outbox, &thorn, receiver, n, 1).await;
                    println!("round {round} outbox relay -> {backend:<7} {r}");
                    pair[0] = Some(r.rate);
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
            let r = relay_round(&pool, &outbox, &thorn, receiver, big, BIG_TRANSACTION).await;
            println!(
                "round {round} outbox relay -> {backend:<7} {r}, {BIG_TRANSACTION} events a transaction"
            );
            if let [Some(one), Some(d)] = pair {
                ratios.push(one, d);
                big_ratios.push(r.rate, d);
            }
            best = best.max(pair[0].unwrap_or(0.0));
        }
        println!("best outbox relay -> {backend:<7} {best:>9.0}/s");
        println!(
            "outbox relay -> {backend} end to end / thorn default, paired rounds: {}",
            ratios.summary()
        );
        println!(
            "outbox relay -> {backend} end to end, {BIG_TRANSACTION} events a transaction / thorn default, paired rounds: {}",
            big_ratios.summary()
        );
        if let Some((stop, running)) = worker {
            stop.shutdown();
            if let Ok(Ok(w)) = running.await {
                // Anything but deliveries says the receiver or Redis
                // slowed a round down.
                println!(
                    "worker: {} entries, {} delivered, {} retried, {} deferred, {} held, {} reclaimed, {} read errors",
                    w.entries,
                    w.delivered,
                    w.retried,
                    w.deferred,
                    w.held,
                    w.reclaimed,
                    w.read_errors
                );
            }
        }
        println!();
    }
    delay_rows(&pool, &outbox, &config, receiver).await;
}

/// What an application transaction writes besides its own row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Extra {
    /// Nothing.
    Alone,
    /// An event, through the outbox.
    Outbox,
    /// The same event's columns into a table with a primary key only: what
    /// a second `INSERT` costs, whatever it writes.
    Plain,
}

/// Application transactions (an insert each, 16 at once) without and
/// with an outbox event, and with a plain second insert, in rounds that
/// rotate their order: the ratios of their rates within each round, and
/// the extra time per transaction.
async fn write_rows(pool: &sqlx::PgPool, outbox: &Outbox, n: usize, pairs: usize) {
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS bench_events (id bigserial PRIMARY KEY, event_id uuid NOT NULL, \
         name text NOT NULL, data jsonb NOT NULL, created_ms bigint NOT NULL)",
    )
    .execute(pool)
    .await
    .unwrap();
    let (mut outbox_ratios, mut plain_ratios) = (Ratios::default(), Ratios::default());
    let mut extra = Vec::new();
    let kinds = [Extra::Alone, Extra::Outbox, Extra::Plain];
    for round in 1..=pairs.max(1) {
        let mut rates = [0.0_f64; 3];
        for k in 0..kinds.len() {
            let at = (k + round) % kinds.len();
            let rate = write_round(pool, outbox, n, kinds[at]).await;
            let label = ["alone", "+ outbox", "+ plain insert"][at];
            println!("round {round} app transaction {label:<14} c={WRITERS:<3} {rate:>9.0}/s");
            rates[at] = rate;
        }
        outbox_ratios.push(rates[1], rates[0]);
        plain_ratios.push(rates[2], rates[0]);
        extra.push((1.0 / rates[1] - 1.0 / rates[0]) * 1e6 * WRITERS as f64);
    }
    extra.sort_by(f64::total_cmp);
    println!(
        "app transaction with an outbox write / without, c={WRITERS}, paired rounds: {}",
        outbox_ratios.summary()
    );
    println!(
        "app transaction with a plain second insert / without, c={WRITERS}, paired rounds: {}",
        plain_ratios.summary()
    );
    println!(
        "outbox write: {:.0} µs more per transaction ({WRITERS} at once, median of rounds)",
        extra[extra.len() / 2]
    );
}

/// One round of application transactions; the tables are emptied after
/// it, so every round starts alike.
async fn write_round(pool: &sqlx::PgPool, outbox: &Outbox, n: usize, extra: Extra) -> f64 {
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
                    match extra {
                        Extra::Alone => {}
                        Extra::Outbox => {
                            let event = Event::new("bench.order", body).unwrap();
                            outbox.send(&mut *tx, &event).await.unwrap();
                        }
                        Extra::Plain => {
                            sqlx::query(
                                "INSERT INTO bench_events (event_id, name, data, created_ms) \
                                 VALUES ($1, $2, $3, $4)",
                            )
                            .bind(uuid::Uuid::now_v7())
                            .bind("bench.order")
                            .bind(sqlx::types::Json(&body))
                            .bind(0_i64)
                            .execute(&mut *tx)
                            .await
                            .unwrap();
                        }
                    }
                    tx.commit().await.unwrap();
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let rate = (n / WRITERS * WRITERS) as f64 / started.elapsed().as_secs_f64();
    sqlx::query("TRUNCATE thorn.outbox, bench_orders, bench_events")
        .execute(pool)
        .await
        .unwrap();
    rate
}

/// Commits `n` events, `per_transaction` in each, from [`WRITERS`]
/// writers at once.
async fn fill(pool: &sqlx::PgPool, outbox: &Outbox, n: usize, per_transaction: usize) {
    let transactions = n.div_ceil(per_transaction);
    let next = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..WRITERS.min(transactions))
        .map(|_| {
            let (pool, outbox, next) = (pool.clone(), outbox.clone(), Arc::clone(&next));
            tokio::spawn(async move {
                loop {
                    let t = next.fetch_add(1, Ordering::Relaxed);
                    if t >= transactions {
                        break;
                    }
                    let mut tx = pool.begin().await.unwrap();
                    for i in t * per_transaction..((t + 1) * per_transaction).min(n) {
                        outbox
                            .send(&mut *tx, &Event::new("bench.tick", data(i)).unwrap())
                            .await
                            .unwrap();
                    }
                    tx.commit().await.unwrap();
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
}

/// A relay round: the rate from the relay's start until the receiver had
/// every event, and when the relay had handed the last one over.
struct RelayRound {
    rate: f64,
    relayed_after: Duration,
    elapsed: Duration,
}

impl std::fmt::Display for RelayRound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:>9.0}/s (relayed all after {:.2} s of {:.2} s)",
            self.rate,
            self.relayed_after.as_secs_f64(),
            self.elapsed.as_secs_f64()
        )
    }
}

/// Commits `n` events, `per_transaction` in each, then times a relay from
/// its start until the receiver has them all.
async fn relay_round(
    pool: &sqlx::PgPool,
    outbox: &Outbox,
    thorn: &Thorn,
    receiver: &MockReceiver,
    n: usize,
    per_transaction: usize,
) -> RelayRound {
    fill(pool, outbox, n, per_transaction).await;
    receiver.clear();
    let started = Instant::now();
    let relay = outbox.relay(pool.clone(), thorn.clone());
    let mut relayed_after = None;
    let deadline = started + Duration::from_secs(300);
    // Watched through the relay's counters (no query that would load the
    // database): once the relay is done, the rest is the backend's.
    while receiver.len() < n && Instant::now() < deadline {
        if relayed_after.is_none() && relay.stats().relayed >= n as u64 {
            relayed_after = Some(started.elapsed());
        }
        receiver.wait_for(n, Duration::from_millis(5)).await;
    }
    let elapsed = started.elapsed();
    let got = receiver.len();
    let stats = relay.shutdown().await;
    receiver.clear();
    if stats.failures > 0 || got != n {
        println!(
            "  relay: {got} of {n} received, {} relayed in {} batches, {} refused",
            stats.relayed, stats.batches, stats.failures
        );
    }
    RelayRound {
        rate: got as f64 / elapsed.as_secs_f64(),
        relayed_after: relayed_after.unwrap_or(elapsed),
        elapsed,
    }
}

/// With a relay to `"default"` running, events committed one per
/// transaction at a steady rate: the delay from each commit's return to
/// the receiver's request (p50, p99, max), and the NOTIFYs the commits
/// sent.
async fn delay_rows(
    pool: &sqlx::PgPool,
    outbox: &Outbox,
    config: &Config,
    receiver: &MockReceiver,
) {
    let thorn = Thorn::new(config.clone(), &thorn::registry()).unwrap();
    thorn
        .subscribe(
            Subscriber::builder("flow.*", receiver.url("/flow"), crate::SECRET)
                .build()
                .unwrap(),
        )
        .await
        .unwrap();
    let relay = outbox.relay(pool.clone(), thorn);
    for rate in FLOWS {
        receiver.clear();
        let mut listener = sqlx::postgres::PgListener::connect_with(pool)
            .await
            .unwrap();
        listener.listen("thorn_outbox").await.unwrap();
        let n = (f64::from(rate) * FLOW_FOR.as_secs_f64()) as usize;
        let committed: Arc<Mutex<Vec<Option<Instant>>>> = Arc::new(Mutex::new(vec![None; n]));
        let mut tick = tokio::time::interval(Duration::from_secs(1) / rate);
        let mut commits = Vec::with_capacity(n);
        for i in 0..n {
            tick.tick().await;
            let (pool, outbox, committed) = (pool.clone(), outbox.clone(), Arc::clone(&committed));
            commits.push(tokio::spawn(async move {
                let mut tx = pool.begin().await.unwrap();
                let event = Event::new("flow.tick", json!({"seq": i})).unwrap();
                outbox.send(&mut *tx, &event).await.unwrap();
                tx.commit().await.unwrap();
                committed.lock().unwrap()[i] = Some(Instant::now());
            }));
        }
        for c in commits {
            c.await.unwrap();
        }
        let got = receiver.wait_for(n, Duration::from_secs(60)).await;
        // A NOTIFY of our own, committed after every event: the ones
        // before it are the commits'.
        sqlx::query("SELECT pg_notify('thorn_outbox', 'bench-end')")
            .execute(pool)
            .await
            .unwrap();
        let mut notifies = 0;
        while listener.recv().await.unwrap().payload() != "bench-end" {
            notifies += 1;
        }
        let committed = committed.lock().unwrap().clone();
        let mut delays: Vec<Duration> = receiver
            .requests_on("/flow")
            .iter()
            .filter_map(|r| {
                let seq = usize::try_from(r.json()?.get("seq")?.as_u64()?).ok()?;
                let at = (*committed.get(seq)?)?;
                Some(r.received_at.saturating_duration_since(at))
            })
            .collect();
        delays.sort();
        let pct = |p: usize| {
            delays
                .get((delays.len() * p / 100).min(delays.len().saturating_sub(1)))
                .map_or(f64::NAN, |d| d.as_secs_f64() * 1e3)
        };
        println!(
            "outbox relay -> default delay, {rate}/s steady for {}s: commit to receiver p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms ({got} of {n} received; {notifies} NOTIFYs)",
            FLOW_FOR.as_secs(),
            pct(50),
            pct(99),
            delays.last().map_or(f64::NAN, |d| d.as_secs_f64() * 1e3),
        );
    }
    let stats = relay.shutdown().await;
    println!(
        "relay after the delay rows: {} relayed in {} batches",
        stats.relayed, stats.batches
    );
    receiver.clear();
}

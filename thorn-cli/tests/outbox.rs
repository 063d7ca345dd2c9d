//! The outbox under fire, with the real `thorn` binary as relays: 10,000
//! events written by concurrent transactions (some rolled back) while two
//! relays run; one relay is SIGKILLed, PostgreSQL is restarted once. Every
//! committed event arrives, no rolled-back one does, and a repeat is only
//! of a batch that was in flight, under the same delivery id.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use serde_json::json;
use support::{start, thorn};
use thorn::postgres::{Outbox, PgStore};
use thorn::{Config, Event, Subscriber, SubscriberStore};
use thorn_testkit::postgres_server::PostgresServer;
use thorn_testkit::receiver::MockReceiver;

const WRITERS: usize = 10;
const TRANSACTIONS: usize = 110;
const PER_TRANSACTION: usize = 10;
const BATCH: &str = "100";

/// Writes `TRANSACTIONS` transactions of `PER_TRANSACTION` events, every
/// eleventh rolled back; the numbers of the committed events, and of the
/// rolled-back ones.
async fn write(
    pool: sqlx::PgPool,
    outbox: Outbox,
    writer: usize,
    half: usize,
) -> (Vec<u64>, Vec<u64>) {
    let (mut committed, mut rolled_back) = (Vec::new(), Vec::new());
    for t in 0..TRANSACTIONS / 2 {
        let t = half * TRANSACTIONS / 2 + t;
        let mut tx = pool.begin().await.unwrap();
        let mut numbers = Vec::new();
        for e in 0..PER_TRANSACTION {
            let n = ((writer * TRANSACTIONS + t) * PER_TRANSACTION + e) as u64;
            outbox
                .send(
                    &mut *tx,
                    &Event::new("order.created", json!({"n": n})).unwrap(),
                )
                .await
                .unwrap();
            numbers.push(n);
        }
        if t % 11 == 10 {
            tx.rollback().await.unwrap();
            rolled_back.extend(numbers);
        } else {
            tx.commit().await.unwrap();
            committed.extend(numbers);
        }
    }
    (committed, rolled_back)
}

async fn write_all(pool: &sqlx::PgPool, outbox: &Outbox, half: usize) -> (Vec<u64>, Vec<u64>) {
    let tasks: Vec<_> = (0..WRITERS)
        .map(|w| tokio::spawn(write(pool.clone(), outbox.clone(), w, half)))
        .collect();
    let (mut committed, mut rolled_back) = (Vec::new(), Vec::new());
    for task in tasks {
        let (c, r) = task.await.unwrap();
        committed.extend(c);
        rolled_back.extend(r);
    }
    (committed, rolled_back)
}

/// A private PostgreSQL migrated by `thorn migrate`; the variables that
/// name it (loopback receivers allowed, relays polling every 200 ms, and
/// `extra`), a config of them and a pool.
async fn migrated(
    extra: &[(&'static str, &'static str)],
) -> (
    PostgresServer,
    Vec<(&'static str, String)>,
    Config,
    sqlx::PgPool,
) {
    let pg = PostgresServer::start().await.expect("PostgreSQL starts");
    let mut vars = vec![
        ("THORN_PG_URL", pg.url()),
        (
            "THORN_RECIPIENT_VALIDATORS",
            "allow_loopback,allow_any_port".to_owned(),
        ),
        ("THORN_OUTBOX_POLL", "200ms".to_owned()),
    ];
    vars.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
    let borrowed = as_vars(&vars);
    assert_eq!(thorn(&["migrate"], &borrowed).await.ok().trim(), "migrated");
    let config = Config::from_vars(borrowed).unwrap();
    let pool = thorn::postgres::connect(&config).await.unwrap();
    (pg, vars, config, pool)
}

fn as_vars<'a>(owned: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    owned.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_committed_event_arrives_through_a_killed_relay_and_a_restart() {
    let (pg, owned, config, pool) = migrated(&[("THORN_OUTBOX_BATCH", BATCH)]).await;
    let vars = as_vars(&owned);
    let store = PgStore::new(pool.clone(), &config).await.unwrap();
    let receiver = MockReceiver::start().await.unwrap();
    let sub = Subscriber::builder("order.*", receiver.url("/orders"), "k")
        .build()
        .unwrap();
    store.add(sub).await.unwrap();
    let outbox = Outbox::new(&config).unwrap();

    let first = start(&["outbox", "relay", "--store", "postgres"], &vars);
    let mut second = start(&["outbox", "relay", "--store", "postgres"], &vars);
    second.stderr_until("relaying the outbox").await.unwrap();

    let (mut committed, mut rolled_back) = write_all(&pool, &outbox, 0).await;
    // Killed as a crash would, whatever it holds.
    let _ = receiver.wait_for(2_000, Duration::from_secs(30)).await;
    drop(first);
    // Restarted while the other relay works: it reconnects and goes on.
    let _ = receiver.wait_for(4_000, Duration::from_secs(30)).await;
    pg.restart().await.unwrap();
    let (c, r) = write_all(&pool, &outbox, 1).await;
    committed.extend(c);
    rolled_back.extend(r);
    assert_eq!(committed.len(), 10_000);

    let arrived = receiver
        .wait_for(committed.len(), Duration::from_secs(60))
        .await;
    assert!(
        arrived >= committed.len(),
        "{arrived} of {}",
        committed.len()
    );
    // Let the outbox drain, then stop the relay.
    let mut left = u64::MAX;
    for _ in 0..100 {
        left = outbox.len(&pool).await.unwrap();
        if left == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(left, 0, "the outbox drains");
    second.terminate().unwrap();
    let (ok, stderr) = second.exit().await.unwrap();
    assert!(ok, "{stderr}");

    let mut ids_of: HashMap<u64, HashSet<String>> = HashMap::new();
    let mut count_of: HashMap<u64, usize> = HashMap::new();
    for request in receiver.requests() {
        let n = request.json().unwrap()["n"].as_u64().unwrap();
        ids_of
            .entry(n)
            .or_default()
            .insert(request.delivery().unwrap().to_owned());
        *count_of.entry(n).or_default() += 1;
    }
    let committed: HashSet<u64> = committed.into_iter().collect();
    for n in &committed {
        assert!(count_of.contains_key(n), "committed event {n} arrived");
    }
    for n in &rolled_back {
        assert!(
            !count_of.contains_key(n),
            "rolled-back event {n} never arrives"
        );
    }
    let repeated: Vec<u64> = count_of
        .iter()
        .filter(|(_, c)| **c > 1)
        .map(|(n, _)| *n)
        .collect();
    // A repeat is of a batch in flight when the relay died or PostgreSQL
    // went away: at most two batches.
    assert!(repeated.len() <= 2 * 100, "{} repeated", repeated.len());
    for n in &repeated {
        assert_eq!(
            ids_of[n].len(),
            1,
            "event {n} repeats under its one delivery id"
        );
    }
    eprintln!(
        "{} deliveries of {} events, {} repeated",
        count_of.values().sum::<usize>(),
        count_of.len(),
        repeated.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_whose_delete_fails_says_the_outbox_failed() {
    let (_pg, owned, config, pool) = migrated(&[]).await;
    let vars = as_vars(&owned);
    // Every DELETE from the outbox fails, after the batch was handed over.
    sqlx::raw_sql(
        "CREATE FUNCTION thorn.refuse_delete() RETURNS trigger LANGUAGE plpgsql AS $$ \
         BEGIN RAISE EXCEPTION 'deletes are refused here'; END $$; \
         CREATE TRIGGER refuse_delete BEFORE DELETE ON thorn.outbox \
         FOR EACH ROW EXECUTE FUNCTION thorn.refuse_delete();",
    )
    .execute(&pool)
    .await
    .unwrap();
    let receiver = MockReceiver::start().await.unwrap();
    let store = PgStore::new(pool.clone(), &config).await.unwrap();
    store
        .add(
            Subscriber::builder("order.*", receiver.url("/orders"), "k")
                .build()
                .unwrap(),
        )
        .await
        .unwrap();
    let outbox = Outbox::new(&config).unwrap();
    let mut tx = pool.begin().await.unwrap();
    outbox
        .send(&mut *tx, &Event::new("order.created", json!({})).unwrap())
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let mut relay = start(&["outbox", "relay", "--store", "postgres"], &vars);
    let said = relay
        .stderr_until("relaying outbox events failed")
        .await
        .unwrap();
    relay.terminate().unwrap();
    let _ = relay.exit().await;
    let warning = said.lines().last().unwrap_or_default();
    assert!(
        warning.contains("the outbox failed") && warning.contains("deletes are refused here"),
        "{warning}"
    );
    assert!(!warning.contains("subscriber store"), "{warning}");
}

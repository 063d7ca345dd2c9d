//! How a relay finds committed rows without a NOTIFY in every commit: it
//! looks again within milliseconds while rows flow, backs off while the
//! outbox stays empty, and before a longer wait arms the wake-up, so that
//! one commit notifies it. And how a claim is handed over: separate
//! transactions side by side, one transaction's events in order.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::borrow::Cow;
use std::time::{Duration, Instant};

use common::{database, thorn};
use serde_json::json;
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use thorn::testkit::receiver::{MockReceiver, Reply};
use thorn::{Event, Subscriber};
use thorn_postgres::{Outbox, Relay, RelayStats};
use thorn_testkit::postgres_server::PostgresServer;

const WAIT: Duration = Duration::from_secs(20);

/// Polls the relay's counters until `ready` holds (or fails the test
/// after [`WAIT`]): the counters are what is asserted on, not the time.
async fn until(relay: &Relay, ready: impl Fn(&RelayStats) -> bool) -> RelayStats {
    let deadline = Instant::now() + WAIT;
    loop {
        let stats = relay.stats();
        if ready(&stats) {
            return stats;
        }
        assert!(
            Instant::now() < deadline,
            "the relay never got there: {stats:?}"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// A connection listening on the outbox's channel.
async fn listen(pool: &PgPool) -> PgListener {
    let mut listener = PgListener::connect_with(pool).await.unwrap();
    listener.listen("thorn_outbox").await.unwrap();
    listener
}

/// How many notifications the `thorn` schema's outbox sent before now: a
/// marker notified now comes after every one committed before it.
async fn notifications(pool: &PgPool, listener: &mut PgListener) -> usize {
    sqlx::query("SELECT pg_notify('thorn_outbox', 'marker')")
        .execute(pool)
        .await
        .unwrap();
    let mut seen = 0;
    loop {
        match listener.recv().await.unwrap().payload() {
            "marker" => return seen,
            "thorn" => seen += 1,
            _ => {}
        }
    }
}

/// Commits `n` events named `name`, one transaction each, one after
/// another.
async fn commit_each(pool: &PgPool, outbox: &Outbox, name: &str, n: usize) {
    for i in 0..n {
        let mut tx = pool.begin().await.unwrap();
        outbox
            .send(&mut *tx, &Event::new(name, json!({"i": i})).unwrap())
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_committed_while_the_relay_is_idle_are_found_without_a_notify() {
    // Waits never reach the length that arms the wake-up.
    let (_pg, pool, config) = database(&[("THORN_OUTBOX_POLL", "20ms")]).await;
    let receiver = MockReceiver::start().await.unwrap();
    let (thorn, _store) = thorn(&pool, &config).await;
    thorn
        .subscribe(
            Subscriber::builder("idle.*", receiver.url("/idle"), "k")
                .build()
                .unwrap(),
        )
        .await
        .unwrap();
    let outbox = Outbox::new(&config).unwrap();
    let mut listener = listen(&pool).await;
    let relay = outbox.relay(pool.clone(), thorn);
    // Idle: several looks found nothing.
    let idle = until(&relay, |s| s.polls >= 5 && s.idle_wait > Duration::ZERO).await;
    // Another schema's outbox notifying wakes nothing here: still no
    // wake-up after three more looks.
    sqlx::query("SELECT pg_notify('thorn_outbox', 'another_schema')")
        .execute(&pool)
        .await
        .unwrap();
    until(&relay, |s| s.polls >= idle.polls + 3).await;

    commit_each(&pool, &outbox, "idle.row", 5).await;
    assert_eq!(receiver.wait_for(5, WAIT).await, 5);
    // Stopped first: the marker below would wake it.
    let stats = relay.shutdown().await;
    assert_eq!(stats.relayed, 5);
    assert_eq!((stats.armed, stats.woken), (0, 0), "{stats:?}");
    assert_eq!(
        notifications(&pool, &mut listener).await,
        0,
        "no commit notified"
    );
    assert_eq!(outbox.len(&pool).await.unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_relay_backs_off_to_the_poll_interval() {
    let (_pg, pool, config) = database(&[("THORN_OUTBOX_POLL", "1s")]).await;
    let (thorn, _store) = thorn(&pool, &config).await;
    let outbox = Outbox::new(&config).unwrap();
    let relay = outbox.relay(pool.clone(), thorn);
    let reached = until(&relay, |s| s.idle_wait == Duration::from_secs(1)).await;
    // Waits of 2, 4, 8, … 512 ms, then the poll interval: the tenth empty
    // look waits a second (one or two more looks allowed for the time it
    // took to notice).
    assert!(
        (10..=12).contains(&reached.polls),
        "backed off by doubling: {reached:?}"
    );
    // It armed the wake-up before the long waits only.
    assert!(
        reached.armed >= 1 && reached.armed + 3 <= reached.polls,
        "{reached:?}"
    );
    // It stays at the poll interval.
    let later = until(&relay, |s| s.polls >= reached.polls + 2).await;
    assert_eq!(later.idle_wait, Duration::from_secs(1));
    assert_eq!(later.relayed, 0);
    relay.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sleeping_relay_is_woken_by_one_commit_per_sleep() {
    let (_pg, pool, config) = database(&[("THORN_OUTBOX_POLL", "60s")]).await;
    let receiver = MockReceiver::start().await.unwrap();
    let (thorn, _store) = thorn(&pool, &config).await;
    thorn
        .subscribe(
            Subscriber::builder("wake.*", receiver.url("/wake"), "k")
                .build()
                .unwrap(),
        )
        .await
        .unwrap();
    let outbox = Outbox::new(&config).unwrap();
    let mut listener = listen(&pool).await;
    let relay = outbox.relay(pool.clone(), thorn);
    until(&relay, |s| s.armed >= 1).await;

    commit_each(&pool, &outbox, "wake.row", 20).await;
    assert_eq!(receiver.wait_for(20, WAIT).await, 20);
    // Read before the marker below, which would wake it too.
    let stats = until(&relay, |s| s.woken >= 1).await;
    let notified = notifications(&pool, &mut listener).await;
    // The first commit after arming notified; any other only because the
    // relay had armed again, once each time.
    assert!(
        notified >= 1 && notified as u64 <= stats.armed,
        "{notified} NOTIFYs, {stats:?}"
    );
    assert_eq!(relay.shutdown().await.relayed, 20);
    assert_eq!(receiver.len(), 20, "delivered once each");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn separate_transactions_go_side_by_side_and_one_transaction_in_order() {
    let (_pg, pool, config) = database(&[]).await;
    let receiver = MockReceiver::start().await.unwrap();
    let (thorn, _store) = thorn(&pool, &config).await;
    for (path, ordered) in [("/free", false), ("/ordered", true)] {
        thorn
            .subscribe(
                Subscriber::builder("side.*", receiver.url(path), "k")
                    .ordered(ordered)
                    .build()
                    .unwrap(),
            )
            .await
            .unwrap();
    }
    // Slow answers on /free, so that requests made side by side overlap.
    receiver.script_path(
        "/free",
        (0..40).map(|_| Reply::status(200).delay(Duration::from_millis(100))),
    );
    let outbox = Outbox::new(&config).unwrap();
    // 30 transactions of one event, then one of 10.
    commit_each(&pool, &outbox, "side.solo", 30).await;
    let mut tx = pool.begin().await.unwrap();
    for i in 0..10 {
        outbox
            .send(
                &mut *tx,
                &Event::new("side.batch", json!({"i": i})).unwrap(),
            )
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();

    let relay = outbox.relay(pool.clone(), thorn);
    assert_eq!(receiver.wait_for(80, WAIT).await, 80);
    let stats = relay.shutdown().await;
    assert_eq!(stats.relayed, 40);
    // The ordered subscription alone has at most one request in flight.
    assert!(
        receiver.peak_in_flight() >= 3,
        "the transactions went one after another: peak {}",
        receiver.peak_in_flight()
    );
    let events = |path: &str, name: &str| -> Vec<u64> {
        receiver
            .requests_on(path)
            .iter()
            .filter(|r| r.event() == Some(name))
            .filter_map(|r| r.json()?.get("i")?.as_u64())
            .collect()
    };
    assert_eq!(
        events("/free", "side.batch"),
        (0..10).collect::<Vec<_>>(),
        "one transaction's events in order"
    );
    let mut solo = events("/free", "side.solo");
    solo.sort_unstable();
    assert_eq!(solo, (0..30).collect::<Vec<_>>(), "each once");
    assert_eq!(
        events("/ordered", "side.solo"),
        (0..30).collect::<Vec<_>>(),
        "an ordered subscription gets every event in outbox order"
    );
    assert_eq!(
        events("/ordered", "side.batch"),
        (0..10).collect::<Vec<_>>()
    );
    let mut ids = receiver.delivery_ids();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 80, "no delivery twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outbox_made_before_the_wake_up_upgrades_with_its_rows() {
    let pg = PostgresServer::start().await.expect("PostgreSQL starts");
    let url = pg.url();
    let mut config = thorn::Config::from_vars([("THORN_PG_URL", url.as_str())]).unwrap();
    config.recipients = thorn::RecipientPolicy::allow_loopback_any_port();
    let pool = thorn_postgres::connect(&config).await.unwrap();
    // The schema as the migrations before the wake-up left it.
    let mut before = sqlx::migrate::Migrator::new(std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/migrations"
    )))
    .await
    .unwrap();
    assert!(before.iter().any(|m| m.version == 4));
    before.migrations = Cow::Owned(before.iter().filter(|m| m.version < 4).cloned().collect());
    let mut conn = pool.acquire().await.unwrap();
    sqlx::query("CREATE SCHEMA thorn")
        .execute(&mut *conn)
        .await
        .unwrap();
    sqlx::query("SET search_path TO thorn")
        .execute(&mut *conn)
        .await
        .unwrap();
    before.run_direct(&mut *conn).await.unwrap();
    sqlx::query("RESET search_path")
        .execute(&mut *conn)
        .await
        .unwrap();
    drop(conn);

    // Rows written then, in three transactions, the old trigger notifying.
    let outbox = Outbox::new(&config).unwrap();
    let mut listener = listen(&pool).await;
    commit_each(&pool, &outbox, "up.old", 3).await;
    assert_eq!(notifications(&pool, &mut listener).await, 3, "the old way");

    thorn_postgres::migrate(&pool, &config).await.unwrap();
    let groups: i64 = sqlx::query_scalar("SELECT count(DISTINCT tx) FROM thorn.outbox")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(
        groups, 1,
        "older rows share one transaction: their order holds"
    );
    commit_each(&pool, &outbox, "up.new", 2).await;
    assert_eq!(
        notifications(&pool, &mut listener).await,
        0,
        "no relay asked to be woken"
    );

    let receiver = MockReceiver::start().await.unwrap();
    let (thorn, _store) = thorn(&pool, &config).await;
    thorn
        .subscribe(
            Subscriber::builder("up.*", receiver.url("/up"), "k")
                .build()
                .unwrap(),
        )
        .await
        .unwrap();
    let relay = outbox.relay(pool.clone(), thorn);
    assert_eq!(receiver.wait_for(5, WAIT).await, 5);
    assert_eq!(relay.shutdown().await.relayed, 5);
    let old: Vec<u64> = receiver
        .requests_on("/up")
        .iter()
        .filter(|r| r.event() == Some("up.old"))
        .filter_map(|r| r.json()?.get("i")?.as_u64())
        .collect();
    assert_eq!(old, [0, 1, 2]);
    assert_eq!(outbox.len(&pool).await.unwrap(), 0);
}

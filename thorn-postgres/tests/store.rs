//! `PgStore` with a real PostgreSQL: a subscription added in one process
//! matches in another within a second; owners are kept apart; secrets are
//! sealed at rest under THORN_PG_SECRET_KEY.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::database;
use thorn::{EventName, Subscriber, SubscriberStore};
use thorn_postgres::PgStore;

/// Waits, at most a second, until `store` matches `event` `n` times.
async fn matches_within_a_second(store: &PgStore, event: &str, n: usize) -> bool {
    let event = EventName::new(event).unwrap();
    let mut changes = store.changes();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(1);
    loop {
        if store.matching(&event, None).await.unwrap().len() == n {
            return true;
        }
        if tokio::time::timeout_at(deadline, changes.changed())
            .await
            .is_err()
        {
            return false;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_in_one_process_is_seen_in_another_within_a_second() {
    let (_pg, pool, config) = database(&[]).await;
    let here = PgStore::new(pool.clone(), &config).await.unwrap();
    // Another process: its own pool, its own index and listener.
    let other_pool = thorn_postgres::connect(&config).await.unwrap();
    let there = PgStore::new(other_pool, &config).await.unwrap();

    let sub = Subscriber::builder("order.*", "https://example.com/a", "k")
        .owner("alice")
        .build()
        .unwrap();
    let id = sub.id;
    here.add(sub).await.unwrap();
    assert!(matches_within_a_second(&there, "order.created", 1).await);
    let bobs = Subscriber::builder("order.*", "https://example.com/b", "k2")
        .owner("bob")
        .build()
        .unwrap();
    there.add(bobs).await.unwrap();
    assert!(matches_within_a_second(&here, "order.created", 2).await);
    assert_eq!(here.by_owner("alice").await.unwrap().len(), 1);
    assert_eq!(here.by_owner("bob").await.unwrap().len(), 1);
    let sender_match = here
        .matching(&EventName::new("order.created").unwrap(), Some("alice"))
        .await
        .unwrap();
    assert_eq!(sender_match.len(), 1, "a sender's event matches its own");
    assert_eq!(sender_match[0].id, id);

    let mut disabled = (*here.get(id).await.unwrap().unwrap()).clone();
    disabled.enabled = false;
    here.add(disabled).await.unwrap();
    assert!(matches_within_a_second(&there, "order.created", 1).await);
    assert!(here.remove(id).await.unwrap());
    assert!(!here.remove(id).await.unwrap());
    let mut changes = there.changes();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(1);
    while there.get(id).await.unwrap().is_some() {
        let changed = tokio::time::timeout_at(deadline, changes.changed()).await;
        assert!(
            changed.is_ok(),
            "the removal reaches the other process within a second"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_are_sealed_at_rest_under_the_key() {
    let key = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    let (_pg, pool, config) = database(&[("THORN_PG_SECRET_KEY", key)]).await;
    let store = PgStore::new(pool.clone(), &config).await.unwrap();
    let sub = Subscriber::builder(
        "a.*",
        "https://example.com/",
        "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
    )
    .previous_secret("old-secret")
    .build()
    .unwrap();
    store.add(sub).await.unwrap();
    let (secret, previous): (String, Vec<String>) =
        sqlx::query_as("SELECT secret, previous_secrets FROM thorn.subscriptions")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(
        secret.starts_with("aesgcm1:") && !secret.contains("whsec_"),
        "{secret}"
    );
    assert!(previous[0].starts_with("aesgcm1:"));

    // Another process with the key reads them; one without skips them.
    let with_key = PgStore::new(pool.clone(), &config).await.unwrap();
    let read = with_key.all().await.unwrap();
    assert_eq!(
        read[0].secret.expose(),
        "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"
    );
    assert_eq!(read[0].previous_secrets[0].expose(), "old-secret");
    let mut no_key = config.clone();
    no_key.set_var("THORN_PG_SECRET_KEY", "").unwrap();
    let without = PgStore::new(pool.clone(), &no_key).await.unwrap();
    assert!(
        without.is_empty(),
        "a sealed secret is not read without its key"
    );
}

#[tokio::test]
async fn an_unreachable_database_is_named_without_its_password() {
    // A port nothing listens on: below 1024, where no test's server (all
    // on ports the system hands out, 32768 and up) can be meanwhile.
    let port = 1;
    let url = format!("postgres://thorn:hunter2@127.0.0.1:{port}/app");
    let config = thorn::Config::from_vars([("THORN_PG_URL", url.as_str())]).unwrap();
    let e = thorn_postgres::connect(&config)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(&format!("127.0.0.1:{port}")) && e.contains("THORN_PG_URL"),
        "{e}"
    );
    assert!(!e.contains("hunter2"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_are_kept_through_create_and_update() {
    let (_pg, pool, config) = database(&[]).await;
    let store = PgStore::new(pool.clone(), &config).await.unwrap();
    // Another process's store reads the rows themselves, not this one's
    // index.
    let reread = |id| {
        let (pool, config) = (pool.clone(), config.clone());
        async move {
            let other = PgStore::new(pool, &config).await.unwrap();
            (*other.get(id).await.unwrap().unwrap()).clone()
        }
    };
    let sub = Subscriber::builder("order.*", "https://example.com/limits", "k")
        .owner("alice")
        .rate_limit(10, 5)
        .max_in_flight(3)
        .ordered(true)
        .build()
        .unwrap();
    let created = store.create(sub.clone(), None).await.unwrap();
    let mut expected = sub;
    expected.revision = 1;
    assert_eq!(*created, expected);
    assert_eq!(*store.get(expected.id).await.unwrap().unwrap(), expected);
    assert_eq!(reread(expected.id).await, expected);

    let mut changed = expected.clone();
    changed.rate_limit = Some(thorn::limits::RateLimit::new(200, 1).unwrap());
    changed.max_in_flight = Some(u32::MAX);
    changed.ordered = false;
    let stored = store.update(changed.clone()).await.unwrap();
    changed.revision = 2;
    assert_eq!(*stored, changed);
    assert_eq!(*store.get(changed.id).await.unwrap().unwrap(), changed);
    assert_eq!(reread(changed.id).await, changed);

    let mut cleared = changed.clone();
    cleared.rate_limit = None;
    cleared.max_in_flight = None;
    store.update(cleared.clone()).await.unwrap();
    cleared.revision = 3;
    assert_eq!(*store.get(cleared.id).await.unwrap().unwrap(), cleared);
    assert_eq!(reread(cleared.id).await, cleared);

    // The table refuses what a subscription cannot hold, whoever writes.
    for bad in [
        "max_in_flight = 0",
        "rate_limit_per_second = 0, rate_limit_burst = 1",
        "rate_limit_per_second = 4294967296, rate_limit_burst = 1",
        "rate_limit_per_second = NULL, rate_limit_burst = 4",
    ] {
        let refused = sqlx::query(&format!("UPDATE thorn.subscriptions SET {bad}"))
            .execute(&pool)
            .await;
        assert!(refused.is_err(), "{bad} is refused");
    }
}

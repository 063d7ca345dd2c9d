//! Concurrent requests that change one subscription, against each store
//! (memory, Redis, PostgreSQL): the owner's limit holds, a rotation and a
//! change made at once are both kept or one is a 409, and a removal is
//! never undone by a change that read before it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;

use serde_json::json;
use support::{Answer, Http, serve, with_owner_header};
use thorn::{Config, MemoryStore, RecipientPolicy, Subscriber, SubscriberStore, Thorn};
use thorn_redis::{RedisOptions, RedisStore};
use thorn_testkit::client::{Method, StatusCode};
use thorn_testkit::postgres_server::PostgresServer;
use thorn_testkit::redis_server::RedisServer;
use uuid::Uuid;

/// Rounds of each two-request race.
const ROUNDS: usize = 25;

/// The API over `store`, and the config it was made with.
async fn api(store: Arc<dyn SubscriberStore>, config: Config) -> Http {
    let thorn = Thorn::builder()
        .config(config)
        .store(store)
        .build()
        .unwrap();
    let app = axum::Router::new().nest("/hooks", thorn_axum::subscriptions(thorn).unwrap());
    Http::new(serve(with_owner_header(app)).await)
}

fn config(vars: &[(&str, &str)]) -> Config {
    let mut config = Config::from_vars(vars.iter().copied()).unwrap();
    config.recipients = RecipientPolicy::allow_loopback_any_port();
    config
}

async fn create(http: &Http, owner: &str, host: &str) -> Answer {
    let body = json!({"event": "order.*", "url": format!("https://{host}.example.com/hooks")});
    http.call(Method::POST, "/hooks", Some(owner), Some(body))
        .await
}

fn id_of(answer: &Answer) -> Uuid {
    assert_eq!(answer.status, StatusCode::CREATED, "{answer:?}");
    Uuid::parse_str(answer.json()["id"].as_str().unwrap()).unwrap()
}

fn conflict(answer: &Answer) {
    assert_eq!(answer.status, StatusCode::CONFLICT, "{answer:?}");
    assert_eq!(answer.content_type(), "application/problem+json");
}

/// An owner at 95 of 100 sends 20 creations at once: exactly 5 pass.
async fn the_limit_holds(http: &Http, store: &dyn SubscriberStore) {
    for i in 0..95 {
        id_of(&create(http, "olga", &format!("seed{i}")).await);
    }
    let racing = (0..20).map(|i| {
        let http = http.clone();
        tokio::spawn(async move { create(&http, "olga", &format!("race{i}")).await })
    });
    let answers = futures_util::future::join_all(racing).await;
    let mut created = 0;
    for answer in answers {
        let answer = answer.unwrap();
        if answer.status == StatusCode::CREATED {
            created += 1;
        } else {
            conflict(&answer);
            assert_eq!(answer.json()["title"], "limit reached", "{answer:?}");
        }
    }
    assert_eq!(created, 5);
    assert_eq!(store.by_owner("olga").await.unwrap().len(), 100);
}

/// A rotation and a change sent at once: each that answered 200 is in
/// the stored subscription; the other answered 409.
async fn rotation_and_change_both_hold(http: &Http, store: &dyn SubscriberStore) {
    for round in 0..ROUNDS {
        let id = id_of(&create(http, "rita", &format!("rotate{round}")).await);
        let before = store.get(id).await.unwrap().unwrap();
        let path = format!("/hooks/{id}");
        let new_url = format!("https://moved{round}.example.com/hooks");
        let rotate = format!("{path}/rotate-secret");
        let (rotated, patched) = tokio::join!(
            http.call(Method::POST, &rotate, Some("rita"), None),
            http.call(
                Method::PATCH,
                &path,
                Some("rita"),
                Some(json!({"url": new_url}))
            ),
        );
        let after = store.get(id).await.unwrap().unwrap();
        if rotated.status == StatusCode::OK {
            let secret = rotated.json()["secret"].as_str().unwrap().to_owned();
            assert_eq!(
                after.secret.expose(),
                secret,
                "round {round}: the rotation was lost"
            );
            assert_eq!(
                after
                    .previous_secrets
                    .first()
                    .map(|s| s.expose().to_owned()),
                Some(before.secret.expose().to_owned()),
                "round {round}: the previous secret was lost"
            );
        } else {
            conflict(&rotated);
            assert_eq!(after.secret, before.secret, "round {round}");
        }
        if patched.status == StatusCode::OK {
            assert_eq!(
                after.url.as_str(),
                new_url,
                "round {round}: the change was lost"
            );
        } else {
            conflict(&patched);
            assert_eq!(after.url, before.url, "round {round}");
        }
        assert!(
            rotated.status == StatusCode::OK || patched.status == StatusCode::OK,
            "round {round}: one of the two goes through: {rotated:?} {patched:?}"
        );
        let expected = 1
            + u64::from(rotated.status == StatusCode::OK)
            + u64::from(patched.status == StatusCode::OK);
        assert_eq!(after.revision, expected, "round {round}");
    }
}

/// A removal and a change sent at once: a removal that answered 204 stays
/// removed.
async fn a_removal_is_not_undone(http: &Http, store: &dyn SubscriberStore) {
    for round in 0..ROUNDS {
        let id = id_of(&create(http, "dora", &format!("delete{round}")).await);
        let path = format!("/hooks/{id}");
        let (removed, patched) = tokio::join!(
            http.call(Method::DELETE, &path, Some("dora"), None),
            http.call(
                Method::PATCH,
                &path,
                Some("dora"),
                Some(json!({"enabled": false}))
            ),
        );
        assert_eq!(removed.status, StatusCode::NO_CONTENT, "{removed:?}");
        assert!(
            [StatusCode::OK, StatusCode::CONFLICT, StatusCode::NOT_FOUND].contains(&patched.status),
            "{patched:?}"
        );
        assert!(
            store.get(id).await.unwrap().is_none(),
            "round {round}: the removed subscription is back"
        );
        let shown = http.call(Method::GET, &path, Some("dora"), None).await;
        assert_eq!(
            shown.status,
            StatusCode::NOT_FOUND,
            "round {round}: {shown:?}"
        );
    }
}

async fn every_race(store: Arc<dyn SubscriberStore>, config: Config) {
    let http = api(Arc::clone(&store), config).await;
    the_limit_holds(&http, store.as_ref()).await;
    rotation_and_change_both_hold(&http, store.as_ref()).await;
    a_removal_is_not_undone(&http, store.as_ref()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn races_on_the_memory_store() {
    every_race(Arc::new(MemoryStore::new()), config(&[])).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn races_on_the_redis_store() {
    let redis = RedisServer::start().await.expect("redis-server starts");
    let options = RedisOptions::default().url(redis.url());
    let store = Arc::new(RedisStore::new(&options, "races").unwrap());
    every_race(store, config(&[])).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn races_on_the_postgres_store() {
    let pg = PostgresServer::start()
        .await
        .expect("PostgreSQL starts (apt-get install postgresql)");
    let url = pg.url();
    let config = config(&[("THORN_PG_URL", url.as_str())]);
    let pool = thorn_postgres::connect(&config).await.unwrap();
    thorn_postgres::migrate(&pool, &config).await.unwrap();
    let store = Arc::new(thorn_postgres::PgStore::new(pool, &config).await.unwrap());
    every_race(store, config).await;
}

/// The stores' compare-and-set, without HTTP: a change read at an old
/// revision is refused whatever the store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_change_is_refused_by_every_store() {
    let redis = RedisServer::start().await.expect("redis-server starts");
    let pg = PostgresServer::start().await.expect("PostgreSQL starts");
    let url = pg.url();
    let pg_config = config(&[("THORN_PG_URL", url.as_str())]);
    let pool = thorn_postgres::connect(&pg_config).await.unwrap();
    thorn_postgres::migrate(&pool, &pg_config).await.unwrap();
    let stores: Vec<(&str, Arc<dyn SubscriberStore>)> = vec![
        ("memory", Arc::new(MemoryStore::new())),
        (
            "redis",
            Arc::new(RedisStore::new(&RedisOptions::default().url(redis.url()), "cas").unwrap()),
        ),
        (
            "postgres",
            Arc::new(
                thorn_postgres::PgStore::new(pool, &pg_config)
                    .await
                    .unwrap(),
            ),
        ),
    ];
    for (name, store) in stores {
        let sub = Subscriber::builder("a.*", "https://a.example.com/", "k")
            .owner("o")
            .build()
            .unwrap();
        let read = store.create(sub.clone(), Some(1)).await.unwrap();
        assert_eq!(read.revision, 1, "{name}");
        let again = store.create(sub, None).await.unwrap_err();
        assert!(again.is_conflict(), "{name}: {again}");
        let other = Subscriber::builder("b.*", "https://b.example.com/", "k")
            .owner("o")
            .build()
            .unwrap();
        let limited = store.create(other, Some(1)).await.unwrap_err();
        assert!(
            matches!(limited, thorn::Error::OwnerLimit { limit: 1, .. }),
            "{name}: {limited}"
        );
        let mut first = (*read).clone();
        first.enabled = false;
        assert_eq!(store.update(first).await.unwrap().revision, 2, "{name}");
        let stale = store.update((*read).clone()).await.unwrap_err();
        assert!(stale.is_conflict(), "{name}: {stale}");
        assert!(
            stale.to_string().contains("revision 1, now 2"),
            "{name}: {stale}"
        );
        assert!(
            !store.get(read.id).await.unwrap().unwrap().enabled,
            "{name}"
        );
        assert!(store.remove(read.id).await.unwrap(), "{name}");
        let gone = store.update((*read).clone()).await.unwrap_err();
        assert!(gone.to_string().contains("was removed"), "{name}: {gone}");
    }
}

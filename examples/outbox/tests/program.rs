//! The shop as a user runs it, with a real PostgreSQL, a real Redis, a
//! worker and a receiver: an order's event arrives through the relay and
//! `"redis"`; a refused order's event never does.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use thorn::postgres::PgStore;
use thorn::{Config, Subscriber, SubscriberStore};
use thorn_testkit::client::{Method, request_json};
use thorn_testkit::postgres_server::PostgresServer;
use thorn_testkit::program::Program;
use thorn_testkit::receiver::MockReceiver;
use thorn_testkit::redis_server::RedisServer;

async fn post(addr: &str, body: &str) -> (u16, String) {
    let json = serde_json::from_str(body).unwrap();
    let answer = request_json(addr.parse().unwrap(), Method::POST, "/orders", Some(json)).await;
    (
        answer.status.as_u16(),
        String::from_utf8_lossy(&answer.body).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_orders_event_arrives_through_the_relay_and_redis() {
    let pg = PostgresServer::start().await.unwrap();
    let redis = RedisServer::start().await.unwrap();
    let receiver = MockReceiver::start().await.unwrap();
    let (pg_url, redis_url) = (pg.url(), redis.url());
    let vars = [
        ("THORN_PG_URL", pg_url.as_str()),
        ("THORN_REDIS_URL", redis_url.as_str()),
        ("THORN_DISPATCHER", "redis"),
        (
            "THORN_RECIPIENT_VALIDATORS",
            "allow_loopback,allow_any_port",
        ),
        ("OUTBOX_ADDR", "127.0.0.1:0"),
        ("RUST_LOG", "warn"),
    ];
    // The subscription, in PostgreSQL before the shop starts: it loads it.
    let config = Config::from_vars(
        vars.iter()
            .copied()
            .filter(|(k, _)| k.starts_with("THORN_")),
    )
    .unwrap();
    let pool = thorn::postgres::connect(&config).await.unwrap();
    thorn::postgres::migrate(&pool, &config).await.unwrap();
    let store = PgStore::new(pool, &config).await.unwrap();
    store
        .add(
            Subscriber::builder("order.*", receiver.url("/orders"), "k")
                .build()
                .unwrap(),
        )
        .await
        .unwrap();
    // A worker delivers what the relay queues.
    let worker = thorn::redis::Worker::builder(config.clone())
        .options(thorn::redis::RedisOptions::from_config(&config).unwrap())
        .build()
        .unwrap();
    let stop = worker.shutdown_handle();
    let running = tokio::spawn(worker.run());

    let mut shop = Program::start(env!("CARGO_BIN_EXE_outbox"), &vars).unwrap();
    let line = shop.line().await.unwrap();
    let addr = line
        .strip_prefix("listening on http://")
        .expect(&line)
        .to_owned();

    let (status, refused) = post(&addr, r#"{"item": "tea", "quantity": 0}"#).await;
    assert_eq!(status, 422, "{refused}");
    let (status, body) = post(&addr, r#"{"item": "book", "quantity": 2}"#).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(receiver.wait_for(1, Duration::from_secs(20)).await, 1);
    let request = receiver.requests().remove(0);
    assert_eq!(request.event(), Some("order.created"));
    let data = request.json().unwrap();
    assert_eq!(
        (data["item"].as_str(), data["quantity"].as_u64()),
        (Some("book"), Some(2))
    );
    assert_eq!(
        data["id"],
        serde_json::from_str::<serde_json::Value>(&body).unwrap()["id"]
    );

    shop.terminate().unwrap();
    let (ok, stderr) = shop.exit().await.unwrap();
    assert!(ok, "{stderr}");
    assert_eq!(receiver.len(), 1, "the refused order's event never arrives");
    stop.shutdown();
    running.await.unwrap().unwrap();
}

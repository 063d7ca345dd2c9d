//! The outbox with a real PostgreSQL, real receivers and a real Redis: a
//! rollback sends nothing, a commit is delivered once, through "default"
//! and through "redis"; a batch the backend refuses stays until it can go.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{database, thorn};
use serde_json::json;
use thorn::testkit::receiver::MockReceiver;
use thorn::{Event, Subscriber};
use thorn_postgres::Outbox;
use thorn_testkit::redis_server::RedisServer;

const WAIT: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollback_sends_nothing_and_a_commit_is_delivered_once() {
    let (_pg, pool, config) = database(&[]).await;
    let receiver = MockReceiver::start().await.unwrap();
    let (thorn, _store) = thorn(&pool, &config).await;
    let sub = Subscriber::builder("order.*", receiver.url("/orders"), "k")
        .build()
        .unwrap();
    let sub_id = sub.id;
    thorn.subscribe(sub).await.unwrap();
    let outbox = Outbox::new(&config).unwrap();

    let mut tx = pool.begin().await.unwrap();
    outbox
        .send(
            &mut *tx,
            &Event::new("order.created", json!({"id": 1})).unwrap(),
        )
        .await
        .unwrap();
    tx.rollback().await.unwrap();
    let mut tx = pool.begin().await.unwrap();
    let id = outbox
        .send(
            &mut *tx,
            &Event::new("order.created", json!({"id": 2})).unwrap(),
        )
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        outbox.len(&pool).await.unwrap(),
        1,
        "only the committed one"
    );

    let relay = outbox.relay(pool.clone(), thorn);
    assert_eq!(receiver.wait_for(1, WAIT).await, 1);
    let request = receiver.requests().remove(0);
    assert_eq!(request.json().unwrap(), json!({"id": 2}));
    // The delivery id derives from the event's id and the subscription's.
    let delivery = uuid::Uuid::parse_str(request.delivery().unwrap()).unwrap();
    assert_eq!(delivery, thorn::delivery::derived_id(id.id, sub_id, id.at));
    assert_eq!(request_time(delivery), id.at);
    let stats = relay.shutdown().await;
    assert_eq!(stats.relayed, 1);
    assert_eq!(
        outbox.len(&pool).await.unwrap(),
        0,
        "deleted once handed over"
    );
    assert_eq!(receiver.len(), 1, "delivered once");
}

/// The send time a v7 delivery id carries.
fn request_time(id: uuid::Uuid) -> std::time::SystemTime {
    let (s, n) = id.get_timestamp().unwrap().to_unix();
    std::time::UNIX_EPOCH + Duration::new(s, n)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_redis_and_a_refused_batch_waits_for_redis() {
    let redis = RedisServer::start().await.unwrap();
    let url = redis.url();
    let (_pg, pool, mut config) = database(&[("THORN_REDIS_URL", url.as_str())]).await;
    config.dispatcher = "redis".into();
    let receiver = MockReceiver::start().await.unwrap();
    let (thorn, _store) = thorn(&pool, &config).await;
    thorn
        .subscribe(
            Subscriber::builder("tick.*", receiver.url("/t"), "k")
                .build()
                .unwrap(),
        )
        .await
        .unwrap();
    let outbox = Outbox::new(&config).unwrap();
    let worker = thorn::redis::Worker::builder(config.clone())
        .options(thorn::redis::RedisOptions::from_config(&config).unwrap())
        .build()
        .unwrap();
    let stop = worker.shutdown_handle();
    let running = tokio::spawn(worker.run());

    let mut tx = pool.begin().await.unwrap();
    for n in 0..50 {
        outbox
            .send(&mut *tx, &Event::new("tick.a", json!({"n": n})).unwrap())
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
    let relay = outbox.relay(pool.clone(), thorn.clone());
    assert_eq!(receiver.wait_for(50, WAIT).await, 50);

    // Redis down: the relay's batch is refused and stays, with the error.
    redis.stop();
    let mut tx = pool.begin().await.unwrap();
    outbox
        .send(&mut *tx, &Event::new("tick.b", json!({"n": 50})).unwrap())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let mut deferred = None;
    for _ in 0..200 {
        let row: Option<(i32, Option<String>)> =
            sqlx::query_as("SELECT attempts, last_error FROM thorn.outbox")
                .fetch_optional(&pool)
                .await
                .unwrap();
        if let Some((attempts, error)) = row.filter(|(a, _)| *a > 0) {
            deferred = Some((attempts, error));
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (_attempts, error) = deferred.expect("the refused batch is kept with its error");
    assert!(
        error.unwrap().contains("redis"),
        "the error says what refused it"
    );
    assert!(relay.stats().failures >= 1);

    redis.restart().await.unwrap();
    assert_eq!(receiver.wait_for(51, WAIT).await, 51);
    relay.shutdown().await;
    stop.shutdown();
    running.await.unwrap().unwrap();
    assert_eq!(outbox.len(&pool).await.unwrap(), 0);
}

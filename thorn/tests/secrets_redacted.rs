//! No secret shows in the `Debug` of any public type that can hold one:
//! subscriptions and their builder, secrets, configs, events, the Redis
//! backend's options, dispatcher and store, the worker and its builder, and
//! dead letters read from a real Redis.
#![cfg(feature = "redis")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use thorn::redis::{DeadLetters, RedisDispatcher, RedisOptions, RedisStore, Worker};
use thorn::testkit::{receiver::MockReceiver, receiver::Reply, redis_server::RedisServer};
use thorn::{Config, Event, RecipientPolicy, Secret, Subscriber, Thorn};

const SECRET: &str = "current-secret-8d1f";
const OLD: &str = "previous-secret-42aa";
const REDIS_PASSWORD: &str = "redis-password-77c3";

fn assert_redacted(what: &str, debug: String) {
    for secret in [SECRET, OLD, REDIS_PASSWORD] {
        assert!(!debug.contains(secret), "{what} shows a secret: {debug}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_public_type_shows_a_secret_in_debug() {
    let builder =
        Subscriber::builder("order.*", "https://example.com/h", SECRET).previous_secret(OLD);
    assert_redacted("SubscriberBuilder", format!("{builder:?}"));
    let subscriber = builder.clone().build().unwrap();
    assert_redacted("Subscriber", format!("{subscriber:?}"));
    assert_redacted("Secret", format!("{:?}", Secret::new(SECRET).unwrap()));
    assert_redacted("Secret (generated)", format!("{:?}", Secret::generate()));

    let url = format!("redis://:{REDIS_PASSWORD}@127.0.0.1:6379/0");
    let config = Config::builder()
        .set(&thorn::redis::settings::URL, &url)
        .build()
        .unwrap();
    let config_with_secrets = config.clone();
    assert_redacted("Config", format!("{config:?}"));
    assert_redacted(
        "ConfigBuilder",
        format!(
            "{:?}",
            Config::builder().set(&thorn::redis::settings::URL, &url)
        ),
    );
    let options = RedisOptions::from_config(&config).unwrap();
    assert_redacted("RedisOptions", format!("{options:?}"));
    assert_redacted(
        "WorkerBuilder",
        format!("{:?}", Worker::builder(config.clone())),
    );
    assert_redacted(
        "Worker",
        format!("{:?}", Worker::builder(config).build().unwrap()),
    );
    assert_redacted(
        "DeadLetters",
        format!("{:?}", DeadLetters::new(options.clone()).unwrap()),
    );
    let store = RedisStore::new(&options, "subs").unwrap();
    assert_redacted("RedisStore", format!("{store:?}"));
    let dispatcher = RedisDispatcher::with_options(options, 10).unwrap();
    assert_redacted("RedisDispatcher", format!("{dispatcher:?}"));
    let thorn = Thorn::new(config_with_secrets, &thorn::registry()).unwrap();
    thorn.subscribe(subscriber.clone()).await.unwrap();
    assert_redacted("Thorn", format!("{thorn:?}"));
    let event = Event::new("order.paid", serde_json::json!({}))
        .unwrap()
        .also_to(subscriber);
    assert_redacted("Event", format!("{event:?}"));

    // A dead letter holds the whole delivery, subscription included.
    let redis = RedisServer::start().await.expect("redis-server starts");
    let receiver = MockReceiver::start().await.unwrap();
    receiver.otherwise(Reply::status(404));
    let mut config = Config::default();
    config.dispatcher = thorn::redis::NAME.into();
    config.set_var("THORN_REDIS_URL", redis.url()).unwrap();
    config.recipients = RecipientPolicy::allow_loopback_any_port();
    config.retry.enabled = false;
    let thorn = Thorn::new(config.clone(), &thorn::registry()).unwrap();
    let sub = Subscriber::builder("order.*", receiver.url("/h"), SECRET)
        .previous_secret(OLD)
        .build()
        .unwrap();
    thorn.subscribe(sub).await.unwrap();
    thorn
        .send(Event::new("order.paid", serde_json::json!({"n": 1})).unwrap())
        .await
        .unwrap();
    let worker = Worker::builder(config.clone())
        .block(Duration::from_millis(100))
        .build()
        .unwrap();
    let stop = worker.shutdown_handle();
    let running = tokio::spawn(worker.run());
    assert_eq!(receiver.wait_for(1, Duration::from_secs(20)).await, 1);
    stop.shutdown();
    let stats = running.await.unwrap().unwrap();
    assert_eq!(stats.dead, 1, "a 404 goes to the dead letters");
    let letters = DeadLetters::new(RedisOptions::from_config(&config).unwrap())
        .unwrap()
        .list(10)
        .await
        .unwrap();
    assert_eq!(letters.len(), 1);
    assert!(letters[0].delivery.is_some());
    assert_redacted("DeadLetter", format!("{:?}", letters[0]));
    assert_redacted("MockReceiver", format!("{receiver:?}"));
}

//! The service on a loopback port, posting to the testkit's `MockReceiver`:
//! each order is written and announced by exactly one signed
//! `order.created`; with `"default"` the delivery is made before the
//! answer, with `"redis"` only the enqueue; and an event that Redis refused
//! during a request is handed over at shutdown.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use axum::http::StatusCode;
use axum_app::{App, ServeError, Settings, serve};
use serde_json::json;
use support::{WAIT, get, post_order};
use thorn::testkit::receiver::MockReceiver;
use thorn::testkit::redis_server::RedisServer;
use thorn::{Config, Digest, Report, Secret, Status};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The service, serving in this test's runtime until stopped.
struct Running {
    addr: SocketAddr,
    app: App,
    stop: oneshot::Sender<()>,
    server: JoinHandle<Result<Report, ServeError>>,
}

impl Running {
    async fn start(config: Config, settings: &Settings) -> Running {
        let app = App::new(config, settings).await.unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let shutdown = async {
            let _ = stopped.await;
        };
        let server = tokio::spawn(serve(listener, app.clone(), shutdown));
        Running {
            addr,
            app,
            stop,
            server,
        }
    }

    /// Signals shutdown; the report of what `Thorn::shutdown` delivered.
    async fn stop(self) -> Report {
        self.stop.send(()).unwrap();
        tokio::time::timeout(WAIT, self.server)
            .await
            .expect("stops in time")
            .unwrap()
            .unwrap()
    }
}

/// A receiver that verifies both signatures under a new secret, and the
/// app's settings pointing at it.
async fn receiver() -> (MockReceiver, Settings) {
    let secret = Secret::generate();
    let receiver = MockReceiver::builder()
        .secret(secret.expose(), Digest::Sha256)
        .start()
        .await
        .unwrap();
    let settings = Settings {
        hook_url: receiver.url("/hooks"),
        ..Settings::new(secret)
    };
    (receiver, settings)
}

/// Checks that request `n` (from 0) of `receiver` announces `order`, signed.
fn assert_announced(receiver: &MockReceiver, n: usize, order: &serde_json::Value) {
    let request = &receiver.requests()[n];
    assert_eq!(request.path, "/hooks");
    assert_eq!(request.event(), Some("order.created"));
    assert!(request.header("webhook-signature").is_some());
    assert_eq!(
        request.signature_ok,
        Some(true),
        "Hook-HMAC and webhook-signature"
    );
    assert_eq!(request.json().as_ref(), Some(order));
}

fn redis_config(redis: &RedisServer) -> Config {
    Config::from_vars([
        ("THORN_DISPATCHER", "redis"),
        ("THORN_REDIS_URL", &redis.url()),
    ])
    .unwrap()
}

/// Runs a worker on `redis`'s queue, allowed to deliver to `receiver`, until
/// `receiver` has `n` requests; then stops it once what it holds is settled.
async fn work_until(redis: &RedisServer, receiver: &MockReceiver, n: usize) {
    let allow = format!("allow_loopback,allow_port={}", receiver.port());
    let config = Config::from_vars([
        ("THORN_REDIS_URL", redis.url()),
        ("THORN_RECIPIENT_VALIDATORS", allow),
    ])
    .unwrap();
    let worker = thorn::redis::Worker::builder(config)
        .block(Duration::from_millis(200))
        .build()
        .unwrap();
    let stop = worker.shutdown_handle();
    let task = tokio::spawn(worker.run());
    assert_eq!(receiver.wait_for(n, WAIT).await, n);
    stop.shutdown();
    let stats = tokio::time::timeout(WAIT, task).await.unwrap().unwrap();
    stats.expect("the worker ends cleanly");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_order_is_written_then_announced_once_signed_before_the_answer() {
    let (receiver, settings) = receiver().await;
    let running = Running::start(Config::default(), &settings).await;
    let addr = running.addr;

    let invalid = post_order(addr, json!({"item": " ", "quantity": 1})).await;
    assert_eq!(invalid.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(invalid.headers["content-type"], "application/problem+json");
    assert_eq!(invalid.json()["detail"], "item is blank");
    assert!(running.app.orders().is_empty() && receiver.is_empty());

    for n in 1..=2 {
        let answer = post_order(addr, json!({"item": format!("book {n}"), "quantity": n})).await;
        assert_eq!(answer.status, StatusCode::CREATED, "{answer:?}");
        let order = answer.json();
        assert_eq!(
            order,
            json!({"id": n, "item": format!("book {n}"), "quantity": n})
        );
        assert_eq!(answer.headers["location"], format!("/orders/{n}"));
        // The scope's flush delivered before the answer: nothing to wait for.
        assert_eq!(receiver.len(), n as usize, "one delivery per request");
        assert_announced(&receiver, n as usize - 1, &order);
        let stored = get(addr, &format!("/orders/{n}")).await;
        assert_eq!((stored.status, stored.json()), (StatusCode::OK, order));
    }
    let ids = receiver.delivery_ids();
    assert_ne!(ids[0], ids[1]);
    assert_eq!(get(addr, "/orders/3").await.status, StatusCode::NOT_FOUND);
    let at_shutdown = running.stop().await;
    assert!(at_shutdown.outcomes.is_empty(), "nothing was held");
    assert_eq!(receiver.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_the_answer_waits_only_for_the_enqueue() {
    let redis = RedisServer::start().await.expect("redis-server starts");
    let (receiver, settings) = receiver().await;
    let running = Running::start(redis_config(&redis), &settings).await;

    let answer = post_order(running.addr, json!({"item": "lamp", "quantity": 1})).await;
    assert_eq!(answer.status, StatusCode::CREATED, "{answer:?}");
    // Enqueued, not delivered: no worker has run yet.
    assert!(receiver.is_empty());
    assert_eq!(running.app.thorn().held_events(), 0);

    work_until(&redis, &receiver, 1).await;
    assert_eq!(receiver.len(), 1);
    assert_announced(&receiver, 0, &answer.json());
    assert!(running.stop().await.outcomes.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_hands_over_what_redis_refused_during_a_request() {
    let redis = RedisServer::start().await.expect("redis-server starts");
    let (receiver, settings) = receiver().await;
    let running = Running::start(redis_config(&redis), &settings).await;
    let thorn = running.app.thorn().clone();

    redis.stop();
    let answer = post_order(running.addr, json!({"item": "chair", "quantity": 4})).await;
    assert_eq!(answer.status, StatusCode::CREATED, "the order is written");
    let order = answer.json();
    assert_eq!(get(running.addr, "/orders/1").await.json(), order);
    assert_eq!(thorn.held_events(), 1, "its event is held, not lost");

    redis.restart().await.expect("redis-server restarts");
    let at_shutdown = running.stop().await;
    assert_eq!(at_shutdown.count(Status::Queued), 1, "{at_shutdown:?}");
    assert_eq!(thorn.held_events(), 0);

    work_until(&redis, &receiver, 1).await;
    assert_eq!(receiver.len(), 1);
    assert_announced(&receiver, 0, &order);
}

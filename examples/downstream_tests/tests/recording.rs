//! The order service's events, checked with the recording backend
//! (`thorn::testkit::recording`): nothing leaves the process, and every
//! delivery is kept to be looked at.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use order_service::{OrderError, Orders, events};
use thorn::testkit::recording::{self, Recorder};
use thorn::{Config, Subscriber, Thorn};

const SHOP_A: &str = "https://shop-a.example/hooks";
const SHOP_B: &str = "https://shop-b.example/hooks";

/// The service on a Thorn whose backend is `recorder`, with one
/// subscription to every order event for each of two shops.
async fn service() -> (Orders, Recorder) {
    let recorder = Recorder::new();
    let mut registry = thorn::registry();
    recording::register(&mut registry, recorder.clone());
    let config = Config::builder().dispatcher(recording::NAME).build().unwrap();
    let thorn = Thorn::new(config, &registry).unwrap();
    for (shop, url) in [("shop-a", SHOP_A), ("shop-b", SHOP_B)] {
        let sub = Subscriber::builder("order.*", url, "s3cret").owner(shop).build().unwrap();
        thorn.subscribe(sub).await.unwrap();
    }
    (Orders::new(thorn), recorder)
}

/// The JSON body of every delivery, in order.
fn bodies(recorder: &Recorder) -> Vec<serde_json::Value> {
    recorder.deliveries().iter().map(|d| serde_json::from_slice(&d.body).unwrap()).collect()
}

#[tokio::test]
async fn placing_an_order_tells_its_shop_and_no_other() {
    let (orders, recorder) = service().await;
    let order = orders.place("shop-a", "ada", 1250).await.unwrap();
    recorder.assert_events(&[events::CREATED]);
    recorder.assert_received(SHOP_A, 1);
    recorder.assert_received(SHOP_B, 0);
    assert_eq!(
        bodies(&recorder),
        [serde_json::json!({"id": order.id, "customer": "ada", "total_cents": 1250})]
    );
}

#[tokio::test]
async fn cancelling_sends_the_reason_once() {
    let (orders, recorder) = service().await;
    let order = orders.place("shop-b", "grace", 900).await.unwrap();
    orders.cancel(order.id, "out of stock").await.unwrap();
    assert!(orders.get(order.id).unwrap().cancelled);
    recorder.assert_events(&[events::CREATED, events::CANCELLED]);
    recorder.assert_received(SHOP_B, 2);
    assert_eq!(bodies(&recorder)[1], serde_json::json!({"id": order.id, "reason": "out of stock"}));

    // Refused changes send nothing.
    let again = orders.cancel(order.id, "twice").await.unwrap_err();
    assert!(matches!(again, OrderError::AlreadyCancelled(id) if id == order.id), "{again}");
    let unknown = orders.cancel(99, "no such order").await.unwrap_err();
    assert_eq!(unknown.to_string(), "no order 99");
    assert_eq!(recorder.len(), 2);
}

#[tokio::test]
async fn an_event_the_backend_could_not_take_is_sent_by_the_next_flush() {
    let (orders, recorder) = service().await;
    // As a queue that is down would: the next dispatch fails.
    recorder.fail_next(1);
    let err = orders.place("shop-a", "ada", 500).await.unwrap_err();
    let OrderError::Notify { order, event, source } = &err else { panic!("{err}") };
    assert_eq!((*event, source.is_retryable()), (events::CREATED, true), "{err}");
    assert!(orders.get(*order).is_some(), "the order is saved all the same");
    assert!(recorder.is_empty());
    assert_eq!(orders.thorn().held_events(), 1, "Thorn holds the event");

    orders.thorn().flush().await.unwrap();
    recorder.assert_events(&[events::CREATED]);
    recorder.assert_received(SHOP_A, 1);
}

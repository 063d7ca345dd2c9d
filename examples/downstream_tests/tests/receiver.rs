//! The order service's deliveries over real HTTP, through the `"default"`
//! backend, to a `MockReceiver` (`thorn::testkit::receiver`) that checks
//! signatures and declares what it should get as expectations.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use order_service::{Orders, events};
use thorn::testkit::receiver::{Expectation, MockReceiver, Reply};
use thorn::{Config, Digest, RecipientPolicy, RetryPolicy, Subscriber, Thorn};

const SECRET: &str = "s3cret";

/// A receiver that verifies signatures under [`SECRET`], and the service
/// on a Thorn that may send to it (loopback), with each shop subscribed to
/// every order event on its own path.
async fn service() -> (Orders, MockReceiver) {
    let receiver = MockReceiver::builder().secret(SECRET, Digest::Sha256).start().await.unwrap();
    let config = Config::builder()
        .recipients(RecipientPolicy::allow_loopback_any_port())
        // Quick retries, so that a failing receiver costs the test little.
        .retry(
            RetryPolicy::default().with_delays(Duration::from_millis(1), Duration::from_millis(10)),
        )
        .build()
        .unwrap();
    let thorn = Thorn::new(config, &thorn::registry()).unwrap();
    for shop in ["shop-a", "shop-b"] {
        let url = receiver.url(&format!("/{shop}"));
        thorn
            .subscribe(Subscriber::builder("order.*", url, SECRET).owner(shop).build().unwrap())
            .await
            .unwrap();
    }
    (Orders::new(thorn), receiver)
}

#[tokio::test]
async fn a_shop_gets_signed_deliveries_of_its_own_orders() {
    let (orders, receiver) = service().await;
    receiver
        .expect(Expectation::path("/shop-a").times(3))
        .expect(Expectation::event(events::CREATED).times(2))
        .expect(Expectation::path("/shop-a").with_event(events::CANCELLED).times(1))
        .expect(Expectation::path("/shop-b").times(0));

    let first = orders.place("shop-a", "ada", 1250).await.unwrap();
    orders.place("shop-a", "grace", 300).await.unwrap();
    orders.cancel(first.id, "changed mind").await.unwrap();

    // "default" delivers before `send` returns: everything has arrived.
    receiver.verify();
    assert!(
        receiver.requests().iter().all(|r| r.signature_ok == Some(true)),
        "every delivery verifies"
    );
    let cancelled = receiver.requests().pop().unwrap().json().unwrap();
    assert_eq!(cancelled, serde_json::json!({"id": first.id, "reason": "changed mind"}));
}

#[tokio::test]
async fn a_shop_that_is_down_does_not_fail_the_order() {
    let (orders, receiver) = service().await;
    receiver.otherwise(Reply::status(503));
    // Each attempt of "default" counts: three, then it gives up. Checked
    // when the receiver is dropped at the end of the test.
    receiver.expect(Expectation::path("/shop-b").with_event(events::CREATED).times(3));

    let order = orders.place("shop-b", "linus", 4200).await.unwrap();
    assert_eq!(orders.get(order.id), Some(order));
}

//! Sends a few webhooks to a local receiver through the `"default"` backend.
//!
//! ```text
//! cargo run -p thorn --example quickstart
//! THORN_DISPATCHER=disabled cargo run -p thorn --example quickstart
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use serde_json::json;
use thorn::{Config, Digest, Event, RecipientPolicy, Secret, Status, Subscriber, Thorn};
use thorn_testkit::receiver::MockReceiver;

#[tokio::main]
async fn main() -> thorn::Result<()> {
    // A new random secret, shared by the subscriptions and the receiver.
    let secret = Secret::generate();
    let secret = secret.expose();
    let receiver = MockReceiver::builder()
        .secret(secret, Digest::Sha256)
        .start()
        .await
        .expect("a local port for the receiver");

    // Thorn refuses loopback addresses and ports other than 80/443 by
    // default; allow the local receiver (and nothing else) for this demo.
    let mut config = Config::from_env()?;
    config.recipients =
        RecipientPolicy::parse(&format!("allow_loopback,allow_port={}", receiver.port()))?;
    let thorn = Thorn::new(config, &thorn::registry())?;
    println!(
        "dispatcher: {:?}; receiver at {}",
        thorn.dispatcher().name(),
        receiver.url("/")
    );

    thorn
        .subscribe(Subscriber::builder("article.*", receiver.url("/articles"), secret).build()?)
        .await?;
    thorn
        .subscribe(Subscriber::builder("*.created", receiver.url("/created"), secret).build()?)
        .await?;

    let mut report = thorn
        .send(Event::new(
            "article.created",
            json!({"id": 1, "title": "Hello"}),
        )?)
        .await?;
    report.extend(
        thorn
            .send(Event::new(
                "article.updated",
                json!({"id": 1, "title": "Hello, world"}),
            )?)
            .await?,
    );
    // A buffer scope: the three sends go out together when it ends.
    let ((), flushed) = thorn
        .buffer_events(async {
            for id in 2..=4 {
                thorn
                    .send(Event::new("article.created", json!({"id": id})).unwrap())
                    .await
                    .unwrap();
            }
        })
        .await;
    report.extend(flushed?);
    // Before exiting: deliver anything still held (nothing, here).
    report.extend(thorn.shutdown().await?);

    let expected = report.count(Status::Delivered);
    receiver.wait_for(expected, Duration::from_secs(5)).await;
    for r in receiver.requests() {
        let verified = match r.signature_ok {
            Some(true) => "signature ok",
            _ => "SIGNATURE MISMATCH",
        };
        println!(
            "received {} {:<16} delivery {} ({verified}) body {}",
            r.path,
            r.event().unwrap_or("?"),
            r.delivery().unwrap_or("?"),
            String::from_utf8_lossy(&r.body)
        );
    }
    println!(
        "summary: {} deliveries: {} delivered, {} failed, {} dropped; the receiver got {} requests on {} connection(s)",
        report.outcomes.len(),
        report.count(Status::Delivered),
        report
            .outcomes
            .iter()
            .filter(|o| o.status.is_failure())
            .count(),
        report.count(Status::Dropped),
        receiver.len(),
        receiver.connections()
    );
    if report.count(Status::Dropped) > 0 {
        println!(
            "THORN_DISPATCHER={}: nothing was sent",
            thorn.dispatcher().name()
        );
    }
    for o in report.outcomes.iter().filter(|o| o.status.is_failure()) {
        println!("failed: {} to {}: {:?}", o.event, o.subscriber.url, o.error);
    }
    Ok(())
}

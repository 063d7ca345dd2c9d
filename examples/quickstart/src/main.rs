//! The quickstart: sends a few webhooks to a local receiver through the
//! backend `THORN_DISPATCHER` names (`"default"` when unset), signed with a
//! freshly generated secret that the receiver verifies, and prints what the
//! receiver got.
//!
//! ```text
//! cargo run -p quickstart
//! THORN_DISPATCHER=disabled cargo run -p quickstart
//! ```
//!
//! The receiver listens on loopback, which Thorn refuses by default: the
//! program adds exactly that receiver to the `THORN_RECIPIENT_VALIDATORS`
//! you set, keeping the rest of your setting.

use std::process::ExitCode;
use std::time::Duration;

use serde_json::json;
use thorn::testkit::receiver::MockReceiver;
use thorn::{Config, Digest, Event, Report, Secret, Status, Subscriber, Thorn};

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(report) if report.is_success() => ExitCode::SUCCESS,
        Ok(_) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("quickstart: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<Report, Box<dyn std::error::Error>> {
    // A new random secret, shared by the subscriptions and the receiver.
    let secret = Secret::generate();
    let secret = secret.expose();
    let receiver = MockReceiver::builder()
        .secret(secret, Digest::Sha256)
        .start()
        .await?;

    // Thorn refuses loopback addresses and ports other than 80/443 by
    // default: add this receiver (and nothing else) to the user's setting.
    let mut config = Config::from_env()?;
    config.recipients.allow_loopback = true;
    if let Some(ports) = config.recipients.ports.as_mut() {
        ports.insert(receiver.port());
    }
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
    let (sent, flushed) = thorn
        .buffer_events(async {
            for id in 2..=4 {
                thorn
                    .send(Event::new("article.created", json!({"id": id}))?)
                    .await?;
            }
            Ok::<(), thorn::Error>(())
        })
        .await;
    sent?;
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
        let error = o.error.as_deref().unwrap_or("no error given");
        println!("failed: {} to {}: {error}", o.event, o.subscriber.url);
    }
    Ok(report)
}

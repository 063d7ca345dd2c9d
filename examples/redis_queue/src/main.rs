//! A producer and a worker in one program, on one Redis queue. Each send
//! is one entry on the queue (`THORN_DISPATCHER=redis`); a `Worker`
//! delivers the entries; the delivery the receiver rejects for good (a
//! 422, which is not retried) goes to the dead letters; the program lists
//! them with `thorn::redis::DeadLetters` and replays its own; a second run
//! of a worker delivers the replay, under the same delivery id.
//!
//! ```text
//! redis-server --daemonize yes   # a local Redis, or THORN_REDIS_URL=redis://host:port/
//! THORN_DISPATCHER=redis cargo run -p redis-queue
//! ```
//!
//! Without an argument it delivers to a receiver of its own that rejects
//! the first delivery to `/billing`. Given a receiver's base URL
//! (`cargo run -p redis-queue -- http://127.0.0.1:8080/`), it delivers to
//! `/warehouse` and `/billing` there, as `THORN_RECIPIENT_VALIDATORS`
//! allows (`allow_loopback,allow_port=8080` for that one). Each stage
//! waits at most 30 s for the worker.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use thorn::redis::{DeadLetters, RedisOptions};
use thorn::testkit::receiver::{MockReceiver, Reply};
use thorn::{Config, Event, Outcome, Report, Secret, Status, Subscriber, Thorn};

mod running;

use running::{Ended, RunningWorker};

type BoxError = Box<dyn std::error::Error>;

/// The longest the program waits for the worker to end a stage's
/// deliveries, or to stop.
const STAGE: Duration = Duration::from_secs(30);

#[tokio::main]
async fn main() -> ExitCode {
    match run(std::env::args().nth(1)).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("redis_queue: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(receiver_url: Option<String>) -> Result<(), BoxError> {
    let mut config = Config::from_env()?;
    if config.dispatcher != thorn::redis::NAME {
        let was = &config.dispatcher;
        return Err(format!("this example sends through the Redis queue: run it with THORN_DISPATCHER=redis (not {was:?})").into());
    }
    // Held to the end: a receiver stops when dropped.
    let mut own_receiver = None;
    let base = match receiver_url {
        Some(url) => url,
        None => own_receiver.insert(local_receiver(&mut config).await?).url("/"),
    };
    let base = base.trim_end_matches('/');

    // The producer: each send is one XADD, and its report says Queued.
    let thorn = Thorn::new(config.clone(), &thorn::registry())?;
    let secret = Secret::generate();
    for (pattern, path) in [("order.*", "warehouse"), ("order.created", "billing")] {
        let url = format!("{base}/{path}");
        thorn.subscribe(Subscriber::builder(pattern, url, secret.expose()).build()?).await?;
    }
    let mut queued = Report::default();
    for name in ["order.created", "order.shipped"] {
        let report = thorn.send(Event::new(name, serde_json::json!({"order": 1}))?).await?;
        println!("queued {name} for {} subscription(s)", report.count(Status::Queued));
        queued.extend(report);
    }

    let (mut ended, observer) = Ended::channel();
    let mut worker_config = config.clone();
    worker_config.observers.push(Arc::new(observer));
    let worker = RunningWorker::start(&worker_config)?;
    let first = ended.wait_for(&queued, STAGE).await?;
    // Stopped, it has settled every entry: the rejected delivery is a dead
    // letter by now.
    worker.stop(STAGE).await?;

    let dead = DeadLetters::new(RedisOptions::from_config(&config)?)?;
    let mut replayed = Report::default();
    // All of them, as this run's are the newest; none asked for when there
    // are none (Redis answers `COUNT 0` with no list at all).
    let count = dead.len().await?;
    let letters = if count == 0 { Vec::new() } else { dead.list(count).await? };
    for letter in letters {
        // Only this run's: the queue may keep letters of earlier runs.
        let Some(delivery) = letter.delivery.filter(|d| queued.get(d.id).is_some()) else {
            continue;
        };
        let answer = letter.http_status.map_or("no answer".into(), |s| format!("HTTP {s}"));
        println!(
            "dead letter {}: {} to {} (delivery {}) after {} attempt(s), {answer}: {}",
            letter.id,
            delivery.event,
            delivery.subscriber.url,
            delivery.id,
            letter.attempts,
            letter.error
        );
        if dead.replay(&letter.id).await? {
            println!("replayed dead letter {}", letter.id);
            replayed.outcomes.push(Outcome::new(&delivery, Status::Queued));
        }
    }

    let worker = RunningWorker::start(&worker_config)?;
    let second = ended.wait_for(&replayed, STAGE).await?;
    worker.stop(STAGE).await?;
    thorn.shutdown().await?;

    let delivered = first.count(Status::Delivered) + second.count(Status::Delivered);
    let total = queued.outcomes.len();
    if delivered < total {
        return Err(format!(
            "{} of {total} deliveries were not delivered; they are dead letters",
            total - delivered
        )
        .into());
    }
    println!(
        "all {total} deliveries delivered, {} after a replay",
        second.count(Status::Delivered)
    );
    Ok(())
}

/// A receiver of the program's own, which rejects the first delivery to
/// `/billing` with a 422, and the recipient policy opened to it.
async fn local_receiver(config: &mut Config) -> Result<MockReceiver, BoxError> {
    let receiver = MockReceiver::start().await?;
    receiver.script_path("/billing", [Reply::status(422).body("unknown customer")]);
    config.recipients.allow_loopback = true;
    if let Some(ports) = config.recipients.ports.as_mut() {
        ports.insert(receiver.port());
    }
    Ok(receiver)
}

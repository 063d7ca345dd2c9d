//! The custom backend, chosen from the environment: sends one event to a
//! local receiver that answers 503 to every attempt, and prints how many
//! attempts the backend made (its own `THORN_ONEBYONE_ATTEMPTS`).
//!
//! ```text
//! THORN_DISPATCHER=onebyone THORN_ONEBYONE_ATTEMPTS=2 cargo run -p custom-backend
//! ```

use std::process::ExitCode;

use thorn::testkit::receiver::{MockReceiver, Reply};
use thorn::{Config, Event, Subscriber, Thorn};

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(attempts) => {
            println!("attempts: {attempts}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("custom_backend: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<u32, Box<dyn std::error::Error>> {
    let receiver = MockReceiver::start().await?;
    receiver.otherwise(Reply::status(503));
    let mut registry = thorn::registry();
    custom_backend::register(&mut registry);
    // The environment's settings, plus this one local receiver.
    let mut config = Config::from_env()?;
    config.recipients.allow_loopback = true;
    if let Some(ports) = config.recipients.ports.as_mut() {
        ports.insert(receiver.port());
    }
    let thorn = Thorn::new(config, &registry)?;
    let sub = Subscriber::builder("job.*", receiver.url("/"), "k").build()?;
    thorn.subscribe(sub).await?;
    let report = thorn.send(Event::new("job.done", serde_json::json!({}))?).await?;
    Ok(report.outcomes.first().map_or(0, |o| o.attempts))
}

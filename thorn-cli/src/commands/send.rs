//! `thorn send`: one event through the configured backend, and its report.

use std::process::ExitCode;

use serde_json::json;
use thorn::{Config, Event, Outcome as Delivered, Thorn};

use crate::cli::{SendArgs, StoreKind};
use crate::failure::{Failure, Outcome};
use crate::settings::{apply, flag_error};

/// Sends the event; exit 1 when a delivery failed.
pub(crate) async fn run(mut config: Config, args: SendArgs) -> Outcome<ExitCode> {
    if let Some(name) = &args.dispatcher {
        config = apply(
            config,
            "--dispatcher",
            &thorn_core::config::core::DISPATCHER,
            name,
        )?;
    }
    if let Some(path) = &args.subscribers {
        let path = path.display().to_string();
        config = apply(
            config,
            "--subscribers",
            &thorn_core::config::core::SUBSCRIBERS,
            &path,
        )?;
    }
    let data = payload(args.data.as_deref()).await?;
    let mut event = Event::new(&args.event, data).map_err(|e| flag_error("EVENT", e))?;
    if let Some(owner) = &args.sender {
        event = event.sender(owner.as_str());
    }
    let mut thorn = Thorn::builder().config(config.clone());
    if let Some(kind) = args.store.filter(|k| *k != StoreKind::File) {
        let name = std::env::var("THORN_REDIS_STORE").unwrap_or_else(|_| "default".into());
        thorn = thorn.store(super::subscriptions::open_store(&config, kind, &name).await?);
    }
    let thorn = thorn.build()?;
    let report = thorn.send(event).await?;
    thorn.shutdown().await?;
    for outcome in &report.outcomes {
        print(outcome, args.json);
    }
    if report.outcomes.is_empty() && !args.json {
        println!("no subscription matches {}", args.event);
    }
    Ok(if report.is_success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The payload of `--data`: JSON, `@file`, or `{}`.
async fn payload(data: Option<&str>) -> Outcome<serde_json::Value> {
    let text = match data {
        None => return Ok(json!({})),
        Some(at) if at.starts_with('@') => {
            let path = &at[1..];
            tokio::fs::read_to_string(path)
                .await
                .map_err(|e| Failure::Usage(format!("--data {at}: cannot read {path:?}: {e}")))?
        }
        Some(text) => text.to_owned(),
    };
    serde_json::from_str(&text).map_err(|e| {
        Failure::Usage(format!(
            "--data: not JSON ({e}); give a JSON value such as '{{\"id\": 1}}' or @file.json"
        ))
    })
}

fn print(o: &Delivered, json: bool) {
    let millis = o.duration.as_millis() as u64;
    if json {
        crate::output::json_line(&json!({
            "delivery": o.delivery.to_string(),
            "event": o.event.as_str(),
            "subscription": o.subscriber.id.to_string(),
            "url": crate::output::url(&o.subscriber.url),
            "status": format!("{:?}", o.status).to_lowercase(),
            "http_status": o.http_status,
            "attempts": o.attempts,
            "duration_ms": millis,
            "error": o.error,
        }));
        return;
    }
    let mut line = format!(
        "{} {} {:?} attempts={} time={}ms",
        o.subscriber.id,
        crate::output::url(&o.subscriber.url),
        o.status,
        o.attempts,
        millis,
    );
    if let Some(status) = o.http_status {
        line.push_str(&format!(" http={status}"));
    }
    if let Some(error) = &o.error {
        line.push_str(&format!(" error={error:?}"));
    }
    println!("{line}");
}

//! `thorn send`: one event through the configured backend, and its report.

use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use thorn::{Config, Event, Observer, Outcome as Delivered, Status, Thorn};
use uuid::Uuid;

use crate::cli::{SendArgs, StoreKind};
use crate::failure::{Failure, Outcome};
use crate::settings::{apply, flag_error};

/// Sends the event; exit 1 when a delivery failed, or when none matched
/// and `--require-match` was given.
pub(crate) async fn run(mut config: Config, mut args: SendArgs) -> Outcome<ExitCode> {
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
        args.store.store = StoreKind::File;
    }
    let data = payload(args.data.as_deref()).await?;
    let mut event = Event::new(&args.event, data).map_err(|e| flag_error("EVENT", e))?;
    if let Some(owner) = &args.sender {
        event = event.sender(owner.as_str());
    }
    let clock = Arc::new(Clock::default());
    config.observers.push(clock.clone());
    let mut thorn = Thorn::builder().config(config.clone());
    if args.store.store == StoreKind::File {
        // The builder loads the file, checking each URL as a send would.
        super::subscriptions::file_path(&config)?;
    } else {
        thorn = thorn.store(super::subscriptions::open_store(&config, &args.store).await?);
    }
    let thorn = thorn.build()?;
    let started = Instant::now();
    let report = thorn.send(event).await?;
    let whole = started.elapsed();
    thorn.shutdown().await?;
    for outcome in &report.outcomes {
        let (time, last) = clock.times(outcome, started, whole);
        print(outcome, time, last, args.json);
    }
    if report.outcomes.is_empty() {
        let none = format!(
            "no subscription matches {} in {}",
            args.event,
            super::subscriptions::describe(&config, &args.store)
        );
        // JSON lines stay one per delivery: the note goes to stderr.
        if args.json {
            eprintln!("{none}");
        } else {
            println!("{none}");
        }
        if args.require_match {
            return Ok(ExitCode::FAILURE);
        }
    }
    Ok(if report.is_success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// When each delivery ended and how long its last attempt took, as the
/// observers see its attempts: a report keeps the attempts' total time
/// only, without the waits between them.
#[derive(Debug, Default)]
struct Clock {
    seen: Mutex<HashMap<Uuid, Seen>>,
}

/// What the clock saw of one delivery.
#[derive(Debug, Clone, Copy)]
struct Seen {
    /// The attempts' total time so far.
    attempts: Duration,
    /// The last attempt's time.
    last: Duration,
    /// When the last attempt ended.
    ended: Instant,
}

impl Clock {
    fn saw(&self, outcome: &Delivered) {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        let before = seen
            .get(&outcome.delivery)
            .map_or(Duration::ZERO, |s| s.attempts);
        seen.insert(
            outcome.delivery,
            Seen {
                attempts: outcome.duration,
                last: outcome.duration.saturating_sub(before),
                ended: Instant::now(),
            },
        );
    }

    /// A delivery's whole time (from the send to its last attempt's end,
    /// or the send's whole time when no attempt was seen) and its last
    /// attempt's time.
    fn times(
        &self,
        outcome: &Delivered,
        started: Instant,
        whole: Duration,
    ) -> (Duration, Option<Duration>) {
        let seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        match seen.get(&outcome.delivery) {
            Some(s) => (s.ended.saturating_duration_since(started), Some(s.last)),
            None => (whole, None),
        }
    }
}

impl Observer for Clock {
    fn on_success(&self, outcome: &Delivered) {
        self.saw(outcome);
    }
    fn on_error(&self, outcome: &Delivered) {
        self.saw(outcome);
    }
    fn on_timeout(&self, outcome: &Delivered) {
        self.saw(outcome);
    }
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

/// A duration for people: milliseconds below a tenth of a second,
/// seconds above.
fn shown(d: Duration) -> String {
    if d < Duration::from_millis(100) {
        format!("{:.1}ms", d.as_secs_f64() * 1000.0)
    } else {
        format!("{:.2}s", d.as_secs_f64())
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn print(o: &Delivered, time: Duration, last: Option<Duration>, json: bool) {
    if json {
        crate::output::json_line(&json!({
            "delivery": o.delivery.to_string(),
            "event": o.event.as_str(),
            "subscription": o.subscriber.id.to_string(),
            "url": crate::output::url(&o.subscriber.url),
            "status": status(o.status),
            "http_status": o.http_status,
            "attempts": o.attempts,
            "time_ms": millis(time),
            "attempts_ms": millis(o.duration),
            "last_attempt_ms": last.map(millis),
            "error": o.error,
        }));
        return;
    }
    let mut line = format!(
        "{} {} {:?} attempts={} time={}",
        o.subscriber.id,
        crate::output::url(&o.subscriber.url),
        o.status,
        o.attempts,
        shown(time),
    );
    if let Some(last) = last {
        line.push_str(&format!(" last_attempt={}", shown(last)));
    }
    if let Some(status) = o.http_status {
        line.push_str(&format!(" http={status}"));
    }
    if let Some(error) = &o.error {
        line.push_str(&format!(" error={error:?}"));
    }
    println!("{line}");
}

/// A status as the JSON report names it.
fn status(s: Status) -> String {
    format!("{s:?}").to_lowercase()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::shown;

    #[test]
    fn durations_read_in_the_unit_that_suits_them() {
        assert_eq!(shown(Duration::from_micros(1_500)), "1.5ms");
        assert_eq!(shown(Duration::from_millis(1_650)), "1.65s");
        assert_eq!(shown(Duration::from_millis(312)), "0.31s");
    }
}

//! `thorn dead`: list, show, replay and purge the queue's dead letters.

use std::process::ExitCode;
use std::time::SystemTime;

use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;
use thorn_core::{Config, Pattern};
use thorn_redis::{DeadLetter, DeadLetters, RedisOptions};

use crate::cli::{DeadCommand, DeadFilter, DeadList, DeadSelect, DeadShow};
use crate::failure::{Failure, Outcome};

/// Dead letters read per round trip.
const PAGE: usize = 500;
/// Replays and purges of more letters than this show a progress bar (on a
/// terminal).
const BAR_FROM: usize = 50;

/// Runs a `thorn dead` subcommand.
pub(crate) async fn run(config: Config, command: DeadCommand) -> Outcome<ExitCode> {
    let dead = DeadLetters::new(RedisOptions::from_config(&config)?)?;
    match command {
        DeadCommand::List(args) => list(&dead, args).await,
        DeadCommand::Show(args) => show(&dead, args).await,
        DeadCommand::Replay(args) => act(&dead, args, Act::Replay).await,
        DeadCommand::Purge(args) => act(&dead, args, Act::Purge).await,
    }
}

/// A filter, checked once.
struct Filter {
    event: Option<Pattern>,
    subscription: Option<uuid::Uuid>,
    after: Option<SystemTime>,
}

impl Filter {
    fn new(f: &DeadFilter) -> Outcome<Self> {
        let event = f
            .event
            .as_deref()
            .map(|p| Pattern::new(p).map_err(|e| Failure::Usage(format!("invalid --event: {e}"))))
            .transpose()?;
        let after = f.since.map(|d| {
            SystemTime::now()
                .checked_sub(*d)
                .unwrap_or(SystemTime::UNIX_EPOCH)
        });
        Ok(Filter {
            event,
            subscription: f.subscription,
            after,
        })
    }

    fn is_open(&self) -> bool {
        self.event.is_none() && self.subscription.is_none() && self.after.is_none()
    }

    fn keeps(&self, letter: &DeadLetter) -> bool {
        let delivery = letter.delivery.as_ref();
        self.event
            .as_ref()
            .is_none_or(|p| delivery.is_some_and(|d| p.matches(&d.event)))
            && self
                .subscription
                .is_none_or(|id| delivery.is_some_and(|d| d.subscriber.id == id))
            && self.after.is_none_or(|t| letter.failed_at >= t)
    }
}

/// Up to `limit` letters the filter keeps, oldest first.
async fn select(dead: &DeadLetters, filter: &Filter, limit: usize) -> Outcome<Vec<DeadLetter>> {
    let mut kept = Vec::new();
    let mut after: Option<String> = None;
    while kept.len() < limit {
        let page = dead.page(after.as_deref(), PAGE).await?;
        let Some(last) = page.last() else { break };
        after = Some(last.id.clone());
        kept.extend(page.into_iter().filter(|l| filter.keeps(l)));
    }
    kept.truncate(limit);
    Ok(kept)
}

async fn list(dead: &DeadLetters, args: DeadList) -> Outcome<ExitCode> {
    let filter = Filter::new(&args.filter)?;
    let letters = select(dead, &filter, args.limit).await?;
    if letters.is_empty() && !args.json {
        println!(
            "{}",
            if filter.is_open() {
                "no dead letters"
            } else {
                "no dead letters match the filters"
            }
        );
    }
    for letter in letters {
        if args.json {
            crate::output::json_line(&summary(&letter));
        } else {
            let (event, delivery, subscription, url) = match &letter.delivery {
                Some(d) => (
                    d.event.as_str().to_owned(),
                    d.id.to_string(),
                    d.subscriber.id.to_string(),
                    crate::output::url(&d.subscriber.url),
                ),
                None => (
                    "?".into(),
                    "?".into(),
                    "?".into(),
                    "(undecodable entry)".into(),
                ),
            };
            println!(
                "{} {} {event} delivery={delivery} subscription={subscription} {url} attempts={} error={:?}",
                letter.id,
                crate::output::time(letter.failed_at),
                letter.attempts,
                letter.error
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn show(dead: &DeadLetters, args: DeadShow) -> Outcome<ExitCode> {
    let Some(letter) = dead.get(&args.id).await? else {
        return Err(Failure::failed(format!(
            "no dead letter {}; `thorn dead list` shows their ids",
            args.id
        )));
    };
    let body = letter
        .delivery
        .as_ref()
        .map(|d| crate::output::body(&d.body));
    if args.json {
        let mut value = summary(&letter);
        value["body"] = json!(body);
        crate::output::json_line(&value);
        return Ok(ExitCode::SUCCESS);
    }
    println!("dead letter   {}", letter.id);
    println!("failed at     {}", crate::output::time(letter.failed_at));
    println!("attempts      {}", letter.attempts);
    if let Some(status) = letter.http_status {
        println!("http status   {status}");
    }
    println!("error         {}", letter.error);
    match &letter.delivery {
        Some(d) => {
            println!("delivery      {}", d.id);
            println!("event         {}", d.event.as_str());
            println!("subscription  {}", d.subscriber.id);
            println!("url           {}", crate::output::url(&d.subscriber.url));
            println!("content type  {}", d.subscriber.content_type.as_str());
            println!("body");
            for line in body.unwrap_or_default().lines() {
                println!("  {line}");
            }
        }
        None => println!("delivery      (the entry could not be decoded)"),
    }
    Ok(ExitCode::SUCCESS)
}

/// A letter as JSON, without its body or any secret.
fn summary(letter: &DeadLetter) -> serde_json::Value {
    let d = letter.delivery.as_ref();
    json!({
        "id": letter.id,
        "failed_at": crate::output::time(letter.failed_at),
        "attempts": letter.attempts,
        "error": letter.error,
        "http_status": letter.http_status,
        "delivery": d.map(|d| d.id.to_string()),
        "event": d.map(|d| d.event.as_str().to_owned()),
        "subscription": d.map(|d| d.subscriber.id.to_string()),
        "url": d.map(|d| crate::output::url(&d.subscriber.url)),
    })
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Act {
    Replay,
    Purge,
}

async fn act(dead: &DeadLetters, args: DeadSelect, what: Act) -> Outcome<ExitCode> {
    let ids: Vec<String> = if args.all {
        let filter = Filter::new(&args.filter)?;
        if what == Act::Purge && filter.is_open() {
            let n = dead.purge_all().await?;
            return finish(what, n, &[], args.json);
        }
        select(dead, &filter, usize::MAX)
            .await?
            .into_iter()
            .map(|l| l.id)
            .collect()
    } else {
        args.ids
    };
    let bar = if ids.len() > BAR_FROM {
        ProgressBar::new(ids.len() as u64).with_style(
            ProgressStyle::with_template("{msg} {bar:40} {pos}/{len} ({per_sec}, {eta} left)")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        )
    } else {
        ProgressBar::hidden()
    };
    bar.set_message(match what {
        Act::Replay => "replaying",
        Act::Purge => "purging",
    });
    let mut done = 0;
    let mut missing = Vec::new();
    for id in &ids {
        let found = match what {
            Act::Replay => dead.replay(id).await?,
            Act::Purge => dead.purge(id).await?,
        };
        if found {
            done += 1;
        } else {
            missing.push(id.clone());
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    finish(what, done, &missing, args.json)
}

fn finish(what: Act, done: usize, missing: &[String], json: bool) -> Outcome<ExitCode> {
    let verb = match what {
        Act::Replay => "replayed",
        Act::Purge => "purged",
    };
    if json {
        crate::output::json_line(&json!({ verb: done, "not_found": missing }));
    } else {
        println!("{verb} {done}");
        for id in missing {
            println!("not found: {id}");
        }
    }
    Ok(if missing.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

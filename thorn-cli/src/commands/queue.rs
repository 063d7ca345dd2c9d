//! `thorn queue stats`: the queue's numbers, once or every few seconds.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use serde_json::json;
use thorn_core::Config;
use thorn_redis::RedisOptions;
use thorn_redis::queue::{Queue, QueueStats};

use crate::cli::{QueueCommand, QueueStatsArgs};
use crate::failure::Outcome;
use crate::signal::stop_requested;

/// Runs a `thorn queue` subcommand.
pub(crate) async fn run(config: Config, command: QueueCommand) -> Outcome<ExitCode> {
    let QueueCommand::Stats(args) = command;
    let queue = Queue::new(&RedisOptions::from_config(&config)?)?;
    stats(&queue, args).await
}

async fn stats(queue: &Queue, args: QueueStatsArgs) -> Outcome<ExitCode> {
    let mut last: Option<(Instant, u64)> = None;
    let mut looks = 0;
    let stop = stop_requested();
    tokio::pin!(stop);
    loop {
        let now = Instant::now();
        let stats = queue.stats().await?;
        let rate = last.map(|(at, delivered)| {
            let secs = now.duration_since(at).as_secs_f64().max(0.001);
            stats.delivered.saturating_sub(delivered) as f64 / secs
        });
        last = Some((now, stats.delivered));
        print(&queue.keys().queue, &stats, rate, args.json);
        looks += 1;
        let Some(every) = args.watch else { break };
        if args.count.is_some_and(|n| looks >= n) {
            break;
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(every)) => {}
            () = &mut stop => break,
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print(queue: &str, s: &QueueStats, rate: Option<f64>, as_json: bool) {
    let ms = |d: Option<Duration>| d.map(|d| d.as_millis() as u64);
    if as_json {
        let consumers: Vec<_> = s
            .consumers
            .iter()
            .map(|c| json!({"name": c.name, "pending": c.pending, "idle_ms": c.idle.as_millis() as u64}))
            .collect();
        crate::output::json_line(&json!({
            "queue": queue,
            "length": s.length,
            "pending": s.pending,
            "consumers": consumers,
            "delayed_due": s.delayed_due,
            "delayed_later": s.delayed_later,
            "dead": s.dead,
            "oldest_pending_ms": ms(s.oldest_pending),
            "delivered": s.delivered,
            "deliveries_per_second": rate,
        }));
        return;
    }
    println!("queue {queue}");
    println!("  stream length   {}", s.length);
    println!("  pending         {}", s.pending);
    for c in &s.consumers {
        println!(
            "    {}  pending {}  idle {}",
            c.name,
            c.pending,
            humantime::format_duration(Duration::from_millis(c.idle.as_millis() as u64))
        );
    }
    println!(
        "  delayed         {} due now, {} later",
        s.delayed_due, s.delayed_later
    );
    println!("  dead            {}", s.dead);
    match s.oldest_pending {
        Some(age) => println!(
            "  oldest pending  {}",
            humantime::format_duration(Duration::from_millis(age.as_millis() as u64))
        ),
        None => println!("  oldest pending  -"),
    }
    match rate {
        Some(rate) => println!(
            "  delivered       {} ({rate:.1}/s since the last look)",
            s.delivered
        ),
        None => println!("  delivered       {}", s.delivered),
    }
}

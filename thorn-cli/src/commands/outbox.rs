//! `thorn migrate`, `thorn outbox relay` and `thorn outbox stats`.

use std::process::ExitCode;
use std::time::Duration;

use serde_json::json;
use thorn::postgres::Outbox;
use thorn::{Config, Thorn};

use crate::cli::{OutboxCommand, OutboxStatsArgs, RelayArgs};
use crate::failure::{Failure, Outcome};
use crate::settings::apply;
use crate::signal::StopSignal;

/// Makes or updates Thorn's tables.
pub(crate) async fn migrate(config: Config) -> Outcome<ExitCode> {
    let pool = thorn::postgres::connect(&config).await?;
    thorn::postgres::migrate(&pool, &config).await?;
    println!("migrated");
    Ok(ExitCode::SUCCESS)
}

/// Runs a `thorn outbox` subcommand.
pub(crate) async fn run(config: Config, command: OutboxCommand) -> Outcome<ExitCode> {
    match command {
        OutboxCommand::Relay(args) => relay(config, args).await,
        OutboxCommand::Stats(args) => stats(config, args).await,
    }
}

async fn relay(mut config: Config, args: RelayArgs) -> Outcome<ExitCode> {
    if let Some(addr) = args.metrics_addr {
        super::metrics::serve(addr).await?;
    }
    if let Some(name) = &args.dispatcher {
        config = apply(
            config,
            "--dispatcher",
            &thorn::config::core::DISPATCHER,
            name,
        )?;
    }
    let signal = StopSignal::listen();
    let store = super::subscriptions::open_store(&config, &args.store).await?;
    let matched_in = super::subscriptions::describe(&config, &args.store);
    let pool = thorn::postgres::connect(&config).await?;
    let outbox = Outbox::new(&config)?;
    let thorn = Thorn::builder().config(config).store(store).build()?;
    let relay = outbox.relay(pool, thorn.clone());
    tracing::info!(
        backend = thorn.dispatcher().name(),
        store = matched_in,
        "relaying the outbox"
    );
    signal.received().await;
    tracing::info!("signal received: stopping");
    let stats = relay.shutdown().await;
    thorn.shutdown().await?;
    tracing::info!(
        relayed = stats.relayed,
        batches = stats.batches,
        failures = stats.failures,
        "relay stopped"
    );
    Ok(ExitCode::SUCCESS)
}

async fn stats(config: Config, args: OutboxStatsArgs) -> Outcome<ExitCode> {
    let pool = thorn::postgres::connect(&config).await?;
    let schema = config.get(&thorn::postgres::settings::SCHEMA)?;
    let sql = format!(
        r#"SELECT count(*), count(*) FILTER (WHERE attempts > 0),
           (extract(epoch from now() - min(created_at)) * 1000)::bigint
           FROM "{schema}".outbox"#
    );
    let (waiting, refused, oldest): (i64, i64, Option<i64>) =
        sqlx::query_as(&sql).fetch_one(&pool).await.map_err(|e| {
            Failure::failed(format!("reading the outbox: {e}; has `thorn migrate` run?"))
        })?;
    if args.json {
        crate::output::json_line(&json!({
            "waiting": waiting,
            "refused": refused,
            "oldest_ms": oldest,
        }));
    } else {
        println!("outbox \"{schema}\".outbox");
        println!("  waiting         {waiting}");
        println!("  refused before  {refused}");
        match oldest {
            Some(ms) => println!(
                "  oldest          {}",
                humantime::format_duration(Duration::from_millis(
                    u64::try_from(ms).unwrap_or_default()
                ))
            ),
            None => println!("  oldest          -"),
        }
    }
    Ok(ExitCode::SUCCESS)
}

//! `thorn worker`: the Redis queue's worker, with its metrics served for
//! Prometheus.

use std::process::ExitCode;
use std::time::Duration;

use thorn_core::Config;
use thorn_core::config::{Setting, parse};
use thorn_redis::{RedisOptions, Worker};

use crate::cli::WorkerArgs;
use crate::failure::Outcome;
use crate::settings::{apply, flag_error};
use crate::signal::StopSignal;

/// `--ack-deadline`, which has no variable: read as durations are.
const ACK_DEADLINE: Setting<Duration> = Setting::new(
    "--ack-deadline",
    "30s",
    "reclaim entries of dead workers after this long",
    parse::duration,
)
.checked(parse::duration_range);

/// Runs the worker until SIGINT or SIGTERM.
pub(crate) async fn run(config: Config, args: WorkerArgs) -> Outcome<ExitCode> {
    // The recorder goes in first: the worker's metrics register in it.
    if let Some(addr) = args.metrics_addr {
        super::metrics::serve(addr).await?;
    }
    let signal = StopSignal::listen();
    let worker = build(config, &args)?;
    let stop = worker.shutdown_handle();
    tokio::spawn(async move {
        signal.received().await;
        tracing::info!("signal received: stopping");
        stop.shutdown();
    });
    worker.run().await?;
    Ok(ExitCode::SUCCESS)
}

fn build(mut config: Config, args: &WorkerArgs) -> Outcome<Worker> {
    if let Some(n) = &args.concurrency {
        config = apply(
            config,
            "--concurrency",
            &thorn_core::config::core::CONCURRENCY,
            n,
        )?;
    }
    let options = RedisOptions::from_config(&config)?;
    let mut worker = Worker::builder(config).options(options);
    if let Some(name) = &args.consumer_name {
        worker = worker.consumer_name(name.clone());
    }
    if let Some(d) = &args.ack_deadline {
        let d = ACK_DEADLINE
            .parse(d)
            .map_err(|e| flag_error("--ack-deadline", e))?;
        worker = worker.ack_deadline(d);
    }
    Ok(worker.build()?)
}

#[cfg(test)]
mod tests {
    use super::build;
    use crate::cli::WorkerArgs;

    #[test]
    fn bad_worker_flags_name_the_flag() {
        for (args, flag) in [
            (
                WorkerArgs {
                    concurrency: Some("0".into()),
                    consumer_name: None,
                    ack_deadline: None,
                    metrics_addr: None,
                },
                "invalid --concurrency \"0\"",
            ),
            (
                WorkerArgs {
                    concurrency: None,
                    consumer_name: None,
                    ack_deadline: Some("1e-10".into()),
                    metrics_addr: None,
                },
                "invalid --ack-deadline",
            ),
        ] {
            let e = build(thorn_core::Config::default(), &args)
                .unwrap_err()
                .to_string();
            assert!(e.starts_with(flag), "{e}");
        }
    }
}

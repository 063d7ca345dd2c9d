//! `thorn-worker`: delivers what producers enqueue to a Redis queue.
//!
//! Settings come from `THORN_*` variables, then the flags below. SIGINT or
//! SIGTERM stops reading, finishes and settles what is in flight, and exits 0.

use std::process::ExitCode;
use std::time::Duration;

use thorn_core::Config;
use thorn_core::config::{Setting, parse};
use thorn_redis::{RedisOptions, Worker, settings};

/// `--ack-deadline`, which has no variable: read as durations are.
const ACK_DEADLINE: Setting<Duration> = Setting::new(
    "--ack-deadline",
    "30s",
    "reclaim entries of dead workers after this long",
    parse::duration,
)
.checked(parse::duration_range);

/// Many tasks allocate at once in a worker; this allocator keeps them from
/// contending on one heap lock.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const USAGE: &str = "\
thorn-worker: delivers Thorn webhooks queued in Redis

USAGE: thorn-worker [OPTIONS]

OPTIONS (each overrides its THORN_* variable):
  --redis-url URL        the Redis server (THORN_REDIS_URL; default redis://127.0.0.1:6379)
  --queue NAME           the queue (THORN_REDIS_QUEUE; default `default`)
  --concurrency N        deliveries in flight at once (THORN_CONCURRENCY; default 64)
  --consumer-name NAME   this worker's name in the consumer group (default worker-<pid>-<random>)
  --ack-deadline SECS    reclaim entries of dead workers after this long (default 30;
                         at least THORN_EVENT_TIMEOUT + 1 s); 0.5, 250ms, 10s, 2m work too
  -h, --help             print this help
";

#[derive(Debug, Default)]
struct Args {
    redis_url: Option<String>,
    queue: Option<String>,
    concurrency: Option<String>,
    consumer: Option<String>,
    ack_deadline: Option<String>,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Option<Args>, String> {
    let mut out = Args::default();
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_owned(), Some(v.to_owned())),
            _ => (arg.clone(), None),
        };
        let slot = match flag.as_str() {
            "-h" | "--help" => return Ok(None),
            "--redis-url" => &mut out.redis_url,
            "--queue" => &mut out.queue,
            "--concurrency" => &mut out.concurrency,
            "--consumer-name" => &mut out.consumer,
            "--ack-deadline" => &mut out.ack_deadline,
            other => return Err(format!("unknown argument {other:?}; see --help")),
        };
        let value = match inline {
            Some(v) => v,
            None => args.next().ok_or_else(|| format!("{flag} needs a value"))?,
        };
        *slot = Some(value);
    }
    Ok(Some(out))
}

/// An error of a flag's value, naming the flag as typed (and the variable
/// it stands for), not only the variable.
fn flag_error(flag: &str, error: thorn_core::Error) -> String {
    match error {
        thorn_core::Error::InvalidSetting {
            name,
            value,
            reason,
        } if name != flag => format!("invalid {flag} {value:?} (the flag of {name}): {reason}"),
        thorn_core::Error::InvalidSetting { value, reason, .. } => {
            format!("invalid {flag} {value:?}: {reason}")
        }
        other => format!("{flag}: {other}"),
    }
}

/// Applies one flag to `config` through the config builder, so that a flag
/// is checked exactly as its variable is.
fn apply(
    config: Config,
    flag: &str,
    set: impl FnOnce(thorn_core::config::ConfigBuilder) -> thorn_core::config::ConfigBuilder,
) -> Result<Config, String> {
    set(Config::builder().with(|c| *c = config))
        .build()
        .map_err(|e| flag_error(flag, e))
}

fn build(args: Args) -> Result<Worker, String> {
    let mut config = Config::from_env().map_err(|e| e.to_string())?;
    if let Some(url) = args.redis_url {
        config = apply(config, "--redis-url", |b| b.set(&settings::URL, url))?;
    }
    if let Some(queue) = args.queue {
        config = apply(config, "--queue", |b| b.set(&settings::QUEUE, queue))?;
    }
    if let Some(n) = args.concurrency {
        config = apply(config, "--concurrency", |b| {
            b.set(&thorn_core::config::core::CONCURRENCY, n)
        })?;
    }
    let options = RedisOptions::from_config(&config).map_err(|e| e.to_string())?;
    let mut worker = Worker::builder(config).options(options);
    if let Some(name) = args.consumer {
        worker = worker.consumer_name(name);
    }
    if let Some(d) = args.ack_deadline {
        let d: Duration = ACK_DEADLINE
            .parse(&d)
            .map_err(|e| flag_error("--ack-deadline", e))?;
        worker = worker.ack_deadline(d);
    }
    worker.build().map_err(|e| e.to_string())
}

async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(tracing::Level::INFO)
        .init();
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(Some(a)) => a,
        Ok(None) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("thorn-worker: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("thorn-worker: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        let worker = match build(args) {
            Ok(w) => w,
            Err(e) => {
                eprintln!("thorn-worker: {e}");
                return ExitCode::from(2);
            }
        };
        let stop = worker.shutdown_handle();
        tokio::spawn(async move {
            stop_signal().await;
            tracing::info!("signal received: stopping");
            stop.shutdown();
        });
        match worker.run().await {
            Ok(_) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("thorn-worker: {e}");
                ExitCode::FAILURE
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::{build, parse_args};

    #[test]
    fn parses_flags() {
        let args = ["--queue", "mail", "--concurrency=8", "--ack-deadline", "5"].map(String::from);
        let a = parse_args(args.into_iter()).unwrap().unwrap();
        assert_eq!(a.queue.as_deref(), Some("mail"));
        assert_eq!(a.concurrency.as_deref(), Some("8"));
        assert_eq!(a.ack_deadline.as_deref(), Some("5"));
        assert!(parse_args(["--nope"].map(String::from).into_iter()).is_err());
        assert!(parse_args(["--queue"].map(String::from).into_iter()).is_err());
        assert!(
            parse_args(["-h"].map(String::from).into_iter())
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn a_bad_flag_value_names_the_flag() {
        for (flag, value) in [
            ("--queue", "no spaces"),
            ("--redis-url", "http://127.0.0.1:6379"),
            ("--concurrency", "0"),
            ("--ack-deadline", "1e-10"),
        ] {
            let args = parse_args([flag, value].map(String::from).into_iter())
                .unwrap()
                .unwrap();
            let e = build(args).unwrap_err();
            assert!(e.contains(&format!("invalid {flag} ")), "{e}");
        }
    }
}

//! Logs to stderr, filtered by `RUST_LOG` (default `info`), as lines of
//! text or of JSON.

use std::io::IsTerminal as _;

use tracing_subscriber::EnvFilter;

use crate::cli::LogFormat;
use crate::failure::{Failure, Outcome};

/// Installs the log output; a `RUST_LOG` that cannot be read is a usage
/// error naming it.
pub(crate) fn init(format: LogFormat) -> Outcome {
    let filter = match std::env::var("RUST_LOG") {
        Ok(text) if !text.trim().is_empty() => EnvFilter::try_new(&text).map_err(|e| {
            Failure::Usage(format!(
                "invalid RUST_LOG {text:?}: {e}; use a level (debug) or directives (thorn_redis=debug,info)"
            ))
        })?,
        _ => EnvFilter::new("info"),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let done = match format {
        LogFormat::Pretty => builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
    done.map_err(|e| Failure::failed(format!("cannot set up logging: {e}")))
}

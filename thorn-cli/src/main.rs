//! `thorn`: Thorn webhooks from the command line. See `thorn --help`.

use std::process::ExitCode;

use clap::Parser as _;

mod cli;
mod commands;
mod failure;
mod logging;
mod output;
mod settings;
mod signal;

use cli::{Cli, Command};
use failure::Failure;

/// Many tasks allocate at once in a worker; this allocator keeps them from
/// contending on one heap lock.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(e) = logging::init(cli.log_format) {
        return report(e);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return report(Failure::failed(format!("cannot start the runtime: {e}"))),
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => report(e),
    }
}

async fn run(cli: Cli) -> Result<ExitCode, Failure> {
    let config = settings::config(&cli.settings)?;
    tracing::debug!(?config, "settings");
    match cli.command {
        Command::Worker(args) => commands::worker::run(config, args).await,
        Command::Send(args) => commands::send::run(config, args).await,
        Command::Listen(args) => commands::listen::run(args).await,
        Command::Verify(args) => commands::verify::run(args).await,
        Command::Dead(command) => commands::dead::run(config, command).await,
        Command::Queue(command) => commands::queue::run(config, command).await,
        Command::Subscriptions(command) => commands::subscriptions::run(config, command).await,
        Command::Outbox(command) => commands::outbox::run(config, command).await,
        Command::Migrate => commands::outbox::migrate(config).await,
    }
}

fn report(failure: Failure) -> ExitCode {
    eprintln!("thorn: {failure}");
    failure.exit_code()
}

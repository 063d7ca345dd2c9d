//! A webhook receiver in axum. `POST /hooks` verifies `Hook-HMAC` (plain
//! HMAC, or Python Thorn's scheme with `AXUM_RECEIVER_SIGNER=compat`) and
//! the Standard Webhooks headers, refuses stale deliveries (401) and takes
//! each delivery id once (a replay gets 200 and is not processed again),
//! and answers 202 once the delivery is handed to a worker task, which
//! prints `processed EVENT ID BODY`. SIGINT or SIGTERM: stop accepting,
//! finish what was handed over, exit.
//!
//! ```text
//! export SECRET=whsec_$(openssl rand -base64 32)
//! AXUM_RECEIVER_SECRET=$SECRET cargo run -p axum-receiver
//! # and in another terminal, an app that sends to it:
//! AXUM_APP_HOOK_SECRET=$SECRET cargo run -p axum-app
//! ```
//!
//! Settings: `AXUM_RECEIVER_SECRET` (required), `AXUM_RECEIVER_ADDR`
//! (`127.0.0.1:3001`), `AXUM_RECEIVER_SIGNER` (`hmac` | `compat`),
//! `AXUM_RECEIVER_DIGEST` (`sha1` | `sha256` | `sha512`),
//! `AXUM_RECEIVER_STANDARD` (`required` | `optional`: whether deliveries
//! must carry the Standard Webhooks headers).

use std::process::ExitCode;

use axum_receiver::{PATH, Received, Settings, WORK_QUEUE, router};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("axum_receiver: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let settings = Settings::from_env()?;
    let listener = TcpListener::bind(settings.addr)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", settings.addr))?;
    println!("listening on http://{}{PATH}", listener.local_addr()?);
    let (work, processing) = mpsc::channel(WORK_QUEUE);
    let worker = tokio::spawn(process(processing));
    axum::serve(listener, router(settings, work))
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    // The router, and with it the sender, is gone: the worker ends once it
    // has processed everything that was accepted.
    worker.await?;
    println!("stopped");
    Ok(())
}

/// The work a delivery stands for; here, printing it.
async fn process(mut processing: mpsc::Receiver<Received>) {
    while let Some(r) = processing.recv().await {
        println!(
            "processed {} {} {}",
            r.event,
            r.id,
            String::from_utf8_lossy(&r.body)
        );
    }
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let interrupt = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            eprintln!("axum_receiver: cannot watch SIGINT: {e}");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                eprintln!("axum_receiver: cannot watch SIGTERM: {e}");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
}

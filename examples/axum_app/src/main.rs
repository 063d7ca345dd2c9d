//! An axum service that announces its writes with Thorn. `POST /orders`
//! writes an order and sends `order.created` in a buffer scope: one flush
//! per request, after the record is written. SIGINT or SIGTERM: answer the
//! requests under way, deliver what Thorn still holds (`Thorn::shutdown`),
//! exit.
//!
//! ```text
//! export SECRET=whsec_$(openssl rand -base64 32)
//! AXUM_RECEIVER_SECRET=$SECRET cargo run -p axum-receiver   # the receiver, in another terminal
//! AXUM_APP_HOOK_SECRET=$SECRET cargo run -p axum-app
//! curl -i localhost:3000/orders -H 'content-type: application/json' -d '{"item": "book", "quantity": 2}'
//! curl localhost:3000/orders/1
//! ```
//!
//! Settings: Thorn's `THORN_*` (`Config::from_env`), and
//! `AXUM_APP_HOOK_SECRET` (required: the receiver's secret),
//! `AXUM_APP_HOOK_URL` (`http://127.0.0.1:3001/hooks`, the `axum_receiver`
//! example), `AXUM_APP_ADDR` (`127.0.0.1:3000`). A receiver on this
//! machine is added to `THORN_RECIPIENT_VALIDATORS` (loopback and its
//! port); the rest of that setting is kept. With `THORN_DISPATCHER=redis`
//! the answer waits only for the enqueue, and a worker delivers:
//! `cargo run -p thorn-cli -- worker`, whose own
//! `THORN_RECIPIENT_VALIDATORS` must allow the receiver.

use std::process::ExitCode;

use axum_app::{App, Settings, serve};
use tokio::net::TcpListener;

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("axum_app: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let settings = Settings::from_env()?;
    let app = App::new(thorn::Config::from_env()?, &settings).await?;
    let thorn = app.thorn();
    println!("dispatcher: {}", thorn.dispatcher().name());
    println!("recipients: {}", thorn.config().recipients);
    println!("order.* goes to {}", settings.hook_url);
    let listener = TcpListener::bind(settings.addr)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", settings.addr))?;
    println!("listening on http://{}", listener.local_addr()?);
    let report = serve(listener, app, shutdown_signal()).await?;
    println!(
        "stopped; {} held deliveries handed over at shutdown",
        report.outcomes.len()
    );
    Ok(())
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let interrupt = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            eprintln!("axum_app: cannot watch SIGINT: {e}");
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
                eprintln!("axum_app: cannot watch SIGTERM: {e}");
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

//! The shop: `POST /orders` on `OUTBOX_ADDR` (default `127.0.0.1:8081`),
//! a relay beside it. Settings: `THORN_PG_URL`, `THORN_DISPATCHER`
//! (`redis` with `THORN_REDIS_URL`: run `thorn worker` too), the rest of
//! Thorn's `THORN_*`. Subscriptions live in PostgreSQL (`thorn
//! subscriptions add --store postgres …`). The first line printed is
//! `listening on http://ADDR`; SIGINT or SIGTERM stops it.

use std::process::ExitCode;
use std::sync::Arc;

use thorn::postgres::{Outbox, PgStore};
use thorn::{Config, Thorn};

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("outbox: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::var("OUTBOX_ADDR").unwrap_or_else(|_| "127.0.0.1:8081".into());
    let config = Config::from_env()?;
    let pool = thorn::postgres::connect(&config).await?;
    outbox::prepare(&pool, &config).await?;
    let store = PgStore::new(pool.clone(), &config).await?;
    let thorn = Thorn::builder()
        .config(config.clone())
        .store(Arc::new(store))
        .build()?;
    let box_ = Outbox::new(&config)?;
    let relay = box_.relay(pool.clone(), thorn.clone());
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .map_err(|e| format!("OUTBOX_ADDR {addr}: {e}"))?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, outbox::app(pool, box_))
        .with_graceful_shutdown(stop())
        .await?;
    let stats = relay.shutdown().await;
    thorn.shutdown().await?;
    println!("stopped after relaying {} events", stats.relayed);
    Ok(())
}

async fn stop() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    let terminated = async {
        match term.as_mut() {
            Some(t) => {
                t.recv().await;
            }
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminated => {}
    }
}

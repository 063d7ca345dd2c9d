//! The subscriptions API as a service.
//!
//! Settings:
//! - `SUBSCRIPTIONS_API_ADDR` (default `127.0.0.1:8080`; port 0 takes any);
//!   the first line printed is `listening on http://ADDR/hooks`.
//! - `SUBSCRIPTIONS_API_KEYS`: `KEY=OWNER,…` (keys of 8 characters or more).
//! - `SUBSCRIPTIONS_API_STORE`: `memory` (default) or `redis` (the store
//!   `default` on `THORN_REDIS_URL`).
//! - Thorn's `THORN_*` (the recipient policy URLs are checked against, the
//!   backend test pings go through, the API's limits).
//!
//! `curl -H 'Authorization: Bearer KEY' http://127.0.0.1:8080/hooks`
//! lists the caller's subscriptions; `/hooks/openapi.json` describes the
//! API. SIGINT or SIGTERM stops it.

use std::process::ExitCode;
use std::sync::Arc;

use axum::ServiceExt;
use axum::extract::Request;
use subscriptions_api::{ApiKeys, MOUNT, app};
use thorn::{Config, Thorn};
use tower_layer::Layer as _;

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("subscriptions_api: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let var = |name: &str| std::env::var(name).unwrap_or_default();
    let keys = ApiKeys::parse(&var("SUBSCRIPTIONS_API_KEYS"))
        .map_err(|e| format!("SUBSCRIPTIONS_API_KEYS: {e}"))?;
    let addr = match var("SUBSCRIPTIONS_API_ADDR") {
        a if a.is_empty() => "127.0.0.1:8080".to_owned(),
        a => a,
    };
    let config = Config::from_env()?;
    let mut thorn = Thorn::builder().config(config.clone());
    match var("SUBSCRIPTIONS_API_STORE").as_str() {
        "" | "memory" => {}
        "redis" => {
            let options = thorn::redis::RedisOptions::from_config(&config)?;
            let store = thorn::redis::RedisStore::new(&options, "default")?;
            thorn = thorn.store(Arc::new(store));
        }
        other => {
            return Err(format!("SUBSCRIPTIONS_API_STORE {other:?}: use memory or redis").into());
        }
    }
    let router = app(thorn.build()?, keys)?;
    // `/hooks/` is `/hooks`, as clients of Python Thorn's API call it.
    let service =
        tower_http::normalize_path::NormalizePathLayer::trim_trailing_slash().layer(router);
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .map_err(|e| format!("SUBSCRIPTIONS_API_ADDR {addr}: {e}"))?;
    println!("listening on http://{}{MOUNT}", listener.local_addr()?);
    axum::serve(listener, ServiceExt::<Request>::into_make_service(service))
        .with_graceful_shutdown(stop())
        .await?;
    Ok(())
}

async fn stop() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
    }
}

//! Serving the process's metrics for Prometheus.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
use thorn_http::metrics::{
    ATTEMPT_DURATION, ATTEMPT_DURATION_BUCKETS, DELIVERY_LATENCY, DELIVERY_LATENCY_BUCKETS,
};

use crate::failure::{Failure, Outcome};

/// How often the recorder's histograms are brought up to date between
/// scrapes.
const UPKEEP: Duration = Duration::from_secs(5);

/// Installs the Prometheus recorder and serves its text format on `addr`,
/// at any path. Done before anything registers metrics, so that they land
/// in it. Port 0 takes a free port; the log line `serving metrics` names
/// the address bound.
///
/// Thorn's timings are exported as histograms with buckets chosen for
/// webhooks: unlike summaries, their buckets add up across workers.
pub(crate) async fn serve(addr: SocketAddr) -> Outcome {
    let failed =
        |e: &dyn std::fmt::Display| Failure::failed(format!("cannot serve metrics on {addr}: {e}"));
    let recorder = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full(ATTEMPT_DURATION.into()),
            ATTEMPT_DURATION_BUCKETS,
        )
        .and_then(|b| {
            b.set_buckets_for_metric(
                Matcher::Full(DELIVERY_LATENCY.into()),
                DELIVERY_LATENCY_BUCKETS,
            )
        })
        .map_err(|e| failed(&e))?
        .build_recorder();
    let handle = recorder.handle();
    // Bound before the recorder is installed: a port that cannot be had
    // leaves the process as it was.
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| failed(&e))?;
    let bound = listener.local_addr().map_err(|e| failed(&e))?;
    metrics::set_global_recorder(recorder).map_err(|e| failed(&e))?;
    let upkeep = handle.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(UPKEEP);
        loop {
            every.tick().await;
            upkeep.run_upkeep();
        }
    });
    let app = Router::new().fallback(get(move || {
        let handle = handle.clone();
        async move { handle.render() }
    }));
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "serving metrics failed");
        }
    });
    tracing::info!(addr = %bound, "serving metrics");
    Ok(())
}

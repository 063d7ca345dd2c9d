//! Serving the process's metrics for Prometheus.

use std::net::SocketAddr;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
use thorn_http::metrics::{
    ATTEMPT_DURATION, ATTEMPT_DURATION_BUCKETS, DELIVERY_LATENCY, DELIVERY_LATENCY_BUCKETS,
};

use crate::failure::{Failure, Outcome};

/// Installs the Prometheus recorder, serving its text format on `addr`.
/// Done before anything registers metrics, so that they land in it.
///
/// Thorn's timings are exported as histograms with buckets chosen for
/// webhooks: unlike summaries, their buckets add up across workers.
pub(crate) fn serve(addr: SocketAddr) -> Outcome {
    let failed =
        |e: &dyn std::fmt::Display| Failure::failed(format!("cannot serve metrics on {addr}: {e}"));
    PrometheusBuilder::new()
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
        .with_http_listener(addr)
        .install()
        .map_err(|e| failed(&e))?;
    tracing::info!(%addr, "serving metrics");
    Ok(())
}

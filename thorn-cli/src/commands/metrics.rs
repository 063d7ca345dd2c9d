//! Serving the process's metrics for Prometheus.

use std::net::SocketAddr;

use crate::failure::{Failure, Outcome};

/// Installs the Prometheus recorder, serving its text format on `addr`.
/// Done before anything registers metrics, so that they land in it.
pub(crate) fn serve(addr: SocketAddr) -> Outcome {
    metrics_exporter_prometheus::PrometheusBuilder::new()
        .with_http_listener(addr)
        .install()
        .map_err(|e| Failure::failed(format!("cannot serve metrics on {addr}: {e}")))?;
    tracing::info!(%addr, "serving metrics");
    Ok(())
}

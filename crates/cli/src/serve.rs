//! The telemetry endpoints of a running flow (`--metrics-address`): `/metrics` in the
//! Prometheus text format the original served, `/healthz` (the process answers), `/readyz`
//! (the source reads with its sinks connected) and `/livez` (fails once the flow has held work
//! for longer than the progress timeout without a write or a commit; a flow with no input is
//! not stale).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use dataflow_core::telemetry::{Health, Telemetry};
use prometheus_client::encoding::prometheus_text;
use tokio_util::sync::CancellationToken;

/// What the endpoints read.
pub struct Endpoints {
    /// The metrics registry.
    pub telemetry: Arc<Telemetry>,
    /// Readiness and progress.
    pub health: Arc<Health>,
    /// How long held work may wait for progress before `/livez` fails (`None`: never).
    pub progress_timeout: Option<Duration>,
}

/// Binds `address` (an error names it) and serves the endpoints until `stop` fires.
pub async fn serve(
    address: SocketAddr,
    endpoints: Endpoints,
    stop: CancellationToken,
) -> anyhow::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .map_err(|e| anyhow::anyhow!("--metrics-address {address}: {e}"))?;
    let bound = listener.local_addr()?;
    let app = Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/livez", get(livez))
        .with_state(Arc::new(endpoints));
    tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(async move { stop.cancelled().await })
            .await;
        if let Err(error) = served {
            tracing::error!(%error, "the metrics endpoint stopped");
        }
    });
    tracing::info!(address = %bound, "serving /metrics, /healthz, /readyz and /livez");
    Ok(bound)
}

async fn metrics(State(endpoints): State<Arc<Endpoints>>) -> Response {
    let mut text = String::with_capacity(16 * 1024);
    match prometheus_text::encode(&mut text, endpoints.telemetry.registry()) {
        Ok(()) => (
            [(header::CONTENT_TYPE, prometheus_text::CONTENT_TYPE)],
            text,
        )
            .into_response(),
        Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, "encoding failed\n").into_response(),
    }
}

async fn readyz(State(endpoints): State<Arc<Endpoints>>) -> (StatusCode, &'static str) {
    if endpoints.health.is_ready() {
        (StatusCode::OK, "ready\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready\n")
    }
}

async fn livez(State(endpoints): State<Arc<Endpoints>>) -> (StatusCode, String) {
    match (endpoints.progress_timeout, endpoints.health.stalled_for()) {
        (Some(timeout), Some(stalled)) if stalled > timeout => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("stale: no pipeline progress for {}s\n", stalled.as_secs()),
        ),
        _ => (StatusCode::OK, "alive\n".into()),
    }
}

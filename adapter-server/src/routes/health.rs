//! `/healthz` and `/metrics`.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;

use super::AppState;

/// 200 when the database answers, 503 otherwise.
pub(crate) async fn healthz(State(state): State<AppState>) -> impl IntoResponse {
    match state.store.ping().await {
        Ok(()) => (StatusCode::OK, "ok\n"),
        Err(e) => {
            tracing::error!(error = %e, "health check: database unavailable");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable\n")
        }
    }
}

/// Prometheus text: request and job counters, and jobs by kind and state.
pub(crate) async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let gauges: Vec<(&str, String, i64)> = match state.store.job_counts().await {
        Ok(rows) => rows
            .into_iter()
            .map(|(kind, st, n)| {
                (
                    "concierge_jobs",
                    format!("kind=\"{kind}\",state=\"{st}\""),
                    n,
                )
            })
            .collect(),
        Err(e) => {
            tracing::warn!(error = %e, "metrics: could not count jobs");
            Vec::new()
        }
    };
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(&gauges),
    )
}

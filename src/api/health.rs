//! Liveness, version and metrics.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde_json::{Value, json};

use super::AppState;
use crate::metrics;

/// `GET /api/healthz`: 200 when the database answers, 503 with the reason otherwise.
pub async fn healthz(State(app): State<AppState>) -> (StatusCode, Json<Value>) {
    match tokio::time::timeout(Duration::from_secs(3), app.store.ping()).await {
        Ok(Ok(())) => (StatusCode::OK, Json(json!({ "status": "ok" }))),
        Ok(Err(error)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "unavailable", "reason": error.to_string() })),
        ),
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(
                json!({ "status": "unavailable", "reason": "the database did not answer within 3 s" }),
            ),
        ),
    }
}

/// `GET /api/system`: what is running. The commit is `FEDORA_CI_COMMIT` at build time (the
/// Containerfile passes its `SOURCE_COMMIT`); `null` in a build that was not told.
pub async fn system() -> Json<Value> {
    let commit = option_env!("FEDORA_CI_COMMIT").filter(|commit| !commit.is_empty());
    Json(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "commit": commit,
    }))
}

/// `GET /metrics`: Prometheus exposition; queue gauges are read from the database now.
pub async fn metrics(State(app): State<AppState>) -> impl IntoResponse {
    let metrics = metrics::global();
    match crate::db::tasks::counts(&app.store, chrono::Utc::now()).await {
        Ok(counts) => metrics.set_queue_counts(&counts),
        Err(error) => tracing::warn!(%error, "queue gauges not refreshed"),
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        metrics.render(),
    )
}

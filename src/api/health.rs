//! Liveness, version and metrics: `/api/healthz` of the `api` and `serve` roles, and the
//! health endpoints (`/healthz`, `/readyz`, `/metrics`) the `worker` and `listen` roles serve
//! on their own port (`worker.health_bind`, `messaging.health_bind`).

use std::time::Duration;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Map, Value, json};

use super::AppState;
use crate::config::Config;
use crate::db::Store;
use crate::handlers::services;
use crate::{listener, metrics};

/// Whether the database answers within 3 s: `Err(reason)` if not.
async fn database(store: &Store) -> Result<(), String> {
    match tokio::time::timeout(Duration::from_secs(3), store.ping()).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(error)) => Err(error.to_string()),
        Err(_) => Err("the database did not answer within 3 s".to_owned()),
    }
}

/// Whether calls that would change something are only recorded, and why.
///
/// A process that runs tasks knows (its `Services` decided); one that runs none (the `api`
/// and `listen` roles) knows only an explicit `dry_run`: otherwise each worker decides from
/// its own credentials, which this process does not hold, and `on` is `null`.
pub fn shadow_mode(config: &Config) -> Value {
    match services::process_shadow_mode() {
        Some(reason) => json!({ "on": reason.is_some(), "reason": reason }),
        None => match config.dry_run {
            Some(true) => json!({ "on": true, "reason": "dry_run = true" }),
            Some(false) => json!({ "on": false, "reason": null }),
            None => json!({
                "on": null,
                "reason": "this process runs no tasks: each worker decides from its credentials (see its /healthz)",
            }),
        },
    }
}

/// The broker as the listener of this process sees it; `None` when none runs here.
fn broker() -> Option<Value> {
    listener::broker_status().and_then(|status| serde_json::to_value(status).ok())
}

/// The common details of every health answer.
fn details(status: &str, config: &Config) -> Map<String, Value> {
    let mut body = Map::new();
    body.insert("status".to_owned(), json!(status));
    body.insert("shadow_mode".to_owned(), shadow_mode(config));
    if let Some(broker) = broker() {
        body.insert("broker".to_owned(), broker);
    }
    body
}

/// `GET /api/healthz`: 200 when the database answers, 503 with the reason otherwise; with
/// shadow mode and (when a listener runs in this process) the broker's state.
pub async fn healthz(State(app): State<AppState>) -> (StatusCode, Json<Value>) {
    match database(&app.store).await {
        Ok(()) => (
            StatusCode::OK,
            Json(Value::Object(details("ok", &app.config))),
        ),
        Err(reason) => {
            let mut body = details("unavailable", &app.config);
            body.insert("reason".to_owned(), json!(reason));
            (StatusCode::SERVICE_UNAVAILABLE, Json(Value::Object(body)))
        }
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

fn exposition() -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        metrics::global().render(),
    )
}

/// `GET /metrics`: Prometheus exposition; queue gauges are read from the database now.
pub async fn metrics(State(app): State<AppState>) -> impl IntoResponse {
    match crate::db::tasks::counts(&app.store, chrono::Utc::now()).await {
        Ok(counts) => metrics::global().set_queue_counts(&counts),
        Err(error) => tracing::warn!(%error, "queue gauges not refreshed"),
    }
    exposition()
}

/// Which role serves a [`role_router`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Worker,
    Listener,
}

impl Role {
    fn name(self) -> &'static str {
        match self {
            Role::Worker => "worker",
            Role::Listener => "listen",
        }
    }
}

#[derive(Clone)]
struct RoleState {
    role: Role,
    store: Store,
    config: std::sync::Arc<Config>,
}

/// The health endpoints of the `worker` and `listen` roles:
///
/// - `GET /healthz` (liveness): 200 while the process serves, with its details (role, shadow
///   mode, the broker's state for the listener, the database's);
/// - `GET /readyz` (readiness): the worker is ready when the database answers, the listener
///   when it consumes from the broker; 503 with the same details otherwise;
/// - `GET /metrics`: this process's counters (queue gauges are the `api` role's, read from
///   the database, and are not exported here so that they are not counted once per pod).
pub fn role_router(role: Role, store: Store, config: std::sync::Arc<Config>) -> Router {
    Router::new()
        .route("/healthz", get(role_healthz))
        .route("/readyz", get(role_readyz))
        .route("/metrics", get(|| async { exposition() }))
        .with_state(RoleState {
            role,
            store,
            config,
        })
}

async fn role_details(state: &RoleState) -> (bool, Map<String, Value>) {
    let database = database(&state.store).await;
    let ready = match state.role {
        Role::Worker => database.is_ok(),
        Role::Listener => listener::broker_status()
            .is_some_and(|status| status.state == listener::BrokerState::Connected),
    };
    let mut body = details(if ready { "ok" } else { "unavailable" }, &state.config);
    body.insert("role".to_owned(), json!(state.role.name()));
    body.insert(
        "database".to_owned(),
        match database {
            Ok(()) => json!({ "status": "ok" }),
            Err(reason) => json!({ "status": "unavailable", "reason": reason }),
        },
    );
    (ready, body)
}

async fn role_healthz(State(state): State<RoleState>) -> Json<Value> {
    let (ready, mut body) = role_details(&state).await;
    body.insert("ready".to_owned(), json!(ready));
    body.insert("status".to_owned(), json!("ok"));
    Json(Value::Object(body))
}

async fn role_readyz(State(state): State<RoleState>) -> (StatusCode, Json<Value>) {
    let (ready, body) = role_details(&state).await;
    let code = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(Value::Object(body)))
}

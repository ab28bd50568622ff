//! The HTTP layer: one route table, thin handlers that read the DB and enqueue tasks.
//!
//! `api/` never calls Koji, Testing Farm or Pagure; it is the only module that knows HTTP
//! status codes.

mod error;
mod health;
mod testing_farm;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use tower_http::trace::TraceLayer;

pub use error::ApiError;

use crate::config::Config;
use crate::db::Store;

/// What every handler can reach.
pub struct App {
    pub store: Store,
    pub config: Arc<Config>,
}

pub type AppState = Arc<App>;

/// Every route the service serves.
pub fn router(app: AppState) -> Router {
    Router::new()
        .route("/api/healthz", get(health::healthz))
        .route("/api/system", get(health::system))
        .route("/metrics", get(health::metrics))
        .route(
            "/api/testing-farm/results",
            post(testing_farm::receive_results)
                .layer(DefaultBodyLimit::max(testing_farm::MAX_BODY_BYTES)),
        )
        .fallback(error::not_found)
        .layer(TraceLayer::new_for_http())
        .with_state(app)
}

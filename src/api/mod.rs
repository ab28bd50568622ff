//! The HTTP layer: one route table, thin handlers that read the DB and enqueue tasks.
//!
//! `api/` never calls Koji, Testing Farm or Pagure; it is the only module that knows HTTP
//! status codes. The read endpoints answer with packit-service's paths, query parameters,
//! JSON field names and pagination, so the packit dashboard can read this service; they send
//! CORS headers so a dashboard on another host can. `/api/openapi.json` describes them all.
//! The dashboard (`dashboard.rs`) is served at `/` and its client routes. Every role serves
//! its routes with `server::serve`, which bounds slow and greedy clients.

mod dashboard;
mod error;
mod groups;
mod health;
mod koji;
mod log_detective;
mod openapi;
mod params;
mod projects;
mod pull_requests;
mod queue;
mod runs;
pub mod server;
mod testing_farm;
mod testing_farm_results;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use tower_http::cors::{Any, CorsLayer};
use tower_http::trace::TraceLayer;

pub use dashboard::{PAGE_ROUTES, content_security_policy};
pub use error::ApiError;
pub use health::{Role, role_router, shadow_mode};
pub use params::MAX_PER_PAGE;

use crate::config::Config;
use crate::db::Store;

/// What every handler can reach.
pub struct App {
    pub store: Store,
    pub config: Arc<Config>,
}

pub type AppState = Arc<App>;

/// The read-only routes: `GET` only, with CORS headers.
fn read_routes() -> Vec<(&'static str, MethodRouter<AppState>)> {
    vec![
        ("/api/healthz", get(health::healthz)),
        ("/api/system", get(health::system)),
        ("/api/openapi.json", get(openapi::document)),
        ("/api/runs", get(runs::list)),
        ("/api/runs/{id}", get(runs::detail)),
        ("/api/runs/merged/{id}", get(runs::merged)),
        ("/api/koji-builds", get(koji::list)),
        ("/api/koji-builds/{id}", get(koji::detail)),
        ("/api/koji-builds/groups/{id}", get(koji::group)),
        ("/api/testing-farm/{id}", get(testing_farm_results::detail)),
        (
            "/api/testing-farm/groups/{id}",
            get(testing_farm_results::group),
        ),
        ("/api/log-detective", get(log_detective::list)),
        ("/api/log-detective/{id}", get(log_detective::detail)),
        ("/api/log-detective/groups/{id}", get(log_detective::group)),
        (
            "/api/projects/{forge}/{namespace}/{repo}/prs",
            get(projects::pull_requests),
        ),
        (
            "/api/pull-requests/{namespace}/{repo}/{pr_id}",
            get(pull_requests::pull_request),
        ),
        ("/api/queue", get(queue::queue)),
        ("/api/dashboard/backends", get(dashboard::backends)),
    ]
}

/// Every path the service serves (in axum's `{param}` syntax), for the OpenAPI document's
/// test: each must be described there.
pub fn route_paths() -> Vec<&'static str> {
    let mut paths: Vec<&'static str> = read_routes().into_iter().map(|(path, _)| path).collect();
    paths.extend(["/api/testing-farm/results", "/metrics"]);
    paths
}

/// Every route the service serves.
pub fn router(app: AppState) -> Router {
    let cors = CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET, Method::HEAD, Method::OPTIONS])
        .allow_headers([header::ACCEPT, header::CONTENT_TYPE])
        .expose_headers([header::CONTENT_RANGE]);
    let mut router = Router::new();
    for (path, route) in read_routes() {
        // The refusal goes inside the CORS layer, which answers preflight requests.
        router = router.route(path, route.fallback(method_not_allowed).layer(cors.clone()));
    }
    // `GET` lists the test results; `POST` is Testing Farm's webhook. CORS allows no `POST`
    // from a browser (preflight names GET only), and the webhook needs its token anyway.
    let results = get(testing_farm_results::list)
        .merge(
            post(testing_farm::receive_results)
                .layer(DefaultBodyLimit::max(testing_farm::MAX_BODY_BYTES)),
        )
        .fallback(method_not_allowed)
        .layer(cors);
    for path in PAGE_ROUTES {
        router = router.route(path, get(dashboard::page));
    }
    for (index, (path, _, _)) in dashboard::ASSETS.iter().enumerate() {
        router = router.route(
            path,
            get(move |headers: HeaderMap| async move { dashboard::asset(index, &headers) }),
        );
    }
    router
        .route("/api/testing-farm/results", results)
        .route("/metrics", get(health::metrics))
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(fallback)
        .layer(TraceLayer::new_for_http())
        .with_state(app)
}

/// The API is read-only: every method but the webhook's `POST` is refused, in the one error
/// envelope.
async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method not allowed: this API is read-only",
    )
}

/// An unknown path: the JSON 404 for the API and machines; the dashboard page, with 404, for
/// a browser (its script says there is no such view).
async fn fallback(State(app): State<AppState>, uri: Uri, headers: HeaderMap) -> Response {
    dashboard::not_found_page(&app.config, &uri, &headers)
        .unwrap_or_else(|| error::not_found_response().into_response())
}

//! `GET /api/openapi.json`: the OpenAPI 3.0 document of every endpoint.
//!
//! A static file, written by hand next to the handlers (a derive crate would add compile
//! time for little gain); `tests/api.rs` checks that every route of the router is described
//! and schemathesis checks the answers against it.

use axum::http::header;
use axum::response::IntoResponse;

/// The document, as served.
pub const DOCUMENT: &str = include_str!("openapi.json");

pub async fn document() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], DOCUMENT)
}

//! The dashboard: one HTML page, a stylesheet and a small JavaScript module, embedded in the
//! binary (no front-end toolchain builds or serves it).
//!
//! Every client route (`/`, `/pipelines`, `/pull-requests/…`, `/jobs/…`, `/queue`) answers
//! the same page; its script reads the path and renders the view from a packit-compatible
//! read API. Which API is the context selector's choice among `dashboard.backends`
//! (`GET /api/dashboard/backends`), kept in the URL as `?backend=<name>`. The page is sent
//! with a Content-Security-Policy that allows scripts and styles from this host only and
//! connections to this host and the configured backends.

use std::sync::LazyLock;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::AppState;
use crate::config::Config;

const INDEX_HTML: &str = include_str!("dashboard/index.html");
const APP_JS: &str = include_str!("dashboard/app.js");
const STYLE_CSS: &str = include_str!("dashboard/style.css");
const FAVICON_SVG: &str = include_str!("dashboard/favicon.svg");

/// The client routes, in axum's syntax: each serves the page.
pub const PAGE_ROUTES: &[&str] = &[
    "/",
    "/pipelines",
    "/pull-requests/{namespace}/{repo}/{pr_id}",
    "/jobs/koji",
    "/jobs/koji/{id}",
    "/jobs/testing-farm",
    "/jobs/testing-farm/{id}",
    "/jobs/log-detective",
    "/jobs/log-detective/{id}",
    "/queue",
];

/// The page's static files: path, content type, content.
pub const ASSETS: &[(&str, &str, &str)] = &[
    (
        "/dashboard/app.js",
        "text/javascript; charset=utf-8",
        APP_JS,
    ),
    ("/dashboard/style.css", "text/css; charset=utf-8", STYLE_CSS),
    ("/dashboard/favicon.svg", "image/svg+xml", FAVICON_SVG),
];

/// `GET /api/dashboard/backends`: the context selector's entries, the default first.
pub async fn backends(State(app): State<AppState>) -> Json<Value> {
    let backends: Vec<Value> = app
        .config
        .dashboard
        .backends
        .iter()
        .map(|backend| {
            json!({
                "name": backend.name.trim(),
                "api_url": backend.api_url.trim_end_matches('/'),
            })
        })
        .collect();
    Json(json!({ "backends": backends }))
}

/// The origin (`scheme://host[:port]`) of an absolute URL; `None` for a path on this host.
fn origin(url: &str) -> Option<&str> {
    let scheme_end = url.find("://")? + 3;
    let end = url[scheme_end..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |at| scheme_end + at);
    Some(&url[..end])
}

/// The page's Content-Security-Policy: its own scripts, styles and images only, API calls to
/// this host and the configured backends, no frames, no forms, no `<base>`.
pub fn content_security_policy(config: &Config) -> String {
    let mut connect = vec!["'self'".to_owned()];
    for backend in &config.dashboard.backends {
        if let Some(origin) = origin(&backend.api_url)
            && !connect.iter().any(|known| known == origin)
        {
            connect.push(origin.to_owned());
        }
    }
    format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
         connect-src {}; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        connect.join(" ")
    )
}

fn page_response(config: &Config, status: StatusCode) -> Response {
    let mut response = (status, INDEX_HTML).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(policy) = HeaderValue::from_str(&content_security_policy(config)) {
        headers.insert(header::CONTENT_SECURITY_POLICY, policy);
    }
    security_headers(headers);
    response
}

fn security_headers(headers: &mut HeaderMap) {
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
}

/// `GET` of any client route: the page.
pub async fn page(State(app): State<AppState>) -> Response {
    page_response(&app.config, StatusCode::OK)
}

/// The page with `404`, for a browser that asked for a path that is no view (its script
/// says so); `None` for API paths and for clients that do not want HTML.
pub fn not_found_page(config: &Config, uri: &Uri, headers: &HeaderMap) -> Option<Response> {
    let path = uri.path();
    if path == "/api" || path.starts_with("/api/") || path == "/metrics" {
        return None;
    }
    let wants_html = headers
        .get(header::ACCEPT)
        .and_then(|accept| accept.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"));
    wants_html.then(|| page_response(config, StatusCode::NOT_FOUND))
}

/// Entity tags of the assets, computed once.
static ETAGS: LazyLock<Vec<String>> = LazyLock::new(|| {
    ASSETS
        .iter()
        .map(|(_, _, content)| {
            let digest = Sha256::digest(content.as_bytes());
            format!("\"{}\"", hex::encode(&digest[..12]))
        })
        .collect()
});

/// `GET` of one static file, revalidated by its entity tag.
pub fn asset(index: usize, request_headers: &HeaderMap) -> Response {
    let (Some((_, content_type, content)), Some(etag)) = (ASSETS.get(index), ETAGS.get(index))
    else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let fresh = request_headers
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|tags| tags.split(',').any(|tag| tag.trim() == etag));
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (StatusCode::OK, *content).into_response()
    };
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(etag) = HeaderValue::from_str(etag) {
        headers.insert(header::ETAG, etag);
    }
    security_headers(headers);
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DashboardBackend;

    #[test]
    fn origins_of_backends() {
        assert_eq!(
            origin("https://prod.packit.dev/api"),
            Some("https://prod.packit.dev")
        );
        assert_eq!(
            origin("http://127.0.0.1:8001/api/"),
            Some("http://127.0.0.1:8001")
        );
        assert_eq!(origin("http://host"), Some("http://host"));
        assert_eq!(origin("/api"), None);
    }

    #[test]
    fn the_policy_allows_each_backend_once() {
        let mut config = Config::default();
        config.dashboard.backends.push(DashboardBackend {
            name: "Packit staging".to_owned(),
            api_url: "https://prod.packit.dev/other".to_owned(),
        });
        let policy = content_security_policy(&config);
        assert!(
            policy.contains("connect-src 'self' https://prod.packit.dev;"),
            "{policy}"
        );
        assert!(policy.contains("script-src 'self';"), "{policy}");
        assert!(!policy.contains("unsafe"), "{policy}");
    }

    #[test]
    fn every_asset_has_an_etag() {
        assert_eq!(ETAGS.len(), ASSETS.len());
        let headers = HeaderMap::new();
        let response = asset(0, &headers);
        assert_eq!(response.status(), StatusCode::OK);
        let etag = response.headers()[header::ETAG].clone();
        let mut headers = HeaderMap::new();
        headers.insert(header::IF_NONE_MATCH, etag);
        assert_eq!(asset(0, &headers).status(), StatusCode::NOT_MODIFIED);
        assert_eq!(
            asset(ASSETS.len(), &headers).status(),
            StatusCode::NOT_FOUND
        );
    }
}

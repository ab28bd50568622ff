//! The HTTP server of every role: the API and dashboard (`api`, `serve`) and the health
//! servers (`worker`, `listen`).
//!
//! axum's own `serve` bounds nothing: a client that opens connections and sends nothing, or
//! half a request head, or announces a body it never sends, holds a connection and a task for
//! ever. This server bounds each (the `api.*` keys) and answers what it refuses in the API's
//! JSON envelope:
//!
//! - open connections: at most `max_connections`; while full it stops accepting, so more wait
//!   in the kernel's backlog;
//! - the request head: it must arrive within `header_read_timeout_seconds` of the connection's
//!   start or of the previous answer on it, else hyper closes the connection (no answer: the
//!   client is not listening, or is not a client); a URI over [`MAX_URI_BYTES`] is 414, more
//!   than [`MAX_HEADERS`] header fields or over [`MAX_HEADER_BYTES`] of them 431;
//! - requests handled at once: `max_concurrent_requests`; more wait for a turn;
//! - the body: all of it within `body_read_timeout_seconds` of the start of its handling,
//!   else 408;
//! - the whole request, turn included: `request_timeout_seconds`, else 503;
//! - every answer says `X-Content-Type-Options: nosniff`.
//!
//! hyper's own limits are set above ours so that ours answer first. What is beyond them (a
//! head over [`HYPER_MAX_BUF_BYTES`], more than [`HYPER_MAX_HEADERS`] fields, a request line
//! or header hyper cannot parse) hyper answers itself, 400 or 431 with no body and no
//! `nosniff`: hyper 1 offers no hook for those answers, and no router sees such a request.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, HttpBody as _};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt as _;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::{DeadlineBody, TimeoutError};
use tracing::{debug, error, warn};

use super::ApiError;
use crate::config::ApiConfig;

/// Longest request target answered; longer is 414. Our longest real URL is a dashboard page of
/// a pull request, well under 1 KiB.
pub const MAX_URI_BYTES: usize = 8 * 1024;

/// Most header fields in one request; more is 431.
pub const MAX_HEADERS: usize = 100;

/// Most bytes of header fields (names, values and their `: ` and line ends) in one request;
/// more is 431.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// hyper's own field count limit, above [`MAX_HEADERS`] so that the JSON 431 comes first.
pub const HYPER_MAX_HEADERS: usize = 256;

/// hyper's read buffer, which bounds a whole request head: above [`MAX_URI_BYTES`] plus
/// [`MAX_HEADER_BYTES`], so that our 414 and 431 come first.
pub const HYPER_MAX_BUF_BYTES: usize = 64 * 1024;

/// Serves `router` on `listener` within `limits` (see the module) until
/// `shutdown`. Then it stops accepting, lets the requests in progress finish for at most
/// `request_timeout_seconds` (none may take longer), and drops what remains.
///
/// It never fails: a connection that fails is that connection's end, and an accept that
/// fails for want of resources (file descriptors) is retried each second, as axum does.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: &ApiConfig,
    shutdown: CancellationToken,
) {
    let service = TowerToHyperService::new(harden(router, limits));
    let http = http1(limits);
    let connection_slots = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let abandon = CancellationToken::new();
    while let Some(slot) = connection_slot(&connection_slots, &shutdown).await {
        let Some(stream) = accept(&listener, &shutdown).await else {
            break;
        };
        let connection =
            graceful.watch(http.serve_connection(TokioIo::new(stream), service.clone()));
        let abandon = abandon.clone();
        tokio::spawn(async move {
            tokio::select! {
                served = connection => {
                    if let Err(error) = served {
                        debug!(%error, "connection ended with an error");
                    }
                }
                () = abandon.cancelled() => {}
            }
            drop(slot);
        });
    }
    // New connections are refused at once rather than left waiting in the backlog.
    drop(listener);
    let grace = Duration::from_secs(limits.request_timeout_seconds);
    if tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_err()
    {
        warn!(
            grace_seconds = grace.as_secs(),
            "connections still open at shutdown after the grace period; closing them"
        );
        abandon.cancel();
    }
}

/// hyper's HTTP/1 connection settings (the service speaks HTTP/1 only). hyper's own builder,
/// not hyper-util's `auto` one: that one first reads bytes itself, to tell HTTP/2 from HTTP/1,
/// with no timeout.
///
/// hyper 1.12 starts the header read timeout whenever it waits for a request head: on a new
/// connection before any byte (a silent connection is closed too), and again after each
/// answer (an idle keep-alive connection is closed after the same time).
fn http1(limits: &ApiConfig) -> hyper::server::conn::http1::Builder {
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(limits.header_read_timeout_seconds))
        .max_headers(HYPER_MAX_HEADERS)
        .max_buf_size(HYPER_MAX_BUF_BYTES);
    builder
}

/// A free connection slot, waiting while all are taken; `None` at shutdown.
async fn connection_slot(
    slots: &Arc<Semaphore>,
    shutdown: &CancellationToken,
) -> Option<OwnedSemaphorePermit> {
    tokio::select! {
        // At shutdown, no new connection even if a slot is free.
        biased;
        () = shutdown.cancelled() => None,
        // Never closed: an error cannot happen, and would end the server like a shutdown.
        slot = slots.clone().acquire_owned() => slot.ok(),
    }
}

/// The next connection; `None` at shutdown.
async fn accept(listener: &TcpListener, shutdown: &CancellationToken) -> Option<TcpStream> {
    loop {
        let accepted = tokio::select! {
            biased;
            () = shutdown.cancelled() => return None,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, _)) => return Some(stream),
            Err(error) if is_connection_error(&error) => {
                debug!(%error, "a connection failed before it was accepted");
            }
            Err(error) => {
                // Most likely out of file descriptors: some close within a second.
                error!(%error, "cannot accept connections; retrying in 1 s");
                tokio::select! {
                    () = shutdown.cancelled() => return None,
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
        }
    }
}

/// An error of one connection, not of the listener.
fn is_connection_error(error: &std::io::Error) -> bool {
    matches!(
        error.kind(),
        std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::ConnectionReset
            | std::io::ErrorKind::Interrupted
    )
}

/// `router` behind the per-request limits. `Router::layer` wraps every route and the
/// fallbacks, and each layer is built once, so the turns are shared by the whole router.
/// The last layer added is the outermost: `nosniff` is on every answer, our refusals
/// included, and the cheap head checks come before waiting for a turn.
fn harden(router: Router, limits: &ApiConfig) -> Router {
    let body_deadline = Duration::from_secs(limits.body_read_timeout_seconds);
    let request_timeout = Duration::from_secs(limits.request_timeout_seconds);
    let turns = Arc::new(Semaphore::new(limits.max_concurrent_requests));
    router
        // Inside the turn: time spent waiting for one is not the client's fault.
        .layer(middleware::from_fn_with_state(
            body_deadline,
            refuse_late_body,
        ))
        .layer(middleware::from_fn_with_state(turns, wait_for_turn))
        .layer(middleware::from_fn_with_state(
            request_timeout,
            refuse_slow_request,
        ))
        .layer(middleware::from_fn(refuse_large_head))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
}

/// 414 for a long URI, 431 for too many or too large header fields.
async fn refuse_large_head(request: Request, next: Next) -> Response {
    match head_refusal(&request) {
        Some(refusal) => refusal.into_response(),
        None => next.run(request).await,
    }
}

fn head_refusal(request: &Request) -> Option<ApiError> {
    if uri_length(request.uri()) > MAX_URI_BYTES {
        return Some(ApiError::new(
            StatusCode::URI_TOO_LONG,
            format!("the URI is longer than {MAX_URI_BYTES} bytes"),
        ));
    }
    let headers = request.headers();
    if headers.len() > MAX_HEADERS {
        return Some(ApiError::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            format!("more than {MAX_HEADERS} header fields"),
        ));
    }
    let header_bytes: usize = headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + ": \r\n".len())
        .sum();
    if header_bytes > MAX_HEADER_BYTES {
        return Some(ApiError::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            format!("the header fields are larger than {MAX_HEADER_BYTES} bytes"),
        ));
    }
    None
}

/// The request target's length as sent: a path and query, or an absolute URI.
fn uri_length(uri: &Uri) -> usize {
    uri.scheme_str()
        .map_or(0, |scheme| scheme.len() + "://".len())
        + uri
            .authority()
            .map_or(0, |authority| authority.as_str().len())
        + uri.path_and_query().map_or(0, |path| path.as_str().len())
}

/// 503 for a request not answered within `limit`, its wait for a turn included.
async fn refuse_slow_request(
    State(limit): State<Duration>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path().to_owned();
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            warn!(%path, limit_seconds = limit.as_secs(), "request not answered in time");
            ApiError::unavailable(format!(
                "the request was not answered within {} s; try again later",
                limit.as_secs()
            ))
            .into_response()
        }
    }
}

/// Waits for one of the `max_concurrent_requests` turns.
async fn wait_for_turn(
    State(turns): State<Arc<Semaphore>>,
    request: Request,
    next: Next,
) -> Response {
    // The semaphore is never closed; were it, refusing is all that is left.
    let Ok(_turn) = turns.acquire().await else {
        return ApiError::unavailable("the server is shutting down").into_response();
    };
    next.run(request).await
}

/// 408 when the body has not all arrived within `deadline`. The handler sees a body error
/// (and answers whatever it answers to one); the flag says that error was the deadline, so the
/// answer is replaced, whichever handler read the body.
async fn refuse_late_body(
    State(deadline): State<Duration>,
    request: Request,
    next: Next,
) -> Response {
    // Most requests have no body: no timer for them.
    if request.body().is_end_stream() {
        return next.run(request).await;
    }
    let expired = Arc::new(AtomicBool::new(false));
    let flag = expired.clone();
    let request = request.map(|body| {
        Body::new(DeadlineBody::new(deadline, body).map_err(move |error| {
            if error.is::<TimeoutError>() {
                flag.store(true, Ordering::Relaxed);
            }
            error
        }))
    });
    let response = next.run(request).await;
    if !expired.load(Ordering::Relaxed) {
        return response;
    }
    let mut response = ApiError::new(
        StatusCode::REQUEST_TIMEOUT,
        format!(
            "the request body did not arrive within {} s",
            deadline.as_secs()
        ),
    )
    .into_response();
    // The rest of the body may still come: this connection cannot carry another request.
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

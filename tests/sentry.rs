//! What reaches Sentry from a running `fedora-ci api`: a loopback stand-in for Sentry counts
//! the events it is sent, and the process is stopped with SIGTERM (Sentry sends what it holds
//! at exit) before they are counted.
//!
//! Each run ends with one real error, the API's database error (a table it reads is dropped),
//! so that "no event from the noise" is told apart from "no event at all": the only event must
//! be that error.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::HeaderMap;
use axum::routing::post;
use common::TestDb;
use common::process::Running;
use fedora_ci::db::{ConnectSettings, Store};
use serde_json::Value as Json;

const TESTING_FARM_SECRET: &str = "the-right-testing-farm-secret";
/// What `src/api/error.rs` logs at `ERROR` for a database error.
const DATABASE_ERROR: &str = "database error while answering a request";
/// A table `GET /api/koji-builds` reads.
const TABLE_READ_BY_API: &str = "koji_build_targets";
const KOJI_BUILDS: &str = "/api/koji-builds";
/// Crates whose lines must never reach Sentry, not even as breadcrumbs: Sentry's transport.
const TRANSPORT_PREFIXES: &[&str] = &[
    "sentry",
    "reqwest",
    "hyper",
    "h2",
    "native_tls",
    "rustls",
    "tokio_util",
];

/// What the stand-in received.
#[derive(Default)]
struct Received {
    /// Event payloads, from envelopes (`type: event` items) and the legacy store endpoint.
    events: Vec<Json>,
    /// Requests it could not read (an unknown path, a compressed or malformed body): each
    /// would hide events from the count.
    unreadable: Vec<String>,
}

/// A loopback Sentry: `POST /api/<project>/envelope/` and `/api/<project>/store/`.
async fn sentry_stand_in() -> (String, Arc<Mutex<Received>>) {
    let received = Arc::new(Mutex::new(Received::default()));
    let on_envelope = received.clone();
    let on_store = received.clone();
    let on_other = received.clone();
    let app = axum::Router::new()
        .route(
            "/api/{project}/envelope/",
            post(move |headers: HeaderMap, body: Bytes| {
                let received = on_envelope.clone();
                async move {
                    let mut received = received.lock().unwrap();
                    match readable(&headers).and_then(|()| envelope_events(&body)) {
                        Ok(events) => received.events.extend(events),
                        Err(why) => received.unreadable.push(why),
                    }
                    axum::Json(serde_json::json!({}))
                }
            }),
        )
        .route(
            "/api/{project}/store/",
            post(move |headers: HeaderMap, body: Bytes| {
                let received = on_store.clone();
                async move {
                    let mut received = received.lock().unwrap();
                    let event = readable(&headers).and_then(|()| {
                        serde_json::from_slice(&body).map_err(|error| format!("store: {error}"))
                    });
                    match event {
                        Ok(event) => received.events.push(event),
                        Err(why) => received.unreadable.push(why),
                    }
                    axum::Json(serde_json::json!({}))
                }
            }),
        )
        .fallback(move |uri: axum::http::Uri| {
            let received = on_other.clone();
            async move {
                received
                    .lock()
                    .unwrap()
                    .unreadable
                    .push(format!("unexpected path {uri}"));
                axum::http::StatusCode::NOT_FOUND
            }
        });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dsn = format!("http://public@{}/1", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (dsn, received)
}

/// The SDK's reqwest transport sends plain bodies; a compressed one would not be counted.
fn readable(headers: &HeaderMap) -> Result<(), String> {
    match headers.get("content-encoding") {
        Some(encoding) => Err(format!("compressed body: {encoding:?}")),
        None => Ok(()),
    }
}

/// The `event` items of an envelope: a header line, then items, each a header line
/// (`{"type": …, "length": …}`) and a payload of `length` bytes or, without a length, up to
/// the next newline.
fn envelope_events(body: &[u8]) -> Result<Vec<Json>, String> {
    let (header, mut rest) = split_line(body);
    serde_json::from_slice::<Json>(header).map_err(|error| format!("envelope header: {error}"))?;
    let mut events = Vec::new();
    while !rest.is_empty() {
        let (item_header, after_header) = split_line(rest);
        if item_header.is_empty() {
            rest = after_header;
            continue;
        }
        let item_header: Json =
            serde_json::from_slice(item_header).map_err(|error| format!("item header: {error}"))?;
        let (payload, after_payload) = match item_header["length"].as_u64() {
            Some(length) => {
                let length = usize::try_from(length).map_err(|error| error.to_string())?;
                if after_header.len() < length {
                    return Err(format!("item of {length} bytes is cut short"));
                }
                let (payload, after) = after_header.split_at(length);
                (payload, after.strip_prefix(b"\n").unwrap_or(after))
            }
            None => split_line(after_header),
        };
        if item_header["type"] == "event" {
            events
                .push(serde_json::from_slice(payload).map_err(|error| format!("event: {error}"))?);
        }
        rest = after_payload;
    }
    Ok(events)
}

fn split_line(bytes: &[u8]) -> (&[u8], &[u8]) {
    match bytes.iter().position(|&byte| byte == b'\n') {
        Some(end) => (&bytes[..end], &bytes[end + 1..]),
        None => (bytes, &[]),
    }
}

/// A `fedora-ci api` on a fresh PostgreSQL schema, reporting to the stand-in.
struct Api {
    process: Running,
    base: String,
    db: TestDb,
    http: reqwest::Client,
    received: Arc<Mutex<Received>>,
    _dir: tempfile::TempDir,
}

impl Api {
    async fn start(rust_log: &str) -> Api {
        let (dsn, received) = sentry_stand_in().await;
        let db = TestDb::postgres().await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("fedora-ci.toml");
        std::fs::write(
            &config,
            format!(
                "database_url = \"{}\"\n\
                 sentry_dsn = \"{dsn}\"\n\
                 testing_farm_secret = \"{TESTING_FARM_SECRET}\"\n",
                db.url()
            ),
        )
        .unwrap();
        let mut process = Running::start(
            dir.path(),
            &[
                "--config",
                config.to_str().unwrap(),
                "api",
                "--bind",
                "127.0.0.1:0",
            ],
            &[("RUST_LOG", rust_log), ("NO_COLOR", "1")],
        );
        let line = process.wait_for_line(&["API listening"], Duration::from_secs(60));
        process.wait_for_line(&["database schema is up to date"], Duration::from_secs(60));
        Api {
            process,
            base: format!("http://{}", common::process::listening_address(&line)),
            db,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap(),
            received,
            _dir: dir,
        }
    }

    async fn get(&self, path: &str) -> u16 {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        response.status().as_u16()
    }

    /// Drops a table the API reads: its next read is a database error.
    async fn break_database(&self) {
        let Store::Postgres(pool) = Store::connect(self.db.url(), &ConnectSettings::default())
            .await
            .unwrap()
        else {
            panic!("the test database is PostgreSQL");
        };
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP TABLE {TABLE_READ_BY_API} CASCADE"
        )))
        .execute(&pool)
        .await
        .unwrap();
        pool.close().await;
    }

    /// One database error, as a request meets it.
    async fn database_error(&self) {
        assert_eq!(self.get(KOJI_BUILDS).await, 503);
    }

    /// Stops the process with SIGTERM and returns the events the stand-in received; Sentry
    /// sends its queue before the process exits.
    fn stop(mut self) -> Vec<Json> {
        let status = self.process.terminate();
        assert!(status.success(), "fedora-ci api exited with {status}");
        let received = self.received.lock().unwrap();
        assert!(
            received.unreadable.is_empty(),
            "the stand-in could not read: {:?}",
            received.unreadable
        );
        received.events.clone()
    }
}

/// Asserts that `events` is exactly one report of the database error and returns it.
fn only_the_database_error(events: &[Json]) -> &Json {
    let summary: Vec<String> = events
        .iter()
        .map(|event| {
            format!(
                "[{}] {}: {}",
                event["level"],
                event["logger"],
                event["message"].as_str().unwrap_or("")
            )
        })
        .collect();
    // The first few say what went wrong; thousands would bury the count.
    let shown = &summary[..summary.len().min(10)];
    assert_eq!(events.len(), 1, "events (first 10): {shown:#?}");
    let event = &events[0];
    assert_eq!(event["message"], DATABASE_ERROR, "event: {summary:?}");
    // Sentry's default level, which the SDK therefore leaves out.
    assert_eq!(event["level"].as_str().unwrap_or("error"), "error");
    event
}

fn breadcrumbs(event: &Json) -> Vec<Json> {
    event["breadcrumbs"]["values"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// Start-up and shut-down at `trace`, and ordinary requests: their thousands of lines (the
/// Sentry transport's own HTTP logging among them) are no event, and no breadcrumb below
/// `info` or from the transport's crates.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trace_level_run_reports_only_the_real_error() {
    let api = Api::start("trace").await;
    for path in [
        "/api/healthz",
        "/api/system",
        "/api/runs",
        KOJI_BUILDS,
        "/api/queue",
        "/metrics",
        "/api/no-such-route",
    ] {
        let status = api.get(path).await;
        assert!(status < 500, "GET {path}: {status}");
    }
    api.break_database().await;
    api.database_error().await;
    let events = api.stop();

    let event = only_the_database_error(&events);
    for crumb in breadcrumbs(event) {
        // A `log` crate record (reqwest logs with `log`) has the category `log`, and its
        // real target in `log.target`.
        let targets = [&crumb["category"], &crumb["data"]["log.target"]];
        assert!(
            !targets.iter().any(|target| {
                let target = target.as_str().unwrap_or("");
                TRANSPORT_PREFIXES
                    .iter()
                    .any(|prefix| target.starts_with(prefix))
            }),
            "breadcrumb from the transport: {crumb}"
        );
        assert!(
            // A breadcrumb's default level, `info`, is left out.
            ["info", "warning", "error"].contains(&crumb["level"].as_str().unwrap_or("info")),
            "breadcrumb below info: {crumb}"
        );
    }
}

/// Anyone can call the webhook: 200 calls with a wrong token are no event (the refusal is a
/// breadcrumb at most, at `warn` or `info`), and add at most Sentry's 100 breadcrumbs to the
/// next real event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_webhook_flood_is_no_event() {
    let api = Api::start("info").await;
    for index in 0..200 {
        let response = api
            .http
            .post(format!("{}/api/testing-farm/results", api.base))
            .json(&serde_json::json!({"request_id": format!("flood-{index}"), "token": "wrong"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 401);
    }
    api.break_database().await;
    api.database_error().await;
    let events = api.stop();

    let event = only_the_database_error(&events);
    assert!(breadcrumbs(event).len() <= 100);
}

/// One real error is one event; the same error 20 more times within minutes is still one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_database_error_is_one_event() {
    let api = Api::start("info").await;
    let status = api.get(KOJI_BUILDS).await;
    assert!((200..300).contains(&status), "GET {KOJI_BUILDS}: {status}");
    api.break_database().await;
    for _ in 0..21 {
        api.database_error().await;
    }
    let events = api.stop();

    only_the_database_error(&events);
}

#[test]
fn the_envelope_reader_counts_event_items() {
    let envelope = b"{\"event_id\":\"0\"}\n\
        {\"type\":\"event\",\"length\":15}\n{\"message\":\"a\"}\n\
        {\"type\":\"client_report\"}\n{\"discarded_events\":[]}\n\
        {\"type\":\"event\"}\n{\"message\":\"b\"}\n";
    let events = envelope_events(envelope).unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(events[1]["message"], "b");
    assert!(
        envelope_events(b"{\"event_id\":\"0\"}\n{\"type\":\"event\",\"length\":99}\n{}").is_err()
    );
}

//! The HTTP server's limits (`api::server`), against the real server on loopback with small
//! timeouts: silent and slow clients are cut off, a body that never arrives is answered 408,
//! oversized heads are refused in the JSON envelope, connections and concurrent requests are
//! capped, every answer says `nosniff`, and the webhook takes only JSON.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use axum::Router;
use axum::routing::get;
use common::TestDb;
use fedora_ci::api::{App, Role, role_router, router, server};
use fedora_ci::config::{ApiConfig, Config, Secret};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

const TOKEN: &str = "tf-webhook-token";

/// Slack for a loaded machine on top of a configured timeout.
const SLACK: Duration = Duration::from_secs(3);

/// A server on loopback, stopped when dropped.
struct Running {
    address: SocketAddr,
    shutdown: CancellationToken,
    served: Option<tokio::task::JoinHandle<()>>,
    _db: Option<TestDb>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl Running {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    async fn connect(&self) -> anyhow::Result<TcpStream> {
        Ok(TcpStream::connect(self.address).await?)
    }
}

/// The default limits with the timeouts given, in seconds.
fn limits(header_read: u64, body_read: u64, request: u64) -> ApiConfig {
    ApiConfig {
        header_read_timeout_seconds: header_read,
        body_read_timeout_seconds: body_read,
        request_timeout_seconds: request,
        ..ApiConfig::default()
    }
}

async fn start(router: Router, limits: ApiConfig, db: Option<TestDb>) -> anyhow::Result<Running> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    let shutdown = CancellationToken::new();
    let token = shutdown.clone();
    let served = tokio::spawn(async move { server::serve(listener, router, &limits, token).await });
    Ok(Running {
        address,
        shutdown,
        served: Some(served),
        _db: db,
    })
}

fn config(limits: &ApiConfig) -> Arc<Config> {
    Arc::new(Config {
        testing_farm_secret: Some(Secret::new(TOKEN)),
        api: limits.clone(),
        ..Config::default()
    })
}

/// The API and dashboard of the `api` role on a fresh SQLite database.
async fn api(limits: ApiConfig) -> anyhow::Result<Running> {
    let db = TestDb::sqlite().await?;
    let store = db.store().await?;
    let app = Arc::new(App {
        store,
        config: config(&limits),
    });
    start(router(app), limits, Some(db)).await
}

/// An answer read off the wire.
#[derive(Debug)]
struct Raw {
    status: u16,
    /// The head, header names lower-cased.
    head: String,
    body: String,
}

impl Raw {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            (key == name).then(|| value.trim())
        })
    }

    /// The `error` of a JSON envelope; fails on anything else.
    fn error(&self) -> anyhow::Result<String> {
        let body: Value =
            serde_json::from_str(&self.body).with_context(|| format!("not JSON: {self:?}"))?;
        let Some(error) = body["error"].as_str() else {
            bail!("not an error envelope: {self:?}");
        };
        anyhow::ensure!(
            self.header("content-type") == Some("application/json"),
            "not declared JSON: {self:?}"
        );
        Ok(error.to_owned())
    }
}

/// A whole answer in `data`, if it has arrived.
fn complete(data: &[u8]) -> anyhow::Result<Option<Raw>> {
    let Some(end) = data.windows(4).position(|window| window == b"\r\n\r\n") else {
        return Ok(None);
    };
    let head = String::from_utf8_lossy(&data[..end]);
    let head = head
        .lines()
        .enumerate()
        .map(|(index, line)| match line.split_once(':') {
            Some((name, value)) if index > 0 => format!("{}:{value}", name.to_ascii_lowercase()),
            _ => line.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|status| status.parse().ok())
        .with_context(|| format!("no status line: {head}"))?;
    let mut raw = Raw {
        status,
        head,
        body: String::new(),
    };
    let length: usize = raw
        .header("content-length")
        .map_or(Ok(0), str::parse)
        .context("content-length")?;
    let body = &data[end + 4..];
    if body.len() < length {
        return Ok(None);
    }
    raw.body = String::from_utf8_lossy(&body[..length]).into_owned();
    Ok(Some(raw))
}

/// Reads one answer from `stream`, which must come within `within`.
async fn read_answer(stream: &mut TcpStream, within: Duration) -> anyhow::Result<Raw> {
    let deadline = Instant::now() + within;
    let mut data = Vec::new();
    let mut buffer = [0; 8192];
    loop {
        if let Some(raw) = complete(&data)? {
            return Ok(raw);
        }
        let read = tokio::time::timeout_at(deadline, stream.read(&mut buffer))
            .await
            .with_context(|| {
                format!(
                    "no whole answer within {within:?}; got {:?}",
                    String::from_utf8_lossy(&data)
                )
            })??;
        if read == 0 {
            bail!(
                "closed before a whole answer: {:?}",
                String::from_utf8_lossy(&data)
            );
        }
        data.extend_from_slice(&buffer[..read]);
    }
}

/// Sends `request` on a new connection and reads the answer, which must come within `within`.
async fn exchange(server: &Running, request: &str, within: Duration) -> anyhow::Result<Raw> {
    let mut stream = server.connect().await?;
    stream.write_all(request.as_bytes()).await?;
    read_answer(&mut stream, within).await
}

/// Succeeds when the server closes `stream` (end of stream or reset) before `deadline`,
/// having sent nothing.
async fn closed_by(mut stream: TcpStream, deadline: Instant) -> anyhow::Result<()> {
    let mut buffer = [0; 1024];
    match tokio::time::timeout_at(deadline, stream.read(&mut buffer)).await {
        Err(_) => bail!("the connection is still open"),
        Ok(Ok(0) | Err(_)) => Ok(()),
        Ok(Ok(read)) => bail!(
            "the server answered: {:?}",
            String::from_utf8_lossy(&buffer[..read])
        ),
    }
}

fn get_request(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
}

// (a)

#[tokio::test]
async fn silent_and_half_sent_connections_are_closed_while_the_api_answers() -> anyhow::Result<()> {
    let server = api(limits(1, 10, 30)).await?;
    let mut idle = Vec::new();
    for _ in 0..50 {
        idle.push(server.connect().await?);
    }
    for _ in 0..50 {
        let mut stream = server.connect().await?;
        stream
            .write_all(b"GET /api/healthz HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")
            .await?;
        idle.push(stream);
    }
    let opened = Instant::now();

    // The held connections take nothing from others.
    let health = reqwest::Client::new()
        .get(server.url("/api/healthz"))
        .timeout(SLACK)
        .send()
        .await?;
    assert_eq!(health.status(), 200);

    let deadline = opened + Duration::from_secs(1) + SLACK;
    let mut closing = JoinSet::new();
    for stream in idle {
        closing.spawn(closed_by(stream, deadline));
    }
    let mut still_open = 0;
    while let Some(closed) = closing.join_next().await {
        if closed?.is_err() {
            still_open += 1;
        }
    }
    assert_eq!(
        still_open, 0,
        "connections left open after the header timeout"
    );
    Ok(())
}

#[tokio::test]
async fn idle_keep_alive_connection_is_closed_after_the_header_timeout() -> anyhow::Result<()> {
    let server = api(limits(1, 10, 30)).await?;
    let mut stream = server.connect().await?;
    stream
        .write_all(b"GET /api/healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await?;
    let answer = read_answer(&mut stream, SLACK).await?;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("connection"), None, "kept alive: {answer:?}");
    closed_by(stream, Instant::now() + Duration::from_secs(1) + SLACK).await
}

// (b)

#[tokio::test]
async fn body_that_never_arrives_is_answered_408() -> anyhow::Result<()> {
    let server = api(limits(10, 1, 30)).await?;
    let started = Instant::now();
    let answer = exchange(
        &server,
        "POST /api/testing-farm/results HTTP/1.1\r\nHost: localhost\r\n\
         Content-Type: application/json\r\nContent-Length: 10000\r\n\r\n{",
        Duration::from_secs(1) + SLACK,
    )
    .await?;
    assert_eq!(answer.status, 408, "{answer:?}");
    assert!(answer.error()?.contains("did not arrive"), "{answer:?}");
    assert_eq!(answer.header("connection"), Some("close"));
    assert!(started.elapsed() >= Duration::from_millis(900));
    Ok(())
}

/// The attack as reported: a length far over the webhook's limit is refused before any of
/// the body is read, without waiting for the body timeout.
#[tokio::test]
async fn body_announced_over_the_limit_is_answered_413_at_once() -> anyhow::Result<()> {
    let server = api(limits(10, 5, 30)).await?;
    let started = Instant::now();
    let answer = exchange(
        &server,
        "POST /api/testing-farm/results HTTP/1.1\r\nHost: localhost\r\n\
         Content-Type: application/json\r\nContent-Length: 99999999\r\n\r\n{",
        SLACK,
    )
    .await?;
    assert_eq!(answer.status, 413, "{answer:?}");
    answer.error()?;
    assert!(started.elapsed() < Duration::from_secs(5));
    Ok(())
}

// (c)

#[tokio::test]
async fn long_uri_is_answered_414_in_json() -> anyhow::Result<()> {
    let server = api(limits(10, 10, 30)).await?;
    let path = format!("/api/runs?filler={}", "a".repeat(10 * 1024));
    let answer = exchange(&server, &get_request(&path), SLACK).await?;
    assert_eq!(answer.status, 414, "{answer:?}");
    answer.error()?;
    assert_eq!(answer.header("x-content-type-options"), Some("nosniff"));

    // Just under the limit is served.
    let path = format!("/api/runs?filler={}", "a".repeat(8 * 1024 - 20));
    let answer = exchange(&server, &get_request(&path), SLACK).await?;
    assert_ne!(answer.status, 414, "{answer:?}");
    Ok(())
}

#[tokio::test]
async fn too_many_or_too_large_headers_are_answered_431_in_json() -> anyhow::Result<()> {
    let server = api(limits(10, 10, 30)).await?;
    let many: String = (0..150).map(|n| format!("X-Filler-{n}: {n}\r\n")).collect();
    let request =
        format!("GET /api/healthz HTTP/1.1\r\nHost: localhost\r\n{many}Connection: close\r\n\r\n");
    let answer = exchange(&server, &request, SLACK).await?;
    assert_eq!(answer.status, 431, "{answer:?}");
    assert!(answer.error()?.contains("header fields"), "{answer:?}");

    let large: String = (0..20)
        .map(|n| format!("X-Filler-{n}: {}\r\n", "b".repeat(1024)))
        .collect();
    let request =
        format!("GET /api/healthz HTTP/1.1\r\nHost: localhost\r\n{large}Connection: close\r\n\r\n");
    let answer = exchange(&server, &request, SLACK).await?;
    assert_eq!(answer.status, 431, "{answer:?}");
    answer.error()?;
    Ok(())
}

// (d)

#[tokio::test]
async fn fifth_connection_waits_for_one_of_four_to_close() -> anyhow::Result<()> {
    // A long header timeout: the four are held open by the test, not closed by the server.
    let server = api(ApiConfig {
        max_connections: 4,
        ..limits(30, 10, 30)
    })
    .await?;
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(server.connect().await?);
    }
    let mut fifth = server.connect().await?;
    fifth
        .write_all(get_request("/api/healthz").as_bytes())
        .await?;
    let waited = read_answer(&mut fifth, Duration::from_secs(1)).await;
    assert!(waited.is_err(), "served beyond the limit: {waited:?}");

    drop(held.pop());
    let answer = read_answer(&mut fifth, SLACK).await?;
    assert_eq!(answer.status, 200, "{answer:?}");
    Ok(())
}

#[tokio::test]
async fn requests_beyond_the_concurrency_limit_wait_for_a_turn() -> anyhow::Result<()> {
    let (router, started, release) = holding_router();
    let server = start(
        router,
        ApiConfig {
            max_concurrent_requests: 1,
            ..limits(10, 10, 30)
        },
        None,
    )
    .await?;
    let client = reqwest::Client::new();
    let holding = tokio::spawn(client.get(server.url("/hold")).send());
    let _held = tokio::time::timeout(SLACK, started.acquire()).await??;
    let waiting = tokio::spawn(client.get(server.url("/fast")).send());
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!waiting.is_finished(), "answered without a turn");

    release.add_permits(1);
    assert_eq!(holding.await??.status(), 200);
    let fast = tokio::time::timeout(SLACK, waiting).await???;
    assert_eq!(fast.status(), 200);
    Ok(())
}

/// A router whose `/hold` answers once released, and says when it has started.
fn holding_router() -> (Router, Arc<Semaphore>, Arc<Semaphore>) {
    let started = Arc::new(Semaphore::new(0));
    let release = Arc::new(Semaphore::new(0));
    let (on_start, on_release) = (started.clone(), release.clone());
    let router = Router::new()
        .route(
            "/hold",
            get(move || async move {
                on_start.add_permits(1);
                let _released = on_release.acquire().await;
                "released"
            }),
        )
        .route("/fast", get(|| async { "fast" }));
    (router, started, release)
}

#[tokio::test]
async fn shutdown_finishes_requests_in_progress_and_closes_the_rest() -> anyhow::Result<()> {
    let (router, started, release) = holding_router();
    let mut server = start(router, limits(30, 10, 30), None).await?;
    let silent = server.connect().await?;
    let holding = tokio::spawn(reqwest::Client::new().get(server.url("/hold")).send());
    let _held = tokio::time::timeout(SLACK, started.acquire()).await??;

    server.shutdown.cancel();
    closed_by(silent, Instant::now() + SLACK).await?;
    let refused = tokio::time::timeout(SLACK, async {
        while TcpStream::connect(server.address).await.is_ok() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(refused.is_ok(), "still accepting after shutdown");
    let served = server.served.take().context("served")?;
    assert!(
        !served.is_finished(),
        "stopped before the request in progress"
    );

    release.add_permits(1);
    let answer = holding.await??;
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.text().await?, "released");
    tokio::time::timeout(SLACK, served).await??;
    Ok(())
}

#[tokio::test]
async fn request_over_the_time_limit_is_answered_503_in_json() -> anyhow::Result<()> {
    let router = Router::new().route(
        "/slow",
        get(|| async {
            tokio::time::sleep(Duration::from_secs(60)).await;
            "too late"
        }),
    );
    let server = start(router, limits(10, 10, 1), None).await?;
    let answer = exchange(
        &server,
        &get_request("/slow"),
        Duration::from_secs(1) + SLACK,
    )
    .await?;
    assert_eq!(answer.status, 503, "{answer:?}");
    assert!(answer.error()?.contains("not answered within 1 s"));
    Ok(())
}

// (e)

#[tokio::test]
async fn every_server_says_nosniff() -> anyhow::Result<()> {
    let db = TestDb::sqlite().await?;
    let store = db.store().await?;
    let limits = limits(10, 10, 30);
    let health = start(
        role_router(Role::Worker, store, config(&limits)),
        limits.clone(),
        Some(db),
    )
    .await?;
    let api = api(limits).await?;
    let client = reqwest::Client::new();
    for url in [
        api.url("/api/healthz"),
        api.url("/"),
        api.url("/api/no-such-thing"),
        health.url("/healthz"),
        health.url("/metrics"),
    ] {
        let response = client.get(&url).send().await?;
        assert!(response.status().as_u16() < 500, "{url}: {response:?}");
        assert_eq!(
            response
                .headers()
                .get("x-content-type-options")
                .map(|value| value.as_bytes()),
            Some(&b"nosniff"[..]),
            "{url}"
        );
    }
    Ok(())
}

// (f)

#[tokio::test]
async fn webhook_takes_only_json() -> anyhow::Result<()> {
    let server = api(limits(10, 10, 30)).await?;
    let client = reqwest::Client::new();
    let url = server.url("/api/testing-farm/results");
    let body =
        json!({"request_id": "0ea2b5ec-6a5d-4b0a-a2c9-4e0b8a8b0b0c", "token": "wrong"}).to_string();
    let post = |content_type: Option<&str>| {
        let mut request = client.post(&url).body(body.clone());
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        async move {
            let response = request.send().await?;
            let status = response.status().as_u16();
            let answer: Value = response.json().await?;
            anyhow::Ok((status, answer))
        }
    };

    for refused in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "application/jsonx",
    ] {
        let (status, answer) = post(Some(refused)).await?;
        assert_eq!(status, 415, "{refused}: {answer}");
        assert!(answer["error"].is_string(), "{answer}");
    }
    // Past the type check, to the token's: JSON in any spelling, or no type at all.
    for accepted in [
        Some("application/json"),
        Some("Application/JSON; charset=utf-8"),
        None,
    ] {
        let (status, answer) = post(accepted).await?;
        assert_eq!(status, 401, "{accepted:?}: {answer}");
    }
    let metrics = fedora_ci::metrics::global().render();
    assert!(
        metrics.contains(r#"outcome="content_type""#),
        "no content_type refusal counted:\n{metrics}"
    );
    Ok(())
}

//! An HTTP proxy in front of a fake that breaks a share of the calls through it, the ways a
//! real service breaks: HTTP 5xx, Koji's `ServerOffline` fault, connection resets, timeouts
//! (the request lost, or done and its answer lost), and slow answers. Calls that must always
//! fail (a package Koji refuses) get their permanent fault every time.
//!
//! Its front is a TCP relay, so that a reset is a real one: the handler asks the relay to
//! drop the client's connection with `SO_LINGER` 0 instead of answering.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use fedora_ci::clients::koji::xmlrpc;
use serde_json::Value as Json;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Service {
    Koji,
    TestingFarm,
    Pagure,
}

/// How a call is broken.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Fault {
    /// HTTP 500, 502 or 503 without forwarding.
    ServerError,
    /// Koji's `ServerOffline` XML-RPC fault, without forwarding.
    ServerOffline,
    /// The connection reset, without forwarding.
    Reset,
    /// No answer before the client's timeout; the call never reached the service.
    TimeoutRequestLost,
    /// The service did the call, but its answer came after the client's timeout.
    TimeoutAnswerLost,
    /// Forwarded after a delay shorter than the client's timeout.
    Slow,
    /// A call that always fails: the permanent fault.
    Permanent,
}

/// A call that always fails with a permanent Koji fault: `build` of a source containing
/// `source_contains`.
#[derive(Clone, Debug)]
pub struct DoomedBuild {
    pub source_contains: String,
    pub code: i32,
    pub text: String,
}

#[derive(Clone, Debug)]
pub struct FaultSettings {
    /// Share of calls that fail transiently (0.0 to 1.0).
    pub failure_rate: f64,
    /// Share of calls that are slow but succeed.
    pub slow_rate: f64,
    /// The service's request timeout; a timeout fault waits a little longer.
    pub client_timeout: Duration,
    pub doomed: Option<DoomedBuild>,
}

#[derive(Default)]
struct Records {
    calls: u64,
    faults: BTreeMap<Fault, u64>,
    testing_farm_failed_submissions: Vec<Json>,
}

struct Shared {
    service: Service,
    upstream: String,
    settings: FaultSettings,
    http: reqwest::Client,
    records: Mutex<Records>,
    /// The relay's connection to the proxy, by its local port → how to reset the client's.
    resets: Mutex<HashMap<u16, Arc<Notify>>>,
}

#[derive(Clone)]
pub struct FaultProxy {
    shared: Arc<Shared>,
    public: SocketAddr,
    path: String,
}

impl FaultProxy {
    /// Puts a proxy in front of `fake_url` (`http://127.0.0.1:<port>/<path>`).
    pub async fn start(service: Service, fake_url: &str, settings: FaultSettings) -> FaultProxy {
        let parsed = reqwest::Url::parse(fake_url).unwrap();
        let upstream = format!(
            "http://{}:{}",
            parsed.host_str().unwrap(),
            parsed.port().unwrap()
        );
        let shared = Arc::new(Shared {
            service,
            upstream,
            settings,
            http: reqwest::Client::builder().no_proxy().build().unwrap(),
            records: Mutex::new(Records::default()),
            resets: Mutex::new(HashMap::new()),
        });
        let inner = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        let inner_address = inner.local_addr().unwrap();
        let router = axum::Router::new()
            .fallback(handle)
            .with_state(shared.clone());
        tokio::spawn(async move {
            let service = router.into_make_service_with_connect_info::<SocketAddr>();
            let _ = axum::serve(inner, service).await;
        });
        let front = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        let public = front.local_addr().unwrap();
        tokio::spawn(relay(front, inner_address, shared.clone()));
        FaultProxy {
            shared,
            public,
            path: parsed.path().trim_end_matches('/').to_owned(),
        }
    }

    /// The URL to give the service instead of the fake's.
    pub fn url(&self) -> String {
        format!("http://{}{}", self.public, self.path)
    }

    pub fn calls(&self) -> u64 {
        self.records().calls
    }

    pub fn faults(&self) -> BTreeMap<Fault, u64> {
        self.records().faults.clone()
    }

    /// Request bodies whose submission the service saw fail (Testing Farm only).
    pub fn testing_farm_failed_submissions(&self) -> Vec<Json> {
        self.records().testing_farm_failed_submissions.clone()
    }

    fn records(&self) -> std::sync::MutexGuard<'_, Records> {
        self.shared.records.lock().unwrap()
    }
}

impl Shared {
    fn count(&self, fault: Fault) {
        *self
            .records
            .lock()
            .unwrap()
            .faults
            .entry(fault)
            .or_default() += 1;
    }

    fn choose_fault(&self, permanent: bool) -> Option<Fault> {
        if permanent {
            return Some(Fault::Permanent);
        }
        let draw = rand::random_range(0.0..1.0);
        if draw < self.settings.failure_rate {
            let kinds: &[Fault] = match self.service {
                Service::Koji => &[
                    Fault::ServerError,
                    Fault::ServerOffline,
                    Fault::Reset,
                    Fault::TimeoutRequestLost,
                    Fault::TimeoutAnswerLost,
                ],
                Service::TestingFarm | Service::Pagure => &[
                    Fault::ServerError,
                    Fault::Reset,
                    Fault::TimeoutRequestLost,
                    Fault::TimeoutAnswerLost,
                ],
            };
            return Some(kinds[rand::random_range(0..kinds.len())]);
        }
        if draw < self.settings.failure_rate + self.settings.slow_rate {
            return Some(Fault::Slow);
        }
        None
    }

    fn beyond_timeout(&self) -> Duration {
        self.settings.client_timeout + Duration::from_secs(1)
    }
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    shared.records.lock().unwrap().calls += 1;
    let koji_call = (shared.service == Service::Koji)
        .then(|| xmlrpc::decode_call(&String::from_utf8_lossy(&body)).ok())
        .flatten();
    let doomed = match (&koji_call, &shared.settings.doomed) {
        (Some(call), Some(doomed)) if call.method == "build" => call
            .args
            .first()
            .and_then(|source| source.as_str())
            .is_some_and(|source| source.contains(&doomed.source_contains))
            .then_some(doomed),
        _ => None,
    };
    let fault = shared.choose_fault(doomed.is_some());
    if let Some(fault) = fault {
        shared.count(fault);
        if fault != Fault::Slow
            && shared.service == Service::TestingFarm
            && method == Method::POST
            && uri.path().ends_with("/requests")
        {
            let request = serde_json::from_slice(&body).unwrap_or(Json::Null);
            shared
                .records
                .lock()
                .unwrap()
                .testing_farm_failed_submissions
                .push(request);
        }
    }
    match fault {
        Some(Fault::Permanent) => {
            let doomed = doomed.unwrap();
            return xml_fault(doomed.code, &doomed.text);
        }
        Some(Fault::ServerError) => {
            let status = [500, 502, 503][rand::random_range(0..3usize)];
            return (
                StatusCode::from_u16(status).unwrap(),
                "injected server error",
            )
                .into_response();
        }
        Some(Fault::ServerOffline) => {
            // koji.ServerOffline, as the hub says it during an outage.
            return xml_fault(1014, "server is offline");
        }
        Some(Fault::Reset) => {
            let reset = shared.resets.lock().unwrap().get(&peer.port()).cloned();
            if let Some(reset) = reset {
                reset.notify_one();
            }
            // Nobody reads this: the relay has dropped the client's connection.
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
        Some(Fault::TimeoutRequestLost) => {
            tokio::time::sleep(shared.beyond_timeout()).await;
            return StatusCode::GATEWAY_TIMEOUT.into_response();
        }
        Some(Fault::Slow) => {
            let delay = shared
                .settings
                .client_timeout
                .mul_f64(rand::random_range(0.05..0.5));
            tokio::time::sleep(delay).await;
        }
        Some(Fault::TimeoutAnswerLost) | None => {}
    }
    let response = forward(&shared, method, &uri, &headers, body).await;
    if fault == Some(Fault::TimeoutAnswerLost) {
        tokio::time::sleep(shared.beyond_timeout()).await;
    }
    match response {
        Ok((status, content_type, answer)) => {
            let mut response = (status, answer).into_response();
            if let Some(content_type) = content_type {
                response
                    .headers_mut()
                    .insert(header::CONTENT_TYPE, content_type);
            }
            response
        }
        Err(error) => (StatusCode::BAD_GATEWAY, error.to_string()).into_response(),
    }
}

type Forwarded = (StatusCode, Option<header::HeaderValue>, Bytes);

async fn forward(
    shared: &Shared,
    method: Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Bytes,
) -> reqwest::Result<Forwarded> {
    let path = uri.path_and_query().map_or("/", |path| path.as_str());
    let mut request = shared
        .http
        .request(method, format!("{}{path}", shared.upstream))
        .body(body);
    for (name, value) in headers {
        if name != header::HOST && name != header::CONTENT_LENGTH {
            request = request.header(name, value);
        }
    }
    let response = request.send().await?;
    let status = response.status();
    let content_type = response.headers().get(header::CONTENT_TYPE).cloned();
    let answer = response.bytes().await?;
    Ok((status, content_type, answer))
}

fn xml_fault(code: i32, text: &str) -> Response {
    let xml = xmlrpc::encode_fault(code, text).unwrap();
    ([(header::CONTENT_TYPE, "text/xml")], xml).into_response()
}

/// Relays each client connection to the proxy's HTTP server, and resets it on demand.
async fn relay(front: TcpListener, inner: SocketAddr, shared: Arc<Shared>) {
    loop {
        let Ok((mut client, _)) = front.accept().await else {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let Ok(mut server) = TcpStream::connect(inner).await else {
                return;
            };
            let Ok(local) = server.local_addr() else {
                return;
            };
            let reset = Arc::new(Notify::new());
            shared
                .resets
                .lock()
                .unwrap()
                .insert(local.port(), reset.clone());
            tokio::select! {
                _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                () = reset.notified() => {
                    let _ = client.set_zero_linger();
                }
            }
            shared.resets.lock().unwrap().remove(&local.port());
        });
    }
}

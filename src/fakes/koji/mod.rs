//! A fake Koji hub: XML-RPC on `http://127.0.0.1:<port>/kojihub` like the real one.
//!
//! It answers the calls Fedora CI makes (and whatever recorded hub calls it is
//! given), keeps sessions with kojihub's checks (session key, call numbers,
//! expiry), runs scratch builds through their states when a test says so, and hands
//! out the `buildsys.task.state.change` bodies the real hub would publish.
//!
//! The fake serves plain HTTP, so no TLS client certificate reaches it: `sslLogin`
//! logs in as the configured `ssl_login_user`, as if that user's certificate had
//! been verified. `login` with a user name and password also works.

mod hub;
mod tasks;

pub use hub::{FakeUser, SessionHeaders};
pub use tasks::{BuildOutcome, TASK_STATE_CHANGE_TOPIC, TaskStateChange, task_dir};

use crate::clients::koji::TaskState;
use crate::clients::koji::xmlrpc::{self, DecodedCall};
use crate::fakes::{FaultInjector, lock, serve_on_loopback};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use hub::Hub;
use serde_json::{Value as Json, json};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tasks::{MessageSettings, TaskTable};
use tokio::sync::broadcast;

#[derive(Clone, Debug)]
pub struct FakeKojiConfig {
    pub users: Vec<FakeUser>,
    pub ssl_login_user: Option<String>,
    pub arches: Vec<String>,
    /// `getBuildTarget` answers, e.g. `{"id", "name", "build_tag", ...}`.
    pub build_targets: Vec<Json>,
    pub first_task_id: i64,
    pub base_url: String,
    pub files_base_url: String,
    /// `{method, args, kwargs, result}` calls recorded from a real hub, served as they were.
    pub recorded_calls: Vec<Json>,
    /// When set, each new build starts after this delay and succeeds after another.
    pub auto_progress: Option<Duration>,
}

impl Default for FakeKojiConfig {
    fn default() -> Self {
        let target = |id: i64, name: &str, build_tag: &str, dest_tag: &str| {
            json!({"id": id, "name": name, "build_tag": id * 10, "build_tag_name": build_tag,
                   "dest_tag": id * 10 + 1, "dest_tag_name": dest_tag})
        };
        FakeKojiConfig {
            users: vec![FakeUser {
                id: 4641,
                name: "packit".into(),
                password: Some("packit-password".into()),
            }],
            ssl_login_user: Some("packit".into()),
            arches: vec!["x86_64".into(), "aarch64".into()],
            build_targets: vec![
                target(1, "rawhide", "f44-build", "f44-updates-candidate"),
                target(2, "f42", "f42-build", "f42-updates-candidate"),
                target(3, "eln", "eln-build", "eln-updates-candidate"),
            ],
            first_task_id: 140_000_000,
            base_url: "https://koji.fedoraproject.org".into(),
            files_base_url: "https://kojipkgs.fedoraproject.org/work".into(),
            recorded_calls: Vec::new(),
            auto_progress: None,
        }
    }
}

/// One call as the fake received it.
#[derive(Clone, Debug, PartialEq)]
pub struct RecordedKojiCall {
    /// `/kojihub` or `/kojihub/ssllogin`.
    pub path: String,
    pub call: DecodedCall,
    pub session: SessionHeaders,
}

/// What the fake answers instead of handling a call.
#[derive(Clone, Debug, PartialEq)]
pub enum KojiFailure {
    Fault { code: i32, text: String },
    HttpStatus(u16),
}

struct Shared {
    hub: Mutex<Hub>,
    calls: Mutex<Vec<RecordedKojiCall>>,
    messages: Mutex<Vec<TaskStateChange>>,
    message_sender: broadcast::Sender<TaskStateChange>,
    faults: FaultInjector<KojiFailure>,
    arches: Mutex<Vec<String>>,
    auto_progress: Option<Duration>,
}

#[derive(Clone)]
pub struct FakeKojiHub {
    shared: Arc<Shared>,
    address: SocketAddr,
}

impl FakeKojiHub {
    pub async fn start(config: FakeKojiConfig) -> std::io::Result<Self> {
        let settings = MessageSettings {
            base_url: config.base_url.clone(),
            files_base_url: config.files_base_url.clone(),
            host_name: "buildvm-x86-01.fake.fedoraproject.org".into(),
        };
        let tasks = TaskTable::new(config.first_task_id, settings);
        let mut hub = Hub::new(
            tasks,
            config.users,
            config.ssl_login_user,
            config.build_targets,
        );
        hub::import_recorded_calls(&mut hub, &config.recorded_calls);
        let shared = Arc::new(Shared {
            hub: Mutex::new(hub),
            calls: Mutex::new(Vec::new()),
            messages: Mutex::new(Vec::new()),
            message_sender: broadcast::channel(1024).0,
            faults: FaultInjector::default(),
            arches: Mutex::new(config.arches),
            auto_progress: config.auto_progress,
        });
        let router = axum::Router::new()
            .route("/kojihub", post(handle_hub_call))
            .route("/kojihub/ssllogin", post(handle_ssl_login))
            .with_state(shared.clone());
        let address = serve_on_loopback(router).await?;
        Ok(FakeKojiHub { shared, address })
    }

    pub fn hub_url(&self) -> String {
        format!("http://{}/kojihub", self.address)
    }

    pub fn calls(&self) -> Vec<RecordedKojiCall> {
        lock(&self.shared.calls).clone()
    }

    pub fn faults(&self) -> &FaultInjector<KojiFailure> {
        &self.shared.faults
    }

    /// Every task state change message so far, oldest first.
    pub fn messages(&self) -> Vec<TaskStateChange> {
        lock(&self.shared.messages).clone()
    }

    /// Every scratch build the hub created (its `build` tasks), oldest first: the task id and
    /// the call's `[source, target, opts]`.
    pub fn builds(&self) -> Vec<(i64, Json)> {
        lock(&self.shared.hub)
            .tasks
            .tasks
            .iter()
            .filter(|(_, task)| task.info.get("method").and_then(Json::as_str) == Some("build"))
            .map(|(id, task)| (*id, task.request.clone()))
            .collect()
    }

    /// Task state change messages from now on, as they happen.
    pub fn subscribe(&self) -> broadcast::Receiver<TaskStateChange> {
        self.shared.message_sender.subscribe()
    }

    /// A builder picks the build up: it opens and gets its SRPM and arch children.
    pub fn start_build(&self, task_id: i64) -> bool {
        self.shared.with_hub(|hub| {
            let arches = lock(&self.shared.arches).clone();
            hub.tasks.start_build(task_id, &arches).is_some()
        })
    }

    pub fn finish_build(&self, task_id: i64, outcome: &BuildOutcome) -> bool {
        self.shared
            .with_hub(|hub| hub.tasks.finish_build(task_id, outcome).is_some())
    }

    pub fn task_state(&self, task_id: i64) -> Option<TaskState> {
        self.shared.with_hub(|hub| hub.tasks.state(task_id))
    }

    /// Marks every session expired, so the next session call gets `AuthExpired`.
    pub fn expire_sessions(&self) {
        self.shared.with_hub(Hub::expire_sessions);
    }

    /// Forgets every session, so the next session call gets `AuthError` (1002, "Invalid
    /// session or bad credentials") as from a hub that no longer has the session.
    pub fn forget_sessions(&self) {
        self.shared.with_hub(Hub::forget_sessions);
    }

    /// The arches new builds get `buildArch` subtasks for.
    pub fn set_arches(&self, arches: &[&str]) {
        *lock(&self.shared.arches) = arches.iter().map(|arch| (*arch).to_owned()).collect();
    }

    /// How many logins (`sslLogin`) the hub received.
    pub fn logins(&self) -> usize {
        self.calls()
            .iter()
            .filter(|call| call.call.method == "sslLogin")
            .count()
    }
}

impl Shared {
    /// Runs `change` on the hub, then publishes the messages it produced.
    fn with_hub<T>(&self, change: impl FnOnce(&mut Hub) -> T) -> T {
        let (result, emitted) = {
            let mut hub = lock(&self.hub);
            let result = change(&mut hub);
            (result, hub.tasks.take_emitted())
        };
        let mut messages = lock(&self.messages);
        for message in emitted {
            // Nobody listening is fine: the messages stay readable through `messages()`.
            let _ = self.message_sender.send(message.clone());
            messages.push(message);
        }
        result
    }
}

async fn handle_hub_call(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: String,
) -> Response {
    handle_call(shared, "/kojihub", &headers, &body).await
}

async fn handle_ssl_login(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: String,
) -> Response {
    handle_call(shared, "/kojihub/ssllogin", &headers, &body).await
}

async fn handle_call(shared: Arc<Shared>, path: &str, headers: &HeaderMap, body: &str) -> Response {
    let call = match xmlrpc::decode_call(body) {
        Ok(call) => call,
        Err(error) => return (StatusCode::BAD_REQUEST, error.to_string()).into_response(),
    };
    let session = session_headers(headers);
    lock(&shared.calls).push(RecordedKojiCall {
        path: path.to_owned(),
        call: call.clone(),
        session: session.clone(),
    });
    let outcome = match shared.faults.before_call(&call.method).await {
        Some(KojiFailure::HttpStatus(status)) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return (status, "injected failure").into_response();
        }
        Some(KojiFailure::Fault { code, text }) => Err((code, text)),
        None => shared.with_hub(|hub| hub.handle(&call, &session)),
    };
    if call.method == "build"
        && let (Ok(task_id), Some(delay)) = (&outcome, shared.auto_progress)
    {
        spawn_auto_progress(shared.clone(), task_id.as_i64().unwrap_or_default(), delay);
    }
    let document = match outcome {
        Ok(result) => xmlrpc::encode_response(&result),
        Err((code, text)) => xmlrpc::encode_fault(code, &text),
    };
    match document {
        Ok(xml) => ([(header::CONTENT_TYPE, "text/xml")], xml).into_response(),
        Err(error) => (StatusCode::INTERNAL_SERVER_ERROR, error.to_string()).into_response(),
    }
}

fn spawn_auto_progress(shared: Arc<Shared>, task_id: i64, delay: Duration) {
    tokio::spawn(async move {
        tokio::time::sleep(delay).await;
        let arches = lock(&shared.arches).clone();
        shared.with_hub(|hub| hub.tasks.start_build(task_id, &arches));
        tokio::time::sleep(delay).await;
        shared.with_hub(|hub| hub.tasks.finish_build(task_id, &BuildOutcome::Succeeds));
    });
}

fn session_headers(headers: &HeaderMap) -> SessionHeaders {
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned)
    };
    SessionHeaders {
        id: text("Koji-Session-Id").and_then(|id| id.parse().ok()),
        key: text("Koji-Session-Key"),
        callnum: text("Koji-Session-Callnum").and_then(|callnum| callnum.parse().ok()),
    }
}

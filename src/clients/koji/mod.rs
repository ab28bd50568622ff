//! Koji hub client: XML-RPC over HTTPS, anonymous reads and a session for writes.
//!
//! The session follows koji's own `ClientSession`: `sslLogin` is POSTed to
//! `<hub>/ssllogin` with the TLS client certificate, later calls carry the
//! `Koji-Session-Id`, `Koji-Session-Key` and `Koji-Session-Callnum` headers (or, for
//! hubs older than 1.30 that do not answer `header-auth`, the same values as query
//! parameters). A retried call reuses its call number, so the hub can tell a replay
//! from a new call. A session the hub no longer accepts (an expired one, fault 1007, is
//! renewed as koji does; a forgotten one, 1002, or one out of sequence, 1008, replaced by a
//! new login) is logged into again once per call, and the call sent again: the hub refused it
//! before running it (`FaultCode::means_invalid_session`).
//!
//! With Kerberos credentials, `sslLogin` goes to the same URL the way koji's `gssapi_login`
//! sends it through `requests_gssapi`: first without credentials, then, on the hub's
//! `401` with `WWW-Authenticate: Negotiate`, again with `Authorization: Negotiate <token>`.
//! Fedora's production hub only accepts that (`/kojihub/ssllogin` is `AuthType GSSAPI` in
//! fedora-infra's `kojihub.conf`). It needs the `kerberos` cargo feature (`kerberos.rs`).

mod error;
#[cfg(feature = "kerberos")]
mod kerberos;
pub mod source_url;
mod types;
pub mod xmlrpc;

pub use error::{FaultCode, KojiError};
pub use source_url::{DistGitSource, SourceUrlError, scm_url};
pub use types::{BuildRequest, BuildTarget, TaskInfo, TaskState};

use crate::clients::{BoxFuture, RetryPolicy, Timeouts, http_client_builder, with_retries};
use crate::secret::Secret;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value as Json, json};
use std::path::PathBuf;
use tokio::sync::Mutex;

/// How the client proves who it is when a call needs a session.
#[derive(Clone, Debug)]
pub enum KojiCredentials {
    /// Read-only calls only.
    Anonymous,
    /// A TLS client certificate and its PKCS#8 private key, both PEM.
    ClientCertificate {
        certificate_pem: Vec<u8>,
        private_key_pem: Secret,
    },
    /// Kerberos (GSSAPI/SPNEGO), as koji's `gssapi_login`: the credentials of `principal`
    /// (unset: the default ones) from the credential cache, or from the client keytab when
    /// the cache has no valid ticket. `keytab` must be the file `$KRB5_CLIENT_KTNAME` names,
    /// where libkrb5 looks for it. Needs the `kerberos` cargo feature.
    Kerberos {
        principal: Option<String>,
        keytab: Option<PathBuf>,
    },
}

#[derive(Clone, Debug, Default)]
pub struct KojiClientOptions {
    pub timeouts: Timeouts,
    pub retry: RetryPolicy,
    /// A CA certificate (PEM) trusted in addition to the system ones, e.g. a staging hub's.
    pub extra_root_certificate_pem: Option<Vec<u8>>,
}

/// The Koji calls Fedora CI makes; a trait so handlers can be tested without a hub.
pub trait KojiHub: Send + Sync {
    fn task_info(&self, task_id: i64) -> BoxFuture<'_, Result<Option<TaskInfo>, KojiError>>;
    fn task_children(&self, task_id: i64) -> BoxFuture<'_, Result<Vec<TaskInfo>, KojiError>>;
    /// Submits a scratch build of an SCM URL and returns the new task's id.
    fn scratch_build<'a>(
        &'a self,
        source_url: &'a str,
        target: &'a str,
    ) -> BoxFuture<'a, Result<i64, KojiError>>;
    fn cancel_task(&self, task_id: i64) -> BoxFuture<'_, Result<(), KojiError>>;
    /// The `build` tasks of the logged-in user created after `created_after` (seconds since
    /// the epoch, the hub's clock), with their requests: what a submission whose answer was
    /// lost left behind.
    fn own_builds_since(
        &self,
        created_after: f64,
    ) -> BoxFuture<'_, Result<Vec<TaskInfo>, KojiError>>;
}

#[derive(Debug)]
struct Session {
    id: i64,
    key: Secret,
    header_auth: bool,
    next_callnum: u64,
}

#[derive(Debug)]
pub struct KojiHubClient {
    hub_url: String,
    http: reqwest::Client,
    can_log_in: bool,
    #[cfg(feature = "kerberos")]
    kerberos: Option<kerberos::Negotiator>,
    retry: RetryPolicy,
    /// Held for the whole of a session call: call numbers must reach the hub in order.
    session: Mutex<Option<Session>>,
    /// The logged-in user's id, asked once: the credentials do not change.
    user_id: tokio::sync::OnceCell<i64>,
}

impl KojiHubClient {
    /// `hub_url` is the XML-RPC endpoint, e.g. `https://koji.fedoraproject.org/kojihub`.
    pub fn new(
        hub_url: &str,
        credentials: KojiCredentials,
        options: KojiClientOptions,
    ) -> Result<Self, KojiError> {
        let mut builder = http_client_builder(options.timeouts);
        if let Some(ca_pem) = &options.extra_root_certificate_pem {
            let certificate = reqwest::Certificate::from_pem(ca_pem)
                .map_err(|error| KojiError::Setup(format!("extra root certificate: {error}")))?;
            builder = builder.add_root_certificate(certificate);
        }
        #[cfg(feature = "kerberos")]
        let mut negotiator = None;
        let can_log_in = match &credentials {
            KojiCredentials::Anonymous => false,
            KojiCredentials::ClientCertificate {
                certificate_pem,
                private_key_pem,
            } => {
                let identity = reqwest::Identity::from_pkcs8_pem(
                    certificate_pem,
                    private_key_pem.expose().as_bytes(),
                )
                .map_err(|error| KojiError::Setup(format!("client certificate: {error}")))?;
                builder = builder.identity(identity);
                true
            }
            #[cfg(feature = "kerberos")]
            KojiCredentials::Kerberos { principal, keytab } => {
                let host = hub_host(hub_url)?;
                negotiator = Some(kerberos::Negotiator::new(
                    principal.clone(),
                    keytab.as_deref(),
                    &host,
                )?);
                true
            }
            #[cfg(not(feature = "kerberos"))]
            KojiCredentials::Kerberos { .. } => {
                return Err(KojiError::Setup(
                    "Kerberos login needs fedora-ci built with the `kerberos` cargo feature \
                     (cargo build --features kerberos)"
                        .into(),
                ));
            }
        };
        let http = builder
            .build()
            .map_err(|error| KojiError::Setup(format!("HTTP client: {error}")))?;
        Ok(KojiHubClient {
            hub_url: hub_url.trim_end_matches('/').to_owned(),
            http,
            can_log_in,
            #[cfg(feature = "kerberos")]
            kerberos: negotiator,
            retry: options.retry,
            session: Mutex::new(None),
            user_id: tokio::sync::OnceCell::new(),
        })
    }

    pub async fn api_version(&self) -> Result<i64, KojiError> {
        self.call_anonymous_as("getAPIVersion", &[], &Map::new())
            .await
    }

    /// `getTaskInfo(task_id, request=True)`; `None` for an unknown task.
    pub async fn get_task_info(&self, task_id: i64) -> Result<Option<TaskInfo>, KojiError> {
        let kwargs = keyword_arguments(json!({"request": true}));
        self.call_anonymous_as("getTaskInfo", &[json!(task_id)], &kwargs)
            .await
    }

    pub async fn get_task_children(&self, task_id: i64) -> Result<Vec<TaskInfo>, KojiError> {
        self.call_anonymous_as("getTaskChildren", &[json!(task_id)], &Map::new())
            .await
    }

    /// File names a task produced, e.g. `build.log`.
    pub async fn list_task_output(&self, task_id: i64) -> Result<Vec<String>, KojiError> {
        self.call_anonymous_as("listTaskOutput", &[json!(task_id)], &Map::new())
            .await
    }

    pub async fn get_build_target(&self, name: &str) -> Result<Option<BuildTarget>, KojiError> {
        self.call_anonymous_as("getBuildTarget", &[json!(name)], &Map::new())
            .await
    }

    /// `build(src, target, {"scratch": true})` in a session; returns the task id.
    pub async fn submit_scratch_build(
        &self,
        source_url: &str,
        target: &str,
    ) -> Result<i64, KojiError> {
        let args = [json!(source_url), json!(target), json!({"scratch": true})];
        let result = self.call_in_session("build", &args, &Map::new()).await?;
        parse_result("build", result)
    }

    /// `getLoggedInUser()["id"]`, in a session (logging in first if needed).
    pub async fn logged_in_user_id(&self) -> Result<i64, KojiError> {
        let method = "getLoggedInUser";
        self.user_id
            .get_or_try_init(|| async {
                let user = self.call_in_session(method, &[], &Map::new()).await?;
                user.get("id")
                    .and_then(Json::as_i64)
                    .ok_or_else(|| KojiError::UnexpectedResult {
                        method: method.to_owned(),
                        detail: format!("no user id in {user}"),
                    })
            })
            .await
            .copied()
    }

    /// `listTasks({"method": "build", "owner": <us>, "createdAfter": .., "decode": True})`:
    /// our build tasks created after `created_after` (seconds since the epoch), each with its
    /// decoded `request` (`[source, target, opts]`).
    pub async fn list_own_builds_since(
        &self,
        created_after: f64,
    ) -> Result<Vec<TaskInfo>, KojiError> {
        let owner = self.logged_in_user_id().await?;
        let opts = json!({
            "method": "build",
            "owner": owner,
            "createdAfter": created_after,
            "decode": true,
        });
        let kwargs = keyword_arguments(json!({"opts": opts}));
        self.call_anonymous_as("listTasks", &[], &kwargs).await
    }

    pub async fn cancel_task(&self, task_id: i64) -> Result<(), KojiError> {
        self.call_in_session("cancelTask", &[json!(task_id)], &Map::new())
            .await
            .map(drop)
    }

    /// Any read-only call, without a session; the answer as JSON.
    pub async fn call_anonymous(
        &self,
        method: &str,
        args: &[Json],
        kwargs: &Map<String, Json>,
    ) -> Result<Json, KojiError> {
        let body = encode(method, args, kwargs)?;
        with_retries(&self.retry, method, || {
            self.post(method, &self.hub_url, &[], body.clone())
        })
        .await
    }

    async fn call_anonymous_as<T: DeserializeOwned>(
        &self,
        method: &str,
        args: &[Json],
        kwargs: &Map<String, Json>,
    ) -> Result<T, KojiError> {
        parse_result(method, self.call_anonymous(method, args, kwargs).await?)
    }

    /// Any call in a session, logging in first if needed and logging in again once if the hub
    /// no longer accepts the session.
    pub async fn call_in_session(
        &self,
        method: &str,
        args: &[Json],
        kwargs: &Map<String, Json>,
    ) -> Result<Json, KojiError> {
        if !self.can_log_in {
            return Err(KojiError::NoCredentials {
                method: method.to_owned(),
            });
        }
        let mut session = self.session.lock().await;
        if session.is_none() {
            *session = Some(self.ssl_login(None).await?);
        }
        let Some(current) = session.as_mut() else {
            return Err(KojiError::NoCredentials {
                method: method.to_owned(),
            });
        };
        let error = match self.send_in_session(current, method, args, kwargs).await {
            Err(error)
                if error
                    .fault_code()
                    .is_some_and(FaultCode::means_invalid_session) =>
            {
                error
            }
            other => return other,
        };
        // The hub refused the session before running the call, so the call may be sent
        // again in a new one; once, so a hub that keeps refusing ends in an error.
        tracing::info!(
            koji.method = method,
            %error,
            "Koji session no longer valid, logging in again"
        );
        let renewed = if error.fault_code() == Some(FaultCode::AuthExpired) {
            // An expired session is renewed with its own credentials, as koji's client does.
            let renewed = self.ssl_login(Some(current)).await;
            *session = None;
            renewed?
        } else {
            // A forgotten session cannot be named in the login: a fresh one.
            *session = None;
            self.ssl_login(None).await?
        };
        let renewed = session.insert(renewed);
        self.send_in_session(renewed, method, args, kwargs).await
    }

    /// Drops the session on the client side; the next session call logs in again.
    pub async fn forget_session(&self) {
        *self.session.lock().await = None;
    }

    async fn send_in_session(
        &self,
        session: &mut Session,
        method: &str,
        args: &[Json],
        kwargs: &Map<String, Json>,
    ) -> Result<Json, KojiError> {
        let callnum = session.next_callnum;
        session.next_callnum += 1;
        let body = encode(method, args, kwargs)?;
        let (url, headers) = session_addressing(&self.hub_url, session, callnum);
        with_retries(&self.retry, method, || {
            self.post(method, &url, &headers, body.clone())
        })
        .await
    }

    /// `sslLogin` as koji's `ClientSession.ssl_login` sends it; a renewal carries the old session.
    async fn ssl_login(&self, expired: Option<&mut Session>) -> Result<Session, KojiError> {
        let method = "sslLogin";
        let mut kwargs = keyword_arguments(json!({"proxyuser": null}));
        let mut headers = Vec::new();
        if let Some(expired) = expired {
            kwargs.insert("renew".into(), json!(true));
            kwargs.insert("exclusive".into(), json!(false));
            let callnum = expired.next_callnum;
            expired.next_callnum += 1;
            headers = session_addressing(&self.hub_url, expired, callnum).1;
        }
        let body = encode(method, &[], &kwargs)?;
        let url = format!("{}/ssllogin", self.hub_url);
        let answer = with_retries(&self.retry, method, || {
            self.post_login(method, &url, &headers, body.clone())
        })
        .await?;
        let session = parse_session(answer)?;
        tracing::info!(koji.session_id = session.id, "logged in to the Koji hub");
        Ok(session)
    }

    /// The `sslLogin` POST; with Kerberos, answers the hub's `Negotiate` challenge.
    async fn post_login(
        &self,
        method: &str,
        url: &str,
        headers: &[(&'static str, String)],
        body: String,
    ) -> Result<Json, KojiError> {
        #[cfg(feature = "kerberos")]
        if let Some(negotiator) = &self.kerberos {
            let response = self.send(method, url, headers, body.clone(), None).await?;
            if !is_negotiate_challenge(&response) {
                return self.answer(method, response).await;
            }
            let authorization = negotiator.authorization().await?;
            let response = self
                .send(method, url, headers, body, Some(authorization))
                .await?;
            if response.status() == reqwest::StatusCode::UNAUTHORIZED {
                return Err(KojiError::Kerberos {
                    detail: "the hub refused the Kerberos token (HTTP 401)".into(),
                    transient: false,
                });
            }
            return self.answer(method, response).await;
        }
        self.post(method, url, headers, body).await
    }

    async fn post(
        &self,
        method: &str,
        url: &str,
        headers: &[(&'static str, String)],
        body: String,
    ) -> Result<Json, KojiError> {
        let response = self.send(method, url, headers, body, None).await?;
        self.answer(method, response).await
    }

    async fn send(
        &self,
        method: &str,
        url: &str,
        headers: &[(&'static str, String)],
        body: String,
        authorization: Option<String>,
    ) -> Result<reqwest::Response, KojiError> {
        tracing::debug!(koji.method = method, "calling the Koji hub");
        let mut request = self
            .http
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "text/xml")
            .body(body);
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        if let Some(authorization) = authorization {
            let mut value =
                reqwest::header::HeaderValue::try_from(authorization).map_err(|error| {
                    KojiError::Protocol {
                        method: method.to_owned(),
                        detail: format!("Authorization header: {error}"),
                    }
                })?;
            value.set_sensitive(true);
            request = request.header(reqwest::header::AUTHORIZATION, value);
        }
        request
            .send()
            .await
            .map_err(|source| transport_error(method, source))
    }

    async fn answer(&self, method: &str, response: reqwest::Response) -> Result<Json, KojiError> {
        let status = response.status();
        if !status.is_success() {
            return Err(KojiError::HttpStatus {
                method: method.to_owned(),
                status: status.as_u16(),
            });
        }
        let text = response
            .text()
            .await
            .map_err(|source| transport_error(method, source))?;
        let decoded = xmlrpc::decode_response(&text).map_err(|error| KojiError::Protocol {
            method: method.to_owned(),
            detail: error.to_string(),
        })?;
        decoded.map_err(|fault| KojiError::Fault {
            method: method.to_owned(),
            kind: FaultCode::from_code(fault.code()),
            text: fault.string().to_owned(),
        })
    }
}

impl KojiHub for KojiHubClient {
    fn task_info(&self, task_id: i64) -> BoxFuture<'_, Result<Option<TaskInfo>, KojiError>> {
        Box::pin(self.get_task_info(task_id))
    }

    fn task_children(&self, task_id: i64) -> BoxFuture<'_, Result<Vec<TaskInfo>, KojiError>> {
        Box::pin(self.get_task_children(task_id))
    }

    fn scratch_build<'a>(
        &'a self,
        source_url: &'a str,
        target: &'a str,
    ) -> BoxFuture<'a, Result<i64, KojiError>> {
        Box::pin(self.submit_scratch_build(source_url, target))
    }

    fn cancel_task(&self, task_id: i64) -> BoxFuture<'_, Result<(), KojiError>> {
        Box::pin(KojiHubClient::cancel_task(self, task_id))
    }

    fn own_builds_since(
        &self,
        created_after: f64,
    ) -> BoxFuture<'_, Result<Vec<TaskInfo>, KojiError>> {
        Box::pin(self.list_own_builds_since(created_after))
    }
}

fn transport_error(method: &str, source: reqwest::Error) -> KojiError {
    KojiError::Transport {
        method: method.to_owned(),
        // The URL of a pre-1.30 session call carries the session key.
        source: source.without_url(),
    }
}

/// A `401` whose `WWW-Authenticate` offers `Negotiate`, as mod_auth_gssapi sends it.
#[cfg(feature = "kerberos")]
fn is_negotiate_challenge(response: &reqwest::Response) -> bool {
    response.status() == reqwest::StatusCode::UNAUTHORIZED
        && response
            .headers()
            .get_all(reqwest::header::WWW_AUTHENTICATE)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .any(|challenge| {
                challenge
                    .split_whitespace()
                    .next()
                    .is_some_and(|scheme| scheme.eq_ignore_ascii_case("negotiate"))
            })
}

/// The host the hub's service principal is named after (`HTTP/<host>`).
#[cfg(feature = "kerberos")]
fn hub_host(hub_url: &str) -> Result<String, KojiError> {
    let url = reqwest::Url::parse(hub_url)
        .map_err(|error| KojiError::Setup(format!("hub URL {hub_url}: {error}")))?;
    url.host_str()
        .map(|host| {
            host.trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned()
        })
        .ok_or_else(|| KojiError::Setup(format!("hub URL {hub_url} has no host")))
}

fn session_addressing(
    hub_url: &str,
    session: &Session,
    callnum: u64,
) -> (String, Vec<(&'static str, String)>) {
    let headers = vec![
        ("Koji-Session-Id", session.id.to_string()),
        ("Koji-Session-Key", session.key.expose().to_owned()),
        ("Koji-Session-Callnum", callnum.to_string()),
    ];
    if session.header_auth {
        return (hub_url.to_owned(), headers);
    }
    let query = [
        ("session-id", session.id.to_string()),
        ("session-key", session.key.expose().to_owned()),
        ("callnum", callnum.to_string()),
    ];
    let encoded = serde_urlencoded::to_string(query).unwrap_or_default();
    (format!("{hub_url}?{encoded}"), headers)
}

fn parse_session(answer: Json) -> Result<Session, KojiError> {
    let unexpected = |detail: &str| KojiError::UnexpectedResult {
        method: "sslLogin".into(),
        detail: detail.to_owned(),
    };
    let id = answer
        .get("session-id")
        .and_then(Json::as_i64)
        .ok_or_else(|| unexpected("no session-id"))?;
    let key = answer
        .get("session-key")
        .and_then(Json::as_str)
        .ok_or_else(|| unexpected("no session-key"))?;
    let header_auth = answer
        .get("header-auth")
        .and_then(Json::as_bool)
        .unwrap_or(false);
    Ok(Session {
        id,
        key: Secret::new(key),
        header_auth,
        next_callnum: 0,
    })
}

fn keyword_arguments(object: Json) -> Map<String, Json> {
    match object {
        Json::Object(map) => map,
        _ => Map::new(),
    }
}

fn encode(method: &str, args: &[Json], kwargs: &Map<String, Json>) -> Result<String, KojiError> {
    xmlrpc::encode_call(method, args, kwargs).map_err(|error| KojiError::Protocol {
        method: method.to_owned(),
        detail: error.to_string(),
    })
}

fn parse_result<T: DeserializeOwned>(method: &str, result: Json) -> Result<T, KojiError> {
    serde_json::from_value(result).map_err(|error| KojiError::UnexpectedResult {
        method: method.to_owned(),
        detail: error.to_string(),
    })
}

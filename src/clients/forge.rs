//! The dist-git forge as Fedora CI uses it, whichever forge it is: report a check on a pull
//! request's head, comment on the pull request, look at files and branches, read the pull
//! request. Pagure ([`super::pagure`]) implements it today; dist-git moves to Forgejo.
//!
//! What differs between forges (Pagure's flags against commit statuses, their states,
//! their limits) lives in each implementation; callers only see these neutral types.

use serde::{Deserialize, Serialize};

use reqwest::{Method, RequestBuilder};
use serde::de::DeserializeOwned;

use super::{BoxFuture, RetryPolicy, Timeouts, Transient, http_client_builder, with_retries};
use crate::secret::Secret;

pub use crate::events::ForgeKind;

/// A repository as a forge's API addresses it: `rpms/optee_os`, a project without
/// namespace, or a user's fork (Pagure's `fork/<user>/rpms/optee_os`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ProjectRef {
    pub namespace: Option<String>,
    pub repo: String,
    pub fork_owner: Option<String>,
}

impl ProjectRef {
    pub fn new(namespace: &str, repo: &str) -> Self {
        ProjectRef {
            namespace: Some(namespace.to_owned()).filter(|namespace| !namespace.is_empty()),
            repo: repo.to_owned(),
            fork_owner: None,
        }
    }

    pub fn fork(owner: &str, namespace: &str, repo: &str) -> Self {
        ProjectRef {
            fork_owner: Some(owner.to_owned()),
            ..ProjectRef::new(namespace, repo)
        }
    }

    /// Pagure's path after `/api/0/` and on the web: `[fork/<user>/][<ns>/]<repo>`.
    pub fn path(&self) -> String {
        let fork = self
            .fork_owner
            .as_ref()
            .map(|owner| format!("fork/{owner}/"))
            .unwrap_or_default();
        let namespace = self
            .namespace
            .as_ref()
            .map(|namespace| format!("{namespace}/"))
            .unwrap_or_default();
        format!("{fork}{namespace}{}", self.repo)
    }
}

/// The state of a check as Fedora CI reports it; each forge maps it to its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckState {
    Pending,
    Success,
    Failure,
    Error,
    Canceled,
}

impl CheckState {
    /// The state stored in `pr_flags.status`; anything unknown is an error, never a success.
    pub fn from_stored(status: &str) -> CheckState {
        match status {
            "success" => CheckState::Success,
            "failure" => CheckState::Failure,
            "pending" => CheckState::Pending,
            "canceled" => CheckState::Canceled,
            _ => CheckState::Error,
        }
    }
}

/// Where a check is reported: a pull request and the head commit it is about.
#[derive(Clone, Copy, Debug)]
pub struct CheckTarget<'a> {
    /// The pull request's target project.
    pub project: &'a ProjectRef,
    pub number: u64,
    pub head_sha: &'a str,
}

/// One check's state, as reported on the forge.
#[derive(Clone, Copy, Debug)]
pub struct CheckReport<'a> {
    /// The full check name, `{prefix} - {check} - {target} [{sha7}]` (Pagure's flag
    /// username; its hash is the flag's uid).
    pub name: &'a str,
    /// The name without its commit, `{prefix} - {check} - {target}`: a commit status
    /// context, which branch protection can require by name.
    pub context: &'a str,
    /// A stable id of the check on this pull request (Pagure's flag uid, the hash of `name`
    /// as packit-service computes it), so that a new state replaces the old one.
    pub uid: &'a str,
    pub state: CheckState,
    pub description: &'a str,
    pub url: &'a str,
}

/// What a report did on the forge.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum ReportChange {
    /// A new check (a Pagure flag; every commit status is a new one).
    Added,
    /// An existing check changed (a Pagure flag with the same uid).
    Updated,
    /// The forge refused the check itself; a final state was posted as a PR comment.
    Commented,
    /// The forge refused the check itself and the state was not final: nothing shown.
    Skipped,
}

/// A pull request as the forge knows it now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PullRequestState {
    pub number: u64,
    pub open: bool,
    pub head_sha: Option<String>,
    pub target_branch: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ForgeError {
    /// The forge's own error answer (Pagure: `{"error", "error_code"}`).
    #[error("{forge} answered {operation} with HTTP {status} {code}: {message}")]
    Api {
        forge: ForgeKind,
        operation: String,
        status: u16,
        code: String,
        message: String,
    },
    #[error("{forge} answered {operation} with HTTP {status}")]
    HttpStatus {
        forge: ForgeKind,
        operation: String,
        status: u16,
    },
    #[error("cannot reach {forge} for {operation}: {source}")]
    Transport {
        forge: ForgeKind,
        operation: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("{forge} answered {operation} with an unexpected body: {detail}")]
    UnexpectedBody {
        forge: ForgeKind,
        operation: String,
        detail: String,
    },
    #[error("invalid {forge} client setup: {detail}")]
    Setup { forge: ForgeKind, detail: String },
}

impl ForgeError {
    /// The forge's error code, e.g. Pagure's `ENOPROJECT` or `EINVALIDTOK`.
    pub fn error_code(&self) -> Option<&str> {
        match self {
            ForgeError::Api { code, .. } => Some(code),
            _ => None,
        }
    }

    /// Whether the forge says the thing asked about does not exist (any more): a pull
    /// request or project gone, as after dist-git moved to another forge.
    pub fn is_gone(&self) -> bool {
        self.http_status() == Some(404)
    }

    /// The HTTP status the forge answered with, if it answered.
    pub fn http_status(&self) -> Option<u16> {
        match self {
            ForgeError::Api { status, .. } | ForgeError::HttpStatus { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Which forge failed.
    pub fn forge(&self) -> ForgeKind {
        match self {
            ForgeError::Api { forge, .. }
            | ForgeError::HttpStatus { forge, .. }
            | ForgeError::Transport { forge, .. }
            | ForgeError::UnexpectedBody { forge, .. }
            | ForgeError::Setup { forge, .. } => *forge,
        }
    }
}

impl Transient for ForgeError {
    fn is_transient(&self) -> bool {
        match self {
            ForgeError::Api { status, .. } | ForgeError::HttpStatus { status, .. } => {
                super::is_transient_status(*status)
            }
            ForgeError::Transport { source, .. } => super::is_transient_transport_error(source),
            ForgeError::UnexpectedBody { .. } | ForgeError::Setup { .. } => false,
        }
    }
}

/// A request body of a forge API call.
#[derive(Clone, Copy)]
pub(crate) enum Body<'a> {
    Empty,
    /// `application/x-www-form-urlencoded` (Pagure).
    Form(&'a [u8]),
    /// JSON (Forgejo).
    Json(&'a serde_json::Value),
}

/// The HTTP side both forges' API clients share: the base URL, the `Authorization: token …`
/// header, bounded retries of transient failures, and the forge's error answers.
pub(crate) struct ForgeHttp {
    forge: ForgeKind,
    base_url: String,
    /// Marked sensitive: hyper and reqwest never print it, and HTTP/2 never puts it in its
    /// header-compression table.
    authorization: Option<reqwest::header::HeaderValue>,
    http: reqwest::Client,
    retry: RetryPolicy,
    /// Reads the forge's own error answer.
    error_from_answer: fn(&str, reqwest::StatusCode, &[u8]) -> ForgeError,
}

impl std::fmt::Debug for ForgeHttp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ForgeHttp")
            .field("forge", &self.forge)
            .field("base_url", &self.base_url)
            .field(
                "authorization",
                &self.authorization.as_ref().map(|_| "[redacted]"),
            )
            .finish_non_exhaustive()
    }
}

impl ForgeHttp {
    pub(crate) fn new(
        forge: ForgeKind,
        base_url: &str,
        token: Option<Secret>,
        timeouts: Timeouts,
        retry: RetryPolicy,
        error_from_answer: fn(&str, reqwest::StatusCode, &[u8]) -> ForgeError,
    ) -> Result<Self, ForgeError> {
        let setup = |detail: String| ForgeError::Setup { forge, detail };
        let http = http_client_builder(timeouts)
            .build()
            .map_err(|error| setup(error.to_string()))?;
        let authorization = token
            .map(|token| {
                let mut value =
                    reqwest::header::HeaderValue::from_str(&format!("token {}", token.expose()))
                        // The token itself is never part of the message.
                        .map_err(|_| {
                            setup(format!(
                                "the {forge} token has characters an HTTP header cannot carry"
                            ))
                        })?;
                value.set_sensitive(true);
                Ok(value)
            })
            .transpose()?;
        Ok(ForgeHttp {
            forge,
            base_url: base_url.trim_end_matches('/').to_owned(),
            authorization,
            http,
            retry,
            error_from_answer,
        })
    }

    #[cfg(test)]
    pub(crate) fn authorization(&self) -> Option<&reqwest::header::HeaderValue> {
        self.authorization.as_ref()
    }

    fn request(&self, method: Method, path: &str, body: Body<'_>) -> RequestBuilder {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base_url))
            .header(reqwest::header::ACCEPT, "application/json");
        if let Some(authorization) = &self.authorization {
            request = request.header(reqwest::header::AUTHORIZATION, authorization.clone());
        }
        match body {
            Body::Empty => request,
            Body::Form(form) => request
                .header(
                    reqwest::header::CONTENT_TYPE,
                    "application/x-www-form-urlencoded",
                )
                .body(form.to_vec()),
            Body::Json(json) => request.json(json),
        }
    }

    /// Calls the API and reads its JSON answer; transient failures are retried.
    pub(crate) async fn send_json<T: DeserializeOwned>(
        &self,
        operation: &str,
        method: Method,
        path: &str,
        body: Body<'_>,
    ) -> Result<T, ForgeError> {
        tracing::debug!(forge = %self.forge, path, "calling {}: {operation}", self.forge);
        with_retries(&self.retry, operation, || async {
            let response = self
                .request(method.clone(), path, body)
                .send()
                .await
                .map_err(|source| self.transport(operation, source))?;
            let status = response.status();
            let answer = response
                .bytes()
                .await
                .map_err(|source| self.transport(operation, source))?;
            if !status.is_success() {
                return Err((self.error_from_answer)(operation, status, &answer));
            }
            serde_json::from_slice(&answer).map_err(|error| ForgeError::UnexpectedBody {
                forge: self.forge,
                operation: operation.to_owned(),
                detail: error.to_string(),
            })
        })
        .await
    }

    /// Whether something exists: a success is yes, 404 no. The body is never read (for a
    /// file, the pull request's author controls it).
    pub(crate) async fn exists(
        &self,
        operation: &str,
        method: Method,
        path: &str,
    ) -> Result<bool, ForgeError> {
        with_retries(&self.retry, operation, || async {
            let response = self
                .request(method.clone(), path, Body::Empty)
                .send()
                .await
                .map_err(|source| self.transport(operation, source))?;
            match response.status() {
                reqwest::StatusCode::NOT_FOUND => Ok(false),
                status if status.is_success() => Ok(true),
                status => Err(ForgeError::HttpStatus {
                    forge: self.forge,
                    operation: operation.into(),
                    status: status.as_u16(),
                }),
            }
        })
        .await
    }

    fn transport(&self, operation: &str, source: reqwest::Error) -> ForgeError {
        ForgeError::Transport {
            forge: self.forge,
            operation: operation.to_owned(),
            source,
        }
    }
}

/// The dist-git forge calls Fedora CI makes.
pub trait Forge: Send + Sync {
    fn kind(&self) -> ForgeKind;

    /// Sets the check's state on the pull request's head commit.
    fn report_check<'a>(
        &'a self,
        at: CheckTarget<'a>,
        report: CheckReport<'a>,
    ) -> BoxFuture<'a, Result<ReportChange, ForgeError>>;

    fn comment_on_pull_request<'a>(
        &'a self,
        project: &'a ProjectRef,
        number: u64,
        text: &'a str,
    ) -> BoxFuture<'a, Result<(), ForgeError>>;

    /// Whether a file exists at a commit (its content is never read).
    fn file_exists_at_commit<'a>(
        &'a self,
        project: &'a ProjectRef,
        commit: &'a str,
        path: &'a str,
    ) -> BoxFuture<'a, Result<bool, ForgeError>>;

    fn has_branch<'a>(
        &'a self,
        project: &'a ProjectRef,
        branch: &'a str,
    ) -> BoxFuture<'a, Result<bool, ForgeError>>;

    /// The pull request as the forge knows it; `None` when the forge says it (or its project)
    /// does not exist.
    fn pull_request<'a>(
        &'a self,
        project: &'a ProjectRef,
        number: u64,
    ) -> BoxFuture<'a, Result<Option<PullRequestState>, ForgeError>>;

    /// The pull request of `project` whose head is `sha`, if the forge can tell (the
    /// successor of a forge that is gone is asked this: PR numbers need not survive a move).
    fn pull_request_for_commit<'a>(
        &'a self,
        project: &'a ProjectRef,
        sha: &'a str,
    ) -> BoxFuture<'a, Result<Option<PullRequestState>, ForgeError>>;
}

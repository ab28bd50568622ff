//! Pagure (src.fedoraproject.org) API 0 client, behind the [`Forge`] trait because
//! dist-git is moving to Forgejo.

mod types;

pub use types::{
    AccessGroups, AccessUsers, FlagChange, FlagResult, FlagStatus, PagureUser, Project, ProjectRef,
    PullRequest, PullRequestFlag,
};

use crate::clients::{
    BoxFuture, RetryPolicy, Timeouts, Transient, http_client_builder, with_retries,
};
use crate::secret::Secret;
use reqwest::{Method, RequestBuilder, StatusCode};
use serde::Deserialize;
use serde::de::DeserializeOwned;

#[derive(Debug, thiserror::Error)]
pub enum ForgeError {
    /// Pagure's own error answer, `{"error": ..., "error_code": ...}`.
    #[error("Pagure answered {operation} with HTTP {status} {code}: {message}")]
    Api {
        operation: String,
        status: u16,
        code: String,
        message: String,
    },
    #[error("Pagure answered {operation} with HTTP {status}")]
    HttpStatus { operation: String, status: u16 },
    #[error("cannot reach Pagure for {operation}: {source}")]
    Transport {
        operation: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("Pagure answered {operation} with an unexpected body: {detail}")]
    UnexpectedBody { operation: String, detail: String },
    #[error("invalid Pagure client setup: {0}")]
    Setup(String),
}

impl ForgeError {
    /// Pagure's error code, e.g. `ENOPROJECT` or `EINVALIDTOK`.
    pub fn error_code(&self) -> Option<&str> {
        match self {
            ForgeError::Api { code, .. } => Some(code),
            _ => None,
        }
    }
}

impl Transient for ForgeError {
    fn is_transient(&self) -> bool {
        match self {
            ForgeError::Api { status, .. } | ForgeError::HttpStatus { status, .. } => {
                crate::clients::is_transient_status(*status)
            }
            ForgeError::Transport { source, .. } => {
                crate::clients::is_transient_transport_error(source)
            }
            ForgeError::UnexpectedBody { .. } | ForgeError::Setup(_) => false,
        }
    }
}

/// The dist-git forge calls Fedora CI makes.
pub trait Forge: Send + Sync {
    fn pull_request<'a>(
        &'a self,
        project: &'a ProjectRef,
        id: u64,
    ) -> BoxFuture<'a, Result<PullRequest, ForgeError>>;
    fn set_pull_request_flag<'a>(
        &'a self,
        project: &'a ProjectRef,
        id: u64,
        flag: &'a PullRequestFlag,
    ) -> BoxFuture<'a, Result<FlagResult, ForgeError>>;
    fn comment_on_pull_request<'a>(
        &'a self,
        project: &'a ProjectRef,
        id: u64,
        text: &'a str,
    ) -> BoxFuture<'a, Result<(), ForgeError>>;
    fn project<'a>(&'a self, project: &'a ProjectRef)
    -> BoxFuture<'a, Result<Project, ForgeError>>;
    fn group_members<'a>(
        &'a self,
        group: &'a str,
    ) -> BoxFuture<'a, Result<Vec<String>, ForgeError>>;
    /// Whether a file exists at a commit (its content is never read).
    fn file_exists_at_commit<'a>(
        &'a self,
        project: &'a ProjectRef,
        commit: &'a str,
        path: &'a str,
    ) -> BoxFuture<'a, Result<bool, ForgeError>>;
    fn branches<'a>(
        &'a self,
        project: &'a ProjectRef,
    ) -> BoxFuture<'a, Result<Vec<String>, ForgeError>>;
}

#[derive(Debug)]
pub struct PagureClient {
    instance_url: String,
    /// `token <API token>`, marked sensitive: hyper and reqwest never print it, and HTTP/2
    /// never puts it in its header-compression table.
    authorization: Option<reqwest::header::HeaderValue>,
    http: reqwest::Client,
    retry: RetryPolicy,
}

#[derive(Deserialize)]
struct PagureErrorBody {
    error: String,
    error_code: String,
}

#[derive(Deserialize)]
struct FlagAnswer {
    message: String,
    uid: String,
}

impl PagureClient {
    /// `instance_url` is the web root, e.g. `https://src.fedoraproject.org`.
    pub fn new(
        instance_url: &str,
        token: Option<Secret>,
        timeouts: Timeouts,
        retry: RetryPolicy,
    ) -> Result<Self, ForgeError> {
        let http = http_client_builder(timeouts)
            .build()
            .map_err(|error| ForgeError::Setup(error.to_string()))?;
        let authorization = token
            .map(|token| {
                let mut value =
                    reqwest::header::HeaderValue::from_str(&format!("token {}", token.expose()))
                        .map_err(|_| {
                            // The token itself is never part of the message.
                            ForgeError::Setup(
                                "the Pagure token has characters an HTTP header cannot carry"
                                    .to_owned(),
                            )
                        })?;
                value.set_sensitive(true);
                Ok(value)
            })
            .transpose()?;
        Ok(PagureClient {
            instance_url: instance_url.trim_end_matches('/').to_owned(),
            authorization,
            http,
            retry,
        })
    }

    pub async fn get_pull_request(
        &self,
        project: &ProjectRef,
        id: u64,
    ) -> Result<PullRequest, ForgeError> {
        let path = format!("/api/0/{}/pull-request/{id}", project.path());
        self.send_json("get pull request", Method::GET, &path, &[])
            .await
    }

    pub async fn flag_pull_request(
        &self,
        project: &ProjectRef,
        id: u64,
        flag: &PullRequestFlag,
    ) -> Result<FlagResult, ForgeError> {
        let path = format!("/api/0/{}/pull-request/{id}/flag", project.path());
        let form = serde_urlencoded::to_string(flag)
            .map_err(|error| ForgeError::Setup(error.to_string()))?;
        let answer: FlagAnswer = self
            .send_json("flag pull request", Method::POST, &path, form.as_bytes())
            .await?;
        let change = match answer.message.as_str() {
            "Flag added" => FlagChange::Added,
            "Flag updated" => FlagChange::Updated,
            other => {
                return Err(ForgeError::UnexpectedBody {
                    operation: "flag pull request".into(),
                    detail: format!("message {other:?}"),
                });
            }
        };
        Ok(FlagResult {
            change,
            uid: answer.uid,
        })
    }

    pub async fn comment_pull_request(
        &self,
        project: &ProjectRef,
        id: u64,
        text: &str,
    ) -> Result<(), ForgeError> {
        let path = format!("/api/0/{}/pull-request/{id}/comment", project.path());
        let form = serde_urlencoded::to_string([("comment", text)])
            .map_err(|error| ForgeError::Setup(error.to_string()))?;
        let _: serde_json::Value = self
            .send_json(
                "comment on pull request",
                Method::POST,
                &path,
                form.as_bytes(),
            )
            .await?;
        Ok(())
    }

    pub async fn get_project(&self, project: &ProjectRef) -> Result<Project, ForgeError> {
        let path = format!("/api/0/{}", project.path());
        self.send_json("get project", Method::GET, &path, &[]).await
    }

    pub async fn get_group_members(&self, group: &str) -> Result<Vec<String>, ForgeError> {
        #[derive(Deserialize)]
        struct Group {
            members: Vec<String>,
        }
        let path = format!("/api/0/group/{group}");
        let answer: Group = self.send_json("get group", Method::GET, &path, &[]).await?;
        Ok(answer.members)
    }

    pub async fn list_branches(&self, project: &ProjectRef) -> Result<Vec<String>, ForgeError> {
        #[derive(Deserialize)]
        struct Branches {
            branches: Vec<String>,
        }
        let path = format!("/api/0/{}/git/branches", project.path());
        let answer: Branches = self
            .send_json("list branches", Method::GET, &path, &[])
            .await?;
        Ok(answer.branches)
    }

    /// Whether a file exists at a commit, asked by `HEAD` on the web side's
    /// `/<project>/raw/<commit>/f/<path>`: the PR's author controls the file, and only its
    /// existence matters, so its content is never downloaded.
    pub async fn file_exists(
        &self,
        project: &ProjectRef,
        commit: &str,
        file_path: &str,
    ) -> Result<bool, ForgeError> {
        let operation = "look for a file";
        let path = format!(
            "/{}/raw/{commit}/f/{}",
            project.path(),
            file_path.trim_start_matches('/')
        );
        with_retries(&self.retry, operation, || async {
            let response = self
                .request(Method::HEAD, &path, &[])
                .send()
                .await
                .map_err(|source| transport(operation, source))?;
            match response.status() {
                StatusCode::NOT_FOUND => Ok(false),
                status if status.is_success() => Ok(true),
                status => Err(ForgeError::HttpStatus {
                    operation: operation.into(),
                    status: status.as_u16(),
                }),
            }
        })
        .await
    }

    fn request(&self, method: Method, path: &str, form: &[u8]) -> RequestBuilder {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.instance_url))
            .header(reqwest::header::ACCEPT, "application/json");
        if let Some(authorization) = &self.authorization {
            request = request.header(reqwest::header::AUTHORIZATION, authorization.clone());
        }
        if !form.is_empty() {
            request = request
                .header(
                    reqwest::header::CONTENT_TYPE,
                    "application/x-www-form-urlencoded",
                )
                .body(form.to_vec());
        }
        request
    }

    async fn send_json<T: DeserializeOwned>(
        &self,
        operation: &str,
        method: Method,
        path: &str,
        form: &[u8],
    ) -> Result<T, ForgeError> {
        tracing::debug!(pagure.path = path, "calling Pagure: {operation}");
        with_retries(&self.retry, operation, || async {
            let response = self
                .request(method.clone(), path, form)
                .send()
                .await
                .map_err(|source| transport(operation, source))?;
            let status = response.status();
            let body = response
                .bytes()
                .await
                .map_err(|source| transport(operation, source))?;
            if !status.is_success() {
                return Err(error_from_answer(operation, status, &body));
            }
            serde_json::from_slice(&body).map_err(|error| ForgeError::UnexpectedBody {
                operation: operation.to_owned(),
                detail: error.to_string(),
            })
        })
        .await
    }
}

fn transport(operation: &str, source: reqwest::Error) -> ForgeError {
    ForgeError::Transport {
        operation: operation.to_owned(),
        source,
    }
}

fn error_from_answer(operation: &str, status: StatusCode, body: &[u8]) -> ForgeError {
    match serde_json::from_slice::<PagureErrorBody>(body) {
        Ok(error) => ForgeError::Api {
            operation: operation.to_owned(),
            status: status.as_u16(),
            code: error.error_code,
            message: error.error,
        },
        Err(_) => ForgeError::HttpStatus {
            operation: operation.to_owned(),
            status: status.as_u16(),
        },
    }
}

impl Forge for PagureClient {
    fn pull_request<'a>(
        &'a self,
        project: &'a ProjectRef,
        id: u64,
    ) -> BoxFuture<'a, Result<PullRequest, ForgeError>> {
        Box::pin(self.get_pull_request(project, id))
    }

    fn set_pull_request_flag<'a>(
        &'a self,
        project: &'a ProjectRef,
        id: u64,
        flag: &'a PullRequestFlag,
    ) -> BoxFuture<'a, Result<FlagResult, ForgeError>> {
        Box::pin(self.flag_pull_request(project, id, flag))
    }

    fn comment_on_pull_request<'a>(
        &'a self,
        project: &'a ProjectRef,
        id: u64,
        text: &'a str,
    ) -> BoxFuture<'a, Result<(), ForgeError>> {
        Box::pin(self.comment_pull_request(project, id, text))
    }

    fn project<'a>(
        &'a self,
        project: &'a ProjectRef,
    ) -> BoxFuture<'a, Result<Project, ForgeError>> {
        Box::pin(self.get_project(project))
    }

    fn group_members<'a>(
        &'a self,
        group: &'a str,
    ) -> BoxFuture<'a, Result<Vec<String>, ForgeError>> {
        Box::pin(self.get_group_members(group))
    }

    fn file_exists_at_commit<'a>(
        &'a self,
        project: &'a ProjectRef,
        commit: &'a str,
        path: &'a str,
    ) -> BoxFuture<'a, Result<bool, ForgeError>> {
        Box::pin(self.file_exists(project, commit, path))
    }

    fn branches<'a>(
        &'a self,
        project: &'a ProjectRef,
    ) -> BoxFuture<'a, Result<Vec<String>, ForgeError>> {
        Box::pin(self.list_branches(project))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_is_sent_as_a_sensitive_header_and_never_printed() {
        let token = Secret::new("pagure-s3cret");
        let client = PagureClient::new(
            "https://src.fedoraproject.org",
            Some(token),
            Timeouts::default(),
            RetryPolicy::default(),
        )
        .unwrap();
        let authorization = client.authorization.as_ref().unwrap();
        assert!(authorization.is_sensitive());
        assert!(!format!("{client:?}").contains("s3cret"));
        let refused = PagureClient::new(
            "https://src.fedoraproject.org",
            Some(Secret::new("line\nbreak-s3cret")),
            Timeouts::default(),
            RetryPolicy::default(),
        )
        .unwrap_err();
        assert!(!refused.to_string().contains("s3cret"), "{refused}");
    }
}

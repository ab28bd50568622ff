//! Pagure (src.fedoraproject.org) API 0 client, one implementation of the [`Forge`] trait
//! (dist-git is moving to Forgejo).

mod types;

pub use types::{
    AccessGroups, AccessUsers, FlagChange, FlagResult, FlagStatus, PagureUser, Project,
    PullRequest, PullRequestFlag,
};

use crate::clients::forge::{
    Body, CheckReport, CheckState, CheckTarget, Forge, ForgeHttp, ForgeKind, PullRequestState,
    ReportChange,
};
pub use crate::clients::forge::{ForgeError, ProjectRef};
use crate::clients::{BoxFuture, RetryPolicy, Timeouts};
use crate::secret::Secret;
use reqwest::{Method, StatusCode};
use serde::Deserialize;

#[derive(Debug)]
pub struct PagureClient {
    http: ForgeHttp,
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
        let http = ForgeHttp::new(
            ForgeKind::Pagure,
            instance_url,
            token,
            timeouts,
            retry,
            error_from_answer,
        )?;
        Ok(PagureClient { http })
    }

    pub async fn get_pull_request(
        &self,
        project: &ProjectRef,
        id: u64,
    ) -> Result<PullRequest, ForgeError> {
        let path = format!("/api/0/{}/pull-request/{id}", project.path());
        self.http
            .send_json("get pull request", Method::GET, &path, Body::Empty)
            .await
    }

    pub async fn flag_pull_request(
        &self,
        project: &ProjectRef,
        id: u64,
        flag: &PullRequestFlag,
    ) -> Result<FlagResult, ForgeError> {
        let path = format!("/api/0/{}/pull-request/{id}/flag", project.path());
        let form = serde_urlencoded::to_string(flag).map_err(|error| ForgeError::Setup {
            forge: ForgeKind::Pagure,
            detail: error.to_string(),
        })?;
        let answer: FlagAnswer = self
            .http
            .send_json(
                "flag pull request",
                Method::POST,
                &path,
                Body::Form(form.as_bytes()),
            )
            .await?;
        let change = match answer.message.as_str() {
            "Flag added" => FlagChange::Added,
            "Flag updated" => FlagChange::Updated,
            other => {
                return Err(ForgeError::UnexpectedBody {
                    forge: ForgeKind::Pagure,
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
        let form = serde_urlencoded::to_string([("comment", text)]).map_err(|error| {
            ForgeError::Setup {
                forge: ForgeKind::Pagure,
                detail: error.to_string(),
            }
        })?;
        let _: serde_json::Value = self
            .http
            .send_json(
                "comment on pull request",
                Method::POST,
                &path,
                Body::Form(form.as_bytes()),
            )
            .await?;
        Ok(())
    }

    pub async fn get_project(&self, project: &ProjectRef) -> Result<Project, ForgeError> {
        let path = format!("/api/0/{}", project.path());
        self.http
            .send_json("get project", Method::GET, &path, Body::Empty)
            .await
    }

    pub async fn get_group_members(&self, group: &str) -> Result<Vec<String>, ForgeError> {
        #[derive(Deserialize)]
        struct Group {
            members: Vec<String>,
        }
        let path = format!("/api/0/group/{group}");
        let answer: Group = self
            .http
            .send_json("get group", Method::GET, &path, Body::Empty)
            .await?;
        Ok(answer.members)
    }

    pub async fn list_branches(&self, project: &ProjectRef) -> Result<Vec<String>, ForgeError> {
        #[derive(Deserialize)]
        struct Branches {
            branches: Vec<String>,
        }
        let path = format!("/api/0/{}/git/branches", project.path());
        let answer: Branches = self
            .http
            .send_json("list branches", Method::GET, &path, Body::Empty)
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
        self.http.exists(operation, Method::HEAD, &path).await
    }
}

fn error_from_answer(operation: &str, status: StatusCode, body: &[u8]) -> ForgeError {
    match serde_json::from_slice::<PagureErrorBody>(body) {
        Ok(error) => ForgeError::Api {
            forge: ForgeKind::Pagure,
            operation: operation.to_owned(),
            status: status.as_u16(),
            code: error.error_code,
            message: error.error,
        },
        Err(_) => ForgeError::HttpStatus {
            forge: ForgeKind::Pagure,
            operation: operation.to_owned(),
            status: status.as_u16(),
        },
    }
}

impl Forge for PagureClient {
    fn kind(&self) -> ForgeKind {
        ForgeKind::Pagure
    }

    /// A flag on the pull request: its username is the full check name and its uid the
    /// report's, as packit-service sets them, so a new state replaces the old one.
    fn report_check<'a>(
        &'a self,
        at: CheckTarget<'a>,
        report: CheckReport<'a>,
    ) -> BoxFuture<'a, Result<ReportChange, ForgeError>> {
        Box::pin(async move {
            let flag = PullRequestFlag {
                username: report.name.to_owned(),
                comment: report.description.to_owned(),
                url: report.url.to_owned(),
                status: flag_status(report.state),
                uid: report.uid.to_owned(),
                percent: None,
            };
            let result = self.flag_pull_request(at.project, at.number, &flag).await?;
            Ok(match result.change {
                FlagChange::Added => ReportChange::Added,
                FlagChange::Updated => ReportChange::Updated,
            })
        })
    }

    fn comment_on_pull_request<'a>(
        &'a self,
        project: &'a ProjectRef,
        number: u64,
        text: &'a str,
    ) -> BoxFuture<'a, Result<(), ForgeError>> {
        Box::pin(self.comment_pull_request(project, number, text))
    }

    fn file_exists_at_commit<'a>(
        &'a self,
        project: &'a ProjectRef,
        commit: &'a str,
        path: &'a str,
    ) -> BoxFuture<'a, Result<bool, ForgeError>> {
        Box::pin(self.file_exists(project, commit, path))
    }

    fn has_branch<'a>(
        &'a self,
        project: &'a ProjectRef,
        branch: &'a str,
    ) -> BoxFuture<'a, Result<bool, ForgeError>> {
        Box::pin(async move {
            let branches = self.list_branches(project).await?;
            Ok(branches.iter().any(|name| name == branch))
        })
    }

    fn pull_request<'a>(
        &'a self,
        project: &'a ProjectRef,
        number: u64,
    ) -> BoxFuture<'a, Result<Option<PullRequestState>, ForgeError>> {
        Box::pin(async move {
            match self.get_pull_request(project, number).await {
                Ok(pull_request) => Ok(Some(PullRequestState {
                    number: pull_request.id,
                    open: pull_request.status == "Open",
                    head_sha: pull_request.commit_stop,
                    target_branch: pull_request.branch,
                })),
                Err(error) if matches!(error.error_code(), Some("ENOREQ" | "ENOPROJECT")) => {
                    Ok(None)
                }
                Err(error) => Err(error),
            }
        })
    }

    /// Pagure has no lookup of a pull request by commit; it is only ever asked as a
    /// successor, which it is not.
    fn pull_request_for_commit<'a>(
        &'a self,
        _project: &'a ProjectRef,
        _sha: &'a str,
    ) -> BoxFuture<'a, Result<Option<PullRequestState>, ForgeError>> {
        Box::pin(async { Ok(None) })
    }
}

/// Pagure's flag status for a check state.
fn flag_status(state: CheckState) -> FlagStatus {
    match state {
        CheckState::Pending => FlagStatus::Pending,
        CheckState::Success => FlagStatus::Success,
        CheckState::Failure => FlagStatus::Failure,
        CheckState::Error => FlagStatus::Error,
        CheckState::Canceled => FlagStatus::Canceled,
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
        let authorization = client.http.authorization().unwrap();
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

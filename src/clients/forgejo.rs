//! Forgejo (API v1) client, the second implementation of the [`Forge`] trait.
//!
//! A check is a commit status on the pull request's **target** repository at its head
//! commit: the PR page shows the base repository's statuses (the head commit is there as
//! `refs/pull/N/head`), so statuses on a fork would not be seen. Its `context` is the check
//! name without the commit; Forgejo shows the newest status per context. The state mapping
//! (`docs/behaviour.md`): pending, success, failure and error as they are; canceled, which
//! Forgejo has not, is `error` with a description saying "Canceled". Descriptions are cut to
//! 140 characters, as GitHub-compatible clients do.
//!
//! When a status cannot be set (no write access, 403; the repository or commit unknown to
//! it), a final state is posted as a PR comment with packit-service's status table instead,
//! so the packager still sees it; a pending one is left out.

use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde_json::json;

use crate::clients::forge::{
    Body, CheckReport, CheckState, CheckTarget, Forge, ForgeError, ForgeHttp, ForgeKind,
    ProjectRef, PullRequestState, ReportChange,
};
use crate::clients::{BoxFuture, RetryPolicy, Timeouts};
use crate::secret::Secret;

/// Longest status description sent, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 140;

const FORGE: ForgeKind = ForgeKind::Forgejo;

#[derive(Debug)]
pub struct ForgejoClient {
    http: ForgeHttp,
}

/// Forgejo's error body.
#[derive(Deserialize)]
struct ErrorBody {
    message: String,
}

#[derive(Deserialize)]
struct WirePullRequest {
    number: u64,
    state: String,
    #[serde(default)]
    merged: bool,
    head: WireHead,
    base: WireBase,
}

#[derive(Deserialize)]
struct WireHead {
    sha: Option<String>,
}

#[derive(Deserialize)]
struct WireBase {
    #[serde(rename = "ref")]
    branch: String,
}

impl ForgejoClient {
    /// `api_url` is the API root, e.g. `https://forge.fedoraproject.org/api/v1`.
    pub fn new(
        api_url: &str,
        token: Option<Secret>,
        timeouts: Timeouts,
        retry: RetryPolicy,
    ) -> Result<Self, ForgeError> {
        let http = ForgeHttp::new(FORGE, api_url, token, timeouts, retry, error_from_answer)?;
        Ok(ForgejoClient { http })
    }

    /// `POST /repos/{owner}/{repo}/statuses/{sha}`.
    pub async fn create_status(
        &self,
        at: CheckTarget<'_>,
        report: &CheckReport<'_>,
    ) -> Result<(), ForgeError> {
        let operation = "set a commit status";
        let path = format!("{}/statuses/{}", repo_path(at.project)?, at.head_sha);
        let (state, description) = status_of(report);
        let body = json!({
            "context": report.context,
            "state": state,
            "description": description,
            "target_url": report.url,
        });
        let result: Result<serde_json::Value, ForgeError> = self
            .http
            .send_json(operation, Method::POST, &path, Body::Json(&body))
            .await;
        match result {
            Ok(_) => Ok(()),
            // Forgejo answers 500 for a commit the repository does not have: asking for the
            // commit tells that refusal from an outage.
            Err(error) if error.http_status() == Some(500) => {
                match self.commit_exists(at.project, at.head_sha).await? {
                    false => Err(ForgeError::Api {
                        forge: FORGE,
                        operation: operation.to_owned(),
                        status: 404,
                        code: "unknown commit".to_owned(),
                        message: format!(
                            "{} has no commit {}",
                            repo_path(at.project)?,
                            at.head_sha
                        ),
                    }),
                    true => Err(error),
                }
            }
            Err(error) => Err(error),
        }
    }

    /// `POST /repos/{owner}/{repo}/issues/{number}/comments`: PRs and issues share numbers.
    pub async fn create_comment(
        &self,
        project: &ProjectRef,
        number: u64,
        text: &str,
    ) -> Result<(), ForgeError> {
        let path = format!("{}/issues/{number}/comments", repo_path(project)?);
        let body = json!({ "body": text });
        let _: serde_json::Value = self
            .http
            .send_json(
                "comment on pull request",
                Method::POST,
                &path,
                Body::Json(&body),
            )
            .await?;
        Ok(())
    }

    async fn commit_exists(&self, project: &ProjectRef, sha: &str) -> Result<bool, ForgeError> {
        let path = format!("{}/git/commits/{sha}", repo_path(project)?);
        self.http
            .exists("look for a commit", Method::GET, &path)
            .await
    }

    /// A pull request read from `path`; `None` on 404.
    async fn read_pull_request(&self, path: &str) -> Result<Option<PullRequestState>, ForgeError> {
        let answer: Result<WirePullRequest, ForgeError> = self
            .http
            .send_json("get pull request", Method::GET, path, Body::Empty)
            .await;
        match answer {
            Ok(pull) => Ok(Some(PullRequestState {
                number: pull.number,
                open: pull.state == "open" && !pull.merged,
                head_sha: pull.head.sha,
                target_branch: pull.base.branch,
            })),
            Err(error) if error.is_gone() => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// Posts a final state as a PR comment, packit-service's status table, when the status
    /// itself was refused.
    async fn comment_instead(
        &self,
        at: CheckTarget<'_>,
        report: &CheckReport<'_>,
    ) -> Result<ReportChange, ForgeError> {
        if report.state == CheckState::Pending {
            return Ok(ReportChange::Skipped);
        }
        let (state, description) = status_of(report);
        let text = format!(
            "| Job | Result |\n| ------------- | ------------ |\n| [{}]({}) | {} |\n\n### Description\n\n{}\n",
            report.context,
            report.url,
            state.to_uppercase(),
            description
        );
        self.create_comment(at.project, at.number, &text).await?;
        Ok(ReportChange::Commented)
    }
}

/// The repository's API path: `/repos/{owner}/{repo}`. A fork on Forgejo is a repository of
/// its own, addressed by its owner.
fn repo_path(project: &ProjectRef) -> Result<String, ForgeError> {
    match (&project.namespace, &project.fork_owner) {
        (Some(owner), None) => Ok(format!("/repos/{owner}/{}", project.repo)),
        _ => Err(ForgeError::Setup {
            forge: FORGE,
            detail: format!(
                "{} is not an owner/repository pair as Forgejo addresses repositories",
                project.path()
            ),
        }),
    }
}

/// Forgejo's state and the description sent (≤ 140 characters) for a report.
fn status_of(report: &CheckReport<'_>) -> (&'static str, String) {
    let (state, description) = match report.state {
        CheckState::Pending => ("pending", report.description.to_owned()),
        CheckState::Success => ("success", report.description.to_owned()),
        CheckState::Failure => ("failure", report.description.to_owned()),
        CheckState::Error => ("error", report.description.to_owned()),
        CheckState::Canceled => ("error", format!("Canceled: {}", report.description)),
    };
    (state, cut(&description, MAX_DESCRIPTION_CHARS))
}

/// `text` cut to `max` characters, ending with "…" when cut.
fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(max - 1).collect();
    cut.push('…');
    cut
}

/// A status the forge will not take whoever asks again: no write access (403), the
/// repository or commit unknown (404, or 500 found to be one), the repository archived
/// (423).
fn status_refused(error: &ForgeError) -> bool {
    matches!(error.http_status(), Some(403 | 404 | 423))
}

fn error_from_answer(operation: &str, status: StatusCode, body: &[u8]) -> ForgeError {
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(error) => ForgeError::Api {
            forge: FORGE,
            operation: operation.to_owned(),
            status: status.as_u16(),
            code: status.canonical_reason().unwrap_or_default().to_owned(),
            message: error.message,
        },
        Err(_) => ForgeError::HttpStatus {
            forge: FORGE,
            operation: operation.to_owned(),
            status: status.as_u16(),
        },
    }
}

impl Forge for ForgejoClient {
    fn kind(&self) -> ForgeKind {
        FORGE
    }

    fn report_check<'a>(
        &'a self,
        at: CheckTarget<'a>,
        report: CheckReport<'a>,
    ) -> BoxFuture<'a, Result<ReportChange, ForgeError>> {
        Box::pin(async move {
            match self.create_status(at, &report).await {
                Ok(()) => Ok(ReportChange::Added),
                Err(error) if status_refused(&error) => {
                    tracing::warn!(%error, check = report.name, "Forgejo refused the status; reporting by comment");
                    self.comment_instead(at, &report).await
                }
                Err(error) => Err(error),
            }
        })
    }

    fn comment_on_pull_request<'a>(
        &'a self,
        project: &'a ProjectRef,
        number: u64,
        text: &'a str,
    ) -> BoxFuture<'a, Result<(), ForgeError>> {
        Box::pin(self.create_comment(project, number, text))
    }

    fn file_exists_at_commit<'a>(
        &'a self,
        project: &'a ProjectRef,
        commit: &'a str,
        path: &'a str,
    ) -> BoxFuture<'a, Result<bool, ForgeError>> {
        Box::pin(async move {
            let path = format!(
                "{}/raw/{}?ref={commit}",
                repo_path(project)?,
                path.trim_start_matches('/')
            );
            self.http
                .exists("look for a file", Method::GET, &path)
                .await
        })
    }

    fn has_branch<'a>(
        &'a self,
        project: &'a ProjectRef,
        branch: &'a str,
    ) -> BoxFuture<'a, Result<bool, ForgeError>> {
        Box::pin(async move {
            let path = format!("{}/branches/{branch}", repo_path(project)?);
            self.http
                .exists("look for a branch", Method::GET, &path)
                .await
        })
    }

    fn pull_request<'a>(
        &'a self,
        project: &'a ProjectRef,
        number: u64,
    ) -> BoxFuture<'a, Result<Option<PullRequestState>, ForgeError>> {
        Box::pin(async move {
            let path = format!("{}/pulls/{number}", repo_path(project)?);
            self.read_pull_request(&path).await
        })
    }

    /// `GET /repos/{owner}/{repo}/commits/{sha}/pull`: the pull request whose head is `sha`.
    fn pull_request_for_commit<'a>(
        &'a self,
        project: &'a ProjectRef,
        sha: &'a str,
    ) -> BoxFuture<'a, Result<Option<PullRequestState>, ForgeError>> {
        Box::pin(async move {
            let path = format!("{}/commits/{sha}/pull", repo_path(project)?);
            self.read_pull_request(&path).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(state: CheckState, description: &str) -> CheckReport<'_> {
        CheckReport {
            name: "Fedora CI - scratch build - rawhide [889f07a]",
            context: "Fedora CI - scratch build - rawhide",
            uid: "0123",
            state,
            description,
            url: "https://ci.example/1",
        }
    }

    #[test]
    fn states_map_to_forgejos_five_and_canceled_says_so() {
        for (state, expected) in [
            (CheckState::Pending, "pending"),
            (CheckState::Success, "success"),
            (CheckState::Failure, "failure"),
            (CheckState::Error, "error"),
        ] {
            assert_eq!(status_of(&report(state, "x")), (expected, "x".to_owned()));
        }
        assert_eq!(
            status_of(&report(
                CheckState::Canceled,
                "Superseded by the newer commit 1234567."
            )),
            (
                "error",
                "Canceled: Superseded by the newer commit 1234567.".to_owned()
            )
        );
    }

    #[test]
    fn descriptions_are_cut_to_140_characters_on_a_character_boundary() {
        let long = "é".repeat(141);
        let (_, description) = status_of(&report(CheckState::Failure, &long));
        assert_eq!(description.chars().count(), 140);
        assert!(description.ends_with('…'));
        let exact = "a".repeat(140);
        assert_eq!(status_of(&report(CheckState::Failure, &exact)).1, exact);
    }

    #[test]
    fn the_token_is_sent_as_a_sensitive_header_and_never_printed() {
        let client = ForgejoClient::new(
            "https://forge.fedoraproject.org/api/v1",
            Some(Secret::new("forgejo-s3cret")),
            Timeouts::default(),
            RetryPolicy::default(),
        )
        .unwrap();
        assert!(client.http.authorization().unwrap().is_sensitive());
        assert!(!format!("{client:?}").contains("s3cret"));
    }

    #[test]
    fn forks_are_addressed_as_repositories_of_their_owner() {
        assert_eq!(
            repo_path(&ProjectRef::new("rpms", "ansible")).unwrap(),
            "/repos/rpms/ansible"
        );
        assert!(repo_path(&ProjectRef::fork("jpodivin", "rpms", "ansible")).is_err());
        assert!(repo_path(&ProjectRef::new("", "ansible")).is_err());
    }
}

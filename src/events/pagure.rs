//! Pagure (src.fedoraproject.org) pull-request messages.
//!
//! Every body is `{"agent": <user>, "pullrequest": <PR JSON>}`, published by Pagure's
//! `pagure.lib.notify.log()`; the fields read are those packit-service's parser reads.

use std::borrow::Cow;

use serde::Deserialize;
use serde::de::IgnoredAny;

use super::error::{ParseError, deserialize_body};
use super::{CommentId, CommitSha, Event, Parsed, PrId};

/// A dist-git repository (`pullrequest.project`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DistGitRepo {
    /// `rpms`, `tests`, …; null for projects outside any namespace (pagure.io).
    pub namespace: Option<String>,
    pub name: String,
    /// Web URL, e.g. `https://src.fedoraproject.org/rpms/optee_os`; projects are configured by it.
    pub url: String,
}

/// Where a pull request's commits come from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PullRequestSource {
    /// `repo_from.user.name`; the actor when `repo_from` is null, as packit-service does.
    pub owner: String,
    /// `repo_from.name`, or the target repository's name.
    pub repo_name: String,
    /// `repo_from.full_url`, e.g. `https://src.fedoraproject.org/fork/zbyszek/rpms/optee_os`,
    /// or the target repository's URL.
    pub url: String,
}

/// A pull request as an opened, synchronized or commented message carries it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PullRequest {
    pub id: PrId,
    pub target_repo: DistGitRepo,
    /// `pullrequest.branch`, e.g. `rawhide`, `main` or `f42`.
    pub target_branch: String,
    pub source: PullRequestSource,
    /// `pullrequest.commit_stop`.
    pub head_commit: CommitSha,
    /// `pullrequest.title`; `[skip ci]` in it skips CI for the pull request.
    pub title: String,
    /// Who caused the message (`agent`): the author of a new PR, `pagure` for pushes and
    /// rebases, the commenter for comments.
    pub actor: String,
}

impl PullRequest {
    /// Whether the commits live in a fork rather than in the target repository itself.
    pub fn is_from_fork(&self) -> bool {
        self.source.url != self.target_repo.url
    }
}

/// How a pull request got its new head commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum SyncKind {
    /// `pagure.pull-request.updated`: commits pushed on top of the PR.
    NewCommits,
    /// `pagure.pull-request.rebased`: the PR's history was rewritten.
    Rebased,
}

/// A comment added to a pull request; its author is `pull_request.actor`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PullRequestComment {
    /// packit-service fetched the target branch from Pagure for comments; the message's
    /// `pullrequest.branch` is the same value at the time the comment was made.
    pub pull_request: PullRequest,
    /// `pullrequest.comments[-1].id`.
    pub comment_id: CommentId,
    /// `pullrequest.comments[-1].comment`.
    pub text: String,
}

/// A pull request that was merged or closed. Its head commit may be null, so it carries
/// only what identifies the pull request.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PullRequestClosed {
    pub id: PrId,
    pub target_repo: DistGitRepo,
    pub actor: String,
    pub merged: bool,
}

#[derive(Deserialize)]
struct WireMessage<Comments: Default> {
    agent: String,
    pullrequest: WirePullRequest<Comments>,
    /// Only in `pagure.pull-request.closed`.
    merged: Option<bool>,
}

#[derive(Deserialize)]
struct WirePullRequest<Comments: Default> {
    id: PrId,
    branch: String,
    project: WireProject,
    repo_from: Option<WireRepoFrom>,
    commit_stop: Option<String>,
    #[serde(default)]
    title: Option<String>,
    /// Only comment messages need the comments, so other topics skip them unread.
    #[serde(default)]
    comments: Comments,
}

#[derive(Deserialize)]
struct WireProject {
    name: String,
    namespace: Option<String>,
    full_url: String,
}

#[derive(Deserialize)]
struct WireRepoFrom {
    name: String,
    full_url: String,
    user: WireUser,
}

#[derive(Deserialize)]
struct WireUser {
    name: String,
}

#[derive(Deserialize)]
struct WireComment {
    id: CommentId,
    comment: String,
}

pub(super) fn parse_opened(topic: &str, body: &[u8]) -> Result<Parsed, ParseError> {
    let message: WireMessage<IgnoredAny> = deserialize_body(topic, body)?;
    let pull_request = pull_request(topic, message.agent, message.pullrequest)?;
    Ok(Parsed::Event(Event::PullRequestOpened(pull_request)))
}

pub(super) fn parse_synchronized(
    kind: SyncKind,
    topic: &str,
    body: &[u8],
) -> Result<Parsed, ParseError> {
    let message: WireMessage<IgnoredAny> = deserialize_body(topic, body)?;
    let pull_request = pull_request(topic, message.agent, message.pullrequest)?;
    Ok(Parsed::Event(Event::PullRequestSynchronized {
        pull_request,
        kind,
    }))
}

pub(super) fn parse_comment_added(topic: &str, body: &[u8]) -> Result<Parsed, ParseError> {
    let mut message: WireMessage<Vec<WireComment>> = deserialize_body(topic, body)?;
    // Pagure appends the new comment last.
    let Some(comment) = message.pullrequest.comments.pop() else {
        return Err(ParseError::invalid_field(
            topic,
            "pullrequest.comments",
            "is empty, so there is no added comment",
        ));
    };
    let pull_request = pull_request(topic, message.agent, message.pullrequest)?;
    Ok(Parsed::Event(Event::PullRequestComment(
        PullRequestComment {
            pull_request,
            comment_id: comment.id,
            text: comment.comment,
        },
    )))
}

pub(super) fn parse_closed(topic: &str, body: &[u8]) -> Result<Parsed, ParseError> {
    let message: WireMessage<IgnoredAny> = deserialize_body(topic, body)?;
    let Some(merged) = message.merged else {
        return Err(ParseError::invalid_field(topic, "merged", "is missing"));
    };
    let pull_request = message.pullrequest;
    Ok(Parsed::Event(Event::PullRequestClosed(PullRequestClosed {
        id: pull_request.id,
        target_repo: target_repo(pull_request.project),
        actor: message.agent,
        merged,
    })))
}

fn pull_request<Comments: Default>(
    topic: &str,
    agent: String,
    wire: WirePullRequest<Comments>,
) -> Result<PullRequest, ParseError> {
    let head_commit = head_commit(topic, wire.commit_stop.as_deref())?;
    let target_repo = target_repo(wire.project);
    let source = match wire.repo_from {
        Some(repo_from) => PullRequestSource {
            owner: repo_from.user.name,
            repo_name: repo_from.name,
            url: repo_from.full_url,
        },
        None => PullRequestSource {
            owner: agent.clone(),
            repo_name: target_repo.name.clone(),
            url: target_repo.url.clone(),
        },
    };
    Ok(PullRequest {
        id: wire.id,
        target_repo,
        target_branch: wire.branch,
        source,
        head_commit,
        title: wire.title.unwrap_or_default(),
        actor: agent,
    })
}

fn target_repo(project: WireProject) -> DistGitRepo {
    DistGitRepo {
        namespace: project.namespace,
        name: project.name,
        url: project.full_url,
    }
}

fn head_commit(topic: &str, commit_stop: Option<&str>) -> Result<CommitSha, ParseError> {
    const FIELD: &str = "pullrequest.commit_stop";
    let Some(commit_stop) = commit_stop else {
        return Err(ParseError::invalid_field(
            topic,
            FIELD,
            "is null, so the PR has no head commit",
        ));
    };
    CommitSha::parse(commit_stop)
        .map_err(|error| ParseError::invalid_field(topic, FIELD, error.to_string()))
}

/// The few fields [`prefilter`](super::prefilter) looks at, borrowed from the body.
#[derive(Deserialize)]
pub(super) struct Peek<'a> {
    #[serde(borrow)]
    pub agent: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pullrequest: Option<PeekPullRequest<'a>>,
}

#[derive(Deserialize)]
struct PeekPullRequest<'a> {
    #[serde(borrow)]
    project: Option<PeekProject<'a>>,
}

#[derive(Deserialize)]
struct PeekProject<'a> {
    #[serde(borrow)]
    namespace: Option<Cow<'a, str>>,
}

impl Peek<'_> {
    /// `Some(namespace)` once the body has a project; the namespace itself may be null.
    pub fn namespace(&self) -> Option<Option<&str>> {
        let project = self.pullrequest.as_ref()?.project.as_ref()?;
        Some(project.namespace.as_deref())
    }
}

pub(super) fn peek(body: &[u8]) -> Option<Peek<'_>> {
    serde_json::from_slice(body).ok()
}

//! Pagure (src.fedoraproject.org) pull-request messages, and the pull-request types both
//! forges' messages become.
//!
//! Every body is `{"agent": <user>, "pullrequest": <PR JSON>}`, published by Pagure's
//! `pagure.lib.notify.log()`; the fields read are those packit-service's parser reads.

use std::borrow::Cow;

use serde::Deserialize;
use serde::de::IgnoredAny;

use super::error::{ParseError, deserialize_body};
use super::{CommentId, CommitSha, Event, ForgeKind, Parsed, PrId};

/// A dist-git repository (Pagure's `pullrequest.project`, Forgejo's `repository`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DistGitRepo {
    /// `rpms`, `tests`, …; null for projects outside any namespace (pagure.io). On Forgejo,
    /// the owning organisation.
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
    /// The git URL the head commit is fetched from, e.g.
    /// `https://src.fedoraproject.org/forks/zbyszek/rpms/optee_os.git` (Pagure's `fork/` web
    /// path is `forks/` on the git side; Forgejo gives `head.repo.clone_url`).
    pub clone_url: String,
}

/// A pull request as an opened, synchronized or commented message carries it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PullRequest {
    pub forge: ForgeKind,
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
    /// Forgejo's `synchronized`: new commits, pushed on top or forced (Forgejo does not
    /// tell them apart).
    Synchronized,
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
    pub forge: ForgeKind,
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
        forge: ForgeKind::Pagure,
        id: pull_request.id,
        target_repo: checked_target_repo(topic, pull_request.project)?,
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
    let invalid = |field: &str, problem: String| ParseError::invalid_field(topic, field, problem);
    user_name(&agent).map_err(|problem| invalid("agent", problem))?;
    branch_name(&wire.branch).map_err(|problem| invalid("pullrequest.branch", problem))?;
    let target_repo = checked_target_repo(topic, wire.project)?;
    let source = match wire.repo_from {
        Some(repo_from) => {
            let clone_url = source_clone_url(&repo_from, &target_repo)
                .map_err(|problem| invalid("pullrequest.repo_from.full_url", problem))?;
            PullRequestSource {
                owner: repo_from.user.name,
                repo_name: repo_from.name,
                url: repo_from.full_url,
                clone_url,
            }
        }
        None => PullRequestSource {
            owner: agent.clone(),
            repo_name: target_repo.name.clone(),
            url: target_repo.url.clone(),
            clone_url: format!("{}.git", target_repo.url),
        },
    };
    Ok(PullRequest {
        forge: ForgeKind::Pagure,
        id: wire.id,
        target_repo,
        target_branch: wire.branch,
        source,
        head_commit,
        title: wire.title.unwrap_or_default(),
        actor: agent,
    })
}

/// The target repository, once its names are safe in an API path and its URL is the web URL
/// of exactly that repository.
fn checked_target_repo(topic: &str, project: WireProject) -> Result<DistGitRepo, ParseError> {
    let invalid = |field: &str, problem: String| ParseError::invalid_field(topic, field, problem);
    if let Some(namespace) = &project.namespace {
        path_segment(namespace)
            .map_err(|problem| invalid("pullrequest.project.namespace", problem))?;
    }
    path_segment(&project.name).map_err(|problem| invalid("pullrequest.project.name", problem))?;
    let expected: Vec<&str> = project
        .namespace
        .iter()
        .map(String::as_str)
        .chain([project.name.as_str()])
        .collect();
    let (_, path) = web_url(&project.full_url)
        .map_err(|problem| invalid("pullrequest.project.full_url", problem))?;
    if path != expected {
        return Err(invalid(
            "pullrequest.project.full_url",
            format!(
                "{:?} is not the web URL of {}",
                project.full_url,
                expected.join("/")
            ),
        ));
    }
    Ok(DistGitRepo {
        namespace: project.namespace,
        name: project.name,
        url: project.full_url,
    })
}

/// A pull request's source is the target repository itself or a fork of it on the same host:
/// `<host>/fork/<user>/<namespace>/<name>`. Koji is asked to build from it, so nothing else
/// (another host, userinfo, `..`) may get through. Returns its git URL.
fn source_clone_url(repo_from: &WireRepoFrom, target: &DistGitRepo) -> Result<String, String> {
    if repo_from.full_url == target.url {
        return Ok(format!("{}.git", target.url));
    }
    user_name(&repo_from.user.name)?;
    let (origin, path) = web_url(&repo_from.full_url)?;
    let (target_origin, target_path) = web_url(&target.url)?;
    let mut fork_path = vec!["fork", repo_from.user.name.as_str()];
    fork_path.extend(&target_path[..target_path.len() - 1]);
    fork_path.push(repo_from.name.as_str());
    if origin != target_origin || path != fork_path {
        return Err(format!(
            "{:?} is neither {:?} nor its fork {target_origin}/{}",
            repo_from.full_url,
            target.url,
            fork_path.join("/")
        ));
    }
    fork_path[0] = "forks";
    Ok(format!("{origin}/{}.git", fork_path.join("/")))
}

/// `scheme://host[:port]` and the path's segments of a dist-git web URL; refused: other
/// schemes, userinfo (`https://src.fedoraproject.org@evil.example/`), a query, a fragment,
/// empty, `.` and `..` segments, and characters Pagure never puts in a project path.
pub(super) fn web_url(url: &str) -> Result<(&str, Vec<&str>), String> {
    let not_a_project = |why: &str| format!("{url:?} is not a dist-git project URL: {why}");
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| not_a_project("not http(s)"))?;
    let (authority, path) = rest
        .split_once('/')
        .ok_or_else(|| not_a_project("no path"))?;
    let host_chars = |c: char| c.is_ascii_alphanumeric() || ".-:[]".contains(c);
    if authority.is_empty() || !authority.chars().all(host_chars) {
        return Err(not_a_project("the host is not a plain host name"));
    }
    let segments: Vec<&str> = path.split('/').collect();
    for segment in &segments {
        path_segment(segment).map_err(|problem| not_a_project(&problem))?;
    }
    Ok((&url[..url.len() - path.len() - 1], segments))
}

/// The longest name accepted in a path segment or branch: far beyond any real one.
const MAX_NAME_CHARS: usize = 255;

/// A project, namespace or user name as Pagure allows them: letters, digits, `.`, `_`, `+`,
/// `-`; never `.` or `..`, so that it is one path segment of an API URL whatever it says.
pub(super) fn path_segment(name: &str) -> Result<(), String> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || "._+-".contains(c);
    if name.is_empty() || name.len() > MAX_NAME_CHARS {
        return Err(format!("{name:?} must be 1 to {MAX_NAME_CHARS} characters"));
    }
    if name == "." || name == ".." || !name.chars().all(allowed) {
        return Err(format!(
            "{name:?} is not a name (letters, digits, '.', '_', '+', '-')"
        ));
    }
    Ok(())
}

/// A Pagure (FAS) user name: one path segment.
pub(super) fn user_name(name: &str) -> Result<(), String> {
    path_segment(name)
}

/// A git branch name as dist-git has them (`rawhide`, `f42`, `epel10.1`, `private-x/y`):
/// letters, digits, `.`, `_`, `+`, `-`, and `/` between non-empty parts that are not `.`/`..`.
pub(super) fn branch_name(branch: &str) -> Result<(), String> {
    if branch.len() > MAX_NAME_CHARS {
        return Err(format!("is longer than {MAX_NAME_CHARS} characters"));
    }
    branch.split('/').try_for_each(path_segment)
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

//! Forgejo pull-request messages, as webhook-to-fedora-messaging publishes Forgejo's
//! webhooks: `{"body": <webhook JSON>, "headers": {…}, "agent": null}` on the topics
//! `forgejo.pull_request` and `forgejo.issue_comment`.
//!
//! Only `body` is read. `headers` carries the webhook's own `authorization` and proxy
//! headers; it is never deserialized, so nothing of it reaches an [`Event`].
//!
//! The events are the ones Pagure's messages become, with `forge` = Forgejo: the base
//! repository is the target (its owner in `namespace`), the head repository the source.

use std::borrow::Cow;

use serde::Deserialize;

use super::error::{ParseError, deserialize_body};
use super::pagure::{branch_name, path_segment, user_name, web_url};
use super::{
    CommentId, CommitSha, DistGitRepo, Event, ForgeKind, Parsed, PrId, PullRequest,
    PullRequestClosed, PullRequestComment, PullRequestSource, Skip, SyncKind,
};

#[derive(Deserialize)]
struct WireMessage<Body> {
    body: Body,
}

#[derive(Deserialize)]
struct WirePullRequestEvent {
    action: String,
    pull_request: WirePullRequest,
    repository: WireRepository,
    sender: WireUser,
}

#[derive(Deserialize)]
struct WireIssueCommentEvent {
    action: String,
    #[serde(default)]
    is_pull: bool,
    comment: WireComment,
    /// Present when `is_pull` is true.
    pull_request: Option<WirePullRequest>,
    repository: WireRepository,
}

#[derive(Deserialize)]
struct WirePullRequest {
    number: PrId,
    #[serde(default)]
    title: String,
    #[serde(default)]
    merged: bool,
    /// 0: a branch of a repository; 1: AGit (`refs/for/…`), whose head lives only in the
    /// base repository's `refs/pull/N/head`.
    #[serde(default)]
    flow: i64,
    base: WireBase,
    head: WireHead,
}

#[derive(Deserialize)]
struct WireBase {
    #[serde(rename = "ref")]
    branch: String,
}

#[derive(Deserialize)]
struct WireHead {
    sha: String,
    /// `-1` once the head repository was deleted.
    #[serde(default)]
    repo_id: i64,
    repo: Option<WireRepository>,
}

#[derive(Deserialize)]
struct WireRepository {
    name: String,
    owner: WireUser,
    html_url: String,
    clone_url: String,
}

#[derive(Deserialize)]
struct WireUser {
    login: String,
}

#[derive(Deserialize)]
struct WireComment {
    id: CommentId,
    body: String,
    user: WireUser,
}

/// `forgejo.pull_request`.
pub(super) fn parse_pull_request(topic: &str, body: &[u8]) -> Result<Parsed, ParseError> {
    let message: WireMessage<WirePullRequestEvent> = deserialize_body(topic, body)?;
    let event = message.body;
    let opened = match event.action.as_str() {
        "opened" | "reopened" => true,
        "synchronized" => false,
        "closed" => {
            let target_repo = checked_repo(topic, "body.repository", event.repository)?;
            let actor = checked_user(topic, "body.sender.login", event.sender)?;
            return Ok(Parsed::Event(Event::PullRequestClosed(PullRequestClosed {
                forge: ForgeKind::Forgejo,
                id: event.pull_request.number,
                target_repo,
                actor,
                merged: event.pull_request.merged,
            })));
        }
        // A retarget or a title/description edit: no new head, so nothing to run (a
        // retarget keeps the checks of the head, as on Pagure).
        "edited" => return Ok(Parsed::Ignored(Skip::EditWithoutNewHead)),
        other => {
            return Ok(Parsed::Ignored(Skip::IgnoredAction {
                action: other.to_owned(),
            }));
        }
    };
    let actor = checked_user(topic, "body.sender.login", event.sender)?;
    let pull_request = match pull_request(topic, event.repository, event.pull_request, actor)? {
        Ok(pull_request) => pull_request,
        Err(skip) => return Ok(Parsed::Ignored(skip)),
    };
    Ok(Parsed::Event(if opened {
        Event::PullRequestOpened(pull_request)
    } else {
        Event::PullRequestSynchronized {
            pull_request,
            kind: SyncKind::Synchronized,
        }
    }))
}

/// `forgejo.issue_comment`: a comment on a pull request is a [`PullRequestComment`]; one on
/// a plain issue is not for us.
pub(super) fn parse_issue_comment(topic: &str, body: &[u8]) -> Result<Parsed, ParseError> {
    let message: WireMessage<WireIssueCommentEvent> = deserialize_body(topic, body)?;
    let event = message.body;
    if !event.is_pull {
        return Ok(Parsed::Ignored(Skip::NotAPullRequest));
    }
    if event.action != "created" {
        return Ok(Parsed::Ignored(Skip::IgnoredAction {
            action: event.action,
        }));
    }
    let Some(wire_pull_request) = event.pull_request else {
        return Err(ParseError::invalid_field(
            topic,
            "body.pull_request",
            "is missing although body.is_pull is true",
        ));
    };
    let actor = checked_user(topic, "body.comment.user.login", event.comment.user)?;
    let pull_request = match pull_request(topic, event.repository, wire_pull_request, actor)? {
        Ok(pull_request) => pull_request,
        Err(skip) => return Ok(Parsed::Ignored(skip)),
    };
    Ok(Parsed::Event(Event::PullRequestComment(
        PullRequestComment {
            pull_request,
            comment_id: event.comment.id,
            text: event.comment.body,
        },
    )))
}

/// The pull request, or why its head cannot be built (`Err(Skip)`).
fn pull_request(
    topic: &str,
    repository: WireRepository,
    wire: WirePullRequest,
    actor: String,
) -> Result<Result<PullRequest, Skip>, ParseError> {
    let invalid = |field: &str, problem: String| ParseError::invalid_field(topic, field, problem);
    let target_repo = checked_repo(topic, "body.repository", repository)?;
    branch_name(&wire.base.branch)
        .map_err(|problem| invalid("body.pull_request.base.ref", problem))?;
    let head_commit = CommitSha::parse(&wire.head.sha)
        .map_err(|error| invalid("body.pull_request.head.sha", error.to_string()))?;
    if wire.flow != 0 {
        return Ok(Err(Skip::AgitPullRequest));
    }
    let Some(head_repo) = wire.head.repo.filter(|_| wire.head.repo_id != -1) else {
        return Ok(Err(Skip::HeadRepositoryGone));
    };
    let clone_url = head_repo.clone_url.clone();
    let source = checked_repo(topic, "body.pull_request.head.repo", head_repo)?;
    if origin(&source.url) != origin(&target_repo.url) {
        return Err(invalid(
            "body.pull_request.head.repo.html_url",
            format!(
                "{:?} is not on the forge of {:?}",
                source.url, target_repo.url
            ),
        ));
    }
    Ok(Ok(PullRequest {
        forge: ForgeKind::Forgejo,
        id: wire.number,
        target_repo,
        target_branch: wire.base.branch,
        source: PullRequestSource {
            owner: source.namespace.unwrap_or_default(),
            repo_name: source.name,
            url: source.url,
            clone_url,
        },
        head_commit,
        title: wire.title,
        actor,
    }))
}

/// A repository whose owner and name are single path segments, whose `html_url` is exactly
/// `<origin>/<owner>/<name>` and whose `clone_url` is that URL with `.git`: Koji and tmt are
/// given the clone URL, so nothing else may get through.
fn checked_repo(
    topic: &str,
    field: &str,
    repository: WireRepository,
) -> Result<DistGitRepo, ParseError> {
    let invalid = |name: &str, problem: String| {
        ParseError::invalid_field(topic, &format!("{field}.{name}"), problem)
    };
    path_segment(&repository.owner.login).map_err(|problem| invalid("owner.login", problem))?;
    path_segment(&repository.name).map_err(|problem| invalid("name", problem))?;
    let (_, path) =
        web_url(&repository.html_url).map_err(|problem| invalid("html_url", problem))?;
    if path != [repository.owner.login.as_str(), repository.name.as_str()] {
        return Err(invalid(
            "html_url",
            format!(
                "{:?} is not the web URL of {}/{}",
                repository.html_url, repository.owner.login, repository.name
            ),
        ));
    }
    if repository.clone_url != format!("{}.git", repository.html_url) {
        return Err(invalid(
            "clone_url",
            format!(
                "{:?} is not the git URL of {:?}",
                repository.clone_url, repository.html_url
            ),
        ));
    }
    Ok(DistGitRepo {
        namespace: Some(repository.owner.login),
        name: repository.name,
        url: repository.html_url,
    })
}

fn checked_user(topic: &str, field: &str, user: WireUser) -> Result<String, ParseError> {
    user_name(&user.login).map_err(|problem| ParseError::invalid_field(topic, field, problem))?;
    Ok(user.login)
}

/// `scheme://host[:port]` of a URL [`web_url`] accepted.
fn origin(url: &str) -> &str {
    web_url(url).map_or(url, |(origin, _)| origin)
}

/// The body as it may be stored: without the webhook's `headers`, which hold its
/// `authorization` and the proxies' headers. A body that is not a JSON object cannot be taken
/// apart, so only its size is kept.
pub(super) fn scrub(body: &[u8]) -> Vec<u8> {
    let scrubbed = serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(body)
        .ok()
        .and_then(|mut message| {
            message.remove("headers");
            serde_json::to_vec(&message).ok()
        });
    scrubbed.unwrap_or_else(|| {
        format!(
            "(a Forgejo message body of {} bytes that is not a JSON object; not stored, as it \
             may hold the webhook's credentials)",
            body.len()
        )
        .into_bytes()
    })
}

/// The few fields [`prefilter`](super::prefilter) looks at, borrowed from the body.
#[derive(Deserialize)]
pub(super) struct Peek<'a> {
    #[serde(borrow)]
    body: Option<PeekBody<'a>>,
}

#[derive(Deserialize)]
struct PeekBody<'a> {
    #[serde(borrow)]
    repository: Option<PeekRepository<'a>>,
    #[serde(borrow)]
    comment: Option<PeekComment<'a>>,
}

#[derive(Deserialize)]
struct PeekRepository<'a> {
    #[serde(borrow)]
    owner: Option<PeekUser<'a>>,
}

#[derive(Deserialize)]
struct PeekComment<'a> {
    #[serde(borrow)]
    user: Option<PeekUser<'a>>,
}

#[derive(Deserialize)]
struct PeekUser<'a> {
    #[serde(borrow)]
    login: Option<Cow<'a, str>>,
}

impl Peek<'_> {
    /// The base repository's owner: the dist-git namespace (`rpms`, `tests`).
    pub fn owner(&self) -> Option<&str> {
        self.body
            .as_ref()?
            .repository
            .as_ref()?
            .owner
            .as_ref()?
            .login
            .as_deref()
    }

    /// The comment's author, on `issue_comment`.
    pub fn commenter(&self) -> Option<&str> {
        self.body
            .as_ref()?
            .comment
            .as_ref()?
            .user
            .as_ref()?
            .login
            .as_deref()
    }
}

pub(super) fn peek(body: &[u8]) -> Option<Peek<'_>> {
    serde_json::from_slice(body).ok()
}

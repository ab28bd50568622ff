//! Typed events: fedora-messaging bodies and Testing Farm notifications turned into [`Event`].
//!
//! `events/` does no I/O: no database, no network, no clock, no logging. It turns bytes into
//! types, so everything in it is tested on captured messages alone. Wire structs stay private
//! to the file of their source ([`pagure`], [`koji`], [`logdetective`], [`testing_farm`]);
//! what leaves this module is the closed [`Event`] enum and the identifier newtypes.
//!
//! Three outcomes are kept apart on purpose:
//! - an [`Event`]: a message Fedora CI acts on;
//! - [`Parsed::Ignored`] with a [`Skip`]: a well-formed message that is not for us, with the
//!   reason, so the listener can log why it dropped it;
//! - a [`ParseError`]: a message on one of our topics that is not what the topic promises,
//!   naming the field that is wrong.
//!
//! The listener calls [`prefilter`] first, which is cheap and needs no database, and then
//! [`parse`]. [`envelope`] reads stored messages (test data, fedora-messaging dumps,
//! datagrepper) for replaying them.

pub mod envelope;
mod error;
mod forgejo;
mod ids;
mod koji;
mod logdetective;
mod pagure;
mod prefilter;
mod testing_farm;
mod topic;

pub use error::ParseError;
pub use ids::{
    CommentId, CommitSha, ForgeKind, InvalidCommitSha, KojiTaskId, LogDetectiveAnalysisId, PrId,
    TestingFarmRequestId,
};
pub use koji::{KojiBuildRequest, KojiTaskState, KojiTaskStateChange};
pub use logdetective::{LogDetectiveBuildSystem, LogDetectiveResult, LogDetectiveStatus};
pub use pagure::{
    DistGitRepo, PullRequest, PullRequestClosed, PullRequestComment, PullRequestSource, SyncKind,
};
pub use prefilter::{Identity, Relevance, ServedForgejo, prefilter};
pub use testing_farm::TestingFarmNotification;
pub use topic::{TESTING_FARM_RESULTS_TOPIC, Topic};

/// Something Fedora CI reacts to.
#[derive(Debug, Clone, serde::Serialize)]
pub enum Event {
    /// `pagure.pull-request.new`; Forgejo's `opened` and `reopened`.
    PullRequestOpened(PullRequest),
    /// `pagure.pull-request.updated` and `.rebased`, Forgejo's `synchronized`: the PR has a
    /// new head commit.
    PullRequestSynchronized {
        pull_request: PullRequest,
        kind: SyncKind,
    },
    /// `pagure.pull-request.comment.added`; Forgejo's `issue_comment` on a pull request.
    PullRequestComment(PullRequestComment),
    /// `pagure.pull-request.closed`, Forgejo's `closed`; merged or not.
    PullRequestClosed(PullRequestClosed),
    /// `buildsys.task.state.change`.
    KojiTaskStateChanged(KojiTaskStateChange),
    /// `logdetective.analysis`.
    LogDetectiveResult(LogDetectiveResult),
    /// The Testing Farm webhook ([`TESTING_FARM_RESULTS_TOPIC`]).
    TestingFarmResult(TestingFarmNotification),
}

impl Event {
    /// The forge a pull-request event comes from; `None` for the other events.
    pub fn forge(&self) -> Option<ForgeKind> {
        match self {
            Event::PullRequestOpened(pull_request)
            | Event::PullRequestSynchronized { pull_request, .. }
            | Event::PullRequestComment(PullRequestComment { pull_request, .. }) => {
                Some(pull_request.forge)
            }
            Event::PullRequestClosed(closed) => Some(closed.forge),
            Event::KojiTaskStateChanged(_)
            | Event::LogDetectiveResult(_)
            | Event::TestingFarmResult(_) => None,
        }
    }

    /// The dist-git URLs the event names (target project, PR source, its git URL): each must
    /// be under the dist-git of [`Event::forge`] this instance serves
    /// ([`Identity::foreign_url`]).
    pub fn dist_git_urls(&self) -> Vec<&str> {
        match self {
            Event::PullRequestOpened(pull_request)
            | Event::PullRequestSynchronized { pull_request, .. }
            | Event::PullRequestComment(PullRequestComment { pull_request, .. }) => vec![
                pull_request.target_repo.url.as_str(),
                pull_request.source.url.as_str(),
                pull_request.source.clone_url.as_str(),
            ],
            Event::PullRequestClosed(closed) => vec![closed.target_repo.url.as_str()],
            Event::KojiTaskStateChanged(_)
            | Event::LogDetectiveResult(_)
            | Event::TestingFarmResult(_) => Vec::new(),
        }
    }
}

/// The outcome of parsing a well-formed message.
#[derive(Debug, Clone)]
#[expect(
    clippy::large_enum_variant,
    reason = "made once per message and unpacked at once; a box would only add an allocation"
)]
pub enum Parsed {
    Event(Event),
    Ignored(Skip),
}

impl Parsed {
    pub fn into_event(self) -> Option<Event> {
        match self {
            Parsed::Event(event) => Some(event),
            Parsed::Ignored(_) => None,
        }
    }
}

/// Why a message was dropped without being an error.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum Skip {
    /// Not a topic Fedora CI handles, e.g. `buildsys.build.state.change` or PR flags.
    UnhandledTopic { topic: String },
    /// A handled topic name under another deployment's prefix (staging, pagure.io, …).
    OutsideTopicPrefix { topic: String, prefix: String },
    /// Koji tasks are followed only when we submitted them.
    KojiTaskOfOtherOwner { owner: Option<String> },
    /// The message's task info, or its `state`, is missing or null; packit-service drops
    /// these too.
    KojiTaskWithoutState { task_id: KojiTaskId },
    /// Fedora CI runs only for the `rpms` and `tests` namespaces of dist-git.
    NamespaceWithoutCi { namespace: Option<String> },
    /// Our own comments (flags, help texts) are never commands.
    OwnComment { author: String },
    /// Fedora CI only understands Log Detective analyses of Koji and Copr builds.
    UnsupportedBuildSystem { build_system: String },
    /// This instance does not serve that forge (no such forge is configured).
    ForgeNotServed { forge: ForgeKind },
    /// A Forgejo action that asks nothing of CI (labels, assignees, reviews, …).
    IgnoredAction { action: String },
    /// A Forgejo PR edit (title, description, target branch): the head is unchanged.
    EditWithoutNewHead,
    /// A Forgejo comment on an issue, not on a pull request.
    NotAPullRequest,
    /// The pull request's head repository was deleted: its commit cannot be fetched.
    HeadRepositoryGone,
    /// An AGit pull request (`refs/for/…`): its head is only in the target's
    /// `refs/pull/N/head`, which a plain clone does not fetch.
    AgitPullRequest,
}

impl std::fmt::Display for Skip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Skip::UnhandledTopic { topic } => write!(f, "topic {topic} is not handled"),
            Skip::OutsideTopicPrefix { topic, prefix } => {
                write!(f, "topic {topic} is not under our prefix {prefix}")
            }
            Skip::KojiTaskOfOtherOwner { owner: Some(owner) } => {
                write!(f, "Koji task of {owner}, not ours")
            }
            Skip::KojiTaskOfOtherOwner { owner: None } => write!(f, "Koji task without an owner"),
            Skip::KojiTaskWithoutState { task_id } => {
                write!(f, "Koji task {task_id} message has no task info state")
            }
            Skip::NamespaceWithoutCi {
                namespace: Some(namespace),
            } => write!(f, "namespace {namespace} has no Fedora CI"),
            Skip::NamespaceWithoutCi { namespace: None } => {
                write!(f, "project without a namespace has no Fedora CI")
            }
            Skip::OwnComment { author } => write!(f, "comment by our own user {author}"),
            Skip::UnsupportedBuildSystem { build_system } => {
                write!(
                    f,
                    "Log Detective build system {build_system:?} is not supported"
                )
            }
            Skip::ForgeNotServed { forge } => write!(f, "{forge} is not served by this instance"),
            Skip::IgnoredAction { action } => write!(f, "action {action:?} asks nothing of CI"),
            Skip::EditWithoutNewHead => f.write_str("pull request edited, its head unchanged"),
            Skip::NotAPullRequest => f.write_str("comment on an issue, not a pull request"),
            Skip::HeadRepositoryGone => {
                f.write_str("the pull request's head repository no longer exists")
            }
            Skip::AgitPullRequest => {
                f.write_str("AGit pull request: its head is not in a repository to build from")
            }
        }
    }
}

/// The body of a message on `topic` as it may be stored and shown: Forgejo messages lose the
/// webhook's request headers (its credentials among them); other bodies are kept whole.
pub fn storable_body<'b>(topic: &str, body: &'b [u8]) -> std::borrow::Cow<'b, [u8]> {
    match Topic::from_full_topic(topic).and_then(Topic::forge) {
        Some(ForgeKind::Forgejo) => std::borrow::Cow::Owned(forgejo::scrub(body)),
        Some(ForgeKind::Pagure) | None => std::borrow::Cow::Borrowed(body),
    }
}

/// Parses a message body received on `topic`; `Ok(None)` when it is not for Fedora CI.
///
/// Use [`parse_with_reason`] to learn why a message was ignored.
pub fn parse(topic: &str, body: &[u8]) -> Result<Option<Event>, ParseError> {
    parse_with_reason(topic, body).map(Parsed::into_event)
}

/// Parses a message body received on `topic`, keeping the reason when it is ignored.
///
/// `topic` may carry any prefix (`org.fedoraproject.prod.`, `org.fedoraproject.stg.`, or
/// none): it is matched by the topic name it ends with. Which prefix is ours is
/// [`prefilter`]'s job.
pub fn parse_with_reason(topic: &str, body: &[u8]) -> Result<Parsed, ParseError> {
    let Some(handled) = Topic::from_full_topic(topic) else {
        return Ok(Parsed::Ignored(Skip::UnhandledTopic {
            topic: topic.to_owned(),
        }));
    };
    match handled {
        Topic::PullRequestNew => pagure::parse_opened(topic, body),
        Topic::PullRequestUpdated => pagure::parse_synchronized(SyncKind::NewCommits, topic, body),
        Topic::PullRequestRebased => pagure::parse_synchronized(SyncKind::Rebased, topic, body),
        Topic::PullRequestCommentAdded => pagure::parse_comment_added(topic, body),
        Topic::PullRequestClosed => pagure::parse_closed(topic, body),
        Topic::KojiTaskStateChange => koji::parse(topic, body),
        Topic::LogDetectiveAnalysis => logdetective::parse(topic, body),
        Topic::TestingFarmResults => testing_farm::parse(topic, body),
        Topic::ForgejoPullRequest => forgejo::parse_pull_request(topic, body),
        Topic::ForgejoIssueComment => forgejo::parse_issue_comment(topic, body),
    }
}

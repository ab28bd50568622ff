//! The topics Fedora CI handles.

use super::ForgeKind;

/// Topic under which Testing Farm webhook bodies are parsed; it never appears on the bus.
///
/// Named after packit-service's `Parser.MAPPING["testing-farm"]["results"]`.
pub const TESTING_FARM_RESULTS_TOPIC: &str = "testing-farm.results";

/// A handled topic, named without its `<organisation>.<environment>.` prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Topic {
    PullRequestNew,
    PullRequestUpdated,
    PullRequestRebased,
    PullRequestCommentAdded,
    PullRequestClosed,
    KojiTaskStateChange,
    LogDetectiveAnalysis,
    TestingFarmResults,
    /// Forgejo's `pull_request` webhook as webhook-to-fedora-messaging publishes it.
    ForgejoPullRequest,
    /// Forgejo's `issue_comment` webhook (issues and pull requests alike).
    ForgejoIssueComment,
}

impl Topic {
    pub const ALL: [Topic; 10] = [
        Topic::PullRequestNew,
        Topic::PullRequestUpdated,
        Topic::PullRequestRebased,
        Topic::PullRequestCommentAdded,
        Topic::PullRequestClosed,
        Topic::KojiTaskStateChange,
        Topic::LogDetectiveAnalysis,
        Topic::TestingFarmResults,
        Topic::ForgejoPullRequest,
        Topic::ForgejoIssueComment,
    ];

    /// The topic as its publisher names it, e.g. `pagure.pull-request.new`.
    pub fn name(self) -> &'static str {
        match self {
            Topic::PullRequestNew => "pagure.pull-request.new",
            Topic::PullRequestUpdated => "pagure.pull-request.updated",
            Topic::PullRequestRebased => "pagure.pull-request.rebased",
            Topic::PullRequestCommentAdded => "pagure.pull-request.comment.added",
            Topic::PullRequestClosed => "pagure.pull-request.closed",
            Topic::KojiTaskStateChange => "buildsys.task.state.change",
            Topic::LogDetectiveAnalysis => "logdetective.analysis",
            Topic::TestingFarmResults => TESTING_FARM_RESULTS_TOPIC,
            Topic::ForgejoPullRequest => "forgejo.pull_request",
            Topic::ForgejoIssueComment => "forgejo.issue_comment",
        }
    }

    /// The forge whose events the topic carries; `None` for Koji, Log Detective and Testing
    /// Farm, which serve every forge.
    pub fn forge(self) -> Option<ForgeKind> {
        match self {
            Topic::PullRequestNew
            | Topic::PullRequestUpdated
            | Topic::PullRequestRebased
            | Topic::PullRequestCommentAdded
            | Topic::PullRequestClosed => Some(ForgeKind::Pagure),
            Topic::ForgejoPullRequest | Topic::ForgejoIssueComment => Some(ForgeKind::Forgejo),
            Topic::KojiTaskStateChange
            | Topic::LogDetectiveAnalysis
            | Topic::TestingFarmResults => None,
        }
    }

    /// The topic named exactly `name`, without any prefix.
    pub fn from_name(name: &str) -> Option<Topic> {
        Topic::ALL.into_iter().find(|topic| topic.name() == name)
    }

    /// The topic that `full_topic` ends with, after any prefix.
    ///
    /// The prefix is not checked: `org.fedoraproject.prod.`, `org.fedoraproject.stg.` and none
    /// at all are all accepted here; telling our deployment's prefix apart is
    /// [`prefilter`](super::prefilter)'s job.
    pub fn from_full_topic(full_topic: &str) -> Option<Topic> {
        Topic::ALL.into_iter().find(|topic| {
            full_topic
                .strip_suffix(topic.name())
                .is_some_and(|prefix| prefix.is_empty() || prefix.ends_with('.'))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_prefix_matches_on_a_dot_boundary() {
        for full in [
            "org.fedoraproject.prod.pagure.pull-request.new",
            "org.fedoraproject.stg.pagure.pull-request.new",
            "pagure.pull-request.new",
        ] {
            assert_eq!(
                Topic::from_full_topic(full),
                Some(Topic::PullRequestNew),
                "{full}"
            );
        }
        assert_eq!(Topic::from_full_topic("xpagure.pull-request.new"), None);
    }

    #[test]
    fn unhandled_topics_do_not_match() {
        for full in [
            "org.fedoraproject.prod.buildsys.build.state.change",
            "org.fedoraproject.prod.pagure.pull-request.flag.updated",
            "org.fedoraproject.prod.pagure.pull-request.comment.edited",
            "",
        ] {
            assert_eq!(Topic::from_full_topic(full), None, "{full}");
        }
    }

    #[test]
    fn names_round_trip() {
        for topic in Topic::ALL {
            assert_eq!(Topic::from_name(topic.name()), Some(topic));
        }
    }

    #[test]
    fn forgejo_topics_match_whole_names_only() {
        assert_eq!(
            Topic::from_full_topic("org.fedoraproject.prod.forgejo.pull_request"),
            Some(Topic::ForgejoPullRequest)
        );
        for other in [
            "org.fedoraproject.prod.forgejo.pull_request_comment",
            "org.fedoraproject.prod.forgejo.pull_request_sync",
            "org.fedoraproject.prod.xforgejo.issue_comment",
        ] {
            assert_eq!(Topic::from_full_topic(other), None, "{other}");
        }
        assert_eq!(Topic::ForgejoIssueComment.forge(), Some(ForgeKind::Forgejo));
        assert_eq!(Topic::PullRequestNew.forge(), Some(ForgeKind::Pagure));
        assert_eq!(Topic::KojiTaskStateChange.forge(), None);
    }
}

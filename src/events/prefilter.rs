//! The listener's first, cheap look at a message: is it worth parsing and storing?
//!
//! Most of the bus is not for us: other deployments' topics, other people's Koji tasks, PRs
//! in namespaces without Fedora CI. This drops them before any database work, reading only
//! the one or two fields that decide, borrowed from the body.

use super::{ForgeKind, Skip, Topic, forgejo, koji, pagure};

/// Fedora CI runs for these dist-git namespaces only.
const CI_NAMESPACES: [&str; 2] = ["rpms", "tests"];

/// Who we are on the bus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// Our deployment's topic prefix, e.g. `org.fedoraproject.prod` (a final dot is allowed).
    pub topic_prefix: String,
    /// Koji users whose tasks we follow: the user our scratch builds are submitted as.
    pub koji_owners: Vec<String>,
    /// FAS users whose pull-request comments are our own, never commands.
    pub fas_users: Vec<String>,
    /// The dist-git web root (`https://src.fedoraproject.org`) every project URL of a message
    /// must be under; `None` checks nothing (tools reading messages outside a deployment).
    pub dist_git_url: Option<String>,
    /// The Forgejo dist-git this instance serves, if any; without one, Forgejo messages are
    /// not for us.
    pub forgejo: Option<ServedForgejo>,
}

/// A Forgejo dist-git this instance serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServedForgejo {
    /// Its web root (`https://forge.fedoraproject.org`): every repository URL of a message,
    /// web or git, must be under it.
    pub web_url: String,
    /// Forgejo logins whose comments are our own, never commands.
    pub own_logins: Vec<String>,
}

impl Identity {
    /// The usual setup: one FAS user, which is also the Kerberos principal that owns our
    /// Koji tasks.
    pub fn new(topic_prefix: impl Into<String>, fas_user: impl Into<String>) -> Identity {
        let fas_user = fas_user.into();
        Identity {
            topic_prefix: topic_prefix.into(),
            koji_owners: vec![fas_user.clone()],
            fas_users: vec![fas_user],
            dist_git_url: None,
            forgejo: None,
        }
    }

    /// The same, also serving a Forgejo dist-git.
    pub fn serving_forgejo(mut self, forgejo: ServedForgejo) -> Identity {
        self.forgejo = Some(forgejo);
        self
    }

    /// The same, checking that project URLs are under `dist_git_url`.
    pub fn serving(mut self, dist_git_url: impl Into<String>) -> Identity {
        self.dist_git_url = Some(dist_git_url.into());
        self
    }

    /// Why `url`, named by an event of `forge`, is not under the dist-git we serve on that
    /// forge, if it is not. The URL's shape was checked by the parser (no userinfo, no `..`),
    /// so a prefix is enough.
    pub fn foreign_url(&self, forge: ForgeKind, url: &str) -> Option<String> {
        let base = match forge {
            ForgeKind::Pagure => self.dist_git_url.as_deref()?,
            ForgeKind::Forgejo => match &self.forgejo {
                Some(served) => served.web_url.as_str(),
                None => return Some(format!("{forge} is not served by this instance")),
            },
        };
        let base = base.trim_end_matches('/');
        let under = url
            .strip_prefix(base)
            .is_some_and(|rest| rest.starts_with('/'));
        (!under).then(|| {
            format!("{url:?} is not under the {forge} dist-git this service serves ({base})")
        })
    }

    /// The topic name after our prefix, or `None` when the topic is not under it.
    fn topic_name<'t>(&self, topic: &'t str) -> Option<&'t str> {
        let prefix = self.topic_prefix.trim_end_matches('.');
        topic.strip_prefix(prefix)?.strip_prefix('.')
    }

    fn owns_koji_task(&self, owner: &str) -> bool {
        self.koji_owners.iter().any(|ours| ours == owner)
    }

    fn is_us_on_pagure(&self, user: &str) -> bool {
        self.fas_users.iter().any(|ours| ours == user)
    }
}

/// Whether a message deserves the full [`parse`](super::parse).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Relevance {
    Relevant,
    Irrelevant(Skip),
}

/// Decides from the topic and at most two body fields whether a message can concern us.
///
/// A body too broken to read those fields is `Relevant`: the full parse then reports
/// exactly what is wrong with it.
pub fn prefilter(topic: &str, body: &[u8], identity: &Identity) -> Relevance {
    let Some(name) = identity.topic_name(topic) else {
        return Relevance::Irrelevant(Skip::OutsideTopicPrefix {
            topic: topic.to_owned(),
            prefix: identity.topic_prefix.clone(),
        });
    };
    let Some(handled) = Topic::from_name(name) else {
        return Relevance::Irrelevant(Skip::UnhandledTopic {
            topic: topic.to_owned(),
        });
    };
    match handled {
        Topic::PullRequestNew
        | Topic::PullRequestUpdated
        | Topic::PullRequestRebased
        | Topic::PullRequestClosed => pull_request_relevance(body),
        Topic::PullRequestCommentAdded => comment_relevance(body, identity),
        Topic::KojiTaskStateChange => koji_task_relevance(body, identity),
        Topic::LogDetectiveAnalysis | Topic::TestingFarmResults => Relevance::Relevant,
        Topic::ForgejoPullRequest | Topic::ForgejoIssueComment => forgejo_relevance(body, identity),
    }
}

/// A Forgejo message is for us when we serve Forgejo, its repository's owner is a CI
/// namespace, and, for a comment, it is not our own.
fn forgejo_relevance(body: &[u8], identity: &Identity) -> Relevance {
    let Some(served) = &identity.forgejo else {
        return Relevance::Irrelevant(Skip::ForgeNotServed {
            forge: ForgeKind::Forgejo,
        });
    };
    let Some(peek) = forgejo::peek(body) else {
        return Relevance::Relevant;
    };
    if let Some(author) = peek.commenter()
        && served.own_logins.iter().any(|ours| ours == author)
    {
        return Relevance::Irrelevant(Skip::OwnComment {
            author: author.to_owned(),
        });
    }
    match peek.owner() {
        Some(owner) if !CI_NAMESPACES.contains(&owner) => {
            Relevance::Irrelevant(Skip::NamespaceWithoutCi {
                namespace: Some(owner.to_owned()),
            })
        }
        _ => Relevance::Relevant,
    }
}

fn pull_request_relevance(body: &[u8]) -> Relevance {
    match pagure::peek(body) {
        Some(peek) => namespace_relevance(&peek),
        None => Relevance::Relevant,
    }
}

fn comment_relevance(body: &[u8], identity: &Identity) -> Relevance {
    let Some(peek) = pagure::peek(body) else {
        return Relevance::Relevant;
    };
    if let Some(author) = peek.agent.as_deref()
        && identity.is_us_on_pagure(author)
    {
        return Relevance::Irrelevant(Skip::OwnComment {
            author: author.to_owned(),
        });
    }
    namespace_relevance(&peek)
}

fn namespace_relevance(peek: &pagure::Peek<'_>) -> Relevance {
    match peek.namespace() {
        Some(namespace) if !namespace.is_some_and(|name| CI_NAMESPACES.contains(&name)) => {
            Relevance::Irrelevant(Skip::NamespaceWithoutCi {
                namespace: namespace.map(str::to_owned),
            })
        }
        _ => Relevance::Relevant,
    }
}

fn koji_task_relevance(body: &[u8], identity: &Identity) -> Relevance {
    let Some(peek) = koji::peek(body) else {
        return Relevance::Relevant;
    };
    match peek.owner.as_deref() {
        Some(owner) if identity.owns_koji_task(owner) => Relevance::Relevant,
        owner => Relevance::Irrelevant(Skip::KojiTaskOfOtherOwner {
            owner: owner.map(str::to_owned),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity() -> Identity {
        Identity::new("org.fedoraproject.prod", "packit")
    }

    fn koji_body(owner: &str) -> Vec<u8> {
        format!(r#"{{"id": 1, "owner": {owner}, "info": {{"children": []}}}}"#).into_bytes()
    }

    #[test]
    fn koji_tasks_are_relevant_only_when_ours() {
        let topic = "org.fedoraproject.prod.buildsys.task.state.change";
        assert_eq!(
            prefilter(topic, &koji_body(r#""packit""#), &identity()),
            Relevance::Relevant
        );
        assert_eq!(
            prefilter(topic, &koji_body(r#""koschei""#), &identity()),
            Relevance::Irrelevant(Skip::KojiTaskOfOtherOwner {
                owner: Some("koschei".to_owned())
            })
        );
        assert_eq!(
            prefilter(topic, &koji_body("null"), &identity()),
            Relevance::Irrelevant(Skip::KojiTaskOfOtherOwner { owner: None })
        );
    }

    #[test]
    fn escaped_owner_names_are_compared_unescaped() {
        let topic = "org.fedoraproject.prod.buildsys.task.state.change";
        assert_eq!(
            prefilter(topic, &koji_body(r#""pack\u0069t""#), &identity()),
            Relevance::Relevant
        );
    }

    #[test]
    fn other_prefixes_are_dropped_even_for_handled_topics() {
        let relevance = prefilter(
            "org.fedoraproject.stg.pagure.pull-request.new",
            b"{}",
            &identity(),
        );
        assert!(
            matches!(
                relevance,
                Relevance::Irrelevant(Skip::OutsideTopicPrefix { .. })
            ),
            "{relevance:?}"
        );
    }

    #[test]
    fn prefix_may_end_with_a_dot() {
        let identity = Identity::new("org.fedoraproject.prod.", "packit");
        assert_eq!(
            prefilter(
                "org.fedoraproject.prod.logdetective.analysis",
                b"{}",
                &identity
            ),
            Relevance::Relevant
        );
    }

    #[test]
    fn unreadable_bodies_are_left_to_the_parser() {
        let topic = "org.fedoraproject.prod.pagure.pull-request.comment.added";
        assert_eq!(
            prefilter(topic, b"not json", &identity()),
            Relevance::Relevant
        );
    }
}

//! Forgejo messages for tests: the real webhook-to-fedora-messaging fixtures
//! (`tests/fixtures/forgejo/`), moved to repositories of a fake Forgejo at `web_url`.

use serde_json::{Value as Json, json};

pub const PR_TOPIC: &str = "org.fedoraproject.prod.forgejo.pull_request";
pub const COMMENT_TOPIC: &str = "org.fedoraproject.prod.forgejo.issue_comment";

/// Where a test pull request lives and what it says.
pub struct PullRequest<'a> {
    pub web_url: &'a str,
    /// `owner/name` of the target repository.
    pub target: &'a str,
    /// `owner/name` of the repository the head commit is in.
    pub source: &'a str,
    pub number: u64,
    pub head: &'a str,
    pub title: &'a str,
    pub target_branch: &'a str,
}

/// A fixture as packit's consumer stored it, without the keys it added (`topic`, `id`, …):
/// the W2FM body `{body, headers, agent}`.
fn fixture(name: &str) -> Json {
    let path = format!(
        "{}/tests/fixtures/forgejo/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{path}: {error}"));
    let mut message: Json =
        serde_json::from_str(&text).unwrap_or_else(|error| panic!("{path}: {error}"));
    if let Some(fields) = message.as_object_mut() {
        for key in ["topic", "id", "priority", "queue"] {
            fields.remove(key);
        }
    }
    message
}

/// A repository as Forgejo's webhooks describe it.
pub fn repository(web_url: &str, full_name: &str) -> Json {
    let (owner, name) = full_name.split_once('/').unwrap_or_default();
    let html_url = format!("{web_url}/{full_name}");
    json!({"name": name, "owner": {"login": owner}, "html_url": html_url,
           "clone_url": format!("{html_url}.git"), "full_name": full_name})
}

/// The `pull_request` object of the real synchronized fixture, as `pr` says.
pub fn pull_request(pr: &PullRequest<'_>) -> Json {
    let mut pull =
        fixture("forgejo.pull_request.synchronized.fork.json")["body"]["pull_request"].clone();
    pull["number"] = json!(pr.number);
    pull["title"] = json!(pr.title);
    pull["html_url"] = json!(format!("{}/{}/pulls/{}", pr.web_url, pr.target, pr.number));
    pull["base"]["ref"] = json!(pr.target_branch);
    pull["base"]["repo"] = repository(pr.web_url, pr.target);
    pull["head"]["sha"] = json!(pr.head);
    pull["head"]["repo"] = repository(pr.web_url, pr.source);
    pull
}

/// A `forgejo.pull_request` message (`opened`, `synchronized`, `edited`, …) sent by `sender`.
pub fn pull_request_message(pr: &PullRequest<'_>, action: &str, sender: &str) -> Json {
    let mut message = fixture("forgejo.pull_request.synchronized.fork.json");
    let body = &mut message["body"];
    body["action"] = json!(action);
    body["number"] = json!(pr.number);
    body["repository"] = repository(pr.web_url, pr.target);
    body["sender"]["login"] = json!(sender);
    body["pull_request"] = pull_request(pr);
    message
}

/// A `forgejo.issue_comment` message: comment `id` by `author` on the pull request.
pub fn comment_message(pr: &PullRequest<'_>, id: u64, author: &str, text: &str) -> Json {
    let mut message = fixture("forgejo.issue_comment.on-pull-request.json");
    let body = &mut message["body"];
    body["repository"] = repository(pr.web_url, pr.target);
    body["pull_request"] = pull_request(pr);
    body["comment"]["id"] = json!(id);
    body["comment"]["body"] = json!(text);
    body["comment"]["user"]["login"] = json!(author);
    message
}

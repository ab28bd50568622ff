//! `events` on real messages: every message file of the shared fixtures is snapshotted, and
//! the fields Fedora CI depends on are checked against the fixture's own JSON.

// Helpers here fail the test on purpose when a fixture is not what it should be.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use fedora_ci::events::envelope::{self, Form, StoredMessage};
use fedora_ci::events::{
    Event, ForgeKind, Identity, KojiTaskState, Parsed, PullRequest, Relevance, ServedForgejo, Skip,
    SyncKind, TESTING_FARM_RESULTS_TOPIC, parse, parse_with_reason, prefilter,
};
use secrecy::ExposeSecret;
use serde_json::{Value, json};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
const KOJI_TASK_TOPIC: &str = "org.fedoraproject.prod.buildsys.task.state.change";
const FORGEJO_PR_TOPIC: &str = "org.fedoraproject.prod.forgejo.pull_request";
const FORGEJO_COMMENT_TOPIC: &str = "org.fedoraproject.prod.forgejo.issue_comment";

/// Every message file, with the topic to use when the file names none.
const MESSAGE_FIXTURES: &[(&str, Option<&str>)] = &[
    ("forgejo/forgejo.pull_request.synchronized.fork.json", None),
    ("forgejo/forgejo.issue_comment.on-pull-request.json", None),
    ("forgejo/forgejo.issue_comment.on-issue.json", None),
    ("forgejo/forgejo.push.branch.json", None),
    ("forgejo/forgejo.action_run_success.pull_request.json", None),
    (
        "forgejo/webhook.pull_request.opened.same-repo.codeberg.json",
        Some(FORGEJO_PR_TOPIC),
    ),
    ("packit-service/pagure_pr_new.json", None),
    ("packit-service/pagure_pr_new_no_fork.json", None),
    ("packit-service/pagure_pr_updated.json", None),
    ("packit-service/pagure_pr_rebased.json", None),
    ("packit-service/pagure_pr_comment.json", None),
    ("packit-service/pagure_pr_flag_updated.json", None),
    ("packit-service/koji_build_scratch_start.json", None),
    ("packit-service/koji_build_scratch_end.json", None),
    ("packit-service/koji_build_start_rawhide.json", None),
    ("packit-service/koji_build_completed_rawhide.json", None),
    ("packit-service/logdetective_analysis_result.json", None),
    (
        "packit-service/logdetective_analysis_result_error.json",
        None,
    ),
    (
        "packit-service/notification.json",
        Some(TESTING_FARM_RESULTS_TOPIC),
    ),
    // packit-service keeps these Testing Farm API responses next to the webhook body; they
    // are not notifications and must be rejected as such.
    (
        "packit-service/results.json",
        Some(TESTING_FARM_RESULTS_TOPIC),
    ),
    (
        "packit-service/results_error.json",
        Some(TESTING_FARM_RESULTS_TOPIC),
    ),
    (
        "protocols/fedora-messaging/pagure.pull-request.new.json",
        None,
    ),
    (
        "protocols/fedora-messaging/pagure.pull-request.updated.json",
        None,
    ),
    (
        "protocols/fedora-messaging/pagure.pull-request.rebased.json",
        None,
    ),
    (
        "protocols/fedora-messaging/pagure.pull-request.comment.added.json",
        None,
    ),
    (
        "protocols/fedora-messaging/buildsys.task.state.change.free-to-open.json",
        None,
    ),
    (
        "protocols/fedora-messaging/buildsys.task.state.change.open-to-closed.json",
        None,
    ),
    (
        "protocols/fedora-messaging/buildsys.task.state.change.open-to-closed.v1-schema-example.json",
        Some(KOJI_TASK_TOPIC),
    ),
    (
        "protocols/fedora-messaging/buildsys.build.state.change.building.serialized.json",
        None,
    ),
    (
        "protocols/fedora-messaging/buildsys.build.state.change.complete.serialized.json",
        None,
    ),
    (
        "protocols/fedora-messaging/fedora-messaging.serialized-dump.jsonl",
        None,
    ),
    (
        "protocols/testing-farm/notification.webhook.json",
        Some(TESTING_FARM_RESULTS_TOPIC),
    ),
    (
        "protocols/testing-farm/request.get.complete.passed.fedora-koji-build.json",
        Some(TESTING_FARM_RESULTS_TOPIC),
    ),
    (
        "protocols/testing-farm/request.get.complete.passed.legacy-inline-xunit.json",
        Some(TESTING_FARM_RESULTS_TOPIC),
    ),
];

/// Fixture folders and files that hold no messages: API responses, recorded hub calls, docs.
const NOT_MESSAGES: &[&str] = &[
    "protocols/koji/",
    "protocols/pagure/",
    "protocols/testing-farm/results.xunit.xml",
    "packit-service/SOURCES.md",
    "forgejo/SOURCES.md",
    "forgejo/api/",
    "protocols/SOURCES.md",
    "SOURCES.md",
];

fn identity() -> Identity {
    Identity::new("org.fedoraproject.prod", "packit")
}

/// Also serving forge.fedoraproject.org, where our bot is `fedora-ci`.
fn forgejo_identity() -> Identity {
    identity()
        .serving("https://src.fedoraproject.org")
        .serving_forgejo(ServedForgejo {
            web_url: "https://forge.fedoraproject.org".to_owned(),
            own_logins: vec!["fedora-ci".to_owned()],
        })
}

fn read_fixture(relative: &str) -> Vec<u8> {
    let path = Path::new(FIXTURES).join(relative);
    std::fs::read(&path).unwrap_or_else(|error| panic!("reading {}: {error}", path.display()))
}

fn fixture_json(relative: &str) -> Value {
    serde_json::from_slice(&read_fixture(relative)).unwrap()
}

fn only_message(relative: &str, default_topic: Option<&str>) -> StoredMessage {
    let mut messages = envelope::decode(&read_fixture(relative), default_topic).unwrap();
    assert_eq!(messages.len(), 1, "{relative}");
    messages.remove(0)
}

fn event_of(relative: &str) -> Event {
    let message = only_message(relative, None);
    parse(&message.topic, &message.body)
        .unwrap()
        .unwrap_or_else(|| panic!("{relative} was ignored"))
}

/// Parses a body built in the test, usually a fixture with one field changed.
fn parse_value(topic: &str, body: &Value) -> Result<Parsed, String> {
    parse_with_reason(topic, body.to_string().as_bytes()).map_err(|error| error.to_string())
}

// ---------------------------------------------------------------------------------------
// Snapshots of every message file

fn describe(message: &StoredMessage) -> String {
    let parsed = match parse_with_reason(&message.topic, &message.body) {
        Ok(Parsed::Event(event)) => format!("{event:#?}"),
        Ok(Parsed::Ignored(skip)) => format!("ignored: {skip}"),
        Err(error) => format!("rejected: {error}"),
    };
    let relevance = match prefilter(&message.topic, &message.body, &forgejo_identity()) {
        Relevance::Relevant => "relevant".to_owned(),
        Relevance::Irrelevant(skip) => format!("irrelevant: {skip}"),
    };
    format!(
        "topic: {}\nid: {:?}\nform: {:?}\nheaders: {:?}\nprefilter: {relevance}\nparse: {parsed}",
        message.topic, message.id, message.form, message.headers
    )
}

#[test]
fn every_message_fixture_matches_its_snapshot() {
    for (relative, default_topic) in MESSAGE_FIXTURES {
        let messages = envelope::decode(&read_fixture(relative), *default_topic)
            .unwrap_or_else(|error| panic!("{relative}: {error}"));
        let description: Vec<String> = messages.iter().map(describe).collect();
        let name = relative.replace(['/', '.'], "_");
        insta::with_settings!({ description => *relative, omit_expression => true }, {
            insta::assert_snapshot!(name, description.join("\n---\n"));
        });
    }
}

#[test]
fn every_fixture_file_is_either_a_message_or_known_not_to_be_one() {
    let mut unclassified = Vec::new();
    for path in files_below(Path::new(FIXTURES)) {
        let relative = path
            .strip_prefix(FIXTURES)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let is_message = MESSAGE_FIXTURES.iter().any(|(file, _)| *file == relative);
        let is_known_other = NOT_MESSAGES.iter().any(|other| relative.starts_with(other));
        if !is_message && !is_known_other {
            unclassified.push(relative);
        }
    }
    assert!(
        unclassified.is_empty(),
        "add these fixtures to MESSAGE_FIXTURES or NOT_MESSAGES: {unclassified:?}"
    );
}

fn files_below(directory: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(directory).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(files_below(&path));
        } else {
            files.push(path);
        }
    }
    files
}

// ---------------------------------------------------------------------------------------
// Pagure pull requests

fn opened(relative: &str) -> PullRequest {
    match event_of(relative) {
        Event::PullRequestOpened(pull_request) => pull_request,
        other => panic!("{relative}: {other:?}"),
    }
}

fn assert_target_fields(pull_request: &PullRequest, fixture: &Value) {
    let pr = &fixture["pullrequest"];
    assert_eq!(pull_request.id.get(), pr["id"].as_u64().unwrap());
    assert_eq!(pull_request.actor, fixture["agent"]);
    assert_eq!(pull_request.head_commit.as_str(), pr["commit_stop"]);
    assert_eq!(pull_request.target_branch, pr["branch"]);
    assert_eq!(pull_request.target_repo.url, pr["project"]["full_url"]);
    assert_eq!(pull_request.target_repo.name, pr["project"]["name"]);
    assert_eq!(
        pull_request.target_repo.namespace.as_deref(),
        pr["project"]["namespace"].as_str()
    );
}

#[test]
fn fork_pull_request_builds_from_the_fork() {
    let relative = "packit-service/pagure_pr_new.json";
    let fixture = fixture_json(relative);
    let pull_request = opened(relative);
    assert_target_fields(&pull_request, &fixture);
    let repo_from = &fixture["pullrequest"]["repo_from"];
    assert_eq!(pull_request.source.url, repo_from["full_url"]);
    assert_eq!(pull_request.source.owner, repo_from["user"]["name"]);
    assert_eq!(pull_request.source.repo_name, repo_from["name"]);
    assert_ne!(pull_request.source.url, pull_request.target_repo.url);
    assert_eq!(
        pull_request.source.clone_url,
        "https://src.fedoraproject.org/forks/zbyszek/rpms/optee_os.git"
    );
    assert_eq!(pull_request.forge, ForgeKind::Pagure);
    assert!(pull_request.is_from_fork());
}

#[test]
fn same_repository_pull_request_builds_from_the_project() {
    let relative = "packit-service/pagure_pr_new_no_fork.json";
    let fixture = fixture_json(relative);
    let pull_request = opened(relative);
    assert_target_fields(&pull_request, &fixture);
    assert_eq!(
        pull_request.source.url,
        fixture["pullrequest"]["project"]["full_url"]
    );
    assert!(!pull_request.is_from_fork());
}

#[test]
fn pull_request_without_repo_from_falls_back_to_agent_and_project() {
    let mut body = fixture_json("packit-service/pagure_pr_new.json");
    body["pullrequest"]["repo_from"] = Value::Null;
    let Ok(Parsed::Event(Event::PullRequestOpened(pull_request))) =
        parse_value("org.fedoraproject.prod.pagure.pull-request.new", &body)
    else {
        panic!("not an opened PR");
    };
    let project = &body["pullrequest"]["project"];
    assert_eq!(pull_request.source.owner, body["agent"]);
    assert_eq!(pull_request.source.url, project["full_url"]);
    assert_eq!(pull_request.source.repo_name, project["name"]);
    assert!(!pull_request.is_from_fork());
}

#[test]
fn updated_and_rebased_are_synchronizations() {
    for (relative, expected_kind) in [
        (
            "packit-service/pagure_pr_updated.json",
            SyncKind::NewCommits,
        ),
        ("packit-service/pagure_pr_rebased.json", SyncKind::Rebased),
    ] {
        let Event::PullRequestSynchronized { pull_request, kind } = event_of(relative) else {
            panic!("{relative} is not a synchronization");
        };
        assert_eq!(kind, expected_kind, "{relative}");
        assert_target_fields(&pull_request, &fixture_json(relative));
    }
}

#[test]
fn comment_carries_the_last_comment() {
    let relative = "packit-service/pagure_pr_comment.json";
    let fixture = fixture_json(relative);
    let Event::PullRequestComment(comment) = event_of(relative) else {
        panic!("not a comment");
    };
    let last = fixture["pullrequest"]["comments"]
        .as_array()
        .unwrap()
        .last()
        .unwrap();
    assert_eq!(comment.text, last["comment"]);
    assert_eq!(comment.comment_id.get(), last["id"].as_u64().unwrap());
    assert_target_fields(&comment.pull_request, &fixture);
}

#[test]
fn comment_with_several_comments_takes_the_newest() {
    let mut body = fixture_json("packit-service/pagure_pr_comment.json");
    let first = body["pullrequest"]["comments"][0].clone();
    let mut newer = first.clone();
    newer["id"] = json!(first["id"].as_u64().unwrap() + 1);
    newer["comment"] = json!("/packit-ci test rpmlint");
    body["pullrequest"]["comments"] = json!([first, newer]);
    let Ok(Parsed::Event(Event::PullRequestComment(comment))) = parse_value(
        "org.fedoraproject.prod.pagure.pull-request.comment.added",
        &body,
    ) else {
        panic!("not a comment");
    };
    assert_eq!(comment.text, "/packit-ci test rpmlint");
    assert_eq!(comment.comment_id.get(), newer["id"].as_u64().unwrap());
}

#[test]
fn closed_pull_request_says_whether_it_was_merged() {
    let mut body = fixture_json("protocols/fedora-messaging/pagure.pull-request.new.json");
    body.as_object_mut().unwrap().remove("topic");
    for merged in [true, false] {
        body["merged"] = json!(merged);
        let Ok(Parsed::Event(Event::PullRequestClosed(closed))) =
            parse_value("org.fedoraproject.prod.pagure.pull-request.closed", &body)
        else {
            panic!("not a closed PR");
        };
        assert_eq!(closed.merged, merged);
        assert_eq!(closed.id.get(), body["pullrequest"]["id"].as_u64().unwrap());
        assert_eq!(
            closed.target_repo.url,
            body["pullrequest"]["project"]["full_url"]
        );
    }
}

#[test]
fn broken_pull_request_bodies_name_the_field() {
    let topic = "org.fedoraproject.prod.pagure.pull-request.new";
    let fixture = fixture_json("packit-service/pagure_pr_new.json");
    type BreakBody = fn(&mut Value);
    let cases: [(&str, BreakBody); 5] = [
        ("pullrequest.project.full_url", |body| {
            body["pullrequest"]["project"]
                .as_object_mut()
                .unwrap()
                .remove("full_url");
        }),
        ("pullrequest.commit_stop", |body| {
            body["pullrequest"]["commit_stop"] = Value::Null;
        }),
        ("pullrequest.commit_stop", |body| {
            body["pullrequest"]["commit_stop"] = json!("889f07a");
        }),
        ("pullrequest.id", |body| {
            body["pullrequest"]["id"] = json!("two");
        }),
        ("agent", |body| {
            body.as_object_mut().unwrap().remove("agent");
        }),
    ];
    for (field, break_body) in cases {
        let mut body = fixture.clone();
        break_body(&mut body);
        let error = parse_value(topic, &body).unwrap_err();
        assert!(
            error.contains(&format!("field `{field}`")),
            "{field}: {error}"
        );
    }
}

/// Identifiers and URLs an attacker able to publish a message could choose: each is refused
/// by the parser, naming the field, so that it never reaches a database row, a Pagure API
/// path or a Koji source URL.
#[test]
fn hostile_identifiers_urls_and_names_are_rejected_naming_the_field() {
    let topic = "org.fedoraproject.prod.pagure.pull-request.new";
    let fixture = fixture_json("packit-service/pagure_pr_new.json");
    let cases: &[(&str, &str, Value)] = &[
        // 2^31 would be cut to another PR's row by a 32-bit column.
        ("pullrequest.id", "id", json!(2_147_483_648u64)),
        ("pullrequest.id", "id", json!(4_294_967_298u64)),
        ("pullrequest.id", "id", json!(0)),
        (
            "pullrequest.repo_from.full_url",
            "repo_from.full_url",
            json!("https://evil.example/fork/zbyszek/rpms/optee_os"),
        ),
        (
            "pullrequest.repo_from.full_url",
            "repo_from.full_url",
            json!("https://src.fedoraproject.org@evil.example/fork/zbyszek/rpms/optee_os"),
        ),
        (
            "pullrequest.repo_from.full_url",
            "repo_from.full_url",
            json!("https://src.fedoraproject.org/fork/zbyszek/rpms/../../evil"),
        ),
        (
            "pullrequest.repo_from.full_url",
            "repo_from.full_url",
            json!("https://src.fedoraproject.org/fork/zbyszek/rpms/optee_os?x=1"),
        ),
        (
            "pullrequest.repo_from.full_url",
            "repo_from.full_url",
            json!("git+ssh://src.fedoraproject.org/fork/zbyszek/rpms/optee_os"),
        ),
        (
            "pullrequest.repo_from.full_url",
            "repo_from.full_url",
            json!("https://src.fedoraproject.org/fork/mallory/rpms/optee_os"),
        ),
        (
            "pullrequest.project.full_url",
            "project.full_url",
            json!("https://src.fedoraproject.org/rpms/../../evil"),
        ),
        (
            "pullrequest.project.full_url",
            "project.full_url",
            json!("https://src.fedoraproject.org/rpms/another_package"),
        ),
        ("pullrequest.project.name", "project.name", json!("..")),
        (
            "pullrequest.project.name",
            "project.name",
            json!("optee_os?x=1"),
        ),
        ("pullrequest.project.name", "project.name", json!("a/b")),
        (
            "pullrequest.project.namespace",
            "project.namespace",
            json!("../rpms"),
        ),
        ("pullrequest.branch", "branch", json!("../../f42")),
        ("pullrequest.branch", "branch", json!("f42 --scratch")),
        ("pullrequest.branch", "branch", json!("")),
        ("agent", "agent", json!("../admin")),
    ];
    for (field, place, value) in cases {
        let mut body = fixture.clone();
        let slot = match *place {
            "agent" => &mut body["agent"],
            path => path
                .split('.')
                .fold(&mut body["pullrequest"], |value, key| &mut value[key]),
        };
        *slot = value.clone();
        let error =
            parse_value(topic, &body).expect_err(&format!("{place} = {value} was accepted"));
        assert!(
            error.contains(&format!("field `{field}`")),
            "{place} = {value}: {error}"
        );
    }
    // The fixture itself, and the forms Fedora uses, pass.
    for branch in ["rawhide", "f42", "epel10.1", "private-foo/bar"] {
        let mut body = fixture.clone();
        body["pullrequest"]["branch"] = json!(branch);
        parse_value(topic, &body).unwrap_or_else(|error| panic!("{branch}: {error}"));
    }
}

/// A well-formed project URL on another host is refused where the configured dist-git is
/// known: at intake, with the reason recorded.
#[test]
fn project_urls_must_be_under_the_served_dist_git() {
    use fedora_ci::intake::{Incoming, Origin, Verdict, classify};
    let topic = "org.fedoraproject.prod.pagure.pull-request.new";
    let message = |full_url: &str, fork_url: &str| {
        let mut body = fixture_json("packit-service/pagure_pr_new.json");
        body["pullrequest"]["project"]["full_url"] = json!(full_url);
        body["pullrequest"]["repo_from"]["full_url"] = json!(fork_url);
        Incoming {
            message_id: None,
            topic: topic.to_owned(),
            headers: json!({}),
            body: serde_json::to_vec(&body).unwrap(),
            received_at: chrono::Utc::now(),
        }
    };
    let serving = identity().serving("https://src.fedoraproject.org");
    let ours = message(
        "https://src.fedoraproject.org/rpms/optee_os",
        "https://src.fedoraproject.org/fork/zbyszek/rpms/optee_os",
    );
    assert_eq!(classify(&ours, &serving, Origin::Bus), Verdict::Accept);
    let theirs = message(
        "https://src.fedoraproject.org.evil.example/rpms/optee_os",
        "https://src.fedoraproject.org.evil.example/fork/zbyszek/rpms/optee_os",
    );
    let Verdict::Reject(reason) = classify(&theirs, &serving, Origin::Bus) else {
        panic!("a project on another host was accepted");
    };
    assert!(
        reason.contains("is not under the Pagure dist-git this service serves"),
        "{reason}"
    );
}

/// A Testing Farm notification is a pointer whose token the webhook checks; on the bus, where
/// no token is asked, one is rejected whatever its prefix.
#[test]
fn testing_farm_notifications_are_taken_from_the_webhook_only() {
    use fedora_ci::intake::{Incoming, Origin, Verdict, classify};
    let body = json!({"request_id": "0e5a4ae5-4a0a-4c5b-9a0e-6a4f8a1c9f10"});
    let message = |topic: &str| Incoming {
        message_id: None,
        topic: topic.to_owned(),
        headers: json!({}),
        body: serde_json::to_vec(&body).unwrap(),
        received_at: chrono::Utc::now(),
    };
    let webhook = message(TESTING_FARM_RESULTS_TOPIC);
    assert_eq!(
        classify(&webhook, &identity(), Origin::Webhook),
        Verdict::Accept
    );
    for topic in [
        TESTING_FARM_RESULTS_TOPIC.to_owned(),
        format!("org.fedoraproject.prod.{TESTING_FARM_RESULTS_TOPIC}"),
    ] {
        let Verdict::Reject(reason) = classify(&message(&topic), &identity(), Origin::Bus) else {
            panic!("{topic} from the bus was not rejected");
        };
        assert!(reason.contains("only from the webhook"), "{reason}");
    }
}

#[test]
fn comment_message_without_comments_is_rejected() {
    let mut body = fixture_json("packit-service/pagure_pr_comment.json");
    body["pullrequest"]["comments"] = json!([]);
    let error = parse_value(
        "org.fedoraproject.prod.pagure.pull-request.comment.added",
        &body,
    )
    .unwrap_err();
    assert!(error.contains("`pullrequest.comments` is empty"), "{error}");
}

#[test]
fn non_json_body_is_rejected_not_ignored() {
    let error = parse("org.fedoraproject.prod.pagure.pull-request.new", b"<html>").unwrap_err();
    assert!(error.to_string().contains("not JSON"), "{error}");
}

// ---------------------------------------------------------------------------------------
// Koji tasks

fn koji_change(body: &Value) -> fedora_ci::events::KojiTaskStateChange {
    match parse_value(KOJI_TASK_TOPIC, body) {
        Ok(Parsed::Event(Event::KojiTaskStateChanged(change))) => change,
        other => panic!("not a Koji task change: {other:?}"),
    }
}

fn v1_schema_example() -> Value {
    fixture_json(
        "protocols/fedora-messaging/buildsys.task.state.change.open-to-closed.v1-schema-example.json",
    )
}

#[test]
fn koji_task_fields_come_from_the_message() {
    let relative = "packit-service/koji_build_scratch_end.json";
    let fixture = fixture_json(relative);
    let Event::KojiTaskStateChanged(change) = event_of(relative) else {
        panic!("not a Koji task change");
    };
    assert_eq!(change.task_id.get(), fixture["id"].as_u64().unwrap());
    assert_eq!(change.owner.as_deref(), fixture["owner"].as_str());
    assert_eq!(change.method, fixture["method"]);
    assert_eq!(
        change.old_state.map(KojiTaskState::name),
        fixture["old"].as_str()
    );
    assert_eq!(change.new_state.name(), fixture["new"]);
    let completion = change.completion_time.unwrap().timestamp() as f64;
    assert_eq!(
        completion,
        fixture["info"]["completion_time"].as_f64().unwrap()
    );
    let request = change.request.unwrap();
    assert_eq!(request.target, fixture["info"]["request"][1]);
    assert!(request.scratch);
}

#[test]
fn koji_build_arch_children_map_arches_to_task_ids() {
    let body = v1_schema_example();
    let change = koji_change(&body);
    let expected: Vec<(String, u64)> = body["info"]["children"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|child| child["method"] == "buildArch")
        .map(|child| {
            let arch = child["arch"].as_str().unwrap().to_owned();
            (arch, child["id"].as_u64().unwrap())
        })
        .collect();
    let mut actual: Vec<(String, u64)> = change
        .arch_tasks
        .iter()
        .map(|(arch, id)| (arch.clone(), id.get()))
        .collect();
    let mut expected_sorted = expected.clone();
    expected_sorted.sort();
    actual.sort();
    assert_eq!(actual, expected_sorted);
    assert_eq!(
        expected.len(),
        3,
        "the fixture has three buildArch children"
    );
    assert!(change.failed_arches.is_empty());
}

#[test]
fn koji_failed_arches_are_the_build_arch_children_in_state_5() {
    let mut body = v1_schema_example();
    body["new"] = json!("FAILED");
    let children = body["info"]["children"].as_array_mut().unwrap();
    let mut failed = Vec::new();
    for child in children.iter_mut() {
        let arch = child["arch"].as_str().unwrap().to_owned();
        // Fail aarch64 and the SRPM task; only buildArch children count.
        if arch == "aarch64" || child["method"] == "rebuildSRPM" {
            child["state"] = json!(5);
            if child["method"] == "buildArch" {
                failed.push(arch);
            }
        }
    }
    let change = koji_change(&body);
    assert_eq!(change.new_state, KojiTaskState::Failed);
    assert_eq!(change.failed_arches, failed);
    assert_eq!(change.failed_arches, vec!["aarch64".to_owned()]);
}

#[test]
fn koji_task_without_info_state_is_ignored() {
    let mut body = fixture_json("packit-service/koji_build_scratch_start.json");
    body["info"].as_object_mut().unwrap().remove("state");
    let Ok(Parsed::Ignored(Skip::KojiTaskWithoutState { task_id })) =
        parse_value(KOJI_TASK_TOPIC, &body)
    else {
        panic!("not ignored");
    };
    assert_eq!(task_id.get(), body["id"].as_u64().unwrap());
}

#[test]
fn koji_task_with_null_info_is_ignored() {
    // The schema allows a null task info; packit-service drops those messages too.
    let mut body = v1_schema_example();
    body["info"] = Value::Null;
    assert!(matches!(
        parse_value(KOJI_TASK_TOPIC, &body),
        Ok(Parsed::Ignored(Skip::KojiTaskWithoutState { .. }))
    ));
}

#[test]
fn koji_child_without_state_or_null_child_is_not_a_failure() {
    let mut body = v1_schema_example();
    body["info"]["children"][0]
        .as_object_mut()
        .unwrap()
        .remove("state");
    body["info"]["children"]
        .as_array_mut()
        .unwrap()
        .push(Value::Null);
    let change = koji_change(&body);
    assert!(change.failed_arches.is_empty());
    assert_eq!(change.arch_tasks.len(), 3);
}

#[test]
fn koji_task_in_state_free_is_kept() {
    let mut body = fixture_json("packit-service/koji_build_scratch_start.json");
    body["info"]["state"] = json!(0);
    body["old"] = Value::Null;
    body["new"] = json!("FREE");
    let change = koji_change(&body);
    assert_eq!(change.new_state, KojiTaskState::Free);
    assert_eq!(change.old_state, None);
}

#[test]
fn koji_unknown_state_name_is_rejected() {
    let mut body = fixture_json("packit-service/koji_build_scratch_start.json");
    body["new"] = json!("EXPLODED");
    let error = parse_value(KOJI_TASK_TOPIC, &body).unwrap_err();
    assert!(error.contains("field `new`"), "{error}");
}

#[test]
fn koji_prefilter_keeps_only_our_tasks() {
    let body = v1_schema_example();
    let bytes = body.to_string().into_bytes();
    assert_eq!(
        prefilter(KOJI_TASK_TOPIC, &bytes, &identity()),
        Relevance::Irrelevant(Skip::KojiTaskOfOtherOwner {
            owner: body["owner"].as_str().map(str::to_owned)
        })
    );
    let ours = Identity::new("org.fedoraproject.prod", body["owner"].as_str().unwrap());
    assert_eq!(
        prefilter(KOJI_TASK_TOPIC, &bytes, &ours),
        Relevance::Relevant
    );
}

// ---------------------------------------------------------------------------------------
// Pagure prefilter

#[test]
fn prefilter_drops_our_own_comments() {
    let relative = "packit-service/pagure_pr_comment.json";
    let message = only_message(relative, None);
    let author = fixture_json(relative)["agent"].as_str().unwrap().to_owned();
    assert_eq!(
        prefilter(&message.topic, &message.body, &identity()),
        Relevance::Relevant
    );
    let as_author = Identity::new("org.fedoraproject.prod", author.as_str());
    assert_eq!(
        prefilter(&message.topic, &message.body, &as_author),
        Relevance::Irrelevant(Skip::OwnComment { author })
    );
}

#[test]
fn prefilter_drops_namespaces_without_ci() {
    let mut body = fixture_json("packit-service/pagure_pr_new.json");
    let topic = body.as_object_mut().unwrap().remove("topic").unwrap();
    let topic = topic.as_str().unwrap().to_owned();
    for (namespace, expected) in [
        (json!("rpms"), Relevance::Relevant),
        (json!("tests"), Relevance::Relevant),
        (
            json!("modules"),
            Relevance::Irrelevant(Skip::NamespaceWithoutCi {
                namespace: Some("modules".to_owned()),
            }),
        ),
        (
            Value::Null,
            Relevance::Irrelevant(Skip::NamespaceWithoutCi { namespace: None }),
        ),
    ] {
        body["pullrequest"]["project"]["namespace"] = namespace.clone();
        let relevance = prefilter(&topic, body.to_string().as_bytes(), &identity());
        assert_eq!(relevance, expected, "{namespace}");
    }
}

#[test]
fn prefilter_drops_other_deployments_and_unhandled_topics() {
    let message = only_message("packit-service/pagure_pr_new.json", None);
    let staging = message.topic.replace(".prod.", ".stg.");
    assert!(matches!(
        prefilter(&staging, &message.body, &identity()),
        Relevance::Irrelevant(Skip::OutsideTopicPrefix { .. })
    ));
    let staging_identity = Identity::new("org.fedoraproject.stg", "packit-stg");
    assert_eq!(
        prefilter(&staging, &message.body, &staging_identity),
        Relevance::Relevant
    );
    // parse() itself accepts any prefix.
    assert!(parse(&staging, &message.body).unwrap().is_some());
}

// ---------------------------------------------------------------------------------------
// Log Detective and Testing Farm

#[test]
fn log_detective_fields_come_from_the_message() {
    for relative in [
        "packit-service/logdetective_analysis_result.json",
        "packit-service/logdetective_analysis_result_error.json",
    ] {
        let fixture = fixture_json(relative);
        let Event::LogDetectiveResult(result) = event_of(relative) else {
            panic!("{relative} is not a Log Detective result");
        };
        assert_eq!(
            result.analysis_id.as_str(),
            fixture["log_detective_analysis_id"]
        );
        assert_eq!(result.target_build, fixture["target_build"]);
        assert_eq!(
            format!("{:?}", result.status).to_lowercase(),
            fixture["status"].as_str().unwrap()
        );
        assert_eq!(
            format!("{:?}", result.build_system).to_lowercase(),
            fixture["build_system"].as_str().unwrap()
        );
        assert_eq!(result.commit_sha.unwrap().as_str(), fixture["commit_sha"]);
        assert_eq!(result.pr_id.map(|id| id.get()), fixture["pr_id"].as_u64());
        assert_eq!(
            result.project_url.as_deref(),
            fixture["project_url"].as_str()
        );
        assert_eq!(
            result.error_message.as_deref(),
            fixture["error_msg"].as_str()
        );
        let expected_response = Some(&fixture["log_detective_response"]).filter(|r| !r.is_null());
        assert_eq!(result.response.as_ref(), expected_response);
    }
}

#[test]
fn log_detective_other_build_systems_are_ignored_and_bad_times_rejected() {
    let mut body = fixture_json("packit-service/logdetective_analysis_result.json");
    let topic = body.as_object_mut().unwrap().remove("topic").unwrap();
    let topic = topic.as_str().unwrap().to_owned();
    let mut other_system = body.clone();
    other_system["build_system"] = json!("jenkins");
    assert!(matches!(
        parse_value(&topic, &other_system),
        Ok(Parsed::Ignored(Skip::UnsupportedBuildSystem { .. }))
    ));
    body["log_detective_analysis_start"] = json!("last tuesday");
    let error = parse_value(&topic, &body).unwrap_err();
    assert!(
        error.contains("field `log_detective_analysis_start`"),
        "{error}"
    );
}

#[test]
fn testing_farm_notification_keeps_the_token_secret() {
    let relative = "packit-service/notification.json";
    let fixture = fixture_json(relative);
    let message = only_message(relative, Some(TESTING_FARM_RESULTS_TOPIC));
    let Some(Event::TestingFarmResult(notification)) =
        parse(&message.topic, &message.body).unwrap()
    else {
        panic!("not a Testing Farm notification");
    };
    assert_eq!(notification.request_id.to_string(), fixture["request_id"]);
    let token = notification.token.as_ref().unwrap();
    assert_eq!(token.expose_secret(), fixture["token"]);
    let debug = format!("{notification:?}");
    assert!(!debug.contains(token.expose_secret()), "{debug}");
}

#[test]
fn testing_farm_request_id_must_be_a_uuid() {
    let body = json!({"request_id": "../../admin", "token": "t"});
    let error = parse_value(TESTING_FARM_RESULTS_TOPIC, &body).unwrap_err();
    assert!(error.contains("field `request_id`"), "{error}");
}

// ---------------------------------------------------------------------------------------
// Envelopes

#[test]
fn datagrepper_and_dump_forms_give_the_same_event_as_the_bare_body() {
    let relative = "packit-service/pagure_pr_comment.json";
    let bare = only_message(relative, None);
    let body: Value = serde_json::from_slice(&bare.body).unwrap();
    let datagrepper = json!({
        "topic": bare.topic, "msg": body, "msg_id": "2022-0b0e8d1c-0000-4000-8000-000000000000",
        "headers": {"sent-at": "2022-07-14T07:24:08+00:00"}, "i": 1, "timestamp": 1657783448.0,
        "source_name": "datanommer", "username": null, "crypto": null,
    });
    let dump = json!({
        "topic": bare.topic, "body": body, "id": "0b0e8d1c-0000-4000-8000-000000000000",
        "headers": {"fedora_messaging_schema": "pagure.pull-request.comment.added"},
        "queue": null,
    });
    let expected = format!("{:?}", parse(&bare.topic, &bare.body).unwrap());
    for (wrapped, form, id) in [
        (
            datagrepper,
            Form::Datagrepper,
            "2022-0b0e8d1c-0000-4000-8000-000000000000",
        ),
        (
            dump,
            Form::FedoraMessagingDump,
            "0b0e8d1c-0000-4000-8000-000000000000",
        ),
    ] {
        let message = only_message_from(&wrapped);
        assert_eq!(message.form, form);
        assert_eq!(message.id.as_deref(), Some(id));
        assert_eq!(message.topic, bare.topic);
        assert_eq!(
            format!("{:?}", parse(&message.topic, &message.body).unwrap()),
            expected
        );
    }
}

fn only_message_from(value: &Value) -> StoredMessage {
    let mut messages = envelope::decode(value.to_string().as_bytes(), None).unwrap();
    assert_eq!(messages.len(), 1);
    messages.remove(0)
}

#[test]
fn fedora_messaging_dump_keeps_id_and_headers() {
    let relative = "protocols/fedora-messaging/fedora-messaging.serialized-dump.jsonl";
    let fixture = fixture_json(relative);
    let message = only_message(relative, None);
    assert_eq!(message.form, Form::FedoraMessagingDump);
    assert_eq!(message.topic, fixture["topic"]);
    assert_eq!(message.id.as_deref(), fixture["id"].as_str());
    assert_eq!(&Value::Object(message.headers.clone()), &fixture["headers"]);
    assert_eq!(
        serde_json::from_slice::<Value>(&message.body).unwrap(),
        fixture["body"]
    );
}

// ---------------------------------------------------------------------------------------
// The Rust half of the contract in contract/parser_requirements.json

#[test]
fn parser_rejects_every_change_the_contract_lists() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/contract/parser_requirements.json"
    );
    let requirements: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let checks = requirements["checks"].as_array().unwrap();
    assert!(!checks.is_empty());
    for check in checks {
        let relative = check["fixture"].as_str().unwrap();
        let field = check["field"].as_str().unwrap();
        let change = check["change"].as_str().unwrap();
        let default_topic = check["topic"]
            .as_str()
            .map(|topic| format!("org.fedoraproject.prod.{topic}"));
        let message = only_message(relative, default_topic.as_deref());
        let mut body: Value = serde_json::from_slice(&message.body).unwrap();
        apply_change(&mut body, field, change);
        let error = parse_value(&message.topic, &body)
            .expect_err(&format!("{relative} with {field} {change} was accepted"));
        // The fixtures used have a single comment, so its last comment is also `[0]`.
        let named = field.replace("[-1]", "[0]");
        assert!(
            error.contains(&format!("field `{named}`")),
            "{relative} with {field} {change}: {error}"
        );
    }
}

/// Removes or nulls the value at a path such as `pullrequest.comments[-1].id`.
fn apply_change(body: &mut Value, path: &str, change: &str) {
    let mut steps: Vec<&str> = path.split(['.', '[']).collect();
    let last = steps.pop().unwrap();
    let parent = steps
        .into_iter()
        .fold(body, |value, step| match step.strip_suffix(']') {
            Some(index) => {
                let items = value.as_array_mut().unwrap();
                let index = array_index(index, items.len());
                &mut items[index]
            }
            None => &mut value[step],
        });
    match (change, last.strip_suffix(']')) {
        ("delete", None) => {
            parent.as_object_mut().unwrap().remove(last).unwrap();
        }
        ("null", None) => parent[last] = Value::Null,
        ("delete", Some(index)) => {
            let items = parent.as_array_mut().unwrap();
            let index = array_index(index, items.len());
            items.remove(index);
        }
        _ => panic!("unsupported change {change} of {path}"),
    }
}

fn array_index(text: &str, len: usize) -> usize {
    let index: isize = text.parse().unwrap();
    if index < 0 {
        len - index.unsigned_abs()
    } else {
        index.unsigned_abs()
    }
}

// ---------------------------------------------------------------------------------------
// Forgejo (webhook-to-fedora-messaging)

const SYNC_FORK: &str = "forgejo/forgejo.pull_request.synchronized.fork.json";
const PR_COMMENT: &str = "forgejo/forgejo.issue_comment.on-pull-request.json";
const CODEBERG_OPENED: &str = "forgejo/webhook.pull_request.opened.same-repo.codeberg.json";

/// A Forgejo fixture's webhook JSON, and its message with a field edited.
fn forgejo_parse(
    relative: &str,
    topic: &str,
    edit: impl FnOnce(&mut Value),
) -> Result<Parsed, String> {
    let mut message = fixture_json(relative);
    edit(&mut message["body"]);
    parse_value(topic, &message)
}

fn forgejo_event(relative: &str, topic: &str, edit: impl FnOnce(&mut Value)) -> Event {
    match forgejo_parse(relative, topic, edit) {
        Ok(Parsed::Event(event)) => event,
        other => panic!("{relative}: {other:?}"),
    }
}

fn forgejo_skip(relative: &str, topic: &str, edit: impl FnOnce(&mut Value)) -> Skip {
    match forgejo_parse(relative, topic, edit) {
        Ok(Parsed::Ignored(skip)) => skip,
        other => panic!("{relative}: {other:?}"),
    }
}

/// The fields Fedora CI needs, checked against the webhook JSON they come from.
fn assert_forgejo_fields(pull_request: &PullRequest, webhook: &Value, actor: &Value) {
    let pr = &webhook["pull_request"];
    let base = &webhook["repository"];
    let head = &pr["head"]["repo"];
    assert_eq!(pull_request.forge, ForgeKind::Forgejo);
    assert_eq!(pull_request.id.get(), pr["number"].as_u64().unwrap());
    assert_eq!(pull_request.target_repo.url, base["html_url"]);
    assert_eq!(pull_request.target_repo.name, base["name"]);
    assert_eq!(
        pull_request.target_repo.namespace.as_deref(),
        base["owner"]["login"].as_str()
    );
    assert_eq!(pull_request.target_branch, pr["base"]["ref"]);
    assert_eq!(pull_request.head_commit.as_str(), pr["head"]["sha"]);
    assert_eq!(pull_request.source.url, head["html_url"]);
    assert_eq!(pull_request.source.clone_url, head["clone_url"]);
    assert_eq!(pull_request.source.owner, head["owner"]["login"]);
    assert_eq!(pull_request.source.repo_name, head["name"]);
    assert_eq!(pull_request.title, pr["title"]);
    assert_eq!(&pull_request.actor, actor);
}

#[test]
fn forgejo_synchronized_from_a_fork_is_a_new_head_built_from_the_fork() {
    let Event::PullRequestSynchronized { pull_request, kind } = event_of(SYNC_FORK) else {
        panic!("not a synchronization");
    };
    let webhook = &fixture_json(SYNC_FORK)["body"];
    assert_eq!(kind, SyncKind::Synchronized);
    assert_forgejo_fields(&pull_request, webhook, &webhook["sender"]["login"]);
    assert_eq!(
        pull_request.source.clone_url,
        "https://forge.fedoraproject.org/jpodivin/ansible.git"
    );
    assert!(pull_request.is_from_fork());
}

#[test]
fn forgejo_opened_same_repository_pull_request_builds_from_the_project() {
    let message = only_message(CODEBERG_OPENED, Some(FORGEJO_PR_TOPIC));
    let Some(Event::PullRequestOpened(pull_request)) =
        parse(&message.topic, &message.body).unwrap()
    else {
        panic!("not an opened PR");
    };
    let webhook = &fixture_json(CODEBERG_OPENED)["body"];
    assert_forgejo_fields(&pull_request, webhook, &webhook["sender"]["login"]);
    assert!(!pull_request.is_from_fork());
    assert_eq!(
        pull_request.source.clone_url,
        format!("{}.git", pull_request.target_repo.url)
    );
    // Reopened is opened again.
    let reopened = forgejo_event(CODEBERG_OPENED, FORGEJO_PR_TOPIC, |body| {
        body["action"] = json!("reopened")
    });
    assert!(
        matches!(reopened, Event::PullRequestOpened(_)),
        "{reopened:?}"
    );
}

#[test]
fn forgejo_pull_request_comment_carries_the_comment_and_its_author() {
    let Event::PullRequestComment(comment) = event_of(PR_COMMENT) else {
        panic!("not a PR comment");
    };
    let webhook = &fixture_json(PR_COMMENT)["body"];
    assert_eq!(
        comment.comment_id.0,
        webhook["comment"]["id"].as_u64().unwrap()
    );
    assert_eq!(comment.text, webhook["comment"]["body"]);
    assert_eq!(comment.pull_request.actor, "kparal");
    assert_forgejo_fields(
        &comment.pull_request,
        webhook,
        &webhook["comment"]["user"]["login"],
    );
}

#[test]
fn forgejo_messages_that_ask_nothing_of_ci_are_skipped_with_the_reason() {
    assert_eq!(
        forgejo_skip(
            "forgejo/forgejo.issue_comment.on-issue.json",
            FORGEJO_COMMENT_TOPIC,
            |_| {}
        ),
        Skip::NotAPullRequest
    );
    for relative in [
        "forgejo/forgejo.push.branch.json",
        "forgejo/forgejo.action_run_success.pull_request.json",
    ] {
        let message = only_message(relative, None);
        assert!(
            matches!(
                parse_with_reason(&message.topic, &message.body),
                Ok(Parsed::Ignored(Skip::UnhandledTopic { .. }))
            ),
            "{relative}"
        );
    }
    assert_eq!(
        forgejo_skip(SYNC_FORK, FORGEJO_PR_TOPIC, |body| body["action"] =
            json!("edited")),
        Skip::EditWithoutNewHead
    );
    // GitHub's spelling is not Forgejo's: never taken for a new head.
    for action in [
        "label_updated",
        "assigned",
        "review_requested",
        "synchronize",
    ] {
        assert_eq!(
            forgejo_skip(SYNC_FORK, FORGEJO_PR_TOPIC, |body| body["action"] =
                json!(action)),
            Skip::IgnoredAction {
                action: action.to_owned()
            }
        );
    }
    for action in ["edited", "deleted"] {
        assert_eq!(
            forgejo_skip(PR_COMMENT, FORGEJO_COMMENT_TOPIC, |body| body["action"] =
                json!(action)),
            Skip::IgnoredAction {
                action: action.to_owned()
            }
        );
    }
    assert_eq!(
        forgejo_skip(
            SYNC_FORK,
            FORGEJO_PR_TOPIC,
            |body| body["pull_request"]["flow"] = json!(1)
        ),
        Skip::AgitPullRequest
    );
    assert_eq!(
        forgejo_skip(
            SYNC_FORK,
            FORGEJO_PR_TOPIC,
            |body| body["pull_request"]["head"]["repo"] = Value::Null
        ),
        Skip::HeadRepositoryGone
    );
    assert_eq!(
        forgejo_skip(
            SYNC_FORK,
            FORGEJO_PR_TOPIC,
            |body| body["pull_request"]["head"]["repo_id"] = json!(-1)
        ),
        Skip::HeadRepositoryGone
    );
}

#[test]
fn forgejo_closed_says_whether_it_was_merged() {
    for merged in [true, false] {
        let event = forgejo_event(SYNC_FORK, FORGEJO_PR_TOPIC, |body| {
            body["action"] = json!("closed");
            body["pull_request"]["merged"] = json!(merged);
        });
        let Event::PullRequestClosed(closed) = event else {
            panic!("not closed: {event:?}");
        };
        assert_eq!(
            (closed.forge, closed.id.get(), closed.merged),
            (ForgeKind::Forgejo, 3501, merged)
        );
        assert_eq!(
            closed.target_repo.url,
            "https://forge.fedoraproject.org/infra/ansible"
        );
    }
}

#[test]
fn forgejo_hostile_urls_and_names_are_rejected_naming_the_field() {
    type Edit = fn(&mut Value);
    let cases: [(&str, Edit); 8] = [
        ("body.pull_request.head.repo.clone_url", |body| {
            body["pull_request"]["head"]["repo"]["clone_url"] =
                json!("https://evil.example/jpodivin/ansible.git")
        }),
        ("body.pull_request.head.repo.html_url", |body| {
            body["pull_request"]["head"]["repo"]["html_url"] =
                json!("https://forge.fedoraproject.org/someone/else");
        }),
        ("body.pull_request.head.repo.html_url", |body| {
            let repo = &mut body["pull_request"]["head"]["repo"];
            repo["html_url"] = json!("https://evil.example/jpodivin/ansible");
            repo["clone_url"] = json!("https://evil.example/jpodivin/ansible.git");
        }),
        ("body.repository.html_url", |body| {
            body["repository"]["html_url"] =
                json!("https://user@forge.fedoraproject.org/infra/ansible");
        }),
        ("body.repository.name", |body| {
            body["repository"]["name"] = json!("..")
        }),
        ("body.pull_request.base.ref", |body| {
            body["pull_request"]["base"]["ref"] = json!("main/../x")
        }),
        ("body.pull_request.head.sha", |body| {
            body["pull_request"]["head"]["sha"] = json!("1a69eb79")
        }),
        ("body.sender.login", |body| {
            body["sender"]["login"] = json!("a/b")
        }),
    ];
    for (field, edit) in cases {
        let error = forgejo_parse(SYNC_FORK, FORGEJO_PR_TOPIC, edit).unwrap_err();
        assert!(error.contains(field), "{field}: {error}");
    }
    let error = forgejo_parse(PR_COMMENT, FORGEJO_COMMENT_TOPIC, |body| {
        body.as_object_mut().unwrap().remove("pull_request");
    })
    .unwrap_err();
    assert!(error.contains("body.pull_request"), "{error}");
}

#[test]
fn forgejo_events_never_carry_the_webhook_headers() {
    for relative in [SYNC_FORK, PR_COMMENT] {
        let fixture = fixture_json(relative);
        let authorization = fixture["headers"]["authorization"].as_str().unwrap();
        assert!(!authorization.is_empty());
        let event = format!("{:?}", event_of(relative));
        assert!(!event.contains(authorization), "{relative}");
        assert!(!event.contains("authorization"), "{relative}");
    }
}

#[test]
fn forgejo_prefilter_needs_a_served_forgejo_ci_namespaces_and_others_comments() {
    let body = |relative: &str, owner: &str| {
        let mut message = fixture_json(relative);
        message["body"]["repository"]["owner"]["login"] = json!(owner);
        serde_json::to_vec(&message).unwrap()
    };
    assert_eq!(
        prefilter(FORGEJO_PR_TOPIC, &body(SYNC_FORK, "rpms"), &identity()),
        Relevance::Irrelevant(Skip::ForgeNotServed {
            forge: ForgeKind::Forgejo
        })
    );
    assert_eq!(
        prefilter(
            FORGEJO_PR_TOPIC,
            &body(SYNC_FORK, "rpms"),
            &forgejo_identity()
        ),
        Relevance::Relevant
    );
    assert_eq!(
        prefilter(
            FORGEJO_PR_TOPIC,
            &body(SYNC_FORK, "infra"),
            &forgejo_identity()
        ),
        Relevance::Irrelevant(Skip::NamespaceWithoutCi {
            namespace: Some("infra".to_owned())
        })
    );
    assert_eq!(
        prefilter(
            FORGEJO_COMMENT_TOPIC,
            &body(PR_COMMENT, "tests"),
            &forgejo_identity()
        ),
        Relevance::Relevant
    );
    let mut ours = fixture_json(PR_COMMENT);
    ours["body"]["repository"]["owner"]["login"] = json!("rpms");
    ours["body"]["comment"]["user"]["login"] = json!("fedora-ci");
    assert_eq!(
        prefilter(
            FORGEJO_COMMENT_TOPIC,
            &serde_json::to_vec(&ours).unwrap(),
            &forgejo_identity()
        ),
        Relevance::Irrelevant(Skip::OwnComment {
            author: "fedora-ci".to_owned()
        })
    );
}

#[test]
fn forgejo_repositories_must_be_under_the_served_forgejo() {
    use fedora_ci::intake::{Incoming, Origin, Verdict, classify};
    let incoming = |origin: &str| {
        let mut message = fixture_json(SYNC_FORK);
        let body = &mut message["body"];
        body["repository"]["owner"]["login"] = json!("rpms");
        body["repository"]["html_url"] = json!(format!("{origin}/rpms/ansible"));
        body["repository"]["clone_url"] = json!(format!("{origin}/rpms/ansible.git"));
        body["pull_request"]["head"]["repo"]["html_url"] =
            json!(format!("{origin}/jpodivin/ansible"));
        body["pull_request"]["head"]["repo"]["clone_url"] =
            json!(format!("{origin}/jpodivin/ansible.git"));
        Incoming {
            message_id: None,
            topic: FORGEJO_PR_TOPIC.to_owned(),
            headers: json!({}),
            body: serde_json::to_vec(&message).unwrap(),
            received_at: chrono::Utc::now(),
        }
    };
    let ours = incoming("https://forge.fedoraproject.org");
    assert_eq!(
        classify(&ours, &forgejo_identity(), Origin::Bus),
        Verdict::Accept
    );
    assert_eq!(
        classify(
            &ours,
            &identity().serving("https://src.fedoraproject.org"),
            Origin::Bus
        ),
        Verdict::Irrelevant(Skip::ForgeNotServed {
            forge: ForgeKind::Forgejo
        })
    );
    let Verdict::Reject(reason) = classify(
        &incoming("https://src.fedoraproject.org"),
        &forgejo_identity(),
        Origin::Bus,
    ) else {
        panic!("a Forgejo project on the Pagure host was accepted");
    };
    assert!(
        reason.contains("is not under the Forgejo dist-git this service serves"),
        "{reason}"
    );
}

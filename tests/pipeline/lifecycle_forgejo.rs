//! A pull request's life on Forgejo, beside Pagure: webhook-to-fedora-messaging messages in,
//! a Koji build from the fork's clone URL, tests, commit statuses on the target repository;
//! a push supersedes; comment commands; an edit changes nothing.

use fedora_ci::fakes::koji::BuildOutcome;
use serde_json::{Value as Json, json};

use crate::common::forgejo::{self, COMMENT_TOPIC, PR_TOPIC};
use crate::stack::Stack;

const HEAD: &str = "1a69eb79bbfa26ec63e95863cf15dcd77f985ede";
const NEW_HEAD: &str = "2b7afc8a0cb05bf12f0fd3c81ee9b0b2cf6e3a11";
const NUMBER: u64 = 7;
const TARGET_REPO: &str = "rpms/optee_os";
const BUILD_CONTEXT: &str = "Packit-stg - scratch build - rawhide";

/// The stack with Forgejo's `rpms/optee_os` opted in, its PR 7 known to the fake.
async fn start(logins_are_fas_usernames: bool) -> Stack {
    let stack = Stack::start(|config| {
        let forgejo = config.forgejo.as_mut().unwrap();
        forgejo.logins_are_fas_usernames = logins_are_fas_usernames;
        let url = format!("{}/{TARGET_REPO}", forgejo.web_url);
        config.fedora_ci.enabled_projects.push(url);
    })
    .await;
    // An eln branch: only the rawhide build is planned.
    stack.forgejo.set_branches(TARGET_REPO, &["rawhide", "eln"]);
    for sha in [HEAD, NEW_HEAD] {
        stack.forgejo.add_commit(TARGET_REPO, sha, &[]);
        stack.forgejo.add_commit("zbyszek/optee_os", sha, &[]);
    }
    stack.forgejo.add_pull_request(json!({
        "number": NUMBER, "state": "open", "merged": false,
        "html_url": format!("{}/{TARGET_REPO}/pulls/{NUMBER}", stack.forgejo.url()),
        "base": {"ref": "rawhide", "repo": {"full_name": TARGET_REPO}},
        "head": {"sha": HEAD},
    }));
    stack
}

/// PR 7 of `rpms/optee_os` from zbyszek's fork, at `head`.
fn pr<'a>(web_url: &'a str, head: &'a str) -> forgejo::PullRequest<'a> {
    forgejo::PullRequest {
        web_url,
        target: TARGET_REPO,
        source: "zbyszek/optee_os",
        number: NUMBER,
        head,
        title: "Update to 4.5.0",
        target_branch: "rawhide",
    }
}

fn pull_request_message(stack: &Stack, action: &str, head: &str) -> Json {
    let web_url = stack.forgejo.url();
    forgejo::pull_request_message(&pr(&web_url, head), action, "zbyszek")
}

fn comment_message(stack: &Stack, author: &str, text: &str, id: u64) -> Json {
    let web_url = stack.forgejo.url();
    forgejo::comment_message(&pr(&web_url, HEAD), id, author, text)
}

fn latest(stack: &Stack, sha: &str, context: &str) -> Json {
    stack
        .forgejo
        .latest_statuses(TARGET_REPO, sha)
        .remove(context)
        .unwrap_or_else(|| {
            panic!(
                "no status {context} at {sha}: {:?}",
                stack.forgejo.statuses(TARGET_REPO, sha)
            )
        })
}

fn build_task(stack: &Stack, sha: &str) -> i64 {
    let url = latest(stack, sha, BUILD_CONTEXT)["target_url"]
        .as_str()
        .unwrap()
        .to_owned();
    url.rsplit("taskID=").next().unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forgejo_pull_request_is_built_from_its_fork_and_reported_as_statuses_on_the_target() {
    let stack = start(false).await;
    stack
        .deliver(PR_TOPIC, &pull_request_message(&stack, "opened", HEAD))
        .await;
    stack.settle().await;

    let builds = stack.koji_builds();
    assert_eq!(builds.len(), 1, "{builds:?}");
    assert_eq!(
        builds[0].0,
        format!("git+{}/zbyszek/optee_os.git#{HEAD}", stack.forgejo.url())
    );
    let submitted = latest(&stack, HEAD, BUILD_CONTEXT);
    assert_eq!(submitted["status"], "pending");
    assert!(
        submitted["target_url"]
            .as_str()
            .unwrap()
            .contains("taskID=")
    );

    let task = build_task(&stack, HEAD);
    assert!(stack.koji.start_build(task));
    assert!(stack.koji.finish_build(task, &BuildOutcome::Succeeds));
    stack.deliver_koji_messages().await;
    stack.settle().await;
    let built = latest(&stack, HEAD, BUILD_CONTEXT);
    assert_eq!(built["status"], "success");
    assert_eq!(built["description"], "RPM build succeeded.");
    let installability = latest(&stack, HEAD, "Packit-stg - installability - rawhide");
    assert_eq!(installability["status"], "pending");
    assert!(!stack.testing_farm.submitted().is_empty());

    // Everything went to Forgejo's target repository; nothing to Pagure or the fork.
    assert!(
        stack.pagure.calls().is_empty(),
        "{:?}",
        stack.pagure.calls()
    );
    assert!(stack.forgejo.statuses("zbyszek/optee_os", HEAD).is_empty());
    let rows: Vec<(String, String)> =
        sqlx::query_as("SELECT gp.project_url, gp.instance_url FROM git_projects gp")
            .fetch_all(stack.pg_pool())
            .await
            .unwrap();
    let host = stack.forgejo.url().trim_start_matches("http://").to_owned();
    assert_eq!(
        rows,
        vec![(format!("{}/{TARGET_REPO}", stack.forgejo.url()), host)]
    );
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn synchronized_supersedes_and_an_edit_changes_nothing() {
    let stack = start(false).await;
    stack
        .deliver(PR_TOPIC, &pull_request_message(&stack, "opened", HEAD))
        .await;
    stack.settle().await;
    let statuses = stack.forgejo.statuses(TARGET_REPO, HEAD);
    // A title edit (or a retarget): dropped at intake as "edited, head unchanged".
    stack
        .deliver(PR_TOPIC, &pull_request_message(&stack, "edited", HEAD))
        .await;
    stack.settle().await;
    assert_eq!(stack.koji_builds().len(), 1);
    assert_eq!(stack.forgejo.statuses(TARGET_REPO, HEAD), statuses);
    let stored: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM inbound_messages")
        .fetch_one(stack.pg_pool())
        .await
        .unwrap();
    assert_eq!(stored, 1, "only the opened message was stored");

    stack
        .deliver(
            PR_TOPIC,
            &pull_request_message(&stack, "synchronized", NEW_HEAD),
        )
        .await;
    stack.settle().await;
    let builds = stack.koji_builds();
    assert_eq!(builds.len(), 2, "{builds:?}");
    assert!(builds[1].0.ends_with(&format!("#{NEW_HEAD}")));
    let old = latest(&stack, HEAD, BUILD_CONTEXT);
    assert_eq!(old["status"], "error");
    assert_eq!(
        old["description"],
        format!(
            "Canceled: Superseded by the newer commit {}.",
            &NEW_HEAD[..7]
        )
    );
    assert_eq!(latest(&stack, NEW_HEAD, BUILD_CONTEXT)["status"], "pending");
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn comment_commands_are_refused_while_logins_are_not_known_to_be_fas_accounts() {
    let stack = start(false).await;
    stack
        .deliver(PR_TOPIC, &pull_request_message(&stack, "opened", HEAD))
        .await;
    stack.settle().await;
    let text = "/packit-ci-stg scratch-build";
    stack
        .deliver(
            COMMENT_TOPIC,
            &comment_message(&stack, "zbyszek", text, 1001),
        )
        .await;
    stack.settle().await;
    assert_eq!(stack.koji_builds().len(), 1, "no second build");
    let comments = stack.forgejo.comments(TARGET_REPO, NUMBER);
    assert_eq!(comments.len(), 1, "{comments:?}");
    let reply = comments[0]["body"].as_str().unwrap();
    assert!(
        reply.starts_with("zbyszek: retriggering is not allowed yet on Forgejo"),
        "{reply}"
    );
    // Our own comments are never commands.
    stack
        .deliver(
            COMMENT_TOPIC,
            &comment_message(&stack, "fedora-ci", text, 1002),
        )
        .await;
    stack.settle().await;
    assert_eq!(stack.forgejo.comments(TARGET_REPO, NUMBER).len(), 1);
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_packager_retriggers_and_a_non_packager_is_refused_when_logins_are_fas_accounts() {
    let stack = start(true).await;
    stack
        .deliver(PR_TOPIC, &pull_request_message(&stack, "opened", HEAD))
        .await;
    stack.settle().await;
    let text = "/packit-ci-stg scratch-build";
    stack
        .deliver(
            COMMENT_TOPIC,
            &comment_message(&stack, "someone", text, 1001),
        )
        .await;
    stack.settle().await;
    assert_eq!(stack.koji_builds().len(), 1);
    let comments = stack.forgejo.comments(TARGET_REPO, NUMBER);
    assert_eq!(
        comments[0]["body"],
        "someone is not a packager, retriggering is not allowed."
    );
    // zbyszek is in the packager group.
    stack
        .deliver(
            COMMENT_TOPIC,
            &comment_message(&stack, "zbyszek", text, 1002),
        )
        .await;
    stack.settle().await;
    let builds = stack.koji_builds();
    assert_eq!(builds.len(), 2, "{builds:?}");
    assert_eq!(builds[1].0, builds[0].0, "the same head, from the fork");
    assert_eq!(stack.forgejo.comments(TARGET_REPO, NUMBER).len(), 1);
    stack.stop().await;
}

/// The API of this stack's database, on loopback.
async fn serve_api(stack: &Stack) -> String {
    let app = std::sync::Arc::new(fedora_ci::api::App {
        store: stack.store.clone(),
        config: stack.config.clone(),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, fedora_ci::api::router(app)).await });
    base
}

/// Pagure's PR 2 of rpms/optee_os and Forgejo's PR 2 of rpms/optee_os, at once, with other
/// heads: two pull requests in the database, each forge gets only its own checks, and the
/// API tells them apart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_pull_request_number_on_pagure_and_forgejo_never_meets() {
    const PAGURE_HEAD: &str = "889f07af35d27bbcaf9c535c17a63b974aa42ee3";
    let stack = start(false).await;
    stack
        .pagure
        .set_branches("rpms/optee_os", &["rawhide", "eln"]);
    stack.forgejo.add_pull_request(json!({
        "number": 2, "state": "open", "merged": false,
        "html_url": format!("{}/{TARGET_REPO}/pulls/2", stack.forgejo.url()),
        "base": {"ref": "rawhide", "repo": {"full_name": TARGET_REPO}},
        "head": {"sha": HEAD},
    }));
    stack.deliver_fixture("pagure_pr_new.json", |_| {}).await;
    let mut forgejo_pr = pull_request_message(&stack, "opened", HEAD);
    forgejo_pr["body"]["number"] = json!(2);
    forgejo_pr["body"]["pull_request"]["number"] = json!(2);
    stack.deliver(PR_TOPIC, &forgejo_pr).await;
    stack.settle().await;

    let pull_requests: Vec<(i32, String)> = sqlx::query_as(
        "SELECT pr.pr_id, gp.instance_url FROM pull_requests pr \
         JOIN git_projects gp ON gp.id = pr.project_id ORDER BY gp.instance_url",
    )
    .fetch_all(stack.pg_pool())
    .await
    .unwrap();
    let forgejo_host = stack.forgejo.url().trim_start_matches("http://").to_owned();
    let mut expected = vec![
        (2, forgejo_host.clone()),
        (2, "src.fedoraproject.org".to_owned()),
    ];
    expected.sort_by(|a, b| a.1.cmp(&b.1));
    assert_eq!(pull_requests, expected);

    let builds = stack.koji_builds();
    assert_eq!(builds.len(), 2, "{builds:?}");
    // Pagure's flags are about Pagure's head only; Forgejo's statuses about Forgejo's.
    let flags = stack.flags("rpms/optee_os", 2);
    assert!(!flags.is_empty());
    assert!(
        flags
            .iter()
            .all(|flag| flag["username"].as_str().unwrap().ends_with("[889f07a]")),
        "{flags:?}"
    );
    assert_eq!(latest(&stack, HEAD, BUILD_CONTEXT)["status"], "pending");
    assert!(stack.forgejo.statuses(TARGET_REPO, PAGURE_HEAD).is_empty());
    assert!(
        stack
            .forgejo
            .latest_statuses(TARGET_REPO, HEAD)
            .keys()
            .all(|context| !context.contains('[')),
        "contexts name no commit"
    );

    let api = serve_api(&stack).await;
    let client = reqwest::Client::new();
    let get = |query: String| {
        let client = client.clone();
        let url = format!("{api}/api/pull-requests/rpms/optee_os/2{query}");
        async move {
            let response = client.get(url).send().await.unwrap();
            let status = response.status().as_u16();
            (status, response.json::<Json>().await.unwrap())
        }
    };
    let (status, body) = get(String::new()).await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("several forges"),
        "{body}"
    );
    let (status, pagure) = get("?forge=src.fedoraproject.org".to_owned()).await;
    assert_eq!(status, 200, "{pagure}");
    assert_eq!(pagure["forge"], "src.fedoraproject.org");
    assert_eq!(pagure["commits"][0]["commit_sha"], PAGURE_HEAD);
    assert_eq!(
        pagure["pr_url"],
        "https://src.fedoraproject.org/rpms/optee_os/pull-request/2"
    );
    let (status, forgejo) = get(format!("?forge={forgejo_host}")).await;
    assert_eq!(status, 200, "{forgejo}");
    assert_eq!(forgejo["commits"][0]["commit_sha"], HEAD);
    assert_eq!(
        forgejo["pr_url"],
        format!("{}/{TARGET_REPO}/pulls/2", stack.forgejo.url())
    );
    assert_eq!(forgejo["commits"].as_array().unwrap().len(), 1);
    stack.stop().await;
}

/// Opens Pagure's PR 2 of rpms/optee_os (`pagure_pr_new.json`); returns its rawhide build's
/// Koji task, submitted and not finished.
async fn pagure_pull_request_building(stack: &Stack) -> i64 {
    stack
        .pagure
        .set_branches("rpms/optee_os", &["rawhide", "eln"]);
    stack.deliver_fixture("pagure_pr_new.json", |_| {}).await;
    stack.settle().await;
    let flag = stack
        .flag(
            "rpms/optee_os",
            2,
            "Packit-stg - scratch build - rawhide [889f07a]",
        )
        .unwrap();
    let task: i64 = flag["url"]
        .as_str()
        .unwrap()
        .rsplit("taskID=")
        .next()
        .unwrap()
        .parse()
        .unwrap();
    task
}

/// The switch: a build started from a Pagure pull request finishes after dist-git moved to
/// Forgejo (Pagure answers 404 for the PR). Its result lands as a status on the Forgejo pull
/// request found by the commit, whatever its number; without one, the flag's task ends at
/// once with the reason, not after hours of waiting for Pagure.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_the_switch_a_pagure_builds_result_lands_on_the_forgejo_pull_request_of_its_commit() {
    const PAGURE_HEAD: &str = "889f07af35d27bbcaf9c535c17a63b974aa42ee3";
    let stack = start(false).await;
    let task = pagure_pull_request_building(&stack).await;

    // The switch: Pagure forgets the PR; on Forgejo it is PR 41, with the same head.
    stack.pagure.remove_pull_request("rpms/optee_os", 2);
    stack.forgejo.add_pull_request(json!({
        "number": 41, "state": "open", "merged": false,
        "html_url": format!("{}/{TARGET_REPO}/pulls/41", stack.forgejo.url()),
        "base": {"ref": "rawhide", "repo": {"full_name": TARGET_REPO}},
        "head": {"sha": PAGURE_HEAD},
    }));
    assert!(stack.koji.start_build(task));
    assert!(stack.koji.finish_build(task, &BuildOutcome::Succeeds));
    stack.deliver_koji_messages().await;
    stack.settle().await;

    let moved = latest(&stack, PAGURE_HEAD, BUILD_CONTEXT);
    assert_eq!(moved["status"], "success", "{moved}");
    assert_eq!(moved["description"], "RPM build succeeded.");
    let asked = stack
        .forgejo
        .calls()
        .into_iter()
        .any(|call| call.path == format!("/repos/{TARGET_REPO}/commits/{PAGURE_HEAD}/pull"));
    assert!(asked, "found by commit, not by number");
    // Pagure still shows the last state it took.
    assert_eq!(
        stack
            .flag(
                "rpms/optee_os",
                2,
                "Packit-stg - scratch build - rawhide [889f07a]"
            )
            .unwrap()["status"],
        "pending"
    );

    stack.stop().await;
}

/// After the switch, a result for a commit no Forgejo pull request has cannot be shown: its
/// flag's task ends at once, saying why (not an outage of Pagure to wait out for hours).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_the_switch_a_result_without_a_forgejo_pull_request_ends_with_its_reason() {
    let stack = start(false).await;
    let task = pagure_pull_request_building(&stack).await;
    stack.pagure.remove_pull_request("rpms/optee_os", 2);
    assert!(stack.koji.start_build(task));
    assert!(stack.koji.finish_build(task, &BuildOutcome::Succeeds));
    stack.deliver_koji_messages().await;
    stack.settle().await;

    let dead = fedora_ci::db::tasks::list_by_state(&stack.store, "dead", 50)
        .await
        .unwrap();
    let reasons: Vec<String> = dead
        .iter()
        .filter(|task| task.name == "set_flag")
        .filter_map(|task| task.last_error.clone())
        .collect();
    assert!(!reasons.is_empty(), "{}", stack.state().await);
    assert!(
        reasons.iter().all(|reason| reason.contains(
            "Pagure no longer has pull request 2 of rpms/optee_os and Forgejo has no pull \
             request for commit 889f07af35d27bbcaf9c535c17a63b974aa42ee3"
        )),
        "{reasons:?}"
    );
    assert!(
        stack
            .forgejo
            .statuses(TARGET_REPO, "889f07af35d27bbcaf9c535c17a63b974aa42ee3")
            .is_empty()
    );
    stack.stop().await;
}

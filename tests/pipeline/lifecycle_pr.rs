//! See the module list in tests/pipeline.rs: re-sent pull-request events (issue #14, case 2),
//! comments while a build runs (case 3), projects disabled while their work runs (case 9).

use fedora_ci::clients::koji::TaskState;
use fedora_ci::events::TESTING_FARM_RESULTS_TOPIC;
use fedora_ci::fakes::koji::BuildOutcome;
use serde_json::json;

use crate::stack::{OPTEE, Stack, TF_TOKEN};

/// The Koji task a scratch-build flag links to.
fn task_of(stack: &Stack, project: &str, pr_id: u64, flag_name: &str) -> i64 {
    let flag = stack
        .flag(project, pr_id, flag_name)
        .unwrap_or_else(|| panic!("no flag {flag_name}: {:#?}", stack.flags(project, pr_id)));
    let url = flag["url"].as_str().unwrap();
    assert!(url.contains("taskID="), "{flag}");
    url.rsplit("taskID=").next().unwrap().parse().unwrap()
}

async fn build_succeeds(stack: &Stack, task_id: i64) {
    assert!(stack.koji.start_build(task_id));
    assert!(stack.koji.finish_build(task_id, &BuildOutcome::Succeeds));
    stack.deliver_koji_messages().await;
    stack.settle().await;
}

fn status_and_comment(stack: &Stack, project: &str, pr_id: u64, name: &str) -> (String, String) {
    let flag = stack
        .flag(project, pr_id, name)
        .unwrap_or_else(|| panic!("no flag {name}"));
    (
        flag["status"].as_str().unwrap().to_owned(),
        flag["comment"].as_str().unwrap().to_owned(),
    )
}

fn success() -> (String, String) {
    ("success".to_owned(), "RPM build succeeded.".to_owned())
}

// ----------------------------------------------------------------------------------------
// Case 2: a re-sent `updated` or `rebased` for an unchanged head

const MARSHALPARSER: &str = "https://src.fedoraproject.org/rpms/marshalparser";
const MARSHALPARSER_BUILD: &str = "Packit-stg - scratch build - f42 [f2f0413]";

/// `pagure_pr_updated.json`, for f42: the fake Koji has no f40 target.
async fn updated(stack: &Stack, title: Option<&str>) {
    stack
        .deliver_fixture("pagure_pr_updated.json", |body| {
            body["pullrequest"]["branch"] = json!("f42");
            if let Some(title) = title {
                body["pullrequest"]["title"] = json!(title);
            }
        })
        .await;
    stack.settle().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn updated_resent_for_the_same_head_leaves_a_finished_build_alone() {
    let stack = Stack::start(|config| {
        config
            .fedora_ci
            .enabled_projects
            .push(MARSHALPARSER.to_owned());
    })
    .await;
    let project = "rpms/marshalparser";
    updated(&stack, None).await;
    let task = task_of(&stack, project, 32, MARSHALPARSER_BUILD);
    build_succeeds(&stack, task).await;
    assert_eq!(
        status_and_comment(&stack, project, 32, MARSHALPARSER_BUILD),
        success()
    );

    // Pagure sends `updated` again for a description edit, a title edit and a title that
    // gains `[skip ci]`: the head is the same each time.
    let edits: [(&str, Option<&str>); 3] = [
        ("re-sent", None),
        ("title edit", Some("[f42] Update to 0.4.0, now with tests")),
        ("[skip ci] added", Some("[skip ci] [f42] Update to 0.4.0")),
    ];
    for (what, title) in edits {
        let first = stack.delivered_count();
        updated(&stack, title).await;
        assert_eq!(
            status_and_comment(&stack, project, 32, MARSHALPARSER_BUILD),
            success(),
            "{what}: the flag stays final\n{}",
            stack.state().await
        );
        assert_eq!(stack.koji_builds().len(), 1, "{what}: no second build");
        let inbound = stack.inbound_from(first).await;
        assert_eq!(inbound[0].outcome, "ignored", "{what}");
        let reason = inbound[0].reason.as_deref().unwrap_or_default();
        assert!(
            reason.contains("head unchanged") || reason.contains("[skip ci]"),
            "{what}: {reason}"
        );
    }
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rebased_with_the_same_commit_stop_leaves_a_finished_build_alone() {
    let ftp = "https://src.fedoraproject.org/rpms/ftp";
    let stack = Stack::start(|config| {
        config.fedora_ci.enabled_projects.push(ftp.to_owned());
    })
    .await;
    let project = "rpms/ftp";
    let name = "Packit-stg - scratch build - rawhide [196f3c9]";
    stack
        .deliver_fixture("pagure_pr_rebased.json", |_| {})
        .await;
    stack.settle().await;
    let task = task_of(&stack, project, 6, name);
    build_succeeds(&stack, task).await;
    assert_eq!(status_and_comment(&stack, project, 6, name), success());
    let builds = stack.koji_builds().len();

    let first = stack.delivered_count();
    stack
        .deliver_fixture("pagure_pr_rebased.json", |_| {})
        .await;
    stack.settle().await;
    assert_eq!(
        status_and_comment(&stack, project, 6, name),
        success(),
        "{}",
        stack.state().await
    );
    assert_eq!(stack.koji_builds().len(), builds, "no second build");
    let reason = stack.inbound_from(first).await[0].reason.clone();
    assert!(
        reason
            .as_deref()
            .unwrap_or_default()
            .contains("head unchanged"),
        "{reason:?}"
    );
    stack.stop().await;
}

// ----------------------------------------------------------------------------------------
// Case 3: comments while the head's build runs

const TEAMCITY: &str = "https://src.fedoraproject.org/rpms/python-teamcity-messages";
const TEAMCITY_PROJECT: &str = "rpms/python-teamcity-messages";
const TEAMCITY_BUILD: &str = "Packit-stg - scratch build - f42 [beaf90b]";

async fn teamcity_stack() -> Stack {
    let stack = Stack::start(|config| {
        config.fedora_ci.enabled_projects.push(TEAMCITY.to_owned());
    })
    .await;
    stack
        .pagure
        .set_branches(TEAMCITY_PROJECT, &["rawhide", "f42"]);
    stack
}

/// A packager's comment with its own comment id (Pagure numbers each comment), carried out.
async fn comment(stack: &Stack, comment_id: u64, text: &str) {
    deliver_comment(stack, comment_id, text).await;
    stack.settle().await;
}

/// A packager's comment, delivered; the worker carries it out meanwhile.
async fn deliver_comment(stack: &Stack, comment_id: u64, text: &str) {
    stack
        .deliver_fixture("pagure_pr_comment.json", |body| {
            let comments = body["pullrequest"]["comments"].as_array_mut().unwrap();
            let last = comments.last_mut().unwrap();
            last["comment"] = json!(text);
            last["id"] = json!(comment_id);
            last["user"]["name"] = json!("mmassari");
            body["agent"] = json!("mmassari");
            // The fixture's branch is no Koji target; f42 is.
            body["pullrequest"]["branch"] = json!("f42");
        })
        .await;
}

/// A build the service submitted for a `scratch-build` comment, now running in Koji.
async fn running_build(stack: &Stack) -> i64 {
    comment(stack, 1001, "/packit-ci-stg scratch-build").await;
    let task = task_of(stack, TEAMCITY_PROJECT, 36, TEAMCITY_BUILD);
    assert!(stack.koji.start_build(task));
    stack.deliver_koji_messages().await;
    stack.settle().await;
    assert_eq!(
        status_and_comment(stack, TEAMCITY_PROJECT, 36, TEAMCITY_BUILD).1,
        "RPM build is in progress..."
    );
    task
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_comment_while_the_build_runs_waits_for_it_and_tests_once() {
    let stack = teamcity_stack().await;
    let task = running_build(&stack).await;

    comment(&stack, 1002, "/packit-ci-stg test").await;
    comment(&stack, 1003, "/packit-ci-stg test rpminspect").await;
    assert_eq!(
        stack.koji_builds().len(),
        1,
        "the running build is tested, not built again\n{}",
        stack.state().await
    );
    assert!(
        stack.testing_farm.submitted().is_empty(),
        "not before it closes"
    );

    assert!(stack.koji.finish_build(task, &BuildOutcome::Succeeds));
    stack.deliver_koji_messages().await;
    stack.settle().await;
    let submitted = stack.testing_farm.submitted();
    assert_eq!(
        submitted.len(),
        5,
        "the five shared tests, once: {submitted:#?}"
    );
    assert_eq!(
        status_and_comment(&stack, TEAMCITY_PROJECT, 36, TEAMCITY_BUILD),
        success()
    );
    stack.stop().await;
}

/// Issue #15 item 9: packit-service cancels the running builds with `cancelTask` once per
/// build with a task (`tests/unit/test_koji_build.py::test_cancel_running_builds`, l. 650-665:
/// `cancel_task(111)`, `cancel_task(222)`), but only with `CANCEL_RUNNING_JOBS` and for every
/// commit and target of the PR; fedora-ci always, for the same commit and target
/// (docs/behaviour.md).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scratch_build_comment_while_a_build_runs_cancels_it_first() {
    let stack = teamcity_stack().await;
    let old_task = running_build(&stack).await;

    comment(&stack, 1002, "/packit-ci-stg scratch-build").await;
    let cancels: Vec<_> = stack
        .koji
        .calls()
        .into_iter()
        .filter(|call| call.call.method == "cancelTask")
        .map(|call| call.call.args[0].as_i64())
        .collect();
    assert_eq!(
        cancels,
        vec![Some(old_task)],
        "the running task is cancelled"
    );
    assert_eq!(stack.koji_builds().len(), 2, "one new build");
    let new_task = task_of(&stack, TEAMCITY_PROJECT, 36, TEAMCITY_BUILD);
    assert_ne!(new_task, old_task);

    // Koji's CANCELED message of the old task arrives late: the flag is the new build's.
    stack.deliver_koji_messages().await;
    stack.settle().await;
    assert_eq!(
        task_of(&stack, TEAMCITY_PROJECT, 36, TEAMCITY_BUILD),
        new_task
    );
    assert_eq!(
        status_and_comment(&stack, TEAMCITY_PROJECT, 36, TEAMCITY_BUILD).1,
        "RPM build was submitted ..."
    );
    build_succeeds(&stack, new_task).await;
    assert_eq!(
        status_and_comment(&stack, TEAMCITY_PROJECT, 36, TEAMCITY_BUILD),
        success()
    );
    assert_eq!(stack.testing_farm.submitted().len(), 5, "tests run once");
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_build_replaced_while_koji_takes_its_submission_has_its_task_cancelled() {
    let stack = teamcity_stack().await;
    // Every Koji call takes 3 s: the first build's submission is on its way when the second
    // `scratch-build` comment replaces it.
    stack
        .koji
        .faults()
        .set_latency(std::time::Duration::from_secs(3));
    deliver_comment(&stack, 1001, "/packit-ci-stg scratch-build").await;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    while !stack
        .koji
        .calls()
        .iter()
        .any(|call| call.call.method == "build")
    {
        assert!(tokio::time::Instant::now() < deadline, "no submission");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    comment(&stack, 1002, "/packit-ci-stg scratch-build").await;

    let builds = stack.koji_builds();
    assert_eq!(builds.len(), 2, "{builds:?}\n{}", stack.state().await);
    let cancels: Vec<_> = stack
        .koji
        .calls()
        .into_iter()
        .filter(|call| call.call.method == "cancelTask")
        .filter_map(|call| call.call.args[0].as_i64())
        .collect();
    assert_eq!(
        cancels.len(),
        1,
        "the replaced build's task, once Koji named it: {cancels:?}\n{}",
        stack.state().await
    );
    let kept = task_of(&stack, TEAMCITY_PROJECT, 36, TEAMCITY_BUILD);
    assert!(!cancels.contains(&kept), "the flag follows the new build");
    stack.deliver_koji_messages().await;
    stack.settle().await;
    assert_eq!(task_of(&stack, TEAMCITY_PROJECT, 36, TEAMCITY_BUILD), kept);
    stack.koji.faults().set_latency(std::time::Duration::ZERO);
    build_succeeds(&stack, kept).await;
    assert_eq!(
        status_and_comment(&stack, TEAMCITY_PROJECT, 36, TEAMCITY_BUILD),
        success()
    );
    assert_eq!(stack.testing_farm.submitted().len(), 5, "tests run once");
    stack.stop().await;
}

async fn notify(stack: &Stack, request_id: &str) {
    stack
        .deliver(
            TESTING_FARM_RESULTS_TOPIC,
            &json!({"request_id": request_id, "token": TF_TOKEN}),
        )
        .await;
    stack.settle().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_result_of_an_older_test_run_leaves_the_newer_runs_flag_alone() {
    let stack = teamcity_stack().await;
    let task = running_build(&stack).await;
    assert!(stack.koji.finish_build(task, &BuildOutcome::Succeeds));
    stack.deliver_koji_messages().await;
    stack.settle().await;
    let first_set = stack.testing_farm.request_ids();
    assert_eq!(first_set.len(), 5);

    // The packager retriggers the tests; the first set's installability ends later.
    comment(&stack, 1002, "/packit-ci-stg test").await;
    let all = stack.testing_farm.request_ids();
    assert_eq!(all.len(), 10, "a second set on the same build");
    let name = "Packit-stg - installability - f42 [beaf90b]";
    assert_eq!(
        status_and_comment(&stack, TEAMCITY_PROJECT, 36, name).1,
        "Tests have been submitted ..."
    );
    let old_installability = stack
        .testing_farm
        .submitted()
        .iter()
        .zip(&all)
        .find(|(request, _)| {
            request["test"]["tmt"]["url"]
                .as_str()
                .is_some_and(|url| url.contains("installability"))
        })
        .map(|(_, id)| id.clone())
        .unwrap();
    assert!(first_set.contains(&old_installability));
    while stack
        .testing_farm
        .advance(&old_installability, "failed")
        .await
        .is_some_and(|state| state != "complete")
    {}
    notify(&stack, &old_installability).await;
    assert_eq!(
        status_and_comment(&stack, TEAMCITY_PROJECT, 36, name),
        (
            "pending".to_owned(),
            "Tests have been submitted ...".to_owned()
        ),
        "the newer run owns the flag\n{}",
        stack.state().await
    );
    stack.stop().await;
}

/// Waits (real time, bounded) until the messages delivered from number `first` on are
/// planned, without waiting for the work they planned.
async fn planned(stack: &Stack, first: usize) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    while stack
        .inbound_from(first)
        .await
        .iter()
        .any(|row| row.outcome == "pending")
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "messages not planned"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_comment_before_the_pushs_build_is_recorded_builds_once() {
    // Pagure's outage is retried after 30 s of service time: 6 s here.
    let stack = Stack::start(|config| {
        config
            .fedora_ci
            .enabled_projects
            .push(MARSHALPARSER.to_owned());
        config.worker.time_scale = 5.0;
    })
    .await;
    // The push's build task finds Pagure unavailable at its first look for dead.package, so
    // its build row is not recorded yet when the packager's comment comes.
    stack.pagure.faults().fail_next(
        "/fork/lbalhar/rpms/marshalparser/raw/f2f041328d629719c5ff31a08e800638d5df497f/f/dead.package",
        503,
    );
    let first = stack.delivered_count();
    let mut body = stack
        .deliver_fixture("pagure_pr_updated.json", |body| {
            body["pullrequest"]["branch"] = json!("f42");
        })
        .await;
    planned(&stack, first).await;
    body["agent"] = json!("mmassari");
    body["pullrequest"]["comments"] = json!([{
        "id": 2001, "comment": "/packit-ci-stg test", "date_created": "1731000000",
        "user": {"name": "mmassari"},
    }]);
    stack
        .deliver(
            "org.fedoraproject.prod.pagure.pull-request.comment.added",
            &body,
        )
        .await;
    stack.settle().await;
    assert_eq!(
        stack.koji_builds().len(),
        1,
        "the push's build is the one tested\n{}",
        stack.state().await
    );
    let task = task_of(&stack, "rpms/marshalparser", 32, MARSHALPARSER_BUILD);
    build_succeeds(&stack, task).await;
    assert_eq!(stack.koji_builds().len(), 1);
    assert_eq!(stack.testing_farm.submitted().len(), 5, "every test, once");
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_name_before_a_comments_build_is_submitted_waits_for_it_and_runs_every_test() {
    // Real time: Pagure's outage is retried after 30 s, unless the test runs it sooner.
    let stack = teamcity_stack().await;
    // The `scratch-build` comment's build task finds Pagure unavailable at its first look for
    // dead.package (the client's four tries): it has not called Koji yet when the packager
    // names one test.
    for _ in 0..4 {
        stack.pagure.faults().fail_next(
            "/rpms/python-teamcity-messages/raw/beaf90bcecc51968a46663f8d6f092bfdc92e682/f/dead.package",
            503,
        );
    }
    comment(&stack, 1001, "/packit-ci-stg scratch-build").await;
    assert!(stack.koji_builds().is_empty(), "waiting for Pagure");
    comment(&stack, 1002, "/packit-ci-stg test rpmlint").await;
    stack.run_delayed_tasks_now().await;
    stack.settle().await;
    assert_eq!(
        stack.koji_builds().len(),
        1,
        "the comment's planned build is the one tested, not a second build\n{}",
        stack.state().await
    );
    let task = task_of(&stack, TEAMCITY_PROJECT, 36, TEAMCITY_BUILD);
    build_succeeds(&stack, task).await;
    assert_eq!(stack.koji_builds().len(), 1);
    let tests: Vec<_> = [
        "installability",
        "rpminspect",
        "rpmlint",
        "rmdepcheck",
        "license-validate",
    ]
    .into_iter()
    .filter(|test| {
        stack
            .flag(
                TEAMCITY_PROJECT,
                36,
                &format!("Packit-stg - {test} - f42 [beaf90b]"),
            )
            .is_some()
    })
    .collect();
    assert_eq!(
        tests.len(),
        5,
        "the build the scratch-build comment asked for runs every test: only {tests:?}\n{}",
        stack.state().await
    );
    assert_eq!(stack.testing_farm.submitted().len(), 5, "every test, once");
    stack.stop().await;
}

/// A packager's comment on marshalparser's PR (`pagure_pr_updated.json` on f42), as Pagure
/// sends it when the comment is added.
async fn marshalparser_comment(stack: &Stack, comment_id: u64, text: &str) {
    let fixture = crate::clients_support::read_fixture("packit-service/pagure_pr_updated.json");
    let mut body = fixture.get("body").cloned().unwrap_or(fixture);
    body["pullrequest"]["branch"] = json!("f42");
    body["agent"] = json!("mmassari");
    body["pullrequest"]["comments"] = json!([{
        "id": comment_id, "comment": text, "date_created": "1731000000",
        "user": {"name": "mmassari"},
    }]);
    stack.pagure.add_pull_request(body["pullrequest"].clone());
    stack
        .deliver(
            "org.fedoraproject.prod.pagure.pull-request.comment.added",
            &body,
        )
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_processed_after_a_comments_build_of_its_head_builds_no_second_time() {
    let stack = Stack::start(|config| {
        config
            .fedora_ci
            .enabled_projects
            .push(MARSHALPARSER.to_owned());
    })
    .await;
    // Messages are not always processed in order: the comment comes first.
    marshalparser_comment(&stack, 2001, "/packit-ci-stg test rpminspect").await;
    stack.settle().await;
    assert_eq!(stack.koji_builds().len(), 1);
    let task = task_of(&stack, "rpms/marshalparser", 32, MARSHALPARSER_BUILD);

    updated(&stack, None).await;
    assert_eq!(
        stack.koji_builds().len(),
        1,
        "the comment's build is the push's\n{}",
        stack.state().await
    );
    assert_eq!(
        status_and_comment(&stack, "rpms/marshalparser", 32, MARSHALPARSER_BUILD).1,
        "RPM build was submitted ...",
        "no step back to queued"
    );
    build_succeeds(&stack, task).await;
    assert_eq!(
        stack.testing_farm.submitted().len(),
        5,
        "the push asks for every test"
    );
    stack.stop().await;
}

// ----------------------------------------------------------------------------------------
// Case 9: a project disabled while its build runs

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_of_a_project_disabled_after_submission_are_not_processed() {
    let mut stack = Stack::with_pr_opened().await;
    let name = "Packit-stg - scratch build - rawhide [889f07a]";
    let task = task_of(&stack, "rpms/optee_os", 2, name);
    let before = status_and_comment(&stack, "rpms/optee_os", 2, name);
    assert_eq!(before.1, "RPM build was submitted ...");

    stack
        .reconfigure(|config| config.fedora_ci.enabled_projects.retain(|url| url != OPTEE))
        .await;
    let first = stack.delivered_count();
    build_succeeds(&stack, task).await;

    assert_eq!(
        status_and_comment(&stack, "rpms/optee_os", 2, name),
        before,
        "{}",
        stack.state().await
    );
    assert!(stack.testing_farm.submitted().is_empty(), "no tests start");
    let inbound = stack.inbound_from(first).await;
    assert!(!inbound.is_empty());
    let of_task: Vec<_> = inbound
        .iter()
        .filter(|row| row.body.contains(&format!("\"id\":{task},")))
        .collect();
    assert!(
        !of_task.is_empty(),
        "no message of task {task}: {inbound:#?}"
    );
    for row in of_task {
        assert_eq!(row.outcome, "ignored", "{row:?}");
        let reason = row.reason.as_deref().unwrap_or_default();
        assert!(
            reason.contains(&format!("Fedora CI is no longer enabled for {OPTEE}")),
            "{reason}"
        );
    }
    stack.stop().await;
}

// ----------------------------------------------------------------------------------------
// Invariant (e) for comments: the same comment (same Pagure comment id) delivered again under
// a new message id is carried out once; a comment acts on the PR's head as it is now.

/// The python-teamcity-messages PR of `pagure_pr_comment.json` (on f42) at `head`.
fn teamcity_pull_request(head: &str) -> serde_json::Value {
    let fixture = crate::clients_support::read_fixture("packit-service/pagure_pr_comment.json");
    let body = fixture.get("body").cloned().unwrap_or(fixture);
    let mut pull_request = body["pullrequest"].clone();
    pull_request["branch"] = json!("f42");
    pull_request["commit_stop"] = json!(head);
    pull_request
}

/// A packager's comment written while `head` was the PR's head; every call is a new bus
/// message, as a redelivery of the same comment is.
async fn comment_on(stack: &Stack, comment_id: u64, text: &str, head: &str) {
    let pull_request = teamcity_pull_request(head);
    stack
        .deliver_fixture("pagure_pr_comment.json", |body| {
            body["pullrequest"] = pull_request;
            body["pullrequest"]["comments"] = json!([{
                "id": comment_id, "comment": text, "date_created": "1731000000",
                "user": {"name": "mmassari"},
            }]);
            body["agent"] = json!("mmassari");
        })
        .await;
    stack.settle().await;
}

const TEAMCITY_HEAD: &str = "beaf90bcecc51968a46663f8d6f092bfdc92e682";
const TEAMCITY_NEW_HEAD: &str = "5c0ffee5c0ffee5c0ffee5c0ffee5c0ffee5c0ff";
const TEAMCITY_NEW_BUILD: &str = "Packit-stg - scratch build - f42 [5c0ffee]";

fn assert_handled_already(inbound: &[fedora_ci::db::inbound::InboundRow], comment_id: u64) {
    assert_eq!(inbound.len(), 1, "{inbound:#?}");
    assert_eq!(inbound[0].outcome, "ignored", "{:?}", inbound[0]);
    let reason = inbound[0].reason.as_deref().unwrap_or_default();
    assert!(
        reason.contains(&format!("comment {comment_id} was handled already")),
        "{reason}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scratch_build_comment_delivered_again_is_carried_out_once() {
    let stack = teamcity_stack().await;
    let task = running_build(&stack).await;
    let before = status_and_comment(&stack, TEAMCITY_PROJECT, 36, TEAMCITY_BUILD);

    let first = stack.delivered_count();
    comment_on(&stack, 1001, "/packit-ci-stg scratch-build", TEAMCITY_HEAD).await;

    assert_handled_already(&stack.inbound_from(first).await, 1001);
    assert_eq!(
        status_and_comment(&stack, TEAMCITY_PROJECT, 36, TEAMCITY_BUILD),
        before,
        "{}",
        stack.state().await
    );
    assert_eq!(stack.koji_builds().len(), 1, "no second build");
    assert_ne!(stack.koji.task_state(task), Some(TaskState::Canceled));
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_comment_after_a_push_acts_on_the_new_head_and_leaves_the_old_one_canceled() {
    let stack = teamcity_stack().await;
    running_build(&stack).await;
    // The push: the running build of the old head is canceled with its flag.
    let pushed = teamcity_pull_request(TEAMCITY_NEW_HEAD);
    stack
        .deliver_fixture("pagure_pr_rebased.json", |body| {
            body["pullrequest"] = pushed;
        })
        .await;
    stack.settle().await;
    let superseded = status_and_comment(&stack, TEAMCITY_PROJECT, 36, TEAMCITY_BUILD);
    assert_eq!(superseded.0, "canceled", "{}", stack.state().await);
    let new_task = task_of(&stack, TEAMCITY_PROJECT, 36, TEAMCITY_NEW_BUILD);
    assert!(stack.koji.start_build(new_task));
    stack.deliver_koji_messages().await;
    stack.settle().await;
    let builds = stack.koji_builds().len();

    // The comment of before the push, delivered again: nothing happens.
    let first = stack.delivered_count();
    comment_on(&stack, 1001, "/packit-ci-stg scratch-build", TEAMCITY_HEAD).await;
    assert_handled_already(&stack.inbound_from(first).await, 1001);
    assert_eq!(
        status_and_comment(&stack, TEAMCITY_PROJECT, 36, TEAMCITY_BUILD),
        superseded,
        "{}",
        stack.state().await
    );
    assert_eq!(
        status_and_comment(&stack, TEAMCITY_PROJECT, 36, TEAMCITY_NEW_BUILD).1,
        "RPM build is in progress..."
    );
    assert_eq!(stack.koji_builds().len(), builds, "no build");

    // A new comment written before the push and arriving after it: the packager asked for
    // the pull request as it is, so the new head is built again and the old one left alone.
    comment_on(&stack, 1002, "/packit-ci-stg scratch-build", TEAMCITY_HEAD).await;
    assert_eq!(
        status_and_comment(&stack, TEAMCITY_PROJECT, 36, TEAMCITY_BUILD),
        superseded,
        "{}",
        stack.state().await
    );
    let all = stack.koji_builds();
    assert_eq!(all.len(), builds + 1, "{all:?}");
    let (source, _) = all.last().unwrap();
    assert!(source.contains(TEAMCITY_NEW_HEAD), "{source}");
    assert_eq!(
        stack.koji.task_state(new_task),
        Some(TaskState::Canceled),
        "the head's running build is replaced"
    );
    stack.stop().await;
}

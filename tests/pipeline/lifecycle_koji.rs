//! State from the source of truth (Koji's hub, Log Detective's records), Koji sessions the hub
//! forgot, and Log Detective analyses submitted once per arch under faults (issue #14, cases
//! 4, 7 and 8).

use fedora_ci::fakes::koji::BuildOutcome;
use fedora_ci::fakes::koji::TASK_STATE_CHANGE_TOPIC;
use serde_json::json;

use crate::builds::{RAWHIDE_BUILD, task_id_of};
use crate::stack::Stack;

const TEAMCITY: &str = "https://src.fedoraproject.org/rpms/python-teamcity-messages";
const TEAMCITY_PROJECT: &str = "rpms/python-teamcity-messages";
const TEAMCITY_F42_BUILD: &str = "Packit-stg - scratch build - f42 [beaf90b]";

/// A `scratch-build` comment by a packager on python-teamcity-messages PR 36 (branch f42),
/// with its own comment id so that each one is a new trigger.
async fn scratch_build_comment(stack: &Stack, comment_id: u64) {
    stack
        .deliver_fixture("pagure_pr_comment.json", |body| {
            let comments = body["pullrequest"]["comments"].as_array_mut().unwrap();
            let last = comments.last_mut().unwrap();
            last["comment"] = json!("/packit-ci-stg scratch-build");
            last["user"]["name"] = json!("mmassari");
            last["id"] = json!(comment_id);
            body["agent"] = json!("mmassari");
            body["pullrequest"]["branch"] = json!("f42");
        })
        .await;
    stack.settle().await;
}

/// Case 4: the hub forgets the worker's session (fault 1002, "Invalid session or bad
/// credentials"); the next build logs in again once and is submitted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_the_hub_forgot_is_replaced_by_one_new_login() {
    let stack = Stack::start(|config| {
        config.fedora_ci.enabled_projects.push(TEAMCITY.to_owned());
    })
    .await;
    stack
        .pagure
        .set_branches(TEAMCITY_PROJECT, &["rawhide", "f42"]);
    scratch_build_comment(&stack, 900_001).await;
    assert_eq!(stack.koji.builds().len(), 1, "{}", stack.state().await);
    assert_eq!(stack.koji.logins(), 1);

    stack.koji.forget_sessions();
    scratch_build_comment(&stack, 900_002).await;

    assert_eq!(
        stack.koji.builds().len(),
        2,
        "the second build reached Koji\n{}",
        stack.state().await
    );
    assert_eq!(stack.koji.logins(), 2, "exactly one new login");
    let flag = stack
        .flag(TEAMCITY_PROJECT, 36, TEAMCITY_F42_BUILD)
        .unwrap();
    assert_eq!(flag["comment"], "RPM build was submitted ...", "{flag}");
    stack.stop().await;
}

/// Case 7: a message claims FAILED (with a failed arch) for a task the hub reports CLOSED.
/// The hub is believed: the build succeeded, its tests start, no Log Detective analysis.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_state_message_is_checked_against_the_hub() {
    let stack = Stack::with_pr_opened().await;
    let task_id = task_id_of(&stack, "rawhide");
    assert!(stack.koji.start_build(task_id));
    assert!(stack.koji.finish_build(task_id, &BuildOutcome::Succeeds));
    let closed = stack
        .koji
        .messages()
        .into_iter()
        .rev()
        .find(|message| message.body["id"] == task_id && message.body["new"] == "CLOSED")
        .unwrap();
    let mut forged = closed.body.clone();
    forged["new"] = json!("FAILED");
    forged["info"]["state"] = json!(5);
    for child in forged["info"]["children"].as_array_mut().unwrap() {
        if child["method"] == "buildArch" {
            child["state"] = json!(5);
        }
    }
    stack.deliver(TASK_STATE_CHANGE_TOPIC, &forged).await;
    stack.settle().await;

    let flag = stack.flag("rpms/optee_os", 2, RAWHIDE_BUILD).unwrap();
    assert_eq!(
        (flag["status"].as_str(), flag["comment"].as_str()),
        (Some("success"), Some("RPM build succeeded.")),
        "{}",
        stack.state().await
    );
    assert!(
        stack.log_detective.calls().is_empty(),
        "no analysis of a build that did not fail: {:?}",
        stack.log_detective.calls()
    );
    assert!(
        !stack.testing_farm.submitted().is_empty(),
        "the tests of the successful build start"
    );
    stack.stop().await;
}

/// Case 7: while the hub cannot be reached, the message is not trusted: the report is retried
/// and applied once the hub answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_state_waits_for_the_hub_when_it_is_unreachable() {
    let stack = Stack::with_pr_opened().await;
    let task_id = task_id_of(&stack, "rawhide");
    assert!(stack.koji.start_build(task_id));
    assert!(
        stack
            .koji
            .finish_build(task_id, &BuildOutcome::FailsOnArch("aarch64".into()))
    );
    // More failures than the client's quick attempts: the reports fail as a whole, and the
    // queue waits the Koji outage out.
    for _ in 0..8 {
        stack.koji.faults().fail_next(
            "getTaskInfo",
            fedora_ci::fakes::koji::KojiFailure::HttpStatus(503),
        );
    }
    stack.deliver_koji_messages().await;
    stack.settle().await;
    let flag = stack.flag("rpms/optee_os", 2, RAWHIDE_BUILD).unwrap();
    assert_ne!(
        flag["status"], "failure",
        "the message alone failed the build"
    );
    assert!(stack.log_detective.calls().is_empty());
    let waiting = fedora_ci::db::tasks::list_by_state(&stack.store, "pending", 50)
        .await
        .unwrap();
    assert!(
        waiting
            .iter()
            .any(|task| task.name == "run_downstream_koji_scratch_build_report_handler"),
        "the report waits for the hub: {waiting:?}"
    );

    // The hub is back; the waiting reports run now rather than after the outage backoff.
    stack.run_delayed_tasks_now().await;
    stack.settle().await;
    let flag = stack.flag("rpms/optee_os", 2, RAWHIDE_BUILD).unwrap();
    assert_eq!(flag["status"], "failure", "{}", stack.state().await);
    assert_eq!(stack.log_detective.calls().len(), 1);
    stack.stop().await;
}

/// Case 8: three arches fail; Log Detective's answer to the second submission is an error.
/// After the retry every arch is analysed exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_detective_analyses_every_failed_arch_once_across_a_retry() {
    let stack = Stack::start(|config| {
        config.worker.submission_retry_seconds = 1;
    })
    .await;
    stack.koji.set_arches(&["x86_64", "aarch64", "ppc64le"]);
    stack
        .pagure
        .set_branches("rpms/optee_os", &["rawhide", "eln"]);
    stack.deliver_fixture("pagure_pr_new.json", |_| {}).await;
    stack.settle().await;
    let task_id = task_id_of(&stack, "rawhide");
    assert!(stack.koji.start_build(task_id));
    let arches = ["x86_64", "aarch64", "ppc64le"].map(String::from).to_vec();
    assert!(
        stack
            .koji
            .finish_build(task_id, &BuildOutcome::FailsOnArches(arches))
    );
    // The first analysis starts; the second is refused by a server error; the retry does the rest.
    stack.log_detective.fail_analysis_number(2, 500);
    stack.deliver_koji_messages().await;
    stack.settle().await;
    wait_for_analyses(&stack, 3).await;

    let accepted: Vec<String> = stack
        .log_detective
        .calls()
        .iter()
        .filter(|call| call.analysis_id.is_some())
        .map(|call| call.body["target_build"].as_str().unwrap().to_owned())
        .collect();
    let mut unique = accepted.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(
        (accepted.len(), unique.len()),
        (3, 3),
        "each arch analysed exactly once: {accepted:?}\n{}",
        stack.state().await
    );
    for arch in ["x86_64", "aarch64", "ppc64le"] {
        let name = format!("Packit-stg - Log Detective analysis - rawhide-{arch} [889f07a]");
        let flag = stack.flag("rpms/optee_os", 2, &name);
        assert!(flag.is_some(), "{name}\n{}", stack.state().await);
    }
    // The arches started by the retry join the group of the first: one group per failed-build
    // report, as packit-service's trigger helper makes it (`packit_service/worker/helpers/
    // logdetective.py:162-183`; `tests/integration/test_logdetective_koji.py` expects one
    // `LogDetectiveRunGroupModel.create` for several failed arches).
    let fedora_ci::db::Store::Postgres(pool) = &stack.store else {
        panic!("the pipeline tests run on PostgreSQL");
    };
    let (groups, runs): (i64, i64) = sqlx::query_as(
        "SELECT COUNT(DISTINCT log_detective_run_group_id), COUNT(*) FROM log_detective_run",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!((groups, runs), (1, 3), "{}", stack.state().await);
    stack.stop().await;
}

async fn wait_for_analyses(stack: &Stack, wanted: usize) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    while stack
        .log_detective
        .calls()
        .iter()
        .filter(|call| call.analysis_id.is_some())
        .count()
        < wanted
        && tokio::time::Instant::now() < deadline
    {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        stack.settle().await;
    }
}

/// Case 7, Log Detective's side: its API cannot be asked for a result, so the message is
/// used, but only for an analysis we started and only once: a later message that contradicts
/// a finished analysis changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finished_analysis_is_not_changed_by_a_later_contradicting_message() {
    let stack = Stack::with_pr_opened().await;
    let task_id = task_id_of(&stack, "rawhide");
    assert!(stack.koji.start_build(task_id));
    assert!(
        stack
            .koji
            .finish_build(task_id, &BuildOutcome::FailsOnArch("aarch64".into()))
    );
    stack.deliver_koji_messages().await;
    stack.settle().await;
    let analyses = stack.log_detective.calls();
    assert_eq!(analyses.len(), 1, "{analyses:?}");
    let analysis_id = analyses[0].analysis_id.clone().unwrap();

    stack
        .deliver_fixture("logdetective_analysis_result.json", |body| {
            body["log_detective_analysis_id"] = json!(analysis_id);
        })
        .await;
    stack.settle().await;
    stack
        .deliver_fixture("logdetective_analysis_result_error.json", |body| {
            body["log_detective_analysis_id"] = json!(analysis_id);
        })
        .await;
    stack.settle().await;

    let name = "Packit-stg - Log Detective analysis - rawhide-aarch64 [889f07a]";
    let flag = stack.flag("rpms/optee_os", 2, name).unwrap();
    assert_eq!(
        (flag["status"].as_str(), flag["comment"].as_str()),
        (
            Some("success"),
            Some("Log Detective analysis status: complete")
        ),
        "{}",
        stack.state().await
    );
    stack.stop().await;
}

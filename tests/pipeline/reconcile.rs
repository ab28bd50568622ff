//! Submissions that must not happen twice: a worker that dies after Koji or Testing Farm
//! accepted a submission and before it recorded the answer must not submit it again when the
//! queue retries the task; it finds the earlier submission and adopts it.
//!
//! The crash is a failing commit: a trigger makes the first transaction that records the
//! task (or request) id fail, after the fake accepted the call, exactly as a worker killed
//! before its commit leaves the database; the queue then retries the task.

use fedora_ci::db::runs;
use fedora_ci::fakes::koji::{BuildOutcome, KojiFailure};

use crate::builds::{FORK_SOURCE, task_id_of};
use crate::stack::Stack;
use crate::tests_and_results::{
    open_tests_namespace_pull_request, start_with_tests_namespace_project,
};

const FIRST_TASK: i64 = 140_000_000;
const SERVER_OFFLINE: i32 = 1014;

/// The first update of `table` that sets `id_column` fails, as if the worker died before its
/// commit. A sequence counts the attempts: unlike a table, it keeps counting when the failing
/// transaction rolls back.
async fn crash_before_recording(stack: &Stack, table: &str, id_column: &str) {
    let statements = [
        "CREATE SEQUENCE recording_attempts".to_owned(),
        format!(
            "CREATE FUNCTION crash_before_recording() RETURNS trigger LANGUAGE plpgsql AS $$ \
             BEGIN \
               IF NEW.{id_column} IS NOT NULL AND OLD.{id_column} IS NULL \
                  AND nextval('recording_attempts') = 1 THEN \
                 RAISE EXCEPTION 'worker killed before it recorded %', NEW.{id_column}; \
               END IF; \
               RETURN NEW; \
             END $$"
        ),
        format!(
            "CREATE TRIGGER crash_before_recording BEFORE UPDATE ON {table} \
             FOR EACH ROW EXECUTE FUNCTION crash_before_recording()"
        ),
    ];
    for statement in statements {
        sqlx::query(sqlx::AssertSqlSafe(statement))
            .execute(stack.pg_pool())
            .await
            .unwrap();
    }
}

/// How many transactions tried to record an id (the first one failed).
async fn recording_attempts(stack: &Stack) -> i64 {
    sqlx::query_scalar(
        "SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM recording_attempts",
    )
    .fetch_one(stack.pg_pool())
    .await
    .unwrap()
}

fn koji_calls(stack: &Stack, method: &str) -> usize {
    stack
        .koji
        .calls()
        .iter()
        .filter(|call| call.call.method == method)
        .count()
}

/// A rawhide PR of optee_os, which has an eln branch: one scratch build, for rawhide.
async fn open_pull_request(stack: &Stack) {
    stack
        .pagure
        .set_branches("rpms/optee_os", &["rawhide", "eln"]);
    stack.deliver_fixture("pagure_pr_new.json", |_| {}).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_build_koji_accepted_before_the_worker_died_is_adopted_not_submitted_again() {
    let stack = Stack::start(|_| {}).await;
    crash_before_recording(&stack, "koji_build_targets", "task_id").await;
    open_pull_request(&stack).await;
    stack.settle().await;

    assert_eq!(
        recording_attempts(&stack).await,
        2,
        "the first attempt died before its commit, the retry recorded the task\n{}",
        stack.state().await
    );
    assert_eq!(
        stack.koji_builds(),
        vec![(FORK_SOURCE.to_owned(), "rawhide".to_owned())],
        "Koji got exactly one build"
    );
    assert_eq!(
        stack.koji.task_state(FIRST_TASK + 1),
        None,
        "no second task"
    );
    assert_eq!(
        koji_calls(&stack, "listTasks"),
        1,
        "the retry asked Koji first"
    );
    assert_eq!(task_id_of(&stack, "rawhide"), FIRST_TASK);
    let build = runs::koji_build_by_task_id(&stack.store, FIRST_TASK)
        .await
        .unwrap()
        .expect("the row adopted the task");
    // A submitted build stays `pending` until Koji reports OPEN, as in packit-service.
    assert_eq!(build.status, "pending");
    assert!(
        build.data_str("submission_started_at").is_some(),
        "{build:?}"
    );
    stack.stop().await;
}

/// Waits until the first attempt has failed to record its id.
async fn wait_for_the_crash(stack: &Stack) {
    crate::common::wait_for(std::time::Duration::from_secs(30), || async {
        Ok((recording_attempts(stack).await >= 1).then_some(()))
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_adopted_build_that_finished_meanwhile_is_reported_as_finished() {
    let stack = Stack::start(|_| {}).await;
    crash_before_recording(&stack, "koji_build_targets", "task_id").await;
    open_pull_request(&stack).await;
    wait_for_the_crash(&stack).await;
    // The build runs and ends while no row knows it: its messages are never delivered, as
    // they would have found no build.
    assert!(stack.koji.start_build(FIRST_TASK));
    assert!(stack.koji.finish_build(FIRST_TASK, &BuildOutcome::Succeeds));
    stack.settle().await;

    assert_eq!(recording_attempts(&stack).await, 2);
    assert_eq!(stack.koji_builds().len(), 1);
    let flag = stack
        .flag("rpms/optee_os", 2, crate::builds::RAWHIDE_BUILD)
        .unwrap();
    assert_eq!(flag["comment"], "RPM build succeeded.", "{flag}");
    let build = runs::koji_build_by_task_id(&stack.store, FIRST_TASK)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(build.status, "success");
    assert!(build.build_logs_urls.is_some(), "{build:?}");
    assert!(
        !stack.testing_farm.submitted().is_empty(),
        "the tests of the finished build started"
    );
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_build_that_never_reached_koji_is_submitted_once_after_asking() {
    let stack = Stack::start(|_| {}).await;
    // Every try of the client's own retries finds the hub offline: no task is created, and
    // the handler schedules its retry.
    for _ in 0..4 {
        stack.koji.faults().fail_next(
            "build",
            KojiFailure::Fault {
                code: SERVER_OFFLINE,
                text: "server is offline".into(),
            },
        );
    }
    open_pull_request(&stack).await;
    stack.settle().await;
    assert_eq!(koji_calls(&stack, "build"), 4);
    assert_eq!(
        stack.koji.task_state(FIRST_TASK),
        None,
        "Koji created nothing"
    );
    let flag = stack
        .flag("rpms/optee_os", 2, crate::builds::RAWHIDE_BUILD)
        .unwrap();
    assert!(
        flag["comment"]
            .as_str()
            .unwrap()
            .starts_with("Koji is unavailable; retrying, next try in"),
        "{flag}"
    );

    stack.run_delayed_tasks_now().await;
    stack.settle().await;
    let calls = stack.koji.calls();
    let build_calls: Vec<&str> = calls
        .iter()
        .map(|call| call.call.method.as_str())
        .filter(|method| matches!(*method, "build" | "listTasks"))
        .collect();
    assert_eq!(
        build_calls,
        ["build", "build", "build", "build", "listTasks", "build"],
        "the retry asked Koji, found nothing, and submitted"
    );
    assert_eq!(
        stack.koji.task_state(FIRST_TASK + 1),
        None,
        "exactly one task"
    );
    assert_eq!(task_id_of(&stack, "rawhide"), FIRST_TASK);
    let build = runs::koji_build_by_task_id(&stack.store, FIRST_TASK)
        .await
        .unwrap()
        .unwrap();
    // A submitted build stays `pending` until Koji reports OPEN, as in packit-service.
    assert_eq!(build.status, "pending");
    stack.stop().await;
}

const CUSTOM_TESTS: &str = "Packit-stg - custom - rawhide [889f07a]";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_testing_farm_accepted_before_the_worker_died_is_adopted_not_submitted_again() {
    let stack = start_with_tests_namespace_project().await;
    crash_before_recording(&stack, "tft_test_run_targets", "pipeline_id").await;
    open_tests_namespace_pull_request(&stack).await;
    stack.settle().await;

    assert_eq!(
        recording_attempts(&stack).await,
        2,
        "the first attempt died before its commit, the retry recorded the request\n{}",
        stack.state().await
    );
    assert_eq!(
        stack.testing_farm.submitted().len(),
        1,
        "one POST /requests"
    );
    let requests = stack.testing_farm.request_ids();
    assert_eq!(requests.len(), 1);
    let run = runs::test_run_by_request_id(&stack.store, &requests[0])
        .await
        .unwrap()
        .expect("the run adopted the request");
    assert_eq!(run.status, "queued");
    assert!(run.data_str("submission_started_at").is_some(), "{run:?}");
    let flag = stack.flag("tests/selinux", 2, CUSTOM_TESTS).unwrap();
    assert_eq!(flag["comment"], "Tests have been submitted ...");
    // No dashboard configured: the fallback link, not a guessed artifacts URL.
    assert_eq!(
        flag["url"],
        fedora_ci::handlers::report::fallback_url(&stack.config)
    );
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_that_never_reached_testing_farm_is_submitted_once_after_asking() {
    let stack = start_with_tests_namespace_project().await;
    stack.testing_farm.faults().fail_next("submit", 503);
    open_tests_namespace_pull_request(&stack).await;
    stack.settle().await;
    assert_eq!(stack.testing_farm.submitted().len(), 1);
    assert!(
        stack.testing_farm.request_ids().is_empty(),
        "nothing created"
    );
    let flag = stack.flag("tests/selinux", 2, CUSTOM_TESTS).unwrap();
    assert!(
        flag["comment"]
            .as_str()
            .unwrap()
            .starts_with("Testing Farm is unavailable; retrying, next try in"),
        "{flag}"
    );

    assert!(
        stack.testing_farm.listings().is_empty(),
        "nothing to ask yet"
    );

    stack.run_delayed_tasks_now().await;
    stack.settle().await;
    let states: Vec<String> = stack
        .testing_farm
        .listings()
        .iter()
        .map(|query| query["state"].clone())
        .collect();
    assert_eq!(
        states,
        ["new", "queued", "running", "complete", "error", "canceled"],
        "the retry asked Testing Farm first"
    );
    assert_eq!(stack.testing_farm.submitted().len(), 2, "submitted again");
    let requests = stack.testing_farm.request_ids();
    assert_eq!(requests.len(), 1, "exactly one request");
    let run = runs::test_run_by_request_id(&stack.store, &requests[0])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(run.status, "queued");
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_adopted_request_that_finished_meanwhile_is_reported_as_finished() {
    let stack = start_with_tests_namespace_project().await;
    crash_before_recording(&stack, "tft_test_run_targets", "pipeline_id").await;
    open_tests_namespace_pull_request(&stack).await;
    wait_for_the_crash(&stack).await;
    let requests = stack.testing_farm.request_ids();
    assert_eq!(requests.len(), 1);
    // The request runs and passes while no run knows it (its webhook notifications go to a
    // host that does not exist, as they would have found no run).
    for _ in 0..3 {
        stack.testing_farm.advance(&requests[0], "passed").await;
    }
    stack.settle().await;

    assert_eq!(recording_attempts(&stack).await, 2);
    assert_eq!(stack.testing_farm.submitted().len(), 1);
    let run = runs::test_run_by_request_id(&stack.store, &requests[0])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(run.status, "passed");
    let flag = stack.flag("tests/selinux", 2, CUSTOM_TESTS).unwrap();
    assert_eq!(flag["comment"], "Tests passed ...", "{flag}");
    stack.stop().await;
}

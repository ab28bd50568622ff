//! Issue #14, cases 1, 5 and 6: outages longer than the queue's generic retries are waited
//! out (and shown on the flag), whatever gives up ends its checks with a final error flag,
//! one flag post is in flight per flag, and the reconciler ends checks nothing can finish.
//!
//! Service time runs faster than real time here (`worker.time_scale`), so that hours of
//! outage pass in seconds; nothing sleeps for long.

use std::time::Duration;

use fedora_ci::context::Context;
use fedora_ci::db::flags;
use fedora_ci::fakes::koji::BuildOutcome;
use fedora_ci::handlers::report::SetFlag;
use fedora_ci::tasks::BackgroundTask as _;

use crate::builds::{ELN_BUILD, RAWHIDE_BUILD, task_id_of};
use crate::stack::Stack;

const PROJECT: &str = "rpms/optee_os";

async fn open_pr(stack: &Stack) {
    stack.pagure.set_branches(PROJECT, &["rawhide", "eln"]);
    stack.deliver_fixture("pagure_pr_new.json", |_| {}).await;
}

/// Waits (real time, bounded) until Pagure shows the flag `username` with `status`.
async fn wait_for_flag(stack: &Stack, username: &str, status: &str) -> serde_json::Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(flag) = stack.flag(PROJECT, 2, username)
            && flag["status"] == status
        {
            return flag;
        }
        if tokio::time::Instant::now() > deadline {
            panic!(
                "flag {username} never became {status}: {:?}\n{}",
                stack.flag(PROJECT, 2, username),
                stack.state().await
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits (real time, bounded) until some wanted flag's comment starts with `text`; the
/// clients' own retries (seconds of real time) come first.
async fn wait_for_wanted(stack: &Stack, text: &str) -> flags::Flag {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let all = flags::of_pull_request(&stack.store, 1)
            .await
            .unwrap()
            .into_iter()
            .chain(flags::of_pull_request(&stack.store, 2).await.unwrap());
        if let Some(flag) = all.into_iter().find(|flag| flag.comment.starts_with(text)) {
            return flag;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("no flag says {text:?}\n{}", stack.state().await);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn flag_posts(stack: &Stack) -> usize {
    stack
        .pagure
        .calls()
        .iter()
        .filter(|call| call.method == "POST" && call.path.ends_with("/flag"))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pagure_down_for_100_seconds_at_pr_open_still_builds() {
    // 100 s of service time per real second.
    let stack = Stack::start(|config| config.worker.time_scale = 100.0).await;
    stack.pagure.faults().set_error_rate(1.0, 503);
    open_pr(&stack).await;
    let during = wait_for_wanted(&stack, "Pagure is unavailable; retrying, next try in").await;
    assert!(during.username.contains("scratch build"), "{during:?}");
    assert_eq!(during.status, "pending");
    // 100 s more of service time: longer than the queue's generic retries (7 + 14 + 28 s).
    tokio::time::sleep(Duration::from_millis(1000)).await;
    stack.pagure.faults().set_error_rate(0.0, 503);
    stack.settle().await;

    let builds = stack.koji_builds();
    assert!(
        builds.iter().any(|(_, target)| target == "rawhide"),
        "no rawhide build after Pagure came back: {builds:?}\n{}",
        stack.state().await
    );
    let flag = wait_for_flag(&stack, RAWHIDE_BUILD, "pending").await;
    assert_eq!(flag["comment"], "RPM build was submitted ...");
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pagure_down_longer_than_the_budget_ends_with_an_error_flag_naming_it() {
    // An hour of service time per real second: the one-hour budget passes in about a second.
    let stack = Stack::start(|config| {
        config.worker.time_scale = 3600.0;
        config.worker.outage_retry_hours = 1;
        config.worker.stuck_check_minutes = 30;
    })
    .await;
    stack.pagure.faults().set_error_rate(1.0, 503);
    open_pr(&stack).await;
    wait_for_wanted(&stack, "Pagure is unavailable").await;
    // Each try spends seconds in the client's own retries: hours of service time.
    tokio::time::sleep(Duration::from_secs(6)).await;
    stack.pagure.faults().set_error_rate(0.0, 503);

    let flag = wait_for_flag(&stack, RAWHIDE_BUILD, "error").await;
    let comment = flag["comment"].as_str().unwrap();
    assert!(
        comment.starts_with("Pagure was unavailable for "),
        "{comment}"
    );
    assert!(
        comment.ends_with("comment `/packit-ci-stg scratch-build` to try again."),
        "{comment}"
    );
    assert!(stack.koji_builds().is_empty());
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn testing_farm_down_for_90_seconds_when_the_build_closes_still_tests() {
    let stack = Stack::start(|config| config.worker.time_scale = 100.0).await;
    open_pr(&stack).await;
    stack.settle().await;
    let task_id = task_id_of(&stack, "rawhide");
    stack.testing_farm.faults().set_error_rate(1.0, 503);
    assert!(stack.koji.start_build(task_id));
    assert!(stack.koji.finish_build(task_id, &BuildOutcome::Succeeds));
    stack.deliver_koji_messages().await;
    wait_for_wanted(&stack, "Testing Farm is unavailable; retrying, next try in").await;
    // 90 s more of service time.
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert!(stack.testing_farm.request_ids().is_empty());
    stack.testing_farm.faults().set_error_rate(0.0, 503);
    stack.settle().await;

    assert!(
        !stack.testing_farm.request_ids().is_empty(),
        "no test submitted after Testing Farm came back\n{}",
        stack.state().await
    );
    let pending: Vec<_> = flags::of_pull_request(&stack.store, 1)
        .await
        .unwrap()
        .into_iter()
        .chain(flags::of_pull_request(&stack.store, 2).await.unwrap())
        .filter(|flag| flag.comment.contains("unavailable"))
        .collect();
    assert!(pending.is_empty(), "{pending:?}");
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_eln_check_refused_by_content_resolver_ends_with_an_error_flag() {
    let stack = Stack::start(|config| config.worker.time_scale = 100.0).await;
    // The lists answer 404: no retry can fix that.
    stack.eln.faults().set_error_rate(1.0, 404);
    stack.pagure.set_branches(PROJECT, &["rawhide", "f42"]);
    stack.deliver_fixture("pagure_pr_new.json", |_| {}).await;
    stack.settle().await;

    let flag = wait_for_flag(&stack, ELN_BUILD, "error").await;
    let comment = flag["comment"].as_str().unwrap();
    assert!(comment.contains("404"), "{comment}");
    assert!(
        comment.ends_with("comment `/packit-ci-stg scratch-build --target eln` to try again."),
        "{comment}"
    );
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_set_flags_for_one_uid_post_once() {
    let stack = Stack::start(|_| {}).await;
    open_pr(&stack).await;
    stack.settle().await;
    let pagure_uid = stack.flag(PROJECT, 2, RAWHIDE_BUILD).unwrap()["uid"]
        .as_str()
        .unwrap()
        .to_owned();
    // The row's key: the pull request and Pagure's uid.
    let uid = flags::current_key(&stack.store, &pagure_uid)
        .await
        .unwrap()
        .unwrap();
    let flag = flags::get(&stack.store, &uid).await.unwrap().unwrap();
    let mut tx = stack.store.begin().await.unwrap();
    flags::want(
        &mut tx,
        &flags::FlagState {
            uid: &uid,
            pull_request_id: flag.pull_request_id,
            commit_sha: &flag.commit_sha,
            check_name: &flag.check_name,
            username: &flag.username,
            status: &flag.status,
            comment: "changed once",
            url: &flag.url,
        },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();

    let context = Context::new(stack.store.clone(), stack.config.clone()).unwrap();
    stack
        .pagure
        .faults()
        .set_latency(Duration::from_millis(300));
    let before = flag_posts(&stack);
    let (one, other) = (SetFlag { uid: uid.clone() }, SetFlag { uid: uid.clone() });
    let (first, second) = tokio::join!(one.run(&context), other.run(&context));
    first.unwrap();
    second.unwrap();
    stack.pagure.faults().set_latency(Duration::ZERO);
    assert_eq!(
        flag_posts(&stack) - before,
        1,
        "identical flag posted twice"
    );
    assert_eq!(
        stack.flag(PROJECT, 2, RAWHIDE_BUILD).unwrap()["comment"],
        "changed once"
    );
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_check_left_pending_with_no_task_is_ended_by_the_reconciler() {
    let stack = Stack::start(|config| {
        config.worker.time_scale = 3600.0;
        config.worker.stuck_check_minutes = 60;
    })
    .await;
    // The build waits out a Pagure outage; then its task is lost (a bug, a bad restore).
    stack.pagure.faults().set_error_rate(1.0, 503);
    open_pr(&stack).await;
    wait_for_wanted(&stack, "Pagure is unavailable").await;
    let fedora_ci::db::Store::Postgres(pool) = &stack.store else {
        panic!("the pipeline stack runs on PostgreSQL");
    };
    // An attempt under way keeps running without its row; Pagure stays down until it ends.
    for _ in 0..2 {
        sqlx::query("DELETE FROM tasks WHERE name = 'run_downstream_koji_scratch_build_handler'")
            .execute(pool)
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_secs(4)).await;
    }
    stack.pagure.faults().set_error_rate(0.0, 503);

    let flag = wait_for_flag(&stack, RAWHIDE_BUILD, "error").await;
    let comment = flag["comment"].as_str().unwrap();
    assert!(
        comment.starts_with("Fedora CI lost track of this check"),
        "{comment}"
    );
    assert!(
        comment.contains("`/packit-ci-stg scratch-build`"),
        "{comment}"
    );
    stack.stop().await;
}

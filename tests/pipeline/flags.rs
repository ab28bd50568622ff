//! Posting flags: Pagure ends with the newest wanted state, whatever order the posts of one
//! flag reach it in.

use std::time::Duration;

use fedora_ci::context::Context;
use fedora_ci::db::flags;
use fedora_ci::handlers::report::SetFlag;
use fedora_ci::tasks::BackgroundTask as _;

use crate::builds::RAWHIDE_BUILD;
use crate::stack::Stack;

/// Stores `comment` as the wanted state of the flag `uid`, as a handler's `report` does (but
/// without queueing a task: the test runs the posts itself).
async fn want(stack: &Stack, uid: &str, comment: &str) {
    let flag = flags::get(&stack.store, uid).await.unwrap().unwrap();
    let mut tx = stack.store.begin().await.unwrap();
    let changed = flags::want(
        &mut tx,
        &flags::FlagState {
            uid,
            pull_request_id: flag.pull_request_id,
            commit_sha: &flag.commit_sha,
            check_name: &flag.check_name,
            username: &flag.username,
            status: &flag.status,
            comment,
            url: &flag.url,
        },
    )
    .await
    .unwrap();
    assert!(changed);
    tx.commit().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_older_post_that_lands_last_is_posted_over() {
    let stack = Stack::with_pr_opened().await;
    let uid = stack.flag("rpms/optee_os", 2, RAWHIDE_BUILD).unwrap()["uid"]
        .as_str()
        .unwrap()
        .to_owned();
    let context = Context::new(stack.store.clone(), stack.config.clone()).unwrap();

    // The first post is slow; while it is under way the flag changes again and a second
    // post of the newer state is quick, so the older state reaches Pagure last.
    want(&stack, &uid, "older").await;
    stack
        .pagure
        .faults()
        .set_latency(Duration::from_millis(600));
    let slow = {
        let (context, uid) = (context.clone(), uid.clone());
        tokio::spawn(async move { SetFlag { uid }.run(&context).await })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    stack.pagure.faults().set_latency(Duration::ZERO);
    want(&stack, &uid, "newer").await;
    SetFlag { uid: uid.clone() }.run(&context).await.unwrap();
    assert_eq!(
        stack.flag("rpms/optee_os", 2, RAWHIDE_BUILD).unwrap()["comment"],
        "newer"
    );
    slow.await.unwrap().unwrap();

    let flag = stack.flag("rpms/optee_os", 2, RAWHIDE_BUILD).unwrap();
    assert_eq!(flag["comment"], "newer", "the older post was left standing");
    stack.stop().await;
}

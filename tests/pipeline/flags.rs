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
    let pagure_uid = stack.flag("rpms/optee_os", 2, RAWHIDE_BUILD).unwrap()["uid"]
        .as_str()
        .unwrap()
        .to_owned();
    // The row's key: the pull request and Pagure's uid.
    let uid = flags::current_key(&stack.store, &pagure_uid)
        .await
        .unwrap()
        .unwrap();
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

/// Two pull requests whose head commits share their first seven hex digits have the same check
/// names, and so the same Pagure uids (Pagure keys flags per pull request): each keeps its own
/// flags. Before the flag rows were keyed by their pull request, the second PR's flags
/// updated the first one's row and were posted on the first PR.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_requests_whose_heads_share_seven_digits_keep_their_own_flags() {
    let stack = Stack::with_pr_opened().await;
    let first = stack.flag("rpms/optee_os", 2, RAWHIDE_BUILD).unwrap();
    let twin_sha = format!("{}{}", &crate::stack::OPTEE_SHA[..7], "0".repeat(33));
    stack
        .deliver_fixture("pagure_pr_new.json", |body| {
            body["pullrequest"]["id"] = serde_json::json!(3);
            body["pullrequest"]["commit_stop"] = serde_json::json!(twin_sha);
        })
        .await;
    stack.settle().await;
    let second = stack
        .flag("rpms/optee_os", 3, RAWHIDE_BUILD)
        .unwrap_or_else(|| {
            panic!(
                "PR 3 has no build flag: {:?}",
                stack.flags("rpms/optee_os", 3)
            )
        });
    assert_eq!(
        second["uid"], first["uid"],
        "the same check name, the same Pagure uid"
    );
    assert_eq!(
        stack.flag("rpms/optee_os", 2, RAWHIDE_BUILD).unwrap()["comment"],
        first["comment"],
        "PR 2's flag moved"
    );
    let rows = stack.pg_pool();
    let keys: Vec<String> =
        sqlx::query_scalar("SELECT uid FROM pr_flags WHERE username = $1 ORDER BY uid")
            .bind(RAWHIDE_BUILD)
            .fetch_all(rows)
            .await
            .unwrap();
    assert_eq!(keys.len(), 2, "{keys:?}");
    stack.stop().await;
}

/// A row a previous release wrote under the bare Pagure uid during an upgrade is adopted (or
/// dropped beside its keyed twin), and its `SetFlag`, which names the bare uid, still posts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_and_posts_of_a_previous_release_are_adopted() {
    let stack = Stack::with_pr_opened().await;
    let pagure_uid = stack.flag("rpms/optee_os", 2, RAWHIDE_BUILD).unwrap()["uid"]
        .as_str()
        .unwrap()
        .to_owned();
    let pool = stack.pg_pool();
    // The previous release's row: keyed by the bare uid, with a state not yet posted.
    sqlx::query("UPDATE pr_flags SET uid = $1, comment = 'from the previous release', wanted_seq = wanted_seq + 1 WHERE username = $2")
        .bind(&pagure_uid)
        .bind(RAWHIDE_BUILD)
        .execute(pool)
        .await
        .unwrap();
    let context = Context::new(stack.store.clone(), stack.config.clone()).unwrap();
    SetFlag {
        uid: pagure_uid.clone(),
    }
    .run(&context)
    .await
    .unwrap();
    assert_eq!(
        stack.flag("rpms/optee_os", 2, RAWHIDE_BUILD).unwrap()["comment"],
        "from the previous release"
    );
    assert_eq!(flags::adopt_bare_uids(&stack.store).await.unwrap(), 1);
    let key = flags::current_key(&stack.store, &pagure_uid)
        .await
        .unwrap()
        .unwrap();
    assert!(key.ends_with(&format!(":{pagure_uid}")), "{key}");
    assert!(flags::get(&stack.store, &key).await.unwrap().is_some());
    assert_eq!(flags::adopt_bare_uids(&stack.store).await.unwrap(), 0);
    stack.stop().await;
}

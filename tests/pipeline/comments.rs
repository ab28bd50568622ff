//! `/packit-ci-stg` comment commands (the prefix is configurable; these tests use
//! packit-service's staging one): help, syntax errors, packager checks, retriggers.

use serde_json::json;

use crate::stack::Stack;

const TEAMCITY: &str = "https://src.fedoraproject.org/rpms/python-teamcity-messages";
const PROJECT: &str = "rpms/python-teamcity-messages";
const SOURCE: &str = "git+https://src.fedoraproject.org/rpms/python-teamcity-messages.git#beaf90bcecc51968a46663f8d6f092bfdc92e682";

async fn comment_stack() -> Stack {
    let stack = Stack::start(|config| {
        config.fedora_ci.enabled_projects.push(TEAMCITY.to_owned());
    })
    .await;
    stack.pagure.set_branches(PROJECT, &["rawhide", "f42"]);
    stack
}

async fn comment(stack: &Stack, text: &str, author: &str) {
    // Each comment has an id of its own on Pagure; one comment is carried out once.
    static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(5000);
    let id = NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    comment_with_id(stack, id, text, author).await;
}

/// The comment `id` (delivered again when the same id is given twice).
async fn comment_with_id(stack: &Stack, id: u64, text: &str, author: &str) {
    stack
        .deliver_fixture("pagure_pr_comment.json", |body| {
            let comments = body["pullrequest"]["comments"].as_array_mut().unwrap();
            let last = comments.last_mut().unwrap();
            last["id"] = json!(id);
            last["comment"] = json!(text);
            last["user"]["name"] = json!(author);
            body["agent"] = json!(author);
            // The fixture's branch is no Koji target; f42 is.
            body["pullrequest"]["branch"] = json!("f42");
        })
        .await;
    stack.settle().await;
}

fn replies(stack: &Stack) -> Vec<String> {
    stack.pagure.posted_comments()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn help_syntax_errors_and_non_packagers_get_a_reply_and_nothing_else() {
    let stack = comment_stack().await;
    comment(&stack, "/packit-ci-stg help", "mmassari").await;
    comment(
        &stack,
        "/packit-ci-stg scratch-build --target epel",
        "mmassari",
    )
    .await;
    comment(&stack, "/packit-ci-stg scratch-build", "stranger").await;
    comment(
        &stack,
        "LGTM, but /packit-ci-stg is not a command here",
        "mmassari",
    )
    .await;

    let replies = replies(&stack);
    assert_eq!(replies.len(), 3, "{replies:#?}");
    assert!(
        replies[0].contains("/packit-ci-stg scratch-build"),
        "{}",
        replies[0]
    );
    assert!(
        replies[0].contains("rpminspect"),
        "the help lists the tests"
    );
    assert!(
        replies[1].starts_with("There appears to be a syntax error in the command provided."),
        "{}",
        replies[1]
    );
    assert!(replies[1].contains("`/packit-ci-stg help`"));
    assert_eq!(
        replies[2],
        "stranger is not a packager, retriggering is not allowed."
    );
    assert!(stack.koji_builds().is_empty());
    assert!(stack.flags(PROJECT, 36).is_empty());
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scratch_build_retrigger_accepts_then_submits() {
    let stack = comment_stack().await;
    comment_with_id(&stack, 4000, "/packit-ci-stg scratch-build", "mmassari").await;
    assert_eq!(
        stack.koji_builds(),
        vec![(SOURCE.to_owned(), "f42".to_owned())],
        "not a rawhide PR: no ELN build"
    );
    let flag = stack
        .flag(PROJECT, 36, "Packit-stg - scratch build - f42 [beaf90b]")
        .unwrap();
    assert_eq!(flag["comment"], "RPM build was submitted ...");
    // "The task was accepted." was wanted first; Pagure may only see the newer state when
    // the build is submitted before the flag task runs, and never an older one after it.
    let flag_posts: Vec<String> = stack
        .pagure
        .calls()
        .into_iter()
        .filter(|call| call.path.ends_with("/flag"))
        .filter_map(|call| {
            call.form
                .into_iter()
                .find(|(k, _)| k == "comment")
                .map(|(_, v)| v)
        })
        .collect();
    assert_eq!(
        flag_posts.last().map(String::as_str),
        Some("RPM build was submitted ...")
    );
    // A stale post that lands last is posted over again, so a state may appear twice.
    assert!(
        flag_posts
            .iter()
            .all(|comment| comment == "The task was accepted."
                || comment == "RPM build was submitted ..."),
        "{flag_posts:?}"
    );
    let wanted = fedora_ci::db::flags::of_pull_request(&stack.store, 1)
        .await
        .unwrap();
    assert_eq!(wanted.len(), 1);
    assert_eq!(wanted[0].wanted_seq, 2, "accepted, then submitted");

    // The same comment delivered again (a redelivery with another message id) is carried
    // out once.
    comment_with_id(&stack, 4000, "/packit-ci-stg scratch-build", "mmassari").await;
    assert_eq!(stack.koji_builds().len(), 1, "one build per comment");
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn target_eln_builds_only_eln_for_an_eln_package_on_rawhide() {
    let stack = comment_stack().await;
    stack.eln.set_packages(&["python-teamcity-messages"], &[]);
    stack
        .deliver_fixture("pagure_pr_comment.json", |body| {
            body["pullrequest"]["branch"] = json!("rawhide");
            let comments = body["pullrequest"]["comments"].as_array_mut().unwrap();
            comments.last_mut().unwrap()["comment"] =
                json!("/packit-ci-stg scratch-build --target eln");
        })
        .await;
    stack.settle().await;
    assert_eq!(
        stack.koji_builds(),
        vec![(SOURCE.to_owned(), "eln".to_owned())]
    );
    assert!(
        stack
            .flag(PROJECT, 36, "Packit-stg - scratch build - eln [beaf90b]")
            .is_some()
    );
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_without_a_build_builds_first_then_runs_only_the_named_test() {
    let stack = comment_stack().await;
    comment(&stack, "/packit-ci-stg test rpminspect", "mmassari").await;
    assert_eq!(stack.koji_builds().len(), 1, "the build comes first");
    assert!(stack.testing_farm.submitted().is_empty());
    let task_id: i64 = stack
        .flag(PROJECT, 36, "Packit-stg - scratch build - f42 [beaf90b]")
        .unwrap()["url"]
        .as_str()
        .unwrap()
        .rsplit("taskID=")
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(stack.koji.start_build(task_id));
    assert!(
        stack
            .koji
            .finish_build(task_id, &fedora_ci::fakes::koji::BuildOutcome::Succeeds)
    );
    stack.deliver_koji_messages().await;
    stack.settle().await;
    let submitted = stack.testing_farm.submitted();
    assert_eq!(submitted.len(), 1, "only rpminspect: {submitted:#?}");
    assert_eq!(
        submitted[0]["test"]["tmt"]["url"],
        "https://github.com/fedora-ci/rpminspect-pipeline.git"
    );
    assert_eq!(
        submitted[0]["environments"][0]["variables"]["KOJI_TASK_ID"],
        task_id.to_string()
    );

    // Now a build exists: `test` runs every test on it at once.
    comment(&stack, "/packit-ci-stg test", "mmassari").await;
    assert_eq!(stack.koji_builds().len(), 1, "no second build");
    let names: Vec<String> = stack
        .testing_farm
        .submitted()
        .iter()
        .skip(1)
        .map(|request| request["test"]["tmt"]["url"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        names.len(),
        5,
        "the five shared tests (no .fmf, no custom): {names:?}\n{}",
        stack.state().await
    );
    stack.stop().await;
}

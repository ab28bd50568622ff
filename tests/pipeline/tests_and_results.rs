//! Testing Farm: the payload of every test for rawhide and ELN (reference §3.2, written out
//! here independently of the service's code), results through the webhook message and the
//! poll, and the tests namespace.

use fedora_ci::events::TESTING_FARM_RESULTS_TOPIC;
use fedora_ci::fakes::koji::BuildOutcome;
use serde_json::{Value as Json, json};

use crate::builds::{optee_without_eln_branch, task_id_of};
use crate::stack::{OPTEE_SHA, Stack, TF_TOKEN};

const WEBHOOK: &str = "https://fedora-ci.stg.example.org/api/testing-farm/results";
/// The fork's git URL as Pagure serves it (issue #15 item 12): plural `forks/`, as
/// packit-service's Koji source for the same PR in `tests/integration/test_dg_pr.py::
/// test_downstream_koji_scratch_build` (l. 174-199) and the `git` URL Pagure answers for a fork
/// (`pagure/api/project.py` l. 602-619); packit-service's `…/fork/packit/…` in
/// `test_koji_build_end_downstream` is its mock's echo.
const FORK_GIT: &str = "https://src.fedoraproject.org/forks/zbyszek/rpms/optee_os.git";

/// packit-service's payload for one test (reference §3.2), on staging.
fn expected_payload(test: &str, distro: &str, compose: &str, task_id: Option<i64>) -> Json {
    let shared = "https://forge.fedoraproject.org/ci/shared-tests";
    let (url, git_ref, name, with_compose) = match test {
        "installability" => (
            "https://github.com/fedora-ci/installability-pipeline.git",
            "master",
            None,
            true,
        ),
        "rpminspect" => (
            "https://github.com/fedora-ci/rpminspect-pipeline.git",
            "master",
            None,
            false,
        ),
        "rpmlint" => (
            "https://github.com/packit/tmt-plans.git",
            "main",
            Some("/plans/rpmlint"),
            false,
        ),
        "rmdepcheck" => (shared, "stg", Some("/rmdepcheck"), false),
        "license-validate" => (shared, "stg", Some("/license-validate"), false),
        "custom" => (FORK_GIT, OPTEE_SHA, None, true),
        other => panic!("unknown test {other}"),
    };
    let mut tmt = json!({"url": url, "ref": git_ref});
    if let Some(name) = name {
        tmt["name"] = json!(name);
    }
    let mut context = json!({
        "distro": distro, "arch": "x86_64", "trigger": "commit", "initiator": "fedora-ci",
        "dist-git-branch": "rawhide", "deployment": "stg",
    });
    if distro == "fedora-eln" {
        context["variant"] = json!("eln");
    }
    let mut environment = json!({
        "arch": "x86_64",
        "variables": {},
        "artifacts": [],
        "tmt": {"context": context},
    });
    if let Some(task_id) = task_id {
        environment["variables"] = json!({"KOJI_TASK_ID": task_id.to_string()});
        if test == "custom" {
            environment["artifacts"] =
                json!([{"id": task_id.to_string(), "type": "fedora-koji-build"}]);
        }
    }
    if with_compose {
        environment["os"] = json!({"compose": compose});
    }
    json!({
        "test": {"tmt": tmt},
        "environments": [environment],
        "notification": {"webhook": {"url": WEBHOOK, "token": TF_TOKEN}},
    })
}

const TESTS: [&str; 6] = [
    "installability",
    "rpminspect",
    "rpmlint",
    "rmdepcheck",
    "license-validate",
    "custom",
];

async fn build_and_succeed(stack: &Stack, target: &str) -> i64 {
    let task_id = task_id_of(stack, target);
    assert!(stack.koji.start_build(task_id));
    assert!(stack.koji.finish_build(task_id, &BuildOutcome::Succeeds));
    stack.deliver_koji_messages().await;
    stack.settle().await;
    task_id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn successful_builds_start_every_test_with_packits_payload_for_rawhide_and_eln() {
    let stack = Stack::start(|_| {}).await;
    optee_without_eln_branch(&stack);
    stack.pagure.add_raw_file(
        "fork/zbyszek/rpms/optee_os",
        OPTEE_SHA,
        ".fmf/version",
        "1\n",
    );
    stack.deliver_fixture("pagure_pr_new.json", |_| {}).await;
    stack.settle().await;
    let rawhide_task = build_and_succeed(&stack, "rawhide").await;
    let eln_task = build_and_succeed(&stack, "eln").await;

    let submitted = stack.testing_farm.submitted();
    assert_eq!(submitted.len(), 12, "six tests for each target");
    for (index, test) in TESTS.iter().enumerate() {
        assert_eq!(
            submitted[index],
            expected_payload(test, "fedora-rawhide", "Fedora-Rawhide", Some(rawhide_task)),
            "rawhide {test}"
        );
        assert_eq!(
            submitted[6 + index],
            expected_payload(test, "fedora-eln", "Fedora-ELN", Some(eln_task)),
            "eln {test}"
        );
    }
    let flag = stack
        .flag(
            "rpms/optee_os",
            2,
            "Packit-stg - installability - rawhide [889f07a]",
        )
        .unwrap();
    assert_eq!(flag["comment"], "Tests have been submitted ...");
    let flag = stack
        .flag(
            "rpms/optee_os",
            2,
            "Packit-stg - rpminspect - eln [889f07a]",
        )
        .unwrap();
    assert_eq!(flag["status"], "pending");
    stack.stop().await;
}

/// Delivers Testing Farm's notification of `request_id`, as its webhook would.
pub async fn notify(stack: &Stack, request_id: &str) {
    stack
        .deliver(
            TESTING_FARM_RESULTS_TOPIC,
            &json!({"request_id": request_id, "token": TF_TOKEN}),
        )
        .await;
    stack.settle().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_update_each_test_flag_and_the_poll_catches_lost_notifications() {
    let stack = Stack::with_pr_opened().await;
    build_and_succeed(&stack, "rawhide").await;
    let submitted = stack.testing_farm.submitted();
    assert_eq!(submitted.len(), 5, "no .fmf/version: no custom test");

    let calls = fedora_ci::db::flags::calls(&stack.store, None)
        .await
        .unwrap();
    let request_ids: Vec<String> = calls
        .iter()
        .filter(|call| call.call == "POST /requests")
        .map(|call| {
            call.response.as_ref().unwrap().0["id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(request_ids.len(), 5);
    let installability = &request_ids[0];
    let rpminspect = &request_ids[1];
    let name = "Packit-stg - installability - rawhide [889f07a]";

    // queued → running: the flag says so.
    stack.testing_farm.advance(installability, "passed").await;
    stack.testing_farm.advance(installability, "passed").await;
    notify(&stack, installability).await;
    let flag = stack.flag("rpms/optee_os", 2, name).unwrap();
    assert_eq!(
        (flag["status"].as_str(), flag["comment"].as_str()),
        (Some("pending"), Some("Tests are running ..."))
    );
    // complete, passed.
    while stack
        .testing_farm
        .advance(installability, "passed")
        .await
        .is_some_and(|state| state != "complete")
    {}
    notify(&stack, installability).await;
    let flag = stack.flag("rpms/optee_os", 2, name).unwrap();
    assert_eq!(flag["status"], "success");
    assert_eq!(flag["comment"], "Tests passed ...");
    // A second notification of the same state changes nothing.
    let posts_before = stack.pagure.calls().len();
    notify(&stack, installability).await;
    assert_eq!(stack.pagure.calls().len(), posts_before);

    // rpminspect fails, and its notification is lost: the poll finds it.
    while stack
        .testing_farm
        .advance(rpminspect, "failed")
        .await
        .is_some_and(|state| state != "complete")
    {}
    let context =
        fedora_ci::context::Context::new(stack.store.clone(), stack.config.clone()).unwrap();
    use fedora_ci::tasks::BackgroundTask as _;
    fedora_ci::handlers::testing_farm::TestingFarmPoll {}
        .run(&context)
        .await
        .unwrap();
    stack.settle().await;
    let flag = stack
        .flag(
            "rpms/optee_os",
            2,
            "Packit-stg - rpminspect - rawhide [889f07a]",
        )
        .unwrap();
    assert_eq!(flag["status"], "failure");
    assert_eq!(flag["comment"], "Tests failed ...");

    // `test --failed` re-runs only rpminspect.
    stack
        .pagure
        .set_branches("rpms/optee_os", &["rawhide", "eln"]);
    stack
        .deliver_fixture("pagure_pr_comment.json", |body| {
            let optee = crate::stack::OPTEE;
            body["pullrequest"]["project"]["full_url"] = json!(optee);
            body["pullrequest"]["project"]["name"] = json!("optee_os");
            body["pullrequest"]["project"]["fullname"] = json!("rpms/optee_os");
            body["pullrequest"]["project"]["url_path"] = json!("rpms/optee_os");
            body["pullrequest"]["id"] = json!(2);
            body["pullrequest"]["branch"] = json!("rawhide");
            body["pullrequest"]["commit_stop"] = json!(OPTEE_SHA);
            body["pullrequest"]["repo_from"] = json!(null);
            let comments = body["pullrequest"]["comments"].as_array_mut().unwrap();
            comments.last_mut().unwrap()["comment"] = json!("/packit-ci-stg test --failed");
        })
        .await;
    stack.settle().await;
    let all = stack.testing_farm.submitted();
    assert_eq!(all.len(), 6, "one more request");
    assert_eq!(
        all[5]["test"]["tmt"]["url"],
        "https://github.com/fedora-ci/rpminspect-pipeline.git"
    );
    stack.stop().await;
}

/// The stack with tests/selinux opted in; its head commit has an fmf tree.
pub async fn start_with_tests_namespace_project() -> Stack {
    let stack = Stack::start(|config| {
        config.fedora_ci.enabled_projects =
            vec!["https://src.fedoraproject.org/tests/selinux".into()];
    })
    .await;
    stack
        .pagure
        .add_raw_file("tests/selinux", OPTEE_SHA, ".fmf/version", "1\n");
    stack
}

/// Opens PR 2 of tests/selinux: in the tests namespace only `custom` runs, without a build.
pub async fn open_tests_namespace_pull_request(stack: &Stack) {
    stack
        .deliver_fixture("pagure_pr_new.json", |body| {
            let project = &mut body["pullrequest"]["project"];
            project["namespace"] = json!("tests");
            project["name"] = json!("selinux");
            project["fullname"] = json!("tests/selinux");
            project["url_path"] = json!("tests/selinux");
            project["full_url"] = json!("https://src.fedoraproject.org/tests/selinux");
            body["pullrequest"]["repo_from"] = json!(null);
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tests_namespace_runs_only_custom_without_a_build() {
    let stack = start_with_tests_namespace_project().await;
    open_tests_namespace_pull_request(&stack).await;
    stack.settle().await;
    assert!(stack.koji_builds().is_empty());
    let submitted = stack.testing_farm.submitted();
    assert_eq!(submitted.len(), 1, "{submitted:#?}");
    assert_eq!(
        submitted[0]["test"]["tmt"],
        json!({"url": "https://src.fedoraproject.org/tests/selinux.git", "ref": OPTEE_SHA})
    );
    let environment = &submitted[0]["environments"][0];
    assert_eq!(environment["variables"], json!({}));
    assert_eq!(environment["artifacts"], json!([]));
    assert_eq!(environment["os"], json!({"compose": "Fedora-Rawhide"}));
    let flag = stack
        .flag(
            "tests/selinux",
            2,
            "Packit-stg - custom - rawhide [889f07a]",
        )
        .unwrap();
    assert_eq!(flag["comment"], "Tests have been submitted ...");
    stack.stop().await;
}

//! Hostile messages (issue #16): identifiers out of range, URLs that leave dist-git, names
//! that would walk Pagure API paths, branches without a Koji target. Each is rejected (or
//! skipped) with its reason recorded, and no external service is called for it.

use serde_json::{Value as Json, json};

use crate::stack::{OPTEE, Stack};

const NEW_PR: &str = "pagure_pr_new.json";

/// Delivers `fixture` after `edit` and returns its recorded (outcome, reason).
async fn verdict_of(
    stack: &Stack,
    fixture: &str,
    edit: impl FnOnce(&mut Json),
) -> (String, String) {
    let first = stack.delivered_count();
    stack.deliver_fixture(fixture, edit).await;
    let rows = stack.inbound_from(first).await;
    let row = rows.last().unwrap();
    (row.outcome.clone(), row.reason.clone().unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_messages_are_rejected_with_their_reason_and_call_nothing() {
    let stack = Stack::start(|_| {}).await;
    stack
        .pagure
        .set_branches("rpms/optee_os", &["rawhide", "eln"]);
    type Edit = Box<dyn FnOnce(&mut Json)>;
    let cases: Vec<(&str, &str, Edit, &str)> = vec![
        (
            "a PR id above 2^31",
            NEW_PR,
            Box::new(|body| body["pullrequest"]["id"] = json!(2_147_483_650u64)),
            "pullrequest.id",
        ),
        (
            "a fork on another host",
            NEW_PR,
            Box::new(|body| {
                body["pullrequest"]["repo_from"]["full_url"] =
                    json!("https://evil.example/fork/zbyszek/rpms/optee_os")
            }),
            "pullrequest.repo_from.full_url",
        ),
        (
            "userinfo in the fork's URL",
            NEW_PR,
            Box::new(|body| {
                body["pullrequest"]["repo_from"]["full_url"] =
                    json!("https://src.fedoraproject.org@evil.example/fork/zbyszek/rpms/optee_os")
            }),
            "pullrequest.repo_from.full_url",
        ),
        (
            "`..` in the project's URL",
            NEW_PR,
            Box::new(|body| {
                body["pullrequest"]["project"]["full_url"] =
                    json!("https://src.fedoraproject.org/rpms/../../evil")
            }),
            "pullrequest.project.full_url",
        ),
        (
            "`?` in the project's name",
            NEW_PR,
            Box::new(|body| body["pullrequest"]["project"]["name"] = json!("optee_os?private=1")),
            "pullrequest.project.name",
        ),
        (
            "`..` in the branch",
            NEW_PR,
            Box::new(|body| body["pullrequest"]["branch"] = json!("../../rawhide")),
            "pullrequest.branch",
        ),
        (
            "a whole project on another host",
            NEW_PR,
            Box::new(|body| {
                let host = "https://src.fedoraproject.org.evil.example";
                body["pullrequest"]["project"]["full_url"] = json!(format!("{host}/rpms/optee_os"));
                body["pullrequest"]["repo_from"]["full_url"] =
                    json!(format!("{host}/fork/zbyszek/rpms/optee_os"));
            }),
            "is not under the Pagure dist-git this service serves",
        ),
        (
            "a comment id beyond 64 bits signed",
            "pagure_pr_comment.json",
            Box::new(|body| {
                let comments = body["pullrequest"]["comments"].as_array_mut().unwrap();
                comments.last_mut().unwrap()["id"] = json!(9_223_372_036_854_775_808u64);
            }),
            "out of range",
        ),
        (
            "a Koji task id above 2^31",
            "koji_build_scratch_start.json",
            Box::new(|body| body["id"] = json!(2_147_483_650u64)),
            "field `id`",
        ),
    ];
    for (name, fixture, edit, reason) in cases {
        let (outcome, recorded) = verdict_of(&stack, fixture, edit).await;
        assert_eq!(outcome, "rejected", "{name}: {recorded}");
        assert!(
            recorded.contains(reason),
            "{name}: {recorded:?} lacks {reason:?}"
        );
    }
    stack.settle().await;
    assert!(stack.koji.calls().is_empty(), "{:?}", stack.koji.calls());
    assert!(
        stack.pagure.calls().is_empty(),
        "{:?}",
        stack.pagure.calls()
    );
    assert!(stack.testing_farm.submitted().is_empty());
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_branch_without_koji_target_gets_an_error_flag_and_no_build() {
    let stack = Stack::start(|_| {}).await;
    stack
        .pagure
        .set_branches("rpms/optee_os", &["rawhide", "private-tweaks"]);
    let (outcome, _) = verdict_of(&stack, NEW_PR, |body| {
        body["pullrequest"]["branch"] = json!("private-tweaks");
    })
    .await;
    assert_ne!(outcome, "rejected");
    stack.settle().await;
    let flag_name = "Packit-stg - scratch build - private-tweaks [889f07a]";
    let flag = stack.flag("rpms/optee_os", 2, flag_name);
    let flag =
        flag.unwrap_or_else(|| panic!("no build flag: {:?}", stack.flags("rpms/optee_os", 2)));
    assert_eq!(flag["status"], "error");
    assert!(
        flag["comment"]
            .as_str()
            .unwrap()
            .starts_with("The branch private-tweaks has no Koji target"),
        "{flag}"
    );
    // A packager's retrigger builds nothing either.
    stack
        .deliver_fixture("pagure_pr_comment.json", |body| {
            body["pullrequest"]["project"]["full_url"] = json!(OPTEE);
            body["pullrequest"]["project"]["name"] = json!("optee_os");
            body["pullrequest"]["id"] = json!(2);
            body["pullrequest"]["branch"] = json!("private-tweaks");
            body["pullrequest"]["commit_stop"] = json!(crate::stack::OPTEE_SHA);
            body["pullrequest"]["repo_from"] = json!(null);
            let comments = body["pullrequest"]["comments"].as_array_mut().unwrap();
            let last = comments.last_mut().unwrap();
            last["comment"] = json!("/packit-ci-stg scratch-build");
            last["user"]["name"] = json!("mmassari");
            body["agent"] = json!("mmassari");
        })
        .await;
    stack.settle().await;
    assert!(stack.koji_builds().is_empty(), "{:?}", stack.koji_builds());
    let flag = stack.flag("rpms/optee_os", 2, flag_name).unwrap();
    assert_eq!(flag["status"], "error");
    stack.stop().await;
}

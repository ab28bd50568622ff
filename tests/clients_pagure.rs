//! The Pagure client against the fake Pagure fed with real Pagure answers, and
//! PyPI ogr's Pagure service against the same fake.

// Helpers outside #[test] functions unwrap too; a panic is a test failure here.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod clients_support;

use clients_support::{read_fixture, require_python_module, run_conformance_script};
use fedora_ci::clients::forge::{CheckReport, CheckState, CheckTarget, Forge, ReportChange};
use fedora_ci::clients::pagure::{
    FlagChange, FlagStatus, ForgeError, PagureClient, ProjectRef, PullRequestFlag,
};
use fedora_ci::clients::{RetryPolicy, Timeouts, Transient};
use fedora_ci::fakes::pagure::FakePagure;
use fedora_ci::secret::Secret;

const TOKEN: &str = "fake-pagure-token-0123456789";
const COMMIT: &str = "889f07af35d27bbcaf9c535c17a63b974aa42ee3";

async fn start_fake() -> FakePagure {
    let fake = FakePagure::start().await.unwrap();
    fake.add_pull_request(read_fixture("protocols/pagure/pull-request.get.200.json"));
    fake.add_project(read_fixture(
        "protocols/pagure/project.get.src-fedoraproject-rpms-python-ogr.200.json",
    ));
    fake.add_group(read_fixture("protocols/pagure/group.get.200.json"));
    fake.add_raw_file("rpms/python-ogr", COMMIT, ".fmf/version", "1\n");
    fake.set_branches("rpms/python-ogr", &["f42", "rawhide"]);
    fake.add_token(TOKEN, "packit");
    fake
}

fn client(fake: &FakePagure, token: Option<&str>) -> PagureClient {
    PagureClient::new(
        &fake.url(),
        token.map(Secret::new),
        Timeouts::default(),
        RetryPolicy::fast(3),
    )
    .unwrap()
}

fn flag(comment: &str, status: FlagStatus) -> PullRequestFlag {
    PullRequestFlag {
        username: "Packit - scratch build - rawhide [889f07a]".into(),
        comment: comment.into(),
        url: "https://koji.fedoraproject.org/koji/taskinfo?taskID=1".into(),
        status,
        uid: "e7593c9ba1d17d1a4f366b6aa7f53e84".into(),
        percent: None,
    }
}

#[tokio::test]
async fn reads_a_pull_request_project_group_file_and_branches() {
    let fake = start_fake().await;
    let pagure = client(&fake, Some(TOKEN));
    let ogr_tests = ProjectRef {
        namespace: None,
        repo: "ogr-tests".into(),
        fork_owner: None,
    };
    let pull_request = pagure.get_pull_request(&ogr_tests, 6).await.unwrap();
    assert_eq!(
        (pull_request.title.as_str(), pull_request.branch.as_str()),
        ("Testing PR", "master")
    );
    assert_eq!(pull_request.user.name, "mfocko");
    assert_eq!(
        pull_request.repo_from.unwrap().fullname,
        "forks/mfocko/ogr-tests"
    );

    let python_ogr = ProjectRef::new("rpms", "python-ogr");
    let project = pagure.get_project(&python_ogr).await.unwrap();
    assert_eq!(project.access_users.owner, vec!["ttomecek"]);
    assert_eq!(
        project.access_users.commit,
        vec!["packit", "usercont", "zuul"]
    );
    let members = pagure.get_group_members("packit-service").await.unwrap();
    assert_eq!(members.len(), 7);
    assert!(
        pagure
            .file_exists(&python_ogr, COMMIT, ".fmf/version")
            .await
            .unwrap()
    );
    assert!(
        !pagure
            .file_exists(&python_ogr, COMMIT, "missing")
            .await
            .unwrap()
    );
    assert_eq!(
        pagure.list_branches(&python_ogr).await.unwrap(),
        vec!["f42", "rawhide"]
    );

    let paths: Vec<String> = fake
        .calls()
        .iter()
        .map(|call| format!("{} {}", call.method, call.path))
        .collect();
    assert_eq!(
        paths,
        vec![
            "GET /api/0/ogr-tests/pull-request/6",
            "GET /api/0/rpms/python-ogr",
            "GET /api/0/group/packit-service",
            format!("HEAD /rpms/python-ogr/raw/{COMMIT}/f/.fmf/version").as_str(),
            format!("HEAD /rpms/python-ogr/raw/{COMMIT}/f/missing").as_str(),
            "GET /api/0/rpms/python-ogr/git/branches",
        ]
    );
    assert!(
        fake.calls()
            .iter()
            .all(|call| call.authorization.as_deref() == Some(&format!("token {TOKEN}")))
    );
}

/// Through the forge trait, as the handlers use it: a check is a flag named by the check,
/// its uid the report's; branches and pull requests as the trait says.
#[tokio::test]
async fn the_forge_trait_reports_checks_as_flags_and_reads_branches_and_pull_requests() {
    let fake = start_fake().await;
    let pagure = client(&fake, Some(TOKEN));
    let forge: &dyn Forge = &pagure;
    let project = ProjectRef::new("", "ogr-tests");
    let target = CheckTarget {
        project: &project,
        number: 6,
        head_sha: COMMIT,
    };
    let name = "Fedora CI - scratch build - rawhide [889f07a]";
    let report = |state, description| CheckReport {
        name,
        context: "Fedora CI - scratch build - rawhide",
        uid: "0123456789abcdef0123456789abcdef",
        state,
        description,
        url: "https://ci.example/42",
    };
    let first = forge
        .report_check(
            target,
            report(CheckState::Pending, "RPM build was submitted."),
        )
        .await
        .unwrap();
    let second = forge
        .report_check(target, report(CheckState::Canceled, "Superseded."))
        .await
        .unwrap();
    assert_eq!(
        (first, second),
        (ReportChange::Added, ReportChange::Updated)
    );
    let flags = fake.flags("ogr-tests", 6);
    assert_eq!(flags.len(), 1, "{flags:?}");
    assert_eq!(flags[0]["username"], name);
    assert_eq!(flags[0]["status"], "canceled");
    assert_eq!(flags[0]["comment"], "Superseded.");

    let python_ogr = ProjectRef::new("rpms", "python-ogr");
    assert!(forge.has_branch(&python_ogr, "rawhide").await.unwrap());
    assert!(!forge.has_branch(&python_ogr, "eln").await.unwrap());
    let pull_request = forge.pull_request(&project, 6).await.unwrap().unwrap();
    assert_eq!(
        (pull_request.number, pull_request.target_branch.as_str()),
        (6, "master")
    );
    assert_eq!(forge.pull_request(&project, 99).await.unwrap(), None);
    assert_eq!(forge.kind().to_string(), "Pagure");
}

#[tokio::test]
async fn a_flag_with_the_same_uid_is_added_then_updated() {
    let fake = start_fake().await;
    let pagure = client(&fake, Some(TOKEN));
    let project = ProjectRef::new("", "ogr-tests");

    let first = pagure
        .flag_pull_request(
            &project,
            6,
            &flag("RPM build was submitted.", FlagStatus::Pending),
        )
        .await
        .unwrap();
    let second = pagure
        .flag_pull_request(
            &project,
            6,
            &flag("RPM build succeeded.", FlagStatus::Success),
        )
        .await
        .unwrap();
    assert_eq!(first.change, FlagChange::Added);
    assert_eq!(second.change, FlagChange::Updated);
    assert_eq!(second.uid, "e7593c9ba1d17d1a4f366b6aa7f53e84");

    let call = &fake.calls()[0];
    assert_eq!(call.path, "/api/0/ogr-tests/pull-request/6/flag");
    let form: Vec<(&str, &str)> = call
        .form
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        form,
        vec![
            ("username", "Packit - scratch build - rawhide [889f07a]"),
            ("comment", "RPM build was submitted."),
            (
                "url",
                "https://koji.fedoraproject.org/koji/taskinfo?taskID=1"
            ),
            ("status", "pending"),
            ("uid", "e7593c9ba1d17d1a4f366b6aa7f53e84"),
        ]
    );
    let flags = fake.flags("ogr-tests", 6);
    assert_eq!(flags.len(), 1);
    assert_eq!(
        (flags[0]["status"].as_str(), flags[0]["comment"].as_str()),
        (Some("success"), Some("RPM build succeeded."))
    );
    assert_eq!(
        flags[0]["pull_request_uid"],
        "bd3715fe3a024a1785928c3e06ca95f9"
    );
    let real = read_fixture("protocols/pagure/pull-request.flag.post.200.json");
    let keys = |value: &serde_json::Value| {
        value
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(
        keys(&flags[0])
            .iter()
            .filter(|k| *k != "uid")
            .cloned()
            .collect::<Vec<_>>(),
        keys(&real["flag"])
    );

    pagure
        .comment_on_pull_request(&project, 6, "Thanks!")
        .await
        .unwrap();
    let comments = fake.comments("ogr-tests", 6);
    assert_eq!(comments.last().unwrap()["comment"], "Thanks!");
    assert_eq!(comments.last().unwrap()["user"]["name"], "packit");
}

#[tokio::test]
async fn pagure_errors_become_typed_errors() {
    let fake = start_fake().await;
    let pagure = client(&fake, Some(TOKEN));

    let error = pagure
        .get_project(&ProjectRef::fork("qwertzuiopasdfghjkl", "", "ogr-tests"))
        .await
        .unwrap_err();
    let ForgeError::Api {
        status,
        code,
        message,
        ..
    } = &error
    else {
        panic!("{error:?}")
    };
    assert_eq!(
        (*status, code.as_str(), message.as_str()),
        (404, "ENOPROJECT", "Project not found")
    );
    assert!(!error.is_transient());
    assert_eq!(
        pagure
            .get_group_members("nonexisting")
            .await
            .unwrap_err()
            .error_code(),
        Some("ENOGROUP")
    );

    let anonymous = client(&fake, None);
    let error = anonymous
        .flag_pull_request(
            &ProjectRef::new("", "ogr-tests"),
            6,
            &flag("x", FlagStatus::Error),
        )
        .await
        .unwrap_err();
    assert_eq!(error.error_code(), Some("EINVALIDTOK"));

    let mut incomplete = flag("x", FlagStatus::Error);
    incomplete.url = String::new();
    let error = pagure
        .flag_pull_request(&ProjectRef::new("", "ogr-tests"), 6, &incomplete)
        .await
        .unwrap_err();
    assert_eq!(error.error_code(), Some("EINVALIDREQ"));

    fake.faults().fail_next("/api/0/group/packit-service", 503);
    assert_eq!(
        pagure
            .get_group_members("packit-service")
            .await
            .unwrap()
            .len(),
        7,
        "a 503 is retried"
    );
    for _ in 0..3 {
        fake.faults().fail_next("/api/0/group/packit-service", 502);
    }
    let error = pagure
        .get_group_members("packit-service")
        .await
        .unwrap_err();
    assert!(matches!(error, ForgeError::HttpStatus { status: 502, .. }) && error.is_transient());
}

#[tokio::test]
async fn the_token_never_shows_in_debug_output() {
    let fake = start_fake().await;
    let pagure = client(&fake, Some(TOKEN));
    assert!(!format!("{pagure:?}").contains(TOKEN));
}

#[tokio::test]
async fn ogr_from_pypi_reads_flags_and_comments_on_the_fake() {
    require_python_module("ogr");
    let fake = start_fake().await;
    let report = run_conformance_script("ogr_pagure.py", &[&fake.url(), TOKEN]).await;
    assert_eq!(report["title"], "Testing PR");
    assert_eq!(report["author"], "mfocko");
    assert_eq!(report["target_branch"], "master");

    let flags = fake.flags("ogr-tests", 6);
    assert_eq!(
        flags.len(),
        1,
        "the second flag with the same uid updates the first"
    );
    assert_eq!(flags[0]["status"], "success");
    assert_eq!(
        flags[0]["username"],
        "Packit - scratch build - master [1b491a6]"
    );
    assert_eq!(
        fake.comments("ogr-tests", 6).last().unwrap()["comment"],
        "Thanks, the build passed."
    );
    let flag_calls: Vec<_> = fake
        .calls()
        .into_iter()
        .filter(|call| call.path.ends_with("/flag"))
        .collect();
    assert_eq!(flag_calls.len(), 2);
    assert!(
        flag_calls
            .iter()
            .all(|call| call.authorization.as_deref() == Some(&format!("token {TOKEN}")))
    );
    let form: std::collections::HashMap<_, _> = flag_calls[1].form.iter().cloned().collect();
    assert_eq!(form.get("status").map(String::as_str), Some("success"));
    assert_eq!(
        form.get("uid").map(String::as_str),
        Some("553fa0c52d0367d778458af022ac8a9d")
    );
}

//! The Forgejo client against the fake Forgejo (answers shaped as real Forgejo answers), and
//! PyPI pyforgejo against the same fake.

// Helpers outside #[test] functions unwrap too; a panic is a test failure here.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod clients_support;

use clients_support::{read_fixture, require_python_module, run_conformance_script};
use fedora_ci::clients::forge::{
    CheckReport, CheckState, CheckTarget, Forge, ForgeKind, ProjectRef, ReportChange,
};
use fedora_ci::clients::forgejo::ForgejoClient;
use fedora_ci::clients::{RetryPolicy, Timeouts, Transient};
use fedora_ci::fakes::forgejo::FakeForgejo;
use fedora_ci::secret::Secret;

const TOKEN: &str = "fake-forgejo-token-0123456789";
/// The fixture PR 211: from the fork lbarcziova/ogr-tests into packit-validator/ogr-tests.
const REPO: &str = "packit-validator/ogr-tests";
const HEAD: &str = "c2dd0817e07d02fcd2f73258fde75ffcdc420341";
const UNKNOWN: &str = "0000000000000000000000000000000000000000";

async fn start_fake() -> FakeForgejo {
    let fake = FakeForgejo::start().await.unwrap();
    fake.add_pull_request(read_fixture("forgejo/api/pulls.GET.200.fork-pr-open.json"));
    fake.add_commit(REPO, HEAD, &[(".fmf/version", "1\n")]);
    fake.set_branches(REPO, &["master", "rawhide"]);
    fake.add_token(TOKEN, "fedora-ci");
    fake
}

fn client(fake: &FakeForgejo) -> ForgejoClient {
    ForgejoClient::new(
        &fake.api_url(),
        Some(Secret::new(TOKEN)),
        Timeouts::default(),
        RetryPolicy::fast(2),
    )
    .unwrap()
}

fn project() -> ProjectRef {
    ProjectRef::new("packit-validator", "ogr-tests")
}

fn target<'a>(project: &'a ProjectRef, sha: &'a str) -> CheckTarget<'a> {
    CheckTarget {
        project,
        number: 211,
        head_sha: sha,
    }
}

fn report(state: CheckState, description: &str) -> CheckReport<'_> {
    CheckReport {
        name: "Fedora CI - scratch build - rawhide [c2dd081]",
        context: "Fedora CI - scratch build - rawhide",
        uid: "unused by Forgejo",
        state,
        description,
        url: "https://koji.example/taskinfo?taskID=1",
    }
}

#[tokio::test]
async fn checks_are_statuses_on_the_target_repository_at_the_head_by_context() {
    let fake = start_fake().await;
    let forgejo = client(&fake);
    let forge: &dyn Forge = &forgejo;
    let project = project();
    assert_eq!(forge.kind(), ForgeKind::Forgejo);
    for (state, description) in [
        (CheckState::Pending, "RPM build was submitted."),
        (CheckState::Success, "RPM build succeeded."),
    ] {
        let change = forge
            .report_check(target(&project, HEAD), report(state, description))
            .await
            .unwrap();
        assert_eq!(change, ReportChange::Added);
    }
    let statuses = fake.statuses(REPO, HEAD);
    assert_eq!(statuses.len(), 2, "every status is a new row: {statuses:?}");
    let latest = fake.latest_statuses(REPO, HEAD);
    let shown = &latest["Fedora CI - scratch build - rawhide"];
    assert_eq!(shown["status"], "success");
    assert_eq!(shown["description"], "RPM build succeeded.");
    assert_eq!(
        shown["target_url"],
        "https://koji.example/taskinfo?taskID=1"
    );
    assert_eq!(shown["creator"]["login"], "fedora-ci");
    // The same keys as a real Forgejo's answer.
    let real = read_fixture("forgejo/api/statuses.POST.201.json");
    let keys = |value: &serde_json::Value| {
        let mut keys: Vec<String> = value.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        keys
    };
    assert_eq!(keys(shown), keys(&real));
    // Nothing went to the fork, and the token went along.
    let calls = fake.calls();
    assert!(calls.iter().all(|call| !call.path.contains("lbarcziova")));
    assert!(
        calls
            .iter()
            .all(|call| call.authorization.as_deref() == Some(&format!("token {TOKEN}")))
    );
}

#[tokio::test]
async fn canceled_is_an_error_saying_canceled_and_descriptions_stay_within_140_characters() {
    let fake = start_fake().await;
    let forgejo = client(&fake);
    let project = project();
    forgejo
        .report_check(
            target(&project, HEAD),
            report(
                CheckState::Canceled,
                "Superseded by the newer commit 1234567.",
            ),
        )
        .await
        .unwrap();
    let long = "x".repeat(200);
    forgejo
        .report_check(target(&project, HEAD), report(CheckState::Failure, &long))
        .await
        .unwrap();
    let statuses = fake.statuses(REPO, HEAD);
    assert_eq!(statuses[0]["status"], "error");
    assert_eq!(
        statuses[0]["description"],
        "Canceled: Superseded by the newer commit 1234567."
    );
    assert_eq!(statuses[1]["status"], "failure");
    assert_eq!(
        statuses[1]["description"].as_str().unwrap().chars().count(),
        140
    );
}

#[tokio::test]
async fn a_refused_status_is_posted_as_a_comment_table_when_final() {
    let fake = start_fake().await;
    fake.make_read_only(REPO);
    let forgejo = client(&fake);
    let project = project();
    let pending = forgejo
        .report_check(
            target(&project, HEAD),
            report(CheckState::Pending, "Submitted."),
        )
        .await
        .unwrap();
    assert_eq!(pending, ReportChange::Skipped);
    assert!(fake.comments(REPO, 211).is_empty());
    let failed = forgejo
        .report_check(
            target(&project, HEAD),
            report(CheckState::Failure, "RPM build failed."),
        )
        .await
        .unwrap();
    assert_eq!(failed, ReportChange::Commented);
    assert!(fake.statuses(REPO, HEAD).is_empty());
    let comments = fake.comments(REPO, 211);
    assert_eq!(comments.len(), 1);
    assert_eq!(
        comments[0]["body"],
        "| Job | Result |\n| ------------- | ------------ |\n\
         | [Fedora CI - scratch build - rawhide](https://koji.example/taskinfo?taskID=1) | FAILURE |\n\n\
         ### Description\n\nRPM build failed.\n"
    );
}

#[tokio::test]
async fn an_unknown_commit_is_a_refusal_and_a_real_500_an_outage() {
    let fake = start_fake().await;
    let forgejo = client(&fake);
    let project = project();
    // Forgejo answers 500 for a commit it does not have; the commit is then looked up: a
    // refusal, reported by comment, never a wait for Forgejo to come back.
    let change = forgejo
        .report_check(
            target(&project, UNKNOWN),
            report(CheckState::Success, "Tests passed."),
        )
        .await
        .unwrap();
    assert_eq!(change, ReportChange::Commented);
    let error = forgejo
        .create_status(
            target(&project, UNKNOWN),
            &report(CheckState::Success, "Tests passed."),
        )
        .await
        .unwrap_err();
    assert!(!error.is_transient(), "{error}");
    assert!(error.to_string().contains("has no commit"), "{error}");
    // A 500 for a commit that exists is Forgejo in trouble: transient.
    let path = format!("/repos/{REPO}/statuses/{HEAD}");
    fake.faults().fail_next(&path, 500);
    fake.faults().fail_next(&path, 500);
    let error = forgejo
        .report_check(
            target(&project, HEAD),
            report(CheckState::Success, "Tests passed."),
        )
        .await
        .unwrap_err();
    assert!(error.is_transient(), "{error}");
    assert!(error.to_string().starts_with("Forgejo answered"), "{error}");
}

#[tokio::test]
async fn reads_files_branches_and_pull_requests_and_comments() {
    let fake = start_fake().await;
    let forgejo = client(&fake);
    let project = project();
    assert!(
        forgejo
            .file_exists_at_commit(&project, HEAD, ".fmf/version")
            .await
            .unwrap()
    );
    assert!(
        !forgejo
            .file_exists_at_commit(&project, HEAD, "dead.package")
            .await
            .unwrap()
    );
    assert!(forgejo.has_branch(&project, "rawhide").await.unwrap());
    assert!(!forgejo.has_branch(&project, "eln").await.unwrap());
    let pull_request = forgejo.pull_request(&project, 211).await.unwrap().unwrap();
    assert_eq!(pull_request.number, 211);
    assert!(pull_request.open);
    assert_eq!(pull_request.head_sha.as_deref(), Some(HEAD));
    assert_eq!(pull_request.target_branch, "master");
    assert_eq!(forgejo.pull_request(&project, 999).await.unwrap(), None);
    forgejo
        .comment_on_pull_request(&project, 211, "fedora-ci is not a packager.")
        .await
        .unwrap();
    let comments = fake.comments(REPO, 211);
    assert_eq!(comments[0]["body"], "fedora-ci is not a packager.");
    let real = read_fixture("forgejo/api/issues-comments.POST.201.on-pr.json");
    assert_eq!(
        comments[0].as_object().unwrap().len(),
        real.as_object().unwrap().len()
    );
    let paths: Vec<String> = fake
        .calls()
        .iter()
        .map(|call| {
            format!(
                "{} {}{}",
                call.method,
                call.path,
                if call.query.is_empty() {
                    String::new()
                } else {
                    format!("?{}", call.query)
                }
            )
        })
        .collect();
    assert_eq!(
        paths[..4],
        [
            format!("GET /repos/{REPO}/raw/.fmf/version?ref={HEAD}"),
            format!("GET /repos/{REPO}/raw/dead.package?ref={HEAD}"),
            format!("GET /repos/{REPO}/branches/rawhide"),
            format!("GET /repos/{REPO}/branches/eln"),
        ]
    );
}

#[tokio::test]
async fn pyforgejo_from_pypi_sets_statuses_and_comments_on_the_fake() {
    require_python_module("pyforgejo");
    let fake = start_fake().await;
    let api_url = fake.api_url();
    let report = run_conformance_script(
        "pyforgejo_client.py",
        &[
            &api_url,
            TOKEN,
            "packit-validator",
            "ogr-tests",
            HEAD,
            "211",
        ],
    )
    .await;
    assert_eq!(report["pull_number"], 211);
    assert_eq!(report["pull_head"], HEAD);
    assert_eq!(report["pull_base"], "master");
    assert_eq!(
        (&report["first_status"], &report["second_status"]),
        (&serde_json::json!("pending"), &serde_json::json!("success"))
    );
    // Newest first, as Forgejo lists them.
    assert_eq!(
        report["statuses"],
        serde_json::json!([
            ["Fedora CI - rpmlint - rawhide", "success", "Tests passed."],
            [
                "Fedora CI - rpmlint - rawhide",
                "pending",
                "Tests are running."
            ]
        ])
    );
    assert_eq!(report["comment_body"], "Thanks, the tests passed.");
    assert_eq!(report["branch"], "rawhide");
    assert_eq!(report["raw"], "1\n");
    assert_eq!(fake.comments(REPO, 211).len(), 1);
}

#[tokio::test]
async fn ogr_from_pypi_sets_statuses_and_comments_on_the_fake_through_pyforgejo() {
    require_python_module("ogr.services.forgejo");
    let fake = start_fake().await;
    let url = fake.url();
    let report = run_conformance_script(
        "ogr_forgejo.py",
        &[&url, TOKEN, "packit-validator", "ogr-tests", HEAD, "211"],
    )
    .await;
    assert_eq!(report["target_branch"], "master");
    assert_eq!(report["head_commit"], HEAD);
    let statuses = report["statuses"].as_array().unwrap();
    assert_eq!(statuses.len(), 2, "{statuses:?}");
    let latest = fake.latest_statuses(REPO, HEAD);
    let shown = &latest["Fedora CI - scratch build - rawhide"];
    assert_eq!(shown["status"], "success");
    assert_eq!(
        shown["description"].as_str().unwrap().chars().count(),
        140,
        "ogr trims to 140 characters, as our client does"
    );
    assert_eq!(report["comment"], "Thanks, the build passed.");
    assert_eq!(fake.comments(REPO, 211).len(), 1);
}

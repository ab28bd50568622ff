//! The read API over real HTTP, on both backends: packit-service's JSON shapes and
//! pagination, the pull-request and queue views, 400 and 404 answers, CORS, and the OpenAPI
//! document covering every route.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;

use common::TestDb;
use common::seed::{self, Seeded};
use fedora_ci::api::{App, route_paths, router};
use fedora_ci::config::Config;
use fedora_ci::db::Store;
use serde_json::{Value, json};

struct Api {
    base: String,
    client: reqwest::Client,
}

struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }
}

impl Api {
    async fn start(store: &Store) -> anyhow::Result<Api> {
        let config = Config {
            check_name_prefix: seed::PREFIX.to_owned(),
            ..Config::default()
        };
        let app = Arc::new(App {
            store: store.clone(),
            config: Arc::new(config),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{}", listener.local_addr()?);
        tokio::spawn(async move { axum::serve(listener, router(app)).await });
        Ok(Api {
            base,
            client: reqwest::Client::new(),
        })
    }

    async fn get(&self, path: &str) -> anyhow::Result<Answer> {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .send()
            .await?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await?;
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Ok(Answer {
            status,
            headers,
            body,
        })
    }
}

async fn seeded(db: &TestDb) -> anyhow::Result<(Store, Api, Seeded)> {
    let store = db.store().await?;
    let seeded = seed::seed(&store).await?;
    let api = Api::start(&store).await?;
    Ok((store, api, seeded))
}

fn keys(value: &Value) -> BTreeSet<&str> {
    value
        .as_object()
        .map(|map| map.keys().map(String::as_str).collect())
        .unwrap_or_default()
}

/// packit-service's `get_project_info_from_build` fields.
const PROJECT_INFO: &[&str] = &[
    "pr_id",
    "issue_id",
    "branch_name",
    "release",
    "anitya_version",
    "repo_namespace",
    "repo_name",
    "project_url",
    "anitya_project_id",
    "anitya_project_name",
    "anitya_package",
    "non_git_upstream",
];

fn assert_has(value: &Value, fields: &[&str]) {
    let present = keys(value);
    for field in fields {
        assert!(present.contains(field), "{field} missing in {value:#}");
    }
}

async fn runs_list_detail_and_merged(db: TestDb) -> anyhow::Result<()> {
    let (_store, api, seeded) = seeded(&db).await?;
    let answer = api.get("/api/runs").await?;
    assert_eq!(answer.status, 206);
    assert_eq!(answer.header("content-range"), Some("runs 1-10/*"));
    let runs = answer.body.as_array().unwrap();
    // One pipeline per commit: the tests and the analysis took the build pipeline's slots.
    assert_eq!(runs.len(), 2, "{:#}", answer.body);
    let ids: Vec<i64> = runs
        .iter()
        .map(|run| run["merged_run_id"].as_i64().unwrap())
        .collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first: {ids:?}");
    for run in runs {
        assert_has(
            run,
            &[
                "merged_run_id",
                "srpm",
                "copr",
                "koji",
                "test_run",
                "propose_downstream",
                "pull_from_upstream",
                "bodhi_update",
                "vm_image_build",
                "time_submitted",
                "trigger",
            ],
        );
        assert_has(&run["trigger"], PROJECT_INFO);
        assert_eq!(run["trigger"]["pr_id"], json!(seed::PR_ID));
        assert_eq!(run["trigger"]["repo_name"], json!(seed::REPO));
    }
    let new_build_run = runs
        .iter()
        .find(|run| run["koji"][0]["packit_id"] == json!(seeded.new_build))
        .expect("the new commit's pipeline");
    assert_eq!(
        new_build_run["koji"],
        json!([{"packit_id": seeded.new_build, "target": "rawhide", "status": "failure"}])
    );
    // packit's items are {packit_id, target, status} (service/api/runs.py:113-119); test
    // runs add the test name the worker stored (worker/handlers/testing_farm.py:500).
    assert_eq!(
        new_build_run["test_run"],
        json!([
            {"packit_id": seeded.failed_test, "target": "fedora-rawhide", "status": "failed",
             "fedora_ci_test": "rpminspect"},
            {"packit_id": seeded.errored_test, "target": "fedora-rawhide", "status": "error",
             "fedora_ci_test": "installability"},
        ])
    );
    assert_eq!(
        new_build_run["log_detective"],
        json!([{"packit_id": seeded.log_detective, "target": "rawhide-x86_64", "status": "complete"}])
    );
    assert!(new_build_run["time_submitted"].is_i64());

    // Page 2 of 1 per page is the second newest.
    let page2 = api.get("/api/runs?page=2&per_page=1").await?;
    assert_eq!(page2.status, 206);
    assert_eq!(page2.header("content-range"), Some("runs 2-2/*"));
    assert_eq!(page2.body.as_array().map(Vec::len), Some(1));
    assert_eq!(page2.body[0]["merged_run_id"], json!(ids[1]));
    // Past the end: still 206, an empty page, as packit-service answers.
    let past = api.get("/api/runs?page=50").await?;
    assert_eq!((past.status, past.body.clone()), (206, json!([])));

    let id = ids[1];
    let merged = api.get(&format!("/api/runs/merged/{id}")).await?;
    assert_eq!(merged.status, 200);
    assert_eq!(merged.body, page2.body[0]);

    let run = api.get(&format!("/api/runs/{id}")).await?;
    assert_eq!(run.status, 200);
    assert_has(
        &run.body,
        &[
            "run_id",
            "trigger",
            "srpm_build_id",
            "copr_build_group_id",
            "koji_build_group_id",
            "test_run_group_id",
            "bodhi_update_group_id",
        ],
    );
    assert_eq!(run.body["run_id"], json!(id));
    assert_eq!(run.body["srpm_build_id"], Value::Null);

    for path in ["/api/runs/999999", "/api/runs/merged/999999", "/api/runs/0"] {
        let missing = api.get(path).await?;
        assert_eq!(missing.status, 404, "{path}");
        assert_eq!(
            missing.body,
            json!({"error": "No run has been found in DB"})
        );
    }
    Ok(())
}

async fn koji_builds(db: TestDb) -> anyhow::Result<()> {
    let (_store, api, seeded) = seeded(&db).await?;
    let answer = api.get("/api/koji-builds?scratch=true").await?;
    assert_eq!(answer.status, 206);
    assert_eq!(answer.header("content-range"), Some("koji-builds 1-10/*"));
    let builds = answer.body.as_array().unwrap();
    assert_eq!(builds.len(), 2);
    let newest = &builds[0];
    assert_eq!(
        keys(newest),
        [
            "packit_id",
            "task_id",
            "scratch",
            "status",
            "build_submitted_time",
            "chroot",
            "web_url",
            "build_logs_urls",
            "pr_id",
            "branch_name",
            "release",
            "project_url",
            "repo_namespace",
            "repo_name",
        ]
        .into_iter()
        .collect()
    );
    assert_eq!(newest["packit_id"], json!(seeded.new_build));
    assert_eq!(newest["task_id"], json!("1002"));
    assert_eq!(newest["scratch"], json!(true));
    assert_eq!(newest["chroot"], json!("rawhide"));
    assert_eq!(newest["pr_id"], json!(seed::PR_ID));
    assert_eq!(newest["repo_namespace"], json!(seed::NAMESPACE));
    assert!(newest["build_logs_urls"]["x86_64"].is_string());
    assert!(newest["build_submitted_time"].is_i64());

    let none = api.get("/api/koji-builds?scratch=FALSE").await?;
    assert_eq!((none.status, none.body), (206, json!([])));
    let all = api.get("/api/koji-builds").await?;
    assert_eq!(all.body.as_array().map(Vec::len), Some(2));
    let bad = api.get("/api/koji-builds?scratch=maybe").await?;
    assert_eq!(bad.status, 400);
    assert!(bad.body["error"].as_str().unwrap().contains("scratch"));

    let detail = api
        .get(&format!("/api/koji-builds/{}", seeded.new_build))
        .await?;
    assert_eq!(detail.status, 200);
    assert_has(
        &detail.body,
        &[
            "task_id",
            "status",
            "chroot",
            "scratch",
            "build_start_time",
            "build_finished_time",
            "build_submitted_time",
            "commit_sha",
            "web_url",
            "build_logs_urls",
            "srpm_build_id",
            "run_ids",
            "build_submission_stdout",
            "error_message",
            "log_detective_runs",
        ],
    );
    assert_has(&detail.body, PROJECT_INFO);
    assert_eq!(detail.body["commit_sha"], json!(seed::NEW_SHA));
    assert_eq!(detail.body["error_message"], json!("RPM build failed"));
    assert_eq!(
        detail.body["log_detective_runs"],
        json!([seeded.log_detective])
    );
    let run_ids = detail.body["run_ids"].as_array().unwrap();
    assert_eq!(run_ids.len(), 1);

    let group_id = {
        let run = api.get(&format!("/api/runs/{}", run_ids[0])).await?;
        run.body["koji_build_group_id"].as_i64().unwrap()
    };
    let group = api
        .get(&format!("/api/koji-builds/groups/{group_id}"))
        .await?;
    assert_eq!(group.status, 200);
    assert_has(
        &group.body,
        &["submitted_time", "run_ids", "build_target_ids"],
    );
    assert_has(&group.body, PROJECT_INFO);
    assert_eq!(group.body["build_target_ids"], json!([seeded.new_build]));
    assert_eq!(&group.body["run_ids"], &detail.body["run_ids"]);

    let missing = api.get("/api/koji-builds/424242").await?;
    assert_eq!(
        (missing.status, missing.body),
        (404, json!({"error": "No info about build stored in DB"}))
    );
    let missing = api.get("/api/koji-builds/groups/424242").await?;
    assert_eq!(
        (missing.status, missing.body),
        (404, json!({"error": "No info about group stored in DB"}))
    );
    Ok(())
}

async fn testing_farm_results(db: TestDb) -> anyhow::Result<()> {
    let (_store, api, seeded) = seeded(&db).await?;
    let answer = api.get("/api/testing-farm/results?per_page=2").await?;
    assert_eq!(answer.status, 206);
    assert_eq!(answer.header("content-range"), Some("test-results 1-2/*"));
    let runs = answer.body.as_array().unwrap();
    assert_eq!(runs.len(), 2);
    assert_eq!(
        keys(&runs[0]),
        [
            "packit_id",
            "pipeline_id",
            "ref",
            "status",
            "target",
            "web_url",
            "pr_id",
            "submitted_time",
            "repo_namespace",
            "repo_name",
            "project_url",
            // Ours: packit's list (service/api/testing_farm.py:118-131) has no test name.
            "fedora_ci_test",
        ]
        .into_iter()
        .collect()
    );
    assert_eq!(runs[0]["packit_id"], json!(seeded.errored_test));
    assert_eq!(runs[0]["ref"], json!(seed::NEW_SHA));
    assert_eq!(runs[0]["status"], json!("error"));
    // Two runs on one target, told apart by the test (data.fedora_ci_test, as
    // worker/handlers/testing_farm.py:500 stores it).
    assert_eq!(
        runs.iter()
            .map(|run| (&run["target"], &run["fedora_ci_test"]))
            .collect::<Vec<_>>(),
        [
            (&json!("fedora-rawhide"), &json!("installability")),
            (&json!("fedora-rawhide"), &json!("rpminspect")),
        ]
    );
    let page2 = api
        .get("/api/testing-farm/results?per_page=2&page=2")
        .await?;
    assert_eq!(page2.header("content-range"), Some("test-results 3-4/*"));
    assert_eq!(page2.body[0]["packit_id"], json!(seeded.old_test));

    let detail = api
        .get(&format!("/api/testing-farm/{}", seeded.failed_test))
        .await?;
    assert_eq!(detail.status, 200);
    assert_has(
        &detail.body,
        &[
            "pipeline_id",
            "status",
            "chroot",
            "commit_sha",
            "web_url",
            "copr_build_ids",
            "koji_build_ids",
            "run_ids",
            "submitted_time",
        ],
    );
    assert_has(&detail.body, PROJECT_INFO);
    assert_eq!(detail.body["koji_build_ids"], json!([seeded.new_build]));
    assert_eq!(detail.body["chroot"], json!("fedora-rawhide"));
    assert_eq!(detail.body["status"], json!("failed"));

    let group_id = {
        let run_id = detail.body["run_ids"][0].as_i64().unwrap();
        let run = api.get(&format!("/api/runs/{run_id}")).await?;
        run.body["test_run_group_id"].as_i64().unwrap()
    };
    let group = api
        .get(&format!("/api/testing-farm/groups/{group_id}"))
        .await?;
    assert_eq!(group.status, 200);
    assert_has(
        &group.body,
        &["submitted_time", "run_ids", "test_target_ids"],
    );
    assert_eq!(
        group.body["test_target_ids"],
        json!([seeded.failed_test, seeded.errored_test])
    );
    let missing = api.get("/api/testing-farm/77777").await?;
    assert_eq!(missing.status, 404);
    assert!(missing.body["error"].is_string());
    Ok(())
}

/// A run stored without `data.fedora_ci_test` (packit's `TFTTestRunTargetModel` allows any
/// data) lists `"fedora_ci_test": null`, in both lists.
async fn test_run_without_test_name(db: TestDb) -> anyhow::Result<()> {
    let (store, api, seeded) = seeded(&db).await?;
    let build = fedora_ci::db::runs::koji_build(&store, seeded.new_build)
        .await?
        .unwrap();
    let run = fedora_ci::db::runs::NewTestRun {
        distro: "fedora-eln",
        data: json!({"base_project_url": seed::PROJECT_URL}),
    };
    let mut tx = store.begin().await?;
    let ids = fedora_ci::db::runs::create_test_runs(
        &mut tx,
        build.project_event_id,
        seed::REPO,
        None,
        &[run],
    )
    .await?;
    tx.commit().await?;
    let unnamed = ids[0];

    let results = api.get("/api/testing-farm/results").await?;
    let listed = results
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|run| {
            (
                run["packit_id"].as_i64().unwrap(),
                run["fedora_ci_test"].clone(),
            )
        })
        .collect::<Vec<_>>();
    assert_eq!(
        listed,
        [
            (i64::from(unnamed), Value::Null),
            (i64::from(seeded.errored_test), json!("installability")),
            (i64::from(seeded.failed_test), json!("rpminspect")),
            (i64::from(seeded.old_test), json!("rpminspect")),
        ]
    );

    let runs = api.get("/api/runs").await?;
    let newest = &runs.body[0];
    assert_eq!(
        newest["test_run"],
        json!([{"packit_id": unnamed, "target": "fedora-eln", "status": "new", "fedora_ci_test": null}])
    );
    // Only test runs carry the field: Koji builds and Log Detective runs keep packit's keys.
    let all = runs.body.as_array().unwrap();
    for run in all {
        for kind in ["koji", "log_detective"] {
            for item in run[kind].as_array().unwrap() {
                assert_eq!(
                    keys(item),
                    ["packit_id", "status", "target"].into_iter().collect()
                );
            }
        }
    }
    Ok(())
}

async fn log_detective(db: TestDb) -> anyhow::Result<()> {
    let (_store, api, seeded) = seeded(&db).await?;
    let answer = api.get("/api/log-detective").await?;
    assert_eq!(answer.status, 206);
    assert_eq!(
        answer.header("content-range"),
        Some("log-detective-results 1-10/*")
    );
    let run = &answer.body[0];
    assert_has(
        run,
        &[
            "packit_id",
            "analysis_id",
            "status",
            "chroot",
            "commit_sha",
            "log_detective_response",
            "error_msg",
            "target_build",
            "run_ids",
            "submitted_time",
        ],
    );
    assert_has(run, PROJECT_INFO);
    assert_eq!(run["packit_id"], json!(seeded.log_detective));
    assert_eq!(run["analysis_id"], json!("analysis-1"));
    assert_eq!(run["status"], json!("complete"));
    assert_eq!(run["chroot"], json!("rawhide-x86_64"));
    assert_eq!(run["commit_sha"], json!(seed::NEW_SHA));
    assert_eq!(
        run["log_detective_response"]["explanation"]["text"],
        json!("missing BuildRequires")
    );
    assert_eq!(run["run_ids"].as_array().map(Vec::len), Some(1));

    let detail = api
        .get(&format!("/api/log-detective/{}", seeded.log_detective))
        .await?;
    assert_eq!((detail.status, &detail.body), (200, run));

    let run_id = run["run_ids"][0].as_i64().unwrap();
    let group_id =
        api.get(&format!("/api/runs/{run_id}")).await?.body["log_detective_run_group_id"]
            .as_i64()
            .unwrap();
    let group = api
        .get(&format!("/api/log-detective/groups/{group_id}"))
        .await?;
    assert_eq!(group.status, 200);
    assert_has(
        &group.body,
        &[
            "packit_id",
            "submitted_time",
            "run_ids",
            "log_detective_target_ids",
        ],
    );
    assert_eq!(
        group.body["log_detective_target_ids"],
        json!([seeded.log_detective])
    );
    let missing = api.get("/api/log-detective/31337").await?;
    assert_eq!(
        (missing.status, missing.body),
        (
            404,
            json!({"error": "No info about Log Detective run stored in DB"})
        )
    );
    Ok(())
}

async fn project_pull_requests(db: TestDb) -> anyhow::Result<()> {
    let (_store, api, _seeded) = seeded(&db).await?;
    let path = format!(
        "/api/projects/{}/{}/{}/prs",
        seed::FORGE,
        seed::NAMESPACE,
        seed::REPO
    );
    let answer = api.get(&path).await?;
    assert_eq!(answer.status, 206);
    assert_eq!(
        answer.header("content-range"),
        Some("git-project-prs 1-10/*")
    );
    let prs = answer.body.as_array().unwrap();
    assert_eq!(prs.len(), 1);
    assert_eq!(
        keys(&prs[0]),
        ["pr_id", "builds", "koji_builds", "srpm_builds", "tests"]
            .into_iter()
            .collect()
    );
    assert_eq!(prs[0]["pr_id"], json!(seed::PR_ID));
    assert_eq!(prs[0]["koji_builds"].as_array().map(Vec::len), Some(2));
    assert_eq!(prs[0]["tests"].as_array().map(Vec::len), Some(3));
    assert_eq!(
        keys(&prs[0]["koji_builds"][0]),
        ["task_id", "chroot", "status", "web_url"]
            .into_iter()
            .collect()
    );
    assert_eq!(
        keys(&prs[0]["tests"][0]),
        ["pipeline_id", "chroot", "status", "web_url"]
            .into_iter()
            .collect()
    );
    // An unknown project has no pull requests: 200 and an empty list, as packit answers.
    let none = api
        .get("/api/projects/src.fedoraproject.org/rpms/nothing/prs")
        .await?;
    assert_eq!((none.status, none.body), (200, json!([])));
    Ok(())
}

async fn pull_request_view(db: TestDb) -> anyhow::Result<()> {
    let (_store, api, seeded) = seeded(&db).await?;
    let answer = api
        .get(&format!(
            "/api/pull-requests/{}/{}/{}",
            seed::NAMESPACE,
            seed::REPO,
            seed::PR_ID
        ))
        .await?;
    assert_eq!(answer.status, 200, "{:#}", answer.body);
    let pr = &answer.body;
    assert_eq!(pr["pr_id"], json!(seed::PR_ID));
    assert_eq!(
        pr["pr_url"],
        json!(format!(
            "{}/pull-request/{}",
            seed::PROJECT_URL,
            seed::PR_ID
        ))
    );
    let commits = pr["commits"].as_array().unwrap();
    assert_eq!(commits.len(), 2);
    assert_eq!(
        commits[0]["commit_sha"],
        json!(seed::NEW_SHA),
        "newest first"
    );
    assert_eq!(commits[1]["commit_sha"], json!(seed::OLD_SHA));
    assert_eq!(commits[0]["state"], json!("failure"));
    assert_eq!(commits[1]["state"], json!("success"));

    let checks = commits[0]["checks"].as_array().unwrap();
    let summary: Vec<(&str, &str, &str)> = checks
        .iter()
        .map(|check| {
            (
                check["check"].as_str().unwrap(),
                check["target"].as_str().unwrap(),
                check["state"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("rpminspect", "rawhide", "failure"),
            ("scratch build", "rawhide", "failure"),
            ("installability", "rawhide", "error"),
            ("Log Detective analysis", "rawhide-x86_64", "success"),
        ],
        "failures first"
    );
    let build = &checks[1];
    assert_eq!(build["packit_id"], json!(seeded.new_build));
    assert_eq!(build["task_id"], json!("1002"));
    assert_eq!(build["failure_kind"], json!("package"));
    assert!(build["url"].as_str().unwrap().contains("taskID=1002"));
    assert_eq!(build["flag"]["status"], json!("failure"));
    assert_eq!(build["flag"]["posted"], json!(false));
    assert_eq!(
        build["flag"]["name"],
        json!("Fedora CI - scratch build - rawhide [2222222]")
    );
    assert_eq!(checks[2]["failure_kind"], json!("infrastructure"));
    assert_eq!(checks[2]["flag"], Value::Null);
    assert_eq!(checks[0]["flag"]["check"], json!("rpminspect"));
    assert_eq!(commits[0]["flags"].as_array().map(Vec::len), Some(2));

    for (path, status) in [
        ("/api/pull-requests/rpms/optee_os/999", 404),
        ("/api/pull-requests/rpms/unknown/12", 404),
        ("/api/pull-requests/rpms/optee_os/twelve", 400),
    ] {
        let answer = api.get(path).await?;
        assert_eq!(answer.status, status, "{path}");
        assert!(
            answer.body["error"].is_string(),
            "{path}: {:#}",
            answer.body
        );
    }
    Ok(())
}

async fn queue_view(db: TestDb) -> anyhow::Result<()> {
    let (_store, api, seeded) = seeded(&db).await?;
    let answer = api.get("/api/queue").await?;
    assert_eq!(answer.status, 200);
    let queue = &answer.body;
    assert_eq!(
        queue["queues"],
        json!([{"queue": "short", "waiting": 0, "scheduled": 0, "running": 0, "dead": 1}])
    );
    assert_eq!(queue["dead_tasks"][0]["id"], json!(seeded.dead_task));
    assert_eq!(queue["dead_tasks"][0]["name"], json!("set_flag"));
    assert_eq!(
        queue["dead_tasks"][0]["last_error"],
        json!("Pagure answered 500")
    );
    assert!(queue["intake"]["lag_seconds"].as_f64().unwrap() >= 29.0);
    assert_eq!(queue["intake"]["outcomes"], json!({"pending": 1}));
    Ok(())
}

async fn bad_parameters_and_unknown_ids(db: TestDb) -> anyhow::Result<()> {
    let (_store, api, _seeded) = seeded(&db).await?;
    for (path, parameter) in [
        ("/api/runs?page=0", "page"),
        ("/api/runs?page=-3", "page"),
        ("/api/runs?page=two", "page"),
        ("/api/koji-builds?per_page=0", "per_page"),
        ("/api/testing-farm/results?per_page=1.5", "per_page"),
        ("/api/log-detective?per_page=", "per_page"),
        ("/api/koji-builds/abc", "id"),
        ("/api/koji-builds/..%2F..%2Fetc", "id"),
        ("/api/koji-builds/groups/..%2F..%2Fetc%2Fpasswd", "id"),
        ("/api/testing-farm/1%200", "id"),
        ("/api/runs/merged/1e3", "id"),
        ("/api/log-detective/groups/%00", "id"),
    ] {
        let answer = api.get(path).await?;
        assert_eq!(answer.status, 400, "{path}: {:#}", answer.body);
        assert_eq!(
            answer.header("content-type"),
            Some("application/json"),
            "{path}"
        );
        let error = answer.body["error"].as_str().unwrap_or_default();
        assert!(error.contains(parameter), "{path}: {error}");
    }
    // A huge page size is served capped, never refused.
    let huge = api.get("/api/runs?per_page=1000000000000").await?;
    assert_eq!(huge.status, 206);
    assert_eq!(
        huge.header("content-range"),
        Some(format!("runs 1-{}/*", fedora_ci::api::MAX_PER_PAGE).as_str())
    );
    let huge_page = api
        .get("/api/koji-builds?page=99999999999999999999999")
        .await?;
    assert_eq!((huge_page.status, huge_page.body), (206, json!([])));
    // Ids that cannot exist are unknown, not errors.
    for path in [
        "/api/koji-builds/0",
        "/api/koji-builds/-1",
        "/api/testing-farm/99999999999999",
        "/api/no-such-endpoint",
        "/api/koji-builds/1/2",
    ] {
        let answer = api.get(path).await?;
        assert_eq!(answer.status, 404, "{path}");
        assert!(answer.body["error"].is_string(), "{path}");
    }
    Ok(())
}

async fn cors_headers(db: TestDb) -> anyhow::Result<()> {
    let (_store, api, _seeded) = seeded(&db).await?;
    let response = api
        .client
        .get(format!("{}/api/runs", api.base))
        .header("Origin", "https://dashboard.example.org")
        .send()
        .await?;
    assert_eq!(response.status().as_u16(), 206);
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned)
    };
    assert_eq!(header("access-control-allow-origin").as_deref(), Some("*"));
    assert!(
        header("access-control-expose-headers")
            .unwrap_or_default()
            .to_ascii_lowercase()
            .contains("content-range")
    );

    let preflight = api
        .client
        .request(
            reqwest::Method::OPTIONS,
            format!("{}/api/koji-builds/1", api.base),
        )
        .header("Origin", "https://dashboard.example.org")
        .header("Access-Control-Request-Method", "GET")
        .send()
        .await?;
    assert!(preflight.status().is_success(), "{}", preflight.status());
    let headers = preflight.headers();
    assert_eq!(
        headers
            .get("access-control-allow-origin")
            .and_then(|v| v.to_str().ok()),
        Some("*")
    );
    let methods = headers
        .get("access-control-allow-methods")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(methods.contains("GET"), "{methods}");
    assert!(!methods.contains("POST"), "{methods}");
    Ok(())
}

async fn openapi_describes_every_route(db: TestDb) -> anyhow::Result<()> {
    let store = db.store().await?;
    let api = Api::start(&store).await?;
    let answer = api.get("/api/openapi.json").await?;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("content-type"), Some("application/json"));
    let document = answer.body;
    assert_eq!(document["openapi"], json!("3.0.3"));
    let described: BTreeSet<&str> = keys(&document["paths"]);
    let served: BTreeSet<&str> = route_paths().into_iter().collect();
    assert_eq!(described, served, "the document and the router differ");
    // Every $ref points at something defined.
    let text = document.to_string();
    for reference in text.split("\"$ref\":\"#/components/").skip(1) {
        let name = reference.split('"').next().unwrap_or_default();
        let (kind, name) = name.split_once('/').unwrap();
        assert!(
            document["components"][kind][name].is_object(),
            "undefined $ref {kind}/{name}"
        );
    }
    Ok(())
}

async fn system_reports_version(db: TestDb) -> anyhow::Result<()> {
    let store = db.store().await?;
    let api = Api::start(&store).await?;
    let answer = api.get("/api/system").await?;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.body["version"], json!(env!("CARGO_PKG_VERSION")));
    assert!(answer.body.get("commit").is_some());
    Ok(())
}

/// The dashboard: every client route answers the page as HTML with its security headers,
/// its files are served, the backends are listed, and the API's 404 stays JSON.
async fn dashboard_pages(db: TestDb) -> anyhow::Result<()> {
    let store = db.store().await?;
    let api = Api::start(&store).await?;
    let html = |path: &'static str| {
        api.client
            .get(format!("{}{path}", api.base))
            .header("Accept", "text/html,application/xhtml+xml,*/*;q=0.8")
            .send()
    };
    let mut paths: Vec<String> = fedora_ci::api::PAGE_ROUTES
        .iter()
        .map(|route| {
            route
                .replace("{namespace}", "rpms")
                .replace("{repo}", "optee_os")
                .replace("{pr_id}", "12")
                .replace("{id}", "3")
        })
        .collect();
    paths.extend([
        "/pipelines?backend=Packit&page=2".to_owned(),
        "/jobs/koji/99999999999999999999".to_owned(),
    ]);
    for expected in [
        "/",
        "/pipelines",
        "/pull-requests/rpms/optee_os/12",
        "/jobs/koji",
        "/jobs/koji/3",
        "/jobs/testing-farm",
        "/jobs/testing-farm/3",
        "/jobs/log-detective",
        "/jobs/log-detective/3",
        "/queue",
    ] {
        assert!(paths.iter().any(|path| path == expected), "{expected}");
    }
    for path in &paths {
        let response = api.client.get(format!("{}{path}", api.base)).send().await?;
        assert_eq!(response.status().as_u16(), 200, "{path}");
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|value| value.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        assert_eq!(header("content-type"), "text/html; charset=utf-8", "{path}");
        let policy = header("content-security-policy");
        assert!(policy.contains("script-src 'self';"), "{path}: {policy}");
        assert!(
            policy.contains("connect-src 'self' https://prod.packit.dev;"),
            "{path}: {policy}"
        );
        assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
        assert_eq!(header("x-content-type-options"), "nosniff");
        let body = response.text().await?;
        assert!(body.starts_with("<!doctype html>"), "{path}");
        assert!(body.contains(r#"<select id="backend""#), "{path}");
        assert!(!body.contains("<script>"), "no inline script: {path}");
    }

    // The page's files, with their types and a revalidation tag.
    for (path, content_type) in [
        ("/dashboard/app.js", "text/javascript; charset=utf-8"),
        ("/dashboard/style.css", "text/css; charset=utf-8"),
        ("/dashboard/favicon.svg", "image/svg+xml"),
    ] {
        let response = api.client.get(format!("{}{path}", api.base)).send().await?;
        assert_eq!(response.status().as_u16(), 200, "{path}");
        assert_eq!(
            response.headers()["content-type"].to_str()?,
            content_type,
            "{path}"
        );
        let etag = response.headers()["etag"].clone();
        let again = api
            .client
            .get(format!("{}{path}", api.base))
            .header("If-None-Match", etag)
            .send()
            .await?;
        assert_eq!(again.status().as_u16(), 304, "{path}");
    }

    // The context selector's entries: this service and Packit by default.
    let backends = api.get("/api/dashboard/backends").await?;
    assert_eq!(backends.status, 200);
    assert_eq!(
        backends.body,
        json!({"backends": [
            {"name": "Fedora CI", "api_url": "/api"},
            {"name": "Packit", "api_url": "https://prod.packit.dev/api"},
        ]})
    );

    // The API's unknown paths stay JSON, even for a browser; other unknown paths get the
    // page with 404 when HTML is wanted, JSON otherwise.
    for path in ["/api/unknown", "/api", "/api/jobs/koji/1"] {
        let response = html(path).await?;
        assert_eq!(response.status().as_u16(), 404, "{path}");
        assert_eq!(
            response.headers()["content-type"].to_str()?,
            "application/json",
            "{path}"
        );
    }
    let page = html("/no/such/view").await?;
    assert_eq!(page.status().as_u16(), 404);
    assert_eq!(
        page.headers()["content-type"].to_str()?,
        "text/html; charset=utf-8"
    );
    let machine = api.get("/no/such/view").await?;
    assert_eq!(machine.status, 404);
    assert!(machine.body["error"].is_string());
    Ok(())
}

async fn empty_database_lists_nothing(db: TestDb) -> anyhow::Result<()> {
    let store = db.store().await?;
    let api = Api::start(&store).await?;
    for path in [
        "/api/runs",
        "/api/koji-builds",
        "/api/testing-farm/results",
        "/api/log-detective",
    ] {
        let answer = api.get(path).await?;
        assert_eq!((answer.status, answer.body), (206, json!([])), "{path}");
    }
    let queue = api.get("/api/queue").await?;
    assert_eq!(queue.body["queues"], json!([]));
    assert_eq!(queue.body["intake"]["lag_seconds"], Value::Null);
    Ok(())
}

on_both_backends!(
    runs_list_detail_and_merged,
    koji_builds,
    testing_farm_results,
    test_run_without_test_name,
    log_detective,
    project_pull_requests,
    pull_request_view,
    queue_view,
    bad_parameters_and_unknown_ids,
    cors_headers,
    openapi_describes_every_route,
    system_reports_version,
    dashboard_pages,
    empty_database_lists_nothing,
);

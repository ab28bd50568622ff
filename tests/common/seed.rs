//! Test data for the read API: one pull request with two commits, built, tested and analysed,
//! written through the service's own `db::runs` functions.

use chrono::{Duration, Utc};
use fedora_ci::db::runs::{self, KojiBuildUpdate, NewTestRun, PullRequestKey, TestRunUpdate};
use fedora_ci::db::{Store, flags, inbound, tasks};
use fedora_ci::helpers::flags::{check_name, flag_key};
use serde_json::json;

pub const NAMESPACE: &str = "rpms";
pub const REPO: &str = "optee_os";
pub const PROJECT_URL: &str = "https://src.fedoraproject.org/rpms/optee_os";
pub const FORGE: &str = "src.fedoraproject.org";
pub const PR_ID: i64 = 12;
pub const OLD_SHA: &str = "1111111111111111111111111111111111111111";
pub const NEW_SHA: &str = "2222222222222222222222222222222222222222";
pub const PREFIX: &str = "Fedora CI";

/// The ids of what [`seed`] created.
#[derive(Debug, Clone)]
pub struct Seeded {
    pub pull_request_id: i32,
    /// The old commit's build (succeeded) and the new commit's (failed).
    pub old_build: i32,
    pub new_build: i32,
    /// On the new commit: rpminspect failed (package), installability errored (infra).
    pub failed_test: i32,
    pub errored_test: i32,
    pub old_test: i32,
    pub log_detective: i32,
    pub dead_task: i64,
}

async fn build(
    store: &Store,
    repo: &str,
    project_event_id: i32,
    status: &str,
    task_id: i64,
) -> anyhow::Result<runs::KojiBuild> {
    let mut tx = store.begin().await?;
    let data = json!({"trigger": "push", "dist_git_branch": "rawhide"});
    let id = runs::create_koji_build(&mut tx, project_event_id, repo, "rawhide", &data).await?;
    tx.commit().await?;
    let created = runs::koji_build(store, id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("build {id} not stored"))?;
    let web_url = format!("https://koji.fedoraproject.org/koji/taskinfo?taskID={task_id}");
    let logs = json!({"x86_64": format!("https://kojipkgs.fedoraproject.org/work/tasks/{task_id}/build.log")});
    let now = Utc::now().naive_utc();
    let update = KojiBuildUpdate {
        status: Some(status),
        task_id: Some(task_id),
        web_url: Some(&web_url),
        build_logs_urls: Some(&logs),
        build_start_time: Some(now),
        build_finished_time: Some(now),
        data: (status == "failure").then(|| json!({"error": "RPM build failed"})),
    };
    let mut tx = store.begin().await?;
    runs::update_koji_build(&mut tx, &created, &update).await?;
    tx.commit().await?;
    runs::koji_build(store, id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("build {id} not stored"))
}

async fn tests(
    store: &Store,
    (repo, project_url): (&str, &str),
    build: &runs::KojiBuild,
    results: &[(&str, &str)],
) -> anyhow::Result<Vec<i32>> {
    let new: Vec<NewTestRun> = results
        .iter()
        .map(|(test, _)| NewTestRun {
            distro: "fedora-rawhide",
            data: json!({"base_project_url": project_url, "fedora_ci_test": test}),
        })
        .collect();
    let mut tx = store.begin().await?;
    let ids =
        runs::create_test_runs(&mut tx, build.project_event_id, repo, Some(build), &new).await?;
    tx.commit().await?;
    for (id, (_, status)) in ids.iter().zip(results) {
        let run = runs::test_run(store, *id)
            .await?
            .ok_or_else(|| anyhow::anyhow!("test run {id} not stored"))?;
        let request_id = uuid::Uuid::new_v4().to_string();
        let url = format!("https://artifacts.dev.testing-farm.io/{request_id}");
        let mut tx = store.begin().await?;
        let update = TestRunUpdate {
            status: Some(status),
            request_id: Some(&request_id),
            web_url: Some(&url),
            submitted_time: Some(Utc::now().naive_utc()),
            data: None,
        };
        runs::update_test_run(&mut tx, &run, &update).await?;
        tx.commit().await?;
    }
    Ok(ids)
}

async fn flag(
    store: &Store,
    pull_request_id: i32,
    sha: &str,
    check: &str,
    status: &str,
) -> anyhow::Result<()> {
    let username = check_name(PREFIX, check, "rawhide", sha);
    let uid = flag_key(pull_request_id, &username);
    let mut tx = store.begin().await?;
    flags::want(
        &mut tx,
        &flags::FlagState {
            uid: &uid,
            pull_request_id,
            commit_sha: sha,
            check_name: check,
            username: &username,
            status,
            comment: &format!("{check}: {status}"),
            url: "https://example.org/check",
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Seeds a migrated store.
pub async fn seed(store: &Store) -> anyhow::Result<Seeded> {
    let key = PullRequestKey {
        namespace: Some(NAMESPACE),
        repo_name: REPO,
        project_url: PROJECT_URL,
        instance_url: FORGE,
        pr_id: PR_ID,
    };
    let mut tx = store.begin().await?;
    let old = runs::upsert_pull_request_event(&mut tx, &key, OLD_SHA, 1).await?;
    let new = runs::upsert_pull_request_event(&mut tx, &key, NEW_SHA, 2).await?;
    tx.commit().await?;

    let old_build = build(store, REPO, old.project_event_id, "success", 1001).await?;
    let old_tests = tests(
        store,
        (REPO, PROJECT_URL),
        &old_build,
        &[("rpminspect", "passed")],
    )
    .await?;
    let new_build = build(store, REPO, new.project_event_id, "failure", 1002).await?;
    let new_tests = tests(
        store,
        (REPO, PROJECT_URL),
        &new_build,
        &[("rpminspect", "failed"), ("installability", "error")],
    )
    .await?;

    let mut tx = store.begin().await?;
    let log_detective =
        runs::create_log_detective_run(&mut tx, &new_build, "analysis-1", "1003", "rawhide-x86_64")
            .await?;
    tx.commit().await?;
    let mut tx = store.begin().await?;
    let response = json!({"explanation": {"text": "missing BuildRequires"}});
    runs::finish_log_detective_run(&mut tx, log_detective, "complete", Some(&response), None)
        .await?;
    tx.commit().await?;

    flag(
        store,
        old.pull_request_id,
        OLD_SHA,
        "scratch build",
        "success",
    )
    .await?;
    flag(
        store,
        new.pull_request_id,
        NEW_SHA,
        "scratch build",
        "failure",
    )
    .await?;
    flag(store, new.pull_request_id, NEW_SHA, "rpminspect", "failure").await?;

    // A task that ran out of attempts, and a message still waiting.
    let now = Utc::now();
    let mut tx = store.begin().await?;
    let payload = json!({});
    let dead_task = tasks::insert(
        &mut tx,
        &tasks::NewTask {
            name: "set_flag",
            queue: "short",
            payload: &payload,
            priority: 0,
            max_attempts: 1,
            run_at: now,
        },
        now,
    )
    .await?;
    tx.commit().await?;
    let claimed = tasks::claim(store, "short", "seed", now, now + Duration::minutes(5), 1).await?;
    for task in claimed {
        tasks::bury(store, task.id, "seed", "Pagure answered 500", now).await?;
    }
    let mut tx = store.begin().await?;
    inbound::insert_many(
        &mut tx,
        &[inbound::NewInbound {
            message_id: "seed-1",
            topic: "org.fedoraproject.prod.pagure.pull-request.new",
            headers: &payload,
            body: "{}",
            received_at: now - Duration::seconds(30),
            outcome: inbound::PENDING,
            reason: None,
        }],
    )
    .await?;
    tx.commit().await?;

    Ok(Seeded {
        pull_request_id: new.pull_request_id,
        old_build: old_build.id,
        new_build: new_build.id,
        failed_test: new_tests[0],
        errored_test: new_tests[1],
        old_test: old_tests[0],
        log_detective,
        dead_task,
    })
}

/// Another project, for a second instance that stands in for another backend.
pub const OTHER_REPO: &str = "python-requests";
pub const OTHER_PROJECT_URL: &str = "https://src.fedoraproject.org/rpms/python-requests";
pub const OTHER_PR_ID: i64 = 7;
pub const OTHER_SHA: &str = "3333333333333333333333333333333333333333";
pub const OTHER_TASK_ID: i64 = 2001;

/// Seeds a migrated store with other data than [`seed`]: one pull request of
/// [`OTHER_REPO`] with one successful build and one passed test. Returns the build's id.
pub async fn seed_other(store: &Store) -> anyhow::Result<i32> {
    let key = PullRequestKey {
        namespace: Some(NAMESPACE),
        repo_name: OTHER_REPO,
        project_url: OTHER_PROJECT_URL,
        instance_url: FORGE,
        pr_id: OTHER_PR_ID,
    };
    let mut tx = store.begin().await?;
    let event = runs::upsert_pull_request_event(&mut tx, &key, OTHER_SHA, 3).await?;
    tx.commit().await?;
    let build = build(
        store,
        OTHER_REPO,
        event.project_event_id,
        "success",
        OTHER_TASK_ID,
    )
    .await?;
    tests(
        store,
        (OTHER_REPO, OTHER_PROJECT_URL),
        &build,
        &[("rpmlint", "passed")],
    )
    .await?;
    Ok(build.id)
}

//! Parity with packit-service (issue #15): retry budget, links, Koji row after submission, Kerberos error flag (items 2, 3, 6, 10).
//! Each expected value cites the packit-service test or line it comes from.

use std::sync::Arc;

use fedora_ci::clients::BoxFuture;
use fedora_ci::clients::koji::{KojiError, KojiHub, TaskInfo};
use fedora_ci::context::Context;
use fedora_ci::db::runs;
use fedora_ci::fakes::koji::{KojiFailure, TASK_STATE_CHANGE_TOPIC};
use fedora_ci::handlers::Services;
use fedora_ci::handlers::koji::KojiScratchBuild;
use fedora_ci::tasks::BackgroundTask as _;
use serde_json::json;

use crate::builds::{FORK_SOURCE, RAWHIDE_BUILD, task_id_of};
use crate::stack::Stack;
use crate::tests_and_results::{notify, open_tests_namespace_pull_request};

const PROJECT: &str = "rpms/optee_os";
/// packit-service's dashboard in its tests (`tests/integration/test_listen_to_fedmsg.py`).
const DASHBOARD: &str = "https://dashboard.localhost";
const SERVER_OFFLINE: i32 = 1014;
const GENERIC_ERROR: i32 = 1000;

async fn open_pull_request(stack: &Stack) {
    stack.pagure.set_branches(PROJECT, &["rawhide", "eln"]);
    stack.deliver_fixture("pagure_pr_new.json", |_| {}).await;
}

/// The hub is offline for each of the client's four quick tries of the next `build`: the
/// service waits the outage out (this try does not count as an attempt).
fn koji_offline_for_the_next_build(stack: &Stack) {
    for _ in 0..4 {
        stack.koji.faults().fail_next(
            "build",
            KojiFailure::Fault {
                code: SERVER_OFFLINE,
                text: "server is offline".into(),
            },
        );
    }
}

/// The flag posts of `username` as Pagure received them: (status, comment, url), with
/// repeated posts of the same state left out.
fn posted_states(stack: &Stack, username: &str) -> Vec<(String, String, String)> {
    let mut states: Vec<(String, String, String)> = Vec::new();
    for call in stack.pagure.calls() {
        if call.method != "POST" || !call.path.ends_with("/flag") {
            continue;
        }
        let field = |name: &str| {
            call.form
                .iter()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.clone())
                .unwrap_or_default()
        };
        if field("username") != username {
            continue;
        }
        let state = (field("status"), field("comment"), field("url"));
        if states.last() != Some(&state) {
            states.push(state);
        }
    }
    states
}

/// The id of the only Koji build row.
async fn only_build_id(stack: &Stack) -> i32 {
    let ids: Vec<i32> = sqlx::query_scalar("SELECT id FROM koji_build_targets ORDER BY id")
        .fetch_all(stack.pg_pool())
        .await
        .unwrap();
    assert_eq!(ids.len(), 1, "{ids:?}");
    ids[0]
}

/// Issue #14: an outage met by the submission itself is waited out with the outage's backoff
/// (each wait as long as the outage so far), and the flag says so; the handler's own one-minute retry is the least wait, not
/// the cadence (Koji would otherwise be called every minute for the whole budget).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_at_submission_backs_off_and_the_flag_says_so() {
    // A minute of service time per real second.
    let stack = Stack::start(|config| config.worker.time_scale = 60.0).await;
    stack.koji.faults().set_error_rate(
        1.0,
        KojiFailure::Fault {
            code: SERVER_OFFLINE,
            text: "server is offline".into(),
        },
    );
    open_pull_request(&stack).await;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(90);
    // The waits the outage flags announced, in order; under load a wait may skip a doubling.
    let announced = |stack: &Stack| -> (Vec<String>, Vec<u64>) {
        let texts: Vec<String> = posted_states(stack, RAWHIDE_BUILD)
            .into_iter()
            .map(|(_, comment, _)| comment)
            .filter(|comment| comment.starts_with("Koji is unavailable"))
            .collect();
        // Each wait is as long as the outage so far (the client's own quick tries take
        // seconds, minutes of service time here).
        let waits = texts
            .iter()
            .filter_map(|text| {
                let minutes = text.rsplit("next try in ").next()?.split(' ').next()?;
                minutes.parse().ok()
            })
            .collect();
        (texts, waits)
    };
    let (texts, waits) = loop {
        let (texts, waits) = announced(&stack);
        if waits.iter().any(|&wait| wait >= 4) {
            break (texts, waits);
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{texts:#?}\n{}",
            stack.state().await
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    // They never shrink, and grow past the handler's minute.
    assert_eq!(waits.first(), Some(&1), "{texts:#?}");
    assert!(
        waits.windows(2).all(|pair| pair[0] <= pair[1]),
        "{texts:#?}"
    );
    stack
        .koji
        .faults()
        .set_error_rate(0.0, KojiFailure::HttpStatus(503));
    stack.stop().await;
}

/// Item 3: the Koji retry (here: waiting out an outage) and final-error flags link to the
/// build's dashboard page,
/// `{DASHBOARD_URL}/jobs/koji/{koji_build.id}` (`get_koji_build_info_url`,
/// `service/urls.py` l. 37-38; used at `handlers/distgit.py` l. 1085 and l. 1101).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn koji_retry_and_error_flags_link_the_builds_dashboard_page() {
    let stack = Stack::start(|config| config.dashboard_url = Some(DASHBOARD.to_owned())).await;
    koji_offline_for_the_next_build(&stack);
    open_pull_request(&stack).await;
    stack.settle().await;
    let page = format!("{DASHBOARD}/jobs/koji/{}", only_build_id(&stack).await);
    let flag = stack.flag(PROJECT, 2, RAWHIDE_BUILD).unwrap();
    // Koji being offline is an outage: waited out, and the flag says so (issue #14).
    assert_eq!(
        (flag["comment"].as_str(), flag["url"].as_str()),
        (
            Some("Koji is unavailable; retrying, next try in 1 minute."),
            Some(page.as_str())
        ),
        "{flag}"
    );

    // Koji refuses the next try: the final error, on the same page.
    stack.koji.faults().fail_next(
        "build",
        KojiFailure::Fault {
            code: GENERIC_ERROR,
            text: "no such target".into(),
        },
    );
    stack.run_delayed_tasks_now().await;
    stack.settle().await;
    let flag = stack.flag(PROJECT, 2, RAWHIDE_BUILD).unwrap();
    assert_eq!(flag["status"], "error", "{flag}");
    assert!(
        flag["comment"]
            .as_str()
            .unwrap()
            .starts_with("Submit of the build failed"),
        "{flag}"
    );
    assert_eq!(flag["url"], page.as_str(), "{flag}");
    stack.stop().await;
}

/// Item 3: "Tests have been submitted ..." links to the run's dashboard page,
/// `{DASHBOARD_URL}/jobs/testing-farm/{test_run.id}` (`helpers/testing_farm.py` l. 1724-1729;
/// `tests/integration/test_listen_to_fedmsg.py` l. 3071-3145 expect
/// `https://dashboard.localhost/jobs/testing-farm/5` …), not Testing Farm's artifacts. A result
/// without `run.artifacts` links there too (`handlers/testing_farm.py` l. 823,
/// `self.log_url or get_testing_farm_info_url(id)`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submitted_tests_link_the_runs_dashboard_page() {
    let stack = Stack::start(|config| {
        config.dashboard_url = Some(DASHBOARD.to_owned());
        config.fedora_ci.enabled_projects =
            vec!["https://src.fedoraproject.org/tests/selinux".into()];
    })
    .await;
    stack.pagure.add_raw_file(
        "tests/selinux",
        crate::stack::OPTEE_SHA,
        ".fmf/version",
        "1\n",
    );
    open_tests_namespace_pull_request(&stack).await;
    stack.settle().await;
    let requests = stack.testing_farm.request_ids();
    assert_eq!(requests.len(), 1);
    let run = runs::test_run_by_request_id(&stack.store, &requests[0])
        .await
        .unwrap()
        .unwrap();
    let page = format!("{DASHBOARD}/jobs/testing-farm/{}", run.id);
    let check = "Packit-stg - custom - rawhide [889f07a]";
    let flag = stack.flag("tests/selinux", 2, check).unwrap();
    assert_eq!(
        (flag["comment"].as_str(), flag["url"].as_str()),
        (Some("Tests have been submitted ..."), Some(page.as_str())),
        "{flag}"
    );

    // The fake's requests carry no `run.artifacts`.
    for _ in 0..3 {
        stack.testing_farm.advance(&requests[0], "passed").await;
    }
    notify(&stack, &requests[0]).await;
    let flag = stack.flag("tests/selinux", 2, check).unwrap();
    assert_eq!(
        (flag["comment"].as_str(), flag["url"].as_str()),
        (Some("Tests passed ..."), Some(page.as_str())),
        "{flag}"
    );
    stack.stop().await;
}

/// Item 6: a submitted build stays `pending` (`KojiBuildTargetModel.create(...,
/// status="pending")`, `handlers/distgit.py` l. 1049-1056, untouched after the submission,
/// l. 1060-1064), so Koji's FREE report ("pending") is "State change already processed"
/// (`handlers/koji.py` l. 252-260): no second flag after "RPM build was submitted ..."
/// (`tests/integration/test_listen_to_fedmsg.py::test_pagure_pr_updated`, l. 3563-3569).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_free_report_after_the_submission_changes_no_flag() {
    let stack = Stack::with_pr_opened().await;
    let task_id = task_id_of(&stack, "rawhide");
    let build = runs::koji_build_by_task_id(&stack.store, task_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(build.status, "pending");
    let before = posted_states(&stack, RAWHIDE_BUILD);
    assert_eq!(
        before
            .last()
            .map(|(status, comment, _)| (status.as_str(), comment.as_str())),
        Some(("pending", "RPM build was submitted ..."))
    );

    // Koji's first message of the task: FREE, as the hub has it.
    let free = json!({
        "id": task_id, "owner": "packit", "method": "build", "attribute": "state",
        "old": null, "new": "FREE", "instance": "primary",
        "info": {"state": 0, "start_time": null, "completion_time": null,
                 "request": [FORK_SOURCE, "rawhide", {"scratch": true}], "children": []},
    });
    stack.deliver(TASK_STATE_CHANGE_TOPIC, &free).await;
    stack.settle().await;

    assert_eq!(
        posted_states(&stack, RAWHIDE_BUILD),
        before,
        "{}",
        stack.state().await
    );
    let build = runs::koji_build_by_task_id(&stack.store, task_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(build.status, "pending");
    stack.stop().await;
}

/// The fake hub, except that logging in for `build` fails as a Kerberos login does.
struct KerberosFails(Arc<dyn KojiHub>);

const KERBEROS_DETAIL: &str = "the bad authentication error";

impl KojiHub for KerberosFails {
    fn task_info(&self, task_id: i64) -> BoxFuture<'_, Result<Option<TaskInfo>, KojiError>> {
        self.0.task_info(task_id)
    }
    fn task_children(&self, task_id: i64) -> BoxFuture<'_, Result<Vec<TaskInfo>, KojiError>> {
        self.0.task_children(task_id)
    }
    fn scratch_build<'a>(
        &'a self,
        _source_url: &'a str,
        _target: &'a str,
    ) -> BoxFuture<'a, Result<i64, KojiError>> {
        Box::pin(async {
            Err(KojiError::Kerberos {
                detail: KERBEROS_DETAIL.to_owned(),
                transient: false,
            })
        })
    }
    fn cancel_task(&self, task_id: i64) -> BoxFuture<'_, Result<(), KojiError>> {
        self.0.cancel_task(task_id)
    }
    fn own_builds_since(
        &self,
        _created_after: f64,
    ) -> BoxFuture<'_, Result<Vec<TaskInfo>, KojiError>> {
        Box::pin(async { Ok(Vec::new()) })
    }
}

/// Item 10: a failed Kerberos login gives the `error` flag "Kerberos authentication error:
/// <detail>" (`handlers/distgit.py` l. 1031-1041; the value of
/// `tests/unit/test_koji_build.py::test_koji_build_failed_kerberos`, l. 179-246, with
/// `stderr_output="the bad authentication error"`). The pipeline's hub logs in with a
/// certificate and a real Kerberos login needs a KDC (`tests/clients_koji_kerberos.rs`), so
/// the build's task runs here with a hub whose login fails as the Kerberos client's does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_kerberos_login_gives_packits_error_flag() {
    let stack = Stack::start(|_| {}).await;
    // The worker's try waits out an outage; its task is then run here instead.
    koji_offline_for_the_next_build(&stack);
    open_pull_request(&stack).await;
    stack.settle().await;
    let payload: sqlx::types::Json<serde_json::Value> = sqlx::query_scalar(
        "DELETE FROM tasks WHERE name = 'run_downstream_koji_scratch_build_handler' \
         RETURNING payload",
    )
    .fetch_one(stack.pg_pool())
    .await
    .unwrap();
    let task: KojiScratchBuild = serde_json::from_value(payload.0).unwrap();
    let mut services = Services::from_config(&stack.config, stack.store.clone()).unwrap();
    services.koji = Arc::new(KerberosFails(services.koji.clone()));
    let context = Context {
        store: stack.store.clone(),
        config: stack.config.clone(),
        services: Arc::new(services),
    };
    let error = task.run(&context).await.unwrap_err();
    assert!(error.to_string().contains(KERBEROS_DETAIL), "{error:#}");
    stack.settle().await;

    let flag = stack.flag(PROJECT, 2, RAWHIDE_BUILD).unwrap();
    assert_eq!(
        (flag["status"].as_str(), flag["comment"].as_str()),
        (
            Some("error"),
            Some("Kerberos authentication error: the bad authentication error")
        ),
        "{flag}"
    );
    stack.stop().await;
}

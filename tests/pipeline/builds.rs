//! Scratch builds from pull-request events: the Koji call, ELN, flags per Koji state,
//! superseded pushes, retries, skip ci, retirement, opt-in and opt-out, shadow mode.

use fedora_ci::db::{Store, flags};
use fedora_ci::fakes::koji::{BuildOutcome, KojiFailure};
use fedora_ci::handlers::superseded::CancelSuperseded;
use fedora_ci::tasks;
use serde_json::{Value as Json, json};

use crate::stack::{OPTEE, OPTEE_SHA, Stack};

pub const FORK_SOURCE: &str = "git+https://src.fedoraproject.org/forks/zbyszek/rpms/optee_os.git#889f07af35d27bbcaf9c535c17a63b974aa42ee3";
pub const RAWHIDE_BUILD: &str = "Packit-stg - scratch build - rawhide [889f07a]";
pub const ELN_BUILD: &str = "Packit-stg - scratch build - eln [889f07a]";

/// optee_os without its own eln branch, so it gets an ELN build too.
pub fn optee_without_eln_branch(stack: &Stack) {
    stack
        .pagure
        .set_branches("rpms/optee_os", &["rawhide", "f42"]);
}

pub fn task_id_of(stack: &Stack, target: &str) -> i64 {
    // The flag's URL says which task the service recorded.
    let flag_name = format!("Packit-stg - scratch build - {target} [889f07a]");
    let flag = stack.flag("rpms/optee_os", 2, &flag_name).unwrap();
    let url = flag["url"].as_str().unwrap();
    assert!(url.contains("taskID="), "{flag}");
    url.rsplit("taskID=").next().unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pr_opened_builds_rawhide_and_eln_with_packits_uids() {
    let stack = Stack::start(|_| {}).await;
    optee_without_eln_branch(&stack);
    stack.deliver_fixture("pagure_pr_new.json", |_| {}).await;
    stack.settle().await;

    let mut builds = stack.koji_builds();
    builds.sort();
    assert_eq!(
        builds,
        vec![
            (FORK_SOURCE.to_owned(), "eln".to_owned()),
            (FORK_SOURCE.to_owned(), "rawhide".to_owned()),
        ]
    );
    let build_call = stack
        .koji
        .calls()
        .into_iter()
        .find(|call| call.call.method == "build")
        .unwrap();
    let opts = build_call
        .call
        .args
        .get(2)
        .cloned()
        .unwrap_or_else(|| Json::Object(build_call.call.kwargs.clone()));
    assert_eq!(opts["scratch"], json!(true), "{build_call:?}");

    let rawhide = stack.flag("rpms/optee_os", 2, RAWHIDE_BUILD).unwrap();
    assert_eq!(rawhide["uid"], "e7593c9ba1d17d1a4f366b6aa7f53e84");
    assert_eq!(rawhide["status"], "pending");
    assert_eq!(rawhide["comment"], "RPM build was submitted ...");
    assert!(
        rawhide["url"]
            .as_str()
            .unwrap()
            .starts_with("https://koji.fedoraproject.org/koji/taskinfo?taskID="),
        "{rawhide}"
    );
    let eln = stack.flag("rpms/optee_os", 2, ELN_BUILD).unwrap();
    assert_eq!(eln["uid"], "07209e112c3135ab74e0da0bd0e321ca");
    let metrics = fedora_ci::metrics::global().render();
    assert!(
        metrics.contains("fedora_ci_koji_builds_queued_total"),
        "{metrics}"
    );
    assert!(metrics.contains("fedora_ci_first_initial_status_time"));
    assert_eq!(stack.flags("rpms/optee_os", 2).len(), 2);
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flags_follow_each_koji_state_and_failure_starts_log_detective() {
    let stack = Stack::with_pr_opened().await;
    assert_eq!(
        stack.koji_builds().len(),
        1,
        "the eln branch exists: no ELN build"
    );
    let task_id = task_id_of(&stack, "rawhide");

    assert!(stack.koji.start_build(task_id));
    stack.deliver_koji_messages().await;
    stack.settle().await;
    let flag = stack.flag("rpms/optee_os", 2, RAWHIDE_BUILD).unwrap();
    assert_eq!(
        (flag["status"].as_str(), flag["comment"].as_str()),
        (Some("pending"), Some("RPM build is in progress..."))
    );

    assert!(
        stack
            .koji
            .finish_build(task_id, &BuildOutcome::FailsOnArch("aarch64".into()))
    );
    stack.deliver_koji_messages().await;
    stack.settle().await;
    let flag = stack.flag("rpms/optee_os", 2, RAWHIDE_BUILD).unwrap();
    assert_eq!(
        (flag["status"].as_str(), flag["comment"].as_str()),
        (Some("failure"), Some("RPM build failed."))
    );
    assert_eq!(
        flag["url"],
        format!("https://koji.fedoraproject.org/koji/taskinfo?taskID={task_id}")
    );
    assert!(
        stack.testing_farm.submitted().is_empty(),
        "no tests after a failed build"
    );

    let analyses = stack.log_detective.calls();
    assert_eq!(analyses.len(), 1, "{analyses:?}");
    let body = &analyses[0].body;
    assert_eq!(body["build_system"], "koji");
    assert_eq!(body["commit_sha"], OPTEE_SHA);
    assert_eq!(body["project_url"], OPTEE);
    assert_eq!(body["pr_id"], 2);
    let subtask: u64 = body["target_build"].as_str().unwrap().parse().unwrap();
    assert_eq!(
        body["artifacts"]["build.log"],
        format!(
            "https://kojipkgs.fedoraproject.org//work/tasks/{}/{subtask}/build.log",
            subtask % 10000
        )
    );
    let ld_flag = stack
        .flag(
            "rpms/optee_os",
            2,
            "Packit-stg - Log Detective analysis - rawhide-aarch64 [889f07a]",
        )
        .unwrap();
    assert_eq!(ld_flag["comment"], "Log Detective analysis status: running");

    // The analysis result arrives over the bus.
    let analysis_id = analyses[0].analysis_id.clone().unwrap();
    stack
        .deliver_fixture("logdetective_analysis_result.json", |body| {
            body["log_detective_analysis_id"] = json!(analysis_id);
        })
        .await;
    stack.settle().await;
    let ld_flag = stack
        .flag(
            "rpms/optee_os",
            2,
            "Packit-stg - Log Detective analysis - rawhide-aarch64 [889f07a]",
        )
        .unwrap();
    assert_eq!(
        (ld_flag["status"].as_str(), ld_flag["comment"].as_str()),
        (
            Some("success"),
            Some("Log Detective analysis status: complete")
        )
    );
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_push_cancels_the_old_build_and_old_results_never_touch_the_head() {
    let stack = Stack::with_pr_opened().await;
    let old_task = task_id_of(&stack, "rawhide");
    assert!(stack.koji.start_build(old_task));

    let new_sha = "1111111111111111111111111111111111111111";
    stack
        .deliver_fixture("pagure_pr_new.json", |body| {
            body["pullrequest"]["commit_stop"] = json!(new_sha);
        })
        .await;
    stack.settle().await;

    let cancels: Vec<_> = stack
        .koji
        .calls()
        .into_iter()
        .filter(|call| call.call.method == "cancelTask")
        .collect();
    assert_eq!(cancels.len(), 1);
    assert_eq!(cancels[0].call.args[0], json!(old_task));
    let old = stack.flag("rpms/optee_os", 2, RAWHIDE_BUILD).unwrap();
    assert_eq!(
        (old["status"].as_str(), old["comment"].as_str()),
        (
            Some("canceled"),
            Some("Superseded by the newer commit 1111111.")
        )
    );
    let head_name = "Packit-stg - scratch build - rawhide [1111111]";
    let head = stack.flag("rpms/optee_os", 2, head_name).unwrap();
    assert_eq!(head["comment"], "RPM build was submitted ...");
    let new_source =
        format!("git+https://src.fedoraproject.org/forks/zbyszek/rpms/optee_os.git#{new_sha}");
    assert!(
        stack
            .koji_builds()
            .iter()
            .any(|(source, _)| *source == new_source)
    );

    // The cancelled task's own state message comes late: it changes no flag.
    stack.deliver_koji_messages().await;
    stack.settle().await;
    let old_after = stack.flag("rpms/optee_os", 2, RAWHIDE_BUILD).unwrap();
    assert_eq!(
        old_after["comment"],
        "Superseded by the newer commit 1111111."
    );
    let head_after = stack.flag("rpms/optee_os", 2, head_name).unwrap();
    assert_eq!(head_after["comment"], "RPM build was submitted ...");
    stack.stop().await;
}

/// A cancellation that runs late (a retry, or a worker that died) for a commit that is no
/// longer the head cancels nothing: the newer push's own cancellation applies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_cancellation_for_an_older_commit_leaves_the_new_head_alone() {
    let stack = Stack::with_pr_opened().await;
    let new_sha = "1111111111111111111111111111111111111111";
    stack
        .deliver_fixture("pagure_pr_new.json", |body| {
            body["pullrequest"]["commit_stop"] = json!(new_sha);
        })
        .await;
    stack.settle().await;
    let cancels_before = koji_cancels(&stack);

    // The first push's cancellation, run again now.
    let Store::Postgres(pool) = &stack.store else {
        panic!("the pipeline tests run on PostgreSQL");
    };
    let pull_request_id: i32 = sqlx::query_scalar("SELECT id FROM pull_requests")
        .fetch_one(pool)
        .await
        .unwrap();
    let mut tx = stack.store.begin().await.unwrap();
    tasks::enqueue(
        &mut tx,
        &CancelSuperseded {
            pull_request_id,
            head_sha: OPTEE_SHA.to_owned(),
        },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    stack.settle().await;

    assert_eq!(koji_cancels(&stack), cancels_before);
    let head = stack
        .flag(
            "rpms/optee_os",
            2,
            "Packit-stg - scratch build - rawhide [1111111]",
        )
        .unwrap();
    assert_eq!(
        (head["status"].as_str(), head["comment"].as_str()),
        (Some("pending"), Some("RPM build was submitted ..."))
    );
    stack.stop().await;
}

fn koji_cancels(stack: &Stack) -> usize {
    stack
        .koji
        .calls()
        .iter()
        .filter(|call| call.call.method == "cancelTask")
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn koji_outage_is_retried_with_the_delay_on_the_flag() {
    let stack = Stack::start(|_| {}).await;
    stack
        .pagure
        .set_branches("rpms/optee_os", &["rawhide", "eln"]);
    // The client's own four quick attempts fail, and so the handler schedules its retry.
    for _ in 0..4 {
        stack.koji.faults().fail_next(
            "build",
            KojiFailure::Fault {
                code: 1014,
                text: "server is offline".into(),
            },
        );
    }
    stack.deliver_fixture("pagure_pr_new.json", |_| {}).await;
    stack.settle().await;
    let flag = stack.flag("rpms/optee_os", 2, RAWHIDE_BUILD).unwrap();
    assert_eq!(flag["status"], "pending");
    // An outage: waited out, and the flag says so (issue #14).
    assert_eq!(
        flag["comment"],
        "Koji is unavailable; retrying, next try in 1 minute."
    );
    // The retry is persisted in the queue, due in about a minute.
    let counts = fedora_ci::db::tasks::counts(&stack.store, chrono::Utc::now())
        .await
        .unwrap();
    assert_eq!(
        counts.iter().map(|c| c.scheduled).sum::<i64>(),
        1,
        "{counts:?}"
    );
    let calls = flags::calls(&stack.store, None).await.unwrap();
    let failed: Vec<_> = calls
        .iter()
        .filter(|call| call.service == "koji" && call.outcome == "failed")
        .collect();
    assert_eq!(failed.len(), 1);
    assert!(
        failed[0].error.as_deref().unwrap().contains("1014"),
        "{failed:?}"
    );
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skip_ci_in_the_title_and_disabled_projects_plan_nothing() {
    let stack = Stack::start(|config| {
        config.fedora_ci_run_by_default = true;
        config.fedora_ci.disabled_projects =
            vec!["https://src.fedoraproject.org/rpms/marshalparser".into()];
    })
    .await;
    stack
        .deliver_fixture("pagure_pr_new.json", |body| {
            body["pullrequest"]["title"] = json!("Only build on aarch64 [skip ci]");
        })
        .await;
    stack
        .deliver_fixture("pagure_pr_updated.json", |_| {})
        .await;
    stack
        .deliver_fixture("pagure_pr_new_no_fork.json", |_| {})
        .await;
    stack.settle().await;
    assert!(stack.koji_builds().is_empty());
    assert!(
        stack
            .pagure
            .calls()
            .iter()
            .all(|call| call.method == "GET" || call.method == "HEAD")
    );
    let outcomes = fedora_ci::db::inbound::count_by_outcome(&stack.store)
        .await
        .unwrap();
    // pagure.io's PR never reached the database: intake drops projects outside dist-git.
    assert_eq!(outcomes, vec![("ignored".to_owned(), 2)]);
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opt_out_mode_builds_any_rpms_pr_and_main_builds_for_rawhide() {
    let stack = Stack::start(|config| {
        config.fedora_ci_run_by_default = true;
        config.fedora_ci.enabled_projects.clear();
    })
    .await;
    stack
        .pagure
        .set_branches("rpms/marshalparser", &["rawhide", "f40"]);
    stack
        .deliver_fixture("pagure_pr_updated.json", |_| {})
        .await;
    stack
        .deliver_fixture("pagure_pr_new.json", |body| {
            body["pullrequest"]["branch"] = json!("main");
        })
        .await;
    stack.settle().await;
    let mut builds = stack.koji_builds();
    builds.sort();
    assert_eq!(
        builds,
        vec![
            (
                "git+https://src.fedoraproject.org/forks/lbalhar/rpms/marshalparser.git#f2f041328d629719c5ff31a08e800638d5df497f".to_owned(),
                "f40".to_owned()
            ),
            (FORK_SOURCE.to_owned(), "rawhide".to_owned()),
        ],
        "main builds for rawhide; a main PR gets no ELN build (packit compares literally)"
    );
    assert!(
        stack
            .flag(
                "rpms/marshalparser",
                32,
                "Packit-stg - scratch build - f40 [f2f0413]"
            )
            .is_some()
    );
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retirement_pr_gets_one_explaining_flag() {
    let stack = Stack::start(|_| {}).await;
    stack
        .pagure
        .set_branches("rpms/optee_os", &["rawhide", "eln"]);
    stack.pagure.add_raw_file(
        "fork/zbyszek/rpms/optee_os",
        OPTEE_SHA,
        "dead.package",
        "Retired: unmaintained\n",
    );
    stack.deliver_fixture("pagure_pr_new.json", |_| {}).await;
    stack.settle().await;
    assert!(stack.koji_builds().is_empty());
    let flags = stack.flags("rpms/optee_os", 2);
    assert_eq!(flags.len(), 1, "{flags:?}");
    assert_eq!(flags[0]["username"], RAWHIDE_BUILD);
    assert_eq!(
        flags[0]["comment"],
        "The package is retired (dead.package): nothing to build or test."
    );
    stack.stop().await;
}

/// A retired package on the ELN lists without its own eln branch gets no ELN build either.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retirement_pr_of_an_eln_package_gets_no_eln_build() {
    let stack = Stack::start(|_| {}).await;
    optee_without_eln_branch(&stack);
    stack.pagure.add_raw_file(
        "fork/zbyszek/rpms/optee_os",
        OPTEE_SHA,
        "dead.package",
        "Retired: unmaintained\n",
    );
    stack.deliver_fixture("pagure_pr_new.json", |_| {}).await;
    stack.settle().await;
    assert!(stack.koji_builds().is_empty(), "{:?}", stack.koji_builds());
    let flags = stack.flags("rpms/optee_os", 2);
    assert_eq!(flags.len(), 1, "{flags:?}");
    assert_eq!(flags[0]["username"], RAWHIDE_BUILD);
    let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM koji_build_targets")
        .fetch_one(stack.pg_pool())
        .await
        .unwrap();
    assert_eq!(rows, 0, "the planned builds are withdrawn");
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shadow_mode_records_every_call_and_touches_nothing() {
    let stack = Stack::start(|config| config.dry_run = Some(true)).await;
    optee_without_eln_branch(&stack);
    stack.deliver_fixture("pagure_pr_new.json", |_| {}).await;
    stack.settle().await;
    assert!(
        stack.koji_builds().is_empty(),
        "nothing submitted in shadow mode"
    );
    assert!(
        stack.flags("rpms/optee_os", 2).is_empty(),
        "no flag set in shadow mode"
    );
    let calls = flags::calls(&stack.store, None).await.unwrap();
    let planned: Vec<(String, String)> = calls
        .iter()
        .map(|call| (call.service.clone(), call.call.clone()))
        .collect();
    assert!(
        calls
            .iter()
            .all(|call| call.dry_run && call.outcome == "planned")
    );
    let builds: Vec<&Json> = calls
        .iter()
        .filter(|call| call.call == "build")
        .map(|call| &call.request.0)
        .collect();
    assert_eq!(builds.len(), 2, "{planned:?}");
    assert!(
        builds.contains(
            &&json!({"src": FORK_SOURCE, "target": "rawhide", "opts": {"scratch": true}})
        )
    );
    assert!(
        builds.contains(&&json!({"src": FORK_SOURCE, "target": "eln", "opts": {"scratch": true}}))
    );
    let flag_calls: Vec<&Json> = calls
        .iter()
        .filter(|call| call.call == "flag")
        .map(|call| &call.request.0)
        .collect();
    assert!(
        flag_calls
            .iter()
            .any(|call| call["flag"]["username"] == RAWHIDE_BUILD
                && call["flag"]["uid"] == "e7593c9ba1d17d1a4f366b6aa7f53e84")
    );
    // The pull request view must not show a planned flag as being on Pagure.
    let wanted = flags::of_pull_request(&stack.store, 1).await.unwrap();
    assert!(!wanted.is_empty());
    assert!(
        wanted
            .iter()
            .all(|flag| flag.planned_only && flag.posted_seq >= flag.wanted_seq),
        "{wanted:?}"
    );
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn process_dry_run_prints_the_planned_calls_as_json() {
    let stack = Stack::start(|_| {}).await;
    optee_without_eln_branch(&stack);
    let message = crate::clients_support::read_fixture("packit-service/pagure_pr_new.json");
    stack
        .pagure
        .add_pull_request(message["pullrequest"].clone());
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pr.json");
    std::fs::write(&file, message.to_string()).unwrap();
    let config = dir.path().join("fedora-ci.toml");
    std::fs::write(
        &config,
        format!(
            "check_name_prefix = \"Packit-stg\"\nfedora_ci_run_by_default = false\npagure_url = \"{}\"\neln_package_lists_url = \"{}\"\n\
             [fedora_ci]\nenabled_projects = [\"{OPTEE}\"]\n",
            stack.pagure.url(),
            stack.eln.url()
        ),
    )
    .unwrap();
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_fedora-ci"))
        .args(["--config"])
        .arg(&config)
        .args(["process", "--dry-run"])
        .arg(&file)
        .current_dir(dir.path())
        .output()
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let printed: Json = serde_json::from_slice(&output.stdout).unwrap();
    let calls = printed["calls"].as_array().unwrap();
    let builds: Vec<&Json> = calls
        .iter()
        .filter(|call| call["call"] == "build")
        .map(|call| &call["request"])
        .collect();
    assert_eq!(builds.len(), 2, "{printed:#}");
    assert!(
        builds.contains(
            &&json!({"src": FORK_SOURCE, "target": "rawhide", "opts": {"scratch": true}})
        )
    );
    let flag = calls
        .iter()
        .find(|call| call["call"] == "flag" && call["request"]["flag"]["username"] == RAWHIDE_BUILD)
        .unwrap();
    assert_eq!(
        flag["request"]["flag"]["uid"],
        "e7593c9ba1d17d1a4f366b6aa7f53e84"
    );
    assert_eq!(flag["request"]["flag"]["status"], "pending");
    assert!(flag["request"]["flag"]["url"].is_string());
    assert!(flag["request"]["flag"]["comment"].is_string());
    assert!(stack.koji_builds().is_empty() && stack.flags("rpms/optee_os", 2).is_empty());
    assert!(!dir.path().join("fedora-ci.db").exists());
    stack.stop().await;
}

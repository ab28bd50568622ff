//! Parity with packit-service (issue #15): Log Detective commentary, request and rows, Log Detective metrics (items 7, 8).
//! Each expected value cites the packit-service test or line it comes from.

use fedora_ci::fakes::koji::BuildOutcome;
use serde_json::json;

use crate::builds::task_id_of;
use crate::stack::Stack;

/// packit-service's `LD_COMMENTARY`, `packit_service/worker/helpers/logdetective.py:26-32`:
/// adjacent literals joined without a space after the full stops (317 characters). Its tests
/// expect it as `build_metadata.commentary`
/// (`tests/unit/test_logdetective_koji_helper.py:90-92, 137-139`).
const LD_COMMENTARY: &str = "Build was executed in downstream Koji using containerized \
     environment provided by Mock.The build.log contains output of the package build, it is \
     the most likely to contain messages, indicating the root cause.The mock_output.log is a \
     general log from Mock.The root.log is a log from creation of the chroot environment.";

/// `log_detective_run_group_id`, `target`, `status`, `koji_build_target_id`.
type RunRow = (Option<i32>, Option<String>, String, Option<i32>);

/// A rawhide scratch build of optee_os PR 2 that fails on x86_64 and aarch64, its FAILED
/// report delivered.
async fn build_failing_on_two_arches() -> Stack {
    let stack = Stack::start(|_| {}).await;
    stack.koji.set_arches(&["x86_64", "aarch64"]);
    stack
        .pagure
        .set_branches("rpms/optee_os", &["rawhide", "eln"]);
    stack.deliver_fixture("pagure_pr_new.json", |_| {}).await;
    stack.settle().await;
    let task_id = task_id_of(&stack, "rawhide");
    assert!(stack.koji.start_build(task_id));
    let arches = ["x86_64", "aarch64"].map(String::from).to_vec();
    assert!(
        stack
            .koji
            .finish_build(task_id, &BuildOutcome::FailsOnArches(arches))
    );
    stack.deliver_koji_messages().await;
    stack.settle().await;
    stack
}

/// Item 7: each arch's request carries exactly packit-service's seven fields
/// (`packit_service/worker/helpers/logdetective.py:122-130`; HEAD b828c3d7, PR #3174 is not
/// in the mirror) and `LD_COMMENTARY`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_failed_arch_is_sent_packit_services_commentary_and_fields() {
    let stack = build_failing_on_two_arches().await;
    let calls = stack.log_detective.calls();
    assert_eq!(calls.len(), 2, "{calls:?}");
    for call in &calls {
        let body = call.body.as_object().unwrap();
        let mut fields: Vec<&str> = body.keys().map(String::as_str).collect();
        fields.sort_unstable();
        assert_eq!(
            fields,
            [
                "artifacts",
                "build_metadata",
                "build_system",
                "commit_sha",
                "pr_id",
                "project_url",
                "target_build"
            ]
        );
        assert_eq!(
            call.body["build_metadata"],
            json!({"commentary": LD_COMMENTARY})
        );
        assert_eq!(LD_COMMENTARY.len(), 317);
    }
    stack.stop().await;
}

/// Item 7: one `log_detective_run_groups` row per failed-build report, one `log_detective_run`
/// per failed arch in it, and the build's one pipeline pointing to it.
/// `tests/integration/test_logdetective_koji.py::test_logdetective_koji_build_scratch_downstream`
/// (49-147): `LogDetectiveRunGroupModel.create` is called `times(int(failed_builds > 0))`, and
/// the runs `("123456", "rawhide-x86_64", …)` and `("123457", "rawhide-noarch", …)` get the
/// same group; `helpers/logdetective.py:162-183` creates the group once per trigger.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_build_gets_one_group_with_one_run_per_failed_arch() {
    let stack = build_failing_on_two_arches().await;
    assert_eq!(stack.log_detective.calls().len(), 2);

    let groups: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM log_detective_run_groups")
        .fetch_one(stack.pg_pool())
        .await
        .unwrap();
    assert_eq!(groups, 1, "{}", stack.state().await);
    let runs: Vec<RunRow> = sqlx::query_as(
        "SELECT log_detective_run_group_id, target, CAST(status AS TEXT), koji_build_target_id \
         FROM log_detective_run ORDER BY target",
    )
    .fetch_all(stack.pg_pool())
    .await
    .unwrap();
    assert_eq!(runs.len(), 2, "{runs:?}");
    assert_eq!(runs[0].1.as_deref(), Some("rawhide-aarch64"));
    assert_eq!(runs[1].1.as_deref(), Some("rawhide-x86_64"));
    assert!(runs[0].0.is_some());
    assert_eq!(runs[0].0, runs[1].0, "the same group: {runs:?}");
    assert_eq!(runs[0].3, runs[1].3, "the same build: {runs:?}");
    assert!(runs.iter().all(|run| run.2 == "running"), "{runs:?}");

    // The build's pipeline carries the group; no pipeline is cloned for the second arch.
    let pipelines: Vec<(i32, Option<i32>)> = sqlx::query_as(
        "SELECT p.id, p.log_detective_run_group_id FROM pipelines p \
         WHERE p.log_detective_run_group_id IS NOT NULL \
         OR p.koji_build_group_id = (SELECT koji_build_group_id FROM koji_build_targets \
                                     WHERE id = $1)",
    )
    .bind(runs[0].3)
    .fetch_all(stack.pg_pool())
    .await
    .unwrap();
    assert_eq!(pipelines.len(), 1, "{pipelines:?}");
    assert_eq!(pipelines[0].1, runs[0].0);
    stack.stop().await;
}

/// Item 8: a result is observed in `log_detective_run_finished_time`
/// (`packit_service/worker/monitoring.py:174-186`, observed in
/// `handlers/logdetective.py:111-116`; `tests/unit/events/test_logdetective.py:260-262`
/// expects one `observe`). Exposed with this service's `fedora_ci_` prefix.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_detective_result_is_observed_in_the_finished_time_histogram() {
    let stack = build_failing_on_two_arches().await;
    let analysis_id = stack.log_detective.calls()[0].analysis_id.clone().unwrap();
    let before = finished_time_count();
    stack
        .deliver_fixture("logdetective_analysis_result.json", |body| {
            body["log_detective_analysis_id"] = json!(analysis_id);
        })
        .await;
    stack.settle().await;
    // The metrics are process-wide and other tests run alongside: at least one more.
    assert!(
        finished_time_count() > before,
        "{}",
        fedora_ci::metrics::global().render()
    );
    let text = fedora_ci::metrics::global().render();
    assert!(
        text.contains("fedora_ci_log_detective_run_finished_time_bucket{le=\"180.0\"}"),
        "{text}"
    );
    stack.stop().await;
}

fn finished_time_count() -> u64 {
    fedora_ci::metrics::global()
        .render()
        .lines()
        .find_map(|line| line.strip_prefix("fedora_ci_log_detective_run_finished_time_count "))
        .map_or(0, |count| count.trim().parse().unwrap())
}

//! Testing Farm: submitting the Fedora CI tests of a build (packit-service's
//! `DownstreamTestingFarmHandler`, its ELN and tests-namespace variants), their results
//! (`DownstreamTestingFarmResultsHandler`) and the poll that catches lost notifications
//! (`babysit_pending_tft_runs`).

use std::time::Duration;

use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tracing::{info, warn};

use crate::checker::projects::disabled_project;
use crate::checker::tests_applicable::applicable_tests;
use crate::clients::Transient;
use crate::clients::testing_farm::{
    RequestDetails, RequestState, TestRequest, TestingFarmError, Webhook,
};
use crate::context::Context;
use crate::db::runs::{self, KojiBuild, NewTestRun, TestRun, TestRunUpdate};
use crate::handlers::report::{Report, dashboard_url, report};
use crate::handlers::services::CallError;
use crate::handlers::{
    PullRequestRef, SUBMISSION_ATTEMPTS, is_superseded, minutes, submission, submission_retry_delay,
};
use crate::helpers::flags::CheckStatus;
use crate::helpers::testing_farm::{
    FedoraCiTest, PayloadInput, compose_for_distro, distro_for_koji_target, is_listed_request,
    test_request,
};
use crate::metrics;
use crate::tasks::{self, BackgroundTask, queues};

/// Which tests a submission runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TestSelection {
    All,
    One(String),
    /// Only the tests whose last run at this commit failed or errored (`test --failed`).
    FailedOnly,
}

/// The tests a build runs when it succeeds (its `then_test`, which the Koji report reads):
/// all of them unless a `test` comment that started the build named fewer.
pub fn then_test_of(build: &KojiBuild) -> TestSelection {
    build
        .data
        .as_ref()
        .and_then(|data| data.0.get("then_test"))
        .and_then(|value| serde_json::from_value::<Option<TestSelection>>(value.clone()).ok())
        .flatten()
        .unwrap_or(TestSelection::All)
}

/// Submits the selected tests of a PR's head commit, for one build (or, in the tests
/// namespace, without one).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TestingFarmSubmit {
    pub pull_request: PullRequestRef,
    pub koji_build_id: Option<i32>,
    pub selection: TestSelection,
    /// `build:<id>` after a build, `push`, or `comment:<id>:<target>`: one set of runs per trigger.
    pub trigger: String,
}

impl BackgroundTask for TestingFarmSubmit {
    const NAME: &'static str = "run_downstream_testing_farm_handler";
    const QUEUE: &'static str = queues::LONG;
    // The first try and two retries, 1 and 2 minutes apart, as packit-service.
    const MAX_ATTEMPTS: i32 = SUBMISSION_ATTEMPTS;
    type Context = Context;

    async fn run(&self, ctx: &Context) -> anyhow::Result<()> {
        let pr = &self.pull_request;
        if is_superseded(ctx, pr).await? {
            info!(pr = pr.pr_id, commit = %pr.head_sha, "commit superseded before its tests started");
            return Ok(());
        }
        let build = match self.koji_build_id {
            Some(id) => Some(
                runs::koji_build(&ctx.store, id)
                    .await?
                    .ok_or_else(|| tasks::permanent(format!("Koji build {id} does not exist")))?,
            ),
            None => None,
        };
        if let Some(build) = &build {
            // The tests that follow a build are stale once a newer build of the same commit
            // and target exists (a `scratch-build` retrigger): that build's tests replace them.
            // Runs already recorded are carried on, so that their flags end.
            if self.trigger.starts_with("build:")
                && runs::has_newer_koji_build(&ctx.store, build).await?
                && runs::test_runs_for_trigger(&ctx.store, pr.project_event_id, &self.trigger)
                    .await?
                    .is_empty()
            {
                info!(
                    build = build.id,
                    "a newer build of this commit exists; its tests run instead"
                );
                return Ok(());
            }
        }
        let target = build
            .as_ref()
            .map_or("rawhide", |build| build.target.as_str())
            .to_owned();
        let distro = distro_for_koji_target(&target);
        let test_runs = self.intended_runs(ctx, build.as_ref(), &distro).await?;
        if test_runs.is_empty() {
            info!(pr = pr.pr_id, project = %pr.project_url, "no Fedora CI test applies");
            return Ok(());
        }
        let submitter = Submitter {
            ctx,
            pr,
            build: build.as_ref(),
            target: &target,
            distro: &distro,
        };
        let mut retry = None;
        for run in test_runs
            .iter()
            .filter(|run| run.status == "new" || run.status == "retry")
        {
            if let Some(delay) = submitter.submit(run).await? {
                retry = Some(delay);
            }
        }
        match retry {
            Some(delay) => Err(tasks::retry_in(delay, "some tests could not be submitted")),
            None => Ok(()),
        }
    }
}

impl TestingFarmSubmit {
    /// The runs of this trigger: found, or created `new` (the intent).
    async fn intended_runs(
        &self,
        ctx: &Context,
        build: Option<&KojiBuild>,
        distro: &str,
    ) -> anyhow::Result<Vec<TestRun>> {
        let pr = &self.pull_request;
        let existing =
            runs::test_runs_for_trigger(&ctx.store, pr.project_event_id, &self.trigger).await?;
        if !existing.is_empty() {
            return Ok(existing);
        }
        let tests = self.selected_tests(ctx, distro).await?;
        if tests.is_empty() {
            return Ok(Vec::new());
        }
        let new_runs: Vec<NewTestRun<'_>> = tests
            .iter()
            .map(|test| NewTestRun {
                distro,
                data: json!({
                    "base_project_url": pr.project_url,
                    "fedora_ci_test": test.name,
                    "trigger": self.trigger,
                    "source_url": pr.source_url,
                    "dist_git_branch": pr.target_branch,
                }),
            })
            .collect();
        let mut tx = ctx.store.begin().await?;
        runs::create_test_runs(&mut tx, pr.project_event_id, &pr.repo, build, &new_runs).await?;
        tx.commit().await?;
        Ok(runs::test_runs_for_trigger(&ctx.store, pr.project_event_id, &self.trigger).await?)
    }

    /// The configured tests that apply to this PR and selection, in configured order.
    async fn selected_tests(
        &self,
        ctx: &Context,
        distro: &str,
    ) -> anyhow::Result<Vec<FedoraCiTest>> {
        let pr = &self.pull_request;
        let failed: Vec<String> = match &self.selection {
            TestSelection::FailedOnly => {
                runs::latest_test_runs(&ctx.store, pr.project_event_id, distro)
                    .await?
                    .iter()
                    .filter(|run| matches!(run.status.as_str(), "failed" | "error"))
                    .map(|run| run.test_name().to_owned())
                    .collect()
            }
            _ => Vec::new(),
        };
        let selected = applicable_tests(ctx, pr, |test| match &self.selection {
            TestSelection::All => true,
            TestSelection::One(name) => &test.name == name,
            TestSelection::FailedOnly => failed.contains(&test.name),
        })
        .await?;
        Ok(selected.into_iter().cloned().collect())
    }
}

/// Submits one run at a time and reports each.
struct Submitter<'a> {
    ctx: &'a Context,
    pr: &'a PullRequestRef,
    build: Option<&'a KojiBuild>,
    target: &'a str,
    distro: &'a str,
}

impl Submitter<'_> {
    fn flag<'b>(
        &'b self,
        run: &'b TestRun,
        status: CheckStatus,
        description: &'b str,
        url: Option<&'b str>,
    ) -> Report<'b> {
        Report {
            pull_request_id: self.pr.pull_request_id,
            commit_sha: &self.pr.head_sha,
            check: run.test_name(),
            target: self.target,
            status,
            description,
            url,
        }
    }

    /// Submits `run`; `Some(delay)` when it should be tried again.
    async fn submit(&self, run: &TestRun) -> anyhow::Result<Option<Duration>> {
        let ctx = self.ctx;
        let Some(test) = ctx
            .config
            .fedora_ci_tests
            .iter()
            .find(|test| test.name == run.test_name())
        else {
            warn!(
                test = run.test_name(),
                "test is no longer configured; run left as it is"
            );
            return Ok(None);
        };
        let dashboard = dashboard_url(ctx, &format!("/jobs/testing-farm/{}", run.id));
        {
            let mut tx = ctx.store.begin().await?;
            let flag = self.flag(
                run,
                CheckStatus::Running,
                "Submitting the tests ...",
                dashboard.as_deref(),
            );
            report(&mut tx, ctx, &flag).await?;
            tx.commit().await?;
        }
        let compose = if test.compose {
            match self.compose().await? {
                Some(compose) => Some(compose),
                None => {
                    let description = format!("Testing Farm has no compose for {}.", self.distro);
                    self.finish(run, "error", CheckStatus::Error, &description, None)
                        .await?;
                    return Ok(None);
                }
            }
        } else {
            None
        };
        let source_git_url = self.pr.source_git_url();
        let input = PayloadInput {
            test,
            deployment: ctx.config.deployment,
            distro: self.distro,
            compose: compose.as_deref(),
            dist_git_branch: &self.pr.target_branch,
            koji_task_id: self.build.and_then(KojiBuild::koji_task_id),
            source_git_url: &source_git_url,
            head_sha: &self.pr.head_sha,
            webhook: webhook(ctx),
        };
        let request = test_request(&input);
        let (run, result, adopted) = match earlier_request(ctx, run, &request).await? {
            Ok(Some(request_id)) => (run.clone(), Ok(Some(request_id)), true),
            Ok(None) => {
                let run = mark_submission_started(ctx, run).await?;
                let result = ctx
                    .services
                    .submit_tests(self.pr.project_event_id, &request)
                    .await;
                (run, result, false)
            }
            Err(error) => (run.clone(), Err(CallError::Service(error)), false),
        };
        let run = &run;
        match result {
            Ok(request_id) => {
                let mut tx = ctx.store.begin().await?;
                // No web URL yet: Testing Farm names the artifacts (`run.artifacts`) once the
                // request runs, and the results set it.
                let update = TestRunUpdate {
                    status: Some(if request_id.is_some() {
                        "queued"
                    } else {
                        "new"
                    }),
                    request_id: request_id.as_deref(),
                    submitted_time: Some(Utc::now().naive_utc()),
                    data: request_id.is_none().then(|| json!({"dry_run": true})),
                    ..TestRunUpdate::default()
                };
                runs::update_test_run(&mut tx, run, &update).await?;
                // The run's dashboard page, as packit-service (`helpers/testing_farm.py`
                // `_handle_tf_submit_successful`, l. 1724-1729).
                let flag = self.flag(
                    run,
                    CheckStatus::Running,
                    "Tests have been submitted ...",
                    dashboard.as_deref(),
                );
                report(&mut tx, ctx, &flag).await?;
                if let (true, Some(request_id)) = (adopted, &request_id) {
                    // Its notifications found no run while it was not recorded.
                    info!(%request_id, run = run.id, "Testing Farm request adopted: an earlier attempt submitted it");
                    let results = TestingFarmResults {
                        request_id: request_id.clone(),
                    };
                    tasks::enqueue(&mut tx, &results).await?;
                }
                tx.commit().await?;
                if run.status == "new" {
                    metrics::global().fedora_ci_test_run_queued();
                }
                Ok(None)
            }
            Err(CallError::Service(TestingFarmError::Invalid {
                message, errors, ..
            })) => {
                let detail = errors
                    .pointer("/environments/0/arch")
                    .and_then(|v| v.as_str())
                    .map(str::to_owned)
                    .unwrap_or_else(|| {
                        if message.is_empty() {
                            "There was an error in the API request".to_owned()
                        } else {
                            message
                        }
                    });
                let description = format!("Failed to submit tests: {detail}.");
                self.finish(run, "error", CheckStatus::Failure, &description, None)
                    .await?;
                Ok(None)
            }
            Err(CallError::Service(error))
                if error.is_transient() && !tasks::current_attempt().is_last() =>
            {
                let delay = submission_retry_delay(ctx, tasks::current_attempt().number);
                let description = retry_notice(delay);
                self.finish(run, "retry", CheckStatus::Pending, &description, None)
                    .await?;
                Ok(Some(delay))
            }
            Err(CallError::Service(error)) => {
                let description = if error.is_transient() {
                    format!(
                        "Failed to submit tests: Testing Farm is unavailable (infrastructure failure): {error}"
                    )
                } else {
                    format!("Failed to submit tests: {error}")
                };
                self.finish(run, "error", CheckStatus::Error, &description, None)
                    .await?;
                Ok(None)
            }
            Err(error @ CallError::Record(_)) => Err(error.into()),
        }
    }

    async fn finish(
        &self,
        run: &TestRun,
        status: &str,
        check_status: CheckStatus,
        description: &str,
        url: Option<&str>,
    ) -> anyhow::Result<()> {
        let mut tx = self.ctx.store.begin().await?;
        let update = TestRunUpdate {
            status: Some(status),
            data: Some(json!({"error": description})),
            ..TestRunUpdate::default()
        };
        runs::update_test_run(&mut tx, run, &update).await?;
        let flag = self.flag(run, check_status, description, url);
        report(&mut tx, self.ctx, &flag).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn compose(&self) -> anyhow::Result<Option<String>> {
        let available = self.ctx.services.testing_farm.public_composes().await?;
        Ok(compose_for_distro(self.distro, &available))
    }
}

/// The flag of a submission tried again after `delay`, in packit-service's words
/// (`helpers/testing_farm.py` `_retry_on_submit_failure`).
fn retry_notice(delay: Duration) -> String {
    format!(
        "Failed to submit tests. The task will be retried in {}.",
        minutes(delay)
    )
}

/// Marks the run's submission as started, committed before Testing Farm is called, so that a
/// later attempt knows to look for the request first; the run as it now is.
async fn mark_submission_started(ctx: &Context, run: &TestRun) -> anyhow::Result<TestRun> {
    let mut tx = ctx.store.begin().await?;
    let update = TestRunUpdate {
        data: Some(submission::started_now()),
        ..TestRunUpdate::default()
    };
    runs::update_test_run(&mut tx, run, &update).await?;
    tx.commit().await?;
    runs::test_run(&ctx.store, run.id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("test run {} vanished while it was submitted", run.id))
}

/// The request an earlier attempt of this run submitted without recording it: one of ours,
/// created since that attempt started, that reads back as `request` and that no run has.
/// `None` when no attempt got as far as calling Testing Farm (or in shadow mode). The oldest
/// such request wins: it is the one the first lost answer named.
async fn earlier_request(
    ctx: &Context,
    run: &TestRun,
    request: &TestRequest,
) -> anyhow::Result<Result<Option<String>, TestingFarmError>> {
    let Some(started) = submission::started_at(run.data.as_ref()) else {
        return Ok(Ok(None));
    };
    if ctx.services.dry_run {
        return Ok(Ok(None));
    }
    let since = submission::created_after(started);
    let mut listed = match ctx.services.testing_farm.list_own_requests(since).await {
        Ok(listed) => listed,
        Err(error) if error.is_transient() => {
            // The service is down like any transient failure of the submission: waited out.
            tasks::note_unavailable(crate::handlers::services::TESTING_FARM, &error);
            return Ok(Err(error));
        }
        Err(error) => {
            // Without the list nothing can be reconciled; submitting again risks one
            // duplicate request, waiting would never end.
            warn!(run = run.id, %error, "cannot list earlier Testing Farm requests; submitting again");
            return Ok(Ok(None));
        }
    };
    listed.retain(|candidate| is_listed_request(request, candidate));
    listed.sort_by(|a, b| a.created.cmp(&b.created).then_with(|| a.id.cmp(&b.id)));
    for candidate in listed {
        if runs::test_run_by_request_id(&ctx.store, &candidate.id)
            .await?
            .is_none()
        {
            return Ok(Ok(Some(candidate.id)));
        }
    }
    info!(
        run = run.id,
        "no earlier submission reached Testing Farm; submitting"
    );
    Ok(Ok(None))
}

fn webhook(ctx: &Context) -> Option<Webhook> {
    let server = ctx.config.server_name.as_ref()?;
    let token = ctx.config.testing_farm_secret.clone()?;
    let base = if server.starts_with("http://") || server.starts_with("https://") {
        server.trim_end_matches('/').to_owned()
    } else {
        format!("https://{server}")
    };
    Some(Webhook {
        url: format!("{base}/api/testing-farm/results"),
        token,
    })
}

/// The target a test run's flag names: its build's Koji target, or `rawhide` without a
/// build (the tests namespace), as packit-service names it.
pub async fn flag_target(ctx: &Context, run: &TestRun) -> anyhow::Result<String> {
    let build = match run.koji_build_id {
        Some(id) => runs::koji_build(&ctx.store, id).await?,
        None => None,
    };
    Ok(build.map_or_else(|| "rawhide".to_owned(), |build| build.target))
}

/// Updates a test run from Testing Farm's view of its request.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TestingFarmResults {
    pub request_id: String,
}

impl BackgroundTask for TestingFarmResults {
    const NAME: &'static str = "run_downstream_testing_farm_results_handler";
    const MAX_ATTEMPTS: i32 = 5;
    type Context = Context;

    async fn run(&self, ctx: &Context) -> anyhow::Result<()> {
        let Some(run) = runs::test_run_by_request_id(&ctx.store, &self.request_id).await? else {
            info!(request_id = %self.request_id, "unknown pipeline_id received from Testing Farm");
            return Ok(());
        };
        // packit's IsDownstreamTest: only Fedora CI runs carry the test name.
        if run.data_str("fedora_ci_test").is_none() {
            return Ok(());
        }
        if run.status == "canceled" && run.data_str("superseded_by").is_some() {
            return Ok(());
        }
        // The poll reaches here without `ProcessMessage`, which gates the webhook's messages.
        if let Some(why) = disabled_project(&ctx.config, &run.project_url) {
            info!(request_id = %self.request_id, why, "Testing Farm results not processed");
            return Ok(());
        }
        let details = match ctx
            .services
            .testing_farm
            .get_request(&self.request_id)
            .await
        {
            Ok(details) => details,
            Err(error) if error.is_transient() => return Err(error.into()),
            Err(error) => return Err(tasks::permanent(error)),
        };
        let result = result_of(&details);
        if result == run.status {
            info!(request_id = %self.request_id, result, "Testing Farm results already processed");
            return Ok(());
        }
        let (check_status, default_summary) = result_report(result);
        let summary = details
            .result
            .as_ref()
            .and_then(|result| result.summary.clone())
            .filter(|summary| !summary.is_empty())
            .unwrap_or_else(|| default_summary.to_owned());
        // packit-service: `self.log_url or get_testing_farm_info_url(id)`, where `log_url` is
        // the request's `run.artifacts` (`handlers/testing_farm.py` l. 821-829).
        let log_url = details
            .raw
            .pointer("/run/artifacts")
            .and_then(|url| url.as_str())
            .filter(|url| !url.is_empty())
            .map(str::to_owned);
        let url = log_url
            .clone()
            .or_else(|| dashboard_url(ctx, &format!("/jobs/testing-farm/{}", run.id)));
        let target = flag_target(ctx, &run).await?;
        let mut tx = ctx.store.begin().await?;
        let update = TestRunUpdate {
            status: Some(result),
            web_url: log_url.as_deref(),
            ..TestRunUpdate::default()
        };
        runs::update_test_run(&mut tx, &run, &update).await?;
        // A later run of this test at this commit (a retrigger, a rebuild's tests) owns the
        // flag: a late result of the older run is recorded on its row and nowhere else.
        if runs::has_newer_test_run(&ctx.store, &run).await? {
            info!(request_id = %self.request_id, result, "a newer run of this test exists; flag left alone");
        } else {
            let flag = Report {
                pull_request_id: run.pull_request_id,
                commit_sha: &run.commit_sha,
                check: run.test_name(),
                target: &target,
                status: check_status,
                description: &summary,
                url: url.as_deref(),
            };
            report(&mut tx, ctx, &flag).await?;
        }
        tx.commit().await?;
        metrics::global().fedora_ci_test_run_result(result, run.submitted_time);
        Ok(())
    }
}

/// The run's status from the request (packit's `parse_data_from_testing_farm`): the state
/// while it runs, then the overall result; always a label of packit's `TestingFarmResult`.
fn result_of(details: &RequestDetails) -> &'static str {
    let state = match details.state {
        // A request exists in Testing Farm only once we submitted it, which already made the
        // run `queued`; its `new` is the same wait, not a step back.
        RequestState::New => "queued",
        RequestState::Queued => "queued",
        RequestState::Running => "running",
        RequestState::Canceled => "canceled",
        RequestState::CancelRequested => "cancel_requested",
        RequestState::Complete => "complete",
        RequestState::Error => "error",
    };
    if !matches!(details.state, RequestState::Complete | RequestState::Error) {
        return state;
    }
    match details
        .result
        .as_ref()
        .and_then(|result| result.overall.as_deref())
    {
        Some("passed") => "passed",
        Some("failed") => "failed",
        Some("error") => "error",
        Some("skipped") => "skipped",
        Some("needs_inspection") => "needs_inspection",
        Some(_) => "unknown",
        None => state,
    }
}

/// packit-service's table: flag status and default summary of a result.
fn result_report(result: &str) -> (CheckStatus, &'static str) {
    match result {
        "running" => (CheckStatus::Running, "Tests are running ..."),
        "passed" => (CheckStatus::Success, "Tests passed ..."),
        "failed" => (CheckStatus::Failure, "Tests failed ..."),
        "canceled" => (CheckStatus::Neutral, "Tests canceled ..."),
        // Queued is pending, not an error as in packit-service: the tests have not failed.
        "new" | "queued" => (CheckStatus::Running, "Tests are queued ..."),
        _ => (CheckStatus::Error, "Error ..."),
    }
}

/// Catches results whose notification was lost; runs older than 7 days become errors.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TestingFarmPoll {}

impl TestingFarmPoll {
    pub const PERIOD: Duration = Duration::from_secs(600);
    const GIVE_UP_AFTER: chrono::Duration = chrono::Duration::days(7);
}

impl BackgroundTask for TestingFarmPoll {
    const NAME: &'static str = "babysit_pending_tft_runs";
    const QUEUE: &'static str = queues::LONG;
    type Context = Context;

    async fn run(&self, ctx: &Context) -> anyhow::Result<()> {
        let now = Utc::now().naive_utc();
        for run in runs::unfinished_test_runs(&ctx.store).await? {
            let Some(request_id) = run.pipeline_id.clone() else {
                continue;
            };
            if disabled_project(&ctx.config, &run.project_url).is_some() {
                continue;
            }
            let mut tx = ctx.store.begin().await?;
            let too_old = run
                .submitted_time
                .is_some_and(|submitted| now - submitted > Self::GIVE_UP_AFTER);
            if too_old {
                let update = TestRunUpdate {
                    status: Some("error"),
                    ..TestRunUpdate::default()
                };
                runs::update_test_run(&mut tx, &run, &update).await?;
                let target = flag_target(ctx, &run).await?;
                let flag = Report {
                    pull_request_id: run.pull_request_id,
                    commit_sha: &run.commit_sha,
                    check: run.test_name(),
                    target: &target,
                    status: CheckStatus::Error,
                    description: "Testing Farm did not finish the tests within 7 days.",
                    url: run.web_url.as_deref(),
                };
                report(&mut tx, ctx, &flag).await?;
            } else {
                tasks::enqueue(&mut tx, &TestingFarmResults { request_id }).await?;
            }
            tx.commit().await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handlers::retry_delay;

    /// Item 2 of issue #15: three attempts, the flag says 1 then 2 minutes, then the final
    /// error. packit-service `tests/integration/test_pr_comment.py`
    /// `test_pr_test_command_handler_retries` (l. 911-985): retry 0 → "Failed to submit tests.
    /// The task will be retried in 1 minute.", delay 60; retry 1 → "… in 2 minutes.", delay
    /// 120; retry 2 (= `DEFAULT_RETRY_LIMIT`, the last try) → the final failure.
    #[test]
    fn a_submission_is_retried_twice_one_then_two_minutes_apart() {
        let retries: Vec<(u64, String)> = (1..TestingFarmSubmit::MAX_ATTEMPTS)
            .map(|attempt| {
                let delay = retry_delay(60, attempt);
                (delay.as_secs(), retry_notice(delay))
            })
            .collect();
        assert_eq!(
            retries,
            [
                (
                    60,
                    "Failed to submit tests. The task will be retried in 1 minute.".to_owned()
                ),
                (
                    120,
                    "Failed to submit tests. The task will be retried in 2 minutes.".to_owned()
                ),
            ]
        );
    }
}

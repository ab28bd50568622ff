//! Koji scratch builds: submitting them (packit-service's `DownstreamKojiScratchBuildHandler`
//! and its ELN variant) and reporting their task states (`KojiTaskReportDownstreamHandler`).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tracing::{info, warn};

use crate::checker;
use crate::clients::Transient;
use crate::clients::forge::ForgeKind;
use crate::clients::koji::{BuildRequest, KojiError, TaskInfo, TaskState, scm_url};
use crate::context::Context;
use crate::db::Tx;
use crate::db::flags;
use crate::db::runs::{self, KojiBuild, KojiBuildUpdate};
use crate::events::KojiTaskState;
use crate::handlers::report::{Report, dashboard_url, report};
use crate::handlers::services::CallError;
use crate::handlers::testing_farm::{TestSelection, TestingFarmSubmit};
use crate::handlers::{
    PullRequestRef, SUBMISSION_ATTEMPTS, is_superseded, minutes, submission, submission_retry_delay,
};
use crate::helpers::flags::{CheckStatus, check_name, flag_key, koji_target};
use crate::metrics;
use crate::tasks::{self, BackgroundTask, queues};

/// The check name of scratch builds.
pub const CHECK: &str = "scratch build";

/// Which Koji target a build is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BuildFor {
    /// The PR's branch (`main` builds for `rawhide`).
    Branch,
    /// ELN, for rawhide PRs of ELN packages that have no `eln` branch.
    Eln,
}

impl BuildFor {
    pub fn koji_target(self, pull_request: &PullRequestRef) -> String {
        match self {
            BuildFor::Branch => koji_target(&pull_request.target_branch).to_owned(),
            BuildFor::Eln => "eln".to_owned(),
        }
    }
}

/// Submits a scratch build of the PR's head commit.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KojiScratchBuild {
    pub pull_request: PullRequestRef,
    pub build_for: BuildFor,
    /// `push`, or `comment:<id>` for a retrigger: one build per trigger and target.
    pub trigger: String,
    /// Tests to start once the build succeeds (a `test` command on a commit with no build).
    #[serde(default)]
    pub then_test: Option<TestSelection>,
}

impl BackgroundTask for KojiScratchBuild {
    const NAME: &'static str = "run_downstream_koji_scratch_build_handler";
    const QUEUE: &'static str = queues::LONG;
    // The first try and two retries, 1 and 2 minutes apart, as packit-service.
    const MAX_ATTEMPTS: i32 = SUBMISSION_ATTEMPTS;
    type Context = Context;

    async fn run(&self, ctx: &Context) -> anyhow::Result<()> {
        let pr = &self.pull_request;
        let target = self.build_for.koji_target(pr);
        if is_superseded(ctx, pr).await? {
            info!(pr = pr.pr_id, commit = %pr.head_sha, "commit superseded before its build started");
            let ending = (
                CheckStatus::Canceled,
                "Superseded by a newer commit.".to_owned(),
            );
            return self
                .withdraw(ctx, &target, "the commit was superseded", Some(ending))
                .await;
        }
        if self.build_for == BuildFor::Eln
            && let Some(reason) = checker::eln::why_no_eln_build(ctx, pr).await?
        {
            info!(pr = pr.pr_id, project = %pr.project_url, reason, "no ELN build");
            // A flag set before this was known (a comment's "The task was accepted.", an
            // outage notice) ends as canceled: the check does not apply, nothing was built.
            let ending = (
                CheckStatus::Canceled,
                format!("No ELN build is needed: {reason}."),
            );
            return self.withdraw(ctx, &target, reason, Some(ending)).await;
        }
        if checker::retirement::is_retired_at_head(ctx, pr).await? {
            let description = "The package is retired (dead.package): nothing to build or test.";
            let ending = (CheckStatus::Canceled, description.to_owned());
            return match self.build_for {
                // Its flag says so even where nothing announced it: the PR is not blocked.
                BuildFor::Branch => {
                    let mut tx = ctx.store.begin().await?;
                    let flag = build_flag(pr, &target, CheckStatus::Success, description, None);
                    report(&mut tx, ctx, &flag).await?;
                    tx.commit().await?;
                    self.withdraw(ctx, &target, description, None).await
                }
                BuildFor::Eln => self.withdraw(ctx, &target, description, Some(ending)).await,
            };
        }
        let build = self.intended_build(ctx, &target).await?;
        if build.task_id.is_some() {
            // An earlier attempt submitted it and recorded the task.
            return Ok(());
        }
        if build.status == "canceled" {
            // Replaced (a later `scratch-build`) or superseded (a push) before it was submitted.
            info!(build = build.id, %target, "build cancelled before its submission");
            return Ok(());
        }
        self.submit(ctx, &build, &target).await
    }
}

impl KojiScratchBuild {
    /// Plans this build inside the planner's transaction: its row, pending, and its task.
    /// The row is there before the task runs (which may be long, waiting for Pagure), so a
    /// command that comes meanwhile sees the build: tests asked for wait for it, and a
    /// `scratch-build` cancels it, instead of planning a second build beside it.
    pub async fn plan(&self, tx: &mut Tx, ctx: &Context) -> anyhow::Result<()> {
        let pr = &self.pull_request;
        let target = self.build_for.koji_target(pr);
        if runs::koji_build_for_trigger(&ctx.store, pr.project_event_id, &target, &self.trigger)
            .await?
            .is_none()
        {
            runs::create_koji_build(tx, pr.project_event_id, &pr.repo, &target, &self.intent())
                .await?;
        }
        tasks::enqueue(tx, self).await?;
        Ok(())
    }

    /// Withdraws the row a planner created for this build, not submitted, when the task finds
    /// that nothing is to be built after all, so that nothing waits on it (and no build that
    /// never was shows on the dashboard). A build flag left pending for it (a comment's
    /// "The task was accepted.") ends as `ending` says; no flag is created where there was none.
    async fn withdraw(
        &self,
        ctx: &Context,
        target: &str,
        reason: &str,
        ending: Option<(CheckStatus, String)>,
    ) -> anyhow::Result<()> {
        let pr = &self.pull_request;
        let mut tx = ctx.store.begin().await?;
        if let Some((status, description)) = ending {
            end_pending_build_flag(&mut tx, ctx, pr, target, status, &description).await?;
        }
        let planned =
            runs::koji_build_for_trigger(&ctx.store, pr.project_event_id, target, &self.trigger)
                .await?;
        if let Some(build) = planned.filter(|build| build.task_id.is_none()) {
            // Locked, so that a `test` comment deciding to wait for it decides before or after.
            runs::lock_koji_build_status(&mut tx, build.id).await?;
            if runs::delete_unsubmitted_koji_build(&mut tx, build.id).await? {
                info!(build = build.id, target, reason, "planned build withdrawn");
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// The build row's `data` when it is created.
    fn intent(&self) -> serde_json::Value {
        let pr = &self.pull_request;
        json!({
            "trigger": self.trigger,
            "forge": pr.forge,
            "source_url": pr.source_url,
            "source_clone_url": pr.source_clone_url,
            "dist_git_branch": pr.target_branch,
            "then_test": self.then_test,
        })
    }

    /// The build row of this trigger and target: found, or created (the intent, recorded
    /// before Koji is called).
    async fn intended_build(&self, ctx: &Context, target: &str) -> anyhow::Result<KojiBuild> {
        let pr = &self.pull_request;
        if let Some(build) =
            runs::koji_build_for_trigger(&ctx.store, pr.project_event_id, target, &self.trigger)
                .await?
        {
            return Ok(build);
        }
        let mut tx = ctx.store.begin().await?;
        let id = runs::create_koji_build(
            &mut tx,
            pr.project_event_id,
            &pr.repo,
            target,
            &self.intent(),
        )
        .await?;
        tx.commit().await?;
        runs::koji_build(&ctx.store, id)
            .await?
            .ok_or_else(|| anyhow::anyhow!("build {id} vanished after it was created"))
    }

    async fn submit(&self, ctx: &Context, build: &KojiBuild, target: &str) -> anyhow::Result<()> {
        let pr = &self.pull_request;
        let source = scm_url(&pr.source_git_url(), &pr.head_sha).map_err(tasks::permanent)?;
        let (build, result, adopted) = match earlier_submission(ctx, build, &source, target).await?
        {
            Ok(Some(task)) => (build.clone(), Ok(Some(task.id)), Some(task)),
            Ok(None) => {
                let build = mark_submission_started(ctx, build).await?;
                let result = ctx
                    .services
                    .submit_scratch_build(pr.project_event_id, &source, target)
                    .await;
                (build, result, None)
            }
            Err(error) => (build.clone(), Err(CallError::Service(error)), None),
        };
        let build = &build;
        let catch_up = match &adopted {
            Some(task) => catch_up_report(ctx, task).await?,
            None => None,
        };
        let mut tx = ctx.store.begin().await?;
        // A retrigger or a newer push may have cancelled this build while its submission was
        // on its way: the task Koji just made is cancelled too, and the row stays canceled.
        // The row is read again under its lock, since an update writes `data` whole.
        let status = runs::lock_koji_build_status(&mut tx, build.id).await?;
        let build = &runs::koji_build(&ctx.store, build.id)
            .await?
            .ok_or_else(|| anyhow::anyhow!("build {} vanished while it was submitted", build.id))?;
        if let (Some("canceled"), Ok(Some(task_id))) = (status.as_deref(), &result) {
            let update = KojiBuildUpdate {
                task_id: Some(*task_id),
                ..KojiBuildUpdate::default()
            };
            runs::update_koji_build(&mut tx, build, &update).await?;
            tx.commit().await?;
            info!(
                task_id,
                "build cancelled while it was submitted; cancelling its Koji task"
            );
            ctx.services
                .cancel_koji_task(pr.project_event_id, *task_id)
                .await
                .map_err(|error| anyhow::anyhow!("cancelling Koji task {task_id}: {error}"))?;
            return Ok(());
        }
        // packit-service links the retry and failure flags to the build's dashboard page.
        let dashboard = dashboard_url(ctx, &format!("/jobs/koji/{}", build.id));
        let outcome = match result {
            Ok(task_id) => {
                let web_url = task_id.map(|id| task_web_url(ctx, id));
                let update = KojiBuildUpdate {
                    // Stays `pending` until Koji reports OPEN, as in packit-service, so
                    // that Koji's FREE report changes nothing (`state_report`).
                    status: Some("pending"),
                    task_id,
                    web_url: web_url.as_deref(),
                    data: task_id.is_none().then(|| json!({"dry_run": true})),
                    ..KojiBuildUpdate::default()
                };
                runs::update_koji_build(&mut tx, build, &update).await?;
                let flag = build_flag(
                    pr,
                    target,
                    CheckStatus::Running,
                    "RPM build was submitted ...",
                    web_url.as_deref(),
                );
                report(&mut tx, ctx, &flag).await?;
                if let Some(catch_up) = &catch_up {
                    tasks::enqueue(&mut tx, catch_up).await?;
                }
                metrics::global().fedora_ci_koji_build_queued();
                if adopted.is_some() {
                    info!(
                        task_id,
                        source, target, "scratch build adopted: an earlier attempt submitted it"
                    );
                } else if task_id.is_none() {
                    info!(
                        source,
                        target, "scratch build planned (shadow mode): not submitted"
                    );
                } else {
                    info!(task_id, source, target, "scratch build submitted");
                }
                Ok(())
            }
            Err(CallError::Service(error))
                if error.is_transient() && !tasks::current_attempt().is_last() =>
            {
                let delay = submission_retry_delay(ctx, tasks::current_attempt().number);
                let update = KojiBuildUpdate {
                    status: Some("retry"),
                    data: Some(json!({"error": error.to_string()})),
                    ..KojiBuildUpdate::default()
                };
                runs::update_koji_build(&mut tx, build, &update).await?;
                let description = format!(
                    "Failed to submit the build. The task will be retried in {}.",
                    minutes(delay)
                );
                let flag = build_flag(
                    pr,
                    target,
                    CheckStatus::Pending,
                    &description,
                    dashboard.as_deref(),
                );
                report(&mut tx, ctx, &flag).await?;
                Err(tasks::retry_in(
                    delay,
                    format!("submitting the scratch build: {error}"),
                ))
            }
            Err(CallError::Service(error)) => {
                let update = KojiBuildUpdate {
                    status: Some("error"),
                    data: Some(json!({"error": error.to_string()})),
                    ..KojiBuildUpdate::default()
                };
                runs::update_koji_build(&mut tx, build, &update).await?;
                let description = submit_failure(&error);
                let flag = build_flag(
                    pr,
                    target,
                    CheckStatus::Error,
                    &description,
                    dashboard.as_deref(),
                );
                report(&mut tx, ctx, &flag).await?;
                Err(tasks::permanent(format!(
                    "submitting the scratch build: {error}"
                )))
            }
            Err(error @ CallError::Record(_)) => Err(error.into()),
        };
        tx.commit().await?;
        outcome
    }
}

/// Marks the build's submission as started, committed before Koji is called, so that a later
/// attempt knows to look for the task first; the row as it now is.
async fn mark_submission_started(ctx: &Context, build: &KojiBuild) -> anyhow::Result<KojiBuild> {
    let mut tx = ctx.store.begin().await?;
    let update = KojiBuildUpdate {
        data: Some(submission::started_now()),
        ..KojiBuildUpdate::default()
    };
    runs::update_koji_build(&mut tx, build, &update).await?;
    tx.commit().await?;
    runs::koji_build(&ctx.store, build.id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("build {} vanished while it was submitted", build.id))
}

/// The task an earlier attempt of this build submitted without recording it: our scratch
/// build of the same source and target, created since that attempt started, that no build
/// row has. `None` when no attempt got as far as calling Koji (or in shadow mode, which never
/// calls it). The oldest such task wins: it is the one the first lost answer named.
async fn earlier_submission(
    ctx: &Context,
    build: &KojiBuild,
    source: &str,
    target: &str,
) -> anyhow::Result<Result<Option<TaskInfo>, KojiError>> {
    let Some(started) = submission::started_at(build.data.as_ref()) else {
        return Ok(Ok(None));
    };
    if ctx.services.dry_run {
        return Ok(Ok(None));
    }
    let since = submission::created_after(started);
    let created_after = since.timestamp_micros() as f64 / 1_000_000.0;
    let mut tasks = match ctx.services.koji.own_builds_since(created_after).await {
        Ok(tasks) => tasks,
        Err(error) if error.is_transient() => {
            // The service is down like any transient failure of the submission: waited out.
            tasks::note_unavailable(crate::handlers::services::KOJI, &error);
            return Ok(Err(error));
        }
        Err(error) => {
            // Without the list nothing can be reconciled; submitting again risks one
            // duplicate build, waiting would never end.
            warn!(build = build.id, %error, "cannot list earlier Koji builds; submitting again");
            return Ok(Ok(None));
        }
    };
    tasks.sort_by_key(|task| task.id);
    let wanted = BuildRequest {
        source,
        target,
        scratch: true,
    };
    for task in tasks {
        if task.build_request().as_ref() != Some(&wanted) {
            continue;
        }
        if runs::koji_build_by_task_id(&ctx.store, task.id)
            .await?
            .is_none()
        {
            return Ok(Ok(Some(task)));
        }
    }
    info!(
        build = build.id,
        source, target, "no earlier submission reached Koji; submitting"
    );
    Ok(Ok(None))
}

/// An adopted task may have moved on while nobody knew it was ours: its state messages found
/// no build and were dropped. The report of its current state, as Koji's message would have
/// made it; `None` while it waits (`FREE`).
async fn catch_up_report(ctx: &Context, task: &TaskInfo) -> anyhow::Result<Option<KojiTaskReport>> {
    let Some(state) = KojiTaskState::from_number(i64::from(task.state))
        .filter(|state| *state != KojiTaskState::Free)
    else {
        return Ok(None);
    };
    let children = ctx
        .services
        .koji
        .task_children(task.id)
        .await
        .map_err(|error| {
            anyhow::anyhow!("reading the subtasks of adopted task {}: {error}", task.id)
        })?;
    let arch_children = children.iter().filter(|child| child.method == "buildArch");
    let time = |seconds: Option<f64>| {
        seconds.and_then(|seconds| DateTime::from_timestamp_micros((seconds * 1_000_000.0) as i64))
    };
    Ok(Some(KojiTaskReport {
        task_id: u64::try_from(task.id)?,
        state,
        start_time: time(task.start_ts),
        completion_time: time(task.completion_ts),
        arch_tasks: arch_children
            .clone()
            .filter_map(|child| Some((child.arch.clone(), u64::try_from(child.id).ok()?)))
            .collect(),
        failed_arches: arch_children
            .filter(|child| child.state == TaskState::Failed)
            .map(|child| child.arch.clone())
            .collect(),
    }))
}

/// The scratch-build flag of the PR's head commit.
pub fn build_flag<'a>(
    pr: &'a PullRequestRef,
    target: &'a str,
    status: CheckStatus,
    description: &'a str,
    url: Option<&'a str>,
) -> Report<'a> {
    Report {
        pull_request_id: pr.pull_request_id,
        commit_sha: &pr.head_sha,
        check: CHECK,
        target,
        status,
        description,
        url,
    }
}

/// Ends the build flag of `target` at the PR's commit if it is pending; a check with no flag,
/// or a final one, is left as it is.
async fn end_pending_build_flag(
    tx: &mut Tx,
    ctx: &Context,
    pr: &PullRequestRef,
    target: &str,
    status: CheckStatus,
    description: &str,
) -> anyhow::Result<()> {
    let username = check_name(&ctx.config.check_name_prefix, CHECK, target, &pr.head_sha);
    let current = flags::get_in(tx, &flag_key(pr.pull_request_id, &username)).await?;
    if current.is_some_and(|flag| flag.status == "pending") {
        report(tx, ctx, &build_flag(pr, target, status, description, None)).await?;
    }
    Ok(())
}

/// The flag description of a submission that failed for good: whose problem it is.
fn submit_failure(error: &KojiError) -> String {
    // packit-service's words when its `kinit` fails (`handlers/distgit.py` l. 1031-1041):
    // our credentials, not the package nor Koji.
    if let KojiError::Kerberos { detail, .. } = error {
        return format!("Kerberos authentication error: {detail}");
    }
    if error.is_transient() {
        format!(
            "Submit of the build failed: Koji is unavailable (infrastructure failure, not a problem of the package): {error}"
        )
    } else {
        format!("Submit of the build failed: Koji refused it: {error}")
    }
}

pub fn task_web_url(ctx: &Context, task_id: i64) -> String {
    format!(
        "{}/koji/taskinfo?taskID={task_id}",
        ctx.config.koji_web_url.trim_end_matches('/')
    )
}

/// `{koji_logs_url}//work/tasks/{id % 10000}/{id}/{file}`; the double slash is Koji's.
pub fn task_log_url(ctx: &Context, task_id: u64, file: &str) -> String {
    format!(
        "{}//work/tasks/{}/{task_id}/{file}",
        ctx.config.koji_logs_url.trim_end_matches('/'),
        task_id % 10000
    )
}

/// Reports a Koji task state change of one of our scratch builds.
///
/// The message that caused it is only a hint that something changed: the task's state, times
/// and arch subtasks are read from the hub (`getTaskInfo`, `getTaskChildren`), and only what
/// the hub says is acted on. A forged, corrupted or stale message can therefore neither fail
/// a build the hub closed nor start Log Detective analyses; while the hub cannot be reached
/// the report fails and the queue retries it, rather than trusting the message.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KojiTaskReport {
    pub task_id: u64,
    /// The state the message claimed; logged when the hub disagrees, never acted on.
    pub state: KojiTaskState,
    pub start_time: Option<DateTime<Utc>>,
    pub completion_time: Option<DateTime<Utc>>,
    /// buildArch subtasks by arch, as the message named them (a hint, like `state`).
    pub arch_tasks: BTreeMap<String, u64>,
    pub failed_arches: Vec<String>,
}

/// A build task as the hub reports it.
#[derive(Debug, Clone, PartialEq)]
struct HubTask {
    state: KojiTaskState,
    start_time: Option<DateTime<Utc>>,
    completion_time: Option<DateTime<Utc>>,
    /// buildArch subtasks by arch.
    arch_tasks: BTreeMap<String, u64>,
    /// Arches whose buildArch subtask FAILED (the others of a failed build are usually
    /// CANCELED by Koji, and have nothing to analyse).
    failed_arches: Vec<String>,
}

impl HubTask {
    fn new(info: &TaskInfo, children: &[TaskInfo]) -> anyhow::Result<HubTask> {
        let state = KojiTaskState::from_number(i64::from(info.state)).ok_or_else(|| {
            anyhow::anyhow!("task {} has an unknown state {:?}", info.id, info.state)
        })?;
        let time = |seconds: Option<f64>| {
            seconds
                .and_then(|seconds| DateTime::from_timestamp_micros((seconds * 1_000_000.0) as i64))
        };
        let arch_children = || children.iter().filter(|child| child.method == "buildArch");
        Ok(HubTask {
            state,
            start_time: time(info.start_ts),
            completion_time: time(info.completion_ts),
            arch_tasks: arch_children()
                .filter_map(|child| Some((child.arch.clone(), u64::try_from(child.id).ok()?)))
                .collect(),
            failed_arches: arch_children()
                .filter(|child| child.state == TaskState::Failed)
                .map(|child| child.arch.clone())
                .collect(),
        })
    }
}

impl BackgroundTask for KojiTaskReport {
    const NAME: &'static str = "run_downstream_koji_scratch_build_report_handler";
    type Context = Context;

    async fn run(&self, ctx: &Context) -> anyhow::Result<()> {
        let Some(build) = runs::koji_build_by_task_id(&ctx.store, self.task_id as i64).await?
        else {
            info!(
                task_id = self.task_id,
                "Koji task not found in the database"
            );
            return Ok(());
        };
        // Reports enqueued by a submission's catch-up do not pass through `jobs::plan`, which
        // gates the others.
        if let Some(reason) = checker::projects::disabled_project(&ctx.config, &build.project_url) {
            info!(task_id = self.task_id, reason, "not reported");
            return Ok(());
        }
        let Some(hub) = self.read_hub(ctx).await? else {
            warn!(
                task_id = self.task_id,
                "the Koji hub does not know this task; the message is not acted on"
            );
            return Ok(());
        };
        if hub.state != self.state {
            info!(
                task_id = self.task_id,
                message = self.state.name(),
                hub = hub.state.name(),
                "the message's task state is not the hub's; acting on the hub's"
            );
        }
        let Some((status, check_status, description)) = state_report(hub.state) else {
            return Ok(());
        };
        if build.status == status {
            info!(
                task_id = self.task_id,
                status, "state change already processed"
            );
            return Ok(());
        }
        if build.status == "canceled" && build.data_str("superseded_by").is_some() {
            info!(
                task_id = self.task_id,
                "build of a superseded commit; not reported"
            );
            return Ok(());
        }
        let logs: BTreeMap<&str, String> = hub
            .arch_tasks
            .iter()
            .map(|(arch, id)| (arch.as_str(), task_log_url(ctx, *id, "mock_output.log")))
            .collect();
        let logs = json!(logs);
        let web_url = task_web_url(ctx, self.task_id as i64);
        let mut tx = ctx.store.begin().await?;
        // Reports of one task may run out of order (they are separate tasks): a state never
        // replaces a later one. The row is locked so that two reports of the same task
        // decide one after the other.
        let current = runs::lock_koji_build_status(&mut tx, build.id).await?;
        if current
            .as_deref()
            .is_some_and(|current| state_rank(current) >= state_rank(status))
        {
            info!(
                task_id = self.task_id,
                status,
                ?current,
                "older or repeated state change; not applied"
            );
            return Ok(());
        }
        // Read again under the lock: a `/fedora-ci test` comment may have added its tests to
        // the build's `then_test` since the first read, and the update writes `data` whole.
        let build = runs::koji_build(&ctx.store, build.id)
            .await?
            .ok_or_else(|| anyhow::anyhow!("build {} vanished while it was reported", build.id))?;
        let update = KojiBuildUpdate {
            status: Some(status),
            web_url: Some(&web_url),
            build_logs_urls: (!hub.arch_tasks.is_empty()).then_some(&logs),
            build_start_time: hub.start_time.map(|t| t.naive_utc()),
            build_finished_time: hub.completion_time.map(|t| t.naive_utc()),
            ..KojiBuildUpdate::default()
        };
        runs::update_koji_build(&mut tx, &build, &update).await?;
        if runs::has_newer_koji_build(&ctx.store, &build).await? {
            info!(
                task_id = self.task_id,
                "a newer build of this commit exists; not reported"
            );
        } else {
            let flag = Report {
                pull_request_id: build.pull_request_id,
                commit_sha: &build.commit_sha,
                check: CHECK,
                target: &build.target,
                status: check_status,
                description,
                url: Some(&web_url),
            };
            report(&mut tx, ctx, &flag).await?;
        }
        follow_up(ctx, &mut tx, &build, &hub).await?;
        tx.commit().await?;
        metrics::global().fedora_ci_koji_build_state(hub.state, build.submitted_time);
        Ok(())
    }
}

impl KojiTaskReport {
    /// The task as the hub has it now; `None` when the hub does not know it. Any failure to
    /// ask is an error, so the queue retries the report instead of trusting the message.
    async fn read_hub(&self, ctx: &Context) -> anyhow::Result<Option<HubTask>> {
        let task_id = i64::try_from(self.task_id)?;
        let koji = &ctx.services.koji;
        let Some(info) = koji
            .task_info(task_id)
            .await
            .map_err(|error| hub_error(error, &format!("reading Koji task {task_id}")))?
        else {
            return Ok(None);
        };
        // Only a running or finished build has arch subtasks worth reading.
        let children = match KojiTaskState::from_number(i64::from(info.state)) {
            Some(KojiTaskState::Free | KojiTaskState::Assigned) | None => Vec::new(),
            Some(_) => koji.task_children(task_id).await.map_err(|error| {
                hub_error(
                    error,
                    &format!("reading the subtasks of Koji task {task_id}"),
                )
            })?,
        };
        HubTask::new(&info, &children).map(Some)
    }
}

/// A failed read of the hub: an outage is waited out by the queue (the message is not
/// trusted meanwhile); anything else is an error the queue retries a few times.
fn hub_error(error: KojiError, doing: &str) -> anyhow::Error {
    if error.is_transient() {
        tasks::unavailable("Koji", format!("{doing}: {error}"))
    } else {
        anyhow::anyhow!("{doing}: {error}")
    }
}

/// On success the tests start; on failure Log Detective looks at the logs of the arches the
/// hub says failed.
async fn follow_up(
    ctx: &Context,
    tx: &mut Tx,
    build: &KojiBuild,
    hub: &HubTask,
) -> anyhow::Result<()> {
    match hub.state {
        KojiTaskState::Closed => {
            let selection = build
                .data
                .as_ref()
                .and_then(|data| data.0.get("then_test"))
                .and_then(|value| {
                    serde_json::from_value::<Option<TestSelection>>(value.clone()).ok()
                })
                .flatten()
                .unwrap_or(TestSelection::All);
            if let Some(pull_request) = pull_request_of_build(build) {
                tasks::enqueue(
                    tx,
                    &TestingFarmSubmit {
                        pull_request,
                        koji_build_id: Some(build.id),
                        selection,
                        trigger: format!("build:{}", build.id),
                    },
                )
                .await?;
            }
        }
        KojiTaskState::Failed
            if checker::projects::is_logdetective_enabled(&ctx.config, &build.project_url)
                && !hub.failed_arches.is_empty() =>
        {
            let failed: BTreeMap<String, u64> = hub
                .failed_arches
                .iter()
                .filter_map(|arch| Some((arch.clone(), *hub.arch_tasks.get(arch)?)))
                .collect();
            tasks::enqueue(
                tx,
                &crate::handlers::logdetective::LogDetectiveSubmit {
                    koji_build_id: build.id,
                    failed_arch_tasks: failed,
                },
            )
            .await?;
        }
        _ => {}
    }
    Ok(())
}

/// The PR as the build recorded it when it was created.
pub fn pull_request_of_build(build: &KojiBuild) -> Option<PullRequestRef> {
    Some(PullRequestRef {
        // Rows of builds recorded before forges were told apart are Pagure's.
        forge: build
            .data_str("forge")
            .and_then(ForgeKind::from_name)
            .unwrap_or_default(),
        project_event_id: build.project_event_id,
        pull_request_id: build.pull_request_id,
        namespace: build.namespace.clone().unwrap_or_default(),
        repo: build.repo_name.clone(),
        pr_id: u64::try_from(build.pr_id).ok()?,
        project_url: build.project_url.clone(),
        source_url: build.data_str("source_url")?.to_owned(),
        source_clone_url: build.data_str("source_clone_url").map(str::to_owned),
        target_branch: build.data_str("dist_git_branch")?.to_owned(),
        head_sha: build.commit_sha.clone(),
    })
}

/// How far a build has come: a status only ever moves to a higher rank. A submitted build is
/// `pending`, as Koji's FREE leaves it; Koji then reports OPEN (`running`) and a final state.
/// Rows of older versions say `queued` for a submitted build: the same step.
fn state_rank(status: &str) -> u8 {
    match status {
        "pending" | "queued" => 1,
        "running" => 2,
        "success" | "failure" | "canceled" | "error" => 3,
        _ => 0,
    }
}

/// packit-service's table: the DB status, the flag status and the description of a state.
fn state_report(state: KojiTaskState) -> Option<(&'static str, CheckStatus, &'static str)> {
    Some(match state {
        KojiTaskState::Free => (
            "pending",
            CheckStatus::Pending,
            "RPM build has been submitted...",
        ),
        KojiTaskState::Open => (
            "running",
            CheckStatus::Running,
            "RPM build is in progress...",
        ),
        KojiTaskState::Closed => ("success", CheckStatus::Success, "RPM build succeeded."),
        KojiTaskState::Canceled => ("canceled", CheckStatus::Canceled, "RPM build was canceled."),
        KojiTaskState::Failed => ("failure", CheckStatus::Failure, "RPM build failed."),
        KojiTaskState::Assigned => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The recorded answer of a real hub to `method(task_id)`.
    fn recorded(method: &str, task_id: i64) -> serde_json::Value {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/protocols/koji/hub-calls.build-task-8982172.json"
        );
        let calls: Vec<serde_json::Value> =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        calls
            .into_iter()
            .find(|call| call["method"] == method && call["args"] == json!([task_id]))
            .unwrap()["result"]
            .clone()
    }

    /// Item 10 of issue #15: packit-service reports a failed Kerberos login as
    /// `"Kerberos authentication error: " + stderr` (`handlers/distgit.py` l. 1031-1041);
    /// the value is `tests/unit/test_koji_build.py::test_koji_build_failed_kerberos`'s
    /// (l. 179-246, `stderr_output="the bad authentication error"`).
    #[test]
    fn a_kerberos_failure_is_reported_in_packits_words() {
        for transient in [false, true] {
            let error = KojiError::Kerberos {
                detail: "the bad authentication error".to_owned(),
                transient,
            };
            assert_eq!(
                submit_failure(&error),
                "Kerberos authentication error: the bad authentication error"
            );
        }
    }

    #[test]
    fn the_hub_view_of_a_real_closed_build() {
        let info: TaskInfo = serde_json::from_value(recorded("getTaskInfo", 8982172)).unwrap();
        let children: Vec<TaskInfo> =
            serde_json::from_value(recorded("getTaskChildren", 8982172)).unwrap();
        let hub = HubTask::new(&info, &children).unwrap();
        assert_eq!(hub.state, KojiTaskState::Closed);
        // The SRPM task is a child too, but not an arch.
        assert_eq!(
            hub.arch_tasks,
            BTreeMap::from([("noarch".to_owned(), 8982231)])
        );
        assert!(hub.failed_arches.is_empty());
        assert_eq!(
            hub.start_time.map(|time| time.timestamp()),
            Some(1424270750)
        );
        assert_eq!(
            hub.completion_time.map(|time| time.timestamp()),
            Some(1424271457)
        );
    }

    #[test]
    fn failed_arches_are_the_failed_build_arch_children() {
        let info: TaskInfo = serde_json::from_value(recorded("getTaskInfo", 8982172)).unwrap();
        let mut children: Vec<TaskInfo> =
            serde_json::from_value(recorded("getTaskChildren", 8982172)).unwrap();
        let mut failed = children[1].clone();
        failed.id = 8982232;
        failed.arch = "x86_64".to_owned();
        failed.state = TaskState::Failed;
        let mut canceled = failed.clone();
        canceled.id = 8982233;
        canceled.arch = "aarch64".to_owned();
        canceled.state = TaskState::Canceled;
        children.extend([failed, canceled]);
        let failed_build = TaskInfo {
            state: TaskState::Failed,
            ..info
        };
        let hub = HubTask::new(&failed_build, &children).unwrap();
        assert_eq!(hub.state, KojiTaskState::Failed);
        assert_eq!(hub.failed_arches, vec!["x86_64".to_owned()]);
        assert_eq!(hub.arch_tasks.len(), 3);
    }
}

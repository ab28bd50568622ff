//! Log Detective: an analysis of each failed architecture of a failed scratch build
//! (packit-service's trigger in `KojiTaskReportDownstreamHandler`), and its result
//! (`DownstreamLogDetectiveResultsHandler`). Which arches failed comes from the Koji hub, not
//! from a bus message (`KojiTaskReport`).

use std::collections::BTreeMap;

use anyhow::Context as _;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tracing::{info, warn};

use crate::clients::Transient;
use crate::clients::logdetective::{AnalysisRequest, LogDetectiveError};
use crate::context::Context;
use crate::db::logdetective::{self as submissions, Submission};
use crate::db::runs::{self, KojiBuild};
use crate::events::LogDetectiveStatus;
use crate::handlers::koji::task_log_url;
use crate::handlers::report::{Report, dashboard_url, report};
use crate::handlers::services::CallError;
use crate::handlers::submission_retry_delay;
use crate::helpers::flags::CheckStatus;
use crate::tasks::{self, BackgroundTask};

pub const CHECK: &str = "Log Detective analysis";

/// What Log Detective is told about Koji logs: packit-service's `LD_COMMENTARY`
/// (`packit_service/worker/helpers/logdetective.py:26-32`), byte for byte. Its adjacent
/// Python literals are joined without a space after the full stops, and so is this text.
pub const COMMENTARY: &str = concat!(
    "Build was executed in downstream Koji using containerized environment provided by Mock.",
    "The build.log contains output of the package build, it is the most likely to contain messages,",
    " indicating the root cause.",
    "The mock_output.log is a general log from Mock.",
    "The root.log is a log from creation of the chroot environment.",
);

/// Starts the analyses of a failed build, one per failed arch.
///
/// Every arch gets its `log_detective_submissions` row first, all in one transaction; then
/// each arch still `new` is submitted and ends `submitted` (with its `log_detective_run` and
/// flag, in one transaction), `planned` (shadow mode) or `error`. A retry therefore submits
/// only what is still `new`, and a transient failure on one arch neither stops the others
/// nor loses them.
///
/// Reconciliation: logdetective-packit has no way to list or look up analyses (its only
/// route is `POST /analyze`; the result exists only as the `logdetective.analysis` message),
/// so a submission whose answer was lost (`submission_started_at` set, still `new`) cannot
/// be looked for the way Koji builds and Testing Farm requests are. It is sent again: the
/// window is one duplicate analysis per lost answer, which costs only Log Detective's compute,
/// since its result carries an id we never recorded and [`LogDetectiveResults`] drops it.
/// The task for a build is enqueued once (by the FAILED report, under the build row's lock),
/// so two attempts never submit the same arch at the same time.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LogDetectiveSubmit {
    pub koji_build_id: i32,
    /// The failed buildArch subtasks by arch.
    pub failed_arch_tasks: BTreeMap<String, u64>,
}

impl BackgroundTask for LogDetectiveSubmit {
    const NAME: &'static str = "run_downstream_log_detective_handler";
    const MAX_ATTEMPTS: i32 = 4;
    type Context = Context;

    async fn run(&self, ctx: &Context) -> anyhow::Result<()> {
        let Some(build) = runs::koji_build(&ctx.store, self.koji_build_id).await? else {
            return Err(tasks::permanent(format!(
                "Koji build {} does not exist",
                self.koji_build_id
            )));
        };
        let arches: Vec<(String, String)> = self
            .failed_arch_tasks
            .iter()
            .map(|(arch, subtask)| (arch.clone(), subtask.to_string()))
            .collect();
        let mut tx = ctx.store.begin().await?;
        submissions::create_submissions(&mut tx, build.id, &arches, Utc::now()).await?;
        tx.commit().await?;

        let attempt = tasks::current_attempt();
        let mut transient = Vec::new();
        let mut refused = Vec::new();
        for submission in submissions::submissions(&ctx.store, build.id).await? {
            if submission.state != "new" {
                continue;
            }
            match submit_arch(ctx, &build, &submission).await? {
                Ok(()) => {}
                Err(error) if error.is_transient() && !attempt.is_last() => {
                    warn!(build = build.id, arch = %submission.arch, %error,
                          "Log Detective analysis not started; retried");
                    transient.push(format!("{}: {error}", submission.arch));
                }
                Err(error) => {
                    let text = format!("Log Detective did not start the analysis: {error}");
                    end_submission(ctx, &build, &submission, &text).await?;
                    refused.push(format!("{}: {error}", submission.arch));
                }
            }
        }
        if !transient.is_empty() {
            let delay = submission_retry_delay(ctx, attempt.number);
            return Err(tasks::retry_in(
                delay,
                format!("starting Log Detective analyses: {}", transient.join("; ")),
            ));
        }
        if !refused.is_empty() {
            return Err(tasks::permanent(format!(
                "Log Detective refused analyses: {}",
                refused.join("; ")
            )));
        }
        Ok(())
    }
}

/// Ends a submission still `new` as `error` with a final `error` flag for its arch saying
/// `description` (invariant (a): the failed build's head gets its Log Detective flag even
/// when no analysis could be started); one transaction. Nothing when it had already ended.
async fn end_submission(
    ctx: &Context,
    build: &KojiBuild,
    submission: &Submission,
    description: &str,
) -> anyhow::Result<()> {
    let target = format!("{}-{}", build.target, submission.arch);
    let mut tx = ctx.store.begin().await?;
    if !submissions::finish(&mut tx, submission.id, "error", None, Some(description)).await? {
        return Ok(());
    }
    let flag = Report {
        pull_request_id: build.pull_request_id,
        commit_sha: &build.commit_sha,
        check: CHECK,
        target: &target,
        status: CheckStatus::Error,
        description,
        url: None,
    };
    report(&mut tx, ctx, &flag).await?;
    tx.commit().await?;
    Ok(())
}

/// The given-up hook of [`LogDetectiveSubmit`] (the queue will not run the task again, e.g.
/// Log Detective stayed down for the whole outage budget): every arch whose analysis was not
/// started ends with an `error` flag saying `cause`, instead of having no flag at all.
pub async fn submit_given_up(ctx: &Context, payload: &Value, cause: &str) -> anyhow::Result<()> {
    let task: LogDetectiveSubmit = serde_json::from_value(payload.clone())
        .context("decoding a given-up Log Detective submission")?;
    let Some(build) = runs::koji_build(&ctx.store, task.koji_build_id).await? else {
        return Ok(());
    };
    // Arches the task never got to record are recorded now, so that each gets its flag.
    let arches: Vec<(String, String)> = task
        .failed_arch_tasks
        .iter()
        .map(|(arch, subtask)| (arch.clone(), subtask.to_string()))
        .collect();
    let mut tx = ctx.store.begin().await?;
    submissions::create_submissions(&mut tx, build.id, &arches, Utc::now()).await?;
    tx.commit().await?;
    let description = format!("{cause}; no Log Detective analysis of this build was made.");
    for submission in submissions::submissions(&ctx.store, build.id).await? {
        if submission.state == "new" {
            end_submission(ctx, &build, &submission, &description).await?;
        }
    }
    Ok(())
}

/// Submits one arch that is still `new`; the outer error is ours (database), the inner one
/// Log Detective's.
async fn submit_arch(
    ctx: &Context,
    build: &KojiBuild,
    submission: &Submission,
) -> anyhow::Result<Result<(), LogDetectiveError>> {
    let target = format!("{}-{}", build.target, submission.arch);
    // An analysis the previous release started (it wrote only log_detective_run) is adopted.
    if let Some(analysis_id) =
        submissions::started_analysis(&ctx.store, build.id, &submission.target_build).await?
    {
        let mut tx = ctx.store.begin().await?;
        submissions::finish(
            &mut tx,
            submission.id,
            "submitted",
            Some(&analysis_id),
            None,
        )
        .await?;
        tx.commit().await?;
        return Ok(Ok(()));
    }
    if submission.submission_started_at.is_some() {
        info!(build = build.id, arch = %submission.arch,
              "an earlier attempt may have started this analysis; Log Detective cannot be asked, sending again");
    }
    let Ok(subtask) = submission.target_build.parse::<u64>() else {
        return Err(tasks::permanent(format!(
            "Log Detective submission {} names no Koji subtask: {}",
            submission.id, submission.target_build
        )));
    };
    let artifacts: BTreeMap<String, String> = ["root.log", "mock_output.log", "build.log"]
        .into_iter()
        .map(|file| (file.to_owned(), task_log_url(ctx, subtask, file)))
        .collect();
    let request = AnalysisRequest {
        artifacts,
        commentary: COMMENTARY.to_owned(),
        target_build: submission.target_build.clone(),
        commit_sha: build.commit_sha.clone(),
        project_url: build.project_url.clone(),
        pr_id: u64::try_from(build.pr_id).unwrap_or_default(),
    };
    submissions::mark_started(&ctx.store, submission.id, Utc::now()).await?;
    let started = match ctx
        .services
        .start_analysis(build.project_event_id, &request)
        .await
    {
        Ok(started) => started,
        Err(CallError::Service(error)) => return Ok(Err(error)),
        Err(error) => return Err(error.into()),
    };
    let mut tx = ctx.store.begin().await?;
    let Some(started) = started else {
        // Shadow mode, or not configured: the call is recorded as planned (or failed).
        submissions::finish(&mut tx, submission.id, "planned", None, None).await?;
        tx.commit().await?;
        return Ok(Ok(()));
    };
    if !submissions::finish(
        &mut tx,
        submission.id,
        "submitted",
        Some(&started.analysis_id.0),
        None,
    )
    .await?
    {
        // Another attempt ended it meanwhile; its analysis is the one recorded.
        return Ok(Ok(()));
    }
    let id = runs::create_log_detective_run(
        &mut tx,
        build,
        &started.analysis_id.0,
        &request.target_build,
        &target,
    )
    .await?;
    let url = dashboard_url(ctx, &format!("/jobs/log-detective/{id}"));
    let flag = Report {
        pull_request_id: build.pull_request_id,
        commit_sha: &build.commit_sha,
        check: CHECK,
        target: &target,
        status: CheckStatus::Running,
        description: "Log Detective analysis status: running",
        url: url.as_deref(),
    };
    report(&mut tx, ctx, &flag).await?;
    tx.commit().await?;
    crate::metrics::global().log_detective_run_started();
    Ok(Ok(()))
}

/// Records the result of an analysis and reports it.
///
/// The result is taken from the `logdetective.analysis` message because that message is the
/// only place it exists: logdetective-packit answers `POST /analyze` with an id and later
/// publishes the result; it offers no route to read an analysis back (its `main.py` has the
/// one route). What is checked instead: the analysis id must be one we recorded when we
/// started it (ids are random UUIDs the service made, so a message cannot name a run it did
/// not get from us), and only a `running` analysis takes a result, once: a repeated, late or
/// contradicting message for a finished analysis changes nothing.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LogDetectiveResults {
    pub analysis_id: String,
    pub status: LogDetectiveStatus,
    pub response: Option<Value>,
    pub error_message: Option<String>,
}

impl BackgroundTask for LogDetectiveResults {
    const NAME: &'static str = "run_downstream_log_detective_results_handler";
    type Context = Context;

    async fn run(&self, ctx: &Context) -> anyhow::Result<()> {
        let (status, check_status) = match self.status {
            LogDetectiveStatus::Running => return Ok(()),
            LogDetectiveStatus::Complete => ("complete", CheckStatus::Success),
            LogDetectiveStatus::Error => ("error", CheckStatus::Error),
            LogDetectiveStatus::Unknown => ("unknown", CheckStatus::Error),
        };
        let Some(run) = runs::log_detective_run(&ctx.store, &self.analysis_id).await? else {
            info!(analysis_id = %self.analysis_id, "unknown Log Detective analysis");
            return Ok(());
        };
        if run.status != "running" {
            // A result is final: a repeated, late or contradicting message changes nothing.
            info!(analysis_id = %self.analysis_id, run.status, status,
                  "Log Detective analysis already finished; result not applied");
            return Ok(());
        }
        let build = match run.koji_build_target_id {
            Some(id) => runs::koji_build(&ctx.store, id).await?,
            None => None,
        };
        let error_message = match self.status {
            LogDetectiveStatus::Complete => None,
            LogDetectiveStatus::Error => {
                Some(self.error_message.as_deref().unwrap_or("Unknown error"))
            }
            _ => Some("Unknown status received for this job"),
        };
        let mut tx = ctx.store.begin().await?;
        runs::finish_log_detective_run(
            &mut tx,
            run.id,
            status,
            self.response.as_ref(),
            error_message,
        )
        .await?;
        if let Some(build) = &build {
            let target = run.target.clone().unwrap_or_else(|| build.target.clone());
            let description = format!("Log Detective analysis status: {status}");
            let url = dashboard_url(ctx, &format!("/jobs/log-detective/{}", run.id));
            let flag = Report {
                pull_request_id: build.pull_request_id,
                commit_sha: &build.commit_sha,
                check: CHECK,
                target: &target,
                status: check_status,
                description: &description,
                url: url.as_deref(),
            };
            report(&mut tx, ctx, &flag).await?;
        }
        tx.commit().await?;
        crate::metrics::global().log_detective_run_finished(run.submitted_time);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::COMMENTARY;

    /// packit-service's `LD_COMMENTARY` (`packit_service/worker/helpers/logdetective.py:26-32`,
    /// sent as `build_metadata.commentary`, `logdetective.py:124`): 317 characters, no space
    /// after the full stops between its sentences.
    #[test]
    fn the_commentary_is_packit_services_ld_commentary() {
        assert_eq!(
            COMMENTARY,
            "Build was executed in downstream Koji using containerized environment provided by \
             Mock.The build.log contains output of the package build, it is the most likely to \
             contain messages, indicating the root cause.The mock_output.log is a general log \
             from Mock.The root.log is a log from creation of the chroot environment."
        );
        assert_eq!(COMMENTARY.len(), 317);
    }
}

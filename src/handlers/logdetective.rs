//! Log Detective: an analysis of each failed architecture of a failed scratch build
//! (packit-service's trigger in `KojiTaskReportDownstreamHandler`), and its result
//! (`DownstreamLogDetectiveResultsHandler`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tracing::info;

use crate::clients::Transient;
use crate::clients::logdetective::AnalysisRequest;
use crate::context::Context;
use crate::db::runs;
use crate::events::LogDetectiveStatus;
use crate::handlers::koji::task_log_url;
use crate::handlers::report::{Report, dashboard_url, report};
use crate::handlers::services::CallError;
use crate::helpers::flags::CheckStatus;
use crate::tasks::{self, BackgroundTask};

pub const CHECK: &str = "Log Detective analysis";

/// What Log Detective is told about Koji logs.
const COMMENTARY: &str = "This is a Koji scratch build of a Fedora dist-git pull request. \
     build.log is the output of rpmbuild inside the mock chroot, root.log the installation \
     of the build dependencies, mock_output.log mock's own log.";

/// Starts the analyses of a failed build.
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
        if runs::has_log_detective_run(&ctx.store, build.id).await? {
            return Ok(());
        }
        for (arch, subtask) in &self.failed_arch_tasks {
            let artifacts: BTreeMap<String, String> = ["root.log", "mock_output.log", "build.log"]
                .into_iter()
                .map(|file| (file.to_owned(), task_log_url(ctx, *subtask, file)))
                .collect();
            let request = AnalysisRequest {
                artifacts,
                commentary: COMMENTARY.to_owned(),
                target_build: subtask.to_string(),
                commit_sha: build.commit_sha.clone(),
                project_url: build.project_url.clone(),
                pr_id: u64::try_from(build.pr_id).unwrap_or_default(),
            };
            let started = match ctx
                .services
                .start_analysis(build.project_event_id, &request)
                .await
            {
                Ok(started) => started,
                Err(CallError::Service(error)) if !error.is_transient() => {
                    return Err(tasks::permanent(error));
                }
                Err(error) => return Err(error.into()),
            };
            let Some(started) = started else {
                continue;
            };
            let target = format!("{}-{arch}", build.target);
            let mut tx = ctx.store.begin().await?;
            let id = runs::create_log_detective_run(
                &mut tx,
                &build,
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
        }
        Ok(())
    }
}

/// Records the result of an analysis and reports it.
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
        if run.status == status {
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
        crate::metrics::global().log_detective_run_finished();
        Ok(())
    }
}

//! A new push supersedes the PR's older commits: their unfinished Koji builds and Testing
//! Farm requests are cancelled, and their flags say so (packit-service#2938). Results that
//! still arrive for them are recorded but never reported again.

use serde::{Deserialize, Serialize};
use serde_json::json;
use tracing::{info, warn};

use crate::clients::Transient;
use crate::context::Context;
use crate::db::flags;
use crate::db::runs::{self, KojiBuild, KojiBuildUpdate, TestRunUpdate};
use crate::handlers::report::{Report, SetFlag, report};
use crate::handlers::services::CallError;
use crate::handlers::testing_farm::flag_target;
use crate::helpers::flags::CheckStatus;
use crate::tasks::{self, BackgroundTask};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CancelSuperseded {
    pub pull_request_id: i32,
    pub head_sha: String,
}

impl BackgroundTask for CancelSuperseded {
    const NAME: &'static str = "cancel_superseded_runs";
    const MAX_ATTEMPTS: i32 = 5;
    type Context = Context;

    async fn run(&self, ctx: &Context) -> anyhow::Result<()> {
        // This task may run late (a retry, a worker that died): if a newer push came in the
        // meantime, its own cancellation applies, and this one would cancel the new head.
        let head = runs::head_commit(&ctx.store, self.pull_request_id).await?;
        if head.as_deref() != Some(self.head_sha.as_str()) {
            info!(
                commit = %self.head_sha,
                head = head.as_deref().unwrap_or_default(),
                "no longer the head commit; nothing to cancel for it"
            );
            return Ok(());
        }
        let short: String = self.head_sha.chars().take(7).collect();
        let description = format!("Superseded by the newer commit {short}.");
        self.cancel_builds(ctx, &description).await?;
        self.cancel_test_runs(ctx, &description).await?;
        self.cancel_pending_flags(ctx, &description).await
    }
}

impl CancelSuperseded {
    async fn cancel_builds(&self, ctx: &Context, description: &str) -> anyhow::Result<()> {
        let builds = runs::unfinished_koji_builds_of_other_commits(
            &ctx.store,
            self.pull_request_id,
            &self.head_sha,
        )
        .await?;
        for build in builds {
            cancel_koji_task(ctx, &build).await?;
            let mut tx = ctx.store.begin().await?;
            // Its report may have finished it meanwhile: a final state stays as it is. (The
            // build's row is locked before the PR's, in the order the Koji handlers take them.)
            let status = runs::lock_koji_build_status(&mut tx, build.id).await?;
            if !matches!(
                status.as_deref(),
                Some("pending" | "queued" | "running" | "retry")
            ) {
                continue;
            }
            if !self.still_head(&mut tx).await? {
                return Ok(());
            }
            let update = KojiBuildUpdate {
                status: Some("canceled"),
                data: Some(json!({"superseded_by": self.head_sha})),
                ..KojiBuildUpdate::default()
            };
            runs::update_koji_build(&mut tx, &build, &update).await?;
            let flag = Report {
                pull_request_id: build.pull_request_id,
                commit_sha: &build.commit_sha,
                check: crate::handlers::koji::CHECK,
                target: &build.target,
                status: CheckStatus::Canceled,
                description,
                url: build.web_url.as_deref(),
            };
            report(&mut tx, ctx, &flag).await?;
            tx.commit().await?;
            info!(build = build.id, commit = %build.commit_sha, "superseded build canceled");
        }
        Ok(())
    }

    /// Flags of older commits whose work never started ("queued", "accepted"), and any other
    /// still pending: read and canceled under the PR's lock ([`flags::lock_head_commit`]), so
    /// a flag stored while its commit was the head is seen here, and a flag that reached a
    /// final state stays as it is.
    async fn cancel_pending_flags(&self, ctx: &Context, description: &str) -> anyhow::Result<()> {
        let mut tx = ctx.store.begin().await?;
        if !self.still_head(&mut tx).await? {
            return Ok(());
        }
        let pending =
            flags::pending_of_other_commits(&mut tx, self.pull_request_id, &self.head_sha).await?;
        for flag in pending {
            let state = flags::FlagState {
                uid: &flag.uid,
                pull_request_id: flag.pull_request_id,
                commit_sha: &flag.commit_sha,
                check_name: &flag.check_name,
                username: &flag.username,
                status: CheckStatus::Canceled.pagure_status(),
                comment: description,
                url: &flag.url,
            };
            if flags::want(&mut tx, &state).await? {
                tasks::enqueue(
                    &mut tx,
                    &SetFlag {
                        uid: flag.uid.clone(),
                    },
                )
                .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// Whether this push is still the PR's head, read under the PR's lock in `tx`: once a
    /// newer push came, the commits "other than this one" include the new head, whose work
    /// must not be canceled (the newer push's own cancellation applies).
    async fn still_head(&self, tx: &mut crate::db::Tx) -> anyhow::Result<bool> {
        let head = flags::lock_head_commit(tx, self.pull_request_id).await?;
        if head.as_deref() == Some(self.head_sha.as_str()) {
            return Ok(true);
        }
        info!(commit = %self.head_sha, head = head.as_deref().unwrap_or_default(),
            "no longer the head commit; its cancellation of older work stops");
        Ok(false)
    }

    async fn cancel_test_runs(&self, ctx: &Context, description: &str) -> anyhow::Result<()> {
        let test_runs = runs::unfinished_test_runs_of_other_commits(
            &ctx.store,
            self.pull_request_id,
            &self.head_sha,
        )
        .await?;
        for run in test_runs {
            if let Some(request_id) = &run.pipeline_id {
                match ctx
                    .services
                    .cancel_tests(run.project_event_id, request_id)
                    .await
                {
                    Ok(()) => {}
                    Err(CallError::Service(error)) if !error.is_transient() => {
                        warn!(%request_id, %error, "Testing Farm did not cancel the superseded request");
                    }
                    Err(error) => return Err(error.into()),
                }
            }
            let target = flag_target(ctx, &run).await?;
            let mut tx = ctx.store.begin().await?;
            let update = TestRunUpdate {
                status: Some("canceled"),
                data: Some(json!({"superseded_by": self.head_sha})),
                ..TestRunUpdate::default()
            };
            runs::update_test_run(&mut tx, &run, &update).await?;
            // After the run's row, in the order the Testing Farm handlers lock them; a newer
            // push rolls this back.
            if !self.still_head(&mut tx).await? {
                return Ok(());
            }
            let flag = Report {
                pull_request_id: run.pull_request_id,
                commit_sha: &run.commit_sha,
                check: run.test_name(),
                target: &target,
                status: CheckStatus::Canceled,
                description,
                url: run.web_url.as_deref(),
            };
            report(&mut tx, ctx, &flag).await?;
            tx.commit().await?;
        }
        Ok(())
    }
}

/// Cancels a build's Koji task, if it has one.
async fn cancel_koji_task(ctx: &Context, build: &KojiBuild) -> anyhow::Result<()> {
    let Some(task_id) = build.koji_task_id() else {
        return Ok(());
    };
    match ctx
        .services
        .cancel_koji_task(build.project_event_id, task_id)
        .await
    {
        Ok(()) => Ok(()),
        // A task that already finished cannot be cancelled; its state message will not be
        // reported any more.
        Err(CallError::Service(error)) if !error.is_transient() => {
            warn!(task_id, %error, "Koji did not cancel the task");
            Ok(())
        }
        Err(error) => Err(error.into()),
    }
}

/// An explicit `scratch-build` retrigger replaces the builds of the same commit and target
/// that still run (packit-service's `CANCEL_RUNNING_JOBS`): builds up to `up_to_build_id`, the
/// newest when the retrigger was accepted, are cancelled in Koji and marked `canceled` with
/// `canceled_by`, so that at most one build per commit and target goes on. Their flag is
/// the new build's (same check, target and commit), which reports from now on; their late
/// state messages find a final row and change nothing. Safe to run again.
pub async fn cancel_replaced_builds(
    ctx: &Context,
    project_event_id: i32,
    target: &str,
    up_to_build_id: i32,
    replaced_by: &str,
) -> anyhow::Result<()> {
    let builds =
        runs::unfinished_koji_builds_up_to(&ctx.store, project_event_id, target, up_to_build_id)
            .await?;
    for build in builds {
        if build.data_str("trigger") == Some(replaced_by) {
            continue;
        }
        cancel_koji_task(ctx, &build).await?;
        let mut tx = ctx.store.begin().await?;
        // Its report may have finished it meanwhile: a final state stays as it is.
        let status = runs::lock_koji_build_status(&mut tx, build.id).await?;
        if !matches!(
            status.as_deref(),
            Some("pending" | "queued" | "running" | "retry")
        ) {
            continue;
        }
        let update = KojiBuildUpdate {
            status: Some("canceled"),
            data: Some(json!({"canceled_by": replaced_by})),
            ..KojiBuildUpdate::default()
        };
        runs::update_koji_build(&mut tx, &build, &update).await?;
        tx.commit().await?;
        info!(
            build = build.id,
            replaced_by, "running build replaced by a retrigger; canceled"
        );
    }
    Ok(())
}

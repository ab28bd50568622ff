//! The periodic reconciler of stuck checks (invariant (a)): a check of a PR's head commit
//! left pending with nothing that could finish it — no live task of the PR, no Koji task or
//! Testing Farm request in flight (a crash, a bug, a lost message, a hook that failed) — is
//! ended with an `error` flag naming the cause and the command that tries again. A flag whose
//! newest state was never posted gets its `SetFlag` again.
//!
//! It acts only on checks unchanged for `worker.stuck_check_minutes`, so that work between
//! two steps (a task about to be enqueued, a message about to arrive) is never taken for lost.

use std::time::Duration;

use chrono::Utc;
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use crate::context::Context;
use crate::db::Tx;
use crate::db::{flags, runs, tasks as task_rows};
use crate::handlers::give_up::{OwnedCheck, Owner, end_check};
use crate::handlers::koji;
use crate::handlers::report::{Report, enqueue_set_flag, report};
use crate::helpers::flags::CheckStatus;
use crate::tasks::{BackgroundTask, queues};

/// Most flags one run looks at; the next run takes the rest.
const BATCH: i64 = 200;

/// Ends the checks nothing is left to finish.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReconcileStuckChecks {}

impl ReconcileStuckChecks {
    /// How often it runs (real time): a fraction of the age it acts at, at most 10 minutes.
    pub fn period(ctx: &Context) -> Duration {
        let age = stuck_age(ctx);
        (age / 4).clamp(Duration::from_millis(200), Duration::from_secs(600))
    }
}

/// The age (real time) after which a pending check with nothing to finish it is ended.
fn stuck_age(ctx: &Context) -> Duration {
    let minutes = Duration::from_secs(ctx.config.worker.stuck_check_minutes.saturating_mul(60));
    let scale = ctx.config.worker.time_scale;
    if scale.is_finite() && scale >= 1.0 {
        minutes.div_f64(scale)
    } else {
        minutes
    }
}

impl BackgroundTask for ReconcileStuckChecks {
    const NAME: &'static str = "reconcile_stuck_checks";
    const QUEUE: &'static str = queues::SHORT;
    const MAX_ATTEMPTS: i32 = 2;
    type Context = Context;

    async fn run(&self, ctx: &Context) -> anyhow::Result<()> {
        let before = Utc::now() - chrono::Duration::from_std(stuck_age(ctx))?;
        let adopted = flags::adopt_bare_uids(&ctx.store).await?;
        if adopted > 0 {
            info!(
                adopted,
                "flag rows of a previous release keyed by their pull request"
            );
        }
        for uid in flags::unposted_since(&ctx.store, before, BATCH).await? {
            let mut tx = ctx.store.begin().await?;
            enqueue_set_flag(&mut tx, &uid).await?;
            tx.commit().await?;
        }
        for flag in flags::pending_since(&ctx.store, before, BATCH).await? {
            if let Err(error) = reconcile(ctx, &flag).await {
                warn!(flag = %flag.username, error = %format!("{error:#}"), "cannot reconcile a pending check");
            }
        }
        Ok(())
    }
}

async fn reconcile(ctx: &Context, flag: &flags::Flag) -> anyhow::Result<()> {
    let head = runs::head_commit(&ctx.store, flag.pull_request_id).await?;
    if head.as_deref() != Some(flag.commit_sha.as_str()) {
        // An older commit's checks are the superseded handler's.
        return Ok(());
    }
    if task_rows::has_live_task_for_pull_request(&ctx.store, flag.pull_request_id).await? {
        return Ok(());
    }
    let target = flag_target(&ctx.config.check_name_prefix, flag);
    let check = if flag.check_name == koji::CHECK {
        let builds =
            runs::koji_builds_of_commit(&ctx.store, flag.pull_request_id, &flag.commit_sha).await?;
        let of_target: Vec<_> = builds
            .iter()
            .filter(|build| build.target == target)
            .collect();
        // A build Koji has is finished by Koji's messages, not by us.
        if of_target.iter().any(|build| is_in_koji(build)) {
            return Ok(());
        }
        // The newest build finished in Koji: the pending flag is stale (a later step set it
        // back without starting new work), and the build's recorded result is the truth.
        if let Some(build) = of_target
            .last()
            .filter(|build| build.task_id.is_some())
            .and_then(|build| Some((build, finished_build_state(&build.status)?)))
        {
            let (build, (status, description)) = build;
            let restored = Report {
                pull_request_id: flag.pull_request_id,
                commit_sha: &flag.commit_sha,
                check: &flag.check_name,
                target: &target,
                status,
                description,
                url: build.web_url.as_deref(),
            };
            info!(flag = %flag.username, build = build.id, "restoring a stale check from its finished build");
            let mut tx = ctx.store.begin().await?;
            if !unchanged_since_read(&mut tx, flag).await? {
                return Ok(());
            }
            report(&mut tx, ctx, &restored).await?;
            tx.commit().await?;
            return Ok(());
        }
        let retrigger = if target == "eln" {
            "scratch-build --target eln"
        } else {
            "scratch-build"
        };
        let what = of_target
            .last()
            .and_then(|build| {
                let trigger = build.data.as_ref()?.0.get("trigger")?.as_str()?.to_owned();
                Some(Owner::Build {
                    project_event_id: build.project_event_id,
                    trigger,
                })
            })
            .unwrap_or(Owner::Build {
                project_event_id: 0,
                trigger: String::new(),
            });
        OwnedCheck {
            pull_request_id: flag.pull_request_id,
            commit_sha: flag.commit_sha.clone(),
            check: flag.check_name.clone(),
            target,
            retrigger: retrigger.to_owned(),
            what,
        }
    } else {
        let test_runs =
            runs::test_runs_of_commit(&ctx.store, flag.pull_request_id, &flag.commit_sha).await?;
        let of_check: Vec<_> = test_runs
            .iter()
            .filter(|run| run.test_name() == flag.check_name)
            .collect();
        if of_check.is_empty() {
            // Not a test (Log Detective's analyses end with their results or their runs).
            return Ok(());
        }
        // Tests asked for while the commit's build runs wait for it (its `then_test`): the
        // build's report in Koji's message starts them.
        let builds =
            runs::koji_builds_of_commit(&ctx.store, flag.pull_request_id, &flag.commit_sha).await?;
        if builds
            .iter()
            .any(|build| build.target == target && is_in_koji(build))
        {
            return Ok(());
        }
        // A request Testing Farm has is finished by its results or TestingFarmPoll.
        if of_check
            .iter()
            .any(|run| run.pipeline_id.is_some() && !is_final(&run.status))
        {
            return Ok(());
        }
        let Some(run) = of_check.last() else {
            return Ok(());
        };
        OwnedCheck {
            pull_request_id: flag.pull_request_id,
            commit_sha: flag.commit_sha.clone(),
            check: flag.check_name.clone(),
            target,
            retrigger: format!("test {}", flag.check_name),
            what: Owner::TestRun(run.id),
        }
    };
    info!(flag = %flag.username, "ending a check nothing is left to finish");
    let mut tx = ctx.store.begin().await?;
    if !unchanged_since_read(&mut tx, flag).await? {
        return Ok(());
    }
    end_check(
        &mut tx,
        ctx,
        &check,
        "Fedora CI lost track of this check (no work was left that could finish it)",
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Whether `flag` is, inside `tx`, still the pending state read before the checks above, on
/// the head commit. Every change of a PR's flags takes the PR's lock first, so holding it
/// here makes the reconciler's write conditional: a result (or new work) that changed the
/// flag after the read wins, and the reconciler leaves it alone.
async fn unchanged_since_read(tx: &mut Tx, flag: &flags::Flag) -> anyhow::Result<bool> {
    let head = flags::lock_head_commit(tx, flag.pull_request_id).await?;
    if head.as_deref() != Some(flag.commit_sha.as_str()) {
        return Ok(false);
    }
    let now = flags::get_in(tx, &flag.uid).await?;
    Ok(now.is_some_and(|now| now.status == "pending" && now.wanted_seq == flag.wanted_seq))
}

/// A build Koji has and has not finished: Koji's messages (or their reconciliation) end it.
fn is_in_koji(build: &runs::KojiBuild) -> bool {
    build.task_id.is_some() && !is_final(&build.status)
}

/// The flag of a build Koji finished, as its report set it.
fn finished_build_state(status: &str) -> Option<(CheckStatus, &'static str)> {
    Some(match status {
        "success" => (CheckStatus::Success, "RPM build succeeded."),
        "failure" => (CheckStatus::Failure, "RPM build failed."),
        "canceled" => (CheckStatus::Canceled, "RPM build was canceled."),
        _ => return None,
    })
}

fn is_final(status: &str) -> bool {
    matches!(
        status,
        "success" | "failure" | "error" | "canceled" | "skipped" | "passed" | "failed"
    )
}

/// The target in a flag's name `"{prefix} - {check} - {target} [{sha7}]"`.
fn flag_target(prefix: &str, flag: &flags::Flag) -> String {
    let head = format!("{prefix} - {} - ", flag.check_name);
    flag.username
        .strip_prefix(&head)
        .and_then(|rest| rest.rsplit_once(" ["))
        .map_or_else(|| "rawhide".to_owned(), |(target, _)| target.to_owned())
}

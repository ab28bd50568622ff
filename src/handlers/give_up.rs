//! What happens to a task's checks when the queue waits out an outage for it or gives it up
//! (invariant (a): every planned check reaches a final flag).
//!
//! A registry keyed by task name decodes the payload and names the checks the task owns, so
//! the handlers need no code of their own: the queue calls [`FlagHooks`], which shows an
//! outage as a pending flag ("Koji is unavailable; retrying, next try in 8 minutes") and ends
//! a given-up task's unfinished checks with an `error` flag naming the cause and the command
//! that tries again. A check already final is never touched; the periodic reconciler
//! (`stuck.rs`) ends what a failing hook left pending.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use serde_json::json;

use crate::context::Context;
use crate::db::runs::{self, KojiBuildUpdate, TestRunUpdate};
use crate::db::{Tx, flags};
use crate::handlers::koji::{BuildFor, KojiScratchBuild};
use crate::handlers::report::{Report, dashboard_url, report};
use crate::handlers::testing_farm::TestingFarmSubmit;
use crate::handlers::{minutes, services};
use crate::helpers::flags::{CheckStatus, check_name, flag_key};
use crate::tasks::{BackgroundTask, GiveUp, TaskHooks, TaskRef, Unavailable, human_duration};

/// The queue's hooks for every handler task.
pub struct FlagHooks;

type HookFuture<'a> = Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send + 'a>>;

/// One check a task owns: where its flag is and how a packager runs it again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedCheck {
    pub pull_request_id: i32,
    pub commit_sha: String,
    pub check: String,
    pub target: String,
    /// The comment command (without prefix) that runs the check again.
    pub retrigger: String,
    pub what: Owner,
}

/// Which row records the check's work, to mark it ended too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    /// A build of this trigger and target at this project event (none yet: nothing to mark).
    Build {
        project_event_id: i32,
        trigger: String,
    },
    TestRun(i32),
}

/// The checks `task` owns, by task name; none for tasks that own no check.
pub async fn owned_checks(ctx: &Context, task: &TaskRef<'_>) -> anyhow::Result<Vec<OwnedCheck>> {
    if task.name == KojiScratchBuild::NAME {
        let build: KojiScratchBuild = serde_json::from_value(task.payload.clone())?;
        let pr = &build.pull_request;
        let retrigger = match build.build_for {
            BuildFor::Branch => "scratch-build",
            BuildFor::Eln => "scratch-build --target eln",
        };
        return Ok(vec![OwnedCheck {
            pull_request_id: pr.pull_request_id,
            commit_sha: pr.head_sha.clone(),
            check: crate::handlers::koji::CHECK.to_owned(),
            target: build.build_for.koji_target(pr),
            retrigger: retrigger.to_owned(),
            what: Owner::Build {
                project_event_id: pr.project_event_id,
                trigger: build.trigger.clone(),
            },
        }]);
    }
    if task.name == TestingFarmSubmit::NAME {
        let submit: TestingFarmSubmit = serde_json::from_value(task.payload.clone())?;
        let pr = &submit.pull_request;
        let target = match submit.koji_build_id {
            Some(id) => runs::koji_build(&ctx.store, id)
                .await?
                .map_or_else(|| "rawhide".to_owned(), |build| build.target),
            None => "rawhide".to_owned(),
        };
        let test_runs =
            runs::test_runs_for_trigger(&ctx.store, pr.project_event_id, &submit.trigger).await?;
        return Ok(test_runs
            .iter()
            // A run with a request is Testing Farm's now; its results end it.
            .filter(|run| run.pipeline_id.is_none())
            .map(|run| OwnedCheck {
                pull_request_id: pr.pull_request_id,
                commit_sha: pr.head_sha.clone(),
                check: run.test_name().to_owned(),
                target: target.clone(),
                retrigger: format!("test {}", run.test_name()),
                what: Owner::TestRun(run.id),
            })
            .collect());
    }
    Ok(Vec::new())
}

/// Whether the check's flag is not final yet (pending, or never set).
async fn is_unfinished(ctx: &Context, check: &OwnedCheck) -> anyhow::Result<bool> {
    let username = check_name(
        &ctx.config.check_name_prefix,
        &check.check,
        &check.target,
        &check.commit_sha,
    );
    let flag = flags::get(&ctx.store, &flag_key(check.pull_request_id, &username)).await?;
    Ok(flag.is_none_or(|flag| flag.status == "pending"))
}

fn flag<'a>(
    check: &'a OwnedCheck,
    status: CheckStatus,
    description: &'a str,
    url: Option<&'a str>,
) -> Report<'a> {
    Report {
        pull_request_id: check.pull_request_id,
        commit_sha: &check.commit_sha,
        check: &check.check,
        target: &check.target,
        status,
        description,
        url,
    }
}

/// The dashboard page of the check's work, as packit-service links its retry and error flags
/// (`get_koji_build_info_url`, `get_testing_farm_info_url`); `None` before a build row exists.
async fn job_page(ctx: &Context, check: &OwnedCheck) -> anyhow::Result<Option<String>> {
    Ok(match &check.what {
        Owner::Build {
            project_event_id,
            trigger,
        } => runs::koji_build_for_trigger(&ctx.store, *project_event_id, &check.target, trigger)
            .await?
            .and_then(|build| dashboard_url(ctx, &format!("/jobs/koji/{}", build.id))),
        Owner::TestRun(id) => dashboard_url(ctx, &format!("/jobs/testing-farm/{id}")),
    })
}

/// A flag description of bounded length (Pagure keeps short comments; errors can be long).
fn bounded(text: &str) -> String {
    const MAX: usize = 400;
    if text.chars().count() <= MAX {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(MAX).collect();
    cut.push('…');
    cut
}

/// Why the check ended, for the flag.
pub fn cause(why: &GiveUp) -> String {
    match why {
        GiveUp::Outage {
            service, lasted, ..
        } => format!("{service} was unavailable for {}", human_duration(*lasted)),
        GiveUp::Failed(error) => format!("Fedora CI could not finish this check: {error}"),
        GiveUp::Reclaims(_) => {
            "Fedora CI could not finish this check: its workers kept stopping".to_owned()
        }
    }
}

/// Ends `check` with a final `error` flag saying `cause` and how to try again, and marks
/// the row of its work as ended; inside `tx`.
pub async fn end_check(
    tx: &mut Tx,
    ctx: &Context,
    check: &OwnedCheck,
    cause: &str,
) -> anyhow::Result<()> {
    let description = bounded(&format!(
        "{cause}; comment `{} {}` to try again.",
        ctx.config.comment_command_prefix, check.retrigger
    ));
    match &check.what {
        Owner::Build {
            project_event_id,
            trigger,
        } => {
            let build =
                runs::koji_build_for_trigger(&ctx.store, *project_event_id, &check.target, trigger)
                    .await?;
            // Only work still waiting to be submitted: a build replaced meanwhile stays canceled.
            let unsubmitted = build.filter(|build| {
                build.task_id.is_none() && matches!(build.status.as_str(), "pending" | "retry")
            });
            if let Some(build) = unsubmitted {
                let update = KojiBuildUpdate {
                    status: Some("error"),
                    data: Some(json!({"error": description})),
                    ..KojiBuildUpdate::default()
                };
                runs::update_koji_build(tx, &build, &update).await?;
            }
        }
        Owner::TestRun(id) => {
            if let Some(run) = runs::test_run(&ctx.store, *id).await? {
                let update = TestRunUpdate {
                    status: Some("error"),
                    data: Some(json!({"error": description})),
                    ..TestRunUpdate::default()
                };
                runs::update_test_run(tx, &run, &update).await?;
            }
        }
    }
    let page = job_page(ctx, check).await?;
    report(
        tx,
        ctx,
        &flag(check, CheckStatus::Error, &description, page.as_deref()),
    )
    .await
}

impl TaskHooks<Context> for FlagHooks {
    fn unavailable(&self, error: &anyhow::Error) -> Option<Unavailable> {
        services::unavailable_in(error)
    }

    fn waiting_out_outage<'a>(
        &'a self,
        ctx: &'a Context,
        task: TaskRef<'a>,
        outage: &'a Unavailable,
        next_try: Duration,
    ) -> HookFuture<'a> {
        Box::pin(async move {
            let description = format!(
                "{} is unavailable; retrying, next try in {}.",
                outage.service,
                minutes(next_try)
            );
            for check in owned_checks(ctx, &task).await? {
                if !is_unfinished(ctx, &check).await? {
                    continue;
                }
                let page = job_page(ctx, &check).await?;
                let mut tx = ctx.store.begin().await?;
                report(
                    &mut tx,
                    ctx,
                    &flag(&check, CheckStatus::Pending, &description, page.as_deref()),
                )
                .await?;
                tx.commit().await?;
            }
            Ok(())
        })
    }

    fn given_up<'a>(
        &'a self,
        ctx: &'a Context,
        task: TaskRef<'a>,
        why: &'a GiveUp,
    ) -> HookFuture<'a> {
        Box::pin(async move {
            let cause = cause(why);
            // Log Detective's checks are per arch, kept in its own submission rows.
            if task.name == crate::handlers::logdetective::LogDetectiveSubmit::NAME {
                return crate::handlers::logdetective::submit_given_up(ctx, task.payload, &cause)
                    .await;
            }
            for check in owned_checks(ctx, &task).await? {
                if !is_unfinished(ctx, &check).await? {
                    continue;
                }
                let mut tx = ctx.store.begin().await?;
                end_check(&mut tx, ctx, &check, &cause).await?;
                tx.commit().await?;
            }
            Ok(())
        })
    }
}

//! Which work an event causes (packit-service's `jobs.py` / `SteveJobs`).
//!
//! [`JOBS`] is the registry, readable in one place like packit-service's decorators: which
//! handler reacts to which event, which comment command and `--target` it answers, and which
//! checkers gate it. [`ProcessMessage`] is the first task of every stored message: it parses
//! the message into an [`Event`], records the project rows, and enqueues the handler tasks the
//! registry names — all in the transaction that records the message's outcome, so an event is
//! either fully planned or not at all.

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tracing::info;

use crate::checker::branches::{has_koji_target, no_koji_target};
use crate::checker::projects::{disabled_project, is_eln_enabled, is_project_enabled};
use crate::config::Config;
use crate::context::Context;
use crate::db::runs::{self, PullRequestKey};
use crate::db::{Tx, comments, inbound};
use crate::events::{self, Event, ForgeKind, Parsed, PullRequest};
use crate::handlers::PullRequestRef;
use crate::handlers::comment::CommentCommand;
use crate::handlers::koji::{BuildFor, KojiScratchBuild, KojiTaskReport, build_flag};
use crate::handlers::logdetective::LogDetectiveResults;
use crate::handlers::report::report;
use crate::handlers::superseded::CancelSuperseded;
use crate::handlers::testing_farm::{
    TestSelection, TestingFarmResults, TestingFarmSubmit, then_test_of,
};
use crate::helpers::commands::TargetChoice;
use crate::helpers::flags::CheckStatus;
use crate::tasks::{self, BackgroundTask};

/// The kinds of event a handler can react to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// A PR opened, or a new head commit pushed to it.
    Push,
    /// A `/fedora-ci …` comment.
    Comment,
    /// A state change of one of our Koji tasks.
    KojiTask,
    /// A Testing Farm request changed.
    TestingFarmResult,
    /// A Log Detective analysis changed.
    LogDetectiveResult,
}

/// The handlers (packit-service's class names in the docs of each).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handler {
    /// `DownstreamKojiScratchBuildHandler`.
    ScratchBuild,
    /// `DownstreamKojiELNScratchBuildHandler`.
    ElnScratchBuild,
    /// `KojiTaskReportDownstreamHandler`.
    KojiTaskReport,
    /// `DownstreamTestingFarmHandler`.
    TestingFarm,
    /// `DownstreamTestingFarmELNHandler`.
    ElnTestingFarm,
    /// `DownstreamTestingFarmTestsNSHandler`.
    TestsNamespaceTestingFarm,
    /// `DownstreamTestingFarmResultsHandler`.
    TestingFarmResults,
    /// `DownstreamLogDetectiveResultsHandler`.
    LogDetectiveResults,
}

/// What gates a handler (packit-service's checkers). The pure ones are evaluated when the
/// event is planned; the others inside the handler's task (see [`crate::checker`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checker {
    /// `IsProjectInRpmsNamespace`.
    InRpmsNamespace,
    /// `IsProjectInTestsNamespace`.
    InTestsNamespace,
    /// `IsProjectEnabledForELN` (pure).
    EnabledForEln,
    /// The PR's branch has a Koji target (pure; see [`crate::checker::branches`]). Where it
    /// fails for a push, the build flag says so.
    BranchHasKojiTarget,
    /// `PackageNeedsELNBuildFromRawhide`: rawhide PR, ELN package, no `eln` branch (in task).
    PackageNeedsElnBuild,
    /// `HasEventSuccessfulScratchBuild`: a comment's tests need a build; missing, one is
    /// built first (in task).
    HasSuccessfulScratchBuild,
    /// `PermissionOnDistgitForFedoraCI`: comments only from packagers (in task).
    PackagerForComment,
    /// `IsDownstreamTest`: only runs that carry a Fedora CI test name (in task).
    IsFedoraCiTest,
}

/// One entry of the registry.
#[derive(Debug)]
pub struct JobSpec {
    pub handler: Handler,
    pub reacts_to: &'static [Trigger],
    /// The comment command it answers, if any.
    pub command: Option<&'static str>,
    /// The `--target` it answers; a handler without one is dropped when a target is given.
    pub target: Option<TargetChoice>,
    pub checkers: &'static [Checker],
}

use Checker::*;
use Trigger::*;

/// The registry.
pub const JOBS: &[JobSpec] = &[
    JobSpec {
        handler: Handler::ScratchBuild,
        reacts_to: &[Push, Comment],
        command: Some("scratch-build"),
        target: Some(TargetChoice::Rawhide),
        checkers: &[InRpmsNamespace, BranchHasKojiTarget, PackagerForComment],
    },
    JobSpec {
        handler: Handler::ElnScratchBuild,
        reacts_to: &[Push, Comment],
        command: Some("scratch-build"),
        target: Some(TargetChoice::Eln),
        checkers: &[
            InRpmsNamespace,
            EnabledForEln,
            PackagerForComment,
            PackageNeedsElnBuild,
        ],
    },
    JobSpec {
        handler: Handler::KojiTaskReport,
        reacts_to: &[KojiTask],
        command: None,
        target: None,
        checkers: &[],
    },
    JobSpec {
        handler: Handler::TestingFarm,
        reacts_to: &[Comment],
        command: Some("test"),
        target: Some(TargetChoice::Rawhide),
        checkers: &[
            InRpmsNamespace,
            BranchHasKojiTarget,
            HasSuccessfulScratchBuild,
            PackagerForComment,
        ],
    },
    JobSpec {
        handler: Handler::ElnTestingFarm,
        reacts_to: &[Comment],
        command: Some("test"),
        target: Some(TargetChoice::Eln),
        checkers: &[
            InRpmsNamespace,
            EnabledForEln,
            PackageNeedsElnBuild,
            HasSuccessfulScratchBuild,
            PackagerForComment,
        ],
    },
    JobSpec {
        handler: Handler::TestsNamespaceTestingFarm,
        reacts_to: &[Push, Comment],
        command: Some("test"),
        target: None,
        checkers: &[InTestsNamespace, PackagerForComment],
    },
    JobSpec {
        handler: Handler::TestingFarmResults,
        reacts_to: &[TestingFarmResult],
        command: None,
        target: None,
        checkers: &[IsFedoraCiTest],
    },
    JobSpec {
        handler: Handler::LogDetectiveResults,
        reacts_to: &[LogDetectiveResult],
        command: None,
        target: None,
        checkers: &[],
    },
];
// A build that succeeds starts the tests (TestingFarm) from the Koji report handler; that
// is `DownstreamTestingFarmHandler` reacting to `koji.result.Task` in packit-service.

/// The registry entries reacting to `trigger`.
pub fn jobs_for(trigger: Trigger) -> impl Iterator<Item = &'static JobSpec> {
    JOBS.iter()
        .filter(move |job| job.reacts_to.contains(&trigger))
}

/// The registry entries answering a comment command, filtered by `--target` as
/// packit-service does.
pub fn comment_jobs(
    command: &str,
    target: Option<TargetChoice>,
) -> impl Iterator<Item = &'static JobSpec> {
    jobs_for(Comment).filter(move |job| {
        job.command == Some(command) && (target.is_none() || job.target == target)
    })
}

/// Whether the checkers that need no I/O let the job run for this PR.
pub fn pure_checks_pass(job: &JobSpec, config: &Config, pr: &PullRequestRef) -> bool {
    failing_pure_check(job, config, pr).is_none()
}

/// The first checker that needs no I/O and stops the job for this PR.
pub fn failing_pure_check(job: &JobSpec, config: &Config, pr: &PullRequestRef) -> Option<Checker> {
    job.checkers.iter().copied().find(|checker| match checker {
        InRpmsNamespace => pr.namespace != "rpms",
        InTestsNamespace => pr.namespace != "tests",
        EnabledForEln => !is_eln_enabled(config, &pr.project_url),
        BranchHasKojiTarget => !has_koji_target(config, &pr.target_branch),
        PackageNeedsElnBuild | HasSuccessfulScratchBuild | PackagerForComment | IsFedoraCiTest => {
            false
        }
    })
}

/// Whether the branch build (or the tests that need it) of `jobs` is stopped only because the PR's branch has no Koji
/// target: then the build flag says so, instead of nothing.
pub fn stopped_by_branch<'j>(
    mut jobs: impl Iterator<Item = &'j JobSpec>,
    config: &Config,
    pr: &PullRequestRef,
) -> bool {
    jobs.any(|job| {
        matches!(job.handler, Handler::ScratchBuild | Handler::TestingFarm)
            && failing_pure_check(job, config, pr) == Some(BranchHasKojiTarget)
    })
}

/// The `error` build flag of a PR whose branch has no Koji target.
pub async fn flag_branch_without_koji_target(
    tx: &mut Tx,
    ctx: &Context,
    pr: &PullRequestRef,
) -> anyhow::Result<()> {
    let target = BuildFor::Branch.koji_target(pr);
    let description = no_koji_target(&pr.target_branch);
    let flag = build_flag(pr, &target, CheckStatus::Error, &description, None);
    report(tx, ctx, &flag).await
}

/// Turns one stored message into its event and the tasks that event causes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProcessMessage {
    pub inbound_id: i64,
}

impl BackgroundTask for ProcessMessage {
    const NAME: &'static str = "process_message";
    const PRIORITY: i16 = 10;
    type Context = Context;

    async fn run(&self, ctx: &Context) -> anyhow::Result<()> {
        let Some(message) = inbound::get(&ctx.store, self.inbound_id).await? else {
            return Err(tasks::permanent(format!(
                "inbound message {} does not exist",
                self.inbound_id
            )));
        };
        if message.outcome != inbound::PENDING {
            // A second run of this task (at-least-once delivery): the first one finished.
            return Ok(());
        }
        let mut tx = ctx.store.begin().await?;
        let (outcome, reason) =
            match events::parse_with_reason(&message.topic, message.body.as_bytes()) {
                Ok(Parsed::Event(event)) => {
                    match plan(ctx, &mut tx, &event, message.id, message.received_at).await? {
                        Planned::Work(what) => {
                            (inbound::PROCESSED, format!("{}: {what}", describe(&event)))
                        }
                        Planned::Nothing(why) => {
                            (inbound::IGNORED, format!("{}: {why}", describe(&event)))
                        }
                    }
                }
                Ok(Parsed::Ignored(skip)) => (inbound::IGNORED, skip.to_string()),
                Err(error) => (inbound::REJECTED, error.to_string()),
            };
        inbound::finish(&mut tx, message.id, outcome, Some(&reason), Utc::now()).await?;
        tx.commit()
            .await
            .with_context(|| format!("recording the outcome of message {}", message.message_id))?;
        info!(message.id = %message.message_id, topic = %message.topic, outcome, reason, "message processed");
        Ok(())
    }
}

/// What planning an event came to.
pub enum Planned {
    /// Tasks were enqueued; says which.
    Work(String),
    /// Nothing to do, and why.
    Nothing(String),
}

/// Records the event's rows and enqueues its handler tasks inside `tx`.
pub async fn plan(
    ctx: &Context,
    tx: &mut Tx,
    event: &Event,
    message_seq: i64,
    received_at: DateTime<Utc>,
) -> anyhow::Result<Planned> {
    match event {
        Event::PullRequestOpened(pr) => plan_push(ctx, tx, pr, message_seq).await,
        Event::PullRequestSynchronized { pull_request, .. } => {
            plan_push(ctx, tx, pull_request, message_seq).await
        }
        Event::PullRequestComment(comment) => {
            let pr = &comment.pull_request;
            let is_help = is_help_comment(&ctx.config.comment_command_prefix, &comment.text);
            if !is_help && !is_project_enabled(&ctx.config, &pr.target_repo.url) {
                return Ok(Planned::Nothing(
                    "Fedora CI is not enabled for the project".into(),
                ));
            }
            let (pr_ref, _) = record_pull_request(tx, &ctx.config, pr, message_seq).await?;
            // The same comment may come again under a new message id; carried out twice, a
            // `scratch-build` would set a finished build flag back to "accepted".
            if !comments::claim_comment(
                tx,
                pr_ref.pull_request_id,
                comment.comment_id.0,
                Utc::now(),
            )
            .await?
            {
                return Ok(Planned::Nothing(format!(
                    "comment {} was handled already",
                    comment.comment_id
                )));
            }
            tasks::enqueue(
                tx,
                &CommentCommand {
                    pull_request: pr_ref,
                    comment_id: comment.comment_id.0,
                    actor: pr.actor.clone(),
                    text: comment.text.clone(),
                    received_at: Some(received_at),
                },
            )
            .await?;
            Ok(Planned::Work("comment command".into()))
        }
        Event::KojiTaskStateChanged(change) => {
            if let Some(build) =
                runs::koji_build_by_task_id(&ctx.store, change.task_id.0 as i64).await?
                && let Some(why) = disabled_project(&ctx.config, &build.project_url)
            {
                return Ok(Planned::Nothing(why));
            }
            tasks::enqueue(
                tx,
                &KojiTaskReport {
                    task_id: change.task_id.0,
                    state: change.new_state,
                    start_time: change.start_time,
                    completion_time: change.completion_time,
                    arch_tasks: change
                        .arch_tasks
                        .iter()
                        .map(|(arch, id)| (arch.clone(), id.0))
                        .collect(),
                    failed_arches: change.failed_arches.clone(),
                },
            )
            .await?;
            Ok(Planned::Work("Koji task report".into()))
        }
        Event::TestingFarmResult(notification) => {
            let request_id = notification.request_id.to_string();
            if let Some(run) = runs::test_run_by_request_id(&ctx.store, &request_id).await?
                && let Some(why) = disabled_project(&ctx.config, &run.project_url)
            {
                return Ok(Planned::Nothing(why));
            }
            tasks::enqueue(
                tx,
                &TestingFarmResults {
                    request_id: notification.request_id.to_string(),
                },
            )
            .await?;
            Ok(Planned::Work("Testing Farm results".into()))
        }
        Event::LogDetectiveResult(result) => {
            if !ctx.config.logdetective_enabled {
                return Ok(Planned::Nothing("Log Detective is not enabled".into()));
            }
            if let Some(why) = log_detective_project_disabled(ctx, &result.analysis_id.0).await? {
                return Ok(Planned::Nothing(why));
            }
            tasks::enqueue(
                tx,
                &LogDetectiveResults {
                    analysis_id: result.analysis_id.0.clone(),
                    status: result.status,
                    response: result.response.clone(),
                    error_message: result.error_message.clone(),
                },
            )
            .await?;
            Ok(Planned::Work("Log Detective results".into()))
        }
        Event::PullRequestClosed(_) => {
            Ok(Planned::Nothing("closed pull requests need no CI".into()))
        }
    }
}

/// [`disabled_project`] for the build a Log Detective analysis belongs to.
async fn log_detective_project_disabled(
    ctx: &Context,
    analysis_id: &str,
) -> anyhow::Result<Option<String>> {
    let Some(run) = runs::log_detective_run(&ctx.store, analysis_id).await? else {
        return Ok(None);
    };
    let Some(build_id) = run.koji_build_target_id else {
        return Ok(None);
    };
    Ok(runs::koji_build(&ctx.store, build_id)
        .await?
        .and_then(|build| disabled_project(&ctx.config, &build.project_url)))
}

/// A push: the registry's push jobs, the first ("queued") flags at once, and the
/// cancellation of what runs for older commits.
async fn plan_push(
    ctx: &Context,
    tx: &mut Tx,
    pr: &PullRequest,
    message_seq: i64,
) -> anyhow::Result<Planned> {
    if !is_project_enabled(&ctx.config, &pr.target_repo.url) {
        return Ok(Planned::Nothing(
            "Fedora CI is not enabled for the project".into(),
        ));
    }
    if pr.title.to_ascii_lowercase().contains("[skip ci]") {
        return Ok(Planned::Nothing(
            "[skip ci] in the pull request title".into(),
        ));
    }
    let (pr_ref, is_head) = record_pull_request(tx, &ctx.config, pr, message_seq).await?;
    let short: String = pr_ref.head_sha.chars().take(7).collect();
    // A message for a commit that is not the head (a late, re-sent or late-processed event
    // of an older head; heads are ordered by the messages' arrival) would cancel the newer
    // head's work and set old flags back.
    if !is_head {
        return Ok(Planned::Nothing(format!(
            "not the head any more: a newer commit than {short} is known"
        )));
    }
    // Pagure re-sends `pull-request.updated` for title and description edits, and a `rebased`
    // may keep `commit_stop`: the head's work is planned once, so finished flags stay final.
    if !runs::claim_push_planning(tx, pr_ref.project_event_id).await? {
        return Ok(Planned::Nothing(format!(
            "head unchanged: the work for {short} is already planned"
        )));
    }
    tasks::enqueue(
        tx,
        &CancelSuperseded {
            pull_request_id: pr_ref.pull_request_id,
            head_sha: pr_ref.head_sha.clone(),
        },
    )
    .await?;
    if stopped_by_branch(jobs_for(Push), &ctx.config, &pr_ref) {
        flag_branch_without_koji_target(tx, ctx, &pr_ref).await?;
        return Ok(Planned::Nothing(format!(
            "the branch {} has no Koji target",
            pr_ref.target_branch
        )));
    }
    let mut started = Vec::new();
    for job in jobs_for(Push).filter(|job| pure_checks_pass(job, &ctx.config, &pr_ref)) {
        let build = |build_for| KojiScratchBuild {
            pull_request: pr_ref.clone(),
            build_for,
            trigger: "push".to_owned(),
            then_test: None,
        };
        match job.handler {
            Handler::ScratchBuild | Handler::ElnScratchBuild
                if adopt_comment_build(ctx, tx, &pr_ref, job.handler).await? =>
            {
                started.push(format!(
                    "{:?} (a comment's build of this commit is tested for the push)",
                    job.handler
                ));
                continue;
            }
            Handler::ScratchBuild => {
                let target = BuildFor::Branch.koji_target(&pr_ref);
                let flag = build_flag(
                    &pr_ref,
                    &target,
                    CheckStatus::Pending,
                    "Queued for a scratch build ...",
                    None,
                );
                report(tx, ctx, &flag).await?;
                // `fedora_ci_first_initial_status_time` is packit-service's: observed for
                // comments, up to their first "The task was accepted." flag (see
                // `CommentCommand`), not for pushes.
                build(BuildFor::Branch).plan(tx, ctx).await?;
            }
            Handler::ElnScratchBuild => {
                build(BuildFor::Eln).plan(tx, ctx).await?;
            }
            Handler::TestsNamespaceTestingFarm => {
                tasks::enqueue(
                    tx,
                    &TestingFarmSubmit {
                        pull_request: pr_ref.clone(),
                        koji_build_id: None,
                        selection: TestSelection::All,
                        trigger: "push".to_owned(),
                    },
                )
                .await?;
            }
            _ => continue,
        }
        started.push(format!("{:?}", job.handler));
    }
    if started.is_empty() {
        return Ok(Planned::Nothing(format!(
            "no Fedora CI job for the {:?} namespace",
            pr_ref.namespace
        )));
    }
    Ok(Planned::Work(started.join(", ")))
}

/// A comment (`test`, `scratch-build`) can be planned before the push of the same head,
/// as messages are not always processed in order, and start the head's build first: that
/// build is the push's too (at most one build per commit and target), and its success runs
/// every test, as the push's would. `false` when there is no such build.
async fn adopt_comment_build(
    ctx: &Context,
    tx: &mut Tx,
    pr: &PullRequestRef,
    handler: Handler,
) -> anyhow::Result<bool> {
    let build_for = if handler == Handler::ElnScratchBuild {
        BuildFor::Eln
    } else {
        BuildFor::Branch
    };
    let target = build_for.koji_target(pr);
    if let Some(running) =
        runs::unfinished_koji_build(&ctx.store, pr.project_event_id, &target).await?
    {
        // Locked, so that its report, which starts the tests, reads what is decided here.
        let status = runs::lock_koji_build_status(tx, running.id).await?;
        if matches!(
            status.as_deref(),
            Some("pending" | "queued" | "running" | "retry")
        ) {
            if then_test_of(&running) != TestSelection::All {
                let update = runs::KojiBuildUpdate {
                    data: Some(serde_json::json!({ "then_test": TestSelection::All })),
                    ..runs::KojiBuildUpdate::default()
                };
                runs::update_koji_build(tx, &running, &update).await?;
            }
            return Ok(true);
        }
    }
    let Some(built) =
        runs::last_successful_koji_build(&ctx.store, pr.project_event_id, &target).await?
    else {
        return Ok(false);
    };
    if then_test_of(&built) != TestSelection::All {
        // It ran only the tests the comment named; the push runs them all.
        tasks::enqueue(
            tx,
            &TestingFarmSubmit {
                pull_request: pr.clone(),
                koji_build_id: Some(built.id),
                selection: TestSelection::All,
                trigger: "push".to_owned(),
            },
        )
        .await?;
    }
    Ok(true)
}

/// Finds or creates the project, PR and PR × commit rows.
/// Records the PR × commit event, and says whether its commit is the PR's head;
/// `message_seq` (the message's `inbound_messages.id`) orders the heads of the PR by
/// arrival, whatever order the messages are processed in.
async fn record_pull_request(
    tx: &mut Tx,
    config: &Config,
    pr: &PullRequest,
    message_seq: i64,
) -> anyhow::Result<(PullRequestRef, bool)> {
    // packit stores the forge's host name; Forgejo's is configured, so that it can differ
    // from Pagure's even when both serve the same host.
    let instance = match (pr.forge, &config.forgejo) {
        (ForgeKind::Forgejo, Some(forgejo)) => forgejo.instance_url(),
        _ => match crate::config::host_of(&pr.target_repo.url) {
            "" => "src.fedoraproject.org".to_owned(),
            host => host.to_owned(),
        },
    };
    let ids = runs::upsert_pull_request_event(
        tx,
        &PullRequestKey {
            namespace: pr.target_repo.namespace.as_deref(),
            repo_name: &pr.target_repo.name,
            project_url: &pr.target_repo.url,
            instance_url: &instance,
            pr_id: pr.id.0 as i64,
        },
        pr.head_commit.as_str(),
        message_seq,
    )
    .await?;
    let pr_ref = PullRequestRef::from_event(pr, ids.project_event_id, ids.pull_request_id);
    Ok((pr_ref, ids.is_head))
}

/// packit-service answers `help` even where Fedora CI is not enabled.
fn is_help_comment(prefix: &str, text: &str) -> bool {
    text.lines().any(|line| {
        let mut words = line.split_whitespace();
        words.next() == Some(prefix) && words.next() == Some("help")
    })
}

/// One line saying what the event is, for logs and the inbound row.
pub fn describe(event: &Event) -> String {
    match event {
        Event::PullRequestOpened(pr) => format!(
            "pull request {}#{} opened at {}",
            pr.target_repo.url, pr.id, pr.head_commit
        ),
        Event::PullRequestSynchronized {
            pull_request: pr, ..
        } => format!(
            "pull request {}#{} has new head {}",
            pr.target_repo.url, pr.id, pr.head_commit
        ),
        Event::PullRequestComment(comment) => format!(
            "comment {} by {} on {}#{}",
            comment.comment_id,
            comment.pull_request.actor,
            comment.pull_request.target_repo.url,
            comment.pull_request.id
        ),
        Event::PullRequestClosed(closed) => format!(
            "pull request {}#{} closed",
            closed.target_repo.url, closed.id
        ),
        Event::KojiTaskStateChanged(task) => {
            format!("Koji task {} is {}", task.task_id, task.new_state.name())
        }
        Event::LogDetectiveResult(result) => format!(
            "Log Detective analysis {} is {:?}",
            result.analysis_id, result.status
        ),
        Event::TestingFarmResult(notification) => {
            format!("Testing Farm request {} changed", notification.request_id)
        }
    }
}

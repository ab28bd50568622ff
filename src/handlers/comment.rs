//! Pull-request comments: the `/fedora-ci` commands (packit-service's `/packit-ci`):
//! help, syntax errors, the packager check, and starting what a command asks for through
//! the job registry ([`crate::jobs::comment_jobs`]).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tracing::info;

use crate::checker;
use crate::clients::Transient;
use crate::clients::forge::ForgeKind;
use crate::context::Context;
use crate::db::{Tx, comments, runs};
use crate::handlers::PullRequestRef;
use crate::handlers::koji::{BuildFor, KojiScratchBuild, build_flag};
use crate::handlers::report::{ReplyToComment, Report, report};
use crate::handlers::superseded::cancel_replaced_builds;
use crate::handlers::testing_farm::{TestSelection, TestingFarmSubmit, then_test_of};
use crate::helpers::commands::{
    Command, CommentParse, TargetChoice, help_reply, not_a_packager_reply, parse_comment,
    syntax_error_reply, unverifiable_packager_reply,
};
use crate::helpers::flags::CheckStatus;
use crate::jobs::{self, Handler};
use crate::metrics;
use crate::tasks::{self, BackgroundTask};

/// packit-service's `TASK_ACCEPTED` (`constants.py` l. 135): the pending flag of every check
/// a comment command starts.
pub const TASK_ACCEPTED: &str = "The task was accepted.";

/// The target a tests-namespace run (no build) reports on: Testing Farm's `build`-less
/// submission takes Rawhide (packit-service's `FEDORA_CI_TESTS_NS_BRANCH`, `constants.py` l. 206).
const TESTS_NAMESPACE_TARGET: &str = "rawhide";

fn is_eln(handler: Handler) -> bool {
    matches!(handler, Handler::ElnScratchBuild | Handler::ElnTestingFarm)
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CommentCommand {
    pub pull_request: PullRequestRef,
    pub comment_id: u64,
    pub actor: String,
    pub text: String,
    /// When the comment's message was received: `fedora_ci_first_initial_status_time`
    /// measures from it to the first "The task was accepted." flag.
    #[serde(default)]
    pub received_at: Option<DateTime<Utc>>,
}

impl BackgroundTask for CommentCommand {
    const NAME: &'static str = "run_pull_request_comment_handler";
    const PRIORITY: i16 = 15;
    const MAX_ATTEMPTS: i32 = 5;
    type Context = Context;

    async fn run(&self, ctx: &Context) -> anyhow::Result<()> {
        let config = &ctx.config;
        let prefix = &config.comment_command_prefix;
        // Whether a named test applies to this pull request is decided below, on its head
        // (`.fmf/version` is read only for a test that needs it).
        let configured: Vec<&str> = config
            .fedora_ci_tests
            .iter()
            .map(|test| test.name.as_str())
            .collect();
        let command = match parse_comment(prefix, &self.text, &configured) {
            CommentParse::NotACommand => return Ok(()),
            CommentParse::SyntaxError(why) => return self.syntax_error(ctx, &why).await,
            CommentParse::Command(Command::Help) => {
                let current = self.on_current_head(ctx).await?;
                let applicable = applicable_tests(ctx, &current.pull_request).await?;
                let names: Vec<&str> = applicable.iter().map(String::as_str).collect();
                let text = help_reply(
                    prefix,
                    &names,
                    &config.help_contacts,
                    &config.documentation_url,
                );
                return self.reply(ctx, text).await;
            }
            CommentParse::Command(command) => command,
        };
        let current = self.on_current_head(ctx).await?;
        // packit-service parses `test NAME` against the tests that apply to the pull request
        // (`get_fedora_ci_tests`, `helpers/testing_farm.py` l. 1381-1438), before any checker.
        if let Command::Test {
            test: Some(name), ..
        } = &command
            && !test_applies(ctx, &current.pull_request, name).await?
        {
            return self
                .syntax_error(ctx, &format!("test {name:?} does not apply here"))
                .await;
        }
        if self.pull_request.forge == ForgeKind::Forgejo
            && !ctx
                .config
                .forgejo
                .as_ref()
                .is_some_and(|forgejo| forgejo.logins_are_fas_usernames)
        {
            info!(comment = self.comment_id, actor = %self.actor, "Forgejo retrigger refused: logins are not known to be FAS usernames");
            return self
                .reply(ctx, unverifiable_packager_reply(&self.actor))
                .await;
        }
        if !self.is_packager(ctx).await? {
            info!(comment = self.comment_id, actor = %self.actor, "retrigger by a non-packager refused");
            return self.reply(ctx, not_a_packager_reply(&self.actor)).await;
        }
        current.start(ctx, &command).await
    }
}

/// The names of the configured tests that apply to the pull request at its head.
async fn applicable_tests(ctx: &Context, pr: &PullRequestRef) -> anyhow::Result<Vec<String>> {
    let tests = checker::tests_applicable::applicable_tests(ctx, pr, |_| true).await?;
    Ok(tests.into_iter().map(|test| test.name.clone()).collect())
}

/// Whether the configured test `name` applies to the pull request at its head.
async fn test_applies(ctx: &Context, pr: &PullRequestRef, name: &str) -> anyhow::Result<bool> {
    let tests = checker::tests_applicable::applicable_tests(ctx, pr, |test| test.name == name);
    Ok(!tests.await?.is_empty())
}

impl CommentCommand {
    async fn syntax_error(&self, ctx: &Context, why: &str) -> anyhow::Result<()> {
        info!(
            comment = self.comment_id,
            why, "command with a syntax error"
        );
        let config = &ctx.config;
        let text = syntax_error_reply(&config.comment_command_prefix, &config.documentation_url);
        self.reply(ctx, text).await
    }

    async fn reply(&self, ctx: &Context, text: String) -> anyhow::Result<()> {
        let pr = &self.pull_request;
        let mut tx = ctx.store.begin().await?;
        tasks::enqueue(
            &mut tx,
            &ReplyToComment {
                forge: pr.forge,
                namespace: pr.namespace.clone(),
                repo: pr.repo.clone(),
                pr_id: pr.pr_id,
                in_reply_to: self.comment_id,
                text,
            },
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// packit-service's `PermissionOnDistgitForFedoraCI`: an error other than an outage
    /// means "not a packager".
    async fn is_packager(&self, ctx: &Context) -> anyhow::Result<bool> {
        match ctx.services.packagers.is_packager(&self.actor).await {
            Ok(answer) => Ok(answer),
            Err(error) if error.is_transient() => Err(error.into()),
            Err(error) => {
                info!(actor = %self.actor, %error, "packager check failed; treated as not a packager");
                Ok(false)
            }
        }
    }

    /// This command as it applies now: to the pull request's newest known head. A comment
    /// carries the head of when it was written; run after a push (messages out of order, an
    /// outage waited out) it would start work for the superseded commit and reopen the flags
    /// the push canceled, while the packager asked for the pull request as it is.
    async fn on_current_head(&self, ctx: &Context) -> anyhow::Result<CommentCommand> {
        let mut command = self.clone();
        let pr = &self.pull_request;
        if let Some((project_event_id, head_sha)) =
            comments::pull_request_head(&ctx.store, pr.pull_request_id).await?
            && project_event_id != pr.project_event_id
        {
            info!(
                comment = self.comment_id,
                written_on = %pr.head_sha,
                head = %head_sha,
                "the pull request has a newer head; the command acts on it"
            );
            command.pull_request.project_event_id = project_event_id;
            command.pull_request.head_sha = head_sha;
        }
        Ok(command)
    }

    /// Enqueues what the command asks for, per the registry, in one transaction.
    async fn start(&self, ctx: &Context, command: &Command) -> anyhow::Result<()> {
        let pr = &self.pull_request;
        let (name, target, selection) = match command {
            Command::ScratchBuild { target } => ("scratch-build", *target, None),
            Command::Test {
                test,
                target,
                failed_only,
            } => {
                let selection = match (test, failed_only) {
                    (Some(name), _) => TestSelection::One(name.clone()),
                    (None, true) => TestSelection::FailedOnly,
                    (None, false) => TestSelection::All,
                };
                ("test", *target, Some(selection))
            }
            Command::Help => return Ok(()),
        };
        if jobs::stopped_by_branch(jobs::comment_jobs(name, target), &ctx.config, pr) {
            info!(
                comment = self.comment_id,
                branch = pr.target_branch,
                "the branch has no Koji target; the command builds nothing"
            );
            let mut tx = ctx.store.begin().await?;
            jobs::flag_branch_without_koji_target(&mut tx, ctx, pr).await?;
            tx.commit().await?;
            return Ok(());
        }
        let mut jobs: Vec<_> = jobs::comment_jobs(name, target)
            .filter(|job| jobs::pure_checks_pass(job, &ctx.config, pr))
            .collect();
        // `--target eln` flags the ELN checks as accepted, so they run only where an ELN
        // build applies (packit-service's `PackageNeedsELNBuildFromRawhide`, checked before
        // its accepted flags): a pending ELN flag that no build would end is never set.
        if target == Some(TargetChoice::Eln)
            && let Some(reason) = checker::eln::why_no_eln_build(ctx, pr).await?
        {
            info!(
                comment = self.comment_id,
                reason, "no ELN build applies; --target eln does nothing"
            );
            jobs.retain(|job| !is_eln(job.handler));
        }
        if name == "scratch-build" {
            // Cancelled before the new build is planned, so that at most one build per
            // commit and target runs; again on a retry, harmlessly.
            for job in &jobs {
                let build_for = match job.handler {
                    Handler::ScratchBuild => BuildFor::Branch,
                    Handler::ElnScratchBuild => BuildFor::Eln,
                    _ => continue,
                };
                self.cancel_running_builds(ctx, &build_for.koji_target(pr))
                    .await?;
            }
        }
        let mut tx = ctx.store.begin().await?;
        let mut accepted = 0;
        for job in jobs {
            if self
                .start_job(ctx, &mut tx, job.handler, target, selection.clone())
                .await?
            {
                accepted += 1;
            }
        }
        tx.commit().await?;
        // After the commit, so that a retried attempt of this task does not count twice.
        if let Some(received_at) = self.received_at {
            let waited = (Utc::now() - received_at).num_milliseconds().max(0) as f64 / 1000.0;
            for _ in 0..accepted {
                metrics::global().fedora_ci_first_initial_status(waited);
            }
        }
        Ok(())
    }

    /// Sets "The task was accepted." on every check a started handler reports on, as
    /// packit-service's `report_task_accepted_for_fedora_ci` (`jobs.py` l. 509-562) does for
    /// each handler whose pre-check passes, in the comment's transaction. `false` when there
    /// is none. The URL is the configured fallback (packit-service: its contact page).
    async fn accept(
        &self,
        tx: &mut Tx,
        ctx: &Context,
        checks: &[String],
        target: &str,
    ) -> anyhow::Result<bool> {
        let pr = &self.pull_request;
        for check in checks {
            let flag = Report {
                pull_request_id: pr.pull_request_id,
                commit_sha: &pr.head_sha,
                check,
                target,
                status: CheckStatus::Pending,
                description: TASK_ACCEPTED,
                url: None,
            };
            report(tx, ctx, &flag).await?;
        }
        Ok(!checks.is_empty())
    }

    /// The test checks a `test` command flags as accepted: the named test, or every test
    /// that applies to the pull request. `--failed` flags none: which tests it runs is decided
    /// when they are submitted, and a flag it did not end would stay pending.
    async fn accepted_tests(
        &self,
        ctx: &Context,
        selection: &TestSelection,
    ) -> anyhow::Result<Vec<String>> {
        Ok(match selection {
            TestSelection::One(name) => vec![name.clone()],
            TestSelection::All => applicable_tests(ctx, &self.pull_request).await?,
            TestSelection::FailedOnly => Vec::new(),
        })
    }

    /// The builds of this commit and target that run when a `scratch-build` comment asks for
    /// a new one; this comment's own build (a retry of this task) is kept.
    async fn cancel_running_builds(&self, ctx: &Context, target: &str) -> anyhow::Result<()> {
        let pr = &self.pull_request;
        let trigger = format!("comment:{}", self.comment_id);
        let own =
            runs::koji_build_for_trigger(&ctx.store, pr.project_event_id, target, &trigger).await?;
        let newest = match own {
            // Only what was there before this comment's build.
            Some(own) => Some(own.id - 1),
            None => runs::newest_koji_build_id(&ctx.store, pr.project_event_id, target).await?,
        };
        match newest {
            Some(up_to) => {
                cancel_replaced_builds(ctx, pr.project_event_id, target, up_to, &trigger).await
            }
            None => Ok(()),
        }
    }

    /// Tests asked for while a build of the commit and target runs wait for it: the request
    /// is recorded on the build (its `then_test`, which the Koji report reads when the build
    /// closes) instead of building again. `false` when no build runs any more.
    async fn wait_for_running_build(
        &self,
        ctx: &Context,
        tx: &mut Tx,
        build: &runs::KojiBuild,
        selection: &TestSelection,
    ) -> anyhow::Result<bool> {
        // Locked, so that the build's report, which starts the tests, decides after this.
        let status = runs::lock_koji_build_status(tx, build.id).await?;
        if !matches!(
            status.as_deref(),
            Some("pending" | "queued" | "running" | "retry")
        ) {
            return Ok(false);
        }
        // Its data as it is now that it is locked (another comment may have added to it).
        let Some(build) = runs::koji_build(&ctx.store, build.id).await? else {
            return Ok(false);
        };
        let build = &build;
        let current = then_test_of(build);
        // One selection per build: two different ones become all tests, never fewer.
        let wanted = if current == *selection {
            current.clone()
        } else {
            TestSelection::All
        };
        if wanted != current {
            let update = runs::KojiBuildUpdate {
                data: Some(serde_json::json!({ "then_test": wanted })),
                ..runs::KojiBuildUpdate::default()
            };
            runs::update_koji_build(tx, build, &update).await?;
        }
        info!(
            comment = self.comment_id,
            build = build.id,
            ?wanted,
            "tests wait for the running build"
        );
        Ok(true)
    }

    /// Starts one handler's work; `true` when it set "The task was accepted." flags.
    ///
    /// The flags name the handler's own target: the PR's branch (`main` as `rawhide`) or
    /// `eln`. An ELN handler sets them only when `--target eln` was given: without it
    /// packit-service names them after the PR's branch, i.e. the branch handler's checks,
    /// which the ELN handler does not end.
    async fn start_job(
        &self,
        ctx: &Context,
        tx: &mut Tx,
        handler: Handler,
        target_choice: Option<TargetChoice>,
        selection: Option<TestSelection>,
    ) -> anyhow::Result<bool> {
        let flags_eln = target_choice == Some(TargetChoice::Eln);
        let pr = &self.pull_request;
        let trigger = format!("comment:{}", self.comment_id);
        let build = |build_for, then_test| KojiScratchBuild {
            pull_request: pr.clone(),
            build_for,
            trigger: trigger.clone(),
            then_test,
        };
        match handler {
            Handler::ScratchBuild | Handler::ElnScratchBuild => {
                let build_for = if handler == Handler::ElnScratchBuild {
                    BuildFor::Eln
                } else {
                    BuildFor::Branch
                };
                let accepted = build_for == BuildFor::Branch || flags_eln;
                if accepted {
                    let target = build_for.koji_target(pr);
                    let flag = build_flag(pr, &target, CheckStatus::Pending, TASK_ACCEPTED, None);
                    report(tx, ctx, &flag).await?;
                }
                build(build_for, None).plan(tx, ctx).await?;
                return Ok(accepted);
            }
            Handler::TestingFarm | Handler::ElnTestingFarm => {
                let build_for = if handler == Handler::ElnTestingFarm {
                    BuildFor::Eln
                } else {
                    BuildFor::Branch
                };
                let target = build_for.koji_target(pr);
                let selection = selection.unwrap_or(TestSelection::All);
                if let Some(running) =
                    runs::unfinished_koji_build(&ctx.store, pr.project_event_id, &target).await?
                    && self
                        .wait_for_running_build(ctx, tx, &running, &selection)
                        .await?
                {
                    // packit-service's `HasEventSuccessfulScratchBuild` fails: no flags.
                    return Ok(false);
                }
                match runs::last_successful_koji_build(&ctx.store, pr.project_event_id, &target)
                    .await?
                {
                    // The one case packit-service starts its test handler in (its pre-check
                    // `HasEventSuccessfulScratchBuild` passes), and the submission below ends
                    // every flag set here.
                    Some(existing) => {
                        let accepted = if build_for == BuildFor::Branch || flags_eln {
                            let tests = self.accepted_tests(ctx, &selection).await?;
                            self.accept(tx, ctx, &tests, &target).await?
                        } else {
                            false
                        };
                        tasks::enqueue(
                            tx,
                            &TestingFarmSubmit {
                                pull_request: pr.clone(),
                                koji_build_id: Some(existing.id),
                                selection,
                                trigger: format!("{trigger}:{target}"),
                            },
                        )
                        .await?;
                        return Ok(accepted);
                    }
                    // The push planned this commit's build and its task has not recorded it
                    // yet (it waits in the queue, or for Pagure): its success runs every
                    // test, which includes the ones asked for, so nothing more is needed.
                    None if runs::newest_koji_build_id(
                        &ctx.store,
                        pr.project_event_id,
                        &target,
                    )
                    .await?
                    .is_none()
                        && runs::push_planned(&ctx.store, pr.project_event_id).await? =>
                    {
                        info!(comment = self.comment_id, %target, "tests wait for the push's build, which runs them all");
                    }
                    // No build to test yet: build first, the tests follow its success.
                    None => build(build_for, Some(selection)).plan(tx, ctx).await?,
                }
            }
            Handler::TestsNamespaceTestingFarm => {
                let selection = selection.unwrap_or(TestSelection::All);
                let tests = self.accepted_tests(ctx, &selection).await?;
                // Named after the target the results report on (a tests-namespace run has no
                // build and runs on Rawhide), not the PR's branch as packit-service does.
                let accepted = self.accept(tx, ctx, &tests, TESTS_NAMESPACE_TARGET).await?;
                tasks::enqueue(
                    tx,
                    &TestingFarmSubmit {
                        pull_request: pr.clone(),
                        koji_build_id: None,
                        selection,
                        trigger,
                    },
                )
                .await?;
                return Ok(accepted);
            }
            Handler::KojiTaskReport
            | Handler::TestingFarmResults
            | Handler::LogDetectiveResults => {}
        }
        Ok(false)
    }
}

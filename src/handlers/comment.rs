//! Pull-request comments: the `/fedora-ci` commands (packit-service's `/packit-ci`):
//! help, syntax errors, the packager check, and starting what a command asks for through
//! the job registry ([`crate::jobs::comment_jobs`]).

use serde::{Deserialize, Serialize};
use tracing::info;

use crate::clients::Transient;
use crate::context::Context;
use crate::db::{Tx, comments, runs};
use crate::handlers::PullRequestRef;
use crate::handlers::koji::{BuildFor, KojiScratchBuild, build_flag};
use crate::handlers::report::{ReplyToComment, report};
use crate::handlers::superseded::cancel_replaced_builds;
use crate::handlers::testing_farm::{TestSelection, TestingFarmSubmit, then_test_of};
use crate::helpers::commands::{
    Command, CommentParse, help_reply, not_a_packager_reply, parse_comment, syntax_error_reply,
};
use crate::helpers::flags::CheckStatus;
use crate::jobs::{self, Handler};
use crate::tasks::{self, BackgroundTask};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CommentCommand {
    pub pull_request: PullRequestRef,
    pub comment_id: u64,
    pub actor: String,
    pub text: String,
}

impl BackgroundTask for CommentCommand {
    const NAME: &'static str = "run_pull_request_comment_handler";
    const PRIORITY: i16 = 15;
    const MAX_ATTEMPTS: i32 = 5;
    type Context = Context;

    async fn run(&self, ctx: &Context) -> anyhow::Result<()> {
        let prefix = &ctx.config.comment_command_prefix;
        let known_tests: Vec<&str> = ctx
            .config
            .fedora_ci_tests
            .iter()
            .map(|test| test.name.as_str())
            .collect();
        let command = match parse_comment(prefix, &self.text, &known_tests) {
            CommentParse::NotACommand => return Ok(()),
            CommentParse::SyntaxError(why) => {
                info!(
                    comment = self.comment_id,
                    why, "command with a syntax error"
                );
                return self.reply(ctx, syntax_error_reply(prefix)).await;
            }
            CommentParse::Command(Command::Help) => {
                return self.reply(ctx, help_reply(prefix, &known_tests)).await;
            }
            CommentParse::Command(command) => command,
        };
        if !self.is_packager(ctx).await? {
            info!(comment = self.comment_id, actor = %self.actor, "retrigger by a non-packager refused");
            return self.reply(ctx, not_a_packager_reply(&self.actor)).await;
        }
        self.on_current_head(ctx).await?.start(ctx, &command).await
    }
}

impl CommentCommand {
    async fn reply(&self, ctx: &Context, text: String) -> anyhow::Result<()> {
        let pr = &self.pull_request;
        let mut tx = ctx.store.begin().await?;
        tasks::enqueue(
            &mut tx,
            &ReplyToComment {
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
        let jobs: Vec<_> = jobs::comment_jobs(name, target)
            .filter(|job| jobs::pure_checks_pass(job, &ctx.config, pr))
            .collect();
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
        for job in jobs {
            self.start_job(ctx, &mut tx, job.handler, selection.clone())
                .await?;
        }
        tx.commit().await?;
        Ok(())
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

    async fn start_job(
        &self,
        ctx: &Context,
        tx: &mut Tx,
        handler: Handler,
        selection: Option<TestSelection>,
    ) -> anyhow::Result<()> {
        let pr = &self.pull_request;
        let trigger = format!("comment:{}", self.comment_id);
        let build = |build_for, then_test| KojiScratchBuild {
            pull_request: pr.clone(),
            build_for,
            trigger: trigger.clone(),
            then_test,
        };
        match handler {
            Handler::ScratchBuild => {
                let target = BuildFor::Branch.koji_target(pr);
                let flag = build_flag(
                    pr,
                    &target,
                    CheckStatus::Pending,
                    "The task was accepted.",
                    None,
                );
                report(tx, ctx, &flag).await?;
                build(BuildFor::Branch, None).plan(tx, ctx).await?;
            }
            Handler::ElnScratchBuild => {
                build(BuildFor::Eln, None).plan(tx, ctx).await?;
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
                    return Ok(());
                }
                match runs::last_successful_koji_build(&ctx.store, pr.project_event_id, &target)
                    .await?
                {
                    Some(existing) => {
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
                tasks::enqueue(
                    tx,
                    &TestingFarmSubmit {
                        pull_request: pr.clone(),
                        koji_build_id: None,
                        selection: selection.unwrap_or(TestSelection::All),
                        trigger,
                    },
                )
                .await?;
            }
            Handler::KojiTaskReport
            | Handler::TestingFarmResults
            | Handler::LogDetectiveResults => {}
        }
        Ok(())
    }
}

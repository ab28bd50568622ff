//! Reporting to the pull request: flags and comments.
//!
//! A handler calls [`report`] inside its transaction: the flag's wanted state is stored with
//! the change it reports, and a [`SetFlag`] task posts it. So a flag is never lost when Pagure
//! is down, and never shows an older state than the database (see [`crate::db::flags`]).

use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};

use chrono::Utc;
use tracing::{debug, info, warn};

use crate::clients::Transient;
use crate::clients::forge::{
    CheckReport, CheckState, CheckTarget, ForgeError, ForgeKind, ProjectRef,
};
use crate::context::Context;
use crate::db::{Tx, flags, runs};
use crate::handlers::services::CallError;
use crate::helpers::flags::{CheckStatus, check_name, flag_key, flag_uid, status_context};
use crate::tasks::{self, BackgroundTask, queues};

/// Pagure refuses a flag without a URL; this is where one points when nothing better exists:
/// `flag_fallback_url`, else the dashboard, else the documentation.
pub fn fallback_url(config: &crate::config::Config) -> &str {
    config
        .flag_fallback_url
        .as_deref()
        .or(config.dashboard_url.as_deref())
        .unwrap_or(&config.documentation_url)
}

/// One check's state on a pull request at one commit.
#[derive(Debug, Clone)]
pub struct Report<'a> {
    pub pull_request_id: i32,
    pub commit_sha: &'a str,
    /// The check, e.g. `scratch build`, `rpminspect`, `Log Detective analysis`.
    pub check: &'a str,
    /// The branch or target the check ran for, e.g. `rawhide`, `eln`, `f42`.
    pub target: &'a str,
    pub status: CheckStatus,
    pub description: &'a str,
    pub url: Option<&'a str>,
}

/// Stores the state a flag should show and, if it changed, enqueues the task that posts it.
///
/// A commit that is no longer the PR's head keeps its flags as they are (invariant (b)): late
/// results, outage notices and retried tasks of it change nothing, and the one change left is
/// the cancellation of superseded work, which turns a still-unfinished (pending) flag to
/// canceled. A finished flag of it stays, and a check it never flagged gets no flag.
pub async fn report(tx: &mut Tx, ctx: &Context, report: &Report<'_>) -> anyhow::Result<()> {
    let username = check_name(
        &ctx.config.check_name_prefix,
        report.check,
        report.target,
        report.commit_sha,
    );
    let uid = flag_key(report.pull_request_id, &username);
    // Read under the PR's lock: a push's cancellation, which takes it too, then sees this
    // flag if it was stored while the commit was still the head.
    let head = flags::lock_head_commit(tx, report.pull_request_id)
        .await
        .context("reading the pull request's head commit")?;
    if let Some(head) = head.filter(|head| head != report.commit_sha) {
        let current = flags::get_in(tx, &uid).await?;
        let cancels_unfinished = report.status == CheckStatus::Canceled
            && current.is_some_and(|flag| flag.status == "pending");
        if !cancels_unfinished {
            debug!(flag = %username, %head, status = ?report.status, description = report.description,
                "commit superseded; its flag is left as it is");
            return Ok(());
        }
    }
    let url = report
        .url
        .filter(|url| !url.is_empty())
        .unwrap_or_else(|| fallback_url(&ctx.config));
    let changed = flags::want(
        tx,
        &flags::FlagState {
            uid: &uid,
            pull_request_id: report.pull_request_id,
            commit_sha: report.commit_sha,
            check_name: report.check,
            username: &username,
            status: report.status.pagure_status(),
            comment: report.description,
            url,
        },
    )
    .await?;
    if changed {
        enqueue_set_flag(tx, &uid).await?;
    }
    debug!(flag = %username, status = ?report.status, description = report.description, changed, "flag wanted");
    Ok(())
}

/// Enqueues the post of flag `uid`, unless one is pending already (it will post the newest
/// state when it runs).
pub async fn enqueue_set_flag(tx: &mut Tx, uid: &str) -> anyhow::Result<()> {
    let task = SetFlag {
        uid: uid.to_owned(),
    };
    tasks::enqueue_unless_pending(tx, &task, &format!("{}:{uid}", SetFlag::NAME)).await?;
    Ok(())
}

/// How long one post of a flag may hold it before another may post.
// Longer than a post takes but for the rarest retries; a post that outlives it may meet a second
// one, and the newest state still wins (each poster re-reads the wanted state after posting).
const POST_LEASE: Duration = Duration::from_secs(60);
/// How long a `SetFlag` waits for another post of its flag to end before retrying later.
const POST_LEASE_WAIT: Duration = Duration::from_secs(3);

/// A dashboard page, when a dashboard is configured.
pub fn dashboard_url(ctx: &Context, path: &str) -> Option<String> {
    ctx.config
        .dashboard_url
        .as_ref()
        .map(|base| format!("{}{path}", base.trim_end_matches('/')))
}

/// Posts the newest wanted state of one flag to Pagure.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SetFlag {
    pub uid: String,
}

impl BackgroundTask for SetFlag {
    const NAME: &'static str = "set_flag";
    const QUEUE: &'static str = queues::SHORT;
    const PRIORITY: i16 = 20;
    const MAX_ATTEMPTS: i32 = 8;
    type Context = Context;

    async fn run(&self, ctx: &Context) -> anyhow::Result<()> {
        // A previous release's task names its flag by the bare Pagure uid.
        match flags::current_key(&ctx.store, &self.uid).await? {
            Some(key) if key != self.uid => return SetFlag { uid: key }.post_leased(ctx).await,
            _ => self.post_leased(ctx).await,
        }
    }
}

impl SetFlag {
    async fn post_leased(&self, ctx: &Context) -> anyhow::Result<()> {
        // One post of a flag in flight at a time: two identical posts milliseconds apart
        // are noise on the PR, and two different ones may land in either order. A second
        // SetFlag waits briefly for the holder and otherwise comes back later; the holder
        // re-reads the wanted state after each post, and a change committed after its last
        // read enqueued a SetFlag of its own (none was pending: this one runs), which posts it.
        let holder = uuid::Uuid::new_v4().to_string();
        let deadline = Instant::now() + POST_LEASE_WAIT;
        loop {
            let now = Utc::now();
            let until = now + chrono::Duration::from_std(POST_LEASE)?;
            if flags::take_post_lease(&ctx.store, &self.uid, &holder, now, until).await? {
                break;
            }
            if flags::get(&ctx.store, &self.uid).await?.is_none() {
                return Err(tasks::permanent(format!(
                    "flag {} does not exist",
                    self.uid
                )));
            }
            if Instant::now() >= deadline {
                // Back when the holder's lease runs out: a holder whose worker was killed
                // keeps it until then, and every earlier try would only use up an attempt.
                let until = flags::post_lease_until(&ctx.store, &self.uid).await?;
                let wait = until
                    .and_then(|until| (until - Utc::now()).to_std().ok())
                    .unwrap_or_default()
                    + Duration::from_secs(1);
                return Err(tasks::retry_in(
                    wait,
                    format!("another post of flag {} is in flight", self.uid),
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let result = self.post_newest(ctx).await;
        if let Err(error) = flags::release_post_lease(&ctx.store, &self.uid, &holder).await {
            warn!(flag = %self.uid, %error, "cannot release the post lease; it runs out by itself");
        }
        result
    }

    /// Posts the newest wanted state until Pagure has it (the caller holds the post lease).
    async fn post_newest(&self, ctx: &Context) -> anyhow::Result<()> {
        // A post from before the leases (or of a lease that ran out) may land around the
        // time we post ours. Whoever finds, after posting, that the flag moved on (a newer
        // wanted state, or someone else's post) posts the newest state again, so the last
        // post wins with the newest state.
        for round in 0..10 {
            let Some(flag) = flags::get(&ctx.store, &self.uid).await? else {
                return Err(tasks::permanent(format!(
                    "flag {} does not exist",
                    self.uid
                )));
            };
            // A later run cannot trust `posted_seq`: the run before it may have died after
            // its (older) post reached Pagure, behind the back of the one that recorded the
            // newest post; a reclaimed run does not count as an attempt, so ask for any run.
            if round == 0
                && flag.posted_seq >= flag.wanted_seq
                && tasks::current_attempt().is_first_run()
            {
                return Ok(());
            }
            self.post(ctx, &flag).await?;
            flags::mark_posted(&ctx.store, &flag.uid, flag.wanted_seq, ctx.services.dry_run)
                .await?;
            if ctx.services.dry_run {
                info!(flag = %flag.username, status = %flag.status, "flag planned (shadow mode): recorded, not posted");
            } else {
                info!(flag = %flag.username, status = %flag.status, "flag set");
            }
            let Some(after) = flags::get(&ctx.store, &self.uid).await? else {
                return Ok(());
            };
            if after.wanted_seq == flag.wanted_seq && after.posted_seq == flag.wanted_seq {
                return Ok(());
            }
        }
        Err(anyhow::anyhow!(
            "flag {} kept changing while it was posted",
            self.uid
        ))
    }

    async fn post(&self, ctx: &Context, flag: &flags::Flag) -> anyhow::Result<()> {
        let location = runs::pull_request_location(&ctx.store, flag.pull_request_id)
            .await?
            .with_context(|| format!("pull request row {}", flag.pull_request_id))?;
        let project = ProjectRef::new(
            location.namespace.as_deref().unwrap_or(""),
            &location.repo_name,
        );
        let target = CheckTarget {
            project: &project,
            number: location.pr_id as u64,
            head_sha: &flag.commit_sha,
        };
        // Pagure's uid, not the row's key: the same as packit-service's for the same check.
        let uid = flag_uid(&flag.username);
        let report = CheckReport {
            name: &flag.username,
            context: status_context(&flag.username, &flag.commit_sha),
            uid: &uid,
            state: CheckState::from_stored(&flag.status),
            description: &flag.comment,
            url: &flag.url,
        };
        let forge = ctx.config.forge_of_instance(&location.instance_url);
        match ctx.services.report_check(forge, target, report).await {
            Ok(()) => Ok(()),
            Err(CallError::Service(error)) if error.is_gone() => {
                report_on_successor(ctx, forge, target, report, &error).await
            }
            Err(error) => Err(refusal_or_retry(forge, &flag.username, error)),
        }
    }
}

/// A forge's refusal of a flag ends the task at once; anything else (an outage, the
/// database) is the queue's to retry.
fn refusal_or_retry(forge: ForgeKind, name: &str, error: CallError<ForgeError>) -> anyhow::Error {
    match error {
        CallError::Service(error) if !error.is_transient() => {
            tasks::permanent(format!("{forge} refused flag {name}: {error}"))
        }
        error => error.into(),
    }
}

/// The forge dist-git moved to from `forge`, when this instance serves both.
fn successor(ctx: &Context, forge: ForgeKind) -> Option<ForgeKind> {
    match forge {
        ForgeKind::Pagure if ctx.config.forgejo.is_some() => Some(ForgeKind::Forgejo),
        _ => None,
    }
}

/// The switch: the pull request is gone from `forge` (dist-git moved), so the check goes to
/// the successor's pull request whose head is the same commit (numbers need not survive the
/// move); without one, the task ends saying so, rather than waiting for a forge that will not
/// come back.
async fn report_on_successor(
    ctx: &Context,
    forge: ForgeKind,
    gone_at: CheckTarget<'_>,
    report: CheckReport<'_>,
    gone: &ForgeError,
) -> anyhow::Result<()> {
    let Some(successor) = successor(ctx, forge) else {
        return Err(tasks::permanent(format!(
            "{forge} no longer has pull request {} of {}: {gone}",
            gone_at.number,
            gone_at.project.path()
        )));
    };
    let found = ctx
        .services
        .pull_request_for_commit(successor, gone_at.project, gone_at.head_sha)
        .await?;
    let Some(moved) = found else {
        return Err(tasks::permanent(format!(
            "{forge} no longer has pull request {} of {} and {successor} has no pull request \
             for commit {}: the check {:?} ({:?}) is not shown anywhere",
            gone_at.number,
            gone_at.project.path(),
            gone_at.head_sha,
            report.name,
            report.state
        )));
    };
    info!(
        from = %forge, to = %successor, pr = gone_at.number, moved_to = moved.number,
        commit = gone_at.head_sha, "pull request moved; reporting the check there"
    );
    let target = CheckTarget {
        number: moved.number,
        ..gone_at
    };
    ctx.services
        .report_check(successor, target, report)
        .await
        .map_err(|error| refusal_or_retry(successor, report.name, error))
}

/// Posts a comment on a pull request (help, syntax errors, "not a packager").
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReplyToComment {
    /// Payloads queued before forges were told apart are Pagure's.
    #[serde(default)]
    pub forge: ForgeKind,
    pub namespace: String,
    pub repo: String,
    pub pr_id: u64,
    /// The comment answered, for logs and for the error of a refused reply.
    pub in_reply_to: u64,
    pub text: String,
}

impl BackgroundTask for ReplyToComment {
    const NAME: &'static str = "reply_to_comment";
    const PRIORITY: i16 = 20;
    const MAX_ATTEMPTS: i32 = 6;
    type Context = Context;

    async fn run(&self, ctx: &Context) -> anyhow::Result<()> {
        let project = ProjectRef::new(&self.namespace, &self.repo);
        match ctx
            .services
            .comment(self.forge, &project, self.pr_id, &self.text)
            .await
        {
            Ok(()) => Ok(()),
            Err(CallError::Service(error)) if !error.is_transient() => {
                Err(tasks::permanent(format!(
                    "{} refused the reply to comment {}: {error}",
                    self.forge, self.in_reply_to
                )))
            }
            Err(error) => Err(error.into()),
        }
    }
}

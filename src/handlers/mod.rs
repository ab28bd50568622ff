//! Handlers: the work an event causes, each a task on the queue (packit-service's
//! `handlers/`). Which handler runs for which event is decided in [`crate::jobs`].
//!
//! Every handler is idempotent, because the queue delivers at least once: it records its
//! intent (a build or test-run row) before the external call, looks for that row when it runs
//! again, and reports through [`report`], which stores the flag a check should show in the
//! same transaction as the state change it shows. Handlers know neither HTTP routes nor the
//! broker.

pub mod comment;
pub mod give_up;
pub mod koji;
pub mod logdetective;
pub mod report;
pub mod services;
pub mod stuck;
pub mod submission;
pub mod superseded;
pub mod testing_farm;

use serde::{Deserialize, Serialize};

use crate::clients::forge::{ForgeKind, ProjectRef};
use crate::context::Context;
use crate::events::PullRequest;
use crate::tasks::{OutagePolicy, Runner};

pub use services::Services;

/// What a handler needs to know of the pull request; carried in task payloads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PullRequestRef {
    /// The forge the PR lives on; payloads queued before forges were told apart are Pagure's.
    #[serde(default)]
    pub forge: ForgeKind,
    /// The `project_events` row of this PR at this commit.
    pub project_event_id: i32,
    pub pull_request_id: i32,
    pub namespace: String,
    pub repo: String,
    pub pr_id: u64,
    /// Web URL of the target project, e.g. `https://src.fedoraproject.org/rpms/optee_os`.
    pub project_url: String,
    /// Web URL of the project the commits come from (a fork, or the project itself).
    pub source_url: String,
    /// The git URL of that project, as the event gave it; `None` in payloads queued before it
    /// was carried (then Pagure's rule makes it from `source_url`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_clone_url: Option<String>,
    /// The PR's target branch as Pagure names it (`main`, `rawhide`, `f42`, …).
    pub target_branch: String,
    pub head_sha: String,
}

impl PullRequestRef {
    pub fn from_event(
        pull_request: &PullRequest,
        project_event_id: i32,
        pull_request_id: i32,
    ) -> Self {
        PullRequestRef {
            forge: pull_request.forge,
            project_event_id,
            pull_request_id,
            namespace: pull_request
                .target_repo
                .namespace
                .clone()
                .unwrap_or_default(),
            repo: pull_request.target_repo.name.clone(),
            pr_id: pull_request.id.0,
            project_url: pull_request.target_repo.url.clone(),
            source_url: pull_request.source.url.clone(),
            source_clone_url: Some(pull_request.source.clone_url.clone()),
            target_branch: pull_request.target_branch.clone(),
            head_sha: pull_request.head_commit.as_str().to_owned(),
        }
    }

    /// The git URL the head commit is fetched from (Koji builds it, tmt clones it).
    pub fn source_git_url(&self) -> String {
        match &self.source_clone_url {
            Some(url) => url.clone(),
            None => pagure_git_url(&self.source_url),
        }
    }

    /// The target project as the forge API addresses it.
    pub fn project(&self) -> ProjectRef {
        ProjectRef::new(&self.namespace, &self.repo)
    }

    /// The project holding the head commit (the fork, for a PR from a fork).
    pub fn source_project(&self) -> ProjectRef {
        match crate::clients::koji::DistGitSource::from_web_url(&self.source_url) {
            Ok(source) => match source.fork_owner {
                Some(owner) => ProjectRef::fork(&owner, &source.namespace, &source.repo),
                None => ProjectRef::new(&source.namespace, &source.repo),
            },
            Err(_) => self.project(),
        }
    }
}

/// The git URL of a Pagure project from its web URL (`fork/` becomes `forks/`), for payloads
/// and rows recorded before events carried the clone URL.
fn pagure_git_url(web_url: &str) -> String {
    match crate::clients::koji::DistGitSource::from_web_url(web_url) {
        Ok(source) => source.git_url(),
        Err(_) => format!("{web_url}.git"),
    }
}

/// Whether a newer commit has become the PR's head since this work was planned.
pub async fn is_superseded(ctx: &Context, pr: &PullRequestRef) -> anyhow::Result<bool> {
    let head = crate::db::runs::head_commit(&ctx.store, pr.pull_request_id).await?;
    Ok(head.is_some_and(|head| head != pr.head_sha))
}

/// `runner` with every handler task registered, outages waited out as configured and the
/// flags of tasks that wait or give up kept true ([`give_up::FlagHooks`]).
pub fn register(runner: Runner<Context>) -> Runner<Context> {
    let ctx = runner.context().clone();
    let worker = &ctx.config.worker;
    let policy = OutagePolicy {
        budget: std::time::Duration::from_secs(worker.outage_retry_hours.saturating_mul(3600)),
        max_delay: std::time::Duration::from_secs(
            worker.outage_max_delay_minutes.saturating_mul(60),
        ),
        time_scale: worker.time_scale,
        ..OutagePolicy::default()
    };
    runner
        .outage_policy(policy)
        .hooks(std::sync::Arc::new(give_up::FlagHooks))
        .register_periodic(
            stuck::ReconcileStuckChecks {},
            stuck::ReconcileStuckChecks::period(&ctx),
        )
        .register::<comment::CommentCommand>()
        .register::<koji::KojiScratchBuild>()
        .register::<koji::KojiTaskReport>()
        .register::<testing_farm::TestingFarmSubmit>()
        .register::<testing_farm::TestingFarmResults>()
        .register_periodic(
            testing_farm::TestingFarmPoll {},
            testing_farm::TestingFarmPoll::PERIOD,
        )
        .register::<logdetective::LogDetectiveSubmit>()
        .register::<logdetective::LogDetectiveResults>()
        .register::<superseded::CancelSuperseded>()
        .register::<report::SetFlag>()
        .register::<report::ReplyToComment>()
}

/// `{minutes} minute(s)`, as packit-service words its retry messages.
pub fn minutes(delay: std::time::Duration) -> String {
    let minutes = delay.as_secs().div_ceil(60).max(1);
    if minutes == 1 {
        "1 minute".to_owned()
    } else {
        format!("{minutes} minutes")
    }
}

/// The delay before retrying a failed submission: `worker.submission_retry_seconds`, then
/// twice as long each time (1 and 2 minutes by default, as packit-service's
/// `BASE_RETRY_INTERVAL_IN_MINUTES_FOR_OUTAGES * 2**retries`).
pub fn submission_retry_delay(ctx: &Context, attempt: i32) -> std::time::Duration {
    retry_delay(ctx.config.worker.submission_retry_seconds, attempt)
}

/// `first` seconds after attempt 1, doubling with each later attempt.
pub fn retry_delay(first: u64, attempt: i32) -> std::time::Duration {
    let exponent = attempt.saturating_sub(1).clamp(0, 10) as u32;
    std::time::Duration::from_secs(first.saturating_mul(2u64.pow(exponent)))
}

/// packit-service makes three attempts at a Koji or Testing Farm submission: the first try
/// and `TaskWithRetry.max_retries` = `CELERY_RETRY_LIMIT`, default 2, retries
/// (`worker/tasks.py`, `constants.py` `DEFAULT_RETRY_LIMIT`). An outage does not use them up
/// (the queue waits it out, [`crate::tasks::OutagePolicy`]).
pub const SUBMISSION_ATTEMPTS: i32 = 3;

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "889f07af35d27bbcaf9c535c17a63b974aa42ee3";

    /// A task payload queued by the release before forges were told apart.
    fn queued_before_forges() -> serde_json::Value {
        serde_json::json!({
            "project_event_id": 1, "pull_request_id": 2, "namespace": "rpms", "repo": "optee_os",
            "pr_id": 3, "project_url": "https://src.fedoraproject.org/rpms/optee_os",
            "source_url": "https://src.fedoraproject.org/fork/zbyszek/rpms/optee_os",
            "target_branch": "rawhide", "head_sha": SHA,
        })
    }

    #[test]
    fn a_payload_queued_before_forges_is_pagures_and_builds_from_the_same_url() {
        let pr: PullRequestRef = serde_json::from_value(queued_before_forges()).unwrap();
        assert_eq!(pr.forge, ForgeKind::Pagure);
        assert_eq!(pr.source_clone_url, None);
        assert_eq!(
            crate::clients::koji::scm_url(&pr.source_git_url(), &pr.head_sha).unwrap(),
            format!("git+https://src.fedoraproject.org/forks/zbyszek/rpms/optee_os.git#{SHA}")
        );
    }

    #[test]
    fn the_events_clone_url_is_built_from_as_it_is() {
        let mut payload = queued_before_forges();
        payload["forge"] = serde_json::json!("forgejo");
        payload["source_clone_url"] =
            serde_json::json!("https://forge.fedoraproject.org/zbyszek/optee_os.git");
        let pr: PullRequestRef = serde_json::from_value(payload).unwrap();
        assert_eq!(pr.forge, ForgeKind::Forgejo);
        assert_eq!(
            pr.source_git_url(),
            "https://forge.fedoraproject.org/zbyszek/optee_os.git"
        );
        let round_trip: PullRequestRef =
            serde_json::from_value(serde_json::to_value(&pr).unwrap()).unwrap();
        assert_eq!(round_trip, pr);
    }
}

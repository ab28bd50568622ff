//! Retirement pull requests: a package retired in the PR's head commit (`dead.package`)
//! has nothing to build or test.

use crate::checker::eln::outage_or_refusal;
use crate::context::Context;
use crate::handlers::PullRequestRef;
use crate::handlers::services::forge_service;

pub async fn is_retired_at_head(ctx: &Context, pr: &PullRequestRef) -> anyhow::Result<bool> {
    ctx.services
        .file_exists_at_commit(pr.forge, &pr.source_project(), &pr.head_sha, "dead.package")
        .await
        .map_err(|error| {
            outage_or_refusal(
                forge_service(pr.forge),
                "looking for dead.package at the head commit",
                error,
            )
        })
}

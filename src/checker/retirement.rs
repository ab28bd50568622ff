//! Retirement pull requests: a package retired in the PR's head commit (`dead.package`)
//! has nothing to build or test.

use crate::context::Context;
use crate::handlers::PullRequestRef;

pub async fn is_retired_at_head(ctx: &Context, pr: &PullRequestRef) -> anyhow::Result<bool> {
    let file = ctx
        .services
        .forge
        .file_at_commit(&pr.source_project(), &pr.head_sha, "dead.package")
        .await?;
    Ok(file.is_some())
}

//! ELN eligibility (packit-service's `IsProjectEnabledForELN` and
//! `PackageNeedsELNBuildFromRawhide`): a rawhide PR of a package on the ELN lists that has
//! no `eln` branch of its own gets an ELN scratch build too, unless the project opted out.

use crate::checker::projects::is_eln_enabled;
use crate::context::Context;
use crate::handlers::PullRequestRef;

/// Why the PR gets no ELN build, or `None` when it does.
pub async fn why_no_eln_build(
    ctx: &Context,
    pr: &PullRequestRef,
) -> anyhow::Result<Option<&'static str>> {
    if !is_eln_enabled(&ctx.config, &pr.project_url) {
        return Ok(Some("the project opted out of ELN"));
    }
    if pr.namespace != "rpms" {
        return Ok(Some("not in the rpms namespace"));
    }
    // packit-service compares literally: a PR against `main` does not qualify.
    if pr.target_branch != "rawhide" {
        return Ok(Some("the PR does not target rawhide"));
    }
    if !ctx.services.eln.is_eln_package(&pr.repo).await? {
        return Ok(Some("the package is not on the ELN lists"));
    }
    let branches = ctx.services.forge.branches(&pr.project()).await?;
    if branches.iter().any(|branch| branch == "eln") {
        return Ok(Some("the package has its own eln branch"));
    }
    Ok(None)
}

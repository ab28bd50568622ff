//! ELN eligibility (packit-service's `IsProjectEnabledForELN` and
//! `PackageNeedsELNBuildFromRawhide`): a rawhide PR of a package on the ELN lists that has
//! no `eln` branch of its own gets an ELN scratch build too, unless the project opted out.

use crate::checker::projects::is_eln_enabled;
use crate::clients::Transient;
use crate::context::Context;
use crate::handlers::PullRequestRef;
use crate::handlers::services::{ELN_LISTS, forge_service, note_outcome};
use crate::tasks;

/// A transient failure is an outage to wait out; anything else (a 404, a body that is no
/// list) will not change by retrying: the task ends at once, with a final flag.
pub(crate) fn outage_or_refusal<E: Transient + std::fmt::Display>(
    service: &str,
    what: &str,
    error: E,
) -> anyhow::Error {
    if error.is_transient() {
        tasks::unavailable(service, format!("{what}: {error}"))
    } else {
        tasks::permanent(format!("{what}: {service} refused: {error}"))
    }
}

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
    let listed = ctx.services.eln.is_eln_package(&pr.repo).await;
    note_outcome(ELN_LISTS, &listed);
    if !listed
        .map_err(|error| outage_or_refusal(ELN_LISTS, "reading the ELN package lists", error))?
    {
        return Ok(Some("the package is not on the ELN lists"));
    }
    let has_eln_branch = ctx
        .services
        .has_branch(pr.forge, &pr.project(), "eln")
        .await;
    if has_eln_branch.map_err(|error| {
        outage_or_refusal(
            forge_service(pr.forge),
            "listing the package's branches",
            error,
        )
    })? {
        return Ok(Some("the package has its own eln branch"));
    }
    Ok(None)
}

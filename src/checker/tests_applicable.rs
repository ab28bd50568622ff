//! Which configured Fedora CI tests apply to a pull request at its head: packit-service's
//! `get_fedora_ci_tests` with its checkers `IsProjectOutsideOfTestsNamespace` (here: the
//! test's namespaces) and `IsFMFConfigPresent` (`.fmf/version` at the head). A comment's
//! choices and the Testing Farm submission ask the same question here, so that a test a
//! command accepts is one the submission runs.

use crate::context::Context;
use crate::handlers::PullRequestRef;
use crate::helpers::testing_farm::FedoraCiTest;

/// The configured tests `wanted` selects that apply to `pr`, in configured order.
/// `.fmf/version` is looked for once, and only when a selected test needs it.
pub async fn applicable_tests<'c>(
    ctx: &'c Context,
    pr: &PullRequestRef,
    wanted: impl Fn(&FedoraCiTest) -> bool,
) -> anyhow::Result<Vec<&'c FedoraCiTest>> {
    let mut has_fmf = None;
    let mut applicable = Vec::new();
    for test in &ctx.config.fedora_ci_tests {
        if !wanted(test) || !test.runs_in_namespace(&pr.namespace) {
            continue;
        }
        if test.requires_fmf {
            if has_fmf.is_none() {
                has_fmf = Some(fmf_present(ctx, pr).await?);
            }
            if has_fmf != Some(true) {
                continue;
            }
        }
        applicable.push(test);
    }
    Ok(applicable)
}

/// `.fmf/version` at the head (its existence only: the PR's author controls the file).
async fn fmf_present(ctx: &Context, pr: &PullRequestRef) -> anyhow::Result<bool> {
    Ok(ctx
        .services
        .file_exists_at_commit(pr.forge, &pr.source_project(), &pr.head_sha, ".fmf/version")
        .await?)
}

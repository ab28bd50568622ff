//! How a check appears on a pull request: its name, the flag's uid, and its status.
//!
//! The name is `"{prefix} - {check} - {branch} [{sha7}]"`, as packit-service composes it, and
//! the uid is the first 32 hex digits of the name's SHA-256: Pagure updates the flag with the
//! same uid instead of adding one, so every (check, branch, commit) has exactly one flag.

use sha2::{Digest, Sha256};

/// The flag name of `check` for `target_branch` at `commit_sha`. This is the only place the
/// format is built.
pub fn check_name(prefix: &str, check: &str, target_branch: &str, commit_sha: &str) -> String {
    let short: String = commit_sha.chars().take(7).collect();
    format!("{prefix} - {check} - {target_branch} [{short}]")
}

/// The name of a check without its commit, `"{prefix} - {check} - {branch}"`: a commit
/// status context (Forgejo shows statuses per commit already, and branch protection can
/// require a context only by a name that does not change with every push).
pub fn status_context<'n>(check_name: &'n str, commit_sha: &str) -> &'n str {
    let short: String = commit_sha.chars().take(7).collect();
    check_name
        .strip_suffix(']')
        .and_then(|rest| rest.strip_suffix(short.as_str()))
        .and_then(|rest| rest.strip_suffix(" ["))
        .unwrap_or(check_name)
}

/// The Pagure flag uid of a check name.
pub fn flag_uid(check_name: &str) -> String {
    let digest = Sha256::digest(check_name.as_bytes());
    hex::encode(digest)[..32].to_owned()
}

/// The key of a flag's row: its pull request and its Pagure uid. The uid alone names a flag
/// only within its pull request (Pagure keys flags per PR): two PRs whose head commits share
/// their first seven hex digits have the same check names and uids.
pub fn flag_key(pull_request_id: i32, check_name: &str) -> String {
    format!("{pull_request_id}:{}", flag_uid(check_name))
}

/// The status of a check, as the handlers report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckStatus {
    Pending,
    Running,
    Success,
    Failure,
    Error,
    Neutral,
    Canceled,
}

impl CheckStatus {
    /// The `status` Pagure accepts for a flag: it has no `running`, and no `neutral`.
    pub fn pagure_status(self) -> &'static str {
        match self {
            CheckStatus::Pending | CheckStatus::Running => "pending",
            CheckStatus::Success => "success",
            CheckStatus::Failure => "failure",
            CheckStatus::Error | CheckStatus::Neutral => "error",
            CheckStatus::Canceled => "canceled",
        }
    }
}

/// Koji builds target the dist-git branch, except that `main` means `rawhide`.
pub fn koji_target(dist_git_branch: &str) -> &str {
    if dist_git_branch == "main" {
        "rawhide"
    } else {
        dist_git_branch
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn the_status_context_is_the_name_without_its_commit() {
        let sha = "889f07af35d27bbcaf9c535c17a63b974aa42ee3";
        let name = check_name("Fedora CI", "scratch build", "rawhide", sha);
        assert_eq!(
            status_context(&name, sha),
            "Fedora CI - scratch build - rawhide"
        );
        // Another commit's name is not cut: it is not this commit's check.
        assert_eq!(status_context(&name, "0123456789abcdef"), name);
    }

    use super::*;

    const SHA_BUILD: &str = "889f07af35d27bbcaf9c535c17a63b974aa42ee3";
    // Only the first seven hex digits enter a check name.
    const SHA_TEST: &str = "beaf90b000000000000000000000000000000000";

    /// The uids packit-service's tests pin (reference §3.3, "Verified vectors").
    #[test]
    fn names_and_uids_match_packit_service() {
        let cases = [
            (
                "Packit-stg",
                "scratch build",
                "rawhide",
                SHA_BUILD,
                "e7593c9ba1d17d1a4f366b6aa7f53e84",
            ),
            (
                "Packit-stg",
                "scratch build",
                "eln",
                SHA_BUILD,
                "07209e112c3135ab74e0da0bd0e321ca",
            ),
            (
                "Packit-stg",
                "scratch build",
                "f42",
                SHA_BUILD,
                "4196b23fba5a53425b6f15a11fd2ef15",
            ),
            (
                "Packit-stg",
                "installability",
                "rawhide",
                SHA_TEST,
                "be4571bd828a699b35ed3102fc7e88f5",
            ),
            (
                "Packit-stg",
                "rpminspect",
                "eln",
                SHA_TEST,
                "bb18abcfd81c6e8f66320513e432b4cd",
            ),
        ];
        for (prefix, check, branch, sha, uid) in cases {
            let name = check_name(prefix, check, branch, sha);
            assert_eq!(flag_uid(&name), uid, "{name}");
        }
        assert_eq!(
            check_name("Packit-stg", "scratch build", "rawhide", SHA_BUILD),
            "Packit-stg - scratch build - rawhide [889f07a]"
        );
    }

    #[test]
    fn pagure_has_no_running_or_neutral() {
        assert_eq!(CheckStatus::Running.pagure_status(), "pending");
        assert_eq!(CheckStatus::Neutral.pagure_status(), "error");
        assert_eq!(CheckStatus::Canceled.pagure_status(), "canceled");
    }

    #[test]
    fn main_builds_for_rawhide() {
        assert_eq!(koji_target("main"), "rawhide");
        assert_eq!(koji_target("f42"), "f42");
    }
}

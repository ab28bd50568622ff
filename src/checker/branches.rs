//! Which dist-git branches have a Koji target. A pull request to any other branch (a
//! packager's private branch, a typo) gets no build: Koji would refuse the target, and that
//! refusal would read as an infrastructure failure on the PR.

use crate::config::Config;

/// Whether `branch` matches one of the configured `fedora_ci.koji_target_branches`.
pub fn has_koji_target(config: &Config, branch: &str) -> bool {
    config.fedora_ci.koji_target_branches.iter().any(|pattern| {
        // Validated when the configuration was loaded; a pattern that fails here matches
        // nothing rather than everything.
        regex::Regex::new(&format!("^(?:{pattern})$")).is_ok_and(|re| re.is_match(branch))
    })
}

/// The build flag's description for a branch without a Koji target.
pub fn no_koji_target(branch: &str) -> String {
    format!(
        "The branch {branch} has no Koji target: Fedora CI builds pull requests for rawhide, \
         Fedora and EPEL branches only."
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fedora_branches_have_targets_and_others_do_not() {
        let config = Config::default();
        for branch in [
            "rawhide", "main", "eln", "f42", "epel9", "epel10", "epel10.1",
        ] {
            assert!(has_koji_target(&config, branch), "{branch}");
        }
        for branch in [
            "test-koji-downstream",
            "f42-private",
            "xf42",
            "epel10.",
            "private/f42",
            "",
            "rawhide\n",
        ] {
            assert!(!has_koji_target(&config, branch), "{branch:?}");
        }
    }

    #[test]
    fn the_list_is_configurable() {
        let mut config = Config::default();
        config.fedora_ci.koji_target_branches = vec!["rawhide".into(), "stream-[0-9]+".into()];
        assert!(has_koji_target(&config, "stream-3"));
        assert!(!has_koji_target(&config, "f42"));
    }
}

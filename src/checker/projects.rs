//! Which projects Fedora CI runs for (packit-service's `FedoraCIConfig`).
//!
//! Opt-out mode (`fedora_ci_run_by_default`): every `https://src.fedoraproject.org/rpms/*` and
//! `/tests/*` project except `fedora_ci.disabled_projects`. Opt-in mode: only
//! `fedora_ci.enabled_projects`. URLs are compared exactly, as packit-service does.

use crate::config::Config;

const OPT_OUT_PREFIXES: [&str; 2] = [
    "https://src.fedoraproject.org/rpms/",
    "https://src.fedoraproject.org/tests/",
];

fn listed(list: &[String], project_url: &str) -> bool {
    list.iter().any(|url| url == project_url)
}

/// Why the results of a project's builds and runs are no longer processed, if they are not.
///
/// packit-service gates Fedora CI's Koji task, Testing Farm and Log Detective results by the
/// project their DB row belongs to, not only events from the forge: `SteveJobs.process` in
/// packit-service's `packit_service/worker/jobs.py` runs `process_fedora_ci_jobs()` for
/// `pagure.pr.Action`, `pagure.pr.Comment`, `koji.result.Task`, `testing_farm.Result` and
/// `logdetective.Result` only when `event.db_project_object.project.project_url` is in
/// `enabled_projects_for_fedora_ci`. The project here is the one of the build or run row,
/// judged with the configuration as it is now.
pub fn disabled_project(config: &Config, project_url: &str) -> Option<String> {
    (!is_project_enabled(config, project_url)).then(|| {
        format!("Fedora CI is no longer enabled for {project_url}: results are not processed")
    })
}

/// Whether the project is in a dist-git namespace with Fedora CI: `rpms/` or `tests/` of
/// src.fedoraproject.org, or of the Forgejo served (whose organisations have these names).
fn in_ci_namespace(config: &Config, project_url: &str) -> bool {
    let on_forgejo = |forgejo: &crate::config::ForgejoConfig| {
        project_url
            .strip_prefix(forgejo.web_url.trim_end_matches('/'))
            .is_some_and(|path| path.starts_with("/rpms/") || path.starts_with("/tests/"))
    };
    OPT_OUT_PREFIXES
        .iter()
        .any(|prefix| project_url.starts_with(prefix))
        || config.forgejo.as_ref().is_some_and(on_forgejo)
}

/// Whether Fedora CI runs for the project at `project_url` (its web URL).
pub fn is_project_enabled(config: &Config, project_url: &str) -> bool {
    if config.fedora_ci_run_by_default {
        in_ci_namespace(config, project_url)
            && !listed(&config.fedora_ci.disabled_projects, project_url)
    } else {
        listed(&config.fedora_ci.enabled_projects, project_url)
    }
}

/// Whether ELN builds and tests may run for the project.
pub fn is_eln_enabled(config: &Config, project_url: &str) -> bool {
    !listed(&config.fedora_ci.disabled_projects_for_eln, project_url)
}

/// Whether failed builds of the project get a Log Detective analysis.
pub fn is_logdetective_enabled(config: &Config, project_url: &str) -> bool {
    config.logdetective_enabled
        && !listed(
            &config.fedora_ci.disabled_projects_for_logdetective,
            project_url,
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPTEE: &str = "https://src.fedoraproject.org/rpms/optee_os";
    const KERNEL: &str = "https://src.fedoraproject.org/rpms/kernel";
    const TESTS: &str = "https://src.fedoraproject.org/tests/selinux";
    const PAGURE_IO: &str = "https://pagure.io/fedora-ci";

    fn config(text: &str) -> Config {
        Config::from_toml(text).expect("valid test configuration")
    }

    #[test]
    fn opt_out_mode_covers_rpms_and_tests_except_disabled() {
        let config = config(&format!(
            "fedora_ci_run_by_default = true\n[fedora_ci]\ndisabled_projects = [\"{KERNEL}\"]\n"
        ));
        assert!(is_project_enabled(&config, OPTEE));
        assert!(is_project_enabled(&config, TESTS));
        assert!(!is_project_enabled(&config, KERNEL));
        assert!(!is_project_enabled(&config, PAGURE_IO));
        assert!(!is_project_enabled(
            &config,
            "https://src.fedoraproject.org/rpmsfoo/x"
        ));
    }

    #[test]
    fn opt_in_mode_covers_only_enabled() {
        let config = config(&format!(
            "fedora_ci_run_by_default = false\n[fedora_ci]\nenabled_projects = [\"{OPTEE}\"]\n"
        ));
        assert!(is_project_enabled(&config, OPTEE));
        assert!(!is_project_enabled(&config, KERNEL));
        assert!(
            is_project_enabled(&Config::default(), OPTEE),
            "opt-out by default: Fedora CI is dist-git's default CI"
        );
    }

    #[test]
    fn eln_and_logdetective_opt_outs() {
        let config = config(&format!(
            "logdetective_enabled = true\n[fedora_ci]\ndisabled_projects_for_eln = [\"{KERNEL}\"]\n\
             disabled_projects_for_logdetective = [\"{OPTEE}\"]\n"
        ));
        assert!(!is_eln_enabled(&config, KERNEL));
        assert!(is_eln_enabled(&config, OPTEE));
        assert!(!is_logdetective_enabled(&config, OPTEE));
        assert!(is_logdetective_enabled(&config, KERNEL));
        assert!(
            !is_logdetective_enabled(&Config::default(), KERNEL),
            "off unless enabled"
        );
    }

    #[test]
    fn forgejos_rpms_and_tests_are_opted_in_by_default_when_served() {
        let forgejo_optee = "https://forge.fedoraproject.org/rpms/optee_os";
        let mut config = Config::default();
        assert!(!is_project_enabled(&config, forgejo_optee));
        config.forgejo = Some(crate::config::ForgejoConfig {
            web_url: "https://forge.fedoraproject.org".to_owned(),
            api_url: None,
            token: None,
            own_logins: Vec::new(),
            instance_url: None,
            logins_are_fas_usernames: false,
        });
        assert!(is_project_enabled(&config, forgejo_optee));
        assert!(is_project_enabled(
            &config,
            "https://forge.fedoraproject.org/tests/shell"
        ));
        assert!(!is_project_enabled(
            &config,
            "https://forge.fedoraproject.org/infra/ansible"
        ));
        assert!(is_project_enabled(&config, OPTEE));
    }
}

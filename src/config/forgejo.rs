//! `[forgejo]`: a Forgejo dist-git served beside Pagure's. Fedora moves dist-git from Pagure
//! to Forgejo; while both run, pull requests of each are served, each reported to its own
//! forge. Without the table, Forgejo is not served.

use serde::{Deserialize, Serialize};

use super::{ConfigError, Secret, check_http_url};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForgejoConfig {
    /// The web root, e.g. `https://forge.fedoraproject.org`: every repository URL (web or
    /// git) of a Forgejo message must be under it, or the message is rejected.
    pub web_url: String,
    /// The API root; default `{web_url}/api/v1`.
    #[serde(default)]
    pub api_url: Option<String>,
    /// The API token (secret; or `token_file`, or `FEDORA_CI_FORGEJO__TOKEN`). It needs the
    /// `repository` scope with write access to the repositories (commit statuses) and the
    /// `issue` scope (comments).
    #[serde(default)]
    pub token: Option<Secret>,
    /// Our own Forgejo logins: their comments are never commands.
    #[serde(default)]
    pub own_logins: Vec<String>,
    /// The host name its projects are stored under (`git_projects.instance_url`, the
    /// `{forge}` of packit's API); default the host of `web_url`. It must differ from
    /// Pagure's, so that the same repository and PR number on both forges never meet.
    #[serde(default)]
    pub instance_url: Option<String>,
    /// Whether every Forgejo login is the FAS username of the same person, so that the
    /// packager check can ask about it. Unknown for Fedora's Forgejo (local and bot accounts
    /// exist): by default a Forgejo comment command is refused, saying why.
    #[serde(default)]
    pub logins_are_fas_usernames: bool,
}

impl ForgejoConfig {
    pub fn api_url(&self) -> String {
        match &self.api_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => format!("{}/api/v1", self.web_url.trim_end_matches('/')),
        }
    }

    pub fn instance_url(&self) -> String {
        match &self.instance_url {
            Some(instance) => instance.clone(),
            None => host_of(&self.web_url).to_owned(),
        }
    }

    /// Checks the table against Pagure's `dist_git_url`.
    pub(super) fn validate(&self, pagure_web_url: &str) -> Result<(), ConfigError> {
        check_http_url("forgejo.web_url", &self.web_url)?;
        check_http_url("forgejo.api_url", &self.api_url())?;
        let instance = self.instance_url();
        let valid_host = |c: char| c.is_ascii_alphanumeric() || ".-:".contains(c);
        if instance.is_empty() || !instance.chars().all(valid_host) {
            return Err(ConfigError::invalid(
                "forgejo.instance_url",
                format!("{instance:?} is not a host name"),
            ));
        }
        if instance == host_of(pagure_web_url) {
            return Err(ConfigError::invalid(
                "forgejo.instance_url",
                format!(
                    "{instance:?} is also Pagure's (dist_git_url): set another name, so that \
                     the projects and pull requests of the two forges are kept apart"
                ),
            ));
        }
        if let Some(login) = self
            .own_logins
            .iter()
            .find(|login| login.is_empty() || login.contains(char::is_whitespace))
        {
            return Err(ConfigError::invalid(
                "forgejo.own_logins",
                format!("{login:?} is not a login"),
            ));
        }
        Ok(())
    }
}

/// The host (and port) of an http(s) URL, as packit stores `instance_url`.
pub(crate) fn host_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    rest.split(['/', '?', '#']).next().unwrap_or_default()
}

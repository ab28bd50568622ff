//! The SCM URL Koji builds a dist-git commit from: `git+<git URL>#<sha>`, whichever forge
//! the repository lives on (a fork is a repository like any other).

/// A dist-git repository: `rpms/optee_os`, or a user's fork of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DistGitSource {
    /// The dist-git host, e.g. `https://src.fedoraproject.org`.
    pub instance_url: String,
    pub fork_owner: Option<String>,
    pub namespace: String,
    pub repo: String,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SourceUrlError {
    #[error("not a dist-git project URL: {0}")]
    NotAProjectUrl(String),
    #[error("not a full 40-character commit hash: {0}")]
    NotACommitHash(String),
    #[error("not a plain http(s) git URL Koji may clone: {0}")]
    NotAGitUrl(String),
}

/// `git+<git_url>#<commit_sha>`, the source `koji build` takes. Only a plain `http(s)` URL
/// (no user info, query or fragment) and a full commit hash: the URL comes from a message,
/// and the hub's policy decides which hosts it builds from.
pub fn scm_url(git_url: &str, commit_sha: &str) -> Result<String, SourceUrlError> {
    if commit_sha.len() != 40 || !commit_sha.bytes().all(|byte| byte.is_ascii_hexdigit()) {
        return Err(SourceUrlError::NotACommitHash(commit_sha.to_owned()));
    }
    let not_a_git_url = || SourceUrlError::NotAGitUrl(git_url.to_owned());
    let rest = git_url
        .strip_prefix("https://")
        .or_else(|| git_url.strip_prefix("http://"))
        .ok_or_else(not_a_git_url)?;
    let (host, path) = rest.split_once('/').ok_or_else(not_a_git_url)?;
    let plain = |c: char| c.is_ascii_alphanumeric() || "._+-/:".contains(c);
    if host.is_empty()
        || path.is_empty()
        || !rest.chars().all(plain)
        || path
            .split('/')
            .any(|segment| segment.is_empty() || segment == "..")
    {
        return Err(not_a_git_url());
    }
    Ok(format!("git+{git_url}#{commit_sha}"))
}

impl DistGitSource {
    /// Reads a project's web URL, `https://HOST/NS/REPO` or `https://HOST/fork/USER/NS/REPO`.
    pub fn from_web_url(url: &str) -> Result<Self, SourceUrlError> {
        let not_a_project = || SourceUrlError::NotAProjectUrl(url.to_owned());
        let (scheme, rest) = url.split_once("://").ok_or_else(not_a_project)?;
        let (host, path) = rest.split_once('/').ok_or_else(not_a_project)?;
        let segments: Vec<&str> = path.trim_end_matches('/').split('/').collect();
        let (fork_owner, namespace, repo) = match segments.as_slice() {
            ["fork", owner, namespace, repo] => (Some((*owner).to_owned()), *namespace, *repo),
            [namespace, repo] => (None, *namespace, *repo),
            _ => return Err(not_a_project()),
        };
        if host.is_empty() || namespace.is_empty() || repo.is_empty() {
            return Err(not_a_project());
        }
        Ok(DistGitSource {
            instance_url: format!("{scheme}://{host}"),
            fork_owner,
            namespace: namespace.to_owned(),
            repo: repo.trim_end_matches(".git").to_owned(),
        })
    }

    /// The git URL Koji and tmt clone: the web path `fork/` is `forks/` on the git side.
    pub fn git_url(&self) -> String {
        let fork_prefix = self
            .fork_owner
            .as_ref()
            .map(|owner| format!("forks/{owner}/"))
            .unwrap_or_default();
        format!(
            "{}/{fork_prefix}{}/{}.git",
            self.instance_url.trim_end_matches('/'),
            self.namespace,
            self.repo
        )
    }

    /// The URL `koji build` takes.
    pub fn koji_scm_url(&self, commit_sha: &str) -> Result<String, SourceUrlError> {
        scm_url(&self.git_url(), commit_sha)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "889f07af35d27bbcaf9c535c17a63b974aa42ee3";

    #[test]
    fn fork_web_url_becomes_forks_git_url() {
        let source =
            DistGitSource::from_web_url("https://src.fedoraproject.org/fork/zbyszek/rpms/optee_os")
                .unwrap();
        assert_eq!(
            source.koji_scm_url(SHA).unwrap(),
            "git+https://src.fedoraproject.org/forks/zbyszek/rpms/optee_os.git#889f07af35d27bbcaf9c535c17a63b974aa42ee3"
        );
    }

    #[test]
    fn project_web_url_becomes_project_git_url() {
        let source =
            DistGitSource::from_web_url("https://src.fedoraproject.org/rpms/optee_os").unwrap();
        assert_eq!(
            source.koji_scm_url(SHA).unwrap(),
            "git+https://src.fedoraproject.org/rpms/optee_os.git#889f07af35d27bbcaf9c535c17a63b974aa42ee3"
        );
        assert_eq!(source.fork_owner, None);
    }

    #[test]
    fn built_from_parts() {
        let source = DistGitSource {
            instance_url: "https://src.fedoraproject.org/".into(),
            fork_owner: Some("packit".into()),
            namespace: "rpms".into(),
            repo: "packit".into(),
        };
        assert_eq!(
            source.koji_scm_url(SHA).unwrap(),
            format!("git+https://src.fedoraproject.org/forks/packit/rpms/packit.git#{SHA}")
        );
    }

    #[test]
    fn rejects_short_or_non_hex_commits() {
        let source =
            DistGitSource::from_web_url("https://src.fedoraproject.org/rpms/optee_os").unwrap();
        assert_eq!(
            source.koji_scm_url("889f07a"),
            Err(SourceUrlError::NotACommitHash("889f07a".into()))
        );
        assert!(source.koji_scm_url(&"z".repeat(40)).is_err());
    }

    #[test]
    fn any_forges_clone_url_is_built_from_as_it_is() {
        assert_eq!(
            scm_url("https://forge.fedoraproject.org/jpodivin/ansible.git", SHA).unwrap(),
            format!("git+https://forge.fedoraproject.org/jpodivin/ansible.git#{SHA}")
        );
        for url in [
            "ssh://forge.fedoraproject.org/rpms/x.git",
            "https://user@forge.fedoraproject.org/rpms/x.git",
            "https://forge.fedoraproject.org/rpms/x.git?ref=main",
            "https://forge.fedoraproject.org/rpms/x.git#other",
            "https://forge.fedoraproject.org/rpms/../x.git",
            "https://forge.fedoraproject.org/",
            "https://forge.fedoraproject.org/rpms/x y.git",
        ] {
            assert_eq!(
                scm_url(url, SHA),
                Err(SourceUrlError::NotAGitUrl(url.to_owned())),
                "{url}"
            );
        }
    }

    #[test]
    fn rejects_urls_that_are_not_projects() {
        for url in [
            "src.fedoraproject.org/rpms/x",
            "https://src.fedoraproject.org/rpms",
            "https://src.fedoraproject.org/a/b/c",
        ] {
            assert!(DistGitSource::from_web_url(url).is_err(), "{url}");
        }
    }
}

//! The packages built for ELN, for packit-service's `PackageNeedsELNBuildFromRawhide`.
//!
//! Content Resolver (tiny.distro.builders) publishes two lists, one source package name a line:
//! [`ELN_LIST_FILES`]. A package is an ELN package when either list names it. Both lists are
//! downloaded together and kept for a time given to [`ElnPackageLists::new`] ([`LIST_TTL`],
//! 12 hours as in packit-service).
//!
//! A failed refresh keeps serving the previous lists, if there are any, and logs a warning. The
//! next attempt then waits [`FAILED_REFRESH_PAUSE`] (or the TTL, if shorter), so that while
//! Content Resolver is down each check does not wait out the retries again. Only when no list
//! was ever loaded does the error reach the caller. A body that does not look like a list (a
//! line that cannot be a package name, as in an HTML error page) counts as a failed refresh,
//! and so do two empty lists, which would quietly turn every ELN build off. One empty list
//! is accepted.

use crate::clients::{
    BoxFuture, RetryPolicy, Timeouts, Transient, http_client_builder, with_retries,
};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub const DEFAULT_BASE_URL: &str = "https://tiny.distro.builders";
pub const ELN_LIST_FILES: [&str; 2] = [
    "view-all-source-package-name-list--view-eln.txt",
    "view-all-source-package-name-list--view-eln-extras.txt",
];
pub const LIST_TTL: Duration = Duration::from_secs(12 * 60 * 60);
pub const FAILED_REFRESH_PAUSE: Duration = Duration::from_secs(10 * 60);

#[derive(Debug, thiserror::Error)]
pub enum ElnError {
    #[error("Content Resolver answered {file} with HTTP {status}")]
    HttpStatus { file: String, status: u16 },
    #[error("cannot reach Content Resolver for {file}: {source}")]
    Transport {
        file: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("{file} is not a package list: {detail}")]
    UnexpectedBody { file: String, detail: String },
    #[error("invalid ELN list client setup: {0}")]
    Setup(String),
}

impl Transient for ElnError {
    fn is_transient(&self) -> bool {
        match self {
            ElnError::HttpStatus { status, .. } => crate::clients::is_transient_status(*status),
            ElnError::Transport { source, .. } => {
                crate::clients::is_transient_transport_error(source)
            }
            ElnError::UnexpectedBody { .. } | ElnError::Setup(_) => false,
        }
    }
}

/// Answers whether a source package is built for ELN.
pub trait ElnPackages: Send + Sync {
    fn is_eln_package<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<bool, ElnError>>;
}

#[derive(Debug)]
pub struct ElnPackageLists {
    base_url: String,
    ttl: Duration,
    http: reqwest::Client,
    retry: RetryPolicy,
    /// Held across a refresh, so that concurrent checks wait for one download.
    state: tokio::sync::Mutex<ListState>,
}

#[derive(Debug, Default)]
struct ListState {
    packages: Option<Arc<HashSet<String>>>,
    refresh_at: Option<Instant>,
}

impl ElnPackageLists {
    /// `base_url` is where the list files live, e.g. [`DEFAULT_BASE_URL`].
    pub fn new(
        base_url: &str,
        ttl: Duration,
        timeouts: Timeouts,
        retry: RetryPolicy,
    ) -> Result<Self, ElnError> {
        let http = http_client_builder(timeouts)
            .build()
            .map_err(|error| ElnError::Setup(error.to_string()))?;
        Ok(ElnPackageLists {
            base_url: base_url.trim_end_matches('/').to_owned(),
            ttl,
            http,
            retry,
            state: tokio::sync::Mutex::new(ListState::default()),
        })
    }

    /// The union of both lists, downloaded again when the TTL has passed.
    pub async fn packages(&self) -> Result<Arc<HashSet<String>>, ElnError> {
        let mut state = self.state.lock().await;
        if let (Some(packages), Some(refresh_at)) = (&state.packages, state.refresh_at)
            && Instant::now() < refresh_at
        {
            return Ok(packages.clone());
        }
        match self.download().await {
            Ok(packages) => {
                let packages = Arc::new(packages);
                state.packages = Some(packages.clone());
                state.refresh_at = Some(Instant::now() + self.ttl);
                Ok(packages)
            }
            Err(error) => {
                let Some(previous) = state.packages.clone() else {
                    return Err(error);
                };
                tracing::warn!(
                    "cannot refresh the ELN package lists, keeping the previous ones: {error}"
                );
                state.refresh_at = Some(Instant::now() + self.ttl.min(FAILED_REFRESH_PAUSE));
                Ok(previous)
            }
        }
    }

    async fn download(&self) -> Result<HashSet<String>, ElnError> {
        let mut packages = HashSet::new();
        for file in ELN_LIST_FILES {
            let text = with_retries(&self.retry, "download ELN package list", || {
                self.download_file(file)
            })
            .await?;
            packages.extend(parse_list(file, &text)?);
        }
        if packages.is_empty() {
            return Err(ElnError::UnexpectedBody {
                file: ELN_LIST_FILES.join(" and "),
                detail: "both lists are empty".into(),
            });
        }
        Ok(packages)
    }

    async fn download_file(&self, file: &str) -> Result<String, ElnError> {
        let transport = |source| ElnError::Transport {
            file: file.to_owned(),
            source,
        };
        let response = self
            .http
            .get(format!("{}/{file}", self.base_url))
            .send()
            .await
            .map_err(transport)?;
        let status = response.status();
        if !status.is_success() {
            return Err(ElnError::HttpStatus {
                file: file.to_owned(),
                status: status.as_u16(),
            });
        }
        response.text().await.map_err(transport)
    }
}

impl ElnPackages for ElnPackageLists {
    fn is_eln_package<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<bool, ElnError>> {
        Box::pin(async move { Ok(self.packages().await?.contains(name)) })
    }
}

fn parse_list(file: &str, text: &str) -> Result<Vec<String>, ElnError> {
    let unexpected = |detail: String| ElnError::UnexpectedBody {
        file: file.to_owned(),
        detail,
    };
    let names: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(str::to_owned)
        .collect();
    if let Some(line) = names.iter().find(|name| !is_package_name(name)) {
        return Err(unexpected(format!("{line:?} is not a package name")));
    }
    Ok(names)
}

/// RPM package names: letters, digits and `-._+`, never starting with a dot or dash.
fn is_package_name(name: &str) -> bool {
    let allowed = |c: char| c.is_ascii_alphanumeric() || "-._+".contains(c);
    name.chars().all(allowed) && !name.starts_with(['.', '-'])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_and_rejects_what_is_not_a_list() {
        let names = parse_list(
            "eln.txt",
            "bash\n  python3.13 \n\nlibstdc++\nperl-Foo-Bar\n",
        );
        assert_eq!(
            names.ok(),
            Some(vec![
                "bash".to_owned(),
                "python3.13".to_owned(),
                "libstdc++".to_owned(),
                "perl-Foo-Bar".to_owned()
            ])
        );
        assert_eq!(parse_list("eln.txt", "\n \n").ok(), Some(vec![]));
        for bad in ["<html>\n<body>Service Unavailable</body>", "bash\nrm -rf"] {
            assert!(
                matches!(
                    parse_list("eln.txt", bad),
                    Err(ElnError::UnexpectedBody { .. })
                ),
                "{bad:?}"
            );
        }
    }
}

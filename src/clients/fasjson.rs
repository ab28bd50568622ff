//! Whether a Fedora account is a packager: the question behind packit-service's
//! `PermissionOnDistgitForFedoraCI`, which lets only packagers retrigger CI by PR comment.
//!
//! # Where the answer comes from
//!
//! Two services can say whether a user is in the FAS group `packager`:
//!
//! - **FASJSON**, `GET /v1/users/{name}/groups/` ([`FasjsonClient`]): the account system
//!   itself, and what packit-service asks. It is always current, but
//!   fasjson.fedoraproject.org accepts only Kerberos (SPNEGO `Negotiate`), and this service
//!   has no GSSAPI: it would need a keytab, ticket renewal and a C library.
//! - **Pagure's copy of the group**, `GET /api/0/group/packager` ([`PagureGroupPackagers`],
//!   an inherent call of the Pagure client): no Kerberos and no new secret. One call lists every
//!   member, unpaged (projects are left out unless asked for). But Pagure copies a user's FAS
//!   groups only when that user logs in to src.fedoraproject.org on the web. A newly
//!   sponsored packager is missing until their next login, and a removed one stays until then.
//!
//! **Decision: Pagure's group, through [`PagureGroupPackagers`].** The check guards only
//! retriggering by comment; opening or pushing to a PR starts CI for anyone. So a stale answer
//! costs either a "not a packager" comment, which logging in again fixes, or a retrigger by a
//! former packager. Neither is worth running Kerberos in the service. Pagure's group ends
//! with Pagure; on Forgejo the check needs FASJSON (or Forgejo's own copy of the group).
//! [`FasjsonClient`] stays for that day and for the day the lag matters. It takes its `Authorization`
//! header from a pluggable [`Authorization`] provider, so a SPNEGO provider (or a sidecar that
//! hands out header values) is all it would then need.
//!
//! Both implement [`Packagers`]. [`CachedPackagers`] keeps positive answers for a while
//! ([`POSITIVE_ANSWER_TTL`], 8 hours as in packit-service) and never caches a "no", so a new
//! packager gets in as soon as the source says so.
//!
//! FASJSON answers 404 for an account that does not exist; that means "not a packager".
//! Every other failure is an error, never a "no". packit-service turns any non-5xx error
//! into "not a packager", which tells real packagers they are not ones whenever our
//! credentials break.

use crate::clients::forge::ForgeError;
use crate::clients::pagure::PagureClient;
use crate::clients::{
    BoxFuture, ExpiringCache, RetryPolicy, Timeouts, Transient, http_client_builder, with_retries,
};
use crate::secret::Secret;
use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderValue};
use reqwest::{StatusCode, Url};
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;

pub const PACKAGER_GROUP: &str = "packager";
pub const DEFAULT_FASJSON_URL: &str = "https://fasjson.fedoraproject.org";
pub const POSITIVE_ANSWER_TTL: Duration = Duration::from_secs(8 * 60 * 60);

/// FASJSON lists every group unless asked to page. If it ever pages, a corrupt `page`
/// block must not turn into an endless walk.
const MAX_PAGES: u64 = 100;

#[derive(Debug, thiserror::Error)]
pub enum PackagerError {
    #[error("FASJSON answered HTTP {status}: {message}")]
    HttpStatus { status: u16, message: String },
    #[error("cannot reach FASJSON: {0}")]
    Transport(#[source] reqwest::Error),
    #[error("FASJSON answered with an unexpected body: {0}")]
    UnexpectedBody(String),
    #[error("no Authorization header for FASJSON: {0}")]
    Authorization(AuthorizationFailure),
    #[error("invalid FASJSON client setup: {0}")]
    Setup(String),
    #[error("cannot read the packager group from the forge: {0}")]
    Forge(#[from] ForgeError),
}

impl Transient for PackagerError {
    fn is_transient(&self) -> bool {
        match self {
            PackagerError::HttpStatus { status, .. } => {
                crate::clients::is_transient_status(*status)
            }
            PackagerError::Transport(source) => {
                crate::clients::is_transient_transport_error(source)
            }
            PackagerError::Authorization(failure) => failure.transient,
            PackagerError::Forge(error) => error.is_transient(),
            PackagerError::UnexpectedBody(_) | PackagerError::Setup(_) => false,
        }
    }
}

/// Why an [`Authorization`] provider has no header value; `transient` when asking again may help
/// (a KDC that did not answer, say).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct AuthorizationFailure {
    pub message: String,
    pub transient: bool,
}

/// Supplies the `Authorization` header value of each FASJSON request. It is asked once per
/// request because a SPNEGO token must not be replayed.
pub trait Authorization: Send + Sync + std::fmt::Debug {
    fn header_value(&self) -> BoxFuture<'_, Result<Secret, AuthorizationFailure>>;
}

/// The same header value on every request: for a proxy that checks its own token, and for tests.
#[derive(Debug)]
pub struct FixedAuthorization(pub Secret);

impl Authorization for FixedAuthorization {
    fn header_value(&self) -> BoxFuture<'_, Result<Secret, AuthorizationFailure>> {
        Box::pin(async move { Ok(self.0.clone()) })
    }
}

/// Answers whether a Fedora account is in the `packager` group.
pub trait Packagers: Send + Sync {
    fn is_packager<'a>(&'a self, user: &'a str) -> BoxFuture<'a, Result<bool, PackagerError>>;
}

impl<P: Packagers + ?Sized> Packagers for Arc<P> {
    fn is_packager<'a>(&'a self, user: &'a str) -> BoxFuture<'a, Result<bool, PackagerError>> {
        (**self).is_packager(user)
    }
}

#[derive(Debug)]
pub struct FasjsonClient {
    url: Url,
    authorization: Option<Arc<dyn Authorization>>,
    http: reqwest::Client,
    retry: RetryPolicy,
}

#[derive(Deserialize)]
struct GroupsPage {
    result: Vec<UserGroup>,
    #[serde(default)]
    page: Option<PageInfo>,
}

#[derive(Deserialize)]
struct UserGroup {
    groupname: String,
}

#[derive(Deserialize)]
struct PageInfo {
    page_size: u64,
    page_number: u64,
    total_pages: u64,
}

impl FasjsonClient {
    /// `url` is the web root, e.g. [`DEFAULT_FASJSON_URL`].
    pub fn new(
        url: &str,
        authorization: Option<Arc<dyn Authorization>>,
        timeouts: Timeouts,
        retry: RetryPolicy,
    ) -> Result<Self, PackagerError> {
        let url =
            Url::parse(url).map_err(|error| PackagerError::Setup(format!("{url}: {error}")))?;
        if url.cannot_be_a_base() {
            return Err(PackagerError::Setup(format!("{url} is not an HTTP URL")));
        }
        let http = http_client_builder(timeouts)
            .build()
            .map_err(|error| PackagerError::Setup(error.to_string()))?;
        Ok(FasjsonClient {
            url,
            authorization,
            http,
            retry,
        })
    }

    /// Whether `user` is in `group`; `false` for an account FASJSON does not know.
    pub async fn is_member(&self, user: &str, group: &str) -> Result<bool, PackagerError> {
        let mut next_page = None;
        for _ in 0..MAX_PAGES {
            let operation = "list user groups";
            let page = with_retries(&self.retry, operation, || {
                self.user_groups_page(user, next_page)
            })
            .await?;
            let Some(page) = page else {
                return Ok(false);
            };
            if page.result.iter().any(|entry| entry.groupname == group) {
                return Ok(true);
            }
            match page.page {
                Some(info) if info.page_number < info.total_pages => {
                    next_page = Some((info.page_size, info.page_number + 1));
                }
                _ => return Ok(false),
            }
        }
        Err(PackagerError::UnexpectedBody(format!(
            "more than {MAX_PAGES} pages of groups for {user}"
        )))
    }

    /// One page of the user's groups (all of them when `page` is `None`); `None` for a 404.
    async fn user_groups_page(
        &self,
        user: &str,
        page: Option<(u64, u64)>,
    ) -> Result<Option<GroupsPage>, PackagerError> {
        let mut url = self.url.clone();
        url.path_segments_mut()
            .map_err(|()| PackagerError::Setup("FASJSON URL cannot be a base".into()))?
            .pop_if_empty()
            .extend(["v1", "users", user, "groups", ""]);
        if let Some((size, number)) = page {
            url.query_pairs_mut()
                .append_pair("page_size", &size.to_string())
                .append_pair("page_number", &number.to_string());
        }
        let mut request = self.http.get(url).header(ACCEPT, "application/json");
        if let Some(provider) = &self.authorization {
            let secret = provider
                .header_value()
                .await
                .map_err(PackagerError::Authorization)?;
            let mut value = HeaderValue::from_str(secret.expose()).map_err(|_| {
                PackagerError::Setup("the Authorization value is not a valid header value".into())
            })?;
            value.set_sensitive(true);
            request = request.header(AUTHORIZATION, value);
        }
        let response = request.send().await.map_err(PackagerError::Transport)?;
        let status = response.status();
        let body = response.bytes().await.map_err(PackagerError::Transport)?;
        if status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !status.is_success() {
            let message = serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|body| body["message"].as_str().map(str::to_owned))
                .unwrap_or_default();
            return Err(PackagerError::HttpStatus {
                status: status.as_u16(),
                message,
            });
        }
        serde_json::from_slice(&body)
            .map(Some)
            .map_err(|error| PackagerError::UnexpectedBody(error.to_string()))
    }
}

impl Packagers for FasjsonClient {
    fn is_packager<'a>(&'a self, user: &'a str) -> BoxFuture<'a, Result<bool, PackagerError>> {
        Box::pin(self.is_member(user, PACKAGER_GROUP))
    }
}

/// The members of Pagure's copy of the `packager` group (see the module documentation).
pub struct PagureGroupPackagers {
    pagure: Arc<PagureClient>,
    group: String,
}

impl PagureGroupPackagers {
    pub fn new(pagure: Arc<PagureClient>) -> Self {
        PagureGroupPackagers {
            pagure,
            group: PACKAGER_GROUP.to_owned(),
        }
    }
}

impl Packagers for PagureGroupPackagers {
    /// A missing group is an error (`ENOGROUP`), not "nobody is a packager".
    fn is_packager<'a>(&'a self, user: &'a str) -> BoxFuture<'a, Result<bool, PackagerError>> {
        Box::pin(async move {
            let members = self.pagure.get_group_members(&self.group).await?;
            Ok(members.iter().any(|member| member == user))
        })
    }
}

/// Remembers who is a packager for `positive_ttl`; a "no" is asked again every time.
#[derive(Debug)]
pub struct CachedPackagers<P> {
    source: P,
    packagers: ExpiringCache<String, ()>,
}

impl<P: Packagers> CachedPackagers<P> {
    pub fn new(source: P, positive_ttl: Duration) -> Self {
        CachedPackagers {
            source,
            packagers: ExpiringCache::new(positive_ttl),
        }
    }
}

impl<P: Packagers> Packagers for CachedPackagers<P> {
    fn is_packager<'a>(&'a self, user: &'a str) -> BoxFuture<'a, Result<bool, PackagerError>> {
        Box::pin(async move {
            if self.packagers.get(&user.to_owned()).is_some() {
                return Ok(true);
            }
            let is_packager = self.source.is_packager(user).await?;
            if is_packager {
                self.packagers.insert(user.to_owned(), ());
            }
            Ok(is_packager)
        })
    }
}

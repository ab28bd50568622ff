//! Clients for the external services Fedora CI talks to.
//!
//! Each module is a leaf: it knows the wire protocol of one service and nothing of
//! the database, the handlers or the configuration file. Base URLs, tokens and
//! timeouts come in through constructors. Every error type says whether a failure
//! is worth retrying ([`Transient`]), so that job retries are meaningful.

pub mod eln;
pub mod fasjson;
pub mod forge;
pub mod forgejo;
pub mod koji;
pub mod logdetective;
pub mod pagure;
pub mod testing_farm;

mod cache;
mod retry;

pub use cache::ExpiringCache;
pub use retry::{RetryPolicy, Transient, with_retries};

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// The future a client trait method returns; boxed so the traits stay usable as `dyn`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// How long one HTTP exchange with a service may take.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    pub connect: Duration,
    /// The whole request, from sending it to reading the last byte of the answer.
    pub request: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(10),
            request: Duration::from_secs(60),
        }
    }
}

const USER_AGENT: &str = concat!("fedora-ci/", env!("CARGO_PKG_VERSION"));

/// An HTTP client builder with the timeouts and user agent every client shares.
pub(crate) fn http_client_builder(timeouts: Timeouts) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .user_agent(USER_AGENT)
        .connect_timeout(timeouts.connect)
        .timeout(timeouts.request)
}

/// Joins a base URL and a path that starts with `/`, whether or not the base
/// ends with a slash.
#[allow(dead_code)]
pub(crate) fn join_url(base: &str, path: &str) -> String {
    format!("{}{}", base.trim_end_matches('/'), path)
}

/// Whether a transport-level failure (no HTTP answer at all) may go away by itself.
pub(crate) fn is_transient_transport_error(error: &reqwest::Error) -> bool {
    error.is_timeout() || error.is_connect() || error.is_request() || error.is_body()
}

/// Whether an HTTP status means the service itself is unwell rather than the request wrong.
pub(crate) fn is_transient_status(status: u16) -> bool {
    status >= 500 || status == 429 || status == 408
}

//! Log Detective (logdetective-packit) client: start the analysis of a failed Koji build.
//!
//! `POST {url}/analyze` answers at once with an analysis id; the result arrives later as a
//! `logdetective.analysis` message carrying that id.
//!
//! The POST is sent once and never retried here, as with Testing Farm's submit: when the
//! answer is lost, the analysis may have started, and sending again starts a second one. The
//! error says which case it is. [`LogDetectiveError::Unreachable`] means nothing was sent.
//! [`LogDetectiveError::NoAnswer`] means the request went out but no usable answer came back.
//! Both are [`Transient`], so the task may run again. A second analysis costs only compute:
//! its result carries an id we never recorded, and the result handler drops unknown ids.

use crate::clients::{BoxFuture, Timeouts, Transient, http_client_builder};
use crate::events::LogDetectiveAnalysisId;
use crate::secret::Secret;
use chrono::{DateTime, NaiveDateTime, Utc};
use reqwest::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use std::collections::BTreeMap;
use std::time::Duration;

pub const DEFAULT_URL: &str = "https://logdetective01.fedorainfracloud.org";
/// packit-service's timeout for the whole call.
pub const ANALYZE_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum LogDetectiveError {
    /// 401 or 403: the token is missing or wrong.
    #[error("Log Detective refused the token (HTTP {status}): {detail}")]
    Unauthorized { status: u16, detail: String },
    /// 422: the body does not match the `BuildInfo` model.
    #[error("Log Detective rejected the request: {detail}")]
    Invalid { detail: Json },
    #[error("Log Detective answered HTTP {status}: {detail}")]
    HttpStatus { status: u16, detail: String },
    /// No connection: nothing was sent.
    #[error("cannot reach Log Detective: {0}")]
    Unreachable(#[source] reqwest::Error),
    /// The request went out but the answer was lost, so the analysis may have started.
    #[error("no answer from Log Detective, the analysis may have started: {0}")]
    NoAnswer(#[source] reqwest::Error),
    #[error("Log Detective answered with an unexpected body: {0}")]
    UnexpectedBody(String),
    #[error("invalid Log Detective client setup: {0}")]
    Setup(String),
}

impl Transient for LogDetectiveError {
    fn is_transient(&self) -> bool {
        match self {
            LogDetectiveError::HttpStatus { status, .. } => {
                crate::clients::is_transient_status(*status)
            }
            LogDetectiveError::Unreachable(_) | LogDetectiveError::NoAnswer(_) => true,
            LogDetectiveError::Unauthorized { .. }
            | LogDetectiveError::Invalid { .. }
            | LogDetectiveError::UnexpectedBody(_)
            | LogDetectiveError::Setup(_) => false,
        }
    }
}

/// What to analyse: the logs of one failed buildArch task of a PR's scratch build.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnalysisRequest {
    /// File name (`build.log`, `root.log`, …) to its URL.
    pub artifacts: BTreeMap<String, String>,
    /// `build_metadata.commentary`: what the model should know about these logs.
    pub commentary: String,
    /// The buildArch subtask id.
    pub target_build: String,
    pub commit_sha: String,
    pub project_url: String,
    pub pr_id: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnalysisStarted {
    pub analysis_id: LogDetectiveAnalysisId,
    pub creation_time: DateTime<Utc>,
}

/// Starts Log Detective analyses.
pub trait LogDetective: Send + Sync {
    fn analyze<'a>(
        &'a self,
        request: &'a AnalysisRequest,
    ) -> BoxFuture<'a, Result<AnalysisStarted, LogDetectiveError>>;
}

#[derive(Serialize)]
struct WireRequest<'a> {
    artifacts: &'a BTreeMap<String, String>,
    build_metadata: WireMetadata<'a>,
    target_build: &'a str,
    build_system: &'static str,
    commit_sha: &'a str,
    project_url: &'a str,
    pr_id: u64,
}

#[derive(Serialize)]
struct WireMetadata<'a> {
    commentary: &'a str,
}

#[derive(Deserialize)]
struct WireResponse {
    log_detective_analysis_id: String,
    #[serde(deserialize_with = "utc_or_naive")]
    creation_time: DateTime<Utc>,
}

/// An RFC 3339 time, or one without an offset taken as UTC. packit-service only checks that
/// `creation_time` is present (`packit_service/worker/helpers/logdetective.py:147-160`), and
/// its own test answers with a naive `"2026-01-01T12:00:00"`
/// (`tests/unit/test_logdetective_koji_helper.py:123-126`); an answer of that form must not
/// lose an analysis that has started.
fn utc_or_naive<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<DateTime<Utc>, D::Error> {
    let text = String::deserialize(deserializer)?;
    if let Ok(time) = DateTime::parse_from_rfc3339(&text) {
        return Ok(time.with_timezone(&Utc));
    }
    text.parse::<NaiveDateTime>()
        .map(|naive| naive.and_utc())
        .map_err(|error| {
            serde::de::Error::custom(format!("creation_time {text:?} is not a time: {error}"))
        })
}

#[derive(Debug)]
pub struct LogDetectiveClient {
    url: String,
    token: Secret,
    http: reqwest::Client,
}

impl LogDetectiveClient {
    /// `url` is the logdetective-packit root, e.g. [`DEFAULT_URL`]; `timeouts.request` is
    /// normally [`ANALYZE_TIMEOUT`].
    pub fn new(url: &str, token: Secret, timeouts: Timeouts) -> Result<Self, LogDetectiveError> {
        let http = http_client_builder(timeouts)
            .build()
            .map_err(|error| LogDetectiveError::Setup(error.to_string()))?;
        Ok(LogDetectiveClient {
            url: url.trim_end_matches('/').to_owned(),
            token,
            http,
        })
    }

    pub async fn start_analysis(
        &self,
        request: &AnalysisRequest,
    ) -> Result<AnalysisStarted, LogDetectiveError> {
        let body = WireRequest {
            artifacts: &request.artifacts,
            build_metadata: WireMetadata {
                commentary: &request.commentary,
            },
            target_build: &request.target_build,
            build_system: "koji",
            commit_sha: &request.commit_sha,
            project_url: &request.project_url,
            pr_id: request.pr_id,
        };
        let response = self
            .http
            .post(format!("{}/analyze", self.url))
            .bearer_auth(self.token.expose())
            .json(&body)
            .send()
            .await
            .map_err(|error| {
                if error.is_connect() {
                    LogDetectiveError::Unreachable(error)
                } else {
                    LogDetectiveError::NoAnswer(error)
                }
            })?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(LogDetectiveError::NoAnswer)?;
        if !status.is_success() {
            return Err(error_from_answer(status, &bytes));
        }
        let answer: WireResponse = serde_json::from_slice(&bytes)
            .map_err(|error| LogDetectiveError::UnexpectedBody(error.to_string()))?;
        tracing::info!(
            analysis_id = answer.log_detective_analysis_id,
            target_build = request.target_build,
            "Log Detective analysis started"
        );
        Ok(AnalysisStarted {
            analysis_id: LogDetectiveAnalysisId(answer.log_detective_analysis_id),
            creation_time: answer.creation_time,
        })
    }
}

/// FastAPI errors are `{"detail": ...}`: a string, or a list of field errors for a 422.
fn error_from_answer(status: StatusCode, body: &[u8]) -> LogDetectiveError {
    let detail = serde_json::from_slice::<Json>(body)
        .map(|body| body["detail"].clone())
        .unwrap_or(Json::Null);
    let text = detail.as_str().map_or_else(
        || {
            // A proxy's error page can be long; the start says enough.
            String::from_utf8_lossy(body).chars().take(300).collect()
        },
        str::to_owned,
    );
    match status {
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => LogDetectiveError::Unauthorized {
            status: status.as_u16(),
            detail: text,
        },
        StatusCode::UNPROCESSABLE_ENTITY => LogDetectiveError::Invalid { detail },
        _ => LogDetectiveError::HttpStatus {
            status: status.as_u16(),
            detail: text,
        },
    }
}

impl LogDetective for LogDetectiveClient {
    fn analyze<'a>(
        &'a self,
        request: &'a AnalysisRequest,
    ) -> BoxFuture<'a, Result<AnalysisStarted, LogDetectiveError>> {
        Box::pin(self.start_analysis(request))
    }
}

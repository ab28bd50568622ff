//! Log Detective analysis results (`logdetective.analysis`, published by logdetective-packit).

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::Deserialize;

use super::error::{ParseError, deserialize_body};
use super::{CommitSha, Event, LogDetectiveAnalysisId, Parsed, PrId, Skip};

/// Where an analysis stands. Values Log Detective may add later read as `Unknown`, as in
/// packit-service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum LogDetectiveStatus {
    Complete,
    Running,
    Error,
    Unknown,
}

impl LogDetectiveStatus {
    fn from_wire(status: &str) -> LogDetectiveStatus {
        match status {
            "complete" => LogDetectiveStatus::Complete,
            "running" => LogDetectiveStatus::Running,
            "error" => LogDetectiveStatus::Error,
            _ => LogDetectiveStatus::Unknown,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum LogDetectiveBuildSystem {
    Koji,
    Copr,
}

/// The result of a Log Detective analysis of a failed build.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LogDetectiveResult {
    pub analysis_id: LogDetectiveAnalysisId,
    pub status: LogDetectiveStatus,
    pub build_system: LogDetectiveBuildSystem,
    /// The analysed build: a Koji task id or a Copr build id, as a string.
    pub target_build: String,
    /// `log_detective_analysis_start`.
    pub started_at: DateTime<Utc>,
    pub project_url: Option<String>,
    pub commit_sha: Option<CommitSha>,
    pub pr_id: Option<PrId>,
    /// `log_detective_response`: stored and shown as it is, never interpreted here.
    pub response: Option<serde_json::Value>,
    /// `error_msg`.
    pub error_message: Option<String>,
}

#[derive(Deserialize)]
struct WireAnalysis {
    log_detective_analysis_id: String,
    status: String,
    build_system: String,
    target_build: String,
    log_detective_analysis_start: String,
    project_url: Option<String>,
    commit_sha: Option<String>,
    pr_id: Option<PrId>,
    log_detective_response: Option<serde_json::Value>,
    error_msg: Option<String>,
}

pub(super) fn parse(topic: &str, body: &[u8]) -> Result<Parsed, ParseError> {
    let wire: WireAnalysis = deserialize_body(topic, body)?;
    let build_system = match wire.build_system.as_str() {
        "koji" => LogDetectiveBuildSystem::Koji,
        "copr" => LogDetectiveBuildSystem::Copr,
        _ => {
            return Ok(Parsed::Ignored(Skip::UnsupportedBuildSystem {
                build_system: wire.build_system,
            }));
        }
    };
    let started_at = analysis_start(&wire.log_detective_analysis_start).ok_or_else(|| {
        ParseError::invalid_field(
            topic,
            "log_detective_analysis_start",
            format!(
                "{:?} is not an ISO 8601 date and time",
                wire.log_detective_analysis_start
            ),
        )
    })?;
    let commit_sha = wire
        .commit_sha
        .as_deref()
        .map(CommitSha::parse)
        .transpose()
        .map_err(|error| ParseError::invalid_field(topic, "commit_sha", error.to_string()))?;
    Ok(Parsed::Event(Event::LogDetectiveResult(
        LogDetectiveResult {
            analysis_id: LogDetectiveAnalysisId(wire.log_detective_analysis_id),
            status: LogDetectiveStatus::from_wire(&wire.status),
            build_system,
            target_build: wire.target_build,
            started_at,
            project_url: wire.project_url,
            commit_sha,
            pr_id: wire.pr_id,
            response: wire.log_detective_response,
            error_message: wire.error_msg,
        },
    )))
}

/// Reads what Python's `datetime.fromisoformat` writes: `T` or a space between date and
/// time, with or without an offset (a time without one is UTC).
fn analysis_start(text: &str) -> Option<DateTime<Utc>> {
    if let Ok(time) = DateTime::parse_from_rfc3339(text) {
        return Some(time.to_utc());
    }
    ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"]
        .into_iter()
        .find_map(|format| NaiveDateTime::parse_from_str(text, format).ok())
        .map(|time| time.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn analysis_start_reads_python_isoformat() {
        for (text, expected) in [
            (
                "2025-12-10 10:57:57.341695+00:00",
                "2025-12-10T10:57:57.341695+00:00",
            ),
            ("2025-12-10T12:57:57+02:00", "2025-12-10T10:57:57+00:00"),
            ("2025-12-10 10:57:57", "2025-12-10T10:57:57+00:00"),
        ] {
            assert_eq!(
                analysis_start(text).map(|time| time.to_rfc3339()),
                Some(expected.to_owned()),
                "{text}"
            );
        }
        assert_eq!(analysis_start("yesterday"), None);
    }

    #[test]
    fn unknown_status_reads_as_unknown() {
        assert_eq!(
            LogDetectiveStatus::from_wire("exploded"),
            LogDetectiveStatus::Unknown
        );
        assert_eq!(
            LogDetectiveStatus::from_wire("complete"),
            LogDetectiveStatus::Complete
        );
    }
}

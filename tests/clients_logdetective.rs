//! The Log Detective client against the fake logdetective-packit.

// Helpers outside #[test] functions unwrap too; a panic is a test failure here.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/logs.rs"]
mod logs;

use logs::capture_logs;

use fedora_ci::clients::logdetective::{
    AnalysisRequest, LogDetective, LogDetectiveClient, LogDetectiveError,
};
use fedora_ci::clients::{Timeouts, Transient};
use fedora_ci::fakes::logdetective::{ANALYZE, FakeLogDetective};
use fedora_ci::fakes::serve_on_loopback;
use fedora_ci::secret::Secret;
use serde_json::json;

use std::time::Duration;

const TOKEN: &str = "ld-packit-token-0123456789abcdef";
const COMMIT: &str = "889f07af35d27bbcaf9c535c17a63b974aa42ee3";
const LOGS: &str = "https://kojipkgs.fedoraproject.org//work/tasks/2173/140002173";

fn request() -> AnalysisRequest {
    AnalysisRequest {
        artifacts: [
            ("build.log".to_owned(), format!("{LOGS}/build.log")),
            ("root.log".to_owned(), format!("{LOGS}/root.log")),
        ]
        .into(),
        commentary: "Logs of a failed Koji scratch build.".into(),
        target_build: "140002173".into(),
        commit_sha: COMMIT.into(),
        project_url: "https://src.fedoraproject.org/rpms/python-ogr".into(),
        pr_id: 42,
    }
}

fn client(url: &str, token: &str) -> LogDetectiveClient {
    LogDetectiveClient::new(url, Secret::new(token), Timeouts::default()).unwrap()
}

#[tokio::test]
async fn an_analysis_starts_with_the_body_packit_service_sends() {
    let fake = FakeLogDetective::start(TOKEN).await.unwrap();
    let before = chrono::Utc::now();
    let started = client(&fake.url(), TOKEN)
        .analyze(&request())
        .await
        .unwrap();
    let calls = fake.calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(
        calls[0].authorization.as_deref(),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    assert_eq!(
        calls[0].body,
        json!({
            "artifacts": {"build.log": format!("{LOGS}/build.log"), "root.log": format!("{LOGS}/root.log")},
            "build_metadata": {"commentary": "Logs of a failed Koji scratch build."},
            "target_build": "140002173",
            "build_system": "koji",
            "commit_sha": COMMIT,
            "project_url": "https://src.fedoraproject.org/rpms/python-ogr",
            "pr_id": 42,
        })
    );
    assert_eq!(
        calls[0].analysis_id.as_deref(),
        Some(started.analysis_id.as_str())
    );
    assert!(started.creation_time >= before - chrono::Duration::seconds(1));
}

#[tokio::test]
async fn a_wrong_token_and_an_invalid_body_are_permanent_errors() {
    let fake = FakeLogDetective::start(TOKEN).await.unwrap();
    let error = client(&fake.url(), "stale-token")
        .analyze(&request())
        .await
        .unwrap_err();
    let LogDetectiveError::Unauthorized { status, detail } = &error else {
        panic!("{error:?}")
    };
    assert_eq!(
        (*status, detail.as_str()),
        (401, "Invalid or missing token.")
    );
    assert!(!error.is_transient());

    let mut no_logs = request();
    no_logs.artifacts.clear();
    let error = client(&fake.url(), TOKEN)
        .analyze(&no_logs)
        .await
        .unwrap_err();
    let LogDetectiveError::Invalid { detail } = &error else {
        panic!("{error:?}")
    };
    assert_eq!(detail[0]["loc"], json!(["body", "artifacts"]));
    assert_eq!(detail[0]["type"], "too_short");
    assert!(!error.is_transient());
    assert_eq!(
        fake.calls()
            .iter()
            .map(|call| call.analysis_id.clone())
            .collect::<Vec<_>>(),
        vec![None, None]
    );
}

#[tokio::test]
async fn a_5xx_is_transient_and_not_retried_by_the_client() {
    let fake = FakeLogDetective::start(TOKEN).await.unwrap();
    let log_detective = client(&fake.url(), TOKEN);
    fake.faults().fail_next(ANALYZE, 503);
    let error = log_detective.analyze(&request()).await.unwrap_err();
    assert!(
        matches!(error, LogDetectiveError::HttpStatus { status: 503, .. }) && error.is_transient(),
        "{error:?}"
    );
    assert_eq!(fake.calls().len(), 1, "one POST, no retry");

    let started = log_detective.analyze(&request()).await.unwrap();
    assert_eq!(
        fake.calls()[1].analysis_id.as_deref(),
        Some(started.analysis_id.as_str())
    );
}

#[tokio::test]
async fn a_lost_answer_says_the_analysis_may_have_started() {
    let fake = FakeLogDetective::start(TOKEN).await.unwrap();
    fake.faults().set_latency(Duration::from_secs(2));
    let timeouts = Timeouts {
        connect: Duration::from_secs(1),
        request: Duration::from_millis(100),
    };
    let log_detective = LogDetectiveClient::new(&fake.url(), Secret::new(TOKEN), timeouts).unwrap();
    let error = log_detective.analyze(&request()).await.unwrap_err();
    assert!(
        matches!(&error, LogDetectiveError::NoAnswer(source) if source.is_timeout())
            && error.is_transient(),
        "{error:?}"
    );
    assert_eq!(fake.calls().len(), 1, "the request reached the service");

    let closed_port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let error = client(&format!("http://127.0.0.1:{closed_port}"), TOKEN)
        .analyze(&request())
        .await
        .unwrap_err();
    assert!(
        matches!(error, LogDetectiveError::Unreachable(_)) && error.is_transient(),
        "{error:?}"
    );
}

#[tokio::test]
async fn an_answer_without_an_analysis_id_is_an_error() {
    let router = axum::Router::new().route(
        "/analyze",
        axum::routing::post(|| async { axum::Json(json!({"id": "not-the-field"})) }),
    );
    let address = serve_on_loopback(router).await.unwrap();
    let error = client(&format!("http://{address}"), TOKEN)
        .analyze(&request())
        .await
        .unwrap_err();
    assert!(
        matches!(&error, LogDetectiveError::UnexpectedBody(detail) if detail.contains("log_detective_analysis_id"))
            && !error.is_transient(),
        "{error:?}"
    );
}

#[tokio::test]
async fn the_token_never_shows_in_debug_output_or_logs() {
    let fake = FakeLogDetective::start(TOKEN).await.unwrap();
    // A scoped subscriber occasionally misses an event while other test threads register
    // and drop theirs (tracing's callsite cache); the positive control is asked of up to
    // three captures, the absence of the token of every one.
    let mut captured = false;
    for _ in 0..3 {
        let (logs, debug) = capture_logs(async {
            let log_detective = client(&fake.url(), TOKEN);
            let started = log_detective.analyze(&request()).await.unwrap();
            format!("{log_detective:?} {started:?}")
        })
        .await;
        assert!(!debug.contains(TOKEN), "{debug}");
        assert!(!logs.contains(TOKEN), "{logs}");
        if logs.contains("Log Detective analysis started") {
            captured = true;
            break;
        }
    }
    assert!(captured, "the logs were never captured");
}

/// packit-service's own request and answer:
/// `tests/unit/test_logdetective_koji_helper.py::test_logdetective_koji_success` (117-182)
/// posts this body (`LD_COMMENTARY` from `packit_service/worker/helpers/logdetective.py:26-32`)
/// and answers with a `creation_time` without an offset, `"2026-01-01T12:00:00"`
/// (123-126), which packit-service accepts (it checks presence only, `logdetective.py:147-160`).
/// Taken as UTC here.
#[tokio::test]
async fn packit_service_test_payload_and_a_creation_time_without_offset_are_accepted() {
    let bodies = std::sync::Arc::new(std::sync::Mutex::new(Vec::<serde_json::Value>::new()));
    let seen = bodies.clone();
    let router = axum::Router::new().route(
        "/analyze",
        axum::routing::post(move |axum::Json(body): axum::Json<serde_json::Value>| {
            let seen = seen.clone();
            async move {
                seen.lock().unwrap().push(body);
                axum::Json(json!({
                    "log_detective_analysis_id": "test-uuid-123",
                    "creation_time": "2026-01-01T12:00:00",
                }))
            }
        }),
    );
    let address = serve_on_loopback(router).await.unwrap();
    let logs = "https://kojipkgs.fedoraproject.org//work/tasks/2345/12345";
    let commentary = "Build was executed in downstream Koji using containerized environment \
         provided by Mock.The build.log contains output of the package build, it is the most \
         likely to contain messages, indicating the root cause.The mock_output.log is a general \
         log from Mock.The root.log is a log from creation of the chroot environment.";
    let request = AnalysisRequest {
        artifacts: ["root.log", "mock_output.log", "build.log"]
            .map(|file| (file.to_owned(), format!("{logs}/{file}")))
            .into(),
        commentary: commentary.into(),
        target_build: "12345".into(),
        commit_sha: "abc123".into(),
        project_url: "https://github.com/test/repo".into(),
        pr_id: 42,
    };
    let started = client(&format!("http://{address}"), "secret-123")
        .analyze(&request)
        .await
        .unwrap();
    assert_eq!(started.analysis_id.as_str(), "test-uuid-123");
    assert_eq!(
        started.creation_time.to_rfc3339(),
        "2026-01-01T12:00:00+00:00"
    );
    let bodies = bodies.lock().unwrap();
    assert_eq!(
        bodies.as_slice(),
        [json!({
            "artifacts": {
                "root.log": "https://kojipkgs.fedoraproject.org//work/tasks/2345/12345/root.log",
                "mock_output.log": "https://kojipkgs.fedoraproject.org//work/tasks/2345/12345/mock_output.log",
                "build.log": "https://kojipkgs.fedoraproject.org//work/tasks/2345/12345/build.log",
            },
            "build_metadata": {"commentary": commentary},
            "target_build": "12345",
            "build_system": "koji",
            "commit_sha": "abc123",
            "project_url": "https://github.com/test/repo",
            "pr_id": 42,
        })]
    );
}

/// A `creation_time` that is no time at all is still an unexpected body.
#[tokio::test]
async fn an_answer_whose_creation_time_is_not_a_time_is_an_error() {
    let router = axum::Router::new().route(
        "/analyze",
        axum::routing::post(|| async {
            axum::Json(json!({"log_detective_analysis_id": "x", "creation_time": "yesterday"}))
        }),
    );
    let address = serve_on_loopback(router).await.unwrap();
    let error = client(&format!("http://{address}"), TOKEN)
        .analyze(&request())
        .await
        .unwrap_err();
    assert!(
        matches!(&error, LogDetectiveError::UnexpectedBody(detail) if detail.contains("yesterday")),
        "{error:?}"
    );
}

//! The Testing Farm client against the fake Testing Farm.

// Helpers outside #[test] functions unwrap too; a panic is a test failure here.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use fedora_ci::clients::testing_farm::{
    Artifact, CancelOutcome, Environment, Notification, Os, RequestState, TestRequest, TestSpec,
    TestingFarmClient, TestingFarmError, TmtEnvironment, TmtTest, Webhook,
};
use fedora_ci::clients::{RetryPolicy, Timeouts};
use fedora_ci::fakes::serve_on_loopback;
use fedora_ci::fakes::testing_farm::FakeTestingFarm;
use fedora_ci::helpers::testing_farm::is_listed_request;
use fedora_ci::secret::Secret;
use serde_json::{Value as Json, json};
use std::sync::{Arc, Mutex};

const API_TOKEN: &str = "tf-api-token-abcdef";
const WEBHOOK_TOKEN: &str = "webhook-token-123456";

fn installability_request(webhook_url: &str) -> TestRequest {
    let context = [
        ("arch", "x86_64"),
        ("distro", "fedora-rawhide"),
        ("trigger", "commit"),
        ("initiator", "fedora-ci"),
        ("dist-git-branch", "rawhide"),
        ("deployment", "prod"),
    ];
    TestRequest {
        test: TestSpec {
            tmt: TmtTest {
                url: "https://github.com/fedora-ci/installability-pipeline.git".into(),
                git_ref: "master".into(),
                name: None,
            },
        },
        environments: vec![Environment {
            arch: "x86_64".into(),
            os: Some(Os {
                compose: "Fedora-Rawhide".into(),
            }),
            variables: [("KOJI_TASK_ID".to_owned(), "140000000".to_owned())].into(),
            artifacts: vec![Artifact {
                id: "140000000".into(),
                kind: "fedora-koji-build".into(),
            }],
            tmt: TmtEnvironment {
                context: context
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect(),
            },
        }],
        notification: Some(Notification {
            webhook: Webhook {
                url: webhook_url.into(),
                token: Secret::new(WEBHOOK_TOKEN),
            },
        }),
    }
}

async fn webhook_receiver() -> (String, Arc<Mutex<Vec<Json>>>) {
    let received = Arc::new(Mutex::new(Vec::new()));
    let sink = received.clone();
    let router = axum::Router::new().route(
        "/api/testing-farm/results",
        axum::routing::post(move |axum::Json(body): axum::Json<Json>| {
            let sink = sink.clone();
            async move { sink.lock().unwrap().push(body) }
        }),
    );
    let address = serve_on_loopback(router).await.unwrap();
    (
        format!("http://{address}/api/testing-farm/results"),
        received,
    )
}

fn client(fake: &FakeTestingFarm, token: &str) -> TestingFarmClient {
    TestingFarmClient::new(
        &fake.api_url(),
        Secret::new(token),
        Timeouts::default(),
        RetryPolicy::fast(2),
    )
    .unwrap()
}

#[tokio::test]
async fn own_requests_are_listed_as_testing_farm_shows_them() {
    let fake = FakeTestingFarm::start(API_TOKEN).await.unwrap();
    let testing_farm = client(&fake, API_TOKEN);
    let before = chrono::Utc::now() - chrono::Duration::seconds(2);
    let sent = installability_request("https://fedora-ci.example.org/api/testing-farm/results");
    let id = testing_farm.submit(&sent).await.unwrap();

    let listed = testing_farm.list_own_requests(before).await.unwrap();
    assert_eq!(listed.len(), 1, "{listed:#?}");
    assert_eq!(listed[0].id, id);
    assert_eq!(
        listed[0].test["fmf"]["url"], "https://github.com/fedora-ci/installability-pipeline.git",
        "a tmt test is listed under fmf"
    );
    assert!(is_listed_request(&sent, &listed[0]));
    let mut other = sent.clone();
    other.environments[0]
        .variables
        .insert("KOJI_TASK_ID".into(), "140000001".into());
    assert!(!is_listed_request(&other, &listed[0]));

    assert_eq!(fake.advance(&id, "passed").await.as_deref(), Some("queued"));
    let listed = testing_farm.list_own_requests(before).await.unwrap();
    assert_eq!(listed.len(), 1, "found in its new state");
    let later = chrono::Utc::now() + chrono::Duration::seconds(5);
    assert!(
        testing_farm
            .list_own_requests(later)
            .await
            .unwrap()
            .is_empty()
    );
    let error = client(&fake, "wrong-token")
        .list_own_requests(before)
        .await
        .unwrap_err();
    assert!(
        matches!(error, TestingFarmError::HttpStatus { status: 401, .. }),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_request_runs_to_completion_and_notifies_the_webhook() {
    let fake = FakeTestingFarm::start(API_TOKEN).await.unwrap();
    let (webhook_url, received) = webhook_receiver().await;
    let testing_farm = client(&fake, API_TOKEN);

    let id = testing_farm
        .submit(&installability_request(&webhook_url))
        .await
        .unwrap();
    assert_eq!(
        fake.submitted(),
        vec![json!({
            "test": {"tmt": {"url": "https://github.com/fedora-ci/installability-pipeline.git", "ref": "master"}},
            "environments": [{
                "arch": "x86_64",
                "os": {"compose": "Fedora-Rawhide"},
                "variables": {"KOJI_TASK_ID": "140000000"},
                "artifacts": [{"id": "140000000", "type": "fedora-koji-build"}],
                "tmt": {"context": {"arch": "x86_64", "deployment": "prod", "dist-git-branch": "rawhide",
                                    "distro": "fedora-rawhide", "initiator": "fedora-ci", "trigger": "commit"}}
            }],
            "notification": {"webhook": {"url": webhook_url, "token": WEBHOOK_TOKEN}}
        })]
    );
    assert_eq!(
        testing_farm.get_request(&id).await.unwrap().state,
        RequestState::New
    );

    for expected in ["queued", "running", "complete"] {
        assert_eq!(fake.advance(&id, "passed").await.as_deref(), Some(expected));
    }
    let details = testing_farm.get_request(&id).await.unwrap();
    assert_eq!(details.state, RequestState::Complete);
    assert_eq!(details.result.unwrap().overall.as_deref(), Some("passed"));
    let notification = json!({"request_id": id, "token": WEBHOOK_TOKEN});
    assert_eq!(
        *received.lock().unwrap(),
        vec![notification.clone(), notification.clone(), notification]
    );

    assert_eq!(
        testing_farm.cancel_request(&id).await.unwrap(),
        CancelOutcome::AlreadyFinished
    );
}

#[tokio::test]
async fn cancel_composes_and_errors() {
    let fake = FakeTestingFarm::start(API_TOKEN).await.unwrap();
    let testing_farm = client(&fake, API_TOKEN);
    let id = testing_farm
        .submit(&installability_request("http://127.0.0.1:9/unused"))
        .await
        .unwrap();
    assert_eq!(
        testing_farm.cancel_request(&id).await.unwrap(),
        CancelOutcome::Canceled
    );
    assert_eq!(
        testing_farm.cancel_request(&id).await.unwrap(),
        CancelOutcome::AlreadyRequested
    );
    assert_eq!(
        testing_farm.get_request(&id).await.unwrap().state,
        RequestState::CancelRequested
    );

    let composes = testing_farm.public_composes().await.unwrap();
    assert!(composes.contains(&"Fedora-Rawhide".to_owned()));

    let stranger = client(&fake, "wrong-token");
    let error = stranger
        .submit(&installability_request("http://127.0.0.1:9/unused"))
        .await
        .unwrap_err();
    assert!(
        matches!(error, TestingFarmError::HttpStatus { status: 401, .. }),
        "{error:?}"
    );

    let error = testing_farm
        .get_request("00000000-0000-0000-0000-000000000000")
        .await
        .unwrap_err();
    assert!(
        matches!(error, TestingFarmError::HttpStatus { status: 404, .. }),
        "{error:?}"
    );
}

#[tokio::test]
async fn the_fake_rejects_bodies_without_required_fields() {
    let fake = FakeTestingFarm::start(API_TOKEN).await.unwrap();
    let raw = reqwest::Client::new()
        .post(format!("{}/requests", fake.api_url()))
        .bearer_auth(API_TOKEN)
        .json(&json!({"test": {}}))
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), 400);
    let body: Json = raw.json().await.unwrap();
    assert_eq!(
        body,
        json!({"message": "Invalid request", "errors": {"environments": "Field required"}})
    );
}

#[tokio::test]
async fn a_400_surfaces_message_and_errors() {
    let router = axum::Router::new().route(
        "/v0.1/requests",
        axum::routing::post(|| async {
            let body = json!({"message": "Invalid request", "errors": {"test.tmt.url": "Not a valid URL"}});
            (axum::http::StatusCode::BAD_REQUEST, axum::Json(body))
        }),
    );
    let address = serve_on_loopback(router).await.unwrap();
    let testing_farm = TestingFarmClient::new(
        &format!("http://{address}/v0.1"),
        Secret::new(API_TOKEN),
        Timeouts::default(),
        RetryPolicy::no_retries(),
    )
    .unwrap();
    let error = testing_farm
        .submit(&installability_request("http://127.0.0.1:9/unused"))
        .await
        .unwrap_err();
    let TestingFarmError::Invalid {
        message, errors, ..
    } = &error
    else {
        panic!("{error:?}")
    };
    assert_eq!(message, "Invalid request");
    assert_eq!(errors, &json!({"test.tmt.url": "Not a valid URL"}));
    assert!(error.to_string().contains("Not a valid URL"));
}

#[tokio::test]
async fn tokens_never_show_in_debug_output() {
    let fake = FakeTestingFarm::start(API_TOKEN).await.unwrap();
    let testing_farm = client(&fake, API_TOKEN);
    let request = installability_request("http://127.0.0.1:9/unused");
    let shown = format!("{testing_farm:?} {request:?}");
    assert!(
        !shown.contains(API_TOKEN) && !shown.contains(WEBHOOK_TOKEN),
        "{shown}"
    );
}

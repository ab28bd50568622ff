//! The Koji hub client against the fake hub, which is built from recorded real hub calls.

// Helpers outside #[test] functions unwrap too; a panic is a test failure here.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod clients_support;

use clients_support::{read_fixture, recorded_hub_calls, test_certificate};
use fedora_ci::clients::koji::{
    FaultCode, KojiClientOptions, KojiCredentials, KojiError, KojiHubClient, TaskState,
};
use fedora_ci::clients::{RetryPolicy, Transient};
use fedora_ci::fakes::koji::{
    BuildOutcome, FakeKojiConfig, FakeKojiHub, KojiFailure, RecordedKojiCall,
};
use serde_json::{Value as Json, json};

const SOURCE: &str = "git+https://src.fedoraproject.org/forks/zbyszek/rpms/optee_os.git#889f07af35d27bbcaf9c535c17a63b974aa42ee3";

async fn start_fake() -> FakeKojiHub {
    let recorded_calls = recorded_hub_calls();
    FakeKojiHub::start(FakeKojiConfig {
        recorded_calls,
        ..FakeKojiConfig::default()
    })
    .await
    .unwrap()
}

fn anonymous_client(fake: &FakeKojiHub, retry: RetryPolicy) -> KojiHubClient {
    let options = KojiClientOptions {
        retry,
        ..KojiClientOptions::default()
    };
    KojiHubClient::new(&fake.hub_url(), KojiCredentials::Anonymous, options).unwrap()
}

fn logged_in_client(fake: &FakeKojiHub) -> KojiHubClient {
    let (certificate_pem, private_key_pem) = test_certificate();
    let credentials = KojiCredentials::ClientCertificate {
        certificate_pem,
        private_key_pem,
    };
    let options = KojiClientOptions {
        retry: RetryPolicy::fast(3),
        ..KojiClientOptions::default()
    };
    KojiHubClient::new(&fake.hub_url(), credentials, options).unwrap()
}

async fn fake_with_scratch_build() -> (FakeKojiHub, KojiHubClient, i64) {
    let fake = start_fake().await;
    let client = logged_in_client(&fake);
    let task_id = client
        .submit_scratch_build(SOURCE, "rawhide")
        .await
        .unwrap();
    (fake, client, task_id)
}

fn summary(call: &RecordedKojiCall) -> (String, String, Json, Json, Option<i64>, Option<u64>) {
    (
        call.path.clone(),
        call.call.method.clone(),
        Json::Array(call.call.args.clone()),
        Json::Object(call.call.kwargs.clone()),
        call.session.id,
        call.session.callnum,
    )
}

#[tokio::test]
async fn anonymous_reads_return_the_recorded_hub_answers() {
    let fake = start_fake().await;
    let client = anonymous_client(&fake, RetryPolicy::no_retries());

    let task = client.get_task_info(8982172).await.unwrap().unwrap();
    assert_eq!(task.method, "build");
    assert_eq!(task.state, TaskState::Closed);
    assert_eq!(task.owner, 2045);
    assert_eq!(
        task.completion_time.as_deref(),
        Some("2015-02-18 14:57:37.719876")
    );
    assert_eq!(task.weight, Some(0.2));
    assert_eq!(
        task.request,
        Some(
            json!(["git://pkgs.example.com/sisu?#5428a6665ed5d4920bda5da6db6c9fce942070ac", "rawhide", {"skip_tag": true}])
        )
    );

    let children = client.get_task_children(8982172).await.unwrap();
    let children: Vec<(i64, &str, Option<&str>)> = children
        .iter()
        .map(|c| (c.id, c.method.as_str(), c.label.as_deref()))
        .collect();
    assert_eq!(
        children,
        vec![
            (8982174, "buildSRPMFromSCM", Some("srpm")),
            (8982231, "buildArch", Some("noarch"))
        ]
    );

    assert_eq!(client.get_task_info(1).await.unwrap(), None);
    assert_eq!(
        client.list_task_output(8982172).await.unwrap(),
        Vec::<String>::new()
    );
    assert_eq!(client.api_version().await.unwrap(), 1);
    let target = client.get_build_target("rawhide").await.unwrap().unwrap();
    assert_eq!(target.dest_tag_name, "f44-updates-candidate");
    let host = client
        .call_anonymous("getHost", &[json!(84)], &serde_json::Map::new())
        .await
        .unwrap();
    assert_eq!(host["name"], "buildvm-26.build.example.com");

    let calls: Vec<_> = fake.calls().iter().map(summary).collect();
    assert_eq!(
        calls[0],
        (
            "/kojihub".into(),
            "getTaskInfo".into(),
            json!([8982172]),
            json!({"request": true}),
            None,
            None
        )
    );
    assert_eq!(calls[1].1, "getTaskChildren");
    assert_eq!(calls[1].3, json!({}));
    assert_eq!(calls.len(), 7);
}

#[tokio::test]
async fn scratch_build_logs_in_then_calls_build_in_the_session() {
    let fake = start_fake().await;
    let client = logged_in_client(&fake);

    let task_id = client
        .submit_scratch_build(SOURCE, "rawhide")
        .await
        .unwrap();
    assert_eq!(task_id, 140_000_000);
    let calls: Vec<_> = fake.calls().iter().map(summary).collect();
    assert_eq!(
        calls,
        vec![
            (
                "/kojihub/ssllogin".into(),
                "sslLogin".into(),
                json!([]),
                json!({"proxyuser": null}),
                None,
                None
            ),
            (
                "/kojihub".into(),
                "build".into(),
                json!([SOURCE, "rawhide", {"scratch": true}]),
                json!({}),
                Some(1),
                Some(0)
            ),
        ]
    );
    assert_eq!(fake.task_state(task_id), Some(TaskState::Free));

    let info = client.get_task_info(task_id).await.unwrap().unwrap();
    assert_eq!(
        info.request,
        Some(json!([SOURCE, "rawhide", {"scratch": true}]))
    );
    assert_eq!(info.owner, 4641);
}

#[tokio::test]
async fn own_builds_are_listed_with_their_decoded_requests() {
    let (fake, client, task_id) = fake_with_scratch_build().await;
    let created = client.get_task_info(task_id).await.unwrap().unwrap();
    let created_ts = created.create_ts.unwrap();

    let listed = client
        .list_own_builds_since(created_ts - 1.0)
        .await
        .unwrap();
    assert_eq!(
        listed.iter().map(|task| task.id).collect::<Vec<_>>(),
        [task_id]
    );
    let request = listed[0].build_request().unwrap();
    assert_eq!(
        (request.source, request.target, request.scratch),
        (SOURCE, "rawhide", true)
    );
    assert!(
        client
            .list_own_builds_since(created_ts + 1.0)
            .await
            .unwrap()
            .is_empty(),
        "created before the bound"
    );

    let calls: Vec<_> = fake
        .calls()
        .iter()
        .filter(|call| matches!(call.call.method.as_str(), "getLoggedInUser" | "listTasks"))
        .map(|call| {
            (
                call.call.method.clone(),
                Json::Object(call.call.kwargs.clone()),
                call.session.id,
            )
        })
        .collect();
    let opts = |after: f64| json!({"opts": {"method": "build", "owner": 4641, "createdAfter": after, "decode": true}});
    assert_eq!(
        calls,
        vec![
            ("getLoggedInUser".to_owned(), json!({}), Some(1)),
            ("listTasks".to_owned(), opts(created_ts - 1.0), None),
            ("listTasks".to_owned(), opts(created_ts + 1.0), None),
        ],
        "the user is asked once, in the session; the list is a read"
    );
}

#[tokio::test]
async fn listing_own_builds_needs_credentials() {
    let fake = start_fake().await;
    let client = anonymous_client(&fake, RetryPolicy::no_retries());
    let error = client.list_own_builds_since(0.0).await.unwrap_err();
    assert!(
        matches!(error, KojiError::NoCredentials { .. }),
        "{error:?}"
    );
    assert!(!error.is_transient());
}

#[tokio::test]
async fn a_scratch_build_moves_through_states_and_emits_real_shaped_messages() {
    let fake = start_fake().await;
    let client = logged_in_client(&fake);
    let mut subscription = fake.subscribe();
    let task_id = client
        .submit_scratch_build(SOURCE, "rawhide")
        .await
        .unwrap();

    assert!(fake.start_build(task_id));
    assert!(fake.finish_build(task_id, &BuildOutcome::FailsOnArch("aarch64".into())));

    let transitions: Vec<(i64, String, String, String)> = fake
        .messages()
        .iter()
        .map(|m| {
            let body = &m.body;
            (
                body["id"].as_i64().unwrap(),
                body["method"].as_str().unwrap().into(),
                body["old"].as_str().unwrap().into(),
                body["new"].as_str().unwrap().into(),
            )
        })
        .collect();
    let t = |id: i64, method: &str, old: &str, new: &str| {
        (id, method.to_owned(), old.to_owned(), new.to_owned())
    };
    assert_eq!(
        transitions,
        vec![
            t(task_id, "build", "FREE", "OPEN"),
            t(task_id + 1, "buildSRPMFromSCM", "FREE", "OPEN"),
            t(task_id + 1, "buildSRPMFromSCM", "OPEN", "CLOSED"),
            t(task_id + 2, "buildArch", "FREE", "OPEN"),
            t(task_id + 3, "buildArch", "FREE", "OPEN"),
            t(task_id + 2, "buildArch", "OPEN", "CLOSED"),
            t(task_id + 3, "buildArch", "OPEN", "FAILED"),
            t(task_id, "build", "OPEN", "FAILED"),
        ]
    );
    assert_eq!(subscription.recv().await.unwrap(), fake.messages()[0]);

    let last = fake.messages().last().unwrap().clone();
    assert_eq!(
        last.topic,
        "org.fedoraproject.prod.buildsys.task.state.change"
    );
    let real = read_fixture(
        "protocols/fedora-messaging/buildsys.task.state.change.open-to-closed.v1-schema-example.json",
    );
    assert_eq!(keys(&last.body), keys(&real));
    assert_eq!(keys(&last.body["info"]), keys(&real["info"]));
    assert_eq!(
        keys(&last.body["info"]["children"][1]),
        keys(&real["info"]["children"][0])
    );
    assert_eq!(last.body["owner"], "packit");
    assert_eq!(
        last.body["srpm"],
        "optee_os.git#889f07af35d27bbcaf9c535c17a63b974aa42ee3"
    );
    assert_eq!(last.body["info"]["state"], 5);
    assert_eq!(last.body["info"]["children"].as_array().unwrap().len(), 3);
    let x86 = &last.body["info"]["children"][1];
    assert_eq!(x86["arch"], "x86_64");
    let rpm = format!(
        "tasks/{}/{}/optee_os-1.0-1.fc99.x86_64.rpm",
        (task_id + 2) % 10000,
        task_id + 2
    );
    assert_eq!(x86["result"]["rpms"], json!([rpm]));

    let failed = client
        .call_anonymous(
            "getTaskResult",
            &[json!(task_id + 3)],
            &serde_json::Map::new(),
        )
        .await
        .unwrap_err();
    assert_eq!(failed.fault_code(), Some(FaultCode::BuildError));
    let children = client.get_task_children(task_id).await.unwrap();
    let states: Vec<TaskState> = children.iter().map(|child| child.state).collect();
    assert_eq!(
        states,
        vec![TaskState::Closed, TaskState::Closed, TaskState::Failed]
    );
}

fn keys(value: &Json) -> Vec<String> {
    let mut keys: Vec<String> = value.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    keys
}

#[tokio::test]
async fn an_expired_session_is_renewed_once_and_the_call_repeated() {
    let (fake, client, task_id) = fake_with_scratch_build().await;
    fake.expire_sessions();

    client.cancel_task(task_id).await.unwrap();

    let calls: Vec<_> = fake.calls().iter().skip(2).map(summary).collect();
    assert_eq!(
        calls,
        vec![
            (
                "/kojihub".into(),
                "cancelTask".into(),
                json!([task_id]),
                json!({}),
                Some(1),
                Some(1)
            ),
            (
                "/kojihub/ssllogin".into(),
                "sslLogin".into(),
                json!([]),
                json!({"proxyuser": null, "renew": true, "exclusive": false}),
                Some(1),
                Some(2)
            ),
            (
                "/kojihub".into(),
                "cancelTask".into(),
                json!([task_id]),
                json!({}),
                Some(1),
                Some(0)
            ),
        ]
    );
    assert_eq!(fake.task_state(task_id), Some(TaskState::Canceled));
}

#[tokio::test]
async fn a_session_the_hub_forgot_is_replaced_by_a_new_login_and_the_call_repeated() {
    let (fake, client, task_id) = fake_with_scratch_build().await;
    fake.forget_sessions();

    client.cancel_task(task_id).await.unwrap();

    let calls: Vec<_> = fake.calls().iter().skip(2).map(summary).collect();
    assert_eq!(
        calls,
        vec![
            (
                "/kojihub".into(),
                "cancelTask".into(),
                json!([task_id]),
                json!({}),
                Some(1),
                Some(1)
            ),
            // The forgotten session cannot be renewed: a fresh login, without it.
            (
                "/kojihub/ssllogin".into(),
                "sslLogin".into(),
                json!([]),
                json!({"proxyuser": null}),
                None,
                None
            ),
            (
                "/kojihub".into(),
                "cancelTask".into(),
                json!([task_id]),
                json!({}),
                Some(2),
                Some(0)
            ),
        ]
    );
    assert_eq!(fake.task_state(task_id), Some(TaskState::Canceled));
}

#[tokio::test]
async fn a_hub_that_keeps_refusing_the_session_gets_one_new_login_per_call() {
    let (fake, client, task_id) = fake_with_scratch_build().await;
    for _ in 0..2 {
        fake.faults().fail_next(
            "cancelTask",
            KojiFailure::Fault {
                code: 1002,
                text: "Invalid session or bad credentials".into(),
            },
        );
    }

    let error = client.cancel_task(task_id).await.unwrap_err();

    assert_eq!(error.fault_code(), Some(FaultCode::AuthError));
    assert!(!error.is_transient());
    assert_eq!(fake.logins(), 2, "the first login and one more");
    let cancels = fake
        .calls()
        .iter()
        .filter(|call| call.call.method == "cancelTask")
        .count();
    assert_eq!(cancels, 2);
    // The next call gets its own chance: the session that replaced the refused one works.
    client.cancel_task(task_id).await.unwrap();
    assert_eq!(fake.logins(), 2);
}

#[tokio::test]
async fn a_call_the_hub_already_ran_is_not_sent_again_in_a_new_session() {
    let (fake, client, task_id) = fake_with_scratch_build().await;
    // RetryError: the hub ran this call number before; a new session would run it twice.
    for _ in 0..3 {
        fake.faults().fail_next(
            "cancelTask",
            KojiFailure::Fault {
                code: 1009,
                text: "unable to retry call 1 (method cancelTask) for session 1".into(),
            },
        );
    }

    let error = client.cancel_task(task_id).await.unwrap_err();

    assert_eq!(error.fault_code(), Some(FaultCode::RetryError));
    assert_eq!(fake.logins(), 1, "no new login");
}

#[tokio::test]
async fn transient_failures_are_retried_with_the_same_call_number() {
    let fake = start_fake().await;
    let client = logged_in_client(&fake);
    fake.faults()
        .fail_next("build", KojiFailure::HttpStatus(503));
    fake.faults().fail_next(
        "build",
        KojiFailure::Fault {
            code: 1014,
            text: "server is offline".into(),
        },
    );

    client
        .submit_scratch_build(SOURCE, "rawhide")
        .await
        .unwrap();

    let builds: Vec<_> = fake
        .calls()
        .iter()
        .filter(|c| c.call.method == "build")
        .map(|c| c.session.callnum)
        .collect();
    assert_eq!(builds, vec![Some(0), Some(0), Some(0)]);
}

#[tokio::test]
async fn a_replayed_call_number_is_refused_by_the_hub() {
    let (fake, _client, task_id) = fake_with_scratch_build().await;
    let session = fake.calls()[1].session.clone();
    let raw = reqwest::Client::new();
    let body = fedora_ci::clients::koji::xmlrpc::encode_call(
        "cancelTask",
        &[json!(task_id)],
        &serde_json::Map::new(),
    )
    .unwrap();
    let response = raw
        .post(fake.hub_url())
        .header("Koji-Session-Id", session.id.unwrap().to_string())
        .header("Koji-Session-Key", session.key.unwrap())
        .header("Koji-Session-Callnum", "0")
        .body(body)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let fault = fedora_ci::clients::koji::xmlrpc::decode_response(&response)
        .unwrap()
        .unwrap_err();
    assert_eq!(fault.code(), 1009);
    assert_eq!(
        fault.string(),
        "unable to retry call 0 (method cancelTask) for session 1"
    );
}

#[tokio::test]
async fn faults_become_typed_errors_classified_for_retries() {
    let fake = start_fake().await;
    let client = logged_in_client(&fake);

    let error = client.submit_scratch_build(SOURCE, "f1").await.unwrap_err();
    match &error {
        KojiError::Fault { method, kind, text } => {
            assert_eq!(
                (method.as_str(), *kind, text.as_str()),
                ("build", FaultCode::GenericError, "No such build target: f1")
            );
        }
        other => panic!("expected a fault, got {other:?}"),
    }
    assert!(!error.is_transient());

    fake.faults().fail_next(
        "getTaskInfo",
        KojiFailure::Fault {
            code: 1000,
            text: "boom".into(),
        },
    );
    let error = client.get_task_info(8982172).await.unwrap_err();
    assert_eq!(error.fault_code(), Some(FaultCode::GenericError));
    let attempts = fake
        .calls()
        .iter()
        .filter(|c| c.call.method == "getTaskInfo")
        .count();
    assert_eq!(attempts, 1, "a permanent fault is not retried");

    for _ in 0..3 {
        fake.faults()
            .fail_next("getAPIVersion", KojiFailure::HttpStatus(502));
    }
    let error = client.api_version().await.unwrap_err();
    assert!(matches!(error, KojiError::HttpStatus { status: 502, .. }));
    assert!(error.is_transient());

    let anonymous = anonymous_client(&fake, RetryPolicy::no_retries());
    let error = anonymous.cancel_task(1).await.unwrap_err();
    assert!(matches!(error, KojiError::NoCredentials { .. }));
}

#[tokio::test]
async fn debug_output_never_shows_the_session_key_or_private_key() {
    let fake = start_fake().await;
    let (certificate_pem, private_key_pem) = test_certificate();
    let private_key_text = private_key_pem.expose().to_owned();
    let credentials = KojiCredentials::ClientCertificate {
        certificate_pem,
        private_key_pem,
    };
    let client = KojiHubClient::new(
        &fake.hub_url(),
        credentials.clone(),
        KojiClientOptions::default(),
    )
    .unwrap();
    client
        .submit_scratch_build(SOURCE, "rawhide")
        .await
        .unwrap();
    let session_key = fake.calls()[1].session.key.clone().unwrap();

    let shown = format!("{client:?} {credentials:?}");
    assert!(!shown.contains(&session_key), "{shown}");
    assert!(!shown.contains("PRIVATE KEY"), "{shown}");
    assert!(!shown.contains(&private_key_text[40..80]));
}

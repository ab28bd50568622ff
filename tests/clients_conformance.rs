//! Conformance with code nobody here wrote: PyPI koji's `ClientSession` against our
//! fake hub, and our Koji client against a hub on Python's standard `xmlrpc.server`.
//!
//! Python comes from `TEST_PYTHON`, or the virtualenv `tests/python/ensure-venv` makes
//! (PyPI `koji` and `ogr` included).

// Helpers outside #[test] functions unwrap too; a panic is a test failure here.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod clients_support;

use clients_support::{
    conformance_script, python, recorded_hub_calls, require_python_module, run_conformance_script,
};
use fedora_ci::clients::RetryPolicy;
use fedora_ci::clients::koji::{FaultCode, KojiClientOptions, KojiCredentials, KojiHubClient};
use fedora_ci::fakes::koji::{FakeKojiConfig, FakeKojiHub};
use serde_json::{Map, Value as Json, json};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

const SOURCE: &str =
    "git+https://src.fedoraproject.org/rpms/optee_os.git#889f07af35d27bbcaf9c535c17a63b974aa42ee3";

#[tokio::test]
async fn koji_client_session_from_pypi_works_against_the_fake_hub() {
    require_python_module("koji");
    let fake = FakeKojiHub::start(FakeKojiConfig {
        recorded_calls: recorded_hub_calls(),
        ..FakeKojiConfig::default()
    })
    .await
    .unwrap();

    let report = run_conformance_script("koji_client_session.py", &[&fake.hub_url()]).await;
    assert_eq!(report["children"], json!([8982174, 8982231]));
    assert_eq!(report["scratch_task"], json!(140_000_000));
    assert_eq!(report["listed_tasks"], json!([140_000_000]));

    let calls = fake.calls();
    let get_task_info = &calls[1].call;
    assert_eq!(
        (get_task_info.method.as_str(), &get_task_info.args),
        ("getTaskInfo", &vec![json!(8982172)])
    );
    assert_eq!(
        Json::Object(get_task_info.kwargs.clone()),
        json!({"request": true})
    );
    let session_calls: Vec<(String, Option<u64>)> = calls
        .iter()
        .filter(|call| call.session.id.is_some())
        .map(|call| (call.call.method.clone(), call.session.callnum))
        .collect();
    let expected: Vec<(String, Option<u64>)> = [
        "getLoggedInUser",
        "build",
        "getTaskInfo",
        "listTasks",
        "listTasks",
        "listTasks",
        "listTasks",
        "listTasks",
        "build",
        "cancelTask",
        "getTaskInfo",
        "logout",
    ]
    .iter()
    .enumerate()
    .map(|(callnum, method)| ((*method).to_owned(), Some(callnum as u64)))
    .collect();
    assert_eq!(
        session_calls, expected,
        "koji sends its session headers with call numbers from 0"
    );
    let list_tasks = calls
        .iter()
        .find(|call| call.call.method == "listTasks")
        .unwrap();
    assert_eq!(
        Json::Object(list_tasks.call.kwargs.clone()),
        json!({"opts": {"method": "build", "owner": 4641, "decode": true,
                        "createdAfter": list_tasks.call.kwargs["opts"]["createdAfter"]}}),
        "koji sends listTasks(opts=...) as keyword arguments"
    );
    let login = calls
        .iter()
        .find(|call| call.call.method == "login")
        .unwrap();
    assert_eq!(
        login.call.args,
        vec![json!("packit"), json!("packit-password")]
    );
    assert_eq!(
        Json::Object(login.call.kwargs.clone()),
        json!({"opts": null})
    );
}

struct PythonHub {
    process: Child,
    url: String,
}

impl PythonHub {
    fn start() -> Self {
        let mut process = Command::new(python())
            .arg(conformance_script("xmlrpc_hub.py"))
            .arg("--recorded-calls")
            .arg(clients_support::HUB_CALLS)
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 must be available to run the XML-RPC hub stand-in");
        let mut line = String::new();
        BufReader::new(process.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .strip_prefix("LISTENING ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
        PythonHub {
            process,
            url: format!("http://127.0.0.1:{port}/kojihub"),
        }
    }
}

impl Drop for PythonHub {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

#[tokio::test]
async fn our_koji_client_works_against_a_python_standard_library_hub() {
    let hub = PythonHub::start();
    let (certificate_pem, private_key_pem) = clients_support::test_certificate();
    let credentials = KojiCredentials::ClientCertificate {
        certificate_pem,
        private_key_pem,
    };
    let options = KojiClientOptions {
        retry: RetryPolicy::no_retries(),
        ..KojiClientOptions::default()
    };
    let client = KojiHubClient::new(&hub.url, credentials, options).unwrap();

    let task = client.get_task_info(8982172).await.unwrap().unwrap();
    assert_eq!(task.completion_ts, Some(1424271457.71988));
    assert_eq!(task.request.unwrap()[1], "rawhide");
    let children = client.get_task_children(8982172).await.unwrap();
    assert_eq!(
        children.iter().map(|c| c.id).collect::<Vec<_>>(),
        vec![8982174, 8982231]
    );
    assert_eq!(children[0].waiting, None, "<nil/> reads as None");
    let missing = client
        .call_anonymous("getTaskInfo", &[json!(1)], &Map::new())
        .await
        .unwrap();
    assert_eq!(missing, Json::Null);

    let task_id = client
        .submit_scratch_build(SOURCE, "rawhide")
        .await
        .unwrap();
    assert_eq!(
        task_id,
        (1_i64 << 33) + 8,
        "task ids beyond 32 bits arrive as <i8>"
    );
    client.cancel_task(task_id).await.unwrap();

    let error = client
        .call_anonymous("noSuchMethod", &[], &Map::new())
        .await
        .unwrap_err();
    assert_eq!(error.fault_code(), Some(FaultCode::GenericError));

    let recorded = client
        .call_anonymous("conformance.recordedCalls", &[], &Map::new())
        .await
        .unwrap();
    let calls: Vec<Json> = recorded
        .as_array()
        .unwrap()
        .iter()
        .map(|call| {
            json!([
                call["path"],
                call["method"],
                call["args"],
                call["kwargs"],
                call["session_id"],
                call["callnum"]
            ])
        })
        .collect();
    assert_eq!(
        calls,
        vec![
            json!(["/kojihub", "getTaskInfo", [8982172], {"request": true}, null, null]),
            json!(["/kojihub", "getTaskChildren", [8982172], {}, null, null]),
            json!(["/kojihub", "getTaskInfo", [1], {}, null, null]),
            json!(["/kojihub/ssllogin", "sslLogin", [], {"proxyuser": null}, null, null]),
            json!(["/kojihub", "build", [SOURCE, "rawhide", {"scratch": true}], {}, "101", "0"]),
            json!(["/kojihub", "cancelTask", [task_id], {}, "101", "1"]),
            json!(["/kojihub/ssllogin", "sslLogin", [], {"proxyuser": null, "renew": true, "exclusive": false}, "101", "2"]),
            json!(["/kojihub", "cancelTask", [task_id], {}, "101", "0"]),
            json!(["/kojihub", "noSuchMethod", [], {}, null, null]),
        ]
    );
    assert!(
        recorded
            .as_array()
            .unwrap()
            .iter()
            .all(|call| call["content_type"] == "text/xml")
    );
}

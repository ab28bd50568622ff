//! The `fedora-ci-fakes` binary: it prints the fakes' URLs, each fake answers a real client
//! there, and SIGTERM stops it cleanly.

// Helpers outside #[test] functions unwrap too; a panic is a test failure here.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use fedora_ci::clients::eln::{ElnPackageLists, ElnPackages};
use fedora_ci::clients::fasjson::{FasjsonClient, Packagers};
use fedora_ci::clients::koji::{KojiClientOptions, KojiCredentials, KojiHubClient};
use fedora_ci::clients::logdetective::{AnalysisRequest, LogDetective, LogDetectiveClient};
use fedora_ci::clients::pagure::PagureClient;
use fedora_ci::clients::testing_farm::TestingFarmClient;
use fedora_ci::clients::{RetryPolicy, Timeouts};
use fedora_ci::secret::Secret;
use serde_json::Value as Json;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

#[tokio::test]
async fn every_fake_answers_and_sigterm_stops_them() {
    let fasjson_port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_fedora-ci-fakes"))
        .args(["--packager", "alice", "--eln-package", "python-ogr"])
        .args(["--fasjson-port", &fasjson_port.to_string()])
        .args(["--logdetective-token", "ld-token"])
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(Duration::from_secs(20), stdout.next_line())
        .await
        .expect("the URLs within 20 s")
        .unwrap()
        .expect("a line on stdout");
    let urls: Json = serde_json::from_str(&line).unwrap();
    let url = |name: &str| urls[name].as_str().unwrap().to_owned();
    let mut names: Vec<&String> = urls.as_object().unwrap().keys().collect();
    names.sort();
    assert_eq!(
        names,
        [
            "eln",
            "fasjson",
            "koji",
            "logdetective",
            "pagure",
            "testing_farm"
        ]
    );
    assert_eq!(url("fasjson"), format!("http://127.0.0.1:{fasjson_port}"));

    let retry = RetryPolicy::no_retries;
    let koji = KojiHubClient::new(
        &url("koji"),
        KojiCredentials::Anonymous,
        KojiClientOptions {
            retry: retry(),
            ..KojiClientOptions::default()
        },
    )
    .unwrap();
    let rawhide = koji.get_build_target("rawhide").await.unwrap().unwrap();
    assert_eq!(rawhide.name, "rawhide");

    let pagure = PagureClient::new(&url("pagure"), None, Timeouts::default(), retry()).unwrap();
    assert_eq!(
        pagure.get_group_members("packager").await.unwrap(),
        ["alice"]
    );

    let testing_farm = TestingFarmClient::new(
        &url("testing_farm"),
        Secret::new("fake-testing-farm-token"),
        Timeouts::default(),
        retry(),
    )
    .unwrap();
    let composes = testing_farm.public_composes().await.unwrap();
    assert!(
        composes.contains(&"Fedora-Rawhide".to_owned()),
        "{composes:?}"
    );

    let fasjson = FasjsonClient::new(&url("fasjson"), None, Timeouts::default(), retry()).unwrap();
    assert!(fasjson.is_packager("alice").await.unwrap());
    assert!(!fasjson.is_packager("bob").await.unwrap());

    let eln = ElnPackageLists::new(
        &url("eln"),
        Duration::from_secs(60),
        Timeouts::default(),
        retry(),
    )
    .unwrap();
    assert!(eln.is_eln_package("python-ogr").await.unwrap());
    assert!(!eln.is_eln_package("bash").await.unwrap());

    let log_detective = LogDetectiveClient::new(
        &url("logdetective"),
        Secret::new("ld-token"),
        Timeouts::default(),
    )
    .unwrap();
    let request = AnalysisRequest {
        artifacts: [(
            "build.log".to_owned(),
            "https://example.org/build.log".to_owned(),
        )]
        .into(),
        commentary: String::new(),
        target_build: "1".into(),
        commit_sha: "889f07af35d27bbcaf9c535c17a63b974aa42ee3".into(),
        project_url: "https://src.fedoraproject.org/rpms/python-ogr".into(),
        pr_id: 1,
    };
    let started = log_detective.analyze(&request).await.unwrap();
    assert_eq!(started.analysis_id.as_str().len(), 36, "a UUID");

    let pid = child.id().unwrap().to_string();
    let killed = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .unwrap();
    assert!(killed.success());
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("the fakes stop within 10 s of SIGTERM")
        .unwrap();
    assert!(status.success(), "{status:?}");
}

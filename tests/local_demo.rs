//! The local demo (docs/deployment.md, "Local demo") without containers: the real
//! `fedora-ci-fakes --demo` process and `fedora-ci serve`, joined by the real RabbitMQ under a
//! topic prefix and a queue of this test's own. The captured "PR opened" message is
//! published once; nobody drives the fakes: Koji builds and Testing Farm requests move on by
//! themselves, Koji's task state changes reach the service through the broker, Testing Farm
//! calls the service's webhook, and the fake Pagure ends with every flag a success.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use common::process::Running;
use common::{TestDb, wait_for};
use fedora_ci::fakes::demo;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions, QueueDeleteOptions};
use lapin::{BasicProperties, Connection, ConnectionProperties};
use serde_json::{Value as Json, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const AMQP_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2F";
const PAGURE_TOKEN: &str = "demo-pagure-token";
const TF_TOKEN: &str = "demo-testing-farm-token";
const CHECK_PREFIX: &str = "Fedora CI demo";
/// The pause before each move of a build or test request: short, so the test is quick.
const DEMO_DELAY_MS: &str = "150";
/// The longest the whole life of the PR may take.
const DEADLINE: Duration = Duration::from_secs(120);
/// The default tests without a custom one (the fork has no `.fmf/version`).
const TESTS: [&str; 5] = [
    "installability",
    "rpminspect",
    "rpmlint",
    "rmdepcheck",
    "license-validate",
];

/// `fedora-ci-fakes --demo`, publishing Koji's messages under `prefix`; and their URLs.
async fn start_fakes(prefix: &str) -> (Child, Json) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_fedora-ci-fakes"))
        .args(["--demo", "--demo-delay-ms", DEMO_DELAY_MS])
        .args(["--amqp-url", AMQP_URL, "--topic-prefix", prefix])
        .args(["--pagure-token", PAGURE_TOKEN])
        .args(["--testing-farm-token", TF_TOKEN])
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        // Their log (each published message, each request moved on) on request.
        .stderr(if std::env::var_os("SHOW_PROCESS_LOGS").is_some() {
            Stdio::inherit()
        } else {
            Stdio::null()
        })
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(Duration::from_secs(20), stdout.next_line())
        .await
        .expect("the URLs within 20 s")
        .unwrap()
        .expect("a line on stdout");
    (child, serde_json::from_str(&line).unwrap())
}

/// The service's configuration: every peer a fake, the broker this test's part of RabbitMQ.
fn write_config(
    dir: &Path,
    urls: &Json,
    db_url: &str,
    prefix: &str,
    queue: &str,
    port: u16,
) -> String {
    let url = |name: &str| urls[name].as_str().unwrap().to_owned();
    // The compose stack's made-up Koji client certificate: the fake hub never sees it.
    let compose = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/compose");
    let config = json!({
        "deployment": "dev",
        "server_name": format!("http://127.0.0.1:{port}"),
        "database_url": db_url,
        "fas_user": "packit",
        "check_name_prefix": CHECK_PREFIX,
        "comment_command_prefix": "/fedora-ci-demo",
        "dry_run": false,
        "pagure_url": url("pagure"),
        "pagure_token": PAGURE_TOKEN,
        "koji_hub_url": url("koji"),
        "koji_cert": compose.join("koji-dev.crt"),
        "koji_key": compose.join("koji-dev.key"),
        "testing_farm_api_url": url("testing_farm"),
        "testing_farm_secret": TF_TOKEN,
        "fasjson_url": url("fasjson"),
        "eln_package_lists_url": url("eln"),
        "fedora_ci_run_by_default": true,
        "api": {"bind": format!("127.0.0.1:{port}")},
        "worker": {"queues": {"short": 4, "long": 2}, "poll_interval_ms": 50, "shutdown_grace_seconds": 5},
        "messaging": {
            "enabled": true,
            "amqp_url": AMQP_URL,
            "queue": queue,
            "topic_prefix": prefix,
        },
    });
    let path = dir.join("fedora-ci.toml");
    std::fs::write(&path, toml::to_string(&config).unwrap()).unwrap();
    path.to_str().unwrap().to_owned()
}

/// Publishes the demo's "PR opened" message under `prefix`, as `deploy/compose/publish` does.
async fn publish_pull_request_opened(prefix: &str) -> anyhow::Result<()> {
    let (topic, body) = demo::demo_message()?;
    let topic = topic.replacen("org.fedoraproject.prod", prefix, 1);
    let runtime = lapin::runtime::default_runtime()?;
    let connection =
        Connection::connect_with_runtime(AMQP_URL, ConnectionProperties::default(), runtime)
            .await?;
    let channel = connection.create_channel().await?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    let properties = BasicProperties::default()
        .with_content_type("application/json".into())
        .with_message_id(uuid::Uuid::new_v4().to_string().into());
    channel
        .basic_publish(
            "amq.topic".into(),
            topic.as_str().into(),
            BasicPublishOptions::default(),
            &serde_json::to_vec(&body)?,
            properties,
        )
        .await?
        .await?;
    connection.close(200, "published".into()).await?;
    Ok(())
}

async fn delete_queue(queue: &str) -> anyhow::Result<()> {
    let runtime = lapin::runtime::default_runtime()?;
    let connection =
        Connection::connect_with_runtime(AMQP_URL, ConnectionProperties::default(), runtime)
            .await?;
    let channel = connection.create_channel().await?;
    channel
        .queue_delete(queue.into(), QueueDeleteOptions::default())
        .await?;
    connection.close(200, "done".into()).await?;
    Ok(())
}

/// The flags on the demo PR, as the fake Pagure's API shows them: `name | status | comment`.
async fn flags(pagure_url: &str, seeded: &demo::DemoPullRequest) -> anyhow::Result<Vec<String>> {
    let url = format!(
        "{pagure_url}/api/0/{}/pull-request/{}/flag",
        seeded.project, seeded.id
    );
    let answer: Json = reqwest::get(&url).await?.json().await?;
    let mut flags: Vec<String> = answer["flags"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|flag| {
            format!(
                "{} | {} | {}",
                flag["username"].as_str().unwrap_or_default(),
                flag["status"].as_str().unwrap_or_default(),
                flag["comment"].as_str().unwrap_or_default()
            )
        })
        .collect();
    flags.sort();
    Ok(flags)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_carries_a_pull_request_to_its_final_flags() {
    let id = uuid::Uuid::new_v4().simple().to_string();
    let prefix = format!("org.fedoraproject.demo{}", &id[..12]);
    let queue = format!("fedora-ci-demo-test-{id}");
    let (mut fakes, urls) = start_fakes(&prefix).await;
    let pagure_url = urls["pagure"].as_str().unwrap().to_owned();

    let db = TestDb::sqlite().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let port = common::free_port();
    let config = write_config(dir.path(), &urls, db.url(), &prefix, &queue, port);
    let mut serve = Running::start(dir.path(), &["--config", &config, "serve"], &[]);
    tokio::task::block_in_place(|| {
        serve.wait_for_line(&["consuming fedora-messaging"], Duration::from_secs(60));
    });

    // What the demo PR is, read the same way as the fakes seed it.
    let seeded = {
        let pagure = fedora_ci::fakes::pagure::FakePagure::start().await.unwrap();
        demo::seed_pull_request(&pagure).unwrap()
    };
    let sha7 = &seeded.head_commit[..7];
    let mut expected = vec![format!(
        "{CHECK_PREFIX} - scratch build - rawhide [{sha7}] | success | RPM build succeeded."
    )];
    for test in TESTS {
        expected.push(format!(
            "{CHECK_PREFIX} - {test} - rawhide [{sha7}] | success | Tests passed ..."
        ));
    }
    expected.sort();

    let outcome = async {
        publish_pull_request_opened(&prefix).await?;
        let last = std::sync::Mutex::new(Vec::new());
        let reached = wait_for(DEADLINE, || {
            let (last, pagure_url, seeded, expected) = (&last, &pagure_url, &seeded, &expected);
            async move {
                let now = flags(pagure_url, seeded).await?;
                let done = now == *expected;
                *last.lock().unwrap() = now;
                Ok(done.then_some(()))
            }
        })
        .await;
        reached.map_err(|error| {
            anyhow::anyhow!(
                "{error}; the flags:\n{}\nexpected:\n{}",
                last.lock().unwrap().join("\n"),
                expected.join("\n")
            )
        })
    }
    .await;

    let status = tokio::task::block_in_place(|| serve.terminate());
    let _ = fakes.start_kill();
    let removed = delete_queue(&queue).await;
    if let Err(error) = outcome {
        panic!("{error:#}");
    }
    assert!(status.success(), "serve exited with {status} on SIGTERM");
    removed.unwrap();
}

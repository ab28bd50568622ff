//! Every role can be watched: a taken port ends `serve`, `api` and `worker` with an error
//! naming it; the listener's broker state, shadow mode and the worker's own counters show in
//! the health endpoints and `/metrics` of the process that has them. Real binary, real
//! PostgreSQL, real RabbitMQ, the fakes in this process.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[allow(clippy::duplicate_mod)]
mod clients_support;
mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::process::Running;
use common::{TestDb, wait_for};
use fedora_ci::fakes::eln::FakeEln;
use fedora_ci::fakes::koji::{BuildOutcome, FakeKojiConfig, FakeKojiHub};
use fedora_ci::fakes::pagure::FakePagure;
use fedora_ci::fakes::testing_farm::FakeTestingFarm;
use serde_json::{Value as Json, json};

use crate::clients_support::{read_fixture, test_certificate};

const BINARY: &str = env!("CARGO_BIN_EXE_fedora-ci");
const AMQP_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2F";
const OPTEE: &str = "https://src.fedoraproject.org/rpms/optee_os";
const PROJECT: &str = "rpms/optee_os";
const PAGURE_TOKEN: &str = "pagure-token";
const TF_TOKEN: &str = "tf-secret";
/// The longest any one step may take.
const STEP: Duration = Duration::from_secs(60);

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free port")
}

/// `GET url`: status and body; `None` while nothing answers.
async fn get(url: &str) -> Option<(u16, String)> {
    let response = reqwest::get(url).await.ok()?;
    let status = response.status().as_u16();
    Some((status, response.text().await.ok()?))
}

/// Polls `url` until `check` accepts the answer; the last answer on timeout.
async fn poll(url: &str, what: &str, check: impl Fn(u16, &str) -> bool) -> (u16, String) {
    let last = std::cell::RefCell::new(None);
    let found = wait_for(STEP, || async {
        let answer = get(url).await;
        let accepted = answer
            .as_ref()
            .is_some_and(|(status, body)| check(*status, body));
        *last.borrow_mut() = answer.clone();
        Ok(accepted.then_some(answer))
    })
    .await;
    match found {
        Ok(Some(answer)) => answer,
        _ => panic!("{what}: {url} answered {:?}", last.borrow()),
    }
}

/// The value of the sample `name` (with its labels, exactly as exported) in an exposition.
fn sample(metrics: &str, name: &str) -> Option<f64> {
    metrics.lines().find_map(|line| {
        let value = line.strip_prefix(name)?.strip_prefix(' ')?;
        value.split(' ').next()?.parse().ok()
    })
}

/// Waits for the process to exit on its own.
fn exit_of(running: &mut Running, timeout: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = running.child.try_wait().unwrap() {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "still running {timeout:?} after start although its port is taken"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A role started on a taken address exits non-zero within seconds, saying which address.
fn assert_refuses_taken(dir: &Path, args: &[&str], env: &[(&str, &str)], address: &str) {
    let mut second = Running::start(dir, args, env);
    let status = exit_of(&mut second, Duration::from_secs(10));
    assert!(!status.success(), "{args:?} exited with {status}");
    let line = second.wait_for_line(
        &["error: cannot listen on", address],
        Duration::from_secs(5),
    );
    assert!(line.contains("in use"), "{line}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_taken_port_ends_the_process_with_an_error_naming_it() {
    let db = TestDb::postgres().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let bind = format!("127.0.0.1:{}", free_port());
    let env = [
        ("FEDORA_CI_DATABASE_URL", db.url()),
        ("FEDORA_CI_MESSAGING__ENABLED", "false"),
    ];
    let mut first = Running::start(dir.path(), &["serve", "--bind", &bind], &env);
    tokio::task::block_in_place(|| {
        first.wait_for_line(&["worker ready"], STEP);
        // A second serve on the same port: no half-running process without its API.
        assert_refuses_taken(dir.path(), &["serve", "--bind", &bind], &env, &bind);
        assert_refuses_taken(dir.path(), &["api", "--bind", &bind], &env, &bind);
        // The worker's health port too.
        let worker_env = [
            ("FEDORA_CI_DATABASE_URL", db.url()),
            ("FEDORA_CI_WORKER__HEALTH_BIND", bind.as_str()),
        ];
        assert_refuses_taken(dir.path(), &["worker"], &worker_env, &bind);
        let listener_env = [
            ("FEDORA_CI_DATABASE_URL", db.url()),
            ("FEDORA_CI_MESSAGING__HEALTH_BIND", bind.as_str()),
            ("FEDORA_CI_MESSAGING__AMQP_URL", AMQP_URL),
        ];
        assert_refuses_taken(dir.path(), &["listen"], &listener_env, &bind);
    });
    // The first one still serves.
    let (status, _) = get(&format!("http://{bind}/api/healthz")).await.unwrap();
    assert_eq!(status, 200);
    assert!(tokio::task::block_in_place(|| first.terminate()).success());
}

/// A `fedora-ci listen` against `amqp_url`, serving its health on a port of its own.
fn start_listener(dir: &Path, db: &TestDb, amqp_url: &str) -> (Running, String) {
    let health = format!("127.0.0.1:{}", free_port());
    let prefix = format!(
        "org.fedoraproject.test{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    );
    let listener = Running::start(
        dir,
        &["listen"],
        &[
            ("FEDORA_CI_DATABASE_URL", db.url()),
            ("FEDORA_CI_MESSAGING__AMQP_URL", amqp_url),
            ("FEDORA_CI_MESSAGING__TOPIC_PREFIX", &prefix),
            ("FEDORA_CI_MESSAGING__HEALTH_BIND", &health),
        ],
    );
    (listener, format!("http://{health}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listener_that_never_reached_the_broker_says_so() {
    let db = TestDb::postgres().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    // Nothing listens there; the password must show nowhere.
    let amqp_url = format!("amqp://ci:hunter2-broker@127.0.0.1:{}/%2F", free_port());
    let (mut listener, base) = start_listener(dir.path(), &db, &amqp_url);

    let (status, body) = poll(
        &format!("{base}/healthz"),
        "two failed attempts",
        |status, body| {
            status == 200
                && serde_json::from_str::<Json>(body)
                    .is_ok_and(|health| health["broker"]["connection_failures"].as_u64() >= Some(2))
        },
    )
    .await;
    assert_eq!(status, 200, "liveness holds while the broker is away");
    let health: Json = serde_json::from_str(&body).unwrap();
    let broker = &health["broker"];
    assert_eq!(broker["state"], "never_connected", "{health}");
    assert_eq!(broker["connections"], 0, "{health}");
    assert_eq!(health["ready"], false, "{health}");
    assert_eq!(health["role"], "listen", "{health}");
    let error = broker["last_error"].as_str().unwrap();
    assert!(!error.is_empty(), "{health}");
    assert!(!body.contains("hunter2"), "the password leaks: {body}");
    assert!(
        broker["broker"].as_str().unwrap().contains("[redacted]"),
        "{health}"
    );

    let (status, ready) = get(&format!("{base}/readyz")).await.unwrap();
    assert_eq!(status, 503, "{ready}");
    let (status, metrics) = get(&format!("{base}/metrics")).await.unwrap();
    assert_eq!(status, 200);
    assert_eq!(
        sample(&metrics, "fedora_ci_broker_connected"),
        Some(0.0),
        "{metrics}"
    );
    assert!(
        sample(
            &metrics,
            "fedora_ci_broker_connection_attempts_total{outcome=\"failed\"}"
        ) >= Some(2.0),
        "{metrics}"
    );
    assert!(!metrics.contains("hunter2"));

    tokio::task::block_in_place(|| {
        listener.wait_for_line(&["cannot reach the message broker"], STEP);
        assert_eq!(listener.count_lines("lost the message broker"), 0);
        assert_eq!(listener.count_lines("hunter2"), 0);
        assert!(listener.terminate().success());
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connected_listener_says_so() {
    let db = TestDb::postgres().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (mut listener, base) = start_listener(dir.path(), &db, AMQP_URL);

    let (_, body) = poll(&format!("{base}/readyz"), "ready", |status, _| {
        status == 200
    })
    .await;
    let health: Json = serde_json::from_str(&body).unwrap();
    assert_eq!(health["broker"]["state"], "connected", "{health}");
    assert_eq!(health["broker"]["connections"], 1, "{health}");
    assert!(!body.contains(":guest@"), "{body}");
    let (_, metrics) = get(&format!("{base}/metrics")).await.unwrap();
    assert_eq!(
        sample(&metrics, "fedora_ci_broker_connected"),
        Some(1.0),
        "{metrics}"
    );
    assert_eq!(
        sample(
            &metrics,
            "fedora_ci_broker_connection_attempts_total{outcome=\"succeeded\"}"
        ),
        Some(1.0),
        "{metrics}"
    );
    assert!(tokio::task::block_in_place(|| listener.terminate()).success());
}

/// `serve` with `extra` configuration: its health and metrics once it serves.
async fn serve_health(db: &TestDb, extra: Json) -> (Json, String) {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut config = json!({
        "database_url": db.url(),
        "api": {"bind": format!("127.0.0.1:{port}")},
        "messaging": {"enabled": false},
    });
    for (key, value) in extra.as_object().unwrap() {
        config[key] = value.clone();
    }
    let path = dir.path().join("fedora-ci.toml");
    std::fs::write(&path, toml::to_string(&config).unwrap()).unwrap();
    let mut serve = Running::start(
        dir.path(),
        &["--config", path.to_str().unwrap(), "serve"],
        &[],
    );
    tokio::task::block_in_place(|| serve.wait_for_line(&["worker ready"], STEP));
    let base = format!("http://127.0.0.1:{port}");
    let (_, body) = poll(&format!("{base}/api/healthz"), "healthy", |status, _| {
        status == 200
    })
    .await;
    let (_, metrics) = get(&format!("{base}/metrics")).await.unwrap();
    assert!(tokio::task::block_in_place(|| serve.terminate()).success());
    (serde_json::from_str(&body).unwrap(), metrics)
}

/// Configuration keys with every credential shadow mode looks for.
fn credentials(dir: &Path) -> Json {
    let (certificate, key) = test_certificate();
    let cert_path = dir.join("koji.crt");
    let key_path = dir.join("koji.key");
    std::fs::write(&cert_path, certificate).unwrap();
    std::fs::write(&key_path, key.expose()).unwrap();
    json!({
        "pagure_token": PAGURE_TOKEN,
        "testing_farm_secret": TF_TOKEN,
        "koji_cert": cert_path,
        "koji_key": key_path,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shadow_mode_shows_in_health_and_metrics() {
    let db = TestDb::postgres().await.unwrap();
    // No credentials: shadow mode, and why.
    let (health, metrics) = serve_health(&db, json!({})).await;
    assert_eq!(health["status"], "ok", "{health}");
    assert_eq!(health["shadow_mode"]["on"], true, "{health}");
    let reason = health["shadow_mode"]["reason"].as_str().unwrap();
    assert!(reason.contains("pagure_token"), "{health}");
    assert!(
        health.get("broker").is_none(),
        "no listener in this serve: {health}"
    );
    assert_eq!(
        sample(&metrics, "fedora_ci_shadow_mode"),
        Some(1.0),
        "{metrics}"
    );
    let build_info = format!(
        "fedora_ci_build_info{{version=\"{}\",commit=",
        env!("CARGO_PKG_VERSION")
    );
    assert!(metrics.contains(&build_info), "{metrics}");

    // Explicitly on, credentials or not.
    let dir = tempfile::tempdir().unwrap();
    let mut explicit = credentials(dir.path());
    explicit["dry_run"] = json!(true);
    let (health, metrics) = serve_health(&db, explicit).await;
    assert_eq!(
        health["shadow_mode"],
        json!({"on": true, "reason": "dry_run = true"})
    );
    assert_eq!(
        sample(&metrics, "fedora_ci_shadow_mode"),
        Some(1.0),
        "{metrics}"
    );

    // Every credential configured: live.
    let (health, metrics) = serve_health(&db, credentials(dir.path())).await;
    assert_eq!(
        health["shadow_mode"],
        json!({"on": false, "reason": null}),
        "{health}"
    );
    assert_eq!(
        sample(&metrics, "fedora_ci_shadow_mode"),
        Some(0.0),
        "{metrics}"
    );
}

/// The external services, in this process, set up for `pagure_pr_new.json`'s PR.
struct Fakes {
    koji: FakeKojiHub,
    pagure: FakePagure,
    testing_farm: FakeTestingFarm,
    eln: FakeEln,
}

impl Fakes {
    async fn start() -> Fakes {
        let koji = FakeKojiHub::start(FakeKojiConfig::default()).await.unwrap();
        let pagure = FakePagure::start().await.unwrap();
        pagure.add_token(PAGURE_TOKEN, "packit-stg");
        pagure.set_branches(PROJECT, &["rawhide", "eln"]);
        let testing_farm = FakeTestingFarm::start(TF_TOKEN).await.unwrap();
        let eln = FakeEln::start().await.unwrap();
        eln.set_packages(&["optee_os"], &[]);
        Fakes {
            koji,
            pagure,
            testing_farm,
            eln,
        }
    }
}

/// Writes `messages` (topic, body) as a fedora-messaging dump and stores them with
/// `fedora-ci replay`, as the listener would.
fn replay(dir: &Path, config: &str, name: &str, messages: &[(String, Json)]) {
    let lines: Vec<String> = messages
        .iter()
        .map(|(topic, body)| {
            json!({
                "topic": topic,
                "headers": {},
                "id": uuid::Uuid::new_v4().to_string(),
                "body": body,
            })
            .to_string()
        })
        .collect();
    let file = dir.join(name);
    std::fs::write(&file, lines.join("\n")).unwrap();
    let output = std::process::Command::new(BINARY)
        .args(["--config", config, "replay", file.to_str().unwrap()])
        .current_dir(dir)
        .env_remove("FEDORA_CI_CONFIG")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "replay failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_worker_exports_its_own_counters() {
    let fakes = Fakes::start().await;
    let db = TestDb::postgres().await.unwrap();
    // The worker never migrates.
    db.store().await.unwrap().close().await;
    let dir = tempfile::tempdir().unwrap();
    let health = format!("127.0.0.1:{}", free_port());
    let mut config = credentials(dir.path());
    for (key, value) in json!({
        "deployment": "stg",
        "database_url": db.url(),
        "fas_user": "packit",
        "check_name_prefix": "Packit-stg",
        "dry_run": false,
        "pagure_url": fakes.pagure.url(),
        "koji_hub_url": fakes.koji.hub_url(),
        "testing_farm_api_url": fakes.testing_farm.api_url(),
        "eln_package_lists_url": fakes.eln.url(),
        "fedora_ci_run_by_default": false,
        "fedora_ci": {"enabled_projects": [OPTEE]},
        "worker": {
            "queues": {"short": 4, "long": 4},
            "poll_interval_ms": 50,
            "shutdown_grace_seconds": 5,
            "health_bind": health,
        },
        "messaging": {"enabled": false},
    })
    .as_object()
    .unwrap()
    {
        config[key] = value.clone();
    }
    let config_path = dir.path().join("fedora-ci.toml");
    std::fs::write(&config_path, toml::to_string(&config).unwrap()).unwrap();
    let config_path = config_path.to_str().unwrap().to_owned();

    // Running::start turns health off by environment unless the test names the address.
    let mut worker = Running::start(
        dir.path(),
        &["--config", &config_path, "worker"],
        &[("FEDORA_CI_WORKER__HEALTH_BIND", &health)],
    );
    let base = format!("http://{health}");
    let (_, ready) = poll(&format!("{base}/readyz"), "ready", |status, _| {
        status == 200
    })
    .await;
    let ready: Json = serde_json::from_str(&ready).unwrap();
    assert_eq!(ready["role"], "worker", "{ready}");
    assert_eq!(ready["shadow_mode"]["on"], false, "{ready}");
    assert!(ready.get("broker").is_none(), "{ready}");

    // The PR is opened: the worker builds it.
    let mut opened = read_fixture("packit-service/pagure_pr_new.json");
    let topic = opened
        .as_object_mut()
        .unwrap()
        .remove("topic")
        .unwrap()
        .as_str()
        .unwrap()
        .to_owned();
    fakes.pagure.add_pull_request(opened["pullrequest"].clone());
    replay(dir.path(), &config_path, "opened.json", &[(topic, opened)]);

    let metrics_url = format!("{base}/metrics");
    let (_, metrics) = poll(&metrics_url, "the build is submitted", |_, metrics| {
        sample(metrics, "fedora_ci_koji_builds_queued_total") >= Some(1.0)
    })
    .await;
    let build_attempts = "fedora_ci_task_attempts_total{task=\"run_downstream_koji_scratch_build_handler\",outcome=\"succeeded\"}";
    assert!(sample(&metrics, build_attempts) >= Some(1.0), "{metrics}");
    assert!(
        sample(
            &metrics,
            "fedora_ci_outbound_calls_total{service=\"koji\",outcome=\"succeeded\"}"
        ) >= Some(1.0),
        "{metrics}"
    );
    assert_eq!(
        sample(&metrics, "fedora_ci_shadow_mode"),
        Some(0.0),
        "{metrics}"
    );
    // Queue depth is the api's to export, once, not once per worker.
    assert!(!metrics.contains("fedora_ci_queue_tasks{"), "{metrics}");

    // Koji starts, then finishes the build; its messages reach the worker through intake,
    // and the worker reads the task's state from the hub at each step.
    let builds = fakes.koji.builds();
    assert_eq!(builds.len(), 1, "{builds:?}");
    let task = builds[0].0;
    let koji_messages = |skip: usize| -> Vec<(String, Json)> {
        fakes
            .koji
            .messages()
            .into_iter()
            .skip(skip)
            .map(|message| (message.topic, message.body))
            .collect()
    };
    assert!(fakes.koji.start_build(task));
    let started = koji_messages(0);
    assert!(!started.is_empty());
    replay(dir.path(), &config_path, "koji-started.json", &started);
    poll(&metrics_url, "the build started", |_, metrics| {
        sample(metrics, "fedora_ci_koji_builds_started_total") >= Some(1.0)
    })
    .await;
    assert!(fakes.koji.finish_build(task, &BuildOutcome::Succeeds));
    let finished = koji_messages(started.len());
    assert!(!finished.is_empty());
    replay(dir.path(), &config_path, "koji-finished.json", &finished);
    poll(&metrics_url, "the build finished", |_, metrics| {
        sample(
            metrics,
            "fedora_ci_koji_builds_finished_total{result=\"success\"}",
        ) == Some(1.0)
    })
    .await;
    assert!(tokio::task::block_in_place(|| worker.terminate()).success());
}

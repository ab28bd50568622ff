//! The `fedora-ci` binary as an operator runs it: serve in a fresh directory, a database that
//! is down, check-config, migrate.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::TcpListener;
use std::process::Command;

use std::time::Duration;

use common::TestDb;
use common::process::Running;

const BINARY: &str = env!("CARGO_BIN_EXE_fedora-ci");

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free port")
}

async fn get(url: &str) -> anyhow::Result<(u16, String)> {
    let response = reqwest::get(url).await?;
    Ok((response.status().as_u16(), response.text().await?))
}

#[tokio::test]
async fn serve_in_a_fresh_directory_runs_on_sqlite() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let port = free_port();
    let bind = format!("127.0.0.1:{port}");
    // Hermetic: the default listener would connect to Fedora's public broker.
    let mut serve = Running::start(
        dir.path(),
        &["serve", "--bind", &bind],
        &[("FEDORA_CI_MESSAGING__ENABLED", "false")],
    );
    serve.wait_for_line(&["worker ready"], Duration::from_secs(30));

    let (status, body) = get(&format!("http://{bind}/api/healthz")).await?;
    assert_eq!((status, body.as_str()), (200, r#"{"status":"ok"}"#));
    assert!(
        dir.path().join("fedora-ci.db").exists(),
        "the embedded database file is created"
    );

    let (status, metrics) = get(&format!("http://{bind}/metrics")).await?;
    assert_eq!(status, 200);
    assert!(metrics.ends_with("# EOF\n"), "{metrics}");

    let (status, body) = get(&format!("http://{bind}/api/no-such-thing")).await?;
    assert_eq!(
        (status, body.as_str()),
        (404, r#"{"error":"no such resource"}"#)
    );

    assert!(serve.terminate().success());
    Ok(())
}

#[tokio::test]
async fn serve_with_the_database_down_retries_and_reports_unhealthy() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let bind = format!("127.0.0.1:{}", free_port());
    // Nothing listens on this port: the database is unreachable.
    let dead_db = format!("postgres://ci:hunter2@127.0.0.1:{}/ci", free_port());
    let mut serve = Running::start(
        dir.path(),
        &["serve", "--bind", &bind],
        &[("FEDORA_CI_DATABASE_URL", &dead_db)],
    );
    serve.wait_for_line(&["API listening"], Duration::from_secs(30));
    let line = serve.wait_for_line(
        &["cannot migrate the database; retrying"],
        Duration::from_secs(30),
    );
    assert!(
        line.contains("postgres://ci:[redacted]@127.0.0.1"),
        "{line}"
    );
    assert!(line.contains("retry_in"), "{line}");
    serve.wait_for_count(
        "cannot migrate the database; retrying",
        2,
        Duration::from_secs(30),
    );

    let (status, body) = get(&format!("http://{bind}/api/healthz")).await?;
    assert_eq!(status, 503, "{body}");
    let body: serde_json::Value = serde_json::from_str(&body)?;
    assert_eq!(body["status"], "unavailable");
    assert!(
        body["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("database"),
        "{body}"
    );

    // Still alive, retrying with growing waits, and no password anywhere in the logs.
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        serve.child.try_wait()?.is_none(),
        "serve exited while the database was down"
    );
    assert!(serve.count_lines("cannot migrate the database") >= 2);
    assert_eq!(serve.count_lines("hunter2"), 0);
    assert_eq!(serve.count_lines("panicked"), 0);
    assert!(serve.terminate().success());
    Ok(())
}

#[test]
fn check_config_names_the_bad_key() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    std::fs::write(
        dir.path().join("fedora-ci.toml"),
        "[worker]\nleese_seconds = 5\n",
    )?;
    let output = Command::new(BINARY)
        .arg("check-config")
        .current_dir(dir.path())
        .env_remove("FEDORA_CI_CONFIG")
        .output()?;
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("config key `worker.leese_seconds`"),
        "{stderr}"
    );
    assert!(stderr.contains("expected one of"), "{stderr}");
    Ok(())
}

#[test]
fn check_config_prints_the_effective_config_redacted() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let token = dir.path().join("token");
    std::fs::write(&token, "pagure-token-value")?;
    let config = dir.path().join("custom.toml");
    std::fs::write(
        &config,
        format!("deployment = \"stg\"\npagure_token_file = {token:?}\n"),
    )?;
    let output = Command::new(BINARY)
        .args([
            "--config",
            config.to_str().unwrap_or_default(),
            "check-config",
        ])
        .env("FEDORA_CI_CHECK_NAME_PREFIX", "Fedora CI stg")
        .output()?;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("deployment = \"stg\""), "{stdout}");
    assert!(
        stdout.contains("check_name_prefix = \"Fedora CI stg\""),
        "{stdout}"
    );
    assert!(stdout.contains("pagure_token = \"[redacted]\""), "{stdout}");
    assert!(!stdout.contains("pagure-token-value"), "{stdout}");
    // It is itself a valid configuration, bar the redactions.
    let reparsed: toml::Table = stdout.parse()?;
    assert!(reparsed.contains_key("worker"));
    Ok(())
}

#[tokio::test]
async fn migrate_creates_the_schema_and_is_idempotent() -> anyhow::Result<()> {
    for db in [TestDb::postgres().await?, TestDb::sqlite().await?] {
        for _ in 0..2 {
            let output = Command::new(BINARY)
                .arg("migrate")
                .env_remove("FEDORA_CI_CONFIG")
                .env("FEDORA_CI_DATABASE_URL", db.url())
                .current_dir(std::env::temp_dir())
                .output()?;
            assert!(
                output.status.success(),
                "{}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
    }
    Ok(())
}

#[test]
fn every_command_has_help() -> anyhow::Result<()> {
    for command in ["serve", "worker", "api", "migrate", "check-config", "bench"] {
        let output = Command::new(BINARY).args([command, "--help"]).output()?;
        assert!(output.status.success(), "{command} --help failed");
        let text = String::from_utf8_lossy(&output.stdout);
        assert!(text.contains("Usage: fedora-ci"), "{command}: {text}");
    }
    Ok(())
}

#[test]
fn process_dry_run_reads_every_file_form_and_touches_nothing() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let fixture = format!(
        "{}/tests/fixtures/packit-service/pagure_pr_new.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut body: serde_json::Value = serde_json::from_slice(&std::fs::read(&fixture)?)?;
    let topic = body["topic"].as_str().unwrap_or_default().to_owned();
    body.as_object_mut().map(|b| b.remove("topic"));
    let dump = serde_json::json!({"topic": topic, "headers": {}, "id": "dump-1", "body": body});
    let datagrepper =
        serde_json::json!({"topic": topic, "msg": body, "msg_id": "dg-1", "headers": {}});
    let files = [
        ("bare.json", std::fs::read_to_string(&fixture)?),
        ("dump.jsonl", format!("{dump}\n{dump}\n")),
        ("datagrepper.json", datagrepper.to_string()),
    ];
    for (name, content) in files {
        let path = dir.path().join(name);
        std::fs::write(&path, content)?;
        let output = Command::new(env!("CARGO_BIN_EXE_fedora-ci"))
            .args(["process", "--dry-run"])
            .arg(&path)
            .current_dir(dir.path())
            .env_remove("FEDORA_CI_CONFIG")
            .env("FEDORA_CI_FEDORA_CI_RUN_BY_DEFAULT", "false")
            .output()?;
        assert!(
            output.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let printed: serde_json::Value = serde_json::from_slice(&output.stdout)?;
        let plans = printed["messages"].as_array().cloned().unwrap_or_default();
        assert!(!plans.is_empty(), "{name}");
        assert_eq!(
            printed["calls"],
            serde_json::json!([]),
            "{name}: opt-in mode with nothing enabled plans nothing"
        );
        for plan in plans {
            assert_eq!(plan["verdict"], "accept", "{name}: {plan}");
            assert_eq!(plan["tasks"], serde_json::json!(["process_message"]));
            assert_eq!(
                plan["event"]["detail"]["PullRequestOpened"]["head_commit"],
                "889f07af35d27bbcaf9c535c17a63b974aa42ee3"
            );
        }
    }
    assert!(
        !dir.path().join("fedora-ci.db").exists(),
        "a dry run creates no database"
    );
    Ok(())
}

#[tokio::test]
async fn replay_stores_messages_once() -> anyhow::Result<()> {
    let db = TestDb::sqlite().await?;
    let store = db.store().await?;
    let fixtures = format!(
        "{}/tests/fixtures/packit-service",
        env!("CARGO_MANIFEST_DIR")
    );
    let files = [
        "pagure_pr_new.json",
        "pagure_pr_updated.json",
        "koji_build_completed_rawhide.json",
    ];
    let mut outputs = Vec::new();
    for _ in 0..2 {
        let output = Command::new(env!("CARGO_BIN_EXE_fedora-ci"))
            .arg("replay")
            .args(files.iter().map(|f| format!("{fixtures}/{f}")))
            .env_remove("FEDORA_CI_CONFIG")
            .env("FEDORA_CI_DATABASE_URL", db.url())
            .output()?;
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        outputs.push(String::from_utf8_lossy(&output.stdout).trim().to_owned());
    }
    assert_eq!(
        outputs[0],
        "2 accepted, 0 rejected, 1 irrelevant, 0 already stored"
    );
    assert_eq!(
        outputs[1],
        "0 accepted, 0 rejected, 1 irrelevant, 2 already stored"
    );
    let counts = fedora_ci::db::inbound::count_by_outcome(&store).await?;
    assert_eq!(counts, [("pending".to_owned(), 2)]);
    Ok(())
}

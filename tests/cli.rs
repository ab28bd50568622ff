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
    assert_eq!(status, 200, "{body}");
    let health: serde_json::Value = serde_json::from_str(&body)?;
    assert_eq!(health["status"], "ok", "{body}");
    assert_eq!(
        health["shadow_mode"]["on"], true,
        "no credentials, shadow mode: {body}"
    );
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
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        stderr,
        "error: invalid configuration: config key `worker.leese_seconds` \
         (in fedora-ci.toml, line 2): unknown key; did you mean `lease_seconds`?\n",
        "printed once, as one plain line"
    );
    assert!(output.stdout.is_empty());
    Ok(())
}

#[test]
fn a_config_error_is_printed_once_without_colours() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let token = dir.path().join("missing-token");
    for (env, wanted) in [
        (
            (
                "FEDORA_CI_PAGURE_TOKEN_FILE",
                token.to_str().unwrap_or_default(),
            ),
            "config key `pagure_token_file` (from FEDORA_CI_PAGURE_TOKEN_FILE): \
             cannot read the secret file",
        ),
        (
            ("FEDORA_CI_API__BIND", "localhost:99999"),
            "config key `api.bind` (from FEDORA_CI_API__BIND): \"localhost:99999\": the port",
        ),
    ] {
        let output = Command::new(BINARY)
            .arg("check-config")
            .current_dir(dir.path())
            .env_remove("FEDORA_CI_CONFIG")
            .env("RUST_LOG", "debug")
            .env(env.0, env.1)
            .output()?;
        assert_eq!(output.status.code(), Some(1));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(stderr.lines().count(), 1, "once: {stderr}");
        assert!(
            stderr.starts_with("error: invalid configuration: "),
            "{stderr}"
        );
        assert!(stderr.contains(wanted), "{stderr}");
        assert!(
            !stderr.contains('\u{1b}'),
            "no colours into a pipe: {stderr:?}"
        );
        assert!(
            stderr.matches("No such file").count() <= 1,
            "the cause once: {stderr}"
        );
    }

    // For log collectors, the one report is a JSON line.
    let output = Command::new(BINARY)
        .args(["--log-format", "json", "check-config"])
        .current_dir(dir.path())
        .env_remove("FEDORA_CI_CONFIG")
        .env("FEDORA_CI_DEPLOYMENT", "production")
        .output()?;
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "once: {stderr}");
    let line: serde_json::Value = serde_json::from_str(stderr.trim())?;
    assert_eq!(line["level"], "ERROR");
    assert!(
        line["error"]
            .as_str()
            .unwrap_or_default()
            .contains(r#"expected one of "prod", "stg", "dev", got "production""#),
        "{line}"
    );
    Ok(())
}

#[test]
fn the_example_config_works_as_shipped() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    std::fs::copy(
        concat!(env!("CARGO_MANIFEST_DIR"), "/fedora-ci.example.toml"),
        dir.path().join("fedora-ci.toml"),
    )?;
    let output = Command::new(BINARY)
        .arg("check-config")
        .current_dir(dir.path())
        .env_remove("FEDORA_CI_CONFIG")
        .output()?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let file = dir.path().canonicalize()?.join("fedora-ci.toml");
    assert!(
        stdout.contains(&format!("# Configuration file: {}\n", file.display())),
        "{stdout}"
    );
    assert!(
        stdout.contains("# Environment overrides: none.\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "# Shadow mode: on (no pagure_token, Koji credentials, testing_farm_secret configured)"
        ),
        "{stdout}"
    );
    assert!(stdout.contains("deployment = \"prod\""), "{stdout}");
    Ok(())
}

#[test]
fn check_config_without_a_file_says_so() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let output = Command::new(BINARY)
        .arg("check-config")
        .current_dir(dir.path())
        .env_remove("FEDORA_CI_CONFIG")
        .env("FEDORA_CI_DRY_RUN", "false")
        .env("FEDORA_CI_WORKER__LEASE_SECONDS", "30")
        .output()?;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.starts_with("# No configuration file; built-in defaults.\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "# Environment overrides: FEDORA_CI_DRY_RUN (dry_run), \
             FEDORA_CI_WORKER__LEASE_SECONDS (worker.lease_seconds).\n"
        ),
        "{stdout}"
    );
    assert!(stdout.contains("# Shadow mode: off"), "{stdout}");
    let reparsed: toml::Table = stdout.parse()?;
    assert_eq!(reparsed["worker"]["lease_seconds"].as_integer(), Some(30));
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
    assert!(stdout.contains("# Configuration file: "), "{stdout}");
    assert!(stdout.contains("custom.toml\n"), "{stdout}");
    assert!(
        stdout.contains(
            "# Environment overrides: FEDORA_CI_CHECK_NAME_PREFIX (check_name_prefix).\n"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("# Secret pagure_token read from "),
        "{stdout}"
    );
    assert!(stdout.contains("# Shadow mode: on ("), "{stdout}");
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

/// The environment that points every external service at a loopback port nothing listens on,
/// with short timeouts: reads fail at once.
fn offline_env(port: u16) -> Vec<(String, String)> {
    let dead = format!("http://127.0.0.1:{port}");
    [
        ("FEDORA_CI_PAGURE_URL", dead.clone()),
        ("FEDORA_CI_FASJSON_URL", dead.clone()),
        ("FEDORA_CI_KOJI_HUB_URL", format!("{dead}/kojihub")),
        ("FEDORA_CI_KOJI_WEB_URL", dead.clone()),
        ("FEDORA_CI_KOJI_LOGS_URL", dead.clone()),
        ("FEDORA_CI_TESTING_FARM_API_URL", format!("{dead}/v0.1/")),
        ("FEDORA_CI_LOGDETECTIVE_URL", dead.clone()),
        ("FEDORA_CI_ELN_PACKAGE_LISTS_URL", dead),
        ("FEDORA_CI_REQUEST_TIMEOUT_SECONDS", "2".to_owned()),
    ]
    .into_iter()
    .map(|(key, value)| (key.to_owned(), value))
    .collect()
}

#[test]
fn process_dry_run_offline_names_the_work_it_could_not_plan() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let fixture = format!(
        "{}/tests/fixtures/packit-service/pagure_pr_new.json",
        env!("CARGO_MANIFEST_DIR")
    );
    // Bound, then closed: nothing listens there.
    let port = free_port();
    let started = std::time::Instant::now();
    let output = Command::new(BINARY)
        .args(["process", "--dry-run", &fixture])
        .current_dir(dir.path())
        .env_remove("FEDORA_CI_CONFIG")
        .envs(offline_env(port))
        .output()?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "took {:?}",
        started.elapsed()
    );
    let summary: Vec<&str> = stderr
        .lines()
        .filter(|line| line.starts_with("error: "))
        .collect();
    assert_eq!(summary.len(), 1, "{stderr}");
    assert!(
        summary[0].contains("the dry run could not finish")
            && summary[0].contains("KojiScratchBuild")
            && summary[0].contains("--allow-incomplete"),
        "{stderr}"
    );

    let printed: serde_json::Value = serde_json::from_slice(&output.stdout)?;
    let incomplete = printed["messages"][0]["incomplete"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let build = incomplete
        .iter()
        .find(|task| task["task"] == "KojiScratchBuild")
        .unwrap_or_else(|| panic!("no KojiScratchBuild in {printed:#}"));
    let reason = build["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("dead.package"), "{reason}");
    assert!(reason.contains(&format!("127.0.0.1:{port}")), "{reason}");
    assert_eq!(build["state"], "left for retry");

    let output = Command::new(BINARY)
        .args(["process", "--dry-run", "--allow-incomplete", &fixture])
        .current_dir(dir.path())
        .env_remove("FEDORA_CI_CONFIG")
        .envs(offline_env(port))
        .output()?;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let printed: serde_json::Value = serde_json::from_slice(&output.stdout)?;
    assert!(
        printed["messages"][0]["incomplete"]
            .as_array()
            .is_some_and(|tasks| !tasks.is_empty()),
        "{printed:#}"
    );
    Ok(())
}

#[test]
fn a_bind_address_on_the_command_line_is_checked() -> anyhow::Result<()> {
    let output = Command::new(BINARY)
        .args(["serve", "--bind", "localhost:99999"])
        .env_remove("FEDORA_CI_CONFIG")
        .output()?;
    assert_eq!(output.status.code(), Some(2), "a usage error");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("1 to 65535"), "{stderr}");
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

/// `process --dry-run` works on a throwaway SQLite database in the temporary directory; it
/// is removed however the run ends: finished with work it could not plan (exit 2), failed
/// at setting up (an unreadable Koji certificate), or interrupted (SIGINT) while it waits.
#[test]
fn process_dry_run_leaves_no_temporary_files_whatever_happens() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let temp = tempfile::tempdir()?;
    let fixture = format!(
        "{}/tests/fixtures/packit-service/pagure_pr_new.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let port = free_port();
    type Run = (&'static str, Vec<(String, String)>, Option<i32>);
    let runs: [Run; 2] = [
        ("incomplete", offline_env(port), Some(2)),
        (
            "setup failure",
            [
                ("FEDORA_CI_KOJI_CERT", "/nonexistent/koji.crt"),
                ("FEDORA_CI_KOJI_KEY", "/nonexistent/koji.key"),
            ]
            .into_iter()
            .map(|(key, value)| (key.to_owned(), value.to_owned()))
            .chain(offline_env(port))
            .collect(),
            Some(1),
        ),
    ];
    for (name, env, code) in runs {
        let output = Command::new(BINARY)
            .args(["process", "--dry-run", &fixture])
            .current_dir(dir.path())
            .env_remove("FEDORA_CI_CONFIG")
            .envs(env)
            .env("TMPDIR", temp.path())
            .output()?;
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), code, "{name}: {stderr}");
        let left: Vec<_> = std::fs::read_dir(temp.path())?
            .map(|entry| entry.map(|entry| entry.file_name()))
            .collect::<Result<_, _>>()?;
        assert!(left.is_empty(), "{name}: left behind {left:?}");
    }

    // Interrupted while it waits on a Pagure that accepts connections and never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0")?;
    let silent_url = format!("http://{}", silent.local_addr()?);
    let mut child = Command::new(BINARY)
        .args(["process", "--dry-run", &fixture])
        .current_dir(dir.path())
        .env_remove("FEDORA_CI_CONFIG")
        .envs(offline_env(port))
        .env("FEDORA_CI_PAGURE_URL", &silent_url)
        .env("TMPDIR", temp.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while std::fs::read_dir(temp.path())?.next().is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "no database was created"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // Past the database's creation, into the wait on Pagure.
    std::thread::sleep(Duration::from_millis(500));
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-INT", &pid])
            .status()?
            .success()
    );
    let status = child.wait()?;
    assert!(!status.success(), "an interrupted dry run is not a success");
    let left: Vec<_> = std::fs::read_dir(temp.path())?
        .map(|entry| entry.map(|entry| entry.file_name()))
        .collect::<Result<_, _>>()?;
    assert!(left.is_empty(), "interrupted: left behind {left:?}");
    drop(silent);
    Ok(())
}

/// Every form of a secret the hardening review found shown (issue #16) stays hidden from what
/// the binary prints: `check-config`, the error of a start that cannot reach the database,
/// a TOML syntax error on a secret's line.
#[test]
fn secrets_in_urls_and_broken_lines_are_never_printed() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let port = free_port();
    for url in [
        format!("postgres://ci@127.0.0.1:{port}/ci?password=q-s3cret"),
        format!("postgres://ci:sl/ash-s3cret@127.0.0.1:{port}/ci"),
        format!("postgres://ci@127.0.0.1:{port}/ci?sslmode=disable&password=p-s3cret"),
        // A parameter the driver does not understand (it would log it with its value) is
        // refused by name.
        format!("postgres://ci@127.0.0.1:{port}/ci?sslmode=disable&sslpassword=ssl-s3cret"),
    ] {
        for args in [vec!["check-config"], vec!["migrate"]] {
            let output = Command::new(BINARY)
                .args(&args)
                .current_dir(dir.path())
                .env_remove("FEDORA_CI_CONFIG")
                .env("FEDORA_CI_DATABASE_URL", &url)
                .env("FEDORA_CI_DATABASE__ACQUIRE_TIMEOUT_SECONDS", "1")
                .env("RUST_LOG", "trace")
                .output()?;
            let printed = format!(
                "{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
            assert!(!printed.contains("s3cret"), "{args:?} {url}: {printed}");
            // Shown, bar the secret: the address, or the parameter refused by name.
            assert!(
                printed.contains("127.0.0.1") || printed.contains("\"sslpassword\" is not one"),
                "{args:?} {url}: {printed}"
            );
        }
    }
    let config = dir.path().join("broken.toml");
    std::fs::write(
        &config,
        "database_url = \"postgres://ci:line-s3cret@db/ci\" trailing\n",
    )?;
    let output = Command::new(BINARY)
        .args([
            "--config",
            config.to_str().unwrap_or_default(),
            "check-config",
        ])
        .output()?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("not valid TOML"), "{stderr}");
    assert!(!stderr.contains("s3cret"), "{stderr}");
    Ok(())
}

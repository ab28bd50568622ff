//! The dashboard in real headless Chromium: two `fedora-ci api` instances on two seeded SQLite
//! databases (the second stands in for Packit), the first configured with both as context
//! selector backends, driven by `tests/browser/dashboard.mjs` (playwright-core). Screenshots
//! land in `<target>/browser-screenshots/`.
//!
//! Needs `/usr/bin/chromium` (Debian's `chromium`, installed by `.ci/run`) and Node.js; the
//! npm packages are installed from `tests/browser/package-lock.json` when missing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::TestDb;
use common::process::Running;
use common::seed;
use serde_json::json;

const OTHER_BACKEND: &str = "Packit";

fn chromium() -> PathBuf {
    let path =
        std::env::var_os("CHROMIUM").map_or_else(|| "/usr/bin/chromium".into(), PathBuf::from);
    assert!(
        path.exists(),
        "headless Chromium is missing at {}: install Debian's `chromium` package \
         (apt-get install chromium); .ci/run installs it",
        path.display()
    );
    path
}

/// `node_modules` of `tests/browser`, installed with `npm ci` from the lock file if missing.
fn npm_packages(dir: &Path) {
    let node = Command::new("node").arg("--version").output();
    assert!(
        node.as_ref().is_ok_and(|output| output.status.success()),
        "Node.js is missing (`node` not on PATH): install Node.js 20 and npm; .ci/run checks for them"
    );
    if dir
        .join("node_modules/playwright-core/package.json")
        .exists()
    {
        return;
    }
    let output = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--prefix"])
        .arg(dir)
        .output()
        .expect("npm runs");
    assert!(
        output.status.success(),
        "npm ci --prefix tests/browser failed (.ci/run runs it too):\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

fn start_api(dir: &Path, db: &TestDb, env: &[(&str, &str)]) -> (Running, String) {
    let mut vars = vec![
        ("FEDORA_CI_DATABASE_URL", db.url()),
        ("FEDORA_CI_CHECK_NAME_PREFIX", seed::PREFIX),
        ("NO_COLOR", "1"),
    ];
    vars.extend_from_slice(env);
    let mut api = Running::start(dir, &["api", "--bind", "127.0.0.1:0"], &vars);
    let line = api.wait_for_line(&["API listening"], Duration::from_secs(30));
    api.wait_for_line(&["database schema is up to date"], Duration::from_secs(30));
    (api, common::process::listening_address(&line))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_in_headless_chromium() -> anyhow::Result<()> {
    let chromium = chromium();
    let browser_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    npm_packages(&browser_dir);
    let screenshots = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("the target directory")
        .join("browser-screenshots");

    // Two databases with different data.
    let main_db = TestDb::sqlite().await?;
    let store = main_db.store().await?;
    let seeded = seed::seed(&store).await?;
    store.close().await;
    let other_db = TestDb::sqlite().await?;
    let store = other_db.store().await?;
    seed::seed_other(&store).await?;
    store.close().await;

    let dir = tempfile::tempdir()?;
    let (mut other, other_address) = start_api(dir.path(), &other_db, &[]);
    let backends = format!(
        r#"[{{ name = "Fedora CI", api_url = "/api" }}, {{ name = "{OTHER_BACKEND}", api_url = "http://{other_address}/api" }}]"#
    );
    let (mut main, main_address) = start_api(
        dir.path(),
        &main_db,
        &[("FEDORA_CI_DASHBOARD__BACKENDS", &backends)],
    );

    let expect = json!({
        "repo": seed::REPO,
        "pr_id": seed::PR_ID,
        "new_sha": seed::NEW_SHA,
        "pipelines": 2,
        "failed_task_id": 1002,
        "failed_build": seeded.new_build,
        "failed_test": seeded.failed_test,
        // The seeded tests: rpminspect passed on the old commit; on the new one rpminspect
        // failed and installability errored.
        "test_chips": [
            "rpminspect fedora-rawhide: passed",
            "rpminspect fedora-rawhide: failed",
            "installability fedora-rawhide: error",
        ],
        "log_detective": seeded.log_detective,
        "other_repo": seed::OTHER_REPO,
        "other_pr_id": seed::OTHER_PR_ID,
        "other_task_id": seed::OTHER_TASK_ID,
    });
    let script = browser_dir.join("dashboard.mjs");
    let output = tokio::task::spawn_blocking({
        let screenshots = screenshots.clone();
        move || {
            Command::new("node")
                .arg(&script)
                .env("DASHBOARD_URL", format!("http://{main_address}"))
                .env("OTHER_BACKEND", OTHER_BACKEND)
                .env("EXPECT", expect.to_string())
                .env("SCREENSHOTS", &screenshots)
                .env("CHROMIUM", &chromium)
                .output()
        }
    })
    .await??;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    assert!(
        output.status.success(),
        "browser checks failed (screenshots in {}):\n{stdout}\n{stderr}",
        screenshots.display()
    );
    assert!(stdout.contains("# all checks passed"), "{stdout}");
    assert!(screenshots.join("02-pull-request.png").exists());
    main.terminate();
    other.terminate();
    Ok(())
}

//! schemathesis (PyPI) against a live `fedora-ci api` on a seeded SQLite database: every
//! operation of `/api/openapi.json`, with generated valid and invalid inputs, must answer as
//! the document says (status codes, content types, response schemas, no server errors).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;
use std::time::Duration;

use common::TestDb;
use common::process::Running;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_failure() -> anyhow::Result<()> {
    let python = common::python::python();
    let db = TestDb::sqlite().await?;
    let store = db.store().await?;
    common::seed::seed(&store).await?;
    store.close().await;

    let dir = tempfile::tempdir()?;
    let mut api = Running::start(
        dir.path(),
        &["api", "--bind", "127.0.0.1:0"],
        &[
            ("FEDORA_CI_DATABASE_URL", db.url()),
            ("FEDORA_CI_CHECK_NAME_PREFIX", common::seed::PREFIX),
            ("NO_COLOR", "1"),
        ],
    );
    let line = api.wait_for_line(&["API listening"], Duration::from_secs(30));
    let address = common::process::listening_address(&line);
    api.wait_for_line(&["database schema is up to date"], Duration::from_secs(30));

    let output = tokio::task::spawn_blocking(move || {
        Command::new(&python)
            .args([
                "-c",
                "import sys; from schemathesis.cli import schemathesis; \
                 sys.argv[0] = 'schemathesis'; sys.exit(schemathesis())",
                "run",
                &format!("http://{address}/api/openapi.json"),
                "--checks",
                "all",
                "--max-examples",
                "25",
                "--seed",
                "20261125",
                "--request-timeout",
                "10",
                "--no-color",
            ])
            .current_dir(dir.path())
            .output()
    })
    .await??;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "schemathesis failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("passed"), "{stdout}");
    api.terminate();
    Ok(())
}

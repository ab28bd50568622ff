//! A clone of this repository in an empty directory, with nothing beside it, passes the
//! README's test command, and the README's first command starts the service there.
//!
//! The clone is of the committed `HEAD`: uncommitted changes are not in it. It builds in
//! `target/fresh-clone`, seeded once with hard links to this build's compiled dependencies, so
//! only fedora-ci itself is compiled again.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The test binaries the clone runs: the fixtures (`events`), PostgreSQL (`intake`), and
/// RabbitMQ with fedora-messaging's own publisher (`listener`).
const SUBSET: &[&str] = &["--test", "events", "--test", "intake", "--test", "listener"];

const MANIFEST_DIR: &str = env!("CARGO_MANIFEST_DIR");

#[test]
fn a_clone_alone_passes_the_readme_test_command_and_serves() {
    let readme = std::fs::read_to_string(Path::new(MANIFEST_DIR).join("README.md")).unwrap();
    assert!(
        readme.contains("scripts/test"),
        "README.md names scripts/test as the test command"
    );
    assert!(
        readme.contains("cargo run -- serve"),
        "README.md names `cargo run -- serve` as the first command"
    );

    let workspace = tempfile::tempdir().unwrap();
    let clone = workspace.path().join("fedora-ci");
    run_ok(
        Command::new("git")
            .args(["clone", "--quiet", "--no-hardlinks", MANIFEST_DIR])
            .arg(&clone),
    );
    let beside: Vec<_> = std::fs::read_dir(workspace.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name())
        .collect();
    assert_eq!(beside, ["fedora-ci"], "nothing lies beside the clone");

    let target = fresh_target_dir();
    let output = in_clone(&clone, &target, "bash")
        .arg("scripts/test")
        .args(SUBSET)
        .output()
        .unwrap();
    let printed = printed(&output);
    assert!(output.status.success(), "scripts/test failed:\n{printed}");
    let passed = printed.matches("test result: ok.").count();
    assert_eq!(
        passed,
        SUBSET.len() / 2,
        "each test binary of the subset ran and passed:\n{printed}"
    );

    serves_with_cargo_run(&clone, &target);
}

/// `cargo run -- serve` in the clone answers on `/api/healthz` and stops cleanly on SIGTERM.
fn serves_with_cargo_run(clone: &Path, target: &Path) {
    let port = free_port();
    let bind = format!("127.0.0.1:{port}");
    let mut serve = in_clone(clone, target, "cargo")
        .args(["run", "--quiet", "--", "serve", "--bind", &bind])
        // Fedora's public broker is not reachable from a test machine.
        .env("FEDORA_CI_MESSAGING__ENABLED", "false")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(600);
    let answer = loop {
        if let Some(answer) = http_get(&bind, "/api/healthz")
            && answer.starts_with("HTTP/1.1 200")
        {
            break answer;
        }
        if let Ok(Some(status)) = serve.try_wait() {
            let mut stderr = String::new();
            serve
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut stderr)
                .ok();
            panic!("cargo run -- serve exited with {status}:\n{stderr}");
        }
        assert!(
            Instant::now() < deadline,
            "cargo run -- serve did not answer on {bind}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(answer.contains("\"status\""), "health answer: {answer}");
    // `cargo run` replaces itself with the program, so this is the service's own pid.
    run_ok(Command::new("kill").args(["-TERM", &serve.id().to_string()]));
    let status = serve.wait().unwrap();
    assert!(status.success(), "serve stopped on SIGTERM with {status}");
}

/// A command run in the clone, building into `target`, without this test's own cargo
/// environment (the clone is another package).
fn in_clone(clone: &Path, target: &Path, program: &str) -> Command {
    let mut command = Command::new(program);
    command.current_dir(clone).env("CARGO_TARGET_DIR", target);
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy().into_owned();
        if key.starts_with("CARGO_PKG_")
            || key.starts_with("CARGO_BIN_EXE_")
            || [
                "CARGO_MANIFEST_DIR",
                "CARGO_MANIFEST_PATH",
                "CARGO_CRATE_NAME",
            ]
            .contains(&&*key)
            || key == "FEDORA_CI_CONFIG"
        {
            command.env_remove(key);
        }
    }
    // The Python packages the tests drive are a download cache, not part of the checkout.
    // (Not a FEDORA_CI_* variable: those are configuration keys of the service.)
    command.env(
        "TEST_PYTHON_VENV",
        std::env::var_os("TEST_PYTHON_VENV")
            .map_or_else(|| this_target_dir().join("python-venv"), PathBuf::from),
    );
    command
}

/// This build's target directory: the test runs as `<target>/debug/deps/fresh_clone-…`.
fn this_target_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.ancestors().nth(3).unwrap().to_path_buf()
}

/// `<target>/fresh-clone`, whose `debug/` starts as hard links to this build's `debug/`: the
/// dependencies' artifacts are found fresh, the clone's own crate (another path, so other
/// artifact names) is compiled anew. Hard links are never written through: cargo replaces
/// files it produces.
fn fresh_target_dir() -> PathBuf {
    let own = this_target_dir();
    let fresh = own.join("fresh-clone");
    if !fresh.join("debug").exists() {
        std::fs::create_dir_all(&fresh).unwrap();
        let seeding = fresh.join("debug.seeding");
        let _ = std::fs::remove_dir_all(&seeding);
        run_ok(
            Command::new("cp")
                .arg("-al")
                .arg(own.join("debug"))
                .arg(&seeding),
        );
        let _ = std::fs::remove_dir_all(seeding.join("incremental"));
        std::fs::rename(&seeding, fresh.join("debug")).unwrap();
    }
    fresh
}

fn run_ok(command: &mut Command) {
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{command:?} failed:\n{}",
        printed(&output)
    );
}

fn printed(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The whole answer to a plain HTTP/1.1 GET, or None while nothing listens.
fn http_get(address: &str, path: &str) -> Option<String> {
    let mut stream = TcpStream::connect(address).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    Some(answer)
}

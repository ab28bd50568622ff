//! Every fuzz seed and every input that once broke a parser, run through the same checks as
//! the fuzz targets (`fuzz/src/lib.rs`), so plain `cargo test` keeps them fixed without
//! cargo-fuzz or a nightly toolchain.
//!
//! A new finding goes into `tests/fuzz_regressions/<target>/` under a name that says what it
//! broke; `docs/reliability.md` lists them.

#[path = "../fuzz/src/lib.rs"]
mod harness;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

fn inputs_in(directory: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(directory) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|entry| {
            entry
                .unwrap_or_else(|error| panic!("{}: {error}", directory.display()))
                .path()
        })
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    files
}

/// Runs `target`'s check on its seeds and regressions; fails naming every input that fails.
fn run(target: &str) {
    let (_, check) = harness::TARGETS
        .iter()
        .find(|(name, _)| *name == target)
        .unwrap_or_else(|| panic!("no fuzz target {target}"));
    let seeds = inputs_in(&Path::new("fuzz/seeds").join(target));
    assert!(!seeds.is_empty(), "fuzz/seeds/{target} has no seeds");
    let regressions = inputs_in(&Path::new("tests/fuzz_regressions").join(target));
    let failures: Vec<String> = seeds
        .iter()
        .chain(&regressions)
        .filter(|path| {
            let data = std::fs::read(path)
                .unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()));
            catch_unwind(AssertUnwindSafe(|| check(&data))).is_err()
        })
        .map(|path| path.display().to_string())
        .collect();
    assert!(failures.is_empty(), "{target} fails on {failures:#?}");
}

#[test]
fn every_target_has_a_test_here() {
    let tested = [
        "message",
        "envelope",
        "testing_farm_webhook",
        "comment_command",
        "xmlrpc_response",
        "xmlrpc_call",
        "config",
    ];
    let targets: Vec<&str> = harness::TARGETS.iter().map(|(name, _)| *name).collect();
    assert_eq!(targets, tested);
    let loose = inputs_in(Path::new("tests/fuzz_regressions"));
    assert!(loose.is_empty(), "not in a target's directory: {loose:?}");
}

#[test]
fn message() {
    run("message");
}

#[test]
fn envelope() {
    run("envelope");
}

#[test]
fn testing_farm_webhook() {
    run("testing_farm_webhook");
}

#[test]
fn comment_command() {
    run("comment_command");
}

#[test]
fn xmlrpc_response() {
    run("xmlrpc_response");
}

#[test]
fn xmlrpc_call() {
    run("xmlrpc_call");
}

#[test]
fn config() {
    run("config");
}

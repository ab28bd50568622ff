//! Contract with the publishers' message schemas (PyPI pagure-messages,
//! koji-fedoramessaging-messages, webhook-to-fedora-messaging-messages): the fixture bodies our
//! parsers rely on must validate, and the fields we require must be required upstream too.
//! See contract/validate_fixtures.py.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/python.rs"]
mod python_env;

#[test]
fn fixtures_match_the_upstream_message_schemas() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/contract/validate_fixtures.py");
    let output = std::process::Command::new(python_env::python())
        .arg(script)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains(" passed, 0 failed"), "{stdout}");
}

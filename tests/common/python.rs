//! The Python interpreter for tests that drive code nobody here wrote (PyPI koji, ogr, the
//! publishers' message schemas): `$TEST_PYTHON` if set, else the virtualenv that
//! `tests/python/ensure-venv` creates on first use.

use std::sync::OnceLock;

pub fn python() -> String {
    static PYTHON: OnceLock<String> = OnceLock::new();
    PYTHON
        .get_or_init(|| {
            if let Ok(python) = std::env::var("TEST_PYTHON") {
                return python;
            }
            let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/ensure-venv");
            let output = std::process::Command::new(script)
                .output()
                .unwrap_or_else(|error| panic!("cannot run {script}: {error}"));
            assert!(
                output.status.success(),
                "{script} failed (it needs python3 with venv and PyPI):\n{}",
                String::from_utf8_lossy(&output.stderr)
            );
            String::from_utf8_lossy(&output.stdout).trim().to_owned()
        })
        .clone()
}

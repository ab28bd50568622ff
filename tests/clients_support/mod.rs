//! Helpers shared by the client test files.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use fedora_ci::secret::Secret;
use serde_json::Value as Json;

pub const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
pub const HUB_CALLS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/protocols/koji/hub-calls.build-task-8982172.json"
);

pub fn read_fixture(relative_path: &str) -> Json {
    let path = format!("{FIXTURES}/{relative_path}");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{path}: {error}"));
    serde_json::from_str(&text).unwrap()
}

pub fn recorded_hub_calls() -> Vec<Json> {
    read_fixture("protocols/koji/hub-calls.build-task-8982172.json")
        .as_array()
        .unwrap()
        .clone()
}

#[path = "../common/python.rs"]
mod python_env;
pub use python_env::python;

pub fn conformance_script(name: &str) -> String {
    format!("{}/tests/conformance/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// Runs a conformance script with `args`; it must succeed and print one JSON object.
pub async fn run_conformance_script(name: &str, args: &[&str]) -> Json {
    let output = tokio::process::Command::new(python())
        .arg(conformance_script(name))
        .args(args)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{name} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(stdout.trim()).unwrap()
}

/// Panics with instructions unless the test interpreter can import `module`.
pub fn require_python_module(module: &str) {
    let imported = std::process::Command::new(python())
        .args(["-c", &format!("import {module}")])
        .status()
        .is_ok_and(|status| status.success());
    assert!(
        imported,
        "{} cannot import {module}: see tests/python/requirements.txt",
        python()
    );
}

/// A throwaway self-signed certificate and PKCS#8 key, as the Koji client wants them.
pub fn test_certificate() -> (Vec<u8>, Secret) {
    use openssl::{asn1::Asn1Time, hash::MessageDigest, pkey::PKey, rsa::Rsa, x509};
    let key = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
    let mut name = x509::X509NameBuilder::new().unwrap();
    name.append_entry_by_text("CN", "packit").unwrap();
    let name = name.build();
    let mut builder = x509::X509Builder::new().unwrap();
    builder.set_version(2).unwrap();
    builder.set_subject_name(&name).unwrap();
    builder.set_issuer_name(&name).unwrap();
    builder.set_pubkey(&key).unwrap();
    builder
        .set_not_before(&Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    builder
        .set_not_after(&Asn1Time::days_from_now(1).unwrap())
        .unwrap();
    builder.sign(&key, MessageDigest::sha256()).unwrap();
    let certificate = builder.build().to_pem().unwrap();
    let private_key = String::from_utf8(key.private_key_to_pem_pkcs8().unwrap()).unwrap();
    (certificate, Secret::new(private_key))
}

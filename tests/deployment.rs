//! `files/run_worker.sh`, the image's entry point, run without a container: stub `fedora-ci`
//! and `kinit` programs first on PATH record the argv and environment they were started with.
//!
//! Also checks the deployment's configurations with `fedora-ci check-config`, and that the
//! playbook binds the listener's queue to the topics the listener reads.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tempfile::TempDir;

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/files/run_worker.sh");

/// Records its PID, argv (one per line) and environment, then exits with $STUB_EXIT.
const FEDORA_CI_STUB: &str = r#"#!/bin/sh
echo "$$" > "$STUB_OUT/fedora-ci.pid"
printf '%s\n' "$@" > "$STUB_OUT/fedora-ci.argv"
env > "$STUB_OUT/fedora-ci.env"
exit "${STUB_EXIT:-0}"
"#;

/// Appends its argv (one line per call) and exits with $KINIT_EXIT.
const KINIT_STUB: &str = r#"#!/bin/sh
echo "$*" >> "$STUB_OUT/kinit.calls"
exit "${KINIT_EXIT:-0}"
"#;

struct Run {
    output: Output,
    pid: u32,
    out: PathBuf,
}

impl Run {
    fn success(&self) -> bool {
        self.output.status.success()
    }

    fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }

    /// The argv the stub `fedora-ci` got, or None when it never ran.
    fn argv(&self) -> Option<Vec<String>> {
        let text = fs::read_to_string(self.out.join("fedora-ci.argv")).ok()?;
        Some(text.lines().map(str::to_owned).collect())
    }

    fn env(&self, name: &str) -> Option<String> {
        let text = fs::read_to_string(self.out.join("fedora-ci.env")).ok()?;
        text.lines()
            .find_map(|line| line.strip_prefix(&format!("{name}=")).map(str::to_owned))
    }

    fn kinit_calls(&self) -> Vec<String> {
        fs::read_to_string(self.out.join("kinit.calls"))
            .map(|text| text.lines().map(str::to_owned).collect())
            .unwrap_or_default()
    }

    fn stub_pid(&self) -> Option<u32> {
        fs::read_to_string(self.out.join("fedora-ci.pid"))
            .ok()?
            .trim()
            .parse()
            .ok()
    }
}

struct Harness {
    dir: TempDir,
}

impl Harness {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let bin = dir.path().join("bin");
        fs::create_dir(&bin).expect("bin dir");
        fs::create_dir(dir.path().join("out")).expect("out dir");
        for (name, text) in [("fedora-ci", FEDORA_CI_STUB), ("kinit", KINIT_STUB)] {
            let path = bin.join(name);
            fs::write(&path, text).expect("stub");
            fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).expect("chmod");
        }
        Harness { dir }
    }

    fn keytab(&self) -> PathBuf {
        let path = self.dir.path().join("fedora-ci.keytab");
        fs::write(&path, b"not a real keytab").expect("keytab");
        path
    }

    /// Runs the script with only `env` (plus PATH and STUB_OUT) in its environment.
    fn run(&self, env: &[(&str, &str)], args: &[&str]) -> Run {
        let out = self.dir.path().join("out");
        let path = format!("{}:/usr/bin:/bin", self.dir.path().join("bin").display());
        let child = Command::new("bash")
            .arg(SCRIPT)
            .args(args)
            .env_clear()
            .env("PATH", path)
            .env("STUB_OUT", &out)
            .envs(env.iter().copied())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("bash runs");
        let pid = child.id();
        let output = child.wait_with_output().expect("script finishes");
        Run { output, pid, out }
    }
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

#[test]
fn each_role_execs_its_subcommand() {
    for role in [
        "api",
        "listen",
        "serve",
        "worker",
        "migrate",
        "check-config",
    ] {
        let harness = Harness::new();
        let run = harness.run(&[("ROLE", role)], &[]);
        assert!(run.success(), "{role}: {}", run.stderr());
        assert_eq!(run.argv(), Some(strings(&[role])), "{role}");
        assert!(run.kinit_calls().is_empty(), "{role}: no keytab, no kinit");
    }
}

#[test]
fn the_binary_replaces_the_shell() {
    let harness = Harness::new();
    let run = harness.run(&[("ROLE", "api")], &[]);
    assert!(run.success(), "{}", run.stderr());
    // exec keeps the PID: the process the test started is the one that ran fedora-ci,
    // so SIGTERM sent to the container's PID 1 reaches the binary.
    assert_eq!(run.stub_pid(), Some(run.pid));
}

#[test]
fn the_binarys_exit_status_is_the_scripts() {
    let harness = Harness::new();
    let run = harness.run(&[("ROLE", "worker"), ("STUB_EXIT", "3")], &[]);
    assert_eq!(run.output.status.code(), Some(3));
}

#[test]
fn arguments_follow_the_role() {
    let harness = Harness::new();
    let run = harness.run(&[("ROLE", "api")], &["--bind", "0.0.0.0:9000"]);
    assert!(run.success(), "{}", run.stderr());
    assert_eq!(
        run.argv(),
        Some(strings(&["api", "--bind", "0.0.0.0:9000"]))
    );
}

#[test]
fn worker_queues_with_their_own_concurrency() {
    let harness = Harness::new();
    let run = harness.run(&[("ROLE", "worker"), ("QUEUES", "short=16")], &[]);
    assert!(run.success(), "{}", run.stderr());
    assert_eq!(
        run.argv(),
        Some(strings(&["worker", "--queue", "short=16"]))
    );
}

#[test]
fn worker_queues_take_concurrency_from_the_environment() {
    let harness = Harness::new();
    let run = harness.run(
        &[
            ("ROLE", "worker"),
            ("QUEUES", " long, short=8 ,"),
            ("CONCURRENCY", "4"),
        ],
        &[],
    );
    assert!(run.success(), "{}", run.stderr());
    assert_eq!(
        run.argv(),
        Some(strings(&[
            "worker", "--queue", "long=4", "--queue", "short=8"
        ]))
    );
}

#[test]
fn queues_are_ignored_by_other_roles() {
    let harness = Harness::new();
    let run = harness.run(&[("ROLE", "listen"), ("QUEUES", "short=16")], &[]);
    assert!(run.success(), "{}", run.stderr());
    assert_eq!(run.argv(), Some(strings(&["listen"])));
}

#[test]
fn bad_queues_are_refused_before_start() {
    for (queues, concurrency, message) in [
        ("short", None, "gives no concurrency"),
        ("short=abc", None, "is not a whole number"),
        ("short=0", None, "is not a whole number"),
        ("short", Some("-1"), "is not a whole number"),
        ("=4", None, "is not a queue name"),
        ("a b=1", None, "is not a queue name"),
    ] {
        let harness = Harness::new();
        let mut env = vec![("ROLE", "worker"), ("QUEUES", queues)];
        if let Some(concurrency) = concurrency {
            env.push(("CONCURRENCY", concurrency));
        }
        let run = harness.run(&env, &[]);
        assert_eq!(
            run.output.status.code(),
            Some(2),
            "{queues}: {}",
            run.stderr()
        );
        assert!(run.stderr().contains(message), "{queues}: {}", run.stderr());
        assert_eq!(run.argv(), None, "{queues}: fedora-ci must not start");
    }
}

#[test]
fn worker_gets_a_kerberos_ticket_from_the_keytab() {
    let harness = Harness::new();
    let keytab = harness.keytab();
    let keytab = keytab.to_str().expect("utf-8 path");
    let run = harness.run(
        &[
            ("ROLE", "worker"),
            ("QUEUES", "long=4"),
            ("FEDORA_CI_KEYTAB_PATH", keytab),
            ("FEDORA_CI_FAS_USER", "fedora-ci"),
        ],
        &[],
    );
    assert!(run.success(), "{}", run.stderr());
    assert_eq!(
        run.kinit_calls(),
        vec![format!("-k -t {keytab} fedora-ci@FEDORAPROJECT.ORG")]
    );
    assert_eq!(run.argv(), Some(strings(&["worker", "--queue", "long=4"])));
    assert_eq!(
        run.env("KRB5CCNAME").as_deref(),
        Some("FILE:/tmp/krb5cc_fedora-ci")
    );
    assert_eq!(run.env("KRB5_CLIENT_KTNAME").as_deref(), Some(keytab));
    // The configuration overrides reach the binary unchanged.
    assert_eq!(run.env("FEDORA_CI_KEYTAB_PATH").as_deref(), Some(keytab));
}

#[test]
fn serve_gets_a_ticket_for_an_explicit_principal_and_realm() {
    let harness = Harness::new();
    let keytab = harness.keytab();
    let keytab = keytab.to_str().expect("utf-8 path");
    for (env, principal) in [
        (
            vec![
                ("FEDORA_CI_FAS_USER", "fedora-ci-stg"),
                ("FEDORA_CI_KERBEROS_REALM", "STG.FEDORAPROJECT.ORG"),
            ],
            "fedora-ci-stg@STG.FEDORAPROJECT.ORG",
        ),
        (
            vec![
                ("FEDORA_CI_FAS_USER", "ignored"),
                (
                    "KRB5_PRINCIPAL",
                    "fedora-ci/fedora-ci.fedoraproject.org@FEDORAPROJECT.ORG",
                ),
                ("KRB5CCNAME", "DIR:/tmp/kerberos"),
            ],
            "fedora-ci/fedora-ci.fedoraproject.org@FEDORAPROJECT.ORG",
        ),
    ] {
        let mut env = env;
        env.push(("ROLE", "serve"));
        env.push(("FEDORA_CI_KEYTAB_PATH", keytab));
        let run = harness.run(&env, &[]);
        assert!(run.success(), "{}", run.stderr());
        assert_eq!(
            run.kinit_calls().last().cloned(),
            Some(format!("-k -t {keytab} {principal}"))
        );
        assert_eq!(run.argv(), Some(strings(&["serve"])));
    }
    let run = harness.run(
        &[
            ("ROLE", "serve"),
            ("FEDORA_CI_KEYTAB_PATH", keytab),
            ("FEDORA_CI_FAS_USER", "x"),
            ("KRB5CCNAME", "DIR:/tmp/kerberos"),
        ],
        &[],
    );
    assert_eq!(run.env("KRB5CCNAME").as_deref(), Some("DIR:/tmp/kerberos"));
}

#[test]
fn roles_without_koji_calls_skip_kinit() {
    let harness = Harness::new();
    let keytab = harness.keytab();
    for role in ["api", "listen", "migrate"] {
        let run = harness.run(
            &[
                ("ROLE", role),
                (
                    "FEDORA_CI_KEYTAB_PATH",
                    keytab.to_str().expect("utf-8 path"),
                ),
                ("FEDORA_CI_FAS_USER", "fedora-ci"),
            ],
            &[],
        );
        assert!(run.success(), "{role}: {}", run.stderr());
        assert!(run.kinit_calls().is_empty(), "{role}");
        assert_eq!(run.env("KRB5_CLIENT_KTNAME"), None, "{role}");
    }
}

#[test]
fn a_failing_kinit_is_retried_then_stops_the_start() {
    let harness = Harness::new();
    let keytab = harness.keytab();
    let run = harness.run(
        &[
            ("ROLE", "worker"),
            (
                "FEDORA_CI_KEYTAB_PATH",
                keytab.to_str().expect("utf-8 path"),
            ),
            ("FEDORA_CI_FAS_USER", "fedora-ci"),
            ("KINIT_EXIT", "1"),
            ("KINIT_RETRY_DELAY", "0"),
        ],
        &[],
    );
    assert_eq!(run.output.status.code(), Some(2));
    assert_eq!(run.kinit_calls().len(), 3);
    assert!(
        run.stderr()
            .contains("cannot get a Kerberos ticket for fedora-ci@FEDORAPROJECT.ORG")
    );
    assert_eq!(run.argv(), None);
}

#[test]
fn a_keytab_needs_a_principal_and_must_exist() {
    let harness = Harness::new();
    let keytab = harness.keytab();
    let run = harness.run(
        &[
            ("ROLE", "worker"),
            (
                "FEDORA_CI_KEYTAB_PATH",
                keytab.to_str().expect("utf-8 path"),
            ),
        ],
        &[],
    );
    assert_eq!(run.output.status.code(), Some(2));
    assert!(
        run.stderr()
            .contains("neither KRB5_PRINCIPAL nor FEDORA_CI_FAS_USER"),
        "{}",
        run.stderr()
    );

    let missing = harness.dir.path().join("missing.keytab");
    let run = harness.run(
        &[
            ("ROLE", "worker"),
            (
                "FEDORA_CI_KEYTAB_PATH",
                missing.to_str().expect("utf-8 path"),
            ),
            ("FEDORA_CI_FAS_USER", "fedora-ci"),
        ],
        &[],
    );
    assert_eq!(run.output.status.code(), Some(2));
    assert!(
        run.stderr().contains("is not a readable file"),
        "{}",
        run.stderr()
    );
    assert_eq!(run.argv(), None);
}

#[test]
fn an_unknown_or_missing_role_is_a_clear_error() {
    let harness = Harness::new();
    let run = harness.run(&[("ROLE", "scheduler")], &[]);
    assert_eq!(run.output.status.code(), Some(2));
    assert_eq!(
        run.stderr(),
        "run_worker.sh: unknown ROLE 'scheduler'; expected one of: api, worker, listen, serve, migrate, check-config\n"
    );
    assert_eq!(run.argv(), None);

    let run = harness.run(&[], &[]);
    assert_eq!(run.output.status.code(), Some(2));
    assert!(run.stderr().contains("ROLE is not set"), "{}", run.stderr());
    assert_eq!(run.argv(), None);
}

/// The configuration files the deployment ships, rendered for each environment.
fn deployment_configs() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut configs = vec![root.join("deploy/compose/fedora-ci.toml")];
    for env in ["staging", "production"] {
        let dir = root.join("openshift").join(env);
        let mut rendered: Vec<PathBuf> = fs::read_dir(&dir)
            .unwrap_or_else(|error| panic!("{}: {error}", dir.display()))
            .map(|entry| entry.expect("dir entry").path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "toml"))
            .collect();
        assert!(
            !rendered.is_empty(),
            "no rendered config in {}",
            dir.display()
        );
        configs.append(&mut rendered);
    }
    configs
}

#[test]
fn deployment_configs_pass_check_config() {
    let binary = env!("CARGO_BIN_EXE_fedora-ci");
    for config in deployment_configs() {
        // Secrets reach the pods as FEDORA_CI_<KEY>_FILE variables of the Deployment that
        // mounts them, never through the shared configuration.
        let text = fs::read_to_string(&config).expect("config readable");
        assert!(
            !text.contains("_file"),
            "{}: secret file paths belong in the Deployments",
            config.display()
        );
        let output = Command::new(binary)
            .args([
                "--config",
                config.to_str().expect("utf-8 path"),
                "check-config",
            ])
            .env_clear()
            .output()
            .expect("fedora-ci runs");
        assert!(
            output.status.success(),
            "{}: {}",
            config.display(),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

/// In Fedora infra the playbook (rabbit/queue) binds the listener's queue; it must bind
/// what the listener itself would.
#[test]
fn the_playbook_binds_the_listeners_topics() {
    let playbook = fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/ansible/playbooks/openshift-apps/fedora-ci.yml"
    ))
    .expect("playbook readable");
    let prefix = "org.fedoraproject.{{ env_short }}";
    let mut bound: Vec<String> = playbook
        .lines()
        .filter_map(|line| line.trim().strip_prefix("- \""))
        .filter_map(|key| key.strip_suffix('"'))
        .filter(|key| key.starts_with(prefix))
        .map(str::to_owned)
        .collect();
    let identity = fedora_ci::events::Identity::new(prefix, "packit");
    let mut wanted = fedora_ci::listener::routing_keys(prefix, &identity);
    bound.sort();
    wanted.sort();
    assert_eq!(bound, wanted);
}

/// Each stage of the Containerfile: its `FROM` line and the instructions after it.
fn containerfile_stages() -> Vec<(String, Vec<String>)> {
    let text = fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Containerfile")).unwrap();
    let mut stages: Vec<(String, Vec<String>)> = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.starts_with("FROM ") {
            stages.push((line.to_owned(), Vec::new()));
        } else if let Some((_, instructions)) = stages.last_mut()
            && !line.is_empty()
            && !line.starts_with('#')
        {
            instructions.push(line.to_owned());
        }
    }
    stages
}

#[test]
fn the_images_run_as_a_numeric_non_root_user() {
    let stages = containerfile_stages();
    let images: Vec<&(String, Vec<String>)> = stages
        .iter()
        .filter(|(from, _)| from.ends_with(" AS service") || from.ends_with(" AS fakes"))
        .collect();
    assert_eq!(images.len(), 2, "{stages:?}");
    // The service image is what `podman build .` makes: the last stage.
    assert!(stages.last().unwrap().0.ends_with(" AS service"));
    for (from, instructions) in images {
        let user = instructions
            .iter()
            .rev()
            .find_map(|line| line.strip_prefix("USER "))
            .unwrap_or_else(|| panic!("{from}: no USER"));
        // Numeric, so that Kubernetes' runAsNonRoot can verify it without /etc/passwd.
        let uid: u32 = user
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{from}: USER {user} is not numeric"));
        assert_ne!(uid, 0, "{from} runs as root");
        let entrypoint = instructions
            .iter()
            .position(|line| line.starts_with("ENTRYPOINT"))
            .unwrap();
        let user_at = instructions
            .iter()
            .rposition(|line| line.starts_with("USER "))
            .unwrap();
        assert!(user_at < entrypoint, "{from}: USER after ENTRYPOINT");
    }
    // OpenShift refuses to start the pods as root on top of that.
    for env in ["staging", "production"] {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("openshift")
            .join(env);
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if name.starts_with("deployment-") {
                let text = fs::read_to_string(&path).unwrap();
                assert!(text.contains("runAsNonRoot: true"), "{}", path.display());
                assert!(!text.contains("runAsUser: 0"), "{}", path.display());
            }
        }
    }
}

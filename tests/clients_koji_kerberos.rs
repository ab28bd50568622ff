//! Kerberos login of the Koji client against a real MIT KDC and a hub that accepts SPNEGO.
//!
//! Each test makes a throwaway realm in a temporary directory (`kdb5_util`, `kadmin.local`),
//! runs `krb5kdc` on a free port, and starts `tests/conformance/xmlrpc_hub.py --gssapi`,
//! which accepts the token with python-gssapi and the service keytab. libkrb5 is configured
//! only through the environment (`KRB5_CONFIG`, `KRB5_CLIENT_KTNAME`, `KRB5CCNAME`), which
//! this crate cannot change in its own process, so the client runs in a child: this test
//! binary again, running `with_kerberos::client_in_child` alone.
//!
//! Needs the `kerberos` feature and Debian's `krb5-kdc krb5-admin-server python3-gssapi`
//! (`.ci/run` installs them): `cargo test --features kerberos --test clients_koji_kerberos`.
//! The hub's interpreter is `TEST_KERBEROS_PYTHON` [default: `/usr/bin/python3`, Debian's,
//! where `python3-gssapi` installs].

// Helpers outside #[test] functions unwrap too; a panic is a test failure here.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use fedora_ci::clients::koji::{KojiClientOptions, KojiCredentials, KojiHubClient};

#[cfg(not(feature = "kerberos"))]
#[test]
fn without_the_feature_kerberos_credentials_are_refused_by_name() {
    eprintln!(
        "\n*** SKIPPED: the Kerberos login tests against a real KDC need the `kerberos` feature:\n\
         ***   cargo test --features kerberos --test clients_koji_kerberos\n"
    );
    let credentials = KojiCredentials::Kerberos {
        principal: Some("fedora-ci@FEDORAPROJECT.ORG".into()),
        keytab: None,
    };
    let error = KojiHubClient::new(
        "https://koji.example/kojihub",
        credentials,
        KojiClientOptions::default(),
    )
    .unwrap_err();
    assert!(
        error.to_string().contains("`kerberos` cargo feature"),
        "{error}"
    );
}

#[cfg(feature = "kerberos")]
mod with_kerberos {
    use super::*;
    use fedora_ci::clients::RetryPolicy;
    use fedora_ci::clients::Transient;
    use fedora_ci::clients::koji::KojiError;
    use serde_json::{Map, Value as Json, json};
    use std::io::{BufRead, BufReader};
    use std::net::TcpListener;
    use std::path::{Path, PathBuf};
    use std::process::{Child, Command, Stdio};
    use std::time::{Duration, Instant};

    const REALM: &str = "FEDORA-CI.TEST";
    const CLIENT: &str = "fedora-ci@FEDORA-CI.TEST";
    const SERVICE: &str = "HTTP/127.0.0.1@FEDORA-CI.TEST";
    const SOURCE: &str = "git+https://src.fedoraproject.org/rpms/optee_os.git#889f07af35d27bbcaf9c535c17a63b974aa42ee3";
    const CHILD_TEST: &str = "with_kerberos::client_in_child";
    const RESULT_PREFIX: &str = "KERBEROS-CHILD-RESULT ";

    /// A KDC of its own realm, stopped and deleted on drop.
    struct Realm {
        directory: tempfile::TempDir,
        kdc: Child,
        krb5_conf: PathBuf,
    }

    fn free_port() -> u16 {
        TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    }

    /// Debian keeps the KDC programs in /usr/sbin, which a non-root PATH may lack.
    fn sbin(program: &str) -> PathBuf {
        let path = Path::new("/usr/sbin").join(program);
        if path.exists() {
            path
        } else {
            PathBuf::from(program)
        }
    }

    fn krb5_conf_for(directory: &Path, port: u16) -> String {
        format!(
            "[libdefaults]\n default_realm = {REALM}\n dns_lookup_kdc = false\n \
             dns_lookup_realm = false\n dns_canonicalize_hostname = false\n rdns = false\n \
             udp_preference_limit = 1\n default_ccache_name = FILE:{dir}/ccache-default\n\
             [realms]\n {REALM} = {{\n  kdc = 127.0.0.1:{port}\n }}\n",
            dir = directory.display()
        )
    }

    impl Realm {
        fn start() -> Realm {
            let directory = tempfile::tempdir().unwrap();
            let dir = directory.path();
            let port = free_port();
            let krb5_conf = dir.join("krb5.conf");
            std::fs::write(&krb5_conf, krb5_conf_for(dir, port)).unwrap();
            let kdc_conf = dir.join("kdc.conf");
            std::fs::write(
                &kdc_conf,
                format!(
                    "[kdcdefaults]\n kdc_ports = {port}\n kdc_tcp_ports = {port}\n\
                     [realms]\n {REALM} = {{\n  database_name = {d}/principal\n  \
                     key_stash_file = {d}/stash\n  acl_file = {d}/kadm5.acl\n  \
                     kdc_ports = {port}\n  kdc_tcp_ports = {port}\n }}\n\
                     [logging]\n kdc = FILE:{d}/kdc.log\n",
                    d = dir.display()
                ),
            )
            .unwrap();
            let admin = |program: &str, args: &[&str]| {
                let output = Command::new(sbin(program))
                    .args(args)
                    .env("KRB5_CONFIG", &krb5_conf)
                    .env("KRB5_KDC_PROFILE", &kdc_conf)
                    .stdin(Stdio::null())
                    .output()
                    .unwrap_or_else(|error| {
                        panic!("{program} ({error}): install krb5-kdc and krb5-admin-server")
                    });
                assert!(
                    output.status.success(),
                    "{program} {args:?}: {}{}",
                    String::from_utf8_lossy(&output.stdout),
                    String::from_utf8_lossy(&output.stderr)
                );
            };
            admin(
                "kdb5_util",
                &["-r", REALM, "create", "-s", "-P", "throwaway-master-key"],
            );
            for query in [
                format!("addprinc -randkey {CLIENT}"),
                format!("addprinc -randkey {SERVICE}"),
                format!("ktadd -k {}/client.keytab {CLIENT}", dir.display()),
                format!("ktadd -k {}/service.keytab {SERVICE}", dir.display()),
            ] {
                admin("kadmin.local", &["-r", REALM, "-q", &query]);
            }
            let kdc = Command::new(sbin("krb5kdc"))
                .args(["-n", "-r", REALM])
                .env("KRB5_CONFIG", &krb5_conf)
                .env("KRB5_KDC_PROFILE", &kdc_conf)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("krb5kdc: install krb5-kdc");
            let realm = Realm {
                directory,
                kdc,
                krb5_conf,
            };
            let deadline = Instant::now() + Duration::from_secs(20);
            while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
                assert!(
                    Instant::now() < deadline,
                    "krb5kdc does not listen on {port}: {}",
                    std::fs::read_to_string(realm.path("kdc.log")).unwrap_or_default()
                );
                std::thread::sleep(Duration::from_millis(50));
            }
            realm
        }

        fn path(&self, name: &str) -> PathBuf {
            self.directory.path().join(name)
        }

        /// A krb5.conf of the same realm whose KDC address nobody listens on.
        fn unreachable_krb5_conf(&self) -> PathBuf {
            let path = self.path("krb5-unreachable.conf");
            std::fs::write(&path, krb5_conf_for(self.directory.path(), free_port())).unwrap();
            path
        }
    }

    impl Drop for Realm {
        fn drop(&mut self) {
            let _ = self.kdc.kill();
            let _ = self.kdc.wait();
        }
    }

    /// `xmlrpc_hub.py --gssapi` with the realm's service keytab.
    struct GssapiHub {
        process: Child,
        url: String,
    }

    impl GssapiHub {
        fn start(realm: &Realm) -> GssapiHub {
            let python = std::env::var("TEST_KERBEROS_PYTHON")
                .unwrap_or_else(|_| "/usr/bin/python3".to_owned());
            let mut process = Command::new(&python)
                .arg(format!(
                    "{}/tests/conformance/xmlrpc_hub.py",
                    env!("CARGO_MANIFEST_DIR")
                ))
                .args(["--gssapi", "--recorded-calls"])
                .arg(concat!(
                    env!("CARGO_MANIFEST_DIR"),
                    "/tests/fixtures/protocols/koji/hub-calls.build-task-8982172.json"
                ))
                .env("KRB5_CONFIG", &realm.krb5_conf)
                .env("KRB5_KTNAME", realm.path("service.keytab"))
                .env_remove("KRB5_CLIENT_KTNAME")
                .env(
                    "KRB5CCNAME",
                    format!("FILE:{}", realm.path("ccache-hub").display()),
                )
                .stdout(Stdio::piped())
                .spawn()
                .unwrap_or_else(|error| panic!("{python}: {error}"));
            let mut line = String::new();
            BufReader::new(process.stdout.take().unwrap())
                .read_line(&mut line)
                .unwrap();
            let port = line.trim().strip_prefix("LISTENING ").unwrap_or_else(|| {
                panic!(
                    "the hub did not start (first line {line:?}); {python} needs the gssapi \
                     module: apt-get install python3-gssapi"
                )
            });
            GssapiHub {
                process,
                url: format!("http://127.0.0.1:{port}/kojihub"),
            }
        }

        async fn call(&self, method: &str) -> Json {
            let options = KojiClientOptions {
                retry: RetryPolicy::no_retries(),
                ..KojiClientOptions::default()
            };
            KojiHubClient::new(&self.url, KojiCredentials::Anonymous, options)
                .unwrap()
                .call_anonymous(method, &[], &Map::new())
                .await
                .unwrap()
        }
    }

    impl Drop for GssapiHub {
        fn drop(&mut self) {
            let _ = self.process.kill();
            let _ = self.process.wait();
        }
    }

    /// What the child should do, and the libkrb5 environment it runs in.
    struct ChildRun<'a> {
        mode: &'a str,
        principal: Option<&'a str>,
        keytab: Option<PathBuf>,
        krb5_config: PathBuf,
        client_ktname: PathBuf,
    }

    /// Runs `client_in_child` in a process of its own and returns the JSON it reports.
    fn run_child(realm: &Realm, hub: &GssapiHub, run: ChildRun<'_>) -> Json {
        let mut command = Command::new(std::env::current_exe().unwrap());
        command
            .args([CHILD_TEST, "--exact", "--ignored", "--nocapture"])
            .env("FEDORA_CI_TEST_KERBEROS_MODE", run.mode)
            .env("FEDORA_CI_TEST_KERBEROS_HUB", &hub.url)
            .env("KRB5_CONFIG", &run.krb5_config)
            .env("KRB5_CLIENT_KTNAME", &run.client_ktname)
            .env(
                "KRB5CCNAME",
                format!(
                    "FILE:{}",
                    realm.path(&format!("ccache-{}", run.mode)).display()
                ),
            )
            .env_remove("KRB5_KTNAME");
        match run.principal {
            Some(principal) => command.env("FEDORA_CI_TEST_KERBEROS_PRINCIPAL", principal),
            None => command.env_remove("FEDORA_CI_TEST_KERBEROS_PRINCIPAL"),
        };
        match &run.keytab {
            Some(keytab) => command.env("FEDORA_CI_TEST_KERBEROS_KEYTAB", keytab),
            None => command.env_remove("FEDORA_CI_TEST_KERBEROS_KEYTAB"),
        };
        let output = command.output().unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "child {} failed:\n{stdout}\n{}",
            run.mode,
            String::from_utf8_lossy(&output.stderr)
        );
        let line = stdout
            .lines()
            .find_map(|line| line.strip_prefix(RESULT_PREFIX))
            .unwrap_or_else(|| panic!("child {} reported nothing:\n{stdout}", run.mode));
        eprintln!("child {}: {line}", run.mode);
        serde_json::from_str(line).unwrap()
    }

    fn error_report(error: &KojiError) -> Json {
        json!({
            "error": error.to_string(),
            "kerberos": matches!(error, KojiError::Kerberos { .. }),
            "setup": matches!(error, KojiError::Setup(_)),
            "transient": error.is_transient(),
        })
    }

    /// The client side, run by `run_child` only: it does nothing in an ordinary test run.
    #[tokio::test]
    #[ignore = "run by the other tests of this file, in a process with its own libkrb5 environment"]
    async fn client_in_child() {
        let Ok(mode) = std::env::var("FEDORA_CI_TEST_KERBEROS_MODE") else {
            eprintln!("client_in_child runs only as the child of the Kerberos tests");
            return;
        };
        let hub_url = std::env::var("FEDORA_CI_TEST_KERBEROS_HUB").unwrap();
        let credentials = KojiCredentials::Kerberos {
            principal: std::env::var("FEDORA_CI_TEST_KERBEROS_PRINCIPAL").ok(),
            keytab: std::env::var_os("FEDORA_CI_TEST_KERBEROS_KEYTAB").map(PathBuf::from),
        };
        let options = KojiClientOptions {
            retry: RetryPolicy::no_retries(),
            ..KojiClientOptions::default()
        };
        let report = match KojiHubClient::new(&hub_url, credentials, options) {
            Err(error) => error_report(&error),
            Ok(client) => match mode.as_str() {
                "build" => {
                    let task_id = client
                        .submit_scratch_build(SOURCE, "rawhide")
                        .await
                        .unwrap();
                    // The hub expires the session after a build: this renews it.
                    client.cancel_task(task_id).await.unwrap();
                    let user = client
                        .call_in_session("getLoggedInUser", &[], &Map::new())
                        .await
                        .unwrap();
                    json!({"task_id": task_id, "user": user})
                }
                _ => match client
                    .call_in_session("getLoggedInUser", &[], &Map::new())
                    .await
                {
                    Ok(user) => json!({"user": user}),
                    Err(error) => error_report(&error),
                },
            },
        };
        println!("{RESULT_PREFIX}{report}");
    }

    #[tokio::test]
    async fn logs_in_from_the_client_keytab_and_the_hub_sees_the_principal() {
        let realm = Realm::start();
        let hub = GssapiHub::start(&realm);
        let report = run_child(
            &realm,
            &hub,
            ChildRun {
                mode: "build",
                principal: Some(CLIENT),
                keytab: Some(realm.path("client.keytab")),
                krb5_config: realm.krb5_conf.clone(),
                client_ktname: realm.path("client.keytab"),
            },
        );
        assert_eq!(
            report["user"],
            json!({"name": CLIENT, "krb_principals": [CLIENT]})
        );
        assert_eq!(report["task_id"], json!((1_i64 << 33) + 8));

        let negotiations = hub.call("conformance.negotiations").await;
        let summary: Vec<Json> = negotiations
            .as_array()
            .unwrap()
            .iter()
            .map(|event| json!([event["path"], event["authorization"], event["principal"]]))
            .collect();
        assert_eq!(
            summary,
            vec![
                json!(["/kojihub/ssllogin", null, null]),
                json!(["/kojihub/ssllogin", "Negotiate", CLIENT]),
                json!(["/kojihub/ssllogin", null, null]),
                json!(["/kojihub/ssllogin", "Negotiate", CLIENT]),
            ],
            "login and renewal each answer the 401 challenge with a token: {negotiations}"
        );
        assert!(
            negotiations
                .as_array()
                .unwrap()
                .iter()
                .filter(|event| event["principal"].is_string())
                .all(|event| event["token_mech"] == "2b0601050502"),
            "the token is SPNEGO: {negotiations}"
        );

        let calls = hub.call("conformance.recordedCalls").await;
        let methods: Vec<Json> = calls
            .as_array()
            .unwrap()
            .iter()
            .map(|call| json!([call["path"], call["method"], call["kwargs"]]))
            .collect();
        assert_eq!(
            methods,
            vec![
                json!(["/kojihub/ssllogin", "sslLogin", {"proxyuser": null}]),
                json!(["/kojihub", "build", {}]),
                json!(["/kojihub", "cancelTask", {}]),
                json!(["/kojihub/ssllogin", "sslLogin", {"proxyuser": null, "renew": true, "exclusive": false}]),
                json!(["/kojihub", "cancelTask", {}]),
                json!(["/kojihub", "getLoggedInUser", {}]),
                json!(["/kojihub", "conformance.negotiations", {}]),
            ]
        );
    }

    #[tokio::test]
    async fn without_a_principal_the_keytab_default_one_logs_in() {
        let realm = Realm::start();
        let hub = GssapiHub::start(&realm);
        let report = run_child(
            &realm,
            &hub,
            ChildRun {
                mode: "whoami",
                principal: None,
                keytab: None,
                krb5_config: realm.krb5_conf.clone(),
                client_ktname: realm.path("client.keytab"),
            },
        );
        assert_eq!(report["user"]["name"], CLIENT, "{report}");
    }

    #[tokio::test]
    async fn missing_credentials_an_unknown_principal_and_no_kdc_are_typed_errors() {
        let realm = Realm::start();
        let hub = GssapiHub::start(&realm);
        let run = |mode, principal, keytab: Option<PathBuf>, krb5_config, client_ktname| {
            run_child(
                &realm,
                &hub,
                ChildRun {
                    mode,
                    principal,
                    keytab,
                    krb5_config,
                    client_ktname,
                },
            )
        };

        let unknown = run(
            "unknown-principal",
            Some("nobody@FEDORA-CI.TEST"),
            None,
            realm.krb5_conf.clone(),
            realm.path("client.keytab"),
        );
        assert_eq!(unknown["kerberos"], true, "{unknown}");
        assert_eq!(unknown["transient"], false, "{unknown}");
        assert!(
            unknown["error"]
                .as_str()
                .unwrap()
                .contains("nobody@FEDORA-CI.TEST"),
            "{unknown}"
        );

        let no_credentials = run(
            "no-credentials",
            None,
            None,
            realm.krb5_conf.clone(),
            realm.path("no-such.keytab"),
        );
        assert_eq!(no_credentials["kerberos"], true, "{no_credentials}");
        assert_eq!(no_credentials["transient"], false, "{no_credentials}");

        let missing_keytab = run(
            "missing-keytab",
            Some(CLIENT),
            Some(realm.path("no-such.keytab")),
            realm.krb5_conf.clone(),
            realm.path("no-such.keytab"),
        );
        assert_eq!(missing_keytab["setup"], true, "{missing_keytab}");

        let other_keytab = run(
            "keytab-not-in-environment",
            Some(CLIENT),
            Some(realm.path("client.keytab")),
            realm.krb5_conf.clone(),
            realm.path("service.keytab"),
        );
        assert_eq!(other_keytab["setup"], true, "{other_keytab}");
        assert!(
            other_keytab["error"]
                .as_str()
                .unwrap()
                .contains("KRB5_CLIENT_KTNAME"),
            "{other_keytab}"
        );

        let no_kdc = run(
            "kdc-unreachable",
            Some(CLIENT),
            None,
            realm.unreachable_krb5_conf(),
            realm.path("client.keytab"),
        );
        assert_eq!(no_kdc["kerberos"], true, "{no_kdc}");
        assert_eq!(no_kdc["transient"], true, "{no_kdc}");

        let attempts = hub.call("conformance.negotiations").await;
        assert!(
            attempts
                .as_array()
                .unwrap()
                .iter()
                .all(|event| event["authorization"].is_null()),
            "no token reached the hub: {attempts}"
        );
    }

    #[tokio::test]
    async fn a_hub_that_refuses_the_token_gives_a_typed_error() {
        let realm = Realm::start();
        let hub = GssapiHub::start(&realm);
        // A ticket for a principal of another realm's KDC is nothing the hub's keytab opens:
        // a second realm with the same names but other keys.
        let other = Realm::start();
        let report = run_child(
            &other,
            &hub,
            ChildRun {
                mode: "refused",
                principal: Some(CLIENT),
                keytab: None,
                krb5_config: other.krb5_conf.clone(),
                client_ktname: other.path("client.keytab"),
            },
        );
        assert_eq!(report["kerberos"], true, "{report}");
        assert!(
            report["error"].as_str().unwrap().contains("HTTP 401"),
            "{report}"
        );
        let negotiations = hub.call("conformance.negotiations").await;
        assert!(
            negotiations.as_array().unwrap().iter().any(|event| {
                event["authorization"] == "Negotiate" && event["error"].is_string()
            }),
            "{negotiations}"
        );
    }
}

use super::*;

fn load_text(text: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let dir = tempfile::tempdir().map_err(|source| ConfigError::Read {
        path: PathBuf::from("tempdir"),
        source,
    })?;
    let path = dir.path().join("fedora-ci.toml");
    std::fs::write(&path, text).map_err(|source| ConfigError::Read {
        path: path.clone(),
        source,
    })?;
    let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string()));
    Config::load(Some(&path), env)
}

/// The error as the command line prints it: the whole chain of causes.
fn error_text(result: Result<Config, ConfigError>) -> String {
    match result {
        Ok(config) => panic!("expected an error, got {config:?}"),
        Err(error) => format!("{:#}", anyhow::Error::from(error)),
    }
}

#[test]
fn defaults_run_embedded() -> anyhow::Result<()> {
    let config = Config::from_toml("")?;
    assert_eq!(config.database_url.expose(), "sqlite://fedora-ci.db");
    assert_eq!(config.deployment, Deployment::Dev);
    assert_eq!(config.worker.queues.get("short"), Some(&8));
    assert!(
        config.fedora_ci_run_by_default,
        "Fedora CI is dist-git's default CI"
    );
    Ok(())
}

#[test]
fn the_committed_example_is_valid_as_shipped() -> anyhow::Result<()> {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fedora-ci.example.toml"
    ))?;
    let config = load_text(&text, &[])?;
    assert_eq!(config.deployment, Deployment::Prod);
    assert!(config.pagure_token.is_none(), "it ships without secrets");
    assert!(config.testing_farm_secret.is_none());
    assert_eq!(config.worker.health_bind, "0.0.0.0:8001");
    assert_eq!(config.messaging.health_bind, "0.0.0.0:8002");
    assert!(
        crate::handlers::services::shadow_mode_reason(&config).is_some(),
        "without secrets it runs in shadow mode"
    );
    Ok(())
}

#[test]
fn the_committed_example_takes_its_secrets_when_uncommented() -> anyhow::Result<()> {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fedora-ci.example.toml"
    ))?;
    let secrets = tempfile::tempdir()?;
    for name in ["pagure-token", "testing-farm-secret", "logdetective-token"] {
        std::fs::write(secrets.path().join(name), format!("{name}-value\n"))?;
    }
    let mut uncommented = 0;
    let text: String = text
        .lines()
        .map(|line| {
            let line = match line.strip_prefix("# ") {
                Some(setting) if setting.contains("_file = \"/secrets/") => {
                    uncommented += 1;
                    setting.replace("/secrets/", &format!("{}/", secrets.path().display()))
                }
                _ => line.to_owned(),
            };
            format!("{line}\n")
        })
        .collect();
    assert_eq!(uncommented, 4, "the secret lines are where they were");
    let text = text.replace("sentry_dsn_file", "# sentry_dsn_file");
    let config = Config::from_toml(&text)?;
    assert_eq!(
        config.testing_farm_secret.as_ref().map(Secret::expose),
        Some("testing-farm-secret-value")
    );
    assert_eq!(
        config.pagure_token.as_ref().map(Secret::expose),
        Some("pagure-token-value")
    );
    Ok(())
}

#[test]
fn packit_keys_are_read_with_their_names() -> anyhow::Result<()> {
    let config = Config::from_toml(
        r#"
        deployment = "stg"
        fas_user = "fedora-ci-stg"
        keytab_path = "/secrets/fedora-ci.keytab"
        kerberos_realm = "FEDORAPROJECT.ORG"
        testing_farm_api_url = "https://api.testing-farm.io/v0.1/"
        fedora_ci_run_by_default = true
        [fedora_ci]
        disabled_projects = ["https://src.fedoraproject.org/rpms/kernel"]
        disabled_projects_for_eln = ["https://src.fedoraproject.org/rpms/glibc"]
        "#,
    )?;
    assert_eq!(config.deployment, Deployment::Stg);
    assert_eq!(config.fas_user.as_deref(), Some("fedora-ci-stg"));
    assert_eq!(
        config.fedora_ci.disabled_projects,
        ["https://src.fedoraproject.org/rpms/kernel"]
    );
    Ok(())
}

#[test]
fn an_unknown_key_gets_a_did_you_mean() {
    let text = error_text(load_text("deployment = \"dev\"\nfas_usr = \"x\"\n", &[]));
    assert!(text.contains("config key `fas_usr` (in "), "{text}");
    assert!(
        text.contains("line 2): unknown key; did you mean `fas_user`?"),
        "{text}"
    );
    assert!(!text.contains("expected one of"), "{text}");

    let text = error_text(load_text("kojihub_url = \"https://k.example\"\n", &[]));
    assert!(text.contains("did you mean `koji_hub_url`?"), "{text}");

    // The `<secret>_file` forms are known keys too.
    let text = error_text(load_text("pagure_tokn_file = \"/x\"\n", &[]));
    assert!(text.contains("did you mean `pagure_token_file`?"), "{text}");
    let text = error_text(load_text("[messaging]\namqp_url_fil = \"/x\"\n", &[]));
    assert!(
        text.contains("config key `messaging.amqp_url_fil`"),
        "{text}"
    );
    assert!(text.contains("did you mean `amqp_url_file`?"), "{text}");

    // Nothing close: the keys of that table are listed.
    let text = error_text(load_text("[database]\nsomething_else = 1\n", &[]));
    assert!(text.contains("`max_connections`"), "{text}");
    assert!(!text.contains("did you mean"), "{text}");
}

#[test]
fn edit_distance_finds_typos_only() {
    use super::messages::{edit_distance, nearest};
    assert_eq!(edit_distance("koji_hub_ur", "koji_hub_url"), 1);
    assert_eq!(edit_distance("", "abc"), 3);
    assert_eq!(edit_distance("kitten", "sitting"), 3);
    let known = ["koji_hub_url".to_owned(), "koji_web_url".to_owned()];
    assert_eq!(nearest("koji_hub_rul", &known), Some("koji_hub_url"));
    assert_eq!(nearest("database", &known), None);
}

#[test]
fn an_unknown_nested_key_is_named_by_its_path() {
    let text = error_text(load_text("[fedora_ci]\nenabled_project = []\n", &[]));
    assert!(
        text.contains("config key `fedora_ci.enabled_project`"),
        "{text}"
    );
}

#[test]
fn a_bad_value_names_the_key_and_what_is_allowed() {
    let text = error_text(load_text("deployment = \"production\"\n", &[]));
    assert!(text.contains("config key `deployment`"), "{text}");
    assert!(
        text.contains(r#"expected one of "prod", "stg", "dev", got "production""#),
        "{text}"
    );
    let text = error_text(load_text("deployment = \"prd\"\n", &[]));
    assert!(text.contains(r#"did you mean "prod"?"#), "{text}");

    let text = error_text(load_text("[worker]\nlease_seconds = \"long\"\n", &[]));
    assert!(text.contains("config key `worker.lease_seconds`"), "{text}");

    let text = error_text(load_text("koji_web_url = \"koji.example\"\n", &[]));
    assert!(text.contains("config key `koji_web_url`"), "{text}");
    assert!(text.contains("not an http:// or https:// URL"), "{text}");

    let text = error_text(load_text("comment_command_prefix = \"packit ci\"\n", &[]));
    assert!(
        text.contains("config key `comment_command_prefix`"),
        "{text}"
    );
}

#[test]
fn environment_overrides_file_and_names_itself_in_errors() -> anyhow::Result<()> {
    let config = load_text(
        "deployment = \"prod\"\n",
        &[
            ("FEDORA_CI_DEPLOYMENT", "stg"),
            ("FEDORA_CI_WORKER__LEASE_SECONDS", "30"),
            ("FEDORA_CI_FEDORA_CI_RUN_BY_DEFAULT", "false"),
            (
                "FEDORA_CI_FEDORA_CI__ENABLED_PROJECTS",
                r#"["https://src.fedoraproject.org/rpms/a"]"#,
            ),
            ("FEDORA_CI_CONFIG", "/ignored/not/a/key"),
            ("OTHER_VARIABLE", "ignored"),
        ],
    )?;
    assert_eq!(config.deployment, Deployment::Stg);
    assert_eq!(config.worker.lease_seconds, 30);
    assert!(!config.fedora_ci_run_by_default);
    assert_eq!(
        config.fedora_ci.enabled_projects,
        ["https://src.fedoraproject.org/rpms/a"]
    );

    let text = error_text(load_text("", &[("FEDORA_CI_DEPLOYMNT", "stg")]));
    assert!(text.contains("`deploymnt`"), "{text}");
    assert!(text.contains("FEDORA_CI_DEPLOYMNT"), "{text}");
    Ok(())
}

#[test]
fn secrets_come_from_files_and_never_show() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let token = dir.path().join("pagure-token");
    std::fs::write(&token, "pagure-s3cret\n")?;
    let dsn = dir.path().join("dsn");
    std::fs::write(&dsn, "https://key@sentry.example/1")?;
    let config = load_text(
        &format!(
            "pagure_token_file = {token:?}\ndatabase_url = \"postgres://ci:db-s3cret@db/ci\"\n"
        ),
        &[(
            "FEDORA_CI_SENTRY_DSN_FILE",
            dsn.to_str().unwrap_or_default(),
        )],
    )?;
    assert_eq!(
        config.pagure_token.as_ref().map(Secret::expose),
        Some("pagure-s3cret")
    );
    assert_eq!(
        config.sentry_dsn.as_ref().map(Secret::expose),
        Some("https://key@sentry.example/1")
    );
    for shown in [format!("{config:?}"), config.to_redacted_toml()] {
        assert!(!shown.contains("pagure-s3cret"), "{shown}");
        assert!(!shown.contains("db-s3cret"), "{shown}");
        assert!(!shown.contains("key@sentry"), "{shown}");
    }
    assert!(
        config
            .to_redacted_toml()
            .contains("postgres://ci:[redacted]@db/ci")
    );
    Ok(())
}

#[test]
fn a_secret_given_twice_or_unreadable_is_an_error() {
    let text = error_text(load_text(
        "pagure_token = \"a\"\npagure_token_file = \"/x\"\n",
        &[],
    ));
    assert!(
        text.contains("either `pagure_token` or `pagure_token_file`"),
        "{text}"
    );

    let text = error_text(load_text(
        "testing_farm_secret_file = \"/nonexistent/tf\"\n",
        &[],
    ));
    assert!(text.contains("`testing_farm_secret_file`"), "{text}");
    assert!(text.contains("/nonexistent/tf"), "{text}");
}

#[test]
fn env_values_are_typed_only_when_they_look_typed() {
    assert_eq!(env_value("true"), toml::Value::Boolean(true));
    assert_eq!(env_value("12"), toml::Value::Integer(12));
    assert_eq!(env_value("prod"), toml::Value::String("prod".into()));
    assert_eq!(env_value("\"12\""), toml::Value::String("12".into()));
    assert_eq!(
        env_value("https://x.example/a"),
        toml::Value::String("https://x.example/a".into())
    );
}

#[test]
fn a_secret_of_the_wrong_type_is_named_but_not_shown() {
    let text = error_text(load_text("pagure_token = 987654321\n", &[]));
    assert!(text.contains("config key `pagure_token`"), "{text}");
    assert!(text.contains("must be a string"), "{text}");
    assert!(!text.contains("987654321"), "{text}");
}

#[test]
fn a_secret_from_the_environment_stays_a_string() -> anyhow::Result<()> {
    let config = load_text("", &[("FEDORA_CI_PAGURE_TOKEN", "0123456789")])?;
    assert_eq!(
        config.pagure_token.as_ref().map(Secret::expose),
        Some("0123456789")
    );
    Ok(())
}

#[test]
fn kerberos_settings_give_the_koji_login() -> anyhow::Result<()> {
    use crate::clients::koji::KojiCredentials;
    let anonymous = Config::from_toml("")?;
    assert!(matches!(
        anonymous.koji_credentials(),
        KojiCredentials::Anonymous
    ));

    let config = load_text(
        "keytab_path = \"/secrets/fedora-ci.keytab\"\n",
        &[(
            "FEDORA_CI_KERBEROS_PRINCIPAL",
            "fedora-ci/fedora-ci.fedoraproject.org@FEDORAPROJECT.ORG",
        )],
    )?;
    match config.koji_credentials() {
        KojiCredentials::Kerberos { principal, keytab } => {
            assert_eq!(
                principal.as_deref(),
                Some("fedora-ci/fedora-ci.fedoraproject.org@FEDORAPROJECT.ORG")
            );
            assert_eq!(keytab, Some(PathBuf::from("/secrets/fedora-ci.keytab")));
        }
        other => panic!("expected Kerberos, got {other:?}"),
    }

    let keytab_only = Config::from_toml("keytab_path = \"/k.keytab\"\n")?;
    assert!(matches!(
        keytab_only.koji_credentials(),
        KojiCredentials::Kerberos {
            principal: None,
            keytab: Some(_)
        }
    ));

    let text = error_text(load_text("kerberos_principal = \"fedora ci\"\n", &[]));
    assert!(text.contains("`kerberos_principal`"), "{text}");
    Ok(())
}

#[test]
fn fedora_ci_tests_are_data_and_their_names_unique() {
    let custom = "[[fedora_ci_tests]]\nname = \"fedora-review\"\n\
        url = \"https://forge.fedoraproject.org/ci/shared-tests\"\nref = \"main\"\n\
        plan = \"/fedora-review\"\nnamespaces = [\"rpms\"]\n";
    let config = Config::from_toml(custom).unwrap();
    assert_eq!(config.fedora_ci_tests.len(), 1);
    assert_eq!(config.fedora_ci_tests[0].name, "fedora-review");
    assert_eq!(
        Config::default().fedora_ci_tests.len(),
        6,
        "packit-service's six by default"
    );
    let twice = format!("{custom}{custom}");
    let error = Config::from_toml(&twice).unwrap_err().to_string();
    assert!(error.contains("fedora_ci_tests"), "{error}");
}

#[test]
fn dashboard_backends_default_to_this_service_and_packit() -> anyhow::Result<()> {
    let config = Config::from_toml("")?;
    let backends: Vec<(&str, &str)> = config
        .dashboard
        .backends
        .iter()
        .map(|backend| (backend.name.as_str(), backend.api_url.as_str()))
        .collect();
    assert_eq!(
        backends,
        [("Fedora CI", "/api"), ("Packit", PACKIT_PROD_API_URL)]
    );

    let config = Config::from_toml(
        "[[dashboard.backends]]\nname = \"Staging\"\napi_url = \"https://stg.packit.dev/api\"\n",
    )?;
    assert_eq!(
        config.dashboard.backends.len(),
        1,
        "a list replaces the default"
    );

    let env = [(
        "FEDORA_CI_DASHBOARD__BACKENDS",
        r#"[{ name = "Here", api_url = "/api" }, { name = "There", api_url = "http://127.0.0.1:9/api" }]"#,
    )];
    let config = load_text("", &env)?;
    assert_eq!(config.dashboard.backends[1].name, "There");
    Ok(())
}

#[test]
fn dashboard_backends_are_checked() {
    for (text, wanted) in [
        ("[dashboard]\nbackends = []\n", "at least one"),
        (
            "[[dashboard.backends]]\nname = \"A\"\napi_url = \"/api\"\n\
             [[dashboard.backends]]\nname = \"A\"\napi_url = \"/other\"\n",
            "unique",
        ),
        (
            "[[dashboard.backends]]\nname = \" \"\napi_url = \"/api\"\n",
            "not empty",
        ),
        (
            "[[dashboard.backends]]\nname = \"A\"\napi_url = \"ftp://host/api\"\n",
            "http",
        ),
        (
            "[[dashboard.backends]]\nname = \"A\"\napi_url = \"//host/api\"\n",
            "one slash",
        ),
        (
            "[[dashboard.backends]]\nname = \"A\"\napi_url = \"https://x/api; script-src *\"\n",
            "semicolons",
        ),
        (
            "[[dashboard.backends]]\nname = \"A\"\nurl = \"/api\"\n",
            "unknown key; did you mean `api_url`?",
        ),
    ] {
        let error = error_text(load_text(text, &[]));
        assert!(error.contains("dashboard.backends"), "{text}: {error}");
        assert!(error.contains(wanted), "{text}: {error}");
    }
}

#[test]
fn serde_jargon_is_said_in_plain_words() {
    for (text, key, wanted) in [
        (
            "[api]\nbind = 8000\n",
            "api.bind",
            "expected a string (in quotes), got 8000",
        ),
        (
            "[worker]\nlease_seconds = \"abc\"\n",
            "worker.lease_seconds",
            "expected a whole number (0 or more), got \"abc\"",
        ),
        (
            "[worker]\nlease_seconds = -5\n",
            "worker.lease_seconds",
            "expected a whole number (0 or more), got -5",
        ),
        (
            "[messaging]\nprefetch = 70000\n",
            "messaging.prefetch",
            "expected a whole number from 0 to 65535, got 70000",
        ),
        (
            "logdetective_enabled = \"yes\"\n",
            "logdetective_enabled",
            "expected true or false, got \"yes\"",
        ),
        (
            "[fedora_ci]\nenabled_projects = \"https://x.example/rpms/a\"\n",
            "fedora_ci.enabled_projects",
            "expected a list ([…]), got",
        ),
        ("api = 5\n", "api", "expected a table, got 5"),
        (
            "[[dashboard.backends]]\nname = \"A\"\n",
            "dashboard.backends",
            "missing key `api_url`",
        ),
    ] {
        let error = error_text(load_text(text, &[]));
        assert!(
            error.contains(&format!("config key `{key}")),
            "{text}: {error}"
        );
        assert!(error.contains(wanted), "{text}: {error}");
        for jargon in [
            "invalid type",
            "u64",
            "u16",
            "a sequence",
            "a map",
            "struct ",
        ] {
            assert!(!error.contains(jargon), "{text}: {error}");
        }
    }
}

#[test]
fn every_error_says_where_its_key_was_set() {
    let text = error_text(load_text(
        "deployment = \"dev\"\n\n[worker]\nlease_seconds = 1\n",
        &[],
    ));
    assert!(
        text.contains("config key `worker.lease_seconds` (in "),
        "{text}"
    );
    assert!(text.contains("fedora-ci.toml, line 4)"), "{text}");

    // Validation errors, not only type errors, name the environment variable.
    let text = error_text(load_text(
        "[worker]\nlease_seconds = 60\n",
        &[("FEDORA_CI_WORKER__LEASE_SECONDS", "1")],
    ));
    assert!(
        text.contains("config key `worker.lease_seconds` (from FEDORA_CI_WORKER__LEASE_SECONDS)"),
        "{text}"
    );

    let text = error_text(load_text("", &[("FEDORA_CI_API__BIND", "nowhere")]));
    assert!(
        text.contains("config key `api.bind` (from FEDORA_CI_API__BIND)"),
        "{text}"
    );

    // A secret read from a file is named by that file.
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("database-url");
    std::fs::write(&secret, "mysql://user:db-s3cret@host/db\n").unwrap();
    let text = error_text(load_text(&format!("database_url_file = {secret:?}\n"), &[]));
    assert!(
        text.contains("config key `database_url` (read from "),
        "{text}"
    );
    assert!(text.contains(&secret.display().to_string()), "{text}");
    assert!(!text.contains("db-s3cret"), "{text}");

    // Lines inside arrays of tables.
    let text = error_text(load_text(
        "[[dashboard.backends]]\nname = \"A\"\napi_url = \"/api\"\n\
         [[dashboard.backends]]\nname = \"B\"\napi_url = \"ftp://x\"\n",
        &[],
    ));
    assert!(
        text.contains("config key `dashboard.backends` (in "),
        "{text}"
    );
}

#[test]
fn a_missing_secret_file_is_named_once_with_its_location() {
    let text = error_text(load_text(
        "\ntesting_farm_secret_file = \"/nonexistent/tf\"\n",
        &[],
    ));
    assert!(
        text.contains("config key `testing_farm_secret_file` (in "),
        "{text}"
    );
    assert!(text.contains("fedora-ci.toml, line 2)"), "{text}");
    assert!(text.contains("/nonexistent/tf"), "{text}");
    assert_eq!(
        text.matches("No such file or directory").count(),
        1,
        "the cause once: {text}"
    );

    let text = error_text(load_text(
        "",
        &[("FEDORA_CI_PAGURE_TOKEN_FILE", "/nonexistent/token")],
    ));
    assert!(
        text.contains("config key `pagure_token_file` (from FEDORA_CI_PAGURE_TOKEN_FILE)"),
        "{text}"
    );
    assert_eq!(
        text.matches("No such file or directory").count(),
        1,
        "{text}"
    );
}

#[test]
fn a_missing_config_file_names_its_cause_once() {
    let error = Config::load(Some(Path::new("/nonexistent/fedora-ci.toml")), Vec::new());
    let text = error_text(error);
    assert_eq!(
        text,
        "cannot read the config file /nonexistent/fedora-ci.toml: \
         No such file or directory (os error 2)"
    );
}

#[test]
fn an_empty_secret_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    for (name, content) in [("empty", ""), ("blank", " \n\t\n")] {
        let path = dir.path().join(name);
        std::fs::write(&path, content).unwrap();
        let text = error_text(load_text(&format!("pagure_token_file = {path:?}\n"), &[]));
        assert!(
            text.contains("config key `pagure_token_file` (in "),
            "{text}"
        );
        assert!(text.contains(&path.display().to_string()), "{text}");
        assert!(text.contains("is empty"), "{text}");

        let text = error_text(load_text(
            "",
            &[("FEDORA_CI_MESSAGING__AMQP_URL_FILE", path.to_str().unwrap())],
        ));
        assert!(
            text.contains(
                "config key `messaging.amqp_url_file` (from FEDORA_CI_MESSAGING__AMQP_URL_FILE)"
            ),
            "{text}"
        );
        assert!(text.contains("is empty"), "{text}");
    }
}

#[test]
fn a_syntax_error_gives_the_line_but_not_the_text() {
    let text = error_text(load_text(
        "deployment = \"dev\"\npagure_token = \"s3cret-token\n",
        &[],
    ));
    assert!(text.contains("fedora-ci.toml, line 2, column "), "{text}");
    assert!(text.contains("is not valid TOML"), "{text}");
    assert!(!text.contains("s3cret-token"), "{text}");
}

#[test]
fn addresses_are_host_and_port() {
    for bind in [
        "localhost:99999",
        "localhost:0",
        "localhost",
        ":8000",
        "host name:80",
        "[::1]",
    ] {
        let text = error_text(load_text(&format!("[api]\nbind = {bind:?}\n"), &[]));
        assert!(text.contains("config key `api.bind`"), "{bind}: {text}");
    }
    let text = error_text(load_text(
        "[worker]\nhealth_bind = \"0.0.0.0:70000\"\n",
        &[],
    ));
    assert!(text.contains("config key `worker.health_bind`"), "{text}");
    assert!(text.contains("1 to 65535"), "{text}");
    let text = error_text(load_text("[messaging]\nhealth_bind = \"8002\"\n", &[]));
    assert!(
        text.contains("config key `messaging.health_bind`"),
        "{text}"
    );
    assert!(text.contains("serve nothing"), "{text}");

    for bind in [
        "127.0.0.1:8000",
        "0.0.0.0:1",
        "localhost:65535",
        "[::]:8000",
        "api-1.example:80",
    ] {
        let config = Config::from_toml(&format!("[api]\nbind = {bind:?}\n")).unwrap();
        assert_eq!(config.api.bind, bind);
    }
    // Empty health binds mean "do not serve".
    let config =
        Config::from_toml("[worker]\nhealth_bind = \"\"\n[messaging]\nhealth_bind = \"\"\n")
            .unwrap();
    assert_eq!(config.worker.health_bind, "");
    let text = error_text(load_text("[api]\nbind = \"\"\n", &[]));
    assert!(text.contains("config key `api.bind`"), "{text}");
}

#[test]
fn urls_are_checked() {
    for (key, url) in [
        ("koji_hub_url", "https://"),
        ("koji_hub_url", "https://koji example/kojihub"),
        ("pagure_url", "https://src.example:99999"),
        ("pagure_url", "src.fedoraproject.org"),
        ("dashboard_url", "https:///path"),
    ] {
        let text = error_text(load_text(&format!("{key} = {url:?}\n"), &[]));
        assert!(
            text.contains(&format!("config key `{key}`")),
            "{url}: {text}"
        );
    }
    let text = error_text(load_text(
        "[[fedora_ci_tests]]\nname = \"t\"\nurl = \"not a url\"\nref = \"main\"\n\
         namespaces = [\"rpms\"]\n",
        &[],
    ));
    assert!(
        text.contains("config key `fedora_ci_tests[0].url`"),
        "{text}"
    );
    for server in [
        "ci example",
        "ftp://ci.example",
        "ci.example/api",
        "ci.example:0",
    ] {
        let text = error_text(load_text(&format!("server_name = {server:?}\n"), &[]));
        assert!(
            text.contains("config key `server_name`"),
            "{server}: {text}"
        );
    }
    for server in [
        "ci.example.org",
        "api:8000",
        "http://127.0.0.1:8000",
        "https://ci.example/",
    ] {
        let config = Config::from_toml(&format!("server_name = {server:?}\n")).unwrap();
        assert_eq!(config.server_name.as_deref(), Some(server));
    }

    let config = Config::from_toml(
        "pagure_url = \"http://127.0.0.1:9\"\nkoji_hub_url = \"https://[::1]:8443/kojihub\"\n\
         server_name = \"ci.example.org\"\n",
    )
    .unwrap();
    assert_eq!(config.pagure_url, "http://127.0.0.1:9");
}

#[test]
fn every_form_of_a_database_password_is_redacted() -> anyhow::Result<()> {
    for (url, secret) in [
        ("postgres://ci@db/ci?password=q-s3cret", "q-s3cret"),
        ("postgres://ci:sl/ash-s3cret@db/ci", "ash-s3cret"),
        ("postgres://ci:at@sign-s3cret@db/ci", "sign-s3cret"),
        (
            "postgres://ci@db/ci?sslmode=require&password=ssl-s3cret",
            "ssl-s3cret",
        ),
    ] {
        let config = load_text(&format!("database_url = {url:?}\n"), &[])?;
        for shown in [
            format!("{config:?}"),
            config.to_redacted_toml(),
            crate::secret::redact_url(config.database_url.expose()),
        ] {
            assert!(!shown.contains(secret), "{url}: {shown}");
        }
    }
    Ok(())
}

#[test]
fn a_syntax_error_never_shows_the_line_of_a_secret() {
    for text in [
        "database_url = \"postgres://ci:line-s3cret@db/ci\n",
        "pagure_token = line-s3cret\n",
        "pagure_token = \"line-s3cret\" trailing\n",
        "[messaging]\namqp_url = 'amqps://u:line-s3cret@broker/' 'x'\n",
        "sentry_dsn = \"\"\"line-s3cret\n",
    ] {
        let error = error_text(load_text(text, &[]));
        assert!(error.contains("not valid TOML"), "{text:?}: {error}");
        assert!(!error.contains("s3cret"), "{text:?}: {error}");
    }
}

#[test]
fn durations_and_sizes_too_large_to_be_meant_are_refused() {
    for (text, key) in [
        (
            "[worker]\nlease_seconds = 99999999999999\n",
            "worker.lease_seconds",
        ),
        (
            "[worker]\nshutdown_grace_seconds = 86401\n",
            "worker.shutdown_grace_seconds",
        ),
        (
            "[worker]\noutage_retry_hours = 100000\n",
            "worker.outage_retry_hours",
        ),
        (
            "[api]\nheader_read_timeout_seconds = 0\n",
            "api.header_read_timeout_seconds",
        ),
        ("[api]\nmax_connections = 10000000\n", "api.max_connections"),
        (
            "request_timeout_seconds = 360000\n",
            "request_timeout_seconds",
        ),
        (
            "[database]\nacquire_timeout_seconds = 0\n",
            "database.acquire_timeout_seconds",
        ),
    ] {
        let error = error_text(load_text(text, &[]));
        assert!(error.contains(&format!("`{key}`")), "{text:?}: {error}");
    }
    let text = "[worker]\nlease_seconds = 86400\n";
    assert!(load_text(text, &[]).is_ok(), "a day's lease is allowed");
}

#[test]
fn a_postgres_parameter_the_driver_would_log_is_refused_by_name() {
    let text = "database_url = \"postgres://ci@db/ci?sslpassword=ssl-s3cret\"\n";
    let error = error_text(load_text(text, &[]));
    assert!(error.contains("\"sslpassword\" is not one"), "{error}");
    assert!(!error.contains("s3cret"), "{error}");
}

#[test]
fn forgejo_is_served_only_when_configured_and_keeps_its_own_instance() -> anyhow::Result<()> {
    assert!(Config::from_toml("")?.forgejo.is_none());
    let dir = tempfile::tempdir()?;
    let token_file = dir.path().join("forgejo-token");
    std::fs::write(&token_file, "forgejo-s3cret\n")?;
    let text = format!(
        "[forgejo]\nweb_url = \"https://forge.fedoraproject.org\"\n\
         own_logins = [\"fedora-ci\"]\ntoken_file = {:?}\n",
        token_file.display().to_string()
    );
    let config = load_text(&text, &[])?;
    let forgejo = config.forgejo.as_ref().expect("configured");
    assert_eq!(forgejo.api_url(), "https://forge.fedoraproject.org/api/v1");
    assert_eq!(forgejo.instance_url(), "forge.fedoraproject.org");
    assert_eq!(
        forgejo.token.as_ref().map(Secret::expose),
        Some("forgejo-s3cret")
    );
    assert!(!forgejo.logins_are_fas_usernames, "deny when unsure");
    assert!(!config.to_redacted_toml().contains("s3cret"));
    assert!(!format!("{config:?}").contains("s3cret"));

    let from_env = load_text(
        "[forgejo]\nweb_url = \"https://forge.fedoraproject.org\"\n",
        &[("FEDORA_CI_FORGEJO__TOKEN", "12345")],
    )?;
    let token = from_env.forgejo.and_then(|forgejo| forgejo.token);
    assert_eq!(token.as_ref().map(Secret::expose), Some("12345"));
    Ok(())
}

#[test]
fn a_forgejo_sharing_pagures_instance_or_without_a_url_is_refused() {
    let same_host = error_text(load_text(
        "[forgejo]\nweb_url = \"https://src.fedoraproject.org\"\n",
        &[],
    ));
    assert!(same_host.contains("forgejo.instance_url"), "{same_host}");
    assert!(same_host.contains("also Pagure's"), "{same_host}");
    let renamed = load_text(
        "[forgejo]\nweb_url = \"https://src.fedoraproject.org\"\n\
         instance_url = \"forgejo.src.fedoraproject.org\"\n",
        &[],
    );
    assert!(renamed.is_ok(), "{renamed:?}");
    let not_a_url = error_text(load_text("[forgejo]\nweb_url = \"forge\"\n", &[]));
    assert!(not_a_url.contains("forgejo.web_url"), "{not_a_url}");
    let missing = error_text(load_text("[forgejo]\nown_logins = []\n", &[]));
    assert!(missing.contains("web_url"), "{missing}");
}

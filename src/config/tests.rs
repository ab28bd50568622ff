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

fn error_text(result: Result<Config, ConfigError>) -> String {
    match result {
        Ok(config) => panic!("expected an error, got {config:?}"),
        Err(error) => error.to_string(),
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
fn the_committed_example_is_valid() -> anyhow::Result<()> {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fedora-ci.example.toml"
    ))?;
    let secrets = tempfile::tempdir()?;
    for name in ["pagure-token", "testing-farm-secret", "logdetective-token"] {
        std::fs::write(secrets.path().join(name), format!("{name}-value\n"))?;
    }
    let text = text.replace("/secrets/", &format!("{}/", secrets.path().display()));
    let config = Config::from_toml(&text)?;
    assert_eq!(
        config.testing_farm_secret.as_ref().map(Secret::expose),
        Some("testing-farm-secret-value")
    );
    assert_eq!(config.deployment, Deployment::Prod);
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
fn an_unknown_key_is_named_with_the_allowed_ones() {
    let text = error_text(load_text("fas_usr = \"x\"\n", &[]));
    assert!(text.contains("config key `fas_usr`"), "{text}");
    assert!(text.contains("expected one of"), "{text}");
    assert!(text.contains("`fas_user`"), "{text}");
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
    assert!(text.contains("`prod`, `stg`"), "{text}");

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
            "unknown field",
        ),
    ] {
        let error = error_text(load_text(text, &[]));
        assert!(error.contains("dashboard.backends"), "{text}: {error}");
        assert!(error.contains(wanted), "{text}: {error}");
    }
}

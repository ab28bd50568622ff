//! `fedora-ci serve` as a process on PostgreSQL and RabbitMQ, with the fakes in this test
//! process, for tests that attack it from outside: raw AMQP publishing (any bytes, any
//! headers, any routing key), HTTP to its API, and everything it writes to stdout and stderr.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fedora_ci::db::{ConnectSettings, Store};
use fedora_ci::fakes::eln::FakeEln;
use fedora_ci::fakes::koji::{FakeKojiConfig, FakeKojiHub};
use fedora_ci::fakes::logdetective::FakeLogDetective;
use fedora_ci::fakes::pagure::FakePagure;
use fedora_ci::fakes::testing_farm::FakeTestingFarm;
use lapin::options::BasicPublishOptions;
use lapin::types::FieldTable;
use lapin::{BasicProperties, Connection, ConnectionProperties};
use serde_json::{Value as Json, json};

use crate::clients_support::{read_fixture, test_certificate};
use crate::common::{TestDb, wait_for};

pub const AMQP_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2F";
pub const STEP: Duration = Duration::from_secs(60);
pub const COMMAND_PREFIX: &str = "/packit-ci-stg";
pub const TEAMCITY: &str = "https://src.fedoraproject.org/rpms/python-teamcity-messages";
pub const TEAMCITY_PROJECT: &str = "rpms/python-teamcity-messages";
pub const OPTEE: &str = "https://src.fedoraproject.org/rpms/optee_os";
pub const OPTEE_PROJECT: &str = "rpms/optee_os";

/// The credentials the service is configured with (and the fakes accept).
pub struct Credentials {
    pub pagure_token: String,
    pub testing_farm_secret: String,
    pub logdetective_token: String,
    /// `None`: no Sentry.
    pub sentry_dsn: Option<String>,
    /// Added to the database URL as its password (the test server trusts any).
    pub database_password: Option<String>,
}

impl Default for Credentials {
    fn default() -> Self {
        Credentials {
            pagure_token: "pagure-token".to_owned(),
            testing_farm_secret: "tf-secret".to_owned(),
            logdetective_token: "ld-token".to_owned(),
            sentry_dsn: None,
            database_password: None,
        }
    }
}

pub struct Fakes {
    pub koji: FakeKojiHub,
    pub pagure: FakePagure,
    pub testing_farm: FakeTestingFarm,
    pub eln: FakeEln,
    pub log_detective: FakeLogDetective,
}

impl Fakes {
    async fn start(credentials: &Credentials) -> Fakes {
        let koji = FakeKojiHub::start(FakeKojiConfig::default()).await.unwrap();
        let pagure = FakePagure::start().await.unwrap();
        pagure.add_token(&credentials.pagure_token, "packit-stg");
        pagure.add_group(json!({
            "name": "packager", "display_name": "Fedora Packager Git Commit Group",
            "description": "Fedora packagers", "group_type": "user",
            "creator": {"name": "packit", "fullname": "packit", "url_path": "user/packit"},
            "date_created": "1431529680", "members": ["zbyszek", "mmassari"],
        }));
        pagure.set_branches(TEAMCITY_PROJECT, &["rawhide", "f42"]);
        pagure.set_branches(OPTEE_PROJECT, &["rawhide", "eln"]);
        let testing_farm = FakeTestingFarm::start(&credentials.testing_farm_secret)
            .await
            .unwrap();
        let eln = FakeEln::start().await.unwrap();
        eln.set_packages(&["optee_os"], &[]);
        let log_detective = FakeLogDetective::start(&credentials.logdetective_token)
            .await
            .unwrap();
        Fakes {
            koji,
            pagure,
            testing_farm,
            eln,
            log_detective,
        }
    }
}

/// The service process, its database and its part of the broker.
pub struct Service {
    child: Child,
    pub dir: tempfile::TempDir,
    pub base: String,
    pub store: Store,
    pub fakes: Fakes,
    pub prefix: String,
    pub queue: String,
    pub config_path: PathBuf,
    /// The Koji client key (PEM) the service was given.
    pub koji_key: String,
    amqp: Connection,
    _db: TestDb,
}

impl Service {
    /// Starts `serve` with `RUST_LOG=log_level` and waits until it consumes and answers.
    pub async fn start(credentials: &Credentials, log_level: &str) -> Service {
        let fakes = Fakes::start(credentials).await;
        let db = TestDb::postgres().await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .map(|address| address.port())
            .unwrap();
        let id = uuid::Uuid::new_v4().simple().to_string();
        let prefix = format!("org.fedoraproject.test{}", &id[..12]);
        let queue = uuid::Uuid::new_v4().to_string();
        let database_url = match &credentials.database_password {
            Some(password) => db
                .url()
                .replacen("postgres@", &format!("postgres:{password}@"), 1),
            None => db.url().to_owned(),
        };
        let (certificate, key) = test_certificate();
        std::fs::write(dir.path().join("koji.crt"), certificate).unwrap();
        std::fs::write(dir.path().join("koji.key"), key.expose()).unwrap();
        let mut config = json!({
            "deployment": "stg",
            "server_name": format!("http://127.0.0.1:{port}"),
            "database_url": database_url,
            "fas_user": "packit",
            "check_name_prefix": "Packit-stg",
            "comment_command_prefix": COMMAND_PREFIX,
            "dry_run": false,
            "pagure_url": fakes.pagure.url(),
            "pagure_token": credentials.pagure_token,
            "fasjson_url": "http://127.0.0.1:9/fasjson",
            "koji_hub_url": fakes.koji.hub_url(),
            "koji_cert": dir.path().join("koji.crt"),
            "koji_key": dir.path().join("koji.key"),
            "testing_farm_api_url": fakes.testing_farm.api_url(),
            "testing_farm_secret": credentials.testing_farm_secret,
            "eln_package_lists_url": fakes.eln.url(),
            "logdetective_enabled": true,
            "logdetective_url": fakes.log_detective.url(),
            "logdetective_token": credentials.logdetective_token,
            "fedora_ci_run_by_default": false,
            "fedora_ci": {"enabled_projects": [TEAMCITY, OPTEE]},
            "api": {"bind": format!("127.0.0.1:{port}")},
            "worker": {
                "queues": {"short": 4, "long": 4},
                "poll_interval_ms": 50,
                "shutdown_grace_seconds": 5,
            },
            "messaging": {
                "enabled": true,
                "amqp_url": AMQP_URL,
                "queue": queue,
                "topic_prefix": prefix,
                "batch_size": 20,
                "batch_wait_ms": 50,
            },
        });
        if let Some(dsn) = &credentials.sentry_dsn {
            config["sentry_dsn"] = json!(dsn);
        }
        let config_path = dir.path().join("fedora-ci.toml");
        std::fs::write(&config_path, toml::to_string(&config).unwrap()).unwrap();
        let child = spawn(
            dir.path(),
            &["--config", config_path.to_str().unwrap(), "serve"],
            &[("RUST_LOG", log_level)],
            "serve",
        );
        let runtime = lapin::runtime::default_runtime().unwrap();
        let amqp =
            Connection::connect_with_runtime(AMQP_URL, ConnectionProperties::default(), runtime)
                .await
                .unwrap();
        let mut service = Service {
            child,
            base: format!("http://127.0.0.1:{port}"),
            store: Store::connect(db.url(), &ConnectSettings::default())
                .await
                .unwrap(),
            fakes,
            prefix,
            queue,
            config_path,
            koji_key: key.expose().to_owned(),
            amqp,
            dir,
            _db: db,
        };
        service
            .wait_for_log("consuming fedora-messaging")
            .await
            .unwrap();
        let deadline = tokio::time::Instant::now() + STEP;
        while !service.healthy().await {
            assert!(
                tokio::time::Instant::now() < deadline,
                "serve does not answer"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        service
    }

    /// Everything the process wrote to stdout and stderr so far.
    pub fn output(&self) -> String {
        output_of(self.dir.path(), "serve")
    }

    pub async fn wait_for_log(&self, part: &str) -> anyhow::Result<()> {
        let dir = self.dir.path().to_owned();
        wait_for(STEP, || {
            let found = output_of(&dir, "serve").contains(part);
            async move { Ok(found.then_some(())) }
        })
        .await
        .map_err(|error| anyhow::anyhow!("no {part:?} in the log: {error}\n{}", self.output()))
    }

    /// The process runs and `/api/healthz` answers 200.
    pub async fn healthy(&mut self) -> bool {
        if self.child.try_wait().ok().flatten().is_some() {
            return false;
        }
        reqwest::get(format!("{}/api/healthz", self.base))
            .await
            .is_ok_and(|response| response.status() == 200)
    }

    /// Publishes raw bytes to `amq.topic` under this service's prefix (`topic` without it),
    /// with `message_id` and `headers` as AMQP properties.
    pub async fn publish_raw(
        &self,
        topic: &str,
        message_id: &str,
        headers: FieldTable,
        body: &[u8],
    ) -> anyhow::Result<()> {
        let routing_key = format!("{}.{topic}", self.prefix);
        self.publish_to("amq.topic", &routing_key, message_id, headers, body)
            .await
    }

    /// Publishes straight into the service's queue (the default exchange), bypassing the
    /// topic bindings: the routing key, which the listener reads as the topic, is the queue's
    /// name.
    pub async fn publish_to_queue(&self, message_id: &str, body: &[u8]) -> anyhow::Result<()> {
        self.publish_to("", &self.queue, message_id, FieldTable::default(), body)
            .await
    }

    async fn publish_to(
        &self,
        exchange: &str,
        routing_key: &str,
        message_id: &str,
        headers: FieldTable,
        body: &[u8],
    ) -> anyhow::Result<()> {
        let channel = self.amqp.create_channel().await?;
        channel
            .confirm_select(lapin::options::ConfirmSelectOptions::default())
            .await?;
        let properties = BasicProperties::default()
            .with_message_id(message_id.into())
            .with_content_type("application/json".into())
            .with_headers(headers);
        channel
            .basic_publish(
                exchange.into(),
                routing_key.into(),
                BasicPublishOptions::default(),
                body,
                properties,
            )
            .await?
            .await?;
        channel.close(200, "published".into()).await?;
        Ok(())
    }

    /// Publishes a fixture under `packit-service/` after `edit`; registers its pull request
    /// with the fake Pagure.
    pub async fn publish_fixture(
        &self,
        name: &str,
        message_id: &str,
        edit: impl FnOnce(&mut Json),
    ) -> anyhow::Result<Json> {
        let (topic, mut body) = fixture(name);
        edit(&mut body);
        if let Some(pull_request) = body.get("pullrequest") {
            self.fakes.pagure.add_pull_request(pull_request.clone());
        }
        self.publish_raw(
            &topic,
            message_id,
            FieldTable::default(),
            &serde_json::to_vec(&body)?,
        )
        .await?;
        Ok(body)
    }

    /// The stored inbound row of `message_id`, once the listener stored it.
    pub async fn stored(
        &self,
        message_id: &str,
    ) -> anyhow::Result<fedora_ci::db::inbound::InboundRow> {
        let store = &self.store;
        wait_for(STEP, || async move {
            Ok(fedora_ci::db::inbound::get_by_message_id(store, message_id).await?)
        })
        .await
        .map_err(|error| anyhow::anyhow!("{message_id} was not stored: {error}"))
    }

    /// Waits until no message waits for processing and no task is due soon or running.
    pub async fn settled(&self) -> anyhow::Result<()> {
        crate::common::settled(&self.store, crate::common::Settle::NothingDueSoon, STEP).await
    }

    /// SIGTERM, and the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        terminate(&mut self.child)
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- serve output ---\n{}", self.output());
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A fixture's topic (without the deployment prefix) and body.
pub fn fixture(name: &str) -> (String, Json) {
    let mut message = read_fixture(&format!("packit-service/{name}"));
    let topic = message["topic"].as_str().unwrap().to_owned();
    let body = message.get("body").cloned().unwrap_or_else(|| {
        message.as_object_mut().unwrap().remove("topic");
        message.clone()
    });
    let topic = topic
        .strip_prefix("org.fedoraproject.prod.")
        .unwrap_or(&topic)
        .to_owned();
    (topic, body)
}

/// Starts `fedora-ci` with its stdout and stderr in files named after `name` in `dir`.
pub fn spawn(dir: &Path, args: &[&str], env: &[(&str, &str)], name: &str) -> Child {
    let stdout = std::fs::File::create(dir.join(format!("{name}.stdout"))).unwrap();
    let stderr = std::fs::File::create(dir.join(format!("{name}.stderr"))).unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_fedora-ci"));
    command
        .args(args)
        .current_dir(dir)
        .env_remove("FEDORA_CI_CONFIG")
        // Tests run in parallel: no worker or listener serves a health port.
        .env("FEDORA_CI_WORKER__HEALTH_BIND", "")
        .env("FEDORA_CI_MESSAGING__HEALTH_BIND", "")
        // The service sets its own (see `src/main.rs`); a test that sets it for itself must
        // not hide whether the service does.
        .env_remove("RUST_MIN_STACK")
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr);
    for (key, value) in env {
        command.env(key, value);
    }
    command.spawn().unwrap()
}

/// What the process started by [`spawn`] as `name` wrote so far.
pub fn output_of(dir: &Path, name: &str) -> String {
    let read = |stream: &str| {
        std::fs::read(dir.join(format!("{name}.{stream}")))
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .unwrap_or_default()
    };
    format!("{}{}", read("stdout"), read("stderr"))
}

pub fn terminate(child: &mut Child) -> std::process::ExitStatus {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "fedora-ci did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

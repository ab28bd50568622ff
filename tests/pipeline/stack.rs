//! The stack under test: PostgreSQL, the service's worker with every handler, and the fakes.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use chrono::Utc;
use fedora_ci::config::{Config, Deployment, ForgejoConfig, Secret};
use fedora_ci::context::Context;
use fedora_ci::db::{Store, tasks as task_rows};
use fedora_ci::fakes::eln::FakeEln;
use fedora_ci::fakes::forgejo::FakeForgejo;
use fedora_ci::fakes::koji::{FakeKojiConfig, FakeKojiHub};
use fedora_ci::fakes::logdetective::FakeLogDetective;
use fedora_ci::fakes::pagure::FakePagure;
use fedora_ci::fakes::testing_farm::FakeTestingFarm;
use fedora_ci::intake::{self, Incoming};
use fedora_ci::tasks::{RunHandle, Runner, RunnerSettings};
use serde_json::{Value as Json, json};
use tokio_util::sync::CancellationToken;

use crate::clients_support::{read_fixture, test_certificate};
use crate::common::TestDb;

pub const OPTEE: &str = "https://src.fedoraproject.org/rpms/optee_os";
pub const OPTEE_SHA: &str = "889f07af35d27bbcaf9c535c17a63b974aa42ee3";
pub const PAGURE_TOKEN: &str = "pagure-token";
pub const FORGEJO_TOKEN: &str = "forgejo-token";
pub const TF_TOKEN: &str = "tf-secret";
pub const LD_TOKEN: &str = "ld-token";

pub struct Stack {
    pub store: Store,
    pub koji: FakeKojiHub,
    pub pagure: FakePagure,
    /// Served beside Pagure (`[forgejo]`), its projects under its own instance.
    pub forgejo: FakeForgejo,
    pub testing_farm: FakeTestingFarm,
    pub eln: FakeEln,
    pub log_detective: FakeLogDetective,
    pub config: Arc<Config>,
    shutdown: CancellationToken,
    worker: Option<RunHandle>,
    delivered: AtomicUsize,
    koji_messages_delivered: AtomicUsize,
    _files: tempfile::TempDir,
    _db: TestDb,
}

impl Stack {
    /// The default stack after `pagure_pr_new.json` (optee_os with `rawhide` and `eln`
    /// branches) has been processed: builds submitted, first flags set.
    pub async fn with_pr_opened() -> Stack {
        let stack = Stack::start(|_| {}).await;
        stack
            .pagure
            .set_branches("rpms/optee_os", &["rawhide", "eln"]);
        stack.deliver_fixture("pagure_pr_new.json", |_| {}).await;
        stack.settle().await;
        stack
    }

    /// Starts the fakes and a worker on a fresh PostgreSQL schema. The base configuration is
    /// packit-service's staging one (check prefix `Packit-stg`), with optee_os opted in.
    pub async fn start(configure: impl FnOnce(&mut Config)) -> Stack {
        let db = TestDb::postgres().await.unwrap();
        let store = db.store().await.unwrap();
        let koji = FakeKojiHub::start(FakeKojiConfig::default()).await.unwrap();
        let pagure = FakePagure::start().await.unwrap();
        pagure.add_token(PAGURE_TOKEN, "packit-stg");
        pagure.add_group(json!({
            "name": "packager", "display_name": "Fedora Packager Git Commit Group",
            "description": "Fedora packagers", "group_type": "user",
            "creator": {"name": "packit", "fullname": "packit", "url_path": "user/packit"},
            "date_created": "1431529680", "members": ["zbyszek", "mmassari"],
        }));
        let forgejo = FakeForgejo::start().await.unwrap();
        forgejo.add_token(FORGEJO_TOKEN, "fedora-ci");
        let testing_farm = FakeTestingFarm::start(TF_TOKEN).await.unwrap();
        let eln = FakeEln::start().await.unwrap();
        eln.set_packages(&["optee_os"], &[]);
        let log_detective = FakeLogDetective::start(LD_TOKEN).await.unwrap();

        let files = tempfile::tempdir().unwrap();
        let (certificate, key) = test_certificate();
        let cert_path = files.path().join("koji.crt");
        let key_path = files.path().join("koji.key");
        std::fs::write(&cert_path, certificate).unwrap();
        std::fs::write(&key_path, key.expose()).unwrap();

        let mut config = Config {
            deployment: Deployment::Stg,
            check_name_prefix: "Packit-stg".to_owned(),
            comment_command_prefix: "/packit-ci-stg".to_owned(),
            database_url: Secret::new(db.url()),
            dry_run: Some(false),
            pagure_url: pagure.url(),
            pagure_token: Some(Secret::new(PAGURE_TOKEN)),
            forgejo: Some(ForgejoConfig {
                web_url: forgejo.url(),
                api_url: Some(forgejo.api_url()),
                token: Some(Secret::new(FORGEJO_TOKEN)),
                own_logins: vec!["fedora-ci".to_owned()],
                instance_url: None,
                logins_are_fas_usernames: false,
            }),
            koji_hub_url: koji.hub_url(),
            koji_cert: Some(cert_path),
            koji_key: Some(key_path),
            testing_farm_api_url: testing_farm.api_url(),
            testing_farm_secret: Some(Secret::new(TF_TOKEN)),
            eln_package_lists_url: eln.url(),
            logdetective_enabled: true,
            logdetective_url: log_detective.url(),
            logdetective_token: Some(Secret::new(LD_TOKEN)),
            server_name: Some("fedora-ci.stg.example.org".to_owned()),
            ..Config::default()
        };
        config.fedora_ci_run_by_default = false;
        config.fedora_ci.enabled_projects = vec![OPTEE.to_owned()];
        configure(&mut config);
        let config = Arc::new(config);

        let context = Context::new(store.clone(), config.clone()).unwrap();
        let settings = RunnerSettings {
            poll_interval: Duration::from_millis(20),
            ..RunnerSettings::default()
        };
        let runner = Runner::new(store.clone(), context, settings)
            .register::<fedora_ci::jobs::ProcessMessage>();
        let shutdown = CancellationToken::new();
        let worker = fedora_ci::handlers::register(runner)
            .queue("short", 4)
            .queue("long", 4)
            .start(shutdown.clone());
        Stack {
            store,
            koji,
            pagure,
            forgejo,
            testing_farm,
            eln,
            log_detective,
            config,
            shutdown,
            worker: Some(worker),
            delivered: AtomicUsize::new(0),
            koji_messages_delivered: AtomicUsize::new(0),
            _files: files,
            _db: db,
        }
    }

    /// Stores a fedora-messaging message as the listener would, with a fresh message id.
    pub async fn deliver(&self, topic: &str, body: &Json) {
        let number = self.delivered.fetch_add(1, Ordering::SeqCst);
        let message = Incoming {
            message_id: Some(format!("test-message-{number}")),
            topic: topic.to_owned(),
            headers: json!({}),
            body: serde_json::to_vec(body).unwrap(),
            received_at: Utc::now(),
        };
        let mut identity = intake::identity(&self.config);
        identity.topic_prefix = "org.fedoraproject.prod".to_owned();
        identity.koji_owners = vec!["packit".to_owned()];
        identity.fas_users = vec!["packit".to_owned()];
        // Notifications come from the webhook, everything else from the bus.
        let origin = if topic == fedora_ci::events::TESTING_FARM_RESULTS_TOPIC {
            intake::Origin::Webhook
        } else {
            intake::Origin::Bus
        };
        intake::store_batch(&self.store, &identity, &[message], origin)
            .await
            .unwrap();
    }

    /// Delivers the Koji messages the fake hub published since the last call.
    pub async fn deliver_koji_messages(&self) {
        let messages = self.koji.messages();
        let from = self
            .koji_messages_delivered
            .swap(messages.len(), Ordering::SeqCst);
        for message in &messages[from..] {
            self.deliver(&message.topic, &message.body).await;
        }
    }

    /// Runs the worker until no task is due (or due within seconds) or running.
    pub async fn settle(&self) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        let mut idle_checks = 0;
        loop {
            // A task retried after a transient failure (the queue's backoff is 7 s ±20 %) is
            // still work to wait for; the handlers' own minute-long retries are not.
            let horizon = Utc::now() + chrono::Duration::seconds(10);
            let counts = task_rows::counts(&self.store, horizon).await.unwrap();
            let busy: i64 = counts.iter().map(|c| c.ready + c.running).sum();
            idle_checks = if busy == 0 { idle_checks + 1 } else { 0 };
            if idle_checks >= 3 {
                return;
            }
            if tokio::time::Instant::now() > deadline {
                panic!(
                    "the worker did not settle: {counts:?}\n{}",
                    self.state().await
                );
            }
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
    }

    /// The stack's PostgreSQL pool, for the tests' own queries.
    pub fn pg_pool(&self) -> &sqlx::PgPool {
        match &self.store {
            Store::Postgres(pool) => pool,
            Store::Sqlite(_) => panic!("the pipeline stack runs on PostgreSQL"),
        }
    }

    /// Runs the retries waiting for their delay (an outage's, the queue's backoff) now.
    pub async fn run_delayed_tasks_now(&self) {
        sqlx::query("UPDATE tasks SET run_at = now() WHERE state = 'pending'")
            .execute(self.pg_pool())
            .await
            .unwrap();
    }

    /// Delivers a fixture message (a fedora-messaging dump with `topic` and `body`, or a bare
    /// body with `topic`), after `edit`; registers its pull request with the fake Pagure.
    pub async fn deliver_fixture(&self, name: &str, edit: impl FnOnce(&mut Json)) -> Json {
        let mut message = read_fixture(&format!("packit-service/{name}"));
        let topic = message["topic"].as_str().unwrap().to_owned();
        let mut body = message.get("body").cloned().unwrap_or_else(|| {
            message.as_object_mut().unwrap().remove("topic");
            message.clone()
        });
        edit(&mut body);
        if let Some(pull_request) = body.get("pullrequest") {
            self.pagure.add_pull_request(pull_request.clone());
        }
        self.deliver(&topic, &body).await;
        body
    }

    /// `build` calls Koji received: (source, target).
    pub fn koji_builds(&self) -> Vec<(String, String)> {
        self.koji
            .calls()
            .into_iter()
            .filter(|call| call.call.method == "build")
            .map(|call| {
                let args = &call.call.args;
                (
                    args[0].as_str().unwrap_or_default().to_owned(),
                    args[1].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    }

    /// The flags on a PR as Pagure has them: username → (status, comment, url, uid).
    pub fn flags(&self, project: &str, pr_id: u64) -> Vec<Json> {
        self.pagure.flags(project, pr_id)
    }

    pub fn flag(&self, project: &str, pr_id: u64, username: &str) -> Option<Json> {
        self.flags(project, pr_id)
            .into_iter()
            .find(|flag| flag["username"] == username)
    }

    pub async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(worker) = self.worker.take() {
            worker.wait().await;
        }
    }
}

impl Stack {
    /// The flags the service wants and the dead tasks, for failure messages.
    pub async fn state(&self) -> String {
        let mut text = String::new();
        for pr in 1..5 {
            for flag in fedora_ci::db::flags::of_pull_request(&self.store, pr)
                .await
                .unwrap()
            {
                text.push_str(&format!(
                    "flag {} {} {:?} wanted {} posted {}\n",
                    flag.username, flag.status, flag.comment, flag.wanted_seq, flag.posted_seq
                ));
            }
        }
        for task in task_rows::list_by_state(&self.store, "dead", 50)
            .await
            .unwrap()
        {
            text.push_str(&format!("dead {task:?}\n"));
        }
        for task in task_rows::list_by_state(&self.store, "pending", 50)
            .await
            .unwrap()
        {
            text.push_str(&format!("pending {task:?}\n"));
        }
        text
    }
}

impl Stack {
    /// Restarts the worker with the configuration changed by `configure` (an operator
    /// editing the config and rolling the pods); the database and fakes stay.
    pub async fn reconfigure(&mut self, configure: impl FnOnce(&mut Config)) {
        self.shutdown.cancel();
        if let Some(worker) = self.worker.take() {
            worker.wait().await;
        }
        let mut config = (*self.config).clone();
        configure(&mut config);
        let config = Arc::new(config);
        let context = Context::new(self.store.clone(), config.clone()).unwrap();
        let settings = RunnerSettings {
            poll_interval: Duration::from_millis(20),
            ..RunnerSettings::default()
        };
        let runner = Runner::new(self.store.clone(), context, settings)
            .register::<fedora_ci::jobs::ProcessMessage>();
        self.shutdown = CancellationToken::new();
        self.worker = Some(
            fedora_ci::handlers::register(runner)
                .queue("short", 4)
                .queue("long", 4)
                .start(self.shutdown.clone()),
        );
        self.config = config;
    }

    /// How many messages were delivered so far.
    pub fn delivered_count(&self) -> usize {
        self.delivered.load(Ordering::SeqCst)
    }

    /// The inbound rows (outcome, reason) of the messages delivered from number `first` on
    /// that intake stored.
    pub async fn inbound_from(&self, first: usize) -> Vec<fedora_ci::db::inbound::InboundRow> {
        let mut rows = Vec::new();
        for number in first..self.delivered_count() {
            let id = format!("test-message-{number}");
            // A message intake dropped (irrelevant) has no row.
            if let Some(row) = fedora_ci::db::inbound::get_by_message_id(&self.store, &id)
                .await
                .unwrap()
            {
                rows.push(row);
            }
        }
        rows
    }
}

//! A whole pull-request life cycle through the real stack: `fedora-ci serve` as a process on
//! PostgreSQL, its listener on a real RabbitMQ fed by fedora-messaging's own publisher, the
//! Testing Farm webhook over HTTP, and the fakes (Koji, Testing Farm, Pagure, ELN lists, Log
//! Detective) in this test process.
//!
//! The PR is opened, built, tested and reported; then a push starts a new cycle, and a second
//! push supersedes it while its build runs: the old build is cancelled, the head commit is
//! built, tested and reported, and every flag ends as it should. The same service also serves
//! a (fake) Forgejo: a Forgejo pull request, published as webhook-to-fedora-messaging does, is
//! built from its fork and reported as commit statuses on its target repository.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[allow(clippy::duplicate_mod)]
mod clients_support;
mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use common::process::Running;
use common::{TestDb, wait_for};
use fedora_ci::db::{ConnectSettings, Store, inbound, tasks as task_rows};
use fedora_ci::fakes::eln::FakeEln;
use fedora_ci::fakes::forgejo::FakeForgejo;
use fedora_ci::fakes::koji::{BuildOutcome, FakeKojiConfig, FakeKojiHub};
use fedora_ci::fakes::logdetective::FakeLogDetective;
use fedora_ci::fakes::pagure::FakePagure;
use fedora_ci::fakes::testing_farm::FakeTestingFarm;
use futures_util::future::LocalBoxFuture;
use serde_json::{Value as Json, json};

use crate::clients_support::{read_fixture, test_certificate};

const AMQP_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2F";
const OPTEE: &str = "https://src.fedoraproject.org/rpms/optee_os";
const PROJECT: &str = "rpms/optee_os";
const PR: u64 = 2;
const PAGURE_TOKEN: &str = "pagure-token";
const FORGEJO_TOKEN: &str = "forgejo-token";
const TF_TOKEN: &str = "tf-secret";
const LD_TOKEN: &str = "ld-token";
const CHECK_PREFIX: &str = "Packit-stg";
/// The head commit of `pagure_pr_new.json`, and the two pushes after it.
const FIRST: &str = "889f07af35d27bbcaf9c535c17a63b974aa42ee3";
const SECOND: &str = "4f1c0de5a1b2c3d4e5f60718293a4b5c6d7e8f90";
const THIRD: &str = "7d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f7081920";
/// Without `.fmf/version` in the fork, no custom test.
const TESTS: [&str; 5] = [
    "installability",
    "rpminspect",
    "rpmlint",
    "rmdepcheck",
    "license-validate",
];
/// The longest any one step may take.
const STEP: Duration = Duration::from_secs(60);

fn short(sha: &str) -> &str {
    &sha[..7]
}

fn build_check(sha: &str) -> String {
    format!("{CHECK_PREFIX} - scratch build - rawhide [{}]", short(sha))
}

fn test_check(test: &str, sha: &str) -> String {
    format!("{CHECK_PREFIX} - {test} - rawhide [{}]", short(sha))
}

fn fork_source(sha: &str) -> String {
    format!("git+https://src.fedoraproject.org/forks/zbyszek/rpms/optee_os.git#{sha}")
}

/// The external services, in this process.
struct Fakes {
    koji: FakeKojiHub,
    pagure: FakePagure,
    forgejo: FakeForgejo,
    testing_farm: FakeTestingFarm,
    eln: FakeEln,
    log_detective: FakeLogDetective,
}

impl Fakes {
    async fn start() -> Fakes {
        let koji = FakeKojiHub::start(FakeKojiConfig::default()).await.unwrap();
        let pagure = FakePagure::start().await.unwrap();
        pagure.add_token(PAGURE_TOKEN, "packit-stg");
        pagure.add_group(json!({
            "name": "packager", "display_name": "Fedora Packager Git Commit Group",
            "description": "Fedora packagers", "group_type": "user",
            "creator": {"name": "packit", "fullname": "packit", "url_path": "user/packit"},
            "date_created": "1431529680", "members": ["zbyszek", "mmassari"],
        }));
        // An eln branch of its own: no ELN build, one build per commit.
        pagure.set_branches(PROJECT, &["rawhide", "eln"]);
        let forgejo = FakeForgejo::start().await.unwrap();
        forgejo.add_token(FORGEJO_TOKEN, "fedora-ci");
        forgejo.set_branches(PROJECT, &["rawhide", "eln"]);
        let testing_farm = FakeTestingFarm::start(TF_TOKEN).await.unwrap();
        let eln = FakeEln::start().await.unwrap();
        eln.set_packages(&["optee_os"], &[]);
        let log_detective = FakeLogDetective::start(LD_TOKEN).await.unwrap();
        Fakes {
            koji,
            pagure,
            forgejo,
            testing_farm,
            eln,
            log_detective,
        }
    }

    fn flag(&self, name: &str) -> Option<Json> {
        self.pagure
            .flags(PROJECT, PR)
            .into_iter()
            .find(|flag| flag["username"] == name)
    }

    fn flag_is(&self, name: &str, status: &str, comment: &str) -> bool {
        self.flag(name)
            .is_some_and(|flag| flag["status"] == status && flag["comment"] == comment)
    }

    /// Every flag on the PR, for failure messages.
    fn flags_text(&self) -> String {
        let mut flags: Vec<String> = self
            .pagure
            .flags(PROJECT, PR)
            .iter()
            .map(|flag| {
                format!(
                    "{} | {} | {}",
                    flag["username"].as_str().unwrap_or_default(),
                    flag["status"].as_str().unwrap_or_default(),
                    flag["comment"].as_str().unwrap_or_default()
                )
            })
            .collect();
        flags.sort();
        flags.join("\n")
    }

    /// `build` calls Koji received: (source, target).
    fn koji_builds(&self) -> Vec<(String, String)> {
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

    fn koji_cancels(&self) -> Vec<Json> {
        self.koji
            .calls()
            .into_iter()
            .filter(|call| call.call.method == "cancelTask")
            .map(|call| call.call.args.first().cloned().unwrap_or_default())
            .collect()
    }

    /// The Koji task the service recorded for `sha`'s build, from its flag's URL.
    fn task_of(&self, sha: &str) -> i64 {
        let flag = self.flag(&build_check(sha)).unwrap();
        let url = flag["url"].as_str().unwrap();
        url.rsplit("taskID=").next().unwrap().parse().unwrap()
    }
}

/// This test's own part of the broker: a topic prefix and a durable queue.
struct Bus {
    prefix: String,
    queue: String,
    /// How many of the fake hub's messages were published.
    koji_published: usize,
}

impl Bus {
    fn new() -> Bus {
        let id = uuid::Uuid::new_v4().simple().to_string();
        Bus {
            prefix: format!("org.fedoraproject.test{}", &id[..12]),
            queue: uuid::Uuid::new_v4().to_string(),
            koji_published: 0,
        }
    }

    /// Publishes with PyPI fedora-messaging; topics are given without the prefix.
    async fn publish(&self, messages: &[(&str, &Json)]) {
        let input: Vec<Json> = messages
            .iter()
            .map(|(topic, body)| json!({"topic": format!("{}.{topic}", self.prefix), "body": body}))
            .collect();
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/publish.py");
        let mut child = tokio::process::Command::new(common::python::python())
            .args([script, AMQP_URL])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        tokio::io::AsyncWriteExt::write_all(&mut stdin, &serde_json::to_vec(&input).unwrap())
            .await
            .unwrap();
        drop(stdin);
        let output = child.wait_with_output().await.unwrap();
        assert!(output.status.success(), "publishing failed");
    }

    /// Publishes the Koji messages the fake hub emitted since the last call, as the real hub
    /// would: `<prefix>.buildsys.task.state.change`.
    async fn publish_koji_messages(&mut self, koji: &FakeKojiHub) {
        let messages = koji.messages();
        let new: Vec<(&str, &Json)> = messages[self.koji_published..]
            .iter()
            .map(|message| {
                let topic = message
                    .topic
                    .strip_prefix("org.fedoraproject.prod.")
                    .expect("the hub's topic");
                (topic, &message.body)
            })
            .collect();
        if !new.is_empty() {
            self.publish(&new).await;
        }
        self.koji_published = messages.len();
    }

    /// Deletes the durable queue the listener declared.
    async fn remove(&self) -> anyhow::Result<()> {
        let runtime = lapin::runtime::default_runtime()?;
        let connection = lapin::Connection::connect_with_runtime(
            AMQP_URL,
            lapin::ConnectionProperties::default(),
            runtime,
        )
        .await?;
        let channel = connection.create_channel().await?;
        channel
            .queue_delete(
                self.queue.as_str().into(),
                lapin::options::QueueDeleteOptions::default(),
            )
            .await?;
        connection.close(200, "done".into()).await?;
        Ok(())
    }
}

/// The service's configuration file: everything external points at the fakes.
fn write_config(dir: &Path, fakes: &Fakes, db_url: &str, bus: &Bus, port: u16) -> String {
    let (certificate, key) = test_certificate();
    let cert_path = dir.join("koji.crt");
    let key_path = dir.join("koji.key");
    std::fs::write(&cert_path, certificate).unwrap();
    std::fs::write(&key_path, key.expose()).unwrap();
    let config = json!({
        "deployment": "stg",
        "server_name": format!("http://127.0.0.1:{port}"),
        "database_url": db_url,
        "fas_user": "packit",
        "check_name_prefix": CHECK_PREFIX,
        "comment_command_prefix": "/packit-ci-stg",
        "dry_run": false,
        "pagure_url": fakes.pagure.url(),
        "pagure_token": PAGURE_TOKEN,
        "koji_hub_url": fakes.koji.hub_url(),
        "koji_cert": cert_path,
        "koji_key": key_path,
        "testing_farm_api_url": fakes.testing_farm.api_url(),
        "testing_farm_secret": TF_TOKEN,
        "eln_package_lists_url": fakes.eln.url(),
        "logdetective_enabled": true,
        "logdetective_url": fakes.log_detective.url(),
        "logdetective_token": LD_TOKEN,
        "forgejo": {
            "web_url": fakes.forgejo.url(),
            "token": FORGEJO_TOKEN,
            "own_logins": ["fedora-ci"],
        },
        "fedora_ci_run_by_default": false,
        "fedora_ci": {"enabled_projects": [OPTEE, format!("{}/{PROJECT}", fakes.forgejo.url())]},
        "api": {"bind": format!("127.0.0.1:{port}")},
        "worker": {
            "queues": {"short": 4, "long": 4},
            "poll_interval_ms": 50,
            "shutdown_grace_seconds": 5,
        },
        "messaging": {
            "enabled": true,
            "amqp_url": AMQP_URL,
            "queue": bus.queue,
            "topic_prefix": bus.prefix,
            "batch_size": 20,
        },
    });
    let path = dir.join("fedora-ci.toml");
    std::fs::write(&path, toml::to_string(&config).unwrap()).unwrap();
    path.to_str().unwrap().to_owned()
}

/// `pagure_pr_new.json`'s body with `edit` applied; the PR, so edited, is also what the fake
/// Pagure now answers.
fn pull_request_body(fakes: &Fakes, edit: impl FnOnce(&mut Json)) -> Json {
    let mut body = read_fixture("packit-service/pagure_pr_new.json");
    body.as_object_mut().unwrap().remove("topic");
    edit(&mut body);
    fakes.pagure.add_pull_request(body["pullrequest"].clone());
    body
}

/// A push to the PR: `pagure.pull-request.updated` with `sha` as the new head.
fn pushed(fakes: &Fakes, sha: &str) -> Json {
    pull_request_body(fakes, |body| {
        body["agent"] = json!("pagure");
        body["pullrequest"]["commit_stop"] = json!(sha);
    })
}

/// The live stack: the service process and what the test keeps of it.
struct Live {
    fakes: Fakes,
    bus: Bus,
    store: Store,
    /// Testing Farm requests already advanced.
    advanced: BTreeSet<String>,
}

impl Live {
    /// Polls `check` for at most [`STEP`]; on timeout, says what was awaited and the flags.
    async fn wait(&self, what: &str, mut check: impl FnMut(&Fakes) -> bool) -> anyhow::Result<()> {
        let fakes = &self.fakes;
        wait_for(STEP, || {
            let done = check(fakes);
            async move { Ok(done.then_some(())) }
        })
        .await
        .map_err(|error| anyhow::anyhow!("{what}: {error}\nflags:\n{}", self.fakes.flags_text()))
    }

    /// Testing Farm request ids the service submitted, oldest first.
    async fn request_ids(&self) -> anyhow::Result<Vec<String>> {
        let calls = fedora_ci::db::flags::calls(&self.store, None).await?;
        Ok(calls
            .iter()
            .filter(|call| call.call == "POST /requests" && call.outcome == "succeeded")
            .filter_map(|call| call.response.as_ref()?.0["id"].as_str().map(str::to_owned))
            .collect())
    }

    /// Starts and finishes `sha`'s build as Koji would, publishing each state change.
    async fn build_succeeds(&mut self, sha: &str) -> anyhow::Result<()> {
        let task = self.fakes.task_of(sha);
        assert!(self.fakes.koji.start_build(task));
        self.bus.publish_koji_messages(&self.fakes.koji).await;
        let name = build_check(sha);
        self.wait("the build is in progress", |fakes| {
            fakes.flag_is(&name, "pending", "RPM build is in progress...")
        })
        .await?;
        assert!(self.fakes.koji.finish_build(task, &BuildOutcome::Succeeds));
        self.bus.publish_koji_messages(&self.fakes.koji).await;
        self.wait("the build succeeded", |fakes| {
            fakes.flag_is(&name, "success", "RPM build succeeded.")
        })
        .await
    }

    /// Waits for `sha`'s five tests to be submitted, completes each as passed (Testing Farm
    /// calls the service's webhook on every move) and waits for every test flag to say so.
    async fn tests_pass(&mut self, sha: &str, submitted_before: usize) -> anyhow::Result<()> {
        self.wait("five tests submitted", |fakes| {
            fakes.testing_farm.submitted().len() == submitted_before + TESTS.len()
        })
        .await?;
        for test in TESTS {
            let name = test_check(test, sha);
            self.wait(&format!("{test} submitted"), |fakes| {
                fakes.flag_is(&name, "pending", "Tests have been submitted ...")
            })
            .await?;
        }
        let ids: Vec<String> = self
            .request_ids()
            .await?
            .into_iter()
            .filter(|id| !self.advanced.contains(id))
            .collect();
        assert_eq!(ids.len(), TESTS.len(), "{ids:?}");
        for id in ids {
            while self
                .fakes
                .testing_farm
                .advance(&id, "passed")
                .await
                .is_some_and(|state| state != "complete")
            {}
            self.advanced.insert(id);
        }
        for test in TESTS {
            let name = test_check(test, sha);
            self.wait(&format!("{test} passed"), |fakes| {
                fakes.flag_is(&name, "success", "Tests passed ...")
            })
            .await?;
        }
        Ok(())
    }

    /// Waits until every message is processed and no task is due, running or dead.
    async fn settled(&self) -> anyhow::Result<()> {
        common::settled(&self.store, common::Settle::NothingDueOrDead, STEP).await
    }
}

/// Opened → built → tested → reported; a push; a second push supersedes it mid-build.
async fn life_cycle(live: &mut Live) -> anyhow::Result<()> {
    // The PR is opened.
    let opened = pull_request_body(&live.fakes, |_| {});
    live.bus
        .publish(&[("pagure.pull-request.new", &opened)])
        .await;
    let source = fork_source(FIRST);
    live.wait("Koji got the build", |fakes| {
        fakes.koji_builds() == vec![(source.clone(), "rawhide".to_owned())]
    })
    .await?;
    live.wait("the build was submitted", |fakes| {
        fakes.flag_is(
            &build_check(FIRST),
            "pending",
            "RPM build was submitted ...",
        )
    })
    .await?;

    // Koji builds it; the tests run and pass.
    live.build_succeeds(FIRST).await?;
    live.tests_pass(FIRST, 0).await?;

    // A push starts a new cycle.
    let second = pushed(&live.fakes, SECOND);
    live.bus
        .publish(&[("pagure.pull-request.updated", &second)])
        .await;
    live.wait("the second commit was submitted", |fakes| {
        fakes.flag_is(
            &build_check(SECOND),
            "pending",
            "RPM build was submitted ...",
        )
    })
    .await?;
    let second_task = live.fakes.task_of(SECOND);
    assert!(live.fakes.koji.start_build(second_task));
    live.bus.publish_koji_messages(&live.fakes.koji).await;
    live.wait("the second build is in progress", |fakes| {
        fakes.flag_is(
            &build_check(SECOND),
            "pending",
            "RPM build is in progress...",
        )
    })
    .await?;

    // Another push while that build runs supersedes it.
    let third = pushed(&live.fakes, THIRD);
    live.bus
        .publish(&[("pagure.pull-request.updated", &third)])
        .await;
    let superseded = format!("Superseded by the newer commit {}.", short(THIRD));
    live.wait("the second build was superseded", |fakes| {
        fakes.flag_is(&build_check(SECOND), "canceled", &superseded)
    })
    .await?;
    assert_eq!(live.fakes.koji_cancels(), vec![json!(second_task)]);
    live.wait("the head commit was submitted", |fakes| {
        fakes.flag_is(
            &build_check(THIRD),
            "pending",
            "RPM build was submitted ...",
        )
    })
    .await?;
    // The cancelled task's own messages come late.
    live.bus.publish_koji_messages(&live.fakes.koji).await;

    live.build_succeeds(THIRD).await?;
    live.tests_pass(THIRD, TESTS.len()).await?;
    live.settled().await?;

    // Every flag ends right: both tested commits passed, the superseded one says so and got
    // no tests.
    let mut expected = vec![
        (
            build_check(FIRST),
            "success",
            "RPM build succeeded.".to_owned(),
        ),
        (build_check(SECOND), "canceled", superseded),
        (
            build_check(THIRD),
            "success",
            "RPM build succeeded.".to_owned(),
        ),
    ];
    for sha in [FIRST, THIRD] {
        for test in TESTS {
            expected.push((
                test_check(test, sha),
                "success",
                "Tests passed ...".to_owned(),
            ));
        }
    }
    let mut expected: Vec<String> = expected
        .into_iter()
        .map(|(name, status, comment)| format!("{name} | {status} | {comment}"))
        .collect();
    expected.sort();
    assert_eq!(live.fakes.flags_text(), expected.join("\n"));
    let mut builds = live.fakes.koji_builds();
    builds.sort();
    let mut expected_builds: Vec<(String, String)> = [FIRST, SECOND, THIRD]
        .iter()
        .map(|sha| (fork_source(sha), "rawhide".to_owned()))
        .collect();
    expected_builds.sort();
    assert_eq!(builds, expected_builds, "one build per commit");
    assert_eq!(live.fakes.koji_cancels().len(), 1);
    assert_eq!(live.fakes.testing_farm.submitted().len(), 2 * TESTS.len());
    assert!(
        live.fakes.log_detective.calls().is_empty(),
        "no failed build, no analysis"
    );

    // Nothing left behind in the queue, and every message processed or ignored.
    let counts = task_rows::counts(&live.store, chrono::Utc::now()).await?;
    for count in &counts {
        assert_eq!(
            (count.ready, count.running, count.dead),
            (0, 0, 0),
            "{counts:?}"
        );
    }
    for (outcome, _) in inbound::count_by_outcome(&live.store).await? {
        assert!(
            outcome == inbound::PROCESSED || outcome == inbound::IGNORED,
            "an inbound message is {outcome}"
        );
    }
    Ok(())
}

/// Starts `fedora-ci serve` on a fresh database, its listener on this test's part of the
/// broker, runs `scenario` against it, stops it with SIGTERM and cleans up; fails the test
/// with the scenario's error, or when the service did not stop cleanly.
async fn with_live_stack<F>(scenario: F)
where
    F: for<'l> FnOnce(&'l mut Live) -> LocalBoxFuture<'l, anyhow::Result<()>>,
{
    let fakes = Fakes::start().await;
    let db = TestDb::postgres().await.unwrap();
    let bus = Bus::new();
    let dir = tempfile::tempdir().unwrap();
    let port = common::free_port();
    let config = write_config(dir.path(), &fakes, db.url(), &bus, port);

    let mut serve = Running::start(dir.path(), &["--config", &config, "serve"], &[]);
    tokio::task::block_in_place(|| {
        serve.wait_for_line(&["consuming fedora-messaging"], STEP);
    });
    let healthz = format!("http://127.0.0.1:{port}/api/healthz");
    wait_for(STEP, || async {
        let response = reqwest::get(&healthz).await;
        Ok(response.is_ok_and(|r| r.status() == 200).then_some(()))
    })
    .await
    .unwrap();
    // Migrated by the service before its worker and listener started.
    let store = Store::connect(db.url(), &ConnectSettings::default())
        .await
        .unwrap();

    let mut live = Live {
        fakes,
        bus,
        store,
        advanced: BTreeSet::new(),
    };
    let outcome = scenario(&mut live).await;

    let status = tokio::task::block_in_place(|| serve.terminate());
    let removed = live.bus.remove().await;
    live.store.close().await;
    if let Err(error) = outcome {
        panic!("{error:#}");
    }
    assert!(status.success(), "serve exited with {status} on SIGTERM");
    removed.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_pull_request_lives_through_the_real_stack() {
    with_live_stack(|live| Box::pin(life_cycle(live))).await;
}

/// Forgejo's `pull_request` webhook as webhook-to-fedora-messaging publishes it (the real
/// fixture, with its `headers`), about PR 7 of `rpms/optee_os` from zbyszek's fork at `sha`;
/// the fake Forgejo gets the commit.
fn forgejo_pull_request(fakes: &Fakes, action: &str, sha: &str) -> Json {
    fakes.forgejo.add_commit(PROJECT, sha, &[]);
    fakes.forgejo.add_commit("zbyszek/optee_os", sha, &[]);
    let web_url = fakes.forgejo.url();
    let pr = common::forgejo::PullRequest {
        web_url: &web_url,
        target: PROJECT,
        source: "zbyszek/optee_os",
        number: 7,
        head: sha,
        title: "Update to 4.5.0",
        target_branch: "rawhide",
    };
    common::forgejo::pull_request_message(&pr, action, "zbyszek")
}

/// The newest status of `context` at `sha` on the target repository: (state, description).
fn status_of(fakes: &Fakes, sha: &str, context: &str) -> Option<(String, String)> {
    let status = fakes
        .forgejo
        .latest_statuses(PROJECT, sha)
        .remove(context)?;
    Some((
        status["status"].as_str().unwrap_or_default().to_owned(),
        status["description"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    ))
}

fn status_is(fakes: &Fakes, sha: &str, context: &str, state: &str, description: &str) -> bool {
    status_of(fakes, sha, context) == Some((state.to_owned(), description.to_owned()))
}

/// Opened on Forgejo → built from the fork → tested → statuses; a push supersedes.
async fn forgejo_life_cycle(live: &mut Live) -> anyhow::Result<()> {
    let build = format!("{CHECK_PREFIX} - scratch build - rawhide");
    let opened = forgejo_pull_request(&live.fakes, "opened", FIRST);
    live.bus.publish(&[("forgejo.pull_request", &opened)]).await;
    let source = format!(
        "git+{}/zbyszek/optee_os.git#{FIRST}",
        live.fakes.forgejo.url()
    );
    live.wait("Koji got the build from the fork", |fakes| {
        fakes.koji_builds() == vec![(source.clone(), "rawhide".to_owned())]
    })
    .await?;
    live.wait("the build status is pending", |fakes| {
        status_is(
            fakes,
            FIRST,
            &build,
            "pending",
            "RPM build was submitted ...",
        )
    })
    .await?;
    let url = live.fakes.forgejo.latest_statuses(PROJECT, FIRST)[&build]["target_url"]
        .as_str()
        .unwrap()
        .to_owned();
    let task: i64 = url.rsplit("taskID=").next().unwrap().parse()?;
    assert!(live.fakes.koji.start_build(task));
    assert!(live.fakes.koji.finish_build(task, &BuildOutcome::Succeeds));
    live.bus.publish_koji_messages(&live.fakes.koji).await;
    live.wait("the build status is success", |fakes| {
        status_is(fakes, FIRST, &build, "success", "RPM build succeeded.")
    })
    .await?;
    live.wait("five tests submitted", |fakes| {
        fakes.testing_farm.submitted().len() == TESTS.len()
    })
    .await?;
    let ids = live.request_ids().await?;
    for id in ids {
        while live
            .fakes
            .testing_farm
            .advance(&id, "passed")
            .await
            .is_some_and(|state| state != "complete")
        {}
    }
    for test in TESTS {
        let context = format!("{CHECK_PREFIX} - {test} - rawhide");
        live.wait(&format!("{test} passed"), |fakes| {
            status_is(fakes, FIRST, &context, "success", "Tests passed ...")
        })
        .await?;
    }

    // A push supersedes the first commit's work: its statuses are final already, the new
    // head is built.
    let pushed = forgejo_pull_request(&live.fakes, "synchronized", SECOND);
    live.bus.publish(&[("forgejo.pull_request", &pushed)]).await;
    live.wait("the pushed head was submitted", |fakes| {
        status_is(
            fakes,
            SECOND,
            &build,
            "pending",
            "RPM build was submitted ...",
        )
    })
    .await?;
    live.settled().await?;

    // Nothing went to Pagure or to the fork; the webhook's credentials were not stored.
    assert!(
        live.fakes.pagure.flags(PROJECT, 7).is_empty()
            && live.fakes.pagure.flags(PROJECT, PR).is_empty()
    );
    assert!(
        live.fakes
            .forgejo
            .statuses("zbyszek/optee_os", FIRST)
            .is_empty()
    );
    let authorization = opened["headers"]["authorization"]
        .as_str()
        .unwrap()
        .to_owned();
    let stored: Vec<(String, String)> = match &live.store {
        Store::Postgres(pool) => {
            sqlx::query_as("SELECT topic, body FROM inbound_messages")
                .fetch_all(pool)
                .await?
        }
        Store::Sqlite(_) => unreachable!("the stack runs on PostgreSQL"),
    };
    let forgejo: Vec<&String> = stored
        .iter()
        .filter(|(topic, _)| topic.ends_with(".forgejo.pull_request"))
        .map(|(_, body)| body)
        .collect();
    assert_eq!(forgejo.len(), 2, "the opened and synchronized messages");
    for body in forgejo {
        let body: Json = serde_json::from_str(body)?;
        assert!(body.get("headers").is_none() && body.get("body").is_some());
    }
    assert!(
        stored
            .iter()
            .all(|(_, body)| !body.contains(&authorization))
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_forgejo_pull_request_lives_through_the_real_stack() {
    with_live_stack(|live| Box::pin(forgejo_life_cycle(live))).await;
}

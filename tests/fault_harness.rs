//! The fault harness: proof that the service loses nothing and does nothing twice while its
//! processes die and everything around it fails.
//!
//! A stream of real-fixture messages (many PRs opened, pushed to and commented on; Koji's
//! task state changes for the builds the fake hub really got; bus noise) goes through the real
//! RabbitMQ, with fedora-messaging's publisher, into a listener and several workers, each a
//! `fedora-ci` process on a PostgreSQL cluster of the harness's own; Testing Farm results come
//! through the API's webhook. Meanwhile a worker or the listener is killed with SIGKILL every
//! few seconds and started again; 30 % of the Koji, Testing Farm and Pagure calls fail
//! (HTTP 5xx, timeouts, connection resets, Koji `ServerOffline`) and some are slow;
//! PostgreSQL is restarted once and the broker connections are cut once.
//!
//! At the end, from the fakes' records and the database: no message lost, no duplicate Koji
//! build per (PR, commit, target), no duplicate Testing Farm request per (build, test), every
//! PR's final flags right for its head commit, no task left running or waiting, and dead tasks
//! only for the builds Koji always refuses, with that reason.
//!
//! Size: `FCI_FAULT_MESSAGES` (default 2,000); e.g. the long form
//! `FCI_FAULT_MESSAGES=10000 cargo test --release --test fault_harness -- --nocapture`.
//! Process logs are kept in a directory printed at the end (`FCI_FAULT_KEEP_LOGS=1`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[allow(clippy::duplicate_mod)]
mod clients_support;
mod common;

#[path = "fault_harness/faults.rs"]
mod faults;
#[path = "fault_harness/postgres.rs"]
mod postgres;
#[path = "fault_harness/publisher.rs"]
mod publisher;
#[path = "fault_harness/relay.rs"]
mod relay;
#[path = "fault_harness/scenario.rs"]
mod scenario;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fedora_ci::fakes::eln::FakeEln;
use fedora_ci::fakes::koji::{BuildOutcome, FakeKojiConfig, FakeKojiHub};
use fedora_ci::fakes::pagure::FakePagure;
use fedora_ci::fakes::testing_farm::FakeTestingFarm;
use serde_json::{Value as Json, json};
use tokio::sync::Mutex as AsyncMutex;

use faults::{DoomedBuild, FaultProxy, FaultSettings, Service};
use publisher::{Expect, Kind, Publisher};
use scenario::{PrPlan, Scenario, Step};

const RABBITMQ: &str = "127.0.0.1:5672";
const PAGURE_TOKEN: &str = "pagure-token";
const TF_TOKEN: &str = "tf-secret";
const CHECK_PREFIX: &str = "Packit-stg";
/// Without `.fmf/version` in the fork, no custom test.
const TESTS: [&str; 5] = [
    "installability",
    "rpminspect",
    "rpmlint",
    "rmdepcheck",
    "license-validate",
];
const WORKERS: usize = 3;
/// The service's timeout for one external call; the fault proxies' timeouts exceed it.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(3);
const FAILURE_RATE: f64 = 0.30;
const SLOW_RATE: f64 = 0.10;
/// Messages the fake hub emits for one build: OPEN of the build, the SRPM task's OPEN and
/// CLOSED, two arches' OPEN, then the arches' and the build's end.
const KOJI_MESSAGES_PER_BUILD: usize = 8;
/// The periodic Testing Farm poll: always scheduled, never "waiting" work.
const PERIODIC_TASKS: [&str; 1] = ["babysit_pending_tft_runs"];

struct Size {
    messages: usize,
    prs: usize,
    /// Over which the scripted steps are spread.
    window: Duration,
    /// How long the service may take to settle after the stream.
    settle: Duration,
}

impl Size {
    fn from_env() -> Size {
        let messages: usize = std::env::var("FCI_FAULT_MESSAGES")
            .ok()
            .and_then(|text| text.parse().ok())
            .unwrap_or(2_000);
        let settle = std::env::var("FCI_FAULT_SETTLE_SECONDS")
            .ok()
            .and_then(|text| text.parse().ok())
            .unwrap_or(360);
        Size {
            messages,
            prs: (messages / 40).max(20),
            window: Duration::from_secs_f64((messages as f64 / 25.0).clamp(60.0, 600.0)),
            settle: Duration::from_secs(settle),
        }
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free port")
}

fn build_check(sha: &str) -> String {
    format!("{CHECK_PREFIX} - scratch build - rawhide [{}]", &sha[..7])
}

fn test_check(test: &str, sha: &str) -> String {
    format!("{CHECK_PREFIX} - {test} - rawhide [{}]", &sha[..7])
}

/// One `fedora-ci` process, its stderr appended to a log file across restarts.
struct ServiceProcess {
    name: String,
    args: Vec<String>,
    log: PathBuf,
    child: Option<Child>,
    kills: usize,
}

impl ServiceProcess {
    fn start(name: &str, args: &[&str], logs: &Path) -> ServiceProcess {
        let mut process = ServiceProcess {
            name: name.to_owned(),
            args: args.iter().map(|arg| (*arg).to_owned()).collect(),
            log: logs.join(format!("{name}.log")),
            child: None,
            kills: 0,
        };
        process.spawn();
        process
    }

    fn spawn(&mut self) {
        let log = File::options()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_fedora-ci"))
            .args(&self.args)
            .env_remove("FEDORA_CI_CONFIG")
            // Several workers and listeners run at once: none serves a health port.
            .env("FEDORA_CI_WORKER__HEALTH_BIND", "")
            .env("FEDORA_CI_MESSAGING__HEALTH_BIND", "")
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("fedora-ci starts");
        self.child = Some(child);
    }

    /// SIGKILL: no chance to finish anything, then a new process.
    fn kill_and_restart(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.kills += 1;
        self.spawn();
    }

    fn tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

impl Drop for ServiceProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

struct Fakes {
    koji: FakeKojiHub,
    pagure: FakePagure,
    testing_farm: FakeTestingFarm,
    eln: FakeEln,
    koji_proxy: FaultProxy,
    pagure_proxy: FaultProxy,
    testing_farm_proxy: FaultProxy,
}

impl Fakes {
    async fn start(scenario: &Scenario) -> Fakes {
        let koji = FakeKojiHub::start(FakeKojiConfig::default()).await.unwrap();
        let pagure = FakePagure::start().await.unwrap();
        pagure.add_token(PAGURE_TOKEN, "packit-stg");
        pagure.add_group(json!({
            "name": "packager", "display_name": "Fedora Packager Git Commit Group",
            "description": "Fedora packagers", "group_type": "user",
            "creator": {"name": "packit", "fullname": "packit", "url_path": "user/packit"},
            "date_created": "1431529680", "members": ["zbyszek", "mmassari"],
        }));
        let mut projects: Vec<String> = scenario.prs.iter().map(PrPlan::project).collect();
        projects.sort();
        projects.dedup();
        for project in &projects {
            pagure.set_branches(project, &["rawhide", "eln"]);
        }
        let testing_farm = FakeTestingFarm::start(TF_TOKEN).await.unwrap();
        let eln = FakeEln::start().await.unwrap();
        // None of the packages is on the ELN lists: no ELN builds.
        eln.set_packages(&["glibc", "bash-completion"], &[]);
        let settings = |doomed: Option<DoomedBuild>| FaultSettings {
            failure_rate: FAILURE_RATE,
            slow_rate: SLOW_RATE,
            client_timeout: CLIENT_TIMEOUT,
            doomed,
        };
        let koji_proxy = FaultProxy::start(
            Service::Koji,
            &koji.hub_url(),
            settings(Some(DoomedBuild {
                source_contains: format!("/rpms/{}.git", scenario::DOOMED),
                code: scenario::DOOMED_FAULT_CODE,
                text: scenario::DOOMED_FAULT_TEXT.to_owned(),
            })),
        )
        .await;
        let pagure_proxy = FaultProxy::start(Service::Pagure, &pagure.url(), settings(None)).await;
        let testing_farm_proxy = FaultProxy::start(
            Service::TestingFarm,
            &testing_farm.api_url(),
            settings(None),
        )
        .await;
        Fakes {
            koji,
            pagure,
            testing_farm,
            eln,
            koji_proxy,
            pagure_proxy,
            testing_farm_proxy,
        }
    }
}

struct Bus {
    prefix: String,
    queue: String,
}

impl Bus {
    fn new() -> Bus {
        let id = uuid::Uuid::new_v4().simple().to_string();
        Bus {
            prefix: format!("org.fedoraproject.fault{}", &id[..12]),
            queue: format!("fault-harness-{id}"),
        }
    }

    /// Ready messages left in the listener's queue; then deletes it.
    async fn drain_count_and_remove(&self) -> anyhow::Result<u32> {
        let runtime = lapin::runtime::default_runtime()?;
        let connection = lapin::Connection::connect_with_runtime(
            &format!("amqp://guest:guest@{RABBITMQ}/%2F"),
            lapin::ConnectionProperties::default(),
            runtime,
        )
        .await?;
        let channel = connection.create_channel().await?;
        let queue = channel
            .queue_declare(
                self.queue.as_str().into(),
                lapin::options::QueueDeclareOptions {
                    passive: true,
                    ..Default::default()
                },
                lapin::types::FieldTable::default(),
            )
            .await?;
        channel
            .queue_delete(
                self.queue.as_str().into(),
                lapin::options::QueueDeleteOptions::default(),
            )
            .await?;
        connection.close(200, "done".into()).await?;
        Ok(queue.message_count())
    }
}

fn write_config(
    dir: &Path,
    fakes: &Fakes,
    db_url: &str,
    amqp_url: &str,
    bus: &Bus,
    port: u16,
    scenario: &Scenario,
) -> String {
    let (certificate, key) = clients_support::test_certificate();
    let cert_path = dir.join("koji.crt");
    let key_path = dir.join("koji.key");
    std::fs::write(&cert_path, certificate).unwrap();
    std::fs::write(&key_path, key.expose()).unwrap();
    let mut enabled: Vec<String> = scenario
        .prs
        .iter()
        .filter(|plan| plan.enabled())
        .map(|plan| format!("https://src.fedoraproject.org/{}", plan.project()))
        .collect();
    enabled.sort();
    enabled.dedup();
    let config = json!({
        "deployment": "stg",
        "server_name": format!("http://127.0.0.1:{port}"),
        "database_url": db_url,
        "database": {"max_connections": 8, "acquire_timeout_seconds": 10},
        "fas_user": "packit",
        "check_name_prefix": CHECK_PREFIX,
        "comment_command_prefix": "/packit-ci-stg",
        "dry_run": false,
        "pagure_url": fakes.pagure_proxy.url(),
        "pagure_token": PAGURE_TOKEN,
        "koji_hub_url": fakes.koji_proxy.url(),
        "koji_cert": cert_path,
        "koji_key": key_path,
        "testing_farm_api_url": fakes.testing_farm_proxy.url(),
        "testing_farm_secret": TF_TOKEN,
        "eln_package_lists_url": fakes.eln.url(),
        "request_timeout_seconds": CLIENT_TIMEOUT.as_secs(),
        "logdetective_enabled": false,
        "fedora_ci_run_by_default": false,
        "fedora_ci": {"enabled_projects": enabled},
        "api": {"bind": format!("127.0.0.1:{port}")},
        "worker": {
            "queues": {"short": 4, "long": 4},
            "lease_seconds": 10,
            "poll_interval_ms": 100,
            "shutdown_grace_seconds": 5,
            // 5, 10, 20 s instead of 1, 2, 4 minutes: the same schedule, sooner.
            "submission_retry_seconds": 5,
            // 30 % of calls fail at random, so a service is "unavailable" for most of the run
            // and its outage waits would grow to many minutes, past the settle bound: the
            // harness is about losing nothing and doing nothing twice, the outage schedule is
            // `pipeline::lifecycle_outage`'s.
            "outage_max_delay_minutes": 1,
        },
        "messaging": {
            "enabled": true,
            "amqp_url": amqp_url,
            "queue": bus.queue,
            "topic_prefix": bus.prefix,
            "batch_size": 50,
        },
    });
    let path = dir.join("fedora-ci.toml");
    std::fs::write(&path, toml::to_string(&config).unwrap()).unwrap();
    path.to_str().unwrap().to_owned()
}

/// What the drivers of Koji and Testing Farm have in hand.
#[derive(Default)]
struct Drivers {
    koji_in_flight: AtomicUsize,
    testing_farm_in_flight: AtomicUsize,
    /// The fake hub's messages already published.
    koji_published: AtomicUsize,
    webhook_redeliveries: AtomicUsize,
    stop: AtomicBool,
}

impl Drivers {
    fn idle(&self, fakes: &Fakes, seen: (usize, usize)) -> bool {
        self.koji_in_flight.load(Ordering::SeqCst) == 0
            && self.testing_farm_in_flight.load(Ordering::SeqCst) == 0
            && self.koji_published.load(Ordering::SeqCst) == fakes.koji.messages().len()
            && created_builds(&fakes.koji).len() == seen.0
            && fakes.testing_farm.request_ids().len() == seen.1
    }
}

type SharedPublisher = Arc<AsyncMutex<Publisher>>;

/// Runs each build the fake hub accepted through its states, as a builder would, with the
/// outcome the scenario chose for its commit; publishes every message the hub emits.
fn drive_koji(
    fakes: Arc<Fakes>,
    scenario: Arc<Scenario>,
    drivers: Arc<Drivers>,
    publisher: SharedPublisher,
    seen_builds: Arc<AtomicUsize>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let builds = created_builds(&fakes.koji);
            for build in &builds[seen_builds.load(Ordering::SeqCst)..] {
                drivers.koji_in_flight.fetch_add(1, Ordering::SeqCst);
                let outcome = match scenario.commit_of_source(&build.source) {
                    Some(commit) if commit.build_fails => {
                        BuildOutcome::FailsOnArch("x86_64".to_owned())
                    }
                    _ => BuildOutcome::Succeeds,
                };
                let (fakes, drivers, task_id) = (fakes.clone(), drivers.clone(), build.task_id);
                tokio::spawn(async move {
                    use fedora_ci::clients::koji::TaskState;
                    tokio::time::sleep(Duration::from_secs_f64(rand::random_range(0.5..3.0))).await;
                    if fakes.koji.task_state(task_id) == Some(TaskState::Free) {
                        fakes.koji.start_build(task_id);
                        tokio::time::sleep(Duration::from_secs_f64(rand::random_range(1.0..5.0)))
                            .await;
                        if fakes.koji.task_state(task_id) == Some(TaskState::Open) {
                            fakes.koji.finish_build(task_id, &outcome);
                        }
                    }
                    drivers.koji_in_flight.fetch_sub(1, Ordering::SeqCst);
                });
            }
            seen_builds.store(builds.len(), Ordering::SeqCst);
            let messages = fakes.koji.messages();
            let published = drivers.koji_published.load(Ordering::SeqCst);
            if messages.len() > published {
                let mut publisher = publisher.lock().await;
                for message in &messages[published..] {
                    let topic = message
                        .topic
                        .strip_prefix("org.fedoraproject.prod.")
                        .expect("the hub's topic");
                    publisher
                        .publish(topic, &message.body, Kind::KojiTaskState, Expect::Stored)
                        .await;
                }
                drivers
                    .koji_published
                    .store(messages.len(), Ordering::SeqCst);
            }
            if drivers.stop.load(Ordering::SeqCst) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
}

/// Runs each Testing Farm request through its states to the result the scenario chose for
/// its commit. Testing Farm calls the webhook on every move; the final notification is then
/// delivered again until the API accepts it, as a notifier that retries would.
fn drive_testing_farm(
    fakes: Arc<Fakes>,
    scenario: Arc<Scenario>,
    drivers: Arc<Drivers>,
    seen_requests: Arc<AtomicUsize>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let http = reqwest::Client::new();
        let mut seen = HashSet::new();
        loop {
            let ids = fakes.testing_farm.request_ids();
            let sources: HashMap<String, String> = created_builds(&fakes.koji)
                .into_iter()
                .map(|build| (build.task_id.to_string(), build.source))
                .collect();
            let new: Vec<&String> = ids.iter().filter(|id| !seen.contains(*id)).collect();
            for id in new {
                let Some(request) = stored_request(&http, &fakes, id).await else {
                    continue;
                };
                seen.insert(id.clone());
                drivers
                    .testing_farm_in_flight
                    .fetch_add(1, Ordering::SeqCst);
                let fails = koji_task_ids(&request)
                    .first()
                    .and_then(|task| sources.get(task))
                    .and_then(|source| scenario.commit_of_source(source))
                    .is_some_and(|commit| commit.tests_fail);
                let overall = if fails { "failed" } else { "passed" };
                let (fakes, drivers, http, id) =
                    (fakes.clone(), drivers.clone(), http.clone(), id.clone());
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_secs_f64(rand::random_range(1.0..4.0))).await;
                    let mut state = None;
                    while let Some(next) = fakes.testing_farm.advance(&id, overall).await {
                        let done = next == "complete";
                        state = Some(next);
                        if done {
                            break;
                        }
                        tokio::time::sleep(Duration::from_millis(300)).await;
                    }
                    if state.as_deref() == Some("complete") {
                        deliver(&http, &fakes, &id, &drivers).await;
                    }
                    drivers
                        .testing_farm_in_flight
                        .fetch_sub(1, Ordering::SeqCst);
                });
            }
            seen_requests.store(seen.len(), Ordering::SeqCst);
            if drivers.stop.load(Ordering::SeqCst) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
}

/// A request as the fake Testing Farm stores it (`GET /requests/{id}`, read directly).
async fn stored_request(http: &reqwest::Client, fakes: &Fakes, id: &str) -> Option<Json> {
    let url = format!("{}/requests/{id}", fakes.testing_farm.api_url());
    http.get(url).send().await.ok()?.json().await.ok()
}

/// A scratch build the fake hub created.
struct CreatedBuild {
    task_id: i64,
    source: String,
    target: String,
}

/// Every scratch build the fake hub created, oldest first.
fn created_builds(koji: &FakeKojiHub) -> Vec<CreatedBuild> {
    koji.builds()
        .into_iter()
        .map(|(task_id, request)| CreatedBuild {
            task_id,
            source: request[0].as_str().unwrap_or_default().to_owned(),
            target: request[1].as_str().unwrap_or_default().to_owned(),
        })
        .collect()
}

async fn deliver(http: &reqwest::Client, fakes: &Fakes, id: &str, drivers: &Drivers) {
    // Every request carries the same webhook: the service's.
    let webhook = fakes
        .testing_farm
        .submitted()
        .iter()
        .find_map(|request| request["notification"]["webhook"].as_object().cloned());
    let Some(webhook) = webhook else {
        return;
    };
    let (Some(url), Some(token)) = (webhook["url"].as_str(), webhook["token"].as_str()) else {
        return;
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    while Instant::now() < deadline {
        drivers.webhook_redeliveries.fetch_add(1, Ordering::SeqCst);
        let answer = http
            .post(url)
            .json(&json!({"request_id": id, "token": token}))
            .timeout(Duration::from_secs(15))
            .send()
            .await;
        if answer.is_ok_and(|answer| answer.status().is_success()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The Koji tasks a Testing Farm request tests (`KOJI_TASK_ID` of each environment).
fn koji_task_ids(request: &Json) -> Vec<String> {
    let environments = match request.get("environments_requested") {
        Some(stored) => stored,
        None => &request["environments"],
    };
    environments
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|environment| environment["variables"]["KOJI_TASK_ID"].as_str())
        .map(str::to_owned)
        .collect()
}

/// Publishes the scripted steps at their times; the fake Pagure learns each new head first.
async fn publish_stream(
    scenario: &Scenario,
    fakes: &Fakes,
    publisher: &SharedPublisher,
    start: Instant,
) {
    let mut heads: HashMap<usize, String> = HashMap::new();
    for (at, step) in &scenario.timeline {
        if let Some(wait) = at.checked_sub(start.elapsed()) {
            tokio::time::sleep(wait).await;
        }
        let (topic, body, kind, expect) = match step {
            Step::Open { pr } => {
                let plan = &scenario.prs[*pr];
                let body =
                    scenario::pull_request_body(plan, "rpms", &plan.commits[0].sha, "zbyszek");
                fakes.pagure.add_pull_request(body["pullrequest"].clone());
                heads.insert(*pr, plan.commits[0].sha.clone());
                (
                    "pagure.pull-request.new",
                    body,
                    Kind::PullRequestOpened,
                    Expect::Stored,
                )
            }
            Step::Push { pr, commit } => {
                let plan = &scenario.prs[*pr];
                let body =
                    scenario::pull_request_body(plan, "rpms", &plan.commits[*commit].sha, "pagure");
                fakes.pagure.add_pull_request(body["pullrequest"].clone());
                heads.insert(*pr, plan.commits[*commit].sha.clone());
                (
                    "pagure.pull-request.updated",
                    body,
                    Kind::Push,
                    Expect::Stored,
                )
            }
            Step::Comment { pr, text } => {
                let plan = &scenario.prs[*pr];
                // The head the PR has now, as Pagure would put it in the message.
                let head = heads
                    .get(pr)
                    .cloned()
                    .unwrap_or_else(|| plan.commits[0].sha.clone());
                let body = scenario::comment_body(plan, &head, text);
                (
                    "pagure.pull-request.comment.added",
                    body,
                    Kind::Comment,
                    Expect::Stored,
                )
            }
            Step::Noise => {
                let (topic, body) = scenario::noise();
                (topic, body, Kind::Noise, Expect::Dropped)
            }
        };
        publisher
            .lock()
            .await
            .publish(topic, &body, kind, expect)
            .await;
    }
}

/// Faults that the harness causes around the service, on a schedule.
struct Chaos {
    processes: Arc<Mutex<Vec<ServiceProcess>>>,
    stop: Arc<AtomicBool>,
}

impl Chaos {
    /// Every 2 to 5 seconds a random worker or the listener gets SIGKILL and starts again.
    fn start(processes: Arc<Mutex<Vec<ServiceProcess>>>) -> (Chaos, tokio::task::JoinHandle<()>) {
        let stop = Arc::new(AtomicBool::new(false));
        let chaos = Chaos {
            processes: processes.clone(),
            stop: stop.clone(),
        };
        let handle = tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                tokio::time::sleep(Duration::from_secs_f64(rand::random_range(2.0..5.0))).await;
                let processes = processes.clone();
                tokio::task::spawn_blocking(move || {
                    let mut processes = processes.lock().unwrap();
                    let victim = rand::random_range(0..processes.len());
                    processes[victim].kill_and_restart();
                })
                .await
                .unwrap();
            }
        });
        (chaos, handle)
    }

    fn kills(&self) -> BTreeMap<String, usize> {
        self.processes
            .lock()
            .unwrap()
            .iter()
            .map(|process| (process.name.clone(), process.kills))
            .collect()
    }
}

/// The database as the checks see it; errors (PostgreSQL restarting) read as "not yet".
struct Observer {
    pool: sqlx::PgPool,
}

#[derive(Debug, Default, PartialEq)]
struct ServiceState {
    inbound: HashMap<String, String>,
    /// Non-periodic tasks pending (due or not) or running.
    busy_tasks: i64,
    running: i64,
    ready: i64,
    dead: Vec<(String, Json, Option<String>)>,
}

impl Observer {
    async fn state(&self) -> anyhow::Result<ServiceState> {
        let inbound: Vec<(String, String)> =
            sqlx::query_as("SELECT message_id, outcome FROM inbound_messages")
                .fetch_all(&self.pool)
                .await?;
        let tasks: Vec<(String, String, bool)> = sqlx::query_as(
            "SELECT name, state, run_at <= now() FROM tasks WHERE state IN ('pending', 'running')",
        )
        .fetch_all(&self.pool)
        .await?;
        let dead: Vec<(String, sqlx::types::Json<Json>, Option<String>)> = sqlx::query_as(
            "SELECT name, payload, last_error FROM tasks WHERE state = 'dead' ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await?;
        let periodic = |name: &str| PERIODIC_TASKS.contains(&name);
        Ok(ServiceState {
            inbound: inbound.into_iter().collect(),
            busy_tasks: tasks.iter().filter(|(name, _, _)| !periodic(name)).count() as i64,
            running: tasks
                .iter()
                .filter(|(_, state, _)| state == "running")
                .count() as i64,
            ready: tasks
                .iter()
                .filter(|(_, state, due)| state == "pending" && *due)
                .count() as i64,
            dead: dead
                .into_iter()
                .map(|(name, payload, error)| (name, payload.0, error))
                .collect(),
        })
    }

    /// Waits until nothing moves: no message pending, no task but the periodic ones, and
    /// `quiet` true, for `stable` checks a second apart.
    async fn settled(
        &self,
        deadline: Instant,
        stable: usize,
        mut quiet: impl FnMut() -> bool,
    ) -> anyhow::Result<ServiceState> {
        let mut calm = 0;
        loop {
            if Instant::now() > deadline {
                let state = self.state().await.ok();
                anyhow::bail!(
                    "the service did not settle in time: {:?}",
                    state.map(|state| (
                        state.busy_tasks,
                        state.running,
                        state
                            .inbound
                            .values()
                            .filter(|outcome| *outcome == "pending")
                            .count()
                    ))
                );
            }
            match self.state().await {
                Ok(state)
                    if state.busy_tasks == 0
                        && !state.inbound.values().any(|outcome| outcome == "pending")
                        && quiet() =>
                {
                    calm += 1;
                    if calm >= stable {
                        return Ok(state);
                    }
                }
                _ => calm = 0,
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
}

/// The end of every process's log.
fn logs_of(processes: &Mutex<Vec<ServiceProcess>>, api: &ServiceProcess) -> String {
    let processes = processes.lock().unwrap();
    let tails: Vec<String> = processes
        .iter()
        .chain(std::iter::once(api))
        .map(|process| format!("--- {} ---\n{}", process.name, process.tail(25)))
        .collect();
    tails.join("\n")
}

/// The Fedora CI test a Testing Farm request runs, by its tmt repository and plan.
fn test_name(request: &Json) -> String {
    // `tmt` as submitted; Testing Farm shows it back under its alias `fmf`.
    let fmf = match request["test"].get("tmt") {
        Some(tmt) => tmt,
        None => &request["test"]["fmf"],
    };
    fedora_ci::helpers::testing_farm::default_tests()
        .into_iter()
        .find(|test| {
            fmf["url"].as_str() == Some(test.url.as_str())
                && test
                    .plan
                    .as_deref()
                    .is_none_or(|plan| fmf["name"].as_str() == Some(plan))
        })
        .map(|test| test.name)
        .unwrap_or_default()
}

/// Which tests the service could rightly give up on: Testing Farm failed their submission
/// and holds no request for them. Where a request exists, its result must reach the flag;
/// where none exists, only the infrastructure error can be true.
struct GivenUp {
    failed: HashMap<(String, String), usize>,
    accepted: HashSet<(String, String)>,
}

impl GivenUp {
    async fn from(fakes: &Fakes) -> GivenUp {
        let key = |request: &Json| {
            (
                koji_task_ids(request).first().cloned().unwrap_or_default(),
                test_name(request),
            )
        };
        let mut failed = HashMap::new();
        for request in fakes.testing_farm_proxy.testing_farm_failed_submissions() {
            *failed.entry(key(&request)).or_default() += 1;
        }
        let http = reqwest::Client::new();
        let mut accepted = HashSet::new();
        for id in fakes.testing_farm.request_ids() {
            if let Some(request) = stored_request(&http, fakes, &id).await {
                accepted.insert(key(&request));
            }
        }
        GivenUp { failed, accepted }
    }

    fn must_give_up(&self, task: &str, test: &str) -> bool {
        let key = (task.to_owned(), test.to_owned());
        !self.accepted.contains(&key) && self.failed.get(&key).is_some_and(|count| *count > 0)
    }

    /// Testing Farm holds a request for the test and also failed some of its submissions: an
    /// attempt whose answer was lost may have created that request, and when every later
    /// attempt failed too, the service gave up without knowing it. This is the open window of
    /// `docs/reliability.md` ("A request created by an attempt whose answer was lost"); the
    /// harness counts it apart instead of hiding it among the correct flags.
    fn may_be_orphaned(&self, task: &str, test: &str) -> bool {
        let key = (task.to_owned(), test.to_owned());
        self.accepted.contains(&key) && self.failed.get(&key).is_some_and(|count| *count > 0)
    }
}

/// Where the head's flag for a test shows the infrastructure error although Testing Farm ran
/// a request for it (see [`GivenUp::may_be_orphaned`]), expects that flag; returns how many.
fn accept_orphaned_requests(
    plan: &PrPlan,
    head_task: &str,
    given_up: &GivenUp,
    expected: &mut [String],
    actual: &[String],
) -> usize {
    let mut orphaned = 0;
    for test in TESTS {
        if !given_up.may_be_orphaned(head_task, test) {
            continue;
        }
        let gave_up = format!("{} | error | {GAVE_UP}", test_check(test, &plan.head().sha));
        let prefix = format!("{} |", test_check(test, &plan.head().sha));
        if actual.contains(&gave_up) {
            for flag in expected.iter_mut().filter(|flag| flag.starts_with(&prefix)) {
                *flag = gave_up.clone();
                orphaned += 1;
            }
        }
    }
    expected.sort();
    orphaned
}

const GAVE_UP: &str =
    "Failed to submit tests: Testing Farm is unavailable (infrastructure failure):";

/// What the flags of `plan`'s head commit should be, as "name | status | comment", sorted.
/// `head_task` is the Koji task of the head's build (from its flag).
fn expected_flags(plan: &PrPlan, head_task: &str, given_up: &GivenUp) -> Vec<String> {
    let head = plan.head();
    let mut flags = Vec::new();
    if !plan.enabled() {
        return flags;
    }
    if plan.doomed() {
        flags.push(format!(
            "{} | error | Submit of the build failed: Koji refused it:",
            build_check(&head.sha)
        ));
        return flags;
    }
    if head.build_fails {
        flags.push(format!(
            "{} | failure | RPM build failed.",
            build_check(&head.sha)
        ));
        return flags;
    }
    flags.push(format!(
        "{} | success | RPM build succeeded.",
        build_check(&head.sha)
    ));
    for test in TESTS {
        let (status, comment) = if head.tests_fail {
            ("failure", "Tests failed ...")
        } else {
            ("success", "Tests passed ...")
        };
        flags.push(if given_up.must_give_up(head_task, test) {
            format!("{} | error | {GAVE_UP}", test_check(test, &head.sha))
        } else {
            format!("{} | {status} | {comment}", test_check(test, &head.sha))
        });
    }
    flags.sort();
    flags
}

/// The flags of `plan`'s head commit on the fake Pagure; a refused build's comment is cut
/// after "refused it:" (the rest is the client's wording of Koji's fault, checked apart).
fn actual_flags(fakes: &Fakes, plan: &PrPlan) -> Vec<String> {
    let suffix = format!("[{}]", &plan.head().sha[..7]);
    let mut flags: Vec<String> = fakes
        .pagure
        .flags(&plan.project(), plan.id)
        .iter()
        .filter(|flag| {
            flag["username"]
                .as_str()
                .is_some_and(|name| name.ends_with(&suffix))
        })
        .map(|flag| {
            let comment = flag["comment"].as_str().unwrap_or_default();
            let comment = match comment.find("refused it:") {
                Some(at) => &comment[..at + "refused it:".len()],
                None if comment.starts_with(GAVE_UP) => GAVE_UP,
                None => comment,
            };
            format!(
                "{} | {} | {comment}",
                flag["username"].as_str().unwrap_or_default(),
                flag["status"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    flags.sort();
    flags
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_service_loses_nothing_and_does_nothing_twice_under_faults() {
    let size = Size::from_env();
    let began = Instant::now();
    let scenario = Arc::new(Scenario::plan(
        size.prs,
        size.messages,
        size.window,
        KOJI_MESSAGES_PER_BUILD,
    ));
    let cluster = postgres::Cluster::start();
    let fakes = Arc::new(Fakes::start(&scenario).await);
    let broker = Arc::new(relay::BrokerRelay::start(RABBITMQ.parse().unwrap()).await);
    let bus = Bus::new();
    let logs = tempfile::Builder::new()
        .prefix("fci-fault-logs")
        .tempdir()
        .unwrap();
    let port = free_port();
    let config = write_config(
        logs.path(),
        &fakes,
        &cluster.url(),
        &broker.amqp_url(),
        &bus,
        port,
        &scenario,
    );

    // The API migrates; the others wait for it.
    let bind = format!("127.0.0.1:{port}");
    let api = ServiceProcess::start(
        "api",
        &["--config", &config, "api", "--bind", &bind],
        logs.path(),
    );
    let healthz = format!("http://127.0.0.1:{port}/api/healthz");
    common::wait_for(Duration::from_secs(60), || async {
        let response = reqwest::get(&healthz).await;
        Ok(response.is_ok_and(|r| r.status() == 200).then_some(()))
    })
    .await
    .unwrap_or_else(|error| panic!("the API did not come up: {error}\n{}", api.tail(30)));
    let mut roles = vec![ServiceProcess::start(
        "listener",
        &["--config", &config, "listen"],
        logs.path(),
    )];
    for index in 0..WORKERS {
        roles.push(ServiceProcess::start(
            &format!("worker-{index}"),
            &["--config", &config, "worker"],
            logs.path(),
        ));
    }
    let processes = Arc::new(Mutex::new(roles));
    let observer = Observer {
        pool: sqlx::postgres::PgPoolOptions::new()
            .max_connections(2)
            .acquire_timeout(Duration::from_secs(5))
            .connect_lazy(&cluster.url())
            .unwrap(),
    };
    // The listener declares and binds its queue before anything is published.
    let listener_log = logs.path().join("listener.log");
    common::wait_for(Duration::from_secs(60), || async {
        let text = std::fs::read_to_string(&listener_log).unwrap_or_default();
        Ok(text.contains("consuming fedora-messaging").then_some(()))
    })
    .await
    .unwrap_or_else(|error| panic!("the listener did not start consuming: {error}"));

    let publisher: SharedPublisher = Arc::new(AsyncMutex::new(Publisher::start(
        &format!("amqp://guest:guest@{RABBITMQ}/%2F"),
        &bus.prefix,
    )));
    let drivers = Arc::new(Drivers::default());
    let seen_builds = Arc::new(AtomicUsize::new(0));
    let seen_requests = Arc::new(AtomicUsize::new(0));
    let koji_driver = drive_koji(
        fakes.clone(),
        scenario.clone(),
        drivers.clone(),
        publisher.clone(),
        seen_builds.clone(),
    );
    let testing_farm_driver = drive_testing_farm(
        fakes.clone(),
        scenario.clone(),
        drivers.clone(),
        seen_requests.clone(),
    );
    let (chaos, chaos_loop) = Chaos::start(processes.clone());

    // PostgreSQL restarts at 40 % of the stream, the broker connections are cut at 65 %.
    let start = Instant::now();
    let window = size.window;
    let cluster = Arc::new(cluster);
    let restarter = {
        let cluster = cluster.clone();
        tokio::spawn(async move {
            tokio::time::sleep(window.mul_f64(0.4)).await;
            let began = Instant::now();
            tokio::task::spawn_blocking(move || cluster.restart())
                .await
                .unwrap();
            began.elapsed()
        })
    };
    let cutter = {
        let broker = broker.clone();
        tokio::spawn(async move {
            tokio::time::sleep(window.mul_f64(0.65)).await;
            broker.cut();
        })
    };
    publish_stream(&scenario, &fakes, &publisher, start).await;
    eprintln!(
        "fault harness: stream published after {:.0?}",
        began.elapsed()
    );
    cutter.await.unwrap();
    let restart_took = restarter.await.unwrap();
    // A few more kills after the cut, then quiet.
    tokio::time::sleep(Duration::from_secs(10)).await;
    chaos.stop.store(true, Ordering::SeqCst);
    chaos_loop.await.unwrap();
    let kills = chaos.kills();

    // Settled: the drivers have nothing in hand and the service nothing to do.
    let deadline = Instant::now() + size.settle;
    let quiet = || {
        drivers.idle(
            &fakes,
            (
                seen_builds.load(Ordering::SeqCst),
                seen_requests.load(Ordering::SeqCst),
            ),
        )
    };
    let mut not_settled = None;
    if let Err(error) = observer.settled(deadline, 8, quiet).await {
        eprintln!("{}", logs_of(&processes, &api));
        not_settled = Some(error);
    }
    eprintln!("fault harness: settled after {:.0?}", began.elapsed());
    drivers.stop.store(true, Ordering::SeqCst);
    koji_driver.await.unwrap();
    testing_farm_driver.await.unwrap();

    // Noise up to the size asked for, then every message's id.
    {
        let mut publisher = publisher.lock().await;
        while publisher.sent() < size.messages {
            let (topic, body) = scenario::noise();
            publisher
                .publish(topic, &body, Kind::Noise, Expect::Dropped)
                .await;
        }
    }
    let publisher = Arc::into_inner(publisher)
        .expect("the drivers are done")
        .into_inner();
    let published = publisher.finish().await;
    let expected_stored: HashSet<&str> = published
        .iter()
        .filter(|(_, _, expect)| *expect == Expect::Stored)
        .map(|(id, _, _)| id.as_str())
        .collect();
    let all_stored = |state: &ServiceState| {
        expected_stored.iter().all(|id| {
            state
                .inbound
                .get(*id)
                .is_some_and(|outcome| outcome != "pending")
        })
    };
    let final_deadline = Instant::now() + Duration::from_secs(120);
    let state = loop {
        match observer.settled(final_deadline, 3, || true).await {
            Ok(state) if all_stored(&state) || Instant::now() > final_deadline => break state,
            Ok(_) => tokio::time::sleep(Duration::from_secs(1)).await,
            Err(error) => {
                not_settled.get_or_insert(error);
                break observer.state().await.unwrap_or_default();
            }
        }
    };
    let left_in_queue = bus.drain_count_and_remove().await.unwrap();
    let pull_request_rows: Vec<(i32, i32, String)> = sqlx::query_as(
        "SELECT pr.id, pr.pr_id, gp.project_url FROM pull_requests pr \
         JOIN git_projects gp ON gp.id = pr.project_id ORDER BY pr.id",
    )
    .fetch_all(&observer.pool)
    .await
    .unwrap_or_default();

    // The figures.
    let lost: Vec<&str> = expected_stored
        .iter()
        .filter(|id| !state.inbound.contains_key(**id))
        .copied()
        .collect();
    let published_ids: HashSet<&str> = published.iter().map(|(id, _, _)| id.as_str()).collect();
    let unexpected_stored = state
        .inbound
        .keys()
        .filter(|id| !id.starts_with("testing-farm:") && !published_ids.contains(id.as_str()))
        .count();
    let wrongly_stored = published
        .iter()
        .filter(|(id, _, expect)| *expect == Expect::Dropped && state.inbound.contains_key(id))
        .count();
    let mut outcomes: BTreeMap<&str, usize> = BTreeMap::new();
    for id in &expected_stored {
        if let Some(outcome) = state.inbound.get(*id) {
            *outcomes.entry(outcome.as_str()).or_default() += 1;
        }
    }
    let webhooks_stored = state
        .inbound
        .keys()
        .filter(|id| id.starts_with("testing-farm:"))
        .count();
    let mut by_kind: BTreeMap<String, usize> = BTreeMap::new();
    for (_, kind, _) in &published {
        *by_kind.entry(format!("{kind:?}")).or_default() += 1;
    }

    let mut builds_per_key: HashMap<(String, String), usize> = HashMap::new();
    for build in created_builds(&fakes.koji) {
        *builds_per_key
            .entry((build.source, build.target))
            .or_default() += 1;
    }
    let koji_builds: usize = builds_per_key.values().sum();
    let duplicate_builds: usize = builds_per_key.values().map(|count| count - 1).sum();
    let mut requests_per_key: HashMap<(Vec<String>, String), usize> = HashMap::new();
    for request in fakes.testing_farm.submitted() {
        *requests_per_key
            .entry((koji_task_ids(&request), request["test"].to_string()))
            .or_default() += 1;
    }
    let tf_requests: usize = requests_per_key.values().sum();
    let duplicate_requests: usize = requests_per_key.values().map(|count| count - 1).sum();

    let given_up = GivenUp::from(&fakes).await;
    let mut gave_up = 0;
    let mut orphaned = 0;
    let mut wrong_flags = Vec::new();
    for plan in &scenario.prs {
        let actual = actual_flags(&fakes, plan);
        let head_task = fakes
            .pagure
            .flags(&plan.project(), plan.id)
            .iter()
            .find(|flag| flag["username"].as_str() == Some(build_check(&plan.head().sha).as_str()))
            .and_then(|flag| flag["url"].as_str().map(str::to_owned))
            .and_then(|url| url.rsplit("taskID=").next().map(str::to_owned))
            .unwrap_or_default();
        let mut expected = expected_flags(plan, &head_task, &given_up);
        orphaned += accept_orphaned_requests(plan, &head_task, &given_up, &mut expected, &actual);
        gave_up += expected
            .iter()
            .filter(|flag| flag.ends_with(GAVE_UP))
            .count();
        if expected != actual {
            wrong_flags.push(format!(
                "{} PR #{} head {}:\n  expected {expected:#?}\n  actual {actual:#?}",
                plan.project(),
                plan.id,
                &plan.head().sha[..7]
            ));
        }
    }
    let doomed_prs: HashSet<(String, u64)> = scenario
        .prs
        .iter()
        .filter(|plan| plan.doomed())
        .map(|plan| (plan.package.to_owned(), plan.id))
        .collect();
    let mut unexpected_dead = Vec::new();
    let mut expected_dead = HashSet::new();
    let mut reasons = BTreeMap::new();
    for (name, payload, error) in &state.dead {
        let repo = payload["pull_request"]["repo"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let pr_id = payload["pull_request"]["pr_id"]
            .as_u64()
            .unwrap_or_default();
        let reason = error.clone().unwrap_or_default();
        if name == "run_downstream_koji_scratch_build_handler"
            && doomed_prs.contains(&(repo.clone(), pr_id))
            && reason.contains(scenario::DOOMED_FAULT_TEXT)
            && expected_dead.insert((repo.clone(), pr_id))
        {
            *reasons.entry(reason).or_insert(0) += 1;
        } else {
            unexpected_dead.push(format!("{name} {repo}#{pr_id}: {reason}"));
        }
    }

    let mut figures = String::new();
    let mut line = |label: &str, value: String| {
        figures.push_str(&format!("| {label} | {value} |\n"));
    };
    line("messages published", published.len().to_string());
    line("  by kind", format!("{by_kind:?}"));
    line(
        "  to be stored (the rest is noise the listener drops)",
        expected_stored.len().to_string(),
    );
    line(
        "messages stored",
        (expected_stored.len() - lost.len()).to_string(),
    );
    line("messages lost", lost.len().to_string());
    line("  outcomes of the stored", format!("{outcomes:?}"));
    line("noise wrongly stored", wrongly_stored.to_string());
    line("rows from nowhere", unexpected_stored.to_string());
    line("left in the broker queue", left_in_queue.to_string());
    line(
        "Testing Farm webhook deliveries stored",
        webhooks_stored.to_string(),
    );
    line(
        "pull requests (commits)",
        format!(
            "{} ({})",
            scenario.prs.len(),
            scenario
                .prs
                .iter()
                .map(|plan| plan.commits.len())
                .sum::<usize>()
        ),
    );
    line(
        "SIGKILLs",
        format!("{} {kills:?}", kills.values().sum::<usize>()),
    );
    line(
        "PostgreSQL restarts",
        format!("1 (immediate, {restart_took:.1?})"),
    );
    line("broker connection cuts", "1".to_owned());
    for (name, proxy) in [
        ("Koji", &fakes.koji_proxy),
        ("Testing Farm", &fakes.testing_farm_proxy),
        ("Pagure", &fakes.pagure_proxy),
    ] {
        line(
            &format!("{name} calls / faults"),
            format!("{} / {:?}", proxy.calls(), proxy.faults()),
        );
    }
    line("Koji builds", koji_builds.to_string());
    line(
        "duplicate Koji builds per (PR, commit, target)",
        duplicate_builds.to_string(),
    );
    line("Testing Farm requests", tf_requests.to_string());
    line(
        "duplicate Testing Farm requests per (build, test)",
        duplicate_requests.to_string(),
    );
    line(
        "head tests without a request after failed submissions (flag: infrastructure error)",
        (gave_up - orphaned).to_string(),
    );
    line(
        "head tests given up although an attempt whose answer was lost created a request (open)",
        orphaned.to_string(),
    );
    line(
        "PRs with correct final flags for their head commit",
        format!(
            "{} / {}",
            scenario.prs.len() - wrong_flags.len(),
            scenario.prs.len()
        ),
    );
    line(
        "tasks running / due / waiting (non-periodic)",
        format!("{} / {} / {}", state.running, state.ready, state.busy_tasks),
    );
    line(
        "dead tasks (expected: one per PR whose build Koji refuses)",
        format!(
            "{} (expected {}) {reasons:?}",
            state.dead.len(),
            doomed_prs.len()
        ),
    );
    line("unexpected dead tasks", unexpected_dead.len().to_string());
    line(
        "pull request rows (distinct project, number)",
        format!(
            "{} ({})",
            pull_request_rows.len(),
            pull_request_rows
                .iter()
                .map(|(_, number, url)| (number, url))
                .collect::<HashSet<_>>()
                .len()
        ),
    );
    line("elapsed", format!("{:.0?}", began.elapsed()));
    println!("\nFault harness figures\n\n| figure | value |\n|---|---|\n{figures}");
    if std::env::var_os("FCI_FAULT_KEEP_LOGS").is_some() {
        let kept = logs.keep();
        println!("process logs kept in {}", kept.display());
    }

    let mut problems = Vec::new();
    if let Some(error) = not_settled {
        problems.push(format!("{error:#}"));
    }
    if !lost.is_empty() {
        problems.push(format!(
            "{} messages lost, e.g. {:?}",
            lost.len(),
            &lost[..lost.len().min(5)]
        ));
    }
    if outcomes
        .keys()
        .any(|outcome| *outcome != "processed" && *outcome != "ignored")
    {
        problems.push(format!("stored messages not processed: {outcomes:?}"));
    }
    if wrongly_stored + unexpected_stored > 0 || left_in_queue > 0 {
        problems.push(format!(
            "noise stored {wrongly_stored}, unknown rows {unexpected_stored}, left in queue {left_in_queue}"
        ));
    }
    if duplicate_builds > 0 {
        let duplicates: Vec<_> = builds_per_key
            .iter()
            .filter(|(_, count)| **count > 1)
            .collect();
        problems.push(format!(
            "{duplicate_builds} duplicate Koji builds: {duplicates:?}"
        ));
    }
    if duplicate_requests > 0 {
        problems.push(format!(
            "{duplicate_requests} duplicate Testing Farm requests"
        ));
    }
    if !wrong_flags.is_empty() {
        problems.push(format!(
            "{} PRs with wrong final flags:\n{}",
            wrong_flags.len(),
            wrong_flags.join("\n")
        ));
    }
    if state.running + state.ready + state.busy_tasks > 0 {
        problems.push("tasks left running or waiting".to_owned());
    }
    if !unexpected_dead.is_empty() || expected_dead.len() != doomed_prs.len() {
        problems.push(format!(
            "dead tasks: {} of {} expected, unexpected: {unexpected_dead:#?}",
            expected_dead.len(),
            doomed_prs.len()
        ));
    }
    if kills.values().sum::<usize>() < 3 {
        problems.push("fewer than 3 processes were killed".to_owned());
    }
    drop(observer);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

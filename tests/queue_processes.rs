//! The queue across real worker processes: several processes on one PostgreSQL database,
//! SIGKILL mid-task, graceful SIGTERM. The worker is examples/queue_worker.rs.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{TestDb, wait_for};
use fedora_ci::db::Store;
use fedora_ci::db::tasks as rows;
use serde::Serialize;

const CREATE_RUNS_PG: &str = "CREATE TABLE test_task_runs (id BIGSERIAL PRIMARY KEY, n BIGINT NOT NULL, worker TEXT NOT NULL, event TEXT NOT NULL)";
const CREATE_RUNS_SQLITE: &str = "CREATE TABLE test_task_runs (id INTEGER PRIMARY KEY AUTOINCREMENT, n BIGINT NOT NULL, worker TEXT NOT NULL, event TEXT NOT NULL)";

fn worker_binary() -> PathBuf {
    // tests run from target/<profile>/deps; cargo builds examples into target/<profile>/examples.
    let mut path = std::env::current_exe().expect("test binary path");
    path.pop();
    if path.ends_with("deps") {
        path.pop();
    }
    path.join("examples").join("queue_worker")
}

struct Worker {
    child: Child,
    _stdout: BufReader<std::process::ChildStdout>,
}

impl Worker {
    /// Starts a worker process and waits until it is serving.
    fn start(url: &str, id: &str, lease_ms: u64, grace_ms: u64, concurrency: usize) -> Worker {
        let binary = worker_binary();
        assert!(
            binary.exists(),
            "{} is missing: plain `cargo test` builds it (or `cargo build --examples`)",
            binary.display()
        );
        let mut child = Command::new(binary)
            .args([
                url,
                id,
                &lease_ms.to_string(),
                &grace_ms.to_string(),
                &concurrency.to_string(),
            ])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("worker starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut stdout = BufReader::new(stdout);
        let mut first = String::new();
        stdout.read_line(&mut first).expect("worker prints");
        assert_eq!(first.trim(), "ready", "worker {id} did not start");
        Worker {
            child,
            _stdout: stdout,
        }
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
    }

    fn wait_exit(&mut self, timeout: Duration) -> std::process::ExitStatus {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait works") {
                return status;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "worker did not exit within {timeout:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn prepare(db: &TestDb) -> anyhow::Result<Store> {
    let store = db.store().await?;
    match &store {
        Store::Postgres(pool) => {
            sqlx::query(CREATE_RUNS_PG).execute(pool).await?;
        }
        Store::Sqlite(pool) => {
            sqlx::query(CREATE_RUNS_SQLITE).execute(pool).await?;
        }
    }
    Ok(store)
}

/// (n, worker, event) rows, in insertion order.
async fn runs(store: &Store) -> anyhow::Result<Vec<(i64, String, String)>> {
    const SQL: &str = "SELECT n, worker, event FROM test_task_runs ORDER BY id";
    Ok(match store {
        Store::Postgres(pool) => sqlx::query_as(SQL).fetch_all(pool).await?,
        Store::Sqlite(pool) => sqlx::query_as(SQL).fetch_all(pool).await?,
    })
}

async fn enqueue_raw(
    store: &Store,
    name: &str,
    payloads: impl IntoIterator<Item = impl Serialize>,
) -> anyhow::Result<Vec<i64>> {
    let mut tx = store.begin().await?;
    let mut ids = Vec::new();
    for payload in payloads {
        let payload = serde_json::to_value(payload)?;
        let task = rows::NewTask {
            name,
            queue: "short",
            payload: &payload,
            priority: 0,
            max_attempts: 3,
            run_at: chrono::Utc::now(),
        };
        ids.push(rows::insert(&mut tx, &task, chrono::Utc::now()).await?);
    }
    tx.commit().await?;
    Ok(ids)
}

async fn queue_is_empty(store: &Store) -> anyhow::Result<Option<()>> {
    let counts = rows::counts(store, chrono::Utc::now()).await?;
    let left: i64 = counts
        .iter()
        .map(|c| c.ready + c.scheduled + c.running + c.dead)
        .sum();
    Ok((left == 0).then_some(()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_worker_processes_drain_1000_tasks_each_once() -> anyhow::Result<()> {
    let db = TestDb::postgres().await?;
    let store = prepare(&db).await?;
    let _workers: Vec<Worker> = (1..=3)
        .map(|i| Worker::start(db.url(), &format!("proc-{i}"), 10_000, 5_000, 4))
        .collect();
    let payloads = (0..1000).map(|n| serde_json::json!({ "n": n }));
    enqueue_raw(&store, "test.record", payloads).await?;
    wait_for(Duration::from_secs(120), || queue_is_empty(&store)).await?;

    let runs = runs(&store).await?;
    let mut numbers: Vec<i64> = runs.iter().map(|(n, _, _)| *n).collect();
    numbers.sort_unstable();
    assert_eq!(
        numbers,
        (0..1000).collect::<Vec<_>>(),
        "every task ran exactly once"
    );
    let mut workers: Vec<&str> = runs.iter().map(|(_, w, _)| w.as_str()).collect();
    workers.sort_unstable();
    workers.dedup();
    assert!(workers.len() >= 2, "only {workers:?} did any work");
    Ok(())
}

async fn killed_worker_task_is_claimed_again_after_lease(db: TestDb) -> anyhow::Result<()> {
    let store = prepare(&db).await?;
    let mut doomed = Worker::start(db.url(), "doomed", 1_500, 1_000, 2);
    let ids = enqueue_raw(
        &store,
        "test.sleep",
        [serde_json::json!({"n": 1, "ms": 2_000})],
    )
    .await?;
    wait_for(Duration::from_secs(20), || async {
        Ok(runs(&store)
            .await?
            .iter()
            .any(|(_, w, e)| w == "doomed" && e == "started")
            .then_some(()))
    })
    .await?;
    doomed.signal("KILL");
    doomed.wait_exit(Duration::from_secs(10));

    let row = rows::get(&store, ids[0]).await?.expect("task still queued");
    assert_eq!(
        (row.state.as_str(), row.locked_by.as_deref()),
        ("running", Some("doomed"))
    );

    let _rescuer = Worker::start(db.url(), "rescuer", 1_500, 1_000, 2);
    wait_for(Duration::from_secs(30), || queue_is_empty(&store)).await?;
    let runs = runs(&store).await?;
    let events: Vec<(&str, &str)> = runs
        .iter()
        .map(|(_, w, e)| (w.as_str(), e.as_str()))
        .collect();
    assert_eq!(
        events,
        [
            ("doomed", "started"),
            ("rescuer", "started"),
            ("rescuer", "finished")
        ],
        "the task completes once, on the second worker"
    );
    Ok(())
}

async fn sigterm_finishes_running_task_then_exits(db: TestDb) -> anyhow::Result<()> {
    let store = prepare(&db).await?;
    let mut worker = Worker::start(db.url(), "polite", 30_000, 10_000, 2);
    enqueue_raw(
        &store,
        "test.sleep",
        [serde_json::json!({"n": 1, "ms": 1_000})],
    )
    .await?;
    wait_for(Duration::from_secs(20), || async {
        Ok((!runs(&store).await?.is_empty()).then_some(()))
    })
    .await?;
    worker.signal("TERM");
    // Enqueued once the worker has taken in SIGTERM (it is still finishing the first task,
    // which sleeps 1 s): the stopping worker must not take it.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let late = enqueue_raw(
        &store,
        "test.sleep",
        [serde_json::json!({"n": 2, "ms": 10})],
    )
    .await?;
    let status = worker.wait_exit(Duration::from_secs(15));
    assert!(status.success(), "exit status {status}");

    let events: Vec<(i64, String)> = runs(&store)
        .await?
        .into_iter()
        .map(|(n, _, e)| (n, e))
        .collect();
    assert_eq!(
        events,
        [(1, "started".to_owned()), (1, "finished".to_owned())]
    );
    let late = rows::get(&store, late[0])
        .await?
        .expect("late task still queued");
    assert_eq!((late.state.as_str(), late.attempts), ("pending", 0));
    Ok(())
}

async fn sigterm_hands_back_a_task_that_outlives_the_grace_period(
    db: TestDb,
) -> anyhow::Result<()> {
    let store = prepare(&db).await?;
    let mut worker = Worker::start(db.url(), "hurried", 30_000, 300, 2);
    let ids = enqueue_raw(
        &store,
        "test.sleep",
        [serde_json::json!({"n": 1, "ms": 60_000})],
    )
    .await?;
    wait_for(Duration::from_secs(20), || async {
        Ok((!runs(&store).await?.is_empty()).then_some(()))
    })
    .await?;
    worker.signal("TERM");
    let status = worker.wait_exit(Duration::from_secs(10));
    assert!(status.success(), "exit status {status}");

    let row = rows::get(&store, ids[0]).await?.expect("task handed back");
    assert_eq!(row.state, "pending");
    assert_eq!(row.attempts, 0, "a handed-back attempt does not count");
    assert!(row.locked_by.is_none());
    Ok(())
}

on_both_backends!(
    killed_worker_task_is_claimed_again_after_lease,
    sigterm_finishes_running_task_then_exits,
    sigterm_hands_back_a_task_that_outlives_the_grace_period,
);

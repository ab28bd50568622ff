//! A worker process for the queue's process-level tests (tests/queue_processes.rs): the
//! library's `Runner` with two test tasks that record what they do in `test_task_runs`.
//!
//! Usage: queue_worker DATABASE_URL WORKER_ID LEASE_MS GRACE_MS CONCURRENCY

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write as _;
use std::time::Duration;

use fedora_ci::db::{ConnectSettings, Store};
use fedora_ci::tasks::{BackgroundTask, Runner, RunnerSettings};
use serde::{Deserialize, Serialize};

#[derive(Clone)]
struct Ctx {
    store: Store,
    worker: String,
}

impl Ctx {
    async fn record(&self, n: i64, event: &str) -> anyhow::Result<()> {
        const SQL: &str = "INSERT INTO test_task_runs (n, worker, event) VALUES ($1, $2, $3)";
        match &self.store {
            Store::Postgres(pool) => {
                sqlx::query(SQL)
                    .bind(n)
                    .bind(&self.worker)
                    .bind(event)
                    .execute(pool)
                    .await?;
            }
            Store::Sqlite(pool) => {
                sqlx::query(SQL)
                    .bind(n)
                    .bind(&self.worker)
                    .bind(event)
                    .execute(pool)
                    .await?;
            }
        }
        Ok(())
    }
}

/// Records that it ran.
#[derive(Serialize, Deserialize)]
struct Record {
    n: i64,
}

impl BackgroundTask for Record {
    const NAME: &'static str = "test.record";
    type Context = Ctx;
    async fn run(&self, ctx: &Ctx) -> anyhow::Result<()> {
        tokio::time::sleep(Duration::from_millis(3)).await;
        ctx.record(self.n, "ran").await
    }
}

/// Records its start, sleeps, records its end.
#[derive(Serialize, Deserialize)]
struct Sleep {
    n: i64,
    ms: u64,
}

impl BackgroundTask for Sleep {
    const NAME: &'static str = "test.sleep";
    type Context = Ctx;
    async fn run(&self, ctx: &Ctx) -> anyhow::Result<()> {
        ctx.record(self.n, "started").await?;
        tokio::time::sleep(Duration::from_millis(self.ms)).await;
        ctx.record(self.n, "finished").await
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .init();
    let args: Vec<String> = std::env::args().collect();
    let [_, url, worker, lease_ms, grace_ms, concurrency] = args.as_slice() else {
        anyhow::bail!("usage: queue_worker DATABASE_URL WORKER_ID LEASE_MS GRACE_MS CONCURRENCY");
    };
    let store = Store::connect(url, &ConnectSettings::default()).await?;
    let settings = RunnerSettings {
        worker_id: worker.clone(),
        lease: Duration::from_millis(lease_ms.parse()?),
        poll_interval: Duration::from_millis(100),
        shutdown_grace: Duration::from_millis(grace_ms.parse()?),
        ..RunnerSettings::default()
    };
    let ctx = Ctx {
        store: store.clone(),
        worker: worker.clone(),
    };
    let handle = Runner::new(store, ctx, settings)
        .register::<Record>()
        .register::<Sleep>()
        .queue("short", concurrency.parse()?)
        .start(fedora_ci::roles::shutdown_on_signals());
    println!("ready");
    handle.wait().await;
    // The test may have stopped reading; that must not turn a clean stop into a failure.
    let _ = writeln!(std::io::stdout(), "stopped");
    Ok(())
}

//! `fedora-ci bench queue`: tasks claimed and completed per second.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::db::{self, ConnectSettings, Store};
use crate::tasks::{self, BackgroundTask, Runner, RunnerSettings};

/// Prints the queue throughput table for every URL and worker count.
pub async fn run(
    database_urls: Vec<String>,
    tasks: usize,
    workers: Vec<usize>,
    concurrency: usize,
) -> anyhow::Result<()> {
    let mut urls = database_urls;
    let temporary = std::env::temp_dir().join(format!("fedora-ci-bench-{}.db", std::process::id()));
    if urls.is_empty() {
        urls.push(format!("sqlite://{}", temporary.display()));
    }
    println!(
        "| backend | workers | concurrency | tasks | enqueue tasks/s | claim+complete tasks/s |"
    );
    println!("|---|---|---|---|---|---|");
    for url in &urls {
        for &count in &workers {
            let result = queue_throughput(url, tasks, count, concurrency).await?;
            println!(
                "| {:?} | {count} | {concurrency} | {tasks} | {:.0} | {:.0} |",
                result.backend, result.enqueue_per_second, result.drain_per_second
            );
        }
    }
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", temporary.display()));
    }
    Ok(())
}

#[derive(Clone, Default)]
struct Counter {
    done: Arc<AtomicUsize>,
    changed: Arc<Notify>,
}

#[derive(Serialize, Deserialize)]
struct NoopTask {
    n: usize,
}

impl BackgroundTask for NoopTask {
    const NAME: &'static str = "bench.noop";
    const QUEUE: &'static str = "bench";
    type Context = Counter;

    async fn run(&self, counter: &Counter) -> anyhow::Result<()> {
        counter.done.fetch_add(1, Ordering::Relaxed);
        counter.changed.notify_one();
        Ok(())
    }
}

struct QueueResult {
    backend: db::Backend,
    enqueue_per_second: f64,
    drain_per_second: f64,
}

async fn queue_throughput(
    url: &str,
    task_count: usize,
    workers: usize,
    concurrency: usize,
) -> anyhow::Result<QueueResult> {
    let settings = ConnectSettings {
        max_connections: (concurrency + 4) as u32,
        ..ConnectSettings::default()
    };
    let store = Store::connect(url, &settings)
        .await
        .with_context(|| format!("connecting to {}", crate::secret::redact_url(url)))?;
    store.migrate().await?;
    db::tasks::delete_queue(&store, NoopTask::QUEUE).await?;
    db::tasks::vacuum(&store).await?;

    let started = Instant::now();
    for chunk_start in (0..task_count).step_by(1000) {
        let mut tx = store.begin().await?;
        for n in chunk_start..(chunk_start + 1000).min(task_count) {
            tasks::enqueue(&mut tx, &NoopTask { n }).await?;
        }
        tx.commit().await?;
    }
    let enqueue_per_second = task_count as f64 / started.elapsed().as_secs_f64();

    let counter = Counter::default();
    let shutdown = CancellationToken::new();
    let mut handles = Vec::new();
    let started = Instant::now();
    for _ in 0..workers {
        let worker_store = Store::connect(url, &settings).await?;
        let settings = RunnerSettings {
            poll_interval: Duration::from_millis(50),
            ..RunnerSettings::default()
        };
        let runner = Runner::new(worker_store, counter.clone(), settings)
            .register::<NoopTask>()
            .queue(NoopTask::QUEUE, concurrency);
        handles.push(runner.start(shutdown.clone()));
    }
    while counter.done.load(Ordering::Relaxed) < task_count {
        let _ = tokio::time::timeout(Duration::from_millis(100), counter.changed.notified()).await;
    }
    let elapsed = started.elapsed();
    shutdown.cancel();
    for handle in handles {
        handle.wait().await;
    }
    let backend = store.backend();
    store.close().await;
    Ok(QueueResult {
        backend,
        enqueue_per_second,
        drain_per_second: task_count as f64 / elapsed.as_secs_f64(),
    })
}

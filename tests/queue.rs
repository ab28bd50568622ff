//! The task queue on a real database: one suite, run on PostgreSQL and on SQLite.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use common::{TestDb, wait_for};
use fedora_ci::db::tasks::{self as rows, NewTask};
use fedora_ci::db::{Store, Tx};
use fedora_ci::tasks::{self, BackgroundTask, Runner, RunnerSettings};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio_util::sync::CancellationToken;

/// What the test tasks did, in order.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<String>>>);

impl Log {
    fn push(&self, entry: String) {
        self.0.lock().unwrap().push(entry);
    }
    fn entries(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

#[derive(Serialize, Deserialize)]
struct Record {
    n: u32,
}

impl BackgroundTask for Record {
    const NAME: &'static str = "test.record";
    type Context = Log;
    async fn run(&self, log: &Log) -> anyhow::Result<()> {
        log.push(format!("record {}", self.n));
        Ok(())
    }
}

#[derive(Serialize, Deserialize)]
struct AlwaysFails {
    n: u32,
}

impl BackgroundTask for AlwaysFails {
    const NAME: &'static str = "test.always_fails";
    const MAX_ATTEMPTS: i32 = 3;
    const BACKOFF: Duration = Duration::from_millis(100);
    type Context = Log;
    async fn run(&self, log: &Log) -> anyhow::Result<()> {
        log.push(format!("fail {}", self.n));
        anyhow::bail!("boom number {}", self.n)
    }
}

#[derive(Serialize, Deserialize)]
struct SlowBackoff;

impl BackgroundTask for SlowBackoff {
    const NAME: &'static str = "test.slow_backoff";
    const BACKOFF: Duration = Duration::from_secs(600);
    type Context = Log;
    async fn run(&self, _: &Log) -> anyhow::Result<()> {
        anyhow::bail!("Koji is offline")
    }
}

#[derive(Serialize, Deserialize)]
struct Panics;

impl BackgroundTask for Panics {
    const NAME: &'static str = "test.panics";
    const MAX_ATTEMPTS: i32 = 1;
    type Context = Log;
    async fn run(&self, _: &Log) -> anyhow::Result<()> {
        panic!("handler bug")
    }
}

#[derive(Serialize, Deserialize)]
struct FailsPermanently;

impl BackgroundTask for FailsPermanently {
    const NAME: &'static str = "test.permanent";
    const MAX_ATTEMPTS: i32 = 5;
    type Context = Log;
    async fn run(&self, _: &Log) -> anyhow::Result<()> {
        Err(tasks::permanent("the project does not exist"))
    }
}

#[derive(Serialize, Deserialize, Clone)]
struct Tick;

impl BackgroundTask for Tick {
    const NAME: &'static str = "test.tick";
    type Context = Log;
    async fn run(&self, log: &Log) -> anyhow::Result<()> {
        log.push("tick".to_owned());
        Ok(())
    }
}

fn fast_settings() -> RunnerSettings {
    RunnerSettings {
        lease: Duration::from_secs(5),
        poll_interval: Duration::from_millis(50),
        shutdown_grace: Duration::from_secs(5),
        ..RunnerSettings::default()
    }
}

fn runner(store: &Store, log: &Log) -> Runner<Log> {
    Runner::new(store.clone(), log.clone(), fast_settings())
        .register::<Record>()
        .register::<AlwaysFails>()
        .register::<SlowBackoff>()
        .register::<Panics>()
        .register::<FailsPermanently>()
        .queue(tasks::queues::SHORT, 4)
}

async fn enqueue_one<T: BackgroundTask>(store: &Store, task: &T) -> anyhow::Result<i64> {
    let mut tx = store.begin().await?;
    let id = tasks::enqueue(&mut tx, task).await?;
    tx.commit().await?;
    Ok(id)
}

async fn wait_until_gone(store: &Store, id: i64) -> anyhow::Result<()> {
    wait_for(Duration::from_secs(20), || async move {
        Ok(rows::get(store, id).await?.is_none().then_some(()))
    })
    .await
}

async fn wait_until_state(store: &Store, id: i64, state: &str) -> anyhow::Result<rows::TaskRow> {
    wait_for(Duration::from_secs(20), || async move {
        Ok(rows::get(store, id).await?.filter(|row| row.state == state))
    })
    .await
}

async fn enqueue_claim_complete(db: TestDb) -> anyhow::Result<()> {
    let store = db.store().await?;

    // A task enqueued in a transaction that rolls back never existed.
    let mut tx = store.begin().await?;
    tasks::enqueue(&mut tx, &Record { n: 0 }).await?;
    drop(tx);
    let now = Utc::now();
    let lease = now + chrono::Duration::seconds(30);
    assert!(
        rows::claim(&store, "short", "w1", now, lease, 10)
            .await?
            .is_empty()
    );

    let id = enqueue_one(&store, &Record { n: 1 }).await?;
    let claimed = rows::claim(&store, "short", "w1", Utc::now(), lease, 10).await?;
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].id, id);
    assert_eq!(claimed[0].name, "test.record");
    assert_eq!(claimed[0].attempts, 1);
    assert_eq!(claimed[0].payload.0, json!({"n": 1}));

    let row = rows::get(&store, id).await?.expect("claimed row");
    assert_eq!(row.state, "running");
    assert_eq!(row.locked_by.as_deref(), Some("w1"));

    // Nobody else gets a running task, and only its holder completes it.
    assert!(
        rows::claim(&store, "short", "w2", Utc::now(), lease, 10)
            .await?
            .is_empty()
    );
    assert!(!rows::complete(&store, id, "w2").await?);
    assert!(rows::complete(&store, id, "w1").await?);
    assert!(rows::get(&store, id).await?.is_none());
    Ok(())
}

async fn runner_runs_each_task_once(db: TestDb) -> anyhow::Result<()> {
    let store = db.store().await?;
    let log = Log::default();
    let mut tx = store.begin().await?;
    for n in 0..50 {
        tasks::enqueue(&mut tx, &Record { n }).await?;
    }
    tx.commit().await?;

    let shutdown = CancellationToken::new();
    let handle = runner(&store, &log).start(shutdown.clone());
    wait_for(Duration::from_secs(20), || async {
        Ok((log.entries().len() >= 50).then_some(()))
    })
    .await?;
    shutdown.cancel();
    handle.wait().await;

    let mut entries = log.entries();
    entries.sort();
    let mut expected: Vec<String> = (0..50).map(|n| format!("record {n}")).collect();
    expected.sort();
    assert_eq!(entries, expected);
    assert_eq!(rows::list_by_state(&store, "pending", 100).await?.len(), 0);
    Ok(())
}

async fn failure_persists_backoff_and_error(db: TestDb) -> anyhow::Result<()> {
    let store = db.store().await?;
    let log = Log::default();
    let id = enqueue_one(&store, &SlowBackoff).await?;
    let shutdown = CancellationToken::new();
    let handle = runner(&store, &log).start(shutdown.clone());
    let before = Utc::now();
    let row = wait_for(Duration::from_secs(20), || async {
        Ok(rows::get(&store, id)
            .await?
            .filter(|row| row.state == "pending" && row.attempts == 1))
    })
    .await?;
    shutdown.cancel();
    handle.wait().await;

    assert_eq!(row.last_error.as_deref(), Some("Koji is offline"));
    assert!(row.locked_by.is_none());
    // First retry waits BACKOFF (600 s) within the ±20 % jitter, and that time is stored.
    let wait = (row.run_at - before).num_seconds();
    assert!((470..=730).contains(&wait), "next run in {wait} s");
    // A fresh worker does not run it early.
    let now = Utc::now();
    let lease = now + chrono::Duration::seconds(30);
    assert!(
        rows::claim(&store, "short", "w", now, lease, 10)
            .await?
            .is_empty()
    );
    let later = row.run_at + chrono::Duration::seconds(1);
    assert_eq!(
        rows::claim(&store, "short", "w", later, lease, 10)
            .await?
            .len(),
        1
    );
    Ok(())
}

async fn dead_after_last_attempt_keeps_error(db: TestDb) -> anyhow::Result<()> {
    let store = db.store().await?;
    let log = Log::default();
    let id = enqueue_one(&store, &AlwaysFails { n: 7 }).await?;
    let good = enqueue_one(&store, &Record { n: 8 }).await?;
    let shutdown = CancellationToken::new();
    let handle = runner(&store, &log).start(shutdown.clone());
    let row = wait_until_state(&store, id, "dead").await?;
    wait_until_gone(&store, good).await?;
    shutdown.cancel();
    handle.wait().await;

    assert_eq!(row.attempts, 3);
    assert_eq!(row.last_error.as_deref(), Some("boom number 7"));
    let fails = log.entries().iter().filter(|e| *e == "fail 7").count();
    assert_eq!(fails, 3);
    let dead = rows::list_by_state(&store, "dead", 10).await?;
    assert_eq!(dead.iter().map(|r| r.id).collect::<Vec<_>>(), [id]);
    Ok(())
}

async fn permanent_failure_and_panic_go_dead(db: TestDb) -> anyhow::Result<()> {
    let store = db.store().await?;
    let log = Log::default();
    let permanent = enqueue_one(&store, &FailsPermanently).await?;
    let panics = enqueue_one(&store, &Panics).await?;
    let shutdown = CancellationToken::new();
    let handle = runner(&store, &log).start(shutdown.clone());
    let permanent = wait_until_state(&store, permanent, "dead").await?;
    let panics = wait_until_state(&store, panics, "dead").await?;
    // The worker survives a panicking task.
    let after = enqueue_one(&store, &Record { n: 1 }).await?;
    wait_until_gone(&store, after).await?;
    shutdown.cancel();
    handle.wait().await;

    assert_eq!(permanent.attempts, 1);
    assert_eq!(
        permanent.last_error.as_deref(),
        Some("the project does not exist")
    );
    assert_eq!(panics.last_error.as_deref(), Some("panicked: handler bug"));
    Ok(())
}

async fn undecodable_payload_goes_dead_and_worker_carries_on(db: TestDb) -> anyhow::Result<()> {
    let store = db.store().await?;
    let log = Log::default();
    let mut tx: Tx = store.begin().await?;
    let bad_payload = json!({"n": "not a number"});
    let bad = rows::insert(
        &mut tx,
        &NewTask {
            name: "test.record",
            queue: "short",
            payload: &bad_payload,
            priority: 0,
            max_attempts: 3,
            run_at: Utc::now(),
        },
        Utc::now(),
    )
    .await?;
    tasks::enqueue(&mut tx, &Record { n: 2 }).await?;
    tx.commit().await?;

    let shutdown = CancellationToken::new();
    let handle = runner(&store, &log).start(shutdown.clone());
    let dead = wait_until_state(&store, bad, "dead").await?;
    wait_for(Duration::from_secs(20), || async {
        Ok(log.entries().contains(&"record 2".to_owned()).then_some(()))
    })
    .await?;
    shutdown.cancel();
    handle.wait().await;

    assert_eq!(
        dead.attempts, 1,
        "a payload that does not decode is not retried"
    );
    let error = dead.last_error.unwrap_or_default();
    assert!(
        error.starts_with("payload does not decode as test.record: invalid type: string"),
        "{error}"
    );
    Ok(())
}

async fn delayed_task_waits_for_its_time(db: TestDb) -> anyhow::Result<()> {
    let store = db.store().await?;
    let now = Utc::now();
    let mut tx = store.begin().await?;
    let later = tasks::enqueue_at(
        &mut tx,
        &Record { n: 1 },
        now + chrono::Duration::milliseconds(1500),
    )
    .await?;
    let soon = tasks::enqueue_at(
        &mut tx,
        &Record { n: 2 },
        now + chrono::Duration::milliseconds(100),
    )
    .await?;
    tx.commit().await?;

    let lease = now + chrono::Duration::seconds(60);
    assert!(
        rows::claim(&store, "short", "w", now, lease, 10)
            .await?
            .is_empty()
    );
    // Sub-second run times order correctly on both backends.
    let at = now + chrono::Duration::milliseconds(200);
    let claimed = rows::claim(&store, "short", "w", at, lease, 10).await?;
    assert_eq!(claimed.iter().map(|t| t.id).collect::<Vec<_>>(), [soon]);
    let at = now + chrono::Duration::milliseconds(1600);
    let claimed = rows::claim(&store, "short", "w", at, lease, 10).await?;
    assert_eq!(claimed.iter().map(|t| t.id).collect::<Vec<_>>(), [later]);

    let counts = rows::counts(&store, now).await?;
    assert_eq!(counts.len(), 1);
    assert_eq!(counts[0].running, 2);
    Ok(())
}

async fn runner_waits_for_delayed_task(db: TestDb) -> anyhow::Result<()> {
    let store = db.store().await?;
    let log = Log::default();
    let mut tx = store.begin().await?;
    let due = Utc::now() + chrono::Duration::milliseconds(800);
    let id = tasks::enqueue_at(&mut tx, &Record { n: 3 }, due).await?;
    tx.commit().await?;
    let shutdown = CancellationToken::new();
    let handle = runner(&store, &log).start(shutdown.clone());
    wait_until_gone(&store, id).await?;
    let ran_at = Utc::now();
    shutdown.cancel();
    handle.wait().await;
    assert!(
        ran_at >= due,
        "ran {} ms early",
        (due - ran_at).num_milliseconds()
    );
    assert_eq!(log.entries(), ["record 3"]);
    Ok(())
}

async fn priority_goes_first(db: TestDb) -> anyhow::Result<()> {
    let store = db.store().await?;
    let payload = json!({"n": 1});
    let mut tx = store.begin().await?;
    let mut ids = Vec::new();
    for priority in [0i16, 5, -1, 5] {
        let task = NewTask {
            name: "test.record",
            queue: "short",
            payload: &payload,
            priority,
            max_attempts: 1,
            run_at: Utc::now(),
        };
        ids.push(rows::insert(&mut tx, &task, Utc::now()).await?);
    }
    tx.commit().await?;
    let now = Utc::now() + chrono::Duration::seconds(1);
    let lease = now + chrono::Duration::seconds(60);
    let mut order = Vec::new();
    for _ in 0..4 {
        order.extend(
            rows::claim(&store, "short", "w", now, lease, 1)
                .await?
                .iter()
                .map(|t| t.id),
        );
    }
    assert_eq!(order, [ids[1], ids[3], ids[0], ids[2]]);
    Ok(())
}

async fn expired_lease_is_claimed_again(db: TestDb) -> anyhow::Result<()> {
    let store = db.store().await?;
    let id = enqueue_one(&store, &Record { n: 1 }).await?;
    let last = {
        let mut tx = store.begin().await?;
        let payload = json!({"n": 2});
        let task = NewTask {
            name: "test.record",
            queue: "short",
            payload: &payload,
            priority: -1,
            max_attempts: 1,
            run_at: Utc::now(),
        };
        let id = rows::insert(&mut tx, &task, Utc::now()).await?;
        tx.commit().await?;
        id
    };
    let now = Utc::now();
    let short_lease = now + chrono::Duration::seconds(1);
    assert_eq!(
        rows::claim(&store, "short", "dying", now, short_lease, 10)
            .await?
            .len(),
        2
    );

    // Renewed leases are not taken.
    let reclaimed =
        rows::reclaim_expired(&store, now + chrono::Duration::milliseconds(500)).await?;
    assert_eq!(reclaimed, rows::Reclaimed::default());

    let after = now + chrono::Duration::seconds(2);
    let reclaimed = rows::reclaim_expired(&store, after).await?;
    assert_eq!(
        reclaimed,
        rows::Reclaimed {
            requeued: 2,
            dead: 0
        },
        "a killed worker does not use up the tasks' attempts, not even a last one"
    );
    let requeued = rows::get(&store, last).await?.expect("requeued row");
    assert_eq!(requeued.state, "pending");
    assert_eq!(requeued.attempts, 0);
    assert!(
        requeued
            .last_error
            .unwrap_or_default()
            .contains("lease expired")
    );

    let lease = after + chrono::Duration::seconds(30);
    let again = rows::claim(&store, "short", "healthy", after, lease, 10).await?;
    let mut claimed: Vec<(i64, i32)> = again.iter().map(|t| (t.id, t.attempts)).collect();
    claimed.sort();
    assert_eq!(claimed, [(id, 1), (last, 1)]);
    // The first worker, if it comes back, cannot settle what it lost.
    assert!(!rows::complete(&store, id, "dying").await?);
    assert!(rows::complete(&store, id, "healthy").await?);

    // A task whose workers keep dying is given up after MAX_RECLAIMS stops, with the reason.
    // Its first stop was the dying worker's; the second is the healthy worker's lease running
    // out now.
    let mut at = after;
    for stop in 2..=rows::MAX_RECLAIMS {
        if stop > 2 {
            let lease = at + chrono::Duration::seconds(1);
            let claimed = rows::claim(&store, "short", "dying", at, lease, 10).await?;
            assert_eq!(claimed.len(), 1, "stop {stop}");
        }
        at += chrono::Duration::seconds(60);
        let reclaimed = rows::reclaim_expired(&store, at).await?;
        let expected = if stop < rows::MAX_RECLAIMS {
            rows::Reclaimed {
                requeued: 1,
                dead: 0,
            }
        } else {
            rows::Reclaimed {
                requeued: 0,
                dead: 1,
            }
        };
        assert_eq!(reclaimed, expected, "stop {stop}");
    }
    let dead = rows::get(&store, last).await?.expect("dead row stays");
    assert_eq!(dead.state, "dead");
    assert_eq!(
        dead.last_error.as_deref(),
        Some("the workers running this task stopped before it finished, 10 times (lease expired)")
    );
    Ok(())
}

async fn periodic_task_runs_once_per_period_across_runners(db: TestDb) -> anyhow::Result<()> {
    let store = db.store().await?;
    let log = Log::default();
    let shutdown = CancellationToken::new();
    let mut handles = Vec::new();
    for _ in 0..3 {
        let worker_store = db.store().await?;
        let runner = Runner::new(worker_store, log.clone(), fast_settings())
            .register_periodic(Tick, Duration::from_millis(500))
            .queue(tasks::queues::SHORT, 2);
        handles.push(runner.start(shutdown.clone()));
    }
    let started = std::time::Instant::now();
    tokio::time::sleep(Duration::from_millis(2300)).await;
    shutdown.cancel();
    for handle in handles {
        handle.wait().await;
    }
    // A loaded machine oversleeps; the bound follows the time that really passed.
    let periods = (started.elapsed().as_millis() / 500) as usize;
    // 2.3 s at one run per 0.5 s: 4 or 5 runs (the first is due at start), whatever the
    // number of runners; three runners each running it would give three per period. The
    // bounds leave room for a loaded machine, where runs bunch up after a stall.
    let ticks = log.entries().len();
    assert!(
        (2..=2 * periods + 1).contains(&ticks),
        "{ticks} runs in {periods} periods"
    );
    drop(store);
    Ok(())
}

async fn only_one_caller_takes_a_due_period(db: TestDb) -> anyhow::Result<()> {
    let store = db.store().await?;
    let now = Utc::now();
    rows::ensure_periodic(&store, "poll", 60, now).await?;
    let next = now + chrono::Duration::seconds(60);
    let mut first = store.begin().await?;
    assert!(rows::take_due_periodic(&mut first, "poll", now, next).await?);
    first.commit().await?;
    let mut second = store.begin().await?;
    assert!(!rows::take_due_periodic(&mut second, "poll", now, next).await?);
    drop(second);
    let mut later = store.begin().await?;
    assert!(
        rows::take_due_periodic(
            &mut later,
            "poll",
            next,
            next + chrono::Duration::seconds(60)
        )
        .await?
    );
    later.commit().await?;
    Ok(())
}

async fn concurrent_runners_run_each_task_once(db: TestDb) -> anyhow::Result<()> {
    let store = db.store().await?;
    let log = Log::default();
    let mut tx = store.begin().await?;
    for n in 0..400 {
        tasks::enqueue(&mut tx, &Record { n }).await?;
    }
    tx.commit().await?;
    let shutdown = CancellationToken::new();
    let mut handles = Vec::new();
    for _ in 0..4 {
        handles.push(runner(&db.store().await?, &log).start(shutdown.clone()));
    }
    wait_for(Duration::from_secs(60), || async {
        Ok((log.entries().len() >= 400).then_some(()))
    })
    .await?;
    // Anything run twice would show up after a moment.
    tokio::time::sleep(Duration::from_millis(300)).await;
    shutdown.cancel();
    for handle in handles {
        handle.wait().await;
    }
    let mut entries = log.entries();
    entries.sort();
    entries.dedup();
    assert_eq!(entries.len(), 400);
    assert_eq!(log.entries().len(), 400, "a task ran twice");
    Ok(())
}

on_both_backends!(
    enqueue_claim_complete,
    runner_runs_each_task_once,
    failure_persists_backoff_and_error,
    dead_after_last_attempt_keeps_error,
    permanent_failure_and_panic_go_dead,
    undecodable_payload_goes_dead_and_worker_carries_on,
    delayed_task_waits_for_its_time,
    runner_waits_for_delayed_task,
    priority_goes_first,
    expired_lease_is_claimed_again,
    periodic_task_runs_once_per_period_across_runners,
    only_one_caller_takes_a_due_period,
    concurrent_runners_run_each_task_once,
);

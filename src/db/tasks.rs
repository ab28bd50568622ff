//! Every SQL statement of the task queue (`crate::tasks` holds the behaviour).

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;

use super::{DbResult, Store, Tx, on_backend, on_tx};

/// A task row as the queue stores it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TaskRow {
    pub id: i64,
    pub name: String,
    pub queue: String,
    pub payload: Json<Value>,
    pub priority: i16,
    pub state: String,
    pub attempts: i32,
    pub max_attempts: i32,
    pub run_at: DateTime<Utc>,
    pub locked_by: Option<String>,
    pub locked_until: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// A task to insert.
#[derive(Debug, Clone)]
pub struct NewTask<'a> {
    pub name: &'a str,
    pub queue: &'a str,
    pub payload: &'a Value,
    pub priority: i16,
    pub max_attempts: i32,
    pub run_at: DateTime<Utc>,
}

/// A task a worker has claimed: it holds the lease until `locked_until`.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ClaimedTask {
    pub id: i64,
    pub name: String,
    pub queue: String,
    pub payload: Json<Value>,
    pub attempts: i32,
    pub max_attempts: i32,
    pub reclaims: i32,
    /// When the service it needs became unavailable to it, while it waits out an outage.
    pub outage_started_at: Option<DateTime<Utc>>,
}

/// How many tasks of a queue are in each state.
#[derive(Debug, Clone, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct QueueCounts {
    pub queue: String,
    /// Pending and due now.
    pub ready: i64,
    /// Pending with a run time in the future (delayed or backing off).
    pub scheduled: i64,
    pub running: i64,
    pub dead: i64,
}

/// What [`reclaim_expired`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reclaimed {
    pub requeued: u64,
    pub dead: u64,
}

const INSERT: &str = "INSERT INTO tasks \
     (name, queue, payload, priority, state, attempts, max_attempts, run_at, created_at, updated_at) \
     VALUES ($1, $2, $3, $4, 'pending', 0, $5, $6, $7, $7) RETURNING id";

/// Inserts a task inside `tx`, so that it exists exactly when the change that causes it does.
pub async fn insert(tx: &mut Tx, task: &NewTask<'_>, now: DateTime<Utc>) -> DbResult<i64> {
    let id = on_tx!(tx, conn => sqlx::query_scalar(INSERT)
        .bind(task.name)
        .bind(task.queue)
        .bind(Json(super::storable_json(task.payload)))
        .bind(task.priority)
        .bind(task.max_attempts)
        .bind(task.run_at)
        .bind(now)
        .fetch_one(conn)
        .await?);
    Ok(id)
}

/// Inserts a task inside `tx` unless a pending task has the same `dedup_key` (a pending one
/// does the same work when it runs); its id, or `None` when one is already pending.
///
/// The pending one is locked until `tx` commits: a worker's claim (`SKIP LOCKED`) passes it by
/// meanwhile, so it cannot start, read the state before this transaction's change, and
/// finish without it. A pending one being claimed right now is waited for, and then no longer
/// counts. SQLite's single writer gives the same order.
pub async fn insert_unless_pending(
    tx: &mut Tx,
    task: &NewTask<'_>,
    dedup_key: &str,
    now: DateTime<Utc>,
) -> DbResult<Option<i64>> {
    let pending: Option<i64> = match tx {
        Tx::Postgres(conn) => {
            const SQL: &str = "SELECT id FROM tasks WHERE dedup_key = $1 AND state = 'pending' \
                 LIMIT 1 FOR UPDATE";
            sqlx::query_scalar(SQL)
                .bind(dedup_key)
                .fetch_optional(&mut **conn)
                .await?
        }
        Tx::Sqlite(conn) => {
            const SQL: &str =
                "SELECT id FROM tasks WHERE dedup_key = $1 AND state = 'pending' LIMIT 1";
            sqlx::query_scalar(SQL)
                .bind(dedup_key)
                .fetch_optional(&mut **conn)
                .await?
        }
    };
    if pending.is_some() {
        return Ok(None);
    }
    const SQL: &str = "INSERT INTO tasks \
         (name, queue, payload, priority, state, attempts, max_attempts, run_at, created_at, \
         updated_at, dedup_key) \
         VALUES ($1, $2, $3, $4, 'pending', 0, $5, $6, $7, $7, $8) RETURNING id";
    let id = on_tx!(tx, conn => sqlx::query_scalar(SQL)
        .bind(task.name)
        .bind(task.queue)
        .bind(Json(super::storable_json(task.payload)))
        .bind(task.priority)
        .bind(task.max_attempts)
        .bind(task.run_at)
        .bind(now)
        .bind(dedup_key)
        .fetch_one(conn)
        .await?);
    Ok(Some(id))
}

/// Whether a pending or running task's payload names the pull request row
/// `pull_request_id` (`pull_request.pull_request_id`, as handler payloads carry it).
pub async fn has_live_task_for_pull_request(store: &Store, pull_request_id: i32) -> DbResult<bool> {
    let found: Option<i32> = match store {
        Store::Postgres(pool) => {
            const SQL: &str = "SELECT 1 FROM tasks WHERE state IN ('pending', 'running') \
                 AND payload #>> '{pull_request,pull_request_id}' = $1 LIMIT 1";
            sqlx::query_scalar(SQL)
                .bind(pull_request_id.to_string())
                .fetch_optional(pool)
                .await?
        }
        Store::Sqlite(pool) => {
            const SQL: &str = "SELECT 1 FROM tasks WHERE state IN ('pending', 'running') \
                 AND CAST(json_extract(payload, '$.pull_request.pull_request_id') AS TEXT) = $1 \
                 LIMIT 1";
            sqlx::query_scalar(SQL)
                .bind(pull_request_id.to_string())
                .fetch_optional(pool)
                .await?
        }
    };
    Ok(found.is_some())
}

/// The claim statement; `$lock` is what PostgreSQL needs to skip rows being claimed.
macro_rules! claim_sql {
    ($lock:literal) => {
        concat!(
            "UPDATE tasks SET state = 'running', attempts = attempts + 1, ",
            "locked_by = $1, locked_until = $2, updated_at = $3 ",
            "WHERE id IN (SELECT id FROM tasks WHERE state = 'pending' AND queue = $4 AND run_at <= $3 ",
            "ORDER BY priority DESC, id LIMIT $5 ",
            $lock,
            ") RETURNING id, name, queue, payload, attempts, max_attempts, reclaims, outage_started_at"
        )
    };
}

/// Claims up to `limit` due tasks of `queue` for `worker` until `lease_until`.
///
/// PostgreSQL skips rows another worker is claiming (`FOR UPDATE SKIP LOCKED`); SQLite has a
/// single writer, which makes the one `UPDATE` atomic without it.
pub async fn claim(
    store: &Store,
    queue: &str,
    worker: &str,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
    limit: i64,
) -> DbResult<Vec<ClaimedTask>> {
    let sql = match store {
        Store::Postgres(_) => claim_sql!("FOR UPDATE SKIP LOCKED"),
        Store::Sqlite(_) => claim_sql!(""),
    };
    let claimed = on_backend!(store, pool => sqlx::query_as::<_, ClaimedTask>(sql)
        .bind(worker)
        .bind(lease_until)
        .bind(now)
        .bind(queue)
        .bind(limit)
        .fetch_all(pool)
        .await?);
    Ok(claimed)
}

/// Removes a finished task. False when `worker` no longer holds it (its lease expired and
/// another worker took it over).
pub async fn complete(store: &Store, id: i64, worker: &str) -> DbResult<bool> {
    const SQL: &str = "DELETE FROM tasks WHERE id = $1 AND locked_by = $2 AND state = 'running'";
    let result = on_backend!(store, pool => sqlx::query(SQL).bind(id).bind(worker).execute(pool).await?.rows_affected());
    Ok(result == 1)
}

/// Removes several finished tasks in one statement; returns how many `worker` still held.
pub async fn complete_many(store: &Store, ids: &[i64], worker: &str) -> DbResult<u64> {
    let removed = match store {
        Store::Postgres(pool) => {
            const SQL: &str =
                "DELETE FROM tasks WHERE id = ANY($1) AND locked_by = $2 AND state = 'running'";
            sqlx::query(SQL)
                .bind(ids)
                .bind(worker)
                .execute(pool)
                .await?
                .rows_affected()
        }
        Store::Sqlite(pool) => {
            const SQL: &str = "DELETE FROM tasks WHERE id IN (SELECT value FROM json_each($1)) \
                 AND locked_by = $2 AND state = 'running'";
            let ids = Json(ids);
            sqlx::query(SQL)
                .bind(ids)
                .bind(worker)
                .execute(pool)
                .await?
                .rows_affected()
        }
    };
    Ok(removed)
}

/// Puts a failed task back to wait until `run_at`, keeping the error.
pub async fn retry_at(
    store: &Store,
    id: i64,
    worker: &str,
    run_at: DateTime<Utc>,
    error: &str,
    now: DateTime<Utc>,
) -> DbResult<bool> {
    const SQL: &str = "UPDATE tasks SET state = 'pending', run_at = $3, last_error = $4, \
         locked_by = NULL, locked_until = NULL, updated_at = $5, outage_started_at = NULL \
         WHERE id = $1 AND locked_by = $2 AND state = 'running'";
    let result = on_backend!(store, pool => sqlx::query(SQL)
        .bind(id).bind(worker).bind(run_at).bind(error).bind(now)
        .execute(pool).await?.rows_affected());
    Ok(result == 1)
}

/// Puts a task that found a service unavailable back to wait until `run_at`: the attempt
/// does not count, and the outage is remembered as begun at `outage_started_at`.
pub async fn wait_out_outage(
    store: &Store,
    id: i64,
    worker: &str,
    run_at: DateTime<Utc>,
    outage_started_at: DateTime<Utc>,
    error: &str,
    now: DateTime<Utc>,
) -> DbResult<bool> {
    const SQL: &str = "UPDATE tasks SET state = 'pending', run_at = $3, last_error = $4, \
         attempts = attempts - 1, outage_started_at = $6, \
         locked_by = NULL, locked_until = NULL, updated_at = $5 \
         WHERE id = $1 AND locked_by = $2 AND state = 'running'";
    let result = on_backend!(store, pool => sqlx::query(SQL)
        .bind(id).bind(worker).bind(run_at).bind(error).bind(now).bind(outage_started_at)
        .execute(pool).await?.rows_affected());
    Ok(result == 1)
}

/// Marks a task dead: it will not run again, and keeps `error` for whoever looks.
pub async fn bury(
    store: &Store,
    id: i64,
    worker: &str,
    error: &str,
    now: DateTime<Utc>,
) -> DbResult<bool> {
    const SQL: &str = "UPDATE tasks SET state = 'dead', last_error = $3, \
         locked_by = NULL, locked_until = NULL, updated_at = $4 \
         WHERE id = $1 AND locked_by = $2 AND state = 'running'";
    let result = on_backend!(store, pool => sqlx::query(SQL)
        .bind(id).bind(worker).bind(error).bind(now)
        .execute(pool).await?.rows_affected());
    Ok(result == 1)
}

/// Hands a claimed task back untouched (on shutdown): the attempt does not count.
pub async fn release(store: &Store, id: i64, worker: &str, now: DateTime<Utc>) -> DbResult<bool> {
    const SQL: &str = "UPDATE tasks SET state = 'pending', attempts = attempts - 1, run_at = $3, \
         locked_by = NULL, locked_until = NULL, updated_at = $3 \
         WHERE id = $1 AND locked_by = $2 AND state = 'running'";
    let result = on_backend!(store, pool => sqlx::query(SQL).bind(id).bind(worker).bind(now).execute(pool).await?.rows_affected());
    Ok(result == 1)
}

/// Extends the lease of every task `worker` runs.
pub async fn extend_leases(
    store: &Store,
    worker: &str,
    until: DateTime<Utc>,
    now: DateTime<Utc>,
) -> DbResult<u64> {
    const SQL: &str = "UPDATE tasks SET locked_until = $2, updated_at = $3 \
         WHERE locked_by = $1 AND state = 'running'";
    let result = on_backend!(store, pool => sqlx::query(SQL).bind(worker).bind(until).bind(now).execute(pool).await?.rows_affected());
    Ok(result)
}

/// How often a task may lose its worker (killed, or cut off from the database) before it is
/// given up: a task that kills every worker that runs it must not do so for ever.
pub const MAX_RECLAIMS: i32 = 10;

/// Takes back the tasks whose worker stopped renewing its lease (it was killed, or lost the
/// database). The attempt the worker did not finish does not count: it runs again with the
/// same attempt number, and dies only after [`MAX_RECLAIMS`] such stops.
pub async fn reclaim_expired(store: &Store, now: DateTime<Utc>) -> DbResult<Reclaimed> {
    Ok(reclaim_expired_reporting(store, now).await?.0)
}

/// A task given up by the queue itself, for whoever must know (flags to end).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct BuriedTask {
    pub id: i64,
    pub name: String,
    pub payload: Json<Value>,
    pub last_error: Option<String>,
}

/// [`reclaim_expired`], also returning the tasks it gave up.
pub async fn reclaim_expired_reporting(
    store: &Store,
    now: DateTime<Utc>,
) -> DbResult<(Reclaimed, Vec<BuriedTask>)> {
    const BURY: &str = "UPDATE tasks SET state = 'dead', \
         last_error = 'the workers running this task stopped before it finished, ' \
             || (reclaims + 1) || ' times (lease expired)', \
         reclaims = reclaims + 1, locked_by = NULL, locked_until = NULL, updated_at = $1 \
         WHERE state = 'running' AND locked_until < $1 AND reclaims + 1 >= $2 \
         RETURNING id, name, payload, last_error";
    const REQUEUE: &str = "UPDATE tasks SET state = 'pending', run_at = $1, \
         attempts = attempts - 1, reclaims = reclaims + 1, \
         last_error = 'the worker running this task stopped before it finished (lease expired)', \
         locked_by = NULL, locked_until = NULL, updated_at = $1 \
         WHERE state = 'running' AND locked_until < $1";
    let (buried, requeued) = on_backend!(store, pool => {
        let buried = sqlx::query_as::<_, BuriedTask>(BURY).bind(now).bind(MAX_RECLAIMS).fetch_all(pool).await?;
        let requeued = sqlx::query(REQUEUE).bind(now).execute(pool).await?.rows_affected();
        (buried, requeued)
    });
    let dead = buried.len() as u64;
    Ok((Reclaimed { requeued, dead }, buried))
}

/// Registers a periodic schedule; an existing one keeps its next run time.
pub async fn ensure_periodic(
    store: &Store,
    name: &str,
    period_seconds: i64,
    first_run_at: DateTime<Utc>,
) -> DbResult<()> {
    const SQL: &str = "INSERT INTO periodic_tasks (name, period_seconds, next_run_at) \
         VALUES ($1, $2, $3) \
         ON CONFLICT (name) DO UPDATE SET period_seconds = excluded.period_seconds";
    on_backend!(store, pool => sqlx::query(SQL).bind(name).bind(period_seconds).bind(first_run_at).execute(pool).await?.rows_affected());
    Ok(())
}

/// Moves a due schedule to `next_run_at`. True for exactly one caller per period: the one
/// that must enqueue the run, in the same transaction.
pub async fn take_due_periodic(
    tx: &mut Tx,
    name: &str,
    now: DateTime<Utc>,
    next_run_at: DateTime<Utc>,
) -> DbResult<bool> {
    const SQL: &str = "UPDATE periodic_tasks SET next_run_at = $3, last_run_at = $2 \
         WHERE name = $1 AND next_run_at <= $2";
    let result = on_tx!(tx, conn => sqlx::query(SQL).bind(name).bind(now).bind(next_run_at).execute(conn).await?.rows_affected());
    Ok(result == 1)
}

/// Counts per queue and state.
pub async fn counts(store: &Store, now: DateTime<Utc>) -> DbResult<Vec<QueueCounts>> {
    const SQL: &str = "SELECT queue, \
         SUM(CASE WHEN state = 'pending' AND run_at <= $1 THEN 1 ELSE 0 END) AS ready, \
         SUM(CASE WHEN state = 'pending' AND run_at > $1 THEN 1 ELSE 0 END) AS scheduled, \
         SUM(CASE WHEN state = 'running' THEN 1 ELSE 0 END) AS running, \
         SUM(CASE WHEN state = 'dead' THEN 1 ELSE 0 END) AS dead \
         FROM tasks GROUP BY queue ORDER BY queue";
    let counts = on_backend!(store, pool => sqlx::query_as::<_, QueueCounts>(SQL).bind(now).fetch_all(pool).await?);
    Ok(counts)
}

macro_rules! select_tasks {
    ($rest:literal) => {
        concat!(
            "SELECT id, name, queue, payload, priority, state, attempts, max_attempts, ",
            "run_at, locked_by, locked_until, last_error, created_at FROM tasks ",
            $rest
        )
    };
}

/// One task by id; None once it has succeeded (and was removed).
pub async fn get(store: &Store, id: i64) -> DbResult<Option<TaskRow>> {
    let sql = select_tasks!("WHERE id = $1");
    let row = on_backend!(store, pool => sqlx::query_as::<_, TaskRow>(sql).bind(id).fetch_optional(pool).await?);
    Ok(row)
}

/// Tasks in `state`, oldest first.
pub async fn list_by_state(store: &Store, state: &str, limit: i64) -> DbResult<Vec<TaskRow>> {
    let sql = select_tasks!("WHERE state = $1 ORDER BY id LIMIT $2");
    let rows = on_backend!(store, pool => sqlx::query_as::<_, TaskRow>(sql).bind(state).bind(limit).fetch_all(pool).await?);
    Ok(rows)
}

/// Removes every task of `queue` (benchmarks and tests start from an empty queue).
pub async fn delete_queue(store: &Store, queue: &str) -> DbResult<u64> {
    const SQL: &str = "DELETE FROM tasks WHERE queue = $1";
    let result = on_backend!(store, pool => sqlx::query(SQL).bind(queue).execute(pool).await?.rows_affected());
    Ok(result)
}

/// Reclaims the space of removed tasks now, rather than when autovacuum gets to it
/// (benchmarks measure from the same starting point this way).
pub async fn vacuum(store: &Store) -> DbResult<()> {
    match store {
        Store::Postgres(pool) => {
            sqlx::query("VACUUM ANALYZE tasks").execute(pool).await?;
        }
        Store::Sqlite(pool) => {
            sqlx::query("ANALYZE tasks").execute(pool).await?;
        }
    }
    Ok(())
}

//! Every SQL statement about packit-service's tables of Fedora CI runs: projects, pull
//! requests, project events (one per PR × commit), pipelines ("runs"), Koji builds, Testing
//! Farm runs and Log Detective runs. The shapes and meanings are packit-service's
//! (`packit_service/models.py`), so both services and the packit dashboard read the same rows.
//!
//! packit's timestamp columns are `TIMESTAMP WITHOUT TIME ZONE` in UTC, hence `NaiveDateTime`.
//! Its enum columns are PostgreSQL enum types, which a text parameter must be cast to; those
//! few statements have a PostgreSQL and an SQLite text.

use chrono::{NaiveDateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;

use super::{DbResult, Store, Tx, head_event_id, on_backend, on_tx};

/// Runs `$body` with `$conn` and `$sql` chosen for the transaction's backend.
macro_rules! on_tx_sql {
    ($tx:expr, pg: $pg:expr, sqlite: $lite:expr, |$conn:ident, $sql:ident| $body:expr) => {
        match $tx {
            $crate::db::Tx::Postgres(tx) => {
                let $conn = &mut **tx;
                let $sql: &str = $pg;
                $body
            }
            $crate::db::Tx::Sqlite(tx) => {
                let $conn = &mut **tx;
                let $sql: &str = $lite;
                $body
            }
        }
    };
}

/// The new `data` keys to merge into a row's `data` (an empty object when none change).
fn data_patch(new: Option<&Value>) -> Json<Value> {
    Json(
        new.cloned()
            .filter(Value::is_object)
            .unwrap_or_else(|| Value::Object(Default::default())),
    )
}

fn now() -> NaiveDateTime {
    Utc::now().naive_utc()
}

/// A dist-git pull request as the handlers know it.
#[derive(Debug, Clone)]
pub struct PullRequestKey<'a> {
    pub namespace: Option<&'a str>,
    pub repo_name: &'a str,
    /// Web URL, e.g. `https://src.fedoraproject.org/rpms/optee_os`.
    pub project_url: &'a str,
    /// Host name of the forge, e.g. `src.fedoraproject.org`.
    pub instance_url: &'a str,
    pub pr_id: i64,
}

/// The ids of the rows one pull-request event touches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PullRequestEventIds {
    pub project_id: i32,
    pub pull_request_id: i32,
    pub project_event_id: i32,
    /// Whether this event's commit is the PR's head once recorded: false for a message older
    /// (by arrival) than the one that told a newer commit, and for a commit that was
    /// superseded before.
    pub is_head: bool,
}

/// Finds or creates the project, pull request and project event (PR × commit) rows, as
/// packit-service's `ProjectEventModel.add_pull_request_event` does.
pub async fn upsert_pull_request_event(
    tx: &mut Tx,
    key: &PullRequestKey<'_>,
    commit_sha: &str,
    message_seq: i64,
) -> DbResult<PullRequestEventIds> {
    // packit's tables have no unique keys here; two workers seeing the first event of a PR
    // at once must not both insert, so the project URL is locked for the transaction.
    if let Tx::Postgres(tx) = tx {
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))")
            .bind(key.project_url)
            .execute(&mut **tx)
            .await?;
    }
    let project_id = project_id(tx, key).await?;
    let pull_request_id = pull_request_id(tx, project_id, key.pr_id).await?;
    let (project_event_id, created) = project_event_id(tx, pull_request_id, commit_sha).await?;
    let is_head = advance_head(tx, pull_request_id, project_event_id, created, message_seq).await?;
    Ok(PullRequestEventIds {
        project_id,
        pull_request_id,
        project_event_id,
        is_head,
    })
}

/// Moves the PR's head to this event when its message is newer (by arrival, `message_seq`)
/// than the one that set the head and its commit is new; returns whether the event is the
/// head now. A commit seen before that is not the head was superseded and never becomes the
/// head again (a late or re-sent message of it must not set old work back). Called under the
/// project's lock, so heads of one PR move one at a time.
async fn advance_head(
    tx: &mut Tx,
    pull_request_id: i32,
    project_event_id: i32,
    created: bool,
    message_seq: i64,
) -> DbResult<bool> {
    const CURRENT: &str =
        "SELECT project_event_id, message_seq FROM pull_request_heads WHERE pull_request_id = $1";
    const NEWEST_ROW: &str = "SELECT MAX(id) FROM project_events \
         WHERE CAST(type AS TEXT) = 'pull_request' AND event_id = $1";
    const UPSERT: &str = "INSERT INTO pull_request_heads (pull_request_id, project_event_id, message_seq) \
         VALUES ($1, $2, $3) ON CONFLICT (pull_request_id) DO UPDATE \
         SET project_event_id = excluded.project_event_id, message_seq = excluded.message_seq";
    let current: Option<(i32, i64)> = on_tx!(tx, conn => sqlx::query_as(CURRENT)
        .bind(pull_request_id).fetch_optional(conn).await?);
    let (becomes_head, seq) = match current {
        Some((head, seq)) if head == project_event_id => (true, seq.max(message_seq)),
        Some((_, seq)) => (created && message_seq > seq, message_seq),
        // Recorded by a release before this table was filled: the newest row is the head.
        None => {
            let newest: Option<i32> = on_tx!(tx, conn => sqlx::query_scalar(NEWEST_ROW)
                .bind(pull_request_id).fetch_one(conn).await?);
            (newest == Some(project_event_id), message_seq)
        }
    };
    if becomes_head {
        on_tx!(tx, conn => sqlx::query(UPSERT).bind(pull_request_id).bind(project_event_id)
            .bind(seq).execute(conn).await?.rows_affected());
    }
    Ok(becomes_head)
}

async fn project_id(tx: &mut Tx, key: &PullRequestKey<'_>) -> DbResult<i32> {
    // By URL and forge: two forges may serve the same URL (one host for both during the
    // switch), and their projects and PR numbers must never meet.
    const FIND: &str = "SELECT id FROM git_projects WHERE project_url = $1 AND instance_url = $2 \
         ORDER BY id LIMIT 1";
    const INSERT: &str = "INSERT INTO git_projects (namespace, repo_name, project_url, instance_url) \
         VALUES ($1, $2, $3, $4) RETURNING id";
    let found: Option<i32> = on_tx!(tx, conn => sqlx::query_scalar(FIND).bind(key.project_url)
        .bind(key.instance_url).fetch_optional(conn).await?);
    if let Some(id) = found {
        return Ok(id);
    }
    let id = on_tx!(tx, conn => sqlx::query_scalar(INSERT)
        .bind(key.namespace).bind(key.repo_name).bind(key.project_url).bind(key.instance_url)
        .fetch_one(conn).await?);
    Ok(id)
}

async fn pull_request_id(tx: &mut Tx, project_id: i32, pr_id: i64) -> DbResult<i32> {
    const FIND: &str =
        "SELECT id FROM pull_requests WHERE project_id = $1 AND pr_id = $2 ORDER BY id LIMIT 1";
    const INSERT: &str =
        "INSERT INTO pull_requests (pr_id, project_id) VALUES ($2, $1) RETURNING id";
    let pr_id = pr_id as i32;
    let found: Option<i32> = on_tx!(tx, conn => sqlx::query_scalar(FIND).bind(project_id).bind(pr_id).fetch_optional(conn).await?);
    if let Some(id) = found {
        return Ok(id);
    }
    let id = on_tx!(tx, conn => sqlx::query_scalar(INSERT).bind(project_id).bind(pr_id).fetch_one(conn).await?);
    Ok(id)
}

/// The PR × commit event's id, and whether it was created now.
async fn project_event_id(
    tx: &mut Tx,
    pull_request_id: i32,
    commit_sha: &str,
) -> DbResult<(i32, bool)> {
    const FIND: &str = "SELECT id FROM project_events \
         WHERE CAST(type AS TEXT) = 'pull_request' AND event_id = $1 AND commit_sha = $2 \
         ORDER BY id LIMIT 1";
    let found: Option<i32> = on_tx!(tx, conn => sqlx::query_scalar(FIND).bind(pull_request_id).bind(commit_sha).fetch_optional(conn).await?);
    if let Some(id) = found {
        return Ok((id, false));
    }
    let id = on_tx_sql!(tx,
        pg: "INSERT INTO project_events (type, event_id, commit_sha) \
             VALUES ('pull_request', $1, $2) RETURNING id",
        sqlite: "INSERT INTO project_events (type, event_id, commit_sha) \
             VALUES ('pull_request', $1, $2) RETURNING id",
        |conn, sql| sqlx::query_scalar(sql).bind(pull_request_id).bind(commit_sha).fetch_one(conn).await?);
    Ok((id, true))
}

/// The commit of a pull request's head event (`pull_request_heads`): its head as far as we know.
pub async fn head_commit(store: &Store, pull_request_id: i32) -> DbResult<Option<String>> {
    const SQL: &str = concat!(
        "SELECT commit_sha FROM project_events WHERE id = ",
        head_event_id!()
    );
    let sha: Option<Option<String>> = on_backend!(store, pool => sqlx::query_scalar(SQL)
        .bind(pull_request_id).fetch_optional(pool).await?);
    Ok(sha.flatten())
}

/// Records that the push work of this PR × commit event is being planned; `false` when it
/// already was (a re-sent `pull-request.updated`/`.rebased` for the same head), so it is
/// planned once. Events planned before `planned_pushes` existed count by their push builds
/// and test runs.
pub async fn claim_push_planning(tx: &mut Tx, project_event_id: i32) -> DbResult<bool> {
    const LEGACY: &str = "SELECT \
         (SELECT COUNT(*) FROM koji_build_targets kb \
           JOIN pipelines p ON p.koji_build_group_id = kb.koji_build_group_id \
           WHERE p.project_event_id = $1 AND kb.data->>'trigger' = 'push') + \
         (SELECT COUNT(*) FROM tft_test_run_targets t \
           JOIN pipelines p ON p.test_run_group_id = t.tft_test_run_group_id \
           WHERE p.project_event_id = $1 AND t.data->>'trigger' = 'push')";
    const CLAIM: &str = "INSERT INTO planned_pushes (project_event_id, planned_at) VALUES ($1, $2) \
         ON CONFLICT (project_event_id) DO NOTHING";
    let legacy: i64 = on_tx!(tx, conn => sqlx::query_scalar(LEGACY).bind(project_event_id).fetch_one(conn).await?);
    if legacy > 0 {
        return Ok(false);
    }
    let inserted = on_tx!(tx, conn => sqlx::query(CLAIM).bind(project_event_id).bind(now())
        .execute(conn).await?.rows_affected());
    Ok(inserted == 1)
}

/// Whether the push work of this PR × commit event was planned ([`claim_push_planning`]).
pub async fn push_planned(store: &Store, project_event_id: i32) -> DbResult<bool> {
    const SQL: &str = "SELECT COUNT(*) FROM planned_pushes WHERE project_event_id = $1";
    let count: i64 = on_backend!(store, pool => sqlx::query_scalar(SQL).bind(project_event_id).fetch_one(pool).await?);
    Ok(count > 0)
}

// ----------------------------------------------------------------------------------------
// Koji builds

/// A Koji scratch build (`koji_build_targets`) with the event it was made for.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct KojiBuild {
    pub id: i32,
    pub task_id: Option<String>,
    pub status: String,
    pub target: String,
    pub web_url: Option<String>,
    pub data: Option<Json<Value>>,
    pub build_logs_urls: Option<Json<Value>>,
    pub submitted_time: Option<NaiveDateTime>,
    pub build_start_time: Option<NaiveDateTime>,
    pub build_finished_time: Option<NaiveDateTime>,
    pub koji_build_group_id: i32,
    pub run_id: i32,
    pub project_event_id: i32,
    pub commit_sha: String,
    pub pull_request_id: i32,
    pub pr_id: i32,
    pub namespace: Option<String>,
    pub repo_name: String,
    pub project_url: String,
}

impl KojiBuild {
    /// A field of the build's `data` JSON.
    pub fn data_str(&self, key: &str) -> Option<&str> {
        self.data.as_ref()?.0.get(key)?.as_str()
    }

    pub fn koji_task_id(&self) -> Option<i64> {
        self.task_id.as_deref()?.parse().ok()
    }
}

const KOJI_BUILD_SELECT: &str = "SELECT kb.id, kb.task_id, kb.status, kb.target, kb.web_url, \
     kb.data, kb.build_logs_urls, kb.submitted_time, kb.build_start_time, \
     kb.build_finished_time, kb.koji_build_group_id, p.id AS run_id, \
     pe.id AS project_event_id, pe.commit_sha AS commit_sha, pr.id AS pull_request_id, \
     pr.pr_id AS pr_id, gp.namespace AS namespace, gp.repo_name AS repo_name, \
     gp.project_url AS project_url \
     FROM koji_build_targets kb \
     JOIN pipelines p ON p.id = (SELECT MIN(id) FROM pipelines WHERE koji_build_group_id = kb.koji_build_group_id) \
     JOIN project_events pe ON pe.id = p.project_event_id \
     JOIN pull_requests pr ON pr.id = pe.event_id \
     JOIN git_projects gp ON gp.id = pr.project_id ";

/// Creates the pipeline, build group and build row of a scratch build about to be
/// submitted (`status = pending`, no task yet): the intent, recorded before the call.
pub async fn create_koji_build(
    tx: &mut Tx,
    project_event_id: i32,
    package_name: &str,
    target: &str,
    data: &Value,
) -> DbResult<i32> {
    const GROUP: &str = "INSERT INTO koji_build_groups (submitted_time) VALUES ($1) RETURNING id";
    const PIPELINE: &str = "INSERT INTO pipelines (datetime, project_event_id, package_name, koji_build_group_id) \
         VALUES ($1, $2, $3, $4) RETURNING id";
    const BUILD: &str = "INSERT INTO koji_build_targets \
         (status, target, submitted_time, scratch, data, koji_build_group_id) \
         VALUES ('pending', $1, $2, TRUE, $3, $4) RETURNING id";
    let now = now();
    let group_id: i32 =
        on_tx!(tx, conn => sqlx::query_scalar(GROUP).bind(now).fetch_one(conn).await?);
    let _: i32 = on_tx!(tx, conn => sqlx::query_scalar(PIPELINE)
        .bind(now).bind(project_event_id).bind(package_name).bind(group_id).fetch_one(conn).await?);
    let id = on_tx!(tx, conn => sqlx::query_scalar(BUILD)
        .bind(target).bind(now).bind(Json(data)).bind(group_id).fetch_one(conn).await?);
    Ok(id)
}

/// Deletes a build row that was never submitted (no Koji task), with its group and
/// pipeline: a planned build whose task found nothing to build.
pub async fn delete_unsubmitted_koji_build(tx: &mut Tx, id: i32) -> DbResult<bool> {
    const BUILD: &str = "DELETE FROM koji_build_targets WHERE id = $1 AND task_id IS NULL RETURNING koji_build_group_id";
    const PIPELINE: &str = "DELETE FROM pipelines WHERE koji_build_group_id = $1";
    const GROUP: &str = "DELETE FROM koji_build_groups WHERE id = $1";
    let group: Option<Option<i32>> =
        on_tx!(tx, conn => sqlx::query_scalar(BUILD).bind(id).fetch_optional(conn).await?);
    let Some(group) = group else {
        return Ok(false);
    };
    if let Some(group) = group {
        on_tx!(tx, conn => sqlx::query(PIPELINE).bind(group).execute(conn).await?.rows_affected());
        on_tx!(tx, conn => sqlx::query(GROUP).bind(group).execute(conn).await?.rows_affected());
    }
    Ok(true)
}

pub async fn koji_build(store: &Store, id: i32) -> DbResult<Option<KojiBuild>> {
    const SQL: &str = "WHERE kb.id = $1";
    let sql = format!("{KOJI_BUILD_SELECT}{SQL}");
    let row = on_backend!(store, pool => sqlx::query_as::<_, KojiBuild>(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(pool).await?);
    Ok(row)
}

pub async fn koji_build_by_task_id(store: &Store, task_id: i64) -> DbResult<Option<KojiBuild>> {
    let sql = format!("{KOJI_BUILD_SELECT}WHERE kb.task_id = $1 ORDER BY kb.id DESC LIMIT 1");
    let row = on_backend!(store, pool => sqlx::query_as::<_, KojiBuild>(sqlx::AssertSqlSafe(sql)).bind(task_id.to_string()).fetch_optional(pool).await?);
    Ok(row)
}

/// The build a trigger (a push, or one comment) asked for at this commit and target, if an
/// earlier attempt of the same task created it.
pub async fn koji_build_for_trigger(
    store: &Store,
    project_event_id: i32,
    target: &str,
    trigger: &str,
) -> DbResult<Option<KojiBuild>> {
    let sql = format!(
        "{KOJI_BUILD_SELECT}WHERE pe.id = $1 AND kb.target = $2 AND kb.data->>'trigger' = $3 \
         ORDER BY kb.id DESC LIMIT 1"
    );
    let row = on_backend!(store, pool => sqlx::query_as::<_, KojiBuild>(sqlx::AssertSqlSafe(sql))
        .bind(project_event_id).bind(target).bind(trigger).fetch_optional(pool).await?);
    Ok(row)
}

/// The newest build of this commit and target that succeeded.
pub async fn last_successful_koji_build(
    store: &Store,
    project_event_id: i32,
    target: &str,
) -> DbResult<Option<KojiBuild>> {
    let sql = format!(
        "{KOJI_BUILD_SELECT}WHERE pe.id = $1 AND kb.target = $2 AND kb.status = 'success' \
         ORDER BY kb.id DESC LIMIT 1"
    );
    let row = on_backend!(store, pool => sqlx::query_as::<_, KojiBuild>(sqlx::AssertSqlSafe(sql))
        .bind(project_event_id).bind(target).fetch_optional(pool).await?);
    Ok(row)
}

/// The newest build of this commit and target that has not finished (`pending` before it
/// is submitted, `retry`, `queued`, `running`): tests asked for meanwhile wait for it.
pub async fn unfinished_koji_build(
    store: &Store,
    project_event_id: i32,
    target: &str,
) -> DbResult<Option<KojiBuild>> {
    let sql = format!(
        "{KOJI_BUILD_SELECT}WHERE pe.id = $1 AND kb.target = $2 \
         AND kb.status IN ('pending', 'queued', 'running', 'retry') ORDER BY kb.id DESC LIMIT 1"
    );
    let row = on_backend!(store, pool => sqlx::query_as::<_, KojiBuild>(sqlx::AssertSqlSafe(sql))
        .bind(project_event_id).bind(target).fetch_optional(pool).await?);
    Ok(row)
}

/// The newest build id of this commit and target, finished or not.
pub async fn newest_koji_build_id(
    store: &Store,
    project_event_id: i32,
    target: &str,
) -> DbResult<Option<i32>> {
    let sql = format!(
        "SELECT MAX(id) FROM ({KOJI_BUILD_SELECT}WHERE pe.id = $1 AND kb.target = $2) builds"
    );
    let id: Option<i32> = on_backend!(store, pool => sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .bind(project_event_id).bind(target).fetch_one(pool).await?);
    Ok(id)
}

/// Unfinished builds of this commit and target up to build `up_to_id`: what an explicit
/// `scratch-build` retrigger replaces.
pub async fn unfinished_koji_builds_up_to(
    store: &Store,
    project_event_id: i32,
    target: &str,
    up_to_id: i32,
) -> DbResult<Vec<KojiBuild>> {
    let sql = format!(
        "{KOJI_BUILD_SELECT}WHERE pe.id = $1 AND kb.target = $2 AND kb.id <= $3 \
         AND kb.status IN ('pending', 'queued', 'running', 'retry') ORDER BY kb.id"
    );
    let rows = on_backend!(store, pool => sqlx::query_as::<_, KojiBuild>(sqlx::AssertSqlSafe(sql))
        .bind(project_event_id).bind(target).bind(up_to_id).fetch_all(pool).await?);
    Ok(rows)
}

/// Builds of a pull request for commits other than `head_sha` that have not finished.
pub async fn unfinished_koji_builds_of_other_commits(
    store: &Store,
    pull_request_id: i32,
    head_sha: &str,
) -> DbResult<Vec<KojiBuild>> {
    let sql = format!(
        "{KOJI_BUILD_SELECT}WHERE pr.id = $1 AND pe.commit_sha <> $2 \
         AND kb.status IN ('pending', 'queued', 'running', 'retry') ORDER BY kb.id"
    );
    let rows = on_backend!(store, pool => sqlx::query_as::<_, KojiBuild>(sqlx::AssertSqlSafe(sql))
        .bind(pull_request_id).bind(head_sha).fetch_all(pool).await?);
    Ok(rows)
}

/// Whether a later build exists for the same commit and target (packit's `has_newer_run`):
/// a retriggered build supersedes the flag of the earlier one.
pub async fn has_newer_koji_build(store: &Store, build: &KojiBuild) -> DbResult<bool> {
    let sql = format!(
        "SELECT COUNT(*) FROM ({KOJI_BUILD_SELECT}WHERE pe.id = $1 AND kb.target = $2 AND kb.id > $3) newer"
    );
    let count: i64 = on_backend!(store, pool => sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .bind(build.project_event_id).bind(&build.target).bind(build.id).fetch_one(pool).await?);
    Ok(count > 0)
}

/// The build's status, with its row locked until the transaction ends (PostgreSQL; SQLite's
/// write transactions are serial anyway).
pub async fn lock_koji_build_status(tx: &mut Tx, id: i32) -> DbResult<Option<String>> {
    let status = on_tx_sql!(tx,
        pg: "SELECT status FROM koji_build_targets WHERE id = $1 FOR UPDATE",
        sqlite: "SELECT status FROM koji_build_targets WHERE id = $1",
        |conn, sql| sqlx::query_scalar::<_, Option<String>>(sql).bind(id).fetch_optional(conn).await?);
    Ok(status.flatten())
}

/// What changes on a build row; `None` leaves a column as it is.
#[derive(Debug, Clone, Default)]
pub struct KojiBuildUpdate<'a> {
    pub status: Option<&'a str>,
    pub task_id: Option<i64>,
    pub web_url: Option<&'a str>,
    pub build_logs_urls: Option<&'a Value>,
    pub build_start_time: Option<NaiveDateTime>,
    pub build_finished_time: Option<NaiveDateTime>,
    /// Merged into `data` (top-level keys replaced).
    pub data: Option<Value>,
}

pub async fn update_koji_build(
    tx: &mut Tx,
    build: &KojiBuild,
    update: &KojiBuildUpdate<'_>,
) -> DbResult<()> {
    // Merged by the database, not from the row as this task read it: another task may have
    // added a key since (a `test` comment's `then_test` on a build being submitted).
    let data = data_patch(update.data.as_ref());
    let task_id = update.task_id.map(|id| id.to_string());
    on_tx_sql!(tx,
        pg: "UPDATE koji_build_targets SET status = COALESCE($2, status), \
             task_id = COALESCE($3, task_id), web_url = COALESCE($4, web_url), \
             build_logs_urls = COALESCE(CAST($5 AS JSON), build_logs_urls), \
             build_start_time = COALESCE($6, build_start_time), \
             build_finished_time = COALESCE($7, build_finished_time), \
             data = CASE WHEN json_typeof(data) = 'object' \
             THEN CAST(CAST(data AS JSONB) || CAST($8 AS JSONB) AS JSON) ELSE CAST($8 AS JSON) END WHERE id = $1",
        sqlite: "UPDATE koji_build_targets SET status = COALESCE($2, status), \
             task_id = COALESCE($3, task_id), web_url = COALESCE($4, web_url), \
             build_logs_urls = COALESCE($5, build_logs_urls), \
             build_start_time = COALESCE($6, build_start_time), \
             build_finished_time = COALESCE($7, build_finished_time), \
             data = CASE WHEN json_type(data) = 'object' \
             THEN json_patch(data, $8) ELSE json($8) END WHERE id = $1",
        |conn, sql| sqlx::query(sql)
        .bind(build.id).bind(update.status).bind(task_id).bind(update.web_url)
        .bind(update.build_logs_urls.map(Json)).bind(update.build_start_time)
        .bind(update.build_finished_time).bind(&data)
        .execute(conn).await?.rows_affected());
    Ok(())
}

// ----------------------------------------------------------------------------------------
// Testing Farm runs

/// A Testing Farm run (`tft_test_run_targets`) of one Fedora CI test.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TestRun {
    pub id: i32,
    /// Testing Farm's request id, once submitted.
    pub pipeline_id: Option<String>,
    pub status: String,
    /// The distro, e.g. `fedora-rawhide`.
    pub target: String,
    pub web_url: Option<String>,
    pub submitted_time: Option<NaiveDateTime>,
    pub data: Option<Json<Value>>,
    pub tft_test_run_group_id: i32,
    pub koji_build_id: Option<i32>,
    pub project_event_id: i32,
    pub commit_sha: String,
    pub pull_request_id: i32,
    pub pr_id: i32,
    pub namespace: Option<String>,
    pub repo_name: String,
    pub project_url: String,
}

impl TestRun {
    pub fn data_str(&self, key: &str) -> Option<&str> {
        self.data.as_ref()?.0.get(key)?.as_str()
    }

    /// The Fedora CI test this run is (`data.fedora_ci_test`, packit's marker).
    pub fn test_name(&self) -> &str {
        self.data_str("fedora_ci_test").unwrap_or("unknown")
    }
}

const TEST_RUN_SELECT: &str = "SELECT t.id, t.pipeline_id, CAST(t.status AS TEXT) AS status, \
     t.target, t.web_url, t.submitted_time, t.data, t.tft_test_run_group_id, \
     (SELECT MIN(koji_id) FROM tf_koji_build_association_table WHERE tft_id = t.id) AS koji_build_id, \
     pe.id AS project_event_id, pe.commit_sha AS commit_sha, pr.id AS pull_request_id, \
     pr.pr_id AS pr_id, gp.namespace AS namespace, gp.repo_name AS repo_name, \
     gp.project_url AS project_url \
     FROM tft_test_run_targets t \
     JOIN pipelines p ON p.id = (SELECT MIN(id) FROM pipelines WHERE test_run_group_id = t.tft_test_run_group_id) \
     JOIN project_events pe ON pe.id = p.project_event_id \
     JOIN pull_requests pr ON pr.id = pe.event_id \
     JOIN git_projects gp ON gp.id = pr.project_id ";

/// One test to create a run row for.
#[derive(Debug, Clone)]
pub struct NewTestRun<'a> {
    pub distro: &'a str,
    pub data: Value,
}

/// Creates a test-run group on the build's pipeline (or a new pipeline of the event when
/// there is no build, as in the tests namespace), with one `new` run per test.
pub async fn create_test_runs(
    tx: &mut Tx,
    project_event_id: i32,
    package_name: &str,
    koji_build: Option<&KojiBuild>,
    runs: &[NewTestRun<'_>],
) -> DbResult<Vec<i32>> {
    const GROUP: &str = "INSERT INTO tft_test_run_groups (submitted_time, ranch) VALUES ($1, 'public') RETURNING id";
    const CLAIM: &str =
        "UPDATE pipelines SET test_run_group_id = $2 WHERE id = $1 AND test_run_group_id IS NULL";
    const PIPELINE: &str = "INSERT INTO pipelines \
         (datetime, project_event_id, package_name, koji_build_group_id, test_run_group_id) \
         VALUES ($1, $2, $3, $4, $5) RETURNING id";
    const LINK: &str =
        "INSERT INTO tf_koji_build_association_table (koji_id, tft_id) VALUES ($1, $2)";
    let now = now();
    let group_id: i32 =
        on_tx!(tx, conn => sqlx::query_scalar(GROUP).bind(now).fetch_one(conn).await?);
    // The build's pipeline takes the group if its slot is free; otherwise a clone of the
    // pipeline does, as packit's `TFTTestRunGroupModel.create` does.
    let claimed = match koji_build {
        Some(build) => {
            on_tx!(tx, conn => sqlx::query(CLAIM).bind(build.run_id).bind(group_id)
            .execute(conn).await?.rows_affected())
                == 1
        }
        None => false,
    };
    if !claimed {
        let _: i32 = on_tx!(tx, conn => sqlx::query_scalar(PIPELINE)
            .bind(now).bind(project_event_id).bind(package_name)
            .bind(koji_build.map(|b| b.koji_build_group_id)).bind(group_id)
            .fetch_one(conn).await?);
    }
    let mut ids = Vec::with_capacity(runs.len());
    for run in runs {
        let id: i32 = on_tx_sql!(tx,
            pg: "INSERT INTO tft_test_run_targets (status, target, data, tft_test_run_group_id) \
                 VALUES (CAST('new' AS testingfarmresult), $1, $2, $3) RETURNING id",
            sqlite: "INSERT INTO tft_test_run_targets (status, target, data, tft_test_run_group_id) \
                 VALUES ('new', $1, $2, $3) RETURNING id",
            |conn, sql| sqlx::query_scalar(sql).bind(run.distro).bind(Json(&run.data)).bind(group_id)
                .fetch_one(conn).await?);
        if let Some(build) = koji_build {
            on_tx!(tx, conn => sqlx::query(LINK).bind(build.id).bind(id).execute(conn).await?.rows_affected());
        }
        ids.push(id);
    }
    Ok(ids)
}

pub async fn test_run(store: &Store, id: i32) -> DbResult<Option<TestRun>> {
    let sql = format!("{TEST_RUN_SELECT}WHERE t.id = $1");
    let row = on_backend!(store, pool => sqlx::query_as::<_, TestRun>(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(pool).await?);
    Ok(row)
}

pub async fn test_run_by_request_id(store: &Store, request_id: &str) -> DbResult<Option<TestRun>> {
    let sql = format!("{TEST_RUN_SELECT}WHERE t.pipeline_id = $1 ORDER BY t.id DESC LIMIT 1");
    let row = on_backend!(store, pool => sqlx::query_as::<_, TestRun>(sqlx::AssertSqlSafe(sql)).bind(request_id).fetch_optional(pool).await?);
    Ok(row)
}

/// The runs a trigger created for this event, if an earlier attempt of the task did.
pub async fn test_runs_for_trigger(
    store: &Store,
    project_event_id: i32,
    trigger: &str,
) -> DbResult<Vec<TestRun>> {
    let sql =
        format!("{TEST_RUN_SELECT}WHERE pe.id = $1 AND t.data->>'trigger' = $2 ORDER BY t.id");
    let rows = on_backend!(store, pool => sqlx::query_as::<_, TestRun>(sqlx::AssertSqlSafe(sql))
        .bind(project_event_id).bind(trigger).fetch_all(pool).await?);
    Ok(rows)
}

/// The newest run of each test at this event and distro (for `test --failed`).
pub async fn latest_test_runs(
    store: &Store,
    project_event_id: i32,
    distro: &str,
) -> DbResult<Vec<TestRun>> {
    let sql = format!("{TEST_RUN_SELECT}WHERE pe.id = $1 AND t.target = $2 ORDER BY t.id DESC");
    let rows: Vec<TestRun> = on_backend!(store, pool => sqlx::query_as::<_, TestRun>(sqlx::AssertSqlSafe(sql))
        .bind(project_event_id).bind(distro).fetch_all(pool).await?);
    let mut seen = std::collections::HashSet::new();
    Ok(rows
        .into_iter()
        .filter(|run| seen.insert(run.test_name().to_owned()))
        .collect())
}

/// Whether a later run of the same test exists for the same pull request, commit and
/// distro: that run owns the flag, and this one's results no longer change it.
pub async fn has_newer_test_run(store: &Store, run: &TestRun) -> DbResult<bool> {
    let sql = format!(
        "SELECT COUNT(*) FROM ({TEST_RUN_SELECT}WHERE pr.id = $1 AND pe.commit_sha = $2 \
         AND t.target = $3 AND t.data->>'fedora_ci_test' = $4 AND t.id > $5) newer"
    );
    let count: i64 = on_backend!(store, pool => sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .bind(run.pull_request_id).bind(&run.commit_sha).bind(&run.target)
        .bind(run.test_name()).bind(run.id).fetch_one(pool).await?);
    Ok(count > 0)
}

/// Submitted runs still waiting for a final result.
pub async fn unfinished_test_runs(store: &Store) -> DbResult<Vec<TestRun>> {
    let sql = format!(
        "{TEST_RUN_SELECT}WHERE t.pipeline_id IS NOT NULL \
         AND CAST(t.status AS TEXT) IN ('new', 'queued', 'running', 'cancel_requested') ORDER BY t.id"
    );
    let rows = on_backend!(store, pool => sqlx::query_as::<_, TestRun>(sqlx::AssertSqlSafe(sql)).fetch_all(pool).await?);
    Ok(rows)
}

/// Runs of a pull request for commits other than `head_sha` that have not finished.
pub async fn unfinished_test_runs_of_other_commits(
    store: &Store,
    pull_request_id: i32,
    head_sha: &str,
) -> DbResult<Vec<TestRun>> {
    let sql = format!(
        "{TEST_RUN_SELECT}WHERE pr.id = $1 AND pe.commit_sha <> $2 \
         AND CAST(t.status AS TEXT) IN ('new', 'queued', 'running', 'retry') ORDER BY t.id"
    );
    let rows = on_backend!(store, pool => sqlx::query_as::<_, TestRun>(sqlx::AssertSqlSafe(sql))
        .bind(pull_request_id).bind(head_sha).fetch_all(pool).await?);
    Ok(rows)
}

/// What changes on a test run; `None` leaves a column as it is.
#[derive(Debug, Clone, Default)]
pub struct TestRunUpdate<'a> {
    pub status: Option<&'a str>,
    pub request_id: Option<&'a str>,
    pub web_url: Option<&'a str>,
    pub submitted_time: Option<NaiveDateTime>,
    /// Merged into `data` (top-level keys replaced).
    pub data: Option<Value>,
}

pub async fn update_test_run(
    tx: &mut Tx,
    run: &TestRun,
    update: &TestRunUpdate<'_>,
) -> DbResult<()> {
    let data = data_patch(update.data.as_ref());
    on_tx_sql!(tx,
        pg: "UPDATE tft_test_run_targets SET \
             status = COALESCE(CAST($2 AS testingfarmresult), status), \
             pipeline_id = COALESCE($3, pipeline_id), web_url = COALESCE($4, web_url), \
             submitted_time = COALESCE(submitted_time, $5), data = CASE WHEN json_typeof(data) = 'object' \
             THEN CAST(CAST(data AS JSONB) || CAST($6 AS JSONB) AS JSON) ELSE CAST($6 AS JSON) END WHERE id = $1",
        sqlite: "UPDATE tft_test_run_targets SET status = COALESCE($2, status), \
             pipeline_id = COALESCE($3, pipeline_id), web_url = COALESCE($4, web_url), \
             submitted_time = COALESCE(submitted_time, $5), data = CASE WHEN json_type(data) = 'object' \
             THEN json_patch(data, $6) ELSE json($6) END WHERE id = $1",
        |conn, sql| sqlx::query(sql).bind(run.id).bind(update.status).bind(update.request_id)
            .bind(update.web_url).bind(update.submitted_time).bind(&data)
            .execute(conn).await?.rows_affected());
    Ok(())
}

// ----------------------------------------------------------------------------------------
// Log Detective runs

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LogDetectiveRun {
    pub id: i32,
    pub status: String,
    pub analysis_id: String,
    pub target_build: Option<String>,
    pub target: Option<String>,
    pub koji_build_target_id: Option<i32>,
    /// When the analysis was started (UTC).
    pub submitted_time: Option<NaiveDateTime>,
}

/// Records a started analysis of one failed arch of a build, in the build's
/// `log_detective_run_groups` row.
///
/// packit-service makes one group per failed-build report (its trigger helper creates it on
/// the first successful POST and reuses it for the other arches,
/// `packit_service/worker/helpers/logdetective.py:162-183`), with one `log_detective_run` per
/// failed arch. A build is reported FAILED once (a repeated FAILED is stopped by the state
/// rank), so the build's first analysis creates the group and the later arches (in this
/// attempt or a retry) join it.
pub async fn create_log_detective_run(
    tx: &mut Tx,
    build: &KojiBuild,
    analysis_id: &str,
    target_build: &str,
    target: &str,
) -> DbResult<i32> {
    let now = now();
    let group_id = match log_detective_group_of_build(tx, build.id).await? {
        Some(group_id) => group_id,
        None => create_log_detective_group(tx, build, now).await?,
    };
    let id = on_tx_sql!(tx,
        pg: "INSERT INTO log_detective_run (status, target_build, target, submitted_time, analysis_id, \
             build_system, koji_build_target_id, log_detective_run_group_id) VALUES \
             ('running', $1, $2, $3, $4, 'koji', $5, $6) RETURNING id",
        sqlite: "INSERT INTO log_detective_run (status, target_build, target, submitted_time, analysis_id, \
             build_system, koji_build_target_id, log_detective_run_group_id) VALUES \
             ('running', $1, $2, $3, $4, 'koji', $5, $6) RETURNING id",
        |conn, sql| sqlx::query_scalar(sql).bind(target_build).bind(target).bind(now)
            .bind(analysis_id).bind(build.id).bind(group_id).fetch_one(conn).await?);
    Ok(id)
}

/// The group of the build's analyses, if one was started already.
async fn log_detective_group_of_build(tx: &mut Tx, koji_build_id: i32) -> DbResult<Option<i32>> {
    const SQL: &str = "SELECT log_detective_run_group_id FROM log_detective_run \
         WHERE koji_build_target_id = $1 AND log_detective_run_group_id IS NOT NULL \
         ORDER BY id LIMIT 1";
    let group = on_tx!(tx, conn => sqlx::query_scalar(SQL).bind(koji_build_id)
        .fetch_optional(conn).await?);
    Ok(group)
}

/// A new group linked to the build's pipeline; a pipeline that already has a Log Detective
/// group is cloned instead, as packit-service's `LogDetectiveRunGroupModel.create` does
/// (`packit_service/models.py:5126-5150`).
async fn create_log_detective_group(
    tx: &mut Tx,
    build: &KojiBuild,
    now: NaiveDateTime,
) -> DbResult<i32> {
    const GROUP: &str =
        "INSERT INTO log_detective_run_groups (submitted_time) VALUES ($1) RETURNING id";
    const CLAIM: &str = "UPDATE pipelines SET log_detective_run_group_id = $2 \
         WHERE id = $1 AND log_detective_run_group_id IS NULL";
    const PIPELINE: &str = "INSERT INTO pipelines \
         (datetime, project_event_id, package_name, koji_build_group_id, log_detective_run_group_id) \
         VALUES ($1, $2, $3, $4, $5) RETURNING id";
    let group_id: i32 =
        on_tx!(tx, conn => sqlx::query_scalar(GROUP).bind(now).fetch_one(conn).await?);
    let claimed = on_tx!(tx, conn => sqlx::query(CLAIM).bind(build.run_id).bind(group_id)
        .execute(conn).await?.rows_affected())
        == 1;
    if !claimed {
        let _: i32 = on_tx!(tx, conn => sqlx::query_scalar(PIPELINE)
            .bind(now).bind(build.project_event_id).bind(&build.repo_name)
            .bind(build.koji_build_group_id).bind(group_id).fetch_one(conn).await?);
    }
    Ok(group_id)
}

pub async fn log_detective_run(
    store: &Store,
    analysis_id: &str,
) -> DbResult<Option<LogDetectiveRun>> {
    const SQL: &str = "SELECT id, CAST(status AS TEXT) AS status, analysis_id, target_build, target, \
         koji_build_target_id, submitted_time FROM log_detective_run WHERE analysis_id = $1";
    let row = on_backend!(store, pool => sqlx::query_as::<_, LogDetectiveRun>(SQL).bind(analysis_id).fetch_optional(pool).await?);
    Ok(row)
}

/// Whether the build already has an analysis (a second failure message starts none).
pub async fn has_log_detective_run(store: &Store, koji_build_id: i32) -> DbResult<bool> {
    const SQL: &str = "SELECT COUNT(*) FROM log_detective_run WHERE koji_build_target_id = $1";
    let count: i64 = on_backend!(store, pool => sqlx::query_scalar(SQL).bind(koji_build_id).fetch_one(pool).await?);
    Ok(count > 0)
}

pub async fn finish_log_detective_run(
    tx: &mut Tx,
    id: i32,
    status: &str,
    response: Option<&Value>,
    error_msg: Option<&str>,
) -> DbResult<()> {
    on_tx_sql!(tx,
        pg: "UPDATE log_detective_run SET status = CAST($2 AS logdetectiveresult), \
             log_detective_response = $3, error_msg = $4 WHERE id = $1",
        sqlite: "UPDATE log_detective_run SET status = $2, log_detective_response = $3, \
             error_msg = $4 WHERE id = $1",
        |conn, sql| sqlx::query(sql).bind(id).bind(status).bind(response.map(Json)).bind(error_msg)
            .execute(conn).await?.rows_affected());
    Ok(())
}

/// Where a pull request lives, for calls to the forge.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PullRequestLocation {
    pub namespace: Option<String>,
    pub repo_name: String,
    pub pr_id: i32,
    pub project_url: String,
    /// The forge's host name (`git_projects.instance_url`): which forge the PR lives on.
    pub instance_url: String,
}

pub async fn pull_request_location(
    store: &Store,
    pull_request_id: i32,
) -> DbResult<Option<PullRequestLocation>> {
    const SQL: &str = "SELECT gp.namespace, gp.repo_name, pr.pr_id, gp.project_url, gp.instance_url \
         FROM pull_requests pr JOIN git_projects gp ON gp.id = pr.project_id WHERE pr.id = $1";
    let row = on_backend!(store, pool => sqlx::query_as::<_, PullRequestLocation>(SQL)
        .bind(pull_request_id).fetch_optional(pool).await?);
    Ok(row)
}

/// The Koji builds of a pull request at one commit, oldest first (the reconciler's view).
pub async fn koji_builds_of_commit(
    store: &Store,
    pull_request_id: i32,
    commit_sha: &str,
) -> DbResult<Vec<KojiBuild>> {
    let sql = format!("{KOJI_BUILD_SELECT}WHERE pr.id = $1 AND pe.commit_sha = $2 ORDER BY kb.id");
    let rows = on_backend!(store, pool => sqlx::query_as::<_, KojiBuild>(sqlx::AssertSqlSafe(sql.clone()))
        .bind(pull_request_id).bind(commit_sha).fetch_all(pool).await?);
    Ok(rows)
}

/// The test runs of a pull request at one commit, oldest first (the reconciler's view).
pub async fn test_runs_of_commit(
    store: &Store,
    pull_request_id: i32,
    commit_sha: &str,
) -> DbResult<Vec<TestRun>> {
    let sql = format!("{TEST_RUN_SELECT}WHERE pr.id = $1 AND pe.commit_sha = $2 ORDER BY t.id");
    let rows = on_backend!(store, pool => sqlx::query_as::<_, TestRun>(sqlx::AssertSqlSafe(sql.clone()))
        .bind(pull_request_id).bind(commit_sha).fetch_all(pool).await?);
    Ok(rows)
}

//! Every SQL statement about pull-request flags and the log of external calls.
//!
//! A flag row holds the state a check *should* show; `wanted_seq` grows with each change and
//! `posted_seq` says which change Pagure has. The two numbers let any number of `set_flag`
//! tasks run in any order and still leave Pagure with the newest state.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;

use super::{DbResult, Store, Tx, head_event_id, on_backend, on_tx};

/// The state a check should show on a pull request.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, sqlx::FromRow)]
pub struct Flag {
    pub uid: String,
    pub pull_request_id: i32,
    pub commit_sha: String,
    /// The check, e.g. `scratch build` or `rpminspect`.
    pub check_name: String,
    /// The whole name shown, `"{prefix} - {check} - {target} [{sha7}]"`.
    pub username: String,
    /// Pagure's status: pending, success, failure, error or canceled.
    pub status: String,
    pub comment: String,
    pub url: String,
    pub wanted_seq: i64,
    pub posted_seq: i64,
    /// The post of `posted_seq` was only planned (shadow mode): Pagure has not got it.
    pub planned_only: bool,
    pub updated_at: DateTime<Utc>,
}

/// A new wanted state of a flag.
#[derive(Debug, Clone)]
pub struct FlagState<'a> {
    pub uid: &'a str,
    pub pull_request_id: i32,
    pub commit_sha: &'a str,
    pub check_name: &'a str,
    pub username: &'a str,
    pub status: &'a str,
    pub comment: &'a str,
    pub url: &'a str,
}

/// Records the state a flag should show. Returns false when it already shows exactly that,
/// so the caller need not post it again.
pub async fn want(tx: &mut Tx, state: &FlagState<'_>) -> DbResult<bool> {
    const SQL: &str = "INSERT INTO pr_flags (uid, pull_request_id, commit_sha, check_name, username, \
         status, comment, url, wanted_seq, posted_seq, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 1, 0, $9) \
         ON CONFLICT (uid) DO UPDATE SET status = excluded.status, comment = excluded.comment, \
         url = excluded.url, wanted_seq = pr_flags.wanted_seq + 1, updated_at = excluded.updated_at \
         WHERE pr_flags.status <> excluded.status OR pr_flags.comment <> excluded.comment \
         OR pr_flags.url <> excluded.url";
    let changed = on_tx!(tx, conn => sqlx::query(SQL)
        .bind(state.uid).bind(state.pull_request_id).bind(state.commit_sha).bind(state.check_name)
        .bind(state.username).bind(state.status).bind(state.comment).bind(state.url).bind(Utc::now())
        .execute(conn).await?.rows_affected());
    Ok(changed == 1)
}

/// The pull request's head commit as far as we know (`pull_request_heads`), read in
/// `tx` with the pull request's row locked until `tx` ends (PostgreSQL; SQLite's write
/// transactions are serial anyway). Every change of a PR's flags takes this lock first, so a
/// handler that found its commit to be the head has stored its flag before the cancellation
/// of superseded commits reads that commit's flags.
pub async fn lock_head_commit(tx: &mut Tx, pull_request_id: i32) -> DbResult<Option<String>> {
    const LOCK: &str = "SELECT id FROM pull_requests WHERE id = $1 FOR UPDATE";
    if let Tx::Postgres(tx) = tx {
        sqlx::query(LOCK)
            .bind(pull_request_id)
            .execute(&mut **tx)
            .await?;
    }
    const HEAD: &str = concat!(
        "SELECT commit_sha FROM project_events WHERE id = ",
        head_event_id!()
    );
    let sha: Option<Option<String>> = on_tx!(tx, conn => sqlx::query_scalar(HEAD)
        .bind(pull_request_id).fetch_optional(conn).await?);
    Ok(sha.flatten())
}

/// The wanted state of one flag, read in `tx`.
pub async fn get_in(tx: &mut Tx, uid: &str) -> DbResult<Option<Flag>> {
    const SQL: &str = "SELECT uid, pull_request_id, commit_sha, check_name, username, status, \
         comment, url, wanted_seq, posted_seq, planned_only, updated_at FROM pr_flags WHERE uid = $1";
    let row =
        on_tx!(tx, conn => sqlx::query_as::<_, Flag>(SQL).bind(uid).fetch_optional(conn).await?);
    Ok(row)
}

pub async fn get(store: &Store, uid: &str) -> DbResult<Option<Flag>> {
    const SQL: &str = "SELECT uid, pull_request_id, commit_sha, check_name, username, status, \
         comment, url, wanted_seq, posted_seq, planned_only, updated_at FROM pr_flags WHERE uid = $1";
    let row = on_backend!(store, pool => sqlx::query_as::<_, Flag>(SQL).bind(uid).fetch_optional(pool).await?);
    Ok(row)
}

/// The flags of a pull request, newest change first.
pub async fn of_pull_request(store: &Store, pull_request_id: i32) -> DbResult<Vec<Flag>> {
    const SQL: &str = "SELECT uid, pull_request_id, commit_sha, check_name, username, status, \
         comment, url, wanted_seq, posted_seq, planned_only, updated_at FROM pr_flags \
         WHERE pull_request_id = $1 ORDER BY updated_at DESC, uid";
    let rows = on_backend!(store, pool => sqlx::query_as::<_, Flag>(SQL).bind(pull_request_id).fetch_all(pool).await?);
    Ok(rows)
}

/// The flags of a pull request's other commits that are still pending.
pub async fn pending_of_other_commits(
    tx: &mut Tx,
    pull_request_id: i32,
    commit_sha: &str,
) -> DbResult<Vec<Flag>> {
    const SQL: &str = "SELECT uid, pull_request_id, commit_sha, check_name, username, status, \
         comment, url, wanted_seq, posted_seq, planned_only, updated_at FROM pr_flags \
         WHERE pull_request_id = $1 AND commit_sha <> $2 AND status = 'pending' ORDER BY uid";
    let rows = on_tx!(tx, conn => sqlx::query_as::<_, Flag>(SQL)
        .bind(pull_request_id).bind(commit_sha).fetch_all(conn).await?);
    Ok(rows)
}

/// Records that Pagure shows the state of change `seq` (never going backwards), or in shadow
/// mode (`planned_only`) that its post was recorded and not sent.
pub async fn mark_posted(store: &Store, uid: &str, seq: i64, planned_only: bool) -> DbResult<()> {
    const SQL: &str = "UPDATE pr_flags SET posted_seq = $2, planned_only = $3 \
         WHERE uid = $1 AND posted_seq < $2";
    on_backend!(store, pool => sqlx::query(SQL).bind(uid).bind(seq).bind(planned_only).execute(pool).await?.rows_affected());
    Ok(())
}

/// A call to the outside world, made or only planned.
#[derive(Debug, Clone, serde::Serialize, sqlx::FromRow)]
pub struct ExternalCall {
    pub id: i64,
    pub created_at: DateTime<Utc>,
    pub project_event_id: Option<i32>,
    pub service: String,
    pub call: String,
    pub request: Json<Value>,
    pub dry_run: bool,
    /// planned, succeeded or failed.
    pub outcome: String,
    pub response: Option<Json<Value>>,
    pub error: Option<String>,
}

/// A call to record.
#[derive(Debug, Clone)]
pub struct NewExternalCall<'a> {
    pub project_event_id: Option<i32>,
    pub service: &'a str,
    pub call: &'a str,
    pub request: &'a Value,
    pub dry_run: bool,
    pub outcome: &'a str,
    pub response: Option<&'a Value>,
    pub error: Option<&'a str>,
}

pub async fn record_call(store: &Store, call: &NewExternalCall<'_>) -> DbResult<i64> {
    const SQL: &str = "INSERT INTO external_calls (created_at, project_event_id, service, call, \
         request, dry_run, outcome, response, error) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
         RETURNING id";
    let id = on_backend!(store, pool => sqlx::query_scalar(SQL)
        .bind(Utc::now()).bind(call.project_event_id).bind(call.service).bind(call.call)
        .bind(Json(super::storable_json(call.request))).bind(call.dry_run).bind(call.outcome)
        .bind(call.response.map(|response| Json(super::storable_json(response))))
        .bind(call.error.map(super::storable_text))
        .fetch_one(pool).await?);
    Ok(id)
}

/// The recorded calls, oldest first, optionally of one project event only.
pub async fn calls(store: &Store, project_event_id: Option<i32>) -> DbResult<Vec<ExternalCall>> {
    const SQL: &str = "SELECT id, created_at, project_event_id, service, call, request, dry_run, \
         outcome, response, error FROM external_calls \
         WHERE ($1 IS NULL OR project_event_id = $1) ORDER BY id";
    let rows = on_backend!(store, pool => sqlx::query_as::<_, ExternalCall>(SQL)
        .bind(project_event_id).fetch_all(pool).await?);
    Ok(rows)
}

/// Takes the right to post flag `uid` until `until` for `holder`, unless someone else holds
/// it and their lease has not run out: at most one post of a flag is in flight.
pub async fn take_post_lease(
    store: &Store,
    uid: &str,
    holder: &str,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
) -> DbResult<bool> {
    const SQL: &str = "UPDATE pr_flags SET post_lease_holder = $2, post_lease_until = $4 \
         WHERE uid = $1 AND (post_lease_holder IS NULL OR post_lease_holder = $2 \
         OR post_lease_until IS NULL OR post_lease_until < $3)";
    let taken = on_backend!(store, pool => sqlx::query(SQL).bind(uid).bind(holder).bind(now).bind(until)
        .execute(pool).await?.rows_affected());
    Ok(taken == 1)
}

/// Until when someone holds the post lease of `uid`, if anyone does.
pub async fn post_lease_until(store: &Store, uid: &str) -> DbResult<Option<DateTime<Utc>>> {
    const SQL: &str = "SELECT post_lease_until FROM pr_flags WHERE uid = $1";
    let until = on_backend!(store, pool => sqlx::query_scalar::<_, Option<DateTime<Utc>>>(SQL)
        .bind(uid).fetch_optional(pool).await?);
    Ok(until.flatten())
}

/// Gives the post lease of `uid` back, if `holder` still has it.
pub async fn release_post_lease(store: &Store, uid: &str, holder: &str) -> DbResult<()> {
    const SQL: &str = "UPDATE pr_flags SET post_lease_holder = NULL, post_lease_until = NULL \
         WHERE uid = $1 AND post_lease_holder = $2";
    on_backend!(store, pool => sqlx::query(SQL).bind(uid).bind(holder).execute(pool).await?.rows_affected());
    Ok(())
}

/// The key a flag row has now for `uid`: `uid` itself, or for a bare Pagure uid (a `SetFlag`
/// of a previous release) the key of the row it became.
pub async fn current_key(store: &Store, uid: &str) -> DbResult<Option<String>> {
    const SQL: &str = "SELECT uid FROM pr_flags WHERE uid = $1 OR uid LIKE '%:' || $1 \
         ORDER BY CASE WHEN uid = $1 THEN 0 ELSE 1 END, updated_at DESC LIMIT 1";
    if uid.contains(':') {
        return Ok(Some(uid.to_owned()));
    }
    let key =
        on_backend!(store, pool => sqlx::query_scalar(SQL).bind(uid).fetch_optional(pool).await?);
    Ok(key)
}

/// Rows a previous release wrote under a bare Pagure uid during a rolling upgrade get their
/// keys (`<pull_request_id>:<uid>`); a bare row whose keyed twin exists is dropped, the twin
/// holding the state this release wants. Returns how many rows were adopted or dropped.
pub async fn adopt_bare_uids(store: &Store) -> DbResult<u64> {
    const DROP: &str = "DELETE FROM pr_flags WHERE uid NOT LIKE '%:%' AND EXISTS \
         (SELECT 1 FROM pr_flags keyed \
          WHERE keyed.uid = CAST(pr_flags.pull_request_id AS TEXT) || ':' || pr_flags.uid)";
    const KEY: &str = "UPDATE pr_flags SET uid = CAST(pull_request_id AS TEXT) || ':' || uid \
         WHERE uid NOT LIKE '%:%'";
    let dropped =
        on_backend!(store, pool => sqlx::query(DROP).execute(pool).await?.rows_affected());
    let keyed = on_backend!(store, pool => sqlx::query(KEY).execute(pool).await?.rows_affected());
    Ok(dropped + keyed)
}

/// Pending flags not changed since `before`, oldest first: candidates for the reconciler.
pub async fn pending_since(
    store: &Store,
    before: DateTime<Utc>,
    limit: i64,
) -> DbResult<Vec<Flag>> {
    const SQL: &str = "SELECT uid, pull_request_id, commit_sha, check_name, username, status, \
         comment, url, wanted_seq, posted_seq, planned_only, updated_at FROM pr_flags \
         WHERE status = 'pending' AND updated_at < $1 ORDER BY updated_at LIMIT $2";
    let rows = on_backend!(store, pool => sqlx::query_as::<_, Flag>(SQL).bind(before).bind(limit).fetch_all(pool).await?);
    Ok(rows)
}

/// Flags whose newest wanted state has not been posted since `before` (a post lost with its
/// task): candidates for another `SetFlag`.
pub async fn unposted_since(
    store: &Store,
    before: DateTime<Utc>,
    limit: i64,
) -> DbResult<Vec<String>> {
    const SQL: &str = "SELECT uid FROM pr_flags WHERE posted_seq < wanted_seq AND updated_at < $1 \
         ORDER BY updated_at LIMIT $2";
    let rows = on_backend!(store, pool => sqlx::query_scalar(SQL).bind(before).bind(limit).fetch_all(pool).await?);
    Ok(rows)
}

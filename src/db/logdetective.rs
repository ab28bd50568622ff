//! Every SQL statement about the Log Detective submissions of failed scratch builds
//! (`log_detective_submissions`): one row per failed arch, created together before the first
//! analysis is requested, each moving from `new` to `submitted`, `planned` (shadow mode) or
//! `error`. packit-service's `log_detective_run` rows are in `runs.rs`.

use chrono::{DateTime, Utc};

use super::{DbResult, Store, Tx, on_backend, on_tx};

/// One arch of a failed build that Log Detective should analyse.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Submission {
    pub id: i32,
    pub koji_build_id: i32,
    pub arch: String,
    /// The buildArch subtask id.
    pub target_build: String,
    /// `new`, `submitted`, `planned` or `error`.
    pub state: String,
    pub submission_started_at: Option<DateTime<Utc>>,
    pub analysis_id: Option<String>,
    pub error: Option<String>,
}

/// Records the arches of a failed build, `(arch, target_build)`, as `new`; arches already
/// recorded (an earlier attempt, a second report) are left as they are.
pub async fn create_submissions(
    tx: &mut Tx,
    koji_build_id: i32,
    arches: &[(String, String)],
    now: DateTime<Utc>,
) -> DbResult<()> {
    const SQL: &str = "INSERT INTO log_detective_submissions \
         (koji_build_id, arch, target_build, state, created_at) VALUES ($1, $2, $3, 'new', $4) \
         ON CONFLICT (koji_build_id, arch) DO NOTHING";
    for (arch, target_build) in arches {
        on_tx!(tx, conn => sqlx::query(SQL).bind(koji_build_id).bind(arch).bind(target_build)
            .bind(now).execute(conn).await?.rows_affected());
    }
    Ok(())
}

/// The build's submissions, by arch.
pub async fn submissions(store: &Store, koji_build_id: i32) -> DbResult<Vec<Submission>> {
    const SQL: &str = "SELECT id, koji_build_id, arch, target_build, state, submission_started_at, \
         analysis_id, error FROM log_detective_submissions WHERE koji_build_id = $1 ORDER BY arch";
    let rows = on_backend!(store, pool => sqlx::query_as::<_, Submission>(SQL)
        .bind(koji_build_id).fetch_all(pool).await?);
    Ok(rows)
}

/// Marks that the request of a `new` submission is about to be sent.
pub async fn mark_started(store: &Store, id: i32, now: DateTime<Utc>) -> DbResult<()> {
    const SQL: &str = "UPDATE log_detective_submissions SET submission_started_at = $2 \
         WHERE id = $1 AND state = 'new'";
    on_backend!(store, pool => sqlx::query(SQL).bind(id).bind(now).execute(pool).await?.rows_affected());
    Ok(())
}

/// Ends a `new` submission: `submitted` with its analysis id, `planned` or `error`. Whether
/// this call ended it (false: it had already ended).
pub async fn finish(
    tx: &mut Tx,
    id: i32,
    state: &str,
    analysis_id: Option<&str>,
    error: Option<&str>,
) -> DbResult<bool> {
    const SQL: &str = "UPDATE log_detective_submissions SET state = $2, analysis_id = $3, \
         error = $4 WHERE id = $1 AND state = 'new'";
    let changed = on_tx!(tx, conn => sqlx::query(SQL).bind(id).bind(state).bind(analysis_id)
        .bind(error).execute(conn).await?.rows_affected());
    Ok(changed == 1)
}

/// The analysis id of a started analysis of this build and subtask, if packit-service's
/// `log_detective_run` has one (an analysis the previous release started).
pub async fn started_analysis(
    store: &Store,
    koji_build_id: i32,
    target_build: &str,
) -> DbResult<Option<String>> {
    const SQL: &str = "SELECT analysis_id FROM log_detective_run \
         WHERE koji_build_target_id = $1 AND target_build = $2 ORDER BY id LIMIT 1";
    let row = on_backend!(store, pool => sqlx::query_scalar(SQL).bind(koji_build_id)
        .bind(target_build).fetch_optional(pool).await?);
    Ok(row)
}

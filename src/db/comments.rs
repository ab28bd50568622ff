//! Every SQL statement about pull-request comments: which comments were handled
//! (`handled_comments`), and the PR head a comment's command acts on.

use chrono::{DateTime, Utc};

use super::{DbResult, Store, Tx, head_event_id, on_backend, on_tx};

/// Records that the comment `comment_id` of the pull request `pull_request_id` (our row id)
/// is being handled; `false` when it already was (the same comment delivered again).
pub async fn claim_comment(
    tx: &mut Tx,
    pull_request_id: i32,
    comment_id: u64,
    now: DateTime<Utc>,
) -> DbResult<bool> {
    const SQL: &str = "INSERT INTO handled_comments (pull_request_id, comment_id, handled_at) \
         VALUES ($1, $2, $3) ON CONFLICT (pull_request_id, comment_id) DO NOTHING";
    // Reinterpreted, not range-checked: the mapping u64 → i64 is one to one, which is all a
    // key needs, and Pagure's ids are far below 2^63 anyway.
    let comment_id = comment_id as i64;
    let now = now.naive_utc();
    let inserted = on_tx!(tx, conn => sqlx::query(SQL).bind(pull_request_id).bind(comment_id)
        .bind(now).execute(conn).await?.rows_affected());
    Ok(inserted == 1)
}

/// The pull request's head PR × commit event, `(project_events.id, commit_sha)`, as far as we
/// know (`pull_request_heads`).
pub async fn pull_request_head(
    store: &Store,
    pull_request_id: i32,
) -> DbResult<Option<(i32, String)>> {
    const SQL: &str = concat!(
        "SELECT id, commit_sha FROM project_events WHERE commit_sha IS NOT NULL AND id = ",
        head_event_id!()
    );
    let row = on_backend!(store, pool => sqlx::query_as::<_, (i32, String)>(SQL)
        .bind(pull_request_id).fetch_optional(pool).await?);
    Ok(row)
}

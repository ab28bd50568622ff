//! A pull request's head follows the order in which its messages arrived, not the order in
//! which workers happened to process them (they run concurrently and are retried). Run on
//! PostgreSQL and on SQLite.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::TestDb;
use fedora_ci::db::Store;
use fedora_ci::db::comments;
use fedora_ci::db::runs::{self, PullRequestEventIds, PullRequestKey};

const A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
const C: &str = "cccccccccccccccccccccccccccccccccccccccc";
const D: &str = "dddddddddddddddddddddddddddddddddddddddd";

fn key(pr_id: i64) -> PullRequestKey<'static> {
    PullRequestKey {
        namespace: Some("rpms"),
        repo_name: "heads",
        project_url: "https://src.fedoraproject.org/rpms/heads",
        instance_url: "src.fedoraproject.org",
        pr_id,
    }
}

/// Records `sha` as told by the message with `seq`, as a worker processing it would.
async fn told(
    store: &Store,
    pr_id: i64,
    sha: &str,
    seq: i64,
) -> anyhow::Result<PullRequestEventIds> {
    let mut tx = store.begin().await?;
    let ids = runs::upsert_pull_request_event(&mut tx, &key(pr_id), sha, seq).await?;
    tx.commit().await?;
    Ok(ids)
}

async fn head(
    store: &Store,
    ids: &PullRequestEventIds,
) -> anyhow::Result<(Option<String>, Option<i32>)> {
    let commit = runs::head_commit(store, ids.pull_request_id).await?;
    let event = comments::pull_request_head(store, ids.pull_request_id).await?;
    Ok((commit, event.map(|(id, _)| id)))
}

async fn a_push_processed_late_does_not_become_the_head(db: TestDb) -> anyhow::Result<()> {
    let store = db.store().await?;
    let a = told(&store, 1, A, 10).await?;
    assert!(a.is_head, "the first commit is the head");

    // Pushed B (message 11), then C (message 12); C's message is processed first.
    let c = told(&store, 1, C, 12).await?;
    assert!(c.is_head);
    let b = told(&store, 1, B, 11).await?;
    assert!(!b.is_head, "an older push processed late is not the head");
    assert!(
        b.project_event_id > c.project_event_id,
        "its row is newer all the same"
    );
    assert_eq!(
        head(&store, &c).await?,
        (Some(C.to_owned()), Some(c.project_event_id))
    );

    // A superseded commit told again by a newer message (a re-sent event, a comment
    // delivered again) never becomes the head again.
    let again = told(&store, 1, A, 13).await?;
    assert!(!again.is_head);
    assert_eq!(again.project_event_id, a.project_event_id);
    // The head told again by an older message (a comment made before the push, processed
    // late) is still the head.
    assert!(told(&store, 1, C, 9).await?.is_head);
    assert_eq!(head(&store, &c).await?.0.as_deref(), Some(C));

    // A newer push moves it on; a second PR is unaffected.
    let d = told(&store, 1, D, 14).await?;
    assert!(d.is_head);
    assert_eq!(
        head(&store, &d).await?,
        (Some(D.to_owned()), Some(d.project_event_id))
    );
    let other = told(&store, 2, B, 1).await?;
    assert!(other.is_head, "message order is per pull request");
    assert_eq!(head(&store, &other).await?.0.as_deref(), Some(B));
    assert_eq!(head(&store, &d).await?.0.as_deref(), Some(D));
    Ok(())
}

/// A pull request only a previous release recorded (no `pull_request_heads` row): its head
/// is its newest row, until a newer message moves it.
async fn a_pull_request_recorded_by_a_previous_release_keeps_its_newest_row(
    db: TestDb,
) -> anyhow::Result<()> {
    let store = db.store().await?;
    let first = told(&store, 3, A, 1).await?;
    let forget = "DELETE FROM pull_request_heads";
    let insert =
        "INSERT INTO project_events (type, event_id, commit_sha) VALUES ('pull_request', $1, $2)";
    match &store {
        Store::Postgres(pool) => {
            sqlx::query(forget).execute(pool).await?;
            sqlx::query(insert)
                .bind(first.pull_request_id)
                .bind(B)
                .execute(pool)
                .await?;
        }
        Store::Sqlite(pool) => {
            sqlx::query(forget).execute(pool).await?;
            sqlx::query(insert)
                .bind(first.pull_request_id)
                .bind(B)
                .execute(pool)
                .await?;
        }
    }
    assert_eq!(head(&store, &first).await?.0.as_deref(), Some(B));
    assert!(
        !told(&store, 3, A, 2).await?.is_head,
        "A is not the newest row"
    );
    assert!(told(&store, 3, B, 3).await?.is_head);
    let c = told(&store, 3, C, 4).await?;
    assert!(c.is_head);
    assert_eq!(head(&store, &c).await?.0.as_deref(), Some(C));
    Ok(())
}

on_both_backends!(
    a_push_processed_late_does_not_become_the_head,
    a_pull_request_recorded_by_a_previous_release_keeps_its_newest_row
);

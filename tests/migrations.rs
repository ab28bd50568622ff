//! Migrations on an empty database, and the packit-service schema they must produce.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::TestDb;
use fedora_ci::db::Store;

/// The packit-service tables of the Fedora CI path and the columns each must have
/// (packit_service/models.py), plus the service's own tables.
const EXPECTED: &[(&str, &[&str])] = &[
    (
        "git_projects",
        &[
            "id",
            "namespace",
            "repo_name",
            "project_url",
            "instance_url",
            "onboarded_downstream",
        ],
    ),
    ("pull_requests", &["id", "pr_id", "project_id"]),
    (
        "project_events",
        &["id", "type", "event_id", "commit_sha", "packages_config"],
    ),
    (
        "pipelines",
        &[
            "id",
            "datetime",
            "project_event_id",
            "package_name",
            "srpm_build_id",
            "copr_build_group_id",
            "koji_build_group_id",
            "koji_tag_request_group_id",
            "vm_image_build_id",
            "test_run_group_id",
            "sync_release_run_id",
            "bodhi_update_group_id",
            "log_detective_run_group_id",
        ],
    ),
    ("koji_build_groups", &["id", "submitted_time"]),
    (
        "koji_build_targets",
        &[
            "id",
            "task_id",
            "status",
            "target",
            "web_url",
            "build_logs_urls",
            "submitted_time",
            "build_start_time",
            "build_finished_time",
            "build_submission_stdout",
            "data",
            "sidetag",
            "nvr",
            "scratch",
            "koji_build_group_id",
        ],
    ),
    ("tft_test_run_groups", &["id", "submitted_time", "ranch"]),
    (
        "tft_test_run_targets",
        &[
            "id",
            "pipeline_id",
            "identifier",
            "status",
            "target",
            "web_url",
            "submitted_time",
            "data",
            "tft_test_run_group_id",
        ],
    ),
    ("tf_koji_build_association_table", &["koji_id", "tft_id"]),
    ("log_detective_run_groups", &["id", "submitted_time"]),
    (
        "log_detective_run",
        &[
            "id",
            "status",
            "identifier",
            "target_build",
            "target",
            "log_detective_response",
            "error_msg",
            "submitted_time",
            "analysis_id",
            "build_system",
            "copr_build_target_id",
            "koji_build_target_id",
            "log_detective_run_group_id",
        ],
    ),
    (
        "inbound_messages",
        &[
            "id",
            "message_id",
            "topic",
            "headers",
            "body",
            "received_at",
            "processed_at",
            "outcome",
            "reason",
        ],
    ),
    (
        "tasks",
        &[
            "id",
            "name",
            "queue",
            "payload",
            "priority",
            "state",
            "attempts",
            "max_attempts",
            "run_at",
            "locked_by",
            "locked_until",
            "last_error",
            "created_at",
            "updated_at",
            "reclaims",
            "outage_started_at",
            "dedup_key",
        ],
    ),
    (
        "periodic_tasks",
        &["name", "period_seconds", "next_run_at", "last_run_at"],
    ),
];

async fn columns(store: &Store, table: &str) -> anyhow::Result<Vec<String>> {
    const PG: &str = "SELECT column_name::text FROM information_schema.columns \
         WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position";
    const SQLITE: &str = "SELECT name FROM pragma_table_info($1) ORDER BY cid";
    Ok(match store {
        Store::Postgres(pool) => sqlx::query_scalar(PG).bind(table).fetch_all(pool).await?,
        Store::Sqlite(pool) => {
            sqlx::query_scalar(SQLITE)
                .bind(table)
                .fetch_all(pool)
                .await?
        }
    })
}

async fn migrations_create_the_packit_schema(db: TestDb) -> anyhow::Result<()> {
    let store = db.store().await?;
    for (table, expected) in EXPECTED {
        let actual = columns(&store, table).await?;
        assert_eq!(&actual, expected, "columns of {table}");
    }
    assert_eq!(store.applied_migrations().await?, store.known_migrations());
    // Applying again changes nothing.
    store.migrate().await?;
    assert_eq!(store.applied_migrations().await?, store.known_migrations());
    Ok(())
}

async fn enum_columns_accept_packit_labels_only(db: TestDb) -> anyhow::Result<()> {
    let store = db.store().await?;
    const GOOD: &str = "INSERT INTO tft_test_run_targets (status, target) VALUES ('cancel_requested', 'fedora-rawhide')";
    const BAD: &str = "INSERT INTO tft_test_run_targets (status, target) VALUES ('cancel-requested', 'fedora-rawhide')";
    match &store {
        Store::Postgres(pool) => {
            sqlx::query(GOOD).execute(pool).await?;
            assert!(sqlx::query(BAD).execute(pool).await.is_err());
        }
        Store::Sqlite(pool) => {
            sqlx::query(GOOD).execute(pool).await?;
            assert!(sqlx::query(BAD).execute(pool).await.is_err());
        }
    }
    Ok(())
}

#[test]
fn both_backends_have_the_same_migrations() -> anyhow::Result<()> {
    let names = |dir: &str| -> anyhow::Result<Vec<String>> {
        let mut names: Vec<String> =
            std::fs::read_dir(format!("{}/migrations/{dir}", env!("CARGO_MANIFEST_DIR")))?
                .filter_map(|entry| {
                    entry
                        .ok()
                        .map(|e| e.file_name().to_string_lossy().into_owned())
                })
                .collect();
        names.sort();
        Ok(names)
    };
    assert_eq!(names("postgres")?, names("sqlite")?);
    Ok(())
}

/// `20261206000501_flag_keys`: a flag row under a bare Pagure uid, and the pending post of it,
/// as a previous release left them, get the key `<pull_request_id>:<uid>`.
async fn flag_rows_and_their_pending_posts_get_keys(db: TestDb) -> anyhow::Result<()> {
    let store = db.store().await?;
    let (now, payload) = match &store {
        Store::Postgres(_) => ("now()", "'{\"uid\": \"abc123\"}'::jsonb"),
        Store::Sqlite(_) => ("'2026-12-06T00:00:00Z'", "'{\"uid\": \"abc123\"}'"),
    };
    let setup = [
        "INSERT INTO git_projects (id, namespace, repo_name, project_url, instance_url) \
         VALUES (7, 'rpms', 'optee_os', 'https://src.fedoraproject.org/rpms/optee_os', 'src.fedoraproject.org')"
            .to_owned(),
        "INSERT INTO pull_requests (id, pr_id, project_id) VALUES (41, 2, 7)".to_owned(),
        format!(
            "INSERT INTO pr_flags (uid, pull_request_id, commit_sha, check_name, username, status, \
             comment, url, updated_at) VALUES ('abc123', 41, 'sha', 'scratch build', 'name', \
             'pending', 'queued', 'https://example.org', {now})"
        ),
        format!(
            "INSERT INTO tasks (name, queue, payload, max_attempts, run_at, created_at, updated_at, \
             dedup_key) VALUES ('set_flag', 'short', {payload}, 8, {now}, {now}, {now}, 'set_flag:abc123')"
        ),
    ];
    let migration = match &store {
        Store::Postgres(_) => include_str!("../migrations/postgres/20261206000501_flag_keys.sql"),
        Store::Sqlite(_) => include_str!("../migrations/sqlite/20261206000501_flag_keys.sql"),
    };
    const FLAG: &str = "SELECT uid FROM pr_flags";
    const TASK: &str = "SELECT dedup_key FROM tasks WHERE name = 'set_flag'";
    let (flag, task_key): (String, Option<String>) = match &store {
        Store::Postgres(pool) => {
            for statement in &setup {
                sqlx::query(sqlx::AssertSqlSafe(statement.clone()))
                    .execute(pool)
                    .await?;
            }
            sqlx::raw_sql(migration).execute(pool).await?;
            let payload: serde_json::Value =
                sqlx::query_scalar("SELECT payload FROM tasks WHERE name = 'set_flag'")
                    .fetch_one(pool)
                    .await?;
            assert_eq!(payload["uid"], "41:abc123");
            (
                sqlx::query_scalar(FLAG).fetch_one(pool).await?,
                sqlx::query_scalar(TASK).fetch_one(pool).await?,
            )
        }
        Store::Sqlite(pool) => {
            for statement in &setup {
                sqlx::query(sqlx::AssertSqlSafe(statement.clone()))
                    .execute(pool)
                    .await?;
            }
            sqlx::raw_sql(migration).execute(pool).await?;
            let payload: String =
                sqlx::query_scalar("SELECT payload FROM tasks WHERE name = 'set_flag'")
                    .fetch_one(pool)
                    .await?;
            let payload: serde_json::Value = serde_json::from_str(&payload)?;
            assert_eq!(payload["uid"], "41:abc123");
            (
                sqlx::query_scalar(FLAG).fetch_one(pool).await?,
                sqlx::query_scalar(TASK).fetch_one(pool).await?,
            )
        }
    };
    assert_eq!(flag, "41:abc123");
    assert_eq!(task_key.as_deref(), Some("set_flag:41:abc123"));
    Ok(())
}

/// `20261207000101_pull_request_heads`: each pull request a previous release recorded gets its
/// newest PR × commit row as its head; a head already recorded stays.
async fn pull_requests_get_their_newest_event_as_head(db: TestDb) -> anyhow::Result<()> {
    let store = db.store().await?;
    let setup = [
        "INSERT INTO git_projects (id, namespace, repo_name, project_url, instance_url) \
         VALUES (7, 'rpms', 'optee_os', 'https://src.fedoraproject.org/rpms/optee_os', 'src.fedoraproject.org')",
        "INSERT INTO pull_requests (id, pr_id, project_id) VALUES (41, 2, 7), (42, 3, 7)",
        "INSERT INTO project_events (id, type, event_id, commit_sha) VALUES \
         (100, 'pull_request', 41, 'old'), (101, 'pull_request', 41, 'new'), \
         (102, 'pull_request', 42, 'x'), (103, 'pull_request', 42, 'y')",
        "INSERT INTO pull_request_heads (pull_request_id, project_event_id, message_seq) \
         VALUES (42, 102, 5)",
    ];
    let migration = match &store {
        Store::Postgres(_) => {
            include_str!("../migrations/postgres/20261207000101_pull_request_heads.sql")
        }
        Store::Sqlite(_) => {
            include_str!("../migrations/sqlite/20261207000101_pull_request_heads.sql")
        }
    };
    const HEADS: &str = "SELECT pull_request_id, project_event_id FROM pull_request_heads \
         ORDER BY pull_request_id";
    let heads: Vec<(i32, i32)> = match &store {
        Store::Postgres(pool) => {
            for statement in setup {
                sqlx::query(statement).execute(pool).await?;
            }
            sqlx::raw_sql(migration).execute(pool).await?;
            sqlx::query_as(HEADS).fetch_all(pool).await?
        }
        Store::Sqlite(pool) => {
            for statement in setup {
                sqlx::query(statement).execute(pool).await?;
            }
            sqlx::raw_sql(migration).execute(pool).await?;
            sqlx::query_as(HEADS).fetch_all(pool).await?
        }
    };
    assert_eq!(heads, vec![(41, 101), (42, 102)]);
    Ok(())
}

on_both_backends!(
    migrations_create_the_packit_schema,
    enum_columns_accept_packit_labels_only,
    flag_rows_and_their_pending_posts_get_keys,
    pull_requests_get_their_newest_event_as_head
);

//! Storage: PostgreSQL in production, SQLite as the embedded default.
//!
//! `db/` knows SQL and nothing of behaviour. Every query is written once and runs on both
//! backends through [`on_backend!`]; the few statements that must differ (the queue claim)
//! say so where they are. Callers see [`Store`] and [`Tx`], never a driver type.

pub mod api;
pub mod comments;
pub mod flags;
pub mod inbound;
pub mod logdetective;
pub mod runs;
pub mod tasks;

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, Postgres, Sqlite, SqlitePool};

static POSTGRES_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");
static SQLITE_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// Errors of the storage layer.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database URL {url:?} is not supported: use postgres://… or sqlite://…")]
    UnsupportedUrl { url: String },
    #[error("cannot connect to the database: {0}")]
    Connect(#[source] sqlx::Error),
    #[error("migrating the database failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("database query failed: {0}")]
    Query(#[from] sqlx::Error),
    #[error("stored value is not valid: {0}")]
    Decode(String),
}

pub type DbResult<T> = Result<T, DbError>;

/// Which database engine a [`Store`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

/// Connection settings for [`Store::connect`].
#[derive(Debug, Clone)]
pub struct ConnectSettings {
    pub max_connections: u32,
    pub acquire_timeout: Duration,
}

impl Default for ConnectSettings {
    fn default() -> Self {
        Self {
            max_connections: 10,
            acquire_timeout: Duration::from_secs(10),
        }
    }
}

/// A pool of connections to one database, of either backend.
#[derive(Clone, Debug)]
pub enum Store {
    Postgres(PgPool),
    Sqlite(SqlitePool),
}

/// A transaction on a [`Store`]. Dropping it without [`Tx::commit`] rolls it back.
pub enum Tx {
    Postgres(sqlx::Transaction<'static, Postgres>),
    Sqlite(sqlx::Transaction<'static, Sqlite>),
}

/// Runs the same code on whichever backend `$target` holds; `$conn` is bound to the pool or
/// the transaction's connection. The body is compiled once per backend, so every query and
/// every bound type must work on both.
macro_rules! on_backend {
    ($target:expr, $conn:ident => $body:expr) => {
        match $target {
            $crate::db::Store::Postgres($conn) => $body,
            $crate::db::Store::Sqlite($conn) => $body,
        }
    };
}

/// [`on_backend!`] for a transaction: `$conn` is the transaction's connection.
macro_rules! on_tx {
    ($tx:expr, $conn:ident => $body:expr) => {
        match $tx {
            $crate::db::Tx::Postgres(tx) => {
                let $conn = &mut **tx;
                $body
            }
            $crate::db::Tx::Sqlite(tx) => {
                let $conn = &mut **tx;
                $body
            }
        }
    };
}

/// The id of a pull request's head event (`$1` = `pull_requests.id`), as an SQL expression:
/// the one `pull_request_heads` names or, for a PR only a previous release recorded, its
/// newest row. A macro so the queries that use it stay `&'static str`.
macro_rules! head_event_id {
    () => {
        "COALESCE(\
         (SELECT project_event_id FROM pull_request_heads WHERE pull_request_id = $1), \
         (SELECT MAX(id) FROM project_events \
          WHERE CAST(type AS TEXT) = 'pull_request' AND event_id = $1))"
    };
}

pub(crate) use {head_event_id, on_backend, on_tx};

impl Store {
    /// Opens a pool on `url` (`postgres://…` or `sqlite://…`) that connects on first use, so
    /// that a process can start while its database is down. A SQLite file is created when it
    /// does not exist yet.
    pub fn open_lazy(url: &str, settings: &ConnectSettings) -> DbResult<Self> {
        match backend_of(url)? {
            Backend::Postgres => {
                let options = PgConnectOptions::from_str(url).map_err(DbError::Connect)?;
                let pool = PgPoolOptions::new()
                    .max_connections(settings.max_connections)
                    .acquire_timeout(settings.acquire_timeout)
                    .connect_lazy_with(options);
                Ok(Store::Postgres(pool))
            }
            Backend::Sqlite => {
                let options = SqliteConnectOptions::from_str(url)
                    .map_err(DbError::Connect)?
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .foreign_keys(true)
                    // Several processes may share one file: wait for the writer, don't fail.
                    .busy_timeout(Duration::from_secs(30));
                let pool = SqlitePoolOptions::new()
                    .max_connections(settings.max_connections)
                    .acquire_timeout(settings.acquire_timeout)
                    .connect_lazy_with(options);
                Ok(Store::Sqlite(pool))
            }
        }
    }

    /// [`Store::open_lazy`], then one round trip: fails at once if the database is down.
    pub async fn connect(url: &str, settings: &ConnectSettings) -> DbResult<Self> {
        let store = Self::open_lazy(url, settings)?;
        store.ping().await.map_err(|error| match error {
            DbError::Query(source) => DbError::Connect(source),
            other => other,
        })?;
        Ok(store)
    }

    pub fn backend(&self) -> Backend {
        match self {
            Store::Postgres(_) => Backend::Postgres,
            Store::Sqlite(_) => Backend::Sqlite,
        }
    }

    /// Applies every migration not applied yet; safe to run from several processes at once.
    pub async fn migrate(&self) -> DbResult<()> {
        match self {
            Store::Postgres(pool) => POSTGRES_MIGRATOR.run(pool).await?,
            Store::Sqlite(pool) => SQLITE_MIGRATOR.run(pool).await?,
        }
        Ok(())
    }

    /// Versions of the migrations applied so far, oldest first.
    pub async fn applied_migrations(&self) -> DbResult<Vec<i64>> {
        let sql = "SELECT version FROM _sqlx_migrations WHERE success ORDER BY version";
        let versions = on_backend!(self, pool => sqlx::query_scalar(sql).fetch_all(pool).await?);
        Ok(versions)
    }

    /// Versions of the migrations this binary carries for its backend, oldest first.
    pub fn known_migrations(&self) -> Vec<i64> {
        let migrator = match self {
            Store::Postgres(_) => &POSTGRES_MIGRATOR,
            Store::Sqlite(_) => &SQLITE_MIGRATOR,
        };
        migrator.iter().map(|m| m.version).collect()
    }

    /// One round trip to the database; what the health check asks.
    pub async fn ping(&self) -> DbResult<()> {
        on_backend!(self, pool => sqlx::query("SELECT 1").execute(pool).await?.rows_affected());
        Ok(())
    }

    pub async fn begin(&self) -> DbResult<Tx> {
        Ok(match self {
            Store::Postgres(pool) => Tx::Postgres(pool.begin().await?),
            // IMMEDIATE takes the write lock at BEGIN: a deferred transaction that reads, then
            // writes while another writer holds the lock fails with SQLITE_BUSY at once,
            // which the busy timeout cannot wait out.
            Store::Sqlite(pool) => Tx::Sqlite(pool.begin_with("BEGIN IMMEDIATE").await?),
        })
    }

    pub async fn close(&self) {
        on_backend!(self, pool => pool.close().await);
    }
}

impl Tx {
    pub async fn commit(self) -> DbResult<()> {
        match self {
            Tx::Postgres(tx) => tx.commit().await?,
            Tx::Sqlite(tx) => tx.commit().await?,
        }
        Ok(())
    }
}

/// Which backend a database URL names.
pub fn backend_of(url: &str) -> DbResult<Backend> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Backend::Postgres)
    } else if url.starts_with("sqlite:") {
        Ok(Backend::Sqlite)
    } else {
        Err(DbError::UnsupportedUrl {
            url: crate::secret::redact_url(url),
        })
    }
}

/// `text` as PostgreSQL can store it: its text and JSONB types cannot hold U+0000, which
/// becomes U+FFFD (as invalid UTF-8 does). A value the database refuses would fail, again and
/// again, the whole transaction it belongs to.
pub fn storable_text(text: &str) -> std::borrow::Cow<'_, str> {
    if text.contains('\0') {
        text.replace('\0', "\u{FFFD}").into()
    } else {
        text.into()
    }
}

/// `value` with [`storable_text`] applied to every string and key.
pub fn storable_json(value: &serde_json::Value) -> std::borrow::Cow<'_, serde_json::Value> {
    use serde_json::Value;
    fn has_nul(value: &Value) -> bool {
        match value {
            Value::String(text) => text.contains('\0'),
            Value::Array(items) => items.iter().any(has_nul),
            Value::Object(map) => map
                .iter()
                .any(|(key, value)| key.contains('\0') || has_nul(value)),
            _ => false,
        }
    }
    fn replaced(value: &Value) -> Value {
        match value {
            Value::String(text) => Value::String(storable_text(text).into_owned()),
            Value::Array(items) => Value::Array(items.iter().map(replaced).collect()),
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(key, value)| (storable_text(key).into_owned(), replaced(value)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }
    if has_nul(value) {
        std::borrow::Cow::Owned(replaced(value))
    } else {
        std::borrow::Cow::Borrowed(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_becomes_a_replacement_character_everywhere_else_nothing_changes() {
        assert_eq!(storable_text("a\0b"), "a\u{FFFD}b");
        assert!(matches!(
            storable_text("plain"),
            std::borrow::Cow::Borrowed(_)
        ));
        let value = serde_json::json!({"k\0": ["x\0", {"y": "\0"}], "n": 1, "t": true});
        assert_eq!(
            storable_json(&value).into_owned(),
            serde_json::json!({"k\u{FFFD}": ["x\u{FFFD}", {"y": "\u{FFFD}"}], "n": 1, "t": true})
        );
        let clean = serde_json::json!({"a": ["b", {"c": null}]});
        assert!(matches!(
            storable_json(&clean),
            std::borrow::Cow::Borrowed(_)
        ));
    }

    #[test]
    fn backend_is_chosen_by_scheme() {
        assert_eq!(backend_of("postgresql://x/y").ok(), Some(Backend::Postgres));
        assert_eq!(backend_of("sqlite::memory:").ok(), Some(Backend::Sqlite));
        assert!(matches!(
            backend_of("mysql://x"),
            Err(DbError::UnsupportedUrl { .. })
        ));
    }
}

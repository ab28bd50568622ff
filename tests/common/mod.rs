//! Test databases: a fresh PostgreSQL schema or a fresh SQLite file per test, migrated.
#![allow(dead_code)]

pub mod forgejo;
pub mod process;
pub mod python;
pub mod seed;

use std::path::PathBuf;
use std::time::Duration;

use fedora_ci::db::{ConnectSettings, Store};

/// PostgreSQL server for tests; every test gets its own schema in it.
pub fn postgres_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

pub enum TestDb {
    Postgres {
        schema: String,
        url: String,
    },
    Sqlite {
        _dir: tempfile::TempDir,
        url: String,
    },
}

impl TestDb {
    pub async fn postgres() -> anyhow::Result<TestDb> {
        let schema = format!("fci_test_{}", uuid::Uuid::new_v4().simple());
        let admin = Store::connect(&postgres_url(), &ConnectSettings::default()).await?;
        if let Store::Postgres(pool) = &admin {
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
                .execute(pool)
                .await?;
        }
        admin.close().await;
        let separator = if postgres_url().contains('?') {
            '&'
        } else {
            '?'
        };
        let url = format!(
            "{}{separator}options=-c%20search_path%3D{schema}",
            postgres_url()
        );
        Ok(TestDb::Postgres { schema, url })
    }

    pub async fn sqlite() -> anyhow::Result<TestDb> {
        let dir = tempfile::tempdir()?;
        let url = format!("sqlite://{}", dir.path().join("test.db").display());
        Ok(TestDb::Sqlite { _dir: dir, url })
    }

    pub fn url(&self) -> &str {
        match self {
            TestDb::Postgres { url, .. } | TestDb::Sqlite { url, .. } => url,
        }
    }

    /// A migrated store on this database.
    pub async fn store(&self) -> anyhow::Result<Store> {
        let settings = ConnectSettings {
            max_connections: 8,
            acquire_timeout: Duration::from_secs(30),
        };
        let store = Store::connect(self.url(), &settings).await?;
        store.migrate().await?;
        Ok(store)
    }

    pub fn sqlite_path(&self) -> Option<PathBuf> {
        match self {
            TestDb::Sqlite { url, .. } => url.strip_prefix("sqlite://").map(PathBuf::from),
            TestDb::Postgres { .. } => None,
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let TestDb::Postgres { schema, .. } = self else {
            return;
        };
        let schema = schema.clone();
        // Drop runs inside the test's runtime: clean up from a thread with its own.
        let _ = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async move {
                if let Ok(Store::Postgres(pool)) =
                    Store::connect(&postgres_url(), &ConnectSettings::default()).await
                {
                    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "DROP SCHEMA IF EXISTS {schema} CASCADE"
                    )))
                    .execute(&pool)
                    .await;
                    pool.close().await;
                }
            });
        })
        .join();
    }
}

/// Declares each listed `async fn(TestDb) -> anyhow::Result<()>` as a test on PostgreSQL and
/// a test on SQLite: one suite, both backends.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() -> anyhow::Result<()> {
                    super::$name($crate::common::TestDb::postgres().await?).await
                }
            )*
        }
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() -> anyhow::Result<()> {
                    super::$name($crate::common::TestDb::sqlite().await?).await
                }
            )*
        }
    };
}

/// Polls `check` until it returns Some or `timeout` passes.
pub async fn wait_for<T, F, Fut>(timeout: Duration, mut check: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Option<T>>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(value) = check().await? {
            return Ok(value);
        }
        if tokio::time::Instant::now() > deadline {
            anyhow::bail!("condition not reached within {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Which tasks [`settled`] waits for.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Settle {
    /// Due now or running; a dead task also counts as unsettled (it should not exist).
    NothingDueOrDead,
    /// Due within seconds (a retry after a transient failure) or running; dead tasks are
    /// left alone.
    NothingDueSoon,
}

/// Waits until every inbound message is processed and, five checks in a row, no task is
/// busy as `settle` says.
pub async fn settled(store: &Store, settle: Settle, timeout: Duration) -> anyhow::Result<()> {
    use fedora_ci::db::{inbound, tasks};
    let idle = std::cell::Cell::new(0);
    wait_for(timeout, || {
        let idle = &idle;
        async move {
            let horizon = match settle {
                Settle::NothingDueOrDead => chrono::Utc::now(),
                Settle::NothingDueSoon => chrono::Utc::now() + chrono::Duration::seconds(10),
            };
            let counts = tasks::counts(store, horizon).await?;
            let busy: i64 = counts
                .iter()
                .map(|c| match settle {
                    Settle::NothingDueOrDead => c.ready + c.running + c.dead,
                    Settle::NothingDueSoon => c.ready + c.running,
                })
                .sum();
            let outcomes = inbound::count_by_outcome(store).await?;
            let pending = outcomes
                .iter()
                .any(|(outcome, _)| outcome == inbound::PENDING);
            idle.set(if busy == 0 && !pending {
                idle.get() + 1
            } else {
                0
            });
            Ok((idle.get() >= 5).then_some(()))
        }
    })
    .await
    .map_err(|error| anyhow::anyhow!("the service did not settle: {error}"))
}

/// A loopback port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .unwrap_or_else(|error| panic!("no free loopback port: {error}"))
}

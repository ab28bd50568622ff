//! The process roles behind the CLI: `serve`, `worker`, `api`, `migrate`.
//!
//! Each role opens the database lazily, so a process whose database is down starts, says so,
//! and keeps retrying with backoff; `/api/healthz` answers 503 meanwhile.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::config::Config;
use crate::context::Context;
use crate::db::{self, ConnectSettings, Store};
use crate::tasks::{self, Runner, RunnerSettings};

/// A token cancelled on SIGTERM or SIGINT.
pub fn shutdown_on_signals() -> CancellationToken {
    let token = CancellationToken::new();
    let cancel = token.clone();
    tokio::spawn(async move {
        let received = wait_for_signal().await;
        info!(signal = received, "shutting down");
        cancel.cancel();
    });
    token
}

#[cfg(unix)]
async fn wait_for_signal() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        },
        _ => {
            let _ = tokio::signal::ctrl_c().await;
            "SIGINT"
        }
    }
}

#[cfg(not(unix))]
async fn wait_for_signal() -> &'static str {
    let _ = tokio::signal::ctrl_c().await;
    "ctrl-c"
}

fn connect_settings(config: &Config) -> ConnectSettings {
    ConnectSettings {
        max_connections: config.database.max_connections,
        acquire_timeout: Duration::from_secs(config.database.acquire_timeout_seconds),
    }
}

/// Opens a pool that connects on first use.
pub fn open_store(config: &Config) -> anyhow::Result<Store> {
    let url = config.database_url.expose();
    Store::open_lazy(url, &connect_settings(config))
        .with_context(|| format!("opening database {}", db::redact_url(url)))
}

/// Applies migrations, retrying with backoff while the database is unreachable.
/// False if shutdown came first.
pub async fn migrate_with_retry(
    store: &Store,
    config: &Config,
    shutdown: &CancellationToken,
) -> bool {
    let url = db::redact_url(config.database_url.expose());
    let mut attempt = 0;
    loop {
        match store.migrate().await {
            Ok(()) => {
                info!(database = %url, "database schema is up to date");
                return true;
            }
            Err(error) => {
                attempt += 1;
                let wait =
                    tasks::backoff(Duration::from_secs(1), attempt).min(Duration::from_secs(60));
                error!(database = %url, %error, retry_in = ?wait, "cannot migrate the database; retrying");
                tokio::select! {
                    _ = shutdown.cancelled() => return false,
                    _ = tokio::time::sleep(wait) => {}
                }
            }
        }
    }
}

/// `fedora-ci migrate`: applies migrations once; fails if the database is unreachable.
pub async fn migrate(config: &Config) -> anyhow::Result<()> {
    let url = config.database_url.expose();
    let store = Store::connect(url, &connect_settings(config))
        .await
        .with_context(|| format!("connecting to {}", db::redact_url(url)))?;
    store.migrate().await.context("applying migrations")?;
    let applied = store.applied_migrations().await?;
    info!(database = %db::redact_url(url), migrations = applied.len(), "database schema is up to date");
    store.close().await;
    Ok(())
}

/// The runner with every task of the service registered.
pub fn runner(
    store: Store,
    config: Arc<Config>,
    queues: &BTreeMap<String, usize>,
) -> anyhow::Result<Runner<Context>> {
    let settings = RunnerSettings {
        lease: Duration::from_secs(config.worker.lease_seconds),
        poll_interval: Duration::from_millis(config.worker.poll_interval_ms),
        shutdown_grace: Duration::from_secs(config.worker.shutdown_grace_seconds),
        ..RunnerSettings::default()
    };
    if let Some(reason) = crate::handlers::services::shadow_mode_reason(&config) {
        warn!(
            reason,
            "shadow mode: every call that would change something is only recorded"
        );
    }
    let context = Context::new(store.clone(), config)?;
    let runner = Runner::new(store, context, settings).register::<crate::jobs::ProcessMessage>();
    let mut runner = crate::handlers::register(runner);
    for (queue, concurrency) in queues {
        runner = runner.queue(queue, *concurrency);
    }
    Ok(runner)
}

async fn serve_http(
    config: Arc<Config>,
    store: Store,
    bind: &str,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .with_context(|| format!("cannot listen on {bind}"))?;
    info!(address = %listener.local_addr()?, "API listening");
    let app = Arc::new(crate::api::App { store, config });
    axum::serve(listener, crate::api::router(app))
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
        .context("HTTP server failed")
}

/// `fedora-ci api`: migrations (retried), then the HTTP API.
pub async fn api(
    config: Arc<Config>,
    bind: &str,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let store = open_store(&config)?;
    let http = serve_http(config.clone(), store.clone(), bind, shutdown.clone());
    let migrations = migrate_with_retry(&store, &config, &shutdown);
    let (served, _) = tokio::join!(http, migrations);
    store.close().await;
    served
}

/// `fedora-ci worker`: runs tasks from `queues`; never migrates (the API does).
pub async fn worker(
    config: Arc<Config>,
    queues: &BTreeMap<String, usize>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let store = open_store(&config)?;
    let handle = runner(store.clone(), config, queues)?.start(shutdown);
    info!("worker ready");
    handle.wait().await;
    store.close().await;
    Ok(())
}

/// `fedora-ci listen`: consumes fedora-messaging into the database; never migrates.
pub async fn listen(config: Arc<Config>, shutdown: CancellationToken) -> anyhow::Result<()> {
    let store = open_store(&config)?;
    let identity = crate::intake::identity(&config);
    let result = crate::listener::run(&config.messaging, &store, &identity, &shutdown).await;
    store.close().await;
    result
}

/// The listener of `serve`, when `messaging.enabled`. A connection attempt in progress does
/// not watch for shutdown, so it is given a few seconds and then dropped: whatever it had
/// not stored stays unacknowledged and is redelivered.
async fn listen_in_serve(config: &Config, store: &Store, shutdown: &CancellationToken) {
    if !config.messaging.enabled {
        return;
    }
    let identity = crate::intake::identity(config);
    let listening = crate::listener::run(&config.messaging, store, &identity, shutdown);
    let stopping = async {
        shutdown.cancelled().await;
        tokio::time::sleep(Duration::from_secs(5)).await;
    };
    tokio::select! {
        result = listening => {
            // It retries the broker for ever: an error is a configuration that cannot work.
            if let Err(error) = result {
                error!(error = %format!("{error:#}"), "cannot run the listener; stopping");
                shutdown.cancel();
            }
        }
        () = stopping => warn!("the listener did not stop in time"),
    }
}

/// `fedora-ci serve`: the API, a worker and (with `messaging.enabled`) the listener in one
/// process, migrating first.
pub async fn serve(
    config: Arc<Config>,
    bind: &str,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let store = open_store(&config)?;
    let http = serve_http(config.clone(), store.clone(), bind, shutdown.clone());
    let work = async {
        if !migrate_with_retry(&store, &config, &shutdown).await {
            return;
        }
        let runner = match runner(store.clone(), config.clone(), &config.worker.queues) {
            Ok(runner) => runner,
            Err(error) => {
                warn!(error = %format!("{error:#}"), "cannot start the worker");
                shutdown.cancel();
                return;
            }
        };
        let handle = runner.start(shutdown.clone());
        info!("worker ready");
        tokio::join!(handle.wait(), listen_in_serve(&config, &store, &shutdown));
    };
    let (served, ()) = tokio::join!(http, work);
    if let Err(error) = &served {
        warn!(error = %format!("{error:#}"), "API stopped");
    }
    store.close().await;
    served
}

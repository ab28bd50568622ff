//! The process roles behind the CLI: `serve`, `worker`, `api`, `listen`, `migrate`.
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
use crate::db::{ConnectSettings, Store};
use crate::secret::redact_url;
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
pub(crate) async fn wait_for_signal() -> &'static str {
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
pub(crate) async fn wait_for_signal() -> &'static str {
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
        .with_context(|| format!("opening database {}", redact_url(url)))
}

/// Applies migrations, retrying with backoff while the database is unreachable.
/// False if shutdown came first.
pub async fn migrate_with_retry(
    store: &Store,
    config: &Config,
    shutdown: &CancellationToken,
) -> bool {
    let url = redact_url(config.database_url.expose());
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
        .with_context(|| format!("connecting to {}", redact_url(url)))?;
    store.migrate().await.context("applying migrations")?;
    let applied = store.applied_migrations().await?;
    info!(database = %redact_url(url), migrations = applied.len(), "database schema is up to date");
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

/// Binds `bind`, or fails naming the address (before anything else of the role starts).
async fn bind_http(bind: &str, what: &str) -> anyhow::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(bind)
        .await
        .with_context(|| format!("cannot listen on {bind} ({what})"))
}

/// Serves `app` on `listener` within `limits` (`api::server`) until `shutdown`. The
/// server does not stop on its own; if it ever did, it cancels `shutdown`, so the rest of the
/// process stops too, and fails.
async fn serve_on(
    listener: tokio::net::TcpListener,
    app: axum::Router,
    limits: &crate::config::ApiConfig,
    what: &str,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let address = listener
        .local_addr()
        .map(|address| address.to_string())
        .unwrap_or_default();
    crate::api::server::serve(listener, app, limits, shutdown.clone()).await;
    if shutdown.is_cancelled() {
        return Ok(());
    }
    shutdown.cancel();
    anyhow::bail!("{what} on {address} stopped")
}

fn api_router(config: Arc<Config>, store: Store) -> axum::Router {
    crate::api::router(Arc::new(crate::api::App { store, config }))
}

/// The health server of the `worker` and `listen` roles on `bind`; `None` when `bind` is
/// empty. Binding fails naming the address.
async fn health_server(
    role: crate::api::Role,
    bind: &str,
    config: &Arc<Config>,
    store: &Store,
) -> anyhow::Result<Option<(tokio::net::TcpListener, axum::Router)>> {
    if bind.is_empty() {
        return Ok(None);
    }
    let listener = bind_http(bind, "health and metrics").await?;
    info!(address = %listener.local_addr()?, "health and metrics listening");
    let router = crate::api::role_router(role, store.clone(), config.clone());
    Ok(Some((listener, router)))
}

/// Serves the health server, if any, until `shutdown`, with the API's limits.
async fn serve_health(
    server: Option<(tokio::net::TcpListener, axum::Router)>,
    limits: &crate::config::ApiConfig,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    match server {
        Some((listener, router)) => {
            serve_on(listener, router, limits, "the health server", shutdown).await
        }
        None => Ok(()),
    }
}

/// `fedora-ci api`: migrations (retried), then the HTTP API. The address is bound first: a
/// taken port ends the process with an error naming it.
pub async fn api(
    config: Arc<Config>,
    bind: &str,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let store = open_store(&config)?;
    let listener = bind_http(bind, "the API").await?;
    info!(address = %listener.local_addr()?, "API listening");
    // Runs no tasks: only an explicit dry_run says what the workers do.
    if config.dry_run.is_some() {
        crate::metrics::global()
            .set_shadow_mode(crate::handlers::services::shadow_mode_reason(&config).is_some());
    }
    let http = serve_on(
        listener,
        api_router(config.clone(), store.clone()),
        &config.api,
        "the API",
        shutdown.clone(),
    );
    let migrations = migrate_with_retry(&store, &config, &shutdown);
    let (served, _) = tokio::join!(http, migrations);
    store.close().await;
    served
}

/// `fedora-ci worker`: runs tasks from `queues`; never migrates (the API does). Serves its
/// health and metrics on `worker.health_bind`.
pub async fn worker(
    config: Arc<Config>,
    queues: &BTreeMap<String, usize>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let store = open_store(&config)?;
    let server = health_server(
        crate::api::Role::Worker,
        &config.worker.health_bind,
        &config,
        &store,
    )
    .await?;
    let handle = runner(store.clone(), config.clone(), queues)?.start(shutdown.clone());
    info!("worker ready");
    let (_, served) = tokio::join!(handle.wait(), serve_health(server, &config.api, shutdown));
    store.close().await;
    served
}

/// `fedora-ci listen`: consumes fedora-messaging into the database; never migrates.
/// Serves its health and metrics on `messaging.health_bind`.
pub async fn listen(config: Arc<Config>, shutdown: CancellationToken) -> anyhow::Result<()> {
    let store = open_store(&config)?;
    crate::listener::start_status(config.messaging.amqp_url.expose());
    let server = health_server(
        crate::api::Role::Listener,
        &config.messaging.health_bind,
        &config,
        &store,
    )
    .await?;
    let identity = crate::intake::identity(&config);
    let listening = async {
        let result = crate::listener::run(&config.messaging, &store, &identity, &shutdown).await;
        // An error ends the process: the health server stops too.
        shutdown.cancel();
        result
    };
    let (result, served) = tokio::join!(
        listening,
        serve_health(server, &config.api, shutdown.clone())
    );
    store.close().await;
    result.and(served)
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
/// process, migrating first. The address is bound before anything starts: a taken port ends
/// the process with an error naming it, and an API that fails later stops everything.
pub async fn serve(
    config: Arc<Config>,
    bind: &str,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let store = open_store(&config)?;
    let listener = bind_http(bind, "the API").await?;
    info!(address = %listener.local_addr()?, "API listening");
    crate::handlers::services::note_process_shadow_mode(&config);
    if config.messaging.enabled {
        crate::listener::start_status(config.messaging.amqp_url.expose());
    }
    let http = serve_on(
        listener,
        api_router(config.clone(), store.clone()),
        &config.api,
        "the API",
        shutdown.clone(),
    );
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

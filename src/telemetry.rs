//! Logging (human or JSON lines) and Sentry error reporting.

use clap::ValueEnum;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer as _;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::{Config, Deployment};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Lines for people.
    Human,
    /// One JSON object per line, for log collectors.
    Json,
}

/// Keeps Sentry flushing until dropped at exit.
pub struct Telemetry {
    _sentry: Option<sentry::ClientInitGuard>,
}

/// Installs the global logger, and Sentry when the configuration names a DSN.
/// `RUST_LOG` selects what is logged (default `info`).
pub fn init(format: LogFormat, config: Option<&Config>) -> Telemetry {
    let sentry = config.and_then(init_sentry);
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let registry = tracing_subscriber::registry()
        .with(filter)
        .with(sentry.as_ref().map(|_| {
            use sentry::integrations::tracing::{BreadcrumbLayer, ErrorLayer};
            ErrorLayer::new().and_then(BreadcrumbLayer::new())
        }));
    let result = match format {
        LogFormat::Human => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_ansi(colours_on_stderr())
                    .with_writer(std::io::stderr),
            )
            .try_init(),
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(true)
                    .with_writer(std::io::stderr),
            )
            .try_init(),
    };
    if let Err(error) = result {
        eprintln!("logging was already set up: {error}");
    }
    Telemetry { _sentry: sentry }
}

/// Colours only for a person at a terminal: not in files, pipes or log collectors, and not
/// when `NO_COLOR` is set (<https://no-color.org>).
fn colours_on_stderr() -> bool {
    use std::io::IsTerminal as _;
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

fn init_sentry(config: &Config) -> Option<sentry::ClientInitGuard> {
    let dsn = config.sentry_dsn.as_ref()?;
    let dsn = match dsn.expose().parse() {
        Ok(dsn) => dsn,
        Err(_) => {
            // The DSN itself is a secret: say only that it is malformed.
            eprintln!("sentry_dsn is not a valid Sentry DSN; errors will not be reported");
            return None;
        }
    };
    let environment = match config.deployment {
        Deployment::Prod => "prod",
        Deployment::Stg => "stg",
        Deployment::Dev => "dev",
    };
    let mut options = sentry::ClientOptions::default();
    options.dsn = Some(dsn);
    options.release = sentry::release_name!();
    options.environment = Some(environment.into());
    Some(sentry::init(options))
}

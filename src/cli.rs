//! The `fedora-ci` command line.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

use crate::config::Config;
use crate::telemetry::{self, LogFormat};
use crate::{bench, replay, roles};

/// Fedora CI for Fedora dist-git pull requests: Koji scratch builds, Testing Farm tests and
/// their results as flags on the pull request.
#[derive(Debug, Parser)]
#[command(name = "fedora-ci", version)]
pub struct Cli {
    /// Configuration file [default: ./fedora-ci.toml if present, else built-in defaults].
    #[arg(long, global = true, env = "FEDORA_CI_CONFIG")]
    pub config: Option<PathBuf>,

    /// How log lines look; what is logged is chosen by RUST_LOG (default: info).
    #[arg(
        long,
        global = true,
        value_enum,
        default_value = "human",
        env = "FEDORA_CI_LOG_FORMAT"
    )]
    pub log_format: LogFormat,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run everything in one process: the API and a worker (migrates the database first).
    Serve {
        /// Address to listen on, host:port; port 0 takes any free one [default: api.bind from
        /// the configuration].
        #[arg(long, value_parser = parse_bind)]
        bind: Option<String>,
    },
    /// Run tasks from the queues (never migrates: the API does).
    Worker {
        /// Queue to serve as NAME=CONCURRENCY; repeat for several [default: worker.queues].
        #[arg(long = "queue", value_parser = parse_queue)]
        queues: Vec<(String, usize)>,
    },
    /// Serve the HTTP API, /api/healthz and /metrics (migrates the database first).
    Api {
        /// Address to listen on, host:port; port 0 takes any free one [default: api.bind from
        /// the configuration].
        #[arg(long, value_parser = parse_bind)]
        bind: Option<String>,
    },
    /// Consume fedora-messaging into the database (never migrates: the API does).
    Listen,
    /// Run the messages of FILE through intake and process them now, in this process.
    Process {
        file: PathBuf,
        /// Print, as JSON, what would happen (verdict, event, tasks, calls); touch nothing.
        /// Work it could not plan (a read failed) is listed per message under "incomplete",
        /// and the command then exits with status 2.
        #[arg(long)]
        dry_run: bool,
        /// With --dry-run: exit 0 even when some work could not be planned.
        #[arg(long, requires = "dry_run")]
        allow_incomplete: bool,
    },
    /// Store the messages of FILEs as the listener would; workers process them.
    Replay {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Apply database migrations and exit.
    Migrate,
    /// Validate the configuration; print which file and environment overrides it came from,
    /// whether shadow mode is on, and the effective configuration with every secret redacted.
    CheckConfig,
    /// Measure throughput (see docs/benchmarks.md).
    Bench {
        #[command(subcommand)]
        what: bench::BenchCommand,
    },
}

/// What `check-config` prints: where the configuration came from and whether shadow mode is
/// on, as TOML comments, then the effective configuration with every secret redacted (so the
/// whole output is still TOML).
pub fn check_config_report(config: &Config, sources: &crate::config::Sources) -> String {
    let mut report = String::new();
    match &sources.file {
        Some(path) => {
            let shown = std::fs::canonicalize(path).unwrap_or_else(|_| path.clone());
            report.push_str(&format!("# Configuration file: {}\n", shown.display()));
        }
        None => report.push_str("# No configuration file; built-in defaults.\n"),
    }
    if sources.env.is_empty() {
        report.push_str("# Environment overrides: none.\n");
    } else {
        let applied: Vec<String> = sources
            .env
            .iter()
            .map(|(key, var)| format!("{var} ({key})"))
            .collect();
        report.push_str(&format!(
            "# Environment overrides: {}.\n",
            applied.join(", ")
        ));
    }
    for (key, path) in &sources.secret_files {
        report.push_str(&format!("# Secret {key} read from {}.\n", path.display()));
    }
    match crate::handlers::services::shadow_mode_reason(config) {
        Some(reason) => report.push_str(&format!(
            "# Shadow mode: on ({reason}): every call is decided and recorded, none is made.\n"
        )),
        None => report
            .push_str("# Shadow mode: off: calls to Koji, Testing Farm and Pagure are made.\n"),
    }
    report.push('\n');
    report.push_str(&config.to_redacted_toml());
    report
}

fn parse_bind(text: &str) -> Result<String, String> {
    crate::config::check_bind_address_any_port(text).map(|()| text.to_owned())
}

fn parse_queue(text: &str) -> Result<(String, usize), String> {
    let (name, concurrency) = text
        .split_once('=')
        .ok_or_else(|| format!("{text:?} is not NAME=CONCURRENCY"))?;
    let concurrency: usize = concurrency
        .parse()
        .map_err(|_| format!("concurrency {concurrency:?} is not a whole number"))?;
    if name.is_empty() || concurrency == 0 {
        return Err(format!(
            "{text:?} needs a queue name and a concurrency of at least 1"
        ));
    }
    Ok((name.to_owned(), concurrency))
}

/// Runs the command line; the process exit code follows the result.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let (config, sources) = match Config::load_with_sources(cli.config.as_deref(), std::env::vars())
    {
        Ok((config, sources)) => (Arc::new(config), sources),
        Err(error) => {
            let _telemetry = telemetry::init(cli.log_format, None);
            return Err(error).context("invalid configuration");
        }
    };
    let _telemetry = telemetry::init(cli.log_format, Some(&config));
    match cli.command {
        Command::CheckConfig => {
            print!("{}", check_config_report(&config, &sources));
            Ok(())
        }
        Command::Migrate => roles::migrate(&config).await,
        Command::Serve { bind } => {
            let bind = bind.unwrap_or_else(|| config.api.bind.clone());
            roles::serve(config, &bind, roles::shutdown_on_signals()).await
        }
        Command::Api { bind } => {
            let bind = bind.unwrap_or_else(|| config.api.bind.clone());
            roles::api(config, &bind, roles::shutdown_on_signals()).await
        }
        Command::Worker { queues } => {
            let queues: BTreeMap<String, usize> = if queues.is_empty() {
                config.worker.queues.clone()
            } else {
                queues.into_iter().collect()
            };
            roles::worker(config, &queues, roles::shutdown_on_signals()).await
        }
        Command::Listen => roles::listen(config, roles::shutdown_on_signals()).await,
        Command::Process {
            file,
            dry_run: true,
            allow_incomplete,
        } => {
            let planned = replay::dry_run(&config, &file).await?;
            println!("{}", serde_json::to_string_pretty(&planned)?);
            match replay::incomplete_summary(&planned) {
                Some(summary) if !allow_incomplete => Err(replay::Incomplete(summary).into()),
                _ => Ok(()),
            }
        }
        Command::Process {
            file,
            dry_run: false,
            ..
        } => {
            let store = roles::open_store(&config)?;
            store.migrate().await.context("migrating the database")?;
            let ctx = crate::context::Context::new(store.clone(), config.clone())?;
            let results = replay::process(&ctx, &crate::intake::identity(&config), &file).await;
            store.close().await;
            for result in results? {
                println!("{result}");
            }
            Ok(())
        }
        Command::Replay { files } => {
            let store = roles::open_store(&config)?;
            let report = replay::replay(&store, &crate::intake::identity(&config), &files).await;
            store.close().await;
            let report = report?;
            println!(
                "{} accepted, {} rejected, {} irrelevant, {} already stored",
                report.accepted, report.rejected, report.irrelevant, report.duplicates
            );
            Ok(())
        }
        Command::Bench { what } => bench::run(what).await,
    }
}

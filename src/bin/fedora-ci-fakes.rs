//! Runs every fake service (Koji, Pagure, Testing Farm, FASJSON, ELN lists, Log Detective) for
//! the local demo and the compose file. It prints one JSON line with their URLs on stdout, then
//! serves until SIGTERM or SIGINT.
//!
//! The fakes themselves listen on loopback ports of their own choosing. Each is published
//! through a TCP relay on `--bind` and its `--<service>-port`, so that it can be reached from
//! outside a container.
//!
//! `--demo` makes them carry one pull request to its end by themselves (docs/deployment.md,
//! "Local demo"): the fake Pagure knows the PR of `tests/fixtures/packit-service/
//! pagure_pr_new.json`, Koji scratch builds start and succeed after `--demo-delay-ms` each,
//! and Testing Farm requests move new → queued → running → complete (passed) one step per
//! delay, calling their webhook at each move. With `--amqp-url`, the fake Koji publishes its
//! task state changes to that broker, as Fedora's hub does; the service learns of finished
//! builds only so.

use anyhow::Context as _;
use clap::Parser;
use fedora_ci::fakes::demo::{self, MessageBus};
use fedora_ci::fakes::eln::FakeEln;
use fedora_ci::fakes::fasjson::FakeFasjson;
use fedora_ci::fakes::koji::{FakeKojiConfig, FakeKojiHub};
use fedora_ci::fakes::logdetective::FakeLogDetective;
use fedora_ci::fakes::pagure::FakePagure;
use fedora_ci::fakes::testing_farm::FakeTestingFarm;
use fedora_ci::telemetry::{self, LogFormat};
use serde_json::json;
use std::collections::BTreeMap;
use std::io::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};

#[derive(Debug, Parser)]
#[command(about = "Fake Koji, Pagure, Testing Farm, FASJSON, ELN lists and Log Detective")]
struct Args {
    /// Address the relays listen on.
    #[arg(long, default_value = "127.0.0.1")]
    bind: IpAddr,
    /// Host put in the printed URLs [default: the bind address, or 127.0.0.1 for 0.0.0.0 and ::].
    #[arg(long)]
    advertise_host: Option<String>,
    /// Port of the Koji hub; 0, like every port here, picks a free one.
    #[arg(long, default_value_t = 0)]
    koji_port: u16,
    /// Port of Pagure.
    #[arg(long, default_value_t = 0)]
    pagure_port: u16,
    /// Port of Testing Farm.
    #[arg(long, default_value_t = 0)]
    testing_farm_port: u16,
    /// Port of FASJSON.
    #[arg(long, default_value_t = 0)]
    fasjson_port: u16,
    /// Port of the ELN package lists.
    #[arg(long, default_value_t = 0)]
    eln_port: u16,
    /// Port of Log Detective.
    #[arg(long, default_value_t = 0)]
    logdetective_port: u16,
    /// Pagure API token, accepted as user `packit`.
    #[arg(long, default_value = "fake-pagure-token")]
    pagure_token: String,
    /// Testing Farm API token.
    #[arg(long, default_value = "fake-testing-farm-token")]
    testing_farm_token: String,
    /// Log Detective Bearer token.
    #[arg(long, default_value = "fake-logdetective-token")]
    logdetective_token: String,
    /// A user in the `packager` group of both FASJSON and Pagure; repeat for more.
    #[arg(long = "packager")]
    packagers: Vec<String>,
    /// A package on the ELN list; repeat for more.
    #[arg(long = "eln-package", default_values = ["bash", "glibc", "python3.13"])]
    eln_packages: Vec<String>,
    /// Koji scratch builds start, then succeed, after this many seconds each [default with
    /// `--demo`: `--demo-delay-ms`; else never, until a test moves them].
    #[arg(long)]
    koji_auto_progress_secs: Option<u64>,
    /// Carry a pull request to its end: seed the fake Pagure with the PR of the captured
    /// "PR opened" message (rpms/optee_os PR 2, its author a packager), let Koji builds
    /// succeed and Testing Farm requests pass by themselves.
    #[arg(long)]
    demo: bool,
    /// With `--demo`: the pause before each move of a Koji build or Testing Farm request.
    #[arg(long, default_value_t = 3000)]
    demo_delay_ms: u64,
    /// Publish the fake Koji's task state changes to this AMQP broker
    /// (`amqp://user:password@host:5672/%2F`).
    #[arg(long)]
    amqp_url: Option<String>,
    /// The exchange they are published to.
    #[arg(long, default_value = "amq.topic")]
    amqp_exchange: String,
    /// Their topic prefix, as `messaging.topic_prefix` of the service.
    #[arg(long, default_value = "org.fedoraproject.prod")]
    topic_prefix: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let _telemetry = telemetry::init(LogFormat::Human, None);
    let advertise_host = args
        .advertise_host
        .clone()
        .unwrap_or_else(|| match args.bind {
            address if address.is_unspecified() => "127.0.0.1".to_owned(),
            IpAddr::V6(address) => format!("[{address}]"),
            IpAddr::V4(address) => address.to_string(),
        });
    let fakes = start_fakes(&args).await?;
    let mut urls = BTreeMap::new();
    for (name, fake_url, port) in fakes {
        let listener = TcpListener::bind((args.bind, port))
            .await
            .with_context(|| format!("cannot listen on {}:{port} for {name}", args.bind))?;
        let (target, path) = split_url(&fake_url)?;
        let public_port = listener.local_addr()?.port();
        tokio::spawn(relay(listener, target));
        urls.insert(name, format!("http://{advertise_host}:{public_port}{path}"));
    }
    let shutdown = shutdown_signal()?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{}", json!(urls))?;
    stdout.flush()?;
    drop(stdout);
    let signal = shutdown.await;
    tracing::info!(signal, "fakes stopping");
    Ok(())
}

/// Each fake's name, its own URL, and the port asked for it.
async fn start_fakes(args: &Args) -> anyhow::Result<Vec<(&'static str, String, u16)>> {
    let demo_delay = Duration::from_millis(args.demo_delay_ms);
    let koji_auto_progress = match args.koji_auto_progress_secs {
        Some(seconds) => Some(Duration::from_secs(seconds)),
        None => args.demo.then_some(demo_delay),
    };
    let koji = FakeKojiHub::start(FakeKojiConfig {
        auto_progress: koji_auto_progress,
        ..FakeKojiConfig::default()
    })
    .await?;
    if let Some(amqp_url) = &args.amqp_url {
        demo::forward_koji_messages(
            &koji,
            MessageBus {
                amqp_url: amqp_url.clone(),
                exchange: args.amqp_exchange.clone(),
                topic_prefix: args.topic_prefix.clone(),
            },
        );
    }

    let pagure = FakePagure::start().await?;
    pagure.add_token(&args.pagure_token, "packit");
    let mut packagers = args.packagers.clone();
    if args.demo {
        let seeded = demo::seed_pull_request(&pagure)?;
        tracing::info!(
            project = %seeded.project,
            pull_request = seeded.id,
            head = %seeded.head_commit,
            delay = ?demo_delay,
            broker = args.amqp_url.is_some(),
            "demo: pull request seeded; Koji builds and Testing Farm requests move on by themselves"
        );
        if !packagers.contains(&seeded.author) {
            packagers.push(seeded.author);
        }
    }
    pagure.add_group(json!({
        "name": "packager", "display_name": "Fedora Packager Git Commit Group",
        "description": "Fedora packagers", "group_type": "user",
        "creator": {"name": "packit", "fullname": "packit", "url_path": "user/packit"},
        "date_created": "1431529680", "members": packagers,
    }));

    let testing_farm = FakeTestingFarm::start(&args.testing_farm_token).await?;
    if args.demo {
        testing_farm.set_auto_advance(Some(demo_delay), "passed");
    }

    let fasjson = FakeFasjson::start().await?;
    for packager in &packagers {
        fasjson.add_user(packager, &["packager"]);
    }

    let eln = FakeEln::start().await?;
    let eln_packages: Vec<&str> = args.eln_packages.iter().map(String::as_str).collect();
    eln.set_packages(&eln_packages, &[]);

    let logdetective = FakeLogDetective::start(&args.logdetective_token).await?;

    Ok(vec![
        ("koji", koji.hub_url(), args.koji_port),
        ("pagure", pagure.url(), args.pagure_port),
        (
            "testing_farm",
            testing_farm.api_url(),
            args.testing_farm_port,
        ),
        ("fasjson", fasjson.url(), args.fasjson_port),
        ("eln", eln.url(), args.eln_port),
        ("logdetective", logdetective.url(), args.logdetective_port),
    ])
}

/// `http://127.0.0.1:PORT/path` into the socket address and the path.
fn split_url(url: &str) -> anyhow::Result<(SocketAddr, String)> {
    let parsed = reqwest::Url::parse(url)?;
    let address = parsed
        .socket_addrs(|| None)?
        .into_iter()
        .next()
        .with_context(|| format!("{url} names no address"))?;
    Ok((address, parsed.path().trim_end_matches('/').to_owned()))
}

async fn relay(listener: TcpListener, target: SocketAddr) {
    loop {
        let mut inbound = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(error) => {
                tracing::warn!("relay to {target} cannot accept: {error}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        tokio::spawn(async move {
            match TcpStream::connect(target).await {
                Ok(mut outbound) => {
                    // A peer closing mid-request is the peer's business.
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
                Err(error) => tracing::warn!("relay cannot reach {target}: {error}"),
            }
        });
    }
}

/// Listens for SIGTERM and SIGINT before the URLs are printed, so that a signal sent as soon
/// as they are read stops the fakes cleanly instead of killing the process.
#[cfg(unix)]
fn shutdown_signal() -> std::io::Result<impl Future<Output = &'static str>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = terminate.recv() => "SIGTERM",
            _ = interrupt.recv() => "SIGINT",
        }
    })
}

#[cfg(not(unix))]
fn shutdown_signal() -> std::io::Result<impl Future<Output = &'static str>> {
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
        "ctrl-c"
    })
}

//! Logging (human or JSON lines) and Sentry error reporting.
//!
//! The console and Sentry filter log events independently. `RUST_LOG` chooses what the
//! console shows, down to `trace`; Sentry's choice is fixed (`sentry_route`): an `ERROR`
//! of this crate is an event, an `INFO` or `WARN` of this crate (and a `WARN` or `ERROR` of
//! another crate) a breadcrumb, anything else nothing. The crates Sentry's own transport is
//! made of are never seen by Sentry, so its HTTP logging cannot feed itself. An event
//! identical to one sent in the last `REPEAT_WINDOW` is dropped (`RepeatFilter`).

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher as _, Hash as _, Hasher as _};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use clap::ValueEnum;
use sentry::integrations::tracing::{BreadcrumbLayer, ErrorLayer};
use tracing::{Level, Metadata, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer;
use tracing_subscriber::Registry;
use tracing_subscriber::filter::{FilterFn, LevelFilter, filter_fn};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::{Config, Deployment};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Lines for people.
    Human,
    /// One JSON object per line, for log collectors.
    Json,
}

/// How long an event identical to a sent one is dropped: one report per problem and window,
/// however often it recurs (a client retrying, an attacker repeating a request).
const REPEAT_WINDOW: Duration = Duration::from_secs(10 * 60);

/// How many distinct events the repeat filter remembers; the oldest is forgotten first, so
/// its memory stays bounded whatever arrives.
const REPEAT_MEMORY: usize = 1_000;

/// At most this many events are sent per [`REPEAT_WINDOW`], however different they are: an
/// error whose message carries attacker-chosen text is a new event each time, and must not
/// burn the Sentry quota either.
const EVENTS_PER_WINDOW: usize = 100;

/// Crates Sentry's transport is built of (its HTTP client, TLS, runtime). Sending an event
/// makes them log; were those lines events or breadcrumbs, each send would cause the next.
const TRANSPORT_CRATES: &[&str] = &[
    "sentry",
    "reqwest",
    "hyper",
    "hyper_util",
    "hyper_tls",
    "h2",
    "http",
    "http_body",
    "native_tls",
    "tokio_native_tls",
    "openssl",
    "rustls",
    "tokio_rustls",
    "tokio_util",
    "tokio",
    "mio",
    "want",
    "tower",
];

/// Keeps Sentry flushing until dropped at exit.
pub struct Telemetry {
    _sentry: Option<sentry::ClientInitGuard>,
}

/// Installs the global logger, and Sentry when the configuration names a DSN.
/// `RUST_LOG` selects what is logged (default `info`); it does not change what Sentry gets.
pub fn init(format: LogFormat, config: Option<&Config>) -> Telemetry {
    let sentry = config.and_then(init_sentry);
    let console_filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let subscriber = subscriber(console_layer(format), console_filter, sentry.is_some());
    if let Err(error) = subscriber.try_init() {
        eprintln!("logging was already set up: {error}");
    }
    Telemetry { _sentry: sentry }
}

type ConsoleLayer = Box<dyn Layer<Registry> + Send + Sync>;

/// The console layer filtered by `console_filter`, and the Sentry layers each with its own
/// filter. The console's filter is a per-layer filter, not a global one: a global filter
/// would decide for Sentry too (at `trace`, every crate's every line would reach it).
fn subscriber(
    console: ConsoleLayer,
    console_filter: EnvFilter,
    with_sentry: bool,
) -> impl Subscriber + Send + Sync + 'static {
    tracing_subscriber::registry()
        .with(console.with_filter(console_filter))
        // Breadcrumbs first: an event carries the breadcrumbs recorded before it.
        .with(with_sentry.then(sentry_breadcrumbs))
        .with(with_sentry.then(sentry_errors))
}

fn sentry_breadcrumbs<S>() -> impl Layer<S>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    BreadcrumbLayer::new().with_filter(sentry_filter(SentryRoute::Breadcrumb))
}

fn sentry_errors<S>() -> impl Layer<S>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    ErrorLayer::new().with_filter(sentry_filter(SentryRoute::Event))
}

fn console_layer(format: LogFormat) -> ConsoleLayer {
    match format {
        LogFormat::Human => tracing_subscriber::fmt::layer()
            .with_ansi(colours_on_stderr())
            .with_writer(std::io::stderr)
            .boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_writer(std::io::stderr)
            .boxed(),
    }
}

/// Colours only for a person at a terminal: not in files, pipes or log collectors, and not
/// when `NO_COLOR` is set (<https://no-color.org>).
fn colours_on_stderr() -> bool {
    use std::io::IsTerminal as _;
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// What Sentry makes of a log event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SentryRoute {
    Ignore,
    Breadcrumb,
    Event,
}

/// The per-layer filter of the Sentry layer that handles `route`.
fn sentry_filter(route: SentryRoute) -> FilterFn<impl Fn(&Metadata<'_>) -> bool> {
    // The hint keeps `debug` and `trace` call sites (and `log` records) from being built for
    // Sentry's sake when the console does not want them either.
    filter_fn(move |metadata: &Metadata<'_>| sentry_route(metadata) == route)
        .with_max_level_hint(LevelFilter::INFO)
}

/// Sentry's choice for a log event, whatever `RUST_LOG` says. Only this crate's errors are
/// events: it decides what is an error; another crate's error (tower-http's "response
/// failed" for a 503 this crate already reported, say) is context, a breadcrumb.
fn sentry_route(metadata: &Metadata<'_>) -> SentryRoute {
    if metadata.is_span() {
        return SentryRoute::Ignore;
    }
    route_for(metadata.target(), *metadata.level())
}

fn route_for(target: &str, level: Level) -> SentryRoute {
    if is_transport(target) {
        return SentryRoute::Ignore;
    }
    let ours = is_in_crate(target, env!("CARGO_CRATE_NAME"));
    match level {
        Level::ERROR if ours => SentryRoute::Event,
        Level::ERROR | Level::WARN => SentryRoute::Breadcrumb,
        Level::INFO if ours => SentryRoute::Breadcrumb,
        _ => SentryRoute::Ignore,
    }
}

/// Whether `target` (a module path, or a `log` record's target) is in `krate`.
fn is_in_crate(target: &str, krate: &str) -> bool {
    target
        .strip_prefix(krate)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with("::"))
}

fn is_transport(target: &str) -> bool {
    // The SDK is several crates: sentry, sentry_core, sentry_tracing, …
    let sdk = target
        .strip_prefix("sentry")
        .is_some_and(|rest| rest.is_empty() || rest.starts_with("::") || rest.starts_with('_'));
    sdk || TRANSPORT_CRATES
        .iter()
        .any(|krate| is_in_crate(target, krate))
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
    let mut options = sentry_options(environment);
    options.dsn = Some(dsn);
    Some(sentry::init(options))
}

/// Client options without the DSN, with the repeat filter as `before_send`.
fn sentry_options(environment: &'static str) -> sentry::ClientOptions {
    let repeats =
        Mutex::new(RepeatFilter::new(REPEAT_WINDOW, REPEAT_MEMORY).with_budget(EVENTS_PER_WINDOW));
    let mut options = sentry::ClientOptions::default();
    options.release = sentry::release_name!();
    options.environment = Some(environment.into());
    options.before_send = Some(Arc::new(move |event| {
        // A panic while holding the lock cannot leave the map inconsistent in a way that
        // matters: at worst one event too many or too few.
        let mut repeats = repeats.lock().unwrap_or_else(PoisonError::into_inner);
        repeats.admit(&event, Instant::now()).then_some(event)
    }));
    options
}

/// Remembers the events sent in the last `window` (as hashes, `capacity` at most) and refuses
/// one identical to any of them.
///
/// Identical means: the same fingerprint when the event sets one, else the same level,
/// logger, message and exceptions (type and value). Fields are not compared, so one error
/// with changing details (a request id, a duration) is reported once per window; Sentry
/// groups such events into one issue anyway.
struct RepeatFilter {
    window: Duration,
    capacity: usize,
    /// Keyed per process: nobody can craft events whose hashes collide with a real one's.
    hasher: RandomState,
    sent_at: HashMap<u64, Instant>,
    /// The same entries as `sent_at`, oldest first.
    order: VecDeque<(u64, Instant)>,
    /// Events sent per window, at most; `None`: no limit but the repeats.
    budget: Option<usize>,
    /// When the events of the current window were sent, oldest first (`budget` at most).
    sent_recently: VecDeque<Instant>,
}

impl RepeatFilter {
    fn new(window: Duration, capacity: usize) -> RepeatFilter {
        RepeatFilter {
            window,
            capacity: capacity.max(1),
            hasher: RandomState::new(),
            sent_at: HashMap::new(),
            order: VecDeque::new(),
            budget: None,
            sent_recently: VecDeque::new(),
        }
    }

    /// Sends at most `events` per window, identical or not.
    fn with_budget(mut self, events: usize) -> RepeatFilter {
        self.budget = Some(events);
        self
    }

    /// Whether `event` may be sent at `now` (the caller's clock, so tests need no sleeps);
    /// if so it is remembered from `now` on.
    fn admit(&mut self, event: &sentry::protocol::Event<'_>, now: Instant) -> bool {
        self.forget_sent_before(now);
        let key = self.key(event);
        if self.sent_at.contains_key(&key) {
            return false;
        }
        while self
            .sent_recently
            .front()
            .is_some_and(|sent| now.saturating_duration_since(*sent) >= self.window)
        {
            self.sent_recently.pop_front();
        }
        if let Some(budget) = self.budget {
            if self.sent_recently.len() >= budget {
                return false;
            }
            self.sent_recently.push_back(now);
        }
        if self.sent_at.len() >= self.capacity
            && let Some((oldest, _)) = self.order.pop_front()
        {
            self.sent_at.remove(&oldest);
        }
        self.sent_at.insert(key, now);
        self.order.push_back((key, now));
        true
    }

    /// How many events are remembered.
    #[cfg(test)]
    fn remembered(&self) -> usize {
        self.sent_at.len()
    }

    fn forget_sent_before(&mut self, now: Instant) {
        while let Some(&(key, sent)) = self.order.front() {
            if now.saturating_duration_since(sent) < self.window {
                break;
            }
            self.order.pop_front();
            self.sent_at.remove(&key);
        }
    }

    fn key(&self, event: &sentry::protocol::Event<'_>) -> u64 {
        let mut hasher = self.hasher.build_hasher();
        let fingerprint: &[std::borrow::Cow<'_, str>] = &event.fingerprint;
        let default_fingerprint =
            matches!(fingerprint, [only] if only == "{{ default }}" || only == "{{default}}");
        if !default_fingerprint {
            // Sentry groups by the fingerprint alone: so does the filter.
            fingerprint.hash(&mut hasher);
            return hasher.finish();
        }
        event.level.hash(&mut hasher);
        event.logger.hash(&mut hasher);
        event.message.hash(&mut hasher);
        event
            .logentry
            .as_ref()
            .map(|entry| &entry.message)
            .hash(&mut hasher);
        for exception in &event.exception.values {
            exception.ty.hash(&mut hasher);
            exception.value.hash(&mut hasher);
        }
        hasher.finish()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use sentry::protocol::{EnvelopeItem, Exception};

    fn message(text: &str) -> sentry::protocol::Event<'static> {
        sentry::protocol::Event {
            message: Some(text.to_owned()),
            level: sentry::Level::Error,
            logger: Some("fedora_ci::api::error".to_owned()),
            ..Default::default()
        }
    }

    fn exception(ty: &str, value: &str) -> sentry::protocol::Event<'static> {
        sentry::protocol::Event {
            exception: vec![Exception {
                ty: ty.to_owned(),
                value: Some(value.to_owned()),
                ..Default::default()
            }]
            .into(),
            ..Default::default()
        }
    }

    fn fingerprinted(fingerprint: &str, text: &str) -> sentry::protocol::Event<'static> {
        sentry::protocol::Event {
            fingerprint: vec![fingerprint.to_owned().into()].into(),
            ..message(text)
        }
    }

    const MINUTE: Duration = Duration::from_secs(60);

    #[test]
    fn an_identical_event_is_dropped_within_the_window_and_sent_after_it() {
        let mut repeats = RepeatFilter::new(10 * MINUTE, 1_000);
        let start = Instant::now();
        assert!(repeats.admit(&message("database error"), start));
        for minute in 0..10 {
            assert!(
                !repeats.admit(&message("database error"), start + minute * MINUTE),
                "repeated at minute {minute}"
            );
        }
        assert!(repeats.admit(&message("database error"), start + 10 * MINUTE));
        assert!(!repeats.admit(&message("database error"), start + 11 * MINUTE));
    }

    #[test]
    fn a_dropped_repeat_does_not_extend_the_window() {
        // A problem that recurs every minute is still reported every ten.
        let mut repeats = RepeatFilter::new(10 * MINUTE, 1_000);
        let start = Instant::now();
        let mut sent = 0;
        for minute in 0..30 {
            if repeats.admit(&message("again"), start + minute * MINUTE) {
                sent += 1;
            }
        }
        assert_eq!(sent, 3);
    }

    #[test]
    fn different_messages_exceptions_and_loggers_are_different_events() {
        let mut repeats = RepeatFilter::new(10 * MINUTE, 1_000);
        let now = Instant::now();
        assert!(repeats.admit(&message("one"), now));
        assert!(repeats.admit(&message("two"), now));
        assert!(repeats.admit(&exception("DbError", "relation x does not exist"), now));
        assert!(repeats.admit(&exception("DbError", "relation y does not exist"), now));
        assert!(repeats.admit(&exception("IoError", "relation y does not exist"), now));
        assert!(!repeats.admit(&exception("IoError", "relation y does not exist"), now));
        let elsewhere = sentry::protocol::Event {
            logger: Some("fedora_ci::tasks".to_owned()),
            ..message("one")
        };
        assert!(repeats.admit(&elsewhere, now));
        let warning = sentry::protocol::Event {
            level: sentry::Level::Warning,
            ..message("one")
        };
        assert!(repeats.admit(&warning, now));
    }

    #[test]
    fn events_with_one_fingerprint_are_one_event_whatever_their_message() {
        let mut repeats = RepeatFilter::new(10 * MINUTE, 1_000);
        let now = Instant::now();
        assert!(repeats.admit(&fingerprinted("koji-down", "timeout"), now));
        assert!(!repeats.admit(&fingerprinted("koji-down", "connection refused"), now));
        assert!(repeats.admit(&fingerprinted("pagure-down", "timeout"), now));
    }

    #[test]
    fn distinct_events_beyond_the_budget_wait_for_the_next_window() {
        let mut repeats = RepeatFilter::new(10 * MINUTE, 1_000).with_budget(5);
        let start = Instant::now();
        let sent = (0..50)
            .filter(|index| repeats.admit(&message(&format!("attacker text {index}")), start))
            .count();
        assert_eq!(sent, 5);
        let next_window = start + 10 * MINUTE;
        assert!(repeats.admit(&message("a new problem"), next_window));
    }

    #[test]
    fn memory_is_bounded_and_the_oldest_is_forgotten_first() {
        let mut repeats = RepeatFilter::new(10 * MINUTE, 3);
        let start = Instant::now();
        for (second, text) in ["a", "b", "c", "d"].into_iter().enumerate() {
            let at = start + Duration::from_secs(second as u64);
            assert!(repeats.admit(&message(text), at));
        }
        assert_eq!(repeats.remembered(), 3);
        let later = start + MINUTE;
        // "a" was forgotten to make room for "d"; "b", "c" and "d" are still known.
        assert!(!repeats.admit(&message("d"), later));
        assert!(!repeats.admit(&message("b"), later));
        assert!(repeats.admit(&message("a"), later));
        assert!(!repeats.admit(&message("c"), later));
        for index in 0..10_000 {
            repeats.admit(&message(&format!("flood {index}")), later);
        }
        assert_eq!(repeats.remembered(), 3);
    }

    #[test]
    fn routes() {
        use SentryRoute::{Breadcrumb, Event, Ignore};
        let cases = [
            ("fedora_ci", Level::ERROR, Event),
            ("fedora_ci::api::error", Level::ERROR, Event),
            ("fedora_ci::api::testing_farm", Level::WARN, Breadcrumb),
            ("fedora_ci::api::testing_farm", Level::INFO, Breadcrumb),
            ("fedora_ci::tasks", Level::DEBUG, Ignore),
            ("fedora_ci::tasks", Level::TRACE, Ignore),
            // Not this crate, only named like it.
            ("fedora_ci_fakes", Level::ERROR, Breadcrumb),
            ("fedora_ci_fakes", Level::INFO, Ignore),
            ("tower_http::trace::on_failure", Level::ERROR, Breadcrumb),
            ("sqlx::query", Level::WARN, Breadcrumb),
            ("sqlx::query", Level::INFO, Ignore),
            ("lapin::channel", Level::DEBUG, Ignore),
            ("sentry", Level::ERROR, Ignore),
            ("sentry_core::client", Level::ERROR, Ignore),
            ("sentry_tracing", Level::WARN, Ignore),
            ("reqwest::connect", Level::ERROR, Ignore),
            ("hyper::proto::h1::conn", Level::ERROR, Ignore),
            ("hyper_util::client::legacy::pool", Level::WARN, Ignore),
            ("h2::codec::framed_write", Level::ERROR, Ignore),
            ("native_tls", Level::ERROR, Ignore),
            ("rustls::client", Level::WARN, Ignore),
            ("tokio_util::codec::framed_impl", Level::ERROR, Ignore),
            ("want", Level::ERROR, Ignore),
            // Named like a transport crate, but another one.
            ("hyperscan", Level::ERROR, Breadcrumb),
            ("h2o", Level::WARN, Breadcrumb),
        ];
        for (target, level, route) in cases {
            assert_eq!(route_for(target, level), route, "{target} at {level}");
        }
    }

    /// Envelopes a Sentry client would send.
    #[derive(Default)]
    struct Recorded(Mutex<Vec<sentry::Envelope>>);

    impl sentry::Transport for Recorded {
        fn send_envelope(&self, envelope: sentry::Envelope) {
            self.0.lock().unwrap().push(envelope);
        }
    }

    fn events(recorded: &Recorded) -> Vec<sentry::protocol::Event<'static>> {
        recorded
            .0
            .lock()
            .unwrap()
            .iter()
            .flat_map(|envelope| envelope.items().cloned().collect::<Vec<_>>())
            .filter_map(|item| match item {
                EnvelopeItem::Event(event) => Some(*event),
                _ => None,
            })
            .collect()
    }

    /// The subscriber `init` installs, at `RUST_LOG=<rust_log>`, with a silent console and a
    /// recording Sentry client, runs `work`.
    fn with_sentry(rust_log: &str, work: impl FnOnce()) -> Arc<Recorded> {
        let recorded = Arc::new(Recorded::default());
        let mut options = sentry_options("dev");
        options.dsn = Some("http://public@127.0.0.1:9/1".parse().unwrap());
        options.transport = Some(Arc::new(recorded.clone()));
        let client = Arc::new(sentry::Client::from(options));
        let hub = Arc::new(sentry::Hub::new(
            Some(client),
            Arc::new(sentry::Scope::default()),
        ));
        let console = tracing_subscriber::fmt::layer()
            .with_writer(std::io::sink)
            .boxed();
        let subscriber = subscriber(console, EnvFilter::new(rust_log), true);
        tracing::subscriber::with_default(subscriber, || {
            // Another test's subscriber may have cached "nobody listens" for a call site.
            tracing::callsite::rebuild_interest_cache();
            sentry::Hub::run(hub, work);
        });
        recorded
    }

    #[test]
    fn at_trace_only_this_crates_errors_are_events_and_the_transport_is_unseen() {
        let recorded = with_sentry("trace", || {
            tracing::trace!("a trace line");
            tracing::debug!("a debug line");
            tracing::info!("starting");
            tracing::warn!("webhook with a wrong token");
            tracing::error!(target: "reqwest::connect", "transport error");
            tracing::warn!(target: "hyper_util::client", "transport warning");
            tracing::debug!(target: "sentry_core", "sending envelope");
            tracing::error!(target: "tower_http::trace::on_failure", "response failed");
            tracing::info!(target: "sqlx::query", "a query");
            tracing::error!("database error while answering a request");
        });
        let events = events(&recorded);
        assert_eq!(events.len(), 1, "{events:#?}");
        let event = &events[0];
        assert_eq!(
            event.message.as_deref(),
            Some("database error while answering a request")
        );
        let breadcrumbs: Vec<_> = event
            .breadcrumbs
            .values
            .iter()
            .map(|crumb| {
                (
                    crumb.category.as_deref().unwrap_or(""),
                    crumb.message.as_deref().unwrap_or(""),
                )
            })
            .collect();
        let here = module_path!();
        assert_eq!(
            breadcrumbs,
            [
                (here, "starting"),
                (here, "webhook with a wrong token"),
                ("tower_http::trace::on_failure", "response failed"),
            ]
        );
    }

    #[test]
    fn a_repeated_error_is_one_event() {
        let recorded = with_sentry("trace", || {
            for _ in 0..20 {
                tracing::error!(error = "relation does not exist", "database error");
            }
            tracing::error!("another error");
        });
        let messages: Vec<_> = events(&recorded)
            .into_iter()
            .map(|event| event.message.unwrap_or_default())
            .collect();
        assert_eq!(messages, ["database error", "another error"]);
    }

    #[test]
    fn a_quiet_console_does_not_silence_sentry() {
        let recorded = with_sentry("off", || {
            tracing::info!("starting");
            tracing::error!("the queue is stuck");
        });
        let events = events(&recorded);
        assert_eq!(events.len(), 1, "{events:#?}");
        assert_eq!(events[0].message.as_deref(), Some("the queue is stuck"));
        let breadcrumbs: Vec<_> = events[0]
            .breadcrumbs
            .values
            .iter()
            .filter_map(|crumb| crumb.message.as_deref())
            .collect();
        assert_eq!(breadcrumbs, ["starting"]);
    }
}

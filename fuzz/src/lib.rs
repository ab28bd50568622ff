//! What each fuzz target checks. `fuzz_targets/*.rs` hand the fuzzer's bytes to these
//! functions, and `tests/fuzz_regressions.rs` includes this file to run every seed and every
//! input the fuzzer once broke the service with under plain `cargo test`.
//!
//! Each check feeds bytes from outside to one parser of the service, as the service would,
//! and panics when an invariant fails; a panic inside the parser is a finding too. Nothing
//! here may be nondeterministic: a failure has to reproduce from the saved input alone.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::DateTime;
use fedora_ci::clients::koji::xmlrpc;
use fedora_ci::config::Config;
use fedora_ci::events::{self, Event, Identity, Parsed, Relevance, Skip, envelope};
use fedora_ci::helpers::commands::{self, Command, CommentParse, TargetChoice};
use fedora_ci::intake::{self, Incoming, Origin, Verdict};

/// What a fuzz target checks: it panics when the input breaks an invariant.
pub type Check = fn(&[u8]);

/// Every fuzz target by name, as `cargo fuzz run <name>` and the regression directories
/// `tests/fuzz_regressions/<name>/` call it.
pub const TARGETS: &[(&str, Check)] = &[
    ("message", message),
    ("envelope", envelope),
    ("testing_farm_webhook", testing_farm_webhook),
    ("comment_command", comment_command),
    ("xmlrpc_response", xmlrpc_response),
    ("xmlrpc_call", xmlrpc_call),
    ("config", config),
];

/// Our identity on the bus in every check: the production prefix, FAS and Koji user `packit`
/// (the owner of the scratch builds in the seed messages).
const TOPIC_PREFIX: &str = "org.fedoraproject.prod";
const OUR_USER: &str = "packit";
const CI_NAMESPACES: [&str; 2] = ["rpms", "tests"];

/// Errors about outside input go to logs and the database; whatever the input's size, their
/// own text stays below this.
const MAX_ERROR_CHARS: usize = 500;

/// The comment prefix the checks use; the default of `comment_command_prefix`.
const COMMAND_PREFIX: &str = "/fedora-ci";

fn identity() -> Identity {
    Identity::new(TOPIC_PREFIX, OUR_USER)
}

/// A delivery from the bus: the routing key on the first line, the body after it. AMQP
/// headers are not an input here: the listener stores them as they are and reads none.
pub fn message(data: &[u8]) {
    let (topic, body) = match data.iter().position(|&byte| byte == b'\n') {
        Some(end) => (&data[..end], &data[end + 1..]),
        None => (data, &[][..]),
    };
    check_message(&String::from_utf8_lossy(topic), body, Origin::Bus);
}

/// A file of stored messages, as `fedora-ci replay` and `process` read it.
pub fn envelope(data: &[u8]) {
    let Ok(messages) = envelope::decode(data, None) else {
        return;
    };
    for message in messages {
        assert!(
            serde_json::from_slice::<serde_json::Value>(&message.body).is_ok(),
            "a decoded body is not JSON: {:?}",
            String::from_utf8_lossy(&message.body)
        );
        check_message(&message.topic, &message.body, Origin::File);
    }
}

/// A body POSTed to the Testing Farm webhook, after the token check.
pub fn testing_farm_webhook(data: &[u8]) {
    check_message(events::TESTING_FARM_RESULTS_TOPIC, data, Origin::Webhook);
    if let Ok(Some(Event::TestingFarmResult(notification))) =
        events::parse(events::TESTING_FARM_RESULTS_TOPIC, data)
    {
        let shown = notification.request_id.to_string();
        assert_eq!(
            uuid::Uuid::try_parse(&shown).ok(),
            Some(notification.request_id.0),
            "a request id does not read back from its URL form {shown:?}"
        );
    }
}

/// Intake's verdict on one message from `origin` agrees with prefilter and parse.
fn check_message(topic: &str, body: &[u8], origin: Origin) {
    let identity = identity();
    let relevance = events::prefilter(topic, body, &identity);
    let parsed = events::parse_with_reason(topic, body);
    let incoming = Incoming {
        message_id: None,
        topic: topic.to_owned(),
        headers: serde_json::json!({}),
        body: body.to_vec(),
        received_at: DateTime::UNIX_EPOCH,
    };
    let verdict = intake::classify(&incoming, &identity, origin);
    assert!(incoming.id().starts_with("sha256:"));

    // A Testing Farm notification is taken only from the webhook (or a file of stored
    // messages), without the bus prefilter; from the bus it is refused.
    let notification =
        events::Topic::from_full_topic(topic) == Some(events::Topic::TestingFarmResults);
    let prefiltered = !notification || origin == Origin::Bus;
    let expected = match (&relevance, &parsed) {
        _ if notification && origin == Origin::Bus => match &verdict {
            Verdict::Reject(reason) if reason.contains("only from the webhook") => verdict.clone(),
            other => panic!("a notification from the bus was not refused: {other:?}"),
        },
        (Relevance::Irrelevant(skip), _) if prefiltered => Verdict::Irrelevant(skip.clone()),
        _ if body.len() > intake::MAX_BODY_BYTES => match &verdict {
            Verdict::Reject(_) => verdict.clone(),
            other => panic!("an oversized body was not refused: {other:?}"),
        },
        (_, Ok(Parsed::Event(_))) => Verdict::Accept,
        (_, Ok(Parsed::Ignored(skip))) => Verdict::Irrelevant(skip.clone()),
        (_, Err(error)) => Verdict::Reject(error.to_string()),
    };
    assert_eq!(
        verdict, expected,
        "intake disagrees with prefilter and parse"
    );

    match &parsed {
        Ok(Parsed::Event(event)) => {
            check_event(event);
            check_prefilter_agrees(topic, &relevance, event);
        }
        Ok(Parsed::Ignored(skip)) => {
            let _ = skip.to_string();
        }
        Err(error) => {
            let reason = error.to_string();
            assert!(
                reason.starts_with(topic),
                "a parse error does not name the topic: {reason}"
            );
            // The reason is logged and stored with the message: it quotes, never copies.
            assert!(
                reason.chars().count() <= topic.chars().count() + MAX_ERROR_CHARS,
                "a parse error of {} characters",
                reason.chars().count()
            );
        }
    }
    if let Relevance::Irrelevant(skip) = &relevance {
        let _ = skip.to_string();
    }
}

/// What the service does with every event at once: describe it and serialize it.
fn check_event(event: &Event) {
    assert!(!fedora_ci::jobs::describe(event).is_empty());
    if let Err(error) = serde_json::to_string(event) {
        panic!("an event does not serialize: {error}");
    }
}

/// The prefilter reads a few fields straight from the body; the full parse reads them through
/// a JSON value. Whatever the bytes, the two must not disagree: the prefilter may never drop a
/// message that the parse would act on, and the reason it gives must be the parsed one.
fn check_prefilter_agrees(topic: &str, relevance: &Relevance, event: &Event) {
    let under_our_prefix = topic
        .strip_prefix(TOPIC_PREFIX)
        .and_then(|rest| rest.strip_prefix('.'))
        .is_some_and(|name| events::Topic::from_name(name).is_some());
    match relevance {
        Relevance::Relevant => {}
        Relevance::Irrelevant(Skip::KojiTaskOfOtherOwner { owner }) => {
            let Event::KojiTaskStateChanged(change) = event else {
                panic!("a Koji owner skip for {event:?}");
            };
            assert_eq!(&change.owner, owner, "prefilter read another owner");
        }
        Relevance::Irrelevant(Skip::OwnComment { author }) => {
            let Event::PullRequestComment(comment) = event else {
                panic!("an own-comment skip for {event:?}");
            };
            assert_eq!(
                &comment.pull_request.actor, author,
                "prefilter read another author"
            );
        }
        Relevance::Irrelevant(Skip::NamespaceWithoutCi { namespace }) => {
            assert_eq!(
                target_namespace(event),
                Some(namespace),
                "prefilter read another namespace"
            );
        }
        Relevance::Irrelevant(_) => {}
    }
    if under_our_prefix && wanted_by_us(event) {
        assert_eq!(
            relevance,
            &Relevance::Relevant,
            "prefilter dropped a message Fedora CI acts on: {event:?}"
        );
    }
}

fn target_namespace(event: &Event) -> Option<&Option<String>> {
    match event {
        Event::PullRequestOpened(pr)
        | Event::PullRequestSynchronized {
            pull_request: pr, ..
        } => Some(&pr.target_repo.namespace),
        Event::PullRequestComment(comment) => Some(&comment.pull_request.target_repo.namespace),
        Event::PullRequestClosed(closed) => Some(&closed.target_repo.namespace),
        _ => None,
    }
}

/// Whether the prefilter's own rules keep `event`.
fn wanted_by_us(event: &Event) -> bool {
    let in_ci_namespace = |namespace: &Option<String>| {
        namespace
            .as_deref()
            .is_some_and(|name| CI_NAMESPACES.contains(&name))
    };
    match event {
        Event::KojiTaskStateChanged(change) => change.owner.as_deref() == Some(OUR_USER),
        Event::PullRequestComment(comment) => {
            comment.pull_request.actor != OUR_USER
                && in_ci_namespace(&comment.pull_request.target_repo.namespace)
        }
        Event::LogDetectiveResult(_) | Event::TestingFarmResult(_) => true,
        other => target_namespace(other).is_some_and(in_ci_namespace),
    }
}

/// A pull-request comment, as the comment handler parses it.
pub fn comment_command(data: &[u8]) {
    // Comments arrive as JSON strings, so they are always UTF-8.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let tests = fedora_ci::helpers::testing_farm::default_tests();
    let known_tests: Vec<&str> = tests.iter().map(|test| test.name.as_str()).collect();
    let parsed = commands::parse_comment(COMMAND_PREFIX, text, &known_tests);

    // A line starting with the prefix and holding something after it (a bare prefix is
    // ignored, as packit-service ignores it).
    let addresses_us = text.split('\n').any(|line| {
        let mut words = line.split_whitespace();
        words.next() == Some(COMMAND_PREFIX) && words.next().is_some()
    });
    assert_eq!(
        parsed != CommentParse::NotACommand,
        addresses_us,
        "whether the comment addresses us: {parsed:?}"
    );
    match parsed {
        CommentParse::NotACommand => {}
        CommentParse::SyntaxError(why) => {
            assert!(
                !why.contains(char::is_control),
                "a syntax error carries control characters into the logs: {why:?}"
            );
            // Quoted tokens are cut to 60 characters, each escaped to at most 10.
            assert!(
                why.chars().count() <= 700,
                "a syntax error quotes too much: {} characters",
                why.chars().count()
            );
        }
        CommentParse::Command(command) => {
            if let Command::Test {
                test, failed_only, ..
            } = &command
            {
                if let Some(name) = test {
                    assert!(
                        known_tests.contains(&name.as_str()),
                        "unknown test {name:?}"
                    );
                }
                assert!(
                    !(*failed_only && test.is_some()),
                    "--failed with a test name"
                );
            }
            let written = render_command(&command);
            assert_eq!(
                commands::parse_comment(COMMAND_PREFIX, &written, &known_tests),
                CommentParse::Command(command),
                "the command written out as {written:?} reads differently"
            );
        }
    }
}

/// `command` as a packager would type it.
fn render_command(command: &Command) -> String {
    let target = |target: &Option<TargetChoice>| match target {
        Some(TargetChoice::Eln) => " --target eln",
        Some(TargetChoice::Rawhide) => " --target rawhide",
        None => "",
    };
    match command {
        Command::Help => format!("{COMMAND_PREFIX} help"),
        Command::ScratchBuild { target: choice } => {
            format!("{COMMAND_PREFIX} scratch-build{}", target(choice))
        }
        Command::Test {
            test,
            target: choice,
            failed_only,
        } => format!(
            "{COMMAND_PREFIX} test{}{}{}",
            test.as_deref()
                .map(|name| format!(" {name}"))
                .unwrap_or_default(),
            target(choice),
            if *failed_only { " --failed" } else { "" }
        ),
    }
}

/// A Koji hub's answer, read as the Koji client reads it (the HTTP body decoded leniently).
pub fn xmlrpc_response(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    match xmlrpc::decode_response(&text) {
        Err(error) => assert_error_is_brief(&error),
        Ok(Ok(value)) => {
            // What the client read must survive being written and read again: the fake hub
            // answers with exactly this encoder.
            let written = match xmlrpc::encode_response(&value) {
                Ok(written) => written,
                Err(error) => panic!("a decoded value cannot be encoded again: {error}"),
            };
            match xmlrpc::decode_response(&written) {
                Ok(Ok(again)) => assert_eq!(again, value, "the value changed in {written}"),
                other => panic!("{written} reads back as {other:?}"),
            }
        }
        Ok(Err(fault)) => {
            let written = match xmlrpc::encode_fault(fault.code(), fault.string()) {
                Ok(written) => written,
                Err(error) => panic!("a decoded fault cannot be encoded again: {error}"),
            };
            match xmlrpc::decode_response(&written) {
                Ok(Err(again)) => assert_eq!(
                    (again.code(), again.string()),
                    (fault.code(), fault.string()),
                    "the fault changed in {written}"
                ),
                other => panic!("{written} reads back as {other:?}"),
            }
        }
    }
}

fn assert_error_is_brief(error: &xmlrpc::XmlRpcError) {
    let text = error.to_string();
    assert!(
        text.chars().count() <= MAX_ERROR_CHARS,
        "an XML-RPC error of {} characters: {}…",
        text.chars().count(),
        text.chars().take(200).collect::<String>()
    );
}

/// A method call, as the fake Koji hub reads what the client sends.
pub fn xmlrpc_call(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let call = match xmlrpc::decode_call(text) {
        Ok(call) => call,
        Err(error) => return assert_error_is_brief(&error),
    };
    let written = match xmlrpc::encode_call(&call.method, &call.args, &call.kwargs) {
        Ok(written) => written,
        Err(error) => panic!("a decoded call cannot be encoded again: {error}"),
    };
    match xmlrpc::decode_call(&written) {
        Ok(again) => assert_eq!(again, call, "the call changed in {written}"),
        Err(error) => panic!("{written} does not read back: {error}"),
    }
}

/// A configuration file and `FEDORA_CI_*` variables, as `Config::load` reads them. The input
/// is the file's text, then optionally a NUL byte and one `KEY=value` variable per line (the
/// `FEDORA_CI_` prefix is added to each key).
pub fn config(data: &[u8]) {
    let (file, variables) = match data.iter().position(|&byte| byte == 0) {
        Some(end) => (&data[..end], &data[end + 1..]),
        None => (data, &[][..]),
    };
    let variables: Vec<(String, String)> = String::from_utf8_lossy(variables)
        .lines()
        .map(|line| {
            let (key, value) = line.split_once('=').unwrap_or((line, ""));
            (format!("FEDORA_CI_{key}"), value.to_owned())
        })
        .collect();
    if !secret_files_are_harmless(file, &variables) {
        return;
    }
    let path = ScratchFile::new(file);
    let Ok(config) = Config::load(Some(path.path()), variables) else {
        return;
    };
    check_redacted_rendering(&config);
}

/// `check-config` prints the configuration with secrets hidden: every secret must be hidden,
/// and what it prints must load again into a configuration that prints the same.
fn check_redacted_rendering(config: &Config) {
    let shown = config.to_redacted_toml();
    let table: toml::Table = match shown.parse() {
        Ok(table) => table,
        Err(error) => panic!("check-config printed TOML that does not parse: {error}\n{shown}"),
    };
    for (key, secret) in [
        ("pagure_token", &config.pagure_token),
        ("testing_farm_secret", &config.testing_farm_secret),
        ("logdetective_token", &config.logdetective_token),
        ("sentry_dsn", &config.sentry_dsn),
    ] {
        if secret.is_some() {
            assert_eq!(
                table.get(key).and_then(toml::Value::as_str),
                Some("[redacted]"),
                "{key} is shown"
            );
        }
    }
    // Where a URL is shown, its password is not. (The same text may rightly stand in a field
    // that is no secret, such as another URL's user name.)
    let shown_amqp_url = table
        .get("messaging")
        .and_then(|messaging| messaging.get("amqp_url"));
    let urls = [
        (
            "database_url",
            config.database_url.expose(),
            table.get("database_url"),
        ),
        (
            "amqp_url",
            config.messaging.amqp_url.expose(),
            shown_amqp_url,
        ),
    ];
    for (key, url, shown_url) in urls {
        let shown_url = shown_url.and_then(toml::Value::as_str).unwrap_or_default();
        if let Some(password) = url_password(url) {
            assert!(!shown_url.contains(password), "the {key} password is shown");
        }
    }
    let again = match Config::from_toml(&shown) {
        Ok(again) => again,
        Err(error) => {
            panic!("check-config printed a configuration that does not load: {error}\n{shown}")
        }
    };
    assert_eq!(again.to_redacted_toml(), shown, "printing is not stable");
}

/// The password of `scheme://user:password@host/…`, when it is long enough to be told apart
/// from the rest of the text.
fn url_password(url: &str) -> Option<&str> {
    let (_, rest) = url.split_once("://")?;
    let authority = &rest[..rest.find('/').unwrap_or(rest.len())];
    let (userinfo, _) = authority.rsplit_once('@')?;
    let (_, password) = userinfo.split_once(':')?;
    (password.len() >= 12 && !password.contains("redacted")).then_some(password)
}

/// The loader reads `<secret>_file` paths. A fuzzer could name `/dev/zero` or a pipe there, so
/// only paths that do not exist or are small regular files are let through.
fn secret_files_are_harmless(file: &[u8], variables: &[(String, String)]) -> bool {
    let harmless = |path: &str| match std::fs::metadata(path) {
        Err(_) => true,
        Ok(metadata) => metadata.is_file() && (1..=1 << 20).contains(&metadata.len()),
    };
    let from_env = variables
        .iter()
        .filter(|(key, _)| key.to_lowercase().ends_with("_file"))
        .all(|(_, value)| harmless(value));
    let from_file = match std::str::from_utf8(file)
        .ok()
        .map(str::parse::<toml::Table>)
    {
        Some(Ok(table)) => file_keys_are_harmless(&table, &harmless),
        // The loader stops at a syntax error before reading any secret file.
        _ => true,
    };
    from_env && from_file
}

fn file_keys_are_harmless(table: &toml::Table, harmless: &dyn Fn(&str) -> bool) -> bool {
    table.iter().all(|(key, value)| match value {
        toml::Value::Table(inner) => file_keys_are_harmless(inner, harmless),
        toml::Value::String(path) if key.to_lowercase().ends_with("_file") => harmless(path),
        _ => true,
    })
}

/// A file that `Config::load` can read, removed when dropped.
struct ScratchFile(PathBuf);

impl ScratchFile {
    fn new(content: &[u8]) -> ScratchFile {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let path = std::env::temp_dir().join(format!(
            "fedora-ci-fuzz-config-{}-{}.toml",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        if let Err(error) = std::fs::write(&path, content) {
            panic!("cannot write {}: {error}", path.display());
        }
        ScratchFile(path)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for ScratchFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

//! `fedora-ci process` and `fedora-ci replay`: messages from files, through the same intake
//! as the listener. Files may hold a bare body with a `topic` key (packit-service's test data),
//! fedora-messaging dumps (JSON or JSON lines) or datagrepper output.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use chrono::Utc;
use serde_json::{Value, json};

use crate::context::Context;
use crate::db::{Store, inbound};
use crate::events::{self, Identity, envelope};
use crate::intake::{self, Incoming, Origin, Verdict};
use crate::jobs::{self, ProcessMessage};
use crate::tasks::BackgroundTask;

/// Reads every message in `path`.
pub fn read_messages(path: &Path) -> anyhow::Result<Vec<Incoming>> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let decoded =
        envelope::decode(&bytes, None).with_context(|| format!("decoding {}", path.display()))?;
    Ok(decoded
        .into_iter()
        .map(|message| Incoming {
            message_id: message.id,
            topic: message.topic,
            headers: Value::Object(message.headers),
            body: message.body,
            received_at: Utc::now(),
        })
        .collect())
}

/// What `process --dry-run` prints for one message: the verdict, the event, the tasks.
pub fn plan(message: &Incoming, identity: &Identity) -> Value {
    let verdict = intake::classify(message, identity, intake::Origin::File);
    let (verdict_text, reason) = match &verdict {
        Verdict::Accept => ("accept", None),
        Verdict::Irrelevant(skip) => ("irrelevant", Some(skip.to_string())),
        Verdict::Reject(reason) => ("reject", Some(reason.clone())),
    };
    let event = match verdict {
        Verdict::Accept => events::parse(&message.topic, &message.body).ok().flatten(),
        _ => None,
    };
    let tasks: Vec<&str> = if event.is_some() {
        vec![ProcessMessage::NAME]
    } else {
        Vec::new()
    };
    json!({
        "topic": message.topic,
        "message_id": message.id(),
        "verdict": verdict_text,
        "reason": reason,
        "event": event.as_ref().map(|event| json!({
            "summary": jobs::describe(event),
            "detail": event,
        })),
        "tasks": tasks,
    })
}

/// `process --dry-run` found work it could not finish (see [`dry_run`]); the command exits
/// with [`Incomplete::EXIT_CODE`] unless `--allow-incomplete` is given.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Incomplete(pub String);

impl Incomplete {
    /// The exit code of a dry run that could not plan everything.
    pub const EXIT_CODE: u8 = 2;
}

/// `process --dry-run`: runs the messages of `file` through intake and every handler in shadow
/// mode, on a throwaway SQLite database, and returns what would happen: each message's
/// verdict and every call the service would make (Koji `build`, Testing Farm payloads, Pagure
/// flags and comments). Reads (pull requests, files, ELN lists) go to the configured services.
///
/// Messages run one after the other, so that each message's `incomplete` lists the tasks it
/// caused that did not finish: failed (dead) or left for a retry, with the error that stopped
/// them. A dry run does not wait for retries.
pub async fn dry_run(config: &crate::config::Config, file: &Path) -> anyhow::Result<Value> {
    let messages = read_messages(file)?;
    let database = ThrowawayDatabase(
        std::env::temp_dir().join(format!("fedora-ci-dry-run-{}.db", uuid::Uuid::new_v4())),
    );
    let mut config = config.clone();
    config.dry_run = Some(true);
    config.database_url = crate::secret::Secret::new(format!("sqlite://{}", database.0.display()));
    let store = Store::connect(config.database_url.expose(), &Default::default()).await?;
    // A dry run can wait long on a slow service; interrupted, it still removes its database.
    let result = tokio::select! {
        result = dry_run_on(&store, config, &messages) => result,
        signal = crate::roles::wait_for_signal() => {
            Err(anyhow::anyhow!("the dry run was interrupted ({signal})"))
        }
    };
    store.close().await;
    result
}

/// The dry run's SQLite files, removed however the run ends: an error, a panic that unwinds,
/// SIGINT or SIGTERM.
struct ThrowawayDatabase(std::path::PathBuf);

impl Drop for ThrowawayDatabase {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.0.display()));
        }
    }
}

async fn dry_run_on(
    store: &Store,
    config: crate::config::Config,
    messages: &[Incoming],
) -> anyhow::Result<Value> {
    store.migrate().await?;
    let identity = intake::identity(&config);
    let ctx = Context::new(store.clone(), std::sync::Arc::new(config))?;
    let shutdown = tokio_util::sync::CancellationToken::new();
    let runner = start_runner(store, ctx, shutdown.clone());
    let mut reported = std::collections::BTreeSet::new();
    let mut plans = Vec::with_capacity(messages.len());
    let mut failure = None;
    for message in messages {
        let step = async {
            intake::store_batch(
                store,
                &identity,
                std::slice::from_ref(message),
                Origin::File,
            )
            .await?;
            wait_until_idle(store).await?;
            unfinished(store, &mut reported).await
        };
        match step.await {
            Ok(incomplete) => {
                let mut plan = plan(message, &identity);
                plan["incomplete"] = Value::Array(incomplete);
                plans.push(plan);
            }
            Err(error) => {
                failure = Some(error);
                break;
            }
        }
    }
    shutdown.cancel();
    runner.wait().await;
    if let Some(error) = failure {
        return Err(error);
    }
    let calls = crate::db::flags::calls(store, None).await?;
    let calls: Vec<Value> = calls
        .iter()
        .map(|call| json!({"service": call.service, "call": call.call, "request": call.request.0}))
        .collect();
    Ok(json!({"messages": plans, "calls": calls}))
}

/// One line about the unfinished work of a dry run's output, if there is any.
pub fn incomplete_summary(output: &Value) -> Option<String> {
    let messages = output["messages"].as_array()?;
    let unfinished: Vec<&Value> = messages
        .iter()
        .filter_map(|message| message["incomplete"].as_array())
        .flatten()
        .collect();
    let first = unfinished.first()?;
    let affected = messages
        .iter()
        .filter(|message| {
            message["incomplete"]
                .as_array()
                .is_some_and(|tasks| !tasks.is_empty())
        })
        .count();
    let reason: String = first["reason"]
        .as_str()
        .unwrap_or_default()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let reason = match reason.char_indices().nth(300) {
        Some((cut, _)) => format!("{}…", &reason[..cut]),
        None => reason,
    };
    Some(format!(
        "the dry run could not finish {} task{} of {} message{} (first: {}: {}); see \"incomplete\" in the output, or pass --allow-incomplete",
        unfinished.len(),
        if unfinished.len() == 1 { "" } else { "s" },
        affected,
        if affected == 1 { "" } else { "s" },
        first["task"].as_str().unwrap_or("?"),
        reason,
    ))
}

fn start_runner(
    store: &Store,
    ctx: Context,
    shutdown: tokio_util::sync::CancellationToken,
) -> crate::tasks::RunHandle {
    let settings = crate::tasks::RunnerSettings {
        poll_interval: std::time::Duration::from_millis(20),
        ..Default::default()
    };
    let runner =
        crate::tasks::Runner::new(store.clone(), ctx, settings).register::<ProcessMessage>();
    crate::handlers::register(runner)
        .queue(crate::tasks::queues::SHORT, 4)
        .queue(crate::tasks::queues::LONG, 4)
        .start(shutdown)
}

/// Waits until no task is due or running (tasks scheduled for later stay), two minutes at
/// most.
async fn wait_until_idle(store: &Store) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(120);
    let mut idle = 0;
    while idle < 3 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let counts = crate::db::tasks::counts(store, Utc::now()).await?;
        let busy: i64 = counts.iter().map(|count| count.ready + count.running).sum();
        idle = if busy == 0 { idle + 1 } else { 0 };
    }
    Ok(())
}

/// The tasks not reported yet that did not finish: dead, left for a retry (pending with an
/// error), or still running or due when the wait ended.
async fn unfinished(
    store: &Store,
    reported: &mut std::collections::BTreeSet<i64>,
) -> anyhow::Result<Vec<Value>> {
    const LIMIT: i64 = 10_000;
    let now = Utc::now();
    let mut rows = Vec::new();
    for state in ["dead", "pending", "running"] {
        rows.extend(crate::db::tasks::list_by_state(store, state, LIMIT).await?);
    }
    rows.sort_by_key(|row| row.id);
    let mut incomplete = Vec::new();
    for row in rows {
        let (state, reason) = match (row.state.as_str(), &row.last_error) {
            ("dead", error) => (
                "failed",
                error.clone().unwrap_or_else(|| "gave up".to_owned()),
            ),
            ("pending", Some(error)) => ("left for retry", error.clone()),
            ("pending", None) if row.run_at <= now => (
                "not started",
                "still due when the dry run stopped waiting".to_owned(),
            ),
            ("running", error) => (
                "unfinished",
                error
                    .clone()
                    .unwrap_or_else(|| "still running when the dry run stopped waiting".to_owned()),
            ),
            // Scheduled for later on purpose (e.g. a periodic task): not a failure.
            _ => continue,
        };
        if !reported.insert(row.id) {
            continue;
        }
        incomplete.push(json!({
            "task": task_label(&row.name),
            "name": row.name,
            "state": state,
            "attempts": row.attempts,
            "reason": reason,
        }));
    }
    Ok(incomplete)
}

/// The Rust name of a task (`KojiScratchBuild`) from its stored name
/// (`run_downstream_koji_scratch_build_handler`); the stored name if it is not known here.
pub fn task_label(name: &str) -> String {
    use crate::handlers::{comment, koji, logdetective, report, superseded, testing_farm};
    fn short<T>() -> String {
        let full = std::any::type_name::<T>();
        full.rsplit("::").next().unwrap_or(full).to_owned()
    }
    macro_rules! label {
        ($($task:ty),* $(,)?) => {
            $(
                if name == <$task as BackgroundTask>::NAME {
                    return short::<$task>();
                }
            )*
        };
    }
    label!(
        ProcessMessage,
        comment::CommentCommand,
        koji::KojiScratchBuild,
        koji::KojiTaskReport,
        testing_farm::TestingFarmSubmit,
        testing_farm::TestingFarmResults,
        testing_farm::TestingFarmPoll,
        logdetective::LogDetectiveSubmit,
        logdetective::LogDetectiveResults,
        superseded::CancelSuperseded,
        report::SetFlag,
        report::ReplyToComment,
    );
    name.to_owned()
}

/// Stores the messages of `files` as the listener would; returns how many were accepted.
pub async fn replay(
    store: &Store,
    identity: &Identity,
    files: &[PathBuf],
) -> anyhow::Result<intake::IntakeReport> {
    let mut total = intake::IntakeReport::default();
    for file in files {
        let messages = read_messages(file)?;
        for chunk in messages.chunks(500) {
            let report = intake::store_batch(store, identity, chunk, Origin::File).await?;
            total.accepted += report.accepted;
            total.rejected += report.rejected;
            total.irrelevant += report.irrelevant;
            total.duplicates += report.duplicates;
        }
    }
    Ok(total)
}

/// Stores the messages of `file` and processes them at once, in this process; prints one
/// JSON line per message with its outcome.
pub async fn process(
    ctx: &Context,
    identity: &Identity,
    file: &Path,
) -> anyhow::Result<Vec<Value>> {
    let mut results = Vec::new();
    for message in read_messages(file)? {
        intake::store_batch(
            &ctx.store,
            identity,
            std::slice::from_ref(&message),
            Origin::File,
        )
        .await?;
        let id = message.id();
        let Some(row) = inbound::get_by_message_id(&ctx.store, &id).await? else {
            results.push(plan(&message, identity));
            continue;
        };
        if row.outcome == inbound::PENDING {
            ProcessMessage { inbound_id: row.id }.run(ctx).await?;
        }
        let row = inbound::get(&ctx.store, row.id).await?.unwrap_or(row);
        results.push(json!({
            "topic": row.topic,
            "message_id": row.message_id,
            "outcome": row.outcome,
            "reason": row.reason,
        }));
    }
    Ok(results)
}

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
use crate::intake::{self, Incoming, Verdict};
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
    let verdict = intake::classify(message, identity);
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

/// `process --dry-run`: runs the messages of `file` through intake and every handler in shadow
/// mode, on a throwaway SQLite database, and returns what would happen: each message's
/// verdict and every call the service would make (Koji `build`, Testing Farm payloads, Pagure
/// flags and comments). Reads (pull requests, files, ELN lists) go to the configured services.
pub async fn dry_run(config: &crate::config::Config, file: &Path) -> anyhow::Result<Value> {
    let database =
        std::env::temp_dir().join(format!("fedora-ci-dry-run-{}.db", uuid::Uuid::new_v4()));
    let mut config = config.clone();
    config.dry_run = Some(true);
    config.database_url = crate::config::Secret::new(format!("sqlite://{}", database.display()));
    let store = Store::connect(config.database_url.expose(), &Default::default()).await?;
    store.migrate().await?;
    let identity = intake::identity(&config);
    let messages = read_messages(file)?;
    intake::store_batch(&store, &identity, &messages).await?;
    let ctx = Context::new(store.clone(), std::sync::Arc::new(config))?;
    drain(&store, ctx).await?;
    let calls = crate::db::flags::calls(&store, None).await?;
    let calls: Vec<Value> = calls
        .iter()
        .map(|call| json!({"service": call.service, "call": call.call, "request": call.request.0}))
        .collect();
    let messages: Vec<Value> = messages
        .iter()
        .map(|message| plan(message, &identity))
        .collect();
    store.close().await;
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", database.display()));
    }
    Ok(json!({"messages": messages, "calls": calls}))
}

/// Runs every task that is due until none is left (tasks scheduled for later stay).
async fn drain(store: &Store, ctx: Context) -> anyhow::Result<()> {
    let settings = crate::tasks::RunnerSettings {
        poll_interval: std::time::Duration::from_millis(20),
        ..Default::default()
    };
    let shutdown = tokio_util::sync::CancellationToken::new();
    let runner =
        crate::tasks::Runner::new(store.clone(), ctx, settings).register::<ProcessMessage>();
    let handle = crate::handlers::register(runner)
        .queue(crate::tasks::queues::SHORT, 4)
        .queue(crate::tasks::queues::LONG, 4)
        .start(shutdown.clone());
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(120);
    let mut idle = 0;
    while idle < 3 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let counts = crate::db::tasks::counts(store, Utc::now()).await?;
        let busy: i64 = counts.iter().map(|count| count.ready + count.running).sum();
        idle = if busy == 0 { idle + 1 } else { 0 };
    }
    shutdown.cancel();
    handle.wait().await;
    Ok(())
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
            let report = intake::store_batch(store, identity, chunk).await?;
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
        intake::store_batch(&ctx.store, identity, std::slice::from_ref(&message)).await?;
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

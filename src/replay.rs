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

//! Intake: what the listener, the Testing Farm webhook and replay do with a message before
//! any handler sees it. Irrelevant messages are dropped without touching the database; the
//! rest are stored (keyed by message id, so a redelivery adds nothing) together with their
//! processing task, in one transaction. Only after that commit may a message be acknowledged.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use crate::db::inbound::{self, NewInbound};
use crate::db::{DbError, Store, storable_json, storable_text};
use crate::events::{self, Identity, Parsed, Relevance, ServedForgejo, Skip, Topic};
use crate::jobs::ProcessMessage;
use crate::metrics;
use crate::tasks::{self, EnqueueError};

/// A message as it arrived.
#[derive(Debug, Clone)]
pub struct Incoming {
    /// The publisher's message id; without one, an id is derived from topic and body, so that
    /// a redelivery of the same bytes is still recognised.
    pub message_id: Option<String>,
    pub topic: String,
    pub headers: serde_json::Value,
    pub body: Vec<u8>,
    pub received_at: DateTime<Utc>,
}

impl Incoming {
    pub fn id(&self) -> String {
        match &self.message_id {
            Some(id) if !id.is_empty() => id.clone(),
            _ => {
                let mut hash = Sha256::new();
                hash.update(self.topic.as_bytes());
                hash.update([0]);
                hash.update(&self.body);
                format!("sha256:{}", hex::encode(hash.finalize()))
            }
        }
    }
}

/// What intake decides for one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Not for Fedora CI: dropped before any database work.
    Irrelevant(Skip),
    /// Stored and queued for processing.
    Accept,
    /// On one of our topics but malformed: stored with the reason, never processed.
    Reject(String),
}

/// Largest body parsed. The biggest real messages (a Pagure pull request with its whole
/// comment history) are well under 1 MiB; anything much larger is refused before parsing.
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// How much of a refused oversized body is kept, for diagnosis.
pub const STORED_OVERSIZED_PREFIX_BYTES: usize = 64 * 1024;

/// Where a message came from, which decides what it may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// fedora-messaging: whoever may publish there. Never a Testing Farm notification, which
    /// only the webhook, with its token, may hand over.
    Bus,
    /// The Testing Farm webhook, its token checked.
    Webhook,
    /// A file an operator gives (`process`, `replay`): stored messages of either origin.
    File,
}

/// Decides what to do with `message`; no I/O.
pub fn classify(message: &Incoming, identity: &Identity, origin: Origin) -> Verdict {
    let is_notification = Topic::from_full_topic(&message.topic) == Some(Topic::TestingFarmResults);
    match origin {
        Origin::Bus if is_notification => {
            return Verdict::Reject(format!(
                "{}: Testing Farm notifications are taken only from the webhook, with its \
                 token, never from the bus",
                message.topic
            ));
        }
        // Webhook notifications come over HTTP, not the bus: no bus prefilter applies.
        Origin::Webhook | Origin::File if is_notification => {}
        _ => {
            if let Relevance::Irrelevant(skip) =
                events::prefilter(&message.topic, &message.body, identity)
            {
                return Verdict::Irrelevant(skip);
            }
        }
    }
    if message.body.len() > MAX_BODY_BYTES {
        return Verdict::Reject(format!(
            "{}: body is {} bytes, more than the {MAX_BODY_BYTES} bytes accepted \
             (only its first {STORED_OVERSIZED_PREFIX_BYTES} bytes are kept)",
            message.topic,
            message.body.len()
        ));
    }
    match events::parse_with_reason(&message.topic, &message.body) {
        Ok(Parsed::Event(event)) => match event.forge().and_then(|forge| {
            event
                .dist_git_urls()
                .into_iter()
                .find_map(|url| identity.foreign_url(forge, url))
        }) {
            Some(reason) => Verdict::Reject(format!("{}: {reason}", message.topic)),
            None => Verdict::Accept,
        },
        Ok(Parsed::Ignored(skip)) => Verdict::Irrelevant(skip),
        Err(error) => Verdict::Reject(error.to_string()),
    }
}

/// Who this instance is on the bus, from the configuration.
pub fn identity(config: &crate::config::Config) -> Identity {
    let identity = Identity::new(
        config.messaging.topic_prefix.clone(),
        config.fas_user.clone().unwrap_or_default(),
    )
    .serving(config.dist_git_url.clone());
    match &config.forgejo {
        Some(forgejo) => identity.serving_forgejo(ServedForgejo {
            web_url: forgejo.web_url.clone(),
            own_logins: forgejo.own_logins.clone(),
        }),
        None => identity,
    }
}

/// What [`store_batch`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IntakeReport {
    pub accepted: usize,
    pub rejected: usize,
    pub irrelevant: usize,
    /// Already stored before (a redelivery).
    pub duplicates: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Enqueue(#[from] EnqueueError),
}

/// The text stored for a body: its storable prefix, as text the database accepts.
fn stored_text(body: &[u8]) -> Cow<'_, str> {
    let body = &body[..stored_body_len(body)];
    match String::from_utf8_lossy(body) {
        Cow::Borrowed(text) => storable_text(text),
        Cow::Owned(text) => Cow::Owned(storable_text(&text).into_owned()),
    }
}

/// Classifies `messages` and stores the relevant ones with their processing tasks in one
/// transaction. When this returns Ok, every message may be acknowledged.
pub async fn store_batch(
    store: &Store,
    identity: &Identity,
    messages: &[Incoming],
    origin: Origin,
) -> Result<IntakeReport, IntakeError> {
    let mut report = IntakeReport::default();
    let mut keep = Vec::new();
    for message in messages {
        match classify(message, identity, origin) {
            Verdict::Irrelevant(_) => report.irrelevant += 1,
            Verdict::Accept => keep.push((message, None)),
            Verdict::Reject(reason) => keep.push((message, Some(reason))),
        }
    }
    if keep.is_empty() {
        record(&report);
        return Ok(report);
    }

    // Whatever a sender put in, the row must be storable: a message the database refuses
    // would fail its whole batch for ever and stop the intake behind it.
    let ids: Vec<String> = keep
        .iter()
        .map(|(message, _)| storable_text(&message.id()).into_owned())
        .collect();
    let bodies: Vec<Cow<'_, str>> = keep
        .iter()
        .map(
            |(message, _)| match events::storable_body(&message.topic, &message.body) {
                Cow::Borrowed(body) => stored_text(body),
                Cow::Owned(body) => Cow::Owned(stored_text(&body).into_owned()),
            },
        )
        .collect();
    let headers: Vec<Cow<'_, serde_json::Value>> = keep
        .iter()
        .map(|(message, _)| storable_json(&message.headers))
        .collect();
    let reasons: Vec<Option<String>> = keep
        .iter()
        .map(|(_, reason)| {
            reason
                .as_deref()
                .map(|reason| storable_text(reason).into_owned())
        })
        .collect();
    let rows: Vec<NewInbound<'_>> = keep
        .iter()
        .zip(&ids)
        .zip(&bodies)
        .zip(&headers)
        .zip(&reasons)
        .map(
            |(((((message, _), id), body), headers), reason)| NewInbound {
                message_id: id,
                topic: &message.topic,
                headers: headers.as_ref(),
                body,
                received_at: message.received_at,
                outcome: if reason.is_some() {
                    inbound::REJECTED
                } else {
                    inbound::PENDING
                },
                reason: reason.as_deref(),
            },
        )
        .collect();

    let mut tx = store.begin().await?;
    let inserted = inbound::insert_many(&mut tx, &rows).await?;
    let rejected: std::collections::HashSet<&str> = rows
        .iter()
        .filter(|row| row.outcome == inbound::REJECTED)
        .map(|row| row.message_id)
        .collect();
    for (row_id, message_id) in &inserted {
        if rejected.contains(message_id.as_str()) {
            report.rejected += 1;
        } else {
            tasks::enqueue(
                &mut tx,
                &ProcessMessage {
                    inbound_id: *row_id,
                },
            )
            .await?;
            report.accepted += 1;
        }
    }
    tx.commit().await?;
    report.duplicates = rows.len() - inserted.len();
    record(&report);
    Ok(report)
}

/// How many bytes of `body` are stored: all of it, or a prefix of an oversized one.
fn stored_body_len(body: &[u8]) -> usize {
    if body.len() > MAX_BODY_BYTES {
        STORED_OVERSIZED_PREFIX_BYTES
    } else {
        body.len()
    }
}

fn record(report: &IntakeReport) {
    let metrics = metrics::global();
    metrics.messages("accepted", report.accepted);
    metrics.messages("rejected", report.rejected);
    metrics.messages("irrelevant", report.irrelevant);
    metrics.messages("duplicate", report.duplicates);
}

//! Every SQL statement about inbound messages (what came in over the bus or a webhook).

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;

use super::{DbResult, Store, Tx, on_backend, on_tx};

/// Waiting for its processing task.
pub const PENDING: &str = "pending";
/// Processed: the event was parsed and its jobs planned.
pub const PROCESSED: &str = "processed";
/// Well formed, but nothing for Fedora CI to do.
pub const IGNORED: &str = "ignored";
/// On one of our topics but not what the topic promises (reason says why).
pub const REJECTED: &str = "rejected";

/// A message to store.
#[derive(Debug, Clone)]
pub struct NewInbound<'a> {
    pub message_id: &'a str,
    pub topic: &'a str,
    pub headers: &'a Value,
    pub body: &'a str,
    pub received_at: DateTime<Utc>,
    pub outcome: &'a str,
    pub reason: Option<&'a str>,
}

/// A stored message.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct InboundRow {
    pub id: i64,
    pub message_id: String,
    pub topic: String,
    pub headers: Json<Value>,
    pub body: String,
    pub received_at: DateTime<Utc>,
    pub processed_at: Option<DateTime<Utc>>,
    pub outcome: String,
    pub reason: Option<String>,
}

/// Stores `messages` in one statement; a message id already stored is skipped. Returns the
/// row id and message id of each message that was new.
pub async fn insert_many(tx: &mut Tx, messages: &[NewInbound<'_>]) -> DbResult<Vec<(i64, String)>> {
    if messages.is_empty() {
        return Ok(Vec::new());
    }
    const HEAD: &str = "INSERT INTO inbound_messages \
         (message_id, topic, headers, body, received_at, outcome, reason) ";
    const TAIL: &str = " ON CONFLICT (message_id) DO NOTHING RETURNING id, message_id";
    let inserted = on_tx!(tx, conn => {
        let mut query = sqlx::QueryBuilder::new(HEAD);
        query.push_values(messages, |mut row, message| {
            row.push_bind(message.message_id)
                .push_bind(message.topic)
                .push_bind(Json(message.headers))
                .push_bind(message.body)
                .push_bind(message.received_at)
                .push_bind(message.outcome)
                .push_bind(message.reason);
        });
        query.push(TAIL);
        query.build_query_as::<(i64, String)>().fetch_all(conn).await?
    });
    Ok(inserted)
}

pub async fn get(store: &Store, id: i64) -> DbResult<Option<InboundRow>> {
    const SQL: &str = "SELECT id, message_id, topic, headers, body, received_at, processed_at, \
         outcome, reason FROM inbound_messages WHERE id = $1";
    let row = on_backend!(store, pool => sqlx::query_as::<_, InboundRow>(SQL).bind(id).fetch_optional(pool).await?);
    Ok(row)
}

pub async fn get_by_message_id(store: &Store, message_id: &str) -> DbResult<Option<InboundRow>> {
    const SQL: &str = "SELECT id, message_id, topic, headers, body, received_at, processed_at, \
         outcome, reason FROM inbound_messages WHERE message_id = $1";
    let row = on_backend!(store, pool => sqlx::query_as::<_, InboundRow>(SQL).bind(message_id).fetch_optional(pool).await?);
    Ok(row)
}

/// Records how processing ended, inside the transaction that enqueues what it caused.
pub async fn finish(
    tx: &mut Tx,
    id: i64,
    outcome: &str,
    reason: Option<&str>,
    now: DateTime<Utc>,
) -> DbResult<bool> {
    const SQL: &str = "UPDATE inbound_messages SET outcome = $2, reason = $3, processed_at = $4 \
         WHERE id = $1";
    let updated = on_tx!(tx, conn => sqlx::query(SQL).bind(id).bind(outcome).bind(reason).bind(now)
        .execute(conn).await?.rows_affected());
    Ok(updated == 1)
}

/// How many messages there are per outcome.
pub async fn count_by_outcome(store: &Store) -> DbResult<Vec<(String, i64)>> {
    const SQL: &str =
        "SELECT outcome, COUNT(*) FROM inbound_messages GROUP BY outcome ORDER BY outcome";
    let counts =
        on_backend!(store, pool => sqlx::query_as::<_, (String, i64)>(SQL).fetch_all(pool).await?);
    Ok(counts)
}

/// Received time of the oldest message still waiting to be processed: the intake lag.
pub async fn oldest_pending(store: &Store) -> DbResult<Option<DateTime<Utc>>> {
    const SQL: &str = "SELECT MIN(received_at) FROM inbound_messages WHERE outcome = 'pending'";
    let oldest = on_backend!(store, pool => sqlx::query_scalar::<_, Option<DateTime<Utc>>>(SQL).fetch_one(pool).await?);
    Ok(oldest)
}

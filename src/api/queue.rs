//! `GET /api/queue`: the task queue and the intake at a glance: tasks per queue and state,
//! the newest dead tasks with their last errors, how long the oldest unprocessed message
//! has waited, and how the stored messages ended.

use axum::Json;
use axum::extract::State;
use chrono::Utc;
use serde_json::{Map, Value, json};

use super::{ApiError, AppState};
use crate::db::{api, inbound, tasks};

/// How many dead tasks the view lists.
pub const DEAD_TASKS_SHOWN: i64 = 50;

pub async fn queue(State(app): State<AppState>) -> Result<Json<Value>, ApiError> {
    let now = Utc::now();
    let counts = tasks::counts(&app.store, now).await?;
    let dead = api::dead_tasks(&app.store, DEAD_TASKS_SHOWN).await?;
    let oldest = inbound::oldest_pending(&app.store).await?;
    let outcomes = inbound::count_by_outcome(&app.store).await?;
    let queues: Vec<Value> = counts
        .iter()
        .map(|queue| {
            json!({
                "queue": queue.queue,
                "waiting": queue.ready,
                "scheduled": queue.scheduled,
                "running": queue.running,
                "dead": queue.dead,
            })
        })
        .collect();
    let dead_tasks: Vec<Value> = dead
        .iter()
        .map(|task| {
            json!({
                "id": task.id,
                "name": task.name,
                "queue": task.queue,
                "attempts": task.attempts,
                "last_error": task.last_error,
                "created_at": task.created_at.to_rfc3339(),
                "died_at": task.updated_at.to_rfc3339(),
            })
        })
        .collect();
    let lag = oldest.map(|oldest| (now - oldest).num_milliseconds().max(0) as f64 / 1000.0);
    let outcomes: Map<String, Value> = outcomes
        .into_iter()
        .map(|(outcome, count)| (outcome, json!(count)))
        .collect();
    Ok(Json(json!({
        "queues": queues,
        "dead_tasks": dead_tasks,
        "intake": {
            "oldest_pending_received_at": oldest.map(|time| time.to_rfc3339()),
            "lag_seconds": lag,
            "outcomes": outcomes,
        },
    })))
}

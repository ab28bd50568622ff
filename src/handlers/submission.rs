//! Submissions that must not happen twice: the Koji `build` call and the Testing Farm
//! `POST /requests` create something new each time they are sent. Before the call, the row
//! of the intent is marked with the time its submission started, in a committed
//! transaction; an attempt that finds the mark but no task or request id cannot know whether
//! the earlier call reached the service, so it asks the service first and adopts what it
//! finds (`docs/reliability.md`, "Idempotent submissions").

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sqlx::types::Json;

/// The key of a build's or test run's `data` that holds when its submission started.
pub const STARTED_AT: &str = "submission_started_at";

/// How much earlier than the recorded start a service's own creation time may read: the
/// clocks of this service and of Koji or Testing Farm are not the same clock.
pub const CLOCK_SKEW_MARGIN: chrono::Duration = chrono::Duration::minutes(10);

/// The `data` that marks a submission as started now.
pub fn started_now() -> Value {
    json!({ STARTED_AT: Utc::now().to_rfc3339() })
}

/// When the submission of this row started, if an attempt got that far.
pub fn started_at(data: Option<&Json<Value>>) -> Option<DateTime<Utc>> {
    let text = data?.0.get(STARTED_AT)?.as_str()?;
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|time| time.with_timezone(&Utc))
}

/// The earliest creation time, by the service's clock, of what a submission that started at
/// `started` may have created.
pub fn created_after(started: DateTime<Utc>) -> DateTime<Utc> {
    started - CLOCK_SKEW_MARGIN
}

//! Testing Farm webhook notifications: `{"request_id": …, "token": …}`.
//!
//! The notification only says that a request changed; its state and results are fetched
//! from the Testing Farm API afterwards.

use secrecy::SecretString;
use serde::Deserialize;

use super::error::{ParseError, deserialize_body};
use super::{Event, Parsed, TestingFarmRequestId};

/// Testing Farm tells us that request `request_id` changed.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TestingFarmNotification {
    pub request_id: TestingFarmRequestId,
    /// The token we put into the request's webhook settings, sent back so the webhook can
    /// tell Testing Farm from anyone else. Checking it is the API's job.
    #[serde(skip)]
    pub token: Option<SecretString>,
}

/// packit-service also required `source == "testing-farm"`, a key its own API added to tell
/// webhook bodies from bus messages; the topic does that here, so `source` is not read.
#[derive(Deserialize)]
struct WireNotification {
    request_id: String,
    token: Option<String>,
}

pub(super) fn parse(topic: &str, body: &[u8]) -> Result<Parsed, ParseError> {
    let wire: WireNotification = deserialize_body(topic, body)?;
    let request_id = uuid::Uuid::try_parse(&wire.request_id).map_err(|_| {
        ParseError::invalid_field(
            topic,
            "request_id",
            format!("{:?} is not a UUID", wire.request_id),
        )
    })?;
    Ok(Parsed::Event(Event::TestingFarmResult(
        TestingFarmNotification {
            request_id: TestingFarmRequestId(request_id),
            token: wire.token.map(SecretString::from),
        },
    )))
}

//! `POST /api/testing-farm/results`: Testing Farm's notification that a request changed.
//!
//! The body is only a pointer (`{"request_id", "token"}`): the result itself is fetched from
//! Testing Farm by the handler, never taken from the body. The token must equal the configured
//! `testing_farm_secret` (compared in constant time).
//!
//! Refused before the body is read: a Content-Type other than JSON (415; Testing Farm sends
//! `application/json`), and a declared length over [`MAX_BODY_BYTES`] (413), so a client that
//! announces a large body holds nothing while it does not send it.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest as _, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use chrono::Utc;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tracing::info;

use super::{ApiError, AppState};
use crate::events::TESTING_FARM_RESULTS_TOPIC;
use crate::intake::{self, Incoming};
use crate::metrics;

/// Largest body accepted; a real notification is well under 1 KiB.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// How much of a refused call's `request_id` is logged (a UUID is 36 characters).
const LOGGED_REQUEST_ID_CHARS: usize = 64;

pub async fn receive_results(
    State(app): State<AppState>,
    request: Request,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    refuse_other_content_types(request.headers())?;
    refuse_declared_oversize(request.headers())?;
    let body = Bytes::from_request(request, &())
        .await
        .map_err(unreadable)?;
    let Some((token, notification)) = split_token(&body) else {
        metrics::global().webhook_rejected("not_json");
        return Err(ApiError::bad_request(
            "the body is not a JSON object with request_id and token",
        ));
    };
    if !token_is_valid(&app, token.as_deref()) {
        metrics::global().webhook_rejected("bad_token");
        // Whatever the caller sent is cut short: a flood must not fill the logs.
        let request_id = notification.get("request_id").map(|id| {
            let id = id.to_string();
            id.chars().take(LOGGED_REQUEST_ID_CHARS).collect::<String>()
        });
        // Not a warning: anyone on the internet can make this call; the metric counts them.
        info!(
            ?request_id,
            "Testing Farm webhook with a missing or wrong token"
        );
        return Err(ApiError::unauthorized("missing or wrong token"));
    }
    // Stored without its token: the token is a secret, and has done its work.
    let message = Incoming {
        message_id: Some(format!("testing-farm:{}", uuid::Uuid::new_v4())),
        topic: TESTING_FARM_RESULTS_TOPIC.to_owned(),
        headers: json!({}),
        body: Value::Object(notification).to_string().into_bytes(),
        received_at: Utc::now(),
    };
    let identity = intake::identity(&app.config);
    let verdict = intake::classify(&message, &identity, intake::Origin::Webhook);
    // A malformed notification is stored too, with its reason, so that a broken sender can be
    // diagnosed from the database.
    intake::store_batch(
        &app.store,
        &identity,
        std::slice::from_ref(&message),
        intake::Origin::Webhook,
    )
    .await
    .map_err(|error| ApiError::unavailable(format!("cannot store the notification: {error}")))?;
    if let intake::Verdict::Reject(reason) = verdict {
        metrics::global().webhook_rejected("invalid");
        return Err(ApiError::bad_request(reason));
    }
    Ok((StatusCode::ACCEPTED, Json(json!({ "status": "accepted" }))))
}

/// 415 unless the body is declared JSON (`application/json`, parameters such as `charset`
/// allowed). A missing Content-Type is accepted: the body must parse as a JSON object anyway,
/// and refusing it would protect nothing (nothing of the body is ever sniffed or guessed).
fn refuse_other_content_types(headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(content_type) = headers.get(header::CONTENT_TYPE) else {
        return Ok(());
    };
    let essence = content_type
        .to_str()
        .ok()
        .and_then(|value| value.split(';').next())
        .map(str::trim);
    if essence.is_some_and(|essence| essence.eq_ignore_ascii_case("application/json")) {
        return Ok(());
    }
    metrics::global().webhook_rejected("content_type");
    Err(ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "the body must be application/json",
    ))
}

/// 413 at once for a declared length over [`MAX_BODY_BYTES`], before any of it is read.
fn refuse_declared_oversize(headers: &HeaderMap) -> Result<(), ApiError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    match declared {
        Some(length) if length > MAX_BODY_BYTES as u64 => {
            metrics::global().webhook_rejected("unreadable");
            Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the body cannot be read: it is larger than {MAX_BODY_BYTES} bytes"),
            ))
        }
        _ => Ok(()),
    }
}

/// A body that could not be read: too large, or cut short (the server's body deadline turns
/// the latter into a 408).
fn unreadable(rejection: BytesRejection) -> ApiError {
    metrics::global().webhook_rejected("unreadable");
    ApiError::new(
        rejection.status(),
        format!("the body cannot be read: {}", rejection.body_text()),
    )
}

/// The token and the rest of the notification, when the body is a JSON object whose
/// `token`, if any, is a string.
fn split_token(body: &[u8]) -> Option<(Option<String>, Map<String, Value>)> {
    let Ok(Value::Object(mut notification)) = serde_json::from_slice::<Value>(body) else {
        return None;
    };
    let token = match notification.remove("token") {
        None | Some(Value::Null) => None,
        Some(Value::String(token)) => Some(token),
        Some(_) => return None,
    };
    Some((token, notification))
}

/// Compares digests of equal length in constant time: neither the position of the first
/// wrong byte nor the secret's length shows in the answer's timing.
fn token_is_valid(app: &AppState, token: Option<&str>) -> bool {
    match (&app.config.testing_farm_secret, token) {
        (Some(secret), Some(token)) => Sha256::digest(secret.expose().as_bytes())
            .ct_eq(&Sha256::digest(token.as_bytes()))
            .into(),
        _ => false,
    }
}

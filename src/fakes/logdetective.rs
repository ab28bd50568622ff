//! A fake logdetective-packit: `POST /analyze` checks the Bearer token and the `BuildInfo`
//! fields as the FastAPI service does, records the request and answers a new analysis id.
//!
//! Faults are injected for the operation `analyze`, after the call is recorded, so a test can
//! see a request that reached the service even when the answer was lost.

use crate::fakes::{FakeServer, FaultInjector, lock};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value as Json, json};
use std::sync::{Arc, Mutex};

pub const ANALYZE: &str = "analyze";

/// One `POST /analyze` as the fake received it.
#[derive(Clone, Debug, PartialEq)]
pub struct RecordedAnalyzeCall {
    pub authorization: Option<String>,
    /// The body as JSON, `null` when it was not JSON.
    pub body: Json,
    /// The id answered, if the fake accepted the request.
    pub analysis_id: Option<String>,
}

struct Data {
    token: String,
    calls: Vec<RecordedAnalyzeCall>,
    /// (1-based number of an `analyze` call, the status it gets instead of an answer).
    failing_calls: Vec<(usize, u16)>,
}

#[derive(Clone)]
pub struct FakeLogDetective {
    server: FakeServer<Data>,
}

impl FakeLogDetective {
    /// Accepts `token` as the Bearer token (`LD_PACKIT_TOKEN` of the real service).
    pub async fn start(token: &str) -> std::io::Result<Self> {
        let server = FakeServer::start(
            Data {
                token: token.to_owned(),
                calls: Vec::new(),
                failing_calls: Vec::new(),
            },
            |data, faults| {
                axum::Router::new().route(
                    "/analyze",
                    axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
                        analyze(data.clone(), faults.clone(), headers, body)
                    }),
                )
            },
        )
        .await?;
        Ok(FakeLogDetective { server })
    }

    pub fn url(&self) -> String {
        self.server.url()
    }

    pub fn faults(&self) -> &FaultInjector<u16> {
        &self.server.faults
    }

    /// The `number`th `analyze` call (counting from 1, all calls so far included) is
    /// recorded and answered `status`: a fault in the middle of a run of calls.
    pub fn fail_analysis_number(&self, number: usize, status: u16) {
        lock(&self.server.data).failing_calls.push((number, status));
    }

    pub fn calls(&self) -> Vec<RecordedAnalyzeCall> {
        lock(&self.server.data).calls.clone()
    }
}

async fn analyze(
    data: Arc<Mutex<Data>>,
    faults: Arc<FaultInjector<u16>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    let parsed: Json = serde_json::from_slice(&body).unwrap_or(Json::Null);
    let (index, scripted) = {
        let mut data = lock(&data);
        data.calls.push(RecordedAnalyzeCall {
            authorization: authorization.clone(),
            body: parsed.clone(),
            analysis_id: None,
        });
        let number = data.calls.len();
        let scripted = data
            .failing_calls
            .iter()
            .find(|(failing, _)| *failing == number)
            .map(|(_, status)| *status);
        (number - 1, scripted)
    };
    if let Some(status) = scripted {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return (status, "Internal Server Error").into_response();
    }
    if let Some(status) = faults.before_call(ANALYZE).await {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return (status, "Internal Server Error").into_response();
    }
    let mut data = lock(&data);
    let bearer = authorization
        .as_deref()
        .and_then(|value| value.strip_prefix("Bearer "));
    if bearer != Some(data.token.as_str()) {
        let body = json!({"detail": "Invalid or missing token."});
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            axum::Json(body),
        )
            .into_response();
    }
    let errors = validation_errors(&parsed);
    if !errors.is_empty() {
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            axum::Json(json!({"detail": errors})),
        )
            .into_response();
    }
    let id = uuid::Uuid::new_v4().to_string();
    if let Some(call) = data.calls.get_mut(index) {
        call.analysis_id = Some(id.clone());
    }
    let creation_time = chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.6fZ")
        .to_string();
    axum::Json(json!({"log_detective_analysis_id": id, "creation_time": creation_time}))
        .into_response()
}

/// The `BuildInfo` model's rules, in pydantic's error format.
fn validation_errors(body: &Json) -> Vec<Json> {
    if !body.is_object() {
        return vec![json!({"type": "model_attributes_type", "loc": ["body"],
                           "msg": "Input should be a valid dictionary or object", "input": body})];
    }
    let mut errors = Vec::new();
    let mut fail = |field: &str, kind: &str, msg: &str| {
        errors
            .push(json!({"type": kind, "loc": ["body", field], "msg": msg, "input": body[field]}));
    };
    match body["artifacts"].as_object() {
        None => fail("artifacts", "missing", "Field required"),
        Some(artifacts) if artifacts.is_empty() => fail(
            "artifacts",
            "too_short",
            "Dictionary should have at least 1 item after validation, not 0",
        ),
        Some(artifacts) if !artifacts.values().all(Json::is_string) => {
            fail("artifacts", "string_type", "Input should be a valid string");
        }
        Some(_) => {}
    }
    for field in ["target_build", "build_system"] {
        if !body[field].is_string() {
            fail(field, "missing", "Field required");
        }
    }
    for field in ["project_url", "commit_sha"] {
        if !(body[field].is_null() || body[field].is_string()) {
            fail(field, "string_type", "Input should be a valid string");
        }
    }
    if !(body["pr_id"].is_null() || body["pr_id"].is_i64()) {
        fail("pr_id", "int_type", "Input should be a valid integer");
    }
    errors
}

//! A fake Testing Farm API v0.1: requests move new → queued → running → complete
//! when a test advances them, and each move POSTs `{request_id, token}` to the
//! request's notification webhook, as Testing Farm does.
//!
//! A `tmt` test is stored and shown under `fmf`, the name the API keeps it under (it accepts
//! `tmt` as an alias; `testing-farm list` reads `test.fmf` of listed requests).

use crate::fakes::{FaultInjector, lock, serve_on_loopback};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value as Json, json};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

const STATES: [&str; 4] = ["new", "queued", "running", "complete"];

#[derive(Default)]
struct Data {
    tokens: Vec<String>,
    requests: BTreeMap<String, Json>,
    submitted: Vec<Json>,
    /// The query parameters of each `GET /requests`.
    listings: Vec<BTreeMap<String, String>>,
    notifications: Vec<Json>,
    composes: Vec<String>,
}

#[derive(Clone)]
pub struct FakeTestingFarm {
    data: Arc<Mutex<Data>>,
    faults: Arc<FaultInjector<u16>>,
    address: SocketAddr,
}

/// The user and token every accepted token stands for.
const USER_ID: &str = "fake-user";
const TOKEN_ID: &str = "fake-token";

impl FakeTestingFarm {
    /// Accepts `api_token` as a Bearer token.
    pub async fn start(api_token: &str) -> std::io::Result<Self> {
        let data = Arc::new(Mutex::new(Data {
            tokens: vec![api_token.to_owned()],
            composes: [
                "Fedora-Rawhide",
                "Fedora-42",
                "Fedora-ELN",
                "CentOS-Stream-10",
            ]
            .map(String::from)
            .to_vec(),
            ..Data::default()
        }));
        let faults: Arc<FaultInjector<u16>> = Arc::new(FaultInjector::default());
        let submit_faults = faults.clone();
        let router = axum::Router::new()
            .route(
                "/v0.1/requests",
                post(
                    move |state: State<Arc<Mutex<Data>>>, headers: HeaderMap, body: String| {
                        submit(state, submit_faults.clone(), headers, body)
                    },
                )
                .get(list),
            )
            .route("/v0.1/requests/{id}", get(read).delete(cancel))
            .route("/v0.1/composes/public", get(composes))
            .with_state(data.clone());
        let address = serve_on_loopback(router).await?;
        Ok(FakeTestingFarm {
            data,
            faults,
            address,
        })
    }

    /// Failures of `POST /requests` (operation `submit`), as HTTP status codes, answered
    /// before a request is created.
    pub fn faults(&self) -> &FaultInjector<u16> {
        &self.faults
    }

    /// The ids of the requests created, oldest first.
    pub fn request_ids(&self) -> Vec<String> {
        let data = lock(&self.data);
        let mut requests: Vec<(&String, &Json)> = data.requests.iter().collect();
        requests.sort_by(|a, b| a.1["created"].as_str().cmp(&b.1["created"].as_str()));
        requests.into_iter().map(|(id, _)| id.clone()).collect()
    }

    /// The API root with its version, `http://127.0.0.1:<port>/v0.1`.
    pub fn api_url(&self) -> String {
        format!("http://{}/v0.1", self.address)
    }

    /// The request bodies received, in order.
    pub fn submitted(&self) -> Vec<Json> {
        lock(&self.data).submitted.clone()
    }

    /// The query parameters of each `GET /requests` so far.
    pub fn listings(&self) -> Vec<BTreeMap<String, String>> {
        lock(&self.data).listings.clone()
    }

    /// Webhook bodies sent so far.
    pub fn notifications(&self) -> Vec<Json> {
        lock(&self.data).notifications.clone()
    }

    /// Moves a request one state on; the last move completes it with `overall`.
    /// Returns the new state, after the webhook (if any) has been called.
    pub async fn advance(&self, id: &str, overall: &str) -> Option<String> {
        let (state, webhook) = {
            let mut data = lock(&self.data);
            let request = data.requests.get_mut(id)?;
            let current = STATES.iter().position(|state| request["state"] == *state)?;
            let next = STATES.get(current + 1)?;
            request["state"] = json!(next);
            if *next == "complete" {
                request["result"] = json!({"overall": overall, "summary": null, "xunit": null,
                                           "xunit_url": format!("https://artifacts.testing-farm.io/{id}/results.xml")});
            }
            let webhook = request["notification"]["webhook"].clone();
            ((*next).to_owned(), webhook)
        };
        if let (Some(url), Some(token)) = (webhook["url"].as_str(), webhook["token"].as_str()) {
            let body = json!({"request_id": id, "token": token});
            // The receiver's answer does not matter to Testing Farm.
            let _ = reqwest::Client::new().post(url).json(&body).send().await;
            lock(&self.data).notifications.push(body);
        }
        Some(state)
    }
}

fn authorized(data: &Data, headers: &HeaderMap) -> bool {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "));
    bearer.is_some_and(|token| data.tokens.iter().any(|known| known == token))
}

fn unauthorized() -> Response {
    answer(
        StatusCode::UNAUTHORIZED,
        json!({"message": "Not authorized to perform this action"}),
    )
}

fn answer(status: StatusCode, body: Json) -> Response {
    (status, axum::Json(body)).into_response()
}

async fn submit(
    State(data): State<Arc<Mutex<Data>>>,
    faults: Arc<FaultInjector<u16>>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let request: Json = serde_json::from_str(&body).unwrap_or(Json::Null);
    if let Some(status) = faults.before_call("submit").await {
        lock(&data).submitted.push(request);
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return answer(status, json!({"message": "injected failure"}));
    }
    let mut data = lock(&data);
    if !authorized(&data, &headers) {
        return unauthorized();
    }
    data.submitted.push(request.clone());
    let missing: Vec<&str> = ["test", "environments"]
        .into_iter()
        .filter(|field| request.get(field).is_none())
        .collect();
    if !missing.is_empty() || request.get("api_key").is_some() {
        let errors: BTreeMap<&str, &str> = missing
            .into_iter()
            .map(|field| (field, "Field required"))
            .collect();
        return answer(
            StatusCode::BAD_REQUEST,
            json!({"message": "Invalid request", "errors": errors}),
        );
    }
    let id = uuid::Uuid::new_v4().to_string();
    let created = chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.6f")
        .to_string();
    let stored = json!({
        "id": id, "user_id": USER_ID, "token_id": TOKEN_ID, "test": stored_test(&request["test"]),
        "state": "new", "environments_requested": request["environments"], "notes": [],
        "result": null, "run": null, "settings": request.get("settings"), "user": null,
        "queued_time": null, "run_time": null, "created": created, "updated": created,
        "notification": request.get("notification"),
    });
    data.requests.insert(id.clone(), stored);
    answer(StatusCode::OK, json!({"id": id, "created": created}))
}

/// `tmt` is the API's alias of `fmf`: it keeps and shows the test as `fmf`.
fn stored_test(test: &Json) -> Json {
    match test.as_object() {
        Some(fields) => Json::Object(
            fields
                .iter()
                .map(|(key, value)| {
                    let key = if key == "tmt" { "fmf" } else { key.as_str() };
                    (key.to_owned(), value.clone())
                })
                .collect(),
        ),
        None => test.clone(),
    }
}

/// A request as the API shows it: without its notification, whose webhook has a token.
fn shown(request: &Json) -> Json {
    let mut shown = request.clone();
    if let Some(fields) = shown.as_object_mut() {
        fields.remove("notification");
    }
    shown
}

async fn read(State(data): State<Arc<Mutex<Data>>>, Path(id): Path<String>) -> Response {
    match lock(&data).requests.get(&id) {
        Some(request) => answer(StatusCode::OK, shown(request)),
        None => answer(StatusCode::NOT_FOUND, json!({"message": "No such entity"})),
    }
}

/// `GET /requests`: with a token, that token's user's requests, else everyone's; filtered by
/// `state`, `created_after`, `created_before` (ISO 8601, UTC), `user_id` and `token_id`.
async fn list(
    State(data): State<Arc<Mutex<Data>>>,
    headers: HeaderMap,
    Query(filters): Query<BTreeMap<String, String>>,
) -> Response {
    let mut data = lock(&data);
    data.listings.push(filters.clone());
    let user = if headers.contains_key(header::AUTHORIZATION) {
        if !authorized(&data, &headers) {
            return unauthorized();
        }
        Some(USER_ID)
    } else {
        None
    };
    let mut bounds = Vec::new();
    for (key, after) in [("created_after", true), ("created_before", false)] {
        if let Some(text) = filters.get(key) {
            match iso_time(text) {
                Some(time) => bounds.push((time, after)),
                None => {
                    return answer(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        json!({"message": format!("invalid datetime in {key}: {text}")}),
                    );
                }
            }
        }
    }
    let field_is = |request: &Json, field: &str, wanted: Option<&str>| {
        wanted.is_none_or(|wanted| request[field].as_str() == Some(wanted))
    };
    let listed: Vec<Json> = data
        .requests
        .values()
        .filter(|request| field_is(request, "user_id", user))
        .filter(|request| field_is(request, "state", filters.get("state").map(String::as_str)))
        .filter(|request| {
            field_is(
                request,
                "user_id",
                filters.get("user_id").map(String::as_str),
            )
        })
        .filter(|request| {
            field_is(
                request,
                "token_id",
                filters.get("token_id").map(String::as_str),
            )
        })
        .filter(|request| {
            let created = request["created"].as_str().and_then(iso_time);
            bounds.iter().all(|(bound, after)| {
                created.is_some_and(|created| {
                    if *after {
                        created > *bound
                    } else {
                        created < *bound
                    }
                })
            })
        })
        .map(shown)
        .collect();
    answer(StatusCode::OK, Json::Array(listed))
}

fn iso_time(text: &str) -> Option<chrono::NaiveDateTime> {
    ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"]
        .iter()
        .find_map(|format| chrono::NaiveDateTime::parse_from_str(text, format).ok())
        .or_else(|| {
            chrono::DateTime::parse_from_rfc3339(text)
                .ok()
                .map(|time| time.naive_utc())
        })
}

async fn cancel(
    State(data): State<Arc<Mutex<Data>>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let mut data = lock(&data);
    if !authorized(&data, &headers) {
        return unauthorized();
    }
    let Some(request) = data.requests.get_mut(&id) else {
        return answer(StatusCode::NOT_FOUND, json!({"message": "No such entity"}));
    };
    match request["state"].as_str() {
        Some("complete" | "error" | "canceled") => answer(
            StatusCode::CONFLICT,
            json!({"message": "Request already finished"}),
        ),
        Some("cancel-requested") => StatusCode::NO_CONTENT.into_response(),
        _ => {
            request["state"] = json!("cancel-requested");
            answer(StatusCode::OK, json!({"id": id}))
        }
    }
}

async fn composes(State(data): State<Arc<Mutex<Data>>>) -> Response {
    let names: Vec<Json> = lock(&data)
        .composes
        .iter()
        .map(|name| json!({"name": name}))
        .collect();
    answer(StatusCode::OK, json!({"composes": names}))
}

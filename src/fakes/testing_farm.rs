//! A fake Testing Farm API v0.1: requests move new → queued → running → complete
//! when a test advances them, and each move POSTs `{request_id, token}` to the
//! request's notification webhook, as Testing Farm does.

use crate::fakes::{lock, serve_on_loopback};
use axum::extract::{Path, State};
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
    notifications: Vec<Json>,
    composes: Vec<String>,
}

#[derive(Clone)]
pub struct FakeTestingFarm {
    data: Arc<Mutex<Data>>,
    address: SocketAddr,
}

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
        let router = axum::Router::new()
            .route("/v0.1/requests", post(submit))
            .route("/v0.1/requests/{id}", get(read).delete(cancel))
            .route("/v0.1/composes/public", get(composes))
            .with_state(data.clone());
        let address = serve_on_loopback(router).await?;
        Ok(FakeTestingFarm { data, address })
    }

    /// The API root with its version, `http://127.0.0.1:<port>/v0.1`.
    pub fn api_url(&self) -> String {
        format!("http://{}/v0.1", self.address)
    }

    /// The request bodies received, in order.
    pub fn submitted(&self) -> Vec<Json> {
        lock(&self.data).submitted.clone()
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
    headers: HeaderMap,
    body: String,
) -> Response {
    let mut data = lock(&data);
    if !authorized(&data, &headers) {
        return unauthorized();
    }
    let request: Json = serde_json::from_str(&body).unwrap_or(Json::Null);
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
        "id": id, "user_id": "fake-user", "token_id": "fake-token", "test": request["test"],
        "state": "new", "environments_requested": request["environments"], "notes": [],
        "result": null, "run": null, "settings": request.get("settings"), "user": null,
        "queued_time": null, "run_time": null, "created": created, "updated": created,
        "notification": request.get("notification"),
    });
    data.requests.insert(id.clone(), stored);
    answer(StatusCode::OK, json!({"id": id, "created": created}))
}

async fn read(State(data): State<Arc<Mutex<Data>>>, Path(id): Path<String>) -> Response {
    match lock(&data).requests.get(&id) {
        Some(request) => {
            let mut shown = request.clone();
            if let Some(fields) = shown.as_object_mut() {
                fields.remove("notification");
            }
            answer(StatusCode::OK, shown)
        }
        None => answer(StatusCode::NOT_FOUND, json!({"message": "No such entity"})),
    }
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

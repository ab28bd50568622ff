//! A fake Testing Farm API v0.1: requests move new → queued → running → complete
//! when a test advances them (or by themselves, after [`FakeTestingFarm::set_auto_advance`]),
//! and each move POSTs `{request_id, token}` to the request's notification webhook, as
//! Testing Farm does.
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
use std::time::Duration;

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
    /// Off unless set: each new request moves one state on after this delay, ending with
    /// this overall result.
    auto_advance: Option<(Duration, String)>,
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
        advance(&self.data, id, overall).await
    }

    /// From now on, every new request moves one state on after `every` (new → queued →
    /// running → complete), calling its webhook each time, and completes with `overall`
    /// (`passed`, `failed`, `error`); `None` turns this off. Off by default: tests advance
    /// requests themselves.
    pub fn set_auto_advance(&self, every: Option<Duration>, overall: &str) {
        lock(&self.data).auto_advance = every.map(|every| (every, overall.to_owned()));
    }
}

/// [`FakeTestingFarm::advance`] on the shared state.
async fn advance(data: &Mutex<Data>, id: &str, overall: &str) -> Option<String> {
    let (state, webhook) = {
        let mut data = lock(data);
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
        if let Err(error) = reqwest::Client::new().post(url).json(&body).send().await {
            tracing::warn!(request = id, %url, "fake Testing Farm cannot call the webhook: {error}");
        }
        lock(data).notifications.push(body);
    }
    Some(state)
}

/// Moves request `id` on every `every` until it completes (or is cancelled).
fn spawn_auto_advance(data: Arc<Mutex<Data>>, id: String, every: Duration, overall: String) {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(every).await;
            match advance(&data, &id, &overall).await {
                Some(state) => {
                    tracing::info!(request = %id, %state, "fake Testing Farm moved a request on");
                    if state == "complete" {
                        break;
                    }
                }
                None => break,
            }
        }
    });
}

fn now() -> String {
    chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.6f")
        .to_string()
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
    State(shared): State<Arc<Mutex<Data>>>,
    faults: Arc<FaultInjector<u16>>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let request: Json = serde_json::from_str(&body).unwrap_or(Json::Null);
    if let Some(status) = faults.before_call("submit").await {
        lock(&shared).submitted.push(request);
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return answer(status, json!({"message": "injected failure"}));
    }
    let mut data = lock(&shared);
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
    let created = now();
    let stored = json!({
        "id": id, "user_id": USER_ID, "token_id": TOKEN_ID, "test": stored_test(&request["test"]),
        "state": "new", "environments_requested": request["environments"], "notes": [],
        "result": null, "run": null, "settings": request.get("settings"), "user": null,
        "queued_time": null, "run_time": null, "created": created, "updated": created,
        "notification": request.get("notification"),
    });
    data.requests.insert(id.clone(), stored);
    if let Some((every, overall)) = data.auto_advance.clone() {
        spawn_auto_advance(shared.clone(), id.clone(), every, overall);
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Records the webhook calls it receives.
    async fn webhook_receiver() -> (String, Arc<Mutex<Vec<Json>>>) {
        let received: Arc<Mutex<Vec<Json>>> = Arc::default();
        let sink = received.clone();
        let router = axum::Router::new().route(
            "/api/testing-farm/results",
            post(move |axum::Json(body): axum::Json<Json>| {
                let sink = sink.clone();
                async move {
                    lock(&sink).push(body);
                    StatusCode::OK
                }
            }),
        );
        let address = serve_on_loopback(router).await.unwrap();
        (
            format!("http://{address}/api/testing-farm/results"),
            received,
        )
    }

    async fn submit(farm: &FakeTestingFarm, webhook: &str) -> String {
        let request = json!({
            "test": {"fmf": {"url": "https://example.org/tests.git"}},
            "environments": [{"arch": "x86_64", "os": {"compose": "Fedora-Rawhide"}}],
            "notification": {"webhook": {"url": webhook, "token": "webhook-token"}},
        });
        let answer: Json = reqwest::Client::new()
            .post(format!("{}/requests", farm.api_url()))
            .bearer_auth("tf-token")
            .json(&request)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        answer["id"].as_str().unwrap().to_owned()
    }

    async fn state(farm: &FakeTestingFarm, id: &str) -> Json {
        reqwest::get(format!("{}/requests/{id}", farm.api_url()))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn auto_advance_completes_a_request_and_calls_its_webhook_on_every_move() {
        let farm = FakeTestingFarm::start("tf-token").await.unwrap();
        farm.set_auto_advance(Some(Duration::from_millis(20)), "passed");
        let (webhook, received) = webhook_receiver().await;
        let id = submit(&farm, &webhook).await;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while lock(&received).len() < 3 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "three webhook calls"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let request = state(&farm, &id).await;
        assert_eq!(request["state"], "complete");
        assert_eq!(request["result"]["overall"], "passed");
        let expected = json!({"request_id": id, "token": "webhook-token"});
        assert_eq!(*lock(&received), vec![expected.clone(); 3]);
        assert_eq!(farm.notifications(), vec![expected; 3]);
    }

    #[tokio::test]
    async fn without_auto_advance_requests_wait_for_the_test() {
        let farm = FakeTestingFarm::start("tf-token").await.unwrap();
        let (webhook, received) = webhook_receiver().await;
        let id = submit(&farm, &webhook).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(state(&farm, &id).await["state"], "new");
        assert!(lock(&received).is_empty());
        assert_eq!(farm.advance(&id, "failed").await.as_deref(), Some("queued"));
        assert_eq!(lock(&received).len(), 1);
    }
}

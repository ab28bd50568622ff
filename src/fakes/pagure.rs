//! A fake Pagure (API 0 and raw files) on loopback, fed with real API answers.
//!
//! Flags follow Pagure's uid rule: a flag whose uid already exists on the pull
//! request is updated ("Flag updated"), any other is added ("Flag added", with a
//! random uid when none is given). Writes need a known `Authorization: token …`.

use crate::fakes::{FakeServer, FaultInjector, lock};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value as Json, json};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

/// One request as the fake received it.
#[derive(Clone, Debug, PartialEq)]
pub struct RecordedPagureCall {
    pub method: String,
    pub path: String,
    pub authorization: Option<String>,
    /// Form (or JSON) fields of a POST, in the order sent.
    pub form: Vec<(String, String)>,
}

#[derive(Default)]
struct Data {
    projects: BTreeMap<String, Json>,
    pull_requests: BTreeMap<(String, u64), Json>,
    flags: BTreeMap<(String, u64), Vec<Json>>,
    groups: BTreeMap<String, Json>,
    raw_files: BTreeMap<(String, String, String), String>,
    branches: BTreeMap<String, Vec<String>>,
    tokens: HashMap<String, String>,
    calls: Vec<RecordedPagureCall>,
}

#[derive(Clone)]
pub struct FakePagure {
    server: FakeServer<Data>,
}

type Answer = (StatusCode, Json);

impl FakePagure {
    pub async fn start() -> std::io::Result<Self> {
        let server = FakeServer::start(Data::default(), |data, faults| {
            axum::Router::new().fallback(
                move |method: Method, uri: Uri, headers: HeaderMap, body: axum::body::Bytes| {
                    handle(data.clone(), faults.clone(), method, uri, headers, body)
                },
            )
        })
        .await?;
        Ok(FakePagure { server })
    }

    pub fn url(&self) -> String {
        self.server.url()
    }

    pub fn faults(&self) -> &FaultInjector<u16> {
        &self.server.faults
    }

    /// Registers a project under its `url_path` (`rpms/NAME`, `NAME`, `fork/USER/rpms/NAME`).
    pub fn add_project(&self, project: Json) {
        let path = project["url_path"].as_str().unwrap_or_default().to_owned();
        lock(&self.server.data).projects.insert(path, project);
    }

    /// Registers a pull request (and its target project) from its API JSON.
    pub fn add_pull_request(&self, pull_request: Json) {
        self.add_project(pull_request["project"].clone());
        let path = pull_request["project"]["url_path"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let id = pull_request["id"].as_u64().unwrap_or_default();
        lock(&self.server.data)
            .pull_requests
            .insert((path, id), pull_request);
    }

    /// Forgets a pull request (as after dist-git moved away): its API answers 404 `ENOREQ`.
    pub fn remove_pull_request(&self, project_path: &str, id: u64) {
        lock(&self.server.data)
            .pull_requests
            .remove(&(project_path.to_owned(), id));
    }

    pub fn add_group(&self, group: Json) {
        let name = group["name"].as_str().unwrap_or_default().to_owned();
        lock(&self.server.data).groups.insert(name, group);
    }

    pub fn add_raw_file(&self, project_path: &str, commit: &str, file_path: &str, content: &str) {
        let key = (
            project_path.to_owned(),
            commit.to_owned(),
            file_path.to_owned(),
        );
        lock(&self.server.data)
            .raw_files
            .insert(key, content.to_owned());
    }

    pub fn set_branches(&self, project_path: &str, branches: &[&str]) {
        let branches = branches.iter().map(|name| (*name).to_owned()).collect();
        lock(&self.server.data)
            .branches
            .insert(project_path.to_owned(), branches);
    }

    /// Accepts `token` as the API token of `user`.
    pub fn add_token(&self, token: &str, user: &str) {
        lock(&self.server.data)
            .tokens
            .insert(token.to_owned(), user.to_owned());
    }

    pub fn calls(&self) -> Vec<RecordedPagureCall> {
        lock(&self.server.data).calls.clone()
    }

    pub fn flags(&self, project_path: &str, pull_request_id: u64) -> Vec<Json> {
        let key = (project_path.to_owned(), pull_request_id);
        lock(&self.server.data)
            .flags
            .get(&key)
            .cloned()
            .unwrap_or_default()
    }

    /// The text of every comment posted through the API, in order.
    pub fn posted_comments(&self) -> Vec<String> {
        self.calls()
            .into_iter()
            .filter(|call| call.method == "POST" && call.path.ends_with("/comment"))
            .filter_map(|call| {
                call.form
                    .into_iter()
                    .find(|(key, _)| key == "comment")
                    .map(|(_, value)| value)
            })
            .collect()
    }

    pub fn comments(&self, project_path: &str, pull_request_id: u64) -> Vec<Json> {
        let key = (project_path.to_owned(), pull_request_id);
        let data = lock(&self.server.data);
        let comments = data
            .pull_requests
            .get(&key)
            .and_then(|pr| pr["comments"].as_array().cloned());
        comments.unwrap_or_default()
    }
}

async fn handle(
    data: Arc<Mutex<Data>>,
    faults: Arc<FaultInjector<u16>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let path = uri.path().to_owned();
    let form = parse_form(&headers, &body);
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    lock(&data).calls.push(RecordedPagureCall {
        method: method.to_string(),
        path: path.clone(),
        authorization: authorization.clone(),
        form: form.clone(),
    });
    if let Some(status) = faults.before_call(&path).await {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return (status, "injected failure").into_response();
    }
    let mut data = lock(&data);
    if let Some(raw) = path
        .split_once("/raw/")
        .filter(|_| !path.starts_with("/api/0/"))
    {
        return raw_file(&data, raw);
    }
    let Some(api_path) = path.strip_prefix("/api/0/") else {
        let (status, body) = error(StatusCode::NOT_FOUND, "ENOCODE", "Not found");
        return (status, axum::Json(body)).into_response();
    };
    let token_user = token_user(&data, authorization.as_deref());
    let form: HashMap<String, String> = form.into_iter().collect();
    let (status, body) = route(&mut data, &method, api_path, &form, token_user);
    (status, axum::Json(body)).into_response()
}

fn route(
    data: &mut Data,
    method: &Method,
    api_path: &str,
    form: &HashMap<String, String>,
    token_user: Option<String>,
) -> Answer {
    let segments: Vec<&str> = api_path.trim_end_matches('/').split('/').collect();
    match (method.as_str(), segments.as_slice()) {
        ("POST", ["-", "whoami"]) => {
            return with_token(token_user, |user| {
                (StatusCode::OK, json!({"username": user}))
            });
        }
        ("GET", ["-", "version"]) => return (StatusCode::OK, json!({"version": "5.13.3"})),
        _ => {}
    }
    if let ["group", name] = segments.as_slice() {
        return data.groups.get(*name).cloned().map_or_else(
            || error(StatusCode::NOT_FOUND, "ENOGROUP", "Group not found"),
            |group| (StatusCode::OK, group),
        );
    }
    if let Some(position) = segments
        .iter()
        .position(|segment| *segment == "pull-request")
    {
        let project = segments[..position].join("/");
        let id = segments
            .get(position + 1)
            .and_then(|id| id.parse().ok())
            .unwrap_or(0);
        return match (method.as_str(), segments.get(position + 2).copied()) {
            ("GET", None) => get_pull_request(data, &project, id),
            ("POST", Some("flag")) => with_token(token_user, |user| {
                add_or_update_flag(data, &project, id, form, &user)
            }),
            ("GET", Some("flag")) => (
                StatusCode::OK,
                json!({"flags": data.flags.get(&(project, id)).cloned().unwrap_or_default()}),
            ),
            ("POST", Some("comment")) => with_token(token_user, |user| {
                add_comment(data, &project, id, form, &user)
            }),
            _ => error(StatusCode::NOT_FOUND, "ENOCODE", "Not found"),
        };
    }
    if let Some(project) = api_path.strip_suffix("/git/branches") {
        return match data.branches.get(project) {
            Some(branches) => (StatusCode::OK, json!({"branches": branches})),
            None => error(StatusCode::NOT_FOUND, "ENOPROJECT", "Project not found"),
        };
    }
    match data.projects.get(api_path.trim_end_matches('/')) {
        Some(project) if method == Method::GET => (StatusCode::OK, project.clone()),
        _ => error(StatusCode::NOT_FOUND, "ENOPROJECT", "Project not found"),
    }
}

fn get_pull_request(data: &Data, project: &str, id: u64) -> Answer {
    if !data.projects.contains_key(project) {
        return error(StatusCode::NOT_FOUND, "ENOPROJECT", "Project not found");
    }
    match data.pull_requests.get(&(project.to_owned(), id)) {
        Some(pull_request) => (StatusCode::OK, pull_request.clone()),
        None => error(StatusCode::NOT_FOUND, "ENOREQ", "Pull-Request not found"),
    }
}

/// pagure.lib.query.add_pull_request_flag, as the API exposes it.
fn add_or_update_flag(
    data: &mut Data,
    project: &str,
    id: u64,
    form: &HashMap<String, String>,
    token_user: &str,
) -> Answer {
    let key = (project.to_owned(), id);
    let Some(pull_request) = data.pull_requests.get(&key) else {
        return error(StatusCode::NOT_FOUND, "ENOREQ", "Pull-Request not found");
    };
    let missing: Map<String, Json> = ["username", "comment", "url"]
        .iter()
        .filter(|field| form.get(**field).is_none_or(String::is_empty))
        .map(|field| ((*field).to_owned(), json!(["This field is required."])))
        .collect();
    if !missing.is_empty() {
        return invalid_request(Json::Object(missing));
    }
    let percent: Option<i64> = form.get("percent").and_then(|percent| percent.parse().ok());
    let status = form
        .get("status")
        .cloned()
        .unwrap_or_else(|| default_status(percent).to_owned());
    let uid = form
        .get("uid")
        .cloned()
        .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
    let now = chrono::Utc::now().timestamp().to_string();
    let pull_request_uid = pull_request["uid"].clone();
    let flags = data.flags.entry(key).or_default();
    let existing = flags
        .iter()
        .position(|flag| flag["uid"].as_str() == Some(uid.as_str()));
    let date_created = existing.map_or(json!(now), |index| flags[index]["date_created"].clone());
    let flag = json!({
        "comment": form.get("comment"), "date_created": date_created, "date_updated": now,
        "percent": percent, "pull_request_uid": pull_request_uid, "status": status,
        "url": form.get("url"), "user": {"name": token_user, "fullname": token_user, "url_path": format!("user/{token_user}")},
        "username": form.get("username"), "uid": uid,
    });
    let message = match existing {
        Some(index) => {
            flags[index] = flag.clone();
            "Flag updated"
        }
        None => {
            flags.push(flag.clone());
            "Flag added"
        }
    };
    let mut shown = flag;
    if let Some(fields) = shown.as_object_mut() {
        fields.remove("uid");
    }
    let answer = json!({"flag": shown, "message": message, "uid": uid, "user": token_user,
                        "avatar_url": "https://seccdn.libravatar.org/avatar/0?s=30&d=retro"});
    (StatusCode::OK, answer)
}

/// Pagure's rule when no status is given.
fn default_status(percent: Option<i64>) -> &'static str {
    match percent {
        None => "pending",
        Some(0) => "failure",
        Some(_) => "success",
    }
}

fn add_comment(
    data: &mut Data,
    project: &str,
    id: u64,
    form: &HashMap<String, String>,
    token_user: &str,
) -> Answer {
    let Some(text) = form.get("comment").filter(|text| !text.is_empty()) else {
        return invalid_request(json!({"comment": ["This field is required."]}));
    };
    let Some(pull_request) = data.pull_requests.get_mut(&(project.to_owned(), id)) else {
        return error(StatusCode::NOT_FOUND, "ENOREQ", "Pull-Request not found");
    };
    let comment = json!({
        "id": rand::random_range(100_000..1_000_000), "comment": text, "commit": null, "filename": null,
        "line": null, "tree": null, "parent": null, "edited_on": null, "editor": null, "notification": false,
        "reactions": {}, "date_created": chrono::Utc::now().timestamp().to_string(),
        "user": {"name": token_user, "fullname": token_user, "url_path": format!("user/{token_user}")},
    });
    match pull_request["comments"].as_array_mut() {
        Some(comments) => comments.push(comment),
        None => pull_request["comments"] = json!([comment]),
    }
    (StatusCode::OK, json!({"message": "Comment added"}))
}

fn raw_file(data: &Data, (project, rest): (&str, &str)) -> Response {
    let project = project.trim_start_matches('/').to_owned();
    let found = rest.split_once("/f/").and_then(|(commit, file)| {
        data.raw_files
            .get(&(project, commit.to_owned(), file.to_owned()))
    });
    match found {
        Some(content) => (StatusCode::OK, content.clone()).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            "<html><body>File not found</body></html>",
        )
            .into_response(),
    }
}

fn with_token(token_user: Option<String>, write: impl FnOnce(String) -> Answer) -> Answer {
    match token_user {
        Some(user) => write(user),
        None => {
            let message = "Invalid or expired token. Please visit http://127.0.0.1/settings#nav-api-tab to get or renew your API token.";
            let (status, mut body) = error(StatusCode::UNAUTHORIZED, "EINVALIDTOK", message);
            body["errors"] = json!("Invalid token");
            (status, body)
        }
    }
}

fn token_user(data: &Data, authorization: Option<&str>) -> Option<String> {
    let token = authorization?.trim().strip_prefix("token")?.trim();
    data.tokens.get(token).cloned()
}

/// Pagure's answer to a form with missing or invalid fields.
fn invalid_request(errors: Json) -> Answer {
    let (status, mut body) = error(
        StatusCode::BAD_REQUEST,
        "EINVALIDREQ",
        "Invalid or incomplete input submitted",
    );
    body["errors"] = errors;
    (status, body)
}

fn error(status: StatusCode, code: &str, message: &str) -> Answer {
    (status, json!({"error": message, "error_code": code}))
}

fn parse_form(headers: &HeaderMap, body: &[u8]) -> Vec<(String, String)> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/json"));
    if !is_json {
        return serde_urlencoded::from_bytes(body).unwrap_or_default();
    }
    let fields: Map<String, Json> = serde_json::from_slice(body).unwrap_or_default();
    fields
        .into_iter()
        .filter(|(_, value)| !value.is_null())
        .map(|(name, value)| {
            (
                name,
                value
                    .as_str()
                    .map_or_else(|| value.to_string(), str::to_owned),
            )
        })
        .collect()
}

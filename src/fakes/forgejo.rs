//! A fake Forgejo (API v1) on loopback: commit statuses with their history, pull requests,
//! PR comments, raw files, branches; answers shaped as Forgejo's (see the `api/` fixtures).
//!
//! Forgejo's own rules it keeps: a status is a new row per POST, the newest per `context`
//! counts; a status on a commit the repository does not have is a **500** (not a 404);
//! writing needs a known `Authorization: token …` and write access to the repository.

use crate::fakes::{FakeServer, FaultInjector, lock};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value as Json, json};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

/// One request as the fake received it.
#[derive(Clone, Debug, PartialEq)]
pub struct RecordedForgejoCall {
    pub method: String,
    /// The path after `/api/v1`.
    pub path: String,
    pub query: String,
    pub authorization: Option<String>,
    pub body: Json,
}

#[derive(Default)]
struct Data {
    /// `owner/repo` → its API JSON, as pull requests name it.
    repos: BTreeMap<String, Json>,
    /// `owner/repo` → the commits it has.
    commits: BTreeMap<String, BTreeSet<String>>,
    files: BTreeMap<(String, String, String), String>,
    branches: BTreeMap<String, Vec<String>>,
    pulls: BTreeMap<(String, u64), Json>,
    statuses: BTreeMap<(String, String), Vec<Json>>,
    comments: BTreeMap<(String, u64), Vec<Json>>,
    tokens: HashMap<String, String>,
    read_only: BTreeSet<String>,
    next_id: u64,
    calls: Vec<RecordedForgejoCall>,
}

#[derive(Clone)]
pub struct FakeForgejo {
    server: FakeServer<Data>,
}

type Answer = (StatusCode, Json);

impl FakeForgejo {
    pub async fn start() -> std::io::Result<Self> {
        let server = FakeServer::start(Data::default(), |data, faults| {
            axum::Router::new().fallback(
                move |method: Method, uri: Uri, headers: HeaderMap, body: axum::body::Bytes| {
                    handle(data.clone(), faults.clone(), method, uri, headers, body)
                },
            )
        })
        .await?;
        Ok(FakeForgejo { server })
    }

    /// The web root; the API is under `/api/v1`.
    pub fn url(&self) -> String {
        self.server.url()
    }

    pub fn api_url(&self) -> String {
        format!("{}/api/v1", self.server.url())
    }

    pub fn faults(&self) -> &FaultInjector<u16> {
        &self.server.faults
    }

    /// `repo` (`owner/name`) has `sha`, with these files at it.
    pub fn add_commit(&self, repo: &str, sha: &str, files: &[(&str, &str)]) {
        let mut data = lock(&self.server.data);
        data.commits
            .entry(repo.to_owned())
            .or_default()
            .insert(sha.to_owned());
        for (path, content) in files {
            let key = (repo.to_owned(), sha.to_owned(), (*path).to_owned());
            data.files.insert(key, (*content).to_owned());
        }
    }

    pub fn set_branches(&self, repo: &str, branches: &[&str]) {
        let branches = branches.iter().map(|name| (*name).to_owned()).collect();
        lock(&self.server.data)
            .branches
            .insert(repo.to_owned(), branches);
    }

    /// Registers a pull request from its API JSON (`base.repo.full_name`, `number`); its head
    /// commit then exists in the base repository too, as `refs/pull/N/head` makes it.
    pub fn add_pull_request(&self, pull_request: Json) {
        let repo = pull_request["base"]["repo"]["full_name"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let number = pull_request["number"].as_u64().unwrap_or_default();
        if let Some(head) = pull_request["head"]["sha"].as_str() {
            self.add_commit(&repo, head, &[]);
        }
        let mut data = lock(&self.server.data);
        for side in ["base", "head"] {
            let known = &pull_request[side]["repo"];
            if let Some(name) = known["full_name"].as_str() {
                data.repos.insert(name.to_owned(), known.clone());
            }
        }
        data.pulls.insert((repo, number), pull_request);
    }

    /// Accepts `token` as the API token of `user`.
    pub fn add_token(&self, token: &str, user: &str) {
        lock(&self.server.data)
            .tokens
            .insert(token.to_owned(), user.to_owned());
    }

    /// Tokens may read `repo` but not write to it (statuses answer 403).
    pub fn make_read_only(&self, repo: &str) {
        lock(&self.server.data).read_only.insert(repo.to_owned());
    }

    /// Every status posted on `repo` at `sha`, oldest first.
    pub fn statuses(&self, repo: &str, sha: &str) -> Vec<Json> {
        let key = (repo.to_owned(), sha.to_owned());
        let data = lock(&self.server.data);
        data.statuses.get(&key).cloned().unwrap_or_default()
    }

    /// The newest status per context, as the PR page shows them.
    pub fn latest_statuses(&self, repo: &str, sha: &str) -> BTreeMap<String, Json> {
        let mut latest = BTreeMap::new();
        for status in self.statuses(repo, sha) {
            let context = status["context"].as_str().unwrap_or_default().to_owned();
            latest.insert(context, status);
        }
        latest
    }

    pub fn comments(&self, repo: &str, number: u64) -> Vec<Json> {
        let key = (repo.to_owned(), number);
        let data = lock(&self.server.data);
        data.comments.get(&key).cloned().unwrap_or_default()
    }

    pub fn calls(&self) -> Vec<RecordedForgejoCall> {
        lock(&self.server.data).calls.clone()
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
    let query = uri.query().unwrap_or_default().to_owned();
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    let json_body: Json = serde_json::from_slice(&body).unwrap_or(Json::Null);
    let Some(api_path) = path.strip_prefix("/api/v1") else {
        return json_answer(not_found(&path));
    };
    lock(&data).calls.push(RecordedForgejoCall {
        method: method.to_string(),
        path: api_path.to_owned(),
        query: query.clone(),
        authorization: authorization.clone(),
        body: json_body.clone(),
    });
    if let Some(status) = faults.before_call(api_path).await {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return (status, axum::Json(message(&path, "injected failure"))).into_response();
    }
    let mut data = lock(&data);
    let user = token_user(&data, authorization.as_deref());
    let segments: Vec<&str> = api_path.trim_matches('/').split('/').collect();
    let request = Request {
        method: &method,
        path: &path,
        query: &query,
        body: &json_body,
        user,
    };
    match segments.as_slice() {
        ["version"] => json_answer((StatusCode::OK, json!({"version": "11.0.0+gitea-1.22.0"}))),
        ["user"] => json_answer(match &request.user {
            Some(user) => (StatusCode::OK, user_json(user)),
            None => unauthorized(&path),
        }),
        ["repos", owner, repo, rest @ ..] => {
            let repo = format!("{owner}/{repo}");
            repo_route(&mut data, &request, &repo, rest)
        }
        _ => json_answer(not_found(&path)),
    }
}

struct Request<'a> {
    method: &'a Method,
    path: &'a str,
    query: &'a str,
    body: &'a Json,
    user: Option<String>,
}

fn repo_route(data: &mut Data, request: &Request<'_>, repo: &str, rest: &[&str]) -> Response {
    let method = request.method.as_str();
    match (method, rest) {
        ("GET", []) => json_answer(match data.repos.get(repo) {
            Some(known) => (StatusCode::OK, known.clone()),
            None => not_found(request.path),
        }),
        ("POST", ["statuses", sha]) => json_answer(create_status(data, request, repo, sha)),
        ("GET", ["statuses", sha]) => {
            let mut statuses = data
                .statuses
                .get(&(repo.to_owned(), (*sha).to_owned()))
                .cloned()
                .unwrap_or_default();
            statuses.reverse();
            json_answer((StatusCode::OK, Json::Array(page(&statuses, request.query))))
        }
        ("GET", ["git", "commits", sha]) => json_answer(if has_commit(data, repo, sha) {
            (StatusCode::OK, json!({"sha": sha, "url": request.path}))
        } else {
            not_found(request.path)
        }),
        ("GET", ["pulls", number]) => {
            let number = number.parse().unwrap_or(0);
            json_answer(match data.pulls.get(&(repo.to_owned(), number)) {
                Some(pull) => (StatusCode::OK, pull.clone()),
                None => not_found(request.path),
            })
        }
        ("GET", ["commits", sha, "pull"]) => {
            let found = data
                .pulls
                .iter()
                .filter(|((name, _), pull)| name == repo && pull["head"]["sha"] == *sha)
                .map(|(_, pull)| pull.clone())
                .next_back();
            json_answer(match found {
                Some(pull) => (StatusCode::OK, pull),
                None => not_found(request.path),
            })
        }
        ("POST", ["issues", number, "comments"]) => {
            json_answer(create_comment(data, request, repo, number))
        }
        ("GET", ["issues", number, "comments"]) => {
            let number = number.parse().unwrap_or(0);
            let comments = data.comments.get(&(repo.to_owned(), number)).cloned();
            json_answer((StatusCode::OK, Json::Array(comments.unwrap_or_default())))
        }
        ("GET" | "HEAD", ["raw", path @ ..]) => raw_file(data, request, repo, &path.join("/")),
        ("GET", ["branches", branch]) => json_answer(
            match data
                .branches
                .get(repo)
                .filter(|names| names.iter().any(|name| name == branch))
            {
                Some(_) => (StatusCode::OK, json!({"name": branch, "protected": false})),
                None => not_found(request.path),
            },
        ),
        _ => json_answer(not_found(request.path)),
    }
}

/// `POST /repos/{o}/{r}/statuses/{sha}` as Forgejo's `CreateCommitStatus` answers it.
fn create_status(data: &mut Data, request: &Request<'_>, repo: &str, sha: &str) -> Answer {
    let Some(user) = request.user.clone() else {
        return unauthorized(request.path);
    };
    if data.read_only.contains(repo) {
        return (
            StatusCode::FORBIDDEN,
            message(
                request.path,
                "user should have a permission to write to a repo",
            ),
        );
    }
    if !has_commit(data, repo, sha) {
        // Forgejo turns every failure of CreateCommitStatus into a 500, an unknown sha too.
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            message(
                request.path,
                &format!("object does not exist [id: {sha}, rel_path: ]"),
            ),
        );
    }
    let state = request.body["state"].as_str().unwrap_or("pending");
    if !["pending", "success", "error", "failure", "warning"].contains(&state) {
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            message(request.path, "invalid state"),
        );
    }
    data.next_id += 1;
    let now = chrono::Utc::now().to_rfc3339();
    let status = json!({
        "id": data.next_id,
        "status": state,
        "target_url": request.body["target_url"].as_str().unwrap_or_default(),
        "description": request.body["description"].as_str().unwrap_or_default(),
        "url": format!("{}/{sha}", request.path),
        "context": request.body["context"].as_str().unwrap_or_default(),
        "creator": user_json(&user),
        "created_at": now,
        "updated_at": now,
    });
    data.statuses
        .entry((repo.to_owned(), sha.to_owned()))
        .or_default()
        .push(status.clone());
    (StatusCode::CREATED, status)
}

fn create_comment(data: &mut Data, request: &Request<'_>, repo: &str, number: &str) -> Answer {
    let Some(user) = request.user.clone() else {
        return unauthorized(request.path);
    };
    let number: u64 = number.parse().unwrap_or(0);
    let Some(pull) = data.pulls.get(&(repo.to_owned(), number)) else {
        return not_found(request.path);
    };
    let Some(text) = request.body["body"]
        .as_str()
        .filter(|text| !text.is_empty())
    else {
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            message(request.path, "body is required"),
        );
    };
    let html_url = pull["html_url"].as_str().unwrap_or_default().to_owned();
    data.next_id += 1;
    let now = chrono::Utc::now().to_rfc3339();
    let comment = json!({
        "id": data.next_id,
        "html_url": format!("{html_url}#issuecomment-{}", data.next_id),
        "pull_request_url": html_url,
        "issue_url": "",
        "user": user_json(&user),
        "original_author": "",
        "original_author_id": 0,
        "body": text,
        "assets": [],
        "created_at": now,
        "updated_at": now,
    });
    data.comments
        .entry((repo.to_owned(), number))
        .or_default()
        .push(comment.clone());
    (StatusCode::CREATED, comment)
}

/// `GET|HEAD /repos/{o}/{r}/raw/{path}?ref=`: the file's bytes, or Forgejo's 404.
fn raw_file(data: &Data, request: &Request<'_>, repo: &str, path: &str) -> Response {
    let reference = request
        .query
        .split('&')
        .find_map(|pair| pair.strip_prefix("ref="))
        .unwrap_or_default();
    let key = (repo.to_owned(), reference.to_owned(), path.to_owned());
    match data.files.get(&key) {
        Some(content) => (StatusCode::OK, content.clone()).into_response(),
        None => json_answer(not_found(request.path)),
    }
}

/// One page of a list, as Forgejo pages them: `page` from 1, `limit` (default 30, at most
/// 50); past the end, an empty list (clients page until then).
fn page(items: &[Json], query: &str) -> Vec<Json> {
    let number = |name: &str, default: usize| {
        query
            .split('&')
            .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
            .and_then(|value| value.parse().ok())
            .unwrap_or(default)
    };
    let limit = number("limit", 30).clamp(1, 50);
    let skip = number("page", 1)
        .max(1)
        .saturating_sub(1)
        .saturating_mul(limit);
    items.iter().skip(skip).take(limit).cloned().collect()
}

fn has_commit(data: &Data, repo: &str, sha: &str) -> bool {
    data.commits
        .get(repo)
        .is_some_and(|commits| commits.contains(sha))
}

fn token_user(data: &Data, authorization: Option<&str>) -> Option<String> {
    let token = authorization?.trim().strip_prefix("token")?.trim();
    data.tokens.get(token).cloned()
}

fn user_json(login: &str) -> Json {
    json!({"id": 1, "login": login, "login_name": login, "username": login, "full_name": login})
}

/// Forgejo's error body.
fn message(path: &str, text: &str) -> Json {
    json!({"message": text, "url": format!("{path} (swagger: /api/swagger)")})
}

fn not_found(path: &str) -> Answer {
    let mut body = message(path, "The target couldn't be found.");
    body["errors"] = json!([]);
    (StatusCode::NOT_FOUND, body)
}

fn unauthorized(path: &str) -> Answer {
    (StatusCode::UNAUTHORIZED, message(path, "token is required"))
}

fn json_answer((status, body): Answer) -> Response {
    (status, axum::Json(body)).into_response()
}

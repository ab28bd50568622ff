//! A fake FASJSON v1 answering `GET /v1/users/{name}/groups/` from the users a test adds.
//!
//! Like fasjson.fedoraproject.org behind mod_auth_gssapi, it can insist on an `Authorization`
//! header; without the expected value it answers 401 with `WWW-Authenticate: Negotiate`. It
//! pages only when asked (`page_size`, `page_number`), as FASJSON does, unless told to page
//! every answer. Faults are injected per operation id, `list_user_groups`.

use crate::fakes::{FakeServer, FaultInjector, lock};
use axum::extract::{Path, Query};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value as Json, json};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

pub const LIST_USER_GROUPS: &str = "list_user_groups";

/// One request as the fake received it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedFasjsonCall {
    /// As sent, percent-encoding included.
    pub path: String,
    pub query: Option<String>,
    pub authorization: Option<String>,
}

#[derive(Default)]
struct Data {
    users: BTreeMap<String, Vec<String>>,
    required_authorization: Option<String>,
    forced_page_size: Option<usize>,
    calls: Vec<RecordedFasjsonCall>,
}

#[derive(Clone)]
pub struct FakeFasjson {
    server: FakeServer<Data>,
}

impl FakeFasjson {
    pub async fn start() -> std::io::Result<Self> {
        let server = FakeServer::start(Data::default(), |data, faults| {
            axum::Router::new().route(
                "/v1/users/{name}/groups/",
                axum::routing::get(
                    move |Path(name): Path<String>,
                          Query(query): Query<HashMap<String, String>>,
                          uri: Uri,
                          headers: HeaderMap| {
                        list_user_groups(data.clone(), faults.clone(), name, query, uri, headers)
                    },
                ),
            )
        })
        .await?;
        Ok(FakeFasjson { server })
    }

    pub fn url(&self) -> String {
        self.server.url()
    }

    pub fn faults(&self) -> &FaultInjector<u16> {
        &self.server.faults
    }

    pub fn add_user(&self, name: &str, groups: &[&str]) {
        let groups = groups.iter().map(|group| (*group).to_owned()).collect();
        lock(&self.server.data)
            .users
            .insert(name.to_owned(), groups);
    }

    /// From now on only requests with exactly this `Authorization` value get an answer.
    pub fn require_authorization(&self, value: &str) {
        lock(&self.server.data).required_authorization = Some(value.to_owned());
    }

    /// Pages every answer by `page_size` groups, even when the client does not ask.
    pub fn page_every_answer(&self, page_size: usize) {
        lock(&self.server.data).forced_page_size = Some(page_size);
    }

    pub fn calls(&self) -> Vec<RecordedFasjsonCall> {
        lock(&self.server.data).calls.clone()
    }
}

async fn list_user_groups(
    data: Arc<Mutex<Data>>,
    faults: Arc<FaultInjector<u16>>,
    name: String,
    query: HashMap<String, String>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let text = |name: header::HeaderName| {
        headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned)
    };
    let authorization = text(header::AUTHORIZATION);
    lock(&data).calls.push(RecordedFasjsonCall {
        path: uri.path().to_owned(),
        query: uri.query().map(str::to_owned),
        authorization: authorization.clone(),
    });
    if let Some(status) = faults.before_call(LIST_USER_GROUPS).await {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return (status, axum::Json(json!({"message": "injected failure"}))).into_response();
    }
    let data = lock(&data);
    if data
        .required_authorization
        .as_ref()
        .is_some_and(|required| authorization.as_ref() != Some(required))
    {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Negotiate")],
            "<html><head><title>401 Unauthorized</title></head><body>Unauthorized</body></html>",
        )
            .into_response();
    }
    let Some(groups) = data.users.get(&name) else {
        let body = json!({"name": name, "message": "User does not exist"});
        return (StatusCode::NOT_FOUND, axum::Json(body)).into_response();
    };
    let host = text(header::HOST).unwrap_or_default();
    let entries: Vec<Json> = groups
        .iter()
        .map(
            |group| json!({"groupname": group, "uri": format!("http://{host}/v1/groups/{group}/")}),
        )
        .collect();
    let page_size = query
        .get("page_size")
        .and_then(|size| size.parse().ok())
        .or(data.forced_page_size)
        .filter(|size| *size > 0);
    let Some(page_size) = page_size else {
        return axum::Json(json!({"result": entries})).into_response();
    };
    let page_number: usize = query
        .get("page_number")
        .and_then(|number| number.parse().ok())
        .unwrap_or(1);
    let total_pages = entries.len().div_ceil(page_size);
    let items: Vec<&Json> = entries
        .iter()
        .skip(page_number.saturating_sub(1) * page_size)
        .take(page_size)
        .collect();
    let mut page = json!({"total_results": entries.len(), "page_size": page_size,
                          "page_number": page_number, "total_pages": total_pages});
    if page_number < total_pages {
        page["next_page"] = json!(format!(
            "http://{host}{}?page_size={page_size}&page_number={}",
            uri.path(),
            page_number + 1
        ));
    }
    axum::Json(json!({"result": items, "page": page})).into_response()
}

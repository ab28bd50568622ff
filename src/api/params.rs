//! What the read endpoints share: query parameters and path ids parsed into 400 answers that
//! name the parameter, packit-service's pagination (`page`, `per_page`, `Content-Range`),
//! its timestamps and its project-info fields.

use axum::Json;
use axum::extract::{FromRequestParts, Path, RawPathParams, RawQuery};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::NaiveDateTime;
use serde_json::{Map, Value, json};

use super::ApiError;
use crate::db::api::{Origin, Page};

/// packit-service's default page size.
pub const DEFAULT_PER_PAGE: i64 = 10;
/// The largest page: packit-service accepts `per_page` up to 50; a larger one is served as
/// 50 rather than refused.
pub const MAX_PER_PAGE: i64 = 50;

/// The query string as name/value pairs; the first occurrence of a name wins.
#[derive(Debug, Default)]
pub struct QueryParams(Vec<(String, String)>);

impl QueryParams {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// `page` and `per_page` as packit-service reads them (1 and 10 when absent), as the
    /// rows to skip and return, and the 1-based numbers of the first and last row for
    /// `Content-Range`.
    pub fn pagination(&self) -> Result<Pagination, ApiError> {
        let page = positive(self.get("page"), "page", 1)?;
        let per_page = positive(self.get("per_page"), "per_page", DEFAULT_PER_PAGE)?;
        let per_page = per_page.min(MAX_PER_PAGE);
        // A page past any table is only empty: the numbers saturate instead of failing.
        let offset = (page - 1).saturating_mul(per_page).min(i64::MAX - per_page);
        let last = offset + per_page;
        Ok(Pagination {
            page: Page {
                offset,
                limit: per_page,
            },
            first: offset + 1,
            last,
        })
    }

    /// An optional boolean parameter: `true` or `false`, in any case.
    pub fn boolean(&self, name: &str) -> Result<Option<bool>, ApiError> {
        match self.get(name) {
            None => Ok(None),
            Some(value) if value.eq_ignore_ascii_case("true") => Ok(Some(true)),
            Some(value) if value.eq_ignore_ascii_case("false") => Ok(Some(false)),
            Some(_) => Err(ApiError::bad_request(format!(
                "parameter {name}: must be true or false"
            ))),
        }
    }
}

/// A whole number of at least 1; one too large for 64 bits counts as the largest.
fn positive(value: Option<&str>, name: &str, default: i64) -> Result<i64, ApiError> {
    let Some(value) = value else {
        return Ok(default);
    };
    match whole_number(value) {
        Some(number) if number >= 1 => Ok(number),
        _ => Err(ApiError::bad_request(format!(
            "parameter {name}: must be a whole number of at least 1"
        ))),
    }
}

/// An optionally signed decimal integer, saturated to 64 bits; `None` when not a number.
fn whole_number(value: &str) -> Option<i64> {
    let (negative, digits) = match value.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, value.strip_prefix('+').unwrap_or(value)),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(match digits.parse::<i64>() {
        Ok(number) if negative => -number,
        Ok(number) => number,
        Err(_) if negative => i64::MIN,
        Err(_) => i64::MAX,
    })
}

impl<S: Send + Sync> FromRequestParts<S> for QueryParams {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let RawQuery(query) = RawQuery::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::bad_request("the query string cannot be read"))?;
        let pairs = match query {
            Some(query) => serde_urlencoded::from_str::<Vec<(String, String)>>(&query)
                .map_err(|error| ApiError::bad_request(format!("bad query string: {error}")))?,
            None => Vec::new(),
        };
        for (name, value) in &pairs {
            refuse_nul(name, value)?;
        }
        Ok(QueryParams(pairs))
    }
}

/// A page of a list, as the query asked for it.
#[derive(Debug, Clone, Copy)]
pub struct Pagination {
    pub page: Page,
    pub first: i64,
    pub last: i64,
}

impl Pagination {
    /// A list answer as packit-service sends it: `206 Partial Content` (or `200` when
    /// `ok_when_empty` and nothing was found, as its project endpoints do) with
    /// `Content-Range: <name> <first>-<last>/*`.
    pub fn respond(self, name: &str, items: Vec<Value>, ok_when_empty: bool) -> Response {
        let status = if ok_when_empty && items.is_empty() {
            StatusCode::OK
        } else {
            StatusCode::PARTIAL_CONTENT
        };
        let range = format!("{name} {}-{}/*", self.first, self.last);
        let mut response = (status, Json(Value::Array(items))).into_response();
        if let Ok(value) = HeaderValue::from_str(&range) {
            response.headers_mut().insert(header::CONTENT_RANGE, value);
        }
        response
    }
}

/// Path parameters, with a rejection in the JSON envelope.
pub struct PathParams<T>(pub T);

impl<S, T> FromRequestParts<S> for PathParams<T>
where
    S: Send + Sync,
    T: serde::de::DeserializeOwned + Send,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        if let Ok(raw) = RawPathParams::from_request_parts(parts, state).await {
            for (name, value) in &raw {
                refuse_nul(name, value)?;
            }
        }
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(value)) => Ok(PathParams(value)),
            Err(rejection) => Err(ApiError::bad_request(format!(
                "bad path parameter: {}",
                rejection.body_text()
            ))),
        }
    }
}

/// Names and texts are looked up in the database, which cannot hold U+0000 (PostgreSQL
/// fails the query): such a value is a bad request, not a database outage.
fn refuse_nul(name: &str, value: &str) -> Result<(), ApiError> {
    if value.contains('\0') {
        return Err(ApiError::bad_request(format!(
            "parameter {name}: must not contain a NUL character"
        )));
    }
    Ok(())
}

/// A row id from the path: 400 unless it is a whole number; an id that cannot exist (zero,
/// negative, or past the 32-bit range of packit's serial keys) is answered as unknown by
/// the caller through `None`.
pub fn row_id(raw: &str, name: &str) -> Result<Option<i32>, ApiError> {
    let number = whole_number(raw).ok_or_else(|| {
        ApiError::bad_request(format!("parameter {name}: must be a whole number"))
    })?;
    Ok(i32::try_from(number).ok().filter(|id| *id >= 1))
}

/// packit-service's `optional_timestamp`: whole seconds since the epoch, times being UTC.
pub fn timestamp(time: Option<NaiveDateTime>) -> Value {
    match time {
        Some(time) => json!(time.and_utc().timestamp()),
        None => Value::Null,
    }
}

/// packit-service's `get_project_info_from_build` for a row whose event is a pull request.
pub fn project_info(origin: &Origin) -> Map<String, Value> {
    let mut info = Map::new();
    info.insert("pr_id".into(), json!(origin.pr_id));
    info.insert("issue_id".into(), Value::Null);
    info.insert("branch_name".into(), Value::Null);
    info.insert("release".into(), Value::Null);
    info.insert("anitya_version".into(), Value::Null);
    info.insert("repo_namespace".into(), json!(origin.namespace));
    info.insert("repo_name".into(), json!(origin.repo_name));
    info.insert("project_url".into(), json!(origin.project_url));
    // Which forge: with Pagure and Forgejo both served, repository and number alone are
    // ambiguous.
    info.insert("instance_url".into(), json!(origin.instance_url));
    info.insert("anitya_project_id".into(), Value::Null);
    info.insert("anitya_project_name".into(), Value::Null);
    info.insert("anitya_package".into(), Value::Null);
    info.insert("non_git_upstream".into(), json!(false));
    info
}

/// `value` (an object) with the project info added.
pub fn with_project_info(mut value: Value, origin: Option<&Origin>) -> Value {
    if let (Value::Object(map), Some(origin)) = (&mut value, origin) {
        map.extend(project_info(origin));
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> QueryParams {
        QueryParams(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        )
    }

    #[test]
    fn pagination_defaults_caps_and_refuses() {
        let default = params(&[]).pagination().ok();
        assert_eq!(
            default.map(|p| (p.page, p.first, p.last)),
            Some((
                Page {
                    offset: 0,
                    limit: 10
                },
                1,
                10
            ))
        );
        let capped = params(&[("page", "3"), ("per_page", "100000")])
            .pagination()
            .ok();
        assert_eq!(capped.map(|p| (p.first, p.last)), Some((101, 150)));
        let far = params(&[("page", "99999999999999999999999")])
            .pagination()
            .ok();
        assert_eq!(far.map(|p| p.last), Some(i64::MAX));
        for bad in [
            ("page", "0"),
            ("page", "-1"),
            ("page", "x"),
            ("per_page", "0"),
            ("per_page", "1.5"),
        ] {
            assert!(params(&[bad]).pagination().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn row_ids() {
        assert_eq!(row_id("7", "id").ok(), Some(Some(7)));
        assert_eq!(row_id("0", "id").ok(), Some(None));
        assert_eq!(row_id("99999999999", "id").ok(), Some(None));
        assert_eq!(row_id("-99999999999999999999999", "id").ok(), Some(None));
        assert!(row_id("../../etc", "id").is_err());
        assert!(row_id("", "id").is_err());
    }
}

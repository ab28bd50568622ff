//! `GET /api/log-detective`, `/api/log-detective/{id}`, `/api/log-detective/groups/{id}`, as
//! packit-service shows them (`packit_service/service/api/logdetective.py`).

use axum::Json;
use axum::extract::State;
use axum::response::Response;
use serde_json::{Value, json};

use super::groups::group_answer;
use super::params::{PathParams, QueryParams, row_id, timestamp, with_project_info};
use super::{ApiError, AppState};
use crate::db::api::{self, GroupKind, LogDetectiveView};

fn answer(run: &LogDetectiveView) -> Value {
    let answer = json!({
        "packit_id": run.id,
        "analysis_id": run.analysis_id,
        "status": run.status,
        "chroot": run.target,
        "commit_sha": run.origin.commit_sha,
        "log_detective_response": run.log_detective_response.as_ref().map(|response| &response.0),
        "error_msg": run.error_msg,
        "target_build": run.target_build,
        "run_ids": run.run_ids,
        "submitted_time": timestamp(run.submitted_time),
        "koji_build_id": run.koji_build_target_id,
    });
    with_project_info(answer, Some(&run.origin))
}

pub async fn list(State(app): State<AppState>, query: QueryParams) -> Result<Response, ApiError> {
    let pagination = query.pagination()?;
    let runs = api::log_detective_page(&app.store, pagination.page).await?;
    let items = runs.iter().map(answer).collect();
    Ok(pagination.respond("log-detective-results", items, false))
}

const NOT_FOUND: &str = "No info about Log Detective run stored in DB";

pub async fn detail(
    State(app): State<AppState>,
    PathParams(id): PathParams<String>,
) -> Result<Json<Value>, ApiError> {
    let Some(id) = row_id(&id, "id")? else {
        return Err(ApiError::not_found(NOT_FOUND));
    };
    let run = api::log_detective_run(&app.store, id)
        .await?
        .ok_or_else(|| ApiError::not_found(NOT_FOUND))?;
    Ok(Json(answer(&run)))
}

pub async fn group(
    State(app): State<AppState>,
    PathParams(id): PathParams<String>,
) -> Result<Json<Value>, ApiError> {
    group_answer(
        &app,
        &id,
        GroupKind::LogDetective,
        "log_detective_target_ids",
    )
    .await
}

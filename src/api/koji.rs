//! `GET /api/koji-builds`, `/api/koji-builds/{id}`, `/api/koji-builds/groups/{id}`, as
//! packit-service shows them (`packit_service/service/api/koji_builds.py`).

use axum::Json;
use axum::extract::State;
use axum::response::Response;
use serde_json::{Value, json};

use super::groups::group_answer;
use super::params::{PathParams, QueryParams, row_id, timestamp, with_project_info};
use super::{ApiError, AppState};
use crate::db::api::{self, GroupKind};

pub async fn list(State(app): State<AppState>, query: QueryParams) -> Result<Response, ApiError> {
    let scratch = query.boolean("scratch")?;
    let pagination = query.pagination()?;
    let builds = api::koji_build_page(&app.store, pagination.page, scratch).await?;
    let items = builds
        .iter()
        .map(|build| {
            let mut item = json!({
                "packit_id": build.id,
                "task_id": build.task_id,
                "scratch": build.scratch,
                "status": build.status,
                "build_submitted_time": timestamp(build.submitted_time),
                "chroot": build.target,
                "web_url": build.web_url,
                "build_logs_urls": build.build_logs_urls.as_ref().map(|urls| &urls.0),
                "pr_id": build.origin.pr_id,
                "branch_name": null,
                "release": null,
            });
            if build.origin.project_url.is_some() {
                item["project_url"] = json!(build.origin.project_url);
                item["repo_namespace"] = json!(build.origin.namespace);
                item["repo_name"] = json!(build.origin.repo_name);
            }
            item
        })
        .collect();
    Ok(pagination.respond("koji-builds", items, false))
}

const NOT_FOUND: &str = "No info about build stored in DB";

pub async fn detail(
    State(app): State<AppState>,
    PathParams(id): PathParams<String>,
) -> Result<Json<Value>, ApiError> {
    let Some(id) = row_id(&id, "id")? else {
        return Err(ApiError::not_found(NOT_FOUND));
    };
    let build = api::koji_build(&app.store, id)
        .await?
        .ok_or_else(|| ApiError::not_found(NOT_FOUND))?;
    let run_ids = match build.koji_build_group_id {
        Some(group) => api::group(&app.store, GroupKind::Koji, group)
            .await?
            .map(|group| group.run_ids)
            .unwrap_or_default(),
        None => Vec::new(),
    };
    let log_detective_runs = api::log_detective_ids_of_build(&app.store, build.id).await?;
    let error_message = build
        .data
        .as_ref()
        .and_then(|data| data.0.get("error"))
        .cloned()
        .unwrap_or(Value::Null);
    let answer = json!({
        "task_id": build.task_id,
        "status": build.status,
        "chroot": build.target,
        "scratch": build.scratch,
        "build_start_time": timestamp(build.build_start_time),
        "build_finished_time": timestamp(build.build_finished_time),
        "build_submitted_time": timestamp(build.submitted_time),
        "commit_sha": build.origin.commit_sha,
        "web_url": build.web_url,
        "build_logs_urls": build.build_logs_urls.as_ref().map(|urls| &urls.0),
        "srpm_build_id": null,
        "run_ids": run_ids,
        "build_submission_stdout": build.build_submission_stdout,
        "error_message": error_message,
        "log_detective_runs": log_detective_runs,
    });
    Ok(Json(with_project_info(answer, Some(&build.origin))))
}

pub async fn group(
    State(app): State<AppState>,
    PathParams(id): PathParams<String>,
) -> Result<Json<Value>, ApiError> {
    group_answer(&app, &id, GroupKind::Koji, "build_target_ids").await
}

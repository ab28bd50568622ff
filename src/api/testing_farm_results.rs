//! `GET /api/testing-farm/results`, `/api/testing-farm/{id}`, `/api/testing-farm/groups/{id}`,
//! as packit-service shows them (`packit_service/service/api/testing_farm.py`). The `POST`
//! on `/api/testing-farm/results` is the webhook (`testing_farm.rs`).

use axum::Json;
use axum::extract::State;
use axum::response::Response;
use serde_json::{Value, json};

use super::groups::group_answer;
use super::params::{PathParams, QueryParams, row_id, timestamp, with_project_info};
use super::{ApiError, AppState};
use crate::db::api::{self, GroupKind};

pub async fn list(State(app): State<AppState>, query: QueryParams) -> Result<Response, ApiError> {
    let pagination = query.pagination()?;
    let runs = api::test_run_page(&app.store, pagination.page).await?;
    let items = runs
        .iter()
        .map(|run| {
            json!({
                "packit_id": run.id,
                "pipeline_id": run.pipeline_id,
                "ref": run.origin.commit_sha,
                "status": run.status,
                "target": run.target,
                "web_url": run.web_url,
                "pr_id": run.origin.pr_id,
                "submitted_time": timestamp(run.submitted_time),
                "repo_namespace": run.origin.namespace,
                "repo_name": run.origin.repo_name,
                "project_url": run.origin.project_url,
                // Not in packit-service's list: which test failed, without opening each run.
                "fedora_ci_test": run.fedora_ci_test(),
            })
        })
        .collect();
    Ok(pagination.respond("test-results", items, false))
}

const NOT_FOUND: &str = "No info about build stored in DB";

pub async fn detail(
    State(app): State<AppState>,
    PathParams(id): PathParams<String>,
) -> Result<Json<Value>, ApiError> {
    let Some(id) = row_id(&id, "id")? else {
        return Err(ApiError::not_found(NOT_FOUND));
    };
    let run = api::test_run(&app.store, id)
        .await?
        .ok_or_else(|| ApiError::not_found(NOT_FOUND))?;
    let koji_build_ids = api::koji_ids_of_test_run(&app.store, run.id).await?;
    let run_ids = match run.tft_test_run_group_id {
        Some(group) => api::group(&app.store, GroupKind::TestRun, group)
            .await?
            .map(|group| group.run_ids)
            .unwrap_or_default(),
        None => Vec::new(),
    };
    let answer = json!({
        "packit_id": run.id,
        "pipeline_id": run.pipeline_id,
        "status": run.status,
        "chroot": run.target,
        "commit_sha": run.origin.commit_sha,
        "web_url": run.web_url,
        "copr_build_ids": [],
        "koji_build_ids": koji_build_ids,
        "run_ids": run_ids,
        "submitted_time": timestamp(run.submitted_time),
        "fedora_ci_test": run.fedora_ci_test(),
    });
    Ok(Json(with_project_info(answer, Some(&run.origin))))
}

pub async fn group(
    State(app): State<AppState>,
    PathParams(id): PathParams<String>,
) -> Result<Json<Value>, ApiError> {
    group_answer(&app, &id, GroupKind::TestRun, "test_target_ids").await
}

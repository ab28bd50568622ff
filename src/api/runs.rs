//! `GET /api/runs`, `/api/runs/{id}`, `/api/runs/merged/{id}`: pipelines, as packit-service
//! shows them (`packit_service/service/api/runs.py`).
//!
//! packit merges the pipelines of one SRPM build into one "merged run"; Fedora CI pipelines
//! have no SRPM build, so every pipeline is its own merged run and `merged_run_id` is its id.

use axum::Json;
use axum::extract::State;
use axum::response::Response;
use serde_json::{Value, json};

use super::params::{PathParams, QueryParams, project_info, row_id, timestamp};
use super::{ApiError, AppState};
use crate::db::api::{self, Pipeline, PipelineTarget};

const NOT_FOUND: &str = "No run has been found in DB";

/// packit's `process_runs` for one pipeline, plus `log_detective` (packit leaves its Log
/// Detective group out of this view).
fn merged_run(pipeline: &Pipeline, targets: &[PipelineTarget]) -> Value {
    let list = |kind: &str| -> Vec<Value> {
        targets
            .iter()
            .filter(|target| target.kind == kind)
            .map(|target| {
                let mut item = json!({
                    "packit_id": target.id,
                    "target": target.target,
                    "status": target.status,
                });
                // Not in packit-service's view: a pipeline runs several tests on one target,
                // and only the name tells them apart.
                if kind == "test_run" {
                    item["fedora_ci_test"] = json!(target.fedora_ci_test);
                }
                item
            })
            .collect()
    };
    // packit takes the submission time of the first target it lists (Koji before tests).
    let first = ["koji", "test_run", "log_detective"]
        .iter()
        .find_map(|kind| targets.iter().find(|target| target.kind == *kind));
    let submitted = first
        .and_then(|target| target.submitted_time)
        .or(pipeline.datetime);
    json!({
        "merged_run_id": pipeline.id,
        "srpm": null,
        "copr": [],
        "koji": list("koji"),
        "test_run": list("test_run"),
        "log_detective": list("log_detective"),
        "propose_downstream": [],
        "pull_from_upstream": [],
        "bodhi_update": [],
        "vm_image_build": [],
        "time_submitted": timestamp(submitted),
        "trigger": project_info(&pipeline.origin),
    })
}

pub async fn list(State(app): State<AppState>, query: QueryParams) -> Result<Response, ApiError> {
    let pagination = query.pagination()?;
    let runs = api::pipeline_page(&app.store, pagination.page).await?;
    let items = runs
        .iter()
        .map(|(pipeline, targets)| merged_run(pipeline, targets))
        .collect();
    Ok(pagination.respond("runs", items, false))
}

pub async fn merged(
    State(app): State<AppState>,
    PathParams(id): PathParams<String>,
) -> Result<Json<Value>, ApiError> {
    let Some(id) = row_id(&id, "id")? else {
        return Err(ApiError::not_found(NOT_FOUND));
    };
    let (pipeline, targets) = api::pipeline(&app.store, id)
        .await?
        .ok_or_else(|| ApiError::not_found(NOT_FOUND))?;
    Ok(Json(merged_run(&pipeline, &targets)))
}

pub async fn detail(
    State(app): State<AppState>,
    PathParams(id): PathParams<String>,
) -> Result<Json<Value>, ApiError> {
    let Some(id) = row_id(&id, "id")? else {
        return Err(ApiError::not_found(NOT_FOUND));
    };
    let (pipeline, _) = api::pipeline(&app.store, id)
        .await?
        .ok_or_else(|| ApiError::not_found(NOT_FOUND))?;
    Ok(Json(json!({
        "run_id": pipeline.id,
        "trigger": project_info(&pipeline.origin),
        "srpm_build_id": pipeline.srpm_build_id,
        "copr_build_group_id": pipeline.copr_build_group_id,
        "koji_build_group_id": pipeline.koji_build_group_id,
        "test_run_group_id": pipeline.test_run_group_id,
        "bodhi_update_group_id": pipeline.bodhi_update_group_id,
        "log_detective_run_group_id": pipeline.log_detective_run_group_id,
    })))
}

//! `GET /api/{koji-builds,testing-farm,log-detective}/groups/{id}`: one build, test or
//! analysis group, as packit-service shows it.

use axum::Json;
use serde_json::{Value, json};

use super::params::{row_id, timestamp, with_project_info};
use super::{ApiError, App};
use crate::db::api::{self, GroupKind};

const NOT_FOUND: &str = "No info about group stored in DB";

/// The group `raw_id` of `kind`, its targets' ids under `targets_field`.
pub async fn group_answer(
    app: &App,
    raw_id: &str,
    kind: GroupKind,
    targets_field: &str,
) -> Result<Json<Value>, ApiError> {
    let Some(id) = row_id(raw_id, "id")? else {
        return Err(ApiError::not_found(NOT_FOUND));
    };
    let group = api::group(&app.store, kind, id)
        .await?
        .ok_or_else(|| ApiError::not_found(NOT_FOUND))?;
    let mut answer = json!({
        "packit_id": group.id,
        "submitted_time": timestamp(group.submitted_time),
        "run_ids": group.run_ids,
    });
    answer[targets_field] = json!(group.target_ids);
    Ok(Json(with_project_info(answer, group.origin.as_ref())))
}

//! `GET /api/projects/{forge}/{namespace}/{repo}/prs`: a project's pull requests with their
//! builds and tests, as packit-service shows them (`packit_service/service/api/projects.py`).

use std::collections::HashSet;

use axum::extract::State;
use axum::response::Response;
use serde_json::{Value, json};

use super::params::{PathParams, QueryParams};
use super::{ApiError, AppState};
use crate::db::api;

pub async fn pull_requests(
    State(app): State<AppState>,
    PathParams((forge, namespace, repo)): PathParams<(String, String, String)>,
    query: QueryParams,
) -> Result<Response, ApiError> {
    let pagination = query.pagination()?;
    let page = pagination.page;
    let prs = api::project_pull_requests(&app.store, &forge, &namespace, &repo, page).await?;
    let runs = if prs.is_empty() {
        api::PullRequestRuns::default()
    } else {
        api::project_pull_request_runs(&app.store, &forge, &namespace, &repo, page).await?
    };
    let items = prs
        .iter()
        .map(|pr| {
            let mut seen = HashSet::new();
            let koji_builds: Vec<Value> = runs
                .koji_builds
                .iter()
                .filter(|build| build.pull_request_id == pr.id && seen.insert(build.id))
                .map(|build| {
                    json!({
                        "task_id": build.task_id,
                        "chroot": build.target,
                        "status": build.status,
                        "web_url": build.web_url,
                    })
                })
                .collect();
            let mut seen = HashSet::new();
            let tests: Vec<Value> = runs
                .test_runs
                .iter()
                .filter(|run| run.pull_request_id == pr.id && seen.insert(run.id))
                .map(|run| {
                    json!({
                        "pipeline_id": run.pipeline_id,
                        "chroot": run.target,
                        "status": run.status,
                        "web_url": run.web_url,
                    })
                })
                .collect();
            json!({
                "pr_id": pr.pr_id,
                "builds": [],
                "koji_builds": koji_builds,
                "srpm_builds": [],
                "tests": tests,
            })
        })
        .collect();
    Ok(pagination.respond("git-project-prs", items, true))
}

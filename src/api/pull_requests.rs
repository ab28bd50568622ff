//! `GET /api/pull-requests/{namespace}/{repo}/{pr_id}`: everything that ran for one pull
//! request, per commit (newest first): every check per target with its status, links and
//! the state of its flag on the pull request, failures first.
//!
//! Not in packit-service: this is the view Fedora CI users asked for.

use std::collections::{BTreeMap, HashMap, HashSet};

use axum::Json;
use axum::extract::State;
use chrono::NaiveDateTime;
use serde_json::{Value, json};

use super::params::{PathParams, QueryParams, row_id, timestamp};
use super::{ApiError, AppState};
use crate::db::api::{self, PullRequestRuns};
use crate::db::flags::{self, Flag};
use crate::events::ForgeKind;
use crate::helpers::flags::check_name;

/// The check names the handlers report under (`handlers::koji::CHECK`, …).
const SCRATCH_BUILD: &str = "scratch build";
const LOG_DETECTIVE: &str = "Log Detective analysis";

/// A status reduced to what a reader needs, and the order failures-first sorts by.
fn state_of(kind: &str, status: &str) -> &'static str {
    match (kind, status) {
        (_, "failure" | "failed" | "needs_inspection") => "failure",
        (_, "error") => "error",
        (_, "running" | "cancel_requested") => "running",
        (_, "pending" | "queued" | "new" | "retry") => "pending",
        (_, "success" | "passed" | "complete") => "success",
        (_, "canceled") => "canceled",
        (_, "skipped") => "skipped",
        _ => "unknown",
    }
}

fn rank(state: &str) -> u8 {
    match state {
        "failure" => 0,
        "error" => 1,
        "running" => 2,
        "pending" => 3,
        "unknown" => 4,
        "canceled" => 5,
        "skipped" => 6,
        _ => 7,
    }
}

/// Whether a failed check failed because of the package (the build or test failed) or of
/// the infrastructure (Koji or Testing Farm could not run it: status `error`).
fn failure_kind(state: &str) -> Value {
    match state {
        "failure" => json!("package"),
        "error" => json!("infrastructure"),
        _ => Value::Null,
    }
}

fn flag_json(flag: &Flag) -> Value {
    json!({
        "name": flag.username,
        "check": flag.check_name,
        "status": flag.status,
        "comment": flag.comment,
        "url": flag.url,
        "posted": flag.posted_seq >= flag.wanted_seq && !flag.planned_only,
        "planned_only": flag.posted_seq >= flag.wanted_seq && flag.planned_only,
        "updated_at": flag.updated_at.to_rfc3339(),
    })
}

/// One check as the view lists it.
struct Check {
    event: i32,
    state: &'static str,
    check: String,
    target: String,
    id: i32,
    body: Value,
}

fn checks(runs: &PullRequestRuns) -> Vec<Check> {
    let mut checks = Vec::new();
    let mut seen = HashSet::new();
    for build in &runs.koji_builds {
        if !seen.insert(("koji", build.id)) {
            continue;
        }
        let status = build.status.as_deref().unwrap_or("unknown");
        let state = state_of("koji", status);
        let target = build.target.clone().unwrap_or_default();
        checks.push(Check {
            event: build.project_event_id,
            state,
            check: SCRATCH_BUILD.to_owned(),
            target: target.clone(),
            id: build.id,
            body: json!({
                "type": "koji_build",
                "packit_id": build.id,
                "check": SCRATCH_BUILD,
                "target": target,
                "status": status,
                "state": state,
                "failure_kind": failure_kind(state),
                "url": build.web_url,
                "task_id": build.task_id,
                "build_logs_urls": build.build_logs_urls.as_ref().map(|urls| &urls.0),
                "error_message": build.data.as_ref().and_then(|data| data.0.get("error")),
                "submitted_time": timestamp(build.submitted_time),
                "finished_time": timestamp(build.build_finished_time),
            }),
        });
    }
    for run in &runs.test_runs {
        if !seen.insert(("test", run.id)) {
            continue;
        }
        let status = run.status.as_deref().unwrap_or("unknown");
        let state = state_of("test_run", status);
        let test = run
            .data
            .as_ref()
            .and_then(|data| data.0.get("fedora_ci_test"))
            .and_then(Value::as_str)
            .unwrap_or("unknown")
            .to_owned();
        // The flag of a test names the Koji target it tested (rawhide without a build).
        let target = run
            .koji_target
            .clone()
            .unwrap_or_else(|| "rawhide".to_owned());
        checks.push(Check {
            event: run.project_event_id,
            state,
            check: test.clone(),
            target: target.clone(),
            id: run.id,
            body: json!({
                "type": "test_run",
                "packit_id": run.id,
                "check": test,
                "target": target,
                "chroot": run.target,
                "status": status,
                "state": state,
                "failure_kind": failure_kind(state),
                "url": run.web_url,
                "pipeline_id": run.pipeline_id,
                "koji_build_id": run.koji_build_id,
                "submitted_time": timestamp(run.submitted_time),
            }),
        });
    }
    for run in &runs.log_detective_runs {
        if !seen.insert(("log_detective", run.id)) {
            continue;
        }
        let state = state_of("log_detective", &run.status);
        let target = run.target.clone().unwrap_or_default();
        checks.push(Check {
            event: run.project_event_id,
            state,
            check: LOG_DETECTIVE.to_owned(),
            target: target.clone(),
            id: run.id,
            body: json!({
                "type": "log_detective",
                "packit_id": run.id,
                "check": LOG_DETECTIVE,
                "target": target,
                "status": run.status,
                "state": state,
                "failure_kind": Value::Null,
                "url": Value::Null,
                "analysis_id": run.analysis_id,
                "target_build": run.target_build,
                "koji_build_id": run.koji_build_target_id,
                "error_msg": run.error_msg,
                "submitted_time": timestamp(run.submitted_time),
            }),
        });
    }
    checks
}

pub async fn pull_request(
    State(app): State<AppState>,
    PathParams((namespace, repo, pr_id)): PathParams<(String, String, String)>,
    query: QueryParams,
) -> Result<Json<Value>, ApiError> {
    const NOT_FOUND: &str = "No info about pull request stored in DB";
    let Some(pr_id) = row_id(&pr_id, "pr_id")? else {
        return Err(ApiError::not_found(NOT_FOUND));
    };
    let forge = query.get("forge");
    let mut found =
        api::pull_requests_numbered(&app.store, &namespace, &repo, pr_id, forge).await?;
    // Two forges may each have this repository and number (Pagure and Forgejo during the
    // switch): without `forge`, one of them must not be shown as if it were the only one.
    if found.len() > 1 {
        let forges: Vec<&str> = found.iter().map(|pr| pr.instance_url.as_str()).collect();
        return Err(ApiError::conflict(format!(
            "pull request {pr_id} of {namespace}/{repo} exists on several forges ({}): \
             ask with ?forge=<one of them>",
            forges.join(", ")
        )));
    }
    let pr = found.pop().ok_or_else(|| ApiError::not_found(NOT_FOUND))?;
    let runs = api::pull_request_runs(&app.store, pr.id).await?;
    let flags = flags::of_pull_request(&app.store, pr.id).await?;
    let prefix = &app.config.check_name_prefix;

    // Commits newest first: by the newest pipeline of each event.
    let mut events: Vec<(i32, String, Vec<i32>, Option<NaiveDateTime>)> = Vec::new();
    for pipeline in &runs.pipelines {
        match events.iter_mut().find(|e| e.0 == pipeline.project_event_id) {
            Some(event) => {
                event.2.push(pipeline.id);
                event.3 = match (event.3, pipeline.datetime) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
            }
            None => events.push((
                pipeline.project_event_id,
                pipeline.commit_sha.clone().unwrap_or_default(),
                vec![pipeline.id],
                pipeline.datetime,
            )),
        }
    }
    let mut by_event: BTreeMap<i32, Vec<Check>> = BTreeMap::new();
    for check in checks(&runs) {
        by_event.entry(check.event).or_default().push(check);
    }
    // The PR's own flags, so its check names identify them.
    let flags_by_name: HashMap<&str, &Flag> = flags
        .iter()
        .map(|flag| (flag.username.as_str(), flag))
        .collect();

    let commits: Vec<Value> = events
        .into_iter()
        .map(|(event, sha, mut run_ids, submitted)| {
            run_ids.sort_unstable();
            let mut checks = by_event.remove(&event).unwrap_or_default();
            checks.sort_by(|a, b| {
                (rank(a.state), &a.check, &a.target, std::cmp::Reverse(a.id)).cmp(&(
                    rank(b.state),
                    &b.check,
                    &b.target,
                    std::cmp::Reverse(b.id),
                ))
            });
            let state = checks.first().map_or("unknown", |check| check.state);
            let checks: Vec<Value> = checks
                .into_iter()
                .map(|check| {
                    let name = check_name(prefix, &check.check, &check.target, &sha);
                    let mut body = check.body;
                    body["flag"] = flags_by_name
                        .get(name.as_str())
                        .map_or(Value::Null, |flag| flag_json(flag));
                    body
                })
                .collect();
            let mut commit_flags: Vec<&Flag> =
                flags.iter().filter(|flag| flag.commit_sha == sha).collect();
            commit_flags
                .sort_by_key(|flag| (rank(state_of("flag", &flag.status)), flag.username.clone()));
            json!({
                "commit_sha": sha,
                "project_event_id": event,
                "run_ids": run_ids,
                "time_submitted": timestamp(submitted),
                "state": state,
                "checks": checks,
                "flags": commit_flags.into_iter().map(flag_json).collect::<Vec<_>>(),
            })
        })
        .collect();

    // Pagure's pull requests are at `/pull-request/N`, Forgejo's at `/pulls/N`.
    let path = match app.config.forge_of_instance(&pr.instance_url) {
        ForgeKind::Pagure => "pull-request",
        ForgeKind::Forgejo => "pulls",
    };
    let pr_url = pr
        .project_url
        .as_ref()
        .map(|url| format!("{}/{path}/{}", url.trim_end_matches('/'), pr.pr_id));
    Ok(Json(json!({
        "pr_id": pr.pr_id,
        "forge": pr.instance_url,
        "repo_namespace": pr.namespace,
        "repo_name": pr.repo_name,
        "project_url": pr.project_url,
        "pr_url": pr_url,
        "commits": commits,
    })))
}

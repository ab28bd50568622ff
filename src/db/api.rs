//! The read API's queries: pages of pipelines, Koji builds, test runs and Log Detective runs,
//! newest first, single rows by id, their groups, and everything of one pull request.
//!
//! Lists page with `ORDER BY id DESC LIMIT … OFFSET …` on the primary key, and every lookup
//! follows an indexed foreign key, so a page costs the same with a million pipelines. A page
//! of rows and their related rows are two queries, never one per row.

use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;

use super::{DbResult, Store, on_backend};

/// Rows to skip and rows to return.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub offset: i64,
    pub limit: i64,
}

/// Where a pipeline, build or run comes from: its commit, pull request and project. Each
/// part is `None` when the row has no pipeline or its event is not a pull request.
#[derive(Debug, Clone, Default, sqlx::FromRow)]
pub struct Origin {
    pub commit_sha: Option<String>,
    pub pr_id: Option<i32>,
    pub namespace: Option<String>,
    pub repo_name: Option<String>,
    pub project_url: Option<String>,
    /// The forge's host name (packit's `instance_url`, the API's `{forge}`).
    pub instance_url: Option<String>,
}

/// The columns of [`Origin`], from the aliases the joins of [`ORIGIN_JOINS`] give.
const ORIGIN_COLUMNS: &str = "pe.commit_sha AS commit_sha, pr.pr_id AS pr_id, \
     gp.namespace AS namespace, gp.repo_name AS repo_name, gp.project_url AS project_url, \
     gp.instance_url AS instance_url";
/// From a pipeline `p` to its event, pull request and project.
const ORIGIN_JOINS: &str = " LEFT JOIN project_events pe ON pe.id = p.project_event_id \
     LEFT JOIN pull_requests pr ON pr.id = pe.event_id AND CAST(pe.type AS TEXT) = 'pull_request' \
     LEFT JOIN git_projects gp ON gp.id = pr.project_id ";

// ----------------------------------------------------------------------------------------
// Pipelines ("runs")

/// A pipeline with its groups and origin.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Pipeline {
    pub id: i32,
    pub datetime: Option<NaiveDateTime>,
    pub package_name: Option<String>,
    pub srpm_build_id: Option<i32>,
    pub copr_build_group_id: Option<i32>,
    pub koji_build_group_id: Option<i32>,
    pub test_run_group_id: Option<i32>,
    pub bodhi_update_group_id: Option<i32>,
    pub log_detective_run_group_id: Option<i32>,
    #[sqlx(flatten)]
    pub origin: Origin,
}

/// One target (build, test run, analysis) of a pipeline's groups.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PipelineTarget {
    pub run_id: i32,
    /// `koji`, `test_run` or `log_detective`.
    pub kind: String,
    pub id: i32,
    pub target: Option<String>,
    pub status: Option<String>,
    pub submitted_time: Option<NaiveDateTime>,
    /// The Fedora CI test of a test run (`data.fedora_ci_test`); `None` for the other kinds
    /// and for runs stored without one.
    pub fedora_ci_test: Option<String>,
}

/// Which pipelines a query reads; each is a subquery named `p` by the caller.
#[derive(Debug, Clone, Copy)]
enum Pipelines {
    Page(Page),
    Id(i32),
}

impl Pipelines {
    fn subquery(self) -> &'static str {
        match self {
            Pipelines::Page(_) => "(SELECT * FROM pipelines ORDER BY id DESC LIMIT $1 OFFSET $2)",
            Pipelines::Id(_) => "(SELECT * FROM pipelines WHERE id = $1)",
        }
    }
}

/// Binds the parameters of a [`Pipelines`] selection to a query.
macro_rules! bind_pipelines {
    ($query:expr, $selection:expr) => {
        match $selection {
            Pipelines::Page(page) => $query.bind(page.limit).bind(page.offset),
            Pipelines::Id(id) => $query.bind(id),
        }
    };
}

async fn pipelines(
    store: &Store,
    selection: Pipelines,
) -> DbResult<Vec<(Pipeline, Vec<PipelineTarget>)>> {
    let from = selection.subquery();
    let rows_sql = format!(
        "SELECT p.id, p.datetime, p.package_name, p.srpm_build_id, p.copr_build_group_id, \
         p.koji_build_group_id, p.test_run_group_id, p.bodhi_update_group_id, \
         p.log_detective_run_group_id, {ORIGIN_COLUMNS} FROM {from} p{ORIGIN_JOINS}\
         ORDER BY p.id DESC"
    );
    // The test name comes out of the same query (`->>` reads JSON on both backends), so a
    // page stays two queries however many runs it lists.
    let targets_sql = format!(
        "SELECT p.id AS run_id, 'koji' AS kind, kb.id AS id, kb.target AS target, \
         kb.status AS status, kb.submitted_time AS submitted_time, \
         CAST(NULL AS TEXT) AS fedora_ci_test \
         FROM {from} p JOIN koji_build_targets kb ON kb.koji_build_group_id = p.koji_build_group_id \
         UNION ALL SELECT p.id, 'test_run', t.id, t.target, CAST(t.status AS TEXT), t.submitted_time, \
         t.data->>'fedora_ci_test' \
         FROM {from} p JOIN tft_test_run_targets t ON t.tft_test_run_group_id = p.test_run_group_id \
         UNION ALL SELECT p.id, 'log_detective', l.id, l.target, CAST(l.status AS TEXT), l.submitted_time, \
         CAST(NULL AS TEXT) \
         FROM {from} p JOIN log_detective_run l ON l.log_detective_run_group_id = p.log_detective_run_group_id \
         ORDER BY 1 DESC, 3"
    );
    let rows: Vec<Pipeline> = on_backend!(store, pool => {
        let query = sqlx::query_as::<_, Pipeline>(sqlx::AssertSqlSafe(rows_sql));
        bind_pipelines!(query, selection).fetch_all(pool).await?
    });
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let targets: Vec<PipelineTarget> = on_backend!(store, pool => {
        let query = sqlx::query_as::<_, PipelineTarget>(sqlx::AssertSqlSafe(targets_sql));
        bind_pipelines!(query, selection).fetch_all(pool).await?
    });
    Ok(rows
        .into_iter()
        .map(|pipeline| {
            let own = targets
                .iter()
                .filter(|target| target.run_id == pipeline.id)
                .cloned()
                .collect();
            (pipeline, own)
        })
        .collect())
}

/// A page of pipelines, newest first, each with its targets (oldest first).
pub async fn pipeline_page(
    store: &Store,
    page: Page,
) -> DbResult<Vec<(Pipeline, Vec<PipelineTarget>)>> {
    pipelines(store, Pipelines::Page(page)).await
}

/// One pipeline with its targets.
pub async fn pipeline(store: &Store, id: i32) -> DbResult<Option<(Pipeline, Vec<PipelineTarget>)>> {
    Ok(pipelines(store, Pipelines::Id(id))
        .await?
        .into_iter()
        .next())
}

// ----------------------------------------------------------------------------------------
// Koji builds

/// A Koji build as the API shows it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct KojiBuildView {
    pub id: i32,
    pub task_id: Option<String>,
    pub scratch: Option<bool>,
    pub status: Option<String>,
    pub target: Option<String>,
    pub web_url: Option<String>,
    pub build_logs_urls: Option<Json<Value>>,
    pub submitted_time: Option<NaiveDateTime>,
    pub build_start_time: Option<NaiveDateTime>,
    pub build_finished_time: Option<NaiveDateTime>,
    pub build_submission_stdout: Option<String>,
    pub data: Option<Json<Value>>,
    pub koji_build_group_id: Option<i32>,
    #[sqlx(flatten)]
    pub origin: Origin,
}

const KOJI_COLUMNS: &str = "kb.id, kb.task_id, kb.scratch, kb.status, kb.target, kb.web_url, \
     kb.build_logs_urls, kb.submitted_time, kb.build_start_time, kb.build_finished_time, \
     kb.build_submission_stdout, kb.data, kb.koji_build_group_id";
/// From a build `kb` to the first pipeline of its group.
const KOJI_PIPELINE: &str = " LEFT JOIN pipelines p ON p.id = \
     (SELECT MIN(id) FROM pipelines WHERE koji_build_group_id = kb.koji_build_group_id)";

/// A page of Koji builds, newest first; `scratch` filters when given.
pub async fn koji_build_page(
    store: &Store,
    page: Page,
    scratch: Option<bool>,
) -> DbResult<Vec<KojiBuildView>> {
    let sql = format!(
        "SELECT {KOJI_COLUMNS}, {ORIGIN_COLUMNS} FROM \
         (SELECT * FROM koji_build_targets WHERE ($3 IS NULL OR scratch = $3) \
         ORDER BY id DESC LIMIT $1 OFFSET $2) kb{KOJI_PIPELINE}{ORIGIN_JOINS}ORDER BY kb.id DESC"
    );
    let rows = on_backend!(store, pool => sqlx::query_as::<_, KojiBuildView>(sqlx::AssertSqlSafe(sql))
        .bind(page.limit).bind(page.offset).bind(scratch).fetch_all(pool).await?);
    Ok(rows)
}

pub async fn koji_build(store: &Store, id: i32) -> DbResult<Option<KojiBuildView>> {
    let sql = format!(
        "SELECT {KOJI_COLUMNS}, {ORIGIN_COLUMNS} FROM koji_build_targets kb\
         {KOJI_PIPELINE}{ORIGIN_JOINS}WHERE kb.id = $1"
    );
    let row = on_backend!(store, pool => sqlx::query_as::<_, KojiBuildView>(sqlx::AssertSqlSafe(sql))
        .bind(id).fetch_optional(pool).await?);
    Ok(row)
}

/// Ids of the Log Detective runs of a build, oldest first.
pub async fn log_detective_ids_of_build(store: &Store, koji_build_id: i32) -> DbResult<Vec<i32>> {
    const SQL: &str =
        "SELECT id FROM log_detective_run WHERE koji_build_target_id = $1 ORDER BY id";
    let ids = on_backend!(store, pool => sqlx::query_scalar(SQL).bind(koji_build_id).fetch_all(pool).await?);
    Ok(ids)
}

// ----------------------------------------------------------------------------------------
// Testing Farm runs

/// A Testing Farm run as the API shows it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TestRunView {
    pub id: i32,
    pub pipeline_id: Option<String>,
    pub status: Option<String>,
    pub target: Option<String>,
    pub web_url: Option<String>,
    pub submitted_time: Option<NaiveDateTime>,
    pub data: Option<Json<Value>>,
    pub tft_test_run_group_id: Option<i32>,
    #[sqlx(flatten)]
    pub origin: Origin,
}

impl TestRunView {
    /// The Fedora CI test this run is (`data.fedora_ci_test`, stored by the worker when it
    /// creates the run), if its data names one.
    pub fn fedora_ci_test(&self) -> Option<&str> {
        self.data
            .as_ref()
            .and_then(|data| data.0.get("fedora_ci_test"))
            .and_then(Value::as_str)
    }
}

const TEST_COLUMNS: &str = "t.id, t.pipeline_id, CAST(t.status AS TEXT) AS status, t.target, \
     t.web_url, t.submitted_time, t.data, t.tft_test_run_group_id";
const TEST_PIPELINE: &str = " LEFT JOIN pipelines p ON p.id = \
     (SELECT MIN(id) FROM pipelines WHERE test_run_group_id = t.tft_test_run_group_id)";

pub async fn test_run_page(store: &Store, page: Page) -> DbResult<Vec<TestRunView>> {
    let sql = format!(
        "SELECT {TEST_COLUMNS}, {ORIGIN_COLUMNS} FROM \
         (SELECT * FROM tft_test_run_targets ORDER BY id DESC LIMIT $1 OFFSET $2) t\
         {TEST_PIPELINE}{ORIGIN_JOINS}ORDER BY t.id DESC"
    );
    let rows = on_backend!(store, pool => sqlx::query_as::<_, TestRunView>(sqlx::AssertSqlSafe(sql))
        .bind(page.limit).bind(page.offset).fetch_all(pool).await?);
    Ok(rows)
}

pub async fn test_run(store: &Store, id: i32) -> DbResult<Option<TestRunView>> {
    let sql = format!(
        "SELECT {TEST_COLUMNS}, {ORIGIN_COLUMNS} FROM tft_test_run_targets t\
         {TEST_PIPELINE}{ORIGIN_JOINS}WHERE t.id = $1"
    );
    let row = on_backend!(store, pool => sqlx::query_as::<_, TestRunView>(sqlx::AssertSqlSafe(sql))
        .bind(id).fetch_optional(pool).await?);
    Ok(row)
}

/// Ids of the Koji builds a test run tested.
pub async fn koji_ids_of_test_run(store: &Store, test_run_id: i32) -> DbResult<Vec<i32>> {
    const SQL: &str =
        "SELECT koji_id FROM tf_koji_build_association_table WHERE tft_id = $1 ORDER BY koji_id";
    let ids = on_backend!(store, pool => sqlx::query_scalar(SQL).bind(test_run_id).fetch_all(pool).await?);
    Ok(ids)
}

// ----------------------------------------------------------------------------------------
// Log Detective runs

/// A Log Detective run as the API shows it, with the pipelines of its group.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LogDetectiveView {
    pub id: i32,
    pub analysis_id: String,
    pub status: String,
    pub target: Option<String>,
    pub target_build: Option<String>,
    pub log_detective_response: Option<Json<Value>>,
    pub error_msg: Option<String>,
    pub submitted_time: Option<NaiveDateTime>,
    pub koji_build_target_id: Option<i32>,
    pub log_detective_run_group_id: Option<i32>,
    #[sqlx(flatten)]
    pub origin: Origin,
    #[sqlx(skip)]
    pub run_ids: Vec<i32>,
}

const LOG_DETECTIVE_COLUMNS: &str = "l.id, l.analysis_id, CAST(l.status AS TEXT) AS status, \
     l.target, l.target_build, l.log_detective_response, l.error_msg, l.submitted_time, \
     l.koji_build_target_id, l.log_detective_run_group_id";
const LOG_DETECTIVE_PIPELINE: &str = " LEFT JOIN pipelines p ON p.id = \
     (SELECT MIN(id) FROM pipelines WHERE log_detective_run_group_id = l.log_detective_run_group_id)";

pub async fn log_detective_page(store: &Store, page: Page) -> DbResult<Vec<LogDetectiveView>> {
    const PAGE: &str = "(SELECT * FROM log_detective_run ORDER BY id DESC LIMIT $1 OFFSET $2)";
    let sql = format!(
        "SELECT {LOG_DETECTIVE_COLUMNS}, {ORIGIN_COLUMNS} FROM {PAGE} l\
         {LOG_DETECTIVE_PIPELINE}{ORIGIN_JOINS}ORDER BY l.id DESC"
    );
    let runs_sql = format!(
        "SELECT l.id, p.id FROM {PAGE} l \
         JOIN pipelines p ON p.log_detective_run_group_id = l.log_detective_run_group_id ORDER BY p.id"
    );
    let mut rows: Vec<LogDetectiveView> = on_backend!(store, pool => sqlx::query_as::<_, LogDetectiveView>(sqlx::AssertSqlSafe(sql))
        .bind(page.limit).bind(page.offset).fetch_all(pool).await?);
    let runs: Vec<(i32, i32)> = on_backend!(store, pool => sqlx::query_as(sqlx::AssertSqlSafe(runs_sql))
        .bind(page.limit).bind(page.offset).fetch_all(pool).await?);
    for row in &mut rows {
        row.run_ids = runs
            .iter()
            .filter(|(id, _)| *id == row.id)
            .map(|(_, run)| *run)
            .collect();
    }
    Ok(rows)
}

pub async fn log_detective_run(store: &Store, id: i32) -> DbResult<Option<LogDetectiveView>> {
    let sql = format!(
        "SELECT {LOG_DETECTIVE_COLUMNS}, {ORIGIN_COLUMNS} FROM log_detective_run l\
         {LOG_DETECTIVE_PIPELINE}{ORIGIN_JOINS}WHERE l.id = $1"
    );
    let row: Option<LogDetectiveView> = on_backend!(store, pool => sqlx::query_as::<_, LogDetectiveView>(sqlx::AssertSqlSafe(sql))
        .bind(id).fetch_optional(pool).await?);
    let Some(mut row) = row else {
        return Ok(None);
    };
    if let Some(group) = row.log_detective_run_group_id {
        row.run_ids = group_runs(store, GroupKind::LogDetective, group).await?;
    }
    Ok(Some(row))
}

// ----------------------------------------------------------------------------------------
// Groups

/// The three kinds of groups a pipeline points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupKind {
    Koji,
    TestRun,
    LogDetective,
}

impl GroupKind {
    fn group_table(self) -> &'static str {
        match self {
            GroupKind::Koji => "SELECT id, submitted_time FROM koji_build_groups WHERE id = $1",
            GroupKind::TestRun => {
                "SELECT id, submitted_time FROM tft_test_run_groups WHERE id = $1"
            }
            GroupKind::LogDetective => {
                "SELECT id, submitted_time FROM log_detective_run_groups WHERE id = $1"
            }
        }
    }

    fn runs(self) -> &'static str {
        match self {
            GroupKind::Koji => {
                "SELECT id FROM pipelines WHERE koji_build_group_id = $1 ORDER BY id"
            }
            GroupKind::TestRun => {
                "SELECT id FROM pipelines WHERE test_run_group_id = $1 ORDER BY id"
            }
            GroupKind::LogDetective => {
                "SELECT id FROM pipelines WHERE log_detective_run_group_id = $1 ORDER BY id"
            }
        }
    }

    fn targets(self) -> &'static str {
        match self {
            GroupKind::Koji => {
                "SELECT id FROM koji_build_targets WHERE koji_build_group_id = $1 ORDER BY id"
            }
            GroupKind::TestRun => {
                "SELECT id FROM tft_test_run_targets WHERE tft_test_run_group_id = $1 ORDER BY id"
            }
            GroupKind::LogDetective => {
                "SELECT id FROM log_detective_run WHERE log_detective_run_group_id = $1 ORDER BY id"
            }
        }
    }
}

/// A build, test or analysis group with its pipelines and targets.
#[derive(Debug, Clone)]
pub struct Group {
    pub id: i32,
    pub submitted_time: Option<NaiveDateTime>,
    /// Pipelines pointing at the group, oldest first.
    pub run_ids: Vec<i32>,
    /// Builds, test runs or analyses in the group, oldest first.
    pub target_ids: Vec<i32>,
    /// The origin of the first pipeline; `None` when no pipeline points at the group.
    pub origin: Option<Origin>,
}

async fn group_runs(store: &Store, kind: GroupKind, id: i32) -> DbResult<Vec<i32>> {
    let ids =
        on_backend!(store, pool => sqlx::query_scalar(kind.runs()).bind(id).fetch_all(pool).await?);
    Ok(ids)
}

pub async fn group(store: &Store, kind: GroupKind, id: i32) -> DbResult<Option<Group>> {
    let row: Option<(i32, Option<NaiveDateTime>)> = on_backend!(store, pool =>
        sqlx::query_as(kind.group_table()).bind(id).fetch_optional(pool).await?);
    let Some((id, submitted_time)) = row else {
        return Ok(None);
    };
    let run_ids = group_runs(store, kind, id).await?;
    let target_ids = on_backend!(store, pool => sqlx::query_scalar(kind.targets()).bind(id).fetch_all(pool).await?);
    let origin = match run_ids.first() {
        Some(first) => origin_of_pipeline(store, *first).await?,
        None => None,
    };
    Ok(Some(Group {
        id,
        submitted_time,
        run_ids,
        target_ids,
        origin,
    }))
}

async fn origin_of_pipeline(store: &Store, pipeline_id: i32) -> DbResult<Option<Origin>> {
    let sql = format!("SELECT {ORIGIN_COLUMNS} FROM pipelines p{ORIGIN_JOINS}WHERE p.id = $1");
    let row = on_backend!(store, pool => sqlx::query_as::<_, Origin>(sqlx::AssertSqlSafe(sql))
        .bind(pipeline_id).fetch_optional(pool).await?);
    Ok(row)
}

// ----------------------------------------------------------------------------------------
// Pull requests

/// A pull request and its project.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PullRequestRow {
    pub id: i32,
    pub pr_id: i32,
    pub namespace: Option<String>,
    pub repo_name: Option<String>,
    pub project_url: Option<String>,
    /// The forge's host name, packit's `{forge}`.
    pub instance_url: String,
}

/// Which pull requests the per-PR queries read, as a subquery of pull-request row ids.
#[derive(Debug, Clone, Copy)]
enum PullRequests<'a> {
    One(i32),
    /// A page of one project's pull requests, highest number first.
    OfProject {
        forge: &'a str,
        namespace: &'a str,
        repo_name: &'a str,
        page: Page,
    },
}

impl PullRequests<'_> {
    fn ids(self) -> &'static str {
        match self {
            PullRequests::One(_) => "(SELECT $1 AS id)",
            PullRequests::OfProject { .. } => {
                "(SELECT pr.id AS id FROM pull_requests pr \
                 JOIN git_projects gp ON gp.id = pr.project_id \
                 WHERE gp.instance_url = $1 AND gp.namespace = $2 AND gp.repo_name = $3 \
                 ORDER BY pr.pr_id DESC, pr.id DESC LIMIT $4 OFFSET $5)"
            }
        }
    }
}

macro_rules! bind_pull_requests {
    ($query:expr, $selection:expr) => {
        match $selection {
            PullRequests::One(id) => $query.bind(id),
            PullRequests::OfProject {
                forge,
                namespace,
                repo_name,
                page,
            } => $query
                .bind(forge)
                .bind(namespace)
                .bind(repo_name)
                .bind(page.limit)
                .bind(page.offset),
        }
    };
}

/// The pull request `pr_id` of the project `namespace/repo_name`.
/// The pull requests numbered `pr_id` of `namespace/repo_name`, on the forge `forge` (its
/// host name) or on any: one per forge (two forges may have the same repository and number).
pub async fn pull_requests_numbered(
    store: &Store,
    namespace: &str,
    repo_name: &str,
    pr_id: i32,
    forge: Option<&str>,
) -> DbResult<Vec<PullRequestRow>> {
    const SQL: &str = "SELECT pr.id, pr.pr_id, gp.namespace, gp.repo_name, gp.project_url, \
         gp.instance_url FROM pull_requests pr JOIN git_projects gp ON gp.id = pr.project_id \
         WHERE gp.namespace = $1 AND gp.repo_name = $2 AND pr.pr_id = $3 \
         AND ($4 IS NULL OR gp.instance_url = $4) ORDER BY pr.id LIMIT 10";
    let rows = on_backend!(store, pool => sqlx::query_as::<_, PullRequestRow>(SQL)
        .bind(namespace).bind(repo_name).bind(pr_id).bind(forge).fetch_all(pool).await?);
    Ok(rows)
}

/// A page of one project's pull requests, highest number first.
pub async fn project_pull_requests(
    store: &Store,
    forge: &str,
    namespace: &str,
    repo_name: &str,
    page: Page,
) -> DbResult<Vec<PullRequestRow>> {
    let selection = PullRequests::OfProject {
        forge,
        namespace,
        repo_name,
        page,
    };
    let sql = format!(
        "SELECT pr.id, pr.pr_id, gp.namespace, gp.repo_name, gp.project_url, gp.instance_url \
         FROM {} ids \
         JOIN pull_requests pr ON pr.id = ids.id JOIN git_projects gp ON gp.id = pr.project_id \
         ORDER BY pr.pr_id DESC, pr.id DESC",
        selection.ids()
    );
    let rows = on_backend!(store, pool => {
        let query = sqlx::query_as::<_, PullRequestRow>(sqlx::AssertSqlSafe(sql));
        bind_pull_requests!(query, selection).fetch_all(pool).await?
    });
    Ok(rows)
}

/// A pipeline of a pull request.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PrPipeline {
    pub pull_request_id: i32,
    pub id: i32,
    pub project_event_id: i32,
    pub commit_sha: Option<String>,
    pub datetime: Option<NaiveDateTime>,
}

/// A Koji build of a pull request.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PrKojiBuild {
    pub pull_request_id: i32,
    pub project_event_id: i32,
    pub commit_sha: Option<String>,
    pub id: i32,
    pub task_id: Option<String>,
    pub status: Option<String>,
    pub target: Option<String>,
    pub web_url: Option<String>,
    pub build_logs_urls: Option<Json<Value>>,
    pub submitted_time: Option<NaiveDateTime>,
    pub build_finished_time: Option<NaiveDateTime>,
    pub data: Option<Json<Value>>,
}

/// A Testing Farm run of a pull request, with the target of the build it tested.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PrTestRun {
    pub pull_request_id: i32,
    pub project_event_id: i32,
    pub commit_sha: Option<String>,
    pub id: i32,
    pub pipeline_id: Option<String>,
    pub status: Option<String>,
    pub target: Option<String>,
    pub web_url: Option<String>,
    pub submitted_time: Option<NaiveDateTime>,
    pub data: Option<Json<Value>>,
    pub koji_build_id: Option<i32>,
    pub koji_target: Option<String>,
}

/// A Log Detective run of a pull request.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PrLogDetectiveRun {
    pub pull_request_id: i32,
    pub project_event_id: i32,
    pub commit_sha: Option<String>,
    pub id: i32,
    pub analysis_id: String,
    pub status: String,
    pub target: Option<String>,
    pub target_build: Option<String>,
    pub error_msg: Option<String>,
    pub submitted_time: Option<NaiveDateTime>,
    pub koji_build_target_id: Option<i32>,
}

/// Everything that ran for a set of pull requests. A group shared by several pipelines of
/// the same event (a cloned pipeline) appears once per pipeline: callers dedupe by id.
#[derive(Debug, Clone, Default)]
pub struct PullRequestRuns {
    pub pipelines: Vec<PrPipeline>,
    pub koji_builds: Vec<PrKojiBuild>,
    pub test_runs: Vec<PrTestRun>,
    pub log_detective_runs: Vec<PrLogDetectiveRun>,
}

async fn runs_of(store: &Store, selection: PullRequests<'_>) -> DbResult<PullRequestRuns> {
    let ids = selection.ids();
    let from = format!(
        "FROM {ids} ids JOIN project_events pe ON pe.event_id = ids.id \
         AND CAST(pe.type AS TEXT) = 'pull_request' JOIN pipelines p ON p.project_event_id = pe.id"
    );
    let pipelines_sql = format!(
        "SELECT ids.id AS pull_request_id, p.id, pe.id AS project_event_id, \
         pe.commit_sha AS commit_sha, p.datetime {from} ORDER BY p.id DESC"
    );
    let koji_sql = format!(
        "SELECT ids.id AS pull_request_id, pe.id AS project_event_id, pe.commit_sha AS commit_sha, \
         kb.id, kb.task_id, kb.status, kb.target, kb.web_url, kb.build_logs_urls, \
         kb.submitted_time, kb.build_finished_time, kb.data {from} \
         JOIN koji_build_targets kb ON kb.koji_build_group_id = p.koji_build_group_id \
         ORDER BY kb.id DESC"
    );
    let tests_sql = format!(
        "SELECT ids.id AS pull_request_id, pe.id AS project_event_id, pe.commit_sha AS commit_sha, \
         t.id, t.pipeline_id, CAST(t.status AS TEXT) AS status, t.target, t.web_url, \
         t.submitted_time, t.data, \
         (SELECT MIN(a.koji_id) FROM tf_koji_build_association_table a WHERE a.tft_id = t.id) \
           AS koji_build_id, \
         (SELECT kb.target FROM tf_koji_build_association_table a \
           JOIN koji_build_targets kb ON kb.id = a.koji_id WHERE a.tft_id = t.id \
           ORDER BY kb.id LIMIT 1) AS koji_target {from} \
         JOIN tft_test_run_targets t ON t.tft_test_run_group_id = p.test_run_group_id \
         ORDER BY t.id DESC"
    );
    let log_detective_sql = format!(
        "SELECT ids.id AS pull_request_id, pe.id AS project_event_id, pe.commit_sha AS commit_sha, \
         l.id, l.analysis_id, CAST(l.status AS TEXT) AS status, l.target, l.target_build, \
         l.error_msg, l.submitted_time, l.koji_build_target_id {from} \
         JOIN log_detective_run l ON l.log_detective_run_group_id = p.log_detective_run_group_id \
         ORDER BY l.id DESC"
    );
    let pipelines = on_backend!(store, pool => {
        let query = sqlx::query_as::<_, PrPipeline>(sqlx::AssertSqlSafe(pipelines_sql));
        bind_pull_requests!(query, selection).fetch_all(pool).await?
    });
    let koji_builds = on_backend!(store, pool => {
        let query = sqlx::query_as::<_, PrKojiBuild>(sqlx::AssertSqlSafe(koji_sql));
        bind_pull_requests!(query, selection).fetch_all(pool).await?
    });
    let test_runs = on_backend!(store, pool => {
        let query = sqlx::query_as::<_, PrTestRun>(sqlx::AssertSqlSafe(tests_sql));
        bind_pull_requests!(query, selection).fetch_all(pool).await?
    });
    let log_detective_runs = on_backend!(store, pool => {
        let query = sqlx::query_as::<_, PrLogDetectiveRun>(sqlx::AssertSqlSafe(log_detective_sql));
        bind_pull_requests!(query, selection).fetch_all(pool).await?
    });
    Ok(PullRequestRuns {
        pipelines,
        koji_builds,
        test_runs,
        log_detective_runs,
    })
}

/// Everything that ran for one pull request (by its row id), newest first.
pub async fn pull_request_runs(store: &Store, pull_request_id: i32) -> DbResult<PullRequestRuns> {
    runs_of(store, PullRequests::One(pull_request_id)).await
}

/// Everything that ran for a page of a project's pull requests, newest first.
pub async fn project_pull_request_runs(
    store: &Store,
    forge: &str,
    namespace: &str,
    repo_name: &str,
    page: Page,
) -> DbResult<PullRequestRuns> {
    runs_of(
        store,
        PullRequests::OfProject {
            forge,
            namespace,
            repo_name,
            page,
        },
    )
    .await
}

// ----------------------------------------------------------------------------------------
// Queue

/// A task that ran out of attempts.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DeadTask {
    pub id: i64,
    pub name: String,
    pub queue: String,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The newest dead tasks, at most `limit`.
pub async fn dead_tasks(store: &Store, limit: i64) -> DbResult<Vec<DeadTask>> {
    const SQL: &str = "SELECT id, name, queue, attempts, last_error, created_at, updated_at \
         FROM tasks WHERE state = 'dead' ORDER BY id DESC LIMIT $1";
    let rows = on_backend!(store, pool => sqlx::query_as::<_, DeadTask>(SQL).bind(limit).fetch_all(pool).await?);
    Ok(rows)
}

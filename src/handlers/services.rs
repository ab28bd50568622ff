//! The outside world as the handlers see it: the clients, and the rule that every call that
//! changes something is recorded in `external_calls` — made, or in shadow mode (`dry_run`)
//! only planned.
//!
//! Reads (a pull request, a file, the packager group, the ELN lists, a Testing Farm request)
//! are made in shadow mode too: they change nothing, and the decisions depend on them.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use serde::Serialize;
use serde_json::{Value, json};

use crate::clients::Transient;
use crate::clients::eln::{ElnError, ElnPackageLists, ElnPackages};
use crate::clients::fasjson::{CachedPackagers, PackagerError, Packagers, PagureGroupPackagers};
use crate::clients::forge::{
    CheckReport, CheckTarget, Forge, ForgeError, ForgeKind, ProjectRef, PullRequestState,
};
use crate::clients::forgejo::ForgejoClient;
use crate::clients::koji::{KojiClientOptions, KojiCredentials, KojiError, KojiHub, KojiHubClient};
use crate::clients::logdetective::{
    AnalysisRequest, AnalysisStarted, LogDetective, LogDetectiveClient, LogDetectiveError,
};
use crate::clients::pagure::PagureClient;
use crate::clients::testing_farm::{TestRequest, TestingFarmClient, TestingFarmError};
use crate::clients::{RetryPolicy, Timeouts};
use crate::config::{Config, Secret};
use crate::db::{DbError, Store, flags as flag_rows};

/// How long a positive packager answer is trusted (packit-service: 8 hours).
const PACKAGER_CACHE: Duration = Duration::from_secs(8 * 3600);
/// How long the ELN package lists are trusted (packit-service: 12 hours).
const ELN_LISTS_CACHE: Duration = Duration::from_secs(12 * 3600);

/// The clients, and whether calls that change something are only planned.
pub struct Services {
    pub dry_run: bool,
    pub koji: Arc<dyn KojiHub>,
    pagure: Arc<dyn Forge>,
    /// The Forgejo dist-git, when one is served (`[forgejo]`).
    forgejo: Option<Arc<dyn Forge>>,
    pub testing_farm: Arc<TestingFarmClient>,
    pub packagers: Arc<dyn Packagers>,
    pub eln: Arc<dyn ElnPackages>,
    pub log_detective: Option<Arc<dyn LogDetective>>,
    store: Store,
}

/// Why shadow mode is on, if it is: explicitly, or because credentials are missing.
pub fn shadow_mode_reason(config: &Config) -> Option<String> {
    match config.dry_run {
        Some(true) => Some("dry_run = true".to_owned()),
        Some(false) => None,
        None => {
            let mut missing = Vec::new();
            if config.pagure_token.is_none() {
                missing.push("pagure_token");
            }
            if config
                .forgejo
                .as_ref()
                .is_some_and(|forgejo| forgejo.token.is_none())
            {
                missing.push("forgejo.token");
            }
            if !has_koji_credentials(config) {
                missing.push("Koji credentials");
            }
            if config.testing_farm_secret.is_none() {
                missing.push("testing_farm_secret");
            }
            (!missing.is_empty()).then(|| format!("no {} configured", missing.join(", ")))
        }
    }
}

static PROCESS_SHADOW_MODE: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();

/// Shadow mode of the handlers of this process: `None` if this process has no `Services`
/// (it runs no tasks), else why shadow mode is on (`Some(None)`: off).
pub fn process_shadow_mode() -> Option<Option<String>> {
    PROCESS_SHADOW_MODE.get().cloned()
}

/// Decides this process's shadow mode from `config` (once: the first decision stays) and
/// exports it as `fedora_ci_shadow_mode`; for the roles that run tasks.
pub fn note_process_shadow_mode(config: &Config) {
    let decided = PROCESS_SHADOW_MODE.get_or_init(|| shadow_mode_reason(config));
    crate::metrics::global().set_shadow_mode(decided.is_some());
}

/// What a planned call is, for the log: "build", "flag", "comment", ….
fn planned_what(service: &str, call: &str) -> &'static str {
    match (service, call) {
        ("koji", "build") => "build",
        ("koji", "cancelTask") => "build cancellation",
        ("testing-farm", "POST /requests") => "test request",
        ("testing-farm", _) => "test request cancellation",
        ("pagure", "flag") | ("forgejo", "status") => "flag",
        ("pagure" | "forgejo", "comment") => "comment",
        ("logdetective", _) => "analysis",
        _ => "call",
    }
}

fn has_koji_credentials(config: &Config) -> bool {
    (config.koji_cert.is_some() && config.koji_key.is_some())
        || !matches!(config.koji_credentials(), KojiCredentials::Anonymous)
}

/// A client certificate when `koji_cert` and `koji_key` are set, else Kerberos when a keytab
/// or principal is, else anonymous.
fn koji_credentials(config: &Config) -> anyhow::Result<KojiCredentials> {
    match (&config.koji_cert, &config.koji_key) {
        (Some(cert), Some(key)) => Ok(KojiCredentials::ClientCertificate {
            certificate_pem: std::fs::read(cert)
                .with_context(|| format!("reading koji_cert {}", cert.display()))?,
            private_key_pem: Secret::new(
                std::fs::read_to_string(key)
                    .with_context(|| format!("reading koji_key {}", key.display()))?,
            ),
        }),
        (None, None) => Ok(config.koji_credentials()),
        _ => anyhow::bail!("koji_cert and koji_key must be set together"),
    }
}

impl Services {
    /// The real clients, configured from `config`.
    pub fn from_config(config: &Config, store: Store) -> anyhow::Result<Services> {
        let timeouts = Timeouts {
            request: Duration::from_secs(config.request_timeout_seconds),
            ..Timeouts::default()
        };
        let retry = RetryPolicy::default();
        let koji = KojiHubClient::new(
            &config.koji_hub_url,
            koji_credentials(config)?,
            KojiClientOptions {
                timeouts,
                ..KojiClientOptions::default()
            },
        )?;
        let pagure = Arc::new(PagureClient::new(
            &config.pagure_url,
            config.pagure_token.clone(),
            timeouts,
            retry.clone(),
        )?);
        let testing_farm = TestingFarmClient::new(
            &config.testing_farm_api_url,
            config
                .testing_farm_secret
                .clone()
                .unwrap_or_else(|| Secret::new("")),
            timeouts,
            retry.clone(),
        )?;
        let packagers =
            CachedPackagers::new(PagureGroupPackagers::new(pagure.clone()), PACKAGER_CACHE);
        let forgejo = match &config.forgejo {
            Some(forgejo) => Some(Arc::new(ForgejoClient::new(
                &forgejo.api_url(),
                forgejo.token.clone(),
                timeouts,
                retry.clone(),
            )?) as Arc<dyn Forge>),
            None => None,
        };
        let eln = ElnPackageLists::new(
            &config.eln_package_lists_url,
            ELN_LISTS_CACHE,
            timeouts,
            retry,
        )?;
        let log_detective = match &config.logdetective_token {
            Some(token) if config.logdetective_enabled => {
                let client = LogDetectiveClient::new(
                    &config.logdetective_url,
                    token.clone(),
                    Timeouts {
                        request: Duration::from_secs(30),
                        ..timeouts
                    },
                )?;
                Some(Arc::new(client) as Arc<dyn LogDetective>)
            }
            _ => None,
        };
        note_process_shadow_mode(config);
        Ok(Services {
            // This configuration's decision (a test process may hold several).
            dry_run: shadow_mode_reason(config).is_some(),
            koji: Arc::new(koji),
            pagure,
            forgejo,
            testing_farm: Arc::new(testing_farm),
            packagers: Arc::new(packagers),
            eln: Arc::new(eln),
            log_detective,
            store,
        })
    }

    async fn record(
        &self,
        project_event_id: Option<i32>,
        service: &str,
        call: &str,
        request: &Value,
        result: Result<Option<Value>, String>,
    ) -> Result<(), DbError> {
        let (outcome, response, error) = match (&result, self.dry_run) {
            (_, true) => ("planned", None, None),
            (Ok(response), false) => ("succeeded", response.as_ref(), None),
            (Err(error), false) => ("failed", None, Some(error.as_str())),
        };
        crate::metrics::global().outbound_call(service, outcome);
        if self.dry_run {
            tracing::info!(
                service,
                call,
                project_event_id,
                "{} planned (shadow mode): recorded, not sent",
                planned_what(service, call)
            );
        }
        flag_rows::record_call(
            &self.store,
            &flag_rows::NewExternalCall {
                project_event_id,
                service,
                call,
                request,
                dry_run: self.dry_run,
                outcome,
                response,
                error,
            },
        )
        .await?;
        Ok(())
    }

    /// Submits a scratch build; `None` in shadow mode.
    pub async fn submit_scratch_build(
        &self,
        project_event_id: i32,
        source: &str,
        target: &str,
    ) -> Result<Option<i64>, CallError<KojiError>> {
        // The arguments of Koji's `build` call, as `koji build --scratch` sends them.
        let request = json!({"src": source, "target": target, "opts": {"scratch": true}});
        if self.dry_run {
            self.record(Some(project_event_id), "koji", "build", &request, Ok(None))
                .await?;
            return Ok(None);
        }
        let result = self.koji.scratch_build(source, target).await;
        note_outcome(KOJI, &result);
        self.record(
            Some(project_event_id),
            "koji",
            "build",
            &request,
            outcome_of(&result, |task_id| json!({"task_id": task_id})),
        )
        .await?;
        Ok(Some(result.map_err(CallError::Service)?))
    }

    pub async fn cancel_koji_task(
        &self,
        project_event_id: i32,
        task_id: i64,
    ) -> Result<(), CallError<KojiError>> {
        let request = json!({"task_id": task_id});
        if self.dry_run {
            self.record(
                Some(project_event_id),
                "koji",
                "cancelTask",
                &request,
                Ok(None),
            )
            .await?;
            return Ok(());
        }
        let result = self.koji.cancel_task(task_id).await;
        note_outcome(KOJI, &result);
        self.record(
            Some(project_event_id),
            "koji",
            "cancelTask",
            &request,
            outcome_of(&result, |()| Value::Null),
        )
        .await?;
        result.map_err(CallError::Service)
    }

    /// Submits a Testing Farm request; `None` in shadow mode.
    pub async fn submit_tests(
        &self,
        project_event_id: i32,
        request: &TestRequest,
    ) -> Result<Option<String>, CallError<TestingFarmError>> {
        // Recorded with the webhook token redacted; the request itself carries it.
        let recorded = redacted_json(request);
        if self.dry_run {
            self.record(
                Some(project_event_id),
                "testing-farm",
                "POST /requests",
                &recorded,
                Ok(None),
            )
            .await?;
            return Ok(None);
        }
        let result = self.testing_farm.submit(request).await;
        note_outcome(TESTING_FARM, &result);
        self.record(
            Some(project_event_id),
            "testing-farm",
            "POST /requests",
            &recorded,
            outcome_of(&result, |id| json!({"id": id})),
        )
        .await?;
        Ok(Some(result.map_err(CallError::Service)?))
    }

    pub async fn cancel_tests(
        &self,
        project_event_id: i32,
        request_id: &str,
    ) -> Result<(), CallError<TestingFarmError>> {
        let request = json!({"id": request_id});
        let call = "DELETE /requests/{id}";
        if self.dry_run {
            self.record(
                Some(project_event_id),
                "testing-farm",
                call,
                &request,
                Ok(None),
            )
            .await?;
            return Ok(());
        }
        let result = self.testing_farm.cancel_request(request_id).await;
        note_outcome(TESTING_FARM, &result);
        self.record(
            Some(project_event_id),
            "testing-farm",
            call,
            &request,
            outcome_of(
                &result,
                |outcome| json!({"outcome": format!("{outcome:?}")}),
            ),
        )
        .await?;
        result.map(|_| ()).map_err(CallError::Service)
    }

    /// The client of a forge; an error when that forge is not served.
    pub fn forge(&self, kind: ForgeKind) -> Result<&dyn Forge, ForgeError> {
        match kind {
            ForgeKind::Pagure => Ok(self.pagure.as_ref()),
            ForgeKind::Forgejo => self.forgejo.as_deref().ok_or(ForgeError::Setup {
                forge: kind,
                detail: "Forgejo is not served by this instance (no [forgejo] table)".to_owned(),
            }),
        }
    }

    /// Whether a file exists at a commit of a project on `kind`'s forge.
    pub async fn file_exists_at_commit(
        &self,
        kind: ForgeKind,
        project: &ProjectRef,
        commit: &str,
        path: &str,
    ) -> Result<bool, ForgeError> {
        let result = async {
            self.forge(kind)?
                .file_exists_at_commit(project, commit, path)
                .await
        }
        .await;
        note_outcome(forge_service(kind), &result);
        result
    }

    /// Whether a project on `kind`'s forge has the branch.
    pub async fn has_branch(
        &self,
        kind: ForgeKind,
        project: &ProjectRef,
        branch: &str,
    ) -> Result<bool, ForgeError> {
        let result = async { self.forge(kind)?.has_branch(project, branch).await }.await;
        note_outcome(forge_service(kind), &result);
        result
    }

    /// The pull request of a project on `kind`'s forge whose head is `sha`, if any.
    pub async fn pull_request_for_commit(
        &self,
        kind: ForgeKind,
        project: &ProjectRef,
        sha: &str,
    ) -> Result<Option<PullRequestState>, ForgeError> {
        let result = async {
            self.forge(kind)?
                .pull_request_for_commit(project, sha)
                .await
        }
        .await;
        note_outcome(forge_service(kind), &result);
        result
    }

    /// Reports a check on the pull request's head: a Pagure flag, a Forgejo commit status.
    pub async fn report_check(
        &self,
        kind: ForgeKind,
        at: CheckTarget<'_>,
        report: CheckReport<'_>,
    ) -> Result<(), CallError<ForgeError>> {
        let (service, call) = match kind {
            ForgeKind::Pagure => ("pagure", "flag"),
            ForgeKind::Forgejo => ("forgejo", "status"),
        };
        let request = json!({
            "project": at.project.path(),
            "pr_id": at.number,
            "flag": {
                "username": report.name,
                "uid": report.uid,
                "status": report.state,
                "comment": report.description,
                "url": report.url,
            },
        });
        if self.dry_run {
            self.record(None, service, call, &request, Ok(None)).await?;
            return Ok(());
        }
        let result = async { self.forge(kind)?.report_check(at, report).await }.await;
        note_outcome(forge_service(kind), &result);
        self.record(
            None,
            service,
            call,
            &request,
            outcome_of(
                &result,
                |change| json!({"uid": report.uid, "change": format!("{change:?}")}),
            ),
        )
        .await?;
        result.map(|_| ()).map_err(CallError::Service)
    }

    pub async fn comment(
        &self,
        kind: ForgeKind,
        project: &ProjectRef,
        pr_id: u64,
        text: &str,
    ) -> Result<(), CallError<ForgeError>> {
        let service = kind.name();
        let request = json!({"project": project.path(), "pr_id": pr_id, "comment": text});
        if self.dry_run {
            self.record(None, service, "comment", &request, Ok(None))
                .await?;
            return Ok(());
        }
        let result = async {
            self.forge(kind)?
                .comment_on_pull_request(project, pr_id, text)
                .await
        }
        .await;
        note_outcome(forge_service(kind), &result);
        self.record(
            None,
            service,
            "comment",
            &request,
            outcome_of(&result, |()| Value::Null),
        )
        .await?;
        result.map_err(CallError::Service)
    }

    /// Starts a Log Detective analysis; `None` in shadow mode or when it is not configured.
    pub async fn start_analysis(
        &self,
        project_event_id: i32,
        request: &AnalysisRequest,
    ) -> Result<Option<AnalysisStarted>, CallError<LogDetectiveError>> {
        let recorded = json!({
            "artifacts": request.artifacts,
            "target_build": request.target_build,
            "build_system": "koji",
            "commit_sha": request.commit_sha,
            "project_url": request.project_url,
            "pr_id": request.pr_id,
        });
        let Some(client) = self.log_detective.as_ref().filter(|_| !self.dry_run) else {
            // Enabled without a token is a configuration error: recorded as a failed call and
            // logged, not passed over as if it had been planned.
            let result = if self.dry_run {
                Ok(None)
            } else {
                let reason = "Log Detective is enabled but logdetective_token is not configured";
                tracing::warn!(project_event_id, "{reason}; no analysis started");
                Err(reason.to_owned())
            };
            self.record(
                Some(project_event_id),
                "logdetective",
                "POST /analyze",
                &recorded,
                result,
            )
            .await?;
            return Ok(None);
        };
        let result = client.analyze(request).await;
        note_outcome(LOG_DETECTIVE, &result);
        self.record(
            Some(project_event_id),
            "logdetective",
            "POST /analyze",
            &recorded,
            outcome_of(
                &result,
                |started| json!({"log_detective_analysis_id": started.analysis_id.0}),
            ),
        )
        .await?;
        Ok(Some(result.map_err(CallError::Service)?))
    }
}

/// The services as flags name them.
pub const KOJI: &str = "Koji";
pub const PAGURE: &str = "Pagure";
pub const FORGEJO: &str = "Forgejo";
pub const TESTING_FARM: &str = "Testing Farm";
pub const LOG_DETECTIVE: &str = "Log Detective";
pub const ELN_LISTS: &str = "Content Resolver (ELN package lists)";
pub const PACKAGERS: &str = "The packager group service";

/// A forge as flags name it.
pub fn forge_service(kind: ForgeKind) -> &'static str {
    match kind {
        ForgeKind::Pagure => PAGURE,
        ForgeKind::Forgejo => FORGEJO,
    }
}

/// Tells the running task whether `service` answered: a transient failure (after the
/// client's own retries) means it is unavailable, anything else that it is up. The queue
/// treats a task that fails after an unanswered call as waiting out an outage, even when the
/// handler turned the error into its own (a submission's `retry_in`).
pub fn note_outcome<T, E: Transient + std::fmt::Display>(service: &str, result: &Result<T, E>) {
    match result {
        Err(error) if error.is_transient() => crate::tasks::note_unavailable(service, error),
        _ => crate::tasks::note_available(service),
    }
}

/// The unavailable service a task's error names: a transient client error (or a call
/// error wrapping one) anywhere in its chain, e.g. from a read through a client field.
pub fn unavailable_in(error: &anyhow::Error) -> Option<crate::tasks::Unavailable> {
    fn transient<E: Transient + std::fmt::Display>(
        service: &str,
        error: &E,
    ) -> Option<crate::tasks::Unavailable> {
        error.is_transient().then(|| crate::tasks::Unavailable {
            service: service.to_owned(),
            reason: error.to_string(),
        })
    }
    fn call<E: Transient + std::error::Error + 'static>(
        service: &str,
        cause: &(dyn std::error::Error + 'static),
    ) -> Option<crate::tasks::Unavailable> {
        if let Some(error) = cause.downcast_ref::<E>() {
            return transient(service, error);
        }
        match cause.downcast_ref::<CallError<E>>() {
            Some(CallError::Service(error)) => transient(service, error),
            _ => None,
        }
    }
    error.chain().find_map(|cause| {
        call::<KojiError>(KOJI, cause)
            .or_else(|| forge_call(cause))
            .or_else(|| call::<TestingFarmError>(TESTING_FARM, cause))
            .or_else(|| call::<LogDetectiveError>(LOG_DETECTIVE, cause))
            .or_else(|| call::<ElnError>(ELN_LISTS, cause))
            .or_else(|| call::<PackagerError>(PACKAGERS, cause))
    })
}

/// A forge error names its forge: the outage is that forge's.
fn forge_call(cause: &(dyn std::error::Error + 'static)) -> Option<crate::tasks::Unavailable> {
    let error = match cause.downcast_ref::<CallError<ForgeError>>() {
        Some(CallError::Service(error)) => error,
        Some(CallError::Record(_)) => return None,
        None => cause.downcast_ref::<ForgeError>()?,
    };
    error.is_transient().then(|| crate::tasks::Unavailable {
        service: forge_service(error.forge()).to_owned(),
        reason: error.to_string(),
    })
}

/// A call that failed: the service said no (or could not be reached), or recording it did.
#[derive(Debug, thiserror::Error)]
pub enum CallError<E: std::error::Error + 'static> {
    #[error(transparent)]
    Service(E),
    #[error("recording the call failed: {0}")]
    Record(#[from] DbError),
}

fn outcome_of<T, E: std::fmt::Display>(
    result: &Result<T, E>,
    response: impl FnOnce(&T) -> Value,
) -> Result<Option<Value>, String> {
    match result {
        Ok(value) => Ok(Some(response(value))),
        Err(error) => Err(error.to_string()),
    }
}

/// The JSON of a request with every secret token replaced.
fn redacted_json(request: &impl Serialize) -> Value {
    let mut value = serde_json::to_value(request).unwrap_or(Value::Null);
    if let Some(token) = value.pointer_mut("/notification/webhook/token") {
        *token = Value::String("[redacted]".to_owned());
    }
    value
}

//! Configuration: one TOML file, environment overrides, secrets from files.
//!
//! Keys that mean the same as in packit-service's `packit-service.yaml` keep its names. The
//! file is found by `--config`, then `$FEDORA_CI_CONFIG`, then `./fedora-ci.toml` if present;
//! without any, the defaults run the whole service on an embedded SQLite file.
//!
//! `FEDORA_CI_<KEY>` overrides a key (`__` separates nested keys: `FEDORA_CI_WORKER__LEASE_SECONDS`).
//! Its value is read as TOML when it is a boolean, number or array, and as a string otherwise.
//! Every secret `<key>` can instead be given as `<key>_file`, a path whose content is the
//! secret, which is how mounted OpenShift secrets arrive.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

mod forgejo;
mod messages;

pub use forgejo::ForgejoConfig;
pub(crate) use forgejo::host_of;
pub use messages::Sources;
use serde::{Deserialize, Serialize};

/// Default path of the configuration file, used when it exists.
pub const DEFAULT_CONFIG_FILE: &str = "fedora-ci.toml";
const ENV_PREFIX: &str = "FEDORA_CI_";
/// Environment variables with the prefix that are not configuration keys.
const ENV_NOT_KEYS: &[&str] = &["FEDORA_CI_CONFIG", "FEDORA_CI_LOG_FORMAT"];

/// Keys holding secrets, as dotted paths; each may be given as `<key>_file` instead.
pub const SECRET_KEYS: &[&str] = &[
    "database_url",
    "pagure_token",
    "forgejo.token",
    "testing_farm_secret",
    "logdetective_token",
    "sentry_dsn",
    "messaging.amqp_url",
];

/// A configuration error. Its `Display` names the key and where it was set; an underlying
/// I/O error is its `source()`, not repeated in the text (`{:#}` prints the whole chain).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the config file {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// `at` is ", line L, column C" when toml says where.
    #[error("config file {path}{at} is not valid TOML: {message}")]
    Syntax {
        path: PathBuf,
        at: String,
        message: String,
    },
    /// `origin` says where the key was set: " (in FILE, line N)", " (from FEDORA_CI_X)".
    #[error("config key `{key}`{origin}: {message}")]
    Invalid {
        key: String,
        origin: String,
        message: String,
    },
    #[error("config key `{key}_file`{origin}: cannot read the secret file {path}")]
    SecretFile {
        key: String,
        origin: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl ConfigError {
    fn invalid(key: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError::Invalid {
            key: key.into(),
            origin: String::new(),
            message: message.into(),
        }
    }

    /// Fills in where the key was set, unless the error already says.
    fn located(self, sources: &Sources) -> Self {
        match self {
            ConfigError::Invalid {
                key,
                origin,
                message,
            } if origin.is_empty() => ConfigError::Invalid {
                origin: sources.describe(&key),
                key,
                message,
            },
            ConfigError::SecretFile {
                key,
                origin,
                path,
                source,
            } if origin.is_empty() => ConfigError::SecretFile {
                origin: sources.describe(&format!("{key}_file")),
                key,
                path,
                source,
            },
            other => other,
        }
    }
}

pub use crate::secret::Secret;

/// Which instance this is; it selects the shared-tests ref and the tmt context's
/// `deployment`, as in packit-service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Deployment {
    Prod,
    Stg,
    Dev,
}

/// Which projects Fedora CI runs for (packit-service's `fedora_ci` settings). Each list holds
/// full web URLs such as `https://src.fedoraproject.org/rpms/optee_os`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FedoraCiProjects {
    pub enabled_projects: Vec<String>,
    pub disabled_projects: Vec<String>,
    pub disabled_projects_for_eln: Vec<String>,
    pub disabled_projects_for_logdetective: Vec<String>,
    /// Branches whose pull requests have a Koji target (the branch's name, `main` meaning
    /// `rawhide`), as regular expressions matched against the whole name. A pull request to
    /// any other branch gets no build: an `error` flag says the branch has no Koji target.
    pub koji_target_branches: Vec<String>,
}

impl Default for FedoraCiProjects {
    fn default() -> Self {
        Self {
            enabled_projects: Vec::new(),
            disabled_projects: Vec::new(),
            disabled_projects_for_eln: Vec::new(),
            disabled_projects_for_logdetective: Vec::new(),
            koji_target_branches: [
                "rawhide",
                "main",
                "eln",
                "f[0-9]+",
                "epel[0-9]+",
                r"epel[0-9]+\.[0-9]+",
            ]
            .map(str::to_owned)
            .to_vec(),
        }
    }
}

/// The HTTP server of the `api` and `serve` roles.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiConfig {
    /// Address and port to listen on.
    pub bind: String,
    /// A connection that has not sent a whole request head (line and headers) this long after
    /// it opened, or after its previous answer, is closed: silent and slow clients hold nothing.
    pub header_read_timeout_seconds: u64,
    /// A request whose body has not arrived this long after its head is answered 408.
    pub body_read_timeout_seconds: u64,
    /// The longest a request may take, whole, before it is answered 408 (or 503).
    pub request_timeout_seconds: u64,
    /// Requests handled at once by one server; more wait for a turn.
    pub max_concurrent_requests: usize,
    /// Connections open at once on one server; more wait in the kernel's backlog.
    pub max_connections: usize,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1:8000".to_owned(),
            header_read_timeout_seconds: 10,
            body_read_timeout_seconds: 10,
            request_timeout_seconds: 30,
            max_concurrent_requests: 256,
            max_connections: 1024,
        }
    }
}

/// The dashboard served at `/` by the `api` and `serve` roles.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DashboardConfig {
    /// The backends its context selector offers, the first one by default. Each is a
    /// packit-service-compatible read API.
    pub backends: Vec<DashboardBackend>,
}

/// One entry of the dashboard's context selector.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DashboardBackend {
    /// What the selector shows; also the `?backend=` value of a shared link.
    pub name: String,
    /// The API's base: a path on this host (`/api`) or an `http(s)://` URL, which must send
    /// CORS headers (packit-service's and this service's do).
    pub api_url: String,
}

/// The context selector's default: this service, then Packit's production service.
pub const PACKIT_PROD_API_URL: &str = "https://prod.packit.dev/api";

impl Default for DashboardConfig {
    fn default() -> Self {
        Self {
            backends: vec![
                DashboardBackend {
                    name: "Fedora CI".to_owned(),
                    api_url: "/api".to_owned(),
                },
                DashboardBackend {
                    name: "Packit".to_owned(),
                    api_url: PACKIT_PROD_API_URL.to_owned(),
                },
            ],
        }
    }
}

/// The task workers of the `worker` and `serve` roles.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorkerConfig {
    /// Queue name → how many of its tasks one process runs at a time.
    pub queues: BTreeMap<String, usize>,
    /// A claimed task is taken back this long after its worker stops renewing the claim.
    pub lease_seconds: u64,
    /// How often an idle worker looks for due tasks (PostgreSQL also wakes it on insert).
    pub poll_interval_ms: u64,
    /// On SIGTERM, how long running tasks may finish before they are handed back.
    pub shutdown_grace_seconds: u64,
    /// A Koji build or Testing Farm request whose submission failed transiently is tried
    /// again after this long, then after twice as long each time.
    pub submission_retry_seconds: u64,
    /// A task that finds a service unavailable (a transient failure that outlived the
    /// client's own retries) is retried for this long after the outage began, without using
    /// up its attempts; then its checks get a final `error` flag.
    pub outage_retry_hours: u64,
    /// The longest wait between two tries during an outage (the wait doubles up to it).
    pub outage_max_delay_minutes: u64,
    /// A check of a PR's head commit left pending this long with no task or external work
    /// that could finish it is ended (or driven on) by the periodic reconciler.
    pub stuck_check_minutes: u64,
    /// Service time per real time of the queue's retry scheduling: 1 in production; tests
    /// and demos raise it so that hours of outage pass in seconds.
    pub time_scale: f64,
    /// Where the `worker` role serves `/metrics` and its health (`/healthz`, `/readyz`);
    /// empty: nowhere. `serve` exports everything on `api.bind` instead.
    pub health_bind: String,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            queues: BTreeMap::from([("short".to_owned(), 8), ("long".to_owned(), 4)]),
            lease_seconds: 60,
            poll_interval_ms: 1000,
            shutdown_grace_seconds: 25,
            submission_retry_seconds: 60,
            outage_retry_hours: 6,
            outage_max_delay_minutes: 30,
            stuck_check_minutes: 120,
            time_scale: 1.0,
            health_bind: "0.0.0.0:8001".to_owned(),
        }
    }
}

/// The fedora-messaging consumer of the `listen` and `serve` roles, configured like
/// fedora-messaging's own `fedora.toml`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MessagingConfig {
    /// Whether `serve` runs the listener too (`listen` always does).
    pub enabled: bool,
    /// The broker. The default is Fedora's public broker, whose CA and public client
    /// certificate ship with the binary and are used when the three files below are unset.
    pub amqp_url: Secret,
    /// Durable queue to consume from; the public broker only allows UUIDs. Unset: a
    /// fresh UUID and a queue that goes away with the connection (messages sent while the
    /// listener is down are then missed).
    pub queue: Option<String>,
    pub exchange: String,
    /// Only check that `queue` exists, bind nothing (fedora-messaging's `passive_declares`):
    /// for brokers where the queue and its bindings are set up by their administrators.
    pub passive_declares: bool,
    /// `org.fedoraproject.prod` or `org.fedoraproject.stg`; every binding is under it.
    pub topic_prefix: String,
    pub ca_cert: Option<PathBuf>,
    /// Client certificate and key (PEM); with them the listener logs in with SASL EXTERNAL.
    pub certfile: Option<PathBuf>,
    pub keyfile: Option<PathBuf>,
    /// Unacknowledged messages the broker sends ahead.
    pub prefetch: u16,
    /// Messages stored per database transaction, at most.
    pub batch_size: usize,
    /// How long a batch waits to fill before it is stored anyway.
    pub batch_wait_ms: u64,
    /// Where the `listen` role serves `/metrics` and its health (`/healthz`, `/readyz`);
    /// empty: nowhere. `serve` exports everything on `api.bind` instead.
    pub health_bind: String,
}

/// The public broker of Fedora's message bus.
pub const PUBLIC_AMQP_URL: &str = "amqps://fedora:@rabbitmq.fedoraproject.org/%2Fpublic_pubsub";

impl Default for MessagingConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            amqp_url: Secret::new(PUBLIC_AMQP_URL),
            queue: None,
            exchange: "amq.topic".to_owned(),
            passive_declares: false,
            topic_prefix: "org.fedoraproject.prod".to_owned(),
            ca_cert: None,
            certfile: None,
            keyfile: None,
            prefetch: 1000,
            batch_size: 500,
            batch_wait_ms: 20,
            health_bind: "0.0.0.0:8002".to_owned(),
        }
    }
}

/// One line of the help reply's contact block: `*{label}*: {value}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HelpContact {
    pub label: String,
    pub value: String,
}

impl HelpContact {
    pub fn new(label: &str, value: &str) -> Self {
        HelpContact {
            label: label.to_owned(),
            value: value.to_owned(),
        }
    }
}

/// Database pool settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    pub max_connections: u32,
    /// How long to wait for a free connection before failing the query.
    pub acquire_timeout_seconds: u64,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            max_connections: 10,
            acquire_timeout_seconds: 10,
        }
    }
}

/// The whole configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub deployment: Deployment,
    /// Public host name of this instance's API, e.g. `fedora-ci.example.org`; the Testing Farm
    /// webhook points at it.
    pub server_name: Option<String>,
    /// Base URL of the dashboard; links in PR flags point at it.
    pub dashboard_url: Option<String>,
    /// `postgres://…` in production, `sqlite://…` embedded (created on first start).
    pub database_url: Secret,
    pub database: DatabaseConfig,

    /// The service's own identity: FAS user, also its Kerberos principal and Koji task owner.
    pub fas_user: Option<String>,
    /// Keytab of the Koji login; libkrb5 reads it from `$KRB5_CLIENT_KTNAME`, which must
    /// name the same file (`files/run_worker.sh` sets both from `FEDORA_CI_KEYTAB_PATH`).
    pub keytab_path: Option<PathBuf>,
    pub kerberos_realm: String,
    /// The principal that logs in to Koji. Unset: the credential cache's (what `kinit`
    /// got) or the keytab's first one, as koji's `gssapi_login` without a principal.
    pub kerberos_principal: Option<String>,
    /// Check names on pull requests read `{check_name_prefix} - {test} - {branch} [{sha}]`.
    pub check_name_prefix: String,
    /// Comments starting with it are commands to this service, e.g. `/fedora-ci test`.
    pub comment_command_prefix: String,
    /// Where packagers read about the checks and commands; the help and syntax-error replies
    /// link to it (packit-service: `https://packit.dev/fedora-ci`).
    pub documentation_url: String,
    /// The link of a flag that has none of its own (packit-service: `https://packit.dev/#contact`).
    /// Unset: the dashboard (`dashboard_url`), else `documentation_url`.
    pub flag_fallback_url: Option<String>,
    /// The contact block at the end of the help reply, one line per entry.
    pub help_contacts: Vec<HelpContact>,

    /// The web root of the dist-git whose pull requests this instance serves; every project
    /// and source URL a message names must be under it, or the message is rejected.
    pub dist_git_url: String,
    /// Where dist-git's Pagure API is called (the same host as `dist_git_url` in production).
    pub pagure_url: String,
    pub pagure_token: Option<Secret>,
    /// A Forgejo dist-git served beside Pagure's; `None`: Forgejo is not served.
    pub forgejo: Option<ForgejoConfig>,
    pub fasjson_url: String,
    pub koji_hub_url: String,
    pub koji_web_url: String,
    pub koji_logs_url: String,
    pub testing_farm_api_url: String,
    pub testing_farm_secret: Option<Secret>,

    /// Opt-out mode (the default, as Fedora CI is the default CI of dist-git): every `rpms/*`
    /// and `tests/*` project except `fedora_ci.disabled_projects`. Otherwise opt-in: only
    /// `fedora_ci.enabled_projects`.
    pub fedora_ci_run_by_default: bool,
    pub fedora_ci: FedoraCiProjects,

    pub logdetective_enabled: bool,
    pub logdetective_url: String,
    pub logdetective_token: Option<Secret>,

    /// Shadow mode: decide and record every call, make none that changes anything. Unset:
    /// on exactly when the Pagure token, Koji credentials or Testing Farm secret is missing.
    pub dry_run: Option<bool>,
    /// TLS client certificate and key (PEM files) for Koji's `sslLogin`.
    pub koji_cert: Option<PathBuf>,
    pub koji_key: Option<PathBuf>,
    /// Where the ELN package lists live (`view-all-source-package-name-list--view-eln*.txt`).
    pub eln_package_lists_url: String,
    /// How long one call to Koji, Pagure, Testing Farm or the ELN lists may take, from
    /// sending it to the last byte of the answer, before it counts as a (transient) failure.
    pub request_timeout_seconds: u64,
    /// The Fedora CI tests, in the order they are submitted; data, so that a new shared test
    /// needs no release. Defaults to packit-service's six.
    pub fedora_ci_tests: Vec<crate::helpers::testing_farm::FedoraCiTest>,

    pub sentry_dsn: Option<Secret>,
    pub api: ApiConfig,
    pub dashboard: DashboardConfig,
    pub worker: WorkerConfig,
    pub messaging: MessagingConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            deployment: Deployment::Dev,
            server_name: None,
            dashboard_url: None,
            database_url: Secret::new("sqlite://fedora-ci.db"),
            database: DatabaseConfig::default(),
            fas_user: None,
            keytab_path: None,
            kerberos_realm: "FEDORAPROJECT.ORG".to_owned(),
            kerberos_principal: None,
            check_name_prefix: "Fedora CI".to_owned(),
            comment_command_prefix: "/fedora-ci".to_owned(),
            documentation_url: "https://docs.fedoraproject.org/en-US/ci/".to_owned(),
            flag_fallback_url: None,
            help_contacts: vec![
                HelpContact::new("Email", "ci@lists.fedoraproject.org"),
                HelpContact::new("Chat", "#fedora-ci on Libera.Chat and Matrix"),
            ],
            dist_git_url: "https://src.fedoraproject.org".to_owned(),
            pagure_url: "https://src.fedoraproject.org".to_owned(),
            pagure_token: None,
            forgejo: None,
            fasjson_url: "https://fasjson.fedoraproject.org".to_owned(),
            koji_hub_url: "https://koji.fedoraproject.org/kojihub".to_owned(),
            koji_web_url: "https://koji.fedoraproject.org".to_owned(),
            koji_logs_url: "https://kojipkgs.fedoraproject.org".to_owned(),
            testing_farm_api_url: "https://api.dev.testing-farm.io/v0.1/".to_owned(),
            testing_farm_secret: None,
            fedora_ci_run_by_default: true,
            fedora_ci: FedoraCiProjects::default(),
            logdetective_enabled: false,
            logdetective_url: "https://logdetective01.fedorainfracloud.org".to_owned(),
            logdetective_token: None,
            dry_run: None,
            koji_cert: None,
            koji_key: None,
            eln_package_lists_url: crate::clients::eln::DEFAULT_BASE_URL.to_owned(),
            request_timeout_seconds: 60,
            fedora_ci_tests: crate::helpers::testing_farm::default_tests(),
            sentry_dsn: None,
            api: ApiConfig::default(),
            dashboard: DashboardConfig::default(),
            worker: WorkerConfig::default(),
            messaging: MessagingConfig::default(),
        }
    }
}

impl Config {
    /// Loads the configuration: `path` (or the default file if it exists), then the
    /// `FEDORA_CI_*` variables of `env`, then secret files; and validates it.
    pub fn load(
        path: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        Self::load_with_sources(path, env).map(|(config, _)| config)
    }

    /// As [`Config::load`], and where the values came from: the file read (if any), the
    /// environment overrides applied, the secret files read.
    pub fn load_with_sources(
        path: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<(Config, Sources), ConfigError> {
        let file = match path {
            Some(path) => Some(path.to_path_buf()),
            None if Path::new(DEFAULT_CONFIG_FILE).exists() => {
                Some(PathBuf::from(DEFAULT_CONFIG_FILE))
            }
            None => None,
        };
        let (table, lines) = match &file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.clone(),
                    source,
                })?;
                parse_text(&text, path)?
            }
            None => (toml::Table::new(), BTreeMap::new()),
        };
        let sources = Sources {
            file,
            lines,
            ..Sources::default()
        };
        finish(table, env, sources)
    }

    /// Parses a configuration from TOML text (secret files included), without the environment.
    pub fn from_toml(text: &str) -> Result<Config, ConfigError> {
        let (table, lines) = parse_text(text, Path::new("<text>"))?;
        let sources = Sources {
            lines,
            ..Sources::default()
        };
        finish(table, Vec::new(), sources).map(|(config, _)| config)
    }

    /// How the Koji client logs in: Kerberos once a keytab or a principal is configured
    /// (building it needs the `kerberos` feature), otherwise anonymous reads only.
    pub fn koji_credentials(&self) -> crate::clients::koji::KojiCredentials {
        use crate::clients::koji::KojiCredentials;
        if self.keytab_path.is_none() && self.kerberos_principal.is_none() {
            return KojiCredentials::Anonymous;
        }
        KojiCredentials::Kerberos {
            principal: self.kerberos_principal.clone(),
            keytab: self.keytab_path.clone(),
        }
    }

    /// The effective configuration as TOML, every secret redacted.
    pub fn to_redacted_toml(&self) -> String {
        let mut value = match toml::Value::try_from(self) {
            Ok(value) => value,
            Err(error) => return format!("# cannot render the configuration: {error}\n"),
        };
        // The database URL is shown with only its password hidden: it says where the data is.
        if let Some(table) = value.as_table_mut() {
            table.insert(
                "database_url".to_owned(),
                toml::Value::String(crate::secret::redact_url(self.database_url.expose())),
            );
            if let Some(messaging) = table
                .get_mut("messaging")
                .and_then(toml::Value::as_table_mut)
            {
                messaging.insert(
                    "amqp_url".to_owned(),
                    toml::Value::String(crate::secret::redact_url(
                        self.messaging.amqp_url.expose(),
                    )),
                );
            }
        }
        toml::to_string_pretty(&value)
            .unwrap_or_else(|error| format!("# cannot render the configuration: {error}\n"))
    }

    /// The forge whose projects are stored under `instance_url` (`git_projects`): Forgejo's
    /// when it is the configured one, else Pagure's (every row a previous release wrote).
    pub fn forge_of_instance(&self, instance_url: &str) -> crate::events::ForgeKind {
        match &self.forgejo {
            Some(forgejo) if forgejo.instance_url() == instance_url => {
                crate::events::ForgeKind::Forgejo
            }
            _ => crate::events::ForgeKind::Pagure,
        }
    }

    fn validate(&self) -> Result<(), ConfigError> {
        for (key, url) in [
            ("pagure_url", &self.pagure_url),
            ("fasjson_url", &self.fasjson_url),
            ("koji_hub_url", &self.koji_hub_url),
            ("koji_web_url", &self.koji_web_url),
            ("koji_logs_url", &self.koji_logs_url),
            ("testing_farm_api_url", &self.testing_farm_api_url),
            ("logdetective_url", &self.logdetective_url),
            ("eln_package_lists_url", &self.eln_package_lists_url),
            ("documentation_url", &self.documentation_url),
        ] {
            check_http_url(key, url)?;
        }
        if let Some(url) = &self.dashboard_url {
            check_http_url("dashboard_url", url)?;
        }
        if let Some(url) = &self.flag_fallback_url {
            check_http_url("flag_fallback_url", url)?;
        }
        if let Some(server) = &self.server_name {
            check_server_name(server)?;
        }
        for (key, bind, may_be_empty) in [
            ("api.bind", &self.api.bind, false),
            ("worker.health_bind", &self.worker.health_bind, true),
            ("messaging.health_bind", &self.messaging.health_bind, true),
        ] {
            if may_be_empty && bind.is_empty() {
                continue;
            }
            check_bind_address(bind).map_err(|message| {
                let message = if may_be_empty {
                    format!("{message} (or \"\" to serve nothing)")
                } else {
                    message
                };
                ConfigError::invalid(key, message)
            })?;
        }
        let backend = crate::db::backend_of(self.database_url.expose()).map_err(|_| {
            ConfigError::invalid(
                "database_url",
                "must start with postgres://, postgresql:// or sqlite:",
            )
        })?;
        if backend == crate::db::Backend::Postgres {
            check_postgres_parameters(self.database_url.expose())?;
        }
        if self.request_timeout_seconds == 0 {
            return Err(ConfigError::invalid(
                "request_timeout_seconds",
                "must be at least 1",
            ));
        }
        let prefix = &self.comment_command_prefix;
        if !prefix.starts_with('/') || prefix.len() < 2 || prefix.contains(char::is_whitespace) {
            return Err(ConfigError::invalid(
                "comment_command_prefix",
                format!(
                    "{prefix:?} must be a slash and a word without spaces, e.g. \"/fedora-ci\""
                ),
            ));
        }
        if self.check_name_prefix.trim().is_empty() {
            return Err(ConfigError::invalid(
                "check_name_prefix",
                "must not be empty",
            ));
        }
        for (list, key) in [
            (
                &self.fedora_ci.enabled_projects,
                "fedora_ci.enabled_projects",
            ),
            (
                &self.fedora_ci.disabled_projects,
                "fedora_ci.disabled_projects",
            ),
            (
                &self.fedora_ci.disabled_projects_for_eln,
                "fedora_ci.disabled_projects_for_eln",
            ),
            (
                &self.fedora_ci.disabled_projects_for_logdetective,
                "fedora_ci.disabled_projects_for_logdetective",
            ),
        ] {
            for url in list {
                check_http_url(key, url)?;
            }
        }
        check_http_url("dist_git_url", &self.dist_git_url)?;
        if let Some(forgejo) = &self.forgejo {
            forgejo.validate(&self.dist_git_url)?;
        }
        for pattern in &self.fedora_ci.koji_target_branches {
            regex::Regex::new(&format!("^(?:{pattern})$")).map_err(|_| {
                ConfigError::invalid(
                    "fedora_ci.koji_target_branches",
                    format!("{pattern:?} is not a regular expression"),
                )
            })?;
        }
        let mut test_names = std::collections::BTreeSet::new();
        for (index, test) in self.fedora_ci_tests.iter().enumerate() {
            if test.url != "{source_git_url}" {
                check_http_url(&format!("fedora_ci_tests[{index}].url"), &test.url)?;
            }
            if test.name.trim().is_empty() || !test_names.insert(test.name.as_str()) {
                return Err(ConfigError::invalid(
                    "fedora_ci_tests",
                    format!("test names must be unique and not empty ({:?})", test.name),
                ));
            }
        }
        if self.worker.queues.is_empty() {
            return Err(ConfigError::invalid(
                "worker.queues",
                "must name at least one queue, e.g. { short = 8, long = 4 }",
            ));
        }
        if let Some((queue, _)) = self.worker.queues.iter().find(|(_, n)| **n == 0) {
            return Err(ConfigError::invalid(
                format!("worker.queues.{queue}"),
                "concurrency must be at least 1",
            ));
        }
        if self.worker.lease_seconds < 3 {
            return Err(ConfigError::invalid(
                "worker.lease_seconds",
                "must be at least 3 (the lease is renewed every third of it)",
            ));
        }
        if self.worker.outage_retry_hours == 0 {
            return Err(ConfigError::invalid(
                "worker.outage_retry_hours",
                "must be at least 1 (an outage is waited out for this many hours)",
            ));
        }
        if self.worker.outage_max_delay_minutes == 0 {
            return Err(ConfigError::invalid(
                "worker.outage_max_delay_minutes",
                "must be at least 1",
            ));
        }
        if self.worker.stuck_check_minutes == 0 {
            return Err(ConfigError::invalid(
                "worker.stuck_check_minutes",
                "must be at least 1",
            ));
        }
        if !(self.worker.time_scale.is_finite() && self.worker.time_scale >= 1.0) {
            return Err(ConfigError::invalid(
                "worker.time_scale",
                "must be a number of at least 1 (1 in production)",
            ));
        }
        if self.worker.poll_interval_ms == 0 {
            return Err(ConfigError::invalid(
                "worker.poll_interval_ms",
                "must be at least 1",
            ));
        }
        let url = self.messaging.amqp_url.expose();
        if !(url.starts_with("amqp://") || url.starts_with("amqps://")) {
            return Err(ConfigError::invalid(
                "messaging.amqp_url",
                "must start with amqp:// or amqps://",
            ));
        }
        if self.messaging.passive_declares && self.messaging.queue.is_none() {
            return Err(ConfigError::invalid(
                "messaging.passive_declares",
                "needs messaging.queue: a passive declare checks an existing queue",
            ));
        }
        if self.messaging.certfile.is_some() != self.messaging.keyfile.is_some() {
            return Err(ConfigError::invalid(
                "messaging.certfile",
                "set both messaging.certfile and messaging.keyfile, or neither",
            ));
        }
        if self.messaging.prefetch == 0 || self.messaging.batch_size == 0 {
            return Err(ConfigError::invalid(
                "messaging.prefetch",
                "prefetch and batch_size must be at least 1",
            ));
        }
        if self.database.max_connections == 0 {
            return Err(ConfigError::invalid(
                "database.max_connections",
                "must be at least 1",
            ));
        }
        self.validate_dashboard()?;
        self.validate_ranges()?;
        if let Some(principal) = &self.kerberos_principal
            && (principal.is_empty() || principal.contains(char::is_whitespace))
        {
            return Err(ConfigError::invalid(
                "kerberos_principal",
                format!(
                    "{principal:?} must be a principal such as \"fedora-ci@FEDORAPROJECT.ORG\""
                ),
            ));
        }
        Ok(())
    }
}

impl Config {
    /// Every duration, size and count within bounds: a value too large to be meant (a lease of
    /// centuries) would overflow time arithmetic deep in a running loop instead of failing here.
    fn validate_ranges(&self) -> Result<(), ConfigError> {
        const HOUR: u64 = 3600;
        const DAY: u64 = 24 * HOUR;
        let ranges: [(&str, u64, u64, u64); 17] = [
            (
                "request_timeout_seconds",
                self.request_timeout_seconds,
                1,
                HOUR,
            ),
            (
                "api.header_read_timeout_seconds",
                self.api.header_read_timeout_seconds,
                1,
                HOUR,
            ),
            (
                "api.body_read_timeout_seconds",
                self.api.body_read_timeout_seconds,
                1,
                HOUR,
            ),
            (
                "api.request_timeout_seconds",
                self.api.request_timeout_seconds,
                1,
                HOUR,
            ),
            (
                "api.max_concurrent_requests",
                self.api.max_concurrent_requests as u64,
                1,
                100_000,
            ),
            (
                "api.max_connections",
                self.api.max_connections as u64,
                1,
                100_000,
            ),
            ("worker.lease_seconds", self.worker.lease_seconds, 3, DAY),
            (
                "worker.poll_interval_ms",
                self.worker.poll_interval_ms,
                1,
                HOUR * 1000,
            ),
            (
                "worker.shutdown_grace_seconds",
                self.worker.shutdown_grace_seconds,
                0,
                HOUR,
            ),
            (
                "worker.submission_retry_seconds",
                self.worker.submission_retry_seconds,
                1,
                DAY,
            ),
            (
                "worker.outage_retry_hours",
                self.worker.outage_retry_hours,
                1,
                24 * 14,
            ),
            (
                "worker.outage_max_delay_minutes",
                self.worker.outage_max_delay_minutes,
                1,
                24 * 60,
            ),
            (
                "worker.stuck_check_minutes",
                self.worker.stuck_check_minutes,
                1,
                14 * 24 * 60,
            ),
            (
                "messaging.batch_wait_ms",
                self.messaging.batch_wait_ms,
                0,
                60_000,
            ),
            (
                "messaging.batch_size",
                self.messaging.batch_size as u64,
                1,
                100_000,
            ),
            (
                "database.max_connections",
                u64::from(self.database.max_connections),
                1,
                10_000,
            ),
            (
                "database.acquire_timeout_seconds",
                self.database.acquire_timeout_seconds,
                1,
                HOUR,
            ),
        ];
        for (key, value, min, max) in ranges {
            if !(min..=max).contains(&value) {
                return Err(ConfigError::invalid(
                    key,
                    format!("{value} is out of range: must be from {min} to {max}"),
                ));
            }
        }
        if self.worker.time_scale > 1e6 {
            return Err(ConfigError::invalid(
                "worker.time_scale",
                "must be at most 1000000",
            ));
        }
        Ok(())
    }

    fn validate_dashboard(&self) -> Result<(), ConfigError> {
        const KEY: &str = "dashboard.backends";
        let backends = &self.dashboard.backends;
        if backends.is_empty() {
            return Err(ConfigError::invalid(
                KEY,
                "must list at least one backend, e.g. { name = \"Fedora CI\", api_url = \"/api\" }",
            ));
        }
        let mut names = std::collections::BTreeSet::new();
        for backend in backends {
            let name = backend.name.trim();
            if name.is_empty() || name.len() > 64 || !names.insert(name) {
                return Err(ConfigError::invalid(
                    KEY,
                    format!(
                        "names must be unique, not empty and at most 64 bytes ({:?})",
                        backend.name
                    ),
                ));
            }
            let url = &backend.api_url;
            // The URL ends up in the page's Content-Security-Policy: no spaces, quotes or
            // semicolons.
            if url.contains(|c: char| c.is_whitespace() || c.is_control() || "\"';,<>".contains(c))
            {
                return Err(ConfigError::invalid(
                    KEY,
                    format!(
                        "api_url {url:?} must not contain spaces, quotes, commas or semicolons"
                    ),
                ));
            }
            if url.starts_with('/') {
                if url.starts_with("//") {
                    return Err(ConfigError::invalid(
                        KEY,
                        format!("api_url {url:?}: a path on this host starts with one slash"),
                    ));
                }
            } else {
                check_http_url(KEY, url)?;
            }
        }
        Ok(())
    }
}

/// The query parameters of a PostgreSQL URL that the driver understands. It logs any other
/// one with its value as a warning, which could print a secret (`sslpassword=…`); refused
/// here by name only.
fn check_postgres_parameters(url: &str) -> Result<(), ConfigError> {
    const UNDERSTOOD: &[&str] = &[
        "sslmode",
        "ssl-mode",
        "sslrootcert",
        "ssl-root-cert",
        "ssl-ca",
        "sslcert",
        "ssl-cert",
        "sslkey",
        "ssl-key",
        "statement-cache-capacity",
        "host",
        "hostaddr",
        "port",
        "dbname",
        "user",
        "password",
        "application_name",
        "options",
    ];
    let Some((_, query)) = url.split_once('?') else {
        return Ok(());
    };
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        let key = pair.split_once('=').map_or(pair, |(key, _)| key);
        if !UNDERSTOOD.contains(&key) {
            let shown: String = key.chars().take(40).collect();
            return Err(ConfigError::invalid(
                "database_url",
                format!(
                    "the parameter {shown:?} is not one the PostgreSQL driver understands ({})",
                    UNDERSTOOD.join(", ")
                ),
            ));
        }
    }
    Ok(())
}

fn check_http_url(key: &str, url: &str) -> Result<(), ConfigError> {
    let not_a_url = |why: &str| {
        ConfigError::invalid(
            key,
            format!("{url:?} is not an http:// or https:// URL{why}"),
        )
    };
    let Some(rest) = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
    else {
        return Err(not_a_url(""));
    };
    if url.contains(|c: char| c.is_whitespace() || c.is_control()) {
        return Err(not_a_url(" (it contains spaces)"));
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    let (host, port) = split_host_port(host_port);
    if host.is_empty() || !(is_host_name(host) || is_bracketed_ipv6(host)) {
        return Err(not_a_url(" (no valid host name)"));
    }
    if let Some(port) = port
        && !matches!(port.parse::<u16>(), Ok(1..))
    {
        return Err(not_a_url(" (the port must be a number from 1 to 65535)"));
    }
    Ok(())
}

/// `server_name`: a host name with an optional port (`fedora-ci.example.org`, `api:8000`), or
/// the base URL of the API (`http://127.0.0.1:8000`); the webhook URL is built from it.
fn check_server_name(server: &str) -> Result<(), ConfigError> {
    if server.starts_with("http://") || server.starts_with("https://") {
        return check_http_url("server_name", server);
    }
    let (host, port) = split_host_port(server);
    let port_ok = port.is_none_or(|port| matches!(port.parse::<u16>(), Ok(1..)));
    if (is_host_name(host) || is_bracketed_ipv6(host)) && port_ok {
        return Ok(());
    }
    Err(ConfigError::invalid(
        "server_name",
        format!(
            "{server:?} must be a host name such as \"fedora-ci.example.org\" (a port may follow) \
             or an http(s):// URL"
        ),
    ))
}

/// `host:port` → (host, Some(port)); `[::1]:80` → ("[::1]", Some("80")); `host` → (host, None).
fn split_host_port(text: &str) -> (&str, Option<&str>) {
    if text.starts_with('[') {
        return match text.find(']') {
            Some(end) => {
                let (host, rest) = text.split_at(end + 1);
                (host, rest.strip_prefix(':'))
            }
            None => (text, None),
        };
    }
    match text.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (text, None),
    }
}

fn is_bracketed_ipv6(host: &str) -> bool {
    host.strip_prefix('[')
        .and_then(|inner| inner.strip_suffix(']'))
        .is_some_and(|inner| inner.parse::<std::net::Ipv6Addr>().is_ok())
}

/// A DNS name or an IPv4 address: letters, digits, `-` and `.`, not starting or ending with
/// a dot.
fn is_host_name(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 253
        && !host.starts_with(['.', '-'])
        && !host.ends_with('-')
        && !host.contains("..")
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_')
}

/// Whether `text` is an address to listen on: `host:port` with a port from 1 to 65535, the host
/// a name, an IPv4 address or a bracketed IPv6 address (`[::]:8000`). The message says what is
/// wrong.
pub fn check_bind_address(text: &str) -> Result<(), String> {
    check_bind(text, false)
}

/// As [`check_bind_address`], but port 0 (any free port, as tests ask) is allowed too: for
/// `--bind` on the command line.
pub fn check_bind_address_any_port(text: &str) -> Result<(), String> {
    check_bind(text, true)
}

fn check_bind(text: &str, any_port: bool) -> Result<(), String> {
    let example = "e.g. \"0.0.0.0:8000\", \"127.0.0.1:8000\" or \"[::]:8000\"";
    let (host, port) = split_host_port(text);
    let Some(port) = port else {
        return Err(format!("{text:?} must be host:port, {example}"));
    };
    if host.is_empty() || !(is_host_name(host) || is_bracketed_ipv6(host)) {
        return Err(format!(
            "{text:?} has no valid host before the port, {example}"
        ));
    }
    match port.parse::<u32>() {
        Ok(1..=65535) => Ok(()),
        Ok(0) if any_port => Ok(()),
        _ => Err(format!(
            "{text:?}: the port must be a number from 1 to 65535, {example}"
        )),
    }
}

/// The TOML table of `text` and the line of each of its keys.
fn parse_text(
    text: &str,
    path: &Path,
) -> Result<(toml::Table, BTreeMap<String, usize>), ConfigError> {
    let table = text
        .parse::<toml::Table>()
        .map_err(|error: toml::de::Error| {
            let (at, message) = messages::syntax_error(text, &error);
            ConfigError::Syntax {
                path: path.to_path_buf(),
                at,
                message,
            }
        })?;
    Ok((table, messages::key_lines(text)))
}

/// Environment, secret files, types, validation; every error says where its key was set.
fn finish(
    mut table: toml::Table,
    env: impl IntoIterator<Item = (String, String)>,
    mut sources: Sources,
) -> Result<(Config, Sources), ConfigError> {
    sources.env = apply_env(&mut table, env).map_err(|error| error.located(&sources))?;
    sources.secret_files =
        read_secret_files(&mut table).map_err(|error| error.located(&sources))?;
    let config = deserialize(table)
        .and_then(|config| config.validate().map(|()| config))
        .map_err(|error| error.located(&sources))?;
    Ok((config, sources))
}

fn deserialize(table: toml::Table) -> Result<Config, ConfigError> {
    serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(|error| {
        let path = error.path().to_string();
        let full = error.into_inner().to_string();
        // toml appends "in `table`" on a second line; the key already says where.
        let message = full.lines().next().unwrap_or_default().trim().to_owned();
        let key = match unknown_field(&message) {
            Some(field) if path == "." => field.to_owned(),
            Some(field) if !path.ends_with(field) => format!("{path}.{field}"),
            _ => path,
        };
        // The `<secret>_file` forms are keys too, though serde does not know them.
        let table = key.rsplit_once('.').map_or("", |(table, _)| table);
        let file_keys: Vec<String> = SECRET_KEYS
            .iter()
            .filter_map(|secret| {
                let (parent, leaf) = secret.rsplit_once('.').unwrap_or(("", secret));
                (parent == table).then(|| format!("{leaf}_file"))
            })
            .collect();
        ConfigError::invalid(key, messages::plain_words(&message, &file_keys))
    })
}

fn unknown_field(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("unknown field `")?;
    rest.split('`').next()
}

/// Applies `FEDORA_CI_*` overrides to `table`; returns which keys came from which variable.
fn apply_env(
    table: &mut toml::Table,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<BTreeMap<String, String>, ConfigError> {
    let mut origins = BTreeMap::new();
    let mut vars: Vec<(String, String)> = env
        .into_iter()
        .filter(|(name, _)| name.starts_with(ENV_PREFIX) && !ENV_NOT_KEYS.contains(&name.as_str()))
        .collect();
    vars.sort();
    for (name, raw) in vars {
        let path: Vec<String> = name[ENV_PREFIX.len()..]
            .split("__")
            .map(str::to_lowercase)
            .collect();
        if path.iter().any(String::is_empty) {
            return Err(ConfigError::Invalid {
                key: name.clone(),
                origin: String::new(),
                message: "an environment override needs a key after FEDORA_CI_ and between each __"
                    .to_owned(),
            });
        }
        let mut node = &mut *table;
        for part in &path[..path.len() - 1] {
            let entry = node
                .entry(part.clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            node = match entry {
                toml::Value::Table(inner) => inner,
                _ => {
                    return Err(ConfigError::Invalid {
                        key: path.join("."),
                        origin: format!(" (from {name})"),
                        message: format!("`{part}` is not a table"),
                    });
                }
            };
        }
        let leaf = path[path.len() - 1].clone();
        // Secrets and secret files are strings whatever they look like: a token of digits
        // must not turn into a number.
        let dotted = path.join(".");
        let value = if SECRET_KEYS.contains(&dotted.as_str()) || leaf.ends_with("_file") {
            toml::Value::String(raw)
        } else {
            env_value(&raw)
        };
        node.insert(leaf, value);
        origins.insert(path.join("."), name);
    }
    Ok(origins)
}

/// A TOML boolean, number or array as itself; anything else as a string.
fn env_value(raw: &str) -> toml::Value {
    let parsed = format!("value = {raw}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut table| table.remove("value"));
    match parsed {
        Some(
            value @ (toml::Value::Boolean(_) | toml::Value::Integer(_) | toml::Value::Float(_)),
        ) => value,
        Some(value @ toml::Value::Array(_)) => value,
        Some(toml::Value::String(text)) if raw.trim_start().starts_with('"') => {
            toml::Value::String(text)
        }
        _ => toml::Value::String(raw.to_owned()),
    }
}

/// Replaces every `<secret>_file` by `<secret>` read from that file; returns which secret came
/// from which file.
fn read_secret_files(table: &mut toml::Table) -> Result<BTreeMap<String, PathBuf>, ConfigError> {
    let mut read = BTreeMap::new();
    for key in SECRET_KEYS {
        let mut path: Vec<&str> = key.split('.').collect();
        let leaf = path.pop().unwrap_or(key);
        let mut node = Some(&mut *table);
        for part in &path {
            node = node
                .and_then(|t| t.get_mut(*part))
                .and_then(toml::Value::as_table_mut);
        }
        let Some(node) = node else { continue };
        let file_key = format!("{leaf}_file");
        let Some(file_value) = node.remove(&file_key) else {
            continue;
        };
        let Some(file) = file_value.as_str().filter(|file| !file.trim().is_empty()) else {
            return Err(ConfigError::invalid(
                format!("{key}_file"),
                "must be the path of a file (a string, not empty)",
            ));
        };
        if node.contains_key(leaf) {
            return Err(ConfigError::invalid(
                format!("{key}_file"),
                format!("set either `{key}` or `{key}_file`, not both"),
            ));
        }
        let content = std::fs::read_to_string(file).map_err(|source| ConfigError::SecretFile {
            key: key.to_string(),
            origin: String::new(),
            path: PathBuf::from(file),
            source,
        })?;
        // A file mounted before its secret was filled in must not become an empty token.
        if content.trim().is_empty() {
            return Err(ConfigError::invalid(
                format!("{key}_file"),
                format!("the secret file {file} is empty (or only whitespace)"),
            ));
        }
        let secret = content.trim_end_matches(['\n', '\r']).to_owned();
        node.insert(leaf.to_owned(), toml::Value::String(secret));
        read.insert(key.to_string(), PathBuf::from(file));
    }
    Ok(read)
}

#[cfg(test)]
mod tests;

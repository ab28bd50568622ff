//! Testing Farm API v0.1 client: submit, read and cancel test requests, list composes.

use crate::clients::{RetryPolicy, Timeouts, Transient, http_client_builder, with_retries};
use crate::secret::Secret;
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value as Json;
use std::collections::BTreeMap;

#[derive(Debug, thiserror::Error)]
pub enum TestingFarmError {
    /// A 400: Testing Farm rejected the request body.
    #[error("Testing Farm rejected {operation}: {message} {errors}")]
    Invalid {
        operation: String,
        message: String,
        errors: Json,
    },
    #[error("Testing Farm answered {operation} with HTTP {status}: {message}")]
    HttpStatus {
        operation: String,
        status: u16,
        message: String,
    },
    #[error("cannot reach Testing Farm for {operation}: {source}")]
    Transport {
        operation: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("Testing Farm answered {operation} with an unexpected body: {detail}")]
    UnexpectedBody { operation: String, detail: String },
    #[error("invalid Testing Farm client setup: {0}")]
    Setup(String),
}

impl Transient for TestingFarmError {
    fn is_transient(&self) -> bool {
        match self {
            TestingFarmError::HttpStatus { status, .. } => {
                crate::clients::is_transient_status(*status)
            }
            TestingFarmError::Transport { source, .. } => {
                crate::clients::is_transient_transport_error(source)
            }
            _ => false,
        }
    }
}

/// The body of `POST /v0.1/requests`, limited to what Fedora CI sends.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TestRequest {
    pub test: TestSpec,
    pub environments: Vec<Environment>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notification: Option<Notification>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TestSpec {
    pub tmt: TmtTest,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TmtTest {
    pub url: String,
    #[serde(rename = "ref")]
    pub git_ref: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Environment {
    pub arch: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub os: Option<Os>,
    pub variables: BTreeMap<String, String>,
    pub artifacts: Vec<Artifact>,
    pub tmt: TmtEnvironment,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Os {
    pub compose: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Artifact {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TmtEnvironment {
    pub context: BTreeMap<String, String>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Notification {
    pub webhook: Webhook,
}

/// Where Testing Farm POSTs `{request_id, token}` on each state change.
#[derive(Clone, Debug)]
pub struct Webhook {
    pub url: String,
    pub token: Secret,
}

impl PartialEq for Webhook {
    fn eq(&self, other: &Self) -> bool {
        self.url == other.url && self.token.expose() == other.token.expose()
    }
}

impl Serialize for Webhook {
    /// The token goes on the wire; `Debug` still hides it.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut fields = BTreeMap::new();
        fields.insert("url", self.url.as_str());
        fields.insert("token", self.token.expose());
        fields.serialize(serializer)
    }
}

/// `new`, `queued`, `running`, `complete`, `error`, `canceled`, `cancel-requested`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RequestState {
    New,
    Queued,
    Running,
    Complete,
    Error,
    Canceled,
    CancelRequested,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct RequestResult {
    /// `passed`, `failed`, `error`, `skipped` or `unknown`.
    pub overall: Option<String>,
    pub summary: Option<String>,
    #[serde(default)]
    pub xunit_url: Option<String>,
}

/// `GET /v0.1/requests/{id}`; the whole answer stays in `raw`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct RequestDetails {
    pub id: String,
    pub state: RequestState,
    pub result: Option<RequestResult>,
    #[serde(skip)]
    pub raw: Json,
}

/// One request of `GET /requests`: what identifies it, the rest as Testing Farm sent it.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct ListedRequest {
    pub id: String,
    /// ISO 8601 without a zone, UTC.
    #[serde(default)]
    pub created: Option<String>,
    /// `{"fmf": {...}}` for a request submitted with `tmt` (the API's alias), or as sent.
    #[serde(default)]
    pub test: Json,
    #[serde(default)]
    pub environments_requested: Json,
}

/// The states `GET /requests` is asked for, one query each, as Testing Farm's own CLI
/// (`testing-farm list`) asks.
const LISTED_STATES: [&str; 6] = ["new", "queued", "running", "complete", "error", "canceled"];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CancelOutcome {
    Canceled,
    AlreadyRequested,
    AlreadyFinished,
}

#[derive(Debug)]
pub struct TestingFarmClient {
    api_url: String,
    token: Secret,
    http: reqwest::Client,
    retry: RetryPolicy,
}

impl TestingFarmClient {
    /// `api_url` includes the version, e.g. `https://api.testing-farm.io/v0.1`.
    pub fn new(
        api_url: &str,
        token: Secret,
        timeouts: Timeouts,
        retry: RetryPolicy,
    ) -> Result<Self, TestingFarmError> {
        let http = http_client_builder(timeouts)
            .build()
            .map_err(|error| TestingFarmError::Setup(error.to_string()))?;
        Ok(TestingFarmClient {
            api_url: api_url.trim_end_matches('/').to_owned(),
            token,
            http,
            retry,
        })
    }

    /// Submits a request and returns its id. Not retried: a lost answer must not start a second run.
    pub async fn submit(&self, request: &TestRequest) -> Result<String, TestingFarmError> {
        #[derive(Deserialize)]
        struct Created {
            id: String,
        }
        let body = serde_json::to_vec(request)
            .map_err(|error| TestingFarmError::Setup(error.to_string()))?;
        let (_, created): (StatusCode, Created) = self
            .send("submit request", Method::POST, "/requests", Some(body))
            .await?;
        Ok(created.id)
    }

    pub async fn get_request(&self, id: &str) -> Result<RequestDetails, TestingFarmError> {
        let operation = "get request";
        let path = format!("/requests/{id}");
        let raw: Json = with_retries(&self.retry, operation, || async {
            self.send(operation, Method::GET, &path, None)
                .await
                .map(|(_, raw)| raw)
        })
        .await?;
        let mut details: RequestDetails = serde_json::from_value(raw.clone()).map_err(|error| {
            TestingFarmError::UnexpectedBody {
                operation: operation.to_owned(),
                detail: error.to_string(),
            }
        })?;
        details.raw = raw;
        Ok(details)
    }

    /// The requests of this token's user created after `created_after`: `GET /requests`
    /// with `created_after` (`%Y-%m-%dT%H:%M:%S`, UTC) and `state`, authenticated, which is how
    /// `testing-farm list` (its default `--mine`) lists one's own requests.
    pub async fn list_own_requests(
        &self,
        created_after: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<ListedRequest>, TestingFarmError> {
        let operation = "list requests";
        let after = created_after.format("%Y-%m-%dT%H:%M:%S").to_string();
        let mut listed = Vec::new();
        for state in LISTED_STATES {
            let query =
                serde_urlencoded::to_string([("created_after", after.as_str()), ("state", state)])
                    .map_err(|error| TestingFarmError::Setup(error.to_string()))?;
            let path = format!("/requests?{query}");
            // `testing-farm list` reads an empty answer as no requests too.
            let requests: Option<Vec<ListedRequest>> =
                with_retries(&self.retry, operation, || async {
                    self.send(operation, Method::GET, &path, None)
                        .await
                        .map(|(_, requests)| requests)
                })
                .await?;
            listed.extend(requests.unwrap_or_default());
        }
        Ok(listed)
    }

    pub async fn cancel_request(&self, id: &str) -> Result<CancelOutcome, TestingFarmError> {
        let path = format!("/requests/{id}");
        match self
            .send::<Json>("cancel request", Method::DELETE, &path, None)
            .await
        {
            Ok((StatusCode::NO_CONTENT, _)) => Ok(CancelOutcome::AlreadyRequested),
            Ok(_) => Ok(CancelOutcome::Canceled),
            Err(TestingFarmError::HttpStatus { status: 409, .. }) => {
                Ok(CancelOutcome::AlreadyFinished)
            }
            Err(error) => Err(error),
        }
    }

    /// Compose names of the public ranch, e.g. `Fedora-Rawhide`.
    pub async fn public_composes(&self) -> Result<Vec<String>, TestingFarmError> {
        #[derive(Deserialize)]
        struct Compose {
            name: String,
        }
        #[derive(Deserialize)]
        struct Composes {
            composes: Vec<Compose>,
        }
        let operation = "list composes";
        let composes: Composes = with_retries(&self.retry, operation, || async {
            self.send(operation, Method::GET, "/composes/public", None)
                .await
                .map(|(_, composes)| composes)
        })
        .await?;
        Ok(composes
            .composes
            .into_iter()
            .map(|compose| compose.name)
            .collect())
    }

    async fn send<T: DeserializeOwned>(
        &self,
        operation: &str,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<(StatusCode, T), TestingFarmError> {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.api_url))
            .bearer_auth(self.token.expose());
        if let Some(body) = body {
            request = request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body);
        }
        let transport = |source| TestingFarmError::Transport {
            operation: operation.to_owned(),
            source,
        };
        let response = request.send().await.map_err(transport)?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(transport)?;
        let parsed: Json = serde_json::from_slice(&bytes).unwrap_or(Json::Null);
        if status == StatusCode::BAD_REQUEST {
            return Err(TestingFarmError::Invalid {
                operation: operation.to_owned(),
                message: parsed["message"].as_str().unwrap_or_default().to_owned(),
                errors: parsed["errors"].clone(),
            });
        }
        if !status.is_success() {
            return Err(TestingFarmError::HttpStatus {
                operation: operation.to_owned(),
                status: status.as_u16(),
                message: parsed["message"].as_str().unwrap_or_default().to_owned(),
            });
        }
        let value =
            serde_json::from_value(parsed).map_err(|error| TestingFarmError::UnexpectedBody {
                operation: operation.to_owned(),
                detail: error.to_string(),
            })?;
        Ok((status, value))
    }
}

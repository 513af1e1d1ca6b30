//! The Neon provider, over the Neon API v2.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use scrydon_byodb::dsn::Dsn;
use scrydon_byodb::provider::api::Method;
use scrydon_byodb::provider::{
    Applies, BackupPosture, Capabilities, ParameterChange, ParameterValue, Provider, ProviderKind,
};
use scrydon_byodb::{Error, Result, SecretString};
use serde::Deserialize;
use tokio::sync::OnceCell;

use crate::api::{ApiError, ApiErrorKind, Client};
use crate::NeonHost;

/// The production API.
pub const DEFAULT_BASE_URL: &str = "https://console.neon.tech/api/v2";
/// The environment variable [`NeonProviderBuilder::from_env`] reads.
pub const API_KEY_ENV: &str = "NEON_API_KEY";
/// The suspend timeout Neon applies when the endpoint says `0`.
pub const DEFAULT_SUSPEND_TIMEOUT: Duration = Duration::from_secs(300);
/// The parameter [`Provider::set_parameter`] can change.
pub const SUSPEND_TIMEOUT_SECONDS: &str = "suspend_timeout_seconds";
/// Neon's upper bound on `suspend_timeout_seconds` (one week).
const MAX_SUSPEND_SECONDS: i64 = 604_800;
const NAME: &str = "neon";

/// When an endpoint suspends after its last connection closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SuspendTimeout {
    /// `0`: Neon's default, [`DEFAULT_SUSPEND_TIMEOUT`].
    Default,
    /// `-1`: never suspends (plans that allow it).
    Never,
    /// After this long idle.
    After(Duration),
}

impl SuspendTimeout {
    /// From the API's `suspend_timeout_seconds`.
    pub fn from_seconds(s: i64) -> Self {
        match s {
            0 => Self::Default,
            s if s < 0 => Self::Never,
            s => Self::After(Duration::from_secs(s.unsigned_abs())),
        }
    }

    /// The API's `suspend_timeout_seconds`.
    pub fn as_seconds(self) -> i64 {
        match self {
            Self::Default => 0,
            Self::Never => -1,
            Self::After(d) => i64::try_from(d.as_secs()).unwrap_or(MAX_SUSPEND_SECONDS),
        }
    }

    /// How long idle before suspending; `None` for never.
    pub fn effective(self) -> Option<Duration> {
        match self {
            Self::Default => Some(DEFAULT_SUSPEND_TIMEOUT),
            Self::Never => None,
            Self::After(d) => Some(d),
        }
    }
}

/// An endpoint's compute state.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EndpointState {
    /// Running.
    Active,
    /// Suspended.
    Idle,
    /// Starting.
    Init,
    /// Another state Neon reported.
    Other(String),
}

impl EndpointState {
    fn parse(s: &str) -> Self {
        match s {
            "active" => Self::Active,
            "idle" => Self::Idle,
            "init" => Self::Init,
            other => Self::Other(other.to_owned()),
        }
    }
}

/// A compute endpoint as the API reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NeonEndpoint {
    /// `ep-...`.
    pub id: String,
    /// The project it belongs to.
    pub project_id: String,
    /// Its direct host.
    pub host: String,
    /// Compute state.
    pub current_state: EndpointState,
    /// The raw `suspend_timeout_seconds`.
    pub suspend_timeout_seconds: i64,
    /// Whether the `-pooler` host is enabled.
    pub pooler_enabled: bool,
    /// The pooler mode (`transaction`), when given.
    pub pooler_mode: Option<String>,
}

impl NeonEndpoint {
    /// The suspend timeout.
    pub fn suspend_timeout(&self) -> SuspendTimeout {
        SuspendTimeout::from_seconds(self.suspend_timeout_seconds)
    }
}

/// A project as the API reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NeonProject {
    /// Project id.
    pub id: String,
    /// Major PostgreSQL version.
    pub pg_version: u32,
    /// The restore window (history retention), in seconds.
    pub history_retention_seconds: u64,
}

#[derive(Deserialize)]
struct RawEndpoint {
    id: String,
    project_id: String,
    #[serde(default)]
    host: String,
    #[serde(default)]
    current_state: String,
    #[serde(default)]
    suspend_timeout_seconds: i64,
    #[serde(default)]
    pooler_enabled: bool,
    #[serde(default)]
    pooler_mode: Option<String>,
}

impl From<RawEndpoint> for NeonEndpoint {
    fn from(r: RawEndpoint) -> Self {
        Self {
            id: r.id,
            project_id: r.project_id,
            host: r.host,
            current_state: EndpointState::parse(&r.current_state),
            suspend_timeout_seconds: r.suspend_timeout_seconds,
            pooler_enabled: r.pooler_enabled,
            pooler_mode: r.pooler_mode,
        }
    }
}

#[derive(Deserialize)]
struct RawProject {
    id: String,
    #[serde(default)]
    pg_version: u32,
    #[serde(default)]
    history_retention_seconds: u64,
}

#[derive(Deserialize)]
struct EndpointEnvelope {
    endpoint: RawEndpoint,
    #[serde(default)]
    operations: Vec<RawOperation>,
}

#[derive(Deserialize)]
struct EndpointsEnvelope {
    endpoints: Vec<RawEndpoint>,
}

#[derive(Deserialize)]
struct ProjectEnvelope {
    project: RawProject,
}

#[derive(Deserialize)]
struct ProjectsEnvelope {
    projects: Vec<RawProject>,
    #[serde(default)]
    pagination: Option<Pagination>,
}

#[derive(Deserialize)]
struct Pagination {
    #[serde(default)]
    cursor: Option<String>,
}

#[derive(Deserialize)]
struct RawOperation {
    id: String,
    #[serde(default)]
    status: String,
}

#[derive(Deserialize)]
struct OperationEnvelope {
    operation: RawOperation,
}

/// Builds a [`NeonProvider`].
///
/// ```
/// use scrydon_byodb_neon::NeonProvider;
///
/// let neon = NeonProvider::builder()
///     .with_api_key("napi_example")
///     .with_host("ep-cool-darkness-123456-pooler.us-east-2.aws.neon.tech")
///     .build()
///     .unwrap();
/// assert_eq!(neon.endpoint_id(), "ep-cool-darkness-123456");
/// assert!(!format!("{neon:?}").contains("napi_example"));
/// ```
#[derive(Clone, Default)]
pub struct NeonProviderBuilder {
    api_key: Option<SecretString>,
    api_key_file: Option<PathBuf>,
    base_url: Option<String>,
    project_id: Option<String>,
    endpoint_id: Option<String>,
    host: Option<String>,
    request_timeout: Option<Duration>,
    operation_timeout: Option<Duration>,
    poll_interval: Option<Duration>,
}

impl fmt::Debug for NeonProviderBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NeonProviderBuilder")
            .field("api_key", &self.api_key.as_ref().map(|_| "[REDACTED]"))
            .field("api_key_file", &self.api_key_file)
            .field("base_url", &self.base_url)
            .field("project_id", &self.project_id)
            .field("endpoint_id", &self.endpoint_id)
            .field("host", &self.host)
            .finish()
    }
}

impl NeonProviderBuilder {
    /// Empty; never reads the environment.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes the API key from `NEON_API_KEY`, if set.
    pub fn from_env() -> Self {
        let mut b = Self::new();
        if let Ok(key) = std::env::var(API_KEY_ENV) {
            b.api_key = Some(SecretString::new(key));
        }
        b
    }

    /// The API key.
    pub fn with_api_key(mut self, key: impl Into<SecretString>) -> Self {
        self.api_key = Some(key.into());
        self
    }

    /// Reads the API key from this file at [`build`](Self::build) (surrounding whitespace
    /// trimmed). Wins over [`with_api_key`](Self::with_api_key).
    pub fn with_api_key_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.api_key_file = Some(path.into());
        self
    }

    /// The API base URL (default [`DEFAULT_BASE_URL`]); tests point it at a loopback server.
    pub fn with_base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = Some(url.into());
        self
    }

    /// The project, which skips the search through `GET /projects`.
    pub fn with_project_id(mut self, id: impl Into<String>) -> Self {
        self.project_id = Some(id.into());
        self
    }

    /// The endpoint id (`ep-...`).
    pub fn with_endpoint_id(mut self, id: impl Into<String>) -> Self {
        self.endpoint_id = Some(id.into());
        self
    }

    /// The endpoint from a host name (`ep-...[-pooler].<region>.aws.neon.tech`).
    pub fn with_host(mut self, host: impl Into<String>) -> Self {
        self.host = Some(host.into());
        self
    }

    /// The endpoint from a DSN's first host.
    pub fn with_dsn(mut self, dsn: &Dsn) -> Self {
        if let Some(h) = NeonHost::from_dsn(dsn) {
            self.endpoint_id = Some(h.endpoint_id);
        }
        self
    }

    /// Per-request timeout (default 30 s).
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = Some(timeout);
        self
    }

    /// How long to follow an operation before giving up (default 120 s).
    pub fn with_operation_timeout(mut self, timeout: Duration) -> Self {
        self.operation_timeout = Some(timeout);
        self
    }

    /// The first delay between operation polls (default 500 ms; doubles up to 5 s).
    pub fn with_poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = Some(interval);
        self
    }

    /// Validates and builds.
    pub fn build(self) -> Result<NeonProvider> {
        let key = match &self.api_key_file {
            Some(path) => SecretString::new(
                std::fs::read_to_string(path)
                    .map_err(|source| Error::Io {
                        path: Some(path.clone()),
                        source,
                    })?
                    .trim()
                    .to_owned(),
            ),
            None => self.api_key.clone().unwrap_or_default(),
        };
        if key.is_empty() {
            return Err(invalid(
                "api key",
                "",
                "no Neon API key (with_api_key, with_api_key_file or NEON_API_KEY via from_env)",
            ));
        }
        let endpoint_id = match (&self.endpoint_id, &self.host) {
            (Some(id), _) => id.trim_end_matches("-pooler").to_owned(),
            (None, Some(h)) => {
                NeonHost::from_host(h)
                    .ok_or_else(|| {
                        invalid("host", h, "not a Neon endpoint host (ep-...neon.tech)")
                    })?
                    .endpoint_id
            }
            (None, None) => {
                return Err(invalid(
                    "endpoint",
                    "",
                    "no endpoint id, host or Neon DSN given",
                ))
            }
        };
        if !endpoint_id.starts_with("ep-") {
            return Err(invalid(
                "endpoint",
                &endpoint_id,
                "a Neon endpoint id starts with ep-",
            ));
        }
        let base = self.base_url.as_deref().unwrap_or(DEFAULT_BASE_URL);
        let client = Client::new(
            base,
            key,
            self.request_timeout.unwrap_or(Duration::from_secs(30)),
        )
        .map_err(|reason| invalid("base url", base, &reason))?;
        let project = OnceCell::new_with(self.project_id.clone());
        Ok(NeonProvider {
            client,
            endpoint_id,
            project,
            operation_timeout: self.operation_timeout.unwrap_or(Duration::from_secs(120)),
            poll_interval: self.poll_interval.unwrap_or(Duration::from_millis(500)),
        })
    }
}

fn invalid(field: &str, value: &str, reason: &str) -> Error {
    Error::InvalidInput {
        field: field.to_owned(),
        value: value.to_owned(),
        reason: reason.to_owned(),
    }
}

fn api_error(what: &str, e: ApiError) -> Error {
    Error::Provider {
        provider: NAME.to_owned(),
        reason: format!("{what}: {e}"),
        source: Some(Box::new(e)),
    }
}

/// Neon, for one compute endpoint: reads the suspend timeout, the pooler, the compute state and
/// the project's restore window; changes the suspend timeout when asked.
///
/// Capabilities: `read_parameters` (`suspend_timeout_seconds`, `pooler_enabled`,
/// `pooler_mode`, `current_state`, `history_retention_seconds`, `pg_version`),
/// `write_parameters` (`suspend_timeout_seconds` only), `backup_posture` (history retention
/// is Neon's point-in-time restore window). Neon's certificates chain to public roots, so there
/// is no CA bundle to supply; high availability is not reported by the API.
pub struct NeonProvider {
    client: Client,
    endpoint_id: String,
    project: OnceCell<String>,
    operation_timeout: Duration,
    poll_interval: Duration,
}

impl fmt::Debug for NeonProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NeonProvider")
            .field("client", &self.client)
            .field("endpoint_id", &self.endpoint_id)
            .field("project_id", &self.project.get())
            .finish()
    }
}

impl NeonProvider {
    /// A builder.
    pub fn builder() -> NeonProviderBuilder {
        NeonProviderBuilder::new()
    }

    /// The endpoint id.
    pub fn endpoint_id(&self) -> &str {
        &self.endpoint_id
    }

    /// The project id, found through `GET /projects` on first use unless given.
    pub async fn project_id(&self) -> Result<&str> {
        self.project
            .get_or_try_init(|| self.find_project())
            .await
            .map(String::as_str)
    }

    async fn find_project(&self) -> Result<String> {
        let mut cursor: Option<String> = None;
        // Bounded: 50 pages of 100 projects.
        for _ in 0..50 {
            let path = match &cursor {
                Some(c) => format!("/projects?limit=100&cursor={c}"),
                None => "/projects?limit=100".to_owned(),
            };
            let page: ProjectsEnvelope = self
                .client
                .call(Method::GET, &path, None)
                .await
                .map_err(|e| api_error("listing projects", e))?;
            for p in &page.projects {
                let eps: EndpointsEnvelope = self
                    .client
                    .call(Method::GET, &format!("/projects/{}/endpoints", p.id), None)
                    .await
                    .map_err(|e| api_error("listing endpoints", e))?;
                if eps.endpoints.iter().any(|e| e.id == self.endpoint_id) {
                    return Ok(p.id.clone());
                }
            }
            match page.pagination.and_then(|p| p.cursor) {
                Some(c) if page.projects.len() >= 100 => cursor = Some(c),
                _ => break,
            }
        }
        Err(api_error(
            "finding the endpoint's project",
            ApiError::local(
                ApiErrorKind::NotFound,
                format!(
                    "no project visible to this key has endpoint {}",
                    self.endpoint_id
                ),
            ),
        ))
    }

    /// The endpoint (`GET /projects/{project_id}/endpoints/{endpoint_id}`).
    pub async fn endpoint(&self) -> Result<NeonEndpoint> {
        let project = self.project_id().await?;
        let env: EndpointEnvelope = self
            .client
            .call(
                Method::GET,
                &format!("/projects/{project}/endpoints/{}", self.endpoint_id),
                None,
            )
            .await
            .map_err(|e| api_error("reading the endpoint", e))?;
        Ok(env.endpoint.into())
    }

    /// The project (`GET /projects/{project_id}`).
    pub async fn project(&self) -> Result<NeonProject> {
        let project = self.project_id().await?;
        let env: ProjectEnvelope = self
            .client
            .call(Method::GET, &format!("/projects/{project}"), None)
            .await
            .map_err(|e| api_error("reading the project", e))?;
        Ok(NeonProject {
            id: env.project.id,
            pg_version: env.project.pg_version,
            history_retention_seconds: env.project.history_retention_seconds,
        })
    }

    /// Sets the suspend timeout and waits for Neon's operations to finish. Unchanged values
    /// send nothing.
    pub async fn set_suspend_timeout(&self, timeout: SuspendTimeout) -> Result<ParameterChange> {
        let seconds = timeout.as_seconds();
        if !(-1..=MAX_SUSPEND_SECONDS).contains(&seconds) {
            return Err(invalid(
                SUSPEND_TIMEOUT_SECONDS,
                &seconds.to_string(),
                "must be -1 (never), 0 (default) or 1..=604800",
            ));
        }
        let before = self.endpoint().await?;
        let change = |previous: i64| ParameterChange {
            name: SUSPEND_TIMEOUT_SECONDS.to_owned(),
            previous: Some(previous.to_string()),
            value: seconds.to_string(),
            applies: Applies::Immediately,
        };
        if before.suspend_timeout_seconds == seconds {
            return Ok(change(seconds));
        }
        let project = self.project_id().await?;
        let env: EndpointEnvelope = self
            .client
            .call(
                Method::PATCH,
                &format!("/projects/{project}/endpoints/{}", self.endpoint_id),
                Some(serde_json::json!({"endpoint": {"suspend_timeout_seconds": seconds}})),
            )
            .await
            .map_err(|e| api_error("setting the suspend timeout", e))?;
        for op in &env.operations {
            self.wait_operation(project, op).await?;
        }
        let _ = env.endpoint;
        Ok(change(before.suspend_timeout_seconds))
    }

    /// Polls one operation to its end, with backoff, within the operation timeout.
    async fn wait_operation(&self, project: &str, op: &RawOperation) -> Result<()> {
        let deadline = tokio::time::Instant::now() + self.operation_timeout;
        let mut status = op.status.clone();
        let mut delay = self.poll_interval;
        loop {
            match status.as_str() {
                "finished" | "skipped" => return Ok(()),
                "failed" | "error" | "cancelled" => {
                    return Err(api_error(
                        "following an operation",
                        ApiError::local(
                            ApiErrorKind::OperationFailed,
                            format!("operation {} ended {status}", op.id),
                        ),
                    ))
                }
                _ => {}
            }
            if tokio::time::Instant::now() + delay > deadline {
                return Err(api_error(
                    "following an operation",
                    ApiError::local(
                        ApiErrorKind::Timeout,
                        format!(
                            "operation {} still {status} after {:?}",
                            op.id, self.operation_timeout
                        ),
                    ),
                ));
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(5));
            let env: OperationEnvelope = self
                .client
                .call(
                    Method::GET,
                    &format!("/projects/{project}/operations/{}", op.id),
                    None,
                )
                .await
                .map_err(|e| api_error("following an operation", e))?;
            status = env.operation.status;
        }
    }
}

fn value(name: &str, value: impl ToString) -> Option<ParameterValue> {
    Some(ParameterValue {
        name: name.to_owned(),
        value: value.to_string(),
        pending_restart: false,
    })
}

#[async_trait]
impl Provider for NeonProvider {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Neon
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            read_parameters: true,
            write_parameters: true,
            backup_posture: true,
            ..Capabilities::NONE
        }
    }

    async fn parameter(&self, name: &str) -> Result<Option<ParameterValue>> {
        match name {
            SUSPEND_TIMEOUT_SECONDS | "pooler_enabled" | "pooler_mode" | "current_state" => {
                let ep = self.endpoint().await?;
                Ok(match name {
                    SUSPEND_TIMEOUT_SECONDS => value(name, ep.suspend_timeout_seconds),
                    "pooler_enabled" => value(name, ep.pooler_enabled),
                    "pooler_mode" => ep.pooler_mode.and_then(|m| value(name, m)),
                    _ => match ep.current_state {
                        EndpointState::Active => value(name, "active"),
                        EndpointState::Idle => value(name, "idle"),
                        EndpointState::Init => value(name, "init"),
                        EndpointState::Other(s) => value(name, s),
                    },
                })
            }
            "history_retention_seconds" => {
                Ok(value(name, self.project().await?.history_retention_seconds))
            }
            "pg_version" => Ok(value(name, self.project().await?.pg_version)),
            _ => Ok(None),
        }
    }

    async fn set_parameter(&self, name: &str, value: &str) -> Result<ParameterChange> {
        if name != SUSPEND_TIMEOUT_SECONDS {
            return Err(invalid(
                "parameter",
                name,
                "only suspend_timeout_seconds can be changed through the Neon provider",
            ));
        }
        let seconds: i64 = match value.trim() {
            "never" => -1,
            "default" => 0,
            v => v.parse().map_err(|_| {
                invalid(
                    name,
                    value,
                    "an integer number of seconds, never or default",
                )
            })?,
        };
        if !(-1..=MAX_SUSPEND_SECONDS).contains(&seconds) {
            return Err(invalid(
                name,
                value,
                "must be -1 (never), 0 (default) or 1..=604800",
            ));
        }
        self.set_suspend_timeout(SuspendTimeout::from_seconds(seconds))
            .await
    }

    async fn backup_posture(&self) -> Result<BackupPosture> {
        let p = self.project().await?;
        let days = p.history_retention_seconds / 86_400;
        Ok(BackupPosture {
            automated: p.history_retention_seconds > 0,
            // Under a day (the free plan's 6 h) is not a whole day: unknown in days; read
            // `history_retention_seconds` for the exact window.
            retention_days: (days > 0).then(|| u32::try_from(days).unwrap_or(u32::MAX)),
            point_in_time_recovery: p.history_retention_seconds > 0,
            cross_region: Some(false),
        })
    }
}

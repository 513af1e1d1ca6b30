//! Azure Resource Manager calls for one Flexible Server, through azure_core's pipeline: the
//! server, its configurations (server parameters), and configuration writes followed to the end
//! of their long-running operation.

use std::sync::Arc;
use std::time::{Duration, Instant};

use azure_core::credentials::TokenCredential;
use azure_core::http::policies::auth::BearerTokenAuthorizationPolicy;
use azure_core::http::policies::Policy;
use azure_core::http::{
    headers::HeaderName, ClientOptions, Context, Method, Pipeline, PipelineSendOptions,
    RawResponse, Request, RetryOptions, StatusCode, Transport, Url,
};
use scrydon_byodb::{Error, Result};
use serde::Deserialize;

use crate::resource::FlexibleServerId;
use crate::NAME;

/// The ARM API version this crate speaks.
pub const API_VERSION: &str = "2025-08-01";

/// The scope of an ARM token.
const ARM_SCOPE: &str = "https://management.azure.com/.default";

const AZURE_ASYNC_OPERATION: HeaderName = HeaderName::from_static("azure-asyncoperation");
const LOCATION: HeaderName = HeaderName::from_static("location");
const RETRY_AFTER: HeaderName = HeaderName::from_static("retry-after");

/// `GET …/flexibleServers/{name}`, the parts read here.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ServerResource {
    #[serde(default)]
    pub location: Option<String>,
    #[serde(default)]
    pub properties: ServerProperties,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ServerProperties {
    pub version: Option<String>,
    pub minor_version: Option<String>,
    pub state: Option<String>,
    pub fully_qualified_domain_name: Option<String>,
    #[serde(default)]
    pub backup: Option<Backup>,
    #[serde(default)]
    pub high_availability: Option<HighAvailabilityJson>,
    #[serde(default)]
    pub network: Option<Network>,
    #[serde(default)]
    pub auth_config: Option<AuthConfig>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Backup {
    pub backup_retention_days: Option<u32>,
    pub geo_redundant_backup: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct HighAvailabilityJson {
    pub mode: Option<String>,
    pub state: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Network {
    pub public_network_access: Option<String>,
    pub delegated_subnet_resource_id: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AuthConfig {
    pub active_directory_auth: Option<String>,
    pub password_auth: Option<String>,
}

/// `GET …/configurations/{name}`.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct ConfigurationResource {
    #[serde(default)]
    pub properties: ConfigurationProperties,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ConfigurationProperties {
    pub value: Option<String>,
    pub data_type: Option<String>,
    /// A comma-separated list (`on,off`), as ARM gives it.
    pub allowed_values: Option<String>,
    pub is_dynamic_config: Option<bool>,
    pub is_read_only: Option<bool>,
    pub is_config_pending_restart: Option<bool>,
}

#[derive(Debug, Deserialize)]
struct ErrorEnvelope {
    error: Option<ArmError>,
}

#[derive(Debug, Clone, Deserialize)]
struct ArmError {
    code: Option<String>,
    message: Option<String>,
}

#[derive(Debug, Deserialize)]
struct AsyncOperation {
    status: Option<String>,
    error: Option<ArmError>,
}

/// How configuration writes are followed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PollOptions {
    /// The longest wait between two polls (ARM's `Retry-After` is honoured up to it).
    pub max_interval: Duration,
    /// Give up after this long (the change may still complete on Azure's side).
    pub timeout: Duration,
}

impl Default for PollOptions {
    fn default() -> Self {
        PollOptions {
            max_interval: Duration::from_secs(30),
            timeout: Duration::from_secs(20 * 60),
        }
    }
}

/// An ARM client for one server.
#[derive(Debug, Clone)]
pub(crate) struct Arm {
    pipeline: Pipeline,
    endpoint: Url,
    id: FlexibleServerId,
    poll: PollOptions,
}

pub(crate) fn provider_error(reason: impl Into<String>) -> Error {
    Error::Provider {
        provider: NAME.to_owned(),
        reason: reason.into(),
        source: None,
    }
}

impl Arm {
    pub(crate) fn new(
        endpoint: Url,
        id: FlexibleServerId,
        credential: Arc<dyn TokenCredential>,
        transport: Transport,
        retry: RetryOptions,
        poll: PollOptions,
    ) -> Self {
        let options = ClientOptions {
            transport: Some(transport),
            retry,
            ..ClientOptions::default()
        };
        let auth: Arc<dyn Policy> =
            Arc::new(BearerTokenAuthorizationPolicy::new(credential, [ARM_SCOPE]));
        let pipeline = Pipeline::new(
            option_env!("CARGO_PKG_NAME"),
            option_env!("CARGO_PKG_VERSION"),
            options,
            Vec::new(),
            vec![auth],
            None,
        );
        Arm {
            pipeline,
            endpoint,
            id,
            poll,
        }
    }

    pub(crate) fn id(&self) -> &FlexibleServerId {
        &self.id
    }

    /// `{endpoint}/subscriptions/…/flexibleServers/{name}[/extra…]?api-version=…`.
    fn url(&self, extra: &[&str]) -> Result<Url> {
        let mut url = self.endpoint.clone();
        {
            let mut segs = url
                .path_segments_mut()
                .map_err(|()| provider_error("the ARM endpoint cannot be a base URL"))?;
            segs.pop_if_empty();
            segs.extend(self.id.segments());
            segs.extend(extra);
        }
        url.query_pairs_mut()
            .clear()
            .append_pair("api-version", API_VERSION);
        Ok(url)
    }

    async fn send(&self, what: &str, mut request: Request) -> Result<RawResponse> {
        let ctx = Context::new();
        self.pipeline
            .send(
                &ctx,
                &mut request,
                Some(PipelineSendOptions {
                    skip_checks: true,
                    ..PipelineSendOptions::default()
                }),
            )
            .await
            .map_err(|e| {
                // azure_core's message (a credential failure, a connection refused); the token
                // itself never appears in these errors.
                Error::Provider {
                    provider: NAME.to_owned(),
                    reason: format!("{what}: {e}"),
                    source: Some(Box::new(e)),
                }
            })
    }

    /// An ARM error answer as [`Error::Provider`] with its code and message.
    fn http_error(what: &str, response: &RawResponse) -> Error {
        let status = u16::from(response.status());
        let parsed: Option<ArmError> = serde_json::from_slice::<ErrorEnvelope>(response.body())
            .ok()
            .and_then(|e| e.error);
        let reason = match parsed {
            Some(ArmError { code, message }) => format!(
                "{what}: HTTP {status} {}: {}",
                code.as_deref().unwrap_or("(no code)"),
                message.as_deref().unwrap_or("(no message)")
            ),
            None => format!("{what}: HTTP {status}"),
        };
        provider_error(reason)
    }

    fn error_code(response: &RawResponse) -> Option<String> {
        serde_json::from_slice::<ErrorEnvelope>(response.body())
            .ok()
            .and_then(|e| e.error)
            .and_then(|e| e.code)
    }

    fn parse<T: for<'de> Deserialize<'de>>(what: &str, response: &RawResponse) -> Result<T> {
        serde_json::from_slice(response.body()).map_err(|e| Error::Provider {
            provider: NAME.to_owned(),
            reason: format!("{what}: the answer is not the documented JSON: {e}"),
            source: Some(Box::new(e)),
        })
    }

    /// The server.
    pub(crate) async fn server(&self) -> Result<ServerResource> {
        let what = format!("reading server {}", self.id.server_name);
        let response = self
            .send(&what, Request::new(self.url(&[])?, Method::Get))
            .await?;
        if response.status() == StatusCode::NotFound {
            return Err(provider_error(format!(
                "{what}: no Flexible Server {} in resource group {} of subscription {} \
                 ({})",
                self.id.server_name,
                self.id.resource_group,
                self.id.subscription_id,
                Self::error_code(&response).unwrap_or_else(|| "HTTP 404".to_owned())
            )));
        }
        if !response.status().is_success() {
            return Err(Self::http_error(&what, &response));
        }
        Self::parse(&what, &response)
    }

    /// One configuration; `None` when the server has no such parameter.
    pub(crate) async fn configuration(&self, name: &str) -> Result<Option<ConfigurationResource>> {
        let what = format!("reading server parameter {name}");
        let response = self
            .send(
                &what,
                Request::new(self.url(&["configurations", name])?, Method::Get),
            )
            .await?;
        if response.status() == StatusCode::NotFound {
            // A missing server is an error, not an unknown parameter.
            return match Self::error_code(&response).as_deref() {
                Some("ParentResourceNotFound")
                | Some("ResourceGroupNotFound")
                | Some("SubscriptionNotFound") => Err(Self::http_error(&what, &response)),
                _ => Ok(None),
            };
        }
        if !response.status().is_success() {
            return Err(Self::http_error(&what, &response));
        }
        Self::parse(&what, &response).map(Some)
    }

    /// `PUT …/configurations/{name}` with `source: user-override`, followed to its end.
    pub(crate) async fn put_configuration(&self, name: &str, value: &str) -> Result<()> {
        let what = format!("setting server parameter {name}");
        let mut request = Request::new(self.url(&["configurations", name])?, Method::Put);
        request.insert_header("content-type", "application/json");
        let body = serde_json::json!({
            "properties": { "value": value, "source": "user-override" }
        });
        request.set_body(serde_json::to_vec(&body).map_err(|e| provider_error(e.to_string()))?);
        let response = self.send(&what, request).await?;
        match u16::from(response.status()) {
            200 | 201 | 204 => {
                // Synchronous completion; a 201 may still carry an operation to follow.
                match self.operation_url(&response)? {
                    Some(op) if u16::from(response.status()) == 201 => {
                        self.follow(&what, op, &response).await
                    }
                    _ => Ok(()),
                }
            }
            202 => match self.operation_url(&response)? {
                Some(op) => self.follow(&what, op, &response).await,
                None => Err(provider_error(format!(
                    "{what}: HTTP 202 without Azure-AsyncOperation or Location to follow"
                ))),
            },
            _ => Err(Self::http_error(&what, &response)),
        }
    }

    /// The URL to poll, checked to be on the ARM endpoint (the bearer token goes with it).
    fn operation_url(&self, response: &RawResponse) -> Result<Option<Operation>> {
        let headers = response.headers();
        let (kind, raw) = match (
            headers.get_optional_str(&AZURE_ASYNC_OPERATION),
            headers.get_optional_str(&LOCATION),
        ) {
            (Some(u), _) => (OperationKind::AsyncOperation, u),
            (None, Some(u)) => (OperationKind::Location, u),
            (None, None) => return Ok(None),
        };
        let url = Url::parse(raw)
            .map_err(|e| provider_error(format!("the operation URL {raw:?} is not a URL: {e}")))?;
        let same_origin = url.scheme() == self.endpoint.scheme()
            && url.host_str() == self.endpoint.host_str()
            && url.port_or_known_default() == self.endpoint.port_or_known_default();
        if !same_origin {
            return Err(provider_error(format!(
                "the operation URL {} is not on the ARM endpoint {}; not following it with \
                 the token",
                url.origin().ascii_serialization(),
                self.endpoint.origin().ascii_serialization()
            )));
        }
        Ok(Some(Operation { kind, url }))
    }

    fn retry_after(&self, response: &RawResponse) -> Duration {
        let hinted = response
            .headers()
            .get_optional_str(&RETRY_AFTER)
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs)
            .unwrap_or(Duration::from_secs(5));
        hinted.min(self.poll.max_interval)
    }

    /// Polls until the operation ends: `Succeeded` is Ok, `Failed`/`Canceled` an error with
    /// ARM's code and message.
    async fn follow(&self, what: &str, op: Operation, first: &RawResponse) -> Result<()> {
        let started = Instant::now();
        let mut wait = self.retry_after(first);
        loop {
            if started.elapsed() > self.poll.timeout {
                return Err(provider_error(format!(
                    "{what}: the operation was still running after {:?}; check it in the \
                     portal before trying again",
                    self.poll.timeout
                )));
            }
            tokio::time::sleep(wait).await;
            let response = self
                .send(what, Request::new(op.url.clone(), Method::Get))
                .await?;
            let status = u16::from(response.status());
            match op.kind {
                OperationKind::AsyncOperation => {
                    if !response.status().is_success() {
                        return Err(Self::http_error(what, &response));
                    }
                    let body: AsyncOperation = Self::parse(what, &response)?;
                    match body.status.as_deref() {
                        Some("Succeeded") => return Ok(()),
                        Some(s @ ("Failed" | "Canceled")) => {
                            let (code, message) = body
                                .error
                                .map(|e| (e.code, e.message))
                                .unwrap_or((None, None));
                            return Err(provider_error(format!(
                                "{what}: the operation {s}: {}: {}",
                                code.as_deref().unwrap_or("(no code)"),
                                message.as_deref().unwrap_or("(no message)")
                            )));
                        }
                        _ => {}
                    }
                }
                OperationKind::Location => match status {
                    202 => {}
                    200 | 201 | 204 => return Ok(()),
                    _ => return Err(Self::http_error(what, &response)),
                },
            }
            wait = self.retry_after(&response);
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum OperationKind {
    AsyncOperation,
    Location,
}

#[derive(Debug, Clone)]
struct Operation {
    kind: OperationKind,
    url: Url,
}

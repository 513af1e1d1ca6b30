//! [`FlexibleServerProvider`]: the [`Provider`] for Azure Database for PostgreSQL Flexible
//! Server.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use azure_core::credentials::{Secret, TokenCredential};
use azure_core::http::{RetryOptions, Transport, Url};
use scrydon_byodb::provider::{
    Applies, BackupPosture, Capabilities, HighAvailability, ParameterChange, ParameterValue,
    Provider, ProviderKind, Redundancy,
};
use scrydon_byodb::report::{ids, Finding, Fix, Status};
use scrydon_byodb::tls::CaBundle;
use scrydon_byodb::{Error, Result};

use crate::arm::{provider_error, Arm, ConfigurationResource, PollOptions, ServerResource};
use crate::resource::{validate_resource_group, validate_subscription, FlexibleServerId};
use crate::transport::RustlsHttpClient;
use crate::FlexibleServerHost;

/// The server parameter listing the extensions `CREATE EXTENSION` may install.
pub const AZURE_EXTENSIONS: &str = "azure.extensions";
/// The server parameter that refuses connections without TLS.
pub const REQUIRE_SECURE_TRANSPORT: &str = "require_secure_transport";
/// The server parameter holding the lowest TLS version accepted.
pub const SSL_MIN_PROTOCOL_VERSION: &str = "ssl_min_protocol_version";
/// Azure Resource Manager's public endpoint.
pub const DEFAULT_ENDPOINT: &str = "https://management.azure.com";

const NOTES_AZURE: &str =
    "runbook: Provider notes / Azure Database for PostgreSQL (Flexible Server)";
const ISO_TLS: &str = "ISO 27001:2022 A.8.24";
const NIST_SC8: &str = "NIST SC-8";

/// Where the credential comes from when none is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CredentialSource {
    Workload,
    ClientSecret,
    ManagedIdentity,
    DeveloperTools,
}

impl CredentialSource {
    fn as_str(self) -> &'static str {
        match self {
            CredentialSource::Workload => "workload identity",
            CredentialSource::ClientSecret => "client secret",
            CredentialSource::ManagedIdentity => "managed identity",
            CredentialSource::DeveloperTools => "developer tools (az, azd)",
        }
    }
}

/// Builds a [`FlexibleServerProvider`].
///
/// `new()` reads nothing from the environment; [`from_env`](Self::from_env) does. Setters never
/// fail; [`build`](Self::build) checks the settings (errors are [`Error::InvalidInput`] naming
/// the field, before any request) and reads the server once, so a missing server or a refused
/// credential is a clear error at build time.
///
/// ```no_run
/// use scrydon_byodb_azure::FlexibleServerProvider;
///
/// # async fn example() -> scrydon_byodb::Result<()> {
/// // Credentials from the environment (workload identity, client secret, managed identity,
/// // then `az login`).
/// let azure = FlexibleServerProvider::from_env()
///     .with_host("scrydon-prod.postgres.database.azure.com")
///     .with_subscription_id("00000000-0000-0000-0000-000000000000")
///     .with_resource_group("rg-scrydon")
///     .build()
///     .await?;
/// let d = azure.describe().await?;
/// println!("VECTOR allowed: {}", d.has_vector);
/// # Ok(())
/// # }
/// ```
#[derive(Default)]
pub struct FlexibleServerProviderBuilder {
    host: Option<String>,
    server_name: Option<String>,
    subscription_id: Option<String>,
    resource_group: Option<String>,
    resource_id: Option<String>,
    endpoint: Option<String>,
    credential: Option<Arc<dyn TokenCredential>>,
    source: Option<CredentialSource>,
    client_id: Option<String>,
    tenant_id: Option<String>,
    client_secret: Option<Secret>,
    extra_roots: Vec<Vec<u8>>,
    ca_bundle: Option<CaBundle>,
    retry: Option<RetryOptions>,
    poll: PollOptions,
    request_timeout: Option<Duration>,
}

impl fmt::Debug for FlexibleServerProviderBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FlexibleServerProviderBuilder")
            .field("host", &self.host)
            .field("server_name", &self.server_name)
            .field("subscription_id", &self.subscription_id)
            .field("resource_group", &self.resource_group)
            .field("resource_id", &self.resource_id)
            .field("endpoint", &self.endpoint)
            .field("credential", &self.credential.as_ref().map(|_| "<set>"))
            .field(
                "credential_source",
                &self.source.map(CredentialSource::as_str),
            )
            .field("client_id", &self.client_id)
            .field("tenant_id", &self.tenant_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("extra_roots", &self.extra_roots.len())
            .field("ca_bundle", &self.ca_bundle)
            .field("poll", &self.poll)
            .finish()
    }
}

fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

impl FlexibleServerProviderBuilder {
    /// An empty builder; reads nothing from the environment.
    pub fn new() -> Self {
        Self::default()
    }

    /// A builder from the environment:
    ///
    /// * the server: `AZURE_POSTGRES_RESOURCE_ID`, or `AZURE_SUBSCRIPTION_ID`,
    ///   `AZURE_RESOURCE_GROUP` and `AZURE_POSTGRES_SERVER` (or a host given with
    ///   [`with_host`](Self::with_host)); `AZURE_RESOURCE_MANAGER_ENDPOINT` for another cloud;
    /// * the credential, first match wins (nothing is asked for a token before the first
    ///   request): **workload identity** when `AZURE_FEDERATED_TOKEN_FILE` is set (AKS, with
    ///   `AZURE_TENANT_ID` and `AZURE_CLIENT_ID`); a **client secret** when
    ///   `AZURE_CLIENT_SECRET` is set (with `AZURE_TENANT_ID` and `AZURE_CLIENT_ID`); a
    ///   **managed identity** when `IDENTITY_ENDPOINT` or `MSI_ENDPOINT` is set, or
    ///   `AZURE_USE_MANAGED_IDENTITY=true` (user-assigned when `AZURE_CLIENT_ID` is set);
    ///   otherwise the **developer tools** (`az login`, `azd auth login`).
    pub fn from_env() -> Self {
        let mut b = Self::new();
        b.resource_id = env_var("AZURE_POSTGRES_RESOURCE_ID");
        b.subscription_id = env_var("AZURE_SUBSCRIPTION_ID");
        b.resource_group = env_var("AZURE_RESOURCE_GROUP");
        b.server_name = env_var("AZURE_POSTGRES_SERVER");
        b.endpoint = env_var("AZURE_RESOURCE_MANAGER_ENDPOINT");
        b.client_id = env_var("AZURE_CLIENT_ID");
        b.tenant_id = env_var("AZURE_TENANT_ID");
        b.source = Some(if env_var("AZURE_FEDERATED_TOKEN_FILE").is_some() {
            CredentialSource::Workload
        } else if let Some(secret) = env_var("AZURE_CLIENT_SECRET") {
            b.client_secret = Some(Secret::new(secret));
            CredentialSource::ClientSecret
        } else if env_var("IDENTITY_ENDPOINT").is_some()
            || env_var("MSI_ENDPOINT").is_some()
            || env_var("AZURE_USE_MANAGED_IDENTITY").is_some_and(|v| v.eq_ignore_ascii_case("true"))
        {
            CredentialSource::ManagedIdentity
        } else {
            CredentialSource::DeveloperTools
        });
        b
    }

    /// The server's host name (`<server>.postgres.database.azure.com`, or its private-link
    /// form); gives the server name. Needs the subscription and the resource group.
    pub fn with_host(mut self, host: impl Into<String>) -> Self {
        self.host = Some(host.into());
        self
    }

    /// The server's name (instead of a host name).
    pub fn with_server_name(mut self, name: impl Into<String>) -> Self {
        self.server_name = Some(name.into());
        self
    }

    /// The subscription (a GUID).
    pub fn with_subscription_id(mut self, id: impl Into<String>) -> Self {
        self.subscription_id = Some(id.into());
        self
    }

    /// The resource group.
    pub fn with_resource_group(mut self, group: impl Into<String>) -> Self {
        self.resource_group = Some(group.into());
        self
    }

    /// The server's full resource id
    /// (`/subscriptions/…/resourceGroups/…/providers/Microsoft.DBforPostgreSQL/flexibleServers/…`),
    /// instead of host, subscription and resource group.
    pub fn with_resource_id(mut self, id: impl Into<String>) -> Self {
        self.resource_id = Some(id.into());
        self
    }

    /// The credential asking Entra ID for ARM tokens (any azure_identity credential, or your
    /// own [`TokenCredential`]). Replaces the environment's.
    pub fn with_credential(mut self, credential: Arc<dyn TokenCredential>) -> Self {
        self.credential = Some(credential);
        self
    }

    /// Another ARM endpoint (a sovereign cloud; a loopback server in tests). `https` only:
    /// azure_core never sends a bearer token over plain HTTP.
    pub fn with_endpoint(mut self, url: impl Into<String>) -> Self {
        self.endpoint = Some(url.into());
        self
    }

    /// Trusts these CAs for the ARM endpoint, besides the public (webpki/Mozilla) roots: a
    /// TLS-inspecting proxy's CA, or a test CA.
    pub fn with_additional_endpoint_roots(mut self, roots: &CaBundle) -> Self {
        self.extra_roots.extend(roots.der_certificates());
        self
    }

    /// The CA bundle [`Provider::ca_bundle`] returns, instead of Azure's documented roots
    /// ([`azure_ca_bundle`](crate::azure_ca_bundle)).
    pub fn with_ca_bundle(mut self, bundle: CaBundle) -> Self {
        self.ca_bundle = Some(bundle);
        self
    }

    /// How throttled (429) and transient (408, 500, 502, 503, 504) answers are retried
    /// (default: azure_core's exponential policy, honouring `Retry-After`).
    pub fn with_retry(mut self, retry: RetryOptions) -> Self {
        self.retry = Some(retry);
        self
    }

    /// The longest wait between two polls of a configuration change (default 30 s; ARM's
    /// `Retry-After` is honoured up to it).
    pub fn with_max_poll_interval(mut self, interval: Duration) -> Self {
        self.poll.max_interval = interval;
        self
    }

    /// How long a configuration change may run before giving up (default 20 min).
    pub fn with_operation_timeout(mut self, timeout: Duration) -> Self {
        self.poll.timeout = timeout;
        self
    }

    /// How long one HTTP request may take (default 60 s).
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = Some(timeout);
        self
    }

    fn server_id(&self) -> Result<FlexibleServerId> {
        if let Some(rid) = &self.resource_id {
            return rid.parse();
        }
        let from_host = match &self.host {
            Some(h) => Some(
                FlexibleServerHost::from_host(h)
                    .ok_or_else(|| Error::InvalidInput {
                        field: "host".to_owned(),
                        value: h.clone(),
                        reason: "not a Flexible Server host name \
                                 (<server>.postgres.database.azure.com)"
                            .to_owned(),
                    })?
                    .server_name,
            ),
            None => None,
        };
        let server = from_host
            .or_else(|| self.server_name.clone())
            .ok_or_else(|| Error::InvalidInput {
                field: "server".to_owned(),
                value: String::new(),
                reason: "give a host name, a server name or a resource id".to_owned(),
            })?;
        let sub = self
            .subscription_id
            .clone()
            .ok_or_else(|| Error::InvalidInput {
                field: "subscription_id".to_owned(),
                value: String::new(),
                reason: "the subscription is needed with a host or server name \
                         (AZURE_SUBSCRIPTION_ID)"
                    .to_owned(),
            })?;
        let rg = self
            .resource_group
            .clone()
            .ok_or_else(|| Error::InvalidInput {
                field: "resource_group".to_owned(),
                value: String::new(),
                reason: "the resource group is needed with a host or server name \
                         (AZURE_RESOURCE_GROUP)"
                    .to_owned(),
            })?;
        validate_subscription(&sub)?;
        validate_resource_group(&rg)?;
        FlexibleServerId::new(sub, rg, server)
    }

    fn endpoint(&self) -> Result<Url> {
        let raw = self.endpoint.as_deref().unwrap_or(DEFAULT_ENDPOINT);
        let bad = |reason: &str| Error::InvalidInput {
            field: "endpoint".to_owned(),
            value: raw.to_owned(),
            reason: reason.to_owned(),
        };
        let url = Url::parse(raw).map_err(|e| bad(&format!("not a URL: {e}")))?;
        if url.scheme() != "https" {
            return Err(bad(
                "the ARM endpoint must be https (a bearer token is never sent in clear)",
            ));
        }
        if url.host_str().is_none() || url.query().is_some() || !url.username().is_empty() {
            return Err(bad("give only scheme, host, port and path"));
        }
        Ok(url)
    }

    fn credential(&self) -> Result<Arc<dyn TokenCredential>> {
        if let Some(c) = &self.credential {
            return Ok(c.clone());
        }
        let source = self.source.ok_or_else(|| Error::InvalidInput {
            field: "credential".to_owned(),
            value: String::new(),
            reason: "no credential: give one with with_credential, or use from_env".to_owned(),
        })?;
        let failed = |e: azure_core::Error| Error::Provider {
            provider: crate::NAME.to_owned(),
            reason: format!("the {} credential cannot be made: {e}", source.as_str()),
            source: Some(Box::new(e)),
        };
        let missing = |field: &str, var: &str| Error::InvalidInput {
            field: field.to_owned(),
            value: String::new(),
            reason: format!("{var} is needed for the {} credential", source.as_str()),
        };
        Ok(match source {
            CredentialSource::Workload => {
                azure_identity::WorkloadIdentityCredential::new(None).map_err(failed)?
            }
            CredentialSource::ClientSecret => {
                let tenant = self
                    .tenant_id
                    .as_deref()
                    .ok_or_else(|| missing("tenant_id", "AZURE_TENANT_ID"))?;
                let client = self
                    .client_id
                    .clone()
                    .ok_or_else(|| missing("client_id", "AZURE_CLIENT_ID"))?;
                let secret = self
                    .client_secret
                    .clone()
                    .ok_or_else(|| missing("client_secret", "AZURE_CLIENT_SECRET"))?;
                azure_identity::ClientSecretCredential::new(tenant, client, secret, None)
                    .map_err(failed)?
            }
            CredentialSource::ManagedIdentity => {
                let options = self.client_id.clone().map(|id| {
                    azure_identity::ManagedIdentityCredentialOptions {
                        user_assigned_id: Some(azure_identity::UserAssignedId::ClientId(id)),
                        ..Default::default()
                    }
                });
                azure_identity::ManagedIdentityCredential::new(options).map_err(failed)?
            }
            CredentialSource::DeveloperTools => {
                azure_identity::DeveloperToolsCredential::new(None).map_err(failed)?
            }
        })
    }

    /// Checks the settings (nothing is sent before they are valid), then reads the server once.
    pub async fn build(self) -> Result<FlexibleServerProvider> {
        let id = self.server_id()?;
        let endpoint = self.endpoint()?;
        if self.poll.max_interval.is_zero() {
            return Err(Error::InvalidInput {
                field: "max_poll_interval".to_owned(),
                value: "0s".to_owned(),
                reason: "must be more than zero".to_owned(),
            });
        }
        let credential = self.credential()?;
        let client = RustlsHttpClient::new(
            &self.extra_roots,
            self.request_timeout.unwrap_or(Duration::from_secs(60)),
        )
        .map_err(|reason| Error::InvalidInput {
            field: "endpoint_roots".to_owned(),
            value: format!("{} certificate(s)", self.extra_roots.len()),
            reason,
        })?;
        let arm = Arm::new(
            endpoint,
            id,
            credential,
            Transport::new(Arc::new(client)),
            self.retry.unwrap_or_default(),
            self.poll,
        );
        let provider = FlexibleServerProvider {
            arm,
            ca_bundle: self.ca_bundle,
        };
        provider.arm.server().await?;
        Ok(provider)
    }
}

/// The Flexible Server provider: reads (and, when asked, changes) what only Azure Resource
/// Manager can see — `azure.extensions`, `require_secure_transport`,
/// `ssl_min_protocol_version`, high availability, backups, network access.
pub struct FlexibleServerProvider {
    arm: Arm,
    ca_bundle: Option<CaBundle>,
}

impl fmt::Debug for FlexibleServerProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The pipeline holds the credential; show only which server this is.
        f.debug_struct("FlexibleServerProvider")
            .field("server", &self.arm.id().resource_id())
            .field("ca_bundle", &self.ca_bundle)
            .finish_non_exhaustive()
    }
}

/// Flexible Server high availability (`properties.highAvailability.mode`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HighAvailabilityMode {
    /// No standby.
    Disabled,
    /// A standby in the same availability zone.
    SameZone,
    /// A standby in another availability zone.
    ZoneRedundant,
    /// A mode this crate does not know, as ARM gave it.
    Other(String),
}

impl HighAvailabilityMode {
    fn parse(s: Option<&str>) -> Self {
        match s {
            None => HighAvailabilityMode::Disabled,
            Some(m) if m.eq_ignore_ascii_case("Disabled") => HighAvailabilityMode::Disabled,
            Some(m) if m.eq_ignore_ascii_case("SameZone") => HighAvailabilityMode::SameZone,
            Some(m) if m.eq_ignore_ascii_case("ZoneRedundant") => {
                HighAvailabilityMode::ZoneRedundant
            }
            Some(m) => HighAvailabilityMode::Other(m.to_owned()),
        }
    }
}

/// Everything read about the server, for embedders ([`FlexibleServerProvider::describe`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlexibleServerDescription {
    /// Which server.
    pub id: FlexibleServerId,
    /// The Azure region.
    pub location: Option<String>,
    /// `Ready`, `Stopped`, `Updating`, ...
    pub state: Option<String>,
    /// The host name.
    pub fully_qualified_domain_name: Option<String>,
    /// The PostgreSQL major version (`16`).
    pub version: Option<String>,
    /// The minor version (`4`).
    pub minor_version: Option<String>,
    /// `azure.extensions` as configured, raw.
    pub extensions_value: Option<String>,
    /// `azure.extensions` split, entries as written.
    pub extensions: Vec<String>,
    /// Whether `VECTOR` (any case) is in `azure.extensions`.
    pub has_vector: bool,
    /// `require_secure_transport` (`None`: the parameter could not be found).
    pub require_secure_transport: Option<bool>,
    /// `ssl_min_protocol_version` (`TLSv1.2`).
    pub ssl_min_protocol_version: Option<String>,
    /// High availability mode.
    pub high_availability: HighAvailabilityMode,
    /// High availability state (`Healthy`, `NotEnabled`, ...).
    pub high_availability_state: Option<String>,
    /// Backup retention in days.
    pub backup_retention_days: Option<u32>,
    /// Geo-redundant backup (`None`: not reported).
    pub geo_redundant_backup: Option<bool>,
    /// Public network access (`None`: not reported).
    pub public_network_access: Option<bool>,
    /// The delegated subnet (VNet integration), when there is one.
    pub delegated_subnet: Option<String>,
    /// Microsoft Entra authentication (`None`: not reported).
    pub entra_authentication: Option<bool>,
    /// Password authentication (`None`: not reported).
    pub password_authentication: Option<bool>,
    /// Which of `azure.extensions`, `require_secure_transport`, `ssl_min_protocol_version`
    /// wait for a restart.
    pub pending_restart: Vec<String>,
}

fn enabled(v: Option<&str>) -> Option<bool> {
    v.map(|s| s.eq_ignore_ascii_case("Enabled"))
}

/// Splits a comma list (`azure.extensions`), keeping each entry as written.
pub(crate) fn split_list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(str::to_owned)
        .collect()
}

fn contains_ci(list: &[String], item: &str) -> bool {
    list.iter().any(|e| e.eq_ignore_ascii_case(item))
}

/// `'value'` for a POSIX shell.
fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

fn valid_parameter_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidInput {
            field: "parameter".to_owned(),
            value: name.to_owned(),
            reason: "not a server parameter name (letters, digits, _ and .)".to_owned(),
        })
    }
}

fn pending(c: &ConfigurationResource) -> bool {
    c.properties.is_config_pending_restart == Some(true)
}

impl FlexibleServerProvider {
    /// Starts a builder.
    pub fn builder() -> FlexibleServerProviderBuilder {
        FlexibleServerProviderBuilder::new()
    }

    /// A builder from the environment (see [`FlexibleServerProviderBuilder::from_env`]).
    pub fn from_env() -> FlexibleServerProviderBuilder {
        FlexibleServerProviderBuilder::from_env()
    }

    /// Which server this provider is for.
    pub fn server(&self) -> &FlexibleServerId {
        self.arm.id()
    }

    /// Reads the server and its TLS and extension parameters (read-only).
    pub async fn describe(&self) -> Result<FlexibleServerDescription> {
        let (server, ext, tls, min) = tokio::join!(
            self.arm.server(),
            self.arm.configuration(AZURE_EXTENSIONS),
            self.arm.configuration(REQUIRE_SECURE_TRANSPORT),
            self.arm.configuration(SSL_MIN_PROTOCOL_VERSION),
        );
        let (server, ext, tls, min) = (server?, ext?, tls?, min?);
        Ok(self.description(server, ext, tls, min))
    }

    fn description(
        &self,
        server: ServerResource,
        ext: Option<ConfigurationResource>,
        tls: Option<ConfigurationResource>,
        min: Option<ConfigurationResource>,
    ) -> FlexibleServerDescription {
        let p = server.properties;
        let extensions_value = ext.as_ref().and_then(|c| c.properties.value.clone());
        let extensions = extensions_value
            .as_deref()
            .map(split_list)
            .unwrap_or_default();
        let has_vector = contains_ci(&extensions, "vector");
        let mut pending_restart = Vec::new();
        for (name, c) in [
            (AZURE_EXTENSIONS, &ext),
            (REQUIRE_SECURE_TRANSPORT, &tls),
            (SSL_MIN_PROTOCOL_VERSION, &min),
        ] {
            if c.as_ref().is_some_and(pending) {
                pending_restart.push(name.to_owned());
            }
        }
        let ha = p.high_availability.unwrap_or_default();
        let backup = p.backup.unwrap_or_default();
        let network = p.network.unwrap_or_default();
        let auth = p.auth_config.unwrap_or_default();
        FlexibleServerDescription {
            id: self.arm.id().clone(),
            location: server.location,
            state: p.state,
            fully_qualified_domain_name: p.fully_qualified_domain_name,
            version: p.version,
            minor_version: p.minor_version,
            extensions_value,
            extensions,
            has_vector,
            require_secure_transport: tls
                .and_then(|c| c.properties.value)
                .map(|v| v.trim().eq_ignore_ascii_case("on")),
            ssl_min_protocol_version: min.and_then(|c| c.properties.value),
            high_availability: HighAvailabilityMode::parse(ha.mode.as_deref()),
            high_availability_state: ha.state,
            backup_retention_days: backup.backup_retention_days,
            geo_redundant_backup: enabled(backup.geo_redundant_backup.as_deref()),
            public_network_access: enabled(network.public_network_access.as_deref()),
            delegated_subnet: network.delegated_subnet_resource_id,
            entra_authentication: enabled(auth.active_directory_auth.as_deref()),
            password_authentication: enabled(auth.password_auth.as_deref()),
            pending_restart,
        }
    }

    /// Turns `require_secure_transport` on (only when asked). See
    /// [`Provider::set_parameter`].
    pub async fn enforce_tls(&self) -> Result<ParameterChange> {
        self.set_parameter(REQUIRE_SECURE_TRANSPORT, "on").await
    }

    /// `az postgres flexible-server <what>` for this server (`parameter` commands name the
    /// server with `--server-name`, server commands with `--name`).
    fn az(&self, what: &str, server_flag: &str) -> String {
        let id = self.arm.id();
        format!(
            "az postgres flexible-server {what} --subscription {} --resource-group {} \
             {server_flag} {}",
            id.subscription_id,
            shell_quote(&id.resource_group),
            id.server_name
        )
    }

    fn parameter_set(&self, name: &str, value: &str) -> String {
        format!(
            "{} --name {name} --value {}",
            self.az("parameter set", "--server-name"),
            shell_quote(value)
        )
    }

    async fn set(&self, name: &str, value: &str) -> Result<ParameterChange> {
        let current = self
            .arm
            .configuration(name)
            .await?
            .ok_or_else(|| Error::InvalidInput {
                field: "parameter".to_owned(),
                value: name.to_owned(),
                reason: format!(
                    "server {} has no parameter {name}",
                    self.arm.id().server_name
                ),
            })?;
        let props = &current.properties;
        let previous = props.value.clone();
        if previous.as_deref() == Some(value) {
            return Ok(ParameterChange {
                name: name.to_owned(),
                previous,
                value: value.to_owned(),
                applies: if pending(&current) {
                    Applies::AfterRestart
                } else {
                    Applies::Immediately
                },
            });
        }
        if props.is_read_only == Some(true) {
            return Err(Error::InvalidInput {
                field: "parameter".to_owned(),
                value: name.to_owned(),
                reason: format!("{name} is read-only on Flexible Server"),
            });
        }
        // Enumerations and booleans list their values; check before sending anything.
        let enumerated = props.data_type.as_deref().is_some_and(|t| {
            t.eq_ignore_ascii_case("Boolean") || t.eq_ignore_ascii_case("Enumeration")
        });
        if enumerated {
            if let Some(allowed) = props.allowed_values.as_deref() {
                let allowed = split_list(allowed);
                if !allowed.is_empty() && !contains_ci(&allowed, value) {
                    return Err(Error::InvalidInput {
                        field: "value".to_owned(),
                        value: value.to_owned(),
                        reason: format!("{name} accepts only {}", allowed.join(", ")),
                    });
                }
            }
        }
        self.arm.put_configuration(name, value).await?;
        let after = self
            .arm
            .configuration(name)
            .await?
            .ok_or_else(|| provider_error(format!("{name} disappeared after it was set")))?;
        let static_param = after.properties.is_dynamic_config == Some(false);
        Ok(ParameterChange {
            name: name.to_owned(),
            previous,
            value: after
                .properties
                .value
                .clone()
                .unwrap_or_else(|| value.to_owned()),
            applies: if pending(&after) || static_param {
                Applies::AfterRestart
            } else {
                Applies::Immediately
            },
        })
    }

    fn findings_from(&self, d: &FlexibleServerDescription) -> Vec<Finding> {
        let mut out = Vec::new();
        let tls_refs = [ISO_TLS, NIST_SC8, NOTES_AZURE];
        out.push(match d.require_secure_transport {
            Some(true) => Finding::new(ids::PROVIDER_TLS_ENFORCED, Status::Pass)
                .with_observed("require_secure_transport = on: connections without TLS are refused")
                .with_references(&tls_refs),
            Some(false) => Finding::new(ids::PROVIDER_TLS_ENFORCED, Status::Fail)
                .with_observed("require_secure_transport = off: the server accepts connections without TLS")
                .with_remediation("Turn the server parameter require_secure_transport on.")
                .with_fix(Fix::shell(self.parameter_set(REQUIRE_SECURE_TRANSPORT, "on")))
                .with_references(&tls_refs),
            None => Finding::new(ids::PROVIDER_TLS_ENFORCED, Status::Warn)
                .with_observed("require_secure_transport was not found among the server parameters")
                .with_remediation("Check the server parameters in the portal; require_secure_transport should be on.")
                .with_references(&tls_refs),
        });
        out.push(match d.ssl_min_protocol_version.as_deref() {
            Some(v) if matches!(v.trim(), "TLSv1.2" | "TLSv1.3") => {
                Finding::new(ids::PROVIDER_TLS_MIN_VERSION, Status::Pass)
                    .with_observed(format!("ssl_min_protocol_version = {v}"))
                    .with_references(&tls_refs)
            }
            Some(v) => Finding::new(ids::PROVIDER_TLS_MIN_VERSION, Status::Warn)
                .with_observed(format!("ssl_min_protocol_version = {v}: below TLSv1.2"))
                .with_remediation("Set ssl_min_protocol_version to TLSv1.2 or above.")
                .with_fix(Fix::shell(
                    self.parameter_set(SSL_MIN_PROTOCOL_VERSION, "TLSv1.2"),
                ))
                .with_references(&tls_refs),
            None => Finding::new(ids::PROVIDER_TLS_MIN_VERSION, Status::Skip)
                .with_observed("ssl_min_protocol_version was not found among the server parameters")
                .with_references(&tls_refs),
        });
        let listed = d.extensions_value.as_deref().unwrap_or("");
        out.push(if d.has_vector {
            Finding::new(ids::PROVIDER_EXTENSION_ALLOWED, Status::Pass)
                .with_observed(format!("azure.extensions = {listed:?} lists VECTOR"))
                .with_reference(NOTES_AZURE)
        } else {
            let mut kept = d.extensions.clone();
            kept.push("VECTOR".to_owned());
            Finding::new(ids::PROVIDER_EXTENSION_ALLOWED, Status::Fail)
                .with_observed(format!(
                    "azure.extensions = {listed:?} does not list VECTOR: CREATE EXTENSION vector \
                     will be refused"
                ))
                .with_remediation(
                    "Add VECTOR to azure.extensions, keeping the extensions already listed, \
                     before the first CREATE EXTENSION.",
                )
                .with_fix(Fix::shell(
                    self.parameter_set(AZURE_EXTENSIONS, &kept.join(",")),
                ))
                .with_reference(NOTES_AZURE)
        });
        out.push(match (d.public_network_access, &d.delegated_subnet) {
            (Some(true), _) => Finding::new(ids::PROVIDER_PUBLIC_NETWORK, Status::Warn)
                .with_observed("public network access is Enabled: the server is reachable from the internet (subject to firewall rules)")
                .with_remediation("The runbook asks for private networking: a private endpoint or VNet integration with a private DNS zone, then public network access Disabled.")
                .with_reference(NOTES_AZURE),
            (Some(false), subnet) => Finding::new(ids::PROVIDER_PUBLIC_NETWORK, Status::Pass)
                .with_observed(match subnet {
                    Some(_) => "public network access is Disabled (VNet integration)",
                    None => "public network access is Disabled (private endpoints only)",
                })
                .with_reference(NOTES_AZURE),
            (None, Some(_)) => Finding::new(ids::PROVIDER_PUBLIC_NETWORK, Status::Pass)
                .with_observed("the server is in a delegated subnet (VNet integration)")
                .with_reference(NOTES_AZURE),
            (None, None) => Finding::new(ids::PROVIDER_PUBLIC_NETWORK, Status::Skip)
                .with_observed("public network access is not reported")
                .with_reference(NOTES_AZURE),
        });
        out.push(if d.pending_restart.is_empty() {
            Finding::new(ids::PROVIDER_PENDING_RESTART, Status::Pass)
                .with_observed(format!(
                    "{AZURE_EXTENSIONS}, {REQUIRE_SECURE_TRANSPORT} and \
                     {SSL_MIN_PROTOCOL_VERSION} are in force (no restart pending)"
                ))
                .with_reference(NOTES_AZURE)
        } else {
            Finding::new(ids::PROVIDER_PENDING_RESTART, Status::Warn)
                .with_observed(format!(
                    "{} changed but wait(s) for a restart",
                    d.pending_restart.join(", ")
                ))
                .with_remediation(
                    "Restart the server in a maintenance window so the configured values apply.",
                )
                .with_fix(Fix::shell(self.az("restart", "--name")))
                .with_reference(NOTES_AZURE)
        });
        out.push(
            Finding::new(ids::PROVIDER_IAM_AUTHENTICATION, Status::Pass)
                .with_observed(match d.entra_authentication {
                    Some(true) => "Microsoft Entra authentication is enabled (password authentication still works for the chart)",
                    Some(false) => "Microsoft Entra authentication is disabled; the chart uses password authentication",
                    None => "Microsoft Entra authentication is not reported; the chart uses password authentication",
                })
                .with_reference(NOTES_AZURE),
        );
        out
    }
}

#[async_trait]
impl Provider for FlexibleServerProvider {
    fn kind(&self) -> ProviderKind {
        ProviderKind::AzureFlexibleServer
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            read_parameters: true,
            write_parameters: true,
            allow_extensions: true,
            ca_bundle: true,
            backup_posture: true,
            high_availability: true,
            findings: true,
        }
    }

    /// The configured value (`GET …/configurations/{name}`); `Ok(None)` for a parameter the
    /// server does not have.
    async fn parameter(&self, name: &str) -> Result<Option<ParameterValue>> {
        valid_parameter_name(name)?;
        Ok(self.arm.configuration(name).await?.map(|c| ParameterValue {
            name: name.to_owned(),
            pending_restart: pending(&c),
            value: c.properties.value.unwrap_or_default(),
        }))
    }

    /// Sets a server parameter (`PUT`, `source: user-override`) and follows the operation to
    /// its end; the same value again sends nothing. `AfterRestart` when Azure reports the
    /// change pending a restart (a static parameter). Never restarts the server.
    async fn set_parameter(&self, name: &str, value: &str) -> Result<ParameterChange> {
        valid_parameter_name(name)?;
        self.set(name, value).await
    }

    /// Adds the extension to `azure.extensions` (upper case, as Azure lists them), keeping
    /// every entry already there as written; nothing is sent when it is already listed (any
    /// case). Refused when `allowedValues` does not offer it.
    async fn allow_extension(&self, extension: &str) -> Result<ParameterChange> {
        let ext = extension.trim();
        if ext.is_empty()
            || ext.len() > 63
            || !ext
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(Error::InvalidInput {
                field: "extension".to_owned(),
                value: extension.to_owned(),
                reason: "not an extension name (letters, digits, _ and -)".to_owned(),
            });
        }
        let current = self
            .arm
            .configuration(AZURE_EXTENSIONS)
            .await?
            .ok_or_else(|| {
                provider_error(format!(
                    "server {} has no {AZURE_EXTENSIONS} parameter",
                    self.arm.id().server_name
                ))
            })?;
        let value = current.properties.value.clone().unwrap_or_default();
        let listed = split_list(&value);
        if contains_ci(&listed, ext) {
            return Ok(ParameterChange {
                name: AZURE_EXTENSIONS.to_owned(),
                previous: Some(value.clone()),
                value,
                applies: if pending(&current) {
                    Applies::AfterRestart
                } else {
                    Applies::Immediately
                },
            });
        }
        if let Some(allowed) = current.properties.allowed_values.as_deref() {
            let allowed = split_list(allowed);
            if !allowed.is_empty() && !contains_ci(&allowed, ext) {
                return Err(Error::InvalidInput {
                    field: "extension".to_owned(),
                    value: extension.to_owned(),
                    reason: format!(
                        "Azure does not offer {ext} on this server (not in the allowed values \
                         of {AZURE_EXTENSIONS})"
                    ),
                });
            }
        }
        let mut new = listed;
        new.push(ext.to_ascii_uppercase());
        self.set(AZURE_EXTENSIONS, &new.join(",")).await
    }

    /// The bundle given with [`with_ca_bundle`](FlexibleServerProviderBuilder::with_ca_bundle),
    /// else Azure's documented roots ([`azure_ca_bundle`](crate::azure_ca_bundle)).
    async fn ca_bundle(&self) -> Result<CaBundle> {
        match &self.ca_bundle {
            Some(b) => Ok(b.clone()),
            None => crate::azure_ca_bundle(),
        }
    }

    /// Flexible Server always takes automated backups with point-in-time recovery; the
    /// retention and geo-redundancy come from the server.
    async fn backup_posture(&self) -> Result<BackupPosture> {
        let server = self.arm.server().await?;
        let backup = server.properties.backup.unwrap_or_default();
        Ok(BackupPosture {
            automated: true,
            retention_days: backup.backup_retention_days,
            point_in_time_recovery: true,
            cross_region: enabled(backup.geo_redundant_backup.as_deref()),
        })
    }

    /// `Disabled` → single, `SameZone` → same zone, `ZoneRedundant` → multi-zone; failover is
    /// automatic whenever a standby exists.
    async fn high_availability(&self) -> Result<HighAvailability> {
        let server = self.arm.server().await?;
        let mode = HighAvailabilityMode::parse(
            server
                .properties
                .high_availability
                .as_ref()
                .and_then(|h| h.mode.as_deref()),
        );
        Ok(match mode {
            HighAvailabilityMode::Disabled => HighAvailability {
                redundancy: Redundancy::Single,
                automatic_failover: false,
            },
            HighAvailabilityMode::SameZone => HighAvailability {
                redundancy: Redundancy::SameZone,
                automatic_failover: true,
            },
            HighAvailabilityMode::ZoneRedundant => HighAvailability {
                redundancy: Redundancy::MultiZone,
                automatic_failover: true,
            },
            HighAvailabilityMode::Other(m) => {
                return Err(provider_error(format!(
                    "unknown high availability mode {m:?}"
                )))
            }
        })
    }

    /// `provider.tls_enforced`, `provider.tls_min_version`, `provider.extension_allowed`,
    /// `provider.public_network`, `provider.pending_restart`, `provider.iam_authentication`.
    /// Reads only.
    async fn findings(&self) -> Result<Vec<Finding>> {
        let d = self.describe().await?;
        Ok(self.findings_from(&d))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_and_quotes() {
        assert_eq!(split_list(" pg_trgm, ,PostGIS,"), ["pg_trgm", "PostGIS"]);
        assert!(contains_ci(&split_list("a,Vector"), "VECTOR"));
        assert_eq!(shell_quote("a'b"), "'a'\\''b'");
    }

    #[test]
    fn ha_modes() {
        assert_eq!(
            HighAvailabilityMode::parse(Some("ZoneRedundant")),
            HighAvailabilityMode::ZoneRedundant
        );
        assert_eq!(
            HighAvailabilityMode::parse(None),
            HighAvailabilityMode::Disabled
        );
        assert_eq!(
            HighAvailabilityMode::parse(Some("X")),
            HighAvailabilityMode::Other("X".into())
        );
    }
}

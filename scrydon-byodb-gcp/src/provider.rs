//! [`CloudSqlProvider`]: the [`Provider`] for Cloud SQL for PostgreSQL, over the Cloud SQL
//! Admin API v1.

use std::fmt;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use google_cloud_auth::credentials::Credentials;
use scrydon_byodb::provider::api::Method;
use scrydon_byodb::provider::{
    Applies, BackupPosture, Capabilities, HighAvailability, ParameterChange, ParameterValue,
    Provider, ProviderKind, Redundancy,
};
use scrydon_byodb::report::{ids, Finding, Fix, Status};
use scrydon_byodb::tls::{CaBundle, ServerNameCheck, TlsConnector};
use scrydon_byodb::{Error, Result};
use serde_json::json;

use crate::api::{self, ApiError, ApiErrorKind, Client, DatabaseFlag, DatabaseInstance};
use crate::InstanceConnectionName;

const NAME: &str = "gcp-cloud-sql";

/// The flag that turns on IAM database authentication (optional: the chart uses passwords).
pub const IAM_AUTHENTICATION_FLAG: &str = "cloudsql.iam_authentication";
/// The `sslMode` that refuses unencrypted connections without requiring client certificates.
pub const SSL_MODE_ENCRYPTED_ONLY: &str = "ENCRYPTED_ONLY";
/// The `sslMode` that also requires a trusted client certificate.
pub const SSL_MODE_TRUSTED_CLIENT_CERTIFICATE_REQUIRED: &str =
    "TRUSTED_CLIENT_CERTIFICATE_REQUIRED";
/// The `sslMode` that accepts plaintext (the default).
pub const SSL_MODE_ALLOW_UNENCRYPTED_AND_ENCRYPTED: &str = "ALLOW_UNENCRYPTED_AND_ENCRYPTED";
/// The name [`CloudSqlProvider::enforce_tls`] reports its change under.
pub const SSL_MODE_SETTING: &str = "settings.ipConfiguration.sslMode";

/// A server CA expiring within this many days is reported.
const CA_EXPIRY_WARNING_DAYS: i64 = 90;

const TLS_REFERENCES: &[&str] = &["ISO 27001:2022 A.8.24", "NIST SC-8"];

/// Where the credentials come from.
#[derive(Clone, Default)]
enum CredentialSource {
    #[default]
    Unset,
    ApplicationDefault,
    Given(Credentials),
}

/// Builds a [`CloudSqlProvider`].
///
/// `new()` reads nothing from the environment; [`from_env`](Self::from_env) uses application
/// default credentials (ADC). Setters never fail; [`build`](Self::build) checks the settings
/// and reads the instance once, so a wrong name or missing permission fails there.
///
/// ```no_run
/// use scrydon_byodb_gcp::CloudSqlProvider;
///
/// # async fn example() -> scrydon_byodb::Result<()> {
/// // Application default credentials: GOOGLE_APPLICATION_CREDENTIALS, gcloud's ADC file, or
/// // the metadata server.
/// let cloudsql = CloudSqlProvider::from_env()
///     .with_instance_connection_name("acme-prod:europe-west1:scrydon")
///     .build()
///     .await?;
/// println!("TLS enforced: {}", cloudsql.describe().await?.tls_enforced);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct CloudSqlProviderBuilder {
    connection_name: Option<String>,
    project: Option<String>,
    instance: Option<String>,
    credentials: CredentialSource,
    endpoint: Option<String>,
    request_timeout: Duration,
    poll_interval: Duration,
    operation_timeout: Duration,
    ca_bundle: Option<CaBundle>,
}

impl Default for CloudSqlProviderBuilder {
    fn default() -> Self {
        Self {
            connection_name: None,
            project: None,
            instance: None,
            credentials: CredentialSource::Unset,
            endpoint: None,
            request_timeout: Duration::from_secs(30),
            poll_interval: Duration::from_secs(2),
            operation_timeout: Duration::from_secs(600),
            ca_bundle: None,
        }
    }
}

impl fmt::Debug for CloudSqlProviderBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let credentials = match &self.credentials {
            CredentialSource::Unset => "<unset>",
            CredentialSource::ApplicationDefault => "<application default>",
            CredentialSource::Given(_) => "<set>",
        };
        f.debug_struct("CloudSqlProviderBuilder")
            .field("connection_name", &self.connection_name)
            .field("project", &self.project)
            .field("instance", &self.instance)
            .field("credentials", &credentials)
            .field("endpoint", &self.endpoint)
            .field("request_timeout", &self.request_timeout)
            .field("poll_interval", &self.poll_interval)
            .field("operation_timeout", &self.operation_timeout)
            .field("ca_bundle", &self.ca_bundle)
            .finish()
    }
}

impl CloudSqlProviderBuilder {
    /// An empty builder; reads nothing from the environment. Credentials must be given
    /// ([`with_credentials`](Self::with_credentials) or
    /// [`with_application_default_credentials`](Self::with_application_default_credentials)).
    pub fn new() -> Self {
        Self::default()
    }

    /// A builder using application default credentials, which `google-cloud-auth` looks for,
    /// in order, at `$GOOGLE_APPLICATION_CREDENTIALS`, in gcloud's ADC file
    /// (`~/.config/gcloud/application_default_credentials.json`, from
    /// `gcloud auth application-default login`), and at the metadata server (GCE, GKE,
    /// Cloud Run).
    pub fn from_env() -> Self {
        Self::new().with_application_default_credentials()
    }

    /// The instance by its connection name, `project:region:instance` (what `gcloud sql
    /// instances describe` shows as `connectionName`).
    pub fn with_instance_connection_name(mut self, name: impl Into<String>) -> Self {
        self.connection_name = Some(name.into());
        self
    }

    /// The project (with [`with_instance`](Self::with_instance), instead of a connection
    /// name).
    pub fn with_project(mut self, project: impl Into<String>) -> Self {
        self.project = Some(project.into());
        self
    }

    /// The instance name (with [`with_project`](Self::with_project)).
    pub fn with_instance(mut self, instance: impl Into<String>) -> Self {
        self.instance = Some(instance.into());
        self
    }

    /// These credentials (a service account key through
    /// `google_cloud_auth::credentials::service_account::Builder`, the metadata server through
    /// `mds::Builder`, ...).
    pub fn with_credentials(mut self, credentials: Credentials) -> Self {
        self.credentials = CredentialSource::Given(credentials);
        self
    }

    /// Application default credentials (see [`from_env`](Self::from_env)), made at
    /// [`build`](Self::build).
    pub fn with_application_default_credentials(mut self) -> Self {
        self.credentials = CredentialSource::ApplicationDefault;
        self
    }

    /// Another Admin API endpoint (default [`DEFAULT_ENDPOINT`](crate::DEFAULT_ENDPOINT); a
    /// private endpoint, or a loopback server in tests: plain `http://` is accepted for a
    /// loopback address only).
    pub fn with_endpoint(mut self, url: impl Into<String>) -> Self {
        self.endpoint = Some(url.into());
        self
    }

    /// How long one API request may take (default 30 s).
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// How often a long-running operation is polled (default 2 s).
    pub fn with_poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }

    /// How long a change may take to reach `DONE` (default 10 minutes).
    pub fn with_operation_timeout(mut self, timeout: Duration) -> Self {
        self.operation_timeout = timeout;
        self
    }

    /// A CA bundle to use instead of the server CAs the API publishes (`listServerCas`).
    pub fn with_ca_bundle(mut self, bundle: CaBundle) -> Self {
        self.ca_bundle = Some(bundle);
        self
    }

    fn target(&self) -> Result<(String, Option<String>, String)> {
        match (&self.connection_name, &self.project, &self.instance) {
            (Some(name), None, None) => {
                let n: InstanceConnectionName = name.parse()?;
                Ok((n.project, Some(n.region), n.instance))
            }
            (None, Some(project), Some(instance)) => {
                // Validated as parts of a connection name, with a placeholder region.
                let n: InstanceConnectionName =
                    format!("{project}:r:{instance}")
                        .parse()
                        .map_err(|_| Error::InvalidInput {
                            field: if valid_part(project, true) {
                                "instance".to_owned()
                            } else {
                                "project".to_owned()
                            },
                            value: if valid_part(project, true) {
                                instance.clone()
                            } else {
                                project.clone()
                            },
                            reason: "must be non-empty lower-case letters, digits, '-' or '.' \
                                 (a project may carry a 'domain:' prefix)"
                                .to_owned(),
                        })?;
                Ok((n.project, None, n.instance))
            }
            _ => Err(Error::InvalidInput {
                field: "instance".to_owned(),
                value: format!(
                    "connection name {:?}, project {:?}, instance {:?}",
                    self.connection_name, self.project, self.instance
                ),
                reason: "give either an instance connection name (project:region:instance) or \
                         a project and an instance"
                    .to_owned(),
            }),
        }
    }

    /// Checks the settings, makes the credentials (ADC) and reads the instance once: a wrong
    /// name, a region that does not match, or missing permissions fail here.
    pub async fn build(self) -> Result<CloudSqlProvider> {
        let (project, region, instance) = self.target()?;
        let endpoint = self
            .endpoint
            .clone()
            .unwrap_or_else(|| api::DEFAULT_ENDPOINT.to_owned());
        let credentials = match self.credentials {
            CredentialSource::Given(c) => c,
            CredentialSource::ApplicationDefault => {
                google_cloud_auth::credentials::Builder::default()
                    .build()
                    .map_err(|e| Error::Provider {
                        provider: NAME.to_owned(),
                        reason: format!("application default credentials: {e}"),
                        source: Some(Box::new(e)),
                    })?
            }
            CredentialSource::Unset => {
                return Err(Error::InvalidInput {
                    field: "credentials".to_owned(),
                    value: String::new(),
                    reason: "none given: use with_credentials or from_env (application default \
                             credentials)"
                        .to_owned(),
                })
            }
        };
        let client = Client::new(&endpoint, credentials, self.request_timeout).map_err(|r| {
            Error::InvalidInput {
                field: "endpoint".to_owned(),
                value: endpoint.clone(),
                reason: r,
            }
        })?;
        let mut provider = CloudSqlProvider {
            client,
            project,
            instance,
            region,
            poll_interval: self.poll_interval,
            operation_timeout: self.operation_timeout,
            ca_bundle: self.ca_bundle,
        };
        let found = provider.get_instance().await?;
        if let (Some(asked), Some(actual)) = (&provider.region, &found.region) {
            if asked != actual {
                return Err(Error::InvalidInput {
                    field: "instance connection name".to_owned(),
                    value: provider.connection_name(),
                    reason: format!("the instance is in region {actual}, not {asked}"),
                });
            }
        }
        provider.region = found.region.or(provider.region);
        Ok(provider)
    }
}

fn valid_part(s: &str, project: bool) -> bool {
    let ok = |v: &str| {
        !v.is_empty()
            && v.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
    };
    if project {
        let parts: Vec<&str> = s.split(':').collect();
        parts.len() <= 2 && parts.iter().all(|p| ok(p))
    } else {
        ok(s)
    }
}

/// The Cloud SQL for PostgreSQL provider: reads (and, when asked, changes) what only the Admin
/// API can see.
///
/// Capabilities: reading and writing database flags, the CA bundle (every server CA the API
/// publishes, both during a rotation), backup posture, high availability and findings. Not
/// allowing extensions: Cloud SQL has no extension allow-list (pgvector is available on
/// PostgreSQL 15+; `CREATE EXTENSION vector` as a `cloudsqlsuperuser` member).
#[derive(Clone)]
pub struct CloudSqlProvider {
    client: Client,
    project: String,
    instance: String,
    region: Option<String>,
    poll_interval: Duration,
    operation_timeout: Duration,
    ca_bundle: Option<CaBundle>,
}

impl fmt::Debug for CloudSqlProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CloudSqlProvider")
            .field("project", &self.project)
            .field("instance", &self.instance)
            .field("region", &self.region)
            .field("client", &self.client)
            .field("ca_bundle", &self.ca_bundle)
            .finish_non_exhaustive()
    }
}

/// The server CA mode (`settings.ipConfiguration.serverCaMode`): who signs the server
/// certificate, which decides how its name is checked.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ServerCaMode {
    /// `GOOGLE_MANAGED_INTERNAL_CA` (the default, also when unset): a CA per instance; the
    /// server certificate names `project:instance` in its CN and carries no SAN, so a host-name
    /// check cannot succeed and the CN is compared instead.
    GoogleManagedInternalCa,
    /// `GOOGLE_MANAGED_CAS_CA`: a shared CA hierarchy in Certificate Authority Service; the
    /// server certificate carries the instance's DNS name as a SAN (verify-full by that name).
    GoogleManagedCasCa,
    /// `CUSTOMER_MANAGED_CAS_CA`: the customer's own CAS pool; DNS SANs as above.
    CustomerManagedCasCa,
    /// A mode this crate does not know, as the API spells it.
    Other(String),
}

impl ServerCaMode {
    fn from_api(v: Option<&str>) -> Self {
        match v {
            None | Some("") | Some("CA_MODE_UNSPECIFIED") | Some("GOOGLE_MANAGED_INTERNAL_CA") => {
                Self::GoogleManagedInternalCa
            }
            Some("GOOGLE_MANAGED_CAS_CA") => Self::GoogleManagedCasCa,
            Some("CUSTOMER_MANAGED_CAS_CA") => Self::CustomerManagedCasCa,
            Some(other) => Self::Other(other.to_owned()),
        }
    }

    /// As the API spells it.
    pub fn as_str(&self) -> &str {
        match self {
            Self::GoogleManagedInternalCa => "GOOGLE_MANAGED_INTERNAL_CA",
            Self::GoogleManagedCasCa => "GOOGLE_MANAGED_CAS_CA",
            Self::CustomerManagedCasCa => "CUSTOMER_MANAGED_CAS_CA",
            Self::Other(s) => s,
        }
    }

    /// Server certificates carry DNS SANs (the CAS-based modes).
    pub fn has_dns_sans(&self) -> bool {
        matches!(self, Self::GoogleManagedCasCa | Self::CustomerManagedCasCa)
    }
}

/// Whether the instance's configuration refuses plaintext, and which field decided it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TlsDecidedBy {
    /// `sslMode` (set, and not `SSL_MODE_UNSPECIFIED`): it takes priority over `requireSsl`.
    SslMode,
    /// `requireSsl`, because `sslMode` is absent.
    RequireSsl,
    /// Neither is set: the default accepts plaintext.
    Default,
}

/// Decides whether TLS is enforced: `sslMode` first (`ENCRYPTED_ONLY` and
/// `TRUSTED_CLIENT_CERTIFICATE_REQUIRED` enforce it), `requireSsl` only when `sslMode` is
/// absent. `requireSsl = true` with `sslMode = ALLOW_UNENCRYPTED_AND_ENCRYPTED` is **not**
/// enforced: reading `requireSsl` there is the false positive Prowler's Cloud SQL check had.
///
/// ```
/// use scrydon_byodb_gcp::{tls_enforced, TlsDecidedBy};
///
/// assert_eq!(tls_enforced(Some("ENCRYPTED_ONLY"), Some(false)), (true, TlsDecidedBy::SslMode));
/// assert_eq!(
///     tls_enforced(Some("ALLOW_UNENCRYPTED_AND_ENCRYPTED"), Some(true)),
///     (false, TlsDecidedBy::SslMode)
/// );
/// assert_eq!(tls_enforced(None, Some(true)), (true, TlsDecidedBy::RequireSsl));
/// ```
pub fn tls_enforced(ssl_mode: Option<&str>, require_ssl: Option<bool>) -> (bool, TlsDecidedBy) {
    match ssl_mode.filter(|m| !m.is_empty() && *m != "SSL_MODE_UNSPECIFIED") {
        Some(m) => (
            m == SSL_MODE_ENCRYPTED_ONLY || m == SSL_MODE_TRUSTED_CLIENT_CERTIFICATE_REQUIRED,
            TlsDecidedBy::SslMode,
        ),
        None => match require_ssl {
            Some(r) => (r, TlsDecidedBy::RequireSsl),
            None => (false, TlsDecidedBy::Default),
        },
    }
}

/// What the Admin API says about the instance (`instances.get`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloudSqlDescription {
    /// The project.
    pub project: String,
    /// The instance name.
    pub instance: String,
    /// The region.
    pub region: Option<String>,
    /// `project:region:instance`.
    pub connection_name: Option<String>,
    /// `POSTGRES_16`.
    pub database_version: Option<String>,
    /// `RUNNABLE`, `SUSPENDED`, `MAINTENANCE`, ...
    pub state: Option<String>,
    /// `settings.ipConfiguration.sslMode`, as given.
    pub ssl_mode: Option<String>,
    /// `settings.ipConfiguration.requireSsl` (legacy), as given.
    pub require_ssl: Option<bool>,
    /// Plaintext is refused (see [`tls_enforced`]).
    pub tls_enforced: bool,
    /// Which field decided [`tls_enforced`](Self::tls_enforced).
    pub tls_decided_by: TlsDecidedBy,
    /// Who signs the server certificate.
    pub server_ca_mode: ServerCaMode,
    /// `ipv4Enabled`: the instance has a public IP.
    pub ipv4_enabled: bool,
    /// The VPC the private IP is in (`projects/p/global/networks/n`).
    pub private_network: Option<String>,
    /// Addresses of type `PRIMARY` (public).
    pub public_ip_addresses: Vec<String>,
    /// Addresses of type `PRIVATE`.
    pub private_ip_addresses: Vec<String>,
    /// How many authorized networks may reach the public IP.
    pub authorized_networks: usize,
    /// The database flags, in the API's order.
    pub database_flags: Vec<DatabaseFlag>,
    /// Automated backups are on.
    pub backups_enabled: bool,
    /// Point-in-time recovery (WAL archiving) is on.
    pub point_in_time_recovery: bool,
    /// Days of transaction logs kept for PITR.
    pub transaction_log_retention_days: Option<u32>,
    /// `backupRetentionSettings.retainedBackups`.
    pub retained_backups: Option<u32>,
    /// `backupRetentionSettings.retentionUnit` (`COUNT`).
    pub retention_unit: Option<String>,
    /// `backupConfiguration.location`: where backups are stored (a multi-region when unset).
    pub backup_location: Option<String>,
    /// `ZONAL` or `REGIONAL` (a standby in another zone, automatic failover).
    pub availability_type: Option<String>,
    /// `settings.settingsVersion`, sent back with a change so a concurrent one is detected.
    pub settings_version: Option<i64>,
    /// The instance's DNS name, when it has one (CAS-based server CA modes).
    pub dns_name: Option<String>,
}

impl CloudSqlDescription {
    fn from_api(project: &str, instance: &str, i: DatabaseInstance) -> Self {
        let ip = &i.settings.ip_configuration;
        let (enforced, decided_by) = tls_enforced(ip.ssl_mode.as_deref(), ip.require_ssl);
        let addresses = |kind: &str| -> Vec<String> {
            i.ip_addresses
                .iter()
                .filter(|a| a.kind.as_deref() == Some(kind))
                .filter_map(|a| a.ip_address.clone())
                .collect()
        };
        let b = &i.settings.backup_configuration;
        let days = |n: Option<i64>| n.and_then(|n| u32::try_from(n).ok());
        Self {
            project: project.to_owned(),
            instance: instance.to_owned(),
            region: i.region.clone(),
            connection_name: i.connection_name.clone(),
            database_version: i.database_version.clone(),
            state: i.state.clone(),
            ssl_mode: ip.ssl_mode.clone(),
            require_ssl: ip.require_ssl,
            tls_enforced: enforced,
            tls_decided_by: decided_by,
            server_ca_mode: ServerCaMode::from_api(ip.server_ca_mode.as_deref()),
            ipv4_enabled: ip.ipv4_enabled.unwrap_or(false),
            private_network: ip.private_network.clone().filter(|n| !n.is_empty()),
            public_ip_addresses: addresses("PRIMARY"),
            private_ip_addresses: addresses("PRIVATE"),
            authorized_networks: ip.authorized_networks.len(),
            database_flags: i.settings.database_flags.clone(),
            backups_enabled: b.enabled.unwrap_or(false),
            point_in_time_recovery: b.point_in_time_recovery_enabled.unwrap_or(false),
            transaction_log_retention_days: days(b.transaction_log_retention_days),
            retained_backups: days(
                b.backup_retention_settings
                    .as_ref()
                    .and_then(|r| r.retained_backups),
            ),
            retention_unit: b
                .backup_retention_settings
                .as_ref()
                .and_then(|r| r.retention_unit.clone()),
            backup_location: b.location.clone().filter(|l| !l.is_empty()),
            availability_type: i.settings.availability_type.clone(),
            settings_version: i.settings.settings_version,
            dns_name: i.dns_name.clone().filter(|d| !d.is_empty()),
        }
    }

    /// A flag's value, when set.
    pub fn flag(&self, name: &str) -> Option<&str> {
        self.database_flags
            .iter()
            .find(|f| f.name == name)
            .map(|f| f.value.as_str())
    }

    /// The instance is reachable on a public IP.
    pub fn public(&self) -> bool {
        self.ipv4_enabled || !self.public_ip_addresses.is_empty()
    }
}

/// One server CA the API publishes (`listServerCas`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerCa {
    /// The CA's common name.
    pub common_name: Option<String>,
    /// Its SHA-1 fingerprint, as the API gives it.
    pub sha1_fingerprint: Option<String>,
    /// When it expires, seconds since the Unix epoch (from the certificate itself).
    pub not_after_unix: Option<i64>,
    /// When it expires, RFC 3339 (from the certificate itself, else the API's
    /// `expirationTime`).
    pub not_after: Option<String>,
    /// The certificate, PEM.
    pub pem: String,
    /// It is the CA currently signing the server certificate (`activeVersion`).
    pub active: bool,
}

/// How to verify a Cloud SQL server's certificate, from the Admin API: the CA bundle and the
/// name check the server CA mode calls for. Make the connector with
/// [`connector`](Self::connector).
#[derive(Debug, Clone)]
pub struct CloudSqlTls {
    /// Every server CA the API publishes (both during a rotation), or the builder's override.
    pub bundle: CaBundle,
    /// Who signs the server certificate.
    pub server_ca_mode: ServerCaMode,
    /// How the certificate's name is checked:
    /// [`ServerNameCheck::CommonNameEquals`]`("project:instance")` for per-instance CAs (their
    /// certificates carry no SAN, so a host-name check cannot succeed),
    /// [`ServerNameCheck::Hostname`] (libpq's verify-full) for the CAS-based modes.
    pub name_check: ServerNameCheck,
    /// The instance's DNS name (CAS-based modes): the host to put in the DSN so verify-full by
    /// host name succeeds.
    pub dns_name: Option<String>,
}

impl CloudSqlTls {
    /// A `verify-full` TLS connector with this bundle and name check, for
    /// [`scrydon_byodb::connect::ConnectOptions::with_tls_connector`].
    pub fn connector(&self) -> Result<TlsConnector> {
        TlsConnector::builder()
            .with_ssl_mode(scrydon_byodb::dsn::SslMode::VerifyFull)
            .with_ca_bundle(self.bundle.clone())
            .with_server_name_check(self.name_check.clone())
            .build()
    }
}

fn api_error(operation: &str, e: ApiError) -> Error {
    let reason = format!("{operation} failed: {e}");
    Error::Provider {
        provider: NAME.to_owned(),
        reason,
        source: Some(Box::new(e)),
    }
}

fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// A flag name as Cloud SQL spells them: lower-case letters, digits, `_` and `.`.
fn valid_flag_name(name: &str) -> bool {
    name.len() <= 128
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '.')
}

impl CloudSqlProvider {
    /// A builder (no environment read).
    pub fn builder() -> CloudSqlProviderBuilder {
        CloudSqlProviderBuilder::new()
    }

    /// A builder with application default credentials (see
    /// [`CloudSqlProviderBuilder::from_env`]).
    pub fn from_env() -> CloudSqlProviderBuilder {
        CloudSqlProviderBuilder::from_env()
    }

    /// The project.
    pub fn project(&self) -> &str {
        &self.project
    }

    /// The instance name.
    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// The region (from the API when it was not in the connection name).
    pub fn region(&self) -> Option<&str> {
        self.region.as_deref()
    }

    /// `project:region:instance` (`project:?:instance` if the region is unknown).
    pub fn connection_name(&self) -> String {
        format!(
            "{}:{}:{}",
            self.project,
            self.region.as_deref().unwrap_or("?"),
            self.instance
        )
    }

    /// The CN Cloud SQL puts in per-instance server certificates: `project:instance`.
    pub fn certificate_common_name(&self) -> String {
        format!("{}:{}", self.project, self.instance)
    }

    fn instance_path(&self) -> String {
        format!("/v1/projects/{}/instances/{}", self.project, self.instance)
    }

    async fn get_instance(&self) -> Result<DatabaseInstance> {
        let path = self.instance_path();
        self.client
            .call(Method::GET, &path, None)
            .await
            .map_err(|e| {
                let hint = if e.kind == ApiErrorKind::NotFound {
                    " (no such instance in this project, or no access to it)"
                } else {
                    ""
                };
                let mut err = api_error(
                    &format!("instances.get {}", self.certificate_common_name()),
                    e,
                );
                if let Error::Provider { reason, .. } = &mut err {
                    reason.push_str(hint);
                }
                err
            })
    }

    /// Reads the instance (`instances.get`; read-only).
    pub async fn describe(&self) -> Result<CloudSqlDescription> {
        let i = self.get_instance().await?;
        Ok(CloudSqlDescription::from_api(
            &self.project,
            &self.instance,
            i,
        ))
    }

    /// Every server CA the API publishes (`listServerCas`): during a rotation the current and
    /// the upcoming one (clients must trust both).
    pub async fn server_cas(&self) -> Result<Vec<ServerCa>> {
        let path = format!("{}/listServerCas", self.instance_path());
        let list: api::ServerCasList = self
            .client
            .call(Method::GET, &path, None)
            .await
            .map_err(|e| api_error("instances.listServerCas", e))?;
        let mut out = Vec::new();
        for c in list.certs {
            let Some(pem) = c.cert.clone().filter(|p| !p.trim().is_empty()) else {
                continue;
            };
            let summary = CaBundle::from_pem(&pem)
                .ok()
                .and_then(|b| b.certificates().into_iter().next());
            let active = match (&list.active_version, &c.sha1_fingerprint) {
                (Some(a), Some(f)) => a == f,
                _ => false,
            };
            out.push(ServerCa {
                common_name: c.common_name.clone(),
                sha1_fingerprint: c.sha1_fingerprint.clone(),
                not_after_unix: summary.as_ref().map(|s| s.not_after_unix),
                not_after: summary
                    .map(|s| s.not_after)
                    .or_else(|| c.expiration_time.clone()),
                pem,
                active,
            });
        }
        Ok(out)
    }

    /// How to verify the server's certificate (`listServerCas` and `connectSettings`):
    /// the bundle of every server CA and, for the per-instance CA mode, the instance-name
    /// check `CommonNameEquals("project:instance")`; for the CAS modes, verify-full by host
    /// name (connect to [`CloudSqlTls::dns_name`]).
    pub async fn tls(&self) -> Result<CloudSqlTls> {
        let path = format!("{}/connectSettings", self.instance_path());
        let settings: api::ConnectSettings = self
            .client
            .call(Method::GET, &path, None)
            .await
            .map_err(|e| api_error("connect.get (connectSettings)", e))?;
        let mode = ServerCaMode::from_api(settings.server_ca_mode.as_deref());
        let bundle = self.ca_bundle().await?;
        let name_check = if mode.has_dns_sans() {
            ServerNameCheck::Hostname
        } else {
            ServerNameCheck::CommonNameEquals(self.certificate_common_name())
        };
        Ok(CloudSqlTls {
            bundle,
            server_ca_mode: mode,
            name_check,
            dns_name: settings.dns_name.filter(|d| !d.is_empty()),
        })
    }

    /// [`tls`](Self::tls)`().connector()`: the `verify-full` connector for this instance.
    pub async fn tls_connector(&self) -> Result<TlsConnector> {
        self.tls().await?.connector()
    }

    /// Sets `sslMode = ENCRYPTED_ONLY` (only when asked), with `requireSsl = false` as the API
    /// requires for that mode, and follows the operation to `DONE`. A no-op when TLS is
    /// already enforced (`ENCRYPTED_ONLY`, `TRUSTED_CLIENT_CERTIFICATE_REQUIRED`, or the legacy
    /// `requireSsl = true` without `sslMode`, which also requires client certificates). Applies
    /// to new connections at once on PostgreSQL (no restart); existing plaintext sessions stay
    /// until they end.
    pub async fn enforce_tls(&self) -> Result<ParameterChange> {
        let d = self.describe().await?;
        let previous = d.ssl_mode.clone().or_else(|| {
            d.require_ssl
                .map(|r| format!("requireSsl={r}"))
                .filter(|_| d.tls_decided_by == TlsDecidedBy::RequireSsl)
        });
        // Already enforced: by sslMode, or by the legacy requireSsl = true (which also requires
        // client certificates: moving it to ENCRYPTED_ONLY would weaken it).
        if d.tls_enforced {
            return Ok(ParameterChange {
                name: SSL_MODE_SETTING.to_owned(),
                value: previous.clone().unwrap_or_default(),
                previous,
                applies: Applies::Immediately,
            });
        }
        let mut settings = json!({
            "ipConfiguration": {
                "sslMode": SSL_MODE_ENCRYPTED_ONLY,
                "requireSsl": false,
            }
        });
        if let Some(v) = d.settings_version {
            settings["settingsVersion"] = json!(v.to_string());
        }
        self.patch(json!({ "settings": settings })).await?;
        Ok(ParameterChange {
            name: SSL_MODE_SETTING.to_owned(),
            previous,
            value: SSL_MODE_ENCRYPTED_ONLY.to_owned(),
            applies: Applies::Immediately,
        })
    }

    /// `instances.patch` with `body`, then polls the operation until `DONE`.
    async fn patch(&self, body: serde_json::Value) -> Result<()> {
        let path = self.instance_path();
        let op: api::Operation = self
            .client
            .call(Method::PATCH, &path, Some(body))
            .await
            .map_err(|e| api_error("instances.patch", e))?;
        self.wait(op).await
    }

    async fn wait(&self, mut op: api::Operation) -> Result<()> {
        let deadline = Instant::now() + self.operation_timeout;
        let name = op.name.clone().unwrap_or_default();
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(api_error(
                "instances.patch",
                ApiError::local(
                    ApiErrorKind::Decode,
                    format!("the operation has no usable name ({name:?})"),
                ),
            ));
        }
        loop {
            match op.status.as_deref() {
                Some("DONE") => {
                    if let Some(first) = op.error.as_ref().and_then(|e| e.errors.first()) {
                        let e = ApiError {
                            kind: ApiErrorKind::OperationFailed,
                            status: None,
                            code: first.code.clone(),
                            message: first.message.clone().unwrap_or_default(),
                        };
                        return Err(api_error(&format!("operation {name}"), e));
                    }
                    return Ok(());
                }
                _ if Instant::now() >= deadline => {
                    return Err(api_error(
                        &format!("operation {name}"),
                        ApiError::local(
                            ApiErrorKind::Timeout,
                            format!(
                                "not DONE after {:?} (last status {:?}); it may still finish: \
                                 gcloud sql operations describe {name} --project={}",
                                self.operation_timeout, op.status, self.project
                            ),
                        ),
                    ))
                }
                _ => {}
            }
            tokio::time::sleep(self.poll_interval).await;
            let path = format!("/v1/projects/{}/operations/{name}", self.project);
            op = self
                .client
                .call(Method::GET, &path, None)
                .await
                .map_err(|e| api_error(&format!("operations.get {name}"), e))?;
        }
    }

    async fn flag_definition(&self, version: &str, name: &str) -> Result<Option<api::Flag>> {
        let path = format!("/v1/flags?databaseVersion={version}");
        let list: api::FlagsList = self
            .client
            .call(Method::GET, &path, None)
            .await
            .map_err(|e| api_error("flags.list", e))?;
        Ok(list.items.into_iter().find(|f| f.name == name))
    }

    fn gcloud_patch(&self, args: &str) -> String {
        format!(
            "gcloud sql instances patch {} --project={} {args}",
            self.instance, self.project
        )
    }

    fn tls_finding(&self, d: &CloudSqlDescription) -> Finding {
        let seen = format!(
            "sslMode {}, requireSsl {} (decided by {})",
            d.ssl_mode.as_deref().unwrap_or("unset"),
            d.require_ssl
                .map(|r| r.to_string())
                .unwrap_or_else(|| "unset".to_owned()),
            match d.tls_decided_by {
                TlsDecidedBy::SslMode => "sslMode",
                TlsDecidedBy::RequireSsl => "requireSsl, sslMode being unset",
                TlsDecidedBy::Default => "the default",
            }
        );
        if d.tls_enforced {
            Finding::new(ids::PROVIDER_TLS_ENFORCED, Status::Pass)
                .with_observed(format!("plaintext connections are refused: {seen}"))
                .with_references(TLS_REFERENCES)
        } else {
            Finding::new(ids::PROVIDER_TLS_ENFORCED, Status::Fail)
                .with_observed(format!("plaintext connections are accepted: {seen}"))
                .with_remediation(
                    "Set sslMode to ENCRYPTED_ONLY (requireSsl alone does not decide when sslMode \
                     is set); it applies to new connections without a restart.",
                )
                .with_references(TLS_REFERENCES)
                .with_fix(Fix::shell(
                    self.gcloud_patch(&format!("--ssl-mode={SSL_MODE_ENCRYPTED_ONLY}")),
                ))
        }
    }

    fn public_network_finding(&self, d: &CloudSqlDescription) -> Finding {
        if d.public() {
            let ips = if d.public_ip_addresses.is_empty() {
                "none assigned yet".to_owned()
            } else {
                d.public_ip_addresses.join(", ")
            };
            Finding::new(ids::PROVIDER_PUBLIC_NETWORK, Status::Warn)
                .with_observed(format!(
                    "public IP enabled (ipv4Enabled {}, public addresses: {ips}; {} authorized \
                     network(s)); private network: {}",
                    d.ipv4_enabled,
                    d.authorized_networks,
                    d.private_network.as_deref().unwrap_or("none")
                ))
                .with_remediation(
                    "The runbook asks for private IP (the cluster in the instance's VPC) or the \
                     Cloud SQL Auth Proxy: give the instance a private IP, move clients to it, \
                     then remove the public IP.",
                )
                .with_fix(Fix::shell(self.gcloud_patch("--no-assign-ip")))
        } else {
            Finding::new(ids::PROVIDER_PUBLIC_NETWORK, Status::Pass).with_observed(format!(
                "no public IP; private network {} ({})",
                d.private_network.as_deref().unwrap_or("unknown"),
                if d.private_ip_addresses.is_empty() {
                    "no private address listed".to_owned()
                } else {
                    d.private_ip_addresses.join(", ")
                }
            ))
        }
    }

    fn iam_finding(d: &CloudSqlDescription) -> Finding {
        let value = d.flag(IAM_AUTHENTICATION_FLAG);
        Finding::new(ids::PROVIDER_IAM_AUTHENTICATION, Status::Pass).with_observed(format!(
            "{IAM_AUTHENTICATION_FLAG} is {}: {}",
            value.unwrap_or("unset (off)"),
            if value == Some("on") {
                "IAM database users can log in; the chart's password authentication works too"
            } else {
                "password authentication only, which is what the chart uses"
            }
        ))
    }

    fn server_ca_finding(&self, d: &CloudSqlDescription, cas: &[ServerCa]) -> Finding {
        let now = now_unix();
        let soon = now + CA_EXPIRY_WARNING_DAYS * 86_400;
        let listed: Vec<String> = cas
            .iter()
            .map(|c| {
                format!(
                    "{} (expires {}{})",
                    c.common_name.as_deref().unwrap_or("unnamed CA"),
                    c.not_after.as_deref().unwrap_or("unknown"),
                    if c.active { ", active" } else { "" }
                )
            })
            .collect();
        let expiring: Vec<&ServerCa> = cas
            .iter()
            .filter(|c| c.not_after_unix.is_some_and(|t| t < soon))
            .collect();
        let rotating = cas.len() > 1 && !d.server_ca_mode.has_dns_sans();
        let observed = format!(
            "{} server CA(s), mode {}: {}",
            cas.len(),
            d.server_ca_mode.as_str(),
            listed.join("; ")
        );
        let id = ids::PROVIDER_SERVER_CA;
        if cas.is_empty() {
            Finding::new(id, Status::Warn)
                .with_observed("the API lists no server CA")
                .with_remediation(
                    "Without the server CA, clients cannot verify the server: check the \
                     instance's SSL configuration.",
                )
        } else if !expiring.is_empty() {
            Finding::new(id, Status::Warn)
                .with_observed(observed)
                .with_remediation(format!(
                    "A server CA expires within {CA_EXPIRY_WARNING_DAYS} days: add the upcoming \
                     CA, give clients the bundle with both CAs, then rotate."
                ))
                .with_fix(Fix::shell(format!(
                    "gcloud sql ssl server-ca-certs create --instance={i} --project={p} && \
                     gcloud sql ssl server-ca-certs rotate --instance={i} --project={p}",
                    i = self.instance,
                    p = self.project
                )))
        } else if rotating {
            Finding::new(id, Status::Warn)
                .with_observed(format!("{observed} (a rotation is under way)"))
                .with_remediation(
                    "Several server CAs are published: clients must trust all of them (use the \
                     provider's CA bundle) until the rotation is finished.",
                )
        } else {
            Finding::new(id, Status::Pass).with_observed(observed)
        }
    }

    fn logging_finding(&self, d: &CloudSqlDescription) -> Finding {
        let want = ["log_connections", "log_disconnections"];
        let off: Vec<&str> = want
            .iter()
            .copied()
            .filter(|f| d.flag(f) != Some("on"))
            .collect();
        let seen = want
            .iter()
            .map(|f| format!("{f}={}", d.flag(f).unwrap_or("unset")))
            .collect::<Vec<_>>()
            .join(", ");
        if off.is_empty() {
            return Finding::new(ids::PROVIDER_LOGGING, Status::Pass)
                .with_observed(format!("connections are logged: {seen}"));
        }
        // `--database-flags` replaces every flag: the fix keeps the others.
        let mut flags: Vec<String> = d
            .database_flags
            .iter()
            .filter(|f| !want.contains(&f.name.as_str()))
            .map(|f| format!("{}={}", f.name, f.value))
            .collect();
        flags.extend(want.iter().map(|f| format!("{f}=on")));
        Finding::new(ids::PROVIDER_LOGGING, Status::Warn)
            .with_observed(format!("connections are not all logged: {seen}"))
            .with_remediation(
                "Turn on log_connections and log_disconnections (audit trail of who connected); \
                 the flag list is replaced whole, so the command keeps the other flags.",
            )
            .with_fix(Fix::shell(
                self.gcloud_patch(&format!("--database-flags={}", flags.join(","))),
            ))
    }
}

#[async_trait]
impl Provider for CloudSqlProvider {
    fn kind(&self) -> ProviderKind {
        ProviderKind::GcpCloudSql
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            read_parameters: true,
            write_parameters: true,
            allow_extensions: false,
            ca_bundle: true,
            backup_posture: true,
            high_availability: true,
            findings: true,
        }
    }

    /// The database flag as configured; `Ok(None)` when the instance does not set it (the
    /// default applies: `SHOW` tells the value). Cloud SQL applies flags itself (restarting
    /// when one needs it), so nothing is ever pending.
    async fn parameter(&self, name: &str) -> Result<Option<ParameterValue>> {
        let d = self.describe().await?;
        Ok(d.flag(name).map(|v| ParameterValue {
            name: name.to_owned(),
            value: v.to_owned(),
            pending_restart: false,
        }))
    }

    /// Sets a database flag, keeping every other flag (a patch replaces the whole list), and
    /// follows the operation to `DONE`. The flag is checked against `flags.list` for the
    /// instance's version first; a flag that needs a restart is refused, since Cloud SQL would
    /// restart the instance itself. Setting the current value sends nothing.
    async fn set_parameter(&self, name: &str, value: &str) -> Result<ParameterChange> {
        if !valid_flag_name(name) {
            return Err(Error::InvalidInput {
                field: "parameter".to_owned(),
                value: name.to_owned(),
                reason: "not a Cloud SQL flag name (lower-case letters, digits, '_' and '.')"
                    .to_owned(),
            });
        }
        if value.is_empty() || value.len() > 4096 || value.chars().any(char::is_control) {
            return Err(Error::InvalidInput {
                field: "value".to_owned(),
                value: value.chars().take(64).collect(),
                reason: "a flag value must be 1 to 4096 characters without control characters"
                    .to_owned(),
            });
        }
        let d = self.describe().await?;
        let previous = d.flag(name).map(str::to_owned);
        if previous.as_deref() == Some(value) {
            return Ok(ParameterChange {
                name: name.to_owned(),
                previous,
                value: value.to_owned(),
                applies: Applies::Immediately,
            });
        }
        let version = d.database_version.clone().unwrap_or_default();
        if !version
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
            || version.is_empty()
        {
            return Err(api_error(
                "instances.get",
                ApiError::local(
                    ApiErrorKind::Decode,
                    format!("unexpected databaseVersion {version:?}"),
                ),
            ));
        }
        let Some(def) = self.flag_definition(&version, name).await? else {
            return Err(Error::InvalidInput {
                field: "parameter".to_owned(),
                value: name.to_owned(),
                reason: format!("not a Cloud SQL flag for {version} (gcloud sql flags list)"),
            });
        };
        let refuse = |reason: String| Error::InvalidInput {
            field: "value".to_owned(),
            value: value.to_owned(),
            reason,
        };
        match def.kind.as_deref() {
            Some("BOOLEAN") if value != "on" && value != "off" => {
                return Err(refuse(format!("{name} takes on or off")))
            }
            Some("INTEGER") => {
                let n: i64 = value
                    .parse()
                    .map_err(|_| refuse(format!("{name} takes an integer")))?;
                if def.min_value.is_some_and(|m| n < m) || def.max_value.is_some_and(|m| n > m) {
                    return Err(refuse(format!(
                        "{name} takes {} to {}",
                        def.min_value.map(|m| m.to_string()).unwrap_or_default(),
                        def.max_value.map(|m| m.to_string()).unwrap_or_default()
                    )));
                }
            }
            _ => {}
        }
        if !def.allowed_string_values.is_empty()
            && !def.allowed_string_values.iter().any(|v| v == value)
        {
            return Err(refuse(format!(
                "{name} takes one of {}",
                def.allowed_string_values.join(", ")
            )));
        }
        if def.requires_restart == Some(true) {
            return Err(Error::InvalidInput {
                field: "parameter".to_owned(),
                value: name.to_owned(),
                reason: format!(
                    "changing {name} restarts the instance, which this provider never does: set \
                     it in a maintenance window ({})",
                    self.gcloud_patch("--database-flags=...")
                ),
            });
        }
        let mut flags: Vec<DatabaseFlag> = d.database_flags.clone();
        match flags.iter_mut().find(|f| f.name == name) {
            Some(f) => f.value = value.to_owned(),
            None => flags.push(DatabaseFlag {
                name: name.to_owned(),
                value: value.to_owned(),
            }),
        }
        let mut settings = json!({ "databaseFlags": flags });
        if let Some(v) = d.settings_version {
            settings["settingsVersion"] = json!(v.to_string());
        }
        self.patch(json!({ "settings": settings })).await?;
        Ok(ParameterChange {
            name: name.to_owned(),
            previous,
            value: value.to_owned(),
            applies: Applies::Immediately,
        })
    }

    /// Every server CA from `listServerCas` (both during a rotation), or the builder's bundle.
    async fn ca_bundle(&self) -> Result<CaBundle> {
        if let Some(b) = &self.ca_bundle {
            return Ok(b.clone());
        }
        let cas = self.server_cas().await?;
        if cas.is_empty() {
            return Err(api_error(
                "instances.listServerCas",
                ApiError::local(ApiErrorKind::Decode, "no server CA listed"),
            ));
        }
        let pem: String = cas.iter().map(|c| format!("{}\n", c.pem.trim())).collect();
        CaBundle::from_pem(pem)
    }

    /// `backupConfiguration`: retention in days is `retainedBackups` when the unit is `COUNT`,
    /// automated backups being daily (on-demand backups are not counted); unknown for another
    /// unit. Cross-region is unknown (`location` names where backups go, not a copy).
    async fn backup_posture(&self) -> Result<BackupPosture> {
        let d = self.describe().await?;
        let automated = d.backups_enabled;
        let retention_days =
            if automated && d.retention_unit.as_deref().unwrap_or("COUNT") == "COUNT" {
                d.retained_backups.filter(|n| *n > 0)
            } else {
                None
            };
        Ok(BackupPosture {
            automated,
            retention_days,
            point_in_time_recovery: automated && d.point_in_time_recovery,
            cross_region: None,
        })
    }

    /// `availabilityType`: `REGIONAL` is a standby in another zone with automatic failover.
    async fn high_availability(&self) -> Result<HighAvailability> {
        let d = self.describe().await?;
        Ok(if d.availability_type.as_deref() == Some("REGIONAL") {
            HighAvailability {
                redundancy: Redundancy::MultiZone,
                automatic_failover: true,
            }
        } else {
            HighAvailability {
                redundancy: Redundancy::Single,
                automatic_failover: false,
            }
        })
    }

    /// `provider.tls_enforced`, `provider.public_network`, `provider.iam_authentication`,
    /// `provider.server_ca`, `provider.logging`. Reads only.
    async fn findings(&self) -> Result<Vec<Finding>> {
        let d = self.describe().await?;
        let cas = self.server_cas().await?;
        Ok(vec![
            self.tls_finding(&d),
            self.public_network_finding(&d),
            Self::iam_finding(&d),
            self.server_ca_finding(&d, &cas),
            self.logging_finding(&d),
        ])
    }
}

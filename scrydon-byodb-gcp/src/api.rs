//! The Cloud SQL Admin API v1 client (the core's `provider::api` client, authenticated with
//! `google-cloud-auth` credentials), and the API's JSON shapes.
//!
//! One request at a time, `Connection: close`: the provider makes a handful of calls per check,
//! so a pool would buy nothing.

use std::fmt;
use std::time::Duration;

use google_cloud_auth::credentials::{CacheableResource, Credentials};
use scrydon_byodb::provider::api::{ApiClient, HeaderMap, Method};
use serde::Deserialize;

pub use scrydon_byodb::provider::api::{ApiError, ApiErrorKind};

/// The public Cloud SQL Admin API endpoint.
pub const DEFAULT_ENDPOINT: &str = "https://sqladmin.googleapis.com";

/// The endpoint and the credentials.
#[derive(Clone)]
pub(crate) struct Client {
    api: ApiClient,
    credentials: Credentials,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Credentials' own Debug is the library's; say only that they are set.
        f.debug_struct("Client")
            .field("api", &self.api)
            .field("credentials", &"<set>")
            .finish()
    }
}

impl Client {
    /// `endpoint`: `https://host[:port][/prefix]`, or `http://` for a loopback address only.
    pub(crate) fn new(
        endpoint: &str,
        credentials: Credentials,
        timeout: Duration,
    ) -> Result<Self, String> {
        Ok(Self {
            api: ApiClient::new(endpoint, timeout)?,
            credentials,
        })
    }

    /// Sends one request; `Ok` only for 2xx, with the body parsed as `T`.
    pub(crate) async fn call<T: for<'de> Deserialize<'de>>(
        &self,
        method: Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Result<T, ApiError> {
        let auth = self.auth_headers().await?;
        self.api.call(method, path, &auth, body.as_ref()).await
    }

    async fn auth_headers(&self) -> Result<HeaderMap, ApiError> {
        match self.credentials.headers(Default::default()).await {
            Ok(CacheableResource::New { data, .. }) => Ok(data),
            Ok(CacheableResource::NotModified) => Err(ApiError::local(
                ApiErrorKind::Credentials,
                "the credentials returned no headers",
            )),
            // The library's messages name the source of the failure, never the token.
            Err(e) => Err(ApiError::local(
                ApiErrorKind::Credentials,
                format!("the credentials could not authorize the request: {e}"),
            )),
        }
    }
}

// ---- The API's JSON shapes (what this crate reads of them) ------------------------------------

/// An int64 field: Google's JSON mapping writes them as strings; accept numbers too.
fn int64<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    let v = Option::<serde_json::Value>::deserialize(d)?;
    Ok(match v {
        Some(serde_json::Value::Number(n)) => n.as_i64(),
        Some(serde_json::Value::String(s)) => s.parse().ok(),
        _ => None,
    })
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct DatabaseInstance {
    pub name: Option<String>,
    pub project: Option<String>,
    pub region: Option<String>,
    pub database_version: Option<String>,
    pub state: Option<String>,
    pub connection_name: Option<String>,
    pub dns_name: Option<String>,
    pub ip_addresses: Vec<IpMapping>,
    pub server_ca_cert: Option<SslCert>,
    pub settings: Settings,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct IpMapping {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub ip_address: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct SslCert {
    pub cert: Option<String>,
    pub common_name: Option<String>,
    pub expiration_time: Option<String>,
    pub sha1_fingerprint: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct Settings {
    #[serde(deserialize_with = "int64")]
    pub settings_version: Option<i64>,
    pub availability_type: Option<String>,
    pub ip_configuration: IpConfiguration,
    pub database_flags: Vec<DatabaseFlag>,
    pub backup_configuration: BackupConfiguration,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct IpConfiguration {
    pub ipv4_enabled: Option<bool>,
    pub private_network: Option<String>,
    pub require_ssl: Option<bool>,
    pub ssl_mode: Option<String>,
    pub server_ca_mode: Option<String>,
    pub authorized_networks: Vec<serde_json::Value>,
}

/// A database flag, `{name, value}`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, serde::Serialize)]
#[serde(default)]
pub struct DatabaseFlag {
    /// The flag (`cloudsql.iam_authentication`, `log_connections`).
    pub name: String,
    /// Its value as the API gives it (`on`, `off`, a number).
    pub value: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct BackupConfiguration {
    pub enabled: Option<bool>,
    pub point_in_time_recovery_enabled: Option<bool>,
    pub transaction_log_retention_days: Option<i64>,
    pub location: Option<String>,
    pub backup_retention_settings: Option<BackupRetentionSettings>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct BackupRetentionSettings {
    pub retention_unit: Option<String>,
    pub retained_backups: Option<i64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct Operation {
    pub name: Option<String>,
    pub status: Option<String>,
    pub operation_type: Option<String>,
    pub error: Option<OperationErrors>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct OperationErrors {
    pub errors: Vec<OperationError>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct OperationError {
    pub code: Option<String>,
    pub message: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct ServerCasList {
    pub certs: Vec<SslCert>,
    pub active_version: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct ConnectSettings {
    pub server_ca_cert: Option<SslCert>,
    pub database_version: Option<String>,
    pub server_ca_mode: Option<String>,
    pub dns_name: Option<String>,
    pub region: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct FlagsList {
    pub items: Vec<Flag>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct Flag {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub requires_restart: Option<bool>,
    pub allowed_string_values: Vec<String>,
    #[serde(deserialize_with = "int64")]
    pub min_value: Option<i64>,
    #[serde(deserialize_with = "int64")]
    pub max_value: Option<i64>,
}

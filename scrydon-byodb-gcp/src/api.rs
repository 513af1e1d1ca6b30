//! A minimal HTTP/1.1 JSON client for the Cloud SQL Admin API v1 (hyper 1, one connection per
//! request), authenticated with `google-cloud-auth` credentials, and the API's JSON shapes.
//!
//! One request at a time, `Connection: close`: the provider makes a handful of calls per check,
//! so a pool would buy nothing.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use google_cloud_auth::credentials::{CacheableResource, Credentials};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::http::Extensions;
use hyper::{Method, Request, Uri};
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

/// The public Cloud SQL Admin API endpoint.
pub const DEFAULT_ENDPOINT: &str = "https://sqladmin.googleapis.com";

/// What kind of failure a Cloud SQL Admin API call met. Branch on this, not on the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ApiErrorKind {
    /// 400: the request was refused as invalid.
    BadRequest,
    /// 401: the credentials were refused.
    Unauthorized,
    /// 403: the credentials may not do this (IAM: `cloudsql.instances.get`/`update`), or the
    /// API is not enabled in the project.
    Forbidden,
    /// 404: no such project, instance or operation.
    NotFound,
    /// 409 or 412: another operation is running on the instance, or its settings changed
    /// meanwhile; retry later.
    Conflict,
    /// 429: rate limited.
    RateLimited,
    /// 5xx: the API failed.
    Server,
    /// Another unexpected HTTP status.
    UnexpectedStatus,
    /// The credentials could not produce an authorization header.
    Credentials,
    /// The API could not be reached (DNS, TCP, TLS, HTTP framing).
    Transport,
    /// No answer, or an operation did not end, in time.
    Timeout,
    /// The answer was not the documented JSON.
    Decode,
    /// A long-running operation ended `DONE` with an error.
    OperationFailed,
}

impl ApiErrorKind {
    fn from_status(status: u16) -> Self {
        match status {
            400 => Self::BadRequest,
            401 => Self::Unauthorized,
            403 => Self::Forbidden,
            404 => Self::NotFound,
            409 | 412 => Self::Conflict,
            429 => Self::RateLimited,
            500..=599 => Self::Server,
            _ => Self::UnexpectedStatus,
        }
    }
}

/// A failed Cloud SQL Admin API call: the `source` of the [`scrydon_byodb::Error::Provider`]
/// the provider returns (reach it with `std::error::Error::source` and `downcast_ref`). Never
/// carries a token or key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{}{}", status.map(|s| format!("HTTP {s} ")).unwrap_or_default(), code.as_deref().map(|c| format!("{c}: ")).unwrap_or_default(), message)]
pub struct ApiError {
    /// What kind of failure.
    pub kind: ApiErrorKind,
    /// The HTTP status, when there was an answer.
    pub status: Option<u16>,
    /// The API's error status (`NOT_FOUND`, `PERMISSION_DENIED`) or, for a failed operation,
    /// its error code (`INVALID_FLAG_NAME`).
    pub code: Option<String>,
    /// The API's message, or what went wrong locally.
    pub message: String,
}

impl ApiError {
    pub(crate) fn local(kind: ApiErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            status: None,
            code: None,
            message: message.into(),
        }
    }
}

#[derive(Deserialize)]
struct ErrorEnvelope {
    error: Option<ErrorBody>,
}

#[derive(Deserialize)]
struct ErrorBody {
    status: Option<String>,
    message: Option<String>,
}

/// The parsed endpoint and the credentials.
#[derive(Clone)]
pub(crate) struct Client {
    https: bool,
    host: String,
    port: u16,
    prefix: String,
    credentials: Credentials,
    timeout: Duration,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Credentials' own Debug is the library's; say only that they are set.
        f.debug_struct("Client")
            .field("endpoint", &self.endpoint())
            .field("credentials", &"<set>")
            .field("timeout", &self.timeout)
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
        let uri: Uri = endpoint.parse().map_err(|e| format!("not a URL ({e})"))?;
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => return Err("the scheme must be https (or http for a loopback server)".into()),
        };
        let host = uri.host().ok_or("no host")?.to_owned();
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let loopback = bare == "localhost"
            || bare
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        if !https && !loopback {
            // The bearer token would cross the network in clear.
            return Err("plain http is only allowed for a loopback address".into());
        }
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let prefix = uri.path().trim_end_matches('/').to_owned();
        Ok(Self {
            https,
            host: bare.to_owned(),
            port,
            prefix,
            credentials,
            timeout,
        })
    }

    pub(crate) fn endpoint(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        format!(
            "{}://{}:{}{}",
            if self.https { "https" } else { "http" },
            host,
            self.port,
            self.prefix
        )
    }

    /// Sends one request; `Ok` only for 2xx, with the body parsed as `T`.
    pub(crate) async fn call<T: for<'de> Deserialize<'de>>(
        &self,
        method: Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Result<T, ApiError> {
        let (status, bytes) = tokio::time::timeout(self.timeout, self.send(method, path, body))
            .await
            .map_err(|_| {
                ApiError::local(
                    ApiErrorKind::Timeout,
                    format!("no answer within {:?}", self.timeout),
                )
            })??;
        if !(200..300).contains(&status) {
            let parsed = serde_json::from_slice::<ErrorEnvelope>(&bytes)
                .ok()
                .and_then(|e| e.error);
            let (code, message) = match parsed {
                Some(b) => (b.status, b.message.unwrap_or_default()),
                None => (
                    None,
                    String::from_utf8_lossy(&bytes).chars().take(200).collect(),
                ),
            };
            return Err(ApiError {
                kind: ApiErrorKind::from_status(status),
                status: Some(status),
                code,
                message,
            });
        }
        serde_json::from_slice(&bytes).map_err(|e| {
            ApiError::local(
                ApiErrorKind::Decode,
                format!("unexpected answer to {path}: {e}"),
            )
        })
    }

    async fn auth_headers(&self) -> Result<hyper::HeaderMap, ApiError> {
        match self.credentials.headers(Extensions::new()).await {
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

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Result<(u16, Bytes), ApiError> {
        let transport = |e: &dyn fmt::Display| {
            ApiError::local(
                ApiErrorKind::Transport,
                format!("{}:{}: {e}", self.host, self.port),
            )
        };
        let auth = self.auth_headers().await?;
        let payload = match &body {
            Some(v) => Bytes::from(serde_json::to_vec(v).map_err(|e| transport(&e))?),
            None => Bytes::new(),
        };
        let authority = if (self.https && self.port == 443) || (!self.https && self.port == 80) {
            self.host.clone()
        } else if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        };
        let mut req = Request::builder()
            .method(method)
            .uri(format!("{}{}", self.prefix, path))
            .header("host", authority)
            .header("accept", "application/json")
            .header("connection", "close");
        for (name, value) in &auth {
            req = req.header(name, value);
        }
        if body.is_some() {
            req = req.header("content-type", "application/json");
        }
        let req = req.body(Full::new(payload)).map_err(|e| transport(&e))?;
        let tcp = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(|e| transport(&e))?;
        if self.https {
            let config = rustls::ClientConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .map_err(|e| transport(&e))?
            .with_root_certificates(rustls::RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            })
            .with_no_client_auth();
            let name = rustls_pki_types::ServerName::try_from(self.host.clone())
                .map_err(|e| transport(&e))?;
            let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
                .connect(name, tcp)
                .await
                .map_err(|e| transport(&e))?;
            exchange(tls, req).await.map_err(|e| transport(&e))
        } else {
            exchange(tcp, req).await.map_err(|e| transport(&e))
        }
    }
}

async fn exchange<S>(io: S, req: Request<Full<Bytes>>) -> Result<(u16, Bytes), hyper::Error>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io)).await?;
    let driver = tokio::spawn(conn);
    let result = async {
        let resp = sender.send_request(req).await?;
        let status = resp.status().as_u16();
        let body = resp.into_body().collect().await?.to_bytes();
        Ok((status, body))
    }
    .await;
    driver.abort();
    result
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

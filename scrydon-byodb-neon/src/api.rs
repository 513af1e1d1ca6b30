//! A minimal HTTP/1.1 JSON client for the Neon API v2 (hyper 1, one connection per request).
//!
//! One request at a time, `Connection: close`: the provider makes a handful of calls per check,
//! so a pool would buy nothing and cost a dependency.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Method, Request, Uri};
use hyper_util::rt::TokioIo;
use scrydon_byodb::SecretString;
use serde::Deserialize;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

/// What kind of failure a Neon API call met. Branch on this, not on the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ApiErrorKind {
    /// 400 or 422: the request was refused as invalid (e.g. a suspend timeout the plan does not
    /// allow).
    BadRequest,
    /// 401: the API key is missing, wrong or revoked.
    Unauthorized,
    /// 403: the key may not do this (another organisation, a read-only key, the plan).
    Forbidden,
    /// 404: no such project, endpoint or operation.
    NotFound,
    /// 409 or 423: the project is locked by a running operation; retry later.
    Conflict,
    /// 429: rate limited.
    RateLimited,
    /// 5xx: Neon failed.
    Server,
    /// Another unexpected HTTP status.
    UnexpectedStatus,
    /// The API could not be reached (DNS, TCP, TLS, HTTP framing).
    Transport,
    /// No answer, or an operation did not end, in time.
    Timeout,
    /// The answer was not the documented JSON.
    Decode,
    /// An operation Neon ran for us ended `failed`, `error` or `cancelled`.
    OperationFailed,
}

impl ApiErrorKind {
    fn from_status(status: u16) -> Self {
        match status {
            400 | 422 => Self::BadRequest,
            401 => Self::Unauthorized,
            403 => Self::Forbidden,
            404 => Self::NotFound,
            409 | 423 => Self::Conflict,
            429 => Self::RateLimited,
            500..=599 => Self::Server,
            _ => Self::UnexpectedStatus,
        }
    }
}

/// A failed Neon API call; the `source` of the [`scrydon_byodb::Error::Provider`] the provider
/// returns (reach it with `std::error::Error::source` and `downcast_ref`). Never carries the
/// API key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{}{}", status.map(|s| format!("HTTP {s}: ")).unwrap_or_default(), code.as_deref().map(|c| format!("{c}: ")).unwrap_or_default(), message)]
pub struct ApiError {
    /// What kind of failure.
    pub kind: ApiErrorKind,
    /// The HTTP status, when there was an answer.
    pub status: Option<u16>,
    /// Neon's error `code` (from `{"code", "message"}`), when given.
    pub code: Option<String>,
    /// Neon's `message`, or what went wrong locally.
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
struct ErrorBody {
    code: Option<String>,
    message: Option<String>,
}

/// The parsed base URL.
#[derive(Clone)]
pub(crate) struct Client {
    https: bool,
    host: String,
    port: u16,
    prefix: String,
    key: SecretString,
    timeout: Duration,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("base_url", &self.base_url())
            .field("api_key", &"[REDACTED]")
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl Client {
    /// `base_url`: `https://host[:port]/prefix` or `http://...` (plain HTTP is for loopback
    /// test servers).
    pub(crate) fn new(
        base_url: &str,
        key: SecretString,
        timeout: Duration,
    ) -> Result<Self, String> {
        let uri: Uri = base_url.parse().map_err(|e| format!("not a URL ({e})"))?;
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => return Err("the scheme must be https (or http for a loopback server)".into()),
        };
        let host = uri.host().ok_or("no host")?.to_owned();
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let prefix = uri.path().trim_end_matches('/').to_owned();
        Ok(Self {
            https,
            host,
            port,
            prefix,
            key,
            timeout,
        })
    }

    pub(crate) fn base_url(&self) -> String {
        format!(
            "{}://{}:{}{}",
            if self.https { "https" } else { "http" },
            self.host,
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
            let parsed: Option<ErrorBody> = serde_json::from_slice(&bytes).ok();
            let (code, message) = match parsed {
                Some(b) => (b.code, b.message.unwrap_or_default()),
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
        let tcp = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(|e| transport(&e))?;
        let payload = match &body {
            Some(v) => Bytes::from(serde_json::to_vec(v).map_err(|e| transport(&e))?),
            None => Bytes::new(),
        };
        let authority = if (self.https && self.port == 443) || (!self.https && self.port == 80) {
            self.host.clone()
        } else {
            format!("{}:{}", self.host, self.port)
        };
        let mut req = Request::builder()
            .method(method)
            .uri(format!("{}{}", self.prefix, path))
            .header("host", authority)
            .header("accept", "application/json")
            .header("connection", "close")
            .header(
                "authorization",
                format!("Bearer {}", self.key.expose_secret()),
            );
        if body.is_some() {
            req = req.header("content-type", "application/json");
        }
        let req = req.body(Full::new(payload)).map_err(|e| transport(&e))?;
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

//! A small JSON-over-HTTPS client for provider APIs that have no SDK in the chosen stack (the
//! Cloud SQL Admin API, the Neon API): one request per connection, HTTP/1.1 on rustls (ring,
//! the Mozilla roots), a timeout per request, and failures typed as [`ApiError`].
//!
//! Behind the `api-client` feature, which the cloud crates turn on; the core itself never calls
//! a provider API. Authentication is the caller's: it passes the headers (a bearer token, an API
//! key) with each call, and they go nowhere else (not into errors, not into `Debug`).
//!
//! Plain `http://` is accepted for a loopback address only (test servers): a token would
//! otherwise cross the network in clear.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Request, Uri};
use hyper_util::rt::TokioIo;
use serde::de::DeserializeOwned;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

pub use hyper::header::HeaderValue;
pub use hyper::{HeaderMap, Method};

/// What kind of failure an [`ApiError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ApiErrorKind {
    /// 400 / 422: the request was refused as malformed or invalid.
    BadRequest,
    /// 401: the credentials were not accepted.
    Unauthorized,
    /// 403: the credentials lack a permission.
    Forbidden,
    /// 404: no such resource.
    NotFound,
    /// 409 / 412 / 423: another operation holds the resource, or a precondition failed.
    Conflict,
    /// 429: throttled.
    RateLimited,
    /// 5xx: the service failed.
    Server,
    /// Another non-2xx status.
    UnexpectedStatus,
    /// The credentials could not produce an authorization (before any request).
    Credentials,
    /// No answer: DNS, connection, TLS or HTTP failure.
    Transport,
    /// No answer within the request timeout.
    Timeout,
    /// A 2xx answer that is not the JSON expected.
    Decode,
    /// A long-running operation ended in error.
    OperationFailed,
}

impl ApiErrorKind {
    /// The kind of a non-2xx HTTP status.
    pub fn from_status(status: u16) -> Self {
        match status {
            400 | 422 => Self::BadRequest,
            401 => Self::Unauthorized,
            403 => Self::Forbidden,
            404 => Self::NotFound,
            409 | 412 | 423 => Self::Conflict,
            429 => Self::RateLimited,
            500..=599 => Self::Server,
            _ => Self::UnexpectedStatus,
        }
    }
}

/// A failed provider API call: the `source` of the [`Error::Provider`](crate::Error::Provider)
/// a provider returns (reach it with `std::error::Error::source` and `downcast_ref`). Never
/// carries a token or key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{}{}", status.map(|s| format!("HTTP {s}: ")).unwrap_or_default(), code.as_deref().map(|c| format!("{c}: ")).unwrap_or_default(), message)]
pub struct ApiError {
    /// What kind of failure.
    pub kind: ApiErrorKind,
    /// The HTTP status, when there was an answer.
    pub status: Option<u16>,
    /// The API's error code (`NOT_FOUND`, `PERMISSION_DENIED`, Neon's `code`) or, for a failed
    /// operation, its error code.
    pub code: Option<String>,
    /// The API's message, or what went wrong locally.
    pub message: String,
}

impl ApiError {
    /// A failure that did not come from an answer (no status, no code).
    pub fn local(kind: ApiErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            status: None,
            code: None,
            message: message.into(),
        }
    }

    /// The error of a non-2xx answer: `{"error": {"status" | "code", "message"}}` (Google,
    /// Azure) or `{"code", "message"}` (Neon); else the start of the body as the message.
    fn from_answer(status: u16, body: &[u8]) -> Self {
        let text = |v: &serde_json::Value| v.as_str().map(str::to_owned);
        let parsed = serde_json::from_slice::<serde_json::Value>(body)
            .ok()
            .filter(serde_json::Value::is_object)
            .map(|v| {
                let e = v.get("error").filter(|e| e.is_object()).unwrap_or(&v);
                let code = e
                    .get("status")
                    .and_then(text)
                    .or_else(|| e.get("code").and_then(text));
                let message = e.get("message").and_then(text).unwrap_or_default();
                (code, message)
            });
        let (code, message) = parsed.unwrap_or_else(|| {
            (
                None,
                String::from_utf8_lossy(body).chars().take(200).collect(),
            )
        });
        ApiError {
            kind: ApiErrorKind::from_status(status),
            status: Some(status),
            code,
            message,
        }
    }
}

/// Where the API is, and how long one request may take. Cheap to clone.
#[derive(Clone)]
pub struct ApiClient {
    https: bool,
    host: String,
    port: u16,
    prefix: String,
    timeout: Duration,
}

impl fmt::Debug for ApiClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiClient")
            .field("endpoint", &self.endpoint())
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl ApiClient {
    /// `endpoint`: `https://host[:port][/prefix]`, or `http://` for a loopback address only.
    /// The error says what is wrong with it (for the caller's `InvalidInput`).
    pub fn new(endpoint: &str, timeout: Duration) -> Result<Self, String> {
        let uri: Uri = endpoint.parse().map_err(|e| format!("not a URL ({e})"))?;
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => return Err("the scheme must be https (or http for a loopback server)".into()),
        };
        let host = uri.host().ok_or("no host")?;
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let loopback = bare == "localhost"
            || bare
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        if !https && !loopback {
            return Err("plain http is only allowed for a loopback address".into());
        }
        Ok(Self {
            https,
            host: bare.to_owned(),
            port: uri.port_u16().unwrap_or(if https { 443 } else { 80 }),
            prefix: uri.path().trim_end_matches('/').to_owned(),
            timeout,
        })
    }

    /// The endpoint, normalised (`https://host:443/prefix`).
    pub fn endpoint(&self) -> String {
        format!(
            "{}://{}{}",
            if self.https { "https" } else { "http" },
            self.authority(true),
            self.prefix
        )
    }

    /// `host:port` (IPv6 in brackets); without the port when it is the scheme's default and
    /// `always_port` is false.
    fn authority(&self, always_port: bool) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        let default = if self.https { 443 } else { 80 };
        if always_port || self.port != default {
            format!("{host}:{}", self.port)
        } else {
            host
        }
    }

    /// Sends one request to `prefix + path` with `headers` (authorization) and `body` as JSON;
    /// `Ok` only for a 2xx answer, its body parsed as `T`.
    pub async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        headers: &HeaderMap,
        body: Option<&serde_json::Value>,
    ) -> Result<T, ApiError> {
        let (status, bytes) =
            tokio::time::timeout(self.timeout, self.send(method, path, headers, body))
                .await
                .map_err(|_| {
                    ApiError::local(
                        ApiErrorKind::Timeout,
                        format!("no answer within {:?}", self.timeout),
                    )
                })??;
        if !(200..300).contains(&status) {
            return Err(ApiError::from_answer(status, &bytes));
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
        headers: &HeaderMap,
        body: Option<&serde_json::Value>,
    ) -> Result<(u16, Bytes), ApiError> {
        let transport = |e: &dyn fmt::Display| {
            ApiError::local(
                ApiErrorKind::Transport,
                format!("{}: {e}", self.authority(true)),
            )
        };
        let payload = match body {
            Some(v) => Bytes::from(serde_json::to_vec(v).map_err(|e| transport(&e))?),
            None => Bytes::new(),
        };
        let mut req = Request::builder()
            .method(method)
            .uri(format!("{}{}", self.prefix, path))
            .header("host", self.authority(false))
            .header("accept", "application/json")
            .header("connection", "close");
        for (name, value) in headers {
            req = req.header(name, value);
        }
        if body.is_some() {
            req = req.header("content-type", "application/json");
        }
        let req = req.body(Full::new(payload)).map_err(|e| transport(&e))?;
        let tcp = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(|e| transport(&e))?;
        if !self.https {
            return exchange(tcp, req).await.map_err(|e| transport(&e));
        }
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| transport(&e))?
        .with_root_certificates(rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        })
        .with_no_client_auth();
        let name =
            rustls_pki_types::ServerName::try_from(self.host.clone()).map_err(|e| transport(&e))?;
        let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await
            .map_err(|e| transport(&e))?;
        exchange(tls, req).await.map_err(|e| transport(&e))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_of_each_shape() {
        let google = br#"{"error":{"code":404,"message":"The Cloud SQL instance does not exist.","status":"NOT_FOUND"}}"#;
        let e = ApiError::from_answer(404, google);
        assert_eq!(e.kind, ApiErrorKind::NotFound);
        assert_eq!(e.code.as_deref(), Some("NOT_FOUND"));
        assert_eq!(e.message, "The Cloud SQL instance does not exist.");
        let arm = br#"{"error":{"code":"ResourceNotFound","message":"gone"}}"#;
        assert_eq!(
            ApiError::from_answer(404, arm).code.as_deref(),
            Some("ResourceNotFound")
        );
        let neon = br#"{"code":"","message":"project not found"}"#;
        let e = ApiError::from_answer(423, neon);
        assert_eq!(e.kind, ApiErrorKind::Conflict);
        assert_eq!(e.message, "project not found");
        let e = ApiError::from_answer(502, b"<html>bad gateway</html>");
        assert_eq!(e.kind, ApiErrorKind::Server);
        assert_eq!(e.code, None);
        assert_eq!(e.message, "<html>bad gateway</html>");
    }

    #[test]
    fn endpoints_are_checked_and_plain_http_is_loopback_only() {
        let c = ApiClient::new("https://sqladmin.googleapis.com/", Duration::from_secs(1))
            .expect("https");
        assert_eq!(c.endpoint(), "https://sqladmin.googleapis.com:443");
        assert_eq!(c.authority(false), "sqladmin.googleapis.com");
        let c =
            ApiClient::new("http://[::1]:8080/api/v2", Duration::from_secs(1)).expect("loopback");
        assert_eq!(c.endpoint(), "http://[::1]:8080/api/v2");
        for bad in [
            "http://console.neon.tech/api/v2",
            "ftp://127.0.0.1/",
            "not a url",
            "https:///path",
        ] {
            assert!(
                ApiClient::new(bad, Duration::from_secs(1)).is_err(),
                "{bad}"
            );
        }
    }
}

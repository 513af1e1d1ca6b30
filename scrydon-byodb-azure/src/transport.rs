//! The HTTPS transport under azure_core's pipeline: hyper 1 (HTTP/1.1) over rustls with the ring
//! provider, trusting the webpki (Mozilla) roots plus any extra roots given.
//!
//! azure_core's default transport is reqwest; this one exists so the roots are ours to set (a
//! private ARM endpoint's CA, the test CA) and so the crate uses the workspace's one TLS stack.
//! One connection per request: ARM calls here are few and far between.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use azure_core::error::ErrorKind;
use azure_core::http::headers::{HeaderName, HeaderValue, Headers};
use azure_core::http::{AsyncRawResponse, Body, HttpClient, Method, Request};
use azure_core::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::rt::TokioIo;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;

/// Largest response body accepted (ARM answers are a few KiB).
const MAX_BODY: usize = 4 * 1024 * 1024;

/// hyper + rustls, as an azure_core [`HttpClient`].
pub(crate) struct RustlsHttpClient {
    tls: Arc<rustls::ClientConfig>,
    timeout: Duration,
    extra_roots: usize,
}

impl fmt::Debug for RustlsHttpClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RustlsHttpClient")
            .field("extra_roots", &self.extra_roots)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl RustlsHttpClient {
    /// A client trusting the webpki roots and `extra_roots` (DER).
    pub(crate) fn new(extra_roots: &[Vec<u8>], timeout: Duration) -> Result<Self, String> {
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        for der in extra_roots {
            roots
                .add(CertificateDer::from(der.clone()))
                .map_err(|e| format!("an extra root CA cannot be used: {e}"))?;
        }
        let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS configuration: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(RustlsHttpClient {
            tls: Arc::new(config),
            timeout,
            extra_roots: extra_roots.len(),
        })
    }

    async fn send(&self, request: &Request) -> azure_core::Result<AsyncRawResponse> {
        let url = request.url();
        if url.scheme() != "https" {
            return Err(azure_core::Error::with_message(
                ErrorKind::Other,
                "only https:// endpoints are supported",
            ));
        }
        let host = url
            .host_str()
            .ok_or_else(|| azure_core::Error::with_message(ErrorKind::Other, "URL without host"))?
            .trim_matches(['[', ']'])
            .to_owned();
        let port = url.port_or_known_default().unwrap_or(443);
        let name = ServerName::try_from(host.clone())
            .map_err(|e| azure_core::Error::with_error(ErrorKind::Other, e, "bad host name"))?;
        let tcp = TcpStream::connect((host.as_str(), port))
            .await
            .map_err(|e| azure_core::Error::with_error(ErrorKind::Connection, e, "connect"))?;
        let tls = tokio_rustls::TlsConnector::from(self.tls.clone())
            .connect(name, tcp)
            .await
            .map_err(|e| azure_core::Error::with_error(ErrorKind::Connection, e, "TLS"))?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .map_err(|e| azure_core::Error::with_error(ErrorKind::Io, e, "HTTP handshake"))?;
        let driver = tokio::spawn(conn);

        let body = match request.body() {
            Body::Bytes(b) => b.clone(),
            #[allow(unreachable_patterns)]
            _ => {
                driver.abort();
                return Err(azure_core::Error::with_message(
                    ErrorKind::Other,
                    "streamed request bodies are not supported",
                ));
            }
        };
        let path = match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        };
        let authority = match url.port() {
            Some(p) => format!("{}:{p}", url.host_str().unwrap_or_default()),
            None => url.host_str().unwrap_or_default().to_owned(),
        };
        let mut builder = hyper::Request::builder()
            .method(match request.method() {
                Method::Delete => hyper::Method::DELETE,
                Method::Get => hyper::Method::GET,
                Method::Head => hyper::Method::HEAD,
                Method::Patch => hyper::Method::PATCH,
                Method::Post => hyper::Method::POST,
                Method::Put => hyper::Method::PUT,
                #[allow(unreachable_patterns)]
                _ => hyper::Method::GET,
            })
            .uri(path)
            .header("host", authority)
            .header("connection", "close");
        for (name, value) in request.headers().iter() {
            builder = builder.header(name.as_str(), value.as_str());
        }
        let req = builder
            .body(Full::new(body))
            .map_err(|e| azure_core::Error::with_error(ErrorKind::Other, e, "building request"))?;
        let result = async {
            let resp = sender
                .send_request(req)
                .await
                .map_err(|e| azure_core::Error::with_error(ErrorKind::Io, e, "sending request"))?;
            let status = resp.status().as_u16();
            let mut headers = Headers::new();
            for (k, v) in resp.headers() {
                if let Ok(v) = v.to_str() {
                    headers.insert(
                        HeaderName::from(k.as_str().to_owned()),
                        HeaderValue::from(v.to_owned()),
                    );
                }
            }
            let bytes: Bytes = Limited::new(resp.into_body(), MAX_BODY)
                .collect()
                .await
                .map_err(|e| {
                    azure_core::Error::with_message(ErrorKind::Io, format!("reading body: {e}"))
                })?
                .to_bytes();
            Ok(AsyncRawResponse::from_bytes(status.into(), headers, bytes))
        };
        let out = tokio::time::timeout(self.timeout, result).await;
        driver.abort();
        match out {
            Ok(r) => r,
            Err(_) => Err(azure_core::Error::with_message(
                ErrorKind::Io,
                format!("no answer within {:?}", self.timeout),
            )),
        }
    }
}

#[async_trait]
impl HttpClient for RustlsHttpClient {
    async fn execute_request(&self, request: &Request) -> azure_core::Result<AsyncRawResponse> {
        match tokio::time::timeout(self.timeout, self.send(request)).await {
            Ok(r) => r,
            Err(_) => Err(azure_core::Error::with_message(
                ErrorKind::Io,
                format!("no answer within {:?}", self.timeout),
            )),
        }
    }
}

//! The RDS CA bundle for `sslmode=verify-full`: the RDS CAs are private, so the bundle is
//! either supplied by the user or fetched from AWS's published trust store, and checked.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Bytes;
use hyper::{Request, Uri};
use hyper_util::rt::TokioIo;
use rustls_pki_types::{CertificateDer, ServerName};
use scrydon_byodb::tls::CaBundle;
use scrydon_byodb::{Error, Result};
use sha2::{Digest, Sha256};
use tokio::net::TcpStream;

/// AWS's published bundle of every RDS and Aurora CA, all regions.
pub const RDS_GLOBAL_BUNDLE_URL: &str =
    "https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem";

/// The published bundle is about 100 kB; refuse anything much larger.
const MAX_BODY: usize = 4 * 1024 * 1024;

/// Fetches and checks an RDS CA bundle over HTTPS.
///
/// ```no_run
/// use scrydon_byodb_aws::RdsCaBundleFetcher;
///
/// # async fn example() -> scrydon_byodb::Result<()> {
/// let fetched = RdsCaBundleFetcher::new().fetch().await?;
/// println!("{} CA certificates, sha256 {}", fetched.certificates, fetched.sha256);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct RdsCaBundleFetcher {
    url: String,
    https_roots: Option<Vec<Vec<u8>>>,
    expected_sha256: Option<String>,
    timeout: Duration,
}

impl fmt::Debug for RdsCaBundleFetcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RdsCaBundleFetcher")
            .field("url", &self.url)
            .field(
                "https_roots",
                &self.https_roots.as_ref().map_or(0, |r| r.len()),
            )
            .field("expected_sha256", &self.expected_sha256)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl Default for RdsCaBundleFetcher {
    fn default() -> Self {
        Self::new()
    }
}

/// A fetched (or supplied) bundle that passed the checks.
#[derive(Debug, Clone)]
pub struct CheckedCaBundle {
    /// The bundle, for [`Provider::ca_bundle`](scrydon_byodb::provider::Provider::ca_bundle)
    /// and `sslrootcert`.
    pub bundle: CaBundle,
    /// The PEM text as fetched (to write to `sslrootcert`).
    pub pem: String,
    /// Lower-case hex SHA-256 of the PEM text.
    pub sha256: String,
    /// How many CA certificates it holds.
    pub certificates: usize,
    /// When the first of them expires.
    pub earliest_expiry: SystemTime,
}

fn bad(reason: impl Into<String>) -> Error {
    Error::Provider {
        provider: "aws-rds".to_owned(),
        reason: reason.into(),
        source: None,
    }
}

impl RdsCaBundleFetcher {
    /// AWS's global bundle ([`RDS_GLOBAL_BUNDLE_URL`]), the web PKI roots for HTTPS, a 30 s
    /// timeout.
    pub fn new() -> Self {
        RdsCaBundleFetcher {
            url: RDS_GLOBAL_BUNDLE_URL.to_owned(),
            https_roots: None,
            expected_sha256: None,
            timeout: Duration::from_secs(30),
        }
    }

    /// Another `https://` URL (a mirror, a regional bundle).
    pub fn with_url(mut self, url: impl Into<String>) -> Self {
        self.url = url.into();
        self
    }

    /// Trust these CAs for the HTTPS connection instead of the web PKI roots (a proxy's or a
    /// mirror's CA).
    pub fn with_https_roots(mut self, roots: &CaBundle) -> Self {
        self.https_roots = Some(roots.der_certificates());
        self
    }

    /// Refuse the bundle unless its SHA-256 (hex) is this one.
    pub fn with_expected_sha256(mut self, hex: impl Into<String>) -> Self {
        self.expected_sha256 = Some(hex.into());
        self
    }

    /// How long the whole fetch may take.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Fetches the bundle and checks it with [`check_ca_bundle`].
    pub async fn fetch(&self) -> Result<CheckedCaBundle> {
        let body = tokio::time::timeout(self.timeout, self.get())
            .await
            .map_err(|_| bad(format!("fetching {} timed out", self.url)))??;
        check_ca_bundle(&body, self.expected_sha256.as_deref(), SystemTime::now())
    }

    async fn get(&self) -> Result<Vec<u8>> {
        let url = &self.url;
        let invalid = |reason: &str| Error::InvalidInput {
            field: "url".to_owned(),
            value: url.clone(),
            reason: reason.to_owned(),
        };
        let uri: Uri = url.parse().map_err(|_| invalid("not a URL"))?;
        if uri.scheme_str() != Some("https") {
            return Err(invalid("only https:// is accepted for a trust anchor"));
        }
        let host = uri.host().ok_or_else(|| invalid("no host"))?.to_owned();
        let port = uri.port_u16().unwrap_or(443);
        let transport = |e: &dyn fmt::Display| bad(format!("fetching {url}: {e}"));

        let mut roots = rustls::RootCertStore::empty();
        match &self.https_roots {
            Some(ders) => {
                for der in ders {
                    roots
                        .add(CertificateDer::from(der.clone()))
                        .map_err(|e| transport(&e))?;
                }
            }
            None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        }
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| transport(&e))?
        .with_root_certificates(roots)
        .with_no_client_auth();
        let name = ServerName::try_from(host.trim_matches(['[', ']']).to_owned())
            .map_err(|e| transport(&e))?;
        let tcp = TcpStream::connect((host.trim_matches(['[', ']']), port))
            .await
            .map_err(|e| transport(&e))?;
        let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await
            .map_err(|e| transport(&e))?;
        let authority = uri
            .authority()
            .map(|a| a.as_str().to_owned())
            .unwrap_or(host);
        let req = Request::get(uri.path_and_query().map_or("/", |p| p.as_str()))
            .header("host", authority)
            .header("connection", "close")
            .body(Empty::<Bytes>::new())
            .map_err(|e| transport(&e))?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .map_err(|e| transport(&e))?;
        let driver = tokio::spawn(conn);
        let result = async {
            let resp = sender.send_request(req).await.map_err(|e| transport(&e))?;
            let status = resp.status();
            if !status.is_success() {
                return Err(bad(format!("fetching {url}: HTTP {status}")));
            }
            let body = Limited::new(resp.into_body(), MAX_BODY)
                .collect()
                .await
                .map_err(|e| transport(&e))?;
            Ok(body.to_bytes().to_vec())
        }
        .await;
        driver.abort();
        result
    }
}

/// Checks a CA bundle (PEM): it parses, holds at least one certificate, every certificate is a
/// CA (basicConstraints `CA:TRUE`) valid at `now`, and its SHA-256 is `expected_sha256` when
/// given.
pub fn check_ca_bundle(
    pem: &[u8],
    expected_sha256: Option<&str>,
    now: SystemTime,
) -> Result<CheckedCaBundle> {
    let sha256: String = Sha256::digest(pem)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    if let Some(want) = expected_sha256 {
        if !want.trim().eq_ignore_ascii_case(&sha256) {
            return Err(bad(format!(
                "the CA bundle's SHA-256 is {sha256}, not the expected {}",
                want.trim()
            )));
        }
    }
    let text = std::str::from_utf8(pem).map_err(|_| bad("the CA bundle is not PEM text"))?;
    let now_secs = now
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    let mut count = 0;
    let mut earliest = i64::MAX;
    for (i, item) in x509_parser::pem::Pem::iter_from_buffer(pem).enumerate() {
        let item = item.map_err(|e| bad(format!("certificate {i} is not valid PEM: {e}")))?;
        if item.label != "CERTIFICATE" {
            return Err(bad(format!("PEM block {i} is a {}", item.label)));
        }
        let (_, cert) = x509_parser::parse_x509_certificate(&item.contents)
            .map_err(|e| bad(format!("certificate {i} does not parse: {e}")))?;
        let subject = cert.subject().to_string();
        let is_ca = matches!(cert.basic_constraints(), Ok(Some(bc)) if bc.value.ca);
        if !is_ca {
            return Err(bad(format!(
                "certificate {i} ({subject}) is not a CA (basicConstraints)"
            )));
        }
        let validity = cert.validity();
        if validity.not_after.timestamp() < now_secs {
            return Err(bad(format!("certificate {i} ({subject}) has expired")));
        }
        if validity.not_before.timestamp() > now_secs {
            return Err(bad(format!("certificate {i} ({subject}) is not valid yet")));
        }
        earliest = earliest.min(validity.not_after.timestamp());
        count += 1;
    }
    if count == 0 {
        return Err(bad("the CA bundle holds no certificate"));
    }
    let bundle = CaBundle::from_pem(pem)?;
    Ok(CheckedCaBundle {
        bundle,
        pem: text.to_owned(),
        sha256,
        certificates: count,
        earliest_expiry: UNIX_EPOCH
            + Duration::from_secs(u64::try_from(earliest).unwrap_or_default()),
    })
}

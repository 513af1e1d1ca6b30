//! TLS for PostgreSQL connections, with libpq's `sslmode` semantics.
//!
//! [`TlsConnector`] turns the TLS settings of a connection string (or of a builder) into a
//! rustls client for `tokio_postgres`. The rules are libpq's:
//!
//! | `sslmode` | TLS | certificate checked |
//! |---|---|---|
//! | `disable` | never | - |
//! | `allow` | only if the server insists | chain, if a root file is given; else nothing |
//! | `prefer` (default) | if the server offers it | chain, if a root file is given; else nothing |
//! | `require` | always | chain, if a root file is given; else nothing |
//! | `verify-ca` | always | chain (a root file is mandatory) |
//! | `verify-full` | always | chain and host name |
//!
//! * A given `sslrootcert` (or [`CaBundle`]) *replaces* the trust store; it is never merged
//!   with the public roots. `sslrootcert=system` means the public webpki/Mozilla roots and, as
//!   in libpq 16+, is refused with any `sslmode` other than `verify-full` (and makes
//!   `verify-full` the default when no `sslmode` is given).
//! * The host-name check of `verify-full` is libpq's: DNS SANs (a leading `*.` matches one
//!   label), IP SANs compared as addresses, and the Common Name only when the certificate has no
//!   SAN of the host's type. [`ServerNameCheck::CommonNameEquals`] replaces it with an exact
//!   comparison of the Common Name (GCP Cloud SQL's `project:instance`).
//! * Unlike libpq, nothing is read implicitly from `~/.postgresql/` (`root.crt`,
//!   `postgresql.crt`, `postgresql.key`): only the files the DSN or the builder names.
//! * Every session reports what was checked ([`Verification`]), the negotiated protocol and
//!   cipher suite, and the server certificate's subject and expiry ([`TlsInfo`]).
//!
//! Options that weaken verification carry it in their name
//! ([`TlsConnectorBuilder::dangerous_accept_any_certificate`]).

mod bundle;
mod stream;
mod verify;
mod x509;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::ServerCertVerifier;
use rustls::client::{ResolvesClientCert, WebPkiServerVerifier};
use rustls::crypto::CryptoProvider;
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, SignatureScheme, SupportedProtocolVersion};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer, ServerName};

pub use bundle::CaBundle;
pub use stream::{DirectTlsWithoutAlpn, HostTlsConnect, PgTlsStream};
pub use x509::CertificateSummary;

use crate::dsn::{Dsn, SslMode, SslNegotiation, SslRootCert};
use crate::{ConnectFailure, Error, Result};
use verify::{PgVerifier, Recorder, VerifyPolicy};

pub(crate) use verify::certificate_failure;

/// What was checked about the server's certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Verification {
    /// Nothing: any certificate is accepted (`require`/`prefer`/`allow` without a root file).
    /// The session is encrypted but the server is not authenticated.
    #[serde(rename = "none")]
    None,
    /// The certificate chains to a trusted CA and is within its validity (`verify-ca`, or a
    /// weaker mode with a root file).
    #[serde(rename = "chain")]
    Chain,
    /// The chain, and the certificate is for the host (`verify-full`).
    #[serde(rename = "chain+name")]
    ChainAndName,
}

impl Verification {
    /// `"none"`, `"chain"` or `"chain+name"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verification::None => "none",
            Verification::Chain => "chain",
            Verification::ChainAndName => "chain+name",
        }
    }
}

impl fmt::Display for Verification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How `verify-full` checks that the certificate belongs to the server.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ServerNameCheck {
    /// libpq's rule against the DSN's host: SANs, else the Common Name.
    #[default]
    Hostname,
    /// The certificate's (first) Common Name must equal this string exactly; SANs and the host
    /// name are not consulted. For servers whose certificates name an instance rather than a
    /// host (GCP Cloud SQL: `project:instance`).
    CommonNameEquals(String),
}

/// What one TLS session negotiated and checked.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct TlsInfo {
    /// The protocol version (`"TLSv1.3"`, `"TLSv1.2"`).
    pub protocol: String,
    /// The cipher suite, IANA-style (`"TLS13_AES_256_GCM_SHA384"`).
    pub cipher: String,
    /// What was checked about the server certificate.
    pub verification: Verification,
    /// The ALPN protocol the server selected (`"postgresql"` for PostgreSQL 17+), if any.
    pub alpn: Option<String>,
    /// The server certificate's subject.
    pub peer_subject: Option<String>,
    /// The server certificate's issuer.
    pub peer_issuer: Option<String>,
    /// The server certificate's end of validity, RFC 3339 UTC.
    pub peer_not_after: Option<String>,
    /// The same, as seconds since the Unix epoch.
    pub peer_not_after_unix: Option<i64>,
}

/// Reports the TLS outcome of one connection attempt (see [`HostTlsConnect::observer`]).
#[derive(Debug, Clone)]
pub struct TlsObserver {
    recorder: Recorder,
}

impl TlsObserver {
    /// The finished session, if the handshake completed.
    pub fn info(&self) -> Option<TlsInfo> {
        self.recorder.lock().info.clone()
    }

    /// Whether a TLS handshake was started (the server accepted TLS).
    pub fn handshake_started(&self) -> bool {
        self.recorder.lock().handshake_started
    }

    /// Why the certificate was refused, when the verifier refused it
    /// ([`ConnectFailure::CertificateUntrusted`], `CertificateNameMismatch`,
    /// `CertificateExpired`; a certificate revoked by `sslcrl` is `CertificateUntrusted`).
    pub fn certificate_failure(&self) -> Option<ConnectFailure> {
        self.recorder.lock().certificate_failure
    }

    /// The server certificate the handshake saw (also when it was refused).
    pub fn peer_certificate(&self) -> Option<CertificateSummary> {
        self.recorder.lock().peer.clone()
    }
}

#[derive(Debug, Clone)]
enum RootSource {
    File(PathBuf),
    Bundle(CaBundle),
}

/// Builds a [`TlsConnector`]. Setters never fail; [`TlsConnectorBuilder::build`] validates and
/// reads the files.
#[derive(Debug, Clone, Default)]
pub struct TlsConnectorBuilder {
    ssl_mode: Option<SslMode>,
    roots: Option<RootSource>,
    client_cert: Option<PathBuf>,
    client_key: Option<PathBuf>,
    crl: Option<PathBuf>,
    crl_dir: Option<PathBuf>,
    name_check: ServerNameCheck,
    negotiation: SslNegotiation,
    sni: Option<bool>,
    min_tls13: bool,
    max_tls12: bool,
    accept_any: bool,
}

impl TlsConnectorBuilder {
    /// The `sslmode`. Default: `prefer`, or `verify-full` with [`CaBundle::system`] (libpq 16+).
    pub fn with_ssl_mode(mut self, mode: SslMode) -> Self {
        self.ssl_mode = Some(mode);
        self
    }

    /// `sslrootcert` as the DSN gives it (a file, or `system`).
    pub fn with_root_cert(self, root: SslRootCert) -> Self {
        match root {
            SslRootCert::System => self.with_system_roots(),
            SslRootCert::File(path) => self.with_root_cert_file(path),
        }
    }

    /// A PEM file of trusted CAs (one or several); replaces the trust store.
    pub fn with_root_cert_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.roots = Some(RootSource::File(path.into()));
        self
    }

    /// Trusted CAs already parsed (e.g. a cloud provider's CA bundle); replaces the trust store.
    pub fn with_ca_bundle(mut self, bundle: CaBundle) -> Self {
        self.roots = Some(RootSource::Bundle(bundle));
        self
    }

    /// The public webpki/Mozilla roots (`sslrootcert=system`); requires `verify-full`.
    pub fn with_system_roots(self) -> Self {
        self.with_ca_bundle(CaBundle::system())
    }

    /// A client certificate (PEM, the chain's first certificate being the client's) and its
    /// private key (PEM: PKCS#8, PKCS#1 RSA or SEC1 EC; not encrypted).
    pub fn with_client_cert(
        mut self,
        cert_file: impl Into<PathBuf>,
        key_file: impl Into<PathBuf>,
    ) -> Self {
        self.client_cert = Some(cert_file.into());
        self.client_key = Some(key_file.into());
        self
    }

    /// The client certificate file alone (`sslcert`); a key must be given too.
    pub fn with_client_cert_file(mut self, cert_file: impl Into<PathBuf>) -> Self {
        self.client_cert = Some(cert_file.into());
        self
    }

    /// The client key file alone (`sslkey`); a certificate must be given too.
    pub fn with_client_key_file(mut self, key_file: impl Into<PathBuf>) -> Self {
        self.client_key = Some(key_file.into());
        self
    }

    /// A certificate revocation list (`sslcrl`, PEM or DER). As with libpq (which sets
    /// OpenSSL's `CRL_CHECK_ALL`), every certificate of the chain must then be covered by a
    /// CRL. Ignored when the chain is not verified.
    pub fn with_crl_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.crl = Some(path.into());
        self
    }

    /// A directory of certificate revocation lists (`sslcrldir`): every regular file in it
    /// holding PEM CRLs is read (OpenSSL's hashed names are not needed). Same rules as
    /// [`TlsConnectorBuilder::with_crl_file`]; both may be given.
    pub fn with_crl_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.crl_dir = Some(dir.into());
        self
    }

    /// How `verify-full` checks the name (default: libpq's host-name rule).
    pub fn with_server_name_check(mut self, check: ServerNameCheck) -> Self {
        self.name_check = check;
        self
    }

    /// `sslnegotiation` (PostgreSQL 17+): `direct` starts TLS at once, with ALPN
    /// `postgresql`; requires `sslmode=require` or stronger.
    pub fn with_ssl_negotiation(mut self, negotiation: SslNegotiation) -> Self {
        self.negotiation = negotiation;
        self
    }

    /// Whether to send the host name as SNI (`sslsni`, default on; never for IP addresses).
    pub fn with_sni(mut self, sni: bool) -> Self {
        self.sni = Some(sni);
        self
    }

    /// Only TLS 1.3 (`ssl_min_protocol_version=TLSv1.3`). TLS 1.2 is the default minimum.
    pub fn with_tls13_only(mut self) -> Self {
        self.min_tls13 = true;
        self
    }

    /// Only TLS 1.2 (`ssl_max_protocol_version=TLSv1.2`).
    pub fn with_tls12_only(mut self) -> Self {
        self.max_tls12 = true;
        self
    }

    /// Accept any server certificate, whatever the `sslmode` and root file: the session is
    /// encrypted but the server is not authenticated (reported as [`Verification::None`]).
    /// For tests and diagnostic tools only.
    pub fn dangerous_accept_any_certificate(mut self) -> Self {
        self.accept_any = true;
        self
    }

    /// Validates the settings and reads the files (none with `sslmode=disable`). Fails with [`Error::TlsConfig`] (naming the
    /// file at fault) for: an unreadable, malformed or empty root file; `verify-ca`/`verify-full`
    /// without trusted CAs; `sslrootcert=system` with a mode other than `verify-full`; a key
    /// without a certificate or the reverse; an unreadable, encrypted, world-readable or
    /// mismatching key; an unreadable CRL; `sslnegotiation=direct` with a weak mode;
    /// [`ServerNameCheck::CommonNameEquals`] without `verify-full`.
    pub fn build(self) -> Result<TlsConnector> {
        let mut provider = rustls::crypto::ring::default_provider();
        // PostgreSQL up to 17 accepts one key-exchange group, ssl_ecdh_curve (prime256v1 by
        // default): offering its key share first avoids a HelloRetryRequest, one round trip on
        // every connection. Servers that prefer X25519 accept P-256 too.
        provider
            .kx_groups
            .sort_by_key(|g| g.name() != rustls::NamedGroup::secp256r1);
        let provider = Arc::new(provider);

        let system = matches!(&self.roots, Some(RootSource::Bundle(b)) if b.is_system());
        let mode = self.ssl_mode.unwrap_or(if system {
            SslMode::VerifyFull
        } else {
            SslMode::Prefer
        });
        if system && mode != SslMode::VerifyFull {
            return Err(tls_config(format!(
                "weak sslmode \"{mode}\" may not be used with sslrootcert=system (use \"verify-full\")"
            )));
        }
        if self.negotiation == SslNegotiation::Direct
            && matches!(mode, SslMode::Disable | SslMode::Allow | SslMode::Prefer)
        {
            return Err(tls_config(format!(
                "weak sslmode \"{mode}\" may not be used with sslnegotiation=direct (use \"require\", \"verify-ca\", or \"verify-full\")"
            )));
        }
        if matches!(self.name_check, ServerNameCheck::CommonNameEquals(_))
            && mode != SslMode::VerifyFull
        {
            return Err(tls_config(format!(
                "a Common Name check requires sslmode \"verify-full\", not \"{mode}\""
            )));
        }
        if self.min_tls13 && self.max_tls12 {
            return Err(tls_config(
                "ssl_min_protocol_version TLSv1.3 is above ssl_max_protocol_version TLSv1.2"
                    .to_owned(),
            ));
        }

        // sslmode=disable never uses TLS: like libpq, read no TLS file.
        let disabled = mode == SslMode::Disable;
        let bundle = match self.roots {
            None => None,
            Some(RootSource::Bundle(b)) => Some(b),
            Some(RootSource::File(_)) if disabled => None,
            Some(RootSource::File(path)) => Some(CaBundle::from_file(&path)?),
        };
        if bundle.is_none()
            && matches!(mode, SslMode::VerifyCa | SslMode::VerifyFull)
            && !self.accept_any
        {
            return Err(tls_config(format!(
                "sslmode \"{mode}\" needs trusted CAs: set sslrootcert to a CA file (or \"system\" \
                 for publicly trusted servers); ~/.postgresql/root.crt is not read implicitly"
            )));
        }

        let chain = match (&bundle, self.accept_any) {
            (Some(bundle), false) => {
                let store = Arc::new(bundle.root_store()?);
                let mut builder =
                    WebPkiServerVerifier::builder_with_provider(store, provider.clone());
                let mut crls = Vec::new();
                if let Some(crl_path) = &self.crl {
                    crls.extend(read_crls(crl_path)?);
                }
                if let Some(dir) = &self.crl_dir {
                    crls.extend(read_crl_dir(dir)?);
                }
                if !crls.is_empty() {
                    builder = builder.with_crls(crls);
                }
                Some(builder.build().map_err(|e| Error::TlsConfig {
                    reason: format!("{}: cannot build the certificate verifier", bundle.origin()),
                    source: Some(Box::new(e)),
                })?)
            }
            _ => None,
        };
        let name = match (mode, &chain) {
            (SslMode::VerifyFull, Some(_)) => Some(self.name_check.clone()),
            _ => None,
        };

        let client_cert = match (&self.client_cert, &self.client_key) {
            _ if disabled => None,
            (None, None) => None,
            (None, Some(key)) => {
                return Err(tls_config(format!(
                    "client key {} given without a client certificate (sslcert)",
                    key.display()
                )))
            }
            (Some(cert), None) => {
                return Err(tls_config(format!(
                    "client certificate {} given without its key (sslkey)",
                    cert.display()
                )))
            }
            (Some(cert), Some(key)) => Some(Arc::new(load_client_cert(cert, key, &provider)?)),
        };

        let versions: &'static [&'static SupportedProtocolVersion] = if self.min_tls13 {
            TLS13_ONLY
        } else if self.max_tls12 {
            TLS12_ONLY
        } else {
            rustls::DEFAULT_VERSIONS
        };

        let connector = TlsConnector {
            mode,
            negotiation: self.negotiation,
            policy: Arc::new(VerifyPolicy {
                chain,
                name,
                provider,
            }),
            client_cert,
            versions,
            sni: self.sni.unwrap_or(true),
            bundle,
        };
        // Fail now rather than per connection if rustls refuses the combination.
        connector.client_config("localhost", Recorder::default())?;
        Ok(connector)
    }
}

/// A TLS policy for connections: `sslmode`, trusted CAs, client certificate, name check.
/// Cheap to clone. Make one per DSN with [`TlsConnector::from_dsn`] (or
/// [`TlsConnector::builder`]), then one [`HostTlsConnect`] per connection with
/// [`TlsConnector::for_host`]. It also implements `tokio_postgres`'s `MakeTlsConnect`, for code
/// that uses `tokio_postgres::Config::connect` directly (see
/// [`TlsConnector::tokio_postgres_ssl_mode`] for what that path cannot express).
#[derive(Clone)]
pub struct TlsConnector {
    mode: SslMode,
    negotiation: SslNegotiation,
    policy: Arc<VerifyPolicy>,
    client_cert: Option<Arc<CertifiedKey>>,
    versions: &'static [&'static SupportedProtocolVersion],
    sni: bool,
    bundle: Option<CaBundle>,
}

impl fmt::Debug for TlsConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConnector")
            .field("ssl_mode", &self.mode)
            .field("ssl_negotiation", &self.negotiation)
            .field("verification", &self.verification())
            .field("roots", &self.bundle.as_ref().map(CaBundle::origin))
            .field("client_certificate", &self.client_cert.is_some())
            .field("sni", &self.sni)
            .finish()
    }
}

impl TlsConnector {
    /// A builder with libpq's defaults (`sslmode=prefer`, no root file).
    pub fn builder() -> TlsConnectorBuilder {
        TlsConnectorBuilder::default()
    }

    /// The builder set up from a DSN's TLS keywords (`sslmode`, `sslrootcert`, `sslcert`,
    /// `sslkey`, `sslcrl`, `sslnegotiation`, `sslsni`, `ssl_min_protocol_version`,
    /// `ssl_max_protocol_version`), to adjust before building.
    pub fn builder_from_dsn(dsn: &Dsn) -> Result<TlsConnectorBuilder> {
        let mut b = TlsConnectorBuilder::default();
        // An explicit sslmode; without one, build() applies libpq's default (which depends on
        // sslrootcert=system).
        if let Some(mode) = dsn.explicit_ssl_mode() {
            b = b.with_ssl_mode(mode);
        }
        if let Some(root) = dsn.ssl_root_cert() {
            b = b.with_root_cert(root);
        }
        if let Some(cert) = dsn.ssl_cert() {
            b = b.with_client_cert_file(cert);
        }
        if let Some(key) = dsn.ssl_key() {
            b = b.with_client_key_file(key);
        }
        if let Some(crl) = dsn.ssl_crl() {
            b = b.with_crl_file(crl);
        }
        if let Some(dir) = dsn.ssl_crl_dir() {
            b = b.with_crl_dir(dir);
        }
        b = b.with_ssl_negotiation(dsn.ssl_negotiation());
        // libpq sends SNI when sslsni starts with '1' (its default).
        if dsn.get("sslsni").is_some_and(|v| !v.starts_with('1')) {
            b = b.with_sni(false);
        }
        match dsn.get("ssl_min_protocol_version") {
            None | Some("") | Some("TLSv1") | Some("TLSv1.1") | Some("TLSv1.2") => {}
            Some("TLSv1.3") => b = b.with_tls13_only(),
            Some(other) => {
                return Err(Error::InvalidDsn {
                    field: Some("ssl_min_protocol_version".to_owned()),
                    reason: format!("invalid ssl_min_protocol_version value: {other:?}"),
                })
            }
        }
        match dsn.get("ssl_max_protocol_version") {
            None | Some("") | Some("TLSv1.3") => {}
            Some("TLSv1.2") => b = b.with_tls12_only(),
            Some(v @ ("TLSv1" | "TLSv1.1")) => {
                return Err(tls_config(format!(
                "ssl_max_protocol_version {v} is below TLS 1.2, which this client does not speak"
            )))
            }
            Some(other) => {
                return Err(Error::InvalidDsn {
                    field: Some("ssl_max_protocol_version".to_owned()),
                    reason: format!("invalid ssl_max_protocol_version value: {other:?}"),
                })
            }
        }
        Ok(b)
    }

    /// The connector for a DSN's TLS keywords (see [`TlsConnector::builder_from_dsn`]).
    pub fn from_dsn(dsn: &Dsn) -> Result<Self> {
        Self::builder_from_dsn(dsn)?.build()
    }

    /// The effective `sslmode`.
    pub fn ssl_mode(&self) -> SslMode {
        self.mode
    }

    /// The effective `sslnegotiation`.
    pub fn ssl_negotiation(&self) -> SslNegotiation {
        self.negotiation
    }

    /// What a TLS session made by this connector checks.
    pub fn verification(&self) -> Verification {
        self.policy.verification()
    }

    /// The trusted CAs, when given.
    pub fn ca_bundle(&self) -> Option<&CaBundle> {
        self.bundle.as_ref()
    }

    /// The name check `verify-full` makes (`None` for other modes, which check no name).
    pub fn server_name_check(&self) -> Option<&ServerNameCheck> {
        self.policy.name.as_ref()
    }

    /// Whether a client certificate is presented.
    pub fn has_client_certificate(&self) -> bool {
        self.client_cert.is_some()
    }

    /// The closest `tokio_postgres` mode, for use with `tokio_postgres::Config::connect`:
    /// `disable` → `Disable`; `allow`, `prefer` → `Prefer` (so `allow` becomes TLS-first);
    /// `require`, `verify-*` → `Require`. [`crate::connect::connect`] has the exact libpq
    /// behaviour, retries included.
    pub fn tokio_postgres_ssl_mode(&self) -> tokio_postgres::config::SslMode {
        match self.mode {
            SslMode::Disable => tokio_postgres::config::SslMode::Disable,
            SslMode::Allow | SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => {
                tokio_postgres::config::SslMode::Require
            }
        }
    }

    /// The connector for one connection to `host` (the DSN's host name, not `hostaddr`: it is
    /// what the name check and SNI use).
    pub fn for_host(&self, host: &str) -> Result<HostTlsConnect> {
        let recorder = Recorder::default();
        let config = self.client_config(host, recorder.clone())?;
        Ok(HostTlsConnect {
            config: Arc::new(config),
            server_name: rustls_server_name(host),
            direct: self.negotiation == SslNegotiation::Direct,
            verification: self.verification(),
            recorder,
        })
    }

    fn client_config(&self, host: &str, recorder: Recorder) -> Result<ClientConfig> {
        let verifier: Arc<dyn ServerCertVerifier> = Arc::new(PgVerifier {
            policy: self.policy.clone(),
            host: host.to_owned(),
            recorder,
        });
        let builder = ClientConfig::builder_with_provider(self.policy.provider.clone())
            .with_protocol_versions(self.versions)
            .map_err(|e| Error::TlsConfig {
                reason: "unsupported TLS protocol versions".to_owned(),
                source: Some(Box::new(e)),
            })?
            .dangerous()
            .with_custom_certificate_verifier(verifier);
        let mut config = match &self.client_cert {
            Some(key) => builder.with_client_cert_resolver(Arc::new(ClientCert(key.clone()))),
            None => builder.with_no_client_auth(),
        };
        // libpq 17 always offers ALPN "postgresql"; older servers ignore it.
        config.alpn_protocols = vec![stream::ALPN_POSTGRESQL.to_vec()];
        // libpq sends SNI for host names only, unless sslsni=0.
        config.enable_sni = self.sni && host.parse::<std::net::IpAddr>().is_err();
        Ok(config)
    }
}

impl<S> tokio_postgres::tls::MakeTlsConnect<S> for TlsConnector
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    type Stream = PgTlsStream<S>;
    type TlsConnect = HostTlsConnect;
    type Error = Error;

    fn make_tls_connect(&mut self, domain: &str) -> Result<HostTlsConnect> {
        self.for_host(domain)
    }
}

/// The rustls name: an IP address, a DNS name, or (for names rustls refuses, such as ones with
/// characters DNS does not allow) a placeholder that sends no SNI. The name check never uses it.
fn rustls_server_name(host: &str) -> ServerName<'static> {
    if let Ok(ip) = host.parse::<std::net::IpAddr>() {
        return ServerName::IpAddress(ip.into());
    }
    ServerName::try_from(host.to_owned()).unwrap_or(ServerName::IpAddress(
        std::net::IpAddr::from([0, 0, 0, 0]).into(),
    ))
}

static TLS13_ONLY: &[&SupportedProtocolVersion] = &[&rustls::version::TLS13];
static TLS12_ONLY: &[&SupportedProtocolVersion] = &[&rustls::version::TLS12];

fn tls_config(reason: String) -> Error {
    Error::TlsConfig {
        reason,
        source: None,
    }
}

/// Presents the client certificate whatever CAs the server hints at (as libpq/OpenSSL do).
#[derive(Debug)]
struct ClientCert(Arc<CertifiedKey>);

impl ResolvesClientCert for ClientCert {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _sigschemes: &[SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }

    fn has_certs(&self) -> bool {
        true
    }
}

fn load_client_cert(cert: &Path, key: &Path, provider: &CryptoProvider) -> Result<CertifiedKey> {
    let cert_data = std::fs::read(cert).map_err(|e| Error::TlsConfig {
        reason: format!("cannot read client certificate file {}", cert.display()),
        source: Some(Box::new(e)),
    })?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_data)
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| Error::TlsConfig {
            reason: format!("client certificate file {}: malformed PEM", cert.display()),
            source: Some(Box::new(e)),
        })?;
    if chain.is_empty() {
        return Err(tls_config(format!(
            "client certificate file {}: no certificate found",
            cert.display()
        )));
    }

    check_key_permissions(key)?;
    let key_data = std::fs::read(key).map_err(|e| Error::TlsConfig {
        reason: format!("cannot read client key file {}", key.display()),
        source: Some(Box::new(e)),
    })?;
    let private_key = match PrivateKeyDer::from_pem_slice(&key_data) {
        Ok(k) => k,
        Err(e) => {
            let encrypted = key_data
                .windows(b"ENCRYPTED".len())
                .any(|w| w == b"ENCRYPTED");
            let reason = if encrypted {
                format!(
                    "client key file {} is encrypted; encrypted keys (sslpassword) are not supported",
                    key.display()
                )
            } else {
                format!("client key file {}: no usable private key", key.display())
            };
            return Err(Error::TlsConfig {
                reason,
                source: Some(Box::new(e)),
            });
        }
    };
    CertifiedKey::from_der(chain, private_key, provider).map_err(|e| Error::TlsConfig {
        reason: format!(
            "client key file {} cannot be used with certificate {} (unsupported or not matching)",
            key.display(),
            cert.display()
        ),
        source: Some(Box::new(e)),
    })
}

/// libpq refuses a key file that group or others can read (unless owned by root and at most
/// group-readable).
#[cfg(unix)]
fn check_key_permissions(key: &Path) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(key).map_err(|e| Error::TlsConfig {
        reason: format!("cannot read client key file {}", key.display()),
        source: Some(Box::new(e)),
    })?;
    if !meta.is_file() {
        return Err(tls_config(format!(
            "client key file {} is not a regular file",
            key.display()
        )));
    }
    let mode = meta.mode();
    let too_open = if meta.uid() == 0 {
        mode & 0o037 != 0
    } else {
        mode & 0o077 != 0
    };
    if too_open {
        return Err(tls_config(format!(
            "client key file {} has group or world access; permissions should be u=rw (0600) \
             or less, or u=rw,g=r (0640) if owned by root",
            key.display()
        )));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_key_permissions(_key: &Path) -> Result<()> {
    Ok(())
}

fn read_crls(path: &Path) -> Result<Vec<CertificateRevocationListDer<'static>>> {
    let data = std::fs::read(path).map_err(|e| Error::TlsConfig {
        reason: format!("cannot read CRL file {}", path.display()),
        source: Some(Box::new(e)),
    })?;
    let crls: Vec<CertificateRevocationListDer<'static>> =
        CertificateRevocationListDer::pem_slice_iter(&data)
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| Error::TlsConfig {
                reason: format!("CRL file {}: malformed PEM", path.display()),
                source: Some(Box::new(e)),
            })?;
    if !crls.is_empty() {
        return Ok(crls);
    }
    // Not PEM: a single DER CRL (an ASN.1 SEQUENCE).
    if data.first() == Some(&0x30) {
        return Ok(vec![CertificateRevocationListDer::from(data)]);
    }
    Err(tls_config(format!(
        "CRL file {}: no certificate revocation list found",
        path.display()
    )))
}

fn read_crl_dir(dir: &Path) -> Result<Vec<CertificateRevocationListDer<'static>>> {
    let unreadable = |e: std::io::Error| Error::TlsConfig {
        reason: format!("cannot read CRL directory {}", dir.display()),
        source: Some(Box::new(e)),
    };
    let mut crls = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(unreadable)? {
        let path = entry.map_err(unreadable)?.path();
        if !path.is_file() {
            continue;
        }
        let data = std::fs::read(&path).map_err(|e| Error::TlsConfig {
            reason: format!("cannot read CRL file {}", path.display()),
            source: Some(Box::new(e)),
        })?;
        // Files that are not PEM CRLs (a README, a hash link to a certificate) are skipped.
        crls.extend(
            CertificateRevocationListDer::pem_slice_iter(&data).filter_map(|item| item.ok()),
        );
    }
    Ok(crls)
}

#[cfg(test)]
mod tests;

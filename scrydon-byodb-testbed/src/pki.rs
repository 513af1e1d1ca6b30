//! Test certificate authorities and the certificates they issue, generated in-process with rcgen
//! (ECDSA P-256 keys, PKCS#8 PEM).

use std::fmt;
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use time::OffsetDateTime;

use crate::error::{Error, Result};
use crate::fsutil;

const ORGANIZATION: &str = "scrydon-testbed";
const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(86_400);

/// When a certificate is valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Validity {
    /// Valid from one hour ago for this many days (the default is 365).
    Days(u32),
    /// Already expired: valid from 30 days ago until yesterday.
    Expired,
    /// Not valid yet: valid from tomorrow for a year.
    NotYetValid,
    /// Exactly this window.
    Between {
        /// Start of validity.
        not_before: SystemTime,
        /// End of validity.
        not_after: SystemTime,
    },
}

impl Default for Validity {
    fn default() -> Self {
        Validity::Days(365)
    }
}

impl Validity {
    /// The `(not_before, not_after)` window this validity stands for, computed now.
    pub fn window(&self) -> (SystemTime, SystemTime) {
        let now = SystemTime::now();
        match *self {
            Validity::Days(days) => (now - HOUR, now + DAY * days),
            Validity::Expired => (now - DAY * 30, now - DAY),
            Validity::NotYetValid => (now + DAY, now + DAY * 366),
            Validity::Between {
                not_before,
                not_after,
            } => (not_before, not_after),
        }
    }

    fn apply(&self, params: &mut CertificateParams) {
        let (not_before, not_after) = self.window();
        params.not_before = OffsetDateTime::from(not_before);
        params.not_after = OffsetDateTime::from(not_after);
    }
}

/// What to put in a server certificate.
///
/// With both `dns_sans` and `ip_sans` empty the certificate has **no** SubjectAltName extension
/// at all (only the common name), which is what libpq's CN fallback and rustls' refusal of
/// CN-only certificates are tested with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerCertSpec {
    /// Subject common name.
    pub common_name: String,
    /// DNS names for the SubjectAltName extension.
    pub dns_sans: Vec<String>,
    /// IP addresses for the SubjectAltName extension.
    pub ip_sans: Vec<IpAddr>,
    /// Validity window.
    pub validity: Validity,
}

impl Default for ServerCertSpec {
    fn default() -> Self {
        Self::localhost()
    }
}

impl ServerCertSpec {
    /// CN `localhost`, DNS SAN `localhost`, IP SANs `127.0.0.1` and `::1`, valid for a year: what
    /// a test cluster presents by default, so `sslmode=verify-full` works with host `localhost`,
    /// `127.0.0.1` or `::1`.
    pub fn localhost() -> Self {
        Self {
            common_name: "localhost".to_owned(),
            dns_sans: vec!["localhost".to_owned()],
            ip_sans: vec![
                IpAddr::from([127, 0, 0, 1]),
                IpAddr::from([0, 0, 0, 0, 0, 0, 0, 1]),
            ],
            validity: Validity::default(),
        }
    }

    /// A certificate with only a common name and no SubjectAltName extension.
    pub fn cn_only(common_name: impl Into<String>) -> Self {
        Self {
            common_name: common_name.into(),
            dns_sans: Vec::new(),
            ip_sans: Vec::new(),
            validity: Validity::default(),
        }
    }

    /// Adds a DNS SubjectAltName.
    pub fn with_dns_san(mut self, name: impl Into<String>) -> Self {
        self.dns_sans.push(name.into());
        self
    }

    /// Adds an IP SubjectAltName.
    pub fn with_ip_san(mut self, ip: IpAddr) -> Self {
        self.ip_sans.push(ip);
        self
    }

    /// Sets the validity window.
    pub fn with_validity(mut self, validity: Validity) -> Self {
        self.validity = validity;
        self
    }
}

/// A certificate and its private key, as PEM.
#[derive(Clone)]
pub struct IssuedCert {
    cert_pem: String,
    chain_pem: String,
    key_pem: String,
    cert_der: Vec<u8>,
}

impl fmt::Debug for IssuedCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedCert")
            .field("cert_pem", &self.cert_pem)
            .field("key_pem", &"<redacted>")
            .finish()
    }
}

impl IssuedCert {
    /// The certificate alone (PEM).
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The certificate followed by the intermediate CA certificates up to (not including) the
    /// root: what a server or client presents. Equal to [`cert_pem`](Self::cert_pem) when issued
    /// by a root.
    pub fn chain_pem(&self) -> &str {
        &self.chain_pem
    }

    /// The private key, PKCS#8 PEM.
    pub fn key_pem(&self) -> &str {
        &self.key_pem
    }

    /// The certificate, DER.
    pub fn cert_der(&self) -> &[u8] {
        &self.cert_der
    }

    /// Writes [`chain_pem`](Self::chain_pem) to `cert_path` (mode 0644) and the key to `key_path`
    /// (mode 0600, as libpq and PostgreSQL require).
    pub fn write_files(&self, cert_path: &Path, key_path: &Path) -> Result<()> {
        fsutil::write_file(cert_path, self.chain_pem.as_bytes(), 0o644)?;
        fsutil::write_file(key_path, self.key_pem.as_bytes(), 0o600)
    }
}

struct CaInner {
    common_name: String,
    params: CertificateParams,
    key: KeyPair,
    cert_pem: String,
    cert_der: Vec<u8>,
    /// The root at the top of this CA's chain (this CA's own certificate for a root).
    root_pem: String,
    /// This CA's certificate and its parents' below the root (empty for a root).
    intermediates_pem: String,
}

/// A certificate authority generated at test time (ECDSA P-256, valid from an hour ago for ten
/// years). Cheap to clone (shared).
#[derive(Clone)]
pub struct TestCa {
    inner: Arc<CaInner>,
}

impl fmt::Debug for TestCa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestCa")
            .field("common_name", &self.common_name())
            .field("is_root", &self.is_root())
            .finish()
    }
}

fn distinguished_name(common_name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, ORGANIZATION);
    dn.push(DnType::CommonName, common_name);
    dn
}

fn ca_params(common_name: &str) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = distinguished_name(common_name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    Validity::Days(3650).apply(&mut params);
    params
}

impl TestCa {
    /// A new self-signed root CA with this common name.
    pub fn new(common_name: &str) -> Result<Self> {
        let params = ca_params(common_name);
        let key = KeyPair::generate()?;
        let cert = params.self_signed(&key)?;
        let cert_pem = cert.pem();
        Ok(Self {
            inner: Arc::new(CaInner {
                common_name: common_name.to_owned(),
                cert_der: cert.der().to_vec(),
                root_pem: cert_pem.clone(),
                intermediates_pem: String::new(),
                cert_pem,
                params,
                key,
            }),
        })
    }

    fn issuer(&self) -> Issuer<'_, &KeyPair> {
        Issuer::from_params(&self.inner.params, &self.inner.key)
    }

    /// This CA's common name.
    pub fn common_name(&self) -> &str {
        &self.inner.common_name
    }

    /// Whether this is a root (self-signed) CA rather than an intermediate.
    pub fn is_root(&self) -> bool {
        self.inner.intermediates_pem.is_empty()
    }

    /// This CA's own certificate (PEM).
    pub fn cert_pem(&self) -> &str {
        &self.inner.cert_pem
    }

    /// This CA's own certificate (DER).
    pub fn cert_der(&self) -> &[u8] {
        &self.inner.cert_der
    }

    /// The root certificate at the top of this CA's chain: the trust anchor a client puts in
    /// `sslrootcert`. The same as [`cert_pem`](Self::cert_pem) for a root CA.
    pub fn root_pem(&self) -> &str {
        &self.inner.root_pem
    }

    /// This CA's private key (PKCS#8 PEM), for tests that sign with it themselves.
    pub fn key_pem(&self) -> String {
        self.inner.key.serialize_pem()
    }

    /// Writes this CA's own certificate to `path` (mode 0644).
    pub fn write_pem(&self, path: &Path) -> Result<()> {
        fsutil::write_file(path, self.inner.cert_pem.as_bytes(), 0o644)
    }

    /// Writes the root certificate of this CA's chain to `path` (mode 0644).
    pub fn write_root_pem(&self, path: &Path) -> Result<()> {
        fsutil::write_file(path, self.inner.root_pem.as_bytes(), 0o644)
    }

    /// An intermediate CA signed by this one. Certificates it issues carry it in their
    /// [`IssuedCert::chain_pem`], and [`root_pem`](Self::root_pem) stays this chain's root.
    pub fn issue_intermediate(&self, common_name: &str) -> Result<TestCa> {
        let mut params = ca_params(common_name);
        params.use_authority_key_identifier_extension = true;
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &self.issuer())?;
        let cert_pem = cert.pem();
        let intermediates_pem = format!("{cert_pem}{}", self.inner.intermediates_pem);
        Ok(Self {
            inner: Arc::new(CaInner {
                common_name: common_name.to_owned(),
                cert_der: cert.der().to_vec(),
                root_pem: self.inner.root_pem.clone(),
                intermediates_pem,
                cert_pem,
                params,
                key,
            }),
        })
    }

    fn issue_leaf(&self, mut params: CertificateParams) -> Result<IssuedCert> {
        params.is_ca = IsCa::ExplicitNoCa;
        params.use_authority_key_identifier_extension = true;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &self.issuer())?;
        let cert_pem = cert.pem();
        Ok(IssuedCert {
            chain_pem: format!("{cert_pem}{}", self.inner.intermediates_pem),
            cert_pem,
            key_pem: key.serialize_pem(),
            cert_der: cert.der().to_vec(),
        })
    }

    /// A server certificate (extended key usage serverAuth) as described by `spec`.
    pub fn issue_server(&self, spec: &ServerCertSpec) -> Result<IssuedCert> {
        let mut params = CertificateParams::default();
        params.distinguished_name = distinguished_name(&spec.common_name);
        for name in &spec.dns_sans {
            let ia5 = name
                .clone()
                .try_into()
                .map_err(|e| Error::Invalid(format!("DNS SAN {name:?}: {e}")))?;
            params.subject_alt_names.push(SanType::DnsName(ia5));
        }
        for ip in &spec.ip_sans {
            params.subject_alt_names.push(SanType::IpAddress(*ip));
        }
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        spec.validity.apply(&mut params);
        self.issue_leaf(params)
    }

    /// A client certificate (extended key usage clientAuth) with this common name (the
    /// PostgreSQL user name for `clientcert=verify-full` and `cert` authentication), valid for a
    /// year.
    pub fn issue_client(&self, common_name: &str) -> Result<IssuedCert> {
        self.issue_client_with(common_name, Validity::default())
    }

    /// A client certificate with an explicit validity window.
    pub fn issue_client_with(&self, common_name: &str, validity: Validity) -> Result<IssuedCert> {
        let mut params = CertificateParams::default();
        params.distinguished_name = distinguished_name(common_name);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        validity.apply(&mut params);
        self.issue_leaf(params)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;
    use x509_parser::extensions::GeneralName;
    use x509_parser::oid_registry::OID_X509_EXT_SUBJECT_ALT_NAME;
    use x509_parser::prelude::{parse_x509_certificate, X509Certificate};

    fn parse(der: &[u8]) -> X509Certificate<'_> {
        parse_x509_certificate(der).expect("valid DER").1
    }

    fn common_name(cert: &X509Certificate<'_>) -> String {
        cert.subject()
            .iter_common_name()
            .next()
            .and_then(|cn| cn.as_str().ok())
            .expect("a CN")
            .to_owned()
    }

    #[test]
    fn cn_only_certificate_has_no_subject_alt_name_extension() {
        let ca = TestCa::new("unit CA").expect("CA");
        let cert = ca
            .issue_server(&ServerCertSpec::cn_only("db.internal"))
            .expect("cert");
        let parsed = parse(cert.cert_der());
        assert_eq!(common_name(&parsed), "db.internal");
        assert!(parsed
            .extensions()
            .iter()
            .all(|ext| ext.oid != OID_X509_EXT_SUBJECT_ALT_NAME));
        assert!(parsed.subject_alternative_name().expect("parses").is_none());
        assert!(!parsed.is_ca());
    }

    #[test]
    fn localhost_certificate_names_localhost_and_loopback_addresses() {
        let ca = TestCa::new("unit CA").expect("CA");
        let cert = ca
            .issue_server(&ServerCertSpec::localhost().with_dns_san("db.test"))
            .expect("cert");
        let parsed = parse(cert.cert_der());
        let san = parsed
            .subject_alternative_name()
            .expect("parses")
            .expect("has SAN");
        let mut dns = Vec::new();
        let mut ips = Vec::new();
        for name in &san.value.general_names {
            match name {
                GeneralName::DNSName(d) => dns.push((*d).to_owned()),
                GeneralName::IPAddress(ip) => ips.push(ip.to_vec()),
                _ => {}
            }
        }
        assert_eq!(dns, ["localhost", "db.test"]);
        assert_eq!(
            ips,
            [
                vec![127, 0, 0, 1],
                [0u8; 15].iter().copied().chain([1]).collect()
            ]
        );
        assert!(parse(ca.cert_der()).is_ca());
    }

    #[test]
    fn expired_and_not_yet_valid_windows() {
        let ca = TestCa::new("unit CA").expect("CA");
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let expired = ca
            .issue_server(&ServerCertSpec::localhost().with_validity(Validity::Expired))
            .expect("cert");
        let validity = parse(expired.cert_der()).validity().clone();
        assert!(validity.not_after.timestamp() < now);
        assert!(validity.not_before.timestamp() < validity.not_after.timestamp());

        let future = ca
            .issue_client_with("app", Validity::NotYetValid)
            .expect("cert");
        assert!(parse(future.cert_der()).validity().not_before.timestamp() > now);
    }

    #[test]
    fn intermediate_chain_verifies_against_the_root_only() {
        let root = TestCa::new("unit root").expect("root");
        let intermediate = root.issue_intermediate("unit intermediate").expect("int");
        assert!(!intermediate.is_root());
        assert_eq!(intermediate.root_pem(), root.cert_pem());
        let leaf = intermediate
            .issue_server(&ServerCertSpec::localhost())
            .expect("leaf");
        assert!(leaf.chain_pem().starts_with(leaf.cert_pem()));
        assert!(leaf.chain_pem().ends_with(intermediate.cert_pem()));
        assert!(leaf.key_pem().contains("PRIVATE KEY"));

        let dir = tempfile::tempdir().expect("tempdir");
        let root_path = dir.path().join("root.crt");
        let chain_path = dir.path().join("chain.crt");
        let leaf_path = dir.path().join("leaf.crt");
        let key_path = dir.path().join("leaf.key");
        root.write_root_pem(&root_path).expect("write root");
        intermediate.write_pem(&chain_path).expect("write int");
        leaf.write_files(&leaf_path, &key_path).expect("write leaf");
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(&key_path).expect("stat").permissions(),
        );
        assert_eq!(mode & 0o777, 0o600);

        let verify = |untrusted: Option<&Path>| {
            let mut cmd = Command::new("openssl");
            cmd.arg("verify").arg("-CAfile").arg(&root_path);
            if let Some(u) = untrusted {
                cmd.arg("-untrusted").arg(u);
            }
            let leaf_only = dir.path().join("leaf-only.crt");
            std::fs::write(&leaf_only, leaf.cert_pem()).expect("write");
            cmd.arg(&leaf_only)
                .output()
                .expect("run openssl")
                .status
                .success()
        };
        assert!(verify(Some(&chain_path)));
        assert!(!verify(None));
    }

    #[test]
    fn client_certificate_carries_the_user_as_common_name() {
        let ca = TestCa::new("unit CA").expect("CA");
        let cert = ca.issue_client("app_user").expect("cert");
        assert_eq!(common_name(&parse(cert.cert_der())), "app_user");
        assert_eq!(cert.chain_pem(), cert.cert_pem());
    }
}

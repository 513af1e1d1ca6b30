//! Trusted CA certificates: a parsed PEM bundle, or the public (webpki/Mozilla) roots.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;

use super::x509::{summarize, CertificateSummary};
use crate::{Error, Result};

/// A set of trusted CA certificates: what `sslrootcert` names.
///
/// Either a bundle parsed from PEM (one or several `CERTIFICATE` sections, e.g. a cloud
/// provider's regional CA bundle) or [`CaBundle::system`], the public webpki/Mozilla roots that
/// libpq 16+ calls `sslrootcert=system`. A bundle given to a connector *replaces* the trust
/// store; it is never merged with the public roots.
#[derive(Clone)]
pub struct CaBundle {
    kind: BundleKind,
    origin: String,
}

#[derive(Clone)]
enum BundleKind {
    System,
    Certificates(Arc<Vec<CertificateDer<'static>>>),
}

impl fmt::Debug for CaBundle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CaBundle")
            .field("origin", &self.origin)
            .field("system", &self.is_system())
            .field("len", &self.len())
            .finish()
    }
}

impl CaBundle {
    /// Parses a PEM bundle: every `CERTIFICATE` section is a trusted CA (sections of other
    /// kinds are skipped). Fails when the PEM is malformed, holds no certificate, or one of the
    /// certificates cannot be used as a trust anchor.
    pub fn from_pem(pem: impl AsRef<[u8]>) -> Result<Self> {
        Self::parse(pem.as_ref(), "PEM data".to_owned())
    }

    /// Reads and parses a PEM bundle file (see [`CaBundle::from_pem`]). Errors name the file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let data = std::fs::read(path).map_err(|e| Error::TlsConfig {
            reason: format!("cannot read root certificate file {}", path.display()),
            source: Some(Box::new(e)),
        })?;
        Self::parse(&data, format!("root certificate file {}", path.display()))
    }

    /// Builds a bundle from DER-encoded certificates (e.g. fetched from a provider's API).
    /// Fails when the list is empty or a certificate cannot be used as a trust anchor.
    pub fn from_der(certificates: Vec<Vec<u8>>) -> Result<Self> {
        let certs: Vec<CertificateDer<'static>> =
            certificates.into_iter().map(CertificateDer::from).collect();
        Self::from_certificates(certs, "DER certificates".to_owned())
    }

    /// The public webpki/Mozilla roots (`sslrootcert=system`). Only `verify-full` may be used
    /// with them (libpq 16+ rule): anyone can get a publicly trusted certificate for a name they
    /// control, so a chain check alone proves nothing.
    pub fn system() -> Self {
        CaBundle {
            kind: BundleKind::System,
            origin: "system roots (webpki/Mozilla)".to_owned(),
        }
    }

    /// Number of CA certificates (for [`CaBundle::system`], the number of public roots).
    pub fn len(&self) -> usize {
        match &self.kind {
            BundleKind::System => webpki_roots::TLS_SERVER_ROOTS.len(),
            BundleKind::Certificates(certs) => certs.len(),
        }
    }

    /// Whether the bundle holds no certificate (never true for a bundle built by this type's
    /// constructors; present for API completeness).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether this is [`CaBundle::system`].
    pub fn is_system(&self) -> bool {
        matches!(self.kind, BundleKind::System)
    }

    /// Where the bundle came from (a file name, "PEM data", "system roots ...").
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Subject, issuer and validity of each certificate of a parsed bundle (empty for
    /// [`CaBundle::system`]). Useful for CA-expiry checks.
    pub fn certificates(&self) -> Vec<CertificateSummary> {
        match &self.kind {
            BundleKind::System => Vec::new(),
            BundleKind::Certificates(certs) => {
                certs.iter().filter_map(|c| summarize(c.as_ref())).collect()
            }
        }
    }

    /// The DER certificates of a parsed bundle (empty for [`CaBundle::system`]).
    pub fn der_certificates(&self) -> Vec<Vec<u8>> {
        match &self.kind {
            BundleKind::System => Vec::new(),
            BundleKind::Certificates(certs) => certs.iter().map(|c| c.to_vec()).collect(),
        }
    }

    fn parse(pem: &[u8], origin: String) -> Result<Self> {
        let mut certs = Vec::new();
        for item in CertificateDer::pem_slice_iter(pem) {
            match item {
                Ok(cert) => certs.push(cert),
                Err(e) => {
                    return Err(Error::TlsConfig {
                        reason: format!("{origin}: malformed PEM"),
                        source: Some(Box::new(e)),
                    })
                }
            }
        }
        Self::from_certificates(certs, origin)
    }

    fn from_certificates(certs: Vec<CertificateDer<'static>>, origin: String) -> Result<Self> {
        if certs.is_empty() {
            return Err(Error::TlsConfig {
                reason: format!("{origin}: no CA certificate found"),
                source: None,
            });
        }
        for (index, cert) in certs.iter().enumerate() {
            if let Err(e) = webpki_anchor_check(cert) {
                return Err(Error::TlsConfig {
                    reason: format!(
                        "{origin}: certificate #{} cannot be used as a trusted CA",
                        index + 1
                    ),
                    source: Some(Box::new(e)),
                });
            }
        }
        Ok(CaBundle {
            kind: BundleKind::Certificates(Arc::new(certs)),
            origin,
        })
    }

    /// The rustls root store for this bundle.
    pub(crate) fn root_store(&self) -> Result<RootCertStore> {
        match &self.kind {
            BundleKind::System => Ok(RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            }),
            BundleKind::Certificates(certs) => {
                let mut store = RootCertStore::empty();
                for cert in certs.iter() {
                    store.add(cert.clone()).map_err(|e| Error::TlsConfig {
                        reason: format!("{}: unusable CA certificate", self.origin),
                        source: Some(Box::new(e)),
                    })?;
                }
                Ok(store)
            }
        }
    }
}

fn webpki_anchor_check(cert: &CertificateDer<'static>) -> std::result::Result<(), rustls::Error> {
    let mut store = RootCertStore::empty();
    store.add(cert.clone())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;

    fn ca_pem(cn: &str) -> String {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, cn);
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let key = rcgen::KeyPair::generate().unwrap();
        params.self_signed(&key).unwrap().pem()
    }

    #[test]
    fn parses_a_bundle_of_several_cas() {
        let pem = format!("{}\n{}", ca_pem("one"), ca_pem("two"));
        let bundle = CaBundle::from_pem(pem).unwrap();
        assert_eq!(bundle.len(), 2);
        assert!(!bundle.is_system());
        let subjects: Vec<String> = bundle
            .certificates()
            .into_iter()
            .map(|c| c.subject)
            .collect();
        assert_eq!(subjects, vec!["CN=one".to_owned(), "CN=two".to_owned()]);
        assert_eq!(bundle.root_store().unwrap().len(), 2);
    }

    #[test]
    fn empty_or_garbage_is_a_tls_config_error() {
        let err = CaBundle::from_pem("").unwrap_err();
        assert!(matches!(err, Error::TlsConfig { .. }), "{err:?}");
        let err =
            CaBundle::from_pem("-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n")
                .unwrap_err();
        assert!(matches!(err, Error::TlsConfig { .. }), "{err:?}");
    }

    #[test]
    fn missing_file_error_names_the_file() {
        let err = CaBundle::from_file("/nonexistent/dir/root.crt").unwrap_err();
        match err {
            Error::TlsConfig { reason, source } => {
                assert!(reason.contains("/nonexistent/dir/root.crt"));
                assert!(source.is_some());
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn system_bundle_has_public_roots() {
        let bundle = CaBundle::system();
        assert!(bundle.is_system());
        assert!(bundle.len() > 50);
        assert!(bundle.root_store().unwrap().len() > 50);
    }
}

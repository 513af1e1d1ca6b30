//! The server-certificate verifier: libpq's rules, with the outcome recorded per connection.

use std::sync::{Arc, Mutex, MutexGuard};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

use super::x509::{check_host_name, common_name_equals, summarize, CertificateSummary, NameCheck};
use super::{ServerNameCheck, TlsInfo, Verification};
use crate::ConnectFailure;

/// What the verifier checks, shared by all connections of one connector.
#[derive(Debug)]
pub(crate) struct VerifyPolicy {
    /// The chain verifier; `None` means the certificate is not verified at all.
    pub(crate) chain: Option<Arc<WebPkiServerVerifier>>,
    /// The name check, when one is made (`verify-full`).
    pub(crate) name: Option<ServerNameCheck>,
    pub(crate) provider: Arc<CryptoProvider>,
}

impl VerifyPolicy {
    pub(crate) fn verification(&self) -> Verification {
        match (&self.chain, &self.name) {
            (None, _) => Verification::None,
            (Some(_), None) => Verification::Chain,
            (Some(_), Some(_)) => Verification::ChainAndName,
        }
    }
}

/// What one TLS session found out; filled by the verifier and the handshake.
#[derive(Debug, Default)]
pub(crate) struct SessionRecord {
    /// The handshake was started (the server accepted the SSLRequest, or direct TLS).
    pub(crate) handshake_started: bool,
    /// The server certificate, summarized.
    pub(crate) peer: Option<CertificateSummary>,
    /// Why the verifier refused the certificate.
    pub(crate) certificate_failure: Option<ConnectFailure>,
    /// The finished session.
    pub(crate) info: Option<TlsInfo>,
}

/// A handle on one connection's [`SessionRecord`].
#[derive(Debug, Clone, Default)]
pub(crate) struct Recorder(Arc<Mutex<SessionRecord>>);

impl Recorder {
    pub(crate) fn lock(&self) -> MutexGuard<'_, SessionRecord> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The per-connection verifier.
#[derive(Debug)]
pub(crate) struct PgVerifier {
    pub(crate) policy: Arc<VerifyPolicy>,
    /// The host name as given in the DSN (not `hostaddr`), for the name check.
    pub(crate) host: String,
    pub(crate) recorder: Recorder,
}

impl PgVerifier {
    fn refuse(&self, failure: ConnectFailure, error: rustls::Error) -> rustls::Error {
        self.recorder.lock().certificate_failure = Some(failure);
        error
    }
}

impl ServerCertVerifier for PgVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.recorder.lock().peer = summarize(end_entity.as_ref());

        let Some(chain) = &self.policy.chain else {
            // sslmode=require/prefer/allow without a root file (or the explicitly dangerous
            // builder option): libpq does not look at the certificate. Handshake signatures are
            // still verified below.
            return Ok(ServerCertVerified::assertion());
        };

        // WebPkiServerVerifier checks the chain (and CRLs) first, then the name against rustls'
        // idea of it; a name error therefore means the chain is good. The name is then checked
        // by libpq's rules below (CN fallback, IP SANs), or not at all for verify-ca.
        match chain.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Ok(_) => {}
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => {}
            Err(e) => return Err(self.refuse(certificate_failure(&e), e)),
        }

        let name_result = match &self.policy.name {
            None => NameCheck::Match,
            Some(ServerNameCheck::Hostname) => check_host_name(end_entity.as_ref(), &self.host),
            Some(ServerNameCheck::CommonNameEquals(expected)) => {
                common_name_equals(end_entity.as_ref(), expected)
            }
        };
        match name_result {
            NameCheck::Match => Ok(ServerCertVerified::assertion()),
            NameCheck::Mismatch => Err(self.refuse(
                ConnectFailure::CertificateNameMismatch,
                rustls::Error::InvalidCertificate(CertificateError::NotValidForName),
            )),
            NameCheck::Invalid => Err(self.refuse(
                ConnectFailure::CertificateNameMismatch,
                rustls::Error::InvalidCertificate(CertificateError::BadEncoding),
            )),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.policy.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.policy.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.policy
            .provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Classifies a certificate error by its variant.
pub(crate) fn certificate_failure(error: &rustls::Error) -> ConnectFailure {
    match error {
        rustls::Error::InvalidCertificate(e) => match e {
            CertificateError::Expired
            | CertificateError::ExpiredContext { .. }
            | CertificateError::NotValidYet
            | CertificateError::NotValidYetContext { .. } => ConnectFailure::CertificateExpired,
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                ConnectFailure::CertificateNameMismatch
            }
            // Revoked (by sslcrl), unknown revocation status, bad signature, unknown issuer...
            _ => ConnectFailure::CertificateUntrusted,
        },
        _ => ConnectFailure::TlsHandshake,
    }
}

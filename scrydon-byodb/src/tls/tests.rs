#![allow(clippy::unwrap_used)] // tests may unwrap

use std::io::Write;
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use rustls::client::danger::ServerCertVerifier;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_postgres::tls::{TlsConnect, TlsStream};

use super::*;

struct Ca {
    issuer: Issuer<'static, KeyPair>,
    pem: String,
}

fn ca(cn: &str) -> Ca {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, cn);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let key = KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    Ca {
        pem: cert.pem(),
        issuer: Issuer::new(params, key),
    }
}

struct Leaf {
    der: CertificateDer<'static>,
    pem: String,
    key_pem: String,
}

fn leaf(ca: &Ca, cn: &str, dns: &[&str], ips: &[&str], expired: bool) -> Leaf {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, cn);
    for d in dns {
        params
            .subject_alt_names
            .push(SanType::DnsName((*d).try_into().unwrap()));
    }
    for ip in ips {
        params
            .subject_alt_names
            .push(SanType::IpAddress(ip.parse().unwrap()));
    }
    if expired {
        params.not_before = rcgen::date_time_ymd(2020, 1, 1);
        params.not_after = rcgen::date_time_ymd(2021, 1, 1);
    }
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &ca.issuer).unwrap();
    Leaf {
        der: cert.der().clone(),
        pem: cert.pem(),
        key_pem: key.serialize_pem(),
    }
}

fn bundle(pems: &[&str]) -> CaBundle {
    CaBundle::from_pem(pems.concat()).unwrap()
}

/// Runs the per-connection verifier directly; returns the result and what it recorded.
fn verify(
    connector: &TlsConnector,
    host: &str,
    cert: &CertificateDer<'static>,
) -> (bool, Option<ConnectFailure>) {
    let recorder = Recorder::default();
    let verifier = PgVerifier {
        policy: connector.policy.clone(),
        host: host.to_owned(),
        recorder: recorder.clone(),
    };
    let name = rustls_server_name(host);
    let ok = verifier
        .verify_server_cert(cert, &[], &name, &[], UnixTime::now())
        .is_ok();
    let failure = recorder.lock().certificate_failure;
    (ok, failure)
}

fn connector(mode: SslMode, roots: Option<CaBundle>) -> TlsConnector {
    let mut b = TlsConnector::builder().with_ssl_mode(mode);
    if let Some(r) = roots {
        b = b.with_ca_bundle(r);
    }
    b.build().unwrap()
}

fn tls_config_reason(err: Error) -> String {
    match err {
        Error::TlsConfig { reason, .. } => reason,
        other => panic!("expected TlsConfig, got {other:?}"),
    }
}

#[test]
fn verification_levels_follow_libpq() {
    let right = ca("right");
    let roots = || Some(bundle(&[&right.pem]));
    assert_eq!(
        connector(SslMode::Disable, None).verification(),
        Verification::None
    );
    assert_eq!(
        connector(SslMode::Allow, None).verification(),
        Verification::None
    );
    assert_eq!(
        connector(SslMode::Prefer, None).verification(),
        Verification::None
    );
    assert_eq!(
        connector(SslMode::Require, None).verification(),
        Verification::None
    );
    // A root file makes require (and prefer/allow) verify the chain.
    assert_eq!(
        connector(SslMode::Allow, roots()).verification(),
        Verification::Chain
    );
    assert_eq!(
        connector(SslMode::Prefer, roots()).verification(),
        Verification::Chain
    );
    assert_eq!(
        connector(SslMode::Require, roots()).verification(),
        Verification::Chain
    );
    assert_eq!(
        connector(SslMode::VerifyCa, roots()).verification(),
        Verification::Chain
    );
    assert_eq!(
        connector(SslMode::VerifyFull, roots()).verification(),
        Verification::ChainAndName
    );
    let dangerous = TlsConnector::builder()
        .with_ssl_mode(SslMode::VerifyFull)
        .with_ca_bundle(bundle(&[&right.pem]))
        .dangerous_accept_any_certificate()
        .build()
        .unwrap();
    assert_eq!(dangerous.verification(), Verification::None);
}

#[test]
fn verification_serializes_as_libpq_words() {
    assert_eq!(
        serde_json::to_string(&Verification::ChainAndName).unwrap(),
        "\"chain+name\""
    );
    assert_eq!(
        serde_json::to_string(&Verification::Chain).unwrap(),
        "\"chain\""
    );
    assert_eq!(
        serde_json::to_string(&Verification::None).unwrap(),
        "\"none\""
    );
    assert_eq!(Verification::ChainAndName.to_string(), "chain+name");
}

#[test]
fn system_roots_need_verify_full() {
    // Default mode with system roots is verify-full (libpq 16+).
    let c = TlsConnector::builder().with_system_roots().build().unwrap();
    assert_eq!(c.ssl_mode(), SslMode::VerifyFull);
    assert_eq!(c.verification(), Verification::ChainAndName);
    for mode in [
        SslMode::Disable,
        SslMode::Allow,
        SslMode::Prefer,
        SslMode::Require,
        SslMode::VerifyCa,
    ] {
        let err = TlsConnector::builder()
            .with_ssl_mode(mode)
            .with_system_roots()
            .build()
            .unwrap_err();
        assert!(
            tls_config_reason(err).contains("sslrootcert=system"),
            "{mode}"
        );
    }
}

#[test]
fn verify_modes_need_roots() {
    for mode in [SslMode::VerifyCa, SslMode::VerifyFull] {
        let err = TlsConnector::builder()
            .with_ssl_mode(mode)
            .build()
            .unwrap_err();
        assert!(tls_config_reason(err).contains("sslrootcert"));
    }
}

#[test]
fn build_errors_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing-root.crt");
    let err = TlsConnector::builder()
        .with_ssl_mode(SslMode::VerifyFull)
        .with_root_cert_file(&missing)
        .build()
        .unwrap_err();
    assert!(tls_config_reason(err).contains("missing-root.crt"));

    let empty = dir.path().join("empty.crt");
    std::fs::write(&empty, "").unwrap();
    let err = TlsConnector::builder()
        .with_ssl_mode(SslMode::Require)
        .with_root_cert_file(&empty)
        .build()
        .unwrap_err();
    assert!(tls_config_reason(err).contains("empty.crt"));

    let key = dir.path().join("client.key");
    let err = TlsConnector::builder()
        .with_client_key_file(&key)
        .build()
        .unwrap_err();
    assert!(tls_config_reason(err).contains("client.key"));

    let cert = dir.path().join("client.crt");
    let err = TlsConnector::builder()
        .with_client_cert_file(&cert)
        .build()
        .unwrap_err();
    assert!(tls_config_reason(err).contains("client.crt"));
}

#[test]
fn direct_negotiation_needs_require_or_stronger() {
    for mode in [SslMode::Disable, SslMode::Allow, SslMode::Prefer] {
        let err = TlsConnector::builder()
            .with_ssl_mode(mode)
            .with_ssl_negotiation(SslNegotiation::Direct)
            .build()
            .unwrap_err();
        assert!(tls_config_reason(err).contains("sslnegotiation=direct"));
    }
    let c = TlsConnector::builder()
        .with_ssl_mode(SslMode::Require)
        .with_ssl_negotiation(SslNegotiation::Direct)
        .build()
        .unwrap();
    assert_eq!(c.ssl_negotiation(), SslNegotiation::Direct);
}

#[test]
fn common_name_check_needs_verify_full() {
    let right = ca("right");
    let err = TlsConnector::builder()
        .with_ssl_mode(SslMode::VerifyCa)
        .with_ca_bundle(bundle(&[&right.pem]))
        .with_server_name_check(ServerNameCheck::CommonNameEquals("p:i".into()))
        .build()
        .unwrap_err();
    assert!(tls_config_reason(err).contains("verify-full"));
}

#[test]
fn verifier_outcomes() {
    let right = ca("right");
    let wrong = ca("wrong");
    let good = leaf(&right, "localhost", &["localhost"], &["127.0.0.1"], false);
    let foreign = leaf(&wrong, "localhost", &["localhost"], &[], false);
    let expired = leaf(&right, "localhost", &["localhost"], &[], true);
    let cn_only = leaf(&right, "localhost", &[], &[], false);

    let full = connector(SslMode::VerifyFull, Some(bundle(&[&right.pem])));
    let ca_only = connector(SslMode::VerifyCa, Some(bundle(&[&right.pem])));
    let require = connector(SslMode::Require, None);

    assert_eq!(verify(&full, "localhost", &good.der), (true, None));
    assert_eq!(verify(&full, "127.0.0.1", &good.der), (true, None));
    assert_eq!(
        verify(&full, "db.example.com", &good.der),
        (false, Some(ConnectFailure::CertificateNameMismatch))
    );
    assert_eq!(
        verify(&full, "localhost", &foreign.der),
        (false, Some(ConnectFailure::CertificateUntrusted))
    );
    assert_eq!(
        verify(&full, "localhost", &expired.der),
        (false, Some(ConnectFailure::CertificateExpired))
    );
    // CN-only: the CN is the fallback.
    assert_eq!(verify(&full, "localhost", &cn_only.der), (true, None));
    assert_eq!(
        verify(&full, "127.0.0.1", &cn_only.der),
        (false, Some(ConnectFailure::CertificateNameMismatch))
    );
    // verify-ca ignores the name.
    assert_eq!(verify(&ca_only, "db.example.com", &good.der), (true, None));
    assert_eq!(
        verify(&ca_only, "localhost", &foreign.der),
        (false, Some(ConnectFailure::CertificateUntrusted))
    );
    // require without a root file accepts anything, expired included.
    assert_eq!(
        verify(&require, "db.example.com", &foreign.der),
        (true, None)
    );
    assert_eq!(verify(&require, "localhost", &expired.der), (true, None));
    // A bundle of two CAs (wrong first) works.
    let two = connector(SslMode::VerifyFull, Some(bundle(&[&wrong.pem, &right.pem])));
    assert_eq!(two.ca_bundle().map(CaBundle::len), Some(2));
    assert_eq!(verify(&two, "localhost", &good.der), (true, None));
    assert_eq!(verify(&two, "localhost", &foreign.der), (true, None));
}

#[test]
fn system_roots_refuse_a_private_ca() {
    let private = ca("private");
    let cert = leaf(&private, "localhost", &["localhost"], &[], false);
    let c = TlsConnector::builder().with_system_roots().build().unwrap();
    assert_eq!(
        verify(&c, "localhost", &cert.der),
        (false, Some(ConnectFailure::CertificateUntrusted))
    );
}

#[test]
fn common_name_equals_mode() {
    let right = ca("right");
    let cert = leaf(&right, "proj:inst", &[], &[], false);
    let c = TlsConnector::builder()
        .with_ssl_mode(SslMode::VerifyFull)
        .with_ca_bundle(bundle(&[&right.pem]))
        .with_server_name_check(ServerNameCheck::CommonNameEquals("proj:inst".into()))
        .build()
        .unwrap();
    assert_eq!(c.verification(), Verification::ChainAndName);
    assert_eq!(verify(&c, "10.1.2.3", &cert.der), (true, None));
    let other = leaf(&right, "proj:other", &[], &[], false);
    assert_eq!(
        verify(&c, "10.1.2.3", &other.der),
        (false, Some(ConnectFailure::CertificateNameMismatch))
    );
}

fn write_file(dir: &std::path::Path, name: &str, data: &str, mode: u32) -> std::path::PathBuf {
    let path = dir.join(name);
    let mut f = std::fs::File::create(&path).unwrap();
    f.write_all(data.as_bytes()).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    #[cfg(not(unix))]
    let _ = mode;
    path
}

#[test]
fn client_certificate_loading() {
    let client_ca = ca("client-ca");
    let client = leaf(&client_ca, "app", &[], &[], false);
    let other = leaf(&client_ca, "other", &[], &[], false);
    let dir = tempfile::tempdir().unwrap();
    let cert = write_file(dir.path(), "client.crt", &client.pem, 0o644);
    let key = write_file(dir.path(), "client.key", &client.key_pem, 0o600);
    let c = TlsConnector::builder()
        .with_client_cert(&cert, &key)
        .build()
        .unwrap();
    assert!(c.has_client_certificate());
    // Debug never shows key material.
    let debug = format!("{c:?}");
    assert!(!debug.contains("PRIVATE"));

    let wrong_key = write_file(dir.path(), "other.key", &other.key_pem, 0o600);
    let err = TlsConnector::builder()
        .with_client_cert(&cert, &wrong_key)
        .build()
        .unwrap_err();
    assert!(tls_config_reason(err).contains("other.key"));

    #[cfg(unix)]
    {
        let open_key = write_file(dir.path(), "open.key", &client.key_pem, 0o644);
        let err = TlsConnector::builder()
            .with_client_cert(&cert, &open_key)
            .build()
            .unwrap_err();
        assert!(tls_config_reason(err).contains("group or world access"));
    }

    let encrypted = write_file(
        dir.path(),
        "enc.key",
        "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n",
        0o600,
    );
    let err = TlsConnector::builder()
        .with_client_cert(&cert, &encrypted)
        .build()
        .unwrap_err();
    assert!(tls_config_reason(err).contains("encrypted"));
}

#[test]
fn crl_revokes_the_server_certificate() {
    let right = ca("right");
    let good = leaf(&right, "localhost", &["localhost"], &[], false);
    // Revoke the server certificate's serial.
    let serial = {
        use x509_parser::prelude::{FromDer, X509Certificate};
        let (_, c) = X509Certificate::from_der(good.der.as_ref()).unwrap();
        c.raw_serial().to_vec()
    };
    let crl = rcgen::CertificateRevocationListParams {
        this_update: rcgen::date_time_ymd(2024, 1, 1),
        next_update: rcgen::date_time_ymd(2099, 1, 1),
        crl_number: rcgen::SerialNumber::from(1u64),
        issuing_distribution_point: None,
        revoked_certs: vec![rcgen::RevokedCertParams {
            serial_number: rcgen::SerialNumber::from_slice(&serial),
            revocation_time: rcgen::date_time_ymd(2024, 1, 1),
            reason_code: None,
            invalidity_date: None,
        }],
        key_identifier_method: rcgen::KeyIdMethod::Sha256,
    }
    .signed_by(&right.issuer)
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let crl_path = write_file(dir.path(), "root.crl", &crl.pem().unwrap(), 0o644);
    let c = TlsConnector::builder()
        .with_ssl_mode(SslMode::VerifyFull)
        .with_ca_bundle(bundle(&[&right.pem]))
        .with_crl_file(&crl_path)
        .build()
        .unwrap();
    assert_eq!(
        verify(&c, "localhost", &good.der),
        (false, Some(ConnectFailure::CertificateUntrusted))
    );
}

/// A full handshake against an in-process rustls server: reported details and channel binding.
#[tokio::test]
async fn handshake_reports_session_details() {
    let right = ca("right");
    let server_cert = leaf(&right, "localhost", &["localhost"], &[], false);
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let key =
        rustls_pki_types::PrivateKeyDer::from_pem_slice(server_cert.key_pem.as_bytes()).unwrap();
    let server_config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![server_cert.der.clone()], key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server_config));
    let (client_io, server_io) = tokio::io::duplex(64 * 1024);
    let server = tokio::spawn(async move {
        let mut tls = acceptor.accept(server_io).await.unwrap();
        let mut buf = [0u8; 4];
        tls.read_exact(&mut buf).await.unwrap();
        tls.write_all(&buf).await.unwrap();
        tls.flush().await.unwrap();
    });

    let connector = connector(SslMode::VerifyFull, Some(bundle(&[&right.pem])));
    let host = connector.for_host("localhost").unwrap();
    let observer = host.observer();
    let mut stream = TlsConnect::connect(host, client_io).await.unwrap();
    stream.write_all(b"ping").await.unwrap();
    let mut buf = [0u8; 4];
    stream.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"ping");
    server.await.unwrap();

    let info = observer.info().unwrap();
    assert_eq!(info.protocol, "TLSv1.3");
    assert!(info.cipher.starts_with("TLS13_"), "{}", info.cipher);
    assert_eq!(info.verification, Verification::ChainAndName);
    assert_eq!(info.peer_subject.as_deref(), Some("CN=localhost"));
    assert_eq!(info.peer_issuer.as_deref(), Some("CN=right"));
    assert!(info.peer_not_after.is_some());
    assert!(observer.handshake_started());
    assert_eq!(observer.certificate_failure(), None);
    // The binding's contents are private to tokio-postgres; check the hash it is made from
    // (SHA-256 of the certificate for an ECDSA P-256 / SHA-256 certificate).
    let _binding = stream.channel_binding();
    use sha2::Digest;
    assert_eq!(
        x509::tls_server_end_point(server_cert.der.as_ref()),
        sha2::Sha256::digest(server_cert.der.as_ref()).to_vec()
    );
}

#[tokio::test]
async fn handshake_failure_is_recorded() {
    let right = ca("right");
    let wrong = ca("wrong");
    let server_cert = leaf(&wrong, "localhost", &["localhost"], &[], false);
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let key =
        rustls_pki_types::PrivateKeyDer::from_pem_slice(server_cert.key_pem.as_bytes()).unwrap();
    let server_config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![server_cert.der.clone()], key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server_config));
    let (client_io, server_io) = tokio::io::duplex(64 * 1024);
    let server = tokio::spawn(async move {
        let _ = acceptor.accept(server_io).await;
    });
    let connector = connector(SslMode::VerifyFull, Some(bundle(&[&right.pem])));
    let host = connector.for_host("localhost").unwrap();
    let observer = host.observer();
    let err = TlsConnect::connect(host, client_io).await.unwrap_err();
    server.await.unwrap();
    let rustls_err = err
        .get_ref()
        .and_then(|e| e.downcast_ref::<rustls::Error>())
        .unwrap();
    assert_eq!(
        certificate_failure(rustls_err),
        ConnectFailure::CertificateUntrusted
    );
    assert_eq!(
        observer.certificate_failure(),
        Some(ConnectFailure::CertificateUntrusted)
    );
    assert!(observer.info().is_none());
    assert_eq!(
        observer.peer_certificate().map(|p| p.issuer),
        Some("CN=wrong".to_owned())
    );
}

#[test]
fn server_name_for_rustls() {
    assert!(matches!(
        rustls_server_name("127.0.0.1"),
        ServerName::IpAddress(_)
    ));
    assert!(matches!(
        rustls_server_name("::1"),
        ServerName::IpAddress(_)
    ));
    assert!(matches!(
        rustls_server_name("db.example.com"),
        ServerName::DnsName(_)
    ));
}

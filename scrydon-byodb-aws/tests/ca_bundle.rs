//! Fetching the RDS CA bundle over HTTPS, from a local server with a test CA (never the
//! internet), and the checks on what was fetched.

use std::sync::Arc;
use std::time::SystemTime;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use scrydon_byodb::tls::CaBundle;
use scrydon_byodb_aws::{check_ca_bundle, RdsCaBundleFetcher};
use scrydon_byodb_testbed::{ServerCertSpec, TestCa};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Serves `body` over HTTPS on 127.0.0.1 with a certificate from `ca`, to any number of
/// clients; returns the port.
async fn serve(ca: &TestCa, status: &'static str, body: String) -> u16 {
    let cert = ca
        .issue_server(&ServerCertSpec::localhost())
        .expect("server cert");
    let chain: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(cert.chain_pem().as_bytes())
            .collect::<Result<_, _>>()
            .expect("chain");
    let key = PrivateKeyDer::from_pem_slice(cert.key_pem().as_bytes()).expect("key");
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .expect("server config");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let body = body.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut seen = Vec::new();
                let mut buf = [0u8; 1024];
                while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => seen.extend_from_slice(&buf[..n]),
                    }
                }
                let head = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: application/x-pem-file\r\n\
                     content-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                let _ = tls.write_all(head.as_bytes()).await;
                let _ = tls.write_all(body.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    port
}

fn fetcher(https_ca: &TestCa, port: u16) -> RdsCaBundleFetcher {
    RdsCaBundleFetcher::new()
        .with_url(format!("https://localhost:{port}/global/global-bundle.pem"))
        .with_https_roots(&CaBundle::from_pem(https_ca.root_pem()).expect("roots"))
}

#[tokio::test]
async fn fetches_and_checks_a_bundle_over_https() {
    let https_ca = TestCa::new("https test ca").expect("ca");
    let (rds1, rds2) = (
        TestCa::new("rds ca 1").expect("ca"),
        TestCa::new("rds ca 2").expect("ca"),
    );
    let pem = format!("{}{}", rds1.cert_pem(), rds2.cert_pem());
    let port = serve(&https_ca, "200 OK", pem.clone()).await;

    let fetched = fetcher(&https_ca, port).fetch().await.expect("fetch");
    assert_eq!(fetched.certificates, 2);
    assert_eq!(fetched.bundle.len(), 2);
    assert_eq!(fetched.pem, pem);
    assert!(fetched.earliest_expiry > SystemTime::now());

    // The expected hash is checked.
    let ok = fetcher(&https_ca, port)
        .with_expected_sha256(fetched.sha256.to_uppercase())
        .fetch()
        .await
        .expect("matching hash");
    assert_eq!(ok.sha256, fetched.sha256);
    let wrong = fetcher(&https_ca, port)
        .with_expected_sha256("00".repeat(32))
        .fetch()
        .await
        .expect_err("wrong hash");
    assert!(wrong.to_string().contains("SHA-256"), "{wrong}");
}

#[tokio::test]
async fn refuses_an_untrusted_server_plain_http_and_errors() {
    let https_ca = TestCa::new("https test ca").expect("ca");
    let other = TestCa::new("someone else").expect("ca");
    let rds = TestCa::new("rds ca").expect("ca");
    let port = serve(&https_ca, "200 OK", rds.cert_pem().to_owned()).await;
    // The server's certificate does not chain to the roots given.
    fetcher(&other, port).fetch().await.expect_err("untrusted");
    // http:// is refused before connecting.
    let err = RdsCaBundleFetcher::new()
        .with_url(format!("http://localhost:{port}/bundle.pem"))
        .fetch()
        .await
        .expect_err("http");
    assert!(
        matches!(err, scrydon_byodb::Error::InvalidInput { .. }),
        "{err:?}"
    );
    let port404 = serve(&https_ca, "404 Not Found", String::new()).await;
    let err = fetcher(&https_ca, port404).fetch().await.expect_err("404");
    assert!(err.to_string().contains("404"), "{err}");
}

#[test]
fn refuses_leaf_certificates_and_empty_bundles() {
    let ca = TestCa::new("rds ca").expect("ca");
    let leaf = ca.issue_server(&ServerCertSpec::localhost()).expect("leaf");
    let err = check_ca_bundle(leaf.cert_pem().as_bytes(), None, SystemTime::now())
        .expect_err("a leaf is not a CA");
    assert!(err.to_string().contains("not a CA"), "{err}");
    check_ca_bundle(b"", None, SystemTime::now()).expect_err("empty");
    check_ca_bundle(b"not pem at all", None, SystemTime::now()).expect_err("garbage");
    // A CA checked at a time after it expires.
    let later = SystemTime::now() + std::time::Duration::from_secs(86_400 * 365 * 200);
    let err = check_ca_bundle(ca.cert_pem().as_bytes(), None, later).expect_err("expired");
    assert!(err.to_string().contains("expired"), "{err}");
}

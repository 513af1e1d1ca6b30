//! `verify::kube` against an in-process HTTPS server answering the Kubernetes API's documented
//! JSON (Deployment, Job and Secret objects and lists, `Status` for 404/401), with a CA made at
//! test time and a bearer token. Assertions are on ids, statuses and components.

use std::collections::HashMap;
use std::sync::Arc;

use base64::Engine;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use scrydon_byodb::catalog::Component;
use scrydon_byodb::report::{Finding, Status};
use scrydon_byodb::verify::kube::{ids, verify_cluster, KubeTarget};
use scrydon_byodb_testbed::{ServerCertSpec, TestCa};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const TOKEN: &str = "kube-token-0af3";
const NS: &str = "scrydon-platform";

type Routes = Arc<HashMap<String, (u16, Value)>>;

fn status_404() -> (u16, Value) {
    (
        404,
        json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404}),
    )
}

/// An HTTPS server answering GETs from `routes`; 401 without the bearer token. Lists are sent
/// chunked, as the API server does; single objects with Content-Length.
async fn serve(ca: &TestCa, routes: Routes) -> u16 {
    let cert = ca.issue_server(&ServerCertSpec::localhost()).expect("cert");
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
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            let routes = routes.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&buf).into_owned();
                let path = head.split(' ').nth(1).unwrap_or("/").to_owned();
                let authorized = head
                    .lines()
                    .any(|l| l.eq_ignore_ascii_case(&format!("authorization: bearer {TOKEN}")));
                let (code, body) = if !authorized {
                    (
                        401,
                        json!({"kind": "Status", "code": 401, "reason": "Unauthorized"}),
                    )
                } else {
                    routes.get(&path).cloned().unwrap_or_else(status_404)
                };
                let body = body.to_string();
                let response = if body.contains("List\"") {
                    let (a, b) = body.split_at(body.len() / 2);
                    format!(
                        "HTTP/1.1 {code} X\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{a}\r\n{:x}\r\n{b}\r\n0\r\n\r\n",
                        a.len(),
                        b.len()
                    )
                } else {
                    format!("HTTP/1.1 {code} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}", body.len())
                };
                let _ = tls.write_all(response.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    port
}

fn kubeconfig(dir: &std::path::Path, ca: &TestCa, port: u16, token: &str) -> std::path::PathBuf {
    let ca_data = base64::engine::general_purpose::STANDARD.encode(ca.root_pem());
    let path = dir.join("kubeconfig");
    std::fs::write(
        &path,
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: test\nclusters:\n- name: c\n  cluster:\n    server: https://localhost:{port}\n    certificate-authority-data: {ca_data}\ncontexts:\n- name: test\n  context:\n    cluster: c\n    user: u\nusers:\n- name: u\n  user:\n    token: {token}\n"
        ),
    )
    .expect("kubeconfig");
    path
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

fn job(name: &str, app: &str, created: &str, condition: &str) -> Value {
    json!({"metadata": {"name": name, "labels": {"app": app}, "creationTimestamp": created},
           "status": {"conditions": [{"type": condition, "status": "True"}]}})
}

fn routes(bundled_db: bool) -> Routes {
    let mut r = HashMap::new();
    let base = format!("/apis/apps/v1/namespaces/{NS}");
    if bundled_db {
        r.insert(
            format!("{base}/deployments/db"),
            (
                200,
                json!({"kind": "Deployment", "metadata": {"name": "db"}}),
            ),
        );
    }
    r.insert(
        format!("/apis/batch/v1/namespaces/{NS}/jobs"),
        (
            200,
            json!({"kind": "JobList", "apiVersion": "batch/v1", "items": [
                job("auth-migration-2", "auth-migration", "2026-11-20T10:00:00Z", "Failed"),
                job("auth-migration-3", "auth-migration", "2026-11-24T10:00:00Z", "Complete"),
                job("agentic-migration-3", "agentic-migration", "2026-11-24T10:00:00Z", "Failed"),
            ]}),
        ),
    );
    r.insert(
        format!("{base}/deployments"),
        (200, json!({"kind": "DeploymentList", "apiVersion": "apps/v1", "items": [
            {"metadata": {"name": "auth"}, "spec": {"replicas": 2, "template": {"spec": {"containers": [
                {"name": "app", "env": [{"name": "DATABASE_URL", "valueFrom": {"secretKeyRef": {"name": "scrydon-db-auth", "key": "DATABASE_URL"}}}]}]}}},
             "status": {"replicas": 2, "readyReplicas": 2}},
            {"metadata": {"name": "agentic"}, "spec": {"replicas": 1, "template": {"spec": {"containers": [
                {"name": "app", "envFrom": [{"secretRef": {"name": "scrydon-db-agentic"}}]}]}}},
             "status": {"replicas": 1}},
        ]})),
    );
    r.insert(
        format!("/api/v1/namespaces/{NS}/secrets/scrydon-db-auth"),
        (200, json!({"kind": "Secret", "data": {"DATABASE_URL": b64("postgresql://scrydon:pw@pg.example.com/auth?sslmode=verify-full")}})),
    );
    r.insert(
        format!("/api/v1/namespaces/{NS}/secrets/scrydon-db-agentic"),
        (200, json!({"kind": "Secret", "data": {"DATABASE_URL": b64("postgresql://scrydon:pw@db.scrydon-platform.svc:5432/agentic")}})),
    );
    Arc::new(r)
}

fn status(findings: &[Finding], id: &str, c: Option<Component>) -> Vec<Status> {
    findings
        .iter()
        .filter(|f| f.id == id && f.component == c)
        .map(|f| f.status)
        .collect()
}

#[tokio::test]
async fn kubernetes_checks_against_the_documented_api_shapes() {
    use Component::{Agentic, Auth};
    let ca = TestCa::new("kube test CA").expect("ca");
    let dir = tempfile::tempdir().expect("dir");
    let components = [Auth, Agentic];

    let port = serve(&ca, routes(false)).await;
    let target = KubeTarget::from_kubeconfig(&kubeconfig(dir.path(), &ca, port, TOKEN), NS)
        .expect("kubeconfig");
    assert!(!format!("{target:?}").contains(TOKEN));
    let findings = verify_cluster(&target, &components).await;
    assert_eq!(status(&findings, ids::BUNDLED_DB, None), vec![Status::Pass]);
    // The newest auth Job is Complete (an older one failed); agentic's failed.
    assert_eq!(
        status(&findings, ids::MIGRATION_JOB, Some(Auth)),
        vec![Status::Pass]
    );
    assert_eq!(
        status(&findings, ids::MIGRATION_JOB, Some(Agentic)),
        vec![Status::Fail]
    );
    assert_eq!(
        status(&findings, ids::DEPLOYMENTS_READY, None),
        vec![Status::Fail]
    );
    assert_eq!(
        status(&findings, ids::DATABASE_URL, Some(Auth)),
        vec![Status::Pass]
    );
    assert_eq!(
        status(&findings, ids::DATABASE_URL, Some(Agentic)),
        vec![Status::Fail]
    );
    assert!(findings.iter().all(|f| !f.observed.contains(":pw@")));

    // The bundled db still deployed.
    let port = serve(&ca, routes(true)).await;
    let target = KubeTarget::from_kubeconfig(&kubeconfig(dir.path(), &ca, port, TOKEN), NS)
        .expect("kubeconfig");
    let findings = verify_cluster(&target, &components).await;
    assert_eq!(status(&findings, ids::BUNDLED_DB, None), vec![Status::Fail]);

    // A token the server refuses: each request is a Fail finding, no panic, no error.
    let target = KubeTarget::from_kubeconfig(&kubeconfig(dir.path(), &ca, port, "wrong"), NS)
        .expect("kubeconfig");
    let findings = verify_cluster(&target, &components).await;
    assert_eq!(status(&findings, ids::BUNDLED_DB, None), vec![Status::Fail]);
    assert!(findings.iter().all(|f| f.status == Status::Fail));

    // A CA that did not issue the server's certificate: TLS fails, reported as a finding.
    let other = TestCa::new("other CA").expect("ca");
    let target = KubeTarget::from_kubeconfig(&kubeconfig(dir.path(), &other, port, TOKEN), NS)
        .expect("kubeconfig");
    let findings = verify_cluster(&target, &components).await;
    assert_eq!(status(&findings, ids::BUNDLED_DB, None), vec![Status::Fail]);
}

#[test]
fn kubeconfig_without_token_or_ca_is_refused() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("kc");
    std::fs::write(
        &path,
        "current-context: t\nclusters:\n- name: c\n  cluster:\n    server: https://k:6443\ncontexts:\n- name: t\n  context: {cluster: c, user: u}\nusers:\n- name: u\n  user: {token: x}\n",
    )
    .expect("w");
    match KubeTarget::from_kubeconfig(&path, NS) {
        Err(scrydon_byodb::Error::InvalidInput { field, .. }) => assert_eq!(field, "kubeconfig"),
        other => panic!("{other:?}"),
    }
}

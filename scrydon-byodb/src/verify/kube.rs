//! The Kubernetes half of the runbook's Verification, through the API server named by a
//! kubeconfig (bearer token, CA from the kubeconfig; plain HTTPS requests, no client library):
//!
//! - no bundled `db` Deployment in the namespace;
//! - each component's migration Job (label `app=<job>`) is Complete (the newest one);
//! - the Deployments are Ready (`readyReplicas` = `replicas`);
//! - the DSN each Deployment gets under a component's key (`DATABASE_URL`,
//!   `DATABASE_URL_ANALYTICS`, ... from `env.valueFrom.secretKeyRef` or `envFrom.secretRef`)
//!   points at a managed host, not an in-cluster service.
//!
//! Client-certificate and exec-plugin authentication are refused (use a token).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::is_in_cluster_host;
use crate::catalog::Component;
use crate::dsn::{Dsn, Host};
use crate::report::{Finding, Status};
use crate::{Error, Result, SecretString};

/// Finding ids of the Kubernetes checks.
pub mod ids {
    pub use crate::report::ids::{
        VERIFY_KUBE_BUNDLED_DB as BUNDLED_DB, VERIFY_KUBE_DATABASE_URL as DATABASE_URL,
        VERIFY_KUBE_DEPLOYMENTS_READY as DEPLOYMENTS_READY,
        VERIFY_KUBE_MIGRATION_JOB as MIGRATION_JOB,
    };
}

const RUNBOOK: &str = "runbook: Verification";

/// An API server and how to authenticate to it, from a kubeconfig.
pub struct KubeTarget {
    host: String,
    port: u16,
    token: SecretString,
    tls: Arc<rustls::ClientConfig>,
    namespace: String,
}

impl std::fmt::Debug for KubeTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeTarget")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("token", &"********")
            .field("namespace", &self.namespace)
            .finish()
    }
}

fn bad(path: &Path, reason: impl Into<String>) -> Error {
    Error::input("kubeconfig", path.display().to_string(), reason)
}

impl KubeTarget {
    /// Reads the kubeconfig's current context: its cluster's `server` (https) and CA
    /// (`certificate-authority-data` or `certificate-authority`), its user's `token` (or
    /// `tokenFile`). Checks run in `namespace`.
    pub fn from_kubeconfig(path: &Path, namespace: &str) -> Result<KubeTarget> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let doc: Value =
            serde_yaml_ng::from_str(&text).map_err(|e| bad(path, format!("not YAML: {e}")))?;
        let current = doc["current-context"]
            .as_str()
            .ok_or_else(|| bad(path, "no current-context"))?;
        let named = |list: &str, name: &str| -> Option<Value> {
            doc[list]
                .as_array()?
                .iter()
                .find(|e| e["name"].as_str() == Some(name))
                .cloned()
        };
        let ctx = named("contexts", current)
            .ok_or_else(|| bad(path, format!("context {current:?} not found")))?;
        let cluster_name = ctx["context"]["cluster"].as_str().unwrap_or_default();
        let user_name = ctx["context"]["user"].as_str().unwrap_or_default();
        let cluster = named("clusters", cluster_name)
            .ok_or_else(|| bad(path, format!("cluster {cluster_name:?} not found")))?;
        let user = named("users", user_name)
            .ok_or_else(|| bad(path, format!("user {user_name:?} not found")))?;
        let server = cluster["cluster"]["server"].as_str().unwrap_or_default();
        let rest = server
            .strip_prefix("https://")
            .ok_or_else(|| bad(path, format!("server {server:?} is not an https:// URL")))?;
        let authority = rest.split('/').next().unwrap_or(rest);
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => match p.parse() {
                Ok(p) => (h.trim_matches(['[', ']']).to_owned(), p),
                Err(_) => return Err(bad(path, format!("server {server:?}: bad port"))),
            },
            _ => (authority.trim_matches(['[', ']']).to_owned(), 443),
        };
        let ca_pem =
            match (
                cluster["cluster"]["certificate-authority-data"].as_str(),
                cluster["cluster"]["certificate-authority"].as_str(),
            ) {
                (Some(data), _) => base64::engine::general_purpose::STANDARD
                    .decode(data.trim())
                    .map_err(|e| bad(path, format!("certificate-authority-data: {e}")))?,
                (None, Some(file)) => std::fs::read(file).map_err(|e| Error::io(file, e))?,
                (None, None) => return Err(bad(
                    path,
                    "the cluster has no certificate-authority(-data): refusing to trust any server",
                )),
            };
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(&ca_pem) {
            let cert = cert.map_err(|e| bad(path, format!("CA: {e}")))?;
            roots.add(cert).map_err(|e| bad(path, format!("CA: {e}")))?;
        }
        let u = &user["user"];
        let token = match (u["token"].as_str(), u["tokenFile"].as_str()) {
            (Some(t), _) => t.to_owned(),
            (None, Some(f)) => std::fs::read_to_string(f)
                .map_err(|e| Error::io(f, e))?
                .trim()
                .to_owned(),
            _ => {
                return Err(bad(
                    path,
                    format!("user {user_name:?} has no token: client certificates and exec plugins are not supported"),
                ))
            }
        };
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| bad(path, format!("TLS: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
        Ok(KubeTarget {
            host,
            port,
            token: SecretString::new(token),
            tls: Arc::new(tls),
            namespace: namespace.to_owned(),
        })
    }

    async fn get(&self, path: &str) -> Result<(u16, Value)> {
        let fail = |reason: String| Error::Provider {
            provider: "kubernetes".into(),
            reason,
            source: None,
        };
        let fut = async {
            let tcp = tokio::net::TcpStream::connect((self.host.as_str(), self.port))
                .await
                .map_err(|e| fail(format!("connect to {}:{}: {e}", self.host, self.port)))?;
            let name = ServerName::try_from(self.host.clone())
                .map_err(|e| fail(format!("server name {}: {e}", self.host)))?;
            let mut tls = tokio_rustls::TlsConnector::from(self.tls.clone())
                .connect(name, tcp)
                .await
                .map_err(|e| fail(format!("TLS to {}: {e}", self.host)))?;
            let request = format!(
                "GET {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\nAccept: application/json\r\nConnection: close\r\n\r\n",
                self.host,
                self.token.expose_secret()
            );
            tls.write_all(request.as_bytes())
                .await
                .map_err(|e| fail(format!("GET {path}: {e}")))?;
            let mut raw = Vec::new();
            // Servers may close without close_notify; what arrived is what counts.
            let _ = tls.read_to_end(&mut raw).await;
            parse_response(&raw).ok_or_else(|| fail(format!("GET {path}: malformed response")))
        };
        tokio::time::timeout(Duration::from_secs(15), fut)
            .await
            .map_err(|_| fail(format!("GET {path}: timed out")))?
    }
}

/// Status and JSON body of an HTTP/1.1 response (Content-Length, chunked, or read to close).
fn parse_response(raw: &[u8]) -> Option<(u16, Value)> {
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&raw[..split]).ok()?;
    let mut body = &raw[split + 4..];
    let mut lines = head.split("\r\n");
    let status: u16 = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let mut chunked = false;
    for l in lines {
        if let Some((k, v)) = l.split_once(':') {
            let (k, v) = (k.trim().to_ascii_lowercase(), v.trim());
            if k == "transfer-encoding" && v.eq_ignore_ascii_case("chunked") {
                chunked = true;
            } else if k == "content-length" {
                let n: usize = v.parse().ok()?;
                body = body.get(..n)?;
            }
        }
    }
    let decoded;
    if chunked {
        let mut out = Vec::new();
        let mut rest = body;
        loop {
            let eol = rest.windows(2).position(|w| w == b"\r\n")?;
            let size_text = std::str::from_utf8(&rest[..eol]).ok()?;
            let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
            rest = &rest[eol + 2..];
            if size == 0 {
                break;
            }
            out.extend_from_slice(rest.get(..size)?);
            rest = rest.get(size + 2..)?;
        }
        decoded = out;
        body = &decoded;
    }
    let value = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(body).ok()?
    };
    Some((status, value))
}

/// Runs the Kubernetes checks for these components in the target's namespace. A request that
/// fails (unreachable, 401/403) is a Fail finding naming the request; never an error.
pub async fn verify_cluster(target: &KubeTarget, components: &[Component]) -> Vec<Finding> {
    let ns = &target.namespace;
    let mut out = Vec::new();
    let f = |id, status| Finding::new(id, status).with_reference(RUNBOOK);
    let api_fail = |id, what: &str, e: String| {
        Finding::new(id, Status::Fail)
            .with_reference(RUNBOOK)
            .with_observed(format!("{what}: {e}"))
    };
    let http = |code: u16| format!("HTTP {code}");

    // 1. No bundled db Deployment.
    match target
        .get(&format!("/apis/apps/v1/namespaces/{ns}/deployments/db"))
        .await
    {
        Ok((404, _)) => out.push(
            f(ids::BUNDLED_DB, Status::Pass).with_observed(format!("no Deployment db in {ns}")),
        ),
        Ok((200, _)) => out.push(
            f(ids::BUNDLED_DB, Status::Fail)
                .with_observed(format!(
                    "Deployment db exists in {ns}: the bundled PostgreSQL still runs"
                ))
                .with_remediation("set infra.db.enabled=false and helm upgrade"),
        ),
        Ok((code, _)) => out.push(api_fail(ids::BUNDLED_DB, "GET deployment db", http(code))),
        Err(e) => out.push(api_fail(
            ids::BUNDLED_DB,
            "GET deployment db",
            e.to_string(),
        )),
    }

    // 2. Migration Jobs.
    match target
        .get(&format!("/apis/batch/v1/namespaces/{ns}/jobs"))
        .await
    {
        Ok((200, jobs)) => {
            let items = jobs["items"].as_array().cloned().unwrap_or_default();
            for c in components {
                let job = c.spec().migration_job;
                let newest = items
                    .iter()
                    .filter(|j| j["metadata"]["labels"]["app"].as_str() == Some(job))
                    .max_by_key(|j| {
                        j["metadata"]["creationTimestamp"]
                            .as_str()
                            .unwrap_or("")
                            .to_owned()
                    });
                let finding = match newest {
                    None => f(ids::MIGRATION_JOB, Status::Fail)
                        .with_observed(format!("no Job labelled app={job} in {ns}"))
                        .with_remediation("helm upgrade runs the migration Jobs as hooks; see commands/rerun-migrations.sh"),
                    Some(j) => {
                        let name = j["metadata"]["name"].as_str().unwrap_or_default();
                        let cond = |t: &str| {
                            j["status"]["conditions"].as_array().is_some_and(|cs| {
                                cs.iter().any(|c| c["type"] == t && c["status"] == "True")
                            })
                        };
                        if cond("Complete") {
                            f(ids::MIGRATION_JOB, Status::Pass).with_observed(format!("Job {name} Complete"))
                        } else if cond("Failed") {
                            f(ids::MIGRATION_JOB, Status::Fail)
                                .with_observed(format!("Job {name} Failed"))
                                .with_remediation(format!("kubectl logs job/{name} -n {ns}"))
                        } else {
                            f(ids::MIGRATION_JOB, Status::Warn)
                                .with_observed(format!("Job {name} has not completed yet"))
                                .with_remediation(format!("wait, or kubectl logs job/{name} -n {ns} if it hangs"))
                        }
                    }
                };
                out.push(finding.with_component(*c));
            }
        }
        Ok((code, _)) => out.push(api_fail(ids::MIGRATION_JOB, "list Jobs", http(code))),
        Err(e) => out.push(api_fail(ids::MIGRATION_JOB, "list Jobs", e.to_string())),
    }

    // 3 and 4. Deployments ready, and the DSN they get.
    let deployments = match target
        .get(&format!("/apis/apps/v1/namespaces/{ns}/deployments"))
        .await
    {
        Ok((200, d)) => d["items"].as_array().cloned().unwrap_or_default(),
        Ok((code, _)) => {
            out.push(api_fail(
                ids::DEPLOYMENTS_READY,
                "list Deployments",
                http(code),
            ));
            return out;
        }
        Err(e) => {
            out.push(api_fail(
                ids::DEPLOYMENTS_READY,
                "list Deployments",
                e.to_string(),
            ));
            return out;
        }
    };
    let not_ready: Vec<String> = deployments
        .iter()
        .filter(|d| {
            let want = d["spec"]["replicas"].as_i64().unwrap_or(1);
            d["status"]["readyReplicas"].as_i64().unwrap_or(0) < want
        })
        .filter_map(|d| d["metadata"]["name"].as_str().map(str::to_owned))
        .collect();
    out.push(if not_ready.is_empty() {
        f(ids::DEPLOYMENTS_READY, Status::Pass)
            .with_observed(format!("{} Deployments Ready in {ns}", deployments.len()))
    } else {
        f(ids::DEPLOYMENTS_READY, Status::Fail)
            .with_observed(format!("not Ready: {}", not_ready.join(", ")))
            .with_remediation(format!(
                "kubectl describe deployment -n {ns} <name>; kubectl logs the pods"
            ))
    });
    // Auth and agentic both read DATABASE_URL: the component a DSN belongs to is the one whose
    // database it names, not the key it is read from.
    let mut keys: Vec<&str> = components.iter().map(|c| c.spec().env_key).collect();
    keys.sort_unstable();
    keys.dedup();
    for d in &deployments {
        let dname = d["metadata"]["name"].as_str().unwrap_or_default();
        let containers = d["spec"]["template"]["spec"]["containers"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        // (secret, key) pairs the containers read a DSN key from.
        let mut refs: Vec<(String, String)> = Vec::new();
        for ct in &containers {
            for e in ct["env"].as_array().into_iter().flatten() {
                if !e["name"].as_str().is_some_and(|n| keys.contains(&n)) {
                    continue;
                }
                let r = &e["valueFrom"]["secretKeyRef"];
                if let (Some(s), Some(k)) = (r["name"].as_str(), r["key"].as_str()) {
                    refs.push((s.to_owned(), k.to_owned()));
                }
            }
            for e in ct["envFrom"].as_array().into_iter().flatten() {
                if let Some(s) = e["secretRef"]["name"].as_str() {
                    for k in &keys {
                        refs.push((s.to_owned(), (*k).to_owned()));
                    }
                }
            }
        }
        refs.sort();
        refs.dedup();
        for (secret, k) in refs {
            let finding = match target
                .get(&format!("/api/v1/namespaces/{ns}/secrets/{secret}"))
                .await
            {
                Ok((200, s)) => match s["data"][&k].as_str() {
                    // envFrom without this key: the container does not read it from here.
                    None => continue,
                    Some(b64) => dsn_finding(b64, dname, &secret, &k, components),
                },
                Ok((code, _)) => api_fail(
                    ids::DATABASE_URL,
                    &format!("GET Secret {secret}"),
                    http(code),
                ),
                Err(e) => api_fail(
                    ids::DATABASE_URL,
                    &format!("GET Secret {secret}"),
                    e.to_string(),
                ),
            };
            out.push(finding);
        }
    }
    out
}

fn dsn_finding(
    b64: &str,
    deployment: &str,
    secret: &str,
    key: &str,
    components: &[Component],
) -> Finding {
    let f = |s| Finding::new(ids::DATABASE_URL, s).with_reference(RUNBOOK);
    let text = match base64::engine::general_purpose::STANDARD.decode(b64) {
        Ok(b) => String::from_utf8_lossy(&b).into_owned(),
        Err(_) => {
            return f(Status::Fail).with_observed(format!("Secret {secret} key {key}: not base64"))
        }
    };
    let dsn = match Dsn::parse(text.trim_end_matches(['\r', '\n'])) {
        Ok(d) => d,
        Err(e) => {
            return f(Status::Fail).with_observed(format!(
                "Deployment {deployment}: Secret {secret} key {key} is not a valid DSN: {e}"
            ))
        }
    };
    let component = dsn
        .dbname()
        .and_then(crate::catalog::component_for_database)
        .filter(|c| components.contains(c));
    let f = |s| match component {
        Some(c) => f(s).with_component(c),
        None => f(s),
    };
    let hosts: Vec<String> = dsn
        .endpoints()
        .unwrap_or_default()
        .into_iter()
        .filter_map(|e| match e.host {
            Host::Tcp(h) => Some(h),
            _ => None,
        })
        .collect();
    if hosts.iter().any(|h| is_in_cluster_host(h)) {
        f(Status::Fail)
            .with_observed(format!(
                "Deployment {deployment} reads {key} from Secret {secret}: host {} is in-cluster",
                hosts.join(",")
            ))
            .with_remediation("point the Secret at the managed host and roll the Deployment")
    } else {
        f(Status::Pass).with_observed(format!(
            "Deployment {deployment} reads {key} from Secret {secret}: host {}",
            hosts.join(",")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::parse_response;

    #[test]
    fn parses_chunked_and_sized_responses() {
        let sized = b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\n{\"a\":1}\n";
        assert_eq!(
            parse_response(sized).map(|(s, v)| (s, v["a"].as_i64())),
            Some((200, Some(1)))
        );
        let chunked = b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n{\"a\"\r\n3\r\n:2}\r\n0\r\n\r\n";
        assert_eq!(
            parse_response(chunked).map(|(s, v)| (s, v["a"].as_i64())),
            Some((404, Some(2)))
        );
        assert!(parse_response(b"garbage").is_none());
    }
}

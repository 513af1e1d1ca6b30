//! An in-process Cloud SQL Admin API v1 on 127.0.0.1 (hyper 1), answering with the API's
//! documented JSON shapes, holding one instance's state, recording every request, and
//! verifying the bearer credential: an RS256 JWT signed by a service-account key made at test
//! time (openssl), checked with the key's public half.
#![allow(dead_code, unreachable_pub)]

use std::collections::HashMap;
use std::convert::Infallible;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use google_cloud_auth::credentials::Credentials;
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use scrydon_byodb_gcp::CloudSqlProvider;
use serde_json::{json, Value};
use tokio::net::TcpListener;

pub const PROJECT: &str = "proj";
pub const REGION: &str = "europe-west1";
pub const INSTANCE: &str = "inst";
pub const CLIENT_EMAIL: &str = "scrydon-test@proj.iam.gserviceaccount.com";
pub const KEY_ID: &str = "0123456789abcdef0123456789abcdef01234567";
pub const SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";

/// A service-account key made with openssl: the JSON key file's fields, and the public key as
/// PKCS#1 RSAPublicKey DER for verification.
#[derive(Clone)]
pub struct ServiceAccountKey {
    pub private_key_pem: String,
    pub public_key_der: Vec<u8>,
}

impl ServiceAccountKey {
    pub fn generate(dir: &Path) -> ServiceAccountKey {
        let key = dir.join("sa-key.pem");
        let public = dir.join("sa-pub.der");
        let ok = Command::new("openssl")
            .args([
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
                "-out",
            ])
            .arg(&key)
            .status()
            .expect("run openssl genpkey")
            .success();
        assert!(ok, "openssl genpkey failed");
        let ok = Command::new("openssl")
            .args(["rsa", "-RSAPublicKey_out", "-outform", "DER", "-in"])
            .arg(&key)
            .arg("-out")
            .arg(&public)
            .stderr(std::process::Stdio::null())
            .status()
            .expect("run openssl rsa")
            .success();
        assert!(ok, "openssl rsa failed");
        ServiceAccountKey {
            private_key_pem: std::fs::read_to_string(&key).expect("key"),
            public_key_der: std::fs::read(&public).expect("public key"),
        }
    }

    /// The service-account JSON key file, as `gcloud iam service-accounts keys create` writes.
    pub fn json(&self) -> Value {
        json!({
            "type": "service_account",
            "project_id": PROJECT,
            "private_key_id": KEY_ID,
            "private_key": self.private_key_pem,
            "client_email": CLIENT_EMAIL,
            "client_id": "100000000000000000001",
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": "https://oauth2.googleapis.com/token",
            "universe_domain": "googleapis.com",
        })
    }

    /// Credentials that sign their own JWT (no token endpoint is called).
    pub fn credentials(&self) -> Credentials {
        google_cloud_auth::credentials::service_account::Builder::new(self.json())
            .build()
            .expect("service account credentials")
    }
}

/// One request the server saw.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub body: Option<Value>,
    pub authorized: bool,
}

/// How the next PATCH's operation goes.
#[derive(Debug, Clone)]
pub struct OperationScript {
    /// Statuses returned in turn (the PATCH answer, then each `operations.get`); the last one
    /// repeats.
    pub statuses: Vec<&'static str>,
    /// Set: the operation ends DONE with this error and the change is not applied.
    pub error: Option<(&'static str, &'static str)>,
}

impl Default for OperationScript {
    fn default() -> Self {
        Self {
            statuses: vec!["PENDING", "RUNNING", "DONE"],
            error: None,
        }
    }
}

struct Op {
    statuses: Vec<&'static str>,
    next: usize,
    error: Option<(&'static str, &'static str)>,
}

/// What the fake serves, changed by tests.
pub struct State {
    pub instance: Value,
    /// (PEM, common name, sha1 fingerprint) of each server CA; the first is active.
    pub server_cas: Vec<(String, String, String)>,
    pub dns_name: Option<String>,
    pub flags: Vec<Value>,
    pub script: OperationScript,
    pub requests: Vec<Recorded>,
    ops: HashMap<String, Op>,
    op_counter: u32,
    public_key_der: Vec<u8>,
}

pub struct FakeAdmin {
    pub port: u16,
    pub state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeAdmin {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A Cloud SQL for PostgreSQL 16 instance as `instances.get` returns it.
pub fn instance_json(ca_pem: &str) -> Value {
    json!({
        "kind": "sql#instance",
        "state": "RUNNABLE",
        "databaseVersion": "POSTGRES_16",
        "settings": {
            "authorizedGcpApplications": [],
            "tier": "db-custom-2-7680",
            "kind": "sql#settings",
            "availabilityType": "REGIONAL",
            "pricingPlan": "PER_USE",
            "replicationType": "SYNCHRONOUS",
            "activationPolicy": "ALWAYS",
            "ipConfiguration": {
                "privateNetwork": "projects/proj/global/networks/default",
                "authorizedNetworks": [],
                "ipv4Enabled": false,
                "requireSsl": false,
                "sslMode": "ENCRYPTED_ONLY",
                "serverCaMode": "GOOGLE_MANAGED_INTERNAL_CA"
            },
            "locationPreference": { "zone": "europe-west1-b", "kind": "sql#locationPreference" },
            "databaseFlags": [
                { "name": "cloudsql.iam_authentication", "value": "on" },
                { "name": "log_connections", "value": "on" },
                { "name": "log_disconnections", "value": "on" }
            ],
            "dataDiskType": "PD_SSD",
            "backupConfiguration": {
                "startTime": "02:00",
                "kind": "sql#backupConfiguration",
                "location": "eu",
                "backupRetentionSettings": { "retentionUnit": "COUNT", "retainedBackups": 14 },
                "enabled": true,
                "transactionLogRetentionDays": 7,
                "pointInTimeRecoveryEnabled": true
            },
            "settingsVersion": "12",
            "storageAutoResizeLimit": "0",
            "storageAutoResize": true,
            "dataDiskSizeGb": "20",
            "edition": "ENTERPRISE"
        },
        "etag": "3c1a7e3d",
        "ipAddresses": [ { "type": "PRIVATE", "ipAddress": "10.20.0.3" } ],
        "serverCaCert": {
            "kind": "sql#sslCert",
            "certSerialNumber": "0",
            "cert": ca_pem,
            "commonName": "C=US,O=Google\\, Inc,CN=Google Cloud SQL Server CA,dnQualifier=a1",
            "sha1Fingerprint": "aa11",
            "instance": INSTANCE,
            "createTime": "2026-01-01T00:00:00.000Z",
            "expirationTime": "2036-01-01T00:00:00.000Z"
        },
        "instanceType": "CLOUD_SQL_INSTANCE",
        "project": PROJECT,
        "serviceAccountEmailAddress": "p1234-abcd@gcp-sa-cloud-sql.iam.gserviceaccount.com",
        "backendType": "SECOND_GEN",
        "selfLink": "https://sqladmin.googleapis.com/v1/projects/proj/instances/inst",
        "connectionName": format!("{PROJECT}:{REGION}:{INSTANCE}"),
        "name": INSTANCE,
        "region": REGION,
        "gceZone": "europe-west1-b",
        "secondaryGceZone": "europe-west1-c",
        "databaseInstalledVersion": "POSTGRES_16_4",
        "createTime": "2026-01-01T00:00:00.000Z",
        "maintenanceVersion": "POSTGRES_16_4.R20240910.01_00"
    })
}

/// The `flags.list` entries the tests use.
pub fn flags_catalog() -> Vec<Value> {
    let all = json!(["POSTGRES_14", "POSTGRES_15", "POSTGRES_16"]);
    vec![
        json!({"kind": "sql#flag", "name": "cloudsql.iam_authentication", "type": "BOOLEAN",
               "appliesTo": all, "requiresRestart": false, "flagScope": "SQL_FLAG_SCOPE_DATABASE"}),
        json!({"kind": "sql#flag", "name": "log_connections", "type": "BOOLEAN",
               "appliesTo": all, "requiresRestart": false, "flagScope": "SQL_FLAG_SCOPE_DATABASE"}),
        json!({"kind": "sql#flag", "name": "log_disconnections", "type": "BOOLEAN",
               "appliesTo": all, "requiresRestart": false, "flagScope": "SQL_FLAG_SCOPE_DATABASE"}),
        json!({"kind": "sql#flag", "name": "log_min_duration_statement", "type": "INTEGER",
               "appliesTo": all, "requiresRestart": false, "minValue": "-1",
               "maxValue": "2147483647", "flagScope": "SQL_FLAG_SCOPE_DATABASE"}),
        json!({"kind": "sql#flag", "name": "max_connections", "type": "INTEGER",
               "appliesTo": all, "requiresRestart": true, "minValue": "14",
               "maxValue": "262143", "flagScope": "SQL_FLAG_SCOPE_DATABASE"}),
        json!({"kind": "sql#flag", "name": "pgaudit.log", "type": "STRING",
               "appliesTo": all, "requiresRestart": false,
               "allowedStringValues": ["read", "write", "ddl", "all", "none"],
               "flagScope": "SQL_FLAG_SCOPE_DATABASE"}),
    ]
}

fn error(status: u16, code: &str, message: &str) -> (u16, Value) {
    (
        status,
        json!({"error": {"code": status, "message": message, "status": code,
                         "errors": [{"message": message, "domain": "global", "reason": code}]}}),
    )
}

/// JSON merge as `instances.patch` does it: objects merged field by field, lists replaced.
fn merge(into: &mut Value, patch: &Value) {
    match (into, patch) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                merge(a.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
        (slot, v) => *slot = v.clone(),
    }
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Checks `Authorization: Bearer <jwt>`: RS256, our key id, iss = sub = the client email, the
/// cloud-platform scope, not expired, and a signature that verifies with the public key.
fn authorized(req: &Request<Incoming>, public_key_der: &[u8]) -> bool {
    let Some(h) = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let Some(jwt) = h.strip_prefix("Bearer ") else {
        return false;
    };
    let parts: Vec<&str> = jwt.split('.').collect();
    let [header, claims, sig] = parts.as_slice() else {
        return false;
    };
    let decode = |s: &str| -> Option<Value> {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(s).ok()?).ok()
    };
    let (Some(header_json), Some(claims_json), Ok(sig_bytes)) =
        (decode(header), decode(claims), URL_SAFE_NO_PAD.decode(sig))
    else {
        return false;
    };
    if header_json["alg"] != "RS256" || header_json["kid"] != KEY_ID {
        return false;
    }
    if claims_json["iss"] != CLIENT_EMAIL || claims_json["sub"] != CLIENT_EMAIL {
        return false;
    }
    let scope_ok = claims_json["scope"]
        .as_str()
        .is_some_and(|s| s.split(' ').any(|s| s == SCOPE));
    let exp_ok = claims_json["exp"].as_i64().is_some_and(|e| e > now());
    if !scope_ok || !exp_ok {
        return false;
    }
    let provider = rustls::crypto::ring::default_provider();
    let Some((_, algs)) = provider
        .signature_verification_algorithms
        .mapping
        .iter()
        .find(|(s, _)| *s == rustls::SignatureScheme::RSA_PKCS1_SHA256)
    else {
        return false;
    };
    let message = format!("{header}.{claims}");
    algs.iter().any(|a| {
        a.verify_signature(public_key_der, message.as_bytes(), &sig_bytes)
            .is_ok()
    })
}

fn route(
    state: &mut State,
    method: &str,
    path: &str,
    query: Option<&str>,
    body: Option<&Value>,
) -> (u16, Value) {
    let base = format!("/v1/projects/{PROJECT}/instances/{INSTANCE}");
    let instance_prefix = format!("/v1/projects/{PROJECT}/instances/");
    let ops_prefix = format!("/v1/projects/{PROJECT}/operations/");
    if method == "GET" && path == base {
        return (200, state.instance.clone());
    }
    if method == "PATCH" && path == base {
        let Some(body) = body else {
            return error(400, "INVALID_ARGUMENT", "Invalid JSON payload.");
        };
        state.op_counter += 1;
        let name = format!("a1b2c3d4-0000-4000-8000-{:012}", state.op_counter);
        let script = state.script.clone();
        if script.error.is_none() {
            merge(&mut state.instance, body);
            let v = state.instance["settings"]["settingsVersion"]
                .as_str()
                .and_then(|s| s.parse::<i64>().ok())
                .unwrap_or(0);
            state.instance["settings"]["settingsVersion"] = json!((v + 1).to_string());
        }
        let first = script.statuses.first().copied().unwrap_or("DONE");
        state.ops.insert(
            name.clone(),
            Op {
                statuses: script.statuses.clone(),
                next: 1,
                error: script.error,
            },
        );
        return (
            200,
            operation_json(&name, first, script.error.filter(|_| first == "DONE")),
        );
    }
    if method == "GET" && path == format!("{base}/listServerCas") {
        let certs: Vec<Value> = state
            .server_cas
            .iter()
            .map(|(pem, cn, fp)| {
                json!({"kind": "sql#sslCert", "certSerialNumber": "0", "cert": pem,
                       "commonName": cn, "sha1Fingerprint": fp, "instance": INSTANCE,
                       "createTime": "2026-01-01T00:00:00.000Z",
                       "expirationTime": "2036-01-01T00:00:00.000Z"})
            })
            .collect();
        let active = state.server_cas.first().map(|c| c.2.clone());
        return (
            200,
            json!({"certs": certs, "activeVersion": active, "kind": "sql#instancesListServerCas"}),
        );
    }
    if method == "GET" && path == format!("{base}/connectSettings") {
        let i = &state.instance;
        let mut v = json!({
            "kind": "sql#connectSettings",
            "serverCaCert": i["serverCaCert"],
            "ipAddresses": i["ipAddresses"],
            "region": i["region"],
            "databaseVersion": i["databaseVersion"],
            "backendType": "SECOND_GEN",
            "pscEnabled": false,
            "serverCaMode": i["settings"]["ipConfiguration"]["serverCaMode"],
        });
        if let Some(d) = &state.dns_name {
            v["dnsName"] = json!(d);
        }
        return (200, v);
    }
    if method == "GET" && path == "/v1/flags" {
        let version = query
            .and_then(|q| {
                q.split('&')
                    .find_map(|kv| kv.strip_prefix("databaseVersion="))
            })
            .unwrap_or("");
        let items: Vec<Value> = state
            .flags
            .iter()
            .filter(|f| {
                f["appliesTo"]
                    .as_array()
                    .is_some_and(|a| a.iter().any(|v| v == version))
            })
            .cloned()
            .collect();
        return (200, json!({"kind": "sql#flagsList", "items": items}));
    }
    if method == "GET" {
        if let Some(name) = path.strip_prefix(&ops_prefix) {
            let Some(op) = state.ops.get_mut(name) else {
                return error(404, "NOT_FOUND", "The operation does not exist.");
            };
            let status = op
                .statuses
                .get(op.next)
                .or(op.statuses.last())
                .copied()
                .unwrap_or("DONE");
            op.next += 1;
            let err = op.error.filter(|_| status == "DONE");
            return (200, operation_json(name, status, err));
        }
        if path.starts_with(&instance_prefix) {
            return error(404, "NOT_FOUND", "The Cloud SQL instance does not exist.");
        }
    }
    error(404, "NOT_FOUND", "Not Found")
}

fn operation_json(name: &str, status: &str, err: Option<(&str, &str)>) -> Value {
    let mut v = json!({
        "kind": "sql#operation",
        "targetLink": format!("https://sqladmin.googleapis.com/v1/projects/{PROJECT}/instances/{INSTANCE}"),
        "status": status,
        "user": CLIENT_EMAIL,
        "insertTime": "2026-11-24T18:00:00.000Z",
        "operationType": "UPDATE",
        "name": name,
        "targetId": INSTANCE,
        "selfLink": format!("https://sqladmin.googleapis.com/v1/projects/{PROJECT}/operations/{name}"),
        "targetProject": PROJECT,
    });
    if let Some((code, message)) = err {
        v["error"] = json!({"kind": "sql#operationErrors",
                            "errors": [{"kind": "sql#operationError", "code": code, "message": message}]});
    }
    v
}

impl FakeAdmin {
    pub async fn start(
        key: &ServiceAccountKey,
        instance: Value,
        server_cas: Vec<(String, String, String)>,
    ) -> FakeAdmin {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let state = Arc::new(Mutex::new(State {
            instance,
            server_cas,
            dns_name: None,
            flags: flags_catalog(),
            script: OperationScript::default(),
            requests: Vec::new(),
            ops: HashMap::new(),
            op_counter: 0,
            public_key_der: key.public_key_der.clone(),
        }));
        let shared = state.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let state = shared.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                        let state = state.clone();
                        async move { Ok::<_, Infallible>(handle(state, req).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        FakeAdmin { port, state, task }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.state.lock().expect("fake state").requests.clone()
    }

    pub fn patches(&self) -> Vec<Value> {
        self.requests()
            .into_iter()
            .filter(|r| r.method == "PATCH")
            .filter_map(|r| r.body)
            .collect()
    }

    pub fn with_state<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        f(&mut self.state.lock().expect("fake state"))
    }
}

async fn handle(state: Arc<Mutex<State>>, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let method = req.method().as_str().to_owned();
    let path = req.uri().path().to_owned();
    let query = req.uri().query().map(str::to_owned);
    let key = state.lock().expect("fake state").public_key_der.clone();
    let ok = authorized(&req, &key);
    let json_body = req
        .headers()
        .get("content-type")
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    let bytes = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let body: Option<Value> = if bytes.is_empty() {
        None
    } else {
        serde_json::from_slice(&bytes).ok()
    };
    let mut s = state.lock().expect("fake state");
    s.requests.push(Recorded {
        method: method.clone(),
        path: path.clone(),
        query: query.clone(),
        body: body.clone(),
        authorized: ok,
    });
    let (status, value) = if !ok {
        error(
            401,
            "UNAUTHENTICATED",
            "Request had invalid authentication credentials. Expected OAuth 2 access token, \
             login cookie or other valid authentication credential.",
        )
    } else if !bytes.is_empty() && (!json_body || body.is_none()) {
        error(400, "INVALID_ARGUMENT", "Invalid JSON payload received.")
    } else {
        route(&mut s, &method, &path, query.as_deref(), body.as_ref())
    };
    drop(s);
    Response::builder()
        .status(status)
        .header("content-type", "application/json; charset=UTF-8")
        .body(Full::new(Bytes::from(value.to_string())))
        .expect("response")
}

/// The scratch directory and key for a test.
pub fn key() -> (tempfile::TempDir, ServiceAccountKey) {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = ServiceAccountKey::generate(dir.path());
    (dir, key)
}

/// A quick poll interval for tests.
pub const POLL: Duration = Duration::from_millis(10);

/// A self-signed CA made with openssl expiring in `days` (PEM).
pub fn openssl_ca(dir: &Path, name: &str, days: u32) -> String {
    let key = dir.join(format!("{name}.key"));
    let cert = dir.join(format!("{name}.pem"));
    let ok = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
        ])
        .arg(days.to_string())
        .args(["-subj", &format!("/CN={name}"), "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(std::process::Stdio::null())
        .status()
        .expect("openssl req")
        .success();
    assert!(ok, "openssl req failed");
    std::fs::read_to_string(cert).expect("CA")
}

/// The provider for the fake's instance, with `key`'s credentials and a fast poll.
pub async fn provider(key: &ServiceAccountKey, fake: &FakeAdmin) -> CloudSqlProvider {
    CloudSqlProvider::builder()
        .with_instance_connection_name(format!("{PROJECT}:{REGION}:{INSTANCE}"))
        .with_credentials(key.credentials())
        .with_endpoint(fake.url())
        .with_poll_interval(POLL)
        .build()
        .await
        .expect("build")
}

//! An in-process Azure Resource Manager stand-in on 127.0.0.1 over HTTPS (a test CA made at
//! test time), answering the documented shapes of api-version 2025-08-01 for one Flexible
//! Server: `GET` the server, `GET`/`PUT` its configurations, `202 + Azure-AsyncOperation` for
//! writes and the async operation to poll, ARM errors `{"error":{"code","message"}}`. It checks
//! the bearer token and the api-version of every request, records them all, and can be told to
//! answer some requests with a scripted fault first (429 + Retry-After, 503, ...).
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use azure_core::credentials::{AccessToken, TokenCredential, TokenRequestOptions};
use azure_core::http::{FixedRetryOptions, RetryOptions};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use scrydon_byodb::tls::CaBundle;
use scrydon_byodb_azure::{FlexibleServerProvider, FlexibleServerProviderBuilder, API_VERSION};
use scrydon_byodb_testbed::{ServerCertSpec, TestCa};
use serde_json::{json, Value};
use tokio::net::TcpListener;

pub const SUB: &str = "0b1f6471-1bf0-4dda-aec3-111122223333";
pub const RG: &str = "rg-scrydon";
pub const SERVER: &str = "scrydon-test";
/// The stub credential's token: must reach the server, never an error or a Debug.
pub const TOKEN: &str = "stub-arm-token-Zq8vN3kLm2";

pub fn server_path() -> String {
    format!(
        "/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.DBforPostgreSQL/flexibleServers/{SERVER}"
    )
}

pub fn config_path(name: &str) -> String {
    format!("{}/configurations/{name}", server_path())
}

/// A `TokenCredential` handing out [`TOKEN`]; counts its calls and records the scopes asked.
#[derive(Debug, Default)]
pub struct StubCredential {
    pub calls: AtomicUsize,
    pub scopes: Mutex<Vec<String>>,
}

#[async_trait]
impl TokenCredential for StubCredential {
    async fn get_token(
        &self,
        scopes: &[&str],
        _options: Option<TokenRequestOptions<'_>>,
    ) -> azure_core::Result<AccessToken> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.scopes
            .lock()
            .unwrap()
            .extend(scopes.iter().map(|s| (*s).to_owned()));
        Ok(AccessToken::new(
            TOKEN,
            azure_core::time::OffsetDateTime::now_utc() + azure_core::time::Duration::hours(1),
        ))
    }
}

/// A server parameter as ARM describes it.
#[derive(Debug, Clone)]
pub struct Config {
    pub value: String,
    pub default_value: String,
    pub data_type: String,
    pub allowed_values: String,
    pub dynamic: bool,
    pub read_only: bool,
    pub pending_restart: bool,
}

impl Config {
    pub fn new(value: &str, data_type: &str, allowed: &str, dynamic: bool) -> Self {
        Config {
            value: value.to_owned(),
            default_value: value.to_owned(),
            data_type: data_type.to_owned(),
            allowed_values: allowed.to_owned(),
            dynamic,
            read_only: false,
            pending_restart: false,
        }
    }
}

/// What the allowedValues of azure.extensions look like (a subset).
pub const EXTENSIONS_ALLOWED: &str =
    "address_standardizer,amcheck,btree_gin,btree_gist,citext,cube,hstore,pg_trgm,pgcrypto,postgis,uuid-ossp,vector";

/// How the next configuration write's operation goes.
#[derive(Debug, Clone)]
pub enum OpResult {
    Succeeded,
    Failed { code: String, message: String },
}

#[derive(Debug, Clone)]
struct Op {
    polls_left: u32,
    result: OpResult,
    name: String,
    value: String,
}

#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub query: String,
    pub authorization: Option<String>,
    pub body: Option<Value>,
    pub status: u16,
}

#[derive(Debug, Clone)]
struct Fault {
    method: String,
    path: String,
    status: u16,
    headers: Vec<(String, String)>,
    body: Value,
}

type Hook = Arc<dyn Fn(&str, &str) + Send + Sync>;

struct State {
    server: Value,
    configs: BTreeMap<String, Config>,
    ops: HashMap<String, Op>,
    next_op: (u32, OpResult),
    requests: Vec<Recorded>,
    faults: Vec<Fault>,
    on_applied: Option<Hook>,
    op_counter: u32,
    location_only: bool,
}

#[derive(Clone)]
pub struct FakeArm {
    state: Arc<Mutex<State>>,
    pub url: String,
    pub ca: CaBundle,
}

/// The server as `GET …/flexibleServers/{name}` returns it (ServersGet.json, 2025-08-01).
pub fn server_json(ha: &str, public: &str, retention: u32, geo: &str) -> Value {
    json!({
        "name": SERVER,
        "type": "Microsoft.DBforPostgreSQL/flexibleServers",
        "id": server_path(),
        "location": "westeurope",
        "properties": {
            "administratorLogin": "scrydonadmin",
            "authConfig": {"activeDirectoryAuth": "Enabled", "passwordAuth": "Enabled"},
            "availabilityZone": "1",
            "backup": {
                "backupRetentionDays": retention,
                "earliestRestoreDate": "2026-11-17T09:00:00.000000Z",
                "geoRedundantBackup": geo
            },
            "dataEncryption": {"type": "SystemManaged"},
            "fullyQualifiedDomainName": format!("{SERVER}.postgres.database.azure.com"),
            "highAvailability": {"mode": ha, "state": if ha == "Disabled" { "NotEnabled" } else { "Healthy" }},
            "minorVersion": "4",
            "network": {"publicNetworkAccess": public},
            "replicationRole": "Primary",
            "state": "Ready",
            "storage": {"storageSizeGB": 128, "tier": "P10", "autoGrow": "Disabled"},
            "version": "16"
        },
        "sku": {"name": "Standard_D2ds_v5", "tier": "GeneralPurpose"}
    })
}

/// The usual parameters: azure.extensions, require_secure_transport, ssl_min_protocol_version,
/// max_connections.
pub fn standard_configs(
    extensions: &str,
    secure: &str,
    min_tls: &str,
) -> Vec<(&'static str, Config)> {
    vec![
        (
            "azure.extensions",
            Config::new(extensions, "Set", EXTENSIONS_ALLOWED, true),
        ),
        (
            "require_secure_transport",
            Config::new(secure, "Boolean", "on,off", true),
        ),
        (
            "ssl_min_protocol_version",
            Config::new(
                min_tls,
                "Enumeration",
                "TLSv1,TLSv1.1,TLSv1.2,TLSv1.3",
                true,
            ),
        ),
        (
            "max_connections",
            Config::new("50", "Integer", "25-5000", false),
        ),
    ]
}

fn arm_error(status: u16, code: &str, message: &str) -> (u16, Vec<(String, String)>, Value) {
    (
        status,
        Vec::new(),
        json!({"error": {"code": code, "message": message}}),
    )
}

impl FakeArm {
    /// Starts the server with the standard server and parameters.
    pub async fn start(extensions: &str, secure: &str, min_tls: &str) -> FakeArm {
        let configs = standard_configs(extensions, secure, min_tls);
        Self::start_with(
            server_json("ZoneRedundant", "Disabled", 14, "Enabled"),
            configs,
        )
        .await
    }

    pub async fn start_with(server: Value, configs: Vec<(&'static str, Config)>) -> FakeArm {
        let ca = TestCa::new("scrydon fake ARM CA").unwrap();
        let issued = ca.issue_server(&ServerCertSpec::localhost()).unwrap();
        let certs: Vec<CertificateDer<'static>> =
            CertificateDer::pem_slice_iter(issued.chain_pem().as_bytes())
                .collect::<Result<_, _>>()
                .unwrap();
        let key = PrivateKeyDer::from_pem_slice(issued.key_pem().as_bytes()).unwrap();
        let tls = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let url = format!("https://{addr}");
        let fake = FakeArm {
            state: Arc::new(Mutex::new(State {
                server,
                configs: configs
                    .into_iter()
                    .map(|(n, c)| (n.to_owned(), c))
                    .collect(),
                ops: HashMap::new(),
                next_op: (1, OpResult::Succeeded),
                requests: Vec::new(),
                faults: Vec::new(),
                on_applied: None,
                op_counter: 0,
                location_only: false,
            })),
            url,
            ca: CaBundle::from_pem(ca.root_pem()).unwrap(),
        };
        let me = fake.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let me = me.clone();
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(stream).await else {
                        return;
                    };
                    let svc = hyper::service::service_fn(move |req| {
                        let me = me.clone();
                        async move { Ok::<_, Infallible>(me.answer(req).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tls), svc)
                        .await;
                });
            }
        });
        fake
    }

    /// A provider builder pointed at this server, trusting its CA, with `credential`, quick
    /// retries and polls.
    pub fn builder(&self, credential: Arc<StubCredential>) -> FlexibleServerProviderBuilder {
        FlexibleServerProvider::builder()
            .with_resource_id(server_path())
            .with_endpoint(self.url.clone())
            .with_additional_endpoint_roots(&self.ca)
            .with_credential(credential)
            .with_retry(RetryOptions::fixed(FixedRetryOptions {
                delay: azure_core::time::Duration::milliseconds(10),
                max_retries: 3,
                max_total_elapsed: azure_core::time::Duration::seconds(30),
            }))
            .with_max_poll_interval(Duration::from_millis(10))
            .with_request_timeout(Duration::from_secs(10))
    }

    pub async fn provider(&self, credential: Arc<StubCredential>) -> FlexibleServerProvider {
        self.builder(credential).build().await.expect("build")
    }

    /// The next configuration write's operation: `in_progress` polls, then `result`.
    pub fn next_operation(&self, in_progress: u32, result: OpResult) {
        self.state.lock().unwrap().next_op = (in_progress, result);
    }

    /// Answers the next `method path` (exact path, no query) with this, once.
    pub fn fault(
        &self,
        method: &str,
        path: &str,
        status: u16,
        headers: &[(&str, &str)],
        body: Value,
    ) {
        self.state.lock().unwrap().faults.push(Fault {
            method: method.to_owned(),
            path: path.to_owned(),
            status,
            headers: headers
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            body,
        });
    }

    /// Called (on a blocking thread) when a configuration write succeeds, with name and value:
    /// the tests apply it to a real PostgreSQL, as Azure does.
    pub fn on_applied(&self, hook: impl Fn(&str, &str) + Send + Sync + 'static) {
        self.state.lock().unwrap().on_applied = Some(Arc::new(hook));
    }

    /// Answers configuration writes with `Location` only (no `Azure-AsyncOperation`), polled
    /// through `operationResults`: 202 while running, 200 when done, the ARM error when failed.
    pub fn location_only(&self) {
        self.state.lock().unwrap().location_only = true;
    }

    pub fn set_config(&self, name: &str, config: Config) {
        self.state
            .lock()
            .unwrap()
            .configs
            .insert(name.to_owned(), config);
    }

    pub fn config(&self, name: &str) -> Option<Config> {
        self.state.lock().unwrap().configs.get(name).cloned()
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.state.lock().unwrap().requests.clone()
    }

    pub fn clear_requests(&self) {
        self.state.lock().unwrap().requests.clear();
    }

    pub fn puts(&self) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|r| r.method == "PUT")
            .collect()
    }

    async fn answer(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let method = req.method().to_string();
        let path = req.uri().path().to_owned();
        let query = req.uri().query().unwrap_or_default().to_owned();
        let authorization = req
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let bytes = req.into_body().collect().await.unwrap().to_bytes();
        let body: Option<Value> = serde_json::from_slice(&bytes).ok();
        let (status, headers, out) = self
            .route(
                &method,
                &path,
                &query,
                authorization.as_deref(),
                body.as_ref(),
            )
            .await;
        self.state.lock().unwrap().requests.push(Recorded {
            method,
            path,
            query,
            authorization,
            body,
            status,
        });
        let mut b = Response::builder()
            .status(status)
            .header("content-type", "application/json; charset=utf-8")
            .header("x-ms-request-id", "00000000-0000-0000-0000-0000000000aa");
        for (k, v) in headers {
            b = b.header(k, v);
        }
        b.body(Full::new(Bytes::from(out.to_string()))).unwrap()
    }

    async fn route(
        &self,
        method: &str,
        path: &str,
        query: &str,
        authorization: Option<&str>,
        body: Option<&Value>,
    ) -> (u16, Vec<(String, String)>, Value) {
        let api_version = query
            .split('&')
            .find_map(|kv| kv.strip_prefix("api-version="));
        match api_version {
            None => {
                return arm_error(
                    400,
                    "MissingApiVersionParameter",
                    "The api-version query parameter (?api-version=) is required for all requests.",
                )
            }
            Some(v) if v != API_VERSION => {
                return arm_error(
                    400,
                    "InvalidApiVersionParameter",
                    &format!("The api-version '{v}' is invalid."),
                )
            }
            Some(_) => {}
        }
        if authorization != Some(&format!("Bearer {TOKEN}")) {
            return arm_error(
                401,
                "AuthenticationFailed",
                "Authentication failed. The 'Authorization' header is missing or invalid.",
            );
        }
        {
            let mut st = self.state.lock().unwrap();
            if let Some(i) = st
                .faults
                .iter()
                .position(|f| f.method == method && f.path == path)
            {
                let f = st.faults.remove(i);
                return (f.status, f.headers, f.body);
            }
        }
        let prefix = format!(
            "/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.DBforPostgreSQL/flexibleServers/"
        );
        let ops_prefix = format!(
            "/subscriptions/{SUB}/providers/Microsoft.DBforPostgreSQL/locations/westeurope/azureAsyncOperation/"
        );
        let results_prefix = format!(
            "/subscriptions/{SUB}/providers/Microsoft.DBforPostgreSQL/locations/westeurope/operationResults/"
        );
        if let Some(id) = path.strip_prefix(&ops_prefix) {
            if method != "GET" {
                return arm_error(405, "MethodNotAllowed", "GET only");
            }
            return self.poll(id, false).await;
        }
        if let Some(id) = path.strip_prefix(&results_prefix) {
            if method != "GET" {
                return arm_error(405, "MethodNotAllowed", "GET only");
            }
            return self.poll(id, true).await;
        }
        let Some(rest) = path.strip_prefix(&prefix) else {
            return arm_error(
                404,
                "ResourceGroupNotFound",
                &format!("Resource group '{RG}' could not be found."),
            );
        };
        let mut parts = rest.split('/');
        let server = parts.next().unwrap_or_default();
        let sub = parts.next();
        let name = parts.next();
        if server != SERVER {
            let code = if sub.is_some() {
                "ParentResourceNotFound"
            } else {
                "ResourceNotFound"
            };
            return arm_error(
                404,
                code,
                &format!(
                    "The Resource 'Microsoft.DBforPostgreSQL/flexibleServers/{server}' under resource group '{RG}' was not found."
                ),
            );
        }
        match (method, sub, name) {
            ("GET", None, None) => (200, Vec::new(), self.state.lock().unwrap().server.clone()),
            ("GET", Some("configurations"), Some(n)) => {
                let st = self.state.lock().unwrap();
                match st.configs.get(n) {
                    Some(c) => (200, Vec::new(), config_json(n, c)),
                    None => arm_error(
                        404,
                        "ResourceNotFound",
                        &format!("The configuration '{n}' does not exist for server '{SERVER}'."),
                    ),
                }
            }
            ("PUT", Some("configurations"), Some(n)) => self.put(n, body),
            _ => arm_error(400, "InvalidResourceType", "unexpected request"),
        }
    }

    fn put(&self, name: &str, body: Option<&Value>) -> (u16, Vec<(String, String)>, Value) {
        let value = body
            .and_then(|b| b.get("properties"))
            .and_then(|p| p.get("value"))
            .and_then(Value::as_str);
        let source = body
            .and_then(|b| b.get("properties"))
            .and_then(|p| p.get("source"))
            .and_then(Value::as_str);
        let (Some(value), Some("user-override")) = (value, source) else {
            return arm_error(
                400,
                "InvalidRequestContent",
                "The request content was invalid: properties.value and properties.source = user-override are required.",
            );
        };
        let mut st = self.state.lock().unwrap();
        let Some(c) = st.configs.get(name) else {
            return arm_error(
                404,
                "ResourceNotFound",
                &format!("The configuration '{name}' does not exist for server '{SERVER}'."),
            );
        };
        if c.read_only {
            return arm_error(
                400,
                "ReadOnlyConfiguration",
                "The configuration is read-only.",
            );
        }
        st.op_counter += 1;
        let id = format!("aaaaaaaa-aaaa-aaaa-aaaa-{:012}", st.op_counter);
        let (polls_left, result) = st.next_op.clone();
        st.next_op = (1, OpResult::Succeeded);
        st.ops.insert(
            id.clone(),
            Op {
                polls_left,
                result,
                name: name.to_owned(),
                value: value.to_owned(),
            },
        );
        let async_op = format!(
            "{}/subscriptions/{SUB}/providers/Microsoft.DBforPostgreSQL/locations/westeurope/azureAsyncOperation/{id}?api-version={API_VERSION}",
            self.url
        );
        let location = format!(
            "{}/subscriptions/{SUB}/providers/Microsoft.DBforPostgreSQL/locations/westeurope/operationResults/{id}?api-version={API_VERSION}",
            self.url
        );
        let mut headers = vec![
            ("Location".to_owned(), location),
            ("Retry-After".to_owned(), "1".to_owned()),
        ];
        if !st.location_only {
            headers.push(("Azure-AsyncOperation".to_owned(), async_op));
        }
        (202, headers, Value::Null)
    }

    async fn poll(&self, id: &str, location: bool) -> (u16, Vec<(String, String)>, Value) {
        let (op, hook) = {
            let mut st = self.state.lock().unwrap();
            let Some(op) = st.ops.get_mut(id) else {
                return arm_error(404, "ResourceNotFound", "no such operation");
            };
            if op.polls_left > 0 {
                op.polls_left -= 1;
                return (
                    if location { 202 } else { 200 },
                    vec![("Retry-After".to_owned(), "1".to_owned())],
                    json!({"name": id, "status": "InProgress", "startTime": "2026-11-24T10:00:00Z"}),
                );
            }
            let op = st.ops.remove(id).unwrap();
            (op, st.on_applied.clone())
        };
        match op.result {
            OpResult::Failed { code, message } if location => arm_error(409, &code, &message),
            OpResult::Failed { code, message } => (
                200,
                Vec::new(),
                json!({"name": id, "status": "Failed", "startTime": "2026-11-24T10:00:00Z",
                       "error": {"code": code, "message": message}}),
            ),
            OpResult::Succeeded => {
                {
                    let mut st = self.state.lock().unwrap();
                    if let Some(c) = st.configs.get_mut(&op.name) {
                        c.value = op.value.clone();
                        if !c.dynamic {
                            c.pending_restart = true;
                        }
                    }
                }
                if let Some(hook) = hook {
                    let (n, v) = (op.name.clone(), op.value.clone());
                    tokio::task::spawn_blocking(move || hook(&n, &v))
                        .await
                        .unwrap();
                }
                (
                    200,
                    Vec::new(),
                    json!({"name": id, "status": "Succeeded", "startTime": "2026-11-24T10:00:00Z",
                           "endTime": "2026-11-24T10:00:05Z"}),
                )
            }
        }
    }
}

fn config_json(name: &str, c: &Config) -> Value {
    json!({
        "name": name,
        "type": "Microsoft.DBforPostgreSQL/flexibleServers/configurations",
        "id": config_path(name),
        "properties": {
            "value": c.value,
            "defaultValue": c.default_value,
            "dataType": c.data_type,
            "allowedValues": c.allowed_values,
            "source": if c.value == c.default_value { "system-default" } else { "user-override" },
            "isDynamicConfig": c.dynamic,
            "isReadOnly": c.read_only,
            "isConfigPendingRestart": c.pending_restart,
            "description": "",
            "documentationLink": ""
        }
    })
}

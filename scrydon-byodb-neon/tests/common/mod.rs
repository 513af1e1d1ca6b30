//! An in-process Neon API v2 stand-in on loopback: answers scripted JSON, records requests.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub authorization: Option<String>,
    pub body: Option<serde_json::Value>,
}

type Routes = HashMap<(String, String), Vec<(u16, String)>>;

#[derive(Clone, Default)]
pub struct MockNeon {
    routes: Arc<Mutex<Routes>>,
    pub requests: Arc<Mutex<Vec<Recorded>>>,
}

impl MockNeon {
    /// Queues answers for `method path`; the last one repeats.
    pub fn on(&self, method: &str, path: &str, status: u16, body: serde_json::Value) {
        self.routes
            .lock()
            .unwrap()
            .entry((method.to_owned(), path.to_owned()))
            .or_default()
            .push((status, body.to_string()));
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }

    /// Starts serving; returns the base URL.
    pub async fn start(&self) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let me = self.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let me = me.clone();
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req| {
                        let me = me.clone();
                        async move { Ok::<_, Infallible>(me.answer(req).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        format!("http://{addr}/api/v2")
    }

    async fn answer(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let method = req.method().to_string();
        let full = req
            .uri()
            .path_and_query()
            .map(|p| p.to_string())
            .unwrap_or_default();
        let path = full.strip_prefix("/api/v2").unwrap_or(&full).to_owned();
        let authorization = req
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let bytes = req.into_body().collect().await.unwrap().to_bytes();
        let body = serde_json::from_slice(&bytes).ok();
        self.requests.lock().unwrap().push(Recorded {
            method: method.clone(),
            path: path.clone(),
            authorization,
            body,
        });
        let (status, text) = {
            let mut routes = self.routes.lock().unwrap();
            match routes.get_mut(&(method, path)) {
                Some(q) if q.len() > 1 => q.remove(0),
                Some(q) if q.len() == 1 => q[0].clone(),
                _ => (
                    404,
                    serde_json::json!({"code": "", "message": "not found"}).to_string(),
                ),
            }
        };
        Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(text)))
            .unwrap()
    }
}

pub const PROJECT: &str = "spring-example-302709";
pub const ENDPOINT: &str = "ep-cool-darkness-123456";
pub const KEY: &str = "napi_testkey_0123456789";

pub fn endpoint_json(suspend: i64, state: &str) -> serde_json::Value {
    serde_json::json!({
        "host": "ep-cool-darkness-123456.us-east-2.aws.neon.tech",
        "id": ENDPOINT,
        "project_id": PROJECT,
        "branch_id": "br-wispy-meadow-118737",
        "autoscaling_limit_min_cu": 0.25,
        "autoscaling_limit_max_cu": 0.25,
        "region_id": "aws-us-east-2",
        "type": "read_write",
        "current_state": state,
        "settings": {},
        "pooler_enabled": true,
        "pooler_mode": "transaction",
        "disabled": false,
        "passwordless_access": true,
        "creation_source": "console",
        "created_at": "2023-01-04T17:33:11Z",
        "updated_at": "2023-01-04T17:33:11Z",
        "proxy_host": "us-east-2.aws.neon.tech",
        "suspend_timeout_seconds": suspend,
        "provisioner": "k8s-neonvm"
    })
}

pub fn project_json(retention: u64) -> serde_json::Value {
    serde_json::json!({
        "id": PROJECT,
        "platform_id": "aws",
        "region_id": "aws-us-east-2",
        "name": "myproject",
        "provisioner": "k8s-neonvm",
        "pg_version": 16,
        "history_retention_seconds": retention,
        "owner_id": "u1",
        "created_at": "2023-01-04T17:33:11Z",
        "updated_at": "2023-01-04T17:33:11Z"
    })
}

/// A mock with one project holding the endpoint (suspend 0, retention 7 days).
pub fn standard() -> MockNeon {
    let m = MockNeon::default();
    m.on(
        "GET",
        "/projects?limit=100",
        200,
        serde_json::json!({"projects": [
            project_json(604800).as_object().unwrap().clone(),
        ], "pagination": {"cursor": PROJECT}}),
    );
    m.on(
        "GET",
        &format!("/projects/{PROJECT}/endpoints"),
        200,
        serde_json::json!({"endpoints": [endpoint_json(0, "active")]}),
    );
    m.on(
        "GET",
        &format!("/projects/{PROJECT}/endpoints/{ENDPOINT}"),
        200,
        serde_json::json!({"endpoint": endpoint_json(0, "active")}),
    );
    m.on(
        "GET",
        &format!("/projects/{PROJECT}"),
        200,
        serde_json::json!({"project": project_json(604800)}),
    );
    m
}

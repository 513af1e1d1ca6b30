//! The Neon provider against an in-process API v2 stand-in on loopback.

#![allow(clippy::unwrap_used)]

mod common;

use std::error::Error as _;
use std::time::Duration;

use common::*;
use scrydon_byodb::provider::{Applies, Provider};
use scrydon_byodb_neon::{ApiError, ApiErrorKind, EndpointState, NeonProvider, SuspendTimeout};

fn provider(base: &str) -> NeonProvider {
    NeonProvider::builder()
        .with_api_key(KEY)
        .with_host("ep-cool-darkness-123456-pooler.us-east-2.aws.neon.tech")
        .with_base_url(base)
        .with_poll_interval(Duration::from_millis(20))
        .with_operation_timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

fn api_error(e: &scrydon_byodb::Error) -> ApiError {
    e.source()
        .and_then(|s| s.downcast_ref::<ApiError>())
        .cloned()
        .unwrap_or_else(|| panic!("no ApiError in {e:?}"))
}

#[tokio::test]
async fn finds_the_project_and_reads_the_endpoint() {
    let mock = standard();
    let base = mock.start().await;
    let neon = provider(&base);
    let ep = neon.endpoint().await.unwrap();
    assert_eq!(ep.id, ENDPOINT);
    assert_eq!(ep.project_id, PROJECT);
    assert_eq!(ep.current_state, EndpointState::Active);
    assert_eq!(ep.suspend_timeout(), SuspendTimeout::Default);
    assert_eq!(
        ep.suspend_timeout().effective(),
        Some(Duration::from_secs(300))
    );
    assert!(ep.pooler_enabled);
    assert_eq!(ep.pooler_mode.as_deref(), Some("transaction"));
    let p = neon.project().await.unwrap();
    assert_eq!((p.pg_version, p.history_retention_seconds), (16, 604800));
    let b = neon.backup_posture().await.unwrap();
    assert_eq!(b.retention_days, Some(7));
    assert!(b.point_in_time_recovery && b.automated);
    assert_eq!(
        neon.parameter("suspend_timeout_seconds")
            .await
            .unwrap()
            .unwrap()
            .value,
        "0"
    );
    assert_eq!(
        neon.parameter("pg_version").await.unwrap().unwrap().value,
        "16"
    );
    assert_eq!(neon.parameter("work_mem").await.unwrap(), None);

    let reqs = mock.requests();
    let paths: Vec<_> = reqs
        .iter()
        .map(|r| (r.method.as_str(), r.path.as_str()))
        .collect();
    // The project is searched once, then cached.
    assert_eq!(
        &paths[..3],
        &[
            ("GET", "/projects?limit=100"),
            ("GET", "/projects/spring-example-302709/endpoints"),
            (
                "GET",
                "/projects/spring-example-302709/endpoints/ep-cool-darkness-123456"
            ),
        ]
    );
    assert_eq!(
        paths
            .iter()
            .filter(|p| p.1 == "/projects?limit=100")
            .count(),
        1
    );
    for r in &reqs {
        assert_eq!(r.authorization.as_deref(), Some(&*format!("Bearer {KEY}")));
    }
    assert!(!format!("{neon:?}").contains(KEY));
}

#[tokio::test]
async fn sets_the_suspend_timeout_and_follows_the_operation() {
    let mock = MockNeon::default();
    let ep_path = format!("/projects/{PROJECT}/endpoints/{ENDPOINT}");
    mock.on(
        "GET",
        &ep_path,
        200,
        serde_json::json!({"endpoint": endpoint_json(300, "idle")}),
    );
    mock.on(
        "PATCH",
        &ep_path,
        200,
        serde_json::json!({
            "endpoint": endpoint_json(-1, "idle"),
            "operations": [{
                "id": "a07f8772-1877-4da9-a939-3a3ae62d1d8d",
                "project_id": PROJECT,
                "endpoint_id": ENDPOINT,
                "action": "apply_config",
                "status": "running",
                "failures_count": 0,
                "created_at": "2022-11-08T23:33:16Z",
                "updated_at": "2022-11-08T23:33:20Z",
                "total_duration_ms": 0
            }]
        }),
    );
    let op_path = format!("/projects/{PROJECT}/operations/a07f8772-1877-4da9-a939-3a3ae62d1d8d");
    mock.on("GET", &op_path, 200, serde_json::json!({"operation": {"id": "a07f8772-1877-4da9-a939-3a3ae62d1d8d", "status": "running"}}));
    mock.on("GET", &op_path, 200, serde_json::json!({"operation": {"id": "a07f8772-1877-4da9-a939-3a3ae62d1d8d", "status": "finished"}}));
    let base = mock.start().await;
    let neon = NeonProvider::builder()
        .with_api_key(KEY)
        .with_endpoint_id(ENDPOINT)
        .with_project_id(PROJECT)
        .with_base_url(&base)
        .with_poll_interval(Duration::from_millis(20))
        .build()
        .unwrap();
    let change = neon
        .set_parameter("suspend_timeout_seconds", "never")
        .await
        .unwrap();
    assert_eq!(change.previous.as_deref(), Some("300"));
    assert_eq!(change.value, "-1");
    assert_eq!(change.applies, Applies::Immediately);

    let reqs = mock.requests();
    let calls: Vec<_> = reqs
        .iter()
        .map(|r| (r.method.as_str(), r.path.as_str()))
        .collect();
    assert_eq!(
        calls,
        [
            ("GET", ep_path.as_str()),
            ("PATCH", ep_path.as_str()),
            ("GET", op_path.as_str()),
            ("GET", op_path.as_str()),
        ]
    );
    assert_eq!(
        reqs[1].body,
        Some(serde_json::json!({"endpoint": {"suspend_timeout_seconds": -1}}))
    );
}

#[tokio::test]
async fn unchanged_value_sends_no_patch_and_bad_values_are_refused() {
    let mock = standard();
    let base = mock.start().await;
    let neon = provider(&base);
    let change = neon
        .set_parameter("suspend_timeout_seconds", "0")
        .await
        .unwrap();
    assert_eq!(change.value, "0");
    assert!(mock.requests().iter().all(|r| r.method == "GET"));
    for (name, value) in [
        ("suspend_timeout_seconds", "-5"),
        ("suspend_timeout_seconds", "soon"),
        ("max_connections", "10"),
    ] {
        let err = neon.set_parameter(name, value).await.unwrap_err();
        assert!(
            matches!(err, scrydon_byodb::Error::InvalidInput { .. }),
            "{err:?}"
        );
    }
}

#[tokio::test]
async fn api_errors_are_reported_by_kind_without_the_key() {
    let mock = MockNeon::default();
    let ep_path = format!("/projects/{PROJECT}/endpoints/{ENDPOINT}");
    mock.on(
        "GET",
        &ep_path,
        200,
        serde_json::json!({"endpoint": endpoint_json(300, "active")}),
    );
    mock.on(
        "PATCH",
        &ep_path,
        400,
        serde_json::json!({"code": "", "message": "suspend_timeout_seconds -1 is not allowed on the Free plan"}),
    );
    mock.on(
        "GET",
        &format!("/projects/{PROJECT}"),
        401,
        serde_json::json!({"code": "", "message": "authentication required"}),
    );
    let base = mock.start().await;
    let neon = NeonProvider::builder()
        .with_api_key(KEY)
        .with_endpoint_id(ENDPOINT)
        .with_project_id(PROJECT)
        .with_base_url(&base)
        .build()
        .unwrap();
    let err = neon
        .set_suspend_timeout(SuspendTimeout::Never)
        .await
        .unwrap_err();
    let api = api_error(&err);
    assert_eq!(api.kind, ApiErrorKind::BadRequest);
    assert_eq!(api.status, Some(400));
    assert!(api.message.contains("Free plan"));
    let err = neon.backup_posture().await.unwrap_err();
    assert_eq!(api_error(&err).kind, ApiErrorKind::Unauthorized);
    assert!(!format!("{err} {err:?}").contains(KEY));
}

#[tokio::test]
async fn failed_operation_and_unknown_endpoint() {
    let mock = MockNeon::default();
    let ep_path = format!("/projects/{PROJECT}/endpoints/{ENDPOINT}");
    mock.on(
        "GET",
        &ep_path,
        200,
        serde_json::json!({"endpoint": endpoint_json(300, "active")}),
    );
    mock.on(
        "PATCH",
        &ep_path,
        200,
        serde_json::json!({"endpoint": endpoint_json(600, "active"), "operations": [{"id": "op1", "status": "running"}]}),
    );
    mock.on(
        "GET",
        &format!("/projects/{PROJECT}/operations/op1"),
        200,
        serde_json::json!({"operation": {"id": "op1", "status": "failed"}}),
    );
    mock.on(
        "GET",
        "/projects?limit=100",
        200,
        serde_json::json!({"projects": [], "pagination": {}}),
    );
    let base = mock.start().await;
    let neon = NeonProvider::builder()
        .with_api_key(KEY)
        .with_endpoint_id(ENDPOINT)
        .with_project_id(PROJECT)
        .with_base_url(&base)
        .with_poll_interval(Duration::from_millis(20))
        .build()
        .unwrap();
    let err = neon
        .set_suspend_timeout(SuspendTimeout::After(Duration::from_secs(600)))
        .await
        .unwrap_err();
    assert_eq!(api_error(&err).kind, ApiErrorKind::OperationFailed);

    let lost = NeonProvider::builder()
        .with_api_key(KEY)
        .with_endpoint_id("ep-nowhere-1")
        .with_base_url(&base)
        .build()
        .unwrap();
    let err = lost.endpoint().await.unwrap_err();
    assert_eq!(api_error(&err).kind, ApiErrorKind::NotFound);
}

#[test]
fn builder_validates_and_never_reads_the_environment() {
    let err = NeonProvider::builder()
        .with_endpoint_id(ENDPOINT)
        .build()
        .unwrap_err();
    assert!(matches!(err, scrydon_byodb::Error::InvalidInput { .. }));
    let err = NeonProvider::builder()
        .with_api_key(KEY)
        .with_host("db.example.com")
        .build()
        .unwrap_err();
    assert!(matches!(err, scrydon_byodb::Error::InvalidInput { .. }));
    let err = NeonProvider::builder()
        .with_api_key(KEY)
        .with_endpoint_id(ENDPOINT)
        .with_base_url("ftp://x")
        .build()
        .unwrap_err();
    assert!(matches!(err, scrydon_byodb::Error::InvalidInput { .. }));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("key");
    std::fs::write(&file, format!("{KEY}\n")).unwrap();
    let p = NeonProvider::builder()
        .with_api_key_file(&file)
        .with_endpoint_id(ENDPOINT)
        .build()
        .unwrap();
    assert!(!format!("{p:?}").contains(KEY));
}

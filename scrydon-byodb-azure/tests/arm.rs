//! The provider against the in-process ARM server (HTTPS on 127.0.0.1, a test CA): reads,
//! writes followed through 202 + Azure-AsyncOperation, throttling and transient errors, bad
//! input, secrets.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::atomic::Ordering;
use std::sync::Arc;

use scrydon_byodb::provider::{Applies, Provider, Redundancy};
use scrydon_byodb::report::{ids, FixLanguage, Status};
use scrydon_byodb::Error;
use scrydon_byodb_azure::{FlexibleServerProvider, HighAvailabilityMode};
use serde_json::json;
use support::{
    config_path, server_json, server_path, standard_configs, FakeArm, OpResult, StubCredential, RG,
    SERVER, SUB, TOKEN,
};

fn cred() -> Arc<StubCredential> {
    Arc::new(StubCredential::default())
}

#[tokio::test]
async fn reads_map_to_the_documented_values() {
    let arm = FakeArm::start_with(
        server_json("SameZone", "Enabled", 9, "Disabled"),
        standard_configs("pg_trgm,Vector", "off", "TLSv1.1"),
    )
    .await;
    let c = cred();
    let azure = arm.provider(c.clone()).await;

    let d = azure.describe().await.expect("describe");
    assert_eq!(d.version.as_deref(), Some("16"));
    assert_eq!(d.minor_version.as_deref(), Some("4"));
    assert_eq!(d.location.as_deref(), Some("westeurope"));
    assert_eq!(d.state.as_deref(), Some("Ready"));
    assert_eq!(d.extensions, ["pg_trgm", "Vector"]);
    assert!(d.has_vector);
    assert_eq!(d.require_secure_transport, Some(false));
    assert_eq!(d.ssl_min_protocol_version.as_deref(), Some("TLSv1.1"));
    assert_eq!(d.high_availability, HighAvailabilityMode::SameZone);
    assert_eq!(d.backup_retention_days, Some(9));
    assert_eq!(d.geo_redundant_backup, Some(false));
    assert_eq!(d.public_network_access, Some(true));
    assert_eq!(d.entra_authentication, Some(true));
    assert!(d.pending_restart.is_empty());

    let p = azure
        .parameter("azure.extensions")
        .await
        .unwrap()
        .expect("exists");
    assert_eq!(
        (p.value.as_str(), p.pending_restart),
        ("pg_trgm,Vector", false)
    );
    assert_eq!(azure.parameter("no.such_parameter").await.unwrap(), None);

    let ha = azure.high_availability().await.unwrap();
    assert_eq!(ha.redundancy, Redundancy::SameZone);
    assert!(ha.automatic_failover);
    let b = azure.backup_posture().await.unwrap();
    assert!(b.automated && b.point_in_time_recovery);
    assert_eq!(b.retention_days, Some(9));
    assert_eq!(b.cross_region, Some(false));

    let findings = azure.findings().await.unwrap();
    let status = |id: &str| {
        findings
            .iter()
            .find(|f| f.id == id)
            .map(|f| f.status)
            .unwrap_or_else(|| panic!("{id} missing"))
    };
    assert_eq!(status(ids::PROVIDER_TLS_ENFORCED), Status::Fail);
    assert_eq!(status(ids::PROVIDER_TLS_MIN_VERSION), Status::Warn);
    assert_eq!(status(ids::PROVIDER_EXTENSION_ALLOWED), Status::Pass);
    assert_eq!(status(ids::PROVIDER_PUBLIC_NETWORK), Status::Warn);
    assert_eq!(status(ids::PROVIDER_PENDING_RESTART), Status::Pass);
    assert_eq!(status(ids::PROVIDER_IAM_AUTHENTICATION), Status::Pass);
    let tls = findings
        .iter()
        .find(|f| f.id == ids::PROVIDER_TLS_ENFORCED)
        .unwrap();
    for r in ["ISO 27001:2022 A.8.24", "NIST SC-8"] {
        assert!(tls.references.contains(&r), "{r}: {:?}", tls.references);
    }
    let fix = tls.fix.as_ref().expect("a fix");
    assert_eq!(fix.language, FixLanguage::Shell);
    assert!(fix
        .text
        .contains("--name require_secure_transport --value 'on'"));
    assert!(fix.text.contains(&format!("--server-name {SERVER}")));
    assert!(findings.iter().all(|f| f.component.is_none()));

    // Reads sent no write, and every request carried the token and the api-version.
    let reqs = arm.requests();
    assert!(reqs.iter().all(|r| r.method == "GET"), "{reqs:?}");
    assert!(reqs.iter().all(
        |r| r.authorization.as_deref() == Some(&format!("Bearer {TOKEN}"))
            && r.query == "api-version=2025-08-01"
    ));
    // The token is cached by azure_core's bearer policy: one credential call for all of it.
    assert_eq!(c.calls.load(Ordering::SeqCst), 1);
    assert_eq!(
        *c.scopes.lock().unwrap(),
        ["https://management.azure.com/.default"]
    );
}

#[tokio::test]
async fn allow_extension_keeps_the_list_and_follows_the_operation() {
    let arm = FakeArm::start("pg_trgm,postgis", "on", "TLSv1.2").await;
    let azure = arm.provider(cred()).await;
    arm.next_operation(2, OpResult::Succeeded);
    arm.clear_requests();

    let change = azure.allow_extension("vector").await.expect("allow");
    assert_eq!(change.name, "azure.extensions");
    assert_eq!(change.previous.as_deref(), Some("pg_trgm,postgis"));
    assert_eq!(change.value, "pg_trgm,postgis,VECTOR");
    assert_eq!(change.applies, Applies::Immediately);

    let puts = arm.puts();
    assert_eq!(puts.len(), 1);
    assert_eq!(puts[0].path, config_path("azure.extensions"));
    assert_eq!(
        puts[0].body,
        Some(json!({"properties": {"value": "pg_trgm,postgis,VECTOR", "source": "user-override"}}))
    );
    let polls: Vec<u16> = arm
        .requests()
        .iter()
        .filter(|r| r.path.contains("/azureAsyncOperation/"))
        .map(|r| r.status)
        .collect();
    assert_eq!(polls.len(), 3, "two InProgress polls, then Succeeded");
    assert_eq!(
        arm.config("azure.extensions").unwrap().value,
        "pg_trgm,postgis,VECTOR"
    );

    // Again: already there, nothing sent.
    let again = azure.allow_extension("vector").await.unwrap();
    assert_eq!(again.value, "pg_trgm,postgis,VECTOR");
    assert_eq!(arm.puts().len(), 1);
}

#[tokio::test]
async fn vector_listed_in_any_case_sends_nothing() {
    for listed in ["vector", "VECTOR", "pg_trgm, Vector "] {
        let arm = FakeArm::start(listed, "on", "TLSv1.2").await;
        let azure = arm.provider(cred()).await;
        let change = azure.allow_extension("VECTOR").await.unwrap();
        assert_eq!(change.value, listed);
        assert_eq!(change.previous.as_deref(), Some(listed));
        assert!(arm.puts().is_empty(), "{listed}");
    }
}

#[tokio::test]
async fn allow_extension_refuses_bad_names_and_unoffered_extensions() {
    let arm = FakeArm::start("pg_trgm", "on", "TLSv1.2").await;
    let azure = arm.provider(cred()).await;
    arm.clear_requests();
    for bad in ["", "vec tor", "x;DROP", "a'b"] {
        match azure.allow_extension(bad).await {
            Err(Error::InvalidInput { field, .. }) => assert_eq!(field, "extension"),
            other => panic!("{bad:?}: {other:?}"),
        }
    }
    assert!(
        arm.requests().is_empty(),
        "bad names are refused before any request"
    );
    match azure.allow_extension("timescaledb").await {
        Err(Error::InvalidInput { field, value, .. }) => {
            assert_eq!(
                (field.as_str(), value.as_str()),
                ("extension", "timescaledb")
            )
        }
        other => panic!("{other:?}"),
    }
    assert!(arm.puts().is_empty());
    assert_eq!(arm.config("azure.extensions").unwrap().value, "pg_trgm");
}

#[tokio::test]
async fn a_failed_operation_is_a_provider_error_and_changes_nothing() {
    let arm = FakeArm::start("pg_trgm", "off", "TLSv1.2").await;
    let azure = arm.provider(cred()).await;
    arm.next_operation(
        1,
        OpResult::Failed {
            code: "ServerParameterUpdateFailed".into(),
            message: "The server is busy with another operation.".into(),
        },
    );
    let err = azure.enforce_tls().await.expect_err("failed operation");
    match &err {
        Error::Provider {
            provider, reason, ..
        } => {
            assert_eq!(provider, "azure-flexible-server");
            assert!(reason.contains("ServerParameterUpdateFailed"), "{reason}");
            assert!(reason.contains("Failed"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    assert!(!format!("{err} {err:?}").contains(TOKEN));
    assert_eq!(arm.config("require_secure_transport").unwrap().value, "off");
    assert_eq!(
        azure
            .parameter("require_secure_transport")
            .await
            .unwrap()
            .unwrap()
            .value,
        "off"
    );
}

#[tokio::test]
async fn a_location_only_operation_is_followed_too() {
    let arm = FakeArm::start("pg_trgm", "off", "TLSv1.2").await;
    let azure = arm.provider(cred()).await;
    arm.location_only();
    arm.next_operation(2, OpResult::Succeeded);
    let change = azure.enforce_tls().await.expect("enforce");
    assert_eq!(change.value, "on");
    let polls: Vec<u16> = arm
        .requests()
        .iter()
        .filter(|r| r.path.contains("/operationResults/"))
        .map(|r| r.status)
        .collect();
    assert_eq!(polls, [202, 202, 200]);
    assert_eq!(arm.config("require_secure_transport").unwrap().value, "on");

    // A failure seen through Location: the ARM error, nothing changed.
    arm.next_operation(
        0,
        OpResult::Failed {
            code: "ServerBusy".into(),
            message: "Another operation is in progress.".into(),
        },
    );
    match azure
        .set_parameter("ssl_min_protocol_version", "TLSv1.3")
        .await
    {
        Err(Error::Provider { reason, .. }) => assert!(reason.contains("ServerBusy"), "{reason}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        arm.config("ssl_min_protocol_version").unwrap().value,
        "TLSv1.2"
    );
}

#[tokio::test]
async fn enforce_tls_turns_require_secure_transport_on_once() {
    let arm = FakeArm::start("pg_trgm", "off", "TLSv1.2").await;
    let azure = arm.provider(cred()).await;
    let change = azure.enforce_tls().await.unwrap();
    assert_eq!(change.previous.as_deref(), Some("off"));
    assert_eq!(change.value, "on");
    assert_eq!(change.applies, Applies::Immediately);
    let again = azure.enforce_tls().await.unwrap();
    assert_eq!(
        (again.previous.as_deref(), again.applies),
        (Some("on"), Applies::Immediately)
    );
    let puts = arm.puts();
    assert_eq!(puts.len(), 1);
    assert_eq!(puts[0].path, config_path("require_secure_transport"));
    assert_eq!(
        azure
            .findings()
            .await
            .unwrap()
            .iter()
            .find(|f| f.id == ids::PROVIDER_TLS_ENFORCED)
            .unwrap()
            .status,
        Status::Pass
    );
}

#[tokio::test]
async fn a_static_parameter_reports_a_pending_restart() {
    let arm = FakeArm::start("pg_trgm", "on", "TLSv1.2").await;
    let azure = arm.provider(cred()).await;
    // max_connections is static on Flexible Server.
    let change = azure.set_parameter("max_connections", "100").await.unwrap();
    assert_eq!(change.previous.as_deref(), Some("50"));
    assert_eq!(change.applies, Applies::AfterRestart);
    let p = azure.parameter("max_connections").await.unwrap().unwrap();
    assert!(p.pending_restart);
    assert_eq!(p.value, "100");

    // One of the watched parameters pending a restart shows in describe and the findings.
    let mut ext = arm.config("azure.extensions").unwrap();
    ext.pending_restart = true;
    arm.set_config("azure.extensions", ext);
    let d = azure.describe().await.unwrap();
    assert_eq!(d.pending_restart, ["azure.extensions"]);
    let f = azure.findings().await.unwrap();
    let pending = f
        .iter()
        .find(|f| f.id == ids::PROVIDER_PENDING_RESTART)
        .unwrap();
    assert_eq!(pending.status, Status::Warn);
    assert!(pending
        .fix
        .as_ref()
        .unwrap()
        .text
        .contains("flexible-server restart"));
}

#[tokio::test]
async fn set_parameter_checks_values_before_sending() {
    let arm = FakeArm::start("pg_trgm", "off", "TLSv1.2").await;
    let azure = arm.provider(cred()).await;
    arm.clear_requests();
    match azure
        .set_parameter("require_secure_transport", "maybe")
        .await
    {
        Err(Error::InvalidInput { field, value, .. }) => {
            assert_eq!((field.as_str(), value.as_str()), ("value", "maybe"))
        }
        other => panic!("{other:?}"),
    }
    match azure.set_parameter("bad name;", "on").await {
        Err(Error::InvalidInput { field, .. }) => assert_eq!(field, "parameter"),
        other => panic!("{other:?}"),
    }
    match azure.set_parameter("no_such_parameter", "on").await {
        Err(Error::InvalidInput { field, .. }) => assert_eq!(field, "parameter"),
        other => panic!("{other:?}"),
    }
    assert!(arm.puts().is_empty());
}

#[tokio::test]
async fn throttling_is_retried_after_retry_after() {
    let arm = FakeArm::start("pg_trgm", "on", "TLSv1.2").await;
    let azure = arm.provider(cred()).await;
    arm.clear_requests();
    let path = config_path("azure.extensions");
    arm.fault(
        "GET",
        &path,
        429,
        &[("Retry-After", "1")],
        json!({"error": {"code": "TooManyRequests", "message": "The request is being throttled."}}),
    );
    let started = std::time::Instant::now();
    let p = azure.parameter("azure.extensions").await.unwrap().unwrap();
    assert_eq!(p.value, "pg_trgm");
    assert!(
        started.elapsed() >= std::time::Duration::from_millis(900),
        "Retry-After: 1 was honoured ({:?})",
        started.elapsed()
    );
    let statuses: Vec<u16> = arm
        .requests()
        .iter()
        .filter(|r| r.path == path)
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, [429, 200]);
}

#[tokio::test]
async fn transient_errors_are_retried_and_persistent_ones_reported() {
    let arm = FakeArm::start("pg_trgm", "on", "TLSv1.2").await;
    let azure = arm.provider(cred()).await;
    arm.clear_requests();
    let path = server_path();
    arm.fault(
        "GET",
        &path,
        503,
        &[],
        json!({"error": {"code": "ServiceUnavailable", "message": "try again"}}),
    );
    arm.fault(
        "GET",
        &path,
        500,
        &[],
        json!({"error": {"code": "InternalServerError", "message": "oops"}}),
    );
    let ha = azure.high_availability().await.unwrap();
    assert_eq!(ha.redundancy, Redundancy::MultiZone);
    let statuses: Vec<u16> = arm.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [503, 500, 200]);

    // More failures than retries (3): the ARM code comes back in the error.
    for _ in 0..4 {
        arm.fault(
            "GET",
            &path,
            503,
            &[],
            json!({"error": {"code": "ServiceUnavailable", "message": "down"}}),
        );
    }
    match azure.backup_posture().await {
        Err(Error::Provider { reason, .. }) => {
            assert!(
                reason.contains("503") && reason.contains("ServiceUnavailable"),
                "{reason}"
            )
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_missing_server_is_a_clear_error() {
    let arm = FakeArm::start("pg_trgm", "on", "TLSv1.2").await;
    let c = cred();
    let err = arm
        .builder(c.clone())
        .with_resource_id(format!(
            "/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.DBforPostgreSQL/flexibleServers/nope-1"
        ))
        .build()
        .await
        .expect_err("no such server");
    match &err {
        Error::Provider { reason, .. } => {
            assert!(
                reason.contains("nope-1") && reason.contains("ResourceNotFound"),
                "{reason}"
            )
        }
        other => panic!("{other:?}"),
    }
    assert!(!format!("{err} {err:?}").contains(TOKEN));
}

#[tokio::test]
async fn bad_targets_are_refused_before_any_request() {
    let arm = FakeArm::start("pg_trgm", "on", "TLSv1.2").await;
    let c = cred();
    let cases: Vec<(&str, scrydon_byodb_azure::FlexibleServerProviderBuilder)> = vec![
        (
            "resource_id",
            arm.builder(c.clone()).with_resource_id("/subscriptions/x/resourceGroups"),
        ),
        (
            "subscription_id",
            arm.builder(c.clone()).with_resource_id(
                "/subscriptions/not-a-guid/resourceGroups/rg/providers/Microsoft.DBforPostgreSQL/flexibleServers/pg-1",
            ),
        ),
        (
            "host",
            FlexibleServerProvider::builder()
                .with_host("db.example.com")
                .with_subscription_id(SUB)
                .with_resource_group(RG)
                .with_endpoint(arm.url.clone())
                .with_credential(c.clone()),
        ),
        (
            "resource_group",
            FlexibleServerProvider::builder()
                .with_host("scrydon-test.postgres.database.azure.com")
                .with_subscription_id(SUB)
                .with_endpoint(arm.url.clone())
                .with_credential(c.clone()),
        ),
        (
            "endpoint",
            FlexibleServerProvider::builder()
                .with_resource_id(server_path())
                .with_endpoint(arm.url.replace("https://", "http://"))
                .with_credential(c.clone()),
        ),
        (
            "credential",
            FlexibleServerProvider::builder()
                .with_resource_id(server_path())
                .with_endpoint(arm.url.clone()),
        ),
    ];
    for (want, builder) in cases {
        match builder.build().await {
            Err(Error::InvalidInput { field, .. }) => assert_eq!(field, want),
            other => panic!("{want}: {other:?}"),
        }
    }
    assert!(arm.requests().is_empty(), "{:?}", arm.requests());
    assert_eq!(c.calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn the_host_with_subscription_and_group_finds_the_server() {
    let arm = FakeArm::start("pg_trgm", "on", "TLSv1.2").await;
    let azure = FlexibleServerProvider::builder()
        .with_host("SCRYDON-TEST.postgres.database.azure.com.")
        .with_subscription_id(SUB)
        .with_resource_group(RG)
        .with_endpoint(arm.url.clone())
        .with_additional_endpoint_roots(&arm.ca)
        .with_credential(cred())
        .build()
        .await
        .expect("build");
    assert_eq!(azure.server().server_name, SERVER);
    assert_eq!(arm.requests()[0].path, server_path());
}

#[tokio::test]
async fn the_endpoint_must_be_trusted() {
    // Without the test CA among the roots, TLS to the fake fails: no request reaches it.
    let arm = FakeArm::start("pg_trgm", "on", "TLSv1.2").await;
    let err = FlexibleServerProvider::builder()
        .with_resource_id(server_path())
        .with_endpoint(arm.url.clone())
        .with_credential(cred())
        .with_retry(azure_core::http::RetryOptions::none())
        .build()
        .await
        .expect_err("untrusted endpoint");
    assert!(matches!(err, Error::Provider { .. }), "{err:?}");
    assert!(arm.requests().is_empty());
}

#[tokio::test]
async fn an_operation_url_elsewhere_is_not_followed_with_the_token() {
    let arm = FakeArm::start("pg_trgm", "off", "TLSv1.2").await;
    let azure = arm.provider(cred()).await;
    arm.fault(
        "PUT",
        &config_path("require_secure_transport"),
        202,
        &[(
            "Azure-AsyncOperation",
            "https://attacker.example.net/op/1?api-version=2025-08-01",
        )],
        serde_json::Value::Null,
    );
    match azure.enforce_tls().await {
        Err(Error::Provider { reason, .. }) => {
            assert!(reason.contains("attacker.example.net"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn secrets_stay_out_of_debug_and_errors() {
    let arm = FakeArm::start("pg_trgm", "on", "TLSv1.2").await;
    let c = cred();
    let builder = arm.builder(c.clone());
    let azure = builder.build().await.unwrap();
    let shown = format!("{:?}", arm.builder(c.clone()));
    assert!(!shown.contains(TOKEN), "{shown}");
    let shown = format!("{azure:?}");
    assert!(!shown.contains(TOKEN), "{shown}");
    assert!(shown.contains(SERVER));
    // An authentication failure on ARM's side is reported without the token.
    arm.fault(
        "GET",
        &server_path(),
        403,
        &[],
        json!({"error": {"code": "AuthorizationFailed", "message": "The client does not have authorization to perform action 'Microsoft.DBforPostgreSQL/flexibleServers/read'."}}),
    );
    let err = azure.describe().await.expect_err("403");
    let text = format!("{err} {err:?}");
    assert!(text.contains("AuthorizationFailed"), "{text}");
    assert!(!text.contains(TOKEN), "{text}");
}

#[test]
fn the_ca_bundle_holds_the_documented_roots() {
    use sha2::{Digest, Sha256};
    let bundle = scrydon_byodb_azure::azure_ca_bundle().unwrap();
    let mut got: Vec<String> = bundle
        .der_certificates()
        .iter()
        .map(|der| {
            Sha256::digest(der)
                .iter()
                .map(|b| format!("{b:02X}"))
                .collect::<Vec<_>>()
                .join(":")
        })
        .collect();
    got.sort();
    let mut want = vec![
        // DigiCert Global Root CA
        "43:48:A0:E9:44:4C:78:CB:26:5E:05:8D:5E:89:44:B4:D8:4F:96:62:BD:26:DB:25:7F:89:34:A4:43:C7:01:61",
        // DigiCert Global Root G2
        "CB:3C:CB:B7:60:31:E5:E0:13:8F:8D:D3:9A:23:F9:DE:47:FF:C3:5E:43:C1:14:4C:EA:27:D4:6A:5A:B1:CB:5F",
        // Microsoft RSA Root Certificate Authority 2017
        "C7:41:F7:0F:4B:2A:8D:88:BF:2E:71:C1:41:22:EF:53:EF:10:EB:A0:CF:A5:E6:4C:FA:20:F4:18:85:30:73:E0",
    ];
    want.sort();
    assert_eq!(got, want);
    let subjects: Vec<String> = bundle
        .certificates()
        .into_iter()
        .map(|c| c.subject)
        .collect();
    assert!(
        subjects
            .iter()
            .any(|s| s.contains("DigiCert Global Root CA")),
        "{subjects:?}"
    );
}

//! The provider against the in-process Admin API: reads map to the documented fields, the
//! sslMode/requireSsl table, flag patches that keep the other flags and follow the operation to
//! DONE, failures, bad input and CA rotation.

mod support;

use std::error::Error as _;

use scrydon_byodb::provider::{Applies, Provider, Redundancy};
use scrydon_byodb::report::{ids, Status};
use scrydon_byodb::Error;
use scrydon_byodb_gcp::{ApiError, ApiErrorKind, CloudSqlProvider, ServerCaMode, TlsDecidedBy};
use scrydon_byodb_testbed::TestCa;
use serde_json::{json, Value};
use support::{
    instance_json, key, provider, FakeAdmin, ServiceAccountKey, INSTANCE, PROJECT, REGION,
};

fn ca(name: &str) -> (String, String, String) {
    let ca = TestCa::new(name).expect("CA");
    (
        ca.cert_pem().to_owned(),
        name.to_owned(),
        format!("fp-{name}"),
    )
}

async fn fake(key: &ServiceAccountKey, instance: Value) -> FakeAdmin {
    FakeAdmin::start(key, instance, vec![ca("Google Cloud SQL Server CA")]).await
}

fn provider_reason(e: &Error) -> &str {
    match e {
        Error::Provider {
            provider, reason, ..
        } => {
            assert_eq!(provider, "gcp-cloud-sql");
            reason
        }
        other => panic!("not a provider error: {other:?}"),
    }
}

fn api_kind(e: &Error) -> ApiErrorKind {
    e.source()
        .and_then(|s| s.downcast_ref::<ApiError>())
        .map(|a| a.kind)
        .unwrap_or_else(|| panic!("no ApiError source in {e:?}"))
}

#[tokio::test]
async fn reads_map_to_the_documented_fields() {
    let (_dir, key) = key();
    let fake = fake(&key, instance_json("")).await;
    let p = provider(&key, &fake).await;
    let d = p.describe().await.expect("describe");
    assert_eq!(d.database_version.as_deref(), Some("POSTGRES_16"));
    assert_eq!(d.region.as_deref(), Some(REGION));
    assert_eq!(d.connection_name.as_deref(), Some("proj:europe-west1:inst"));
    assert_eq!(d.ssl_mode.as_deref(), Some("ENCRYPTED_ONLY"));
    assert_eq!(d.require_ssl, Some(false));
    assert!(d.tls_enforced);
    assert_eq!(d.tls_decided_by, TlsDecidedBy::SslMode);
    assert_eq!(d.server_ca_mode, ServerCaMode::GoogleManagedInternalCa);
    assert!(!d.ipv4_enabled && !d.public());
    assert_eq!(d.private_ip_addresses, ["10.20.0.3"]);
    assert_eq!(
        d.private_network.as_deref(),
        Some("projects/proj/global/networks/default")
    );
    assert_eq!(d.flag("cloudsql.iam_authentication"), Some("on"));
    assert_eq!(d.settings_version, Some(12));
    assert_eq!(d.transaction_log_retention_days, Some(7));
    assert_eq!(d.availability_type.as_deref(), Some("REGIONAL"));

    let b = p.backup_posture().await.expect("backups");
    assert!(b.automated && b.point_in_time_recovery);
    assert_eq!(b.retention_days, Some(14));
    assert_eq!(b.cross_region, None);
    let ha = p.high_availability().await.expect("ha");
    assert_eq!(ha.redundancy, Redundancy::MultiZone);
    assert!(ha.automatic_failover);

    let flag = p
        .parameter("cloudsql.iam_authentication")
        .await
        .expect("read")
        .expect("set");
    assert_eq!(flag.value, "on");
    assert!(!flag.pending_restart);
    assert_eq!(p.parameter("max_connections").await.expect("read"), None);

    let f = p.findings().await.expect("findings");
    let status = |id: &str| f.iter().find(|x| x.id == id).map(|x| x.status);
    assert_eq!(status(ids::PROVIDER_TLS_ENFORCED), Some(Status::Pass));
    assert_eq!(status(ids::PROVIDER_PUBLIC_NETWORK), Some(Status::Pass));
    assert_eq!(status(ids::PROVIDER_IAM_AUTHENTICATION), Some(Status::Pass));
    assert_eq!(status(ids::PROVIDER_SERVER_CA), Some(Status::Pass));
    assert_eq!(status(ids::PROVIDER_LOGGING), Some(Status::Pass));
    let tls = f
        .iter()
        .find(|x| x.id == ids::PROVIDER_TLS_ENFORCED)
        .unwrap();
    assert!(tls.references.contains(&"ISO 27001:2022 A.8.24"));
    assert!(tls.references.contains(&"NIST SC-8"));

    // Every request was a GET with a verified service-account JWT; nothing was written.
    let reqs = fake.requests();
    assert!(!reqs.is_empty());
    assert!(reqs.iter().all(|r| r.authorized && r.method == "GET"));
}

#[tokio::test]
async fn zonal_without_backups_is_single_and_unprotected() {
    let (_dir, key) = key();
    let mut i = instance_json("");
    i["settings"]["availabilityType"] = json!("ZONAL");
    i["settings"]["backupConfiguration"] =
        json!({"enabled": false, "kind": "sql#backupConfiguration"});
    i["settings"]["ipConfiguration"]["ipv4Enabled"] = json!(true);
    i["ipAddresses"] = json!([{"type": "PRIMARY", "ipAddress": "34.1.2.3"}]);
    i["settings"]["databaseFlags"] = json!([]);
    let fake = fake(&key, i).await;
    let p = provider(&key, &fake).await;
    let b = p.backup_posture().await.expect("backups");
    assert!(!b.automated && !b.point_in_time_recovery);
    assert_eq!(b.retention_days, None);
    let ha = p.high_availability().await.expect("ha");
    assert_eq!(ha.redundancy, Redundancy::Single);
    assert!(!ha.automatic_failover);
    let f = p.findings().await.expect("findings");
    let find = |id: &str| f.iter().find(|x| x.id == id).expect(id);
    let public = find(ids::PROVIDER_PUBLIC_NETWORK);
    assert_eq!(public.status, Status::Warn);
    assert!(public.observed.contains("34.1.2.3"));
    assert!(!public.remediation.is_empty());
    let logging = find(ids::PROVIDER_LOGGING);
    assert_eq!(logging.status, Status::Warn);
    assert_eq!(
        logging.fix.as_ref().map(|f| f.text.as_str()),
        Some(
            "gcloud sql instances patch inst --project=proj \
             --database-flags=log_connections=on,log_disconnections=on"
        )
    );
}

/// The sslMode/requireSsl table: sslMode decides whenever it is set.
#[tokio::test]
async fn ssl_mode_takes_priority_over_require_ssl() {
    let (_dir, key) = key();
    let cases: [(Option<&str>, Option<bool>, bool, TlsDecidedBy); 7] = [
        (
            Some("ENCRYPTED_ONLY"),
            Some(false),
            true,
            TlsDecidedBy::SslMode,
        ),
        (
            Some("TRUSTED_CLIENT_CERTIFICATE_REQUIRED"),
            Some(true),
            true,
            TlsDecidedBy::SslMode,
        ),
        // Prowler's false positive: requireSsl true, but plaintext is accepted.
        (
            Some("ALLOW_UNENCRYPTED_AND_ENCRYPTED"),
            Some(true),
            false,
            TlsDecidedBy::SslMode,
        ),
        (
            Some("ALLOW_UNENCRYPTED_AND_ENCRYPTED"),
            None,
            false,
            TlsDecidedBy::SslMode,
        ),
        (None, Some(true), true, TlsDecidedBy::RequireSsl),
        (None, Some(false), false, TlsDecidedBy::RequireSsl),
        (None, None, false, TlsDecidedBy::Default),
    ];
    let fake = fake(&key, instance_json("")).await;
    let p = provider(&key, &fake).await;
    for (mode, require, enforced, by) in cases {
        fake.with_state(|s| {
            let ip = &mut s.instance["settings"]["ipConfiguration"];
            let obj = ip.as_object_mut().unwrap();
            obj.remove("sslMode");
            obj.remove("requireSsl");
            if let Some(m) = mode {
                obj.insert("sslMode".into(), json!(m));
            }
            if let Some(r) = require {
                obj.insert("requireSsl".into(), json!(r));
            }
        });
        let d = p.describe().await.expect("describe");
        assert_eq!(
            (d.tls_enforced, d.tls_decided_by),
            (enforced, by),
            "{mode:?} {require:?}"
        );
        let f = p.findings().await.expect("findings");
        let tls = f
            .iter()
            .find(|x| x.id == ids::PROVIDER_TLS_ENFORCED)
            .unwrap();
        assert_eq!(
            tls.status,
            if enforced { Status::Pass } else { Status::Fail },
            "{mode:?} {require:?}"
        );
        if !enforced {
            assert_eq!(
                tls.fix.as_ref().map(|f| f.text.as_str()),
                Some("gcloud sql instances patch inst --project=proj --ssl-mode=ENCRYPTED_ONLY")
            );
        }
    }
}

#[tokio::test]
async fn enforce_tls_patches_ssl_mode_and_waits_for_done() {
    let (_dir, key) = key();
    let mut i = instance_json("");
    i["settings"]["ipConfiguration"]["sslMode"] = json!("ALLOW_UNENCRYPTED_AND_ENCRYPTED");
    i["settings"]["ipConfiguration"]["requireSsl"] = json!(true);
    i["settings"]["ipConfiguration"]["authorizedNetworks"] =
        json!([{"value": "203.0.113.0/24", "name": "office", "kind": "sql#aclEntry"}]);
    let fake = fake(&key, i).await;
    let p = provider(&key, &fake).await;
    let change = p.enforce_tls().await.expect("enforce");
    assert_eq!(change.name, "settings.ipConfiguration.sslMode");
    assert_eq!(
        change.previous.as_deref(),
        Some("ALLOW_UNENCRYPTED_AND_ENCRYPTED")
    );
    assert_eq!(change.value, "ENCRYPTED_ONLY");
    assert_eq!(change.applies, Applies::Immediately);
    assert_eq!(
        fake.patches(),
        [json!({"settings": {
            "ipConfiguration": {"sslMode": "ENCRYPTED_ONLY", "requireSsl": false},
            "settingsVersion": "12"
        }})]
    );
    // The operation was polled through RUNNING to DONE.
    let polls = fake
        .requests()
        .iter()
        .filter(|r| r.path.starts_with("/v1/projects/proj/operations/"))
        .count();
    assert_eq!(polls, 2);
    // The authorized networks were kept (a partial patch), and TLS now reads enforced.
    let d = p.describe().await.expect("describe");
    assert!(d.tls_enforced);
    assert_eq!(d.authorized_networks, 1);
    // Again: nothing to do, nothing sent.
    let again = p.enforce_tls().await.expect("enforce again");
    assert_eq!(again.value, "ENCRYPTED_ONLY");
    assert_eq!(fake.patches().len(), 1);

    // The legacy requireSsl = true without sslMode (TLS and client certificates) is enforced
    // already: moving it to ENCRYPTED_ONLY would weaken it, so nothing is sent.
    fake.with_state(|s| {
        let ip = s.instance["settings"]["ipConfiguration"]
            .as_object_mut()
            .unwrap();
        ip.remove("sslMode");
        ip.insert("requireSsl".into(), json!(true));
    });
    let legacy = p.enforce_tls().await.expect("enforce on legacy");
    assert_eq!(legacy.value, "requireSsl=true");
    assert_eq!(fake.patches().len(), 1);
}

#[tokio::test]
async fn set_parameter_keeps_the_other_flags_and_polls_to_done() {
    let (_dir, key) = key();
    let fake = fake(&key, instance_json("")).await;
    let p = provider(&key, &fake).await;
    let change = p
        .set_parameter("log_min_duration_statement", "500")
        .await
        .expect("set");
    assert_eq!(change.previous, None);
    assert_eq!(change.value, "500");
    assert_eq!(change.applies, Applies::Immediately);
    assert_eq!(
        fake.patches(),
        [json!({"settings": {
            "databaseFlags": [
                {"name": "cloudsql.iam_authentication", "value": "on"},
                {"name": "log_connections", "value": "on"},
                {"name": "log_disconnections", "value": "on"},
                {"name": "log_min_duration_statement", "value": "500"}
            ],
            "settingsVersion": "12"
        }})]
    );
    let statuses: Vec<String> = fake
        .requests()
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .filter(|r| r.contains("/operations/") || r.starts_with("PATCH"))
        .collect();
    assert_eq!(statuses.len(), 3, "{statuses:?}"); // PATCH (PENDING), RUNNING, DONE
                                                   // A changed value replaces in place.
    let change = p
        .set_parameter("cloudsql.iam_authentication", "off")
        .await
        .expect("set");
    assert_eq!(change.previous.as_deref(), Some("on"));
    let last = fake.patches().pop().unwrap();
    assert_eq!(
        last["settings"]["databaseFlags"],
        json!([
            {"name": "cloudsql.iam_authentication", "value": "off"},
            {"name": "log_connections", "value": "on"},
            {"name": "log_disconnections", "value": "on"},
            {"name": "log_min_duration_statement", "value": "500"}
        ])
    );
    assert_eq!(last["settings"]["settingsVersion"], "13");
    assert_eq!(
        p.parameter("cloudsql.iam_authentication")
            .await
            .unwrap()
            .unwrap()
            .value,
        "off"
    );
}

#[tokio::test]
async fn setting_the_current_value_sends_no_patch() {
    let (_dir, key) = key();
    let fake = fake(&key, instance_json("")).await;
    let p = provider(&key, &fake).await;
    let change = p.set_parameter("log_connections", "on").await.expect("set");
    assert_eq!(change.previous.as_deref(), Some("on"));
    assert_eq!(change.value, "on");
    assert!(fake.patches().is_empty());
}

#[tokio::test]
async fn a_failed_operation_is_a_provider_error_and_nothing_else_is_written() {
    let (_dir, key) = key();
    let fake = fake(&key, instance_json("")).await;
    let p = provider(&key, &fake).await;
    fake.with_state(|s| {
        s.script.error = Some((
            "INVALID_FLAG_VALUE",
            "Invalid flag value for log_connections.",
        ))
    });
    let err = p
        .set_parameter("log_disconnections", "off")
        .await
        .unwrap_err();
    let reason = provider_reason(&err);
    assert!(reason.contains("INVALID_FLAG_VALUE"), "{reason}");
    assert_eq!(api_kind(&err), ApiErrorKind::OperationFailed);
    assert_eq!(fake.patches().len(), 1, "no second write");
    // The instance kept its flags.
    assert_eq!(
        p.parameter("log_disconnections")
            .await
            .unwrap()
            .unwrap()
            .value,
        "on"
    );
}

#[tokio::test]
async fn flags_are_checked_against_flags_list_before_anything_is_sent() {
    let (_dir, key) = key();
    let fake = fake(&key, instance_json("")).await;
    let p = provider(&key, &fake).await;
    // Malformed names and values: refused before any request.
    let before = fake.requests().len();
    for (name, value, field_expected) in [
        ("Bad Name", "on", "parameter"),
        ("", "on", "parameter"),
        ("log_connections", "", "value"),
        ("log_connections", "on\noff", "value"),
    ] {
        let err = p.set_parameter(name, value).await.unwrap_err();
        assert!(
            matches!(&err, Error::InvalidInput { field, .. } if field == field_expected),
            "{name}={value}: {err:?}"
        );
    }
    assert_eq!(fake.requests().len(), before, "a request was sent");
    // Values the flag does not take, unknown flags, restart flags: refused after reading
    // flags.list, before any write.
    let cases = [
        ("Bad Name", "on", "parameter"),
        ("log_connections", "", "value"),
        ("log_connections", "yes", "value"),
        ("log_min_duration_statement", "soon", "value"),
        ("log_min_duration_statement", "-5", "value"),
        ("pgaudit.log", "everything", "value"),
        ("scrydon.not_a_flag", "1", "parameter"),
        // Needs a restart: Cloud SQL would restart the instance itself.
        ("max_connections", "200", "parameter"),
    ];
    for (name, value, field_expected) in cases {
        let err = p.set_parameter(name, value).await.unwrap_err();
        assert!(
            matches!(&err, Error::InvalidInput { field, .. } if field == field_expected),
            "{name}={value}: {err:?}"
        );
    }
    assert!(fake.patches().is_empty());
}

#[tokio::test]
async fn bad_input_is_refused_before_any_request() {
    let (_dir, key) = key();
    let fake = fake(&key, instance_json("")).await;
    let build = |b: scrydon_byodb_gcp::CloudSqlProviderBuilder| {
        b.with_credentials(key.credentials())
            .with_endpoint(fake.url())
            .build()
    };
    let cases = [
        (
            CloudSqlProvider::builder().with_instance_connection_name("proj:inst"),
            "instance connection name",
        ),
        (
            CloudSqlProvider::builder()
                .with_project("")
                .with_instance("inst"),
            "project",
        ),
        (
            CloudSqlProvider::builder()
                .with_project("proj")
                .with_instance("Inst/x"),
            "instance",
        ),
        (CloudSqlProvider::builder().with_project("proj"), "instance"),
        (
            CloudSqlProvider::builder()
                .with_instance_connection_name("proj:r:inst")
                .with_project("proj"),
            "instance",
        ),
    ];
    for (b, field_expected) in cases {
        let err = build(b).await.unwrap_err();
        assert!(
            matches!(&err, Error::InvalidInput { field, .. } if field == field_expected),
            "{err:?}"
        );
    }
    // No credentials; a plaintext endpoint off loopback.
    let err = CloudSqlProvider::builder()
        .with_project("proj")
        .with_instance("inst")
        .build()
        .await
        .unwrap_err();
    assert!(matches!(&err, Error::InvalidInput { field, .. } if field == "credentials"));
    let err = CloudSqlProvider::builder()
        .with_project("proj")
        .with_instance("inst")
        .with_credentials(key.credentials())
        .with_endpoint("http://sqladmin.example.com")
        .build()
        .await
        .unwrap_err();
    assert!(matches!(&err, Error::InvalidInput { field, .. } if field == "endpoint"));
    assert!(fake.requests().is_empty(), "{:?}", fake.requests());
}

#[tokio::test]
async fn a_missing_instance_or_a_wrong_region_fails_clearly() {
    let (_dir, key) = key();
    let fake = fake(&key, instance_json("")).await;
    let err = CloudSqlProvider::builder()
        .with_project(PROJECT)
        .with_instance("nope")
        .with_credentials(key.credentials())
        .with_endpoint(fake.url())
        .build()
        .await
        .unwrap_err();
    let reason = provider_reason(&err);
    assert!(
        reason.contains("proj:nope") && reason.contains("NOT_FOUND"),
        "{reason}"
    );
    assert_eq!(api_kind(&err), ApiErrorKind::NotFound);

    let err = CloudSqlProvider::builder()
        .with_instance_connection_name("proj:us-central1:inst")
        .with_credentials(key.credentials())
        .with_endpoint(fake.url())
        .build()
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::InvalidInput { field, .. } if field == "instance connection name"),
        "{err:?}"
    );
    // project + instance learns the region from the API.
    let p = CloudSqlProvider::builder()
        .with_project(PROJECT)
        .with_instance(INSTANCE)
        .with_credentials(key.credentials())
        .with_endpoint(fake.url())
        .build()
        .await
        .expect("build");
    assert_eq!(p.region(), Some(REGION));
    assert_eq!(p.connection_name(), "proj:europe-west1:inst");
}

#[tokio::test]
async fn another_key_is_refused_by_the_server() {
    let (_dir, key) = key();
    let (_dir2, other) = support::key();
    let fake = fake(&key, instance_json("")).await;
    let err = CloudSqlProvider::builder()
        .with_instance_connection_name("proj:europe-west1:inst")
        .with_credentials(other.credentials())
        .with_endpoint(fake.url())
        .build()
        .await
        .unwrap_err();
    assert_eq!(api_kind(&err), ApiErrorKind::Unauthorized);
    let text = format!("{err} {err:?}");
    assert!(!text.contains("Bearer") && !text.contains("eyJ"), "{text}");
    assert!(fake.requests().iter().all(|r| !r.authorized));
}

#[tokio::test]
async fn a_server_ca_rotation_gives_both_cas_and_a_warning() {
    let (dir, key) = key();
    let fake = FakeAdmin::start(
        &key,
        instance_json(""),
        vec![ca("current CA"), ca("upcoming CA")],
    )
    .await;
    let p = provider(&key, &fake).await;
    let bundle = p.ca_bundle().await.expect("bundle");
    assert_eq!(bundle.len(), 2);
    let subjects: Vec<String> = bundle
        .certificates()
        .into_iter()
        .map(|c| c.subject)
        .collect();
    assert!(subjects[0].contains("current CA") && subjects[1].contains("upcoming CA"));
    let cas = p.server_cas().await.expect("cas");
    assert_eq!(
        cas.iter().map(|c| c.active).collect::<Vec<_>>(),
        [true, false]
    );
    let f = p.findings().await.expect("findings");
    let ca = f.iter().find(|x| x.id == ids::PROVIDER_SERVER_CA).unwrap();
    assert_eq!(ca.status, Status::Warn);
    assert!(ca.observed.contains("rotation"));

    // One CA, expiring within 90 days: Warn, with the commands.
    let expiring = support::openssl_ca(dir.path(), "expiring", 30);
    fake.with_state(|s| s.server_cas = vec![(expiring, "expiring".into(), "fp".into())]);
    let f = p.findings().await.expect("findings");
    let ca = f.iter().find(|x| x.id == ids::PROVIDER_SERVER_CA).unwrap();
    assert_eq!(ca.status, Status::Warn);
    assert!(ca.fix.as_ref().is_some_and(|f| f
        .text
        .contains("gcloud sql ssl server-ca-certs rotate --instance=inst")));
}

#[tokio::test]
async fn debug_shows_no_key_material_or_token() {
    let (_dir, key) = key();
    let fake = fake(&key, instance_json("")).await;
    let builder = CloudSqlProvider::builder()
        .with_instance_connection_name("proj:europe-west1:inst")
        .with_credentials(key.credentials())
        .with_endpoint(fake.url());
    let b = format!("{builder:?}");
    let p = builder.build().await.expect("build");
    let d = format!("{p:?}");
    // The key's body, and any JWT (base64url of '{"alg"' starts with eyJ).
    let key_body: String = key
        .private_key_pem
        .lines()
        .nth(1)
        .expect("a PEM body line")
        .to_owned();
    for text in [&b, &d] {
        assert!(!text.contains(&key_body), "{text}");
        assert!(
            !text.contains("PRIVATE KEY") && !text.contains("eyJ"),
            "{text}"
        );
        assert!(text.contains("<set>"), "{text}");
    }
    assert!(d.contains("inst"));
}

//! What moto lacks, with canned SDK responses (aws-smithy-mocks): apply types, the
//! pending-reboot status, certificates, PITR, paging.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_sdk_rds::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_rds::operation::describe_certificates::DescribeCertificatesOutput;
use aws_sdk_rds::operation::describe_db_instances::DescribeDBInstancesError;
use aws_sdk_rds::operation::describe_db_instances::DescribeDbInstancesOutput;
use aws_sdk_rds::operation::describe_db_parameters::DescribeDbParametersOutput;
use aws_sdk_rds::operation::modify_db_parameter_group::ModifyDbParameterGroupOutput;
use aws_sdk_rds::primitives::DateTime;
use aws_sdk_rds::types::error::DbInstanceNotFoundFault;
use aws_sdk_rds::types::{
    ApplyMethod, Certificate, CertificateDetails, DbInstance, DbParameterGroupStatus, Parameter,
    PendingModifiedValues,
};
use aws_sdk_rds::Client;
use aws_smithy_mocks::{create_mock_http_client, mock, MockResponseInterceptor, Rule, RuleMode};
use scrydon_byodb::provider::{Applies, Provider, Redundancy};
use scrydon_byodb::report::{ids, Finding, Status};
use scrydon_byodb::Error;
use scrydon_byodb_aws::RdsProvider;

fn client(rules: &[&Rule]) -> Client {
    let mut interceptor = MockResponseInterceptor::new().rule_mode(RuleMode::MatchAny);
    for r in rules {
        interceptor = interceptor.with_rule(r);
    }
    let conf = aws_sdk_rds::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("eu-west-1"))
        .credentials_provider(Credentials::new("AKID", "secret", None, None, "mock"))
        .http_client(create_mock_http_client())
        .interceptor(interceptor)
        .build();
    Client::from_conf(conf)
}

fn dt(t: SystemTime) -> DateTime {
    DateTime::from(t)
}

/// What the mocked `DescribeDBInstances` says about `db1`.
#[derive(Clone, Copy)]
struct Db {
    apply_status: &'static str,
    ca: &'static str,
    /// Days until `CertificateDetails.ValidTill` (`None`: no certificate details).
    cert_days: Option<u64>,
    /// `PendingModifiedValues.CACertificateIdentifier`.
    pending_ca: Option<&'static str>,
    public: bool,
}

const DB: Db = Db {
    apply_status: "in-sync",
    ca: "rds-ca-rsa2048-g1",
    cert_days: Some(300),
    pending_ca: None,
    public: false,
};

fn db_instance(db: Db, now: SystemTime) -> DbInstance {
    let mut b = DbInstance::builder()
        .db_instance_identifier("db1")
        .engine("postgres")
        .engine_version("16.4")
        .db_parameter_groups(
            DbParameterGroupStatus::builder()
                .db_parameter_group_name("scrydon-pg16")
                .parameter_apply_status(db.apply_status)
                .build(),
        )
        .backup_retention_period(14)
        .latest_restorable_time(dt(now - Duration::from_secs(300)))
        .multi_az(false)
        .publicly_accessible(db.public)
        .storage_encrypted(true)
        .iam_database_authentication_enabled(true)
        .ca_certificate_identifier(db.ca);
    if let Some(days) = db.cert_days {
        b = b.certificate_details(
            CertificateDetails::builder()
                .ca_identifier(db.ca)
                .valid_till(dt(now + Duration::from_secs(86_400 * days)))
                .build(),
        );
    }
    if let Some(next) = db.pending_ca {
        b = b.pending_modified_values(
            PendingModifiedValues::builder()
                .ca_certificate_identifier(next)
                .build(),
        );
    }
    b.build()
}

fn instance_as(db: Db) -> Rule {
    let now = SystemTime::now();
    mock!(Client::describe_db_instances)
        .sequence()
        .output(move || {
            DescribeDbInstancesOutput::builder()
                .db_instances(db_instance(db, now))
                .build()
        })
        .repeatedly()
        .build()
}

fn instance(apply_status: &'static str) -> Rule {
    instance_as(Db { apply_status, ..DB })
}

/// `DescribeDBParameters` answering `(name, value, apply type)`.
fn parameters(params: &'static [(&'static str, &'static str, &'static str)]) -> Rule {
    mock!(Client::describe_db_parameters)
        .sequence()
        .output(move || {
            let mut out = DescribeDbParametersOutput::builder();
            for (name, value, apply_type) in params {
                out = out.parameters(
                    Parameter::builder()
                        .parameter_name(*name)
                        .parameter_value(*value)
                        .source("user")
                        .apply_type(*apply_type)
                        .is_modifiable(true)
                        .build(),
                );
            }
            out.build()
        })
        .repeatedly()
        .build()
}

/// A `ModifyDBParameterGroup` that must not be called.
fn no_modify() -> Rule {
    mock!(Client::modify_db_parameter_group)
        .then_output(|| ModifyDbParameterGroupOutput::builder().build())
}

fn force_ssl(value: &'static str, apply_type: &'static str) -> Rule {
    mock!(Client::describe_db_parameters)
        .sequence()
        .output(move || {
            DescribeDbParametersOutput::builder()
                .parameters(
                    Parameter::builder()
                        .parameter_name("rds.force_ssl")
                        .parameter_value(value)
                        .source("user")
                        .apply_type(apply_type)
                        .is_modifiable(true)
                        .build(),
                )
                .build()
        })
        .repeatedly()
        .build()
}

async fn provider(client: Client) -> RdsProvider {
    RdsProvider::builder()
        .with_instance_identifier("db1")
        .with_client(client)
        .build()
        .await
        .expect("build")
}

#[tokio::test]
async fn a_static_change_waiting_for_a_reboot_is_not_in_force() {
    let (i, p) = (instance("pending-reboot"), force_ssl("1", "static"));
    let rds = provider(client(&[&i, &p])).await;
    let ssl = rds.force_ssl().await.expect("force_ssl");
    assert!(ssl.configured());
    assert!(ssl.pending_reboot);
    assert!(
        !ssl.in_force(),
        "Prowler's mistake: configured is not in force"
    );
    assert_eq!(ssl.apply_type.as_deref(), Some("static"));
    assert_eq!(ssl.source.as_deref(), Some("user"));
    let v = rds
        .parameter("rds.force_ssl")
        .await
        .expect("read")
        .expect("set");
    assert!(v.pending_restart);
}

#[tokio::test]
async fn a_dynamic_parameter_is_in_force_despite_a_pending_reboot() {
    let (i, p) = (instance("pending-reboot"), force_ssl("1", "dynamic"));
    let rds = provider(client(&[&i, &p])).await;
    let ssl = rds.force_ssl().await.expect("force_ssl");
    assert!(ssl.in_force());
    let (i, p) = (instance("in-sync"), force_ssl("1", "static"));
    let rds = provider(client(&[&i, &p])).await;
    assert!(rds.force_ssl().await.expect("force_ssl").in_force());
}

async fn set_with_apply_type(apply_type: &'static str) -> (Applies, ApplyMethod) {
    let seen = Arc::new(std::sync::Mutex::new(None));
    let seen_in = seen.clone();
    let (i, p) = (instance("in-sync"), force_ssl("0", apply_type));
    let m = mock!(Client::modify_db_parameter_group)
        .match_requests(move |req| {
            let params = req.parameters();
            let ok = req.db_parameter_group_name() == Some("scrydon-pg16")
                && params.len() == 1
                && params[0].parameter_name() == Some("rds.force_ssl")
                && params[0].parameter_value() == Some("1");
            if ok {
                *seen_in.lock().expect("lock") = params[0].apply_method().cloned();
            }
            ok
        })
        .then_output(|| {
            ModifyDbParameterGroupOutput::builder()
                .db_parameter_group_name("scrydon-pg16")
                .build()
        });
    let rds = provider(client(&[&i, &p, &m])).await;
    let change = rds.enforce_ssl().await.expect("enforce_ssl");
    assert_eq!(m.num_calls(), 1);
    assert_eq!(change.previous.as_deref(), Some("0"));
    let method = seen.lock().expect("lock").clone().expect("an apply method");
    (change.applies, method)
}

#[tokio::test]
async fn static_parameters_are_set_pending_reboot_dynamic_ones_immediately() {
    assert_eq!(
        set_with_apply_type("static").await,
        (Applies::AfterRestart, ApplyMethod::PendingReboot)
    );
    assert_eq!(
        set_with_apply_type("dynamic").await,
        (Applies::Immediately, ApplyMethod::Immediate)
    );
}

#[tokio::test]
async fn reads_certificate_pitr_and_iam() {
    let (i, p) = (instance("in-sync"), force_ssl("1", "dynamic"));
    let rds = provider(client(&[&i, &p])).await;
    let d = rds.describe().await.expect("describe");
    assert_eq!(
        d.ca_certificate_identifier.as_deref(),
        Some("rds-ca-rsa2048-g1")
    );
    let till = d.certificate_valid_till.expect("valid till");
    assert!(till > SystemTime::now() + Duration::from_secs(86_400 * 299));
    assert_eq!(d.iam_database_authentication, Some(true));
    assert_eq!(d.instance_identifier.as_deref(), Some("db1"));
    assert_eq!(d.publicly_accessible, Some(false));
    assert!(d.pending_modifications.is_empty());
    assert_eq!(d.pending_ca_certificate_identifier, None);
    let b = rds.backup_posture().await.expect("backups");
    assert!(b.automated && b.point_in_time_recovery);
    assert_eq!(b.retention_days, Some(14));
    assert_eq!(b.cross_region, Some(false));
    let ha = rds.high_availability().await.expect("ha");
    assert_eq!(ha.redundancy, Redundancy::Single);
    assert!(!ha.automatic_failover);
}

#[tokio::test]
async fn follows_markers_across_pages() {
    let calls = Arc::new(AtomicUsize::new(0));
    let i = instance("in-sync");
    let page1 = mock!(Client::describe_db_parameters)
        .match_requests(|r| r.marker().is_none())
        .sequence()
        .output(|| {
            DescribeDbParametersOutput::builder()
                .parameters(
                    Parameter::builder()
                        .parameter_name("max_connections")
                        .parameter_value("100")
                        .build(),
                )
                .marker("page-2")
                .build()
        })
        .repeatedly()
        .build();
    let calls_in = calls.clone();
    let page2 = mock!(Client::describe_db_parameters)
        .match_requests(move |r| {
            let ok = r.marker() == Some("page-2");
            if ok {
                calls_in.fetch_add(1, Ordering::SeqCst);
            }
            ok
        })
        .sequence()
        .output(|| {
            DescribeDbParametersOutput::builder()
                .parameters(
                    Parameter::builder()
                        .parameter_name("rds.force_ssl")
                        .parameter_value("1")
                        .apply_type("dynamic")
                        .build(),
                )
                .build()
        })
        .repeatedly()
        .build();
    let rds = provider(client(&[&i, &page1, &page2])).await;
    let v = rds.parameter("rds.force_ssl").await.expect("read");
    assert_eq!(v.map(|v| v.value).as_deref(), Some("1"));
    assert!(calls.load(Ordering::SeqCst) >= 1);
}

#[tokio::test]
async fn the_builder_refuses_bad_targets_before_calling_aws() {
    let cases = [
        RdsProvider::builder(),
        RdsProvider::builder()
            .with_instance_identifier("a")
            .with_cluster_identifier("b"),
        RdsProvider::builder().with_host("pg.example.com"),
        RdsProvider::builder().with_host("p1.proxy-abc.eu-west-1.rds.amazonaws.com"),
        RdsProvider::builder().with_instance_identifier("a"),
    ];
    for b in cases {
        let shown = format!("{b:?}");
        match b.build().await {
            Err(Error::InvalidInput { .. }) => {}
            other => panic!("{shown}: expected InvalidInput, got {other:?}"),
        }
    }
}

fn status(found: &[Finding], id: &str) -> Status {
    let mut it = found.iter().filter(|f| f.id == id);
    let f = it.next().unwrap_or_else(|| panic!("no {id} in {found:#?}"));
    assert!(it.next().is_none(), "{id} twice");
    f.status
}

fn fix<'a>(found: &'a [Finding], id: &str) -> &'a str {
    found
        .iter()
        .find(|f| f.id == id)
        .and_then(|f| f.fix.as_ref())
        .map(|f| f.text.as_str())
        .unwrap_or_else(|| panic!("no fix for {id} in {found:#?}"))
}

#[tokio::test]
async fn force_ssl_pending_a_reboot_is_a_warning_with_the_reboot() {
    let (i, p) = (
        instance("pending-reboot"),
        parameters(&[("rds.force_ssl", "1", "static")]),
    );
    let rds = provider(client(&[&i, &p])).await;
    let found = rds.findings().await.expect("findings");
    assert_eq!(status(&found, ids::PROVIDER_TLS_ENFORCED), Status::Warn);
    assert_eq!(
        fix(&found, ids::PROVIDER_TLS_ENFORCED),
        "aws rds reboot-db-instance --db-instance-identifier db1"
    );
    assert_eq!(status(&found, ids::PROVIDER_PENDING_RESTART), Status::Warn);
    assert_eq!(
        fix(&found, ids::PROVIDER_PENDING_RESTART),
        "aws rds reboot-db-instance --db-instance-identifier db1"
    );

    // The same group in sync: in force, nothing pending.
    let (i, p) = (
        instance("in-sync"),
        parameters(&[("rds.force_ssl", "1", "static")]),
    );
    let rds = provider(client(&[&i, &p])).await;
    let found = rds.findings().await.expect("findings");
    assert_eq!(status(&found, ids::PROVIDER_TLS_ENFORCED), Status::Pass);
    assert_eq!(status(&found, ids::PROVIDER_PENDING_RESTART), Status::Pass);
    assert_eq!(
        status(&found, ids::PROVIDER_IAM_AUTHENTICATION),
        Status::Pass
    );
    assert_eq!(status(&found, ids::PROVIDER_PUBLIC_NETWORK), Status::Pass);
}

#[tokio::test]
async fn a_static_force_ssl_off_is_fixed_pending_reboot() {
    let (i, p) = (
        instance("in-sync"),
        parameters(&[("rds.force_ssl", "0", "static")]),
    );
    let rds = provider(client(&[&i, &p])).await;
    let found = rds.findings().await.expect("findings");
    assert_eq!(status(&found, ids::PROVIDER_TLS_ENFORCED), Status::Fail);
    assert_eq!(
        fix(&found, ids::PROVIDER_TLS_ENFORCED),
        "aws rds modify-db-parameter-group --db-parameter-group-name scrydon-pg16 --parameters \
         \"ParameterName=rds.force_ssl,ParameterValue='1',ApplyMethod=pending-reboot\""
    );
}

#[tokio::test]
async fn a_server_ca_expiring_within_90_days_is_a_warning() {
    let p = parameters(&[("rds.force_ssl", "1", "dynamic")]);
    let soon = instance_as(Db {
        ca: "rds-ca-2019",
        cert_days: Some(30),
        ..DB
    });
    let rds = provider(client(&[&soon, &p])).await;
    let found = rds.findings().await.expect("findings");
    assert_eq!(status(&found, ids::PROVIDER_SERVER_CA), Status::Warn);
    assert_eq!(
        fix(&found, ids::PROVIDER_SERVER_CA),
        "aws rds modify-db-instance --db-instance-identifier db1 --ca-certificate-identifier \
         rds-ca-rsa2048-g1 --apply-immediately"
    );

    for days in [91, 300] {
        let later = instance_as(Db {
            cert_days: Some(days),
            ..DB
        });
        let rds = provider(client(&[&later, &p])).await;
        let found = rds.findings().await.expect("findings");
        assert_eq!(
            status(&found, ids::PROVIDER_SERVER_CA),
            Status::Pass,
            "{days}"
        );
    }

    // A rotation under way: clients must trust both CAs.
    let rotating = instance_as(Db {
        ca: "rds-ca-2019",
        pending_ca: Some("rds-ca-rsa2048-g1"),
        ..DB
    });
    let rds = provider(client(&[&rotating, &p])).await;
    let d = rds.describe().await.expect("describe");
    assert_eq!(
        d.pending_modifications,
        ["CACertificateIdentifier=rds-ca-rsa2048-g1"]
    );
    assert_eq!(
        d.pending_ca_certificate_identifier.as_deref(),
        Some("rds-ca-rsa2048-g1")
    );
    let found = rds.findings().await.expect("findings");
    assert_eq!(status(&found, ids::PROVIDER_SERVER_CA), Status::Warn);
    assert_eq!(status(&found, ids::PROVIDER_PENDING_RESTART), Status::Warn);
}

#[tokio::test]
async fn without_certificate_details_the_ca_expiry_comes_from_describe_certificates() {
    let p = parameters(&[("rds.force_ssl", "1", "dynamic")]);
    let i = instance_as(Db {
        ca: "rds-ca-2019",
        cert_days: None,
        ..DB
    });
    for (days, expected) in [(30, Status::Warn), (400, Status::Pass)] {
        let now = SystemTime::now();
        let certs = mock!(Client::describe_certificates)
            .match_requests(|r| r.certificate_identifier() == Some("rds-ca-2019"))
            .then_output(move || {
                DescribeCertificatesOutput::builder()
                    .certificates(
                        Certificate::builder()
                            .certificate_identifier("rds-ca-2019")
                            .certificate_type("CA")
                            .valid_till(dt(now + Duration::from_secs(86_400 * days)))
                            .build(),
                    )
                    .build()
            });
        let rds = provider(client(&[&i, &p, &certs])).await;
        let found = rds.findings().await.expect("findings");
        assert_eq!(certs.num_calls(), 1);
        assert_eq!(status(&found, ids::PROVIDER_SERVER_CA), expected, "{days}");
    }
}

#[tokio::test]
async fn a_public_instance_is_a_warning() {
    let i = instance_as(Db { public: true, ..DB });
    let p = parameters(&[("rds.force_ssl", "1", "dynamic")]);
    let rds = provider(client(&[&i, &p])).await;
    let found = rds.findings().await.expect("findings");
    assert_eq!(status(&found, ids::PROVIDER_PUBLIC_NETWORK), Status::Warn);
}

#[tokio::test]
async fn allowed_extensions_unset_or_star_allow_vector_without_a_write() {
    for params in [
        &[("rds.force_ssl", "1", "dynamic")][..],
        &[
            ("rds.force_ssl", "1", "dynamic"),
            ("rds.allowed_extensions", "*", "dynamic"),
        ][..],
    ] {
        let (i, p, m) = (instance("in-sync"), parameters(params), no_modify());
        let rds = provider(client(&[&i, &p, &m])).await;
        let found = rds.findings().await.expect("findings");
        assert_eq!(
            status(&found, ids::PROVIDER_EXTENSION_ALLOWED),
            Status::Pass
        );
        let change = rds.allow_extension("vector").await.expect("allow");
        assert_eq!(change.value, "*");
        assert_eq!(change.previous.as_deref(), Some("*"));
        assert_eq!(change.applies, Applies::Immediately);
        assert_eq!(m.num_calls(), 0, "nothing written for {params:?}");
    }
}

#[tokio::test]
async fn allowed_extensions_listing_vector_or_not() {
    let (i, p) = (
        instance("in-sync"),
        parameters(&[("rds.allowed_extensions", "pg_trgm, VECTOR", "dynamic")]),
    );
    let rds = provider(client(&[&i, &p])).await;
    let found = rds.findings().await.expect("findings");
    assert_eq!(
        status(&found, ids::PROVIDER_EXTENSION_ALLOWED),
        Status::Pass
    );

    let (i, p) = (
        instance("in-sync"),
        parameters(&[("rds.allowed_extensions", "pg_trgm", "dynamic")]),
    );
    let rds = provider(client(&[&i, &p])).await;
    let found = rds.findings().await.expect("findings");
    assert_eq!(
        status(&found, ids::PROVIDER_EXTENSION_ALLOWED),
        Status::Fail
    );
    assert_eq!(
        fix(&found, ids::PROVIDER_EXTENSION_ALLOWED),
        "aws rds modify-db-parameter-group --db-parameter-group-name scrydon-pg16 --parameters \
         \"ParameterName=rds.allowed_extensions,ParameterValue='pg_trgm,vector',\
         ApplyMethod=immediate\""
    );
}

#[tokio::test]
async fn an_api_failure_is_an_error_not_findings() {
    let i = mock!(Client::describe_db_instances)
        .sequence()
        .output(|| {
            DescribeDbInstancesOutput::builder()
                .db_instances(db_instance(DB, SystemTime::now()))
                .build()
        })
        .error(|| {
            DescribeDBInstancesError::DbInstanceNotFoundFault(
                DbInstanceNotFoundFault::builder()
                    .message("DBInstance db1 not found.")
                    .build(),
            )
        })
        .repeatedly()
        .build();
    let p = parameters(&[("rds.force_ssl", "1", "dynamic")]);
    let rds = provider(client(&[&i, &p])).await;
    match rds.findings().await {
        Err(Error::Provider { provider, .. }) => assert_eq!(provider, "aws-rds"),
        other => panic!("expected a provider error, got {other:?}"),
    }
}

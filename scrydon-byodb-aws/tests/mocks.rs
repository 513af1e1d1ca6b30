//! What moto lacks, with canned SDK responses (aws-smithy-mocks): apply types, the
//! pending-reboot status, certificates, PITR, paging.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_sdk_rds::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_rds::operation::describe_db_instances::DescribeDbInstancesOutput;
use aws_sdk_rds::operation::describe_db_parameters::DescribeDbParametersOutput;
use aws_sdk_rds::operation::modify_db_parameter_group::ModifyDbParameterGroupOutput;
use aws_sdk_rds::primitives::DateTime;
use aws_sdk_rds::types::{
    ApplyMethod, CertificateDetails, DbInstance, DbParameterGroupStatus, Parameter,
};
use aws_sdk_rds::Client;
use aws_smithy_mocks::{create_mock_http_client, mock, MockResponseInterceptor, Rule, RuleMode};
use scrydon_byodb::provider::{Applies, Provider, Redundancy};
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

fn instance(apply_status: &'static str) -> Rule {
    let now = SystemTime::now();
    mock!(Client::describe_db_instances)
        .sequence()
        .output(move || {
            DescribeDbInstancesOutput::builder()
                .db_instances(
                    DbInstance::builder()
                        .db_instance_identifier("db1")
                        .engine("postgres")
                        .engine_version("16.4")
                        .db_parameter_groups(
                            DbParameterGroupStatus::builder()
                                .db_parameter_group_name("scrydon-pg16")
                                .parameter_apply_status(apply_status)
                                .build(),
                        )
                        .backup_retention_period(14)
                        .latest_restorable_time(dt(now - Duration::from_secs(300)))
                        .multi_az(false)
                        .storage_encrypted(true)
                        .iam_database_authentication_enabled(true)
                        .ca_certificate_identifier("rds-ca-rsa2048-g1")
                        .certificate_details(
                            CertificateDetails::builder()
                                .ca_identifier("rds-ca-rsa2048-g1")
                                .valid_till(dt(now + Duration::from_secs(86_400 * 300)))
                                .build(),
                        )
                        .build(),
                )
                .build()
        })
        .repeatedly()
        .build()
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

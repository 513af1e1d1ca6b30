//! The provider's findings in a real preflight and compliance run: a test-bed PostgreSQL (TLS,
//! `rds.*` settings like RDS's) behind an instance described by moto.

mod support;

use std::sync::Arc;

use scrydon_byodb::compliance::{Compliance, Control, ControlStatus};
use scrydon_byodb::dsn::Dsn;
use scrydon_byodb::preflight::{Preflight, Target};
use scrydon_byodb::report::{ids, Status};
use scrydon_byodb_testbed::Cluster;
use support::{instance, parameter_group, Moto, MotoClient};

async fn start() -> (Cluster, Moto, Target) {
    let pg = tokio::task::spawn_blocking(|| {
        Cluster::builder()
            .with_setting("rds.force_ssl", "1")
            .with_setting("rds.allowed_extensions", "vector")
            .start()
    })
    .await
    .expect("join")
    .expect("start PostgreSQL");
    let moto = tokio::task::spawn_blocking(support::moto)
        .await
        .expect("join");
    // verify-full, as the runbook asks: the SQL side of A.8.24 is then met, and the provider's
    // finding decides the rest.
    let dsn: Dsn = pg.admin_uri("verify-full").parse().expect("dsn");
    let target = Target::builder(dsn).build().expect("target");
    (pg, moto, target)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preflight_and_compliance_carry_provider_tls_enforced() {
    let (_pg, moto, target) = start().await;
    let c = moto.client();
    parameter_group(&c, "ssl-on", &[("rds.force_ssl", "1")]).await;
    parameter_group(&c, "ssl-off", &[("rds.force_ssl", "0")]).await;
    instance(&c, "on", Some("ssl-on"), true).await;
    instance(&c, "off", Some("ssl-off"), true).await;

    for (id, expected, control_status) in [
        ("on", Status::Pass, ControlStatus::Met),
        ("off", Status::Fail, ControlStatus::Partly),
    ] {
        let rds = Arc::new(support::provider(&moto, id).await);
        let report = Preflight::new(target.clone())
            .with_provider(rds.clone())
            .run()
            .await
            .expect("preflight");
        assert_eq!(report.provider_used, "aws-rds");
        let f = report
            .finding(ids::PROVIDER_TLS_ENFORCED, None)
            .unwrap_or_else(|| panic!("{id}: no provider.tls_enforced in {report:#?}"));
        assert_eq!(f.status, expected, "{id}");
        assert!(
            f.references.contains(&"ISO 27001:2022 A.8.24") && f.references.contains(&"NIST SC-8"),
            "{:?}",
            f.references
        );
        // The other provider findings came along, server-wide.
        for other in [
            ids::PROVIDER_EXTENSION_ALLOWED,
            ids::PROVIDER_PUBLIC_NETWORK,
            ids::PROVIDER_PENDING_RESTART,
            ids::PROVIDER_IAM_AUTHENTICATION,
        ] {
            assert!(report.finding(other, None).is_some(), "{id}: no {other}");
        }
        assert_eq!(report.status_of(ids::PROVIDER_API, None), None);

        let compliance = Compliance::new(target.clone())
            .with_provider(rds)
            .run()
            .await
            .expect("compliance");
        let a824 = compliance
            .control(Control::Iso27001A824)
            .expect("A.8.24 assessed");
        assert_eq!(a824.control.id(), "iso27001.a.8.24");
        assert_eq!(
            a824.evidence_status(ids::PROVIDER_TLS_ENFORCED),
            Some(expected),
            "{id}: {a824:#?}"
        );
        assert_eq!(a824.status, control_status, "{id}: {a824:#?}");
        let sc8 = compliance.control(Control::NistSc8).expect("SC-8 assessed");
        assert_eq!(
            sc8.evidence_status(ids::PROVIDER_TLS_ENFORCED),
            Some(expected)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_api_is_one_provider_api_warning() {
    let (_pg, moto, target) = start().await;
    let c = moto.client();
    parameter_group(&c, "ssl-on", &[("rds.force_ssl", "1")]).await;
    instance(&c, "on", Some("ssl-on"), false).await;
    let rds = Arc::new(support::provider(&moto, "on").await);
    // The API goes away after the provider was built.
    drop(moto);
    let report = Preflight::new(target)
        .with_provider(rds)
        .run()
        .await
        .expect("preflight");
    let api: Vec<_> = report.findings_with_id(ids::PROVIDER_API).collect();
    assert_eq!(api.len(), 1, "{api:#?}");
    assert_eq!(api[0].status, Status::Warn);
    assert_eq!(report.finding(ids::PROVIDER_TLS_ENFORCED, None), None);
    assert!(!api[0].observed.contains("test-secret"));
}

//! The core's provider conformance suite: the Cloud SQL provider against the fake Admin API,
//! together with a real PostgreSQL whose settings imitate Cloud SQL's flags; then the provider
//! wired into preflight and the compliance report.

mod support;

use std::sync::Arc;
use std::time::Duration;

use scrydon_byodb::compliance::{Compliance, Control};
use scrydon_byodb::dsn::Dsn;
use scrydon_byodb::preflight::{Preflight, Target};
use scrydon_byodb::provider::conformance::{self, Options, Outcome};
use scrydon_byodb::report::{ids, Status};
use scrydon_byodb_gcp::CloudSqlProvider;
use scrydon_byodb_testbed::Cluster;
use serde_json::json;
use support::{instance_json, key, provider, FakeAdmin};

async fn start() -> (Cluster, tempfile::TempDir, FakeAdmin, CloudSqlProvider) {
    let pg = tokio::task::spawn_blocking(|| {
        Cluster::builder()
            .with_setting("cloudsql.iam_authentication", "on")
            .with_setting("log_connections", "on")
            .with_setting("log_disconnections", "on")
            .start()
    })
    .await
    .expect("join")
    .expect("start PostgreSQL");
    let ca_pem = pg.ca().expect("the test bed's CA").cert_pem().to_owned();
    let (dir, key) = key();
    // The fake's flags (instance_json) equal the cluster's settings; its CA is the cluster's.
    let fake = FakeAdmin::start(
        &key,
        instance_json(&ca_pem),
        vec![(
            ca_pem,
            "Google Cloud SQL Server CA".to_owned(),
            "fp1".to_owned(),
        )],
    )
    .await;
    let cloudsql = provider(&key, &fake).await;
    (pg, dir, fake, cloudsql)
}

fn admin(pg: &Cluster) -> Dsn {
    pg.dsn(
        pg.superuser(),
        Some(pg.superuser_password()),
        "postgres",
        &[("sslmode", "require")],
    )
    .parse()
    .expect("dsn")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloud_sql_provider_is_conformant() {
    let (pg, _dir, fake, cloudsql) = start().await;
    let options = Options {
        allow_writes: true,
        writable_parameter: Some("cloudsql.iam_authentication".to_owned()),
    };
    let report = conformance::run_with(&cloudsql, &admin(&pg), &options).await;
    report.assert_conformant();
    for case in [
        "detection",
        "read_parameters",
        "set_parameter",
        "ca_bundle",
        "backup_posture",
        "high_availability",
        "findings",
        "not_supported.allow_extension",
        "no_secrets",
    ] {
        assert_eq!(
            report.outcome(case),
            Some(&Outcome::Passed),
            "{case}\n{report}"
        );
    }
    // Setting the flag to its value wrote nothing.
    assert!(fake.patches().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preflight_and_compliance_carry_the_provider_findings() {
    let (pg, _dir, fake, cloudsql) = start().await;
    let cloudsql = Arc::new(cloudsql);
    let target = Target::builder(admin(&pg)).build().expect("target");
    let preflight = || {
        let p = Preflight::new(target.clone())
            .with_provider(cloudsql.clone())
            .with_step_timeout(Duration::from_secs(20));
        async move { p.run().await }
    };
    let r = preflight().await.expect("preflight");
    assert_eq!(r.provider_used, "gcp-cloud-sql");
    assert_eq!(
        r.status_of(ids::PROVIDER_TLS_ENFORCED, None),
        Some(Status::Pass)
    );
    assert_eq!(
        r.status_of(ids::PROVIDER_IAM_AUTHENTICATION, None),
        Some(Status::Pass)
    );
    assert_eq!(
        r.status_of(ids::PREFLIGHT_HIGH_AVAILABILITY, None),
        Some(Status::Pass)
    );
    assert_eq!(r.status_of(ids::PROVIDER_API, None), None);

    // requireSsl true but sslMode ALLOW_UNENCRYPTED_AND_ENCRYPTED: plaintext is accepted.
    fake.with_state(|s| {
        s.instance["settings"]["ipConfiguration"]["sslMode"] =
            json!("ALLOW_UNENCRYPTED_AND_ENCRYPTED");
        s.instance["settings"]["ipConfiguration"]["requireSsl"] = json!(true);
    });
    let r = preflight().await.expect("preflight");
    assert_eq!(
        r.status_of(ids::PROVIDER_TLS_ENFORCED, None),
        Some(Status::Fail)
    );

    let c = Compliance::new(target.clone())
        .with_provider(cloudsql.clone())
        .with_step_timeout(Duration::from_secs(20))
        .run()
        .await
        .expect("compliance");
    assert_eq!(c.provider_used, "gcp-cloud-sql");
    let tls = c.control(Control::Iso27001A824).expect("A.8.24");
    assert_eq!(
        tls.evidence_status(ids::PROVIDER_TLS_ENFORCED),
        Some(Status::Fail)
    );
    let continuity = c
        .control(Control::SecNumCloudContinuity)
        .expect("continuity");
    assert_eq!(
        continuity.evidence_status(ids::PREFLIGHT_HIGH_AVAILABILITY),
        Some(Status::Pass)
    );
    // Preflight and compliance only read.
    assert!(fake.patches().is_empty());
}

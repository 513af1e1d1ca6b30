//! The provider against moto in server mode on loopback: discovery, parameter groups, force_ssl.

mod support;

use scrydon_byodb::provider::{Applies, ParameterChange, Provider, Redundancy};
use scrydon_byodb::report::{ids, FixLanguage, Status};
use scrydon_byodb::Error;
use scrydon_byodb_aws::{ParameterGroupKind, RdsProvider, RdsTarget};
use support::{
    create_instance, credentials, finding, instance, parameter_group, stored, Moto, MotoClient,
    REGION,
};

async fn provider_for_host(moto: &Moto, host: &str) -> scrydon_byodb::Result<RdsProvider> {
    // No region: it comes from the host name.
    RdsProvider::builder()
        .with_host(host)
        .with_endpoint_url(moto.url())
        .with_credentials(credentials())
        .build()
        .await
}

#[tokio::test]
async fn finds_an_instance_from_its_host_and_reads_it() {
    let moto = support::moto();
    let c = moto.client();
    parameter_group(&c, "scrydon-pg16", &[("rds.force_ssl", "0")]).await;
    instance(&c, "db1", Some("scrydon-pg16"), true).await;

    let host = format!("db1.c9akciq32.{REGION}.rds.amazonaws.com");
    let rds = provider_for_host(&moto, &host).await.expect("build");
    assert_eq!(rds.target(), &RdsTarget::Instance("db1".to_owned()));

    let d = rds.describe().await.expect("describe");
    assert_eq!(d.engine.as_deref(), Some("postgres"));
    assert_eq!(d.engine_version.as_deref(), Some("16.4"));
    assert_eq!(d.parameter_groups.len(), 1);
    assert_eq!(d.parameter_groups[0].name, "scrydon-pg16");
    assert_eq!(d.parameter_groups[0].kind, ParameterGroupKind::Instance);
    assert_eq!(d.backup_retention_days, Some(7));
    assert_eq!(d.storage_encrypted, Some(true));
    assert!(d.multi_az);

    let ssl = rds.force_ssl().await.expect("force_ssl");
    assert_eq!(ssl.value.as_deref(), Some("0"));
    assert!(!ssl.configured() && !ssl.in_force());

    let p = rds.parameter("rds.force_ssl").await.expect("parameter");
    assert_eq!(p.map(|p| p.value).as_deref(), Some("0"));
    assert_eq!(
        rds.parameter("scrydon.no_such").await.expect("unknown"),
        None
    );

    let ha = rds.high_availability().await.expect("ha");
    assert_eq!(ha.redundancy, Redundancy::MultiZone);
    assert!(ha.automatic_failover);
    let b = rds.backup_posture().await.expect("backups");
    assert!(b.automated);
    assert_eq!(b.retention_days, Some(7));
}

#[tokio::test]
async fn sets_force_ssl_on_a_custom_group_idempotently() {
    let moto = support::moto();
    let c = moto.client();
    parameter_group(&c, "scrydon-pg16", &[("rds.force_ssl", "0")]).await;
    instance(&c, "db1", Some("scrydon-pg16"), false).await;
    let rds = RdsProvider::builder()
        .with_instance_identifier("db1")
        .with_region(REGION)
        .with_endpoint_url(moto.url())
        .with_credentials(credentials())
        .build()
        .await
        .expect("build");

    let change = rds.enforce_ssl().await.expect("enforce_ssl");
    assert_eq!(change.name, "rds.force_ssl");
    assert_eq!(change.previous.as_deref(), Some("0"));
    assert_eq!(change.value, "1");
    // moto reports no apply type: the provider must not assume dynamic.
    assert_eq!(change.applies, Applies::AfterRestart);

    let ssl = rds.force_ssl().await.expect("force_ssl");
    assert_eq!(ssl.value.as_deref(), Some("1"));
    assert!(ssl.configured());
    let raw = c
        .describe_db_parameters()
        .db_parameter_group_name("scrydon-pg16")
        .send()
        .await
        .expect("describe");
    let stored: Vec<_> = raw
        .parameters()
        .iter()
        .filter(|p| p.parameter_name() == Some("rds.force_ssl"))
        .map(|p| p.parameter_value().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(stored, ["1"]);

    let again = rds.enforce_ssl().await.expect("again");
    assert_eq!(again.previous.as_deref(), Some("1"));
    assert_eq!(again.value, "1");
}

#[tokio::test]
async fn refuses_a_default_group() {
    let moto = support::moto();
    let c = moto.client();
    instance(&c, "db2", None, false).await;
    let rds = RdsProvider::builder()
        .with_instance_identifier("db2")
        .with_region(REGION)
        .with_endpoint_url(moto.url())
        .with_credentials(credentials())
        .build()
        .await
        .expect("build");
    let d = rds.describe().await.expect("describe");
    assert!(
        d.parameter_groups.iter().all(|g| g.is_default()),
        "{:?}",
        d.parameter_groups
    );
    match rds.enforce_ssl().await {
        Err(Error::InvalidInput { field, reason, .. }) => {
            assert_eq!(field, "parameter_group");
            assert!(reason.contains("create-db-parameter-group"), "{reason}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn finds_an_aurora_cluster_and_reads_its_cluster_group() {
    let moto = support::moto();
    let c = moto.client();
    c.create_db_cluster_parameter_group()
        .db_cluster_parameter_group_name("scrydon-aurora")
        .db_parameter_group_family("aurora-postgresql16")
        .description("scrydon test")
        .send()
        .await
        .expect("create cluster group");
    c.modify_db_cluster_parameter_group()
        .db_cluster_parameter_group_name("scrydon-aurora")
        .parameters(
            aws_sdk_rds::types::Parameter::builder()
                .parameter_name("rds.force_ssl")
                .parameter_value("1")
                .apply_method(aws_sdk_rds::types::ApplyMethod::PendingReboot)
                .build(),
        )
        .send()
        .await
        .expect("modify cluster group");
    c.create_db_cluster()
        .db_cluster_identifier("c1")
        .engine("aurora-postgresql")
        .engine_version("16.4")
        .master_username("postgres")
        .master_user_password("not-a-real-password")
        .db_cluster_parameter_group_name("scrydon-aurora")
        .backup_retention_period(5)
        .storage_encrypted(true)
        .send()
        .await
        .expect("create cluster");

    let host = format!("c1.cluster-ro-c9akciq32.{REGION}.rds.amazonaws.com");
    let rds = provider_for_host(&moto, &host).await.expect("build");
    assert_eq!(rds.target(), &RdsTarget::Cluster("c1".to_owned()));
    let d = rds.describe().await.expect("describe");
    assert_eq!(d.engine.as_deref(), Some("aurora-postgresql"));
    assert_eq!(d.parameter_groups[0].name, "scrydon-aurora");
    assert_eq!(d.parameter_groups[0].kind, ParameterGroupKind::Cluster);
    assert_eq!(d.backup_retention_days, Some(5));

    // Aurora keeps rds.force_ssl in the cluster group, not the instance group.
    let ssl = rds.force_ssl().await.expect("force_ssl");
    assert_eq!(ssl.group.kind, ParameterGroupKind::Cluster);
    assert_eq!(ssl.value.as_deref(), Some("1"));
    assert!(ssl.configured());
    let found = rds.findings().await.expect("findings");
    assert_eq!(
        finding(&found, ids::PROVIDER_TLS_ENFORCED).status,
        Status::Pass
    );

    // Off in the cluster group: the fix modifies the cluster group.
    c.modify_db_cluster_parameter_group()
        .db_cluster_parameter_group_name("scrydon-aurora")
        .parameters(
            aws_sdk_rds::types::Parameter::builder()
                .parameter_name("rds.force_ssl")
                .parameter_value("0")
                .apply_method(aws_sdk_rds::types::ApplyMethod::Immediate)
                .build(),
        )
        .send()
        .await
        .expect("modify cluster group");
    let found = rds.findings().await.expect("findings");
    let tls = finding(&found, ids::PROVIDER_TLS_ENFORCED);
    assert_eq!(tls.status, Status::Fail);
    assert_eq!(
        tls.fix.as_ref().map(|f| f.text.as_str()),
        Some(
            "aws rds modify-db-cluster-parameter-group --db-cluster-parameter-group-name \
             scrydon-aurora --parameters \
             \"ParameterName=rds.force_ssl,ParameterValue='1',ApplyMethod=immediate\""
        )
    );
}

#[tokio::test]
async fn a_missing_instance_is_a_provider_error() {
    let moto = support::moto();
    let err = RdsProvider::builder()
        .with_instance_identifier("nope")
        .with_region(REGION)
        .with_endpoint_url(moto.url())
        .with_credentials(credentials())
        .build()
        .await
        .expect_err("no such instance");
    assert!(matches!(err, Error::Provider { .. }), "{err:?}");
    assert!(!format!("{err:?}").contains("test-secret"));
}

/// What moto lacks (`DescribeCertificates`, `CertificateDetails`) leaves `provider.server_ca`
/// skipped; everything else comes from the instance and its group.
#[tokio::test]
async fn findings_follow_force_ssl_public_access_and_iam() {
    let moto = support::moto();
    let c = moto.client();
    parameter_group(&c, "ssl-on", &[("rds.force_ssl", "1")]).await;
    parameter_group(&c, "ssl-off", &[("rds.force_ssl", "0")]).await;
    create_instance(&c, "on", Some("ssl-on"))
        .publicly_accessible(true)
        .enable_iam_database_authentication(true)
        .send()
        .await
        .expect("create");
    create_instance(&c, "off", Some("ssl-off"))
        .publicly_accessible(false)
        .send()
        .await
        .expect("create");
    instance(&c, "dflt", None, false).await;

    let on = support::provider(&moto, "on").await;
    assert!(on.capabilities().findings);
    let found = on.findings().await.expect("findings");
    let ids: Vec<&str> = found.iter().map(|f| f.id).collect();
    assert_eq!(
        ids,
        [
            ids::PROVIDER_TLS_ENFORCED,
            ids::PROVIDER_EXTENSION_ALLOWED,
            ids::PROVIDER_PUBLIC_NETWORK,
            ids::PROVIDER_PENDING_RESTART,
            ids::PROVIDER_IAM_AUTHENTICATION,
            ids::PROVIDER_SERVER_CA,
        ]
    );
    assert!(found.iter().all(|f| f.component.is_none()));
    let tls = finding(&found, ids::PROVIDER_TLS_ENFORCED);
    assert_eq!(tls.status, Status::Pass);
    assert_eq!(tls.references[1..], ["ISO 27001:2022 A.8.24", "NIST SC-8"]);
    let public = finding(&found, ids::PROVIDER_PUBLIC_NETWORK);
    assert_eq!(public.status, Status::Warn);
    let fix = public.fix.as_ref().expect("a fix");
    assert_eq!(fix.language, FixLanguage::Shell);
    assert_eq!(
        fix.text,
        "aws rds modify-db-instance --db-instance-identifier on --no-publicly-accessible \
         --apply-immediately"
    );
    assert_eq!(
        finding(&found, ids::PROVIDER_IAM_AUTHENTICATION).status,
        Status::Pass
    );
    assert_eq!(
        finding(&found, ids::PROVIDER_PENDING_RESTART).status,
        Status::Pass
    );
    // The group leaves rds.allowed_extensions unset: the engine default allows everything.
    assert_eq!(
        finding(&found, ids::PROVIDER_EXTENSION_ALLOWED).status,
        Status::Pass
    );
    assert_eq!(
        finding(&found, ids::PROVIDER_SERVER_CA).status,
        Status::Skip
    );

    let off = support::provider(&moto, "off").await;
    let found = off.findings().await.expect("findings");
    let tls = finding(&found, ids::PROVIDER_TLS_ENFORCED);
    assert_eq!(tls.status, Status::Fail);
    assert_eq!(tls.references[1..], ["ISO 27001:2022 A.8.24", "NIST SC-8"]);
    assert_eq!(
        tls.fix.as_ref().map(|f| f.text.as_str()),
        Some(
            "aws rds modify-db-parameter-group --db-parameter-group-name ssl-off --parameters \
             \"ParameterName=rds.force_ssl,ParameterValue='1',ApplyMethod=immediate\""
        )
    );
    assert_eq!(
        finding(&found, ids::PROVIDER_PUBLIC_NETWORK).status,
        Status::Pass
    );
    // Reads only: the group still says 0.
    assert_eq!(
        stored(&c, "ssl-off", "rds.force_ssl").await.as_deref(),
        Some("0")
    );

    // AWS's default group cannot be modified: the fix makes a custom group first.
    let dflt = support::provider(&moto, "dflt").await;
    let found = dflt.findings().await.expect("findings");
    let tls = finding(&found, ids::PROVIDER_TLS_ENFORCED);
    assert_eq!(tls.status, Status::Fail);
    let lines: Vec<&str> = tls
        .fix
        .as_ref()
        .expect("a fix")
        .text
        .lines()
        .map(|l| l.split(" --").next().unwrap_or_default())
        .collect();
    assert_eq!(
        lines,
        [
            "aws rds create-db-parameter-group",
            "aws rds modify-db-parameter-group",
            "aws rds modify-db-instance",
            "aws rds reboot-db-instance",
        ]
    );
    assert!(tls
        .fix
        .as_ref()
        .expect("fix")
        .text
        .contains("--db-parameter-group-family postgres16"));
}

/// `rds.allowed_extensions` unset, `*`, listing vector, or not: the finding, and
/// `allow_extension("vector")` writing only in the last case.
#[tokio::test]
async fn allowed_extensions_findings_and_allow_extension() {
    let moto = support::moto();
    let c = moto.client();
    parameter_group(&c, "ext-unset", &[]).await;
    parameter_group(&c, "ext-star", &[("rds.allowed_extensions", "*")]).await;
    parameter_group(
        &c,
        "ext-vector",
        &[("rds.allowed_extensions", "pg_trgm,vector")],
    )
    .await;
    parameter_group(&c, "ext-other", &[("rds.allowed_extensions", "pg_trgm")]).await;
    for (id, group) in [
        ("unset", "ext-unset"),
        ("star", "ext-star"),
        ("vector", "ext-vector"),
        ("other", "ext-other"),
    ] {
        instance(&c, id, Some(group), false).await;
    }

    for (id, group, stored_value, status, change_value) in [
        ("unset", "ext-unset", None, Status::Pass, "*"),
        ("star", "ext-star", Some("*"), Status::Pass, "*"),
        (
            "vector",
            "ext-vector",
            Some("pg_trgm,vector"),
            Status::Pass,
            "pg_trgm,vector",
        ),
    ] {
        let rds = support::provider(&moto, id).await;
        let found = rds.findings().await.expect("findings");
        assert_eq!(
            finding(&found, ids::PROVIDER_EXTENSION_ALLOWED).status,
            status,
            "{id}"
        );
        let change = rds.allow_extension("vector").await.expect("allow");
        assert_eq!(
            change,
            ParameterChange {
                name: "rds.allowed_extensions".to_owned(),
                previous: Some(change_value.to_owned()),
                value: change_value.to_owned(),
                applies: Applies::Immediately,
            },
            "{id}"
        );
        // Nothing written: the group holds what it held.
        assert_eq!(
            stored(&c, group, "rds.allowed_extensions").await.as_deref(),
            stored_value,
            "{id}"
        );
    }

    let rds = support::provider(&moto, "other").await;
    let found = rds.findings().await.expect("findings");
    let f = finding(&found, ids::PROVIDER_EXTENSION_ALLOWED);
    assert_eq!(f.status, Status::Fail);
    assert_eq!(
        f.fix.as_ref().map(|f| f.text.as_str()),
        Some(
            "aws rds modify-db-parameter-group --db-parameter-group-name ext-other --parameters \
             \"ParameterName=rds.allowed_extensions,ParameterValue='pg_trgm,vector',\
             ApplyMethod=immediate\""
        )
    );
    let change = rds.allow_extension("vector").await.expect("allow");
    assert_eq!(change.previous.as_deref(), Some("pg_trgm"));
    assert_eq!(change.value, "pg_trgm,vector");
    assert_eq!(
        stored(&c, "ext-other", "rds.allowed_extensions")
            .await
            .as_deref(),
        Some("pg_trgm,vector")
    );
    let found = rds.findings().await.expect("findings");
    assert_eq!(
        finding(&found, ids::PROVIDER_EXTENSION_ALLOWED).status,
        Status::Pass
    );
}

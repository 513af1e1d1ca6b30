//! The core's provider conformance suite: the RDS provider against moto, together with a real
//! PostgreSQL whose postgresql.conf imitates the RDS settings.

mod support;

use scrydon_byodb::dsn::Dsn;
use scrydon_byodb::provider::conformance::{self, Options, Outcome};
use scrydon_byodb::tls::CaBundle;
use scrydon_byodb_aws::RdsProvider;
use scrydon_byodb_testbed::Cluster;
use support::{credentials, instance, parameter_group, MotoClient, REGION};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rds_provider_is_conformant() {
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
    let c = moto.client();
    parameter_group(
        &c,
        "scrydon-pg16",
        &[("rds.force_ssl", "1"), ("rds.allowed_extensions", "vector")],
    )
    .await;
    instance(&c, "db1", Some("scrydon-pg16"), true).await;

    let bundle = CaBundle::from_file(pg.ca_pem_path().expect("the test bed's CA")).expect("CA");
    let rds = RdsProvider::builder()
        .with_instance_identifier("db1")
        .with_region(REGION)
        .with_endpoint_url(moto.url())
        .with_credentials(credentials())
        .with_ca_bundle(bundle)
        .build()
        .await
        .expect("build");
    let dsn: Dsn = pg
        .dsn(
            pg.superuser(),
            Some(pg.superuser_password()),
            "postgres",
            &[("sslmode", "require")],
        )
        .parse()
        .expect("dsn");
    let options = Options {
        allow_writes: true,
        writable_parameter: Some("rds.force_ssl".to_owned()),
    };
    let report = conformance::run_with(&rds, &dsn, &options).await;
    report.assert_conformant();
    // Every capability is on: these cases ran instead of being skipped (findings included: TLS
    // enforced, vector allowed, ids from provider.*, nothing changed between two reads).
    for case in [
        "detection",
        "read_parameters",
        "set_parameter",
        "allow_extension",
        "ca_bundle",
        "backup_posture",
        "high_availability",
        "findings",
    ] {
        assert_eq!(
            report.outcome(case),
            Some(&Outcome::Passed),
            "{case}\n{report}"
        );
    }
}

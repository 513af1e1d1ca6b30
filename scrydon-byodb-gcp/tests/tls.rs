//! Cloud SQL's default server certificates name `project:instance` in the CN and carry no SAN.
//! A real PostgreSQL serves such a certificate from a test CA, the fake Admin API publishes that
//! CA: the instance-name check connects, a wrong instance name and host-name verify-full fail,
//! and so does the real libpq (`psql`) with `sslmode=verify-full`.

mod support;

use scrydon_byodb::connect::{connect, ConnectOptions};
use scrydon_byodb::dsn::Dsn;
use scrydon_byodb::tls::{ServerNameCheck, Verification};
use scrydon_byodb::ConnectFailure;
use scrydon_byodb_gcp::{CloudSqlProvider, CloudSqlTls, ServerCaMode};
use scrydon_byodb_testbed::{Cluster, ServerCertSpec, ServerTls, TestCa};
use support::{instance_json, key, provider, FakeAdmin, INSTANCE, PROJECT};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_instance_name_check_accepts_cn_only_certificates_that_verify_full_refuses() {
    let ca = TestCa::new("Google Cloud SQL Server CA").expect("CA");
    let server_ca = ca.clone();
    let pg = tokio::task::spawn_blocking(move || {
        Cluster::builder()
            .with_tls(ServerTls::Issued {
                ca: server_ca,
                spec: ServerCertSpec::cn_only("proj:inst"),
            })
            .start()
    })
    .await
    .expect("join")
    .expect("start PostgreSQL");

    let (dir, key) = key();
    let fake = FakeAdmin::start(
        &key,
        instance_json(ca.cert_pem()),
        vec![(
            ca.cert_pem().to_owned(),
            "Google Cloud SQL Server CA".to_owned(),
            "fp1".to_owned(),
        )],
    )
    .await;
    let cloudsql = provider(&key, &fake).await;

    let tls = cloudsql.tls().await.expect("tls from the API");
    assert_eq!(tls.server_ca_mode, ServerCaMode::GoogleManagedInternalCa);
    assert_eq!(
        tls.name_check,
        ServerNameCheck::CommonNameEquals("proj:inst".to_owned())
    );
    assert_eq!(tls.bundle.len(), 1);

    let dsn: Dsn = pg
        .dsn(
            pg.superuser(),
            Some(pg.superuser_password()),
            "postgres",
            &[("sslmode", "verify-full")],
        )
        .parse()
        .expect("dsn");
    let attempt = |t: CloudSqlTls| {
        let dsn = dsn.clone();
        async move {
            let options =
                ConnectOptions::new().with_tls_connector(t.connector().expect("connector"));
            connect(&dsn, &options).await
        }
    };

    // The instance name: chain and CN verified.
    let conn = attempt(tls.clone())
        .await
        .expect("instance-name verification connects");
    assert_eq!(conn.info().verification(), Some(Verification::ChainAndName));
    let row = conn
        .client()
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await
        .expect("query");
    assert!(row.get::<_, bool>(0));

    // Another instance's name: refused as a name mismatch.
    let wrong = CloudSqlTls {
        name_check: ServerNameCheck::CommonNameEquals("proj:other".to_owned()),
        ..tls.clone()
    };
    let err = attempt(wrong).await.expect_err("wrong instance name");
    assert_eq!(
        err.connect_failure(),
        Some(ConnectFailure::CertificateNameMismatch),
        "{err}"
    );

    // Host-name verify-full (libpq's rule, CN fallback): proj:inst is not 127.0.0.1.
    let by_host = CloudSqlTls {
        name_check: ServerNameCheck::Hostname,
        ..tls.clone()
    };
    let err = attempt(by_host)
        .await
        .expect_err("verify-full by host name");
    assert_eq!(
        err.connect_failure(),
        Some(ConnectFailure::CertificateNameMismatch),
        "{err}"
    );

    // A CA that is not the instance's: untrusted, whatever the name.
    let foreign = TestCa::new("another CA").expect("CA");
    let untrusted = CloudSqlTls {
        bundle: scrydon_byodb::tls::CaBundle::from_pem(foreign.cert_pem()).expect("bundle"),
        ..tls.clone()
    };
    let err = attempt(untrusted).await.expect_err("foreign CA");
    assert_eq!(
        err.connect_failure(),
        Some(ConnectFailure::CertificateUntrusted),
        "{err}"
    );

    // The real libpq agrees: verify-full fails on the name, verify-ca (chain only) passes.
    let ca_file = dir.path().join("server-ca.pem");
    std::fs::write(&ca_file, ca.cert_pem()).expect("write CA");
    let ca_path = ca_file.to_string_lossy().into_owned();
    let user = pg.superuser().to_owned();
    let password = pg.superuser_password().to_owned();
    let full = pg.conninfo(
        &user,
        "postgres",
        &[("sslmode", "verify-full"), ("sslrootcert", &ca_path)],
    );
    let chain = pg.conninfo(
        &user,
        "postgres",
        &[("sslmode", "verify-ca"), ("sslrootcert", &ca_path)],
    );
    let (full_result, chain_result) = tokio::task::spawn_blocking(move || {
        (
            scrydon_byodb_testbed::psql(&full, Some(&password), "SELECT 1"),
            scrydon_byodb_testbed::psql(&chain, Some(&password), "SELECT 1"),
        )
    })
    .await
    .expect("join");
    match full_result {
        Err(scrydon_byodb_testbed::Error::Psql { stderr, .. }) => assert!(
            stderr.contains("\"proj:inst\" does not match host name \"127.0.0.1\""),
            "{stderr}"
        ),
        other => panic!("libpq verify-full should fail on the name: {other:?}"),
    }
    assert_eq!(chain_result.expect("libpq verify-ca").trim(), "1");
}

#[tokio::test]
async fn cas_modes_verify_by_host_name() {
    let (_dir, key) = key();
    let ca = TestCa::new("CAS root").expect("CA");
    let mut instance = instance_json(ca.cert_pem());
    instance["settings"]["ipConfiguration"]["serverCaMode"] =
        serde_json::json!("GOOGLE_MANAGED_CAS_CA");
    let fake = FakeAdmin::start(
        &key,
        instance,
        vec![(
            ca.cert_pem().to_owned(),
            "CAS root".to_owned(),
            "fp1".to_owned(),
        )],
    )
    .await;
    fake.with_state(|s| s.dns_name = Some("a1b2c3.europe-west1.sql.goog.".to_owned()));
    let cloudsql = CloudSqlProvider::builder()
        .with_project(PROJECT)
        .with_instance(INSTANCE)
        .with_credentials(key.credentials())
        .with_endpoint(fake.url())
        .build()
        .await
        .expect("build");
    let tls = cloudsql.tls().await.expect("tls");
    assert_eq!(tls.server_ca_mode, ServerCaMode::GoogleManagedCasCa);
    assert_eq!(tls.name_check, ServerNameCheck::Hostname);
    assert_eq!(
        tls.dns_name.as_deref(),
        Some("a1b2c3.europe-west1.sql.goog.")
    );
    let c = tls.connector().expect("connector");
    assert_eq!(c.verification(), Verification::ChainAndName);
}

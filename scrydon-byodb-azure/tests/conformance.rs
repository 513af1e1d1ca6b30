//! The core's provider conformance suite, and the preflight / bootstrap / compliance wiring:
//! the provider against the in-process ARM server, together with a real PostgreSQL whose
//! `azure.extensions` imitates the server's. A configuration write the fake ARM accepts is
//! applied to the real server (as Azure does), so what SQL sees follows the API.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use scrydon_byodb::bootstrap::{Action, Bootstrap};
use scrydon_byodb::catalog::Component;
use scrydon_byodb::compliance::{Compliance, Control};
use scrydon_byodb::dsn::Dsn;
use scrydon_byodb::preflight::{Preflight, Target};
use scrydon_byodb::provider::conformance::{self, Options, Outcome};
use scrydon_byodb::report::{ids, Status};
use scrydon_byodb::tls::CaBundle;
use scrydon_byodb::SecretString;
use scrydon_byodb_testbed::Cluster;
use support::{config_path, FakeArm, StubCredential};

async fn cluster(extensions: &'static str) -> Arc<Mutex<Cluster>> {
    let pg = tokio::task::spawn_blocking(move || {
        Cluster::builder()
            .with_setting("azure.extensions", extensions)
            .start()
    })
    .await
    .expect("join")
    .expect("start PostgreSQL");
    Arc::new(Mutex::new(pg))
}

/// Applies the fake's successful writes of `azure.*` parameters to the real server.
fn follow_writes(arm: &FakeArm, pg: &Arc<Mutex<Cluster>>) {
    let pg = pg.clone();
    arm.on_applied(move |name, value| {
        if name.starts_with("azure.") {
            pg.lock()
                .unwrap()
                .set_setting(name, value)
                .expect("apply the setting to PostgreSQL");
        }
    });
}

fn superuser_dsn(pg: &Arc<Mutex<Cluster>>) -> Dsn {
    let pg = pg.lock().unwrap();
    pg.dsn(
        pg.superuser(),
        Some(pg.superuser_password()),
        "postgres",
        &[("sslmode", "require")],
    )
    .parse()
    .expect("dsn")
}

fn show(pg: &Arc<Mutex<Cluster>>, db: &str, sql: &str) -> String {
    pg.lock()
        .unwrap()
        .psql_in(db, sql)
        .expect("psql")
        .trim()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azure_provider_is_conformant() {
    let pg = cluster("pg_trgm,VECTOR").await;
    let arm = FakeArm::start("pg_trgm,VECTOR", "on", "TLSv1.2").await;
    follow_writes(&arm, &pg);
    let ca = {
        let pg = pg.lock().unwrap();
        CaBundle::from_file(pg.ca_pem_path().expect("the test bed's CA")).expect("CA")
    };
    let azure = arm
        .builder(Arc::new(StubCredential::default()))
        .with_ca_bundle(ca)
        .build()
        .await
        .expect("build");
    let dsn = superuser_dsn(&pg);
    let options = Options {
        allow_writes: true,
        writable_parameter: Some("require_secure_transport".to_owned()),
    };
    let report = conformance::run_with(&azure, &dsn, &options).await;
    report.assert_conformant();
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
    // Everything was idempotent: no write reached the API.
    assert!(arm.puts().is_empty(), "{:?}", arm.puts());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preflight_bootstrap_and_compliance_use_the_provider() {
    let pg = cluster("pg_trgm").await;
    let arm = FakeArm::start("pg_trgm", "off", "TLSv1.2").await;
    // At the moment Azure applies the new azure.extensions, record whether pgvector exists yet.
    let seen_at_put: Arc<Mutex<Vec<String>>> = Arc::default();
    {
        let pg2 = pg.clone();
        let seen = seen_at_put.clone();
        arm.on_applied(move |name, value| {
            let mut pg = pg2.lock().unwrap();
            let exists = pg
                .psql_in(
                    "postgres",
                    "SELECT count(*) FROM pg_database d WHERE d.datname = 'auth'",
                )
                .unwrap_or_default();
            let ext = if exists.trim() == "1" {
                pg.psql_in(
                    "auth",
                    "SELECT count(*) FROM pg_extension WHERE extname = 'vector'",
                )
                .unwrap_or_default()
            } else {
                "0".to_owned()
            };
            seen.lock().unwrap().push(ext.trim().to_owned());
            pg.set_setting(name, value).expect("apply");
        });
    }
    let azure = Arc::new(
        arm.builder(Arc::new(StubCredential::default()))
            .build()
            .await
            .expect("build"),
    );
    let admin = superuser_dsn(&pg);
    let target = Target::builder(admin)
        .with_app_role("scrydon")
        .with_components([Component::Auth])
        .build()
        .expect("target");

    // Preflight: the provider's findings are in the report; reads only.
    let report = Preflight::new(target.clone())
        .with_provider(azure.clone())
        .run()
        .await
        .expect("preflight");
    let status = |id: &str| {
        report
            .findings
            .iter()
            .find(|f| f.id == id)
            .map(|f| f.status)
    };
    assert_eq!(status(ids::PROVIDER_EXTENSION_ALLOWED), Some(Status::Fail));
    assert_eq!(status(ids::PROVIDER_TLS_ENFORCED), Some(Status::Fail));
    assert_eq!(status(ids::PROVIDER_TLS_MIN_VERSION), Some(Status::Pass));
    assert_eq!(status(ids::PROVIDER_PUBLIC_NETWORK), Some(Status::Pass));
    assert_eq!(report.provider_used, "azure-flexible-server");
    assert!(arm.puts().is_empty(), "preflight must not write");

    // Compliance: provider.tls_enforced is evidence for ISO 27001 A.8.24.
    let compliance = Compliance::new(target.clone())
        .with_provider(azure.clone())
        .run()
        .await
        .expect("compliance");
    let a824 = compliance.control(Control::Iso27001A824).expect("A.8.24");
    assert_eq!(
        a824.evidence_status(ids::PROVIDER_TLS_ENFORCED),
        Some(Status::Fail)
    );
    assert!(arm.puts().is_empty(), "compliance must not write");

    // Bootstrap: VECTOR is added through the API before CREATE EXTENSION.
    let b = Bootstrap::builder(target)
        .with_password(SecretString::new("Tr0ub4dor-and-3-horses"))
        .with_provider(azure.clone())
        .with_lock_timeout(Duration::from_secs(5))
        .build()
        .expect("bootstrap");
    let (plan, applied) = b.run().await.expect("run");
    assert!(plan.blockers.is_empty(), "{:?}", plan.blockers);
    assert_eq!(plan.steps[0].action, Action::AllowExtension);
    assert!(plan
        .steps
        .iter()
        .any(|s| s.action == Action::CreateExtension));
    assert!(applied.succeeded(), "{:?}", applied.failed);
    let puts = arm.puts();
    assert_eq!(puts.len(), 1, "{puts:?}");
    assert_eq!(puts[0].path, config_path("azure.extensions"));
    assert_eq!(
        puts[0].body.as_ref().unwrap()["properties"]["value"],
        "pg_trgm,VECTOR"
    );
    assert_eq!(*seen_at_put.lock().unwrap(), ["0"], "the PUT came first");
    assert_eq!(
        show(
            &pg,
            "auth",
            "SELECT count(*) FROM pg_extension WHERE extname = 'vector'"
        ),
        "1"
    );
    assert_eq!(
        show(&pg, "postgres", "SHOW azure.extensions"),
        "pg_trgm,VECTOR"
    );

    // And preflight now sees VECTOR allowed, through the API and through SQL.
    let report = Preflight::new(b.target().clone())
        .with_provider(azure)
        .run()
        .await
        .expect("preflight");
    let after: Vec<_> = report
        .findings
        .iter()
        .filter(|f| {
            f.id == ids::PROVIDER_EXTENSION_ALLOWED || f.id == ids::PREFLIGHT_AZURE_EXTENSIONS
        })
        .map(|f| (f.id, f.status))
        .collect();
    assert_eq!(
        after,
        [
            (ids::PREFLIGHT_AZURE_EXTENSIONS, Status::Pass),
            (ids::PROVIDER_EXTENSION_ALLOWED, Status::Pass)
        ]
    );
}

//! `verify` against a real server: a good switch (Drizzle's migrations table filled by the test),
//! databases without migrations or pgvector, a DSN still pointing at the in-cluster service, the
//! wrong database, the wrong password. Assertions are on ids, statuses and diagnosis ids.

use scrydon_byodb::catalog::Component;
use scrydon_byodb::dsn::Dsn;
use scrydon_byodb::report::{Finding, Status};
use scrydon_byodb::verify::{self, ids, VerifyOptions};
use scrydon_byodb_testbed::Cluster;

const PW: &str = "verify-app-pw-3";

fn dsn(cluster: &Cluster, host: &str, db: &str, pw: &str) -> Dsn {
    let ca = cluster.ca_pem_path().expect("ca").display().to_string();
    cluster
        .dsn_for_host(
            host,
            "scrydon",
            Some(pw),
            db,
            &[("sslmode", "verify-full"), ("sslrootcert", &ca)],
        )
        .parse()
        .expect("dsn")
}

fn status(findings: &[Finding], c: Component, id: &str) -> Status {
    let found: Vec<_> = findings
        .iter()
        .filter(|f| f.component == Some(c) && f.id == id)
        .collect();
    assert_eq!(found.len(), 1, "{c} {id}: {findings:#?}");
    found[0].status
}

fn diagnosis(findings: &[Finding], c: Component, id: &str) -> Option<&'static str> {
    findings
        .iter()
        .find(|f| f.component == Some(c) && f.id == id)
        .and_then(|f| f.diagnosis)
}

fn migrations_table(cluster: &Cluster, db: &str, rows: usize) {
    let mut sql = String::from(
        "CREATE SCHEMA drizzle AUTHORIZATION scrydon;
         CREATE TABLE drizzle.__drizzle_migrations (id serial PRIMARY KEY, hash text NOT NULL, created_at bigint);
         ALTER TABLE drizzle.__drizzle_migrations OWNER TO scrydon;",
    );
    for i in 0..rows {
        sql.push_str(&format!(
            "INSERT INTO drizzle.__drizzle_migrations (hash, created_at) VALUES ('h{i}', {});",
            1_760_000_000_000i64 + i as i64
        ));
    }
    cluster.psql_in(db, &sql).expect("migrations table");
}

#[tokio::test]
async fn verify_proves_a_good_switch_and_catches_each_gap() {
    use Component::{Agentic, Analytics, Auth, Cortex, Ontology};
    use Status::{Fail, Pass, Skip};

    let cluster = Cluster::builder().start().expect("cluster");
    cluster
        .create_role("scrydon", Some(PW), "LOGIN")
        .expect("role");
    for db in ["auth", "agentic", "analytics", "cortex", "ontology"] {
        cluster.create_database(db, Some("scrydon")).expect("db");
    }
    // auth: the good switch (pgvector pre-created, migrations applied).
    cluster
        .psql_in("auth", "CREATE EXTENSION vector;")
        .expect("vector");
    migrations_table(&cluster, "auth", 3);
    // analytics (no pgvector needed): migrations applied.
    migrations_table(&cluster, "analytics", 1);
    // agentic: no migrations table, no pgvector. cortex: an empty migrations table.
    cluster
        .psql_in("cortex", "CREATE EXTENSION vector;")
        .expect("vector");
    migrations_table(&cluster, "cortex", 0);

    // The good ones come from a render output directory, as `render` writes them.
    let dir = tempfile::tempdir().expect("dir");
    std::fs::create_dir(dir.path().join("secrets")).expect("secrets dir");
    for (c, db) in [(Auth, "auth"), (Analytics, "analytics")] {
        let uri = dsn(&cluster, "localhost", db, PW).to_uri();
        std::fs::write(
            dir.path().join(format!("secrets/{c}.dsn")),
            uri.expose_secret(),
        )
        .expect("write dsn");
    }
    let mut options = VerifyOptions::new();
    for (c, d) in verify::dsns_from_dir(dir.path()).expect("dsns") {
        options = options.with_component(c, d);
    }
    assert_eq!(
        options.components().collect::<Vec<_>>(),
        vec![Auth, Analytics]
    );
    let options = options
        .with_component(Agentic, dsn(&cluster, "localhost", "agentic", PW))
        .with_component(Cortex, dsn(&cluster, "localhost", "cortex", PW))
        // Still the bundled database's service.
        .with_component(
            Ontology,
            dsn(&cluster, "db.scrydon-platform.svc", "ontology", PW),
        );
    let findings = verify::verify(&options).await;

    for id in [
        ids::HOST,
        ids::DATABASE,
        ids::CONNECT,
        ids::MIGRATIONS,
        ids::PGVECTOR,
    ] {
        assert_eq!(status(&findings, Auth, id), Pass, "auth {id}");
    }
    let latest = findings
        .iter()
        .find(|f| f.component == Some(Auth) && f.id == ids::MIGRATIONS)
        .expect("auth migrations");
    assert!(latest.observed.contains("h2"), "latest hash reported");
    assert_eq!(status(&findings, Analytics, ids::MIGRATIONS), Pass);
    assert_eq!(status(&findings, Analytics, ids::PGVECTOR), Skip);

    assert_eq!(status(&findings, Agentic, ids::CONNECT), Pass);
    assert_eq!(status(&findings, Agentic, ids::MIGRATIONS), Fail);
    assert_eq!(status(&findings, Agentic, ids::PGVECTOR), Fail);
    assert_eq!(
        diagnosis(&findings, Agentic, ids::PGVECTOR),
        Some("extension.permission_denied")
    );
    assert_eq!(status(&findings, Cortex, ids::MIGRATIONS), Fail);
    assert_eq!(status(&findings, Cortex, ids::PGVECTOR), Pass);

    assert_eq!(status(&findings, Ontology, ids::HOST), Fail);
    assert_eq!(status(&findings, Ontology, ids::CONNECT), Skip);
    assert_eq!(status(&findings, Ontology, ids::MIGRATIONS), Skip);

    // The wrong database for the component, and the wrong password.
    let findings = verify::verify(
        &VerifyOptions::new()
            .with_component(Auth, dsn(&cluster, "localhost", "agentic", PW))
            .with_component(Cortex, dsn(&cluster, "localhost", "cortex", "wrong")),
    )
    .await;
    assert_eq!(status(&findings, Auth, ids::DATABASE), Fail);
    assert_eq!(status(&findings, Cortex, ids::CONNECT), Fail);
    assert_eq!(
        diagnosis(&findings, Cortex, ids::CONNECT),
        Some("connect.authentication_failed")
    );
    assert_eq!(status(&findings, Cortex, ids::MIGRATIONS), Skip);
    // No password in what was observed.
    assert!(findings.iter().all(|f| !f.observed.contains("wrong")));
}

#[test]
fn a_dsn_file_that_does_not_parse_names_the_file() {
    let dir = tempfile::tempdir().expect("dir");
    std::fs::create_dir(dir.path().join("secrets")).expect("secrets dir");
    let path = dir.path().join("secrets/auth.dsn");
    std::fs::write(&path, "postgres://u:pw@host:notaport/auth").expect("write");
    match verify::dsns_from_dir(dir.path()) {
        Err(scrydon_byodb::Error::InvalidInput { field, value, .. }) => {
            assert_eq!(field, "DSN file");
            assert_eq!(value, path.display().to_string());
        }
        other => panic!("{other:?}"),
    }
}

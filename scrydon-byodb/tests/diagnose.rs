//! Every diagnosis of the SQLSTATE path, produced by the real failure against a real server:
//! PostgreSQL 14 without pgvector, an allow-list (an event trigger refusing CREATE EXTENSION with
//! 0A000, as Azure's allow-list does), roles without privileges, Dapr table collisions, a
//! transaction-mode PgBouncer. Assertions are on diagnosis ids only.

use scrydon_byodb::connect::{connect, ConnectOptions, Connection};
use scrydon_byodb::diagnose::{self, ids, SqlContext};
use scrydon_byodb::dsn::Dsn;
use scrydon_byodb::Error;
use scrydon_byodb_testbed::{Cluster, PgBouncer, PgVersion, PoolMode};

const PW: &str = "diag-pw-91";

async fn open(dsn: &str) -> Connection {
    let dsn: Dsn = dsn.parse().expect("dsn");
    connect(&dsn, &ConnectOptions::new())
        .await
        .expect("connect")
}

/// Runs `sql`, expects a server error, and diagnoses it in `context`.
async fn diagnosis_of(conn: &Connection, sql: &str, context: SqlContext) -> Option<&'static str> {
    let err = conn
        .batch_execute(sql)
        .await
        .expect_err("statement should fail");
    let code = err.code().expect("a server error with a SQLSTATE");
    diagnose::for_sqlstate(code, context).map(|d| d.id)
}

async fn available(conn: &Connection, ext: &str) -> bool {
    conn.query_one(
        "SELECT count(*) > 0 FROM pg_available_extensions WHERE name = $1",
        &[&ext],
    )
    .await
    .expect("query")
    .get(0)
}

#[tokio::test]
async fn vector_not_available_on_a_server_without_pgvector() {
    let cluster = Cluster::builder()
        .with_version(PgVersion::V14)
        .start()
        .expect("pg14");
    let conn = open(&cluster.admin_uri("require")).await;
    let available = available(&conn, "vector").await;
    assert!(!available);
    assert_eq!(
        diagnosis_of(
            &conn,
            "CREATE EXTENSION vector",
            SqlContext::CreateExtension { available }
        )
        .await,
        Some(ids::VECTOR_NOT_AVAILABLE)
    );
    assert_eq!(
        diagnose::for_missing_extension(available).id,
        ids::VECTOR_NOT_AVAILABLE
    );
}

#[tokio::test]
async fn sql_failures_on_postgres_15() {
    let cluster = Cluster::builder().start().expect("cluster");
    cluster.create_role("app", Some(PW), "LOGIN").expect("role");
    cluster
        .create_database("auth", None)
        .expect("db owned by postgres");
    cluster.create_database("allowlist", None).expect("db");
    let admin = open(&cluster.dsn(
        cluster.superuser(),
        Some(cluster.superuser_password()),
        "allowlist",
        &[("sslmode", "require")],
    ))
    .await;
    let app = open(&cluster.dsn("app", Some(PW), "auth", &[("sslmode", "require")])).await;

    // Installed, but the role may not create it (vector is not a trusted extension).
    let available = available(&app, "vector").await;
    assert!(available);
    assert_eq!(
        diagnosis_of(
            &app,
            "CREATE EXTENSION vector",
            SqlContext::CreateExtension { available }
        )
        .await,
        Some(ids::EXTENSION_PERMISSION_DENIED)
    );

    // Installed, refused by an allow-list: Azure's raises 0A000; an event trigger does the same.
    admin
        .batch_execute(
            "CREATE FUNCTION allowlist() RETURNS event_trigger LANGUAGE plpgsql AS $$
             BEGIN RAISE EXCEPTION 'extension is not allow-listed' USING ERRCODE = '0A000'; END $$;
             CREATE EVENT TRIGGER allowlist ON ddl_command_start WHEN TAG IN ('CREATE EXTENSION')
               EXECUTE FUNCTION allowlist();",
        )
        .await
        .expect("allow-list trigger");
    assert_eq!(
        diagnosis_of(
            &admin,
            "CREATE EXTENSION vector",
            SqlContext::CreateExtension { available: true }
        )
        .await,
        Some(ids::EXTENSION_NOT_ALLOW_LISTED)
    );

    // PostgreSQL 15: no CREATE on schema public for roles that do not own the database.
    assert_eq!(
        diagnosis_of(&app, "CREATE TABLE users (id int)", SqlContext::Ddl).await,
        Some(ids::ROLE_LACKS_CREATE)
    );
    assert_eq!(
        diagnosis_of(&app, "CREATE SCHEMA drizzle", SqlContext::Ddl).await,
        Some(ids::ROLE_LACKS_CREATE)
    );

    // Dapr: the state table missing, then colliding with an existing one.
    assert_eq!(
        diagnosis_of(
            &admin,
            "SELECT * FROM dapr_workflow_state",
            SqlContext::DaprState
        )
        .await,
        Some(ids::DAPR_STATE_TABLE_MISSING)
    );
    admin
        .batch_execute("CREATE TABLE dapr_workflow_state (key text PRIMARY KEY)")
        .await
        .expect("table");
    assert_eq!(
        diagnosis_of(
            &admin,
            "CREATE TABLE dapr_workflow_state (key text PRIMARY KEY)",
            SqlContext::DaprState
        )
        .await,
        Some(ids::DAPR_TABLE_PREFIX_COLLISION)
    );
    // The same code in a migration: the database is not empty.
    assert_eq!(
        diagnosis_of(
            &admin,
            "CREATE TABLE dapr_workflow_state (key text)",
            SqlContext::Ddl
        )
        .await,
        Some(ids::OBJECT_EXISTS)
    );

    // Connection-level failures, whatever the context.
    let wrong_pw: Dsn = cluster
        .dsn("app", Some("wrong"), "auth", &[("sslmode", "require")])
        .parse()
        .expect("dsn");
    let e = connect(&wrong_pw, &ConnectOptions::new())
        .await
        .expect_err("bad password");
    assert_eq!(
        diagnose::for_database_error(&e, SqlContext::Statement).map(|d| d.id),
        Some("connect.authentication_failed")
    );
    let missing: Dsn = cluster
        .dsn("app", Some(PW), "ontology", &[("sslmode", "require")])
        .parse()
        .expect("dsn");
    let e = connect(&missing, &ConnectOptions::new())
        .await
        .expect_err("no such database");
    assert!(matches!(e, Error::Connect { .. }));
    assert_eq!(
        diagnose::for_error(&e).map(|d| d.id),
        Some("connect.database_missing")
    );
}

#[tokio::test]
async fn prepared_statements_through_a_transaction_mode_pooler() {
    let cluster = Cluster::builder().start().expect("cluster");
    let bouncer = PgBouncer::builder(&cluster)
        .with_pool_mode(PoolMode::Transaction)
        .with_client_tls(true)
        .start()
        .expect("pgbouncer");
    let dsn = bouncer.dsn(
        cluster.superuser(),
        Some(cluster.superuser_password()),
        "postgres",
        &[("sslmode", "require")],
    );
    let a = open(&dsn).await;
    let b = open(&dsn).await;
    // A prepares on one server session, which goes back to the pool and to B's transaction; A's
    // next statement lands on another server session, where the statement does not exist.
    a.batch_execute("PREPARE migrate AS SELECT 1")
        .await
        .expect("prepare");
    b.batch_execute("BEGIN; SELECT 1")
        .await
        .expect("b holds it");
    assert_eq!(
        diagnosis_of(&a, "EXECUTE migrate", SqlContext::Statement).await,
        Some(ids::POOLER_TRANSACTION_MODE)
    );
    b.batch_execute("COMMIT").await.expect("commit");
}

//! Preflight against real servers: each check in the state that trips it and the state that
//! passes it. Assertions are on ids, statuses and diagnosis ids, never on prose.
//!
//! Clusters are shared between cases where the cases cannot disturb each other: each case uses
//! its own databases (through per-component DSNs) or its own roles.

use std::time::Duration;

use scrydon_byodb::catalog::Component;
use scrydon_byodb::dsn::Dsn;
use scrydon_byodb::preflight::{ComponentDemand, Demand, Preflight, Report, Target};
use scrydon_byodb::report::{ids, Status};
use scrydon_byodb_testbed::{Cluster, Hba, PgBouncer, PgVersion, PoolMode};

use Component::{Agentic, Analytics, Auth, Cortex, Ontology};
use Status::{Fail, Pass, Skip, Warn};

const APP_PASSWORD: &str = "app-pw-7c1d";

// ---- helpers ----------------------------------------------------------------------------------

/// A DSN for `user` on `dbname` with this sslmode (and the test CA for the verifying modes).
fn dsn(cluster: &Cluster, user: &str, password: Option<&str>, db: &str, sslmode: &str) -> Dsn {
    let ca = cluster
        .ca_pem_path()
        .map(|p| p.to_string_lossy().into_owned());
    let mut params = vec![("sslmode", sslmode)];
    if let (Some(ca), "verify-ca" | "verify-full") = (ca.as_deref(), sslmode) {
        params.push(("sslrootcert", ca));
    }
    cluster
        .dsn(user, password, db, &params)
        .parse()
        .expect("test DSN")
}

/// The superuser's DSN on `postgres`.
fn admin(cluster: &Cluster, sslmode: &str) -> Dsn {
    dsn(
        cluster,
        cluster.superuser(),
        Some(cluster.superuser_password()),
        "postgres",
        sslmode,
    )
}

/// The five component databases named `<component><suffix>`, owned by `owner`, with pgvector
/// where the component needs it (when `vector`).
fn create_platform(cluster: &Cluster, suffix: &str, owner: &str, vector: bool) {
    for c in Component::ALL {
        let db = format!("{}{suffix}", c.spec().database);
        cluster
            .create_database(&db, Some(owner))
            .expect("create database");
        if vector && c.spec().needs_pgvector {
            cluster
                .psql_in(&db, "CREATE EXTENSION vector;")
                .expect("create extension");
        }
    }
}

/// A target whose components use the databases `<component><suffix>`.
fn target(admin: &Dsn, suffix: &str, role: &str) -> scrydon_byodb::preflight::TargetBuilder {
    let mut b = Target::builder(admin.clone()).with_app_role(role);
    for c in Component::ALL {
        b = b.with_component_dsn(
            c,
            admin.with_dbname(&format!("{}{suffix}", c.spec().database)),
        );
    }
    b
}

/// A demand the test clusters' 50 connections can take: 5 × (1 × (2 + 1)) + 5 = 20.
fn small_demand() -> Demand {
    Demand::new().with_default(ComponentDemand {
        pods: 1,
        pool_size: 2,
        sidecar_connections: 1,
    })
}

async fn run(target: Target) -> Report {
    Preflight::new(target)
        .with_step_timeout(Duration::from_secs(20))
        .run()
        .await
        .expect("preflight runs")
}

#[track_caller]
fn expect(r: &Report, id: &str, component: Option<Component>, want: Status) {
    let got = r.status_of(id, component);
    assert_eq!(
        got,
        Some(want),
        "{id} {component:?}: want {want}, got {got:?}\n{}",
        r.to_text(false)
    );
}

#[track_caller]
fn expect_each(r: &Report, id: &str, components: &[Component], want: Status) {
    for c in components {
        expect(r, id, Some(*c), want);
    }
}

/// The diagnosis ids of the `preflight.connect` findings, by component.
fn diagnoses(r: &Report) -> Vec<(Option<Component>, Option<&'static str>)> {
    r.findings_with_id(ids::PREFLIGHT_CONNECT)
        .map(|f| (f.component, f.diagnosis))
        .collect()
}

/// Everything a preflight could change, in every database: roles, memberships, databases and
/// their ACLs, schemas, relations (temporary ones too), extensions, configuration, and the next
/// transaction id (a write would assign one; autovacuum is off on the cluster this is used on).
fn snapshot(cluster: &Cluster) -> String {
    let mut out = cluster
        .psql(
            "SELECT pg_snapshot_xmax(pg_current_snapshot());
             SELECT string_agg(format('%s|%s|%s|%s|%s|%s', rolname, rolsuper, rolcanlogin, rolcreatedb, rolcreaterole, rolconfig), E'\\n' ORDER BY rolname) FROM pg_roles;
             SELECT string_agg(format('%s>%s', roleid::regrole, member::regrole), ',' ORDER BY 1) FROM pg_auth_members;
             SELECT string_agg(format('%s|%s|%s|%s', datname, datdba::regrole, datacl, datallowconn), E'\\n' ORDER BY datname) FROM pg_database;
             SELECT count(*) FROM pg_db_role_setting;
             SELECT string_agg(format('%s=%s', name, setting), ',' ORDER BY name) FROM pg_settings WHERE source NOT IN ('default', 'client', 'session');",
        )
        .expect("snapshot");
    let dbs = cluster
        .psql("SELECT datname FROM pg_database WHERE datallowconn ORDER BY 1")
        .expect("databases");
    for db in dbs.lines() {
        out.push_str(&format!("\n== {db}\n"));
        out.push_str(
            &cluster
                .psql_in(
                    db,
                    "SELECT string_agg(format('%s|%s|%s', nspname, nspowner::regrole, nspacl), E'\\n' ORDER BY nspname) FROM pg_namespace;
                     SELECT string_agg(format('%s.%s|%s|%s', relnamespace::regnamespace, relname, relkind, relacl), E'\\n' ORDER BY 1)
                       FROM pg_class WHERE relnamespace NOT IN ('pg_catalog'::regnamespace, 'information_schema'::regnamespace, 'pg_toast'::regnamespace);
                     SELECT string_agg(extname || ' ' || extversion, ',' ORDER BY 1) FROM pg_extension;
                     SELECT string_agg(format('%s|%s', proname, proacl), ',' ORDER BY 1) FROM pg_proc WHERE pronamespace = 'public'::regnamespace;",
                )
                .expect("snapshot of a database"),
        );
    }
    out
}

// ---- the passing state, read-only, and a role without rights ----------------------------------

/// A complete platform on PostgreSQL 15 with TLS only: everything passes (or is skipped for
/// lack of a provider); preflight changes nothing, as the superuser or as a role without any
/// privilege; the latter still gets a full report.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passing_platform_is_read_only_and_runs_without_privileges() {
    let cluster = Cluster::builder()
        .with_setting("max_connections", "200")
        .with_setting("autovacuum", "off")
        .start()
        .expect("cluster");
    cluster
        .create_role("scrydon", Some(APP_PASSWORD), "LOGIN")
        .unwrap();
    cluster
        .create_role("nobody", Some("nobody-pw"), "LOGIN")
        .unwrap();
    create_platform(&cluster, "", "scrydon", true);
    create_platform(&cluster, "_novec", "scrydon", false);

    let admin_dsn = admin(&cluster, "verify-full");
    let before = snapshot(&cluster);
    let report = run(Target::builder(admin_dsn.clone()).build().unwrap()).await;
    let after = snapshot(&cluster);
    assert_eq!(before, after, "preflight changed the server");

    let all = Component::ALL;
    let vec3 = [Auth, Agentic, Cortex];
    expect(&report, ids::PREFLIGHT_PROVIDER, None, Pass);
    expect(&report, ids::PREFLIGHT_SERVER_VERSION, None, Pass);
    expect(&report, ids::PREFLIGHT_VECTOR_AVAILABLE, None, Pass);
    expect_each(&report, ids::PREFLIGHT_DATABASE_EXISTS, &all, Pass);
    expect(&report, ids::PREFLIGHT_ROLE_EXISTS, None, Pass);
    expect_each(&report, ids::PREFLIGHT_ROLE_CONNECT, &all, Pass);
    expect_each(&report, ids::PREFLIGHT_ROLE_CREATE_SCHEMA, &all, Pass);
    expect_each(&report, ids::PREFLIGHT_ROLE_CREATE_PUBLIC, &all, Pass);
    expect_each(&report, ids::PREFLIGHT_VECTOR_INSTALLED, &vec3, Pass);
    assert_eq!(
        report
            .findings_with_id(ids::PREFLIGHT_VECTOR_INSTALLED)
            .count(),
        3,
        "vector is checked only where it is needed"
    );
    expect(&report, ids::PREFLIGHT_TLS_SESSION, None, Pass);
    expect(&report, ids::PREFLIGHT_TLS_SSLMODE, None, Pass);
    expect(&report, ids::PREFLIGHT_TLS_ENFORCED, None, Pass);
    expect(&report, ids::PREFLIGHT_CAPACITY, None, Pass);
    expect(&report, ids::PREFLIGHT_POOLER, None, Pass);
    expect_each(&report, ids::PREFLIGHT_DAPR_STATE_TABLES, &all, Pass);
    for id in [
        ids::PREFLIGHT_RDS_FORCE_SSL,
        ids::PREFLIGHT_RDS_ALLOWED_EXTENSIONS,
        ids::PREFLIGHT_AZURE_EXTENSIONS,
        ids::PREFLIGHT_PROVIDER_PARAMETERS,
        ids::PREFLIGHT_BACKUP,
        ids::PREFLIGHT_HIGH_AVAILABILITY,
    ] {
        expect(&report, id, None, Skip);
    }
    assert!(diagnoses(&report).is_empty());
    assert_eq!(report.status, Pass);
    assert_eq!(report.exit_code(true), 0);
    // Every preflight id is reported, and only those.
    let seen: std::collections::BTreeSet<&str> = report.findings.iter().map(|f| f.id).collect();
    let expected: std::collections::BTreeSet<&str> = ids::PREFLIGHT
        .iter()
        .copied()
        .filter(|id| *id != ids::PREFLIGHT_CONNECT)
        .collect();
    assert_eq!(seen, expected);
    // The report carries no password.
    let json = report.to_json().to_string();
    assert!(!json.contains(cluster.superuser_password()));
    assert!(!report.to_text(false).contains(cluster.superuser_password()));
    assert!(!report.to_junit(true).contains(cluster.superuser_password()));

    // Without pgvector installed, the superuser can install it: a warning with the SQL.
    let su_novec = run(target(&admin_dsn, "_novec", "scrydon").build().unwrap()).await;
    expect_each(&su_novec, ids::PREFLIGHT_VECTOR_INSTALLED, &vec3, Warn);
    let fix = su_novec
        .finding(ids::PREFLIGHT_VECTOR_INSTALLED, Some(Cortex))
        .and_then(|f| f.fix.clone())
        .expect("a fix");
    assert_eq!(fix.database.as_deref(), Some("cortex_novec"));
    assert_eq!(su_novec.exit_code(false), 0);
    assert_eq!(su_novec.exit_code(true), 1);

    // A role without any privilege runs the same preflight, changes nothing, and learns that
    // it cannot install pgvector.
    let nobody = dsn(
        &cluster,
        "nobody",
        Some("nobody-pw"),
        "postgres",
        "verify-full",
    );
    let before = snapshot(&cluster);
    let weak = run(target(&nobody, "_novec", "scrydon").build().unwrap()).await;
    let after = snapshot(&cluster);
    assert_eq!(
        before, after,
        "preflight as a role without rights changed the server"
    );
    assert!(diagnoses(&weak).is_empty(), "{}", weak.to_text(false));
    expect_each(&weak, ids::PREFLIGHT_VECTOR_INSTALLED, &vec3, Fail);
    expect_each(&weak, ids::PREFLIGHT_DATABASE_EXISTS, &all, Pass);
    expect_each(&weak, ids::PREFLIGHT_ROLE_CREATE_PUBLIC, &all, Pass);
    expect(&weak, ids::PREFLIGHT_TLS_SESSION, None, Pass);
    expect(&weak, ids::PREFLIGHT_TLS_ENFORCED, None, Pass);
    expect(&weak, ids::PREFLIGHT_POOLER, None, Pass);
    assert_eq!(weak.exit_code(false), 1);

    // A database that takes CONNECT from PUBLIC: the unprivileged admin cannot look inside
    // (a diagnosed failure, classified by SQLSTATE 42501); the rest of the report stands.
    cluster
        .psql("REVOKE CONNECT ON DATABASE analytics_novec FROM PUBLIC;")
        .unwrap();
    let weak = run(target(&nobody, "_novec", "scrydon").build().unwrap()).await;
    assert_eq!(
        diagnoses(&weak),
        [(Some(Analytics), Some("connect.permission_denied"))]
    );
    expect(
        &weak,
        ids::PREFLIGHT_DAPR_STATE_TABLES,
        Some(Analytics),
        Skip,
    );
    expect(&weak, ids::PREFLIGHT_DATABASE_EXISTS, Some(Analytics), Pass);
    // The owner still may connect.
    expect(&weak, ids::PREFLIGHT_ROLE_CONNECT, Some(Analytics), Pass);
    expect(&weak, ids::PREFLIGHT_DAPR_STATE_TABLES, Some(Auth), Pass);
}

// ---- roles, privileges, databases, Dapr tables ------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_privileges_databases_and_dapr_tables() {
    let cluster = Cluster::builder()
        .with_setting("max_connections", "200")
        .start()
        .expect("cluster");
    cluster
        .create_role("scrydon", Some(APP_PASSWORD), "LOGIN")
        .unwrap();
    cluster
        .create_role("outsider", Some("x-pw"), "LOGIN")
        .unwrap();
    cluster.create_role("parked", None, "NOLOGIN").unwrap();
    create_platform(&cluster, "_a", "scrydon", true);
    let admin_dsn = admin(&cluster, "verify-full");
    let all = Component::ALL;

    // A role that owns nothing: it may connect (PUBLIC may), but not create its schema or
    // in public.
    let r = run(target(&admin_dsn, "_a", "outsider").build().unwrap()).await;
    expect(&r, ids::PREFLIGHT_ROLE_EXISTS, None, Pass);
    expect_each(&r, ids::PREFLIGHT_ROLE_CONNECT, &all, Pass);
    expect_each(&r, ids::PREFLIGHT_ROLE_CREATE_SCHEMA, &all, Fail);
    expect_each(&r, ids::PREFLIGHT_ROLE_CREATE_PUBLIC, &all, Fail);

    // A role that does not exist, and one that cannot log in.
    let r = run(target(&admin_dsn, "_a", "ghost").build().unwrap()).await;
    expect(&r, ids::PREFLIGHT_ROLE_EXISTS, None, Fail);
    expect_each(&r, ids::PREFLIGHT_ROLE_CONNECT, &all, Skip);
    expect_each(&r, ids::PREFLIGHT_ROLE_CREATE_SCHEMA, &all, Skip);
    let r = run(target(&admin_dsn, "_a", "parked").build().unwrap()).await;
    expect(&r, ids::PREFLIGHT_ROLE_EXISTS, None, Fail);

    // CONNECT taken from PUBLIC on one database, from a role that does not own it.
    cluster
        .psql("REVOKE CONNECT ON DATABASE ontology_a FROM PUBLIC;")
        .unwrap();
    let r = run(target(&admin_dsn, "_a", "outsider").build().unwrap()).await;
    expect(&r, ids::PREFLIGHT_ROLE_CONNECT, Some(Ontology), Fail);
    expect(&r, ids::PREFLIGHT_ROLE_CONNECT, Some(Auth), Pass);
    // The owner keeps it.
    let r = run(target(&admin_dsn, "_a", "scrydon").build().unwrap()).await;
    expect_each(&r, ids::PREFLIGHT_ROLE_CONNECT, &all, Pass);
    expect_each(&r, ids::PREFLIGHT_ROLE_CREATE_SCHEMA, &all, Pass);
    expect_each(&r, ids::PREFLIGHT_ROLE_CREATE_PUBLIC, &all, Pass);
    expect_each(&r, ids::PREFLIGHT_DAPR_STATE_TABLES, &all, Pass);

    // Pre-15 ACLs on public (PUBLIC may create), a drizzle schema owned by someone else, and
    // Dapr workflow state tables left by another deployment.
    cluster
        .psql_in("auth_a", "GRANT CREATE ON SCHEMA public TO PUBLIC;")
        .unwrap();
    cluster
        .psql_in("agentic_a", "CREATE SCHEMA drizzle AUTHORIZATION postgres;")
        .unwrap();
    cluster
        .psql_in(
            "analytics_a",
            "CREATE TABLE analytics_dapr_workflow_state (key text primary key);",
        )
        .unwrap();
    cluster
        .psql_in(
            "agentic_a",
            "CREATE SCHEMA dapr; CREATE TABLE dapr.dapr_workflow_state_metadata (key text);",
        )
        .unwrap();
    let r = run(target(&admin_dsn, "_a", "scrydon").build().unwrap()).await;
    expect(&r, ids::PREFLIGHT_ROLE_CREATE_PUBLIC, Some(Auth), Warn);
    expect(&r, ids::PREFLIGHT_ROLE_CREATE_PUBLIC, Some(Cortex), Pass);
    expect(&r, ids::PREFLIGHT_ROLE_CREATE_SCHEMA, Some(Agentic), Fail);
    expect(&r, ids::PREFLIGHT_ROLE_CREATE_SCHEMA, Some(Auth), Pass);
    expect(&r, ids::PREFLIGHT_DAPR_STATE_TABLES, Some(Analytics), Warn);
    expect(&r, ids::PREFLIGHT_DAPR_STATE_TABLES, Some(Agentic), Warn);
    expect(&r, ids::PREFLIGHT_DAPR_STATE_TABLES, Some(Cortex), Pass);
    // Granting CREATE on the existing drizzle schema is enough.
    cluster
        .psql_in(
            "agentic_a",
            "GRANT USAGE, CREATE ON SCHEMA drizzle TO scrydon;",
        )
        .unwrap();
    let r = run(target(&admin_dsn, "_a", "scrydon").build().unwrap()).await;
    expect(&r, ids::PREFLIGHT_ROLE_CREATE_SCHEMA, Some(Agentic), Pass);

    // Missing databases: a failure each, and no connection finding for them (the migration
    // Jobs would CrashLoop; that is the finding).
    let r = run(target(&admin_dsn, "_missing", "scrydon").build().unwrap()).await;
    expect_each(&r, ids::PREFLIGHT_DATABASE_EXISTS, &all, Fail);
    expect_each(&r, ids::PREFLIGHT_ROLE_CONNECT, &all, Skip);
    expect_each(
        &r,
        ids::PREFLIGHT_VECTOR_INSTALLED,
        &[Auth, Agentic, Cortex],
        Skip,
    );
    expect_each(&r, ids::PREFLIGHT_DAPR_STATE_TABLES, &all, Skip);
    assert!(diagnoses(&r).is_empty(), "{:?}", diagnoses(&r));
    let fix = r
        .finding(ids::PREFLIGHT_DATABASE_EXISTS, Some(Ontology))
        .and_then(|f| f.fix.clone())
        .expect("fix");
    assert_eq!(fix.text, "CREATE DATABASE ontology_missing OWNER scrydon;");

    // Only the enabled components are checked.
    let only = Target::builder(admin_dsn.clone())
        .with_components([Auth, Analytics])
        .with_component_dsn(Auth, admin_dsn.with_dbname("auth_a"))
        .with_component_dsn(Analytics, admin_dsn.with_dbname("analytics_a"))
        .build()
        .unwrap();
    let r = run(only).await;
    assert_eq!(
        r.findings_with_id(ids::PREFLIGHT_DATABASE_EXISTS).count(),
        2
    );
    assert_eq!(
        r.findings_with_id(ids::PREFLIGHT_VECTOR_INSTALLED).count(),
        1
    );
}

// ---- TLS and connection failures --------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_modes_and_connection_failures() {
    let mut cluster = Cluster::builder()
        .with_setting("max_connections", "200")
        .start()
        .expect("cluster");
    cluster
        .create_role("scrydon", Some(APP_PASSWORD), "LOGIN")
        .unwrap();
    create_platform(&cluster, "", "scrydon", true);

    // sslmode=require: encrypted, server not authenticated.
    let r = run(Target::builder(admin(&cluster, "require")).build().unwrap()).await;
    expect(&r, ids::PREFLIGHT_TLS_SSLMODE, None, Warn);
    expect(&r, ids::PREFLIGHT_TLS_SESSION, None, Pass);
    // verify-ca: chain only.
    let r = run(Target::builder(admin(&cluster, "verify-ca"))
        .build()
        .unwrap())
    .await;
    expect(&r, ids::PREFLIGHT_TLS_SSLMODE, None, Warn);
    // prefer (TLS-only server, so the session is still encrypted): the DSN would fall back.
    let r = run(Target::builder(admin(&cluster, "prefer")).build().unwrap()).await;
    expect(&r, ids::PREFLIGHT_TLS_SSLMODE, None, Fail);
    expect(&r, ids::PREFLIGHT_TLS_SESSION, None, Pass);
    // A component DSN weaker than the admin one is judged too.
    let admin_dsn = admin(&cluster, "verify-full");
    let r = run(Target::builder(admin_dsn.clone())
        .with_component_dsn(
            Ontology,
            dsn(
                &cluster,
                "scrydon",
                Some(APP_PASSWORD),
                "ontology",
                "require",
            ),
        )
        .build()
        .unwrap())
    .await;
    expect(&r, ids::PREFLIGHT_TLS_SSLMODE, None, Warn);

    // sslmode=disable against a TLS-only server: the connection fails, classified.
    let r = run(Target::builder(admin(&cluster, "disable")).build().unwrap()).await;
    assert!(
        diagnoses(&r).contains(&(None, Some("connect.server_requires_tls"))),
        "{:?}",
        diagnoses(&r)
    );
    expect(&r, ids::PREFLIGHT_SERVER_VERSION, None, Skip);
    expect(&r, ids::PREFLIGHT_TLS_SSLMODE, None, Fail);
    assert_eq!(r.exit_code(false), 1);

    // A wrong password: authentication failed, everything server-side skipped.
    let wrong = dsn(
        &cluster,
        cluster.superuser(),
        Some("wrong"),
        "postgres",
        "verify-full",
    );
    let r = run(Target::builder(wrong).build().unwrap()).await;
    assert!(diagnoses(&r).contains(&(None, Some("connect.authentication_failed"))));
    for c in Component::ALL {
        assert!(diagnoses(&r).contains(&(Some(c), Some("connect.authentication_failed"))));
    }
    expect(&r, ids::PREFLIGHT_CAPACITY, None, Skip);
    expect(&r, ids::PREFLIGHT_ROLE_EXISTS, None, Skip);
    // The plaintext probe still answers: TLS is enforced.
    expect(&r, ids::PREFLIGHT_TLS_ENFORCED, None, Pass);

    // Plaintext allowed (pg_hba host lines): the probe gets an authentication request.
    cluster.set_hba(Hba::PlaintextAllowed).unwrap();
    let r = run(Target::builder(admin_dsn.clone()).build().unwrap()).await;
    expect(&r, ids::PREFLIGHT_TLS_ENFORCED, None, Fail);
    expect(&r, ids::PREFLIGHT_TLS_SESSION, None, Pass);
    cluster.set_hba(Hba::TlsOnly).unwrap();
    let r = run(Target::builder(admin_dsn.clone()).build().unwrap()).await;
    expect(&r, ids::PREFLIGHT_TLS_ENFORCED, None, Pass);

    // Over the Unix socket TLS does not apply: the TLS checks are skipped, the rest runs.
    let socket: Dsn = format!(
        "host={} port={} user={} password={} dbname=postgres",
        cluster.socket_dir().display(),
        cluster.port(),
        cluster.superuser(),
        scrydon_byodb_testbed::quote_conninfo_value(cluster.superuser_password())
    )
    .parse()
    .unwrap();
    let r = run(Target::builder(socket).build().unwrap()).await;
    assert!(diagnoses(&r).is_empty(), "{:?}", diagnoses(&r));
    expect(&r, ids::PREFLIGHT_TLS_SESSION, None, Skip);
    expect(&r, ids::PREFLIGHT_TLS_SSLMODE, None, Skip);
    expect(&r, ids::PREFLIGHT_TLS_ENFORCED, None, Skip);
    expect(&r, ids::PREFLIGHT_POOLER, None, Pass);
    expect_each(
        &r,
        ids::PREFLIGHT_VECTOR_INSTALLED,
        &[Auth, Agentic, Cortex],
        Pass,
    );

    // A server that never answers: each step gives up after its timeout, diagnosed.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut blackhole = admin_dsn.clone();
    blackhole
        .set("port", &silent.local_addr().unwrap().port().to_string())
        .unwrap();
    let started = std::time::Instant::now();
    let r = Preflight::new(Target::builder(blackhole).build().unwrap())
        .with_step_timeout(Duration::from_secs(1))
        .run()
        .await
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(diagnoses(&r).contains(&(None, Some("connect.timeout"))));
    expect(&r, ids::PREFLIGHT_TLS_ENFORCED, None, Warn);
    drop(silent);

    // Nothing listening: refused.
    let port = cluster.port();
    cluster.stop().unwrap();
    let r = run(Target::builder(admin_dsn).build().unwrap()).await;
    assert!(
        diagnoses(&r).contains(&(None, Some("connect.refused"))),
        "{:?} (port {port})",
        diagnoses(&r)
    );
    expect(&r, ids::PREFLIGHT_TLS_ENFORCED, None, Warn);
    assert_eq!(r.exit_code(false), 1);
}

// ---- capacity and provider settings -----------------------------------------------------------

/// A small server with plaintext allowed and RDS-style settings: capacity, `rds.force_ssl`,
/// `rds.allowed_extensions`, in the failing state and, after a reload, the passing one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_rds_like_server() {
    let mut cluster = Cluster::builder()
        .with_hba(Hba::PlaintextAllowed)
        .with_setting("max_connections", "30")
        .with_setting("rds.force_ssl", "0")
        .with_setting("rds.allowed_extensions", "pg_trgm,hstore")
        .start()
        .expect("cluster");
    cluster
        .create_role("scrydon", Some(APP_PASSWORD), "LOGIN")
        .unwrap();
    create_platform(&cluster, "", "scrydon", false);
    let admin_dsn = admin(&cluster, "verify-full");
    let vec3 = [Auth, Agentic, Cortex];

    let r = run(Target::builder(admin_dsn.clone()).build().unwrap()).await;
    // Detected from the rds.* settings.
    assert_eq!(r.provider.kind.as_str(), "aws-rds");
    expect(&r, ids::PREFLIGHT_SERVER_VERSION, None, Pass);
    // 30 - 3 = 27 available, 65 expected.
    expect(&r, ids::PREFLIGHT_CAPACITY, None, Fail);
    expect(&r, ids::PREFLIGHT_RDS_FORCE_SSL, None, Fail);
    expect(&r, ids::PREFLIGHT_TLS_ENFORCED, None, Fail);
    expect(&r, ids::PREFLIGHT_RDS_ALLOWED_EXTENSIONS, None, Fail);
    // Not installable: the allow-list refuses it, even to the superuser.
    expect_each(&r, ids::PREFLIGHT_VECTOR_INSTALLED, &vec3, Fail);
    expect(&r, ids::PREFLIGHT_AZURE_EXTENSIONS, None, Skip);

    // A demand that fits, on a server under 100 connections without a pooler: a warning.
    let r = run(Target::builder(admin_dsn.clone())
        .with_demand(small_demand())
        .build()
        .unwrap())
    .await;
    expect(&r, ids::PREFLIGHT_CAPACITY, None, Warn);

    cluster.set_setting("rds.force_ssl", "1").unwrap();
    cluster.set_setting("rds.allowed_extensions", "*").unwrap();
    cluster.set_hba(Hba::TlsOnly).unwrap();
    let r = run(Target::builder(admin_dsn.clone()).build().unwrap()).await;
    expect(&r, ids::PREFLIGHT_RDS_FORCE_SSL, None, Pass);
    expect(&r, ids::PREFLIGHT_TLS_ENFORCED, None, Pass);
    expect(&r, ids::PREFLIGHT_RDS_ALLOWED_EXTENSIONS, None, Pass);
    expect_each(&r, ids::PREFLIGHT_VECTOR_INSTALLED, &vec3, Warn);
    cluster
        .set_setting("rds.allowed_extensions", "pg_trgm, VECTOR")
        .unwrap();
    let r = run(Target::builder(admin_dsn.clone()).build().unwrap()).await;
    expect(&r, ids::PREFLIGHT_RDS_ALLOWED_EXTENSIONS, None, Pass);

    // Capacity passes with room to spare.
    cluster.set_setting("max_connections", "200").unwrap();
    cluster.restart().unwrap();
    let r = run(Target::builder(admin_dsn).build().unwrap()).await;
    expect(&r, ids::PREFLIGHT_CAPACITY, None, Pass);
}

/// `azure.extensions` without VECTOR (any case, any spacing) blocks pgvector; with it, the
/// superuser can install it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azure_extensions_allow_list() {
    let mut cluster = Cluster::builder()
        .with_setting("max_connections", "200")
        .with_setting("azure.extensions", "PG_TRGM,HSTORE")
        .start()
        .expect("cluster");
    cluster
        .create_role("scrydon", Some(APP_PASSWORD), "LOGIN")
        .unwrap();
    create_platform(&cluster, "", "scrydon", false);
    let admin_dsn = admin(&cluster, "verify-full");
    let vec3 = [Auth, Agentic, Cortex];

    let r = run(Target::builder(admin_dsn.clone()).build().unwrap()).await;
    assert_eq!(r.provider.kind.as_str(), "azure-flexible-server");
    expect(&r, ids::PREFLIGHT_AZURE_EXTENSIONS, None, Fail);
    expect_each(&r, ids::PREFLIGHT_VECTOR_INSTALLED, &vec3, Fail);
    expect(&r, ids::PREFLIGHT_RDS_FORCE_SSL, None, Skip);
    // Without a component that needs pgvector, the allow-list does not matter.
    let r = run(Target::builder(admin_dsn.clone())
        .with_components([Analytics, Ontology])
        .build()
        .unwrap())
    .await;
    expect(&r, ids::PREFLIGHT_AZURE_EXTENSIONS, None, Skip);
    expect(&r, ids::PREFLIGHT_VECTOR_AVAILABLE, None, Skip);

    cluster
        .set_setting("azure.extensions", "pg_trgm, vector")
        .unwrap();
    let r = run(Target::builder(admin_dsn).build().unwrap()).await;
    expect(&r, ids::PREFLIGHT_AZURE_EXTENSIONS, None, Pass);
    expect_each(&r, ids::PREFLIGHT_VECTOR_INSTALLED, &vec3, Warn);
}

/// PostgreSQL 14 has no pgvector (in the test bed) and is too old.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgresql_14_without_pgvector() {
    let cluster = Cluster::builder()
        .with_version(PgVersion::V14)
        .with_setting("max_connections", "200")
        .start()
        .expect("cluster");
    cluster
        .create_role("scrydon", Some(APP_PASSWORD), "LOGIN")
        .unwrap();
    create_platform(&cluster, "", "scrydon", false);
    let r = run(Target::builder(admin(&cluster, "verify-full"))
        .build()
        .unwrap())
    .await;
    expect(&r, ids::PREFLIGHT_SERVER_VERSION, None, Fail);
    expect(&r, ids::PREFLIGHT_VECTOR_AVAILABLE, None, Fail);
    expect_each(
        &r,
        ids::PREFLIGHT_VECTOR_INSTALLED,
        &[Auth, Agentic, Cortex],
        Skip,
    );
    // The rest works on 14 too: the catalog reads are version-independent.
    expect_each(&r, ids::PREFLIGHT_DATABASE_EXISTS, &Component::ALL, Pass);
    expect_each(&r, ids::PREFLIGHT_ROLE_CREATE_SCHEMA, &Component::ALL, Pass);
    // Before 15, PUBLIC may create in public: the role may, but so may everyone.
    expect_each(&r, ids::PREFLIGHT_ROLE_CREATE_PUBLIC, &Component::ALL, Warn);
    expect(&r, ids::PREFLIGHT_TLS_SESSION, None, Pass);
    assert!(diagnoses(&r).is_empty());
    assert_eq!(r.server.as_ref().map(|s| s.version_num / 10000), Some(14));
}

// ---- poolers ----------------------------------------------------------------------------------

/// PgBouncer in transaction mode in front: the pooler is seen on the wire (two clients, one
/// server process), capacity is judged with the pooler in mind, and TLS ending at PgBouncer
/// is reported. In session mode it is not a transaction pooler.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pgbouncer_in_front() {
    let cluster = Cluster::builder()
        .with_setting("max_connections", "30")
        .start()
        .expect("cluster");
    cluster
        .create_role("scrydon", Some(APP_PASSWORD), "LOGIN")
        .unwrap();
    create_platform(&cluster, "", "scrydon", true);

    for (mode, pooler, capacity) in [
        (PoolMode::Transaction, Warn, Pass),
        (PoolMode::Session, Pass, Fail),
    ] {
        let bouncer = PgBouncer::builder(&cluster)
            .with_pool_mode(mode)
            .with_client_tls(true)
            .start()
            .expect("pgbouncer");
        let through: Dsn = bouncer
            .dsn(
                cluster.superuser(),
                Some(cluster.superuser_password()),
                "postgres",
                &[("sslmode", "require")],
            )
            .parse()
            .unwrap();
        let r = run(Target::builder(through.clone()).build().unwrap()).await;
        expect(&r, ids::PREFLIGHT_POOLER, None, pooler);
        expect(&r, ids::PREFLIGHT_CAPACITY, None, capacity);
        // TLS ends at PgBouncer, which talks to the server over its Unix socket.
        expect(&r, ids::PREFLIGHT_TLS_SESSION, None, Warn);
        // PgBouncer with client_tls_sslmode = allow takes plaintext.
        expect(&r, ids::PREFLIGHT_TLS_ENFORCED, None, Fail);
        expect_each(&r, ids::PREFLIGHT_DATABASE_EXISTS, &Component::ALL, Pass);
        expect_each(
            &r,
            ids::PREFLIGHT_VECTOR_INSTALLED,
            &[Auth, Agentic, Cortex],
            Pass,
        );
        assert!(diagnoses(&r).is_empty(), "{mode:?}: {:?}", diagnoses(&r));

        // The admin connection direct, the apps' DSNs through PgBouncer: the pooler is probed
        // on the apps' endpoint too.
        let direct = admin(&cluster, "verify-full");
        let mut b = Target::builder(direct.clone());
        for c in Component::ALL {
            b = b.with_component_dsn(c, through.with_dbname(c.spec().database));
        }
        let r = run(b.build().unwrap()).await;
        expect(&r, ids::PREFLIGHT_POOLER, None, pooler);
        let r = run(Target::builder(direct).build().unwrap()).await;
        expect(&r, ids::PREFLIGHT_POOLER, None, Pass);
    }
}

// ---- cost -------------------------------------------------------------------------------------

/// Through a proxy adding 250 ms each way, a full preflight of five databases over TLS with
/// SCRAM costs 7 round trips (connection set-up 5, one catalog read, the pooler probe), not one
/// per query: every connection opens at once and reads everything in one statement. Measured
/// net of the same run without delay, so that CPU time on a busy machine does not count.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_preflight_costs_a_handful_of_round_trips() {
    let cluster = Cluster::builder()
        .with_setting("max_connections", "200")
        .start()
        .expect("cluster");
    cluster
        .create_role("scrydon", Some(APP_PASSWORD), "LOGIN")
        .unwrap();
    create_platform(&cluster, "", "scrydon", true);
    let delay = Duration::from_millis(250);
    let proxy = scrydon_byodb_testbed::DelayProxy::start(
        format!("127.0.0.1:{}", cluster.port()).parse().unwrap(),
        Duration::ZERO,
    )
    .expect("proxy");
    let mut admin_dsn = admin(&cluster, "verify-full");
    admin_dsn.set("port", &proxy.port().to_string()).unwrap();
    let timed = || async {
        let started = std::time::Instant::now();
        let r = run(Target::builder(admin_dsn.clone()).build().unwrap()).await;
        assert_eq!(r.exit_code(false), 0, "{}", r.to_text(false));
        started.elapsed()
    };

    let local = timed().await;
    // Admin, the pooler probe's second connection, five databases, the plaintext probe.
    assert_eq!(proxy.connections(), 8);
    proxy.set_delay(delay);
    let delayed = timed().await;
    let rtt = 2.0 * delay.as_secs_f64();
    let round_trips = delayed.saturating_sub(local).as_secs_f64() / rtt;
    eprintln!(
        "full preflight: {:.2} round trips net ({:.2} wall / RTT, {} ms without delay)",
        round_trips,
        delayed.as_secs_f64() / rtt,
        local.as_millis()
    );
    // 7 by design; a regression of one round trip (a HelloRetryRequest, a query too many) shows.
    assert!(
        (6.0..=7.5).contains(&round_trips),
        "{round_trips:.2} round trips"
    );
}

// ---- the documented JSON ----------------------------------------------------------------------

fn repo_file(path: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(path)
}

/// Validates `report`'s JSON against docs/preflight-report.schema.json with the test bed's
/// Python `jsonschema` (Draft 2020-12).
fn assert_matches_schema(report: &Report) {
    let venv = std::env::var_os("SCRYDON_TESTBED_VENV")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::PathBuf::from("/opt/scrydon-testbed/venv"));
    let python = venv.join("bin/python");
    assert!(
        python.is_file(),
        "{} is missing: install the test bed (sudo bash scripts/testbed-install.sh)",
        python.display()
    );
    let dir = tempfile::tempdir().expect("temporary directory");
    let doc = dir.path().join("report.json");
    std::fs::write(&doc, report.to_json().to_string()).expect("write the report");
    let out = std::process::Command::new(python)
        .args([
            "-c",
            "import json, sys, jsonschema\n\
             schema = json.load(open(sys.argv[1]))\n\
             jsonschema.Draft202012Validator.check_schema(schema)\n\
             jsonschema.Draft202012Validator(schema).validate(json.load(open(sys.argv[2])))",
        ])
        .arg(repo_file("docs/preflight-report.schema.json"))
        .arg(&doc)
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "the report does not match the schema:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The schema lists exactly the preflight ids, and the documentation names each of them.
#[test]
fn schema_and_documentation_list_every_id() {
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo_file("docs/preflight-report.schema.json")).unwrap(),
    )
    .unwrap();
    let listed: Vec<&str> = schema["$defs"]["finding"]["properties"]["id"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let expected: Vec<&str> = ids::PREFLIGHT
        .iter()
        .chain(ids::PROVIDER)
        .copied()
        .collect();
    assert_eq!(listed, expected);
    let doc = std::fs::read_to_string(repo_file("docs/preflight-report.md")).unwrap();
    for id in &expected {
        assert!(
            doc.contains(&format!("| `{id}` |")),
            "{id} is not documented"
        );
    }
}

/// Reports in passing, failing and unreachable states all match the schema.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_match_the_documented_schema() {
    let mut cluster = Cluster::builder()
        .with_setting("azure.extensions", "pg_trgm")
        .start()
        .expect("cluster");
    cluster
        .create_role("scrydon", Some(APP_PASSWORD), "LOGIN")
        .unwrap();
    create_platform(&cluster, "", "scrydon", false);
    let admin_dsn = admin(&cluster, "verify-full");
    let r = run(Target::builder(admin_dsn.clone()).build().unwrap()).await;
    assert!(r.findings.iter().any(|f| f.fix.is_some()));
    assert_matches_schema(&r);
    cluster.stop().unwrap();
    let r = run(Target::builder(admin_dsn).build().unwrap()).await;
    assert!(r.server.is_none());
    assert!(r.findings.iter().any(|f| f.diagnosis.is_some()));
    assert_matches_schema(&r);
}

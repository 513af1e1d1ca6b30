//! Bootstrap against real PostgreSQL 15 + pgvector: a fresh server, a second run, partial states,
//! an RDS-like (non-superuser) admin, two runs at once, a server stopped in the middle, a step
//! blocked by a lock, and the password kept out of the server. Assertions are on actions, ids,
//! statuses and catalog state, never on prose.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use scrydon_byodb::bootstrap::{Action, Bootstrap, StepOutcome};
use scrydon_byodb::catalog::Component;
use scrydon_byodb::connect::{connect, ConnectOptions};
use scrydon_byodb::dsn::Dsn;
use scrydon_byodb::preflight::Target;
use scrydon_byodb::report::{ids, Status};
use scrydon_byodb::{Error, SecretString};
use scrydon_byodb_testbed::Cluster;

use Component::{Agentic, Analytics, Auth, Cortex, Ontology};

const APP: &str = "scrydon";
const PASSWORD: &str = "Tr0ub4dor-and-3-horses";

fn admin_dsn(cluster: &Cluster) -> Dsn {
    cluster.admin_uri("require").parse().expect("test DSN")
}

fn dsn_as(cluster: &Cluster, user: &str, password: &str, db: &str) -> Dsn {
    cluster
        .dsn(user, Some(password), db, &[("sslmode", "require")])
        .parse()
        .expect("test DSN")
}

fn bootstrap(admin: Dsn, components: &[Component], password: Option<&str>) -> Bootstrap {
    let target = Target::builder(admin)
        .with_app_role(APP)
        .with_components(components.iter().copied())
        .build()
        .expect("target");
    let mut b = Bootstrap::builder(target)
        .with_lock_timeout(Duration::from_secs(2))
        .with_statement_timeout(Duration::from_secs(30));
    if let Some(pw) = password {
        b = b.with_password(SecretString::new(pw));
    }
    b.build().expect("bootstrap")
}

fn actions(plan: &scrydon_byodb::bootstrap::Plan) -> Vec<(Action, String)> {
    plan.steps
        .iter()
        .map(|s| {
            (
                s.action,
                s.database.clone().unwrap_or_else(|| s.object.clone()),
            )
        })
        .collect()
}

fn psql(cluster: &Cluster, db: &str, sql: &str) -> String {
    cluster.psql_in(db, sql).expect("psql").trim().to_owned()
}

fn owner(cluster: &Cluster, db: &str) -> String {
    psql(
        cluster,
        "postgres",
        &format!("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = '{db}'"),
    )
}

fn has_vector(cluster: &Cluster, db: &str) -> bool {
    psql(
        cluster,
        db,
        "SELECT count(*) FROM pg_extension WHERE extname = 'vector'",
    ) == "1"
}

async fn can_login(cluster: &Cluster, password: &str, db: &str) -> bool {
    connect(&dsn_as(cluster, APP, password, db), &ConnectOptions::new())
        .await
        .is_ok()
}

fn all_proofs_pass(findings: &[scrydon_byodb::report::Finding], n: usize) {
    assert_eq!(findings.len(), n);
    for f in findings {
        assert_eq!(f.id, ids::BOOTSTRAP_PROOF);
        assert_eq!(f.status, Status::Pass, "{f}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fresh_server_gets_everything_and_a_second_run_plans_nothing() {
    let cluster = Cluster::builder()
        .with_setting("log_statement", "all")
        .with_setting("shared_preload_libraries", "pg_stat_statements")
        .start()
        .expect("cluster");
    let b = bootstrap(admin_dsn(&cluster), &Component::ALL, Some(PASSWORD));

    let plan = b.plan().await.expect("plan");
    assert!(!plan.is_blocked(), "{:?}", plan.blockers);
    assert!(!plan.observed.role_exists);
    assert_eq!(
        actions(&plan),
        vec![
            (Action::CreateRole, APP.into()),
            (Action::CreateDatabase, "auth".into()),
            (Action::CreateDatabase, "agentic".into()),
            (Action::CreateDatabase, "analytics".into()),
            (Action::CreateDatabase, "cortex".into()),
            (Action::CreateDatabase, "ontology".into()),
            (Action::CreateExtension, "auth".into()),
            (Action::CreateExtension, "agentic".into()),
            (Action::CreateExtension, "cortex".into()),
        ]
    );
    // The shown SQL masks the verifier and never carries the password; JSON likewise.
    let text = plan.to_text();
    let json = serde_json::to_string(&plan).expect("json");
    for shown in [&text, &json] {
        assert!(!shown.contains(PASSWORD));
        assert!(!shown.contains("SCRAM-SHA-256$"));
    }
    assert!(plan.steps[1].sql[0].contains("TEMPLATE template0 ENCODING 'UTF8'"));

    let applied = b.apply(&plan).await.expect("apply");
    assert!(applied.succeeded(), "{:?}", applied.failed);
    assert_eq!(applied.steps.len(), 9);
    assert!(applied.steps.iter().all(|s| s.outcome == StepOutcome::Done));

    for c in Component::ALL {
        let db = c.spec().database;
        assert_eq!(owner(&cluster, db), APP, "{db}");
        assert_eq!(has_vector(&cluster, db), c.spec().needs_pgvector, "{db}");
        assert_eq!(
            psql(
                &cluster,
                "postgres",
                &format!(
                    "SELECT pg_encoding_to_char(encoding) FROM pg_database WHERE datname = '{db}'"
                )
            ),
            "UTF8"
        );
    }
    assert_eq!(
        psql(&cluster, "postgres", &format!("SELECT rolcanlogin, rolcreatedb, rolcreaterole, rolsuper, rolreplication, rolbypassrls FROM pg_roles WHERE rolname = '{APP}'")),
        "t|t|f|f|f|f"
    );
    // The password is stored only as a SCRAM verifier, and the verifier accepts it.
    let stored = psql(
        &cluster,
        "postgres",
        &format!("SELECT rolpassword FROM pg_authid WHERE rolname = '{APP}'"),
    );
    assert!(stored.starts_with("SCRAM-SHA-256$4096:"), "{stored}");
    assert!(!stored.contains(PASSWORD));
    assert!(can_login(&cluster, PASSWORD, "auth").await);
    assert!(!can_login(&cluster, "wrong-password", "auth").await);

    let proof = b.prove().await.expect("prove");
    all_proofs_pass(&proof, 5);

    let again = b.plan().await.expect("second plan");
    assert!(again.is_empty(), "{}", again.to_text());
    assert!(again.notes.is_empty());
    let applied = b.apply(&again).await.expect("second apply");
    assert!(applied.succeeded() && applied.steps.is_empty());

    // log_statement = 'all' logged every statement, and never the password.
    let log = cluster.log_contents().expect("log");
    assert!(log.contains("CREATE ROLE"), "log_statement must be on");
    assert!(!log.contains(PASSWORD));
    // Nor in pg_stat_statements (which tracks utility statements such as CREATE ROLE).
    psql(&cluster, "postgres", "CREATE EXTENSION pg_stat_statements");
    assert_eq!(
        psql(
            &cluster,
            "postgres",
            &format!("SELECT count(*) FROM pg_stat_statements WHERE query LIKE '%{PASSWORD}%'")
        ),
        "0"
    );
    assert_ne!(
        psql(
            &cluster,
            "postgres",
            "SELECT count(*) FROM pg_stat_statements WHERE query LIKE 'CREATE ROLE%'"
        ),
        "0",
        "pg_stat_statements must have seen the CREATE ROLE"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partial_states_converge_and_foreign_databases_are_left_alone() {
    let cluster = Cluster::start_default().expect("cluster");
    cluster
        .create_role(APP, Some("old-password"), "LOGIN CREATEDB")
        .expect("role");
    cluster.create_database("auth", Some(APP)).expect("auth");
    psql(&cluster, "auth", "CREATE EXTENSION vector");
    cluster
        .create_database("agentic", Some(APP))
        .expect("agentic");
    // The owner's CREATE on public revoked (as in a database from an old template1).
    psql(
        &cluster,
        "agentic",
        "REVOKE CREATE ON SCHEMA public FROM pg_database_owner, PUBLIC",
    );
    cluster
        .create_database("analytics", None)
        .expect("analytics");

    let b = bootstrap(admin_dsn(&cluster), &Component::ALL, Some(PASSWORD));
    let plan = b.plan().await.expect("plan");
    assert!(!plan.is_blocked(), "{:?}", plan.blockers);
    assert_eq!(
        actions(&plan),
        vec![
            (Action::GrantSchemaCreate, "agentic".into()),
            (Action::CreateDatabase, "cortex".into()),
            (Action::CreateDatabase, "ontology".into()),
            (Action::CreateExtension, "agentic".into()),
            (Action::CreateExtension, "cortex".into()),
        ]
    );
    let foreign: Vec<_> = plan
        .notes
        .iter()
        .map(|f| (f.id, f.status, f.component))
        .collect();
    assert_eq!(
        foreign,
        vec![(
            ids::BOOTSTRAP_DATABASE_FOREIGN_OWNER,
            Status::Fail,
            Some(Analytics)
        )]
    );

    let applied = b.apply(&plan).await.expect("apply");
    assert!(applied.succeeded(), "{:?}", applied.failed);
    assert_eq!(
        owner(&cluster, "analytics"),
        cluster.superuser(),
        "not seized"
    );
    assert!(has_vector(&cluster, "agentic") && has_vector(&cluster, "cortex"));
    // The existing role's password was left alone.
    assert!(can_login(&cluster, "old-password", "auth").await);
    assert!(!can_login(&cluster, PASSWORD, "auth").await);

    let again = b.plan().await.expect("second plan");
    assert!(again.steps.is_empty(), "{}", again.to_text());
    assert_eq!(again.notes.len(), 1);

    // Only when asked: the password is reset.
    let reset = Bootstrap::builder(b.target().clone())
        .with_password(SecretString::new(PASSWORD))
        .with_reset_password(true)
        .build()
        .expect("bootstrap");
    let plan = reset.plan().await.expect("plan");
    assert_eq!(actions(&plan), vec![(Action::SetPassword, APP.into())]);
    assert!(reset.apply(&plan).await.expect("apply").succeeded());
    assert!(can_login(&cluster, PASSWORD, "auth").await);
    assert!(!can_login(&cluster, "old-password", "auth").await);

    let proof = reset.prove().await.expect("prove");
    let by_component: Vec<_> = proof.iter().map(|f| (f.component, f.status)).collect();
    assert_eq!(
        by_component,
        vec![
            (Some(Auth), Status::Pass),
            (Some(Agentic), Status::Pass),
            (Some(Analytics), Status::Fail),
            (Some(Cortex), Status::Pass),
            (Some(Ontology), Status::Pass),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rds_like_admin_uses_the_set_role_path_and_stops_before_vector() {
    let cluster = Cluster::start_default().expect("cluster");
    cluster
        .create_role("rdsadm", Some("adm-pw"), "LOGIN CREATEDB CREATEROLE")
        .expect("admin");
    let admin = dsn_as(&cluster, "rdsadm", "adm-pw", "postgres");

    // pgvector needs a superuser on plain PostgreSQL: the plan stops before changing anything.
    let all = bootstrap(admin.clone(), &Component::ALL, Some(PASSWORD));
    let plan = all.plan().await.expect("plan");
    let blockers: Vec<_> = plan.blockers.iter().map(|f| f.id).collect();
    assert_eq!(blockers, vec![ids::BOOTSTRAP_VECTOR_NEEDS_SUPERUSER]);
    assert!(plan.blockers[0].fix.is_some());
    let applied = all.apply(&plan).await.expect("apply");
    assert!(applied.blocked && applied.steps.is_empty());
    assert_eq!(
        psql(
            &cluster,
            "postgres",
            &format!("SELECT count(*) FROM pg_roles WHERE rolname = '{APP}'")
        ),
        "0"
    );
    assert_eq!(
        psql(
            &cluster,
            "postgres",
            "SELECT count(*) FROM pg_database WHERE datname IN ('auth','analytics')"
        ),
        "0"
    );

    // Without pgvector: the role and the databases, through a temporary membership.
    let b = bootstrap(admin, &[Analytics, Ontology], Some(PASSWORD));
    let plan = b.plan().await.expect("plan");
    assert!(!plan.is_blocked(), "{:?}", plan.blockers);
    assert!(!plan.observed.admin_superuser);
    assert_eq!(
        actions(&plan),
        vec![
            (Action::CreateRole, APP.into()),
            (Action::CreateDatabase, "analytics".into()),
            (Action::CreateDatabase, "ontology".into()),
        ]
    );
    assert!(plan.steps[1].sql[0].starts_with("GRANT \"scrydon\" TO CURRENT_USER"));
    assert!(plan.steps[1].sql[2].contains("REVOKE \"scrydon\" FROM CURRENT_USER"));
    let applied = b.apply(&plan).await.expect("apply");
    assert!(applied.succeeded(), "{:?}", applied.failed);
    assert_eq!(owner(&cluster, "analytics"), APP);
    assert_eq!(owner(&cluster, "ontology"), APP);
    // What was granted was revoked.
    assert_eq!(
        psql(
            &cluster,
            "postgres",
            &format!("SELECT pg_has_role('rdsadm', '{APP}', 'MEMBER')")
        ),
        "f"
    );
    assert!(b.plan().await.expect("plan").is_empty());
    all_proofs_pass(&b.prove().await.expect("prove"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_bootstraps_at_once_both_succeed_with_one_set_of_objects() {
    let cluster = Cluster::start_default().expect("cluster");
    let a = bootstrap(admin_dsn(&cluster), &Component::ALL, Some(PASSWORD));
    let b = bootstrap(admin_dsn(&cluster), &Component::ALL, Some(PASSWORD));
    let (ra, rb) = tokio::join!(a.run(), b.run());
    let (_, ra) = ra.expect("first");
    let (_, rb) = rb.expect("second");
    assert!(ra.succeeded(), "{:?}", ra.failed);
    assert!(rb.succeeded(), "{:?}", rb.failed);
    // Each object was created exactly once; the other run found it there (or planned nothing).
    let done = |action: Action| {
        [&ra, &rb]
            .iter()
            .flat_map(|r| r.steps.iter())
            .filter(|s| s.step.action == action && s.outcome == StepOutcome::Done)
            .count()
    };
    assert_eq!(done(Action::CreateDatabase), 5);
    assert_eq!(done(Action::CreateRole), 1);
    assert_eq!(
        psql(&cluster, "postgres", "SELECT count(*) FROM pg_database WHERE datname IN ('auth','agentic','analytics','cortex','ontology')"),
        "5"
    );
    assert!(a.plan().await.expect("plan").is_empty());
    all_proofs_pass(&a.prove().await.expect("prove"), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_stopped_in_the_middle_then_the_next_run_converges() {
    let cluster = Arc::new(Mutex::new(Cluster::start_default().expect("cluster")));
    let admin = admin_dsn(&cluster.lock().expect("lock"));
    let stopper = Arc::clone(&cluster);
    let target = Target::builder(admin.clone())
        .with_app_role(APP)
        .build()
        .expect("target");
    let b = Bootstrap::builder(target)
        .with_password(SecretString::new(PASSWORD))
        .with_step_hook(move |done| {
            if done.step.action == Action::CreateDatabase && done.step.object == "auth" {
                stopper.lock().expect("lock").stop().expect("stop");
            }
        })
        .build()
        .expect("bootstrap");
    let plan = b.plan().await.expect("plan");
    let applied = b.apply(&plan).await.expect("apply");
    let failed = applied.failed.as_ref().expect("a step must fail");
    assert_eq!(failed.step.action, Action::CreateDatabase);
    assert_eq!(failed.step.object, "agentic");
    let done: Vec<_> = applied
        .steps
        .iter()
        .map(|s| (s.step.action, s.step.object.clone()))
        .collect();
    assert_eq!(
        done,
        vec![
            (Action::CreateRole, APP.into()),
            (Action::CreateDatabase, "auth".into())
        ]
    );

    cluster.lock().expect("lock").start().expect("start");
    let fresh = bootstrap(admin, &Component::ALL, Some(PASSWORD));
    let (plan, applied) = fresh.run().await.expect("run");
    assert!(applied.succeeded(), "{:?}", applied.failed);
    assert!(!plan.steps.iter().any(|s| s.action == Action::CreateRole));
    assert!(fresh.plan().await.expect("plan").is_empty());
    all_proofs_pass(&fresh.prove().await.expect("prove"), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocked_step_names_what_blocks_it() {
    let cluster = Cluster::start_default().expect("cluster");
    cluster
        .create_role(APP, Some("old"), "LOGIN CREATEDB")
        .expect("role");
    // Another session updates the role and keeps its transaction open.
    let (holder, _) = connect(&admin_dsn(&cluster), &ConnectOptions::new())
        .await
        .expect("holder")
        .into_parts();
    holder
        .batch_execute(&format!(
            "SET application_name = 'blocker-test'; BEGIN; ALTER ROLE {APP} CONNECTION LIMIT 7"
        ))
        .await
        .expect("hold");
    let holder_pid: i32 = holder
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .expect("pid")
        .get(0);

    let target = Target::builder(admin_dsn(&cluster))
        .with_app_role(APP)
        .with_components([Analytics])
        .build()
        .expect("target");
    cluster.create_database("analytics", Some(APP)).expect("db");
    let b = Bootstrap::builder(target)
        .with_password(SecretString::new(PASSWORD))
        .with_reset_password(true)
        .with_lock_timeout(Duration::from_millis(1500))
        .build()
        .expect("bootstrap");
    let plan = b.plan().await.expect("plan");
    assert_eq!(actions(&plan), vec![(Action::SetPassword, APP.into())]);
    let applied = b.apply(&plan).await.expect("apply");
    let failed = applied.failed.expect("blocked");
    assert_eq!(failed.step.action, Action::SetPassword);
    assert_eq!(failed.sqlstate.as_deref(), Some("55P03"));
    assert_eq!(failed.blocked_by.len(), 1, "{failed:?}");
    assert_eq!(failed.blocked_by[0].pid, holder_pid);
    assert_eq!(
        failed.blocked_by[0].application_name.as_deref(),
        Some("blocker-test")
    );
    assert!(failed.blocked_by[0].query_start.is_some());
    holder.batch_execute("ROLLBACK").await.expect("rollback");
}

#[test]
fn bad_input_is_refused_before_anything_is_sent() {
    // Nothing listens on port 1: any attempt to connect would show as a connect error instead.
    let admin: Dsn = "postgres://admin:hunter2@127.0.0.1:1/postgres"
        .parse()
        .expect("dsn");
    let field_of = |r: scrydon_byodb::Result<Bootstrap>| match r {
        Err(Error::InvalidInput { field, value, .. }) => (field, value),
        other => panic!("{other:?}"),
    };
    for role in [
        "Scrydon",
        "app-role",
        "select",
        "rds_superuser",
        "pg_signal_backend",
    ] {
        let target = Target::builder(admin.clone())
            .with_app_role(role)
            .build()
            .expect("target");
        assert_eq!(
            field_of(Bootstrap::builder(target).build()),
            ("app_role".into(), role.into())
        );
    }
    for db in ["Auth", "user", "template1", "a\"b"] {
        let target = Target::builder(admin.clone())
            .with_components([Auth])
            .with_component_dsn(Auth, admin.with_dbname(db))
            .build()
            .expect("target");
        assert_eq!(
            field_of(Bootstrap::builder(target).build()),
            ("database".into(), db.into())
        );
    }
    let target = Target::builder(admin.clone()).build().expect("target");
    let (field, _) = field_of(
        Bootstrap::builder(target.clone())
            .with_reset_password(true)
            .build(),
    );
    assert_eq!(field, "reset_password");
    let (field, value) = field_of(
        Bootstrap::builder(target)
            .with_password(SecretString::new("pässwört"))
            .build(),
    );
    assert_eq!((field.as_str(), value.as_str()), ("password", "[REDACTED]"));
}

/// A provider whose API "adds vector to the allow-list": counts the calls (the cloud APIs
/// themselves are tested against loopback peers in the provider crates).
#[derive(Debug, Default)]
struct AllowListProvider {
    calls: std::sync::atomic::AtomicUsize,
}

#[async_trait::async_trait]
impl scrydon_byodb::provider::Provider for AllowListProvider {
    fn kind(&self) -> scrydon_byodb::provider::ProviderKind {
        scrydon_byodb::provider::ProviderKind::AzureFlexibleServer
    }

    fn capabilities(&self) -> scrydon_byodb::provider::Capabilities {
        scrydon_byodb::provider::Capabilities {
            allow_extensions: true,
            ..scrydon_byodb::provider::Capabilities::NONE
        }
    }

    async fn allow_extension(
        &self,
        extension: &str,
    ) -> scrydon_byodb::Result<scrydon_byodb::provider::ParameterChange> {
        self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(scrydon_byodb::provider::ParameterChange {
            name: "azure.extensions".into(),
            previous: Some("PG_TRGM".into()),
            value: format!("PG_TRGM,{}", extension.to_uppercase()),
            applies: scrydon_byodb::provider::Applies::Immediately,
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_allow_list_without_vector_stops_the_plan_unless_a_provider_can_fix_it() {
    let cluster = Cluster::builder()
        .with_setting("azure.extensions", "PG_TRGM")
        .start()
        .expect("cluster");
    let b = bootstrap(admin_dsn(&cluster), &Component::ALL, Some(PASSWORD));
    let plan = b.plan().await.expect("plan");
    let blockers: Vec<_> = plan.blockers.iter().map(|f| (f.id, f.status)).collect();
    assert_eq!(
        blockers,
        vec![(ids::BOOTSTRAP_VECTOR_NOT_ALLOWED, Status::Fail)]
    );
    let fix = plan.blockers[0].fix.as_ref().expect("fix");
    assert!(fix.text.contains("azure.extensions") && fix.text.contains("VECTOR"));
    let applied = b.apply(&plan).await.expect("apply");
    assert!(applied.blocked && applied.steps.is_empty());
    assert_eq!(
        psql(
            &cluster,
            "postgres",
            &format!("SELECT count(*) FROM pg_roles WHERE rolname = '{APP}'")
        ),
        "0",
        "nothing may change before the fix"
    );

    let provider = Arc::new(AllowListProvider::default());
    let b = Bootstrap::builder(b.target().clone())
        .with_password(SecretString::new(PASSWORD))
        .with_provider(provider.clone())
        .build()
        .expect("bootstrap");
    let (plan, applied) = b.run().await.expect("run");
    assert!(plan.blockers.is_empty());
    assert_eq!(plan.steps[0].action, Action::AllowExtension);
    assert!(applied.succeeded(), "{:?}", applied.failed);
    assert_eq!(provider.calls.load(std::sync::atomic::Ordering::SeqCst), 1);
}

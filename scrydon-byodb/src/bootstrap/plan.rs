//! Reading what exists and computing the missing steps.

use std::collections::BTreeMap;

use futures_util::future::try_join_all;

use super::apply::{db_error, open_session, Session};
use super::names::{quote_ident, quote_literal};
use super::{scram_verifier, Action, Bootstrap, Observed, Plan, Statement, Step};
use crate::catalog::Component;
use crate::provider::Operation;
use crate::report::{ids, Finding, Fix, Status};
use crate::{Error, Result, SecretString};

const RUNBOOK: &str = "runbook: Pre-create databases and extension";
const PROVIDER_NOTES: &str = "runbook: Provider notes";

/// Roles whose members the managed services let create pgvector without being superuser.
const EXTENSION_ADMIN_ROLES: &str =
    "'rds_superuser','azure_pg_admin','cloudsqlsuperuser','neon_superuser','supabase_admin'";

/// Server-wide facts, read in one statement.
struct Server {
    version: i32,
    admin: String,
    superuser: bool,
    createdb: bool,
    createrole: bool,
    extension_admin: bool,
    vector_available: bool,
    rds_allowed: Option<String>,
    azure_extensions: Option<String>,
    template_encoding: String,
    template_collate: String,
    template_ctype: String,
}

struct Role {
    superuser: bool,
    login: bool,
    createdb: bool,
    createrole: bool,
    replication: bool,
    bypassrls: bool,
    admin_can_set: bool,
    /// The admin is a direct member already (16+: e.g. the ADMIN OPTION its CREATEROLE gave it).
    admin_direct_member: bool,
}

struct InDatabase {
    vector: bool,
    public_exists: bool,
    can_create: Option<bool>,
}

pub(super) async fn plan(b: &Bootstrap) -> Result<Plan> {
    let admin = open_session(b, b.target.admin()).await?;
    plan_on(b, &admin).await
}

/// Plans on an open admin session (which [`Bootstrap::run`] keeps for applying).
pub(super) async fn plan_on(b: &Bootstrap, admin: &Session) -> Result<Plan> {
    let target = &b.target;
    let role = target.app_role();
    let dbs: Vec<(Component, String)> = target
        .components()
        .map(|c| (c, target.database(c)))
        .collect();
    let db_names: Vec<String> = dbs.iter().map(|(_, d)| d.clone()).collect();

    let server_sql = format!(
        "SELECT current_user::text, r.rolsuper, r.rolcreatedb, r.rolcreaterole, \
           current_setting('server_version_num')::int, \
           EXISTS (SELECT 1 FROM pg_roles p WHERE p.rolname IN ({EXTENSION_ADMIN_ROLES}) \
                   AND pg_has_role(current_user, p.oid, 'MEMBER')), \
           EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'vector'), \
           current_setting('rds.allowed_extensions', true), current_setting('azure.extensions', true), \
           pg_encoding_to_char(t.encoding)::text, t.datcollate::text, t.datctype::text \
         FROM pg_roles r, pg_database t WHERE r.rolname = current_user AND t.datname = 'template1'"
    );
    let role_sql = "SELECT rolsuper, rolcanlogin, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls, \
           CASE WHEN current_setting('server_version_num')::int >= 160000 \
                THEN pg_has_role(current_user, oid, 'SET') ELSE pg_has_role(current_user, oid, 'MEMBER') END, \
           EXISTS (SELECT 1 FROM pg_auth_members m WHERE m.roleid = pg_roles.oid \
                   AND m.member = (SELECT oid FROM pg_roles WHERE rolname = current_user)) \
         FROM pg_roles WHERE rolname = $1";
    let db_sql = "SELECT datname::text, pg_get_userbyid(datdba)::text, datallowconn FROM pg_database WHERE datname = ANY($1)";
    let role_params: [&(dyn tokio_postgres::types::ToSql + Sync); 1] = [&role];
    let db_params: [&(dyn tokio_postgres::types::ToSql + Sync); 1] = [&db_names];
    let (server_rows, role_rows, db_rows) = tokio::try_join!(
        admin.client.query(server_sql.as_str(), &[]),
        admin.client.query(role_sql, &role_params),
        admin.client.query(db_sql, &db_params),
    )
    .map_err(|e| db_error("read the server's roles and databases", e))?;

    let row = server_rows.first().ok_or_else(|| {
        Error::input(
            "admin",
            target.admin().to_string(),
            "the admin role is not visible in pg_roles",
        )
    })?;
    let server = Server {
        admin: row.get(0),
        superuser: row.get(1),
        createdb: row.get(2),
        createrole: row.get(3),
        version: row.get(4),
        extension_admin: row.get(5),
        vector_available: row.get(6),
        rds_allowed: row.get(7),
        azure_extensions: row.get(8),
        template_encoding: row.get(9),
        template_collate: row.get(10),
        template_ctype: row.get(11),
    };
    let existing_role = role_rows.first().map(|r| Role {
        superuser: r.get(0),
        login: r.get(1),
        createdb: r.get(2),
        createrole: r.get(3),
        replication: r.get(4),
        bypassrls: r.get(5),
        admin_can_set: r.get(6),
        admin_direct_member: r.get(7),
    });
    let existing: BTreeMap<String, (String, bool)> = db_rows
        .iter()
        .map(|r| {
            (
                r.get::<_, String>(0),
                (r.get::<_, String>(1), r.get::<_, bool>(2)),
            )
        })
        .collect();

    // What is inside the databases that exist and are ours to look at.
    let look: Vec<(Component, String)> = dbs
        .iter()
        .filter(|(_, d)| existing.get(d).is_some_and(|(_, conn)| *conn))
        .cloned()
        .collect();
    let inside: BTreeMap<String, InDatabase> =
        try_join_all(look.iter().map(|(_, db)| async move {
            let s = open_session(b, &target.admin().with_dbname(db)).await?;
            let rows = s
                .client
                .query(
                    "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'vector'), \
                        EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = 'public'), \
                        CASE WHEN EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1) \
                             AND EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = 'public') \
                             THEN has_schema_privilege($1, 'public', 'CREATE') END",
                    &[&role],
                )
                .await
                .map_err(|e| db_error(&format!("read database {db}"), e))?;
            let r = rows
                .first()
                .ok_or_else(|| Error::input("database", db.clone(), "returned no row"))?;
            Ok::<_, Error>((
                db.clone(),
                InDatabase {
                    vector: r.get(0),
                    public_exists: r.get(1),
                    can_create: r.get(2),
                },
            ))
        }))
        .await?
        .into_iter()
        .collect();

    let mut steps = Vec::new();
    let mut blockers = Vec::new();
    let mut notes = Vec::new();
    let q_role = quote_ident(role);

    // The role.
    match &existing_role {
        None => {
            let password = b.password.as_ref().ok_or_else(|| {
                Error::input(
                    "password",
                    "",
                    format!("role {role} does not exist; a password is needed to create it (from a file, an environment variable or stdin)"),
                )
            })?;
            if !server.superuser && !server.createrole {
                blockers.push(
                    Finding::new(ids::BOOTSTRAP_ADMIN_PRIVILEGES, Status::Fail)
                        .with_observed(format!("role {role} does not exist and {} has neither SUPERUSER nor CREATEROLE", server.admin))
                        .with_remediation("run bootstrap as the provider's administrator (rds_superuser, cloudsqlsuperuser, azure_pg_admin), or create the role first")
                        .with_reference(RUNBOOK),
                );
            }
            steps.push(
                Step::new(Action::CreateRole, role).with_statement(role_statement(
                    &format!("CREATE ROLE {q_role} LOGIN CREATEDB PASSWORD"),
                    password,
                )?),
            );
        }
        Some(r) => {
            let extra: Vec<&str> = [
                (r.superuser, "SUPERUSER"),
                (r.createrole, "CREATEROLE"),
                (r.replication, "REPLICATION"),
                (r.bypassrls, "BYPASSRLS"),
            ]
            .into_iter()
            .filter_map(|(on, name)| on.then_some(name))
            .collect();
            let missing: Vec<&str> = [(r.login, "LOGIN"), (r.createdb, "CREATEDB")]
                .into_iter()
                .filter_map(|(on, name)| (!on).then_some(name))
                .collect();
            if !extra.is_empty() || !missing.is_empty() {
                let mut fix = Vec::new();
                if !missing.is_empty() {
                    fix.push(format!("ALTER ROLE {q_role} {};", missing.join(" ")));
                }
                if !extra.is_empty() {
                    fix.push(format!(
                        "ALTER ROLE {q_role} {};",
                        extra
                            .iter()
                            .map(|a| format!("NO{a}"))
                            .collect::<Vec<_>>()
                            .join(" ")
                    ));
                }
                notes.push(
                    Finding::new(
                        ids::BOOTSTRAP_ROLE_ATTRIBUTES,
                        if r.login { Status::Warn } else { Status::Fail },
                    )
                    .with_observed(format!(
                        "role {role} exists (left unchanged); missing: [{}], beyond LOGIN CREATEDB: [{}]",
                        missing.join(", "),
                        extra.join(", ")
                    ))
                    .with_remediation("the app role should be LOGIN CREATEDB and nothing more")
                    .with_reference(PROVIDER_NOTES)
                    .with_fix(Fix::sql(fix.join("\n"))),
                );
            }
            if b.reset_password {
                if let Some(password) = &b.password {
                    steps.push(Step::new(Action::SetPassword, role).with_statement(
                        role_statement(&format!("ALTER ROLE {q_role} PASSWORD"), password)?,
                    ));
                }
            }
        }
    }

    // The databases.
    let locale = pick_locale(&server);
    let mut needs_vector: Vec<(Component, String)> = Vec::new();
    let mut to_create = false;
    for (c, db) in &dbs {
        let q_db = quote_ident(db);
        match existing.get(db) {
            None => {
                to_create = true;
                let mut step = Step::new(Action::CreateDatabase, db.clone());
                step.component = Some(*c);
                let create = Statement::plain(format!(
                    "CREATE DATABASE {q_db} OWNER {q_role} TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE {} LC_CTYPE {}",
                    quote_literal(&locale.0),
                    quote_literal(&locale.1)
                ));
                let grant =
                    !server.superuser && !existing_role.as_ref().is_some_and(|r| r.admin_can_set);
                if grant {
                    // Revoke exactly what is granted: on 16+, a membership that was already
                    // there (the ADMIN OPTION a CREATEROLE admin gets for roles it creates)
                    // keeps its other options and loses SET only.
                    let (g, r) = if server.version >= 160000 {
                        let had_membership = existing_role
                            .as_ref()
                            .map_or(!server.superuser, |r| r.admin_direct_member);
                        (
                            format!("GRANT {q_role} TO CURRENT_USER WITH SET TRUE, INHERIT FALSE"),
                            if had_membership {
                                format!("REVOKE SET OPTION FOR {q_role} FROM CURRENT_USER")
                            } else {
                                format!("REVOKE {q_role} FROM CURRENT_USER")
                            },
                        )
                    } else {
                        (
                            format!("GRANT {q_role} TO CURRENT_USER"),
                            format!("REVOKE {q_role} FROM CURRENT_USER"),
                        )
                    };
                    step = step
                        .with_statement(Statement::plain(g))
                        .with_statement(create)
                        .with_cleanup(Statement::plain(r));
                } else {
                    step = step.with_statement(create);
                }
                steps.push(step);
                if c.spec().needs_pgvector {
                    needs_vector.push((*c, db.clone()));
                }
            }
            Some((owner, allow_conn)) => {
                if owner != role {
                    notes.push(
                        Finding::new(ids::BOOTSTRAP_DATABASE_FOREIGN_OWNER, Status::Fail)
                            .with_component(*c)
                            .with_observed(format!("database {db} exists and is owned by {owner}, not {role}; left alone"))
                            .with_remediation(format!("if {db} is meant for {c}, hand it to the app role (or drop it if it is a leftover)"))
                            .with_reference(RUNBOOK)
                            .with_fix(Fix::sql(format!("ALTER DATABASE {q_db} OWNER TO {q_role};"))),
                    );
                    continue;
                }
                if !allow_conn {
                    notes.push(
                        Finding::new(ids::BOOTSTRAP_DATABASE_FOREIGN_OWNER, Status::Fail)
                            .with_component(*c)
                            .with_observed(format!(
                                "database {db} does not allow connections (datallowconn = false)"
                            ))
                            .with_remediation("allow connections to it")
                            .with_fix(Fix::sql(format!(
                                "ALTER DATABASE {q_db} ALLOW_CONNECTIONS true;"
                            ))),
                    );
                    continue;
                }
                let Some(state) = inside.get(db) else {
                    continue;
                };
                if c.spec().needs_pgvector && !state.vector {
                    needs_vector.push((*c, db.clone()));
                }
                if state.public_exists && state.can_create != Some(true) && existing_role.is_some()
                {
                    steps.push(
                        Step::new(Action::GrantSchemaCreate, "public")
                            .in_database(*c, db)
                            .with_statement(Statement::plain(format!(
                                "GRANT CREATE ON SCHEMA public TO {q_role}"
                            ))),
                    );
                }
            }
        }
    }

    if to_create && !server.superuser && !server.createdb {
        blockers.push(
            Finding::new(ids::BOOTSTRAP_ADMIN_PRIVILEGES, Status::Fail)
                .with_observed(format!(
                    "{} has neither SUPERUSER nor CREATEDB",
                    server.admin
                ))
                .with_remediation("run bootstrap as the provider's administrator")
                .with_reference(RUNBOOK),
        );
    }
    if to_create
        && !server.superuser
        && !server.createrole
        && !existing_role.as_ref().is_some_and(|r| r.admin_can_set)
    {
        blockers.push(
            Finding::new(ids::BOOTSTRAP_ADMIN_PRIVILEGES, Status::Fail)
                .with_observed(format!(
                    "{} cannot SET ROLE {role} and lacks CREATEROLE to grant itself that membership; PostgreSQL requires it to create a database owned by {role}",
                    server.admin
                ))
                .with_remediation(format!("grant {role} to {} (GRANT {q_role} TO CURRENT_USER as a role that can), or run as the provider's administrator", server.admin))
                .with_reference(RUNBOOK),
        );
    }

    // pgvector.
    let mut extension_steps = Vec::new();
    if !needs_vector.is_empty() {
        let names: Vec<&str> = needs_vector.iter().map(|(_, d)| d.as_str()).collect();
        let blocked_list = allow_list_blocks(&server);
        if !server.vector_available {
            blockers.push(
                Finding::new(ids::BOOTSTRAP_VECTOR_UNAVAILABLE, Status::Fail)
                    .with_observed(format!("pgvector is not in pg_available_extensions; needed in {}", names.join(", ")))
                    .with_remediation("the provider does not ship pgvector for this version or tier: upgrade the instance (RDS 15.3+, Azure/Cloud SQL 15+)")
                    .with_reference(PROVIDER_NOTES),
            );
        } else if let Some((parameter, value, fix)) = blocked_list {
            let provider_can = b
                .provider
                .as_ref()
                .is_some_and(|p| p.capabilities().supports(Operation::AllowExtension));
            if provider_can {
                extension_steps.push(Step::new(Action::AllowExtension, "vector").with_statement(
                    Statement::plain(format!("-- provider API: add vector to {parameter}")),
                ));
            } else {
                blockers.push(
                    Finding::new(ids::BOOTSTRAP_VECTOR_NOT_ALLOWED, Status::Fail)
                        .with_observed(format!("{parameter} = '{value}' does not include vector"))
                        .with_remediation(format!("add vector to {parameter} (a server parameter, set through the provider), then run bootstrap again"))
                        .with_reference(PROVIDER_NOTES)
                        .with_fix(Fix::shell(fix)),
                );
            }
        }
        if !server.superuser && !server.extension_admin {
            blockers.push(
                Finding::new(ids::BOOTSTRAP_VECTOR_NEEDS_SUPERUSER, Status::Fail)
                    .with_observed(format!(
                        "{} is not a superuser nor a member of a provider administrator role; pgvector is not a trusted extension; needed in {}",
                        server.admin,
                        names.join(", ")
                    ))
                    .with_remediation("run bootstrap as a superuser (plain PostgreSQL) or as the provider's administrator (rds_superuser, azure_pg_admin, cloudsqlsuperuser), or have one run the fix")
                    .with_reference(PROVIDER_NOTES)
                    .with_fix(Fix::sql(
                        names
                            .iter()
                            .map(|d| format!("\\c {d}\nCREATE EXTENSION IF NOT EXISTS vector;"))
                            .collect::<Vec<_>>()
                            .join("\n"),
                    )),
            );
        }
        for (c, db) in &needs_vector {
            steps.push(
                Step::new(Action::CreateExtension, "vector")
                    .in_database(*c, db)
                    .with_statement(Statement::plain(
                        "CREATE EXTENSION IF NOT EXISTS vector".into(),
                    )),
            );
        }
    }
    // The provider's allow-list goes first: nothing else needs it, and it may fail.
    extension_steps.extend(steps);

    Ok(Plan {
        observed: Observed {
            server_version_num: server.version,
            admin: server.admin,
            admin_superuser: server.superuser,
            role_exists: existing_role.is_some(),
            databases: existing.into_iter().map(|(d, (o, _))| (d, o)).collect(),
        },
        steps: extension_steps,
        blockers,
        notes,
    })
}

/// `<prefix> '<verifier>'`, shown with the verifier masked.
fn role_statement(prefix: &str, password: &SecretString) -> Result<Statement> {
    let verifier = scram_verifier(password)?;
    Ok(Statement {
        shown: format!("{prefix} '<SCRAM-SHA-256 verifier>'"),
        secret: Some(SecretString::new(format!(
            "{prefix} {}",
            quote_literal(verifier.expose_secret())
        ))),
    })
}

/// template1's locale when it works with UTF8, else `C.UTF-8`.
fn pick_locale(server: &Server) -> (String, String) {
    let c_like = |l: &str| matches!(l, "C" | "POSIX");
    let utf8_name = |l: &str| {
        let lower = l.to_ascii_lowercase();
        lower.ends_with(".utf8") || lower.ends_with(".utf-8")
    };
    let ok = |l: &str| c_like(l) || utf8_name(l) || server.template_encoding == "UTF8";
    if ok(&server.template_collate) && ok(&server.template_ctype) {
        (
            server.template_collate.clone(),
            server.template_ctype.clone(),
        )
    } else {
        ("C.UTF-8".into(), "C.UTF-8".into())
    }
}

/// The provider allow-list that keeps out pgvector: (parameter, value, fix).
fn allow_list_blocks(server: &Server) -> Option<(&'static str, String, String)> {
    if let Some(v) = server.rds_allowed.as_deref() {
        let v = v.trim();
        if !v.is_empty() && v != "*" && !crate::preflight::list_contains(v, "vector") {
            return Some((
                "rds.allowed_extensions",
                v.to_owned(),
                format!("aws rds modify-db-parameter-group --db-parameter-group-name <group> --parameters \"ParameterName=rds.allowed_extensions,ParameterValue='{v},vector',ApplyMethod=immediate\""),
            ));
        }
    }
    if let Some(v) = server.azure_extensions.as_deref() {
        if !crate::preflight::list_contains(v, "vector") {
            let value = if v.trim().is_empty() {
                "VECTOR".to_owned()
            } else {
                format!("{v},VECTOR")
            };
            return Some((
                "azure.extensions",
                v.to_owned(),
                format!("az postgres flexible-server parameter set --resource-group <rg> --server-name <server> --name azure.extensions --value '{value}'"),
            ));
        }
    }
    None
}

//! Judging: what was seen, turned into findings. Pure functions of [`Seen`]; no I/O.

use std::fmt::Write as _;

use super::gather::{describe, AdminSeen, DatabaseSeen, Failure, Seen};
use super::probe::Plaintext;
use super::sql::{DatabaseRow, ServerFacts};
use super::Target;
use crate::catalog::Component;
use crate::diagnose::{self, RunbookEntry};
use crate::dsn::{Dsn, Host, SslMode};
use crate::provider::{self, Detection, ProviderKind, Redundancy};
use crate::report::{ids, Finding, Fix, Status};
use crate::ConnectFailure;

const PREREQUISITES: &str = "runbook: Prerequisites";
const PRE_CREATE: &str = "runbook: Pre-create databases and extension";
const MIGRATIONS: &str = "runbook: Migrations";
const NOTES_RDS: &str = "runbook: Provider notes / AWS RDS / Aurora";
const NOTES_AZURE: &str =
    "runbook: Provider notes / Azure Database for PostgreSQL (Flexible Server)";
const NOTES_SUPABASE_NEON: &str = "runbook: Provider notes / Supabase / Neon";
const NOTES: &str = "runbook: Provider notes";
const WHY: &str = "runbook: Why";
const ISO_TLS: &str = "ISO 27001:2022 A.8.24";
const NIST_SC8: &str = "NIST SC-8";
const ISO_BACKUP: &str = "ISO 27001:2022 A.8.13";
const NIST_CP9: &str = "NIST CP-9";
const NIST_CP10: &str = "NIST CP-10";
const SECNUMCLOUD: &str = "SecNumCloud 3.2";

/// The minimum server version (runbook: Prerequisites).
const MIN_VERSION_NUM: i32 = 150_000;
/// The first RDS/Aurora release with pgvector.
const MIN_RDS_VERSION_NUM: i32 = 150_003;
/// Below this, the runbook asks for a pooler.
const SMALL_TIER_MAX_CONNECTIONS: i32 = 100;
/// Backups kept for less than this many days are flagged.
const MIN_BACKUP_RETENTION_DAYS: u32 = 7;

/// A name as an SQL identifier: bare when it is a plain lower-case name, else double-quoted.
pub(crate) fn ident(name: &str) -> String {
    let plain = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if plain && !RESERVED.contains(&name) {
        name.to_owned()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

/// Reserved words a role or database could plausibly be called.
const RESERVED: &[&str] = &["user", "all", "public", "order", "group", "table", "select"];

/// Whether `list` (a comma-separated setting such as `azure.extensions`) names `item`, in any
/// case and with any spacing.
pub(crate) fn list_contains(list: &str, item: &str) -> bool {
    list.split(',').any(|e| e.trim().eq_ignore_ascii_case(item))
}

fn skip(id: &'static str, component: Option<Component>, why: impl Into<String>) -> Finding {
    let f = Finding::new(id, Status::Skip).with_observed(why);
    match component {
        Some(c) => f.with_component(c),
        None => f,
    }
}

const NO_ADMIN: &str = "not checked: the admin connection failed (see preflight.connect)";

/// Everything, in report order.
pub(crate) fn evaluate(target: &Target, seen: &Seen) -> (Vec<Finding>, Detection) {
    let admin = seen.admin.as_ref().ok();
    let names: Vec<&str> = admin
        .map(|a| a.facts.provider_setting_names())
        .unwrap_or_default();
    let detection = provider::detect(target.admin(), names);
    let needs_vector: Vec<Component> = target
        .components()
        .filter(|c| c.spec().needs_pgvector)
        .collect();

    let mut out = Vec::new();
    connect(target, seen, &mut out);
    out.push(provider_detected(seen, &detection));
    out.push(server_version(admin, detection.kind));
    out.push(vector_available(admin, &needs_vector, detection.kind));
    for c in target.components() {
        out.push(database_exists(target, seen, c));
    }
    out.push(role_exists(target, admin));
    for c in target.components() {
        out.push(role_connect(target, admin, c));
    }
    for c in target.components() {
        out.push(role_create_schema(target, seen, c));
    }
    for c in target.components() {
        out.push(role_create_public(target, seen, c));
    }
    for c in &needs_vector {
        out.push(vector_installed(target, seen, *c));
    }
    out.push(tls_session(target, seen));
    out.push(tls_sslmode(target));
    out.push(tls_enforced(&seen.plaintext, detection.kind));
    let pooler = pooler_state(target, seen);
    out.push(capacity(target, admin, &pooler, detection.kind));
    out.push(pooler_finding(&pooler));
    for c in target.components() {
        out.push(dapr_state_tables(target, seen, c));
    }
    let vector_missing_somewhere = needs_vector.iter().any(|c| {
        !matches!(
            seen.databases.get(c),
            Some(Ok(d)) if d.facts.vector_installed.is_some()
        )
    });
    out.push(rds_force_ssl(admin));
    out.push(allow_list(
        &RDS_ALLOWED_EXTENSIONS,
        admin,
        !needs_vector.is_empty(),
        vector_missing_somewhere,
    ));
    out.push(allow_list(
        &AZURE_EXTENSIONS,
        admin,
        !needs_vector.is_empty(),
        vector_missing_somewhere,
    ));
    out.push(provider_parameters(seen));
    out.push(backup(seen));
    out.push(high_availability(seen));
    out.extend(provider_findings(seen));
    (out, detection)
}

// ---- connections ------------------------------------------------------------------------------

fn failure_finding(failure: &Failure, what: String, component: Option<Component>) -> Finding {
    let mut f = Finding::new(ids::PREFLIGHT_CONNECT, Status::Fail);
    if let Some(c) = component {
        f = f.with_component(c);
    }
    let kind = match failure {
        Failure::Connect { failure, .. } => Some(*failure),
        Failure::Timeout { .. } => Some(ConnectFailure::Timeout),
        Failure::Query { .. } => None,
    };
    match kind {
        Some(kind) => {
            let d = diagnose::for_connect_failure(kind);
            f = f
                .with_observed(format!("{what}: {} ({})", describe(failure), d.summary))
                .with_remediation(d.remediation)
                .with_diagnosis(d.id);
            if let Some(entry) = d.runbook {
                f = f.with_reference(entry.heading());
            }
            f
        }
        None => f
            .with_observed(format!("{what}: {}", describe(failure)))
            .with_remediation(
                "The catalog read is read-only and needs no privilege; check the server log for \
                 the statement's error.",
            ),
    }
}

fn connect(target: &Target, seen: &Seen, out: &mut Vec<Finding>) {
    if let Err(f) = &seen.admin {
        out.push(failure_finding(
            f,
            format!("admin DSN {}", target.admin()),
            None,
        ));
    }
    for (c, outcome) in &seen.databases {
        match outcome {
            // A missing database is preflight.database_exists's finding.
            Err(Failure::Connect {
                failure: ConnectFailure::DatabaseMissing,
                ..
            })
            | Ok(_) => {}
            Err(f) => out.push(failure_finding(
                f,
                format!("database {}", target.database(*c)),
                Some(*c),
            )),
        }
    }
}

fn provider_detected(seen: &Seen, detection: &Detection) -> Finding {
    let p = &seen.provider;
    let mut observed = if detection.evidence.is_empty() {
        format!(
            "{} (no managed provider recognised)",
            detection.kind.display_name()
        )
    } else {
        let evidence: Vec<String> = detection.evidence.iter().map(ToString::to_string).collect();
        format!(
            "{} (from {})",
            detection.kind.display_name(),
            evidence.join(", ")
        )
    };
    let mut status = Status::Pass;
    let mut remediation = String::new();
    if p.kind == ProviderKind::Generic {
        let _ = write!(
            observed,
            "; checked with the generic provider (SQL only): backups, high availability and \
             API-side parameters are not checked"
        );
    } else {
        let _ = write!(observed, "; provider {}", p.name);
        if detection.kind != ProviderKind::Generic && detection.kind != p.kind {
            status = Status::Warn;
            remediation = format!(
                "The configured provider ({}) does not match the server ({}): check that the \
                 provider is configured for this instance.",
                p.kind, detection.kind
            );
        }
    }
    Finding::new(ids::PREFLIGHT_PROVIDER, status)
        .with_observed(observed)
        .with_remediation(remediation)
        .with_reference(NOTES)
}

// ---- server -----------------------------------------------------------------------------------

fn server_version(admin: Option<&AdminSeen>, kind: ProviderKind) -> Finding {
    let id = ids::PREFLIGHT_SERVER_VERSION;
    let Some(a) = admin else {
        return skip(id, None, NO_ADMIN);
    };
    let v = a.facts.version_num;
    let observed = format!(
        "PostgreSQL {} (server_version_num {v})",
        a.facts.version.split_whitespace().next().unwrap_or("?")
    );
    if v < MIN_VERSION_NUM {
        Finding::new(id, Status::Fail)
            .with_observed(observed)
            .with_remediation(
                "Scrydon needs PostgreSQL 15 or newer (its migrations use features introduced in \
                 15): upgrade the server's major version, or create a new 15+ instance and restore \
                 into it.",
            )
            .with_reference(PREREQUISITES)
    } else if kind == ProviderKind::AwsRds && v < MIN_RDS_VERSION_NUM {
        Finding::new(id, Status::Fail)
            .with_observed(format!("{observed} on RDS/Aurora"))
            .with_remediation(
                "RDS and Aurora ship pgvector from PostgreSQL 15.3: upgrade the instance's minor \
                 version.",
            )
            .with_fix(Fix::shell(
                "aws rds modify-db-instance --db-instance-identifier <instance> \
                 --engine-version <15.3 or later> --apply-immediately",
            ))
            .with_references(&[PREREQUISITES, NOTES_RDS])
    } else {
        Finding::new(id, Status::Pass)
            .with_observed(observed)
            .with_reference(PREREQUISITES)
    }
}

fn vector_available(
    admin: Option<&AdminSeen>,
    needs_vector: &[Component],
    kind: ProviderKind,
) -> Finding {
    let id = ids::PREFLIGHT_VECTOR_AVAILABLE;
    let Some(a) = admin else {
        return skip(id, None, NO_ADMIN);
    };
    let listed = a.facts.vector.as_ref();
    let observed = match listed {
        Some(v) => format!(
            "pgvector {} available{}",
            v.default_version
                .as_deref()
                .unwrap_or("(no default version)"),
            match v.trusted {
                Some(true) => " (trusted extension)",
                _ => "",
            }
        ),
        None => "pgvector (vector) is not in pg_available_extensions".to_owned(),
    };
    if needs_vector.is_empty() {
        return skip(
            id,
            None,
            format!("{observed}; no enabled component needs it"),
        );
    }
    if listed.is_some() {
        return Finding::new(id, Status::Pass)
            .with_observed(observed)
            .with_reference(PREREQUISITES);
    }
    let remediation = match kind {
        ProviderKind::AwsRds => "RDS and Aurora ship pgvector from PostgreSQL 15.3: upgrade the instance.",
        ProviderKind::AzureFlexibleServer => {
            "Azure Flexible Server ships pgvector from PostgreSQL 15 (allow it with azure.extensions=VECTOR): upgrade the server."
        }
        ProviderKind::GcpCloudSql => "Cloud SQL ships pgvector from PostgreSQL 15: upgrade the instance.",
        _ => {
            "Install pgvector for the server's major version (Debian/Ubuntu: postgresql-<major>-pgvector; \
             the operator images of CloudNativePG and Zalando include it), or move to a provider that ships it."
        }
    };
    Finding::new(id, Status::Fail)
        .with_observed(format!(
            "{observed}; needed by {}",
            needs_vector
                .iter()
                .map(|c| c.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))
        .with_remediation(remediation)
        .with_references(&[
            PREREQUISITES,
            RunbookEntry::CreateExtensionVectorFails.heading(),
        ])
}

fn database_exists(target: &Target, seen: &Seen, c: Component) -> Finding {
    let id = ids::PREFLIGHT_DATABASE_EXISTS;
    let db = target.database(c);
    let missing = || {
        Finding::new(id, Status::Fail)
            .with_component(c)
            .with_observed(format!(
                "database {db} does not exist; the {} Job would CrashLoop",
                c.spec().migration_job
            ))
            .with_remediation(format!(
                "Create it before helm install, owned by the migration role {}.",
                target.app_role()
            ))
            .with_fix(Fix::sql(format!(
                "CREATE DATABASE {} OWNER {};",
                ident(&db),
                ident(target.app_role())
            )))
            .with_references(&[PRE_CREATE, PREREQUISITES])
    };
    if let Ok(a) = &seen.admin {
        return match a.facts.database(&db) {
            Some(row) => Finding::new(id, Status::Pass)
                .with_component(c)
                .with_observed(format!("database {db} exists, owner {}", row.owner))
                .with_reference(PRE_CREATE),
            None => missing(),
        };
    }
    match seen.databases.get(&c) {
        Some(Ok(_)) => Finding::new(id, Status::Pass)
            .with_component(c)
            .with_observed(format!("database {db} exists (connected to it)"))
            .with_reference(PRE_CREATE),
        Some(Err(Failure::Connect {
            failure: ConnectFailure::DatabaseMissing,
            ..
        })) => missing(),
        _ => skip(id, Some(c), NO_ADMIN),
    }
}

// ---- the migration role -----------------------------------------------------------------------

fn role_exists(target: &Target, admin: Option<&AdminSeen>) -> Finding {
    let id = ids::PREFLIGHT_ROLE_EXISTS;
    let Some(a) = admin else {
        return skip(id, None, NO_ADMIN);
    };
    let role = target.app_role();
    match &a.facts.app {
        None => Finding::new(id, Status::Fail)
            .with_observed(format!("role {role} does not exist"))
            .with_remediation(
                "Create a least-privilege login role for the platform (use your own password), then \
                 give it ownership of each component database.",
            )
            .with_fix(Fix::sql(format!(
                "CREATE ROLE {} LOGIN PASSWORD '<password>' CREATEDB;",
                ident(role)
            )))
            .with_references(&[PREREQUISITES, NOTES_RDS]),
        Some(r) if !r.can_login => Finding::new(id, Status::Fail)
            .with_observed(format!("role {role} exists but cannot log in (NOLOGIN)"))
            .with_remediation("Allow the role to log in.")
            .with_fix(Fix::sql(format!("ALTER ROLE {} LOGIN;", ident(role))))
            .with_reference(PREREQUISITES),
        Some(r) => {
            let mut observed = format!("role {role} exists and can log in");
            if r.superuser {
                observed.push_str("; it is a superuser (more than the platform needs)");
            }
            if let Some(roles) = r.roles.as_ref().filter(|r| !r.is_empty()) {
                let _ = write!(observed, "; member of {}", roles.join(", "));
            }
            Finding::new(id, Status::Pass)
                .with_observed(observed)
                .with_reference(PREREQUISITES)
        }
    }
}

/// The database row and the role's presence, or the skip finding.
fn db_row<'a>(
    id: &'static str,
    target: &Target,
    admin: Option<&'a AdminSeen>,
    c: Component,
) -> Result<&'a DatabaseRow, Box<Finding>> {
    let Some(a) = admin else {
        return Err(Box::new(skip(id, Some(c), NO_ADMIN)));
    };
    if a.facts.app.is_none() {
        return Err(Box::new(skip(
            id,
            Some(c),
            format!(
                "not checked: role {} does not exist (see preflight.role_exists)",
                target.app_role()
            ),
        )));
    }
    let db = target.database(c);
    a.facts.database(&db).ok_or_else(|| {
        Box::new(skip(
            id,
            Some(c),
            format!("not checked: database {db} does not exist (see preflight.database_exists)"),
        ))
    })
}

fn role_connect(target: &Target, admin: Option<&AdminSeen>, c: Component) -> Finding {
    let id = ids::PREFLIGHT_ROLE_CONNECT;
    let row = match db_row(id, target, admin, c) {
        Ok(row) => row,
        Err(f) => return *f,
    };
    let (role, db) = (target.app_role(), &row.name);
    if !row.allow_connections {
        return Finding::new(id, Status::Fail)
            .with_component(c)
            .with_observed(format!(
                "database {db} does not allow connections (datallowconn = false)"
            ))
            .with_remediation("Allow connections to the database.")
            .with_fix(Fix::sql(format!(
                "ALTER DATABASE {} WITH ALLOW_CONNECTIONS true;",
                ident(db)
            )))
            .with_reference(RunbookEntry::MigrationsHang.heading());
    }
    if row.app_connect == Some(true) {
        Finding::new(id, Status::Pass)
            .with_component(c)
            .with_observed(format!("{role} may connect to {db}"))
            .with_reference(PREREQUISITES)
    } else {
        Finding::new(id, Status::Fail)
            .with_component(c)
            .with_observed(format!(
                "{role} has no CONNECT privilege on {db} (datacl {})",
                row.acl.as_deref().unwrap_or("default")
            ))
            .with_remediation(format!("Grant {role} CONNECT on {db}."))
            .with_fix(Fix::sql(format!(
                "GRANT CONNECT ON DATABASE {} TO {};",
                ident(db),
                ident(role)
            )))
            .with_references(&[PREREQUISITES, RunbookEntry::MigrationsHang.heading()])
    }
}

/// The component connection's facts, or the skip finding.
fn db_seen<'a>(
    id: &'static str,
    target: &Target,
    seen: &'a Seen,
    c: Component,
) -> Result<&'a DatabaseSeen, Box<Finding>> {
    let why = match seen.databases.get(&c) {
        Some(Ok(d)) => return Ok(d),
        Some(Err(Failure::Connect {
            failure: ConnectFailure::DatabaseMissing,
            ..
        })) => format!(
            "not checked: database {} does not exist (see preflight.database_exists)",
            target.database(c)
        ),
        Some(Err(f)) => format!(
            "not checked: no connection to {} ({})",
            target.database(c),
            describe(f)
        ),
        None => "not checked".to_owned(),
    };
    Err(Box::new(skip(id, Some(c), why)))
}

fn role_create_schema(target: &Target, seen: &Seen, c: Component) -> Finding {
    let id = ids::PREFLIGHT_ROLE_CREATE_SCHEMA;
    let admin = seen.admin.as_ref().ok();
    let row = match db_row(id, target, admin, c) {
        Ok(row) => row,
        Err(f) => return *f,
    };
    let d = match db_seen(id, target, seen, c) {
        Ok(d) => d,
        Err(f) => return *f,
    };
    let (role, db) = (target.app_role(), &row.name);
    let refs = [PREREQUISITES, RunbookEntry::MigrationsHang.heading()];
    if let Some(drizzle) = d.facts.schema("drizzle") {
        return if drizzle.app_create == Some(true) && drizzle.app_usage == Some(true) {
            Finding::new(id, Status::Pass)
                .with_component(c)
                .with_observed(format!(
                    "schema drizzle exists in {db} (owner {}); {role} may create in it",
                    drizzle.owner
                ))
                .with_references(&refs)
        } else {
            Finding::new(id, Status::Fail)
                .with_component(c)
                .with_observed(format!(
                    "schema drizzle exists in {db} (owner {}, acl {}) and {role} may not create in it",
                    drizzle.owner,
                    drizzle.acl.as_deref().unwrap_or("default")
                ))
                .with_remediation(format!(
                    "drizzle-kit keeps its journal in schema drizzle: give {role} CREATE on it (or \
                     ownership)."
                ))
                .with_fix(Fix::sql_in(
                    db.clone(),
                    format!("GRANT USAGE, CREATE ON SCHEMA drizzle TO {};", ident(role)),
                ))
                .with_references(&refs)
        };
    }
    if row.app_create == Some(true) {
        let how = if row.app_owner == Some(true) {
            "owns it"
        } else {
            "has CREATE on it"
        };
        Finding::new(id, Status::Pass)
            .with_component(c)
            .with_observed(format!(
                "{role} {how}: it can create schema drizzle in {db}"
            ))
            .with_references(&refs)
    } else {
        Finding::new(id, Status::Fail)
            .with_component(c)
            .with_observed(format!(
                "{role} has no CREATE privilege on database {db} (owner {}, datacl {}): \
                 drizzle-kit cannot create schema drizzle",
                row.owner,
                row.acl.as_deref().unwrap_or("default")
            ))
            .with_remediation(format!(
                "Make {role} the owner of {db} (the runbook's per-database ownership), or grant it \
                 CREATE on the database."
            ))
            .with_fix(Fix::sql(format!(
                "ALTER DATABASE {} OWNER TO {};",
                ident(db),
                ident(role)
            )))
            .with_references(&refs)
    }
}

fn role_create_public(target: &Target, seen: &Seen, c: Component) -> Finding {
    let id = ids::PREFLIGHT_ROLE_CREATE_PUBLIC;
    let admin = seen.admin.as_ref().ok();
    if let Err(f) = db_row(id, target, admin, c) {
        return *f;
    }
    let d = match db_seen(id, target, seen, c) {
        Ok(d) => d,
        Err(f) => return *f,
    };
    let (role, db) = (target.app_role(), target.database(c));
    let refs = [PREREQUISITES, RunbookEntry::MigrationsHang.heading()];
    let Some(public) = d.facts.schema("public") else {
        return Finding::new(id, Status::Fail)
            .with_component(c)
            .with_observed(format!("schema public does not exist in {db}"))
            .with_remediation(format!("Re-create schema public, owned by {role}."))
            .with_fix(Fix::sql_in(
                db.clone(),
                format!("CREATE SCHEMA public AUTHORIZATION {};", ident(role)),
            ))
            .with_references(&refs);
    };
    let acl = public.acl.as_deref().unwrap_or("default");
    match public.app_create {
        Some(true) if public.public_create => Finding::new(id, Status::Warn)
            .with_component(c)
            .with_observed(format!(
                "{role} may create in schema public of {db}, but so may every role (PUBLIC has \
                 CREATE: acl {acl}; kept from a pre-15 template1)"
            ))
            .with_remediation(format!(
                "Take CREATE on public away from PUBLIC (PostgreSQL 15's default) and grant it to \
                 {role} alone."
            ))
            .with_fix(Fix::sql_in(
                db.clone(),
                format!(
                    "REVOKE CREATE ON SCHEMA public FROM PUBLIC;\nGRANT CREATE ON SCHEMA public TO {};",
                    ident(role)
                ),
            ))
            .with_references(&refs),
        Some(true) => Finding::new(id, Status::Pass)
            .with_component(c)
            .with_observed(format!(
                "{role} may create in schema public of {db} (owner {})",
                public.owner
            ))
            .with_references(&refs),
        _ => Finding::new(id, Status::Fail)
            .with_component(c)
            .with_observed(format!(
                "{role} may not create in schema public of {db} (owner {}, acl {acl}); since \
                 PostgreSQL 15 only the database owner may",
                public.owner
            ))
            .with_remediation(format!(
                "Make {role} the owner of {db} (public belongs to pg_database_owner), or grant it \
                 CREATE on schema public."
            ))
            .with_fix(Fix::sql_in(
                db.clone(),
                format!("GRANT CREATE ON SCHEMA public TO {};", ident(role)),
            ))
            .with_references(&refs),
    }
}

/// Who can install pgvector in `row`'s database, or why nobody here can.
fn vector_installer(facts: &ServerFacts, row: Option<&DatabaseRow>) -> Result<String, String> {
    if let Some(list) = facts.setting("rds.allowed_extensions") {
        if list.trim() != "*" && !list_contains(list, "vector") {
            return Err(format!(
                "rds.allowed_extensions ({list:?}) does not allow vector"
            ));
        }
    }
    if let Some(list) = facts.setting("azure.extensions") {
        if !list_contains(list, "vector") {
            return Err(format!("azure.extensions ({list:?}) does not list VECTOR"));
        }
    }
    let admin = &facts.user;
    if facts.admin_superuser == Some(true) {
        return Ok(format!("{admin} is superuser"));
    }
    if let Some(roles) = facts.admin_roles.as_ref().filter(|r| !r.is_empty()) {
        return Ok(format!("{admin} is a member of {}", roles.join(", ")));
    }
    if facts.setting("supautils.privileged_role") == Some(admin.as_str()) {
        return Ok(format!("{admin} is supautils' privileged role"));
    }
    if facts.vector.as_ref().and_then(|v| v.trusted) == Some(true)
        && row.is_some_and(|r| r.admin_create || r.admin_owner)
    {
        return Ok(format!(
            "vector is a trusted extension and {admin} has CREATE on the database"
        ));
    }
    let roles: Vec<&str> = ProviderKind::ALL
        .iter()
        .filter_map(|k| k.extension_admin_role())
        .collect();
    Err(format!(
        "{admin} is neither superuser nor a member of {}",
        roles.join(", ")
    ))
}

fn vector_installed(target: &Target, seen: &Seen, c: Component) -> Finding {
    let id = ids::PREFLIGHT_VECTOR_INSTALLED;
    let d = match db_seen(id, target, seen, c) {
        Ok(d) => d,
        Err(f) => return *f,
    };
    let db = target.database(c);
    let refs = [
        PRE_CREATE,
        RunbookEntry::CreateExtensionVectorFails.heading(),
    ];
    if let Some(v) = &d.facts.vector_installed {
        return Finding::new(id, Status::Pass)
            .with_component(c)
            .with_observed(format!("pgvector {v} installed in {db}"))
            .with_references(&refs);
    }
    let Ok(a) = &seen.admin else {
        return Finding::new(id, Status::Warn)
            .with_component(c)
            .with_observed(format!(
                "pgvector is not installed in {db}; whether it can be was not checked (no admin \
                 connection)"
            ))
            .with_fix(Fix::sql_in(db, "CREATE EXTENSION IF NOT EXISTS vector;"))
            .with_references(&refs);
    };
    if a.facts.vector.is_none() {
        return skip(
            id,
            Some(c),
            format!(
                "pgvector is not installed in {db} and not available on the server (see \
                 preflight.vector_available)"
            ),
        );
    }
    match vector_installer(&a.facts, a.facts.database(&db)) {
        Ok(who) => Finding::new(id, Status::Warn)
            .with_component(c)
            .with_observed(format!(
                "pgvector is not installed in {db}; {who} and can install it"
            ))
            .with_remediation(format!(
                "Install it in {db} before the migrations run (scrydon-byodb bootstrap does)."
            ))
            .with_fix(Fix::sql_in(db, "CREATE EXTENSION IF NOT EXISTS vector;"))
            .with_references(&refs),
        Err(why) => Finding::new(id, Status::Fail)
            .with_component(c)
            .with_observed(format!(
                "pgvector is not installed in {db} and cannot be here: {why}"
            ))
            .with_remediation(
                "Run CREATE EXTENSION vector in this database as a superuser or a member of the \
                 provider's admin role (rds_superuser, cloudsqlsuperuser, azure_pg_admin, \
                 neon_superuser), after allowing it where the provider has an allow-list.",
            )
            .with_fix(Fix::sql_in(db, "CREATE EXTENSION IF NOT EXISTS vector;"))
            .with_references(&refs),
    }
}

// ---- TLS --------------------------------------------------------------------------------------

fn is_unix(dsn: &Dsn) -> bool {
    dsn.endpoints()
        .ok()
        .and_then(|e| {
            e.first()
                .map(|e| matches!(e.host, Host::Unix(_)) && e.hostaddr.is_none())
        })
        .unwrap_or(false)
}

fn tls_session(target: &Target, seen: &Seen) -> Finding {
    let id = ids::PREFLIGHT_TLS_SESSION;
    let refs = [PREREQUISITES, ISO_TLS, NIST_SC8];
    if is_unix(target.admin()) {
        return skip(
            id,
            None,
            "the admin DSN uses a Unix socket, where TLS does not apply",
        );
    }
    let Ok(a) = &seen.admin else {
        return skip(id, None, NO_ADMIN);
    };
    let server_side = a.facts.ssl.as_ref();
    // Component connections with their own DSN may differ from the admin one.
    let plaintext_components: Vec<String> = seen
        .databases
        .iter()
        .filter(|(c, d)| {
            matches!(d, Ok(d) if d.tls.is_none()) && !is_unix(&target.component_dsn(**c))
        })
        .map(|(c, _)| format!("{c} ({})", target.database(*c)))
        .collect();
    if a.tls.is_some() && !plaintext_components.is_empty() {
        return Finding::new(id, Status::Fail)
            .with_observed(format!(
                "the admin session is encrypted, but these database sessions are not: {}",
                plaintext_components.join(", ")
            ))
            .with_remediation("Use sslmode=verify-full (require at least) in every component DSN.")
            .with_references(&refs);
    }
    match &a.tls {
        None => Finding::new(id, Status::Fail)
            .with_observed(format!(
                "this session is not encrypted (sslmode={}; pg_stat_ssl.ssl = {})",
                target.admin().ssl_mode(),
                server_side.map(|s| s.ssl).unwrap_or(false)
            ))
            .with_remediation(
                "Enable TLS on the server and connect with sslmode=verify-full (require at least).",
            )
            .with_references(&refs),
        Some(info) => {
            let mut observed = format!(
                "{} {}, certificate checked: {}",
                info.protocol, info.cipher, info.verification
            );
            match server_side {
                Some(s) if s.ssl => {
                    let _ = write!(
                        observed,
                        "; the server sees {} {}",
                        s.version.as_deref().unwrap_or("TLS"),
                        s.cipher.as_deref().unwrap_or("")
                    );
                    Finding::new(id, Status::Pass)
                        .with_observed(observed.trim_end().to_owned())
                        .with_references(&refs)
                }
                _ => Finding::new(id, Status::Warn)
                    .with_observed(format!(
                        "{observed}; but pg_stat_ssl.ssl = false: TLS ends at a proxy or pooler and \
                         the hop to the server is plaintext"
                    ))
                    .with_remediation(
                        "Encrypt the pooler's connection to the server too (PgBouncer: \
                         server_tls_sslmode = verify-full).",
                    )
                    .with_references(&refs),
            }
        }
    }
}

fn tls_sslmode(target: &Target) -> Finding {
    let id = ids::PREFLIGHT_TLS_SSLMODE;
    let mut dsns: Vec<(String, Dsn)> = vec![("admin DSN".to_owned(), target.admin().clone())];
    for c in target.components() {
        if target.has_own_dsn(c) {
            dsns.push((format!("{c} DSN"), target.component_dsn(c)));
        }
    }
    let dsns: Vec<(String, Dsn)> = dsns.into_iter().filter(|(_, d)| !is_unix(d)).collect();
    if dsns.is_empty() {
        return skip(
            id,
            None,
            "every DSN uses a Unix socket, where TLS does not apply",
        );
    }
    let mut status = Status::Pass;
    let mut parts = Vec::new();
    for (what, dsn) in &dsns {
        let mode = dsn.ssl_mode();
        let explicit = dsn.explicit_ssl_mode().is_some();
        let s = match mode {
            SslMode::VerifyFull => Status::Pass,
            SslMode::Require | SslMode::VerifyCa => Status::Warn,
            SslMode::Disable | SslMode::Allow | SslMode::Prefer => Status::Fail,
        };
        status = status.max(s);
        parts.push(if explicit {
            format!("{what}: sslmode={mode}")
        } else {
            format!("{what}: no sslmode (libpq's default {mode})")
        });
    }
    let observed = parts.join("; ");
    let f = Finding::new(id, status)
        .with_observed(observed)
        .with_references(&[PREREQUISITES, ISO_TLS, NIST_SC8, NOTES_AZURE]);
    match status {
        Status::Fail => f
            .with_remediation(
                "Set sslmode=require at least in every DSN (prefer falls back to plaintext); \
                 verify-full with the provider's CA bundle is recommended.",
            )
            .with_fix(Fix::shell(
                "append ?sslmode=verify-full&sslrootcert=/etc/ssl/<provider>-ca.pem to each DSN",
            )),
        Status::Warn => f
            .with_remediation(
                "require encrypts but does not authenticate the server: mount the provider's CA \
                 bundle and use sslmode=verify-full.",
            )
            .with_fix(Fix::shell(
                "use ?sslmode=verify-full&sslrootcert=/etc/ssl/<provider>-ca.pem in each DSN",
            )),
        _ => f,
    }
}

fn tls_enforced(plaintext: &Plaintext, kind: ProviderKind) -> Finding {
    let id = ids::PREFLIGHT_TLS_ENFORCED;
    let refs = [PREREQUISITES, ISO_TLS, NIST_SC8];
    match plaintext {
        Plaintext::UnixSocket => skip(
            id,
            None,
            "the admin DSN uses a Unix socket, where TLS does not apply",
        ),
        Plaintext::Rejected { sqlstate } => Finding::new(id, Status::Pass)
            .with_observed(format!(
                "a plaintext connection was refused before authentication (SQLSTATE {sqlstate})"
            ))
            .with_references(&refs),
        Plaintext::Accepted => {
            let (remediation, fix) = match kind {
                ProviderKind::AwsRds => (
                    "Set rds.force_ssl=1 in the instance's DB parameter group.",
                    Some(Fix::shell(
                        "aws rds modify-db-parameter-group --db-parameter-group-name <group> \
                         --parameters \"ParameterName=rds.force_ssl,ParameterValue=1,ApplyMethod=immediate\"",
                    )),
                ),
                ProviderKind::AzureFlexibleServer => (
                    "Set the server parameter require_secure_transport to ON.",
                    Some(Fix::shell(
                        "az postgres flexible-server parameter set --resource-group <rg> \
                         --server-name <server> --name require_secure_transport --value ON",
                    )),
                ),
                ProviderKind::GcpCloudSql => (
                    "Require TLS on the instance (SSL mode ENCRYPTED_ONLY).",
                    Some(Fix::shell(
                        "gcloud sql instances patch <instance> --ssl-mode=ENCRYPTED_ONLY",
                    )),
                ),
                _ => (
                    "Refuse plaintext: use hostssl (not host) lines in pg_hba.conf, or \
                     client_tls_sslmode = require on a PgBouncer in front.",
                    None,
                ),
            };
            let f = Finding::new(id, Status::Fail)
                .with_observed(
                    "the server accepted a plaintext connection (it asked for authentication; the \
                     probe hung up without sending credentials)",
                )
                .with_remediation(remediation)
                .with_references(&refs);
            match fix {
                Some(fix) => f.with_fix(fix),
                None => f,
            }
        }
        Plaintext::Inconclusive { reason } => Finding::new(id, Status::Warn)
            .with_observed(format!(
                "could not tell whether plaintext is refused: {reason}"
            ))
            .with_remediation("Check that the server refuses connections without TLS.")
            .with_references(&refs),
    }
}

// ---- capacity and poolers ---------------------------------------------------------------------

/// What was learnt about poolers in front of the endpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PoolerState {
    /// The wire probes, per endpoint: (which DSN, the shared server pid if the two connections
    /// shared one, or why the probe could not run).
    probes: Vec<(String, Result<Option<i32>, String>)>,
    /// DSN hints: (what, transaction mode?).
    hints: Vec<(String, bool)>,
}

impl PoolerState {
    /// A transaction-mode pooler was seen on the wire or is named by a DSN.
    fn transaction(&self) -> bool {
        self.probes.iter().any(|(_, p)| matches!(p, Ok(Some(_))))
            || self.hints.iter().any(|(_, t)| *t)
    }

    /// At least one probe ran.
    fn probed(&self) -> bool {
        self.probes.iter().any(|(_, p)| p.is_ok())
    }
}

/// What a DSN's host and port say about a pooler: Supavisor (port 6543 transaction, 5432
/// session), a Neon `-pooler` endpoint (PgBouncer in transaction mode), PgBouncer's default
/// port 6432 (mode unknown).
fn pooler_hint(dsn: &Dsn) -> Option<(String, bool)> {
    let endpoints = dsn.endpoints().ok()?;
    let first = endpoints.first()?;
    let Host::Tcp(host) = &first.host else {
        return None;
    };
    let host = host.to_ascii_lowercase();
    let kind = provider::detect_from_host(&host);
    if kind == Some(ProviderKind::Supabase) && host.ends_with(".pooler.supabase.com") {
        return Some(match first.port {
            6543 => ("Supavisor on port 6543 (transaction mode)".to_owned(), true),
            port => (format!("Supavisor on port {port} (session mode)"), false),
        });
    }
    if kind == Some(ProviderKind::Neon)
        && host
            .split('.')
            .next()
            .is_some_and(|l| l.ends_with("-pooler"))
    {
        return Some((
            "a Neon -pooler endpoint (PgBouncer, transaction mode)".to_owned(),
            true,
        ));
    }
    if first.port == 6432 {
        return Some((
            "port 6432, PgBouncer's default (mode unknown)".to_owned(),
            false,
        ));
    }
    None
}

fn pooler_state(target: &Target, seen: &Seen) -> PoolerState {
    let mut hints = Vec::new();
    let mut dsns = vec![("admin DSN".to_owned(), target.admin().clone())];
    for c in target.components() {
        if target.has_own_dsn(c) {
            dsns.push((format!("{c} DSN"), target.component_dsn(c)));
        }
    }
    for (what, dsn) in dsns {
        if let Some((hint, txn)) = pooler_hint(&dsn) {
            hints.push((format!("{what}: {hint}"), txn));
        }
    }
    let shared = |first: i32, second: &Result<i32, String>| match second {
        Ok(pid) => Ok((*pid == first).then_some(*pid)),
        Err(e) => Err(e.clone()),
    };
    let mut probes = vec![(
        "admin DSN".to_owned(),
        match &seen.admin {
            Ok(a) => shared(a.facts.backend_pid, &a.second_pid),
            Err(_) => Err("no admin connection".to_owned()),
        },
    )];
    for (c, d) in &seen.databases {
        if let Ok(DatabaseSeen {
            facts,
            second_pid: Some(second),
            ..
        }) = d
        {
            probes.push((format!("{c} DSN"), shared(facts.backend_pid, second)));
        }
    }
    PoolerState { probes, hints }
}

fn pooler_finding(p: &PoolerState) -> Finding {
    let id = ids::PREFLIGHT_POOLER;
    let refs = [NOTES_SUPABASE_NEON, MIGRATIONS];
    let mut parts = Vec::new();
    for (what, probe) in &p.probes {
        parts.push(match probe {
            Ok(Some(pid)) => format!(
                "{what}: a transaction-mode pooler is in front (two client connections were \
                 served by the same server process, {pid})"
            ),
            Ok(None) => format!(
                "{what}: no transaction-mode pooler (two client connections, two server \
                 processes)"
            ),
            Err(e) => format!("{what}: pooler probe not run ({e})"),
        });
    }
    parts.extend(p.hints.iter().map(|(h, _)| h.clone()));
    let observed = parts.join("; ");
    if p.transaction() {
        Finding::new(id, Status::Warn)
            .with_observed(observed)
            .with_remediation(
                "The migration Jobs run DDL through the same DSN as the apps, and some DDL needs a \
                 session. Point the DSNs the migrations use at the direct endpoint or a session-mode \
                 pooler: Supabase port 5432 (or db.<project>.supabase.co), the Neon host without \
                 -pooler, or a PgBouncer database with pool_mode = session.",
            )
            .with_references(&refs)
    } else if !p.probed() {
        skip(id, None, observed)
    } else {
        Finding::new(id, Status::Pass)
            .with_observed(observed)
            .with_references(&refs)
    }
}

fn capacity(
    target: &Target,
    admin: Option<&AdminSeen>,
    pooler: &PoolerState,
    kind: ProviderKind,
) -> Finding {
    let id = ids::PREFLIGHT_CAPACITY;
    let Some(a) = admin else {
        return skip(id, None, NO_ADMIN);
    };
    let f = &a.facts;
    let reserved = f.reserved.unwrap_or(0);
    let available =
        i64::from(f.max_connections) - i64::from(f.superuser_reserved) - i64::from(reserved);
    let demand = target.demand().connections(target.components());
    let demand_i = i64::try_from(demand).unwrap_or(i64::MAX);
    let mut observed = format!(
        "max_connections {} - superuser_reserved_connections {}",
        f.max_connections, f.superuser_reserved
    );
    if let Some(r) = f.reserved {
        let _ = write!(observed, " - reserved_connections {r}");
    }
    let per: Vec<String> = target
        .components()
        .map(|c| format!("{c} {}", target.demand().of(c).connections()))
        .collect();
    let _ = write!(
        observed,
        " = {available} available ({} in use now, preflight's own included); expected {demand} \
         ({} + {} migration Jobs)",
        f.in_use,
        per.join(", "),
        target.components().count()
    );
    let refs = [PREREQUISITES];
    let pooler_advice = match kind {
        ProviderKind::AwsRds => "RDS Proxy or PgBouncer",
        ProviderKind::AzureFlexibleServer => "the built-in PgBouncer (pgbouncer.enabled = true)",
        ProviderKind::GcpCloudSql => "Cloud SQL Managed Connection Pooling or PgBouncer",
        ProviderKind::Supabase => "Supavisor",
        ProviderKind::Neon => "the -pooler endpoint",
        ProviderKind::Generic => "PgBouncer",
    };
    if pooler.transaction() {
        return Finding::new(id, Status::Pass)
            .with_observed(format!(
                "{observed}; clients go through a transaction-mode pooler, which multiplexes them \
                 onto fewer server connections"
            ))
            .with_references(&refs);
    }
    if demand_i > available {
        Finding::new(id, Status::Fail)
            .with_observed(observed)
            .with_remediation(format!(
                "Put {pooler_advice} in front (transaction mode for the apps), lower the pool sizes, \
                 or move to a tier with more max_connections."
            ))
            .with_references(&refs)
    } else if f.max_connections < SMALL_TIER_MAX_CONNECTIONS {
        Finding::new(id, Status::Warn)
            .with_observed(format!(
                "{observed}; a small tier (under 100) without a pooler"
            ))
            .with_remediation(format!(
                "The runbook puts a pooler in front of small tiers: use {pooler_advice}."
            ))
            .with_references(&refs)
    } else if demand_i * 10 > available * 8 {
        Finding::new(id, Status::Warn)
            .with_observed(format!("{observed}; over 80% of the available connections"))
            .with_remediation(format!(
                "Leave room for scaling and maintenance: use {pooler_advice}, or more \
                 max_connections."
            ))
            .with_references(&refs)
    } else {
        Finding::new(id, Status::Pass)
            .with_observed(observed)
            .with_references(&refs)
    }
}

// ---- Dapr -------------------------------------------------------------------------------------

fn dapr_state_tables(target: &Target, seen: &Seen, c: Component) -> Finding {
    let id = ids::PREFLIGHT_DAPR_STATE_TABLES;
    let d = match db_seen(id, target, seen, c) {
        Ok(d) => d,
        Err(f) => return *f,
    };
    let db = target.database(c);
    let refs = [RunbookEntry::DaprWorkflowStateTable.heading()];
    match d.facts.dapr_tables.as_ref().filter(|t| !t.is_empty()) {
        None => Finding::new(id, Status::Pass)
            .with_component(c)
            .with_observed(format!("no Dapr workflow state tables in {db}"))
            .with_references(&refs),
        Some(tables) => Finding::new(id, Status::Warn)
            .with_component(c)
            .with_observed(format!(
                "{db} already has tables with Dapr's workflow state prefixes: {}",
                tables.join(", ")
            ))
            .with_remediation(
                "If another deployment used this database, its Dapr state would collide with \
                 Scrydon's: use a fresh database or give the Dapr state store another tablePrefix. \
                 If these are this platform's own tables from an earlier install, nothing to do.",
            )
            .with_references(&refs),
    }
}

// ---- provider parameters visible from SQL -----------------------------------------------------

fn rds_force_ssl(admin: Option<&AdminSeen>) -> Finding {
    let id = ids::PREFLIGHT_RDS_FORCE_SSL;
    let Some(a) = admin else {
        return skip(id, None, NO_ADMIN);
    };
    let refs = [NOTES_RDS, ISO_TLS, NIST_SC8];
    match a.facts.setting("rds.force_ssl") {
        None => skip(id, None, "no rds.force_ssl setting (not RDS/Aurora)"),
        Some(v) if matches!(v.trim().to_ascii_lowercase().as_str(), "1" | "on" | "true") => {
            Finding::new(id, Status::Pass)
                .with_observed(format!("rds.force_ssl = {v}"))
                .with_references(&refs)
        }
        Some(v) => Finding::new(id, Status::Fail)
            .with_observed(format!("rds.force_ssl = {v}: plaintext connections are allowed"))
            .with_remediation("Set rds.force_ssl=1 in the instance's DB parameter group.")
            .with_fix(Fix::shell(
                "aws rds modify-db-parameter-group --db-parameter-group-name <group> \
                 --parameters \"ParameterName=rds.force_ssl,ParameterValue=1,ApplyMethod=immediate\"",
            ))
            .with_references(&refs),
    }
}

/// A provider's extension allow-list, as a server setting: what differs between RDS's
/// `rds.allowed_extensions` and Azure's `azure.extensions`.
struct AllowList {
    id: &'static str,
    notes: &'static str,
    setting: &'static str,
    /// Who has the setting, for the skip message (`RDS/Aurora`).
    provider: &'static str,
    /// How pgvector is spelt in the list when added (`vector`, `VECTOR`).
    entry: &'static str,
    /// `*` allows every extension (RDS).
    star_allows_all: bool,
    /// How a passing list is described (`allows vector`).
    passes_as: &'static str,
    /// What a failing list means, after "does not ...".
    fails_as: &'static str,
    remediation: &'static str,
    /// The fix, given the new list.
    fix: fn(&str) -> String,
}

const RDS_ALLOWED_EXTENSIONS: AllowList = AllowList {
    id: ids::PREFLIGHT_RDS_ALLOWED_EXTENSIONS,
    notes: NOTES_RDS,
    setting: "rds.allowed_extensions",
    provider: "RDS/Aurora",
    entry: "vector",
    star_allows_all: true,
    passes_as: "allows vector",
    fails_as: "allow vector",
    remediation: "Add vector to rds.allowed_extensions in the DB parameter group.",
    fix: |list| {
        format!(
            "aws rds modify-db-parameter-group --db-parameter-group-name <group> \
             --parameters \"ParameterName=rds.allowed_extensions,ParameterValue='{list}',ApplyMethod=immediate\""
        )
    },
};

const AZURE_EXTENSIONS: AllowList = AllowList {
    id: ids::PREFLIGHT_AZURE_EXTENSIONS,
    notes: NOTES_AZURE,
    setting: "azure.extensions",
    provider: "Azure Flexible Server",
    entry: "VECTOR",
    star_allows_all: false,
    passes_as: "lists VECTOR",
    fails_as: "list VECTOR: CREATE EXTENSION vector will be refused",
    remediation:
        "Add VECTOR to the server parameter azure.extensions before the first CREATE EXTENSION.",
    fix: |list| {
        format!(
            "az postgres flexible-server parameter set --resource-group <rg> --server-name <server> \
             --name azure.extensions --value '{list}'"
        )
    },
};

/// Whether the provider's allow-list (seen from SQL) lets pgvector through: Pass when it does,
/// Fail when it does not and pgvector is missing somewhere, Warn when it does not but pgvector
/// is already installed everywhere; Skip without the setting or without a component needing it.
fn allow_list(
    list: &AllowList,
    admin: Option<&AdminSeen>,
    vector_needed: bool,
    vector_missing: bool,
) -> Finding {
    let id = list.id;
    let Some(a) = admin else {
        return skip(id, None, NO_ADMIN);
    };
    let refs = [
        list.notes,
        RunbookEntry::CreateExtensionVectorFails.heading(),
    ];
    let setting = list.setting;
    let Some(value) = a.facts.setting(setting) else {
        return skip(
            id,
            None,
            format!("no {setting} setting (not {})", list.provider),
        );
    };
    if !vector_needed {
        return skip(
            id,
            None,
            format!("{setting} = {value:?}; no enabled component needs pgvector"),
        );
    }
    if (list.star_allows_all && value.trim() == "*") || list_contains(value, "vector") {
        return Finding::new(id, Status::Pass)
            .with_observed(format!("{setting} = {value:?} {}", list.passes_as))
            .with_references(&refs);
    }
    let status = if vector_missing {
        Status::Fail
    } else {
        Status::Warn
    };
    let new_list = if value.trim().is_empty() {
        list.entry.to_owned()
    } else {
        format!("{},{}", value.trim(), list.entry)
    };
    Finding::new(id, status)
        .with_observed(format!("{setting} = {value:?} does not {}", list.fails_as))
        .with_remediation(list.remediation)
        .with_fix(Fix::shell((list.fix)(&new_list)))
        .with_references(&refs)
}

// ---- what the provider adds -------------------------------------------------------------------

fn not_capable(id: &'static str, seen: &Seen, what: &str, capability: &str) -> Finding {
    skip(
        id,
        None,
        format!(
            "the {} provider cannot report {what} (capability {capability}); check it in the \
             provider's console, or ask its API (the CLI's --provider-api, or the provider's \
             crate with Preflight::with_provider)",
            seen.provider.name
        ),
    )
}

/// What the provider's API adds ([`Provider::findings`](crate::provider::Provider::findings)):
/// its findings as given, or one `provider.api` warning saying why there are none. Nothing when
/// the provider lacks the capability (the generic provider).
fn provider_findings(seen: &Seen) -> Vec<Finding> {
    match &seen.provider.findings {
        None => Vec::new(),
        Some(Ok(found)) => found
            .iter()
            .filter(|f| ids::PROVIDER.contains(&f.id))
            .map(|f| Finding {
                component: None,
                ..f.clone()
            })
            .collect(),
        Some(Err(e)) => vec![Finding::new(ids::PROVIDER_API, Status::Warn)
            .with_observed(format!(
                "the {} provider's API could not be read: {e}",
                seen.provider.name
            ))
            .with_remediation(
                "Check the provider's credentials and their read permission on this server, \
                 then run preflight again; until then the provider-side checks are missing.",
            )
            .with_reference(NOTES)],
    }
}

fn provider_parameters(seen: &Seen) -> Finding {
    let id = ids::PREFLIGHT_PROVIDER_PARAMETERS;
    let p = &seen.provider;
    if !p.capabilities.read_parameters {
        return not_capable(id, seen, "configured parameters", "read_parameters");
    }
    let live = seen.admin.as_ref().ok();
    let mut status = Status::Pass;
    let mut parts = Vec::new();
    for (name, answer) in &p.parameters {
        match answer {
            Ok(None) => {}
            Ok(Some(v)) => {
                let in_force = live.and_then(|a| a.facts.setting(name));
                let differs = in_force.is_some_and(|l| l != v.value);
                if v.pending_restart || differs {
                    status = status.max(Status::Warn);
                    parts.push(format!(
                        "{name} is configured as {:?} but {:?} is in force (pending a restart)",
                        v.value,
                        in_force.unwrap_or("?")
                    ));
                } else {
                    parts.push(format!("{name} = {:?}", v.value));
                }
            }
            Err(e) => {
                status = status.max(Status::Warn);
                parts.push(format!("{name}: could not be read ({e})"));
            }
        }
    }
    if parts.is_empty() {
        parts.push("none of the provider parameters preflight knows is set".to_owned());
    }
    let f = Finding::new(id, status)
        .with_observed(parts.join("; "))
        .with_reference(NOTES);
    if status == Status::Warn {
        f.with_remediation(
            "Restart the server in a maintenance window so the configured values apply.",
        )
    } else {
        f
    }
}

fn backup(seen: &Seen) -> Finding {
    let id = ids::PREFLIGHT_BACKUP;
    let refs = [WHY, ISO_BACKUP, NIST_CP9];
    match &seen.provider.backup {
        None => not_capable(id, seen, "backups", "backup_posture"),
        Some(Err(e)) => Finding::new(id, Status::Warn)
            .with_observed(format!("could not read the backup configuration: {e}"))
            .with_references(&refs),
        Some(Ok(b)) => {
            let observed = format!(
                "automated backups {}, retention {}, point-in-time recovery {}{}",
                if b.automated { "on" } else { "off" },
                b.retention_days
                    .map(|d| format!("{d} days"))
                    .unwrap_or_else(|| "unknown".to_owned()),
                if b.point_in_time_recovery {
                    "on"
                } else {
                    "off"
                },
                match b.cross_region {
                    Some(true) => ", copied to another region",
                    Some(false) => ", not copied to another region",
                    None => "",
                }
            );
            let (status, remediation) = if !b.automated {
                (Status::Fail, "Turn on the provider's automated backups: the bundled backup CronJob does not cover a managed database.")
            } else if !b.point_in_time_recovery {
                (Status::Warn, "Turn on point-in-time recovery.")
            } else if b
                .retention_days
                .is_some_and(|d| d < MIN_BACKUP_RETENTION_DAYS)
            {
                (Status::Warn, "Keep backups for at least 7 days.")
            } else {
                (Status::Pass, "")
            };
            Finding::new(id, status)
                .with_observed(observed)
                .with_remediation(remediation)
                .with_references(&refs)
        }
    }
}

fn high_availability(seen: &Seen) -> Finding {
    let id = ids::PREFLIGHT_HIGH_AVAILABILITY;
    let refs = [WHY, SECNUMCLOUD, NIST_CP10];
    match &seen.provider.high_availability {
        None => not_capable(id, seen, "high availability", "high_availability"),
        Some(Err(e)) => Finding::new(id, Status::Warn)
            .with_observed(format!(
                "could not read the availability configuration: {e}"
            ))
            .with_references(&refs),
        Some(Ok(h)) => {
            let observed = format!(
                "redundancy {:?}, automatic failover {}",
                h.redundancy,
                if h.automatic_failover { "on" } else { "off" }
            );
            let ok = h.redundancy >= Redundancy::MultiZone && h.automatic_failover;
            let f = Finding::new(id, if ok { Status::Pass } else { Status::Warn })
                .with_observed(observed)
                .with_references(&refs);
            if ok {
                f
            } else {
                f.with_remediation(
                    "Continuity controls (SecNumCloud 3.2, NIST CP-10) expect a standby in another \
                     zone with automatic failover (RDS Multi-AZ, Cloud SQL regional, Azure \
                     zone-redundant HA).",
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers() {
        assert_eq!(ident("scrydon"), "scrydon");
        assert_eq!(ident("auth_2"), "auth_2");
        assert_eq!(ident("Scrydon"), "\"Scrydon\"");
        assert_eq!(ident("my-db"), "\"my-db\"");
        assert_eq!(ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(ident("user"), "\"user\"");
        assert_eq!(ident("2x"), "\"2x\"");
    }

    #[test]
    fn comma_lists() {
        assert!(list_contains("PG_TRGM, vector ,hstore", "VECTOR"));
        assert!(list_contains("VECTOR", "vector"));
        assert!(!list_contains("PG_TRGM,VECTORS", "vector"));
        assert!(!list_contains("", "vector"));
    }

    #[test]
    fn pooler_hints() {
        let hint = |s: &str| pooler_hint(&Dsn::parse(s).unwrap()).map(|(_, t)| t);
        assert_eq!(
            hint("postgres://postgres.ref:pw@aws-0-eu-central-1.pooler.supabase.com:6543/postgres"),
            Some(true)
        );
        assert_eq!(
            hint("postgres://postgres.ref:pw@aws-0-eu-central-1.pooler.supabase.com:5432/postgres"),
            Some(false)
        );
        assert_eq!(
            hint("postgres://u@ep-cool-darkness-123456-pooler.us-east-2.aws.neon.tech/db"),
            Some(true)
        );
        assert_eq!(
            hint("postgres://u@ep-cool-darkness-123456.us-east-2.aws.neon.tech/db"),
            None
        );
        assert_eq!(hint("postgres://u@pgbouncer.internal:6432/db"), Some(false));
        assert_eq!(hint("postgres://u@db.internal/db"), None);
    }
}

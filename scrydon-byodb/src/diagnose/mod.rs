//! Every failure explained, the way the runbook's Troubleshooting section does.
//!
//! One table maps a failure kind to a [`Diagnosis`]: a stable id, what it means, what to do, and
//! the runbook entry it corresponds to. Every other part of the crate (connect, preflight,
//! bootstrap, restore, verify) turns its failures into diagnoses here, so an operator reads the
//! same advice for the same failure wherever it shows up. Classification happens before this
//! table — by SQLSTATE, I/O error kind and TLS error, never by message text.

use serde::Serialize;

use crate::{ConnectFailure, Error};

/// The runbook's Troubleshooting entries a diagnosis can point to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RunbookEntry {
    /// "CREATE EXTENSION vector fails".
    CreateExtensionVectorFails,
    /// "App pods CrashLoopBackOff with ECONNREFUSED or SSL required".
    ConnRefusedOrSslRequired,
    /// "Migrations hang".
    MigrationsHang,
    /// "Dapr workflow state table not found".
    DaprWorkflowStateTable,
    /// "Pre-create databases and extension".
    PreCreateDatabases,
    /// Provider notes (TLS, CA bundles).
    ProviderNotes,
}

impl RunbookEntry {
    /// The heading of the runbook section, as written there.
    pub fn heading(self) -> &'static str {
        match self {
            RunbookEntry::CreateExtensionVectorFails => {
                "Troubleshooting: CREATE EXTENSION vector fails"
            }
            RunbookEntry::ConnRefusedOrSslRequired => {
                "Troubleshooting: App pods CrashLoopBackOff with ECONNREFUSED or SSL required"
            }
            RunbookEntry::MigrationsHang => "Troubleshooting: Migrations hang",
            RunbookEntry::DaprWorkflowStateTable => {
                "Troubleshooting: Dapr workflow state table not found"
            }
            RunbookEntry::PreCreateDatabases => "Pre-create databases and extension",
            RunbookEntry::ProviderNotes => "Provider notes",
        }
    }
}

/// What a failure means and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnosis {
    /// Stable identifier (`connect.refused`, `connect.server_requires_tls`, ...).
    pub id: &'static str,
    /// One line: what happened.
    pub summary: &'static str,
    /// What to do, in the operator's terms.
    pub remediation: &'static str,
    /// The runbook entry this corresponds to, if any.
    pub runbook: Option<RunbookEntry>,
}

/// One row of the table.
struct Row {
    failure: ConnectFailure,
    diagnosis: Diagnosis,
}

const fn row(
    failure: ConnectFailure,
    id: &'static str,
    summary: &'static str,
    remediation: &'static str,
    runbook: Option<RunbookEntry>,
) -> Row {
    Row {
        failure,
        diagnosis: Diagnosis {
            id,
            summary,
            remediation,
            runbook,
        },
    }
}

use ConnectFailure as F;
use RunbookEntry as R;

const CONNECT: &[Row] = &[
    row(
        F::Refused,
        "connect.refused",
        "Nothing accepted the connection at that host and port.",
        "Check the DSN's host and port against the provider's endpoint, that the server is running, and that a network policy or security group/firewall allows egress from the cluster to the database.",
        Some(R::ConnRefusedOrSslRequired),
    ),
    row(
        F::Dns,
        "connect.dns",
        "The host name in the DSN does not resolve.",
        "Check the host name for typos; with private networking, check that the private DNS zone is linked to the cluster's network.",
        Some(R::ConnRefusedOrSslRequired),
    ),
    row(
        F::Timeout,
        "connect.timeout",
        "No answer within the connect timeout.",
        "A firewall or security group is probably dropping the traffic: allow the cluster's egress addresses, or use private networking (VPC peering, Private Service Connect, a private endpoint).",
        Some(R::ConnRefusedOrSslRequired),
    ),
    row(
        F::ServerRequiresTls,
        "connect.server_requires_tls",
        "The server accepts only encrypted connections and the DSN asked for none.",
        "Use sslmode=require at least, verify-full with the provider's CA bundle (sslrootcert=...) preferably.",
        Some(R::ConnRefusedOrSslRequired),
    ),
    row(
        F::ServerDoesNotSupportTls,
        "connect.server_does_not_support_tls",
        "The DSN requires TLS and the server does not offer it.",
        "Enable TLS on the server (ssl=on with a certificate), or point the DSN at the managed endpoint, which terminates TLS itself.",
        Some(R::ConnRefusedOrSslRequired),
    ),
    row(
        F::CertificateUntrusted,
        "connect.certificate_untrusted",
        "The server's certificate does not chain to the CA bundle given in sslrootcert.",
        "Download the provider's CA bundle (RDS global bundle, Azure's DigiCert/Microsoft roots, Cloud SQL server CA) and point sslrootcert at it; a bundle for the wrong region or an expired CA gives this error.",
        Some(R::ProviderNotes),
    ),
    row(
        F::CertificateNameMismatch,
        "connect.certificate_name_mismatch",
        "The certificate is trusted but was not issued for the host name in the DSN.",
        "Use the provider's endpoint host name exactly as issued (not an IP address or a CNAME of your own), or sslmode=verify-ca if you connect through an alias you cannot avoid.",
        Some(R::ProviderNotes),
    ),
    row(
        F::CertificateExpired,
        "connect.certificate_expired",
        "The server's certificate has expired or is not yet valid.",
        "Rotate the server certificate (on RDS: modify the instance's CA certificate identifier); check the client clock.",
        Some(R::ProviderNotes),
    ),
    row(
        F::TlsHandshake,
        "connect.tls_handshake",
        "The TLS handshake failed (protocol version, cipher, or a client certificate the server required).",
        "Check ssl_min_protocol_version on the server and that sslcert/sslkey are given when the server requires client certificates.",
        Some(R::ConnRefusedOrSslRequired),
    ),
    row(
        F::AuthenticationFailed,
        "connect.authentication_failed",
        "The server rejected the user name or password.",
        "Check the role name and password in the DSN (on Supabase the pooled user is postgres.<project-ref>); re-set the password with scrydon-byodb bootstrap --reset-password if it was lost.",
        Some(R::ConnRefusedOrSslRequired),
    ),
    row(
        F::DatabaseMissing,
        "connect.database_missing",
        "The database named in the DSN does not exist.",
        "Create it before helm install (scrydon-byodb bootstrap does); a missing database is what puts the migration Jobs in CrashLoopBackOff.",
        Some(R::PreCreateDatabases),
    ),
    row(
        F::PermissionDenied,
        "connect.permission_denied",
        "The role may not connect to this database: it lacks the CONNECT privilege.",
        "Grant it (GRANT CONNECT ON DATABASE <db> TO <role>;) or make the role the database's owner; REVOKE CONNECT ... FROM PUBLIC takes it from every role that is not granted it explicitly.",
        Some(R::MigrationsHang),
    ),
    row(
        F::TooManyConnections,
        "connect.too_many_connections",
        "The server has no free connection slots.",
        "Put PgBouncer or the provider's pooler in front, lower the pool sizes, or move to a tier with more max_connections.",
        None,
    ),
    row(
        F::ServerUnavailable,
        "connect.server_unavailable",
        "The server is starting up, shutting down or in recovery.",
        "Wait for the server to finish starting (a Neon endpoint waking up, a failover in progress) and retry.",
        None,
    ),
    row(
        F::ChannelBindingUnavailable,
        "connect.channel_binding_unavailable",
        "channel_binding=require, but the server did not use SCRAM with channel binding.",
        "Use TLS (sslmode=require or stronger) with SCRAM-SHA-256 passwords (password_encryption=scram-sha-256), or drop channel_binding=require.",
        None,
    ),
    row(
        F::NoSuitableHost,
        "connect.no_suitable_host",
        "Every host answered, but none matched target_session_attrs.",
        "Point the DSN at the primary (writer) endpoint, or relax target_session_attrs.",
        None,
    ),
    row(
        F::Other,
        "connect.other",
        "The connection failed for a reason not classified further.",
        "Run scrydon-byodb connect <DSN> for details and check the server log.",
        None,
    ),
];

/// The diagnosis for a connection failure.
pub fn for_connect_failure(failure: ConnectFailure) -> &'static Diagnosis {
    CONNECT
        .iter()
        .find(|r| r.failure == failure)
        .map(|r| &r.diagnosis)
        .unwrap_or(&CONNECT[CONNECT.len() - 1].diagnosis)
}

/// The diagnosis for an error, when it is a failure the table knows.
pub fn for_error(error: &Error) -> Option<&'static Diagnosis> {
    error.connect_failure().map(for_connect_failure)
}

// --- failures a server reports with a SQLSTATE, by what was being done --------------------------

/// Stable ids of the diagnoses beyond connection failures (those are `connect.<failure id>`).
pub mod ids {
    /// The server has no pgvector package for this version or tier.
    pub const VECTOR_NOT_AVAILABLE: &str = "extension.vector_not_available";
    /// pgvector is installed but the provider's allow-list (`azure.extensions`,
    /// `rds.allowed_extensions`) does not permit it.
    pub const EXTENSION_NOT_ALLOW_LISTED: &str = "extension.not_allow_listed";
    /// The role may not create the extension (not trusted, not superuser / `rds_superuser` /
    /// `azure_pg_admin` / `cloudsqlsuperuser`).
    pub const EXTENSION_PERMISSION_DENIED: &str = "extension.permission_denied";
    /// The role lacks CREATE on the database or schema: migrations fail or hang.
    pub const ROLE_LACKS_CREATE: &str = "privilege.role_lacks_create";
    /// A Dapr state table already exists: the tablePrefix collides with an earlier user of the
    /// database.
    pub const DAPR_TABLE_PREFIX_COLLISION: &str = "dapr.table_prefix_collision";
    /// A Dapr state table is missing (its component has not created it, or the role cannot).
    pub const DAPR_STATE_TABLE_MISSING: &str = "dapr.state_table_missing";
    /// Prepared statements vanish between transactions: a pooler in transaction mode.
    pub const POOLER_TRANSACTION_MODE: &str = "pooler.transaction_mode";
    /// The object a migration or restore creates exists already: the database is not empty.
    pub const OBJECT_EXISTS: &str = "database.object_exists";
}

/// What was being done when the server answered with a SQLSTATE: the same code means different
/// things in different places (42501 while connecting is a missing CONNECT grant, during
/// `CREATE TABLE` a missing CREATE).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SqlContext {
    /// Establishing a connection.
    Connect,
    /// `CREATE EXTENSION`; `available` says whether the extension is in
    /// `pg_available_extensions` (installed on the server).
    CreateExtension {
        /// Whether the extension's files are installed on the server.
        available: bool,
    },
    /// Migrations or a restore creating schemas, tables, indexes.
    Ddl,
    /// Dapr's state store creating or using its tables (`dapr_workflow_state`, ...).
    DaprState,
    /// Ordinary statements (prepared, executed) from an application.
    Statement,
}

const fn diag(
    id: &'static str,
    summary: &'static str,
    remediation: &'static str,
    runbook: Option<RunbookEntry>,
) -> Diagnosis {
    Diagnosis {
        id,
        summary,
        remediation,
        runbook,
    }
}

const SQL: &[Diagnosis] = &[
    diag(
        ids::VECTOR_NOT_AVAILABLE,
        "pgvector is not available on this server: its version or tier has no vector package.",
        "Upgrade the instance to a version/tier that ships pgvector (PostgreSQL 15.3+ on RDS/Aurora; any supported version on Cloud SQL, Azure Flexible Server, Supabase, Neon). There is no workaround.",
        Some(R::CreateExtensionVectorFails),
    ),
    diag(
        ids::EXTENSION_NOT_ALLOW_LISTED,
        "pgvector is installed but the provider's extension allow-list does not permit it.",
        "Azure: add VECTOR to the azure.extensions server parameter; RDS with rds.allowed_extensions set: add vector to it. Then CREATE EXTENSION vector as the administrator.",
        Some(R::CreateExtensionVectorFails),
    ),
    diag(
        ids::EXTENSION_PERMISSION_DENIED,
        "The role may not create this extension.",
        "Create it as the administrator (rds_superuser, azure_pg_admin, cloudsqlsuperuser, postgres) in each database that needs it, before the migrations run: CREATE EXTENSION IF NOT EXISTS vector;",
        Some(R::PreCreateDatabases),
    ),
    diag(
        ids::ROLE_LACKS_CREATE,
        "The role lacks the CREATE privilege on the database or schema, so it cannot create its tables.",
        "Make the app role the database's owner (ALTER DATABASE <db> OWNER TO <role>) or grant it: GRANT CREATE ON DATABASE <db> TO <role>; GRANT CREATE ON SCHEMA public TO <role>; (PostgreSQL 15 no longer grants CREATE on public to everyone).",
        Some(R::MigrationsHang),
    ),
    diag(
        ids::DAPR_TABLE_PREFIX_COLLISION,
        "A Dapr state table with this name already exists: the database was used by another Dapr installation.",
        "Use a fresh database, or give the state store components distinct tablePrefix values so dapr_workflow_state / analytics_dapr_workflow_state do not collide with the existing tables.",
        Some(R::DaprWorkflowStateTable),
    ),
    diag(
        ids::DAPR_STATE_TABLE_MISSING,
        "A Dapr state table does not exist.",
        "Dapr creates its schema on first start; check the sidecar's logs for the reason it could not (usually a role without CREATE) and restart the pod.",
        Some(R::DaprWorkflowStateTable),
    ),
    diag(
        ids::POOLER_TRANSACTION_MODE,
        "A prepared statement disappeared or already existed on the server connection: a pooler in transaction mode hands each transaction a different server session.",
        "Point migrations and apps at the direct (session) endpoint (port 5432 on Supabase, the non-pooled Neon host), or set the pooler to session mode; with PgBouncer 1.21+ set max_prepared_statements.",
        None,
    ),
    diag(
        ids::OBJECT_EXISTS,
        "An object the migration or restore creates already exists: the database is not empty.",
        "Restore into an empty database (drop and re-create it), or restore with --clean.",
        None,
    ),
];

/// A diagnosis by its id (connection failures included).
pub fn by_id(id: &str) -> Option<&'static Diagnosis> {
    SQL.iter()
        .chain(CONNECT.iter().map(|r| &r.diagnosis))
        .find(|d| d.id == id)
}

fn sql(id: &str) -> Option<&'static Diagnosis> {
    SQL.iter().find(|d| d.id == id)
}

/// One rule: a SQLSTATE (or class, with `*` as the last character) in a context.
struct Rule {
    code: &'static str,
    context: fn(SqlContext) -> bool,
    id: &'static str,
}

const fn rule(code: &'static str, context: fn(SqlContext) -> bool, id: &'static str) -> Rule {
    Rule { code, context, id }
}

fn ext_missing(c: SqlContext) -> bool {
    matches!(c, SqlContext::CreateExtension { available: false })
}
fn ext_installed(c: SqlContext) -> bool {
    matches!(c, SqlContext::CreateExtension { available: true })
}
fn ddl(c: SqlContext) -> bool {
    matches!(c, SqlContext::Ddl | SqlContext::DaprState)
}
fn dapr(c: SqlContext) -> bool {
    matches!(c, SqlContext::DaprState)
}
fn not_connect(c: SqlContext) -> bool {
    !matches!(c, SqlContext::Connect)
}

/// First match wins.
const RULES: &[Rule] = &[
    // CREATE EXTENSION of an extension whose files are not installed: 58P01 (undefined_file,
    // "could not open extension control file") up to PostgreSQL 15, 0A000 from 16 on.
    rule("58P01", ext_missing, ids::VECTOR_NOT_AVAILABLE),
    rule("0A000", ext_missing, ids::VECTOR_NOT_AVAILABLE),
    rule("42501", ext_missing, ids::VECTOR_NOT_AVAILABLE),
    // Installed, but refused: an allow-list (Azure raises 0A000) or a privilege (42501).
    rule("0A000", ext_installed, ids::EXTENSION_NOT_ALLOW_LISTED),
    rule("42501", ext_installed, ids::EXTENSION_PERMISSION_DENIED),
    rule("42P07", dapr, ids::DAPR_TABLE_PREFIX_COLLISION),
    rule("42710", dapr, ids::DAPR_TABLE_PREFIX_COLLISION),
    rule("42P01", dapr, ids::DAPR_STATE_TABLE_MISSING),
    rule("42501", ddl, ids::ROLE_LACKS_CREATE),
    rule("42P07", ddl, ids::OBJECT_EXISTS),
    rule("42710", ddl, ids::OBJECT_EXISTS),
    // Prepared statements through a transaction-mode pooler: "does not exist" (26000) on another
    // server session, "already exists" (42P05) on a reused one.
    rule("26000", not_connect, ids::POOLER_TRANSACTION_MODE),
    rule("42P05", not_connect, ids::POOLER_TRANSACTION_MODE),
];

/// The diagnosis for a server error with this SQLSTATE while doing `context`, if the table knows
/// it. Connection-level codes (28P01 and class 28, 3D000, 53300, 57P0x; 42501 while connecting)
/// give the `connect.*` diagnoses in any context.
pub fn for_sqlstate(
    code: &tokio_postgres::error::SqlState,
    context: SqlContext,
) -> Option<&'static Diagnosis> {
    let c = code.code();
    if let Some(r) = RULES.iter().find(|r| r.code == c && (r.context)(context)) {
        return sql(r.id);
    }
    if c.starts_with("28")
        || matches!(c, "3D000" | "53300" | "57P01" | "57P02" | "57P03")
        || (c == "42501" && context == SqlContext::Connect)
    {
        return Some(for_connect_failure(crate::connect::failure_for_sqlstate(
            code,
        )));
    }
    None
}

/// The diagnosis for a server error carried by an [`Error::Database`], in this context.
pub fn for_database_error(error: &Error, context: SqlContext) -> Option<&'static Diagnosis> {
    match error {
        Error::Database { source, .. } => source.code().and_then(|c| for_sqlstate(c, context)),
        Error::Connect { failure, .. } => Some(for_connect_failure(*failure)),
        _ => None,
    }
}

/// Why an extension a restore or migration needs is missing afterwards, from whether the server
/// has it installed (`pg_available_extensions`): not available at all, or available but the
/// role could not create it.
pub fn for_missing_extension(available: bool) -> &'static Diagnosis {
    let id = if available {
        ids::EXTENSION_PERMISSION_DENIED
    } else {
        ids::VECTOR_NOT_AVAILABLE
    };
    sql(id).unwrap_or(&CONNECT[CONNECT.len() - 1].diagnosis)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: &[ConnectFailure] = &[
        F::Refused,
        F::Dns,
        F::Timeout,
        F::ServerRequiresTls,
        F::ServerDoesNotSupportTls,
        F::CertificateUntrusted,
        F::CertificateNameMismatch,
        F::CertificateExpired,
        F::TlsHandshake,
        F::AuthenticationFailed,
        F::DatabaseMissing,
        F::PermissionDenied,
        F::TooManyConnections,
        F::ServerUnavailable,
        F::ChannelBindingUnavailable,
        F::NoSuitableHost,
        F::Other,
    ];

    /// Fails to compile when a failure kind is added without being listed in `ALL`.
    #[allow(dead_code)]
    fn all_is_exhaustive(f: ConnectFailure) {
        match f {
            F::Refused
            | F::Dns
            | F::Timeout
            | F::ServerRequiresTls
            | F::ServerDoesNotSupportTls
            | F::CertificateUntrusted
            | F::CertificateNameMismatch
            | F::CertificateExpired
            | F::TlsHandshake
            | F::AuthenticationFailed
            | F::DatabaseMissing
            | F::PermissionDenied
            | F::TooManyConnections
            | F::ServerUnavailable
            | F::ChannelBindingUnavailable
            | F::NoSuitableHost
            | F::Other => {}
        }
    }

    #[test]
    fn every_connect_failure_has_its_own_row() {
        for f in ALL {
            let d = for_connect_failure(*f);
            assert_eq!(d.id, format!("connect.{}", f.id()), "row for {f:?}");
        }
        assert_eq!(CONNECT.len(), ALL.len(), "one row per failure kind");
    }

    #[test]
    fn ids_are_unique() {
        let mut ids: Vec<_> = CONNECT
            .iter()
            .map(|r| r.diagnosis.id)
            .chain(SQL.iter().map(|d| d.id))
            .collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), CONNECT.len() + SQL.len());
    }

    #[test]
    fn every_rule_names_a_row() {
        for r in RULES {
            assert!(sql(r.id).is_some(), "rule {} -> {}", r.code, r.id);
        }
    }
}

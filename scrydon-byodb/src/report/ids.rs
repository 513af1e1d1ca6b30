//! Every finding id, in one place.
//!
//! Ids are stable: tools and tests match on them. They are `<module>.<what>`; add new ones here,
//! documented, and to their module's list ([`RENDER`], [`PREFLIGHT`], [`BOOTSTRAP`],
//! [`COMPLIANCE`], [`PROVIDER`], [`RESTORE`], [`VERIFY`]); [`all`] derives the whole set from
//! those lists. The `restore` and `verify` modules re-export theirs under short names
//! (`restore::ids::COMPLETE`).

// --- render: chart configuration (runbook: Configuration, Mode A, Mode B, Migrations) ----------

/// `infra.db.enabled` is not `false`: the bundled PostgreSQL would still be deployed and used.
/// Fail.
pub const RENDER_INFRA_DB_ENABLED: &str = "render.infra_db_enabled";
/// `infra.db.tls.enabled` or `infra.db.backup.enabled` is not `false`; the runbook turns both off
/// with a managed database (the backup CronJob only covers the in-cluster database). Warn.
pub const RENDER_BUNDLED_EXTRAS_ENABLED: &str = "render.bundled_extras_enabled";
/// An enabled component has neither `existingSecrets.<app>` nor `<app>Url`: it has no database.
/// Fail.
pub const RENDER_COMPONENT_UNCONFIGURED: &str = "render.component_unconfigured";
/// Both `existingSecrets.<app>` and `<app>Url` are set; Mode A wins and the URL is ignored (a
/// DSN left in values for nothing). Warn.
pub const RENDER_BOTH_MODES_SET: &str = "render.both_modes_set";
/// Two apps name the same Secret in the same namespace; apps reading `DATABASE_URL` would share
/// one database. Fail.
pub const RENDER_SECRET_SHARED: &str = "render.secret_shared";
/// An app's Secret lacks the key that app reads (`DATABASE_URL` where analytics reads
/// `DATABASE_URL_ANALYTICS`). Fail.
pub const RENDER_SECRET_WRONG_KEY: &str = "render.secret_wrong_key";
/// An app's Secret carries keys besides the one it reads; envFrom injects them all. Warn.
pub const RENDER_SECRET_EXTRA_KEY: &str = "render.secret_extra_key";
/// An app's Secret exists only in a namespace other than the app's. Fail.
pub const RENDER_SECRET_WRONG_NAMESPACE: &str = "render.secret_wrong_namespace";
/// A Secret manifest has no namespace; it lands wherever `kubectl` points. Warn.
pub const RENDER_SECRET_NAMESPACE_UNSET: &str = "render.secret_namespace_unset";
/// No manifest among those checked creates an app's Secret (it may be made elsewhere). Warn.
pub const RENDER_SECRET_NOT_FOUND: &str = "render.secret_not_found";
/// An app's Secret value ends with a line break (`echo "$DSN" > file` before
/// `kubectl create secret --from-file`): the last DSN parameter carries it. Fail.
pub const RENDER_SECRET_TRAILING_NEWLINE: &str = "render.secret_trailing_newline";
/// A DSN (in a Secret or in values, after the chart appends `sslMode`) does not parse. Fail.
pub const RENDER_DSN_INVALID: &str = "render.dsn_invalid";
/// A DSN's dbname is not its component's database. Fail when it is another component's database
/// or absent (libpq would use the user name); Warn when it is a custom name.
pub const RENDER_DSN_DBNAME_MISMATCH: &str = "render.dsn_dbname_mismatch";
/// Two apps' DSNs point at the same database on the same server. Fail.
pub const RENDER_DSN_SHARED_DATABASE: &str = "render.dsn_shared_database";
/// A DSN has no `sslmode` (libpq's default `prefer` falls back to plaintext). Fail in
/// production, Warn in staging.
pub const RENDER_DSN_SSLMODE_MISSING: &str = "render.dsn_sslmode_missing";
/// A DSN's `sslmode` is `disable`, `allow` or `prefer`. Fail in production, Warn in staging.
pub const RENDER_DSN_SSLMODE_WEAK: &str = "render.dsn_sslmode_weak";
/// A Mode B URL already carries `sslmode` and `sslMode` is set too: the chart appends a second
/// one. Fail.
pub const RENDER_SSLMODE_DUPLICATED: &str = "render.sslmode_duplicated";
/// A Mode B URL has a query string and `sslMode` is set: the chart appends `?sslmode=` and the
/// URL ends up with two `?`. Fail.
pub const RENDER_SSLMODE_APPEND_MALFORMED: &str = "render.sslmode_append_malformed";
/// Mode B under the production profile: DSNs sit in values files, CI logs and
/// `helm get values`. Warn.
pub const RENDER_MODE_B_IN_PRODUCTION: &str = "render.mode_b_in_production";
/// A key under `namespaces` that names no component. Warn.
pub const RENDER_UNKNOWN_NAMESPACE_KEY: &str = "render.unknown_namespace_key";
/// Render note: `sslmode` written into each DSN instead of the global `sslMode`, because a DSN
/// carries its own query string. Pass.
pub const RENDER_SSLMODE_INLINED: &str = "render.sslmode_inlined";
/// Render note: a DSN already carries `sslmode`; it was kept and not set again. Pass.
pub const RENDER_SSLMODE_KEPT: &str = "render.sslmode_kept";
/// Render note: a setting already in the customer's `infra.db.external` was replaced or removed.
/// Pass.
pub const RENDER_VALUES_ENTRY_REPLACED: &str = "render.values_entry_replaced";
/// Render note: no chart version given; the helm commands carry `<version>`. Warn.
pub const RENDER_CHART_VERSION_UNSET: &str = "render.chart_version_unset";

// --- preflight: the runbook's Prerequisites and Provider notes, against the live server --------

/// A connection preflight needed (the admin DSN, or a component's database) failed. Fail; the
/// finding carries the [`diagnosis`](crate::diagnose) id (`connect.refused`, ...).
pub const PREFLIGHT_CONNECT: &str = "preflight.connect";
/// Which provider runs the server, from the host name and the server's settings. Pass (a note).
pub const PREFLIGHT_PROVIDER: &str = "preflight.provider";
/// `server_version_num` is at least 150000 (150003 on RDS/Aurora, for pgvector). Fail below.
pub const PREFLIGHT_SERVER_VERSION: &str = "preflight.server_version";
/// pgvector is in `pg_available_extensions` (observed: its default version). Fail when missing
/// and an enabled component needs it; Skip when none does.
pub const PREFLIGHT_VECTOR_AVAILABLE: &str = "preflight.vector_available";
/// pgvector is installed in a component's database (Pass), or not yet but the admin can install
/// it (Warn, with the SQL), or not and nobody here can (Fail). Per component that needs it.
pub const PREFLIGHT_VECTOR_INSTALLED: &str = "preflight.vector_installed";
/// A component's database exists. Fail when missing (the migration Job would CrashLoop).
pub const PREFLIGHT_DATABASE_EXISTS: &str = "preflight.database_exists";
/// The migration role exists and has LOGIN. Fail otherwise.
pub const PREFLIGHT_ROLE_EXISTS: &str = "preflight.role_exists";
/// The migration role may connect to a component's database (CONNECT, `datallowconn`). Fail.
pub const PREFLIGHT_ROLE_CONNECT: &str = "preflight.role_connect";
/// The migration role may create the `drizzle` schema in a component's database (CREATE on the
/// database, or CREATE on an existing `drizzle` schema). Fail.
pub const PREFLIGHT_ROLE_CREATE_SCHEMA: &str = "preflight.role_create_schema";
/// The migration role may create objects in schema `public`. Fail when not; Warn when it may
/// only because PUBLIC may (pre-15 ACLs kept by a database created from an upgraded template1).
pub const PREFLIGHT_ROLE_CREATE_PUBLIC: &str = "preflight.role_create_public";
/// The preflight session is encrypted (client side and `pg_stat_ssl`), with the protocol and how
/// the certificate was verified. Fail when plaintext; Warn when TLS ends before the server.
pub const PREFLIGHT_TLS_SESSION: &str = "preflight.tls_session";
/// The DSNs' `sslmode`: Fail below `require`, Warn for `require`/`verify-ca`, Pass for
/// `verify-full`.
pub const PREFLIGHT_TLS_SSLMODE: &str = "preflight.tls_sslmode";
/// The server refuses a plaintext connection (an active probe that stops before any
/// credential is sent). Fail when plaintext is accepted.
pub const PREFLIGHT_TLS_ENFORCED: &str = "preflight.tls_enforced";
/// `max_connections` minus the reserved slots against the expected demand. Fail when demand
/// exceeds it; Warn near the limit or under 100 without a pooler.
pub const PREFLIGHT_CAPACITY: &str = "preflight.capacity";
/// A transaction-mode pooler (PgBouncer, Supavisor on 6543, Neon `-pooler`) in front: Warn,
/// migrations need the direct or a session-mode endpoint. Pass when none is seen.
pub const PREFLIGHT_POOLER: &str = "preflight.pooler";
/// Tables named like Dapr's workflow state (`dapr_workflow_state*`,
/// `analytics_dapr_workflow_state*`) already exist in a component's database. Warn.
pub const PREFLIGHT_DAPR_STATE_TABLES: &str = "preflight.dapr_state_tables";
/// `rds.force_ssl` is 1. Fail when 0; Skip when the server has no such setting.
pub const PREFLIGHT_RDS_FORCE_SSL: &str = "preflight.rds_force_ssl";
/// `rds.allowed_extensions` allows `vector`. Fail when not; Skip when unset.
pub const PREFLIGHT_RDS_ALLOWED_EXTENSIONS: &str = "preflight.rds_allowed_extensions";
/// `azure.extensions` lists VECTOR. Fail when not (Warn when pgvector is already installed
/// everywhere); Skip when the server has no such setting.
pub const PREFLIGHT_AZURE_EXTENSIONS: &str = "preflight.azure_extensions";
/// The provider's configured parameters against the live ones (a change pending a restart).
/// Skip when the provider cannot read parameters.
pub const PREFLIGHT_PROVIDER_PARAMETERS: &str = "preflight.provider_parameters";
/// Automated backups and point-in-time recovery, from the provider. Skip when the provider
/// cannot tell.
pub const PREFLIGHT_BACKUP: &str = "preflight.backup";
/// Standbys and automatic failover, from the provider. Skip when the provider cannot tell.
pub const PREFLIGHT_HIGH_AVAILABILITY: &str = "preflight.high_availability";

/// Every preflight id, in report order.
pub const PREFLIGHT: &[&str] = &[
    PREFLIGHT_CONNECT,
    PREFLIGHT_PROVIDER,
    PREFLIGHT_SERVER_VERSION,
    PREFLIGHT_VECTOR_AVAILABLE,
    PREFLIGHT_VECTOR_INSTALLED,
    PREFLIGHT_DATABASE_EXISTS,
    PREFLIGHT_ROLE_EXISTS,
    PREFLIGHT_ROLE_CONNECT,
    PREFLIGHT_ROLE_CREATE_SCHEMA,
    PREFLIGHT_ROLE_CREATE_PUBLIC,
    PREFLIGHT_TLS_SESSION,
    PREFLIGHT_TLS_SSLMODE,
    PREFLIGHT_TLS_ENFORCED,
    PREFLIGHT_CAPACITY,
    PREFLIGHT_POOLER,
    PREFLIGHT_DAPR_STATE_TABLES,
    PREFLIGHT_RDS_FORCE_SSL,
    PREFLIGHT_RDS_ALLOWED_EXTENSIONS,
    PREFLIGHT_AZURE_EXTENSIONS,
    PREFLIGHT_PROVIDER_PARAMETERS,
    PREFLIGHT_BACKUP,
    PREFLIGHT_HIGH_AVAILABILITY,
];

// --- bootstrap: the runbook's "Pre-create databases and extension" ---------------------------

/// The admin lacks what a planned step needs (`CREATEROLE` to create the app role, `CREATEDB`,
/// or a way to `SET ROLE` to the app role to create a database it owns). Fail; blocks the plan.
pub const BOOTSTRAP_ADMIN_PRIVILEGES: &str = "bootstrap.admin_privileges";
/// pgvector is needed and not in `pg_available_extensions`. Fail; blocks the plan.
pub const BOOTSTRAP_VECTOR_UNAVAILABLE: &str = "bootstrap.vector_unavailable";
/// The provider's allow-list (`rds.allowed_extensions`, `azure.extensions`) keeps out pgvector
/// and no provider that can change it was given. Fail; blocks the plan; the fix is the command.
pub const BOOTSTRAP_VECTOR_NOT_ALLOWED: &str = "bootstrap.vector_not_allowed";
/// pgvector is needed and the admin is neither a superuser nor a member of the provider's
/// administrator role (pgvector is not a trusted extension). Fail; blocks the plan.
pub const BOOTSTRAP_VECTOR_NEEDS_SUPERUSER: &str = "bootstrap.vector_needs_superuser";
/// A component's database exists and is owned by another role (or refuses connections); it is
/// left alone, not seized. Fail (a note of the plan; the other databases proceed).
pub const BOOTSTRAP_DATABASE_FOREIGN_OWNER: &str = "bootstrap.database_foreign_owner";
/// The app role exists with attributes other than `LOGIN CREATEDB` (left unchanged). Warn; Fail
/// without `LOGIN`.
pub const BOOTSTRAP_ROLE_ATTRIBUTES: &str = "bootstrap.role_attributes";
/// As the app role, in a component's database: create a schema, tables, a vector column and an
/// hnsw index, rolled back. Pass, Fail, or Skip without a password.
pub const BOOTSTRAP_PROOF: &str = "bootstrap.proof";

/// Every bootstrap id.
pub const BOOTSTRAP: &[&str] = &[
    BOOTSTRAP_ADMIN_PRIVILEGES,
    BOOTSTRAP_VECTOR_UNAVAILABLE,
    BOOTSTRAP_VECTOR_NOT_ALLOWED,
    BOOTSTRAP_VECTOR_NEEDS_SUPERUSER,
    BOOTSTRAP_DATABASE_FOREIGN_OWNER,
    BOOTSTRAP_ROLE_ATTRIBUTES,
    BOOTSTRAP_PROOF,
];

// --- compliance: the runbook's "Compliance mapping", evidence read over SQL ---------------------

/// WAL archiving, the basis of point-in-time recovery: `archive_mode` and `archive_command` /
/// `archive_library`, and `pg_stat_archiver`. Pass when on with a command or library that keeps
/// the WAL; Warn when the command discards it (`/bin/true`) or archiving is failing; Fail when
/// off. Works on every provider (managed ones show their own archiver).
pub const COMPLIANCE_WAL_ARCHIVING: &str = "compliance.wal_archiving";
/// Synchronous replication: `synchronous_standby_names` and the standbys in
/// `pg_stat_replication` with `sync_state` `sync` or `quorum`. Pass with a synchronous standby
/// streaming and `synchronous_commit` waiting for it; Warn with asynchronous standbys only,
/// with `synchronous_commit` `off`/`local`, or when the role cannot see `pg_stat_replication`'s
/// details; Fail with no standby.
pub const COMPLIANCE_SYNC_REPLICATION: &str = "compliance.sync_replication";
/// The server's TLS settings: `ssl` on and `ssl_min_protocol_version` at least TLSv1.2. Fail when
/// `ssl` is off; Warn below TLSv1.2.
pub const COMPLIANCE_SERVER_TLS: &str = "compliance.server_tls";
/// `password_encryption` is `scram-sha-256` (Pass) or `md5` (Warn).
pub const COMPLIANCE_PASSWORD_ENCRYPTION: &str = "compliance.password_encryption";

/// Every compliance evidence id read over SQL, in report order.
pub const COMPLIANCE: &[&str] = &[
    COMPLIANCE_WAL_ARCHIVING,
    COMPLIANCE_SYNC_REPLICATION,
    COMPLIANCE_SERVER_TLS,
    COMPLIANCE_PASSWORD_ENCRYPTION,
];

// --- provider: what only the provider's API can tell (runbook: Provider notes) -----------------
//
// Emitted by a provider's [`Provider::findings`](crate::provider::Provider::findings) (the cloud
// crates), into the preflight report and, for TLS, the compliance report. Each provider emits
// those that apply to it.

/// The provider's API could not be read for its findings (credentials, permissions, throttling,
/// the instance not found). Warn; the error, without secrets, is the observation.
pub const PROVIDER_API: &str = "provider.api";
/// The server's configuration requires TLS for every connection: `rds.force_ssl` in the
/// parameter group, Cloud SQL `settings.ipConfiguration.sslMode` (`requireSsl` only when
/// `sslMode` is unset), Azure `require_secure_transport`. Fail when plaintext is accepted.
pub const PROVIDER_TLS_ENFORCED: &str = "provider.tls_enforced";
/// The configured minimum TLS protocol version (Azure `ssl_min_protocol_version`). Pass at
/// TLSv1.2 or above; Warn below.
pub const PROVIDER_TLS_MIN_VERSION: &str = "provider.tls_min_version";
/// The provider's extension allow-list as configured through its API (`azure.extensions`,
/// `rds.allowed_extensions`) lets `CREATE EXTENSION vector` through. Fail when it does not.
pub const PROVIDER_EXTENSION_ALLOWED: &str = "provider.extension_allowed";
/// The server is reachable from the public internet (public network access, a public IP).
/// Warn (the runbook asks for private networking); Pass when private only.
pub const PROVIDER_PUBLIC_NETWORK: &str = "provider.public_network";
/// A configuration change is saved but waits for a restart to apply. Warn.
pub const PROVIDER_PENDING_RESTART: &str = "provider.pending_restart";
/// IAM / Entra ID database authentication (`cloudsql.iam_authentication`, RDS IAM auth). Pass:
/// a note (password authentication works either way).
pub const PROVIDER_IAM_AUTHENTICATION: &str = "provider.iam_authentication";
/// The server CA(s) the provider publishes: Warn when one expires within 90 days or a rotation
/// is under way (clients must trust both CAs); Pass otherwise.
pub const PROVIDER_SERVER_CA: &str = "provider.server_ca";
/// Connection and audit logging flags (`log_connections`, `log_disconnections`, pgaudit). Pass
/// when connections are logged; Warn otherwise.
pub const PROVIDER_LOGGING: &str = "provider.logging";

/// Every provider id.
pub const PROVIDER: &[&str] = &[
    PROVIDER_API,
    PROVIDER_TLS_ENFORCED,
    PROVIDER_TLS_MIN_VERSION,
    PROVIDER_EXTENSION_ALLOWED,
    PROVIDER_PUBLIC_NETWORK,
    PROVIDER_PENDING_RESTART,
    PROVIDER_IAM_AUTHENTICATION,
    PROVIDER_SERVER_CA,
    PROVIDER_LOGGING,
];

/// Every render id.
pub const RENDER: &[&str] = &[
    RENDER_INFRA_DB_ENABLED,
    RENDER_BUNDLED_EXTRAS_ENABLED,
    RENDER_COMPONENT_UNCONFIGURED,
    RENDER_BOTH_MODES_SET,
    RENDER_SECRET_SHARED,
    RENDER_SECRET_WRONG_KEY,
    RENDER_SECRET_EXTRA_KEY,
    RENDER_SECRET_WRONG_NAMESPACE,
    RENDER_SECRET_NAMESPACE_UNSET,
    RENDER_SECRET_NOT_FOUND,
    RENDER_SECRET_TRAILING_NEWLINE,
    RENDER_DSN_INVALID,
    RENDER_DSN_DBNAME_MISMATCH,
    RENDER_DSN_SHARED_DATABASE,
    RENDER_DSN_SSLMODE_MISSING,
    RENDER_DSN_SSLMODE_WEAK,
    RENDER_SSLMODE_DUPLICATED,
    RENDER_SSLMODE_APPEND_MALFORMED,
    RENDER_MODE_B_IN_PRODUCTION,
    RENDER_UNKNOWN_NAMESPACE_KEY,
    RENDER_SSLMODE_INLINED,
    RENDER_SSLMODE_KEPT,
    RENDER_VALUES_ENTRY_REPLACED,
    RENDER_CHART_VERSION_UNSET,
];

// --- restore: archives onto the managed server (runbook: Restore onto managed Postgres) -------

/// The Dapr crypto key (`dapr-crypto-key` Secret) must be restored with the database, or
/// encrypted secrets stay unreadable. Warn, always.
pub const RESTORE_DAPR_CRYPTO_KEY: &str = "restore.dapr_crypto_key";
/// `pg_restore` reported an error (observed: its `pg_restore: error:` line). Fail.
pub const RESTORE_PG_RESTORE_ERROR: &str = "restore.pg_restore_error";
/// `pg_restore` exited with a non-zero status. Fail.
pub const RESTORE_PG_RESTORE_FAILED: &str = "restore.pg_restore_failed";
/// The archive could not be read to its end (truncated or corrupt gzip, I/O error). Fail.
pub const RESTORE_ARCHIVE_UNREADABLE: &str = "restore.archive_unreadable";
/// An object in the archive's table of contents is not in the database. Fail; the finding
/// carries a diagnosis when the catalog says why.
pub const RESTORE_OBJECT_MISSING: &str = "restore.object_missing";
/// Everything in the table of contents is in the database. Pass.
pub const RESTORE_COMPLETE: &str = "restore.complete";
/// What to run next (`kubectl rollout restart`). Pass (a note).
pub const RESTORE_ROLLOUT_RESTART: &str = "restore.rollout_restart";

/// Every restore id.
pub const RESTORE: &[&str] = &[
    RESTORE_DAPR_CRYPTO_KEY,
    RESTORE_PG_RESTORE_ERROR,
    RESTORE_PG_RESTORE_FAILED,
    RESTORE_ARCHIVE_UNREADABLE,
    RESTORE_OBJECT_MISSING,
    RESTORE_COMPLETE,
    RESTORE_ROLLOUT_RESTART,
];

// --- verify: the switch, with the apps' DSNs and the Kubernetes API (runbook: Verification) --

/// The DSN's host is the managed host (Pass) or an in-cluster service name (Fail).
pub const VERIFY_HOST: &str = "verify.host";
/// The DSN's database is the component's (Pass) or another (Fail).
pub const VERIFY_DATABASE: &str = "verify.database";
/// The app's DSN connects (Pass, observed: server version and TLS) or not (Fail, with the
/// diagnosis). Skip when the host is in-cluster.
pub const VERIFY_CONNECT: &str = "verify.connect";
/// Drizzle's migrations table exists and has rows (Pass, observed: count, latest
/// `created_at` and hash); missing or empty (Fail).
pub const VERIFY_MIGRATIONS: &str = "verify.migrations";
/// pgvector is installed in a database that needs it (Pass) or not (Fail, with the
/// diagnosis). Skip for components that do not need it.
pub const VERIFY_PGVECTOR: &str = "verify.pgvector";
/// A `db` Deployment (the bundled PostgreSQL) exists in the namespace (Fail) or not (Pass).
pub const VERIFY_KUBE_BUNDLED_DB: &str = "verify.kube_bundled_db";
/// The newest migration Job of a component is Complete (Pass), Failed or missing (Fail), or
/// still running (Warn).
pub const VERIFY_KUBE_MIGRATION_JOB: &str = "verify.kube_migration_job";
/// Every Deployment in the namespace is Ready (Pass) or some are not (Fail).
pub const VERIFY_KUBE_DEPLOYMENTS_READY: &str = "verify.kube_deployments_ready";
/// A Deployment's database DSN (from its Secret) points at a managed host (Pass) or at an
/// in-cluster service (Fail); Fail too when it cannot be read or parsed.
pub const VERIFY_KUBE_DATABASE_URL: &str = "verify.kube_database_url";

/// Every verify id.
pub const VERIFY: &[&str] = &[
    VERIFY_HOST,
    VERIFY_DATABASE,
    VERIFY_CONNECT,
    VERIFY_MIGRATIONS,
    VERIFY_PGVECTOR,
    VERIFY_KUBE_BUNDLED_DB,
    VERIFY_KUBE_MIGRATION_JOB,
    VERIFY_KUBE_DEPLOYMENTS_READY,
    VERIFY_KUBE_DATABASE_URL,
];

/// Every id above, by group (one list per module, so a new id is listed once).
pub const GROUPS: &[&[&str]] = &[
    RENDER, PREFLIGHT, BOOTSTRAP, COMPLIANCE, PROVIDER, RESTORE, VERIFY,
];

/// Every id above.
pub fn all() -> impl Iterator<Item = &'static str> {
    GROUPS.iter().flat_map(|g| g.iter().copied())
}

/// Whether `id` is one of the ids above.
pub fn is_known(id: &str) -> bool {
    all().any(|known| known == id)
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    #[test]
    fn each_group_holds_its_own_module_ids() {
        for (group, prefix) in [
            (super::RENDER, "render."),
            (super::PREFLIGHT, "preflight."),
            (super::BOOTSTRAP, "bootstrap."),
            (super::COMPLIANCE, "compliance."),
            (super::PROVIDER, "provider."),
            (super::RESTORE, "restore."),
            (super::VERIFY, "verify."),
        ] {
            assert!(!group.is_empty());
            for id in group {
                assert!(id.starts_with(prefix), "{id} listed among {prefix}*");
            }
        }
        assert_eq!(super::GROUPS.len(), 7);
    }

    #[test]
    fn ids_are_unique_and_well_formed() {
        let mut seen = HashSet::new();
        for id in super::all() {
            assert!(seen.insert(id), "duplicate id {id}");
            let (module, what) = id.split_once('.').expect("module.what");
            assert!(!module.is_empty() && !what.is_empty());
            assert!(id
                .chars()
                .all(|c| c.is_ascii_lowercase() || c == '_' || c == '.'));
        }
    }
}

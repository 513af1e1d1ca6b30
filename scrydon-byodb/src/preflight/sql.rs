//! The catalog reads, one statement per connection, and what they return.
//!
//! Each statement builds one JSON document on the server so that everything a connection needs
//! comes back in a single round trip (`query_typed`: Parse, Bind, Describe, Execute and Sync in
//! one flight). They read catalogs and settings only, and work for a role without any
//! privilege, on PostgreSQL 14 and later: functions that would fail on a missing role are given
//! OIDs from `pg_roles` instead of names (a missing role yields NULL, not an error), and
//! settings that may not exist are read with `current_setting(name, true)`.

use std::collections::BTreeMap;

use serde::Deserialize;

/// Server-wide facts, read over the admin connection.
///
/// `$1` the migration role, `$2` the component databases, `$3` the provider settings to read
/// by name, `$4` the provider roles that may create untrusted extensions.
pub(crate) const SERVER: &str = r#"
SELECT json_build_object(
  'version_num', current_setting('server_version_num')::int,
  'version', current_setting('server_version'),
  'user', current_user,
  'backend_pid', pg_backend_pid(),
  'max_connections', current_setting('max_connections')::int,
  'superuser_reserved', current_setting('superuser_reserved_connections')::int,
  'reserved', nullif(current_setting('reserved_connections', true), '')::int,
  'in_use', (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'),
  'ssl', (SELECT json_build_object('ssl', s.ssl, 'version', s.version, 'cipher', s.cipher)
          FROM pg_stat_ssl s WHERE s.pid = pg_backend_pid()),
  'settings', (SELECT json_object_agg(n, current_setting(n, true))
               FROM unnest($3::text[]) AS n WHERE current_setting(n, true) IS NOT NULL),
  'provider_setting_names', (SELECT json_agg(name ORDER BY name) FROM pg_settings
               WHERE name ~ '^(rds|aurora|azure|cloudsql|neon|supautils)[.]' OR name ~ '^apg_'),
  'vector', (SELECT json_build_object('default_version', e.default_version,
                                      'trusted', (SELECT v.trusted FROM pg_available_extension_versions v
                                                  WHERE v.name = e.name AND v.version = e.default_version))
             FROM pg_available_extensions e WHERE e.name = 'vector'),
  'admin_superuser', (SELECT rolsuper FROM pg_roles WHERE rolname = current_user),
  'admin_roles', (SELECT json_agg(r.rolname ORDER BY r.rolname) FROM pg_roles r
                  WHERE r.rolname = ANY($4::text[]) AND pg_has_role(current_user, r.oid, 'MEMBER')),
  'app', (SELECT json_build_object('can_login', a.rolcanlogin, 'superuser', a.rolsuper,
                                   'roles', (SELECT json_agg(r.rolname ORDER BY r.rolname) FROM pg_roles r
                                             WHERE r.rolname = ANY($4::text[]) AND pg_has_role(a.oid, r.oid, 'MEMBER')))
          FROM pg_roles a WHERE a.rolname = $1),
  'databases', (SELECT json_agg(json_build_object(
                  'name', d.datname,
                  'owner', pg_get_userbyid(d.datdba),
                  'allow_connections', d.datallowconn,
                  'acl', d.datacl::text,
                  'app_connect', has_database_privilege(a.oid, d.oid, 'CONNECT'),
                  'app_create', has_database_privilege(a.oid, d.oid, 'CREATE'),
                  'app_owner', pg_has_role(a.oid, d.datdba, 'USAGE'),
                  'admin_create', has_database_privilege(d.oid, 'CREATE'),
                  'admin_owner', pg_has_role(d.datdba, 'USAGE')) ORDER BY d.datname)
                FROM pg_database d LEFT JOIN pg_roles a ON a.rolname = $1
                WHERE d.datname = ANY($2::text[]))
)::text
"#;

/// Facts about one component's database, read over a connection to it.
///
/// `$1` the migration role, `$2` the Dapr workflow state table prefixes.
pub(crate) const DATABASE: &str = r#"
SELECT json_build_object(
  'backend_pid', pg_backend_pid(),
  'ssl', (SELECT json_build_object('ssl', s.ssl, 'version', s.version, 'cipher', s.cipher)
          FROM pg_stat_ssl s WHERE s.pid = pg_backend_pid()),
  'vector_installed', (SELECT extversion FROM pg_extension WHERE extname = 'vector'),
  'schemas', (SELECT json_object_agg(n.nspname, json_build_object(
                  'owner', pg_get_userbyid(n.nspowner),
                  'acl', n.nspacl::text,
                  'app_create', has_schema_privilege(a.oid, n.oid, 'CREATE'),
                  'app_usage', has_schema_privilege(a.oid, n.oid, 'USAGE'),
                  'public_create', has_schema_privilege('public', n.oid, 'CREATE')))
              FROM pg_namespace n LEFT JOIN pg_roles a ON a.rolname = $1
              WHERE n.nspname IN ('public', 'drizzle')),
  'dapr_tables', (SELECT json_agg(format('%I.%I', n.nspname, c.relname) ORDER BY n.nspname, c.relname)
                  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                  WHERE c.relkind IN ('r', 'p')
                    AND EXISTS (SELECT 1 FROM unnest($2::text[]) AS p WHERE starts_with(c.relname::text, p)))
)::text
"#;

/// Asks which server process serves this session (the pooler probe's second connection).
pub(crate) const BACKEND_PID: &str = "SELECT pg_backend_pid()";

/// `pg_stat_ssl` for the session.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub(crate) struct SslRow {
    pub(crate) ssl: bool,
    pub(crate) version: Option<String>,
    pub(crate) cipher: Option<String>,
}

/// pgvector in `pg_available_extensions`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub(crate) struct VectorRow {
    pub(crate) default_version: Option<String>,
    pub(crate) trusted: Option<bool>,
}

/// The migration role.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub(crate) struct AppRoleRow {
    pub(crate) can_login: bool,
    pub(crate) superuser: bool,
    pub(crate) roles: Option<Vec<String>>,
}

/// A component database in `pg_database`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub(crate) struct DatabaseRow {
    pub(crate) name: String,
    pub(crate) owner: String,
    pub(crate) allow_connections: bool,
    pub(crate) acl: Option<String>,
    pub(crate) app_connect: Option<bool>,
    pub(crate) app_create: Option<bool>,
    pub(crate) app_owner: Option<bool>,
    pub(crate) admin_create: bool,
    pub(crate) admin_owner: bool,
}

/// What [`SERVER`] returns.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub(crate) struct ServerFacts {
    pub(crate) version_num: i32,
    pub(crate) version: String,
    pub(crate) user: String,
    pub(crate) backend_pid: i32,
    pub(crate) max_connections: i32,
    pub(crate) superuser_reserved: i32,
    pub(crate) reserved: Option<i32>,
    pub(crate) in_use: i64,
    pub(crate) ssl: Option<SslRow>,
    pub(crate) settings: Option<BTreeMap<String, String>>,
    pub(crate) provider_setting_names: Option<Vec<String>>,
    pub(crate) vector: Option<VectorRow>,
    pub(crate) admin_superuser: Option<bool>,
    pub(crate) admin_roles: Option<Vec<String>>,
    pub(crate) app: Option<AppRoleRow>,
    pub(crate) databases: Option<Vec<DatabaseRow>>,
}

impl ServerFacts {
    /// A provider setting's value, if the server has it.
    pub(crate) fn setting(&self, name: &str) -> Option<&str> {
        self.settings
            .as_ref()
            .and_then(|s| s.get(name))
            .map(String::as_str)
    }

    /// The names of every provider-specific setting the server has (listed or read by name).
    pub(crate) fn provider_setting_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self
            .provider_setting_names
            .iter()
            .flatten()
            .map(String::as_str)
            .collect();
        for name in self.settings.iter().flat_map(|s| s.keys()) {
            if !names.contains(&name.as_str()) {
                names.push(name);
            }
        }
        names
    }

    /// The row of database `name`, if it exists.
    pub(crate) fn database(&self, name: &str) -> Option<&DatabaseRow> {
        self.databases.iter().flatten().find(|d| d.name == name)
    }
}

/// A schema (`public`, `drizzle`) in a component database.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub(crate) struct SchemaRow {
    pub(crate) owner: String,
    pub(crate) acl: Option<String>,
    pub(crate) app_create: Option<bool>,
    pub(crate) app_usage: Option<bool>,
    pub(crate) public_create: bool,
}

/// What [`DATABASE`] returns.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub(crate) struct DatabaseFacts {
    pub(crate) backend_pid: i32,
    pub(crate) ssl: Option<SslRow>,
    pub(crate) vector_installed: Option<String>,
    pub(crate) schemas: Option<BTreeMap<String, SchemaRow>>,
    pub(crate) dapr_tables: Option<Vec<String>>,
}

impl DatabaseFacts {
    pub(crate) fn schema(&self, name: &str) -> Option<&SchemaRow> {
        self.schemas.as_ref().and_then(|s| s.get(name))
    }
}

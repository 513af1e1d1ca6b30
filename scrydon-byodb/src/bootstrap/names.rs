//! The strict name rule for the roles and databases bootstrap creates, and SQL quoting.

use crate::{Error, Result};

/// SQL reserved key words (PostgreSQL, "reserved" and "reserved (can be function or type)"):
/// legal when quoted, but a trap for every tool that forgets to quote.
const RESERVED: &[&str] = &[
    "all",
    "analyse",
    "analyze",
    "and",
    "any",
    "array",
    "as",
    "asc",
    "asymmetric",
    "authorization",
    "binary",
    "both",
    "case",
    "cast",
    "check",
    "collate",
    "collation",
    "column",
    "concurrently",
    "constraint",
    "create",
    "cross",
    "current_catalog",
    "current_date",
    "current_role",
    "current_schema",
    "current_time",
    "current_timestamp",
    "current_user",
    "default",
    "deferrable",
    "desc",
    "distinct",
    "do",
    "else",
    "end",
    "except",
    "false",
    "fetch",
    "for",
    "foreign",
    "freeze",
    "from",
    "full",
    "grant",
    "group",
    "having",
    "ilike",
    "in",
    "initially",
    "inner",
    "intersect",
    "into",
    "is",
    "isnull",
    "join",
    "lateral",
    "leading",
    "left",
    "like",
    "limit",
    "localtime",
    "localtimestamp",
    "natural",
    "not",
    "notnull",
    "null",
    "offset",
    "on",
    "only",
    "or",
    "order",
    "outer",
    "overlaps",
    "placing",
    "primary",
    "references",
    "returning",
    "right",
    "select",
    "session_user",
    "similar",
    "some",
    "symmetric",
    "system_user",
    "table",
    "tablesample",
    "then",
    "to",
    "trailing",
    "true",
    "union",
    "unique",
    "user",
    "using",
    "variadic",
    "verbose",
    "when",
    "where",
    "window",
    "with",
];

/// Roles the managed services (and PostgreSQL itself) own. Bootstrap never creates them, never
/// grants them and never uses one as the app role: membership in them is the platform's to give
/// (granting `rds_superuser` would hand the app role the administrator's powers).
pub const PLATFORM_ROLES: &[&str] = &[
    "postgres",
    "public",
    "none",
    "rdsadmin",
    "rds_superuser",
    "rds_replication",
    "rds_iam",
    "rds_password",
    "cloudsqlsuperuser",
    "cloudsqladmin",
    "cloudsqlreplica",
    "azure_pg_admin",
    "azuresu",
    "azure_superuser",
    "supabase_admin",
    "supabase_auth_admin",
    "supabase_storage_admin",
    "neon_superuser",
    "cloud_admin",
];

/// Databases that are never a component's database.
const SYSTEM_DATABASES: &[&str] = &[
    "postgres",
    "template0",
    "template1",
    "rdsadmin",
    "cloudsqladmin",
    "azure_maintenance",
    "azure_sys",
];

fn check_shape(field: &str, value: &str) -> Result<()> {
    let mut chars = value.chars();
    let first_ok = matches!(chars.next(), Some('a'..='z' | '_'));
    let rest_ok = chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_'));
    if !first_ok || !rest_ok || value.len() > 63 {
        return Err(Error::input(
            field,
            value,
            "must match ^[a-z_][a-z0-9_]{0,62}$ (lower-case letters, digits and '_', starting with a letter or '_', at most 63 bytes)",
        ));
    }
    if RESERVED.contains(&value) {
        return Err(Error::input(field, value, "is an SQL reserved word"));
    }
    Ok(())
}

/// Checks the app role's name: the strict rule, not reserved, not `pg_*`, not a platform role.
pub fn validate_role_name(field: &str, value: &str) -> Result<()> {
    check_shape(field, value)?;
    if value.starts_with("pg_") {
        return Err(Error::input(
            field,
            value,
            "names starting with pg_ are reserved for PostgreSQL's own roles",
        ));
    }
    if PLATFORM_ROLES.contains(&value) {
        return Err(Error::input(
            field,
            value,
            "is a role the server or the managed service owns; the app role must be a role of its own (least privilege)",
        ));
    }
    Ok(())
}

/// Checks a component database's name: the strict rule, not reserved, not a system database.
pub fn validate_database_name(field: &str, value: &str) -> Result<()> {
    check_shape(field, value)?;
    if SYSTEM_DATABASES.contains(&value) {
        return Err(Error::input(
            field,
            value,
            "is a system or maintenance database, not a component database",
        ));
    }
    Ok(())
}

/// `"name"`, with inner quotes doubled.
pub(crate) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `'value'`, with inner quotes doubled (standard_conforming_strings is on since 9.1; a value
/// with a backslash gets the `E''` form so it reads the same either way).
pub(crate) fn quote_literal(value: &str) -> String {
    if value.contains('\\') {
        format!("E'{}'", value.replace('\\', "\\\\").replace('\'', "''"))
    } else {
        format!("'{}'", value.replace('\'', "''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_names() {
        for n in ["scrydon", "_x", "auth_prod2", &"a".repeat(63)] {
            validate_role_name("app_role", n).unwrap();
            validate_database_name("database", n).unwrap();
        }
    }

    #[test]
    fn rejects_bad_names_naming_field_and_value() {
        for n in [
            "",
            "Auth",
            "1db",
            "a-b",
            "a b",
            "x\"; DROP",
            "select",
            "user",
            &"a".repeat(64),
        ] {
            match validate_database_name("database", n).unwrap_err() {
                Error::InvalidInput { field, value, .. } => {
                    assert_eq!(field, "database");
                    assert_eq!(value, n);
                }
                other => panic!("{other:?}"),
            }
        }
        for n in [
            "pg_monitor",
            "rds_superuser",
            "cloudsqlsuperuser",
            "azure_pg_admin",
            "supabase_admin",
            "postgres",
        ] {
            assert!(validate_role_name("app_role", n).is_err(), "{n}");
        }
        assert!(validate_database_name("database", "template1").is_err());
    }

    #[test]
    fn quoting() {
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(quote_literal("it's"), "'it''s'");
        assert_eq!(quote_literal("a\\b"), "E'a\\\\b'");
    }
}

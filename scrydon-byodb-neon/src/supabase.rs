//! The Supabase provider: SQL only (no API), its roles, its CA and its pooler rules.

use std::path::PathBuf;

use async_trait::async_trait;
use scrydon_byodb::provider::{Capabilities, Provider, ProviderKind};
use scrydon_byodb::tls::CaBundle;
use scrydon_byodb::{Error, Result};

/// The role Supabase gives the customer; owner of what the migrations create.
pub const OWNER_ROLE: &str = "postgres";

/// Roles Supabase manages: not ours to grant, alter or use for the platform.
pub const RESERVED_ROLES: &[&str] = &[
    "supabase_admin",
    "supabase_auth_admin",
    "supabase_storage_admin",
    "supabase_replication_admin",
    "supabase_read_only_user",
    "authenticator",
    "pgbouncer",
];

/// Whether `role` may be granted to or altered by the platform (not a Supabase-managed role).
pub fn is_grantable_role(role: &str) -> bool {
    !RESERVED_ROLES.contains(&role)
}

/// A Supabase host: direct `db.<ref>.supabase.co`, or Supavisor `*.pooler.supabase.com`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SupabaseHost {
    /// The project ref, when the host names it (direct hosts only; pooled DSNs carry it in the
    /// user, `postgres.<ref>`).
    pub project_ref: Option<String>,
    /// Whether this is Supavisor.
    pub pooled: bool,
}

impl SupabaseHost {
    /// Recognises `db.<ref>.supabase.co` and `<anything>.pooler.supabase.com`.
    pub fn from_host(host: &str) -> Option<Self> {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        if host.ends_with(".pooler.supabase.com") {
            return Some(Self {
                project_ref: None,
                pooled: true,
            });
        }
        let rest = host.strip_prefix("db.")?.strip_suffix(".supabase.co")?;
        (!rest.is_empty() && !rest.contains('.')).then(|| Self {
            project_ref: Some(rest.to_owned()),
            pooled: false,
        })
    }
}

/// Builds a [`SupabaseProvider`].
///
/// ```
/// use scrydon_byodb::provider::Provider;
/// use scrydon_byodb_neon::SupabaseProvider;
///
/// let p = SupabaseProvider::builder().build().unwrap();
/// assert!(!p.capabilities().ca_bundle);
/// ```
#[derive(Debug, Clone, Default)]
pub struct SupabaseProviderBuilder {
    ca_file: Option<PathBuf>,
}

impl SupabaseProviderBuilder {
    /// Nothing set.
    pub fn new() -> Self {
        Self::default()
    }

    /// The Supabase root CA file (downloaded by the user from the project's database
    /// settings); enables [`Provider::ca_bundle`].
    pub fn with_ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca_file = Some(path.into());
        self
    }

    /// Builds; the CA file, if given, must parse.
    pub fn build(self) -> Result<SupabaseProvider> {
        let ca = match &self.ca_file {
            Some(p) => {
                let b = CaBundle::from_file(p)?;
                if b.is_empty() {
                    return Err(Error::InvalidInput {
                        field: "ca file".to_owned(),
                        value: p.display().to_string(),
                        reason: "no certificate in the file".to_owned(),
                    });
                }
                Some(b)
            }
            None => None,
        };
        Ok(SupabaseProvider { ca })
    }
}

/// Supabase, SQL only. Capabilities: `ca_bundle` when the root CA file was supplied; nothing
/// else (no API is used).
#[derive(Debug, Clone)]
pub struct SupabaseProvider {
    ca: Option<CaBundle>,
}

impl SupabaseProvider {
    /// A builder.
    pub fn builder() -> SupabaseProviderBuilder {
        SupabaseProviderBuilder::new()
    }
}

#[async_trait]
impl Provider for SupabaseProvider {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Supabase
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            ca_bundle: self.ca.is_some(),
            ..Capabilities::NONE
        }
    }

    async fn ca_bundle(&self) -> Result<CaBundle> {
        match &self.ca {
            Some(b) => Ok(b.clone()),
            None => Err(scrydon_byodb::provider::Operation::CaBundle.not_supported(self)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_and_roles() {
        assert_eq!(
            SupabaseHost::from_host("db.abcdefghij.supabase.co"),
            Some(SupabaseHost {
                project_ref: Some("abcdefghij".into()),
                pooled: false
            })
        );
        assert!(
            SupabaseHost::from_host("aws-0-eu-central-1.pooler.supabase.com")
                .unwrap()
                .pooled
        );
        assert_eq!(SupabaseHost::from_host("db.supabase.co"), None);
        assert_eq!(SupabaseHost::from_host("example.com"), None);
        assert!(is_grantable_role("postgres"));
        assert!(!is_grantable_role("supabase_admin"));
    }
}

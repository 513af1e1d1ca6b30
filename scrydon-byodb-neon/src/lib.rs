//! # scrydon-byodb-neon
//!
//! Neon (and Supabase) for [`scrydon_byodb`]: serverless PostgreSQL, its poolers and Neon's
//! auto-suspend.
//!
//! ```
//! use scrydon_byodb_neon::NeonHost;
//!
//! let h = NeonHost::from_host("ep-cool-darkness-123456-pooler.us-east-2.aws.neon.tech").unwrap();
//! assert_eq!(h.endpoint_id, "ep-cool-darkness-123456");
//! assert!(h.pooled);
//! assert_eq!(h.direct_host(), "ep-cool-darkness-123456.us-east-2.aws.neon.tech");
//! ```
#![deny(missing_docs, rustdoc::broken_intra_doc_links)]
#![forbid(unsafe_code)]

mod api;
mod keepalive;
mod neon;
mod pooler;
mod supabase;

pub use api::{ApiError, ApiErrorKind};
pub use keepalive::{Keepalive, KeepaliveBuilder, KeepaliveHandle, KeepaliveStats, MIN_INTERVAL};
pub use neon::{
    EndpointState, NeonEndpoint, NeonProject, NeonProvider, NeonProviderBuilder, SuspendTimeout,
    API_KEY_ENV, DEFAULT_BASE_URL, DEFAULT_SUSPEND_TIMEOUT, SUSPEND_TIMEOUT_SECONDS,
};
pub use pooler::{
    direct_dsn_for, is_ddl, pooler_from_dsn, probe_transaction_pooler, PoolMode, Pooler, PoolerHint,
};
pub use supabase::{
    is_grantable_role, SupabaseHost, SupabaseProvider, SupabaseProviderBuilder, OWNER_ROLE,
    RESERVED_ROLES,
};

/// Stable finding ids of this crate (kept here, not in the core's registry).
pub mod ids {
    /// A pooler in front of the DSN and what it means for DDL.
    pub const POOLER: &str = "neon.pooler";
}

use scrydon_byodb::dsn::{Dsn, Host};

/// A Neon compute endpoint recognised from its host name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NeonHost {
    /// The endpoint id (`ep-...`), without the `-pooler` suffix.
    pub endpoint_id: String,
    /// Whether the host is the pooled (PgBouncer, transaction mode) one.
    pub pooled: bool,
    /// The rest of the host name (`us-east-2.aws.neon.tech`).
    pub domain: String,
}

impl NeonHost {
    /// Recognises `ep-<name>[-pooler].<region>.<cloud>.neon.tech`.
    pub fn from_host(host: &str) -> Option<Self> {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        if !host.ends_with(".neon.tech") {
            return None;
        }
        let (first, domain) = host.split_once('.')?;
        if !first.starts_with("ep-") {
            return None;
        }
        let (endpoint_id, pooled) = match first.strip_suffix("-pooler") {
            Some(id) => (id, true),
            None => (first, false),
        };
        Some(Self {
            endpoint_id: endpoint_id.to_owned(),
            pooled,
            domain: domain.to_owned(),
        })
    }

    /// Recognises the first TCP host of a DSN.
    pub fn from_dsn(dsn: &Dsn) -> Option<Self> {
        dsn.endpoints().ok()?.iter().find_map(|e| match &e.host {
            Host::Tcp(h) => Self::from_host(h),
            Host::Unix(_) => None,
        })
    }

    /// The direct (unpooled) host for the same endpoint, where DDL and migrations must go.
    pub fn direct_host(&self) -> String {
        format!("{}.{}", self.endpoint_id, self.domain)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn direct_and_pooled_hosts() {
        let d = NeonHost::from_host("ep-x-1.eu-central-1.aws.neon.tech").unwrap();
        assert!(!d.pooled);
        assert_eq!(d.direct_host(), "ep-x-1.eu-central-1.aws.neon.tech");
        assert_eq!(NeonHost::from_host("console.neon.tech"), None);
        assert_eq!(NeonHost::from_host("ep-x.example.com"), None);
    }
}

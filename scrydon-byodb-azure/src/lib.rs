//! # scrydon-byodb-azure
//!
//! Azure Database for PostgreSQL Flexible Server for [`scrydon_byodb`], through Azure Resource
//! Manager with `azure_core`: `azure.extensions` (VECTOR), `require_secure_transport`,
//! `ssl_min_protocol_version`, high availability and backups.
//!
//! ```
//! use scrydon_byodb_azure::FlexibleServerHost;
//!
//! let h = FlexibleServerHost::from_host("scrydon-prod.postgres.database.azure.com").unwrap();
//! assert_eq!(h.server_name, "scrydon-prod");
//! assert!(!h.private_link);
//! ```
#![deny(missing_docs, rustdoc::broken_intra_doc_links)]
#![forbid(unsafe_code)]

use scrydon_byodb::dsn::{Dsn, Host};

/// The HTTP pipeline this crate is built on, re-exported so embedders use the same version.
pub use azure_core;

/// A Flexible Server recognised from its host name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlexibleServerHost {
    /// The server's name (the first label).
    pub server_name: String,
    /// Whether the host is the private-link name (`*.private.postgres.database.azure.com`).
    pub private_link: bool,
}

impl FlexibleServerHost {
    /// Recognises `<server>.postgres.database.azure.com` and its private-link form.
    pub fn from_host(host: &str) -> Option<Self> {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        let rest = host.strip_suffix(".postgres.database.azure.com")?;
        let (server, private_link) = match rest.strip_suffix(".private") {
            Some(s) => (s, true),
            None => (rest, false),
        };
        if server.is_empty() || server.contains('.') {
            return None;
        }
        Some(Self {
            server_name: server.to_owned(),
            private_link,
        })
    }

    /// Recognises the first TCP host of a DSN.
    pub fn from_dsn(dsn: &Dsn) -> Option<Self> {
        dsn.endpoints().ok()?.iter().find_map(|e| match &e.host {
            Host::Tcp(h) => Self::from_host(h),
            Host::Unix(_) => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_public_and_private_names() {
        assert_eq!(
            FlexibleServerHost::from_host("a1.private.postgres.database.azure.com"),
            Some(FlexibleServerHost {
                server_name: "a1".into(),
                private_link: true
            })
        );
        assert_eq!(
            FlexibleServerHost::from_host("postgres.database.azure.com"),
            None
        );
        assert_eq!(
            FlexibleServerHost::from_host("a.b.c.postgres.database.azure.com"),
            None
        );
        assert_eq!(FlexibleServerHost::from_host("pg.example.com"), None);
    }
}

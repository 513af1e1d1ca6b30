//! # scrydon-byodb-azure
//!
//! Azure Database for PostgreSQL Flexible Server for [`scrydon_byodb`], through Azure Resource
//! Manager (api-version 2025-08-01) with `azure_core`'s pipeline and `azure_identity`'s
//! credentials: reads and (when asked) changes what only ARM can see.
//!
//! * [`FlexibleServerProvider`] (built with [`FlexibleServerProvider::builder`] or
//!   [`FlexibleServerProvider::from_env`]) implements
//!   [`Provider`](scrydon_byodb::provider::Provider): `azure.extensions` and whether it lists
//!   `VECTOR` (added with [`allow_extension`](scrydon_byodb::provider::Provider::allow_extension),
//!   keeping every other entry), `require_secure_transport` (turned on with
//!   [`FlexibleServerProvider::enforce_tls`]), `ssl_min_protocol_version`, high availability,
//!   backups, public network access, pending restarts; configuration writes follow ARM's
//!   long-running operation to its end. [`FlexibleServerProvider::describe`] returns all of it
//!   typed.
//! * [`AZURE_CA_PEM`] / [`azure_ca_bundle`]: the roots Azure documents for `verify-full`.
//! * [`FlexibleServerHost`] and [`FlexibleServerId`]: the server from its host name or its
//!   resource id.
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

mod arm;
mod ca;
mod provider;
mod resource;
mod transport;

pub use arm::API_VERSION;
pub use ca::{azure_ca_bundle, AZURE_CA_PEM};
pub use provider::{
    FlexibleServerDescription, FlexibleServerProvider, FlexibleServerProviderBuilder,
    HighAvailabilityMode, AZURE_EXTENSIONS, DEFAULT_ENDPOINT, REQUIRE_SECURE_TRANSPORT,
    SSL_MIN_PROTOCOL_VERSION,
};
pub use resource::FlexibleServerId;

/// What errors and reports call this provider.
pub(crate) const NAME: &str = "azure-flexible-server";

use scrydon_byodb::dsn::{Dsn, Host};

/// The HTTP pipeline this crate is built on, re-exported so embedders use the same version.
pub use azure_core;
/// The credentials this crate builds from the environment, re-exported likewise.
pub use azure_identity;

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

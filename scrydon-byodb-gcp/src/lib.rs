//! # scrydon-byodb-gcp
//!
//! GCP Cloud SQL for PostgreSQL for [`scrydon_byodb`], through the Cloud SQL Admin API with
//! `google-cloud-auth` credentials: the instance's TLS mode (`sslMode` first, `requireSsl` only
//! as a fallback), server CAs, flags, backups and availability type.
//!
//! ```
//! use scrydon_byodb_gcp::InstanceConnectionName;
//!
//! let name: InstanceConnectionName = "acme-prod:europe-west1:scrydon".parse().unwrap();
//! assert_eq!(name.project, "acme-prod");
//! assert_eq!(name.region, "europe-west1");
//! assert_eq!(name.instance, "scrydon");
//! // The CN Cloud SQL puts in per-instance server certificates.
//! assert_eq!(name.certificate_common_name(), "acme-prod:scrydon");
//! ```
//!
//! [`CloudSqlProvider`] is the [`Provider`](scrydon_byodb::provider::Provider) for one instance,
//! over the Cloud SQL Admin API v1 (`instances.get`/`patch`, `listServerCas`,
//! `connectSettings`, `operations.get`, `flags.list`), authenticated with `google-cloud-auth`
//! (application default credentials, a service account key, the metadata server):
//!
//! * **TLS enforced** by `settings.ipConfiguration.sslMode`, `requireSsl` only when `sslMode`
//!   is absent ([`tls_enforced`]): `requireSsl = true` with
//!   `sslMode = ALLOW_UNENCRYPTED_AND_ENCRYPTED` accepts plaintext (the false positive
//!   Prowler's check had for years).
//! * **Server certificates**: the default per-instance CA issues certificates with
//!   `project:instance` as CN and no SAN, so libpq's `verify-full` by host name cannot succeed.
//!   [`CloudSqlProvider::tls`] gives the CA bundle (every CA during a rotation) and the named
//!   check [`ServerNameCheck::CommonNameEquals`](scrydon_byodb::tls::ServerNameCheck) for that
//!   mode, ordinary `verify-full` by DNS name for the CAS-based modes.
//! * **Changes only when asked**: [`CloudSqlProvider::enforce_tls`] and flags through
//!   [`set_parameter`](scrydon_byodb::provider::Provider::set_parameter), which keeps every
//!   other flag (a patch replaces the list whole) and follows the operation to `DONE`.
//!
//! Signing: service account keys sign their own JWT (no token endpoint). `google-cloud-auth`
//! signs with the process's default rustls `CryptoProvider` when one is installed, else with
//! aws-lc-rs (its default feature); this crate installs none.
#![deny(missing_docs, rustdoc::broken_intra_doc_links)]
#![forbid(unsafe_code)]

mod api;
mod provider;

use std::fmt;
use std::str::FromStr;

pub use api::{ApiError, ApiErrorKind, DatabaseFlag, DEFAULT_ENDPOINT};
pub use provider::{
    tls_enforced, CloudSqlDescription, CloudSqlProvider, CloudSqlProviderBuilder, CloudSqlTls,
    ServerCa, ServerCaMode, TlsDecidedBy, IAM_AUTHENTICATION_FLAG,
    SSL_MODE_ALLOW_UNENCRYPTED_AND_ENCRYPTED, SSL_MODE_ENCRYPTED_ONLY, SSL_MODE_SETTING,
    SSL_MODE_TRUSTED_CLIENT_CERTIFICATE_REQUIRED,
};

/// The credential library this crate is built on, re-exported so embedders use the same version.
pub use google_cloud_auth;

/// A Cloud SQL instance connection name, `project:region:instance`. Projects in a Google
/// Workspace domain carry the domain: `example.com:project:region:instance`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceConnectionName {
    /// The project id (with its `domain:` prefix for domain-scoped projects).
    pub project: String,
    /// The region.
    pub region: String,
    /// The instance name.
    pub instance: String,
}

impl InstanceConnectionName {
    /// The common name Cloud SQL writes into per-instance server certificates:
    /// `project:instance`.
    pub fn certificate_common_name(&self) -> String {
        format!("{}:{}", self.project, self.instance)
    }
}

impl FromStr for InstanceConnectionName {
    type Err = scrydon_byodb::Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = |reason: &str| scrydon_byodb::Error::InvalidInput {
            field: "instance connection name".into(),
            value: s.into(),
            reason: reason.into(),
        };
        let parts: Vec<&str> = s.split(':').collect();
        let (project, region, instance) = match parts.as_slice() {
            [p, r, i] => ((*p).to_owned(), *r, *i),
            [d, p, r, i] => (format!("{d}:{p}"), *r, *i),
            _ => return Err(invalid("expected project:region:instance")),
        };
        let ok = |v: &str| {
            !v.is_empty()
                && v.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        };
        if !project.split(':').all(ok) || !ok(region) || !ok(instance) {
            return Err(invalid(
                "each part must be non-empty lower-case letters, digits, '-' or '.'",
            ));
        }
        Ok(Self {
            project,
            region: region.to_owned(),
            instance: instance.to_owned(),
        })
    }
}

impl fmt::Display for InstanceConnectionName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.project, self.region, self.instance)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_scoped_projects_keep_their_domain() {
        let n: InstanceConnectionName = "example.com:proj:us-central1:db".parse().unwrap();
        assert_eq!(n.project, "example.com:proj");
        assert_eq!(n.certificate_common_name(), "example.com:proj:db");
        assert_eq!(n.to_string(), "example.com:proj:us-central1:db");
    }

    #[test]
    fn malformed_names_are_refused_with_the_field_named() {
        for bad in [
            "",
            "proj",
            "proj:region",
            "a:b:c:d:e",
            "Proj:r:i",
            "p::i",
            "p:r:i/x",
        ] {
            let err = bad.parse::<InstanceConnectionName>().unwrap_err();
            assert!(
                matches!(&err, scrydon_byodb::Error::InvalidInput { field, value, .. }
                    if field == "instance connection name" && value == bad),
                "{bad}: {err:?}"
            );
        }
    }
}

//! # scrydon-byodb-aws
//!
//! AWS RDS and Aurora for [`scrydon_byodb`]: finds the instance or cluster behind a
//! `*.rds.amazonaws.com` host and, through `aws-sdk-rds`, reads and (when asked) changes what
//! only the API can see — the parameter group in force and `rds.force_ssl`, backup retention,
//! Multi-AZ, the CA certificate.
//!
//! * [`RdsProvider`] (built with [`RdsProvider::builder`]) implements
//!   [`Provider`](scrydon_byodb::provider::Provider): parameters from the group in force (for
//!   Aurora the cluster group), `pending-reboot` taken into account; backups and PITR; Multi-AZ.
//!   [`RdsProvider::force_ssl`] tells configured from in force; [`RdsProvider::enforce_ssl`]
//!   sets `rds.force_ssl=1` on a custom group, never on AWS's `default.*` ones.
//!   [`allow_extension`](scrydon_byodb::provider::Provider::allow_extension) adds `vector` to
//!   `rds.allowed_extensions` only when needed: unset (the engine default,
//!   [`ALLOWED_EXTENSIONS_DEFAULT`]) or `*` already allow it, and nothing is written.
//! * [`findings`](scrydon_byodb::provider::Provider::findings) (capability `findings`) reads the
//!   same API, never writes, and reports what only it can tell, for preflight and the
//!   compliance report:
//!
//!   | id | Pass | Warn | Fail |
//!   |----|------|------|------|
//!   | `provider.tls_enforced` (ISO 27001:2022 A.8.24, NIST SC-8) | `rds.force_ssl=1` in the group in force, in force | set but the group is `pending-reboot` (fix: the reboot) | `0` or unset (fix: `aws rds modify-db-parameter-group`; for a `default.*` group, a custom group first) |
//!   | `provider.extension_allowed` | `rds.allowed_extensions` unset, `*`, or listing `vector` | listing it, pending a reboot | not listing it (fix: the list with `vector`) |
//!   | `provider.public_network` | not `PubliclyAccessible` | `PubliclyAccessible` | |
//!   | `provider.pending_restart` | groups `in-sync`, nothing pending | a group `pending-reboot`, `PendingModifiedValues` | |
//!   | `provider.iam_authentication` | a note: on or off (the chart uses passwords) | | |
//!   | `provider.server_ca` | the CA (certificate) valid 90 days or more | expiring sooner, or a CA rotation under way (fix: `aws rds modify-db-instance --ca-certificate-identifier`) | |
//!
//!   The expiry is `CertificateDetails.ValidTill`, or `DescribeCertificates` when the instance
//!   does not report it (`provider.server_ca` is skipped when neither answers). Any other API
//!   failure is an error, which preflight reports as one `provider.api` warning.
//! * [`RdsCaBundleFetcher`] fetches AWS's published CA bundle over HTTPS and
//!   [`check_ca_bundle`] checks it (or a user-supplied one) before it is trusted.
//!
//! ```
//! use scrydon_byodb::dsn::Dsn;
//! use scrydon_byodb_aws::{RdsEndpoint, RdsEndpointKind};
//!
//! let dsn: Dsn = "postgres://scrydon@prod.cluster-c9akciq32.eu-west-1.rds.amazonaws.com/auth"
//!     .parse()
//!     .unwrap();
//! let ep = RdsEndpoint::from_dsn(&dsn).unwrap();
//! assert_eq!(ep.identifier, "prod");
//! assert_eq!(ep.region, "eu-west-1");
//! assert_eq!(ep.kind, RdsEndpointKind::ClusterWriter);
//! ```
#![deny(missing_docs, rustdoc::broken_intra_doc_links)]
#![forbid(unsafe_code)]

mod ca;
mod findings;
mod provider;

pub use ca::{check_ca_bundle, CheckedCaBundle, RdsCaBundleFetcher, RDS_GLOBAL_BUNDLE_URL};
pub use provider::{
    ForceSsl, ParameterGroup, ParameterGroupKind, RdsDescription, RdsProvider, RdsProviderBuilder,
    RdsTarget, ALLOWED_EXTENSIONS, ALLOWED_EXTENSIONS_DEFAULT, FORCE_SSL,
};
use scrydon_byodb::dsn::{Dsn, Host};

/// The AWS SDK this crate is built on, re-exported so embedders use the same version.
pub use aws_sdk_rds;

/// What kind of RDS endpoint a host name is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RdsEndpointKind {
    /// A DB instance (`<id>.<hash>.<region>.rds.amazonaws.com`).
    Instance,
    /// An Aurora cluster's writer endpoint (`<id>.cluster-<hash>...`).
    ClusterWriter,
    /// An Aurora cluster's reader endpoint (`<id>.cluster-ro-<hash>...`).
    ClusterReader,
    /// An Aurora custom endpoint (`<id>.cluster-custom-<hash>...`).
    ClusterCustom,
    /// An RDS Proxy (`<id>.proxy-<hash>...`).
    Proxy,
}

/// An RDS or Aurora endpoint recognised from its host name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RdsEndpoint {
    /// The DB instance, cluster or proxy identifier.
    pub identifier: String,
    /// The AWS region (`eu-west-1`).
    pub region: String,
    /// What the endpoint points at.
    pub kind: RdsEndpointKind,
}

impl RdsEndpoint {
    /// Recognises an RDS host name (`*.rds.amazonaws.com`, `*.rds.amazonaws.com.cn`).
    pub fn from_host(host: &str) -> Option<Self> {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        let rest = host
            .strip_suffix(".rds.amazonaws.com")
            .or_else(|| host.strip_suffix(".rds.amazonaws.com.cn"))?;
        let labels: Vec<&str> = rest.split('.').collect();
        let [identifier, hash, region] = labels.as_slice() else {
            return None;
        };
        if identifier.is_empty() || hash.is_empty() || region.is_empty() {
            return None;
        }
        let kind = if hash.starts_with("cluster-ro-") {
            RdsEndpointKind::ClusterReader
        } else if hash.starts_with("cluster-custom-") {
            RdsEndpointKind::ClusterCustom
        } else if hash.starts_with("cluster-") {
            RdsEndpointKind::ClusterWriter
        } else if hash.starts_with("proxy-") {
            RdsEndpointKind::Proxy
        } else {
            RdsEndpointKind::Instance
        };
        Some(RdsEndpoint {
            identifier: (*identifier).to_owned(),
            region: (*region).to_owned(),
            kind,
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
    fn recognises_every_endpoint_kind() {
        let cases = [
            (
                "db1.abcdefgh.us-east-1.rds.amazonaws.com",
                "db1",
                "us-east-1",
                RdsEndpointKind::Instance,
            ),
            (
                "c1.cluster-abc.eu-west-3.rds.amazonaws.com",
                "c1",
                "eu-west-3",
                RdsEndpointKind::ClusterWriter,
            ),
            (
                "c1.cluster-ro-abc.eu-west-3.rds.amazonaws.com",
                "c1",
                "eu-west-3",
                RdsEndpointKind::ClusterReader,
            ),
            (
                "c1.cluster-custom-abc.eu-west-3.rds.amazonaws.com",
                "c1",
                "eu-west-3",
                RdsEndpointKind::ClusterCustom,
            ),
            (
                "p1.proxy-abc.ap-south-1.rds.amazonaws.com",
                "p1",
                "ap-south-1",
                RdsEndpointKind::Proxy,
            ),
            (
                "DB2.ABC.CN-NORTH-1.RDS.AMAZONAWS.COM.CN.",
                "db2",
                "cn-north-1",
                RdsEndpointKind::Instance,
            ),
        ];
        for (host, id, region, kind) in cases {
            let ep = RdsEndpoint::from_host(host).unwrap_or_else(|| panic!("{host}"));
            assert_eq!(
                (ep.identifier.as_str(), ep.region.as_str(), ep.kind),
                (id, region, kind),
                "{host}"
            );
        }
    }

    #[test]
    fn rejects_other_hosts() {
        for host in [
            "pg.example.com",
            "rds.amazonaws.com",
            "a.b.rds.amazonaws.com",
            "x.y.z.w.rds.amazonaws.com",
            "",
        ] {
            assert_eq!(RdsEndpoint::from_host(host), None, "{host}");
        }
    }
}

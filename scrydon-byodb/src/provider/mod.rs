//! Managed PostgreSQL providers: what a provider can tell and do beyond SQL.
//!
//! The runbook's Provider notes (AWS RDS/Aurora, GCP Cloud SQL, Azure Flexible Server,
//! Supabase, Neon) are about things SQL alone cannot see or change: a parameter group
//! (`rds.force_ssl`), a server parameter (`azure.extensions`), Neon's suspend timeout, the
//! provider's CA bundle, backup retention and high availability. A [`Provider`] is the one
//! interface to those; the cloud crates (`scrydon-byodb-aws`, `-gcp`, `-azure`, `-neon`)
//! implement it, the core never depends on them.
//!
//! What a provider can do is data, [`Capabilities`], and the checks branch on it: preflight
//! skips the backup check for a provider that cannot report backups instead of failing or
//! guessing. An operation a provider does not support returns
//! [`Error::NotSupported`], never a silent default.
//!
//! [`GenericProvider`] is any PostgreSQL, SQL only. [`detect`] tells which provider a server
//! is run by, coarsely, from its host name and its settings; the cloud crates parse the details
//! (instance identifier, region, project).
//!
//! ```
//! use scrydon_byodb::provider::{detect_from_host, GenericProvider, Provider, ProviderKind};
//!
//! assert_eq!(
//!     detect_from_host("prod.c9akciq32.eu-west-1.rds.amazonaws.com"),
//!     Some(ProviderKind::AwsRds)
//! );
//! assert_eq!(
//!     detect_from_host("aws-0-eu-central-1.pooler.supabase.com"),
//!     Some(ProviderKind::Supabase)
//! );
//! let generic = GenericProvider::new();
//! assert_eq!(generic.kind(), ProviderKind::Generic);
//! assert!(!generic.capabilities().backup_posture);
//! ```

#[cfg(feature = "api-client")]
pub mod api;
#[doc(hidden)]
pub mod conformance;
mod detect;
mod generic;

use std::fmt;

use async_trait::async_trait;
use serde::Serialize;

use crate::report::Finding;
use crate::tls::CaBundle;
use crate::{Error, Result};

pub(crate) use detect::KNOWN_SETTINGS;
pub use detect::{detect, detect_from_host, detect_from_settings, Detection, Evidence};
pub use generic::GenericProvider;

/// Which kind of service runs the server. Coarse on purpose: which provider, not which
/// instance (the cloud crates parse the instance out of the host name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum ProviderKind {
    /// Any PostgreSQL: self-hosted, CloudNativePG, the Zalando operator, or a provider that
    /// could not be recognised.
    Generic,
    /// AWS RDS for PostgreSQL or Aurora PostgreSQL.
    AwsRds,
    /// GCP Cloud SQL for PostgreSQL.
    GcpCloudSql,
    /// Azure Database for PostgreSQL Flexible Server.
    AzureFlexibleServer,
    /// Supabase (direct or through Supavisor).
    Supabase,
    /// Neon (direct or through its `-pooler` endpoint).
    Neon,
}

impl ProviderKind {
    /// Every kind.
    pub const ALL: [ProviderKind; 6] = [
        ProviderKind::Generic,
        ProviderKind::AwsRds,
        ProviderKind::GcpCloudSql,
        ProviderKind::AzureFlexibleServer,
        ProviderKind::Supabase,
        ProviderKind::Neon,
    ];

    /// Stable name: `generic`, `aws-rds`, `gcp-cloud-sql`, `azure-flexible-server`, `supabase`,
    /// `neon`.
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::Generic => "generic",
            ProviderKind::AwsRds => "aws-rds",
            ProviderKind::GcpCloudSql => "gcp-cloud-sql",
            ProviderKind::AzureFlexibleServer => "azure-flexible-server",
            ProviderKind::Supabase => "supabase",
            ProviderKind::Neon => "neon",
        }
    }

    /// The name people use (`AWS RDS / Aurora`).
    pub fn display_name(self) -> &'static str {
        match self {
            ProviderKind::Generic => "PostgreSQL",
            ProviderKind::AwsRds => "AWS RDS / Aurora",
            ProviderKind::GcpCloudSql => "GCP Cloud SQL",
            ProviderKind::AzureFlexibleServer => "Azure Database for PostgreSQL Flexible Server",
            ProviderKind::Supabase => "Supabase",
            ProviderKind::Neon => "Neon",
        }
    }

    /// The role whose members may create extensions that are not trusted (pgvector) without
    /// being superuser: `rds_superuser`, `cloudsqlsuperuser`, `azure_pg_admin`,
    /// `neon_superuser`. `None` for providers without one (Supabase grants it to the role named
    /// by `supautils.privileged_role` instead).
    pub fn extension_admin_role(self) -> Option<&'static str> {
        match self {
            ProviderKind::AwsRds => Some("rds_superuser"),
            ProviderKind::GcpCloudSql => Some("cloudsqlsuperuser"),
            ProviderKind::AzureFlexibleServer => Some("azure_pg_admin"),
            ProviderKind::Neon => Some("neon_superuser"),
            ProviderKind::Generic | ProviderKind::Supabase => None,
        }
    }
}

impl fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a provider can do beyond SQL. Checks branch on these instead of failing; a method whose
/// capability is `false` returns [`Error::NotSupported`].
///
/// Construct with struct update syntax from [`Capabilities::NONE`] so a provider keeps compiling
/// when a capability is added:
///
/// ```
/// use scrydon_byodb::provider::Capabilities;
///
/// let caps = Capabilities {
///     read_parameters: true,
///     ca_bundle: true,
///     ..Capabilities::NONE
/// };
/// assert!(caps.read_parameters && !caps.write_parameters);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
pub struct Capabilities {
    /// [`Provider::parameter`]: read a server parameter through the provider's API (the
    /// parameter group, server parameters, instance flags), including values pending a restart.
    pub read_parameters: bool,
    /// [`Provider::set_parameter`]: change a server parameter through the provider's API.
    pub write_parameters: bool,
    /// [`Provider::allow_extension`]: make an extension installable (add `VECTOR` to
    /// `azure.extensions`, to `rds.allowed_extensions`).
    pub allow_extensions: bool,
    /// [`Provider::ca_bundle`]: supply the CA bundle the server's certificate chains to.
    pub ca_bundle: bool,
    /// [`Provider::backup_posture`]: report automated backups and point-in-time recovery.
    pub backup_posture: bool,
    /// [`Provider::high_availability`]: report standby replicas and failover.
    pub high_availability: bool,
    /// [`Provider::findings`]: checks only the provider's API can answer (TLS enforced by
    /// configuration, public network access, pending restarts, server CA rotation).
    pub findings: bool,
}

impl Capabilities {
    /// Nothing beyond SQL.
    pub const NONE: Capabilities = Capabilities {
        read_parameters: false,
        write_parameters: false,
        allow_extensions: false,
        ca_bundle: false,
        backup_posture: false,
        high_availability: false,
        findings: false,
    };

    /// Whether `operation` is supported.
    pub fn supports(&self, operation: Operation) -> bool {
        match operation {
            Operation::ReadParameter => self.read_parameters,
            Operation::SetParameter => self.write_parameters,
            Operation::AllowExtension => self.allow_extensions,
            Operation::CaBundle => self.ca_bundle,
            Operation::BackupPosture => self.backup_posture,
            Operation::HighAvailability => self.high_availability,
            Operation::Findings => self.findings,
        }
    }
}

/// The operations of [`Provider`] that depend on a capability; the `operation` of
/// [`Error::NotSupported`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Operation {
    /// [`Provider::parameter`].
    ReadParameter,
    /// [`Provider::set_parameter`].
    SetParameter,
    /// [`Provider::allow_extension`].
    AllowExtension,
    /// [`Provider::ca_bundle`].
    CaBundle,
    /// [`Provider::backup_posture`].
    BackupPosture,
    /// [`Provider::high_availability`].
    HighAvailability,
    /// [`Provider::findings`].
    Findings,
}

impl Operation {
    /// Every operation.
    pub const ALL: [Operation; 7] = [
        Operation::ReadParameter,
        Operation::SetParameter,
        Operation::AllowExtension,
        Operation::CaBundle,
        Operation::BackupPosture,
        Operation::HighAvailability,
        Operation::Findings,
    ];

    /// Stable name, as carried by [`Error::NotSupported`]: `read_parameter`, `set_parameter`,
    /// `allow_extension`, `ca_bundle`, `backup_posture`, `high_availability`, `findings`.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::ReadParameter => "read_parameter",
            Operation::SetParameter => "set_parameter",
            Operation::AllowExtension => "allow_extension",
            Operation::CaBundle => "ca_bundle",
            Operation::BackupPosture => "backup_posture",
            Operation::HighAvailability => "high_availability",
            Operation::Findings => "findings",
        }
    }

    /// The [`Error::NotSupported`] for this operation on `provider`.
    pub fn not_supported(self, provider: &(impl Provider + ?Sized)) -> Error {
        Error::NotSupported {
            operation: self.as_str(),
            provider: provider.name().to_owned(),
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A server parameter as the provider's API reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ParameterValue {
    /// The parameter (`rds.force_ssl`, `azure.extensions`, `suspend_timeout_seconds`).
    pub name: String,
    /// Its configured value, as the API gives it.
    pub value: String,
    /// Whether the configured value is not yet in force (a static parameter changed without a
    /// restart). The live value is then what `SHOW` says.
    pub pending_restart: bool,
}

/// When a parameter change takes effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Applies {
    /// At once (a dynamic parameter; or the value was already in force).
    Immediately,
    /// After the server restarts (a static parameter); the provider did not restart it.
    AfterRestart,
}

/// What [`Provider::set_parameter`] or [`Provider::allow_extension`] changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ParameterChange {
    /// The parameter changed.
    pub name: String,
    /// Its value before, when known.
    pub previous: Option<String>,
    /// Its value now.
    pub value: String,
    /// When the change takes effect.
    pub applies: Applies,
}

/// Backups as the provider reports them (runbook: Backup & Restore; ISO 27001 A.8.13, NIST
/// CP-9).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BackupPosture {
    /// Automated backups are on.
    pub automated: bool,
    /// How long backups are kept, in days, when known.
    pub retention_days: Option<u32>,
    /// Point-in-time recovery (continuous WAL archiving) is available.
    pub point_in_time_recovery: bool,
    /// Backups are copied to another region, when known.
    pub cross_region: Option<bool>,
}

/// How the server is replicated (SecNumCloud 3.2 continuity, NIST CP-10).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Redundancy {
    /// One server: a failure loses service until it is replaced.
    Single,
    /// A standby in the same zone.
    SameZone,
    /// A standby in another zone of the region (RDS Multi-AZ, Cloud SQL regional, Azure
    /// zone-redundant HA).
    MultiZone,
    /// A replica in another region as well.
    MultiRegion,
}

/// High availability as the provider reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HighAvailability {
    /// Where the standbys are.
    pub redundancy: Redundancy,
    /// Failover to a standby is automatic.
    pub automatic_failover: bool,
}

/// A managed PostgreSQL provider, for one server (instance, cluster, branch endpoint).
///
/// # Contract
///
/// * **Identity.** [`kind`](Provider::kind) says which service this is; [`name`](Provider::name)
///   (by default the kind's name) is what errors and reports call the provider. Both are
///   constant for the life of the value.
/// * **Capabilities are the truth.** [`capabilities`](Provider::capabilities) is constant for
///   the life of the value. For every [`Operation`]: when its capability is `true`, the method
///   does the work or fails with a real error ([`Error::Provider`] for an API failure,
///   [`Error::InvalidInput`] for a bad argument); when it is `false`, the method returns
///   [`Error::NotSupported`] with that operation's [`Operation::as_str`] and this provider's
///   [`name`](Provider::name) — never an empty or made-up value. The default method bodies do
///   exactly that, so a provider overrides only what it supports.
/// * **Reads change nothing.** [`parameter`](Provider::parameter), [`ca_bundle`](Provider::ca_bundle),
///   [`backup_posture`](Provider::backup_posture),
///   [`high_availability`](Provider::high_availability) and [`findings`](Provider::findings)
///   never modify the server or its
///   configuration; preflight, which must be read-only, calls only these.
/// * **Writes are explicit and idempotent.** [`set_parameter`](Provider::set_parameter) and
///   [`allow_extension`](Provider::allow_extension) change configuration and say when the
///   change applies; they never restart the server. Setting a parameter to its current value,
///   or allowing an extension already allowed, succeeds and changes nothing.
/// * **Unknown is not an error.** `parameter` returns `Ok(None)` for a parameter the provider
///   does not have.
/// * **No secrets out.** Nothing returned, including errors, carries a password, a token or a
///   full connection string.
/// * **Cancellation-safe and `Send`.** Methods may be dropped mid-way and called from any
///   task.
///
/// Every provider crate runs [`conformance::run`] against a live server, which checks this
/// contract, skipping by capability.
///
/// ```
/// use async_trait::async_trait;
/// use scrydon_byodb::provider::{
///     BackupPosture, Capabilities, Operation, Provider, ProviderKind,
/// };
///
/// /// Knows the backup policy from configuration, nothing else.
/// #[derive(Debug)]
/// struct OnPrem;
///
/// #[async_trait]
/// impl Provider for OnPrem {
///     fn kind(&self) -> ProviderKind {
///         ProviderKind::Generic
///     }
///     fn name(&self) -> &str {
///         "on-prem"
///     }
///     fn capabilities(&self) -> Capabilities {
///         Capabilities { backup_posture: true, ..Capabilities::NONE }
///     }
///     async fn backup_posture(&self) -> scrydon_byodb::Result<BackupPosture> {
///         Ok(BackupPosture {
///             automated: true,
///             retention_days: Some(14),
///             point_in_time_recovery: true,
///             cross_region: Some(false),
///         })
///     }
/// }
///
/// # tokio_test_block_on(async {
/// let p = OnPrem;
/// assert_eq!(p.backup_posture().await.unwrap().retention_days, Some(14));
/// let err = p.ca_bundle().await.unwrap_err();
/// assert!(matches!(
///     err,
///     scrydon_byodb::Error::NotSupported { operation: "ca_bundle", .. }
/// ));
/// # });
/// # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
/// # }
/// ```
#[async_trait]
pub trait Provider: fmt::Debug + Send + Sync {
    /// Which service this is.
    fn kind(&self) -> ProviderKind;

    /// What reports and errors call this provider (default: the kind's name).
    fn name(&self) -> &str {
        self.kind().as_str()
    }

    /// What this provider can do beyond SQL.
    fn capabilities(&self) -> Capabilities;

    /// A server parameter as configured through the provider (`Ok(None)`: no such parameter).
    /// Needs [`Capabilities::read_parameters`].
    async fn parameter(&self, name: &str) -> Result<Option<ParameterValue>> {
        let _ = name;
        Err(Operation::ReadParameter.not_supported(self))
    }

    /// Changes a server parameter through the provider. Needs
    /// [`Capabilities::write_parameters`].
    async fn set_parameter(&self, name: &str, value: &str) -> Result<ParameterChange> {
        let _ = (name, value);
        Err(Operation::SetParameter.not_supported(self))
    }

    /// Makes `extension` installable with `CREATE EXTENSION` (adds it to the provider's
    /// allow-list). Needs [`Capabilities::allow_extensions`].
    async fn allow_extension(&self, extension: &str) -> Result<ParameterChange> {
        let _ = extension;
        Err(Operation::AllowExtension.not_supported(self))
    }

    /// The CA bundle the server's certificate chains to. Needs [`Capabilities::ca_bundle`].
    async fn ca_bundle(&self) -> Result<CaBundle> {
        Err(Operation::CaBundle.not_supported(self))
    }

    /// Automated backups and point-in-time recovery. Needs [`Capabilities::backup_posture`].
    async fn backup_posture(&self) -> Result<BackupPosture> {
        Err(Operation::BackupPosture.not_supported(self))
    }

    /// Standbys and failover. Needs [`Capabilities::high_availability`].
    async fn high_availability(&self) -> Result<HighAvailability> {
        Err(Operation::HighAvailability.not_supported(self))
    }

    /// Checks only the provider's API can answer, as findings with the
    /// [`ids::PROVIDER`](crate::report::ids::PROVIDER) ids (`provider.tls_enforced`,
    /// `provider.public_network`, ...), server-wide (no component). Preflight adds them to its
    /// report; the compliance report takes the TLS ones as evidence. Reads only. Needs
    /// [`Capabilities::findings`].
    async fn findings(&self) -> Result<Vec<Finding>> {
        Err(Operation::Findings.not_supported(self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn supports_matches_fields() {
        let caps = Capabilities {
            ca_bundle: true,
            high_availability: true,
            ..Capabilities::NONE
        };
        let supported: Vec<_> = Operation::ALL
            .into_iter()
            .filter(|o| caps.supports(*o))
            .collect();
        assert_eq!(
            supported,
            [Operation::CaBundle, Operation::HighAvailability]
        );
        assert_eq!(Capabilities::default(), Capabilities::NONE);
    }

    #[test]
    fn kind_names_are_stable() {
        let names: Vec<_> = ProviderKind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(
            names,
            [
                "generic",
                "aws-rds",
                "gcp-cloud-sql",
                "azure-flexible-server",
                "supabase",
                "neon"
            ]
        );
        let ops: Vec<_> = Operation::ALL.iter().map(|o| o.as_str()).collect();
        assert_eq!(
            ops,
            [
                "read_parameter",
                "set_parameter",
                "allow_extension",
                "ca_bundle",
                "backup_posture",
                "high_availability",
                "findings"
            ]
        );
        assert_eq!(
            serde_json::to_value(ProviderKind::AzureFlexibleServer).unwrap(),
            "azure-flexible-server"
        );
    }
}

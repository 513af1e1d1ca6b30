//! [`RdsProvider`]: the [`Provider`] for RDS for PostgreSQL and Aurora PostgreSQL.

use std::fmt;
use std::time::SystemTime;

use async_trait::async_trait;
use aws_config::BehaviorVersion;
use aws_sdk_rds::config::{Credentials, Region};
use aws_sdk_rds::error::DisplayErrorContext;
use aws_sdk_rds::types::{
    ApplyMethod, ClusterPendingModifiedValues, DbCluster, DbInstance, Parameter,
    PendingModifiedValues,
};
use aws_sdk_rds::Client;
use scrydon_byodb::provider::{
    Applies, BackupPosture, Capabilities, HighAvailability, ParameterChange, ParameterValue,
    Provider, ProviderKind, Redundancy,
};
use scrydon_byodb::report::Finding;
use scrydon_byodb::tls::CaBundle;
use scrydon_byodb::{Error, Result};

use crate::{RdsEndpoint, RdsEndpointKind};

const NAME: &str = "aws-rds";

/// The parameter that makes RDS and Aurora refuse connections without TLS.
pub const FORCE_SSL: &str = "rds.force_ssl";
/// The parameter that limits which extensions `CREATE EXTENSION` may install.
pub const ALLOWED_EXTENSIONS: &str = "rds.allowed_extensions";
/// The engine default of [`ALLOWED_EXTENSIONS`] (in force when the group leaves it unset):
/// every extension the engine version offers.
pub const ALLOWED_EXTENSIONS_DEFAULT: &str = "*";

/// Whether the allow-list `list` (`rds.allowed_extensions`, comma-separated) lets `extension`
/// through: `*`, or listed (case-insensitive).
pub(crate) fn allow_list_allows(list: &str, extension: &str) -> bool {
    list.split(',')
        .map(str::trim)
        .any(|e| e == "*" || e.eq_ignore_ascii_case(extension))
}

/// What the provider is for: one DB instance, or one Aurora cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RdsTarget {
    /// An RDS DB instance (`DBInstanceIdentifier`).
    Instance(String),
    /// An Aurora DB cluster (`DBClusterIdentifier`).
    Cluster(String),
}

/// Builds an [`RdsProvider`].
///
/// `new()` reads nothing from the environment; [`from_env`](Self::from_env) does. Setters never
/// fail; [`build`](Self::build) checks the settings and finds the instance or cluster.
///
/// ```no_run
/// use scrydon_byodb_aws::RdsProvider;
///
/// # async fn example() -> scrydon_byodb::Result<()> {
/// // Region taken from the host name; credentials from the standard AWS chain.
/// let rds = RdsProvider::builder()
///     .with_host("prod.c9akciq32.eu-west-1.rds.amazonaws.com")
///     .build()
///     .await?;
/// println!("{:?}", rds.force_ssl().await?);
/// # Ok(())
/// # }
/// ```
#[derive(Default)]
pub struct RdsProviderBuilder {
    host: Option<String>,
    instance: Option<String>,
    cluster: Option<String>,
    region: Option<String>,
    endpoint_url: Option<String>,
    credentials: Option<Credentials>,
    client: Option<Client>,
    ca_bundle: Option<CaBundle>,
}

impl fmt::Debug for RdsProviderBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Credentials' own Debug redacts the secret; say only whether they are set.
        f.debug_struct("RdsProviderBuilder")
            .field("host", &self.host)
            .field("instance", &self.instance)
            .field("cluster", &self.cluster)
            .field("region", &self.region)
            .field("endpoint_url", &self.endpoint_url)
            .field("credentials", &self.credentials.as_ref().map(|_| "<set>"))
            .field("client", &self.client.as_ref().map(|_| "<set>"))
            .field("ca_bundle", &self.ca_bundle)
            .finish()
    }
}

impl RdsProviderBuilder {
    /// An empty builder; reads nothing from the environment.
    pub fn new() -> Self {
        Self::default()
    }

    /// A builder with the region and endpoint URL from the environment (`AWS_REGION`,
    /// `AWS_DEFAULT_REGION`, `AWS_ENDPOINT_URL_RDS`, `AWS_ENDPOINT_URL`). Credentials always
    /// come from the standard AWS chain unless [`with_credentials`](Self::with_credentials) is
    /// used.
    pub fn from_env() -> Self {
        let var = |n: &str| std::env::var(n).ok().filter(|v| !v.is_empty());
        let mut b = Self::new();
        b.region = var("AWS_REGION").or_else(|| var("AWS_DEFAULT_REGION"));
        b.endpoint_url = var("AWS_ENDPOINT_URL_RDS").or_else(|| var("AWS_ENDPOINT_URL"));
        b
    }

    /// The server's host name (`<id>.<hash>.<region>.rds.amazonaws.com` or an Aurora
    /// `cluster-` endpoint); gives the identifier and the region.
    pub fn with_host(mut self, host: impl Into<String>) -> Self {
        self.host = Some(host.into());
        self
    }

    /// A DB instance by identifier.
    pub fn with_instance_identifier(mut self, id: impl Into<String>) -> Self {
        self.instance = Some(id.into());
        self
    }

    /// An Aurora DB cluster by identifier.
    pub fn with_cluster_identifier(mut self, id: impl Into<String>) -> Self {
        self.cluster = Some(id.into());
        self
    }

    /// The AWS region (default: the host name's).
    pub fn with_region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into());
        self
    }

    /// Another RDS API endpoint (a VPC endpoint, or an emulator in tests).
    pub fn with_endpoint_url(mut self, url: impl Into<String>) -> Self {
        self.endpoint_url = Some(url.into());
        self
    }

    /// Static credentials instead of the standard AWS chain.
    pub fn with_credentials(mut self, credentials: Credentials) -> Self {
        self.credentials = Some(credentials);
        self
    }

    /// A ready SDK client; region, endpoint URL and credentials are then ignored.
    pub fn with_client(mut self, client: Client) -> Self {
        self.client = Some(client);
        self
    }

    /// The CA bundle the server's certificate chains to (the RDS CAs are private: use AWS's
    /// published bundle). Turns on [`Capabilities::ca_bundle`].
    pub fn with_ca_bundle(mut self, bundle: CaBundle) -> Self {
        self.ca_bundle = Some(bundle);
        self
    }

    /// Checks the settings, makes the SDK client and finds the instance or cluster.
    pub async fn build(self) -> Result<RdsProvider> {
        let from_host = match &self.host {
            Some(h) => Some(RdsEndpoint::from_host(h).ok_or_else(|| {
                Error::InvalidInput {
                    field: "host".to_owned(),
                    value: h.clone(),
                    reason:
                        "not an RDS or Aurora host name (<id>.<hash>.<region>.rds.amazonaws.com)"
                            .to_owned(),
                }
            })?),
            None => None,
        };
        let given = [
            from_host.is_some(),
            self.instance.is_some(),
            self.cluster.is_some(),
        ];
        if given.iter().filter(|g| **g).count() != 1 {
            return Err(Error::InvalidInput {
                field: "target".to_owned(),
                value: format!("{given:?}"),
                reason: "give exactly one of a host, an instance identifier or a cluster \
                         identifier"
                    .to_owned(),
            });
        }
        let target = match (&from_host, self.instance, self.cluster) {
            (Some(ep), _, _) => match ep.kind {
                RdsEndpointKind::Instance => RdsTarget::Instance(ep.identifier.clone()),
                RdsEndpointKind::ClusterWriter
                | RdsEndpointKind::ClusterReader
                | RdsEndpointKind::ClusterCustom => RdsTarget::Cluster(ep.identifier.clone()),
                RdsEndpointKind::Proxy => {
                    return Err(Error::InvalidInput {
                        field: "host".to_owned(),
                        value: self.host.unwrap_or_default(),
                        reason: "an RDS Proxy has no parameter group of its own: give the \
                                 instance or cluster identifier behind it"
                            .to_owned(),
                    })
                }
            },
            (None, Some(i), _) => RdsTarget::Instance(i),
            (None, None, Some(c)) => RdsTarget::Cluster(c),
            (None, None, None) => unreachable!("checked above"),
        };
        let client = match self.client {
            Some(c) => c,
            None => {
                let region = self
                    .region
                    .or_else(|| from_host.as_ref().map(|e| e.region.clone()))
                    .ok_or_else(|| Error::InvalidInput {
                        field: "region".to_owned(),
                        value: String::new(),
                        reason: "no region given and none in a host name".to_owned(),
                    })?;
                let mut loader =
                    aws_config::defaults(BehaviorVersion::latest()).region(Region::new(region));
                if let Some(c) = self.credentials {
                    loader = loader.credentials_provider(c);
                }
                if let Some(url) = self.endpoint_url {
                    loader = loader.endpoint_url(url);
                }
                Client::new(&loader.load().await)
            }
        };
        let provider = RdsProvider {
            client,
            target,
            ca_bundle: self.ca_bundle,
        };
        // Fails with a clear error when the instance or cluster does not exist.
        provider.describe().await?;
        Ok(provider)
    }
}

/// The RDS / Aurora provider: reads (and, when asked, changes) what only the RDS API can see.
///
/// Capabilities: reading and writing parameters, allowing extensions, backup posture, high
/// availability and findings (`provider.*`, see the crate docs); the CA bundle only when one was
/// given to the builder.
#[derive(Clone)]
pub struct RdsProvider {
    client: Client,
    target: RdsTarget,
    ca_bundle: Option<CaBundle>,
}

impl fmt::Debug for RdsProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RdsProvider")
            .field("target", &self.target)
            .field("ca_bundle", &self.ca_bundle)
            .finish_non_exhaustive()
    }
}

/// Which kind of parameter group is in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParameterGroupKind {
    /// A DB parameter group (RDS instance, or an Aurora instance's own).
    Instance,
    /// A DB cluster parameter group (Aurora), where `rds.force_ssl` lives for Aurora.
    Cluster,
}

/// A parameter group attached to the server, with its apply status there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParameterGroup {
    /// The group's name.
    pub name: String,
    /// Instance or cluster group.
    pub kind: ParameterGroupKind,
    /// The status reported for it (`in-sync`, `applying`, `pending-reboot`), when known. For
    /// Aurora's cluster group, the writer's status.
    pub apply_status: Option<String>,
}

impl ParameterGroup {
    /// An AWS-managed default group (`default.postgres16`), which cannot be modified.
    pub fn is_default(&self) -> bool {
        self.name.starts_with("default.")
    }

    /// A change is waiting for a reboot.
    pub fn pending_reboot(&self) -> bool {
        self.apply_status.as_deref() == Some("pending-reboot")
    }
}

/// What the RDS API says about the instance or cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RdsDescription {
    /// Instance or cluster, with its identifier.
    pub target: RdsTarget,
    /// `postgres` or `aurora-postgresql`.
    pub engine: Option<String>,
    /// `16.4`.
    pub engine_version: Option<String>,
    /// The groups in force, the one that holds `rds.force_ssl` first (Aurora: the cluster
    /// group, then the writer's instance group).
    pub parameter_groups: Vec<ParameterGroup>,
    /// Days automated backups are kept (0: off).
    pub backup_retention_days: Option<u32>,
    /// The latest time the server can be restored to (PITR).
    pub latest_restorable_time: Option<SystemTime>,
    /// Multi-AZ deployment.
    pub multi_az: bool,
    /// Members of an Aurora cluster (1 for an instance).
    pub members: usize,
    /// Automated backups replicated to another region.
    pub cross_region_backups: Option<bool>,
    /// Storage encrypted at rest.
    pub storage_encrypted: Option<bool>,
    /// IAM database authentication is on (the chart uses passwords).
    pub iam_database_authentication: Option<bool>,
    /// The server certificate's CA (`rds-ca-rsa2048-g1`).
    pub ca_certificate_identifier: Option<String>,
    /// When the server certificate expires (`CertificateDetails.ValidTill`).
    pub certificate_valid_till: Option<SystemTime>,
    /// The DB instance whose certificate, network flag and instance group are reported: the
    /// instance itself, or Aurora's writer (`None`: a cluster without a writer).
    pub instance_identifier: Option<String>,
    /// `PubliclyAccessible` (Aurora: the writer's).
    pub publicly_accessible: Option<bool>,
    /// Modifications saved but not applied yet (`PendingModifiedValues`), as `Name=value`
    /// (`DBInstanceClass=db.r6g.large`), or the bare name for a secret (`MasterUserPassword`).
    pub pending_modifications: Vec<String>,
    /// The CA the instance is being moved to (`PendingModifiedValues.CACertificateIdentifier`):
    /// a CA rotation under way.
    pub pending_ca_certificate_identifier: Option<String>,
}

/// `rds.force_ssl` as configured in the group in force.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForceSsl {
    /// The group that holds it.
    pub group: ParameterGroup,
    /// Its configured value (`None`: not set, the engine default applies).
    pub value: Option<String>,
    /// `user`, `system`, `engine-default`.
    pub source: Option<String>,
    /// `static` or `dynamic`.
    pub apply_type: Option<String>,
    /// The configured value is not in force yet (the group waits for a reboot and the
    /// parameter is not dynamic).
    pub pending_reboot: bool,
}

impl ForceSsl {
    /// The group says `1`.
    pub fn configured(&self) -> bool {
        self.value.as_deref().map(str::trim) == Some("1")
    }

    /// Configured and in force: what a compliance check should require, not just
    /// [`configured`](Self::configured).
    pub fn in_force(&self) -> bool {
        self.configured() && !self.pending_reboot
    }
}

fn api_error<E>(operation: &str, e: E) -> Error
where
    E: std::error::Error + Send + Sync + 'static,
{
    Error::Provider {
        provider: NAME.to_owned(),
        reason: format!("{operation} failed: {}", DisplayErrorContext(&e)),
        source: Some(Box::new(e)),
    }
}

fn not_found(what: String) -> Error {
    Error::Provider {
        provider: NAME.to_owned(),
        reason: what,
        source: None,
    }
}

fn system_time(t: Option<&aws_sdk_rds::primitives::DateTime>) -> Option<SystemTime> {
    t.and_then(|t| SystemTime::try_from(*t).ok())
}

fn days(n: Option<i32>) -> Option<u32> {
    n.and_then(|n| u32::try_from(n).ok())
}

/// `Name=value` for each pending modification; secrets by name only.
fn instance_pending(p: Option<&PendingModifiedValues>) -> Vec<String> {
    let Some(p) = p else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut put = |name: &str, value: Option<String>| {
        if let Some(v) = value {
            out.push(format!("{name}={v}"));
        }
    };
    put("DBInstanceClass", p.db_instance_class().map(str::to_owned));
    put(
        "AllocatedStorage",
        p.allocated_storage().map(|v| v.to_string()),
    );
    put("Port", p.port().map(|v| v.to_string()));
    put(
        "BackupRetentionPeriod",
        p.backup_retention_period().map(|v| v.to_string()),
    );
    put("MultiAZ", p.multi_az().map(|v| v.to_string()));
    put("EngineVersion", p.engine_version().map(str::to_owned));
    put("Engine", p.engine().map(str::to_owned));
    put("LicenseModel", p.license_model().map(str::to_owned));
    put("Iops", p.iops().map(|v| v.to_string()));
    put(
        "StorageThroughput",
        p.storage_throughput().map(|v| v.to_string()),
    );
    put("StorageType", p.storage_type().map(str::to_owned));
    put(
        "DBInstanceIdentifier",
        p.db_instance_identifier().map(str::to_owned),
    );
    put(
        "DBSubnetGroupName",
        p.db_subnet_group_name().map(str::to_owned),
    );
    put(
        "CACertificateIdentifier",
        p.ca_certificate_identifier().map(str::to_owned),
    );
    put(
        "IAMDatabaseAuthenticationEnabled",
        p.iam_database_authentication_enabled()
            .map(|v| v.to_string()),
    );
    if p.master_user_password().is_some() {
        // Never the value (the API masks it anyway).
        out.push("MasterUserPassword".to_owned());
    }
    if p.pending_cloudwatch_logs_exports().is_some() {
        out.push("PendingCloudwatchLogsExports".to_owned());
    }
    if !p.processor_features().is_empty() {
        out.push("ProcessorFeatures".to_owned());
    }
    out
}

/// As [`instance_pending`], for an Aurora cluster.
fn cluster_pending(p: Option<&ClusterPendingModifiedValues>) -> Vec<String> {
    let Some(p) = p else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut put = |name: &str, value: Option<String>| {
        if let Some(v) = value {
            out.push(format!("{name}={v}"));
        }
    };
    put("EngineVersion", p.engine_version().map(str::to_owned));
    put(
        "BackupRetentionPeriod",
        p.backup_retention_period().map(|v| v.to_string()),
    );
    put("StorageType", p.storage_type().map(str::to_owned));
    put(
        "AllocatedStorage",
        p.allocated_storage().map(|v| v.to_string()),
    );
    put("Iops", p.iops().map(|v| v.to_string()));
    put(
        "DBClusterIdentifier",
        p.db_cluster_identifier().map(str::to_owned),
    );
    put(
        "IAMDatabaseAuthenticationEnabled",
        p.iam_database_authentication_enabled()
            .map(|v| v.to_string()),
    );
    if p.master_user_password().is_some() {
        out.push("MasterUserPassword".to_owned());
    }
    if p.pending_cloudwatch_logs_exports().is_some() {
        out.push("PendingCloudwatchLogsExports".to_owned());
    }
    out
}

impl RdsProvider {
    /// A builder.
    pub fn builder() -> RdsProviderBuilder {
        RdsProviderBuilder::new()
    }

    /// The instance or cluster this provider is for.
    pub fn target(&self) -> &RdsTarget {
        &self.target
    }

    /// The SDK client, for what this crate does not cover.
    pub fn client(&self) -> &Client {
        &self.client
    }

    async fn instance(&self, id: &str) -> Result<DbInstance> {
        let out = self
            .client
            .describe_db_instances()
            .db_instance_identifier(id)
            .send()
            .await
            .map_err(|e| api_error(&format!("DescribeDBInstances {id}"), e))?;
        out.db_instances()
            .iter()
            .find(|i| i.db_instance_identifier() == Some(id))
            .cloned()
            .ok_or_else(|| not_found(format!("no DB instance {id:?}")))
    }

    async fn cluster(&self, id: &str) -> Result<DbCluster> {
        let out = self
            .client
            .describe_db_clusters()
            .db_cluster_identifier(id)
            .send()
            .await
            .map_err(|e| api_error(&format!("DescribeDBClusters {id}"), e))?;
        out.db_clusters()
            .iter()
            .find(|c| c.db_cluster_identifier() == Some(id))
            .cloned()
            .ok_or_else(|| not_found(format!("no DB cluster {id:?}")))
    }

    fn instance_groups(i: &DbInstance) -> Vec<ParameterGroup> {
        i.db_parameter_groups()
            .iter()
            .filter_map(|g| {
                Some(ParameterGroup {
                    name: g.db_parameter_group_name()?.to_owned(),
                    kind: ParameterGroupKind::Instance,
                    apply_status: g.parameter_apply_status().map(str::to_owned),
                })
            })
            .collect()
    }

    /// Reads the instance or cluster (read-only).
    pub async fn describe(&self) -> Result<RdsDescription> {
        match &self.target {
            RdsTarget::Instance(id) => {
                let i = self.instance(id).await?;
                Ok(RdsDescription {
                    target: self.target.clone(),
                    engine: i.engine().map(str::to_owned),
                    engine_version: i.engine_version().map(str::to_owned),
                    parameter_groups: Self::instance_groups(&i),
                    backup_retention_days: days(i.backup_retention_period()),
                    latest_restorable_time: system_time(i.latest_restorable_time()),
                    multi_az: i.multi_az().unwrap_or(false),
                    members: 1,
                    cross_region_backups: Some(
                        !i.db_instance_automated_backups_replications().is_empty(),
                    ),
                    storage_encrypted: i.storage_encrypted(),
                    iam_database_authentication: i.iam_database_authentication_enabled(),
                    ca_certificate_identifier: i.ca_certificate_identifier().map(str::to_owned),
                    certificate_valid_till: system_time(
                        i.certificate_details().and_then(|c| c.valid_till()),
                    ),
                    instance_identifier: Some(id.clone()),
                    publicly_accessible: i.publicly_accessible(),
                    pending_modifications: instance_pending(i.pending_modified_values()),
                    pending_ca_certificate_identifier: i
                        .pending_modified_values()
                        .and_then(|p| p.ca_certificate_identifier())
                        .map(str::to_owned),
                })
            }
            RdsTarget::Cluster(id) => {
                let c = self.cluster(id).await?;
                let writer = c
                    .db_cluster_members()
                    .iter()
                    .find(|m| m.is_cluster_writer() == Some(true));
                let mut groups = Vec::new();
                if let Some(name) = c.db_cluster_parameter_group() {
                    groups.push(ParameterGroup {
                        name: name.to_owned(),
                        kind: ParameterGroupKind::Cluster,
                        apply_status: writer
                            .and_then(|w| w.db_cluster_parameter_group_status())
                            .map(str::to_owned),
                    });
                }
                // The writer's certificate and its own (instance) parameter group.
                let writer_instance = match writer.and_then(|w| w.db_instance_identifier()) {
                    Some(w) => Some(self.instance(w).await?),
                    None => None,
                };
                if let Some(w) = &writer_instance {
                    groups.extend(Self::instance_groups(w));
                }
                let cert = writer_instance
                    .as_ref()
                    .and_then(|w| w.certificate_details());
                let writer_pending = writer_instance
                    .as_ref()
                    .and_then(|w| w.pending_modified_values());
                let mut pending_modifications = cluster_pending(c.pending_modified_values());
                pending_modifications.extend(instance_pending(writer_pending));
                Ok(RdsDescription {
                    target: self.target.clone(),
                    engine: c.engine().map(str::to_owned),
                    engine_version: c.engine_version().map(str::to_owned),
                    parameter_groups: groups,
                    backup_retention_days: days(c.backup_retention_period()),
                    latest_restorable_time: system_time(c.latest_restorable_time()),
                    multi_az: c.multi_az().unwrap_or(false),
                    members: c.db_cluster_members().len(),
                    cross_region_backups: None,
                    storage_encrypted: c.storage_encrypted(),
                    iam_database_authentication: c.iam_database_authentication_enabled(),
                    ca_certificate_identifier: writer_instance
                        .as_ref()
                        .and_then(|w| w.ca_certificate_identifier())
                        .map(str::to_owned),
                    certificate_valid_till: system_time(cert.and_then(|c| c.valid_till())),
                    instance_identifier: writer_instance
                        .as_ref()
                        .and_then(|w| w.db_instance_identifier())
                        .map(str::to_owned),
                    publicly_accessible: writer_instance
                        .as_ref()
                        .and_then(|w| w.publicly_accessible()),
                    pending_modifications,
                    pending_ca_certificate_identifier: writer_pending
                        .and_then(|p| p.ca_certificate_identifier())
                        .map(str::to_owned),
                })
            }
        }
    }

    /// Every parameter of `group`, all pages. Filtering is done here: emulators (and some
    /// API versions) ignore `Filters`.
    async fn group_parameters(&self, group: &ParameterGroup) -> Result<Vec<Parameter>> {
        let op = match group.kind {
            ParameterGroupKind::Instance => "DescribeDBParameters",
            ParameterGroupKind::Cluster => "DescribeDBClusterParameters",
        };
        let err = |e| api_error(&format!("{op} {}", group.name), e);
        match group.kind {
            ParameterGroupKind::Instance => self
                .client
                .describe_db_parameters()
                .db_parameter_group_name(&group.name)
                .into_paginator()
                .items()
                .send()
                .try_collect()
                .await
                .map_err(err),
            ParameterGroupKind::Cluster => self
                .client
                .describe_db_cluster_parameters()
                .db_cluster_parameter_group_name(&group.name)
                .into_paginator()
                .items()
                .send()
                .try_collect()
                .await
                .map_err(|e| api_error(&format!("{op} {}", group.name), e)),
        }
    }

    /// Finds `name` in the groups in force: the group it is in and the parameter.
    async fn find(&self, name: &str) -> Result<(ParameterGroup, Option<Parameter>)> {
        let d = self.describe().await?;
        let first = d
            .parameter_groups
            .first()
            .cloned()
            .ok_or_else(|| not_found(format!("{:?} has no parameter group", self.target)))?;
        for group in &d.parameter_groups {
            let params = self.group_parameters(group).await?;
            if let Some(p) = params
                .into_iter()
                .find(|p| p.parameter_name() == Some(name))
            {
                return Ok((group.clone(), Some(p)));
            }
        }
        Ok((first, None))
    }

    fn pending(group: &ParameterGroup, p: &Parameter) -> bool {
        // A dynamic parameter is applied at once even while the group waits for a reboot for
        // another (static) one.
        group.pending_reboot() && p.apply_type() != Some("dynamic")
    }

    /// Every parameter of every group in force, in the description's order.
    async fn read_groups(
        &self,
        d: &RdsDescription,
    ) -> Result<Vec<(ParameterGroup, Vec<Parameter>)>> {
        let mut out = Vec::with_capacity(d.parameter_groups.len());
        for group in &d.parameter_groups {
            out.push((group.clone(), self.group_parameters(group).await?));
        }
        Ok(out)
    }

    /// As [`find`](Self::find), from groups already read.
    fn locate(
        &self,
        groups: &[(ParameterGroup, Vec<Parameter>)],
        name: &str,
    ) -> Result<(ParameterGroup, Option<Parameter>)> {
        for (group, params) in groups {
            if let Some(p) = params.iter().find(|p| p.parameter_name() == Some(name)) {
                return Ok((group.clone(), Some(p.clone())));
            }
        }
        groups
            .first()
            .map(|(g, _)| (g.clone(), None))
            .ok_or_else(|| not_found(format!("{:?} has no parameter group", self.target)))
    }

    fn force_ssl_of(group: ParameterGroup, p: Option<Parameter>) -> ForceSsl {
        ForceSsl {
            pending_reboot: p
                .as_ref()
                .is_some_and(|p| p.parameter_value().is_some() && Self::pending(&group, p)),
            value: p
                .as_ref()
                .and_then(|p| p.parameter_value())
                .map(str::to_owned),
            source: p.as_ref().and_then(|p| p.source()).map(str::to_owned),
            apply_type: p.as_ref().and_then(|p| p.apply_type()).map(str::to_owned),
            group,
        }
    }

    /// When the CA `identifier` expires, from `DescribeCertificates`. `Err` carries why it
    /// could not be read (the caller reports it rather than failing every finding).
    async fn ca_valid_till(
        &self,
        identifier: &str,
    ) -> std::result::Result<Option<SystemTime>, String> {
        let out = self
            .client
            .describe_certificates()
            .certificate_identifier(identifier)
            .send()
            .await
            .map_err(|e| {
                format!(
                    "DescribeCertificates {identifier} failed: {}",
                    DisplayErrorContext(&e)
                )
            })?;
        Ok(out
            .certificates()
            .iter()
            .find(|c| c.certificate_identifier() == Some(identifier))
            .and_then(|c| {
                // A customer override replaces the CA's own end of validity.
                if c.customer_override() == Some(true) {
                    c.customer_override_valid_till().or(c.valid_till())
                } else {
                    c.valid_till()
                }
            })
            .and_then(|t| SystemTime::try_from(*t).ok()))
    }

    /// `rds.force_ssl` in the group in force: for Aurora the cluster group (where Aurora keeps
    /// it), with whether it waits for a reboot.
    pub async fn force_ssl(&self) -> Result<ForceSsl> {
        let (group, p) = self.find(FORCE_SSL).await?;
        Ok(Self::force_ssl_of(group, p))
    }

    /// Sets `rds.force_ssl=1` (only when asked). See [`Provider::set_parameter`].
    pub async fn enforce_ssl(&self) -> Result<ParameterChange> {
        self.set_parameter(FORCE_SSL, "1").await
    }

    async fn modify(&self, group: &ParameterGroup, param: Parameter) -> Result<()> {
        match group.kind {
            ParameterGroupKind::Instance => self
                .client
                .modify_db_parameter_group()
                .db_parameter_group_name(&group.name)
                .parameters(param)
                .send()
                .await
                .map(drop)
                .map_err(|e| api_error(&format!("ModifyDBParameterGroup {}", group.name), e)),
            ParameterGroupKind::Cluster => self
                .client
                .modify_db_cluster_parameter_group()
                .db_cluster_parameter_group_name(&group.name)
                .parameters(param)
                .send()
                .await
                .map(drop)
                .map_err(|e| {
                    api_error(&format!("ModifyDBClusterParameterGroup {}", group.name), e)
                }),
        }
    }
}

fn refuse_default_group(group: &ParameterGroup) -> Error {
    let (create, attach) = match group.kind {
        ParameterGroupKind::Instance => (
            "aws rds create-db-parameter-group --db-parameter-group-name <custom> \
             --db-parameter-group-family <family> --description scrydon",
            "aws rds modify-db-instance --db-instance-identifier <id> \
             --db-parameter-group-name <custom> --apply-immediately (then reboot)",
        ),
        ParameterGroupKind::Cluster => (
            "aws rds create-db-cluster-parameter-group --db-cluster-parameter-group-name \
             <custom> --db-parameter-group-family <family> --description scrydon",
            "aws rds modify-db-cluster --db-cluster-identifier <id> \
             --db-cluster-parameter-group-name <custom> --apply-immediately (then reboot)",
        ),
    };
    Error::InvalidInput {
        field: "parameter_group".to_owned(),
        value: group.name.clone(),
        reason: format!(
            "AWS default parameter groups cannot be modified: create a custom group ({create}), \
             attach it ({attach}), then set the parameter there"
        ),
    }
}

#[async_trait]
impl Provider for RdsProvider {
    fn kind(&self) -> ProviderKind {
        ProviderKind::AwsRds
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            read_parameters: true,
            write_parameters: true,
            allow_extensions: true,
            ca_bundle: self.ca_bundle.is_some(),
            backup_posture: true,
            high_availability: true,
            findings: true,
        }
    }

    /// The configured value in the group in force; `Ok(None)` for a parameter the groups do
    /// not list or leave unset (the engine default applies: `SHOW` tells the value).
    async fn parameter(&self, name: &str) -> Result<Option<ParameterValue>> {
        let (group, p) = self.find(name).await?;
        Ok(p.and_then(|p| {
            let value = p.parameter_value()?.to_owned();
            Some(ParameterValue {
                name: name.to_owned(),
                value,
                pending_restart: Self::pending(&group, &p),
            })
        }))
    }

    /// Sets the parameter in the custom group in force, refusing AWS's `default.*` groups;
    /// `pending-reboot` for a static parameter (or an unknown apply type), `immediate`
    /// otherwise. Never reboots.
    async fn set_parameter(&self, name: &str, value: &str) -> Result<ParameterChange> {
        let (group, current) = self.find(name).await?;
        let previous = current
            .as_ref()
            .and_then(|p| p.parameter_value())
            .map(str::to_owned);
        if previous.as_deref() == Some(value) {
            let pending = current.as_ref().is_some_and(|p| Self::pending(&group, p));
            return Ok(ParameterChange {
                name: name.to_owned(),
                previous,
                value: value.to_owned(),
                applies: if pending {
                    Applies::AfterRestart
                } else {
                    Applies::Immediately
                },
            });
        }
        if group.is_default() {
            return Err(refuse_default_group(&group));
        }
        if current.as_ref().and_then(|p| p.is_modifiable()) == Some(false) {
            return Err(Error::InvalidInput {
                field: "parameter".to_owned(),
                value: name.to_owned(),
                reason: format!("{name} is not modifiable in {}", group.name),
            });
        }
        let dynamic = current.as_ref().and_then(|p| p.apply_type()) == Some("dynamic");
        let method = if dynamic {
            ApplyMethod::Immediate
        } else {
            ApplyMethod::PendingReboot
        };
        let param = Parameter::builder()
            .parameter_name(name)
            .parameter_value(value)
            .apply_method(method)
            .build();
        self.modify(&group, param).await?;
        Ok(ParameterChange {
            name: name.to_owned(),
            previous,
            value: value.to_owned(),
            applies: if dynamic {
                Applies::Immediately
            } else {
                Applies::AfterRestart
            },
        })
    }

    /// Adds `extension` to `rds.allowed_extensions` unless it is allowed already: listed, `*`,
    /// or the parameter unset in the group (the engine default, `*`, allows every extension).
    /// When allowed already nothing is written and the change says so: `applies` is
    /// [`Applies::Immediately`] and `value` is the value in force (`*` when unset).
    async fn allow_extension(&self, extension: &str) -> Result<ParameterChange> {
        let ext = extension.trim();
        if ext.is_empty() || !ext.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(Error::InvalidInput {
                field: "extension".to_owned(),
                value: extension.to_owned(),
                reason: "not an extension name".to_owned(),
            });
        }
        let configured = self
            .parameter(ALLOWED_EXTENSIONS)
            .await?
            .map(|p| p.value)
            .filter(|v| !v.trim().is_empty());
        let Some(current) = configured else {
            // Unset: the engine default is in force, and it allows everything.
            return Ok(ParameterChange {
                name: ALLOWED_EXTENSIONS.to_owned(),
                previous: Some(ALLOWED_EXTENSIONS_DEFAULT.to_owned()),
                value: ALLOWED_EXTENSIONS_DEFAULT.to_owned(),
                applies: Applies::Immediately,
            });
        };
        if allow_list_allows(&current, ext) {
            return Ok(ParameterChange {
                name: ALLOWED_EXTENSIONS.to_owned(),
                previous: Some(current.clone()),
                value: current,
                applies: Applies::Immediately,
            });
        }
        let listed: Vec<&str> = current
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .collect();
        let value = format!("{},{ext}", listed.join(","));
        self.set_parameter(ALLOWED_EXTENSIONS, &value).await
    }

    /// `provider.tls_enforced`, `provider.pending_restart`, `provider.public_network`,
    /// `provider.iam_authentication`, `provider.server_ca` and `provider.extension_allowed`
    /// (for `vector`), from one `DescribeDBInstances` (Aurora: `DescribeDBClusters` and the
    /// writer's instance), the groups' `DescribeDBParameters`, and `DescribeCertificates` only
    /// when the instance reports no certificate expiry. Reads only; an API failure is an error
    /// (preflight reports it as `provider.api`), except `DescribeCertificates`, whose failure
    /// leaves `provider.server_ca` skipped.
    async fn findings(&self) -> Result<Vec<Finding>> {
        let d = self.describe().await?;
        let groups = self.read_groups(&d).await?;
        let (group, p) = self.locate(&groups, FORCE_SSL)?;
        let ssl = Self::force_ssl_of(group, p);
        let (group, p) = self.locate(&groups, ALLOWED_EXTENSIONS)?;
        let allowed = crate::findings::AllowList {
            value: p
                .as_ref()
                .and_then(|p| p.parameter_value())
                .filter(|v| !v.trim().is_empty())
                .map(str::to_owned),
            pending_reboot: p
                .as_ref()
                .is_some_and(|p| p.parameter_value().is_some() && Self::pending(&group, p)),
            apply_type: p.as_ref().and_then(|p| p.apply_type()).map(str::to_owned),
            group,
        };
        let ca = match (&d.certificate_valid_till, &d.ca_certificate_identifier) {
            (Some(t), _) => crate::findings::CaExpiry::Known {
                valid_till: *t,
                source: "CertificateDetails.ValidTill",
            },
            (None, Some(id)) => match self.ca_valid_till(id).await {
                Ok(Some(t)) => crate::findings::CaExpiry::Known {
                    valid_till: t,
                    source: "DescribeCertificates ValidTill",
                },
                Ok(None) => crate::findings::CaExpiry::Unknown(format!(
                    "DescribeCertificates does not list {id}"
                )),
                Err(why) => crate::findings::CaExpiry::Unknown(why),
            },
            (None, None) => crate::findings::CaExpiry::Unknown(
                "the instance reports no CA certificate".to_owned(),
            ),
        };
        Ok(crate::findings::evaluate(
            &crate::findings::Seen {
                description: &d,
                force_ssl: &ssl,
                allow_list: &allowed,
                ca: &ca,
            },
            SystemTime::now(),
        ))
    }

    async fn ca_bundle(&self) -> Result<CaBundle> {
        match &self.ca_bundle {
            Some(b) => Ok(b.clone()),
            None => Err(scrydon_byodb::provider::Operation::CaBundle.not_supported(self)),
        }
    }

    async fn backup_posture(&self) -> Result<BackupPosture> {
        let d = self.describe().await?;
        let automated = d.backup_retention_days.unwrap_or(0) > 0;
        Ok(BackupPosture {
            automated,
            retention_days: d.backup_retention_days.filter(|_| automated),
            point_in_time_recovery: automated && d.latest_restorable_time.is_some(),
            cross_region: d.cross_region_backups,
        })
    }

    async fn high_availability(&self) -> Result<HighAvailability> {
        let d = self.describe().await?;
        Ok(if d.multi_az {
            HighAvailability {
                redundancy: Redundancy::MultiZone,
                automatic_failover: true,
            }
        } else if d.members > 1 {
            HighAvailability {
                redundancy: Redundancy::SameZone,
                automatic_failover: true,
            }
        } else {
            HighAvailability {
                redundancy: Redundancy::Single,
                automatic_failover: false,
            }
        })
    }
}

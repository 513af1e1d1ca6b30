//! `--provider` and `--provider-api`: which provider runs the server, and whether to ask its API.
//!
//! Without `--provider-api` nothing but PostgreSQL is contacted: the kind only picks the
//! documented RPO/RTO and the checks' wording. With it, the provider's crate is built from the
//! provider's usual environment (the AWS credential chain and `AWS_REGION`; `AZURE_*`;
//! application default credentials for GCP; `NEON_API_KEY`) and the server named by the admin
//! DSN's host, and preflight, the compliance report and bootstrap ask it for what SQL cannot see.

use std::sync::Arc;

use clap::{Args, ValueEnum};
use scrydon_byodb::dsn::{Dsn, Host};

use crate::{output, Outcome};
use scrydon_byodb::provider::{detect_from_host, Provider, ProviderKind};
use scrydon_byodb::{Error, Result};

/// Which provider runs the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ProviderArg {
    /// Detected from the host name and the server's settings.
    Auto,
    /// Any PostgreSQL (self-managed, CloudNativePG, Zalando).
    Generic,
    /// AWS RDS / Aurora.
    AwsRds,
    /// GCP Cloud SQL.
    GcpCloudSql,
    /// Azure Database for PostgreSQL Flexible Server.
    AzureFlexibleServer,
    /// Supabase.
    Supabase,
    /// Neon.
    Neon,
}

impl ProviderArg {
    /// The kind given, `None` for `auto`.
    pub(crate) fn kind(self) -> Option<ProviderKind> {
        match self {
            ProviderArg::Auto => None,
            ProviderArg::Generic => Some(ProviderKind::Generic),
            ProviderArg::AwsRds => Some(ProviderKind::AwsRds),
            ProviderArg::GcpCloudSql => Some(ProviderKind::GcpCloudSql),
            ProviderArg::AzureFlexibleServer => Some(ProviderKind::AzureFlexibleServer),
            ProviderArg::Supabase => Some(ProviderKind::Supabase),
            ProviderArg::Neon => Some(ProviderKind::Neon),
        }
    }
}

/// The provider options shared by `preflight`, `report`, `bootstrap` and `run`.
#[derive(Debug, Clone, Args)]
pub(crate) struct ProviderArgs {
    /// Which provider runs the server (`auto`: from the host name and the server's settings):
    /// whose API --provider-api asks; `report` also states its documented RPO/RTO.
    #[arg(long, value_enum, default_value_t = ProviderArg::Auto)]
    pub(crate) provider: ProviderArg,
    /// Also ask the provider's API (parameter groups, TLS enforcement, public access, backups,
    /// high availability), with the provider's usual credentials from the environment. Off:
    /// only PostgreSQL is contacted.
    #[arg(long)]
    pub(crate) provider_api: bool,
    /// GCP Cloud SQL: the instance connection name, project:region:instance (Cloud SQL host
    /// names do not carry it).
    #[arg(
        long,
        value_name = "PROJECT:REGION:INSTANCE",
        env = "SCRYDON_GCP_INSTANCE"
    )]
    pub(crate) gcp_instance: Option<String>,
    /// Azure: the Flexible Server's resource id (default: the host's server name with
    /// AZURE_SUBSCRIPTION_ID and AZURE_RESOURCE_GROUP).
    #[arg(long, value_name = "ID", env = "SCRYDON_AZURE_RESOURCE_ID")]
    pub(crate) azure_resource_id: Option<String>,
}

fn invalid(field: &str, value: impl Into<String>, reason: impl Into<String>) -> Error {
    Error::InvalidInput {
        field: field.to_owned(),
        value: value.into(),
        reason: reason.into(),
    }
}

/// The admin DSN's first TCP host name.
fn host_of(dsn: &Dsn) -> Option<String> {
    dsn.endpoints().ok()?.iter().find_map(|e| match &e.host {
        Host::Tcp(h) => Some(h.clone()),
        Host::Unix(_) => None,
    })
}

impl ProviderArgs {
    /// The kind given on the command line (`None`: detect).
    pub(crate) fn kind(&self) -> Option<ProviderKind> {
        self.provider.kind()
    }

    /// Checks the combination before anything runs (exit code 2, nothing done).
    pub(crate) fn validate(&self, admin: &Dsn) -> Result<()> {
        if !self.provider_api {
            return Ok(());
        }
        let kind = self.api_kind(admin)?;
        if matches!(kind, ProviderKind::Generic) {
            return Err(invalid(
                "--provider",
                "generic",
                "--provider-api needs a provider with an API (aws-rds, gcp-cloud-sql, \
                 azure-flexible-server, neon, supabase)",
            ));
        }
        Ok(())
    }

    /// The kind whose API is asked: the one given, or the host name's.
    fn api_kind(&self, admin: &Dsn) -> Result<ProviderKind> {
        match self.kind() {
            Some(k) => Ok(k),
            None => {
                let host = host_of(admin).unwrap_or_default();
                detect_from_host(&host).ok_or_else(|| {
                    invalid(
                        "--provider",
                        "auto",
                        format!(
                            "the host {host:?} names no known provider: give --provider with \
                             --provider-api"
                        ),
                    )
                })
            }
        }
    }

    /// The provider to ask, or `None` without `--provider-api`. Errors are the provider's:
    /// bad settings ([`Error::InvalidInput`]) or its API refusing ([`Error::Provider`]).
    pub(crate) async fn build(&self, admin: &Dsn) -> Result<Option<Arc<dyn Provider>>> {
        if !self.provider_api {
            return Ok(None);
        }
        let kind = self.api_kind(admin)?;
        let host = host_of(admin);
        let provider: Arc<dyn Provider> = match kind {
            ProviderKind::Generic => {
                self.validate(admin)?;
                return Ok(None);
            }
            ProviderKind::AwsRds => aws(host).await?,
            ProviderKind::Neon => neon(admin)?,
            ProviderKind::Supabase => supabase()?,
            ProviderKind::GcpCloudSql => gcp(self.gcp_instance.as_deref()).await?,
            ProviderKind::AzureFlexibleServer => {
                azure(host, self.azure_resource_id.as_deref()).await?
            }
            other => {
                return Err(invalid(
                    "--provider",
                    other.as_str(),
                    "no API support for this provider in this build",
                ))
            }
        };
        Ok(Some(provider))
    }
}

impl ProviderArgs {
    /// [`build`](Self::build) on `runtime`; on error prints it (exit 2 for input the provider
    /// cannot use, 1 for its API refusing) and returns the outcome to exit with.
    pub(crate) fn build_on(
        &self,
        runtime: &tokio::runtime::Runtime,
        admin: &Dsn,
        json: bool,
    ) -> std::result::Result<Option<Arc<dyn Provider>>, Outcome> {
        match runtime.block_on(self.build(admin)) {
            Ok(p) => Ok(p),
            Err(e @ (Error::InvalidInput { .. } | Error::InvalidDsn { .. })) => {
                output::error(json, "invalid_input", &e);
                Err(Outcome::InvalidInput)
            }
            Err(e) => {
                output::error(json, "provider", &e);
                Err(Outcome::Failed)
            }
        }
    }
}

#[cfg(not(all(feature = "aws", feature = "gcp", feature = "azure", feature = "neon")))]
fn not_built(feature: &str, kind: ProviderKind) -> Error {
    invalid(
        "--provider",
        kind.as_str(),
        format!("this scrydon-byodb was built without the `{feature}` feature"),
    )
}

#[cfg(feature = "aws")]
async fn aws(host: Option<String>) -> Result<Arc<dyn Provider>> {
    let host = host.ok_or_else(|| {
        invalid(
            "--admin-url",
            "",
            "the RDS instance is found from the DSN's host name; the DSN has none",
        )
    })?;
    let p = scrydon_byodb_aws::RdsProviderBuilder::from_env()
        .with_host(host)
        .build()
        .await?;
    Ok(Arc::new(p))
}

#[cfg(not(feature = "aws"))]
async fn aws(_host: Option<String>) -> Result<Arc<dyn Provider>> {
    Err(not_built("aws", ProviderKind::AwsRds))
}

#[cfg(feature = "neon")]
fn neon(admin: &Dsn) -> Result<Arc<dyn Provider>> {
    let p = scrydon_byodb_neon::NeonProviderBuilder::from_env()
        .with_dsn(admin)
        .build()?;
    Ok(Arc::new(p))
}

#[cfg(feature = "neon")]
fn supabase() -> Result<Arc<dyn Provider>> {
    Ok(Arc::new(
        scrydon_byodb_neon::SupabaseProvider::builder().build()?,
    ))
}

#[cfg(not(feature = "neon"))]
fn neon(_admin: &Dsn) -> Result<Arc<dyn Provider>> {
    Err(not_built("neon", ProviderKind::Neon))
}

#[cfg(not(feature = "neon"))]
fn supabase() -> Result<Arc<dyn Provider>> {
    Err(not_built("neon", ProviderKind::Supabase))
}

#[cfg(feature = "gcp")]
async fn gcp(instance: Option<&str>) -> Result<Arc<dyn Provider>> {
    let instance = instance.ok_or_else(|| {
        invalid(
            "--gcp-instance",
            "",
            "Cloud SQL host names do not name the instance: give its connection name, \
             project:region:instance",
        )
    })?;
    let p = scrydon_byodb_gcp::CloudSqlProvider::from_env()
        .with_instance_connection_name(instance)
        .build()
        .await?;
    Ok(Arc::new(p))
}

#[cfg(not(feature = "gcp"))]
async fn gcp(_instance: Option<&str>) -> Result<Arc<dyn Provider>> {
    Err(not_built("gcp", ProviderKind::GcpCloudSql))
}

#[cfg(feature = "azure")]
async fn azure(host: Option<String>, resource_id: Option<&str>) -> Result<Arc<dyn Provider>> {
    let builder = scrydon_byodb_azure::FlexibleServerProvider::from_env();
    let builder = match (resource_id, host) {
        (Some(id), _) => builder.with_resource_id(id),
        (None, Some(host)) => builder.with_host(host),
        (None, None) => builder,
    };
    Ok(Arc::new(builder.build().await?))
}

#[cfg(not(feature = "azure"))]
async fn azure(_host: Option<String>, _resource_id: Option<&str>) -> Result<Arc<dyn Provider>> {
    Err(not_built("azure", ProviderKind::AzureFlexibleServer))
}

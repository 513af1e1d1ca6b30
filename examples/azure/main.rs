//! Preflight against an Azure Database for PostgreSQL Flexible Server, with the Azure provider:
//! besides what SQL sees, `azure.extensions` (VECTOR), `require_secure_transport`,
//! `ssl_min_protocol_version`, public network access, pending restarts, high availability and
//! backups, read through Azure Resource Manager. Changes nothing unless `--fix` is given; then
//! it adds VECTOR to `azure.extensions` (keeping the other extensions) and turns
//! `require_secure_transport` on, following each change to its end.
//!
//! ```sh
//! # The admin DSN in $ADMIN_URL or on standard input (never in `ps`). The server from the
//! # DSN's host with $AZURE_SUBSCRIPTION_ID and $AZURE_RESOURCE_GROUP, or from
//! # $AZURE_POSTGRES_RESOURCE_ID. Credentials: workload identity, client secret, managed
//! # identity, then `az login` (see FlexibleServerProviderBuilder::from_env).
//! ADMIN_URL=postgres://... AZURE_SUBSCRIPTION_ID=... AZURE_RESOURCE_GROUP=... \
//!   cargo run -p scrydon-byodb-examples --bin azure [-- --fix]
//! ```
use std::io::Read;
use std::process::ExitCode;
use std::sync::Arc;

use scrydon_byodb::dsn::{Dsn, Host};
use scrydon_byodb::preflight::{Preflight, Target};
use scrydon_byodb::provider::Provider;
use scrydon_byodb_azure::{FlexibleServerHost, FlexibleServerProvider};

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

fn invalid(field: &str, value: &str, reason: impl Into<String>) -> scrydon_byodb::Error {
    scrydon_byodb::Error::InvalidInput {
        field: field.to_owned(),
        value: value.to_owned(),
        reason: reason.into(),
    }
}

async fn run() -> scrydon_byodb::Result<()> {
    let mut fix = false;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--fix" => fix = true,
            other => return Err(invalid("argument", other, "the only option is --fix")),
        }
    }
    // The DSN from $ADMIN_URL, else standard input (never a command-line argument: `ps`).
    let mut input = std::env::var("ADMIN_URL").unwrap_or_default();
    if input.trim().is_empty() {
        std::io::stdin()
            .read_to_string(&mut input)
            .map_err(|e| invalid("stdin", "", format!("cannot read the DSN: {e}")))?;
    }
    let dsn: Dsn = input.trim().parse()?;

    // The server from the environment's resource id, else from the DSN's host name.
    let mut builder = FlexibleServerProvider::from_env();
    if std::env::var("AZURE_POSTGRES_RESOURCE_ID").is_err() {
        let host = dsn.endpoints()?.iter().find_map(|e| match &e.host {
            Host::Tcp(h) => FlexibleServerHost::from_host(h).map(|_| h.clone()),
            Host::Unix(_) => None,
        });
        let Some(host) = host else {
            return Err(invalid(
                "dsn",
                &dsn.to_string(),
                "no *.postgres.database.azure.com host (or set AZURE_POSTGRES_RESOURCE_ID)",
            ));
        };
        builder = builder.with_host(host);
    }
    let azure = builder.build().await?;
    println!("{}", azure.server());

    if fix {
        let change = azure.allow_extension("vector").await?;
        println!(
            "azure.extensions = {:?} (was {:?}, applies {:?})",
            change.value,
            change.previous.as_deref().unwrap_or(""),
            change.applies
        );
        let change = azure.enforce_tls().await?;
        println!(
            "require_secure_transport = {} (was {}, applies {:?})",
            change.value,
            change.previous.as_deref().unwrap_or("?"),
            change.applies
        );
    }

    let d = azure.describe().await?;
    println!(
        "PostgreSQL {}.{}, HA {:?}, backups kept {} days (geo-redundant: {:?}), public access: {:?}",
        d.version.as_deref().unwrap_or("?"),
        d.minor_version.as_deref().unwrap_or("?"),
        d.high_availability,
        d.backup_retention_days.unwrap_or(0),
        d.geo_redundant_backup,
        d.public_network_access
    );

    // The provider feeds preflight's parameter, backup and HA checks and adds its findings.
    let target = Target::builder(dsn).with_app_role("scrydon").build()?;
    let azure: Arc<dyn Provider> = Arc::new(azure);
    let report = Preflight::new(target).with_provider(azure).run().await?;
    print!("\n{}", report.to_text(false));
    Ok(())
}

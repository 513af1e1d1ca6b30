//! Preflight against an RDS instance or Aurora cluster, with the RDS provider: besides what SQL
//! sees, the parameter group in force (`rds.force_ssl`, in force or waiting for a reboot),
//! backups and PITR, Multi-AZ and the CA certificate, read through the RDS API. Changes
//! nothing.
//!
//! ```sh
//! # The admin DSN in $ADMIN_URL or on standard input (never in `ps`); AWS credentials and
//! # region from the standard chain and the host name.
//! ADMIN_URL=postgres://... cargo run -p scrydon-byodb-examples --bin aws
//! # Optional: RDS_CA_BUNDLE=global-bundle.pem (AWS's published bundle) for verify-full.
//! ```
use std::io::Read;
use std::process::ExitCode;
use std::sync::Arc;

use scrydon_byodb::dsn::{Dsn, Host};
use scrydon_byodb::preflight::{Preflight, Target};
use scrydon_byodb::tls::CaBundle;
use scrydon_byodb_aws::{RdsEndpoint, RdsProvider};

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

async fn run() -> scrydon_byodb::Result<()> {
    // The DSN from $ADMIN_URL, else standard input (never a command-line argument: `ps`).
    let mut input = std::env::var("ADMIN_URL").unwrap_or_default();
    if input.trim().is_empty() {
        std::io::stdin().read_to_string(&mut input).map_err(|e| {
            scrydon_byodb::Error::InvalidInput {
                field: "stdin".to_owned(),
                value: String::new(),
                reason: format!("cannot read the DSN: {e}"),
            }
        })?;
    }
    let dsn: Dsn = input.trim().parse()?;
    let rds_host = dsn.endpoints()?.iter().find_map(|e| match &e.host {
        Host::Tcp(h) => RdsEndpoint::from_host(h).map(|ep| (h.clone(), ep)),
        Host::Unix(_) => None,
    });
    let Some((host, endpoint)) = rds_host else {
        return Err(scrydon_byodb::Error::InvalidInput {
            field: "dsn".to_owned(),
            value: dsn.to_string(),
            reason: "no *.rds.amazonaws.com host".to_owned(),
        });
    };

    // Region and identifier from the host name; credentials from the standard AWS chain.
    let mut builder = RdsProvider::builder().with_host(host);
    if let Ok(path) = std::env::var("RDS_CA_BUNDLE") {
        builder = builder.with_ca_bundle(CaBundle::from_file(path)?);
    }
    let rds = builder.build().await?;
    println!("{:?} in {}", rds.target(), endpoint.region);

    let ssl = rds.force_ssl().await?;
    println!(
        "rds.force_ssl = {} in {} ({}), in force: {}",
        ssl.value.as_deref().unwrap_or("<engine default>"),
        ssl.group.name,
        ssl.apply_type.as_deref().unwrap_or("apply type unknown"),
        ssl.in_force()
    );

    // The provider feeds preflight's backup, HA and parameter checks.
    let target = Target::builder(dsn).with_app_role("scrydon").build()?;
    let report = Preflight::new(target)
        .with_provider(Arc::new(rds))
        .run()
        .await?;
    print!("\n{}", report.to_text(false));
    Ok(())
}

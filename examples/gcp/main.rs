//! Preflight against a Cloud SQL for PostgreSQL instance, with the Cloud SQL provider: besides
//! what SQL sees, the instance's TLS mode (`sslMode` first, `requireSsl` only as a fallback),
//! public IP, flags, backups and PITR, availability type and server CAs, read through the Cloud
//! SQL Admin API. Then a connection verified the way Cloud SQL's certificates allow: the chain
//! to the instance's server CA(s) and the `project:instance` name (default per-instance CA), or
//! verify-full by DNS name (CAS-based CA modes). Changes nothing unless `--fix` is given, which
//! sets `sslMode=ENCRYPTED_ONLY`.
//!
//! ```sh
//! # The instance connection name as argument or in $CLOUDSQL_INSTANCE; the admin DSN in
//! # $ADMIN_URL or on standard input (never in `ps`); application default credentials
//! # (GOOGLE_APPLICATION_CREDENTIALS, gcloud's ADC file, or the metadata server).
//! ADMIN_URL=postgres://... cargo run -p scrydon-byodb-examples --bin gcp -- acme:europe-west1:db
//! # Also enforce TLS on the instance:
//! ADMIN_URL=postgres://... cargo run -p scrydon-byodb-examples --bin gcp -- acme:europe-west1:db --fix
//! ```
use std::io::Read;
use std::process::ExitCode;
use std::sync::Arc;

use scrydon_byodb::connect::{connect, ConnectOptions};
use scrydon_byodb::dsn::Dsn;
use scrydon_byodb::preflight::{Preflight, Target};
use scrydon_byodb::Error;
use scrydon_byodb_gcp::CloudSqlProvider;

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
    let mut fix = false;
    let mut name = std::env::var("CLOUDSQL_INSTANCE").unwrap_or_default();
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--fix" => fix = true,
            other if !other.starts_with('-') => name = other.to_owned(),
            other => {
                return Err(Error::InvalidInput {
                    field: "argument".to_owned(),
                    value: other.to_owned(),
                    reason: "usage: gcp [project:region:instance] [--fix]".to_owned(),
                })
            }
        }
    }

    // The DSN from $ADMIN_URL, else standard input (never a command-line argument: `ps`).
    let mut input = std::env::var("ADMIN_URL").unwrap_or_default();
    if input.trim().is_empty() {
        std::io::stdin()
            .read_to_string(&mut input)
            .map_err(|e| Error::InvalidInput {
                field: "stdin".to_owned(),
                value: String::new(),
                reason: format!("cannot read the DSN: {e}"),
            })?;
    }
    let dsn: Dsn = input.trim().parse()?;

    // Application default credentials; the instance from its connection name.
    let cloudsql = CloudSqlProvider::from_env()
        .with_instance_connection_name(name.trim())
        .build()
        .await?;
    let d = cloudsql.describe().await?;
    println!(
        "{} ({}, {}): sslMode {}, requireSsl {}, TLS enforced: {} (decided by {:?}); server CA \
         mode {}; availability {}",
        cloudsql.connection_name(),
        d.database_version.as_deref().unwrap_or("unknown version"),
        d.state.as_deref().unwrap_or("unknown state"),
        d.ssl_mode.as_deref().unwrap_or("unset"),
        d.require_ssl
            .map(|r| r.to_string())
            .unwrap_or_else(|| "unset".to_owned()),
        d.tls_enforced,
        d.tls_decided_by,
        d.server_ca_mode.as_str(),
        d.availability_type.as_deref().unwrap_or("unknown"),
    );

    if fix {
        let change = cloudsql.enforce_tls().await?;
        println!(
            "{}: {} -> {} ({:?})",
            change.name,
            change.previous.as_deref().unwrap_or("unset"),
            change.value,
            change.applies
        );
    }

    // Connect the way the instance's certificates allow.
    let tls = cloudsql.tls().await?;
    if let Some(dns) = &tls.dns_name {
        println!("the server certificate names {dns}: use it as the DSN's host");
    }
    let options = ConnectOptions::new().with_tls_connector(tls.connector()?);
    let conn = connect(&dsn, &options).await?;
    if let Some(t) = &conn.info().tls {
        println!(
            "connected with {} ({}), certificate {} checked as {:?} against {} server CA(s)",
            t.protocol,
            t.cipher,
            t.peer_subject.as_deref().unwrap_or("?"),
            tls.name_check,
            tls.bundle.len()
        );
    }
    drop(conn);

    // The provider feeds preflight's backup, HA and provider.* checks.
    let target = Target::builder(dsn).with_app_role("scrydon").build()?;
    let report = Preflight::new(target)
        .with_provider(Arc::new(cloudsql))
        .run()
        .await?;
    print!("\n{}", report.to_text(false));
    Ok(())
}

//! The workflow against a self-managed or local PostgreSQL (CloudNativePG, the Zalando operator,
//! a VM), changing nothing:
//!
//! 1. connect and print what the connection looks like (server version, TLS, how the
//!    certificate was checked);
//! 2. preflight: every prerequisite of the runbook, as findings;
//! 3. bootstrap, dry run: the plan (role, databases, pgvector) and what blocks it;
//! 4. render the chart configuration (Mode A, DSNs for the app role `scrydon`) into a temporary
//!    directory.
//!
//! ```sh
//! echo "$ADMIN_URL" | cargo run -p scrydon-byodb-examples --bin local
//! ```
//!
//! The DSN is read from standard input so the password never shows in `ps`. `scrydon-byodb run`
//! does the same and then applies the plan and verifies the result.
use std::io::Read;
use std::process::ExitCode;

use scrydon_byodb::bootstrap::Bootstrap;
use scrydon_byodb::connect::{connect, ConnectOptions};
use scrydon_byodb::diagnose;
use scrydon_byodb::dsn::Dsn;
use scrydon_byodb::preflight::{Preflight, Target};
use scrydon_byodb::render::{ChartValues, RenderPlan};
use scrydon_byodb::SecretString;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let mut input = String::new();
    if let Err(e) = std::io::stdin().read_to_string(&mut input) {
        eprintln!("cannot read the DSN from standard input: {e}");
        return ExitCode::from(2);
    }
    let dsn: Dsn = match input.trim_end_matches(['\r', '\n']).parse() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    println!("connecting to {dsn}");
    match connect(&dsn, &ConnectOptions::new()).await {
        Ok(conn) => {
            let info = conn.info();
            println!("server  {}", info.server_version.text);
            match &info.tls {
                Some(tls) => println!(
                    "tls     {} ({}), verified: {}",
                    tls.protocol, tls.cipher, tls.verification
                ),
                None => println!("tls     none: use sslmode=verify-full with the server's CA"),
            }
        }
        Err(e) => {
            eprintln!("{e}");
            if let Some(d) = diagnose::for_error(&e) {
                eprintln!("fix: {}", d.remediation);
            }
            return ExitCode::FAILURE;
        }
    }
    match workflow(dsn).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

/// Preflight, the bootstrap plan and the rendered configuration; nothing is changed.
async fn workflow(admin: Dsn) -> scrydon_byodb::Result<()> {
    let target = Target::builder(admin.clone())
        .with_app_role("scrydon")
        .build()?;

    // 2. Read-only checks; failures here are findings, not errors.
    let report = Preflight::new(target.clone()).run().await?;
    print!("\n{}", report.to_text(false));

    // 3. What bootstrap would do. Planning a new role needs a password to compute its SCRAM
    //    verifier; this one is never applied (`scrydon-byodb run --password-file` uses yours).
    let plan = Bootstrap::builder(target)
        .with_password(SecretString::new("plan only, never applied".to_owned()))
        .build()?
        .plan()
        .await?;
    print!("\n{}", plan.to_text());

    // 4. The app DSNs: the admin's server and TLS settings, the app role, `{db}` per app. The
    //    password is left out here; `scrydon-byodb run --password-file` sets it.
    let mut app = admin.with_dbname("DBNAME");
    app.set("user", "scrydon")?;
    app.remove("password")?;
    let template = app.to_uri().expose_secret().replace("DBNAME", "{db}");
    let rendered = RenderPlan::new(ChartValues::chart_defaults())
        .with_dsn_template(template, None)
        .render()?;
    let dir = std::env::temp_dir().join(format!("scrydon-byodb-example-{}", std::process::id()));
    let written = rendered.write_to(&dir)?;
    println!("\nrendered {} files into {}", written.len(), dir.display());
    for f in rendered.findings() {
        println!("  {f}");
    }
    Ok(())
}

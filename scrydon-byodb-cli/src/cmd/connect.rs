//! `scrydon-byodb connect`: connect, report what the connection is, or say why it is not.

use std::time::Duration;

use clap::Args;
use scrydon_byodb::connect::{connect, ConnectOptions, ConnectionInfo};
use scrydon_byodb::tls::{ServerNameCheck, TlsConnector};
use scrydon_byodb::{diagnose, Error};
use serde::Serialize;

use crate::{input, output, Outcome};

#[derive(Debug, Args)]
pub(crate) struct ConnectArgs {
    /// The DSN (URI or keyword=value), or `-` to read it from standard input.
    dsn: String,
    /// Seconds to wait per address when the DSN sets no `connect_timeout`.
    #[arg(long, default_value_t = 10)]
    timeout: u64,
    /// Check the server certificate's common name against NAME instead of the host name
    /// (needs `sslmode=verify-full`): Cloud SQL's default certificates carry
    /// `project:instance` as CN and no SAN, so host-name verification cannot succeed.
    #[arg(long, value_name = "NAME")]
    server_cn: Option<String>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// The JSON a successful `connect` prints.
#[derive(Debug, Serialize)]
struct Connected<'a> {
    ok: bool,
    #[serde(flatten)]
    info: &'a ConnectionInfo,
}

/// The JSON a failed `connect` prints.
#[derive(Debug, Serialize)]
struct Failed<'a> {
    ok: bool,
    /// The failure kind's stable id (`certificate_name_mismatch`, ...).
    failure: &'a str,
    error: String,
    diagnosis: Option<&'a diagnose::Diagnosis>,
}

pub(crate) fn run(args: ConnectArgs) -> Outcome {
    let dsn = match input::read_dsn(&args.dsn) {
        Ok(d) => d,
        Err(e) => {
            output::error(args.json, "invalid_dsn", &e);
            return Outcome::InvalidInput;
        }
    };
    if args.timeout == 0 {
        let e = Error::InvalidInput {
            field: "--timeout".into(),
            value: "0".into(),
            reason: "must be at least 1 second".into(),
        };
        output::error(args.json, "invalid_input", &e);
        return Outcome::InvalidInput;
    }
    let mut options =
        ConnectOptions::new().with_default_connect_timeout(Duration::from_secs(args.timeout));
    if let Some(cn) = &args.server_cn {
        let tls = TlsConnector::builder_from_dsn(&dsn).and_then(|b| {
            b.with_server_name_check(ServerNameCheck::CommonNameEquals(cn.clone()))
                .build()
        });
        match tls {
            Ok(t) => options = options.with_tls_connector(t),
            Err(e) => {
                output::error(args.json, "invalid_input", &e);
                return Outcome::InvalidInput;
            }
        }
    }
    let Some(runtime) = output::runtime(args.json) else {
        return Outcome::Failed;
    };
    match runtime.block_on(connect(&dsn, &options)) {
        Ok(conn) => {
            let info = conn.info();
            if args.json {
                output::json(&Connected { ok: true, info });
            } else {
                print_human(info);
            }
            Outcome::Ok
        }
        Err(e) => report_failure(args.json, &e),
    }
}

fn print_human(info: &ConnectionInfo) {
    println!(
        "connected to {} ({})",
        info.endpoint.host, info.endpoint.address
    );
    println!(
        "  server      PostgreSQL {} ({})",
        info.server_version.text, info.server_version.num
    );
    println!("  database    {}", info.dbname);
    println!("  user        {}", info.user);
    match &info.tls {
        Some(tls) => {
            println!("  tls         {} {}", tls.protocol, tls.cipher);
            println!("  verified    {}", tls.verification);
            if let Some(subject) = &tls.peer_subject {
                println!("  certificate {subject}");
            }
            if let Some(not_after) = &tls.peer_not_after {
                println!("  expires     {not_after}");
            }
        }
        None => println!("  tls         none (plaintext)"),
    }
    println!("  sslmode     {}", info.ssl_mode);
}

fn report_failure(as_json: bool, e: &Error) -> Outcome {
    let diagnosis = diagnose::for_error(e);
    match e {
        Error::Connect { failure, .. } => {
            if as_json {
                output::json(&Failed {
                    ok: false,
                    failure: failure.id(),
                    error: e.to_string(),
                    diagnosis,
                });
            } else {
                eprintln!("error: {e}");
                if let Some(d) = diagnosis {
                    eprintln!("  why:  {}", d.summary);
                    eprintln!("  fix:  {}", d.remediation);
                    if let Some(entry) = d.runbook {
                        eprintln!("  see:  runbook, {}", entry.heading());
                    }
                }
            }
            Outcome::Failed
        }
        // Refused before anything was sent: the DSN's TLS settings cannot work as given.
        Error::InvalidDsn { .. } | Error::TlsConfig { .. } | Error::InvalidInput { .. } => {
            output::error(as_json, "invalid_input", e);
            Outcome::InvalidInput
        }
        _ => {
            output::error(as_json, "failed", e);
            Outcome::Failed
        }
    }
}

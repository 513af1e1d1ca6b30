//! `scrydon-byodb restore`: restore a `pg_dump --format=custom` archive (plain or gzip'd) into
//! the managed database, streamed, the password kept out of `pg_restore`'s argv.

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::Args;
use scrydon_byodb::report::Status;
use scrydon_byodb::restore::{restore, RestoreOptions, RestoreReport};
use scrydon_byodb::{diagnose, Error};

use crate::{input, output, Outcome};

#[derive(Debug, Args)]
pub(crate) struct RestoreArgs {
    /// The archive: `pg_dump --format=custom`, plain or gzip-compressed (recognised by content).
    #[arg(long)]
    archive: PathBuf,
    /// The target database's DSN, or `-` to read it from standard input.
    #[arg(long)]
    target_url: String,
    /// Restore into a database that is not empty: drop what the archive re-creates first.
    #[arg(long)]
    clean: bool,
    /// The pg_restore to use (default: the newest installed).
    #[arg(long)]
    pg_restore: Option<PathBuf>,
    /// Namespace whose Deployments to restart afterwards (repeatable; default scrydon-platform).
    #[arg(long = "namespace")]
    namespaces: Vec<String>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(args: RestoreArgs) -> Outcome {
    let dsn = match input::read_dsn(&args.target_url) {
        Ok(d) => d,
        Err(e) => {
            output::error(args.json, "invalid_dsn", &e);
            return Outcome::InvalidInput;
        }
    };
    let mut options = RestoreOptions::new(&args.archive, dsn)
        .with_clean(args.clean)
        .with_progress(!args.json && std::io::stderr().is_terminal());
    if let Some(p) = &args.pg_restore {
        options = options.with_pg_restore(p);
    }
    for ns in &args.namespaces {
        options = options.with_namespace(ns);
    }
    let Some(runtime) = output::runtime(args.json) else {
        return Outcome::Failed;
    };
    match runtime.block_on(restore(&options)) {
        Ok(report) => {
            if args.json {
                output::json(&report);
            } else {
                print_human(&report);
            }
            if report.succeeded() {
                Outcome::Ok
            } else {
                Outcome::Failed
            }
        }
        Err(e) => {
            let kind = match &e {
                Error::InvalidInput { .. } | Error::InvalidDsn { .. } | Error::TlsConfig { .. } => {
                    "invalid_input"
                }
                Error::Connect { .. } => "connect",
                _ => "failed",
            };
            output::error(args.json, kind, &e);
            if !args.json {
                if let Some(d) = diagnose::for_error(&e) {
                    eprintln!("  why:  {}", d.summary);
                    eprintln!("  fix:  {}", d.remediation);
                }
            }
            if kind == "invalid_input" {
                Outcome::InvalidInput
            } else {
                Outcome::Failed
            }
        }
    }
}

fn print_human(r: &RestoreReport) {
    println!(
        "restore of {} into {}: {:?}",
        r.archive.path.display(),
        r.target,
        r.state
    );
    println!(
        "  archive     format 1.{} ({:?}), {} bytes read in {:.1}s",
        r.archive.version.minor,
        r.archive.compression,
        r.bytes_read,
        r.duration.as_secs_f64()
    );
    println!(
        "  pg_restore  {} ({})",
        r.pg_restore.path.display(),
        r.pg_restore.major
    );
    for t in &r.tables {
        match t.rows_estimate {
            Some(n) => println!("  table       {}.{}  ~{n:.0} rows", t.schema, t.table),
            None => println!("  table       {}.{}  MISSING", t.schema, t.table),
        }
    }
    for f in &r.findings {
        if f.status == Status::Pass && f.fix.is_none() {
            continue;
        }
        println!("{:<5} {}  {}", f.status.label(), f.id, f.observed);
        if !f.remediation.is_empty() {
            println!("      fix: {}", f.remediation);
        }
        if let Some(d) = f.diagnosis {
            println!("      diagnosis: {d}");
        }
        if let Some(fix) = &f.fix {
            for line in fix.text.lines() {
                println!("      $ {line}");
            }
        }
    }
}

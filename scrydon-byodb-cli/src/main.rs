//! `scrydon-byodb`: move a Scrydon platform onto a customer-managed PostgreSQL.
//!
//! Exit codes are stable: 0 success, 1 the operation ran and failed (a connection refused, a
//! check failed), 2 the input was invalid (nothing was done).
#![forbid(unsafe_code)]

mod cmd;
mod input;
mod output;
mod provider;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Move a Scrydon platform from its bundled PostgreSQL to a customer-managed one.
#[derive(Debug, Parser)]
#[command(name = "scrydon-byodb", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Parse, check and redact connection strings.
    #[command(subcommand)]
    Dsn(cmd::dsn::DsnCommand),
    /// Connect to a server and report its version, the TLS in use and how the certificate was
    /// verified; on failure, say what went wrong and what to do.
    Connect(cmd::connect::ConnectArgs),
    /// Render the chart configuration (values, Secrets, commands) for the managed database, or
    /// check one with --check.
    Render(Box<cmd::render::RenderArgs>),
    /// Check every prerequisite of the runbook against the live server: version, pgvector,
    /// databases, the migration role's privileges, TLS, capacity, poolers, Dapr tables and
    /// provider settings. Changes nothing.
    Preflight(cmd::preflight::PreflightArgs),
    /// Create the app role (LOGIN CREATEDB, SCRAM verifier computed here), the component
    /// databases it owns and pgvector: plan, apply, prove. Idempotent; never destructive.
    Bootstrap(cmd::bootstrap::BootstrapArgs),
    /// Restore a pg_dump --format=custom archive (plain or gzip'd) into the managed database,
    /// streamed, and check the result against the archive's table of contents.
    Restore(cmd::restore::RestoreArgs),
    /// Prove the switch per component with the DSN the app uses: managed host, the component's
    /// database, its credentials and TLS, migrations applied, pgvector present.
    Verify(cmd::verify::VerifyArgs),
    /// The compliance report: ISO 27001 A.8.13/A.8.24, NIST SC-8/CP-9/CP-10 and SecNumCloud 3.2,
    /// each met or not with its evidence (WAL archiving, synchronous standbys, TLS) and the
    /// provider's RPO/RTO.
    Report(cmd::report::ReportArgs),
    /// The whole move against one server: preflight, bootstrap, render, verify. Stops at the
    /// first failing stage; a rerun resumes (state in OUT/run-state.json).
    Run(Box<cmd::run::RunArgs>),
    /// Keep a serverless endpoint (Neon) awake during a window with the cheapest query at a
    /// bounded interval, for platforms that idle between workflow runs.
    #[cfg(feature = "neon")]
    Keepalive(cmd::keepalive::KeepaliveArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Dsn(c) => cmd::dsn::run(c),
        Command::Connect(a) => cmd::connect::run(a),
        Command::Render(a) => cmd::render::run(*a),
        Command::Preflight(a) => cmd::preflight::run(a),
        Command::Bootstrap(a) => cmd::bootstrap::run(a),
        Command::Restore(a) => cmd::restore::run(a),
        Command::Verify(a) => cmd::verify::run(a),
        Command::Report(a) => cmd::report::run(a),
        Command::Run(a) => cmd::run::run(*a),
        #[cfg(feature = "neon")]
        Command::Keepalive(a) => cmd::keepalive::run(a),
    };
    ExitCode::from(outcome as u8)
}

/// What a command ended with; the process exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Everything went as asked.
    Ok = 0,
    /// The operation ran and failed.
    Failed = 1,
    /// The input was invalid; nothing was done.
    InvalidInput = 2,
}

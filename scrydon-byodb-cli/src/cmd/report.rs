//! `scrydon-byodb report`: the compliance report (ISO 27001 A.8.13/A.8.24, NIST SC-8/CP-9/CP-10,
//! SecNumCloud 3.2) from the server's own evidence.

use std::time::Duration;

use clap::{Args, ValueEnum};
use scrydon_byodb::compliance::Compliance;
use scrydon_byodb::preflight::{Target, DEFAULT_APP_ROLE};
use scrydon_byodb::Error;

use crate::provider::ProviderArgs;
use crate::{input, output, Outcome};

/// How to print the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    /// A table for people.
    Text,
    /// Markdown, to attach to an audit.
    Md,
    /// JSON, for tools.
    Json,
}

#[derive(Debug, Args)]
pub(crate) struct ReportArgs {
    /// The admin DSN, or `-` to read it from standard input so the password stays out of the
    /// command line.
    #[arg(long = "admin-url", value_name = "DSN")]
    admin_url: String,
    /// The provider the report is for (its documented RPO/RTO, the backup reminder), and with
    /// --provider-api, whose API gives evidence too (backups, high availability, TLS
    /// enforcement).
    #[command(flatten)]
    provider: ProviderArgs,
    /// The role the apps connect as (for the preflight part of the evidence).
    #[arg(long, value_name = "NAME", default_value = DEFAULT_APP_ROLE)]
    app_role: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Seconds one connection, query or probe may take.
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    timeout: u64,
}

pub(crate) fn run(args: ReportArgs) -> Outcome {
    let json = args.format == Format::Json;
    if args.timeout == 0 {
        let e = Error::InvalidInput {
            field: "--timeout".to_owned(),
            value: "0".to_owned(),
            reason: "must be at least 1 second".to_owned(),
        };
        output::error(json, "invalid_input", &e);
        return Outcome::InvalidInput;
    }
    let target = match input::read_dsn(&args.admin_url).and_then(|admin| {
        Target::builder(admin)
            .with_app_role(args.app_role.clone())
            .build()
    }) {
        Ok(t) => t,
        Err(e) => {
            output::error(json, "invalid_input", &e);
            return Outcome::InvalidInput;
        }
    };
    if let Err(e) = args.provider.validate(target.admin()) {
        output::error(json, "invalid_input", &e);
        return Outcome::InvalidInput;
    }
    let Some(runtime) = output::runtime(json) else {
        return Outcome::Failed;
    };
    let provider = match args.provider.build_on(&runtime, target.admin(), json) {
        Ok(p) => p,
        Err(outcome) => return outcome,
    };
    let mut compliance =
        Compliance::new(target).with_step_timeout(Duration::from_secs(args.timeout));
    if let Some(kind) = args.provider.kind() {
        compliance = compliance.with_provider_kind(kind);
    }
    if let Some(p) = provider {
        compliance = compliance.with_provider(p);
    }
    let report = match runtime.block_on(compliance.run()) {
        Ok(r) => r,
        Err(e) => {
            output::error(json, "invalid_input", &e);
            return Outcome::InvalidInput;
        }
    };
    match args.format {
        Format::Json => output::json(&report.to_json()),
        Format::Md => print!("{}", report.to_markdown()),
        Format::Text => print!("{}", report.to_text()),
    }
    // A control not met is the report's answer; only a server that could not be reached is a
    // failure to report.
    if report.server.is_none() {
        Outcome::Failed
    } else {
        Outcome::Ok
    }
}

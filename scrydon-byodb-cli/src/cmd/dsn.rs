//! `scrydon-byodb dsn parse|redact`.

use clap::{Args, Subcommand};
use serde_json::{Map, Value};

use crate::{input, output, Outcome};

/// Masked password shown in place of the real one.
const MASK: &str = "********";

#[derive(Debug, Subcommand)]
pub(crate) enum DsnCommand {
    /// Print every field of a DSN as libpq names it; the password is masked unless
    /// `--show-password`.
    Parse(ParseArgs),
    /// Print the DSN as a URI with the password masked.
    Redact(RedactArgs),
}

#[derive(Debug, Args)]
pub(crate) struct ParseArgs {
    /// The DSN (URI or keyword=value), or `-` to read it from standard input.
    dsn: String,
    /// Show the password instead of masking it.
    #[arg(long)]
    show_password: bool,
    /// Print JSON: an object whose keys are libpq's keyword names.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct RedactArgs {
    /// The DSN (URI or keyword=value), or `-` to read it from standard input.
    dsn: String,
    /// Print JSON: `{"redacted": "..."}`.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(command: DsnCommand) -> Outcome {
    match command {
        DsnCommand::Parse(a) => parse(a),
        DsnCommand::Redact(a) => redact(a),
    }
}

fn parse(args: ParseArgs) -> Outcome {
    let dsn = match input::read_dsn(&args.dsn) {
        Ok(d) => d,
        Err(e) => {
            output::error(args.json, "invalid_dsn", &e);
            return Outcome::InvalidInput;
        }
    };
    let fields: Vec<(&str, String)> = dsn
        .params()
        .map(|(k, v)| {
            let shown = if k == "password" && !args.show_password {
                MASK.to_owned()
            } else {
                v.to_owned()
            };
            (k, shown)
        })
        .collect();
    if args.json {
        let map: Map<String, Value> = fields
            .into_iter()
            .map(|(k, v)| (k.to_owned(), Value::String(v)))
            .collect();
        output::json(&map);
    } else {
        let width = fields.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        for (k, v) in fields {
            println!("{k:width$}  {v}");
        }
    }
    Outcome::Ok
}

fn redact(args: RedactArgs) -> Outcome {
    match input::read_dsn(&args.dsn) {
        Ok(dsn) => {
            if args.json {
                output::json(&serde_json::json!({ "redacted": dsn.to_string() }));
            } else {
                println!("{dsn}");
            }
            Outcome::Ok
        }
        Err(e) => {
            output::error(args.json, "invalid_dsn", &e);
            Outcome::InvalidInput
        }
    }
}

//! `scrydon-byodb bootstrap`: create the app role, the component databases and pgvector,
//! idempotently and with least privilege; prove the migration Jobs will work.

use std::io::Read;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use scrydon_byodb::bootstrap::{Bootstrap, BootstrapBuilder};
use scrydon_byodb::dsn::Dsn;
use scrydon_byodb::preflight::{Target, DEFAULT_APP_ROLE};
use scrydon_byodb::report::{Finding, Status};
use scrydon_byodb::{Error, SecretString};

use crate::provider::ProviderArgs;
use crate::{input, output, Outcome};

#[derive(Debug, Args)]
pub(crate) struct BootstrapArgs {
    /// The admin DSN (its database is the maintenance database, usually `postgres`), or `-` to
    /// read it from standard input so the password stays out of the command line.
    #[arg(long = "admin-url", value_name = "DSN")]
    admin_url: String,
    /// The role the migrations and the apps connect as (created LOGIN CREATEDB).
    #[arg(long, value_name = "NAME", default_value = DEFAULT_APP_ROLE)]
    app_role: String,
    /// Read the app role's password from this file (one trailing line break is dropped).
    #[arg(long, value_name = "FILE", group = "password")]
    password_file: Option<PathBuf>,
    /// Read the app role's password from this environment variable.
    #[arg(long, value_name = "VAR", group = "password")]
    password_env: Option<String>,
    /// Read the app role's password from standard input (one trailing line break is dropped).
    #[arg(long, group = "password")]
    password_stdin: bool,
    /// Change the password of an app role that already exists.
    #[arg(long)]
    reset_password: bool,
    /// An enabled component (auth, agentic, analytics, cortex, ontology); repeat or separate
    /// with commas. Default: all five.
    #[arg(long = "component", value_name = "NAME", value_delimiter = ',')]
    components: Vec<String>,
    /// Show the plan (and its SQL, passwords masked) and change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Print the plan, what was applied and the proof as JSON.
    #[arg(long)]
    json: bool,
    /// Seconds one statement may run (statement_timeout); lock_timeout is a sixth of it.
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    timeout: u64,
    /// With --provider-api, a provider allow-list that keeps pgvector out (`azure.extensions`,
    /// `rds.allowed_extensions`) is fixed through the provider's API before CREATE EXTENSION.
    #[command(flatten)]
    provider: ProviderArgs,
}

fn invalid(field: &str, value: &str, reason: impl Into<String>) -> Error {
    Error::InvalidInput {
        field: field.to_owned(),
        value: value.to_owned(),
        reason: reason.into(),
    }
}

fn strip_line_break(mut s: String) -> String {
    if s.ends_with('\n') {
        s.pop();
        if s.ends_with('\r') {
            s.pop();
        }
    }
    s
}

fn password(args: &BootstrapArgs) -> Result<Option<SecretString>, Error> {
    let value = if let Some(path) = &args.password_file {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            path: Some(path.clone()),
            source,
        })?;
        strip_line_break(text)
    } else if let Some(var) = &args.password_env {
        match std::env::var(var) {
            Ok(v) => v,
            Err(_) => {
                return Err(invalid(
                    "--password-env",
                    var,
                    "the environment variable is not set (or not UTF-8)",
                ))
            }
        }
    } else if args.password_stdin {
        let mut buf = String::new();
        std::io::stdin()
            .read_to_string(&mut buf)
            .map_err(|source| Error::Io { path: None, source })?;
        strip_line_break(buf)
    } else {
        return Ok(None);
    };
    if value.is_empty() {
        return Err(invalid("password", "[REDACTED]", "is empty"));
    }
    Ok(Some(SecretString::new(value)))
}

/// Everything from the command line, checked; the provider is added once a runtime exists.
fn builder(args: &BootstrapArgs) -> Result<(Dsn, BootstrapBuilder), Error> {
    if args.admin_url == "-" && args.password_stdin {
        return Err(invalid(
            "--password-stdin",
            "-",
            "standard input cannot carry both the admin DSN and the password; use --password-file or --password-env",
        ));
    }
    if args.timeout == 0 {
        return Err(invalid("--timeout", "0", "must be at least 1 second"));
    }
    let admin = input::read_dsn(&args.admin_url)?;
    args.provider.validate(&admin)?;
    let mut target = Target::builder(admin.clone()).with_app_role(args.app_role.clone());
    if !args.components.is_empty() {
        let components = input::components(&args.components)?;
        target = target.with_components(components);
    }
    let timeout = Duration::from_secs(args.timeout);
    let mut builder = Bootstrap::builder(target.build()?)
        .with_reset_password(args.reset_password)
        .with_statement_timeout(timeout)
        .with_lock_timeout((timeout / 6).max(Duration::from_secs(1)))
        .with_lock_wait(timeout);
    if let Some(pw) = password(args)? {
        builder = builder.with_password(pw);
    }
    Ok((admin, builder))
}

fn is_input_error(e: &Error) -> bool {
    matches!(
        e,
        Error::InvalidInput { .. } | Error::InvalidDsn { .. } | Error::TlsConfig { .. }
    )
}

pub(crate) fn run(args: BootstrapArgs) -> Outcome {
    let (admin, mut builder) = match builder(&args) {
        Ok(b) => b,
        Err(e) => {
            output::error(args.json, "invalid_input", &e);
            return Outcome::InvalidInput;
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(source) => {
            output::error(args.json, "io", &Error::Io { path: None, source });
            return Outcome::Failed;
        }
    };
    match args.provider.build_on(&runtime, &admin, args.json) {
        Ok(Some(p)) => builder = builder.with_provider(p),
        Ok(None) => {}
        Err(outcome) => return outcome,
    }
    let bootstrap = match builder.build() {
        Ok(b) => b,
        Err(e) => {
            output::error(args.json, "invalid_input", &e);
            return Outcome::InvalidInput;
        }
    };
    runtime.block_on(run_async(&args, &bootstrap))
}

async fn run_async(args: &BootstrapArgs, bootstrap: &Bootstrap) -> Outcome {
    let plan = match bootstrap.plan().await {
        Ok(p) => p,
        Err(e) => {
            let input = is_input_error(&e);
            output::error(args.json, if input { "invalid_input" } else { "plan" }, &e);
            return if input {
                Outcome::InvalidInput
            } else {
                Outcome::Failed
            };
        }
    };
    if args.dry_run || plan.is_blocked() {
        if args.json {
            output::json(&serde_json::json!({
                "ok": !plan.is_blocked(),
                "dry_run": args.dry_run,
                "plan": plan,
            }));
        } else {
            print!("{}", plan.to_text());
        }
        return if plan.is_blocked() {
            Outcome::Failed
        } else {
            Outcome::Ok
        };
    }
    if !args.json {
        print!("{}", plan.to_text());
    }
    let applied = match bootstrap.apply(&plan).await {
        Ok(a) => a,
        Err(e) => {
            output::error(args.json, "apply", &e);
            return Outcome::Failed;
        }
    };
    let proof: Vec<Finding> = if applied.succeeded() {
        match bootstrap.prove().await {
            Ok(p) => p,
            Err(e) => {
                output::error(args.json, "prove", &e);
                return Outcome::Failed;
            }
        }
    } else {
        Vec::new()
    };
    let ok = applied.succeeded()
        && !proof.iter().any(|f| f.status == Status::Fail)
        && !plan.notes.iter().any(|f| f.status == Status::Fail);
    if args.json {
        output::json(&serde_json::json!({
            "ok": ok,
            "dry_run": false,
            "plan": plan,
            "applied": applied,
            "proof": proof,
        }));
    } else {
        for s in &applied.steps {
            println!("applied: {} ({:?})", s.step.summary(), s.outcome);
        }
        if let Some(f) = &applied.failed {
            println!(
                "FAILED: {} [{}]: {}",
                f.step.summary(),
                f.sqlstate.as_deref().unwrap_or("-"),
                f.message
            );
            for b in &f.blocked_by {
                println!(
                    "  blocked by pid {} (user {}, application {}, since {})",
                    b.pid,
                    b.user.as_deref().unwrap_or("?"),
                    b.application_name.as_deref().unwrap_or("?"),
                    b.query_start.as_deref().unwrap_or("?")
                );
            }
        }
        for f in &proof {
            println!("{f}");
        }
    }
    if ok {
        Outcome::Ok
    } else {
        Outcome::Failed
    }
}

//! `scrydon-byodb preflight`: check every prerequisite of the runbook against the live server.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};
use scrydon_byodb::catalog::Component;
use scrydon_byodb::dsn::Dsn;
use scrydon_byodb::preflight::{ComponentDemand, Demand, Preflight, Target, DEFAULT_APP_ROLE};
use scrydon_byodb::Error;

use crate::provider::ProviderArgs;
use crate::{input, output, Outcome};

/// When to colour the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Color {
    /// When standard output is a terminal and `NO_COLOR` is not set.
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

#[derive(Debug, Args)]
pub(crate) struct PreflightArgs {
    /// The admin DSN (URI or keyword=value; its database is used for server-wide checks), or
    /// `-` to read it from standard input so the password stays out of the command line.
    #[arg(long = "admin-url", value_name = "DSN")]
    admin_url: String,
    /// The role the migrations and the apps connect as.
    #[arg(long, value_name = "NAME", default_value = DEFAULT_APP_ROLE)]
    app_role: String,
    /// An enabled component (auth, agentic, analytics, cortex, ontology); repeat or separate
    /// with commas. Default: all five.
    #[arg(long = "component", value_name = "NAME", value_delimiter = ',')]
    components: Vec<String>,
    /// A component's own DSN, as the app will use it: NAME=DSN (repeatable). Default: the admin
    /// DSN with the component's database.
    #[arg(long = "component-url", value_name = "NAME=DSN")]
    component_urls: Vec<String>,
    /// App pods per component, for the capacity check.
    #[arg(long, value_name = "N", default_value_t = ComponentDemand::DEFAULT.pods)]
    pods: u32,
    /// Connections in each pod's pool.
    #[arg(long, value_name = "N", default_value_t = ComponentDemand::DEFAULT.pool_size)]
    pool_size: u32,
    /// Connections each pod's Dapr sidecar opens.
    #[arg(long, value_name = "N", default_value_t = ComponentDemand::DEFAULT.sidecar_connections)]
    sidecar_connections: u32,
    /// Print the report as JSON (schema: docs/preflight-report.schema.json).
    #[arg(long, conflicts_with = "junit")]
    json: bool,
    /// Also write the report as JUnit XML to FILE (for CI systems).
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
    /// Fail on warnings too (exit code 1).
    #[arg(long)]
    strict: bool,
    /// Colour the table.
    #[arg(long, value_enum, default_value_t = Color::Auto)]
    color: Color,
    /// Seconds one connection, query or probe may take.
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    timeout: u64,
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

/// Everything but the server: the target as given on the command line.
fn target(args: &PreflightArgs) -> Result<Target, Error> {
    let from_stdin = std::iter::once(args.admin_url.as_str())
        .chain(
            args.component_urls
                .iter()
                .filter_map(|s| s.split_once('=').map(|(_, d)| d)),
        )
        .filter(|d| *d == "-")
        .count();
    if from_stdin > 1 {
        return Err(invalid(
            "--admin-url",
            "-",
            "only one DSN can be read from standard input",
        ));
    }
    let admin = input::read_dsn(&args.admin_url)?;
    let mut builder = Target::builder(admin)
        .with_app_role(args.app_role.clone())
        .with_demand(Demand::new().with_default(ComponentDemand {
            pods: args.pods,
            pool_size: args.pool_size,
            sidecar_connections: args.sidecar_connections,
        }));
    if !args.components.is_empty() {
        let components = input::components(&args.components)?;
        builder = builder.with_components(components);
    }
    for spec in &args.component_urls {
        let Some((name, dsn)) = spec.split_once('=') else {
            return Err(invalid(
                "--component-url",
                spec.split(['/', '@']).next().unwrap_or(""),
                "expected NAME=DSN",
            ));
        };
        let component = name.trim().parse::<Component>().map_err(|_| {
            invalid(
                "--component-url",
                name,
                "expected auth, agentic, analytics, cortex or ontology before '='",
            )
        })?;
        let dsn: Dsn = input::read_dsn(dsn)?;
        builder = builder.with_component_dsn(component, dsn);
    }
    builder.build()
}

pub(crate) fn run(args: PreflightArgs) -> Outcome {
    if args.timeout == 0 {
        let e = invalid("--timeout", "0", "must be at least 1 second");
        output::error(args.json, "invalid_input", &e);
        return Outcome::InvalidInput;
    }
    let target = match target(&args) {
        Ok(t) => t,
        Err(e) => {
            output::error(args.json, "invalid_input", &e);
            return Outcome::InvalidInput;
        }
    };
    if let Err(e) = args.provider.validate(target.admin()) {
        output::error(args.json, "invalid_input", &e);
        return Outcome::InvalidInput;
    }
    let Some(runtime) = output::runtime(args.json) else {
        return Outcome::Failed;
    };
    let provider = match args.provider.build_on(&runtime, target.admin(), args.json) {
        Ok(p) => p,
        Err(outcome) => return outcome,
    };
    let mut preflight = Preflight::new(target).with_step_timeout(Duration::from_secs(args.timeout));
    if let Some(p) = provider {
        preflight = preflight.with_provider(p);
    }
    let report = match runtime.block_on(preflight.run()) {
        Ok(r) => r,
        // Only input the run cannot use (an unreadable sslrootcert, a refused TLS combination).
        Err(e) => {
            output::error(args.json, "invalid_input", &e);
            return Outcome::InvalidInput;
        }
    };
    if let Some(path) = &args.junit {
        if let Err(source) = std::fs::write(path, report.to_junit(args.strict)) {
            let e = Error::Io {
                path: Some(path.clone()),
                source,
            };
            output::error(args.json, "io", &e);
            return Outcome::Failed;
        }
    }
    if args.json {
        output::json(&report.to_json());
    } else {
        let color = match args.color {
            Color::Always => true,
            Color::Never => false,
            Color::Auto => {
                std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
            }
        };
        print!("{}", report.to_text(color));
    }
    if report.passed(args.strict) {
        Outcome::Ok
    } else {
        Outcome::Failed
    }
}

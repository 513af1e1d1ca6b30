//! `scrydon-byodb run`: the whole move against one server, the command a new user runs first.
//!
//! Stages, in order: **preflight** (read-only), **bootstrap** (app role, databases, pgvector,
//! then the proof as the app role), **render** (values, Secrets, commands into `OUT/render`),
//! **verify** (the rendered DSNs, as the apps will use them). The run stops at the first stage
//! that fails, with that stage's findings and their fixes; every stage's result is in one
//! report.
//!
//! * **Failures bootstrap will fix do not stop the run.** Preflight findings with an id in
//!   [`FIXED_BY_BOOTSTRAP`] (a missing database, role or pgvector, the role's missing rights on
//!   a database it will own) are what bootstrap exists to change; they are reported and the
//!   run goes on. After bootstrap, preflight runs again and must pass as a whole.
//! * **Resumable.** Each stage's result is recorded in `OUT/run-state.json` with the inputs it
//!   ran for (the admin DSN with its password masked, the app role, the mode, the values file
//!   and its modification time, the demand). A rerun with the same inputs skips the stages that
//!   passed; `--from-start` runs them all again. Bootstrap converges anyway (a second apply
//!   plans nothing). A changed app-role password is not an input it can see: use
//!   `--from-start` after changing it.
//! * **Verify before install.** The Drizzle migrations run as Helm hooks at install, so before
//!   `helm install` the verify stage reports `verify.migrations` as pending (skipped), not
//!   failed; run `scrydon-byodb verify --dir OUT/render` after the install.

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use clap::Args;
use scrydon_byodb::bootstrap::Bootstrap;
use scrydon_byodb::dsn::Dsn;
use scrydon_byodb::preflight::{ComponentDemand, Demand, Preflight, Target, DEFAULT_APP_ROLE};
use scrydon_byodb::provider::Provider;
use scrydon_byodb::render::{ChartValues, Mode, RenderPlan};
use scrydon_byodb::report::{ids, Finding, Status};
use scrydon_byodb::verify::{self, VerifyOptions};
use scrydon_byodb::{Error, SecretString};
use serde::{Deserialize, Serialize};

use crate::provider::ProviderArgs;
use crate::{input, output, Outcome};

/// Preflight check ids whose failures bootstrap fixes: it creates the database, the role and
/// pgvector, and the role owns the databases it creates (so it may connect and create schemas,
/// and bootstrap grants `CREATE` on `public`). A component's connection failure counts only
/// when its database is the one missing. Anything else (version, TLS, capacity, provider
/// settings) stops the run before bootstrap changes anything.
pub(crate) const FIXED_BY_BOOTSTRAP: &[&str] = &[
    ids::PREFLIGHT_DATABASE_EXISTS,
    ids::PREFLIGHT_VECTOR_INSTALLED,
    ids::PREFLIGHT_ROLE_EXISTS,
    ids::PREFLIGHT_ROLE_CONNECT,
    ids::PREFLIGHT_ROLE_CREATE_SCHEMA,
    ids::PREFLIGHT_ROLE_CREATE_PUBLIC,
];

const STATE_FILE: &str = "run-state.json";
const STATE_VERSION: u32 = 1;

#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    /// The admin DSN, or `-` to read it from standard input so the password stays out of the
    /// command line.
    #[arg(long = "admin-url", value_name = "DSN")]
    admin_url: String,
    /// The role the migrations and the apps connect as.
    #[arg(long, value_name = "NAME", default_value = DEFAULT_APP_ROLE)]
    app_role: String,
    /// The app role's password, from this file (one trailing line break is dropped). Never
    /// taken from the command line.
    #[arg(long, value_name = "FILE")]
    password_file: PathBuf,
    /// The customer's chart values file. Default: the chart's defaults.
    #[arg(long, value_name = "FILE")]
    values: Option<PathBuf>,
    /// How the apps get their DSN: a (pre-created Secrets) or b (inline DSNs).
    #[arg(long, value_name = "a|b", default_value = "a")]
    mode: String,
    /// Where the rendered files and run-state.json go.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Run every stage again, ignoring run-state.json.
    #[arg(long)]
    from_start: bool,
    /// App pods per component, for the capacity check.
    #[arg(long, value_name = "N", default_value_t = ComponentDemand::DEFAULT.pods)]
    pods: u32,
    /// Connections in each pod's pool.
    #[arg(long, value_name = "N", default_value_t = ComponentDemand::DEFAULT.pool_size)]
    pool_size: u32,
    /// Connections each pod's Dapr sidecar opens.
    #[arg(long, value_name = "N", default_value_t = ComponentDemand::DEFAULT.sidecar_connections)]
    sidecar_connections: u32,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    /// Seconds one connection, query or probe may take.
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    timeout: u64,
    /// With --provider-api, preflight and bootstrap ask the provider's API too.
    #[command(flatten)]
    provider: ProviderArgs,
}

/// A stage of the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Stage {
    Preflight,
    Bootstrap,
    Render,
    Verify,
}

impl Stage {
    const ALL: [Stage; 4] = [
        Stage::Preflight,
        Stage::Bootstrap,
        Stage::Render,
        Stage::Verify,
    ];

    fn as_str(self) -> &'static str {
        match self {
            Stage::Preflight => "preflight",
            Stage::Bootstrap => "bootstrap",
            Stage::Render => "render",
            Stage::Verify => "verify",
        }
    }
}

/// How a stage ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum StageStatus {
    /// Ran and passed.
    Passed,
    /// Passed in an earlier run for the same inputs; not run again.
    Resumed,
    /// Ran and failed: the run stopped here.
    Failed,
    /// Not reached.
    NotRun,
}

#[derive(Debug, Clone, Serialize)]
struct StageResult {
    stage: Stage,
    status: StageStatus,
    /// One line on what happened.
    summary: String,
    findings: Vec<Finding>,
}

/// The inputs a stage result is valid for (no secrets).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Inputs {
    admin: String,
    app_role: String,
    mode: String,
    values: Option<String>,
    values_modified: Option<u64>,
    demand: [u32; 3],
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct State {
    version: u32,
    inputs: Inputs,
    passed: Vec<Stage>,
}

fn invalid(field: &str, value: &str, reason: impl Into<String>) -> Error {
    Error::InvalidInput {
        field: field.to_owned(),
        value: value.to_owned(),
        reason: reason.into(),
    }
}

struct Prepared {
    target: Target,
    password: SecretString,
    values: ChartValues,
    mode: Mode,
    inputs: Inputs,
}

fn prepare(args: &RunArgs) -> Result<Prepared, Error> {
    if args.timeout == 0 {
        return Err(invalid("--timeout", "0", "must be at least 1 second"));
    }
    let mode: Mode = args.mode.parse()?;
    let admin = input::read_dsn(&args.admin_url)?;
    args.provider.validate(&admin)?;
    let text = std::fs::read_to_string(&args.password_file).map_err(|source| Error::Io {
        path: Some(args.password_file.clone()),
        source,
    })?;
    let text = text.strip_suffix('\n').unwrap_or(&text);
    let text = text.strip_suffix('\r').unwrap_or(text);
    if text.is_empty() {
        return Err(invalid(
            "--password-file",
            &args.password_file.display().to_string(),
            "is empty",
        ));
    }
    let password = SecretString::new(text.to_owned());
    let values = match &args.values {
        Some(path) => ChartValues::from_path(path)?,
        None => ChartValues::chart_defaults(),
    };
    let demand = ComponentDemand {
        pods: args.pods,
        pool_size: args.pool_size,
        sidecar_connections: args.sidecar_connections,
    };
    let target = Target::builder(admin.clone())
        .with_app_role(args.app_role.clone())
        .with_components(values.enabled_components())
        .with_demand(Demand::new().with_default(demand))
        .build()?;
    let values_modified = args.values.as_ref().and_then(|p| {
        std::fs::metadata(p)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map(|d| d.as_secs())
    });
    let inputs = Inputs {
        admin: admin.to_string(),
        app_role: args.app_role.clone(),
        mode: format!("{mode}"),
        values: args.values.as_ref().map(|p| p.display().to_string()),
        values_modified,
        demand: [args.pods, args.pool_size, args.sidecar_connections],
    };
    Ok(Prepared {
        target,
        password,
        values,
        mode,
        inputs,
    })
}

/// The DSN template the apps use: the admin DSN's server and TLS settings, the app role, no
/// password (render sets it), `{db}` for each app's database.
fn dsn_template(admin: &Dsn, app_role: &str) -> Result<String, Error> {
    const PLACEHOLDER: &str = "scrydonbyodbdbplaceholder";
    let mut dsn = admin.with_dbname(PLACEHOLDER);
    dsn.set("user", app_role)?;
    dsn.remove("password")?;
    dsn.remove("passfile")?;
    Ok(dsn.to_uri().expose_secret().replace(PLACEHOLDER, "{db}"))
}

fn load_state(out: &Path, inputs: &Inputs) -> Vec<Stage> {
    let Ok(text) = std::fs::read_to_string(out.join(STATE_FILE)) else {
        return Vec::new();
    };
    match serde_json::from_str::<State>(&text) {
        Ok(s) if s.version == STATE_VERSION && s.inputs == *inputs => s.passed,
        _ => Vec::new(),
    }
}

fn save_state(out: &Path, inputs: &Inputs, passed: &[Stage]) -> Result<(), Error> {
    let state = State {
        version: STATE_VERSION,
        inputs: inputs.clone(),
        passed: passed.to_vec(),
    };
    let path = out.join(STATE_FILE);
    let text = serde_json::to_string_pretty(&state).unwrap_or_default();
    std::fs::write(&path, text + "\n").map_err(|source| Error::Io {
        path: Some(path),
        source,
    })
}

fn failures(findings: &[Finding]) -> usize {
    findings.iter().filter(|f| f.is_failure()).count()
}

/// Whether a preflight failure is one bootstrap fixes.
fn fixed_by_bootstrap(f: &Finding, all: &[Finding]) -> bool {
    if FIXED_BY_BOOTSTRAP.contains(&f.id) {
        return true;
    }
    f.id == ids::PREFLIGHT_CONNECT
        && f.component.is_some()
        && all.iter().any(|g| {
            g.id == ids::PREFLIGHT_DATABASE_EXISTS && g.component == f.component && g.is_failure()
        })
}

struct Runner<'a> {
    args: &'a RunArgs,
    prepared: &'a Prepared,
    render_dir: PathBuf,
    provider: Option<Arc<dyn Provider>>,
}

impl Runner<'_> {
    async fn preflight(&self) -> Result<Vec<Finding>, Error> {
        let mut preflight = Preflight::new(self.prepared.target.clone())
            .with_step_timeout(Duration::from_secs(self.args.timeout));
        if let Some(p) = &self.provider {
            preflight = preflight.with_provider(p.clone());
        }
        let report = preflight.run().await?;
        Ok(report.findings)
    }

    async fn stage(&self, stage: Stage) -> Result<StageResult, Error> {
        match stage {
            Stage::Preflight => {
                let findings = self.preflight().await?;
                let blocking = findings
                    .iter()
                    .filter(|f| f.is_failure() && !fixed_by_bootstrap(f, &findings))
                    .count();
                let deferred = failures(&findings) - blocking;
                Ok(StageResult {
                    stage,
                    status: if blocking == 0 {
                        StageStatus::Passed
                    } else {
                        StageStatus::Failed
                    },
                    summary: format!(
                        "{} checks, {blocking} failed{}",
                        findings.len(),
                        if deferred > 0 {
                            format!(", {deferred} left for bootstrap to fix")
                        } else {
                            String::new()
                        }
                    ),
                    findings,
                })
            }
            Stage::Bootstrap => {
                let mut bootstrap = Bootstrap::builder(self.prepared.target.clone())
                    .with_password(self.prepared.password.clone());
                if let Some(p) = &self.provider {
                    bootstrap = bootstrap.with_provider(p.clone());
                }
                let bootstrap = bootstrap.build()?;
                let plan = bootstrap.plan().await?;
                let mut findings: Vec<Finding> =
                    plan.blockers.iter().chain(&plan.notes).cloned().collect();
                if plan.is_blocked() {
                    return Ok(StageResult {
                        stage,
                        status: StageStatus::Failed,
                        summary: format!(
                            "blocked: {} blocker(s), nothing changed",
                            plan.blockers.len()
                        ),
                        findings,
                    });
                }
                let applied = bootstrap.apply(&plan).await?;
                if let Some(failed) = &applied.failed {
                    return Ok(StageResult {
                        stage,
                        status: StageStatus::Failed,
                        summary: format!(
                            "{} applied, then {} failed [{}]: {}",
                            applied.steps.len(),
                            failed.step.summary(),
                            failed.sqlstate.as_deref().unwrap_or("-"),
                            failed.message
                        ),
                        findings,
                    });
                }
                findings.extend(bootstrap.prove().await?);
                // The preflight checks bootstrap was to fix, again; all of preflight must now
                // pass.
                let again = self.preflight().await?;
                let still: Vec<Finding> = again.into_iter().filter(Finding::is_failure).collect();
                let failed = failures(&findings) + still.len();
                findings.extend(still);
                Ok(StageResult {
                    stage,
                    status: if failed == 0 {
                        StageStatus::Passed
                    } else {
                        StageStatus::Failed
                    },
                    summary: format!(
                        "{} step(s) applied{}, proof as the app role {}, preflight {}",
                        applied.steps.len(),
                        if plan.is_empty() {
                            " (already converged)"
                        } else {
                            ""
                        },
                        if findings
                            .iter()
                            .any(|f| f.id == ids::BOOTSTRAP_PROOF && f.is_failure())
                        {
                            "failed"
                        } else {
                            "passed"
                        },
                        if findings.iter().any(|f| f.id.starts_with("preflight.")) {
                            "still failing"
                        } else {
                            "passes again"
                        }
                    ),
                    findings,
                })
            }
            Stage::Render => {
                let p = self.prepared;
                let template = dsn_template(p.target.admin(), p.target.app_role())?;
                let rendered = RenderPlan::new(p.values.clone())
                    .with_mode(p.mode)
                    .with_dsn_template(template, Some(p.password.clone()))
                    .render()?;
                let findings = rendered.findings().to_vec();
                if rendered.has_failures() {
                    return Ok(StageResult {
                        stage,
                        status: StageStatus::Failed,
                        summary: "the configuration has failures; nothing written".to_owned(),
                        findings,
                    });
                }
                let written = rendered.write_to(&self.render_dir)?;
                Ok(StageResult {
                    stage,
                    status: StageStatus::Passed,
                    summary: format!(
                        "{} file(s) written to {} ({})",
                        written.len(),
                        self.render_dir.display(),
                        p.mode
                    ),
                    findings,
                })
            }
            Stage::Verify => {
                let mut options = VerifyOptions::new();
                for (c, dsn) in verify::dsns_from_dir(&self.render_dir)? {
                    options = options.with_component(c, dsn);
                }
                let mut findings = verify::verify(&options).await;
                for f in &mut findings {
                    // Before `helm install` the migration Jobs have not run: pending, not failed.
                    if f.id == verify::ids::MIGRATIONS && f.is_failure() {
                        f.status = Status::Skip;
                        f.observed = format!(
                            "pending: the migration Jobs run at helm install ({})",
                            f.observed
                        );
                        f.remediation = format!(
                            "after helm install, run: scrydon-byodb verify --dir {}",
                            self.render_dir.display()
                        );
                    }
                }
                let failed = failures(&findings);
                Ok(StageResult {
                    stage,
                    status: if failed == 0 {
                        StageStatus::Passed
                    } else {
                        StageStatus::Failed
                    },
                    summary: format!(
                        "{} component(s) checked with the rendered DSNs, {failed} failed",
                        options.components().count()
                    ),
                    findings,
                })
            }
        }
    }
}

fn print_text(results: &[StageResult], ok: bool, color: bool) {
    let paint = |status: Status, text: &str| -> String {
        if !color {
            return text.to_owned();
        }
        let code = match status {
            Status::Pass => "32",
            Status::Warn => "33",
            Status::Fail => "31;1",
            Status::Skip => "2",
        };
        format!("\x1b[{code}m{text}\x1b[0m")
    };
    for r in results {
        let label = match r.status {
            StageStatus::Passed => "PASSED",
            StageStatus::Resumed => "PASSED (earlier run)",
            StageStatus::Failed => "FAILED",
            StageStatus::NotRun => "NOT RUN",
        };
        println!("\n== {} : {} : {}", r.stage.as_str(), label, r.summary);
        for f in &r.findings {
            // A failure bootstrap fixes, before bootstrap: its own label, not FAIL.
            let deferred =
                r.stage == Stage::Preflight && f.is_failure() && fixed_by_bootstrap(f, &r.findings);
            let (label, shown, note) = if deferred {
                ("BOOT", Status::Warn, " (bootstrap fixes this)")
            } else {
                (f.status.label(), f.status, "")
            };
            let line = format!(
                "{label:<5} {:<34} {:<10} {}{note}",
                f.id,
                f.component.map(|c| c.as_str()).unwrap_or("-"),
                f.observed
            );
            println!("  {}", paint(shown, &line));
        }
        let todo: Vec<&Finding> = r
            .findings
            .iter()
            .filter(|f| f.status >= Status::Warn && (!f.remediation.is_empty() || f.fix.is_some()))
            .collect();
        if r.status == StageStatus::Failed && !todo.is_empty() {
            println!("  What to do:");
            for f in todo {
                let component = f.component.map(|c| format!(" [{c}]")).unwrap_or_default();
                println!("   - {}{component}: {}", f.id, f.remediation);
                if let Some(fix) = &f.fix {
                    for line in fix.text.lines() {
                        println!("       {line}");
                    }
                }
                if let Some(d) = f.diagnosis {
                    println!("       diagnosis: {d}");
                }
            }
        }
    }
    println!(
        "\nrun: {}",
        if ok {
            "every stage passed"
        } else {
            "stopped at a failing stage; fix it and run the same command again to resume"
        }
    );
}

pub(crate) fn run(args: RunArgs) -> Outcome {
    let prepared = match prepare(&args) {
        Ok(p) => p,
        Err(e) => {
            output::error(args.json, "invalid_input", &e);
            return Outcome::InvalidInput;
        }
    };
    if let Err(source) = std::fs::create_dir_all(&args.out) {
        let e = Error::Io {
            path: Some(args.out.clone()),
            source,
        };
        output::error(args.json, "io", &e);
        return Outcome::Failed;
    }
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
    let provider = match args
        .provider
        .build_on(&runtime, prepared.target.admin(), args.json)
    {
        Ok(p) => p,
        Err(outcome) => return outcome,
    };
    let runner = Runner {
        args: &args,
        prepared: &prepared,
        render_dir: args.out.join("render"),
        provider,
    };
    let mut passed = if args.from_start {
        Vec::new()
    } else {
        load_state(&args.out, &prepared.inputs)
    };
    let mut results = Vec::new();
    let mut stopped = false;
    for stage in Stage::ALL {
        if stopped {
            results.push(StageResult {
                stage,
                status: StageStatus::NotRun,
                summary: "not reached".to_owned(),
                findings: Vec::new(),
            });
            continue;
        }
        if passed.contains(&stage) {
            results.push(StageResult {
                stage,
                status: StageStatus::Resumed,
                summary: format!("passed in an earlier run ({STATE_FILE}); --from-start to redo"),
                findings: Vec::new(),
            });
            continue;
        }
        let result = match runtime.block_on(runner.stage(stage)) {
            Ok(r) => r,
            Err(e) => {
                let input = matches!(e, Error::InvalidInput { .. } | Error::InvalidDsn { .. });
                output::error(
                    args.json,
                    if input {
                        "invalid_input"
                    } else {
                        stage.as_str()
                    },
                    &e,
                );
                return if input {
                    Outcome::InvalidInput
                } else {
                    Outcome::Failed
                };
            }
        };
        if result.status == StageStatus::Passed {
            passed.retain(|s| *s != stage);
            passed.push(stage);
        } else {
            stopped = true;
            // A stage that failed invalidates what came after it in an earlier run.
            passed.retain(|s| {
                Stage::ALL.iter().position(|x| x == s) < Stage::ALL.iter().position(|x| *x == stage)
            });
        }
        results.push(result);
    }
    if let Err(e) = save_state(&args.out, &prepared.inputs, &passed) {
        output::error(args.json, "io", &e);
        return Outcome::Failed;
    }
    let ok = !stopped;
    if args.json {
        output::json(&serde_json::json!({
            "ok": ok,
            "target": prepared.inputs.admin,
            "stages": results,
            "state_file": args.out.join(STATE_FILE),
        }));
    } else {
        let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        print_text(&results, ok, color);
    }
    if ok {
        Outcome::Ok
    } else {
        Outcome::Failed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_has_the_app_role_no_password_and_db_placeholder() {
        let admin: Dsn = "postgres://admin:s3cret@pg.example.com:5433/postgres?sslmode=verify-full"
            .parse()
            .unwrap();
        let t = dsn_template(&admin, "scrydon").unwrap();
        assert!(t.contains("scrydon@pg.example.com:5433/{db}"), "{t}");
        assert!(!t.contains("s3cret"), "{t}");
        assert!(t.contains("sslmode=verify-full"), "{t}");
    }

    #[test]
    fn connect_failure_is_fixable_only_when_the_database_is_missing() {
        use scrydon_byodb::catalog::Component;
        let missing = Finding::new(ids::PREFLIGHT_DATABASE_EXISTS, Status::Fail)
            .with_component(Component::Auth);
        let connect =
            Finding::new(ids::PREFLIGHT_CONNECT, Status::Fail).with_component(Component::Auth);
        assert!(fixed_by_bootstrap(
            &connect,
            &[missing.clone(), connect.clone()]
        ));
        assert!(!fixed_by_bootstrap(
            &connect,
            std::slice::from_ref(&connect)
        ));
        let tls = Finding::new(ids::PREFLIGHT_TLS_ENFORCED, Status::Fail);
        assert!(!fixed_by_bootstrap(&tls, &[tls.clone(), missing]));
    }
}

//! `scrydon-byodb render`: the chart configuration (values, Secrets, commands) from one plan, and
//! `render --check DIR` for a configuration someone already has.
//!
//! Nothing secret is printed unless `--print-secrets`; passwords are read from files, never
//! from the command line. Every input is read and validated before any file is written: exit 2
//! (invalid input) and exit 1 (the rendered configuration fails a check) leave the output
//! directory untouched.

use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use scrydon_byodb::catalog::Component;
use scrydon_byodb::dsn::{Dsn, SslMode};
use scrydon_byodb::render::{
    self, ChartValues, ExternalSecretsOptions, Mode, Profile, RenderPlan, Rendered, StoreKind,
};
use scrydon_byodb::report::{Finding, Status};
use scrydon_byodb::{Error, SecretString};

use crate::{output, Outcome};

/// Which mode(s) to render.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ModeArg {
    /// Mode A for every app: one Secret per app, named in `existingSecrets`.
    A,
    /// Mode B for every app: DSNs inline in values (staging).
    B,
    /// Per app: `--mode-a` and/or `--mode-b` lists.
    Mixed,
}

/// Arguments of `render`.
#[derive(Debug, Args)]
#[command(after_help = "Output directory layout:
  values.customer.yaml          values with infra.db set for the managed database (0600 with Mode B DSNs)
  secrets/<app>.dsn             Mode A: the DSN, no trailing newline (0600; dir 0700)
  manifests/secret-<app>.yaml   Mode A: the Secret (0600; dir 0700)
  external-secrets/<app>.yaml   Mode A with --external-secrets-store: an ExternalSecret
  commands/create-secrets.sh    kubectl create secret generic ... --from-file=KEY=./secrets/<app>.dsn
  commands/helm-upgrade.sh      helm upgrade --install ... -f values.customer.yaml
  commands/rerun-migrations.sh  kubectl delete job -l 'app in (...)' -n NS, then helm upgrade
  findings.json                 the render's notes and checks (no secrets)

Exit codes: 0 ok, 1 a check failed (render: nothing written), 2 invalid input (nothing written).")]
pub(crate) struct RenderArgs {
    /// The customer's Helm values file (enabled components, namespaces.*, infra.db.external).
    /// With --check: the values file to check (default DIR/values.customer.yaml, then
    /// DIR/values.yaml).
    #[arg(long, value_name = "FILE", required_unless_present = "check")]
    values: Option<PathBuf>,

    /// Mode A (Secrets), Mode B (inline DSNs), or mixed per app.
    #[arg(long, value_enum, required_unless_present = "check")]
    mode: Option<ModeArg>,

    /// Output directory (created if missing).
    #[arg(long, value_name = "DIR", required_unless_present = "check")]
    out: Option<PathBuf>,

    /// One component's DSN, read from a file (repeatable): auth=./auth.dsn.
    #[arg(long = "dsn-file", value_name = "COMPONENT=PATH")]
    dsn_files: Vec<String>,

    /// A DSN for every component without --dsn-file; {db} becomes the component's database.
    /// Must not carry a password (use --password-file).
    #[arg(long, value_name = "TEMPLATE")]
    dsn_template: Option<String>,

    /// The password for --dsn-template, read from a file (one trailing newline is dropped).
    #[arg(long, value_name = "FILE", requires = "dsn_template")]
    password_file: Option<PathBuf>,

    /// With --mode mixed: components in Mode A (comma-separated); the others are in Mode B
    /// unless --mode-b lists them.
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    mode_a: Vec<String>,

    /// With --mode mixed: components in Mode B (comma-separated).
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    mode_b: Vec<String>,

    /// sslmode for DSNs that carry none (require, verify-ca, verify-full, ...).
    #[arg(long, value_name = "MODE")]
    ssl_mode: Option<String>,

    /// The chart version for the helm commands (otherwise they read SCRYDON_CHART_VERSION).
    #[arg(long, value_name = "VERSION")]
    chart_version: Option<String>,

    /// production (TLS required; Mode B warned) or staging (TLS and Mode B findings warn).
    #[arg(long, value_name = "PROFILE", default_value = "production")]
    profile: String,

    /// Also write an ExternalSecret per Mode A app, reading from this SecretStore.
    #[arg(long, value_name = "NAME")]
    external_secrets_store: Option<String>,

    /// The store's kind: SecretStore or ClusterSecretStore.
    #[arg(
        long,
        value_name = "KIND",
        default_value = "SecretStore",
        requires = "external_secrets_store"
    )]
    external_secrets_store_kind: String,

    /// Remote key prefix; the remote key is <prefix><component> (default scrydon-db-).
    #[arg(long, value_name = "PREFIX", requires = "external_secrets_store")]
    external_secrets_key_prefix: Option<String>,

    /// Also print the secret-bearing files (DSNs with passwords) on stdout.
    #[arg(long)]
    print_secrets: bool,

    /// Check a directory (a values file and Secret / ExternalSecret manifests) instead of
    /// rendering; exit 1 when a check fails.
    #[arg(
        long,
        value_name = "DIR",
        conflicts_with_all = [
            "mode", "out", "dsn_files", "dsn_template", "password_file", "mode_a", "mode_b",
            "ssl_mode", "chart_version", "external_secrets_store", "print_secrets",
        ]
    )]
    check: Option<PathBuf>,

    /// Print JSON.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(args: RenderArgs) -> Outcome {
    let profile = match args.profile.parse::<Profile>() {
        Ok(p) => p,
        Err(e) => {
            output::error(args.json, "invalid_input", &e);
            return Outcome::InvalidInput;
        }
    };
    if let Some(dir) = &args.check {
        return check(dir, args.values.as_deref(), profile, args.json);
    }
    let (rendered, out) =
        match plan(&args, profile).and_then(|(plan, out)| Ok((plan.render()?, out))) {
            Ok(r) => r,
            Err(e) => {
                output::error(args.json, "invalid_input", &e);
                return Outcome::InvalidInput;
            }
        };
    if rendered.has_failures() {
        report(&rendered, None, args.json, false);
        if !args.json {
            eprintln!(
                "error: the rendered configuration fails the checks above; nothing was written to {}",
                out.display()
            );
        }
        return Outcome::Failed;
    }
    match rendered.write_to(&out) {
        Ok(_) => {
            report(&rendered, Some(&out), args.json, args.print_secrets);
            Outcome::Ok
        }
        Err(e) => {
            output::error(args.json, "io", &e);
            Outcome::Failed
        }
    }
}

/// Reads and validates every input; builds the plan.
fn plan(args: &RenderArgs, profile: Profile) -> Result<(RenderPlan, PathBuf), Error> {
    let (Some(values_path), Some(mode), Some(out)) = (&args.values, args.mode, &args.out) else {
        return Err(input(
            "--values/--mode/--out",
            "",
            "required unless --check",
        ));
    };
    let values = ChartValues::from_path(values_path)?;
    let mut plan = RenderPlan::new(values).with_profile(profile);

    match mode {
        ModeArg::A | ModeArg::B => {
            if !args.mode_a.is_empty() || !args.mode_b.is_empty() {
                return Err(input(
                    "--mode-a/--mode-b",
                    &[args.mode_a.join(","), args.mode_b.join(",")].join(" "),
                    "only with --mode mixed",
                ));
            }
            plan = plan.with_mode(if mode == ModeArg::A { Mode::A } else { Mode::B });
        }
        ModeArg::Mixed => {
            let a = components("--mode-a", &args.mode_a)?;
            let b = components("--mode-b", &args.mode_b)?;
            if a.is_empty() && b.is_empty() {
                return Err(input(
                    "--mode",
                    "mixed",
                    "give --mode-a and/or --mode-b to say which components use which mode",
                ));
            }
            if let Some(both) = a.iter().find(|c| b.contains(c)) {
                return Err(input(
                    "--mode-a/--mode-b",
                    both.as_str(),
                    "listed in both; pick one mode per component",
                ));
            }
            // The unlisted components take the other mode of the one list given; with both
            // lists, every enabled component must be in one of them (checked by the render).
            let default = match (a.is_empty(), b.is_empty()) {
                (false, true) => Some(Mode::B),
                (true, false) => Some(Mode::A),
                _ => None,
            };
            if let Some(d) = default {
                plan = plan.with_mode(d);
            } else {
                let unlisted: Vec<&str> = Component::ALL
                    .iter()
                    .filter(|c| !a.contains(c) && !b.contains(c))
                    .map(|c| c.as_str())
                    .collect();
                let values = ChartValues::from_path(values_path)?;
                if let Some(c) = unlisted
                    .iter()
                    .find(|c| c.parse().is_ok_and(|c| values.is_enabled(c)))
                {
                    return Err(input("--mode-a/--mode-b", c, "enabled but in neither list"));
                }
            }
            for c in a {
                plan = plan.with_component_mode(c, Mode::A);
            }
            for c in b {
                plan = plan.with_component_mode(c, Mode::B);
            }
        }
    }

    let mut seen = Vec::new();
    for spec in &args.dsn_files {
        let (name, path) = spec.split_once('=').ok_or_else(|| {
            input(
                "--dsn-file",
                spec,
                "expected COMPONENT=PATH (auth=./auth.dsn)",
            )
        })?;
        let c: Component = name.parse().map_err(|e: Error| match e {
            Error::InvalidInput { value, reason, .. } => input("--dsn-file", &value, &reason),
            other => other,
        })?;
        if seen.contains(&c) {
            return Err(input("--dsn-file", name, "given twice"));
        }
        seen.push(c);
        let text = read_secret_file(Path::new(path))?;
        let dsn = Dsn::parse(text.expose_secret())
            .map_err(|e| input(&format!("--dsn-file {c}"), path, &e.to_string()))?;
        plan = plan.with_dsn(c, dsn);
    }
    if let Some(template) = &args.dsn_template {
        let password = match &args.password_file {
            Some(p) => Some(read_secret_file(p)?),
            None => None,
        };
        plan = plan.with_dsn_template(template.clone(), password);
    }
    if let Some(m) = &args.ssl_mode {
        let mode: SslMode = m.parse().map_err(|_| {
            input(
                "--ssl-mode",
                m,
                "expected disable, allow, prefer, require, verify-ca or verify-full",
            )
        })?;
        plan = plan.with_ssl_mode(mode);
    }
    if let Some(v) = &args.chart_version {
        plan = plan.with_chart_version(v.clone());
    }
    if let Some(store) = &args.external_secrets_store {
        let kind: StoreKind = args.external_secrets_store_kind.parse()?;
        let mut opts = ExternalSecretsOptions::new(store.clone()).with_store_kind(kind);
        if let Some(prefix) = &args.external_secrets_key_prefix {
            opts = opts.with_key_prefix(prefix.clone());
        }
        plan = plan.with_external_secrets(opts);
    }
    Ok((plan, out.clone()))
}

fn components(field: &str, names: &[String]) -> Result<Vec<Component>, Error> {
    names
        .iter()
        .filter(|n| !n.is_empty())
        .map(|n| {
            n.trim().parse::<Component>().map_err(|e| match e {
                Error::InvalidInput { value, reason, .. } => input(field, &value, &reason),
                other => other,
            })
        })
        .collect()
}

/// Reads a file holding a secret; drops one trailing line break (an editor's or `echo`'s).
fn read_secret_file(path: &Path) -> Result<SecretString, Error> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: Some(path.to_path_buf()),
        source,
    })?;
    let line = text.strip_suffix('\n').unwrap_or(&text);
    let line = line.strip_suffix('\r').unwrap_or(line);
    Ok(SecretString::new(line))
}

fn input(field: &str, value: &str, reason: &str) -> Error {
    Error::InvalidInput {
        field: field.to_owned(),
        value: value.to_owned(),
        reason: reason.to_owned(),
    }
}

fn check(dir: &Path, values: Option<&Path>, profile: Profile, json: bool) -> Outcome {
    let findings = match render::check_dir(dir, values, profile) {
        Ok(f) => f,
        Err(e) => {
            output::error(json, "invalid_input", &e);
            return Outcome::InvalidInput;
        }
    };
    let failed = findings.iter().any(Finding::is_failure);
    if json {
        output::json(&serde_json::json!({
            "ok": !failed,
            "status": Status::worst(&findings),
            "findings": findings,
        }));
    } else {
        for f in &findings {
            print_finding(f);
        }
        let (fail, warn) = counts(&findings);
        println!(
            "{}: {fail} failed, {warn} warnings",
            if failed { "FAIL" } else { "OK" }
        );
    }
    if failed {
        Outcome::Failed
    } else {
        Outcome::Ok
    }
}

fn counts(findings: &[Finding]) -> (usize, usize) {
    let n = |s| findings.iter().filter(|f| f.status == s).count();
    (n(Status::Fail), n(Status::Warn))
}

fn print_finding(f: &Finding) {
    let component = f.component.map(|c| format!(" [{c}]")).unwrap_or_default();
    println!("{} {}{component}: {}", f.status.label(), f.id, f.observed);
    if !f.remediation.is_empty() {
        println!("     -> {}", f.remediation);
    }
}

fn report(rendered: &Rendered, out: Option<&Path>, json: bool, print_secrets: bool) {
    let files: Vec<_> = rendered
        .files()
        .iter()
        .map(|f| {
            let mut v = serde_json::json!({
                "path": f.path,
                "mode": format!("{:04o}", f.unix_mode()),
                "sensitive": f.sensitive,
            });
            if print_secrets {
                v["contents"] = f.expose_contents().into();
            }
            v
        })
        .collect();
    if json {
        output::json(&serde_json::json!({
            "ok": out.is_some(),
            "out": out.map(|p| p.display().to_string()),
            "files": files,
            "findings": rendered.findings(),
        }));
        return;
    }
    for f in rendered.findings() {
        print_finding(f);
    }
    let Some(out) = out else { return };
    for f in rendered.files() {
        println!(
            "wrote {} ({:04o})",
            out.join(&f.path).display(),
            f.unix_mode()
        );
    }
    if print_secrets {
        for f in rendered.files().iter().filter(|f| f.sensitive) {
            println!("--- {} ---", f.path);
            println!("{}", f.expose_contents());
        }
    }
    let has_secrets = rendered.file(render::layout::CREATE_SECRETS).is_some();
    println!("next:");
    if has_secrets {
        println!(
            "  sh {}",
            out.join(render::layout::CREATE_SECRETS).display()
        );
    }
    println!("  sh {}", out.join(render::layout::HELM_UPGRADE).display());
}

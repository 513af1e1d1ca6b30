//! The chart configuration, from one plan (runbook: Configuration, Mode A, Mode B, Migrations).
//!
//! A [`RenderPlan`] says, for each enabled component, where its database is (a DSN, a DSN
//! template plus a password, or the `<app>Url` already in the customer's values) and which mode
//! configures it: **Mode A**, a Secret per app in the app's namespace carrying the single key the
//! app reads, named by `infra.db.external.existingSecrets.<app>`; or **Mode B**, the DSN inline
//! as `infra.db.external.<app>Url`. [`RenderPlan::render`] turns it into the files of a
//! [`Rendered`] (see [`layout`]) and checks the result with [`check`], the same checks a user's
//! own configuration gets.
//!
//! The rules it keeps:
//! - Mode A wins per app when both are set; the renderer writes only one, and says so
//!   ([`ids::RENDER_BOTH_MODES_SET`]) when the customer's values had both.
//! - `sslMode` is appended by the chart as `?sslmode=<mode>` to every `<app>Url`. It is written
//!   only when every Mode B DSN is bare (no query string); otherwise `sslmode` goes into each DSN
//!   and `sslMode` is left out ([`ids::RENDER_SSLMODE_INLINED`]). A DSN that already carries
//!   `sslmode` keeps it and never gets a second one ([`ids::RENDER_SSLMODE_KEPT`]).
//! - DSNs are written as URIs with every special character percent-encoded, so any password
//!   survives.
//! - Secrets are real `k8s-openapi` objects serialised to YAML, the same object
//!   `kubectl create secret generic --from-file` makes.
//!
//! ```
//! use scrydon_byodb::dsn::SslMode;
//! use scrydon_byodb::render::{ChartValues, Mode, RenderPlan};
//! use scrydon_byodb::SecretString;
//!
//! # fn main() -> scrydon_byodb::Result<()> {
//! let plan = RenderPlan::new(ChartValues::chart_defaults())
//!     .with_mode(Mode::A)
//!     .with_dsn_template(
//!         "postgres://scrydon@pg.example.com:5432/{db}",
//!         Some(SecretString::from("p@ss/w:rd")),
//!     )
//!     .with_ssl_mode(SslMode::VerifyFull)
//!     .with_chart_version("1.4.2");
//! let rendered = plan.render()?;
//! assert!(rendered.file("manifests/secret-auth.yaml").is_some());
//! assert!(!rendered.has_failures());
//! # Ok(())
//! # }
//! ```
//!
//! [`ids::RENDER_BOTH_MODES_SET`]: crate::report::ids::RENDER_BOTH_MODES_SET
//! [`ids::RENDER_SSLMODE_INLINED`]: crate::report::ids::RENDER_SSLMODE_INLINED
//! [`ids::RENDER_SSLMODE_KEPT`]: crate::report::ids::RENDER_SSLMODE_KEPT

mod check;
mod commands;
mod manifest;
mod values;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde_yaml_ng::{Mapping, Value};

pub use check::check;
pub use manifest::{
    ExternalSecretManifest, ExternalSecretsOptions, Inventory, SecretManifest, StoreKind,
    EXTERNAL_SECRET_API_VERSION,
};
pub use values::ChartValues;

use crate::catalog::{Component, VALUES_EXTERNAL_SSL_MODE};
use crate::dsn::{Dsn, SslMode};
use crate::report::{ids, Finding, Status};
use crate::{Error, Result, SecretString};

/// How one app gets its DSN.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// A pre-created Secret per app (`existingSecrets.<app>`). Recommended.
    #[default]
    A,
    /// The DSN inline in values (`<app>Url`). Staging only.
    B,
}

impl FromStr for Mode {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "a" | "A" => Ok(Mode::A),
            "b" | "B" => Ok(Mode::B),
            other => Err(Error::input("mode", other, "expected a or b")),
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::A => "Mode A",
            Mode::B => "Mode B",
        })
    }
}

/// What the configuration is for; decides how hard TLS and Mode B findings are.
///
/// | finding | production | staging |
/// |---|---|---|
/// | `render.dsn_sslmode_missing`, `render.dsn_sslmode_weak` | fail | warn |
/// | `render.mode_b_in_production` | warn | not reported |
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// Production: TLS is required, Mode B discouraged.
    #[default]
    Production,
    /// Staging: plaintext and Mode B tolerated (warned).
    Staging,
}

impl FromStr for Profile {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "production" => Ok(Profile::Production),
            "staging" => Ok(Profile::Staging),
            other => Err(Error::input(
                "profile",
                other,
                "expected production or staging",
            )),
        }
    }
}

/// Where each rendered file goes, relative to the output directory.
///
/// ```text
/// values.customer.yaml            the customer's values with infra.db set for the managed database
///                                 (0600 when it carries Mode B DSNs, else 0644)
/// secrets/<app>.dsn               Mode A apps: the DSN, no trailing newline (0600, dir 0700)
/// manifests/secret-<app>.yaml     Mode A apps: the Secret (0600, dir 0700)
/// external-secrets/<app>.yaml     Mode A apps, when asked: an ExternalSecret (0644)
/// commands/create-secrets.sh      kubectl create secret ... --from-file=KEY=./secrets/<app>.dsn
/// commands/helm-upgrade.sh        helm upgrade --install ... -f values.customer.yaml
/// commands/rerun-migrations.sh    kubectl delete job -l 'app in (...)' per namespace, then helm upgrade
/// findings.json                   what the render decided and what the check saw (no secrets)
/// ```
pub mod layout {
    use crate::catalog::Component;

    /// The values file.
    pub const VALUES_FILE: &str = "values.customer.yaml";
    /// The directory of DSN files (0700).
    pub const SECRETS_DIR: &str = "secrets";
    /// The directory of Secret manifests (0700).
    pub const MANIFESTS_DIR: &str = "manifests";
    /// The directory of `ExternalSecret` manifests.
    pub const EXTERNAL_SECRETS_DIR: &str = "external-secrets";
    /// The directory of shell scripts.
    pub const COMMANDS_DIR: &str = "commands";
    /// The Secret-creating script.
    pub const CREATE_SECRETS: &str = "commands/create-secrets.sh";
    /// The helm install/upgrade script.
    pub const HELM_UPGRADE: &str = "commands/helm-upgrade.sh";
    /// The migration re-run script.
    pub const RERUN_MIGRATIONS: &str = "commands/rerun-migrations.sh";
    /// The findings.
    pub const FINDINGS: &str = "findings.json";

    /// `secrets/<app>.dsn`.
    pub fn secret_dsn_file(c: Component) -> String {
        format!("{SECRETS_DIR}/{c}.dsn")
    }

    /// `manifests/secret-<app>.yaml`.
    pub fn secret_manifest_file(c: Component) -> String {
        format!("{MANIFESTS_DIR}/secret-{c}.yaml")
    }

    /// `external-secrets/<app>.yaml`.
    pub fn external_secret_file(c: Component) -> String {
        format!("{EXTERNAL_SECRETS_DIR}/{c}.yaml")
    }

    /// Directories that hold secrets (created 0700).
    pub const PRIVATE_DIRS: &[&str] = &[SECRETS_DIR, MANIFESTS_DIR];
}

/// Everything a render needs. Setters never fail; [`RenderPlan::render`] validates.
#[derive(Debug, Clone)]
pub struct RenderPlan {
    values: ChartValues,
    default_mode: Mode,
    modes: BTreeMap<Component, Mode>,
    dsns: BTreeMap<Component, Dsn>,
    template: Option<(SecretString, Option<SecretString>)>,
    ssl_mode: Option<SslMode>,
    profile: Profile,
    chart_version: Option<String>,
    external_secrets: Option<ExternalSecretsOptions>,
}

impl RenderPlan {
    /// A plan for the customer's values: Mode A for every app, production profile, no DSNs yet.
    pub fn new(values: ChartValues) -> Self {
        Self {
            values,
            default_mode: Mode::A,
            modes: BTreeMap::new(),
            dsns: BTreeMap::new(),
            template: None,
            ssl_mode: None,
            profile: Profile::Production,
            chart_version: None,
            external_secrets: None,
        }
    }

    /// The mode of every app not given one by [`RenderPlan::with_component_mode`].
    pub fn with_mode(mut self, mode: Mode) -> Self {
        self.default_mode = mode;
        self
    }

    /// One app's mode (mixed configurations).
    pub fn with_component_mode(mut self, component: Component, mode: Mode) -> Self {
        self.modes.insert(component, mode);
        self
    }

    /// One app's DSN; wins over the template and over the values' `<app>Url`.
    pub fn with_dsn(mut self, component: Component, dsn: Dsn) -> Self {
        self.dsns.insert(component, dsn);
        self
    }

    /// A DSN for every app without one: `{db}` in `template` becomes the app's database, and
    /// `password` (kept off the template so it never sits on a command line) is set on it.
    pub fn with_dsn_template(
        mut self,
        template: impl Into<String>,
        password: Option<SecretString>,
    ) -> Self {
        self.template = Some((SecretString::new(template.into()), password));
        self
    }

    /// The `sslmode` for DSNs that carry none (default: the values' `sslMode`, if any).
    pub fn with_ssl_mode(mut self, mode: SslMode) -> Self {
        self.ssl_mode = Some(mode);
        self
    }

    /// The profile the findings are judged by.
    pub fn with_profile(mut self, profile: Profile) -> Self {
        self.profile = profile;
        self
    }

    /// The chart version for the helm commands (without one they require
    /// `SCRYDON_CHART_VERSION` at run time).
    pub fn with_chart_version(mut self, version: impl Into<String>) -> Self {
        self.chart_version = Some(version.into());
        self
    }

    /// Also write an `ExternalSecret` per Mode A app.
    pub fn with_external_secrets(mut self, options: ExternalSecretsOptions) -> Self {
        self.external_secrets = Some(options);
        self
    }

    /// Validates the plan and renders every file. Nothing is written; see
    /// [`Rendered::write_to`].
    ///
    /// Errors ([`Error::InvalidInput`], [`Error::InvalidDsn`]) name the field and value
    /// (passwords masked): a DSN or mode for a disabled component, an enabled component with no
    /// DSN and no existing Secret, a template without `{db}` or carrying a password, a bad
    /// chart version, `sslMode` in values that is not an sslmode.
    pub fn render(&self) -> Result<Rendered> {
        let values = &self.values;
        let enabled = values.enabled_components();
        self.validate(&enabled)?;

        let ssl_mode = match self.ssl_mode {
            Some(m) => Some(m),
            None => values
                .ssl_mode()
                .map(|s| {
                    s.parse::<SslMode>().map_err(|_| {
                        Error::input(VALUES_EXTERNAL_SSL_MODE, s, "not an sslmode (disable, allow, prefer, require, verify-ca, verify-full)")
                    })
                })
                .transpose()?,
        };

        let mut notes = Vec::new();
        let mut apps = Vec::new();
        for &c in &enabled {
            let mode = self.modes.get(&c).copied().unwrap_or(self.default_mode);
            let dsn = self.source_dsn(c)?;
            if dsn.is_none() && !(mode == Mode::A && values.existing_secret(c).is_some()) {
                let spec = c.spec();
                return Err(Error::input(
                    "dsn",
                    c.as_str(),
                    format!(
                        "no DSN for enabled component {c}: give one (--dsn-file {c}=PATH or --dsn-template), set {}, or disable it with {}",
                        spec.url_values_key,
                        spec.enabled_by.unwrap_or("its enabled flag (auth and agentic are always on)")
                    ),
                ));
            }
            let secret_name = match (mode, values.existing_secret(c)) {
                (Mode::A, Some(existing)) => existing.to_owned(),
                _ => c.spec().secret_name.to_owned(),
            };
            apps.push(App {
                c,
                mode,
                dsn,
                secret_name,
                namespace: values.namespace(c).to_owned(),
            });
        }

        // sslmode: Mode A DSNs get it inline. Mode B DSNs share the chart's global sslMode only
        // when every one of them is bare; otherwise each carries its own.
        let b_bare = apps.iter().filter(|a| a.mode == Mode::B).all(|a| {
            a.dsn.as_ref().is_some_and(|d| {
                d.get("sslmode").is_none() && !d.to_uri().expose_secret().contains('?')
            })
        });
        let any_b = apps.iter().any(|a| a.mode == Mode::B);
        let global_ssl = match ssl_mode {
            Some(m) if any_b && b_bare => Some(m),
            _ => None,
        };
        let mut inlined_for = Vec::new();
        for app in &mut apps {
            let Some(dsn) = app.dsn.as_mut() else {
                continue;
            };
            if let Some(existing) = dsn.get("sslmode") {
                if let Some(m) = ssl_mode {
                    notes.push(
                        Finding::new(ids::RENDER_SSLMODE_KEPT, Status::Pass)
                            .with_component(app.c)
                            .with_observed(format!(
                                "the DSN of {} already carries sslmode={existing}; kept, sslmode={m} not added",
                                app.c
                            ))
                            .with_reference(check::REF_MODE_B),
                    );
                }
            } else if app.mode == Mode::A || global_ssl.is_none() {
                if let Some(m) = ssl_mode {
                    dsn.set("sslmode", m.as_str())?;
                    if app.mode == Mode::B {
                        inlined_for.push(app.c.as_str());
                    }
                }
            }
        }
        if any_b && ssl_mode.is_some() && global_ssl.is_none() {
            let with_query: Vec<&str> = apps
                .iter()
                .filter(|a| a.mode == Mode::B)
                .filter(|a| !inlined_for.contains(&a.c.as_str()))
                .map(|a| a.c.as_str())
                .collect();
            notes.push(
                Finding::new(ids::RENDER_SSLMODE_INLINED, Status::Pass)
                    .with_observed(format!(
                        "infra.db.external.sslMode left out: the chart appends it as ?sslmode= to every URL, and the DSNs of [{}] carry their own query string (it would be appended twice or after a second '?'); sslmode written into the DSNs of [{}] instead",
                        with_query.join(", "),
                        inlined_for.join(", ")
                    ))
                    .with_reference(check::REF_MODE_B),
            );
        }

        let (values_out, values_notes) = self.values_out(&apps, global_ssl)?;
        notes.extend(values_notes);

        let mut files = Vec::new();
        let mut inventory = Inventory::new();
        let mut to_create = Vec::new();
        for app in &apps {
            let (Mode::A, Some(dsn)) = (app.mode, app.dsn.as_ref()) else {
                continue;
            };
            let spec = app.c.spec();
            let uri = dsn.to_uri();
            files.push(RenderedFile::secret(
                layout::secret_dsn_file(app.c),
                uri.clone(),
            ));
            let yaml = manifest::secret_yaml(&app.secret_name, &app.namespace, spec.env_key, &uri)?;
            inventory.add_yaml(&yaml, None)?;
            files.push(RenderedFile::secret(
                layout::secret_manifest_file(app.c),
                SecretString::new(yaml),
            ));
            if let Some(opts) = &self.external_secrets {
                let yaml = manifest::external_secret_yaml(
                    opts,
                    spec.name,
                    &app.secret_name,
                    &app.namespace,
                    spec.env_key,
                )?;
                files.push(RenderedFile::public(
                    layout::external_secret_file(app.c),
                    yaml,
                ));
            }
            to_create.push(commands::SecretToCreate {
                component: app.c,
                name: &app.secret_name,
                namespace: &app.namespace,
            });
        }
        let values_sensitive = apps.iter().any(|a| a.mode == Mode::B);
        let mut values_yaml = String::from(
            "# Rendered by scrydon-byodb: infra.db points the apps at the managed database.\n",
        );
        if values_sensitive {
            values_yaml.push_str(
                "# Carries DSNs with passwords (Mode B): keep it out of git, CI logs and tickets.\n",
            );
        }
        values_yaml.push_str(&manifest::to_yaml(&values_out)?);
        files.insert(
            0,
            RenderedFile {
                path: layout::VALUES_FILE.to_owned(),
                sensitive: values_sensitive,
                contents: SecretString::new(values_yaml.clone()),
            },
        );
        if !to_create.is_empty() {
            files.push(RenderedFile::public(
                layout::CREATE_SECRETS,
                commands::create_secrets(&to_create),
            ));
        }
        let version = self.chart_version.as_deref();
        files.push(RenderedFile::public(
            layout::HELM_UPGRADE,
            commands::helm_upgrade(version),
        ));
        let mut jobs: Vec<(String, Vec<&'static str>)> = Vec::new();
        for app in &apps {
            match jobs.iter_mut().find(|(ns, _)| *ns == app.namespace) {
                Some((_, list)) => list.push(app.c.spec().migration_job),
                None => jobs.push((app.namespace.clone(), vec![app.c.spec().migration_job])),
            }
        }
        files.push(RenderedFile::public(
            layout::RERUN_MIGRATIONS,
            commands::rerun_migrations(&jobs, version),
        ));
        if version.is_none() {
            notes.push(
                Finding::new(ids::RENDER_CHART_VERSION_UNSET, Status::Warn)
                    .with_observed(
                        "no chart version given; the helm scripts read SCRYDON_CHART_VERSION",
                    )
                    .with_remediation("pass the chart version you run (helm --version)"),
            );
        }

        // The same checks a user's own configuration gets.
        let rendered_values = ChartValues::from_yaml_str(&values_yaml)?;
        let mut findings = notes;
        findings.extend(check(&rendered_values, &inventory, self.profile));

        let findings_json = serde_json::to_string_pretty(&findings)
            .map_err(|e| Error::input("findings", "(not shown)", e.to_string()))?;
        files.push(RenderedFile::public(layout::FINDINGS, findings_json + "\n"));
        Ok(Rendered { files, findings })
    }

    fn validate(&self, enabled: &[Component]) -> Result<()> {
        for (c, what) in self
            .dsns
            .keys()
            .map(|c| (c, "a DSN"))
            .chain(self.modes.keys().map(|c| (c, "a mode")))
        {
            if !enabled.contains(c) {
                return Err(Error::input(
                    "component",
                    c.as_str(),
                    format!(
                        "given {what}, but disabled in the values ({}: false)",
                        c.spec().enabled_by.unwrap_or("enabled")
                    ),
                ));
            }
        }
        if let Some(v) = &self.chart_version {
            let ok = !v.is_empty()
                && v.chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || ".+-".contains(ch));
            if !ok {
                return Err(Error::input(
                    "chart version",
                    v,
                    "a chart version such as 1.4.2 (letters, digits, '.', '+', '-')",
                ));
            }
        }
        if let Some(opts) = &self.external_secrets {
            opts.validate()?;
        }
        Ok(())
    }

    /// The DSN an app starts from: its own, the template's, or the values' `<app>Url`.
    fn source_dsn(&self, c: Component) -> Result<Option<Dsn>> {
        if let Some(d) = self.dsns.get(&c) {
            return Ok(Some(d.clone()));
        }
        if let Some((template, password)) = &self.template {
            return template_dsn(template, password.as_ref(), c).map(Some);
        }
        if let Some(url) = self.values.url(c) {
            let dsn = Dsn::parse(url.expose_secret()).map_err(|e| {
                let reason = match &e {
                    Error::InvalidDsn { reason, .. } => check::scrub(reason, url.expose_secret()),
                    other => check::scrub(&other.to_string(), url.expose_secret()),
                };
                Error::input(
                    c.spec().url_values_key,
                    "(not shown)",
                    format!("does not parse: {reason}"),
                )
            })?;
            return Ok(Some(dsn));
        }
        Ok(None)
    }

    /// The customer's values with `infra.db` set for the managed database.
    fn values_out(
        &self,
        apps: &[App],
        global_ssl: Option<SslMode>,
    ) -> Result<(Value, Vec<Finding>)> {
        let old = &self.values;
        let mut notes = Vec::new();
        let mut root = old.root().clone();
        let db = child_mapping(&mut root, &["infra", "db"])?;
        db.insert("enabled".into(), false.into());
        child_mapping_of(db, "tls", "infra.db.tls")?.insert("enabled".into(), false.into());
        child_mapping_of(db, "backup", "infra.db.backup")?.insert("enabled".into(), false.into());
        let external = child_mapping_of(db, "external", "infra.db.external")?;

        for app in apps {
            let spec = app.c.spec();
            let had_both = old.existing_secret(app.c).is_some() && old.url(app.c).is_some();
            if had_both {
                notes.push(check::both_modes_set(app.c).with_remediation(format!(
                    "the rendered values keep only {}",
                    match app.mode {
                        Mode::A => spec.existing_secret_values_key,
                        Mode::B => spec.url_values_key,
                    }
                )));
            }
            match app.mode {
                Mode::A => {
                    if let Some(was) = old.existing_secret(app.c) {
                        if was != app.secret_name {
                            notes.push(replaced(
                                app.c,
                                format!(
                                    "{} was {was}, now {}",
                                    spec.existing_secret_values_key, app.secret_name
                                ),
                            ));
                        }
                    }
                    existing_secrets(external)?
                        .insert(spec.name.into(), app.secret_name.clone().into());
                    if external.shift_remove(spec.url_key()).is_some() && !had_both {
                        notes.push(replaced(
                            app.c,
                            format!("{} removed ({} is in Mode A)", spec.url_values_key, app.c),
                        ));
                    }
                }
                Mode::B => {
                    if existing_secrets(external)?
                        .shift_remove(spec.name)
                        .is_some()
                        && !had_both
                    {
                        notes.push(replaced(
                            app.c,
                            format!(
                                "{} removed ({} is in Mode B)",
                                spec.existing_secret_values_key, app.c
                            ),
                        ));
                    }
                    if let Some(dsn) = app.dsn.as_ref() {
                        let uri = dsn.to_uri();
                        if let Some(was) = old.url(app.c) {
                            if was != &uri && !had_both {
                                notes.push(replaced(
                                    app.c,
                                    format!("{} replaced", spec.url_values_key),
                                ));
                            }
                        }
                        external.insert(spec.url_key().into(), uri.expose_secret().into());
                    }
                }
            }
        }
        if existing_secrets(external)?.is_empty() {
            external.shift_remove("existingSecrets");
        }
        match global_ssl {
            Some(m) => {
                if let Some(was) = old.ssl_mode() {
                    if was != m.as_str() {
                        notes.push(
                            Finding::new(ids::RENDER_VALUES_ENTRY_REPLACED, Status::Pass)
                                .with_observed(format!(
                                    "{VALUES_EXTERNAL_SSL_MODE} was {was}, now {m}"
                                )),
                        );
                    }
                }
                external.insert("sslMode".into(), m.as_str().into());
            }
            None => {
                if external.shift_remove("sslMode").is_some() {
                    notes.push(
                        Finding::new(ids::RENDER_VALUES_ENTRY_REPLACED, Status::Pass).with_observed(
                            format!("{VALUES_EXTERNAL_SSL_MODE} removed (each DSN carries its own sslmode, or no app is in Mode B)"),
                        ),
                    );
                }
            }
        }
        Ok((root, notes))
    }
}

fn existing_secrets(external: &mut Mapping) -> Result<&mut Mapping> {
    child_mapping_of(
        external,
        "existingSecrets",
        "infra.db.external.existingSecrets",
    )
}

fn replaced(c: Component, observed: String) -> Finding {
    Finding::new(ids::RENDER_VALUES_ENTRY_REPLACED, Status::Pass)
        .with_component(c)
        .with_observed(observed)
}

/// The mapping at `path` under `root`, created (or a `null` replaced) as needed.
fn child_mapping<'a>(root: &'a mut Value, path: &[&str]) -> Result<&'a mut Mapping> {
    let mut node = match root {
        Value::Mapping(m) => m,
        _ => {
            return Err(Error::input(
                "values",
                "(document)",
                "must be a YAML mapping",
            ))
        }
    };
    let mut walked = String::new();
    for seg in path {
        if !walked.is_empty() {
            walked.push('.');
        }
        walked.push_str(seg);
        node = child_mapping_of(node, seg, &walked)?;
    }
    Ok(node)
}

fn child_mapping_of<'a>(m: &'a mut Mapping, key: &str, path: &str) -> Result<&'a mut Mapping> {
    let slot = m
        .entry(Value::from(key))
        .or_insert_with(|| Value::Mapping(Mapping::new()));
    if slot.is_null() {
        *slot = Value::Mapping(Mapping::new());
    }
    match slot {
        Value::Mapping(inner) => Ok(inner),
        _ => Err(Error::input(path, "(not a mapping)", "must be a mapping")),
    }
}

fn template_dsn(
    template: &SecretString,
    password: Option<&SecretString>,
    c: Component,
) -> Result<Dsn> {
    let t = template.expose_secret();
    if !t.contains("{db}") {
        return Err(Error::input(
            "dsn template",
            redacted_template(t),
            "has no {db} placeholder: every app would point at the same database",
        ));
    }
    let mut dsn = Dsn::parse(&t.replace("{db}", c.spec().database))?;
    if dsn.password().is_some() {
        return Err(Error::input(
            "dsn template",
            dsn.to_string(),
            "carries a password; give it with the password file instead, so it never sits on a command line",
        ));
    }
    if let Some(pw) = password {
        if pw.is_empty() {
            return Err(Error::input(
                "password",
                "(empty)",
                "the password file is empty",
            ));
        }
        dsn.set("password", pw.expose_secret())?;
    }
    Ok(dsn)
}

/// A template for an error message: parsed and redacted when it parses, else withheld.
fn redacted_template(t: &str) -> String {
    Dsn::parse(&t.replace("{db}", "db"))
        .map(|d| d.to_string())
        .unwrap_or_else(|_| "(not shown)".to_owned())
}

#[derive(Debug)]
struct App {
    c: Component,
    mode: Mode,
    dsn: Option<Dsn>,
    secret_name: String,
    namespace: String,
}

/// One rendered file. Its contents are a [`SecretString`]: `Debug` never shows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedFile {
    /// Path relative to the output directory, `/`-separated.
    pub path: String,
    /// Whether it carries a password (written 0600).
    pub sensitive: bool,
    contents: SecretString,
}

impl RenderedFile {
    fn secret(path: impl Into<String>, contents: SecretString) -> Self {
        Self {
            path: path.into(),
            sensitive: true,
            contents,
        }
    }

    fn public(path: impl Into<String>, contents: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            sensitive: false,
            contents: SecretString::new(contents.into()),
        }
    }

    /// The contents (passwords included when [`RenderedFile::sensitive`]).
    pub fn expose_contents(&self) -> &str {
        self.contents.expose_secret()
    }

    /// The Unix permission bits it is written with: 0600 sensitive, 0755 scripts, else 0644.
    pub fn unix_mode(&self) -> u32 {
        if self.sensitive {
            0o600
        } else if self.path.ends_with(".sh") {
            0o755
        } else {
            0o644
        }
    }
}

/// What a render produced: files and findings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    files: Vec<RenderedFile>,
    findings: Vec<Finding>,
}

impl Rendered {
    /// Every file, values first.
    pub fn files(&self) -> &[RenderedFile] {
        &self.files
    }

    /// A file by its relative path.
    pub fn file(&self, path: &str) -> Option<&RenderedFile> {
        self.files.iter().find(|f| f.path == path)
    }

    /// The render's notes and the check of its output.
    pub fn findings(&self) -> &[Finding] {
        &self.findings
    }

    /// Whether any finding failed (the configuration would not work or breaks the runbook).
    pub fn has_failures(&self) -> bool {
        self.findings.iter().any(Finding::is_failure)
    }

    /// Writes every file under `dir` (created if missing), each through a temporary file renamed
    /// into place, with the modes of [`RenderedFile::unix_mode`]; `secrets/` and `manifests/`
    /// are 0700. Returns the paths written.
    pub fn write_to(&self, dir: impl AsRef<Path>) -> Result<Vec<PathBuf>> {
        let dir = dir.as_ref();
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let mut written = Vec::new();
        for file in &self.files {
            let path = dir.join(&file.path);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
                let private = layout::PRIVATE_DIRS
                    .iter()
                    .any(|d| file.path.starts_with(&format!("{d}/")));
                if private {
                    set_mode(parent, 0o700)?;
                }
            }
            write_file(&path, file.expose_contents().as_bytes(), file.unix_mode())?;
            written.push(path);
        }
        Ok(written)
    }
}

fn write_file(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    use std::io::Write as _;
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{file_name}.tmp-{}", std::process::id()));
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        // Created with the final restrictive mode: the secret is never readable by others, even
        // for a moment.
        opts.mode(0o600);
    }
    let result = (|| {
        let mut f = opts.open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        Ok::<_, std::io::Error>(())
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::io(path, e));
    }
    set_mode(&tmp, mode)?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::io(path, e)
    })
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| Error::io(path, e))
}

#[cfg(not(unix))]
fn set_mode(_path: &Path, _mode: u32) -> Result<()> {
    Ok(())
}

/// Checks a render directory (or any directory of manifests) against a values file: the values
/// file is `values` when given, else `<dir>/values.customer.yaml`, else `<dir>/values.yaml`.
/// Every other `.yaml`/`.yml` under `dir` is read for Secrets and `ExternalSecret`s.
pub fn check_dir(
    dir: impl AsRef<Path>,
    values: Option<&Path>,
    profile: Profile,
) -> Result<Vec<Finding>> {
    let dir = dir.as_ref();
    let values_path = match values {
        Some(p) => p.to_path_buf(),
        None => [layout::VALUES_FILE, "values.yaml"]
            .iter()
            .map(|f| dir.join(f))
            .find(|p| p.is_file())
            .ok_or_else(|| {
                Error::input(
                    "values",
                    dir.display().to_string(),
                    format!(
                        "no {} or values.yaml in the directory; pass the values file",
                        layout::VALUES_FILE
                    ),
                )
            })?,
    };
    let chart_values = ChartValues::from_path(&values_path)?;
    let inventory = Inventory::from_dir(dir, &[values_path.as_path()])?;
    Ok(check(&chart_values, &inventory, profile))
}

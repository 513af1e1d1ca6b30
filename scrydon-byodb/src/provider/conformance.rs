//! The provider conformance suite: checks a [`Provider`] against its
//! [contract](Provider#contract) and a live server, skipping by capability.
//!
//! Every provider crate runs it from its tests against a server of its kind (or an emulator),
//! the way object_store's backends run its `integration` module:
//!
//! ```no_run
//! use scrydon_byodb::dsn::Dsn;
//! use scrydon_byodb::provider::{conformance, GenericProvider};
//!
//! # async fn example() -> scrydon_byodb::Result<()> {
//! let dsn: Dsn = std::env::var("TEST_DSN").unwrap().parse()?;
//! conformance::run(&GenericProvider::new(), &dsn).await.assert_conformant();
//! # Ok(())
//! # }
//! ```
//!
//! The suite changes nothing unless [`Options::allow_writes`] is set; then it sets one parameter
//! to the value it already has and allows `vector` (both idempotent by contract).

use std::fmt;

use super::{detect, Operation, Provider, ProviderKind, KNOWN_SETTINGS};
use crate::dsn::{Dsn, Host};
use crate::tls::CaBundle;
use crate::{Error, Result};

/// What the suite may do besides reading.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Let the suite call [`Provider::set_parameter`] (setting a parameter to its current value)
    /// and [`Provider::allow_extension`] (`vector`). Off by default.
    pub allow_writes: bool,
    /// The parameter [`Provider::set_parameter`] is tried with (its current value is written
    /// back). Needed for that case to run.
    pub writable_parameter: Option<String>,
}

/// How one case came out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The provider behaved as the contract says.
    Passed,
    /// The case did not apply (capability off, writes not allowed); why.
    Skipped(String),
    /// The provider broke the contract; how.
    Failed(String),
}

/// One case of the suite.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Case {
    /// The case (`identity`, `not_supported.ca_bundle`, `ca_bundle`, ...).
    pub name: String,
    /// How it came out.
    pub outcome: Outcome,
}

/// The outcome of [`run`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conformance {
    /// The provider's name.
    pub provider: String,
    /// Every case, in order.
    pub cases: Vec<Case>,
}

impl Conformance {
    /// The failed cases.
    pub fn failures(&self) -> impl Iterator<Item = &Case> {
        self.cases
            .iter()
            .filter(|c| matches!(c.outcome, Outcome::Failed(_)))
    }

    /// The outcome of the case called `name`.
    pub fn outcome(&self, name: &str) -> Option<&Outcome> {
        self.cases
            .iter()
            .find(|c| c.name == name)
            .map(|c| &c.outcome)
    }

    /// Panics, listing every failure, unless all cases passed or were skipped.
    #[track_caller]
    pub fn assert_conformant(&self) {
        let failures: Vec<String> = self
            .failures()
            .map(|c| match &c.outcome {
                Outcome::Failed(why) => format!("  {}: {why}", c.name),
                _ => String::new(),
            })
            .collect();
        assert!(
            failures.is_empty(),
            "provider {} breaks its contract:\n{}",
            self.provider,
            failures.join("\n")
        );
    }
}

impl fmt::Display for Conformance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "conformance of provider {}:", self.provider)?;
        for c in &self.cases {
            match &c.outcome {
                Outcome::Passed => writeln!(f, "  pass {}", c.name)?,
                Outcome::Skipped(why) => writeln!(f, "  skip {} ({why})", c.name)?,
                Outcome::Failed(why) => writeln!(f, "  FAIL {}: {why}", c.name)?,
            }
        }
        Ok(())
    }
}

struct Suite<'a> {
    provider: &'a dyn Provider,
    dsn: &'a Dsn,
    cases: Vec<Case>,
    /// Every error text the provider produced, checked for secrets at the end.
    error_texts: Vec<String>,
}

impl Suite<'_> {
    fn record(&mut self, name: impl Into<String>, outcome: Outcome) {
        self.cases.push(Case {
            name: name.into(),
            outcome,
        });
    }

    fn saw_error(&mut self, e: &Error) {
        self.error_texts.push(format!("{e} / {e:?}"));
    }
}

/// Runs the suite, reading only.
pub async fn run(provider: &dyn Provider, dsn: &Dsn) -> Conformance {
    run_with(provider, dsn, &Options::default()).await
}

/// Runs the suite with `options`.
pub async fn run_with(provider: &dyn Provider, dsn: &Dsn, options: &Options) -> Conformance {
    let mut s = Suite {
        provider,
        dsn,
        cases: Vec::new(),
        error_texts: Vec::new(),
    };
    identity(&mut s);
    not_supported(&mut s).await;
    detection(&mut s).await;
    read_parameters(&mut s).await;
    write_parameters(&mut s, options).await;
    allow_extensions(&mut s, options).await;
    ca_bundle(&mut s).await;
    backup_posture(&mut s).await;
    high_availability(&mut s).await;
    findings(&mut s).await;
    no_secrets(&mut s);
    // What the provider said is quoted in the outcomes: never the password.
    let mut cases = s.cases;
    if let Some(pw) = dsn.password().filter(|p| !p.is_empty()) {
        for case in &mut cases {
            if let Outcome::Failed(text) | Outcome::Skipped(text) = &mut case.outcome {
                *text = text.replace(pw, crate::dsn::PASSWORD_MASK);
            }
        }
    }
    Conformance {
        provider: provider.name().to_owned(),
        cases,
    }
}

fn identity(s: &mut Suite<'_>) {
    let p = s.provider;
    let name = p.name();
    let outcome = if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        Outcome::Failed(format!(
            "name {name:?} is not a non-empty lower-case kebab-case word"
        ))
    } else if p.name() != name || p.kind() != p.kind() || p.capabilities() != p.capabilities() {
        Outcome::Failed("name, kind or capabilities change between calls".to_owned())
    } else {
        Outcome::Passed
    };
    s.record("identity", outcome);
}

/// Calls `operation` with harmless arguments, returning the error if it failed.
async fn call(p: &dyn Provider, operation: Operation) -> Option<Error> {
    match operation {
        Operation::ReadParameter => p.parameter("max_connections").await.err(),
        Operation::SetParameter => p
            .set_parameter("scrydon_conformance.never_set", "0")
            .await
            .err(),
        Operation::AllowExtension => p.allow_extension("vector").await.err(),
        Operation::CaBundle => p.ca_bundle().await.err(),
        Operation::BackupPosture => p.backup_posture().await.err(),
        Operation::HighAvailability => p.high_availability().await.err(),
        Operation::Findings => p.findings().await.err(),
    }
}

async fn not_supported(s: &mut Suite<'_>) {
    let p = s.provider;
    let caps = p.capabilities();
    for op in Operation::ALL {
        let name = format!("not_supported.{op}");
        if caps.supports(op) {
            s.record(name, Outcome::Skipped(format!("capability for {op} is on")));
            continue;
        }
        let outcome = match call(p, op).await {
            None => Outcome::Failed(format!(
                "{op} succeeded although its capability is off (a silent default)"
            )),
            Some(Error::NotSupported {
                operation,
                provider,
            }) if operation == op.as_str() && provider == p.name() => Outcome::Passed,
            Some(e) => {
                s.saw_error(&e);
                Outcome::Failed(format!(
                    "{op} with its capability off returned {e:?}, not NotSupported {{ operation: \
                     {:?}, provider: {:?} }}",
                    op.as_str(),
                    p.name()
                ))
            }
        };
        s.record(name, outcome);
    }
}

/// The provider-specific setting names the server has.
async fn server_setting_names(dsn: &Dsn) -> Result<Vec<(String, String)>> {
    let session = crate::preflight::open_session(dsn).await?;
    let names: Vec<String> = KNOWN_SETTINGS.iter().map(|s| (*s).to_owned()).collect();
    let rows = session
        .client
        .query_typed(
            "SELECT name, setting FROM pg_settings \
             WHERE name ~ '^(rds|aurora|azure|cloudsql|neon|supautils)[.]' OR name ~ '^apg_' \
             UNION SELECT n, current_setting(n, true) FROM unnest($1::text[]) AS n \
             WHERE current_setting(n, true) IS NOT NULL \
             UNION SELECT 'max_connections', current_setting('max_connections')",
            &[(&names, tokio_postgres::types::Type::TEXT_ARRAY)],
        )
        .await
        .map_err(|e| Error::Provider {
            provider: "conformance".to_owned(),
            reason: format!(
                "reading the server's settings failed (SQLSTATE {})",
                e.code().map(|c| c.code()).unwrap_or("none")
            ),
            source: None,
        })?;
    Ok(rows
        .iter()
        .filter_map(|r| Some((r.try_get(0).ok()?, r.try_get(1).ok()?)))
        .collect())
}

async fn detection(s: &mut Suite<'_>) {
    let p = s.provider;
    let settings = match server_setting_names(s.dsn).await {
        Ok(v) => v,
        Err(e) => {
            s.record(
                "detection",
                Outcome::Failed(format!("cannot read the server's settings: {e}")),
            );
            return;
        }
    };
    let d = detect(s.dsn, settings.iter().map(|(n, _)| n.as_str()));
    let outcome = if p.kind() == ProviderKind::Generic {
        Outcome::Skipped(format!(
            "the generic provider serves any server (this one looks like {})",
            d.kind
        ))
    } else if d.kind == p.kind() {
        Outcome::Passed
    } else {
        Outcome::Failed(format!(
            "the provider is {} but the server looks like {d}",
            p.kind()
        ))
    };
    s.record("detection", outcome);
}

async fn read_parameters(s: &mut Suite<'_>) {
    let p = s.provider;
    if !p.capabilities().read_parameters {
        s.record(
            "read_parameters",
            Outcome::Skipped("capability off".to_owned()),
        );
        return;
    }
    match p.parameter("scrydon_conformance.no_such_parameter").await {
        Ok(None) => {}
        Ok(Some(v)) => {
            s.record(
                "read_parameters",
                Outcome::Failed(format!("an unknown parameter read as {:?}", v.value)),
            );
            return;
        }
        Err(e) => {
            let text = format!("an unknown parameter is an error ({e}), not Ok(None)");
            s.saw_error(&e);
            s.record("read_parameters", Outcome::Failed(text));
            return;
        }
    }
    let live = server_setting_names(s.dsn).await.unwrap_or_default();
    let mut problems = Vec::new();
    for (name, value) in &live {
        match p.parameter(name).await {
            Ok(Some(v)) if v.name != *name => {
                problems.push(format!("{name} came back named {:?}", v.name))
            }
            Ok(Some(v)) if v.value != *value && !v.pending_restart => problems.push(format!(
                "{name} is {:?} on the server but {:?} through the provider, not pending a restart",
                value, v.value
            )),
            Ok(_) => {}
            Err(e) => {
                problems.push(format!("{name}: {e}"));
                s.saw_error(&e);
            }
        }
    }
    s.record(
        "read_parameters",
        if problems.is_empty() {
            Outcome::Passed
        } else {
            Outcome::Failed(problems.join("; "))
        },
    );
}

async fn write_parameters(s: &mut Suite<'_>, options: &Options) {
    let p = s.provider;
    let caps = p.capabilities();
    let name = "set_parameter";
    if !caps.write_parameters {
        return s.record(name, Outcome::Skipped("capability off".to_owned()));
    }
    if !options.allow_writes {
        return s.record(name, Outcome::Skipped("writes not allowed".to_owned()));
    }
    let Some(param) = &options.writable_parameter else {
        return s.record(
            name,
            Outcome::Skipped("no writable parameter given".to_owned()),
        );
    };
    if !caps.read_parameters {
        return s.record(
            name,
            Outcome::Failed("write_parameters without read_parameters".to_owned()),
        );
    }
    let current = match p.parameter(param).await {
        Ok(Some(v)) => v,
        Ok(None) => return s.record(name, Outcome::Failed(format!("{param} does not exist"))),
        Err(e) => {
            let text = format!("reading {param}: {e}");
            s.saw_error(&e);
            return s.record(name, Outcome::Failed(text));
        }
    };
    let outcome = match p.set_parameter(param, &current.value).await {
        Ok(change) if change.value == current.value && change.name == *param => {
            match p.parameter(param).await {
                Ok(Some(after)) if after.value == current.value => Outcome::Passed,
                other => Outcome::Failed(format!(
                    "setting {param} to its current value changed it: {other:?}"
                )),
            }
        }
        Ok(change) => Outcome::Failed(format!(
            "setting {param} to {:?} reported {change:?}",
            current.value
        )),
        Err(e) => {
            let text = format!("setting {param} to its current value failed: {e}");
            s.saw_error(&e);
            Outcome::Failed(text)
        }
    };
    s.record(name, outcome);
}

async fn allow_extensions(s: &mut Suite<'_>, options: &Options) {
    let p = s.provider;
    let name = "allow_extension";
    if !p.capabilities().allow_extensions {
        return s.record(name, Outcome::Skipped("capability off".to_owned()));
    }
    if !options.allow_writes {
        return s.record(name, Outcome::Skipped("writes not allowed".to_owned()));
    }
    let first = p.allow_extension("vector").await;
    let second = p.allow_extension("vector").await;
    let outcome = match (first, second) {
        (Ok(a), Ok(b))
            if (a.value.trim() == "*" || crate::preflight::list_contains(&a.value, "vector"))
                && b.value == a.value =>
        {
            Outcome::Passed
        }
        (Ok(a), Ok(b)) => Outcome::Failed(format!(
            "allowing vector twice gave {:?} then {:?}",
            a.value, b.value
        )),
        (Err(e), _) | (_, Err(e)) => {
            let text = format!("allowing vector failed: {e}");
            s.saw_error(&e);
            Outcome::Failed(text)
        }
    };
    s.record(name, outcome);
}

async fn ca_bundle(s: &mut Suite<'_>) {
    let p = s.provider;
    let name = "ca_bundle";
    if !p.capabilities().ca_bundle {
        return s.record(name, Outcome::Skipped("capability off".to_owned()));
    }
    let bundle: CaBundle = match p.ca_bundle().await {
        Ok(b) => b,
        Err(e) => {
            let text = format!("{e}");
            s.saw_error(&e);
            return s.record(name, Outcome::Failed(text));
        }
    };
    if bundle.is_empty() {
        return s.record(name, Outcome::Failed("the bundle is empty".to_owned()));
    }
    let tcp = s
        .dsn
        .endpoints()
        .ok()
        .and_then(|e| e.first().map(|e| matches!(e.host, Host::Tcp(_))))
        .unwrap_or(false);
    if !tcp {
        return s.record(
            name,
            Outcome::Skipped("the DSN uses a Unix socket; the bundle was not tried".to_owned()),
        );
    }
    let mut dsn = s.dsn.clone();
    let outcome = match dsn.set("sslmode", "verify-ca") {
        Err(e) => Outcome::Failed(format!("cannot set sslmode: {e}")),
        Ok(()) => match crate::preflight::open_session_with_bundle(&dsn, bundle).await {
            Ok(_) => Outcome::Passed,
            Err(e) => Outcome::Failed(format!(
                "the server's certificate does not chain to the provider's bundle: {e}"
            )),
        },
    };
    s.record(name, outcome);
}

async fn backup_posture(s: &mut Suite<'_>) {
    let p = s.provider;
    let name = "backup_posture";
    if !p.capabilities().backup_posture {
        return s.record(name, Outcome::Skipped("capability off".to_owned()));
    }
    let answer = p.backup_posture().await;
    record_answer(s, name, answer, |b| {
        if b.point_in_time_recovery && !b.automated {
            Some(format!(
                "point-in-time recovery without automated backups: {b:?}"
            ))
        } else if b.automated && b.retention_days == Some(0) {
            Some(format!("automated backups kept for 0 days: {b:?}"))
        } else {
            None
        }
    });
}

async fn high_availability(s: &mut Suite<'_>) {
    let p = s.provider;
    let name = "high_availability";
    if !p.capabilities().high_availability {
        return s.record(name, Outcome::Skipped("capability off".to_owned()));
    }
    let answer = p.high_availability().await;
    record_answer(s, name, answer, |h| {
        (h.redundancy == super::Redundancy::Single && h.automatic_failover)
            .then(|| format!("automatic failover without a standby: {h:?}"))
    });
}

/// Records case `name` from a provider's answer: Failed with its error (kept for the secrets
/// check), Failed with what `check` finds wrong in it, else Passed.
fn record_answer<T>(
    s: &mut Suite<'_>,
    name: &str,
    answer: Result<T>,
    check: impl FnOnce(&T) -> Option<String>,
) {
    let outcome = match answer {
        Ok(v) => check(&v).map_or(Outcome::Passed, Outcome::Failed),
        Err(e) => {
            let text = format!("{e}");
            s.saw_error(&e);
            Outcome::Failed(text)
        }
    };
    s.record(name, outcome);
}

async fn findings(s: &mut Suite<'_>) {
    let p = s.provider;
    let name = "findings";
    if !p.capabilities().findings {
        return s.record(name, Outcome::Skipped("capability off".to_owned()));
    }
    let found = match p.findings().await {
        Ok(f) => f,
        Err(e) => {
            let text = format!("{e}");
            s.saw_error(&e);
            return s.record(name, Outcome::Failed(text));
        }
    };
    let mut problems = Vec::new();
    if found.is_empty() {
        problems.push(
            "no finding at all (a provider with the capability reports something)".to_owned(),
        );
    }
    for f in &found {
        if !crate::report::ids::PROVIDER.contains(&f.id) {
            problems.push(format!("{} is not a provider.* id", f.id));
        }
        if f.component.is_some() {
            problems.push(format!(
                "{} names a component (provider findings are server-wide)",
                f.id
            ));
        }
        if f.observed.trim().is_empty() {
            problems.push(format!("{} observes nothing", f.id));
        }
        if f.status >= crate::report::Status::Warn && f.remediation.trim().is_empty() {
            problems.push(format!("{} is {:?} without a remediation", f.id, f.status));
        }
        s.error_texts.push(format!("{f:?}"));
    }
    // Reads change nothing: asking again says the same.
    match p.findings().await {
        Ok(again) => {
            let key = |v: &[crate::report::Finding]| {
                v.iter().map(|f| (f.id, f.status)).collect::<Vec<_>>()
            };
            if key(&again) != key(&found) {
                problems.push("asking twice gave different findings".to_owned());
            }
        }
        Err(e) => {
            problems.push(format!("the second call failed: {e}"));
            s.saw_error(&e);
        }
    }
    s.record(
        name,
        if problems.is_empty() {
            Outcome::Passed
        } else {
            Outcome::Failed(problems.join("; "))
        },
    );
}

fn no_secrets(s: &mut Suite<'_>) {
    let outcome = match s.dsn.password().filter(|p| p.len() >= 4) {
        None => Outcome::Skipped("the DSN has no password to look for".to_owned()),
        Some(pw) => match s.error_texts.iter().find(|t| t.contains(pw)) {
            Some(t) => Outcome::Failed(format!("an error carries the password: {t}")),
            None => Outcome::Passed,
        },
    };
    s.record("no_secrets", outcome);
}

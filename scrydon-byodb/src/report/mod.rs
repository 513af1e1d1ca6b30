//! Findings: what a check saw, as data.
//!
//! A check returns [`Finding`]s; an [`Error`](crate::Error) means the check could not run at
//! all. Every finding carries a stable [`id`](Finding::id) from [`ids`], a [`Status`], the
//! component it concerns, what was observed (never a secret), what to do, and the runbook or
//! compliance references behind it. Tests compare findings with `assert_eq!` or by id and status,
//! never by their prose.
//!
//! ```
//! use scrydon_byodb::catalog::Component;
//! use scrydon_byodb::report::{ids, Finding, Status};
//!
//! let f = Finding::new(ids::RENDER_SECRET_WRONG_KEY, Status::Fail)
//!     .with_component(Component::Analytics)
//!     .with_observed("Secret scrydon-db-analytics has keys [DATABASE_URL]")
//!     .with_remediation("store the DSN under DATABASE_URL_ANALYTICS")
//!     .with_reference("runbook: Configuration / Mode A");
//! assert!(f.is_failure());
//! assert_eq!(Status::worst([&f]), Status::Fail);
//! ```

pub mod ids;

use std::fmt;

use serde::Serialize;

use crate::catalog::Component;

/// How a check came out. Ordered from best to worst ([`Status::Skip`] sorts below
/// [`Status::Pass`]: a check that did not run says nothing bad).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// The check did not apply or could not be made (say why in `observed`).
    Skip,
    /// Fine; a pass may still carry a note saying what was decided.
    Pass,
    /// Works, but is not what the runbook recommends.
    Warn,
    /// Will not work, or breaks a runbook requirement.
    Fail,
}

impl Status {
    /// Upper-case label for text reports (`PASS`, `WARN`, ...).
    pub fn label(self) -> &'static str {
        match self {
            Status::Skip => "SKIP",
            Status::Pass => "PASS",
            Status::Warn => "WARN",
            Status::Fail => "FAIL",
        }
    }

    /// The worst status among `findings` ([`Status::Pass`] when there are none).
    pub fn worst<'a>(findings: impl IntoIterator<Item = &'a Finding>) -> Status {
        findings
            .into_iter()
            .map(|f| f.status)
            .max()
            .unwrap_or(Status::Pass)
            .max(Status::Pass)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// One thing a check saw.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Stable identifier from [`ids`] (`render.secret_wrong_key`).
    pub id: &'static str,
    /// How it came out.
    pub status: Status,
    /// The component concerned, when there is one.
    pub component: Option<Component>,
    /// What was seen, naming keys, names and namespaces, never a password or a full DSN.
    pub observed: String,
    /// What to do about it (empty for a plain pass).
    pub remediation: String,
    /// Runbook sections and compliance controls behind the check.
    pub references: Vec<&'static str>,
    /// What to run to fix it, ready to copy (SQL or a shell command), when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<Fix>,
    /// The [`Diagnosis`](crate::diagnose::Diagnosis) id (`connect.refused`, ...) when the
    /// finding is a failure the diagnosis table explains.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diagnosis: Option<&'static str>,
}

/// The language of a [`Fix`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FixLanguage {
    /// SQL, to run with `psql` as an administrator (in [`Fix::database`] when set).
    Sql,
    /// A shell command.
    Shell,
}

/// A remediation the operator can copy and run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Fix {
    /// SQL or shell.
    pub language: FixLanguage,
    /// For SQL: the database to run it in (`None`: any, e.g. the maintenance database).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
    /// The statements or command, one per line. Never carries a password.
    pub text: String,
}

impl Fix {
    /// SQL to run in any database.
    pub fn sql(text: impl Into<String>) -> Self {
        Fix {
            language: FixLanguage::Sql,
            database: None,
            text: text.into(),
        }
    }

    /// SQL to run in `database`.
    pub fn sql_in(database: impl Into<String>, text: impl Into<String>) -> Self {
        Fix {
            language: FixLanguage::Sql,
            database: Some(database.into()),
            text: text.into(),
        }
    }

    /// A shell command.
    pub fn shell(text: impl Into<String>) -> Self {
        Fix {
            language: FixLanguage::Shell,
            database: None,
            text: text.into(),
        }
    }
}

impl Finding {
    /// A finding with no component, observation, remediation or references yet.
    pub fn new(id: &'static str, status: Status) -> Self {
        Self {
            id,
            status,
            component: None,
            observed: String::new(),
            remediation: String::new(),
            references: Vec::new(),
            fix: None,
            diagnosis: None,
        }
    }

    /// Sets the component.
    pub fn with_component(mut self, component: Component) -> Self {
        self.component = Some(component);
        self
    }

    /// Sets what was observed. Never pass a secret.
    pub fn with_observed(mut self, observed: impl Into<String>) -> Self {
        self.observed = observed.into();
        self
    }

    /// Sets the remediation.
    pub fn with_remediation(mut self, remediation: impl Into<String>) -> Self {
        self.remediation = remediation.into();
        self
    }

    /// Adds a reference.
    pub fn with_reference(mut self, reference: &'static str) -> Self {
        self.references.push(reference);
        self
    }

    /// Adds several references.
    pub fn with_references(mut self, references: &[&'static str]) -> Self {
        self.references.extend_from_slice(references);
        self
    }

    /// Sets the fix to copy.
    pub fn with_fix(mut self, fix: Fix) -> Self {
        self.fix = Some(fix);
        self
    }

    /// Records the diagnosis id behind the finding.
    pub fn with_diagnosis(mut self, diagnosis_id: &'static str) -> Self {
        self.diagnosis = Some(diagnosis_id);
        self
    }

    /// Whether the status is [`Status::Fail`].
    pub fn is_failure(&self) -> bool {
        self.status == Status::Fail
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.status.label(), self.id)?;
        if let Some(c) = self.component {
            write!(f, " [{c}]")?;
        }
        if !self.observed.is_empty() {
            write!(f, ": {}", self.observed)?;
        }
        if !self.remediation.is_empty() {
            write!(f, " -> {}", self.remediation)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worst_status() {
        let pass = Finding::new(ids::RENDER_SSLMODE_KEPT, Status::Pass);
        let warn = Finding::new(ids::RENDER_BOTH_MODES_SET, Status::Warn);
        let skip = Finding::new(ids::RENDER_CHART_VERSION_UNSET, Status::Skip);
        assert_eq!(Status::worst([]), Status::Pass);
        assert_eq!(Status::worst([&skip]), Status::Pass);
        assert_eq!(Status::worst([&pass, &warn]), Status::Warn);
    }

    #[test]
    fn serialises_with_lowercase_status_and_component() {
        let f = Finding::new(ids::RENDER_SECRET_SHARED, Status::Fail)
            .with_component(Component::Agentic)
            .with_reference("runbook: Configuration / Mode A");
        let v = serde_json::to_value(&f).expect("test value");
        assert_eq!(v["id"], "render.secret_shared");
        assert_eq!(v["status"], "fail");
        assert_eq!(v["component"], "agentic");
        assert_eq!(v["references"][0], "runbook: Configuration / Mode A");
    }
}

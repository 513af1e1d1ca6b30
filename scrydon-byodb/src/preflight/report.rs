//! The preflight report, and its three renderings: a table for people, JSON for tools, JUnit
//! XML for CI systems.

use std::fmt::Write as _;

use serde::Serialize;

use crate::catalog::Component;
use crate::provider::Detection;
use crate::report::{Finding, Status};

/// The version of the JSON document ([`Report::to_json`]); raised only on an incompatible
/// change. Documented in `docs/preflight-report.md`.
pub const REPORT_SCHEMA_VERSION: u32 = 1;

/// The server, as preflight saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServerSummary {
    /// `server_version` (`15.6`, `16.2 (Debian ...)`).
    pub version: String,
    /// `server_version_num` (`150006`).
    pub version_num: i32,
}

/// What preflight looked at (no secrets).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TargetSummary {
    /// The admin DSN, password masked.
    pub admin: String,
    /// The migration role.
    pub app_role: String,
    /// The enabled components.
    pub components: Vec<Component>,
}

/// What preflight found. Findings are in a stable order (by check, then component).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// [`REPORT_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// What was checked.
    pub target: TargetSummary,
    /// The server, when the admin connection worked.
    pub server: Option<ServerSummary>,
    /// The provider, as detected from the host name and the server's settings.
    pub provider: Detection,
    /// The provider implementation used (`generic`, `aws-rds`, ...).
    pub provider_used: String,
    /// The worst status among the findings.
    pub status: Status,
    /// Every check's outcome.
    pub findings: Vec<Finding>,
    /// How long the preflight took, in milliseconds.
    pub elapsed_ms: u64,
}

fn counts(findings: &[Finding]) -> [usize; 4] {
    let mut n = [0; 4];
    for f in findings {
        n[match f.status {
            Status::Pass => 0,
            Status::Warn => 1,
            Status::Fail => 2,
            Status::Skip => 3,
        }] += 1;
    }
    n
}

impl Report {
    /// Whether the platform can be installed: no failure (and, when `strict`, no warning).
    pub fn passed(&self, strict: bool) -> bool {
        let worst = Status::worst(&self.findings);
        worst < Status::Fail && !(strict && worst == Status::Warn)
    }

    /// The process exit code the CLI uses: 0 when [`passed`](Report::passed), else 1.
    pub fn exit_code(&self, strict: bool) -> u8 {
        if self.passed(strict) {
            0
        } else {
            1
        }
    }

    /// The findings with this id (one, or one per component).
    pub fn findings_with_id<'a>(&'a self, id: &'a str) -> impl Iterator<Item = &'a Finding> + 'a {
        self.findings.iter().filter(move |f| f.id == id)
    }

    /// The finding with this id for this component (`None`: the server-wide one).
    pub fn finding(&self, id: &str, component: Option<Component>) -> Option<&Finding> {
        self.findings
            .iter()
            .find(|f| f.id == id && f.component == component)
    }

    /// The status of [`Report::finding`], if there is such a finding.
    pub fn status_of(&self, id: &str, component: Option<Component>) -> Option<Status> {
        self.finding(id, component).map(|f| f.status)
    }

    /// The JSON document (schema: `docs/preflight-report.schema.json`).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_else(|e| {
            serde_json::json!({ "schema_version": REPORT_SCHEMA_VERSION, "error": e.to_string() })
        })
    }

    /// A table for people: one line per check, then what to do about each warning and failure.
    /// `color` adds ANSI colours (for a terminal).
    pub fn to_text(&self, color: bool) -> String {
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
        let mut out = String::new();
        let _ = writeln!(
            out,
            "Preflight of {} for role {} ({})",
            self.target.admin,
            self.target.app_role,
            self.target
                .components
                .iter()
                .map(|c| c.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
        if let Some(s) = &self.server {
            let _ = writeln!(
                out,
                "Server: PostgreSQL {}; provider {}",
                s.version.split_whitespace().next().unwrap_or(&s.version),
                self.provider
            );
        }
        out.push('\n');
        let check_width = self
            .findings
            .iter()
            .map(|f| f.id.len())
            .max()
            .unwrap_or(5)
            .max(5);
        let _ = writeln!(
            out,
            "{:<6} {:<check_width$} {:<10} OBSERVED",
            "STATUS", "CHECK", "COMPONENT"
        );
        for f in &self.findings {
            let label = format!("{:<6}", f.status.label());
            let _ = writeln!(
                out,
                "{} {:<check_width$} {:<10} {}",
                paint(f.status, &label),
                f.id,
                f.component.map(|c| c.as_str()).unwrap_or("-"),
                f.observed
            );
        }
        let actionable: Vec<&Finding> = self
            .findings
            .iter()
            .filter(|f| f.status >= Status::Warn && (!f.remediation.is_empty() || f.fix.is_some()))
            .collect();
        if !actionable.is_empty() {
            out.push_str("\nWhat to do:\n");
            for f in actionable {
                let component = f.component.map(|c| format!(" [{c}]")).unwrap_or_default();
                let _ = writeln!(
                    out,
                    "\n{} {}{component}",
                    paint(f.status, f.status.label()),
                    f.id
                );
                if !f.remediation.is_empty() {
                    let _ = writeln!(out, "  {}", f.remediation);
                }
                if let Some(fix) = &f.fix {
                    if let Some(db) = &fix.database {
                        let _ = writeln!(out, "  in database {db}:");
                    }
                    for line in fix.text.lines() {
                        let _ = writeln!(out, "    {line}");
                    }
                }
                if !f.references.is_empty() {
                    let _ = writeln!(out, "  see: {}", f.references.join("; "));
                }
            }
        }
        let [pass, warn, fail, skip] = counts(&self.findings);
        let _ = writeln!(
            out,
            "\n{}: {pass} passed, {warn} warnings, {fail} failed, {skip} skipped ({} ms)",
            paint(self.status, self.status.label()),
            self.elapsed_ms
        );
        out
    }

    /// JUnit XML: one test case per finding (class name = check id, name = component or
    /// `server`). Failures are `<failure>`, skips `<skipped>`; warnings are `<failure>` when
    /// `strict`, else passing cases with the warning in `<system-out>`.
    pub fn to_junit(&self, strict: bool) -> String {
        let [_, warn, fail, skip] = counts(&self.findings);
        let failures = fail + if strict { warn } else { 0 };
        let seconds = self.elapsed_ms as f64 / 1000.0;
        let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let _ = writeln!(
            out,
            "<testsuites name=\"scrydon-byodb preflight\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" skipped=\"{skip}\" time=\"{seconds:.3}\">",
            self.findings.len()
        );
        let _ = writeln!(
            out,
            "  <testsuite name=\"preflight\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" skipped=\"{skip}\" time=\"{seconds:.3}\">",
            self.findings.len()
        );
        let _ = writeln!(out, "    <properties>");
        let _ = writeln!(
            out,
            "      <property name=\"target\" value=\"{}\"/>",
            xml(&self.target.admin)
        );
        let _ = writeln!(
            out,
            "      <property name=\"provider\" value=\"{}\"/>",
            xml(&self.provider.to_string())
        );
        let _ = writeln!(out, "    </properties>");
        for f in &self.findings {
            let name = f.component.map(|c| c.as_str()).unwrap_or("server");
            let _ = write!(
                out,
                "    <testcase classname=\"{}\" name=\"{}\" time=\"0\"",
                xml(f.id),
                xml(name)
            );
            let detail = junit_detail(f);
            match f.status {
                Status::Pass => out.push_str("/>\n"),
                Status::Skip => {
                    let _ = writeln!(
                        out,
                        ">\n      <skipped message=\"{}\"/>\n    </testcase>",
                        xml(&f.observed)
                    );
                }
                Status::Fail => {
                    let _ = writeln!(
                        out,
                        ">\n      <failure type=\"fail\" message=\"{}\">{}</failure>\n    </testcase>",
                        xml(&f.observed),
                        xml(&detail)
                    );
                }
                Status::Warn if strict => {
                    let _ = writeln!(
                        out,
                        ">\n      <failure type=\"warn\" message=\"{}\">{}</failure>\n    </testcase>",
                        xml(&f.observed),
                        xml(&detail)
                    );
                }
                Status::Warn => {
                    let _ = writeln!(
                        out,
                        ">\n      <system-out>WARN: {}</system-out>\n    </testcase>",
                        xml(&detail)
                    );
                }
            }
        }
        out.push_str("  </testsuite>\n</testsuites>\n");
        out
    }
}

fn junit_detail(f: &Finding) -> String {
    let mut s = f.observed.clone();
    if !f.remediation.is_empty() {
        let _ = write!(s, "\n\n{}", f.remediation);
    }
    if let Some(fix) = &f.fix {
        if let Some(db) = &fix.database {
            let _ = write!(s, "\n\nin database {db}:");
        }
        let _ = write!(s, "\n{}", fix.text);
    }
    if !f.references.is_empty() {
        let _ = write!(s, "\n\nsee: {}", f.references.join("; "));
    }
    s
}

/// Escapes text for XML attributes and content; drops characters XML 1.0 cannot carry.
fn xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' => out.push_str("&#10;"),
            '\t' | '\r' => out.push(' '),
            c if (c as u32) < 0x20 => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::ProviderKind;
    use crate::report::{ids, Fix};

    fn report(findings: Vec<Finding>) -> Report {
        Report {
            schema_version: REPORT_SCHEMA_VERSION,
            target: TargetSummary {
                admin: "postgresql://admin:********@db/postgres".into(),
                app_role: "scrydon".into(),
                components: vec![Component::Auth],
            },
            server: None,
            provider: Detection {
                kind: ProviderKind::Generic,
                evidence: vec![],
            },
            provider_used: "generic".into(),
            status: Status::worst(&findings),
            findings,
            elapsed_ms: 12,
        }
    }

    #[test]
    fn exit_codes() {
        let warn = report(vec![Finding::new(ids::PREFLIGHT_POOLER, Status::Warn)]);
        assert_eq!(warn.exit_code(false), 0);
        assert_eq!(warn.exit_code(true), 1);
        let fail = report(vec![Finding::new(ids::PREFLIGHT_CAPACITY, Status::Fail)]);
        assert_eq!(fail.exit_code(false), 1);
        let skip = report(vec![Finding::new(ids::PREFLIGHT_BACKUP, Status::Skip)]);
        assert_eq!(skip.exit_code(true), 0);
    }

    #[test]
    fn junit_counts_and_escapes() {
        let r = report(vec![
            Finding::new(ids::PREFLIGHT_DATABASE_EXISTS, Status::Fail)
                .with_component(Component::Auth)
                .with_observed("database \"auth\" <missing>")
                .with_fix(Fix::sql("CREATE DATABASE auth;")),
            Finding::new(ids::PREFLIGHT_POOLER, Status::Warn),
            Finding::new(ids::PREFLIGHT_BACKUP, Status::Skip).with_observed("n/a"),
            Finding::new(ids::PREFLIGHT_SERVER_VERSION, Status::Pass),
        ]);
        let x = r.to_junit(false);
        assert!(x.contains("tests=\"4\" failures=\"1\" errors=\"0\" skipped=\"1\""));
        assert!(x.contains("classname=\"preflight.database_exists\" name=\"auth\""));
        assert!(x.contains("database &quot;auth&quot; &lt;missing&gt;"));
        assert!(x.contains("<system-out>WARN"));
        let strict = r.to_junit(true);
        assert!(strict.contains("failures=\"2\""));
        assert!(strict.contains("<failure type=\"warn\""));
    }

    #[test]
    fn text_has_a_line_per_finding_and_colour_only_when_asked() {
        let r = report(vec![
            Finding::new(ids::PREFLIGHT_DATABASE_EXISTS, Status::Fail)
                .with_component(Component::Auth)
                .with_remediation("create it")
                .with_fix(Fix::sql("CREATE DATABASE auth;")),
            Finding::new(ids::PREFLIGHT_SERVER_VERSION, Status::Pass),
        ]);
        let plain = r.to_text(false);
        assert!(!plain.contains('\x1b'));
        assert!(plain.contains("FAIL   preflight.database_exists"));
        assert!(plain.contains("    CREATE DATABASE auth;"));
        assert!(r.to_text(true).contains("\x1b[31;1m"));
    }

    #[test]
    fn json_shape() {
        let r = report(vec![
            Finding::new(ids::PREFLIGHT_TLS_SSLMODE, Status::Warn).with_fix(Fix::shell("x"))
        ]);
        let v = r.to_json();
        assert_eq!(v["schema_version"], 1);
        assert_eq!(v["status"], "warn");
        assert_eq!(v["findings"][0]["id"], "preflight.tls_sslmode");
        assert_eq!(v["findings"][0]["fix"]["language"], "shell");
        assert_eq!(v["provider"]["kind"], "generic");
    }
}

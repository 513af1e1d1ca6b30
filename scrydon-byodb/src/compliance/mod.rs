//! Compliance: the runbook's "Compliance mapping", decided from evidence.
//!
//! One mapping for every provider ([`MAPPING`]): ISO 27001:2022 A.8.13 (backup) and A.8.24
//! (TLS in transit), NIST SP 800-53 SC-8 (transmission confidentiality), CP-9 and CP-10 (backup
//! and recovery, point-in-time recovery, RPO/RTO) and SecNumCloud 3.2 continuity (regional or
//! multi-AZ replication). Each [`Control`] is decided by the evidence ids listed for it:
//!
//! * **over SQL, for every provider** (self-managed ones included): WAL archiving
//!   (`archive_mode`, `archive_command`/`archive_library`, `pg_stat_archiver`), synchronous
//!   standbys (`synchronous_standby_names`, `pg_stat_replication.sync_state`), the server's TLS
//!   settings (`ssl`, `ssl_min_protocol_version`) and `password_encryption`, plus preflight's
//!   TLS findings (the session is encrypted and verified, the DSNs' `sslmode`, a plaintext
//!   connection refused, `rds.force_ssl`);
//! * **from the provider's API**, through [`Provider::backup_posture`] and
//!   [`Provider::high_availability`] when its [`Capabilities`](crate::provider::Capabilities)
//!   say so (preflight's `preflight.backup` and `preflight.high_availability`).
//!
//! A control is [`ControlStatus::Met`], [`Partly`](ControlStatus::Partly),
//! [`NotMet`](ControlStatus::NotMet) or [`Unknown`](ControlStatus::Unknown), with the evidence,
//! what would decide it when it is not met, and what to do. The report renders as text, JSON or
//! Markdown (to attach to an audit), states the RPO/RTO the provider documents
//! ([`recovery_objectives`]) and reminds to set `infra.db.backup.enabled: false` where the
//! provider's native backup covers A.8.13.
//!
//! A control that is not met is a report outcome, not an error: [`Compliance::run`] fails only
//! for input it cannot use.
//!
//! ```no_run
//! use scrydon_byodb::compliance::{Compliance, Control, ControlStatus};
//! use scrydon_byodb::preflight::Target;
//!
//! # async fn example() -> scrydon_byodb::Result<()> {
//! let admin = "postgres://admin:pw@pg.example.com/postgres?sslmode=verify-full".parse()?;
//! let report = Compliance::new(Target::builder(admin).build()?).run().await?;
//! print!("{}", report.to_markdown());
//! if report.status_of(Control::Iso27001A824) != Some(ControlStatus::Met) {
//!     eprintln!("TLS in transit is not proven");
//! }
//! # Ok(())
//! # }
//! ```

mod evidence;
mod mapping;

use std::fmt::{self, Write as _};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio_postgres::types::Type;

pub use mapping::{Control, CLAIMS, MAPPING};

use crate::preflight::{self, Preflight, ServerSummary, Target, TargetSummary};
use crate::provider::{Provider, ProviderKind};
use crate::report::{ids, Finding, Status};
use crate::Result;

/// The version of the JSON document ([`ComplianceReport::to_json`]).
pub const COMPLIANCE_SCHEMA_VERSION: u32 = 1;

/// How a control came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ControlStatus {
    /// The evidence shows the control is met.
    Met,
    /// Part of it is shown; the rest is missing or cannot be seen (see `decided_by`).
    Partly,
    /// The evidence shows it is not met.
    NotMet,
    /// Nothing here can tell (see `decided_by`).
    Unknown,
}

impl ControlStatus {
    /// `MET`, `PARTLY`, `NOT MET`, `UNKNOWN`.
    pub fn label(self) -> &'static str {
        match self {
            ControlStatus::Met => "MET",
            ControlStatus::Partly => "PARTLY",
            ControlStatus::NotMet => "NOT MET",
            ControlStatus::Unknown => "UNKNOWN",
        }
    }
}

impl fmt::Display for ControlStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// One piece of evidence behind a control: a finding's id, status and observation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Evidence {
    /// The finding id (`compliance.wal_archiving`, `preflight.tls_enforced`, ...).
    pub id: &'static str,
    /// Its status.
    pub status: Status,
    /// What was observed.
    pub observed: String,
}

/// One control, decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ControlAssessment {
    /// The control.
    pub control: Control,
    /// As auditors write it (`ISO 27001:2022 A.8.13`).
    pub reference: &'static str,
    /// What it asks.
    pub title: &'static str,
    /// How it came out.
    pub status: ControlStatus,
    /// The evidence, in [`MAPPING`] order.
    pub evidence: Vec<Evidence>,
    /// When not met: what would decide it (evidence to gather, a provider to ask).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<String>,
    /// What to do (empty when nothing).
    pub remediation: String,
}

impl ControlAssessment {
    /// The status of one piece of evidence, if it is among this control's.
    pub fn evidence_status(&self, id: &str) -> Option<Status> {
        self.evidence.iter().find(|e| e.id == id).map(|e| e.status)
    }
}

/// The recovery objectives a provider documents, for the business continuity plan (NIST CP-10).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RecoveryObjectives {
    /// The provider kind.
    pub provider: ProviderKind,
    /// Recovery point objective, as documented (or "unknown: document it").
    pub rpo: &'static str,
    /// Recovery time objective, as documented (or "unknown: document it").
    pub rto: &'static str,
    /// Whether the numbers come from the provider's documentation (`false`: unknown).
    pub documented: bool,
}

/// The RPO/RTO each provider kind documents for its native point-in-time recovery and high
/// availability. Orders of magnitude from the providers' public documentation: confirm them for
/// your tier and record them in the BCP. For [`ProviderKind::Generic`] they are unknown: the
/// operator of the server must document them.
pub fn recovery_objectives(kind: ProviderKind) -> RecoveryObjectives {
    let (rpo, rto, documented) = match kind {
        ProviderKind::AwsRds => (
            "~5 min with point-in-time recovery (transaction logs shipped to S3 every 5 minutes); 0 on a Multi-AZ failover",
            "1-2 min for a Multi-AZ failover; a point-in-time restore builds a new instance (minutes to hours, by size)",
            true,
        ),
        ProviderKind::GcpCloudSql => (
            "any point within the log retention with point-in-time recovery; 0 on a regional (HA) failover",
            "~1 min for a regional failover; a point-in-time restore clones a new instance (minutes to hours, by size)",
            true,
        ),
        ProviderKind::AzureFlexibleServer => (
            "up to 5 min with point-in-time recovery; 0 with zone-redundant HA",
            "1-2 min for an HA failover; a restore builds a new server (minutes to hours, by size)",
            true,
        ),
        ProviderKind::Supabase => (
            "~2 min with the point-in-time recovery add-on; up to 24 h with daily backups only",
            "a restore replaces the project's database in place (minutes to hours, by size)",
            true,
        ),
        ProviderKind::Neon => (
            "0 within the history retention window (every WAL record is kept)",
            "seconds: a branch or restore from history is created without copying data",
            true,
        ),
        _ => ("unknown: document it", "unknown: document it", false),
    };
    RecoveryObjectives {
        provider: kind,
        rpo,
        rto,
        documented,
    }
}

/// How evidence reads in a compliance report: whether it supports the control (`yes`), partly
/// (`weak`), not (`no`), or says nothing (`n/a`). A check's failure is the control's missing
/// evidence, not a failure of the report.
fn evidence_label(status: Status) -> &'static str {
    match status {
        Status::Pass => "yes",
        Status::Warn => "weak",
        Status::Fail => "no",
        Status::Skip => "n/a",
    }
}

/// The compliance report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ComplianceReport {
    /// [`COMPLIANCE_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// What was looked at (no secrets).
    pub target: TargetSummary,
    /// The server, when the admin connection worked (`None`: nothing could be read, every
    /// control is decided on no evidence).
    pub server: Option<ServerSummary>,
    /// The provider kind the report is for (detected, or as given).
    pub provider: ProviderKind,
    /// The provider implementation asked for API evidence (`generic`: none).
    pub provider_used: String,
    /// Each control, in [`Control::ALL`] order.
    pub controls: Vec<ControlAssessment>,
    /// Every evidence finding, in full.
    pub evidence: Vec<Finding>,
    /// The RPO/RTO the provider documents.
    pub recovery_objectives: RecoveryObjectives,
    /// Reminders for the chart configuration (`infra.db.backup.enabled: false`).
    pub reminders: Vec<String>,
}

/// Where the provider's native backups cover A.8.13, the bundled backup CronJob must be off.
pub const BACKUP_REMINDER: &str = "The provider's native backup covers ISO 27001 A.8.13: set \
     `infra.db.backup.enabled: false` in the chart values (the bundled backup CronJob only covers \
     the in-cluster database).";

impl ComplianceReport {
    /// One control's assessment.
    pub fn control(&self, control: Control) -> Option<&ControlAssessment> {
        self.controls.iter().find(|c| c.control == control)
    }

    /// One control's status.
    pub fn status_of(&self, control: Control) -> Option<ControlStatus> {
        self.control(control).map(|c| c.status)
    }

    /// The JSON document.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_else(|e| {
            serde_json::json!({ "schema_version": COMPLIANCE_SCHEMA_VERSION, "error": e.to_string() })
        })
    }

    /// A table for people, then the evidence and what to do per control.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "Compliance of {} (provider {}, evidence from SQL{})",
            self.target.admin,
            self.provider,
            if self.provider_used == "generic" {
                String::new()
            } else {
                format!(" and the {} API", self.provider_used)
            }
        );
        out.push('\n');
        let _ = writeln!(out, "{:<8} {:<28} WHAT", "STATUS", "CONTROL");
        // Evidence lines: yes / weak / no / n/a (whether the evidence supports the control).
        for c in &self.controls {
            let _ = writeln!(
                out,
                "{:<8} {:<28} {}",
                c.status.label(),
                c.reference,
                c.title
            );
        }
        for c in &self.controls {
            let _ = writeln!(out, "\n{} {}: {}", c.status.label(), c.reference, c.title);
            for e in &c.evidence {
                let _ = writeln!(
                    out,
                    "  {:<4} {:<34} {}",
                    evidence_label(e.status),
                    e.id,
                    e.observed
                );
            }
            if let Some(d) = &c.decided_by {
                let _ = writeln!(out, "  decided by: {d}");
            }
            if !c.remediation.is_empty() {
                let _ = writeln!(out, "  to do: {}", c.remediation);
            }
        }
        let r = &self.recovery_objectives;
        let _ = writeln!(
            out,
            "\nRecovery objectives ({}, for the BCP):\n  RPO: {}\n  RTO: {}",
            r.provider.display_name(),
            r.rpo,
            r.rto
        );
        for reminder in &self.reminders {
            let _ = writeln!(out, "\nReminder: {reminder}");
        }
        let count = |s| self.controls.iter().filter(|c| c.status == s).count();
        let _ = writeln!(
            out,
            "\n{} met, {} partly, {} not met, {} unknown",
            count(ControlStatus::Met),
            count(ControlStatus::Partly),
            count(ControlStatus::NotMet),
            count(ControlStatus::Unknown)
        );
        out
    }

    /// Markdown, to attach to an audit.
    pub fn to_markdown(&self) -> String {
        let cell = |s: &str| s.replace('|', "\\|").replace('\n', " ");
        let mut out = String::new();
        let _ = writeln!(out, "# Compliance evidence: managed PostgreSQL\n");
        let _ = writeln!(out, "- Server: `{}`", self.target.admin);
        let _ = writeln!(out, "- Provider: {}", self.provider.display_name());
        let _ = writeln!(
            out,
            "- Evidence: SQL session{}\n",
            if self.provider_used == "generic" {
                String::new()
            } else {
                format!(", {} API", self.provider_used)
            }
        );
        let _ = writeln!(out, "| Control | Requirement | Status | Evidence |");
        let _ = writeln!(out, "|---|---|---|---|");
        for c in &self.controls {
            let evidence: Vec<String> = c
                .evidence
                .iter()
                .filter(|e| e.status != Status::Skip)
                .map(|e| {
                    format!(
                        "`{}` {}: {}",
                        e.id,
                        evidence_label(e.status),
                        cell(&e.observed)
                    )
                })
                .collect();
            let _ = writeln!(
                out,
                "| {} | {} | **{}** | {} |",
                c.reference,
                c.title,
                c.status.label(),
                evidence.join("<br>")
            );
        }
        for c in self
            .controls
            .iter()
            .filter(|c| c.decided_by.is_some() || !c.remediation.is_empty())
        {
            let _ = writeln!(out, "\n## {} ({})\n", c.reference, c.status.label());
            if let Some(d) = &c.decided_by {
                let _ = writeln!(out, "- Decided by: {d}");
            }
            if !c.remediation.is_empty() {
                let _ = writeln!(out, "- To do: {}", c.remediation);
            }
        }
        let r = &self.recovery_objectives;
        let _ = writeln!(out, "\n## Recovery objectives (BCP)\n");
        let _ = writeln!(out, "| Provider | RPO | RTO |\n|---|---|---|");
        let _ = writeln!(
            out,
            "| {} | {} | {} |",
            r.provider.display_name(),
            cell(r.rpo),
            cell(r.rto)
        );
        for reminder in &self.reminders {
            let _ = writeln!(out, "\n> {reminder}");
        }
        out
    }
}

/// A compliance assessment: a preflight (for the TLS and provider evidence) and one read of the
/// server's settings and replication state.
#[derive(Debug, Clone)]
pub struct Compliance {
    preflight: Preflight,
    kind: Option<ProviderKind>,
    step_timeout: Duration,
}

impl Compliance {
    /// An assessment of `target` with the generic provider (SQL evidence only).
    pub fn new(target: Target) -> Self {
        Compliance {
            preflight: Preflight::new(target),
            kind: None,
            step_timeout: preflight::DEFAULT_STEP_TIMEOUT,
        }
    }

    /// Asks this provider for backup and availability evidence (when its capabilities say so).
    pub fn with_provider(mut self, provider: Arc<dyn Provider>) -> Self {
        self.preflight = self.preflight.with_provider(provider);
        self
    }

    /// The provider kind the RPO/RTO and reminders are for, instead of the detected one.
    pub fn with_provider_kind(mut self, kind: ProviderKind) -> Self {
        self.kind = Some(kind);
        self
    }

    /// How long one connection, statement or probe may take.
    pub fn with_step_timeout(mut self, timeout: Duration) -> Self {
        self.preflight = self.preflight.with_step_timeout(timeout);
        self.step_timeout = timeout;
        self
    }

    /// Gathers the evidence and decides every control. Errors only for input that cannot be
    /// used (as [`Preflight::run`]); what the server does not show is evidence too.
    pub async fn run(&self) -> Result<ComplianceReport> {
        let (report, facts) = tokio::join!(self.preflight.run(), self.read_facts());
        let report = report?;
        let sql_findings = match facts {
            Ok(f) => evidence::judge(&f),
            Err(why) => ids::COMPLIANCE
                .iter()
                .map(|id| {
                    Finding::new(id, Status::Skip)
                        .with_observed(format!("could not read the server's settings: {why}"))
                })
                .collect(),
        };
        Ok(assess(&report, sql_findings, self.kind))
    }

    async fn read_facts(&self) -> std::result::Result<evidence::Facts, String> {
        let dsn = self.preflight.target().admin();
        let read = async {
            let session = preflight::open_session(dsn)
                .await
                .map_err(|e| e.to_string())?;
            let params: &[(&(dyn tokio_postgres::types::ToSql + Sync), Type)] = &[];
            let rows = session
                .client
                .query_typed(evidence::SQL, params)
                .await
                .map_err(|e| match e.code() {
                    Some(code) => format!("settings read failed with SQLSTATE {}", code.code()),
                    None => "settings read failed (no SQLSTATE)".to_owned(),
                })?;
            let text: String = rows
                .first()
                .and_then(|r| r.try_get::<_, Option<String>>(0).ok().flatten())
                .ok_or_else(|| "settings read returned no row".to_owned())?;
            serde_json::from_str(&text).map_err(|e| format!("unexpected answer: {e}"))
        };
        tokio::time::timeout(self.step_timeout, read)
            .await
            .unwrap_or_else(|_| Err(format!("no answer within {}s", self.step_timeout.as_secs())))
    }
}

/// Decides every control from a preflight report and the SQL evidence findings
/// ([`ids::COMPLIANCE`]). `kind`: the provider kind to report for (default: the detected one).
pub fn assess(
    report: &preflight::Report,
    sql_evidence: Vec<Finding>,
    kind: Option<ProviderKind>,
) -> ComplianceReport {
    let kind = kind.unwrap_or(report.provider.kind);
    let mut all: Vec<Finding> = Vec::new();
    let mapped = |id: &str| MAPPING.iter().any(|(_, e)| e.contains(&id));
    all.extend(
        report
            .findings
            .iter()
            .filter(|f| mapped(f.id) && f.component.is_none())
            .cloned(),
    );
    all.extend(sql_evidence);
    let find = |id: &str| all.iter().find(|f| f.id == id);
    let controls = Control::ALL
        .iter()
        .map(|&control| {
            let evidence = control
                .evidence_ids()
                .iter()
                .filter_map(|id| find(id))
                .map(|f| Evidence {
                    id: f.id,
                    status: f.status,
                    observed: f.observed.clone(),
                })
                .collect();
            let (status, decided_by, remediation) = decide(control, &find, kind);
            ControlAssessment {
                control,
                reference: control.reference(),
                title: control.title(),
                status,
                evidence,
                decided_by,
                remediation,
            }
        })
        .collect();
    let provider_backup_ok = find(ids::PREFLIGHT_BACKUP).is_some_and(|f| f.status == Status::Pass);
    let mut reminders = Vec::new();
    if kind != ProviderKind::Generic || provider_backup_ok {
        reminders.push(BACKUP_REMINDER.to_owned());
    }
    ComplianceReport {
        schema_version: COMPLIANCE_SCHEMA_VERSION,
        target: report.target.clone(),
        server: report.server.clone(),
        provider: kind,
        provider_used: report.provider_used.clone(),
        controls,
        evidence: all,
        recovery_objectives: recovery_objectives(kind),
        reminders,
    }
}

type Decision = (ControlStatus, Option<String>, String);

fn status<'a>(find: &impl Fn(&str) -> Option<&'a Finding>, id: &str) -> Status {
    find(id).map(|f| f.status).unwrap_or(Status::Skip)
}

fn remediations<'a>(find: &impl Fn(&str) -> Option<&'a Finding>, control: Control) -> String {
    control
        .evidence_ids()
        .iter()
        .filter_map(|id| find(id))
        .filter(|f| f.status >= Status::Warn && !f.remediation.is_empty())
        .map(|f| f.remediation.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

fn decide<'a>(
    control: Control,
    find: &impl Fn(&str) -> Option<&'a Finding>,
    kind: ProviderKind,
) -> Decision {
    let todo = remediations(find, control);
    match control {
        Control::Iso27001A824 | Control::NistSc8 => {
            let statuses: Vec<Status> = control
                .evidence_ids()
                .iter()
                .map(|id| status(find, id))
                .filter(|s| *s != Status::Skip)
                .collect();
            let plaintext_session = status(find, ids::PREFLIGHT_TLS_SESSION) == Status::Fail
                || status(find, ids::COMPLIANCE_SERVER_TLS) == Status::Fail;
            if statuses.is_empty() {
                (
                    ControlStatus::Unknown,
                    Some("a TLS connection to the server (preflight.tls_session, preflight.tls_enforced)".into()),
                    todo,
                )
            } else if plaintext_session {
                (ControlStatus::NotMet, None, todo)
            } else if statuses.iter().any(|s| *s >= Status::Warn) {
                (ControlStatus::Partly, None, todo)
            } else {
                (ControlStatus::Met, None, todo)
            }
        }
        Control::Iso27001A813 | Control::NistCp9 => backup(find, kind, todo),
        Control::NistCp10 => {
            let (restore, restore_why, _) = backup(find, kind, String::new());
            let standby = status(find, ids::COMPLIANCE_SYNC_REPLICATION) == Status::Pass
                || status(find, ids::PREFLIGHT_HIGH_AVAILABILITY) == Status::Pass;
            let rpo_rto = if recovery_objectives(kind).documented {
                "Record the provider's RPO/RTO (below) in the BCP."
            } else {
                "Measure and document the RPO/RTO of this server in the BCP (a restore drill)."
            };
            let todo = [todo.as_str(), rpo_rto]
                .iter()
                .filter(|s| !s.is_empty())
                .copied()
                .collect::<Vec<_>>()
                .join(" ");
            match restore {
                ControlStatus::NotMet => (ControlStatus::NotMet, None, todo),
                ControlStatus::Unknown => (ControlStatus::Unknown, restore_why, todo),
                ControlStatus::Met if standby => (ControlStatus::Met, None, todo),
                _ => (
                    ControlStatus::Partly,
                    Some(
                        restore_why.unwrap_or_else(|| {
                            "a standby to fail over to (compliance.sync_replication or the provider's high availability)".into()
                        }),
                    ),
                    todo,
                ),
            }
        }
        Control::SecNumCloudContinuity => {
            let ha = status(find, ids::PREFLIGHT_HIGH_AVAILABILITY);
            let sync = status(find, ids::COMPLIANCE_SYNC_REPLICATION);
            if ha == Status::Pass {
                (ControlStatus::Met, None, todo)
            } else if sync == Status::Pass || sync == Status::Warn {
                (
                    ControlStatus::Partly,
                    Some("where the standbys run: the provider's high-availability report (another zone or region), or the operator's record of the standby's location".into()),
                    todo,
                )
            } else if ha == Status::Skip && kind != ProviderKind::Generic {
                (
                    ControlStatus::Unknown,
                    Some(format!(
                        "{} replicates below PostgreSQL: ask its API (a provider with the high_availability capability) or attach its configuration",
                        kind.display_name()
                    )),
                    todo,
                )
            } else if sync == Status::Skip && ha == Status::Skip {
                (
                    ControlStatus::Unknown,
                    Some("pg_stat_replication or the provider's high-availability report".into()),
                    todo,
                )
            } else {
                (ControlStatus::NotMet, None, todo)
            }
        }
    }
}

/// A.8.13 / CP-9: a restore path exists (the provider's backups, or WAL archiving).
fn backup<'a>(
    find: &impl Fn(&str) -> Option<&'a Finding>,
    kind: ProviderKind,
    todo: String,
) -> Decision {
    let archiving = status(find, ids::COMPLIANCE_WAL_ARCHIVING);
    let provider = status(find, ids::PREFLIGHT_BACKUP);
    match (archiving, provider) {
        (_, Status::Pass) => (ControlStatus::Met, None, todo),
        (Status::Pass, Status::Skip) => (
            ControlStatus::Partly,
            Some("base backups and their retention, which SQL cannot show: a provider reporting its backup posture, or the backup tool's schedule and a restore test (pgBackRest, WAL-G, Barman)".into()),
            todo,
        ),
        (Status::Pass | Status::Warn, _) => (
            ControlStatus::Partly,
            Some("automated backups with point-in-time recovery, kept for the retention the policy sets".into()),
            todo,
        ),
        (Status::Fail, Status::Skip) if kind != ProviderKind::Generic => (
            ControlStatus::Unknown,
            Some(format!(
                "{} keeps backups below PostgreSQL: ask its API (a provider with the backup_posture capability) or attach its backup configuration",
                kind.display_name()
            )),
            todo,
        ),
        (Status::Skip, Status::Skip) => (
            ControlStatus::Unknown,
            Some("the server's archive settings or the provider's backup posture".into()),
            todo,
        ),
        _ => (ControlStatus::NotMet, None, todo),
    }
}

//! The evidence read over SQL: one statement on the admin connection, judged into findings.
//!
//! Works on every provider, self-managed ones included: settings through `current_setting`
//! (never failing on a setting the server lacks), the standbys through `pg_stat_replication`
//! and the archiver through `pg_stat_archiver`. Nothing is changed.

use serde::Deserialize;

use crate::report::{ids, Finding, Status};

/// `$1`: none. Everything as one JSON document.
pub(crate) const SQL: &str = r#"
SELECT json_build_object(
  'archive_mode', current_setting('archive_mode', true),
  'archive_command', current_setting('archive_command', true),
  'archive_library', current_setting('archive_library', true),
  'ssl', current_setting('ssl', true),
  'ssl_min_protocol_version', current_setting('ssl_min_protocol_version', true),
  'password_encryption', current_setting('password_encryption', true),
  'synchronous_standby_names', current_setting('synchronous_standby_names', true),
  'synchronous_commit', current_setting('synchronous_commit', true),
  'stats_visible', (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)
                   OR pg_has_role(current_user, 'pg_read_all_stats', 'MEMBER'),
  'standbys', (SELECT json_agg(json_build_object(
                  'application_name', application_name,
                  'state', state,
                  'sync_state', sync_state) ORDER BY application_name)
               FROM pg_stat_replication),
  'archiver', (SELECT json_build_object(
                  'archived_count', archived_count,
                  'failed_count', failed_count,
                  'last_failed_after_success',
                     last_failed_time IS NOT NULL
                     AND (last_archived_time IS NULL OR last_failed_time > last_archived_time))
               FROM pg_stat_archiver)
)::text
"#;

/// A standby in `pg_stat_replication`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub(crate) struct Standby {
    pub(crate) application_name: Option<String>,
    pub(crate) state: Option<String>,
    pub(crate) sync_state: Option<String>,
}

/// `pg_stat_archiver`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub(crate) struct Archiver {
    pub(crate) archived_count: i64,
    pub(crate) failed_count: i64,
    pub(crate) last_failed_after_success: bool,
}

/// What [`SQL`] returns.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub(crate) struct Facts {
    pub(crate) archive_mode: Option<String>,
    pub(crate) archive_command: Option<String>,
    pub(crate) archive_library: Option<String>,
    pub(crate) ssl: Option<String>,
    pub(crate) ssl_min_protocol_version: Option<String>,
    pub(crate) password_encryption: Option<String>,
    pub(crate) synchronous_standby_names: Option<String>,
    pub(crate) synchronous_commit: Option<String>,
    pub(crate) stats_visible: Option<bool>,
    pub(crate) standbys: Option<Vec<Standby>>,
    pub(crate) archiver: Option<Archiver>,
}

const ISO_BACKUP: &str = "ISO 27001:2022 A.8.13";
const ISO_TLS: &str = "ISO 27001:2022 A.8.24";
const NIST_SC8: &str = "NIST SC-8";
const NIST_CP9: &str = "NIST CP-9";
const NIST_CP10: &str = "NIST CP-10";
const SECNUMCLOUD: &str = "SecNumCloud 3.2";
const RUNBOOK: &str = "runbook: Compliance mapping";

/// An archive command that throws the WAL away (a placeholder that keeps `archive_mode = on`
/// from filling the disk): archiving is nominally on, but nothing is kept.
fn discards(command: &str) -> bool {
    matches!(
        command.trim(),
        "/bin/true" | "true" | "/usr/bin/true" | ":" | "exit 0" | "/bin/true %p"
    )
}

/// The evidence findings, in [`ids::COMPLIANCE`] order.
pub(crate) fn judge(f: &Facts) -> Vec<Finding> {
    vec![
        wal_archiving(f),
        sync_replication(f),
        server_tls(f),
        password_encryption(f),
    ]
}

fn wal_archiving(f: &Facts) -> Finding {
    let refs = [RUNBOOK, ISO_BACKUP, NIST_CP9, NIST_CP10];
    let id = ids::COMPLIANCE_WAL_ARCHIVING;
    let mode = f.archive_mode.as_deref().unwrap_or("unknown");
    // SHOW says "(disabled)" while archive_mode is off.
    let command = match f.archive_command.as_deref().unwrap_or("").trim() {
        "(disabled)" => "",
        c => c,
    };
    let library = f.archive_library.as_deref().unwrap_or("").trim();
    let what = if !library.is_empty() {
        format!("archive_library={library}")
    } else if !command.is_empty() {
        format!("archive_command='{command}'")
    } else {
        "no archive_command or archive_library".to_owned()
    };
    let mut observed = format!("archive_mode={mode}, {what}");
    if let Some(a) = &f.archiver {
        observed.push_str(&format!(
            "; {} segments archived, {} failures",
            a.archived_count, a.failed_count
        ));
    }
    let on = mode == "on" || mode == "always";
    let (status, remediation) = if !on {
        (
            Status::Fail,
            "Turn on continuous WAL archiving (archive_mode=on with an archive_command or \
             archive_library such as pgBackRest or WAL-G) or use a provider with native \
             point-in-time recovery; without it only full backups exist.",
        )
    } else if library.is_empty() && command.is_empty() {
        (
            Status::Fail,
            "archive_mode is on but no archive_command or archive_library is set: WAL \
             accumulates and nothing is archived. Set one.",
        )
    } else if library.is_empty() && discards(command) {
        (
            Status::Warn,
            "The archive_command discards the WAL; point-in-time recovery is not possible. \
             Archive to durable storage.",
        )
    } else if f
        .archiver
        .as_ref()
        .is_some_and(|a| a.last_failed_after_success)
    {
        (
            Status::Warn,
            "The last archive attempt failed (pg_stat_archiver): check the archive command and \
             its destination.",
        )
    } else {
        (Status::Pass, "")
    };
    Finding::new(id, status)
        .with_observed(observed)
        .with_remediation(remediation)
        .with_references(&refs)
}

fn sync_replication(f: &Facts) -> Finding {
    let refs = [RUNBOOK, SECNUMCLOUD, NIST_CP10];
    let id = ids::COMPLIANCE_SYNC_REPLICATION;
    let names = f.synchronous_standby_names.as_deref().unwrap_or("").trim();
    let standbys = f.standbys.as_deref().unwrap_or(&[]);
    let sync: Vec<&str> = standbys
        .iter()
        .filter(|s| matches!(s.sync_state.as_deref(), Some("sync" | "quorum")))
        .map(|s| s.application_name.as_deref().unwrap_or("?"))
        .collect();
    let observed = format!(
        "synchronous_standby_names='{names}', synchronous_commit={}, {} standby(s) streaming, \
         {} synchronous{}",
        f.synchronous_commit.as_deref().unwrap_or("unknown"),
        standbys.len(),
        sync.len(),
        if sync.is_empty() {
            String::new()
        } else {
            format!(" ({})", sync.join(", "))
        }
    );
    let commit = f.synchronous_commit.as_deref().unwrap_or("on");
    let (status, remediation) = if !sync.is_empty() && matches!(commit, "off" | "local") {
        (
            Status::Warn,
            "A synchronous standby is attached but synchronous_commit is off or local: commits \
             do not wait for it, so a failover may lose them. Set synchronous_commit to on \
             (or remote_write / remote_apply).",
        )
    } else if !sync.is_empty() {
        (Status::Pass, "")
    } else if !standbys.is_empty() && f.stats_visible == Some(false) {
        (
            Status::Warn,
            "Standbys are connected but this role cannot see their sync state: run as a member \
             of pg_read_all_stats (or pg_monitor) to decide.",
        )
    } else if !standbys.is_empty() {
        (
            Status::Warn,
            "Standbys are asynchronous: a failover may lose the last transactions. List them in \
             synchronous_standby_names for an RPO of zero.",
        )
    } else {
        (
            Status::Fail,
            "No standby streams from this server. Continuity (SecNumCloud 3.2, NIST CP-10) \
             needs a replica in another zone or region: the provider's multi-AZ option, or a \
             synchronous standby in synchronous_standby_names. (A managed service may \
             replicate below PostgreSQL, where pg_stat_replication does not show it: ask the \
             provider's API.)",
        )
    };
    Finding::new(id, status)
        .with_observed(observed)
        .with_remediation(remediation)
        .with_references(&refs)
}

fn server_tls(f: &Facts) -> Finding {
    let refs = [RUNBOOK, ISO_TLS, NIST_SC8];
    let id = ids::COMPLIANCE_SERVER_TLS;
    let ssl = f.ssl.as_deref().unwrap_or("unknown");
    let min = f.ssl_min_protocol_version.as_deref().unwrap_or("unknown");
    let observed = format!("ssl={ssl}, ssl_min_protocol_version={min}");
    let (status, remediation) = if ssl != "on" {
        (Status::Fail, "Turn on TLS on the server (ssl=on).")
    } else if matches!(min, "TLSv1" | "TLSv1.1") {
        (
            Status::Warn,
            "Raise ssl_min_protocol_version to TLSv1.2 or later.",
        )
    } else {
        (Status::Pass, "")
    };
    Finding::new(id, status)
        .with_observed(observed)
        .with_remediation(remediation)
        .with_references(&refs)
}

fn password_encryption(f: &Facts) -> Finding {
    let refs = [RUNBOOK, ISO_TLS];
    let id = ids::COMPLIANCE_PASSWORD_ENCRYPTION;
    let pe = f.password_encryption.as_deref().unwrap_or("unknown");
    let (status, remediation) = match pe {
        "scram-sha-256" => (Status::Pass, ""),
        "unknown" => (Status::Skip, ""),
        _ => (
            Status::Warn,
            "Set password_encryption=scram-sha-256 and reset the passwords stored as MD5.",
        ),
    };
    Finding::new(id, status)
        .with_observed(format!("password_encryption={pe}"))
        .with_remediation(remediation)
        .with_references(&refs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> Facts {
        Facts {
            archive_mode: Some("off".into()),
            archive_command: Some(String::new()),
            archive_library: Some(String::new()),
            ssl: Some("on".into()),
            ssl_min_protocol_version: Some("TLSv1.2".into()),
            password_encryption: Some("scram-sha-256".into()),
            synchronous_standby_names: Some(String::new()),
            synchronous_commit: Some("on".into()),
            stats_visible: Some(true),
            standbys: None,
            archiver: None,
        }
    }

    fn status(f: &Facts, id: &str) -> Status {
        judge(f)
            .into_iter()
            .find(|x| x.id == id)
            .map(|x| x.status)
            .expect("finding")
    }

    #[test]
    fn archiving() {
        let mut f = facts();
        assert_eq!(status(&f, ids::COMPLIANCE_WAL_ARCHIVING), Status::Fail);
        f.archive_command = Some("(disabled)".into());
        f.archive_mode = Some("on".into());
        assert_eq!(status(&f, ids::COMPLIANCE_WAL_ARCHIVING), Status::Fail);
        f.archive_command = Some("/bin/true".into());
        assert_eq!(status(&f, ids::COMPLIANCE_WAL_ARCHIVING), Status::Warn);
        f.archive_command = Some("pgbackrest --stanza=main archive-push %p".into());
        assert_eq!(status(&f, ids::COMPLIANCE_WAL_ARCHIVING), Status::Pass);
    }

    #[test]
    fn replication() {
        let mut f = facts();
        assert_eq!(status(&f, ids::COMPLIANCE_SYNC_REPLICATION), Status::Fail);
        f.standbys = Some(vec![Standby {
            application_name: Some("s1".into()),
            state: Some("streaming".into()),
            sync_state: Some("async".into()),
        }]);
        assert_eq!(status(&f, ids::COMPLIANCE_SYNC_REPLICATION), Status::Warn);
        f.standbys = Some(vec![Standby {
            application_name: Some("s1".into()),
            state: Some("streaming".into()),
            sync_state: Some("quorum".into()),
        }]);
        assert_eq!(status(&f, ids::COMPLIANCE_SYNC_REPLICATION), Status::Pass);
        f.synchronous_commit = Some("local".into());
        assert_eq!(status(&f, ids::COMPLIANCE_SYNC_REPLICATION), Status::Warn);
    }

    #[test]
    fn tls_and_passwords() {
        let mut f = facts();
        assert_eq!(status(&f, ids::COMPLIANCE_SERVER_TLS), Status::Pass);
        f.ssl_min_protocol_version = Some("TLSv1".into());
        assert_eq!(status(&f, ids::COMPLIANCE_SERVER_TLS), Status::Warn);
        f.ssl = Some("off".into());
        assert_eq!(status(&f, ids::COMPLIANCE_SERVER_TLS), Status::Fail);
        f.password_encryption = Some("md5".into());
        assert_eq!(
            status(&f, ids::COMPLIANCE_PASSWORD_ENCRYPTION),
            Status::Warn
        );
    }
}

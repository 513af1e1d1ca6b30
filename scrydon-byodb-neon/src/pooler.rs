//! Poolers in front of serverless PostgreSQL: Neon `-pooler` hosts (PgBouncer, transaction
//! mode), Supabase's Supavisor (`*.pooler.supabase.com`, 6543 transaction, 5432 session).
//!
//! The app's runtime DSN may stay pooled; DDL (migrations) must go to the direct endpoint,
//! which [`direct_dsn_for`] derives.

use std::fmt;

use scrydon_byodb::dsn::{Dsn, Host};
use scrydon_byodb::report::{Finding, Status};
use scrydon_byodb::{Error, Result};

use crate::{ids, NeonHost, SupabaseHost};

/// How a pooler hands out server connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PoolMode {
    /// A server connection per transaction: no session state, some DDL fails.
    Transaction,
    /// A server connection per client session.
    Session,
    /// A pooler, mode unknown.
    Unknown,
}

/// What a DSN's host and port say about a pooler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolerHint {
    /// The mode the host and port imply.
    pub mode: PoolMode,
    /// What was recognised.
    pub what: &'static str,
}

/// A pooler named by the DSN: a Neon `-pooler` host, Supavisor (6543 transaction, other ports
/// session), or PgBouncer's default port 6432 (mode unknown).
pub fn pooler_from_dsn(dsn: &Dsn) -> Option<PoolerHint> {
    let endpoints = dsn.endpoints().ok()?;
    let first = endpoints.first()?;
    let Host::Tcp(host) = &first.host else {
        return None;
    };
    if NeonHost::from_host(host).is_some_and(|h| h.pooled) {
        return Some(PoolerHint {
            mode: PoolMode::Transaction,
            what: "a Neon -pooler endpoint (PgBouncer, transaction mode)",
        });
    }
    if SupabaseHost::from_host(host).is_some_and(|h| h.pooled) {
        return Some(if first.port == 6543 {
            PoolerHint {
                mode: PoolMode::Transaction,
                what: "Supavisor on port 6543 (transaction mode)",
            }
        } else {
            PoolerHint {
                mode: PoolMode::Session,
                what: "Supavisor in session mode",
            }
        });
    }
    (first.port == 6432).then_some(PoolerHint {
        mode: PoolMode::Unknown,
        what: "port 6432, PgBouncer's default (mode unknown)",
    })
}

/// The direct (unpooled) DSN for a pooled Neon or Supabase DSN: the Neon host without
/// `-pooler`; Supabase `db.<ref>.supabase.co:5432` with user `postgres` (from
/// `postgres.<ref>`). `None` when the DSN is not a recognised pooled DSN. Everything else (the
/// password, TLS settings, database) is kept.
pub fn direct_dsn_for(dsn: &Dsn) -> Option<Dsn> {
    let endpoints = dsn.endpoints().ok()?;
    let first = endpoints.first()?;
    let Host::Tcp(host) = &first.host else {
        return None;
    };
    let mut direct = dsn.clone();
    if let Some(h) = NeonHost::from_host(host).filter(|h| h.pooled) {
        direct.set("host", &h.direct_host()).ok()?;
        direct.remove("hostaddr").ok()?;
        return Some(direct);
    }
    if SupabaseHost::from_host(host).is_some_and(|h| h.pooled) {
        let project = dsn.user()?.strip_prefix("postgres.")?.to_owned();
        direct
            .set("host", &format!("db.{project}.supabase.co"))
            .ok()?;
        direct.remove("hostaddr").ok()?;
        direct.set("port", "5432").ok()?;
        direct.set("user", "postgres").ok()?;
        return Some(direct);
    }
    None
}

/// Confirms a transaction-mode pooler on the wire (two connections whose statements run in the
/// same server process); the core's probe, the one preflight runs.
pub use scrydon_byodb::preflight::probe_transaction_pooler;

/// What is known about the pooler in front of a DSN.
#[derive(Clone, PartialEq, Eq)]
pub struct Pooler {
    /// What the host and port say.
    pub hint: Option<PoolerHint>,
    /// What the wire probe said: `Some(true)` a transaction-mode pooler was seen,
    /// `Some(false)` not, `None` not probed.
    pub confirmed: Option<bool>,
    direct: Option<Dsn>,
}

impl fmt::Debug for Pooler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pooler")
            .field("hint", &self.hint)
            .field("confirmed", &self.confirmed)
            .field("direct", &self.direct_endpoint())
            .finish()
    }
}

impl Pooler {
    /// From the DSN alone (no connection).
    pub fn from_dsn(dsn: &Dsn) -> Self {
        Self {
            hint: pooler_from_dsn(dsn),
            confirmed: None,
            direct: direct_dsn_for(dsn),
        }
    }

    /// From the DSN, confirmed with [`probe_transaction_pooler`].
    pub async fn detect(dsn: &Dsn) -> Result<Self> {
        let mut p = Self::from_dsn(dsn);
        p.confirmed = Some(probe_transaction_pooler(dsn).await?.is_some());
        Ok(p)
    }

    /// Names the direct DSN when it cannot be derived from the host (a PgBouncer of one's
    /// own).
    pub fn with_direct_dsn(mut self, direct: Dsn) -> Self {
        self.direct = Some(direct);
        self
    }

    /// Whether statements may land on different server sessions: confirmed on the wire, or,
    /// unprobed, implied by the host.
    pub fn transaction_mode(&self) -> bool {
        match self.confirmed {
            Some(c) => c,
            None => self
                .hint
                .as_ref()
                .is_some_and(|h| h.mode == PoolMode::Transaction),
        }
    }

    /// The direct DSN, when known.
    pub fn direct_dsn(&self) -> Option<&Dsn> {
        self.direct.as_ref()
    }

    /// `host:port` of the direct endpoint, when known (no credentials).
    pub fn direct_endpoint(&self) -> Option<String> {
        let d = self.direct.as_ref()?;
        let e = d.endpoints().ok()?;
        let first = e.first()?;
        Some(match &first.host {
            Host::Tcp(h) => format!("{h}:{}", first.port),
            Host::Unix(p) => format!("{}:{}", p.display(), first.port),
        })
    }

    /// Refuses DDL (`CREATE`, `ALTER`, `DROP`, `COMMENT`, `GRANT`, `REVOKE`, `REINDEX`,
    /// `CLUSTER`, `VACUUM`, `TRUNCATE`, `SECURITY LABEL`, `REFRESH`) through a
    /// transaction-mode pooler, naming the direct endpoint. Other statements, and anything
    /// when no transaction-mode pooler is in front, pass.
    pub fn check_statement(&self, sql: &str) -> Result<()> {
        if !self.transaction_mode() || !is_ddl(sql) {
            return Ok(());
        }
        let to = match self.direct_endpoint() {
            Some(d) => format!("run it through the direct endpoint {d}"),
            None => "run it through the direct (unpooled) endpoint".to_owned(),
        };
        Err(Error::InvalidInput {
            field: "statement".to_owned(),
            value: first_word(sql).to_ascii_uppercase(),
            reason: format!("DDL through a transaction-mode pooler is refused; {to}"),
        })
    }

    /// The finding for preflight and the compliance report (`neon.pooler`).
    pub fn finding(&self) -> Finding {
        let what = self
            .hint
            .as_ref()
            .map(|h| h.what)
            .unwrap_or("no pooler host");
        let wire = match self.confirmed {
            Some(true) => "; confirmed on the wire (two clients, one server process)",
            Some(false) => "; not a transaction-mode pooler on the wire",
            None => "",
        };
        let observed = format!("{what}{wire}");
        if self.transaction_mode() {
            let direct = self
                .direct_endpoint()
                .unwrap_or_else(|| "the direct endpoint".to_owned());
            Finding::new(ids::POOLER, Status::Warn)
                .with_observed(observed)
                .with_remediation(format!(
                    "Keep the apps' runtime DSN pooled if you like, but run migrations (DDL) \
                     through {direct}."
                ))
        } else {
            Finding::new(ids::POOLER, Status::Pass).with_observed(observed)
        }
    }
}

fn strip_comments(mut sql: &str) -> &str {
    loop {
        sql = sql.trim_start();
        if let Some(rest) = sql.strip_prefix("--") {
            sql = rest.split_once('\n').map(|(_, r)| r).unwrap_or("");
        } else if let Some(rest) = sql.strip_prefix("/*") {
            sql = rest.split_once("*/").map(|(_, r)| r).unwrap_or("");
        } else {
            return sql;
        }
    }
}

fn first_word(sql: &str) -> &str {
    let s = strip_comments(sql);
    let end = s
        .find(|c: char| !c.is_ascii_alphabetic())
        .unwrap_or(s.len());
    &s[..end]
}

/// Whether a statement is DDL (by its first keyword, after comments).
pub fn is_ddl(sql: &str) -> bool {
    let w = first_word(sql).to_ascii_uppercase();
    matches!(
        w.as_str(),
        "CREATE"
            | "ALTER"
            | "DROP"
            | "COMMENT"
            | "GRANT"
            | "REVOKE"
            | "REINDEX"
            | "CLUSTER"
            | "VACUUM"
            | "TRUNCATE"
            | "SECURITY"
            | "REFRESH"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dsn(s: &str) -> Dsn {
        s.parse().unwrap()
    }

    #[test]
    fn hints_and_direct_dsns() {
        let neon =
            dsn("postgresql://app:pw@ep-x-1-pooler.us-east-2.aws.neon.tech/db?sslmode=require");
        assert_eq!(pooler_from_dsn(&neon).unwrap().mode, PoolMode::Transaction);
        let d = direct_dsn_for(&neon).unwrap();
        assert_eq!(d.get("host"), Some("ep-x-1.us-east-2.aws.neon.tech"));
        assert_eq!(d.password(), Some("pw"));
        assert_eq!(d.get("sslmode"), Some("require"));

        let supa = dsn("postgres://postgres.abcdefghij:pw@aws-0-eu-central-1.pooler.supabase.com:6543/postgres");
        assert_eq!(pooler_from_dsn(&supa).unwrap().mode, PoolMode::Transaction);
        let d = direct_dsn_for(&supa).unwrap();
        assert_eq!(d.get("host"), Some("db.abcdefghij.supabase.co"));
        assert_eq!(d.get("port"), Some("5432"));
        assert_eq!(d.user(), Some("postgres"));

        let session = dsn("postgres://postgres.abcdefghij:pw@aws-0-eu-central-1.pooler.supabase.com:5432/postgres");
        assert_eq!(pooler_from_dsn(&session).unwrap().mode, PoolMode::Session);

        let direct = dsn("postgres://postgres:pw@db.abcdefghij.supabase.co:5432/postgres");
        assert_eq!(pooler_from_dsn(&direct), None);
        assert!(direct_dsn_for(&direct).is_none());
    }

    #[test]
    fn ddl_by_first_keyword() {
        assert!(is_ddl("  -- migrate\n/* x */ create table t()"));
        assert!(is_ddl("ALTER TABLE t ADD c int"));
        assert!(!is_ddl("SELECT 1"));
        assert!(!is_ddl("insert into t values (1)"));
        let p = Pooler::from_dsn(&dsn(
            "postgresql://app:pw@ep-x-1-pooler.us-east-2.aws.neon.tech/db",
        ));
        let err = p.check_statement("CREATE INDEX i ON t (c)").unwrap_err();
        assert!(
            err.to_string()
                .contains("ep-x-1.us-east-2.aws.neon.tech:5432"),
            "{err}"
        );
        assert!(!err.to_string().contains("pw"));
        p.check_statement("SELECT 1").unwrap();
    }
}

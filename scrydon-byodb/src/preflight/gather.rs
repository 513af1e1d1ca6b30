//! Looking: every connection at once, one catalog read per connection.
//!
//! The admin connection, a second admin connection for the pooler probe, one connection per
//! component database (plus a second one on a component whose own DSN points at another
//! endpoint) and the plaintext probe all start together. Each connection sends one statement
//! (see [`super::sql`]); a pooler probe's second connection sends `SELECT pg_backend_pid()` once
//! the first one's statement has finished. Provider API calls run alongside. A full preflight
//! therefore costs one connection set-up plus two round trips, whatever the number of
//! databases.

use std::collections::BTreeMap;
use std::time::Duration;

use futures_util::future::join_all;
use tokio_postgres::types::{ToSql, Type};

use super::probe::{self, Plaintext};
use super::session::{self, Session};
use super::sql::{self, DatabaseFacts, ServerFacts};
use super::Target;
use crate::catalog::Component;
use crate::dsn::Dsn;
use crate::provider::{
    BackupPosture, Capabilities, HighAvailability, Operation, ParameterValue, Provider,
    ProviderKind,
};
use crate::tls::TlsInfo;
use crate::{ConnectFailure, Error, Result};

/// The table-name prefixes of Dapr's workflow state stores (runbook: Troubleshooting, "Dapr
/// workflow state table not found").
pub(crate) const DAPR_TABLE_PREFIXES: &[&str] =
    &["dapr_workflow_state", "analytics_dapr_workflow_state"];

/// Why a connection gave nothing to look at.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The connection could not be established.
    Connect {
        target: String,
        failure: ConnectFailure,
    },
    /// The catalog read failed (SQLSTATE), or its answer could not be read.
    Query { reason: String },
    /// No answer within the time allowed.
    Timeout { after: Duration },
}

impl Failure {
    /// A connection's failure: its kind, or (an input error found late) its description.
    fn connect(e: Error) -> Failure {
        match e {
            Error::Connect {
                target, failure, ..
            } => Failure::Connect { target, failure },
            other => Failure::Query {
                reason: format!("connect failed: {other}"),
            },
        }
    }

    /// A statement's failure, by SQLSTATE (or the connection's loss, when there is none).
    fn query(what: &str, e: &tokio_postgres::Error) -> Failure {
        Failure::Query {
            reason: match e.code() {
                Some(code) => format!("{what} failed with SQLSTATE {}", code.code()),
                None if e.is_closed() => format!("{what}: the connection was closed"),
                None => format!("{what} failed (no SQLSTATE: a protocol or I/O error)"),
            },
        }
    }
}

/// The admin connection's findings.
#[derive(Debug)]
pub(crate) struct AdminSeen {
    pub(crate) facts: ServerFacts,
    pub(crate) tls: Option<TlsInfo>,
    /// The pooler probe: the second connection's server process id (compare with
    /// `facts.backend_pid`), or why it could not be had.
    pub(crate) second_pid: std::result::Result<i32, String>,
}

/// One component connection's findings.
#[derive(Debug)]
pub(crate) struct DatabaseSeen {
    pub(crate) facts: DatabaseFacts,
    pub(crate) tls: Option<TlsInfo>,
    /// The pooler probe on this component's own endpoint (`None`: not probed here, because the
    /// admin connection's probe covers the same endpoint).
    pub(crate) second_pid: Option<std::result::Result<i32, String>>,
}

/// What the provider said (each answer, or the error; `None` when not asked because the
/// capability is off).
#[derive(Debug)]
pub(crate) struct ProviderSeen {
    pub(crate) name: String,
    pub(crate) kind: ProviderKind,
    pub(crate) capabilities: Capabilities,
    pub(crate) parameters: Vec<(String, Result<Option<ParameterValue>>)>,
    pub(crate) backup: Option<Result<BackupPosture>>,
    pub(crate) high_availability: Option<Result<HighAvailability>>,
    /// [`Provider::findings`], when the provider has the capability.
    pub(crate) findings: Option<Result<Vec<crate::report::Finding>>>,
}

/// Everything preflight saw.
#[derive(Debug)]
pub(crate) struct Seen {
    pub(crate) admin: std::result::Result<AdminSeen, Failure>,
    pub(crate) databases: BTreeMap<Component, std::result::Result<DatabaseSeen, Failure>>,
    pub(crate) plaintext: Plaintext,
    pub(crate) provider: ProviderSeen,
}

async fn timed<T>(
    after: Duration,
    fut: impl std::future::Future<Output = std::result::Result<T, Failure>>,
) -> std::result::Result<T, Failure> {
    tokio::time::timeout(after, fut)
        .await
        .unwrap_or(Err(Failure::Timeout { after }))
}

/// What preflight's sessions call themselves in `pg_stat_activity` unless the DSN names one.
const APPLICATION_NAME: &str = "scrydon-byodb preflight";

async fn open(dsn: &Dsn) -> std::result::Result<Session, Failure> {
    let mut dsn = dsn.clone();
    // Cannot fail: a known keyword and a valid value.
    let _ = dsn.set("fallback_application_name", APPLICATION_NAME);
    session::open(&dsn).await.map_err(Failure::connect)
}

/// Runs one statement returning one JSON text column and parses it.
async fn read_json<T: serde::de::DeserializeOwned>(
    session: &Session,
    statement: &str,
    params: &[(&(dyn ToSql + Sync), Type)],
    what: &str,
) -> std::result::Result<T, Failure> {
    let rows = session
        .client
        .query_typed(statement, params)
        .await
        .map_err(|e| Failure::query(what, &e))?;
    let text: String = rows
        .first()
        .and_then(|r| r.try_get::<_, Option<String>>(0).ok().flatten())
        .ok_or_else(|| Failure::Query {
            reason: format!("{what} returned no row"),
        })?;
    serde_json::from_str(&text).map_err(|e| Failure::Query {
        reason: format!("{what} returned unexpected JSON: {e}"),
    })
}

async fn admin(target: &Target, timeout: Duration) -> std::result::Result<AdminSeen, Failure> {
    let dsn = target.admin();
    // Both admin connections at once; the second serves the pooler probe.
    let (first, second) = tokio::join!(timed(timeout, open(dsn)), timed(timeout, open(dsn)));
    let first = first?;
    let role = target.app_role().to_owned();
    let databases: Vec<String> = target.components().map(|c| target.database(c)).collect();
    let settings: Vec<String> = crate::provider::KNOWN_SETTINGS
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    let roles: Vec<String> = ProviderKind::ALL
        .iter()
        .filter_map(|k| k.extension_admin_role())
        .map(str::to_owned)
        .collect();
    let facts: ServerFacts = timed(
        timeout,
        read_json(
            &first,
            sql::SERVER,
            &[
                (&role, Type::TEXT),
                (&databases, Type::TEXT_ARRAY),
                (&settings, Type::TEXT_ARRAY),
                (&roles, Type::TEXT_ARRAY),
            ],
            "server catalog read",
        ),
    )
    .await?;
    let tls = first.tls.clone();
    let second_pid = second_backend_pid(second, timeout).await;
    drop(first);
    Ok(AdminSeen {
        facts,
        tls,
        second_pid,
    })
}

/// The pooler probe's second half: which server process serves the second connection, asked
/// only once the first connection's statement has finished. A transaction-mode pooler hands
/// the second client the server connection the first one just released; a direct connection or
/// a session-mode pooler never can.
async fn second_backend_pid(
    second: std::result::Result<Session, Failure>,
    timeout: Duration,
) -> std::result::Result<i32, String> {
    let second = second.map_err(|f| describe(&f))?;
    timed(timeout, async {
        let rows = second
            .client
            .query_typed(sql::BACKEND_PID, &[])
            .await
            .map_err(|e| Failure::query("pooler probe", &e))?;
        rows.first()
            .and_then(|r| r.try_get::<_, i32>(0).ok())
            .ok_or_else(|| Failure::Query {
                reason: "pooler probe returned no row".to_owned(),
            })
    })
    .await
    .map_err(|f| describe(&f))
}

/// A short description of a failure, for observations.
pub(crate) fn describe(f: &Failure) -> String {
    match f {
        Failure::Connect { target, failure } => format!("{target}: {failure}"),
        Failure::Query { reason } => reason.clone(),
        Failure::Timeout { after } => format!("no answer within {}s", after.as_secs()),
    }
}

async fn database(
    dsn: Dsn,
    role: String,
    timeout: Duration,
    pooler_probe: bool,
) -> std::result::Result<DatabaseSeen, Failure> {
    let (session, second) = tokio::join!(timed(timeout, open(&dsn)), async {
        if pooler_probe {
            Some(timed(timeout, open(&dsn)).await)
        } else {
            None
        }
    });
    let session = session?;
    let prefixes: Vec<String> = DAPR_TABLE_PREFIXES
        .iter()
        .map(|p| (*p).to_owned())
        .collect();
    let facts: DatabaseFacts = timed(
        timeout,
        read_json(
            &session,
            sql::DATABASE,
            &[(&role, Type::TEXT), (&prefixes, Type::TEXT_ARRAY)],
            "database catalog read",
        ),
    )
    .await?;
    let tls = session.tls.clone();
    let second_pid = match second {
        Some(second) => Some(second_backend_pid(second, timeout).await),
        None => None,
    };
    drop(session);
    Ok(DatabaseSeen {
        facts,
        tls,
        second_pid,
    })
}

async fn provider(p: &dyn Provider) -> ProviderSeen {
    let capabilities = p.capabilities();
    let parameters = async {
        if !capabilities.supports(Operation::ReadParameter) {
            return Vec::new();
        }
        let names = crate::provider::KNOWN_SETTINGS;
        let answers = join_all(names.iter().map(|n| p.parameter(n))).await;
        names.iter().map(|n| (*n).to_owned()).zip(answers).collect()
    };
    let backup = async {
        if capabilities.supports(Operation::BackupPosture) {
            Some(p.backup_posture().await)
        } else {
            None
        }
    };
    let high_availability = async {
        if capabilities.supports(Operation::HighAvailability) {
            Some(p.high_availability().await)
        } else {
            None
        }
    };
    let findings = async {
        if capabilities.supports(Operation::Findings) {
            Some(p.findings().await)
        } else {
            None
        }
    };
    let (parameters, backup, high_availability, findings) =
        tokio::join!(parameters, backup, high_availability, findings);
    ProviderSeen {
        name: p.name().to_owned(),
        kind: p.kind(),
        capabilities,
        parameters,
        backup,
        high_availability,
        findings,
    }
}

/// Where a DSN's first host is, for telling endpoints apart.
fn endpoint_key(dsn: &Dsn) -> Option<(String, u16, Option<std::net::IpAddr>)> {
    let endpoints = dsn.endpoints().ok()?;
    let first = endpoints.first()?;
    let host = match &first.host {
        crate::dsn::Host::Tcp(h) => h.to_ascii_lowercase(),
        crate::dsn::Host::Unix(p) => p.display().to_string(),
    };
    Some((host, first.port, first.hostaddr))
}

/// Looks at everything, concurrently.
pub(crate) async fn gather(target: &Target, p: &dyn Provider, timeout: Duration) -> Seen {
    let role = target.app_role().to_owned();
    let components: Vec<Component> = target.components().collect();
    // The pooler probe runs once per endpoint: on the admin connection, and on the first
    // component whose own DSN points elsewhere (the apps' pooler, say).
    let mut probed = vec![endpoint_key(target.admin())];
    let databases = join_all(components.iter().map(|c| {
        let dsn = target.component_dsn(*c);
        let key = endpoint_key(&dsn);
        let probe = !probed.contains(&key);
        if probe {
            probed.push(key);
        }
        database(dsn, role.clone(), timeout, probe)
    }));
    let (admin, databases, plaintext, provider) = tokio::join!(
        admin(target, timeout),
        databases,
        probe::plaintext(target.admin(), timeout),
        provider(p)
    );
    Seen {
        admin,
        databases: components.into_iter().zip(databases).collect(),
        plaintext,
        provider,
    }
}

//! Connecting to PostgreSQL the way libpq does, with failures explained by kind.
//!
//! [`connect`] walks the DSN's hosts in order (`host`/`hostaddr`/`port` as libpq pairs them),
//! tries each address of each host, applies `connect_timeout` per address, TCP keepalives and
//! `tcp_user_timeout`, and follows libpq's TLS behaviour for every `sslmode`:
//!
//! * `disable`: plaintext only;
//! * `allow`: plaintext first; if the server rejects it during authentication, once more with TLS;
//! * `prefer`: TLS first; if the server declines TLS, continue in plaintext; if the handshake
//!   fails or the server rejects the TLS session during authentication, once more in plaintext;
//! * `require`, `verify-ca`, `verify-full`: TLS or fail.
//!
//! Unix-domain sockets never use TLS (as in libpq, `sslmode` does not apply to them).
//!
//! Like libpq, a failure to reach an address (refused, unreachable, timed out, a name that does
//! not resolve) moves on to the next address or host; a server that answers with an error, or
//! a TLS failure, ends the attempt (except "the database system is starting up", SQLSTATE 57P03,
//! which moves to the next host). `target_session_attrs` is checked from the parameters the
//! server reports at startup (PostgreSQL 14+), with a query only for older servers.
//!
//! Failures are classified into [`ConnectFailure`] by SQLSTATE, I/O error kind, TLS error
//! variant and what the server sent during startup, never by message text. A plaintext attempt
//! refused with SQLSTATE 28000 is probed once more over TLS (without a password and without
//! checking the certificate): if the server then proceeds to authentication, the failure is
//! [`ConnectFailure::ServerRequiresTls`], else [`ConnectFailure::AuthenticationFailed`].
//!
//! Nothing is read implicitly from the environment or the home directory (`PG*` variables,
//! `~/.pgpass`, `~/.postgresql/`): see [`Dsn::with_env`] and
//! [`Dsn::resolve_password_from_passfile`] to apply them first.

mod attempt;
mod socket;
mod trace;

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio_postgres::error::SqlState;
use tokio_postgres::Client;

use crate::dsn::{ChannelBinding, Dsn, Endpoint, Host, SslMode, TargetSessionAttrs};
use crate::error::BoxError;
use crate::tls::{TlsConnector, TlsInfo, Verification};
use crate::{ConnectFailure, Error, Result};
use attempt::{
    attempt, server_accepts_tls_startup, Address, AttemptSettings, Established, Failed, Transport,
};
use socket::TcpOptions;
use trace::{Trace, AUTH_CLEARTEXT, AUTH_MD5, AUTH_OK, AUTH_SASL};

/// Options for [`connect`] that are not part of the DSN.
#[derive(Debug, Clone, Default)]
pub struct ConnectOptions {
    statement_timeout: Option<Duration>,
    tls: Option<TlsConnector>,
    default_connect_timeout: Option<Duration>,
    skip_tls_requirement_probe: bool,
}

impl ConnectOptions {
    /// Defaults: the DSN's settings only.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `statement_timeout` on the session once connected (rounded to milliseconds).
    pub fn with_statement_timeout(mut self, timeout: Duration) -> Self {
        self.statement_timeout = Some(timeout);
        self
    }

    /// Uses this TLS policy instead of the one the DSN's TLS keywords give (e.g. the DSN's
    /// settings plus a provider's CA bundle: see [`TlsConnector::builder_from_dsn`]).
    pub fn with_tls_connector(mut self, tls: TlsConnector) -> Self {
        self.tls = Some(tls);
        self
    }

    /// The per-address timeout when the DSN sets no `connect_timeout` (libpq's default is to
    /// wait forever, or rather for the operating system's TCP timeout).
    pub fn with_default_connect_timeout(mut self, timeout: Duration) -> Self {
        self.default_connect_timeout = Some(timeout);
        self
    }

    /// Does not probe a server that refused a plaintext attempt with SQLSTATE 28000 to find
    /// out whether it requires TLS (the failure is then `AuthenticationFailed`).
    pub fn without_tls_requirement_probe(mut self) -> Self {
        self.skip_tls_requirement_probe = true;
        self
    }
}

/// The host and port connected to.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct EndpointInfo {
    /// The host as the DSN names it (a name, an IP address, or a socket directory).
    pub host: String,
    /// The port.
    pub port: u16,
    /// The DSN's `hostaddr`, if it gave one.
    pub hostaddr: Option<String>,
    /// The address actually connected to (`ip:port`, or the socket file's path).
    pub address: String,
    /// Whether this is a Unix-domain socket.
    pub unix_socket: bool,
}

/// The server's version.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ServerVersion {
    /// As `server_version_num` gives it (`150008` for 15.8), computed as libpq's
    /// `PQserverVersion` does; 0 when the server did not report its version.
    pub num: i32,
    /// As `server_version` gives it (`"15.8 (Debian 15.8-1.pgdg120+1)"`).
    pub text: String,
}

/// How the server authenticated the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum AuthMethod {
    /// No password asked (`trust`, `peer`, `cert`).
    Trust,
    /// Cleartext password (`password`, `ldap`, `pam`, `radius`).
    Password,
    /// MD5.
    Md5,
    /// SCRAM-SHA-256 without channel binding.
    #[serde(rename = "scram-sha-256")]
    ScramSha256,
    /// SCRAM-SHA-256-PLUS (channel binding).
    #[serde(rename = "scram-sha-256-plus")]
    ScramSha256Plus,
    /// Something else (GSSAPI, SSPI).
    Other,
}

/// An attempt that failed before the one that succeeded (another address, or libpq's
/// `prefer`/`allow` retry).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FailedAttempt {
    /// The address tried.
    pub target: String,
    /// Whether the attempt used TLS.
    pub tls: bool,
    /// Why it failed.
    pub failure: ConnectFailure,
}

/// What [`connect`] established. Serializable (the CLI prints it as JSON).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct ConnectionInfo {
    /// Where.
    pub endpoint: EndpointInfo,
    /// The server's version.
    pub server_version: ServerVersion,
    /// The TLS session; `None` for plaintext.
    pub tls: Option<TlsInfo>,
    /// Whether SCRAM channel binding (`tls-server-end-point`) was used.
    pub channel_binding_used: bool,
    /// How the server authenticated us.
    pub authentication: AuthMethod,
    /// The session user.
    pub user: String,
    /// The database.
    pub dbname: String,
    /// The effective `sslmode`.
    pub ssl_mode: SslMode,
    /// The server reported being in hot standby (`None`: not reported and not asked).
    pub in_hot_standby: Option<bool>,
    /// The session is read-only (`default_transaction_read_only`, or hot standby; `None`: not
    /// reported and not asked).
    pub read_only: Option<bool>,
    /// Attempts that failed before this connection was made.
    pub earlier_attempts: Vec<FailedAttempt>,
}

impl ConnectionInfo {
    /// What was checked about the server's certificate (`None` without TLS).
    pub fn verification(&self) -> Option<Verification> {
        self.tls.as_ref().map(|t| t.verification)
    }
}

/// An open connection: the `tokio_postgres` client (its connection task runs on the tokio
/// runtime) and what was learned while connecting.
pub struct Connection {
    client: Client,
    info: ConnectionInfo,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

impl Connection {
    /// The client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// What was established.
    pub fn info(&self) -> &ConnectionInfo {
        &self.info
    }

    /// The client and the information, separately.
    pub fn into_parts(self) -> (Client, ConnectionInfo) {
        (self.client, self.info)
    }
}

impl std::ops::Deref for Connection {
    type Target = Client;
    fn deref(&self) -> &Client {
        &self.client
    }
}

/// The failure kind for a SQLSTATE a server sends while a connection starts:
/// 28P01 and other 28xxx → `AuthenticationFailed`, 3D000 → `DatabaseMissing`,
/// 42501 → `PermissionDenied`, 53300 → `TooManyConnections`, 57P01/57P02/57P03 →
/// `ServerUnavailable`, else `Other`.
pub fn failure_for_sqlstate(code: &SqlState) -> ConnectFailure {
    attempt::failure_for_sqlstate(code)
}

/// Everything an endpoint's attempts share.
struct Plan {
    dsn_mode: SslMode,
    tls: TlsConnector,
    config: tokio_postgres::Config,
    config_without_password: tokio_postgres::Config,
    has_password: bool,
    channel_binding: ChannelBinding,
    tcp: TcpOptions,
    timeout: Option<Duration>,
    probe: bool,
    dbname: Option<String>,
    user: Option<String>,
}

/// Connects with libpq's behaviour (see the module documentation).
///
/// Errors: [`Error::InvalidDsn`] and [`Error::TlsConfig`] before anything is sent;
/// [`Error::Connect`] with the failure kind of the last attempt (or `NoSuitableHost` when every
/// server reached failed `target_session_attrs`); [`Error::Database`] if `statement_timeout`
/// cannot be set.
pub async fn connect(dsn: &Dsn, options: &ConnectOptions) -> Result<Connection> {
    dsn.validate()?;
    let endpoints = dsn.endpoints()?;
    let tls = match &options.tls {
        Some(tls) => tls.clone(),
        None => TlsConnector::from_dsn(dsn)?,
    };

    let mut config = tokio_postgres::Config::new();
    let user = dsn.user().filter(|u| !u.is_empty());
    if let Some(user) = user {
        config.user(user);
    }
    if let Some(db) = dsn.dbname().filter(|d| !d.is_empty()) {
        config.dbname(db);
    }
    if let Some(o) = dsn.options().filter(|o| !o.is_empty()) {
        config.options(o);
    }
    if let Some(app) = dsn
        .application_name()
        .filter(|a| !a.is_empty())
        .or(dsn.fallback_application_name().filter(|a| !a.is_empty()))
    {
        config.application_name(app);
    }
    let channel_binding = dsn.channel_binding();
    config.channel_binding(match channel_binding {
        ChannelBinding::Disable => tokio_postgres::config::ChannelBinding::Disable,
        ChannelBinding::Prefer => tokio_postgres::config::ChannelBinding::Prefer,
        ChannelBinding::Require => tokio_postgres::config::ChannelBinding::Require,
    });
    config.ssl_negotiation(match tls.ssl_negotiation() {
        crate::dsn::SslNegotiation::Postgres => tokio_postgres::config::SslNegotiation::Postgres,
        crate::dsn::SslNegotiation::Direct => tokio_postgres::config::SslNegotiation::Direct,
    });
    let config_without_password = config.clone();
    let password = dsn.password().filter(|p| !p.is_empty());
    if let Some(password) = password {
        config.password(password);
    }
    let user = user.map(str::to_owned);
    let dbname = dsn.dbname().filter(|d| !d.is_empty()).map(str::to_owned);

    let plan = Plan {
        dsn_mode: tls.ssl_mode(),
        tls,
        config,
        config_without_password,
        has_password: password.is_some(),
        channel_binding,
        tcp: TcpOptions {
            keepalives: dsn.keepalives(),
            keepalives_idle: dsn.keepalives_idle(),
            keepalives_interval: dsn.keepalives_interval(),
            keepalives_count: dsn.keepalives_count(),
            user_timeout: dsn.tcp_user_timeout(),
        },
        timeout: dsn.connect_timeout().or(options.default_connect_timeout),
        probe: !options.skip_tls_requirement_probe,
        dbname,
        user,
    };

    let tsa = dsn.target_session_attrs();
    let passes: &[TargetSessionAttrs] = match tsa {
        TargetSessionAttrs::PreferStandby => {
            &[TargetSessionAttrs::Standby, TargetSessionAttrs::Any]
        }
        _ => std::slice::from_ref(&tsa),
    };

    // Which entries of the host list name a host (libpq checks verify-full against that name,
    // and refuses when only hostaddr is given).
    let named: Vec<bool> = match dsn.get("host").filter(|h| !h.is_empty()) {
        Some(hosts) => hosts.split(',').map(|h| !h.is_empty()).collect(),
        None => Vec::new(),
    };

    let mut earlier = Vec::new();
    let mut last_error: Option<Error> = None;
    let mut last_target = String::new();
    let mut reached_but_unsuitable = false;
    for pass in passes {
        for (index, endpoint) in endpoints.iter().enumerate() {
            let host_named = endpoint.hostaddr.is_none() || named.get(index) == Some(&true);
            match connect_endpoint(endpoint, host_named, &plan, &mut earlier).await {
                Ok((established, endpoint_info)) => {
                    let (hot_standby, read_only) = server_state(&established, *pass)
                        .await
                        .map_err(|e| Error::Connect {
                            target: endpoint_info.address.clone(),
                            failure: ConnectFailure::Other,
                            source: Some(Box::new(e)),
                        })?;
                    if !session_matches(*pass, hot_standby, read_only) {
                        reached_but_unsuitable = true;
                        last_target = endpoint_info.address.clone();
                        earlier.push(FailedAttempt {
                            target: endpoint_info.address,
                            tls: established.tls.is_some(),
                            failure: ConnectFailure::NoSuitableHost,
                        });
                        continue;
                    }
                    let info = connection_info(
                        &plan,
                        endpoint_info,
                        &established,
                        hot_standby,
                        read_only,
                        std::mem::take(&mut earlier),
                    );
                    if let Some(timeout) = options.statement_timeout {
                        let sql = format!("SET statement_timeout = {}", timeout.as_millis());
                        established.client.simple_query(&sql).await.map_err(|e| {
                            Error::Database {
                                operation: "set statement_timeout".to_owned(),
                                code: e.code().map(|c| c.code().to_owned()).unwrap_or_default(),
                                source: e,
                            }
                        })?;
                    }
                    return Ok(Connection {
                        client: established.client,
                        info,
                    });
                }
                Err(EndpointError { error, next }) => {
                    if !next {
                        return Err(error);
                    }
                    last_error = Some(error);
                }
            }
        }
    }

    match last_error {
        Some(error) if !reached_but_unsuitable => Err(error),
        _ => Err(Error::Connect {
            target: last_target,
            failure: ConnectFailure::NoSuitableHost,
            source: None,
        }),
    }
}

struct EndpointError {
    error: Error,
    /// libpq would go on with the next host.
    next: bool,
}

fn connect_error(target: &str, failed: Failed) -> Error {
    Error::Connect {
        target: target.to_owned(),
        failure: failed.failure,
        source: failed.source,
    }
}

fn socket_target(addr: &SocketAddr, host: &str) -> String {
    let ip = addr.ip().to_string();
    if ip == host {
        addr.to_string()
    } else {
        format!("{host} ({addr})")
    }
}

async fn connect_endpoint(
    endpoint: &Endpoint,
    host_named: bool,
    plan: &Plan,
    earlier: &mut Vec<FailedAttempt>,
) -> std::result::Result<(Established, EndpointInfo), EndpointError> {
    match &endpoint.host {
        Host::Unix(dir) => {
            let path = dir.join(format!(".s.PGSQL.{}", endpoint.port));
            let target = path.display().to_string();
            let host_name = dir.display().to_string();
            let settings = plan.settings(&host_name);
            let result = with_timeout(
                plan.timeout,
                attempt(&Address::Unix(path), Transport::Plain, &settings),
            )
            .await;
            match result {
                Ok(established) => Ok((
                    established,
                    EndpointInfo {
                        host: host_name,
                        port: endpoint.port,
                        hostaddr: None,
                        address: target,
                        unix_socket: true,
                    },
                )),
                Err(failed) => Err(endpoint_error(&target, failed, false, earlier)),
            }
        }
        Host::Tcp(host) => {
            if !host_named
                && plan.tls.server_name_check() == Some(&crate::tls::ServerNameCheck::Hostname)
            {
                return Err(EndpointError {
                    error: Error::TlsConfig {
                        reason: format!(
                            "sslmode=verify-full needs a host name to check the server \
                             certificate against, and only hostaddr={host} is given (set host)"
                        ),
                        source: None,
                    },
                    next: false,
                });
            }
            let addrs = match resolve(endpoint, host, plan.timeout).await {
                Ok(addrs) => addrs,
                Err(source) => {
                    let target = format!("{}:{}", bracket(host), endpoint.port);
                    earlier.push(FailedAttempt {
                        target: target.clone(),
                        tls: false,
                        failure: ConnectFailure::Dns,
                    });
                    return Err(EndpointError {
                        error: Error::Connect {
                            target,
                            failure: ConnectFailure::Dns,
                            source: Some(source),
                        },
                        next: true,
                    });
                }
            };
            let settings = plan.settings(host);
            let mut last = None;
            for addr in addrs {
                let target = socket_target(&addr, host);
                let result = with_timeout(
                    plan.timeout,
                    sequence(addr, &settings, plan, &target, earlier),
                )
                .await;
                match result {
                    Ok(established) => {
                        return Ok((
                            established,
                            EndpointInfo {
                                host: host.clone(),
                                port: endpoint.port,
                                hostaddr: endpoint.hostaddr.map(|ip| ip.to_string()),
                                address: addr.to_string(),
                                unix_socket: false,
                            },
                        ))
                    }
                    Err(failed) if failed.stage == attempt::Stage::Socket => {
                        last = Some(endpoint_error(&target, failed, true, earlier));
                    }
                    Err(failed) => return Err(endpoint_error(&target, failed, false, earlier)),
                }
            }
            Err(last.unwrap_or_else(|| EndpointError {
                error: Error::Connect {
                    target: format!("{}:{}", bracket(host), endpoint.port),
                    failure: ConnectFailure::Dns,
                    source: None,
                },
                next: true,
            }))
        }
    }
}

/// Turns a failed attempt into the endpoint's error, recording it among the earlier attempts.
fn endpoint_error(
    target: &str,
    failed: Failed,
    socket_level: bool,
    earlier: &mut Vec<FailedAttempt>,
) -> EndpointError {
    earlier.push(FailedAttempt {
        target: target.to_owned(),
        tls: failed.tls_in_use,
        failure: failed.failure,
    });
    // libpq moves on after a socket-level failure, and after "starting up" (57P03).
    let next = socket_level || failed.code() == Some(&SqlState::CANNOT_CONNECT_NOW);
    EndpointError {
        error: connect_error(target, failed),
        next,
    }
}

async fn with_timeout<F>(
    timeout: Option<Duration>,
    future: F,
) -> std::result::Result<Established, Failed>
where
    F: std::future::Future<Output = std::result::Result<Established, Failed>>,
{
    match timeout {
        Some(limit) => tokio::time::timeout(limit, future)
            .await
            .unwrap_or_else(|_| Err(Failed::timeout())),
        None => future.await,
    }
}

fn bracket(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_owned()
    }
}

async fn resolve(
    endpoint: &Endpoint,
    host: &str,
    timeout: Option<Duration>,
) -> std::result::Result<Vec<SocketAddr>, BoxError> {
    if let Some(ip) = endpoint.hostaddr {
        return Ok(vec![SocketAddr::new(ip, endpoint.port)]);
    }
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, endpoint.port)]);
    }
    let lookup = tokio::net::lookup_host((host, endpoint.port));
    let result = match timeout {
        Some(limit) => match tokio::time::timeout(limit, lookup).await {
            Ok(r) => r,
            Err(elapsed) => return Err(Box::new(elapsed)),
        },
        None => lookup.await,
    };
    let addrs: Vec<SocketAddr> = result.map_err(|e| Box::new(e) as BoxError)?.collect();
    if addrs.is_empty() {
        return Err("the host name resolved to no address".into());
    }
    Ok(addrs)
}

impl Plan {
    fn settings<'s>(&'s self, host_name: &'s str) -> AttemptSettings<'s> {
        AttemptSettings {
            tls: &self.tls,
            config: &self.config,
            has_password: self.has_password,
            channel_binding: self.channel_binding,
            tcp: &self.tcp,
            host_name,
        }
    }
}

/// libpq's sequence of attempts to one TCP address for the `sslmode`.
async fn sequence(
    addr: SocketAddr,
    settings: &AttemptSettings<'_>,
    plan: &Plan,
    target: &str,
    earlier: &mut Vec<FailedAttempt>,
) -> std::result::Result<Established, Failed> {
    let address = Address::Tcp(addr);
    match plan.dsn_mode {
        SslMode::Disable => {
            let result = attempt(&address, Transport::Plain, settings).await;
            match result {
                Err(mut failed)
                    if plan.probe
                        && failed.code()
                            == Some(&SqlState::INVALID_AUTHORIZATION_SPECIFICATION) =>
                {
                    if server_accepts_tls_startup(addr, settings, &plan.config_without_password)
                        .await
                    {
                        failed.failure = ConnectFailure::ServerRequiresTls;
                    }
                    Err(failed)
                }
                other => other,
            }
        }
        SslMode::Allow => match attempt(&address, Transport::Plain, settings).await {
            Err(failed) if failed.rejected_during_authentication() => {
                earlier.push(FailedAttempt {
                    target: target.to_owned(),
                    tls: false,
                    failure: failed.failure,
                });
                attempt(&address, Transport::TlsOrPlain, settings).await
            }
            other => other,
        },
        SslMode::Prefer => match attempt(&address, Transport::TlsOrPlain, settings).await {
            Err(tls_failed)
                if tls_failed.stage == attempt::Stage::Tls
                    || (tls_failed.tls_in_use && tls_failed.rejected_during_authentication()) =>
            {
                match attempt(&address, Transport::Plain, settings).await {
                    Ok(established) => {
                        earlier.push(FailedAttempt {
                            target: target.to_owned(),
                            tls: true,
                            failure: tls_failed.failure,
                        });
                        Ok(established)
                    }
                    // The plaintext retry was refused by pg_hba.conf: the TLS attempt's
                    // failure is the one that explains.
                    Err(plain_failed)
                        if plain_failed.code()
                            == Some(&SqlState::INVALID_AUTHORIZATION_SPECIFICATION) =>
                    {
                        Err(tls_failed)
                    }
                    Err(plain_failed) => {
                        earlier.push(FailedAttempt {
                            target: target.to_owned(),
                            tls: true,
                            failure: tls_failed.failure,
                        });
                        Err(plain_failed)
                    }
                }
            }
            other => other,
        },
        SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => {
            attempt(&address, Transport::TlsOnly, settings).await
        }
    }
}

fn parse_bool(value: Option<&str>) -> Option<bool> {
    match value? {
        "on" | "true" | "yes" | "1" => Some(true),
        "off" | "false" | "no" | "0" => Some(false),
        _ => None,
    }
}

/// `(in_hot_standby, read_only)` as libpq determines them for `target_session_attrs`: from the
/// parameters PostgreSQL 14+ reports, else by query (only when the pass needs them).
async fn server_state(
    established: &Established,
    pass: TargetSessionAttrs,
) -> std::result::Result<(Option<bool>, Option<bool>), tokio_postgres::Error> {
    let mut hot_standby = parse_bool(established.params.in_hot_standby.as_deref());
    let mut read_only = parse_bool(established.params.default_transaction_read_only.as_deref())
        .map(|ro| ro || hot_standby == Some(true));
    if pass == TargetSessionAttrs::Any {
        return Ok((hot_standby, read_only));
    }
    let needs_standby = matches!(
        pass,
        TargetSessionAttrs::Primary | TargetSessionAttrs::Standby
    );
    if needs_standby && hot_standby.is_none() {
        hot_standby =
            Some(query_bool(&established.client, "SELECT pg_catalog.pg_is_in_recovery()").await?);
    }
    if !needs_standby && read_only.is_none() {
        read_only = Some(query_bool(&established.client, "SHOW transaction_read_only").await?);
    }
    Ok((hot_standby, read_only))
}

async fn query_bool(
    client: &Client,
    sql: &str,
) -> std::result::Result<bool, tokio_postgres::Error> {
    let messages = client.simple_query(sql).await?;
    for message in messages {
        if let tokio_postgres::SimpleQueryMessage::Row(row) = message {
            return Ok(matches!(row.get(0), Some("t" | "on" | "true")));
        }
    }
    Ok(false)
}

fn session_matches(
    pass: TargetSessionAttrs,
    hot_standby: Option<bool>,
    read_only: Option<bool>,
) -> bool {
    match pass {
        TargetSessionAttrs::Any => true,
        TargetSessionAttrs::ReadWrite => read_only == Some(false),
        TargetSessionAttrs::ReadOnly => read_only == Some(true),
        TargetSessionAttrs::Primary => hot_standby == Some(false),
        TargetSessionAttrs::Standby => hot_standby == Some(true),
        // Expanded into Standby then Any by the caller.
        TargetSessionAttrs::PreferStandby => true,
    }
}

/// libpq's `PQserverVersion` from the `server_version` string.
fn server_version_num(text: &str) -> i32 {
    let numeric: String = text
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    let parts: Vec<i32> = numeric
        .split('.')
        .map_while(|p| p.parse::<i32>().ok())
        .collect();
    match parts.as_slice() {
        [major, minor, patch, ..] => (major * 100 + minor) * 100 + patch,
        [major, minor] if *major >= 10 => major * 10_000 + minor,
        [major, minor] => (major * 100 + minor) * 100,
        [major] => major * 10_000,
        [] => 0,
    }
}

fn auth_method(trace: &Trace, channel_binding_used: bool) -> AuthMethod {
    match trace.first_auth.as_ref().map(|a| a.code) {
        None | Some(AUTH_OK) => AuthMethod::Trust,
        Some(AUTH_CLEARTEXT) => AuthMethod::Password,
        Some(AUTH_MD5) => AuthMethod::Md5,
        Some(AUTH_SASL) if channel_binding_used => AuthMethod::ScramSha256Plus,
        Some(AUTH_SASL) => AuthMethod::ScramSha256,
        Some(_) => AuthMethod::Other,
    }
}

fn connection_info(
    plan: &Plan,
    endpoint: EndpointInfo,
    established: &Established,
    hot_standby: Option<bool>,
    read_only: Option<bool>,
    earlier_attempts: Vec<FailedAttempt>,
) -> ConnectionInfo {
    // tokio_postgres uses SCRAM-SHA-256-PLUS exactly when the server offers it, the session is
    // TLS (which always yields a tls-server-end-point hash here) and channel_binding allows it.
    let channel_binding_used = established.tls.is_some()
        && plan.channel_binding != ChannelBinding::Disable
        && established
            .trace
            .first_auth
            .as_ref()
            .is_some_and(|a| a.offers_channel_binding());
    let text = established
        .params
        .server_version
        .clone()
        .unwrap_or_default();
    // The server reports the session user; without a database the server uses the user's name.
    let user = established
        .params
        .session_authorization
        .clone()
        .or_else(|| plan.user.clone())
        .unwrap_or_default();
    let dbname = plan.dbname.clone().unwrap_or_else(|| user.clone());
    ConnectionInfo {
        endpoint,
        server_version: ServerVersion {
            num: server_version_num(&text),
            text,
        },
        tls: established.tls.clone(),
        channel_binding_used,
        authentication: auth_method(&established.trace, channel_binding_used),
        user,
        dbname,
        ssl_mode: plan.dsn_mode,
        in_hot_standby: hot_standby,
        read_only,
        earlier_attempts,
    }
}

#[cfg(test)]
mod tests;

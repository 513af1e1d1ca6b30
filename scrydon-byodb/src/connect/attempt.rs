//! One connection attempt to one address, and the classification of its failure.

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;

use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, Config};

use super::socket::{connect_tcp, connect_unix, Socket, TcpOptions};
use super::trace::{Observed, ObservedTls, Phase, Trace, TraceHandle};
use crate::dsn::{ChannelBinding, SslMode, SslNegotiation};
use crate::error::BoxError;
use crate::tls::{certificate_failure, DirectTlsWithoutAlpn, TlsConnector, TlsInfo};
use crate::ConnectFailure;

/// Where to connect.
#[derive(Debug, Clone)]
pub(crate) enum Address {
    Tcp(SocketAddr),
    Unix(PathBuf),
}

/// Plaintext, or TLS (with or without continuing in plaintext when the server answers `N`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transport {
    Plain,
    /// TLS; if the server declines it, continue in plaintext on the same socket (libpq's
    /// `prefer`, and `allow`'s second attempt).
    TlsOrPlain,
    /// TLS or fail.
    TlsOnly,
}

/// The settings an attempt needs.
#[derive(Debug)]
pub(crate) struct AttemptSettings<'a> {
    pub(crate) tls: &'a TlsConnector,
    /// The `tokio_postgres` configuration, password included when there is one.
    pub(crate) config: &'a Config,
    pub(crate) has_password: bool,
    pub(crate) channel_binding: ChannelBinding,
    pub(crate) tcp: &'a TcpOptions,
    /// The host name, for the TLS name check and SNI.
    pub(crate) host_name: &'a str,
}

/// The server's startup parameters that matter here.
#[derive(Debug, Clone, Default)]
pub(crate) struct StartupParams {
    pub(crate) server_version: Option<String>,
    pub(crate) in_hot_standby: Option<String>,
    pub(crate) default_transaction_read_only: Option<String>,
    pub(crate) session_authorization: Option<String>,
}

/// A connection that completed startup; its connection task is running.
#[derive(Debug)]
pub(crate) struct Established {
    pub(crate) client: Client,
    pub(crate) params: StartupParams,
    pub(crate) tls: Option<TlsInfo>,
    pub(crate) trace: Trace,
}

/// Where an attempt failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Stage {
    /// Opening the socket (refused, unreachable, ...): libpq tries the next address.
    Socket,
    /// TLS negotiation or handshake.
    Tls,
    /// The server sent an ErrorResponse.
    Server {
        code: SqlState,
        /// Before AuthenticationOk (libpq's `allow`/`prefer` retries apply only then).
        before_auth_ok: bool,
    },
    /// Anything else during startup.
    Startup,
}

/// A failed attempt.
#[derive(Debug)]
pub(crate) struct Failed {
    pub(crate) failure: ConnectFailure,
    pub(crate) source: Option<BoxError>,
    pub(crate) stage: Stage,
    pub(crate) tls_in_use: bool,
    pub(crate) trace: Trace,
}

impl Failed {
    pub(crate) fn socket(error: io::Error) -> Self {
        let failure = match error.kind() {
            io::ErrorKind::ConnectionRefused | io::ErrorKind::NotFound => ConnectFailure::Refused,
            io::ErrorKind::TimedOut => ConnectFailure::Timeout,
            _ => ConnectFailure::Other,
        };
        Failed {
            failure,
            source: Some(Box::new(error)),
            stage: Stage::Socket,
            tls_in_use: false,
            trace: Trace::default(),
        }
    }

    pub(crate) fn timeout() -> Self {
        Failed {
            failure: ConnectFailure::Timeout,
            source: None,
            stage: Stage::Socket,
            tls_in_use: false,
            trace: Trace::default(),
        }
    }

    /// The SQLSTATE, when the server refused.
    pub(crate) fn code(&self) -> Option<&SqlState> {
        match &self.stage {
            Stage::Server { code, .. } => Some(code),
            _ => None,
        }
    }

    /// An ErrorResponse before authentication completed (and not "starting up").
    pub(crate) fn rejected_during_authentication(&self) -> bool {
        matches!(&self.stage, Stage::Server { code, before_auth_ok: true }
            if *code != SqlState::CANNOT_CONNECT_NOW)
    }
}

/// Opens the socket and runs the startup exchange once.
pub(crate) async fn attempt(
    address: &Address,
    transport: Transport,
    settings: &AttemptSettings<'_>,
) -> Result<Established, Failed> {
    let socket: Socket = match address {
        Address::Tcp(addr) => connect_tcp(*addr, settings.tcp).await,
        Address::Unix(path) => connect_unix(path).await,
    }
    .map_err(Failed::socket)?;

    let direct = settings.tls.ssl_negotiation() == SslNegotiation::Direct;
    let trace = TraceHandle::default();
    let phase = match transport {
        Transport::Plain => Phase::Messages,
        Transport::TlsOrPlain | Transport::TlsOnly if direct => Phase::Off,
        Transport::TlsOrPlain | Transport::TlsOnly => Phase::SslResponse,
    };
    let stream = Observed::new(socket, phase, trace.clone());

    let host_tls = settings
        .tls
        .for_host(settings.host_name)
        .map_err(|e| Failed {
            failure: ConnectFailure::Other,
            source: Some(Box::new(e)),
            stage: Stage::Tls,
            tls_in_use: false,
            trace: Trace::default(),
        })?;
    let observer = host_tls.observer();
    let tls = ObservedTls {
        inner: host_tls,
        trace: trace.clone(),
    };

    let mut config = settings.config.clone();
    config.ssl_mode(match transport {
        Transport::Plain => tokio_postgres::config::SslMode::Disable,
        Transport::TlsOrPlain => tokio_postgres::config::SslMode::Prefer,
        Transport::TlsOnly => tokio_postgres::config::SslMode::Require,
    });

    match config.connect_raw(stream, tls).await {
        Ok((client, connection)) => {
            let params = StartupParams {
                server_version: connection.parameter("server_version").map(str::to_owned),
                in_hot_standby: connection.parameter("in_hot_standby").map(str::to_owned),
                default_transaction_read_only: connection
                    .parameter("default_transaction_read_only")
                    .map(str::to_owned),
                session_authorization: connection
                    .parameter("session_authorization")
                    .map(str::to_owned),
            };
            tokio::spawn(async move {
                // The client sees a closed connection as an error on its next call.
                let _ = connection.await;
            });
            Ok(Established {
                client,
                params,
                tls: observer.info(),
                trace: trace.snapshot(),
            })
        }
        Err(error) => {
            let trace = trace.snapshot();
            let tls_info = observer.info();
            let tls_in_use = tls_info.is_some();
            let (failure, stage) = classify(
                &error,
                &trace,
                transport,
                tls_in_use,
                observer.handshake_started(),
                observer.certificate_failure(),
                settings,
            );
            Err(Failed {
                failure,
                source: Some(Box::new(error)),
                stage,
                tls_in_use,
                trace,
            })
        }
    }
}

/// The failure kind for a SQLSTATE the server sends during startup.
pub(crate) fn failure_for_sqlstate(code: &SqlState) -> ConnectFailure {
    if *code == SqlState::INVALID_PASSWORD || *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION
    {
        ConnectFailure::AuthenticationFailed
    } else if *code == SqlState::INVALID_CATALOG_NAME {
        ConnectFailure::DatabaseMissing
    } else if *code == SqlState::INSUFFICIENT_PRIVILEGE {
        ConnectFailure::PermissionDenied
    } else if *code == SqlState::TOO_MANY_CONNECTIONS {
        ConnectFailure::TooManyConnections
    } else if *code == SqlState::CANNOT_CONNECT_NOW
        || *code == SqlState::ADMIN_SHUTDOWN
        || *code == SqlState::CRASH_SHUTDOWN
    {
        ConnectFailure::ServerUnavailable
    } else if code.code().starts_with("28") {
        ConnectFailure::AuthenticationFailed
    } else {
        ConnectFailure::Other
    }
}

fn classify(
    error: &tokio_postgres::Error,
    trace: &Trace,
    transport: Transport,
    tls_in_use: bool,
    handshake_started: bool,
    certificate: Option<ConnectFailure>,
    settings: &AttemptSettings<'_>,
) -> (ConnectFailure, Stage) {
    if let Some(db) = error.as_db_error() {
        return (
            failure_for_sqlstate(db.code()),
            Stage::Server {
                code: db.code().clone(),
                before_auth_ok: !trace.auth_ok,
            },
        );
    }
    if handshake_started && !tls_in_use {
        let failure = certificate
            .or_else(|| rustls_failure(error))
            .unwrap_or(ConnectFailure::TlsHandshake);
        return (failure, Stage::Tls);
    }
    if transport == Transport::TlsOnly && trace.ssl_response == Some(b'N') {
        return (ConnectFailure::ServerDoesNotSupportTls, Stage::Tls);
    }
    if settings.channel_binding == ChannelBinding::Require {
        if let Some(auth) = &trace.first_auth {
            if !(tls_in_use && auth.offers_channel_binding()) {
                return (ConnectFailure::ChannelBindingUnavailable, Stage::Startup);
            }
        }
    }
    if !settings.has_password
        && trace
            .first_auth
            .as_ref()
            .is_some_and(|a| a.wants_password())
    {
        // libpq: "fe_sendauth: no password supplied".
        return (ConnectFailure::AuthenticationFailed, Stage::Startup);
    }
    if let Some(failure) = rustls_failure(error) {
        // A TLS alert after the handshake (e.g. the server refused the client certificate).
        return (failure, Stage::Tls);
    }
    let failure = match io_kind(error) {
        Some(io::ErrorKind::TimedOut) => ConnectFailure::Timeout,
        Some(io::ErrorKind::ConnectionRefused) => ConnectFailure::Refused,
        _ => ConnectFailure::Other,
    };
    (failure, Stage::Startup)
}

/// Walks the source chain, looking inside `io::Error`s (whose `source()` skips the error they
/// wrap).
fn walk<T>(
    error: &(dyn std::error::Error + 'static),
    mut visit: impl FnMut(&(dyn std::error::Error + 'static)) -> Option<T>,
) -> Option<T> {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
    let mut depth = 0;
    while let Some(e) = current {
        if let Some(found) = visit(e) {
            return Some(found);
        }
        if let Some(inner) = e.downcast_ref::<io::Error>().and_then(|io| io.get_ref()) {
            let inner: &(dyn std::error::Error + 'static) = inner;
            if let Some(found) = visit(inner) {
                return Some(found);
            }
            current = inner.source();
        } else {
            current = e.source();
        }
        depth += 1;
        if depth > 16 {
            break;
        }
    }
    None
}

fn rustls_failure(error: &tokio_postgres::Error) -> Option<ConnectFailure> {
    walk(error, |e| {
        if let Some(r) = e.downcast_ref::<rustls::Error>() {
            return Some(certificate_failure(r));
        }
        if e.downcast_ref::<DirectTlsWithoutAlpn>().is_some() {
            return Some(ConnectFailure::TlsHandshake);
        }
        None
    })
}

fn io_kind(error: &tokio_postgres::Error) -> Option<io::ErrorKind> {
    walk(error, |e| {
        e.downcast_ref::<io::Error>().map(io::Error::kind)
    })
}

/// Whether the server at `addr` would go on to authentication over TLS: after a plaintext
/// attempt got SQLSTATE 28000, this tells "pg_hba.conf only has `hostssl` lines for us"
/// (`ServerRequiresTls`) from a plain refusal (`AuthenticationFailed`) without reading the
/// message. No password is sent, and the certificate is not checked (nothing is sent that a
/// plaintext attempt did not already send).
pub(crate) async fn server_accepts_tls_startup(
    addr: SocketAddr,
    settings: &AttemptSettings<'_>,
    config_without_password: &Config,
) -> bool {
    let Ok(tls) = TlsConnector::builder()
        .with_ssl_mode(SslMode::Require)
        .dangerous_accept_any_certificate()
        .build()
    else {
        return false;
    };
    let mut config = config_without_password.clone();
    config.channel_binding(tokio_postgres::config::ChannelBinding::Disable);
    let probe = AttemptSettings {
        tls: &tls,
        config: &config,
        has_password: false,
        channel_binding: ChannelBinding::Disable,
        tcp: settings.tcp,
        host_name: settings.host_name,
    };
    match attempt(&Address::Tcp(addr), Transport::TlsOnly, &probe).await {
        // A trust line for hostssl: the server accepts us over TLS.
        Ok(_) => true,
        Err(failed) => failed.tls_in_use && failed.trace.first_auth.is_some(),
    }
}

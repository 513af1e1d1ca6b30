//! The plaintext probe: does the server (or the pooler in front of it) accept a connection
//! without TLS?
//!
//! It sends a protocol 3.0 StartupMessage over plain TCP and reads the first answer. An
//! ErrorResponse means the connection was refused before authentication (pg_hba `hostssl`
//! only, `rds.force_ssl = 1`, `require_secure_transport = on`, PgBouncer's
//! `client_tls_sslmode = require`); an Authentication request means it was accepted. The probe
//! hangs up at that point: no credential is ever sent in the clear, and nothing is changed.
//! The answer is classified by message type and SQLSTATE, never by message text.

use std::net::SocketAddr;
use std::time::Duration;

use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::dsn::{Dsn, Host};

/// `invalid_authorization_specification`: PostgreSQL's answer when no pg_hba line matches (a
/// `hostssl`-only configuration refusing a plaintext connection).
const SQLSTATE_HBA_REJECT: &str = "28000";
/// `protocol_violation`: PgBouncer's answer to a plaintext client when it requires TLS.
const SQLSTATE_PROTOCOL_VIOLATION: &str = "08P01";

/// What the plaintext probe saw.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub(crate) enum Plaintext {
    /// Refused before authentication, with this SQLSTATE.
    Rejected { sqlstate: String },
    /// The server asked for authentication (or let the session in): plaintext is accepted.
    Accepted,
    /// Another answer (an error with another SQLSTATE, a closed connection, a timeout).
    Inconclusive { reason: String },
    /// The endpoint is a Unix socket, where TLS does not apply.
    UnixSocket,
}

/// The first TCP endpoint of `dsn`, resolved.
async fn address(dsn: &Dsn) -> Result<Option<SocketAddr>, String> {
    let endpoints = dsn.endpoints().map_err(|e| e.to_string())?;
    let Some(first) = endpoints.first() else {
        return Err("the DSN names no host".to_owned());
    };
    if let Some(ip) = first.hostaddr {
        return Ok(Some(SocketAddr::new(ip, first.port)));
    }
    match &first.host {
        Host::Unix(_) => Ok(None),
        Host::Tcp(name) => {
            let mut addrs = tokio::net::lookup_host((name.as_str(), first.port))
                .await
                .map_err(|e| format!("{name} did not resolve ({:?})", e.kind()))?;
            addrs
                .next()
                .map(Some)
                .ok_or_else(|| format!("{name} resolved to no address"))
        }
    }
}

fn startup_message(user: &str, database: &str) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&196_608_i32.to_be_bytes()); // protocol 3.0
    for (key, value) in [
        ("user", user),
        ("database", database),
        ("application_name", "scrydon-byodb-preflight-tls-probe"),
    ] {
        body.extend_from_slice(key.as_bytes());
        body.push(0);
        body.extend_from_slice(value.as_bytes());
        body.push(0);
    }
    body.push(0);
    let len = i32::try_from(body.len() + 4).unwrap_or(i32::MAX);
    let mut msg = len.to_be_bytes().to_vec();
    msg.extend_from_slice(&body);
    msg
}

/// The `C` (SQLSTATE) field of an ErrorResponse body.
fn sqlstate(body: &[u8]) -> Option<String> {
    let mut rest = body;
    while let Some((&kind, tail)) = rest.split_first() {
        if kind == 0 {
            break;
        }
        let end = tail.iter().position(|b| *b == 0)?;
        if kind == b'C' {
            return std::str::from_utf8(&tail[..end]).ok().map(str::to_owned);
        }
        rest = &tail[end + 1..];
    }
    None
}

async fn exchange(addr: SocketAddr, startup: &[u8]) -> std::io::Result<(u8, Vec<u8>)> {
    let mut stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    stream.write_all(startup).await?;
    let kind = stream.read_u8().await?;
    let len = stream.read_i32().await?;
    // An error message is small; read at most 8 KiB of it.
    let body_len = usize::try_from(len.saturating_sub(4))
        .unwrap_or(0)
        .min(8192);
    let mut body = vec![0; body_len];
    stream.read_exact(&mut body).await?;
    // Hang up without answering an authentication request.
    let _ = stream.shutdown().await;
    Ok((kind, body))
}

/// Probes `dsn`'s first endpoint with a plaintext StartupMessage for its user and database.
pub(crate) async fn plaintext(dsn: &Dsn, timeout: Duration) -> Plaintext {
    let addr = match address(dsn).await {
        Ok(Some(addr)) => addr,
        Ok(None) => return Plaintext::UnixSocket,
        Err(reason) => return Plaintext::Inconclusive { reason },
    };
    let user = dsn.user().unwrap_or("postgres");
    let database = dsn.dbname().unwrap_or(user);
    let startup = startup_message(user, database);
    match tokio::time::timeout(timeout, exchange(addr, &startup)).await {
        Err(_) => Plaintext::Inconclusive {
            reason: format!("no answer within {}s", timeout.as_secs()),
        },
        Ok(Err(e)) => Plaintext::Inconclusive {
            reason: format!("I/O error ({:?})", e.kind()),
        },
        Ok(Ok((b'R', _))) => Plaintext::Accepted,
        Ok(Ok((b'E', body))) => match sqlstate(&body) {
            Some(code) if code == SQLSTATE_HBA_REJECT || code == SQLSTATE_PROTOCOL_VIOLATION => {
                Plaintext::Rejected { sqlstate: code }
            }
            Some(code) => Plaintext::Inconclusive {
                reason: format!("the server answered with SQLSTATE {code}"),
            },
            None => Plaintext::Inconclusive {
                reason: "the server answered with an error without SQLSTATE".to_owned(),
            },
        },
        Ok(Ok((kind, _))) => Plaintext::Inconclusive {
            reason: format!("unexpected first message {:?}", char::from(kind)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn startup_message_layout() {
        let m = startup_message("u", "d");
        let len = i32::from_be_bytes([m[0], m[1], m[2], m[3]]);
        assert_eq!(usize::try_from(len).unwrap(), m.len());
        assert_eq!(&m[4..8], &196_608_i32.to_be_bytes());
        assert!(m.ends_with(b"\0\0"));
    }

    #[test]
    fn sqlstate_field() {
        let body = b"SFATAL\0VFATAL\0C28000\0Mno pg_hba.conf entry\0\0";
        assert_eq!(sqlstate(body).as_deref(), Some("28000"));
        assert_eq!(sqlstate(b"SFATAL\0\0"), None);
        assert_eq!(sqlstate(b"SFATAL"), None);
    }
}

//! Connection strings, with libpq's rules.
//!
//! SKELETON: the parser is being written (see the DSN work item). The public API below is the
//! contract the rest of the crate is written against.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use crate::{Error, Result, SecretString};

/// libpq's `sslmode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SslMode {
    /// Never TLS.
    Disable,
    /// Plaintext first; TLS if the server insists.
    Allow,
    /// TLS first; plaintext if the server does not offer TLS or the handshake fails.
    #[default]
    Prefer,
    /// TLS, no verification unless a root file is given (then the chain is verified).
    Require,
    /// TLS, chain verified.
    VerifyCa,
    /// TLS, chain and host name verified.
    VerifyFull,
}

impl SslMode {
    /// libpq's name for the mode.
    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Allow => "allow",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }
}

impl fmt::Display for SslMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SslMode {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Ok(match s {
            "disable" => SslMode::Disable,
            "allow" => SslMode::Allow,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            other => {
                return Err(Error::dsn(
                    Some("sslmode".to_owned()),
                    format!("invalid sslmode value: {other:?}"),
                ))
            }
        })
    }
}

/// libpq's `sslrootcert`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SslRootCert {
    /// `sslrootcert=system`: the public (webpki/Mozilla) roots.
    System,
    /// A PEM file with one or more CA certificates; replaces the trust store.
    File(PathBuf),
}

/// libpq's `sslnegotiation` (PostgreSQL 17+).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SslNegotiation {
    /// SSLRequest first (the classic protocol).
    #[default]
    Postgres,
    /// TLS straight away, with ALPN `postgresql`.
    Direct,
}

/// libpq's `channel_binding`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ChannelBinding {
    /// Never.
    Disable,
    /// When the server offers it.
    #[default]
    Prefer,
    /// Fail unless it is used.
    Require,
}

/// libpq's `target_session_attrs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TargetSessionAttrs {
    /// Any server.
    #[default]
    Any,
    /// A server that accepts writes.
    ReadWrite,
    /// A read-only server.
    ReadOnly,
    /// Not in recovery.
    Primary,
    /// In recovery.
    Standby,
    /// A standby if there is one, else any.
    PreferStandby,
}

/// Where one of the DSN's hosts lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    /// A host name or IP literal (without brackets).
    Tcp(String),
    /// A Unix-socket directory.
    Unix(PathBuf),
}

/// One entry of the DSN's host list, after libpq's pairing of `host`, `hostaddr` and `port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The host (used for TLS name checks and as the socket directory).
    pub host: Host,
    /// The address to connect to instead of resolving `host`.
    pub hostaddr: Option<std::net::IpAddr>,
    /// The port.
    pub port: u16,
}

/// A PostgreSQL connection string in either libpq form.
#[derive(Clone, PartialEq, Eq)]
pub struct Dsn {
    params: Vec<(&'static str, String)>,
}

impl fmt::Debug for Dsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dsn").field("redacted", &self.to_string()).finish()
    }
}

impl fmt::Display for Dsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("postgresql://")
    }
}

impl FromStr for Dsn {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Dsn::parse(s)
    }
}

impl Dsn {
    /// Parses a URI (`postgres://`, `postgresql://`) or a keyword=value string.
    pub fn parse(_s: &str) -> Result<Self> {
        Err(Error::dsn(None, "parser not written yet"))
    }

    /// A parameter's raw value by libpq keyword.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The effective sslmode.
    pub fn ssl_mode(&self) -> SslMode {
        self.get("sslmode")
            .and_then(|v| v.parse().ok())
            .unwrap_or_default()
    }

    /// `sslrootcert`.
    pub fn ssl_root_cert(&self) -> Option<SslRootCert> {
        self.get("sslrootcert").map(|v| {
            if v == "system" {
                SslRootCert::System
            } else {
                SslRootCert::File(PathBuf::from(v))
            }
        })
    }

    /// `sslcert`.
    pub fn ssl_cert(&self) -> Option<&Path> {
        self.get("sslcert").map(Path::new)
    }

    /// `sslkey`.
    pub fn ssl_key(&self) -> Option<&Path> {
        self.get("sslkey").map(Path::new)
    }

    /// `sslcrl`.
    pub fn ssl_crl(&self) -> Option<&Path> {
        self.get("sslcrl").map(Path::new)
    }

    /// `user`.
    pub fn user(&self) -> Option<&str> {
        self.get("user")
    }

    /// `password`.
    pub fn password(&self) -> Option<&str> {
        self.get("password")
    }

    /// `dbname`.
    pub fn dbname(&self) -> Option<&str> {
        self.get("dbname")
    }

    /// `connect_timeout`.
    pub fn connect_timeout(&self) -> Option<Duration> {
        self.get("connect_timeout")
            .and_then(|v| v.parse::<u64>().ok())
            .map(Duration::from_secs)
    }

    /// The URI form, password included (what goes into a Kubernetes Secret).
    pub fn to_uri(&self) -> SecretString {
        SecretString::new(String::new())
    }

    /// The host list after libpq's pairing rules.
    pub fn endpoints(&self) -> Result<Vec<Endpoint>> {
        Ok(Vec::new())
    }
}

//! Connection strings, with libpq's rules.
//!
//! [`Dsn`] holds a connection string in either of libpq's forms, the URI
//! (`postgresql://user:pw@host:5432/db?sslmode=verify-full`, also `postgres://`) and
//! keyword=value (`host=db user=app sslmode=require`), parsed exactly as libpq 17 parses them
//! (and, for spaces in URIs, as libpq 18+ does; see [`Dsn::parse`]). Values libpq would refuse
//! when connecting (an unknown `sslmode`, a port out of range, a `hostaddr` that is not an IP
//! address) are refused at parse time, naming the keyword and the value; the checks that involve
//! several keywords (host/hostaddr/port pairing, TLS combinations) are in [`Dsn::validate`]. The
//! password is never echoed, in errors, `Display` or `Debug`.
//!
//! Nothing here reads the environment or the file system unless asked to:
//! [`Dsn::with_env`] applies `PG*` variables from an [`EnvSource`], and
//! [`Dsn::resolve_password_from_passfile`] reads a `~/.pgpass`-format file.
//!
//! ```
//! use scrydon_byodb::dsn::{Dsn, SslMode};
//!
//! let mut dsn = Dsn::parse("host=db.example.com user=app password=s3cret dbname=auth")?;
//! dsn.set("sslmode", "require")?;
//! assert_eq!(dsn.ssl_mode(), SslMode::Require);
//! let other = dsn.with_dbname("billing");
//! assert_eq!(other.dbname(), Some("billing"));
//! assert_eq!(
//!     other.to_string(),
//!     "postgresql://app:********@db.example.com/billing?sslmode=require"
//! );
//! # Ok::<(), scrydon_byodb::Error>(())
//! ```

mod conninfo;
mod env;
mod keywords;
mod passfile;
mod render;
mod uri;

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

pub use env::{EnvSource, ProcessEnv};
use keywords::KEYWORDS;

use crate::{Error, Result, SecretString};

/// libpq's default port.
pub const DEFAULT_PORT: u16 = 5432;
pub(crate) const DEFAULT_PORT_STR: &str = "5432";

/// The socket directory libpq uses when no host is given (Debian's libpq default).
pub const DEFAULT_SOCKET_DIR: &str = "/var/run/postgresql";

/// What `Display` and `Debug` show instead of a password.
pub const PASSWORD_MASK: &str = "********";

/// A value for an error message: quoted, and cut short if long.
pub(crate) fn shown(value: &str) -> String {
    const MAX: usize = 64;
    match value.char_indices().nth(MAX) {
        Some((end, _)) => format!("{:?}...", &value[..end]),
        None => format!("{value:?}"),
    }
}

/// as_str, Display and FromStr for an enum of libpq words.
macro_rules! libpq_words {
    ($ty:ident, $field:literal, { $($variant:ident => $word:literal),+ $(,)? }) => {
        impl $ty {
            /// libpq's name for the value.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($ty::$variant => $word,)+
                }
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $ty {
            type Err = Error;
            fn from_str(s: &str) -> Result<Self> {
                match s {
                    $($word => Ok($ty::$variant),)+
                    other => Err(Error::dsn(
                        $field.to_owned(),
                        format!(concat!("invalid ", $field, " value {}"), shown(other)),
                    )),
                }
            }
        }
    };
}

/// libpq's `sslmode`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
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
    /// A host name or IP literal (without brackets). Not checked: libpq leaves that to the
    /// resolver.
    Tcp(String),
    /// A Unix-socket directory: a host starting with `/` (or with `@`, Linux's abstract
    /// namespace, as libpq 14+ reads it).
    Unix(PathBuf),
}

/// One entry of the DSN's host list, after libpq's pairing of `host`, `hostaddr` and `port`.
///
/// When `hostaddr` is set, connect to it over TCP; `host` is then only a name (for the TLS host
/// name check and the password file). When only `hostaddr` was given for the entry, `host` is
/// that address as text (what libpq's `PQhost` reports); note that libpq refuses
/// `sslmode=verify-full` for such an entry, since there is no name to verify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The host (used for TLS name checks and as the socket directory).
    pub host: Host,
    /// The address to connect to instead of resolving `host`.
    pub hostaddr: Option<std::net::IpAddr>,
    /// The port.
    pub port: u16,
}

libpq_words!(SslNegotiation, "sslnegotiation", {
    Postgres => "postgres",
    Direct => "direct",
});

libpq_words!(ChannelBinding, "channel_binding", {
    Disable => "disable",
    Prefer => "prefer",
    Require => "require",
});

libpq_words!(TargetSessionAttrs, "target_session_attrs", {
    Any => "any",
    ReadWrite => "read-write",
    ReadOnly => "read-only",
    Primary => "primary",
    Standby => "standby",
    PreferStandby => "prefer-standby",
});

/// libpq's `load_balance_hosts` (PostgreSQL 16+).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LoadBalanceHosts {
    /// Try the hosts in the order given.
    #[default]
    Disable,
    /// Try the hosts (and each host's addresses) in random order.
    Random,
}

libpq_words!(LoadBalanceHosts, "load_balance_hosts", {
    Disable => "disable",
    Random => "random",
});

/// A PostgreSQL connection string in either libpq form.
///
/// Holds the keywords that were set, each with its value as libpq would store it (decoded,
/// unquoted). Two `Dsn`s are equal when they set the same keywords to the same values, whatever
/// form they were written in.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Dsn {
    /// (index into the keyword table, value), sorted by index: libpq's option order.
    params: Vec<(usize, String)>,
}

impl fmt::Debug for Dsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Dsn").field(&self.to_string()).finish()
    }
}

/// The URI with the password (and `sslpassword`) replaced by [`PASSWORD_MASK`].
impl fmt::Display for Dsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&render::uri(self, true))
    }
}

impl FromStr for Dsn {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Dsn::parse(s)
    }
}

/// One host entry's raw strings, after libpq's pairing rules.
struct HostSpec<'a> {
    host: &'a str,
    hostaddr: &'a str,
    port: &'a str,
}

impl Dsn {
    /// An empty connection string: every setting at libpq's default.
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses a URI (`postgresql://`, `postgres://`) or a keyword=value string, with libpq's
    /// rules, then checks each value the way libpq does when it connects.
    ///
    /// URI parts are percent-decoded; spaces around a part are dropped and a space inside one
    /// is refused, as libpq 18+ does (libpq 17 and older keep them). Unknown keywords are
    /// refused, and so is `service` (pg_service.conf is not read). libpq's legacy spellings are
    /// accepted as libpq accepts them: `requiressl=1` and, in URIs, `ssl=true` mean
    /// `sslmode=require`. Never reads the environment.
    pub fn parse(s: &str) -> Result<Self> {
        if s.contains('\0') {
            return Err(Error::dsn(
                None,
                "the connection string contains a NUL byte",
            ));
        }
        let mut dsn = Dsn::new();
        let is_uri = uri::prefix_len(s).is_some();
        let parsed = if is_uri {
            uri::parse(s, &mut dsn)
        } else {
            conninfo::parse(s, &mut dsn)
        };
        parsed
            .and_then(|()| {
                dsn.params
                    .iter()
                    .try_for_each(|(i, value)| keywords::check_value(&KEYWORDS[*i], value, None))
            })
            .map_err(|e| match e {
                Error::InvalidDsn { field, .. } if is_uri && uri::may_hide_credentials(s) => {
                    Error::InvalidDsn {
                        field,
                        reason: "invalid value, not shown: the URI has an \"@\" outside its \
                                 user:password part, so a piece of the password may be here; \
                                 percent-encode \"@\", \"/\", \":\" and \"?\" in the password"
                            .to_owned(),
                    }
                }
                other => other,
            })?;
        Ok(dsn)
    }

    /// Parses `s`, then fills what it leaves unset from `env` (see [`Dsn::with_env`]).
    pub fn from_env_and(s: &str, env: &(impl EnvSource + ?Sized)) -> Result<Self> {
        Dsn::parse(s)?.with_env(env)
    }

    /// Fills every keyword this DSN leaves unset from its `PG*` environment variable, as libpq
    /// does when it connects (`PGHOST`, `PGPORT`, `PGUSER`, `PGPASSWORD`, `PGSSLMODE`,
    /// `PGSSLROOTCERT`, ..., and the deprecated `PGREQUIRESSL=1`). A keyword set in the string,
    /// even to an empty value, wins over the environment. Values from the environment are
    /// checked like parsed ones; the error names the variable. `PGSERVICE` is refused, as
    /// `service` is.
    pub fn with_env(self, env: &(impl EnvSource + ?Sized)) -> Result<Self> {
        env::apply(self, env)
    }

    /// Stores a value under a known keyword, replacing any earlier one.
    fn store(&mut self, name: &str, value: String) {
        if let Some(i) = keywords::index_of(name) {
            self.store_at(i, value);
        }
    }

    fn store_at(&mut self, i: usize, value: String) {
        match self.params.binary_search_by_key(&i, |(k, _)| *k) {
            Ok(pos) => self.params[pos].1 = value,
            Err(pos) => self.params.insert(pos, (i, value)),
        }
    }

    /// libpq's `conninfo_storeval`: maps `requiressl`, then stores. `false`: unknown keyword.
    fn store_libpq(&mut self, key: &str, value: String) -> bool {
        if key == "requiressl" {
            let mode = if value.starts_with('1') {
                "require"
            } else {
                "prefer"
            };
            self.store("sslmode", mode.to_owned());
            return true;
        }
        match keywords::index_of(key) {
            Some(i) => {
                self.store_at(i, value);
                true
            }
            None => false,
        }
    }

    fn value_at(&self, i: usize) -> Option<&str> {
        self.params
            .binary_search_by_key(&i, |(k, _)| *k)
            .ok()
            .map(|pos| self.params[pos].1.as_str())
    }

    /// A parameter's value by libpq keyword, if it is set (possibly to an empty string).
    pub fn get(&self, key: &str) -> Option<&str> {
        keywords::index_of(key).and_then(|i| self.value_at(i))
    }

    /// The keywords that are set and their values, in libpq's option order. Includes the
    /// password: mask it before showing these.
    pub fn params(&self) -> impl Iterator<Item = (&'static str, &str)> + '_ {
        self.params
            .iter()
            .map(|(i, v)| (KEYWORDS[*i].name, v.as_str()))
    }

    /// Sets (or replaces) a parameter, checking the keyword and the value as [`Dsn::parse`]
    /// does. The value is the plain value, not URI- or keyword=value-encoded.
    pub fn set(&mut self, key: &str, value: &str) -> Result<()> {
        let i = keywords::index_of(key)
            .ok_or_else(|| Error::dsn(None, format!("unknown connection option {}", shown(key))))?;
        keywords::check_value(&KEYWORDS[i], value, None)?;
        self.store_at(i, value.to_owned());
        Ok(())
    }

    /// Unsets a parameter (back to libpq's default). Returns whether it was set.
    pub fn remove(&mut self, key: &str) -> Result<bool> {
        let i = keywords::index_of(key)
            .ok_or_else(|| Error::dsn(None, format!("unknown connection option {}", shown(key))))?;
        match self.params.binary_search_by_key(&i, |(k, _)| *k) {
            Ok(pos) => {
                self.params.remove(pos);
                Ok(true)
            }
            Err(_) => Ok(false),
        }
    }

    /// The same server and settings, for another database. (A NUL byte cannot be sent to the
    /// server; it and what follows it are dropped, as libpq would read the name.)
    pub fn with_dbname(&self, db: &str) -> Dsn {
        let db = db.split('\0').next().unwrap_or_default();
        let mut dsn = self.clone();
        dsn.store("dbname", db.to_owned());
        dsn
    }

    /// A set, non-empty value (libpq treats an empty one as unset for these keywords).
    fn non_empty(&self, key: &str) -> Option<&str> {
        self.get(key).filter(|v| !v.is_empty())
    }

    /// `sslmode` as set, if it is.
    pub fn explicit_ssl_mode(&self) -> Option<SslMode> {
        self.get("sslmode").and_then(|v| v.parse().ok())
    }

    /// The effective sslmode: as set; else `verify-full` when `sslrootcert=system` (libpq 16+);
    /// else `prefer`.
    pub fn ssl_mode(&self) -> SslMode {
        match self.explicit_ssl_mode() {
            Some(mode) => mode,
            None if self.ssl_root_cert() == Some(SslRootCert::System) => SslMode::VerifyFull,
            None => SslMode::default(),
        }
    }

    /// `sslrootcert` (an empty value counts as unset, as for libpq).
    pub fn ssl_root_cert(&self) -> Option<SslRootCert> {
        self.non_empty("sslrootcert").map(|v| {
            if v == "system" {
                SslRootCert::System
            } else {
                SslRootCert::File(PathBuf::from(v))
            }
        })
    }

    /// `sslcert`.
    pub fn ssl_cert(&self) -> Option<&Path> {
        self.non_empty("sslcert").map(Path::new)
    }

    /// `sslkey`.
    pub fn ssl_key(&self) -> Option<&Path> {
        self.non_empty("sslkey").map(Path::new)
    }

    /// `sslcrl`.
    pub fn ssl_crl(&self) -> Option<&Path> {
        self.non_empty("sslcrl").map(Path::new)
    }

    /// `sslcrldir`.
    pub fn ssl_crl_dir(&self) -> Option<&Path> {
        self.non_empty("sslcrldir").map(Path::new)
    }

    /// `sslpassword` (the client key's passphrase).
    pub fn ssl_password(&self) -> Option<&str> {
        self.get("sslpassword")
    }

    /// `sslnegotiation` (default `postgres`).
    pub fn ssl_negotiation(&self) -> SslNegotiation {
        self.get("sslnegotiation")
            .and_then(|v| v.parse().ok())
            .unwrap_or_default()
    }

    /// `channel_binding` (default `prefer`).
    pub fn channel_binding(&self) -> ChannelBinding {
        self.get("channel_binding")
            .and_then(|v| v.parse().ok())
            .unwrap_or_default()
    }

    /// `target_session_attrs` (default `any`).
    pub fn target_session_attrs(&self) -> TargetSessionAttrs {
        self.get("target_session_attrs")
            .and_then(|v| v.parse().ok())
            .unwrap_or_default()
    }

    /// `load_balance_hosts` (default `disable`).
    pub fn load_balance_hosts(&self) -> LoadBalanceHosts {
        self.get("load_balance_hosts")
            .and_then(|v| v.parse().ok())
            .unwrap_or_default()
    }

    fn int(&self, key: &str) -> Option<i32> {
        self.get(key).and_then(keywords::parse_pq_int)
    }

    /// `connect_timeout`, per host, as libpq applies it: 0 or negative means none, and 1 second
    /// is raised to 2.
    pub fn connect_timeout(&self) -> Option<Duration> {
        match self.int("connect_timeout")? {
            n if n <= 0 => None,
            1 => Some(Duration::from_secs(2)),
            n => Some(Duration::from_secs(n.unsigned_abs().into())),
        }
    }

    /// `keepalives`: whether TCP keepalives are on (libpq's default: on; any non-zero integer
    /// is on).
    pub fn keepalives(&self) -> bool {
        self.int("keepalives").is_none_or(|n| n != 0)
    }

    /// `keepalives_idle` (negative reads as 0, as in libpq).
    pub fn keepalives_idle(&self) -> Option<Duration> {
        self.int("keepalives_idle")
            .map(|n| Duration::from_secs(n.max(0).unsigned_abs().into()))
    }

    /// `keepalives_interval` (negative reads as 0, as in libpq).
    pub fn keepalives_interval(&self) -> Option<Duration> {
        self.int("keepalives_interval")
            .map(|n| Duration::from_secs(n.max(0).unsigned_abs().into()))
    }

    /// `keepalives_count` (negative reads as 0, as in libpq).
    pub fn keepalives_count(&self) -> Option<u32> {
        self.int("keepalives_count")
            .map(|n| n.max(0).unsigned_abs())
    }

    /// `tcp_user_timeout`, which libpq reads in milliseconds (negative reads as 0).
    pub fn tcp_user_timeout(&self) -> Option<Duration> {
        self.int("tcp_user_timeout")
            .map(|n| Duration::from_millis(n.max(0).unsigned_abs().into()))
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

    /// `application_name`.
    pub fn application_name(&self) -> Option<&str> {
        self.get("application_name")
    }

    /// `fallback_application_name`.
    pub fn fallback_application_name(&self) -> Option<&str> {
        self.get("fallback_application_name")
    }

    /// `options` (command-line options sent to the server, e.g. `-c search_path=app`).
    pub fn options(&self) -> Option<&str> {
        self.get("options")
    }

    /// `passfile`.
    pub fn passfile(&self) -> Option<&Path> {
        self.non_empty("passfile").map(Path::new)
    }

    /// The host entries' raw strings, paired as libpq's `connectOptions2` pairs them.
    fn host_specs(&self) -> Result<Vec<HostSpec<'_>>> {
        let split = |key: &str| -> Vec<&str> {
            match self.non_empty(key) {
                Some(v) => v.split(',').collect(),
                None => Vec::new(),
            }
        };
        let hosts = split("host");
        let addrs = split("hostaddr");
        let n = if !addrs.is_empty() {
            addrs.len()
        } else {
            hosts.len().max(1)
        };
        if !addrs.is_empty() && !hosts.is_empty() && hosts.len() != n {
            return Err(Error::dsn(
                "host".to_owned(),
                format!(
                    "{} host names in host do not match {} addresses in hostaddr",
                    hosts.len(),
                    n
                ),
            ));
        }
        let ports = split("port");
        let ports = match ports.len() {
            0 => vec![""; n],
            1 => vec![ports[0]; n],
            m if m == n => ports,
            m => {
                return Err(Error::dsn(
                    "port".to_owned(),
                    format!("{m} port numbers in port do not match {n} hosts in host/hostaddr"),
                ))
            }
        };
        Ok((0..n)
            .map(|i| HostSpec {
                host: hosts.get(i).copied().unwrap_or_default(),
                hostaddr: addrs.get(i).copied().unwrap_or_default(),
                port: ports.get(i).copied().unwrap_or_default(),
            })
            .collect())
    }

    /// The host list after libpq's pairing rules: `hostaddr` (if set) fixes the number of
    /// entries and `host` must have as many; a single port applies to every host, otherwise
    /// there must be one port per host; an empty entry means the default (host: the Unix
    /// socket directory [`DEFAULT_SOCKET_DIR`]; port: [`DEFAULT_PORT`]).
    pub fn endpoints(&self) -> Result<Vec<Endpoint>> {
        self.host_specs()?
            .into_iter()
            .map(|spec| {
                let hostaddr = if spec.hostaddr.is_empty() {
                    None
                } else {
                    Some(spec.hostaddr.parse::<IpAddr>().map_err(|_| {
                        Error::dsn(
                            "hostaddr".to_owned(),
                            format!("invalid hostaddr {}", shown(spec.hostaddr)),
                        )
                    })?)
                };
                let port = keywords::parse_port(spec.port)
                    .map_err(|()| {
                        Error::dsn(
                            "port".to_owned(),
                            format!("invalid port number {}", shown(spec.port)),
                        )
                    })?
                    .unwrap_or(DEFAULT_PORT);
                let host = if spec.host.is_empty() {
                    match hostaddr {
                        Some(_) => Host::Tcp(spec.hostaddr.to_owned()),
                        None => Host::Unix(PathBuf::from(DEFAULT_SOCKET_DIR)),
                    }
                } else if spec.host.starts_with('/') || spec.host.starts_with('@') {
                    Host::Unix(PathBuf::from(spec.host))
                } else {
                    Host::Tcp(spec.host.to_owned())
                };
                Ok(Endpoint {
                    host,
                    hostaddr,
                    port,
                })
            })
            .collect()
    }

    /// The TLS settings libpq refuses in combination when it connects (libpq 16/17):
    /// `sslrootcert=system` with any sslmode but `verify-full`; `sslnegotiation=direct` with
    /// an sslmode weaker than `require`; `ssl_min_protocol_version` above
    /// `ssl_max_protocol_version`.
    pub fn validate_tls(&self) -> Result<()> {
        let mode = self.ssl_mode();
        let tls = |reason: String| Error::TlsConfig {
            reason,
            source: None,
        };
        if self.ssl_root_cert() == Some(SslRootCert::System) && mode != SslMode::VerifyFull {
            return Err(tls(format!(
                "sslmode={mode} may not be used with sslrootcert=system (use verify-full)"
            )));
        }
        if self.ssl_negotiation() == SslNegotiation::Direct
            && !matches!(
                mode,
                SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull
            )
        {
            return Err(tls(format!(
                "sslmode={mode} may not be used with sslnegotiation=direct (use require, \
                 verify-ca or verify-full)"
            )));
        }
        if !keywords::tls_range_ok(
            self.get("ssl_min_protocol_version"),
            self.get("ssl_max_protocol_version"),
        ) {
            return Err(tls(
                "ssl_min_protocol_version is above ssl_max_protocol_version".to_owned(),
            ));
        }
        Ok(())
    }

    /// Every check libpq makes before it opens a socket: the host list pairing
    /// ([`Dsn::endpoints`]) and [`Dsn::validate_tls`]. Single values were checked when they
    /// were parsed or set.
    pub fn validate(&self) -> Result<()> {
        self.endpoints()?;
        self.validate_tls()
    }

    /// The URI form, password included (what goes into a Kubernetes Secret). Every special
    /// character is percent-encoded, so parsing it gives this `Dsn` back.
    pub fn to_uri(&self) -> SecretString {
        SecretString::new(render::uri(self, false))
    }

    /// The password file libpq would read: `passfile` if set, else `PGPASSFILE` from `env`,
    /// else `$HOME/.pgpass` (from `env`).
    pub fn passfile_path(&self, env: &(impl EnvSource + ?Sized)) -> Option<PathBuf> {
        if let Some(p) = self.passfile() {
            return Some(p.to_path_buf());
        }
        if let Some(p) = env.var("PGPASSFILE").filter(|p| !p.is_empty()) {
            return Some(PathBuf::from(p));
        }
        env.var("HOME")
            .filter(|h| !h.is_empty())
            .map(|h| Path::new(&h).join(".pgpass"))
    }

    /// Looks up each host entry's password in a password file (`~/.pgpass` format), as libpq
    /// does for each host: by host (or hostaddr; `localhost` for the default socket
    /// directory), port, dbname (default: the user) and user. One result per
    /// [`Dsn::endpoints`] entry. A missing file gives no passwords; a file group or others can
    /// read is refused (libpq ignores it with a warning).
    pub fn passfile_passwords(&self, path: &Path) -> Result<Vec<Option<SecretString>>> {
        let user = self.non_empty("user").ok_or_else(|| {
            Error::dsn(
                "user".to_owned(),
                "the password file is searched by user name: set user (libpq would use the \
                 operating-system user, which this crate does not guess)",
            )
        })?;
        let dbname = self.non_empty("dbname").unwrap_or(user);
        let specs = self.host_specs()?;
        let Some(contents) = passfile::read(path)? else {
            return Ok(specs.iter().map(|_| None).collect());
        };
        Ok(specs
            .iter()
            .map(|spec| {
                passfile::lookup(
                    &contents,
                    passfile::host_key(spec.host, spec.hostaddr),
                    passfile::port_key(spec.port),
                    dbname,
                    user,
                )
            })
            .collect())
    }

    /// If no password is set (or it is empty), takes it from a password file: the first host
    /// entry with a matching line wins (when several hosts have different lines, connect per
    /// host with [`Dsn::passfile_passwords`] instead). Returns whether a password was set.
    pub fn resolve_password_from_passfile(&mut self, path: &Path) -> Result<bool> {
        if self.non_empty("password").is_some() {
            return Ok(false);
        }
        match self.passfile_passwords(path)?.into_iter().flatten().next() {
            Some(pw) => {
                self.store("password", pw.expose_secret().to_owned());
                Ok(true)
            }
            None => Ok(false),
        }
    }
}

/// libpq's keywords that [`Dsn`] accepts, in libpq's option order.
pub fn keywords() -> impl Iterator<Item = &'static str> {
    KEYWORDS
        .iter()
        .filter(|k| !matches!(k.check, keywords::Check::Unsupported(_)))
        .map(|k| k.name)
}

/// libpq's compiled-in default for a keyword (what `PQconndefaults` reports with an empty
/// environment), if it has one. `user` has none here: libpq uses the operating-system user.
pub fn compiled_default(keyword: &str) -> Option<&'static str> {
    keywords::index_of(keyword).and_then(|i| KEYWORDS[i].default)
}

#[cfg(test)]
mod tests;

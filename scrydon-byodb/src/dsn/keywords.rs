//! libpq's connection keywords (libpq 17's `PQconninfoOptions`, in its order) and the value
//! checks libpq makes when it connects.

use std::net::IpAddr;

use super::shown;
use crate::{Error, Result};

/// How a keyword's value is checked.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Check {
    /// Any string.
    Any,
    /// One of these words, exactly (libpq compares with `strcmp`).
    OneOf(&'static [&'static str]),
    /// An integer as libpq's `pqParseIntParam` reads it.
    Int,
    /// A comma-separated list of ports; an empty entry means the default port.
    PortList,
    /// A comma-separated list of IP addresses; an empty entry means "use host".
    HostaddrList,
    /// `ssl_min_protocol_version` / `ssl_max_protocol_version`.
    TlsVersion,
    /// `require_auth`: a list of methods, all negated (`!md5`) or none.
    RequireAuth,
    /// `service`: known to libpq, but this crate does not read pg_service.conf.
    Unsupported(&'static str),
}

/// One libpq keyword.
#[derive(Debug)]
pub(crate) struct Keyword {
    pub(crate) name: &'static str,
    /// The environment variable libpq falls back to.
    pub(crate) env: Option<&'static str>,
    /// libpq's compiled-in default (what `PQconndefaults` reports with an empty environment).
    pub(crate) default: Option<&'static str>,
    /// Never shown in Display, Debug or errors.
    pub(crate) secret: bool,
    pub(crate) check: Check,
}

const fn kw(
    name: &'static str,
    env: Option<&'static str>,
    default: Option<&'static str>,
    check: Check,
) -> Keyword {
    Keyword {
        name,
        env,
        default,
        secret: false,
        check,
    }
}

const fn secret(name: &'static str, env: Option<&'static str>) -> Keyword {
    Keyword {
        name,
        env,
        default: None,
        secret: true,
        check: Check::Any,
    }
}

const SSLMODES: &[&str] = &[
    "disable",
    "allow",
    "prefer",
    "require",
    "verify-ca",
    "verify-full",
];
const MODES_DPR: &[&str] = &["disable", "prefer", "require"];
const SSLCERTMODES: &[&str] = &["disable", "allow", "require"];
const SSLNEGOTIATIONS: &[&str] = &["postgres", "direct"];
const TARGET_SESSION_ATTRS: &[&str] = &[
    "any",
    "read-write",
    "read-only",
    "primary",
    "standby",
    "prefer-standby",
];
const LOAD_BALANCE_HOSTS: &[&str] = &["disable", "random"];

/// libpq 17's keywords, in `PQconninfoOptions` order (the order `params()` and the URI use).
pub(crate) static KEYWORDS: [Keyword; 41] = [
    kw(
        "service",
        Some("PGSERVICE"),
        None,
        Check::Unsupported(
            "service files (pg_service.conf) are not read; put the service's settings in the \
             connection string",
        ),
    ),
    kw("user", Some("PGUSER"), None, Check::Any),
    secret("password", Some("PGPASSWORD")),
    kw("passfile", Some("PGPASSFILE"), None, Check::Any),
    kw(
        "channel_binding",
        Some("PGCHANNELBINDING"),
        Some("prefer"),
        Check::OneOf(MODES_DPR),
    ),
    kw(
        "connect_timeout",
        Some("PGCONNECT_TIMEOUT"),
        None,
        Check::Int,
    ),
    kw("dbname", Some("PGDATABASE"), None, Check::Any),
    kw("host", Some("PGHOST"), None, Check::Any),
    kw("hostaddr", Some("PGHOSTADDR"), None, Check::HostaddrList),
    kw("port", Some("PGPORT"), Some("5432"), Check::PortList),
    kw(
        "client_encoding",
        Some("PGCLIENTENCODING"),
        None,
        Check::Any,
    ),
    kw("options", Some("PGOPTIONS"), Some(""), Check::Any),
    kw("application_name", Some("PGAPPNAME"), None, Check::Any),
    kw("fallback_application_name", None, None, Check::Any),
    kw("keepalives", None, None, Check::Int),
    kw("keepalives_idle", None, None, Check::Int),
    kw("keepalives_interval", None, None, Check::Int),
    kw("keepalives_count", None, None, Check::Int),
    kw("tcp_user_timeout", None, None, Check::Int),
    kw(
        "sslmode",
        Some("PGSSLMODE"),
        Some("prefer"),
        Check::OneOf(SSLMODES),
    ),
    kw(
        "sslnegotiation",
        Some("PGSSLNEGOTIATION"),
        Some("postgres"),
        Check::OneOf(SSLNEGOTIATIONS),
    ),
    kw(
        "sslcompression",
        Some("PGSSLCOMPRESSION"),
        Some("0"),
        Check::Any,
    ),
    kw("sslcert", Some("PGSSLCERT"), None, Check::Any),
    kw("sslkey", Some("PGSSLKEY"), None, Check::Any),
    kw(
        "sslcertmode",
        Some("PGSSLCERTMODE"),
        None,
        Check::OneOf(SSLCERTMODES),
    ),
    secret("sslpassword", None),
    kw("sslrootcert", Some("PGSSLROOTCERT"), None, Check::Any),
    kw("sslcrl", Some("PGSSLCRL"), None, Check::Any),
    kw("sslcrldir", Some("PGSSLCRLDIR"), None, Check::Any),
    kw("sslsni", Some("PGSSLSNI"), Some("1"), Check::Any),
    kw("requirepeer", Some("PGREQUIREPEER"), None, Check::Any),
    kw(
        "require_auth",
        Some("PGREQUIREAUTH"),
        None,
        Check::RequireAuth,
    ),
    kw(
        "ssl_min_protocol_version",
        Some("PGSSLMINPROTOCOLVERSION"),
        Some("TLSv1.2"),
        Check::TlsVersion,
    ),
    kw(
        "ssl_max_protocol_version",
        Some("PGSSLMAXPROTOCOLVERSION"),
        None,
        Check::TlsVersion,
    ),
    kw(
        "gssencmode",
        Some("PGGSSENCMODE"),
        Some("prefer"),
        Check::OneOf(MODES_DPR),
    ),
    kw(
        "krbsrvname",
        Some("PGKRBSRVNAME"),
        Some("postgres"),
        Check::Any,
    ),
    kw("gsslib", Some("PGGSSLIB"), None, Check::Any),
    kw(
        "gssdelegation",
        Some("PGGSSDELEGATION"),
        Some("0"),
        Check::Any,
    ),
    kw("replication", None, None, Check::Any),
    kw(
        "target_session_attrs",
        Some("PGTARGETSESSIONATTRS"),
        Some("any"),
        Check::OneOf(TARGET_SESSION_ATTRS),
    ),
    kw(
        "load_balance_hosts",
        Some("PGLOADBALANCEHOSTS"),
        Some("disable"),
        Check::OneOf(LOAD_BALANCE_HOSTS),
    ),
];

/// Index of a keyword in [`KEYWORDS`].
pub(crate) fn index_of(name: &str) -> Option<usize> {
    KEYWORDS.iter().position(|k| k.name == name)
}

/// `isspace` in the C locale, which is what libpq's parsers use.
pub(crate) fn is_c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// libpq's `pqParseIntParam`: optional leading/trailing whitespace, an optional sign, decimal
/// digits, and the result must fit a C `int`.
pub(crate) fn parse_pq_int(s: &str) -> Option<i32> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() && is_c_space(b[i]) {
        i += 1;
    }
    let negative = match b.get(i) {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let digits_start = i;
    let mut value: i64 = 0;
    while let Some(d) = b.get(i).filter(|d| d.is_ascii_digit()) {
        value = value * 10 + i64::from(d - b'0');
        if value > i64::from(i32::MAX) + 1 {
            return None; // strtol would set ERANGE or the value would not fit an int
        }
        i += 1;
    }
    if i == digits_start {
        return None;
    }
    while i < b.len() && is_c_space(b[i]) {
        i += 1;
    }
    if i != b.len() {
        return None;
    }
    let value = if negative { -value } else { value };
    i32::try_from(value).ok()
}

/// A port number as libpq reads one list entry (`None`: empty, use the default).
pub(crate) fn parse_port(entry: &str) -> std::result::Result<Option<u16>, ()> {
    if entry.is_empty() {
        return Ok(None);
    }
    let n = parse_pq_int(entry).ok_or(())?;
    u16::try_from(n)
        .ok()
        .filter(|&p| p != 0)
        .map(Some)
        .ok_or(())
}

fn tls_version_rank(v: &str) -> Option<u8> {
    ["TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"]
        .iter()
        .position(|known| known.eq_ignore_ascii_case(v))
        .and_then(|i| u8::try_from(i).ok())
}

/// libpq's `sslVerifyProtocolRange` (the bounds themselves already checked).
pub(crate) fn tls_range_ok(min: Option<&str>, max: Option<&str>) -> bool {
    match (
        min.filter(|s| !s.is_empty()).and_then(tls_version_rank),
        max.filter(|s| !s.is_empty()).and_then(tls_version_rank),
    ) {
        (Some(min), Some(max)) => min <= max,
        _ => true,
    }
}

fn check_require_auth(value: &str) -> std::result::Result<(), String> {
    if value.is_empty() {
        return Ok(());
    }
    const METHODS: &[&str] = &["password", "md5", "gss", "sspi", "scram-sha-256", "none"];
    let mut negated = false;
    let mut seen: Vec<&str> = Vec::new();
    for (i, part) in value.split(',').enumerate() {
        let (neg, method) = match part.strip_prefix('!') {
            Some(m) => (true, m),
            None => (false, part),
        };
        if i == 0 {
            negated = neg;
        } else if neg != negated {
            return Err(format!(
                "method {} cannot be mixed with {} methods",
                shown(method),
                if negated { "negative" } else { "non-negative" }
            ));
        }
        if !METHODS.contains(&method) {
            return Err(format!("unknown method {}", shown(method)));
        }
        if seen.contains(&method) {
            return Err(format!(
                "method {} is specified more than once",
                shown(part)
            ));
        }
        seen.push(method);
    }
    Ok(())
}

/// Checks one value the way libpq does when it connects. `origin` says where the value came
/// from, for the error (`None`: the connection string itself).
pub(crate) fn check_value(kw: &Keyword, value: &str, origin: Option<&str>) -> Result<()> {
    let from = origin.map(|o| format!(" (from {o})")).unwrap_or_default();
    let invalid = |what: String| Error::dsn(kw.name.to_owned(), format!("{what}{from}"));
    if value.contains('\0') {
        return Err(invalid(format!(
            "the {} value contains a NUL byte",
            kw.name
        )));
    }
    match kw.check {
        Check::Any => Ok(()),
        Check::Unsupported(reason) => Err(invalid(reason.to_owned())),
        Check::OneOf(allowed) => {
            if allowed.contains(&value) {
                Ok(())
            } else {
                Err(invalid(format!(
                    "invalid {} value {}: expected one of {}",
                    kw.name,
                    shown(value),
                    allowed.join(", ")
                )))
            }
        }
        Check::Int => match parse_pq_int(value) {
            Some(_) => Ok(()),
            None => Err(invalid(format!(
                "invalid integer value {} for {}",
                shown(value),
                kw.name
            ))),
        },
        Check::PortList => {
            for entry in value.split(',') {
                if parse_port(entry).is_err() {
                    return Err(invalid(format!(
                        "invalid port number {}: expected 1 to 65535",
                        shown(entry)
                    )));
                }
            }
            Ok(())
        }
        Check::HostaddrList => {
            for entry in value.split(',') {
                if !entry.is_empty() && entry.parse::<IpAddr>().is_err() {
                    return Err(invalid(format!(
                        "invalid hostaddr {}: not an IPv4 or IPv6 address",
                        shown(entry)
                    )));
                }
            }
            Ok(())
        }
        Check::TlsVersion => {
            if value.is_empty() || tls_version_rank(value).is_some() {
                Ok(())
            } else {
                Err(invalid(format!(
                    "invalid {} value {}: expected TLSv1, TLSv1.1, TLSv1.2 or TLSv1.3",
                    kw.name,
                    shown(value)
                )))
            }
        }
        Check::RequireAuth => check_require_auth(value)
            .map_err(|reason| invalid(format!("invalid require_auth value: {reason}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pq_int_follows_strtol_with_whitespace_and_range() {
        assert_eq!(parse_pq_int("10"), Some(10));
        assert_eq!(parse_pq_int(" \t+10 \n"), Some(10));
        assert_eq!(parse_pq_int("-3"), Some(-3));
        assert_eq!(parse_pq_int("2147483647"), Some(i32::MAX));
        assert_eq!(parse_pq_int("-2147483648"), Some(i32::MIN));
        assert_eq!(parse_pq_int("2147483648"), None);
        assert_eq!(parse_pq_int("99999999999999999999999"), None);
        assert_eq!(parse_pq_int(""), None);
        assert_eq!(parse_pq_int(" "), None);
        assert_eq!(parse_pq_int("1x"), None);
        assert_eq!(parse_pq_int("0x10"), None);
        assert_eq!(parse_pq_int("+"), None);
    }

    #[test]
    fn ports() {
        assert_eq!(parse_port(""), Ok(None));
        assert_eq!(parse_port(" 5432 "), Ok(Some(5432)));
        assert_eq!(parse_port("65535"), Ok(Some(65535)));
        assert_eq!(parse_port("0"), Err(()));
        assert_eq!(parse_port("65536"), Err(()));
        assert_eq!(parse_port("-1"), Err(()));
    }

    #[test]
    fn tls_ranges() {
        assert!(tls_range_ok(Some("TLSv1.2"), Some("tlsv1.3")));
        assert!(tls_range_ok(Some("TLSv1.3"), None));
        assert!(tls_range_ok(Some(""), Some("TLSv1")));
        assert!(!tls_range_ok(Some("tlsv1.3"), Some("TLSv1.2")));
        assert!(!tls_range_ok(Some("TLSv1.1"), Some("TLSv1")));
    }

    #[test]
    fn require_auth_rules() {
        assert!(check_require_auth("").is_ok());
        assert!(check_require_auth("scram-sha-256").is_ok());
        assert!(check_require_auth("password,md5").is_ok());
        assert!(check_require_auth("!password,!md5,!none").is_ok());
        assert!(check_require_auth("gss,sspi").is_ok());
        assert!(check_require_auth("!password,md5").is_err());
        assert!(check_require_auth("password,!md5").is_err());
        assert!(check_require_auth("password,password").is_err());
        assert!(check_require_auth("password,").is_err());
        assert!(check_require_auth("bogus").is_err());
    }

    #[test]
    fn table_is_in_libpq_order_and_unique() {
        let names: Vec<&str> = KEYWORDS.iter().map(|k| k.name).collect();
        for (i, n) in names.iter().enumerate() {
            assert!(!names[i + 1..].contains(n), "{n} twice");
        }
        assert_eq!(names[0], "service");
        assert_eq!(names[40], "load_balance_hosts");
        assert_eq!(index_of("sslmode"), Some(19));
        assert_eq!(index_of("sslnegotiation"), Some(20));
    }
}

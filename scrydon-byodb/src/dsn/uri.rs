//! The URI form: `postgresql://[user[:password]@][host][:port][,...][/dbname][?key=value&...]`,
//! parsed with the rules of libpq's `conninfo_uri_parse_options`.
//!
//! Every part is percent-decoded with libpq's rules: `%xy` only, `%00` refused, and (libpq 18+,
//! as in the upstream conformance vectors) spaces around a part are dropped while a space inside
//! one is refused. The host and port lists are decoded as a whole, after the netlocs are joined
//! with commas, as libpq does.

use super::{keywords, shown, Dsn};
use crate::{Error, Result};

/// `postgresql://` or `postgres://`, as libpq's `uri_prefix_length` (case-sensitive).
pub(crate) fn prefix_len(s: &str) -> Option<usize> {
    ["postgresql://", "postgres://"]
        .iter()
        .find(|p| s.starts_with(*p))
        .map(|p| p.len())
}

#[derive(Debug, PartialEq, Eq)]
enum DecodeError {
    BadPercent,
    Nul,
    Spaces,
    NotUtf8,
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// libpq's `conninfo_uri_decode`.
fn decode(raw: &str) -> std::result::Result<String, DecodeError> {
    let b = raw.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while b.get(i) == Some(&b' ') {
        i += 1;
    }
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hi = b.get(i + 1).copied().and_then(hex);
                let lo = b.get(i + 2).copied().and_then(hex);
                let (Some(hi), Some(lo)) = (hi, lo) else {
                    return Err(DecodeError::BadPercent);
                };
                let c = (hi << 4) | lo;
                if c == 0 {
                    return Err(DecodeError::Nul);
                }
                out.push(c);
                i += 3;
            }
            b' ' => break,
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    while b.get(i) == Some(&b' ') {
        i += 1;
    }
    if i != b.len() {
        return Err(DecodeError::Spaces);
    }
    String::from_utf8(out).map_err(|_| DecodeError::NotUtf8)
}

/// Decodes one URI part. `secret` parts are never echoed in the error.
fn decode_part(field: &str, raw: &str, secret: bool) -> Result<String> {
    decode(raw).map_err(|e| {
        let what = if secret {
            format!("the {field}")
        } else {
            shown(raw)
        };
        let reason = match e {
            DecodeError::BadPercent => format!("invalid percent-encoded token in {what}"),
            DecodeError::Nul => format!("forbidden value %00 in percent-encoded {what}"),
            DecodeError::Spaces => {
                format!("unexpected spaces in {what}; use percent-encoded spaces (%20) instead")
            }
            DecodeError::NotUtf8 => format!("percent-decoded {what} is not valid UTF-8"),
        };
        Error::dsn(field.to_owned(), reason)
    })
}

/// Whether the URI has an `@` that libpq does not take as the end of `user:password` (one
/// after the first `/`, or a second one). That is what an unencoded `/` or `@` in a password
/// produces, and then any URI part may hold a piece of the password: errors must not echo it.
pub(crate) fn may_hide_credentials(uri: &str) -> bool {
    let rest = &uri[prefix_len(uri).unwrap_or(0)..];
    let ats = rest.matches('@').count();
    let credentials = match (rest.find('@'), rest.find('/')) {
        (Some(at), Some(slash)) => at < slash,
        (Some(_), None) => true,
        (None, _) => false,
    };
    ats > usize::from(credentials)
}

/// Parses a URI (with its prefix) into raw keyword values; the caller validates them.
pub(crate) fn parse(uri: &str, out: &mut Dsn) -> Result<()> {
    let start = prefix_len(uri).ok_or_else(|| Error::dsn("uri".to_owned(), "not a URI"))?;
    let b = uri.as_bytes();
    let at = |i: usize| b.get(i).copied().unwrap_or(0);
    let mut p = start;

    // Credentials: libpq looks for '@' before any '/', even past a '?'.
    while at(p) != 0 && at(p) != b'@' && at(p) != b'/' {
        p += 1;
    }
    if at(p) == b'@' {
        let mut q = start;
        while q < b.len() && at(q) != b':' && at(q) != b'@' {
            q += 1;
        }
        let user = &uri[start..q];
        if !user.is_empty() {
            out.store("user", decode_part("user", user, false)?);
        }
        if at(q) == b':' {
            let pw_start = q + 1;
            q = pw_start;
            while q < b.len() && at(q) != b'@' {
                q += 1;
            }
            let password = &uri[pw_start..q];
            if !password.is_empty() {
                out.store("password", decode_part("password", password, true)?);
            }
        }
        p = q + 1;
    } else {
        p = start;
    }

    // Host lists: netloc[:port][,netloc[:port]]..., joined raw and decoded as a whole.
    let mut hosts = String::new();
    let mut ports = String::new();
    let mut term;
    loop {
        let host;
        if at(p) == b'[' {
            let h = p + 1;
            p = h;
            while at(p) != 0 && at(p) != b']' {
                p += 1;
            }
            if at(p) == 0 {
                return Err(Error::dsn(
                    "host".to_owned(),
                    "missing \"]\" after an IPv6 host address",
                ));
            }
            if p == h {
                return Err(Error::dsn(
                    "host".to_owned(),
                    "the IPv6 host address between \"[\" and \"]\" is empty",
                ));
            }
            host = &uri[h..p];
            p += 1;
            if !matches!(at(p), 0 | b':' | b'/' | b'?' | b',') {
                let rest: String = uri[p..].chars().take(1).collect();
                return Err(Error::dsn(
                    "host".to_owned(),
                    format!(
                        "unexpected character {} after an IPv6 host address (expected \":\" or \"/\")",
                        shown(&rest)
                    ),
                ));
            }
        } else {
            let h = p;
            while !matches!(at(p), 0 | b':' | b'/' | b'?' | b',') {
                p += 1;
            }
            host = &uri[h..p];
        }
        hosts.push_str(host);
        term = at(p);
        if term == b':' {
            let s = p + 1;
            p = s;
            while !matches!(at(p), 0 | b'/' | b'?' | b',') {
                p += 1;
            }
            ports.push_str(&uri[s..p]);
            term = at(p);
        }
        if term != b',' {
            break;
        }
        p += 1;
        hosts.push(',');
        ports.push(',');
    }
    if !hosts.is_empty() {
        out.store("host", decode_part("host", &hosts, false)?);
    }
    if !ports.is_empty() {
        out.store("port", decode_part("port", &ports, false)?);
    }

    if term == b'/' {
        let s = p + 1;
        p = s;
        while at(p) != 0 && at(p) != b'?' {
            p += 1;
        }
        let dbname = &uri[s..p];
        // An empty dbname is not stored: libpq would then ignore PGDATABASE.
        if !dbname.is_empty() {
            out.store("dbname", decode_part("dbname", dbname, false)?);
        }
        term = at(p);
    }

    if term == b'?' {
        parse_query(&uri[p + 1..], out)?;
    }
    Ok(())
}

/// libpq's `conninfo_uri_parse_params`.
fn parse_query(query: &str, out: &mut Dsn) -> Result<()> {
    let mut rest = query;
    while !rest.is_empty() {
        let (param, next) = match rest.find('&') {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, ""),
        };
        rest = next;
        let mut parts = param.splitn(3, '=');
        let raw_key = parts.next().unwrap_or_default();
        let Some(raw_value) = parts.next() else {
            return Err(Error::dsn(
                "uri".to_owned(),
                format!(
                    "missing key/value separator \"=\" in query parameter {}",
                    shown(raw_key)
                ),
            ));
        };
        if parts.next().is_some() {
            return Err(Error::dsn(
                "uri".to_owned(),
                format!(
                    "extra key/value separator \"=\" in query parameter {}",
                    shown(raw_key)
                ),
            ));
        }
        let key = decode_part("uri", raw_key, false)?;
        let secret = keywords::index_of(&key).is_some_and(|i| keywords::KEYWORDS[i].secret);
        let value = decode_part(&key, raw_value, secret)?;
        // libpq accepts JDBC's ssl=true as sslmode=require (only that exact value).
        if key == "ssl" && value == "true" {
            out.store("sslmode", "require".to_owned());
            continue;
        }
        if !out.store_libpq(&key, value) {
            return Err(Error::dsn(
                "uri".to_owned(),
                format!("unknown connection option {} in the query", shown(&key)),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_rules() {
        assert_eq!(decode("a%20b").as_deref(), Ok("a b"));
        assert_eq!(decode("  ab  ").as_deref(), Ok("ab"));
        assert_eq!(decode("%20ab%20").as_deref(), Ok(" ab "));
        assert_eq!(decode("").as_deref(), Ok(""));
        assert_eq!(decode("   ").as_deref(), Ok(""));
        assert_eq!(decode("%c3%A9").as_deref(), Ok("é"));
        assert_eq!(decode("a b"), Err(DecodeError::Spaces));
        assert_eq!(decode("%"), Err(DecodeError::BadPercent));
        assert_eq!(decode("%1"), Err(DecodeError::BadPercent));
        assert_eq!(decode("%zz"), Err(DecodeError::BadPercent));
        assert_eq!(decode("a%00b"), Err(DecodeError::Nul));
        assert_eq!(decode("%ff"), Err(DecodeError::NotUtf8));
    }

    #[test]
    fn prefixes_are_case_sensitive() {
        assert_eq!(prefix_len("postgresql://x"), Some(13));
        assert_eq!(prefix_len("postgres://x"), Some(11));
        assert_eq!(prefix_len("Postgres://x"), None);
        assert_eq!(prefix_len(" postgres://x"), None);
    }
}

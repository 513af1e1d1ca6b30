//! Rendering a [`Dsn`] back to a URI that libpq (and other drivers) parse to the same values.
//!
//! Every byte outside RFC 3986's unreserved set is percent-encoded, so any value survives the
//! trip, whatever it contains. Host and port go in the authority when that reproduces them
//! exactly (libpq joins the netlocs with commas); otherwise they go in the query.

use std::fmt::Write as _;

use super::{keywords::KEYWORDS, Dsn, PASSWORD_MASK};

fn encode_into(out: &mut String, value: &str, keep_colons: bool) {
    for &b in value.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else if keep_colons && b == b':' {
            out.push(':');
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
}

/// The authority's host list (`h1:p1,h2,[::1]:p3`), if it reproduces `host` and `port`
/// exactly.
fn netloc(host: Option<&str>, port: Option<&str>) -> Option<String> {
    let mut out = String::new();
    match host {
        None | Some("") => {
            // An empty authority stores no host; a lone ":port" stores the port alone.
            if host.is_some() {
                return None;
            }
            match port {
                None => {}
                Some(p) if !p.is_empty() && !p.contains(',') => {
                    out.push(':');
                    encode_into(&mut out, p, false);
                }
                Some(_) => return None,
            }
        }
        Some(h) => {
            let hosts: Vec<&str> = h.split(',').collect();
            let ports: Vec<&str> = match port {
                // libpq adds a comma to the port list for every comma in the host list.
                None if hosts.len() == 1 => vec![""],
                None => return None,
                Some("") => return None,
                Some(p) => p.split(',').collect(),
            };
            if ports.len() != hosts.len() {
                return None;
            }
            for (i, (h, p)) in hosts.iter().zip(&ports).enumerate() {
                if i > 0 {
                    out.push(',');
                }
                if h.contains(':') {
                    // Inside brackets only "]" ends the host, so ':' may stay as it is.
                    out.push('[');
                    encode_into(&mut out, h, true);
                    out.push(']');
                } else {
                    encode_into(&mut out, h, false);
                }
                if !p.is_empty() {
                    out.push(':');
                    encode_into(&mut out, p, false);
                }
            }
        }
    }
    Some(out)
}

/// The URI; with `redact`, secrets are replaced by [`PASSWORD_MASK`].
pub(super) fn uri(dsn: &Dsn, redact: bool) -> String {
    let mut out = String::from("postgresql://");
    let mut in_query: Vec<usize> = Vec::new();

    let user = dsn.get("user");
    let password = dsn.get("password");
    let user_in_authority = user.is_some_and(|u| !u.is_empty());
    let password_in_authority = password.is_some_and(|p| !p.is_empty());
    if let Some(u) = user.filter(|_| user_in_authority) {
        encode_into(&mut out, u, false);
    }
    if let Some(p) = password.filter(|_| password_in_authority) {
        out.push(':');
        if redact {
            out.push_str(PASSWORD_MASK);
        } else {
            encode_into(&mut out, p, false);
        }
    }
    if user_in_authority || password_in_authority {
        out.push('@');
    }

    let host = dsn.get("host");
    let port = dsn.get("port");
    let hosts_in_authority = match netloc(host, port) {
        Some(n) => {
            out.push_str(&n);
            true
        }
        None => false,
    };

    let dbname = dsn.get("dbname");
    let dbname_in_path = dbname.is_some_and(|d| !d.is_empty());
    if let Some(d) = dbname.filter(|_| dbname_in_path) {
        out.push('/');
        encode_into(&mut out, d, false);
    }

    for (i, _) in &dsn.params {
        let name = KEYWORDS[*i].name;
        let placed = match name {
            "user" => user_in_authority,
            "password" => password_in_authority,
            "host" | "port" => hosts_in_authority,
            "dbname" => dbname_in_path,
            _ => false,
        };
        if !placed {
            in_query.push(*i);
        }
    }

    for (n, i) in in_query.iter().enumerate() {
        out.push(if n == 0 { '?' } else { '&' });
        let kw = &KEYWORDS[*i];
        out.push_str(kw.name);
        out.push('=');
        let value = dsn.value_at(*i).unwrap_or_default();
        if redact && kw.secret && !value.is_empty() {
            out.push_str(PASSWORD_MASK);
        } else {
            encode_into(&mut out, value, false);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn netloc_reproduces_only_what_libpq_would_read_back() {
        assert_eq!(netloc(None, None).as_deref(), Some(""));
        assert_eq!(netloc(None, Some("5433")).as_deref(), Some(":5433"));
        assert_eq!(netloc(None, Some("1,2")), None);
        assert_eq!(netloc(Some(""), None), None);
        assert_eq!(netloc(Some("a"), None).as_deref(), Some("a"));
        assert_eq!(netloc(Some("a"), Some("")), None);
        assert_eq!(netloc(Some("a,b"), None), None);
        assert_eq!(netloc(Some("a,b"), Some("1")), None);
        assert_eq!(netloc(Some("a,b"), Some(",2")).as_deref(), Some("a,b:2"));
        assert_eq!(
            netloc(Some("::1,/tmp"), Some("1,2")).as_deref(),
            Some("[::1]:1,%2Ftmp:2")
        );
    }
}

//! Quoting for SQL, libpq connection strings, URIs and configuration files, and running `psql`.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::bins;
use crate::error::{Error, IoContext, Result};
use crate::process;

/// `name` as a double-quoted SQL identifier.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `value` as a single-quoted SQL string literal (standard_conforming_strings = on, the
/// default since PostgreSQL 9.1).
pub fn quote_literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// `value` quoted for a libpq `keyword=value` connection string.
pub fn quote_conninfo_value(value: &str) -> String {
    format!("'{}'", value.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// `value` quoted for postgresql.conf (a single-quoted string; every setting accepts that form).
pub(crate) fn quote_conf(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// Percent-encodes everything but RFC 3986's unreserved characters, for any URI component.
pub fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A `postgresql://` URI with percent-encoded user, password, database and parameters. An
/// IPv6 `host` is bracketed.
pub(crate) fn uri(
    host: &str,
    port: u16,
    user: &str,
    password: Option<&str>,
    dbname: &str,
    params: &[(&str, &str)],
) -> String {
    let mut out = format!("postgresql://{}", percent_encode(user));
    if let Some(password) = password {
        out.push(':');
        out.push_str(&percent_encode(password));
    }
    out.push('@');
    if host.contains(':') {
        out.push_str(&format!("[{host}]"));
    } else {
        out.push_str(host);
    }
    out.push_str(&format!(":{port}/{}", percent_encode(dbname)));
    for (i, (key, value)) in params.iter().enumerate() {
        out.push(if i == 0 { '?' } else { '&' });
        out.push_str(&percent_encode(key));
        out.push('=');
        out.push_str(&percent_encode(value));
    }
    out
}

/// A libpq `keyword=value` connection string from these pairs, values quoted.
pub fn conninfo(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", quote_conninfo_value(v)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs the real `psql` (PostgreSQL 15's, see [`bins::client_tool`]) against `conninfo` (a
/// `keyword=value` string or URI, which should not contain the password), feeding `sql` on
/// standard input: `psql -X -q -A -t -v ON_ERROR_STOP=1`. The password goes in `PGPASSWORD`,
/// never on the command line; the caller's other `PG*` variables are removed. Returns standard
/// output (unaligned, tuples only) without the final newline; a failed statement or connection
/// is [`Error::Psql`] with psql's stderr.
pub fn psql(conninfo: &str, password: Option<&str>, sql: &str) -> Result<String> {
    let mut cmd = Command::new(bins::client_tool("psql")?);
    process::clean_env(&mut cmd);
    cmd.args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d"])
        .arg(conninfo)
        .env("PGCONNECT_TIMEOUT", "10")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(password) = password {
        cmd.env("PGPASSWORD", password);
    }
    let mut child = cmd.spawn().ctx(|| "spawn psql")?;
    let stdin = child.stdin.take();
    let sql_owned = sql.to_owned();
    // Feed stdin from another thread so a large result cannot deadlock against a large script.
    let writer = std::thread::spawn(move || {
        if let Some(mut stdin) = stdin {
            // psql may exit early (connection refused): a broken pipe here is reported through
            // psql's own exit status and stderr.
            let _ = stdin.write_all(sql_owned.as_bytes());
        }
    });
    let output = child.wait_with_output().ctx(|| "wait for psql")?;
    let _ = writer.join();
    if output.status.success() {
        let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
        while text.ends_with('\n') {
            text.pop();
        }
        Ok(text)
    } else {
        Err(Error::Psql {
            status: output.status.to_string(),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        })
    }
}

/// Session settings that keep a statement carrying a password out of the server log, whatever
/// `log_statement` and friends the cluster was configured with.
pub(crate) const QUIET_LOGGING: &str = "SET log_statement = 'none'; \
     SET log_min_error_statement = 'panic'; SET log_min_duration_statement = -1;\n";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(quote_ident(r#"we"ird"#), r#""we""ird""#);
        assert_eq!(quote_literal("it's"), "'it''s'");
        assert_eq!(quote_conninfo_value(r"a'b\c"), r"'a\'b\\c'");
        assert_eq!(quote_conf("it's"), "'it''s'");
        assert_eq!(
            conninfo(&[("host", "/tmp/x y"), ("port", "5432")]),
            "host='/tmp/x y' port='5432'"
        );
    }

    #[test]
    fn uris_percent_encode_every_part() {
        assert_eq!(
            uri(
                "127.0.0.1",
                5432,
                "u@x",
                Some("p:w/d?#%"),
                "d b",
                &[("sslmode", "verify-full"), ("sslrootcert", "/a b/ca.crt")]
            ),
            "postgresql://u%40x:p%3Aw%2Fd%3F%23%25@127.0.0.1:5432/d%20b\
             ?sslmode=verify-full&sslrootcert=%2Fa%20b%2Fca.crt"
        );
        assert_eq!(
            uri("::1", 1, "u", None, "postgres", &[]),
            "postgresql://u@[::1]:1/postgres"
        );
        assert_eq!(percent_encode("Aa0-._~é"), "Aa0-._~%C3%A9");
    }
}

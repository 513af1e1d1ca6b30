//! The password file (`~/.pgpass` format), read with libpq's rules (`passwordFromFile`):
//! lines of `host:port:dbname:user:password`, `*` matching anything in the first four fields,
//! `\` escaping `:` and `\`, lines starting with `#` ignored, the first match winning.

use std::path::Path;

use super::{DEFAULT_PORT_STR, DEFAULT_SOCKET_DIR};
use crate::{Error, Result, SecretString};

/// libpq's `pwdfMatchesString`: if the line's next field matches `token`, the rest of the line
/// after that field.
fn field_matches<'a>(line: &'a [u8], token: &[u8]) -> Option<&'a [u8]> {
    if line.starts_with(b"*:") {
        return Some(&line[2..]);
    }
    let mut i = 0;
    let mut t = 0;
    while i < line.len() {
        let mut escaped = false;
        if line[i] == b'\\' {
            i += 1;
            escaped = true;
            if i == line.len() {
                return None;
            }
        }
        if line[i] == b':' && t == token.len() && !escaped {
            return Some(&line[i + 1..]);
        }
        if t == token.len() || line[i] != token[t] {
            return None;
        }
        i += 1;
        t += 1;
    }
    None
}

/// The password field: up to the first unescaped `:`, with `\` removed before any character.
fn unescape_password(rest: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(rest.len());
    let mut i = 0;
    while i < rest.len() && rest[i] != b':' {
        if rest[i] == b'\\' && i + 1 < rest.len() {
            i += 1;
        }
        out.push(rest[i]);
        i += 1;
    }
    out
}

/// Looks a password up in the contents of a password file.
pub(super) fn lookup(
    contents: &[u8],
    host: &str,
    port: &str,
    dbname: &str,
    user: &str,
) -> Option<SecretString> {
    for raw_line in contents.split(|&b| b == b'\n') {
        if raw_line.first() == Some(&b'#') {
            continue;
        }
        let mut line = raw_line;
        while let [rest @ .., b'\r' | b'\n'] = line {
            line = rest;
        }
        if line.is_empty() {
            continue;
        }
        let found = field_matches(line, host.as_bytes())
            .and_then(|r| field_matches(r, port.as_bytes()))
            .and_then(|r| field_matches(r, dbname.as_bytes()))
            .and_then(|r| field_matches(r, user.as_bytes()));
        if let Some(rest) = found {
            let password = unescape_password(rest);
            // A password that is not UTF-8 cannot be sent by this crate; treat it as no match
            // rather than mangling it.
            return String::from_utf8(password).ok().map(SecretString::new);
        }
    }
    None
}

/// The host libpq looks up for one host entry: the host, else the hostaddr, else the default
/// socket directory; that directory (and an empty host) is looked up as `localhost`.
pub(super) fn host_key<'a>(host: &'a str, hostaddr: &'a str) -> &'a str {
    let h = if !host.is_empty() {
        host
    } else if !hostaddr.is_empty() {
        hostaddr
    } else {
        DEFAULT_SOCKET_DIR
    };
    if h == DEFAULT_SOCKET_DIR {
        "localhost"
    } else {
        h
    }
}

/// The port libpq looks up for one entry: as written, or the default when empty.
pub(super) fn port_key(port: &str) -> &str {
    if port.is_empty() {
        DEFAULT_PORT_STR
    } else {
        port
    }
}

/// Reads the file, refusing one that group or others can read, as libpq does (libpq ignores it
/// with a warning; being asked explicitly, this crate says so instead). A missing file is no
/// password, not an error.
pub(super) fn read(path: &Path) -> Result<Option<Vec<u8>>> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(path, e)),
    };
    if !meta.is_file() {
        return Err(Error::input(
            "passfile",
            path.display().to_string(),
            "the password file is not a plain file",
        ));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if meta.permissions().mode() & 0o077 != 0 {
            return Err(Error::input(
                "passfile",
                path.display().to_string(),
                "the password file has group or world access; permissions should be u=rw (0600) \
                 or less",
            ));
        }
    }
    match std::fs::read(path) {
        Ok(c) => Ok(Some(c)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(path, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find(contents: &str, host: &str, port: &str, db: &str, user: &str) -> Option<String> {
        lookup(contents.as_bytes(), host, port, db, user).map(|s| s.expose_secret().to_owned())
    }

    #[test]
    fn first_match_wins_and_wildcards_match_whole_fields() {
        let f = "# comment\n\
                 db.example.com:5432:app:alice:first\n\
                 *:*:*:alice:second\n\
                 *:5432:*:*:third\n";
        assert_eq!(
            find(f, "db.example.com", "5432", "app", "alice").as_deref(),
            Some("first")
        );
        assert_eq!(
            find(f, "other", "5432", "app", "alice").as_deref(),
            Some("second")
        );
        assert_eq!(
            find(f, "other", "5432", "app", "bob").as_deref(),
            Some("third")
        );
        assert_eq!(find(f, "other", "6432", "app", "bob"), None);
        // A field must match whole: "db" is not "db.example.com".
        assert_eq!(
            find(
                "db:5432:app:bob:x\n",
                "db.example.com",
                "5432",
                "app",
                "bob"
            ),
            None
        );
        // "*" is a wildcard only as the whole field.
        assert_eq!(
            find("*x:5432:app:bob:x\n", "ax", "5432", "app", "bob"),
            None
        );
    }

    #[test]
    fn escapes_and_line_endings() {
        let f = "h\\:1:5432:d:u:pa\\:ss\\\\word:ignored\r\n";
        assert_eq!(
            find(f, "h:1", "5432", "d", "u").as_deref(),
            Some("pa:ss\\word")
        );
        // A trailing backslash in the password is kept.
        assert_eq!(
            find("h:1:d:u:pw\\", "h", "1", "d", "u").as_deref(),
            Some("pw\\")
        );
        // Empty password field.
        assert_eq!(find("h:1:d:u:", "h", "1", "d", "u").as_deref(), Some(""));
        // Too few fields: no match.
        assert_eq!(find("h:1:d:u", "h", "1", "d", "u"), None);
    }
}

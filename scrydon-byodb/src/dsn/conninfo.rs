//! The keyword=value form, parsed with the rules of libpq's `conninfo_parse`:
//! whitespace-separated `key = value` pairs; a value is either bare (ends at whitespace) or
//! single-quoted; `\` escapes the next character in both; the last of duplicate keys wins.

use super::{keywords::is_c_space, shown, Dsn};
use crate::{Error, Result};

/// Parses a keyword=value string into raw values; the caller validates them.
pub(crate) fn parse(s: &str, out: &mut Dsn) -> Result<()> {
    let b = s.as_bytes();
    let mut i = 0;
    // Set when the previous value was a bare (unquoted) secret: a stray token right after it is
    // most likely the rest of a password with a space in it, and must not be echoed.
    let mut after_bare_secret = false;
    while i < b.len() {
        if is_c_space(b[i]) {
            i += 1;
            continue;
        }

        let name_start = i;
        while i < b.len() && b[i] != b'=' && !is_c_space(b[i]) {
            i += 1;
        }
        let name = &s[name_start..i];
        while i < b.len() && is_c_space(b[i]) {
            i += 1;
        }
        if b.get(i) != Some(&b'=') {
            let what = if after_bare_secret {
                "a token after the password (quote a password that contains spaces)".to_owned()
            } else {
                shown(name)
            };
            return Err(Error::dsn(
                None,
                format!("missing \"=\" after {what} in keyword=value string"),
            ));
        }
        i += 1;
        while i < b.len() && is_c_space(b[i]) {
            i += 1;
        }

        let mut value = Vec::new();
        let quoted = b.get(i) == Some(&b'\'');
        if quoted {
            i += 1;
            loop {
                match b.get(i) {
                    None => {
                        return Err(Error::dsn(
                            name.to_owned(),
                            "unterminated quoted string in keyword=value string",
                        ))
                    }
                    Some(b'\\') => {
                        i += 1;
                        if let Some(&c) = b.get(i) {
                            value.push(c);
                            i += 1;
                        }
                    }
                    Some(b'\'') => {
                        i += 1;
                        break;
                    }
                    Some(&c) => {
                        value.push(c);
                        i += 1;
                    }
                }
            }
        } else {
            while i < b.len() && !is_c_space(b[i]) {
                if b[i] == b'\\' {
                    i += 1;
                    if let Some(&c) = b.get(i) {
                        value.push(c);
                        i += 1;
                    }
                } else {
                    value.push(b[i]);
                    i += 1;
                }
            }
        }
        // Only ASCII bytes (quotes, backslashes) were dropped, so this is still UTF-8.
        let value = String::from_utf8(value)
            .map_err(|_| Error::dsn(name.to_owned(), "value is not valid UTF-8"))?;
        if !out.store_libpq(name, value) {
            return Err(if after_bare_secret {
                Error::dsn(
                    None,
                    "unknown connection option after the password (quote a password that \
                     contains spaces)",
                )
            } else {
                Error::dsn(None, format!("unknown connection option {}", shown(name)))
            });
        }
        after_bare_secret = !quoted && matches!(name, "password" | "sslpassword");
    }
    Ok(())
}

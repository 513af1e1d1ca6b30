//! Reading secrets-bearing input without putting it on the command line.

use std::io::Read;

use scrydon_byodb::dsn::Dsn;
use scrydon_byodb::Error;

/// Reads a DSN argument: `-` reads it from standard input (so the password stays out of `ps` and
/// shell history), anything else is the DSN itself.
pub(crate) fn read_dsn(arg: &str) -> Result<Dsn, Error> {
    if arg == "-" {
        let mut buf = String::new();
        std::io::stdin()
            .read_to_string(&mut buf)
            .map_err(|source| Error::Io { path: None, source })?;
        // Only the line break a shell or `echo` adds; other spaces are the DSN's own.
        let line = buf.strip_suffix('\n').unwrap_or(&buf);
        let line = line.strip_suffix('\r').unwrap_or(line);
        Dsn::parse(line)
    } else {
        Dsn::parse(arg)
    }
}

/// Parses `--component` values; the error names the flag and the value.
pub(crate) fn components(
    values: &[String],
) -> Result<Vec<scrydon_byodb::catalog::Component>, Error> {
    values
        .iter()
        .map(|c| {
            c.trim().parse().map_err(|_| Error::InvalidInput {
                field: "--component".into(),
                value: c.clone(),
                reason: "expected auth, agentic, analytics, cortex or ontology".into(),
            })
        })
        .collect()
}

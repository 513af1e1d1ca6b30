//! The one error type of the test bed.

use std::path::PathBuf;
use std::time::Duration;

/// Everything that can go wrong while generating certificates or running PostgreSQL, PgBouncer
/// or the delaying proxy. Each variant names what failed; start failures carry the tail of the
/// server's log.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file-system or socket operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done, with the path or address involved.
        what: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// A PostgreSQL or PgBouncer executable is not installed where it was looked for.
    #[error(
        "`{name}` not found in {} ({hint}); run scripts/testbed-install.sh as root",
        dir.display()
    )]
    MissingBinary {
        /// The executable's name (`postgres`, `psql`, `pgbouncer`, ...).
        name: String,
        /// Where it was looked for.
        dir: PathBuf,
        /// How to point the test bed elsewhere (the environment variable to set).
        hint: String,
    },

    /// A helper program (initdb, pg_ctl, cp, ...) exited unsuccessfully.
    #[error("`{program}` failed ({status}): {output}")]
    Command {
        /// The program and what it was asked to do.
        program: String,
        /// Its exit status.
        status: String,
        /// Its standard error (or output), trimmed.
        output: String,
    },

    /// `psql` ran but the SQL failed (or the connection was refused).
    #[error("psql failed ({status}): {stderr}")]
    Psql {
        /// psql's exit status.
        status: String,
        /// psql's standard error, trimmed.
        stderr: String,
    },

    /// The PostgreSQL server did not come up.
    #[error("PostgreSQL did not start: {reason}; last lines of {}:\n{log_tail}", log.display())]
    StartFailed {
        /// What went wrong (exited with status ..., timed out, ...).
        reason: String,
        /// The server log file.
        log: PathBuf,
        /// The last lines of that log.
        log_tail: String,
    },

    /// PgBouncer did not come up.
    #[error("PgBouncer did not start: {reason}; last lines of {}:\n{log_tail}", log.display())]
    PgBouncerFailed {
        /// What went wrong.
        reason: String,
        /// PgBouncer's log file.
        log: PathBuf,
        /// The last lines of that log.
        log_tail: String,
    },

    /// Something did not happen within the time allowed.
    #[error("timed out after {after:?} waiting for {what}")]
    Timeout {
        /// What was awaited.
        what: String,
        /// How long was waited.
        after: Duration,
    },

    /// Certificate or key generation failed in rcgen.
    #[error("certificate generation failed: {0}")]
    Certificate(#[from] rcgen::Error),

    /// The `postgres` system user (needed to run PostgreSQL when the tests run as root) is
    /// missing from /etc/passwd.
    #[error(
        "running as root but system user `{0}` does not exist (install postgresql-15 to create it)"
    )]
    NoSuchUser(String),

    /// The builder was asked for something inconsistent, or an argument is invalid.
    #[error("invalid test-bed configuration: {0}")]
    Invalid(String),

    /// The operation needs a running server, and it is stopped (or the other way round).
    #[error("{0}")]
    State(String),
}

/// The test bed's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An [`Error::Io`] saying what was being done.
    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            what: what.into(),
            source,
        }
    }
}

/// Adds context to `std::io::Result`s.
pub(crate) trait IoContext<T> {
    /// Wraps the error in [`Error::Io`] with the message `what()`.
    fn ctx<S: Into<String>>(self, what: impl FnOnce() -> S) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn ctx<S: Into<String>>(self, what: impl FnOnce() -> S) -> Result<T> {
        self.map_err(|e| Error::io(what(), e))
    }
}

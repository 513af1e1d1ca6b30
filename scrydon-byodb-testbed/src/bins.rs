//! Where the PostgreSQL and PgBouncer executables are.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Environment variable overriding the PostgreSQL 15 bin directory.
pub const PG15_BIN_ENV: &str = "SCRYDON_PG15_BIN";
/// Environment variable overriding the PostgreSQL 14 bin directory.
pub const PG14_BIN_ENV: &str = "SCRYDON_PG14_BIN";
/// Environment variable overriding the install prefix of scripts/testbed-install.sh
/// (default `/opt/scrydon-testbed`); PostgreSQL 14 is looked for in `$PREFIX/pg14/bin`.
pub const PREFIX_ENV: &str = "SCRYDON_TESTBED_PREFIX";
/// Environment variable overriding the path of the `pgbouncer` executable.
pub const PGBOUNCER_ENV: &str = "SCRYDON_PGBOUNCER";

const DEFAULT_PREFIX: &str = "/opt/scrydon-testbed";

/// A PostgreSQL major version the test bed can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum PgVersion {
    /// PostgreSQL 14 (no pgvector), from scripts/testbed-install.sh's prefix.
    V14,
    /// PostgreSQL 15 with pgvector, from Debian (the default).
    #[default]
    V15,
}

impl fmt::Display for PgVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PostgreSQL {}", self.major())
    }
}

impl PgVersion {
    /// The major version number (14, 15).
    pub fn major(self) -> u32 {
        match self {
            PgVersion::V14 => 14,
            PgVersion::V15 => 15,
        }
    }

    /// The version with this major number, if the test bed knows it.
    pub fn from_major(major: u32) -> Option<PgVersion> {
        match major {
            14 => Some(PgVersion::V14),
            15 => Some(PgVersion::V15),
            _ => None,
        }
    }

    /// The environment variable that overrides this version's bin directory.
    pub fn env_var(self) -> &'static str {
        match self {
            PgVersion::V14 => PG14_BIN_ENV,
            PgVersion::V15 => PG15_BIN_ENV,
        }
    }

    /// The directory holding this version's `initdb`, `pg_ctl` and `postgres`; see
    /// [`pg_bin_dir`].
    pub fn bin_dir(self) -> Result<PathBuf> {
        pg_bin_dir(self)
    }

    fn candidates(self) -> Vec<PathBuf> {
        if let Some(dir) = std::env::var_os(self.env_var()) {
            return vec![PathBuf::from(dir)];
        }
        match self {
            PgVersion::V15 => vec![PathBuf::from("/usr/lib/postgresql/15/bin")],
            PgVersion::V14 => {
                let prefix = std::env::var_os(PREFIX_ENV).unwrap_or_else(|| DEFAULT_PREFIX.into());
                vec![
                    Path::new(&prefix).join("pg14/bin"),
                    PathBuf::from("/usr/lib/postgresql/14/bin"),
                ]
            }
        }
    }
}

/// The bin directory of a PostgreSQL version: `$SCRYDON_PG15_BIN` / `$SCRYDON_PG14_BIN` if set,
/// else `/usr/lib/postgresql/15/bin` for 15 and `$SCRYDON_TESTBED_PREFIX/pg14/bin` (default
/// prefix `/opt/scrydon-testbed`, then `/usr/lib/postgresql/14/bin`) for 14. The directory must
/// hold a `postgres` executable.
pub fn pg_bin_dir(version: PgVersion) -> Result<PathBuf> {
    let candidates = version.candidates();
    for dir in &candidates {
        if dir.join("postgres").is_file() {
            return Ok(dir.clone());
        }
    }
    Err(Error::MissingBinary {
        name: "postgres".into(),
        dir: candidates.first().cloned().unwrap_or_default(),
        hint: format!("{version}; set {} to its bin directory", version.env_var()),
    })
}

/// A client program (`psql`, `pg_dump`, `pg_restore`, `pg_isready`, ...) from the PostgreSQL 15
/// bin directory: the newest client, which talks to every server the test bed runs. Debian's
/// `/usr/bin/psql` is a Perl wrapper that costs ~100 ms a call, so this is the real binary.
pub fn client_tool(name: &str) -> Result<PathBuf> {
    let dir = pg_bin_dir(PgVersion::V15)?;
    let path = dir.join(name);
    if path.is_file() {
        Ok(path)
    } else {
        Err(Error::MissingBinary {
            name: name.into(),
            dir,
            hint: format!("PostgreSQL 15 client; set {PG15_BIN_ENV}"),
        })
    }
}

/// The `pgbouncer` executable: `$SCRYDON_PGBOUNCER`, else `/usr/sbin/pgbouncer`, else the first
/// on `PATH`.
pub fn pgbouncer_path() -> Result<PathBuf> {
    if let Some(path) = std::env::var_os(PGBOUNCER_ENV) {
        return Ok(PathBuf::from(path));
    }
    let default = PathBuf::from("/usr/sbin/pgbouncer");
    if default.is_file() {
        return Ok(default);
    }
    if let Some(paths) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&paths) {
            let candidate = dir.join("pgbouncer");
            if candidate.is_file() {
                return Ok(candidate);
            }
        }
    }
    Err(Error::MissingBinary {
        name: "pgbouncer".into(),
        dir: PathBuf::from("/usr/sbin"),
        hint: format!("set {PGBOUNCER_ENV}"),
    })
}

/// The executables of one PostgreSQL version.
#[derive(Debug, Clone)]
pub(crate) struct PgBins {
    pub(crate) version: PgVersion,
    pub(crate) dir: PathBuf,
}

impl PgBins {
    pub(crate) fn find(version: PgVersion) -> Result<PgBins> {
        let dir = pg_bin_dir(version)?;
        for name in ["initdb", "pg_ctl"] {
            if !dir.join(name).is_file() {
                return Err(Error::MissingBinary {
                    name: name.into(),
                    dir,
                    hint: format!("{version}; set {}", version.env_var()),
                });
            }
        }
        Ok(PgBins { version, dir })
    }

    pub(crate) fn tool(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

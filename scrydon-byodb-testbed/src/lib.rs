//! Throwaway PostgreSQL servers for scrydon-byodb's integration tests, benchmarks and local
//! runs: real `postgres`, `psql` and `pgbouncer` processes (installed by
//! `scripts/testbed-install.sh`), never mocks.
//!
//! * [`Cluster`] — a PostgreSQL 15 (with pgvector) or 14 server in a temporary directory, on a
//!   free 127.0.0.1 port and a Unix socket, with TLS from a CA generated at test time,
//!   pg_hba variants ([`Hba`], [`Auth`]) and extra settings; stopped and removed on drop.
//! * [`TestCa`] — certificate authorities and server/client certificates (rcgen), including
//!   CN-only, expired and intermediate-issued ones.
//! * [`PgBouncer`] — PgBouncer in front of a cluster.
//! * [`DelayProxy`] — a TCP proxy adding a fixed latency per direction.
//! * [`Moto`] — the AWS emulator in server mode on loopback.
//! * [`psql`], [`free_port`], [`pg_bin_dir`], [`client_tool`] — helpers.
//!
//! The API is synchronous (std::process); from a tokio test, call it directly (it blocks the
//! thread for a fraction of a second) or through `spawn_blocking`.
//!
//! When the tests run as root (CI), PostgreSQL and PgBouncer run as the `postgres` system user
//! (`$SCRYDON_TESTBED_SERVER_USER`), and the files they need are given to it.
//!
//! ```no_run
//! use scrydon_byodb_testbed::{Cluster, Hba};
//!
//! # fn main() -> scrydon_byodb_testbed::Result<()> {
//! let cluster = Cluster::builder()
//!     .with_hba(Hba::TlsOnly)
//!     .with_setting("rds.force_ssl", "1")
//!     .start()?;
//! assert_eq!(cluster.psql("SHOW rds.force_ssl")?, "1");
//! let uri = cluster.admin_uri("verify-full"); // ...&sslrootcert=<the test CA>
//! # let _ = uri;
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]

mod bins;
mod cluster;
mod error;
mod fsutil;
mod moto;
mod pgbouncer;
mod pki;
mod port;
mod process;
mod proxy;
mod sql;
mod template;

pub use bins::{
    client_tool, pg_bin_dir, pgbouncer_path, PgVersion, PG14_BIN_ENV, PG15_BIN_ENV, PGBOUNCER_ENV,
    PREFIX_ENV,
};
pub use cluster::{
    Auth, Cluster, ClusterBuilder, DetachedCluster, Hba, ServerTls, ShutdownMode, HOST,
};
pub use error::{Error, Result};
pub use fsutil::SCRATCH_ENV;
pub use moto::{Moto, VENV};
pub use pgbouncer::{PgBouncer, PgBouncerBuilder, PoolMode};
pub use pki::{IssuedCert, ServerCertSpec, TestCa, Validity};
pub use port::free_port;
pub use process::{server_can_reach, SERVER_USER_ENV};
pub use proxy::DelayProxy;
pub use sql::{conninfo, percent_encode, psql, quote_conninfo_value, quote_ident, quote_literal};
pub use template::CACHE_ENV;

//! Connection pools that never hang.
//!
//! A [`Pool`] hands out connections made by [`crate::connect::connect`] — libpq's host list,
//! `sslmode` and TLS verification rules, failures classified by kind — with three bounds:
//! a connect timeout (per address, and for the whole establishment), a `statement_timeout` set on
//! every session, and a wait timeout for a free connection.
//!
//! It is built on `deadpool::managed`, the foundation of deadpool-postgres, rather than on
//! deadpool-postgres's own manager: that manager's connect hook must return a
//! `tokio_postgres::Error`, which cannot say *why* a connection failed (certificate untrusted,
//! server requires TLS, database missing); this one returns [`crate::Error`] unchanged.
//! Recycling is deadpool-postgres's "verified" method: a connection goes back into use only
//! after an empty query succeeds on it.
//!
//! ```no_run
//! # async fn demo() -> scrydon_byodb::Result<()> {
//! use std::time::Duration;
//! use scrydon_byodb::pool::Pool;
//!
//! let dsn = "postgres://scrydon@pg.example.com/auth?sslmode=verify-full&sslrootcert=ca.pem".parse()?;
//! let pool = Pool::builder(dsn)
//!     .with_max_size(4)
//!     .with_statement_timeout(Duration::from_secs(30))
//!     .build()?;
//! let conn = pool.get().await?;
//! let row = conn.query_one("SELECT current_database()", &[]).await.map_err(|e| {
//!     scrydon_byodb::Error::Database { operation: "select".into(), code: String::new(), source: e }
//! })?;
//! # let _ = row; Ok(()) }
//! ```

use std::fmt;
use std::time::Duration;

use deadpool::managed::{self, Metrics, PoolError, RecycleError, RecycleResult, Timeouts};
use deadpool::Runtime;

use crate::connect::{connect, ConnectOptions, Connection};
use crate::dsn::Dsn;
use crate::{ConnectFailure, Error, Result};

/// The connect timeout when neither the builder nor the DSN's `connect_timeout` sets one.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The `statement_timeout` set on every pooled session unless the builder says otherwise.
pub const DEFAULT_STATEMENT_TIMEOUT: Duration = Duration::from_secs(60);
/// How long [`Pool::get`] waits for a free connection unless the builder says otherwise.
pub const DEFAULT_WAIT_TIMEOUT: Duration = Duration::from_secs(30);
/// The pool size unless the builder says otherwise.
pub const DEFAULT_MAX_SIZE: usize = 4;

/// Builds a [`Pool`]. Setters never fail; [`PoolBuilder::build`] validates.
#[derive(Debug, Clone)]
pub struct PoolBuilder {
    dsn: Dsn,
    options: ConnectOptions,
    max_size: usize,
    connect_timeout: Duration,
    statement_timeout: Option<Duration>,
    wait_timeout: Duration,
}

impl PoolBuilder {
    /// The most connections the pool opens (at least 1).
    pub fn with_max_size(mut self, max_size: usize) -> Self {
        self.max_size = max_size;
        self
    }

    /// The connect timeout per address when the DSN has no `connect_timeout`; also the bound on
    /// establishing one connection as a whole.
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The `statement_timeout` set on every session.
    pub fn with_statement_timeout(mut self, timeout: Duration) -> Self {
        self.statement_timeout = Some(timeout);
        self
    }

    /// Leaves the server's `statement_timeout` as it is. Statements may then run unbounded.
    pub fn without_statement_timeout(mut self) -> Self {
        self.statement_timeout = None;
        self
    }

    /// How long [`Pool::get`] waits for a connection to become free.
    pub fn with_wait_timeout(mut self, timeout: Duration) -> Self {
        self.wait_timeout = timeout;
        self
    }

    /// Connect options (e.g. a TLS connector with a provider's CA bundle). The builder's
    /// timeouts are applied on top of them.
    pub fn with_connect_options(mut self, options: ConnectOptions) -> Self {
        self.options = options;
        self
    }

    /// Validates the settings and creates the pool. No connection is opened until the first
    /// [`Pool::get`].
    pub fn build(self) -> Result<Pool> {
        self.dsn.validate()?;
        self.dsn.endpoints()?;
        for (field, value) in [
            ("connect timeout", self.connect_timeout),
            ("wait timeout", self.wait_timeout),
        ] {
            if value.is_zero() {
                return Err(Error::input(field, "0s", "must be greater than zero"));
            }
        }
        if self.max_size == 0 {
            return Err(Error::input(
                "max size",
                "0",
                "a pool needs at least one connection",
            ));
        }
        if let Some(t) = self.statement_timeout {
            if t.as_millis() == 0 {
                return Err(Error::input(
                    "statement timeout",
                    format!("{t:?}"),
                    "must be at least 1ms (use without_statement_timeout for none)",
                ));
            }
        }
        let mut options = self
            .options
            .with_default_connect_timeout(self.connect_timeout);
        if let Some(t) = self.statement_timeout {
            options = options.with_statement_timeout(t);
        }
        // The whole establishment (every address of every host, TLS, authentication) is bounded
        // too: a server that accepts TCP and then says nothing must not hang `get`.
        let hosts = self.dsn.endpoints()?.len().max(1) as u32;
        let per_address = self.dsn.connect_timeout().unwrap_or(self.connect_timeout);
        let create = per_address.saturating_mul(hosts.saturating_mul(2));
        let manager = Manager {
            dsn: self.dsn,
            options,
        };
        let inner = managed::Pool::builder(manager)
            .max_size(self.max_size)
            .runtime(Runtime::Tokio1)
            .timeouts(Timeouts {
                wait: Some(self.wait_timeout),
                create: Some(create),
                recycle: Some(self.connect_timeout),
            })
            .build()
            .map_err(|e| Error::Pool {
                reason: e.to_string(),
                source: Some(Box::new(e)),
            })?;
        Ok(Pool {
            inner,
            create_timeout: create,
        })
    }
}

/// A pool of connections to one DSN.
#[derive(Clone)]
pub struct Pool {
    inner: managed::Pool<Manager>,
    create_timeout: Duration,
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("dsn", &self.inner.manager().dsn)
            .field("status", &self.status())
            .finish()
    }
}

/// A connection on loan from a [`Pool`]; it goes back when dropped. Derefs to
/// [`Connection`] and so to `tokio_postgres::Client`.
pub type PooledConnection = managed::Object<Manager>;

/// How many connections a pool holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct PoolStatus {
    /// The most connections it opens.
    pub max_size: usize,
    /// Connections open now.
    pub size: usize,
    /// Connections open and idle.
    pub available: usize,
    /// Callers waiting for a connection.
    pub waiting: usize,
}

impl Pool {
    /// A builder with the defaults ([`DEFAULT_MAX_SIZE`], [`DEFAULT_CONNECT_TIMEOUT`],
    /// [`DEFAULT_STATEMENT_TIMEOUT`], [`DEFAULT_WAIT_TIMEOUT`]).
    pub fn builder(dsn: Dsn) -> PoolBuilder {
        PoolBuilder {
            dsn,
            options: ConnectOptions::new(),
            max_size: DEFAULT_MAX_SIZE,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            statement_timeout: Some(DEFAULT_STATEMENT_TIMEOUT),
            wait_timeout: DEFAULT_WAIT_TIMEOUT,
        }
    }

    /// A connection: an idle one, or a new one if the pool is not full, or the next one freed
    /// within the wait timeout.
    ///
    /// Errors: the connect error unchanged ([`Error::Connect`] with its kind) when a new
    /// connection fails; [`Error::Connect`] with [`ConnectFailure::Timeout`] when establishing
    /// one takes longer than its bound; [`Error::Pool`] when no connection was freed in time.
    pub async fn get(&self) -> Result<PooledConnection> {
        self.inner.get().await.map_err(|e| match e {
            PoolError::Backend(e) => e,
            PoolError::Timeout(managed::TimeoutType::Create) => Error::Connect {
                target: self.inner.manager().dsn.to_string(),
                failure: ConnectFailure::Timeout,
                source: Some(
                    format!("no connection established within {:?}", self.create_timeout).into(),
                ),
            },
            PoolError::Timeout(kind) => {
                let status = self.status();
                Error::Pool {
                    reason: format!(
                        "timed out ({kind:?}) waiting for a connection: {} of {} in use",
                        status.size - status.available.min(status.size),
                        status.max_size
                    ),
                    source: None,
                }
            }
            other => Error::Pool {
                reason: other.to_string(),
                source: Some(Box::new(other)),
            },
        })
    }

    /// The pool's current size and use.
    pub fn status(&self) -> PoolStatus {
        let s = self.inner.status();
        PoolStatus {
            max_size: s.max_size,
            size: s.size,
            available: s.available,
            waiting: s.waiting,
        }
    }

    /// Closes the pool: idle connections are dropped, loaned ones when returned, and
    /// [`Pool::get`] fails from now on.
    pub fn close(&self) {
        self.inner.close();
    }
}

/// Opens and recycles the pool's connections.
#[derive(Debug)]
pub struct Manager {
    dsn: Dsn,
    options: ConnectOptions,
}

impl managed::Manager for Manager {
    type Type = Connection;
    type Error = Error;

    async fn create(&self) -> Result<Connection> {
        connect(&self.dsn, &self.options).await
    }

    async fn recycle(&self, conn: &mut Connection, _: &Metrics) -> RecycleResult<Error> {
        if conn.is_closed() {
            return Err(RecycleError::message("connection closed"));
        }
        conn.simple_query("").await.map_err(|e| {
            RecycleError::Backend(Error::Database {
                operation: "check a pooled connection".into(),
                code: e.code().map(|c| c.code().to_owned()).unwrap_or_default(),
                source: e,
            })
        })?;
        Ok(())
    }
}

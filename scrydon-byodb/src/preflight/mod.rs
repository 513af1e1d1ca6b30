//! Preflight: every prerequisite of the runbook checked against the live server.
//!
//! The runbook's Prerequisites (PostgreSQL 15+, pgvector, the databases, a migration role that
//! can create, TLS enforced, connection capacity), its Provider notes (`rds.force_ssl`,
//! `azure.extensions`, poolers) and its Troubleshooting entries (Dapr state tables, connection
//! failures) become [`Finding`](crate::report::Finding)s with stable ids
//! ([`ids::PREFLIGHT`](crate::report::ids::PREFLIGHT)), a status, what was observed, what to do
//! (with SQL or a command to copy) and the runbook sections and compliance controls behind
//! them.
//!
//! * **Read-only.** Preflight changes nothing: it reads catalogs and settings, and its probes
//!   (a plaintext StartupMessage that hangs up before authenticating; a second connection
//!   asking `pg_backend_pid()`) leave no trace but a log line. A role without any privilege can
//!   run it.
//! * **Cheap.** Every connection opens at once, the admin connection, one per component
//!   database, and the probes; each sends one statement that reads everything it needs as one
//!   JSON document. Over TLS with SCRAM a full preflight of five databases costs one connection
//!   set-up plus two round trips.
//! * **Failures are findings.** A connection that fails is a `preflight.connect` finding with
//!   its [diagnosis](crate::diagnose) (classified by SQLSTATE and error kind); the checks that
//!   needed it are skipped, and the rest still run. [`Preflight::run`] returns an error only
//!   for input it cannot use (an unreadable `sslrootcert`).
//!
//! ```no_run
//! use scrydon_byodb::catalog::Component;
//! use scrydon_byodb::dsn::Dsn;
//! use scrydon_byodb::preflight::{Preflight, Target};
//! use scrydon_byodb::report::{ids, Status};
//!
//! # async fn example() -> scrydon_byodb::Result<()> {
//! let admin: Dsn = "postgres://admin:pw@pg.example.com/postgres?sslmode=verify-full".parse()?;
//! let target = Target::builder(admin).with_app_role("scrydon").build()?;
//! let report = Preflight::new(target).run().await?;
//! for f in report.findings.iter().filter(|f| f.status == Status::Fail) {
//!     println!("{f}");
//! }
//! if report.status_of(ids::PREFLIGHT_DATABASE_EXISTS, Some(Component::Auth)) == Some(Status::Fail) {
//!     println!("create the auth database first");
//! }
//! std::process::exit(report.exit_code(false).into());
//! # }
//! ```

mod checks;
mod gather;
mod pooler;
mod probe;
mod report;
mod session;
mod sql;
mod target;

use std::sync::Arc;
use std::time::{Duration, Instant};

pub(crate) use checks::list_contains;
pub(crate) use session::{open as open_session, open_with_bundle as open_session_with_bundle};

pub use pooler::probe_transaction_pooler;
pub use report::{Report, ServerSummary, TargetSummary, REPORT_SCHEMA_VERSION};
pub use target::{ComponentDemand, Demand, Target, TargetBuilder, DEFAULT_APP_ROLE};

use crate::provider::{GenericProvider, Provider};
use crate::report::Status;
use crate::Result;

/// How long one step (a connection, a statement, the probe) may take by default.
pub const DEFAULT_STEP_TIMEOUT: Duration = Duration::from_secs(30);

/// A preflight run: a [`Target`] and the [`Provider`] to ask for what SQL cannot show.
#[derive(Debug, Clone)]
pub struct Preflight {
    target: Target,
    provider: Arc<dyn Provider>,
    step_timeout: Duration,
}

impl Preflight {
    /// A preflight of `target` with the [`GenericProvider`] (SQL only).
    pub fn new(target: Target) -> Self {
        Preflight {
            target,
            provider: Arc::new(GenericProvider::new()),
            step_timeout: DEFAULT_STEP_TIMEOUT,
        }
    }

    /// Asks this provider for parameters, backups and high availability (the checks it cannot
    /// answer, by its [`Capabilities`](crate::provider::Capabilities), are skipped).
    pub fn with_provider(mut self, provider: Arc<dyn Provider>) -> Self {
        self.provider = provider;
        self
    }

    /// How long one connection, statement or probe may take ([`DEFAULT_STEP_TIMEOUT`]); the
    /// DSN's `connect_timeout` still applies to each connection attempt.
    pub fn with_step_timeout(mut self, timeout: Duration) -> Self {
        self.step_timeout = timeout;
        self
    }

    /// The target.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// Runs every check. Errors only for input that cannot be used at all (an unreadable or
    /// malformed `sslrootcert`, an invalid TLS combination): everything the server says is a
    /// finding.
    pub async fn run(&self) -> Result<Report> {
        let started = Instant::now();
        // TLS settings are input: refuse them before connecting, as the CLI's exit code 2.
        crate::tls::TlsConnector::from_dsn(self.target.admin())?;
        for c in self.target.components() {
            if self.target.has_own_dsn(c) {
                crate::tls::TlsConnector::from_dsn(&self.target.component_dsn(c))?;
            }
        }
        // Boxed: the joined futures of every connection are large, and callers await this on
        // small stacks.
        let seen = Box::pin(gather::gather(
            &self.target,
            self.provider.as_ref(),
            self.step_timeout,
        ))
        .await;
        let (findings, provider) = checks::evaluate(&self.target, &seen);
        let server = seen.admin.as_ref().ok().map(|a| ServerSummary {
            version: a.facts.version.clone(),
            version_num: a.facts.version_num,
        });
        Ok(Report {
            schema_version: REPORT_SCHEMA_VERSION,
            target: TargetSummary {
                admin: self.target.admin().to_string(),
                app_role: self.target.app_role().to_owned(),
                components: self.target.components().collect(),
            },
            server,
            provider,
            provider_used: self.provider.name().to_owned(),
            status: Status::worst(&findings),
            findings,
            elapsed_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        })
    }
}

/// Runs a preflight of `target` with the generic provider (see [`Preflight`]).
pub async fn run(target: Target) -> Result<Report> {
    Preflight::new(target).run().await
}

/// `Preflight::run` must stay `Send` (callers spawn it).
#[allow(dead_code)]
fn assert_send(p: &Preflight) -> impl std::future::Future<Output = Result<Report>> + Send + '_ {
    p.run()
}

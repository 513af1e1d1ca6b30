//! Bootstrap: the runbook's "Pre-create databases and extension", idempotent and least-privilege.
//!
//! [`Bootstrap::plan`] reads what exists (the app role, the component databases and their
//! owners, pgvector in each, `CREATE` on schema `public`, the provider's extension allow-lists,
//! what the admin may do) and computes the [`Step`]s that are missing; [`Bootstrap::apply`]
//! carries them out; [`Bootstrap::prove`] connects as the app role to each database and does what
//! the migration Jobs will do, in a transaction that is rolled back. A second run plans nothing.
//!
//! * **Least privilege.** The app role is `LOGIN CREATEDB`, nothing more. Its password reaches
//!   the server only as a SCRAM-SHA-256 verifier computed here ([`scram_verifier`]); an existing
//!   role's password changes only with [`BootstrapBuilder::with_reset_password`].
//! * **As the managed services allow.** A non-superuser admin (`rds_superuser`,
//!   `cloudsqlsuperuser`, `azure_pg_admin`) may only create a database owned by a role it can
//!   `SET ROLE` to: bootstrap grants itself that membership on one pinned session, creates the
//!   database and revokes what it granted. Platform roles are never granted.
//! * **Never destructive.** No `DROP`, no `ALTER` of objects it did not create; a database owned
//!   by another role is a [`Finding`] (`bootstrap.database_foreign_owner`), not seized.
//! * **Stops before changing anything** when a step could not succeed (pgvector not installable,
//!   the admin lacking `CREATEDB`/`CREATEROLE`): those are the plan's
//!   [`blockers`](Plan::blockers), each with the fix.
//! * **Safe together.** [`Bootstrap::apply`] holds `pg_advisory_lock` on a fixed key in the admin
//!   session; "already exists" (42P04, 42710, 23505) counts as converged.
//! * **No hangs.** Every session has `statement_timeout` and `lock_timeout`; a step that waits on
//!   a lock is reported with the backends blocking it ([`Blocker`]).
//!
//! ```no_run
//! use scrydon_byodb::bootstrap::Bootstrap;
//! use scrydon_byodb::dsn::Dsn;
//! use scrydon_byodb::preflight::Target;
//! use scrydon_byodb::SecretString;
//!
//! # async fn example() -> scrydon_byodb::Result<()> {
//! let admin: Dsn = "postgres://admin:pw@pg.example.com/postgres?sslmode=verify-full".parse()?;
//! let target = Target::builder(admin).with_app_role("scrydon").build()?;
//! let bootstrap = Bootstrap::builder(target)
//!     .with_password(SecretString::new("from a file, never argv"))
//!     .build()?;
//! let plan = bootstrap.plan().await?;
//! print!("{}", plan.to_text());
//! if plan.is_blocked() {
//!     return Ok(());
//! }
//! let applied = bootstrap.apply(&plan).await?;
//! assert!(applied.failed.is_none());
//! let proof = bootstrap.prove().await?;
//! assert!(proof.iter().all(|f| !f.is_failure()));
//! # Ok(())
//! # }
//! ```

mod apply;
mod names;
mod plan;
mod proof;
mod scram;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::catalog::Component;
use crate::preflight::Target;
use crate::provider::Provider;
use crate::report::Finding;
use crate::{Result, SecretString};

pub use names::{validate_database_name, validate_role_name, PLATFORM_ROLES};
pub use scram::{scram_verifier, scram_verifier_with, SCRAM_ITERATIONS};

/// The `pg_advisory_lock` key every bootstrap holds while it applies (`'scrydon-byodb
/// bootstrap'` as a number), so two runs at once take turns.
pub const ADVISORY_LOCK_KEY: i64 = 0x5343_5259_424f_4f54; // "SCRYBOOT"

/// The application_name bootstrap's sessions carry (shown to whoever looks at `pg_stat_activity`).
pub const APPLICATION_NAME: &str = "scrydon-byodb bootstrap";

/// What a step does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Action {
    /// Add `vector` to the provider's extension allow-list through its API.
    AllowExtension,
    /// `CREATE ROLE ... LOGIN CREATEDB PASSWORD '<SCRAM verifier>'`.
    CreateRole,
    /// `ALTER ROLE ... PASSWORD '<SCRAM verifier>'` (only with `reset_password`).
    SetPassword,
    /// `CREATE DATABASE ... OWNER <app role> TEMPLATE template0 ENCODING 'UTF8' ...`, with a
    /// temporary membership grant when the admin is not a superuser.
    CreateDatabase,
    /// `CREATE EXTENSION IF NOT EXISTS vector`, as the admin, in the database.
    CreateExtension,
    /// `GRANT CREATE ON SCHEMA public TO <app role>` in the database.
    GrantSchemaCreate,
}

impl Action {
    /// Stable name (`create_database`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Action::AllowExtension => "allow_extension",
            Action::CreateRole => "create_role",
            Action::SetPassword => "set_password",
            Action::CreateDatabase => "create_database",
            Action::CreateExtension => "create_extension",
            Action::GrantSchemaCreate => "grant_schema_create",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One statement of a step: what is shown (secrets masked) and, when it differs, what is sent.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Statement {
    pub(crate) shown: String,
    pub(crate) secret: Option<SecretString>,
}

impl Statement {
    fn plain(sql: String) -> Self {
        Statement {
            shown: sql,
            secret: None,
        }
    }

    pub(crate) fn text(&self) -> &str {
        self.secret
            .as_ref()
            .map_or(self.shown.as_str(), |s| s.expose_secret())
    }
}

impl fmt::Debug for Statement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown)
    }
}

/// One change the plan makes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    /// What it does.
    pub action: Action,
    /// The component whose database it concerns, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub component: Option<Component>,
    /// The object changed: the role, the database, or the extension.
    pub object: String,
    /// The database the statements run in (`None`: the admin DSN's database).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
    /// The exact SQL, in order, passwords masked (`'<SCRAM-SHA-256 verifier>'`). Statements
    /// after `-- always:` run even when an earlier one failed (revoking a temporary grant).
    pub sql: Vec<String>,
    #[serde(skip)]
    pub(crate) exec: Vec<Statement>,
    #[serde(skip)]
    pub(crate) cleanup: Vec<Statement>,
}

impl Step {
    fn new(action: Action, object: impl Into<String>) -> Self {
        Step {
            action,
            component: None,
            object: object.into(),
            database: None,
            sql: Vec::new(),
            exec: Vec::new(),
            cleanup: Vec::new(),
        }
    }

    fn with_statement(mut self, statement: Statement) -> Self {
        self.sql.push(statement.shown.clone());
        self.exec.push(statement);
        self
    }

    fn with_cleanup(mut self, statement: Statement) -> Self {
        self.sql.push(format!("-- always: {}", statement.shown));
        self.cleanup.push(statement);
        self
    }

    fn in_database(mut self, component: Component, database: &str) -> Self {
        self.component = Some(component);
        self.database = Some(database.to_owned());
        self
    }

    /// One line for humans: `create_database agentic (in postgres)`.
    pub fn summary(&self) -> String {
        match &self.database {
            Some(db) if self.action != Action::CreateDatabase => {
                format!("{} {} in database {db}", self.action, self.object)
            }
            _ => format!("{} {}", self.action, self.object),
        }
    }
}

/// What exists, as [`Bootstrap::plan`] read it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Observed {
    /// `server_version_num`.
    pub server_version_num: i32,
    /// The admin's role name.
    pub admin: String,
    /// Whether the admin is a superuser.
    pub admin_superuser: bool,
    /// Whether the app role exists.
    pub role_exists: bool,
    /// Component databases that exist, with their owners.
    pub databases: Vec<(String, String)>,
}

/// The steps that are missing, and what stops them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Plan {
    /// What was found.
    pub observed: Observed,
    /// The changes, in the order they are applied.
    pub steps: Vec<Step>,
    /// Why nothing may be applied (each a failing finding with its fix). Empty when the plan can
    /// be applied.
    pub blockers: Vec<Finding>,
    /// What was seen and left alone (a database owned by another role, a role with more
    /// attributes than needed).
    pub notes: Vec<Finding>,
}

impl Plan {
    /// Nothing to do and nothing in the way.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty() && self.blockers.is_empty()
    }

    /// Whether a blocker stops the plan.
    pub fn is_blocked(&self) -> bool {
        !self.blockers.is_empty()
    }

    /// The steps, one per line, then the SQL, then blockers and notes.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        if self.steps.is_empty() {
            out.push_str("Nothing to do: everything is in place.\n");
        } else {
            out.push_str("Plan:\n");
            for (i, s) in self.steps.iter().enumerate() {
                out.push_str(&format!("  {}. {}\n", i + 1, s.summary()));
            }
            out.push_str("\nSQL (passwords masked):\n");
            for s in &self.steps {
                match &s.database {
                    Some(db) => out.push_str(&format!("\\c {db}\n")),
                    None => out.push_str("-- in the admin database\n"),
                }
                for line in &s.sql {
                    out.push_str(line);
                    out.push_str(";\n");
                }
            }
        }
        for f in self.blockers.iter().chain(&self.notes) {
            out.push_str(&format!("{f}\n"));
            if let Some(fix) = &f.fix {
                out.push_str(&format!("    fix: {}\n", fix.text));
            }
        }
        out
    }
}

/// How an applied step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepOutcome {
    /// Carried out.
    Done,
    /// Someone else (a concurrent bootstrap) had already done it ("already exists").
    AlreadyDone,
}

/// A step carried out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AppliedStep {
    /// The step.
    pub step: Step,
    /// How it ended.
    pub outcome: StepOutcome,
}

/// A backend that blocked a step (from `pg_blocking_pids`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Blocker {
    /// Its process id.
    pub pid: i32,
    /// Its user.
    pub user: Option<String>,
    /// Its `application_name`.
    pub application_name: Option<String>,
    /// When its current query (or transaction's last statement) started, UTC, RFC 3339.
    pub query_start: Option<String>,
    /// Its state (`idle in transaction`, `active`, ...).
    pub state: Option<String>,
}

/// The step that failed, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FailedStep {
    /// The step.
    pub step: Step,
    /// The SQLSTATE, when the server answered with an error.
    pub sqlstate: Option<String>,
    /// The server's (or the connection's) message; never carries a password.
    pub message: String,
    /// The backends that held the lock it waited for, when it timed out waiting.
    pub blocked_by: Vec<Blocker>,
    /// The [`diagnose`](crate::diagnose) id, for a connection failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diagnosis: Option<&'static str>,
}

/// What [`Bootstrap::apply`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Applied {
    /// The steps carried out, in order.
    pub steps: Vec<AppliedStep>,
    /// The step that failed; the steps after it were not attempted.
    pub failed: Option<FailedStep>,
    /// The plan was blocked: nothing was attempted (see [`Plan::blockers`]).
    pub blocked: bool,
}

impl Applied {
    /// Whether every step succeeded.
    pub fn succeeded(&self) -> bool {
        self.failed.is_none() && !self.blocked
    }
}

type StepHook = Arc<dyn Fn(&AppliedStep) + Send + Sync>;

/// Bootstraps the target's server. Build with [`Bootstrap::builder`].
#[derive(Clone)]
pub struct Bootstrap {
    target: Target,
    password: Option<SecretString>,
    reset_password: bool,
    statement_timeout: Duration,
    lock_timeout: Duration,
    lock_wait: Duration,
    provider: Option<Arc<dyn Provider>>,
    hook: Option<StepHook>,
}

impl fmt::Debug for Bootstrap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bootstrap")
            .field("target", &self.target)
            .field("password", &self.password)
            .field("reset_password", &self.reset_password)
            .field("statement_timeout", &self.statement_timeout)
            .field("lock_timeout", &self.lock_timeout)
            .field("provider", &self.provider)
            .finish_non_exhaustive()
    }
}

/// Builds a [`Bootstrap`]; setters never fail, [`build`](BootstrapBuilder::build) validates.
#[derive(Clone)]
pub struct BootstrapBuilder {
    inner: Bootstrap,
}

impl fmt::Debug for BootstrapBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.fmt(f)
    }
}

impl Bootstrap {
    /// Starts a bootstrap of `target` (admin DSN, app role, components and their databases).
    pub fn builder(target: Target) -> BootstrapBuilder {
        BootstrapBuilder {
            inner: Bootstrap {
                target,
                password: None,
                reset_password: false,
                statement_timeout: Duration::from_secs(60),
                lock_timeout: Duration::from_secs(10),
                lock_wait: Duration::from_secs(60),
                provider: None,
                hook: None,
            },
        }
    }

    /// The target.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// Reads the server and computes what is missing. Changes nothing.
    ///
    /// Errors: [`Error::InvalidInput`](crate::Error::InvalidInput) (`password`) when the role
    /// must be created and no password was given; [`Error::Connect`](crate::Error::Connect) /
    /// [`Error::Database`](crate::Error::Database) when the server could not be read.
    pub async fn plan(&self) -> Result<Plan> {
        plan::plan(self).await
    }

    /// Applies `plan` under the advisory lock. A blocked plan is not attempted
    /// ([`Applied::blocked`]). A failing step stops the run and is reported in
    /// [`Applied::failed`], with the steps done before it.
    ///
    /// Errors: only when the admin session cannot be opened (nothing was changed).
    pub async fn apply(&self, plan: &Plan) -> Result<Applied> {
        apply::apply(self, plan).await
    }

    /// Plans and applies in one go, on one admin session that holds the advisory lock from
    /// before the plan is read (so a concurrent run's changes are seen, not collided with).
    pub async fn run(&self) -> Result<(Plan, Applied)> {
        apply::run(self).await
    }

    /// Connects as the app role to each database and does what the migration Jobs do (`CREATE
    /// SCHEMA`, `CREATE TABLE` in `public` and in a schema, a `vector` column and an `hnsw`
    /// index where the component needs pgvector), in a transaction that is rolled back. One
    /// `bootstrap.proof` finding per component; `Skip` without a password.
    pub async fn prove(&self) -> Result<Vec<Finding>> {
        proof::prove(self).await
    }
}

impl BootstrapBuilder {
    /// The app role's password (from a file, an environment variable or stdin; never argv).
    /// Needed to create the role, to reset its password and to prove the databases.
    pub fn with_password(mut self, password: SecretString) -> Self {
        self.inner.password = Some(password);
        self
    }

    /// Changes the password of an app role that already exists. Default: an existing role's
    /// password is left alone.
    pub fn with_reset_password(mut self, reset: bool) -> Self {
        self.inner.reset_password = reset;
        self
    }

    /// `statement_timeout` on every session (default 60 s).
    pub fn with_statement_timeout(mut self, timeout: Duration) -> Self {
        self.inner.statement_timeout = timeout;
        self
    }

    /// `lock_timeout` on every session (default 10 s).
    pub fn with_lock_timeout(mut self, timeout: Duration) -> Self {
        self.inner.lock_timeout = timeout;
        self
    }

    /// How long to wait for a concurrent bootstrap's advisory lock (default 60 s).
    pub fn with_lock_wait(mut self, timeout: Duration) -> Self {
        self.inner.lock_wait = timeout;
        self
    }

    /// A provider that can add `vector` to the extension allow-list
    /// ([`Capabilities::allow_extensions`](crate::provider::Capabilities::allow_extensions)):
    /// when the allow-list blocks pgvector, the plan then fixes it instead of stopping.
    pub fn with_provider(mut self, provider: Arc<dyn Provider>) -> Self {
        self.inner.provider = Some(provider);
        self
    }

    /// Calls `hook` after each step is applied (progress output; tests interrupt a run with it).
    pub fn with_step_hook(mut self, hook: impl Fn(&AppliedStep) + Send + Sync + 'static) -> Self {
        self.inner.hook = Some(Arc::new(hook));
        self
    }

    /// Validates: the app role and every database name follow the strict name rule, the
    /// password (if any) is usable for SCRAM, `reset_password` has a password, timeouts are not
    /// zero. Nothing is sent to the server.
    pub fn build(self) -> Result<Bootstrap> {
        let b = self.inner;
        validate_role_name("app_role", b.target.app_role())?;
        let mut seen = std::collections::BTreeMap::new();
        for c in b.target.components() {
            let db = b.target.database(c);
            validate_database_name("database", &db)?;
            if let Some(other) = seen.insert(db.clone(), c) {
                return Err(crate::Error::input(
                    "database",
                    db,
                    format!(
                        "is the database of both {other} and {c}; each component needs its own"
                    ),
                ));
            }
        }
        if let Some(pw) = &b.password {
            scram_verifier_with(pw, b"validate", 1)?;
        }
        if b.reset_password && b.password.is_none() {
            return Err(crate::Error::input(
                "reset_password",
                "true",
                "needs a password (from a file, an environment variable or stdin)",
            ));
        }
        for (field, d) in [
            ("statement_timeout", b.statement_timeout),
            ("lock_timeout", b.lock_timeout),
            ("lock_wait", b.lock_wait),
        ] {
            if d.as_millis() == 0 {
                return Err(crate::Error::input(
                    field,
                    format!("{d:?}"),
                    "must be at least 1 ms",
                ));
            }
        }
        Ok(b)
    }
}

//! The runbook's "Verification", proved with the DSN each app itself uses.
//!
//! For each enabled component, [`verify`] takes the DSN the app will read (from the rendered
//! `secrets/<app>.dsn` files, see [`dsns_from_dir`], or given one by one) and checks:
//!
//! - the host is the managed host, not the bundled in-cluster service (`db`, `db.<ns>`,
//!   `db.<ns>.svc`, `db.<ns>.svc.cluster.local`, or any other `*.svc[.cluster.local]` name);
//! - the database is the component's;
//! - the app's own credentials and TLS settings connect (failures carry their
//!   [`diagnosis`](crate::diagnose));
//! - the migrations ran: Drizzle's `drizzle.__drizzle_migrations` exists and has rows (the
//!   latest `created_at` and hash are reported);
//! - pgvector is installed in the databases that need it.
//!
//! The Kubernetes half of the runbook's Verification (no `db` Deployment, migration Jobs
//! Complete, Deployments Ready, the DSN a Deployment reads) is in [`kube`], given a kubeconfig.
//!
//! ```no_run
//! # async fn run() -> scrydon_byodb::Result<()> {
//! use scrydon_byodb::catalog::Component;
//! use scrydon_byodb::verify::{verify, VerifyOptions};
//!
//! let dsn = "postgres://scrydon:pw@pg.example.com/auth?sslmode=verify-full".parse()?;
//! let findings = verify(&VerifyOptions::new().with_component(Component::Auth, dsn)).await;
//! assert!(findings.iter().all(|f| !f.is_failure()));
//! # Ok(())
//! # }
//! ```

pub mod kube;

use std::path::Path;

use crate::catalog::Component;
use crate::connect::{connect, ConnectOptions};
use crate::diagnose::{self, SqlContext};
use crate::dsn::{Dsn, Host};
use crate::report::{Finding, Fix, Status};
use crate::{Error, Result};

/// Finding ids of `verify`.
pub mod ids {
    pub use crate::report::ids::{
        VERIFY_CONNECT as CONNECT, VERIFY_DATABASE as DATABASE, VERIFY_HOST as HOST,
        VERIFY_MIGRATIONS as MIGRATIONS, VERIFY_PGVECTOR as PGVECTOR,
    };
}

const RUNBOOK: &str = "runbook: Verification";

/// Which components to verify, with which DSNs.
#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    components: Vec<(Component, Dsn)>,
    connect: ConnectOptions,
}

impl VerifyOptions {
    /// No components yet; default connect options.
    pub fn new() -> Self {
        Self::default()
    }

    /// Verify `component` with the DSN its app uses (replaces an earlier one).
    pub fn with_component(mut self, component: Component, dsn: Dsn) -> Self {
        self.components.retain(|(c, _)| *c != component);
        self.components.push((component, dsn));
        self
    }

    /// Connect options (timeouts, a TLS connector).
    pub fn with_connect_options(mut self, options: ConnectOptions) -> Self {
        self.connect = options;
        self
    }

    /// The components set so far.
    pub fn components(&self) -> impl Iterator<Item = Component> + '_ {
        self.components.iter().map(|(c, _)| *c)
    }
}

/// The DSNs `render` wrote into `dir` (`secrets/<app>.dsn`), for each component that has one.
/// A file that is present but does not parse is an error naming it.
pub fn dsns_from_dir(dir: &Path) -> Result<Vec<(Component, Dsn)>> {
    let mut out = Vec::new();
    for c in Component::ALL {
        let path = dir.join(crate::render::layout::secret_dsn_file(c));
        match std::fs::read_to_string(&path) {
            Ok(text) => out.push((c, dsn_from_text(&path, &text)?)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(&path, e)),
        }
    }
    Ok(out)
}

/// Reads one DSN file (as `render` writes it: the DSN, no trailing newline; one is tolerated).
pub fn dsn_from_file(path: &Path) -> Result<Dsn> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    dsn_from_text(path, &text)
}

fn dsn_from_text(path: &Path, text: &str) -> Result<Dsn> {
    let line = text.strip_suffix('\n').unwrap_or(text);
    let line = line.strip_suffix('\r').unwrap_or(line);
    Dsn::parse(line).map_err(|e| {
        Error::input(
            "DSN file",
            path.display().to_string(),
            format!("does not hold a valid DSN: {e}"),
        )
    })
}

/// Whether a host name is a Kubernetes in-cluster service name: the bundled database's `db`
/// (bare, `db.<ns>`, `db.<ns>.svc`, `db.<ns>.svc.cluster.local`) or any `*.svc` /
/// `*.svc.cluster.local` name.
pub fn is_in_cluster_host(host: &str) -> bool {
    let h = host.trim_end_matches('.').to_ascii_lowercase();
    let labels: Vec<&str> = h.split('.').collect();
    h == "db"
        || (labels.len() == 2 && labels[0] == "db")
        || h.ends_with(".svc")
        || h.ends_with(".svc.cluster.local")
}

/// Verifies every component (see the module documentation). Never fails as a whole: what could
/// not be checked is a finding.
pub async fn verify(options: &VerifyOptions) -> Vec<Finding> {
    let mut findings = Vec::new();
    for (component, dsn) in &options.components {
        verify_one(*component, dsn, &options.connect, &mut findings).await;
    }
    findings
}

async fn verify_one(c: Component, dsn: &Dsn, opts: &ConnectOptions, out: &mut Vec<Finding>) {
    let spec = c.spec();
    let f = |id, status| {
        Finding::new(id, status)
            .with_component(c)
            .with_reference(RUNBOOK)
    };
    // Host.
    let hosts: Vec<String> = match dsn.endpoints() {
        Ok(eps) => eps
            .iter()
            .filter_map(|e| match &e.host {
                Host::Tcp(h) => Some(h.clone()),
                _ => None,
            })
            .collect(),
        Err(e) => {
            out.push(f(ids::CONNECT, Status::Fail).with_observed(format!("DSN refused: {e}")));
            return;
        }
    };
    let in_cluster: Vec<&String> = hosts.iter().filter(|h| is_in_cluster_host(h)).collect();
    if in_cluster.is_empty() {
        out.push(f(ids::HOST, Status::Pass).with_observed(format!("host {}", hosts.join(","))));
    } else {
        out.push(
            f(ids::HOST, Status::Fail)
                .with_observed(format!(
                    "host {} is an in-cluster service name: the app still uses the bundled database",
                    in_cluster.iter().map(|h| h.as_str()).collect::<Vec<_>>().join(",")
                ))
                .with_remediation(format!(
                    "point {}'s Secret ({}, key {}) at the managed host, with infra.db.enabled=false",
                    c, spec.secret_name, spec.env_key
                )),
        );
    }
    // Database.
    let db = dsn.dbname().unwrap_or_default();
    if db == spec.database {
        out.push(f(ids::DATABASE, Status::Pass).with_observed(format!("database {db}")));
    } else {
        out.push(
            f(ids::DATABASE, Status::Fail)
                .with_observed(format!(
                    "database {db:?}, but {c} uses database {}",
                    spec.database
                ))
                .with_remediation(format!("set the DSN's dbname to {}", spec.database)),
        );
    }
    if !in_cluster.is_empty() {
        for id in [ids::CONNECT, ids::MIGRATIONS, ids::PGVECTOR] {
            out.push(
                f(id, Status::Skip).with_observed("not checked: the host is an in-cluster name"),
            );
        }
        return;
    }
    // Connect with the app's own credentials and TLS settings.
    let conn = match connect(dsn, opts).await {
        Ok(conn) => conn,
        Err(e) => {
            let mut finding = f(ids::CONNECT, Status::Fail).with_observed(e.to_string());
            if let Some(d) = diagnose::for_error(&e) {
                finding = finding.with_remediation(d.remediation).with_diagnosis(d.id);
            }
            out.push(finding);
            for id in [ids::MIGRATIONS, ids::PGVECTOR] {
                out.push(f(id, Status::Skip).with_observed("not checked: no connection"));
            }
            return;
        }
    };
    let info = conn.info();
    let tls = match &info.tls {
        Some(t) => format!("{} ({})", t.protocol, t.verification),
        None => "no TLS".to_owned(),
    };
    out.push(f(ids::CONNECT, Status::Pass).with_observed(format!(
        "connected as {} to {} (PostgreSQL {}), {tls}",
        info.user, info.dbname, info.server_version.text
    )));
    // Migrations.
    out.push(migrations(&conn, c, f(ids::MIGRATIONS, Status::Pass)).await);
    // pgvector.
    if !spec.needs_pgvector {
        out.push(
            f(ids::PGVECTOR, Status::Skip).with_observed(format!("{c} does not use pgvector")),
        );
        return;
    }
    let row = conn
        .query_one(
            "SELECT (SELECT extversion FROM pg_extension WHERE extname = 'vector'),
                    EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'vector')",
            &[],
        )
        .await;
    out.push(match row {
        Ok(r) => match r.get::<_, Option<String>>(0) {
            Some(v) => f(ids::PGVECTOR, Status::Pass).with_observed(format!("vector {v}")),
            None => {
                let d = diagnose::for_missing_extension(r.get(1));
                f(ids::PGVECTOR, Status::Fail)
                    .with_observed(format!(
                        "pgvector is not installed in database {}",
                        info.dbname
                    ))
                    .with_remediation(d.remediation)
                    .with_diagnosis(d.id)
                    .with_fix(Fix::sql_in(
                        spec.database,
                        "CREATE EXTENSION IF NOT EXISTS vector;",
                    ))
            }
        },
        Err(e) => f(ids::PGVECTOR, Status::Fail)
            .with_observed(format!("could not read pg_extension: {e}")),
    });
}

async fn migrations(conn: &tokio_postgres::Client, c: Component, base: Finding) -> Finding {
    let spec = c.spec();
    let rerun = format!(
        "kubectl delete job -l app={} -n <namespace> && helm upgrade ... (see commands/rerun-migrations.sh)",
        spec.migration_job
    );
    let exists = conn
        .query_one(
            "SELECT to_regclass('drizzle.__drizzle_migrations') IS NOT NULL",
            &[],
        )
        .await;
    match exists {
        Ok(r) if r.get::<_, bool>(0) => {}
        Ok(_) => {
            return Finding {
                status: Status::Fail,
                ..base
            }
            .with_observed("drizzle.__drizzle_migrations does not exist: the migration Job has not run against this database")
            .with_remediation(format!("check the {} Job (kubectl logs job/{}-<rev>) and re-run it", spec.migration_job, spec.migration_job))
            .with_fix(Fix::shell(rerun));
        }
        Err(e) => return failed(base, e),
    }
    let row = conn
        .query_one(
            "SELECT count(*),
                    (SELECT created_at::text FROM drizzle.__drizzle_migrations
                      ORDER BY created_at DESC NULLS LAST LIMIT 1),
                    (SELECT hash FROM drizzle.__drizzle_migrations
                      ORDER BY created_at DESC NULLS LAST LIMIT 1)
               FROM drizzle.__drizzle_migrations",
            &[],
        )
        .await;
    match row {
        Ok(r) => {
            let n: i64 = r.get(0);
            if n == 0 {
                Finding {
                    status: Status::Fail,
                    ..base
                }
                .with_observed("drizzle.__drizzle_migrations is empty: no migration was applied")
                .with_remediation(format!("re-run the {} Job", spec.migration_job))
                .with_fix(Fix::shell(rerun))
            } else {
                let created: Option<String> = r.get(1);
                let hash: Option<String> = r.get(2);
                base.with_observed(format!(
                    "{n} migrations applied; latest created_at {} hash {}",
                    created.unwrap_or_default(),
                    hash.unwrap_or_default()
                ))
            }
        }
        Err(e) => failed(base, e),
    }
}

fn failed(base: Finding, e: tokio_postgres::Error) -> Finding {
    let mut f = Finding {
        status: Status::Fail,
        ..base
    }
    .with_observed(format!("could not read drizzle.__drizzle_migrations: {e}"));
    if let Some(d) = e
        .code()
        .and_then(|c| diagnose::for_sqlstate(c, SqlContext::Statement))
    {
        f = f.with_remediation(d.remediation).with_diagnosis(d.id);
    }
    f
}

#[cfg(test)]
mod tests {
    use super::is_in_cluster_host;

    #[test]
    fn in_cluster_names() {
        for h in [
            "db",
            "db.scrydon-platform",
            "db.scrydon-platform.svc",
            "db.scrydon-platform.svc.cluster.local",
            "DB.x.svc.cluster.local.",
            "postgres.other.svc",
        ] {
            assert!(is_in_cluster_host(h), "{h}");
        }
        for h in [
            "pg.example.com",
            "db.example.com",
            "mydb.postgres.database.azure.com",
        ] {
            assert!(!is_in_cluster_host(h), "{h}");
        }
    }
}

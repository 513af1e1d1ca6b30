//! The runbook's "Restore onto managed Postgres", done properly.
//!
//! The runbook decompresses the bundled backup with `gunzip -k` (a second full copy on disk) and
//! runs `pg_restore -d "$DATABASE_URL"` (the password in `ps`). [`restore`] instead:
//!
//! 1. [`inspect`]s the archive by content: a `pg_dump --format=custom` archive, plain or gzip'd;
//!    plain SQL and anything else are refused with the reason;
//! 2. picks a `pg_restore` whose major version reads the archive's format version (or uses the
//!    one given), naming the client package to install if none does;
//! 3. checks that the target database is empty (no tables, sequences, views or functions outside
//!    extensions), unless [`RestoreOptions::with_clean`] (then `--clean --if-exists`);
//! 4. lists the archive's table of contents (`pg_restore -l`, streamed) and restores it with
//!    `--no-owner --no-privileges`, streaming the decompression into `pg_restore`'s stdin (memory
//!    independent of the archive's size). The connection goes to `-d` as a conninfo without
//!    password; the password goes through `PGPASSWORD`, never argv;
//! 5. compares the database with the table of contents (extensions, schemas, tables, indexes,
//!    sequences, views, functions; row estimates after `ANALYZE`) and turns what is missing into
//!    findings with a [`diagnosis`](crate::diagnose) (pgvector not available, role lacks CREATE).
//!
//! `pg_restore` reports errors as text only (it does not print SQLSTATEs); the restore counts
//! lines with its fixed `pg_restore: error: ` prefix and classifies failures by what the catalog
//! lacks afterwards, never by message text.

mod archive;
mod progress;
mod toc;
mod tool;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

pub use archive::{inspect, ArchiveInfo, ArchiveVersion, Compression};
pub use toc::{EntryKind, TocEntry};
pub use tool::PgRestoreTool;

use crate::connect::{connect, ConnectOptions};
use crate::diagnose;
use crate::dsn::Dsn;
use crate::report::{Finding, Fix, Status};
use crate::{Error, Result, SecretString};

/// Finding ids of the restore.
pub mod ids {
    pub use crate::report::ids::{
        RESTORE_ARCHIVE_UNREADABLE as ARCHIVE_UNREADABLE, RESTORE_COMPLETE as COMPLETE,
        RESTORE_DAPR_CRYPTO_KEY as DAPR_CRYPTO_KEY, RESTORE_OBJECT_MISSING as OBJECT_MISSING,
        RESTORE_PG_RESTORE_ERROR as PG_RESTORE_ERROR,
        RESTORE_PG_RESTORE_FAILED as PG_RESTORE_FAILED, RESTORE_ROLLOUT_RESTART as ROLLOUT_RESTART,
    };
}

const RUNBOOK: &str = "runbook: Restore onto managed Postgres";

/// What to restore where.
#[derive(Debug, Clone)]
pub struct RestoreOptions {
    archive: PathBuf,
    target: Dsn,
    clean: bool,
    pg_restore: Option<PathBuf>,
    progress: bool,
    namespaces: Vec<String>,
    connect: ConnectOptions,
}

impl RestoreOptions {
    /// Restore `archive` into the database `target` names. No `--clean`, no progress bar, the
    /// newest `pg_restore` installed, namespace `scrydon-platform` for the restart step.
    ///
    /// ```
    /// use scrydon_byodb::restore::RestoreOptions;
    ///
    /// let target = "postgres://scrydon_auth:pw@pg.example.com/auth?sslmode=verify-full"
    ///     .parse()
    ///     .unwrap();
    /// let options = RestoreOptions::new("backup.sql.gz", target).with_clean(true);
    /// # let _ = options;
    /// ```
    pub fn new(archive: impl Into<PathBuf>, target: Dsn) -> Self {
        RestoreOptions {
            archive: archive.into(),
            target,
            clean: false,
            pg_restore: None,
            progress: false,
            namespaces: Vec::new(),
            connect: ConnectOptions::new(),
        }
    }

    /// Restore into a database that is not empty, dropping what the archive re-creates first
    /// (`--clean --if-exists`).
    pub fn with_clean(mut self, clean: bool) -> Self {
        self.clean = clean;
        self
    }

    /// Use this `pg_restore` instead of the newest one installed.
    pub fn with_pg_restore(mut self, path: impl Into<PathBuf>) -> Self {
        self.pg_restore = Some(path.into());
        self
    }

    /// Draw a progress bar on stderr (the CLI turns it on when stderr is a terminal).
    pub fn with_progress(mut self, progress: bool) -> Self {
        self.progress = progress;
        self
    }

    /// A namespace whose Deployments read this database (for the `kubectl rollout restart`
    /// step); repeatable. Default: `scrydon-platform`.
    pub fn with_namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespaces.push(namespace.into());
        self
    }

    /// Connect options for the checks before and after (`pg_restore` uses the DSN itself).
    pub fn with_connect_options(mut self, options: ConnectOptions) -> Self {
        self.connect = options;
        self
    }
}

/// How much of the archive is in the database afterwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RestoreState {
    /// `pg_restore` succeeded and every object of the table of contents is there.
    Complete,
    /// Some objects are there, others are not, or `pg_restore` reported errors: the database
    /// holds a partial restore (drop and re-create it, or restore again with `--clean`).
    Partial,
    /// None of the archive's tables, indexes, views or functions are there.
    NothingRestored,
}

/// Rows of one restored table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TableRows {
    /// Schema.
    pub schema: String,
    /// Table.
    pub table: String,
    /// `pg_class.reltuples` after `ANALYZE` (`None`: the table is missing).
    pub rows_estimate: Option<f64>,
}

/// What [`restore`] did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RestoreReport {
    /// The archive.
    pub archive: ArchiveInfo,
    /// The `pg_restore` used.
    pub pg_restore: PgRestoreTool,
    /// The target, password masked.
    pub target: String,
    /// The outcome.
    pub state: RestoreState,
    /// `pg_restore`'s exit status (`None`: killed by a signal).
    pub exit_code: Option<i32>,
    /// Bytes of the archive file read.
    pub bytes_read: u64,
    /// How long `pg_restore` ran.
    #[serde(serialize_with = "secs")]
    pub duration: Duration,
    /// Entries of the table of contents, counted by kind.
    pub toc_counts: BTreeMap<EntryKind, usize>,
    /// Row estimates of the tables the archive has data for.
    pub tables: Vec<TableRows>,
    /// What was checked and found.
    pub findings: Vec<Finding>,
}

fn secs<S: serde::Serializer>(d: &Duration, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

impl RestoreReport {
    /// True when the restore is complete and nothing failed.
    pub fn succeeded(&self) -> bool {
        self.state == RestoreState::Complete && Status::worst(&self.findings) != Status::Fail
    }
}

/// Restores an archive (see the module documentation).
///
/// Errors (nothing was restored): [`Error::InvalidInput`] with field `archive` (not a custom
/// archive), `pg_restore` (none found, or too old for the archive), `target database` (not empty
/// and no `--clean`), `sslpassword` (an encrypted client key: its passphrase could only go on the
/// command line); [`Error::Connect`] when the target cannot be reached. Once `pg_restore` has
/// started, failures are findings in the report and [`RestoreReport::state`] says how much is in
/// the database.
pub async fn restore(options: &RestoreOptions) -> Result<RestoreReport> {
    let info = inspect(&options.archive)?;
    let tool = match &options.pg_restore {
        Some(path) => tool::probe(path)?,
        None => blocking(tool::find).await?,
    };
    let child_conn = child_connection(&options.target)?;

    let conn = connect(&options.target, &options.connect).await?;
    let server_major = (conn.info().server_version.num / 10000) as u32;
    tool::check_reads(&tool, &info, server_major)?;
    let dbname = conn.info().dbname.clone();
    let (relations, functions) = user_objects(&conn).await?;
    if (relations > 0 || functions > 0) && !options.clean {
        return Err(Error::input(
            "target database",
            dbname,
            format!("not empty ({relations} tables/sequences/views, {functions} functions outside extensions); restore into an empty database, or pass --clean to drop what the archive re-creates"),
        ));
    }

    // 1. The table of contents (also proves the archive's header and TOC are readable).
    let listed = {
        let info = info.clone();
        let path = tool.path.clone();
        blocking(move || {
            tool::run_streamed(&path, &["-l".into()], None, &info, Arc::default(), false)
        })
        .await?
    };
    if listed.status != Some(0) {
        return Err(Error::input(
            "archive",
            info.path.display().to_string(),
            format!(
                "pg_restore cannot read its table of contents: {}",
                listed
                    .errors
                    .first()
                    .map_or("no error reported", String::as_str)
            ),
        ));
    }
    let toc = toc::parse(&listed.stdout);
    let installed = names(&conn, "SELECT extname::text FROM pg_extension").await?;
    let list_file = ListFile::write(&toc, &installed)?;

    // 2. The restore, streamed.
    let mut args: Vec<String> = vec![
        "--no-owner".into(),
        "--no-privileges".into(),
        "-L".into(),
        list_file.path.display().to_string(),
    ];
    if options.clean {
        args.push("--clean".into());
        args.push("--if-exists".into());
    }
    let count = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let run = {
        let info = info.clone();
        let path = tool.path.clone();
        let count = count.clone();
        let progress = options.progress;
        blocking(move || {
            let _bar =
                progress.then(|| progress::Progress::start("restore", count.clone(), info.size));
            tool::run_streamed(&path, &args, Some(&child_conn), &info, count, true)
        })
        .await?
    };
    let duration = started.elapsed();
    drop(list_file);

    // 3. Compare with the catalog.
    let compared = compare(&conn, &toc).await?;
    let mut findings = vec![Finding::new(ids::DAPR_CRYPTO_KEY, Status::Warn)
        .with_observed("the database's Dapr state is encrypted with the key in Secret dapr-crypto-key")
        .with_remediation("restore the dapr-crypto-key Secret from the same backup set into the platform namespace, or the encrypted secrets in this database stay unreadable")
        .with_reference(RUNBOOK)];
    if let Some(e) = &run.read_error {
        findings.push(
            Finding::new(ids::ARCHIVE_UNREADABLE, Status::Fail)
                .with_observed(format!("reading {} stopped: {e}", info.path.display()))
                .with_remediation("the archive is truncated or corrupt: copy it again from the backup location and compare its checksum")
                .with_reference(RUNBOOK),
        );
    }
    for e in &run.errors {
        findings.push(
            Finding::new(ids::PG_RESTORE_ERROR, Status::Fail)
                .with_observed(e.clone())
                .with_reference(RUNBOOK),
        );
    }
    if run.status != Some(0) {
        findings.push(
            Finding::new(ids::PG_RESTORE_FAILED, Status::Fail)
                .with_observed(format!("pg_restore exited with {:?}", run.status))
                .with_remediation("see the errors above; the database holds a partial restore: drop and re-create it, or restore again with --clean")
                .with_reference(RUNBOOK),
        );
    }
    findings.extend(compared.missing_findings);
    let state = if compared.present == 0 && compared.expected > 0 {
        RestoreState::NothingRestored
    } else if run.status == Some(0)
        && run.read_error.is_none()
        && run.errors.is_empty()
        && compared.present == compared.expected
    {
        RestoreState::Complete
    } else {
        RestoreState::Partial
    };
    if state == RestoreState::Complete {
        findings.push(
            Finding::new(ids::COMPLETE, Status::Pass).with_observed(format!(
                "{} of {} objects of the table of contents are in database {}",
                compared.present,
                compared.expected,
                conn.info().dbname
            )),
        );
    }
    let namespaces = if options.namespaces.is_empty() {
        vec!["scrydon-platform".to_owned()]
    } else {
        options.namespaces.clone()
    };
    let commands: Vec<String> = namespaces
        .iter()
        .map(|ns| format!("kubectl rollout restart deployment -n {ns}"))
        .collect();
    findings.push(
        Finding::new(ids::ROLLOUT_RESTART, Status::Pass)
            .with_observed("apps keep cached state and open connections from before the restore")
            .with_remediation("restart the Deployments that read this database")
            .with_fix(Fix::shell(commands.join("\n")))
            .with_reference(RUNBOOK),
    );
    let mut toc_counts = BTreeMap::new();
    for e in &toc {
        *toc_counts.entry(e.kind).or_insert(0) += 1;
    }
    Ok(RestoreReport {
        archive: info,
        pg_restore: tool,
        target: options.target.to_string(),
        state,
        exit_code: run.status,
        bytes_read: count.load(Ordering::Relaxed),
        duration,
        toc_counts,
        tables: compared.tables,
        findings,
    })
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Io {
            path: None,
            source: std::io::Error::other(e),
        })?
}

/// The DSN for `-d` without its password, and the password apart.
fn child_connection(target: &Dsn) -> Result<tool::ChildConnection> {
    if target.ssl_password().is_some() {
        return Err(Error::input(
            "sslpassword",
            "********",
            "an encrypted client key's passphrase can only reach pg_restore on its command line; decrypt the key into a 0600 file (openssl pkey -in key.pem -out key.dec.pem) and point sslkey at it",
        ));
    }
    let mut without = target.clone();
    without.remove("password")?;
    let password = target
        .password()
        .filter(|p| !p.is_empty())
        .map(SecretString::new);
    Ok(tool::ChildConnection {
        // No password left in it: safe to expose as argv.
        conninfo: without.to_uri().expose_secret().to_owned(),
        password,
    })
}

/// A `-L` list file: the table of contents without the extensions the target has already and the
/// comments on extensions (only an extension's owner may drop it or comment on it, and the
/// target's extensions belong to the administrator who created them). Removed when dropped.
struct ListFile {
    path: PathBuf,
}

impl ListFile {
    fn write(toc: &[TocEntry], installed: &BTreeSet<String>) -> Result<ListFile> {
        use std::io::Write;
        let path = std::env::temp_dir().join(format!(
            "scrydon-byodb-restore-{}-{}.list",
            std::process::id(),
            rand::random::<u64>()
        ));
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        let list = ListFile { path };
        let skip = |e: &TocEntry| {
            e.kind == EntryKind::ExtensionComment
                || (e.kind == EntryKind::Extension && installed.contains(&e.name))
        };
        for e in toc.iter().filter(|e| !skip(e)) {
            writeln!(file, "{}", e.line).map_err(|err| Error::io(&list.path, err))?;
        }
        Ok(list)
    }
}

impl Drop for ListFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn db_err(operation: &str) -> impl FnOnce(tokio_postgres::Error) -> Error + '_ {
    move |source| Error::database(operation, source)
}

/// Relations (tables, sequences, views, foreign tables) and functions outside extensions and
/// the system schemas.
async fn user_objects(conn: &tokio_postgres::Client) -> Result<(i64, i64)> {
    let row = conn
        .query_one(
            "SELECT
               (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                 WHERE c.relkind IN ('r','p','S','v','m','f')
                   AND n.nspname NOT IN ('pg_catalog','information_schema')
                   AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'
                   AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                                   AND d.objid = c.oid AND d.deptype = 'e')),
               (SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                 WHERE n.nspname NOT IN ('pg_catalog','information_schema')
                   AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass
                                   AND d.objid = p.oid AND d.deptype = 'e'))",
            &[],
        )
        .await
        .map_err(db_err("count objects in the target database"))?;
    Ok((row.get(0), row.get(1)))
}

struct Compared {
    expected: usize,
    present: usize,
    tables: Vec<TableRows>,
    missing_findings: Vec<Finding>,
}

/// The first column of a query's rows.
async fn names(conn: &tokio_postgres::Client, sql: &str) -> Result<BTreeSet<String>> {
    Ok(conn
        .query(sql, &[])
        .await
        .map_err(db_err("read the catalog"))?
        .iter()
        .map(|r| r.get(0))
        .collect())
}

/// Compares the catalog with the table of contents.
async fn compare(conn: &tokio_postgres::Client, toc: &[TocEntry]) -> Result<Compared> {
    conn.batch_execute("ANALYZE")
        .await
        .map_err(db_err("ANALYZE after the restore"))?;
    let extensions = names(conn, "SELECT extname::text FROM pg_extension").await?;
    let available = names(conn, "SELECT name::text FROM pg_available_extensions").await?;
    let schemas: BTreeMap<String, bool> = conn
        .query(
            "SELECT nspname::text, has_schema_privilege(current_user, oid, 'CREATE') FROM pg_namespace",
            &[],
        )
        .await
        .map_err(db_err("list schemas"))?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let relations: BTreeMap<(String, String), (String, f64)> = conn
        .query(
            "SELECT n.nspname::text, c.relname::text, c.relkind::text, c.reltuples::float8
               FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace",
            &[],
        )
        .await
        .map_err(db_err("list relations"))?
        .iter()
        .map(|r| ((r.get(0), r.get(1)), (r.get(2), r.get(3))))
        .collect();
    let functions: BTreeSet<(String, String)> = conn
        .query(
            "SELECT n.nspname::text, p.proname::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace",
            &[],
        )
        .await
        .map_err(db_err("list functions"))?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();

    let mut out = Compared {
        expected: 0,
        present: 0,
        tables: Vec::new(),
        missing_findings: Vec::new(),
    };
    for e in toc {
        let schema = e.schema.clone().unwrap_or_default();
        let relkinds: &[&str] = match e.kind {
            EntryKind::Table => &["r", "p"],
            EntryKind::Index => &["i", "I"],
            EntryKind::Sequence => &["S"],
            EntryKind::View => &["v"],
            EntryKind::MaterializedView => &["m"],
            _ => &[],
        };
        let present = match e.kind {
            EntryKind::Extension => extensions.contains(&e.name),
            EntryKind::Schema => schemas.contains_key(&e.name),
            EntryKind::Function => {
                let name = e.name.split('(').next().unwrap_or(&e.name).to_owned();
                functions.contains(&(schema.clone(), name))
            }
            EntryKind::TableData => {
                let rel = relations.get(&(schema.clone(), e.name.clone()));
                out.tables.push(TableRows {
                    schema: schema.clone(),
                    table: e.name.clone(),
                    rows_estimate: rel.map(|(_, n)| n.max(0.0)),
                });
                continue;
            }
            EntryKind::Table
            | EntryKind::Index
            | EntryKind::Sequence
            | EntryKind::View
            | EntryKind::MaterializedView => relations
                .get(&(schema.clone(), e.name.clone()))
                .is_some_and(|(k, _)| relkinds.contains(&k.as_str())),
            EntryKind::ExtensionComment | EntryKind::Other => continue,
        };
        out.expected += 1;
        if present {
            out.present += 1;
            continue;
        }
        let what = match &e.schema {
            Some(s) => format!("{:?} {s}.{}", e.kind, e.name),
            None => format!("{:?} {}", e.kind, e.name),
        };
        let mut f = Finding::new(ids::OBJECT_MISSING, Status::Fail)
            .with_observed(format!("{what} is in the archive but not in the database"))
            .with_reference(RUNBOOK);
        let diagnosis = match e.kind {
            EntryKind::Extension => {
                Some(diagnose::for_missing_extension(available.contains(&e.name)))
            }
            _ if schemas.get(&schema) == Some(&false) => {
                diagnose::by_id(diagnose::ids::ROLE_LACKS_CREATE)
            }
            _ => None,
        };
        if let Some(d) = diagnosis {
            f = f.with_remediation(d.remediation).with_diagnosis(d.id);
        }
        if e.kind == EntryKind::Extension {
            f = f.with_fix(Fix::sql(format!(
                "CREATE EXTENSION IF NOT EXISTS {};",
                quote_ident(&e.name)
            )));
        }
        out.missing_findings.push(f);
    }
    Ok(out)
}

fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

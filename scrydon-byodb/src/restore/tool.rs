//! Finding a `pg_restore` that reads the archive, and running it with the password kept out of
//! its argv.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::thread;

use serde::Serialize;

use super::archive::{self, ArchiveInfo};
use crate::{Error, Result};

/// The `pg_restore` used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PgRestoreTool {
    /// Its path.
    pub path: PathBuf,
    /// Its major version.
    pub major: u32,
    /// What `--version` printed.
    pub version: String,
}

/// Runs `path --version` and reads the major version from `pg_restore (PostgreSQL) 15.20 ...`.
pub(crate) fn probe(path: &Path) -> Result<PgRestoreTool> {
    let out = Command::new(path)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| Error::io(path, e))?;
    let text = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let major = text
        .strip_prefix("pg_restore ")
        .and_then(|t| t.split_once(") "))
        .and_then(|(_, v)| {
            v.split(|c: char| !c.is_ascii_digit())
                .next()
                .and_then(|m| m.parse().ok())
        })
        .ok_or_else(|| {
            Error::input(
                "pg_restore",
                path.display().to_string(),
                format!("not a pg_restore: --version printed {text:?}"),
            )
        })?;
    Ok(PgRestoreTool {
        path: path.to_path_buf(),
        major,
        version: text,
    })
}

/// The newest `pg_restore` installed: the versioned directories of Debian/Ubuntu
/// (`/usr/lib/postgresql/<N>/bin`) and RHEL (`/usr/pgsql-<N>/bin`), then `PATH`.
pub(crate) fn find() -> Result<PgRestoreTool> {
    let mut candidates: Vec<PathBuf> = Vec::new();
    for (dir, prefix) in [("/usr/lib/postgresql", ""), ("/usr", "pgsql-")] {
        if let Ok(entries) = std::fs::read_dir(dir) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if let Some(v) = name.strip_prefix(prefix) {
                    if v.parse::<u32>().is_ok() {
                        candidates.push(e.path().join("bin/pg_restore"));
                    }
                }
            }
        }
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            candidates.push(dir.join("pg_restore"));
        }
    }
    candidates
        .iter()
        .filter(|p| p.is_file())
        .filter_map(|p| probe(p).ok())
        .max_by_key(|t| t.major)
        .ok_or_else(|| {
            Error::input(
                "pg_restore",
                "not found",
                "no pg_restore installed: install the PostgreSQL client (postgresql-client-<major> on Debian/Ubuntu, postgresql<major> on RHEL) for the server's major version or newer",
            )
        })
}

/// Checks that `tool` reads `info`'s archive version, naming what to install if not.
pub(crate) fn check_reads(
    tool: &PgRestoreTool,
    info: &ArchiveInfo,
    server_major: u32,
) -> Result<()> {
    if info.version.minor > archive::max_archive_minor(tool.major) || info.version.major != 1 {
        let need = info.version.min_pg_restore_major().max(server_major);
        return Err(Error::input(
            "pg_restore",
            tool.path.display().to_string(),
            format!(
                "pg_restore {} cannot read archive version {}; install pg_restore {need} or newer (postgresql-client-{need})",
                tool.major, info.version
            ),
        ));
    }
    Ok(())
}

/// Connection settings for the child: a conninfo without password for `-d`, the password for
/// `PGPASSWORD`.
pub(crate) struct ChildConnection {
    pub(crate) conninfo: String,
    pub(crate) password: Option<crate::SecretString>,
}

impl std::fmt::Debug for ChildConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChildConnection")
            .field("conninfo", &self.conninfo)
            .field("password", &self.password.as_ref().map(|_| "********"))
            .finish()
    }
}

/// What a streamed run of `pg_restore` produced.
#[derive(Debug)]
pub(crate) struct Run {
    pub(crate) status: Option<i32>,
    pub(crate) stdout: String,
    /// `pg_restore: error: ...` lines, each with its continuation lines.
    pub(crate) errors: Vec<String>,
    /// Reading or decompressing the archive failed (corrupt gzip, I/O).
    pub(crate) read_error: Option<String>,
}

/// Spawns `pg_restore args...`, streams the archive into its stdin, and collects its output.
/// `drain`: read the archive to its end even when `pg_restore` stops reading early.
pub(crate) fn run_streamed(
    tool: &Path,
    args: &[String],
    conn: Option<&ChildConnection>,
    info: &ArchiveInfo,
    count: Arc<AtomicU64>,
    drain: bool,
) -> Result<Run> {
    let mut cmd = Command::new(tool);
    cmd.args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(conn) = conn {
        cmd.arg("-d").arg(&conn.conninfo);
        if let Some(pw) = &conn.password {
            cmd.env("PGPASSWORD", pw.expose_secret());
        }
    }
    let mut child = cmd.spawn().map_err(|e| Error::io(tool, e))?;
    let mut input = archive::open_stream(info, count)?;
    let mut stdin = child.stdin.take();
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let (read_error, out, err) = thread::scope(|s| {
        let out = s.spawn(move || {
            let mut text = String::new();
            if let Some(mut o) = stdout {
                let _ = o.read_to_string(&mut text);
            }
            text
        });
        let err = s.spawn(move || {
            let mut errors: Vec<String> = Vec::new();
            if let Some(e) = stderr {
                for line in BufReader::new(e).lines().map_while(|l| l.ok()) {
                    // pg_restore's fixed prefixes: "pg_restore: error: " opens an error; lines
                    // without the "pg_restore: " prefix (DETAIL, Command was) continue it.
                    // A line without any prefix before the first error is an error of its own
                    // (pg_malloc's bare "out of memory").
                    if line.starts_with("pg_restore: error: ") {
                        errors.push(line);
                    } else if !line.starts_with("pg_restore: ") {
                        match errors.last_mut() {
                            Some(last) => {
                                last.push('\n');
                                last.push_str(&line);
                            }
                            None => errors.push(line),
                        }
                    }
                }
            }
            errors
        });
        let mut read_error = None;
        if let Some(mut sink) = stdin.take() {
            let mut buf = vec![0u8; 128 * 1024];
            loop {
                let n = match input.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        read_error = Some(e.to_string());
                        break;
                    }
                };
                // A closed pipe means pg_restore stopped reading (done with -l, or failed): its
                // exit status and stderr say which. With `drain`, the rest of the archive is
                // still read, to tell a corrupt archive from a failing restore.
                if sink.write_all(&buf[..n]).is_err() {
                    if drain {
                        if let Err(e) = io::copy(&mut input, &mut io::sink()) {
                            read_error = Some(e.to_string());
                        }
                    }
                    break;
                }
            }
            drop(sink);
        }
        (
            read_error,
            out.join().unwrap_or_default(),
            err.join().unwrap_or_default(),
        )
    });
    let status = child.wait().map_err(|e| Error::io(tool, e))?;
    Ok(Run {
        status: status.code(),
        stdout: out,
        errors: err,
        read_error,
    })
}

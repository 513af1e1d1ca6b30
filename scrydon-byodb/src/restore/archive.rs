//! What an archive is, from its first bytes (never from its file name), and how to read it as a
//! stream.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use flate2::read::MultiGzDecoder;
use serde::Serialize;

use crate::{Error, Result};

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const PGDMP: &[u8; 5] = b"PGDMP";
/// `archCustom` in pg_dump's `pg_backup.h`.
const ARCH_CUSTOM: u8 = 1;

/// How the archive's bytes are wrapped on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    /// The `pg_dump --format=custom` archive as written.
    None,
    /// The archive piped through gzip (the bundled backup CronJob's `*.sql.gz`).
    Gzip,
}

/// The custom-format header's archive version (`K_VERS_1_14` is `1.14.0`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct ArchiveVersion {
    /// Major (always 1 so far).
    pub major: u8,
    /// Minor: 14 up to PostgreSQL 15, 15 for 16, 16 for 17 and 18.
    pub minor: u8,
    /// Revision.
    pub rev: u8,
}

impl std::fmt::Display for ArchiveVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.rev)
    }
}

impl ArchiveVersion {
    /// The oldest `pg_restore` major version that reads this archive version.
    pub fn min_pg_restore_major(self) -> u32 {
        match (self.major, self.minor) {
            (1, 0..=14) => 12,
            (1, 15) => 16,
            (1, 16) => 17,
            // Unknown and newer: at least one past the newest we know of.
            _ => 19,
        }
    }
}

/// The newest archive version a `pg_restore` of this major version reads.
pub(crate) fn max_archive_minor(pg_restore_major: u32) -> u8 {
    match pg_restore_major {
        0..=15 => 14,
        16 => 15,
        _ => 16,
    }
}

/// What [`inspect`] found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ArchiveInfo {
    /// The file.
    pub path: PathBuf,
    /// Its size on disk, in bytes (compressed size when gzip'd).
    pub size: u64,
    /// How it is wrapped.
    pub compression: Compression,
    /// The custom-format archive version.
    pub version: ArchiveVersion,
    /// The header's integer size (4 on every platform PostgreSQL supports).
    pub int_size: u8,
    /// The header's file-offset size.
    pub offset_size: u8,
}

/// Reads an archive's first bytes and says what it is: a `pg_dump --format=custom` archive,
/// plain or gzip-compressed. Anything else is refused with [`Error::InvalidInput`] (field
/// `archive`) saying what it looks like instead:
///
/// - a plain SQL dump (`pg_dump` without `--format`, gzip'd or not) is refused rather than fed to
///   `psql`: it cannot be restored with `--no-owner --no-privileges`, carries `\connect` and
///   other meta-commands, and gives no table of contents to check the result against. Re-dump
///   with `--format=custom`, or restore it yourself with `psql -v ON_ERROR_STOP=1`.
/// - directory and tar archives are refused (a directory cannot be streamed; tar archives are
///   rare enough to ask for a custom one).
pub fn inspect(path: &Path) -> Result<ArchiveInfo> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let size = file.metadata().map_err(|e| Error::io(path, e))?.len();
    let mut first = [0u8; 2];
    let n = read_up_to(&mut (&file), &mut first).map_err(|e| Error::io(path, e))?;
    let (compression, head) = if n == 2 && first == GZIP_MAGIC {
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        let mut decoder = MultiGzDecoder::new(file);
        let mut head = [0u8; 64];
        let n = read_up_to(&mut decoder, &mut head).map_err(|e| {
            refuse(
                path,
                format!("gzip-compressed, but the gzip stream is unreadable: {e}"),
            )
        })?;
        (Compression::Gzip, head[..n].to_vec())
    } else {
        let mut file = File::open(path).map_err(|e| Error::io(path, e))?;
        let mut head = [0u8; 64];
        let n = read_up_to(&mut file, &mut head).map_err(|e| Error::io(path, e))?;
        (Compression::None, head[..n].to_vec())
    };
    let wrapped = match compression {
        Compression::Gzip => "gzip-compressed ",
        Compression::None => "",
    };
    if head.len() >= 11 && head.starts_with(PGDMP) {
        let version = ArchiveVersion {
            major: head[5],
            minor: head[6],
            rev: head[7],
        };
        let (int_size, offset_size, format) = (head[8], head[9], head[10]);
        if format != ARCH_CUSTOM {
            return Err(refuse(
                path,
                format!(
                    "a {wrapped}pg_dump archive of format {format} (directory or tar), not \
                     --format=custom; re-dump with pg_dump --format=custom"
                ),
            ));
        }
        return Ok(ArchiveInfo {
            path: path.to_path_buf(),
            size,
            compression,
            version,
            int_size,
            offset_size,
        });
    }
    if head.is_empty() {
        return Err(refuse(path, format!("the {wrapped}file is empty")));
    }
    if looks_like_sql(&head) {
        return Err(refuse(
            path,
            format!(
                "a {wrapped}plain SQL dump, not a pg_dump --format=custom archive; re-dump with \
                 pg_dump --format=custom, or restore it with psql -v ON_ERROR_STOP=1"
            ),
        ));
    }
    let hex: Vec<String> = head.iter().take(8).map(|b| format!("{b:02x}")).collect();
    Err(refuse(
        path,
        format!(
            "{wrapped}content is not a pg_dump archive (starts with {}; expected the PGDMP \
             header)",
            hex.join(" ")
        ),
    ))
}

fn refuse(path: &Path, reason: String) -> Error {
    Error::input("archive", path.display().to_string(), reason)
}

/// Plain SQL: printable text, as `pg_dump` writes it (`--`, `SET`, `\connect`, ...).
fn looks_like_sql(head: &[u8]) -> bool {
    head.iter()
        .all(|&b| b == b'\n' || b == b'\r' || b == b'\t' || (0x20..0x7f).contains(&b) || b >= 0x80)
        && std::str::from_utf8(head).is_ok_and(|s| {
            let s = s.trim_start();
            s.starts_with("--")
                || s.starts_with("SET ")
                || s.starts_with("\\")
                || s.starts_with("CREATE ")
                || s.starts_with("BEGIN")
                || s.starts_with("SELECT ")
        })
}

fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Counts the bytes read from the file (before decompression), for the progress bar.
struct Counting<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// The archive's content as a stream: decompressed on the fly, in constant memory.
pub(crate) fn open_stream(
    info: &ArchiveInfo,
    count: Arc<AtomicU64>,
) -> Result<Box<dyn Read + Send>> {
    let file = File::open(&info.path).map_err(|e| Error::io(&info.path, e))?;
    let counting = Counting { inner: file, count };
    Ok(match info.compression {
        Compression::None => Box::new(counting),
        Compression::Gzip => Box::new(MultiGzDecoder::new(counting)),
    })
}

//! The cache of initdb'd template data directories: `initdb` costs about a second, a copy of its
//! result about a tenth of that, so each (binary, superuser, locale) is initialised once per
//! machine and copied for every cluster.

use std::collections::hash_map::DefaultHasher;
use std::fs;
use std::hash::{Hash, Hasher};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::UNIX_EPOCH;

use crate::bins::PgBins;
use crate::error::{Error, IoContext, Result};
use crate::fsutil;
use crate::process::{self, RunAs};

/// Environment variable overriding the template cache directory (default
/// `<scratch>/scrydon-testbed-cache-<uid>`, where scratch is `$SCRYDON_TESTBED_TMPDIR`, else
/// `/dev/shm`, else the system temp dir).
pub const CACHE_ENV: &str = "SCRYDON_TESTBED_CACHE";

/// Bumped whenever the layout or initdb options of a template change.
const FORMAT: u32 = 1;

/// The include line every template's postgresql.conf ends with; each cluster writes the file.
pub(crate) const TESTBED_CONF: &str = "testbed.conf";

/// An initdb'd data directory to copy, and the superuser password it was initialised with.
#[derive(Debug)]
pub(crate) struct Template {
    pub(crate) data: PathBuf,
    pub(crate) password: String,
}

fn cache_root() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os(CACHE_ENV) {
        return Ok(PathBuf::from(dir));
    }
    Ok(fsutil::scratch_root().join(format!("scrydon-testbed-cache-{}", process::euid()?)))
}

fn key(bins: &PgBins, superuser: &str, locale: &str) -> Result<String> {
    let postgres = bins.tool("postgres");
    let meta = fs::metadata(&postgres).ctx(|| format!("stat {}", postgres.display()))?;
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let mut hasher = DefaultHasher::new();
    (FORMAT, &bins.dir, meta.len(), mtime, superuser, locale).hash(&mut hasher);
    Ok(format!(
        "pg{}-{:016x}",
        bins.version.major(),
        hasher.finish()
    ))
}

fn read_valid(dir: &Path) -> Option<Template> {
    let data = dir.join("data");
    if !data.join("PG_VERSION").is_file() || !data.join("postgresql.conf").is_file() {
        return None;
    }
    let password = fs::read_to_string(dir.join("password")).ok()?;
    Some(Template {
        data,
        password: password.trim_end().to_owned(),
    })
}

/// The template for these binaries, superuser and locale, creating it if needed. Safe against
/// other threads and processes doing the same: they serialise on a lock file, and a template
/// only appears (by rename) once complete.
pub(crate) fn ensure(
    bins: &PgBins,
    superuser: &str,
    locale: &str,
    run_as: &RunAs,
) -> Result<Template> {
    let root = cache_root()?;
    let key = key(bins, superuser, locale)?;
    let dir = root.join(&key);
    if let Some(template) = read_valid(&dir) {
        return Ok(template);
    }

    fs::create_dir_all(&root).ctx(|| format!("create template cache {}", root.display()))?;
    let meta = fs::metadata(&root).ctx(|| format!("stat {}", root.display()))?;
    if meta.uid() != process::euid()? {
        return Err(Error::Invalid(format!(
            "template cache {} belongs to uid {}, not us; set {CACHE_ENV} elsewhere",
            root.display(),
            meta.uid()
        )));
    }
    fsutil::set_mode(&root, 0o755)?;

    let lock_path = root.join(format!("{key}.lock"));
    let lock = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .ctx(|| format!("open {}", lock_path.display()))?;
    lock.lock()
        .ctx(|| format!("lock {}", lock_path.display()))?;

    // Someone else may have built it while we waited.
    if let Some(template) = read_valid(&dir) {
        return Ok(template);
    }
    if dir.exists() {
        // A leftover that is not a complete template (older layout, manual tampering).
        fs::remove_dir_all(&dir).ctx(|| format!("remove broken template {}", dir.display()))?;
    }

    let build = tempfile::Builder::new()
        .prefix("build-")
        .tempdir_in(&root)
        .ctx(|| format!("create a build directory in {}", root.display()))?;
    fsutil::set_mode(build.path(), 0o755)?;
    run_as.chown(build.path())?;

    let password = fsutil::random_token(32)?;
    let pwfile = build.path().join("pwfile");
    fsutil::write_file(&pwfile, password.as_bytes(), 0o600)?;
    run_as.chown(&pwfile)?;

    let data = build.path().join("data");
    let mut cmd = Command::new(bins.tool("initdb"));
    cmd.arg("-D")
        .arg(&data)
        .arg("-U")
        .arg(superuser)
        .arg(format!("--pwfile={}", pwfile.display()))
        .args(["--auth=scram-sha-256", "--encoding=UTF8"])
        .arg(format!("--locale={locale}"))
        .args(["--no-sync", "--no-instructions"])
        .current_dir(build.path());
    process::clean_env(&mut cmd);
    run_as.apply(&mut cmd);
    process::run(cmd, &format!("initdb ({})", bins.version))?;
    fs::remove_file(&pwfile).ctx(|| format!("remove {}", pwfile.display()))?;

    let conf = data.join("postgresql.conf");
    let mut text = fs::read_to_string(&conf).ctx(|| format!("read {}", conf.display()))?;
    text.push_str(&format!(
        "\n# scrydon-testbed: per-cluster settings\ninclude '{TESTBED_CONF}'\n"
    ));
    fs::write(&conf, text).ctx(|| format!("write {}", conf.display()))?;
    fsutil::write_file(&build.path().join("password"), password.as_bytes(), 0o600)?;

    let built = build.keep();
    if let Err(e) = fs::rename(&built, &dir) {
        let _ = fs::remove_dir_all(&built);
        return read_valid(&dir).ok_or_else(|| {
            Error::io(
                format!("rename {} to {}", built.display(), dir.display()),
                e,
            )
        });
    }
    read_valid(&dir).ok_or_else(|| {
        Error::State(format!(
            "template {} incomplete after initdb",
            dir.display()
        ))
    })
}

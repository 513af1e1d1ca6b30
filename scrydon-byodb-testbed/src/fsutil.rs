//! Small file-system helpers: files with modes, ownership, random tokens, log tails.

use std::fs::{self, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use crate::error::{IoContext, Result};

/// Writes `contents` to `path` (truncating), then sets `mode` (so an existing file's mode is
/// corrected too).
pub(crate) fn write_file(path: &Path, contents: &[u8], mode: u32) -> Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(path)
        .ctx(|| format!("create {}", path.display()))?;
    file.write_all(contents)
        .ctx(|| format!("write {}", path.display()))?;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .ctx(|| format!("chmod {:o} {}", mode, path.display()))
}

/// Creates directory `path` (not its parents) with `mode`.
pub(crate) fn make_dir(path: &Path, mode: u32) -> Result<()> {
    fs::create_dir(path).ctx(|| format!("create directory {}", path.display()))?;
    set_mode(path, mode)
}

/// Sets the permission bits of `path`.
pub(crate) fn set_mode(path: &Path, mode: u32) -> Result<()> {
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .ctx(|| format!("chmod {:o} {}", mode, path.display()))
}

/// Changes the owner of `path` (not following symlinks' targets beyond `path` itself).
pub(crate) fn chown(path: &Path, uid: u32, gid: u32) -> Result<()> {
    std::os::unix::fs::chown(path, Some(uid), Some(gid))
        .ctx(|| format!("chown {uid}:{gid} {}", path.display()))
}

/// `count` random characters from `[A-Za-z0-9]`, read from the kernel's CSPRNG.
pub(crate) fn random_token(count: usize) -> Result<String> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut out = String::with_capacity(count);
    let mut urandom = fs::File::open("/dev/urandom").ctx(|| "open /dev/urandom")?;
    let mut buf = [0u8; 64];
    while out.len() < count {
        urandom.read_exact(&mut buf).ctx(|| "read /dev/urandom")?;
        for b in buf {
            // 248 = 62 * 4: reject the top values so each character is equally likely.
            if b < 248 && out.len() < count {
                out.push(char::from(ALPHABET[usize::from(b) % ALPHABET.len()]));
            }
        }
    }
    Ok(out)
}

/// The last `lines` lines of the file at `path` (lossy UTF-8), or a note that it is unreadable.
pub(crate) fn tail(path: &Path, lines: usize) -> String {
    match fs::read(path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let all: Vec<&str> = text.lines().collect();
            let start = all.len().saturating_sub(lines);
            all[start..].join("\n")
        }
        Err(e) => format!("(cannot read {}: {e})", path.display()),
    }
}

/// Whether a process with this pid exists (and is not a zombie).
pub(crate) fn pid_alive(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesised command name, which may itself contain ')'.
        Ok(stat) => match stat.rfind(')') {
            Some(i) => !matches!(stat[i + 1..].trim_start().chars().next(), Some('Z' | 'X')),
            None => true,
        },
        Err(_) => false,
    }
}

/// Environment variable choosing where clusters, PgBouncers and the template cache live.
pub const SCRATCH_ENV: &str = "SCRYDON_TESTBED_TMPDIR";

/// Where the test bed puts its directories: `$SCRYDON_TESTBED_TMPDIR` if set; else `/dev/shm`
/// when it has at least 1 GiB free (creating a data directory's ~1000 files there is several
/// times faster than on a disk, markedly so in sandboxed kernels); else the system temp dir.
pub(crate) fn scratch_root() -> PathBuf {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        if let Some(dir) = std::env::var_os(SCRATCH_ENV) {
            return PathBuf::from(dir);
        }
        let shm = Path::new("/dev/shm");
        if shm.is_dir() && available_kib(shm).is_some_and(|kib| kib >= 1024 * 1024) {
            return shm.to_path_buf();
        }
        std::env::temp_dir()
    })
    .clone()
}

/// Free space of the file system holding `path`, from `df -Pk`.
fn available_kib(path: &Path) -> Option<u64> {
    let output = Command::new("df")
        .arg("-Pk")
        .arg(path)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&output.stdout);
    text.lines().nth(1)?.split_whitespace().nth(3)?.parse().ok()
}

/// A string kept out of `Debug` output (passwords).
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Secret(pub(crate) String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("\"<redacted>\"")
    }
}

//! Running helper programs: privilege dropping when the tests run as root, clean environments,
//! captured output, and the watchdog that stops a server if the test process dies.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;

use crate::error::{Error, IoContext, Result};
use crate::fsutil;

/// Environment variable naming the system user that runs PostgreSQL and PgBouncer when the
/// tests run as root (default `postgres`).
pub const SERVER_USER_ENV: &str = "SCRYDON_TESTBED_SERVER_USER";

/// Who the server processes run as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RunAs {
    /// `(name, uid, gid)` of the unprivileged user when we are root; `None` to run as ourselves.
    pub(crate) user: Option<(String, u32, u32)>,
}

/// The effective uid of this process (the owner of `/proc/self`).
pub(crate) fn euid() -> Result<u32> {
    fs::metadata("/proc/self")
        .map(|m| m.uid())
        .ctx(|| "stat /proc/self (to learn the effective uid)")
}

fn lookup_user(name: &str) -> Result<Option<(u32, u32)>> {
    let passwd = fs::read_to_string("/etc/passwd").ctx(|| "read /etc/passwd")?;
    for line in passwd.lines() {
        let fields: Vec<&str> = line.split(':').collect();
        if fields.len() >= 4 && fields[0] == name {
            if let (Ok(uid), Ok(gid)) = (fields[2].parse(), fields[3].parse()) {
                return Ok(Some((uid, gid)));
            }
        }
    }
    Ok(None)
}

impl RunAs {
    /// The process-wide choice: the `postgres` user (or `$SCRYDON_TESTBED_SERVER_USER`) when
    /// running as root, else the current user.
    pub(crate) fn detect() -> Result<RunAs> {
        static DETECTED: OnceLock<std::result::Result<RunAs, String>> = OnceLock::new();
        let detected = DETECTED.get_or_init(|| {
            let inner = || -> Result<RunAs> {
                if euid()? != 0 {
                    return Ok(RunAs { user: None });
                }
                let name = std::env::var(SERVER_USER_ENV).unwrap_or_else(|_| "postgres".into());
                match lookup_user(&name)? {
                    Some((uid, gid)) => Ok(RunAs {
                        user: Some((name, uid, gid)),
                    }),
                    None => Err(Error::NoSuchUser(name)),
                }
            };
            inner().map_err(|e| e.to_string())
        });
        match detected {
            Ok(run_as) => Ok(run_as.clone()),
            Err(message) => Err(Error::State(message.clone())),
        }
    }

    /// Makes `cmd` run as the server user.
    pub(crate) fn apply(&self, cmd: &mut Command) {
        if let Some((name, uid, gid)) = &self.user {
            cmd.uid(*uid)
                .gid(*gid)
                .env("USER", name)
                .env("LOGNAME", name);
        }
    }

    /// Gives `path` to the server user (no-op when not root).
    pub(crate) fn chown(&self, path: &Path) -> Result<()> {
        match &self.user {
            Some((_, uid, gid)) => fsutil::chown(path, *uid, *gid),
            None => Ok(()),
        }
    }

    /// Whether the server user can reach (search) every directory on the way to `dir`.
    /// Returns the first directory it cannot traverse.
    pub(crate) fn untraversable_ancestor(&self, dir: &Path) -> Option<std::path::PathBuf> {
        let (_, uid, gid) = self.user.as_ref()?;
        for ancestor in dir.ancestors().collect::<Vec<_>>().into_iter().rev() {
            let Ok(meta) = fs::metadata(ancestor) else {
                continue; // not created yet: we create it with a traversable mode
            };
            let mode = meta.permissions().mode();
            let ok = if meta.uid() == *uid {
                mode & 0o100 != 0
            } else if meta.gid() == *gid {
                mode & 0o010 != 0
            } else {
                mode & 0o001 != 0
            };
            if !ok {
                return Some(ancestor.to_path_buf());
            }
        }
        None
    }
}

/// Whether the server user (see [`SERVER_USER_ENV`]; only different from the current user when
/// running as root) can search every existing directory on the way to `dir`, as PostgreSQL needs
/// to reach a data directory inside it.
pub fn server_can_reach(dir: &Path) -> Result<bool> {
    let dir = std::path::absolute(dir).ctx(|| format!("absolute path of {}", dir.display()))?;
    Ok(RunAs::detect()?.untraversable_ancestor(&dir).is_none())
}

/// Removes libpq's and the server's `PG*` variables from `cmd`'s environment so the caller's
/// PGHOST, PGPASSWORD, PGDATA, ... cannot leak into the test bed.
pub(crate) fn clean_env(cmd: &mut Command) {
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("PG") {
            cmd.env_remove(&key);
        }
    }
    cmd.env("LC_MESSAGES", "C");
}

/// Runs `cmd` to completion with stdin closed, returning its output if it succeeded and
/// [`Error::Command`] (naming `what`) with its stderr if not.
pub(crate) fn run(mut cmd: Command, what: &str) -> Result<Output> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let output = cmd.output().ctx(|| format!("spawn {what}"))?;
    if output.status.success() {
        Ok(output)
    } else {
        let mut text = String::from_utf8_lossy(&output.stderr).trim().to_owned();
        if text.is_empty() {
            text = String::from_utf8_lossy(&output.stdout).trim().to_owned();
        }
        Err(Error::Command {
            program: what.to_owned(),
            status: output.status.to_string(),
            output: text,
        })
    }
}

/// A small `sh` process holding the read end of a pipe whose write end only this process has.
/// When this process goes away without stopping the server (killed, aborted, Ctrl-C), the pipe
/// closes and the watchdog signals the server and removes its directory. Dropping the
/// `Watchdog` disarms it.
#[derive(Debug)]
pub(crate) struct Watchdog {
    child: Child,
}

const WATCHDOG_SCRIPT: &str = r#"
trap '' INT TERM HUP QUIT PIPE
read -r _ || true
if kill -0 "$1" 2>/dev/null; then
  kill -s "$2" "$1" 2>/dev/null
  i=0
  while kill -0 "$1" 2>/dev/null && [ "$i" -lt 100 ]; do sleep 0.1; i=$((i+1)); done
  kill -s KILL "$1" 2>/dev/null
fi
if [ -n "$3" ]; then rm -rf -- "$3"; fi
"#;

impl Watchdog {
    /// Arms a watchdog that sends `signal` (a name such as `QUIT`) to `pid` and then removes
    /// `cleanup` (if any) once this process is gone.
    pub(crate) fn arm(pid: u32, signal: &str, cleanup: Option<&Path>) -> Result<Watchdog> {
        let mut cmd = Command::new("/bin/sh");
        cmd.arg("-c")
            .arg(WATCHDOG_SCRIPT)
            .arg("scrydon-testbed-watchdog")
            .arg(pid.to_string())
            .arg(signal)
            .arg(cleanup.map(|p| p.as_os_str()).unwrap_or_default())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0);
        let child = cmd.spawn().ctx(|| "spawn the watchdog (/bin/sh)")?;
        Ok(Watchdog { child })
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        // SIGKILL cannot be trapped: the script never gets to signal anyone.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

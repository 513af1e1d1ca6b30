//! moto, the AWS emulator, in server mode on loopback: the closest real peer to the RDS API
//! that runs offline. Installed into the test bed's venv by `scripts/testbed-install.sh`.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::port::free_port;

/// The test bed's Python venv (moto, boto3, psycopg).
pub const VENV: &str = "/opt/scrydon-testbed/venv";

/// A `moto_server` on 127.0.0.1, killed on drop. It accepts any credentials and checks no
/// signature: tests pass `AKID…`-style fakes.
#[derive(Debug)]
pub struct Moto {
    child: Child,
    port: u16,
}

impl Moto {
    /// Starts one on a free port and waits (up to 90 s: importing moto is slow on a loaded
    /// machine) until it accepts connections. Retries a few times when the port is taken.
    pub fn start() -> Result<Moto> {
        let bin = Self::venv_bin("moto_server");
        if !bin.exists() {
            return Err(Error::MissingBinary {
                name: "moto_server".to_owned(),
                dir: bin.parent().map(Path::to_path_buf).unwrap_or_default(),
                hint: "moto[server] in the test bed venv".to_owned(),
            });
        }
        let mut last = None;
        for _ in 0..5 {
            match Self::try_start(&bin) {
                Ok(m) => return Ok(m),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| Error::Timeout {
            after: Duration::ZERO,
            what: "moto_server".to_owned(),
        }))
    }

    fn try_start(bin: &Path) -> Result<Moto> {
        let port = free_port()?;
        let child = Command::new(bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|source| Error::Io {
                what: format!("spawning {}", bin.display()),
                source,
            })?;
        let mut moto = Moto { child, port };
        let after = Duration::from_secs(90);
        let deadline = Instant::now() + after;
        loop {
            if let Ok(Some(status)) = moto.child.try_wait() {
                return Err(Error::Command {
                    program: "moto_server".to_owned(),
                    status: status.to_string(),
                    output: format!("exited before answering on port {port}"),
                });
            }
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Ok(moto);
            }
            if Instant::now() > deadline {
                return Err(Error::Timeout {
                    after,
                    what: format!("moto_server on port {port}"),
                });
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// An executable of the test bed's venv (`python`, `moto_server`).
    pub fn venv_bin(name: &str) -> PathBuf {
        Path::new(VENV).join("bin").join(name)
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Its endpoint URL (`http://127.0.0.1:PORT`), for `AWS_ENDPOINT_URL_RDS` or an SDK client.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

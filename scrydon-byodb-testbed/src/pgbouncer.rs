//! PgBouncer in front of a test [`Cluster`].

use std::fs::OpenOptions;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::bins;
use crate::cluster::{Cluster, HOST};
use crate::error::{Error, IoContext, Result};
use crate::fsutil::{self, Secret};
use crate::port;
use crate::process::{self, RunAs, Watchdog};
use crate::sql;

const PORT_ATTEMPTS: usize = 8;

/// PgBouncer's `pool_mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PoolMode {
    /// A server connection per client connection.
    Session,
    /// A server connection per transaction (the default; what managed poolers use).
    #[default]
    Transaction,
    /// A server connection per statement.
    Statement,
}

impl PoolMode {
    fn as_str(self) -> &'static str {
        match self {
            PoolMode::Session => "session",
            PoolMode::Transaction => "transaction",
            PoolMode::Statement => "statement",
        }
    }
}

/// Configures a [`PgBouncer`]; create with [`PgBouncer::builder`].
#[derive(Debug, Clone)]
pub struct PgBouncerBuilder {
    server_socket_dir: PathBuf,
    server_port: u16,
    tls_files: Option<(PathBuf, PathBuf)>,
    pool_mode: PoolMode,
    users: Vec<(String, Secret)>,
    settings: Vec<(String, String)>,
    client_tls: bool,
    start_timeout: Duration,
}

/// A running PgBouncer listening on 127.0.0.1 on a free port, forwarding every database name to
/// the cluster over its Unix socket. Clients authenticate with SCRAM against a userlist of
/// plaintext passwords (the cluster's superuser and any [`PgBouncerBuilder::with_user`]), which
/// PgBouncer also uses to log in to the server. Dropping it stops it and removes its files.
#[derive(Debug)]
pub struct PgBouncer {
    child: Option<Child>,
    watchdog: Option<Watchdog>,
    _dir: TempDir,
    port: u16,
    log_path: PathBuf,
    config_path: PathBuf,
}

impl PgBouncer {
    /// A builder for a PgBouncer in front of `cluster` (transaction pooling, the cluster's
    /// superuser in the userlist).
    pub fn builder(cluster: &Cluster) -> PgBouncerBuilder {
        PgBouncerBuilder {
            server_socket_dir: cluster.socket_dir().to_path_buf(),
            server_port: cluster.port(),
            tls_files: cluster.server_tls_files(),
            pool_mode: PoolMode::Transaction,
            users: vec![(
                cluster.superuser().to_owned(),
                Secret(cluster.superuser_password().to_owned()),
            )],
            settings: Vec::new(),
            client_tls: false,
            start_timeout: Duration::from_secs(30),
        }
    }

    /// The TCP port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `"127.0.0.1"`.
    pub fn host(&self) -> &'static str {
        HOST
    }

    /// PgBouncer's pid.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// A percent-encoded `postgresql://` URI to this PgBouncer.
    pub fn dsn(
        &self,
        user: &str,
        password: Option<&str>,
        dbname: &str,
        extra_params: &[(&str, &str)],
    ) -> String {
        sql::uri(HOST, self.port, user, password, dbname, extra_params)
    }

    /// A libpq `keyword=value` string (no password) to this PgBouncer.
    pub fn conninfo(&self, user: &str, dbname: &str, extra: &[(&str, &str)]) -> String {
        let port = self.port.to_string();
        let mut pairs = vec![
            ("host", HOST),
            ("port", port.as_str()),
            ("user", user),
            ("dbname", dbname),
        ];
        pairs.extend_from_slice(extra);
        sql::conninfo(&pairs)
    }

    /// PgBouncer's log file.
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// PgBouncer's configuration file.
    pub fn config_path(&self) -> &Path {
        &self.config_path
    }

    /// PgBouncer's log so far.
    pub fn log_contents(&self) -> Result<String> {
        let bytes =
            std::fs::read(&self.log_path).ctx(|| format!("read {}", self.log_path.display()))?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.watchdog = None;
    }
}

impl Drop for PgBouncer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn userlist_quote(text: &str) -> String {
    format!("\"{}\"", text.replace('"', "\"\""))
}

impl PgBouncerBuilder {
    /// `pool_mode` (default transaction).
    pub fn with_pool_mode(mut self, mode: PoolMode) -> Self {
        self.pool_mode = mode;
        self
    }

    /// Adds a user (and its password, which must be the role's password on the cluster) to the
    /// userlist.
    pub fn with_user(mut self, name: impl Into<String>, password: impl Into<String>) -> Self {
        self.users.push((name.into(), Secret(password.into())));
        self
    }

    /// Sets `name = value` in the `[pgbouncer]` section, replacing the test bed's value if it
    /// has one (e.g. `auth_type`, `default_pool_size`, `max_client_conn`).
    pub fn with_setting(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.settings.push((name.into(), value.into()));
        self
    }

    /// Offers TLS to clients (`client_tls_sslmode = allow`) with the cluster's server
    /// certificate; the cluster must have TLS.
    pub fn with_client_tls(mut self, enabled: bool) -> Self {
        self.client_tls = enabled;
        self
    }

    /// Starts PgBouncer and waits until it accepts TCP connections.
    pub fn start(self) -> Result<PgBouncer> {
        let run_as = RunAs::detect()?;
        let exe = bins::pgbouncer_path()?;
        let dir = tempfile::Builder::new()
            .prefix("scrydon-pgbouncer-")
            .tempdir_in(fsutil::scratch_root())
            .ctx(|| "create a temporary directory for PgBouncer")?;
        fsutil::set_mode(dir.path(), 0o755)?;
        run_as.chown(dir.path())?;

        let userlist = dir.path().join("userlist.txt");
        let text: String = self
            .users
            .iter()
            .map(|(u, p)| format!("{} {}\n", userlist_quote(u), userlist_quote(&p.0)))
            .collect();
        fsutil::write_file(&userlist, text.as_bytes(), 0o600)?;
        run_as.chown(&userlist)?;

        let log_path = dir.path().join("pgbouncer.log");
        fsutil::write_file(&log_path, b"", 0o644)?;
        let config_path = dir.path().join("pgbouncer.ini");

        let mut bouncer = PgBouncer {
            child: None,
            watchdog: None,
            port: 0,
            log_path,
            config_path,
            _dir: dir,
        };
        let mut attempt = 0;
        loop {
            attempt += 1;
            bouncer.port = port::free_port()?;
            self.write_config(&bouncer, &userlist, &run_as)?;
            match self.spawn_and_wait(&mut bouncer, &exe, &run_as) {
                Ok(()) => return Ok(bouncer),
                Err(e) => {
                    let log = bouncer.log_contents().unwrap_or_default();
                    if attempt < PORT_ATTEMPTS && log.contains("Address already in use") {
                        fsutil::write_file(&bouncer.log_path, b"", 0o644)?;
                        continue;
                    }
                    return Err(e);
                }
            }
        }
    }

    fn write_config(&self, bouncer: &PgBouncer, userlist: &Path, run_as: &RunAs) -> Result<()> {
        let socket_dir = bouncer._dir.path().to_string_lossy().into_owned();
        let mut settings: Vec<(String, String)> = vec![
            ("listen_addr".into(), HOST.into()),
            ("listen_port".into(), bouncer.port.to_string()),
            ("unix_socket_dir".into(), socket_dir),
            ("auth_type".into(), "scram-sha-256".into()),
            ("auth_file".into(), userlist.to_string_lossy().into_owned()),
            ("pool_mode".into(), self.pool_mode.as_str().into()),
            ("max_client_conn".into(), "200".into()),
            ("default_pool_size".into(), "10".into()),
            (
                "ignore_startup_parameters".into(),
                "extra_float_digits,options".into(),
            ),
            ("server_tls_sslmode".into(), "disable".into()),
            ("admin_users".into(), self.users[0].0.clone()),
        ];
        if self.client_tls {
            let Some((cert, key)) = &self.tls_files else {
                return Err(Error::Invalid(
                    "PgBouncer client TLS needs a cluster with TLS".into(),
                ));
            };
            settings.push(("client_tls_sslmode".into(), "allow".into()));
            settings.push((
                "client_tls_cert_file".into(),
                cert.to_string_lossy().into_owned(),
            ));
            settings.push((
                "client_tls_key_file".into(),
                key.to_string_lossy().into_owned(),
            ));
        }
        for (name, value) in &self.settings {
            settings.retain(|(n, _)| n != name);
            settings.push((name.clone(), value.clone()));
        }
        let mut text = format!(
            "; written by scrydon-testbed\n[databases]\n* = host={} port={}\n\n[pgbouncer]\n",
            self.server_socket_dir.display(),
            self.server_port
        );
        for (name, value) in settings {
            text.push_str(&format!("{name} = {value}\n"));
        }
        fsutil::write_file(&bouncer.config_path, text.as_bytes(), 0o644)?;
        run_as.chown(&bouncer.config_path)
    }

    fn spawn_and_wait(&self, bouncer: &mut PgBouncer, exe: &Path, run_as: &RunAs) -> Result<()> {
        let log = OpenOptions::new()
            .append(true)
            .open(&bouncer.log_path)
            .ctx(|| format!("open {}", bouncer.log_path.display()))?;
        let log_err = log.try_clone().ctx(|| "duplicate the PgBouncer log")?;
        let mut cmd = Command::new(exe);
        cmd.arg(&bouncer.config_path)
            .current_dir(bouncer._dir.path())
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .process_group(0);
        process::clean_env(&mut cmd);
        run_as.apply(&mut cmd);
        let child = cmd.spawn().ctx(|| format!("spawn {}", exe.display()))?;
        let pid = child.id();
        bouncer.child = Some(child);
        bouncer.watchdog = Some(Watchdog::arm(pid, "KILL", Some(bouncer._dir.path()))?);

        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, bouncer.port));
        let began = Instant::now();
        loop {
            let exited = match bouncer.child.as_mut() {
                Some(child) => child.try_wait().ctx(|| "wait for PgBouncer")?,
                None => None,
            };
            if let Some(status) = exited {
                bouncer.child = None;
                bouncer.watchdog = None;
                return Err(Error::PgBouncerFailed {
                    reason: format!("pgbouncer exited with {status}"),
                    log: bouncer.log_path.clone(),
                    log_tail: fsutil::tail(&bouncer.log_path, 20),
                });
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            if began.elapsed() > self.start_timeout {
                bouncer.stop();
                return Err(Error::PgBouncerFailed {
                    reason: format!("not listening after {:?}", self.start_timeout),
                    log: bouncer.log_path.clone(),
                    log_tail: fsutil::tail(&bouncer.log_path, 20),
                });
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

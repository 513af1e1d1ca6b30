//! Throwaway PostgreSQL clusters.

use std::fs::{self, OpenOptions};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::bins::{PgBins, PgVersion};
use crate::error::{Error, IoContext, Result};
use crate::fsutil::{self, Secret};
use crate::pki::{IssuedCert, ServerCertSpec, TestCa};
use crate::port;
use crate::process::{self, RunAs, Watchdog};
use crate::sql::{self, quote_conf, quote_ident, quote_literal};
use crate::template::{self, TESTBED_CONF};

/// The address every cluster listens on.
pub const HOST: &str = "127.0.0.1";

const RELOAD_MARKER: &str = "testbed.reload_generation";
const PORT_ATTEMPTS: usize = 8;
const LOG_TAIL_LINES: usize = 30;

/// Which TCP connections `pg_hba.conf` accepts. Every variant is preceded by a
/// `local all all <method>` line so the test bed's own `psql` (over the Unix socket) works.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hba {
    /// `hostssl` lines only: a connection without TLS is rejected ("no pg_hba.conf entry ...
    /// no encryption"). The default when TLS is on.
    TlsOnly,
    /// `host` lines: TLS and plaintext both accepted.
    PlaintextAllowed,
    /// `hostnossl` lines only: TLS connections are rejected by pg_hba even though the server
    /// offers TLS (combine with [`ServerTls::Disabled`] for a server without TLS). The default
    /// when TLS is off.
    PlaintextOnly,
    /// These lines verbatim, after the `local` line.
    Custom(String),
}

/// How TCP connections authenticate (the pg_hba method), and how role passwords are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Auth {
    /// `scram-sha-256` (the default); passwords stored as SCRAM verifiers.
    #[default]
    Scram,
    /// `md5`; passwords stored as MD5 hashes (`password_encryption = md5`).
    Md5,
    /// `password` (cleartext over the wire); passwords stored as SCRAM verifiers.
    Password,
    /// `trust`: no password asked.
    Trust,
    /// `cert`: TLS client certificate whose CN is the user name (TLS lines only; plaintext lines
    /// and the Unix socket use SCRAM).
    Cert,
}

impl Auth {
    fn method(self) -> &'static str {
        match self {
            Auth::Scram => "scram-sha-256",
            Auth::Md5 => "md5",
            Auth::Password => "password",
            Auth::Trust => "trust",
            Auth::Cert => "cert",
        }
    }

    fn non_tls_method(self) -> &'static str {
        match self {
            Auth::Cert => "scram-sha-256",
            other => other.method(),
        }
    }

    fn password_encryption(self) -> &'static str {
        match self {
            Auth::Md5 => "md5",
            _ => "scram-sha-256",
        }
    }
}

/// The server's TLS configuration.
#[derive(Debug, Clone)]
pub enum ServerTls {
    /// `ssl = off`.
    Disabled,
    /// A fresh CA generated at start, issuing a server certificate for this spec (the default:
    /// [`ServerCertSpec::localhost`]).
    FreshCa(ServerCertSpec),
    /// A server certificate for `spec` issued at start by `ca` (which may be an intermediate;
    /// the server then presents the chain).
    Issued {
        /// The issuing CA.
        ca: TestCa,
        /// What goes in the server certificate.
        spec: ServerCertSpec,
    },
    /// This certificate and key; `root_pem` is written as the cluster's CA file.
    Provided {
        /// The server certificate (its chain is presented) and key.
        cert: IssuedCert,
        /// The trust anchor for clients.
        root_pem: String,
    },
}

impl Default for ServerTls {
    fn default() -> Self {
        ServerTls::FreshCa(ServerCertSpec::localhost())
    }
}

/// How to shut a server down (`pg_ctl stop -m`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShutdownMode {
    /// Wait for clients to disconnect.
    Smart,
    /// Terminate sessions, checkpoint, exit.
    Fast,
    /// Quit at once, like a crash (recovery runs on the next start).
    Immediate,
}

impl ShutdownMode {
    fn as_str(self) -> &'static str {
        match self {
            ShutdownMode::Smart => "smart",
            ShutdownMode::Fast => "fast",
            ShutdownMode::Immediate => "immediate",
        }
    }
}

/// Configures and starts a [`Cluster`]. Create with [`Cluster::builder`].
#[derive(Debug, Clone)]
pub struct ClusterBuilder {
    version: PgVersion,
    tls: ServerTls,
    hba: Option<Hba>,
    auth: Auth,
    settings: Vec<(String, String)>,
    superuser: String,
    password: Option<Secret>,
    client_cert_required: bool,
    locale: String,
    ipv6: bool,
    port: Option<u16>,
    base_dir: Option<PathBuf>,
    start_timeout: Duration,
}

impl Default for ClusterBuilder {
    fn default() -> Self {
        Self {
            version: PgVersion::V15,
            tls: ServerTls::default(),
            hba: None,
            auth: Auth::Scram,
            settings: Vec::new(),
            superuser: "postgres".into(),
            password: None,
            client_cert_required: false,
            locale: "C".into(),
            ipv6: false,
            port: None,
            base_dir: None,
            start_timeout: Duration::from_secs(60),
        }
    }
}

impl ClusterBuilder {
    /// The PostgreSQL version (default 15).
    pub fn with_version(mut self, version: PgVersion) -> Self {
        self.version = version;
        self
    }

    /// The TLS configuration (default: a fresh CA and a `localhost` / `127.0.0.1` / `::1`
    /// certificate).
    pub fn with_tls(mut self, tls: ServerTls) -> Self {
        self.tls = tls;
        self
    }

    /// `ssl = off` (shorthand for `with_tls(ServerTls::Disabled)`).
    pub fn without_tls(self) -> Self {
        self.with_tls(ServerTls::Disabled)
    }

    /// Which TCP connections pg_hba accepts (default [`Hba::TlsOnly`] with TLS,
    /// [`Hba::PlaintextOnly`] without).
    pub fn with_hba(mut self, hba: Hba) -> Self {
        self.hba = Some(hba);
        self
    }

    /// The authentication method (default [`Auth::Scram`]).
    pub fn with_auth(mut self, auth: Auth) -> Self {
        self.auth = auth;
        self
    }

    /// Appends `name = 'value'` to the cluster's configuration (later settings win, so this
    /// overrides the test bed's defaults, e.g. `max_connections`). Repeatable. Custom dotted
    /// names such as `rds.force_ssl` are accepted and read back with `SHOW`.
    pub fn with_setting(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.settings.push((name.into(), value.into()));
        self
    }

    /// The bootstrap superuser and its password (default `postgres` and a random password).
    pub fn with_superuser(mut self, name: impl Into<String>, password: impl Into<String>) -> Self {
        self.superuser = name.into();
        self.password = Some(Secret(password.into()));
        self
    }

    /// Requires a client certificate signed by the cluster's CA (`clientcert=verify-full` on
    /// the TLS lines, `ssl_ca_file` set). Needs TLS.
    pub fn with_client_cert_required(mut self, required: bool) -> Self {
        self.client_cert_required = required;
        self
    }

    /// The initdb locale (default `C`, encoding UTF8).
    pub fn with_locale(mut self, locale: impl Into<String>) -> Self {
        self.locale = locale.into();
        self
    }

    /// Also listen on `::1` (default: 127.0.0.1 only).
    pub fn with_ipv6(mut self, ipv6: bool) -> Self {
        self.ipv6 = ipv6;
        self
    }

    /// Listen on this port instead of a free one picked at start.
    pub fn with_port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    /// Put the cluster's files in `dir` (created if missing; must be empty) instead of a new
    /// temporary directory. It is still removed when the [`Cluster`] is dropped, unless
    /// [`Cluster::detach`]ed. When running as root, every directory above it must be
    /// searchable by the `postgres` user.
    pub fn with_base_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.base_dir = Some(dir.into());
        self
    }

    /// How long to wait for the server to accept connections (default 60 s).
    pub fn with_start_timeout(mut self, timeout: Duration) -> Self {
        self.start_timeout = timeout;
        self
    }

    /// Creates the cluster (a copy of a cached initdb template), writes its certificates,
    /// pg_hba.conf and settings, and starts the server. Blocks until it accepts connections;
    /// from async code call it from `spawn_blocking` or accept the short block.
    pub fn start(self) -> Result<Cluster> {
        let began = Instant::now();
        let tls_on = !matches!(self.tls, ServerTls::Disabled);
        let hba = self.hba.clone().unwrap_or(if tls_on {
            Hba::TlsOnly
        } else {
            Hba::PlaintextOnly
        });
        if !tls_on {
            if hba == Hba::TlsOnly {
                return Err(Error::Invalid(
                    "Hba::TlsOnly without TLS would accept no TCP connection".into(),
                ));
            }
            if self.client_cert_required || self.auth == Auth::Cert {
                return Err(Error::Invalid(
                    "client certificates need TLS (with_tls)".into(),
                ));
            }
        }
        if self.superuser.is_empty() {
            return Err(Error::Invalid("the superuser name is empty".into()));
        }

        let run_as = RunAs::detect()?;
        let bins = PgBins::find(self.version)?;

        let (temp, base) = match &self.base_dir {
            None => {
                let temp = tempfile::Builder::new()
                    .prefix("scrydon-testbed-")
                    .tempdir_in(fsutil::scratch_root())
                    .ctx(|| "create a temporary directory for the cluster")?;
                let base = temp.path().to_path_buf();
                (Some(temp), base)
            }
            Some(dir) => {
                let dir = std::path::absolute(dir)
                    .ctx(|| format!("absolute path of {}", dir.display()))?;
                fs::create_dir_all(&dir).ctx(|| format!("create {}", dir.display()))?;
                let mut entries = fs::read_dir(&dir).ctx(|| format!("list {}", dir.display()))?;
                if entries.next().is_some() {
                    return Err(Error::Invalid(format!(
                        "base directory {} is not empty",
                        dir.display()
                    )));
                }
                (None, dir)
            }
        };
        fsutil::set_mode(&base, 0o755)?;
        if let Some(blocked) = run_as.untraversable_ancestor(&base) {
            return Err(Error::Invalid(format!(
                "{} is not searchable by the server user, so PostgreSQL could not reach {} \
                 (chmod o+x it, or use another directory)",
                blocked.display(),
                base.display()
            )));
        }

        let socket_dir = base.join("sock");
        // sun_path holds 107 bytes: "<dir>/.s.PGSQL.65535" must fit.
        if socket_dir.as_os_str().len() + 18 > 107 {
            return Err(Error::Invalid(format!(
                "socket directory {} is too long for a Unix socket path",
                socket_dir.display()
            )));
        }

        let mut cluster = Cluster {
            bins,
            run_as,
            temp,
            base: base.clone(),
            data_dir: base.join("data"),
            socket_dir,
            log_path: base.join("server.log"),
            tls_dir: base.join("tls"),
            ca_pem_path: None,
            ca: None,
            port: 0,
            ipv6: self.ipv6,
            superuser: self.superuser.clone(),
            password: match &self.password {
                Some(p) => p.clone(),
                None => Secret(fsutil::random_token(24)?),
            },
            auth: self.auth,
            hba,
            client_cert_required: self.client_cert_required,
            tls_on,
            settings: self.settings.clone(),
            reload_generation: 0,
            postmaster: None,
            watchdog: None,
            start_timeout: self.start_timeout,
            startup_time: Duration::ZERO,
            detached: false,
        };
        // From here on, an error drops `cluster`, which stops whatever was started and removes
        // the directory.
        cluster.create(&self)?;
        cluster.startup_time = began.elapsed();
        Ok(cluster)
    }
}

/// A running (or stopped) throwaway PostgreSQL server in its own directory, listening on
/// 127.0.0.1 (and optionally ::1) on a free port and on a Unix socket in its directory.
///
/// Dropping it stops the server (`pg_ctl stop -m immediate`, waiting for the postmaster to
/// exit) and removes the directory; this also happens when a test panics. If the test process
/// dies without unwinding (killed, aborted), a watchdog process notices and does the same.
#[derive(Debug)]
pub struct Cluster {
    bins: PgBins,
    run_as: RunAs,
    temp: Option<TempDir>,
    base: PathBuf,
    data_dir: PathBuf,
    socket_dir: PathBuf,
    log_path: PathBuf,
    tls_dir: PathBuf,
    ca_pem_path: Option<PathBuf>,
    ca: Option<TestCa>,
    port: u16,
    ipv6: bool,
    superuser: String,
    password: Secret,
    auth: Auth,
    hba: Hba,
    client_cert_required: bool,
    tls_on: bool,
    settings: Vec<(String, String)>,
    reload_generation: u64,
    postmaster: Option<Child>,
    watchdog: Option<Watchdog>,
    start_timeout: Duration,
    startup_time: Duration,
    detached: bool,
}

/// What is left of a [`Cluster`] after [`Cluster::detach`]: the server keeps running and its
/// files stay until [`Cluster::stop_detached`]. (`Debug` leaves the password out.)
#[derive(Clone, PartialEq, Eq)]
pub struct DetachedCluster {
    /// The cluster's directory (pass it to [`Cluster::stop_detached`]).
    pub base_dir: PathBuf,
    /// The data directory.
    pub data_dir: PathBuf,
    /// The postmaster's pid.
    pub pid: u32,
    /// The TCP port on 127.0.0.1.
    pub port: u16,
    /// The CA certificate file, if TLS is on.
    pub ca_pem_path: Option<PathBuf>,
    /// The server log file.
    pub log_path: PathBuf,
    /// The superuser.
    pub superuser: String,
    /// The superuser's password.
    pub password: String,
}

impl std::fmt::Debug for DetachedCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DetachedCluster")
            .field("base_dir", &self.base_dir)
            .field("pid", &self.pid)
            .field("port", &self.port)
            .field("superuser", &self.superuser)
            .field("password", &Secret(String::new()))
            .finish_non_exhaustive()
    }
}

impl Cluster {
    /// A builder with the defaults: PostgreSQL 15, TLS with a fresh CA, TLS-only SCRAM
    /// pg_hba, superuser `postgres` with a random password.
    pub fn builder() -> ClusterBuilder {
        ClusterBuilder::default()
    }

    /// A cluster with all the defaults, started.
    pub fn start_default() -> Result<Cluster> {
        Self::builder().start()
    }

    fn create(&mut self, spec: &ClusterBuilder) -> Result<()> {
        let template = template::ensure(&self.bins, &self.superuser, &spec.locale, &self.run_as)?;

        let mut cp = Command::new("cp");
        cp.arg("-a")
            .arg("--")
            .arg(&template.data)
            .arg(&self.data_dir);
        process::run(cp, "cp -a (template data directory)")?;

        fsutil::make_dir(&self.socket_dir, 0o755)?;
        self.run_as.chown(&self.socket_dir)?;
        fsutil::write_file(&self.log_path, b"", 0o644)?;
        self.run_as.chown(&self.log_path)?;

        if self.tls_on {
            self.write_tls(&spec.tls)?;
        }
        self.write_hba()?;

        self.port = match spec.port {
            Some(port) => port,
            None => port::free_port_on(self.ipv6)?,
        };
        self.write_conf()?;

        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.spawn_and_wait() {
                Ok(()) => break,
                Err(Error::StartFailed { .. })
                    if spec.port.is_none() && attempt < PORT_ATTEMPTS && self.port_collision() =>
                {
                    self.port = port::free_port_on(self.ipv6)?;
                    self.write_conf()?;
                }
                Err(e) => return Err(e),
            }
        }

        if template.password != self.password.0 {
            let sql = format!(
                "{}SET password_encryption = {};\nALTER ROLE {} PASSWORD {};\n",
                sql::QUIET_LOGGING,
                quote_literal(self.auth.password_encryption()),
                quote_ident(&self.superuser),
                quote_literal(&self.password.0),
            );
            self.socket_psql(&self.superuser, Some(&template.password), "postgres", &sql)?;
        }
        Ok(())
    }

    fn write_tls(&mut self, tls: &ServerTls) -> Result<()> {
        fsutil::make_dir(&self.tls_dir, 0o755)?;
        let (cert, root_pem, ca) = match tls {
            ServerTls::Disabled => return Ok(()),
            ServerTls::FreshCa(spec) => {
                let ca = TestCa::new("scrydon-testbed CA")?;
                (ca.issue_server(spec)?, ca.root_pem().to_owned(), Some(ca))
            }
            ServerTls::Issued { ca, spec } => (
                ca.issue_server(spec)?,
                ca.root_pem().to_owned(),
                Some(ca.clone()),
            ),
            ServerTls::Provided { cert, root_pem } => (cert.clone(), root_pem.clone(), None),
        };
        let cert_path = self.tls_dir.join("server.crt");
        let key_path = self.tls_dir.join("server.key");
        cert.write_files(&cert_path, &key_path)?;
        self.run_as.chown(&cert_path)?;
        self.run_as.chown(&key_path)?;
        let ca_path = self.tls_dir.join("ca.crt");
        fsutil::write_file(&ca_path, root_pem.as_bytes(), 0o644)?;
        self.ca_pem_path = Some(ca_path);
        self.ca = ca;
        Ok(())
    }

    fn write_hba(&self) -> Result<()> {
        let path = self.data_dir.join("pg_hba.conf");
        let text = hba_text(&self.hba, self.auth, self.client_cert_required, self.ipv6);
        fsutil::write_file(&path, text.as_bytes(), 0o600)?;
        self.run_as.chown(&path)
    }

    fn conf_text(&self) -> String {
        let mut listen = HOST.to_owned();
        if self.ipv6 {
            listen.push_str(",::1");
        }
        let path = |p: &Path| quote_conf(&p.to_string_lossy());
        let mut lines = vec![
            "# written by scrydon-testbed; rewritten on every change".to_owned(),
            format!("listen_addresses = {}", quote_conf(&listen)),
            format!("port = {}", self.port),
            format!("unix_socket_directories = {}", path(&self.socket_dir)),
            "unix_socket_permissions = 0777".into(),
            "max_connections = 50".into(),
            "shared_buffers = '16MB'".into(),
            "fsync = off".into(),
            "synchronous_commit = off".into(),
            "full_page_writes = off".into(),
            "logging_collector = off".into(),
            "log_destination = 'stderr'".into(),
            "log_line_prefix = '%m [%p] %q%u@%d '".into(),
            "log_connections = on".into(),
            "lc_messages = 'C'".into(),
            "timezone = 'UTC'".into(),
            format!(
                "password_encryption = {}",
                quote_conf(self.auth.password_encryption())
            ),
        ];
        if self.tls_on {
            lines.push("ssl = on".into());
            lines.push(format!(
                "ssl_cert_file = {}",
                path(&self.tls_dir.join("server.crt"))
            ));
            lines.push(format!(
                "ssl_key_file = {}",
                path(&self.tls_dir.join("server.key"))
            ));
            if self.client_cert_required || self.auth == Auth::Cert {
                if let Some(ca) = &self.ca_pem_path {
                    lines.push(format!("ssl_ca_file = {}", path(ca)));
                }
            }
        } else {
            lines.push("ssl = off".into());
        }
        lines.push(format!("{RELOAD_MARKER} = '{}'", self.reload_generation));
        lines.push("# with_setting / set_setting".into());
        for (name, value) in &self.settings {
            lines.push(format!("{name} = {}", quote_conf(value)));
        }
        let mut text = lines.join("\n");
        text.push('\n');
        text
    }

    fn write_conf(&self) -> Result<()> {
        let path = self.data_dir.join(TESTBED_CONF);
        fsutil::write_file(&path, self.conf_text().as_bytes(), 0o600)?;
        self.run_as.chown(&path)
    }

    fn start_failed(&self, reason: String) -> Error {
        Error::StartFailed {
            reason,
            log: self.log_path.clone(),
            log_tail: fsutil::tail(&self.log_path, LOG_TAIL_LINES),
        }
    }

    /// Whether the last start attempt failed because the TCP port was taken.
    fn port_collision(&self) -> bool {
        let log = fs::read(&self.log_path).unwrap_or_default();
        let text = String::from_utf8_lossy(&log);
        let last_start = text.rfind("starting PostgreSQL").unwrap_or(0);
        let tail = &text[last_start..];
        tail.contains("Address already in use") || tail.contains("could not bind")
    }

    fn spawn_and_wait(&mut self) -> Result<()> {
        let log = OpenOptions::new()
            .append(true)
            .open(&self.log_path)
            .ctx(|| format!("open {}", self.log_path.display()))?;
        let log_err = log
            .try_clone()
            .ctx(|| format!("duplicate {}", self.log_path.display()))?;
        let mut cmd = Command::new(self.bins.tool("postgres"));
        cmd.arg("-D")
            .arg(&self.data_dir)
            .current_dir(&self.base)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .process_group(0);
        process::clean_env(&mut cmd);
        self.run_as.apply(&mut cmd);
        let child = cmd
            .spawn()
            .ctx(|| format!("spawn {}", self.bins.tool("postgres").display()))?;
        let pid = child.id();
        self.postmaster = Some(child);
        self.watchdog = Some(Watchdog::arm(pid, "QUIT", Some(&self.base))?);

        let began = Instant::now();
        let pid_file = self.data_dir.join("postmaster.pid");
        loop {
            if let Some(status) = self.try_wait_postmaster()? {
                self.postmaster = None;
                self.watchdog = None;
                return Err(self.start_failed(format!("postgres exited with {status}")));
            }
            if let Ok(text) = fs::read_to_string(&pid_file) {
                let lines: Vec<&str> = text.lines().collect();
                if lines.len() >= 8
                    && lines[0].trim() == pid.to_string()
                    && lines[7].trim() == "ready"
                {
                    return Ok(());
                }
            }
            if began.elapsed() > self.start_timeout {
                let reason = format!("not accepting connections after {:?}", self.start_timeout);
                let _ = self.shutdown(ShutdownMode::Immediate);
                return Err(self.start_failed(reason));
            }
            let pause = if began.elapsed() < Duration::from_secs(2) {
                3
            } else {
                25
            };
            std::thread::sleep(Duration::from_millis(pause));
        }
    }

    fn try_wait_postmaster(&mut self) -> Result<Option<ExitStatus>> {
        match self.postmaster.as_mut() {
            None => Ok(None),
            Some(child) => child.try_wait().ctx(|| "wait for the postmaster"),
        }
    }

    /// Stops the postmaster with `mode` and waits for it (and so its children) to exit.
    fn shutdown(&mut self, mode: ShutdownMode) -> Result<()> {
        let Some(mut child) = self.postmaster.take() else {
            return Ok(());
        };
        let result = (|| -> Result<()> {
            if child
                .try_wait()
                .ctx(|| "wait for the postmaster")?
                .is_some()
            {
                return Ok(());
            }
            let mut cmd = Command::new(self.bins.tool("pg_ctl"));
            cmd.arg("stop")
                .arg("-D")
                .arg(&self.data_dir)
                .args(["-m", mode.as_str(), "-W"])
                .current_dir(&self.base);
            process::clean_env(&mut cmd);
            self.run_as.apply(&mut cmd);
            let mut signalled = process::run(cmd, "pg_ctl stop");
            if signalled.is_err() {
                // pg_ctl needs a readable postmaster.pid (absent early in startup): signal the
                // postmaster directly (SIGQUIT = immediate shutdown, which still reaps children).
                let mut kill = Command::new("kill");
                kill.args(["-s", "QUIT", &child.id().to_string()]);
                signalled = process::run(kill, "kill -s QUIT <postmaster>");
            }
            let limit = match (mode, &signalled) {
                (_, Err(_)) => Duration::from_secs(1),
                (ShutdownMode::Immediate, _) => Duration::from_secs(15),
                _ => Duration::from_secs(120),
            };
            let began = Instant::now();
            while began.elapsed() < limit {
                if child
                    .try_wait()
                    .ctx(|| "wait for the postmaster")?
                    .is_some()
                {
                    return Ok(());
                }
                std::thread::sleep(Duration::from_millis(3));
            }
            // Last resort; the watchdog-less children notice the postmaster's death and exit.
            let _ = child.kill();
            let _ = child.wait();
            Err(Error::Timeout {
                what: format!(
                    "the postmaster to exit ({} shutdown; pg_ctl: {})",
                    mode.as_str(),
                    match &signalled {
                        Ok(_) => "signalled".to_owned(),
                        Err(e) => e.to_string(),
                    }
                ),
                after: limit,
            })
        })();
        self.watchdog = None;
        result
    }

    fn socket_psql(
        &self,
        user: &str,
        password: Option<&str>,
        dbname: &str,
        sql_text: &str,
    ) -> Result<String> {
        let port = self.port.to_string();
        let socket = self.socket_dir.to_string_lossy();
        let conninfo = sql::conninfo(&[
            ("host", &socket),
            ("port", &port),
            ("user", user),
            ("dbname", dbname),
            ("application_name", "scrydon-testbed"),
        ]);
        sql::psql(&conninfo, password, sql_text)
    }

    // ---- accessors ---------------------------------------------------------------------------

    /// The server certificate and key files, when TLS is on (for PgBouncer's client TLS).
    pub(crate) fn server_tls_files(&self) -> Option<(PathBuf, PathBuf)> {
        self.tls_on.then(|| {
            (
                self.tls_dir.join("server.crt"),
                self.tls_dir.join("server.key"),
            )
        })
    }

    /// The TCP port (on 127.0.0.1, and ::1 with IPv6).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `"127.0.0.1"`.
    pub fn host(&self) -> &'static str {
        HOST
    }

    /// The PostgreSQL version.
    pub fn version(&self) -> PgVersion {
        self.bins.version
    }

    /// The bin directory of this cluster's PostgreSQL.
    pub fn bin_dir(&self) -> &Path {
        &self.bins.dir
    }

    /// The directory holding the Unix socket (`.s.PGSQL.<port>`), usable as libpq's `host`.
    pub fn socket_dir(&self) -> &Path {
        &self.socket_dir
    }

    /// The bootstrap superuser's name.
    pub fn superuser(&self) -> &str {
        &self.superuser
    }

    /// The bootstrap superuser's password.
    pub fn superuser_password(&self) -> &str {
        &self.password.0
    }

    /// The PEM file of the root CA the server certificate chains to (`sslrootcert`), or `None`
    /// without TLS.
    pub fn ca_pem_path(&self) -> Option<&Path> {
        self.ca_pem_path.as_deref()
    }

    /// The CA that issued the server certificate, when the test bed generated it (fresh or
    /// given as [`ServerTls::Issued`]); use it to issue client certificates.
    pub fn ca(&self) -> Option<&TestCa> {
        self.ca.as_ref()
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The cluster's directory (data, socket, TLS files, log).
    pub fn base_dir(&self) -> &Path {
        &self.base
    }

    /// The server log file (the postmaster's stderr; `log_connections` is on).
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// The server log so far.
    pub fn log_contents(&self) -> Result<String> {
        let bytes = fs::read(&self.log_path).ctx(|| format!("read {}", self.log_path.display()))?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// The postmaster's pid while running.
    pub fn pid(&self) -> Option<u32> {
        self.postmaster.as_ref().map(Child::id)
    }

    /// Whether the server is running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.try_wait_postmaster(), Ok(None)) && self.postmaster.is_some()
    }

    /// How long [`ClusterBuilder::start`] took, from call to accepting connections with the
    /// final superuser password.
    pub fn startup_time(&self) -> Duration {
        self.startup_time
    }

    /// The settings added with [`ClusterBuilder::with_setting`] and [`Cluster::set_setting`].
    pub fn settings(&self) -> &[(String, String)] {
        &self.settings
    }

    // ---- connection strings ------------------------------------------------------------------

    /// A `postgresql://user:password@127.0.0.1:port/dbname?k=v&...` URI, every part
    /// percent-encoded.
    pub fn dsn(
        &self,
        user: &str,
        password: Option<&str>,
        dbname: &str,
        extra_params: &[(&str, &str)],
    ) -> String {
        sql::uri(HOST, self.port, user, password, dbname, extra_params)
    }

    /// Like [`dsn`](Self::dsn) with another host name (e.g. `localhost`, which the default
    /// certificate also names).
    pub fn dsn_for_host(
        &self,
        host: &str,
        user: &str,
        password: Option<&str>,
        dbname: &str,
        extra_params: &[(&str, &str)],
    ) -> String {
        sql::uri(host, self.port, user, password, dbname, extra_params)
    }

    /// The superuser's URI for database `postgres` with this `sslmode`; for `verify-ca` and
    /// `verify-full` it also carries `sslrootcert=<ca_pem_path>`.
    pub fn admin_uri(&self, sslmode: &str) -> String {
        let ca = self
            .ca_pem_path
            .as_ref()
            .map(|p| p.to_string_lossy().into_owned());
        let mut params = vec![("sslmode", sslmode)];
        if let (Some(ca), "verify-ca" | "verify-full") = (&ca, sslmode) {
            params.push(("sslrootcert", ca.as_str()));
        }
        self.dsn(&self.superuser, Some(&self.password.0), "postgres", &params)
    }

    /// A libpq `keyword=value` string for TCP to 127.0.0.1 (no password: give that to
    /// [`crate::psql`] separately), with these extra keywords.
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

    // ---- SQL through psql --------------------------------------------------------------------

    /// Runs `sql` with the real `psql` as the superuser in database `postgres`, over the Unix
    /// socket (password in the environment, never on a command line). Returns the unaligned,
    /// tuples-only output.
    pub fn psql(&self, sql: &str) -> Result<String> {
        self.psql_in("postgres", sql)
    }

    /// Like [`psql`](Self::psql) in another database.
    pub fn psql_in(&self, dbname: &str, sql: &str) -> Result<String> {
        self.socket_psql(&self.superuser, Some(&self.password.0), dbname, sql)
    }

    /// Like [`psql`](Self::psql) as another role, over the Unix socket.
    pub fn psql_as(
        &self,
        user: &str,
        password: Option<&str>,
        dbname: &str,
        sql: &str,
    ) -> Result<String> {
        self.socket_psql(user, password, dbname, sql)
    }

    /// `CREATE ROLE name <attributes> [PASSWORD '...']`, e.g.
    /// `create_role("app", Some("secret"), "LOGIN CREATEDB")`. The statement is kept out of the
    /// server log; the password is stored per the cluster's [`Auth`] (MD5 or SCRAM).
    pub fn create_role(&self, name: &str, password: Option<&str>, attributes: &str) -> Result<()> {
        let mut statement = format!("CREATE ROLE {} {attributes}", quote_ident(name));
        if let Some(password) = password {
            statement.push_str(&format!(" PASSWORD {}", quote_literal(password)));
        }
        self.psql(&format!(
            "{}SET password_encryption = {};\n{statement};\n",
            sql::QUIET_LOGGING,
            quote_literal(self.auth.password_encryption())
        ))
        .map(|_| ())
    }

    /// Sets (or with `None` removes) a role's password, kept out of the server log.
    pub fn set_password(&self, role: &str, password: Option<&str>) -> Result<()> {
        let value = password.map_or_else(|| "NULL".to_owned(), quote_literal);
        self.psql(&format!(
            "{}SET password_encryption = {};\nALTER ROLE {} PASSWORD {value};\n",
            sql::QUIET_LOGGING,
            quote_literal(self.auth.password_encryption()),
            quote_ident(role)
        ))
        .map(|_| ())
    }

    /// `CREATE DATABASE name [OWNER owner]`.
    pub fn create_database(&self, name: &str, owner: Option<&str>) -> Result<()> {
        let mut statement = format!("CREATE DATABASE {}", quote_ident(name));
        if let Some(owner) = owner {
            statement.push_str(&format!(" OWNER {}", quote_ident(owner)));
        }
        self.psql(&format!("{statement};")).map(|_| ())
    }

    /// Issues a client certificate with this CN from the cluster's CA and writes it and its key
    /// (mode 0600, owned by the caller, as libpq requires) into the cluster's directory.
    /// Returns `(cert_path, key_path)` for `sslcert` / `sslkey`.
    pub fn write_client_cert(&self, common_name: &str) -> Result<(PathBuf, PathBuf)> {
        let ca = self.ca.as_ref().ok_or_else(|| {
            Error::State("the cluster has no test-bed CA to issue client certificates".into())
        })?;
        let cert = ca.issue_client(common_name)?;
        let stem = sql::percent_encode(common_name);
        let cert_path = self.tls_dir.join(format!("client-{stem}.crt"));
        let key_path = self.tls_dir.join(format!("client-{stem}.key"));
        cert.write_files(&cert_path, &key_path)?;
        Ok((cert_path, key_path))
    }

    // ---- lifecycle ---------------------------------------------------------------------------

    /// Stops the server with a fast shutdown and waits for it to exit. The data directory and
    /// port stay; [`start`](Self::start) brings it back.
    pub fn stop(&mut self) -> Result<()> {
        self.stop_with(ShutdownMode::Fast)
    }

    /// Stops the server with this shutdown mode and waits for it to exit.
    pub fn stop_with(&mut self, mode: ShutdownMode) -> Result<()> {
        if self.postmaster.is_none() {
            return Err(Error::State("the cluster is not running".into()));
        }
        self.shutdown(mode)
    }

    /// Starts a stopped server again on the same data directory and port.
    pub fn start(&mut self) -> Result<()> {
        if self.is_running() {
            return Err(Error::State("the cluster is already running".into()));
        }
        self.postmaster = None;
        self.spawn_and_wait()
    }

    /// Stops (fast) and starts the server, e.g. after changing a setting that only takes
    /// effect at server start.
    pub fn restart(&mut self) -> Result<()> {
        self.stop()?;
        self.start()
    }

    /// Re-reads the configuration files (`pg_reload_conf()`) and waits until the server has
    /// applied them, so the next connection sees the new settings and pg_hba.conf.
    pub fn reload(&mut self) -> Result<()> {
        self.reload_generation += 1;
        self.write_conf()?;
        if !self.is_running() {
            return Ok(());
        }
        self.psql("SELECT pg_reload_conf();")?;
        let want = self.reload_generation.to_string();
        let began = Instant::now();
        let limit = Duration::from_secs(15);
        loop {
            if self.psql(&format!("SHOW {RELOAD_MARKER};"))? == want {
                return Ok(());
            }
            if began.elapsed() > limit {
                return Err(Error::Timeout {
                    what: format!(
                        "the configuration reload (is the configuration valid? see {})",
                        self.log_path.display()
                    ),
                    after: limit,
                });
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Sets `name = 'value'` (replacing an earlier value of the same name) and reloads. Settings
    /// that need a server start take effect after [`restart`](Self::restart).
    pub fn set_setting(&mut self, name: &str, value: &str) -> Result<()> {
        self.settings.retain(|(n, _)| n != name);
        self.settings.push((name.to_owned(), value.to_owned()));
        self.reload()
    }

    /// Replaces pg_hba.conf with `hba` (keeping the auth method) and reloads.
    pub fn set_hba(&mut self, hba: Hba) -> Result<()> {
        self.hba = hba;
        self.write_hba()?;
        self.reload()
    }

    /// Leaves the server running and its files in place, returning what is needed to reach and
    /// later stop it ([`Cluster::stop_detached`]). No watchdog remains.
    pub fn detach(mut self) -> Result<DetachedCluster> {
        let pid = self
            .pid()
            .ok_or_else(|| Error::State("the cluster is not running".into()))?;
        self.detached = true;
        self.watchdog = None;
        if let Some(temp) = self.temp.take() {
            let _ = temp.keep();
        }
        Ok(DetachedCluster {
            base_dir: self.base.clone(),
            data_dir: self.data_dir.clone(),
            pid,
            port: self.port,
            ca_pem_path: self.ca_pem_path.clone(),
            log_path: self.log_path.clone(),
            superuser: self.superuser.clone(),
            password: self.password.0.clone(),
        })
    }

    /// Stops a server left running by [`detach`](Self::detach) (fast shutdown, waiting up to a
    /// minute) and removes its directory `base_dir`. Succeeds if it is already stopped.
    pub fn stop_detached(base_dir: &Path) -> Result<()> {
        let data_dir = base_dir.join("data");
        let version_file = data_dir.join("PG_VERSION");
        let major: u32 = fs::read_to_string(&version_file)
            .ctx(|| format!("read {}", version_file.display()))?
            .trim()
            .parse()
            .map_err(|_| Error::Invalid(format!("unexpected {}", version_file.display())))?;
        let version = PgVersion::from_major(major)
            .ok_or_else(|| Error::Invalid(format!("unsupported PostgreSQL {major}")))?;
        if data_dir.join("postmaster.pid").exists() {
            let bins = PgBins::find(version)?;
            let run_as = RunAs::detect()?;
            let mut cmd = Command::new(bins.tool("pg_ctl"));
            cmd.arg("stop")
                .arg("-D")
                .arg(&data_dir)
                .args(["-m", "fast", "-w", "-t", "60"])
                .current_dir(base_dir);
            process::clean_env(&mut cmd);
            run_as.apply(&mut cmd);
            if let Err(e) = process::run(cmd, "pg_ctl stop") {
                // A stale pid file (the server died) is not an error here.
                if data_dir.join("postmaster.pid").exists() && !stale_pid_file(&data_dir) {
                    return Err(e);
                }
            }
        }
        fs::remove_dir_all(base_dir).ctx(|| format!("remove {}", base_dir.display()))
    }
}

fn hba_text(hba: &Hba, auth: Auth, client_cert_required: bool, ipv6: bool) -> String {
    let local = match auth {
        Auth::Trust => "trust",
        Auth::Md5 => "md5",
        Auth::Password => "password",
        Auth::Scram | Auth::Cert => "scram-sha-256",
    };
    let mut out = format!(
        "# written by scrydon-testbed\n# TYPE DATABASE USER ADDRESS METHOD [OPTIONS]\n\
         local all all {local}\n"
    );
    let mut addresses = vec!["127.0.0.1/32"];
    if ipv6 {
        addresses.push("::1/128");
    }
    let tls_method = auth.method();
    let plain_method = auth.non_tls_method();
    let tls_options = if client_cert_required && auth != Auth::Cert {
        " clientcert=verify-full"
    } else {
        ""
    };
    match hba {
        Hba::Custom(lines) => {
            out.push_str(lines);
            out.push('\n');
        }
        hba => {
            for addr in addresses {
                match hba {
                    Hba::TlsOnly => out.push_str(&format!(
                        "hostssl all all {addr} {tls_method}{tls_options}\n"
                    )),
                    Hba::PlaintextAllowed
                        if tls_method == plain_method && tls_options.is_empty() =>
                    {
                        out.push_str(&format!("host all all {addr} {tls_method}\n"))
                    }
                    Hba::PlaintextAllowed => out.push_str(&format!(
                        "hostssl all all {addr} {tls_method}{tls_options}\n\
                         hostnossl all all {addr} {plain_method}\n"
                    )),
                    Hba::PlaintextOnly | Hba::Custom(_) => {
                        out.push_str(&format!("hostnossl all all {addr} {plain_method}\n"))
                    }
                }
            }
        }
    }
    out
}

fn stale_pid_file(data_dir: &Path) -> bool {
    let text = fs::read_to_string(data_dir.join("postmaster.pid")).unwrap_or_default();
    match text
        .lines()
        .next()
        .and_then(|l| l.trim().parse::<u32>().ok())
    {
        Some(pid) => !fsutil::pid_alive(pid),
        None => true,
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if self.detached {
            return;
        }
        let _ = self.shutdown(ShutdownMode::Immediate);
        self.watchdog = None;
        match self.temp.take() {
            Some(temp) => drop(temp),
            None => {
                let _ = fs::remove_dir_all(&self.base);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hba_variants() {
        let tls_only = hba_text(&Hba::TlsOnly, Auth::Scram, false, true);
        assert!(tls_only.contains("\nlocal all all scram-sha-256\n"));
        assert!(tls_only.contains("\nhostssl all all 127.0.0.1/32 scram-sha-256\n"));
        assert!(tls_only.contains("\nhostssl all all ::1/128 scram-sha-256\n"));
        assert!(!tls_only.contains("\nhost "));
        assert!(!tls_only.contains("hostnossl"));

        let plain = hba_text(&Hba::PlaintextAllowed, Auth::Md5, false, false);
        assert!(plain.contains("\nhost all all 127.0.0.1/32 md5\n"));
        assert!(!plain.contains("::1"));

        let certs = hba_text(&Hba::PlaintextAllowed, Auth::Scram, true, false);
        assert!(certs.contains(
            "\nhostssl all all 127.0.0.1/32 scram-sha-256 clientcert=verify-full\n\
             hostnossl all all 127.0.0.1/32 scram-sha-256\n"
        ));

        let cert_auth = hba_text(&Hba::TlsOnly, Auth::Cert, true, false);
        assert!(cert_auth.contains("\nhostssl all all 127.0.0.1/32 cert\n"));
        assert!(cert_auth.contains("\nlocal all all scram-sha-256\n"));

        let nossl = hba_text(&Hba::PlaintextOnly, Auth::Trust, false, false);
        assert!(nossl.contains("\nlocal all all trust\nhostnossl all all 127.0.0.1/32 trust\n"));

        let custom = hba_text(
            &Hba::Custom("hostssl app app 127.0.0.1/32 password".into()),
            Auth::Scram,
            false,
            false,
        );
        assert!(custom
            .ends_with("local all all scram-sha-256\nhostssl app app 127.0.0.1/32 password\n"));
    }
}

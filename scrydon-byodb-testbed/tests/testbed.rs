//! The test bed against real PostgreSQL, PgBouncer and psql processes.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use scrydon_byodb_testbed::{
    psql, Auth, Cluster, DelayProxy, Error, Hba, PgBouncer, PgVersion, PoolMode, ServerCertSpec,
    ServerTls, TestCa, Validity,
};

fn ca_path(cluster: &Cluster) -> String {
    cluster
        .ca_pem_path()
        .expect("TLS cluster has a CA file")
        .to_string_lossy()
        .into_owned()
}

/// psql over TCP as the superuser with this sslmode (and the CA for verify modes).
fn tcp_psql(cluster: &Cluster, host: &str, sslmode: &str, sql: &str) -> Result<String, Error> {
    let ca = cluster
        .ca_pem_path()
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default();
    let port = cluster.port().to_string();
    let conninfo = scrydon_byodb_testbed::conninfo(&[
        ("host", host),
        ("port", &port),
        ("user", cluster.superuser()),
        ("dbname", "postgres"),
        ("sslmode", sslmode),
        ("sslrootcert", &ca),
    ]);
    psql(&conninfo, Some(cluster.superuser_password()), sql)
}

const SSL_IN_USE: &str = "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid();";

/// Every process whose working directory is inside `dir` (PostgreSQL processes chdir to their
/// data directory).
fn processes_in(dir: &Path) -> Vec<u32> {
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("read /proc").flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        if let Ok(cwd) = std::fs::read_link(entry.path().join("cwd")) {
            if cwd.starts_with(dir) {
                pids.push(pid);
            }
        }
    }
    pids
}

fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat.rsplit(')').next().unwrap_or("").trim_start();
            !state.starts_with('Z') && !state.starts_with('X')
        }
        Err(_) => false,
    }
}

fn wait_until_dead(pid: u32, limit: Duration) -> bool {
    let began = Instant::now();
    while began.elapsed() < limit {
        if !alive(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    !alive(pid)
}

#[test]
fn tls_only_cluster_accepts_verify_full_and_rejects_plaintext() {
    let first = Instant::now();
    let cluster = Cluster::builder().with_ipv6(true).start().expect("start");
    eprintln!(
        "cluster start: {:?} (call to ready: {:?})",
        cluster.startup_time(),
        first.elapsed()
    );

    for host in ["127.0.0.1", "localhost", "::1"] {
        let out = tcp_psql(&cluster, host, "verify-full", SSL_IN_USE).expect("verify-full");
        assert_eq!(out, "t", "TLS in use via {host}");
    }
    match tcp_psql(&cluster, "127.0.0.1", "disable", "SELECT 1") {
        Err(Error::Psql { stderr, .. }) => {
            assert!(stderr.contains("no pg_hba.conf entry"), "{stderr}");
            assert!(stderr.contains("no encryption"), "{stderr}");
        }
        other => panic!("plaintext must be rejected, got {other:?}"),
    }
    // The URI helpers: the admin URI carries the CA for verify-full and works with psql.
    let uri = cluster.admin_uri("verify-full");
    assert!(uri.contains("sslrootcert=%2F"), "{uri}");
    let out = psql(&uri, None, "SELECT current_user;").expect("admin uri");
    assert_eq!(out, cluster.superuser());
    // The log records the TLS connection (log_connections is on).
    let log = cluster.log_contents().expect("log");
    assert!(log.contains("SSL enabled"), "{log}");
}

#[test]
fn a_wrong_ca_fails_verification() {
    let cluster = Cluster::builder().start().expect("start");
    let other = TestCa::new("someone else").expect("ca");
    let dir = tempfile::tempdir().expect("tempdir");
    let wrong = dir.path().join("wrong.crt");
    other.write_pem(&wrong).expect("write");
    let port = cluster.port().to_string();
    let conninfo = scrydon_byodb_testbed::conninfo(&[
        ("host", "localhost"),
        ("port", &port),
        ("user", cluster.superuser()),
        ("dbname", "postgres"),
        ("sslmode", "verify-full"),
        ("sslrootcert", &wrong.to_string_lossy()),
    ]);
    match psql(&conninfo, Some(cluster.superuser_password()), "SELECT 1") {
        Err(Error::Psql { stderr, .. }) => {
            assert!(stderr.contains("certificate verify failed"), "{stderr}")
        }
        other => panic!("expected a verification failure, got {other:?}"),
    }
}

#[test]
fn plaintext_allowed_accepts_sslmode_disable_and_hba_can_change_at_runtime() {
    let mut cluster = Cluster::builder()
        .with_hba(Hba::PlaintextAllowed)
        .start()
        .expect("start");
    assert_eq!(
        tcp_psql(&cluster, "127.0.0.1", "disable", SSL_IN_USE).expect("disable"),
        "f"
    );
    assert_eq!(
        tcp_psql(&cluster, "127.0.0.1", "require", SSL_IN_USE).expect("require"),
        "t"
    );
    cluster.set_hba(Hba::TlsOnly).expect("set hba");
    assert!(tcp_psql(&cluster, "127.0.0.1", "disable", "SELECT 1").is_err());
    assert_eq!(
        tcp_psql(&cluster, "127.0.0.1", "verify-full", SSL_IN_USE).expect("verify-full"),
        "t"
    );
}

#[test]
fn without_tls_plaintext_works_and_tls_is_refused() {
    let cluster = Cluster::builder().without_tls().start().expect("start");
    assert!(cluster.ca_pem_path().is_none());
    assert_eq!(
        tcp_psql(&cluster, "127.0.0.1", "disable", SSL_IN_USE).expect("disable"),
        "f"
    );
    match tcp_psql(&cluster, "127.0.0.1", "require", "SELECT 1") {
        Err(Error::Psql { stderr, .. }) => {
            assert!(stderr.contains("does not support SSL"), "{stderr}")
        }
        other => panic!("expected TLS refusal, got {other:?}"),
    }
    assert!(matches!(
        Cluster::builder()
            .without_tls()
            .with_hba(Hba::TlsOnly)
            .start(),
        Err(Error::Invalid(_))
    ));
}

#[test]
fn custom_settings_read_back_and_change_on_reload() {
    let mut cluster = Cluster::builder()
        .with_setting("rds.force_ssl", "1")
        .with_setting("azure.extensions", "VECTOR")
        .with_setting("max_connections", "20")
        .start()
        .expect("start");
    assert_eq!(cluster.psql("SHOW rds.force_ssl").expect("show"), "1");
    assert_eq!(
        cluster.psql("SHOW azure.extensions").expect("show"),
        "VECTOR"
    );
    assert_eq!(cluster.psql("SHOW max_connections").expect("show"), "20");
    assert_eq!(cluster.psql("SHOW fsync").expect("show"), "off");

    cluster.set_setting("rds.force_ssl", "0").expect("set");
    cluster
        .set_setting("log_min_duration_statement", "250")
        .expect("set");
    assert_eq!(cluster.psql("SHOW rds.force_ssl").expect("show"), "0");
    assert_eq!(
        cluster
            .psql("SHOW log_min_duration_statement")
            .expect("show"),
        "250ms"
    );
    assert!(cluster
        .settings()
        .iter()
        .any(|(n, v)| n == "rds.force_ssl" && v == "0"));
}

#[test]
fn pgvector_extension_is_available_on_15() {
    let cluster = Cluster::builder().without_tls().start().expect("start");
    assert_eq!(cluster.version(), PgVersion::V15);
    cluster.create_database("app", None).expect("createdb");
    let out = cluster
        .psql_in(
            "app",
            "CREATE EXTENSION vector;\nSELECT '[1,2,3]'::vector <-> '[1,2,5]'::vector;",
        )
        .expect("vector");
    assert_eq!(out, "2");
    assert!(cluster
        .psql("SHOW server_version_num")
        .expect("version")
        .starts_with("15"));
}

#[test]
fn postgresql_14_starts_with_tls_and_reports_14() {
    let cluster = Cluster::builder()
        .with_version(PgVersion::V14)
        .start()
        .expect("start PG14");
    assert_eq!(cluster.version(), PgVersion::V14);
    let num = tcp_psql(
        &cluster,
        "localhost",
        "verify-full",
        "SHOW server_version_num",
    )
    .expect("verify-full on 14");
    assert!(num.starts_with("14"), "{num}");
    eprintln!("PG14 cluster start: {:?}", cluster.startup_time());
}

#[test]
fn roles_databases_and_md5_or_scram_storage() {
    for (auth, prefix) in [(Auth::Md5, "md5"), (Auth::Scram, "SCRAM-SHA-256$")] {
        let cluster = Cluster::builder()
            .with_auth(auth)
            .with_hba(Hba::PlaintextAllowed)
            .with_superuser("admin", "s3cr:t@/?#%'\"")
            .start()
            .expect("start");
        let password = "p@ss w:rd/'x";
        cluster
            .create_role("app", Some(password), "LOGIN")
            .expect("role");
        cluster.create_database("appdb", Some("app")).expect("db");
        let stored = cluster
            .psql("SELECT rolpassword FROM pg_authid WHERE rolname = 'app'")
            .expect("authid");
        assert!(stored.starts_with(prefix), "{auth:?}: {stored}");

        // The superuser's odd password survives the URI's percent-encoding.
        let out =
            psql(&cluster.admin_uri("require"), None, "SELECT current_user").expect("admin uri");
        assert_eq!(out, "admin");
        let uri = cluster.dsn("app", Some(password), "appdb", &[("sslmode", "disable")]);
        let out = psql(
            &uri,
            None,
            "SELECT current_user || '@' || current_database()",
        )
        .expect("app login");
        assert_eq!(out, "app@appdb");
        let wrong = cluster.dsn("app", Some("nope"), "appdb", &[("sslmode", "disable")]);
        match psql(&wrong, None, "SELECT 1") {
            Err(Error::Psql { stderr, .. }) => {
                assert!(
                    stderr.contains("password authentication failed"),
                    "{stderr}"
                )
            }
            other => panic!("wrong password accepted: {other:?}"),
        }
        // Passwords never reach the server log.
        let log = cluster.log_contents().expect("log");
        assert!(!log.contains(password));
        assert!(!log.contains(cluster.superuser_password()));
    }
}

#[test]
fn client_certificate_required() {
    let cluster = Cluster::builder()
        .with_client_cert_required(true)
        .start()
        .expect("start");
    assert!(tcp_psql(&cluster, "localhost", "verify-full", "SELECT 1").is_err());

    let (cert, key) = cluster.write_client_cert("postgres").expect("client cert");
    let port = cluster.port().to_string();
    let ca = ca_path(&cluster);
    let with_cert = |cert: &Path, key: &Path| {
        let conninfo = scrydon_byodb_testbed::conninfo(&[
            ("host", "localhost"),
            ("port", &port),
            ("user", "postgres"),
            ("dbname", "postgres"),
            ("sslmode", "verify-full"),
            ("sslrootcert", &ca),
            ("sslcert", &cert.to_string_lossy()),
            ("sslkey", &key.to_string_lossy()),
        ]);
        psql(
            &conninfo,
            Some(cluster.superuser_password()),
            "SELECT client_dn FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
        )
    };
    let dn = with_cert(&cert, &key).expect("with client cert");
    assert!(dn.contains("CN=postgres"), "{dn}");

    // A certificate for another user fails clientcert=verify-full.
    let (other_cert, other_key) = cluster.write_client_cert("mallory").expect("cert");
    assert!(with_cert(&other_cert, &other_key).is_err());
}

#[test]
fn intermediate_ca_and_cn_only_certificates_with_libpq() {
    let root = TestCa::new("root").expect("root");
    let intermediate = root.issue_intermediate("intermediate").expect("int");
    let cluster = Cluster::builder()
        .with_tls(ServerTls::Issued {
            ca: intermediate,
            spec: ServerCertSpec::localhost(),
        })
        .start()
        .expect("start");
    // The CA file is the root; the server presents the intermediate.
    let ca = std::fs::read_to_string(ca_path(&cluster)).expect("read ca");
    assert_eq!(ca, root.cert_pem());
    assert_eq!(
        tcp_psql(&cluster, "localhost", "verify-full", SSL_IN_USE).expect("chain"),
        "t"
    );

    // libpq falls back to the CN when there is no SAN.
    let cn_only = Cluster::builder()
        .with_tls(ServerTls::FreshCa(ServerCertSpec::cn_only("localhost")))
        .start()
        .expect("start");
    assert_eq!(
        tcp_psql(&cn_only, "localhost", "verify-full", SSL_IN_USE).expect("CN match"),
        "t"
    );
    match tcp_psql(&cn_only, "127.0.0.1", "verify-full", "SELECT 1") {
        Err(Error::Psql { stderr, .. }) => assert!(stderr.contains("does not match"), "{stderr}"),
        other => panic!("expected a name mismatch, got {other:?}"),
    }
}

#[test]
fn expired_server_certificate_fails_verify_ca() {
    let cluster = Cluster::builder()
        .with_tls(ServerTls::FreshCa(
            ServerCertSpec::localhost().with_validity(Validity::Expired),
        ))
        .start()
        .expect("start");
    match tcp_psql(&cluster, "localhost", "verify-ca", "SELECT 1") {
        Err(Error::Psql { stderr, .. }) => {
            assert!(stderr.contains("certificate verify failed"), "{stderr}")
        }
        other => panic!("expected a verification failure, got {other:?}"),
    }
    // libpq does not say why; OpenSSL's own client does.
    let out = Command::new("openssl")
        .args(["s_client", "-starttls", "postgres", "-connect"])
        .arg(format!("127.0.0.1:{}", cluster.port()))
        .arg("-CAfile")
        .arg(ca_path(&cluster))
        .stdin(Stdio::null())
        .output()
        .expect("openssl s_client");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("certificate has expired"), "{text}");
    // sslmode=require does not verify (no sslrootcert given here).
    let port = cluster.port().to_string();
    let conninfo = scrydon_byodb_testbed::conninfo(&[
        ("host", "127.0.0.1"),
        ("port", &port),
        ("user", "postgres"),
        ("dbname", "postgres"),
        ("sslmode", "require"),
        ("sslrootcert", "/dev/null/none"),
    ]);
    assert_eq!(
        psql(&conninfo, Some(cluster.superuser_password()), SSL_IN_USE).expect("require"),
        "t"
    );
}

#[test]
fn pgbouncer_transaction_mode_passes_queries() {
    let cluster = Cluster::builder().start().expect("start");
    cluster
        .create_role("app", Some("app-pw"), "LOGIN")
        .expect("role");
    let bouncer = PgBouncer::builder(&cluster)
        .with_pool_mode(PoolMode::Transaction)
        .with_user("app", "app-pw")
        .with_client_tls(true)
        .start()
        .expect("pgbouncer");
    assert_ne!(bouncer.port(), cluster.port());
    let conninfo = bouncer.conninfo("app", "postgres", &[("sslmode", "disable")]);
    let out = psql(&conninfo, Some("app-pw"), "SELECT 1 + 1;").expect("through pgbouncer");
    assert_eq!(out, "2");
    let out = psql(
        &bouncer.dsn("app", Some("app-pw"), "postgres", &[("sslmode", "disable")]),
        None,
        "SELECT current_user",
    )
    .expect("uri through pgbouncer");
    assert_eq!(out, "app");
    // Client TLS with the cluster's certificate, verified.
    let ca = ca_path(&cluster);
    let tls = bouncer.conninfo(
        "app",
        "postgres",
        &[("sslmode", "verify-full"), ("sslrootcert", &ca)],
    );
    assert_eq!(
        psql(&tls, Some("app-pw"), "SELECT 3").expect("TLS to pgbouncer"),
        "3"
    );
    // The admin console reports the pool mode.
    let admin = bouncer.conninfo(cluster.superuser(), "pgbouncer", &[("sslmode", "disable")]);
    let config =
        psql(&admin, Some(cluster.superuser_password()), "SHOW CONFIG;").expect("admin console");
    assert!(
        config
            .lines()
            .any(|l| l.starts_with("pool_mode|transaction")),
        "{config}"
    );
    let pid = bouncer.pid().expect("pid");
    drop(bouncer);
    assert!(!alive(pid));
}

/// An echo server: returns each connection's bytes until it closes.
fn echo_server() -> SocketAddr {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut stream = stream;
                let mut buf = [0u8; 4096];
                while let Ok(n) = stream.read(&mut buf) {
                    if n == 0 || stream.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            });
        }
    });
    addr
}

#[test]
fn delay_proxy_adds_the_delay_to_each_direction() {
    let delay = Duration::from_millis(40);
    let proxy = DelayProxy::start(echo_server(), delay).expect("proxy");
    let mut stream = TcpStream::connect(proxy.addr()).expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    let mut rtts = Vec::new();
    for i in 0..3u8 {
        let began = Instant::now();
        stream.write_all(&[i; 10]).expect("write");
        let mut back = [0u8; 10];
        stream.read_exact(&mut back).expect("read");
        rtts.push(began.elapsed());
        assert_eq!(back, [i; 10]);
    }
    for rtt in &rtts {
        assert!(*rtt >= delay * 2, "round trip {rtt:?} < 2 × {delay:?}");
        assert!(*rtt < delay * 2 + Duration::from_millis(500), "{rtt:?}");
    }
    // Pipelined writes are not serialised: two chunks sent back to back both arrive after
    // about one round trip, not two.
    let began = Instant::now();
    stream.write_all(b"first").expect("write");
    std::thread::sleep(Duration::from_millis(5));
    stream.write_all(b"second").expect("write");
    let mut back = [0u8; 11];
    stream.read_exact(&mut back).expect("read");
    assert_eq!(&back, b"firstsecond");
    assert!(began.elapsed() < delay * 3, "{:?}", began.elapsed());
    assert_eq!(proxy.connections(), 1);
    drop(stream);
}

#[test]
fn delay_proxy_in_front_of_postgres_counts_round_trips() {
    let cluster = Cluster::builder().start().expect("start");
    let delay = Duration::from_millis(25);
    let target = SocketAddr::from((Ipv4Addr::LOCALHOST, cluster.port()));
    let proxy = DelayProxy::start(target, delay).expect("proxy");
    let port = proxy.port().to_string();
    let ca = ca_path(&cluster);
    let conninfo = scrydon_byodb_testbed::conninfo(&[
        ("host", "127.0.0.1"),
        ("port", &port),
        ("user", "postgres"),
        ("dbname", "postgres"),
        ("sslmode", "verify-full"),
        ("sslrootcert", &ca),
    ]);
    let began = Instant::now();
    let out = psql(&conninfo, Some(cluster.superuser_password()), SSL_IN_USE).expect("psql");
    let elapsed = began.elapsed();
    assert_eq!(out, "t");
    // SSLRequest, TLS handshake, startup + SCRAM (2), query: at least 5 round trips.
    let rtts = elapsed.as_secs_f64() / (delay * 2).as_secs_f64();
    eprintln!("psql via DelayProxy: {elapsed:?} = {rtts:.1} round trips");
    assert!(rtts >= 5.0, "{rtts}");
    assert_eq!(proxy.connections(), 1);
}

#[test]
fn stop_and_start_keep_data_and_port() {
    let mut cluster = Cluster::builder().without_tls().start().expect("start");
    let port = cluster.port();
    cluster
        .psql("CREATE TABLE kept (v text); INSERT INTO kept VALUES ('still here');")
        .expect("create");
    let first_pid = cluster.pid().expect("pid");
    cluster.stop().expect("stop");
    assert!(!cluster.is_running());
    assert!(!alive(first_pid));
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
    assert!(cluster.psql("SELECT 1").is_err());
    cluster.start().expect("restart");
    assert_eq!(cluster.port(), port);
    assert_ne!(cluster.pid(), Some(first_pid));
    assert_eq!(
        cluster.psql("SELECT v FROM kept").expect("select"),
        "still here"
    );
    cluster
        .stop_with(scrydon_byodb_testbed::ShutdownMode::Immediate)
        .expect("crash");
    cluster.start().expect("recover");
    assert_eq!(
        cluster.psql("SELECT count(*) FROM kept").expect("select"),
        "1"
    );
}

#[test]
fn drop_stops_every_server_process_and_removes_the_directory() {
    let cluster = Cluster::builder().start().expect("start");
    let pid = cluster.pid().expect("pid");
    let data_dir = cluster.data_dir().to_path_buf();
    let base = cluster.base_dir().to_path_buf();
    let procs = processes_in(&data_dir);
    assert!(procs.contains(&pid), "postmaster {pid} not in {procs:?}");
    assert!(procs.len() >= 3, "postmaster and its children: {procs:?}");
    drop(cluster);
    for p in &procs {
        assert!(!alive(*p), "process {p} survived the drop");
    }
    assert!(!base.exists());
}

#[test]
fn a_panicking_test_still_stops_its_server() {
    let (tx, rx) = std::sync::mpsc::channel();
    let result = std::panic::catch_unwind(move || {
        let cluster = Cluster::builder().without_tls().start().expect("start");
        tx.send((
            cluster.pid().expect("pid"),
            cluster.base_dir().to_path_buf(),
        ))
        .expect("send");
        panic!("test failure with a running cluster");
    });
    assert!(result.is_err());
    let (pid, base) = rx.recv().expect("pid");
    assert!(!alive(pid));
    assert!(!base.exists());
}

fn server_binary() -> Command {
    Command::new(env!("CARGO_BIN_EXE_scrydon-testbed-server"))
}

fn json_field(line: &str, key: &str) -> String {
    let start = line.find(&format!("\"{key}\": ")).expect(key) + key.len() + 4;
    let rest = &line[start..];
    if let Some(stripped) = rest.strip_prefix('"') {
        stripped[..stripped.find('"').expect("end quote")].to_owned()
    } else {
        rest[..rest.find([',', '}']).expect("end")]
            .trim()
            .to_owned()
    }
}

#[test]
fn server_binary_detaches_and_stops() {
    let state = tempfile::tempdir().expect("tempdir"); // mode 0700: not reachable by postgres
    let dir = state.path().join("pg");
    let out = server_binary()
        .args(["--detach", "--dir"])
        .arg(&dir)
        .args(["--database", "scrydon", "--extension", "vector"])
        .stdin(Stdio::null())
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = String::from_utf8(out.stdout).expect("utf8");
    let uri = json_field(&line, "uri");
    let pid: u32 = json_field(&line, "pid").parse().expect("pid");
    let data_dir = PathBuf::from(json_field(&line, "data_dir"));
    assert!(uri.starts_with("postgresql://postgres:"));
    assert!(uri.contains("@localhost:"));
    assert!(uri.contains("/scrydon?sslmode=verify-full&sslrootcert="));
    assert!(Path::new(&json_field(&line, "ca")).is_file());
    assert!(data_dir.join("PG_VERSION").is_file());
    assert!(dir.join("testbed.json").is_file());
    assert!(alive(pid));

    let out = psql(
        &uri,
        None,
        "SELECT extversion FROM pg_extension WHERE extname = 'vector'",
    )
    .expect("verify-full to the detached server");
    assert!(out.starts_with("0."), "{out}");

    let stop = server_binary()
        .arg("--stop")
        .arg("--dir")
        .arg(&dir)
        .output()
        .expect("stop");
    assert!(
        stop.status.success(),
        "{}",
        String::from_utf8_lossy(&stop.stderr)
    );
    assert!(wait_until_dead(pid, Duration::from_secs(10)));
    assert!(!data_dir.exists());
    assert!(!dir.exists());
}

#[test]
fn killed_test_process_leaves_no_server_behind() {
    // The foreground server is a stand-in for a test process that dies without unwinding.
    let mut child = server_binary()
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("read json");
    let pid: u32 = json_field(&line, "pid").parse().expect("pid");
    let base = PathBuf::from(json_field(&line, "dir"));
    assert!(alive(pid));
    child.kill().expect("SIGKILL");
    child.wait().expect("reap");
    assert!(
        wait_until_dead(pid, Duration::from_secs(15)),
        "postmaster {pid} orphaned"
    );
    let began = Instant::now();
    while base.exists() && began.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!base.exists());
}

#[test]
fn foreground_server_stops_when_stdin_closes() {
    let mut child = server_binary()
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("read json");
    let pid: u32 = json_field(&line, "pid").parse().expect("pid");
    let base = PathBuf::from(json_field(&line, "dir"));
    drop(child.stdin.take());
    let status = child.wait().expect("wait");
    assert!(status.success());
    assert!(!alive(pid));
    assert!(!base.exists());
}

#[test]
fn a_bad_setting_fails_the_start_with_the_server_log() {
    let scratch = if Path::new("/dev/shm").is_dir() {
        PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    };
    let base = tempfile::tempdir_in(scratch).expect("tempdir");
    std::fs::set_permissions(
        base.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .expect("chmod");
    let dir = base.path().join("cluster");
    let outcome = Cluster::builder()
        .without_tls()
        .with_base_dir(&dir)
        .with_setting("shared_buffers", "plenty")
        .start();
    match outcome {
        Err(Error::StartFailed {
            reason, log_tail, ..
        }) => {
            assert!(reason.contains("exited"), "{reason}");
            assert!(log_tail.contains("shared_buffers"), "{log_tail}");
        }
        other => panic!("expected StartFailed, got {other:?}"),
    }
    assert!(!dir.exists(), "a failed start cleans up");
}

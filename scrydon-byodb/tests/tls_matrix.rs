//! The TLS matrix: every `sslmode` against real PostgreSQL 15 servers with various certificates,
//! checked against libpq itself.
//!
//! Each case runs through `scrydon_byodb::connect::connect` and through libpq: libpq 17 (the one
//! psycopg ships, via one long-lived Python process) for every case, and libpq 15 (`psql`) for
//! every case too. The outcome categories (ok with TLS / ok in plaintext / fail) must be the
//! ones the case table expects, for us and for libpq 17; libpq 15 must agree as well, except in
//! the cases marked as differing (`sslrootcert=system`, which libpq 15 reads as a file name, and
//! so treats as "no root file"). Beyond the category, our failure kind and our reported
//! verification (`none` / `chain` / `chain+name`) are asserted.
//!
//! libpq runs with an empty `HOME` and a cleared environment, so it sees only the connection
//! string (no `~/.postgresql/root.crt`, no `PG*` variables).
//!
//! Run with `-- --nocapture` to see the matrix; set `TLS_MATRIX_VERBOSE=1` to also see each
//! side's error text (for reading only: nothing is decided from it).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use scrydon_byodb::connect::{connect, ConnectOptions};
use scrydon_byodb::dsn::Dsn;
use scrydon_byodb::tls::Verification;
use scrydon_byodb::{ConnectFailure, Error};
use scrydon_byodb_testbed::{
    client_tool, conninfo, Cluster, Hba, ServerCertSpec, ServerTls, TestCa, Validity,
};

const MODES: [&str; 6] = [
    "disable",
    "allow",
    "prefer",
    "require",
    "verify-ca",
    "verify-full",
];

const PYTHON: &str = "/opt/scrydon-testbed/venv/bin/python";

/// The oracle: one psycopg (libpq 17) connection attempt per JSON line on stdin.
const ORACLE: &str = r#"
import json, sys
import psycopg
print(json.dumps({"libpq": psycopg.pq.version()}), flush=True)
for line in sys.stdin:
    req = json.loads(line)
    kwargs = {}
    if req.get("password") is not None:
        kwargs["password"] = req["password"]
    try:
        with psycopg.connect(req["conninfo"], autocommit=True, **kwargs) as conn:
            row = conn.execute(
                "select ssl from pg_stat_ssl where pid = pg_backend_pid()").fetchone()
            out = {"ok": True, "ssl": bool(row[0])}
    except Exception as e:
        out = {"ok": False, "error": " | ".join(str(e).strip().splitlines()[:2])}
    print(json.dumps(out), flush=True)
"#;

const SSL_QUERY: &str = "select ssl from pg_stat_ssl where pid = pg_backend_pid()";

/// What a case should give.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// Connected over TLS, with this verification.
    Tls(Verification),
    /// Connected in plaintext.
    Plain,
    /// `Error::Connect` with this kind.
    Fail(ConnectFailure),
    /// Refused before connecting (`Error::TlsConfig` / `Error::InvalidDsn`).
    Config,
}

/// What libpq can tell us (we do not read its messages).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Category {
    OkTls,
    OkPlain,
    Fail,
}

impl Outcome {
    fn category(self) -> Category {
        match self {
            Outcome::Tls(_) => Category::OkTls,
            Outcome::Plain => Category::OkPlain,
            Outcome::Fail(_) | Outcome::Config => Category::Fail,
        }
    }

    fn label(self) -> String {
        match self {
            Outcome::Tls(v) => format!("tls/{v}"),
            Outcome::Plain => "plain".to_owned(),
            Outcome::Fail(f) => format!("fail:{}", f.id()),
            Outcome::Config => "config-error".to_owned(),
        }
    }
}

impl Category {
    fn label(self) -> &'static str {
        match self {
            Category::OkTls => "tls",
            Category::OkPlain => "plain",
            Category::Fail => "fail",
        }
    }
}

struct Case {
    scenario: &'static str,
    server: &'static str,
    mode: Option<&'static str>,
    params: Vec<(&'static str, String)>,
    password: Option<String>,
    expect: Outcome,
    /// libpq 15's category when it differs from libpq 17's (documented per case).
    libpq15: Option<Category>,
    /// Whether SCRAM channel binding must (not) have been used.
    channel_binding_used: Option<bool>,
}

struct Servers {
    clusters: BTreeMap<&'static str, Cluster>,
}

impl Servers {
    fn get(&self, name: &str) -> &Cluster {
        match self.clusters.get(name) {
            Some(c) => c,
            None => panic!("no server {name}"),
        }
    }
}

fn path_str(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

fn ca_path(cluster: &Cluster) -> String {
    path_str(cluster.ca_pem_path().expect("cluster has TLS"))
}

struct Oracle {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Oracle {
    fn start(home: &Path) -> Oracle {
        let mut child = Command::new(PYTHON)
            .arg("-c")
            .arg(ORACLE)
            .env_clear()
            .env("HOME", home)
            .env("PATH", "/usr/bin:/bin")
            .env("LANG", "C.UTF-8")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the psycopg oracle");
        let stdin = child.stdin.take().expect("stdin");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut first = String::new();
        stdout.read_line(&mut first).expect("oracle banner");
        let banner: serde_json::Value = serde_json::from_str(&first).expect("banner JSON");
        let version = banner["libpq"].as_i64().unwrap_or(0);
        assert!(
            version >= 170000,
            "psycopg's libpq must be 17+ (knows sslrootcert=system), got {version}"
        );
        Oracle {
            child,
            stdin,
            stdout,
        }
    }

    fn run(&mut self, conninfo: &str, password: Option<&str>) -> (Category, String) {
        let request = serde_json::json!({ "conninfo": conninfo, "password": password });
        writeln!(self.stdin, "{request}").expect("write to oracle");
        self.stdin.flush().expect("flush oracle");
        let mut line = String::new();
        self.stdout.read_line(&mut line).expect("read oracle");
        let reply: serde_json::Value = serde_json::from_str(&line).expect("oracle JSON");
        if reply["ok"].as_bool() == Some(true) {
            if reply["ssl"].as_bool() == Some(true) {
                (Category::OkTls, String::new())
            } else {
                (Category::OkPlain, String::new())
            }
        } else {
            (
                Category::Fail,
                reply["error"].as_str().unwrap_or_default().to_owned(),
            )
        }
    }
}

impl Drop for Oracle {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// libpq 15 through psql.
fn psql15(home: &Path, conninfo: &str, password: Option<&str>) -> (Category, String) {
    let psql = client_tool("psql").expect("psql");
    let mut cmd = Command::new(psql);
    cmd.env_clear()
        .env("HOME", home)
        .env("PATH", "/usr/bin:/bin")
        .env("LANG", "C.UTF-8")
        .args(["-X", "-A", "-t", "-d", conninfo, "-c", SSL_QUERY])
        .stdin(Stdio::null());
    if let Some(p) = password {
        cmd.env("PGPASSWORD", p);
    }
    let out = cmd.output().expect("run psql");
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return (
            Category::Fail,
            err.lines().take(2).collect::<Vec<_>>().join(" | "),
        );
    }
    match String::from_utf8_lossy(&out.stdout).trim() {
        "t" => (Category::OkTls, String::new()),
        "f" => (Category::OkPlain, String::new()),
        other => (Category::Fail, format!("unexpected psql output {other:?}")),
    }
}

/// Ours: the outcome, and whether channel binding was used.
async fn ours(conninfo: &str, password: Option<&str>) -> (Outcome, Option<bool>, String) {
    let mut dsn = match Dsn::parse(conninfo) {
        Ok(d) => d,
        Err(e) => return (Outcome::Config, None, e.to_string()),
    };
    if let Some(p) = password {
        dsn.set("password", p).expect("set password");
    }
    match connect(&dsn, &ConnectOptions::new()).await {
        Ok(conn) => {
            let info = conn.info().clone();
            // Cross-check with the server's view.
            let rows = conn
                .client()
                .simple_query(SSL_QUERY)
                .await
                .expect("ssl query");
            let server_ssl = rows.iter().find_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0).map(|v| v == "t"),
                _ => None,
            });
            assert_eq!(
                server_ssl,
                Some(info.tls.is_some()),
                "pg_stat_ssl disagrees with our report for {conninfo}"
            );
            let json = serde_json::to_string(&info).expect("ConnectionInfo serializes");
            assert!(
                password.is_none_or(|p| !json.contains(p)),
                "the password leaked into ConnectionInfo"
            );
            let outcome = match &info.tls {
                Some(tls) => Outcome::Tls(tls.verification),
                None => Outcome::Plain,
            };
            (outcome, Some(info.channel_binding_used), String::new())
        }
        Err(e) => {
            let text = e.to_string();
            if let Some(p) = password {
                assert!(!text.contains(p), "the password leaked into an error");
                assert!(
                    !format!("{e:?}").contains(p),
                    "the password leaked into Debug"
                );
            }
            match e {
                Error::Connect { failure, .. } => (Outcome::Fail(failure), None, text),
                Error::TlsConfig { .. } | Error::InvalidDsn { .. } => (Outcome::Config, None, text),
                other => (
                    Outcome::Fail(ConnectFailure::Other),
                    None,
                    format!("{other:?}"),
                ),
            }
        }
    }
}

fn start_clusters(dir: &Path) -> (Servers, BTreeMap<&'static str, String>) {
    let mut clusters = BTreeMap::new();
    let localhost_san = ServerCertSpec::localhost(); // DNS localhost, IP 127.0.0.1 and ::1

    clusters.insert(
        "tls-only",
        Cluster::builder()
            .with_tls(ServerTls::FreshCa(localhost_san.clone()))
            .with_hba(Hba::TlsOnly)
            .start()
            .expect("start tls-only"),
    );
    clusters.insert(
        "plain-ok",
        Cluster::builder()
            .with_tls(ServerTls::FreshCa(localhost_san.clone()))
            .with_hba(Hba::PlaintextAllowed)
            .start()
            .expect("start plain-ok"),
    );
    clusters.insert(
        "cn-only",
        Cluster::builder()
            .with_tls(ServerTls::Issued {
                ca: TestCa::new("cn-only CA").expect("CA"),
                spec: ServerCertSpec::cn_only("localhost"),
            })
            .with_hba(Hba::TlsOnly)
            .start()
            .expect("start cn-only"),
    );
    clusters.insert(
        "ip-san",
        Cluster::builder()
            .with_tls(ServerTls::Issued {
                ca: TestCa::new("ip-san CA").expect("CA"),
                spec: ServerCertSpec {
                    common_name: "localhost".to_owned(),
                    dns_sans: Vec::new(),
                    ip_sans: vec![IpAddr::from([127, 0, 0, 1])],
                    validity: Validity::default(),
                },
            })
            .with_hba(Hba::TlsOnly)
            .start()
            .expect("start ip-san"),
    );
    clusters.insert(
        "expired",
        Cluster::builder()
            .with_tls(ServerTls::Issued {
                ca: TestCa::new("expired CA").expect("CA"),
                spec: ServerCertSpec::localhost().with_validity(Validity::Expired),
            })
            .with_hba(Hba::TlsOnly)
            .start()
            .expect("start expired"),
    );
    clusters.insert(
        "client-cert",
        Cluster::builder()
            .with_tls(ServerTls::FreshCa(localhost_san))
            .with_hba(Hba::TlsOnly)
            .with_client_cert_required(true)
            .start()
            .expect("start client-cert"),
    );
    clusters.insert(
        "no-tls",
        Cluster::builder()
            .without_tls()
            .with_hba(Hba::PlaintextOnly)
            .start()
            .expect("start no-tls"),
    );
    let servers = Servers { clusters };

    // Files shared by the cases.
    let mut files = BTreeMap::new();
    let wrong = TestCa::new("wrong CA").expect("CA");
    let wrong_path = dir.join("wrong-ca.crt");
    wrong.write_pem(&wrong_path).expect("write wrong CA");
    files.insert("wrong-ca", path_str(&wrong_path));
    let bundle_path = dir.join("bundle.crt");
    let right_pem =
        std::fs::read_to_string(servers.get("tls-only").ca_pem_path().expect("ca")).expect("read");
    std::fs::write(&bundle_path, format!("{}\n{}", wrong.cert_pem(), right_pem))
        .expect("write bundle");
    files.insert("bundle", path_str(&bundle_path));
    let client = servers.get("client-cert");
    let (cert, key) = client
        .write_client_cert(client.superuser())
        .expect("client certificate");
    files.insert("client-cert", path_str(&cert));
    files.insert("client-key", path_str(&key));
    (servers, files)
}

fn base(cluster: &Cluster, host: &str) -> Vec<(&'static str, String)> {
    vec![
        ("host", host.to_owned()),
        ("port", cluster.port().to_string()),
        ("user", cluster.superuser().to_owned()),
        ("dbname", "postgres".to_owned()),
        ("connect_timeout", "10".to_owned()),
    ]
}

fn build_cases(servers: &Servers, files: &BTreeMap<&'static str, String>) -> Vec<Case> {
    use ConnectFailure as F;
    use Outcome::*;
    use Verification::{Chain, ChainAndName};
    let mut cases = Vec::new();
    let tls_only = servers.get("tls-only");
    let plain_ok = servers.get("plain-ok");
    let right = ca_path(tls_only);

    // One scenario across the six modes.
    let mut scenario =
        |scenario: &'static str,
         server: &'static str,
         params: Vec<(&'static str, String)>,
         expect: &dyn Fn(&str) -> (Outcome, Option<Category>)| {
            for mode in MODES {
                let (outcome, libpq15) = expect(mode);
                cases.push(Case {
                    scenario,
                    server,
                    mode: Some(mode),
                    params: params.clone(),
                    password: None,
                    expect: outcome,
                    libpq15,
                    channel_binding_used: None,
                });
            }
        };

    let mut p = base(tls_only, "localhost");
    p.push(("sslrootcert", right.clone()));
    scenario("right CA", "tls-only", p, &|m| match m {
        "disable" => (Fail(F::ServerRequiresTls), None),
        "verify-full" => (Tls(ChainAndName), None),
        // A root file makes allow/prefer/require verify the chain, as verify-ca does.
        _ => (Tls(Chain), None),
    });

    let mut p = base(tls_only, "localhost");
    p.push(("sslrootcert", files["wrong-ca"].clone()));
    scenario("wrong CA", "tls-only", p, &|m| match m {
        "disable" => (Fail(F::ServerRequiresTls), None),
        _ => (Fail(F::CertificateUntrusted), None),
    });

    let mut p = base(plain_ok, "localhost");
    p.push(("sslrootcert", files["wrong-ca"].clone()));
    scenario("wrong CA", "plain-ok", p, &|m| match m {
        // prefer: the handshake fails, libpq retries in plaintext.
        "disable" | "allow" | "prefer" => (Plain, None),
        _ => (Fail(F::CertificateUntrusted), None),
    });

    scenario(
        "no root file",
        "tls-only",
        base(tls_only, "localhost"),
        &|m| match m {
            "disable" => (Fail(F::ServerRequiresTls), None),
            "allow" | "prefer" | "require" => (Tls(Verification::None), None),
            _ => (Config, None),
        },
    );

    scenario(
        "no root file",
        "plain-ok",
        base(plain_ok, "localhost"),
        &|m| match m {
            "disable" | "allow" => (Plain, None),
            "prefer" | "require" => (Tls(Verification::None), None),
            _ => (Config, None),
        },
    );

    let mut p = base(tls_only, "db.example.test");
    p.push(("hostaddr", "127.0.0.1".to_owned()));
    p.push(("sslrootcert", right.clone()));
    scenario("name mismatch", "tls-only", p, &|m| match m {
        "disable" => (Fail(F::ServerRequiresTls), None),
        "verify-full" => (Fail(F::CertificateNameMismatch), None),
        _ => (Tls(Chain), None),
    });

    let mut p = base(tls_only, "127.0.0.1");
    p.push(("sslrootcert", right.clone()));
    scenario("IP SAN (host=IP)", "tls-only", p, &|m| match m {
        "disable" => (Fail(F::ServerRequiresTls), None),
        "verify-full" => (Tls(ChainAndName), None),
        _ => (Tls(Chain), None),
    });

    let ip_san = servers.get("ip-san");
    let mut p = base(ip_san, "127.0.0.1");
    p.push(("sslrootcert", ca_path(ip_san)));
    scenario("IP-SAN-only cert", "ip-san", p, &|m| match m {
        "disable" => (Fail(F::ServerRequiresTls), None),
        "verify-full" => (Tls(ChainAndName), None),
        _ => (Tls(Chain), None),
    });

    let cn_only = servers.get("cn-only");
    let mut p = base(cn_only, "localhost");
    p.push(("sslrootcert", ca_path(cn_only)));
    scenario("CN-only cert", "cn-only", p, &|m| match m {
        "disable" => (Fail(F::ServerRequiresTls), None),
        "verify-full" => (Tls(ChainAndName), None),
        _ => (Tls(Chain), None),
    });

    let mut p = base(tls_only, "localhost");
    p.push(("sslrootcert", "system".to_owned()));
    scenario(
        "sslrootcert=system, private CA",
        "tls-only",
        p,
        &|m| match m {
            // libpq 16+: any mode but verify-full is refused with sslrootcert=system.
            // libpq 15 reads "system" as a (missing) file name: no root file.
            "disable" => (Config, None),
            "allow" | "prefer" | "require" => (Config, Some(Category::OkTls)),
            "verify-ca" => (Config, None),
            _ => (Fail(F::CertificateUntrusted), None),
        },
    );

    let expired = servers.get("expired");
    let mut p = base(expired, "localhost");
    p.push(("sslrootcert", ca_path(expired)));
    scenario("expired cert", "expired", p, &|m| match m {
        "disable" => (Fail(F::ServerRequiresTls), None),
        _ => (Fail(F::CertificateExpired), None),
    });

    let no_tls = servers.get("no-tls");
    let mut p = base(no_tls, "localhost");
    p.push(("sslrootcert", right.clone()));
    scenario("server without TLS", "no-tls", p, &|m| match m {
        "disable" | "allow" | "prefer" => (Plain, None),
        _ => (Fail(F::ServerDoesNotSupportTls), None),
    });

    // Single cases.
    let mut single = |scenario: &'static str,
                      server: &'static str,
                      mode: Option<&'static str>,
                      params: Vec<(&'static str, String)>,
                      expect: Outcome,
                      libpq15: Option<Category>| {
        cases.push(Case {
            scenario,
            server,
            mode,
            params,
            password: None,
            expect,
            libpq15,
            channel_binding_used: None,
        });
    };

    let mut p = base(tls_only, "localhost");
    p.push(("sslrootcert", "system".to_owned()));
    // No sslmode: libpq 16+ makes it verify-full; libpq 15 uses prefer without a root file.
    single(
        "sslrootcert=system, no sslmode",
        "tls-only",
        None,
        p,
        Fail(F::CertificateUntrusted),
        Some(Category::OkTls),
    );

    for mode in ["require", "verify-ca", "verify-full"] {
        let mut p = base(tls_only, "localhost");
        p.push(("sslrootcert", files["bundle"].clone()));
        let expect = if mode == "verify-full" {
            Tls(ChainAndName)
        } else {
            Tls(Chain)
        };
        single(
            "bundle: wrong CA + right CA",
            "tls-only",
            Some(mode),
            p,
            expect,
            None,
        );
    }

    // IP-SAN-only certificate, host name: no DNS SAN, so libpq checks the CN ("localhost").
    let mut p = base(ip_san, "localhost");
    p.push(("sslrootcert", ca_path(ip_san)));
    single(
        "IP-SAN-only cert, host=localhost (CN fallback)",
        "ip-san",
        Some("verify-full"),
        p,
        Tls(ChainAndName),
        None,
    );
    let mut p = base(ip_san, "db.example.test");
    p.push(("hostaddr", "127.0.0.1".to_owned()));
    p.push(("sslrootcert", ca_path(ip_san)));
    single(
        "IP-SAN-only cert, other name",
        "ip-san",
        Some("verify-full"),
        p,
        Fail(F::CertificateNameMismatch),
        None,
    );
    // CN-only certificate, IP host: no IP SAN, CN "localhost" is not "127.0.0.1".
    let mut p = base(cn_only, "127.0.0.1");
    p.push(("sslrootcert", ca_path(cn_only)));
    single(
        "CN-only cert, host=IP",
        "cn-only",
        Some("verify-full"),
        p,
        Fail(F::CertificateNameMismatch),
        None,
    );
    // Expired certificate without a root file: nothing is checked.
    single(
        "expired cert, no root file",
        "expired",
        Some("require"),
        base(expired, "localhost"),
        Tls(Verification::None),
        None,
    );

    // Client certificates (hostssl ... clientcert=verify-full).
    let client = servers.get("client-cert");
    for mode in ["prefer", "require", "verify-full"] {
        let mut p = base(client, "localhost");
        p.push(("sslrootcert", ca_path(client)));
        single(
            "client cert required, none given",
            "client-cert",
            Some(mode),
            p,
            Fail(F::AuthenticationFailed),
            None,
        );
        let mut p = base(client, "localhost");
        p.push(("sslrootcert", ca_path(client)));
        p.push(("sslcert", files["client-cert"].clone()));
        p.push(("sslkey", files["client-key"].clone()));
        let expect = if mode == "verify-full" {
            Tls(ChainAndName)
        } else {
            Tls(Chain)
        };
        single(
            "client cert required, given",
            "client-cert",
            Some(mode),
            p,
            expect,
            None,
        );
    }

    // Unix socket: libpq never uses TLS there, whatever the sslmode.
    for mode in ["disable", "verify-full"] {
        let mut p = base(tls_only, &path_str(tls_only.socket_dir()));
        p.push(("sslrootcert", right.clone()));
        single("Unix socket", "tls-only", Some(mode), p, Plain, None);
    }

    // hostaddr without host: libpq has no name to check verify-full against.
    for (mode, expect) in [("verify-ca", Tls(Chain)), ("verify-full", Config)] {
        let mut p = base(tls_only, "127.0.0.1");
        p.retain(|(k, _)| *k != "host");
        p.push(("hostaddr", "127.0.0.1".to_owned()));
        p.push(("sslrootcert", right.clone()));
        single(
            "hostaddr only, no host",
            "tls-only",
            Some(mode),
            p,
            expect,
            None,
        );
    }

    // sslnegotiation=direct (libpq 17): PostgreSQL 15 does not speak it; libpq 15 does not know
    // the keyword. With a weak sslmode libpq 17 refuses it before connecting.
    let mut p = base(tls_only, "localhost");
    p.push(("sslnegotiation", "direct".to_owned()));
    single(
        "sslnegotiation=direct vs PG15",
        "tls-only",
        Some("require"),
        p.clone(),
        Fail(F::TlsHandshake),
        None,
    );
    single(
        "sslnegotiation=direct, weak mode",
        "tls-only",
        Some("prefer"),
        p,
        Config,
        None,
    );

    // Channel binding.
    let mut p = base(tls_only, "localhost");
    p.push(("sslrootcert", right.clone()));
    p.push(("channel_binding", "require".to_owned()));
    cases.push(Case {
        scenario: "channel_binding=require, SCRAM over TLS",
        server: "tls-only",
        mode: Some("verify-full"),
        params: p,
        password: None,
        expect: Tls(ChainAndName),
        libpq15: None,
        channel_binding_used: Some(true),
    });
    let mut p = base(tls_only, "localhost");
    p.push(("sslrootcert", right.clone()));
    p.push(("channel_binding", "disable".to_owned()));
    cases.push(Case {
        scenario: "channel_binding=disable, SCRAM over TLS",
        server: "tls-only",
        mode: Some("verify-full"),
        params: p,
        password: None,
        expect: Tls(ChainAndName),
        libpq15: None,
        channel_binding_used: Some(false),
    });
    let mut p = base(plain_ok, "localhost");
    p.push(("channel_binding", "require".to_owned()));
    cases.push(Case {
        scenario: "channel_binding=require, plaintext",
        server: "plain-ok",
        mode: Some("disable"),
        params: p,
        password: None,
        expect: Fail(F::ChannelBindingUnavailable),
        libpq15: None,
        channel_binding_used: None,
    });

    // Server errors, classified by SQLSTATE.
    for mode in ["prefer", "verify-full"] {
        let mut p = base(tls_only, "localhost");
        p.push(("sslrootcert", right.clone()));
        cases.push(Case {
            scenario: "wrong password",
            server: "tls-only",
            mode: Some(mode),
            params: p,
            password: Some("not-the-password".to_owned()),
            expect: Fail(F::AuthenticationFailed),
            libpq15: None,
            channel_binding_used: None,
        });
    }
    let mut p = base(tls_only, "localhost");
    p.push(("sslrootcert", right.clone()));
    p.retain(|(k, _)| *k != "dbname");
    p.push(("dbname", "no_such_database".to_owned()));
    cases.push(Case {
        scenario: "missing database",
        server: "tls-only",
        mode: Some("verify-full"),
        params: p,
        password: None,
        expect: Fail(F::DatabaseMissing),
        libpq15: None,
        channel_binding_used: None,
    });

    cases
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_matrix_matches_libpq() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("home");
    std::fs::create_dir(&home).expect("home");
    let files_dir = dir.path().join("files");
    std::fs::create_dir(&files_dir).expect("files");

    let (servers, files) = start_clusters(&files_dir);
    let cases = build_cases(&servers, &files);
    let mut oracle = Oracle::start(&home);

    let mut rows = Vec::new();
    let mut details = Vec::new();
    let mut problems = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        let cluster = servers.get(case.server);
        let mut pairs: Vec<(&str, &str)> =
            case.params.iter().map(|(k, v)| (*k, v.as_str())).collect();
        if let Some(mode) = case.mode {
            pairs.push(("sslmode", mode));
        }
        let conninfo = conninfo(&pairs);
        let password = case
            .password
            .clone()
            .unwrap_or_else(|| cluster.superuser_password().to_owned());

        let (ours_outcome, cb_used, ours_err) = ours(&conninfo, Some(&password)).await;
        let (l17, l17_err) = oracle.run(&conninfo, Some(&password));
        let home_for_psql: PathBuf = home.clone();
        let conninfo_for_psql = conninfo.clone();
        let password_for_psql = password.clone();
        let (l15, l15_err) = tokio::task::spawn_blocking(move || {
            psql15(&home_for_psql, &conninfo_for_psql, Some(&password_for_psql))
        })
        .await
        .expect("psql task");

        let expected_l15 = case.libpq15.unwrap_or(case.expect.category());
        let mut verdict = Vec::new();
        if ours_outcome != case.expect {
            verdict.push(format!(
                "ours {} != expected {} ({ours_err})",
                ours_outcome.label(),
                case.expect.label()
            ));
        }
        if l17 != case.expect.category() {
            verdict.push(format!(
                "libpq17 {} != expected {} ({l17_err})",
                l17.label(),
                case.expect.category().label()
            ));
        }
        if l15 != expected_l15 {
            verdict.push(format!(
                "libpq15 {} != expected {} ({l15_err})",
                l15.label(),
                expected_l15.label()
            ));
        }
        if let Some(want) = case.channel_binding_used {
            if cb_used != Some(want) {
                verdict.push(format!("channel_binding_used {cb_used:?} != {want}"));
            }
        }
        let mode = case.mode.unwrap_or("(unset)");
        if !verdict.is_empty() {
            problems.push(format!(
                "#{i} {} [{}] sslmode={mode}: {}",
                case.scenario,
                case.server,
                verdict.join("; ")
            ));
        }
        details.push(format!(
            "#{i}: ours: {ours_err} || libpq17: {l17_err} || libpq15: {l15_err}"
        ));
        rows.push([
            format!("{i}"),
            case.scenario.to_owned(),
            case.server.to_owned(),
            mode.to_owned(),
            case.expect.label(),
            ours_outcome.label(),
            l17.label().to_owned(),
            match case.libpq15 {
                Some(_) => format!("{} (differs)", l15.label()),
                None => l15.label().to_owned(),
            },
            if verdict.is_empty() { "ok" } else { "MISMATCH" }.to_owned(),
        ]);
    }

    print_table(&rows);
    if std::env::var_os("TLS_MATRIX_VERBOSE").is_some() {
        for line in &details {
            println!("{line}");
        }
    }
    assert!(
        problems.is_empty(),
        "{} of {} cases disagree:\n{}",
        problems.len(),
        cases.len(),
        problems.join("\n")
    );
}

fn print_table(rows: &[[String; 9]]) {
    let header = [
        "#", "scenario", "server", "sslmode", "expected", "ours", "libpq17", "libpq15", "",
    ];
    let mut widths = header.map(str::len);
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row.iter()) {
            *w = (*w).max(cell.len());
        }
    }
    let line = |cells: Vec<&str>| {
        cells
            .iter()
            .zip(widths.iter())
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join(" | ")
    };
    println!("{}", line(header.to_vec()));
    println!(
        "{}",
        widths
            .iter()
            .map(|w| "-".repeat(*w))
            .collect::<Vec<_>>()
            .join("-+-")
    );
    for row in rows {
        println!("{}", line(row.iter().map(String::as_str).collect()));
    }
}

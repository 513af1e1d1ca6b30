//! `connect` beyond TLS: host lists, `target_session_attrs`, fallbacks, what is reported, and
//! the SQLSTATE-based failures, against real PostgreSQL 15 servers.

use std::time::Duration;

use scrydon_byodb::connect::{connect, AuthMethod, ConnectOptions};
use scrydon_byodb::dsn::Dsn;
use scrydon_byodb::tls::Verification;
use scrydon_byodb::{ConnectFailure, Error};
use scrydon_byodb_testbed::{conninfo, Cluster, Hba, TestCa};

fn dsn(pairs: &[(&str, &str)], password: &str) -> Dsn {
    let mut dsn = Dsn::parse(&conninfo(pairs)).expect("parse");
    dsn.set("password", password).expect("password");
    dsn
}

fn dead_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

fn failure(result: Result<scrydon_byodb::connect::Connection, Error>) -> ConnectFailure {
    match result {
        Ok(conn) => panic!("expected a failure, connected: {:?}", conn.info()),
        Err(e) => match e.connect_failure() {
            Some(f) => f,
            None => panic!("expected Error::Connect, got {e:?}"),
        },
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_lists_session_attributes_and_reporting() {
    let shared_password = "s3cret-for-tests";
    let ca = TestCa::new("shared CA").expect("CA");
    let tls = || scrydon_byodb_testbed::ServerTls::Issued {
        ca: ca.clone(),
        spec: scrydon_byodb_testbed::ServerCertSpec::localhost(),
    };
    // Made read-only after start (the test bed sets the password with ALTER ROLE at start).
    let mut read_only = Cluster::builder()
        .with_tls(tls())
        .with_superuser("postgres", shared_password)
        .start()
        .expect("read-only cluster");
    read_only
        .set_setting("default_transaction_read_only", "on")
        .expect("read-only");
    let writable = Cluster::builder()
        .with_tls(tls())
        .with_superuser("postgres", shared_password)
        .with_hba(Hba::PlaintextAllowed)
        .with_setting("max_connections", "5")
        .with_setting("superuser_reserved_connections", "3")
        .start()
        .expect("writable cluster");
    let root = read_only
        .ca_pem_path()
        .expect("ca")
        .to_string_lossy()
        .into_owned();
    let ports = |a: u16, b: u16| format!("{a},{b}");
    let opts = ConnectOptions::new();

    // A refused first host: libpq moves on; the refusal is reported as an earlier attempt.
    let p = ports(dead_port(), writable.port());
    let conn = connect(
        &dsn(
            &[
                ("host", "localhost,localhost"),
                ("port", &p),
                ("user", "postgres"),
                ("dbname", "postgres"),
                ("sslmode", "verify-full"),
                ("sslrootcert", &root),
            ],
            shared_password,
        ),
        &opts,
    )
    .await
    .expect("failover");
    let info = conn.info();
    assert_eq!(info.endpoint.port, writable.port());
    assert_eq!(info.earlier_attempts.len(), 1);
    assert_eq!(info.earlier_attempts[0].failure, ConnectFailure::Refused);
    // What is reported.
    assert!(
        info.server_version.num >= 150000,
        "{:?}",
        info.server_version
    );
    assert!(info.server_version.text.starts_with("15."));
    assert_eq!(info.user, "postgres");
    assert_eq!(info.dbname, "postgres");
    let tls_info = info.tls.as_ref().expect("TLS");
    assert_eq!(tls_info.verification, Verification::ChainAndName);
    assert_eq!(tls_info.protocol, "TLSv1.3");
    assert!(tls_info.cipher.starts_with("TLS13_"));
    assert!(tls_info
        .peer_subject
        .as_deref()
        .is_some_and(|s| s.contains("CN=localhost")));
    assert!(tls_info.peer_not_after.is_some());
    assert!(info.channel_binding_used, "SCRAM-SHA-256-PLUS over TLS");
    assert_eq!(info.authentication, AuthMethod::ScramSha256Plus);
    assert_eq!(info.read_only, Some(false));
    assert_eq!(info.in_hot_standby, Some(false));
    let json = serde_json::to_value(info).expect("json");
    assert_eq!(json["tls"]["verification"], "chain+name");
    assert_eq!(json["ssl_mode"], "verify-full");
    assert_eq!(json["authentication"], "scram-sha-256-plus");
    assert!(!json.to_string().contains(shared_password));
    drop(conn);

    let both = ports(read_only.port(), writable.port());
    let tsa = |attrs: &'static str| {
        dsn(
            &[
                ("host", "localhost,localhost"),
                ("port", &both),
                ("user", "postgres"),
                ("dbname", "postgres"),
                ("sslmode", "require"),
                ("target_session_attrs", attrs),
            ],
            shared_password,
        )
    };
    let rw = connect(&tsa("read-write"), &opts)
        .await
        .expect("read-write");
    assert_eq!(rw.info().endpoint.port, writable.port());
    assert_eq!(
        rw.info().earlier_attempts[0].failure,
        ConnectFailure::NoSuitableHost
    );
    let ro = connect(&tsa("read-only"), &opts).await.expect("read-only");
    assert_eq!(ro.info().endpoint.port, read_only.port());
    assert_eq!(ro.info().read_only, Some(true));
    let primary = connect(&tsa("primary"), &opts).await.expect("primary");
    assert_eq!(primary.info().endpoint.port, read_only.port());
    // No standby anywhere: prefer-standby takes any server, in order.
    let any = connect(&tsa("prefer-standby"), &opts)
        .await
        .expect("prefer-standby");
    assert_eq!(any.info().endpoint.port, read_only.port());
    assert_eq!(
        failure(connect(&tsa("standby"), &opts).await),
        ConnectFailure::NoSuitableHost
    );
    let only_ro = read_only.port().to_string();
    assert_eq!(
        failure(
            connect(
                &dsn(
                    &[
                        ("host", "localhost"),
                        ("port", &only_ro),
                        ("user", "postgres"),
                        ("sslmode", "require"),
                        ("target_session_attrs", "read-write"),
                    ],
                    shared_password,
                ),
                &opts,
            )
            .await
        ),
        ConnectFailure::NoSuitableHost
    );

    // statement_timeout from the options.
    let w = writable.port().to_string();
    let base = |extra: &[(&'static str, &str)]| -> Vec<(&str, String)> {
        let mut pairs = vec![
            ("host", "localhost".to_owned()),
            ("port", w.clone()),
            ("user", "postgres".to_owned()),
            ("dbname", "postgres".to_owned()),
        ];
        pairs.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
        pairs
    };
    let owned = |pairs: &[(&str, String)], password: &str| {
        let borrowed: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        dsn(&borrowed, password)
    };
    let conn = connect(
        &owned(&base(&[("sslmode", "require")]), shared_password),
        &ConnectOptions::new().with_statement_timeout(Duration::from_millis(1500)),
    )
    .await
    .expect("statement_timeout");
    let rows = conn
        .client()
        .simple_query("SHOW statement_timeout")
        .await
        .expect("show");
    let value = rows.iter().find_map(|m| match m {
        tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_owned),
        _ => None,
    });
    assert_eq!(value.as_deref(), Some("1500ms"));
    drop(conn);

    // prefer with an untrusted certificate falls back to plaintext, and says so.
    let wrong = TestCa::new("wrong").expect("CA");
    let dir = tempfile::tempdir().expect("tempdir");
    let wrong_path = dir.path().join("wrong.crt");
    wrong.write_pem(&wrong_path).expect("write");
    let wrong_str = wrong_path.to_string_lossy().into_owned();
    let conn = connect(
        &owned(
            &base(&[("sslmode", "prefer"), ("sslrootcert", &wrong_str)]),
            shared_password,
        ),
        &opts,
    )
    .await
    .expect("prefer fallback");
    assert!(conn.info().tls.is_none());
    assert_eq!(conn.info().earlier_attempts.len(), 1);
    assert!(conn.info().earlier_attempts[0].tls);
    assert_eq!(
        conn.info().earlier_attempts[0].failure,
        ConnectFailure::CertificateUntrusted
    );
    drop(conn);

    // Unix socket.
    let sock = writable.socket_dir().to_string_lossy().into_owned();
    let conn = connect(
        &dsn(
            &[
                ("host", &sock),
                ("port", &w),
                ("user", "postgres"),
                ("sslmode", "require"),
            ],
            shared_password,
        ),
        &opts,
    )
    .await
    .expect("unix socket");
    assert!(conn.info().endpoint.unix_socket);
    assert!(conn.info().tls.is_none());
    drop(conn);

    // SQLSTATE 53300: max_connections 5 with 3 reserved for superusers.
    writable
        .create_role("app", Some("app-password"), "LOGIN")
        .expect("role");
    let app = || {
        let mut d = owned(&base(&[("sslmode", "require")]), "app-password");
        d.set("user", "app").expect("user");
        d
    };
    // Hold connections until the server refuses one (other sessions may still be closing, so
    // the exact count is not asserted).
    let mut held = Vec::new();
    let mut refused = None;
    for _ in 0..5 {
        match connect(&app(), &opts).await {
            Ok(conn) => held.push(conn),
            Err(e) => {
                refused = e.connect_failure();
                break;
            }
        }
    }
    assert_eq!(refused, Some(ConnectFailure::TooManyConnections));
    drop(held);

    // A wrong password never shows up in the error.
    let err = connect(
        &owned(&base(&[("sslmode", "require")]), "hunter2-wrong"),
        &opts,
    )
    .await
    .expect_err("wrong password");
    assert_eq!(
        err.connect_failure(),
        Some(ConnectFailure::AuthenticationFailed)
    );
    assert!(!err.to_string().contains("hunter2-wrong"));
    assert!(!format!("{err:?}").contains("hunter2-wrong"));
}

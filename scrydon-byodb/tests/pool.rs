//! The pool against a real PostgreSQL: connections are reused, statements and waits are bounded,
//! and connect failures keep their kind.

use std::time::{Duration, Instant};

use scrydon_byodb::dsn::Dsn;
use scrydon_byodb::pool::Pool;
use scrydon_byodb::{ConnectFailure, Error};
use scrydon_byodb_testbed::{free_port, Cluster, Hba};

fn cluster() -> Cluster {
    Cluster::builder()
        .with_hba(Hba::TlsOnly)
        .start()
        .expect("start a test cluster")
}

fn verify_full(cluster: &Cluster) -> Dsn {
    cluster
        .admin_uri("verify-full")
        .parse()
        .expect("the test bed's URI parses")
}

#[tokio::test]
async fn connections_are_verified_and_reused() {
    let cluster = cluster();
    let pool = Pool::builder(verify_full(&cluster))
        .with_max_size(2)
        .build()
        .unwrap();

    let pid = {
        let conn = pool.get().await.unwrap();
        let info = conn.info().clone();
        assert_eq!(
            info.tls.as_ref().map(|t| t.verification.as_str()),
            Some("chain+name")
        );
        conn.query_one("SELECT pg_backend_pid()", &[])
            .await
            .unwrap()
            .get::<_, i32>(0)
    };
    // The connection went back to the pool; the next caller gets the same backend.
    let conn = pool.get().await.unwrap();
    let again: i32 = conn
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(pid, again);
    assert_eq!(pool.status().size, 1);
}

#[tokio::test]
async fn statement_timeout_is_set_on_every_session() {
    let cluster = cluster();
    let pool = Pool::builder(verify_full(&cluster))
        .with_statement_timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let conn = pool.get().await.unwrap();
    let shown: String = conn
        .query_one("SHOW statement_timeout", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(shown, "200ms");
    let err = conn.simple_query("SELECT pg_sleep(5)").await.unwrap_err();
    assert_eq!(
        err.code(),
        Some(&tokio_postgres::error::SqlState::QUERY_CANCELED)
    );
}

#[tokio::test]
async fn waiting_for_a_busy_pool_is_bounded() {
    let cluster = cluster();
    let pool = Pool::builder(verify_full(&cluster))
        .with_max_size(1)
        .with_wait_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let _held = pool.get().await.unwrap();
    let started = Instant::now();
    let err = pool.get().await.unwrap_err();
    assert!(matches!(err, Error::Pool { .. }), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn connect_failures_keep_their_kind() {
    let cluster = cluster();
    // The right server under a name its certificate does not carry: the pool reports the TLS
    // failure, not "pool error".
    let mut dsn = verify_full(&cluster);
    dsn.set("host", "not-the-server.test").unwrap();
    dsn.set("hostaddr", "127.0.0.1").unwrap();
    let pool = Pool::builder(dsn).build().unwrap();
    let err = pool.get().await.unwrap_err();
    assert_eq!(
        err.connect_failure(),
        Some(ConnectFailure::CertificateNameMismatch),
        "{err:?}"
    );

    // Nothing listening.
    let port = free_port().unwrap();
    let dsn: Dsn = format!("postgres://u:p@127.0.0.1:{port}/db?sslmode=disable")
        .parse()
        .unwrap();
    let err = Pool::builder(dsn).build().unwrap().get().await.unwrap_err();
    assert_eq!(
        err.connect_failure(),
        Some(ConnectFailure::Refused),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_server_that_never_answers_does_not_hang() {
    // Accepts TCP and then says nothing, like a half-open firewall path.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let _accepting = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            held.push(s);
        }
    });
    let dsn: Dsn = format!("postgres://u:p@127.0.0.1:{port}/db?sslmode=disable")
        .parse()
        .unwrap();
    let pool = Pool::builder(dsn)
        .with_connect_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let started = Instant::now();
    let err = pool.get().await.unwrap_err();
    assert_eq!(
        err.connect_failure(),
        Some(ConnectFailure::Timeout),
        "{err:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn bad_settings_are_refused_before_connecting() {
    let dsn: Dsn = "postgres://u@localhost/db".parse().unwrap();
    let err = Pool::builder(dsn.clone())
        .with_max_size(0)
        .build()
        .unwrap_err();
    assert!(
        matches!(&err, Error::InvalidInput { field, .. } if field == "max size"),
        "{err:?}"
    );
    let err = Pool::builder(dsn)
        .with_wait_timeout(Duration::ZERO)
        .build()
        .unwrap_err();
    assert!(
        matches!(&err, Error::InvalidInput { field, .. } if field == "wait timeout"),
        "{err:?}"
    );
}

#[test]
fn debug_never_shows_the_password() {
    let dsn: Dsn = "postgres://u:hunter2secret@localhost/db".parse().unwrap();
    let pool = Pool::builder(dsn).build().unwrap();
    assert!(!format!("{pool:?}").contains("hunter2secret"));
}

//! Against a real PostgreSQL (and PgBouncer) from the test bed: poolers, the keepalive, and the
//! conformance suite for both providers.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use scrydon_byodb::connect::{connect, ConnectOptions};
use scrydon_byodb::dsn::Dsn;
use scrydon_byodb::provider::conformance;
use scrydon_byodb_neon::{Keepalive, KeepaliveStats, NeonProvider, Pooler, SupabaseProvider};
use scrydon_byodb_testbed::{Cluster, PgBouncer, PoolMode};

async fn simple(dsn: &Dsn, sql: &str) -> Vec<String> {
    let conn = connect(dsn, &ConnectOptions::new()).await.expect("connect");
    conn.client()
        .simple_query(sql)
        .await
        .expect("query")
        .iter()
        .filter_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_owned),
            _ => None,
        })
        .collect()
}

/// Polls `cond` on the keepalive's stats until it holds or `limit` passes.
async fn wait_for(
    what: &str,
    limit: Duration,
    stats: impl Fn() -> KeepaliveStats,
    cond: impl Fn(&KeepaliveStats) -> bool,
) -> KeepaliveStats {
    let start = Instant::now();
    loop {
        let s = stats();
        if cond(&s) {
            return s;
        }
        assert!(
            start.elapsed() < limit,
            "timed out waiting for {what}: {s:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transaction_pooler_detected_ddl_refused_runtime_works() {
    let cluster = Cluster::builder().start().expect("cluster");
    let direct: Dsn = cluster.admin_uri("require").parse().unwrap();
    let bouncer = PgBouncer::builder(&cluster)
        .with_pool_mode(PoolMode::Transaction)
        .with_client_tls(true)
        .start()
        .expect("pgbouncer");
    let pooled: Dsn = bouncer
        .dsn(
            cluster.superuser(),
            Some(cluster.superuser_password()),
            "postgres",
            &[("sslmode", "require")],
        )
        .parse()
        .unwrap();

    let p = Pooler::detect(&pooled).await.expect("probe");
    assert_eq!(p.confirmed, Some(true));
    assert!(p.transaction_mode());
    // A PgBouncer of one's own on loopback: the direct endpoint cannot be derived, it is given.
    assert!(p.direct_dsn().is_none());
    let p = p.with_direct_dsn(direct.clone());
    let err = p
        .check_statement("CREATE TABLE t (id int)")
        .expect_err("DDL through the pooler");
    let named = format!("127.0.0.1:{}", cluster.port());
    assert!(err.to_string().contains(&named), "{err}");
    assert!(!err.to_string().contains(cluster.superuser_password()));
    assert_eq!(p.finding().status, scrydon_byodb::report::Status::Warn);

    // Migrations go direct; the runtime path stays pooled with simple queries.
    p.check_statement("INSERT INTO t VALUES (1)").unwrap();
    simple(&direct, "CREATE TABLE t (id int)").await;
    simple(&pooled, "INSERT INTO t VALUES (1), (2)").await;
    assert_eq!(simple(&pooled, "SELECT count(*) FROM t").await, ["2"]);

    let d = Pooler::detect(&direct).await.expect("probe");
    assert_eq!(d.confirmed, Some(false));
    d.check_statement("CREATE TABLE u (id int)").unwrap();
    assert_eq!(d.finding().status, scrydon_byodb::report::Status::Pass);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keepalive_pings_reconnects_and_stops_promptly() {
    let mut cluster = Cluster::builder().start().expect("cluster");
    let mut dsn: Dsn = cluster.admin_uri("require").parse().unwrap();
    dsn.set("application_name", "scrydon-keepalive-test")
        .unwrap();
    dsn.set("connect_timeout", "2").unwrap();
    let handle = Keepalive::builder(dsn.clone())
        .with_interval(Duration::from_secs(1))
        .with_max_backoff(Duration::from_secs(2))
        .spawn()
        .expect("spawn");
    let s = wait_for(
        "two pings",
        Duration::from_secs(30),
        || handle.stats(),
        |s| s.pings >= 2,
    )
    .await;
    assert_eq!(s.connects, 1, "one connection reused: {s:?}");

    // The server sees one keepalive session whose last query is the ping.
    let admin: Dsn = cluster.admin_uri("require").parse().unwrap();
    let rows = simple(
        &admin,
        "SELECT count(*) || ':' || max(query) FROM pg_stat_activity \
         WHERE application_name = 'scrydon-keepalive-test'",
    )
    .await;
    assert_eq!(rows, ["1:SELECT 1"]);

    // The server goes away: the ping fails, reconnections fail with backoff.
    tokio::task::block_in_place(|| cluster.stop()).expect("stop");
    let down = wait_for(
        "failures",
        Duration::from_secs(30),
        || handle.stats(),
        |s| s.ping_failures >= 1 && s.connect_failures >= 2,
    )
    .await;
    assert!(down.last_error.is_some());
    assert!(!down
        .last_error
        .as_deref()
        .unwrap_or("")
        .contains(cluster.superuser_password()));
    // Backoff: over ~2 s no more than a few attempts.
    let before = handle.stats().connect_failures;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(handle.stats().connect_failures - before <= 3);

    // It comes back: the keepalive reconnects and pings again.
    tokio::task::block_in_place(|| cluster.start()).expect("start");
    let pings_before = handle.stats().pings;
    wait_for(
        "reconnect",
        Duration::from_secs(30),
        || handle.stats(),
        |s| s.connects >= 2 && s.pings > pings_before,
    )
    .await;

    let t = Instant::now();
    let last = handle.stop().await;
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "stop took {:?}",
        t.elapsed()
    );
    assert!(last.finished);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keepalive_window_and_interval_bounds() {
    let dsn: Dsn = "postgresql://u@127.0.0.1:1/db?connect_timeout=1"
        .parse()
        .unwrap();
    for (interval, suspend) in [
        (Duration::from_millis(500), 300),
        (Duration::from_secs(300), 300),
        (Duration::from_secs(60), 30),
    ] {
        let err = Keepalive::builder(dsn.clone())
            .with_interval(interval)
            .with_suspend_timeout(Duration::from_secs(suspend))
            .spawn()
            .expect_err("refused");
        assert!(
            matches!(err, scrydon_byodb::Error::InvalidInput { .. }),
            "{err:?}"
        );
    }
    // Nothing listens on port 1: it keeps failing, and the window ends it anyway.
    let handle = Keepalive::builder(dsn)
        .with_interval(Duration::from_secs(1))
        .with_window(Duration::from_millis(1500))
        .spawn()
        .unwrap();
    let s = wait_for(
        "the window to end",
        Duration::from_secs(20),
        || handle.stats(),
        |s| s.finished,
    )
    .await;
    assert!(s.connect_failures >= 1 && s.pings == 0, "{s:?}");
    assert!(handle.stop().await.finished);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn neon_provider_is_conformant() {
    let cluster = Cluster::builder()
        .with_setting("neon.tenant_id", "b0554b632bd4d547a63b86c3630317e8")
        .with_setting("neon.timeline_id", "ab3fa6f9d4d0e1d5d7eeaf1bbbd3d5fb")
        .start()
        .expect("cluster");
    let dsn: Dsn = cluster.admin_uri("require").parse().unwrap();
    let mock = common::standard();
    let base = mock.start().await;
    let neon = NeonProvider::builder()
        .with_api_key(common::KEY)
        .with_endpoint_id(common::ENDPOINT)
        .with_base_url(base)
        .build()
        .unwrap();
    let options = conformance::Options {
        allow_writes: true,
        writable_parameter: Some("suspend_timeout_seconds".to_owned()),
    };
    let c = conformance::run_with(&neon, &dsn, &options).await;
    c.assert_conformant();
    assert_eq!(
        c.outcome("detection"),
        Some(&conformance::Outcome::Passed),
        "{c}"
    );
    assert_eq!(
        c.outcome("set_parameter"),
        Some(&conformance::Outcome::Passed),
        "{c}"
    );
    assert_eq!(
        c.outcome("backup_posture"),
        Some(&conformance::Outcome::Passed),
        "{c}"
    );
    // Writing the current value back sent no PATCH.
    assert!(mock.requests().iter().all(|r| r.method == "GET"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn supabase_provider_is_conformant() {
    let cluster = Cluster::builder()
        .with_setting("supautils.privileged_role", "postgres")
        .start()
        .expect("cluster");
    let dsn: Dsn = cluster.admin_uri("require").parse().unwrap();
    let without_ca = SupabaseProvider::builder().build().unwrap();
    conformance::run(&without_ca, &dsn)
        .await
        .assert_conformant();
    let with_ca = SupabaseProvider::builder()
        .with_ca_file(cluster.ca_pem_path().expect("the test CA"))
        .build()
        .unwrap();
    let c = conformance::run(&with_ca, &dsn).await;
    c.assert_conformant();
    assert_eq!(
        c.outcome("ca_bundle"),
        Some(&conformance::Outcome::Passed),
        "{c}"
    );
    assert_eq!(
        c.outcome("detection"),
        Some(&conformance::Outcome::Passed),
        "{c}"
    );
}

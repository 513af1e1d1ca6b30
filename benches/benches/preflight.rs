//! What a full preflight of five databases costs in round trips, next to the obvious
//! alternative: a script that runs one `psql` call per check.
//!
//! Both go through the test bed's `DelayProxy`, which adds a fixed delay in each direction, to
//! a PostgreSQL 15 server with TLS (TLS 1.3, `verify-full`) and SCRAM. The figure is wall time
//! divided by the round-trip time; the "net" figure subtracts the same run without delay, which
//! leaves only what the network costs (process start-up and CPU drop out).
//!
//! `cargo bench --bench preflight` (set `SCRYDON_BENCH_DELAY_MS` for another one-way delay,
//! default 50 ms). Under `cargo test` it does nothing.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use scrydon_byodb::dsn::Dsn;
use scrydon_byodb::preflight::{Preflight, Report, Target};
use scrydon_byodb_testbed::{psql, quote_conninfo_value, Cluster, DelayProxy};

const COMPONENT_DATABASES: [&str; 5] = ["auth", "agentic", "analytics", "cortex", "ontology"];
const VECTOR_DATABASES: [&str; 3] = ["auth", "agentic", "cortex"];
const RUNS: usize = 5;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

struct Bed {
    cluster: Cluster,
    proxy: DelayProxy,
}

impl Bed {
    fn start() -> Bed {
        let cluster = Cluster::builder()
            .with_setting("max_connections", "200")
            .start()
            .expect("cluster");
        cluster
            .create_role("scrydon", Some("app-pw"), "LOGIN")
            .expect("role");
        for db in COMPONENT_DATABASES {
            cluster
                .create_database(db, Some("scrydon"))
                .expect("database");
        }
        for db in VECTOR_DATABASES {
            cluster
                .psql_in(db, "CREATE EXTENSION vector;")
                .expect("vector");
        }
        let target: SocketAddr = format!("127.0.0.1:{}", cluster.port())
            .parse()
            .expect("address");
        let proxy = DelayProxy::start(target, Duration::ZERO).expect("proxy");
        Bed { cluster, proxy }
    }

    fn ca(&self) -> String {
        self.cluster
            .ca_pem_path()
            .expect("TLS")
            .to_string_lossy()
            .into_owned()
    }

    /// The superuser's DSN through the proxy (the server certificate names 127.0.0.1).
    fn admin(&self) -> Dsn {
        let uri = scrydon_byodb_testbed::conninfo(&[
            ("host", "127.0.0.1"),
            ("port", &self.proxy.port().to_string()),
            ("user", self.cluster.superuser()),
            ("password", self.cluster.superuser_password()),
            ("dbname", "postgres"),
            ("sslmode", "verify-full"),
            ("sslrootcert", &self.ca()),
        ]);
        Dsn::parse(&uri).expect("DSN")
    }

    /// psql's conninfo through the proxy, without the password.
    fn conninfo(&self, db: &str, sslmode: &str) -> String {
        format!(
            "host=127.0.0.1 port={} user={} dbname={} sslmode={sslmode} sslrootcert={}",
            self.proxy.port(),
            quote_conninfo_value(self.cluster.superuser()),
            quote_conninfo_value(db),
            quote_conninfo_value(&self.ca())
        )
    }
}

fn run_preflight(runtime: &tokio::runtime::Runtime, admin: &Dsn) -> (Duration, Report) {
    let target = Target::builder(admin.clone()).build().expect("target");
    let started = Instant::now();
    let report = runtime
        .block_on(Preflight::new(target).run())
        .expect("preflight");
    (started.elapsed(), report)
}

/// The checks as a script would make them: one psql call each (database, SQL, may fail).
fn psql_script() -> Vec<(String, String, bool)> {
    let mut calls: Vec<(String, String, bool)> = Vec::new();
    let server = [
        "SHOW server_version_num",
        "SELECT default_version FROM pg_available_extensions WHERE name = 'vector'",
        "SELECT rolcanlogin FROM pg_roles WHERE rolname = 'scrydon'",
        "SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
        "SELECT current_setting('max_connections')::int - current_setting('superuser_reserved_connections')::int",
        "SELECT current_setting('rds.force_ssl', true)",
        "SELECT current_setting('rds.allowed_extensions', true)",
        "SELECT current_setting('azure.extensions', true)",
    ];
    for sql in server {
        calls.push(("postgres".into(), sql.into(), false));
    }
    // The plaintext probe: psql with sslmode=disable, expected to be refused.
    calls.push(("postgres".into(), "SELECT 1".into(), true));
    for db in COMPONENT_DATABASES {
        calls.push((
            "postgres".into(),
            format!("SELECT 1 FROM pg_database WHERE datname = '{db}'"),
            false,
        ));
        calls.push((
            "postgres".into(),
            format!("SELECT has_database_privilege('scrydon', '{db}', 'CONNECT')"),
            false,
        ));
        calls.push((
            "postgres".into(),
            format!("SELECT has_database_privilege('scrydon', '{db}', 'CREATE')"),
            false,
        ));
        calls.push((
            db.into(),
            "SELECT has_schema_privilege('scrydon', 'public', 'CREATE')".into(),
            false,
        ));
        calls.push((
            db.into(),
            "SELECT count(*) FROM pg_class WHERE relname LIKE 'dapr_workflow_state%' OR relname LIKE 'analytics_dapr_workflow_state%'".into(),
            false,
        ));
        if VECTOR_DATABASES.contains(&db) {
            calls.push((
                db.into(),
                "SELECT extversion FROM pg_extension WHERE extname = 'vector'".into(),
                false,
            ));
        }
    }
    calls
}

fn run_psql(bed: &Bed, calls: &[(String, String, bool)]) -> Duration {
    let started = Instant::now();
    for (db, sql, plaintext) in calls {
        let mode = if *plaintext { "disable" } else { "verify-full" };
        let result = psql(
            &bed.conninfo(db, mode),
            Some(bed.cluster.superuser_password()),
            sql,
        );
        assert_eq!(result.is_err(), *plaintext, "{sql}: {result:?}");
    }
    started.elapsed()
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        // `cargo test` runs bench targets without --bench (and nextest asks for --list): the
        // measurement needs `cargo bench`.
        return;
    }
    let delay_ms: u64 = std::env::var("SCRYDON_BENCH_DELAY_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    let delay = Duration::from_millis(delay_ms);
    let rtt = delay * 2;
    let bed = Bed::start();
    let admin = bed.admin();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let calls = psql_script();

    // Warm up (templates, caches), and check the preflight passes: every check really ran.
    let (_, report) = run_preflight(&runtime, &admin);
    assert_eq!(report.exit_code(false), 0, "{}", report.to_text(false));

    let measure = |delay: Duration| {
        bed.proxy.set_delay(delay);
        let before = bed.proxy.connections();
        let ours = median(
            (0..RUNS)
                .map(|_| run_preflight(&runtime, &admin).0)
                .collect(),
        );
        let connections = (bed.proxy.connections() - before) / RUNS as u64;
        let script = run_psql(&bed, &calls);
        (ours, connections, script)
    };
    let (ours_0, _, psql_0) = measure(Duration::ZERO);
    let (ours_d, connections, psql_d) = measure(delay);

    let rt = |d: Duration| d.as_secs_f64() / rtt.as_secs_f64();
    let n = calls.len() as f64;
    println!();
    println!(
        "preflight of five databases, PostgreSQL 15, TLS 1.3 verify-full + SCRAM, \
         through DelayProxy ({delay_ms} ms each way, RTT {} ms)",
        rtt.as_millis()
    );
    println!(
        "{:<34} {:>12} {:>12} {:>14} {:>14}",
        "", "wall", "no delay", "wall / RTT", "net / RTT"
    );
    println!(
        "{:<34} {:>9} ms {:>9} ms {:>14.1} {:>14.1}",
        format!("scrydon-byodb preflight ({connections} conns)"),
        ours_d.as_millis(),
        ours_0.as_millis(),
        rt(ours_d),
        rt(ours_d.saturating_sub(ours_0)),
    );
    println!(
        "{:<34} {:>9} ms {:>9} ms {:>14.1} {:>14.1}",
        format!("psql, one call per check ({})", calls.len()),
        psql_d.as_millis(),
        psql_0.as_millis(),
        rt(psql_d),
        rt(psql_d.saturating_sub(psql_0)),
    );
    println!(
        "{:<34} {:>9} ms {:>9} ms {:>14.1} {:>14.1}",
        "  per psql call",
        (psql_d.as_secs_f64() * 1000.0 / n).round(),
        (psql_0.as_secs_f64() * 1000.0 / n).round(),
        rt(psql_d) / n,
        rt(psql_d.saturating_sub(psql_0)) / n,
    );
    println!(
        "ratio (psql script / preflight, wall): {:.0}x",
        psql_d.as_secs_f64() / ours_d.as_secs_f64()
    );
}

//! Bootstrap of five databases next to the runbook's psql heredoc ("Pre-create databases and
//! extension"), both through the test bed's `DelayProxy` to PostgreSQL 15 with TLS
//! (`verify-full`) and SCRAM.
//!
//! The heredoc is run by the real `psql` (`\c` and all). It does less than bootstrap: no app
//! role, no ownership, no idempotence (a second run fails), no proof. Bootstrap is timed as plan +
//! apply, and again with the proof (as the app role, in each database). Each iteration starts
//! from an empty server (databases and role dropped over the Unix socket, not timed).
//!
//! `cargo bench --bench bootstrap` (`SCRYDON_BENCH_DELAY_MS` sets the one-way delay, default
//! 5 ms). Under `cargo test` it does nothing.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use scrydon_byodb::bootstrap::Bootstrap;
use scrydon_byodb::dsn::Dsn;
use scrydon_byodb::preflight::Target;
use scrydon_byodb::SecretString;
use scrydon_byodb_testbed::{psql, quote_conninfo_value, Cluster, DelayProxy};

const RUNS: usize = 3;

const HEREDOC: &str = "\
CREATE DATABASE auth;
CREATE DATABASE agentic;
CREATE DATABASE analytics; -- only if analytics.enabled (default true)
CREATE DATABASE cortex;    -- only if cortex.enabled (default true)
CREATE DATABASE ontology;  -- only if apiOntology.enabled (default true)
\\c auth
CREATE EXTENSION IF NOT EXISTS vector;
\\c agentic
CREATE EXTENSION IF NOT EXISTS vector;
\\c cortex
CREATE EXTENSION IF NOT EXISTS vector;
";

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn reset(cluster: &Cluster) {
    for db in ["auth", "agentic", "analytics", "cortex", "ontology"] {
        cluster
            .psql(&format!("DROP DATABASE IF EXISTS {db};"))
            .expect("drop database");
    }
    cluster
        .psql("DROP ROLE IF EXISTS scrydon;")
        .expect("drop role");
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let delay_ms: u64 = std::env::var("SCRYDON_BENCH_DELAY_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let cluster = Cluster::start_default().expect("cluster");
    let target_addr: SocketAddr = format!("127.0.0.1:{}", cluster.port())
        .parse()
        .expect("address");
    let proxy = DelayProxy::start(target_addr, Duration::from_millis(delay_ms)).expect("proxy");
    let ca = cluster
        .ca_pem_path()
        .expect("TLS")
        .to_string_lossy()
        .into_owned();
    let port = proxy.port().to_string();
    let admin = Dsn::parse(&scrydon_byodb_testbed::conninfo(&[
        ("host", "127.0.0.1"),
        ("port", &port),
        ("user", cluster.superuser()),
        ("password", cluster.superuser_password()),
        ("dbname", "postgres"),
        ("sslmode", "verify-full"),
        ("sslrootcert", &ca),
    ]))
    .expect("DSN");
    let psql_conninfo = format!(
        "host=127.0.0.1 port={port} user={} dbname=postgres sslmode=verify-full sslrootcert={}",
        quote_conninfo_value(cluster.superuser()),
        quote_conninfo_value(&ca)
    );
    let bootstrap = Bootstrap::builder(Target::builder(admin).build().expect("target"))
        .with_password(SecretString::new("bench-app-pw"))
        .build()
        .expect("bootstrap");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");

    let (mut ours, mut ours_proof, mut heredoc) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..RUNS {
        reset(&cluster);
        let started = Instant::now();
        let (plan, applied) = runtime.block_on(bootstrap.run()).expect("bootstrap");
        ours.push(started.elapsed());
        let proof = runtime.block_on(bootstrap.prove()).expect("prove");
        ours_proof.push(started.elapsed());
        assert!(
            applied.succeeded() && plan.steps.len() == 9,
            "{}",
            plan.to_text()
        );
        assert!(proof.iter().all(|f| !f.is_failure()));

        reset(&cluster);
        let started = Instant::now();
        psql(&psql_conninfo, Some(cluster.superuser_password()), HEREDOC).expect("heredoc");
        heredoc.push(started.elapsed());
    }
    let (ours, ours_proof, heredoc) = (median(ours), median(ours_proof), median(heredoc));
    println!();
    println!(
        "bootstrap of five databases (+ role, + pgvector in three), PostgreSQL 15, TLS verify-full + SCRAM, \
         DelayProxy {delay_ms} ms each way, median of {RUNS}"
    );
    println!(
        "{:<44} {:>8} ms",
        "scrydon-byodb bootstrap (plan + apply)",
        ours.as_millis()
    );
    println!(
        "{:<44} {:>8} ms",
        "scrydon-byodb bootstrap + proof",
        ours_proof.as_millis()
    );
    println!(
        "{:<44} {:>8} ms",
        "runbook psql heredoc (databases + vector)",
        heredoc.as_millis()
    );
    println!(
        "ratio (heredoc / bootstrap, wall): {:.2}x; with proof: {:.2}x",
        heredoc.as_secs_f64() / ours.as_secs_f64(),
        heredoc.as_secs_f64() / ours_proof.as_secs_f64()
    );
}

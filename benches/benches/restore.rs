//! Restore of a gzip'd `pg_dump --format=custom` archive (the backup CronJob's `*.sql.gz`):
//! `scrydon_byodb::restore` next to `gunzip -c archive | pg_restore -d ...` run directly on the
//! same archive, into fresh databases of the same PostgreSQL 15 server, and the peak memory
//! (VmHWM) of a process that runs the restore, for two archive sizes: the decompression is
//! streamed, so it does not grow with the archive.
//!
//! `cargo bench --bench restore` (`SCRYDON_BENCH_ROWS` for the larger archive's row count,
//! default 200000; the smaller has a tenth). Under `cargo test` it does nothing.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use scrydon_byodb::dsn::Dsn;
use scrydon_byodb::restore::{restore, RestoreOptions};
use scrydon_byodb_testbed::{client_tool, Cluster};

const PW: &str = "bench-restore-pw";
/// Child mode: restore `SCRYDON_BENCH_ARCHIVE` into `SCRYDON_BENCH_DSN` and print VmHWM (kB).
const CHILD_ENV: &str = "SCRYDON_BENCH_RESTORE_CHILD";

fn vm_hwm_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

fn child() {
    let archive = std::env::var("SCRYDON_BENCH_ARCHIVE").expect("archive");
    let dsn: Dsn = std::env::var("SCRYDON_BENCH_DSN")
        .expect("dsn")
        .parse()
        .expect("dsn");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let report = rt
        .block_on(restore(&RestoreOptions::new(archive, dsn)))
        .expect("restore");
    assert!(report.succeeded(), "{:#?}", report.findings);
    println!("{}", vm_hwm_kb());
}

fn make_archive(cluster: &Cluster, dir: &Path, rows: u64) -> PathBuf {
    let db = format!("src_{rows}");
    cluster.create_database(&db, None).expect("source");
    cluster
        .psql_in(
            &db,
            &format!(
                "CREATE EXTENSION vector;
                 CREATE TABLE items (id bigserial PRIMARY KEY, body text, embedding vector(8));
                 INSERT INTO items (body, embedding)
                   SELECT repeat(md5(i::text), 4), array_fill((i % 97)::real, ARRAY[8])::vector
                     FROM generate_series(1, {rows}) i;"
            ),
        )
        .expect("data");
    let custom = dir.join(format!("{db}.dump"));
    let ok = Command::new(client_tool("pg_dump").expect("pg_dump"))
        .args(["--format=custom", "-f"])
        .arg(&custom)
        .arg("-d")
        .arg(cluster.conninfo(cluster.superuser(), &db, &[("sslmode", "require")]))
        .env("PGPASSWORD", cluster.superuser_password())
        .status()
        .expect("pg_dump")
        .success();
    assert!(ok);
    let gz = dir.join(format!("{db}.sql.gz"));
    let out = Command::new("gzip")
        .arg("-c")
        .arg(&custom)
        .output()
        .expect("gzip");
    std::fs::write(&gz, out.stdout).expect("write");
    gz
}

fn target(cluster: &Cluster, db: &str) -> Dsn {
    cluster.create_database(db, Some("restorer")).expect("db");
    cluster
        .psql_in(db, "CREATE EXTENSION vector;")
        .expect("vector");
    cluster
        .dsn("restorer", Some(PW), db, &[("sslmode", "require")])
        .parse()
        .expect("dsn")
}

/// Runs the restore in a child process; returns (wall time, its VmHWM in kB).
fn ours(archive: &Path, dsn: &Dsn) -> (Duration, u64) {
    let exe = std::env::current_exe().expect("exe");
    let start = Instant::now();
    let out = Command::new(exe)
        .env(CHILD_ENV, "1")
        .env("SCRYDON_BENCH_ARCHIVE", archive)
        .env("SCRYDON_BENCH_DSN", dsn.to_uri().expose_secret())
        .output()
        .expect("child");
    let took = start.elapsed();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let kb = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0);
    (took, kb)
}

fn direct(cluster: &Cluster, archive: &Path, db: &str) -> Duration {
    let conninfo = cluster.conninfo("restorer", db, &[("sslmode", "require")]);
    let script = format!(
        "gunzip -c '{}' | '{}' --no-owner --no-privileges -d \"$CONNINFO\"",
        archive.display(),
        client_tool("pg_restore").expect("pg_restore").display()
    );
    let start = Instant::now();
    let out = Command::new("sh")
        .arg("-c")
        .arg(script)
        .env("CONNINFO", conninfo)
        .env("PGPASSWORD", PW)
        .output()
        .expect("sh");
    let took = start.elapsed();
    // COMMENT ON EXTENSION fails for a non-owner: pg_restore exits 1 after "errors ignored".
    let _ = out;
    took
}

fn main() {
    if std::env::var_os(CHILD_ENV).is_some() {
        return child();
    }
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let large: u64 = std::env::var("SCRYDON_BENCH_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    let cluster = Cluster::builder().start().expect("cluster");
    cluster
        .create_role("restorer", Some(PW), "LOGIN")
        .expect("role");
    let dir = tempfile::tempdir().expect("dir");
    println!("restore of a gzip'd custom archive, PostgreSQL 15, TLS; child process per restore");
    println!(
        "{:>9} {:>10} {:>10} {:>12} {:>8} {:>10}",
        "rows", "archive", "ours", "gunzip|pg_r", "ratio", "VmHWM"
    );
    for rows in [large / 10, large] {
        let archive = make_archive(&cluster, dir.path(), rows);
        let size = std::fs::metadata(&archive).expect("size").len();
        let mut ours_t = Vec::new();
        let mut direct_t = Vec::new();
        let mut hwm = 0;
        for run in 0..3 {
            let (t, kb) = ours(&archive, &target(&cluster, &format!("o_{rows}_{run}")));
            ours_t.push(t);
            hwm = hwm.max(kb);
            let db = format!("d_{rows}_{run}");
            let _ = target(&cluster, &db);
            direct_t.push(direct(&cluster, &archive, &db));
        }
        ours_t.sort();
        direct_t.sort();
        let (o, d) = (ours_t[1], direct_t[1]);
        println!(
            "{rows:>9} {:>8.1}MB {:>9.2}s {:>11.2}s {:>8.2} {:>7} kB",
            size as f64 / 1e6,
            o.as_secs_f64(),
            d.as_secs_f64(),
            o.as_secs_f64() / d.as_secs_f64(),
            hwm
        );
    }
}

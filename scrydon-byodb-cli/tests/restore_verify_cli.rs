//! `scrydon-byodb restore` and `verify` end to end: exit codes, JSON shape, the DSN read from
//! stdin (never argv), and no password in the output.

mod common;

use std::process::Command;

use common::cli as run;

use scrydon_byodb_testbed::{client_tool, Cluster};

const PW: &str = "cli-restore-pw-5";

#[test]
fn restore_then_verify() {
    let cluster = Cluster::builder().start().expect("cluster");
    cluster
        .create_role("scrydon", Some(PW), "LOGIN")
        .expect("role");
    cluster.create_database("source", None).expect("db");
    cluster
        .psql_in(
            "source",
            "CREATE SCHEMA drizzle;
             CREATE TABLE drizzle.__drizzle_migrations (id serial PRIMARY KEY, hash text NOT NULL, created_at bigint);
             INSERT INTO drizzle.__drizzle_migrations (hash, created_at) VALUES ('abc', 1760000000000);
             CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t SELECT generate_series(1, 100);",
        )
        .expect("source");
    let dir = tempfile::tempdir().expect("dir");
    let archive = dir.path().join("backup.sql.gz");
    let ok = Command::new(client_tool("pg_dump").expect("pg_dump"))
        .args(["--format=custom", "-f"])
        .arg(&archive)
        .arg("-d")
        .arg(cluster.conninfo(cluster.superuser(), "source", &[("sslmode", "require")]))
        .env("PGPASSWORD", cluster.superuser_password())
        .status()
        .expect("pg_dump")
        .success();
    assert!(ok);
    cluster
        .create_database("analytics", Some("scrydon"))
        .expect("db");
    let dsn = cluster.dsn("scrydon", Some(PW), "analytics", &[("sslmode", "require")]);
    let archive_arg = archive.display().to_string();

    let out = run(
        &[
            "restore",
            "--archive",
            &archive_arg,
            "--target-url",
            "-",
            "--json",
        ],
        &format!("{dsn}\n"),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_str(&stdout).expect("json");
    assert_eq!(v["state"], "complete");
    assert!(!stdout.contains(PW));

    // Again without --clean: the database is no longer empty; nothing is done (exit 2).
    let out = run(
        &[
            "restore",
            "--archive",
            &archive_arg,
            "--target-url",
            "-",
            "--json",
        ],
        &dsn,
    );
    assert_eq!(out.status.code(), Some(2));

    // verify with the DSN file the app uses: migrations restored, host and database right.
    let dsn_file = dir.path().join("analytics.dsn");
    std::fs::write(&dsn_file, &dsn).expect("write");
    let spec = format!("analytics={}", dsn_file.display());
    let out = run(&["verify", "--dsn-file", &spec, "--json"], "");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    let v: serde_json::Value = serde_json::from_str(&stdout).expect("json");
    assert_eq!(v["ok"], true);
    assert!(!stdout.contains(PW));

    // The same DSN for auth: wrong database, and no migrations there: exit 1.
    let spec = format!("auth={}", dsn_file.display());
    let out = run(&["verify", "--dsn-file", &spec, "--json"], "");
    assert_eq!(out.status.code(), Some(1));

    // Bad input: exit 2.
    let out = run(&["verify", "--dsn-file", "nonsense", "--json"], "");
    assert_eq!(out.status.code(), Some(2));
}

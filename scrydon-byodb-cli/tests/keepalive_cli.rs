//! `scrydon-byodb keepalive` against a real server: it queries during its window, stops by
//! itself, and refuses an interval the endpoint would suspend between.
#![cfg(feature = "neon")]

use std::io::Write;
use std::process::{Command, Stdio};

use scrydon_byodb_testbed::{Cluster, Hba};

const BIN: &str = env!("CARGO_BIN_EXE_scrydon-byodb");

fn keepalive(args: &[&str], dsn: &str) -> std::process::Output {
    let mut child = Command::new(BIN)
        .arg("keepalive")
        .arg("-")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the CLI");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(dsn.as_bytes())
        .expect("write the DSN");
    child.wait_with_output().expect("wait for the CLI")
}

#[test]
fn queries_during_the_window_then_stops() {
    let cluster = Cluster::builder()
        .with_hba(Hba::TlsOnly)
        .start()
        .expect("cluster");
    let out = keepalive(
        &["--interval", "1", "--window", "3", "--json"],
        &cluster.admin_uri("verify-full"),
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(v["ok"], true);
    assert!(
        v["pings"].as_u64().is_some_and(|n| (1..=5).contains(&n)),
        "{v}"
    );
    assert_eq!(v["connects"], 1, "{v}");
    assert_eq!(v["ping_failures"], 0, "{v}");
}

#[test]
fn refuses_an_interval_at_or_above_the_suspend_timeout() {
    let out = keepalive(
        &["--interval", "300", "--json"],
        "postgres://u:secretpw@127.0.0.1:1/db",
    );
    assert_eq!(out.status.code(), Some(2));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("\"invalid_input\""), "{stdout}");
    assert!(!stdout.contains("secretpw"));
}

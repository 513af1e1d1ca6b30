//! `scrydon-byodb run` and `report` end to end: a run stopped by a failure preflight cannot leave
//! to bootstrap, resumed after the fix; a rerun skipping passed stages; the compliance report's
//! exit code and JSON shape; no password in any output.

mod common;

use std::process::Output;

use common::cli;

use scrydon_byodb_testbed::Cluster;

const APP_PW: &str = "run-app-pw-7";

fn stages(out: &Output) -> Vec<(String, String)> {
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    v["stages"]
        .as_array()
        .expect("stages")
        .iter()
        .map(|s| {
            (
                s["stage"].as_str().unwrap_or_default().to_owned(),
                s["status"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

#[test]
fn run_stops_resumes_and_reports() {
    let cluster = Cluster::builder().start().expect("cluster");
    let admin = cluster.admin_uri("verify-full");
    let dir = tempfile::tempdir().expect("tempdir");
    let pw = dir.path().join("pw");
    std::fs::write(&pw, format!("{APP_PW}\n")).expect("pw");
    let out = dir.path().join("out");
    let base = [
        "run",
        "--admin-url",
        "-",
        "--password-file",
        pw.to_str().expect("utf-8"),
        "--out",
        out.to_str().expect("utf-8"),
        "--json",
    ];

    // The default demand (65 connections) exceeds this server's 47: capacity fails, which
    // bootstrap cannot fix, so the run stops before changing anything.
    let first = cli(&base, &admin);
    assert_eq!(first.status.code(), Some(1));
    assert_eq!(
        stages(&first),
        pairs(&[
            ("preflight", "failed"),
            ("bootstrap", "not_run"),
            ("render", "not_run"),
            ("verify", "not_run")
        ])
    );
    let role = cluster
        .psql("SELECT count(*) FROM pg_roles WHERE rolname = 'scrydon';")
        .expect("psql");
    assert_eq!(role, "0", "nothing changed before bootstrap");

    // The fix: the real demand. The missing role and databases are left to bootstrap.
    let mut fixed = base.to_vec();
    fixed.extend(["--pods", "1", "--pool-size", "4"]);
    let second = cli(&fixed, &admin);
    assert_eq!(
        second.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&second.stdout)
    );
    assert_eq!(
        stages(&second),
        pairs(&[
            ("preflight", "passed"),
            ("bootstrap", "passed"),
            ("render", "passed"),
            ("verify", "passed")
        ])
    );
    assert!(out.join("run-state.json").exists());
    assert!(out.join("render/secrets").exists());

    // Same inputs: every stage resumed.
    let third = cli(&fixed, &admin);
    assert_eq!(third.status.code(), Some(0));
    assert!(stages(&third).iter().all(|(_, s)| s == "resumed"));
    // --from-start redoes them (bootstrap converged: nothing to apply).
    let mut again = fixed.clone();
    again.push("--from-start");
    let fourth = cli(&again, &admin);
    assert_eq!(fourth.status.code(), Some(0));
    assert!(stages(&fourth).iter().all(|(_, s)| s == "passed"));

    for o in [&first, &second, &third, &fourth] {
        let text = String::from_utf8_lossy(&o.stdout);
        assert!(!text.contains(APP_PW) && !text.contains(cluster.superuser_password()));
    }

    // The compliance report: not met is an answer (exit 0), in every format.
    let json = cli(&["report", "--admin-url", "-", "--format", "json"], &admin);
    assert_eq!(json.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).expect("json");
    let controls: Vec<(&str, &str)> = v["controls"]
        .as_array()
        .expect("controls")
        .iter()
        .map(|c| {
            (
                c["control"].as_str().unwrap_or_default(),
                c["status"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        controls,
        [
            ("iso27001.a.8.13", "not_met"),
            ("iso27001.a.8.24", "met"),
            ("nist.sc-8", "met"),
            ("nist.cp-9", "not_met"),
            ("nist.cp-10", "not_met"),
            ("secnumcloud.3.2.continuity", "not_met"),
        ]
    );
    let md = cli(
        &[
            "report",
            "--admin-url",
            "-",
            "--format",
            "md",
            "--provider",
            "aws-rds",
        ],
        &admin,
    );
    assert_eq!(md.status.code(), Some(0));
    let md = String::from_utf8_lossy(&md.stdout);
    assert!(md.contains("| ISO 27001:2022 A.8.24 |"), "{md}");
    assert!(md.contains("infra.db.backup.enabled: false"), "{md}");
    assert!(!md.contains(cluster.superuser_password()));

    // Invalid input: exit 2.
    let bad = cli(&["report", "--admin-url", "-"], "postgres://[::1");
    assert_eq!(bad.status.code(), Some(2));
}

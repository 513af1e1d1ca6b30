//! `scrydon-byodb bootstrap` as a user runs it: the built binary against a test-bed server, the
//! admin DSN on standard input, the password from a file or the environment, exit codes 0/1/2.

mod common;

use std::process::Output;

use common::{cli_env, json};
use scrydon_byodb_testbed::Cluster;

fn bootstrap(args: &[&str], stdin: &str, env: &[(&str, &str)]) -> Output {
    let args: Vec<&str> = std::iter::once("bootstrap")
        .chain(args.iter().copied())
        .collect();
    cli_env(&args, stdin, env, &[])
}

const PASSWORD: &str = "cli-app-pw-93f1";

#[test]
fn dry_run_apply_second_run_and_exit_codes() {
    let cluster = Cluster::start_default().expect("cluster");
    let admin = cluster.admin_uri("require");
    let dir = tempfile::tempdir().expect("tempdir");
    let pw_file = dir.path().join("pw");
    std::fs::write(&pw_file, format!("{PASSWORD}\n")).expect("write");
    let pw_file = pw_file.to_string_lossy().into_owned();

    // Dry run: the plan, nothing changed.
    let out = bootstrap(
        &[
            "--admin-url",
            "-",
            "--password-file",
            &pw_file,
            "--dry-run",
            "--json",
        ],
        &admin,
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let v = json(&out);
    assert_eq!(v["plan"]["steps"].as_array().expect("steps").len(), 9);
    assert_eq!(v["plan"]["steps"][0]["action"], "create_role");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!stdout.contains(PASSWORD));
    assert_eq!(
        cluster
            .psql("SELECT count(*) FROM pg_database WHERE datname = 'auth'")
            .expect("psql")
            .trim(),
        "0"
    );

    // Apply, password from the environment.
    let out = bootstrap(
        &["--admin-url", "-", "--password-env", "APP_PW", "--json"],
        &admin,
        &[("APP_PW", PASSWORD)],
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let v = json(&out);
    assert_eq!(v["ok"], true);
    assert_eq!(v["applied"]["steps"].as_array().expect("steps").len(), 9);
    let proof = v["proof"].as_array().expect("proof");
    assert_eq!(proof.len(), 5);
    assert!(proof.iter().all(|f| f["status"] == "pass"));

    // Second run: nothing to do.
    let out = bootstrap(
        &["--admin-url", "-", "--password-file", &pw_file, "--json"],
        &admin,
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(
        json(&out)["plan"]["steps"].as_array().expect("steps").len(),
        0
    );

    // Invalid input: exit 2, nothing done.
    for args in [
        vec!["--admin-url", "-", "--app-role", "Bad-Role", "--json"],
        vec!["--admin-url", "-", "--component", "billing", "--json"],
        vec!["--admin-url", "-", "--password-stdin", "--json"],
        vec![
            "--admin-url",
            "-",
            "--password-env",
            "SCRYDON_UNSET_VAR_X",
            "--json",
        ],
    ] {
        let out = bootstrap(&args, &admin, &[]);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
        assert_eq!(json(&out)["error"]["kind"], "invalid_input");
    }
    // Both password sources at once: refused by the argument parser.
    let out = bootstrap(
        &[
            "--admin-url",
            "-",
            "--password-file",
            &pw_file,
            "--password-env",
            "X",
        ],
        &admin,
        &[],
    );
    assert_eq!(out.status.code(), Some(2));

    // A server that is not there: exit 1.
    let out = bootstrap(
        &["--admin-url", "-", "--password-file", &pw_file, "--json"],
        "postgres://u:p@127.0.0.1:1/postgres?sslmode=disable",
        &[],
    );
    assert_eq!(out.status.code(), Some(1), "{out:?}");
}

//! `scrydon-byodb preflight` as a user runs it: the built binary against a test-bed server,
//! the DSN on standard input, exit codes 0/1/2, JSON and JUnit output.

mod common;

use std::process::Output;

use common::{cli_env, json, status_of};
use scrydon_byodb_testbed::Cluster;

fn preflight(args: &[&str], stdin: Option<&str>) -> Output {
    let args: Vec<&str> = std::iter::once("preflight")
        .chain(args.iter().copied())
        .collect();
    cli_env(&args, stdin.unwrap_or(""), &[], &["NO_COLOR"])
}

#[test]
fn exit_codes_json_junit_and_stdin() {
    let cluster = Cluster::builder()
        .with_setting("max_connections", "200")
        .start()
        .expect("cluster");
    cluster
        .create_role("scrydon", Some("app-pw"), "LOGIN")
        .unwrap();
    for db in ["auth", "agentic", "analytics", "cortex", "ontology"] {
        cluster.create_database(db, Some("scrydon")).unwrap();
    }
    for db in ["auth", "agentic", "cortex"] {
        cluster.psql_in(db, "CREATE EXTENSION vector;").unwrap();
    }
    let admin = cluster.admin_uri("verify-full");
    let password = cluster.superuser_password().to_owned();

    // Everything in place: exit 0, JSON on stdout, the DSN read from stdin.
    let out = preflight(&["--admin-url", "-", "--json"], Some(&format!("{admin}\n")));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let v = json(&out);
    assert_eq!(v["schema_version"], 1);
    assert_eq!(v["status"], "pass");
    assert_eq!(
        status_of(&v, "preflight.database_exists", Some("auth")),
        "pass"
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains(&password));

    // A missing component database: exit 1; JUnit names the failing case.
    cluster.psql("DROP DATABASE ontology;").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("preflight.xml");
    let out = preflight(
        &[
            "--admin-url",
            "-",
            "--junit",
            junit.to_str().unwrap(),
            "--color",
            "never",
        ],
        Some(&admin),
    );
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("FAIL   preflight.database_exists"), "{text}");
    assert!(!text.contains('\x1b'));
    assert!(!text.contains(&password));
    let xml = std::fs::read_to_string(&junit).expect("junit file");
    assert!(xml.contains(
        "<testcase classname=\"preflight.database_exists\" name=\"ontology\" time=\"0\">\n      <failure"
    ));
    assert!(!xml.contains(&password));

    // Only the components asked for: ontology disabled, the rest pass. Colour on request.
    let out = preflight(
        &[
            "--admin-url",
            &admin,
            "--component",
            "auth,agentic",
            "--component",
            "analytics",
            "--component",
            "cortex",
            "--color",
            "always",
        ],
        None,
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("\x1b[32m"));

    // --strict turns warnings into failures (sslmode=require is a warning).
    let require = admin.replace("sslmode=verify-full", "sslmode=require");
    let args = ["--admin-url", "-", "--component", "auth", "--json"];
    let out = preflight(&args, Some(&require));
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        status_of(&json(&out), "preflight.tls_sslmode", None),
        "warn"
    );
    let out = preflight(&[&args[..], &["--strict"]].concat(), Some(&require));
    assert_eq!(out.status.code(), Some(1));

    // Invalid input: exit 2, the field named, the password never shown.
    let out = preflight(
        &["--admin-url", &admin, "--component", "api-ontology"],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--component") && err.contains("api-ontology"),
        "{err}"
    );
    let out = preflight(&["--admin-url", &admin, "--app-role", ""], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("app_role"));
    let bad_port = admin.replace(&format!(":{}/", cluster.port()), ":99999/");
    let out = preflight(&["--admin-url", &bad_port, "--json"], None);
    assert_eq!(out.status.code(), Some(2));
    let v = json(&out);
    assert_eq!(v["ok"], false);
    assert!(!out
        .stdout
        .windows(password.len())
        .any(|w| w == password.as_bytes()));
    let out = preflight(
        &["--admin-url", "-", "--component-url", "auth=-"],
        Some(&admin),
    );
    assert_eq!(out.status.code(), Some(2));
    let missing_ca = format!("{admin}-missing");
    let out = preflight(&["--admin-url", &missing_ca], None);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // A server that refuses the connection: the run completes, exit 1, diagnosed.
    let out = preflight(
        &["--admin-url", "-", "--json"],
        Some(&admin.replace("sslmode=verify-full", "sslmode=disable")),
    );
    assert_eq!(out.status.code(), Some(1));
    let v = json(&out);
    let connect = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == "preflight.connect" && f["component"].is_null())
        .expect("a connect finding");
    assert_eq!(connect["diagnosis"], "connect.server_requires_tls");
}

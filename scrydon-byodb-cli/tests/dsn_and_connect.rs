//! The `dsn` and `connect` commands, run as the built binary against a real TLS PostgreSQL.

mod common;

use common::{cli as run, json};

use scrydon_byodb_testbed::{Cluster, Hba, ServerCertSpec, ServerTls, TestCa};

#[test]
fn dsn_parse_names_fields_as_libpq_and_masks_the_password() {
    let dsn = "postgresql://scrydon:p%40ss%2Fw0rd@[::1]:6543,db2:5433/auth?sslmode=verify-full&application_name=x";
    let out = run(&["dsn", "parse", dsn, "--json"], "");
    assert_eq!(out.status.code(), Some(0));
    let v = json(&out);
    assert_eq!(v["user"], "scrydon");
    assert_eq!(v["host"], "::1,db2");
    assert_eq!(v["port"], "6543,5433");
    assert_eq!(v["dbname"], "auth");
    assert_eq!(v["sslmode"], "verify-full");
    assert_eq!(v["application_name"], "x");
    assert_ne!(v["password"], "p@ss/w0rd");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("p@ss/w0rd"));

    let out = run(
        &["dsn", "parse", "-", "--json", "--show-password"],
        &format!("{dsn}\n"),
    );
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(json(&out)["password"], "p@ss/w0rd");
}

#[test]
fn dsn_parse_refuses_bad_input_with_exit_code_2_and_one_line() {
    for bad in [
        "postgresql://host?uzer=x",
        "postgres://[::1",
        "host=a port=notaport",
        "host=a sslmode=sometimes",
        "postgresql://%zz",
    ] {
        let out = run(&["dsn", "parse", bad], "");
        assert_eq!(out.status.code(), Some(2), "{bad}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.trim_end().lines().count(), 1, "{bad}: {stderr}");
        assert!(stderr.starts_with("error: "), "{bad}: {stderr}");
        assert!(out.stdout.is_empty(), "{bad}");
    }
    // A bad value next to a password: the password is not echoed.
    let out = run(&["dsn", "parse", "password=hunter2xyz port=99999"], "");
    assert_eq!(out.status.code(), Some(2));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("hunter2xyz"));
}

#[test]
fn dsn_redact_masks_only_the_password() {
    let out = run(
        &["dsn", "redact", "-", "--json"],
        "postgres://u:topsecret@h:5432/d?sslmode=require\n",
    );
    assert_eq!(out.status.code(), Some(0));
    let redacted = json(&out)["redacted"]
        .as_str()
        .expect("a string")
        .to_owned();
    assert!(!redacted.contains("topsecret"), "{redacted}");
    assert!(
        redacted.contains("u:")
            && redacted.contains("@h:5432/d")
            && redacted.contains("sslmode=require"),
        "{redacted}"
    );
}

#[test]
fn connect_reports_how_the_server_was_verified_and_why_it_failed() {
    let cluster = Cluster::builder()
        .with_hba(Hba::TlsOnly)
        .start()
        .expect("start a TLS-only cluster");

    // verify-full with the test CA: chain and name checked.
    let uri = cluster.admin_uri("verify-full");
    let out = run(&["connect", "-", "--json"], &uri);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = json(&out);
    assert_eq!(v["ok"], true);
    assert_eq!(v["tls"]["verification"], "chain+name");
    assert_eq!(
        v["server_version"]["num"].as_i64().map(|n| n / 10000),
        Some(15)
    );
    assert!(v["tls"]["protocol"]
        .as_str()
        .is_some_and(|p| p.starts_with("TLSv1.")));

    // The same server under a name its certificate does not carry.
    let wrong_name =
        format!("{uri}&hostaddr=127.0.0.1").replace("@127.0.0.1:", "@db.wrong-name.test:");
    let out = run(&["connect", "-", "--json"], &wrong_name);
    assert_eq!(out.status.code(), Some(1));
    let v = json(&out);
    assert_eq!(v["failure"], "certificate_name_mismatch");
    assert_eq!(v["diagnosis"]["id"], "connect.certificate_name_mismatch");

    // sslmode=disable against a TLS-only server: it requires TLS, and we say so.
    let out = run(&["connect", "-", "--json"], &cluster.admin_uri("disable"));
    assert_eq!(out.status.code(), Some(1));
    let v = json(&out);
    assert_eq!(v["failure"], "server_requires_tls");
    assert_eq!(v["diagnosis"]["runbook"], "conn_refused_or_ssl_required");

    // Human output names the failure too, and never prints the password.
    let out = run(&["connect", "-"], &cluster.admin_uri("disable"));
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains(cluster.superuser_password()), "{stderr}");
    assert!(out.stdout.is_empty());
}

/// A certificate naming the instance in its CN and carrying no SAN (Cloud SQL's default):
/// `--server-cn` verifies the chain and that CN; host-name verification fails, as in libpq.
#[test]
fn connect_checks_a_common_name_instead_of_the_host() {
    let ca = TestCa::new("Cloud SQL Server CA (test)").expect("CA");
    let cluster = Cluster::builder()
        .with_tls(ServerTls::Issued {
            ca,
            spec: ServerCertSpec::cn_only("proj:inst"),
        })
        .start()
        .expect("cluster with a CN-only certificate");
    let uri = cluster.admin_uri("verify-full");

    let out = run(
        &["connect", "-", "--json", "--server-cn", "proj:inst"],
        &uri,
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(json(&out)["tls"]["verification"], "chain+name");

    for args in [
        vec!["connect", "-", "--json", "--server-cn", "proj:other"],
        vec!["connect", "-", "--json"],
    ] {
        let out = run(&args, &uri);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert_eq!(
            json(&out)["failure"],
            "certificate_name_mismatch",
            "{args:?}"
        );
    }

    // The CN check is part of verify-full: with a weaker sslmode it is refused as input.
    let out = run(
        &["connect", "-", "--json", "--server-cn", "proj:inst"],
        &cluster.admin_uri("require"),
    );
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(json(&out)["error"]["kind"], "invalid_input");
}

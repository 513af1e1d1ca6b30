//! `--provider` / `--provider-api` on `preflight`, `report`, `bootstrap` and `run`: input the
//! provider cannot use is refused before anything is contacted (exit 2).

mod common;

use std::process::{Command, Output};

use common::{cli_env, json, status_of};

use scrydon_byodb_testbed::{Cluster, Moto};

/// A port nothing listens on: a command that tried to connect would fail with exit 1, not 2.
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

#[test]
fn provider_api_input_is_refused_before_anything_runs() {
    let port = closed_port();
    let loopback = format!("postgresql://postgres:pw@127.0.0.1:{port}/postgres?sslmode=require");
    let rds = format!(
        "host=db1.c9akciq32abc.eu-west-1.rds.amazonaws.com hostaddr=127.0.0.1 port={port} \
         user=postgres password=pw dbname=postgres sslmode=require"
    );
    let cases: Vec<(Vec<&str>, &str, &str)> = vec![
        // The generic provider has no API to ask.
        (
            vec![
                "preflight",
                "--json",
                "--provider",
                "generic",
                "--provider-api",
            ],
            &loopback,
            "--provider",
        ),
        // auto on a host no provider owns: say which provider.
        (
            vec!["preflight", "--json", "--provider-api"],
            &loopback,
            "--provider",
        ),
        (
            vec!["report", "--format", "json", "--provider-api"],
            &loopback,
            "--provider",
        ),
        // An RDS provider for a host that is not an RDS endpoint.
        (
            vec![
                "preflight",
                "--json",
                "--provider",
                "aws-rds",
                "--provider-api",
            ],
            &loopback,
            "host",
        ),
        // Cloud SQL host names do not name the instance: it must be given.
        (
            vec![
                "preflight",
                "--json",
                "--provider",
                "gcp-cloud-sql",
                "--provider-api",
            ],
            &loopback,
            "--gcp-instance",
        ),
        (
            vec![
                "preflight",
                "--json",
                "--provider",
                "gcp-cloud-sql",
                "--provider-api",
                "--gcp-instance",
                "Not:A:Name",
            ],
            &loopback,
            "instance connection name",
        ),
        // Azure needs the server's resource id, or a Flexible Server host with the subscription
        // and resource group.
        (
            vec![
                "preflight",
                "--json",
                "--provider",
                "azure-flexible-server",
                "--provider-api",
                "--azure-resource-id",
                "/subscriptions/x/resourceGroups",
            ],
            &rds,
            "resource_id",
        ),
        (
            vec![
                "bootstrap",
                "--json",
                "--dry-run",
                "--provider",
                "generic",
                "--provider-api",
            ],
            &loopback,
            "--provider",
        ),
    ];
    for (mut args, dsn, field) in cases {
        args.extend(["--admin-url", "-"]);
        let out = cli_env(
            &args,
            &format!("{dsn}\n"),
            &[],
            &[
                "SCRYDON_GCP_INSTANCE",
                "SCRYDON_AZURE_RESOURCE_ID",
                "AZURE_POSTGRES_RESOURCE_ID",
            ],
        );
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let v = json(&out);
        assert_eq!(v["ok"], false, "{args:?}");
        assert_eq!(v["error"]["kind"], "invalid_input", "{args:?}: {v}");
        assert_eq!(v["error"]["field"], field, "{args:?}: {v}");
        let message = v["error"]["message"].as_str().unwrap_or_default();
        assert!(!message.contains("pw"), "{args:?}: {message}");
    }
}

/// Creates, on `moto`, a PostgreSQL 16 instance `db1` (Multi-AZ, backups kept 7 days) in a
/// custom parameter group with `rds.force_ssl` set to `force_ssl`, with boto3 from the test
/// bed's venv (the CLI crate has no AWS SDK of its own).
fn rds_fixture(moto: &Moto, force_ssl: &str) {
    let script = r#"
import os, boto3
c = boto3.client("rds", region_name="eu-west-1", endpoint_url=os.environ["MOTO_URL"],
                 aws_access_key_id="AKIDTESTTESTTEST", aws_secret_access_key="test-secret")
c.create_db_parameter_group(DBParameterGroupName="scrydon", DBParameterGroupFamily="postgres16",
                            Description="scrydon test")
c.modify_db_parameter_group(DBParameterGroupName="scrydon", Parameters=[
    {"ParameterName": "rds.force_ssl", "ParameterValue": os.environ["FORCE_SSL"],
     "ApplyMethod": "immediate"}])
c.create_db_instance(DBInstanceIdentifier="db1", DBInstanceClass="db.t3.micro", Engine="postgres",
                     EngineVersion="16.4", AllocatedStorage=20, MasterUsername="postgres",
                     MasterUserPassword="not-a-real-password", DBParameterGroupName="scrydon",
                     BackupRetentionPeriod=7, MultiAZ=True, PubliclyAccessible=False)
"#;
    let out = Command::new(Moto::venv_bin("python"))
        .args(["-c", script])
        .env("MOTO_URL", moto.url())
        .env("FORCE_SSL", force_ssl)
        .output()
        .expect("run the venv's python");
    assert!(
        out.status.success(),
        "boto3 fixture: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The CLI with the AWS environment pointing at `moto` and nothing else of the developer's.
fn aws_cli(moto: &Moto, args: &[&str], stdin: &str) -> Output {
    let url = moto.url();
    cli_env(
        args,
        stdin,
        &[
            ("AWS_ENDPOINT_URL_RDS", &url),
            ("AWS_ACCESS_KEY_ID", "AKIDTESTTESTTEST"),
            ("AWS_SECRET_ACCESS_KEY", "test-secret"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
            ("AWS_CONFIG_FILE", "/nonexistent"),
            ("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent"),
        ],
        &["AWS_PROFILE", "AWS_SESSION_TOKEN"],
    )
}

/// `preflight` and `report` with `--provider-api` against moto's RDS and a real server whose
/// DSN names an RDS host (reached through `hostaddr`): the RDS findings are in the preflight
/// report and are evidence in the compliance report; without the flag, nothing asks AWS.
#[test]
fn provider_api_asks_rds_through_the_cli() {
    let pg = Cluster::builder()
        .with_setting("rds.force_ssl", "0")
        .start()
        .expect("cluster");
    let moto = Moto::start().expect("moto");
    rds_fixture(&moto, "0");
    let dsn = format!(
        "host=db1.c9akciq32abc.eu-west-1.rds.amazonaws.com hostaddr=127.0.0.1 port={} \
         user={} password={} dbname=postgres sslmode=require",
        pg.port(),
        pg.superuser(),
        pg.superuser_password()
    );
    let stdin = format!("{dsn}\n");

    let out = aws_cli(
        &moto,
        &["preflight", "--json", "--provider-api", "--admin-url", "-"],
        &stdin,
    );
    let v = json(&out);
    assert_eq!(v["provider_used"], "aws-rds", "{v}");
    assert_eq!(v["provider"]["kind"], "aws-rds", "{v}");
    // Configured off in the parameter group: plaintext accepted.
    assert_eq!(status_of(&v, "provider.tls_enforced", None), "fail");
    assert_eq!(status_of(&v, "provider.public_network", None), "pass");
    assert_eq!(status_of(&v, "preflight.high_availability", None), "pass");
    assert_eq!(status_of(&v, "preflight.backup", None), "pass");
    assert_eq!(status_of(&v, "provider.api", None), "absent");
    assert!(!String::from_utf8_lossy(&out.stdout).contains(pg.superuser_password()));

    // The compliance report takes it as TLS evidence.
    let out = aws_cli(
        &moto,
        &[
            "report",
            "--format",
            "json",
            "--provider-api",
            "--admin-url",
            "-",
        ],
        &stdin,
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = json(&out);
    assert_eq!(r["provider_used"], "aws-rds", "{r}");
    let a824 = r["controls"]
        .as_array()
        .expect("controls")
        .iter()
        .find(|c| c["control"] == "iso27001.a.8.24")
        .expect("A.8.24");
    assert!(
        a824["evidence"]
            .as_array()
            .expect("evidence")
            .iter()
            .any(|e| e["id"] == "provider.tls_enforced" && e["status"] == "fail"),
        "{a824}"
    );

    // Without --provider-api the kind is detected from the host but AWS is not asked.
    let out = aws_cli(&moto, &["preflight", "--json", "--admin-url", "-"], &stdin);
    let v = json(&out);
    assert_eq!(v["provider_used"], "generic", "{v}");
    assert_eq!(status_of(&v, "provider.tls_enforced", None), "absent");

    // An instance AWS does not know: the provider's error, exit 1 (the input was well formed).
    let other = stdin.replace("host=db1.", "host=db2.");
    let out = aws_cli(
        &moto,
        &["preflight", "--json", "--provider-api", "--admin-url", "-"],
        &other,
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let v = json(&out);
    assert_eq!(v["error"]["kind"], "provider", "{v}");
}

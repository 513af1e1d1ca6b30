//! A moto server on loopback, started per test and killed on drop.
#![allow(dead_code, unreachable_pub)]

use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_rds::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_rds::Client;

const MOTO: &str = "/opt/scrydon-testbed/venv/bin/moto_server";

pub const REGION: &str = "eu-west-1";

pub fn credentials() -> Credentials {
    Credentials::new("AKIDTESTTESTTEST", "test-secret", None, None, "moto")
}

/// A moto server in server mode on 127.0.0.1.
#[derive(Debug)]
pub struct Moto {
    child: Child,
    pub port: u16,
}

impl Moto {
    pub fn start() -> Moto {
        assert!(
            Path::new(MOTO).exists(),
            "{MOTO} is missing: run scripts/testbed-install.sh (installs moto[server] into the \
             test bed venv)"
        );
        // A free port can be taken before moto binds it: try a few.
        let mut last = String::new();
        for _ in 0..5 {
            match Self::try_start() {
                Ok(m) => return m,
                Err(e) => last = e,
            }
        }
        panic!("moto_server did not start: {last}");
    }

    fn try_start() -> Result<Moto, String> {
        let port = scrydon_byodb_testbed::free_port().map_err(|e| e.to_string())?;
        let child = Command::new(MOTO)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("spawning {MOTO}: {e}"))?;
        let mut moto = Moto { child, port };
        // Generous: a loaded 2-core machine may take a while to import moto.
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            if let Some(status) = moto.child.try_wait().map_err(|e| e.to_string())? {
                return Err(format!("exited before answering on port {port}: {status}"));
            }
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Ok(moto);
            }
            if Instant::now() > deadline {
                return Err(format!("no answer on port {port} after 90 s"));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// An SDK client for setting up fixtures.
    pub fn client(&self) -> Client {
        let conf = aws_sdk_rds::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(REGION))
            .credentials_provider(credentials())
            .endpoint_url(self.url())
            .build();
        Client::from_conf(conf)
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Creates a custom DB parameter group with `params` set (name, value).
pub async fn parameter_group(c: &Client, name: &str, params: &[(&str, &str)]) {
    c.create_db_parameter_group()
        .db_parameter_group_name(name)
        .db_parameter_group_family("postgres16")
        .description("scrydon test")
        .send()
        .await
        .expect("create parameter group");
    if params.is_empty() {
        return;
    }
    let mut m = c.modify_db_parameter_group().db_parameter_group_name(name);
    for (n, v) in params {
        m = m.parameters(
            aws_sdk_rds::types::Parameter::builder()
                .parameter_name(*n)
                .parameter_value(*v)
                .apply_method(aws_sdk_rds::types::ApplyMethod::PendingReboot)
                .build(),
        );
    }
    m.send().await.expect("modify parameter group");
}

/// A `CreateDBInstance` for a PostgreSQL 16 instance, to adjust (`.publicly_accessible(true)`)
/// and send.
pub fn create_instance(
    c: &Client,
    id: &str,
    group: Option<&str>,
) -> aws_sdk_rds::operation::create_db_instance::builders::CreateDBInstanceFluentBuilder {
    c.create_db_instance()
        .db_instance_identifier(id)
        .db_instance_class("db.t3.micro")
        .engine("postgres")
        .engine_version("16.4")
        .allocated_storage(20)
        .master_username("postgres")
        .master_user_password("not-a-real-password")
        .set_db_parameter_group_name(group.map(str::to_owned))
        .backup_retention_period(7)
        .storage_encrypted(true)
}

/// Creates a PostgreSQL DB instance.
pub async fn instance(c: &Client, id: &str, group: Option<&str>, multi_az: bool) {
    create_instance(c, id, group)
        .multi_az(multi_az)
        .send()
        .await
        .expect("create DB instance");
}

/// The value of `name` stored in DB parameter group `group` (`None`: not set there).
pub async fn stored(c: &Client, group: &str, name: &str) -> Option<String> {
    c.describe_db_parameters()
        .db_parameter_group_name(group)
        .send()
        .await
        .expect("describe parameters")
        .parameters()
        .iter()
        .find(|p| p.parameter_name() == Some(name))
        .and_then(|p| p.parameter_value())
        .map(str::to_owned)
}

/// The provider for DB instance `id` on `moto`.
pub async fn provider(moto: &Moto, id: &str) -> scrydon_byodb_aws::RdsProvider {
    scrydon_byodb_aws::RdsProvider::builder()
        .with_instance_identifier(id)
        .with_region(REGION)
        .with_endpoint_url(moto.url())
        .with_credentials(credentials())
        .build()
        .await
        .expect("build")
}

/// The one finding with `id` (panics when there is none or several).
pub fn finding<'a>(
    found: &'a [scrydon_byodb::report::Finding],
    id: &str,
) -> &'a scrydon_byodb::report::Finding {
    let mut it = found.iter().filter(|f| f.id == id);
    let f = it.next().unwrap_or_else(|| panic!("no {id} in {found:#?}"));
    assert!(it.next().is_none(), "{id} twice in {found:#?}");
    f
}

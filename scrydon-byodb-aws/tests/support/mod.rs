//! A moto server on loopback, started per test and killed on drop.
#![allow(dead_code, unreachable_pub)]

use aws_sdk_rds::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_rds::Client;

pub const REGION: &str = "eu-west-1";

pub fn credentials() -> Credentials {
    Credentials::new("AKIDTESTTESTTEST", "test-secret", None, None, "moto")
}

pub use scrydon_byodb_testbed::Moto;

/// An SDK client on a moto server, for setting up fixtures.
pub trait MotoClient {
    /// The client.
    fn client(&self) -> Client;
}

impl MotoClient for Moto {
    fn client(&self) -> Client {
        let conf = aws_sdk_rds::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(REGION))
            .credentials_provider(credentials())
            .endpoint_url(self.url())
            .build();
        Client::from_conf(conf)
    }
}

/// Starts moto (panics with the test bed's hint when it cannot).
pub fn moto() -> Moto {
    Moto::start().unwrap_or_else(|e| panic!("moto: {e}"))
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

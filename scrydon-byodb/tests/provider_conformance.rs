//! The provider conformance suite against the test bed: the generic provider passes it; a
//! provider with every capability (backed by SQL and the test CA) passes it and feeds
//! preflight's provider checks; providers that break the contract are caught, case by case.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use scrydon_byodb::compliance::Compliance;
use scrydon_byodb::connect::{self, ConnectOptions};
use scrydon_byodb::dsn::Dsn;
use scrydon_byodb::preflight::{Preflight, Target};
use scrydon_byodb::provider::conformance::{self, Outcome};
use scrydon_byodb::provider::{
    BackupPosture, Capabilities, GenericProvider, HighAvailability, Operation, ParameterValue,
    Provider, ProviderKind, Redundancy,
};
use scrydon_byodb::report::{ids, Finding, Status};
use scrydon_byodb::tls::CaBundle;
use scrydon_byodb::Result;
use scrydon_byodb_testbed::{Cluster, TestCa};

fn admin(cluster: &Cluster) -> Dsn {
    cluster.admin_uri("verify-full").parse().expect("admin DSN")
}

/// A provider for one test cluster that has every capability: parameters through SQL (as an
/// API would report them), the cluster's CA, and configured backup and availability answers.
#[derive(Debug)]
struct TestbedProvider {
    dsn: Dsn,
    ca: CaBundle,
    backup: BackupPosture,
    ha: HighAvailability,
    /// Parameters the "API" reports differently from the server, pending a restart.
    pending: Vec<(String, String)>,
    /// When set, the "API" fails to answer [`Provider::findings`] with this reason.
    findings_error: Option<String>,
}

impl TestbedProvider {
    fn new(cluster: &Cluster) -> Self {
        TestbedProvider {
            dsn: admin(cluster),
            ca: CaBundle::from_file(cluster.ca_pem_path().expect("TLS")).expect("CA"),
            backup: BackupPosture {
                automated: true,
                retention_days: Some(14),
                point_in_time_recovery: true,
                cross_region: Some(false),
            },
            ha: HighAvailability {
                redundancy: Redundancy::MultiZone,
                automatic_failover: true,
            },
            pending: Vec::new(),
            findings_error: None,
        }
    }

    async fn live(&self, name: &str) -> Result<Option<String>> {
        let conn = connect::connect(&self.dsn, &ConnectOptions::new()).await?;
        let row = conn
            .query_one("SELECT current_setting($1, true)", &[&name])
            .await
            .map_err(|e| scrydon_byodb::Error::Provider {
                provider: "testbed".into(),
                reason: format!("SQLSTATE {:?}", e.code()),
                source: None,
            })?;
        Ok(row.get(0))
    }
}

#[async_trait]
impl Provider for TestbedProvider {
    fn kind(&self) -> ProviderKind {
        ProviderKind::AwsRds
    }
    fn name(&self) -> &str {
        "testbed-rds"
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            read_parameters: true,
            ca_bundle: true,
            backup_posture: true,
            high_availability: true,
            findings: true,
            ..Capabilities::NONE
        }
    }
    /// `provider.tls_enforced` from the configured `rds.force_ssl` (pending values included, as
    /// an API reports them).
    async fn findings(&self) -> Result<Vec<Finding>> {
        if let Some(reason) = &self.findings_error {
            return Err(scrydon_byodb::Error::Provider {
                provider: "testbed-rds".into(),
                reason: reason.clone(),
                source: None,
            });
        }
        let configured = self.parameter("rds.force_ssl").await?.map(|v| v.value);
        let f = if configured.as_deref() == Some("1") {
            Finding::new(ids::PROVIDER_TLS_ENFORCED, Status::Pass)
        } else {
            Finding::new(ids::PROVIDER_TLS_ENFORCED, Status::Fail)
                .with_remediation("Set rds.force_ssl=1 in the parameter group.")
        };
        Ok(vec![f
            .with_observed(format!("rds.force_ssl = {configured:?}"))
            .with_references(&["ISO 27001:2022 A.8.24", "NIST SC-8"])])
    }
    async fn parameter(&self, name: &str) -> Result<Option<ParameterValue>> {
        if let Some((_, v)) = self.pending.iter().find(|(n, _)| n == name) {
            return Ok(Some(ParameterValue {
                name: name.to_owned(),
                value: v.clone(),
                pending_restart: true,
            }));
        }
        Ok(self.live(name).await?.map(|value| ParameterValue {
            name: name.to_owned(),
            value,
            pending_restart: false,
        }))
    }
    async fn ca_bundle(&self) -> Result<CaBundle> {
        Ok(self.ca.clone())
    }
    async fn backup_posture(&self) -> Result<BackupPosture> {
        Ok(self.backup.clone())
    }
    async fn high_availability(&self) -> Result<HighAvailability> {
        Ok(self.ha.clone())
    }
}

/// Declares capabilities it does not implement, and implements one it does not declare.
#[derive(Debug)]
struct Liar;

#[async_trait]
impl Provider for Liar {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Neon
    }
    fn name(&self) -> &str {
        "Liar Provider"
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            ca_bundle: true,
            backup_posture: true,
            ..Capabilities::NONE
        }
    }
    // high_availability is not declared, yet answers with a made-up value.
    async fn high_availability(&self) -> Result<HighAvailability> {
        Ok(HighAvailability {
            redundancy: Redundancy::Single,
            automatic_failover: true,
        })
    }
}

/// A provider whose CA bundle is not the one the server's certificate chains to, and whose
/// errors carry the password.
#[derive(Debug)]
struct WrongCa {
    ca: CaBundle,
    password: String,
}

#[async_trait]
impl Provider for WrongCa {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Generic
    }
    fn name(&self) -> &str {
        "wrong-ca"
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            ca_bundle: true,
            read_parameters: true,
            findings: true,
            ..Capabilities::NONE
        }
    }
    async fn ca_bundle(&self) -> Result<CaBundle> {
        Ok(self.ca.clone())
    }
    /// A preflight id passed off as its own, and a failure without a remediation.
    async fn findings(&self) -> Result<Vec<Finding>> {
        Ok(vec![
            Finding::new(ids::PREFLIGHT_BACKUP, Status::Pass).with_observed("backups on"),
            Finding::new(ids::PROVIDER_PUBLIC_NETWORK, Status::Fail).with_observed("public"),
        ])
    }
    async fn parameter(&self, name: &str) -> Result<Option<ParameterValue>> {
        Err(scrydon_byodb::Error::Provider {
            provider: "wrong-ca".into(),
            reason: format!("cannot read {name} with password {}", self.password),
            source: None,
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generic_provider_conforms() {
    let cluster = Cluster::builder().start().expect("cluster");
    let report = conformance::run(&GenericProvider::new(), &admin(&cluster)).await;
    report.assert_conformant();
    for op in Operation::ALL {
        assert_eq!(
            report.outcome(&format!("not_supported.{op}")),
            Some(&Outcome::Passed),
            "{report}"
        );
    }
    assert!(matches!(
        report.outcome("detection"),
        Some(Outcome::Skipped(_))
    ));
    assert_eq!(report.outcome("no_secrets"), Some(&Outcome::Passed));
    assert!(matches!(
        report.outcome("ca_bundle"),
        Some(Outcome::Skipped(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capable_provider_conforms_and_feeds_preflight() {
    let cluster = Cluster::builder()
        .with_setting("rds.force_ssl", "1")
        .with_setting("max_connections", "200")
        .start()
        .expect("cluster");
    let provider = TestbedProvider::new(&cluster);
    let report = conformance::run(&provider, &admin(&cluster)).await;
    report.assert_conformant();
    for case in [
        "identity",
        "detection",
        "read_parameters",
        "ca_bundle",
        "backup_posture",
        "high_availability",
        "findings",
    ] {
        assert_eq!(
            report.outcome(case),
            Some(&Outcome::Passed),
            "{case}\n{report}"
        );
    }
    // Writes are not tried unless allowed.
    assert!(matches!(
        report.outcome("set_parameter"),
        Some(Outcome::Skipped(_))
    ));
    assert_eq!(
        report.outcome("not_supported.set_parameter"),
        Some(&Outcome::Passed)
    );

    // Preflight asks the provider for what SQL cannot show.
    let target = Target::builder(admin(&cluster)).build().unwrap();
    let run = |p: TestbedProvider| {
        let target = target.clone();
        async move {
            Preflight::new(target)
                .with_provider(Arc::new(p))
                .with_step_timeout(Duration::from_secs(20))
                .run()
                .await
                .expect("preflight")
        }
    };
    let r = run(TestbedProvider::new(&cluster)).await;
    assert_eq!(
        r.status_of(ids::PREFLIGHT_PROVIDER, None),
        Some(Status::Pass)
    );
    assert_eq!(
        r.status_of(ids::PREFLIGHT_PROVIDER_PARAMETERS, None),
        Some(Status::Pass)
    );
    assert_eq!(r.status_of(ids::PREFLIGHT_BACKUP, None), Some(Status::Pass));
    assert_eq!(
        r.status_of(ids::PREFLIGHT_HIGH_AVAILABILITY, None),
        Some(Status::Pass)
    );
    assert_eq!(r.provider_used, "testbed-rds");
    // The provider's own findings are in the report, server-wide; no API error.
    assert_eq!(
        r.status_of(ids::PROVIDER_TLS_ENFORCED, None),
        Some(Status::Pass)
    );
    assert_eq!(r.status_of(ids::PROVIDER_API, None), None);
    // ... and are evidence for the TLS controls.
    let c = Compliance::new(target.clone())
        .with_provider(Arc::new(TestbedProvider::new(&cluster)))
        .with_step_timeout(Duration::from_secs(20))
        .run()
        .await
        .expect("compliance");
    let tls = c
        .controls
        .iter()
        .find(|a| a.control.id() == "iso27001.a.8.24")
        .expect("A.8.24 assessed");
    assert!(
        tls.evidence
            .iter()
            .any(|e| e.id == ids::PROVIDER_TLS_ENFORCED && e.status == Status::Pass),
        "{:?}",
        tls.evidence
    );
    // An API that cannot be read: one provider.api warning instead of the findings.
    let mut p = TestbedProvider::new(&cluster);
    p.findings_error = Some("AccessDenied: rds:DescribeDBInstances".into());
    let r = run(p).await;
    assert_eq!(r.status_of(ids::PROVIDER_API, None), Some(Status::Warn));
    assert_eq!(r.status_of(ids::PROVIDER_TLS_ENFORCED, None), None);

    // A parameter changed through the API but not in force; backups off; a single server.
    let mut p = TestbedProvider::new(&cluster);
    p.pending = vec![("rds.force_ssl".into(), "0".into())];
    p.backup.automated = false;
    p.backup.point_in_time_recovery = false;
    p.backup.retention_days = None;
    p.ha = HighAvailability {
        redundancy: Redundancy::Single,
        automatic_failover: false,
    };
    let r = run(p).await;
    assert_eq!(
        r.status_of(ids::PREFLIGHT_PROVIDER_PARAMETERS, None),
        Some(Status::Warn)
    );
    // The configured value (pending) is what the provider's finding judges.
    assert_eq!(
        r.status_of(ids::PROVIDER_TLS_ENFORCED, None),
        Some(Status::Fail)
    );
    assert_eq!(r.status_of(ids::PREFLIGHT_BACKUP, None), Some(Status::Fail));
    assert_eq!(
        r.status_of(ids::PREFLIGHT_HIGH_AVAILABILITY, None),
        Some(Status::Warn)
    );
    // Backups kept two days: a warning.
    let mut p = TestbedProvider::new(&cluster);
    p.backup.retention_days = Some(2);
    let r = run(p).await;
    assert_eq!(r.status_of(ids::PREFLIGHT_BACKUP, None), Some(Status::Warn));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contract_breaches_are_caught() {
    let cluster = Cluster::builder().start().expect("cluster");
    let dsn = admin(&cluster);

    let liar = conformance::run(&Liar, &dsn).await;
    let failed: Vec<&str> = liar.failures().map(|c| c.name.as_str()).collect();
    assert_eq!(
        failed,
        [
            "identity",
            "not_supported.high_availability",
            "detection",
            "ca_bundle",
            "backup_posture"
        ],
        "{liar}"
    );
    let panicked = std::panic::catch_unwind(|| liar.assert_conformant());
    assert!(panicked.is_err());

    // A CA that did not issue the server's certificate; errors that carry the password.
    let other_ca = TestCa::new("not the server's CA").expect("CA");
    let wrong = WrongCa {
        ca: CaBundle::from_pem(other_ca.cert_pem()).expect("bundle"),
        password: cluster.superuser_password().to_owned(),
    };
    let report = conformance::run(&wrong, &dsn).await;
    assert!(
        matches!(report.outcome("ca_bundle"), Some(Outcome::Failed(_))),
        "{report}"
    );
    assert!(matches!(
        report.outcome("read_parameters"),
        Some(Outcome::Failed(_))
    ));
    match report.outcome("findings") {
        Some(Outcome::Failed(why)) => {
            assert!(why.contains(ids::PREFLIGHT_BACKUP), "{why}");
            assert!(why.contains(ids::PROVIDER_PUBLIC_NETWORK), "{why}");
        }
        other => panic!("findings: {other:?}\n{report}"),
    }
    assert!(
        matches!(report.outcome("no_secrets"), Some(Outcome::Failed(_))),
        "{report}"
    );
    // The suite's own report masks it.
    assert!(!report.to_string().contains(cluster.superuser_password()));
}

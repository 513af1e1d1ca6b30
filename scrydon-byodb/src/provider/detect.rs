//! Which provider runs a server, from its host name and from its settings.
//!
//! Coarse on purpose: which provider, never which instance (the cloud crates parse
//! `RdsEndpoint`, `FlexibleServerHost`, `NeonHost`, `InstanceConnectionName`).

use std::fmt;

use serde::Serialize;

use super::ProviderKind;
use crate::dsn::{Dsn, Host};

/// Host-name suffixes (lower case, compared label-wise) and the provider they belong to.
const HOST_SUFFIXES: &[(&str, ProviderKind)] = &[
    ("rds.amazonaws.com", ProviderKind::AwsRds),
    ("rds.amazonaws.com.cn", ProviderKind::AwsRds),
    (
        "postgres.database.azure.com",
        ProviderKind::AzureFlexibleServer,
    ),
    (
        "postgres.database.chinacloudapi.cn",
        ProviderKind::AzureFlexibleServer,
    ),
    ("neon.tech", ProviderKind::Neon),
    ("supabase.co", ProviderKind::Supabase),
    ("supabase.com", ProviderKind::Supabase),
    // Cloud SQL's Private Service Connect DNS names (<id>.<region>.sql.goog).
    ("sql.goog", ProviderKind::GcpCloudSql),
];

/// Setting-name prefixes (up to and including the dot) and the provider whose extension
/// defines them.
const SETTING_PREFIXES: &[(&str, ProviderKind)] = &[
    ("rds.", ProviderKind::AwsRds),
    ("aurora.", ProviderKind::AwsRds),
    ("apg_", ProviderKind::AwsRds),
    ("azure.", ProviderKind::AzureFlexibleServer),
    ("cloudsql.", ProviderKind::GcpCloudSql),
    ("neon.", ProviderKind::Neon),
    ("supautils.", ProviderKind::Supabase),
];

/// The provider-specific settings preflight reads by name (`current_setting(name, true)`),
/// besides listing `pg_settings` by the prefixes above. Placeholder settings (a custom
/// `postgresql.conf` entry before the defining library is loaded) are readable by name but not
/// always listed.
pub(crate) const KNOWN_SETTINGS: &[&str] = &[
    "rds.force_ssl",
    "rds.allowed_extensions",
    "rds.extensions",
    "azure.extensions",
    "cloudsql.iam_authentication",
    "cloudsql.enable_pgaudit",
    "neon.timeline_id",
    "neon.tenant_id",
    "supautils.privileged_role",
    "supautils.privileged_extensions",
];

/// Why a provider was recognised.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "from", content = "value", rename_all = "snake_case")]
pub enum Evidence {
    /// The host name ends with this provider's domain (the suffix matched).
    Host(String),
    /// The server has this provider-specific setting.
    Setting(String),
}

impl fmt::Display for Evidence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Evidence::Host(suffix) => write!(f, "host *.{suffix}"),
            Evidence::Setting(name) => write!(f, "setting {name}"),
        }
    }
}

/// The outcome of [`detect`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Detection {
    /// The provider ([`ProviderKind::Generic`] when nothing matched).
    pub kind: ProviderKind,
    /// What pointed to it (empty for [`ProviderKind::Generic`]).
    pub evidence: Vec<Evidence>,
}

impl fmt::Display for Detection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kind.as_str())?;
        if !self.evidence.is_empty() {
            let list: Vec<String> = self.evidence.iter().map(ToString::to_string).collect();
            write!(f, " ({})", list.join(", "))?;
        }
        Ok(())
    }
}

fn host_match(host: &str) -> Option<(&'static str, ProviderKind)> {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    // Longest suffix first, so `rds.amazonaws.com.cn` is not mistaken for something shorter.
    let mut best: Option<(&'static str, ProviderKind)> = None;
    for (suffix, kind) in HOST_SUFFIXES {
        let matches = host
            .strip_suffix(suffix)
            .is_some_and(|rest| rest.ends_with('.'));
        if matches && best.is_none_or(|(b, _)| suffix.len() > b.len()) {
            best = Some((suffix, *kind));
        }
    }
    best
}

/// The provider a host name belongs to, if it is one of theirs: `*.rds.amazonaws.com`,
/// `*.postgres.database.azure.com`, `*.neon.tech`, `*.supabase.co`,
/// `*.pooler.supabase.com`, `*.sql.goog`. Case-insensitive; a trailing dot is ignored.
pub fn detect_from_host(host: &str) -> Option<ProviderKind> {
    host_match(host).map(|(_, kind)| kind)
}

fn setting_match(name: &str) -> Option<ProviderKind> {
    let name = name.to_ascii_lowercase();
    SETTING_PREFIXES
        .iter()
        .find(|(prefix, _)| name.starts_with(prefix))
        .map(|(_, kind)| *kind)
}

/// The provider whose settings these are (`rds.*`, `aurora.*`, `azure.*`, `cloudsql.*`,
/// `neon.*`, `supautils.*`), by majority, if any matches.
pub fn detect_from_settings<'a>(names: impl IntoIterator<Item = &'a str>) -> Option<ProviderKind> {
    let mut counts: Vec<(ProviderKind, usize)> = Vec::new();
    for kind in names.into_iter().filter_map(setting_match) {
        match counts.iter_mut().find(|(k, _)| *k == kind) {
            Some((_, n)) => *n += 1,
            None => counts.push((kind, 1)),
        }
    }
    counts.into_iter().max_by_key(|(_, n)| *n).map(|(k, _)| k)
}

/// Which provider runs the server behind `dsn`, given the names of the settings the server has
/// (empty when it could not be asked). Settings win over the host name: a CNAME of one's own
/// hides the provider's domain, a server's settings do not.
pub fn detect<'a>(dsn: &Dsn, setting_names: impl IntoIterator<Item = &'a str>) -> Detection {
    let setting_names: Vec<&str> = setting_names.into_iter().collect();
    let by_settings = detect_from_settings(setting_names.iter().copied());
    let host_hits: Vec<(&'static str, ProviderKind)> = dsn
        .endpoints()
        .unwrap_or_default()
        .iter()
        .filter_map(|e| match &e.host {
            Host::Tcp(name) => host_match(name),
            Host::Unix(_) => None,
        })
        .collect();
    let kind = by_settings
        .or_else(|| host_hits.first().map(|(_, k)| *k))
        .unwrap_or(ProviderKind::Generic);
    let mut evidence = Vec::new();
    for (suffix, k) in &host_hits {
        let e = Evidence::Host((*suffix).to_owned());
        if *k == kind && !evidence.contains(&e) {
            evidence.push(e);
        }
    }
    for name in setting_names {
        if setting_match(name) == Some(kind) {
            let e = Evidence::Setting(name.to_owned());
            if !evidence.contains(&e) {
                evidence.push(e);
            }
        }
    }
    Detection { kind, evidence }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts() {
        let cases = [
            (
                "mydb.c9akciq32.eu-west-1.rds.amazonaws.com",
                Some(ProviderKind::AwsRds),
            ),
            (
                "prod.cluster-ro-c9akciq32.us-east-1.rds.amazonaws.com",
                Some(ProviderKind::AwsRds),
            ),
            (
                "db.cn-north-1.rds.amazonaws.com.cn",
                Some(ProviderKind::AwsRds),
            ),
            (
                "MyDB.C9AKCIQ32.EU-WEST-1.RDS.AMAZONAWS.COM.",
                Some(ProviderKind::AwsRds),
            ),
            (
                "scrydon.postgres.database.azure.com",
                Some(ProviderKind::AzureFlexibleServer),
            ),
            (
                "scrydon.privatelink.postgres.database.azure.com",
                Some(ProviderKind::AzureFlexibleServer),
            ),
            (
                "ep-cool-darkness-123456-pooler.us-east-2.aws.neon.tech",
                Some(ProviderKind::Neon),
            ),
            (
                "db.abcdefghijklmnop.supabase.co",
                Some(ProviderKind::Supabase),
            ),
            (
                "aws-0-eu-central-1.pooler.supabase.com",
                Some(ProviderKind::Supabase),
            ),
            (
                "a1b2c3.europe-west1.sql.goog",
                Some(ProviderKind::GcpCloudSql),
            ),
            ("pg.example.com", None),
            ("127.0.0.1", None),
            // Not a label boundary.
            ("evilrds.amazonaws.com", None),
            ("notneon.tech", None),
            ("rds.amazonaws.com", None),
        ];
        for (host, want) in cases {
            assert_eq!(detect_from_host(host), want, "{host}");
        }
    }

    #[test]
    fn settings() {
        assert_eq!(
            detect_from_settings(["rds.force_ssl", "rds.extensions", "max_connections"]),
            Some(ProviderKind::AwsRds)
        );
        assert_eq!(
            detect_from_settings(["azure.extensions"]),
            Some(ProviderKind::AzureFlexibleServer)
        );
        assert_eq!(
            detect_from_settings(["cloudsql.iam_authentication"]),
            Some(ProviderKind::GcpCloudSql)
        );
        assert_eq!(
            detect_from_settings(["neon.tenant_id"]),
            Some(ProviderKind::Neon)
        );
        assert_eq!(detect_from_settings(["max_connections"]), None);
    }

    #[test]
    fn settings_win_over_host_and_evidence_is_listed() {
        let dsn = Dsn::parse("postgres://u@pg.internal.example.com/db").unwrap();
        let d = detect(
            &dsn,
            ["azure.extensions", "azure.accepted_password_auth_method"],
        );
        assert_eq!(d.kind, ProviderKind::AzureFlexibleServer);
        assert_eq!(
            d.evidence,
            [
                Evidence::Setting("azure.extensions".into()),
                Evidence::Setting("azure.accepted_password_auth_method".into())
            ]
        );

        let dsn = Dsn::parse("postgres://u@x.c1.eu-west-1.rds.amazonaws.com/db").unwrap();
        let d = detect(&dsn, ["rds.force_ssl"]);
        assert_eq!(d.kind, ProviderKind::AwsRds);
        assert_eq!(
            d.evidence,
            [
                Evidence::Host("rds.amazonaws.com".into()),
                Evidence::Setting("rds.force_ssl".into())
            ]
        );
        assert_eq!(
            d.to_string(),
            "aws-rds (host *.rds.amazonaws.com, setting rds.force_ssl)"
        );

        let dsn = Dsn::parse("host=/var/run/postgresql dbname=x").unwrap();
        let d = detect(&dsn, []);
        assert_eq!(d.kind, ProviderKind::Generic);
        assert!(d.evidence.is_empty());
    }
}

//! What the RDS API says, turned into `provider.*` findings ([`Provider::findings`]).
//!
//! Pure: [`evaluate`] takes what [`RdsProvider`](crate::RdsProvider) read and the time, so the
//! rules are the same whatever the API answered from.
//!
//! [`Provider::findings`]: scrydon_byodb::provider::Provider::findings

use std::time::{Duration, SystemTime};

use scrydon_byodb::report::{ids, Finding, Fix, Status};

use crate::provider::{allow_list_allows, ALLOWED_EXTENSIONS_DEFAULT};
use crate::{ForceSsl, ParameterGroup, ParameterGroupKind, RdsDescription, RdsTarget};

const NOTES_RDS: &str = "runbook: Provider notes / AWS RDS / Aurora";
const ISO_TLS: &str = "ISO 27001:2022 A.8.24";
const NIST_SC8: &str = "NIST SC-8";
/// A CA (or the server certificate) expiring within this is flagged.
pub(crate) const CA_WARN_WITHIN: Duration = Duration::from_secs(90 * 86_400);
/// The CA RDS uses for new instances, suggested when the current one expires.
const CURRENT_DEFAULT_CA: &str = "rds-ca-rsa2048-g1";

/// `rds.allowed_extensions` in the group in force.
#[derive(Debug, Clone)]
pub(crate) struct AllowList {
    pub(crate) group: ParameterGroup,
    /// `None`: unset, the engine default (`*`) is in force.
    pub(crate) value: Option<String>,
    pub(crate) pending_reboot: bool,
    pub(crate) apply_type: Option<String>,
}

/// When the server's CA (or certificate) stops being valid, or why that is unknown.
#[derive(Debug, Clone)]
pub(crate) enum CaExpiry {
    Known {
        valid_till: SystemTime,
        source: &'static str,
    },
    Unknown(String),
}

/// Everything read for the findings.
pub(crate) struct Seen<'a> {
    pub(crate) description: &'a RdsDescription,
    pub(crate) force_ssl: &'a ForceSsl,
    pub(crate) allow_list: &'a AllowList,
    pub(crate) ca: &'a CaExpiry,
}

/// The findings, in [`ids::PROVIDER`] order.
pub(crate) fn evaluate(seen: &Seen<'_>, now: SystemTime) -> Vec<Finding> {
    vec![
        tls_enforced(seen),
        extension_allowed(seen),
        public_network(seen.description),
        pending_restart(seen.description),
        iam_authentication(seen.description),
        server_ca(seen, now),
    ]
}

/// The instance to name in an `aws rds ... --db-instance-identifier` fix.
fn instance_id(d: &RdsDescription) -> String {
    d.instance_identifier
        .clone()
        .unwrap_or_else(|| "<writer-instance>".to_owned())
}

/// The command that reboots what applies a pending parameter group.
fn reboot_command(d: &RdsDescription) -> String {
    format!(
        "aws rds reboot-db-instance --db-instance-identifier {}",
        instance_id(d)
    )
}

/// `aws rds modify-db(-cluster)-parameter-group` setting `name=value` in `group`.
fn modify_group_command(group: &ParameterGroup, name: &str, value: &str, dynamic: bool) -> String {
    let method = if dynamic {
        "immediate"
    } else {
        "pending-reboot"
    };
    let (verb, flag) = match group.kind {
        ParameterGroupKind::Instance => ("modify-db-parameter-group", "--db-parameter-group-name"),
        ParameterGroupKind::Cluster => (
            "modify-db-cluster-parameter-group",
            "--db-cluster-parameter-group-name",
        ),
    };
    format!(
        "aws rds {verb} {flag} {} --parameters \
         \"ParameterName={name},ParameterValue='{value}',ApplyMethod={method}\"",
        group.name
    )
}

/// AWS's `default.*` groups cannot be modified: create a custom group of the same family, set
/// the parameter there, attach it, reboot.
fn custom_group_commands(
    d: &RdsDescription,
    group: &ParameterGroup,
    name: &str,
    value: &str,
) -> String {
    let family = group
        .name
        .strip_prefix("default.")
        .unwrap_or("<family>")
        .to_owned();
    let custom = ParameterGroup {
        name: format!("scrydon-{family}"),
        kind: group.kind,
        apply_status: None,
    };
    let (create, attach) = match (group.kind, &d.target) {
        (ParameterGroupKind::Cluster, RdsTarget::Cluster(cluster)) => (
            format!(
                "aws rds create-db-cluster-parameter-group --db-cluster-parameter-group-name {} \
                 --db-parameter-group-family {family} --description scrydon",
                custom.name
            ),
            format!(
                "aws rds modify-db-cluster --db-cluster-identifier {cluster} \
                 --db-cluster-parameter-group-name {} --apply-immediately",
                custom.name
            ),
        ),
        _ => (
            format!(
                "aws rds create-db-parameter-group --db-parameter-group-name {} \
                 --db-parameter-group-family {family} --description scrydon",
                custom.name
            ),
            format!(
                "aws rds modify-db-instance --db-instance-identifier {} \
                 --db-parameter-group-name {} --apply-immediately",
                instance_id(d),
                custom.name
            ),
        ),
    };
    [
        create,
        modify_group_command(&custom, name, value, true),
        attach,
        reboot_command(d),
    ]
    .join("\n")
}

fn tls_enforced(seen: &Seen<'_>) -> Finding {
    let ssl = seen.force_ssl;
    let d = seen.description;
    let refs = [NOTES_RDS, ISO_TLS, NIST_SC8];
    let id = ids::PROVIDER_TLS_ENFORCED;
    let group = &ssl.group.name;
    if ssl.in_force() {
        return Finding::new(id, Status::Pass)
            .with_observed(format!(
                "rds.force_ssl = 1 in parameter group {group}, in force: connections without TLS \
                 are refused"
            ))
            .with_references(&refs);
    }
    if ssl.configured() {
        return Finding::new(id, Status::Warn)
            .with_observed(format!(
                "rds.force_ssl = 1 in parameter group {group}, but the group is pending-reboot: \
                 not in force yet, connections without TLS are still accepted"
            ))
            .with_remediation(
                "Reboot the instance (in a maintenance window) so rds.force_ssl=1 takes effect.",
            )
            .with_fix(Fix::shell(reboot_command(d)))
            .with_references(&refs);
    }
    let observed = match &ssl.value {
        Some(v) => format!(
            "rds.force_ssl = {v} in parameter group {group}: connections without TLS are accepted"
        ),
        None => format!(
            "rds.force_ssl is not set in parameter group {group}: the engine default applies and \
             TLS is not enforced by configuration"
        ),
    };
    let f = Finding::new(id, Status::Fail)
        .with_observed(observed)
        .with_references(&refs);
    if ssl.group.is_default() {
        f.with_remediation(format!(
            "{group} is an AWS default parameter group, which cannot be modified: create a \
             custom group of the same family with rds.force_ssl=1, attach it, then reboot."
        ))
        .with_fix(Fix::shell(custom_group_commands(
            d,
            &ssl.group,
            "rds.force_ssl",
            "1",
        )))
    } else {
        let dynamic = ssl.apply_type.as_deref() != Some("static");
        f.with_remediation(format!("Set rds.force_ssl=1 in parameter group {group}."))
            .with_fix(Fix::shell(modify_group_command(
                &ssl.group,
                "rds.force_ssl",
                "1",
                dynamic,
            )))
    }
}

fn extension_allowed(seen: &Seen<'_>) -> Finding {
    let a = seen.allow_list;
    let d = seen.description;
    let id = ids::PROVIDER_EXTENSION_ALLOWED;
    let refs = [
        NOTES_RDS,
        "runbook: Troubleshooting / CREATE EXTENSION vector fails",
    ];
    let group = &a.group.name;
    let Some(value) = &a.value else {
        return Finding::new(id, Status::Pass)
            .with_observed(format!(
                "rds.allowed_extensions is not set in parameter group {group}: the engine default \
                 ({ALLOWED_EXTENSIONS_DEFAULT}) allows every extension, vector included"
            ))
            .with_references(&refs);
    };
    if allow_list_allows(value, "vector") {
        if a.pending_reboot {
            return Finding::new(id, Status::Warn)
                .with_observed(format!(
                    "rds.allowed_extensions = {value:?} in parameter group {group} allows vector, \
                     but waits for a reboot"
                ))
                .with_remediation("Reboot the instance so the allow-list takes effect.")
                .with_fix(Fix::shell(reboot_command(d)))
                .with_references(&refs);
        }
        return Finding::new(id, Status::Pass)
            .with_observed(format!(
                "rds.allowed_extensions = {value:?} in parameter group {group} allows vector"
            ))
            .with_references(&refs);
    }
    let listed: Vec<&str> = value
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .collect();
    let new_list = if listed.is_empty() {
        "vector".to_owned()
    } else {
        format!("{},vector", listed.join(","))
    };
    let f = Finding::new(id, Status::Fail)
        .with_observed(format!(
            "rds.allowed_extensions = {value:?} in parameter group {group} does not allow vector: \
             CREATE EXTENSION vector is refused"
        ))
        .with_references(&refs);
    if a.group.is_default() {
        f.with_remediation(format!(
            "{group} is an AWS default parameter group, which cannot be modified: create a custom \
             group with vector in rds.allowed_extensions and attach it."
        ))
        .with_fix(Fix::shell(custom_group_commands(
            d,
            &a.group,
            "rds.allowed_extensions",
            &new_list,
        )))
    } else {
        let dynamic = a.apply_type.as_deref() != Some("static");
        f.with_remediation(format!(
            "Add vector to rds.allowed_extensions in parameter group {group} (or run bootstrap \
             with this provider, which does it)."
        ))
        .with_fix(Fix::shell(modify_group_command(
            &a.group,
            "rds.allowed_extensions",
            &new_list,
            dynamic,
        )))
    }
}

fn public_network(d: &RdsDescription) -> Finding {
    let id = ids::PROVIDER_PUBLIC_NETWORK;
    let who = format!("DB instance {}", instance_id(d));
    match d.publicly_accessible {
        Some(true) => Finding::new(id, Status::Warn)
            .with_observed(format!(
                "{who} is PubliclyAccessible: its endpoint resolves to a public IP"
            ))
            .with_remediation(
                "Keep the database on private networking (the cluster in the same VPC, or peered) \
                 and turn public access off.",
            )
            .with_fix(Fix::shell(format!(
                "aws rds modify-db-instance --db-instance-identifier {} --no-publicly-accessible \
                 --apply-immediately",
                instance_id(d)
            )))
            .with_reference(NOTES_RDS),
        Some(false) => Finding::new(id, Status::Pass)
            .with_observed(format!("{who} is not publicly accessible"))
            .with_reference(NOTES_RDS),
        None => Finding::new(id, Status::Skip)
            .with_observed(format!(
                "the API does not say whether {who} is publicly accessible"
            ))
            .with_reference(NOTES_RDS),
    }
}

fn pending_restart(d: &RdsDescription) -> Finding {
    let id = ids::PROVIDER_PENDING_RESTART;
    let groups: Vec<&str> = d
        .parameter_groups
        .iter()
        .filter(|g| g.pending_reboot())
        .map(|g| g.name.as_str())
        .collect();
    let mut parts = Vec::new();
    if !groups.is_empty() {
        parts.push(format!(
            "parameter group(s) {} pending-reboot",
            groups.join(", ")
        ));
    }
    if !d.pending_modifications.is_empty() {
        parts.push(format!(
            "pending modifications: {}",
            d.pending_modifications.join(", ")
        ));
    }
    if parts.is_empty() {
        let statuses: Vec<String> = d
            .parameter_groups
            .iter()
            .map(|g| {
                format!(
                    "{} {}",
                    g.name,
                    g.apply_status.as_deref().unwrap_or("(no status)")
                )
            })
            .collect();
        return Finding::new(id, Status::Pass)
            .with_observed(format!(
                "nothing waits for a restart ({}); no pending modifications",
                statuses.join(", ")
            ))
            .with_reference(NOTES_RDS);
    }
    let f = Finding::new(id, Status::Warn)
        .with_observed(parts.join("; "))
        .with_reference(NOTES_RDS);
    if groups.is_empty() {
        f.with_remediation(
            "The modifications apply in the next maintenance window, or at once with \
             `aws rds modify-db-instance ... --apply-immediately`; plan for the restart some of \
             them need.",
        )
    } else {
        f.with_remediation(
            "Reboot the instance in a maintenance window: until then the parameter group's \
             static changes are not in force.",
        )
        .with_fix(Fix::shell(reboot_command(d)))
    }
}

fn iam_authentication(d: &RdsDescription) -> Finding {
    let id = ids::PROVIDER_IAM_AUTHENTICATION;
    let state = match d.iam_database_authentication {
        Some(true) => "on",
        Some(false) => "off",
        None => "not reported",
    };
    Finding::new(id, Status::Pass)
        .with_observed(format!(
            "IAM database authentication is {state}; the chart uses password authentication, \
             which works either way"
        ))
        .with_reference(NOTES_RDS)
}

fn server_ca(seen: &Seen<'_>, now: SystemTime) -> Finding {
    let d = seen.description;
    let id = ids::PROVIDER_SERVER_CA;
    let refs = [NOTES_RDS, "runbook: Prerequisites"];
    let ca = d
        .ca_certificate_identifier
        .as_deref()
        .unwrap_or("(unknown CA)");
    let rotate_to = if ca == CURRENT_DEFAULT_CA {
        "<new-ca-identifier>"
    } else {
        CURRENT_DEFAULT_CA
    };
    let rotate_fix = |to: &str| {
        Fix::shell(format!(
            "aws rds modify-db-instance --db-instance-identifier {} --ca-certificate-identifier \
             {to} --apply-immediately",
            instance_id(d)
        ))
    };
    if let Some(next) = &d.pending_ca_certificate_identifier {
        return Finding::new(id, Status::Warn)
            .with_observed(format!(
                "a CA rotation is under way: {ca} is being replaced by {next}"
            ))
            .with_remediation(format!(
                "Clients must trust both {ca} and {next} until the rotation is done: use AWS's \
                 global RDS CA bundle, which has both; the change applies at the next reboot or \
                 maintenance window."
            ))
            .with_fix(rotate_fix(next))
            .with_references(&refs);
    }
    match seen.ca {
        CaExpiry::Unknown(why) => Finding::new(id, Status::Skip)
            .with_observed(format!(
                "server CA {ca}: its expiry could not be read ({why})"
            ))
            .with_references(&refs),
        CaExpiry::Known { valid_till, source } => {
            let days_left = valid_till
                .duration_since(now)
                .map(|d| d.as_secs() / 86_400)
                .ok();
            let until = date(*valid_till);
            match days_left {
                Some(days) if Duration::from_secs(days * 86_400) >= CA_WARN_WITHIN => {
                    Finding::new(id, Status::Pass)
                        .with_observed(format!(
                            "server CA {ca}, valid until {until} ({source}; {days} days left)"
                        ))
                        .with_references(&refs)
                }
                left => {
                    let when = match left {
                        Some(days) => format!("expires in {days} days ({until})"),
                        None => format!("expired on {until}"),
                    };
                    Finding::new(id, Status::Warn)
                        .with_observed(format!("server CA {ca} {when} ({source})"))
                        .with_remediation(
                            "Rotate the instance to a current CA before then: first make every \
                             client trust it (AWS's global RDS CA bundle has every RDS CA), then \
                             modify the instance; it restarts to apply.",
                        )
                        .with_fix(rotate_fix(rotate_to))
                        .with_references(&refs)
                }
            }
        }
    }
}

/// `2026-11-24`: the UTC date of `t`.
fn date(t: SystemTime) -> String {
    time::OffsetDateTime::from(t).date().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_utc_days() {
        let day = |n: u64| SystemTime::UNIX_EPOCH + Duration::from_secs(n * 86_400 + 3_600);
        assert_eq!(date(day(0)), "1970-01-01");
        assert_eq!(date(day(19_782)), "2024-02-29");
    }
}

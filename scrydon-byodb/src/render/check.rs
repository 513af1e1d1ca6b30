//! Checking a chart configuration: a values file and the Secrets meant for it.

use std::collections::BTreeMap;

use super::manifest::{Inventory, SecretManifest};
use super::values::ChartValues;
use super::Profile;
use crate::catalog::{component_for_database, Component};
use crate::dsn::{Dsn, SslMode};
use crate::report::{ids, Finding, Status};
use crate::{Error, SecretString};

pub(crate) const REF_CONFIGURATION: &str = "runbook: Configuration";
pub(crate) const REF_MODE_A: &str = "runbook: Configuration / Mode A";
pub(crate) const REF_MODE_B: &str = "runbook: Configuration / Mode B";
pub(crate) const REF_PREREQUISITES: &str = "runbook: Prerequisites";
pub(crate) const REF_TROUBLESHOOTING: &str = "runbook: Troubleshooting";
pub(crate) const REF_ISO_A_8_24: &str = "ISO 27001:2022 A.8.24";
pub(crate) const REF_ISO_A_8_13: &str = "ISO 27001:2022 A.8.13";

/// Checks a values file and the Secret / `ExternalSecret` manifests meant for it.
///
/// Returns only what needs saying (warnings and failures); an empty list is a clean bill. The
/// checks, by [`ids`]: the bundled database turned off, every enabled app configured in one mode,
/// Mode A Secrets in the app's namespace with exactly the key the app reads and used by one app
/// only, every DSN parseable, pointing at its own database, with a strong `sslmode`, and `sslMode`
/// never appended on top of a DSN's own query string.
pub fn check(values: &ChartValues, inventory: &Inventory, profile: Profile) -> Vec<Finding> {
    let mut out = Vec::new();

    for key in values.unknown_namespace_keys() {
        out.push(
            Finding::new(ids::RENDER_UNKNOWN_NAMESPACE_KEY, Status::Warn)
                .with_observed(format!(
                    "namespaces.{key} names no component; this tool reads namespaces.auth, .agentic, .analytics, .cortex and .ontology"
                ))
                .with_remediation("rename the key to the component it is meant for, or remove it")
                .with_reference(REF_CONFIGURATION),
        );
    }

    if values.infra_db_enabled() != Some(false) {
        out.push(
            Finding::new(ids::RENDER_INFRA_DB_ENABLED, Status::Fail)
                .with_observed(match values.infra_db_enabled() {
                    Some(true) => "infra.db.enabled is true".to_owned(),
                    _ => "infra.db.enabled is not set (the chart defaults it to true)".to_owned(),
                })
                .with_remediation(
                    "set infra.db.enabled: false so the apps use the managed database",
                )
                .with_reference(REF_CONFIGURATION),
        );
    }
    let mut extras = Vec::new();
    if values.infra_db_tls_enabled() != Some(false) {
        extras.push("infra.db.tls.enabled");
    }
    if values.infra_db_backup_enabled() != Some(false) {
        extras.push("infra.db.backup.enabled");
    }
    if !extras.is_empty() {
        out.push(
            Finding::new(ids::RENDER_BUNDLED_EXTRAS_ENABLED, Status::Warn)
                .with_observed(format!("{} not set to false", extras.join(" and ")))
                .with_remediation(
                    "set both to false: they belong to the in-cluster database; rely on the provider's native PITR for backups",
                )
                .with_references(&[REF_CONFIGURATION, REF_ISO_A_8_13]),
        );
    }

    // (namespace, secret name) -> components naming it.
    let mut secret_users: BTreeMap<(String, String), Vec<Component>> = BTreeMap::new();
    // (hosts, dbname) -> components whose DSN points there.
    let mut databases: BTreeMap<(String, String), Vec<Component>> = BTreeMap::new();

    for c in values.enabled_components() {
        let spec = c.spec();
        let ns = values.namespace(c);
        match (values.existing_secret(c), values.url(c)) {
            (None, None) => out.push(
                Finding::new(ids::RENDER_COMPONENT_UNCONFIGURED, Status::Fail)
                    .with_component(c)
                    .with_observed(format!(
                        "{c} is enabled but neither {} nor {} is set",
                        spec.existing_secret_values_key, spec.url_values_key
                    ))
                    .with_remediation(format!(
                        "set {} to a Secret in {ns} holding {} (Mode A), or disable the component",
                        spec.existing_secret_values_key, spec.env_key
                    ))
                    .with_reference(REF_CONFIGURATION),
            ),
            (Some(name), url) => {
                if url.is_some() {
                    out.push(both_modes_set(c));
                }
                secret_users
                    .entry((ns.to_owned(), name.to_owned()))
                    .or_default()
                    .push(c);
                check_mode_a(c, name, ns, inventory, profile, &mut out, &mut databases);
            }
            (None, Some(url)) => {
                check_mode_b(c, url, values.ssl_mode(), profile, &mut out, &mut databases);
            }
        }
    }

    for ((ns, name), users) in secret_users {
        if users.len() > 1 {
            let names: Vec<_> = users.iter().map(|c| c.as_str()).collect();
            for c in &users[1..] {
                out.push(
                    Finding::new(ids::RENDER_SECRET_SHARED, Status::Fail)
                        .with_component(*c)
                        .with_observed(format!(
                            "Secret {name} in {ns} is used by {}",
                            names.join(", ")
                        ))
                        .with_remediation(format!(
                            "give {c} its own Secret ({}) holding only {}",
                            c.spec().secret_name,
                            c.spec().env_key
                        ))
                        .with_reference(REF_MODE_A),
                );
            }
        }
    }
    for ((_hosts, db), users) in databases {
        if users.len() > 1 {
            let names: Vec<_> = users.iter().map(|c| c.as_str()).collect();
            for c in &users[1..] {
                out.push(
                    Finding::new(ids::RENDER_DSN_SHARED_DATABASE, Status::Fail)
                        .with_component(*c)
                        // The host is not shown: after a broken URI it may hold part of a
                        // password.
                        .with_observed(format!(
                            "{} all point at database {db} on the same server",
                            names.join(", ")
                        ))
                        .with_remediation(format!(
                            "point {c} at its own database ({})",
                            c.spec().database
                        ))
                        .with_reference(REF_MODE_A),
                );
            }
        }
    }
    out
}

pub(crate) fn both_modes_set(c: Component) -> Finding {
    let spec = c.spec();
    Finding::new(ids::RENDER_BOTH_MODES_SET, Status::Warn)
        .with_component(c)
        .with_observed(format!(
            "both {} and {} are set; Mode A wins and the URL is ignored",
            spec.existing_secret_values_key, spec.url_values_key
        ))
        .with_remediation(format!(
            "remove {} so no DSN sits in values for nothing",
            spec.url_values_key
        ))
        .with_reference(REF_CONFIGURATION)
}

#[allow(clippy::too_many_arguments)]
fn check_mode_a(
    c: Component,
    name: &str,
    ns: &str,
    inventory: &Inventory,
    profile: Profile,
    out: &mut Vec<Finding>,
    databases: &mut BTreeMap<(String, String), Vec<Component>>,
) {
    let spec = c.spec();
    let secrets: Vec<&SecretManifest> = inventory
        .secrets
        .iter()
        .filter(|s| s.name == name)
        .collect();
    let externals: Vec<_> = inventory
        .external_secrets
        .iter()
        .filter(|e| e.target == name)
        .collect();
    let in_ns = |n: &Option<String>| n.as_deref() == Some(ns);
    let mut sources_here = secrets.iter().any(|s| in_ns(&s.namespace))
        || externals.iter().any(|e| in_ns(&e.namespace));

    if !sources_here {
        let unset = secrets.iter().any(|s| s.namespace.is_none())
            || externals.iter().any(|e| e.namespace.is_none());
        let elsewhere: Vec<&str> = secrets
            .iter()
            .filter_map(|s| s.namespace.as_deref())
            .chain(externals.iter().filter_map(|e| e.namespace.as_deref()))
            .collect();
        if unset {
            out.push(
                Finding::new(ids::RENDER_SECRET_NAMESPACE_UNSET, Status::Warn)
                    .with_component(c)
                    .with_observed(format!("the manifest for Secret {name} has no metadata.namespace"))
                    .with_remediation(format!(
                        "set metadata.namespace: {ns} (a pod reads only Secrets of its own namespace)"
                    ))
                    .with_reference(REF_MODE_A),
            );
            sources_here = true;
        } else if !elsewhere.is_empty() {
            let mut elsewhere = elsewhere;
            elsewhere.sort_unstable();
            elsewhere.dedup();
            out.push(
                Finding::new(ids::RENDER_SECRET_WRONG_NAMESPACE, Status::Fail)
                    .with_component(c)
                    .with_observed(format!(
                        "Secret {name} is in {}, but {c} runs in {ns}",
                        elsewhere.join(", ")
                    ))
                    .with_remediation(format!(
                        "create {name} in {ns} (after a namespace split each app's Secret moves with it)"
                    ))
                    .with_reference(REF_MODE_A),
            );
            return;
        } else {
            out.push(
                Finding::new(ids::RENDER_SECRET_NOT_FOUND, Status::Warn)
                    .with_component(c)
                    .with_observed(format!(
                        "no manifest checked creates Secret {name} in {ns}"
                    ))
                    .with_remediation(format!(
                        "make sure {name} exists in {ns} with the single key {} (the chart never inspects it)",
                        spec.env_key
                    ))
                    .with_reference(REF_MODE_A),
            );
            return;
        }
    }
    debug_assert!(sources_here);

    let here = |n: &Option<String>| n.is_none() || in_ns(n);
    for s in secrets.iter().filter(|s| here(&s.namespace)) {
        let keys: Vec<&str> = s.entries.keys().map(String::as_str).collect();
        check_keys(c, name, &keys, out);
        if let Some(value) = s.entries.get(spec.env_key) {
            let where_ = format!("Secret {name} key {}", spec.env_key);
            if value.expose_secret().ends_with('\n') || value.expose_secret().ends_with('\r') {
                out.push(
                    Finding::new(ids::RENDER_SECRET_TRAILING_NEWLINE, Status::Fail)
                        .with_component(c)
                        .with_observed(format!("the value of {where_} ends with a line break"))
                        .with_remediation(
                            "write the DSN file without a final newline (printf '%s', not echo) before kubectl create secret --from-file",
                        )
                        .with_reference(REF_TROUBLESHOOTING),
                );
                continue;
            }
            match Dsn::parse(value.expose_secret()) {
                Ok(dsn) => check_dsn(c, &dsn, &where_, profile, true, out, databases),
                Err(e) => out.push(dsn_invalid(c, &where_, &e, value)),
            }
        }
    }
    for e in externals.iter().filter(|e| here(&e.namespace)) {
        if let Some(keys) = &e.keys {
            let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
            check_keys(c, name, &keys, out);
        }
    }
}

fn check_keys(c: Component, name: &str, keys: &[&str], out: &mut Vec<Finding>) {
    let spec = c.spec();
    if !keys.contains(&spec.env_key) {
        out.push(
            Finding::new(ids::RENDER_SECRET_WRONG_KEY, Status::Fail)
                .with_component(c)
                .with_observed(format!(
                    "Secret {name} has keys [{}]; {c} reads {}",
                    keys.join(", "),
                    spec.env_key
                ))
                .with_remediation(format!(
                    "store the DSN of {c} under the key {}",
                    spec.env_key
                ))
                .with_reference(REF_MODE_A),
        );
    }
    let extra: Vec<&str> = keys
        .iter()
        .copied()
        .filter(|k| *k != spec.env_key)
        .collect();
    if !extra.is_empty() {
        out.push(
            Finding::new(ids::RENDER_SECRET_EXTRA_KEY, Status::Warn)
                .with_component(c)
                .with_observed(format!(
                    "Secret {name} also carries [{}]; envFrom injects every key into the pods of {c}",
                    extra.join(", ")
                ))
                .with_remediation(format!("keep only {} in {name}", spec.env_key))
                .with_reference(REF_MODE_A),
        );
    }
}

fn check_mode_b(
    c: Component,
    url: &SecretString,
    ssl_mode: Option<&str>,
    profile: Profile,
    out: &mut Vec<Finding>,
    databases: &mut BTreeMap<(String, String), Vec<Component>>,
) {
    let spec = c.spec();
    if profile == Profile::Production {
        out.push(
            Finding::new(ids::RENDER_MODE_B_IN_PRODUCTION, Status::Warn)
                .with_component(c)
                .with_observed(format!(
                    "{} carries the DSN of {c} inline (Mode B) under the production profile",
                    spec.url_values_key
                ))
                .with_remediation(format!(
                    "use Mode A: a Secret {} holding {} and {} naming it; Mode B DSNs end up in values files, CI logs and `helm get values`",
                    spec.secret_name, spec.env_key, spec.existing_secret_values_key
                ))
                .with_reference(REF_MODE_B),
        );
    }
    let raw = url.expose_secret();
    let where_ = spec.url_values_key.to_owned();
    let effective: SecretString = match ssl_mode {
        Some(mode) if raw.contains('?') => {
            let has_sslmode = Dsn::parse(raw).is_ok_and(|d| d.get("sslmode").is_some());
            let (id, why) = if has_sslmode {
                (
                    ids::RENDER_SSLMODE_DUPLICATED,
                    "already carries sslmode, and the chart appends a second one",
                )
            } else {
                (
                    ids::RENDER_SSLMODE_APPEND_MALFORMED,
                    "has a query string, and the chart appends ?sslmode= after it (two '?': the last parameter swallows it)",
                )
            };
            out.push(
                Finding::new(id, Status::Fail)
                    .with_component(c)
                    .with_observed(format!(
                        "{where_} {why} (sslMode: {mode})"
                    ))
                    .with_remediation(
                        "either remove infra.db.external.sslMode and put sslmode in every URL, or keep sslMode and remove every URL's query string",
                    )
                    .with_reference(REF_MODE_B),
            );
            // Check the URL as written for the rest.
            url.clone()
        }
        // Exactly what the chart does.
        Some(mode) => SecretString::new(format!("{raw}?sslmode={mode}")),
        None => url.clone(),
    };
    match Dsn::parse(effective.expose_secret()) {
        Ok(dsn) => check_dsn(c, &dsn, &where_, profile, false, out, databases),
        Err(e) => out.push(dsn_invalid(c, &where_, &e, &effective)),
    }
}

fn dsn_invalid(c: Component, where_: &str, e: &Error, raw: &SecretString) -> Finding {
    let reason = match e {
        Error::InvalidDsn { field, reason } => {
            let reason = scrub(reason, raw.expose_secret());
            match field {
                Some(f) => format!("{f}: {reason}"),
                None => reason,
            }
        }
        other => scrub(&other.to_string(), raw.expose_secret()),
    };
    Finding::new(ids::RENDER_DSN_INVALID, Status::Fail)
        .with_component(c)
        .with_observed(format!("the DSN in {where_} does not parse ({reason})"))
        .with_remediation(
            "write the DSN as a URI with every special character of the user and password percent-encoded (scrydon-byodb render does this)",
        )
        .with_reference(REF_CONFIGURATION)
}

/// Removes anything that may be a password from a message about an unparseable DSN: the whole
/// user-info of a URI (up to its last `@`, since an unencoded `@` is a common reason the DSN
/// does not parse) and any `password=` value. Short candidates drop the message instead, since
/// replacing them would mangle it without hiding them reliably.
pub(crate) fn scrub(message: &str, raw: &str) -> String {
    let mut candidates: Vec<&str> = Vec::new();
    if let Some(i) = raw.find("://") {
        let rest = &raw[i + 3..];
        if let Some(at) = rest.rfind('@') {
            let userinfo = &rest[..at];
            candidates.push(userinfo);
            if let Some((_, pw)) = userinfo.split_once(':') {
                candidates.push(pw);
            }
        }
    }
    let mut rest = raw;
    while let Some(i) = rest.find("password") {
        let after = rest[i + "password".len()..].trim_start();
        if let Some(value) = after.strip_prefix('=') {
            let value = value.trim_start();
            let end = if let Some(quoted) = value.strip_prefix('\'') {
                quoted.find('\'').map_or(value.len(), |e| e + 2)
            } else {
                value
                    .find(|ch: char| ch.is_whitespace() || ch == '&')
                    .unwrap_or(value.len())
            };
            candidates.push(&value[..end]);
            candidates.push(value[..end].trim_matches('\''));
        }
        rest = &rest[i + "password".len()..];
    }
    let mut out = message.to_owned();
    for cand in candidates {
        if cand.is_empty() {
            continue;
        }
        if cand.chars().count() < 4 {
            if out.contains(cand) {
                return "details withheld: they would show part of the password".to_owned();
            }
            continue;
        }
        out = out.replace(cand, "********");
    }
    out
}

fn check_dsn(
    c: Component,
    dsn: &Dsn,
    where_: &str,
    profile: Profile,
    mode_a: bool,
    out: &mut Vec<Finding>,
    databases: &mut BTreeMap<(String, String), Vec<Component>>,
) {
    let spec = c.spec();
    let reference = if mode_a { REF_MODE_A } else { REF_MODE_B };
    let broken_host = dsn
        .get("host")
        .is_some_and(|h| h.contains(['@', '/']) && !h.starts_with('/'));
    if broken_host {
        out.push(
            Finding::new(ids::RENDER_DSN_INVALID, Status::Fail)
                .with_component(c)
                .with_observed(format!(
                    "the host in the DSN in {where_} contains '@' or '/' (not shown): an unencoded '@' in the password most likely broke the URI"
                ))
                .with_remediation(
                    "percent-encode the user and password (scrydon-byodb render does)",
                )
                .with_reference(REF_CONFIGURATION),
        );
        return;
    }
    match dsn.dbname() {
        Some(db) if db == spec.database => {}
        Some(db) if db.contains(['@', '/', ':', '?', '#', '[', ']']) => out.push(
            // Not shown: it is most likely the tail of a password whose '@' or '/' was not
            // percent-encoded.
            Finding::new(ids::RENDER_DSN_DBNAME_MISMATCH, Status::Fail)
                .with_component(c)
                .with_observed(format!(
                    "the DSN in {where_} names a database containing '@', '/' or ':' (not shown): an unencoded special character in the password most likely broke the URI"
                ))
                .with_remediation(format!(
                    "percent-encode the user and password (scrydon-byodb render does) so the database is {}",
                    spec.database
                ))
                .with_reference(reference),
        ),
        Some(db) => {
            let other = component_for_database(db);
            let status = if other.is_some() {
                Status::Fail
            } else {
                Status::Warn
            };
            let observed = match other {
                Some(o) => format!(
                    "the DSN in {where_} names database {db}, which is {o}'s; {c} owns {}",
                    spec.database
                ),
                None => format!(
                    "the DSN in {where_} names database {db}; the runbook's database for {c} is {}",
                    spec.database
                ),
            };
            out.push(
                Finding::new(ids::RENDER_DSN_DBNAME_MISMATCH, status)
                    .with_component(c)
                    .with_observed(observed)
                    .with_remediation(format!(
                        "point {c} at its own database ({}), pre-created as the runbook shows",
                        spec.database
                    ))
                    .with_reference(reference),
            );
        }
        None => out.push(
            Finding::new(ids::RENDER_DSN_DBNAME_MISMATCH, Status::Fail)
                .with_component(c)
                .with_observed(format!(
                    "the DSN in {where_} names no database (libpq would use one named after the user)"
                ))
                .with_remediation(format!("add /{} to the DSN", spec.database))
                .with_reference(reference),
        ),
    }
    if let Some(db) = dsn.dbname() {
        let hosts = match dsn.endpoints() {
            Ok(eps) => eps
                .iter()
                .map(|e| match &e.host {
                    crate::dsn::Host::Tcp(h) => format!("{h}:{}", e.port),
                    crate::dsn::Host::Unix(p) => format!("{}:{}", p.display(), e.port),
                })
                .collect::<Vec<_>>()
                .join(","),
            Err(_) => dsn.get("host").unwrap_or("").to_owned(),
        };
        databases.entry((hosts, db.to_owned())).or_default().push(c);
    }
    let tls_status = match profile {
        Profile::Production => Status::Fail,
        Profile::Staging => Status::Warn,
    };
    match dsn.get("sslmode") {
        None => out.push(
            Finding::new(ids::RENDER_DSN_SSLMODE_MISSING, tls_status)
                .with_component(c)
                .with_observed(format!(
                    "the DSN in {where_} has no sslmode (libpq's default prefer falls back to plaintext)"
                ))
                .with_remediation(if mode_a {
                    "add sslmode=require at least, verify-full when you can mount the provider's CA"
                } else {
                    "set infra.db.external.sslMode: require (or verify-full), or add sslmode to every URL"
                })
                .with_references(&[REF_PREREQUISITES, REF_ISO_A_8_24]),
        ),
        Some(_) => {
            let mode = dsn.ssl_mode();
            if matches!(mode, SslMode::Disable | SslMode::Allow | SslMode::Prefer) {
                out.push(
                    Finding::new(ids::RENDER_DSN_SSLMODE_WEAK, tls_status)
                        .with_component(c)
                        .with_observed(format!(
                            "the DSN in {where_} has sslmode={mode}, which allows plaintext"
                        ))
                        .with_remediation(
                            "use sslmode=require at least, verify-full when you can mount the provider's CA",
                        )
                        .with_references(&[REF_PREREQUISITES, REF_ISO_A_8_24]),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrub_hides_userinfo_and_password_values() {
        let raw = "postgres://scrydon:p@ss/word@pg.example.com/auth";
        let msg = "unexpected '/' in 'scrydon:p@ss/word@pg.example.com'";
        let s = scrub(msg, raw);
        assert!(!s.contains("p@ss/word"), "{s}");
        let raw = "host=h password='se cret' dbname=auth";
        let s = scrub("bad value 'se cret' near password", raw);
        assert!(!s.contains("se cret"), "{s}");
        let raw = "postgres://u:abc@h/db";
        let s = scrub("something abc", raw);
        assert!(!s.contains("abc"), "{s}");
    }
}

//! `render::check` (what `scrydon-byodb render --check` runs): every finding id is tripped by a
//! crafted configuration, and not by a good one.

use std::collections::BTreeSet;

use base64::Engine as _;
use scrydon_byodb::catalog::Component;
use scrydon_byodb::dsn::SslMode;
use scrydon_byodb::render::{self, ChartValues, Inventory, Mode, Profile, RenderPlan};
use scrydon_byodb::report::{ids, Finding, Status};
use scrydon_byodb::SecretString;
use serde_yaml_ng::{Mapping, Value};

const HOST: &str = "pg.example.com:5432";
const PASSWORD: &str = "hunter2-secret";

fn dsn(db: &str, query: &str) -> String {
    format!("postgresql://scrydon:{PASSWORD}@{HOST}/{db}{query}")
}

/// A configuration under test: values and Secret manifests.
#[derive(Clone)]
struct Config {
    values: Value,
    secrets: Vec<SecretSpec>,
    profile: Profile,
}

#[derive(Clone)]
struct SecretSpec {
    component: Component,
    name: String,
    namespace: Option<String>,
    entries: Vec<(String, String)>,
}

impl Config {
    /// The runbook's Mode A, right.
    fn mode_a() -> Self {
        let mut values = Value::Mapping(Mapping::new());
        set(&mut values, "infra.db.enabled", false.into());
        set(&mut values, "infra.db.tls.enabled", false.into());
        set(&mut values, "infra.db.backup.enabled", false.into());
        let mut secrets = Vec::new();
        for c in Component::ALL {
            let spec = c.spec();
            set(
                &mut values,
                spec.existing_secret_values_key,
                spec.secret_name.into(),
            );
            secrets.push(SecretSpec {
                component: c,
                name: spec.secret_name.to_owned(),
                namespace: Some("scrydon-platform".to_owned()),
                entries: vec![(
                    spec.env_key.to_owned(),
                    dsn(spec.database, "?sslmode=require"),
                )],
            });
        }
        Config {
            values,
            secrets,
            profile: Profile::Production,
        }
    }

    /// The runbook's Mode B, right (staging).
    fn mode_b() -> Self {
        let mut values = Value::Mapping(Mapping::new());
        set(&mut values, "infra.db.enabled", false.into());
        set(&mut values, "infra.db.tls.enabled", false.into());
        set(&mut values, "infra.db.backup.enabled", false.into());
        set(&mut values, "infra.db.external.sslMode", "require".into());
        for c in Component::ALL {
            set(
                &mut values,
                c.spec().url_values_key,
                dsn(c.spec().database, "").into(),
            );
        }
        Config {
            values,
            secrets: Vec::new(),
            profile: Profile::Staging,
        }
    }

    fn secret(&mut self, c: Component) -> &mut SecretSpec {
        self.secrets
            .iter_mut()
            .find(|s| s.component == c)
            .expect("secret for component")
    }

    fn findings(&self) -> Vec<Finding> {
        let values =
            ChartValues::from_yaml_str(&serde_yaml_ng::to_string(&self.values).expect("yaml"))
                .expect("values");
        let mut inv = Inventory::new();
        for (i, s) in self.secrets.iter().enumerate() {
            // Half as data (base64), half as stringData, as people write them.
            let mut m = Mapping::new();
            m.insert("apiVersion".into(), "v1".into());
            m.insert("kind".into(), "Secret".into());
            let mut meta = Mapping::new();
            meta.insert("name".into(), s.name.clone().into());
            if let Some(ns) = &s.namespace {
                meta.insert("namespace".into(), ns.clone().into());
            }
            m.insert("metadata".into(), meta.into());
            let mut data = Mapping::new();
            for (k, v) in &s.entries {
                let v = if i % 2 == 0 {
                    base64::engine::general_purpose::STANDARD.encode(v)
                } else {
                    v.clone()
                };
                data.insert(k.clone().into(), v.into());
            }
            m.insert(
                if i % 2 == 0 { "data" } else { "stringData" }.into(),
                data.into(),
            );
            inv.add_yaml(
                &serde_yaml_ng::to_string(&Value::Mapping(m)).expect("yaml"),
                None,
            )
            .expect("manifest");
        }
        render::check(&values, &inv, self.profile)
    }
}

fn set(root: &mut Value, path: &str, value: Value) {
    let mut node = root;
    let segs: Vec<&str> = path.split('.').collect();
    for seg in &segs[..segs.len() - 1] {
        let m = node.as_mapping_mut().expect("mapping");
        node = m
            .entry((*seg).into())
            .or_insert_with(|| Value::Mapping(Mapping::new()));
    }
    node.as_mapping_mut()
        .expect("mapping")
        .insert(segs[segs.len() - 1].into(), value);
}

fn remove(root: &mut Value, path: &str) {
    let segs: Vec<&str> = path.split('.').collect();
    let mut node = root;
    for seg in &segs[..segs.len() - 1] {
        node = node.get_mut(*seg).expect("path");
    }
    node.as_mapping_mut()
        .expect("mapping")
        .shift_remove(segs[segs.len() - 1]);
}

type Key = (&'static str, Option<Component>, Status);

fn keys(findings: &[Finding]) -> Vec<Key> {
    findings
        .iter()
        .map(|f| (f.id, f.component, f.status))
        .collect()
}

/// The crafted cases: (what, configuration, the finding it must produce).
fn cases() -> Vec<(&'static str, Config, Key)> {
    use Component::*;
    let mut cases = Vec::new();
    let mut add = |what, c: Config, key: Key| cases.push((what, c, key));

    let mut c = Config::mode_a();
    remove(&mut c.values, "infra.db.enabled");
    add(
        "bundled db left on",
        c,
        (ids::RENDER_INFRA_DB_ENABLED, None, Status::Fail),
    );

    let mut c = Config::mode_a();
    remove(&mut c.values, "infra.db.backup");
    add(
        "backup CronJob left on",
        c,
        (ids::RENDER_BUNDLED_EXTRAS_ENABLED, None, Status::Warn),
    );

    let mut c = Config::mode_a();
    remove(&mut c.values, "infra.db.external.existingSecrets.cortex");
    add(
        "cortex has no DSN",
        c,
        (
            ids::RENDER_COMPONENT_UNCONFIGURED,
            Some(Cortex),
            Status::Fail,
        ),
    );

    let mut c = Config::mode_a();
    set(
        &mut c.values,
        "infra.db.external.authUrl",
        dsn("auth", "?sslmode=require").into(),
    );
    add(
        "both modes for auth",
        c,
        (ids::RENDER_BOTH_MODES_SET, Some(Auth), Status::Warn),
    );

    let mut c = Config::mode_a();
    set(
        &mut c.values,
        "infra.db.external.existingSecrets.agentic",
        "scrydon-db-auth".into(),
    );
    add(
        "auth and agentic share a Secret",
        c,
        (ids::RENDER_SECRET_SHARED, Some(Agentic), Status::Fail),
    );

    let mut c = Config::mode_a();
    c.secret(Analytics).entries[0].0 = "DATABASE_URL".into();
    add(
        "analytics Secret under DATABASE_URL",
        c,
        (ids::RENDER_SECRET_WRONG_KEY, Some(Analytics), Status::Fail),
    );

    let mut c = Config::mode_a();
    c.secret(Auth).entries.push((
        "DATABASE_URL_ANALYTICS".into(),
        dsn("analytics", "?sslmode=require"),
    ));
    add(
        "auth Secret with a second key",
        c,
        (ids::RENDER_SECRET_EXTRA_KEY, Some(Auth), Status::Warn),
    );

    let mut c = Config::mode_a();
    set(
        &mut c.values,
        "namespaces.analytics",
        "scrydon-analytics".into(),
    );
    add(
        "namespace split, Secret left behind",
        c,
        (
            ids::RENDER_SECRET_WRONG_NAMESPACE,
            Some(Analytics),
            Status::Fail,
        ),
    );

    let mut c = Config::mode_a();
    c.secret(Cortex).namespace = None;
    add(
        "Secret without namespace",
        c,
        (
            ids::RENDER_SECRET_NAMESPACE_UNSET,
            Some(Cortex),
            Status::Warn,
        ),
    );

    let mut c = Config::mode_a();
    c.secrets.retain(|s| s.component != Ontology);
    add(
        "no manifest for ontology",
        c,
        (ids::RENDER_SECRET_NOT_FOUND, Some(Ontology), Status::Warn),
    );

    let mut c = Config::mode_a();
    c.secret(Auth).entries[0].1.push('\n');
    add(
        "echo'd DSN file",
        c,
        (
            ids::RENDER_SECRET_TRAILING_NEWLINE,
            Some(Auth),
            Status::Fail,
        ),
    );

    let mut c = Config::mode_a();
    c.secret(Auth).entries[0].1 = dsn("auth", "?sslmode=required");
    add(
        "sslmode typo",
        c,
        (ids::RENDER_DSN_INVALID, Some(Auth), Status::Fail),
    );

    let mut c = Config::mode_a();
    c.secret(Cortex).entries[0].1 =
        format!("postgresql://scrydon:{PASSWORD}@{HOST}:99999/cortex?sslmode=require");
    add(
        "bad port",
        c,
        (ids::RENDER_DSN_INVALID, Some(Cortex), Status::Fail),
    );

    let mut c = Config::mode_a();
    c.secret(Agentic).entries[0].1 = dsn("auth", "?sslmode=require");
    add(
        "agentic on auth's database",
        c.clone(),
        (ids::RENDER_DSN_DBNAME_MISMATCH, Some(Agentic), Status::Fail),
    );
    add(
        "agentic and auth on one database",
        c,
        (ids::RENDER_DSN_SHARED_DATABASE, Some(Agentic), Status::Fail),
    );

    let mut c = Config::mode_a();
    c.secret(Agentic).entries[0].1 = dsn("scrydon_agentic", "?sslmode=require");
    add(
        "custom database name",
        c,
        (ids::RENDER_DSN_DBNAME_MISMATCH, Some(Agentic), Status::Warn),
    );

    let mut c = Config::mode_a();
    c.secret(Auth).entries[0].1 = format!("postgresql://scrydon:pa@ss@{HOST}/auth?sslmode=require");
    add(
        "unencoded '@' in the password",
        c,
        (ids::RENDER_DSN_INVALID, Some(Auth), Status::Fail),
    );

    let mut c = Config::mode_a();
    c.secret(Auth).entries[0].1 = format!("postgresql://scrydon@{HOST}/auth/x?sslmode=require");
    add(
        "'/' in the database name",
        c,
        (ids::RENDER_DSN_DBNAME_MISMATCH, Some(Auth), Status::Fail),
    );

    let mut c = Config::mode_a();
    c.secret(Agentic).entries[0].1 =
        format!("postgresql://scrydon:{PASSWORD}@{HOST}?sslmode=require");
    add(
        "no database",
        c,
        (ids::RENDER_DSN_DBNAME_MISMATCH, Some(Agentic), Status::Fail),
    );

    let mut c = Config::mode_a();
    c.secret(Cortex).entries[0].1 = dsn("cortex", "");
    add(
        "no sslmode",
        c.clone(),
        (ids::RENDER_DSN_SSLMODE_MISSING, Some(Cortex), Status::Fail),
    );
    c.profile = Profile::Staging;
    add(
        "no sslmode, staging",
        c,
        (ids::RENDER_DSN_SSLMODE_MISSING, Some(Cortex), Status::Warn),
    );

    let mut c = Config::mode_a();
    c.secret(Auth).entries[0].1 = dsn("auth", "?sslmode=prefer");
    add(
        "sslmode=prefer",
        c.clone(),
        (ids::RENDER_DSN_SSLMODE_WEAK, Some(Auth), Status::Fail),
    );
    c.profile = Profile::Staging;
    add(
        "sslmode=prefer, staging",
        c,
        (ids::RENDER_DSN_SSLMODE_WEAK, Some(Auth), Status::Warn),
    );

    let mut c = Config::mode_b();
    set(
        &mut c.values,
        "infra.db.external.analyticsUrl",
        dsn("analytics", "?sslmode=disable").into(),
    );
    remove(&mut c.values, "infra.db.external.sslMode");
    add(
        "Mode B sslmode=disable",
        c,
        (ids::RENDER_DSN_SSLMODE_WEAK, Some(Analytics), Status::Warn),
    );

    let mut c = Config::mode_b();
    remove(&mut c.values, "infra.db.external.sslMode");
    add(
        "Mode B without sslMode",
        c,
        (ids::RENDER_DSN_SSLMODE_MISSING, Some(Auth), Status::Warn),
    );

    let mut c = Config::mode_b();
    set(
        &mut c.values,
        "infra.db.external.authUrl",
        dsn("auth", "?sslmode=require").into(),
    );
    add(
        "sslmode appended twice",
        c,
        (ids::RENDER_SSLMODE_DUPLICATED, Some(Auth), Status::Fail),
    );

    let mut c = Config::mode_b();
    set(
        &mut c.values,
        "infra.db.external.cortexUrl",
        dsn("cortex", "?connect_timeout=10").into(),
    );
    add(
        "sslMode after a query",
        c,
        (
            ids::RENDER_SSLMODE_APPEND_MALFORMED,
            Some(Cortex),
            Status::Fail,
        ),
    );

    let mut c = Config::mode_b();
    c.profile = Profile::Production;
    add(
        "Mode B in production",
        c,
        (
            ids::RENDER_MODE_B_IN_PRODUCTION,
            Some(Ontology),
            Status::Warn,
        ),
    );

    let mut c = Config::mode_a();
    set(
        &mut c.values,
        "namespaces.apiOntology",
        "scrydon-analytics".into(),
    );
    add(
        "unknown namespaces key",
        c,
        (ids::RENDER_UNKNOWN_NAMESPACE_KEY, None, Status::Warn),
    );

    cases
}

#[test]
fn good_configurations_have_no_findings() {
    assert_eq!(keys(&Config::mode_a().findings()), vec![]);
    assert_eq!(keys(&Config::mode_b().findings()), vec![]);
}

#[test]
fn each_finding_is_tripped_by_its_crafted_input() {
    for (what, config, key) in cases() {
        let found = keys(&config.findings());
        assert!(
            found.contains(&key),
            "{what}: expected {key:?}, got {found:?}"
        );
        // A good configuration of the same kind does not trip it.
        let good = if config.secrets.is_empty() && config.profile == Profile::Staging {
            Config::mode_b()
        } else {
            Config::mode_a()
        };
        assert!(
            !good.findings().iter().any(|f| f.id == key.0),
            "{what}: the good configuration trips {}",
            key.0
        );
    }
}

#[test]
fn findings_never_show_the_password() {
    use Component::Auth;
    for (what, config, _) in cases() {
        for f in config.findings() {
            let text = serde_json::to_string(&f).expect("json");
            assert!(!text.contains(PASSWORD), "{what}: {text}");
        }
    }
    // An unparseable DSN whose password holds the very characters that broke it.
    let mut c = Config::mode_a();
    c.secret(Auth).entries[0].1 =
        "postgresql://scrydon:s3cr3t@:/[x@pg.example.com:5432/auth?sslmode=require".into();
    for f in c.findings() {
        assert!(!f.observed.contains("[x@pg"), "{f:?}");
        assert!(!f.observed.contains("s3cr3t"), "{f:?}");
    }
}

/// Every id in `ids::RENDER` is exercised: by the check cases above, or as a render note.
#[test]
fn every_id_is_covered() {
    let mut seen: BTreeSet<&str> = cases().iter().map(|(_, _, k)| k.0).collect();
    let template = "postgres://scrydon@pg.example.com:5432/{db}";
    let pw = Some(SecretString::from(PASSWORD));
    // Notes only a render makes.
    let values = ChartValues::from_yaml_str(
        "infra: {db: {external: {sslMode: require, existingSecrets: {auth: old-auth}}}}\n",
    )
    .expect("values");
    let r = RenderPlan::new(values)
        .with_mode(Mode::B)
        .with_component_mode(Component::Auth, Mode::A)
        .with_dsn_template(template, pw.clone())
        .with_dsn(
            Component::Cortex,
            "postgres://scrydon@pg.example.com/cortex?sslmode=verify-full"
                .parse()
                .expect("dsn"),
        )
        .with_ssl_mode(SslMode::Require)
        .with_profile(Profile::Staging)
        .render()
        .expect("render");
    seen.extend(r.findings().iter().map(|f| f.id));
    let all: BTreeSet<&str> = ids::RENDER
        .iter()
        .copied()
        .filter(|id| id.starts_with("render."))
        .collect();
    let missing: Vec<_> = all.difference(&seen).collect();
    assert!(
        missing.is_empty(),
        "ids never produced by a test: {missing:?}"
    );
}

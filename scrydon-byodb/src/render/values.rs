//! Reading the customer's Helm values: which components are on, where each deploys, and what
//! `infra.db` already says.

use std::fmt;
use std::path::Path;

use serde_yaml_ng::{Mapping, Value};

use crate::catalog::{
    Component, DEFAULT_NAMESPACE, VALUES_EXTERNAL_SSL_MODE, VALUES_INFRA_DB_BACKUP_ENABLED,
    VALUES_INFRA_DB_ENABLED, VALUES_INFRA_DB_TLS_ENABLED, VALUES_NAMESPACES,
};
use crate::{Error, Result, SecretString};

/// The customer's values file, read for what the render and the checks need.
///
/// Types are checked the way the chart would need them: `analytics.enabled` must be a boolean
/// (Helm treats the string `"false"` as true), `namespaces.<app>` a DNS label, an
/// `existingSecrets.<app>` a Secret name. An empty file (or `null`) is the chart's defaults.
///
/// `Debug` shows no `<app>Url` value.
///
/// ```
/// use scrydon_byodb::catalog::Component;
/// use scrydon_byodb::render::ChartValues;
///
/// let values = ChartValues::from_yaml_str("analytics:\n  enabled: false\nnamespaces:\n  cortex: ml\n").expect("test value");
/// assert!(!values.is_enabled(Component::Analytics));
/// assert_eq!(values.namespace(Component::Cortex), "ml");
/// assert_eq!(values.namespace(Component::Auth), "scrydon-platform");
/// ```
#[derive(Clone, Default)]
pub struct ChartValues {
    root: Value,
    enabled: [bool; 5],
    namespaces: [Option<String>; 5],
    unknown_namespace_keys: Vec<String>,
    existing_secrets: [Option<String>; 5],
    urls: [Option<SecretString>; 5],
    ssl_mode: Option<String>,
    infra_db_enabled: Option<bool>,
    tls_enabled: Option<bool>,
    backup_enabled: Option<bool>,
}

impl fmt::Debug for ChartValues {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChartValues")
            .field("enabled", &self.enabled_components())
            .field("namespaces", &self.namespaces)
            .field("existing_secrets", &self.existing_secrets)
            .field("urls", &self.urls)
            .field("ssl_mode", &self.ssl_mode)
            .field("infra_db_enabled", &self.infra_db_enabled)
            .finish_non_exhaustive()
    }
}

impl ChartValues {
    /// The chart's defaults: every component on, every app in `scrydon-platform`, nothing under
    /// `infra.db`.
    pub fn chart_defaults() -> Self {
        Self {
            root: Value::Mapping(Mapping::new()),
            enabled: [true; 5],
            ..Self::default()
        }
    }

    /// Reads a values file.
    pub fn from_path(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::from_yaml_str(&text).map_err(|e| match e {
            Error::InvalidInput {
                field,
                value,
                reason,
            } => Error::InvalidInput {
                field: format!("{}: {field}", path.display()),
                value,
                reason,
            },
            other => other,
        })
    }

    /// Parses values YAML.
    pub fn from_yaml_str(text: &str) -> Result<Self> {
        let root: Value = serde_yaml_ng::from_str(text).map_err(|e| {
            // serde_yaml_ng's syntax errors give a position, not the text around it.
            Error::input("values", "(YAML)", format!("not valid YAML: {e}"))
        })?;
        let root = match root {
            Value::Null => Value::Mapping(Mapping::new()),
            Value::Mapping(m) => Value::Mapping(m),
            _ => {
                return Err(Error::input(
                    "values",
                    "(document)",
                    "must be a YAML mapping",
                ))
            }
        };
        let mut v = Self {
            root,
            enabled: [true; 5],
            ..Self::default()
        };
        for c in Component::ALL {
            let spec = c.spec();
            let i = c as usize;
            if let Some(key) = spec.enabled_by {
                v.enabled[i] = get_bool(&v.root, key)?.unwrap_or(true);
            }
            if let Some(ns) = get_str(&v.root, spec.namespace_values_key, false)? {
                validate_namespace(spec.namespace_values_key, &ns)?;
                v.namespaces[i] = Some(ns);
            }
            if let Some(name) = get_str(&v.root, spec.existing_secret_values_key, false)? {
                validate_secret_name(spec.existing_secret_values_key, &name)?;
                v.existing_secrets[i] = Some(name);
            }
            v.urls[i] = get_str(&v.root, spec.url_values_key, true)?.map(SecretString::from);
        }
        if let Some(Value::Mapping(m)) = lookup(&v.root, VALUES_NAMESPACES)? {
            for key in m.keys() {
                let known = key
                    .as_str()
                    .is_some_and(|k| Component::ALL.iter().any(|c| c.spec().namespace_key() == k));
                if !known {
                    v.unknown_namespace_keys.push(scalar_text(key));
                }
            }
        }
        v.ssl_mode = get_str(&v.root, VALUES_EXTERNAL_SSL_MODE, false)?;
        v.infra_db_enabled = get_bool(&v.root, VALUES_INFRA_DB_ENABLED)?;
        v.tls_enabled = get_bool(&v.root, VALUES_INFRA_DB_TLS_ENABLED)?;
        v.backup_enabled = get_bool(&v.root, VALUES_INFRA_DB_BACKUP_ENABLED)?;
        Ok(v)
    }

    /// Whether the component is enabled (its `enabled_by` flag is not `false`).
    pub fn is_enabled(&self, component: Component) -> bool {
        self.enabled[component as usize]
    }

    /// The enabled components, in catalogue order.
    pub fn enabled_components(&self) -> Vec<Component> {
        Component::ALL
            .into_iter()
            .filter(|c| self.is_enabled(*c))
            .collect()
    }

    /// The namespace the component deploys to.
    pub fn namespace(&self, component: Component) -> &str {
        self.namespaces[component as usize]
            .as_deref()
            .unwrap_or(DEFAULT_NAMESPACE)
    }

    /// Keys under `namespaces` that name no component (`namespaces.apiOntology`).
    pub fn unknown_namespace_keys(&self) -> &[String] {
        &self.unknown_namespace_keys
    }

    /// `infra.db.external.existingSecrets.<app>`, when set and not empty.
    pub fn existing_secret(&self, component: Component) -> Option<&str> {
        self.existing_secrets[component as usize].as_deref()
    }

    /// `infra.db.external.<app>Url`, when set and not empty.
    pub fn url(&self, component: Component) -> Option<&SecretString> {
        self.urls[component as usize].as_ref()
    }

    /// `infra.db.external.sslMode` as written (not validated: the chart appends it verbatim).
    pub fn ssl_mode(&self) -> Option<&str> {
        self.ssl_mode.as_deref()
    }

    /// `infra.db.enabled` (`None`: unset, the chart's default `true`).
    pub fn infra_db_enabled(&self) -> Option<bool> {
        self.infra_db_enabled
    }

    /// `infra.db.tls.enabled`.
    pub fn infra_db_tls_enabled(&self) -> Option<bool> {
        self.tls_enabled
    }

    /// `infra.db.backup.enabled`.
    pub fn infra_db_backup_enabled(&self) -> Option<bool> {
        self.backup_enabled
    }

    /// The whole values tree (may carry DSNs: do not print it).
    pub(crate) fn root(&self) -> &Value {
        &self.root
    }
}

/// A value by dotted path; `None` when a segment is missing or `null`. An intermediate node that
/// is neither a mapping nor `null` is an error, naming the path.
fn lookup<'a>(root: &'a Value, path: &str) -> Result<Option<&'a Value>> {
    let mut node = root;
    let mut walked = String::new();
    for seg in path.split('.') {
        match node {
            Value::Mapping(m) => match m.get(seg) {
                Some(Value::Null) | None => return Ok(None),
                Some(next) => node = next,
            },
            Value::Null => return Ok(None),
            other => {
                return Err(Error::input(
                    walked,
                    scalar_text(other),
                    format!("must be a mapping to hold {path}"),
                ))
            }
        }
        if !walked.is_empty() {
            walked.push('.');
        }
        walked.push_str(seg);
    }
    Ok(Some(node))
}

fn get_bool(root: &Value, path: &str) -> Result<Option<bool>> {
    match lookup(root, path)? {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(other) => Err(Error::input(
            path,
            scalar_text(other),
            "must be a boolean (true or false); Helm treats any non-empty string as true",
        )),
    }
}

/// A string value; an empty string counts as unset (Helm's `if` is false on it). `secret`
/// keeps the value out of the error.
fn get_str(root: &Value, path: &str, secret: bool) -> Result<Option<String>> {
    match lookup(root, path)? {
        None => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(Error::input(
            path,
            if secret {
                "(not shown)".to_owned()
            } else {
                scalar_text(other)
            },
            "must be a string",
        )),
    }
}

/// A short text for a YAML node in an error (never used for secret-bearing keys).
fn scalar_text(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        Value::Sequence(_) => "(a list)".into(),
        Value::Mapping(_) => "(a mapping)".into(),
        Value::Tagged(_) => "(a tagged value)".into(),
    }
}

/// A Kubernetes namespace name: an RFC 1123 label.
pub(crate) fn validate_namespace(field: &str, name: &str) -> Result<()> {
    if is_dns_label(name) {
        Ok(())
    } else {
        Err(Error::input(
            field,
            name,
            "not a valid namespace (RFC 1123 label: at most 63 of a-z, 0-9, '-', starting and ending with a letter or digit)",
        ))
    }
}

/// A Kubernetes Secret name: an RFC 1123 subdomain.
pub(crate) fn validate_secret_name(field: &str, name: &str) -> Result<()> {
    if name.len() <= 253 && name.split('.').all(is_dns_label) {
        Ok(())
    } else {
        Err(Error::input(
            field,
            name,
            "not a valid Secret name (RFC 1123 subdomain: at most 253 of a-z, 0-9, '-', '.')",
        ))
    }
}

pub(crate) fn is_dns_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_is_chart_defaults() {
        for text in ["", "---\n", "null\n", "{}\n"] {
            let v = ChartValues::from_yaml_str(text).expect("test value");
            assert_eq!(v.enabled_components(), Component::ALL.to_vec());
            for c in Component::ALL {
                assert_eq!(v.namespace(c), DEFAULT_NAMESPACE);
                assert_eq!(v.existing_secret(c), None);
                assert!(v.url(c).is_none());
            }
            assert_eq!(v.infra_db_enabled(), None);
        }
    }

    #[test]
    fn reads_flags_namespaces_and_external() {
        let v = ChartValues::from_yaml_str(
            r#"
analytics: {enabled: false}
cortex: {enabled: true}
apiOntology: {enabled: false}
namespaces: {auth: identity, agentic: agents, apiOntology: x}
infra:
  db:
    enabled: false
    external:
      existingSecrets: {auth: my-auth}
      agenticUrl: "postgres://u:p@h/agentic"
      sslMode: require
"#,
        )
        .expect("test value");
        assert_eq!(
            v.enabled_components(),
            [Component::Auth, Component::Agentic, Component::Cortex]
        );
        assert_eq!(v.namespace(Component::Auth), "identity");
        assert_eq!(v.namespace(Component::Agentic), "agents");
        assert_eq!(v.namespace(Component::Cortex), DEFAULT_NAMESPACE);
        assert_eq!(v.unknown_namespace_keys(), ["apiOntology"]);
        assert_eq!(v.existing_secret(Component::Auth), Some("my-auth"));
        assert_eq!(
            v.url(Component::Agentic)
                .expect("test value")
                .expose_secret(),
            "postgres://u:p@h/agentic"
        );
        assert_eq!(v.ssl_mode(), Some("require"));
        assert_eq!(v.infra_db_enabled(), Some(false));
        assert!(!format!("{v:?}").contains("u:p@h"));
    }

    fn field_of(e: Error) -> String {
        match e {
            Error::InvalidInput { field, .. } => field,
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn wrong_types_name_the_key() {
        let e = ChartValues::from_yaml_str("analytics:\n  enabled: \"false\"\n")
            .expect_err("must fail");
        assert_eq!(field_of(e), "analytics.enabled");
        let e = ChartValues::from_yaml_str("namespaces:\n  auth: Bad_NS\n").expect_err("must fail");
        assert_eq!(field_of(e), "namespaces.auth");
        let e = ChartValues::from_yaml_str("infra: 3\n").expect_err("must fail");
        assert_eq!(field_of(e), "infra");
        let e = ChartValues::from_yaml_str(
            "infra:\n  db:\n    external:\n    existingSecrets:\n      auth: 42\n",
        );
        // `external:` is null here and `existingSecrets` sits beside it: not an error, just unset.
        assert!(e.is_ok());
        let e = ChartValues::from_yaml_str("infra: {db: {external: {authUrl: 12345}}}\n")
            .expect_err("must fail");
        match e {
            Error::InvalidInput { field, value, .. } => {
                assert_eq!(field, "infra.db.external.authUrl");
                assert_eq!(value, "(not shown)");
            }
            other => panic!("unexpected {other:?}"),
        }
        let e = ChartValues::from_yaml_str("- a\n- b\n").expect_err("must fail");
        assert_eq!(field_of(e), "values");
        let e = ChartValues::from_yaml_str("a: [\n").expect_err("must fail");
        assert_eq!(field_of(e), "values");
    }

    #[test]
    fn dns_names() {
        assert!(is_dns_label("scrydon-platform"));
        assert!(!is_dns_label("-a"));
        assert!(!is_dns_label("a-"));
        assert!(!is_dns_label("A"));
        assert!(!is_dns_label(&"a".repeat(64)));
        assert!(validate_secret_name("x", "scrydon-db.auth").is_ok());
        assert!(validate_secret_name("x", "scrydon_db").is_err());
    }
}

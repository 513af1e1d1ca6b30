//! Kubernetes manifests: the Secrets and `ExternalSecret`s we write, and the ones a user already
//! has, read back for checking.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::ByteString;
use serde::Serialize;
use serde_yaml_ng::Value;

use crate::{Error, Result, SecretString};

/// The `ExternalSecret` API version written.
pub const EXTERNAL_SECRET_API_VERSION: &str = "external-secrets.io/v1";

/// A Secret manifest, the way `kubectl create secret generic NAME -n NS --from-file=KEY=FILE`
/// makes it: `apiVersion`, `kind`, base64 `data`, `metadata.name` and `metadata.namespace`, no
/// `type` (the API server defaults it to `Opaque`).
pub(crate) fn secret_yaml(
    name: &str,
    namespace: &str,
    key: &str,
    value: &SecretString,
) -> Result<String> {
    let secret = Secret {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            namespace: Some(namespace.to_owned()),
            ..ObjectMeta::default()
        },
        data: Some(BTreeMap::from([(
            key.to_owned(),
            ByteString(value.expose_secret().as_bytes().to_vec()),
        )])),
        ..Secret::default()
    };
    to_yaml(&secret)
}

/// Where an `ExternalSecret` reads from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, serde::Deserialize)]
pub enum StoreKind {
    /// A namespaced `SecretStore` (ESO's default).
    #[default]
    SecretStore,
    /// A `ClusterSecretStore`.
    ClusterSecretStore,
}

impl StoreKind {
    /// The kind's name.
    pub fn as_str(self) -> &'static str {
        match self {
            StoreKind::SecretStore => "SecretStore",
            StoreKind::ClusterSecretStore => "ClusterSecretStore",
        }
    }
}

impl std::str::FromStr for StoreKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "SecretStore" => Ok(StoreKind::SecretStore),
            "ClusterSecretStore" => Ok(StoreKind::ClusterSecretStore),
            other => Err(Error::input(
                "secret store kind",
                other,
                "expected SecretStore or ClusterSecretStore",
            )),
        }
    }
}

/// `ExternalSecret` manifests to write beside the Secrets, for External Secrets Operator users:
/// one per Mode A app, each turning the remote key `<key_prefix><app>` into the app's Secret with
/// the single key the app reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalSecretsOptions {
    store_name: String,
    store_kind: StoreKind,
    key_prefix: String,
    refresh_interval: String,
}

impl ExternalSecretsOptions {
    /// Reads from the store `store_name` (a `SecretStore` unless [`Self::with_store_kind`]),
    /// remote keys `scrydon-db-<app>`, refreshed hourly.
    pub fn new(store_name: impl Into<String>) -> Self {
        Self {
            store_name: store_name.into(),
            store_kind: StoreKind::SecretStore,
            key_prefix: "scrydon-db-".into(),
            refresh_interval: "1h".into(),
        }
    }

    /// The store's kind.
    pub fn with_store_kind(mut self, kind: StoreKind) -> Self {
        self.store_kind = kind;
        self
    }

    /// The remote key is `<prefix><app>` (`scrydon/prod/` gives `scrydon/prod/auth`).
    pub fn with_key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.key_prefix = prefix.into();
        self
    }

    /// How often ESO re-reads the remote key (`1h`, `15m`, `0` for once).
    pub fn with_refresh_interval(mut self, interval: impl Into<String>) -> Self {
        self.refresh_interval = interval.into();
        self
    }

    /// The remote key for an app.
    pub fn remote_key(&self, app: &str) -> String {
        format!("{}{app}", self.key_prefix)
    }

    pub(crate) fn validate(&self) -> Result<()> {
        super::values::validate_secret_name("secret store name", &self.store_name)?;
        let prefix_ok = self
            .key_prefix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c));
        if !prefix_ok {
            return Err(Error::input(
                "external secrets key prefix",
                &self.key_prefix,
                "use letters, digits and - _ . / only",
            ));
        }
        let interval_ok = !self.refresh_interval.is_empty()
            && self
                .refresh_interval
                .chars()
                .all(|c| c.is_ascii_digit() || "nsuµmh.".contains(c));
        if !interval_ok {
            return Err(Error::input(
                "external secrets refresh interval",
                &self.refresh_interval,
                "a Go duration such as 1h, 15m or 0",
            ));
        }
        Ok(())
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ExternalSecret<'a> {
    api_version: &'static str,
    kind: &'static str,
    metadata: ObjectMeta,
    spec: ExternalSecretSpec<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ExternalSecretSpec<'a> {
    refresh_interval: &'a str,
    secret_store_ref: StoreRef<'a>,
    target: Target<'a>,
    data: Vec<ExternalSecretData<'a>>,
}

#[derive(Serialize)]
struct StoreRef<'a> {
    name: &'a str,
    kind: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Target<'a> {
    name: &'a str,
    creation_policy: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ExternalSecretData<'a> {
    secret_key: &'a str,
    remote_ref: RemoteRef,
}

#[derive(Serialize)]
struct RemoteRef {
    key: String,
}

/// An `ExternalSecret` that makes the Secret `name` in `namespace` with the single key `key`.
pub(crate) fn external_secret_yaml(
    opts: &ExternalSecretsOptions,
    app: &str,
    name: &str,
    namespace: &str,
    key: &str,
) -> Result<String> {
    let es = ExternalSecret {
        api_version: EXTERNAL_SECRET_API_VERSION,
        kind: "ExternalSecret",
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            namespace: Some(namespace.to_owned()),
            ..ObjectMeta::default()
        },
        spec: ExternalSecretSpec {
            refresh_interval: &opts.refresh_interval,
            secret_store_ref: StoreRef {
                name: &opts.store_name,
                kind: opts.store_kind.as_str(),
            },
            target: Target {
                name,
                creation_policy: "Owner",
            },
            data: vec![ExternalSecretData {
                secret_key: key,
                remote_ref: RemoteRef {
                    key: opts.remote_key(app),
                },
            }],
        },
    };
    let header = format!(
        "# Use instead of manifests/secret-{app}.yaml and commands/create-secrets.sh, not with them:\n\
         # store {app}'s DSN (secrets/{app}.dsn) in the store under the key {key} first.\n",
        key = opts.remote_key(app)
    );
    Ok(header + &to_yaml(&es)?)
}

pub(crate) fn to_yaml<T: Serialize>(value: &T) -> Result<String> {
    // Serialising these types cannot fail in practice; the message names no value.
    serde_yaml_ng::to_string(value)
        .map_err(|e| Error::input("manifest", "(not shown)", format!("cannot serialise: {e}")))
}

/// A Secret someone wrote, as read for checking. `Debug` shows keys, not values.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretManifest {
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace`, when set.
    pub namespace: Option<String>,
    /// Every key of `data` (decoded) and `stringData`, with its value.
    pub entries: BTreeMap<String, SecretString>,
    /// The file it came from, when it came from one.
    pub source: Option<PathBuf>,
}

impl fmt::Debug for SecretManifest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretManifest")
            .field("name", &self.name)
            .field("namespace", &self.namespace)
            .field("keys", &self.entries.keys().collect::<Vec<_>>())
            .field("source", &self.source)
            .finish()
    }
}

/// An `ExternalSecret` someone wrote: which Secret it makes, where, with which keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalSecretManifest {
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace`, when set.
    pub namespace: Option<String>,
    /// The Secret it makes (`spec.target.name`, defaulting to `metadata.name`).
    pub target: String,
    /// The keys the made Secret will have; `None` when they depend on the remote data
    /// (`dataFrom`).
    pub keys: Option<Vec<String>>,
    /// The file it came from.
    pub source: Option<PathBuf>,
}

/// The Secrets and `ExternalSecret`s among a set of manifests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inventory {
    /// `v1` Secrets.
    pub secrets: Vec<SecretManifest>,
    /// `external-secrets.io` `ExternalSecret`s.
    pub external_secrets: Vec<ExternalSecretManifest>,
}

impl Inventory {
    /// An empty inventory.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads every `.yaml`/`.yml` file under `dir` (recursively, in name order), skipping
    /// `skip` (the values file). Documents of other kinds, and documents without a `kind`, are
    /// ignored; a `List` is looked into.
    pub fn from_dir(dir: impl AsRef<Path>, skip: &[&Path]) -> Result<Self> {
        let mut files = Vec::new();
        collect_yaml_files(dir.as_ref(), &mut files)?;
        let skip: Vec<PathBuf> = skip.iter().filter_map(|p| p.canonicalize().ok()).collect();
        let mut inv = Inventory::new();
        for file in files {
            if let Ok(canon) = file.canonicalize() {
                if skip.contains(&canon) {
                    continue;
                }
            }
            let text = std::fs::read_to_string(&file).map_err(|e| Error::io(&file, e))?;
            inv.add_yaml(&text, Some(&file))?;
        }
        Ok(inv)
    }

    /// Adds the Secrets and `ExternalSecret`s of a (multi-document) YAML text.
    pub fn add_yaml(&mut self, text: &str, source: Option<&Path>) -> Result<()> {
        let where_ = source
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "manifest".into());
        for (i, doc) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
            let value = <Value as serde::Deserialize>::deserialize(doc).map_err(|e| {
                Error::input(
                    format!("{where_} (document {})", i + 1),
                    "(YAML)",
                    format!("not valid YAML: {e}"),
                )
            })?;
            self.add_value(&value, source, &where_)?;
        }
        Ok(())
    }

    fn add_value(&mut self, v: &Value, source: Option<&Path>, where_: &str) -> Result<()> {
        let kind = v.get("kind").and_then(Value::as_str);
        let api = v.get("apiVersion").and_then(Value::as_str).unwrap_or("");
        match kind {
            Some("List") => {
                if let Some(items) = v.get("items").and_then(Value::as_sequence) {
                    for item in items {
                        self.add_value(item, source, where_)?;
                    }
                }
            }
            Some("Secret") if api == "v1" => {
                self.secrets.push(parse_secret(v, source, where_)?);
            }
            Some("ExternalSecret") if api.starts_with("external-secrets.io/") => {
                self.external_secrets
                    .push(parse_external_secret(v, source, where_)?);
            }
            _ => {}
        }
        Ok(())
    }
}

fn collect_yaml_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .collect::<std::io::Result<Vec<_>>>()
        .map_err(|e| Error::io(dir, e))?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        let ty = entry.file_type().map_err(|e| Error::io(&path, e))?;
        if ty.is_dir() {
            collect_yaml_files(&path, out)?;
        } else if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml")
        ) {
            out.push(path);
        }
    }
    Ok(())
}

fn meta_str(v: &Value, key: &str) -> Option<String> {
    v.get("metadata")
        .and_then(|m| m.get(key))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

fn parse_secret(v: &Value, source: Option<&Path>, where_: &str) -> Result<SecretManifest> {
    let name = meta_str(v, "name")
        .ok_or_else(|| Error::input(format!("{where_}: Secret metadata.name"), "", "missing"))?;
    let mut entries = BTreeMap::new();
    if let Some(data) = v.get("data").and_then(Value::as_mapping) {
        for (k, val) in data {
            let key = k.as_str().unwrap_or_default().to_owned();
            let field = || format!("{where_}: Secret {name} data.{key}");
            let text = val
                .as_str()
                .ok_or_else(|| Error::input(field(), "(not shown)", "must be a base64 string"))?;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(text.trim())
                .map_err(|_| Error::input(field(), "(not shown)", "not valid base64"))?;
            let value = String::from_utf8(bytes)
                .map_err(|_| Error::input(field(), "(not shown)", "not UTF-8 text"))?;
            entries.insert(key, SecretString::from(value));
        }
    }
    // stringData is merged over data on write, as the API server does.
    if let Some(data) = v.get("stringData").and_then(Value::as_mapping) {
        for (k, val) in data {
            let key = k.as_str().unwrap_or_default().to_owned();
            let value = val.as_str().ok_or_else(|| {
                Error::input(
                    format!("{where_}: Secret {name} stringData.{key}"),
                    "(not shown)",
                    "must be a string",
                )
            })?;
            entries.insert(key, SecretString::from(value));
        }
    }
    Ok(SecretManifest {
        name,
        namespace: meta_str(v, "namespace"),
        entries,
        source: source.map(Path::to_path_buf),
    })
}

fn parse_external_secret(
    v: &Value,
    source: Option<&Path>,
    where_: &str,
) -> Result<ExternalSecretManifest> {
    let name = meta_str(v, "name").ok_or_else(|| {
        Error::input(
            format!("{where_}: ExternalSecret metadata.name"),
            "",
            "missing",
        )
    })?;
    let spec = v.get("spec");
    let target = spec
        .and_then(|s| s.get("target"))
        .and_then(|t| t.get("name"))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .unwrap_or_else(|| name.clone());
    let has_data_from = spec
        .and_then(|s| s.get("dataFrom"))
        .and_then(Value::as_sequence)
        .is_some_and(|s| !s.is_empty());
    let template_keys: Option<Vec<String>> = spec
        .and_then(|s| s.get("target"))
        .and_then(|t| t.get("template"))
        .and_then(|t| t.get("data"))
        .and_then(Value::as_mapping)
        .map(|m| {
            m.keys()
                .filter_map(|k| k.as_str().map(str::to_owned))
                .collect()
        });
    let data_keys: Vec<String> = spec
        .and_then(|s| s.get("data"))
        .and_then(Value::as_sequence)
        .map(|items| {
            items
                .iter()
                .filter_map(|i| i.get("secretKey").and_then(Value::as_str))
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let keys = match (template_keys, has_data_from) {
        (Some(t), _) => Some(t),
        (None, true) => None,
        (None, false) => Some(data_keys),
    };
    Ok(ExternalSecretManifest {
        name,
        namespace: meta_str(v, "namespace"),
        target,
        keys,
        source: source.map(Path::to_path_buf),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_matches_kubectl_shape() {
        let y = secret_yaml(
            "scrydon-db-auth",
            "scrydon-platform",
            "DATABASE_URL",
            &SecretString::from("postgres://a:b@h/auth"),
        )
        .expect("test value");
        let v: Value = serde_yaml_ng::from_str(&y).expect("test value");
        assert_eq!(v["apiVersion"].as_str(), Some("v1"));
        assert_eq!(v["kind"].as_str(), Some("Secret"));
        assert_eq!(
            v["metadata"]["namespace"].as_str(),
            Some("scrydon-platform")
        );
        assert_eq!(
            v["data"]["DATABASE_URL"].as_str(),
            Some("cG9zdGdyZXM6Ly9hOmJAaC9hdXRo")
        );
        assert!(v.get("type").is_none());
    }

    #[test]
    fn reads_secrets_lists_and_external_secrets() {
        let mut inv = Inventory::new();
        inv.add_yaml(
            r#"
apiVersion: v1
kind: Secret
metadata: {name: a, namespace: ns}
data: {DATABASE_URL: cG9zdGdyZXM6Ly9hOmJAaC9hdXRo}
stringData: {OTHER: x}
---
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Secret
  metadata: {name: b}
---
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata: {name: c, namespace: ns}
spec:
  target: {name: d}
  data: [{secretKey: DATABASE_URL_CORTEX, remoteRef: {key: k}}]
---
apiVersion: external-secrets.io/v1beta1
kind: ExternalSecret
metadata: {name: e}
spec:
  dataFrom: [{extract: {key: k}}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: ignored}
"#,
            None,
        )
        .expect("test value");
        assert_eq!(inv.secrets.len(), 2);
        assert_eq!(
            inv.secrets[0].entries["DATABASE_URL"].expose_secret(),
            "postgres://a:b@h/auth"
        );
        assert_eq!(inv.secrets[0].entries["OTHER"].expose_secret(), "x");
        assert_eq!(inv.secrets[1].namespace, None);
        assert!(!format!("{inv:?}").contains("a:b@h"));
        assert_eq!(inv.external_secrets[0].target, "d");
        assert_eq!(
            inv.external_secrets[0].keys.as_deref(),
            Some(&["DATABASE_URL_CORTEX".to_owned()][..])
        );
        assert_eq!(inv.external_secrets[1].target, "e");
        assert_eq!(inv.external_secrets[1].keys, None);
    }

    #[test]
    fn bad_base64_is_an_error_without_the_value() {
        let mut inv = Inventory::new();
        let e = inv
            .add_yaml(
                "apiVersion: v1\nkind: Secret\nmetadata: {name: a}\ndata: {K: 'postgres://u:hunter2@h'}\n",
                None,
            )
            .expect_err("must fail");
        assert!(matches!(e, Error::InvalidInput { .. }));
        assert!(!e.to_string().contains("hunter2"));
    }
}

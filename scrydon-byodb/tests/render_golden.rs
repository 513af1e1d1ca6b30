//! Golden-file tests of `render`, and the rendered files checked by the real tools.
//!
//! Each case lives in `tests/golden/render/<case>/`: `values.yaml` is the customer's values file
//! (input), `out/` the expected output directory. `UPDATE_GOLDEN=1 cargo test -p scrydon-byodb
//! --test render_golden` rewrites `out/`.
//!
//! Every case's output is also:
//! - validated with `kubernetes-validate --strict` (Secrets), and `ExternalSecret`s against the
//!   external-secrets.io CRD's constraints (the validator has no schema for CRDs);
//! - compared with what `kubectl create secret generic ... --dry-run=client -o yaml` makes when
//!   the rendered `commands/create-secrets.sh` runs (with `kubectl` on PATH a shim that adds
//!   the dry-run flags), structurally: apiVersion, kind, name, namespace, data keys and decoded
//!   values;
//! - run through `commands/helm-upgrade.sh` with a `helm` shim, to compare the arguments with
//!   the runbook's command;
//! - checked again from disk with `render::check_dir`, which must agree with the render.
//!
//! The reference tools come from the test bed (`scripts/testbed-install.sh`), in the venv at
//! `SCRYDON_TESTBED_VENV` (default `/opt/scrydon-testbed/venv`). Missing tools fail the test.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use scrydon_byodb::catalog::Component;
use scrydon_byodb::dsn::{Dsn, SslMode};
use scrydon_byodb::render::{
    self, layout, ChartValues, ExternalSecretsOptions, Mode, Profile, RenderPlan, Rendered,
    StoreKind,
};
use scrydon_byodb::report::{ids, Status};
use scrydon_byodb::SecretString;

use common::{kubectl_secrets_from_script, parse_secret, run_helm_script, validate_manifests};

const TEMPLATE: &str = "postgres://scrydon@pg.example.com:5432/{db}";
const PASSWORD: &str = "golden-Pa55word";
const VERSION: &str = "1.4.2";

fn case_dir(case: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden/render")
        .join(case)
}

fn values(case: &str) -> ChartValues {
    ChartValues::from_path(case_dir(case).join("values.yaml")).expect("case values.yaml")
}

fn base(case: &str) -> RenderPlan {
    RenderPlan::new(values(case))
        .with_dsn_template(TEMPLATE, Some(SecretString::from(PASSWORD)))
        .with_chart_version(VERSION)
}

/// Compares the rendered files with `out/`, or rewrites `out/` with `UPDATE_GOLDEN=1`.
fn golden(case: &str, rendered: &Rendered) {
    let out = case_dir(case).join("out");
    if std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| v != "0") {
        let _ = std::fs::remove_dir_all(&out);
        rendered.write_to(&out).expect("write goldens");
        return;
    }
    let mut expected = Vec::new();
    list_files(&out, &out, &mut expected);
    let mut actual: Vec<String> = rendered.files().iter().map(|f| f.path.clone()).collect();
    expected.sort();
    actual.sort();
    assert_eq!(
        actual,
        expected,
        "{case}: rendered files differ from {} (UPDATE_GOLDEN=1 to accept)",
        out.display()
    );
    for f in rendered.files() {
        let want = std::fs::read_to_string(out.join(&f.path)).expect("golden file");
        assert!(
            f.expose_contents() == want,
            "{case}: {} differs from its golden (UPDATE_GOLDEN=1 to accept)\n--- got ---\n{}\n--- want ---\n{want}",
            f.path,
            f.expose_contents()
        );
    }
}

fn list_files(root: &Path, dir: &Path, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        panic!(
            "missing golden directory {} (UPDATE_GOLDEN=1 to create)",
            dir.display()
        )
    };
    for e in entries {
        let p = e.expect("dir entry").path();
        if p.is_dir() {
            list_files(root, &p, out);
        } else {
            out.push(
                p.strip_prefix(root)
                    .expect("under root")
                    .to_string_lossy()
                    .replace('\\', "/"),
            );
        }
    }
}

/// Everything a case's output must satisfy besides its golden.
fn verify_with_tools(case: &str, rendered: &Rendered, profile: Profile) {
    assert!(
        !rendered.has_failures(),
        "{case}: {:#?}",
        rendered.findings()
    );
    let tmp = tempfile::tempdir().expect("tempdir");
    rendered.write_to(tmp.path()).expect("write");

    // Modes on disk.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        for f in rendered.files() {
            let mode = std::fs::metadata(tmp.path().join(&f.path))
                .expect("written")
                .permissions()
                .mode()
                & 0o777;
            assert_eq!(mode, f.unix_mode(), "{case}: mode of {}", f.path);
            if f.path.starts_with("secrets/") || f.path.starts_with("manifests/") {
                assert_eq!(mode, 0o600, "{case}: {} must be 0600", f.path);
            }
        }
    }

    // Manifests accepted by a real validator.
    let manifests: Vec<PathBuf> = rendered
        .files()
        .iter()
        .filter(|f| f.path.starts_with("manifests/") || f.path.starts_with("external-secrets/"))
        .map(|f| tmp.path().join(&f.path))
        .collect();
    validate_manifests(&manifests);

    // kubectl makes the same Secrets from the rendered commands.
    let ours: BTreeMap<(String, String), BTreeMap<String, String>> = rendered
        .files()
        .iter()
        .filter(|f| f.path.starts_with("manifests/"))
        .map(|f| parse_secret(f.expose_contents()))
        .collect();
    if rendered.file(layout::CREATE_SECRETS).is_some() {
        let theirs = kubectl_secrets_from_script(&tmp.path().join(layout::CREATE_SECRETS));
        assert_eq!(ours, theirs, "{case}: kubectl's Secrets differ from ours");
    } else {
        assert!(ours.is_empty());
    }

    // The helm command is the runbook's.
    let args = run_helm_script(&tmp.path().join(layout::HELM_UPGRADE));
    assert_eq!(
        args,
        [
            "upgrade",
            "--install",
            "scrydon",
            "oci://scrydonops.azurecr.io/scrydon/charts/scrydon",
            "--version",
            VERSION,
            "--namespace",
            "scrydon-platform",
            "-f",
            "values.customer.yaml"
        ]
    );

    // The directory checks the same as the render did.
    let again = render::check_dir(tmp.path(), None, profile).expect("check_dir");
    let key = |f: &scrydon_byodb::report::Finding| (f.id, f.component, f.status);
    for f in &again {
        assert!(
            rendered.findings().iter().any(|g| key(g) == key(f)),
            "{case}: check_dir found {f:?}, the render did not"
        );
    }
}

fn ids_of(rendered: &Rendered) -> Vec<(&'static str, Option<Component>, Status)> {
    rendered
        .findings()
        .iter()
        .map(|f| (f.id, f.component, f.status))
        .collect()
}

fn yaml(rendered: &Rendered, path: &str) -> serde_yaml_ng::Value {
    serde_yaml_ng::from_str(rendered.file(path).expect(path).expose_contents()).expect("yaml")
}

#[test]
fn chart_defaults_mode_a() {
    let case = "chart-defaults-mode-a";
    let rendered = base(case)
        .with_mode(Mode::A)
        .with_ssl_mode(SslMode::Require)
        .with_external_secrets(
            ExternalSecretsOptions::new("scrydon-vault")
                .with_store_kind(StoreKind::ClusterSecretStore),
        )
        .render()
        .expect("render");
    golden(case, &rendered);
    verify_with_tools(case, &rendered, Profile::Production);

    let v = yaml(&rendered, layout::VALUES_FILE);
    let db = &v["infra"]["db"];
    assert_eq!(db["enabled"].as_bool(), Some(false));
    assert_eq!(db["tls"]["enabled"].as_bool(), Some(false));
    assert_eq!(db["backup"]["enabled"].as_bool(), Some(false));
    for c in Component::ALL {
        assert_eq!(
            db["external"]["existingSecrets"][c.as_str()].as_str(),
            Some(c.spec().secret_name)
        );
        assert!(rendered.file(&layout::secret_dsn_file(c)).is_some());
        assert!(rendered.file(&layout::external_secret_file(c)).is_some());
    }
    assert!(db["external"].get("sslMode").is_none());
    assert!(rendered.findings().is_empty(), "{:#?}", rendered.findings());
    assert!(
        !rendered
            .file(layout::VALUES_FILE)
            .expect("values")
            .sensitive
    );
    let rerun = rendered
        .file(layout::RERUN_MIGRATIONS)
        .expect("rerun")
        .expose_contents();
    assert!(rerun.contains(
        "kubectl delete job -l 'app in (auth-migration,agentic-migration,analytics-migration,cortex-migration,api-ontology-migration)' -n scrydon-platform"
    ));
}

#[test]
fn analytics_and_cortex_disabled() {
    let case = "analytics-cortex-disabled";
    let rendered = base(case)
        .with_mode(Mode::A)
        .with_ssl_mode(SslMode::VerifyFull)
        .render()
        .expect("render");
    golden(case, &rendered);
    verify_with_tools(case, &rendered, Profile::Production);
    for c in [Component::Analytics, Component::Cortex] {
        assert!(rendered.file(&layout::secret_manifest_file(c)).is_none());
    }
    let v = yaml(&rendered, layout::VALUES_FILE);
    let secrets = v["infra"]["db"]["external"]["existingSecrets"]
        .as_mapping()
        .expect("existingSecrets");
    assert_eq!(secrets.len(), 3);
    // The customer's own settings stay.
    assert_eq!(v["analytics"]["enabled"].as_bool(), Some(false));
    let rerun = rendered
        .file(layout::RERUN_MIGRATIONS)
        .expect("rerun")
        .expose_contents();
    assert!(rerun.contains(
        "'app in (auth-migration,agentic-migration,api-ontology-migration)' -n scrydon-platform"
    ));
}

#[test]
fn namespaces_split() {
    let case = "namespaces-split";
    let rendered = base(case)
        .with_mode(Mode::A)
        .with_ssl_mode(SslMode::Require)
        .render()
        .expect("render");
    golden(case, &rendered);
    verify_with_tools(case, &rendered, Profile::Production);
    let ns_of = |c: Component| {
        let (key, _) = parse_secret(
            rendered
                .file(&layout::secret_manifest_file(c))
                .expect("secret")
                .expose_contents(),
        );
        key.1
    };
    assert_eq!(ns_of(Component::Auth), "scrydon-identity");
    assert_eq!(ns_of(Component::Agentic), "scrydon-platform");
    assert_eq!(ns_of(Component::Analytics), "scrydon-analytics");
    assert_eq!(ns_of(Component::Ontology), "scrydon-analytics");
    let rerun = rendered
        .file(layout::RERUN_MIGRATIONS)
        .expect("rerun")
        .expose_contents();
    let deletes: Vec<&str> = rerun
        .lines()
        .filter(|l| l.starts_with("kubectl delete job"))
        .collect();
    assert_eq!(
        deletes,
        [
            "kubectl delete job -l 'app in (auth-migration)' -n scrydon-identity",
            "kubectl delete job -l 'app in (agentic-migration,cortex-migration)' -n scrydon-platform",
            "kubectl delete job -l 'app in (analytics-migration,api-ontology-migration)' -n scrydon-analytics",
        ]
    );
    let ids = ids_of(&rendered);
    assert!(ids.contains(&(ids::RENDER_UNKNOWN_NAMESPACE_KEY, None, Status::Warn)));
}

#[test]
fn mixed_modes_with_both_set_for_one_app() {
    let case = "mixed-both-set";
    let rendered = base(case)
        .with_mode(Mode::B)
        .with_component_mode(Component::Auth, Mode::A)
        .with_component_mode(Component::Agentic, Mode::A)
        .with_ssl_mode(SslMode::Require)
        .with_profile(Profile::Staging)
        .render()
        .expect("render");
    golden(case, &rendered);
    verify_with_tools(case, &rendered, Profile::Staging);
    let v = yaml(&rendered, layout::VALUES_FILE);
    let ext = &v["infra"]["db"]["external"];
    // The customer's Secret name is kept; the URL beside it is dropped, and the render says so.
    assert_eq!(
        ext["existingSecrets"]["auth"].as_str(),
        Some("customer-auth-db")
    );
    assert!(ext.get("authUrl").is_none());
    assert_eq!(
        ext["existingSecrets"]["agentic"].as_str(),
        Some("scrydon-db-agentic")
    );
    for c in [Component::Analytics, Component::Cortex, Component::Ontology] {
        assert!(ext.get(c.spec().url_key()).is_some(), "{c}");
        assert!(ext["existingSecrets"].get(c.as_str()).is_none(), "{c}");
    }
    assert_eq!(ext["sslMode"].as_str(), Some("require"));
    assert!(
        rendered
            .file(layout::VALUES_FILE)
            .expect("values")
            .sensitive
    );
    let ids = ids_of(&rendered);
    assert!(ids.contains(&(
        ids::RENDER_BOTH_MODES_SET,
        Some(Component::Auth),
        Status::Warn
    )));
    assert!(!ids
        .iter()
        .any(|(id, _, _)| *id == ids::RENDER_MODE_B_IN_PRODUCTION));
}

#[test]
fn mode_b_with_ssl_mode() {
    let case = "mode-b-sslmode";
    let rendered = base(case)
        .with_mode(Mode::B)
        .with_ssl_mode(SslMode::Require)
        .render()
        .expect("render");
    golden(case, &rendered);
    verify_with_tools(case, &rendered, Profile::Production);
    let v = yaml(&rendered, layout::VALUES_FILE);
    let ext = &v["infra"]["db"]["external"];
    assert_eq!(ext["sslMode"].as_str(), Some("require"));
    for c in Component::ALL {
        let url = ext[c.spec().url_key()].as_str().expect("url");
        assert!(!url.contains('?'), "{c}: {url}");
        // What the chart makes of it.
        let dsn = Dsn::parse(&format!("{url}?sslmode=require")).expect("chart's DSN parses");
        assert_eq!(dsn.dbname(), Some(c.spec().database));
        assert_eq!(dsn.password(), Some(PASSWORD));
        assert_eq!(dsn.explicit_ssl_mode(), Some(SslMode::Require));
    }
    assert!(rendered.file(layout::CREATE_SECRETS).is_none());
    let ids = ids_of(&rendered);
    // Mode B in production is said, per app, as a warning.
    for c in Component::ALL {
        assert!(ids.contains(&(ids::RENDER_MODE_B_IN_PRODUCTION, Some(c), Status::Warn)));
    }
}

#[test]
fn dsn_already_carrying_sslmode() {
    let case = "dsn-carries-sslmode";
    let auth: Dsn = "postgresql://scrydon:golden-Pa55word@pg.example.com:5432/auth?sslmode=verify-full&sslrootcert=/etc/ssl/azure-ca.pem"
        .parse()
        .expect("dsn");
    let cortex: Dsn =
        "host=pg.example.com port=5432 user=scrydon password=golden-Pa55word dbname=cortex sslmode=require"
            .parse()
            .expect("dsn");
    let rendered = base(case)
        .with_mode(Mode::B)
        .with_dsn(Component::Auth, auth)
        .with_dsn(Component::Cortex, cortex)
        .with_ssl_mode(SslMode::Require)
        .with_profile(Profile::Staging)
        .render()
        .expect("render");
    golden(case, &rendered);
    verify_with_tools(case, &rendered, Profile::Staging);
    let v = yaml(&rendered, layout::VALUES_FILE);
    let ext = &v["infra"]["db"]["external"];
    // Global sslMode would be appended after auth's own query string: left out, inlined.
    assert!(ext.get("sslMode").is_none());
    for c in Component::ALL {
        let url = ext[c.spec().url_key()].as_str().expect("url");
        assert_eq!(url.matches("sslmode=").count(), 1, "{c}: sslmode once");
        let dsn = Dsn::parse(url).expect("parses");
        let want = match c {
            Component::Auth => SslMode::VerifyFull,
            _ => SslMode::Require,
        };
        assert_eq!(dsn.explicit_ssl_mode(), Some(want), "{c}");
    }
    let ids = ids_of(&rendered);
    assert!(ids.contains(&(ids::RENDER_SSLMODE_INLINED, None, Status::Pass)));
    assert!(ids.contains(&(
        ids::RENDER_SSLMODE_KEPT,
        Some(Component::Auth),
        Status::Pass
    )));
    assert!(ids.contains(&(
        ids::RENDER_SSLMODE_KEPT,
        Some(Component::Cortex),
        Status::Pass
    )));
    // The customer's old global sslMode is removed, and the render says so.
    assert!(ids.contains(&(ids::RENDER_VALUES_ENTRY_REPLACED, None, Status::Pass)));
}

/// Every URI-special character, quotes, a backslash, a space and non-ASCII survive render →
/// file → parse, in both modes and through kubectl.
#[test]
fn passwords_with_special_characters_survive() {
    let passwords = [
        "@/:?#[]%&=+ '\"\\",
        "p@ss/w:rd?#frag[0]%41&a=b+c d'e\"f\\g",
        "ünïcødé-密码-🔑",
        "%2F%40%",
        " leading and trailing ",
    ];
    for pw in passwords {
        for mode in [Mode::A, Mode::B] {
            let rendered = RenderPlan::new(ChartValues::chart_defaults())
                .with_mode(mode)
                .with_dsn_template(TEMPLATE, Some(SecretString::from(pw)))
                .with_ssl_mode(SslMode::VerifyFull)
                .with_chart_version(VERSION)
                .with_profile(Profile::Staging)
                .render()
                .expect("render");
            assert!(!rendered.has_failures(), "{:#?}", rendered.findings());
            for c in Component::ALL {
                let uri = match mode {
                    Mode::A => {
                        let file = rendered
                            .file(&layout::secret_dsn_file(c))
                            .expect("dsn file")
                            .expose_contents()
                            .to_owned();
                        let (_, data) = parse_secret(
                            rendered
                                .file(&layout::secret_manifest_file(c))
                                .expect("manifest")
                                .expose_contents(),
                        );
                        assert_eq!(data[c.spec().env_key], file, "{c}: Secret == file");
                        file
                    }
                    Mode::B => {
                        let v = yaml(&rendered, layout::VALUES_FILE);
                        let url = v["infra"]["db"]["external"][c.spec().url_key()]
                            .as_str()
                            .expect("url")
                            .to_owned();
                        let ssl = v["infra"]["db"]["external"]["sslMode"]
                            .as_str()
                            .expect("sslMode");
                        format!("{url}?sslmode={ssl}")
                    }
                };
                let dsn = Dsn::parse(&uri).expect("rendered DSN parses");
                assert_eq!(dsn.password(), Some(pw), "{c} {mode:?}");
                assert_eq!(dsn.user(), Some("scrydon"));
                assert_eq!(dsn.dbname(), Some(c.spec().database));
                assert_eq!(dsn.explicit_ssl_mode(), Some(SslMode::VerifyFull));
                // No finding, note or file name shows it.
                for f in rendered.findings() {
                    assert!(!f.observed.contains(pw) && !f.remediation.contains(pw));
                }
                assert!(!rendered
                    .file(layout::FINDINGS)
                    .expect("findings")
                    .expose_contents()
                    .contains(pw));
            }
            if mode == Mode::A {
                let tmp = tempfile::tempdir().expect("tmp");
                rendered.write_to(tmp.path()).expect("write");
                let theirs = kubectl_secrets_from_script(&tmp.path().join(layout::CREATE_SECRETS));
                for ((_, _), data) in theirs {
                    for v in data.values() {
                        assert_eq!(
                            Dsn::parse(v).expect("kubectl's value parses").password(),
                            Some(pw)
                        );
                    }
                }
            }
            // Debug of the whole render shows no password.
            assert!(!format!("{rendered:?}").contains(pw));
        }
    }
}

#[test]
fn invalid_plans_are_refused_naming_the_field() {
    use scrydon_byodb::Error;
    let field = |r: scrydon_byodb::Result<Rendered>| match r {
        Err(Error::InvalidInput { field, value, .. }) => (field, value),
        Err(other) => panic!("unexpected error kind: {other:?}"),
        Ok(_) => panic!("rendered an invalid plan"),
    };
    let defaults = || RenderPlan::new(ChartValues::chart_defaults());

    // No DSN for an enabled component.
    let (f, v) = field(defaults().render());
    assert_eq!((f.as_str(), v.as_str()), ("dsn", "auth"));

    // A template without {db}.
    let (f, _) = field(
        defaults()
            .with_dsn_template("postgres://u@h/auth", None)
            .render(),
    );
    assert_eq!(f, "dsn template");

    // A template carrying a password: refused, and the password is not in the error.
    let r = defaults()
        .with_dsn_template("postgres://u:hunter2@h/{db}", None)
        .render();
    let err = r.as_ref().map(|_| ()).expect_err("must fail").to_string();
    assert!(!err.contains("hunter2"), "{err}");
    assert!(!format!("{:?}", r.as_ref().map(|_| ())).contains("hunter2"));
    let (f, _) = field(r);
    assert_eq!(f, "dsn template");

    // A DSN for a disabled component.
    let values = ChartValues::from_yaml_str("cortex: {enabled: false}\n").expect("values");
    let (f, v) = field(
        RenderPlan::new(values)
            .with_dsn_template(TEMPLATE, None)
            .with_dsn(
                Component::Cortex,
                "postgres://u@h/cortex".parse().expect("dsn"),
            )
            .render(),
    );
    assert_eq!((f.as_str(), v.as_str()), ("component", "cortex"));

    // A chart version that would break the shell command.
    let (f, _) = field(
        defaults()
            .with_dsn_template(TEMPLATE, None)
            .with_chart_version("1.0; rm -rf /")
            .render(),
    );
    assert_eq!(f, "chart version");

    // An sslMode in values that is no sslmode.
    let values =
        ChartValues::from_yaml_str("infra: {db: {external: {sslMode: required}}}\n").expect("v");
    let (f, v) = field(
        RenderPlan::new(values)
            .with_dsn_template(TEMPLATE, None)
            .render(),
    );
    assert_eq!(
        (f.as_str(), v.as_str()),
        ("infra.db.external.sslMode", "required")
    );
}

/// A render whose result fails a check says so (the CLI writes nothing then).
#[test]
fn failing_inputs_are_findings_not_files() {
    let rendered = RenderPlan::new(ChartValues::chart_defaults())
        .with_dsn_template(TEMPLATE, Some(SecretString::from(PASSWORD)))
        .with_dsn(
            Component::Agentic,
            "postgres://scrydon@pg.example.com/auth?sslmode=require"
                .parse()
                .expect("dsn"),
        )
        .render()
        .expect("render");
    assert!(rendered.has_failures());
    let ids = ids_of(&rendered);
    assert!(ids.contains(&(
        ids::RENDER_DSN_SSLMODE_MISSING,
        Some(Component::Auth),
        Status::Fail
    )));
    assert!(ids.contains(&(
        ids::RENDER_DSN_DBNAME_MISMATCH,
        Some(Component::Agentic),
        Status::Fail
    )));
    assert!(ids.contains(&(
        ids::RENDER_DSN_SHARED_DATABASE,
        Some(Component::Agentic),
        Status::Fail
    )));
}

/// A Secret the customer already manages (named in `existingSecrets`, no DSN given) is
/// referenced, not generated, and the check asks to make sure it exists.
#[test]
fn existing_secret_without_dsn_is_referenced_not_generated() {
    let values = ChartValues::from_yaml_str(
        "infra: {db: {external: {existingSecrets: {auth: vault-synced-auth}}}}\n",
    )
    .expect("values");
    let mut plan = RenderPlan::new(values).with_mode(Mode::A);
    for c in &Component::ALL[1..] {
        let dsn: Dsn = format!(
            "postgresql://scrydon:{PASSWORD}@pg.example.com:5432/{}",
            c.spec().database
        )
        .parse()
        .expect("dsn");
        plan = plan.with_dsn(*c, dsn);
    }
    let rendered = plan
        .with_ssl_mode(SslMode::Require)
        .with_chart_version(VERSION)
        .render()
        .expect("render");
    let v = yaml(&rendered, layout::VALUES_FILE);
    assert_eq!(
        v["infra"]["db"]["external"]["existingSecrets"]["auth"].as_str(),
        Some("vault-synced-auth")
    );
    assert!(rendered
        .file(&layout::secret_dsn_file(Component::Auth))
        .is_none());
    assert!(rendered
        .file(&layout::secret_manifest_file(Component::Auth))
        .is_none());
    assert!(rendered
        .file(&layout::secret_manifest_file(Component::Agentic))
        .is_some());
    assert!(ids_of(&rendered).contains(&(
        ids::RENDER_SECRET_NOT_FOUND,
        Some(Component::Auth),
        Status::Warn
    )));
    assert!(!rendered.has_failures());
}

//! `scrydon-byodb render` as a user runs it: the built binary, files on disk, exit codes.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_scrydon-byodb");
/// Every URI-special character and non-ASCII: the password must not show up anywhere, encoded
/// or not.
const PASSWORD: &str = "S3cr3t@/:?#[]%&=+ 'x\"y\\é";
const ENCODED_FRAGMENT: &str = "S3cr3t%40%2F";

struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new(values: &str) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("values.yaml"), values).expect("values");
        // With the newline an editor adds; the CLI drops it.
        std::fs::write(dir.path().join("password"), format!("{PASSWORD}\n")).expect("password");
        Fixture { dir }
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(BIN)
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .expect("run scrydon-byodb")
    }
}

fn assert_no_password(out: &Output) {
    for (name, stream) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
        let text = String::from_utf8_lossy(stream);
        assert!(
            !text.contains("S3cr3t"),
            "{name} shows the password:\n{text}"
        );
        assert!(
            !text.contains(ENCODED_FRAGMENT),
            "{name} shows the password:\n{text}"
        );
    }
}

fn mode_of(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o777
}

const TEMPLATE: &str = "postgres://scrydon@pg.example.com:5432/{db}?sslmode=verify-full";

fn render_args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "render",
        "--values",
        "values.yaml",
        "--dsn-template",
        TEMPLATE,
        "--password-file",
        "password",
        "--chart-version",
        "1.4.2",
        "--out",
        "out",
    ];
    args.extend_from_slice(extra);
    args
}

#[test]
fn render_writes_the_files_with_private_modes_and_prints_no_password() {
    let fx = Fixture::new("analytics:\n  enabled: false\n");
    let out = fx.run(&render_args(&["--mode", "a"]));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_no_password(&out);

    for app in ["auth", "agentic", "cortex", "ontology"] {
        let dsn = fx.path(&format!("out/secrets/{app}.dsn"));
        assert_eq!(mode_of(&dsn), 0o600, "{app}.dsn");
        let text = std::fs::read_to_string(&dsn).expect("dsn");
        assert!(!text.ends_with('\n'), "no trailing newline in {app}.dsn");
        assert!(text.contains(ENCODED_FRAGMENT));
        assert_eq!(
            mode_of(&fx.path(&format!("out/manifests/secret-{app}.yaml"))),
            0o600
        );
    }
    assert!(!fx.path("out/secrets/analytics.dsn").exists());
    assert!(!fx.path("out/manifests/secret-analytics.yaml").exists());
    assert_eq!(mode_of(&fx.path("out/secrets")), 0o700);
    assert_eq!(mode_of(&fx.path("out/manifests")), 0o700);
    assert_eq!(mode_of(&fx.path("out/values.customer.yaml")), 0o644);
    for script in ["create-secrets", "helm-upgrade", "rerun-migrations"] {
        assert_eq!(
            mode_of(&fx.path(&format!("out/commands/{script}.sh"))),
            0o755
        );
    }
    let values = std::fs::read_to_string(fx.path("out/values.customer.yaml")).expect("values");
    assert!(!values.contains("S3cr3t") && !values.contains(ENCODED_FRAGMENT));
    let script = std::fs::read_to_string(fx.path("out/commands/create-secrets.sh")).expect("sh");
    assert!(script.contains("--from-file=DATABASE_URL_CORTEX=./secrets/cortex.dsn"));
    assert!(!script.contains(ENCODED_FRAGMENT));

    // The rendered directory passes its own check.
    let check = fx.run(&["render", "--check", "out", "--json"]);
    assert_eq!(
        check.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );
    assert_no_password(&check);
    let v: serde_json::Value = serde_json::from_slice(&check.stdout).expect("json");
    assert_eq!(v["ok"], true);
}

#[test]
fn json_output_and_print_secrets() {
    let fx = Fixture::new("");
    let out = fx.run(&render_args(&[
        "--mode",
        "b",
        "--profile",
        "staging",
        "--json",
    ]));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_no_password(&out);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["ok"], true);
    let values = v["files"]
        .as_array()
        .expect("files")
        .iter()
        .find(|f| f["path"] == "values.customer.yaml")
        .expect("values file");
    // Mode B: the values file carries DSNs.
    assert_eq!(values["sensitive"], true);
    assert_eq!(values["mode"], "0600");
    assert_eq!(mode_of(&fx.path("out/values.customer.yaml")), 0o600);

    // Asked for: shown.
    let out = fx.run(&render_args(&[
        "--mode",
        "b",
        "--profile",
        "staging",
        "--print-secrets",
    ]));
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains(ENCODED_FRAGMENT));
}

#[test]
fn mixed_modes_per_app() {
    let fx = Fixture::new("");
    std::fs::write(
        fx.path("cortex.dsn"),
        "postgresql://ml:other@ml-pg.example.com:5432/cortex?sslmode=require\n",
    )
    .expect("dsn");
    let out = fx.run(&render_args(&[
        "--mode",
        "mixed",
        "--mode-a",
        "auth,agentic",
        "--dsn-file",
        "cortex=cortex.dsn",
        "--profile",
        "staging",
    ]));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_no_password(&out);
    assert!(fx.path("out/secrets/auth.dsn").exists());
    assert!(fx.path("out/secrets/agentic.dsn").exists());
    assert!(!fx.path("out/secrets/cortex.dsn").exists());
    let values: serde_yaml_ng::Value = serde_yaml_ng::from_str(
        &std::fs::read_to_string(fx.path("out/values.customer.yaml")).expect("values"),
    )
    .expect("yaml");
    let ext = &values["infra"]["db"]["external"];
    assert_eq!(
        ext["existingSecrets"]["auth"].as_str(),
        Some("scrydon-db-auth")
    );
    assert!(ext["cortexUrl"]
        .as_str()
        .expect("cortexUrl")
        .contains("ml-pg.example.com"));
    assert!(ext.get("authUrl").is_none());
}

/// Exit 2, a clear error naming the input, nothing written, no password shown.
#[test]
fn bad_input_exits_2_and_writes_nothing() {
    let fx = Fixture::new("");
    std::fs::write(
        fx.path("with-password.txt"),
        format!("postgres://scrydon:{}@pg/auth", "S3cr3t%40%2F"),
    )
    .expect("file");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            render_args(&["--mode", "a", "--dsn-file", "reporting=x.dsn"]),
            "reporting",
        ),
        (
            render_args(&["--mode", "a", "--dsn-file", "auth"]),
            "--dsn-file",
        ),
        (
            render_args(&["--mode", "a", "--dsn-file", "auth=missing.dsn"]),
            "missing.dsn",
        ),
        (render_args(&["--mode", "mixed"]), "--mode"),
        (
            render_args(&["--mode", "a", "--mode-a", "auth"]),
            "--mode-a",
        ),
        (
            render_args(&["--mode", "mixed", "--mode-a", "auth", "--mode-b", "auth"]),
            "auth",
        ),
        (
            render_args(&["--mode", "a", "--ssl-mode", "required"]),
            "--ssl-mode",
        ),
        (
            vec![
                "render",
                "--values",
                "values.yaml",
                "--mode",
                "a",
                "--out",
                "out",
                "--dsn-template",
                TEMPLATE,
                "--chart-version",
                "1;reboot",
            ],
            "chart version",
        ),
        (
            render_args(&["--mode", "a", "--profile", "prod"]),
            "profile",
        ),
        (
            vec![
                "render",
                "--values",
                "values.yaml",
                "--mode",
                "a",
                "--out",
                "out",
                "--dsn-template",
                "postgres://scrydon:S3cr3t%40%2F@pg/{db}",
            ],
            "dsn template",
        ),
        (
            vec![
                "render",
                "--values",
                "values.yaml",
                "--mode",
                "a",
                "--out",
                "out",
            ],
            "dsn",
        ),
        (
            vec![
                "render",
                "--values",
                "nope.yaml",
                "--mode",
                "a",
                "--out",
                "out",
                "--dsn-template",
                TEMPLATE,
            ],
            "nope.yaml",
        ),
    ];
    for (args, names) in cases {
        let out = fx.run(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains(names),
            "{args:?}: error should name {names}: {stderr}"
        );
        assert_no_password(&out);
        assert!(!fx.path("out").exists(), "{args:?} wrote something");
    }

    // A values file with the wrong type: named by key, nothing written.
    let fx = Fixture::new("analytics:\n  enabled: \"false\"\n");
    let out = fx.run(&render_args(&["--mode", "a"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("analytics.enabled"));
    assert!(!fx.path("out").exists());

    // JSON errors too.
    let out = fx.run(&render_args(&["--mode", "a", "--json"]));
    assert_eq!(out.status.code(), Some(2));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["ok"], false);
    assert_eq!(v["error"]["kind"], "invalid_input");
}

/// A render whose result fails a check writes nothing and exits 1.
#[test]
fn failing_render_exits_1_and_writes_nothing() {
    let fx = Fixture::new("");
    let out = fx.run(&[
        "render",
        "--values",
        "values.yaml",
        "--mode",
        "a",
        "--dsn-template",
        "postgres://scrydon@pg.example.com:5432/{db}",
        "--password-file",
        "password",
        "--out",
        "out",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert_no_password(&out);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["ok"], false);
    let ids: Vec<&str> = v["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["status"] == "fail")
        .map(|f| f["id"].as_str().expect("id"))
        .collect();
    assert!(ids.contains(&"render.dsn_sslmode_missing"), "{ids:?}");
    assert!(!fx.path("out").exists());
}

#[test]
fn check_finds_a_wrong_key_and_exits_1() {
    let fx = Fixture::new("");
    let out = fx.run(&render_args(&["--mode", "a"]));
    assert_eq!(out.status.code(), Some(0));
    // The mistake the runbook warns about: analytics' DSN under DATABASE_URL.
    let manifest = fx.path("out/manifests/secret-analytics.yaml");
    let text = std::fs::read_to_string(&manifest).expect("manifest");
    std::fs::write(
        &manifest,
        text.replace("DATABASE_URL_ANALYTICS", "DATABASE_URL"),
    )
    .expect("tamper");
    let out = fx.run(&["render", "--check", "out", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    assert_no_password(&out);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["ok"], false);
    let found = v["findings"].as_array().expect("findings").iter().any(|f| {
        f["id"] == "render.secret_wrong_key"
            && f["component"] == "analytics"
            && f["status"] == "fail"
    });
    assert!(found, "{v:#}");

    // Text output, same exit code.
    let out = fx.run(&["render", "--check", "out"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("render.secret_wrong_key"));

    // A directory without a values file: invalid input.
    let empty = fx.path("empty");
    std::fs::create_dir(&empty).expect("mkdir");
    let out = fx.run(&["render", "--check", "empty"]);
    assert_eq!(out.status.code(), Some(2));
}

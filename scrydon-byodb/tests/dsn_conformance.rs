//! The DSN parser against libpq.
//!
//! - the 63 URI vectors from libpq's own test suite (`shared/conformance/libpq-uri`), and the
//!   older `regress.in`/`expected.out` pair, compared with libpq's test program's output;
//! - the same URIs, a table of tricky keyword=value strings, and a table of values libpq only
//!   checks when it connects, run through libpq itself: libpq 17 (the one psycopg bundles, in
//!   the test bed's venv) and libpq 15 (Debian's `libpq.so.5`, loaded by the same Python
//!   process), one process per table.
//!
//! The Python interpreter is `SCRYDON_TESTBED_PYTHON`, else the test bed's venv
//! (`scripts/testbed-install.sh` installs it). Without it these tests fail: they are the
//! evidence that the parser is libpq's.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use scrydon_byodb::dsn::{compiled_default, Dsn};
use serde_json::{json, Value};

fn conformance_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/conformance/libpq-uri")
}

#[derive(Debug)]
struct Vector {
    input: String,
    expected_stdout: String,
    expected_stderr: String,
    env: BTreeMap<String, String>,
}

fn uri_vectors() -> Vec<Vector> {
    let path = conformance_dir().join("uri_tests.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read the conformance vectors {}: {e}",
            path.display()
        )
    });
    let cases: Vec<Value> = serde_json::from_str(&text).expect("uri_tests.json is a JSON list");
    let vectors: Vec<Vector> = cases
        .iter()
        .map(|c| Vector {
            input: c["input"].as_str().expect("input").to_owned(),
            expected_stdout: c["expected_stdout"].as_str().expect("stdout").to_owned(),
            expected_stderr: c["expected_stderr"].as_str().expect("stderr").to_owned(),
            env: c["env"]
                .as_object()
                .expect("env")
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().expect("env value").to_owned()))
                .collect(),
        })
        .collect();
    assert_eq!(vectors.len(), 63, "the vector file changed");
    vectors
}

/// What libpq's `libpq_uri_regress` prints for a parsed string: the options that differ from
/// `PQconndefaults()` (computed with the case's environment), then `(inet)` or `(local)`.
fn regress_output(parsed: &Dsn, env: &BTreeMap<String, String>) -> String {
    let defaults = Dsn::new()
        .with_env(env)
        .expect("the case's environment is valid");
    let mut out = String::new();
    let mut local = true;
    for (key, value) in parsed.params() {
        let default = match (key, defaults.get(key)) {
            (_, Some(v)) => Some(v.to_owned()),
            // With sslrootcert=system, libpq's default sslmode is verify-full.
            ("sslmode", None) => Some(defaults.ssl_mode().as_str().to_owned()),
            (_, None) => compiled_default(key).map(str::to_owned),
        };
        if default.as_deref() != Some(value) {
            write!(out, "{key}='{value}' ").expect("write to String");
        }
        if !value.is_empty() && (key == "hostaddr" || (key == "host" && !value.starts_with('/'))) {
            local = false;
        }
    }
    out.push_str(if local { "(local)" } else { "(inet)" });
    out
}

#[test]
fn uri_vectors_match_libpq_regress_output() {
    let mut failures = Vec::new();
    for v in uri_vectors() {
        let must_parse = v.expected_stderr.is_empty();
        match Dsn::parse(&v.input) {
            Ok(d) if must_parse => {
                let got = regress_output(&d, &v.env);
                if got != v.expected_stdout {
                    failures.push(format!(
                        "{:?}: got {got:?}, libpq {:?}",
                        v.input, v.expected_stdout
                    ));
                }
                // The environment changes the effective sslmode, through the env source only.
                if v.env.get("PGSSLROOTCERT").map(String::as_str) == Some("system") {
                    let with_env = d.clone().with_env(&v.env).expect("env applies");
                    let expected = d.get("sslmode").unwrap_or("verify-full");
                    assert_eq!(with_env.ssl_mode().as_str(), expected, "{:?}", v.input);
                }
            }
            Ok(d) => failures.push(format!(
                "{:?}: parsed ({}), libpq refuses: {}",
                v.input,
                regress_output(&d, &v.env),
                v.expected_stderr
            )),
            Err(e) if must_parse => {
                failures.push(format!("{:?}: refused ({e}), libpq parses it", v.input))
            }
            Err(_) => {}
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn legacy_regress_vectors_match() {
    let dir = conformance_dir();
    let inputs = std::fs::read_to_string(dir.join("legacy-regress.in")).expect("regress.in");
    let expected = std::fs::read_to_string(dir.join("legacy-expected.out")).expect("expected.out");
    // expected.out: "trying <input>", the result line, blank lines.
    let mut results: Vec<(String, String)> = Vec::new();
    let mut lines = expected.lines().filter(|l| !l.trim().is_empty());
    while let Some(line) = lines.next() {
        let input = line.strip_prefix("trying ").expect("a 'trying' line");
        let result = lines.next().expect("a result line");
        results.push((input.to_owned(), result.trim_end().to_owned()));
    }
    let inputs: Vec<&str> = inputs.lines().filter(|l| !l.is_empty()).collect();
    assert_eq!(inputs.len(), results.len());
    assert!(inputs.len() > 50);
    let no_env = BTreeMap::new();
    for (input, (tried, result)) in inputs.iter().zip(&results) {
        assert_eq!(input, tried);
        match (Dsn::parse(input), result.strip_prefix("uri-regress: ")) {
            (Ok(d), None) => assert_eq!(&regress_output(&d, &no_env), result, "{input:?}"),
            (Err(_), Some(_)) => {}
            (Ok(d), Some(err)) => panic!("{input:?} parsed as {d:?}; libpq: {err}"),
            (Err(e), None) => panic!("{input:?} refused ({e}); libpq: {result}"),
        }
    }
}

// --- libpq itself -------------------------------------------------------------------------------

const HARNESS: &str = r#"
import ctypes, json, sys
from psycopg import pq
from psycopg.conninfo import conninfo_to_dict

class Opt(ctypes.Structure):
    _fields_ = [("keyword", ctypes.c_char_p), ("envvar", ctypes.c_char_p),
                ("compiled", ctypes.c_char_p), ("val", ctypes.c_char_p),
                ("label", ctypes.c_char_p), ("dispchar", ctypes.c_char_p),
                ("dispsize", ctypes.c_int)]

lib15 = ctypes.CDLL(sys.argv[1])
lib15.PQlibVersion.restype = ctypes.c_int
lib15.PQconninfoParse.restype = ctypes.POINTER(Opt)
lib15.PQconninfoParse.argtypes = [ctypes.c_char_p, ctypes.POINTER(ctypes.c_void_p)]
lib15.PQconninfoFree.argtypes = [ctypes.POINTER(Opt)]
lib15.PQfreemem.argtypes = [ctypes.c_void_p]

def parse17(s):
    try:
        return {"ok": True, "params": conninfo_to_dict(s)}
    except Exception as e:
        return {"ok": False, "error": str(e).strip()}

def parse15(s):
    err = ctypes.c_void_p()
    opts = lib15.PQconninfoParse(s.encode(), ctypes.byref(err))
    if not opts:
        msg = ctypes.string_at(err.value).decode(errors="replace").strip() if err.value else "?"
        if err.value:
            lib15.PQfreemem(err)
        return {"ok": False, "error": msg}
    out, i = {}, 0
    while opts[i].keyword:
        if opts[i].val is not None:
            out[opts[i].keyword.decode()] = opts[i].val.decode()
        i += 1
    lib15.PQconninfoFree(opts)
    return {"ok": True, "params": out}

def connect17(s):
    # Only for strings aimed at nothing (127.0.0.1:1, a missing socket directory): reaching
    # the network shows libpq accepted every option.
    c = pq.PGconn.connect(s.encode())
    msg = c.error_message.decode(errors="replace")
    c.finish()
    reached = "Connection refused" in msg or "No such file or directory" in msg
    return {"options_ok": reached, "message": msg.strip()}

cases = json.load(sys.stdin)
out = {"v17": pq.version(), "v15": lib15.PQlibVersion(), "results": []}
for c in cases:
    r = {"v17": parse17(c["input"]), "v15": parse15(c["input"])}
    if c.get("connect"):
        r["connect17"] = connect17(c["input"])
    out["results"].append(r)
json.dump(out, sys.stdout)
"#;

fn python() -> PathBuf {
    std::env::var_os("SCRYDON_TESTBED_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/opt/scrydon-testbed/venv/bin/python"))
}

fn libpq15() -> PathBuf {
    std::env::var_os("SCRYDON_LIBPQ15")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/lib/x86_64-linux-gnu/libpq.so.5"))
}

/// libpq's verdict on one string.
#[derive(Debug, Clone, PartialEq)]
enum Verdict {
    Parsed(BTreeMap<String, String>),
    Refused(String),
}

impl Verdict {
    fn from_json(v: &Value) -> Verdict {
        if v["ok"].as_bool() == Some(true) {
            Verdict::Parsed(
                v["params"]
                    .as_object()
                    .expect("params")
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_str().expect("string value").to_owned()))
                    .collect(),
            )
        } else {
            Verdict::Refused(v["error"].as_str().unwrap_or_default().to_owned())
        }
    }

    fn ours(input: &str) -> Verdict {
        match Dsn::parse(input) {
            Ok(d) => Verdict::Parsed(
                d.params()
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .collect(),
            ),
            Err(e) => Verdict::Refused(e.to_string()),
        }
    }

    /// Same accept/refuse and, when parsed, the same values.
    fn agrees(&self, other: &Verdict) -> bool {
        match (self, other) {
            (Verdict::Parsed(a), Verdict::Parsed(b)) => a == b,
            (Verdict::Refused(_), Verdict::Refused(_)) => true,
            _ => false,
        }
    }
}

struct LibpqResult {
    v17: Verdict,
    v15: Verdict,
    /// `Some(true)`: libpq 17 accepted every option when connecting.
    connect17_ok: Option<bool>,
    connect17_message: String,
}

/// Runs every case through libpq 17 and 15 in one Python process.
fn libpq(cases: &[(&str, bool)]) -> Vec<LibpqResult> {
    let py = python();
    assert!(
        py.exists(),
        "the reference Python {} is missing: run scripts/testbed-install.sh (as root) or set \
         SCRYDON_TESTBED_PYTHON to a Python with psycopg[binary] 3.2",
        py.display()
    );
    let lib = libpq15();
    assert!(
        lib.exists(),
        "libpq 15 ({}) is missing: run scripts/testbed-install.sh (postgresql-client-15) or set \
         SCRYDON_LIBPQ15",
        lib.display()
    );
    let input: Vec<Value> = cases
        .iter()
        .map(|(s, connect)| json!({"input": s, "connect": connect}))
        .collect();
    let mut cmd = Command::new(&py);
    cmd.arg("-c")
        .arg(HARNESS)
        .arg(&lib)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // English errno texts, and no PG* variable or password file leaking into libpq.
        .env("LC_ALL", "C")
        .env("PGPASSFILE", "/nonexistent/scrydon-pgpass");
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("PG") && k != "PGPASSFILE" {
            cmd.env_remove(&k);
        }
    }
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", py.display()));
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(Value::Array(input).to_string().as_bytes())
        .expect("write cases to the harness");
    let out = child.wait_with_output().expect("harness runs");
    assert!(
        out.status.success(),
        "the libpq harness failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("harness prints JSON");
    let v17 = v["v17"].as_i64().expect("libpq 17 version");
    let v15 = v["v15"].as_i64().expect("libpq 15 version");
    assert!(
        (170_000..180_000).contains(&v17),
        "psycopg's libpq is {v17}, not 17"
    );
    assert!(
        (150_000..160_000).contains(&v15),
        "{} is libpq {v15}, not 15",
        lib.display()
    );
    let results = v["results"].as_array().expect("results");
    assert_eq!(results.len(), cases.len());
    results
        .iter()
        .map(|r| LibpqResult {
            v17: Verdict::from_json(&r["v17"]),
            v15: Verdict::from_json(&r["v15"]),
            connect17_ok: r["connect17"]["options_ok"].as_bool(),
            connect17_message: r["connect17"]["message"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        })
        .collect()
}

/// Where libpq 17 and 15 agree, we must agree with them; where they differ, with libpq 17.
/// Returns a description of each disagreement.
fn compare_with_libpq(inputs: &[&str], skip: &[&str]) -> Vec<String> {
    let cases: Vec<(&str, bool)> = inputs.iter().map(|s| (*s, false)).collect();
    let mut failures = Vec::new();
    for (input, lib) in inputs.iter().zip(libpq(&cases)) {
        if skip.contains(input) {
            continue;
        }
        let ours = Verdict::ours(input);
        if !ours.agrees(&lib.v17) {
            let v15 = if lib.v15.agrees(&lib.v17) {
                "libpq 15 agrees with 17"
            } else {
                "libpq 15 differs"
            };
            failures.push(format!(
                "{input:?}: ours {ours:?}, libpq 17 {:?} ({v15})",
                lib.v17
            ));
        }
    }
    failures
}

/// URIs where libpq 18+ (whose test suite the vectors come from) reads spaces differently from
/// libpq 17 and 15: it trims spaces around URI parts and refuses spaces inside one, where the
/// older ones keep them. This parser follows the vectors.
const URI_SPACE_RULE_CHANGES: &[&str] = &["postgresql://host?  user = uri-user & port  = 12345 "];

#[test]
fn uri_vectors_agree_with_libpq_17_and_15() {
    let vectors = uri_vectors();
    let inputs: Vec<&str> = vectors.iter().map(|v| v.input.as_str()).collect();
    let failures = compare_with_libpq(&inputs, URI_SPACE_RULE_CHANGES);
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // Keep the exception list exact: each one really is read differently by libpq 17 and 15.
    let cases: Vec<(&str, bool)> = URI_SPACE_RULE_CHANGES.iter().map(|s| (*s, false)).collect();
    for (input, lib) in URI_SPACE_RULE_CHANGES.iter().zip(libpq(&cases)) {
        let ours = Verdict::ours(input);
        assert!(matches!(ours, Verdict::Parsed(_)), "{input:?}");
        assert!(!ours.agrees(&lib.v17), "{input:?}: libpq 17 now agrees");
        assert!(!ours.agrees(&lib.v15), "{input:?}: libpq 15 now agrees");
    }
}

/// Keyword=value strings that exercise libpq's tokenizer. Every value here is one libpq
/// accepts at connect time, so accept/refuse is decided by the syntax alone.
const KEYWORD_VALUE_CASES: &[&str] = &[
    "",
    "   ",
    "host=db",
    "host = db",
    "host= db",
    "host =db",
    "  host=db  ",
    "host=db\tport=5432",
    "host=db\nport=5432\r\n",
    "host=db\u{b}port=5432\u{c}",
    "host='db'",
    "host='d b'",
    r"host='it\'s'",
    r"host='back\\slash'",
    r"host=a\ b",
    r"host=a\'b",
    "host=a'b",
    "host='a'port=1",
    "host=''",
    "host=",
    "host= port=5432",
    "host='' port=1",
    "password='p w'",
    r"password=p\ w",
    "password='' user=''",
    "user=a user=b",
    "host=a dbname=x host=b",
    "host='abc",
    r"host='abc\'",
    "host",
    "host port=1",
    "host=a port",
    "=x",
    " = x",
    "uzer=x",
    "host=a uzer=b",
    "HOST=a",
    "host=a,b,c port=1,2,3",
    "host=a,b port=5432",
    "host=a,,c port=1,,3",
    "hostaddr=127.0.0.1,::1 host=a,b",
    "host=/tmp,db.example.com port=5432,6432",
    "host=@abstract",
    "requiressl=1",
    "requiressl=0",
    "requiressl=",
    "sslmode=require requiressl=0",
    "dbname=postgresql://x",
    " postgresql://host",
    "options='-c search_path=a,b -c statement_timeout=5s'",
    "application_name=\u{e9}\u{1F600}",
    r"host=a\",
    r"user=\'",
    "host=db port=5432 dbname=app user=u password=p sslmode=verify-full sslrootcert=system \
     connect_timeout=10 application_name=x target_session_attrs=read-write",
    "keepalives=1 keepalives_idle=30 keepalives_interval=10 keepalives_count=3 \
     tcp_user_timeout=100",
    "sslnegotiation=direct sslmode=require",
    "channel_binding=require sslmode=disable",
    "replication=database client_encoding=UTF8 fallback_application_name=f",
    "sslcert=/c sslkey=/k sslcrl=/r sslcrldir=/d sslcertmode=require sslpassword=pw",
    "gssencmode=disable krbsrvname=pg gsslib=gssapi gssdelegation=1 requirepeer=postgres",
    "load_balance_hosts=random require_auth=scram-sha-256 passfile=/p",
    "ssl_min_protocol_version=TLSv1.3 ssl_max_protocol_version=tlsv1.3",
    "port=' 5432 ' connect_timeout='+5'",
    "postgresql://",
];

#[test]
fn keyword_value_table_agrees_with_libpq() {
    let failures = compare_with_libpq(KEYWORD_VALUE_CASES, &[]);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // The table must exercise both outcomes.
    let refused = KEYWORD_VALUE_CASES
        .iter()
        .filter(|s| Dsn::parse(s).is_err())
        .count();
    assert!(
        refused >= 8 && refused < KEYWORD_VALUE_CASES.len() / 2,
        "{refused}"
    );
}

/// Values libpq parses but refuses when it connects, and their valid neighbours. Each is
/// appended to a target libpq cannot reach (127.0.0.1 port 1), so libpq 17 either refuses an
/// option or reaches the network.
const CONNECT_TIME_CASES: &[&str] = &[
    "",
    "sslmode=bogus",
    "sslmode=",
    "sslmode=verify-full",
    "channel_binding=bogus",
    "channel_binding=",
    "target_session_attrs=bogus",
    "target_session_attrs=prefer-standby",
    "sslnegotiation=bogus",
    "sslnegotiation=direct",
    "sslnegotiation=direct sslmode=verify-ca",
    "sslcertmode=bogus",
    "sslcertmode=allow",
    "gssencmode=bogus",
    "gssencmode=disable",
    "load_balance_hosts=bogus",
    "load_balance_hosts=random",
    "ssl_min_protocol_version=TLSv1.4",
    "ssl_min_protocol_version=",
    "ssl_max_protocol_version=tlsv1.3",
    "ssl_min_protocol_version=TLSv1.3 ssl_max_protocol_version=TLSv1.2",
    "ssl_min_protocol_version=TLSv1 ssl_max_protocol_version=TLSv1.3",
    "require_auth=bogus",
    "require_auth=!password,md5",
    "require_auth=password,password",
    "require_auth=password,md5,scram-sha-256",
    "require_auth=!password,!md5",
    "require_auth=",
    "port=0",
    "port=70000",
    "port=abc",
    "port=' 1 '",
    "port=+1",
    "port=1,1",
    "hostaddr=abc",
    "hostaddr='127.0.0.1 '",
    "hostaddr=::1",
    "host=a,b",
    "host=a",
    "connect_timeout=abc",
    "connect_timeout=",
    "connect_timeout=' 3 '",
    "connect_timeout=-1",
    "connect_timeout=99999999999",
    "keepalives=abc",
    "keepalives=",
    "keepalives=' 1'",
    "keepalives_idle=abc",
    "keepalives_idle=30",
    "keepalives_interval=1.5",
    "keepalives_count=99999999999",
    "tcp_user_timeout=x",
    "tcp_user_timeout=0",
    "sslrootcert=system",
    "sslrootcert=system sslmode=verify-full",
    "sslrootcert=system sslmode=require",
    "sslrootcert=system sslmode=verify-ca",
    "sslrootcert=system sslmode=disable",
];

/// Where this parser is stricter than libpq 17 on purpose: IPv4 shorthand that only
/// `inet_aton` reads (libpq passes hostaddr to getaddrinfo).
const STRICTER_THAN_LIBPQ: &[&str] = &["hostaddr=127.1", "hostaddr=2130706433"];

#[test]
fn connect_time_checks_agree_with_libpq_17() {
    let target = "hostaddr=127.0.0.1 port=1";
    let inputs: Vec<String> = CONNECT_TIME_CASES
        .iter()
        .chain(STRICTER_THAN_LIBPQ)
        .map(|c| format!("{target} {c}"))
        .collect();
    let cases: Vec<(&str, bool)> = inputs.iter().map(|s| (s.as_str(), true)).collect();
    let mut failures = Vec::new();
    let mut refused = 0;
    for ((input, case), lib) in inputs
        .iter()
        .zip(CONNECT_TIME_CASES.iter().chain(STRICTER_THAN_LIBPQ))
        .zip(libpq(&cases))
    {
        assert!(
            matches!(lib.v17, Verdict::Parsed(_)),
            "{input:?}: libpq 17 should parse it: {:?}",
            lib.v17
        );
        let libpq_ok = lib.connect17_ok.expect("the harness tried to connect");
        let ours = Dsn::parse(input).and_then(|d| d.validate());
        if ours.is_err() {
            refused += 1;
        }
        let expected_ok = libpq_ok && !STRICTER_THAN_LIBPQ.contains(case);
        if ours.is_ok() != expected_ok {
            failures.push(format!(
                "{input:?}: ours {ours:?}, libpq 17: {}",
                lib.connect17_message
            ));
        }
        if STRICTER_THAN_LIBPQ.contains(case) && !libpq_ok {
            failures.push(format!("{input:?}: libpq 17 now refuses it too"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(refused > 20, "{refused}");
}

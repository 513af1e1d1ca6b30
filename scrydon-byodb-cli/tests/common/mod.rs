//! Running the built `scrydon-byodb` binary as a user does, for every CLI test file.
#![allow(dead_code, unreachable_pub)]

use std::io::Write;
use std::process::{Command, Output, Stdio};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_scrydon-byodb");

/// Runs the CLI with `args`, feeding `stdin`.
pub fn cli(args: &[&str], stdin: &str) -> Output {
    cli_env(args, stdin, &[], &[])
}

/// Runs the CLI with `args`, feeding `stdin`, with `set` added to its environment and `unset`
/// removed from it.
pub fn cli_env(args: &[&str], stdin: &str, set: &[(&str, &str)], unset: &[&str]) -> Output {
    let mut command = Command::new(BIN);
    command
        .args(args)
        .envs(set.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for name in unset {
        command.env_remove(name);
    }
    let mut child = command.spawn().expect("run scrydon-byodb");
    let mut pipe = child.stdin.take().expect("stdin");
    // A process that refuses its arguments exits before reading: a broken pipe is fine.
    let _ = pipe.write_all(stdin.as_bytes());
    drop(pipe);
    child.wait_with_output().expect("wait")
}

/// Standard output as JSON (panics with both streams when it is not).
pub fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}):\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// The status of finding `id` (for `component`, or server-wide) in a JSON report, `absent`
/// when there is none.
pub fn status_of(report: &serde_json::Value, id: &str, component: Option<&str>) -> String {
    report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .find(|f| f["id"] == id && f["component"].as_str() == component)
        .and_then(|f| f["status"].as_str())
        .unwrap_or("absent")
        .to_owned()
}

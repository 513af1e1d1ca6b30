//! Printing results: human text, or JSON with `--json`.

use serde::Serialize;

/// Prints a value as pretty JSON on stdout.
pub(crate) fn json<T: Serialize>(value: &T) {
    match serde_json::to_string_pretty(value) {
        Ok(s) => println!("{s}"),
        Err(e) => eprintln!("error: cannot serialise output: {e}"),
    }
}

/// A one-line error on stderr (or a JSON error object on stdout with `--json`).
pub(crate) fn error(as_json: bool, kind: &str, err: &scrydon_byodb::Error) {
    if as_json {
        json(
            &serde_json::json!({ "ok": false, "error": { "kind": kind, "message": err.to_string() } }),
        );
    } else {
        eprintln!("error: {err}");
    }
}

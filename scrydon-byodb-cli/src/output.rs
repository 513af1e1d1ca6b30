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
        let mut error = serde_json::json!({ "kind": kind, "message": err.to_string() });
        // Input errors name what was refused, for tools to point at it.
        if let scrydon_byodb::Error::InvalidInput { field, .. } = err {
            error["field"] = serde_json::Value::String(field.clone());
        }
        json(&serde_json::json!({ "ok": false, "error": error }));
    } else {
        eprintln!("error: {err}");
    }
}

/// A single-threaded tokio runtime for one command; on failure the error is printed (JSON or
/// text) and `None` returned, for the caller to exit with `Outcome::Failed`.
pub(crate) fn runtime(as_json: bool) -> Option<tokio::runtime::Runtime> {
    match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => Some(r),
        Err(source) => {
            error(
                as_json,
                "io",
                &scrydon_byodb::Error::Io { path: None, source },
            );
            None
        }
    }
}

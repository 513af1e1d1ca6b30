//! `scrydon-testbed-server`: a TLS PostgreSQL 15 (pgvector available) for the main job and
//! manual runs.
//!
//! ```text
//! scrydon-testbed-server [--dir DIR] [--detach] [--database NAME] [--extension NAME]...
//!                        [--pg-version 14|15] [--port PORT] [--ignore-stdin]
//! scrydon-testbed-server --stop --dir DIR
//! ```
//!
//! Prints one JSON line: `{"uri": ..., "ca": ..., "data_dir": ..., "pid": ..., "port": ...,
//! "dir": ..., "log": ...}` where `uri` is the superuser's `sslmode=verify-full` URI for host
//! `localhost` with `sslrootcert` set to the CA file `ca`. In the foreground (the default) the
//! server runs until SIGTERM or SIGINT, or until standard input reaches end of file (unless
//! standard input is /dev/null, as for a background job of a script, or `--ignore-stdin`), and is
//! then stopped and its files removed. With `--detach` the server keeps running after the
//! program exits; its files live under `--dir` (also `DIR/testbed.json`, mode 0600, holding the
//! JSON line), and `--stop --dir DIR` stops it and removes DIR.
//!
//! Exit status: 0 success, 1 failure, 2 usage error.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use scrydon_byodb_testbed::{Cluster, Error, PgVersion};

const STATE_FILE: &str = "testbed.json";

#[derive(Debug, Default)]
struct Args {
    dir: Option<PathBuf>,
    detach: bool,
    stop: bool,
    database: Option<String>,
    extensions: Vec<String>,
    version: PgVersion,
    port: Option<u16>,
    ignore_stdin: bool,
}

fn usage() -> &'static str {
    "usage: scrydon-testbed-server [--dir DIR] [--detach] [--database NAME] [--extension NAME]... \
     [--pg-version 14|15] [--port PORT] [--ignore-stdin]\n       \
     scrydon-testbed-server --stop --dir DIR"
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args::default();
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--dir" => args.dir = Some(PathBuf::from(value("--dir")?)),
            "--detach" => args.detach = true,
            "--stop" => args.stop = true,
            "--database" => args.database = Some(value("--database")?),
            "--extension" => args.extensions.push(value("--extension")?),
            "--pg-version" => {
                let v = value("--pg-version")?;
                args.version = v
                    .parse()
                    .ok()
                    .and_then(PgVersion::from_major)
                    .ok_or_else(|| format!("unsupported --pg-version {v}"))?;
            }
            "--port" => {
                let v = value("--port")?;
                args.port = Some(v.parse().map_err(|_| format!("invalid --port {v}"))?);
            }
            "--ignore-stdin" => args.ignore_stdin = true,
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if args.stop && args.dir.is_none() {
        return Err("--stop needs --dir".into());
    }
    if args.detach && args.dir.is_none() {
        return Err("--detach needs --dir".into());
    }
    Ok(args)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            if !message.is_empty() {
                eprintln!("scrydon-testbed-server: {message}");
            }
            eprintln!("{}", usage());
            return ExitCode::from(2);
        }
    };
    let result = if args.stop {
        stop(args.dir.as_deref().unwrap_or(Path::new(".")))
    } else {
        serve(&args)
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("scrydon-testbed-server: {e}");
            ExitCode::from(1)
        }
    }
}

fn json_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Reads the value of `"key": "..."` from our own one-line JSON.
fn json_field(json: &str, key: &str) -> Option<String> {
    let start = json.find(&format!("\"{key}\": \""))? + key.len() + 5;
    let mut out = String::new();
    let mut chars = json[start..].chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Some(out),
            '\\' => match chars.next()? {
                'n' => out.push('\n'),
                'r' => out.push('\r'),
                't' => out.push('\t'),
                'u' => {
                    let hex: String = chars.by_ref().take(4).collect();
                    out.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
                }
                other => out.push(other),
            },
            c => out.push(c),
        }
    }
    None
}

fn io_err(what: String) -> impl FnOnce(std::io::Error) -> Error {
    move |source| Error::Io { what, source }
}

fn serve(args: &Args) -> Result<(), Error> {
    let state_dir = match &args.dir {
        Some(dir) => Some(
            std::path::absolute(dir)
                .map_err(io_err(format!("absolute path of {}", dir.display())))?,
        ),
        None => None,
    };
    let mut builder = Cluster::builder().with_version(args.version);
    if let Some(port) = args.port {
        builder = builder.with_port(port);
    }
    if let Some(dir) = &state_dir {
        if dir.exists()
            && fs::read_dir(dir)
                .map_err(io_err(format!("list {}", dir.display())))?
                .next()
                .is_some()
        {
            return Err(Error::Invalid(format!(
                "--dir {} exists and is not empty",
                dir.display()
            )));
        }
        if scrydon_byodb_testbed::server_can_reach(dir)? {
            builder = builder.with_base_dir(dir);
        } else {
            // The server user cannot search a directory above DIR (e.g. a mktemp -d of root's):
            // the cluster lives in a temporary directory and DIR only records where.
            eprintln!(
                "scrydon-testbed-server: the server user cannot reach {}; keeping the cluster \
                 in a temporary directory (recorded in {}/{STATE_FILE})",
                dir.display(),
                dir.display()
            );
            fs::create_dir_all(dir).map_err(io_err(format!("create {}", dir.display())))?;
        }
    }

    let cluster = builder.start()?;
    let available =
        cluster.psql("SELECT count(*) FROM pg_available_extensions WHERE name = 'vector';")?;
    if args.version == PgVersion::V15 && available != "1" {
        return Err(Error::State(
            "pgvector is not installed for PostgreSQL 15 (run scripts/testbed-install.sh)".into(),
        ));
    }
    let database = args.database.clone().unwrap_or_else(|| "postgres".into());
    if database != "postgres" {
        cluster.create_database(&database, None)?;
    }
    for extension in &args.extensions {
        cluster.psql_in(
            &database,
            &format!(
                "CREATE EXTENSION IF NOT EXISTS {};",
                scrydon_byodb_testbed::quote_ident(extension)
            ),
        )?;
    }

    let ca = cluster
        .ca_pem_path()
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default();
    let uri = cluster.dsn_for_host(
        "localhost",
        cluster.superuser(),
        Some(cluster.superuser_password()),
        &database,
        &[("sslmode", "verify-full"), ("sslrootcert", &ca)],
    );
    let pid = cluster.pid().unwrap_or_default();
    let line = format!(
        "{{\"uri\": {}, \"ca\": {}, \"data_dir\": {}, \"pid\": {pid}, \"port\": {}, \"dir\": {}, \
         \"log\": {}}}",
        json_string(&uri),
        json_string(&ca),
        json_string(&cluster.data_dir().to_string_lossy()),
        cluster.port(),
        json_string(&cluster.base_dir().to_string_lossy()),
        json_string(&cluster.log_path().to_string_lossy()),
    );

    if args.detach {
        let detached = cluster.detach()?;
        if let Some(dir) = &state_dir {
            let path = dir.join(STATE_FILE);
            write_private(&path, &format!("{line}\n"))?;
        }
        println!("{line}");
        let _ = detached;
        return Ok(());
    }

    if let Some(dir) = &state_dir {
        write_private(&dir.join(STATE_FILE), &format!("{line}\n"))?;
    }
    println!("{line}");
    wait_for_end(args.ignore_stdin)?;
    let mut cluster = cluster;
    let _ = cluster.stop();
    let base_is_state_dir = state_dir.as_deref() == Some(cluster.base_dir());
    drop(cluster);
    if let (Some(dir), false) = (&state_dir, base_is_state_dir) {
        let _ = fs::remove_dir_all(dir);
    }
    Ok(())
}

fn write_private(path: &Path, text: &str) -> Result<(), Error> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(io_err(format!("create {}", path.display())))?;
    file.write_all(text.as_bytes())
        .map_err(io_err(format!("write {}", path.display())))
}

fn stdin_is_dev_null() -> bool {
    fs::read_link("/proc/self/fd/0").is_ok_and(|target| target == Path::new("/dev/null"))
}

fn wait_for_end(ignore_stdin: bool) -> Result<(), Error> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(io_err("start a tokio runtime".into()))?;
    let watch_stdin = !ignore_stdin && !stdin_is_dev_null();
    runtime.block_on(async move {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term =
            signal(SignalKind::terminate()).map_err(io_err("install a SIGTERM handler".into()))?;
        let mut int =
            signal(SignalKind::interrupt()).map_err(io_err("install a SIGINT handler".into()))?;
        let (eof_tx, eof_rx) = tokio::sync::oneshot::channel::<()>();
        if watch_stdin {
            std::thread::spawn(move || {
                let mut sink = [0u8; 4096];
                let mut stdin = std::io::stdin();
                while matches!(stdin.read(&mut sink), Ok(n) if n > 0) {}
                let _ = eof_tx.send(());
            });
        }
        let stdin_eof = async move {
            if watch_stdin {
                let _ = eof_rx.await;
            } else {
                std::future::pending::<()>().await;
            }
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
            _ = stdin_eof => {}
        }
        Ok(())
    })
}

fn stop(dir: &Path) -> Result<(), Error> {
    let state = dir.join(STATE_FILE);
    let base = match fs::read_to_string(&state) {
        Ok(json) => json_field(&json, "dir").map(PathBuf::from),
        Err(_) => None,
    }
    .unwrap_or_else(|| dir.to_path_buf());
    if !base.join("data").exists() {
        if dir.exists() {
            fs::remove_dir_all(dir).map_err(io_err(format!("remove {}", dir.display())))?;
            return Ok(());
        }
        return Err(Error::State(format!(
            "no test-bed cluster under {}",
            dir.display()
        )));
    }
    Cluster::stop_detached(&base)?;
    if dir.exists() {
        fs::remove_dir_all(dir).map_err(io_err(format!("remove {}", dir.display())))?;
    }
    Ok(())
}

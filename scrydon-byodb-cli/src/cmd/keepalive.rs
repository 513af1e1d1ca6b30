//! `scrydon-byodb keepalive`: keep a serverless endpoint (Neon) awake during a window, for
//! platforms that idle between workflow runs and cannot change the plan's auto-suspend.

use std::time::Duration;

use clap::Args;
use scrydon_byodb_neon::{Keepalive, KeepaliveStats};
use serde::Serialize;

use crate::{input, output, Outcome};

#[derive(Debug, Args)]
pub(crate) struct KeepaliveArgs {
    /// The DSN (URI or keyword=value), or `-` to read it from standard input.
    dsn: String,
    /// Seconds between two queries; must be below the endpoint's suspend timeout (300 s by
    /// default on Neon).
    #[arg(long, default_value_t = 240)]
    interval: u64,
    /// Seconds to keep the endpoint awake; without it, until SIGINT or SIGTERM.
    #[arg(long)]
    window: Option<u64>,
    /// The endpoint's suspend timeout in seconds, if not Neon's default.
    #[arg(long)]
    suspend_timeout: Option<u64>,
    /// Print the final statistics as JSON.
    #[arg(long)]
    json: bool,
}

/// What the command prints when it ends.
#[derive(Debug, Serialize)]
struct Summary {
    ok: bool,
    connects: u64,
    connect_failures: u64,
    pings: u64,
    ping_failures: u64,
    last_error: Option<String>,
}

impl From<KeepaliveStats> for Summary {
    fn from(s: KeepaliveStats) -> Self {
        Summary {
            ok: s.pings > 0,
            connects: s.connects,
            connect_failures: s.connect_failures,
            pings: s.pings,
            ping_failures: s.ping_failures,
            last_error: s.last_error,
        }
    }
}

pub(crate) fn run(args: KeepaliveArgs) -> Outcome {
    let dsn = match input::read_dsn(&args.dsn) {
        Ok(d) => d,
        Err(e) => {
            output::error(args.json, "invalid_dsn", &e);
            return Outcome::InvalidInput;
        }
    };
    let Some(runtime) = output::runtime(args.json) else {
        return Outcome::Failed;
    };
    let mut builder = Keepalive::builder(dsn).with_interval(Duration::from_secs(args.interval));
    if let Some(w) = args.window {
        builder = builder.with_window(Duration::from_secs(w));
    }
    if let Some(t) = args.suspend_timeout {
        builder = builder.with_suspend_timeout(Duration::from_secs(t));
    }
    let stats = runtime.block_on(async {
        let handle = builder.spawn()?;
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        loop {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => break,
                _ = async {
                    match term.as_mut() {
                        Some(t) => { t.recv().await; }
                        None => std::future::pending::<()>().await,
                    }
                } => break,
                // The task ends by itself when the window is over.
                _ = tokio::time::sleep(Duration::from_millis(200)) => {
                    if handle.stats().finished {
                        break;
                    }
                }
            }
        }
        Ok::<_, scrydon_byodb::Error>(handle.stop().await)
    });
    match stats {
        Ok(stats) => {
            let summary = Summary::from(stats);
            let ok = summary.ok;
            if args.json {
                output::json(&summary);
            } else {
                println!(
                    "keepalive: {} queries, {} failed, {} connections ({} failed)",
                    summary.pings,
                    summary.ping_failures,
                    summary.connects,
                    summary.connect_failures
                );
                if let Some(e) = &summary.last_error {
                    eprintln!("last error: {e}");
                }
            }
            if ok {
                Outcome::Ok
            } else {
                Outcome::Failed
            }
        }
        Err(e) => {
            output::error(args.json, "invalid_input", &e);
            Outcome::InvalidInput
        }
    }
}

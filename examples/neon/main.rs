//! Neon: read the endpoint's auto-suspend, pooler and restore window through the API, and tell
//! where migrations must go. Changes nothing.
//!
//! ```sh
//! export NEON_API_KEY=...   # read by NeonProviderBuilder::from_env
//! echo "$DATABASE_URL" | cargo run -p scrydon-byodb-examples --bin neon
//! ```
//!
//! The DSN is read from standard input so the password never shows in `ps`.
use std::io::Read;
use std::process::ExitCode;

use scrydon_byodb::dsn::Dsn;
use scrydon_byodb::provider::Provider;
use scrydon_byodb_neon::{NeonProviderBuilder, Pooler};

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let mut input = String::new();
    if let Err(e) = std::io::stdin().read_to_string(&mut input) {
        eprintln!("cannot read the DSN from standard input: {e}");
        return ExitCode::from(2);
    }
    let dsn: Dsn = match input.trim_end_matches(['\r', '\n']).parse() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    // The DSN alone says whether this is the -pooler host and where DDL must go.
    let pooler = Pooler::from_dsn(&dsn);
    println!("{:?}", pooler.finding());
    let neon = match NeonProviderBuilder::from_env().with_dsn(&dsn).build() {
        Ok(n) => n,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    match neon.endpoint().await {
        Ok(ep) => println!(
            "endpoint {} is {:?}; suspends after {:?} idle (None: never); pooler {}",
            ep.id,
            ep.current_state,
            ep.suspend_timeout().effective(),
            if ep.pooler_enabled { "on" } else { "off" },
        ),
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    }
    match neon.backup_posture().await {
        Ok(b) => println!("restore window: {b:?}"),
        Err(e) => eprintln!("{e}"),
    }
    ExitCode::SUCCESS
}

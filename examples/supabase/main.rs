//! Supabase: whether the DSN goes through Supavisor in transaction mode (confirmed on the
//! wire), and the direct DSN migrations must use. Changes nothing.
//!
//! ```sh
//! echo "$DATABASE_URL" | cargo run -p scrydon-byodb-examples --bin supabase
//! ```
//!
//! The DSN is read from standard input so the password never shows in `ps`.
use std::io::Read;
use std::process::ExitCode;

use scrydon_byodb::dsn::Dsn;
use scrydon_byodb_neon::Pooler;

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
    match Pooler::detect(&dsn).await {
        Ok(p) => {
            println!("{:?}", p.finding());
            if let Some(direct) = p.direct_endpoint() {
                println!("run migrations through {direct}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

//! Connect to a self-managed or local PostgreSQL and print what the connection looks like.
//!
//! ```sh
//! echo "$DATABASE_URL" | cargo run -p scrydon-byodb-examples --bin local
//! ```
fn main() {}

//! Connect to a local server.
fn main() {}

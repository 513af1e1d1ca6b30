//! One module per subcommand.

pub(crate) mod bootstrap;
pub(crate) mod connect;
pub(crate) mod dsn;
#[cfg(feature = "neon")]
pub(crate) mod keepalive;
pub(crate) mod preflight;
pub(crate) mod render;
pub(crate) mod report;
pub(crate) mod restore;
pub(crate) mod run;
pub(crate) mod verify;

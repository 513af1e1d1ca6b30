//! # scrydon-byodb
//!
//! Takes a Scrydon platform from its bundled in-cluster PostgreSQL to a customer-managed one
//! (AWS RDS/Aurora, GCP Cloud SQL, Azure Database for PostgreSQL Flexible Server, Supabase, Neon,
//! CloudNativePG, the Zalando operator, or any PostgreSQL 15+ with pgvector).
//!
//! Each section of the operator runbook is a module here:
//!
//! | runbook section | module |
//! |---|---|
//! | connection strings | [`dsn`] |
//! | TLS (`sslmode`, `sslrootcert`) | [`tls`] |
//! | connecting, failures explained | [`connect`], [`diagnose`] |
//! | connection pools | [`pool`] |
//!
//! ```
//! use scrydon_byodb::dsn::{Dsn, SslMode};
//!
//! let dsn: Dsn = "postgres://scrydon:s%40cret@pg.example.com:5432/auth?sslmode=verify-full"
//!     .parse()
//!     .unwrap();
//! assert_eq!(dsn.ssl_mode(), SslMode::VerifyFull);
//! assert_eq!(dsn.password(), Some("s@cret"));
//! // Display never shows the password.
//! assert!(!dsn.to_string().contains("s@cret"));
//! ```
#![deny(missing_docs, rustdoc::broken_intra_doc_links)]
#![forbid(unsafe_code)]
#![cfg_attr(not(test), warn(clippy::unwrap_used))]

pub mod connect;
pub mod diagnose;
pub mod dsn;
mod error;
pub mod pool;
mod secret;
pub mod tls;

pub use error::{ConnectFailure, Error, Result};
pub use secret::SecretString;

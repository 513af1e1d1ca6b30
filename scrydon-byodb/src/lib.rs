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
//! | pre-create databases and extension | [`bootstrap`] |
//! | Prerequisites, Provider notes (checked live) | [`preflight`], [`provider`] |
//! | Restore onto managed Postgres | [`restore`] |
//! | Verification (against the database) | [`verify`] |
//! | Why, Compliance mapping | [`compliance`] |
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
//!
//! The whole move embedded in a program, in ten lines (what `scrydon-byodb run` does, stage
//! by stage; each step returns findings to act on, and an [`Error`] only when it could not look):
//!
//! ```no_run
//! use scrydon_byodb::{bootstrap::Bootstrap, compliance::Compliance, SecretString};
//! use scrydon_byodb::preflight::{Preflight, Target};
//! use scrydon_byodb::render::{ChartValues, RenderPlan};
//!
//! # async fn example() -> scrydon_byodb::Result<()> {
//! let admin = "postgres://admin:pw@pg.example.com/postgres?sslmode=verify-full".parse()?;
//! let target = Target::builder(admin).with_app_role("scrydon").build()?;
//! let checks = Preflight::new(target.clone()).run().await?; // read-only
//! let password = SecretString::new("read it from a file, never argv");
//! let bootstrap = Bootstrap::builder(target.clone()).with_password(password.clone()).build()?;
//! let (_plan, applied) = bootstrap.run().await?; // role, databases, pgvector; idempotent
//! let dsns = "postgres://scrydon@pg.example.com/{db}?sslmode=verify-full";
//! RenderPlan::new(ChartValues::chart_defaults())
//!     .with_dsn_template(dsns, Some(password))
//!     .render()?
//!     .write_to("out")?; // values, one Secret per app, helm commands
//! let audit = Compliance::new(target).run().await?; // ISO 27001, NIST, SecNumCloud
//! # let _ = (checks, applied, audit);
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs, rustdoc::broken_intra_doc_links)]
#![forbid(unsafe_code)]
#![cfg_attr(not(test), warn(clippy::unwrap_used))]

pub mod bootstrap;
pub mod catalog;
pub mod compliance;
pub mod connect;
pub mod diagnose;
pub mod dsn;
mod error;
pub mod pool;
pub mod preflight;
pub mod provider;
pub mod render;
pub mod report;
pub mod restore;
mod secret;
pub mod tls;
pub mod verify;

pub use error::{BoxError, ConnectFailure, Error, Result};
pub use secret::SecretString;

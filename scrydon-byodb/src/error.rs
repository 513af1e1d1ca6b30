//! The crate's one error type.
//!
//! `Error` means an operation could not be carried out. What a check *finds* (a server without
//! pgvector, a DSN without `sslmode`) is a finding, not an error.

use std::fmt;
use std::path::PathBuf;

/// A boxed error from a lower layer (I/O, TLS, PostgreSQL, a cloud SDK).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong. Variants are by meaning; the `source` carries the lower layer's
/// error. No variant's `Display` or `Debug` contains a password: values that may be secret are
/// masked before they are stored.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A connection string could not be parsed, or a parameter in it has a value libpq would
    /// refuse. `field` is the libpq keyword (or URI part) at fault, when there is one.
    #[error("invalid connection string{}: {reason}", field.as_deref().map(|f| format!(" ({f})")).unwrap_or_default())]
    InvalidDsn {
        /// The keyword or URI part at fault (`port`, `sslmode`, `host`, `uri`, ...).
        field: Option<String>,
        /// What is wrong, naming the offending value (passwords masked).
        reason: String,
    },

    /// Some other input (a name, a file, an option) was refused before anything was done.
    #[error("invalid {field} {value:?}: {reason}")]
    InvalidInput {
        /// The input at fault (`--app-role`, `component`, ...).
        field: String,
        /// The offending value, masked if it may be secret.
        value: String,
        /// Why it was refused.
        reason: String,
    },

    /// A file could not be read or written.
    #[error("{}: {source}", path.as_ref().map(|p| p.display().to_string()).unwrap_or_else(|| "I/O".into()))]
    Io {
        /// The file concerned, when there is one.
        path: Option<PathBuf>,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// The TLS settings cannot be turned into a working TLS client (unreadable or empty
    /// `sslrootcert`, `sslrootcert=system` with `verify-ca`, a client key without a certificate).
    #[error("TLS configuration: {reason}")]
    TlsConfig {
        /// What is wrong.
        reason: String,
        /// The underlying error, if any.
        #[source]
        source: Option<BoxError>,
    },

    /// A connection could not be established. `failure` says why, by kind.
    #[error("could not connect to {target}: {failure}")]
    Connect {
        /// The host and port (or socket) tried last.
        target: String,
        /// The kind of failure.
        failure: ConnectFailure,
        /// The underlying error.
        #[source]
        source: Option<BoxError>,
    },

    /// The server answered a statement with an error.
    #[error("{operation}: server error {code}")]
    Database {
        /// What was being done.
        operation: String,
        /// The SQLSTATE.
        code: String,
        /// The error as the driver reported it.
        #[source]
        source: tokio_postgres::Error,
    },

    /// A connection pool could not hand out a connection.
    #[error("connection pool: {reason}")]
    Pool {
        /// What went wrong.
        reason: String,
        /// The underlying error.
        #[source]
        source: Option<BoxError>,
    },

    /// The provider cannot do this (see its capabilities).
    #[error("{operation} is not supported by the {provider} provider")]
    NotSupported {
        /// The operation asked for.
        operation: &'static str,
        /// The provider's name.
        provider: String,
    },

    /// A provider's API failed.
    #[error("{provider}: {reason}")]
    Provider {
        /// The provider's name.
        provider: String,
        /// What went wrong.
        reason: String,
        /// The underlying error.
        #[source]
        source: Option<BoxError>,
    },
}

impl Error {
    /// [`Error::Database`] for a failed statement, classified by SQLSTATE; without one the
    /// connection broke (`08006` connection_failure).
    pub(crate) fn database(operation: impl Into<String>, source: tokio_postgres::Error) -> Self {
        Error::Database {
            operation: operation.into(),
            code: source.code().map_or_else(
                || {
                    tokio_postgres::error::SqlState::CONNECTION_FAILURE
                        .code()
                        .to_owned()
                },
                |c| c.code().to_owned(),
            ),
            source,
        }
    }

    /// Shorthand for [`Error::InvalidDsn`].
    pub(crate) fn dsn(field: impl Into<Option<String>>, reason: impl Into<String>) -> Self {
        Error::InvalidDsn {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// Shorthand for [`Error::InvalidInput`].
    pub(crate) fn input(
        field: impl Into<String>,
        value: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        Error::InvalidInput {
            field: field.into(),
            value: value.into(),
            reason: reason.into(),
        }
    }

    /// Shorthand for [`Error::Io`] with a path.
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: Some(path.into()),
            source,
        }
    }

    /// The kind of connection failure, when this is one.
    pub fn connect_failure(&self) -> Option<ConnectFailure> {
        match self {
            Error::Connect { failure, .. } => Some(*failure),
            _ => None,
        }
    }

    /// The SQLSTATE of a server error, when this is one.
    pub fn sqlstate(&self) -> Option<&str> {
        match self {
            Error::Database { code, .. } => Some(code),
            _ => None,
        }
    }
}

/// Why a connection could not be established, by kind. Classified from SQLSTATEs, I/O error
/// kinds and TLS alert/verification codes, never from message text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ConnectFailure {
    /// Nothing listens at the address (TCP RST), or the socket file is missing.
    Refused,
    /// The host name did not resolve.
    Dns,
    /// No answer within `connect_timeout`.
    Timeout,
    /// The server (its pg_hba.conf, `rds.force_ssl`, `require_secure_transport`) refuses
    /// unencrypted connections and the DSN asked for none.
    ServerRequiresTls,
    /// The DSN requires TLS and the server does not offer it.
    ServerDoesNotSupportTls,
    /// The server's certificate does not chain to the trusted roots (`sslrootcert`).
    CertificateUntrusted,
    /// The certificate is trusted but not issued for the host name (`verify-full`).
    CertificateNameMismatch,
    /// The certificate has expired or is not yet valid.
    CertificateExpired,
    /// The TLS handshake failed for another reason (protocol, alert, client certificate).
    TlsHandshake,
    /// The server rejected the credentials (SQLSTATE 28P01), or refused the role (28000).
    AuthenticationFailed,
    /// The database named in the DSN does not exist (SQLSTATE 3D000).
    DatabaseMissing,
    /// The role may not connect to the database: it lacks the CONNECT privilege (SQLSTATE
    /// 42501).
    PermissionDenied,
    /// The server has no connection slots left (SQLSTATE 53300).
    TooManyConnections,
    /// The server is starting up or shutting down (SQLSTATE 57P03).
    ServerUnavailable,
    /// `channel_binding=require` and the server did not offer SCRAM with channel binding.
    ChannelBindingUnavailable,
    /// Every host was reachable but none matched `target_session_attrs`.
    NoSuitableHost,
    /// Any other failure (protocol error, an I/O error of another kind).
    Other,
}

impl ConnectFailure {
    /// A stable identifier, used in JSON output and by [`crate::diagnose`].
    pub fn id(self) -> &'static str {
        match self {
            ConnectFailure::Refused => "refused",
            ConnectFailure::Dns => "dns",
            ConnectFailure::Timeout => "timeout",
            ConnectFailure::ServerRequiresTls => "server_requires_tls",
            ConnectFailure::ServerDoesNotSupportTls => "server_does_not_support_tls",
            ConnectFailure::CertificateUntrusted => "certificate_untrusted",
            ConnectFailure::CertificateNameMismatch => "certificate_name_mismatch",
            ConnectFailure::CertificateExpired => "certificate_expired",
            ConnectFailure::TlsHandshake => "tls_handshake",
            ConnectFailure::AuthenticationFailed => "authentication_failed",
            ConnectFailure::DatabaseMissing => "database_missing",
            ConnectFailure::PermissionDenied => "permission_denied",
            ConnectFailure::TooManyConnections => "too_many_connections",
            ConnectFailure::ServerUnavailable => "server_unavailable",
            ConnectFailure::ChannelBindingUnavailable => "channel_binding_unavailable",
            ConnectFailure::NoSuitableHost => "no_suitable_host",
            ConnectFailure::Other => "other",
        }
    }
}

impl fmt::Display for ConnectFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            ConnectFailure::Refused => "connection refused",
            ConnectFailure::Dns => "host name did not resolve",
            ConnectFailure::Timeout => "timed out",
            ConnectFailure::ServerRequiresTls => "the server requires TLS",
            ConnectFailure::ServerDoesNotSupportTls => "the server does not support TLS",
            ConnectFailure::CertificateUntrusted => "server certificate not trusted",
            ConnectFailure::CertificateNameMismatch => {
                "server certificate does not match the host name"
            }
            ConnectFailure::CertificateExpired => "server certificate expired or not yet valid",
            ConnectFailure::TlsHandshake => "TLS handshake failed",
            ConnectFailure::AuthenticationFailed => "authentication failed",
            ConnectFailure::DatabaseMissing => "database does not exist",
            ConnectFailure::PermissionDenied => "permission denied for the database",
            ConnectFailure::TooManyConnections => "too many connections",
            ConnectFailure::ServerUnavailable => "server starting up or shutting down",
            ConnectFailure::ChannelBindingUnavailable => "channel binding required but not offered",
            ConnectFailure::NoSuitableHost => "no host matched target_session_attrs",
            ConnectFailure::Other => "connection failed",
        };
        f.write_str(text)
    }
}

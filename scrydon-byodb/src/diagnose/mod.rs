//! Every failure explained, the way the runbook's Troubleshooting section does.
//!
//! One table maps a failure kind to a [`Diagnosis`]: a stable id, what it means, what to do, and
//! the runbook entry it corresponds to. Every other part of the crate (connect, preflight,
//! bootstrap, restore, verify) turns its failures into diagnoses here, so an operator reads the
//! same advice for the same failure wherever it shows up. Classification happens before this
//! table — by SQLSTATE, I/O error kind and TLS error, never by message text.

use serde::Serialize;

use crate::{ConnectFailure, Error};

/// The runbook's Troubleshooting entries a diagnosis can point to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RunbookEntry {
    /// "CREATE EXTENSION vector fails".
    CreateExtensionVectorFails,
    /// "App pods CrashLoopBackOff with ECONNREFUSED or SSL required".
    ConnRefusedOrSslRequired,
    /// "Migrations hang".
    MigrationsHang,
    /// "Dapr workflow state table not found".
    DaprWorkflowStateTable,
    /// "Pre-create databases and extension".
    PreCreateDatabases,
    /// Provider notes (TLS, CA bundles).
    ProviderNotes,
}

impl RunbookEntry {
    /// The heading of the runbook section, as written there.
    pub fn heading(self) -> &'static str {
        match self {
            RunbookEntry::CreateExtensionVectorFails => {
                "Troubleshooting: CREATE EXTENSION vector fails"
            }
            RunbookEntry::ConnRefusedOrSslRequired => {
                "Troubleshooting: App pods CrashLoopBackOff with ECONNREFUSED or SSL required"
            }
            RunbookEntry::MigrationsHang => "Troubleshooting: Migrations hang",
            RunbookEntry::DaprWorkflowStateTable => {
                "Troubleshooting: Dapr workflow state table not found"
            }
            RunbookEntry::PreCreateDatabases => "Pre-create databases and extension",
            RunbookEntry::ProviderNotes => "Provider notes",
        }
    }
}

/// What a failure means and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnosis {
    /// Stable identifier (`connect.refused`, `connect.server_requires_tls`, ...).
    pub id: &'static str,
    /// One line: what happened.
    pub summary: &'static str,
    /// What to do, in the operator's terms.
    pub remediation: &'static str,
    /// The runbook entry this corresponds to, if any.
    pub runbook: Option<RunbookEntry>,
}

/// One row of the table.
struct Row {
    failure: ConnectFailure,
    diagnosis: Diagnosis,
}

const fn row(
    failure: ConnectFailure,
    id: &'static str,
    summary: &'static str,
    remediation: &'static str,
    runbook: Option<RunbookEntry>,
) -> Row {
    Row {
        failure,
        diagnosis: Diagnosis {
            id,
            summary,
            remediation,
            runbook,
        },
    }
}

use ConnectFailure as F;
use RunbookEntry as R;

const CONNECT: &[Row] = &[
    row(
        F::Refused,
        "connect.refused",
        "Nothing accepted the connection at that host and port.",
        "Check the DSN's host and port against the provider's endpoint, that the server is running, and that a network policy or security group/firewall allows egress from the cluster to the database.",
        Some(R::ConnRefusedOrSslRequired),
    ),
    row(
        F::Dns,
        "connect.dns",
        "The host name in the DSN does not resolve.",
        "Check the host name for typos; with private networking, check that the private DNS zone is linked to the cluster's network.",
        Some(R::ConnRefusedOrSslRequired),
    ),
    row(
        F::Timeout,
        "connect.timeout",
        "No answer within the connect timeout.",
        "A firewall or security group is probably dropping the traffic: allow the cluster's egress addresses, or use private networking (VPC peering, Private Service Connect, a private endpoint).",
        Some(R::ConnRefusedOrSslRequired),
    ),
    row(
        F::ServerRequiresTls,
        "connect.server_requires_tls",
        "The server accepts only encrypted connections and the DSN asked for none.",
        "Use sslmode=require at least, verify-full with the provider's CA bundle (sslrootcert=...) preferably.",
        Some(R::ConnRefusedOrSslRequired),
    ),
    row(
        F::ServerDoesNotSupportTls,
        "connect.server_does_not_support_tls",
        "The DSN requires TLS and the server does not offer it.",
        "Enable TLS on the server (ssl=on with a certificate), or point the DSN at the managed endpoint, which terminates TLS itself.",
        Some(R::ConnRefusedOrSslRequired),
    ),
    row(
        F::CertificateUntrusted,
        "connect.certificate_untrusted",
        "The server's certificate does not chain to the CA bundle given in sslrootcert.",
        "Download the provider's CA bundle (RDS global bundle, Azure's DigiCert/Microsoft roots, Cloud SQL server CA) and point sslrootcert at it; a bundle for the wrong region or an expired CA gives this error.",
        Some(R::ProviderNotes),
    ),
    row(
        F::CertificateNameMismatch,
        "connect.certificate_name_mismatch",
        "The certificate is trusted but was not issued for the host name in the DSN.",
        "Use the provider's endpoint host name exactly as issued (not an IP address or a CNAME of your own), or sslmode=verify-ca if you connect through an alias you cannot avoid.",
        Some(R::ProviderNotes),
    ),
    row(
        F::CertificateExpired,
        "connect.certificate_expired",
        "The server's certificate has expired or is not yet valid.",
        "Rotate the server certificate (on RDS: modify the instance's CA certificate identifier); check the client clock.",
        Some(R::ProviderNotes),
    ),
    row(
        F::TlsHandshake,
        "connect.tls_handshake",
        "The TLS handshake failed (protocol version, cipher, or a client certificate the server required).",
        "Check ssl_min_protocol_version on the server and that sslcert/sslkey are given when the server requires client certificates.",
        Some(R::ConnRefusedOrSslRequired),
    ),
    row(
        F::AuthenticationFailed,
        "connect.authentication_failed",
        "The server rejected the user name or password.",
        "Check the role name and password in the DSN (on Supabase the pooled user is postgres.<project-ref>); re-set the password with scrydon-byodb bootstrap --reset-password if it was lost.",
        Some(R::ConnRefusedOrSslRequired),
    ),
    row(
        F::DatabaseMissing,
        "connect.database_missing",
        "The database named in the DSN does not exist.",
        "Create it before helm install (scrydon-byodb bootstrap does); a missing database is what puts the migration Jobs in CrashLoopBackOff.",
        Some(R::PreCreateDatabases),
    ),
    row(
        F::TooManyConnections,
        "connect.too_many_connections",
        "The server has no free connection slots.",
        "Put PgBouncer or the provider's pooler in front, lower the pool sizes, or move to a tier with more max_connections.",
        None,
    ),
    row(
        F::ServerUnavailable,
        "connect.server_unavailable",
        "The server is starting up, shutting down or in recovery.",
        "Wait for the server to finish starting (a Neon endpoint waking up, a failover in progress) and retry.",
        None,
    ),
    row(
        F::ChannelBindingUnavailable,
        "connect.channel_binding_unavailable",
        "channel_binding=require, but the server did not use SCRAM with channel binding.",
        "Use TLS (sslmode=require or stronger) with SCRAM-SHA-256 passwords (password_encryption=scram-sha-256), or drop channel_binding=require.",
        None,
    ),
    row(
        F::NoSuitableHost,
        "connect.no_suitable_host",
        "Every host answered, but none matched target_session_attrs.",
        "Point the DSN at the primary (writer) endpoint, or relax target_session_attrs.",
        None,
    ),
    row(
        F::Other,
        "connect.other",
        "The connection failed for a reason not classified further.",
        "Run scrydon-byodb connect <DSN> for details and check the server log.",
        None,
    ),
];

/// The diagnosis for a connection failure.
pub fn for_connect_failure(failure: ConnectFailure) -> &'static Diagnosis {
    CONNECT
        .iter()
        .find(|r| r.failure == failure)
        .map(|r| &r.diagnosis)
        .unwrap_or(&CONNECT[CONNECT.len() - 1].diagnosis)
}

/// The diagnosis for an error, when it is a failure the table knows.
pub fn for_error(error: &Error) -> Option<&'static Diagnosis> {
    error.connect_failure().map(for_connect_failure)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: &[ConnectFailure] = &[
        F::Refused,
        F::Dns,
        F::Timeout,
        F::ServerRequiresTls,
        F::ServerDoesNotSupportTls,
        F::CertificateUntrusted,
        F::CertificateNameMismatch,
        F::CertificateExpired,
        F::TlsHandshake,
        F::AuthenticationFailed,
        F::DatabaseMissing,
        F::TooManyConnections,
        F::ServerUnavailable,
        F::ChannelBindingUnavailable,
        F::NoSuitableHost,
        F::Other,
    ];

    /// Fails to compile when a failure kind is added without being listed in `ALL`.
    #[allow(dead_code)]
    fn all_is_exhaustive(f: ConnectFailure) {
        match f {
            F::Refused
            | F::Dns
            | F::Timeout
            | F::ServerRequiresTls
            | F::ServerDoesNotSupportTls
            | F::CertificateUntrusted
            | F::CertificateNameMismatch
            | F::CertificateExpired
            | F::TlsHandshake
            | F::AuthenticationFailed
            | F::DatabaseMissing
            | F::TooManyConnections
            | F::ServerUnavailable
            | F::ChannelBindingUnavailable
            | F::NoSuitableHost
            | F::Other => {}
        }
    }

    #[test]
    fn every_connect_failure_has_its_own_row() {
        for f in ALL {
            let d = for_connect_failure(*f);
            assert_eq!(d.id, format!("connect.{}", f.id()), "row for {f:?}");
        }
        assert_eq!(CONNECT.len(), ALL.len(), "one row per failure kind");
    }

    #[test]
    fn ids_are_unique() {
        let mut ids: Vec<_> = CONNECT.iter().map(|r| r.diagnosis.id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), CONNECT.len());
    }
}

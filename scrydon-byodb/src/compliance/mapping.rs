//! The mapping, as data: each control and the evidence ids that decide it.
//!
//! One table for every provider. A control is decided only by the evidence listed here; a test
//! checks that every listed id exists and that every check claiming a control (in
//! [`CLAIMS`]) is listed under it.

use crate::report::ids;

/// A compliance control the move to a managed PostgreSQL bears on (runbook: Compliance mapping).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Control {
    /// ISO/IEC 27001:2022 Annex A 8.13, information backup.
    Iso27001A813,
    /// ISO/IEC 27001:2022 Annex A 8.24, use of cryptography (TLS in transit).
    Iso27001A824,
    /// NIST SP 800-53 SC-8, transmission confidentiality and integrity.
    NistSc8,
    /// NIST SP 800-53 CP-9, system backup.
    NistCp9,
    /// NIST SP 800-53 CP-10, system recovery and reconstitution.
    NistCp10,
    /// SecNumCloud 3.2, continuity (regional or multi-AZ replication).
    SecNumCloudContinuity,
}

impl Control {
    /// Every control, in report order.
    pub const ALL: [Control; 6] = [
        Control::Iso27001A813,
        Control::Iso27001A824,
        Control::NistSc8,
        Control::NistCp9,
        Control::NistCp10,
        Control::SecNumCloudContinuity,
    ];

    /// Stable id (`iso27001.a.8.13`, `nist.sc-8`, ...).
    pub fn id(self) -> &'static str {
        match self {
            Control::Iso27001A813 => "iso27001.a.8.13",
            Control::Iso27001A824 => "iso27001.a.8.24",
            Control::NistSc8 => "nist.sc-8",
            Control::NistCp9 => "nist.cp-9",
            Control::NistCp10 => "nist.cp-10",
            Control::SecNumCloudContinuity => "secnumcloud.3.2.continuity",
        }
    }

    /// The reference as auditors write it (also what findings carry in `references`).
    pub fn reference(self) -> &'static str {
        match self {
            Control::Iso27001A813 => "ISO 27001:2022 A.8.13",
            Control::Iso27001A824 => "ISO 27001:2022 A.8.24",
            Control::NistSc8 => "NIST SC-8",
            Control::NistCp9 => "NIST CP-9",
            Control::NistCp10 => "NIST CP-10",
            Control::SecNumCloudContinuity => "SecNumCloud 3.2",
        }
    }

    /// What the control asks, in a few words.
    pub fn title(self) -> &'static str {
        match self {
            Control::Iso27001A813 => "Information backup",
            Control::Iso27001A824 => "Use of cryptography: TLS in transit",
            Control::NistSc8 => "Transmission confidentiality and integrity",
            Control::NistCp9 => "System backup (point-in-time recovery)",
            Control::NistCp10 => "System recovery and reconstitution (RPO/RTO)",
            Control::SecNumCloudContinuity => "Continuity: regional or multi-AZ replication",
        }
    }

    /// The evidence ids that decide this control ([`MAPPING`]).
    pub fn evidence_ids(self) -> &'static [&'static str] {
        MAPPING
            .iter()
            .find(|(c, _)| *c == self)
            .map(|(_, e)| *e)
            .unwrap_or(&[])
    }
}

/// Serialised as its [`id`](Control::id).
impl serde::Serialize for Control {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.id())
    }
}

const TLS_EVIDENCE: &[&str] = &[
    ids::PREFLIGHT_TLS_SESSION,
    ids::PREFLIGHT_TLS_SSLMODE,
    ids::PREFLIGHT_TLS_ENFORCED,
    ids::PREFLIGHT_RDS_FORCE_SSL,
    ids::PROVIDER_TLS_ENFORCED,
    ids::PROVIDER_TLS_MIN_VERSION,
    ids::COMPLIANCE_SERVER_TLS,
];

/// Control → the evidence ids that decide it.
pub const MAPPING: &[(Control, &[&str])] = &[
    (
        Control::Iso27001A813,
        &[ids::COMPLIANCE_WAL_ARCHIVING, ids::PREFLIGHT_BACKUP],
    ),
    (
        Control::Iso27001A824,
        &[
            ids::PREFLIGHT_TLS_SESSION,
            ids::PREFLIGHT_TLS_SSLMODE,
            ids::PREFLIGHT_TLS_ENFORCED,
            ids::PREFLIGHT_RDS_FORCE_SSL,
            ids::PROVIDER_TLS_ENFORCED,
            ids::PROVIDER_TLS_MIN_VERSION,
            ids::COMPLIANCE_SERVER_TLS,
            ids::COMPLIANCE_PASSWORD_ENCRYPTION,
        ],
    ),
    (Control::NistSc8, TLS_EVIDENCE),
    (
        Control::NistCp9,
        &[ids::COMPLIANCE_WAL_ARCHIVING, ids::PREFLIGHT_BACKUP],
    ),
    (
        Control::NistCp10,
        &[
            ids::COMPLIANCE_WAL_ARCHIVING,
            ids::PREFLIGHT_BACKUP,
            ids::COMPLIANCE_SYNC_REPLICATION,
            ids::PREFLIGHT_HIGH_AVAILABILITY,
        ],
    ),
    (
        Control::SecNumCloudContinuity,
        &[
            ids::COMPLIANCE_SYNC_REPLICATION,
            ids::PREFLIGHT_HIGH_AVAILABILITY,
        ],
    ),
];

/// Check id → the controls it claims to bear on (what its findings cite in `references`).
pub const CLAIMS: &[(&str, &[Control])] = &[
    (
        ids::PREFLIGHT_TLS_SESSION,
        &[Control::Iso27001A824, Control::NistSc8],
    ),
    (
        ids::PREFLIGHT_TLS_SSLMODE,
        &[Control::Iso27001A824, Control::NistSc8],
    ),
    (
        ids::PREFLIGHT_TLS_ENFORCED,
        &[Control::Iso27001A824, Control::NistSc8],
    ),
    (
        ids::PREFLIGHT_RDS_FORCE_SSL,
        &[Control::Iso27001A824, Control::NistSc8],
    ),
    (
        ids::PROVIDER_TLS_ENFORCED,
        &[Control::Iso27001A824, Control::NistSc8],
    ),
    (
        ids::PROVIDER_TLS_MIN_VERSION,
        &[Control::Iso27001A824, Control::NistSc8],
    ),
    (
        ids::PREFLIGHT_BACKUP,
        &[Control::Iso27001A813, Control::NistCp9, Control::NistCp10],
    ),
    (
        ids::PREFLIGHT_HIGH_AVAILABILITY,
        &[Control::SecNumCloudContinuity, Control::NistCp10],
    ),
    (
        ids::COMPLIANCE_WAL_ARCHIVING,
        &[Control::Iso27001A813, Control::NistCp9, Control::NistCp10],
    ),
    (
        ids::COMPLIANCE_SYNC_REPLICATION,
        &[Control::SecNumCloudContinuity, Control::NistCp10],
    ),
    (
        ids::COMPLIANCE_SERVER_TLS,
        &[Control::Iso27001A824, Control::NistSc8],
    ),
    (
        ids::COMPLIANCE_PASSWORD_ENCRYPTION,
        &[Control::Iso27001A824],
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_control_is_mapped_to_existing_checks() {
        for control in Control::ALL {
            let evidence = control.evidence_ids();
            assert!(!evidence.is_empty(), "{} has no evidence", control.id());
            for id in evidence {
                assert!(
                    ids::is_known(id),
                    "{} points at {id}, which is no check",
                    control.id()
                );
            }
        }
        assert_eq!(MAPPING.len(), Control::ALL.len());
    }

    #[test]
    fn every_claim_is_mapped_and_every_mapping_is_claimed() {
        for (check, controls) in CLAIMS {
            assert!(ids::is_known(check), "{check} is no check");
            for c in *controls {
                assert!(
                    c.evidence_ids().contains(check),
                    "{check} claims {} but is not mapped to it",
                    c.id()
                );
            }
        }
        for (control, evidence) in MAPPING {
            for id in *evidence {
                let claimed = CLAIMS
                    .iter()
                    .any(|(check, cs)| check == id && cs.contains(control));
                assert!(
                    claimed,
                    "{} is decided by {id}, which does not claim it",
                    control.id()
                );
            }
        }
    }

    #[test]
    fn compliance_ids_are_all_claimed() {
        for id in ids::COMPLIANCE {
            assert!(
                CLAIMS.iter().any(|(c, _)| c == id),
                "{id} claims no control"
            );
        }
    }
}

//! Certificate inspection: summaries, libpq's host-name rules, the channel-binding hash.

use std::net::IpAddr;

use sha2::{Digest, Sha256, Sha384, Sha512};
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

/// Subject, issuer and validity of one certificate.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CertificateSummary {
    /// The subject, RFC 4514 style (`CN=db.example.com, O=Example`).
    pub subject: String,
    /// The issuer, same format.
    pub issuer: String,
    /// Start of validity, RFC 3339 UTC.
    pub not_before: String,
    /// End of validity, RFC 3339 UTC.
    pub not_after: String,
    /// End of validity, seconds since the Unix epoch.
    pub not_after_unix: i64,
}

/// Summarizes a DER certificate; `None` when it does not parse.
pub(crate) fn summarize(der: &[u8]) -> Option<CertificateSummary> {
    let (_, cert) = X509Certificate::from_der(der).ok()?;
    let validity = cert.validity();
    Some(CertificateSummary {
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        not_before: rfc3339(validity.not_before.timestamp()),
        not_after: rfc3339(validity.not_after.timestamp()),
        not_after_unix: validity.not_after.timestamp(),
    })
}

/// Formats seconds since the epoch as `YYYY-MM-DDTHH:MM:SSZ`.
pub(crate) fn rfc3339(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        (secs % 3600) / 60,
        secs % 60
    )
}

/// The outcome of a host-name check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NameCheck {
    /// A SAN (or the CN fallback) matches.
    Match,
    /// Nothing matches.
    Mismatch,
    /// The certificate is unusable for a name check (unparsable, embedded NUL, bad IP length).
    Invalid,
}

/// libpq's `verify-full` host-name check (`pq_verify_peer_name_matches_certificate`,
/// PostgreSQL 14+):
///
/// * `dNSName` SANs are compared case-insensitively, with a leading `*.` wildcard matching
///   exactly one (non-empty) label;
/// * `iPAddress` SANs are compared as addresses when the host is an IP literal;
/// * the first Common Name is checked (same string rules) only when the certificate has no SAN
///   *of the host's type* (DNS for names, IP for addresses);
/// * a name with an embedded NUL or an IP SAN of a length other than 4 or 16 stops the check
///   with a failure.
pub(crate) fn check_host_name(der: &[u8], host: &str) -> NameCheck {
    let Ok((_, cert)) = X509Certificate::from_der(der) else {
        return NameCheck::Invalid;
    };
    let host_ip: Option<IpAddr> = host.parse().ok();
    let mut check_cn = true;

    match cert.subject_alternative_name() {
        Ok(Some(san)) => {
            for name in &san.value.general_names {
                let (is_dns, outcome) = match name {
                    GeneralName::DNSName(n) => (true, match_name(n.as_bytes(), host)),
                    GeneralName::IPAddress(bytes) => (false, match_ip(bytes, host_ip)),
                    // A dNSName that is not valid UTF-8: same type, never matches an ASCII host.
                    GeneralName::Invalid(tag, data) if tag.0 == 2 => (true, match_name(data, host)),
                    _ => continue,
                };
                if is_dns == host_ip.is_none() {
                    check_cn = false;
                }
                match outcome {
                    NameCheck::Mismatch => {}
                    decided => return decided,
                }
            }
        }
        Ok(None) => {}
        // A malformed (or duplicated) SAN extension: OpenSSL refuses such certificates.
        Err(_) => return NameCheck::Invalid,
    }

    if check_cn {
        if let Some(cn) = cert.subject().iter_common_name().next() {
            return match_name(cn.as_slice(), host);
        }
    }
    NameCheck::Mismatch
}

/// The first Common Name equals `expected` exactly (Cloud SQL style check).
pub(crate) fn common_name_equals(der: &[u8], expected: &str) -> NameCheck {
    let Ok((_, cert)) = X509Certificate::from_der(der) else {
        return NameCheck::Invalid;
    };
    let matches = cert
        .subject()
        .iter_common_name()
        .next()
        .is_some_and(|cn| cn.as_slice() == expected.as_bytes());
    if matches {
        NameCheck::Match
    } else {
        NameCheck::Mismatch
    }
}

fn match_name(name: &[u8], host: &str) -> NameCheck {
    if name.contains(&0) {
        return NameCheck::Invalid;
    }
    if name.eq_ignore_ascii_case(host.as_bytes()) || wildcard_match(name, host.as_bytes()) {
        NameCheck::Match
    } else {
        NameCheck::Mismatch
    }
}

/// libpq's `wildcard_certificate_match`: `*.rest` matches `label.rest` where `label` has no dot.
fn wildcard_match(pattern: &[u8], host: &[u8]) -> bool {
    if pattern.len() < 3 || pattern[0] != b'*' || pattern[1] != b'.' {
        return false;
    }
    if pattern.len() > host.len() {
        return false;
    }
    let suffix = &pattern[1..];
    let start = host.len() - suffix.len();
    if !host[start..].eq_ignore_ascii_case(suffix) {
        return false;
    }
    // No dot in the part the `*` stands for.
    !host[..start].contains(&b'.')
}

fn match_ip(bytes: &[u8], host_ip: Option<IpAddr>) -> NameCheck {
    match (bytes.len(), host_ip) {
        (4, Some(IpAddr::V4(ip))) if ip.octets() == bytes => NameCheck::Match,
        (16, Some(IpAddr::V6(ip))) if ip.octets() == bytes => NameCheck::Match,
        (4 | 16, _) => NameCheck::Mismatch,
        _ => NameCheck::Invalid,
    }
}

/// RFC 5929 `tls-server-end-point`: the hash of the server certificate with its signature's
/// hash algorithm, SHA-256 for MD5/SHA-1 (and for algorithms without one, as a fallback).
pub(crate) fn tls_server_end_point(der: &[u8]) -> Vec<u8> {
    let oid = X509Certificate::from_der(der)
        .map(|(_, c)| c.signature_algorithm.algorithm.to_id_string())
        .unwrap_or_default();
    match oid.as_str() {
        // sha384WithRSAEncryption, ecdsa-with-SHA384
        "1.2.840.113549.1.1.12" | "1.2.840.10045.4.3.3" => Sha384::digest(der).to_vec(),
        // sha512WithRSAEncryption, ecdsa-with-SHA512, Ed25519 (PostgreSQL/OpenSSL use SHA-512)
        "1.2.840.113549.1.1.13" | "1.2.840.10045.4.3.4" | "1.3.101.112" => {
            Sha512::digest(der).to_vec()
        }
        _ => Sha256::digest(der).to_vec(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;

    fn cert(cn: Option<&str>, dns: &[&str], ips: &[&str]) -> Vec<u8> {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        if let Some(cn) = cn {
            params
                .distinguished_name
                .push(rcgen::DnType::CommonName, cn);
        }
        for d in dns {
            params
                .subject_alt_names
                .push(rcgen::SanType::DnsName((*d).try_into().unwrap()));
        }
        for ip in ips {
            params
                .subject_alt_names
                .push(rcgen::SanType::IpAddress(ip.parse().unwrap()));
        }
        let key = rcgen::KeyPair::generate().unwrap();
        params.self_signed(&key).unwrap().der().to_vec()
    }

    #[test]
    fn dns_san_exact_and_case_insensitive() {
        let c = cert(Some("ignored.example"), &["db.example.com"], &[]);
        assert_eq!(check_host_name(&c, "db.example.com"), NameCheck::Match);
        assert_eq!(check_host_name(&c, "DB.Example.COM"), NameCheck::Match);
        assert_eq!(
            check_host_name(&c, "other.example.com"),
            NameCheck::Mismatch
        );
        // CN is not consulted when a DNS SAN exists.
        assert_eq!(check_host_name(&c, "ignored.example"), NameCheck::Mismatch);
    }

    #[test]
    fn wildcard_matches_one_label() {
        let c = cert(None, &["*.example.com"], &[]);
        assert_eq!(check_host_name(&c, "db.example.com"), NameCheck::Match);
        assert_eq!(check_host_name(&c, "a.b.example.com"), NameCheck::Mismatch);
        assert_eq!(check_host_name(&c, "example.com"), NameCheck::Mismatch);
        assert!(!wildcard_match(b"*.example.com", b".example.com"));
        assert!(!wildcard_match(b"db*.example.com", b"db1.example.com"));
    }

    #[test]
    fn ip_san_compared_as_address() {
        let c = cert(None, &[], &["127.0.0.1", "::1"]);
        assert_eq!(check_host_name(&c, "127.0.0.1"), NameCheck::Match);
        assert_eq!(check_host_name(&c, "::1"), NameCheck::Match);
        assert_eq!(check_host_name(&c, "0:0:0:0:0:0:0:1"), NameCheck::Match);
        assert_eq!(check_host_name(&c, "127.0.0.2"), NameCheck::Mismatch);
        assert_eq!(check_host_name(&c, "localhost"), NameCheck::Mismatch);
    }

    #[test]
    fn cn_fallback_only_without_san_of_the_host_type() {
        // CN-only certificate.
        let c = cert(Some("localhost"), &[], &[]);
        assert_eq!(check_host_name(&c, "localhost"), NameCheck::Match);
        assert_eq!(check_host_name(&c, "LOCALHOST"), NameCheck::Match);
        assert_eq!(check_host_name(&c, "127.0.0.1"), NameCheck::Mismatch);
        // CN wildcard, same rules.
        let c = cert(Some("*.example.com"), &[], &[]);
        assert_eq!(check_host_name(&c, "db.example.com"), NameCheck::Match);
        assert_eq!(check_host_name(&c, "a.b.example.com"), NameCheck::Mismatch);
        // Only an IP SAN: a DNS host falls back to the CN (libpq 14+).
        let c = cert(Some("localhost"), &[], &["10.0.0.1"]);
        assert_eq!(check_host_name(&c, "localhost"), NameCheck::Match);
        assert_eq!(check_host_name(&c, "10.0.0.1"), NameCheck::Match);
        // Only a DNS SAN: an IP host falls back to the CN.
        let c = cert(Some("127.0.0.1"), &["db.example.com"], &[]);
        assert_eq!(check_host_name(&c, "127.0.0.1"), NameCheck::Match);
        // ... but a DNS host does not.
        let c = cert(Some("localhost"), &["db.example.com"], &[]);
        assert_eq!(check_host_name(&c, "localhost"), NameCheck::Mismatch);
    }

    #[test]
    fn common_name_equals_is_exact() {
        let c = cert(Some("my-project:my-instance"), &[], &[]);
        assert_eq!(
            common_name_equals(&c, "my-project:my-instance"),
            NameCheck::Match
        );
        assert_eq!(
            common_name_equals(&c, "MY-project:my-instance"),
            NameCheck::Mismatch
        );
        assert_eq!(common_name_equals(&c, "my-project"), NameCheck::Mismatch);
    }

    #[test]
    fn rfc3339_formatting() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(4_102_444_799), "2099-12-31T23:59:59Z");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59Z");
    }

    #[test]
    fn end_point_hash_is_sha256_for_ecdsa_p256() {
        let c = cert(Some("x"), &[], &[]);
        assert_eq!(tls_server_end_point(&c), Sha256::digest(&c).to_vec());
    }

    #[test]
    fn summary_reads_subject_and_expiry() {
        let c = cert(Some("db.example.com"), &[], &[]);
        let s = summarize(&c).unwrap();
        assert_eq!(s.subject, "CN=db.example.com");
        assert!(s.not_after.ends_with('Z'));
        assert!(s.not_after_unix > 0);
    }
}

//! The root CAs Azure Database for PostgreSQL Flexible Server certificates chain to.

use scrydon_byodb::tls::CaBundle;
use scrydon_byodb::Result;

/// The roots Azure documents for Flexible Server, as PEM: DigiCert Global Root G2, Microsoft RSA
/// Root Certificate Authority 2017, and DigiCert Global Root CA (still used by some regions'
/// intermediates; no longer in the Mozilla roots, so `sslrootcert=system` does not cover it).
///
/// SHA-256 fingerprints (checked by this crate's tests):
///
/// * DigiCert Global Root G2: `CB:3C:CB:B7:60:31:E5:E0:13:8F:8D:D3:9A:23:F9:DE:47:FF:C3:5E:43:C1:14:4C:EA:27:D4:6A:5A:B1:CB:5F`
/// * Microsoft RSA Root Certificate Authority 2017: `C7:41:F7:0F:4B:2A:8D:88:BF:2E:71:C1:41:22:EF:53:EF:10:EB:A0:CF:A5:E6:4C:FA:20:F4:18:85:30:73:E0`
/// * DigiCert Global Root CA: `43:48:A0:E9:44:4C:78:CB:26:5E:05:8D:5E:89:44:B4:D8:4F:96:62:BD:26:DB:25:7F:89:34:A4:43:C7:01:61`
///
/// Write it to a file and use `sslmode=verify-full&sslrootcert=/etc/ssl/azure-ca.pem`.
pub const AZURE_CA_PEM: &str = include_str!("azure-ca.pem");

/// [`AZURE_CA_PEM`] as a [`CaBundle`].
///
/// ```
/// let bundle = scrydon_byodb_azure::azure_ca_bundle().unwrap();
/// assert_eq!(bundle.len(), 3);
/// ```
pub fn azure_ca_bundle() -> Result<CaBundle> {
    CaBundle::from_pem(AZURE_CA_PEM)
}

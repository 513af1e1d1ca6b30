//! One connection, as preflight (and the provider conformance suite) uses it: a client and
//! what its TLS session was.

use crate::connect::{self, ConnectOptions};
use crate::dsn::Dsn;
use crate::tls::{CaBundle, TlsConnector, TlsInfo};
use crate::Result;

/// An open connection. Dropping it closes the connection.
pub(crate) struct Session {
    pub(crate) client: tokio_postgres::Client,
    pub(crate) tls: Option<TlsInfo>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").field("tls", &self.tls).finish()
    }
}

async fn open_with(dsn: &Dsn, options: &ConnectOptions) -> Result<Session> {
    let (client, info) = connect::connect(dsn, options).await?.into_parts();
    Ok(Session {
        client,
        tls: info.tls,
    })
}

/// Opens a connection with the DSN's settings, libpq's way.
pub(crate) async fn open(dsn: &Dsn) -> Result<Session> {
    open_with(dsn, &ConnectOptions::new()).await
}

/// Opens a connection trusting `bundle` instead of the DSN's `sslrootcert`.
pub(crate) async fn open_with_bundle(dsn: &Dsn, bundle: CaBundle) -> Result<Session> {
    let tls = TlsConnector::builder_from_dsn(dsn)?
        .with_ca_bundle(bundle)
        .build()?;
    open_with(dsn, &ConnectOptions::new().with_tls_connector(tls)).await
}

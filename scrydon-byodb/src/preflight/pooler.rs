//! The transaction-pooler probe on its own, for callers outside preflight (the Neon and
//! Supabase poolers in `scrydon-byodb-neon`). Preflight itself runs the same probe batched into
//! its connections (see `gather`).

use crate::dsn::Dsn;
use crate::{Error, Result};

use super::{session, sql};

/// Whether a transaction-mode pooler (PgBouncer `pool_mode = transaction`, Supavisor on 6543,
/// a Neon `-pooler` endpoint) serves `dsn`: two client connections, the second asking which
/// server process serves it only once the first one's statement has finished. A
/// transaction-mode pooler hands the second client the server connection the first one just
/// released; a direct connection or a session-mode pooler never can.
///
/// `Ok(Some(pid))` for a transaction-mode pooler (the shared server process), `Ok(None)`
/// otherwise. Reads only.
pub async fn probe_transaction_pooler(dsn: &Dsn) -> Result<Option<i32>> {
    let first = session::open(dsn).await?;
    let second = session::open(dsn).await?;
    let a = backend_pid(&first).await?;
    let b = backend_pid(&second).await?;
    Ok((a == b).then_some(a))
}

async fn backend_pid(session: &session::Session) -> Result<i32> {
    let rows = session
        .client
        .query_typed(sql::BACKEND_PID, &[])
        .await
        .map_err(|e| Error::database("reading pg_backend_pid()", e))?;
    rows.first()
        .and_then(|r| r.try_get::<_, i32>(0).ok())
        .ok_or_else(|| Error::Provider {
            provider: "pooler".to_owned(),
            reason: "pg_backend_pid() returned no row".to_owned(),
            source: None,
        })
}

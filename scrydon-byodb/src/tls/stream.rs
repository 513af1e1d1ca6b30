//! The `tokio_postgres::tls::TlsConnect` implementation and its stream.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use rustls::ClientConfig;
use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::tls::{ChannelBinding, TlsConnect, TlsStream};

use super::verify::Recorder;
use super::x509::{summarize, tls_server_end_point};
use super::{TlsInfo, TlsObserver, Verification};

/// The ALPN protocol name PostgreSQL 17+ servers expect (and require for direct TLS).
pub(crate) const ALPN_POSTGRESQL: &[u8] = b"postgresql";

/// A TLS connector for one connection to one host; what `tokio_postgres` calls a
/// [`TlsConnect`]. Made by [`super::TlsConnector::for_host`]. Use [`HostTlsConnect::observer`]
/// *before* handing it to `tokio_postgres` to learn afterwards what the handshake found.
pub struct HostTlsConnect {
    pub(crate) config: Arc<ClientConfig>,
    pub(crate) server_name: ServerName<'static>,
    pub(crate) direct: bool,
    pub(crate) verification: Verification,
    pub(crate) recorder: Recorder,
}

impl std::fmt::Debug for HostTlsConnect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostTlsConnect")
            .field("server_name", &self.server_name)
            .field("direct", &self.direct)
            .field("verification", &self.verification)
            .finish_non_exhaustive()
    }
}

impl HostTlsConnect {
    /// A handle that reports this connection's TLS outcome once the handshake ran.
    pub fn observer(&self) -> TlsObserver {
        TlsObserver {
            recorder: self.recorder.clone(),
        }
    }
}

/// The error a TLS session reports when `sslnegotiation=direct` was used and the server did not
/// agree on the `postgresql` ALPN protocol (libpq 17 refuses such a session too).
#[derive(Debug, thiserror::Error)]
#[error("direct TLS connection established without ALPN protocol \"postgresql\"")]
pub struct DirectTlsWithoutAlpn;

impl<S> TlsConnect<S> for HostTlsConnect
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = PgTlsStream<S>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<PgTlsStream<S>>> + Send>>;

    fn connect(self, stream: S) -> Self::Future {
        Box::pin(async move {
            self.recorder.lock().handshake_started = true;
            let connector = tokio_rustls::TlsConnector::from(self.config);
            let tls = connector.connect(self.server_name, stream).await?;
            let (_, session) = tls.get_ref();
            let alpn = session
                .alpn_protocol()
                .map(|p| String::from_utf8_lossy(p).into_owned());
            if self.direct && session.alpn_protocol() != Some(ALPN_POSTGRESQL) {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    DirectTlsWithoutAlpn,
                ));
            }
            let peer = session.peer_certificates().and_then(|c| c.first());
            let end_point = peer.map(|c| tls_server_end_point(c.as_ref()));
            let summary = peer.and_then(|c| summarize(c.as_ref()));
            let info = TlsInfo {
                protocol: session
                    .protocol_version()
                    .map(protocol_name)
                    .unwrap_or_else(|| "unknown".to_owned()),
                cipher: session
                    .negotiated_cipher_suite()
                    .map(|s| {
                        s.suite()
                            .as_str()
                            .map(str::to_owned)
                            .unwrap_or_else(|| format!("{:?}", s.suite()))
                    })
                    .unwrap_or_else(|| "unknown".to_owned()),
                verification: self.verification,
                alpn,
                peer_subject: summary.as_ref().map(|s| s.subject.clone()),
                peer_issuer: summary.as_ref().map(|s| s.issuer.clone()),
                peer_not_after: summary.as_ref().map(|s| s.not_after.clone()),
                peer_not_after_unix: summary.as_ref().map(|s| s.not_after_unix),
            };
            self.recorder.lock().info = Some(info);
            Ok(PgTlsStream {
                inner: tls,
                end_point,
            })
        })
    }
}

fn protocol_name(version: rustls::ProtocolVersion) -> String {
    match version {
        rustls::ProtocolVersion::TLSv1_3 => "TLSv1.3".to_owned(),
        rustls::ProtocolVersion::TLSv1_2 => "TLSv1.2".to_owned(),
        other => format!("{other:?}"),
    }
}

/// A TLS session to a PostgreSQL server, with `tls-server-end-point` channel binding.
pub struct PgTlsStream<S> {
    inner: tokio_rustls::client::TlsStream<S>,
    end_point: Option<Vec<u8>>,
}

impl<S> std::fmt::Debug for PgTlsStream<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgTlsStream").finish_non_exhaustive()
    }
}

impl<S> TlsStream for PgTlsStream<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    fn channel_binding(&self) -> ChannelBinding {
        match &self.end_point {
            Some(hash) => ChannelBinding::tls_server_end_point(hash.clone()),
            None => ChannelBinding::none(),
        }
    }
}

impl<S> AsyncRead for PgTlsStream<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S> AsyncWrite for PgTlsStream<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

//! Watching the server's side of the startup exchange.
//!
//! `tokio_postgres` reports a failed startup as an error whose kind is private. To classify by
//! structure rather than by message text, every stream handed to it is wrapped in [`Observed`],
//! which parses (without altering) what the server sends until authentication is over: the
//! answer to the SSLRequest, the first authentication request (and its SASL mechanisms), whether
//! authentication succeeded, whether an ErrorResponse came.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::tls::{ChannelBinding, TlsConnect, TlsStream};

use crate::tls::HostTlsConnect;

/// Authentication request codes (protocol `AuthenticationXXX` messages).
pub(crate) const AUTH_OK: i32 = 0;
pub(crate) const AUTH_CLEARTEXT: i32 = 3;
pub(crate) const AUTH_MD5: i32 = 5;
pub(crate) const AUTH_SASL: i32 = 10;

/// What the server sent, as far as it matters for classifying a failure.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Trace {
    /// The byte answering the SSLRequest (`S`, `N`, or `E` for an error).
    pub(crate) ssl_response: Option<u8>,
    /// The first authentication request.
    pub(crate) first_auth: Option<AuthRequest>,
    /// AuthenticationOk was received.
    pub(crate) auth_ok: bool,
    /// An ErrorResponse was received during startup.
    pub(crate) error_response: bool,
}

/// One authentication request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AuthRequest {
    pub(crate) code: i32,
    /// For SASL (code 10): the mechanisms offered.
    pub(crate) mechanisms: Vec<String>,
}

impl AuthRequest {
    /// The server asked for a password in one form or another.
    pub(crate) fn wants_password(&self) -> bool {
        matches!(self.code, AUTH_CLEARTEXT | AUTH_MD5 | AUTH_SASL)
    }

    /// SASL with `SCRAM-SHA-256-PLUS` offered.
    pub(crate) fn offers_channel_binding(&self) -> bool {
        self.code == AUTH_SASL && self.mechanisms.iter().any(|m| m == "SCRAM-SHA-256-PLUS")
    }
}

/// A shared [`Trace`].
#[derive(Debug, Clone, Default)]
pub(crate) struct TraceHandle(Arc<Mutex<Trace>>);

impl TraceHandle {
    pub(crate) fn lock(&self) -> MutexGuard<'_, Trace> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn snapshot(&self) -> Trace {
        self.lock().clone()
    }
}

/// Where the parser of one stream is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// The next byte answers an SSLRequest.
    SslResponse,
    /// Backend messages.
    Messages,
    /// Nothing more to learn (encrypted bytes, or authentication is over).
    Off,
}

/// The largest authentication request body kept (libpq refuses longer ones).
const MAX_AUTH_BODY: usize = 2000;

#[derive(Debug)]
pub(crate) struct Parser {
    phase: Phase,
    header: [u8; 5],
    have: usize,
    remaining: usize,
    body: Vec<u8>,
}

impl Parser {
    pub(crate) fn new(phase: Phase) -> Self {
        Parser {
            phase,
            header: [0; 5],
            have: 0,
            remaining: 0,
            body: Vec::new(),
        }
    }

    pub(crate) fn feed(&mut self, mut data: &[u8], trace: &mut Trace) {
        while !data.is_empty() {
            match self.phase {
                Phase::Off => return,
                Phase::SslResponse => {
                    let byte = data[0];
                    trace.ssl_response = Some(byte);
                    match byte {
                        b'N' => {
                            self.phase = Phase::Messages;
                            data = &data[1..];
                        }
                        // An ErrorResponse instead of an answer: parse it as a message.
                        b'E' => self.phase = Phase::Messages,
                        _ => self.phase = Phase::Off,
                    }
                }
                Phase::Messages if self.have < 5 => {
                    self.header[self.have] = data[0];
                    self.have += 1;
                    data = &data[1..];
                    if self.have == 5 {
                        let len = u32::from_be_bytes([
                            self.header[1],
                            self.header[2],
                            self.header[3],
                            self.header[4],
                        ]) as usize;
                        if len < 4 {
                            self.phase = Phase::Off;
                            return;
                        }
                        self.remaining = len - 4;
                        self.body.clear();
                        if self.remaining == 0 {
                            self.finish(trace);
                        }
                    }
                }
                Phase::Messages => {
                    let take = self.remaining.min(data.len());
                    if self.header[0] == b'R' {
                        let room = MAX_AUTH_BODY.saturating_sub(self.body.len());
                        self.body.extend_from_slice(&data[..take.min(room)]);
                    }
                    data = &data[take..];
                    self.remaining -= take;
                    if self.remaining == 0 {
                        self.finish(trace);
                    }
                }
            }
        }
    }

    fn finish(&mut self, trace: &mut Trace) {
        self.have = 0;
        match self.header[0] {
            b'R' if self.body.len() >= 4 => {
                let code =
                    i32::from_be_bytes([self.body[0], self.body[1], self.body[2], self.body[3]]);
                if trace.first_auth.is_none() {
                    let mechanisms = if code == AUTH_SASL {
                        self.body[4..]
                            .split(|b| *b == 0)
                            .filter(|m| !m.is_empty())
                            .map(|m| String::from_utf8_lossy(m).into_owned())
                            .collect()
                    } else {
                        Vec::new()
                    };
                    trace.first_auth = Some(AuthRequest { code, mechanisms });
                }
                if code == AUTH_OK {
                    trace.auth_ok = true;
                    self.phase = Phase::Off;
                }
            }
            b'E' => {
                trace.error_response = true;
                self.phase = Phase::Off;
            }
            // NegotiateProtocolVersion may precede authentication.
            b'v' => {}
            _ => self.phase = Phase::Off,
        }
    }
}

/// A stream whose incoming bytes are parsed into a [`Trace`].
#[derive(Debug)]
pub(crate) struct Observed<S> {
    inner: S,
    parser: Parser,
    trace: TraceHandle,
}

impl<S> Observed<S> {
    pub(crate) fn new(inner: S, phase: Phase, trace: TraceHandle) -> Self {
        Observed {
            inner,
            parser: Parser::new(phase),
            trace,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Observed<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let result = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = result {
            if this.parser.phase != Phase::Off {
                let mut trace = this.trace.lock();
                this.parser.feed(&buf.filled()[before..], &mut trace);
            }
        }
        result
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Observed<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

impl<S: TlsStream + Unpin> TlsStream for Observed<S> {
    fn channel_binding(&self) -> ChannelBinding {
        self.inner.channel_binding()
    }
}

/// [`HostTlsConnect`] whose session is [`Observed`].
#[derive(Debug)]
pub(crate) struct ObservedTls {
    pub(crate) inner: HostTlsConnect,
    pub(crate) trace: TraceHandle,
}

impl<S> TlsConnect<S> for ObservedTls
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = Observed<crate::tls::PgTlsStream<S>>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<Self::Stream>> + Send>>;

    fn connect(self, stream: S) -> Self::Future {
        let handshake = TlsConnect::connect(self.inner, stream);
        let trace = self.trace;
        Box::pin(async move {
            let tls = handshake.await?;
            Ok(Observed::new(tls, Phase::Messages, trace))
        })
    }
}

//! The TCP side of the simulator: a listener whose connections can be cut on purpose.
//!
//! The `drop` fault must close a connection without any answer, which a normal handler
//! cannot do. Each accepted socket is wrapped with a kill switch that handlers reach through
//! `ConnectInfo<ConnectionHandle>`: once thrown, writes fail and reads see end-of-file, so
//! hyper abandons the connection before a single response byte is written.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use std::time::Duration;

use axum::body::{Body, to_bytes};
use axum::extract::Request;
use axum::extract::connect_info::Connected;
use axum::http::{Extensions, HeaderValue, Response, StatusCode, header};
use axum::middleware::Next;
use axum::response::IntoResponse;
use axum::serve::{IncomingStream, Listener};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

use crate::faults::FaultKind;

/// A TCP listener handing out [`KillableStream`]s.
pub(crate) struct KillableListener {
    inner: TcpListener,
}

impl KillableListener {
    /// Wraps a bound listener.
    pub(crate) fn new(inner: TcpListener) -> Self {
        Self { inner }
    }
}

/// A TCP stream with a kill switch.
pub(crate) struct KillableStream {
    inner: TcpStream,
    killed: Arc<AtomicBool>,
}

/// The kill switch of one connection, as handlers see it.
#[derive(Clone, Debug)]
pub(crate) struct ConnectionHandle {
    killed: Arc<AtomicBool>,
}

impl ConnectionHandle {
    /// Makes the connection die without an answer.
    pub(crate) fn kill(&self) {
        self.killed.store(true, Ordering::SeqCst);
    }
}

/// Throws the kill switch of the connection a request came on, if the request has one
/// (requests served through `Router::oneshot` in unit tests do not).
pub(crate) fn kill_connection(extensions: &Extensions) -> bool {
    match extensions.get::<axum::extract::ConnectInfo<ConnectionHandle>>() {
        Some(info) => {
            info.0.kill();
            true
        }
        None => false,
    }
}

/// What a `malformedJson` fault keeps of the real answer besides its status.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Truncation {
    /// Keep the headers (minus `Content-Length`), as a broken proxy in front of AWS would.
    KeepHeaders,
    /// Keep only the status, as a broken proxy in front of Grafana would.
    StatusOnly,
}

/// Answers a request under the injected fault (if any) that the surface's gate found:
/// `status_answer` turns a status fault into that surface's error answer.
pub(crate) async fn answer_under_fault(
    fault: Option<FaultKind>,
    request: Request,
    next: Next,
    status_answer: impl FnOnce(u16, Option<u64>) -> Response<Body>,
    truncation: Truncation,
) -> Response<Body> {
    match fault {
        None => next.run(request).await,
        Some(FaultKind::Latency { ms }) => {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            next.run(request).await
        }
        Some(FaultKind::Status {
            status,
            retry_after_seconds,
        }) => status_answer(status, retry_after_seconds),
        Some(FaultKind::Drop) => {
            kill_connection(request.extensions());
            StatusCode::BAD_GATEWAY.into_response()
        }
        Some(FaultKind::MalformedJson) => truncate(next.run(request).await, truncation).await,
    }
}

/// Keeps the status (and headers, if asked) and declares JSON, but cuts the body in the
/// middle of a value.
async fn truncate(response: Response<Body>, truncation: Truncation) -> Response<Body> {
    let (mut parts, body) = response.into_parts();
    let bytes = to_bytes(body, 1 << 20).await.unwrap_or_default();
    let cut = (bytes.len() / 2).max(1).min(bytes.len());
    let mut truncated = bytes.slice(..cut).to_vec();
    if truncated.is_empty() {
        truncated.extend_from_slice(b"{\"message\": ");
    }
    match truncation {
        Truncation::KeepHeaders => {
            parts.headers.remove(header::CONTENT_LENGTH);
        }
        Truncation::StatusOnly => parts.headers.clear(),
    }
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Response::from_parts(parts, Body::from(truncated))
}

impl Listener for KillableListener {
    type Io = KillableStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.inner.accept().await {
                Ok((stream, addr)) => {
                    let _ = stream.set_nodelay(true);
                    return (
                        KillableStream {
                            inner: stream,
                            killed: Arc::new(AtomicBool::new(false)),
                        },
                        addr,
                    );
                }
                Err(error) => {
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

impl Connected<IncomingStream<'_, KillableListener>> for ConnectionHandle {
    fn connect_info(stream: IncomingStream<'_, KillableListener>) -> Self {
        Self {
            killed: stream.io().killed.clone(),
        }
    }
}

impl AsyncRead for KillableStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.killed.load(Ordering::SeqCst) {
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for KillableStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.killed.load(Ordering::SeqCst) {
            return Poll::Ready(Err(io::Error::from(io::ErrorKind::BrokenPipe)));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.killed.load(Ordering::SeqCst) {
            return Poll::Ready(Err(io::Error::from(io::ErrorKind::BrokenPipe)));
        }
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

//! Serving the API's connections with limits a slow, idle or tokenless
//! client cannot get around: a cap on open connections, shared among
//! clients as `connections` decides (a cap per client address, a budget for
//! connections without a valid token), a deadline for a request's headers,
//! and an idle timeout after which a silent connection is closed.
//! (The body's deadline is a middleware, `buffer_body`, so that it runs
//! before a request takes an in-flight slot.)
//!
//! `axum::serve` has none of these; this is its accept loop with them.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;
use tracing::{debug, info, warn};

use super::connections::{ConnectionLimits, Connections, closed_unauthenticated};
use crate::error::Result;

/// Connection limits of the HTTP server.
#[derive(Debug, Clone, Copy)]
pub struct ServeLimits {
    /// Connections open at once; more wait in the kernel's backlog (or take
    /// the place of the oldest connection without a valid token).
    pub max_connections: usize,
    /// Longest a client may take to send a request's headers.
    pub header_read_timeout: Duration,
    /// A connection on which nothing is read or written this long is closed.
    pub idle_timeout: Duration,
    /// How connections are shared among clients (see `connections`).
    pub clients: ConnectionLimits,
}

/// Serves `app` on `listener` until `shutdown`, then lets the requests in
/// flight finish (idle connections are closed at once).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ServeLimits,
    shutdown: CancellationToken,
) -> Result<()> {
    let mut builder = http1::Builder::new();
    // The header deadline is `ConnectionDeadlines`'s (see there why not hyper's).
    builder.timer(TokioTimer::new()).header_read_timeout(None);
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let connections = Connections::new(limits.clients);
    loop {
        let Some((stream, peer)) = accept(&listener, &shutdown).await else { break };
        let Some(slot) = place(&slots, &connections, &shutdown).await else { break };
        let close = shutdown.child_token();
        let Some(auth) = connections.open(peer.ip(), close.clone()) else {
            debug!(peer = %peer.ip(), "a client holds as many connections as it may; closing its new one");
            crate::metrics::get().connections_refused.inc();
            continue;
        };
        let _ = stream.set_nodelay(true);
        let io =
            TokioIo::new(ConnectionDeadlines::new(stream, limits.idle_timeout, limits.header_read_timeout));
        let request_auth = auth.clone();
        let service =
            TowerToHyperService::new(app.clone().map_request(move |req: hyper::Request<Incoming>| {
                let mut req = req.map(Body::new);
                req.extensions_mut().insert(request_auth.clone());
                req
            }));
        let connection = builder.serve_connection(io, service);
        let unauthenticated_for = limits.clients.unauthenticated_for;
        tokio::spawn(async move {
            let mut connection = std::pin::pin!(connection);
            let token_due = tokio::time::sleep(unauthenticated_for);
            let mut token_due = std::pin::pin!(token_due);
            let (mut closing, mut token_checked) = (false, false);
            let ended = loop {
                tokio::select! {
                    ended = connection.as_mut() => break ended,
                    // Evicted, over the budget, or shutting down: the
                    // request in flight, if any, is answered first.
                    () = close.cancelled(), if !closing => {
                        closing = true;
                        connection.as_mut().graceful_shutdown();
                    }
                    () = token_due.as_mut(), if !token_checked => {
                        token_checked = true;
                        if !auth.is_authenticated() {
                            debug!("no valid token on this connection in time; closing it");
                            closed_unauthenticated(&close);
                        }
                    }
                }
            };
            if let Err(e) = ended {
                debug!(error = %e, "connection ended with an error");
            }
            drop(slot);
        });
    }
    info!("API stops accepting; finishing the requests in flight");
    // Every connection was told to close (their tokens are children of
    // `shutdown`); each gives its place back when it has.
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    let _ = slots.acquire_many(all).await;
    Ok(())
}

/// The next connection, or `None` once `shutdown` is asked.
async fn accept(listener: &TcpListener, shutdown: &CancellationToken) -> Option<(TcpStream, SocketAddr)> {
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => return Some(accepted),
                Err(e) => {
                    // Out of file descriptors and the like: wait rather
                    // than spin, the listener itself is fine.
                    warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            () = shutdown.cancelled() => return None,
        }
    }
}

/// A place for a new connection, or `None` once `shutdown` is asked. Every
/// place taken: the oldest connection without a valid token makes room, if
/// there is one; else the new one waits for a place.
async fn place(
    slots: &Arc<Semaphore>,
    connections: &Connections,
    shutdown: &CancellationToken,
) -> Option<OwnedSemaphorePermit> {
    if let Ok(slot) = slots.clone().try_acquire_owned() {
        return Some(slot);
    }
    connections.close_oldest_unauthenticated();
    tokio::select! {
        slot = slots.clone().acquire_owned() => Some(slot.expect("the semaphore is never closed")),
        () = shutdown.cancelled() => None,
    }
}

/// A stream that enforces the connection's two deadlines itself, and fails
/// with `TimedOut` past either:
/// - idle: nothing read or written for `idle` (a connection a client opened
///   and left, or stopped reading);
/// - head: a request's headers not complete (`\r\n\r\n` seen) within
///   `head` of the connection opening or of the request's first byte, even
///   while bytes trickle in.
///
/// hyper's own `header_read_timeout` is not used: it also runs while a
/// kept-alive connection waits for its next request, so it closed every
/// connection idle for 5 s, and a client reusing one at that moment lost
/// its POST ("connection closed before message completed"). Between
/// requests only the idle deadline applies, as documented.
struct ConnectionDeadlines {
    inner: TcpStream,
    idle: Duration,
    idle_deadline: Pin<Box<Sleep>>,
    head: Duration,
    /// Set while a request's headers are arriving.
    head_deadline: Option<Pin<Box<Sleep>>>,
    /// An answer was written since the last head: the next byte read starts
    /// a new request.
    between_requests: bool,
    /// How much of `\r\n\r\n` the bytes read so far end with.
    head_end_matched: usize,
}

const HEAD_END: &[u8] = b"\r\n\r\n";

impl ConnectionDeadlines {
    fn new(inner: TcpStream, idle: Duration, head: Duration) -> Self {
        ConnectionDeadlines {
            inner,
            idle,
            idle_deadline: Box::pin(tokio::time::sleep(idle)),
            head,
            // The first request's headers are due from the moment the
            // connection opens.
            head_deadline: Some(Box::pin(tokio::time::sleep(head))),
            between_requests: false,
            head_end_matched: 0,
        }
    }

    fn active(&mut self) {
        self.idle_deadline.as_mut().reset(Instant::now() + self.idle);
    }

    fn read_bytes(&mut self, bytes: &[u8]) {
        self.active();
        if self.between_requests {
            self.between_requests = false;
            self.head_end_matched = 0;
            self.head_deadline = Some(Box::pin(tokio::time::sleep(self.head)));
        }
        if self.head_deadline.is_none() {
            return;
        }
        for &byte in bytes {
            self.head_end_matched = if byte == HEAD_END[self.head_end_matched] {
                self.head_end_matched + 1
            } else if byte == HEAD_END[0] {
                1
            } else {
                0
            };
            if self.head_end_matched == HEAD_END.len() {
                self.head_deadline = None;
                return;
            }
        }
    }

    fn check_deadlines(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        if self.idle_deadline.as_mut().poll(cx).is_ready() {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "connection idle for too long"));
        }
        if let Some(deadline) = self.head_deadline.as_mut()
            && deadline.as_mut().poll(cx).is_ready()
        {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "request headers took too long"));
        }
        Ok(())
    }
}

impl AsyncRead for ConnectionDeadlines {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(result) => {
                if buf.filled().len() > before {
                    self.read_bytes(&buf.filled()[before..]);
                    // A trickle keeps the connection active, not its head
                    // on time.
                    self.check_deadlines(cx)?;
                }
                Poll::Ready(result)
            }
            Poll::Pending => {
                self.check_deadlines(cx)?;
                Poll::Pending
            }
        }
    }
}

impl AsyncWrite for ConnectionDeadlines {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_write(cx, data) {
            Poll::Ready(written) => {
                if written.as_ref().is_ok_and(|n| *n > 0) {
                    self.active();
                    self.between_requests = true;
                }
                Poll::Ready(written)
            }
            // A client that stops reading its answers is idle too.
            Poll::Pending => {
                self.check_deadlines(cx)?;
                Poll::Pending
            }
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

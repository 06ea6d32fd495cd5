//! The listener: accepts connections under the caps of [`Limits`] and serves each with
//! hyper's HTTP/1.1 connection, which closes a connection whose request header does not
//! arrive within `header_timeout` (hyper's timer, which `axum::serve` never sets), and a
//! watch that closes one that reads and writes nothing for `idle_timeout`, or whose writes
//! have waited for `write_stall` (the client stopped reading: a viewer of an event stream
//! that stalled is dropped, counted as `rosey_web_timeouts{kind="stalled"}`, instead of
//! holding its buffers until the idle timeout).
//!
//! A connection over a cap is answered 429 (its address holds its share; a trusted proxy is
//! held only to the total) or 503 (the total) and closed. Accept errors (no file
//! descriptor left) pause the loop briefly instead of spinning. At shutdown every connection
//! finishes its request and closes; whatever is still open after [`DRAIN`] is dropped.

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, Response, StatusCode, header};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tower_service::Service;

use crate::limits::{Kind, Limits, Refused, Slot, Slots, WebStats};
use crate::proxy::TrustedProxies;

/// How long open connections may take to finish at shutdown.
pub const DRAIN: Duration = Duration::from_secs(5);
/// Connections being refused at once at most; beyond, they are closed without an answer.
const MAX_REFUSING: usize = 64;
/// The pause after an accept error (out of file descriptors, usually).
const ACCEPT_PAUSE: Duration = Duration::from_millis(50);

pub(crate) struct Listener {
    pub tcp: TcpListener,
    pub app: Router,
    pub limits: Limits,
    pub proxies: Arc<TrustedProxies>,
    pub stats: Arc<WebStats>,
    pub stop: watch::Receiver<bool>,
}

impl Listener {
    /// Serves until `stop` turns true, then drains.
    pub async fn run(self) {
        let Listener {
            tcp,
            app,
            limits,
            proxies,
            stats,
            mut stop,
        } = self;
        let conns = Slots::new(
            Kind::Connection,
            limits.max_connections,
            limits.max_connections_per_client,
            stats.clone(),
        );
        let refusing = Arc::new(AtomicUsize::new(0));
        let mut tasks = JoinSet::new();
        loop {
            let accepted = tokio::select! {
                _ = stop.wait_for(|s| *s) => break,
                Some(_) = tasks.join_next(), if !tasks.is_empty() => continue,
                r = tcp.accept() => r,
            };
            let (stream, peer) = match accepted {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(error = %e, "Cannot accept a connection; pausing.");
                    tokio::time::sleep(ACCEPT_PAUSE).await;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let ip = peer.ip();
            let held_to = (!proxies.contains(ip)).then_some(ip);
            match conns.take(held_to) {
                Ok(slot) => {
                    let conn = Conn {
                        app: app.clone(),
                        limits: limits.clone(),
                        stats: stats.clone(),
                        stop: stop.clone(),
                        _slot: slot,
                    };
                    tasks.spawn(conn.serve(stream, peer));
                }
                Err(why) => {
                    tracing::debug!(client = %ip, ?why, "Connection refused over a cap.");
                    if refusing.fetch_add(1, Relaxed) < MAX_REFUSING {
                        let refusing = refusing.clone();
                        let timeout = limits.header_timeout;
                        tasks.spawn(async move {
                            refuse(stream, why, timeout).await;
                            refusing.fetch_sub(1, Relaxed);
                        });
                    } else {
                        refusing.fetch_sub(1, Relaxed);
                    }
                }
            }
        }
        drop(tcp);
        let drained = async { while tasks.join_next().await.is_some() {} };
        if tokio::time::timeout(DRAIN, drained).await.is_err() {
            tracing::info!(
                open = tasks.len(),
                "Connections still open at shutdown; closing them."
            );
            tasks.abort_all();
        }
    }
}

/// One accepted connection.
struct Conn {
    app: Router,
    limits: Limits,
    stats: Arc<WebStats>,
    stop: watch::Receiver<bool>,
    _slot: Slot,
}

impl Conn {
    async fn serve(mut self, stream: TcpStream, peer: SocketAddr) {
        let start = Instant::now();
        let last = Arc::new(AtomicU64::new(0));
        let blocked = Arc::new(AtomicU64::new(0));
        let io = TokioIo::new(Watched {
            inner: stream,
            start,
            last: last.clone(),
            blocked: blocked.clone(),
        });
        let app = self.app.clone();
        let svc = service_fn(move |mut req: Request<Incoming>| {
            req.extensions_mut().insert(ConnectInfo(peer));
            let mut app = app.clone();
            app.call(req.map(Body::new))
        });
        let mut builder = http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(self.limits.header_timeout);
        let conn = builder.serve_connection(io, svc);
        tokio::pin!(conn);
        let idle = self.limits.idle_timeout;
        let stall = self.limits.write_stall;
        let every = (idle.min(stall) / 4).max(Duration::from_millis(50));
        let mut tick = tokio::time::interval(every);
        let mut stopping = false;
        loop {
            tokio::select! {
                r = conn.as_mut() => {
                    if let Err(e) = r {
                        if e.is_timeout() {
                            self.stats.header_timeout();
                            tracing::debug!(client = %peer, "Request header not sent in time; closed.");
                        } else {
                            tracing::trace!(client = %peer, error = %e, "Connection ended with an error.");
                        }
                    }
                    return;
                }
                _ = self.stop.wait_for(|s| *s), if !stopping => {
                    stopping = true;
                    conn.as_mut().graceful_shutdown();
                }
                _ = tick.tick() => {
                    let now = start.elapsed();
                    let since = blocked.load(Relaxed);
                    if since > 0 && now.saturating_sub(Duration::from_millis(since - 1)) >= stall {
                        self.stats.stalled();
                        tracing::debug!(client = %peer, "Client stopped reading; closed.");
                        return;
                    }
                    let quiet = now.saturating_sub(Duration::from_millis(last.load(Relaxed)));
                    if quiet >= idle {
                        self.stats.idle_timeout();
                        tracing::debug!(client = %peer, "Idle connection closed.");
                        return;
                    }
                }
            }
        }
    }
}

/// Answers one request on a connection over a cap, then closes it.
async fn refuse(stream: TcpStream, why: Refused, timeout: Duration) {
    let (status, text) = match why {
        Refused::PerClient => (
            StatusCode::TOO_MANY_REQUESTS,
            "too many connections from your address",
        ),
        Refused::Total => (
            StatusCode::SERVICE_UNAVAILABLE,
            "too many connections; try again later",
        ),
    };
    let svc = service_fn(move |_req: Request<Incoming>| async move {
        let body = serde_json::json!({ "error": text }).to_string();
        let mut r = Response::new(Body::from(body));
        *r.status_mut() = status;
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static("application/json"),
        );
        r.headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
        Ok::<_, Infallible>(r)
    });
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(timeout)
        .keep_alive(false);
    let conn = builder.serve_connection(TokioIo::new(stream), svc);
    let _ = tokio::time::timeout(timeout + Duration::from_secs(1), conn).await;
}

/// A TCP stream that notes when it last read or wrote a byte (ms since `start`), and since
/// when a write has been waiting for the client to take bytes (ms since `start` + 1; 0 =
/// none is).
struct Watched {
    inner: TcpStream,
    start: Instant,
    last: Arc<AtomicU64>,
    blocked: Arc<AtomicU64>,
}

impl Watched {
    fn ms(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX - 1)
    }

    fn touch(&self) {
        self.last.store(self.ms(), Relaxed);
    }

    /// Notes the outcome of a write (or flush): waiting starts the stall clock, anything
    /// else stops it.
    fn wrote<T>(&self, r: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        match &r {
            Poll::Pending => {
                if self.blocked.load(Relaxed) == 0 {
                    self.blocked.store(self.ms() + 1, Relaxed);
                }
            }
            Poll::Ready(_) => self.blocked.store(0, Relaxed),
        }
        r
    }
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.touch();
        }
        r
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, data);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.touch();
        }
        self.wrote(r)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.touch();
        }
        self.wrote(r)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let r = Pin::new(&mut self.inner).poll_flush(cx);
        self.wrote(r)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

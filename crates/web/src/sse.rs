//! `GET /events?channel=C`: the live page's stream (Server-Sent Events). The first event
//! is a `snapshot` of the channel; then `state` and `chat` frames as they happen. A browser
//! that falls more than `hub::BUFFER` frames behind is sent a fresh snapshot and goes on
//! from there (it skips ahead rather than making the process buffer for it). The stream
//! ends when the dashboard shuts down.
//!
//! Every frame carries an id (`hub::EventId`: the hub's epoch and the channel's chat
//! sequence number). A browser that reconnects sends the last one back (`Last-Event-ID`,
//! which `EventSource` does by itself) and gets the chat frames it missed and the current
//! state, from the last `hub::REPLAY` chat frames kept; when they are not all kept, or the
//! id is from before the process (re)started, it gets a fresh `snapshot` instead, which the
//! page takes as "reload the chat" (its last lines come from the database after a restart).
//!
//! A quiet stream gets a keep-alive comment every 15 s (more often when the listener's idle
//! timeout is shorter), so the idle timeout never cuts a live stream. Streams are capped per
//! client and in total (`Limits::max_streams_per_client`, `max_streams`): over a client's
//! share → 429, over the total → 503, both `{error}`.
//!
//! A big audience (issue 31: 2,000 viewers of a channel at 1,000 lines/s): each frame is
//! rendered as SSE text once ([`Frame::wire`]) and shared by every viewer, and a viewer
//! writes at most once per [`COALESCE`]: the first frame after a quiet spell goes out at
//! once, frames that follow within the window go out together in one write. So a busy
//! channel costs each viewer a wake-up and a write per window instead of per line. A
//! viewer that stops reading is dropped by the listener (`Limits::write_stall`).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, HeaderValue, Response, header};
use axum::routing::get;
use bytes::{Bytes, BytesMut};
use serde::Deserialize;
use tokio::sync::{broadcast, watch};
use tokio::time::Instant;

use crate::hub::{ChannelHub, Frame};
use crate::limits::{Refused, Slot};
use crate::{AppState, WebError};

/// The shortest gap between two writes to one viewer: frames that come within it after a
/// write wait for its end and go out together (the added delay is at most this).
pub const COALESCE: Duration = Duration::from_millis(25);
/// The most frames gathered into one write.
const MAX_GATHER: usize = 512;
/// The keep-alive comment.
const KEEP_ALIVE: &[u8] = b":\n\n";

pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new().route("/events", get(events))
}

/// `?channel=` of a stream (none: the default channel).
#[derive(Deserialize)]
pub(crate) struct ChannelParam {
    pub channel: Option<String>,
}

/// A comment line at least this often keeps a quiet stream (and its proxies) open: every
/// 15 s, or well within the listener's idle timeout when that is shorter.
pub(crate) fn keep_alive_interval(idle_timeout: Duration) -> Duration {
    (idle_timeout / 3).clamp(Duration::from_millis(100), Duration::from_secs(15))
}

/// One of the event streams a client may hold (see [`crate::limits`]): over its share →
/// 429, over the total → 503. Also taken by the moderation stream (`crate::moderation`).
pub(crate) fn stream_slot(
    state: &AppState,
    peer: SocketAddr,
    headers: &HeaderMap,
) -> Result<Slot, WebError> {
    let client = state.client(peer.ip(), headers);
    state.streams.take(Some(client)).map_err(|why| match why {
        Refused::PerClient => WebError::TooManyStreams,
        Refused::Total => {
            WebError::Unavailable("too many open event streams; try again later".into())
        }
    })
}

/// `frame` as SSE text (`event`, `id`, one `data` line per line of the data), rendered once
/// per frame whoever sends it.
fn wire(hub: &ChannelHub, frame: &Frame) -> Bytes {
    frame
        .wire
        .get_or_init(|| {
            let id = hub.event_id(frame).to_string();
            let mut b = BytesMut::with_capacity(frame.data.len() + id.len() + 32);
            b.extend_from_slice(b"event: ");
            b.extend_from_slice(frame.event.as_bytes());
            b.extend_from_slice(b"\nid: ");
            b.extend_from_slice(id.as_bytes());
            b.extend_from_slice(b"\n");
            for line in frame.data.split('\n') {
                b.extend_from_slice(b"data: ");
                b.extend_from_slice(line.trim_end_matches('\r').as_bytes());
                b.extend_from_slice(b"\n");
            }
            b.extend_from_slice(b"\n");
            b.freeze()
        })
        .clone()
}

/// One viewer's stream.
struct Viewer {
    /// Frames to send before the broadcast's (the snapshot, or what a reconnect missed).
    first: VecDeque<Frame>,
    rx: broadcast::Receiver<Frame>,
    stop: watch::Receiver<bool>,
    hub: Arc<ChannelHub>,
    /// When the last frames were written.
    last_write: Option<Instant>,
    keep_alive: Duration,
    /// Held while the stream lives: given back when the browser goes away.
    _slot: Slot,
}

impl Viewer {
    /// The next chunk to write: waiting frames gathered, or a keep-alive; `None` at the
    /// end.
    async fn next_chunk(&mut self) -> Option<Bytes> {
        if self.first.is_empty() {
            // Right after a write, let the window fill first: what comes meanwhile goes
            // out in one write, and the broadcast does not wake this viewer per frame.
            if let Some(due) = self.last_write.map(|at| at + COALESCE)
                && due > Instant::now()
            {
                tokio::select! {
                    _ = self.stop.wait_for(|s| *s) => return None,
                    _ = tokio::time::sleep_until(due) => {}
                }
            }
            let frame = match self.hub.try_next(&mut self.rx) {
                Some(f) => f,
                None => tokio::select! {
                    _ = self.stop.wait_for(|s| *s) => return None,
                    f = self.hub.next(&mut self.rx) => f?,
                    _ = tokio::time::sleep(self.keep_alive) => return Some(Bytes::from_static(KEEP_ALIVE)),
                },
            };
            self.first.push_back(frame);
        }
        while self.first.len() < MAX_GATHER {
            match self.hub.try_next(&mut self.rx) {
                Some(f) => self.first.push_back(f),
                None => break,
            }
        }
        let chunk = match self.first.len() {
            1 => self.first.pop_front().map(|f| wire(&self.hub, &f))?,
            _ => {
                let mut b = BytesMut::new();
                for f in self.first.drain(..) {
                    b.extend_from_slice(&wire(&self.hub, &f));
                }
                b.freeze()
            }
        };
        self.last_write = Some(Instant::now());
        Some(chunk)
    }
}

async fn events(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(q): Query<ChannelParam>,
) -> Result<Response<Body>, WebError> {
    let name = state.channel(q.channel.as_deref())?;
    // Held by the stream: dropped (given back) when the browser goes away.
    let slot = stream_slot(&state, peer, &headers)?;
    let hub = state
        .hub
        .channel(&name)
        .cloned()
        .ok_or(WebError::UnknownChannel(name))?;
    let last = headers.get("last-event-id").and_then(|v| v.to_str().ok());
    let (first, rx) = hub.resume(last);
    let viewer = Viewer {
        first: VecDeque::from(first),
        rx,
        stop: state.stop.clone(),
        hub,
        last_write: None,
        keep_alive: keep_alive_interval(state.cfg.limits.idle_timeout),
        _slot: slot,
    };
    let stream = futures::stream::unfold(viewer, |mut v| async move {
        let chunk = v.next_chunk().await?;
        Some((Ok::<_, std::convert::Infallible>(chunk), v))
    });
    let mut r = Response::new(Body::from_stream(stream));
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Ok(r)
}

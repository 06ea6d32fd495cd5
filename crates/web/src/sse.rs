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
//! timeout is shorter), so the idle timeout never cuts a live stream. Streams are capped per client and in total (`Limits::max_streams_per_client`,
//! `max_streams`): over a client's share → 429, over the total → 503, both `{error}`.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::routing::get;
use futures::Stream;
use serde::Deserialize;

use crate::hub::{ChannelHub, Frame};
use crate::limits::{Refused, Slot};
use crate::{AppState, WebError};

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

fn event(hub: &ChannelHub, frame: &Frame) -> Result<Event, Infallible> {
    Ok(Event::default()
        .event(frame.event)
        .id(hub.event_id(frame).to_string())
        .data(&*frame.data))
}

async fn events(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(q): Query<ChannelParam>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, WebError> {
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
    let stop = state.stop.clone();
    let stream = futures::stream::unfold(
        (VecDeque::from(first), rx, stop, hub, slot),
        |(mut first, mut rx, mut stop, hub, slot)| async move {
            if let Some(f) = first.pop_front() {
                let e = event(&hub, &f);
                return Some((e, (first, rx, stop, hub, slot)));
            }
            let frame = tokio::select! {
                _ = stop.wait_for(|s| *s) => return None,
                f = hub.next(&mut rx) => f?,
            };
            let e = event(&hub, &frame);
            Some((e, (first, rx, stop, hub, slot)))
        },
    );
    let every = keep_alive_interval(state.cfg.limits.idle_timeout);
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(every)))
}

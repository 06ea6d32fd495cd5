//! The Moderation panel's endpoints: the automated moderator's recent decisions, live, for a
//! logged-in moderator, and undoing a mute or a ban from them.
//!
//! | endpoint | success | errors |
//! |---|---|---|
//! | `GET /ui/moderation/events?channel=` (session cookie) | 200 Server-Sent Events: `log` `{channel, actions}` (newest first), then `decision` (one row) as each is taken | 403, 401 (token revoked), 404, 429, 503 |
//! | `POST /api/moderation/undo` `{user, action, channel?}` + `X-API-Token` | 200 `{success, message?, error?}` | 400, 401, 429, 503 |
//! | `POST /ui/moderation/undo`: the same from the page (session cookie + CSRF token) | 200 | 400, 401, 403, 503 |
//!
//! The decisions come from the hub's feed (`crate::hub::moderation`), never from the public
//! stream: a shadow mute shown to every viewer would tell the muted user. A stream sends the
//! whole list first (and again whenever it fell behind); it re-checks its session every
//! [`RECHECK`] and ends once the session ended or its token was revoked.
//!
//! An undo is `rosey.commands.<channel>.moderate` with `unmute` or `unban` (nothing else:
//! the dashboard lifts, it never imposes), answered by the bot in the server's words, by
//! `web:<token prefix>` for the bot's audit row. The moderator's own timed lift of that user
//! stays stored: when it comes due it unmutes (unbans) a user who is no longer muted
//! (banned), which changes nothing, and the moderator records that lift as it records every
//! one. Dropping it instead would need the moderator's key-value bucket, which is its own.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::routing::get;
use axum::{Json, Router};
use futures::Stream;
use rosey_model::payload::{ModerateCommand, ModerationRow};
use rosey_model::subjects;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::broadcast;

use crate::actions::{Kind, ask_bot, from_page, with_token};
use crate::auth::{Verified, page_reader};
use crate::sse::ChannelParam;
use crate::{AppState, WebError};

/// How often an open stream checks that its session still stands.
pub const RECHECK: Duration = Duration::from_secs(60);
/// The actions an undo may ask for.
pub const UNDO_ACTIONS: [&str; 2] = ["unmute", "unban"];
/// The longest user name an undo accepts (Matrix ids are the longest names on the seam).
const MAX_USER_CHARS: usize = 255;

pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/ui/moderation/events", get(events))
        .route("/api/moderation/undo", with_token(Kind::Undo))
        .route("/ui/moderation/undo", from_page(Kind::Undo))
}

#[derive(Deserialize, Default)]
pub(crate) struct UndoBody {
    user: Option<String>,
    action: Option<String>,
    channel: Option<String>,
}

/// The channel asked for, and the `moderate` request of an undo, or why it is refused.
pub(crate) fn undo_request(raw: &[u8]) -> Result<(Option<String>, ModerateCommand), WebError> {
    let body: UndoBody = crate::api::body(raw)?;
    let action = body.action.as_deref().map(str::trim).unwrap_or_default();
    if !UNDO_ACTIONS.contains(&action) {
        return Err(WebError::BadRequest(format!(
            "field `action`: expected one of {}, got `{action}`",
            UNDO_ACTIONS.join(", ")
        )));
    }
    let user = body.user.as_deref().map(str::trim).unwrap_or_default();
    if user.is_empty() || user.chars().count() > MAX_USER_CHARS {
        return Err(WebError::BadRequest(format!(
            "field `user`: a user name of 1 to {MAX_USER_CHARS} characters is needed"
        )));
    }
    let cmd = ModerateCommand {
        action: action.to_string(),
        user: user.to_string(),
        reason: Some("undone from the dashboard".into()),
        ..ModerateCommand::default()
    };
    Ok((body.channel, cmd))
}

/// Asks the channel's bot to lift the mute or ban; its reply is the server's answer.
pub(crate) async fn undo(s: &AppState, raw: &[u8], by: &Verified) -> Result<Json<Value>, WebError> {
    let (channel, mut cmd) = undo_request(raw)?;
    let channel = s.channel(channel.as_deref())?;
    cmd.by = Some(format!("web:{}", by.prefix));
    let payload = serde_json::to_vec(&cmd).unwrap_or_default();
    let reply = ask_bot(s, &channel, subjects::COMMAND_MODERATE, payload).await?;
    tracing::info!(%channel, action = %cmd.action, user = %cmd.user, success = reply.success,
        token = %by.prefix, "Moderation undone from the web.");
    Ok(Json(serde_json::to_value(&reply).unwrap_or_default()))
}

fn log_event(channel: &str, rows: &[ModerationRow]) -> Event {
    Event::default()
        .event("log")
        .data(json!({"channel": channel, "actions": rows}).to_string())
}

/// What a stream holds between two events.
struct Reader {
    state: Arc<AppState>,
    headers: HeaderMap,
    channel: String,
    first: VecDeque<Event>,
    rx: broadcast::Receiver<Arc<str>>,
    recheck: tokio::time::Interval,
    _slot: crate::limits::Slot,
}

impl Reader {
    /// The next event; `None` at shutdown or once the session no longer stands.
    async fn next(&mut self) -> Option<Event> {
        if let Some(e) = self.first.pop_front() {
            return Some(e);
        }
        let mut stop = self.state.stop.clone();
        loop {
            tokio::select! {
                // Mapped to (): the guard `wait_for` returns must not live across an await.
                () = async { drop(stop.wait_for(|s| *s).await) } => return None,
                _ = self.recheck.tick() => {
                    if page_reader(&self.state, &self.headers).await.is_err() {
                        return None;
                    }
                }
                r = self.rx.recv() => return match r {
                    Ok(row) => Some(Event::default().event("decision").data(&*row)),
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        let feed = self.state.hub.moderation(&self.channel)?;
                        let (rows, rx) = feed.subscribe();
                        self.rx = rx;
                        Some(log_event(&self.channel, &rows))
                    }
                    Err(broadcast::error::RecvError::Closed) => None,
                },
            }
        }
    }
}

async fn events(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(q): Query<ChannelParam>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, WebError> {
    let channel = state.channel(q.channel.as_deref())?;
    page_reader(&state, &headers).await?;
    let slot = crate::sse::stream_slot(&state, peer, &headers)?;
    let feed = state
        .hub
        .moderation(&channel)
        .ok_or_else(|| WebError::UnknownChannel(channel.clone()))?;
    let (rows, rx) = feed.subscribe();
    let mut recheck = tokio::time::interval(RECHECK);
    recheck.reset();
    let every = crate::sse::keep_alive_interval(state.cfg.limits.idle_timeout);
    let reader = Reader {
        first: VecDeque::from([log_event(&channel, &rows)]),
        state,
        headers,
        channel,
        rx,
        recheck,
        _slot: slot,
    };
    let stream = futures::stream::unfold(reader, |mut r| async move {
        let e = r.next().await?;
        Some((Ok::<_, Infallible>(e), r))
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(every)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_undo_lifts_and_never_imposes() {
        let (ch, cmd) = undo_request(br#"{"user": " bob ", "action": "unmute"}"#).unwrap();
        assert_eq!(
            (ch, cmd.action.as_str(), cmd.user.as_str()),
            (None, "unmute", "bob")
        );
        let (ch, cmd) =
            undo_request(br#"{"user": "bob", "action": "unban", "channel": "c"}"#).unwrap();
        assert_eq!((ch.as_deref(), cmd.action.as_str()), (Some("c"), "unban"));
        for bad in [
            r#"{"user": "bob", "action": "ban"}"#,
            r#"{"user": "bob", "action": "kick"}"#,
            r#"{"user": "bob"}"#,
            r#"{"user": "  ", "action": "unmute"}"#,
            r#"{"action": "unmute"}"#,
            "not json",
        ] {
            let e = undo_request(bad.as_bytes()).unwrap_err();
            assert_eq!(
                e.status(),
                axum::http::StatusCode::BAD_REQUEST,
                "{bad}: {e}"
            );
        }
    }
}

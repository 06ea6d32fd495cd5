//! The playlist actions: add a URL and skip, asked of the channel's bot over the bus
//! (`rosey.commands.<channel>.add` / `.skip`), which waits for the CyTube server's answer and
//! replies with it.
//!
//! | endpoint | success | errors |
//! |---|---|---|
//! | `POST /api/add` `{url, temp?}` + `X-API-Token` | 200 `{success, message?, error?}` | 400, 401, 429, 503 |
//! | `POST /api/skip` + `X-API-Token` | 200 `{success, message?, error?}` | 401, 429, 503 |
//! | `POST /ui/add`, `POST /ui/skip`: the same from the page (session cookie + CSRF token) | 200 | 400, 401 (token revoked), 403, 503 |
//!
//! A 200 carries what the server did: `success: true` with its answer in `message`, or
//! `success: false` with its refusal (or why nothing happened: not supported on this
//! platform, no answer in time) in `error`. No bot serving the channel → 503.
//!
//! The moderation panel's undo (`crate::moderation`) is sent the same way, behind the same
//! token, session and CSRF checks ([`with_token`], [`from_page`]).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, State};
use axum::http::HeaderMap;
use axum::routing::{MethodRouter, post};
use axum::{Json, Router};
use rosey_model::payload::{CommandReply, PlaylistCommand};
use rosey_model::subjects;
use serde::Deserialize;
use serde_json::Value;

use crate::auth::{Verified, api_token, page_session};
use crate::{AppState, WebError};

/// How long the bot may take to answer: its wait for a busy outbound queue (5 s at least)
/// plus its wait for the server's answer (the shell timeout), with room to spare.
pub const ACTION_TIMEOUT: Duration = Duration::from_secs(20);

type Shared = State<Arc<AppState>>;

pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route(
            "/api/add",
            with_token(Kind::Playlist(subjects::COMMAND_ADD)),
        )
        .route(
            "/api/skip",
            with_token(Kind::Playlist(subjects::COMMAND_SKIP)),
        )
        .route("/ui/add", from_page(Kind::Playlist(subjects::COMMAND_ADD)))
        .route(
            "/ui/skip",
            from_page(Kind::Playlist(subjects::COMMAND_SKIP)),
        )
}

#[derive(Deserialize, Default)]
pub(crate) struct ActionBody {
    url: Option<String>,
    temp: Option<bool>,
    channel: Option<String>,
}

pub(crate) fn action_body(raw: &[u8]) -> Result<ActionBody, WebError> {
    if raw.is_empty() {
        return Ok(ActionBody::default());
    }
    crate::api::body(raw)
}

/// The trimmed `url` of an `add`, or why it is refused.
pub(crate) fn action_url(body: ActionBody) -> Result<String, WebError> {
    let url = body.url.unwrap_or_default();
    if url.trim().is_empty() {
        return Err(WebError::BadRequest(
            "field `url`: must not be empty".into(),
        ));
    }
    Ok(url.trim().to_string())
}

/// Asks the channel's bot to do `action` and returns its reply.
async fn act(
    s: &AppState,
    action: &str,
    body: ActionBody,
    by: &Verified,
) -> Result<Json<Value>, WebError> {
    let channel = s.channel(body.channel.as_deref())?;
    let mut req = PlaylistCommand {
        by: Some(format!("web:{}", by.prefix)),
        ..PlaylistCommand::default()
    };
    if action == subjects::COMMAND_ADD {
        req.temp = body.temp;
        req.url = Some(action_url(body)?);
    }
    let reply = ask_bot(
        s,
        &channel,
        action,
        serde_json::to_vec(&req).unwrap_or_default(),
    )
    .await?;
    tracing::info!(%channel, action, success = reply.success, token = %by.prefix, "Playlist action from the web.");
    Ok(Json(serde_json::to_value(&reply).unwrap_or_default()))
}

/// Sends `rosey.commands.<channel>.<action>` to the channel's bot and reads its reply (the
/// server's answer); no answer in [`ACTION_TIMEOUT`] → no bot (503).
pub(crate) async fn ask_bot(
    s: &AppState,
    channel: &str,
    action: &str,
    payload: Vec<u8>,
) -> Result<CommandReply, WebError> {
    let subject = subjects::command_subject(channel, action);
    let reply = s
        .bus
        .request(&subject, payload, ACTION_TIMEOUT)
        .await
        .map_err(|e| WebError::NoBot {
            channel: channel.to_string(),
            detail: format!("no answer on {subject} ({e})"),
        })?;
    serde_json::from_slice(&reply.payload).map_err(|e| WebError::NoBot {
        channel: channel.to_string(),
        detail: format!("unreadable reply on {subject}: {e}"),
    })
}

/// What an action endpoint does: a playlist action, or undoing a moderator's mute or ban
/// (`crate::moderation`).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Kind {
    Playlist(&'static str),
    Undo,
}

async fn dispatch(
    s: &AppState,
    kind: Kind,
    raw: &[u8],
    by: &Verified,
) -> Result<Json<Value>, WebError> {
    match kind {
        Kind::Playlist(action) => act(s, action, action_body(raw)?, by).await,
        Kind::Undo => crate::moderation::undo(s, raw, by).await,
    }
}

/// `POST` with the `X-API-Token` header.
pub(crate) fn with_token(kind: Kind) -> MethodRouter<Arc<AppState>> {
    post(
        move |State(s): Shared,
              ConnectInfo(peer): ConnectInfo<SocketAddr>,
              headers: HeaderMap,
              raw: bytes::Bytes| async move {
            let who = api_token(&s, peer.ip(), &headers).await?;
            dispatch(&s, kind, &raw, &who).await
        },
    )
}

/// `POST` from the page: the session cookie and its CSRF token.
pub(crate) fn from_page(kind: Kind) -> MethodRouter<Arc<AppState>> {
    post(
        move |State(s): Shared, headers: HeaderMap, raw: bytes::Bytes| async move {
            let who = page_session(&s, &headers).await?;
            dispatch(&s, kind, &raw, &who).await
        },
    )
}

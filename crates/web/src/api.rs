//! The HTTP API: the Rosey v0.5 endpoints with their paths, JSON shapes and status codes
//! (SPEC §9: a script written against v0.5 works unchanged; extra keys only), and the
//! dashboard's own reads under paths of their own. Everything but `/api/live` is a request to
//! the database service.
//!
//! | endpoint | success | errors |
//! |---|---|---|
//! | `GET /api/stats` | 200 `{high_water_marks: {chat, connected}: {count, timestamp}, total_users_seen, top_chatters: [{username, messages}]}` | 404 unknown channel, 503 |
//! | `GET /api/history/<hours>` | 200 `{hours (≤ 168), data: [{timestamp, chat_users, connected_users}]}` | 404 not a whole number |
//! | `GET /api/user/<name>` | 200 the user's row | 404 `{error: "User not found"}` |
//! | `GET /api/current` | 200 `{status: {row} or {}, recent_chat: [{timestamp, username, message}]}` | 503 |
//! | `POST /api/say` `{message}` + `X-API-Token` | 200 `{queued: true, id}` | 400, 401, 429 |
//! | `GET /api/outbound/recent?limit=` (≤ 100) | 200 `{messages: [rows with message_preview, status]}` | 503 |
//! | `GET/POST /api/tokens`, `DELETE /api/tokens/<prefix>` (admin token) | 200 | 400, 401, 403, 404 |
//! | `GET /api/live` (Rosey) | 200 the live state: the bot's state (`gone` when it stopped reporting), users with ranks, media, playlist | 404 |
//! | `GET /api/channels`, `/api/users`, `/api/activity/<hours>` (Rosey) | 200 | 400, 404 |
//! | `GET /api/media/recent?hours=&limit=`, `/api/media/most_played?period=`, `/api/media/search?q=`, `/api/media/item/<type>/<id>` (Rosey, `docs/media-history.md`) | 200 | 400, 404, 503 |
//!
//! Every endpoint takes `?channel=` (missing = the first configured channel). Errors are
//! `{"error": "..."}`. `/api/current` lays the live state over the stored row: the playlist
//! count and media as the bot's events left them, and `bot_connected: false` once the bot
//! is gone.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::HeaderMap;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use rosey_model::media::{self, MediaItemReply, MediaListReply, MostPlayedReply, PlaysReply};
use rosey_model::payload::{
    ChannelStatsReply, ChatRow, EnqueueReply, Peak, UserCountRow, UserStatsReply,
};
use rosey_model::subjects;
use rosey_model::web::{
    ChatActivityReply, CurrentStatusReply, MAX_LIMIT, MIN_REVOKE_PREFIX, OutboundRecentRow,
    TokenCreated, TokenList, TokenRevoked,
};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::{Verified, api_token, page_session};
use crate::db::ask;
use crate::{AppState, WebError};

/// Longest history the API answers, in hours (v0.5: 7 days).
pub const MAX_HISTORY_HOURS: i64 = 168;
/// Entries of `top_chatters` (v0.5: 10).
pub const TOP_CHATTERS: usize = 10;
/// How far back `/api/current`'s `recent_chat` goes, in seconds (v0.5: 20 minutes).
pub const RECENT_CHAT_SECS: i64 = 20 * 60;
/// `/api/outbound/recent`'s default and largest `limit` (v0.5).
pub const OUTBOUND_DEFAULT: i64 = 20;
pub const OUTBOUND_MAX: i64 = 100;
/// Characters of a message in `message_preview` before the `...` (v0.5).
pub const PREVIEW_CHARS: usize = 100;
/// Longest message `say` accepts, in characters (the bot splits what CyTube would cut).
pub const MAX_SAY_CHARS: usize = 1000;

type Shared = State<Arc<AppState>>;
type ApiResult = Result<Json<Value>, WebError>;

pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/stats", get(stats))
        .route("/api/history/{hours}", get(history))
        .route("/api/user/{name}", get(user))
        .route("/api/current", get(current))
        .route("/api/say", post(say))
        .route("/api/outbound/recent", get(outbound_recent))
        .route("/api/tokens", get(tokens_list).post(tokens_create))
        .route("/api/tokens/{prefix}", delete(tokens_revoke))
        .route("/api/channels", get(channels))
        .route("/api/users", get(user_search))
        .route("/api/activity/{hours}", get(activity))
        .route("/api/live", get(live))
        .route("/api/media/recent", get(media_recent))
        .route("/api/media/most_played", get(media_most_played))
        .route("/api/media/search", get(media_search))
        .route("/api/media/item/{kind}/{id}", get(media_item))
        .route("/ui/say", post(page_say))
}

#[derive(Deserialize, Default)]
struct Params {
    channel: Option<String>,
    /// Read as text: v0.5 took a `limit` that is not a number as the default.
    limit: Option<String>,
    prefix: Option<String>,
    user: Option<String>,
    /// Media: the hours `recent` reaches back, the `most_played` period, the search words.
    hours: Option<String>,
    period: Option<String>,
    q: Option<String>,
}

fn to_json<T: serde::Serialize>(v: &T) -> Json<Value> {
    Json(serde_json::to_value(v).unwrap_or_default())
}

async fn stats(State(s): Shared, Query(p): Query<Params>) -> ApiResult {
    let channel = s.channel(p.channel.as_deref())?;
    let r: ChannelStatsReply = ask(
        &s.bus,
        subjects::QUERY_CHANNEL_STATS,
        &json!({"channel": channel}),
    )
    .await?;
    Ok(Json(v05_stats(&r, &channel)))
}

/// The v0.5 shape of the statistics (with the channel and the current counts besides).
pub(crate) fn v05_stats(r: &ChannelStatsReply, channel: &str) -> Value {
    let peak = |p: &Peak| json!({"count": p.users, "timestamp": p.timestamp});
    let top: Vec<Value> = r
        .top_chatters
        .iter()
        .take(TOP_CHATTERS)
        .map(|t| json!({"username": t.username, "messages": t.chat_lines}))
        .collect();
    json!({
        "high_water_marks": {
            "chat": peak(&r.high_water_mark),
            "connected": peak(&r.high_water_connected),
        },
        "total_users_seen": r.total_users_seen,
        "top_chatters": top,
        "channel": channel,
        "current": {"chat_users": r.current.chat_users, "connected_users": r.current.connected_users},
    })
}

/// `/api/history/<hours>`: a whole number, capped at [`MAX_HISTORY_HOURS`] (v0.5: anything
/// else is no such page, 404).
fn v05_hours(raw: &str) -> Result<i64, WebError> {
    if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return Err(WebError::NotFound(format!(
            "hours must be a whole number, got `{raw}`"
        )));
    }
    Ok(raw
        .parse::<i64>()
        .unwrap_or(i64::MAX)
        .min(MAX_HISTORY_HOURS))
}

fn hours(raw: &str, max: i64) -> Result<i64, WebError> {
    match raw.parse::<i64>() {
        Ok(h) if (1..=max).contains(&h) => Ok(h),
        _ => Err(WebError::BadRequest(format!(
            "hours must be a whole number from 1 to {max}, got `{raw}`"
        ))),
    }
}

async fn history(State(s): Shared, Path(raw): Path<String>, Query(p): Query<Params>) -> ApiResult {
    let channel = s.channel(p.channel.as_deref())?;
    let hours = v05_hours(&raw)?;
    let data: Vec<UserCountRow> = if hours == 0 {
        Vec::new()
    } else {
        ask(
            &s.bus,
            subjects::QUERY_USER_COUNT_HISTORY,
            &json!({"channel": channel, "hours": hours}),
        )
        .await?
    };
    Ok(Json(json!({"hours": hours, "data": data})))
}

async fn user(State(s): Shared, Path(name): Path<String>, Query(p): Query<Params>) -> ApiResult {
    let channel = s.channel(p.channel.as_deref())?;
    let reply: UserStatsReply = ask(
        &s.bus,
        subjects::QUERY_USER_STATS,
        &json!({"channel": channel, "username": name}),
    )
    .await?;
    match reply {
        UserStatsReply::Found(f) => Ok(to_json(&f)),
        UserStatsReply::NotFound(_) => Err(WebError::NotFound("User not found".into())),
    }
}

/// `/api/current`: the status row (`{}` when there is none) with the live state laid over
/// it, and the chat of the last [`RECENT_CHAT_SECS`], oldest first.
async fn current(State(s): Shared, Query(p): Query<Params>) -> ApiResult {
    let channel = s.channel(p.channel.as_deref())?;
    let body = json!({"channel": channel});
    let chat_body = json!({"channel": channel, "limit": MAX_LIMIT});
    let (reply, chat) = tokio::join!(
        ask::<CurrentStatusReply>(&s.bus, subjects::QUERY_CURRENT_STATUS, &body),
        ask::<Vec<ChatRow>>(&s.bus, subjects::RECENT_CHAT_GET, &chat_body),
    );
    let reply = reply?;
    let since = crate::hub::now() as i64 - RECENT_CHAT_SECS;
    let recent_chat: Vec<ChatRow> = chat?.into_iter().filter(|r| r.timestamp >= since).collect();
    let mut status = if reply.found {
        serde_json::to_value(&reply.status).unwrap_or_default()
    } else {
        json!({})
    };
    let live = s.hub.channel(&channel).map(|h| h.overview());
    if let Some(live) = &live {
        live.overlay(&mut status);
    }
    Ok(Json(json!({
        "status": status,
        "recent_chat": recent_chat,
        "channel": channel,
        "bot": live.map(|l| l.bot_state),
    })))
}

#[derive(Deserialize)]
struct SayBody {
    message: Option<String>,
    channel: Option<String>,
}

/// The message of a `say` body, trimmed, or why it is refused.
fn say_message(body: &SayBody) -> Result<&str, WebError> {
    let Some(message) = &body.message else {
        return Err(WebError::BadRequest("Missing message".into()));
    };
    let message = message.trim();
    if message.is_empty() {
        return Err(WebError::BadRequest("Empty message".into()));
    }
    if message.chars().count() > MAX_SAY_CHARS {
        return Err(WebError::BadRequest(format!(
            "field `message`: at most {MAX_SAY_CHARS} characters"
        )));
    }
    Ok(message)
}

/// Queues a message into the outbound queue the bot's pump sends from.
async fn enqueue(s: &AppState, body: SayBody, by: &Verified) -> ApiResult {
    let channel = s.channel(body.channel.as_deref())?;
    let message = say_message(&body)?;
    let reply: EnqueueReply = ask(
        &s.bus,
        subjects::OUTBOUND_ENQUEUE,
        &json!({"channel": channel, "message": message}),
    )
    .await?;
    tracing::info!(%channel, id = reply.id, token = %by.prefix, "Message queued from the web.");
    Ok(Json(
        json!({"queued": true, "id": reply.id, "status": "queued"}),
    ))
}

pub(crate) fn body<T: serde::de::DeserializeOwned>(raw: &[u8]) -> Result<T, WebError> {
    serde_json::from_slice(raw).map_err(|e| WebError::BadRequest(format!("body: {e}")))
}

async fn say(
    State(s): Shared,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    raw: bytes::Bytes,
) -> ApiResult {
    let who = api_token(&s, peer.ip(), &headers).await?;
    enqueue(&s, body(&raw)?, &who).await
}

/// The page's `say`: the session cookie and CSRF token instead of a header token.
async fn page_say(State(s): Shared, headers: HeaderMap, raw: bytes::Bytes) -> ApiResult {
    let who = page_session(&s, &headers).await?;
    enqueue(&s, body(&raw)?, &who).await
}

/// A `limit` as v0.5 read it: not a number → `default`; at most `max`, at least 0.
fn limit(raw: Option<&str>, default: i64, max: i64) -> i64 {
    raw.and_then(|l| l.trim().parse::<i64>().ok())
        .unwrap_or(default)
        .clamp(0, max)
}

/// The v0.5 preview: the first [`PREVIEW_CHARS`] characters, `...` when there were more.
pub(crate) fn preview(message: &str) -> String {
    match message.char_indices().nth(PREVIEW_CHARS) {
        Some((end, _)) => format!("{}...", &message[..end]),
        None => message.to_string(),
    }
}

async fn outbound_recent(State(s): Shared, Query(p): Query<Params>) -> ApiResult {
    let channel = s.channel(p.channel.as_deref())?;
    let limit = limit(p.limit.as_deref(), OUTBOUND_DEFAULT, OUTBOUND_MAX);
    let rows: Vec<OutboundRecentRow> = ask(
        &s.bus,
        subjects::QUERY_OUTBOUND_RECENT,
        &json!({"channel": channel, "limit": limit}),
    )
    .await?;
    let messages: Vec<Value> = rows
        .into_iter()
        .map(|r| {
            let mut v = serde_json::to_value(&r).unwrap_or_default();
            v["message_preview"] = json!(preview(&r.message));
            v
        })
        .collect();
    Ok(Json(json!({"messages": messages})))
}

async fn admin(s: &AppState, peer: SocketAddr, headers: &HeaderMap) -> Result<Verified, WebError> {
    let who = api_token(s, peer.ip(), headers).await?;
    if who.admin {
        Ok(who)
    } else {
        Err(WebError::Forbidden(
            "token administration needs an admin token (rosey token create --admin)".into(),
        ))
    }
}

async fn tokens_list(
    State(s): Shared,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> ApiResult {
    admin(&s, peer, &headers).await?;
    let list: TokenList = ask(&s.bus, subjects::TOKENS_LIST, &json!({})).await?;
    let mut v = to_json(&list);
    for (t, info) in v.0["tokens"]
        .as_array_mut()
        .into_iter()
        .flatten()
        .zip(&list.tokens)
    {
        // v0.5: the first 8 characters and `...`.
        let first: String = info.prefix.chars().take(MIN_REVOKE_PREFIX).collect();
        t["token_preview"] = json!(format!("{first}..."));
    }
    Ok(v)
}

#[derive(Deserialize, Default)]
struct CreateBody {
    #[serde(default)]
    description: String,
    #[serde(default)]
    admin: bool,
}

fn create_body(raw: &[u8]) -> Result<CreateBody, WebError> {
    if raw.is_empty() {
        return Ok(CreateBody::default());
    }
    body(raw)
}

async fn tokens_create(
    State(s): Shared,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    raw: bytes::Bytes,
) -> ApiResult {
    let who = admin(&s, peer, &headers).await?;
    let b = create_body(&raw)?;
    let created: TokenCreated = ask(
        &s.bus,
        subjects::TOKENS_CREATE,
        &json!({"description": b.description, "admin": b.admin}),
    )
    .await?;
    tracing::info!(by = %who.prefix, prefix = %created.prefix, "API token created.");
    // v0.5 answered 200, not 201.
    Ok(to_json(&created))
}

async fn tokens_revoke(
    State(s): Shared,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(prefix): Path<String>,
) -> ApiResult {
    let who = admin(&s, peer, &headers).await?;
    if prefix.chars().count() < MIN_REVOKE_PREFIX {
        return Err(WebError::BadRequest(format!(
            "give at least {MIN_REVOKE_PREFIX} characters of the token"
        )));
    }
    let r: TokenRevoked = ask(&s.bus, subjects::TOKENS_REVOKE, &json!({"prefix": prefix})).await?;
    if r.revoked == 0 {
        // v0.5's words (no live token starts with the prefix).
        return Err(WebError::NotFound("Token not found".into()));
    }
    tracing::info!(by = %who.prefix, prefix = ?r.prefix, "API token revoked.");
    Ok(to_json(&r))
}

async fn channels(State(s): Shared) -> Json<Value> {
    Json(json!({
        "channels": s.cfg.channels,
        "default": s.cfg.channels[0],
        "notice": s.cfg.notice,
        "chart_refresh_secs": s.cfg.chart_refresh.as_secs_f64(),
    }))
}

async fn user_search(State(s): Shared, Query(p): Query<Params>) -> ApiResult {
    let channel = s.channel(p.channel.as_deref())?;
    ask(
        &s.bus,
        subjects::QUERY_USER_SEARCH,
        &json!({"channel": channel, "prefix": p.prefix.unwrap_or_default(),
                "limit": limit(p.limit.as_deref(), 20, MAX_LIMIT)}),
    )
    .await
    .map(Json)
}

/// The live state of a channel as the page has it (Rosey): the bot's state (`gone` once it
/// stopped reporting), the users with their ranks, the media and the playlist.
async fn live(State(s): Shared, Query(p): Query<Params>) -> ApiResult {
    let channel = s.channel(p.channel.as_deref())?;
    let hub = s
        .hub
        .channel(&channel)
        .ok_or(WebError::UnknownChannel(channel))?;
    Ok(Json(hub.state_value()))
}

async fn activity(State(s): Shared, Path(raw): Path<String>, Query(p): Query<Params>) -> ApiResult {
    let channel = s.channel(p.channel.as_deref())?;
    let hours = hours(&raw, MAX_HISTORY_HOURS)?;
    let reply: ChatActivityReply = ask(
        &s.bus,
        subjects::QUERY_CHAT_ACTIVITY,
        &json!({"channel": channel, "hours": hours, "username": p.user}),
    )
    .await?;
    Ok(to_json(&reply))
}

/// What a client sends the API, for [`read_request`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestPart {
    /// The body of `POST /api/say` and `/ui/say`.
    Say,
    /// The body of `POST /api/tokens`.
    TokenCreate,
    /// The body of `POST /api/add`, `/api/skip` and their `/ui/` twins.
    Action,
    /// The body of `POST /ui/login`.
    Login,
    /// The body of `POST /api/moderation/undo` and `/ui/moderation/undo`.
    Undo,
    /// The query string every `GET /api/*` takes (`channel`, `limit`, `prefix`, `user`).
    Query,
}

/// Reads one request part as its handler does before any I/O: the same decoding and the
/// same checks on what was decoded. Public so the fuzz targets (`fuzz/`) reach exactly
/// the handlers' code without a server.
pub fn read_request(part: RequestPart, raw: &[u8]) -> Result<(), WebError> {
    match part {
        RequestPart::Say => {
            say_message(&body(raw)?)?;
        }
        RequestPart::TokenCreate => {
            create_body(raw)?;
        }
        RequestPart::Action => {
            crate::actions::action_url(crate::actions::action_body(raw)?)?;
        }
        RequestPart::Login => {
            crate::auth::login_body(raw)?;
        }
        RequestPart::Undo => {
            crate::moderation::undo_request(raw)?;
        }
        RequestPart::Query => {
            let uri = format!("/api/stats?{}", String::from_utf8_lossy(raw));
            let uri: axum::http::Uri = uri
                .parse()
                .map_err(|e| WebError::BadRequest(format!("uri: {e}")))?;
            let Query(p) = Query::<Params>::try_from_uri(&uri)
                .map_err(|e| WebError::BadRequest(e.to_string()))?;
            limit(p.limit.as_deref(), OUTBOUND_DEFAULT, OUTBOUND_MAX);
        }
    }
    Ok(())
}

/// Plays of the last `hours` (default 24: "played today"), newest first.
async fn media_recent(State(s): Shared, Query(p): Query<Params>) -> ApiResult {
    let channel = s.channel(p.channel.as_deref())?;
    let hours = match p.hours.as_deref() {
        None => 24,
        Some(raw) => hours(raw, MAX_HISTORY_HOURS)?,
    };
    let since = now_secs() - hours * 3600;
    let reply: PlaysReply = ask(
        &s.bus,
        subjects::QUERY_MEDIA_RECENT,
        &json!({"channel": channel, "since": since,
                "limit": limit(p.limit.as_deref(), 50, media::MAX_LIMIT).max(1)}),
    )
    .await?;
    Ok(to_json(&reply))
}

async fn media_most_played(State(s): Shared, Query(p): Query<Params>) -> ApiResult {
    let channel = s.channel(p.channel.as_deref())?;
    let period = media::Period::parse(p.period.as_deref().unwrap_or("all"))
        .ok_or_else(|| WebError::BadRequest("period: expected day, week or all".into()))?;
    let reply: MostPlayedReply = ask(
        &s.bus,
        subjects::QUERY_MEDIA_MOST_PLAYED,
        &json!({"channel": channel, "period": period,
                "limit": limit(p.limit.as_deref(), 10, media::MAX_LIMIT).max(1)}),
    )
    .await?;
    Ok(to_json(&reply))
}

async fn media_search(State(s): Shared, Query(p): Query<Params>) -> ApiResult {
    let channel = s.channel(p.channel.as_deref())?;
    let words = p.q.unwrap_or_default();
    if words.trim().is_empty() {
        return Err(WebError::BadRequest("q: give words of a title".into()));
    }
    let reply: MediaListReply = ask(
        &s.bus,
        subjects::QUERY_MEDIA_SEARCH,
        &json!({"channel": channel, "words": words,
                "limit": limit(p.limit.as_deref(), 20, media::MAX_LIMIT).max(1)}),
    )
    .await?;
    Ok(to_json(&reply))
}

/// One media's page: totals (plays, time played, skips, removals), adders, newest plays.
async fn media_item(
    State(s): Shared,
    Path((kind, id)): Path<(String, String)>,
    Query(p): Query<Params>,
) -> ApiResult {
    let channel = s.channel(p.channel.as_deref())?;
    let reply: MediaItemReply = ask(
        &s.bus,
        subjects::QUERY_MEDIA_ITEM,
        &json!({"channel": channel, "type": kind, "media_id": id,
                "limit": limit(p.limit.as_deref(), 20, media::MAX_LIMIT).max(1)}),
    )
    .await?;
    if !reply.found {
        return Err(WebError::NotFound("Media not found".into()));
    }
    Ok(to_json(&reply))
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

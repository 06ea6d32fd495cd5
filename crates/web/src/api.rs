//! The HTTP API: the Rosey v0.5 endpoints with their paths, JSON shapes and status codes,
//! and the dashboard's own reads. Everything is a request to the database service.
//!
//! | endpoint | success | errors |
//! |---|---|---|
//! | `GET /api/stats` | 200 `channel_stats` reply | 404 unknown channel, 503 |
//! | `GET /api/history/<hours>` | 200 array of `{timestamp, chat_users, connected_users}` | 400 hours not 1..=168 |
//! | `GET /api/user/<name>` | 200 `user_stats` found shape | 404 `{error}` |
//! | `GET /api/current` | 200 the `current_status` row | 503 |
//! | `POST /api/say` `{message}` + `X-API-Token` | 200 `{success, message_id}` | 400, 401, 429 |
//! | `GET /api/outbound/recent?limit=` | 200 array of rows with `status` | 400 |
//! | `GET/POST /api/tokens`, `DELETE /api/tokens/<prefix>` (admin token) | 200 / 201 / 200 | 400, 401, 403, 404 |
//!
//! Every endpoint takes `?channel=` (missing = the first configured channel). Errors are
//! `{"error": "..."}`.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use rosey_model::payload::{EnqueueReply, UserStatsReply};
use rosey_model::subjects;
use rosey_model::web::{
    ChatActivityReply, CurrentStatusReply, MIN_REVOKE_PREFIX, TokenCreated, TokenList, TokenRevoked,
};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::{Verified, api_token, page_session};
use crate::db::ask;
use crate::{AppState, WebError};

/// Longest history the API answers, in hours (v0.5: 7 days).
pub const MAX_HISTORY_HOURS: i64 = 168;
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
        .route("/ui/say", post(page_say))
}

#[derive(Deserialize, Default)]
struct Params {
    channel: Option<String>,
    limit: Option<i64>,
    prefix: Option<String>,
    user: Option<String>,
}

fn to_json<T: serde::Serialize>(v: &T) -> Json<Value> {
    Json(serde_json::to_value(v).unwrap_or_default())
}

async fn stats(State(s): Shared, Query(p): Query<Params>) -> ApiResult {
    let channel = s.channel(p.channel.as_deref())?;
    ask(
        &s.bus,
        subjects::QUERY_CHANNEL_STATS,
        &json!({"channel": channel}),
    )
    .await
    .map(Json)
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
    let hours = hours(&raw, MAX_HISTORY_HOURS)?;
    ask(
        &s.bus,
        subjects::QUERY_USER_COUNT_HISTORY,
        &json!({"channel": channel, "hours": hours}),
    )
    .await
    .map(Json)
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
        UserStatsReply::NotFound(n) => Err(WebError::NotFound(n.message)),
    }
}

async fn current(State(s): Shared, Query(p): Query<Params>) -> ApiResult {
    let channel = s.channel(p.channel.as_deref())?;
    let reply: CurrentStatusReply = ask(
        &s.bus,
        subjects::QUERY_CURRENT_STATUS,
        &json!({"channel": channel}),
    )
    .await?;
    let mut v = serde_json::to_value(&reply.status).unwrap_or_default();
    v["channel"] = json!(channel);
    Ok(Json(v))
}

#[derive(Deserialize)]
struct SayBody {
    message: Option<String>,
    channel: Option<String>,
}

/// Queues a message into the outbound queue the bot's pump sends from.
async fn enqueue(s: &AppState, body: SayBody, by: &Verified) -> ApiResult {
    let channel = s.channel(body.channel.as_deref())?;
    let message = body.message.unwrap_or_default();
    let message = message.trim();
    if message.is_empty() {
        return Err(WebError::BadRequest(
            "field `message`: must not be empty".into(),
        ));
    }
    if message.chars().count() > MAX_SAY_CHARS {
        return Err(WebError::BadRequest(format!(
            "field `message`: at most {MAX_SAY_CHARS} characters"
        )));
    }
    let reply: EnqueueReply = ask(
        &s.bus,
        subjects::OUTBOUND_ENQUEUE,
        &json!({"channel": channel, "message": message}),
    )
    .await?;
    tracing::info!(%channel, id = reply.id, token = %by.prefix, "Message queued from the web.");
    Ok(Json(
        json!({"success": true, "message_id": reply.id, "status": "queued"}),
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

async fn outbound_recent(State(s): Shared, Query(p): Query<Params>) -> ApiResult {
    let channel = s.channel(p.channel.as_deref())?;
    let limit = p.limit.unwrap_or(20);
    ask(
        &s.bus,
        subjects::QUERY_OUTBOUND_RECENT,
        &json!({"channel": channel, "limit": limit}),
    )
    .await
    .map(Json)
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
    Ok(to_json(&list))
}

#[derive(Deserialize, Default)]
struct CreateBody {
    #[serde(default)]
    description: String,
    #[serde(default)]
    admin: bool,
}

async fn tokens_create(
    State(s): Shared,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    raw: bytes::Bytes,
) -> Result<(StatusCode, Json<Value>), WebError> {
    let who = admin(&s, peer, &headers).await?;
    let b: CreateBody = if raw.is_empty() {
        CreateBody::default()
    } else {
        body(&raw)?
    };
    let created: TokenCreated = ask(
        &s.bus,
        subjects::TOKENS_CREATE,
        &json!({"description": b.description, "admin": b.admin}),
    )
    .await?;
    tracing::info!(by = %who.prefix, prefix = %created.prefix, "API token created.");
    Ok((StatusCode::CREATED, to_json(&created)))
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
        return Err(WebError::NotFound(format!(
            "no live token starts with `{prefix}`"
        )));
    }
    tracing::info!(by = %who.prefix, prefix = ?r.prefix, "API token revoked.");
    Ok(to_json(&r))
}

async fn channels(State(s): Shared) -> Json<Value> {
    Json(json!({"channels": s.cfg.channels, "default": s.cfg.channels[0]}))
}

async fn user_search(State(s): Shared, Query(p): Query<Params>) -> ApiResult {
    let channel = s.channel(p.channel.as_deref())?;
    ask(
        &s.bus,
        subjects::QUERY_USER_SEARCH,
        &json!({"channel": channel, "prefix": p.prefix.unwrap_or_default(),
                "limit": p.limit.unwrap_or(20)}),
    )
    .await
    .map(Json)
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

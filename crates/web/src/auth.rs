//! Who may act: API tokens (checked by the database service over the bus, which compares
//! hashes in constant time), a limit on failed attempts per client address, and the login
//! session of the page's moderator actions.
//!
//! - `X-API-Token` on the API: missing → 401; unknown or revoked → 401 and one failed
//!   attempt counted; [`MAX_FAILURES`] failures within [`FAILURE_WINDOW`] → 429 (with
//!   `Retry-After`) without asking the bus, until the window passes. An attempt is reserved
//!   before the bus is asked, so concurrent checks from one client never reach the bus more
//!   often than the failures it has left (the rest wait for a verdict, then go on or get
//!   429). The client is the peer, or behind a trusted proxy the address it forwarded
//!   (see [`crate::proxy`]).
//! - The page logs in with a token (`POST /ui/login`); the reply sets an `HttpOnly`,
//!   `SameSite=Strict` session cookie (`Secure` when configured: behind TLS) and returns a
//!   CSRF token that the page sends back in `X-CSRF-Token` with every action, logout
//!   included; a missing session or a wrong CSRF token → 403. Sessions live in this process
//!   (a restart logs everyone out) for [`SESSION_TTL`].
//! - A session keeps the token it was opened with and checks it again with the database
//!   service on every action and on `/ui/session`: once the token is revoked (over HTTP,
//!   with `rosey token revoke`, from any dashboard), its sessions end at the next request
//!   (401) — one bus request per action, the price of never trusting a stale login.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use data_encoding::BASE64URL_NOPAD;
use rand::TryRngCore;
use rosey_model::subjects;
use rosey_model::web::TokenVerified;
use serde::Deserialize;
use serde_json::json;
use subtle::ConstantTimeEq;

use crate::db::ask;
use crate::limits::WebStats;
use crate::{AppState, WebError};

/// Failed attempts allowed per client address within [`FAILURE_WINDOW`].
pub const MAX_FAILURES: u32 = 10;
/// The window of [`MAX_FAILURES`].
pub const FAILURE_WINDOW: Duration = Duration::from_secs(60);
/// How long a login lasts.
pub const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);
/// Sessions kept at most (the oldest go first).
const MAX_SESSIONS: usize = 10_000;
/// Client addresses tracked at most (beyond it, expired entries are dropped).
const MAX_TRACKED: usize = 10_000;
/// The session cookie.
pub const COOKIE: &str = "rosey_session";
/// The header API clients send their token in (v0.5).
pub const TOKEN_HEADER: &str = "x-api-token";
/// The header the page sends its CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// A token the database service accepted.
#[derive(Debug, Clone)]
pub struct Verified {
    pub prefix: String,
    pub admin: bool,
}

#[derive(Clone)]
struct Session {
    who: Verified,
    /// The token the session was opened with, checked again on every action.
    token: String,
    csrf: String,
    expires: Instant,
}

/// One client's attempts within the window: failed, and checks on the bus right now.
#[derive(Debug, Clone, Copy)]
struct Attempts {
    start: Instant,
    failed: u32,
    pending: u32,
}

/// How long a check waits for a free attempt (other checks of the client on the bus).
const RESERVE_WAIT: Duration = Duration::from_secs(10);

/// Failed-attempt counting and sessions.
pub struct Auth {
    failures: Mutex<HashMap<IpAddr, Attempts>>,
    /// Woken whenever a reserved attempt is settled.
    settled: Notify,
    sessions: Mutex<HashMap<String, Session>>,
    secure_cookies: bool,
    stats: Arc<WebStats>,
}

/// What [`Auth::try_reserve`] found.
enum Reserve {
    Granted,
    Blocked(u64),
    /// Every attempt left is on the bus: wait for one to settle.
    Busy,
}

/// An attempt on the bus; settles as a failure with [`Reservation::failed`], else (valid
/// token, bus error, dropped request) gives the attempt back.
pub(crate) struct Reservation<'a> {
    auth: &'a Auth,
    ip: IpAddr,
}

impl Reservation<'_> {
    fn failed(self) {
        self.auth.settle(self.ip, true);
        std::mem::forget(self);
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        self.auth.settle(self.ip, false);
    }
}

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    // The OS random source failing is not something a web request can recover from.
    rand::rngs::OsRng
        .try_fill_bytes(&mut bytes)
        .expect("the operating system's random source failed");
    BASE64URL_NOPAD.encode(&bytes)
}

impl Auth {
    pub fn new(secure_cookies: bool, stats: Arc<WebStats>) -> Self {
        Auth {
            failures: Mutex::new(HashMap::new()),
            settled: Notify::new(),
            sessions: Mutex::new(HashMap::new()),
            secure_cookies,
            stats,
        }
    }

    /// Seconds until `ip` may try again, when it is blocked.
    #[cfg(test)]
    fn blocked(&self, ip: IpAddr) -> Option<u64> {
        match self.try_reserve(ip, false) {
            Reserve::Blocked(secs) => Some(secs),
            _ => None,
        }
    }

    /// Takes one of `ip`'s attempts (when `take`), or says why not.
    fn try_reserve(&self, ip: IpAddr, take: bool) -> Reserve {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if failures.len() >= MAX_TRACKED {
            failures.retain(|_, a| a.pending > 0 || a.start.elapsed() < FAILURE_WINDOW);
        }
        let a = failures.entry(ip).or_insert(Attempts {
            start: Instant::now(),
            failed: 0,
            pending: 0,
        });
        if a.start.elapsed() >= FAILURE_WINDOW {
            a.start = Instant::now();
            a.failed = 0;
        }
        if a.failed >= MAX_FAILURES {
            let left = FAILURE_WINDOW.saturating_sub(a.start.elapsed());
            return Reserve::Blocked(left.as_secs().max(1));
        }
        if a.failed + a.pending >= MAX_FAILURES {
            return Reserve::Busy;
        }
        if take {
            a.pending += 1;
        } else if a.pending == 0 && a.failed == 0 {
            failures.remove(&ip);
        }
        Reserve::Granted
    }

    /// Reserves an attempt for `ip` before its token goes to the bus: 429 when it has none
    /// left; while its remaining attempts are all on the bus, waits for their verdicts.
    pub(crate) async fn reserve(&self, ip: IpAddr) -> Result<Reservation<'_>, WebError> {
        let deadline = tokio::time::Instant::now() + RESERVE_WAIT;
        loop {
            let settled = self.settled.notified();
            tokio::pin!(settled);
            settled.as_mut().enable();
            match self.try_reserve(ip, true) {
                Reserve::Granted => return Ok(Reservation { auth: self, ip }),
                Reserve::Blocked(secs) => {
                    self.stats.blocked_attempt();
                    return Err(WebError::TooManyAttempts(secs));
                }
                Reserve::Busy => {
                    if tokio::time::timeout_at(deadline, settled).await.is_err() {
                        return Err(WebError::Unavailable(
                            "token checks are taking too long; try again".into(),
                        ));
                    }
                }
            }
        }
    }

    fn settle(&self, ip: IpAddr, failed: bool) {
        {
            let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(a) = failures.get_mut(&ip) {
                a.pending = a.pending.saturating_sub(1);
                if failed {
                    if a.start.elapsed() >= FAILURE_WINDOW {
                        a.start = Instant::now();
                        a.failed = 0;
                    }
                    a.failed += 1;
                    if a.failed == MAX_FAILURES {
                        tracing::warn!(client = %ip, "Too many failed token attempts; refusing for a while.");
                    }
                } else if a.failed == 0 && a.pending == 0 {
                    failures.remove(&ip);
                }
            }
        }
        self.settled.notify_waiters();
    }

    #[cfg(test)]
    fn fail(&self, ip: IpAddr) {
        if let Reserve::Granted = self.try_reserve(ip, true) {
            self.settle(ip, true);
        }
    }

    fn cookie(&self, id: &str, max_age: u64) -> HeaderValue {
        let secure = if self.secure_cookies { "; Secure" } else { "" };
        let v =
            format!("{COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}");
        HeaderValue::from_str(&v).unwrap_or(HeaderValue::from_static(""))
    }

    fn session_of(&self, headers: &HeaderMap) -> Option<(String, Session)> {
        let id = cookie_value(headers, COOKIE)?;
        let mut sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        match sessions.get(&id) {
            Some(s) if s.expires > Instant::now() => Some((id, s.clone())),
            Some(_) => {
                sessions.remove(&id);
                None
            }
            None => None,
        }
    }

    fn end_session(&self, id: &str) {
        self.sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id);
    }

    fn open_session(&self, who: Verified, token: &str) -> (String, String) {
        let (id, csrf) = (random_token(), random_token());
        let mut sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        if sessions.len() >= MAX_SESSIONS {
            let now = Instant::now();
            sessions.retain(|_, s| s.expires > now);
            if sessions.len() >= MAX_SESSIONS
                && let Some(oldest) = sessions
                    .iter()
                    .min_by_key(|(_, s)| s.expires)
                    .map(|(k, _)| k.clone())
            {
                sessions.remove(&oldest);
            }
        }
        sessions.insert(
            id.clone(),
            Session {
                who,
                token: token.to_string(),
                csrf: csrf.clone(),
                expires: Instant::now() + SESSION_TTL,
            },
        );
        (id, csrf)
    }
}

fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// Asks the database service about a token.
async fn verify(state: &AppState, token: &str) -> Result<Option<Verified>, WebError> {
    let reply: TokenVerified = ask(
        &state.bus,
        subjects::TOKENS_VERIFY,
        &json!({"token": token}),
    )
    .await?;
    Ok(reply.valid.then(|| Verified {
        prefix: reply.prefix.unwrap_or_default(),
        admin: reply.admin,
    }))
}

/// Checks a presented token over the bus, counting a failure against the client `ip`
/// (reserved before the bus is asked).
pub(crate) async fn check_token(
    state: &AppState,
    ip: IpAddr,
    token: &str,
) -> Result<Verified, WebError> {
    let attempt = state.auth.reserve(ip).await?;
    match verify(state, token).await? {
        Some(who) => Ok(who),
        None => {
            attempt.failed();
            Err(WebError::Unauthorized(
                "Invalid or revoked API token".into(),
            ))
        }
    }
}

/// The API token of a request (`X-API-Token`) from `peer`, checked.
pub(crate) async fn api_token(
    state: &AppState,
    peer: IpAddr,
    headers: &HeaderMap,
) -> Result<Verified, WebError> {
    let token = headers
        .get(TOKEN_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| WebError::Unauthorized("Missing X-API-Token header".into()))?;
    check_token(state, state.client(peer, headers), token).await
}

/// The session of a request with its CSRF token checked (no bus request).
fn csrf_checked(state: &AppState, headers: &HeaderMap) -> Result<(String, Session), WebError> {
    let (id, session) = state
        .auth
        .session_of(headers)
        .ok_or_else(|| WebError::Forbidden("Log in with an API token first".into()))?;
    let sent = headers
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if bool::from(sent.as_bytes().ct_eq(session.csrf.as_bytes())) {
        Ok((id, session))
    } else {
        Err(WebError::Forbidden("Missing or wrong CSRF token".into()))
    }
}

/// Checks a session's token again; a revoked token ends the session (401).
async fn still_valid(state: &AppState, id: &str, session: &Session) -> Result<Verified, WebError> {
    match verify(state, &session.token).await? {
        Some(who) => Ok(who),
        None => {
            state.auth.end_session(id);
            tracing::info!(token = %session.who.prefix, "Session ended: its token was revoked.");
            Err(WebError::Unauthorized(
                "The token of this session was revoked; log in again".into(),
            ))
        }
    }
}

/// The logged-in session of a page action, with its CSRF token checked and its token
/// checked again with the database service.
pub(crate) async fn page_session(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Verified, WebError> {
    let (id, session) = csrf_checked(state, headers)?;
    still_valid(state, &id, &session).await
}

/// A logged-in reader of what only moderators see (the moderation feed): the session
/// cookie, its token checked again, but no CSRF token — a read changes nothing, and the
/// `SameSite=Strict` cookie is not sent from another site.
pub(crate) async fn page_reader(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Verified, WebError> {
    let (id, session) = state
        .auth
        .session_of(headers)
        .ok_or_else(|| WebError::Forbidden("Log in with an API token first".into()))?;
    still_valid(state, &id, &session).await
}

pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/ui/login", post(login))
        .route("/ui/logout", post(logout))
        .route("/ui/session", get(session))
}

#[derive(Deserialize)]
struct Login {
    token: String,
}

/// A login body read as the handler's `Json<Login>` extractor reads it (after its
/// content-type check): axum's own `Json::from_bytes`.
pub(crate) fn login_body(raw: &[u8]) -> Result<(), WebError> {
    Json::<Login>::from_bytes(raw)
        .map(|_| ())
        .map_err(|e| WebError::BadRequest(e.body_text()))
}

async fn login(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Json(body): Json<Login>,
) -> Result<Response, WebError> {
    let token = body.token.trim();
    let who = check_token(&state, state.client(peer.ip(), &headers), token).await?;
    let reply = json!({"logged_in": true, "prefix": who.prefix, "admin": who.admin});
    let (id, csrf) = state.auth.open_session(who, token);
    let mut body = reply;
    body["csrf"] = json!(csrf);
    let mut response = Json(body).into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        state.auth.cookie(&id, SESSION_TTL.as_secs()),
    );
    Ok(response)
}

/// Ends the session: like every action it needs the CSRF token (another site cannot log
/// the user out). Without a session there is nothing to end.
async fn logout(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    if state.auth.session_of(&headers).is_some() {
        let (id, _) = csrf_checked(&state, &headers)?;
        state.auth.end_session(&id);
    }
    let mut response = Json(json!({"logged_in": false})).into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, state.auth.cookie("", 0));
    Ok(response)
}

/// The page asks after a reload whether it is logged in (and gets its CSRF token back;
/// the same-origin policy keeps other sites from reading it). The session's token is
/// checked again: a revoked one ends the session here too.
async fn session(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, WebError> {
    let Some((id, s)) = state.auth.session_of(&headers) else {
        return Ok(Json(json!({"logged_in": false})));
    };
    match still_valid(&state, &id, &s).await {
        Ok(who) => Ok(Json(json!({
            "logged_in": true, "prefix": who.prefix, "admin": who.admin, "csrf": s.csrf
        }))),
        Err(WebError::Unauthorized(_)) => Ok(Json(json!({"logged_in": false}))),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_block_after_the_limit() {
        let auth = Auth::new(false, Arc::default());
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        for _ in 0..MAX_FAILURES - 1 {
            auth.fail(ip);
        }
        assert!(auth.blocked(ip).is_none());
        auth.fail(ip);
        assert!(auth.blocked(ip).is_some());
        assert!(auth.blocked("192.0.2.2".parse().unwrap()).is_none());
    }

    #[test]
    fn cookies_are_http_only_and_strict() {
        let c = Auth::new(true, Arc::default()).cookie("abc", 10);
        let c = c.to_str().unwrap();
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Strict") && c.contains("Secure"));
        assert!(
            !Auth::new(false, Arc::default())
                .cookie("abc", 10)
                .to_str()
                .unwrap()
                .contains("Secure")
        );
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, "a=1; rosey_session=xyz".parse().unwrap());
        assert_eq!(cookie_value(&h, COOKIE).as_deref(), Some("xyz"));
    }
}

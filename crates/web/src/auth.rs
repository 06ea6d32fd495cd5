//! Who may act: API tokens (checked by the database service over the bus, which compares
//! hashes in constant time), a limit on failed attempts per client address, and the login
//! session of the page's moderator actions.
//!
//! - `X-API-Token` on the API: missing → 401; unknown or revoked → 401 and one failed
//!   attempt counted; [`MAX_FAILURES`] failures within [`FAILURE_WINDOW`] → 429 (with
//!   `Retry-After`) without asking the bus, until the window passes.
//! - The page logs in with a token (`POST /ui/login`); the reply sets an `HttpOnly`,
//!   `SameSite=Strict` session cookie (`Secure` when configured: behind TLS) and returns a
//!   CSRF token that the page sends back in `X-CSRF-Token` with every action; a missing
//!   session or a wrong CSRF token → 403. Sessions live in this process (a restart logs
//!   everyone out) for [`SESSION_TTL`].

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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

#[derive(Debug, Clone)]
struct Session {
    who: Verified,
    csrf: String,
    expires: Instant,
}

/// Failed-attempt counting and sessions.
pub struct Auth {
    failures: Mutex<HashMap<IpAddr, (Instant, u32)>>,
    sessions: Mutex<HashMap<String, Session>>,
    secure_cookies: bool,
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
    pub fn new(secure_cookies: bool) -> Self {
        Auth {
            failures: Mutex::new(HashMap::new()),
            sessions: Mutex::new(HashMap::new()),
            secure_cookies,
        }
    }

    /// Seconds until `ip` may try again, when it is blocked.
    fn blocked(&self, ip: IpAddr) -> Option<u64> {
        let failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let (start, n) = failures.get(&ip)?;
        let left = FAILURE_WINDOW.checked_sub(start.elapsed())?;
        (*n >= MAX_FAILURES).then(|| left.as_secs().max(1))
    }

    fn fail(&self, ip: IpAddr) {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if failures.len() >= MAX_TRACKED {
            failures.retain(|_, (start, _)| start.elapsed() < FAILURE_WINDOW);
        }
        let entry = failures.entry(ip).or_insert((Instant::now(), 0));
        if entry.0.elapsed() >= FAILURE_WINDOW {
            *entry = (Instant::now(), 0);
        }
        entry.1 += 1;
        if entry.1 == MAX_FAILURES {
            tracing::warn!(client = %ip, "Too many failed token attempts; refusing for a while.");
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

    fn open_session(&self, who: Verified) -> (String, String) {
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

/// Checks a presented token over the bus, counting a failure against `ip`.
pub(crate) async fn check_token(
    state: &AppState,
    ip: IpAddr,
    token: &str,
) -> Result<Verified, WebError> {
    if let Some(secs) = state.auth.blocked(ip) {
        return Err(WebError::TooManyAttempts(secs));
    }
    let reply: TokenVerified = ask(
        &state.bus,
        subjects::TOKENS_VERIFY,
        &json!({"token": token}),
    )
    .await?;
    if reply.valid {
        Ok(Verified {
            prefix: reply.prefix.unwrap_or_default(),
            admin: reply.admin,
        })
    } else {
        state.auth.fail(ip);
        Err(WebError::Unauthorized(
            "Invalid or revoked API token".into(),
        ))
    }
}

/// The API token of a request (`X-API-Token`), checked.
pub(crate) async fn api_token(
    state: &AppState,
    ip: IpAddr,
    headers: &HeaderMap,
) -> Result<Verified, WebError> {
    let token = headers
        .get(TOKEN_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| WebError::Unauthorized("Missing X-API-Token header".into()))?;
    check_token(state, ip, token).await
}

/// The logged-in session of a page action, with its CSRF token checked.
pub(crate) fn page_session(state: &AppState, headers: &HeaderMap) -> Result<Verified, WebError> {
    let (_, session) = state
        .auth
        .session_of(headers)
        .ok_or_else(|| WebError::Forbidden("Log in with an API token first".into()))?;
    let sent = headers
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if bool::from(sent.as_bytes().ct_eq(session.csrf.as_bytes())) {
        Ok(session.who)
    } else {
        Err(WebError::Forbidden("Missing or wrong CSRF token".into()))
    }
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

async fn login(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Json(body): Json<Login>,
) -> Result<Response, WebError> {
    let who = check_token(&state, peer.ip(), body.token.trim()).await?;
    let reply = json!({"logged_in": true, "prefix": who.prefix, "admin": who.admin});
    let (id, csrf) = state.auth.open_session(who);
    let mut body = reply;
    body["csrf"] = json!(csrf);
    let mut response = Json(body).into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        state.auth.cookie(&id, SESSION_TTL.as_secs()),
    );
    Ok(response)
}

async fn logout(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if let Some((id, _)) = state.auth.session_of(&headers) {
        state
            .auth
            .sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&id);
    }
    let mut response = Json(json!({"logged_in": false})).into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, state.auth.cookie("", 0));
    response
}

/// The page asks after a reload whether it is logged in (and gets its CSRF token back;
/// the same-origin policy keeps other sites from reading it).
async fn session(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Json<serde_json::Value> {
    match state.auth.session_of(&headers) {
        Some((_, s)) => Json(json!({
            "logged_in": true, "prefix": s.who.prefix, "admin": s.who.admin, "csrf": s.csrf
        })),
        None => Json(json!({"logged_in": false})),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_block_after_the_limit() {
        let auth = Auth::new(false);
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
        let c = Auth::new(true).cookie("abc", 10);
        let c = c.to_str().unwrap();
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Strict") && c.contains("Secure"));
        assert!(
            !Auth::new(false)
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

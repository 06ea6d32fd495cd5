//! The Rosey web dashboard and the Rosey v0.5 HTTP API: a client of the bus like any other
//! process. It reads only over NATS — request/reply to the database service
//! (`rosey.db.query.*`, `rosey.db.tokens.*`), live events from `rosey.events.>`, the bots'
//! status from the micro-service discovery subjects — and never opens the database, so any
//! number of dashboards can run.
//!
//! # Layout
//! - [`hub`]: the live state of every channel (users, media, recent chat, statistics), fed by
//!   `rosey.events.>` and a periodic refresh, fanned out to browsers as frames.
//! - [`sse`] (private): `GET /events`: a snapshot first, then the live frames (Server-Sent
//!   Events); a browser that falls behind skips ahead to a fresh snapshot.
//! - [`api`] (private): the v0.5 API (`/api/stats`, `/api/history/<hours>`, `/api/user/<name>`,
//!   `/api/current`, `POST /api/say`, `/api/outbound/recent`, `/api/tokens`) and the
//!   dashboard's own reads, with the v0.5 shapes and status codes; [`read_request`] reads a
//!   request body or query string as its handler does, without a server (the fuzz targets).
//! - [`actions`] (private): the playlist actions (`add`, `skip`) from the API and the page,
//!   asked of the channel's bot, answered with what the CyTube server did.
//! - [`moderation`] (private): the Moderation panel: the automated moderator's recent
//!   decisions live for a logged-in moderator (`GET /ui/moderation/events`), and undoing a
//!   mute or ban from them (`POST /api/moderation/undo`, `/ui/moderation/undo`).
//! - [`auth`]: API tokens checked over the bus, the per-client limit of failed attempts,
//!   the login session (cookie + CSRF token) of the moderator actions, re-checked on each
//!   action so a revoked token's sessions end at once.
//! - [`proxy`]: the client address of a request (`X-Forwarded-For` from trusted proxies only).
//! - [`limits`]: caps on connections and event streams per client and in total, and the
//!   listener's counters ([`WebStats`], the `rosey_web_*` metrics).
//! - [`serve`] (private): the listener: HTTP/1.1 with header and idle timeouts, the caps.
//! - [`db`] (private): the one request helper for the database service.
//! - [`assets`] (private): the page, its scripts (the chart code, [`CHART_JS`], is shared
//!   with the benchmark report page) and style sheet and the OpenAPI document,
//!   embedded in the binary; the security headers every response carries.
//! - [`error`]: the error type, [`WebError`], and the status code of each kind.
//!
//! Every dynamic string reaches the page as JSON and is put into the DOM with
//! `textContent` by the embedded script: the HTML itself is static, so there is nothing for
//! a template engine to escape (and no inline script: the Content-Security-Policy forbids it).

mod actions;
mod api;
mod assets;
pub mod auth;
mod db;
pub mod error;
pub mod hub;
pub mod limits;
mod moderation;
pub mod proxy;
mod serve;
mod sse;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use rosey_bus::Bus;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use api::{RequestPart, read_request};
pub use assets::{APP_CSS, CHART_JS};
pub use error::WebError;
pub use limits::{Limits, WebStats};
pub use proxy::TrustedProxies;

/// How long a request to the database service may take before the API answers 503.
pub const BUS_TIMEOUT: Duration = Duration::from_secs(2);
/// [`WebConfig::bot_gone_after`] by default: three of the bot's status intervals (10 s).
pub const BOT_GONE_AFTER: Duration = Duration::from_secs(30);

/// What `rosey web` serves.
#[derive(Debug, Clone)]
pub struct WebConfig {
    /// Where to listen (port 0: any free port).
    pub listen: SocketAddr,
    /// The channels a viewer may see, in configuration order; the first is the default.
    pub channels: Vec<String>,
    /// Mark the session cookie `Secure` (behind a TLS proxy).
    pub secure_cookies: bool,
    /// How long without a sign of life from a channel's bot (status answer, status row,
    /// event) before the page and the API say it is gone.
    pub bot_gone_after: Duration,
    /// How often statistics and bot status are refreshed for the live page.
    pub refresh: Duration,
    /// Timeouts and caps on connections and event streams.
    pub limits: Limits,
    /// Proxies whose `X-Forwarded-For` names the client (none: the peer is the client).
    pub trusted_proxies: TrustedProxies,
    /// A line the page shows under its title (`rosey demo` says it is a demo).
    pub notice: Option<String>,
    /// How often the page reloads its charts (the demo samples every few seconds).
    pub chart_refresh: Duration,
}

impl WebConfig {
    pub fn new(listen: SocketAddr, channels: Vec<String>) -> Self {
        WebConfig {
            listen,
            channels,
            secure_cookies: false,
            bot_gone_after: BOT_GONE_AFTER,
            refresh: Duration::from_secs(5),
            limits: Limits::default(),
            trusted_proxies: TrustedProxies::default(),
            notice: None,
            chart_refresh: Duration::from_secs(60),
        }
    }
}

/// Shared by every handler.
pub(crate) struct AppState {
    pub bus: Bus,
    pub cfg: WebConfig,
    pub hub: hub::Hub,
    pub auth: auth::Auth,
    /// Open event streams, capped per client and in total.
    pub streams: Arc<limits::Slots>,
    /// Flips to true at shutdown: open event streams end, so the server can stop.
    pub stop: watch::Receiver<bool>,
}

impl AppState {
    /// The channel a request names, if the viewer may see it; none = the default.
    pub fn channel(&self, asked: Option<&str>) -> Result<String, WebError> {
        match asked {
            None | Some("") => Ok(self.cfg.channels[0].clone()),
            Some(c) if self.cfg.channels.iter().any(|k| k == c) => Ok(c.to_string()),
            Some(c) => Err(WebError::UnknownChannel(c.to_string())),
        }
    }

    /// The client a request comes from (see [`proxy`]).
    pub fn client(
        &self,
        peer: std::net::IpAddr,
        headers: &axum::http::HeaderMap,
    ) -> std::net::IpAddr {
        self.cfg.trusted_proxies.client(peer, headers)
    }
}

/// The running dashboard.
pub struct WebHandle {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    server: JoinHandle<()>,
    hub_task: JoinHandle<()>,
    stats: Arc<WebStats>,
}

impl WebHandle {
    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://addr/`.
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// The listener's counters; register them with the process's metrics
    /// (`rosey_metrics::Metrics::add_source`).
    pub fn stats(&self) -> Arc<WebStats> {
        self.stats.clone()
    }

    /// Stops serving (open event streams end) and waits.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.server.await;
        self.hub_task.abort();
        let _ = self.hub_task.await;
    }
}

/// Starts the dashboard: subscribes to the live events, loads the current state, listens.
pub async fn start(bus: Bus, cfg: WebConfig) -> Result<WebHandle, WebError> {
    if cfg.channels.is_empty() {
        return Err(WebError::Config("no channel to show".into()));
    }
    let listener = TcpListener::bind(cfg.listen)
        .await
        .map_err(|e| WebError::Bind(cfg.listen, e))?;
    let addr = listener
        .local_addr()
        .map_err(|e| WebError::Bind(cfg.listen, e))?;
    let (hub, hub_task) = hub::Hub::start(bus.clone(), &cfg).await?;
    let (stop, stop_rx) = watch::channel(false);
    let stats = Arc::new(WebStats::default());
    let streams = limits::Slots::new(
        limits::Kind::Stream,
        cfg.limits.max_streams,
        cfg.limits.max_streams_per_client,
        stats.clone(),
    );
    let (limits, proxies) = (cfg.limits.clone(), Arc::new(cfg.trusted_proxies.clone()));
    let state = Arc::new(AppState {
        auth: auth::Auth::new(cfg.secure_cookies, stats.clone()),
        bus,
        cfg,
        hub,
        streams,
        stop: stop_rx.clone(),
    });
    let listener = serve::Listener {
        tcp: listener,
        app: router(state),
        limits,
        proxies,
        stats: stats.clone(),
        stop: stop_rx,
    };
    let server = tokio::spawn(listener.run());
    tracing::info!(%addr, "Web dashboard listening.");
    Ok(WebHandle {
        addr,
        stop,
        server,
        hub_task,
        stats,
    })
}

/// Every route.
fn router(state: Arc<AppState>) -> Router {
    assets::routes()
        .merge(api::routes())
        .merge(actions::routes())
        .merge(moderation::routes())
        .merge(auth::routes())
        .merge(sse::routes())
        .layer(axum::middleware::from_fn(assets::security_headers))
        .with_state(state)
}

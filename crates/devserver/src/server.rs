//! The running server: binds the listener, wires socketioxide (socket.io v4) and axum
//! (`/socketconfig`) together, routes incoming events to the handler modules, turns their
//! [`Outbox`] into frames, and offers the observation/control handle [`DevServer`].
//!
//! Ordering: socketioxide spawns a task per incoming event, which would let two events of
//! one socket run out of order. Our handlers are therefore *synchronous* closures that do
//! all the work before returning a ready future; socketioxide calls them in arrival order.
//! All state sits behind one `std::sync::Mutex` (never held across an `.await`), and frames
//! are queued while it is held so every client sees broadcasts in the same order.

use std::collections::HashMap;
use std::future::{Ready, ready};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::routing::get;
use serde_json::{Value, json};
use socketioxide::SocketIo;
use socketioxide::extract::{Event, SocketRef, TryData};
use socketioxide::handler::ConnectHandler;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

use crate::config::DevServerConfig;
use crate::error::DevServerError;
use crate::flood::FloodParams;
use crate::moderation::Ban;
use crate::playlist::Item;
use crate::poll::ActivePoll;
use crate::state::{Channel, ChatRecord, ConnId, Out, Outbox, PmRecord, UserInfo, World};
use crate::{chat, moderation, playlist, poll, session, socketconfig};

/// Outgoing packets a socket may have queued. socketioxide's default (128) is too small for
/// a flood test that echoes 40 lines to several sockets.
const SOCKET_BUFFER: usize = 8192;
/// How long `shutdown` waits for the HTTP server to drain before aborting it.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

struct Inner {
    world: World,
    sockets: HashMap<ConnId, SocketRef>,
    /// Events from sockets that socketioxide has not marked connected yet. It sends the
    /// CONNECT ack *before* it marks the socket connected, and emitting to a socket in that
    /// window fails: a `joinChannel` sent right after the ack would get no join burst. Such
    /// events wait here and the connect handler replays them, in order.
    early: HashMap<ConnId, Vec<(String, Value)>>,
}

/// Events waiting for their socket to be marked connected (see [`Inner::early`]).
type Early = HashMap<ConnId, Vec<(String, Value)>>;

/// State shared by the socket handlers and the [`DevServer`] handle.
struct Shared {
    inner: Mutex<Inner>,
    /// Bumped after every state change; the `wait_for_*` helpers await it.
    version: watch::Sender<u64>,
    cooldowns: AtomicU64,
    kicks: AtomicU64,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A poisoned lock means a handler panicked; the data is still usable and the server
        // must keep serving other clients.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `f` on the world, sends what it queued, then performs disconnects outside the
    /// lock (socketioxide calls our disconnect handler synchronously, which locks again).
    fn run<R>(&self, f: impl FnOnce(&mut World, &mut Outbox) -> R) -> R {
        self.run_with_early(|w, _, out| f(w, out))
    }

    /// [`run`](Self::run), with the early-event queues too.
    fn run_with_early<R>(&self, f: impl FnOnce(&mut World, &mut Early, &mut Outbox) -> R) -> R {
        let mut out = Outbox::default();
        let mut to_disconnect = Vec::new();
        let result = {
            let mut inner = self.lock();
            let Inner { world, early, .. } = &mut *inner;
            let r = f(world, early, &mut out);
            for op in out.ops.drain(..) {
                match op {
                    Out::Emit { to, event, arg } => {
                        if let Some(s) = inner.sockets.get(&to) {
                            let res = match &arg {
                                Some(v) => s.emit(event, v),
                                // An empty fixed-size array serialises as zero arguments:
                                // `42["event"]`, as CyTube sends these events.
                                None => s.emit(event, &[(); 0]),
                            };
                            if let Err(e) = res {
                                debug!(conn = to, event, error = %e, "Emit failed.");
                            }
                        }
                    }
                    Out::Disconnect(to) => {
                        if let Some(s) = inner.sockets.get(&to) {
                            to_disconnect.push(s.clone());
                        }
                    }
                }
            }
            r
        };
        self.cooldowns.fetch_add(out.cooldowns, Ordering::Relaxed);
        self.kicks.fetch_add(out.kicks, Ordering::Relaxed);
        for s in to_disconnect {
            if let Err(e) = s.disconnect() {
                debug!(error = %e, "Disconnect failed.");
            }
        }
        self.version.send_modify(|v| *v += 1);
        result
    }

    fn dispatch(&self, id: ConnId, event: &str, data: Value) {
        self.run_with_early(|w, early, out| match early.get_mut(&id) {
            Some(waiting) => waiting.push((event.to_owned(), data)),
            None => handle(w, out, id, event, &data),
        });
    }

    /// The socket is marked connected: greet it as CyTube does, then replay what it sent
    /// meanwhile — under one lock, so nothing it sends later can overtake those events.
    fn connected(&self, id: ConnId) {
        self.run_with_early(|w, early, out| {
            out.emit(id, "rank", json!(-1));
            for (event, data) in early.remove(&id).unwrap_or_default() {
                handle(w, out, id, &event, &data);
            }
        });
    }
}

/// Routes one client event to its handler.
fn handle(w: &mut World, out: &mut Outbox, id: ConnId, event: &str, data: &Value) {
    match event {
        "joinChannel" => session::join_channel(w, out, id, data),
        "channelPassword" => session::channel_password(w, out, id, data),
        "login" => session::login(w, out, id, data),
        "chatMsg" => chat::chat_msg(w, out, id, data),
        "pm" => chat::pm(w, out, id, data),
        "queue" => playlist::queue(w, out, id, data),
        "delete" => playlist::delete(w, out, id, data),
        "clearPlaylist" => playlist::clear(w, out, id),
        "moveMedia" => playlist::move_media(w, out, id, data),
        "jumpTo" => playlist::jump_to(w, out, id, data),
        "playNext" => playlist::play_next_event(w, out, id),
        "voteskip" => playlist::voteskip(w, out, id),
        "assignLeader" => playlist::assign_leader(w, out, id, data),
        "mediaUpdate" => playlist::media_update(w, out, id, data),
        "togglePlaylistLock" => playlist::toggle_lock(w, out, id),
        "requestPlaylist" => playlist::request_playlist(w, out, id),
        "playerReady" => playlist::player_ready(w, out, id),
        "newPoll" => poll::new_poll(w, out, id, data),
        "vote" => poll::vote(w, out, id, data),
        "closePoll" => poll::close_poll(w, out, id),
        "requestBanlist" => moderation::request_banlist(w, out, id),
        "unban" => moderation::unban(w, out, id, data),
        _ => debug!(conn = id, event, "Ignored event."),
    }
}

/// A running CyTube-compatible server. Dropping it without [`DevServer::shutdown`] leaves
/// the server task running until the runtime stops.
pub struct DevServer {
    shared: Arc<Shared>,
    addr: SocketAddr,
    io: SocketIo,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl DevServer {
    /// Binds `cfg.listen` and starts serving; returns once the listener is bound.
    pub async fn start(cfg: DevServerConfig) -> Result<DevServer, DevServerError> {
        let listener = tokio::net::TcpListener::bind(cfg.listen)
            .await
            .map_err(|source| DevServerError::Bind {
                addr: cfg.listen,
                source,
            })?;
        let addr = listener
            .local_addr()
            .map_err(|source| DevServerError::LocalAddr {
                addr: cfg.listen,
                source,
            })?;
        let url: Arc<str> = cfg
            .public_url
            .clone()
            .unwrap_or_else(|| base_url_for(addr))
            .into();

        let (layer, io) = SocketIo::builder()
            .ping_interval(cfg.ping_interval)
            .ping_timeout(cfg.ping_timeout)
            .max_payload(cfg.max_payload)
            .max_buffer_size(SOCKET_BUFFER)
            .build_layer();

        let shared = Arc::new(Shared {
            inner: Mutex::new(Inner {
                world: World::new(Arc::new(cfg)),
                sockets: HashMap::new(),
                early: HashMap::new(),
            }),
            version: watch::Sender::new(0),
            cooldowns: AtomicU64::new(0),
            kicks: AtomicU64::new(0),
        });
        // Event handlers are registered in a connect *middleware*, which socketioxide runs
        // before it sends the CONNECT ack. Its connect handler runs after the ack, on another
        // task: an event the client sends right after the ack could arrive before handlers
        // registered there and be dropped (a rare `joinChannel` lost under load). CyTube
        // likewise finishes its middlewares before acknowledging.
        let register = {
            let shared = shared.clone();
            move |s: SocketRef| -> Ready<Result<(), std::convert::Infallible>> {
                register_socket(&shared, s);
                ready(Ok(()))
            }
        };
        let on_connect = {
            let shared = shared.clone();
            move |s: SocketRef| -> Ready<()> {
                let id = shared
                    .lock()
                    .sockets
                    .iter()
                    .find(|(_, r)| r.id == s.id)
                    .map(|(id, _)| *id);
                if let Some(id) = id {
                    shared.connected(id);
                }
                ready(())
            }
        };
        io.ns("/", on_connect.with(register));

        let app = Router::new()
            .route("/socketconfig/{file}", get(socketconfig::handler))
            .with_state(url.clone())
            .merge(
                Router::new()
                    .route("/devserver/presence/{name}", get(presence))
                    .with_state(shared.clone()),
            )
            .layer(layer);
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let speed = shared.lock().world.cfg.playback_speed;
        let task = tokio::spawn(crate::listen::serve(listener, app, stop_rx));
        let task = match speed.filter(|s| s.is_finite() && *s > 0.0) {
            None => task,
            Some(speed) => {
                let ticker = tokio::spawn(playback(Arc::downgrade(&shared), speed));
                tokio::spawn(async move {
                    let _ = task.await;
                    ticker.abort();
                })
            }
        };
        info!(%addr, %url, "Devserver listening.");
        Ok(DevServer {
            shared,
            addr,
            io,
            stop: Some(stop_tx),
            task,
        })
    }

    /// The bound address (with the real port when `listen` used port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://IP:PORT` of this server (`127.0.0.1` when bound to an unspecified address).
    pub fn base_url(&self) -> String {
        base_url_for(self.addr)
    }

    /// The socketconfig URL for `channel`.
    pub fn socketconfig_url(&self, channel: &str) -> String {
        format!("{}/socketconfig/{channel}.json", self.base_url())
    }

    /// Closes every connection and the listener; `start` on the same address works after.
    pub async fn shutdown(mut self) {
        self.io.close().await;
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let abort = self.task.abort_handle();
        if tokio::time::timeout(SHUTDOWN_GRACE, &mut self.task)
            .await
            .is_err()
        {
            warn!("Devserver did not drain in time; aborting it.");
            abort.abort();
            let _ = (&mut self.task).await;
        }
        info!(addr = %self.addr, "Devserver stopped.");
    }

    /// The chat lines `channel` accepted and broadcast, oldest first (the last
    /// `log_capacity`).
    pub fn chat_log(&self, channel: &str) -> Vec<ChatRecord> {
        let inner = self.shared.lock();
        inner
            .world
            .channels
            .get(&channel.to_ascii_lowercase())
            .map(|c| c.chat_log.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// How many entries the server's growing collections hold now.
    pub fn footprint(&self) -> crate::state::Footprint {
        let inner = self.shared.lock();
        crate::state::Footprint {
            sockets: inner.sockets.len(),
            early: inner.early.len(),
            ..inner.world.footprint()
        }
    }

    /// The PMs delivered, oldest first (the last `log_capacity`).
    pub fn pm_log(&self) -> Vec<PmRecord> {
        self.shared.lock().world.pm_log.iter().cloned().collect()
    }

    /// How many `cooldown` events were emitted.
    pub fn cooldowns_sent(&self) -> u64 {
        self.shared.cooldowns.load(Ordering::Relaxed)
    }

    /// How many `kick` events were emitted.
    pub fn kicks_sent(&self) -> u64 {
        self.shared.kicks.load(Ordering::Relaxed)
    }

    /// Logged-in users of `channel`, in join order.
    pub fn users(&self, channel: &str) -> Vec<UserInfo> {
        self.shared
            .lock()
            .world
            .user_infos(&channel.to_ascii_lowercase())
    }

    /// Reads `channel` (any case) under the lock; `None` when it does not exist.
    fn read_channel<R>(&self, channel: &str, f: impl FnOnce(&Channel) -> R) -> Option<R> {
        let inner = self.shared.lock();
        inner
            .world
            .channels
            .get(&channel.to_ascii_lowercase())
            .map(f)
    }

    /// The playlist of `channel`, in order.
    pub fn playlist(&self, channel: &str) -> Vec<Item> {
        self.read_channel(channel, |c| c.playlist.items.clone())
            .unwrap_or_default()
    }

    /// The name bans of `channel`, oldest first.
    pub fn bans(&self, channel: &str) -> Vec<Ban> {
        self.read_channel(channel, |c| c.moderation.bans.clone())
            .unwrap_or_default()
    }

    /// The open poll of `channel`, if any.
    pub fn poll(&self, channel: &str) -> Option<ActivePoll> {
        self.read_channel(channel, |c| c.poll.clone()).flatten()
    }

    /// Kicks `name` from `channel` (`kick {reason}`, then a namespace disconnect).
    /// Returns whether such a user was connected.
    pub async fn kick(&self, channel: &str, name: &str, reason: &str) -> bool {
        let channel = channel.to_ascii_lowercase();
        self.shared
            .run(|w, out| match w.find_member(&channel, name) {
                Some(id) => {
                    session::kick(w, out, id, reason);
                    true
                }
                None => false,
            })
    }

    /// Bans `name` from `channel` as the server (no actor's rank is checked): a name ban,
    /// and with `by_ip` also every IP the name logged in from, as `/ipban` does. Banned
    /// users present are kicked with "You're banned!"; later joins with "You are banned
    /// from this channel.".
    pub fn ban(&self, channel: &str, name: &str, by_ip: bool) {
        let channel = channel.to_ascii_lowercase();
        self.shared.run(|w, out| {
            moderation::add_ban(w, out, &channel, name, by_ip, "", "[server]");
        });
    }

    /// Sets `name`'s rank in `channel` (works for guests too — a test convenience CyTube
    /// lacks); broadcasts `setUserRank` and sends `rank` to the user if online.
    pub fn set_rank(&self, channel: &str, name: &str, rank: f64) {
        self.shared
            .run(|w, out| session::set_rank(w, out, channel, name, rank));
    }

    /// Turns the channel's `chat_antiflood` on with `(burst, sustained)` (capped at 20 and
    /// 10, as CyTube does) or off with `None`; broadcasts `channelOpts`.
    pub fn set_antiflood(&self, channel: &str, params: Option<(u32, f64)>) {
        let channel = channel.to_ascii_lowercase();
        self.shared.run(|w, out| {
            let ch = w.channel_mut(&channel);
            match params {
                Some((burst, sustained)) => {
                    ch.opts.chat_antiflood = true;
                    ch.opts.antiflood_params = FloodParams::new(burst.min(20), sustained.min(10.0));
                }
                None => ch.opts.chat_antiflood = false,
            }
            let opts = ch.opts_json();
            w.broadcast(out, &channel, "channelOpts", opts);
        });
    }

    /// Waits until `name` is a logged-in member of `channel`; `false` on timeout.
    pub async fn wait_for_user(&self, channel: &str, name: &str, timeout: Duration) -> bool {
        let channel = channel.to_ascii_lowercase();
        self.wait_until(timeout, |w| w.find_member(&channel, name).is_some())
            .await
    }

    /// Waits until `name` is no longer in `channel`; `false` on timeout.
    pub async fn wait_for_user_gone(&self, channel: &str, name: &str, timeout: Duration) -> bool {
        let channel = channel.to_ascii_lowercase();
        self.wait_until(timeout, |w| w.find_member(&channel, name).is_none())
            .await
    }

    /// Waits until `channel` has accepted at least `n` chat lines; `false` on timeout.
    pub async fn wait_for_chat_count(&self, channel: &str, n: usize, timeout: Duration) -> bool {
        let channel = channel.to_ascii_lowercase();
        self.wait_until(timeout, |w| {
            w.channels
                .get(&channel)
                .is_some_and(|c| c.chat_log.total() >= n as u64)
        })
        .await
    }

    /// Waits until at least `n` PMs were delivered; `false` on timeout.
    pub async fn wait_for_pm_count(&self, n: usize, timeout: Duration) -> bool {
        self.wait_until(timeout, |w| w.pm_log.total() >= n as u64)
            .await
    }

    /// Awaits state changes (no polling) until `cond` holds or `timeout` passes.
    async fn wait_until(&self, timeout: Duration, cond: impl Fn(&World) -> bool) -> bool {
        // Subscribe before the first check so a change in between is not missed.
        let mut rx = self.shared.version.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if cond(&self.shared.lock().world) {
                return true;
            }
            match tokio::time::timeout_at(deadline, rx.changed()).await {
                Ok(Ok(())) => continue,
                _ => return cond(&self.shared.lock().world),
            }
        }
    }
}

/// `GET /devserver/presence/<name>`: `{"channels": N}`, the number of channels `name` is a
/// logged-in member of. Not CyTube's: it lets a process that runs the server elsewhere (the
/// scale bench) see a bot with 10,000 channels join without a socket per channel.
async fn presence(
    axum::extract::State(shared): axum::extract::State<Arc<Shared>>,
    axum::extract::Path(name): axum::extract::Path<String>,
) -> axum::Json<Value> {
    let inner = shared.lock();
    let w = &inner.world;
    let n = w
        .channels
        .keys()
        .filter(|ch| w.find_member(ch, &name).is_some())
        .count();
    axum::Json(json!({ "channels": n }))
}

/// How often the playback clock looks for items that have played to their end.
const PLAYBACK_TICK: Duration = Duration::from_millis(10);

/// The playback clock (with `playback_speed`): moves channels on as items end, until the
/// server is gone.
async fn playback(shared: std::sync::Weak<Shared>, speed: f64) {
    let mut tick = tokio::time::interval(PLAYBACK_TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(shared) = shared.upgrade() else {
            return;
        };
        let due = {
            let inner = shared.lock();
            crate::playlist::any_ended(&inner.world, speed)
        };
        if due {
            shared.run(|w, out| crate::playlist::advance(w, out, speed));
        }
    }
}

fn base_url_for(addr: SocketAddr) -> String {
    let ip = if addr.ip().is_unspecified() {
        "127.0.0.1".to_owned()
    } else if addr.is_ipv6() {
        format!("[{}]", addr.ip())
    } else {
        addr.ip().to_string()
    };
    format!("http://{ip}:{}", addr.port())
}

/// The client's IP: `X-Forwarded-For` is trusted from loopback peers, as CyTube trusts
/// loopback proxies, so local test clients can look like distinct IPs.
fn client_ip(s: &SocketRef) -> String {
    let parts = s.req_parts();
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let forwarded = parts
        .headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .map(|v| v.trim().to_owned());
    match (peer, forwarded) {
        (Some(ip), Some(f)) if ip.is_loopback() && !f.is_empty() => f,
        (Some(ip), _) => ip.to_string(),
        (None, _) => "127.0.0.1".to_owned(),
    }
}

/// Adds a new namespace socket to the world and installs its handlers.
fn register_socket(shared: &Arc<Shared>, s: SocketRef) {
    let ip = client_ip(&s);
    let id = {
        // Insert the socket before the ack so the connect handler can emit its `rank -1`.
        let mut inner = shared.lock();
        let id = inner.world.add_conn(ip);
        inner.sockets.insert(id, s.clone());
        inner.early.insert(id, Vec::new());
        id
    };
    debug!(conn = id, "Socket connected.");

    let events = shared.clone();
    s.on_fallback(
        move |Event(event): Event, TryData(data): TryData<Value>| -> Ready<()> {
            // Undecodable arguments (or none, as in `42["playNext"]`) become null; each
            // handler validates the shape itself.
            events.dispatch(id, &event, data.unwrap_or(Value::Null));
            ready(())
        },
    );
    let gone = shared.clone();
    s.on_disconnect(move |_s: SocketRef| -> Ready<()> {
        gone.run(|w, out| session::on_disconnect(w, out, id));
        {
            let mut inner = gone.lock();
            inner.sockets.remove(&id);
            inner.early.remove(&id);
        }
        debug!(conn = id, "Socket disconnected.");
        ready(())
    });
}

//! The connection task: the one place that owns the socket.
//!
//! It runs forever (until shutdown): discover the server, open the websocket, do the Engine.IO
//! and socket.io handshakes (nothing is emitted before the CONNECT acknowledgement), join and
//! log in, then pump frames, answer pings, detect a dead link, pace outbound commands and
//! reconnect with backoff after any failure. It must not block on the application: events go
//! out on an unbounded channel, commands come in on another.
//!
//! Identifying a message dropped by the flood limiter: the server handles one socket's events in
//! order and echoes every chat line and PM to its sender. So when `cooldown` arrives, every
//! message we sent before the dropped one has already been echoed, and the dropped one is the
//! oldest message still waiting for its echo. It is put back at the front of the queue and sent
//! again once the throttle allows.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio::time::{Instant, sleep_until, timeout};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tracing::{debug, info, warn};

use crate::command::{Command, Limiter};
use crate::config::{ClientConfig, DuplicateLoginPolicy, Login};
use crate::discovery;
use crate::engineio;
use crate::event::{FloodParams, ServerEvent};
use crate::handle::{
    Confirm, CytubeEvent, CytubeHandle, EventStream, Outbound, Request, SendError, Shared,
};
use crate::socketio;
use crate::state::ChannelState;
use crate::throttle::{Throttle, ThrottleParams};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How long a sent chat line or PM is remembered while waiting for its echo. A `cooldown`
/// arrives within one round trip of the dropped message, so this only needs to cover latency.
const INFLIGHT_WINDOW: Duration = Duration::from_secs(10);
/// The most sent messages remembered for echo matching.
const INFLIGHT_MAX: usize = 256;
/// Bounds on the dead-link timeout taken from the server's handshake.
const MIN_SILENCE: Duration = Duration::from_millis(100);
const MAX_SILENCE: Duration = Duration::from_secs(600);
/// How long a clean close may take before the socket is simply dropped.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);
/// CyTube's default `chat_antiflood_params` (burst 4, 1/s, cooldown 4 s), used when a channel
/// turns antiflood on without sending parameters.
const DEFAULT_ANTIFLOOD: FloodParams = FloodParams {
    burst: 4.0,
    sustained: 1.0,
    cooldown: Some(4.0),
};
/// The kick reason CyTube gives when another session logs in with our name.
const DUPLICATE_LOGIN: &str = "Duplicate login";
/// The kick reasons of a channel ban: at join (name or IP banned) and when banned while in
/// the channel (`src/channel/kickban.js`). Reconnecting cannot help: a ban is final.
const BANNED: [&str; 2] = ["You are banned from this channel.", "You're banned!"];
/// How long after a successful login we wait for `cancelNeedPassword` (CyTube admits a
/// rank ≥ 2 account into a password-protected channel once the login's account is read)
/// before taking the channel password as required.
const PASSWORD_GRACE: Duration = Duration::from_secs(3);

/// Starts a client: spawns the connection task and returns its handle and event stream.
///
/// Never fails: connection problems arrive as events and are retried forever; an invalid
/// config ends the stream with `Stopped`. Must be called inside a Tokio runtime. The client runs
/// until [`CytubeHandle::shutdown`] or until every handle is dropped.
pub fn connect(cfg: ClientConfig) -> (CytubeHandle, EventStream) {
    let (req_tx, req_rx) = mpsc::unbounded_channel();
    let (ev_tx, ev_rx) = mpsc::unbounded_channel();
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let (stopped_tx, stopped_rx) = watch::channel(false);
    let shared = Arc::new(Shared::default());
    let handle = CytubeHandle {
        tx: req_tx,
        shared: shared.clone(),
        shutdown: Arc::new(shutdown_tx),
        stopped: stopped_rx,
        max_message_len: cfg.max_message_len.max(1),
        queue_capacity: cfg.queue_capacity,
    };
    let actor = Actor {
        cfg,
        http: shared_http(),
        requests: req_rx,
        events: ev_tx,
        shutdown: shutdown_rx,
        stopped: stopped_tx,
        shared,
    };
    tokio::spawn(actor.run());
    (handle, EventStream { rx: ev_rx })
}

/// The process's one HTTP client (channel discovery), shared by every connection, on the
/// process's one TLS configuration ([`crate::tls::client_config`]: the web PKI roots parsed
/// once, shared with the websockets, and one session-resumption cache). No idle connections
/// are pooled, so no connection outlives the runtime that opened it.
fn shared_http() -> reqwest::Client {
    static HTTP: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    HTTP.get_or_init(|| {
        http_client().unwrap_or_else(|e| {
            tracing::warn!(error = %e, "HTTP client on the shared TLS configuration failed; using a default one.");
            reqwest::Client::new()
        })
    })
    .clone()
}

fn http_client() -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .use_preconfigured_tls(crate::tls::client_config().as_ref().clone())
        .build()
}

/// The websocket's settings: a read buffer of [`WS_READ_BUFFER`] instead of tungstenite's
/// 128 KiB, which a long-lived connection ends up touching whole (reads walk through it
/// before it is compacted): 128 KiB of resident memory per channel for frames that are
/// rarely above a few KiB. Larger frames still arrive whole; the buffer grows for them.
fn ws_config() -> tokio_tungstenite::tungstenite::protocol::WebSocketConfig {
    tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
        .read_buffer_size(WS_READ_BUFFER)
}

/// Bytes read from the websocket at a time.
const WS_READ_BUFFER: usize = 8 * 1024;

/// How a session ended.
enum End {
    Shutdown,
    /// Stop for good: retrying cannot help.
    Stop(String),
    /// Reconnect after a backoff.
    Lost {
        reason: String,
        /// The session stayed joined long enough to count as stable: the backoff starts over.
        stable: bool,
        duplicate: bool,
    },
}

fn lost(reason: impl Into<String>) -> End {
    End::Lost {
        reason: reason.into(),
        stable: false,
        duplicate: false,
    }
}

/// A command waiting in the outbound queue.
struct Pending {
    /// Submission order, so that re-queued messages go back to their place.
    seq: u64,
    cmd: Command,
    confirm: Option<Confirm>,
    /// Whether it still counts against the handle's queue capacity.
    counted: bool,
}

/// A chat line or PM written to the socket and not yet echoed back.
struct InFlight {
    seq: u64,
    cmd: Command,
    sent_at: Instant,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum EchoKind {
    Chat,
    Pm,
}

fn echo_kind(cmd: &Command) -> Option<EchoKind> {
    match cmd {
        Command::Chat(_) | Command::ChannelCommand(_) if cmd.expects_echo() => Some(EchoKind::Chat),
        Command::Pm { .. } => Some(EchoKind::Pm),
        _ => None,
    }
}

/// Everything that lives exactly as long as one connection.
struct Session {
    state: ChannelState,
    outbox: VecDeque<Pending>,
    inflight: VecDeque<InFlight>,
    chat: Throttle,
    queue: Throttle,
    joined: bool,
    /// When `userlist` arrived (the join), for telling a stable session from a kick loop.
    joined_at: Option<Instant>,
    logged_in: bool,
    login_retry_at: Option<Instant>,
    password_sent: bool,
    /// A channel-password refusal held back until the login's outcome is known (a rank ≥ 2
    /// account is admitted without the password), with the deadline once logged in.
    password_stop: Option<(String, Option<Instant>)>,
    next_seq: u64,
}

impl Session {
    fn new(chat: ThrottleParams) -> Session {
        Session {
            state: ChannelState::new(),
            outbox: VecDeque::new(),
            inflight: VecDeque::new(),
            chat: Throttle::new(chat),
            queue: Throttle::new(ThrottleParams::queue_for_rank(0.0)),
            joined: false,
            joined_at: None,
            logged_in: false,
            login_retry_at: None,
            password_sent: false,
            password_stop: None,
            next_seq: 0,
        }
    }

    fn push(&mut self, cmd: Command, confirm: Option<Confirm>, counted: bool) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.outbox.push_back(Pending {
            seq,
            cmd,
            confirm,
            counted,
        });
    }

    /// Whether the session was joined for at least `stable_after` (then a loss is not part
    /// of a loop of quick failures, and the backoff starts over).
    fn stable(&self, stable_after: Duration) -> bool {
        self.joined_at
            .is_some_and(|at| at.elapsed() >= stable_after)
    }

    fn prune_inflight(&mut self, now: Instant) {
        while self
            .inflight
            .front()
            .is_some_and(|f| f.sent_at + INFLIGHT_WINDOW < now)
            || self.inflight.len() > INFLIGHT_MAX
        {
            self.inflight.pop_front();
        }
    }

    /// Our own chat or PM came back: it and everything sent before it were processed.
    fn echoed(&mut self, kind: EchoKind) {
        if let Some(i) = self
            .inflight
            .iter()
            .position(|f| echo_kind(&f.cmd) == Some(kind))
        {
            self.inflight.drain(..=i);
        }
    }

    /// The server dropped a message: put the oldest unconfirmed one back in its place.
    fn requeue_dropped(&mut self, now: Instant) {
        self.prune_inflight(now);
        if let Some(f) = self.inflight.pop_front() {
            debug!(
                seq = f.seq,
                "Re-queueing a message dropped by the server's flood limiter."
            );
            let at = self.outbox.partition_point(|p| p.seq < f.seq);
            self.outbox.insert(
                at,
                Pending {
                    seq: f.seq,
                    cmd: f.cmd,
                    confirm: None,
                    counted: false,
                },
            );
        }
    }
}

struct Actor {
    cfg: ClientConfig,
    http: reqwest::Client,
    requests: mpsc::UnboundedReceiver<Request>,
    events: mpsc::UnboundedSender<CytubeEvent>,
    shutdown: watch::Receiver<bool>,
    stopped: watch::Sender<bool>,
    shared: Arc<Shared>,
}

/// Resolves once shutdown is requested, or once every handle is gone (the sender is dropped).
/// Returns nothing so that no borrow of the receiver outlives the future in `select!`.
async fn shutdown_requested(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|s| *s).await;
}

/// Runs `fut` unless shutdown is requested (or every handle is gone) first.
async fn until_shutdown<F: Future>(
    shutdown: &mut watch::Receiver<bool>,
    fut: F,
) -> Option<F::Output> {
    tokio::select! {
        biased;
        _ = shutdown_requested(shutdown) => None,
        out = fut => Some(out),
    }
}

async fn send_frame(ws: &mut Ws, packet: engineio::Packet) -> Result<(), String> {
    ws.send(Message::text(packet.encode()))
        .await
        .map_err(|e| format!("websocket write failed: {e}"))
}

async fn send_sio(ws: &mut Ws, packet: &socketio::Packet) -> Result<(), String> {
    send_frame(ws, engineio::Packet::Message(packet.encode())).await
}

/// Reads frames until the Engine.IO open packet.
async fn wait_open(ws: &mut Ws) -> Result<engineio::Handshake, String> {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(text))) => match engineio::Packet::decode(text.as_str()) {
                Ok(engineio::Packet::Open(handshake)) => return Ok(handshake),
                Ok(other) => debug!(
                    ?other,
                    "Ignoring an engine.io packet before the open packet."
                ),
                Err(e) => return Err(format!("bad engine.io handshake: {e}")),
            },
            Some(Ok(Message::Close(frame))) => {
                return Err(format!("websocket closed during handshake: {frame:?}"));
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(format!("websocket error during handshake: {e}")),
            None => return Err("websocket ended during handshake".into()),
        }
    }
}

/// Reads frames until the socket.io CONNECT acknowledgement, answering pings meanwhile.
async fn wait_connect_ack(ws: &mut Ws) -> Result<(), String> {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(text))) => match engineio::Packet::decode(text.as_str()) {
                Ok(engineio::Packet::Ping(data)) => {
                    send_frame(ws, engineio::Packet::Pong(data)).await?
                }
                Ok(engineio::Packet::Message(payload)) => {
                    match socketio::Packet::decode(&payload) {
                        Ok(socketio::Packet::Connect { .. }) => return Ok(()),
                        Ok(socketio::Packet::ConnectError { data, .. }) => {
                            return Err(format!(
                                "server refused the connection: {}",
                                socketio::Packet::connect_error_message(&data)
                            ));
                        }
                        Ok(other) => debug!(?other, "Ignoring a socket.io packet before CONNECT."),
                        Err(e) => warn!(error = %e, "Skipping an undecodable socket.io packet."),
                    }
                }
                Ok(engineio::Packet::Close) => {
                    return Err("server closed the engine.io session".into());
                }
                Ok(_) => {}
                Err(e) => warn!(error = %e, "Skipping an undecodable engine.io frame."),
            },
            Some(Ok(Message::Close(frame))) => {
                return Err(format!("websocket closed before CONNECT: {frame:?}"));
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(format!("websocket error before CONNECT: {e}")),
            None => return Err("websocket ended before CONNECT".into()),
        }
    }
}

fn is_permanent_login_error(error: &str) -> bool {
    let e = error.to_ascii_lowercase();
    [
        "invalid username",
        "user does not exist",
        "reserved",
        "is registered",
    ]
    .iter()
    .any(|p| e.contains(p))
}

fn is_transient_login_error(error: &str) -> bool {
    let e = error.to_ascii_lowercase();
    e.contains("restricted") || e.contains("already in use")
}

impl Actor {
    fn emit(&self, event: CytubeEvent) {
        // A dropped event stream only means nobody listens; keep serving the handles.
        let _ = self.events.send(event);
    }

    async fn run(mut self) {
        let reason = match self.cfg.validate() {
            Err(e) => format!("invalid configuration: {e}"),
            Ok(()) => self.run_sessions().await,
        };
        info!(channel = %self.cfg.channel, %reason, "CyTube client stopped.");
        self.shared.joined.store(false, Ordering::SeqCst);
        self.emit(CytubeEvent::Stopped { reason });
        self.fail_requests_until_closed();
        let _ = self.stopped.send(true);
    }

    /// Connects, and reconnects forever; returns why it stopped.
    async fn run_sessions(&mut self) -> String {
        let mut attempt: u32 = 0;
        loop {
            let mut session = Session::new(self.cfg.throttle);
            self.publish_throttle(self.cfg.throttle);
            let end = self.session(&mut session).await;
            self.shared.joined.store(false, Ordering::SeqCst);
            let (reason, failed_with) = match &end {
                End::Shutdown => ("shutdown requested".to_owned(), SendError::Closed),
                End::Stop(reason) => (reason.clone(), SendError::Closed),
                End::Lost { reason, .. } => (reason.clone(), SendError::Disconnected),
            };
            for pending in session.outbox.drain(..) {
                if pending.counted {
                    self.shared.queued.fetch_sub(1, Ordering::SeqCst);
                }
                if let Some(confirm) = pending.confirm {
                    let _ = confirm.send(Err(failed_with.clone()));
                }
            }
            match end {
                End::Shutdown => return reason,
                End::Stop(reason) => return reason,
                End::Lost {
                    reason,
                    stable,
                    duplicate,
                } => {
                    info!(channel = %self.cfg.channel, %reason, "Disconnected from CyTube.");
                    self.emit(CytubeEvent::Disconnected { reason });
                    // Only a session that lasted starts the backoff over: a kick right after
                    // each join must not turn into a reconnect every `base`.
                    if stable {
                        attempt = 0;
                    }
                    attempt = attempt.saturating_add(1);
                    let delay = if duplicate {
                        self.cfg.backoff.cap
                    } else {
                        self.cfg.backoff.delay(attempt, &mut rand::rng())
                    };
                    info!(channel = %self.cfg.channel, attempt, ?delay, "Reconnecting to CyTube.");
                    self.emit(CytubeEvent::Reconnecting { attempt, delay });
                    if self.wait(delay).await {
                        return "shutdown requested".into();
                    }
                }
            }
        }
    }

    /// Waits out a reconnect delay, refusing commands meanwhile. True if shutdown was requested.
    async fn wait(&mut self, delay: Duration) -> bool {
        let until = Instant::now() + delay;
        loop {
            tokio::select! {
                biased;
                _ = shutdown_requested(&mut self.shutdown) => return true,
                _ = sleep_until(until) => return false,
                request = self.requests.recv() => match request {
                    None => return true,
                    Some(request) => self.refuse(request, SendError::NotJoined),
                },
            }
        }
    }

    fn refuse(&self, request: Request, error: SendError) {
        if let Request::Send(items) = request {
            for item in items {
                self.shared.queued.fetch_sub(1, Ordering::SeqCst);
                if let Some(confirm) = item.confirm {
                    let _ = confirm.send(Err(error.clone()));
                }
            }
        }
    }

    /// After stopping: answer whatever is still in the request channel.
    fn fail_requests_until_closed(&mut self) {
        self.requests.close();
        while let Ok(request) = self.requests.try_recv() {
            self.refuse(request, SendError::Closed);
        }
    }

    /// One connection, from discovery to its end.
    async fn session(&mut self, session: &mut Session) -> End {
        let limit = self.cfg.connect_timeout;
        let discovered = until_shutdown(
            &mut self.shutdown,
            timeout(
                limit,
                discovery::discover(&self.http, &self.cfg.domain, &self.cfg.channel),
            ),
        )
        .await;
        let url = match discovered {
            None => return End::Shutdown,
            Some(Err(_)) => return lost(format!("discovery timed out after {limit:?}")),
            Some(Ok(Err(e))) => return lost(format!("discovery failed: {e}")),
            Some(Ok(Ok(url))) => url,
        };
        debug!(%url, "Opening the CyTube websocket.");
        let opened = until_shutdown(
            &mut self.shutdown,
            // TCP_NODELAY: chat frames are small and latency matters more than packet count.
            // `wss://`: the process's one TLS configuration (see `tls`).
            timeout(
                limit,
                tokio_tungstenite::connect_async_tls_with_config(
                    url.as_str(),
                    Some(ws_config()),
                    true,
                    (url.scheme() == "wss").then(crate::tls::connector),
                ),
            ),
        )
        .await;
        let mut ws = match opened {
            None => return End::Shutdown,
            Some(Err(_)) => return lost(format!("websocket connect to {url} timed out")),
            Some(Ok(Err(e))) => return lost(format!("websocket connect to {url} failed: {e}")),
            Some(Ok(Ok((ws, _response)))) => ws,
        };
        let end = self.run_socket(&mut ws, session, url.as_str()).await;
        // Close the transport ourselves: after a kick CyTube only disconnects the namespace.
        let _ = timeout(CLOSE_TIMEOUT, ws.close(None)).await;
        end
    }

    async fn run_socket(&mut self, ws: &mut Ws, session: &mut Session, url: &str) -> End {
        let limit = self.cfg.connect_timeout;
        let handshake =
            match until_shutdown(&mut self.shutdown, timeout(limit, wait_open(ws))).await {
                None => return End::Shutdown,
                Some(Err(_)) => return lost("no engine.io open packet in time"),
                Some(Ok(Err(e))) => return lost(e),
                Some(Ok(Ok(h))) => h,
            };
        let connect = socketio::Packet::Connect {
            nsp: socketio::ROOT_NAMESPACE.into(),
            data: None,
        };
        if let Err(e) = send_sio(ws, &connect).await {
            return lost(e);
        }
        // Nothing else may be sent before the acknowledgement: CyTube's connect middlewares are
        // asynchronous and an early event makes socket.io close the whole connection.
        match until_shutdown(&mut self.shutdown, timeout(limit, wait_connect_ack(ws))).await {
            None => return End::Shutdown,
            Some(Err(_)) => return lost("no socket.io CONNECT acknowledgement in time"),
            Some(Ok(Err(e))) => return lost(e),
            Some(Ok(Ok(()))) => {}
        }
        info!(channel = %self.cfg.channel, server = %url, "Connected to CyTube.");
        let connected = CytubeEvent::Connected {
            server: url.to_owned(),
        };
        session.state.apply(&connected);
        self.emit(connected);

        // The browser's order: join first, then log in (cytube-protocol.md §2.1).
        let join = Command::JoinChannel {
            name: self.cfg.channel.clone(),
            password: self.cfg.channel_password.clone(),
        };
        if let Err(e) = send_sio(ws, &join.to_packet()).await {
            return lost(e);
        }
        if let Err(e) = self.send_login(ws).await {
            return lost(e);
        }

        // Clamped so that a hostile handshake can neither overflow the clock nor make us drop
        // every connection at once.
        let silence = handshake.silence_limit().clamp(MIN_SILENCE, MAX_SILENCE);
        let mut deadline = Instant::now() + silence;
        let far = Instant::now() + Duration::from_secs(86_400 * 365);
        loop {
            let send_at = self.next_send_at(session);
            let retry_at = session.login_retry_at;
            let password_at = session.password_stop.as_ref().and_then(|(_, at)| *at);
            if send_at.is_some_and(|at| at > Instant::now()) {
                self.count_wait(session);
            }
            // A command that may go out now is sent now: `sleep_until` an instant in the past
            // still waits for the timer wheel's next 1 ms tick, which would add about a
            // millisecond to every line.
            let end = if send_at.is_some_and(|at| at <= Instant::now()) {
                self.send_next(ws, session).await.err().map(lost)
            } else {
                tokio::select! {
                biased;
                _ = shutdown_requested(&mut self.shutdown) => Some(End::Shutdown),
                frame = ws.next() => {
                    deadline = Instant::now() + silence;
                    self.on_frame(ws, session, frame).await
                }
                _ = sleep_until(deadline) => Some(lost(format!("ping timeout: nothing received for {silence:?}"))),
                request = self.requests.recv() => match request {
                    None => Some(End::Shutdown),
                    Some(request) => {
                        self.on_request(session, request);
                        None
                    }
                },
                _ = sleep_until(send_at.unwrap_or(far)), if send_at.is_some() => {
                    self.send_next(ws, session).await.err().map(lost)
                }
                _ = sleep_until(password_at.unwrap_or(far)), if password_at.is_some() => {
                    let reason = session.password_stop.take().map(|(r, _)| r).unwrap_or_default();
                    Some(End::Stop(reason))
                }
                _ = sleep_until(retry_at.unwrap_or(far)), if retry_at.is_some() => {
                    session.login_retry_at = None;
                    info!(channel = %self.cfg.channel, "Retrying the login.");
                    self.send_login(ws).await.err().map(lost)
                }
                }
            };
            if let Some(mut end) = end {
                if let End::Lost { stable, .. } = &mut end {
                    *stable = session.stable(self.cfg.backoff.stable_after());
                }
                return end;
            }
        }
    }

    async fn send_login(&self, ws: &mut Ws) -> Result<(), String> {
        let cmd = match &self.cfg.login {
            Login::Anonymous => return Ok(()),
            Login::Guest(name) => Command::Login {
                name: name.clone(),
                password: None,
            },
            Login::Registered { name, password } => Command::Login {
                name: name.clone(),
                password: Some(password.clone()),
            },
        };
        send_sio(ws, &cmd.to_packet()).await
    }

    /// Counts a throttle wait once per waiting command.
    fn count_wait(&self, session: &Session) {
        let Some(head) = session.outbox.front() else {
            return;
        };
        let s = &self.shared.stats;
        if s.waited_seq.swap(head.seq + 1, Ordering::Relaxed) != head.seq + 1 {
            s.throttle_waits.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// When the head of the outbox may be sent, if anything may be sent at all.
    fn next_send_at(&self, session: &Session) -> Option<Instant> {
        let may_send = session.joined && (session.logged_in || self.cfg.login == Login::Anonymous);
        let head = session.outbox.front().filter(|_| may_send)?;
        let now = Instant::now();
        Some(match head.cmd.limiter() {
            Limiter::Chat { cost } => session.chat.ready_at(now, cost),
            Limiter::Queue => session.queue.ready_at(now, 1),
            Limiter::None => now,
        })
    }

    async fn send_next(&self, ws: &mut Ws, session: &mut Session) -> Result<(), String> {
        let Some(pending) = session.outbox.pop_front() else {
            return Ok(());
        };
        if pending.counted {
            self.shared.queued.fetch_sub(1, Ordering::SeqCst);
        }
        let result = send_sio(ws, &pending.cmd.to_packet()).await;
        if let Some(confirm) = pending.confirm {
            let _ = confirm.send(result.clone().map_err(|_| SendError::Disconnected));
        }
        result?;
        match &pending.cmd {
            Command::Chat(_) | Command::ChannelCommand(_) => {
                self.shared.stats.chat_sent.fetch_add(1, Ordering::Relaxed)
            }
            Command::Pm { .. } => self.shared.stats.pm_sent.fetch_add(1, Ordering::Relaxed),
            _ => 0,
        };
        let now = Instant::now();
        match pending.cmd.limiter() {
            Limiter::Chat { cost } => {
                session.chat.record(now, cost);
                if echo_kind(&pending.cmd).is_some()
                    || matches!(pending.cmd, Command::Chat(_) | Command::ChannelCommand(_))
                {
                    session.prune_inflight(now);
                    session.inflight.push_back(InFlight {
                        seq: pending.seq,
                        cmd: pending.cmd,
                        sent_at: now,
                    });
                }
            }
            Limiter::Queue => session.queue.record(now, 1),
            Limiter::None => {}
        }
        Ok(())
    }

    fn on_request(&self, session: &mut Session, request: Request) {
        if !session.joined {
            self.refuse(request, SendError::NotJoined);
            return;
        }
        match request {
            Request::Send(items) => {
                for Outbound { cmd, confirm } in items {
                    session.push(cmd, confirm, true);
                }
            }
            Request::SetAfk(want) => {
                let afk = session.state.own_user().is_some_and(|u| u.meta.afk);
                if afk != want {
                    session.push(
                        Command::ChannelCommand(crate::command::ChannelCommand::afk()),
                        None,
                        false,
                    );
                }
            }
        }
    }

    async fn on_frame(
        &self,
        ws: &mut Ws,
        session: &mut Session,
        frame: Option<Result<Message, tokio_tungstenite::tungstenite::Error>>,
    ) -> Option<End> {
        let text = match frame {
            None => return Some(lost("websocket ended")),
            Some(Err(e)) => return Some(lost(format!("websocket error: {e}"))),
            Some(Ok(Message::Close(frame))) => {
                let why = frame.map(|f| f.reason.to_string()).unwrap_or_default();
                return Some(lost(
                    format!("websocket closed by the server {why}")
                        .trim_end()
                        .to_owned(),
                ));
            }
            Some(Ok(Message::Text(text))) => text,
            // Binary attachments are not used by CyTube; websocket pings are answered by
            // tungstenite itself.
            Some(Ok(_)) => return None,
        };
        match engineio::Packet::decode(text.as_str()) {
            Ok(engineio::Packet::Ping(data)) => send_frame(ws, engineio::Packet::Pong(data))
                .await
                .err()
                .map(lost),
            Ok(engineio::Packet::Message(payload)) => match socketio::Packet::decode(&payload) {
                Ok(socketio::Packet::Event { name, args, .. }) => {
                    self.on_event(ws, session, &name, args).await
                }
                Ok(socketio::Packet::Disconnect { .. }) => {
                    Some(lost("server ended the socket.io session"))
                }
                Ok(socketio::Packet::ConnectError { data, .. }) => Some(lost(format!(
                    "server refused the connection: {}",
                    socketio::Packet::connect_error_message(&data)
                ))),
                Ok(other) => {
                    debug!(?other, "Ignoring a socket.io packet.");
                    None
                }
                Err(e) => {
                    warn!(error = %e, "Skipping an undecodable socket.io packet.");
                    None
                }
            },
            Ok(engineio::Packet::Close) => Some(lost("server closed the engine.io session")),
            Ok(_) => None,
            Err(e) => {
                warn!(error = %e, "Skipping an undecodable engine.io frame.");
                None
            }
        }
    }

    fn is_self(&self, session: &Session, name: &str) -> bool {
        session
            .state
            .own_name
            .as_deref()
            .is_some_and(|own| own.eq_ignore_ascii_case(name))
    }

    async fn on_event(
        &self,
        ws: &mut Ws,
        session: &mut Session,
        name: &str,
        args: Vec<serde_json::Value>,
    ) -> Option<End> {
        let mut event = match ServerEvent::try_decode(name, &args) {
            Ok(event) => event,
            Err(e) => {
                if matches!(e, crate::event::EventDecodeError::Malformed { .. }) {
                    warn!(error = %e, "Passing on a malformed CyTube event untyped.");
                }
                ServerEvent::Other {
                    name: name.to_owned(),
                    args,
                }
            }
        };
        let now = Instant::now();
        let mut end = None;
        match &mut event {
            ServerEvent::ChatMsg(msg) => {
                msg.history = !session.joined;
                msg.from_self = self.is_self(session, &msg.username);
                if msg.from_self && !msg.history {
                    session.echoed(EchoKind::Chat);
                }
            }
            ServerEvent::Pm(pm) => {
                pm.from_self = self.is_self(session, &pm.username);
                if pm.from_self {
                    session.echoed(EchoKind::Pm);
                }
            }
            ServerEvent::Login(reply) => {
                if reply.success {
                    session.logged_in = true;
                    session.login_retry_at = None;
                    info!(channel = %self.cfg.channel, name = ?reply.name, "Logged in.");
                    // The server now reads our rank in the channel and admits us if it is ≥ 2.
                    if let Some((_, deadline)) = &mut session.password_stop {
                        deadline.get_or_insert(now + PASSWORD_GRACE);
                    }
                } else {
                    let error = reply.error.clone().unwrap_or_default();
                    if matches!(self.cfg.login, Login::Guest(_)) && is_transient_login_error(&error)
                    {
                        warn!(%error, retry_in = ?self.cfg.login_retry, "Guest login refused for now; will retry.");
                        session.login_retry_at = Some(now + self.cfg.login_retry);
                    } else if is_permanent_login_error(&error) {
                        end = Some(End::Stop(format!("login refused: {error}")));
                    } else {
                        end = Some(lost(format!("login failed: {error}")));
                    }
                }
            }
            ServerEvent::Cooldown(ms) => {
                warn!(
                    ms = *ms,
                    "The server dropped a message (cooldown); slowing down and re-sending it."
                );
                self.shared.stats.cooldowns.fetch_add(1, Ordering::Relaxed);
                session.chat.cooldown(now, Duration::from_millis(*ms));
                session.requeue_dropped(now);
            }
            ServerEvent::NeedPassword(wrong) => {
                let refusal = match &self.cfg.channel_password {
                    Some(password) if !session.password_sent => {
                        session.password_sent = true;
                        let cmd = Command::ChannelPassword(password.clone());
                        if let Err(e) = send_sio(ws, &cmd.to_packet()).await {
                            end = Some(lost(e));
                        }
                        None
                    }
                    Some(_) => Some("the channel password was rejected".to_owned()),
                    None if *wrong => Some("a channel password was rejected".to_owned()),
                    None => Some("a channel password is required but none is configured".into()),
                };
                if let Some(reason) = refusal {
                    end = self.refuse_password(session, reason, now);
                }
            }
            ServerEvent::CancelNeedPassword if session.password_stop.take().is_some() => {
                info!(channel = %self.cfg.channel, "Admitted without the channel password (our account's rank).");
            }
            ServerEvent::Kick { reason } => {
                let reason = reason.clone();
                warn!(channel = %self.cfg.channel, ?reason, "Kicked from CyTube.");
                let duplicate = reason.as_deref() == Some(DUPLICATE_LOGIN);
                self.emit(CytubeEvent::Kicked {
                    reason: reason.clone(),
                });
                let text = reason
                    .as_deref()
                    .filter(|r| !r.is_empty())
                    .unwrap_or("no reason given");
                return Some(
                    if duplicate && self.cfg.on_duplicate_login == DuplicateLoginPolicy::Stop {
                        End::Stop(format!(
                            "kicked: {DUPLICATE_LOGIN} (another session uses our name)"
                        ))
                    } else if BANNED.contains(&text) {
                        End::Stop(format!("kicked: {text} (a ban is final for this channel)"))
                    } else {
                        End::Lost {
                            reason: format!("kicked: {text}"),
                            stable: session.stable(self.cfg.backoff.stable_after()),
                            duplicate,
                        }
                    },
                );
            }
            _ => {}
        }

        let event = CytubeEvent::Server(event);
        session.state.apply(&event);
        if let CytubeEvent::Server(
            ServerEvent::Rank(_) | ServerEvent::ChannelOpts(_) | ServerEvent::Login(_),
        ) = &event
        {
            self.update_throttles(session);
        }
        let userlist = matches!(event, CytubeEvent::Server(ServerEvent::Userlist(_)));
        self.emit(event);
        if userlist && !session.joined {
            session.joined = true;
            session.joined_at = Some(Instant::now());
            session.password_stop = None;
            self.shared.joined.store(true, Ordering::SeqCst);
            info!(channel = %self.cfg.channel, "Joined the channel.");
            let joined = CytubeEvent::Joined {
                channel: self.cfg.channel.clone(),
            };
            session.state.apply(&joined);
            self.emit(joined);
        }
        end
    }

    /// The channel wants a password we do not have (or that was wrong). A registered account
    /// may still be admitted once logged in (CyTube lets rank ≥ 2 in and then sends
    /// `cancelNeedPassword`), so until the login's outcome is known the stop is held back;
    /// anyone else stops now.
    fn refuse_password(&self, session: &mut Session, reason: String, now: Instant) -> Option<End> {
        if !matches!(self.cfg.login, Login::Registered { .. }) || session.joined {
            return Some(End::Stop(reason));
        }
        let deadline = session.logged_in.then_some(now + PASSWORD_GRACE);
        info!(channel = %self.cfg.channel, %reason, "The channel asks for a password; waiting for the login's outcome (a moderator is admitted without it).");
        session.password_stop = Some((reason, deadline));
        None
    }

    fn publish_throttle(&self, chat: ThrottleParams) {
        let s = &self.shared.stats;
        s.throttle_burst
            .store(u64::from(chat.burst), Ordering::Relaxed);
        s.throttle_interval_micros
            .store(chat.interval.as_micros() as u64, Ordering::Relaxed);
    }

    /// Chat pacing: the configured one, or the channel's antiflood limits when they apply to us
    /// (`chat_antiflood` on and our rank below 2), whichever is stricter.
    fn update_throttles(&self, session: &mut Session) {
        let rank = session.state.own_rank;
        let mut chat = self.cfg.throttle;
        if let Some(opts) = session
            .state
            .options
            .as_ref()
            .filter(|o| o.chat_antiflood && rank < 2.0)
        {
            let p = opts.chat_antiflood_params.unwrap_or(DEFAULT_ANTIFLOOD);
            chat = chat.stricter(ThrottleParams::below(p.burst, p.sustained, p.cooldown));
        }
        if session.chat.params() != chat {
            debug!(?chat, "Chat pacing changed.");
            session.chat.set_params(chat);
        }
        self.publish_throttle(chat);
        session
            .queue
            .set_params(ThrottleParams::queue_for_rank(rank));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_http_client_takes_the_shared_tls_configuration() {
        // reqwest refuses a configuration of another rustls than its own at build time.
        assert!(http_client().is_ok());
    }

    fn chat(s: &str) -> Command {
        Command::Chat(s.to_owned())
    }

    /// Simulates writing the whole outbox to the socket.
    fn send_all(session: &mut Session, now: Instant) {
        while let Some(p) = session.outbox.pop_front() {
            session.inflight.push_back(InFlight {
                seq: p.seq,
                cmd: p.cmd,
                sent_at: now,
            });
        }
    }

    fn outbox(session: &Session) -> Vec<Command> {
        session.outbox.iter().map(|p| p.cmd.clone()).collect()
    }

    #[test]
    fn dropped_messages_go_back_in_their_original_order() {
        let mut session = Session::new(ThrottleParams::default());
        let now = Instant::now();
        for text in ["a", "b", "c", "d"] {
            session.push(chat(text), None, true);
        }
        send_all(&mut session, now);
        session.push(chat("e"), None, true);
        // "a" is echoed; "b" and "c" are dropped (one cooldown each); "d" is echoed.
        session.echoed(EchoKind::Chat);
        session.requeue_dropped(now);
        session.requeue_dropped(now);
        assert_eq!(outbox(&session), [chat("b"), chat("c"), chat("e")]);
        session.echoed(EchoKind::Chat);
        assert!(session.inflight.is_empty());
    }

    #[test]
    fn echoes_skip_commands_that_have_none() {
        let mut session = Session::new(ThrottleParams::default());
        let now = Instant::now();
        let kick = crate::command::ChannelCommand::moderation("kick", "x", None).unwrap();
        session.push(Command::ChannelCommand(kick), None, true);
        session.push(
            Command::Pm {
                to: "y".into(),
                msg: "hi".into(),
            },
            None,
            true,
        );
        session.push(chat("hello"), None, true);
        send_all(&mut session, now);
        // The PM echo proves the /kick before it was processed.
        session.echoed(EchoKind::Pm);
        assert_eq!(session.inflight.len(), 1);
        session.requeue_dropped(now);
        assert_eq!(outbox(&session), [chat("hello")]);
    }

    #[test]
    fn old_unechoed_messages_are_not_resent() {
        let mut session = Session::new(ThrottleParams::default());
        let then = Instant::now();
        session.push(chat("muted line"), None, true);
        send_all(&mut session, then);
        session.requeue_dropped(then + INFLIGHT_WINDOW + Duration::from_secs(1));
        assert!(session.outbox.is_empty());
    }

    #[test]
    fn login_error_classes() {
        assert!(is_transient_login_error(
            "Guest logins are restricted to one per IP address per 60 seconds."
        ));
        assert!(is_transient_login_error(
            "That name is already in use on this channel."
        ));
        assert!(is_permanent_login_error(
            "Invalid username/password combination"
        ));
        assert!(is_permanent_login_error("That username is registered."));
        assert!(is_permanent_login_error("That username is reserved."));
        assert!(!is_permanent_login_error("ER_CON_COUNT_ERROR"));
    }
}

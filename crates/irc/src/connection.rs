//! The task that owns the socket: connect (TCP, TLS), register (CAP negotiation, SASL PLAIN,
//! `NICK`/`USER`, another nick on a collision), join, keep the channel's member list, answer
//! `PING`, detect a dead link, send the paced outbound queue, regain the wanted nick, and
//! reconnect with backoff forever until it is stopped — or until the server refuses the
//! SASL login, which no retry can change.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures::StreamExt;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio::time::{Instant, sleep_until, timeout};
use tokio_util::codec::{AnyDelimiterCodec, FramedRead};
use tokio_util::sync::CancellationToken;

use crate::config::IrcConfig;
use crate::handle::{Confirm, IrcEvent, Member, Request, SendError, Shared};
use crate::message::Message;
use crate::pace::TokenBucket;

/// Longest line accepted from the server (tags may take up to 8191 bytes of it).
const MAX_READ_LINE: usize = 8191 + 512;
/// How often timers (keep-alive, nick regain, rejoin) are checked.
const TICK: Duration = Duration::from_millis(250);
/// The capabilities the client asks for when the server offers them.
const WANTED_CAPS: &[&str] = &["multi-prefix", "server-time", "message-tags"];

trait Io: AsyncRead + AsyncWrite + Unpin + Send + Sync {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + Sync> Io for T {}

/// Runs the client until `stop` is cancelled (or every handle is gone).
pub(crate) async fn run(
    cfg: IrcConfig,
    shared: Arc<Shared>,
    mut rx: mpsc::UnboundedReceiver<Request>,
    events: mpsc::UnboundedSender<IrcEvent>,
    stop: CancellationToken,
    stopped: watch::Sender<bool>,
) {
    let mut attempt = 0u32;
    let reason = loop {
        let mut session = Session::new(&cfg, &shared, &events);
        let outcome = session.run(&mut rx, &stop).await;
        session.fail_queue(SendError::Disconnected);
        shared.joined.store(false, Ordering::SeqCst);
        shared.members().clear();
        let (reason, registered) = match outcome {
            Outcome::Stop(reason) => break reason,
            Outcome::Lost { reason, registered } => (reason, registered),
        };
        tracing::warn!(server = %cfg.server, %reason, "IRC connection lost.");
        let _ = events.send(IrcEvent::Disconnected {
            reason: reason.clone(),
        });
        if registered {
            attempt = 0;
        }
        attempt += 1;
        shared.counters.reconnects.fetch_add(1, Ordering::Relaxed);
        let delay = cfg.backoff.delay(attempt, &mut rand::rng());
        let _ = events.send(IrcEvent::Reconnecting { attempt, delay });
        let wake = Instant::now() + delay;
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = sleep_until(wake) => break,
                req = rx.recv() => match req {
                    Some(r) => refuse(&shared, r, SendError::NotJoined),
                    None => break,
                },
            }
        }
        if stop.is_cancelled() {
            break "shutdown".to_string();
        }
    };
    rx.close();
    while let Ok(r) = rx.try_recv() {
        refuse(&shared, r, SendError::Closed);
    }
    let _ = events.send(IrcEvent::Stopped { reason });
    let _ = stopped.send(true);
}

fn refuse(shared: &Shared, req: Request, why: SendError) {
    shared.queued.fetch_sub(req.lines.len(), Ordering::SeqCst);
    if let Some(c) = req.confirm {
        let _ = c.send(Err(why));
    }
}

enum Outcome {
    Stop(String),
    Lost { reason: String, registered: bool },
}

/// One line waiting in the outbound queue.
struct Outbound {
    msg: Message,
    confirm: Option<Confirm>,
}

/// Which modes take a parameter (ISUPPORT `PREFIX` and `CHANMODES`).
struct ModeTable {
    /// (mode letter, prefix character), highest rank first.
    prefixes: Vec<(char, char)>,
    /// Type A and B modes: always a parameter.
    always: String,
    /// Type C: a parameter when set.
    when_set: String,
}

impl Default for ModeTable {
    fn default() -> Self {
        ModeTable {
            prefixes: vec![('o', '@'), ('v', '+')],
            always: "beIk".into(),
            when_set: "l".into(),
        }
    }
}

impl ModeTable {
    fn prefix_chars(&self) -> String {
        self.prefixes.iter().map(|(_, p)| *p).collect()
    }

    /// Sorts prefix characters highest first.
    fn order(&self, prefixes: &str) -> String {
        self.prefixes
            .iter()
            .map(|(_, p)| *p)
            .filter(|p| prefixes.contains(*p))
            .collect()
    }

    /// Whether the server has a quiet list (`+q mask`, type A in `CHANMODES`, and `q` not a
    /// member prefix as InspIRCd's owner `~` is).
    fn has_quiet_list(&self) -> bool {
        self.always.contains('q') && !self.prefixes.iter().any(|(m, _)| *m == 'q')
    }

    /// Reads `PREFIX=(qaohv)~&@%+` and `CHANMODES=A,B,C,D` from an `005` line.
    fn isupport(&mut self, msg: &Message) {
        for token in msg.params.iter().skip(1) {
            if let Some(v) = token.strip_prefix("PREFIX=")
                && let Some((modes, chars)) = v.strip_prefix('(').and_then(|r| r.split_once(')'))
                && modes.chars().count() == chars.chars().count()
            {
                self.prefixes = modes.chars().zip(chars.chars()).collect();
            } else if let Some(v) = token.strip_prefix("CHANMODES=") {
                let mut kinds = v.split(',');
                let a = kinds.next().unwrap_or_default();
                let b = kinds.next().unwrap_or_default();
                self.always = format!("{a}{b}");
                self.when_set = kinds.next().unwrap_or_default().to_string();
            }
        }
    }
}

/// The nick to try after `attempt` collisions: `Rosey_`, then `Rosey` and three digits.
pub(crate) fn alt_nick(wanted: &str, attempt: u32) -> String {
    let base: String = wanted.chars().take(26).collect();
    match attempt {
        0 => wanted.to_string(),
        1 => format!("{base}_"),
        _ => format!("{base}{:03}", rand::random::<u16>() % 1000),
    }
}

/// The `AUTHENTICATE` arguments of a SASL PLAIN login: `\0account\0password` in base64, in
/// pieces of 400 bytes; `+` after a last piece of exactly 400 (IRCv3 SASL 3.1).
pub(crate) fn sasl_plain(account: &str, password: &str) -> Vec<String> {
    let payload = format!("\0{account}\0{password}");
    let encoded = data_encoding::BASE64.encode(payload.as_bytes());
    let mut pieces: Vec<String> = encoded
        .as_bytes()
        .chunks(400)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect();
    if encoded.len().is_multiple_of(400) {
        pieces.push("+".into());
    }
    pieces
}

/// `server-time` (`2026-11-30T07:48:12.123Z`) → epoch seconds.
fn server_time(msg: &Message) -> Option<f64> {
    let t = humantime::parse_rfc3339_weak(msg.tag("time")?).ok()?;
    Some(t.duration_since(std::time::UNIX_EPOCH).ok()?.as_secs_f64())
}

fn same(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

struct Session<'a> {
    cfg: &'a IrcConfig,
    shared: &'a Shared,
    events: &'a mpsc::UnboundedSender<IrcEvent>,
    writer: Option<tokio::io::WriteHalf<Box<dyn Io>>>,
    registered: bool,
    /// Collisions so far during registration.
    nick_attempt: u32,
    nick: String,
    offered: Vec<String>,
    enabled: Vec<String>,
    modes: ModeTable,
    /// Set between our JOIN and the end of the NAMES list.
    joining: Option<Vec<Member>>,
    joined: bool,
    queue: VecDeque<Outbound>,
    bucket: TokenBucket,
    last_read: Instant,
    ping_sent: Option<Instant>,
    next_regain: Instant,
    rejoin_at: Option<Instant>,
    /// Set when the server refused something retrying cannot change: the session ends
    /// with [`Outcome::Stop`] instead of a reconnect.
    fatal: Option<String>,
}

impl<'a> Session<'a> {
    fn new(
        cfg: &'a IrcConfig,
        shared: &'a Shared,
        events: &'a mpsc::UnboundedSender<IrcEvent>,
    ) -> Self {
        let now = Instant::now();
        Session {
            cfg,
            shared,
            events,
            writer: None,
            registered: false,
            nick_attempt: 0,
            nick: cfg.nick.clone(),
            offered: Vec::new(),
            enabled: Vec::new(),
            modes: ModeTable::default(),
            joining: None,
            joined: false,
            queue: VecDeque::new(),
            bucket: TokenBucket::new(cfg.pacing, now),
            last_read: now,
            ping_sent: None,
            next_regain: now + cfg.regain_interval,
            rejoin_at: None,
            fatal: None,
        }
    }

    fn emit(&self, event: IrcEvent) {
        let _ = self.events.send(event);
    }

    fn lost(&self, reason: impl Into<String>) -> Outcome {
        Outcome::Lost {
            reason: reason.into(),
            registered: self.registered,
        }
    }

    fn fail_queue(&mut self, why: SendError) {
        for item in self.queue.drain(..) {
            self.shared.queued.fetch_sub(1, Ordering::SeqCst);
            if let Some(c) = item.confirm {
                let _ = c.send(Err(why.clone()));
            }
        }
    }

    async fn open(&self) -> Result<Box<dyn Io>, String> {
        let addr = (self.cfg.server.as_str(), self.cfg.port);
        let tcp = timeout(self.cfg.connect_timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| "connect timed out".to_string())?
            .map_err(|e| format!("connect failed: {e}"))?;
        let _ = tcp.set_nodelay(true);
        if !self.cfg.tls {
            return Ok(Box::new(tcp));
        }
        let tls = timeout(self.cfg.connect_timeout, crate::tls::connect(self.cfg, tcp))
            .await
            .map_err(|_| "TLS handshake timed out".to_string())??;
        Ok(Box::new(tls))
    }

    /// Writes one line now (no pacing).
    async fn write(&mut self, msg: &Message) -> Result<(), String> {
        let line = msg.to_line();
        let Some(w) = self.writer.as_mut() else {
            return Err("not connected".into());
        };
        match timeout(self.cfg.connect_timeout, async {
            w.write_all(line.as_bytes()).await?;
            w.flush().await
        })
        .await
        {
            Ok(Ok(())) => {
                self.shared
                    .counters
                    .lines_sent
                    .fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Ok(Err(e)) => Err(format!("write failed: {e}")),
            Err(_) => Err("write timed out".into()),
        }
    }

    async fn send(&mut self, command: &str, params: &[&str]) -> Result<(), String> {
        self.write(&Message::new(command, params)).await
    }

    async fn run(
        &mut self,
        rx: &mut mpsc::UnboundedReceiver<Request>,
        stop: &CancellationToken,
    ) -> Outcome {
        let io = tokio::select! {
            _ = stop.cancelled() => return Outcome::Stop("shutdown".into()),
            io = self.open() => match io {
                Ok(io) => io,
                Err(e) => return self.lost(e),
            },
        };
        let (read, write) = tokio::io::split(io);
        self.writer = Some(write);
        let codec =
            AnyDelimiterCodec::new_with_max_length(b"\n".to_vec(), Vec::new(), MAX_READ_LINE);
        let mut lines = FramedRead::new(read, codec);
        self.emit(IrcEvent::Connected {
            server: format!("{}:{}", self.cfg.server, self.cfg.port),
        });
        if let Err(e) = self.register().await {
            return self.lost(e);
        }
        let deadline = Instant::now() + self.cfg.connect_timeout;
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let send_at = self.bucket.ready_at(Instant::now());
            let can_send = self.joined && !self.queue.is_empty();
            let step: Result<(), String> = tokio::select! {
                _ = stop.cancelled() => {
                    let _ = timeout(Duration::from_secs(1), self.send("QUIT", &["Rosey is shutting down"])).await;
                    return Outcome::Stop("shutdown".into());
                }
                frame = lines.next() => match frame {
                    None => Err("the server closed the connection".into()),
                    Some(Err(e)) => Err(format!("read failed: {e}")),
                    Some(Ok(bytes)) => {
                        self.last_read = Instant::now();
                        self.ping_sent = None;
                        let text = String::from_utf8_lossy(&bytes);
                        match Message::parse(&text) {
                            Ok(msg) => self.on_message(msg).await,
                            Err(e) => {
                                tracing::debug!(line = %text.trim_end(), error = %e, "Unparseable line from the IRC server ignored.");
                                Ok(())
                            }
                        }
                    }
                },
                req = rx.recv() => match req {
                    None => return Outcome::Stop("every handle was dropped".into()),
                    Some(r) => {
                        self.accept(r);
                        Ok(())
                    }
                },
                _ = sleep_until(send_at), if can_send => self.send_next().await,
                _ = tick.tick() => self.on_tick(deadline).await,
            };
            if let Err(reason) = step {
                return match self.fatal.take() {
                    Some(fatal) => Outcome::Stop(fatal),
                    None => self.lost(reason),
                };
            }
        }
    }

    fn accept(&mut self, req: Request) {
        if !self.joined {
            refuse(self.shared, req, SendError::NotJoined);
            return;
        }
        let last = req.lines.len().saturating_sub(1);
        let mut confirm = req.confirm;
        for (i, msg) in req.lines.into_iter().enumerate() {
            let confirm = if i == last { confirm.take() } else { None };
            self.queue.push_back(Outbound { msg, confirm });
        }
    }

    async fn send_next(&mut self) -> Result<(), String> {
        let Some(item) = self.queue.pop_front() else {
            return Ok(());
        };
        let now = Instant::now();
        self.bucket.take(now);
        if self.bucket.ready_at(now) > now {
            // The next line will have to wait: the burst is used up.
            self.shared
                .counters
                .paced_waits
                .fetch_add(1, Ordering::Relaxed);
        }
        self.shared.queued.fetch_sub(1, Ordering::SeqCst);
        let result = self.write(&item.msg).await;
        if let Some(c) = item.confirm {
            let _ = c.send(result.clone().map_err(|_| SendError::Disconnected));
        }
        result
    }

    async fn register(&mut self) -> Result<(), String> {
        self.send("CAP", &["LS", "302"]).await?;
        if let Some(pw) = self.cfg.server_password.clone() {
            self.send("PASS", &[&pw.0]).await?;
        }
        let nick = self.nick.clone();
        self.send("NICK", &[&nick]).await?;
        let (user, real) = (self.cfg.username.clone(), self.cfg.realname.clone());
        self.send("USER", &[&user, "0", "*", &real]).await
    }

    async fn on_tick(&mut self, deadline: Instant) -> Result<(), String> {
        let now = Instant::now();
        if !self.registered {
            if now >= deadline {
                return Err("registration timed out".into());
            }
            return Ok(());
        }
        match self.ping_sent {
            Some(at) if now.duration_since(at) >= self.cfg.ping_timeout => {
                return Err(format!(
                    "ping timeout: no answer from the server in {:?}",
                    self.cfg.ping_timeout
                ));
            }
            None if now.duration_since(self.last_read) >= self.cfg.ping_interval => {
                self.ping_sent = Some(now);
                self.send("PING", &["rosey"]).await?;
            }
            _ => {}
        }
        if !same(&self.nick, &self.cfg.nick) && now >= self.next_regain {
            self.next_regain = now + self.cfg.regain_interval;
            tracing::debug!(wanted = %self.cfg.nick, "Trying to regain the configured nick.");
            self.bucket.take(now);
            let wanted = self.cfg.nick.clone();
            self.send("NICK", &[&wanted]).await?;
        }
        if let Some(at) = self.rejoin_at
            && now >= at
        {
            self.rejoin_at = None;
            self.join().await?;
        }
        Ok(())
    }

    async fn join(&mut self) -> Result<(), String> {
        let channel = self.cfg.channel.clone();
        match self.cfg.key.clone() {
            Some(key) => self.send("JOIN", &[&channel, &key]).await,
            None => self.send("JOIN", &[&channel]).await,
        }
    }

    fn set_joined(&mut self, joined: bool) {
        self.joined = joined;
        self.shared.joined.store(joined, Ordering::SeqCst);
        if !joined {
            self.shared.members().clear();
            self.fail_queue(SendError::NotJoined);
        }
    }

    fn is_me(&self, nick: &str) -> bool {
        same(nick, &self.nick)
    }

    fn for_channel(&self, target: &str) -> bool {
        same(target, &self.cfg.channel)
    }

    /// Splits a NAMES entry (`@+nick` or `@nick!user@host`) into a member.
    fn member_of(&self, entry: &str) -> Member {
        let prefix_chars = self.modes.prefix_chars();
        let nick_start = entry
            .find(|c: char| !prefix_chars.contains(c))
            .unwrap_or(entry.len());
        let (prefixes, rest) = entry.split_at(nick_start);
        let nick = rest.split('!').next().unwrap_or(rest);
        Member {
            nick: nick.to_string(),
            prefixes: self.modes.order(prefixes),
        }
    }

    async fn on_message(&mut self, msg: Message) -> Result<(), String> {
        let source = msg.source_nick().unwrap_or_default().to_string();
        match msg.command.as_str() {
            "PING" => {
                let params: Vec<&str> = msg.params.iter().map(String::as_str).collect();
                self.send("PONG", &params).await?;
            }
            "ERROR" => return Err(format!("server error: {}", msg.param(0))),
            "CAP" => self.on_cap(&msg).await?,
            "AUTHENTICATE" if msg.param(0) == "+" => self.authenticate().await?,
            // RPL_LOGGEDIN, RPL_SASLSUCCESS.
            "900" => {
                tracing::info!(account = %msg.param(2), "Logged in with SASL.");
                self.emit(IrcEvent::LoggedIn {
                    account: msg.param(2).to_string(),
                });
            }
            "903" => self.send("CAP", &["END"]).await?,
            // The account or password is wrong, the account is locked, or the credentials
            // are too long: every reconnect would be refused the same way (and hammer the
            // services with bad logins), so the client stops for good and says why.
            "902" | "904" | "905" => {
                let account = self
                    .cfg
                    .sasl
                    .as_ref()
                    .map(|s| s.account.as_str())
                    .unwrap_or("");
                let reason = format!(
                    "SASL login as `{account}` refused by the server ({} {}); check the \
                     account and password",
                    msg.command,
                    msg.params.last().map(String::as_str).unwrap_or("")
                );
                tracing::error!(%reason, "Stopping the IRC client: retrying cannot help.");
                let _ = self.send("QUIT", &["SASL login refused"]).await;
                self.fatal = Some(reason.clone());
                return Err(reason);
            }
            // Aborted or already logged in: carry on without (another) login.
            "906" | "907" => {
                tracing::warn!(reply = %msg.params.last().map(String::as_str).unwrap_or(""), "SASL login not completed; continuing without it.");
                self.send("CAP", &["END"]).await?;
            }
            // RPL_SASLMECHS: the mechanisms the server has (a failure numeric follows).
            "908" => tracing::warn!(mechanisms = %msg.param(1), "The server's SASL mechanisms."),
            "001" => {
                self.registered = true;
                self.nick = msg.param(0).to_string();
                self.shared.set_nick(&self.nick);
                tracing::info!(nick = %self.nick, server = %self.cfg.server, "Registered on the IRC server.");
                self.emit(IrcEvent::Registered {
                    nick: self.nick.clone(),
                });
                self.join().await?;
            }
            "005" => {
                self.modes.isupport(&msg);
                self.shared.set_quiet_mode(self.modes.has_quiet_list());
            }
            // Nick in use, erroneous, collision, temporarily unavailable.
            "433" | "432" | "436" | "437" if !self.registered => {
                self.nick_attempt += 1;
                self.nick = alt_nick(&self.cfg.nick, self.nick_attempt);
                tracing::info!(wanted = %self.cfg.nick, trying = %self.nick, "Nick taken; trying another.");
                let nick = self.nick.clone();
                self.send("NICK", &[&nick]).await?;
            }
            "353" if self.for_channel(msg.param(2)) => {
                let members: Vec<Member> = msg
                    .param(3)
                    .split_whitespace()
                    .map(|e| self.member_of(e))
                    .collect();
                let mut table = self.shared.members();
                for m in &members {
                    table.insert(m.nick.to_lowercase(), m.clone());
                }
                drop(table);
                if let Some(list) = self.joining.as_mut() {
                    list.extend(members);
                }
            }
            "366" if self.for_channel(msg.param(1)) => {
                if let Some(members) = self.joining.take() {
                    self.set_joined(true);
                    tracing::info!(channel = %self.cfg.channel, members = members.len(), "Joined the IRC channel.");
                    self.emit(IrcEvent::Joined {
                        channel: self.cfg.channel.clone(),
                        members,
                    });
                }
            }
            "332" if self.for_channel(msg.param(1)) => self.emit(IrcEvent::Topic {
                topic: msg.param(2).to_string(),
            }),
            "TOPIC" if self.for_channel(msg.param(0)) => self.emit(IrcEvent::Topic {
                topic: msg.param(1).to_string(),
            }),
            // Cannot join: no such channel, full, invite only, banned, bad key, needs an account.
            "403" | "471" | "473" | "474" | "475" | "477" if self.for_channel(msg.param(1)) => {
                let reason = msg.params.last().cloned().unwrap_or_default();
                tracing::warn!(channel = %self.cfg.channel, %reason, "Cannot join the IRC channel; retrying later.");
                self.emit(IrcEvent::JoinFailed { reason });
                self.rejoin_at = Some(Instant::now() + self.cfg.backoff.cap);
            }
            "JOIN" if self.for_channel(msg.param(0)) => {
                if self.is_me(&source) {
                    self.shared.members().clear();
                    self.joining = Some(Vec::new());
                } else {
                    let member = Member {
                        nick: source.clone(),
                        prefixes: String::new(),
                    };
                    self.shared
                        .members()
                        .insert(source.to_lowercase(), member.clone());
                    self.emit(IrcEvent::UserJoined { member });
                }
            }
            "PART" if self.for_channel(msg.param(0)) => {
                if self.is_me(&source) {
                    self.set_joined(false);
                    self.rejoin_at = Some(Instant::now() + self.cfg.backoff.base);
                } else {
                    self.left(&source, format!("part: {}", msg.param(1)));
                }
            }
            "KICK" if self.for_channel(msg.param(0)) => {
                let victim = msg.param(1).to_string();
                let reason = msg.param(2).to_string();
                if self.is_me(&victim) {
                    tracing::warn!(by = %source, %reason, "Kicked from the IRC channel; rejoining.");
                    self.set_joined(false);
                    self.emit(IrcEvent::Kicked { by: source, reason });
                    self.rejoin_at = Some(Instant::now() + self.cfg.backoff.base);
                } else {
                    self.left(&victim, format!("kicked by {source}: {reason}"));
                }
            }
            "QUIT" => {
                if self.shared.members().contains_key(&source.to_lowercase()) {
                    self.left(&source, format!("quit: {}", msg.param(0)));
                }
                self.maybe_regain_now(&source);
            }
            "NICK" => self.on_nick(&source, msg.param(0)),
            "MODE" if self.for_channel(msg.param(0)) => self.on_mode(&msg),
            "PRIVMSG" => self.on_privmsg(&source, &msg).await?,
            _ => {}
        }
        Ok(())
    }

    fn left(&mut self, nick: &str, reason: String) {
        self.shared.members().remove(&nick.to_lowercase());
        self.emit(IrcEvent::UserLeft {
            nick: nick.to_string(),
            reason,
        });
    }

    /// Whoever held our wanted nick just let it go: try at the next tick.
    fn maybe_regain_now(&mut self, released: &str) {
        if same(released, &self.cfg.nick) && !same(&self.nick, &self.cfg.nick) {
            self.next_regain = Instant::now();
        }
    }

    fn on_nick(&mut self, old: &str, new: &str) {
        let own = self.is_me(old);
        if own {
            self.nick = new.to_string();
            self.shared.set_nick(new);
            tracing::info!(%old, %new, "Our nick changed.");
        }
        let mut table = self.shared.members();
        let known = match table.remove(&old.to_lowercase()) {
            Some(mut m) => {
                m.nick = new.to_string();
                table.insert(new.to_lowercase(), m);
                true
            }
            None => false,
        };
        drop(table);
        if own || known {
            self.emit(IrcEvent::NickChanged {
                old: old.to_string(),
                new: new.to_string(),
                own,
            });
        }
        if !own {
            self.maybe_regain_now(old);
        }
    }

    fn on_mode(&mut self, msg: &Message) {
        let mut args = msg.params.iter().skip(2);
        let mut adding = true;
        let mut changed = Vec::new();
        for c in msg.param(1).chars() {
            match c {
                '+' => adding = true,
                '-' => adding = false,
                c => {
                    if let Some(&(_, prefix)) = self.modes.prefixes.iter().find(|(m, _)| *m == c) {
                        let Some(nick) = args.next() else { continue };
                        let mut table = self.shared.members();
                        if let Some(m) = table.get_mut(&nick.to_lowercase()) {
                            let mut p = m.prefixes.replace(prefix, "");
                            if adding {
                                p.push(prefix);
                            }
                            m.prefixes = self.modes.order(&p);
                            changed.push((m.nick.clone(), m.prefixes.clone()));
                        }
                    } else if self.modes.always.contains(c)
                        || (adding && self.modes.when_set.contains(c))
                    {
                        args.next();
                    }
                }
            }
        }
        for (nick, prefixes) in changed {
            self.emit(IrcEvent::MemberModes { nick, prefixes });
        }
    }

    async fn on_privmsg(&mut self, source: &str, msg: &Message) -> Result<(), String> {
        if source.is_empty() || self.is_me(source) {
            return Ok(());
        }
        let target = msg.param(0);
        let mut text = msg.param(1);
        let mut action = false;
        if let Some(ctcp) = text.strip_prefix('\x01') {
            let ctcp = ctcp.strip_suffix('\x01').unwrap_or(ctcp);
            match ctcp.split_once(' ') {
                Some(("ACTION", rest)) => {
                    action = true;
                    text = rest;
                }
                _ => {
                    if ctcp == "VERSION" && self.is_me(target) {
                        self.bucket.take(Instant::now());
                        self.send("NOTICE", &[source, "\x01VERSION Rosey\x01"])
                            .await?;
                    }
                    return Ok(());
                }
            }
        }
        let time = server_time(msg);
        if self.for_channel(target) {
            self.emit(IrcEvent::Message {
                nick: source.to_string(),
                text: text.to_string(),
                action,
                time,
                tags: msg.tags.clone(),
            });
        } else if self.is_me(target) {
            self.emit(IrcEvent::Private {
                nick: source.to_string(),
                text: text.to_string(),
                action,
                time,
            });
        }
        Ok(())
    }

    async fn on_cap(&mut self, msg: &Message) -> Result<(), String> {
        match msg.param(1) {
            "LS" => {
                // `CAP * LS * :caps` continues on the next line; `CAP * LS :caps` is the last.
                let more = msg.params.len() > 3 && msg.param(2) == "*";
                let caps = msg.params.last().map(String::as_str).unwrap_or_default();
                self.offered.extend(
                    caps.split_whitespace()
                        .map(|c| c.split('=').next().unwrap_or(c).to_string()),
                );
                if more {
                    return Ok(());
                }
                let mut want: Vec<&str> = WANTED_CAPS
                    .iter()
                    .copied()
                    .filter(|c| self.offered.iter().any(|o| o == c))
                    .collect();
                if self.cfg.sasl.is_some() {
                    if self.offered.iter().any(|o| o == "sasl") {
                        want.push("sasl");
                    } else {
                        tracing::warn!(server = %self.cfg.server, "The server does not offer SASL; registering without logging in.");
                    }
                }
                if want.is_empty() {
                    self.send("CAP", &["END"]).await
                } else {
                    let req = want.join(" ");
                    self.send("CAP", &["REQ", &req]).await
                }
            }
            "ACK" => {
                let acked: Vec<String> = msg
                    .param(2)
                    .split_whitespace()
                    .map(str::to_string)
                    .collect();
                tracing::debug!(caps = ?acked, "IRC capabilities enabled.");
                let sasl = acked.iter().any(|c| c == "sasl");
                self.enabled.extend(acked);
                if sasl && !self.registered {
                    self.send("AUTHENTICATE", &["PLAIN"]).await
                } else if !self.registered {
                    self.send("CAP", &["END"]).await
                } else {
                    Ok(())
                }
            }
            "NAK" if !self.registered => {
                tracing::warn!(caps = %msg.param(2), "The server refused capabilities.");
                self.send("CAP", &["END"]).await
            }
            _ => Ok(()),
        }
    }

    /// Answers the server's `AUTHENTICATE +` with our SASL PLAIN credentials.
    async fn authenticate(&mut self) -> Result<(), String> {
        let Some(sasl) = self.cfg.sasl.clone() else {
            return self.send("AUTHENTICATE", &["*"]).await;
        };
        for piece in sasl_plain(&sasl.account, &sasl.password) {
            self.send("AUTHENTICATE", &[&piece]).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alternative_nicks() {
        assert_eq!(alt_nick("Rosey", 0), "Rosey");
        assert_eq!(alt_nick("Rosey", 1), "Rosey_");
        let third = alt_nick("Rosey", 2);
        assert!(third.starts_with("Rosey") && third.len() == 8, "{third}");
    }

    #[test]
    fn sasl_plain_payloads() {
        assert_eq!(sasl_plain("rosey", "pw"), vec!["AHJvc2V5AHB3"]);
        // 2 + 5 + 293 bytes = 300 bytes → exactly 400 base64 characters, then "+".
        let long = "x".repeat(293);
        let pieces = sasl_plain("rosey", &long);
        assert_eq!(pieces.len(), 2);
        assert_eq!((pieces[0].len(), pieces[1].as_str()), (400, "+"));
        let longer = sasl_plain("rosey", &"y".repeat(400));
        assert_eq!(longer.len(), 2);
        assert_eq!(longer[0].len(), 400);
        let decoded = data_encoding::BASE64
            .decode(longer.concat().as_bytes())
            .unwrap();
        assert_eq!(
            decoded,
            format!("\0rosey\0{}", "y".repeat(400)).into_bytes()
        );
    }

    #[test]
    fn isupport_and_server_time() {
        let mut t = ModeTable::default();
        t.isupport(
            &Message::parse(
                ":s 005 me PREFIX=(qaohv)~&@%+ CHANMODES=beI,k,l,imnpst :are supported",
            )
            .unwrap(),
        );
        assert_eq!(t.prefix_chars(), "~&@%+");
        assert_eq!(t.order("+@"), "@+");
        assert_eq!((t.always.as_str(), t.when_set.as_str()), ("beIk", "l"));
        let m = Message::parse("@time=2026-11-30T07:48:12.500Z :a!b@c PRIVMSG #x :hi").unwrap();
        let ts = server_time(&m).unwrap();
        assert!((ts - 1_796_024_892.5).abs() < 1e-6, "{ts}");
    }
}

//! The application's side of the client: [`IrcHandle`] (cloneable; sends, and reads the
//! channel's member list) and [`IrcEvents`] (everything the connection reports, in order).
//! The handle never touches the socket: it puts requests on a channel to the connection task,
//! which owns it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;

use crate::message::{MAX_LINE_BYTES, Message};
use crate::split::{split_plain, split_text};

/// A member of the channel and the prefixes the server shows for it (`@` op, `+` voice…).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub nick: String,
    /// Prefix characters, highest first (`~&@%+` on most servers).
    pub prefixes: String,
}

impl Member {
    /// Channel operator or above (`@`, `&` admin, `~` owner).
    pub fn is_op(&self) -> bool {
        self.prefixes.contains(['@', '&', '~'])
    }

    /// Half-operator or voiced (and not an operator).
    pub fn is_voiced(&self) -> bool {
        !self.is_op() && self.prefixes.contains(['%', '+'])
    }
}

/// Everything the client reports, in the order it happened.
#[derive(Debug, Clone, PartialEq)]
pub enum IrcEvent {
    /// The socket (and TLS) is up; registration was sent.
    Connected {
        server: String,
    },
    /// The server accepted us (`001`) under this nick.
    Registered {
        nick: String,
    },
    /// Services accepted our SASL login (`900`) for this account.
    LoggedIn {
        account: String,
    },
    /// We are in the channel; its members as the server listed them.
    Joined {
        channel: String,
        members: Vec<Member>,
    },
    UserJoined {
        member: Member,
    },
    /// Someone left: part, quit or kick (`reason` says which).
    UserLeft {
        nick: String,
        reason: String,
    },
    /// A nick change; `own` when it is ours (e.g. the wanted nick regained).
    NickChanged {
        old: String,
        new: String,
        own: bool,
    },
    /// A member's prefixes changed (op/voice given or taken).
    MemberModes {
        nick: String,
        prefixes: String,
    },
    /// A channel message; `action` for CTCP ACTION (`/me`). `time` is the server's
    /// `server-time` tag (epoch seconds) when it sent one; `tags` are all message tags.
    Message {
        nick: String,
        text: String,
        action: bool,
        time: Option<f64>,
        tags: Vec<(String, Option<String>)>,
    },
    /// A private message to the bot.
    Private {
        nick: String,
        text: String,
        action: bool,
        time: Option<f64>,
    },
    /// The channel topic (on join and when changed).
    Topic {
        topic: String,
    },
    /// We were kicked; the client rejoins after the first backoff step.
    Kicked {
        by: String,
        reason: String,
    },
    /// The server refused the join (bad key, banned, invite only, full…); retried later.
    JoinFailed {
        reason: String,
    },
    /// The connection ended; `Reconnecting` follows unless the client stops.
    Disconnected {
        reason: String,
    },
    Reconnecting {
        attempt: u32,
        delay: Duration,
    },
    /// The client stopped for good (shutdown, or a refusal retrying cannot change: the
    /// SASL login was rejected); the stream ends after this.
    Stopped {
        reason: String,
    },
}

/// Why a command was not (or will not be) sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    #[error("the IRC client has stopped")]
    Closed,
    #[error("not joined to the channel (connecting or reconnecting)")]
    NotJoined,
    #[error("the outbound queue is full ({0} lines waiting)")]
    QueueFull(usize),
    #[error("nothing to send: the message is empty")]
    Empty,
    #[error("invalid argument: {0}")]
    Invalid(String),
    #[error("the connection dropped before the line was sent")]
    Disconnected,
}

pub(crate) type Confirm = oneshot::Sender<Result<(), SendError>>;

/// Lines to send, in order; the confirmation resolves when the last one is written.
#[derive(Debug)]
pub(crate) struct Request {
    pub lines: Vec<Message>,
    pub confirm: Option<Confirm>,
}

/// What the connection task counts.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub lines_sent: AtomicU64,
    pub paced_waits: AtomicU64,
    pub reconnects: AtomicU64,
}

/// State shared by the handles and the connection task.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    pub joined: AtomicBool,
    pub queued: AtomicUsize,
    pub nick: Mutex<String>,
    /// Lower-cased nick → member.
    pub members: Mutex<HashMap<String, Member>>,
    /// The server has a quiet list (`+q mask`, from ISUPPORT).
    pub quiet: AtomicBool,
    pub counters: Counters,
}

impl Shared {
    pub(crate) fn set_nick(&self, nick: &str) {
        *self.nick.lock().unwrap_or_else(|e| e.into_inner()) = nick.to_string();
    }

    pub(crate) fn set_quiet_mode(&self, has: bool) {
        self.quiet.store(has, Ordering::SeqCst);
    }

    pub(crate) fn members(&self) -> std::sync::MutexGuard<'_, HashMap<String, Member>> {
        self.members.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A snapshot of what the client did, for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClientStats {
    pub queued: usize,
    pub lines_sent: u64,
    /// Lines that had to wait for the flood pacing.
    pub paced_waits: u64,
    pub reconnects: u64,
}

/// A cheap, cloneable handle to a running client. Send methods return quickly (`Ok` =
/// accepted into the paced outbound queue); the `*_confirmed` variants resolve once the
/// (last) line is written to the socket.
#[derive(Debug, Clone)]
pub struct IrcHandle {
    pub(crate) tx: mpsc::UnboundedSender<Request>,
    pub(crate) shared: Arc<Shared>,
    pub(crate) channel: Arc<str>,
    pub(crate) stop: CancellationToken,
    pub(crate) stopped: watch::Receiver<bool>,
    pub(crate) capacity: usize,
}

/// Room for our own source prefix (`:nick!~user@host `) in what the server relays: a
/// user name of up to 10 characters plus `~`, a host of up to 63.
fn relay_overhead(nick: &str) -> usize {
    1 + nick.len() + 1 + 11 + 1 + 63 + 1
}

impl IrcHandle {
    /// Our current nick (may differ from the wanted one after a collision).
    pub fn nick(&self) -> String {
        self.shared
            .nick
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The channel this client serves.
    pub fn channel(&self) -> &str {
        &self.channel
    }

    /// True while we are in the channel.
    pub fn is_joined(&self) -> bool {
        self.shared.joined.load(Ordering::SeqCst)
    }

    /// The channel's members now.
    pub fn members(&self) -> Vec<Member> {
        let mut list: Vec<Member> = self.shared.members().values().cloned().collect();
        list.sort_by_key(|m| m.nick.to_lowercase());
        list
    }

    /// A member by nick (case-insensitive).
    pub fn member(&self, nick: &str) -> Option<Member> {
        self.shared.members().get(&nick.to_lowercase()).cloned()
    }

    pub fn stats(&self) -> ClientStats {
        let c = &self.shared.counters;
        ClientStats {
            queued: self.shared.queued.load(Ordering::Relaxed),
            lines_sent: c.lines_sent.load(Ordering::Relaxed),
            paced_waits: c.paced_waits.load(Ordering::Relaxed),
            reconnects: c.reconnects.load(Ordering::Relaxed),
        }
    }

    fn submit(&self, lines: Vec<Message>, confirm: Option<Confirm>) -> Result<(), SendError> {
        if *self.stopped.borrow() || self.tx.is_closed() {
            return Err(SendError::Closed);
        }
        if !self.is_joined() {
            return Err(SendError::NotJoined);
        }
        if lines.is_empty() {
            return Err(SendError::Empty);
        }
        let n = lines.len();
        let before = self.shared.queued.fetch_add(n, Ordering::SeqCst);
        if before + n > self.capacity {
            self.shared.queued.fetch_sub(n, Ordering::SeqCst);
            return Err(SendError::QueueFull(before));
        }
        self.tx.send(Request { lines, confirm }).map_err(|_| {
            self.shared.queued.fetch_sub(n, Ordering::SeqCst);
            SendError::Closed
        })
    }

    async fn submit_confirmed(&self, lines: Vec<Message>) -> Result<(), SendError> {
        let (tx, rx) = oneshot::channel();
        self.submit(lines, Some(tx))?;
        rx.await.unwrap_or(Err(SendError::Closed))
    }

    /// `PRIVMSG target :piece` for every piece of `text` that fits one line; `action` wraps
    /// each piece in CTCP ACTION. `text` is plain text: line breaks, NULs and CTCP delimiters
    /// never reach the wire from it (`split.rs`), so no piece is a raw command or a CTCP.
    fn privmsgs(&self, target: &str, text: &str, action: bool) -> Result<Vec<Message>, SendError> {
        if target.is_empty() || target.contains([' ', ',', '\r', '\n', '\0']) {
            return Err(SendError::Invalid(format!("bad message target `{target}`")));
        }
        let fixed = "PRIVMSG  :\r\n".len() + target.len() + if action { 9 } else { 0 };
        let budget = MAX_LINE_BYTES.saturating_sub(fixed + relay_overhead(&self.nick()));
        Ok(split_plain(text, budget)
            .into_iter()
            .map(|piece| {
                let body = if action {
                    format!("\x01ACTION {piece}\x01")
                } else {
                    piece
                };
                Message::new("PRIVMSG", &[target, &body])
            })
            .collect())
    }

    /// Says `text` in the channel (split into as many lines as it needs).
    pub fn say(&self, text: &str) -> Result<(), SendError> {
        self.submit(self.privmsgs(&self.channel, text, false)?, None)
    }

    /// Like [`say`](Self::say), resolving when the last line was written to the socket.
    pub async fn say_confirmed(&self, text: &str) -> Result<(), SendError> {
        self.submit_confirmed(self.privmsgs(&self.channel, text, false)?)
            .await
    }

    /// `/me text` in the channel.
    pub fn action(&self, text: &str) -> Result<(), SendError> {
        self.submit(self.privmsgs(&self.channel, text, true)?, None)
    }

    /// A private message to `nick`.
    pub fn pm(&self, nick: &str, text: &str) -> Result<(), SendError> {
        self.submit(self.privmsgs(nick, text, false)?, None)
    }

    pub async fn pm_confirmed(&self, nick: &str, text: &str) -> Result<(), SendError> {
        self.submit_confirmed(self.privmsgs(nick, text, false)?)
            .await
    }

    /// Kicks `nick` from the channel (needs operator status there).
    pub async fn kick_confirmed(&self, nick: &str, reason: &str) -> Result<(), SendError> {
        if nick.is_empty() || nick.contains([' ', ',']) {
            return Err(SendError::Invalid(format!("bad nick `{nick}`")));
        }
        let reason = split_text(reason, 200)
            .into_iter()
            .next()
            .unwrap_or_default();
        self.submit_confirmed(vec![Message::new("KICK", &[&self.channel, nick, &reason])])
            .await
    }

    /// Whether the server has a quiet list (`MODE #chan +q mask` mutes), as its ISUPPORT
    /// `CHANMODES` said.
    pub fn has_quiet_mode(&self) -> bool {
        self.shared.quiet.load(Ordering::SeqCst)
    }

    /// `MODE <channel> <change> <mask>` for a list mode such as `+b` or `-q`, e.g. a ban of
    /// `nick!*@*` (needs operator status there).
    pub async fn list_mode_confirmed(&self, change: &str, mask: &str) -> Result<(), SendError> {
        let ok_change = change.len() == 2
            && change.starts_with(['+', '-'])
            && change[1..].chars().all(|c| c.is_ascii_alphabetic());
        if !ok_change {
            return Err(SendError::Invalid(format!("bad mode change `{change}`")));
        }
        if mask.is_empty() || mask.contains([' ', ',', '\r', '\n', '\0']) {
            return Err(SendError::Invalid(format!("bad mask `{mask}`")));
        }
        self.submit_confirmed(vec![Message::new("MODE", &[&self.channel, change, mask])])
            .await
    }

    /// Stops the client: `QUIT`, close, and wait until the connection task has ended.
    pub async fn shutdown(&self) {
        self.stop.cancel();
        let mut stopped = self.stopped.clone();
        let _ = stopped.wait_for(|s| *s).await;
    }
}

/// Everything the connection reports, in order; ends after [`IrcEvent::Stopped`].
#[derive(Debug)]
pub struct IrcEvents(pub(crate) mpsc::UnboundedReceiver<IrcEvent>);

impl IrcEvents {
    pub async fn recv(&mut self) -> Option<IrcEvent> {
        self.0.recv().await
    }
}

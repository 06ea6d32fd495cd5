//! The application's side of the client: [`CytubeHandle`] (cloneable, sends commands) and
//! [`EventStream`] (everything the connection reports, in order).
//!
//! The handle never touches the socket: it puts commands on a channel to the connection task
//! (`connection.rs`), which owns the socket (the actor + handle shape of async-nats).

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use futures::Stream;
use tokio::sync::{mpsc, oneshot, watch};

use crate::command::{ChannelCommand, Command, QueueRequest};
use crate::event::{Position, ServerEvent};
use crate::split::{split_chat, split_message, utf16_len};

/// Everything the client reports, in the order it happened.
#[derive(Debug, Clone, PartialEq)]
pub enum CytubeEvent {
    /// The socket.io session is up (CONNECT acknowledged); join and login were sent. A bot
    /// should clear its channel state here: the join burst that follows rebuilds it.
    Connected {
        server: String,
    },
    /// `userlist` arrived: the channel is joined and chat from now on is live (not history).
    Joined {
        channel: String,
    },
    /// The connection ended; a `Reconnecting` follows unless the client stops.
    Disconnected {
        reason: String,
    },
    /// The server kicked us. `Disconnected` and `Reconnecting` (or `Stopped`) follow.
    Kicked {
        reason: Option<String>,
    },
    Reconnecting {
        attempt: u32,
        delay: Duration,
    },
    /// The client has stopped for good (shutdown, duplicate login, wrong channel password or a
    /// bad config); the stream ends after this.
    Stopped {
        reason: String,
    },
    /// A typed server event.
    Server(ServerEvent),
}

/// Why a command was not (or will not be) sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    #[error("the CyTube client has stopped")]
    Closed,
    #[error("not joined to the channel (connecting or reconnecting)")]
    NotJoined,
    #[error("the outbound queue is full ({0} commands waiting)")]
    QueueFull(usize),
    #[error("nothing to send: the message is empty")]
    Empty,
    #[error("invalid argument: {0}")]
    Invalid(String),
    #[error("the connection dropped before the command was sent")]
    Disconnected,
}

/// Resolves when the command was written to the socket (or failed).
pub(crate) type Confirm = oneshot::Sender<Result<(), SendError>>;

/// One outbound command as it travels to the connection task.
#[derive(Debug)]
pub(crate) struct Outbound {
    pub cmd: Command,
    pub confirm: Option<Confirm>,
}

#[derive(Debug)]
pub(crate) enum Request {
    Send(Vec<Outbound>),
    /// Send `/afk` if our AFK flag differs from the wanted one.
    SetAfk(bool),
}

/// State shared between the handles and the connection task.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    /// Set while the channel is joined; commands are refused otherwise.
    pub joined: AtomicBool,
    /// Commands accepted but not yet written or failed.
    pub queued: AtomicUsize,
    /// Counters for [`CytubeHandle::stats`].
    pub stats: ClientCounters,
}

/// What the connection task counts (atomics; read by [`CytubeHandle::stats`]).
#[derive(Debug, Default)]
pub(crate) struct ClientCounters {
    pub chat_sent: AtomicU64,
    pub pm_sent: AtomicU64,
    pub throttle_waits: AtomicU64,
    /// `seq + 1` of the command whose wait was counted last (each wait counts once).
    pub waited_seq: AtomicU64,
    pub cooldowns: AtomicU64,
    pub throttle_burst: AtomicU64,
    pub throttle_interval_micros: AtomicU64,
}

/// A snapshot of what the client did, for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ClientStats {
    /// Commands accepted and not yet written.
    pub queued: usize,
    /// Chat lines written to the socket.
    pub chat_sent: u64,
    /// Private messages written to the socket.
    pub pm_sent: u64,
    /// Commands that had to wait for the chat or queue throttle.
    pub throttle_waits: u64,
    /// `cooldown` notices received (the server dropped a message for flooding).
    pub cooldowns: u64,
    /// The current chat throttle: burst size and seconds between messages after it.
    pub throttle_burst: u64,
    pub throttle_interval: f64,
}

/// A cheap, cloneable handle to a running client. All send methods return quickly: `Ok` means
/// the command was accepted into the outbound queue (which paces chat below the server's flood
/// limits); the `*_confirmed` variants resolve once the frame is written to the socket.
#[derive(Debug, Clone)]
pub struct CytubeHandle {
    pub(crate) tx: mpsc::UnboundedSender<Request>,
    pub(crate) shared: Arc<Shared>,
    pub(crate) shutdown: Arc<watch::Sender<bool>>,
    pub(crate) stopped: watch::Receiver<bool>,
    pub(crate) max_message_len: usize,
    pub(crate) queue_capacity: usize,
}

impl CytubeHandle {
    /// What the client did so far (for metrics; every field is read atomically).
    pub fn stats(&self) -> ClientStats {
        let s = &self.shared.stats;
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        ClientStats {
            queued: self.shared.queued.load(Ordering::Relaxed),
            chat_sent: get(&s.chat_sent),
            pm_sent: get(&s.pm_sent),
            throttle_waits: get(&s.throttle_waits),
            cooldowns: get(&s.cooldowns),
            throttle_burst: get(&s.throttle_burst),
            throttle_interval: get(&s.throttle_interval_micros) as f64 / 1e6,
        }
    }

    /// True while the channel is joined (between `Joined` and the next `Disconnected`).
    pub fn is_joined(&self) -> bool {
        self.shared.joined.load(Ordering::SeqCst)
    }

    fn submit(&self, cmds: Vec<Command>, confirm: Option<Confirm>) -> Result<(), SendError> {
        if *self.stopped.borrow() || self.tx.is_closed() {
            return Err(SendError::Closed);
        }
        if !self.is_joined() {
            return Err(SendError::NotJoined);
        }
        if cmds.is_empty() {
            return Err(SendError::Empty);
        }
        let n = cmds.len();
        let before = self.shared.queued.fetch_add(n, Ordering::SeqCst);
        if before + n > self.queue_capacity {
            self.shared.queued.fetch_sub(n, Ordering::SeqCst);
            return Err(SendError::QueueFull(before));
        }
        // The confirmation rides on the last part: it resolves once the whole text is out.
        let last = n - 1;
        let mut confirm = confirm;
        let items = cmds
            .into_iter()
            .enumerate()
            .map(|(i, cmd)| Outbound {
                cmd,
                confirm: if i == last { confirm.take() } else { None },
            })
            .collect();
        self.tx.send(Request::Send(items)).map_err(|_| {
            self.shared.queued.fetch_sub(n, Ordering::SeqCst);
            SendError::Closed
        })
    }

    async fn submit_confirmed(&self, cmds: Vec<Command>) -> Result<(), SendError> {
        let (tx, rx) = oneshot::channel();
        self.submit(cmds, Some(tx))?;
        rx.await.unwrap_or(Err(SendError::Closed))
    }

    /// Plain text: every part guarded, so none is a channel command (`split.rs`).
    fn chat_parts(&self, text: &str) -> Vec<Command> {
        split_chat(text, self.max_message_len)
            .into_iter()
            .map(Command::Chat)
            .collect()
    }

    fn pm_parts(&self, to: &str, text: &str) -> Result<Vec<Command>, SendError> {
        if to.is_empty() {
            return Err(SendError::Invalid("empty PM recipient".into()));
        }
        Ok(split_message(text, self.max_message_len)
            .into_iter()
            .map(|msg| Command::Pm {
                to: to.to_owned(),
                msg,
            })
            .collect())
    }

    /// Says `text` in the chat as plain text — never a channel command, whatever it starts
    /// with; text over the length limit is split on word boundaries.
    pub fn chat(&self, text: &str) -> Result<(), SendError> {
        self.submit(self.chat_parts(text), None)
    }

    /// Like [`chat`](Self::chat), resolving when the (last part of the) text was written to the
    /// socket, or with an error if the connection dropped first.
    pub async fn chat_confirmed(&self, text: &str) -> Result<(), SendError> {
        self.submit_confirmed(self.chat_parts(text)).await
    }

    pub fn pm(&self, to: &str, text: &str) -> Result<(), SendError> {
        self.submit(self.pm_parts(to, text)?, None)
    }

    pub async fn pm_confirmed(&self, to: &str, text: &str) -> Result<(), SendError> {
        self.submit_confirmed(self.pm_parts(to, text)?).await
    }

    fn command_parts(&self, cmd: ChannelCommand) -> Result<Vec<Command>, SendError> {
        if utf16_len(cmd.as_str()) > self.max_message_len {
            return Err(SendError::Invalid(format!(
                "a channel command must fit one line ({} characters)",
                self.max_message_len
            )));
        }
        Ok(vec![Command::ChannelCommand(cmd)])
    }

    /// Sends a channel command (`/me …`, `/kick …`) as one line (never split).
    pub fn command(&self, cmd: ChannelCommand) -> Result<(), SendError> {
        self.submit(self.command_parts(cmd)?, None)
    }

    pub async fn command_confirmed(&self, cmd: ChannelCommand) -> Result<(), SendError> {
        self.submit_confirmed(self.command_parts(cmd)?).await
    }

    /// Sends any command as is (no splitting; [`Command::Chat`] is guarded plain text).
    pub fn send(&self, cmd: Command) -> Result<(), SendError> {
        self.submit(vec![cmd], None)
    }

    pub async fn send_confirmed(&self, cmd: Command) -> Result<(), SendError> {
        self.submit_confirmed(vec![cmd]).await
    }

    pub fn queue(&self, request: QueueRequest) -> Result<(), SendError> {
        self.send(Command::Queue(request))
    }

    pub fn delete(&self, uid: u64) -> Result<(), SendError> {
        self.send(Command::Delete { uid })
    }

    pub fn move_media(&self, from: u64, after: Position) -> Result<(), SendError> {
        self.send(Command::MoveMedia { from, after })
    }

    pub fn jump_to(&self, uid: u64) -> Result<(), SendError> {
        self.send(Command::JumpTo { uid })
    }

    pub fn play_next(&self) -> Result<(), SendError> {
        self.send(Command::PlayNext)
    }

    /// An empty name removes the leader. Needs `leaderctl` (the server kicks us otherwise).
    pub fn assign_leader(&self, name: &str) -> Result<(), SendError> {
        self.send(Command::AssignLeader {
            name: name.to_owned(),
        })
    }

    pub fn voteskip(&self) -> Result<(), SendError> {
        self.send(Command::Voteskip)
    }

    pub fn vote(&self, option: u64) -> Result<(), SendError> {
        self.send(Command::Vote { option })
    }

    /// `/kick name [reason]`.
    pub fn kick(&self, name: &str, reason: Option<&str>) -> Result<(), SendError> {
        self.send(Command::moderation("kick", name, reason)?)
    }

    /// `/mute name` (needs `mute`, 1.5 by default): the user's chat is refused with `noflood`.
    pub fn mute(&self, name: &str) -> Result<(), SendError> {
        self.send(Command::moderation("mute", name, None)?)
    }

    /// `/smute name`: a shadow mute (only moderators see the user's chat).
    pub fn shadow_mute(&self, name: &str) -> Result<(), SendError> {
        self.send(Command::moderation("smute", name, None)?)
    }

    /// `/unmute name` (lifts a mute or a shadow mute).
    pub fn unmute(&self, name: &str) -> Result<(), SendError> {
        self.send(Command::moderation("unmute", name, None)?)
    }

    /// `/ban name [reason]` (needs `ban`, 2 by default): a name ban; the user is kicked.
    pub fn ban(&self, name: &str, reason: Option<&str>) -> Result<(), SendError> {
        self.send(Command::moderation("ban", name, reason)?)
    }

    /// `newPoll` (needs `pollctl`); replaces any open poll.
    pub fn new_poll(
        &self,
        title: &str,
        options: Vec<String>,
        obscured: bool,
    ) -> Result<(), SendError> {
        self.send(Command::NewPoll {
            title: title.to_owned(),
            options,
            obscured,
            timeout: None,
        })
    }

    pub fn close_poll(&self) -> Result<(), SendError> {
        self.send(Command::ClosePoll)
    }

    /// Asks for the channel's bans; they arrive as `ServerEvent::Banlist`.
    pub fn request_banlist(&self) -> Result<(), SendError> {
        self.send(Command::RequestBanlist)
    }

    /// Lifts a ban by its id (from the ban list).
    pub fn unban(&self, id: u64, name: &str) -> Result<(), SendError> {
        self.send(Command::Unban {
            id,
            name: name.to_owned(),
        })
    }

    /// `/clear` (needs `chatclear`, rank 2 by default).
    pub fn clear_chat(&self) -> Result<(), SendError> {
        self.command(ChannelCommand::clear())
    }

    /// `/afk`: toggles our AFK flag.
    pub fn toggle_afk(&self) -> Result<(), SendError> {
        self.command(ChannelCommand::afk())
    }

    /// Sets our AFK flag; sends `/afk` only if the flag differs from what the server last said.
    pub fn set_afk(&self, afk: bool) -> Result<(), SendError> {
        if !self.is_joined() {
            return Err(SendError::NotJoined);
        }
        self.tx
            .send(Request::SetAfk(afk))
            .map_err(|_| SendError::Closed)
    }

    /// Stops the client: closes the socket, fails everything still queued, emits `Stopped` and
    /// returns once the connection task has ended.
    pub async fn shutdown(&self) {
        let _ = self.shutdown.send(true);
        let mut stopped = self.stopped.clone();
        let _ = stopped.wait_for(|s| *s).await;
    }
}

/// The events of one client. Unbounded on purpose: the connection task must never wait for a
/// slow consumer, or it would stop answering pings and lose the connection.
#[derive(Debug)]
pub struct EventStream {
    pub(crate) rx: mpsc::UnboundedReceiver<CytubeEvent>,
}

impl EventStream {
    /// The next event; `None` after `Stopped`.
    pub async fn recv(&mut self) -> Option<CytubeEvent> {
        self.rx.recv().await
    }
}

impl Stream for EventStream {
    type Item = CytubeEvent;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<CytubeEvent>> {
        self.rx.poll_recv(cx)
    }
}

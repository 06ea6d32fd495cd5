//! The platform seam: what the bot needs from a chat network, whatever it is. Everything
//! outside the platform folders (`cytube/`, `irc/`, `matrix/`) — the channel runner, the PM
//! shell, plugin routing, the pump, metrics and status — is written once against this.
//!
//! A platform connection is two things:
//! - a stream of [`Update`]s (its own task turns the client's events into them): what
//!   happened in platform-neutral [`Happening`]s, the normalized [`EventBody`]s of SPEC
//!   §4.2 to publish, and which parts of the live view changed;
//! - a [`Platform`] object: the actions (say, pm, and every shell/bus [`Action`], each
//!   answering "<action>: not supported on this platform" unless the platform has it, else
//!   in the server's words) and the channel's live [`View`] (users with rank, what plays,
//!   the playlist, server, own name and rank, topic).
//!
//! # Must not
//! Name a client crate's types: those stay in the platform folders.

use std::sync::Arc;

use futures::future::BoxFuture;
use rosey_model::EventBody;
use serde::Serialize;
use tokio::sync::mpsc;

/// Seconds since the Unix epoch, as a float (event times, `ts` fields).
pub fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// How an action failed, for the caller's retry decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailKind {
    /// Not connected or not in the channel (try again later).
    Gone,
    /// The request itself is bad (empty text, bad argument): never retry.
    Permanent,
    /// Too much waiting to go out.
    Busy,
}

/// Why a platform did not do a send.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ActionError {
    #[error("{0}: not supported on this platform")]
    Unsupported(&'static str),
    #[error("{message}")]
    Failed { message: String, kind: FailKind },
}

impl ActionError {
    pub fn failed(message: impl Into<String>, kind: FailKind) -> Self {
        ActionError::Failed {
            message: message.into(),
            kind,
        }
    }

    /// Never worth retrying (a bad request, or an action the platform does not have).
    pub fn is_permanent(&self) -> bool {
        matches!(
            self,
            ActionError::Unsupported(_)
                | ActionError::Failed {
                    kind: FailKind::Permanent,
                    ..
                }
        )
    }

    /// The connection is not there: the rest of a batch can wait.
    pub fn is_gone(&self) -> bool {
        matches!(
            self,
            ActionError::Failed {
                kind: FailKind::Gone,
                ..
            }
        )
    }
}

/// An action that failed: what to tell the asker and what to audit.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub reply: Vec<String>,
    pub error: String,
}

/// An action's answer: reply lines, or why not.
pub type Outcome = Result<Vec<String>, Failure>;

/// A failure whose reply and audit text are `message`.
pub fn fail(message: impl Into<String>) -> Failure {
    let message = message.into();
    Failure {
        reply: vec![message.clone()],
        error: message,
    }
}

/// One line of success.
pub fn ok(line: impl Into<String>) -> Outcome {
    Ok(vec![line.into()])
}

/// "<action>: not supported on this platform".
pub fn unsupported(action: &str) -> Failure {
    fail(format!("{action}: not supported on this platform"))
}

impl From<ActionError> for Failure {
    fn from(e: ActionError) -> Self {
        match e {
            ActionError::Unsupported(_) => fail(e.to_string()),
            ActionError::Failed { message, .. } => fail(format!("Failed: {message}")),
        }
    }
}

/// Who asked for an action, with the rank they have in the channel: the bot, often ranked
/// above them, acts on nobody they could not act on themselves. A service asking over the
/// bus is trusted ([`Asker::trusted`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Asker {
    pub name: String,
    pub rank: f64,
}

impl Asker {
    /// A trusted service (no rank limit of its own; the server still has its rules).
    pub fn trusted(name: &str) -> Asker {
        Asker {
            name: name.to_string(),
            rank: f64::INFINITY,
        }
    }
}

/// What a moderator (PM shell) or a service (bus command) asks a platform to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// `say`: a line in the channel (the platform may allow its own chat commands).
    Say(String),
    /// `pm`: a private message, confirmed as delivered where the platform can tell.
    Pm {
        to: String,
        text: String,
    },
    Kick {
        user: String,
        reason: Option<String>,
    },
    Mute {
        user: String,
    },
    Smute {
        user: String,
    },
    Unmute {
        user: String,
    },
    Ban {
        user: String,
        reason: Option<String>,
    },
    Unban {
        user: String,
    },
    /// Remove one message (Matrix).
    Redact {
        event_id: String,
        reason: Option<String>,
    },
    Banlist,
    Add {
        url: String,
        temp: bool,
    },
    /// Remove the playlist item at this 1-based position.
    Remove {
        position: usize,
    },
    /// Remove the playlist item with this id.
    RemoveUid(u64),
    Move {
        from: usize,
        to: usize,
    },
    Jump {
        position: usize,
    },
    Skip,
    Pause,
    Play,
    Voteskip,
    Poll {
        title: String,
        options: Vec<String>,
    },
    EndPoll,
    Clear,
    /// `afk [on|off]`; `None` toggles.
    Afk(Option<bool>),
    /// The first `limit` playlist items.
    Playlist {
        limit: usize,
    },
    /// What plays now.
    Current,
}

impl Action {
    /// The action's shell name (for "not supported" answers).
    pub fn name(&self) -> &'static str {
        match self {
            Action::Say(_) => "say",
            Action::Pm { .. } => "pm",
            Action::Kick { .. } => "kick",
            Action::Mute { .. } => "mute",
            Action::Smute { .. } => "smute",
            Action::Unmute { .. } => "unmute",
            Action::Ban { .. } => "ban",
            Action::Unban { .. } => "unban",
            Action::Redact { .. } => "redact",
            Action::Banlist => "banlist",
            Action::Add { .. } => "add",
            Action::Remove { .. } | Action::RemoveUid(_) => "remove",
            Action::Move { .. } => "move",
            Action::Jump { .. } => "jump",
            Action::Skip => "skip",
            Action::Pause => "pause",
            Action::Play => "play",
            Action::Voteskip => "voteskip",
            Action::Poll { .. } => "poll",
            Action::EndPoll => "endpoll",
            Action::Clear => "clear",
            Action::Afk(_) => "afk",
            Action::Playlist { .. } => "playlist",
            Action::Current => "current",
        }
    }
}

/// A user as the live view shows them. `afk`/`muted` are `None` where the platform has no
/// such thing; `prefix` is how the platform marks rank in a name (IRC's `@`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UserView {
    pub name: String,
    pub rank: f64,
    pub afk: Option<bool>,
    pub muted: Option<bool>,
    pub prefix: String,
    pub aliases: Vec<String>,
}

/// What plays now.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MediaView {
    pub title: String,
    pub media_type: String,
    pub id: String,
    pub seconds: u64,
    /// As the platform formats it (`mm:ss`).
    pub duration: String,
    pub queued_by: Option<String>,
}

/// A playlist item waiting to play (in the bot's status and `playlist_change` data).
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Upcoming {
    pub title: String,
    /// As CyTube formats it (`mm:ss` or `hh:mm:ss`).
    pub duration: String,
    pub queued_by: String,
}

/// A user in a channel's status.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct StatusUser {
    pub name: String,
    pub rank: f64,
    pub afk: bool,
}

/// How many of the next playlist items a status lists.
pub const UPCOMING: usize = 10;

/// The playlist, where the platform has one.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PlaylistView {
    pub items: usize,
    pub seconds: u64,
    /// The items after the current one, at most [`UPCOMING`].
    pub upcoming: Vec<Upcoming>,
}

/// The channel as it is now.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct View {
    pub own_name: Option<String>,
    pub own_rank: f64,
    pub own_afk: Option<bool>,
    pub joined: bool,
    pub server: Option<String>,
    pub connected_since: Option<f64>,
    pub topic: Option<String>,
    /// Who is in the chat.
    pub users: Vec<UserView>,
    /// Connections, guests included, where the platform counts them apart (CyTube).
    pub connected_users: Option<u64>,
    pub leader: Option<String>,
    pub paused: Option<bool>,
    pub media: Option<MediaView>,
    pub playlist: Option<PlaylistView>,
    /// Why the platform does not serve the channel although connected (an encrypted
    /// Matrix room), for the status.
    pub refused: Option<String>,
}

impl View {
    /// A user by name (case-insensitive).
    pub fn user(&self, name: &str) -> Option<&UserView> {
        self.users
            .iter()
            .find(|u| u.name.eq_ignore_ascii_case(name))
    }

    pub fn chat_count(&self) -> i64 {
        self.users.len() as i64
    }

    pub fn connected_count(&self) -> i64 {
        self.connected_users
            .map(|n| n as i64)
            .unwrap_or(self.chat_count())
    }

    /// The users as the status lists them.
    pub fn status_users(&self) -> Vec<StatusUser> {
        self.users
            .iter()
            .map(|u| StatusUser {
                name: u.name.clone(),
                rank: u.rank,
                afk: u.afk.unwrap_or(false),
            })
            .collect()
    }
}

/// What the client counted, for metrics and status (0 where a platform has no such count).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ClientStats {
    pub queued: usize,
    pub chat_sent: u64,
    pub pm_sent: u64,
    pub throttle_waits: u64,
    pub throttle_burst: u64,
    pub throttle_interval: f64,
    pub cooldowns: u64,
}

/// What happened, in platform-neutral terms (the runner publishes the `rosey.db.*` events,
/// logs, routes commands and tracks the run state from these).
#[derive(Debug, Clone, PartialEq)]
pub enum Happening {
    /// Connected to the server (not yet in the channel).
    Connected,
    /// In the channel.
    Joined,
    /// Out of the channel for now (disconnected, kicked, refused); the client comes back by
    /// itself.
    Away,
    /// The client stopped for good.
    Stopped {
        reason: String,
    },
    /// Everyone present now (at the join): each counts as arrived.
    Present {
        users: Vec<(String, f64)>,
    },
    /// A new arrival.
    UserJoined {
        name: String,
        rank: f64,
    },
    UserLeft {
        name: String,
    },
    /// The number of connections changed (a new high-water mark, perhaps).
    Counted,
    /// A chat line to store: `bot` when it is the bot's own; `command` when it may be a
    /// command (not the bot's own, not another bot's notice, not a `/me`).
    /// `server_time`: the server's own time of the line in ms, where it gives one (CyTube);
    /// `replayed`: the server's replay of recent lines on join — stored when the database
    /// does not have it yet (said while the bot was away), never run as a command.
    Chat {
        user: String,
        text: String,
        bot: bool,
        command: bool,
        server_time: Option<i64>,
        replayed: bool,
    },
    /// A private message from someone else (for plugin commands and the shell).
    Pm {
        user: String,
        text: String,
    },
    /// Something new plays.
    MediaChanged(MediaView),
}

/// One step of a platform connection.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Update {
    /// When it happened (epoch seconds; the server's time where it gave one).
    pub ts: f64,
    /// Which of the metrics' event kinds it counts as.
    pub kind: &'static str,
    pub happenings: Vec<Happening>,
    /// The normalized events to publish.
    pub events: Vec<EventBody>,
    /// Who is in the channel (or their rank or AFK flag) changed.
    pub users_changed: bool,
    /// What plays next changed.
    pub playlist_changed: bool,
    /// Something the status shows changed.
    pub status_changed: bool,
    /// A reconnect attempt.
    pub reconnect: bool,
}

impl Update {
    pub fn new(ts: f64, kind: &'static str) -> Self {
        Update {
            ts,
            kind,
            ..Update::default()
        }
    }
}

/// A platform connection's updates, in order; ends after [`Happening::Stopped`].
pub type Updates = mpsc::UnboundedReceiver<Update>;

/// The actions and live view of one channel's connection.
pub trait Platform: Send + Sync + 'static {
    /// `cytube`, `irc`, `matrix`.
    fn kind(&self) -> &'static str;
    /// In the channel now (sends are refused otherwise).
    fn is_joined(&self) -> bool;
    /// The channel as it is now.
    fn view(&self) -> View;
    /// A user's rank (0 when not in the channel); cheaper than the whole view.
    fn rank_of(&self, user: &str) -> f64 {
        self.view().user(user).map_or(0.0, |u| u.rank)
    }
    /// Users in the chat, and connections (guests included) where the platform counts
    /// them apart (CyTube's usercount).
    fn counts(&self) -> (i64, Option<i64>) {
        let v = self.view();
        (v.chat_count(), v.connected_users.map(|n| n as i64))
    }
    fn stats(&self) -> ClientStats;
    /// Says `text` in the channel (queued and paced by the client).
    fn say(&self, text: &str) -> Result<(), ActionError>;
    /// Like [`say`](Self::say), resolving when the text was written to the network.
    fn say_confirmed<'a>(&'a self, text: &'a str) -> BoxFuture<'a, Result<(), ActionError>>;
    /// A private message (a direct room on Matrix).
    fn pm(&self, to: &str, text: &str) -> Result<(), ActionError>;
    /// A shell reply of several lines to `to` (default: one PM per line).
    fn reply(&self, to: &str, lines: &[String]) -> Result<(), ActionError> {
        lines.iter().try_for_each(|line| self.pm(to, line))
    }
    /// A plugin's poll.
    fn poll(&self, _title: &str, _options: Vec<String>) -> Result<(), ActionError> {
        Err(ActionError::Unsupported("poll"))
    }
    /// A shell or bus action for `asker`; the answer in the server's words.
    fn act<'a>(&'a self, _asker: &'a Asker, action: Action) -> BoxFuture<'a, Outcome> {
        Box::pin(std::future::ready(Err(unsupported(action.name()))))
    }
    /// Closes the connection (the updates end).
    fn shutdown(&self) -> BoxFuture<'_, ()>;
}

/// A connected channel: its actions and view, and its updates.
pub struct Connection {
    pub platform: Arc<dyn Platform>,
    pub updates: Updates,
}

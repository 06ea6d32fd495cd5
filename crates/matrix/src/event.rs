//! What the client reports to the application ([`MatrixEvent`]), in the order it happened,
//! and the pieces those reports carry: a room member with power level and rank, the kind of
//! message, why someone left, why a room is refused.

/// A member of a room as the bot sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    pub user_id: String,
    pub display_name: Option<String>,
    /// The power level (`i64::MAX` for creators of rooms whose version gives them unlimited
    /// power).
    pub power: i64,
    /// The rank that power maps to ([`RankMap`](crate::RankMap)).
    pub rank: f64,
}

/// `m.text`, `m.emote` or `m.notice` (other message types are reported as text with their
/// body).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MsgKind {
    Text,
    Emote,
    /// Sent by bots by convention: a bot must not answer one (no reply loops).
    Notice,
}

/// Why someone is no longer in a room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaveReason {
    Left,
    Kicked { by: String, reason: Option<String> },
    Banned { by: String, reason: Option<String> },
}

/// Why the client does not serve a room it is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The room has `m.room.encryption`: the client has no end-to-end encryption, so it
    /// cannot read what is said there and will not send in clear text.
    Encrypted,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Encrypted => f.write_str(
                "end-to-end encrypted room: encryption is not supported, messages there are \
                 neither read nor sent",
            ),
        }
    }
}

/// Everything the client reports.
#[derive(Debug, Clone, PartialEq)]
pub enum MatrixEvent {
    /// Logged in (or the access token was accepted).
    LoggedIn {
        user_id: String,
        device_id: String,
    },
    /// We are in this room: at start (for every joined room), or after a join. `direct` for
    /// direct-message rooms (the PM shell's).
    Joined {
        room: String,
        alias: Option<String>,
        direct: bool,
        members: Vec<Member>,
    },
    /// The first sync is done and the configured rooms were joined; `waiting` lists those
    /// that could not be joined (yet): their invites will be accepted when they come.
    Ready {
        waiting: Vec<String>,
    },
    /// We left the room or were removed from it.
    Left {
        room: String,
        reason: LeaveReason,
    },
    UserJoined {
        room: String,
        member: Member,
    },
    UserLeft {
        room: String,
        user_id: String,
        reason: LeaveReason,
    },
    /// A user's power level (and so rank) changed.
    PowerChanged {
        room: String,
        user_id: String,
        power: i64,
        rank: f64,
    },
    /// A message from someone else (our own are not reported).
    Message {
        room: String,
        event_id: String,
        sender: String,
        kind: MsgKind,
        text: String,
        /// Sent in a direct-message room.
        direct: bool,
        /// The server's timestamp, milliseconds since the epoch.
        time_ms: u64,
    },
    /// An invite; `accepted` when it was for a configured room or a direct room (and the
    /// client joins), otherwise it is ignored.
    Invited {
        room: String,
        inviter: String,
        direct: bool,
        accepted: bool,
    },
    /// The client will not serve this room (reported once per room, with one log line).
    Refused {
        room: String,
        reason: Refusal,
    },
    /// An action (message, kick …) failed for good; `action` names it.
    ActionFailed {
        action: String,
        error: String,
    },
    /// The homeserver could not be reached; the client retries by itself.
    Disconnected {
        error: String,
    },
    /// The homeserver answers again after a [`Disconnected`](MatrixEvent::Disconnected).
    Reconnected,
    /// The client stopped for good (the credentials were refused, or it was told to).
    Stopped {
        error: Option<String>,
    },
}

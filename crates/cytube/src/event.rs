//! Typed CyTube server events: socket.io `Event { name, args }` → [`ServerEvent`].
//!
//! Pure code, no I/O. Decoding never fails from the caller's point of view: an unknown event name,
//! or a known name whose payload does not have the documented shape, becomes
//! [`ServerEvent::Other`] with the raw arguments, so nothing the server says is lost.
//! Payload shapes follow cytube-protocol.md §3; decoding is lenient about missing fields and
//! `null`s (they take their default) because CyTube is not consistent about them.

use std::collections::BTreeMap;

use serde::de::{DeserializeOwned, Deserializer};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::html;

/// A rank as CyTube sends it. It is a number, not an integer: the leader has rank 1.5.
pub type Rank = f64;

/// Deserializes `null` (and a missing field, with `#[serde(default)]`) as the type's default.
fn nullable<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// Milliseconds since the epoch; accepts integers and floats (JavaScript numbers).
fn millis<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    let v = Option::<f64>::deserialize(d)?.unwrap_or(0.0);
    // `as` saturates for out-of-range floats and maps NaN to 0, which is what we want here.
    Ok(v as i64)
}

/// A user as listed by `userlist` / `addUser`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct User {
    pub name: String,
    #[serde(default, deserialize_with = "nullable")]
    pub rank: Rank,
    #[serde(default, deserialize_with = "nullable")]
    pub profile: Profile,
    #[serde(default, deserialize_with = "nullable")]
    pub meta: UserMeta,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    #[serde(default, deserialize_with = "nullable")]
    pub image: String,
    #[serde(default, deserialize_with = "nullable")]
    pub text: String,
}

/// `meta` of a user. `smuted`, `aliases` and `ip` are only sent to moderators.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserMeta {
    #[serde(default, deserialize_with = "nullable")]
    pub afk: bool,
    #[serde(default, deserialize_with = "nullable")]
    pub muted: bool,
    #[serde(default, deserialize_with = "nullable")]
    pub smuted: bool,
    #[serde(default, deserialize_with = "nullable")]
    pub aliases: Vec<String>,
    #[serde(default)]
    pub ip: Option<String>,
}

/// A chat line (`chatMsg`).
#[derive(Debug, Clone, PartialEq)]
pub struct ChatMessage {
    pub username: String,
    /// The message as plain text (tags stripped, entities decoded).
    pub text: String,
    /// The message exactly as received (sanitized HTML).
    pub html: String,
    pub meta: Value,
    /// Server time, milliseconds since the Unix epoch.
    pub time: i64,
    /// True for the replay of earlier chat that precedes `userlist` on every join.
    pub history: bool,
    /// True when `username` is the name we are logged in as (the server echoes our own chat).
    pub from_self: bool,
}

/// The user name CyTube's vote-skip notices come from.
pub const VOTESKIP_NOTICE: &str = "[voteskip]";

/// A vote-skip that passed, with the figures of CyTube's `[voteskip]` notice (`Voteskip
/// passed: 3/5 skipped; eligible voters: 5 = total (7) - AFK (1) - no permission (1); ratio
/// = 0.5`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VoteskipPassed {
    /// Votes cast.
    pub count: u64,
    /// Users who could vote (present, not AFK, with the permission).
    pub eligible: u64,
    /// The channel's `voteskip_ratio`.
    pub ratio: f64,
}

impl VoteskipPassed {
    /// The votes that were needed: ceil(eligible × ratio), at least 1.
    pub fn need(&self) -> u64 {
        ((self.eligible as f64 * self.ratio).ceil() as u64).max(1)
    }
}

impl ChatMessage {
    /// CyTube's notice that a vote-skip passed and playback moved on (a live line, not the
    /// replay of earlier chat).
    pub fn is_voteskip_notice(&self) -> bool {
        self.username == VOTESKIP_NOTICE && !self.history
    }

    /// The figures of a vote-skip notice; `None` for any other line, or for a wording this
    /// client does not know (the notice still means a pass: see [`Self::is_voteskip_notice`]).
    pub fn voteskip_passed(&self) -> Option<VoteskipPassed> {
        if !self.is_voteskip_notice() {
            return None;
        }
        let rest = self
            .text
            .trim()
            .strip_prefix("Voteskip passed:")?
            .trim_start();
        let (tally, _) = rest.split_once(char::is_whitespace)?;
        let (count, eligible) = tally.split_once('/')?;
        let ratio = rest.rsplit_once("ratio =")?.1.trim();
        Some(VoteskipPassed {
            count: count.parse().ok()?,
            eligible: eligible.parse().ok()?,
            ratio: ratio.parse().ok().filter(|r: &f64| r.is_finite())?,
        })
    }

    /// A server whisper: a notice CyTube sends to some ranks only (`meta.addClass` is
    /// `"server-whisper"`), such as `[server] x joined (aliases: a,b)` to moderators. It
    /// is not chat: whoever receives it must not pass it on to everyone.
    pub fn is_server_whisper(&self) -> bool {
        self.meta.get("addClass").and_then(Value::as_str) == Some("server-whisper")
    }
}

/// A private message (`pm`). The same object goes to the sender and the recipient.
#[derive(Debug, Clone, PartialEq)]
pub struct PrivateMessage {
    pub username: String,
    pub to: String,
    pub text: String,
    pub html: String,
    pub meta: Value,
    pub time: i64,
    /// True when we sent it (this is the server's echo).
    pub from_self: bool,
}

#[derive(Deserialize)]
struct WireChat {
    #[serde(default, deserialize_with = "nullable")]
    username: String,
    #[serde(default, deserialize_with = "nullable")]
    msg: String,
    #[serde(default)]
    meta: Value,
    #[serde(default, deserialize_with = "millis")]
    time: i64,
    #[serde(default, deserialize_with = "nullable")]
    to: String,
}

/// A media object (`playlist` items, `queue`, `changeMedia`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Media {
    #[serde(default, deserialize_with = "nullable")]
    pub id: String,
    #[serde(default, deserialize_with = "nullable")]
    pub title: String,
    #[serde(default, deserialize_with = "nullable")]
    pub seconds: f64,
    /// Formatted, `"mm:ss"` or `"hh:mm:ss"`.
    #[serde(default, deserialize_with = "nullable")]
    pub duration: String,
    /// Media type code: `yt`, `vi`, `li`, `hl`, ... (cytube-protocol.md §3.5).
    #[serde(rename = "type", default, deserialize_with = "nullable")]
    pub media_type: String,
    #[serde(default)]
    pub meta: Value,
}

/// An entry of the playlist.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PlaylistItem {
    pub media: Media,
    pub uid: u64,
    #[serde(default, deserialize_with = "nullable")]
    pub temp: bool,
    #[serde(default, deserialize_with = "nullable")]
    pub queueby: String,
}

/// `changeMedia`: the media object plus the playback position.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChangeMedia {
    #[serde(flatten)]
    pub media: Media,
    #[serde(rename = "currentTime", default, deserialize_with = "nullable")]
    pub current_time: f64,
    #[serde(default, deserialize_with = "nullable")]
    pub paused: bool,
}

/// Where an item goes, as in `queue.after` and `moveVideo.after`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Position {
    /// After the item with this uid.
    After(u64),
    /// At the front.
    Prepend,
    /// At the end.
    Append,
}

impl Position {
    fn from_value(v: &Value) -> Option<Position> {
        match v {
            Value::String(s) if s == "prepend" => Some(Position::Prepend),
            Value::String(s) if s == "append" => Some(Position::Append),
            other => other.as_u64().map(Position::After),
        }
    }

    pub(crate) fn to_value(self) -> Value {
        match self {
            Position::After(uid) => Value::from(uid),
            Position::Prepend => Value::from("prepend"),
            Position::Append => Value::from("append"),
        }
    }
}

/// One vote count of a poll: a number, or a string such as `"?"` / `"3?"` in hidden polls.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PollCount {
    Known(u64),
    Hidden(String),
}

/// `newPoll` / `updatePoll`. Titles and options are only entity-escaped by the server
/// (`&#40;` etc. remain, see §3.2); [`Poll::plain_title`] decodes them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Poll {
    #[serde(default, deserialize_with = "nullable")]
    pub title: String,
    #[serde(default, deserialize_with = "nullable")]
    pub options: Vec<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub counts: Vec<PollCount>,
    #[serde(default, deserialize_with = "nullable")]
    pub initiator: String,
    #[serde(default, deserialize_with = "millis")]
    pub timestamp: i64,
}

impl Poll {
    pub fn plain_title(&self) -> String {
        html::to_plain_text(&self.title)
    }
}

/// One entry of `banlist` (sent to users with the `ban` permission). `ip` is cloaked (or
/// `"*"` for a name ban) unless the viewer is a site admin.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BanEntry {
    pub id: u64,
    #[serde(default, deserialize_with = "nullable")]
    pub ip: String,
    #[serde(default, deserialize_with = "nullable")]
    pub name: String,
    #[serde(default, deserialize_with = "nullable")]
    pub reason: String,
    #[serde(default, deserialize_with = "nullable")]
    pub bannedby: String,
}

/// The reply to `login`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LoginReply {
    #[serde(default, deserialize_with = "nullable")]
    pub success: bool,
    /// The canonical name (for registered users the spelling from the database).
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub guest: Option<bool>,
    #[serde(default)]
    pub error: Option<String>,
}

/// Flood limiter parameters (`chat_antiflood_params`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FloodParams {
    pub burst: f64,
    /// Messages per second after the burst.
    pub sustained: f64,
    /// Seconds of silence after which the burst is available again.
    #[serde(default)]
    pub cooldown: Option<f64>,
}

/// `channelOpts`: the fields the client or bot uses, plus the whole object in `raw`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChannelOpts {
    #[serde(default, deserialize_with = "nullable")]
    pub chat_antiflood: bool,
    #[serde(default)]
    pub chat_antiflood_params: Option<FloodParams>,
    #[serde(default)]
    pub allow_voteskip: Option<bool>,
    #[serde(default)]
    pub voteskip_ratio: Option<f64>,
    #[serde(default)]
    pub afk_timeout: Option<f64>,
    #[serde(default)]
    pub pagetitle: Option<String>,
    #[serde(default)]
    pub maxlength: Option<f64>,
    #[serde(default)]
    pub block_anonymous_users: Option<bool>,
    /// The raw options object, including fields not modelled above (and the channel
    /// `password`, which CyTube includes).
    #[serde(skip)]
    pub raw: Value,
}

/// A typed server → client event.
#[derive(Debug, Clone, PartialEq)]
pub enum ServerEvent {
    ChatMsg(ChatMessage),
    Pm(PrivateMessage),
    ClearChat {
        cleared_by: String,
    },
    AddUser(User),
    UserLeave {
        name: String,
    },
    Userlist(Vec<User>),
    Usercount(u64),
    /// Our own effective rank.
    Rank(Rank),
    SetUserRank {
        name: String,
        rank: Rank,
    },
    SetAfk {
        name: String,
        afk: bool,
    },
    SetUserMeta {
        name: String,
        meta: UserMeta,
    },
    /// `None` means no leader.
    SetLeader(Option<String>),
    Login(LoginReply),
    ChangeMedia(ChangeMedia),
    SetCurrent(u64),
    MediaUpdate {
        current_time: f64,
        paused: bool,
    },
    Playlist(Vec<PlaylistItem>),
    Queue {
        item: PlaylistItem,
        after: Position,
    },
    Delete {
        uid: u64,
    },
    MoveVideo {
        from: u64,
        after: Position,
    },
    SetPlaylistMeta {
        count: u64,
        raw_time: f64,
        time: String,
    },
    SetPlaylistLocked(bool),
    SetTemp {
        uid: u64,
        temp: bool,
    },
    QueueFail {
        msg: String,
        link: Option<String>,
        id: Option<String>,
    },
    Voteskip {
        count: u64,
        need: u64,
    },
    NewPoll(Poll),
    UpdatePoll(Poll),
    ClosePoll,
    ChannelOpts(ChannelOpts),
    SetPermissions(BTreeMap<String, f64>),
    /// A chat or PM was dropped by the flood limiter; wait this many milliseconds.
    Cooldown(u64),
    ErrorMsg {
        msg: String,
        code: Option<String>,
    },
    /// A refusal with a reason: `{action:"chat", msg:"You have been muted on this channel."}`,
    /// or `/rank` syntax help.
    NoFlood {
        action: String,
        msg: String,
    },
    /// "You can't ban yourself" (sent with the `errorMsg` of the refused `/ban`).
    Costanza {
        msg: String,
    },
    /// A queued item was accepted with a warning.
    QueueWarn {
        msg: String,
        link: Option<String>,
    },
    /// A new-account restriction blocked a chat line or PM (`NEW_USER_CHAT`, ...).
    SpamFiltered {
        reason: String,
    },
    /// `setChannelRank` was refused.
    ChannelRankFail {
        msg: String,
    },
    /// The channel's bans (the reply to `requestBanlist`).
    Banlist(Vec<BanEntry>),
    /// A ban was lifted (the echo of the accepted `unban {id, name}`).
    BanlistRemove {
        id: u64,
        name: String,
    },
    /// `reason` is missing for some kicks (and may be empty).
    Kick {
        reason: Option<String>,
    },
    /// The channel has a password: `true` when the one we gave was wrong.
    NeedPassword(bool),
    CancelNeedPassword,
    ChannelNotRegistered,
    /// Any other event, or a known event whose payload did not have the expected shape.
    Other {
        name: String,
        args: Vec<Value>,
    },
}

/// Why a payload could not be typed (the event then becomes [`ServerEvent::Other`]).
#[derive(Debug, thiserror::Error)]
pub enum EventDecodeError {
    #[error("unknown event {0:?}")]
    Unknown(String),
    #[error("malformed {name:?} payload: {source}")]
    Malformed {
        name: String,
        source: serde_json::Error,
    },
}

#[derive(Deserialize)]
struct NameOnly {
    #[serde(default, deserialize_with = "nullable")]
    name: String,
}

#[derive(Deserialize)]
struct NameRank {
    name: String,
    rank: Rank,
}

#[derive(Deserialize)]
struct NameAfk {
    name: String,
    #[serde(default, deserialize_with = "nullable")]
    afk: bool,
}

#[derive(Deserialize)]
struct NameMeta {
    name: String,
    #[serde(default, deserialize_with = "nullable")]
    meta: UserMeta,
}

#[derive(Deserialize)]
struct WireMediaUpdate {
    #[serde(rename = "currentTime", default, deserialize_with = "nullable")]
    current_time: f64,
    #[serde(default, deserialize_with = "nullable")]
    paused: bool,
}

#[derive(Deserialize)]
struct WireQueue {
    item: PlaylistItem,
    #[serde(default)]
    after: Value,
}

#[derive(Deserialize)]
struct WireMove {
    from: u64,
    #[serde(default)]
    after: Value,
}

#[derive(Deserialize)]
struct WireUid {
    uid: u64,
}

#[derive(Deserialize)]
struct WireTemp {
    uid: u64,
    #[serde(default, deserialize_with = "nullable")]
    temp: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WirePlaylistMeta {
    #[serde(default, deserialize_with = "nullable")]
    count: u64,
    #[serde(default, deserialize_with = "nullable")]
    raw_time: f64,
    #[serde(default, deserialize_with = "nullable")]
    time: String,
}

#[derive(Deserialize)]
struct WireQueueFail {
    #[serde(default, deserialize_with = "nullable")]
    msg: String,
    #[serde(default)]
    link: Option<String>,
    #[serde(default)]
    id: Option<Value>,
}

#[derive(Deserialize)]
struct WireVoteskip {
    #[serde(default, deserialize_with = "nullable")]
    count: u64,
    #[serde(default, deserialize_with = "nullable")]
    need: u64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireClearChat {
    #[serde(default, deserialize_with = "nullable")]
    cleared_by: String,
}

#[derive(Deserialize)]
struct WireError {
    #[serde(default, deserialize_with = "nullable")]
    msg: String,
    #[serde(default)]
    code: Option<Value>,
}

#[derive(Deserialize)]
struct WireNoFlood {
    #[serde(default, deserialize_with = "nullable")]
    action: String,
    #[serde(default, deserialize_with = "nullable")]
    msg: String,
}

#[derive(Deserialize)]
struct WireMsg {
    #[serde(default, deserialize_with = "nullable")]
    msg: String,
    #[serde(default)]
    link: Option<String>,
}

#[derive(Deserialize)]
struct WireReason {
    #[serde(default, deserialize_with = "nullable")]
    reason: String,
}

#[derive(Deserialize)]
struct WireUnban {
    id: u64,
    #[serde(default, deserialize_with = "nullable")]
    name: String,
}

#[derive(Deserialize)]
struct WireKick {
    #[serde(default)]
    reason: Option<String>,
}

fn parse<T: DeserializeOwned>(v: Value) -> Result<T, serde_json::Error> {
    serde_json::from_value(v)
}

/// A string-ish JSON value as a string (CyTube ids are sometimes numbers).
fn value_to_string(v: Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s),
        other => Some(other.to_string()),
    }
}

fn malformed(name: &str, msg: &str) -> serde_json::Error {
    <serde_json::Error as serde::de::Error>::custom(format!("{name}: {msg}"))
}

impl ServerEvent {
    /// Types an event; unknown or malformed events become [`ServerEvent::Other`].
    pub fn decode(name: &str, args: Vec<Value>) -> ServerEvent {
        match ServerEvent::try_decode(name, &args) {
            Ok(ev) => ev,
            Err(_) => ServerEvent::Other {
                name: name.to_owned(),
                args,
            },
        }
    }

    /// Types an event, saying why when it cannot.
    pub fn try_decode(name: &str, args: &[Value]) -> Result<ServerEvent, EventDecodeError> {
        let arg = args.first().cloned().unwrap_or(Value::Null);
        let wrap = |source| EventDecodeError::Malformed {
            name: name.to_owned(),
            source,
        };
        let ev = match name {
            "chatMsg" => {
                let w: WireChat = parse(arg).map_err(wrap)?;
                ServerEvent::ChatMsg(ChatMessage {
                    text: html::to_plain_text(&w.msg),
                    username: w.username,
                    html: w.msg,
                    meta: w.meta,
                    time: w.time,
                    history: false,
                    from_self: false,
                })
            }
            "pm" => {
                let w: WireChat = parse(arg).map_err(wrap)?;
                ServerEvent::Pm(PrivateMessage {
                    text: html::to_plain_text(&w.msg),
                    username: w.username,
                    to: w.to,
                    html: w.msg,
                    meta: w.meta,
                    time: w.time,
                    from_self: false,
                })
            }
            "clearchat" => {
                let w: WireClearChat = parse(or_empty_object(arg)).map_err(wrap)?;
                ServerEvent::ClearChat {
                    cleared_by: w.cleared_by,
                }
            }
            "addUser" => ServerEvent::AddUser(parse(arg).map_err(wrap)?),
            "userLeave" => {
                let w: NameOnly = parse(arg).map_err(wrap)?;
                ServerEvent::UserLeave { name: w.name }
            }
            "userlist" => ServerEvent::Userlist(parse(arg).map_err(wrap)?),
            "usercount" => ServerEvent::Usercount(parse(arg).map_err(wrap)?),
            "rank" => ServerEvent::Rank(parse(arg).map_err(wrap)?),
            "setUserRank" => {
                let w: NameRank = parse(arg).map_err(wrap)?;
                ServerEvent::SetUserRank {
                    name: w.name,
                    rank: w.rank,
                }
            }
            "setAFK" => {
                let w: NameAfk = parse(arg).map_err(wrap)?;
                ServerEvent::SetAfk {
                    name: w.name,
                    afk: w.afk,
                }
            }
            "setUserMeta" => {
                let w: NameMeta = parse(arg).map_err(wrap)?;
                ServerEvent::SetUserMeta {
                    name: w.name,
                    meta: w.meta,
                }
            }
            "setLeader" => {
                let name: Option<String> = parse(arg).map_err(wrap)?;
                ServerEvent::SetLeader(name.filter(|n| !n.is_empty()))
            }
            "login" => ServerEvent::Login(parse(arg).map_err(wrap)?),
            "changeMedia" => ServerEvent::ChangeMedia(parse(arg).map_err(wrap)?),
            "setCurrent" => ServerEvent::SetCurrent(parse(arg).map_err(wrap)?),
            "mediaUpdate" => {
                let w: WireMediaUpdate = parse(arg).map_err(wrap)?;
                ServerEvent::MediaUpdate {
                    current_time: w.current_time,
                    paused: w.paused,
                }
            }
            "playlist" => ServerEvent::Playlist(parse(arg).map_err(wrap)?),
            "queue" => {
                let w: WireQueue = parse(arg).map_err(wrap)?;
                let after = Position::from_value(&w.after)
                    .ok_or_else(|| wrap(malformed(name, "bad `after`")))?;
                ServerEvent::Queue {
                    item: w.item,
                    after,
                }
            }
            "delete" => {
                let w: WireUid = parse(arg).map_err(wrap)?;
                ServerEvent::Delete { uid: w.uid }
            }
            "moveVideo" => {
                let w: WireMove = parse(arg).map_err(wrap)?;
                let after = Position::from_value(&w.after)
                    .ok_or_else(|| wrap(malformed(name, "bad `after`")))?;
                ServerEvent::MoveVideo {
                    from: w.from,
                    after,
                }
            }
            "setPlaylistMeta" => {
                let w: WirePlaylistMeta = parse(arg).map_err(wrap)?;
                ServerEvent::SetPlaylistMeta {
                    count: w.count,
                    raw_time: w.raw_time,
                    time: w.time,
                }
            }
            "setPlaylistLocked" => ServerEvent::SetPlaylistLocked(parse(arg).map_err(wrap)?),
            "setTemp" => {
                let w: WireTemp = parse(arg).map_err(wrap)?;
                ServerEvent::SetTemp {
                    uid: w.uid,
                    temp: w.temp,
                }
            }
            "queueFail" => {
                // Old servers sent a bare string.
                let w: WireQueueFail = match arg {
                    Value::String(msg) => WireQueueFail {
                        msg,
                        link: None,
                        id: None,
                    },
                    other => parse(other).map_err(wrap)?,
                };
                ServerEvent::QueueFail {
                    msg: w.msg,
                    link: w.link,
                    id: w.id.and_then(value_to_string),
                }
            }
            "voteskip" => {
                let w: WireVoteskip = parse(arg).map_err(wrap)?;
                ServerEvent::Voteskip {
                    count: w.count,
                    need: w.need,
                }
            }
            "newPoll" => ServerEvent::NewPoll(parse(arg).map_err(wrap)?),
            "updatePoll" => ServerEvent::UpdatePoll(parse(arg).map_err(wrap)?),
            "closePoll" => ServerEvent::ClosePoll,
            "channelOpts" => {
                let mut opts: ChannelOpts = parse(arg.clone()).map_err(wrap)?;
                opts.raw = arg;
                ServerEvent::ChannelOpts(opts)
            }
            "setPermissions" => ServerEvent::SetPermissions(parse(arg).map_err(wrap)?),
            "cooldown" => {
                let ms: f64 = parse(arg).map_err(wrap)?;
                ServerEvent::Cooldown(if ms.is_finite() && ms > 0.0 {
                    ms as u64
                } else {
                    0
                })
            }
            "errorMsg" => {
                let w: WireError = match arg {
                    Value::String(msg) => WireError { msg, code: None },
                    other => parse(other).map_err(wrap)?,
                };
                ServerEvent::ErrorMsg {
                    msg: w.msg,
                    code: w.code.and_then(value_to_string),
                }
            }
            "noflood" => {
                let w: WireNoFlood = parse(arg).map_err(wrap)?;
                ServerEvent::NoFlood {
                    action: w.action,
                    msg: w.msg,
                }
            }
            "costanza" => ServerEvent::Costanza {
                msg: message(arg).map_err(wrap)?.msg,
            },
            "queueWarn" => {
                let w = message(arg).map_err(wrap)?;
                ServerEvent::QueueWarn {
                    msg: w.msg,
                    link: w.link,
                }
            }
            "spamFiltered" => {
                let w: WireReason = parse(arg).map_err(wrap)?;
                ServerEvent::SpamFiltered { reason: w.reason }
            }
            "channelRankFail" => ServerEvent::ChannelRankFail {
                msg: message(arg).map_err(wrap)?.msg,
            },
            "banlist" => ServerEvent::Banlist(parse(arg).map_err(wrap)?),
            "banlistRemove" => {
                let w: WireUnban = parse(arg).map_err(wrap)?;
                ServerEvent::BanlistRemove {
                    id: w.id,
                    name: w.name,
                }
            }
            "kick" => {
                let w: WireKick = parse(or_empty_object(arg)).map_err(wrap)?;
                ServerEvent::Kick { reason: w.reason }
            }
            "needPassword" => {
                let wrong: Option<bool> = parse(arg).map_err(wrap)?;
                ServerEvent::NeedPassword(wrong.unwrap_or(false))
            }
            "cancelNeedPassword" => ServerEvent::CancelNeedPassword,
            "channelNotRegistered" => ServerEvent::ChannelNotRegistered,
            _ => return Err(EventDecodeError::Unknown(name.to_owned())),
        };
        Ok(ev)
    }

    /// The CyTube event name this was decoded from.
    pub fn name(&self) -> &str {
        match self {
            ServerEvent::ChatMsg(_) => "chatMsg",
            ServerEvent::Pm(_) => "pm",
            ServerEvent::ClearChat { .. } => "clearchat",
            ServerEvent::AddUser(_) => "addUser",
            ServerEvent::UserLeave { .. } => "userLeave",
            ServerEvent::Userlist(_) => "userlist",
            ServerEvent::Usercount(_) => "usercount",
            ServerEvent::Rank(_) => "rank",
            ServerEvent::SetUserRank { .. } => "setUserRank",
            ServerEvent::SetAfk { .. } => "setAFK",
            ServerEvent::SetUserMeta { .. } => "setUserMeta",
            ServerEvent::SetLeader(_) => "setLeader",
            ServerEvent::Login(_) => "login",
            ServerEvent::ChangeMedia(_) => "changeMedia",
            ServerEvent::SetCurrent(_) => "setCurrent",
            ServerEvent::MediaUpdate { .. } => "mediaUpdate",
            ServerEvent::Playlist(_) => "playlist",
            ServerEvent::Queue { .. } => "queue",
            ServerEvent::Delete { .. } => "delete",
            ServerEvent::MoveVideo { .. } => "moveVideo",
            ServerEvent::SetPlaylistMeta { .. } => "setPlaylistMeta",
            ServerEvent::SetPlaylistLocked(_) => "setPlaylistLocked",
            ServerEvent::SetTemp { .. } => "setTemp",
            ServerEvent::QueueFail { .. } => "queueFail",
            ServerEvent::Voteskip { .. } => "voteskip",
            ServerEvent::NewPoll(_) => "newPoll",
            ServerEvent::UpdatePoll(_) => "updatePoll",
            ServerEvent::ClosePoll => "closePoll",
            ServerEvent::ChannelOpts(_) => "channelOpts",
            ServerEvent::SetPermissions(_) => "setPermissions",
            ServerEvent::Cooldown(_) => "cooldown",
            ServerEvent::ErrorMsg { .. } => "errorMsg",
            ServerEvent::NoFlood { .. } => "noflood",
            ServerEvent::Costanza { .. } => "costanza",
            ServerEvent::QueueWarn { .. } => "queueWarn",
            ServerEvent::SpamFiltered { .. } => "spamFiltered",
            ServerEvent::ChannelRankFail { .. } => "channelRankFail",
            ServerEvent::Banlist(_) => "banlist",
            ServerEvent::BanlistRemove { .. } => "banlistRemove",
            ServerEvent::Kick { .. } => "kick",
            ServerEvent::NeedPassword(_) => "needPassword",
            ServerEvent::CancelNeedPassword => "cancelNeedPassword",
            ServerEvent::ChannelNotRegistered => "channelNotRegistered",
            ServerEvent::Other { name, .. } => name,
        }
    }
}

/// `{msg, link?}`, or a bare string as some older events carry.
fn message(arg: Value) -> Result<WireMsg, serde_json::Error> {
    match arg {
        Value::String(msg) => Ok(WireMsg { msg, link: None }),
        other => parse(other),
    }
}

/// `kick` and `clearchat` may come with no argument at all; treat that as `{}`.
fn or_empty_object(v: Value) -> Value {
    if v.is_null() {
        Value::Object(Default::default())
    } else {
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn decode(name: &str, arg: Value) -> ServerEvent {
        ServerEvent::decode(name, vec![arg])
    }

    #[test]
    fn chat_is_decoded_to_plain_text() {
        let ev = decode(
            "chatMsg",
            json!({"username":"bob","msg":"a &amp; <strong>b</strong>","meta":{},"time":1700000000123u64}),
        );
        let ServerEvent::ChatMsg(m) = ev else {
            panic!("{ev:?}")
        };
        assert_eq!((m.username.as_str(), m.text.as_str()), ("bob", "a & b"));
        assert_eq!(m.html, "a &amp; <strong>b</strong>");
        assert_eq!(m.time, 1_700_000_000_123);
        assert!(!m.history);
    }

    #[test]
    fn a_voteskip_notice_gives_its_figures() {
        let notice = |text: &str| {
            let ev = decode(
                "chatMsg",
                json!({"username":"[voteskip]","msg":text,"time":1,
                       "meta":{"addClass":"server-whisper","addClassToNameAndTimestamp":true}}),
            );
            let ServerEvent::ChatMsg(m) = ev else {
                panic!("{ev:?}")
            };
            m
        };
        let m = notice(
            "Voteskip passed: 3/5 skipped; eligible voters: 5 = total (7) - AFK (1) - no \
             permission (1); ratio = 0.5",
        );
        assert!(m.is_voteskip_notice() && m.is_server_whisper());
        let pass = m.voteskip_passed().unwrap();
        assert_eq!((pass.count, pass.eligible, pass.ratio), (3, 5, 0.5));
        assert_eq!(pass.need(), 3);
        // A wording this client does not know is still a pass, without figures.
        let odd = notice("Voteskip passed");
        assert!(odd.is_voteskip_notice());
        assert_eq!(odd.voteskip_passed(), None);
        let mut chat = m.clone();
        chat.username = "bob".into();
        assert!(!chat.is_voteskip_notice() && chat.voteskip_passed().is_none());
    }

    #[test]
    fn pm_keeps_recipient() {
        let ev = decode(
            "pm",
            json!({"username":"a","msg":"hi","meta":{},"time":1,"to":"b"}),
        );
        let ServerEvent::Pm(m) = ev else {
            panic!("{ev:?}")
        };
        assert_eq!(
            (m.username.as_str(), m.to.as_str(), m.text.as_str()),
            ("a", "b", "hi")
        );
    }

    #[test]
    fn users_and_ranks() {
        let ev = decode(
            "userlist",
            json!([{"name":"a","rank":1.5,"profile":{"image":"","text":""},"meta":{"afk":true,"muted":false}},
                   {"name":"b","rank":0,"profile":null,"meta":{}}]),
        );
        let ServerEvent::Userlist(users) = ev else {
            panic!("{ev:?}")
        };
        assert_eq!(users.len(), 2);
        assert_eq!(users[0].rank, 1.5);
        assert!(users[0].meta.afk);
        assert_eq!(users[1].profile, Profile::default());
        assert_eq!(
            decode("setUserRank", json!({"name":"a","rank":2})),
            ServerEvent::SetUserRank {
                name: "a".into(),
                rank: 2.0
            }
        );
        assert_eq!(decode("rank", json!(-1)), ServerEvent::Rank(-1.0));
        assert_eq!(decode("setLeader", json!("")), ServerEvent::SetLeader(None));
        assert_eq!(
            decode("setLeader", json!("x")),
            ServerEvent::SetLeader(Some("x".into()))
        );
    }

    #[test]
    fn playlist_events() {
        let item = json!({"media":{"id":"abc","title":"T","seconds":61,"duration":"01:01","type":"yt","meta":{}},
                          "uid":7,"temp":true,"queueby":"bob"});
        let ev = decode("queue", json!({"item": item, "after": "prepend"}));
        let ServerEvent::Queue { item, after } = ev else {
            panic!("{ev:?}")
        };
        assert_eq!(
            (item.uid, item.media.media_type.as_str(), after),
            (7, "yt", Position::Prepend)
        );
        assert_eq!(
            decode("moveVideo", json!({"from":3,"after":5})),
            ServerEvent::MoveVideo {
                from: 3,
                after: Position::After(5)
            }
        );
        assert_eq!(
            decode("delete", json!({"uid":3})),
            ServerEvent::Delete { uid: 3 }
        );
        let ev = decode(
            "changeMedia",
            json!({"id":"x","title":"T","seconds":10,"duration":"00:10","type":"li","meta":{},"currentTime":-3,"paused":true}),
        );
        let ServerEvent::ChangeMedia(cm) = ev else {
            panic!("{ev:?}")
        };
        assert_eq!(
            (cm.media.id.as_str(), cm.current_time, cm.paused),
            ("x", -3.0, true)
        );
    }

    #[test]
    fn zero_argument_and_null_argument_events() {
        assert_eq!(
            ServerEvent::decode("channelNotRegistered", vec![]),
            ServerEvent::ChannelNotRegistered
        );
        assert_eq!(
            ServerEvent::decode("closePoll", vec![Value::Null]),
            ServerEvent::ClosePoll
        );
        assert_eq!(
            ServerEvent::decode("kick", vec![]),
            ServerEvent::Kick { reason: None }
        );
        assert_eq!(
            decode("needPassword", json!(true)),
            ServerEvent::NeedPassword(true)
        );
    }

    #[test]
    fn refusals_and_bans() {
        assert_eq!(
            decode(
                "noflood",
                json!({"action": "chat", "msg": "You have been muted on this channel."})
            ),
            ServerEvent::NoFlood {
                action: "chat".into(),
                msg: "You have been muted on this channel.".into()
            }
        );
        assert_eq!(
            decode("costanza", json!({"msg": "You can't ban yourself"})),
            ServerEvent::Costanza {
                msg: "You can't ban yourself".into()
            }
        );
        let ev = decode(
            "banlist",
            json!([{"id": 4, "ip": "*", "name": "troll", "reason": "spam", "bannedby": "mod"}]),
        );
        let ServerEvent::Banlist(bans) = ev else {
            panic!("{ev:?}")
        };
        assert_eq!((bans[0].id, bans[0].name.as_str()), (4, "troll"));
        assert_eq!(
            decode("banlistRemove", json!({"id": 4, "name": "troll"})),
            ServerEvent::BanlistRemove {
                id: 4,
                name: "troll".into()
            }
        );
    }

    #[test]
    fn channel_opts_keep_raw_object() {
        let raw = json!({"chat_antiflood":true,"chat_antiflood_params":{"burst":4,"sustained":1,"cooldown":4},"password":false});
        let ServerEvent::ChannelOpts(o) = decode("channelOpts", raw.clone()) else {
            panic!()
        };
        assert!(o.chat_antiflood);
        assert_eq!(o.chat_antiflood_params.unwrap().burst, 4.0);
        assert_eq!(o.raw, raw);
    }

    #[test]
    fn malformed_and_unknown_events_are_kept_as_other() {
        let ev = decode("userlist", json!("nope"));
        assert_eq!(
            ev,
            ServerEvent::Other {
                name: "userlist".into(),
                args: vec![json!("nope")]
            }
        );
        assert!(matches!(
            ServerEvent::try_decode("userlist", &[json!(5)]),
            Err(EventDecodeError::Malformed { .. })
        ));
        let ev = decode("emoteList", json!([]));
        assert_eq!(ev.name(), "emoteList");
        assert!(matches!(ev, ServerEvent::Other { .. }));
    }

    const NAMES: &[&str] = &[
        "chatMsg",
        "pm",
        "clearchat",
        "addUser",
        "userLeave",
        "userlist",
        "usercount",
        "rank",
        "setUserRank",
        "setAFK",
        "setUserMeta",
        "setLeader",
        "login",
        "changeMedia",
        "setCurrent",
        "mediaUpdate",
        "playlist",
        "queue",
        "delete",
        "moveVideo",
        "setPlaylistMeta",
        "setPlaylistLocked",
        "setTemp",
        "queueFail",
        "voteskip",
        "newPoll",
        "updatePoll",
        "closePoll",
        "channelOpts",
        "setPermissions",
        "cooldown",
        "errorMsg",
        "noflood",
        "costanza",
        "queueWarn",
        "spamFiltered",
        "channelRankFail",
        "banlist",
        "banlistRemove",
        "kick",
        "needPassword",
        "cancelNeedPassword",
        "channelNotRegistered",
        "unknownThing",
    ];

    fn arb_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            any::<f64>().prop_map(|f| json!(f)),
            "\\PC{0,8}".prop_map(Value::String),
            prop_oneof![Just("prepend"), Just("append"), Just("<a>&amp;</a>")]
                .prop_map(|s| Value::String(s.into())),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                proptest::collection::btree_map(
                    prop_oneof![
                        Just("name".to_owned()),
                        Just("rank".to_owned()),
                        Just("msg".to_owned()),
                        Just("uid".to_owned()),
                        Just("media".to_owned()),
                        Just("item".to_owned()),
                        Just("after".to_owned()),
                        Just("from".to_owned()),
                        Just("meta".to_owned()),
                        Just("time".to_owned()),
                        "[a-z]{1,6}"
                    ],
                    inner,
                    0..6
                )
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn random_json_never_panics(
            name in proptest::sample::select(NAMES),
            args in proptest::collection::vec(arb_json(), 0..3),
        ) {
            let ev = ServerEvent::decode(name, args);
            prop_assert_eq!(ev.name(), name);
        }
    }
}

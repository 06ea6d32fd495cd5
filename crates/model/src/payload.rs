//! Typed payloads of the `rosey.db.*` contract (SPEC §3), shared by publishers and the
//! database service.
//!
//! Every event and request carries the optional envelope fields `channel`, `ts` (event time,
//! epoch seconds, float or integer) and `id` (unique event id, string or number); the
//! [`payload!`] macro adds them so that no struct forgets one. Field names and aliases are the
//! compatibility contract with Rosey v0.5: never rename them.

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// The envelope fields, borrowed from any payload.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Envelope<'a> {
    pub channel: Option<&'a str>,
    pub ts: Option<f64>,
    pub id: Option<&'a str>,
}

/// Access to the envelope fields of a payload.
pub trait HasEnvelope {
    fn envelope(&self) -> Envelope<'_>;
    /// The channel, or `default` when the payload names none.
    fn channel_or<'a>(&'a self, default: &'a str) -> &'a str {
        self.envelope().channel.unwrap_or(default)
    }
}

/// Declares a payload struct with the envelope fields `channel`, `ts`, `id` added.
macro_rules! payload {
    ($(#[$m:meta])* pub struct $name:ident { $($(#[$fm:meta])* pub $field:ident : $ty:ty,)* }) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
        pub struct $name {
            $($(#[$fm])* pub $field: $ty,)*
            /// Channel the event belongs to; missing = the default channel.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub channel: Option<String>,
            /// Event time, epoch seconds; missing = the receiver's clock.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub ts: Option<f64>,
            /// Unique event id, for de-duplication.
            #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "opt_string_or_number")]
            pub id: Option<String>,
        }

        impl HasEnvelope for $name {
            fn envelope(&self) -> Envelope<'_> {
                Envelope { channel: self.channel.as_deref(), ts: self.ts, id: self.id.as_deref() }
            }
        }
    };
}

// ---------------------------------------------------------------------------------------
// Events (SPEC §3.1)
// ---------------------------------------------------------------------------------------

payload! {
    /// `rosey.db.user.joined`
    pub struct UserJoined {
        pub username: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub rank: Option<f64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub user_data: Option<Value>,
    }
}

payload! {
    /// `rosey.db.user.left`
    pub struct UserLeft {
        pub username: String,
    }
}

payload! {
    /// `rosey.db.message.log` (`content` and `msg` are accepted as aliases of `message`).
    pub struct MessageLog {
        pub username: String,
        #[serde(alias = "content", alias = "msg")]
        pub message: String,
        /// The bot's own line (an addition to v0.5, sent only when true): stored in the
        /// chat history like anyone's, but not counted as a chatter's line.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        pub bot: bool,
        /// The chat server's own time of the line, Unix milliseconds (CyTube's `time`; an
        /// addition to v0.5). With it the database service identifies the line by what it
        /// is (channel, time, user, text), so a line the server replays on join is stored
        /// once however often it is published.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub server_time: Option<i64>,
        /// Said before the publisher joined: the server's replay of its recent chat (an
        /// addition to v0.5). Stored only if the database does not have it yet.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        pub replayed: bool,
    }
}

payload! {
    /// `rosey.db.stats.user_count`
    pub struct UserCount {
        #[serde(deserialize_with = "count")]
        pub chat_count: i64,
        #[serde(deserialize_with = "count")]
        pub connected_count: i64,
    }
}

payload! {
    /// `rosey.db.stats.high_water`
    pub struct HighWater {
        #[serde(deserialize_with = "count")]
        pub chat_count: i64,
        #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "opt_count")]
        pub connected_count: Option<i64>,
    }
}

/// The listed keys of `status.update`; every one optional (only present keys are written).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StatusData {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bot_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bot_rank: Option<f64>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "opt_flag"
    )]
    pub bot_afk: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel_name: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "opt_count"
    )]
    pub current_chat_users: Option<i64>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "opt_count"
    )]
    pub current_connected_users: Option<i64>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "opt_count"
    )]
    pub playlist_items: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_media_title: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "opt_count"
    )]
    pub current_media_duration: Option<i64>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "opt_count"
    )]
    pub bot_start_time: Option<i64>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "opt_flag"
    )]
    pub bot_connected: Option<bool>,
}

payload! {
    /// `rosey.db.status.update`
    pub struct StatusUpdate {
        pub status_data: StatusData,
    }
}

payload! {
    /// `rosey.db.messages.outbound.mark_sent`
    pub struct MarkSent {
        #[serde(deserialize_with = "count")]
        pub message_id: i64,
    }
}

payload! {
    /// `rosey.db.messages.outbound.mark_failed`
    pub struct MarkFailed {
        #[serde(deserialize_with = "count")]
        pub message_id: i64,
        #[serde(default)]
        pub error: String,
        /// A permanent failure is never retried (status "failed").
        #[serde(default)]
        pub permanent: bool,
    }
}

payload! {
    /// `rosey.db.action.pm_command` (audit row)
    pub struct PmCommand {
        pub username: String,
        pub command: String,
        /// The arguments; a list of words is accepted too and joined with spaces.
        #[serde(default, deserialize_with = "string_or_words")]
        pub args: String,
        /// `pending`, `success` or `error`.
        pub result: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub error: Option<String>,
    }
}

payload! {
    /// `rosey.db.media.played`
    pub struct MediaPlayed {
        #[serde(rename = "type")]
        pub media_type: String,
        #[serde(deserialize_with = "string_or_number")]
        pub media_id: String,
        #[serde(default)]
        pub title: String,
        #[serde(default, deserialize_with = "count_or_zero")]
        pub duration: i64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub queued_by: Option<String>,
    }
}

payload! {
    /// `rosey.db.moderation.action`: one decision of the automated moderator. `step` is
    /// what the ladder said (`warn`, `smute 5m`, `kick`; `unmute` for a lift), `outcome`
    /// one of `done`, `failed`, `skipped` (the platform lacks the action), `dry_run`, and
    /// `answer` the server's words (or why nothing was done).
    pub struct ModerationAction {
        pub rule: String,
        pub username: String,
        #[serde(default)]
        pub reason: String,
        #[serde(default)]
        pub evidence: String,
        pub step: String,
        pub outcome: String,
        #[serde(default)]
        pub answer: String,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        pub dry_run: bool,
    }
}

payload! {
    /// `rosey.db.query.moderation_log` request: decisions of one channel (none: every
    /// channel) at or after `since` (epoch seconds), newest first.
    pub struct ModerationLogQuery {
        #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "opt_count")]
        pub since: Option<i64>,
        #[serde(default = "default_limit", deserialize_with = "count")]
        pub limit: i64,
    }
}

/// One row of the `moderation_log` reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ModerationRow {
    pub timestamp: i64,
    pub channel: String,
    pub rule: String,
    pub username: String,
    pub reason: String,
    pub evidence: String,
    pub step: String,
    pub outcome: String,
    pub answer: String,
    pub dry_run: bool,
}

/// `rosey.db.query.moderation_log` reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ModerationLogReply {
    pub success: bool,
    pub actions: Vec<ModerationRow>,
}

payload! {
    /// `rosey.db.media.ended` (new in Rosey, additive): how the play of a media that
    /// `media.played` recorded ended. Published by the media-ending tracker
    /// (`rosey_stdplugins::media::ending`), which infers it from the normalized events.
    /// `ts` is the end time; `reason` one of [`crate::media::END_REASONS`]; `played` the
    /// seconds of it that played (missing: the store takes end − start, at most the
    /// duration).
    pub struct MediaEnded {
        #[serde(rename = "type")]
        pub media_type: String,
        #[serde(deserialize_with = "string_or_number")]
        pub media_id: String,
        pub reason: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub played: Option<i64>,
        /// When the play it ends started (its `media.played` time), so the end finds that
        /// very play even when the same media was queued again right after it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub started: Option<f64>,
    }
}

// ---------------------------------------------------------------------------------------
// Queries (SPEC §3.2)
// ---------------------------------------------------------------------------------------

/// Default `limit` of the list queries.
pub const DEFAULT_LIMIT: i64 = 50;
/// Default `max_retries` of `messages.outbound.get`.
pub const DEFAULT_MAX_RETRIES: i64 = 3;
/// Default `hours` of `query.user_count_history`.
pub const DEFAULT_HISTORY_HOURS: f64 = 24.0;

fn default_limit() -> i64 {
    DEFAULT_LIMIT
}
fn default_max_retries() -> i64 {
    DEFAULT_MAX_RETRIES
}
fn default_hours() -> f64 {
    DEFAULT_HISTORY_HOURS
}

payload! {
    /// `rosey.db.messages.outbound.get` request.
    pub struct OutboundGet {
        #[serde(default = "default_limit", deserialize_with = "count")]
        pub limit: i64,
        #[serde(default = "default_max_retries", deserialize_with = "count")]
        pub max_retries: i64,
    }
}

/// One row of the `messages.outbound.get` reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct OutboundRow {
    pub id: i64,
    pub timestamp: i64,
    pub message: String,
    pub retry_count: i64,
    pub last_error: Option<String>,
}

payload! {
    /// `rosey.db.stats.recent_chat.get` request.
    pub struct RecentChatGet {
        #[serde(default = "default_limit", deserialize_with = "count")]
        pub limit: i64,
    }
}

/// One row of the `stats.recent_chat.get` reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ChatRow {
    pub timestamp: i64,
    pub username: String,
    pub message: String,
}

payload! {
    /// `rosey.db.query.channel_stats` request (only the envelope).
    pub struct ChannelStatsQuery {}
}

/// A peak and when it happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Peak {
    pub users: i64,
    pub timestamp: Option<i64>,
}

/// One entry of `top_chatters`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TopChatter {
    pub username: String,
    pub chat_lines: i64,
}

/// The live counts of `channel_stats`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CurrentCounts {
    pub chat_users: i64,
    pub connected_users: i64,
}

/// `rosey.db.query.channel_stats` reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ChannelStatsReply {
    pub success: bool,
    pub high_water_mark: Peak,
    pub high_water_connected: Peak,
    pub top_chatters: Vec<TopChatter>,
    pub total_users_seen: i64,
    pub current: CurrentCounts,
}

payload! {
    /// `rosey.db.query.user_stats` request.
    pub struct UserStatsQuery {
        pub username: String,
    }
}

/// `rosey.db.query.user_stats` reply: found or not found (SPEC §3.2 shapes).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum UserStatsReply {
    Found(UserStatsFound),
    NotFound(UserStatsNotFound),
}

/// The found shape of `user_stats`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct UserStatsFound {
    pub success: bool,
    /// Always `true` in this shape.
    pub found: bool,
    pub username: String,
    pub first_seen: i64,
    pub last_seen: i64,
    pub total_chat_lines: i64,
    pub total_time_connected: i64,
    pub current_session_start: Option<i64>,
}

/// The not-found shape of `user_stats`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct UserStatsNotFound {
    pub success: bool,
    /// Always `false` in this shape.
    pub found: bool,
    pub username: String,
    pub message: String,
}

impl UserStatsNotFound {
    /// The reply for an unknown user, with the original's wording.
    pub fn new(username: &str) -> Self {
        UserStatsNotFound {
            success: true,
            found: false,
            username: username.to_string(),
            message: format!("No statistics found for user '{username}'"),
        }
    }
}

payload! {
    /// `rosey.db.query.user_count_history` request.
    pub struct UserCountHistoryQuery {
        #[serde(default = "default_hours")]
        pub hours: f64,
    }
}

/// One row of the `user_count_history` reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct UserCountRow {
    pub timestamp: i64,
    pub chat_users: i64,
    pub connected_users: i64,
}

payload! {
    /// `rosey.db.messages.outbound.enqueue` request.
    pub struct OutboundEnqueue {
        pub message: String,
    }
}

/// `messages.outbound.enqueue` reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct EnqueueReply {
    pub success: bool,
    pub id: i64,
}

/// The error reply of every request subject: `{success:false, error}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ErrorReply {
    pub success: bool,
    pub error: String,
}

impl ErrorReply {
    pub fn new(error: impl Into<String>) -> Self {
        ErrorReply {
            success: false,
            error: error.into(),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Commands to the bot (SPEC §4.3)
// ---------------------------------------------------------------------------------------

/// `rosey.commands.<channel>.chat` request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ChatCommand {
    pub message: String,
}

/// `rosey.commands.<channel>.pm` request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PmCommandRequest {
    pub to: String,
    pub message: String,
}

/// `rosey.commands.<channel>.add` / `.skip` request: a moderator action whose reply is the
/// server's answer. `url` is for `add` only; `by` names the asker for the audit row.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PlaylistCommand {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// `add` only: a temporary item (the default) or a permanent one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temp: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
}

/// `rosey.commands.<channel>.moderate` request: one moderation step, from the moderator
/// service or a tool. `action` is one of [`ModerateCommand::ACTIONS`]; `seconds` bounds a
/// mute or ban where the platform has timed ones (the moderator service lifts them itself
/// otherwise); `event_id` names the message for `redact` (Matrix). The reply's `message` is
/// the server's answer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ModerateCommand {
    pub action: String,
    pub user: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seconds: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
}

impl ModerateCommand {
    /// The actions a `moderate` request may name.
    pub const ACTIONS: &'static [&'static str] =
        &["kick", "mute", "smute", "unmute", "ban", "unban", "redact"];
}

/// `rosey.commands.<channel>.remove` request: take one item off the playlist (CyTube's
/// `delete` by the item's `uid`); `by` names the asker for the audit row.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RemoveCommand {
    pub uid: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
}

/// Reply to a bot command: `{success, error?, message?}` (`message`: what the server
/// answered, for the actions that wait for it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CommandReply {
    pub success: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

// ---------------------------------------------------------------------------------------
// Lenient field decoders: the Python original sent ids as numbers or strings and counts
// sometimes as floats; accept what it sent, reject what makes no sense.
// ---------------------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(untagged)]
enum StrOrNum {
    S(String),
    I(i64),
    F(f64),
}

impl StrOrNum {
    fn into_string(self) -> String {
        match self {
            StrOrNum::S(s) => s,
            StrOrNum::I(i) => i.to_string(),
            StrOrNum::F(f) => f.to_string(),
        }
    }
}

fn opt_string_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(Option::<StrOrNum>::deserialize(d)?.map(StrOrNum::into_string))
}

fn string_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(StrOrNum::deserialize(d)?.into_string())
}

/// A count: an integer, or a float with no fraction (Python's `len()` / `int` via JSON).
fn count<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    let v = f64::deserialize(d)?;
    to_count::<D>(v)
}

fn to_count<'de, D: Deserializer<'de>>(v: f64) -> Result<i64, D::Error> {
    if v.is_finite() && v.abs() < 9.0e15 {
        Ok(v.trunc() as i64)
    } else {
        Err(serde::de::Error::custom(format!(
            "expected an integer, got {v}"
        )))
    }
}

fn opt_count<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    match Option::<f64>::deserialize(d)? {
        Some(v) => Ok(Some(to_count::<D>(v)?)),
        None => Ok(None),
    }
}

fn count_or_zero<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    Ok(opt_count(d)?.unwrap_or(0))
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Flag {
    B(bool),
    N(f64),
}

/// A flag as a bool or 0/1 (SQLite rows and Python both use either).
fn opt_flag<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    Ok(Option::<Flag>::deserialize(d)?.map(|f| match f {
        Flag::B(b) => b,
        Flag::N(n) => n != 0.0,
    }))
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Words {
    S(String),
    L(Vec<String>),
}

fn string_or_words<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(match Option::<Words>::deserialize(d)? {
        Some(Words::S(s)) => s,
        Some(Words::L(l)) => l.join(" "),
        None => String::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{decode, encode};
    use serde_json::json;

    #[test]
    fn python_minimal_message_log() {
        let m: MessageLog = decode(br#"{"username":"a","message":"hi"}"#).unwrap();
        assert_eq!(m.username, "a");
        assert_eq!(m.message, "hi");
        assert_eq!(m.channel_or("chan"), "chan");
        assert_eq!(m.ts, None);
    }

    #[test]
    fn message_aliases() {
        let m: MessageLog = decode(br#"{"username":"a","content":"c"}"#).unwrap();
        assert_eq!(m.message, "c");
        let m: MessageLog =
            decode(br#"{"username":"a","msg":"m","channel":"x","ts":12.5,"id":7}"#).unwrap();
        assert_eq!(m.message, "m");
        assert_eq!(m.channel.as_deref(), Some("x"));
        assert_eq!(m.ts, Some(12.5));
        assert_eq!(m.id.as_deref(), Some("7"));
    }

    #[test]
    fn message_log_missing_message_names_it() {
        let e = decode::<MessageLog>(br#"{"username":"a"}"#).unwrap_err();
        assert_eq!(e.field(), Some("message"));
    }

    #[test]
    fn shapes_are_pinned() {
        let mut m = MessageLog {
            username: "u".into(),
            message: "m".into(),
            bot: false,
            server_time: None,
            replayed: false,
            channel: Some("c".into()),
            ts: Some(1.5),
            id: Some("e1".into()),
        };
        assert_eq!(
            serde_json::to_value(&m).unwrap(),
            json!({"username":"u","message":"m","channel":"c","ts":1.5,"id":"e1"})
        );
        m.bot = true;
        assert_eq!(serde_json::to_value(&m).unwrap()["bot"], json!(true));
        let hw = HighWater {
            chat_count: 3,
            connected_count: None,
            channel: None,
            ts: None,
            id: None,
        };
        assert_eq!(serde_json::to_value(&hw).unwrap(), json!({"chat_count":3}));
        let media: MediaPlayed =
            decode(br#"{"type":"yt","media_id":"abc","title":"T","duration":61}"#).unwrap();
        assert_eq!(media.media_type, "yt");
        assert_eq!(
            serde_json::to_value(&media).unwrap(),
            json!({"type":"yt","media_id":"abc","title":"T","duration":61})
        );
    }

    #[test]
    fn counts_accept_integral_floats_and_reject_strings() {
        let u: UserCount = decode(br#"{"chat_count":3.0,"connected_count":5}"#).unwrap();
        assert_eq!((u.chat_count, u.connected_count), (3, 5));
        let e = decode::<UserCount>(br#"{"chat_count":"3","connected_count":5}"#).unwrap_err();
        assert_eq!(e.field(), Some("chat_count"));
    }

    #[test]
    fn status_update_flags_and_partial_keys() {
        let s: StatusUpdate = decode(
            br#"{"status_data":{"bot_name":"R","bot_afk":0,"bot_connected":true,"bot_rank":1.5,"unknown":1}}"#,
        )
        .unwrap();
        assert_eq!(s.status_data.bot_name.as_deref(), Some("R"));
        assert_eq!(s.status_data.bot_afk, Some(false));
        assert_eq!(s.status_data.bot_connected, Some(true));
        assert_eq!(s.status_data.playlist_items, None);
        let e = decode::<StatusUpdate>(br#"{"status_data":{"bot_rank":"high"}}"#).unwrap_err();
        assert_eq!(e.field(), Some("status_data.bot_rank"));
    }

    #[test]
    fn pm_command_args_as_words() {
        let p: PmCommand = decode(
            br#"{"username":"m","command":"kick","args":["bob","spam"],"result":"pending"}"#,
        )
        .unwrap();
        assert_eq!(p.args, "bob spam");
        let p: PmCommand =
            decode(br#"{"username":"m","command":"help","result":"success"}"#).unwrap();
        assert_eq!(p.args, "");
    }

    #[test]
    fn query_defaults() {
        let q: OutboundGet = decode(b"{}").unwrap();
        assert_eq!(
            (q.limit, q.max_retries),
            (DEFAULT_LIMIT, DEFAULT_MAX_RETRIES)
        );
        let q: RecentChatGet = decode(b"{}").unwrap();
        assert_eq!(q.limit, 50);
        let q: UserCountHistoryQuery = decode(b"{}").unwrap();
        assert_eq!(q.hours, 24.0);
        let _: ChannelStatsQuery = decode(b"{}").unwrap();
    }

    #[test]
    fn user_stats_reply_shapes() {
        let nf = UserStatsReply::NotFound(UserStatsNotFound::new("bob"));
        assert_eq!(
            serde_json::to_value(&nf).unwrap(),
            json!({"success":true,"found":false,"username":"bob","message":"No statistics found for user 'bob'"})
        );
        let f = UserStatsReply::Found(UserStatsFound {
            success: true,
            found: true,
            username: "a".into(),
            first_seen: 1,
            last_seen: 2,
            total_chat_lines: 3,
            total_time_connected: 4,
            current_session_start: None,
        });
        let v = serde_json::to_value(&f).unwrap();
        assert_eq!(v["current_session_start"], Value::Null);
        assert_eq!(v["found"], true);
        let back: UserStatsReply = decode(&encode(&f)).unwrap();
        assert_eq!(back, f);
        let back: UserStatsReply = decode(&encode(&nf)).unwrap();
        assert_eq!(back, nf);
    }

    #[test]
    fn channel_stats_reply_shape() {
        let r = ChannelStatsReply {
            success: true,
            high_water_mark: Peak {
                users: 5,
                timestamp: Some(10),
            },
            high_water_connected: Peak {
                users: 7,
                timestamp: None,
            },
            top_chatters: vec![TopChatter {
                username: "a".into(),
                chat_lines: 3,
            }],
            total_users_seen: 9,
            current: CurrentCounts {
                chat_users: 2,
                connected_users: 4,
            },
        };
        assert_eq!(
            serde_json::to_value(&r).unwrap(),
            json!({"success":true,"high_water_mark":{"users":5,"timestamp":10},
                   "high_water_connected":{"users":7,"timestamp":null},
                   "top_chatters":[{"username":"a","chat_lines":3}],"total_users_seen":9,
                   "current":{"chat_users":2,"connected_users":4}})
        );
    }

    #[test]
    fn error_reply_shape() {
        assert_eq!(
            serde_json::to_value(ErrorReply::new("bad")).unwrap(),
            json!({"success":false,"error":"bad"})
        );
    }
}

//! Requests and replies of the dashboard's subjects (`subjects::DASHBOARD_QUERY_SUBJECTS`),
//! served by the database service for `rosey web` and `rosey token`. Like every request they
//! carry the optional `channel` (missing = the default channel); errors are the usual
//! `{success:false, error}`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::payload::{Envelope, HasEnvelope};

/// The largest `limit` a dashboard request may ask for.
pub const MAX_LIMIT: i64 = 1000;

fn default_limit() -> i64 {
    50
}

fn default_hours() -> i64 {
    24
}

/// A request that names only a channel (`current_status`, `tokens.list`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ChannelQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
}

/// `query.outbound_recent` request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct OutboundRecentQuery {
    #[serde(default = "default_limit")]
    pub limit: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
}

/// `query.user_search` request: users whose name starts with `prefix` (case-insensitive).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct UserSearchQuery {
    #[serde(default)]
    pub prefix: String,
    #[serde(default = "default_limit")]
    pub limit: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
}

/// `query.chat_activity` request: lines per hour over the last `hours` (≤ 168).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ChatActivityQuery {
    #[serde(default = "default_hours")]
    pub hours: i64,
    /// Only this user's lines, with the newest lines themselves in the reply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
}

macro_rules! envelope {
    ($($t:ty),*) => {$(
        impl HasEnvelope for $t {
            fn envelope(&self) -> Envelope<'_> {
                Envelope { channel: self.channel.as_deref(), ts: None, id: None }
            }
        }
    )*};
}
envelope!(
    ChannelQuery,
    OutboundRecentQuery,
    UserSearchQuery,
    ChatActivityQuery
);

/// The `current_status` row of a channel (the v0.5 `/api/current` fields).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CurrentStatus {
    pub bot_name: Option<String>,
    pub bot_rank: Option<f64>,
    pub bot_afk: bool,
    pub channel_name: Option<String>,
    pub current_chat_users: i64,
    pub current_connected_users: i64,
    pub playlist_items: i64,
    pub current_media_title: Option<String>,
    pub current_media_duration: Option<i64>,
    pub bot_start_time: Option<i64>,
    pub bot_connected: bool,
    pub last_updated: Option<i64>,
}

/// `query.current_status` reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CurrentStatusReply {
    pub success: bool,
    /// False when the channel has no status row yet (then `status` is all defaults).
    pub found: bool,
    pub status: CurrentStatus,
}

/// One outbound row with its derived status (SPEC §7).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct OutboundRecentRow {
    pub id: i64,
    pub timestamp: i64,
    pub message: String,
    pub sent: bool,
    pub sent_timestamp: Option<i64>,
    pub retry_count: i64,
    pub last_error: Option<String>,
    /// `queued`, `retrying`, `sent`, `failed` or `abandoned`.
    pub status: String,
}

/// `query.user_search` reply row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct UserSummary {
    pub username: String,
    pub total_chat_lines: i64,
    pub last_seen: i64,
    /// True while the user has an open session.
    pub present: bool,
}

/// One hour of `query.chat_activity`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct HourCount {
    /// Start of the hour, Unix seconds.
    pub hour: i64,
    pub lines: i64,
}

/// `query.chat_activity` reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ChatActivityReply {
    pub success: bool,
    pub hours: Vec<HourCount>,
    /// With `username`: that user's newest kept lines (chronological).
    #[serde(default)]
    pub lines: Vec<crate::payload::ChatRow>,
}

/// `tokens.create` request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TokenCreate {
    #[serde(default)]
    pub description: String,
    /// An admin token may also administer tokens over HTTP.
    #[serde(default)]
    pub admin: bool,
}

/// `tokens.create` reply: the only time the full token is ever shown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TokenCreated {
    pub success: bool,
    pub token: String,
    pub prefix: String,
    pub description: String,
    pub created_at: i64,
    pub admin: bool,
}

/// One token as listed (never the token itself).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TokenInfo {
    /// The first characters of the token, enough to recognise and revoke it.
    pub prefix: String,
    /// `prefix…`, the v0.5 list's preview field.
    pub token: String,
    pub description: Option<String>,
    pub created_at: i64,
    pub last_used: Option<i64>,
    pub revoked: bool,
    pub admin: bool,
}

/// `tokens.list` reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TokenList {
    pub success: bool,
    pub tokens: Vec<TokenInfo>,
}

/// `tokens.revoke` request: a prefix of at least [`MIN_REVOKE_PREFIX`] characters (or
/// the whole token).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TokenRevoke {
    pub prefix: String,
}

/// The shortest prefix `tokens.revoke` accepts (as v0.5).
pub const MIN_REVOKE_PREFIX: usize = 8;

/// `tokens.revoke` reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TokenRevoked {
    pub success: bool,
    /// Tokens revoked now (0: no token matched, or it was already revoked).
    pub revoked: usize,
    /// The revoked token's prefix.
    #[serde(default)]
    pub prefix: Option<String>,
}

/// `tokens.verify` request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TokenVerify {
    pub token: String,
}

/// `tokens.verify` reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TokenVerified {
    pub success: bool,
    /// A live (not revoked) token.
    pub valid: bool,
    pub admin: bool,
    #[serde(default)]
    pub prefix: Option<String>,
}

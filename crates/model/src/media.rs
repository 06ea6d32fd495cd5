//! The media history's requests and replies (`subjects::MEDIA_QUERY_SUBJECTS`), served by
//! the database service for the standard plugins (`!history`, `!mostplayed`, `!lastplayed`,
//! `!random`, autoplay) and the dashboard. Like every request they carry the optional
//! `channel` (missing = the default channel); errors are the usual `{success:false, error}`.
//! Documented in `docs/media-history.md`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::payload::{Envelope, HasEnvelope};

/// The play ran to its end.
pub const END_PLAYED: &str = "played";
/// Someone with the right moved on before the end (`playNext`, `jumpTo`).
pub const END_SKIPPED: &str = "skipped";
/// The channel's vote-skip passed.
pub const END_VOTESKIPPED: &str = "voteskipped";
/// The item was deleted from the playlist while it played.
pub const END_REMOVED: &str = "removed";
/// Every way a play can end.
pub const END_REASONS: [&str; 4] = [END_PLAYED, END_SKIPPED, END_VOTESKIPPED, END_REMOVED];

/// The largest `limit` a media request may ask for.
pub const MAX_LIMIT: i64 = 500;
/// Most words a title search takes.
pub const MAX_SEARCH_WORDS: usize = 8;

/// A period of `most_played` / `top_adders`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Period {
    /// The last 24 hours.
    Day,
    /// The last 7 days.
    Week,
    /// Everything recorded.
    #[default]
    All,
}

impl Period {
    /// Seconds the period reaches back; `None` for all time.
    pub fn seconds(self) -> Option<i64> {
        match self {
            Period::Day => Some(86_400),
            Period::Week => Some(7 * 86_400),
            Period::All => None,
        }
    }

    /// `day`, `week`, `all`.
    pub fn as_str(self) -> &'static str {
        match self {
            Period::Day => "day",
            Period::Week => "week",
            Period::All => "all",
        }
    }

    /// Parses `day`/`week`/`all` (also `today`, `24h`, `7d`), case-insensitively.
    pub fn parse(s: &str) -> Option<Period> {
        match s.trim().to_ascii_lowercase().as_str() {
            "day" | "today" | "24h" | "1d" => Some(Period::Day),
            "week" | "7d" => Some(Period::Week),
            "all" | "ever" | "" => Some(Period::All),
            _ => None,
        }
    }
}

fn default_limit() -> i64 {
    10
}

/// `query.media.recent`: the newest `limit` plays, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RecentPlaysQuery {
    #[serde(default = "default_limit")]
    pub limit: i64,
    /// Only plays that started at or after this time (Unix seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
}

/// `query.media.most_played`: media by plays in a period, most first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MostPlayedQuery {
    #[serde(default)]
    pub period: Period,
    #[serde(default = "default_limit")]
    pub limit: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
}

/// `query.media.top_adders`: users by plays of what they queued in a period, most first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TopAddersQuery {
    #[serde(default)]
    pub period: Period,
    #[serde(default = "default_limit")]
    pub limit: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
}

/// `query.media.user_adds`: one user's queued plays, newest first, and their total.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct UserAddsQuery {
    pub username: String,
    #[serde(default = "default_limit")]
    pub limit: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
}

/// `query.media.item`: one media's totals, who queued it, and its newest plays.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MediaItemQuery {
    #[serde(rename = "type")]
    pub media_type: String,
    pub media_id: String,
    #[serde(default = "default_limit")]
    pub limit: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
}

/// `query.media.search`: media whose title holds every word (case-insensitive), most
/// recently played first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MediaSearchQuery {
    pub words: String,
    #[serde(default = "default_limit")]
    pub limit: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
}

/// `query.media.candidates`: media last played before `played_before` (all when missing),
/// most played first — what `!random` and autoplay pick from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MediaCandidatesQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub played_before: Option<i64>,
    #[serde(default = "default_candidates")]
    pub limit: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
}

fn default_candidates() -> i64 {
    200
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
    RecentPlaysQuery,
    MostPlayedQuery,
    TopAddersQuery,
    UserAddsQuery,
    MediaItemQuery,
    MediaSearchQuery,
    MediaCandidatesQuery
);

/// One play (a `media_history` row).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PlayRow {
    pub id: i64,
    /// When it started, Unix seconds.
    pub timestamp: i64,
    #[serde(rename = "type")]
    pub media_type: String,
    pub media_id: String,
    pub title: Option<String>,
    pub duration: i64,
    pub queued_by: Option<String>,
    /// When it ended (`None`: playing, or the end was never seen).
    pub ended_at: Option<i64>,
    /// One of [`END_REASONS`], or `None` as for `ended_at`.
    pub end_reason: Option<String>,
    /// Seconds that played.
    pub played: Option<i64>,
}

/// One media's totals, kept up to date as plays start and end (`media_stats`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MediaStats {
    #[serde(rename = "type")]
    pub media_type: String,
    pub media_id: String,
    /// The title of its newest play.
    pub title: Option<String>,
    pub duration: i64,
    pub plays: i64,
    pub first_played: i64,
    pub last_played: i64,
    /// Who queued its newest play.
    pub last_queued_by: Option<String>,
    /// Seconds played over all its plays.
    pub total_played: i64,
    /// Plays that ran to the end.
    pub played_out: i64,
    /// Plays skipped or vote-skipped.
    pub skips: i64,
    /// Of those, vote-skipped.
    pub vote_skips: i64,
    /// Plays ended by deleting it.
    pub removals: i64,
}

/// A media and its plays in a period (`most_played`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MediaCount {
    #[serde(rename = "type")]
    pub media_type: String,
    pub media_id: String,
    pub title: Option<String>,
    pub plays: i64,
    pub last_played: i64,
}

/// A user and the plays of what they queued.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AdderCount {
    pub username: String,
    pub plays: i64,
}

/// `recent` and `user_adds` reply rows; `user_adds` also gives the user's total.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PlaysReply {
    pub success: bool,
    pub plays: Vec<PlayRow>,
    /// `user_adds`: every play the user queued (not only those listed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<i64>,
}

/// `most_played` reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MostPlayedReply {
    pub success: bool,
    pub period: Period,
    pub items: Vec<MediaCount>,
}

/// `top_adders` reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TopAddersReply {
    pub success: bool,
    pub period: Period,
    pub adders: Vec<AdderCount>,
}

/// `item` reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MediaItemReply {
    pub success: bool,
    pub found: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stats: Option<MediaStats>,
    pub adders: Vec<AdderCount>,
    pub plays: Vec<PlayRow>,
}

/// `search` and `candidates` reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MediaListReply {
    pub success: bool,
    pub items: Vec<MediaStats>,
}

/// The URL the bot's `add` command takes for a media: CyTube's explicit `type:id` form.
pub fn media_url(media_type: &str, media_id: &str) -> String {
    format!("{media_type}:{media_id}")
}

/// Checks a `limit` (1..=[`MAX_LIMIT`]).
pub fn check_limit(limit: i64) -> Result<i64, String> {
    if (1..=MAX_LIMIT).contains(&limit) {
        Ok(limit)
    } else {
        Err(format!("field `limit`: must be between 1 and {MAX_LIMIT}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_and_defaults() {
        let q: MostPlayedQuery = serde_json::from_str(r#"{"period":"week"}"#).unwrap();
        assert_eq!((q.period, q.limit), (Period::Week, 10));
        let q: MostPlayedQuery = serde_json::from_str("{}").unwrap();
        assert_eq!(q.period, Period::All);
        assert!(serde_json::from_str::<MostPlayedQuery>(r#"{"period":"year"}"#).is_err());
        assert_eq!(Period::parse("TODAY"), Some(Period::Day));
        assert_eq!(Period::parse("month"), None);
        assert_eq!(Period::Week.seconds(), Some(604_800));
        assert_eq!(media_url("yt", "abc"), "yt:abc");
        assert!(check_limit(0).is_err() && check_limit(10).is_ok());
    }
}

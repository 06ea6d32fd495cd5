//! The normalized event (SPEC §4.2): what the bot publishes on
//! `rosey.events.<channel>.<kind>` for any other service. Handlers read these, never the
//! platform's own fields (those travel along in `platform_data` for whoever needs them).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::subjects;

/// A user as the bot sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct UserData {
    pub username: String,
    #[serde(default)]
    pub rank: f64,
    #[serde(default)]
    pub is_afk: bool,
    #[serde(default)]
    pub is_moderator: bool,
    #[serde(default)]
    pub meta: Value,
}

/// One normalized event with its envelope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct NormalizedEvent {
    /// Channel name (the CyTube channel).
    pub channel: String,
    /// Event time, epoch seconds.
    pub ts: f64,
    /// Unique id of this event (de-duplication across the bus).
    pub id: String,
    /// The kind and its fields (`"kind"` is the tag in JSON).
    #[serde(flatten)]
    pub body: EventBody,
}

impl NormalizedEvent {
    /// `rosey.events.<channel>.<kind>`.
    pub fn subject(&self) -> String {
        subjects::event_subject(&self.channel, self.body.kind())
    }
}

/// The kinds of normalized event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EventBody {
    /// A chat line (`chatMsg`). `history` is true for lines replayed before `userlist`.
    Message {
        user: String,
        content: String,
        #[serde(default)]
        history: bool,
        #[serde(default)]
        platform_data: Value,
    },
    /// A private message (`pm`).
    Pm {
        user: String,
        recipient: String,
        content: String,
        #[serde(default)]
        platform_data: Value,
    },
    /// `addUser`.
    UserJoin { user: String, user_data: UserData },
    /// `userLeave`.
    UserLeave { user: String },
    /// `userlist` (on join and rejoin).
    UserList { users: Vec<UserData>, count: usize },
    /// `usercount`.
    UserCount { count: i64 },
    /// `changeMedia` / `setCurrent`.
    MediaChange {
        title: String,
        #[serde(rename = "type")]
        media_type: String,
        media_id: String,
        duration: i64,
    },
    /// Playlist changes (`playlist`, `queue`, `delete`, `moveVideo`).
    PlaylistChange {
        action: String,
        #[serde(default)]
        data: Value,
    },
    /// `setUserRank`.
    RankChange { user: String, rank: f64 },
    /// `setAFK`.
    Afk { user: String, afk: bool },
    /// `setLeader` (`None` = no leader).
    Leader { user: Option<String> },
    /// `newPoll` / `updatePoll` / `closePoll`.
    Poll {
        action: String,
        #[serde(default)]
        data: Value,
    },
    /// The bot was kicked.
    Kick { reason: String },
    /// `errorMsg`, `queueFail` and other error notices from the server.
    Error { source: String, message: String },
    /// Connection lifecycle: `connected`, `joined`, `disconnected`, `reconnecting`.
    Connection {
        state: String,
        #[serde(default)]
        detail: String,
    },
    /// A vote to skip what is playing: the tally after a vote (`count` of `need`, `passed`
    /// false), or the vote that passed and moved playback on (`passed` true; CyTube's
    /// `[voteskip]` notice, its figures when the notice gives them, else 0). Only a passed
    /// vote-skip has `passed` true: a moderator's skip never does.
    Voteskip { count: u64, need: u64, passed: bool },
}

impl EventBody {
    /// The `<kind>` token of the subject and of the JSON tag.
    pub fn kind(&self) -> &'static str {
        match self {
            EventBody::Message { .. } => "message",
            EventBody::Pm { .. } => "pm",
            EventBody::UserJoin { .. } => "user_join",
            EventBody::UserLeave { .. } => "user_leave",
            EventBody::UserList { .. } => "user_list",
            EventBody::UserCount { .. } => "user_count",
            EventBody::MediaChange { .. } => "media_change",
            EventBody::PlaylistChange { .. } => "playlist_change",
            EventBody::RankChange { .. } => "rank_change",
            EventBody::Afk { .. } => "afk",
            EventBody::Leader { .. } => "leader",
            EventBody::Poll { .. } => "poll",
            EventBody::Kick { .. } => "kick",
            EventBody::Error { .. } => "error",
            EventBody::Connection { .. } => "connection",
            EventBody::Voteskip { .. } => "voteskip",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn message_event_shape_and_subject() {
        let e = NormalizedEvent {
            channel: "chan".into(),
            ts: 1700000000.5,
            id: "e1".into(),
            body: EventBody::Message {
                user: "bob".into(),
                content: "hi & bye".into(),
                history: false,
                platform_data: json!({"meta":{}}),
            },
        };
        assert_eq!(e.subject(), "rosey.events.chan.message");
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(
            v,
            json!({"channel":"chan","ts":1700000000.5,"id":"e1","kind":"message","user":"bob",
                   "content":"hi & bye","history":false,"platform_data":{"meta":{}}})
        );
        let back: NormalizedEvent = serde_json::from_value(v).unwrap();
        assert_eq!(back, e);
    }

    #[test]
    fn every_kind_round_trips_and_matches_its_tag() {
        let user = UserData {
            username: "a".into(),
            rank: 2.0,
            is_afk: false,
            is_moderator: true,
            meta: Value::Null,
        };
        let bodies = vec![
            EventBody::Pm {
                user: "a".into(),
                recipient: "b".into(),
                content: "x".into(),
                platform_data: Value::Null,
            },
            EventBody::UserJoin {
                user: "a".into(),
                user_data: user.clone(),
            },
            EventBody::UserLeave { user: "a".into() },
            EventBody::UserList {
                users: vec![user],
                count: 1,
            },
            EventBody::UserCount { count: 4 },
            EventBody::MediaChange {
                title: "t".into(),
                media_type: "yt".into(),
                media_id: "id".into(),
                duration: 3,
            },
            EventBody::PlaylistChange {
                action: "queue".into(),
                data: json!({"uid":1}),
            },
            EventBody::RankChange {
                user: "a".into(),
                rank: 3.0,
            },
            EventBody::Afk {
                user: "a".into(),
                afk: true,
            },
            EventBody::Leader { user: None },
            EventBody::Poll {
                action: "open".into(),
                data: Value::Null,
            },
            EventBody::Kick { reason: "r".into() },
            EventBody::Error {
                source: "errorMsg".into(),
                message: "m".into(),
            },
            EventBody::Connection {
                state: "joined".into(),
                detail: String::new(),
            },
            EventBody::Voteskip {
                count: 2,
                need: 3,
                passed: false,
            },
        ];
        for body in bodies {
            let e = NormalizedEvent {
                channel: "c".into(),
                ts: 1.0,
                id: "i".into(),
                body,
            };
            let v = serde_json::to_value(&e).unwrap();
            assert_eq!(v["kind"], e.body.kind());
            let back: NormalizedEvent = serde_json::from_value(v).unwrap();
            assert_eq!(back, e);
        }
    }
}

//! [`StoreEvent`]: the effect of one `rosey.db.*` event, as the store applies it.
//!
//! The envelope is resolved before an event gets here: the channel is known (payload or
//! default) and the time is integer Unix seconds (payload `ts` or the receiver's clock,
//! SPEC §3.3). The conversions from the wire payloads live here so that the service and
//! any other feeder (JetStream, tests, importers) build events the same way.

use rosey_model::payload::{
    HasEnvelope, HighWater, MarkFailed, MarkSent, MediaEnded, MediaPlayed, MessageLog,
    ModerationAction, PmCommand, StatusData, StatusUpdate, UserCount, UserJoined, UserLeft,
};

/// One event with its resolved envelope.
#[derive(Debug, Clone, PartialEq)]
pub struct StoreEvent {
    pub channel: String,
    /// Event time, Unix seconds.
    pub ts: i64,
    /// Unique id for de-duplication; events without one are never de-duplicated.
    pub id: Option<String>,
    pub kind: EventKind,
}

/// What happened.
#[derive(Debug, Clone, PartialEq)]
pub enum EventKind {
    UserJoined {
        username: String,
    },
    UserLeft {
        username: String,
    },
    Message {
        username: String,
        message: String,
        /// The bot's own line: kept in the chat history, not counted as a chatter's line.
        bot: bool,
    },
    UserCount {
        chat_count: i64,
        connected_count: i64,
    },
    HighWater {
        chat_count: i64,
        connected_count: Option<i64>,
    },
    Status(StatusData),
    MarkSent {
        message_id: i64,
    },
    MarkFailed {
        message_id: i64,
        error: String,
        permanent: bool,
    },
    PmCommand {
        username: String,
        command: String,
        args: String,
        result: String,
        error: Option<String>,
    },
    MediaPlayed {
        media_type: String,
        media_id: String,
        title: String,
        duration: i64,
        queued_by: Option<String>,
    },
    /// A decision of the automated moderator.
    Moderation {
        rule: String,
        username: String,
        reason: String,
        evidence: String,
        step: String,
        outcome: String,
        answer: String,
        dry_run: bool,
    },
    /// How the newest unfinished play of this media ended (see `crate::media`).
    MediaEnded {
        media_type: String,
        media_id: String,
        reason: String,
        played: Option<i64>,
        /// Start of the play it ends, Unix seconds (`None`: the newest unfinished one).
        started: Option<i64>,
    },
}

impl EventKind {
    /// A short stable name, for logs and counters.
    /// How many kinds there are.
    pub const COUNT: usize = 12;

    /// A stable position per kind, `0..COUNT`, in the order of the enum.
    pub fn index(&self) -> usize {
        match self {
            EventKind::UserJoined { .. } => 0,
            EventKind::UserLeft { .. } => 1,
            EventKind::Message { .. } => 2,
            EventKind::UserCount { .. } => 3,
            EventKind::HighWater { .. } => 4,
            EventKind::Status(_) => 5,
            EventKind::MarkSent { .. } => 6,
            EventKind::MarkFailed { .. } => 7,
            EventKind::PmCommand { .. } => 8,
            EventKind::MediaPlayed { .. } => 9,
            EventKind::Moderation { .. } => 10,
            EventKind::MediaEnded { .. } => 11,
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            EventKind::UserJoined { .. } => "user_joined",
            EventKind::UserLeft { .. } => "user_left",
            EventKind::Message { .. } => "message",
            EventKind::UserCount { .. } => "user_count",
            EventKind::HighWater { .. } => "high_water",
            EventKind::Status(_) => "status",
            EventKind::MarkSent { .. } => "mark_sent",
            EventKind::MarkFailed { .. } => "mark_failed",
            EventKind::PmCommand { .. } => "pm_command",
            EventKind::MediaPlayed { .. } => "media_played",
            EventKind::Moderation { .. } => "moderation",
            EventKind::MediaEnded { .. } => "media_ended",
        }
    }
}

/// Integer Unix seconds from a payload's float `ts`, else `now`. Nonsense values (NaN,
/// negative, absurdly large) fall back to `now` rather than poisoning the statistics.
pub fn resolve_ts(ts: Option<f64>, now: i64) -> i64 {
    match ts {
        Some(t) if (0.0..1.0e11).contains(&t) => t.floor() as i64,
        _ => now,
    }
}

impl StoreEvent {
    /// Why this event must be dropped without effect, if it must (SPEC §3.1: an empty
    /// username or message is dropped with a warning). Returns a stable kind name.
    pub fn invalid_reason(&self) -> Option<&'static str> {
        match &self.kind {
            EventKind::UserJoined { username }
            | EventKind::UserLeft { username }
            | EventKind::PmCommand { username, .. }
            | EventKind::Moderation { username, .. }
                if username.is_empty() =>
            {
                Some("empty_username")
            }
            EventKind::Message {
                username, message, ..
            } => {
                if username.is_empty() {
                    Some("empty_username")
                } else if message.is_empty() {
                    Some("empty_message")
                } else {
                    None
                }
            }
            EventKind::MediaEnded { reason, .. }
                if !rosey_model::media::END_REASONS.contains(&reason.as_str()) =>
            {
                Some("unknown_end_reason")
            }
            _ => None,
        }
    }
}

impl StoreEvent {
    /// Calls `f` on every text of the event (channel, id and the kind's strings).
    pub fn for_each_text(&mut self, mut f: impl FnMut(&mut String)) {
        f(&mut self.channel);
        if let Some(id) = &mut self.id {
            f(id);
        }
        match &mut self.kind {
            EventKind::UserJoined { username } | EventKind::UserLeft { username } => f(username),
            EventKind::Message {
                username, message, ..
            } => {
                f(username);
                f(message);
            }
            EventKind::Status(s) => {
                for t in [
                    &mut s.bot_name,
                    &mut s.channel_name,
                    &mut s.current_media_title,
                ]
                .into_iter()
                .flatten()
                {
                    f(t);
                }
            }
            EventKind::MarkFailed { error, .. } => f(error),
            EventKind::PmCommand {
                username,
                command,
                args,
                result,
                error,
            } => {
                for t in [username, command, args, result] {
                    f(t);
                }
                if let Some(e) = error {
                    f(e);
                }
            }
            EventKind::MediaPlayed {
                media_type,
                media_id,
                title,
                queued_by,
                ..
            } => {
                for t in [media_type, media_id, title] {
                    f(t);
                }
                if let Some(q) = queued_by {
                    f(q);
                }
            }
            EventKind::Moderation {
                rule,
                username,
                reason,
                evidence,
                step,
                outcome,
                answer,
                ..
            } => {
                for t in [rule, username, reason, evidence, step, outcome, answer] {
                    f(t);
                }
            }
            EventKind::MediaEnded {
                media_type,
                media_id,
                reason,
                ..
            } => {
                for t in [media_type, media_id, reason] {
                    f(t);
                }
            }
            EventKind::UserCount { .. }
            | EventKind::HighWater { .. }
            | EventKind::MarkSent { .. } => {}
        }
    }
}

fn envelope_parts<P: HasEnvelope>(
    p: &P,
    default_channel: &str,
    now: i64,
) -> (String, i64, Option<String>) {
    let e = p.envelope();
    (
        e.channel.unwrap_or(default_channel).to_string(),
        resolve_ts(e.ts, now),
        e.id.map(str::to_string),
    )
}

/// Builds a [`StoreEvent`] from a decoded wire payload.
pub trait IntoStoreEvent: HasEnvelope + Sized {
    fn into_store_event(self, default_channel: &str, now: i64) -> StoreEvent;
}

macro_rules! into_event {
    ($ty:ty, |$p:ident| $kind:expr) => {
        impl IntoStoreEvent for $ty {
            fn into_store_event(self, default_channel: &str, now: i64) -> StoreEvent {
                let (channel, ts, id) = envelope_parts(&self, default_channel, now);
                let $p = self;
                StoreEvent {
                    channel,
                    ts,
                    id,
                    kind: $kind,
                }
            }
        }
    };
}

into_event!(UserJoined, |p| EventKind::UserJoined {
    username: p.username
});
into_event!(UserLeft, |p| EventKind::UserLeft {
    username: p.username
});
impl IntoStoreEvent for MessageLog {
    fn into_store_event(self, default_channel: &str, now: i64) -> StoreEvent {
        let (channel, ts, id) = envelope_parts(&self, default_channel, now);
        // A line with the server's own time is identified by its content, not by the
        // publisher's id: the live line and its replay after a restart (published with
        // another id, maybe by another bot) then share one de-duplication key.
        let id = match self.server_time {
            Some(ms) => Some(line_key(&channel, ms, &self.username, &self.message)),
            None => id,
        };
        StoreEvent {
            channel,
            ts,
            id,
            kind: EventKind::Message {
                username: self.username,
                message: self.message,
                bot: self.bot,
            },
        }
    }
}

/// How old a replayed chat line may be and still be stored: older than this, its key may
/// have left the de-duplication window (`processed_events`, which the database service
/// keeps at least this long), so storing it could store it twice. A line that old was
/// either stored when it was said or is lost for good.
pub const REPLAY_HORIZON_SECS: i64 = 24 * 3600;

/// Is this replayed line too old to be stored (see [`REPLAY_HORIZON_SECS`])?
pub fn stale_replay(line: &MessageLog, now: i64) -> bool {
    line.replayed && resolve_ts(line.ts, now) < now - REPLAY_HORIZON_SECS
}

/// The de-duplication key of a chat line with the server's time: `line:` and 128 bits of
/// SHA-256 over channel, time, user and text (so the key is short whatever the text).
pub fn line_key(channel: &str, server_time_ms: i64, username: &str, message: &str) -> String {
    use sha2::{Digest, Sha256};
    use std::fmt::Write;
    let mut h = Sha256::new();
    for part in [
        channel.as_bytes(),
        &server_time_ms.to_be_bytes(),
        username.as_bytes(),
    ] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part);
    }
    h.update(message.as_bytes());
    let digest = h.finalize();
    let mut key = String::with_capacity(5 + 32);
    key.push_str("line:");
    for b in &digest[..16] {
        let _ = write!(key, "{b:02x}");
    }
    key
}
into_event!(UserCount, |p| EventKind::UserCount {
    chat_count: p.chat_count,
    connected_count: p.connected_count
});
into_event!(HighWater, |p| EventKind::HighWater {
    chat_count: p.chat_count,
    connected_count: p.connected_count
});
into_event!(StatusUpdate, |p| EventKind::Status(p.status_data));
into_event!(MarkSent, |p| EventKind::MarkSent {
    message_id: p.message_id
});
into_event!(MarkFailed, |p| EventKind::MarkFailed {
    message_id: p.message_id,
    error: p.error,
    permanent: p.permanent
});
into_event!(PmCommand, |p| EventKind::PmCommand {
    username: p.username,
    command: p.command,
    args: p.args,
    result: p.result,
    error: p.error
});
into_event!(MediaPlayed, |p| EventKind::MediaPlayed {
    media_type: p.media_type,
    media_id: p.media_id,
    title: p.title,
    duration: p.duration,
    queued_by: p.queued_by
});

into_event!(ModerationAction, |p| EventKind::Moderation {
    rule: p.rule,
    username: p.username,
    reason: p.reason,
    evidence: p.evidence,
    step: p.step,
    outcome: p.outcome,
    answer: p.answer,
    dry_run: p.dry_run
});

into_event!(MediaEnded, |p| EventKind::MediaEnded {
    media_type: p.media_type,
    media_id: p.media_id,
    reason: p.reason,
    played: p.played,
    started: p.started.map(|t| resolve_ts(Some(t), 0))
});

/// The `details` text of a `pm_command` audit row, as the original wrote it:
/// `cmd=<command>, args: <args>, result: <result>[, error: <error>]`.
pub fn pm_command_details(command: &str, args: &str, result: &str, error: Option<&str>) -> String {
    let mut s = format!("cmd={command}, args: {args}, result: {result}");
    if let Some(e) = error {
        s.push_str(", error: ");
        s.push_str(e);
    }
    s
}

/// Chat lines from these names are counted but not kept in `recent_chat`.
pub fn is_server_name(username: &str) -> bool {
    username.eq_ignore_ascii_case("server") || username.eq_ignore_ascii_case("[server]")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ts_resolution() {
        assert_eq!(resolve_ts(Some(1700000000.9), 5), 1700000000);
        assert_eq!(resolve_ts(None, 5), 5);
        assert_eq!(resolve_ts(Some(f64::NAN), 5), 5);
        assert_eq!(resolve_ts(Some(-1.0), 5), 5);
    }

    #[test]
    fn payload_conversion_keeps_envelope() {
        let m: MessageLog =
            rosey_model::decode(br#"{"username":"a","message":"hi","ts":12.7,"id":9}"#).unwrap();
        let e = m.into_store_event("chan", 100);
        assert_eq!(e.channel, "chan");
        assert_eq!(e.ts, 12);
        assert_eq!(e.id.as_deref(), Some("9"));
        assert_eq!(
            e.kind,
            EventKind::Message {
                username: "a".into(),
                message: "hi".into(),
                bot: false
            }
        );
    }

    #[test]
    fn details_format() {
        assert_eq!(
            pm_command_details("kick", "bob spam", "error", Some("no")),
            "cmd=kick, args: bob spam, result: error, error: no"
        );
        assert_eq!(
            pm_command_details("help", "", "pending", None),
            "cmd=help, args: , result: pending"
        );
    }
}

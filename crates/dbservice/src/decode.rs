//! Wire → [`StoreEvent`]: picks the payload type by subject and resolves the envelope.
//! Pure; no I/O. Errors carry a stable kind for the counters and a message for replies.

use rosey_bus::batch::{self, BatchError};
use rosey_model::payload::{
    HighWater, MarkFailed, MarkSent, MediaEnded, MediaPlayed, MessageLog, ModerationAction,
    PmCommand, StatusUpdate, UserCount, UserJoined, UserLeft,
};
use rosey_model::{DecodeError, decode, subjects};
use rosey_store::StoreEvent;
use rosey_store::event::IntoStoreEvent;

/// Why an event message was not turned into a [`StoreEvent`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    #[error(transparent)]
    Decode(#[from] DecodeError),
    #[error("unknown subject `{0}`")]
    UnknownSubject(String),
    /// Decoded, but without effect by the contract (empty username or message).
    #[error("dropped: {0}")]
    Invalid(&'static str),
    /// A `rosey.db.batch` message whose framing is broken (none of it is applied).
    #[error(transparent)]
    Batch(#[from] BatchError),
}

impl EventError {
    /// Stable kind name for counters.
    pub fn kind(&self) -> &'static str {
        match self {
            EventError::Decode(e) => e.kind(),
            EventError::UnknownSubject(_) => "unknown_subject",
            EventError::Invalid(reason) => reason,
            EventError::Batch(_) => "bad_batch",
        }
    }
}

fn typed<P: serde::de::DeserializeOwned + IntoStoreEvent>(
    payload: &[u8],
    default_channel: &str,
    now: i64,
) -> Result<StoreEvent, EventError> {
    Ok(decode::<P>(payload)?.into_store_event(default_channel, now))
}

/// Decodes the payload of an event subject (SPEC §3.1).
pub fn decode_event(
    subject: &str,
    payload: &[u8],
    default_channel: &str,
    now: i64,
) -> Result<StoreEvent, EventError> {
    let ev = match subject {
        subjects::MESSAGE_LOG => {
            let line = decode::<MessageLog>(payload)?;
            if rosey_store::event::stale_replay(&line, now) {
                return Err(EventError::Invalid("stale_replay"));
            }
            Ok(line.into_store_event(default_channel, now))
        }
        subjects::USER_JOINED => typed::<UserJoined>(payload, default_channel, now),
        subjects::USER_LEFT => typed::<UserLeft>(payload, default_channel, now),
        subjects::STATS_USER_COUNT => typed::<UserCount>(payload, default_channel, now),
        subjects::STATS_HIGH_WATER => typed::<HighWater>(payload, default_channel, now),
        subjects::STATUS_UPDATE => typed::<StatusUpdate>(payload, default_channel, now),
        subjects::OUTBOUND_MARK_SENT => typed::<MarkSent>(payload, default_channel, now),
        subjects::OUTBOUND_MARK_FAILED => typed::<MarkFailed>(payload, default_channel, now),
        subjects::ACTION_PM_COMMAND => typed::<PmCommand>(payload, default_channel, now),
        subjects::MEDIA_PLAYED => typed::<MediaPlayed>(payload, default_channel, now),
        subjects::MODERATION_ACTION => typed::<ModerationAction>(payload, default_channel, now),
        subjects::MEDIA_ENDED => typed::<MediaEnded>(payload, default_channel, now),
        other => Err(EventError::UnknownSubject(other.to_string())),
    }?;
    match ev.invalid_reason() {
        Some(reason) => Err(EventError::Invalid(reason)),
        None => Ok(ev),
    }
}

/// Decodes a `rosey.db.batch` message (`rosey_bus::batch`): the events that decode, each
/// with its record's id when its payload carries none. A record that does not decode is
/// handed to `reject` with its subject and skipped; the others still apply. Err when the
/// batch itself cannot be read.
pub fn decode_batch(
    payload: &[u8],
    default_channel: &str,
    now: i64,
    mut reject: impl FnMut(&str, EventError),
) -> Result<Vec<StoreEvent>, EventError> {
    let records = batch::read(payload)?;
    let mut events = Vec::with_capacity(records.len());
    for r in records {
        if r.subject == subjects::DB_BATCH {
            // Batches do not nest.
            reject(r.subject, EventError::UnknownSubject(r.subject.to_string()));
            continue;
        }
        match decode_event(r.subject, r.payload, default_channel, now) {
            Ok(mut event) => {
                if event.id.is_none() {
                    event.id = Some(r.id.to_string());
                }
                events.push(event);
            }
            Err(e) => reject(r.subject, e),
        }
    }
    Ok(events)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rosey_store::EventKind;

    #[test]
    fn python_minimal_payload() {
        let e = decode_event(
            subjects::MESSAGE_LOG,
            br#"{"username":"a","message":"hi"}"#,
            "chan",
            7,
        )
        .unwrap();
        assert_eq!((e.channel.as_str(), e.ts, e.id), ("chan", 7, None));
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
    fn every_event_subject_decodes_something() {
        for s in subjects::DB_EVENT_SUBJECTS {
            let e = decode_event(s, b"{}", "c", 1);
            // `{}` misses required fields for most; it must be an error, never a panic.
            if let Err(e) = e {
                assert!(
                    ["bad_field", "empty_username"].contains(&e.kind()),
                    "{s}: {e}"
                );
            }
        }
    }

    #[test]
    fn kinds() {
        assert_eq!(
            decode_event(subjects::MESSAGE_LOG, b"nope", "c", 1)
                .unwrap_err()
                .kind(),
            "malformed_json"
        );
        assert_eq!(
            decode_event(
                subjects::MESSAGE_LOG,
                br#"{"username":"a","message":""}"#,
                "c",
                1
            )
            .unwrap_err()
            .kind(),
            "empty_message"
        );
        assert_eq!(
            decode_event("rosey.db.nope", b"{}", "c", 1)
                .unwrap_err()
                .kind(),
            "unknown_subject"
        );
    }

    #[test]
    fn replayed_lines_older_than_the_horizon_are_dropped() {
        let now = 10 * 86_400;
        let line = |ts: i64, replayed: bool| {
            let ms = ts * 1000;
            serde_json::json!({"username":"a","message":"m","ts":ts,"server_time":ms,"replayed":replayed})
                .to_string()
        };
        let old = now - rosey_store::event::REPLAY_HORIZON_SECS - 1;
        let e = decode_event(subjects::MESSAGE_LOG, line(old, true).as_bytes(), "c", now);
        assert_eq!(e.unwrap_err().kind(), "stale_replay");
        // A live line of that age (a late redelivery) and a recent replay are kept, keyed
        // by content.
        let live = decode_event(subjects::MESSAGE_LOG, line(old, false).as_bytes(), "c", now);
        let recent = decode_event(
            subjects::MESSAGE_LOG,
            line(now - 60, true).as_bytes(),
            "c",
            now,
        );
        assert!(live.unwrap().id.unwrap().starts_with("line:"));
        assert!(recent.unwrap().id.unwrap().starts_with("line:"));
    }

    #[test]
    fn batches_apply_what_decodes_and_name_what_does_not() {
        let mut w = batch::BatchWriter::with_capacity(256);
        w.push(
            subjects::MESSAGE_LOG,
            "r-1",
            br#"{"username":"a","message":"one"}"#,
        );
        w.push(subjects::MESSAGE_LOG, "r-2", b"not json");
        w.push(
            subjects::MESSAGE_LOG,
            "r-3",
            br#"{"username":"b","message":"two","id":"own"}"#,
        );
        w.push(subjects::DB_BATCH, "r-4", b"rosey-batch 1\n");
        w.push("rosey.db.nope", "r-5", b"{}");
        let mut rejected = Vec::new();
        let events = decode_batch(&w.finish(), "chan", 9, |subject, e| {
            rejected.push((subject.to_string(), e.kind()))
        })
        .unwrap();
        let ids: Vec<_> = events.iter().map(|e| e.id.as_deref()).collect();
        assert_eq!(ids, [Some("r-1"), Some("own")]);
        assert_eq!(events[0].channel, "chan");
        assert_eq!(
            rejected,
            [
                (subjects::MESSAGE_LOG.to_string(), "malformed_json"),
                (subjects::DB_BATCH.to_string(), "unknown_subject"),
                ("rosey.db.nope".to_string(), "unknown_subject"),
            ]
        );
        let broken = decode_batch(b"rosey-batch 1\nx y 99\n{}\n", "c", 1, |_, _| {});
        assert_eq!(broken.unwrap_err().kind(), "bad_batch");
    }
}

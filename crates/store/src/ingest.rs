//! The write path: [`Store::apply_batch`] applies many events, in order, in one transaction.
//!
//! One commit per batch instead of one per event is what makes a burst cheap: in WAL mode a
//! commit is an append to the log, and all statements are prepared once and cached.
//!
//! De-duplication: an event with an `id` first inserts the id into `processed_events`
//! (`INSERT OR IGNORE`); if the id was already there the event is a duplicate and has no
//! effect. The check and the effect share the transaction, so a redelivery after a crash
//! between commit and acknowledgement never counts twice.
//!
//! Failure isolation: the fast path runs the whole batch without savepoints. If any statement
//! fails (which typed input should never cause, but a hand-edited database might), the batch
//! is rolled back and replayed with one savepoint per event: good events are kept, the bad one
//! is reported in [`BatchOutcome::failed`]. Only a failure of the transaction itself (disk
//! full, lock held by another process) is an `Err`, and then nothing of the batch was applied.
//!
//! Presence order: several database services (PostgreSQL, durable mode) split one stream,
//! so a user's leave may be applied before the join that preceded it. Each user's newest
//! applied join/leave is kept in `user_presence` as (ts, present), ordered by event time
//! with a leave after a join of the same second. A join or leave older than that is stale:
//! a stale leave changes nothing, a stale join records the user as seen but opens no
//! session. So the session state ends as the newest event says, in any application order,
//! and a leave applied before its join cannot leave a session open. (The price: a rejoin
//! within the same second as the leave before it opens no session; events carry whole
//! seconds.)

use rusqlite::{Connection, TransactionBehavior, params};

use crate::event::{EventKind, StoreEvent, is_server_name, pm_command_details};
use crate::{Store, StoreError, error::op, now_secs};

/// What one batch did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchOutcome {
    /// Events whose effect was written.
    pub applied: usize,
    /// Events skipped because their id was already processed.
    pub duplicates: usize,
    /// Events dropped as invalid (empty username or message).
    pub dropped: usize,
    /// Events whose statements failed; the rest of the batch was kept.
    pub failed: Vec<EventFailure>,
    /// Written events per kind, indexed by [`EventKind::index`] (for metrics).
    pub applied_by_kind: [usize; EventKind::COUNT],
}

/// One event that could not be applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventFailure {
    /// Position in the batch.
    pub index: usize,
    /// The event's kind name.
    pub kind: &'static str,
    pub error: String,
}

pub(crate) enum Applied {
    Written,
    Duplicate,
    Dropped,
}

impl BatchOutcome {
    pub(crate) fn count(&mut self, a: Applied, kind: &EventKind) {
        match a {
            Applied::Written => {
                self.applied += 1;
                self.applied_by_kind[kind.index()] += 1;
            }
            Applied::Duplicate => self.duplicates += 1,
            Applied::Dropped => self.dropped += 1,
        }
    }
}

impl Store {
    /// Applies `events` in order in one transaction (see the module doc).
    pub fn apply_batch(&mut self, events: &[StoreEvent]) -> Result<BatchOutcome, StoreError> {
        if events.is_empty() {
            return Ok(BatchOutcome::default());
        }
        let now = now_secs();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(op("begin batch"))?;
        let mut outcome = BatchOutcome::default();
        let mut failed = false;
        for ev in events {
            match apply_one(&tx, ev, now) {
                Ok(a) => outcome.count(a, &ev.kind),
                Err(_) => {
                    failed = true;
                    break;
                }
            }
        }
        if !failed {
            tx.commit().map_err(op("commit batch"))?;
            return Ok(outcome);
        }
        tx.rollback().map_err(op("roll back batch"))?;
        self.apply_isolated(events, now)
    }

    /// The slow path: one savepoint per event.
    fn apply_isolated(
        &mut self,
        events: &[StoreEvent],
        now: i64,
    ) -> Result<BatchOutcome, StoreError> {
        let mut tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(op("begin batch"))?;
        let mut outcome = BatchOutcome::default();
        for (index, ev) in events.iter().enumerate() {
            let sp = tx.savepoint().map_err(op("savepoint"))?;
            match apply_one(&sp, ev, now) {
                Ok(a) => {
                    sp.commit().map_err(op("release savepoint"))?;
                    outcome.count(a, &ev.kind);
                }
                Err(e) => {
                    drop(sp); // rolls the savepoint back
                    outcome.failed.push(EventFailure {
                        index,
                        kind: ev.kind.name(),
                        error: e.to_string(),
                    });
                }
            }
        }
        tx.commit().map_err(op("commit batch"))?;
        Ok(outcome)
    }

    /// Applies one event in its own transaction (convenience for tools and tests).
    pub fn apply(&mut self, event: &StoreEvent) -> Result<BatchOutcome, StoreError> {
        self.apply_batch(std::slice::from_ref(event))
    }
}

const SQL_DEDUP: &str = "INSERT OR IGNORE INTO processed_events (event_id, ts) VALUES (?1, ?2)";

const SQL_JOINED: &str = "INSERT INTO user_stats (channel, username, first_seen, last_seen, \
     total_chat_lines, total_time_connected, current_session_start) \
     VALUES (?1, ?2, ?3, ?3, 0, 0, ?3) \
     ON CONFLICT (channel, username) DO UPDATE SET \
       total_time_connected = coalesce(total_time_connected, 0) + \
         CASE WHEN current_session_start IS NOT NULL AND excluded.last_seen > current_session_start \
              THEN excluded.last_seen - current_session_start ELSE 0 END, \
       last_seen = excluded.last_seen, \
       current_session_start = excluded.last_seen";

const SQL_LEFT: &str = "UPDATE user_stats SET \
       total_time_connected = coalesce(total_time_connected, 0) + max(0, ?3 - current_session_start), \
       last_seen = ?3, \
       current_session_start = NULL \
     WHERE channel = ?1 AND username = ?2 AND current_session_start IS NOT NULL";

// A chat line counts for its user and moves `last_seen` forward (the original did). A
// chatter without a row gets one but no session: a publisher that replays the channel's
// chat history on join must not make absent users accumulate connected time.
const SQL_CHAT_LINE: &str = "INSERT INTO user_stats (channel, username, first_seen, last_seen, \
     total_chat_lines, total_time_connected, current_session_start) \
     VALUES (?1, ?2, ?3, ?3, 1, 0, NULL) \
     ON CONFLICT (channel, username) DO UPDATE SET \
       total_chat_lines = coalesce(total_chat_lines, 0) + 1, \
       last_seen = max(last_seen, excluded.last_seen)";

// Presence order (see the module doc): a join or leave changes the session only when it is
// newer than the last one applied for that user, ordered by (ts, join < leave).
pub(crate) const SQL_PRESENCE_JOIN: &str = "INSERT INTO user_presence (channel, username, ts, present) \
     VALUES (?1, ?2, ?3, 1) \
     ON CONFLICT (channel, username) DO UPDATE SET ts = excluded.ts, present = 1 \
     WHERE excluded.ts > user_presence.ts \
        OR (excluded.ts = user_presence.ts AND user_presence.present = 1)";

pub(crate) const SQL_PRESENCE_LEAVE: &str = "INSERT INTO user_presence (channel, username, ts, present) \
     VALUES (?1, ?2, ?3, 0) \
     ON CONFLICT (channel, username) DO UPDATE SET ts = excluded.ts, present = 0 \
     WHERE excluded.ts >= user_presence.ts";

// A join older than the user's last applied leave: the user was seen, no session opens.
const SQL_STALE_JOIN: &str = "INSERT INTO user_stats (channel, username, first_seen, last_seen, \
     total_chat_lines, total_time_connected, current_session_start) \
     VALUES (?1, ?2, ?3, ?3, 0, 0, NULL) \
     ON CONFLICT (channel, username) DO UPDATE SET first_seen = min(first_seen, excluded.first_seen)";

const SQL_RECENT_CHAT: &str =
    "INSERT INTO recent_chat (timestamp, username, message, channel) VALUES (?1, ?2, ?3, ?4)";

const SQL_USER_COUNT: &str = "INSERT INTO user_count_history (timestamp, chat_users, connected_users, channel) \
     VALUES (?1, ?2, ?3, ?4)";

const SQL_CHANNEL_ROW: &str =
    "INSERT OR IGNORE INTO channel_stats (channel, max_users, max_connected) VALUES (?1, 0, 0)";

// All right-hand sides see the row as it was before the UPDATE.
const SQL_HIGH_WATER: &str = "UPDATE channel_stats SET \
       max_users_timestamp = CASE WHEN ?2 > coalesce(max_users, 0) THEN ?4 ELSE max_users_timestamp END, \
       max_users = max(coalesce(max_users, 0), ?2), \
       max_connected_timestamp = CASE WHEN coalesce(?3, 0) > coalesce(max_connected, 0) \
                                      THEN ?4 ELSE max_connected_timestamp END, \
       max_connected = max(coalesce(max_connected, 0), coalesce(?3, 0)), \
       last_updated = ?4 \
     WHERE channel = ?1";

const SQL_STATUS_ROW: &str = "INSERT OR IGNORE INTO current_status (channel) VALUES (?1)";

const SQL_STATUS: &str = "UPDATE current_status SET \
       bot_name = coalesce(?2, bot_name), \
       bot_rank = coalesce(?3, bot_rank), \
       bot_afk = coalesce(?4, bot_afk), \
       channel_name = coalesce(?5, channel_name), \
       current_chat_users = coalesce(?6, current_chat_users), \
       current_connected_users = coalesce(?7, current_connected_users), \
       playlist_items = coalesce(?8, playlist_items), \
       current_media_title = coalesce(?9, current_media_title), \
       current_media_duration = coalesce(?10, current_media_duration), \
       bot_start_time = coalesce(?11, bot_start_time), \
       bot_connected = coalesce(?12, bot_connected), \
       last_updated = ?13 \
     WHERE channel = ?1";

pub(crate) const SQL_MARK_SENT: &str =
    "UPDATE outbound_messages SET sent = 1, sent_timestamp = ?2 WHERE id = ?1";

pub(crate) const SQL_MARK_FAILED: &str = "UPDATE outbound_messages SET \
       retry_count = coalesce(retry_count, 0) + 1, \
       last_error = ?2, \
       sent = CASE WHEN ?3 THEN 1 ELSE sent END, \
       sent_timestamp = CASE WHEN ?3 THEN ?4 ELSE sent_timestamp END \
     WHERE id = ?1";

const SQL_ACTION: &str = "INSERT INTO user_actions (timestamp, username, action_type, details, channel) \
     VALUES (?1, ?2, ?3, ?4, ?5)";

const SQL_MEDIA: &str = "INSERT INTO media_history (timestamp, media_type, media_id, title, duration, \
     queued_by, channel) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";

fn apply_one(conn: &Connection, ev: &StoreEvent, now: i64) -> rusqlite::Result<Applied> {
    if ev.invalid_reason().is_some() {
        return Ok(Applied::Dropped);
    }
    if let Some(id) = &ev.id
        && conn.prepare_cached(SQL_DEDUP)?.execute(params![id, now])? == 0
    {
        return Ok(Applied::Duplicate);
    }
    let (ch, ts) = (ev.channel.as_str(), ev.ts);
    match &ev.kind {
        EventKind::UserJoined { username } => {
            let sql = if conn
                .prepare_cached(SQL_PRESENCE_JOIN)?
                .execute(params![ch, username, ts])?
                == 1
            {
                SQL_JOINED
            } else {
                SQL_STALE_JOIN
            };
            conn.prepare_cached(sql)?
                .execute(params![ch, username, ts])?;
        }
        EventKind::UserLeft { username } => {
            if conn
                .prepare_cached(SQL_PRESENCE_LEAVE)?
                .execute(params![ch, username, ts])?
                == 1
            {
                conn.prepare_cached(SQL_LEFT)?
                    .execute(params![ch, username, ts])?;
            }
        }
        EventKind::Message { username, message } => {
            conn.prepare_cached(SQL_CHAT_LINE)?
                .execute(params![ch, username, ts])?;
            if !is_server_name(username) {
                conn.prepare_cached(SQL_RECENT_CHAT)?
                    .execute(params![ts, username, message, ch])?;
            }
        }
        EventKind::UserCount {
            chat_count,
            connected_count,
        } => {
            conn.prepare_cached(SQL_USER_COUNT)?.execute(params![
                ts,
                chat_count,
                connected_count,
                ch
            ])?;
        }
        EventKind::HighWater {
            chat_count,
            connected_count,
        } => {
            conn.prepare_cached(SQL_CHANNEL_ROW)?.execute([ch])?;
            conn.prepare_cached(SQL_HIGH_WATER)?.execute(params![
                ch,
                chat_count,
                connected_count,
                ts
            ])?;
        }
        EventKind::Status(s) => {
            conn.prepare_cached(SQL_STATUS_ROW)?.execute([ch])?;
            conn.prepare_cached(SQL_STATUS)?.execute(params![
                ch,
                s.bot_name,
                s.bot_rank,
                s.bot_afk.map(i64::from),
                s.channel_name,
                s.current_chat_users,
                s.current_connected_users,
                s.playlist_items,
                s.current_media_title,
                s.current_media_duration,
                s.bot_start_time,
                s.bot_connected.map(i64::from),
                ts
            ])?;
        }
        EventKind::MarkSent { message_id } => {
            conn.prepare_cached(SQL_MARK_SENT)?
                .execute(params![message_id, ts])?;
        }
        EventKind::MarkFailed {
            message_id,
            error,
            permanent,
        } => {
            conn.prepare_cached(SQL_MARK_FAILED)?
                .execute(params![message_id, error, permanent, ts])?;
        }
        EventKind::PmCommand {
            username,
            command,
            args,
            result,
            error,
        } => {
            let details = pm_command_details(command, args, result, error.as_deref());
            conn.prepare_cached(SQL_ACTION)?.execute(params![
                ts,
                username,
                "pm_command",
                details,
                ch
            ])?;
        }
        EventKind::MediaPlayed {
            media_type,
            media_id,
            title,
            duration,
            queued_by,
        } => {
            conn.prepare_cached(SQL_MEDIA)?.execute(params![
                ts, media_type, media_id, title, duration, queued_by, ch
            ])?;
        }
    }
    Ok(Applied::Written)
}

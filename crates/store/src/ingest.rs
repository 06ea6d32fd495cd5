//! The write path: [`Store::apply_batch`] applies many events, in order, in one transaction.
//!
//! One commit per batch instead of one per event is what makes a burst cheap: in WAL mode a
//! commit is an append to the log, and all statements are prepared once and cached. Inside
//! the batch, the fast path ([`apply_fast`], shared with PostgreSQL) de-duplicates every id
//! with one statement and writes a run of consecutive chat lines with one counter upsert
//! per user ([`MessageRun`]) and one `recent_chat` insert per line.
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

use std::collections::{HashMap, HashSet};

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use crate::event::{EventKind, StoreEvent, is_server_name, pm_command_details};
use crate::{Store, StoreError, error::op, media, now_secs};

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
        match apply_fast(&mut SqliteFast(&tx), events, now) {
            Ok(outcome) => {
                tx.commit().map_err(op("commit batch"))?;
                return Ok(outcome);
            }
            Err(e) => {
                tracing::debug!(error = %e, "Batch failed; applying its events one by one.")
            }
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
       current_media_title = CASE WHEN ?9 = '' THEN NULL ELSE coalesce(?9, current_media_title) END, \
       current_media_duration = CASE WHEN ?9 = '' THEN NULL ELSE coalesce(?10, current_media_duration) END, \
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
    apply_effect(conn, ev)?;
    Ok(Applied::Written)
}

/// The effect of one event with its own statements.
fn apply_effect(conn: &Connection, ev: &StoreEvent) -> rusqlite::Result<()> {
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
        EventKind::Message {
            username,
            message,
            bot,
        } => {
            if !bot {
                conn.prepare_cached(SQL_CHAT_LINE)?
                    .execute(params![ch, username, ts])?;
            }
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
            conn.prepare_cached(media::SQL_STATS_PLAY)?
                .execute(params![
                    ch, media_type, media_id, title, duration, ts, queued_by
                ])?;
            if let Some(q) = queued_by.as_deref().filter(|q| !q.is_empty()) {
                conn.prepare_cached(media::SQL_ADDER_PLAY)?
                    .execute(params![ch, q, ts])?;
            }
        }
        EventKind::MediaEnded {
            media_type,
            media_id,
            reason,
            played,
            started,
        } => {
            let played: Option<i64> = conn
                .prepare_cached(media::SQL_END_PLAY)?
                .query_row(
                    params![
                        ch,
                        media_type,
                        media_id,
                        ts,
                        reason,
                        played.map(|p| p.max(0)),
                        started
                    ],
                    |r| r.get(0),
                )
                .optional()?;
            if let Some(played) = played {
                let [out, skip, vote, removed] = media::end_flags(reason);
                conn.prepare_cached(media::SQL_STATS_END)?.execute(params![
                    ch, media_type, media_id, played, out, skip, vote, removed
                ])?;
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
            dry_run,
        } => {
            conn.prepare_cached(crate::moderation::SQL_INSERT)?
                .execute(params![
                    ts, ch, rule, username, reason, evidence, step, outcome, answer, dry_run
                ])?;
        }
    }
    Ok(())
}

/// A backend's statements for the fast path ([`apply_fast`]): set-based where the backend
/// can, so a batch costs a few statements per run of chat lines (SQLite) or per batch
/// (PostgreSQL, `crate::pg`) instead of a few per event.
pub(crate) trait FastPath<'a> {
    type Error;
    /// Records `ids` as processed and returns those that were not recorded before.
    fn fresh_ids(&mut self, ids: &[&'a str], now: i64) -> Result<HashSet<String>, Self::Error>;
    /// Writes the effects of `events` (valid and fresh), ending as writing them one by one
    /// in this order would.
    fn write(&mut self, events: &[&'a StoreEvent]) -> Result<(), Self::Error>;
}

/// The fast path of both backends: every id of the batch de-duplicated with one statement,
/// then the valid, fresh events written by the backend, in batch order. The first
/// occurrence of a fresh id applies; any other one is a duplicate.
pub(crate) fn apply_fast<'a, B: FastPath<'a>>(
    backend: &mut B,
    events: &'a [StoreEvent],
    now: i64,
) -> Result<BatchOutcome, B::Error> {
    let ids: Vec<&str> = events
        .iter()
        .filter(|e| e.invalid_reason().is_none())
        .filter_map(|e| e.id.as_deref())
        .collect();
    let mut fresh = if ids.is_empty() {
        HashSet::new()
    } else {
        backend.fresh_ids(&ids, now)?
    };
    let mut outcome = BatchOutcome::default();
    let mut written = Vec::with_capacity(events.len());
    for ev in events {
        if ev.invalid_reason().is_some() {
            outcome.count(Applied::Dropped, &ev.kind);
            continue;
        }
        if let Some(id) = &ev.id
            && !fresh.remove(id.as_str())
        {
            outcome.count(Applied::Duplicate, &ev.kind);
            continue;
        }
        written.push(ev);
        outcome.count(Applied::Written, &ev.kind);
    }
    backend.write(&written)?;
    Ok(outcome)
}

/// (channel, username) of a run.
type RunUser<'a> = (&'a str, &'a str);
/// (first ts, newest ts, lines) of a user in a run.
type RunLines = (i64, i64, i64);

/// Consecutive chat lines, aggregated per user: chat lines only add to a user's line count
/// and move `last_seen` forward (`max`), so one upsert per user with the run's count, first
/// and newest time ends exactly as one upsert per line would. `recent_chat` rows keep event
/// order.
#[derive(Default)]
struct MessageRun<'a> {
    users: HashMap<RunUser<'a>, RunLines>,
    pub chat_ts: Vec<i64>,
    pub chat_user: Vec<&'a str>,
    pub chat_message: Vec<&'a str>,
    pub chat_channel: Vec<&'a str>,
}

impl<'a> MessageRun<'a> {
    /// Adds one line; `counted` is false for the bot's own lines (history only).
    pub fn push(
        &mut self,
        channel: &'a str,
        username: &'a str,
        message: &'a str,
        ts: i64,
        counted: bool,
    ) {
        if counted {
            let e = self.users.entry((channel, username)).or_insert((ts, ts, 0));
            e.1 = e.1.max(ts);
            e.2 += 1;
        }
        if !is_server_name(username) {
            self.chat_ts.push(ts);
            self.chat_user.push(username);
            self.chat_message.push(message);
            self.chat_channel.push(channel);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.users.is_empty() && self.chat_ts.is_empty()
    }

    /// The users of the run with (first ts, newest ts, lines), in a fixed order (so that
    /// concurrent services lock rows in the same order), leaving none behind.
    pub fn take_users(&mut self) -> Vec<(RunUser<'a>, RunLines)> {
        let mut users: Vec<_> = self.users.drain().collect();
        users.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        users
    }

    pub fn clear_chat(&mut self) {
        self.chat_ts.clear();
        self.chat_user.clear();
        self.chat_message.clear();
        self.chat_channel.clear();
    }
}

/// One statement for the ids of a whole batch: the rows it really inserted come back.
const SQL_DEDUP_MANY: &str = "INSERT OR IGNORE INTO processed_events (event_id, ts) \
     SELECT value, ?2 FROM json_each(?1) RETURNING event_id";

/// One row per user of a run (see [`MessageRun`]).
const SQL_CHAT_LINES: &str = "INSERT INTO user_stats (channel, username, first_seen, last_seen, \
     total_chat_lines, total_time_connected, current_session_start) \
     VALUES (?1, ?2, ?3, ?4, ?5, 0, NULL) \
     ON CONFLICT (channel, username) DO UPDATE SET \
       total_chat_lines = coalesce(total_chat_lines, 0) + excluded.total_chat_lines, \
       last_seen = max(last_seen, excluded.last_seen)";

/// SQLite's fast path: the batch's ids as one JSON array, a run's users one upsert each.
struct SqliteFast<'c>(&'c Connection);

impl<'a> FastPath<'a> for SqliteFast<'_> {
    type Error = rusqlite::Error;

    fn fresh_ids(&mut self, ids: &[&'a str], now: i64) -> rusqlite::Result<HashSet<String>> {
        if let [id] = ids {
            // A lone event (every line of a quiet channel): no JSON to build and parse.
            let inserted = self
                .0
                .prepare_cached(SQL_DEDUP)?
                .execute(params![id, now])?;
            return Ok(HashSet::from_iter((inserted == 1).then(|| id.to_string())));
        }
        let json = serde_json::to_string(ids).unwrap_or_else(|_| "[]".into());
        let mut stmt = self.0.prepare_cached(SQL_DEDUP_MANY)?;
        let rows = stmt.query_map(params![json, now], |r| r.get::<_, String>(0))?;
        rows.collect()
    }

    fn write(&mut self, events: &[&'a StoreEvent]) -> rusqlite::Result<()> {
        let mut run = MessageRun::default();
        for ev in events {
            match &ev.kind {
                EventKind::Message {
                    username,
                    message,
                    bot,
                } => run.push(&ev.channel, username, message, ev.ts, !bot),
                _ => {
                    if !run.is_empty() {
                        self.write_run(&mut run)?;
                    }
                    apply_effect(self.0, ev)?;
                }
            }
        }
        if !run.is_empty() {
            self.write_run(&mut run)?;
        }
        Ok(())
    }
}

impl<'a> SqliteFast<'_> {
    /// Writes a run of chat lines and empties it.
    fn write_run(&mut self, run: &mut MessageRun<'a>) -> rusqlite::Result<()> {
        let mut users = self.0.prepare_cached(SQL_CHAT_LINES)?;
        for ((channel, username), (first, last, lines)) in run.take_users() {
            users.execute(params![channel, username, first, last, lines])?;
        }
        let mut chat = self.0.prepare_cached(SQL_RECENT_CHAT)?;
        for i in 0..run.chat_ts.len() {
            chat.execute(params![
                run.chat_ts[i],
                run.chat_user[i],
                run.chat_message[i],
                run.chat_channel[i]
            ])?;
        }
        run.clear_chat();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::StoreOptions;

    fn chat(id: &str, user: &str, ts: i64) -> StoreEvent {
        StoreEvent {
            channel: "c".into(),
            ts,
            id: Some(id.into()),
            kind: EventKind::Message {
                username: user.into(),
                message: format!("line {id}"),
                bot: false,
            },
        }
    }

    /// The fast path itself succeeds (a failure would still give the right rows through the
    /// slow path, so the store's contract tests cannot tell).
    #[test]
    fn the_fast_path_runs_without_falling_back() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path().join("f.db"), &StoreOptions::default()).unwrap();
        let events = vec![
            chat("a", "u1", 10),
            chat("b", "u2", 11),
            chat("a", "u1", 12),
            StoreEvent {
                channel: "c".into(),
                ts: 13,
                id: Some("j".into()),
                kind: EventKind::UserJoined {
                    username: "u3".into(),
                },
            },
            chat("c", "u1", 14),
        ];
        let tx = store.conn.transaction().unwrap();
        let outcome = apply_fast(&mut SqliteFast(&tx), &events, 1).unwrap();
        tx.commit().unwrap();
        assert_eq!((outcome.applied, outcome.duplicates), (4, 1));
        let again = store.apply_batch(&events).unwrap();
        assert_eq!((again.applied, again.duplicates), (0, 5));
        let lines: i64 = store
            .conn
            .query_row(
                "SELECT total_chat_lines FROM user_stats WHERE username = 'u1'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(lines, 2);
    }
}

//! The PostgreSQL write path: [`PgStore::apply_batch`], with the same effects, the same
//! de-duplication and the same failure isolation as the SQLite one (`crate::ingest`).
//!
//! Round trips are what cost on a network: the fast path (shared with SQLite,
//! `crate::ingest::apply_fast`) spends one statement on the ids of the whole batch
//! (`INSERT … SELECT unnest($1) ON CONFLICT DO NOTHING RETURNING`, in the same transaction
//! as the effects) and writes each run of consecutive `message.log` events with two
//! set-based statements — one multi-row upsert of the users' counters (aggregated per user by
//! `crate::ingest::MessageRun`, in a fixed order so that concurrent services lock rows in the
//! same order) and one multi-row insert into `recent_chat` in event order. Other events take their own statements,
//! in order. If any statement fails, the batch is rolled back and replayed one event per
//! savepoint (the slow path), so good events are kept and the bad one is reported.

use std::collections::HashSet;

use postgres::{GenericClient, Transaction};

use super::{PgStore, StatementCache, dialect, is_retryable, prep};
use crate::event::{EventKind, StoreEvent, is_server_name, pm_command_details};
use crate::ingest::{Applied, BatchOutcome, EventFailure, FastPath, MessageRun, apply_fast};
use crate::{StoreError, error::pg_op, media, now_secs};

const SQL_DEDUP_MANY: &str = "INSERT INTO processed_events (event_id, ts) \
     SELECT id, $2::bigint FROM unnest($1::text[]) AS t(id) \
     ON CONFLICT (event_id) DO NOTHING RETURNING event_id";

const SQL_DEDUP: &str = "INSERT INTO processed_events (event_id, ts) VALUES ($1, $2) \
     ON CONFLICT (event_id) DO NOTHING";

const SQL_PRESENCE_JOIN: &str = "INSERT INTO user_presence (channel, username, ts, present) \
     VALUES ($1, $2, $3, 1) \
     ON CONFLICT (channel, username) DO UPDATE SET ts = excluded.ts, present = 1 \
     WHERE excluded.ts > user_presence.ts \
        OR (excluded.ts = user_presence.ts AND user_presence.present = 1)";

const SQL_PRESENCE_LEAVE: &str = "INSERT INTO user_presence (channel, username, ts, present) \
     VALUES ($1, $2, $3, 0) \
     ON CONFLICT (channel, username) DO UPDATE SET ts = excluded.ts, present = 0 \
     WHERE excluded.ts >= user_presence.ts";

const SQL_JOINED: &str = "INSERT INTO user_stats AS u (channel, username, first_seen, last_seen, \
     total_chat_lines, total_time_connected, current_session_start) \
     VALUES ($1, $2, $3, $3, 0, 0, $3) \
     ON CONFLICT (channel, username) DO UPDATE SET \
       total_time_connected = coalesce(u.total_time_connected, 0) + \
         CASE WHEN u.current_session_start IS NOT NULL AND excluded.last_seen > u.current_session_start \
              THEN excluded.last_seen - u.current_session_start ELSE 0 END, \
       last_seen = excluded.last_seen, \
       current_session_start = excluded.last_seen";

const SQL_STALE_JOIN: &str = "INSERT INTO user_stats AS u (channel, username, first_seen, last_seen, \
     total_chat_lines, total_time_connected, current_session_start) \
     VALUES ($1, $2, $3, $3, 0, 0, NULL) \
     ON CONFLICT (channel, username) DO UPDATE SET first_seen = least(u.first_seen, excluded.first_seen)";

const SQL_LEFT: &str = "UPDATE user_stats SET \
       total_time_connected = coalesce(total_time_connected, 0) \
                              + greatest(0, $3::bigint - current_session_start), \
       last_seen = $3::bigint, \
       current_session_start = NULL \
     WHERE channel = $1 AND username = $2 AND current_session_start IS NOT NULL";

const SQL_CHAT_LINE: &str = "INSERT INTO user_stats AS u (channel, username, first_seen, last_seen, \
     total_chat_lines, total_time_connected, current_session_start) \
     VALUES ($1, $2, $3, $3, 1, 0, NULL) \
     ON CONFLICT (channel, username) DO UPDATE SET \
       total_chat_lines = coalesce(u.total_chat_lines, 0) + 1, \
       last_seen = greatest(u.last_seen, excluded.last_seen)";

/// One row per user of a run: first ts (row creation), newest ts, line count.
const SQL_CHAT_LINES: &str = "INSERT INTO user_stats AS u (channel, username, first_seen, last_seen, \
     total_chat_lines, total_time_connected, current_session_start) \
     SELECT c, n, f, l, k, 0, NULL \
     FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[]) AS t(c, n, f, l, k) \
     ON CONFLICT (channel, username) DO UPDATE SET \
       total_chat_lines = coalesce(u.total_chat_lines, 0) + excluded.total_chat_lines, \
       last_seen = greatest(u.last_seen, excluded.last_seen)";

const SQL_RECENT_CHAT: &str =
    "INSERT INTO recent_chat (timestamp, username, message, channel) VALUES ($1, $2, $3, $4)";

const SQL_RECENT_CHATS: &str = "INSERT INTO recent_chat (timestamp, username, message, channel) \
     SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[])";

const SQL_USER_COUNT: &str = "INSERT INTO user_count_history (timestamp, chat_users, connected_users, channel) \
     VALUES ($1, $2, $3, $4)";

const SQL_CHANNEL_ROW: &str = "INSERT INTO channel_stats (channel, max_users, max_connected) \
     VALUES ($1, 0, 0) ON CONFLICT (channel) DO NOTHING";

const SQL_HIGH_WATER: &str = "UPDATE channel_stats SET \
       max_users_timestamp = CASE WHEN $2::bigint > coalesce(max_users, 0) THEN $4::bigint \
                                  ELSE max_users_timestamp END, \
       max_users = greatest(coalesce(max_users, 0), $2::bigint), \
       max_connected_timestamp = CASE WHEN coalesce($3::bigint, 0) > coalesce(max_connected, 0) \
                                      THEN $4::bigint ELSE max_connected_timestamp END, \
       max_connected = greatest(coalesce(max_connected, 0), coalesce($3::bigint, 0)), \
       last_updated = $4::bigint \
     WHERE channel = $1";

const SQL_STATUS_ROW: &str =
    "INSERT INTO current_status (channel) VALUES ($1) ON CONFLICT (channel) DO NOTHING";

const SQL_STATUS: &str = "UPDATE current_status SET \
       bot_name = coalesce($2::text, bot_name), \
       bot_rank = coalesce($3::float8, bot_rank), \
       bot_afk = coalesce($4::bigint, bot_afk), \
       channel_name = coalesce($5::text, channel_name), \
       current_chat_users = coalesce($6::bigint, current_chat_users), \
       current_connected_users = coalesce($7::bigint, current_connected_users), \
       playlist_items = coalesce($8::bigint, playlist_items), \
       current_media_title = CASE WHEN $9::text = '' THEN NULL ELSE coalesce($9::text, current_media_title) END, \
       current_media_duration = CASE WHEN $9::text = '' THEN NULL ELSE coalesce($10::bigint, current_media_duration) END, \
       bot_start_time = coalesce($11::bigint, bot_start_time), \
       bot_connected = coalesce($12::bigint, bot_connected), \
       last_updated = $13::bigint \
     WHERE channel = $1";

pub(super) const SQL_MARK_SENT: &str =
    "UPDATE outbound_messages SET sent = 1, sent_timestamp = $2 WHERE id = $1";

pub(super) const SQL_MARK_FAILED: &str = "UPDATE outbound_messages SET \
       retry_count = coalesce(retry_count, 0) + 1, \
       last_error = $2, \
       sent = CASE WHEN $3::bool THEN 1 ELSE sent END, \
       sent_timestamp = CASE WHEN $3::bool THEN $4::bigint ELSE sent_timestamp END \
     WHERE id = $1";

const SQL_ACTION: &str = "INSERT INTO user_actions (timestamp, username, action_type, details, channel) \
     VALUES ($1, $2, $3, $4, $5)";

const SQL_MEDIA: &str = "INSERT INTO media_history (timestamp, media_type, media_id, title, duration, \
     queued_by, channel) VALUES ($1, $2, $3, $4, $5, $6, $7)";

const SQL_MODERATION: &str = "INSERT INTO moderation_actions (timestamp, channel, rule, \
    username, reason, evidence, step, outcome, answer, dry_run) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";

impl PgStore {
    /// Applies `events` in order in one transaction (see the module doc).
    pub fn apply_batch(&mut self, events: &[StoreEvent]) -> Result<BatchOutcome, StoreError> {
        if events.is_empty() {
            return Ok(BatchOutcome::default());
        }
        // PostgreSQL text cannot hold NUL (SQLite can): such text is stored with U+FFFD in
        // its place rather than failing the event again on every redelivery.
        let sanitized;
        let events = if events.iter().any(has_nul) {
            sanitized = events
                .iter()
                .cloned()
                .map(|mut e| {
                    e.for_each_text(|t| {
                        if t.contains('\0') {
                            *t = t.replace('\0', "\u{fffd}");
                        }
                    });
                    e
                })
                .collect::<Vec<_>>();
            &sanitized[..]
        } else {
            events
        };
        self.ensure_connected()?;
        let now = now_secs();
        let PgStore { client, stmts, .. } = self;
        let mut tx = client.transaction().map_err(pg_op("begin batch"))?;
        match apply_fast(&mut PgFast { tx: &mut tx, stmts }, events, now) {
            Ok(outcome) => {
                tx.commit().map_err(pg_op("commit batch"))?;
                return Ok(outcome);
            }
            // Another transaction won a lock conflict, or the connection is gone: the
            // caller retries the whole batch.
            Err(e) if is_retryable(&e) => return Err(pg_op("apply batch")(e)),
            Err(_) => drop(tx), // rolls back
        }
        let mut tx = client.transaction().map_err(pg_op("begin batch"))?;
        let mut outcome = BatchOutcome::default();
        for (index, ev) in events.iter().enumerate() {
            let mut sp = tx.transaction().map_err(pg_op("savepoint"))?;
            match apply_one(&mut sp, stmts, ev, now) {
                Ok(a) => {
                    sp.commit().map_err(pg_op("release savepoint"))?;
                    outcome.count(a, &ev.kind);
                }
                Err(e) if is_retryable(&e) => return Err(pg_op("apply batch")(e)),
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
        tx.commit().map_err(pg_op("commit batch"))?;
        Ok(outcome)
    }
}

fn has_nul(e: &StoreEvent) -> bool {
    let nul = |t: &str| t.contains('\0');
    match &e.kind {
        // The hot path: no clone.
        EventKind::Message {
            username, message, ..
        } => nul(&e.channel) || nul(username) || nul(message) || e.id.as_deref().is_some_and(nul),
        _ => {
            let mut found = false;
            e.clone().for_each_text(|t| found |= nul(t));
            found
        }
    }
}

/// PostgreSQL's statements for the shared fast path (`crate::ingest::apply_fast`): the
/// batch's ids as one array, a run of chat lines as two multi-row statements.
struct PgFast<'t, 'c> {
    tx: &'t mut Transaction<'c>,
    stmts: &'t mut StatementCache,
}

impl<'a> FastPath<'a> for PgFast<'_, '_> {
    type Error = postgres::Error;

    fn fresh_ids(&mut self, ids: &[&'a str], now: i64) -> Result<HashSet<String>, Self::Error> {
        let stmt = prep(self.tx, self.stmts, SQL_DEDUP_MANY)?;
        Ok(self
            .tx
            .query(&stmt, &[&ids, &now])?
            .into_iter()
            .map(|r| r.get(0))
            .collect())
    }

    fn write_run(&mut self, run: &mut MessageRun<'a>) -> Result<(), Self::Error> {
        let users = run.take_users();
        if !users.is_empty() {
            let channels: Vec<&str> = users.iter().map(|u| u.0.0).collect();
            let names: Vec<&str> = users.iter().map(|u| u.0.1).collect();
            let first: Vec<i64> = users.iter().map(|u| u.1.0).collect();
            let last: Vec<i64> = users.iter().map(|u| u.1.1).collect();
            let lines: Vec<i64> = users.iter().map(|u| u.1.2).collect();
            let stmt = prep(self.tx, self.stmts, SQL_CHAT_LINES)?;
            self.tx
                .execute(&stmt, &[&channels, &names, &first, &last, &lines])?;
        }
        if !run.chat_ts.is_empty() {
            let stmt = prep(self.tx, self.stmts, SQL_RECENT_CHATS)?;
            self.tx.execute(
                &stmt,
                &[
                    &run.chat_ts,
                    &run.chat_user,
                    &run.chat_message,
                    &run.chat_channel,
                ],
            )?;
            run.clear_chat();
        }
        Ok(())
    }

    fn write_effect(&mut self, ev: &'a StoreEvent) -> Result<(), Self::Error> {
        apply_effect(self.tx, self.stmts, ev)
    }
}

/// One event with its own statements (the slow path).
fn apply_one<C: GenericClient>(
    c: &mut C,
    stmts: &mut StatementCache,
    ev: &StoreEvent,
    now: i64,
) -> Result<Applied, postgres::Error> {
    if ev.invalid_reason().is_some() {
        return Ok(Applied::Dropped);
    }
    if let Some(id) = &ev.id {
        let stmt = prep(c, stmts, SQL_DEDUP)?;
        if c.execute(&stmt, &[id, &now])? == 0 {
            return Ok(Applied::Duplicate);
        }
    }
    apply_effect(c, stmts, ev)?;
    Ok(Applied::Written)
}

/// The effect of one event with its own statements.
fn apply_effect<C: GenericClient>(
    c: &mut C,
    stmts: &mut StatementCache,
    ev: &StoreEvent,
) -> Result<(), postgres::Error> {
    let (ch, ts) = (&ev.channel, &ev.ts);
    let mut exec =
        |c: &mut C, sql: &'static str, params: &[&(dyn postgres::types::ToSql + Sync)]| {
            let stmt = prep(c, stmts, sql)?;
            c.execute(&stmt, params)
        };
    match &ev.kind {
        EventKind::UserJoined { username } => {
            let sql = if exec(c, SQL_PRESENCE_JOIN, &[ch, username, ts])? == 1 {
                SQL_JOINED
            } else {
                SQL_STALE_JOIN
            };
            exec(c, sql, &[ch, username, ts])?;
        }
        EventKind::UserLeft { username } => {
            if exec(c, SQL_PRESENCE_LEAVE, &[ch, username, ts])? == 1 {
                exec(c, SQL_LEFT, &[ch, username, ts])?;
            }
        }
        EventKind::Message {
            username,
            message,
            bot,
        } => {
            if !bot {
                exec(c, SQL_CHAT_LINE, &[ch, username, ts])?;
            }
            if !is_server_name(username) {
                exec(c, SQL_RECENT_CHAT, &[ts, username, message, ch])?;
            }
        }
        EventKind::UserCount {
            chat_count,
            connected_count,
        } => {
            exec(c, SQL_USER_COUNT, &[ts, chat_count, connected_count, ch])?;
        }
        EventKind::HighWater {
            chat_count,
            connected_count,
        } => {
            exec(c, SQL_CHANNEL_ROW, &[ch])?;
            exec(c, SQL_HIGH_WATER, &[ch, chat_count, connected_count, ts])?;
        }
        EventKind::Status(s) => {
            exec(c, SQL_STATUS_ROW, &[ch])?;
            let afk = s.bot_afk.map(i64::from);
            let connected = s.bot_connected.map(i64::from);
            exec(
                c,
                SQL_STATUS,
                &[
                    ch,
                    &s.bot_name,
                    &s.bot_rank,
                    &afk,
                    &s.channel_name,
                    &s.current_chat_users,
                    &s.current_connected_users,
                    &s.playlist_items,
                    &s.current_media_title,
                    &s.current_media_duration,
                    &s.bot_start_time,
                    &connected,
                    ts,
                ],
            )?;
        }
        EventKind::MarkSent { message_id } => {
            exec(c, SQL_MARK_SENT, &[message_id, ts])?;
        }
        EventKind::MarkFailed {
            message_id,
            error,
            permanent,
        } => {
            exec(c, SQL_MARK_FAILED, &[message_id, error, permanent, ts])?;
        }
        EventKind::PmCommand {
            username,
            command,
            args,
            result,
            error,
        } => {
            let details = pm_command_details(command, args, result, error.as_deref());
            exec(c, SQL_ACTION, &[ts, username, &"pm_command", &details, ch])?;
        }
        EventKind::MediaPlayed {
            media_type,
            media_id,
            title,
            duration,
            queued_by,
        } => {
            exec(
                c,
                SQL_MEDIA,
                &[ts, media_type, media_id, title, duration, queued_by, ch],
            )?;
            exec(
                c,
                dialect(media::SQL_STATS_PLAY),
                &[ch, media_type, media_id, title, duration, ts, queued_by],
            )?;
            if let Some(q) = queued_by.as_deref().filter(|q| !q.is_empty()) {
                exec(c, dialect(media::SQL_ADDER_PLAY), &[ch, &q, ts])?;
            }
        }
        EventKind::MediaEnded {
            media_type,
            media_id,
            reason,
            played,
            started,
        } => {
            let played = played.map(|p| p.max(0));
            let stmt = prep(c, stmts, dialect(media::SQL_END_PLAY))?;
            let row = c.query_opt(
                &stmt,
                &[ch, media_type, media_id, ts, reason, &played, started],
            )?;
            if let Some(row) = row {
                let played: i64 = row.try_get(0)?;
                let [out, skip, vote, removed] = media::end_flags(reason);
                let stmt = prep(c, stmts, dialect(media::SQL_STATS_END))?;
                c.execute(
                    &stmt,
                    &[
                        ch, media_type, media_id, &played, &out, &skip, &vote, &removed,
                    ],
                )?;
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
            let dry = i64::from(*dry_run);
            exec(
                c,
                SQL_MODERATION,
                &[
                    ts, ch, rule, username, reason, evidence, step, outcome, answer, &dry,
                ],
            )?;
        }
    }
    Ok(())
}

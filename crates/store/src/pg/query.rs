//! The PostgreSQL read side, outbound queue and maintenance: the statements of
//! `crate::query`, `crate::outbound` and `crate::maintenance` in PostgreSQL's dialect
//! (`greatest`/`least` for SQLite's scalar `max`/`min`, explicit casts, byte order for names
//! with `COLLATE "C"` as SQLite's BINARY), and the [`Storage`] implementation.

use std::time::Duration;

use postgres::Row;
use rosey_model::payload::{
    ChannelStatsReply, ChatRow, CurrentCounts, OutboundRow, Peak, TopChatter, UserCountRow,
    UserStatsFound, UserStatsNotFound, UserStatsReply,
};

use super::ingest::{SQL_MARK_FAILED, SQL_MARK_SENT};
use super::{PgStore, count_rows, prep};
use crate::query::{MAX_LIMIT, TOP_CHATTERS, clamp_limit};
use crate::storage::{ChannelTotals, channel_totals_sql, id_column};
use crate::{
    AdoptReport, BatchOutcome, MaintenanceReport, OutboundStatus, Retention, Storage, StoreError,
    StoreEvent, error::pg_op,
};

const SQL_RECENT_CHAT: &str = "SELECT timestamp, username, message FROM (
         SELECT id, timestamp, username, message FROM recent_chat
         WHERE channel = $1 ORDER BY timestamp DESC, id DESC LIMIT $2) AS t
     ORDER BY timestamp, id";
const SQL_PEAKS: &str = "SELECT coalesce(max_users, 0), max_users_timestamp,
            coalesce(max_connected, 0), max_connected_timestamp
     FROM channel_stats WHERE channel = $1";
const SQL_TOP: &str = "SELECT username, total_chat_lines FROM user_stats
     WHERE channel = $1 AND total_chat_lines > 0
     ORDER BY total_chat_lines DESC, username COLLATE \"C\" LIMIT $2";
const SQL_USERS_SEEN: &str = "SELECT count(*) FROM user_stats WHERE channel = $1";
const SQL_CURRENT: &str =
    "SELECT coalesce(current_chat_users, 0), coalesce(current_connected_users, 0)
     FROM current_status WHERE channel = $1";
const SQL_USER: &str = "SELECT first_seen, last_seen, coalesce(total_chat_lines, 0),
            coalesce(total_time_connected, 0), current_session_start
     FROM user_stats WHERE channel = $1 AND username = $2";
const SQL_HISTORY: &str = "SELECT timestamp, chat_users, connected_users FROM user_count_history
     WHERE channel = $1 AND timestamp >= $2 ORDER BY timestamp, id LIMIT $3";
const SQL_CHANNELS: &str = "SELECT channel FROM (SELECT channel FROM user_stats
     UNION SELECT channel FROM recent_chat UNION SELECT channel FROM channel_stats UNION SELECT channel FROM media_stats) AS c
     ORDER BY channel COLLATE \"C\"";
const SQL_ENQUEUE: &str =
    "INSERT INTO outbound_messages (timestamp, message, sent, retry_count, channel)
     VALUES ($1, $2, 0, 0, $3) RETURNING id";
const SQL_DUE: &str = "SELECT id, timestamp, message, coalesce(retry_count, 0), last_error
     FROM outbound_messages
     WHERE channel = $1 AND coalesce(sent, 0) = 0
       AND coalesce(retry_count, 0) < $2
       AND (coalesce(retry_count, 0) <= 0
            OR timestamp + (1::bigint << least(retry_count, 40)::integer) * 60 <= $3)
     ORDER BY timestamp, id LIMIT $4";
const SQL_STATUS: &str = "SELECT coalesce(sent, 0), coalesce(retry_count, 0), last_error
     FROM outbound_messages WHERE id = $1";
const SQL_CLOSE_SESSIONS: &str = "UPDATE user_stats SET
       total_time_connected = coalesce(total_time_connected, 0)
                              + greatest(0, $1::bigint - current_session_start),
       last_seen = greatest(last_seen, $1::bigint),
       current_session_start = NULL
     WHERE current_session_start IS NOT NULL";
const SQL_TRIM: [&str; 4] = [
    "DELETE FROM recent_chat WHERE id IN
       (SELECT id FROM recent_chat WHERE timestamp < $1 LIMIT $2)",
    "DELETE FROM user_count_history WHERE id IN
       (SELECT id FROM user_count_history WHERE timestamp < $1 LIMIT $2)",
    "DELETE FROM outbound_messages WHERE id IN
       (SELECT id FROM outbound_messages
        WHERE sent = 1 AND timestamp < $1
          AND coalesce(sent_timestamp, timestamp) < $1 LIMIT $2)",
    "DELETE FROM processed_events WHERE seq IN
       (SELECT seq FROM processed_events WHERE ts < $1 ORDER BY seq LIMIT $2)",
];

impl PgStore {
    pub(super) fn rows(
        &mut self,
        op: &'static str,
        sql: &'static str,
        params: &[&(dyn postgres::types::ToSql + Sync)],
    ) -> Result<Vec<Row>, StoreError> {
        self.ensure_connected()?;
        let stmt = prep(&mut self.client, &mut self.stmts, sql).map_err(pg_op(op))?;
        self.client.query(&stmt, params).map_err(pg_op(op))
    }

    pub(super) fn exec(
        &mut self,
        op: &'static str,
        sql: &'static str,
        params: &[&(dyn postgres::types::ToSql + Sync)],
    ) -> Result<u64, StoreError> {
        self.ensure_connected()?;
        let stmt = prep(&mut self.client, &mut self.stmts, sql).map_err(pg_op(op))?;
        self.client.execute(&stmt, params).map_err(pg_op(op))
    }
}

impl Storage for PgStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }
    fn blocks_on_network(&self) -> bool {
        true
    }
    fn default_channel(&self) -> &str {
        &self.default_channel
    }
    fn adopted(&self) -> Option<&AdoptReport> {
        None
    }
    fn schema_version(&mut self) -> Result<i64, StoreError> {
        self.ensure_connected()?;
        super::schema::current_version(&mut self.client)
    }
    fn apply_batch(&mut self, events: &[StoreEvent]) -> Result<BatchOutcome, StoreError> {
        PgStore::apply_batch(self, events)
    }

    fn recent_chat(&mut self, channel: &str, limit: i64) -> Result<Vec<ChatRow>, StoreError> {
        let rows = self.rows(
            "recent_chat",
            SQL_RECENT_CHAT,
            &[&channel, &clamp_limit(limit)],
        )?;
        Ok(rows
            .iter()
            .map(|r| ChatRow {
                timestamp: r.get(0),
                username: r.get(1),
                message: r.get(2),
            })
            .collect())
    }

    fn channel_stats(&mut self, channel: &str) -> Result<ChannelStatsReply, StoreError> {
        let peak = |users, timestamp| Peak { users, timestamp };
        let (high_water_mark, high_water_connected) =
            match self.rows("channel_stats", SQL_PEAKS, &[&channel])?.first() {
                Some(r) => (peak(r.get(0), r.get(1)), peak(r.get(2), r.get(3))),
                None => (peak(0, None), peak(0, None)),
            };
        let top_chatters = self
            .rows("top chatters", SQL_TOP, &[&channel, &TOP_CHATTERS])?
            .iter()
            .map(|r| TopChatter {
                username: r.get(0),
                chat_lines: r.get::<_, Option<i64>>(1).unwrap_or(0),
            })
            .collect();
        let total_users_seen = self.rows("users seen", SQL_USERS_SEEN, &[&channel])?[0].get(0);
        let current = match self
            .rows("current status", SQL_CURRENT, &[&channel])?
            .first()
        {
            Some(r) => CurrentCounts {
                chat_users: r.get(0),
                connected_users: r.get(1),
            },
            None => CurrentCounts {
                chat_users: 0,
                connected_users: 0,
            },
        };
        Ok(ChannelStatsReply {
            success: true,
            high_water_mark,
            high_water_connected,
            top_chatters,
            total_users_seen,
            current,
        })
    }

    fn user_stats(&mut self, channel: &str, username: &str) -> Result<UserStatsReply, StoreError> {
        let rows = self.rows("user_stats", SQL_USER, &[&channel, &username])?;
        Ok(match rows.first() {
            Some(r) => UserStatsReply::Found(UserStatsFound {
                success: true,
                found: true,
                username: username.to_string(),
                first_seen: r.get(0),
                last_seen: r.get(1),
                total_chat_lines: r.get(2),
                total_time_connected: r.get(3),
                current_session_start: r.get(4),
            }),
            None => UserStatsReply::NotFound(UserStatsNotFound::new(username)),
        })
    }

    fn user_count_history(
        &mut self,
        channel: &str,
        hours: f64,
        now: i64,
    ) -> Result<Vec<UserCountRow>, StoreError> {
        let span = if hours.is_finite() && hours > 0.0 {
            (hours * 3600.0).min(1.0e11) as i64
        } else {
            0
        };
        let rows = self.rows(
            "user_count_history",
            SQL_HISTORY,
            &[&channel, &(now - span), &(MAX_LIMIT * 10)],
        )?;
        Ok(rows
            .iter()
            .map(|r| UserCountRow {
                timestamp: r.get(0),
                chat_users: r.get(1),
                connected_users: r.get(2),
            })
            .collect())
    }

    fn count_rows(&mut self, table: &str) -> Result<i64, StoreError> {
        self.ensure_connected()?;
        count_rows(&mut self.client, table)
    }

    fn channel_totals(&mut self, channel: &str) -> Result<ChannelTotals, StoreError> {
        self.ensure_connected()?;
        let sql = channel_totals_sql("$1");
        let r = self
            .client
            .query_one(&sql, &[&channel])
            .map_err(pg_op("channel totals"))?;
        Ok(ChannelTotals {
            chat_rows: r.get(0),
            user_count_rows: r.get(1),
            chat_lines: r.get(2),
            total_time_connected: r.get(3),
            open_sessions: r.get(4),
        })
    }

    fn last_id(&mut self, table: &str) -> Result<i64, StoreError> {
        let col = id_column(table)
            .ok_or_else(|| StoreError::Copy(format!("table `{table}` has no id column")))?;
        self.ensure_connected()?;
        self.client
            .query_one(
                &format!("SELECT coalesce(max({col}), 0)::bigint FROM {table}"),
                &[],
            )
            .map(|r| r.get(0))
            .map_err(pg_op("last id"))
    }

    fn channels(&mut self) -> Result<Vec<String>, StoreError> {
        Ok(self
            .rows("channels", SQL_CHANNELS, &[])?
            .iter()
            .map(|r| r.get(0))
            .collect())
    }

    fn enqueue(&mut self, channel: &str, message: &str, now: i64) -> Result<i64, StoreError> {
        let rows = self.rows("enqueue", SQL_ENQUEUE, &[&now, &message, &channel])?;
        Ok(rows[0].get(0))
    }

    fn due(
        &mut self,
        channel: &str,
        limit: i64,
        max_retries: i64,
        now: i64,
    ) -> Result<Vec<OutboundRow>, StoreError> {
        let rows = self.rows(
            "outbound due",
            SQL_DUE,
            &[&channel, &max_retries, &now, &clamp_limit(limit)],
        )?;
        Ok(rows
            .iter()
            .map(|r| OutboundRow {
                id: r.get(0),
                timestamp: r.get(1),
                message: r.get(2),
                retry_count: r.get(3),
                last_error: r.get(4),
            })
            .collect())
    }

    fn mark_sent(&mut self, message_id: i64, now: i64) -> Result<bool, StoreError> {
        Ok(self.exec("mark_sent", SQL_MARK_SENT, &[&message_id, &now])? > 0)
    }

    fn mark_failed(
        &mut self,
        message_id: i64,
        error: &str,
        permanent: bool,
        now: i64,
    ) -> Result<bool, StoreError> {
        let n = self.exec(
            "mark_failed",
            SQL_MARK_FAILED,
            &[&message_id, &error, &permanent, &now],
        )?;
        Ok(n > 0)
    }

    fn outbound_status(&mut self, message_id: i64) -> Result<Option<OutboundStatus>, StoreError> {
        let rows = self.rows("outbound status", SQL_STATUS, &[&message_id])?;
        Ok(rows.first().map(|r| {
            OutboundStatus::derive(
                r.get::<_, i64>(0) != 0,
                r.get(1),
                r.get::<_, Option<String>>(2).as_deref(),
            )
        }))
    }

    fn maintenance(
        &mut self,
        now: i64,
        retention: &Retention,
        max_batches: usize,
    ) -> Result<MaintenanceReport, StoreError> {
        let cutoff = |d: Duration| now - d.as_secs() as i64;
        let batch = retention.batch.max(1);
        let mut report = MaintenanceReport::default();
        let cuts = [
            cutoff(retention.recent_chat),
            cutoff(retention.user_count_history),
            cutoff(retention.sent_outbound),
            cutoff(retention.processed_events),
        ];
        let mut removed = [0usize; 4];
        for (i, sql) in SQL_TRIM.iter().enumerate() {
            for b in 0..max_batches {
                let n = self.exec("retention", sql, &[&cuts[i], &batch])? as usize;
                removed[i] += n;
                if (n as i64) < batch {
                    break;
                }
                if b + 1 == max_batches {
                    report.more = true;
                }
            }
        }
        [
            report.recent_chat,
            report.user_count_history,
            report.sent_outbound,
            report.processed_events,
        ] = removed;
        Ok(report)
    }

    fn close_open_sessions(&mut self, now: i64) -> Result<usize, StoreError> {
        Ok(self.exec("close open sessions", SQL_CLOSE_SESSIONS, &[&now])? as usize)
    }

    fn checkpoint(&mut self) -> Result<(), StoreError> {
        Ok(())
    }
}

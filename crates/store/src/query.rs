//! The read side: every query of SPEC §3.2, answering with the model's reply structs.
//!
//! Queries are per channel. Each is one or a few indexed statements (prepared once, cached),
//! cheap enough to run inline on the task that answers the request. Limits are clamped so a
//! request cannot ask for an unbounded reply.

use rosey_model::payload::{
    ChannelStatsReply, ChatRow, CurrentCounts, Peak, TopChatter, UserCountRow, UserStatsFound,
    UserStatsNotFound, UserStatsReply,
};
use rusqlite::{OptionalExtension, params};

use crate::{Store, StoreError, error::op};

/// The most rows a list query returns, whatever `limit` asks for.
pub const MAX_LIMIT: i64 = 10_000;
/// How many chatters `channel_stats` lists.
pub const TOP_CHATTERS: i64 = 10;

/// Every table of the current schema.
pub const TABLES: [&str; 16] = [
    "user_stats",
    "user_actions",
    "channel_stats",
    "user_count_history",
    "recent_chat",
    "current_status",
    "outbound_messages",
    "api_tokens",
    "media_history",
    "processed_events",
    "user_presence",
    "plugin_kv",
    "moderation_actions",
    "media_stats",
    "media_adders",
    "rosey_migrations",
];

/// Every channel with statistics, chat or peaks (sorted).
pub(crate) const SQL_CHANNELS: &str = "SELECT channel FROM user_stats \
     UNION SELECT channel FROM recent_chat UNION SELECT channel FROM channel_stats UNION SELECT channel FROM media_stats \
     ORDER BY 1";

/// Clamps a requested limit to `0..=MAX_LIMIT`.
pub fn clamp_limit(limit: i64) -> i64 {
    limit.clamp(0, MAX_LIMIT)
}

impl Store {
    /// The newest `limit` chat lines of `channel`, oldest first.
    pub fn recent_chat(&self, channel: &str, limit: i64) -> Result<Vec<ChatRow>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT timestamp, username, message FROM (
                     SELECT id, timestamp, username, message FROM recent_chat
                     WHERE channel = ?1 ORDER BY timestamp DESC, id DESC LIMIT ?2)
                 ORDER BY timestamp, id",
            )
            .map_err(op("recent_chat"))?;
        let rows = stmt
            .query_map(params![channel, clamp_limit(limit)], |r| {
                Ok(ChatRow {
                    timestamp: r.get(0)?,
                    username: r.get(1)?,
                    message: r.get(2)?,
                })
            })
            .map_err(op("recent_chat"))?;
        rows.collect::<Result<_, _>>().map_err(op("recent_chat"))
    }

    /// Peaks, top chatters, users seen and live counts of `channel`.
    pub fn channel_stats(&self, channel: &str) -> Result<ChannelStatsReply, StoreError> {
        let peaks = self
            .conn
            .prepare_cached(
                "SELECT coalesce(max_users, 0), max_users_timestamp,
                        coalesce(max_connected, 0), max_connected_timestamp
                 FROM channel_stats WHERE channel = ?1",
            )
            .map_err(op("channel_stats"))?
            .query_row([channel], |r| {
                Ok((
                    Peak {
                        users: r.get(0)?,
                        timestamp: r.get(1)?,
                    },
                    Peak {
                        users: r.get(2)?,
                        timestamp: r.get(3)?,
                    },
                ))
            })
            .optional()
            .map_err(op("channel_stats"))?;
        let (high_water_mark, high_water_connected) = peaks.unwrap_or((
            Peak {
                users: 0,
                timestamp: None,
            },
            Peak {
                users: 0,
                timestamp: None,
            },
        ));
        let top_chatters = {
            let mut stmt = self
                .conn
                .prepare_cached(
                    "SELECT username, total_chat_lines FROM user_stats
                     WHERE channel = ?1 AND total_chat_lines > 0
                     ORDER BY total_chat_lines DESC, username LIMIT ?2",
                )
                .map_err(op("top chatters"))?;
            let rows = stmt
                .query_map(params![channel, TOP_CHATTERS], |r| {
                    Ok(TopChatter {
                        username: r.get::<_, Option<String>>(0)?.unwrap_or_default(),
                        chat_lines: r.get(1)?,
                    })
                })
                .map_err(op("top chatters"))?;
            rows.collect::<Result<Vec<_>, _>>()
                .map_err(op("top chatters"))?
        };
        let total_users_seen: i64 = self
            .conn
            .prepare_cached("SELECT count(*) FROM user_stats WHERE channel = ?1")
            .map_err(op("users seen"))?
            .query_row([channel], |r| r.get(0))
            .map_err(op("users seen"))?;
        let current = self
            .conn
            .prepare_cached(
                "SELECT coalesce(current_chat_users, 0), coalesce(current_connected_users, 0)
                 FROM current_status WHERE channel = ?1",
            )
            .map_err(op("current status"))?
            .query_row([channel], |r| {
                Ok(CurrentCounts {
                    chat_users: r.get(0)?,
                    connected_users: r.get(1)?,
                })
            })
            .optional()
            .map_err(op("current status"))?
            .unwrap_or(CurrentCounts {
                chat_users: 0,
                connected_users: 0,
            });
        Ok(ChannelStatsReply {
            success: true,
            high_water_mark,
            high_water_connected,
            top_chatters,
            total_users_seen,
            current,
        })
    }

    /// One user's statistics in `channel` (found or not-found shape).
    pub fn user_stats(&self, channel: &str, username: &str) -> Result<UserStatsReply, StoreError> {
        let found = self
            .conn
            .prepare_cached(
                "SELECT first_seen, last_seen, coalesce(total_chat_lines, 0),
                        coalesce(total_time_connected, 0), current_session_start
                 FROM user_stats WHERE channel = ?1 AND username = ?2",
            )
            .map_err(op("user_stats"))?
            .query_row(params![channel, username], |r| {
                Ok(UserStatsFound {
                    success: true,
                    found: true,
                    username: username.to_string(),
                    first_seen: r.get(0)?,
                    last_seen: r.get(1)?,
                    total_chat_lines: r.get(2)?,
                    total_time_connected: r.get(3)?,
                    current_session_start: r.get(4)?,
                })
            })
            .optional()
            .map_err(op("user_stats"))?;
        Ok(match found {
            Some(f) => UserStatsReply::Found(f),
            None => UserStatsReply::NotFound(UserStatsNotFound::new(username)),
        })
    }

    /// User-count samples of `channel` from the last `hours` hours (relative to `now`),
    /// oldest first.
    pub fn user_count_history(
        &self,
        channel: &str,
        hours: f64,
        now: i64,
    ) -> Result<Vec<UserCountRow>, StoreError> {
        let span = if hours.is_finite() && hours > 0.0 {
            (hours * 3600.0).min(1.0e11) as i64
        } else {
            0
        };
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT timestamp, chat_users, connected_users FROM user_count_history
                 WHERE channel = ?1 AND timestamp >= ?2 ORDER BY timestamp, id LIMIT ?3",
            )
            .map_err(op("user_count_history"))?;
        let rows = stmt
            .query_map(params![channel, now - span, MAX_LIMIT * 10], |r| {
                Ok(UserCountRow {
                    timestamp: r.get(0)?,
                    chat_users: r.get(1)?,
                    connected_users: r.get(2)?,
                })
            })
            .map_err(op("user_count_history"))?;
        rows.collect::<Result<_, _>>()
            .map_err(op("user_count_history"))
    }

    /// Every channel with statistics, chat or peaks (sorted).
    pub fn channels(&self) -> Result<Vec<String>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(SQL_CHANNELS)
            .map_err(op("channels"))?;
        let rows = stmt.query_map([], |r| r.get(0)).map_err(op("channels"))?;
        rows.collect::<Result<_, _>>().map_err(op("channels"))
    }

    /// Totals of one channel (see [`crate::storage::ChannelTotals`]).
    pub fn channel_totals(
        &self,
        channel: &str,
    ) -> Result<crate::storage::ChannelTotals, StoreError> {
        let sql = crate::storage::channel_totals_sql("?1");
        self.conn
            .query_row(&sql, [channel], |r| {
                Ok(crate::storage::ChannelTotals {
                    chat_rows: r.get(0)?,
                    user_count_rows: r.get(1)?,
                    chat_lines: r.get(2)?,
                    total_time_connected: r.get(3)?,
                    open_sessions: r.get(4)?,
                })
            })
            .map_err(op("channel totals"))
    }

    /// The highest id in `table`, 0 when empty.
    pub fn last_id(&self, table: &str) -> Result<i64, StoreError> {
        let col = crate::storage::id_column(table)
            .ok_or_else(|| StoreError::Copy(format!("table `{table}` has no id column")))?;
        self.conn
            .query_row(
                &format!("SELECT coalesce(max({col}), 0) FROM {table}"),
                [],
                |r| r.get(0),
            )
            .map_err(op("last id"))
    }

    /// Rows in `table` (tests, benchmarks, tools). `table` must be one of ours.
    pub fn count_rows(&self, table: &str) -> Result<i64, StoreError> {
        let Some(t) = TABLES.iter().find(|t| **t == table) else {
            return Err(StoreError::Sqlite {
                op: "count rows",
                source: rusqlite::Error::InvalidParameterName(table.to_string()),
            });
        };
        self.conn
            .query_row(&format!("SELECT count(*) FROM {t}"), [], |r| r.get(0))
            .map_err(op("count rows"))
    }
}

//! The PostgreSQL side of [`WebStorage`]: the statements of `crate::web` in PostgreSQL's
//! dialect. Token matching happens in `crate::web`, the same for both backends.

use rosey_model::payload::ChatRow;
use rosey_model::web::{CurrentStatus, HourCount, OutboundRecentRow, UserSummary};

use super::PgStore;
use crate::StoreError;
use crate::web::{TokenRow, WebStorage, like_prefix, outbound_row};

const SQL_STATUS: &str = "SELECT bot_name, bot_rank, bot_afk, channel_name,
    current_chat_users, current_connected_users, playlist_items, current_media_title,
    current_media_duration, bot_start_time, bot_connected, last_updated
    FROM current_status WHERE channel = $1";
const SQL_OUTBOUND: &str = "SELECT id, timestamp, message, coalesce(sent, 0), sent_timestamp,
        coalesce(retry_count, 0), last_error
     FROM outbound_messages WHERE channel = $1 ORDER BY id DESC LIMIT $2";
const SQL_SEARCH: &str = "SELECT username, coalesce(total_chat_lines, 0), last_seen,
        current_session_start IS NOT NULL
     FROM user_stats WHERE channel = $1 AND username ILIKE $2 ESCAPE '\\'
     ORDER BY total_chat_lines DESC, username COLLATE \"C\" LIMIT $3";
const SQL_ACTIVITY: &str = "SELECT (timestamp / 3600) * 3600 AS hour, count(*) FROM recent_chat
     WHERE channel = $1 AND timestamp >= $2 AND ($3::text IS NULL OR username = $3)
     GROUP BY hour ORDER BY hour";
const SQL_USER_LINES: &str = "SELECT timestamp, username, message FROM (
       SELECT id, timestamp, username, message FROM recent_chat
       WHERE channel = $1 AND username = $2 ORDER BY id DESC LIMIT $3) AS t
     ORDER BY id";
const SQL_TOKENS: &str = "SELECT token, description, created_at, last_used, coalesce(revoked, 0)
     FROM api_tokens ORDER BY created_at, token";
const SQL_TOKEN_INSERT: &str =
    "INSERT INTO api_tokens (token, description, created_at, revoked) VALUES ($1, $2, $3, 0)";
const SQL_TOKEN_REVOKE: &str =
    "UPDATE api_tokens SET revoked = 1 WHERE token = $1 AND coalesce(revoked, 0) = 0";
const SQL_TOKEN_TOUCH: &str = "UPDATE api_tokens SET last_used = $2 WHERE token = $1";
const SQL_TOKEN_REKEY: &str = "UPDATE api_tokens SET token = $2 WHERE token = $1";

impl WebStorage for PgStore {
    fn current_status(&mut self, channel: &str) -> Result<Option<CurrentStatus>, StoreError> {
        let rows = self.rows("current status", SQL_STATUS, &[&channel])?;
        Ok(rows.first().map(|r| CurrentStatus {
            bot_name: r.get(0),
            bot_rank: r.get(1),
            bot_afk: r.get::<_, Option<i64>>(2).unwrap_or(0) != 0,
            channel_name: r.get(3),
            current_chat_users: r.get::<_, Option<i64>>(4).unwrap_or(0),
            current_connected_users: r.get::<_, Option<i64>>(5).unwrap_or(0),
            playlist_items: r.get::<_, Option<i64>>(6).unwrap_or(0),
            current_media_title: r.get(7),
            current_media_duration: r.get(8),
            bot_start_time: r.get(9),
            bot_connected: r.get::<_, Option<i64>>(10).unwrap_or(0) != 0,
            last_updated: r.get(11),
        }))
    }

    fn outbound_recent(
        &mut self,
        channel: &str,
        limit: i64,
    ) -> Result<Vec<OutboundRecentRow>, StoreError> {
        let limit = limit.clamp(0, 1000);
        let rows = self.rows("outbound recent", SQL_OUTBOUND, &[&channel, &limit])?;
        Ok(rows
            .iter()
            .map(|r| {
                outbound_row(
                    r.get(0),
                    r.get(1),
                    r.get(2),
                    r.get::<_, i64>(3) != 0,
                    r.get(4),
                    r.get(5),
                    r.get(6),
                )
            })
            .collect())
    }

    fn user_search(
        &mut self,
        channel: &str,
        prefix: &str,
        limit: i64,
    ) -> Result<Vec<UserSummary>, StoreError> {
        let (pattern, limit) = (like_prefix(prefix), limit.clamp(0, 1000));
        let rows = self.rows("user search", SQL_SEARCH, &[&channel, &pattern, &limit])?;
        Ok(rows
            .iter()
            .map(|r| UserSummary {
                username: r.get(0),
                total_chat_lines: r.get(1),
                last_seen: r.get(2),
                present: r.get(3),
            })
            .collect())
    }

    fn chat_activity(
        &mut self,
        channel: &str,
        since: i64,
        username: Option<&str>,
    ) -> Result<Vec<HourCount>, StoreError> {
        let rows = self.rows(
            "chat activity",
            SQL_ACTIVITY,
            &[&channel, &since, &username],
        )?;
        Ok(rows
            .iter()
            .map(|r| HourCount {
                hour: r.get(0),
                lines: r.get(1),
            })
            .collect())
    }

    fn user_lines(
        &mut self,
        channel: &str,
        username: &str,
        limit: i64,
    ) -> Result<Vec<ChatRow>, StoreError> {
        let limit = limit.clamp(0, 1000);
        let rows = self.rows("user lines", SQL_USER_LINES, &[&channel, &username, &limit])?;
        Ok(rows
            .iter()
            .map(|r| ChatRow {
                timestamp: r.get(0),
                username: r.get(1),
                message: r.get(2),
            })
            .collect())
    }

    fn token_rows(&mut self) -> Result<Vec<TokenRow>, StoreError> {
        let rows = self.rows("list tokens", SQL_TOKENS, &[])?;
        Ok(rows
            .iter()
            .map(|r| TokenRow {
                key: r.get(0),
                description: r.get(1),
                created_at: r.get(2),
                last_used: r.get(3),
                revoked: r.get::<_, i64>(4) != 0,
            })
            .collect())
    }

    fn token_insert(
        &mut self,
        key: &str,
        description: &str,
        created_at: i64,
    ) -> Result<(), StoreError> {
        self.exec(
            "create token",
            SQL_TOKEN_INSERT,
            &[&key, &description, &created_at],
        )
        .map(|_| ())
    }

    fn token_revoke(&mut self, key: &str) -> Result<bool, StoreError> {
        self.exec("revoke token", SQL_TOKEN_REVOKE, &[&key])
            .map(|n| n > 0)
    }

    fn token_touch(&mut self, key: &str, now: i64) -> Result<(), StoreError> {
        self.exec("touch token", SQL_TOKEN_TOUCH, &[&key, &now])
            .map(|_| ())
    }

    fn token_rekey(&mut self, old: &str, new: &str) -> Result<(), StoreError> {
        self.exec("re-key token", SQL_TOKEN_REKEY, &[&old, &new])
            .map(|_| ())
    }
}

//! What the dashboard (`rosey web`) and `rosey token` read and write: a channel's status
//! row, the newest outbound rows, user search, chat activity per hour, and API tokens.
//!
//! # Tokens
//! The v0.5 `api_tokens` table is kept (same columns), but its `token` column no longer
//! holds the token: it holds a *key*, `v1:<prefix>:<sha256 hex>` — the token's first
//! [`PREFIX_LEN`] characters (to list and revoke it by prefix, as v0.5 did) and the SHA-256 of
//! the whole token. A token is checked by hashing it and comparing the hash with every live
//! row's in constant time ([`subtle`]), so neither the database nor the comparison tells how
//! close a guess was. v0.5 rows (plain tokens) are re-keyed in place on start-up
//! ([`WebStorage::rekey_legacy_tokens`]) as `v0:<first 8 chars>:<hash>`; they keep working.
//! Tokens made by Rosey start with `ra_` (admin: may administer tokens over HTTP) or
//! `rt_` (may use the API); the scope is part of the hashed token, so it cannot be forged.
//!
//! The token table is tiny (a handful of rows), so the backends only store and fetch rows;
//! matching is done here, once, for both.

use rusqlite::{OptionalExtension, params};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use rosey_model::payload::ChatRow;
use rosey_model::web::{CurrentStatus, HourCount, OutboundRecentRow, UserSummary};

use crate::{OutboundStatus, Store, StoreError, error::op};

/// Characters of a token kept in clear in its key.
pub const PREFIX_LEN: usize = 12;
/// Characters kept of a v0.5 token.
pub const LEGACY_PREFIX_LEN: usize = 8;
/// Start of an admin token.
pub const ADMIN_MARK: &str = "ra_";
/// Start of an API token.
pub const API_MARK: &str = "rt_";

/// One `api_tokens` row as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRow {
    pub key: String,
    pub description: Option<String>,
    pub created_at: i64,
    pub last_used: Option<i64>,
    pub revoked: bool,
}

impl TokenRow {
    /// The prefix in clear (empty for a key of an unknown form).
    pub fn prefix(&self) -> &str {
        parse_key(&self.key).map(|(_, p, _)| p).unwrap_or("")
    }

    /// An admin token (only tokens made by Rosey as admin).
    pub fn is_admin(&self) -> bool {
        matches!(parse_key(&self.key), Some(("v1", p, _)) if p.starts_with(ADMIN_MARK))
    }

    fn hash(&self) -> &str {
        parse_key(&self.key).map(|(_, _, h)| h).unwrap_or("")
    }
}

/// `v1:<prefix>:<hash>` → (version, prefix, hash). The hash is the last 64 characters, so
/// a prefix may hold any character.
fn parse_key(key: &str) -> Option<(&str, &str, &str)> {
    let (version, rest) = key.split_once(':')?;
    if !matches!(version, "v0" | "v1") || rest.len() < 65 {
        return None;
    }
    let (prefix, hash) = rest.split_at(rest.len() - 65);
    let hash = hash.strip_prefix(':')?;
    hash.bytes()
        .all(|b| b.is_ascii_hexdigit())
        .then_some((version, prefix, hash))
}

/// Is this stored value already a key (not a v0.5 plain token)?
pub fn is_key(stored: &str) -> bool {
    parse_key(stored).is_some()
}

/// SHA-256 of a token, lower-case hex.
pub fn hash_token(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

fn head(token: &str, n: usize) -> &str {
    match token.char_indices().nth(n) {
        Some((i, _)) => &token[..i],
        None => token,
    }
}

/// The part of a token kept in clear (and shown in lists).
pub fn token_prefix(token: &str) -> &str {
    head(token, PREFIX_LEN)
}

/// The key stored for a token made by Rosey.
pub fn token_key(token: &str) -> String {
    format!("v1:{}:{}", head(token, PREFIX_LEN), hash_token(token))
}

/// The key a v0.5 plain token is re-keyed to.
pub fn legacy_key(token: &str) -> String {
    format!(
        "v0:{}:{}",
        head(token, LEGACY_PREFIX_LEN),
        hash_token(token)
    )
}

/// The live row a presented token belongs to. Every live row is compared, each in constant
/// time, whether or not an earlier one matched.
pub fn find_token<'a>(rows: &'a [TokenRow], token: &str) -> Option<&'a TokenRow> {
    let hash = hash_token(token);
    let mut found = None;
    for row in rows {
        let same: bool = row.hash().as_bytes().ct_eq(hash.as_bytes()).into();
        if same && !row.revoked {
            found = Some(row);
        }
    }
    found
}

/// The rows a revocation prefix names: the whole token, or a prefix of (or longer than)
/// the part kept in clear.
pub fn match_prefix<'a>(rows: &'a [TokenRow], given: &str) -> Vec<&'a TokenRow> {
    if let Some(row) = find_token(rows, given) {
        return vec![row];
    }
    rows.iter()
        .filter(|r| {
            let p = r.prefix();
            !p.is_empty() && (p.starts_with(given) || given.starts_with(p))
        })
        .collect()
}

/// The dashboard's reads and the token table, on both backends (a supertrait of
/// [`crate::Storage`]).
pub trait WebStorage {
    /// A channel's `current_status` row, if it has one.
    fn current_status(&mut self, channel: &str) -> Result<Option<CurrentStatus>, StoreError>;
    /// The newest `limit` outbound rows, newest first.
    fn outbound_recent(
        &mut self,
        channel: &str,
        limit: i64,
    ) -> Result<Vec<OutboundRecentRow>, StoreError>;
    /// Users whose name starts with `prefix` (ASCII case-insensitive), most active first.
    fn user_search(
        &mut self,
        channel: &str,
        prefix: &str,
        limit: i64,
    ) -> Result<Vec<UserSummary>, StoreError>;
    /// Kept chat lines per hour since `since` (optionally one user's), oldest hour first.
    fn chat_activity(
        &mut self,
        channel: &str,
        since: i64,
        username: Option<&str>,
    ) -> Result<Vec<HourCount>, StoreError>;
    /// One user's newest kept lines, chronological.
    fn user_lines(
        &mut self,
        channel: &str,
        username: &str,
        limit: i64,
    ) -> Result<Vec<ChatRow>, StoreError>;

    /// Every token row.
    fn token_rows(&mut self) -> Result<Vec<TokenRow>, StoreError>;
    fn token_insert(
        &mut self,
        key: &str,
        description: &str,
        created_at: i64,
    ) -> Result<(), StoreError>;
    /// Marks a row revoked; false when it was not live.
    fn token_revoke(&mut self, key: &str) -> Result<bool, StoreError>;
    fn token_touch(&mut self, key: &str, now: i64) -> Result<(), StoreError>;
    /// Replaces a stored value by another (re-keying a v0.5 row).
    fn token_rekey(&mut self, old: &str, new: &str) -> Result<(), StoreError>;

    /// Hashes every v0.5 plain token in place; returns how many.
    fn rekey_legacy_tokens(&mut self) -> Result<usize, StoreError> {
        let mut n = 0;
        for row in self.token_rows()? {
            if !is_key(&row.key) {
                self.token_rekey(&row.key, &legacy_key(&row.key))?;
                n += 1;
            }
        }
        Ok(n)
    }
}

fn status_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<CurrentStatus> {
    Ok(CurrentStatus {
        bot_name: r.get(0)?,
        bot_rank: r.get(1)?,
        bot_afk: r.get::<_, Option<i64>>(2)?.unwrap_or(0) != 0,
        channel_name: r.get(3)?,
        current_chat_users: r.get::<_, Option<i64>>(4)?.unwrap_or(0),
        current_connected_users: r.get::<_, Option<i64>>(5)?.unwrap_or(0),
        playlist_items: r.get::<_, Option<i64>>(6)?.unwrap_or(0),
        current_media_title: r.get(7)?,
        current_media_duration: r.get(8)?,
        bot_start_time: r.get(9)?,
        bot_connected: r.get::<_, Option<i64>>(10)?.unwrap_or(0) != 0,
        last_updated: r.get(11)?,
    })
}

/// The columns of [`CurrentStatus`], in its order (both backends).
pub(crate) const STATUS_COLUMNS: &str = "bot_name, bot_rank, bot_afk, channel_name,
    current_chat_users, current_connected_users, playlist_items, current_media_title,
    current_media_duration, bot_start_time, bot_connected, last_updated";

/// An outbound row from `(id, timestamp, message, sent, sent_timestamp, retry_count,
/// last_error)`.
pub(crate) fn outbound_row(
    id: i64,
    timestamp: i64,
    message: String,
    sent: bool,
    sent_timestamp: Option<i64>,
    retry_count: i64,
    last_error: Option<String>,
) -> OutboundRecentRow {
    let status = OutboundStatus::derive(sent, retry_count, last_error.as_deref())
        .as_str()
        .to_string();
    OutboundRecentRow {
        id,
        timestamp,
        message,
        sent,
        sent_timestamp,
        retry_count,
        last_error,
        status,
    }
}

/// `LIKE` pattern for a name prefix, with `\` as the escape character.
pub(crate) fn like_prefix(prefix: &str) -> String {
    let mut p = String::with_capacity(prefix.len() + 1);
    for c in prefix.chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

impl WebStorage for Store {
    fn current_status(&mut self, channel: &str) -> Result<Option<CurrentStatus>, StoreError> {
        self.connection()
            .prepare_cached(&format!(
                "SELECT {STATUS_COLUMNS} FROM current_status WHERE channel = ?1"
            ))
            .and_then(|mut s| s.query_row([channel], status_row).optional())
            .map_err(op("current status"))
    }

    fn outbound_recent(
        &mut self,
        channel: &str,
        limit: i64,
    ) -> Result<Vec<OutboundRecentRow>, StoreError> {
        let mut stmt = self
            .connection()
            .prepare_cached(
                "SELECT id, timestamp, message, coalesce(sent, 0), sent_timestamp,
                        coalesce(retry_count, 0), last_error
                 FROM outbound_messages WHERE channel = ?1 ORDER BY id DESC LIMIT ?2",
            )
            .map_err(op("outbound recent"))?;
        let rows = stmt
            .query_map(params![channel, limit.clamp(0, 1000)], |r| {
                Ok(outbound_row(
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get::<_, i64>(3)? != 0,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                ))
            })
            .map_err(op("outbound recent"))?;
        rows.collect::<Result<_, _>>()
            .map_err(op("outbound recent"))
    }

    fn user_search(
        &mut self,
        channel: &str,
        prefix: &str,
        limit: i64,
    ) -> Result<Vec<UserSummary>, StoreError> {
        let mut stmt = self
            .connection()
            .prepare_cached(
                "SELECT username, coalesce(total_chat_lines, 0), last_seen,
                        current_session_start IS NOT NULL
                 FROM user_stats WHERE channel = ?1 AND username LIKE ?2 ESCAPE '\\'
                 ORDER BY total_chat_lines DESC, username LIMIT ?3",
            )
            .map_err(op("user search"))?;
        let rows = stmt
            .query_map(
                params![channel, like_prefix(prefix), limit.clamp(0, 1000)],
                |r| {
                    Ok(UserSummary {
                        username: r.get(0)?,
                        total_chat_lines: r.get(1)?,
                        last_seen: r.get(2)?,
                        present: r.get(3)?,
                    })
                },
            )
            .map_err(op("user search"))?;
        rows.collect::<Result<_, _>>().map_err(op("user search"))
    }

    fn chat_activity(
        &mut self,
        channel: &str,
        since: i64,
        username: Option<&str>,
    ) -> Result<Vec<HourCount>, StoreError> {
        let mut stmt = self
            .connection()
            .prepare_cached(
                "SELECT (timestamp / 3600) * 3600 AS hour, count(*) FROM recent_chat
                 WHERE channel = ?1 AND timestamp >= ?2 AND (?3 IS NULL OR username = ?3)
                 GROUP BY hour ORDER BY hour",
            )
            .map_err(op("chat activity"))?;
        let rows = stmt
            .query_map(params![channel, since, username], |r| {
                Ok(HourCount {
                    hour: r.get(0)?,
                    lines: r.get(1)?,
                })
            })
            .map_err(op("chat activity"))?;
        rows.collect::<Result<_, _>>().map_err(op("chat activity"))
    }

    fn user_lines(
        &mut self,
        channel: &str,
        username: &str,
        limit: i64,
    ) -> Result<Vec<ChatRow>, StoreError> {
        let mut stmt = self
            .connection()
            .prepare_cached(
                "SELECT timestamp, username, message FROM (
                   SELECT id, timestamp, username, message FROM recent_chat
                   WHERE channel = ?1 AND username = ?2 ORDER BY id DESC LIMIT ?3)
                 ORDER BY id",
            )
            .map_err(op("user lines"))?;
        let rows = stmt
            .query_map(params![channel, username, limit.clamp(0, 1000)], |r| {
                Ok(ChatRow {
                    timestamp: r.get(0)?,
                    username: r.get(1)?,
                    message: r.get(2)?,
                })
            })
            .map_err(op("user lines"))?;
        rows.collect::<Result<_, _>>().map_err(op("user lines"))
    }

    fn token_rows(&mut self) -> Result<Vec<TokenRow>, StoreError> {
        let mut stmt = self
            .connection()
            .prepare_cached(
                "SELECT token, description, created_at, last_used, coalesce(revoked, 0)
                 FROM api_tokens ORDER BY created_at, token",
            )
            .map_err(op("list tokens"))?;
        let rows = stmt
            .query_map([], |r| {
                Ok(TokenRow {
                    key: r.get(0)?,
                    description: r.get(1)?,
                    created_at: r.get(2)?,
                    last_used: r.get(3)?,
                    revoked: r.get::<_, i64>(4)? != 0,
                })
            })
            .map_err(op("list tokens"))?;
        rows.collect::<Result<_, _>>().map_err(op("list tokens"))
    }

    fn token_insert(
        &mut self,
        key: &str,
        description: &str,
        created_at: i64,
    ) -> Result<(), StoreError> {
        self.connection()
            .execute(
                "INSERT INTO api_tokens (token, description, created_at, revoked)
                 VALUES (?1, ?2, ?3, 0)",
                params![key, description, created_at],
            )
            .map(|_| ())
            .map_err(op("create token"))
    }

    fn token_revoke(&mut self, key: &str) -> Result<bool, StoreError> {
        self.connection()
            .execute(
                "UPDATE api_tokens SET revoked = 1 WHERE token = ?1 AND coalesce(revoked, 0) = 0",
                [key],
            )
            .map(|n| n > 0)
            .map_err(op("revoke token"))
    }

    fn token_touch(&mut self, key: &str, now: i64) -> Result<(), StoreError> {
        self.connection()
            .execute(
                "UPDATE api_tokens SET last_used = ?2 WHERE token = ?1",
                params![key, now],
            )
            .map(|_| ())
            .map_err(op("touch token"))
    }

    fn token_rekey(&mut self, old: &str, new: &str) -> Result<(), StoreError> {
        self.connection()
            .execute(
                "UPDATE api_tokens SET token = ?2 WHERE token = ?1",
                params![old, new],
            )
            .map(|_| ())
            .map_err(op("re-key token"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(key: String, revoked: bool) -> TokenRow {
        TokenRow {
            key,
            description: None,
            created_at: 1,
            last_used: None,
            revoked,
        }
    }

    #[test]
    fn keys_hold_a_prefix_and_the_hash_never_the_token() {
        let token = "rt_abcdefghijklmnopqrstuvwxyz0123456789ABCD";
        let key = token_key(token);
        assert!(!key.contains(token));
        assert!(key.starts_with("v1:rt_abcdefghi:"));
        assert_eq!(parse_key(&key).unwrap().2, hash_token(token));
        assert!(is_key(&key));
        assert!(!is_key(token));
        let legacy = legacy_key("plain-v05-token-value");
        assert!(legacy.starts_with("v0:plain-v0:"));
        assert!(!row(legacy, false).is_admin());
        assert!(row(token_key("ra_xyzxyzxyzxyz"), false).is_admin());
    }

    #[test]
    fn only_live_rows_match_and_prefixes_find_rows() {
        let a = "rt_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
        let b = "rt_bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
        let rows = vec![row(token_key(a), false), row(token_key(b), true)];
        assert_eq!(find_token(&rows, a).unwrap().key, rows[0].key);
        assert!(find_token(&rows, b).is_none(), "revoked");
        assert!(find_token(&rows, "rt_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab").is_none());
        assert_eq!(match_prefix(&rows, "rt_aaaaa").len(), 1);
        assert_eq!(match_prefix(&rows, a).len(), 1);
        assert_eq!(match_prefix(&rows, "rt_aaaaaaaaaaaaaaa").len(), 1);
        assert!(match_prefix(&rows, "rt_cccccc").is_empty());
        assert_eq!(match_prefix(&rows, "rt_").len(), 2);
    }

    #[test]
    fn like_prefix_escapes_wildcards() {
        assert_eq!(like_prefix("a_b%"), "a\\_b\\%%");
    }
}

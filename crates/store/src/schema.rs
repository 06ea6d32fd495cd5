//! Versioned migrations, recorded in the database itself (`rosey_migrations`).
//!
//! Migration 1 *is* the Rosey v0.5 schema, written `IF NOT EXISTS`: a fresh file and an
//! adopted v0.5 file therefore take exactly the same path through migrations 2 and later,
//! so adoption is not a separate, rarely exercised code path.
//!
//! A database is a v0.5 database when it has v0.5 tables and no `rosey_migrations` table.
//! Before touching one, a consistent copy is written with `VACUUM INTO` (which also captures
//! a pending WAL) to `<file>.v0.5.bak` (or `<file>.v0.5.<unix-time>.bak` if that exists);
//! if the copy fails, nothing is changed.
//!
//! Migration 2 adds the channel dimension. SQLite cannot change a PRIMARY KEY or drop a
//! CHECK in place, so `user_stats`, `channel_stats` and `current_status` are rebuilt (create
//! new table, copy, drop, rename) — each migration runs in one transaction, so a failure
//! leaves the file as it was. Original column names and order are kept and `channel` is
//! appended with the default channel as its DEFAULT, so the original's SQL (which never names
//! a channel) keeps working against the default channel.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension, params};

use crate::{StoreError, error::op, now_secs};

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = 7;

/// What adopting a v0.5 database did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdoptReport {
    /// Where the untouched copy was written.
    pub backup: PathBuf,
    /// Rows per v0.5 table before adoption (they are all still there afterwards).
    pub rows: Vec<(String, i64)>,
}

/// The v0.5 tables, in the order the original created them.
pub const V05_TABLES: [&str; 8] = [
    "user_stats",
    "user_actions",
    "channel_stats",
    "user_count_history",
    "recent_chat",
    "current_status",
    "outbound_messages",
    "api_tokens",
];

/// The Rosey v0.5 schema, verbatim in substance (names, types, constraints, indexes).
pub const V05_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS user_stats (
    username TEXT PRIMARY KEY,
    first_seen INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    total_chat_lines INTEGER DEFAULT 0,
    total_time_connected INTEGER DEFAULT 0,
    current_session_start INTEGER
);
CREATE TABLE IF NOT EXISTS user_actions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    timestamp INTEGER NOT NULL,
    username TEXT NOT NULL,
    action_type TEXT NOT NULL,
    details TEXT
);
CREATE TABLE IF NOT EXISTS channel_stats (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    max_users INTEGER DEFAULT 0,
    max_users_timestamp INTEGER,
    max_connected INTEGER DEFAULT 0,
    max_connected_timestamp INTEGER,
    last_updated INTEGER
);
CREATE TABLE IF NOT EXISTS user_count_history (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    timestamp INTEGER NOT NULL,
    chat_users INTEGER NOT NULL,
    connected_users INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_user_count_timestamp ON user_count_history(timestamp);
CREATE TABLE IF NOT EXISTS recent_chat (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    timestamp INTEGER NOT NULL,
    username TEXT NOT NULL,
    message TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_recent_chat_timestamp ON recent_chat(timestamp DESC);
CREATE TABLE IF NOT EXISTS current_status (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    bot_name TEXT,
    bot_rank REAL,
    bot_afk INTEGER DEFAULT 0,
    channel_name TEXT,
    current_chat_users INTEGER DEFAULT 0,
    current_connected_users INTEGER DEFAULT 0,
    playlist_items INTEGER DEFAULT 0,
    current_media_title TEXT,
    current_media_duration INTEGER,
    bot_start_time INTEGER,
    bot_connected INTEGER DEFAULT 0,
    last_updated INTEGER
);
CREATE TABLE IF NOT EXISTS outbound_messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    timestamp INTEGER NOT NULL,
    message TEXT NOT NULL,
    sent INTEGER DEFAULT 0,
    sent_timestamp INTEGER,
    retry_count INTEGER DEFAULT 0,
    last_error TEXT
);
CREATE INDEX IF NOT EXISTS idx_outbound_sent ON outbound_messages(sent, timestamp);
CREATE TABLE IF NOT EXISTS api_tokens (
    token TEXT PRIMARY KEY,
    description TEXT,
    created_at INTEGER NOT NULL,
    last_used INTEGER,
    revoked INTEGER DEFAULT 0
);
CREATE INDEX IF NOT EXISTS idx_api_tokens_revoked ON api_tokens(revoked, token);
";

/// Migration 2: the channel dimension. `{ch}` is replaced by the quoted default channel.
const CHANNELS_SQL: &str = "
CREATE TABLE user_stats_v2 (
    username TEXT,
    first_seen INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    total_chat_lines INTEGER DEFAULT 0,
    total_time_connected INTEGER DEFAULT 0,
    current_session_start INTEGER,
    channel TEXT NOT NULL DEFAULT {ch},
    PRIMARY KEY (channel, username)
);
INSERT INTO user_stats_v2 (username, first_seen, last_seen, total_chat_lines,
                           total_time_connected, current_session_start)
    SELECT username, first_seen, last_seen, total_chat_lines, total_time_connected,
           current_session_start FROM user_stats;
DROP TABLE user_stats;
ALTER TABLE user_stats_v2 RENAME TO user_stats;
CREATE INDEX idx_user_stats_lines ON user_stats(channel, total_chat_lines);

CREATE TABLE channel_stats_v2 (
    id INTEGER PRIMARY KEY,
    max_users INTEGER DEFAULT 0,
    max_users_timestamp INTEGER,
    max_connected INTEGER DEFAULT 0,
    max_connected_timestamp INTEGER,
    last_updated INTEGER,
    channel TEXT NOT NULL DEFAULT {ch} UNIQUE
);
INSERT INTO channel_stats_v2 (id, max_users, max_users_timestamp, max_connected,
                              max_connected_timestamp, last_updated)
    SELECT id, max_users, max_users_timestamp, max_connected, max_connected_timestamp,
           last_updated FROM channel_stats;
DROP TABLE channel_stats;
ALTER TABLE channel_stats_v2 RENAME TO channel_stats;

CREATE TABLE current_status_v2 (
    id INTEGER PRIMARY KEY,
    bot_name TEXT,
    bot_rank REAL,
    bot_afk INTEGER DEFAULT 0,
    channel_name TEXT,
    current_chat_users INTEGER DEFAULT 0,
    current_connected_users INTEGER DEFAULT 0,
    playlist_items INTEGER DEFAULT 0,
    current_media_title TEXT,
    current_media_duration INTEGER,
    bot_start_time INTEGER,
    bot_connected INTEGER DEFAULT 0,
    last_updated INTEGER,
    channel TEXT NOT NULL DEFAULT {ch} UNIQUE
);
INSERT INTO current_status_v2 (id, bot_name, bot_rank, bot_afk, channel_name,
                               current_chat_users, current_connected_users, playlist_items,
                               current_media_title, current_media_duration, bot_start_time,
                               bot_connected, last_updated)
    SELECT id, bot_name, bot_rank, bot_afk, channel_name, current_chat_users,
           current_connected_users, playlist_items, current_media_title,
           current_media_duration, bot_start_time, bot_connected, last_updated
    FROM current_status;
DROP TABLE current_status;
ALTER TABLE current_status_v2 RENAME TO current_status;

ALTER TABLE user_actions ADD COLUMN channel TEXT NOT NULL DEFAULT {ch};
CREATE INDEX idx_user_actions_timestamp ON user_actions(timestamp);
ALTER TABLE user_count_history ADD COLUMN channel TEXT NOT NULL DEFAULT {ch};
CREATE INDEX idx_user_count_channel ON user_count_history(channel, timestamp);
ALTER TABLE recent_chat ADD COLUMN channel TEXT NOT NULL DEFAULT {ch};
CREATE INDEX idx_recent_chat_channel ON recent_chat(channel, timestamp);
ALTER TABLE outbound_messages ADD COLUMN channel TEXT NOT NULL DEFAULT {ch};
CREATE INDEX idx_outbound_channel ON outbound_messages(channel, sent, timestamp);
";

/// Migration 3: media history (new) and the de-duplication table.
const MEDIA_AND_DEDUP_SQL: &str = "
CREATE TABLE media_history (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    timestamp INTEGER NOT NULL,
    media_type TEXT NOT NULL,
    media_id TEXT NOT NULL,
    title TEXT,
    duration INTEGER DEFAULT 0,
    queued_by TEXT,
    channel TEXT NOT NULL DEFAULT {ch}
);
CREATE INDEX idx_media_history_channel ON media_history(channel, timestamp);
CREATE TABLE processed_events (
    seq INTEGER PRIMARY KEY,
    event_id TEXT NOT NULL UNIQUE,
    ts INTEGER NOT NULL
);
";

/// Migration 4: the newest applied join/leave per user (see `ingest`, presence order).
pub(crate) const PRESENCE_SQL: &str = "
CREATE TABLE user_presence (
    channel TEXT NOT NULL,
    username TEXT NOT NULL,
    ts INTEGER NOT NULL,
    present INTEGER NOT NULL,
    PRIMARY KEY (channel, username)
);
";

struct Migration {
    version: i64,
    name: &'static str,
    sql: &'static str,
}

const MIGRATIONS: [Migration; 7] = [
    Migration {
        version: 1,
        name: "rosey v0.5 schema",
        sql: V05_SCHEMA,
    },
    Migration {
        version: 2,
        name: "channel dimension",
        sql: CHANNELS_SQL,
    },
    Migration {
        version: 3,
        name: "media history and event de-duplication",
        sql: MEDIA_AND_DEDUP_SQL,
    },
    Migration {
        version: 4,
        name: "presence order",
        sql: PRESENCE_SQL,
    },
    Migration {
        version: 5,
        name: "plugin key-value store",
        sql: crate::kv::KV_SQL,
    },
    Migration {
        version: 6,
        name: "media endings and totals",
        sql: crate::media::MEDIA_TOTALS_SQL,
    },
    Migration {
        version: 7,
        name: "moderation actions",
        sql: crate::moderation::SQLITE_SQL,
    },
];

/// The highest applied migration (0 for a fresh or v0.5 database).
pub fn current_version(conn: &Connection) -> Result<i64, StoreError> {
    if !table_exists(conn, "rosey_migrations")? {
        return Ok(0);
    }
    conn.query_row(
        "SELECT coalesce(max(version), 0) FROM rosey_migrations",
        [],
        |r| r.get(0),
    )
    .map_err(op("read schema version"))
}

/// Is this a Rosey v0.5 database (v0.5 tables, no migration record)?
pub fn is_v05(conn: &Connection) -> Result<bool, StoreError> {
    if table_exists(conn, "rosey_migrations")? {
        return Ok(false);
    }
    for t in V05_TABLES {
        if table_exists(conn, t)? {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Brings the schema to [`SCHEMA_VERSION`]; idempotent. Returns the adoption report when a
/// v0.5 database was adopted.
pub(crate) fn migrate(
    conn: &Connection,
    path: &Path,
    default_channel: &str,
) -> Result<Option<AdoptReport>, StoreError> {
    let adopt = if is_v05(conn)? {
        let rows = count_rows(conn)?;
        let backup = write_backup(conn, path)?;
        tracing::info!(path = %path.display(), backup = %backup.display(), "Adopting a Rosey v0.5 database.");
        Some(AdoptReport { backup, rows })
    } else {
        None
    };
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS rosey_migrations (
            version INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            applied_at INTEGER NOT NULL
        );",
    )
    .map_err(op("create rosey_migrations"))?;
    let current = current_version(conn)?;
    if current > SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew {
            found: current,
            supported: SCHEMA_VERSION,
        });
    }
    let quoted = quote(default_channel);
    for m in MIGRATIONS.iter().filter(|m| m.version > current) {
        let sql = m.sql.replace("{ch}", &quoted);
        let run = || -> rusqlite::Result<()> {
            conn.execute_batch("BEGIN IMMEDIATE")?;
            let r = (|| {
                conn.execute_batch(&sql)?;
                if m.version == 1 {
                    // The original seeded its single-row tables on creation.
                    let now = now_secs();
                    conn.execute(
                        "INSERT OR IGNORE INTO channel_stats (id, max_users, last_updated) VALUES (1, 0, ?1)",
                        [now],
                    )?;
                    conn.execute(
                        "INSERT OR IGNORE INTO current_status (id, last_updated) VALUES (1, ?1)",
                        [now],
                    )?;
                }
                conn.execute(
                    "INSERT INTO rosey_migrations (version, name, applied_at) VALUES (?1, ?2, ?3)",
                    params![m.version, m.name, now_secs()],
                )?;
                Ok(())
            })();
            match r {
                Ok(()) => conn.execute_batch("COMMIT"),
                Err(e) => {
                    let _ = conn.execute_batch("ROLLBACK");
                    Err(e)
                }
            }
        };
        run().map_err(|source| StoreError::Migration {
            version: m.version,
            name: m.name,
            source,
        })?;
        tracing::debug!(version = m.version, name = m.name, "Applied migration.");
    }
    Ok(adopt)
}

fn table_exists(conn: &Connection, name: &str) -> Result<bool, StoreError> {
    conn.query_row(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1",
        [name],
        |_| Ok(()),
    )
    .optional()
    .map(|o| o.is_some())
    .map_err(op("inspect schema"))
}

fn count_rows(conn: &Connection) -> Result<Vec<(String, i64)>, StoreError> {
    let mut rows = Vec::new();
    for t in V05_TABLES {
        if table_exists(conn, t)? {
            let n: i64 = conn
                .query_row(&format!("SELECT count(*) FROM {t}"), [], |r| r.get(0))
                .map_err(op("count v0.5 rows"))?;
            rows.push((t.to_string(), n));
        }
    }
    Ok(rows)
}

/// Writes a consistent copy of the database next to it and returns its path.
fn write_backup(conn: &Connection, path: &Path) -> Result<PathBuf, StoreError> {
    let file = path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_else(|| "bot_data.db".to_string());
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut backup = dir.join(format!("{file}.v0.5.bak"));
    if backup.exists() {
        backup = dir.join(format!("{file}.v0.5.{}.bak", now_secs()));
    }
    let target = backup.to_string_lossy().into_owned();
    conn.execute("VACUUM INTO ?1", [&target])
        .map_err(|e| StoreError::Backup {
            path: backup.clone(),
            reason: e.to_string(),
        })?;
    Ok(backup)
}

/// An SQL string literal.
pub(crate) fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_doubles_single_quotes() {
        assert_eq!(quote("a'b"), "'a''b'");
    }

    #[test]
    fn fresh_database_reaches_current_version_twice() {
        let conn = Connection::open_in_memory().unwrap();
        assert!(!is_v05(&conn).unwrap());
        assert!(
            migrate(&conn, Path::new(":memory:"), "c")
                .unwrap()
                .is_none()
        );
        assert_eq!(current_version(&conn).unwrap(), SCHEMA_VERSION);
        assert!(
            migrate(&conn, Path::new(":memory:"), "c")
                .unwrap()
                .is_none()
        );
        let n: i64 = conn
            .query_row("SELECT count(*) FROM rosey_migrations", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, SCHEMA_VERSION);
    }
}

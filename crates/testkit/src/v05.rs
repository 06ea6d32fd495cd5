//! The Rosey v0.5 fixture database: the original's schema (SPEC §7) with rows in every
//! table, as the store's adoption test and `rosey db copy`'s test use it.

use rusqlite::Connection;

/// The v0.5 schema as the original created it (a copy of SPEC §7, independent of the store
/// crate so the fixture cannot drift with it).
const V05_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS user_stats (username TEXT PRIMARY KEY, first_seen INTEGER NOT NULL,
    last_seen INTEGER NOT NULL, total_chat_lines INTEGER DEFAULT 0,
    total_time_connected INTEGER DEFAULT 0, current_session_start INTEGER);
CREATE TABLE IF NOT EXISTS user_actions (id INTEGER PRIMARY KEY AUTOINCREMENT,
    timestamp INTEGER NOT NULL, username TEXT NOT NULL, action_type TEXT NOT NULL, details TEXT);
CREATE TABLE IF NOT EXISTS channel_stats (id INTEGER PRIMARY KEY CHECK (id = 1),
    max_users INTEGER DEFAULT 0, max_users_timestamp INTEGER, max_connected INTEGER DEFAULT 0,
    max_connected_timestamp INTEGER, last_updated INTEGER);
CREATE TABLE IF NOT EXISTS user_count_history (id INTEGER PRIMARY KEY AUTOINCREMENT,
    timestamp INTEGER NOT NULL, chat_users INTEGER NOT NULL, connected_users INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS idx_user_count_timestamp ON user_count_history(timestamp);
CREATE TABLE IF NOT EXISTS recent_chat (id INTEGER PRIMARY KEY AUTOINCREMENT,
    timestamp INTEGER NOT NULL, username TEXT NOT NULL, message TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS idx_recent_chat_timestamp ON recent_chat(timestamp DESC);
CREATE TABLE IF NOT EXISTS current_status (id INTEGER PRIMARY KEY CHECK (id = 1), bot_name TEXT,
    bot_rank REAL, bot_afk INTEGER DEFAULT 0, channel_name TEXT,
    current_chat_users INTEGER DEFAULT 0, current_connected_users INTEGER DEFAULT 0,
    playlist_items INTEGER DEFAULT 0, current_media_title TEXT, current_media_duration INTEGER,
    bot_start_time INTEGER, bot_connected INTEGER DEFAULT 0, last_updated INTEGER);
CREATE TABLE IF NOT EXISTS outbound_messages (id INTEGER PRIMARY KEY AUTOINCREMENT,
    timestamp INTEGER NOT NULL, message TEXT NOT NULL, sent INTEGER DEFAULT 0,
    sent_timestamp INTEGER, retry_count INTEGER DEFAULT 0, last_error TEXT);
CREATE INDEX IF NOT EXISTS idx_outbound_sent ON outbound_messages(sent, timestamp);
CREATE TABLE IF NOT EXISTS api_tokens (token TEXT PRIMARY KEY, description TEXT,
    created_at INTEGER NOT NULL, last_used INTEGER, revoked INTEGER DEFAULT 0);
CREATE INDEX IF NOT EXISTS idx_api_tokens_revoked ON api_tokens(revoked, token);
";

/// Builds a database exactly as Rosey v0.5 did, with rows in every table.
pub fn create(path: &std::path::Path) {
    let c = Connection::open(path).unwrap();
    c.execute_batch(V05_SCHEMA).unwrap();
    c.execute_batch(
        "INSERT OR IGNORE INTO channel_stats (id, max_users, last_updated) VALUES (1, 0, 1);
         INSERT OR IGNORE INTO current_status (id, last_updated) VALUES (1, 1);",
    )
    .unwrap();
    c.execute_batch(
        "INSERT INTO user_stats VALUES ('alice', 100, 200, 42, 3600, NULL);
         INSERT INTO user_stats VALUES ('bob', 110, 300, 7, 60, 290);
         INSERT INTO user_actions (timestamp, username, action_type, details)
             VALUES (150, 'mod', 'pm_command', 'cmd=help, args: , result: success');
         UPDATE channel_stats SET max_users = 12, max_users_timestamp = 170,
             max_connected = 20, max_connected_timestamp = 171 WHERE id = 1;
         INSERT INTO user_count_history (timestamp, chat_users, connected_users) VALUES (180, 3, 5);
         INSERT INTO recent_chat (timestamp, username, message) VALUES (190, 'alice', 'hello');
         INSERT INTO recent_chat (timestamp, username, message) VALUES (191, 'bob', 'hi alice');
         UPDATE current_status SET bot_name = 'Rosey', bot_rank = 3.0, current_chat_users = 2,
             current_connected_users = 4 WHERE id = 1;
         INSERT INTO outbound_messages (timestamp, message, sent, retry_count)
             VALUES (195, 'queued line', 0, 0);
         INSERT INTO outbound_messages (timestamp, message, sent, sent_timestamp)
             VALUES (196, 'sent line', 1, 197);
         INSERT INTO api_tokens (token, description, created_at) VALUES ('tok', 'dash', 10);",
    )
    .unwrap();
}

//! The storage floor: what SQLite itself takes on this machine, in the same run, for the
//! rows a `message.log` burst writes — so ingest is judged as a fraction of it rather than
//! against a number set on another machine.
//!
//! A raw batched insert into the same schema (a file created by `rosey_store`, so every table
//! and index is the service's): per event one `processed_events` id and one `recent_chat`
//! row, per batch one `user_stats` upsert per user (what the service's fast path writes for
//! a durable burst); prepared statements, one transaction of
//! [`rosey_dbservice::config::DEFAULT_BATCH_MAX`] events per batch, SQLite's own settings of
//! the service's store (WAL, `synchronous=NORMAL`, its automatic checkpoint). No bus, no
//! decoding, no service. It must not share the file with the service: it runs on its own.

use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

use rosey_store::{Store, StoreOptions};
use rusqlite::params;
use serde::{Deserialize, Serialize};

use crate::error::BenchError;
use crate::stats::Spread;

/// Events per transaction: the service's largest batch, which its bursts reach.
pub const BATCH: usize = rosey_dbservice::config::DEFAULT_BATCH_MAX;
/// Users the rows cycle over (as the bursts do).
const USERS: usize = 100;

/// The floor, as reported.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StorageFloor {
    pub events_per_run: usize,
    pub batch: usize,
    /// Rows written per second (events: each is a `processed_events` id and a `recent_chat`
    /// row, with its user's counter).
    pub events_per_s: Spread,
}

/// `runs` raw bursts of `events` into a fresh database at `db`.
pub async fn measure(db: &Path, events: usize, runs: usize) -> Result<StorageFloor, BenchError> {
    let db = db.to_path_buf();
    let per_s = tokio::task::spawn_blocking(move || -> Result<Vec<f64>, BenchError> {
        let err = |e: String| BenchError::Database {
            path: db.clone(),
            detail: e,
        };
        // The same options the service's writer opens its store with, but SQLite's own
        // checkpoint: the floor is SQLite alone, without the service's checkpoint thread.
        let store = Store::open(&db, &StoreOptions::default()).map_err(|e| err(e.to_string()))?;
        let conn = store.connection();
        (0..runs)
            .map(|r| {
                let t = Instant::now();
                insert(conn, &format!("floor-{r}"), events).map_err(|e| err(e.to_string()))?;
                Ok(events as f64 / t.elapsed().as_secs_f64())
            })
            .collect()
    })
    .await
    .map_err(|e| BenchError::measurement("storage floor", e))??;
    Ok(StorageFloor {
        events_per_run: events,
        batch: BATCH,
        events_per_s: Spread::of(per_s)
            .ok_or_else(|| BenchError::measurement("storage floor", "no run"))?,
    })
}

/// Writes `events` rows of `channel` in transactions of [`BATCH`].
fn insert(conn: &rusqlite::Connection, channel: &str, events: usize) -> rusqlite::Result<()> {
    let ts = rosey_store::now_secs();
    let mut start = 0;
    while start < events {
        let end = (start + BATCH).min(events);
        let tx = conn.unchecked_transaction()?;
        {
            let mut id = tx.prepare_cached(
                "INSERT OR IGNORE INTO processed_events (event_id, ts) VALUES (?1, ?2)",
            )?;
            let mut chat = tx.prepare_cached(
                "INSERT INTO recent_chat (timestamp, username, message, channel) \
                 VALUES (?1, ?2, ?3, ?4)",
            )?;
            let mut lines: HashMap<usize, i64> = HashMap::with_capacity(USERS);
            for i in start..end {
                let user = i % USERS;
                id.execute(params![format!("{channel}-{i}"), ts])?;
                chat.execute(params![
                    ts,
                    format!("user{user}"),
                    format!("burst line {i}"),
                    channel
                ])?;
                *lines.entry(user).or_default() += 1;
            }
            let mut users = tx.prepare_cached(
                "INSERT INTO user_stats (channel, username, first_seen, last_seen, \
                 total_chat_lines, total_time_connected, current_session_start) \
                 VALUES (?1, ?2, ?3, ?3, ?4, 0, NULL) \
                 ON CONFLICT (channel, username) DO UPDATE SET \
                   total_chat_lines = coalesce(total_chat_lines, 0) + excluded.total_chat_lines, \
                   last_seen = max(last_seen, excluded.last_seen)",
            )?;
            let mut by_user: Vec<_> = lines.into_iter().collect();
            by_user.sort_unstable();
            for (user, n) in by_user {
                users.execute(params![channel, format!("user{user}"), ts, n])?;
            }
        }
        tx.commit()?;
        start = end;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_floor_writes_every_row_once() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("floor.db");
        let f = measure(&db, BATCH + 10, 2).await.unwrap();
        assert_eq!(f.events_per_s.runs.len(), 2);
        assert!(f.events_per_s.min > 0.0);
        let s = Store::open_read_only(&db, &StoreOptions::default()).unwrap();
        let count = |sql: &str| -> i64 { s.connection().query_row(sql, [], |r| r.get(0)).unwrap() };
        assert_eq!(
            count("SELECT count(*) FROM recent_chat"),
            2 * (BATCH as i64 + 10)
        );
        assert_eq!(
            count("SELECT count(*) FROM processed_events"),
            2 * (BATCH as i64 + 10)
        );
        assert_eq!(
            count("SELECT sum(total_chat_lines) FROM user_stats WHERE channel = 'floor-1'"),
            BATCH as i64 + 10
        );
    }
}

//! Periodic maintenance: retention (SPEC §7) and closing open sessions.
//!
//! Retention deletes in bounded batches (each its own short transaction) so that the writer
//! interleaves it with ingest instead of holding the write lock for one long delete. It is
//! called periodically by the service, never per insert (the original trimmed `recent_chat`
//! on every insert).

use std::time::Duration;

use rusqlite::params;

use crate::{Store, StoreError, error::op};

/// How long rows are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retention {
    pub recent_chat: Duration,
    pub user_count_history: Duration,
    /// Sent (or permanently failed) outbound messages.
    pub sent_outbound: Duration,
    /// Processed event ids (the de-duplication window).
    pub processed_events: Duration,
    /// Rows deleted per transaction.
    pub batch: i64,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            recent_chat: Duration::from_secs(150 * 3600),
            user_count_history: Duration::from_secs(30 * 24 * 3600),
            sent_outbound: Duration::from_secs(7 * 24 * 3600),
            processed_events: Duration::from_secs(7 * 24 * 3600),
            batch: 1_000,
        }
    }
}

/// Rows removed by one maintenance pass.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MaintenanceReport {
    pub recent_chat: usize,
    pub user_count_history: usize,
    pub sent_outbound: usize,
    pub processed_events: usize,
    /// True when a table still had old rows after `max_batches` batches.
    pub more: bool,
}

impl Store {
    /// Deletes rows older than `retention` allows, at most `max_batches` batches per table.
    pub fn maintenance(
        &mut self,
        now: i64,
        retention: &Retention,
        max_batches: usize,
    ) -> Result<MaintenanceReport, StoreError> {
        let cutoff = |d: Duration| now - d.as_secs() as i64;
        let mut report = MaintenanceReport::default();
        let batch = retention.batch.max(1);
        let jobs: [(&str, i64, &mut usize); 4] = [
            (
                "DELETE FROM recent_chat WHERE id IN
                   (SELECT id FROM recent_chat WHERE timestamp < ?1 LIMIT ?2)",
                cutoff(retention.recent_chat),
                &mut report.recent_chat,
            ),
            (
                "DELETE FROM user_count_history WHERE id IN
                   (SELECT id FROM user_count_history WHERE timestamp < ?1 LIMIT ?2)",
                cutoff(retention.user_count_history),
                &mut report.user_count_history,
            ),
            (
                "DELETE FROM outbound_messages WHERE id IN
                   (SELECT id FROM outbound_messages
                    WHERE sent = 1 AND timestamp < ?1
                      AND coalesce(sent_timestamp, timestamp) < ?1 LIMIT ?2)",
                cutoff(retention.sent_outbound),
                &mut report.sent_outbound,
            ),
            // `ts` is the service clock at processing, so it grows with `seq`: the oldest
            // rows are the first ones in rowid order and the scan stops at the first young one.
            (
                "DELETE FROM processed_events WHERE seq IN
                   (SELECT seq FROM processed_events WHERE ts < ?1 ORDER BY seq LIMIT ?2)",
                cutoff(retention.processed_events),
                &mut report.processed_events,
            ),
        ];
        let mut more = false;
        for (sql, cut, counter) in jobs {
            for i in 0..max_batches {
                let n = self
                    .conn
                    .prepare_cached(sql)
                    .map_err(op("retention"))?
                    .execute(params![cut, batch])
                    .map_err(op("retention"))?;
                *counter += n;
                if (n as i64) < batch {
                    break;
                }
                if i + 1 == max_batches {
                    more = true;
                }
            }
        }
        report.more = more;
        Ok(report)
    }

    /// Closes every open session at `now`: adds its time and clears its start (on shutdown).
    /// Returns how many sessions were closed.
    pub fn close_open_sessions(&mut self, now: i64) -> Result<usize, StoreError> {
        self.conn
            .execute(
                "UPDATE user_stats SET
                   total_time_connected = coalesce(total_time_connected, 0)
                                          + max(0, ?1 - current_session_start),
                   last_seen = max(last_seen, ?1),
                   current_session_start = NULL
                 WHERE current_session_start IS NOT NULL",
                [now],
            )
            .map_err(op("close open sessions"))
    }

    /// Checkpoints the WAL into the main file (on shutdown, so the file alone is complete).
    pub fn checkpoint(&self) -> Result<(), StoreError> {
        self.conn
            .execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
            .map_err(op("checkpoint"))
    }

    /// Copies what the WAL holds beyond the last checkpoint, from the writer's own
    /// connection, so nothing can be appended meanwhile: right after a [`crate::Checkpointer`]
    /// pass that is a few pages, and the WAL is then wholly copied, so the next commit starts
    /// it again from the beginning instead of growing it. Under steady single-line commits a
    /// checkpoint on another connection never gets there by itself (every pass ends behind
    /// the commits made while it copied). Returns (WAL frames, frames checkpointed).
    pub fn finish_checkpoint(&self) -> Result<(i64, i64), StoreError> {
        crate::passive_checkpoint(&self.conn)
    }
}

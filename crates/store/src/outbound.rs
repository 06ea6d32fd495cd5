//! The outbound message queue (`outbound_messages`): what `rosey say` and other services
//! enqueue and the bot sends, with retries.
//!
//! A message is due when unsent, `retry_count < max_retries`, and — after `n` failures —
//! at least `2^n` minutes have passed since it was enqueued (SPEC §3.2). A permanent failure
//! marks it sent with its error (status "failed"), so it is never sent again.

use rosey_model::payload::OutboundRow;
use rusqlite::{OptionalExtension, params};

use crate::ingest::{SQL_MARK_FAILED, SQL_MARK_SENT};
use crate::query::clamp_limit;
use crate::{Store, StoreError, error::op};

/// The status users see, derived from the row (SPEC §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboundStatus {
    Queued,
    Retrying,
    Sent,
    Failed,
    Abandoned,
}

impl OutboundStatus {
    /// Derives the status from the row's fields.
    pub fn derive(sent: bool, retry_count: i64, last_error: Option<&str>) -> Self {
        match (sent, last_error.is_some()) {
            (true, false) => OutboundStatus::Sent,
            (true, true) => OutboundStatus::Failed,
            (false, _) if retry_count >= 3 => OutboundStatus::Abandoned,
            (false, _) if retry_count > 0 => OutboundStatus::Retrying,
            _ => OutboundStatus::Queued,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            OutboundStatus::Queued => "queued",
            OutboundStatus::Retrying => "retrying",
            OutboundStatus::Sent => "sent",
            OutboundStatus::Failed => "failed",
            OutboundStatus::Abandoned => "abandoned",
        }
    }
}

impl Store {
    /// Queues `message` for `channel` at time `now`; returns its id.
    pub fn enqueue(&mut self, channel: &str, message: &str, now: i64) -> Result<i64, StoreError> {
        self.conn
            .prepare_cached(
                "INSERT INTO outbound_messages (timestamp, message, sent, retry_count, channel)
                 VALUES (?1, ?2, 0, 0, ?3)",
            )
            .map_err(op("enqueue"))?
            .execute(params![now, message, channel])
            .map_err(op("enqueue"))?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Due messages of `channel`, oldest first (see the module doc).
    pub fn due(
        &self,
        channel: &str,
        limit: i64,
        max_retries: i64,
        now: i64,
    ) -> Result<Vec<OutboundRow>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT id, timestamp, message, coalesce(retry_count, 0), last_error
                 FROM outbound_messages
                 WHERE channel = ?1 AND coalesce(sent, 0) = 0
                   AND coalesce(retry_count, 0) < ?2
                   AND (coalesce(retry_count, 0) <= 0
                        OR timestamp + (1 << min(retry_count, 40)) * 60 <= ?3)
                 ORDER BY timestamp, id LIMIT ?4",
            )
            .map_err(op("outbound due"))?;
        let rows = stmt
            .query_map(
                params![channel, max_retries, now, clamp_limit(limit)],
                |r| {
                    Ok(OutboundRow {
                        id: r.get(0)?,
                        timestamp: r.get(1)?,
                        message: r.get(2)?,
                        retry_count: r.get(3)?,
                        last_error: r.get(4)?,
                    })
                },
            )
            .map_err(op("outbound due"))?;
        rows.collect::<Result<_, _>>().map_err(op("outbound due"))
    }

    /// Marks a message sent at `now`. Returns false when no such message exists.
    pub fn mark_sent(&mut self, message_id: i64, now: i64) -> Result<bool, StoreError> {
        let n = self
            .conn
            .prepare_cached(SQL_MARK_SENT)
            .map_err(op("mark_sent"))?
            .execute(params![message_id, now])
            .map_err(op("mark_sent"))?;
        Ok(n > 0)
    }

    /// Records a failed attempt; `permanent` also marks it sent (status "failed").
    pub fn mark_failed(
        &mut self,
        message_id: i64,
        error: &str,
        permanent: bool,
        now: i64,
    ) -> Result<bool, StoreError> {
        let n = self
            .conn
            .prepare_cached(SQL_MARK_FAILED)
            .map_err(op("mark_failed"))?
            .execute(params![message_id, error, permanent, now])
            .map_err(op("mark_failed"))?;
        Ok(n > 0)
    }

    /// The derived status of one message, if it exists.
    pub fn outbound_status(&self, message_id: i64) -> Result<Option<OutboundStatus>, StoreError> {
        self.conn
            .query_row(
                "SELECT coalesce(sent, 0), coalesce(retry_count, 0), last_error
                 FROM outbound_messages WHERE id = ?1",
                [message_id],
                |r| {
                    Ok(OutboundStatus::derive(
                        r.get::<_, i64>(0)? != 0,
                        r.get(1)?,
                        r.get::<_, Option<String>>(2)?.as_deref(),
                    ))
                },
            )
            .optional()
            .map_err(op("outbound status"))
    }
}

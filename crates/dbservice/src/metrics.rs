//! The database service's Prometheus metrics: the instruments the hot path updates (atomics
//! only, indexed by event kind or endpoint) and the [`Source`] that writes them, with the
//! older [`Counters`](crate::Counters), at scrape time.
//!
//! Families (all `rosey_db_*`): events received / applied per `kind`, rejected per `reason`,
//! duplicates; batch size and commit duration histograms; writer queue depth; query duration
//! and errors per `endpoint`, replies served from the reply cache; durable mode: consumer pending, ack pending, redeliveries; WAL
//! checkpoint duration; store size in bytes.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use rosey_metrics::histogram::{DURATION_BUCKETS, SIZE_BUCKETS};
use rosey_metrics::{Histogram, LabeledCounters, Out, Source};
#[allow(unused_imports)]
use rosey_store::EventKind;
use tokio::sync::mpsc;

use crate::counters::Counters;
use crate::query::ENDPOINTS;

/// Event kinds, in the order of [`EventKind::index`] (their [`EventKind::name`]).
pub const EVENT_KINDS: &[&str] = &[
    "user_joined",
    "user_left",
    "message",
    "user_count",
    "high_water",
    "status",
    "mark_sent",
    "mark_failed",
    "pm_command",
    "media_played",
    "moderation",
    "media_ended",
];

/// Rejection reasons exported even before the first one happens.
pub const REJECT_REASONS: &[&str] = &[
    "too_large",
    "malformed_json",
    "bad_field",
    "empty_message",
    "empty_username",
    "unknown_end_reason",
    "unknown_subject",
    "bad_batch",
    "bad_request",
    "store_error",
];

/// Query endpoints, in the order of [`ENDPOINTS`].
pub const ENDPOINT_NAMES: &[&str] = &[
    "outbound_get",
    "recent_chat_get",
    "channel_stats",
    "user_stats",
    "user_count_history",
    "outbound_enqueue",
];

/// The position of a request subject in [`ENDPOINT_NAMES`].
pub fn endpoint_index(subject: &str) -> Option<usize> {
    ENDPOINTS.iter().position(|(s, _)| *s == subject)
}

/// What the hot path updates.
#[derive(Debug)]
pub struct Instruments {
    pub received: LabeledCounters,
    pub applied: LabeledCounters,
    pub batch_size: Histogram,
    pub commit_seconds: Histogram,
    pub checkpoint_seconds: Histogram,
    pub query_seconds: Vec<Histogram>,
    pub query_errors: LabeledCounters,
    /// Durable mode: messages left in the stream for the consumer (from the last delivery).
    pub durable_pending: AtomicU64,
}

impl Default for Instruments {
    fn default() -> Self {
        Instruments {
            received: LabeledCounters::new(EVENT_KINDS),
            applied: LabeledCounters::new(EVENT_KINDS),
            batch_size: Histogram::new(SIZE_BUCKETS),
            commit_seconds: Histogram::new(DURATION_BUCKETS),
            checkpoint_seconds: Histogram::new(DURATION_BUCKETS),
            query_seconds: ENDPOINT_NAMES
                .iter()
                .map(|_| Histogram::new(DURATION_BUCKETS))
                .collect(),
            query_errors: LabeledCounters::new(ENDPOINT_NAMES),
            durable_pending: AtomicU64::new(0),
        }
    }
}

/// The service's metrics at scrape time.
pub(crate) struct DbSource {
    pub counters: Arc<Counters>,
    pub writer: mpsc::WeakSender<crate::writer::WriterMsg>,
    pub queue_capacity: usize,
    /// The SQLite file (`None` for a database server, whose size is not ours to report).
    pub db_path: Option<PathBuf>,
    pub durable: bool,
}

fn file_len(path: &std::path::Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

/// `(available, size)` in bytes of the file system holding `path` (its directory when the
/// file is not there yet).
fn filesystem(path: &std::path::Path) -> Option<(u64, u64)> {
    let probe = match path.parent() {
        _ if path.exists() => path,
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => std::path::Path::new("."),
    };
    let s = nix::sys::statvfs::statvfs(probe).ok()?;
    let unit = s.fragment_size() as u64;
    Some((s.blocks_available() as u64 * unit, s.blocks() as u64 * unit))
}

fn with_suffix(path: &std::path::Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

impl Source for DbSource {
    fn collect(&self, out: &mut Out<'_>) -> fmt::Result {
        let c = &self.counters;
        let m = &c.metrics;
        let stats = c.snapshot();
        out.counter(
            "rosey_db_events_received",
            "Events received on rosey.db.* event subjects, by kind (decoded ones).",
            m.received.iter().map(|(k, v)| ([("kind", k)], v)),
        )?;
        out.counter(
            "rosey_db_events_applied",
            "Events whose effect was committed to the store, by kind.",
            m.applied.iter().map(|(k, v)| ([("kind", k)], v)),
        )?;
        // Every known reason, at 0 until it happens (so dashboards and alerts see the series).
        let mut rejected = stats.rejected.clone();
        for r in REJECT_REASONS {
            rejected.entry(r.to_string()).or_insert(0);
        }
        out.counter(
            "rosey_db_events_rejected",
            "Rejected input by reason (malformed_json, bad_field, empty_message, store_error, ...).",
            rejected.iter().map(|(r, v)| ([("reason", r.as_str())], *v)),
        )?;
        out.counter_value(
            "rosey_db_events_duplicate",
            "Events skipped because their id was already stored.",
            stats.duplicates,
        )?;
        out.counter_value("rosey_db_batches", "Committed transactions.", stats.batches)?;
        out.histogram_value(
            "rosey_db_batch_size",
            "Events per committed batch.",
            &m.batch_size,
        )?;
        out.histogram_value(
            "rosey_db_commit_duration_seconds",
            "Time to apply and commit one batch.",
            &m.commit_seconds,
        )?;
        out.histogram_value(
            "rosey_db_checkpoint_duration_seconds",
            "Time of one passive WAL checkpoint.",
            &m.checkpoint_seconds,
        )?;
        let depth = self
            .writer
            .upgrade()
            .map(|tx| self.queue_capacity.saturating_sub(tx.capacity()))
            .unwrap_or(0);
        out.gauge_value(
            "rosey_db_writer_queue_depth",
            "Items waiting for the writer thread.",
            depth as i64,
        )?;
        out.gauge_value(
            "rosey_db_writer_queue_capacity",
            "Bound of the writer queue (backpressure above it).",
            self.queue_capacity as i64,
        )?;
        out.histogram(
            "rosey_db_query_duration_seconds",
            "Time to answer one request, by endpoint.",
            ENDPOINT_NAMES
                .iter()
                .zip(&m.query_seconds)
                .map(|(e, h)| ([("endpoint", *e)], h)),
        )?;
        out.counter_value(
            "rosey_db_query_cache_hits",
            "Requests answered with the reply kept since the last commit (no query run).",
            stats.query_cache_hits,
        )?;
        out.counter_value(
            "rosey_db_checkpoints_finished",
            "WAL checkpoints finished by the writer so that a steadily written WAL starts over.",
            stats.checkpoints_finished,
        )?;
        out.counter(
            "rosey_db_query_errors",
            "Requests answered with {success:false}, by endpoint.",
            m.query_errors.iter().map(|(e, v)| ([("endpoint", e)], v)),
        )?;
        if let Some(path) = &self.db_path {
            let size = file_len(path)
                + file_len(&with_suffix(path, "-wal"))
                + file_len(&with_suffix(path, "-shm"));
            out.gauge_value(
                "rosey_db_store_size_bytes",
                "Size of the database files (main, WAL, shared memory).",
                size as i64,
            )?;
            if let Some((avail, total)) = filesystem(path) {
                out.gauge_value(
                    "rosey_db_filesystem_avail_bytes",
                    "Space left for the database files on their file system (unprivileged).",
                    avail as i64,
                )?;
                out.gauge_value(
                    "rosey_db_filesystem_size_bytes",
                    "Size of the file system holding the database files.",
                    total as i64,
                )?;
            }
        }
        // Exported in plain mode too (at 0), so one dashboard fits both modes.
        out.gauge_value(
            "rosey_db_durable_pending",
            "Durable mode: messages in the stream not yet delivered to this consumer.",
            m.durable_pending.load(Relaxed) as i64,
        )?;
        let in_flight = if self.durable {
            stats.received.saturating_sub(stats.acked)
        } else {
            0
        };
        out.gauge_value(
            "rosey_db_durable_ack_pending",
            "Durable mode: messages received by this instance and not yet acknowledged.",
            in_flight as i64,
        )?;
        out.counter_value(
            "rosey_db_durable_redeliveries",
            "Durable mode: messages delivered more than once.",
            stats.redelivered,
        )?;
        out.counter_value(
            "rosey_db_durable_acks",
            "Durable mode: events settled by an acknowledgement sent (a batch message settles all of its events).",
            stats.acked,
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_names_follow_the_endpoint_table() {
        let names: Vec<&str> = ENDPOINTS.iter().map(|(_, n)| *n).collect();
        assert_eq!(names, ENDPOINT_NAMES);
    }
}

//! Counters of what the service did and rejected, and "log once per kind".
//!
//! Rejections are counted per kind (`too_large`, `malformed_json`, `bad_field`,
//! `empty_message`, `empty_username`, `unknown_subject`, `store_error`); the first of each
//! kind is logged at WARN with its detail, later ones only at DEBUG, so a misbehaving
//! publisher cannot flood the log. The counts appear in [`ServiceStats`] and in the
//! micro-service `$SRV.STATS` data.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

/// Live counters, shared by the service's tasks.
#[derive(Debug, Default)]
pub struct Counters {
    pub received: AtomicU64,
    pub applied: AtomicU64,
    pub duplicates: AtomicU64,
    pub batches: AtomicU64,
    pub queries: AtomicU64,
    pub query_errors: AtomicU64,
    pub query_cache_hits: AtomicU64,
    pub maintenance_runs: AtomicU64,
    pub sessions_closed: AtomicU64,
    pub checkpoints_finished: AtomicU64,
    pub acked: AtomicU64,
    pub redelivered: AtomicU64,
    /// The Prometheus instruments (per kind, per endpoint, histograms).
    pub metrics: crate::metrics::Instruments,
    // A std Mutex: held for a map update only, never across an await.
    rejected: Mutex<BTreeMap<&'static str, u64>>,
    /// Why the last batch could not be committed at all (a full disk…), until one commits
    /// again: the service is not ready meanwhile.
    store_failure: Mutex<Option<String>>,
}

impl Counters {
    /// Records why commits fail (`None`: they succeed again).
    pub(crate) fn set_store_failure(&self, reason: Option<String>) {
        *self.store_failure.lock().unwrap_or_else(|e| e.into_inner()) = reason;
    }

    /// Why commits fail right now, if they do.
    pub fn store_failure(&self) -> Option<String> {
        self.store_failure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// A snapshot of [`Counters`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ServiceStats {
    /// Event messages received on `rosey.db.*` event subjects.
    pub received: u64,
    /// Events whose effect was committed.
    pub applied: u64,
    /// Events skipped because their id was already processed.
    pub duplicates: u64,
    /// Committed transactions.
    pub batches: u64,
    /// Requests answered (successfully or with an error reply).
    pub queries: u64,
    /// Requests answered with `{success:false}`.
    pub query_errors: u64,
    /// Requests answered with a reply kept since the last commit (no query run).
    pub query_cache_hits: u64,
    pub maintenance_runs: u64,
    /// Sessions closed at shutdown.
    pub sessions_closed: u64,
    /// WAL checkpoints the writer finished after a pass of the checkpoint thread left a
    /// large WAL (under steady commits; then the WAL starts over).
    pub checkpoints_finished: u64,
    /// Durable mode: events whose stream message was acknowledged (after the commit, or
    /// `+TERM` for a rejected message; a batch settles all of its events with one
    /// acknowledgement).
    pub acked: u64,
    /// Durable mode: messages delivered more than once (after a crash or an expired ack wait).
    pub redelivered: u64,
    /// Rejected input by kind.
    pub rejected: BTreeMap<String, u64>,
}

impl ServiceStats {
    /// Rejections of one kind.
    pub fn rejected(&self, kind: &str) -> u64 {
        self.rejected.get(kind).copied().unwrap_or(0)
    }
}

impl Counters {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Counts a rejection; logs the first of each kind at WARN.
    pub fn reject(&self, kind: &'static str, subject: &str, detail: &str) {
        let first = {
            let mut map = self.rejected.lock().unwrap_or_else(|e| e.into_inner());
            let n = map.entry(kind).or_insert(0);
            *n += 1;
            *n == 1
        };
        if first {
            tracing::warn!(
                kind,
                subject,
                detail,
                "Rejected input (first of its kind; further ones are only counted)."
            );
        } else {
            tracing::debug!(kind, subject, detail, "Rejected input.");
        }
    }

    /// A consistent-enough snapshot (each counter is read atomically).
    pub fn snapshot(&self) -> ServiceStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        ServiceStats {
            received: get(&self.received),
            applied: get(&self.applied),
            duplicates: get(&self.duplicates),
            batches: get(&self.batches),
            queries: get(&self.queries),
            query_errors: get(&self.query_errors),
            maintenance_runs: get(&self.maintenance_runs),
            sessions_closed: get(&self.sessions_closed),
            checkpoints_finished: get(&self.checkpoints_finished),
            acked: get(&self.acked),
            query_cache_hits: get(&self.query_cache_hits),
            redelivered: get(&self.redelivered),
            rejected: self
                .rejected
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
                .map(|(k, v)| (k.to_string(), *v))
                .collect(),
        }
    }
}

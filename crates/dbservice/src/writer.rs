//! The single writer: one OS thread that owns the read-write store and commits events in
//! batches.
//!
//! Why a dedicated thread: SQLite calls block, and a batch commit can take milliseconds (a
//! WAL checkpoint). Running them on an async worker would stall the bus; `spawn_blocking`
//! per batch would move the `Store` back and forth. The thread reads a bounded tokio channel
//! with `blocking_recv`, so producers feel backpressure (`send().await` waits) when SQLite
//! falls behind, and memory stays bounded.
//!
//! Batching: after the first waiting event, the writer takes whatever else is already
//! queued, up to `batch_max` events or `batch_delay` of collecting, and commits once. Idle,
//! each event commits at once (lowest latency); in a burst the queue fills and batches grow
//! to `batch_max` by themselves (one commit per batch).
//!
//! Maintenance (retention) runs between commits, one bounded step at a time (see
//! `Writer::maintain_step`), so a pass with much to delete never holds up ingest for more
//! than one step.
//!
//! Acknowledgement: an [`IngestItem`] may carry an [`Ack`] callback, called after the commit
//! that covered it (durable mode acks JetStream then; plain mode has none).

use std::time::{Duration, Instant};

use rosey_store::{BatchOutcome, Retention, Storage, StoreError, StoreEvent, now_secs};
use tokio::sync::{mpsc, oneshot};

use crate::counters::Counters;
use std::sync::Arc;

/// What happened to an acknowledged event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckOutcome {
    /// Committed, or skipped as a duplicate of a committed event: nothing to retry.
    Committed,
    /// Its statements failed; the rest of the batch was committed.
    Failed,
}

/// Called once per event after its batch is committed.
pub type Ack = Box<dyn FnOnce(AckOutcome) + Send>;

/// One event for the writer, with an optional acknowledgement.
pub struct IngestItem {
    pub event: StoreEvent,
    pub ack: Option<Ack>,
}

impl IngestItem {
    pub fn new(event: StoreEvent) -> Self {
        IngestItem { event, ack: None }
    }
}

/// A write run on the writer's store ([`WriterMsg::Call`]); it sends its own result back.
pub(crate) type StoreCall = Box<dyn FnOnce(&mut dyn Storage) + Send>;

pub(crate) enum WriterMsg {
    Event(IngestItem),
    Enqueue {
        channel: String,
        message: String,
        reply: oneshot::Sender<Result<i64, String>>,
    },
    /// Answered once everything queued before it is committed.
    Flush(oneshot::Sender<()>),
    /// A write of another module on the writer's store, in order with the events (the
    /// dashboard's tokens, the plugin key-value store's set/delete).
    Call(StoreCall),
    Maintain,
    /// Copy the rest of the WAL between two commits, after the checkpoint thread's pass
    /// left a large one (see `Storage::finish_checkpoint`).
    FinishCheckpoint,
    /// Commit what is queued, close open sessions (unless told not to: a replay leaves them to
    /// the live service), checkpoint, stop.
    Close {
        close_sessions: bool,
        reply: oneshot::Sender<Result<usize, String>>,
    },
}

/// A cloneable way to feed events to the writer (the bus consumer uses it; a JetStream
/// consumer can too).
#[derive(Clone)]
pub struct IngestSender {
    pub(crate) tx: mpsc::Sender<WriterMsg>,
}

impl IngestSender {
    /// Queues an event, waiting while the writer's queue is full (backpressure).
    pub async fn send(&self, item: IngestItem) -> Result<(), crate::DbServiceError> {
        self.tx
            .send(WriterMsg::Event(item))
            .await
            .map_err(|_| crate::DbServiceError::WriterGone)
    }

    /// Waits until everything queued before this call is committed.
    pub async fn flush(&self) -> Result<(), crate::DbServiceError> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(WriterMsg::Flush(tx))
            .await
            .map_err(|_| crate::DbServiceError::WriterGone)?;
        rx.await.map_err(|_| crate::DbServiceError::WriterGone)
    }
}

pub(crate) struct WriterConfig {
    pub batch_max: usize,
    pub batch_delay: Duration,
    pub retention: Retention,
    pub maintenance_batches: usize,
}

/// Starts the writer thread.
pub(crate) fn spawn(
    store: Box<dyn Storage>,
    rx: mpsc::Receiver<WriterMsg>,
    cfg: WriterConfig,
    counters: Arc<Counters>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("rosey-db-writer".into())
        .spawn(move || {
            Writer {
                store,
                cfg,
                counters,
                maintenance_left: 0,
                commits_since_step: 0,
                failing: Failing::default(),
            }
            .run(rx)
        })
}

struct Writer {
    store: Box<dyn Storage>,
    cfg: WriterConfig,
    counters: Arc<Counters>,
    /// Retention steps left in the current maintenance pass (see [`Writer::maintain_step`]).
    maintenance_left: usize,
    /// Commits since the last retention step (a step also runs while events keep coming).
    commits_since_step: usize,
    failing: Failing,
}

/// How often a database that keeps refusing commits is logged.
const FAILURE_LOG_EVERY: Duration = Duration::from_secs(60);

/// Whole batches the database refused since the last commit, and when that was last logged:
/// a full disk is one ERROR line a minute and one line when commits succeed again, whatever
/// the event rate (durable mode: the events stay in the stream and are retried).
#[derive(Default)]
struct Failing {
    since: Option<Instant>,
    logged: Option<Instant>,
    batches: u64,
    events: u64,
}

impl Failing {
    fn failed(&mut self, counters: &Counters, e: &StoreError, events: usize) {
        let now = Instant::now();
        self.since.get_or_insert(now);
        self.batches += 1;
        self.events += events as u64;
        counters.set_store_failure(Some(e.to_string()));
        if self
            .logged
            .is_none_or(|t| now.duration_since(t) >= FAILURE_LOG_EVERY)
        {
            self.logged = Some(now);
            tracing::error!(
                error = %e,
                batches = self.batches,
                events = self.events,
                "Batches cannot be committed (not ready; durable mode keeps the events in the stream and retries them)."
            );
        }
    }

    fn recovered(&mut self, counters: &Counters) {
        if let Some(since) = self.since.take() {
            counters.set_store_failure(None);
            tracing::warn!(
                failed_for_secs = since.elapsed().as_secs(),
                batches = self.batches,
                events = self.events,
                "Commits succeed again."
            );
            *self = Failing::default();
        }
    }
}

/// Commits after which a pending retention step runs even though events are waiting.
const STEP_EVERY_COMMITS: usize = 16;
/// Rows one retention step deletes per table, at most: a chat line that arrives during a step
/// waits for it, so a step is kept to about a millisecond (a 1,000-row delete from
/// `recent_chat` and its three indexes took several). A pass takes proportionally more steps,
/// so it still deletes `maintenance_batches` × `Retention::batch` rows per table.
const STEP_ROWS: i64 = 100;

impl Writer {
    fn run(mut self, mut rx: mpsc::Receiver<WriterMsg>) {
        let mut events: Vec<StoreEvent> = Vec::with_capacity(self.cfg.batch_max);
        let mut acks: Vec<(usize, Ack)> = Vec::new();
        let mut pending: Option<WriterMsg> = None;
        loop {
            // A maintenance pass runs step by step between commits: one bounded delete per
            // table, then whatever events arrived meanwhile, so ingest never waits for a
            // whole pass.
            if self.maintenance_left > 0
                && pending.is_none()
                && (rx.is_empty() || self.commits_since_step >= STEP_EVERY_COMMITS)
            {
                self.maintain_step();
                continue;
            }
            let msg = match pending.take() {
                Some(m) => m,
                None => match rx.blocking_recv() {
                    Some(m) => m,
                    None => {
                        // Every sender is gone without a Close: still close sessions.
                        if let Err(e) = self.close() {
                            tracing::warn!(error = %e, "Closing open sessions failed.");
                        }
                        return;
                    }
                },
            };
            match msg {
                WriterMsg::Event(first) => {
                    push(&mut events, &mut acks, first);
                    let started = Instant::now();
                    while events.len() < self.cfg.batch_max {
                        match rx.try_recv() {
                            Ok(WriterMsg::Event(item)) => push(&mut events, &mut acks, item),
                            Ok(other) => {
                                pending = Some(other);
                                break;
                            }
                            Err(_) => break,
                        }
                        if started.elapsed() >= self.cfg.batch_delay {
                            break;
                        }
                    }
                    self.commit(&mut events, &mut acks);
                    events.clear();
                }
                WriterMsg::Enqueue {
                    channel,
                    message,
                    reply,
                } => {
                    let r = self
                        .with_retry(|s| s.enqueue(&channel, &message, now_secs()))
                        .map_err(|e| e.to_string());
                    let _ = reply.send(r);
                }
                WriterMsg::Flush(reply) => {
                    let _ = reply.send(());
                }
                WriterMsg::Call(f) => f(&mut *self.store),
                WriterMsg::FinishCheckpoint => {
                    let started = Instant::now();
                    match self.store.finish_checkpoint() {
                        Ok(()) => {
                            Counters::add(&self.counters.checkpoints_finished, 1);
                            self.counters
                                .metrics
                                .checkpoint_seconds
                                .observe_duration(started.elapsed());
                        }
                        Err(e) => tracing::debug!(error = %e, "Finishing a checkpoint failed."),
                    }
                }
                WriterMsg::Maintain => {
                    if self.maintenance_left == 0 {
                        let per_batch = (self.cfg.retention.batch.max(1) / self.step_rows()).max(1);
                        self.maintenance_left =
                            self.cfg.maintenance_batches.max(1) * per_batch as usize;
                    }
                }
                WriterMsg::Close {
                    close_sessions,
                    reply,
                } => {
                    // Events that raced with the close are still committed.
                    while let Ok(m) = rx.try_recv() {
                        if let WriterMsg::Event(item) = m {
                            push(&mut events, &mut acks, item);
                            if events.len() >= self.cfg.batch_max {
                                self.commit(&mut events, &mut acks);
                                events.clear();
                            }
                        }
                    }
                    self.commit(&mut events, &mut acks);
                    let closed = if close_sessions {
                        self.close()
                    } else {
                        self.checkpoint();
                        Ok(0)
                    };
                    let _ = reply.send(closed);
                    return;
                }
            }
        }
    }

    /// Commits a batch, retrying while the database is locked by another process.
    fn commit(&mut self, events: &mut [StoreEvent], acks: &mut Vec<(usize, Ack)>) {
        if events.is_empty() {
            return;
        }
        let started = Instant::now();
        self.commits_since_step += 1;
        let outcome = match self.with_retry(|s| s.apply_batch(events)) {
            Ok(o) => {
                self.failing.recovered(&self.counters);
                o
            }
            Err(e) => {
                // Not a bad event (those are isolated inside the batch): the database itself
                // refused the transaction after retries (a full disk…). Count every event of
                // it; log once a minute, not per batch.
                self.failing.failed(&self.counters, &e, events.len());
                for _ in 0..events.len() {
                    self.counters.reject("store_error", "", &e.to_string());
                }
                BatchOutcome {
                    failed: (0..events.len())
                        .map(|index| rosey_store::EventFailure {
                            index,
                            kind: events[index].kind.name(),
                            error: e.to_string(),
                        })
                        .collect(),
                    ..Default::default()
                }
            }
        };
        Counters::add(&self.counters.applied, outcome.applied as u64);
        Counters::add(&self.counters.duplicates, outcome.duplicates as u64);
        Counters::add(&self.counters.batches, 1);
        let m = &self.counters.metrics;
        m.commit_seconds.observe_duration(started.elapsed());
        m.batch_size.observe(events.len() as f64);
        for (kind, n) in outcome.applied_by_kind.iter().enumerate() {
            if *n > 0 {
                m.applied.add(kind, *n as u64);
            }
        }
        for f in &outcome.failed {
            self.counters.reject("store_error", f.kind, &f.error);
        }
        if !acks.is_empty() {
            for (index, ack) in acks.drain(..) {
                let failed = outcome.failed.iter().any(|f| f.index == index);
                ack(if failed {
                    AckOutcome::Failed
                } else {
                    AckOutcome::Committed
                });
            }
        }
    }

    /// Runs `f`, retrying for a while when another connection holds the lock.
    fn with_retry<T>(
        &mut self,
        mut f: impl FnMut(&mut dyn Storage) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut delay = Duration::from_millis(50);
        let mut attempts = 0;
        loop {
            match f(&mut *self.store) {
                Err(e) if e.is_busy() && attempts < 20 => {
                    attempts += 1;
                    tracing::warn!(error = %e, attempts, "Database busy; retrying.");
                    std::thread::sleep(delay);
                    delay = (delay * 2).min(Duration::from_secs(1));
                }
                other => return other,
            }
        }
    }

    /// One retention step: at most one bounded delete per table (at most [`STEP_ROWS`]
    /// rows, each its own transaction). The pass ends when nothing old is left or after
    /// `maintenance_batches` steps (the next pass goes on).
    fn maintain_step(&mut self) {
        self.commits_since_step = 0;
        let retention = Retention {
            batch: self.step_rows(),
            ..self.cfg.retention.clone()
        };
        match self.store.maintenance(now_secs(), &retention, 1) {
            Ok(r) => {
                self.maintenance_left = if r.more { self.maintenance_left - 1 } else { 0 };
                if self.maintenance_left == 0 {
                    Counters::add(&self.counters.maintenance_runs, 1);
                }
                tracing::debug!(
                    recent_chat = r.recent_chat,
                    user_count_history = r.user_count_history,
                    sent_outbound = r.sent_outbound,
                    processed_events = r.processed_events,
                    more = r.more,
                    "Maintenance step."
                );
            }
            Err(e) => {
                self.maintenance_left = 0;
                tracing::warn!(error = %e, "Maintenance failed; will retry next pass.");
            }
        }
    }

    /// Rows per table of one retention step.
    fn step_rows(&self) -> i64 {
        self.cfg.retention.batch.clamp(1, STEP_ROWS)
    }

    fn close(&mut self) -> Result<usize, String> {
        let closed = self
            .with_retry(|s| s.close_open_sessions(now_secs()))
            .map_err(|e| e.to_string())?;
        Counters::add(&self.counters.sessions_closed, closed as u64);
        self.checkpoint();
        Ok(closed)
    }

    fn checkpoint(&mut self) {
        if let Err(e) = self.store.checkpoint() {
            tracing::debug!(error = %e, "Checkpoint at close failed.");
        }
    }
}

fn push(events: &mut Vec<StoreEvent>, acks: &mut Vec<(usize, Ack)>, item: IngestItem) {
    if let Some(ack) = item.ack {
        acks.push((events.len(), ack));
    }
    events.push(item.event);
}

#[cfg(test)]
mod tests {
    use super::*;
    use rosey_store::{EventKind, Store, StoreOptions};

    fn line(ts: i64, message: &str) -> StoreEvent {
        StoreEvent {
            channel: "c".into(),
            ts,
            id: None,
            kind: EventKind::Message {
                username: "u".into(),
                message: message.into(),
                bot: false,
            },
        }
    }

    /// An event sent while a long retention pass runs is committed before the pass ends.
    #[test]
    fn a_maintenance_pass_lets_events_through_between_its_steps() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.db");
        let mut store = Store::open(&path, &StoreOptions::default()).unwrap();
        let old: Vec<_> = (0..20_000).map(|_| line(1_000, "old")).collect();
        store.apply_batch(&old).unwrap();
        let counters = Arc::new(Counters::default());
        let (tx, rx) = mpsc::channel(16);
        let cfg = WriterConfig {
            batch_max: 100,
            batch_delay: Duration::ZERO,
            retention: Retention {
                batch: 100,
                ..Retention::default()
            },
            maintenance_batches: 10_000,
        };
        let thread = spawn(Box::new(store), rx, cfg, counters.clone()).unwrap();
        tx.blocking_send(WriterMsg::Maintain).unwrap();
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        tx.blocking_send(WriterMsg::Event(IngestItem {
            event: line(now_secs(), "new"),
            ack: Some(Box::new(move |outcome| {
                let _ = done_tx.send(outcome);
            })),
        }))
        .unwrap();
        let outcome = done_rx.recv_timeout(Duration::from_secs(10)).unwrap();
        assert_eq!(outcome, AckOutcome::Committed);
        assert_eq!(
            counters.snapshot().maintenance_runs,
            0,
            "committed while the pass (200 steps) was still running"
        );
        drop(tx);
        thread.join().unwrap();
        assert_eq!(counters.snapshot().maintenance_runs, 1);
        let left = Store::open_read_only(&path, &StoreOptions::default())
            .unwrap()
            .count_rows("recent_chat")
            .unwrap();
        assert_eq!(left, 1, "only the new line is left");
    }
}

//! The Rosey database service: subscribes to every `rosey.db.*` event, writes them to the
//! store in ordered batches, and answers every `rosey.db.*` query (SPEC §3, §7).
//!
//! # Layout
//! - [`config`]: [`DbServiceConfig`] and the defaults (batch size, queue bound, queue groups).
//! - [`decode`]: subject + payload → [`rosey_store::StoreEvent`] (pure).
//! - [`ingest`] (private): the one ordered consumer of `rosey.db.>` in queue group `rosey-db`
//!   (plain mode: at-most-once, like the original).
//! - [`durable`]: durable mode instead: the `ROSEY_DB` JetStream stream through a shared
//!   durable consumer, acked after the commit; and [`replay`] of the stream.
//! - [`writer`]: the single writer thread that owns the read-write store and commits batches;
//!   [`IngestSender`] / [`IngestItem`] / [`Ack`] let other feeders (JetStream) use it.
//! - [`query`] (private): the request handlers, on the NATS micro-service API or plain
//!   subscriptions on the embedded bus.
//! - [`counters`]: counters per rejection kind, logged once per kind.
//! - [`metrics`]: the Prometheus instruments and their scrape-time source
//!   ([`DbServiceHandle::metrics_source`], [`DbServiceHandle::readiness`]).
//! - [`error`]: the error type, [`DbServiceError`].
//!
//! ```text
//!  bus ──rosey.db.> (queue rosey-db)──▶ ingest task ──bounded mpsc──▶ writer thread ──▶ store (rw)
//!  (durable: ROSEY_DB ──durable consumer──▶ durable task ──▶ writer ──commit──▶ acks)
//!  bus ──query subjects (queue rosey-db-query)──▶ query task ──────────────────────────▶ store (ro)
//!  checkpoint thread ──passive pass every 500 ms──▶ WAL (SQLite; a large WAL: FinishCheckpoint ──▶ writer)
//! ```
//!
//! The store is a `Box<dyn rosey_store::Storage>` opened from [`DbServiceConfig::db`]: an
//! SQLite file (default) or PostgreSQL; the service does not know which. Several services
//! on one PostgreSQL database share the work (plain mode: the queue group; durable mode:
//! the one durable consumer); the store keeps per-user presence order-insensitive.
//!
//! Start with [`DbService::start`]; stop with [`DbServiceHandle::shutdown`], which commits
//! everything received, closes open sessions and checkpoints the WAL.

pub mod config;
pub mod counters;
pub mod decode;
pub mod durable;
pub mod error;
mod ingest;
pub mod metrics;
mod query;
pub mod writer;

use std::sync::Arc;
use std::time::Duration;

use rosey_bus::Bus;
use rosey_model::subjects;
use rosey_store::StoreOptions;
use rosey_store::storage::{self, Storage};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

pub use config::DbServiceConfig;
pub use counters::{Counters, ServiceStats};
pub use durable::{DurableConfig, ReplayFrom, ReplayReport, replay};
pub use error::DbServiceError;
pub use writer::{Ack, AckOutcome, IngestItem, IngestSender};

/// The most a shutdown waits on the bus, all steps together (the consumer and query tasks,
/// the micro-service stop, the acknowledgements of committed events): a stop must be quick
/// whatever NATS does (the process is told to stop within 2 s by SIGTERM's sender). What is
/// left unacknowledged is redelivered later and skipped by id; nothing committed is lost.
const BUS_STOP_BUDGET: Duration = Duration::from_secs(1);

/// The database service (namespace for [`DbService::start`]).
pub struct DbService;

/// A running service.
pub struct DbServiceHandle {
    bus: Bus,
    stop: watch::Sender<bool>,
    ingest_task: JoinHandle<()>,
    /// Durable mode: the task that sends JetStream acks after commits.
    ack_task: Option<JoinHandle<()>>,
    query_task: JoinHandle<()>,
    maintenance_task: JoinHandle<()>,
    micro: Option<async_nats::service::Service>,
    writer_tx: mpsc::Sender<writer::WriterMsg>,
    writer_thread: std::thread::JoinHandle<()>,
    counters: Arc<Counters>,
    adopted: Option<rosey_store::AdoptReport>,
    metrics: Arc<metrics::DbSource>,
    /// Dropped with the handle: stops the checkpoint thread.
    _checkpoint_stop: Option<std::sync::mpsc::Sender<()>>,
}

/// What [`DbServiceHandle::shutdown`] did.
#[derive(Debug, Clone)]
pub struct ShutdownReport {
    /// Open sessions closed (their time added).
    pub sessions_closed: usize,
    pub stats: ServiceStats,
}

impl DbService {
    /// Opens (and migrates) the database, subscribes, and serves. When this returns, the
    /// service is ready: events are being consumed and requests answered.
    ///
    /// With [`DbServiceConfig::durable`] set, events come from the JetStream durable consumer
    /// (see [`durable`]) and start-up fails when the stream or the consumer cannot be set up;
    /// otherwise from the core-NATS queue subscription.
    pub async fn start(bus: Bus, cfg: DbServiceConfig) -> Result<DbServiceHandle, DbServiceError> {
        let durable_client = match (&cfg.durable, bus.nats_client()) {
            (Some(_), Some(client)) => Some(client.clone()),
            (Some(_), None) => {
                return Err(DbServiceError::Durable(
                    "needs a NATS server with JetStream (the embedded bus has none)".into(),
                ));
            }
            (None, _) => None,
        };
        let Opened {
            writer_tx,
            writer_thread,
            counters,
            reader,
            adopted,
            checkpoint_stop,
        } = open(&cfg, true).await?;
        let reader = reader.ok_or(DbServiceError::WriterGone)?;
        let rekeyed = query::rekey_legacy_tokens(&writer_tx).await?;

        let (stop, stop_rx) = watch::channel(false);
        // Ingest subscribes before the query endpoints: once a request is answered, events
        // published after it are consumed.
        let writer = IngestSender {
            tx: writer_tx.clone(),
        };
        let (ingest_task, ack_task) = match (&cfg.durable, durable_client) {
            (Some(d), Some(client)) => {
                let (task, acks) = durable::DurableIngest {
                    client,
                    cfg: d.clone(),
                    writer,
                    counters: counters.clone(),
                    default_channel: cfg.default_channel.clone(),
                }
                .start(stop_rx.clone())
                .await?;
                (task, Some(acks))
            }
            _ => {
                let sub = bus
                    .queue_subscribe(subjects::DB_ALL, &cfg.ingest_queue_group)
                    .await?;
                let ingest = ingest::Ingest {
                    bus: bus.clone(),
                    sub,
                    writer,
                    counters: counters.clone(),
                    default_channel: cfg.default_channel.clone(),
                };
                (tokio::spawn(ingest.run(stop_rx.clone())), None)
            }
        };

        let queries = Arc::new(
            query::Queries::new(
                reader,
                writer_tx.clone(),
                counters.clone(),
                cfg.default_channel.clone(),
            )?
            .with_pump_wake(bus.clone()),
        );
        let (query_task, micro) = query::serve(bus.clone(), queries, &cfg, stop_rx.clone()).await?;
        bus.flush().await?;

        let maintenance_task = tokio::spawn(maintenance_ticker(
            writer_tx.clone(),
            cfg.maintenance_interval,
            stop_rx,
        ));
        tracing::info!(
            db = %cfg.db,
            backend = cfg.db.backend(),
            bus = bus.kind(),
            default_channel = %cfg.default_channel,
            adopted_v05 = adopted.is_some(),
            rekeyed_v05_tokens = rekeyed,
            durable = cfg.durable.as_ref().map(|d| d.stream.name.as_str()).unwrap_or("off"),
            "Database service ready."
        );
        let metrics = Arc::new(metrics::DbSource {
            counters: counters.clone(),
            writer: writer_tx.downgrade(),
            queue_capacity: cfg.queue_capacity.max(1),
            db_path: cfg.db.sqlite_path().map(std::path::Path::to_path_buf),
            durable: cfg.durable.is_some(),
        });
        Ok(DbServiceHandle {
            metrics,
            bus,
            stop,
            ingest_task,
            ack_task,
            query_task,
            maintenance_task,
            micro,
            writer_tx,
            writer_thread,
            counters,
            adopted,
            _checkpoint_stop: checkpoint_stop,
        })
    }
}

/// What [`open`] set up.
struct Opened {
    writer_tx: mpsc::Sender<writer::WriterMsg>,
    writer_thread: std::thread::JoinHandle<()>,
    counters: Arc<Counters>,
    reader: Option<Box<dyn Storage>>,
    adopted: Option<rosey_store::AdoptReport>,
    /// Dropping it stops the checkpoint thread.
    checkpoint_stop: Option<std::sync::mpsc::Sender<()>>,
}

/// How often the service checkpoints the WAL from its own thread.
const CHECKPOINT_INTERVAL: std::time::Duration = std::time::Duration::from_millis(500);

/// Starts the thread that checkpoints the WAL off the commit path (the writer's own
/// automatic checkpoint is off in the service: it used to stall one commit in ~120 by up to
/// several milliseconds). It stops when the returned sender is dropped.
///
/// A pass that finds the WAL over [`rosey_store::FINISH_CHECKPOINT_AT_FRAMES`] asks the
/// writer to copy the rest between two commits (about a millisecond): under steady commits
/// this thread's passes alone always end behind the writer, and the WAL would grow forever.
fn spawn_checkpointer(
    checkpointer: rosey_store::Checkpointer,
    writer: mpsc::WeakSender<writer::WriterMsg>,
    counters: Arc<Counters>,
) -> Result<std::sync::mpsc::Sender<()>, DbServiceError> {
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    std::thread::Builder::new()
        .name("rosey-db-checkpoint".into())
        .spawn(move || {
            let mut failing = false;
            // The receive timeout is the timer: nothing is ever sent, dropping ends it.
            while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                rx.recv_timeout(CHECKPOINT_INTERVAL)
            {
                let started = std::time::Instant::now();
                match checkpointer.passive() {
                    Ok((frames, _)) => {
                        failing = false;
                        counters
                            .metrics
                            .checkpoint_seconds
                            .observe_duration(started.elapsed());
                        if frames > rosey_store::FINISH_CHECKPOINT_AT_FRAMES
                            && let Some(w) = writer.upgrade()
                        {
                            // A full queue is busy with events: the next pass asks again.
                            let _ = w.try_send(writer::WriterMsg::FinishCheckpoint);
                        }
                    }
                    Err(e) if !failing => {
                        failing = true;
                        tracing::warn!(error = %e, "WAL checkpoint failed; will retry.");
                    }
                    Err(_) => {}
                }
            }
        })
        .map_err(|e| DbServiceError::Join(format!("cannot start the checkpoint thread: {e}")))?;
    Ok(tx)
}

/// Opens (and migrates) the database and starts the writer thread; with `reader`, also a
/// read-only connection for the queries.
async fn open(cfg: &DbServiceConfig, reader: bool) -> Result<Opened, DbServiceError> {
    let options = StoreOptions {
        default_channel: cfg.default_channel.clone(),
        cache_kib: cfg.cache_kib,
        // The running service checkpoints on its own thread (see `spawn_checkpointer`).
        auto_checkpoint: !reader,
        ..StoreOptions::default()
    };
    let (target, opts) = (cfg.db.clone(), options.clone());
    // Opening may adopt and back up a large v0.5 file, or wait on the network: keep it off
    // the async workers.
    let (store, reader) = tokio::task::spawn_blocking(move || {
        let store = storage::open(&target, &opts)?;
        let reader = if reader {
            Some(storage::open_reader(&target, &opts)?)
        } else {
            None
        };
        Ok::<_, rosey_store::StoreError>((store, reader))
    })
    .await
    .map_err(|e| DbServiceError::Join(e.to_string()))??;
    let adopted = store.adopted().cloned();

    let mut retention = cfg.retention.clone();
    // A replayed chat line is de-duplicated by its key for as long as it may be accepted.
    let horizon = Duration::from_secs(rosey_store::event::REPLAY_HORIZON_SECS as u64 + 3600);
    retention.processed_events = retention.processed_events.max(horizon);
    if let Some(d) = &cfg.durable
        && !d.stream.max_age.is_zero()
    {
        // Ids must be remembered at least as long as the stream may redeliver or replay
        // the event, or a replay would count it again.
        retention.processed_events = retention.processed_events.max(d.stream.max_age);
    }
    let counters = Arc::new(Counters::default());
    let (writer_tx, writer_rx) = mpsc::channel(cfg.queue_capacity.max(1));
    let writer_thread = writer::spawn(
        store,
        writer_rx,
        writer::WriterConfig {
            batch_max: cfg.batch_max.max(1),
            batch_delay: cfg.batch_delay,
            retention,
            maintenance_batches: cfg.maintenance_batches.max(1),
        },
        counters.clone(),
    )
    .map_err(|e| DbServiceError::Join(format!("cannot start the writer thread: {e}")))?;
    let checkpoint_stop = match reader {
        Some(_) => match storage::open_checkpointer(&cfg.db, &options)? {
            Some(c) => Some(spawn_checkpointer(
                c,
                writer_tx.downgrade(),
                counters.clone(),
            )?),
            None => None,
        },
        None => None,
    };
    Ok(Opened {
        writer_tx,
        writer_thread,
        counters,
        reader,
        adopted,
        checkpoint_stop,
    })
}

/// The writer alone (for [`durable::replay`]).
pub(crate) async fn open_writer(
    cfg: &DbServiceConfig,
) -> Result<(IngestSender, Arc<Counters>, std::thread::JoinHandle<()>), DbServiceError> {
    let o = open(cfg, false).await?;
    Ok((
        IngestSender { tx: o.writer_tx },
        o.counters,
        o.writer_thread,
    ))
}

/// Commits what is queued, optionally closes open sessions, and joins the writer thread.
/// Returns the number of sessions closed.
pub(crate) async fn close_writer(
    writer: IngestSender,
    thread: std::thread::JoinHandle<()>,
    close_sessions: bool,
) -> Result<usize, DbServiceError> {
    let (tx, rx) = oneshot::channel();
    writer
        .tx
        .send(writer::WriterMsg::Close {
            close_sessions,
            reply: tx,
        })
        .await
        .map_err(|_| DbServiceError::WriterGone)?;
    let closed = rx.await.map_err(|_| DbServiceError::WriterGone)?;
    drop(writer);
    tokio::task::spawn_blocking(move || thread.join())
        .await
        .map_err(|e| DbServiceError::Join(e.to_string()))?
        .map_err(|_| DbServiceError::Join("the writer thread panicked".into()))?;
    closed.map_err(|e| DbServiceError::Join(e.to_string()))
}

impl DbServiceHandle {
    /// A snapshot of the counters.
    pub fn stats(&self) -> ServiceStats {
        self.counters.snapshot()
    }

    /// The service's metrics, for a [`rosey_metrics::Metrics`] registry.
    pub fn metrics_source(&self) -> Arc<dyn rosey_metrics::Source> {
        self.metrics.clone()
    }

    /// The readiness check: the store is open, its writer running, and its last batch was
    /// committed (not ready while commits fail, e.g. on a full disk: durable mode then leaves
    /// the events in the stream until they commit).
    pub fn readiness(&self) -> impl Fn() -> rosey_metrics::Check + Send + Sync + 'static {
        let writer = self.writer_tx.downgrade();
        let counters = self.counters.clone();
        move || match writer.upgrade() {
            Some(tx) if !tx.is_closed() => match counters.store_failure() {
                Some(reason) => {
                    rosey_metrics::Check::not_ready(format!("commits are failing: {reason}"))
                }
                None => rosey_metrics::Check::ready("store open, writer running"),
            },
            _ => rosey_metrics::Check::not_ready("the database writer has stopped"),
        }
    }

    /// Set when start-up adopted a Rosey v0.5 database.
    pub fn adopted(&self) -> Option<&rosey_store::AdoptReport> {
        self.adopted.as_ref()
    }

    /// A sender into the writer, for other event sources (e.g. a JetStream consumer).
    pub fn ingest_sender(&self) -> IngestSender {
        IngestSender {
            tx: self.writer_tx.clone(),
        }
    }

    /// Waits until everything the writer has queued so far is committed.
    pub async fn flush(&self) -> Result<(), DbServiceError> {
        self.ingest_sender().flush().await
    }

    /// Stops consuming, commits everything received, closes open sessions, checkpoints.
    ///
    /// Bounded whatever the bus does: the bus gets [`BUS_STOP_BUDGET`] in all; a task still
    /// waiting on it then is aborted (durable mode: what it had not handed to the writer was
    /// not acknowledged and is redelivered), and the acknowledgements of committed events are
    /// sent only while NATS is connected and time is left. Only the writer's own work (the
    /// last commit, closing sessions, the checkpoint) is waited for in full: it needs no bus.
    pub async fn shutdown(self) -> Result<ShutdownReport, DbServiceError> {
        let deadline = tokio::time::Instant::now() + BUS_STOP_BUDGET;
        let _ = self.stop.send(true);
        stop_task(self.ingest_task, "ingest", deadline).await;
        stop_task(self.query_task, "query", deadline).await;
        stop_task(self.maintenance_task, "maintenance", deadline).await;
        if let Some(service) = self.micro {
            match tokio::time::timeout_at(deadline, service.stop()).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::debug!(error = %e, "Stopping the micro service failed."),
                Err(_) => tracing::debug!("Stopping the micro service timed out."),
            }
        }
        let sessions_closed = close_writer(
            IngestSender { tx: self.writer_tx },
            self.writer_thread,
            true,
        )
        .await?;
        if let Some(acks) = self.ack_task {
            // Every committed event's ack is queued by now; send them before leaving, so a
            // clean stop causes no redelivery. Not while NATS is away: the client would only
            // buffer them (and `flush` would wait for the reconnection).
            drain_acks(&self.bus, acks, deadline, &self.counters).await;
        }
        let stats = self.counters.snapshot();
        tracing::info!(
            sessions_closed,
            applied = stats.applied,
            acked = stats.acked,
            "Database service stopped."
        );
        Ok(ShutdownReport {
            sessions_closed,
            stats,
        })
    }
}

/// Waits for a task that was told to stop until `deadline`, then aborts it.
async fn stop_task(mut task: JoinHandle<()>, what: &str, deadline: tokio::time::Instant) {
    if tokio::time::timeout_at(deadline, &mut task).await.is_err() {
        tracing::debug!(
            task = what,
            "Task still waiting on the bus at shutdown; aborted."
        );
        task.abort();
        let _ = task.await;
    }
}

/// Durable mode at shutdown: lets the ack task send what it has queued and flushes, until
/// `deadline` and only while NATS is connected; logs what is left to redeliver.
async fn drain_acks(
    bus: &Bus,
    mut acks: JoinHandle<()>,
    deadline: tokio::time::Instant,
    counters: &Counters,
) {
    let sent = bus.is_connected()
        && tokio::time::timeout_at(deadline, &mut acks).await.is_ok()
        && bus.is_connected()
        && matches!(
            tokio::time::timeout_at(deadline, bus.flush()).await,
            Ok(Ok(()))
        );
    if !sent {
        acks.abort();
        let stats = counters.snapshot();
        tracing::warn!(
            committed = stats.applied + stats.duplicates,
            acked = stats.acked,
            "NATS did not take every acknowledgement before the stop; the stream redelivers those events and the store skips them (all are committed)."
        );
    }
}

async fn maintenance_ticker(
    writer: mpsc::Sender<writer::WriterMsg>,
    interval: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let interval = interval.max(Duration::from_millis(10));
    // The first pass soon after start (a long-stopped service may have a backlog to trim),
    // not at once (start-up should be quick).
    let first = tokio::time::Instant::now() + interval.min(Duration::from_secs(30));
    let mut ticker = tokio::time::interval_at(first, interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            _ = ticker.tick() => {
                if writer.send(writer::WriterMsg::Maintain).await.is_err() {
                    return;
                }
            }
        }
    }
}

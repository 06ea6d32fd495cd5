//! The Rosey database service: subscribes to every `rosey.db.*` event, writes them to the
//! store in ordered batches, and answers every `rosey.db.*` query (SPEC §3, §7).
//!
//! # Layout
//! - [`config`]: [`DbServiceConfig`] and the defaults (batch size, queue bound, queue groups).
//! - [`decode`]: subject + payload → [`rosey_store::StoreEvent`] (pure).
//! - [`ingest`] (private): the one ordered consumer of `rosey.db.>` in queue group `rosey-db`.
//! - [`writer`]: the single writer thread that owns the read-write store and commits batches;
//!   [`IngestSender`] / [`IngestItem`] / [`Ack`] let other feeders (JetStream) use it.
//! - [`query`] (private): the request handlers, on the NATS micro-service API or plain
//!   subscriptions on the embedded bus.
//! - [`counters`]: counters per rejection kind, logged once per kind.
//! - [`bench`]: the measuring code of the benchmark (reused by `rosey bench`).
//! - [`error`]: the error type, [`DbServiceError`].
//!
//! ```text
//!  bus ──rosey.db.> (queue rosey-db)──▶ ingest task ──bounded mpsc──▶ writer thread ──▶ SQLite (rw)
//!  bus ──query subjects (queue rosey-db-query)──▶ query task ──────────────────────────▶ SQLite (ro)
//! ```
//!
//! Start with [`DbService::start`]; stop with [`DbServiceHandle::shutdown`], which commits
//! everything received, closes open sessions and checkpoints the WAL.

pub mod bench;
pub mod config;
pub mod counters;
pub mod decode;
pub mod error;
mod ingest;
mod query;
pub mod writer;

use std::sync::Arc;
use std::time::Duration;

use rosey_bus::Bus;
use rosey_model::subjects;
use rosey_store::{Store, StoreOptions};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

pub use config::DbServiceConfig;
pub use counters::{Counters, ServiceStats};
pub use error::DbServiceError;
pub use writer::{Ack, AckOutcome, IngestItem, IngestSender};

/// The database service (namespace for [`DbService::start`]).
pub struct DbService;

/// A running service.
pub struct DbServiceHandle {
    stop: watch::Sender<bool>,
    ingest_task: JoinHandle<()>,
    query_task: JoinHandle<()>,
    maintenance_task: JoinHandle<()>,
    micro: Option<async_nats::service::Service>,
    writer_tx: mpsc::Sender<writer::WriterMsg>,
    writer_thread: std::thread::JoinHandle<()>,
    counters: Arc<Counters>,
    adopted: Option<rosey_store::AdoptReport>,
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
    pub async fn start(bus: Bus, cfg: DbServiceConfig) -> Result<DbServiceHandle, DbServiceError> {
        let options = StoreOptions {
            default_channel: cfg.default_channel.clone(),
            cache_kib: cfg.cache_kib,
            ..StoreOptions::default()
        };
        let (path, opts) = (cfg.db_path.clone(), options.clone());
        // Opening may adopt and back up a large v0.5 file: keep it off the async workers.
        let (store, reader) = tokio::task::spawn_blocking(move || {
            let store = Store::open(&path, &opts)?;
            let reader = Store::open_read_only(&path, &opts)?;
            Ok::<_, rosey_store::StoreError>((store, reader))
        })
        .await
        .map_err(|e| DbServiceError::Join(e.to_string()))??;
        let adopted = store.adopted().cloned();

        let counters = Arc::new(Counters::default());
        let (writer_tx, writer_rx) = mpsc::channel(cfg.queue_capacity.max(1));
        let writer_thread = writer::spawn(
            store,
            writer_rx,
            writer::WriterConfig {
                batch_max: cfg.batch_max.max(1),
                batch_delay: cfg.batch_delay,
                retention: cfg.retention.clone(),
                maintenance_batches: cfg.maintenance_batches.max(1),
            },
            counters.clone(),
        )
        .map_err(|e| DbServiceError::Join(format!("cannot start the writer thread: {e}")))?;

        let (stop, stop_rx) = watch::channel(false);
        // Ingest subscribes before the query endpoints: once a request is answered, events
        // published after it are consumed.
        let sub = bus
            .queue_subscribe(subjects::DB_ALL, &cfg.ingest_queue_group)
            .await?;
        let ingest = ingest::Ingest {
            bus: bus.clone(),
            sub,
            writer: IngestSender {
                tx: writer_tx.clone(),
            },
            counters: counters.clone(),
            default_channel: cfg.default_channel.clone(),
        };
        let ingest_task = tokio::spawn(ingest.run(stop_rx.clone()));

        let queries = Arc::new(query::Queries::new(
            reader,
            writer_tx.clone(),
            counters.clone(),
            cfg.default_channel.clone(),
        ));
        let (query_task, micro) = query::serve(bus.clone(), queries, &cfg, stop_rx.clone()).await?;
        bus.flush().await?;

        let maintenance_task = tokio::spawn(maintenance_ticker(
            writer_tx.clone(),
            cfg.maintenance_interval,
            stop_rx,
        ));
        tracing::info!(
            db = %cfg.db_path.display(),
            bus = bus.kind(),
            default_channel = %cfg.default_channel,
            adopted_v05 = adopted.is_some(),
            "Database service ready."
        );
        Ok(DbServiceHandle {
            stop,
            ingest_task,
            query_task,
            maintenance_task,
            micro,
            writer_tx,
            writer_thread,
            counters,
            adopted,
        })
    }
}

impl DbServiceHandle {
    /// A snapshot of the counters.
    pub fn stats(&self) -> ServiceStats {
        self.counters.snapshot()
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
    pub async fn shutdown(self) -> Result<ShutdownReport, DbServiceError> {
        let _ = self.stop.send(true);
        let _ = self.ingest_task.await;
        let _ = self.query_task.await;
        let _ = self.maintenance_task.await;
        if let Some(service) = self.micro
            && let Err(e) = service.stop().await
        {
            tracing::debug!(error = %e, "Stopping the micro service failed.");
        }
        let (tx, rx) = oneshot::channel();
        self.writer_tx
            .send(writer::WriterMsg::Close(tx))
            .await
            .map_err(|_| DbServiceError::WriterGone)?;
        let closed = rx.await.map_err(|_| DbServiceError::WriterGone)?;
        drop(self.writer_tx);
        let thread = self.writer_thread;
        tokio::task::spawn_blocking(move || thread.join())
            .await
            .map_err(|e| DbServiceError::Join(e.to_string()))?
            .map_err(|_| DbServiceError::Join("the writer thread panicked".into()))?;
        let sessions_closed = closed.map_err(|e| DbServiceError::Join(e.to_string()))?;
        let stats = self.counters.snapshot();
        tracing::info!(
            sessions_closed,
            applied = stats.applied,
            "Database service stopped."
        );
        Ok(ShutdownReport {
            sessions_closed,
            stats,
        })
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

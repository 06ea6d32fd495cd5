//! Rosey's storage: everything the database service records, with the table and column
//! names of Rosey v0.5 plus a channel dimension — in one SQLite file (WAL; the default) or
//! in PostgreSQL, behind one interface.
//!
//! # Layout
//! - [`storage`]: the [`Storage`] trait both backends implement, [`StoreTarget`] (a path or
//!   a `postgres://` URL) and [`storage::open`] / [`storage::open_reader`].
//! - [`pg`]: the PostgreSQL backend, [`PgStore`] (same tables, queries and replies).
//! - [`threaded`]: [`StoreThread`], a store on its own thread for async callers.
//! - [`copy`]: `rosey db copy` — SQLite into PostgreSQL, resumable, with a comparison.
//! - [`schema`]: versioned migrations recorded in `rosey_migrations`, detection and in-place
//!   adoption of a Rosey v0.5 `bot_data.db` (after a backup copy).
//! - [`event`]: [`StoreEvent`], the typed effect of one `rosey.db.*` event, built from the
//!   wire payloads of `rosey-model`.
//! - [`ingest`]: [`Store::apply_batch`] — many events in one transaction, in order, with
//!   de-duplication by event id inside the same transaction.
//! - [`query`]: the read side, returning the model's reply structs.
//! - [`media`]: the media history's totals (per media, per adder) kept on write, how a
//!   play ended, and its reads ([`media::MediaStore`], a supertrait of [`Storage`]).
//! - [`outbound`]: the outbound message queue (enqueue, due with back-off, sent/failed).
//! - [`maintenance`]: retention in bounded batches and closing open sessions.
//! - [`backup`]: online backup (`VACUUM INTO`) and integrity check of a store file.
//! - [`web`]: the dashboard's reads and the hashed API tokens ([`web::WebStorage`], a
//!   supertrait of [`Storage`]).
//! - [`error`]: the error type, [`StoreError`].
//!
//! The rest of this crate's root is the SQLite backend. A [`Store`] owns one
//! `rusqlite::Connection`. The database service keeps one read-write
//! store for its single writer and a second, read-only one for queries: with WAL, readers
//! never wait for the writer, so queries are answered during an ingest burst.
//! This crate does no I/O other than the database and knows nothing of the bus.

pub mod backup;
pub mod copy;
pub mod error;
pub mod event;
pub mod ingest;
pub mod kv;
pub mod maintenance;
pub mod media;
pub mod moderation;
pub mod outbound;
pub mod pg;
pub mod query;
pub mod schema;
pub mod storage;
pub mod threaded;
pub mod web;

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

pub use error::StoreError;
pub use event::{EventKind, StoreEvent};
pub use ingest::{BatchOutcome, EventFailure};
pub use kv::KvStore;
pub use maintenance::{MaintenanceReport, Retention};
pub use media::MediaStore;
pub use moderation::ModerationStore;
pub use outbound::OutboundStatus;
pub use pg::PgStore;
pub use schema::{AdoptReport, SCHEMA_VERSION};
pub use storage::{Storage, StoreTarget};
pub use threaded::StoreThread;

/// Default page cache per connection, in KiB. Small on purpose: the working set of the hot
/// tables (user rows, index tails) is tiny, and the service must idle in a few MB.
pub const DEFAULT_CACHE_KIB: i64 = 4096;
/// How long a statement waits for another process' lock before failing.
pub const DEFAULT_BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// WAL frames (pages) past which a [`Checkpointer`] pass asks the writer to finish it
/// ([`Store::finish_checkpoint`]), so the WAL starts over: 4,096 pages, 16 MiB.
pub const FINISH_CHECKPOINT_AT_FRAMES: i64 = 4096;

/// Options for opening a store.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// The channel that rows without one belong to (the DEFAULT of every added `channel`
    /// column, and the channel of every row adopted from a v0.5 database).
    pub default_channel: String,
    /// SQLite page cache, KiB.
    pub cache_kib: i64,
    pub busy_timeout: Duration,
    /// Let SQLite checkpoint the WAL inside a commit (its default, every ~1000 pages).
    /// A service turns this off and runs a [`Checkpointer`] on its own thread instead, so
    /// no commit pays for a checkpoint (see BENCHMARKS.md, end-to-end tail).
    pub auto_checkpoint: bool,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            default_channel: rosey_model::subjects::DEFAULT_CHANNEL.to_string(),
            cache_kib: DEFAULT_CACHE_KIB,
            busy_timeout: DEFAULT_BUSY_TIMEOUT,
            auto_checkpoint: true,
        }
    }
}

impl StoreOptions {
    /// Default options with the given default channel.
    pub fn with_channel(channel: impl Into<String>) -> Self {
        StoreOptions {
            default_channel: channel.into(),
            ..Default::default()
        }
    }
}

/// One connection to the database.
pub struct Store {
    conn: Connection,
    path: PathBuf,
    default_channel: String,
    read_only: bool,
    adopted: Option<AdoptReport>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.path)
            .field("default_channel", &self.default_channel)
            .field("read_only", &self.read_only)
            .finish()
    }
}

impl Store {
    /// Opens (creating if needed) the database read-write and brings its schema to
    /// [`SCHEMA_VERSION`]. A Rosey v0.5 database is backed up, then adopted in place.
    pub fn open(path: impl AsRef<Path>, options: &StoreOptions) -> Result<Store, StoreError> {
        let path = path.as_ref().to_path_buf();
        let conn = Connection::open(&path).map_err(|e| StoreError::open(&path, e))?;
        configure(&conn, options, false).map_err(|e| StoreError::open(&path, e))?;
        let adopted = schema::migrate(&conn, &path, &options.default_channel)?;
        Ok(Store {
            conn,
            path,
            default_channel: options.default_channel.clone(),
            read_only: false,
            adopted,
        })
    }

    /// Opens an existing, already migrated database for queries only.
    pub fn open_read_only(
        path: impl AsRef<Path>,
        options: &StoreOptions,
    ) -> Result<Store, StoreError> {
        let path = path.as_ref().to_path_buf();
        let conn = Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| StoreError::open(&path, e))?;
        configure(&conn, options, true).map_err(|e| StoreError::open(&path, e))?;
        let version = schema::current_version(&conn)?;
        if version < SCHEMA_VERSION {
            return Err(StoreError::SchemaTooOld {
                found: version,
                expected: SCHEMA_VERSION,
            });
        }
        Ok(Store {
            conn,
            path,
            default_channel: options.default_channel.clone(),
            read_only: true,
            adopted: None,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The channel of rows that name none.
    pub fn default_channel(&self) -> &str {
        &self.default_channel
    }

    /// Set when this open adopted a Rosey v0.5 database.
    pub fn adopted(&self) -> Option<&AdoptReport> {
        self.adopted.as_ref()
    }

    /// The schema version recorded in the database.
    pub fn schema_version(&self) -> Result<i64, StoreError> {
        schema::current_version(&self.conn)
    }

    /// The raw connection, for tests and tools that need plain SQL.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }
}

fn configure(conn: &Connection, options: &StoreOptions, read_only: bool) -> rusqlite::Result<()> {
    conn.busy_timeout(options.busy_timeout)?;
    if !read_only {
        // WAL: one writer and any number of readers that never block each other.
        // synchronous=NORMAL: a commit survives a process crash; only a power loss may lose
        // the last commits (never corrupt the file) — the usual choice with WAL.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        if !options.auto_checkpoint {
            conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        }
    } else {
        conn.pragma_update(None, "query_only", true)?;
    }
    conn.pragma_update(None, "cache_size", -options.cache_kib)?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(())
}

/// Checkpoints the WAL of a database from its own connection (and so its own thread),
/// off the writer's commit path. `PASSIVE` never blocks the writer or the readers; it
/// copies what it can, and SQLite restarts the WAL from the beginning at the next commit
/// once everything was copied.
pub struct Checkpointer {
    conn: Connection,
}

impl Checkpointer {
    /// Opens a plain connection to an existing WAL database.
    pub fn open(
        path: impl AsRef<Path>,
        options: &StoreOptions,
    ) -> Result<Checkpointer, StoreError> {
        let path = path.as_ref();
        let conn = Connection::open(path).map_err(|e| StoreError::open(path, e))?;
        conn.busy_timeout(options.busy_timeout)
            .map_err(|e| StoreError::open(path, e))?;
        Ok(Checkpointer { conn })
    }

    /// Runs one passive checkpoint; returns (WAL frames, frames checkpointed).
    pub fn passive(&self) -> Result<(i64, i64), StoreError> {
        passive_checkpoint(&self.conn)
    }
}

/// `PRAGMA wal_checkpoint(PASSIVE)` on `conn`: (WAL frames, frames checkpointed).
fn passive_checkpoint(conn: &Connection) -> Result<(i64, i64), StoreError> {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
        Ok((r.get::<_, i64>(1)?, r.get::<_, i64>(2)?))
    })
    .map_err(crate::error::op("checkpoint"))
}

/// The current time, integer Unix seconds.
pub fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

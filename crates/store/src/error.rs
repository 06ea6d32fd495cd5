//! The store's error type. Messages name the file or the operation that failed.

use std::path::{Path, PathBuf};

/// What can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database file could not be opened or configured.
    #[error("cannot open database {path}: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    /// The v0.5 backup copy could not be written; the database was left untouched.
    #[error("cannot write backup {path} before adopting a Rosey v0.5 database: {reason}")]
    Backup { path: PathBuf, reason: String },
    /// A migration failed (and was rolled back).
    #[error("migration {version} ({name}) failed: {source}")]
    Migration {
        version: i64,
        name: &'static str,
        #[source]
        source: rusqlite::Error,
    },
    /// The database was written by a newer Rosey.
    #[error("database schema version {found} is newer than this build supports ({supported})")]
    SchemaTooNew { found: i64, supported: i64 },
    /// A read-only open of a database that has not been migrated yet.
    #[error("database schema version {found} is older than {expected}; open it read-write first")]
    SchemaTooOld { found: i64, expected: i64 },
    /// The PostgreSQL server could not be reached or refused the connection.
    #[error("cannot connect to {target}: {source}")]
    Connect {
        /// The URL without its password.
        target: String,
        #[source]
        source: postgres::Error,
    },
    /// A PostgreSQL migration failed (and was rolled back).
    #[error("migration {version} ({name}) failed: {source}")]
    PgMigration {
        version: i64,
        name: &'static str,
        #[source]
        source: postgres::Error,
    },
    /// Any other PostgreSQL failure, with the operation it happened in.
    #[error("{op}: {source}")]
    Postgres {
        op: &'static str,
        #[source]
        source: postgres::Error,
    },
    /// `rosey db copy` refused or failed (the message says why and what to do).
    #[error("{0}")]
    Copy(String),
    /// Any other SQLite failure, with the operation it happened in.
    #[error("{op}: {source}")]
    Sqlite {
        op: &'static str,
        #[source]
        source: rusqlite::Error,
    },
}

impl StoreError {
    pub(crate) fn open(path: &Path, source: rusqlite::Error) -> Self {
        StoreError::Open {
            path: path.to_path_buf(),
            source,
        }
    }

    /// True when another connection holds the lock, or the transaction lost a deadlock or
    /// serialization conflict to another one: retrying later may succeed.
    pub fn is_busy(&self) -> bool {
        let e = match self {
            StoreError::Sqlite { source, .. } | StoreError::Open { source, .. } => source,
            StoreError::Postgres { source, .. } => return crate::pg::is_retryable(source),
            _ => return false,
        };
        matches!(
            e.sqlite_error_code(),
            Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
        )
    }
}

/// `map_err` helper: tags a rusqlite error with the operation.
pub(crate) fn op(op: &'static str) -> impl FnOnce(rusqlite::Error) -> StoreError {
    move |source| StoreError::Sqlite { op, source }
}

/// `map_err` helper: tags a PostgreSQL error with the operation.
pub(crate) fn pg_op(op: &'static str) -> impl FnOnce(postgres::Error) -> StoreError {
    move |source| StoreError::Postgres { op, source }
}

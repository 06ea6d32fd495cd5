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

    /// When the database file itself cannot be used — not an SQLite database, damaged, not
    /// openable, read-only, on a full disk — what is wrong with it, in words for an operator
    /// (the caller names the file). `None` for every other failure (a lock, a network, a
    /// newer schema…). `path` is the SQLite file, to tell why it cannot be opened.
    pub fn file_problem(&self, path: &Path) -> Option<String> {
        use rusqlite::ErrorCode as C;
        let source = match self {
            StoreError::Open { source, .. }
            | StoreError::Sqlite { source, .. }
            | StoreError::Migration { source, .. } => source,
            _ => return None,
        };
        Some(match source.sqlite_error_code()? {
            C::NotADatabase => "not an SQLite database (garbage, or another kind of file)".into(),
            C::DatabaseCorrupt => "the file is damaged (database disk image is malformed)".into(),
            C::CannotOpen => format!("cannot open the file: {}", why_unopenable(path)),
            C::PermissionDenied => "cannot open the file: permission denied".into(),
            C::ReadOnly => "the file or its directory is read-only".into(),
            C::DiskFull => "the disk is full".into(),
            C::SystemIoFailure => "input/output error on the file".into(),
            _ => return None,
        })
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

/// Why SQLite could not open `path`, as far as the file system tells.
fn why_unopenable(path: &Path) -> String {
    if path.is_dir() {
        return "it is a directory".into();
    }
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() && !dir.is_dir() => {
            return "its directory does not exist (or is not a directory)".into();
        }
        _ => {}
    }
    if !path.exists() {
        return "it cannot be created there (see the directory's permissions)".into();
    }
    match std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
    {
        Err(e) => e.to_string(),
        Ok(_) => "SQLite refused it (see the file's permissions and its directory's)".into(),
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

//! Operations on a SQLite store file from outside the service: an online backup that is
//! consistent while the service writes (`rosey db backup`), and an integrity check with the
//! schema version and row counts (`rosey db check`).
//!
//! The backup is `VACUUM INTO`: it reads the database in one read transaction — in WAL mode
//! that never blocks the writer and sees one committed state — and writes a compact,
//! self-contained file (no `-wal`), so a backup taken in the middle of a burst holds exactly
//! the events committed before it began. (SQLite's page-by-page backup API restarts whenever
//! another connection writes, which under a steady burst may never finish.)

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};

use crate::{
    StoreError,
    error::op,
    schema::{self, SCHEMA_VERSION},
};

/// What `check` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckReport {
    /// `PRAGMA integrity_check` lines: `["ok"]` for a sound file.
    pub integrity: Vec<String>,
    /// The schema version recorded in the file (0: a Rosey v0.5 file not adopted yet).
    pub schema_version: i64,
    /// The version this build writes.
    pub supported_version: i64,
    /// Rows per table, tables in name order.
    pub rows: Vec<(String, i64)>,
}

impl CheckReport {
    /// Sound file with a schema this build can open.
    pub fn is_ok(&self) -> bool {
        self.integrity == ["ok"] && self.schema_version <= self.supported_version
    }
}

fn open_read_only(path: &Path) -> Result<Connection, StoreError> {
    if !path.is_file() {
        return Err(StoreError::open(
            path,
            rusqlite::Error::InvalidPath(path.to_path_buf()),
        ));
    }
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| StoreError::open(path, e))?;
    conn.busy_timeout(crate::DEFAULT_BUSY_TIMEOUT)
        .map_err(|e| StoreError::open(path, e))?;
    Ok(conn)
}

/// Writes a consistent copy of the store at `source` to `target` (which must not exist)
/// while the service may keep writing. Returns the size of the copy in bytes.
pub fn backup(source: &Path, target: &Path) -> Result<u64, StoreError> {
    if target.exists() {
        return Err(StoreError::Backup {
            path: target.to_path_buf(),
            reason: "the file already exists (choose a new name)".into(),
        });
    }
    let conn = open_read_only(source)?;
    let target_text = target.to_str().ok_or_else(|| StoreError::Backup {
        path: target.to_path_buf(),
        reason: "the path is not valid UTF-8".into(),
    })?;
    conn.execute("VACUUM INTO ?1", [target_text])
        .map_err(|e| StoreError::Backup {
            path: target.to_path_buf(),
            reason: e.to_string(),
        })?;
    std::fs::metadata(target)
        .map(|m| m.len())
        .map_err(|e| StoreError::Backup {
            path: PathBuf::from(target),
            reason: e.to_string(),
        })
}

/// Checks the store at `path` without changing it: integrity, schema version, row counts.
pub fn check(path: &Path) -> Result<CheckReport, StoreError> {
    let conn = open_read_only(path)?;
    let mut stmt = conn
        .prepare("PRAGMA integrity_check")
        .map_err(op("integrity check"))?;
    let integrity = stmt
        .query_map([], |r| r.get::<_, String>(0))
        .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
        .map_err(op("integrity check"))?;
    let schema_version = schema::current_version(&conn)?;
    let mut stmt = conn
        .prepare(
            "SELECT name FROM sqlite_master WHERE type = 'table' \
             AND name NOT LIKE 'sqlite_%' ORDER BY name",
        )
        .map_err(op("list tables"))?;
    let tables = stmt
        .query_map([], |r| r.get::<_, String>(0))
        .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
        .map_err(op("list tables"))?;
    let mut rows = Vec::with_capacity(tables.len());
    for t in tables {
        // Table names come from the file's own catalogue; quote them as identifiers.
        let n: i64 = conn
            .query_row(
                &format!("SELECT count(*) FROM \"{}\"", t.replace('"', "\"\"")),
                [],
                |r| r.get(0),
            )
            .map_err(op("count rows"))?;
        rows.push((t, n));
    }
    Ok(CheckReport {
        integrity,
        schema_version,
        supported_version: SCHEMA_VERSION,
        rows,
    })
}

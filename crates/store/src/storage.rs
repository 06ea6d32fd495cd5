//! The one storage interface: [`Storage`], implemented by the SQLite [`Store`] and the
//! PostgreSQL [`PgStore`], and [`StoreTarget`], which of the two a configuration names.
//!
//! Everything outside this crate (the database service, `rosey db copy`, the benchmarks)
//! talks to a `Box<dyn Storage>` and never learns which backend it has. Both backends
//! apply the same events with the same effects and answer the same queries with the same
//! replies; `tests/contract.rs` runs one set of test functions against both.
//!
//! The interface is synchronous: a store is owned by one thread (the service's writer, or
//! its query side). [`Storage::blocks_on_network`] tells a caller on an async runtime
//! whether a call may wait on a network round trip (PostgreSQL) — then it belongs on a
//! blocking thread — or only on a local file (SQLite, answered inline in microseconds).

use std::fmt;
use std::path::PathBuf;

use rosey_model::payload::{ChannelStatsReply, ChatRow, OutboundRow, UserCountRow, UserStatsReply};

use crate::pg::PgStore;
use crate::{
    AdoptReport, BatchOutcome, Checkpointer, MaintenanceReport, OutboundStatus, Retention, Store,
    StoreError, StoreEvent, StoreOptions,
};

/// Where the data lives.
#[derive(Clone, PartialEq, Eq)]
pub enum StoreTarget {
    /// An SQLite file (the default).
    Sqlite(PathBuf),
    /// A PostgreSQL connection URL (`postgres://user@host:port/db`).
    Postgres(String),
}

impl StoreTarget {
    /// A PostgreSQL URL (`postgres://` or `postgresql://`) or else an SQLite path.
    pub fn parse(s: &str) -> StoreTarget {
        if is_postgres_url(s) {
            StoreTarget::Postgres(s.to_string())
        } else {
            StoreTarget::Sqlite(PathBuf::from(s))
        }
    }

    /// The backend's name, for logs.
    pub fn backend(&self) -> &'static str {
        match self {
            StoreTarget::Sqlite(_) => "sqlite",
            StoreTarget::Postgres(_) => "postgres",
        }
    }

    /// The SQLite file, if this is one.
    pub fn sqlite_path(&self) -> Option<&std::path::Path> {
        match self {
            StoreTarget::Sqlite(p) => Some(p),
            StoreTarget::Postgres(_) => None,
        }
    }
}

impl From<PathBuf> for StoreTarget {
    fn from(p: PathBuf) -> Self {
        StoreTarget::Sqlite(p)
    }
}

impl From<&PathBuf> for StoreTarget {
    fn from(p: &PathBuf) -> Self {
        StoreTarget::Sqlite(p.clone())
    }
}

impl From<&std::path::Path> for StoreTarget {
    fn from(p: &std::path::Path) -> Self {
        StoreTarget::Sqlite(p.to_path_buf())
    }
}

/// True for `postgres://…` and `postgresql://…`.
pub fn is_postgres_url(s: &str) -> bool {
    s.starts_with("postgres://") || s.starts_with("postgresql://")
}

/// Shows a path, or a URL without its password.
impl fmt::Display for StoreTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreTarget::Sqlite(p) => write!(f, "{}", p.display()),
            StoreTarget::Postgres(url) => f.write_str(&redact_url(url)),
        }
    }
}

impl fmt::Debug for StoreTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}({self})", self.backend())
    }
}

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (auth, host) = match rest.rsplit_once('@') {
        Some(parts) => parts,
        None => return url.to_string(),
    };
    match auth.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_string(),
    }
}

/// What the service, the copy tool and the benchmarks need from a database.
pub trait Storage:
    Send
    + crate::web::WebStorage
    + crate::kv::KvStore
    + crate::moderation::ModerationStore
    + crate::media::MediaStore
{
    /// `"sqlite"` or `"postgres"`, for logs.
    fn backend(&self) -> &'static str;
    /// True when calls wait on network round trips (run them off the async workers).
    fn blocks_on_network(&self) -> bool;
    /// A number that changes whenever another connection commits to the database (SQLite's
    /// `PRAGMA data_version`), so a reader can keep answers until the data changes. `None`
    /// where the backend has no cheap equivalent (then nothing is kept).
    fn data_version(&mut self) -> Option<i64> {
        None
    }
    /// The channel of rows that name none.
    fn default_channel(&self) -> &str;
    /// Set when this open adopted a Rosey v0.5 database.
    fn adopted(&self) -> Option<&AdoptReport>;
    /// The schema version recorded in the database.
    fn schema_version(&mut self) -> Result<i64, StoreError>;

    /// Applies `events` in order in one transaction, de-duplicating by id.
    fn apply_batch(&mut self, events: &[StoreEvent]) -> Result<BatchOutcome, StoreError>;
    /// Applies one event in its own transaction.
    fn apply(&mut self, event: &StoreEvent) -> Result<BatchOutcome, StoreError> {
        self.apply_batch(std::slice::from_ref(event))
    }

    fn recent_chat(&mut self, channel: &str, limit: i64) -> Result<Vec<ChatRow>, StoreError>;
    fn channel_stats(&mut self, channel: &str) -> Result<ChannelStatsReply, StoreError>;
    fn user_stats(&mut self, channel: &str, username: &str) -> Result<UserStatsReply, StoreError>;
    fn user_count_history(
        &mut self,
        channel: &str,
        hours: f64,
        now: i64,
    ) -> Result<Vec<UserCountRow>, StoreError>;
    /// Rows in one of our tables.
    fn count_rows(&mut self, table: &str) -> Result<i64, StoreError>;
    /// Totals of one channel (tools, tests, benchmarks).
    fn channel_totals(&mut self, channel: &str) -> Result<ChannelTotals, StoreError>;
    /// The highest `id` (`seq` for `processed_events`) in one of our tables, 0 when empty:
    /// an O(log n) progress probe.
    fn last_id(&mut self, table: &str) -> Result<i64, StoreError>;
    /// Every channel that has a `user_stats`, `recent_chat`, `channel_stats` or `media_stats`
    /// row.
    fn channels(&mut self) -> Result<Vec<String>, StoreError>;

    fn enqueue(&mut self, channel: &str, message: &str, now: i64) -> Result<i64, StoreError>;
    fn due(
        &mut self,
        channel: &str,
        limit: i64,
        max_retries: i64,
        now: i64,
    ) -> Result<Vec<OutboundRow>, StoreError>;
    fn mark_sent(&mut self, message_id: i64, now: i64) -> Result<bool, StoreError>;
    fn mark_failed(
        &mut self,
        message_id: i64,
        error: &str,
        permanent: bool,
        now: i64,
    ) -> Result<bool, StoreError>;
    fn outbound_status(&mut self, message_id: i64) -> Result<Option<OutboundStatus>, StoreError>;

    fn maintenance(
        &mut self,
        now: i64,
        retention: &Retention,
        max_batches: usize,
    ) -> Result<MaintenanceReport, StoreError>;
    /// Closes every open session at `now`; returns how many.
    fn close_open_sessions(&mut self, now: i64) -> Result<usize, StoreError>;
    /// Makes the database complete on its own (SQLite: WAL checkpoint; PostgreSQL: nothing).
    fn checkpoint(&mut self) -> Result<(), StoreError>;
    /// Copies the rest of the WAL from the writer's own connection after another
    /// connection's checkpoint pass, so the WAL starts over (SQLite, see
    /// [`Store::finish_checkpoint`]; nothing elsewhere).
    fn finish_checkpoint(&mut self) -> Result<(), StoreError> {
        Ok(())
    }
}

/// Totals of one channel, summed over its rows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChannelTotals {
    /// Rows in `recent_chat`.
    pub chat_rows: i64,
    /// Rows in `user_count_history`.
    pub user_count_rows: i64,
    /// Sum of `user_stats.total_chat_lines`.
    pub chat_lines: i64,
    /// Sum of `user_stats.total_time_connected`.
    pub total_time_connected: i64,
    /// Users with an open session.
    pub open_sessions: i64,
}

/// The SQL of [`ChannelTotals`], the same on both backends (`$1`/`?1` spelled per dialect).
pub(crate) fn channel_totals_sql(p: &str) -> String {
    format!(
        "SELECT (SELECT count(*) FROM recent_chat WHERE channel = {p}),
                (SELECT count(*) FROM user_count_history WHERE channel = {p}),
                (SELECT CAST(coalesce(sum(total_chat_lines), 0) AS BIGINT)
                   FROM user_stats WHERE channel = {p}),
                (SELECT CAST(coalesce(sum(total_time_connected), 0) AS BIGINT)
                   FROM user_stats WHERE channel = {p}),
                (SELECT count(*) FROM user_stats WHERE channel = {p}
                   AND current_session_start IS NOT NULL)"
    )
}

/// The key column [`Storage::last_id`] reads, for a table that has one.
pub(crate) fn id_column(table: &str) -> Option<&'static str> {
    match table {
        "processed_events" => Some("seq"),
        "user_actions" | "channel_stats" | "user_count_history" | "recent_chat"
        | "current_status" | "outbound_messages" | "media_history" | "moderation_actions" => {
            Some("id")
        }
        _ => None,
    }
}

/// Opens (creating and migrating as needed) the database read-write.
pub fn open(target: &StoreTarget, options: &StoreOptions) -> Result<Box<dyn Storage>, StoreError> {
    Ok(match target {
        StoreTarget::Sqlite(path) => Box::new(Store::open(path, options)?),
        StoreTarget::Postgres(url) => Box::new(PgStore::connect(url, options)?),
    })
}

/// Opens a connection for queries only, to a database [`open`] has already migrated.
pub fn open_reader(
    target: &StoreTarget,
    options: &StoreOptions,
) -> Result<Box<dyn Storage>, StoreError> {
    Ok(match target {
        StoreTarget::Sqlite(path) => Box::new(Store::open_read_only(path, options)?),
        StoreTarget::Postgres(url) => Box::new(PgStore::connect_reader(url, options)?),
    })
}

/// The background WAL checkpointer a running service uses, when the backend has one.
pub fn open_checkpointer(
    target: &StoreTarget,
    options: &StoreOptions,
) -> Result<Option<Checkpointer>, StoreError> {
    match target {
        StoreTarget::Sqlite(path) => Ok(Some(Checkpointer::open(path, options)?)),
        StoreTarget::Postgres(_) => Ok(None),
    }
}

/// Whether a service on this target should let the backend checkpoint inside commits.
/// (Only meaningful for SQLite; a service turns it off and runs a [`Checkpointer`].)
pub fn wants_checkpointer(target: &StoreTarget) -> bool {
    matches!(target, StoreTarget::Sqlite(_))
}

impl Storage for Store {
    fn backend(&self) -> &'static str {
        "sqlite"
    }
    fn blocks_on_network(&self) -> bool {
        false
    }
    fn data_version(&mut self) -> Option<i64> {
        self.connection()
            .prepare_cached("PRAGMA data_version")
            .and_then(|mut s| s.query_row([], |r| r.get(0)))
            .ok()
    }
    fn default_channel(&self) -> &str {
        Store::default_channel(self)
    }
    fn adopted(&self) -> Option<&AdoptReport> {
        Store::adopted(self)
    }
    fn schema_version(&mut self) -> Result<i64, StoreError> {
        Store::schema_version(self)
    }
    fn apply_batch(&mut self, events: &[StoreEvent]) -> Result<BatchOutcome, StoreError> {
        Store::apply_batch(self, events)
    }
    fn recent_chat(&mut self, channel: &str, limit: i64) -> Result<Vec<ChatRow>, StoreError> {
        Store::recent_chat(self, channel, limit)
    }
    fn channel_stats(&mut self, channel: &str) -> Result<ChannelStatsReply, StoreError> {
        Store::channel_stats(self, channel)
    }
    fn user_stats(&mut self, channel: &str, username: &str) -> Result<UserStatsReply, StoreError> {
        Store::user_stats(self, channel, username)
    }
    fn user_count_history(
        &mut self,
        channel: &str,
        hours: f64,
        now: i64,
    ) -> Result<Vec<UserCountRow>, StoreError> {
        Store::user_count_history(self, channel, hours, now)
    }
    fn count_rows(&mut self, table: &str) -> Result<i64, StoreError> {
        Store::count_rows(self, table)
    }
    fn channels(&mut self) -> Result<Vec<String>, StoreError> {
        Store::channels(self)
    }
    fn channel_totals(&mut self, channel: &str) -> Result<ChannelTotals, StoreError> {
        Store::channel_totals(self, channel)
    }
    fn last_id(&mut self, table: &str) -> Result<i64, StoreError> {
        Store::last_id(self, table)
    }
    fn enqueue(&mut self, channel: &str, message: &str, now: i64) -> Result<i64, StoreError> {
        Store::enqueue(self, channel, message, now)
    }
    fn due(
        &mut self,
        channel: &str,
        limit: i64,
        max_retries: i64,
        now: i64,
    ) -> Result<Vec<OutboundRow>, StoreError> {
        Store::due(self, channel, limit, max_retries, now)
    }
    fn mark_sent(&mut self, message_id: i64, now: i64) -> Result<bool, StoreError> {
        Store::mark_sent(self, message_id, now)
    }
    fn mark_failed(
        &mut self,
        message_id: i64,
        error: &str,
        permanent: bool,
        now: i64,
    ) -> Result<bool, StoreError> {
        Store::mark_failed(self, message_id, error, permanent, now)
    }
    fn outbound_status(&mut self, message_id: i64) -> Result<Option<OutboundStatus>, StoreError> {
        Store::outbound_status(self, message_id)
    }
    fn maintenance(
        &mut self,
        now: i64,
        retention: &Retention,
        max_batches: usize,
    ) -> Result<MaintenanceReport, StoreError> {
        Store::maintenance(self, now, retention, max_batches)
    }
    fn close_open_sessions(&mut self, now: i64) -> Result<usize, StoreError> {
        Store::close_open_sessions(self, now)
    }
    fn checkpoint(&mut self) -> Result<(), StoreError> {
        Store::checkpoint(self)
    }
    fn finish_checkpoint(&mut self) -> Result<(), StoreError> {
        Store::finish_checkpoint(self).map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_and_redaction() {
        assert_eq!(
            StoreTarget::parse("bot_data.db"),
            StoreTarget::Sqlite("bot_data.db".into())
        );
        assert!(matches!(
            StoreTarget::parse("postgresql://u@h/db"),
            StoreTarget::Postgres(_)
        ));
        assert_eq!(
            StoreTarget::parse("postgres://u:pw@h:5432/db").to_string(),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
    }
}

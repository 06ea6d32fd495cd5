//! The PostgreSQL backend: the same tables (v0.5 names plus the `channel` dimension), the
//! same migrations recorded in `rosey_migrations`, the same effects, queries and replies as
//! the SQLite [`crate::Store`], behind the same [`crate::Storage`] interface.
//!
//! # Layout
//! - [`PgStore`] (here): one connection (the blocking `postgres` client), its cache of
//!   prepared statements, reconnection after the server went away.
//! - `schema`: the migrations, taken under an advisory lock so that several services
//!   starting at once migrate once.
//! - `ingest`: [`PgStore::apply_batch`] — one transaction per batch; ids de-duplicated in
//!   one statement per batch; the slow path (one savepoint per event).
//! - `batch`: a batch's effects as a few set-based statements (chat rows, user counts,
//!   high-water marks and status once per batch, joins, leaves and chat-line counters once
//!   per round of users), so a burst of any mix costs a few round trips per batch, not
//!   several per event.
//! - `query`: the read side, the outbound queue and maintenance.
//!
//! Why the blocking `postgres` client (the rust-postgres project's synchronous face of
//! `tokio-postgres`): the store is owned by one thread (the service's writer, or its query
//! thread) with a synchronous interface shared with SQLite. A pool is not needed: a service
//! holds exactly two connections, one for its writer and one for its queries.

mod batch;
mod ingest;
mod kv;
mod media;
mod moderation;
mod query;
mod schema;
mod web;

use std::collections::HashMap;
use std::str::FromStr;

use postgres::error::SqlState;
use postgres::{Client, GenericClient, NoTls, Statement};

use crate::storage::redact_url;
use crate::{SCHEMA_VERSION, StoreError, StoreOptions, error::pg_op};

/// One connection to a PostgreSQL database.
pub struct PgStore {
    client: Client,
    config: postgres::Config,
    target: String,
    default_channel: String,
    stmts: StatementCache,
}

/// Prepared statements of one connection, by their SQL text.
type StatementCache = HashMap<&'static str, Statement>;

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("target", &self.target)
            .field("default_channel", &self.default_channel)
            .finish()
    }
}

impl PgStore {
    /// Connects and brings the schema to [`SCHEMA_VERSION`].
    pub fn connect(url: &str, options: &StoreOptions) -> Result<PgStore, StoreError> {
        let mut store = PgStore::connect_plain(url, options)?;
        schema::migrate(&mut store.client, &options.default_channel)?;
        Ok(store)
    }

    /// Connects for queries to an already migrated database.
    pub fn connect_reader(url: &str, options: &StoreOptions) -> Result<PgStore, StoreError> {
        let mut store = PgStore::connect_plain(url, options)?;
        let version = schema::current_version(&mut store.client)?;
        if version < SCHEMA_VERSION {
            return Err(StoreError::SchemaTooOld {
                found: version,
                expected: SCHEMA_VERSION,
            });
        }
        Ok(store)
    }

    fn connect_plain(url: &str, options: &StoreOptions) -> Result<PgStore, StoreError> {
        let target = redact_url(url);
        let mut config = postgres::Config::from_str(url).map_err(|source| StoreError::Connect {
            target: target.clone(),
            source,
        })?;
        config.application_name("rosey");
        config.connect_timeout(options.busy_timeout.max(std::time::Duration::from_secs(1)));
        let client = config
            .connect(NoTls)
            .map_err(|source| StoreError::Connect {
                target: target.clone(),
                source,
            })?;
        Ok(PgStore {
            client,
            config,
            target,
            default_channel: options.default_channel.clone(),
            stmts: HashMap::new(),
        })
    }

    /// The URL, without its password.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// The raw client, for tests and tools that need plain SQL.
    pub fn client(&mut self) -> &mut Client {
        &mut self.client
    }

    /// Reconnects when the server closed the connection (restart, idle timeout); prepared
    /// statements are prepared again on the new connection.
    fn ensure_connected(&mut self) -> Result<(), StoreError> {
        if self.client.is_closed() {
            self.client = self
                .config
                .connect(NoTls)
                .map_err(|source| StoreError::Connect {
                    target: self.target.clone(),
                    source,
                })?;
            self.stmts.clear();
            tracing::warn!(target = %self.target, "Reconnected to PostgreSQL.");
        }
        Ok(())
    }
}

/// A prepared statement for `sql`, from the cache or prepared now.
fn prep<C: GenericClient>(
    c: &mut C,
    cache: &mut StatementCache,
    sql: &'static str,
) -> Result<Statement, postgres::Error> {
    if let Some(s) = cache.get(sql) {
        return Ok(s.clone());
    }
    let s = c.prepare(sql)?;
    cache.insert(sql, s.clone());
    Ok(s)
}

/// A statement written in SQLite's spelling, in PostgreSQL's: `?N` placeholders become
/// `$N`, and a `/*C*/` mark after a text sort key becomes `COLLATE "C"` (byte order, as
/// SQLite's BINARY; SQLite reads the mark as a comment). Translated once per statement and
/// kept for the life of the process (the statements are a fixed, small set), so the
/// prepared-statement cache keys stay `&'static str`.
pub(crate) fn dialect(sql: &'static str) -> &'static str {
    use std::sync::{LazyLock, Mutex};
    static DONE: LazyLock<Mutex<HashMap<&'static str, &'static str>>> =
        LazyLock::new(Default::default);
    let mut done = DONE.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(t) = done.get(sql) {
        return t;
    }
    let mut out = String::with_capacity(sql.len() + 16);
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '?' && chars.peek().is_some_and(char::is_ascii_digit) {
            out.push('$');
        } else {
            out.push(c);
        }
    }
    let out: &'static str = Box::leak(out.replace("/*C*/", " COLLATE \"C\"").into_boxed_str());
    done.insert(sql, out);
    out
}

/// Lost a deadlock or serialization conflict to another transaction, or the connection
/// dropped: the whole transaction may be retried.
pub(crate) fn is_retryable(e: &postgres::Error) -> bool {
    e.is_closed()
        || matches!(
            e.code(),
            Some(c) if *c == SqlState::T_R_DEADLOCK_DETECTED
                || *c == SqlState::T_R_SERIALIZATION_FAILURE
        )
}

/// Rows in `table`, which must be one of ours.
fn count_rows<C: GenericClient>(c: &mut C, table: &str) -> Result<i64, StoreError> {
    let Some(t) = crate::query::TABLES.iter().find(|t| **t == table) else {
        return Err(StoreError::Copy(format!("no table named `{table}`")));
    };
    c.query_one(&format!("SELECT count(*) FROM {t}"), &[])
        .map(|r| r.get(0))
        .map_err(pg_op("count rows"))
}

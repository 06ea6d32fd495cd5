//! The soak's databases, as the accounting reads them: one SQLite file or one PostgreSQL
//! database per database service, counted with the same statements (what each tagged line,
//! each abusive line's decision and each soak media item left in it).

use std::collections::HashMap;
use std::path::PathBuf;

/// Where one database service stores.
#[derive(Debug, Clone)]
pub enum Target {
    Sqlite(PathBuf),
    /// A `postgres://` URL.
    Postgres(String),
}

/// One database service's store.
#[derive(Debug, Clone)]
pub struct Database {
    /// `db-a`, `db-b`: also the name of its service process.
    pub name: &'static str,
    pub target: Target,
}

impl Database {
    pub fn kind(&self) -> &'static str {
        match self.target {
            Target::Sqlite(_) => "sqlite",
            Target::Postgres(_) => "postgres",
        }
    }

    /// Rows of a `SELECT text, count(*) … GROUP BY` statement; empty when the database
    /// cannot be read (yet).
    fn groups(&self, sql: &str) -> HashMap<String, u64> {
        match &self.target {
            Target::Sqlite(path) => {
                let Ok(s) =
                    rosey_store::Store::open_read_only(path, &rosey_store::StoreOptions::default())
                else {
                    return HashMap::new();
                };
                let conn = s.connection();
                let Ok(mut stmt) = conn.prepare(sql) else {
                    return HashMap::new();
                };
                stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
                    .map(|rows| rows.flatten().map(|(k, n)| (k, n as u64)).collect())
                    .unwrap_or_default()
            }
            Target::Postgres(url) => pg_blocking(url, |c| {
                c.query(sql, &[]).ok().map(|rows| {
                    rows.iter()
                        .map(|r| (r.get::<_, String>(0), r.get::<_, i64>(1) as u64))
                        .collect()
                })
            })
            .unwrap_or_default(),
        }
    }

    /// One number (`SELECT count(*) …`); 0 when the database cannot be read.
    fn number(&self, sql: &str) -> i64 {
        match &self.target {
            Target::Sqlite(path) => {
                rosey_store::Store::open_read_only(path, &rosey_store::StoreOptions::default())
                    .ok()
                    .and_then(|s| s.connection().query_row(sql, [], |r| r.get(0)).ok())
                    .unwrap_or(0)
            }
            Target::Postgres(url) => pg_blocking(url, |c| {
                c.query_one(sql, &[]).ok().map(|r| r.get::<_, i64>(0))
            })
            .unwrap_or(0),
        }
    }

    /// Chat rows stored (rows are only added during a soak).
    pub fn stored(&self) -> i64 {
        self.number("SELECT count(*) FROM recent_chat")
    }

    /// What the database holds at the end.
    pub fn counts(&self) -> StoreCounts {
        StoreCounts {
            lines: self.groups(
                "SELECT message, count(*) FROM recent_chat WHERE message LIKE 'soak-%' GROUP BY message",
            ),
            pm_audits: self
                .number("SELECT count(*) FROM user_actions WHERE action_type = 'pm_command'")
                as u64,
            decisions: self.groups(
                "SELECT evidence, count(*) FROM moderation_actions WHERE evidence LIKE 'soak-%' GROUP BY evidence",
            ),
            plays: self.groups(
                "SELECT media_id, count(*) FROM media_history WHERE media_id LIKE 'soakm%' GROUP BY media_id",
            ),
        }
    }
}

/// Runs `f` on a fresh PostgreSQL connection, off the async workers (a restart of the
/// server is a fault: a connection that fails is `None`).
fn pg_blocking<T>(url: &str, f: impl FnOnce(&mut postgres::Client) -> Option<T>) -> Option<T> {
    tokio::task::block_in_place(|| {
        let mut c = postgres::Client::connect(url, postgres::NoTls).ok()?;
        f(&mut c)
    })
}

/// What one database holds at the end.
#[derive(Debug, Default, Clone)]
pub struct StoreCounts {
    /// Rows per tagged chat line.
    pub lines: HashMap<String, u64>,
    /// `pm_command` audit rows.
    pub pm_audits: u64,
    /// Moderation decisions per judged line (its text is the evidence).
    pub decisions: HashMap<String, u64>,
    /// `media_history` rows per soak media id.
    pub plays: HashMap<String, u64>,
}

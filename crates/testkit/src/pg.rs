//! A throw-away PostgreSQL database per test, on the server at `127.0.0.1:5432` (trust
//! authentication, user `postgres`; override the server with `ROSEY_TEST_PG_URL`, e.g.
//! `postgres://me@127.0.0.1:5433`). `.ci/run` makes sure the server is up.
//!
//! [`PgTestDb::create`] makes a database with a unique name and [`Drop`] drops it again
//! (`WITH (FORCE)`, so connections a test left open do not keep it). There is no silent
//! skip: when the server cannot be reached the test fails and says how to start it.
//! The blocking client runs on its own thread, so async tests can use it too.

use std::sync::atomic::{AtomicU32, Ordering};

/// The server tests use when `ROSEY_TEST_PG_URL` is not set.
pub const DEFAULT_SERVER: &str = "postgres://postgres@127.0.0.1:5432";

/// How to start the server, for failure messages.
pub const HOW_TO_START: &str = "start it with `pg_ctlcluster --skip-systemctl-redirect \
     $(ls /etc/postgresql) main start` (Debian: `apt-get install -y postgresql` first), \
     or point ROSEY_TEST_PG_URL at another server";

/// One database that lives as long as the value.
#[derive(Debug)]
pub struct PgTestDb {
    server: String,
    name: String,
}

fn server() -> String {
    std::env::var("ROSEY_TEST_PG_URL")
        .unwrap_or_else(|_| DEFAULT_SERVER.to_string())
        .trim_end_matches('/')
        .to_string()
}

/// Runs `sql` on the server's `postgres` database, on a thread of its own.
fn admin(server: &str, sql: String) -> Result<(), String> {
    let url = format!("{server}/postgres");
    std::thread::spawn(move || {
        let mut c = postgres::Client::connect(&url, postgres::NoTls)
            .map_err(|e| format!("cannot connect to {url}: {e}"))?;
        c.batch_execute(&sql).map_err(|e| format!("{sql}: {e}"))
    })
    .join()
    .map_err(|_| "the PostgreSQL admin thread panicked".to_string())?
}

impl PgTestDb {
    /// Creates an empty database named after `label`, the process and a counter. Panics
    /// (failing the test) when the server is unreachable.
    pub fn create(label: &str) -> PgTestDb {
        static N: AtomicU32 = AtomicU32::new(0);
        let label: String = label
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '_'
                }
            })
            .take(30)
            .collect();
        let name = format!(
            "rosey_{label}_{}_{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let server = server();
        if let Err(e) = admin(&server, format!("CREATE DATABASE {name}")) {
            panic!("PostgreSQL is needed for this test and {e}; {HOW_TO_START}");
        }
        PgTestDb { server, name }
    }

    /// `postgres://…/<name>`.
    pub fn url(&self) -> String {
        format!("{}/{}", self.server, self.name)
    }

    /// The database name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for PgTestDb {
    fn drop(&mut self) {
        if let Err(e) = admin(
            &self.server,
            format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        ) {
            eprintln!("could not drop the test database: {e}");
        }
    }
}

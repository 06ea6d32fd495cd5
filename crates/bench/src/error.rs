//! [`BenchError`]: why the suite could not produce a report. A figure that misses its target
//! is not an error (the report says so); an error means a measurement could not be taken.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error(
        "nats-server not found on PATH or at /usr/sbin/nats-server; install it \
         (Debian/Ubuntu: `apt-get install -y nats-server`) and run again"
    )]
    NatsServerMissing,
    #[error("nats-server did not start: {0}")]
    NatsServerStart(String),
    #[error("cannot start `{what}` ({program}): {source}")]
    Spawn {
        what: String,
        program: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("`{what}` exited early ({status}); its log ends with:\n{log}")]
    Exited {
        what: String,
        status: String,
        log: String,
    },
    #[error("`{what}` is not ready after {seconds:.1} s: {detail}")]
    NotReady {
        what: String,
        seconds: f64,
        detail: String,
    },
    #[error("bus: {0}")]
    Bus(#[from] rosey_bus::BusError),
    #[error("database {path}: {detail}")]
    Database { path: PathBuf, detail: String },
    #[error("devserver: {0}")]
    DevServer(#[from] rosey_devserver::DevServerError),
    #[error("{what}: {detail}")]
    Measurement { what: &'static str, detail: String },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
}

impl BenchError {
    /// A measurement that could not be completed.
    pub fn measurement(what: &'static str, detail: impl ToString) -> BenchError {
        BenchError::Measurement {
            what,
            detail: detail.to_string(),
        }
    }
}

//! The service's error type.

use rosey_bus::BusError;
use rosey_store::StoreError;

/// Why the service could not start or stop cleanly. Bad input is never an error here: it is
/// answered or counted (see `counters`).
#[derive(Debug, thiserror::Error)]
pub enum DbServiceError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Bus(#[from] BusError),
    /// Registering with the NATS micro-service API failed.
    #[error("cannot register the `{name}` micro service: {reason}")]
    Service { name: String, reason: String },
    /// The writer thread is gone (it panicked or was already shut down).
    #[error("the database writer has stopped")]
    WriterGone,
    /// Durable mode could not be set up (no JetStream, stream or consumer refused).
    #[error("durable mode: {0}")]
    Durable(String),
    /// A blocking task could not be joined.
    #[error("internal task failed: {0}")]
    Join(String),
}

//! [`DbServiceConfig`]: everything the service needs to start, with defaults as named
//! constants. The binary (`rosey db-service`) and the one-process mode build it from the v2
//! configuration; tests and benchmarks build it directly.

use std::time::Duration;

use rosey_store::{Retention, StoreTarget};

/// Queue group of the ingest subscription: instances share the events, each written once.
pub const INGEST_QUEUE_GROUP: &str = "rosey-db";
/// Queue group of the query endpoints. It must differ from [`INGEST_QUEUE_GROUP`]: NATS
/// delivers a message to one member per queue *name* among all matching subscriptions, so a
/// shared name would let the ingest wildcard swallow requests meant for the endpoints.
pub const QUERY_QUEUE_GROUP: &str = "rosey-db-query";
/// Name under which the service registers with the NATS micro-service API.
pub const SERVICE_NAME: &str = "rosey-db";
/// Most events committed in one transaction.
pub const DEFAULT_BATCH_MAX: usize = 2048;
/// Events waiting for the writer before the ingest consumer waits (backpressure).
pub const DEFAULT_QUEUE_CAPACITY: usize = 8192;
/// How long the writer may keep collecting one batch.
pub const DEFAULT_BATCH_DELAY: Duration = Duration::from_millis(20);
/// How often retention runs.
pub const DEFAULT_MAINTENANCE_INTERVAL: Duration = Duration::from_secs(300);
/// Retention steps per maintenance pass (each step deletes at most `Retention::batch` rows
/// per table, and the writer commits waiting events between steps; what is left waits for
/// the next pass).
pub const DEFAULT_MAINTENANCE_BATCHES: usize = 100;

/// How to run the database service.
#[derive(Debug, Clone)]
pub struct DbServiceConfig {
    /// The database: an SQLite file (the default) or a PostgreSQL URL. The service only
    /// hands it to `rosey_store::storage`; it never looks at which one it is.
    pub db: StoreTarget,
    /// Channel of payloads that name none (the first enabled platform's, else `default`).
    pub default_channel: String,
    pub batch_max: usize,
    pub batch_delay: Duration,
    pub queue_capacity: usize,
    pub maintenance_interval: Duration,
    pub maintenance_batches: usize,
    pub retention: Retention,
    pub ingest_queue_group: String,
    pub query_queue_group: String,
    pub service_name: String,
    /// SQLite page cache per connection, KiB.
    pub cache_kib: i64,
    /// Durable mode (JetStream); `None` = plain mode (core NATS, at-most-once).
    pub durable: Option<crate::durable::DurableConfig>,
    /// The commit the binary was built from, in the service's metadata (`rosey status`).
    pub commit: Option<String>,
    /// The executable running the service (`rosey-db`, or `rosey` for `rosey db-service`
    /// and `rosey run`), in the service's metadata (`rosey status`).
    pub binary: Option<String>,
}

impl DbServiceConfig {
    /// Defaults for a database (a path is an SQLite file) and a default channel.
    pub fn new(db: impl Into<StoreTarget>, default_channel: impl Into<String>) -> Self {
        DbServiceConfig {
            db: db.into(),
            default_channel: default_channel.into(),
            batch_max: DEFAULT_BATCH_MAX,
            batch_delay: DEFAULT_BATCH_DELAY,
            queue_capacity: DEFAULT_QUEUE_CAPACITY,
            maintenance_interval: DEFAULT_MAINTENANCE_INTERVAL,
            maintenance_batches: DEFAULT_MAINTENANCE_BATCHES,
            retention: Retention::default(),
            ingest_queue_group: INGEST_QUEUE_GROUP.to_string(),
            query_queue_group: QUERY_QUEUE_GROUP.to_string(),
            service_name: SERVICE_NAME.to_string(),
            cache_kib: rosey_store::DEFAULT_CACHE_KIB,
            durable: None,
            commit: None,
            binary: None,
        }
    }
}

//! Durable mode support shared by the bot and the database service (SPEC §3.4): the
//! `ROSEY_DB` JetStream stream over the database *event* subjects only, and the
//! `Nats-Msg-Id` header that lets the stream drop a re-published duplicate.
//!
//! The stream must never capture the request/reply subjects (it would answer requests with
//! its own publish acks), so its subject list is exactly
//! [`rosey_model::subjects::DB_EVENT_SUBJECTS`] and the batch subject
//! [`rosey_model::subjects::DB_BATCH`] (see [`crate::batch`]).

use std::time::Duration;

use async_nats::jetstream::{self, stream};
use rosey_model::subjects::{DB_BATCH, DB_EVENT_SUBJECTS};

use crate::{BusError, HeaderMap};

/// The header JetStream de-duplicates on.
pub const MSG_ID_HEADER: &str = "Nats-Msg-Id";

/// Settings of the `ROSEY_DB` stream.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamSettings {
    pub name: String,
    /// Events older than this are dropped by the server.
    pub max_age: Duration,
    /// Size cap; -1 = unlimited.
    pub max_bytes: i64,
    /// A re-publish with a known id within this window is dropped by the server.
    pub duplicate_window: Duration,
    /// Memory storage instead of files (tests only; a restart loses it).
    pub memory: bool,
    pub replicas: usize,
}

impl Default for StreamSettings {
    fn default() -> Self {
        StreamSettings {
            name: "ROSEY_DB".to_string(),
            max_age: Duration::from_secs(7 * 86_400),
            max_bytes: 1 << 30,
            duplicate_window: Duration::from_secs(120),
            memory: false,
            replicas: 1,
        }
    }
}

impl StreamSettings {
    fn to_config(&self) -> stream::Config {
        stream::Config {
            name: self.name.clone(),
            subjects: DB_EVENT_SUBJECTS
                .iter()
                .chain([&DB_BATCH])
                .map(|s| s.to_string())
                .collect(),
            max_age: self.max_age,
            max_bytes: self.max_bytes,
            duplicate_window: self.duplicate_window,
            storage: if self.memory {
                stream::StorageType::Memory
            } else {
                stream::StorageType::File
            },
            num_replicas: self.replicas.max(1),
            ..Default::default()
        }
    }
}

/// Creates the stream, or brings an existing one up to `settings` (limits may change
/// between releases; the subjects are always reset to the event subjects).
pub async fn ensure_db_stream(
    client: &async_nats::Client,
    settings: &StreamSettings,
) -> Result<stream::Info, BusError> {
    let js = jetstream::new(client.clone());
    js.create_or_update_stream(settings.to_config())
        .await
        .map_err(|e| BusError::Io {
            op: "create or update stream",
            reason: format!("{}: {e}", settings.name),
        })
}

/// Headers carrying the event id.
pub fn msg_id_headers(id: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(MSG_ID_HEADER, id);
    h
}

/// The event id of a delivered message, if it carries one.
pub fn msg_id(headers: Option<&HeaderMap>) -> Option<&str> {
    headers
        .and_then(|h| h.get(MSG_ID_HEADER))
        .map(|v| v.as_str())
}

//! [`Kv`]: a plugin's client of the database service's key-value store
//! (`rosey.db.kv.<plugin>.*`, see `rosey_model::kv`), bound to the plugin's namespace: the
//! subjects it sends to name the namespace, and a plugin's NATS user may be granted its own
//! subjects only.

use std::time::Duration;

use rosey_model::kv::{
    KvDeleteReply, KvEntry, KvGetReply, KvKey, KvList, KvListReply, KvSet, KvSetReply,
};
use rosey_model::subjects;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// How long a store request may take by default.
pub const KV_TIMEOUT: Duration = Duration::from_secs(2);

/// What can go wrong with a store request.
#[derive(Debug, thiserror::Error)]
pub enum KvError {
    #[error("the database service did not answer ({0})")]
    Unavailable(String),
    #[error("the database service refused the request: {0}")]
    Refused(String),
    #[error("unexpected reply from the database service: {0}")]
    BadReply(String),
}

/// The key-value store, in one plugin's namespace.
#[derive(Clone)]
pub struct Kv {
    client: async_nats::Client,
    plugin: String,
    timeout: Duration,
}

impl Kv {
    pub fn new(client: async_nats::Client, plugin: impl Into<String>) -> Self {
        Kv {
            client,
            plugin: plugin.into(),
            timeout: KV_TIMEOUT,
        }
    }

    async fn call<Q: Serialize, R: DeserializeOwned>(
        &self,
        subject: &str,
        q: &Q,
    ) -> Result<R, KvError> {
        let body = bytes::Bytes::from(rosey_model::encode(q));
        let m = tokio::time::timeout(self.timeout, self.client.request(subject.to_string(), body))
            .await
            .map_err(|_| KvError::Unavailable(format!("timed out after {:?}", self.timeout)))?
            .map_err(|e| KvError::Unavailable(e.to_string()))?;
        let v: Value =
            serde_json::from_slice(&m.payload).map_err(|e| KvError::BadReply(e.to_string()))?;
        if v["success"] == Value::Bool(false) {
            return Err(KvError::Refused(
                v["error"].as_str().unwrap_or("unknown error").to_string(),
            ));
        }
        serde_json::from_value(v).map_err(|e| KvError::BadReply(e.to_string()))
    }

    fn key(&self, key: &str) -> KvKey {
        KvKey {
            plugin: String::new(),
            key: key.to_string(),
        }
    }

    fn subject(&self, op: &str) -> String {
        subjects::kv_subject(&self.plugin, op)
    }

    /// Sets `key` to `value`.
    pub async fn set(&self, key: &str, value: Value) -> Result<(), KvError> {
        let q = KvSet {
            plugin: String::new(),
            key: key.to_string(),
            value,
        };
        self.call::<_, KvSetReply>(&self.subject(subjects::KV_OP_SET), &q)
            .await?;
        Ok(())
    }

    /// The value of `key`, if set.
    pub async fn get(&self, key: &str) -> Result<Option<Value>, KvError> {
        let r: KvGetReply = self
            .call(&self.subject(subjects::KV_OP_GET), &self.key(key))
            .await?;
        Ok(r.found.then_some(r.value))
    }

    /// Deletes `key`; true when it existed.
    pub async fn delete(&self, key: &str) -> Result<bool, KvError> {
        let r: KvDeleteReply = self
            .call(&self.subject(subjects::KV_OP_DELETE), &self.key(key))
            .await?;
        Ok(r.deleted)
    }

    /// The entries whose key starts with `prefix`, in key order, at most `limit`.
    pub async fn list(&self, prefix: &str, limit: i64) -> Result<Vec<KvEntry>, KvError> {
        let q = KvList {
            plugin: String::new(),
            prefix: prefix.to_string(),
            limit,
        };
        let r: KvListReply = self.call(&self.subject(subjects::KV_OP_LIST), &q).await?;
        Ok(r.entries)
    }
}

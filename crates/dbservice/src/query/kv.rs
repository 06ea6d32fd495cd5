//! The plugin key-value store's requests (`rosey.db.kv.set/get/delete/list`, see
//! `rosey_model::kv`): checked here (names, key and value sizes, list limit), written through
//! the writer like every other write, read on the query side.

use bytes::Bytes;
use rosey_model::kv::{
    KvDeleteReply, KvEntry, KvGetReply, KvKey, KvList, KvListReply, KvSet, KvSetReply, MAX_LIST,
    MAX_VALUE_BYTES, check_key,
};
use rosey_model::{encode, subjects};
use rosey_store::now_secs;
use serde_json::Value;

use super::{Queries, QueryError, req};

/// Endpoint names for the micro-service API (subject → name).
pub const ENDPOINTS: [(&str, &str); 4] = [
    (subjects::KV_SET, "kv_set"),
    (subjects::KV_GET, "kv_get"),
    (subjects::KV_DELETE, "kv_delete"),
    (subjects::KV_LIST, "kv_list"),
];

/// A stored value back to JSON (a value some other tool wrote as plain text stays a string).
fn value_of(text: String) -> Value {
    serde_json::from_str(&text).unwrap_or(Value::String(text))
}

impl Queries {
    pub(super) async fn kv(&self, subject: &str, payload: &[u8]) -> Result<Bytes, QueryError> {
        match subject {
            subjects::KV_SET => {
                let q: KvSet = req(payload)?;
                check_key(&q.plugin, &q.key).map_err(QueryError::Invalid)?;
                let text = serde_json::to_string(&q.value).unwrap_or_default();
                if text.len() > MAX_VALUE_BYTES {
                    return Err(QueryError::Invalid(format!(
                        "field `value`: {} bytes, the limit is {MAX_VALUE_BYTES}",
                        text.len()
                    )));
                }
                self.write(move |s| s.kv_set(&q.plugin, &q.key, &text, now_secs()))
                    .await?;
                Ok(Bytes::from(encode(&KvSetReply { success: true })))
            }
            subjects::KV_DELETE => {
                let q: KvKey = req(payload)?;
                check_key(&q.plugin, &q.key).map_err(QueryError::Invalid)?;
                let deleted = self.write(move |s| s.kv_delete(&q.plugin, &q.key)).await?;
                Ok(Bytes::from(encode(&KvDeleteReply {
                    success: true,
                    deleted,
                })))
            }
            subjects::KV_GET => {
                let q: KvKey = req(payload)?;
                check_key(&q.plugin, &q.key).map_err(QueryError::Invalid)?;
                self.read(move |s| {
                    let v = s.kv_get(&q.plugin, &q.key)?;
                    Ok(KvGetReply {
                        success: true,
                        found: v.is_some(),
                        value: v.map(value_of).unwrap_or(Value::Null),
                    })
                })
                .await
            }
            subjects::KV_LIST => {
                let q: KvList = req(payload)?;
                check_key(&q.plugin, "-").map_err(QueryError::Invalid)?;
                if !(1..=MAX_LIST).contains(&q.limit) {
                    return Err(QueryError::Invalid(format!(
                        "field `limit`: must be 1 to {MAX_LIST}"
                    )));
                }
                self.read(move |s| {
                    let rows = s.kv_list(&q.plugin, &q.prefix, q.limit)?;
                    Ok(KvListReply {
                        success: true,
                        entries: rows
                            .into_iter()
                            .map(|(key, v)| KvEntry {
                                key,
                                value: value_of(v),
                            })
                            .collect(),
                    })
                })
                .await
            }
            other => Err(QueryError::Invalid(format!(
                "unknown request subject `{other}`"
            ))),
        }
    }
}

//! The plugin key-value store's requests (`rosey.db.kv.<plugin>.<op>`, see
//! `rosey_model::kv`): the namespace is the subject's `<plugin>` token, never a payload
//! field, so NATS permissions on the subjects decide who may use which namespace. Checked
//! here (names, key and value sizes, list limit), written through the writer like every
//! other write, read on the query side.

use bytes::Bytes;
use rosey_model::kv::{
    KvDeleteReply, KvEntry, KvGetReply, KvKey, KvList, KvListReply, KvSet, KvSetReply, MAX_LIST,
    MAX_VALUE_BYTES, bind_namespace, check_key,
};
use rosey_model::{encode, subjects};
use rosey_store::now_secs;
use serde_json::Value;

use super::{Queries, QueryError, req};

/// Endpoint subjects and names for the micro-service API: one wildcard subscription per
/// operation (`rosey.db.kv.*.<op>`), and the retired payload-namespace subjects, which are
/// answered with an error naming the new subject.
pub fn endpoints() -> Vec<(String, &'static str)> {
    let mut all: Vec<(String, &'static str)> = [
        (subjects::KV_OP_SET, "kv_set"),
        (subjects::KV_OP_GET, "kv_get"),
        (subjects::KV_OP_DELETE, "kv_delete"),
        (subjects::KV_OP_LIST, "kv_list"),
    ]
    .into_iter()
    .map(|(op, name)| (subjects::kv_wildcard(op), name))
    .collect();
    all.push((format!("{}.*", subjects::KV_PREFIX), "kv_retired"));
    all
}

/// A stored value back to JSON (a value some other tool wrote as plain text stays a string).
fn value_of(text: String) -> Value {
    serde_json::from_str(&text).unwrap_or(Value::String(text))
}

impl Queries {
    pub(super) async fn kv(&self, subject: &str, payload: &[u8]) -> Result<Bytes, QueryError> {
        let Some((namespace, op)) = subjects::parse_kv_subject(subject) else {
            return Err(QueryError::Invalid(format!(
                "`{subject}` is retired: send to {}.<plugin>.<op> (the subject names the namespace)",
                subjects::KV_PREFIX
            )));
        };
        let namespace = namespace.to_string();
        let bound = |claimed: &str| -> Result<String, QueryError> {
            bind_namespace(&namespace, claimed)
                .map(str::to_string)
                .map_err(QueryError::Invalid)
        };
        match op {
            subjects::KV_OP_SET => {
                let q: KvSet = req(payload)?;
                let plugin = bound(&q.plugin)?;
                check_key(&plugin, &q.key).map_err(QueryError::Invalid)?;
                let text = serde_json::to_string(&q.value).unwrap_or_default();
                if text.len() > MAX_VALUE_BYTES {
                    return Err(QueryError::Invalid(format!(
                        "field `value`: {} bytes, the limit is {MAX_VALUE_BYTES}",
                        text.len()
                    )));
                }
                self.write(move |s| s.kv_set(&plugin, &q.key, &text, now_secs()))
                    .await?;
                Ok(Bytes::from(encode(&KvSetReply { success: true })))
            }
            subjects::KV_OP_DELETE => {
                let q: KvKey = req(payload)?;
                let plugin = bound(&q.plugin)?;
                check_key(&plugin, &q.key).map_err(QueryError::Invalid)?;
                let deleted = self.write(move |s| s.kv_delete(&plugin, &q.key)).await?;
                Ok(Bytes::from(encode(&KvDeleteReply {
                    success: true,
                    deleted,
                })))
            }
            subjects::KV_OP_GET => {
                let q: KvKey = req(payload)?;
                let plugin = bound(&q.plugin)?;
                check_key(&plugin, &q.key).map_err(QueryError::Invalid)?;
                self.read(move |s| {
                    let v = s.kv_get(&plugin, &q.key)?;
                    Ok(KvGetReply {
                        success: true,
                        found: v.is_some(),
                        value: v.map(value_of).unwrap_or(Value::Null),
                    })
                })
                .await
            }
            _ => {
                let q: KvList = req(payload)?;
                let plugin = bound(&q.plugin)?;
                check_key(&plugin, "-").map_err(QueryError::Invalid)?;
                if !(1..=MAX_LIST).contains(&q.limit) {
                    return Err(QueryError::Invalid(format!(
                        "field `limit`: must be 1 to {MAX_LIST}"
                    )));
                }
                self.read(move |s| {
                    let rows = s.kv_list(&plugin, &q.prefix, q.limit)?;
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
        }
    }
}

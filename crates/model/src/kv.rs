//! The plugin key-value store on the database service: `rosey.db.kv.set/get/delete/list`
//! (the subject names of Rosey v0.5's successor). Every request names its `plugin`, the
//! namespace its keys live in; one plugin never sees another's keys.
//!
//! Values are any JSON value, stored as its JSON text, at most [`MAX_VALUE_BYTES`] of it;
//! keys are 1..=[`MAX_KEY_BYTES`] bytes. `list` returns the keys (and values) that start
//! with a prefix, in key order, at most `limit` ([`MAX_LIST`]) of them.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The largest value (its JSON text), in bytes.
pub const MAX_VALUE_BYTES: usize = 64 * 1024;
/// The longest key, in bytes.
pub const MAX_KEY_BYTES: usize = 256;
/// The longest plugin name, in bytes.
pub const MAX_PLUGIN_BYTES: usize = 64;
/// The most entries one `list` returns.
pub const MAX_LIST: i64 = 1000;

/// `rosey.db.kv.set {plugin, key, value}` → [`KvSetReply`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KvSet {
    pub plugin: String,
    pub key: String,
    pub value: Value,
}

/// `rosey.db.kv.get {plugin, key}` → [`KvGetReply`]; `rosey.db.kv.delete {plugin, key}` →
/// [`KvDeleteReply`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KvKey {
    pub plugin: String,
    pub key: String,
}

/// `rosey.db.kv.list {plugin, prefix?, limit?}` → [`KvListReply`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KvList {
    pub plugin: String,
    #[serde(default)]
    pub prefix: String,
    #[serde(default = "default_list_limit")]
    pub limit: i64,
}

fn default_list_limit() -> i64 {
    100
}

/// `{success:true}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KvSetReply {
    pub success: bool,
}

/// `{success:true, found, value}` (`value` is null when not found).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KvGetReply {
    pub success: bool,
    pub found: bool,
    #[serde(default)]
    pub value: Value,
}

/// `{success:true, deleted}` (false when there was no such key).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KvDeleteReply {
    pub success: bool,
    pub deleted: bool,
}

/// One listed entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KvEntry {
    pub key: String,
    pub value: Value,
}

/// `{success:true, entries:[{key, value}]}` in key order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KvListReply {
    pub success: bool,
    pub entries: Vec<KvEntry>,
}

/// Checks a plugin name and key against the limits; the error says which field is wrong.
pub fn check_key(plugin: &str, key: &str) -> Result<(), String> {
    if plugin.is_empty() || plugin.len() > MAX_PLUGIN_BYTES {
        return Err(format!(
            "field `plugin`: must be 1 to {MAX_PLUGIN_BYTES} bytes"
        ));
    }
    if key.is_empty() || key.len() > MAX_KEY_BYTES {
        return Err(format!("field `key`: must be 1 to {MAX_KEY_BYTES} bytes"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_defaults_and_key_limits() {
        let l: KvList = serde_json::from_str(r#"{"plugin":"quotes","extra":1}"#).unwrap();
        assert_eq!((l.prefix.as_str(), l.limit), ("", 100));
        assert!(check_key("quotes", "a").is_ok());
        assert!(check_key("", "a").unwrap_err().contains("plugin"));
        assert!(
            check_key("q", &"k".repeat(MAX_KEY_BYTES + 1))
                .unwrap_err()
                .contains("key")
        );
    }
}

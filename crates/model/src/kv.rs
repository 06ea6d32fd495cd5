//! The plugin key-value store on the database service: `rosey.db.kv.<plugin>.<op>` with
//! `<op>` one of `set`, `get`, `delete`, `list` (`rosey_model::subjects::kv_subject`). The
//! subject's `<plugin>` token is the namespace the keys live in, so a plugin user whose NATS
//! permissions grant `rosey.db.kv.<its name>.>` only can never see or change another
//! plugin's keys. A request may still carry a `plugin` field (older clients send it): it
//! must then name the subject's namespace.
//!
//! Values are any JSON value, stored as its JSON text, at most [`MAX_VALUE_BYTES`] of it;
//! keys are 1..=[`MAX_KEY_BYTES`] bytes. `list` returns the keys (and values) that start
//! with a prefix, in key order, at most `limit` ([`MAX_LIST`]) of them.

use schemars::JsonSchema;
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

/// `rosey.db.kv.<plugin>.set {key, value}` → [`KvSetReply`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct KvSet {
    /// Optional; when not empty it must be the subject's namespace.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub plugin: String,
    pub key: String,
    pub value: Value,
}

/// `rosey.db.kv.<plugin>.get {key}` → [`KvGetReply`]; `rosey.db.kv.<plugin>.delete {key}`
/// → [`KvDeleteReply`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct KvKey {
    /// Optional; when not empty it must be the subject's namespace.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub plugin: String,
    pub key: String,
}

/// `rosey.db.kv.<plugin>.list {prefix?, limit?}` → [`KvListReply`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct KvList {
    /// Optional; when not empty it must be the subject's namespace.
    #[serde(default, skip_serializing_if = "String::is_empty")]
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct KvSetReply {
    pub success: bool,
}

/// `{success:true, found, value}` (`value` is null when not found).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct KvGetReply {
    pub success: bool,
    pub found: bool,
    #[serde(default)]
    pub value: Value,
}

/// `{success:true, deleted}` (false when there was no such key).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct KvDeleteReply {
    pub success: bool,
    pub deleted: bool,
}

/// One listed entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct KvEntry {
    pub key: String,
    pub value: Value,
}

/// `{success:true, entries:[{key, value}]}` in key order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
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

/// The namespace of a request on `rosey.db.kv.<namespace>.<op>` whose payload named
/// `claimed` (empty: none): the subject's, or an error when the payload names another.
pub fn bind_namespace<'a>(namespace: &'a str, claimed: &str) -> Result<&'a str, String> {
    if !claimed.is_empty() && claimed != namespace {
        return Err(format!(
            "field `plugin`: `{claimed}` is not this subject's namespace `{namespace}` (a plugin uses its own rosey.db.kv.<plugin>.* subjects)"
        ));
    }
    Ok(namespace)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_defaults_and_key_limits() {
        let l: KvList = serde_json::from_str(r#"{"plugin":"quotes","extra":1}"#).unwrap();
        assert_eq!((l.prefix.as_str(), l.limit), ("", 100));
        let k: KvKey = serde_json::from_str(r#"{"key":"k"}"#).unwrap();
        assert_eq!(k.plugin, "");
        assert_eq!(bind_namespace("quote", ""), Ok("quote"));
        assert_eq!(bind_namespace("quote", "quote"), Ok("quote"));
        assert!(
            bind_namespace("quote", "tell")
                .unwrap_err()
                .contains("plugin")
        );
        assert!(check_key("quotes", "a").is_ok());
        assert!(check_key("", "a").unwrap_err().contains("plugin"));
        assert!(
            check_key("q", &"k".repeat(MAX_KEY_BYTES + 1))
                .unwrap_err()
                .contains("key")
        );
    }
}

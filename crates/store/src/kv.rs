//! The plugin key-value store (`plugin_kv`), namespaced by plugin: [`KvStore`], part of
//! every [`crate::Storage`]. SQLite here; PostgreSQL in `pg::kv`, with the same SQL but
//! for the placeholders. Values are kept as JSON text; the size limits are the database
//! service's to check (`rosey_model::kv`), the store only stores.

use rusqlite::{OptionalExtension, params};

use crate::{Store, StoreError, error::op};

/// Migration 5 on both backends (PostgreSQL reads ` INTEGER ` as ` BIGINT `).
pub(crate) const KV_SQL: &str = "
CREATE TABLE plugin_kv (
    plugin TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (plugin, key)
);
";

/// Key-value operations, in one plugin's namespace each.
pub trait KvStore {
    /// Sets `key` to `value` (JSON text) at time `now`.
    fn kv_set(&mut self, plugin: &str, key: &str, value: &str, now: i64) -> Result<(), StoreError>;
    /// The value of `key`, if any.
    fn kv_get(&mut self, plugin: &str, key: &str) -> Result<Option<String>, StoreError>;
    /// Deletes `key`; true when it existed.
    fn kv_delete(&mut self, plugin: &str, key: &str) -> Result<bool, StoreError>;
    /// `(key, value)` for the keys that start with `prefix`, in key order, at most `limit`.
    fn kv_list(
        &mut self,
        plugin: &str,
        prefix: &str,
        limit: i64,
    ) -> Result<Vec<(String, String)>, StoreError>;
}

/// The keys starting with `prefix` are those in `[prefix, upper)`: a range the primary key
/// index answers (a LIKE would need escaping and, on PostgreSQL, the C collation).
/// `None` = no upper bound (an empty prefix, or one of only U+10FFFF).
pub(crate) fn prefix_upper_bound(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let mut next = last as u32 + 1;
        if (0xD800..0xE000).contains(&next) {
            next = 0xE000;
        }
        if let Some(c) = char::from_u32(next) {
            chars.push(c);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

impl KvStore for Store {
    fn kv_set(&mut self, plugin: &str, key: &str, value: &str, now: i64) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "INSERT INTO plugin_kv (plugin, key, value, updated_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (plugin, key) DO UPDATE SET value = excluded.value,
                 updated_at = excluded.updated_at",
            )
            .and_then(|mut s| s.execute(params![plugin, key, value, now]))
            .map_err(op("kv set"))?;
        Ok(())
    }

    fn kv_get(&mut self, plugin: &str, key: &str) -> Result<Option<String>, StoreError> {
        self.conn
            .prepare_cached("SELECT value FROM plugin_kv WHERE plugin = ?1 AND key = ?2")
            .and_then(|mut s| s.query_row(params![plugin, key], |r| r.get(0)).optional())
            .map_err(op("kv get"))
    }

    fn kv_delete(&mut self, plugin: &str, key: &str) -> Result<bool, StoreError> {
        let n = self
            .conn
            .prepare_cached("DELETE FROM plugin_kv WHERE plugin = ?1 AND key = ?2")
            .and_then(|mut s| s.execute(params![plugin, key]))
            .map_err(op("kv delete"))?;
        Ok(n > 0)
    }

    fn kv_list(
        &mut self,
        plugin: &str,
        prefix: &str,
        limit: i64,
    ) -> Result<Vec<(String, String)>, StoreError> {
        let upper = prefix_upper_bound(prefix);
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT key, value FROM plugin_kv
                 WHERE plugin = ?1 AND key >= ?2 AND (?3 IS NULL OR key < ?3)
                 ORDER BY key LIMIT ?4",
            )
            .map_err(op("kv list"))?;
        let rows = stmt
            .query_map(params![plugin, prefix, upper, limit], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .map_err(op("kv list"))?;
        rows.collect::<Result<_, _>>().map_err(op("kv list"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upper_bound_of_a_prefix() {
        assert_eq!(prefix_upper_bound("tell/"), Some("tell0".into()));
        assert_eq!(prefix_upper_bound(""), None);
        assert_eq!(prefix_upper_bound("a\u{10FFFF}"), Some("b".into()));
        assert_eq!(prefix_upper_bound("\u{D7FF}"), Some("\u{E000}".into()));
    }
}

//! [`KvStore`] on PostgreSQL: the same statements as SQLite's (`crate::kv`).

use crate::kv::{KvStore, prefix_upper_bound};
use crate::{PgStore, StoreError};

impl KvStore for PgStore {
    fn kv_set(&mut self, plugin: &str, key: &str, value: &str, now: i64) -> Result<(), StoreError> {
        self.exec(
            "kv set",
            "INSERT INTO plugin_kv (plugin, key, value, updated_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (plugin, key) DO UPDATE SET value = excluded.value,
             updated_at = excluded.updated_at",
            &[&plugin, &key, &value, &now],
        )?;
        Ok(())
    }

    fn kv_get(&mut self, plugin: &str, key: &str) -> Result<Option<String>, StoreError> {
        let rows = self.rows(
            "kv get",
            "SELECT value FROM plugin_kv WHERE plugin = $1 AND key = $2",
            &[&plugin, &key],
        )?;
        Ok(rows.first().map(|r| r.get(0)))
    }

    fn kv_delete(&mut self, plugin: &str, key: &str) -> Result<bool, StoreError> {
        let n = self.exec(
            "kv delete",
            "DELETE FROM plugin_kv WHERE plugin = $1 AND key = $2",
            &[&plugin, &key],
        )?;
        Ok(n > 0)
    }

    fn kv_list(
        &mut self,
        plugin: &str,
        prefix: &str,
        limit: i64,
    ) -> Result<Vec<(String, String)>, StoreError> {
        let upper = prefix_upper_bound(prefix);
        // `COLLATE "C"`: byte order, like SQLite's and like the upper bound assumes.
        let rows = self.rows(
            "kv list",
            "SELECT key, value FROM plugin_kv
             WHERE plugin = $1 AND key COLLATE \"C\" >= $2
               AND ($3::text IS NULL OR key COLLATE \"C\" < $3)
             ORDER BY key COLLATE \"C\" LIMIT $4",
            &[&plugin, &prefix, &upper, &limit],
        )?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }
}

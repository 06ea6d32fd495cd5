//! [`ModerationStore`] on PostgreSQL: the statements of `crate::moderation` with `$N`
//! placeholders.

use rosey_model::payload::ModerationRow;

use crate::moderation::ModerationStore;
use crate::{PgStore, StoreError};

const SQL_LOG: &str = "SELECT timestamp, channel, rule, username, reason, evidence, \
    step, outcome, answer, dry_run FROM moderation_actions \
    WHERE ($1::text IS NULL OR channel = $1) AND timestamp >= $2 ORDER BY id DESC LIMIT $3";

impl ModerationStore for PgStore {
    fn moderation_log(
        &mut self,
        channel: Option<&str>,
        since: i64,
        limit: i64,
    ) -> Result<Vec<ModerationRow>, StoreError> {
        let rows = self.rows("moderation log", SQL_LOG, &[&channel, &since, &limit])?;
        Ok(rows
            .iter()
            .map(|r| ModerationRow {
                timestamp: r.get(0),
                channel: r.get(1),
                rule: r.get(2),
                username: r.get(3),
                reason: r.get(4),
                evidence: r.get(5),
                step: r.get(6),
                outcome: r.get(7),
                answer: r.get(8),
                dry_run: r.get::<_, i64>(9) != 0,
            })
            .collect())
    }
}

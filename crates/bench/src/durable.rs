//! Durable-mode ingest (`nats.jetstream: true`): the same bursts as plain mode, published into
//! the `ROSEY_DB` stream and consumed by a `rosey db-service` running in durable mode.
//!
//! Until durable mode provides a burst runner, this reports the figure as not measured, with
//! the reason: the suite never shows a durable figure it did not measure.

use crate::report::Durable;

/// Why durable mode is not measured by this build.
pub const NOT_MEASURED_REASON: &str = "durable mode (issue 7) provides no burst runner in \
     `rosey_dbservice::bench` in this build";

/// Durable-mode ingest figures, or why there are none.
pub async fn measure() -> Durable {
    Durable::NotMeasured {
        reason: NOT_MEASURED_REASON.to_string(),
    }
}

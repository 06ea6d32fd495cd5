//! Rosey's metrics room: one registry per process, the Prometheus exposition over HTTP, and
//! the health and readiness probes (issue 12).
//!
//! # Layout
//! - [`histogram`]: [`Histogram`], a fixed-bucket histogram of atomics (the client crate's
//!   own takes a lock per observation).
//! - [`labeled`]: [`LabeledCounters`], one atomic counter per value of a fixed label set,
//!   indexed by position (the hot path never looks a label up by string).
//! - [`source`]: [`Source`], what a part of the process (database service, bot) registers:
//!   it writes its metric families at scrape time from its own atomics, through [`Out`].
//! - [`process`]: CPU, memory, open files of this process (`process_*`, from `/proc`).
//! - [`nats`]: the NATS connection's state and reconnects, from the client's statistics.
//! - [`health`]: [`Health`], the named readiness checks behind `/readyz`.
//! - [`server`]: the HTTP listener (axum): `GET /metrics`, `/healthz`, `/readyz`.
//! - [`error`]: the error type, [`MetricsError`].
//!
//! ```text
//!  hot path ──atomic add──▶ counters/histograms owned by dbservice, bot
//!  GET /metrics ──▶ Registry ──▶ Source::collect (reads the atomics) ──▶ OpenMetrics text
//!  GET /readyz  ──▶ Health checks (NATS connected, store answering, channels joined)
//! ```
//!
//! Metric names follow Prometheus's guide: a `rosey_` prefix, base units, `_total` counters,
//! `_seconds` histograms. Labels come from fixed sets (`kind`, `endpoint`, `reason`,
//! `command`, `outcome`) or the configuration (`channel`); never a user name or chat text.

pub mod error;
pub mod health;
pub mod histogram;
pub mod labeled;
pub mod nats;
pub mod process;
pub mod server;
pub mod source;

use std::sync::{Arc, RwLock};

pub use error::MetricsError;
pub use health::{Check, Health};
pub use histogram::Histogram;
pub use labeled::LabeledCounters;
pub use server::MetricsServer;
pub use source::{Out, Source};

/// What a process says about its build (`rosey_build_info`).
#[derive(Debug, Clone)]
pub struct BuildInfo {
    /// The crate version, e.g. `0.1.0`.
    pub version: String,
    /// The git commit the binary was built from (`unknown` outside a checkout).
    pub commit: String,
    /// Which Rosey process this is (`run`, `bot`, `db-service`).
    pub process: String,
}

/// One process's metrics and health: register sources and checks, then [`Metrics::serve`].
///
/// Cloning shares the registry. Sources may be added after the listener started (the
/// database service and the bot start after it, so probes answer during start-up).
#[derive(Clone)]
pub struct Metrics {
    registry: Arc<RwLock<prometheus_client::registry::Registry>>,
    health: Health,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// A registry with the build info and the process collector.
    pub fn new(build: BuildInfo) -> Self {
        let metrics = Metrics {
            registry: Arc::new(RwLock::new(prometheus_client::registry::Registry::default())),
            health: Health::default(),
        };
        metrics.add_source(Arc::new(source::BuildSource(build)));
        metrics.add_source(Arc::new(process::ProcessSource::new()));
        metrics
    }

    /// Registers a source; it is asked for its families on every scrape.
    pub fn add_source(&self, source: Arc<dyn Source>) {
        self.registry
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .register_collector(Box::new(source::SourceCollector(source)));
    }

    /// The readiness checks.
    pub fn health(&self) -> &Health {
        &self.health
    }

    /// Adds the NATS connection's metrics and a readiness check that it is connected.
    pub fn watch_nats(&self, client: async_nats::Client) {
        let source = Arc::new(nats::NatsSource::new(client));
        self.health.add("nats", {
            let source = source.clone();
            move || source.check()
        });
        self.add_source(source);
    }

    /// The exposition in the OpenMetrics text format (ends with `# EOF`).
    pub fn encode_openmetrics(&self) -> String {
        let mut out = String::new();
        let registry = self.registry.read().unwrap_or_else(|e| e.into_inner());
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &registry) {
            tracing::warn!(error = %e, "Encoding the metrics failed.");
        }
        out
    }

    /// The exposition in the Prometheus text format 0.0.4 (for clients that do not ask for
    /// OpenMetrics, e.g. `curl` or `promtool check metrics`).
    pub fn encode_prometheus(&self) -> String {
        let mut out = String::new();
        let registry = self.registry.read().unwrap_or_else(|e| e.into_inner());
        if let Err(e) = prometheus_client::encoding::prometheus_text::encode(&mut out, &registry) {
            tracing::warn!(error = %e, "Encoding the metrics failed.");
        }
        out
    }

    /// Serves `/metrics`, `/healthz`, `/readyz` on `addr` until the server is shut down.
    pub async fn serve(&self, addr: std::net::SocketAddr) -> Result<MetricsServer, MetricsError> {
        server::serve(self.clone(), addr).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed(Histogram, LabeledCounters);

    impl Source for Fixed {
        fn collect(&self, out: &mut Out<'_>) -> std::fmt::Result {
            out.counter(
                "rosey_test_events",
                "Events.",
                self.1.iter().map(|(k, v)| ([("kind", k)], v)),
            )?;
            out.histogram_value("rosey_test_seconds", "Durations.", &self.0)
        }
    }

    fn metrics() -> Metrics {
        let m = Metrics::new(BuildInfo {
            version: "1.2.3".into(),
            commit: "abc".into(),
            process: "test".into(),
        });
        let h = Histogram::new(&[0.5, 1.0]);
        h.observe(0.25);
        h.observe(2.0);
        let c = LabeledCounters::new(&["chat", "pm"]);
        c.add(0, 30);
        m.add_source(Arc::new(Fixed(h, c)));
        m
    }

    #[test]
    fn openmetrics_exposition() {
        let text = metrics().encode_openmetrics();
        assert!(text.ends_with("# EOF\n"), "{text}");
        assert!(
            text.contains("# TYPE rosey_test_events counter\n"),
            "{text}"
        );
        assert!(
            text.contains("rosey_test_events_total{kind=\"chat\"} 30\n"),
            "{text}"
        );
        assert!(
            text.contains("rosey_test_events_total{kind=\"pm\"} 0\n"),
            "{text}"
        );
        assert!(
            text.contains("rosey_test_seconds_bucket{le=\"0.5\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("rosey_test_seconds_bucket{le=\"+Inf\"} 2\n"),
            "{text}"
        );
        assert!(text.contains("rosey_test_seconds_count 2\n"), "{text}");
        assert!(
            text.contains("rosey_build_info{version=\"1.2.3\",commit=\"abc\",process=\"test\"} 1"),
            "{text}"
        );
        assert!(text.contains("process_resident_memory_bytes "), "{text}");
        assert!(text.contains("process_cpu_seconds_total "), "{text}");
        assert!(text.contains("process_open_fds "), "{text}");
    }

    #[test]
    fn prometheus_text_exposition() {
        let text = metrics().encode_prometheus();
        assert!(!text.contains("# EOF"), "{text}");
        assert!(
            text.contains("rosey_test_events_total{kind=\"chat\"} 30\n"),
            "{text}"
        );
        assert!(text.contains("rosey_test_seconds_sum 2.25\n"), "{text}");
    }
}

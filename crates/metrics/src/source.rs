//! What a part of the process registers: a [`Source`] writes its metric families on each
//! scrape, reading its own atomics, through [`Out`] (the client crate's encoder).

use std::fmt;
use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{
    DescriptorEncoder, EncodeCounterValue, EncodeGaugeValue, EncodeLabelSet, EncodeMetric,
    NoLabelSet,
};
use prometheus_client::metrics::MetricType;

use crate::{BuildInfo, Histogram};

/// A part of the process that exports metrics.
pub trait Source: Send + Sync + 'static {
    /// Writes every family of this source (called on each scrape).
    fn collect(&self, out: &mut Out<'_>) -> fmt::Result;
}

/// Writes metric families: one call per family, with every sample of it.
pub struct Out<'a> {
    enc: DescriptorEncoder<'a>,
}

impl Out<'_> {
    /// A counter family with labels; `name` without `_total` (the encoder appends it).
    pub fn counter<L: EncodeLabelSet, C: EncodeCounterValue>(
        &mut self,
        name: &str,
        help: &str,
        samples: impl IntoIterator<Item = (L, C)>,
    ) -> fmt::Result {
        let mut m = self
            .enc
            .encode_descriptor(name, help, None, MetricType::Counter)?;
        for (labels, v) in samples {
            m.encode_family(&labels)?
                .encode_counter::<NoLabelSet, _, u64>(&v, None)?;
        }
        Ok(())
    }

    /// A counter without labels.
    pub fn counter_value<C: EncodeCounterValue>(
        &mut self,
        name: &str,
        help: &str,
        v: C,
    ) -> fmt::Result {
        self.enc
            .encode_descriptor(name, help, None, MetricType::Counter)?
            .encode_counter::<NoLabelSet, _, u64>(&v, None)
    }

    /// A gauge family with labels.
    pub fn gauge<L: EncodeLabelSet, G: EncodeGaugeValue>(
        &mut self,
        name: &str,
        help: &str,
        samples: impl IntoIterator<Item = (L, G)>,
    ) -> fmt::Result {
        let mut m = self
            .enc
            .encode_descriptor(name, help, None, MetricType::Gauge)?;
        for (labels, v) in samples {
            m.encode_family(&labels)?.encode_gauge(&v)?;
        }
        Ok(())
    }

    /// A gauge without labels.
    pub fn gauge_value<G: EncodeGaugeValue>(
        &mut self,
        name: &str,
        help: &str,
        v: G,
    ) -> fmt::Result {
        self.enc
            .encode_descriptor(name, help, None, MetricType::Gauge)?
            .encode_gauge(&v)
    }

    /// A histogram family with labels.
    pub fn histogram<'h, L: EncodeLabelSet>(
        &mut self,
        name: &str,
        help: &str,
        samples: impl IntoIterator<Item = (L, &'h Histogram)>,
    ) -> fmt::Result {
        let mut m = self
            .enc
            .encode_descriptor(name, help, None, MetricType::Histogram)?;
        for (labels, h) in samples {
            h.encode(m.encode_family(&labels)?)?;
        }
        Ok(())
    }

    /// A histogram without labels.
    pub fn histogram_value(&mut self, name: &str, help: &str, h: &Histogram) -> fmt::Result {
        h.encode(
            self.enc
                .encode_descriptor(name, help, None, MetricType::Histogram)?,
        )
    }
}

/// Adapts a [`Source`] to the client crate's collector.
pub(crate) struct SourceCollector(pub Arc<dyn Source>);

impl fmt::Debug for SourceCollector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SourceCollector")
    }
}

impl Collector for SourceCollector {
    fn encode(&self, encoder: DescriptorEncoder) -> fmt::Result {
        self.0.collect(&mut Out { enc: encoder })
    }
}

/// `rosey_build_info{version, commit, process} 1`.
pub(crate) struct BuildSource(pub BuildInfo);

impl Source for BuildSource {
    fn collect(&self, out: &mut Out<'_>) -> fmt::Result {
        let b = &self.0;
        out.gauge(
            "rosey_build_info",
            "Build of this Rosey process (always 1).",
            [(
                [
                    ("version", b.version.as_str()),
                    ("commit", b.commit.as_str()),
                    ("process", b.process.as_str()),
                ],
                1i64,
            )],
        )
    }
}

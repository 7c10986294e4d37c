//! The operator's Prometheus metrics (prometheus-client, as payment-app):
//! how long reconciles take, how many fail and why (by
//! [`Error::metric_label`]), and how many met an invalid spec.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::error::Error;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabel {
    /// `Error::metric_label`: `apply_failed`, `kube_403`, ...
    pub error: String,
}

#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    pub reconciles: Counter,
    pub failures: Family<ErrorLabel, Counter>,
    pub invalid_specs: Counter,
    pub duration: Histogram,
    /// 1 while this replica holds the leader Lease and reconciles.
    pub leader: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut metrics = Metrics {
            registry: Registry::with_prefix("payrail_operator"),
            reconciles: Counter::default(),
            failures: Family::default(),
            invalid_specs: Counter::default(),
            // 5 ms to about 40 s.
            duration: Histogram::new(exponential_buckets(0.005, 2.0, 14)),
            leader: Gauge::default(),
        };
        let registry = &mut metrics.registry;
        registry.register("reconciles", "Reconciles run", metrics.reconciles.clone());
        registry.register(
            "reconcile_failures",
            "Reconciles that failed and were requeued with backoff, by kind of error",
            metrics.failures.clone(),
        );
        registry.register(
            "invalid_specs",
            "Reconciles that found an invalid spec",
            metrics.invalid_specs.clone(),
        );
        registry.register("reconcile_duration_seconds", "Time one reconcile took", metrics.duration.clone());
        registry.register(
            "leader",
            "1 while this replica is the leader and reconciles",
            metrics.leader.clone(),
        );
        metrics
    }
}

impl Metrics {
    /// Counts one finished reconcile.
    pub fn reconciled(&self, took: Duration, error: Option<&Error>) {
        self.reconciles.inc();
        self.duration.observe(took.as_secs_f64());
        if let Some(error) = error {
            self.failures.get_or_create(&ErrorLabel { error: error.metric_label() }).inc();
        }
    }

    pub fn invalid_spec(&self) {
        self.invalid_specs.inc();
    }

    /// The Prometheus text format.
    pub fn render(&self) -> String {
        let mut text = String::new();
        if prometheus_client::encoding::text::encode(&mut text, &self.registry).is_err() {
            text.clear();
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_counted_by_kind_and_every_reconcile_is_timed() {
        let metrics = Metrics::default();
        metrics.reconciled(Duration::from_millis(20), None);
        metrics.reconciled(Duration::from_millis(30), Some(&Error::ApplyFailed { failed: 1, attempted: 3 }));
        let text = metrics.render();
        assert!(text.contains("payrail_operator_reconciles_total 2"), "{text}");
        assert!(
            text.contains("payrail_operator_reconcile_failures_total{error=\"apply_failed\"} 1"),
            "{text}"
        );
        assert!(text.contains("payrail_operator_reconcile_duration_seconds_count 2"), "{text}");
    }
}

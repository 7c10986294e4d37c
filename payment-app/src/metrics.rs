//! Prometheus metrics, served on `/metrics` in the text format.
//!
//! One registry per process, reached through [`get`]: the places that count
//! (HTTP layer, intake, workers, relay) are far apart, and threading a
//! handle through each would add nothing a reader needs.

use std::sync::OnceLock;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    pub route: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabel {
    pub route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    /// `done` or `failed`.
    pub outcome: String,
    /// The failure reason, or empty.
    pub reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LockLabels {
    /// `granted`, `busy` or `unavailable`.
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct QueueLabel {
    pub queue: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PoolLabels {
    /// `primary` or `replica`.
    pub pool: String,
    /// `open` or `idle`.
    pub state: String,
}

/// Every metric payment-app exports.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    pub http_requests: Family<HttpLabels, Counter>,
    pub http_duration: Family<RouteLabel, Histogram>,
    pub payments_accepted: Counter,
    pub intake_group_payments: Histogram,
    pub payments_settled: Family<OutcomeLabels, Counter>,
    pub redeliveries_ignored: Counter,
    pub settle_batch_payments: Histogram,
    pub lock_attempts: Family<LockLabels, Counter>,
    pub lock_retries_parked: Counter,
    pub lock_wait: Histogram,
    pub deliveries: Family<QueueLabel, Counter>,
    pub redelivered: Family<QueueLabel, Counter>,
    pub dead_lettered: Family<QueueLabel, Counter>,
    pub relay_republished: Counter,
    pub db_connections: Family<PoolLabels, Gauge>,
}

fn new_metrics() -> Metrics {
    let http_duration = Family::<RouteLabel, Histogram>::new_with_constructor(|| {
        Histogram::new(exponential_buckets(0.0005, 2.0, 16))
    });
    let settle_batch_payments = Histogram::new(exponential_buckets(1.0, 2.0, 12));
    let mut metrics = Metrics {
        registry: Registry::with_prefix("payrail"),
        http_requests: Family::default(),
        http_duration,
        payments_accepted: Counter::default(),
        intake_group_payments: Histogram::new(exponential_buckets(1.0, 2.0, 11)),
        payments_settled: Family::default(),
        redeliveries_ignored: Counter::default(),
        settle_batch_payments,
        lock_attempts: Family::default(),
        lock_retries_parked: Counter::default(),
        lock_wait: Histogram::new(exponential_buckets(0.0005, 2.0, 14)),
        deliveries: Family::default(),
        redelivered: Family::default(),
        dead_lettered: Family::default(),
        relay_republished: Counter::default(),
        db_connections: Family::default(),
    };
    let r = &mut metrics.registry;
    r.register("http_requests", "HTTP requests by route and status", metrics.http_requests.clone());
    r.register(
        "http_request_duration_seconds",
        "HTTP request latency by route",
        metrics.http_duration.clone(),
    );
    r.register("payments_accepted", "Payments committed and answered 202", metrics.payments_accepted.clone());
    r.register(
        "intake_group_payments",
        "Payments recorded per insert and queued per message at intake",
        metrics.intake_group_payments.clone(),
    );
    r.register(
        "payments_settled",
        "Payments moved out of pending, by outcome and reason",
        metrics.payments_settled.clone(),
    );
    r.register(
        "settle_redeliveries_ignored",
        "Settle messages for payments already settled",
        metrics.redeliveries_ignored.clone(),
    );
    r.register(
        "settle_batch_payments",
        "Payments applied per settle transaction",
        metrics.settle_batch_payments.clone(),
    );
    r.register("lock_attempts", "Payment lock attempts by outcome", metrics.lock_attempts.clone());
    r.register(
        "lock_retries_parked",
        "Busy payments sent to the retry queue",
        metrics.lock_retries_parked.clone(),
    );
    r.register(
        "lock_wait_seconds",
        "Time from taking a chunk of messages to forwarding a locked batch",
        metrics.lock_wait.clone(),
    );
    r.register("queue_deliveries", "Messages consumed, by queue", metrics.deliveries.clone());
    r.register(
        "queue_redeliveries",
        "Messages consumed that the broker marked redelivered",
        metrics.redelivered.clone(),
    );
    r.register(
        "dead_lettered",
        "Messages sent toward the dead-letter queue, by the queue they left",
        metrics.dead_lettered.clone(),
    );
    r.register(
        "relay_republished",
        "Stale pending payments the relay published again",
        metrics.relay_republished.clone(),
    );
    r.register(
        "db_connections",
        "Database pool connections by pool and state",
        metrics.db_connections.clone(),
    );
    metrics
}

static METRICS: OnceLock<Metrics> = OnceLock::new();

/// The process's metrics.
pub fn get() -> &'static Metrics {
    METRICS.get_or_init(new_metrics)
}

impl Metrics {
    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }

    pub fn queue_delivery(&self, queue: &str, redelivered: bool) {
        let label = QueueLabel { queue: queue.to_owned() };
        self.deliveries.get_or_create(&label).inc();
        if redelivered {
            self.redelivered.get_or_create(&label).inc();
        }
    }

    pub fn dead_letter(&self, queue: &str) {
        self.dead_lettered.get_or_create(&QueueLabel { queue: queue.to_owned() }).inc();
    }

    pub fn lock_attempt(&self, outcome: &str, n: u64) {
        self.lock_attempts.get_or_create(&LockLabels { outcome: outcome.to_owned() }).inc_by(n);
    }
}

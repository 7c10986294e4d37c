//! Prometheus metrics, served on `/metrics` in the text format.
//!
//! One registry per process, reached through [`get`]: the places that count
//! (HTTP layer, intake, workers, relay) are far apart, and threading a
//! handle through each would add nothing a reader needs.

use std::sync::OnceLock;
use std::sync::atomic::AtomicU64;

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
    /// `done`, `authorized` or `failed` (payments); `captured`, `voided`,
    /// `expired` or `failed` (authorizations); `done` or `failed` (refunds).
    pub outcome: String,
    /// The failure reason, or empty.
    pub reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LockLabels {
    /// `granted`, `busy` or `unavailable` (lock attempts); `delivered` or
    /// `failed` (webhook attempts).
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CodeLabel {
    /// The `error.code` of an error answer, e.g. `overloaded`.
    pub code: String,
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

/// Declares [`Metrics`] and registers each field under its name and help,
/// so every metric is written once: field, type, name, help, constructor.
macro_rules! metrics {
    ($($field:ident: $ty:ty = $name:literal, $help:literal, $new:expr;)*) => {
        /// Every metric payment-app exports.
        #[derive(Debug)]
        pub struct Metrics {
            registry: Registry,
            $(pub $field: $ty,)*
        }

        fn new_metrics() -> Metrics {
            let mut registry = Registry::with_prefix("payrail");
            $(
                let $field: $ty = $new;
                registry.register($name, $help, $field.clone());
            )*
            Metrics { registry, $($field,)* }
        }
    };
}

fn latency() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

fn counts(buckets: u16) -> Histogram {
    Histogram::new(exponential_buckets(1.0, 2.0, buckets))
}

metrics! {
    http_requests: Family<HttpLabels, Counter> =
        "http_requests", "HTTP requests by route and status", Family::default();
    api_errors: Family<CodeLabel, Counter> =
        "api_errors", "Error answers by their code: which 503 is `overloaded`, which `unavailable`", Family::default();
    connections_refused: Counter =
        "http_connections_refused", "Connections closed as accepted: their client address held HTTP_MAX_CONNECTIONS_PER_CLIENT", Counter::default();
    connections_unauthenticated_closed: Counter =
        "http_connections_unauthenticated_closed", "Connections closed before any request on them presented a valid token: past HTTP_UNAUTHENTICATED_CONNECTION_SECS, over HTTP_MAX_UNAUTHENTICATED_CONNECTIONS, or to make room at HTTP_MAX_CONNECTIONS", Counter::default();
    http_duration: Family<RouteLabel, Histogram> =
        "http_request_duration_seconds", "HTTP request latency by route", Family::new_with_constructor(latency);
    payments_accepted: Counter =
        "payments_accepted", "Payments committed and answered 202", Counter::default();
    intake_group_payments: Histogram =
        "intake_group_payments", "Payments recorded per insert and queued per message at intake", counts(11);
    payments_settled: Family<OutcomeLabels, Counter> =
        "payments_settled", "Payments moved out of pending, by outcome and reason", Family::default();
    authorizations_closed: Family<OutcomeLabels, Counter> =
        "authorizations_closed", "Authorizations captured, voided or expired (or failed at capture)", Family::default();
    refunds_settled: Family<OutcomeLabels, Counter> =
        "refunds_settled", "Refunds moved out of pending, by outcome and reason", Family::default();
    redeliveries_ignored: Counter =
        "settle_redeliveries_ignored", "Settle messages for payments already settled", Counter::default();
    settle_set_aside: Counter =
        "settle_set_aside", "Payments sent to the retry queue because a row they need was held by another session", Counter::default();
    settle_batch_payments: Histogram =
        "settle_batch_payments", "Payments applied per settle transaction", counts(12);
    lock_attempts: Family<LockLabels, Counter> =
        "lock_attempts", "Payment lock attempts by outcome", Family::default();
    lock_retries_parked: Counter =
        "lock_retries_parked", "Busy payments sent to the retry queue", Counter::default();
    lock_wait: Histogram =
        "lock_wait_seconds", "Time from taking the oldest payment of a locked batch off the queue to forwarding the batch",
        Histogram::new(exponential_buckets(0.0005, 2.0, 14));
    deliveries: Family<QueueLabel, Counter> =
        "queue_deliveries", "Messages consumed, by queue", Family::default();
    redelivered: Family<QueueLabel, Counter> =
        "queue_redeliveries", "Messages consumed that the broker marked redelivered", Family::default();
    dead_lettered: Family<QueueLabel, Counter> =
        "dead_lettered", "Messages sent toward the dead-letter queue, by the queue they left", Family::default();
    relay_republished: Counter =
        "relay_republished", "Stale pending payments the relay published again", Counter::default();
    statement_refresh_failures: Counter =
        "statement_refresh_failures", "Refreshes of the statement view that failed", Counter::default();
    events_published: Counter =
        "events_published", "Events published to the payrail.events exchange and confirmed by the broker", Counter::default();
    events_publish_backlog: Gauge =
        "events_publish_backlog", "Events not yet confirmed by the broker on payrail.events (the outbox's rows)", Gauge::default();
    events_publish_lag: Gauge<f64, AtomicU64> =
        "events_publish_lag_seconds", "Age of the oldest event not yet published to payrail.events (0 when none is owed)", Gauge::default();
    webhook_attempts: Family<LockLabels, Counter> =
        "webhook_attempts", "Webhook delivery attempts, by outcome (delivered or failed)", Family::default();
    db_connections: Family<PoolLabels, Gauge> =
        "db_connections", "Database pool connections by pool and state", Family::default();
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

    pub fn webhook_attempt(&self, delivered: bool) {
        let outcome = if delivered { "delivered" } else { "failed" };
        self.webhook_attempts.get_or_create(&LockLabels { outcome: outcome.to_owned() }).inc();
    }

    pub fn api_error(&self, code: &str) {
        self.api_errors.get_or_create(&CodeLabel { code: code.to_owned() }).inc();
    }

    pub fn lock_attempt(&self, outcome: &str, n: u64) {
        self.lock_attempts.get_or_create(&LockLabels { outcome: outcome.to_owned() }).inc_by(n);
    }
}

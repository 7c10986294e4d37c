//! payrail's alerts, as one `PrometheusRule` per cluster: the signals
//! docs/operations.md tells an operator to watch, each with a `runbook`
//! annotation saying what to do (docs/operations.md, "Alerts", has the
//! longer version of each).
//!
//! Every expression selects the cluster's own series (its namespace and
//! its `payrail_cluster` label, which the PodMonitors add), and names only
//! metrics that payment-app, the operator or the exporters really export:
//! the render tests parse each one and check every name against
//! payment-app's metrics registry and the exporters' lists.

use std::collections::BTreeMap;

use super::postgres;
use super::scrape::{CLUSTER_LABEL, monitoring_meta};
use crate::child::Child;
use crate::prometheus::{PrometheusRule, PrometheusRuleSpec, Rule, RuleGroup};
use crate::reconcile::validate::ValidatedCluster;

/// One alert, before it becomes a [`Rule`].
struct Alert {
    name: &'static str,
    expr: String,
    for_: &'static str,
    severity: &'static str,
    summary: &'static str,
    runbook: &'static str,
}

impl Alert {
    fn rule(self) -> Rule {
        Rule {
            alert: Some(self.name.into()),
            expr: self.expr,
            r#for: Some(self.for_.into()),
            labels: BTreeMap::from([("severity".to_owned(), self.severity.to_owned())]),
            annotations: BTreeMap::from([
                ("summary".to_owned(), self.summary.to_owned()),
                ("runbook".to_owned(), self.runbook.to_owned()),
            ]),
        }
    }
}

/// The PrometheusRule of the cluster.
pub fn rule(valid: &ValidatedCluster) -> Child {
    Child::PrometheusRule(Box::new(PrometheusRule {
        metadata: monitoring_meta(valid, valid.names.cluster.clone()),
        spec: PrometheusRuleSpec {
            groups: vec![RuleGroup {
                name: format!("payrail.{}", valid.names.cluster),
                rules: alerts(valid).into_iter().map(Alert::rule).collect(),
            }],
        },
    }))
}

fn alerts(valid: &ValidatedCluster) -> Vec<Alert> {
    // The cluster's series; `extra` adds matchers.
    let of = |extra: &str| {
        let base =
            format!(r#"namespace="{}",{CLUSTER_LABEL}="{}""#, valid.names.namespace, valid.names.cluster);
        if extra.is_empty() { format!("{{{base}}}") } else { format!("{{{base},{extra}}}") }
    };
    let mut alerts = stuck(&of);
    alerts.extend(waiting(&of, valid.redis.nodes / 2 + 1));
    alerts.extend(capacity(&of, valid.connections.pool_size));
    alerts.extend(database(&of, valid));
    alerts
}

/// Payments that stop on their way: pending with none settling, or dead
/// lettered.
fn stuck(of: &impl Fn(&str) -> String) -> Vec<Alert> {
    vec![
        Alert {
            name: "PayrailPaymentsStuckPending",
            expr: format!(
                "sum(increase(payrail_relay_republished_total{}[15m])) > 0 \
                 or (sum(rate(payrail_payments_accepted_total{}[10m])) > 0 \
                 and (sum(rate(payrail_payments_settled_total{}[10m])) or vector(0)) == 0)",
                of(""),
                of(""),
                of("")
            ),
            for_: "15m",
            severity: "critical",
            summary: "Payments stay pending: the relay keeps republishing them, or none settle while payments are accepted",
            runbook: "Check /readyz of the app pods and the lock and settle workers' logs; a Redis quorum loss or a \
                      RabbitMQ outage shows in their own alerts. Pending payments are never lost: once the cause is \
                      fixed the relay republishes them and they settle.",
        },
        Alert {
            name: "PayrailDeadLetterQueueNotEmpty",
            expr: format!(
                r#"sum(rabbitmq_detailed_queue_messages{}) > 0 or sum(increase(payrail_dead_lettered_total{}[10m])) > 0"#,
                of(r#"queue="payrail.dead""#),
                of("")
            ),
            for_: "1m",
            severity: "warning",
            summary: "Messages are in the dead-letter queue payrail.dead",
            runbook: "`payment-app dead-letters list` names each message and why it failed (malformed, or a settle \
                      that failed DELIVERY_LIMIT times; the log has the error chain). Fix the cause, then \
                      `payment-app dead-letters replay --payment-id ID`.",
        },
    ]
}

/// Payments that wait longer than they should: the Redis lock quorum lost
/// (`quorum` nodes of the lock), or settlement falling behind intake.
fn waiting(of: &impl Fn(&str) -> String, quorum: i32) -> Vec<Alert> {
    vec![
        Alert {
            name: "PayrailRedlockQuorumLost",
            // The app's own attempts, and the exporters beside the nodes.
            // A node whose pod is gone has no series at all: with every
            // node gone the app's `unavailable` attempts fire this, and a
            // PodMonitor Prometheus does not pick up never pages by itself.
            expr: format!(
                r#"sum(rate(payrail_lock_attempts_total{}[5m])) > 0 or sum(redis_up{}) < {quorum}"#,
                of(r#"outcome="unavailable""#),
                of("")
            ),
            for_: "2m",
            severity: "critical",
            summary: "Fewer than a majority of the Redis lock nodes answer: payments wait and nothing settles",
            runbook: "Payments wait (none is lost). Find the Redis nodes that are down (`kubectl get pods -l \
                      app.kubernetes.io/component=redis`), read their events and logs, and bring them back; a node \
                      that restarts waits out the lock lifetime before it serves again, by design.",
        },
        Alert {
            name: "PayrailSettleLagHigh",
            // Payments accepted in the last 15 minutes and not yet settled,
            // in seconds of settling at the current rate: how long a new
            // payment waits from 202 to its terminal state. The settled
            // family has no series until a pod settles its first payment:
            // none counts as zero, here and in the alert above.
            expr: format!(
                "(sum(increase(payrail_payments_accepted_total{}[15m])) \
                 - (sum(increase(payrail_payments_settled_total{}[15m])) or vector(0))) \
                 / clamp_min(sum(rate(payrail_payments_settled_total{}[15m])) or vector(0), 0.001) > 60",
                of(""),
                of(""),
                of("")
            ),
            for_: "10m",
            severity: "warning",
            summary: "Settlement falls behind intake: payments wait more than a minute from accept to settled or failed",
            runbook: "Look at lock wait and queue depths on the dashboard: a deep payrail.lock queue means lock \
                      workers are short (add app replicas), a deep payrail.settle queue means PostgreSQL commits are \
                      slow (its CPU, disk and replica lag), long lock waits mean hot accounts.",
        },
    ]
}

/// The app at its limits: a database pool fully in use (`pool_size`
/// connections), requests refused as overloaded.
fn capacity(of: &impl Fn(&str) -> String, pool_size: i32) -> Vec<Alert> {
    vec![
        Alert {
            name: "PayrailDatabasePoolExhausted",
            expr: format!(
                "max by (pod, pool) (payrail_db_connections{}) >= {} \
                 and on (pod, pool) max by (pod, pool) (payrail_db_connections{}) == 0",
                of(r#"state="open""#),
                pool_size,
                of(r#"state="idle""#)
            ),
            for_: "5m",
            severity: "warning",
            summary: "An app pod's database pool is fully in use: requests and workers queue for connections",
            runbook: "Raise app.dbPoolSize (the operator sizes PostgreSQL's max_connections from it, or refuses a \
                      postgres.maxConnections too small for it), or add app replicas if PostgreSQL has headroom; \
                      slow queries hold connections too, so check PostgreSQL's load first.",
        },
        Alert {
            name: "PayrailRequestsRefused",
            // `overloaded` alone: more requests at once than HTTP_MAX_IN_FLIGHT.
            // PostgreSQL being lost (`unavailable`) has alerts of its own.
            expr: format!(
                "sum(rate(payrail_api_errors_total{}[5m])) / clamp_min(sum(rate(payrail_http_requests_total{}[5m])), 0.001) > 0.01",
                of(r#"code="overloaded""#),
                of("")
            ),
            for_: "5m",
            severity: "warning",
            summary: "More than 1% of API requests are refused as `overloaded` (503)",
            runbook: "More requests arrive at once than HTTP_MAX_IN_FLIGHT lets a pod serve: more load than the \
                      pods settle. Add app replicas (or raise app.limits if the pods have CPU and the database \
                      headroom); payrail_api_errors_total by code shows the other refusals (`unavailable`: \
                      PostgreSQL unreachable, see /readyz; `timeout`: requests past REQUEST_TIMEOUT_MS).",
        },
    ]
}

/// What the PostgreSQL provider can measure: the replica's lag, and
/// backups where it takes them.
fn database(of: &impl Fn(&str) -> String, valid: &ValidatedCluster) -> Vec<Alert> {
    let mut alerts = Vec::new();
    // Both exporters measure lag as the time since the replica last replayed
    // a transaction, which also grows while the primary writes nothing: the
    // alert holds only while payments are being accepted (and so written).
    let postgres = postgres::provider(&valid.postgres);
    if let Some(metric) = postgres.replication_lag_metric() {
        let expr = format!(
            "max({metric}{}) > 30 and sum(rate(payrail_payments_accepted_total{}[5m])) > 0",
            of(""),
            of("")
        );
        alerts.push(Alert {
            name: "PayrailReplicaLagHigh",
            expr,
            for_: "5m",
            severity: "warning",
            summary: "The PostgreSQL read replica is more than 30 s behind the primary: client reads are stale",
            runbook: "Client reads (GET of payments, balances, statements) go to the replica and show older data. \
                      Check the replica's disk and CPU and the network to the primary. A builtin replica that fell \
                      past the primary's WAL budget can no longer follow: it stops being ready (its reads fail \
                      rather than go stale) and is copied again when its pod is re-created (kubectl delete pod \
                      NAME-postgres-ro-0); CloudNativePG re-syncs its own.",
        });
    }
    if postgres.backs_up() {
        alerts.push(Alert {
            name: "PayrailBackupsFailing",
            expr: format!(
                "max(barman_cloud_cloudnative_pg_io_last_failed_backup_timestamp{}) \
                 > max(barman_cloud_cloudnative_pg_io_last_available_backup_timestamp{}) \
                 or time() - max(barman_cloud_cloudnative_pg_io_last_available_backup_timestamp{}) > 172800",
                of(""),
                of(""),
                of("")
            ),
            for_: "10m",
            severity: "critical",
            summary: "PostgreSQL base backups are failing, or none succeeded for two days",
            runbook: "`kubectl get backups` and the PaymentCluster's BackupsHealthy condition name the failure; the \
                      plugin-barman-cloud sidecar's log has the object store's answer (credentials, bucket, \
                      endpoint). Point-in-time recovery only reaches back to the last good base backup.",
        });
    }
    alerts
}

//! Monitoring (on with `monitoring.enabled`): what a Prometheus run by the
//! Prometheus Operator needs to scrape and alert on one cluster.
//!
//! - a `PodMonitor` for the cluster's own pods: payment-app's `/metrics`
//!   on its operations port (not the API's), RabbitMQ's Prometheus plugin (the official image
//!   enables it) on 15692, both its totals and its per-queue family, and
//!   the exporters this module adds beside each Redis node and each builtin
//!   PostgreSQL server;
//! - the PostgreSQL provider's own monitors (with CloudNativePG, a
//!   `PodMonitor` of CNPG's instances on their own `metrics` port, built
//!   in `postgres::cnpg`: CNPG's `enablePodMonitor` is deprecated in favour
//!   of exactly this);
//! - a `PrometheusRule` with payrail's alerts (`alerts`).
//!
//! The exporters themselves are built beside their servers (`redis`,
//! `postgres::builtin`), from [`scrape`](super::scrape); which PostgreSQL
//! pods are scraped is the provider's answer (`postgres::Provider`).
//!
//! Every target gets a `payrail_cluster` label with the cluster's name, so
//! the rules and the dashboard tell clusters of one namespace apart.

use std::collections::BTreeMap;

use super::alerts;
use super::app::OPS_PORT_NAME;
use super::meta::{Component, components_selector};
use super::postgres;
use super::scrape::{METRICS_PORT, RABBITMQ_PORT_NAME, monitoring_meta, relabelings};
use crate::child::Child;
use crate::owner::Owner;
use crate::prometheus::{PodMetricsEndpoint, PodMonitor, PodMonitorSpec};
use crate::reconcile::validate::ValidatedCluster;

pub fn children(valid: &ValidatedCluster) -> Vec<Child> {
    let mut children = vec![pod_monitor(valid)];
    children.extend(postgres::provider(&valid.postgres).pod_monitors(valid));
    children.push(alerts::rule(valid));
    children
}

fn endpoint(cr: &Owner, port: &str, path: &str) -> PodMetricsEndpoint {
    PodMetricsEndpoint {
        port: Some(port.into()),
        path: Some(path.into()),
        relabelings: relabelings(cr, true),
        ..PodMetricsEndpoint::default()
    }
}

/// The cluster's own pods; each endpoint scrapes only the pods that have
/// its port.
fn pod_monitor(valid: &ValidatedCluster) -> Child {
    let cr = &valid.owner;
    let mut components = vec![Component::App, Component::Redis, Component::Rabbitmq];
    components.extend(postgres::provider(&valid.postgres).scraped_components());
    let per_queue = PodMetricsEndpoint {
        // Queue depths by queue (the plain endpoint sums every queue).
        params: BTreeMap::from([("family".to_owned(), vec!["queue_coarse_metrics".to_owned()])]),
        ..endpoint(cr, RABBITMQ_PORT_NAME, "/metrics/detailed")
    };
    Child::PodMonitor(Box::new(PodMonitor {
        metadata: monitoring_meta(valid, valid.names.cluster.clone()),
        spec: PodMonitorSpec {
            selector: components_selector(cr, &components),
            pod_metrics_endpoints: vec![
                endpoint(cr, OPS_PORT_NAME, "/metrics"),
                endpoint(cr, METRICS_PORT, "/metrics"),
                endpoint(cr, RABBITMQ_PORT_NAME, "/metrics"),
                per_queue,
            ],
        },
    }))
}

#[cfg(test)]
mod tests;

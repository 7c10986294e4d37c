//! Monitoring (on with `monitoring.enabled`): what a Prometheus run by the
//! Prometheus Operator needs to scrape and alert on one cluster.
//!
//! - a `PodMonitor` for the cluster's own pods: payment-app's `/metrics`
//!   on its operations port (not the API's), RabbitMQ's Prometheus plugin (the official image
//!   enables it) on 15692, both its totals and its per-queue family, and
//!   the exporters this module adds beside each Redis node and each builtin
//!   PostgreSQL server;
//! - with CloudNativePG, a `PodMonitor` of CNPG's instances on their own
//!   `metrics` port (CNPG's `enablePodMonitor` is deprecated in favour of
//!   exactly this);
//! - a `PrometheusRule` with payrail's alerts ([`super::alerts`]).
//!
//! Every target gets a `payrail_cluster` label with the cluster's name, so
//! the rules and the dashboard tell clusters of one namespace apart.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Container, ContainerPort, EnvVar, HTTPGetAction, Probe, ResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::app::{plain, secret_env};
use super::credentials::{POSTGRES_PASSWORD, REDIS_PASSWORD};
use super::{Child, Component, alerts, components_selector, meta, postgres, redis, security};
use crate::crd::{PaymentCluster, PostgresProvider};
use crate::prometheus::{PodMetricsEndpoint, PodMonitor, PodMonitorSpec, RelabelConfig};
use crate::validate::ValidatedCluster;

/// The Redis exporter's port (its default).
pub const REDIS_EXPORTER_PORT: u16 = 9121;
/// The PostgreSQL exporter's port (its default, and CNPG's).
pub const POSTGRES_EXPORTER_PORT: u16 = 9187;
/// RabbitMQ's Prometheus plugin.
pub const RABBITMQ_PROMETHEUS_PORT: u16 = 15692;
/// The container port name of every exporter, and of CNPG's instances.
pub const METRICS_PORT: &str = "metrics";
/// The container port name of RabbitMQ's plugin.
pub const RABBITMQ_PORT_NAME: &str = "prometheus";
/// The label every target of a cluster carries, with the cluster's name.
pub const CLUSTER_LABEL: &str = "payrail_cluster";

/// The spec's `monitoring.enabled`, or the operator's default.
pub fn enabled(valid: &ValidatedCluster) -> bool {
    valid.monitoring
}

pub fn children(valid: &ValidatedCluster) -> Vec<Child> {
    let mut children = vec![pod_monitor(valid)];
    if valid.spec().postgres.provider == PostgresProvider::Cnpg {
        children.push(cnpg_pod_monitor(valid));
    }
    children.push(alerts::rule(valid));
    children
}

/// A monitoring object's metadata: the usual one, plus the labels a
/// Prometheus selects its monitors and rules by (never over ours).
pub fn monitoring_meta(valid: &ValidatedCluster, name: String) -> ObjectMeta {
    let mut meta = meta(&valid.cluster, name, Component::Monitoring);
    let labels = meta.labels.get_or_insert_with(BTreeMap::new);
    for (key, value) in &valid.spec().monitoring.labels {
        labels.entry(key.clone()).or_insert_with(|| value.clone());
    }
    meta
}

/// Names the target's cluster, and (from the pod's label) its component.
fn relabelings(cr: &PaymentCluster, component: bool) -> Vec<RelabelConfig> {
    let mut relabelings = vec![RelabelConfig {
        action: Some("replace".into()),
        target_label: Some(CLUSTER_LABEL.into()),
        replacement: Some(kube::ResourceExt::name_any(cr)),
        ..RelabelConfig::default()
    }];
    if component {
        relabelings.push(RelabelConfig {
            action: Some("replace".into()),
            source_labels: vec!["__meta_kubernetes_pod_label_app_kubernetes_io_component".into()],
            target_label: Some("component".into()),
            ..RelabelConfig::default()
        });
    }
    relabelings
}

fn endpoint(cr: &PaymentCluster, port: &str, path: &str) -> PodMetricsEndpoint {
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
    let cr = &valid.cluster;
    let mut components = vec![Component::App, Component::Redis, Component::Rabbitmq];
    if valid.spec().postgres.provider == PostgresProvider::Builtin {
        components.extend([Component::PostgresPrimary, Component::PostgresReplica]);
    }
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
                endpoint(cr, super::app::OPS_PORT_NAME, "/metrics"),
                endpoint(cr, METRICS_PORT, "/metrics"),
                endpoint(cr, RABBITMQ_PORT_NAME, "/metrics"),
                per_queue,
            ],
        },
    }))
}

/// CloudNativePG's instances (not its poolers), on CNPG's metrics port.
fn cnpg_pod_monitor(valid: &ValidatedCluster) -> Child {
    let cr = &valid.cluster;
    Child::PodMonitor(Box::new(PodMonitor {
        metadata: monitoring_meta(valid, valid.names.postgres()),
        spec: PodMonitorSpec {
            selector: LabelSelector {
                match_labels: Some(BTreeMap::from([
                    ("cnpg.io/cluster".to_owned(), valid.names.postgres()),
                    ("cnpg.io/podRole".to_owned(), "instance".to_owned()),
                ])),
                ..LabelSelector::default()
            },
            pod_metrics_endpoints: vec![PodMetricsEndpoint {
                port: Some(METRICS_PORT.into()),
                relabelings: relabelings(cr, false),
                ..PodMetricsEndpoint::default()
            }],
        },
    }))
}

/// An exporter sidecar: its port, probes on `health_path`, small
/// resources, and the same locked-down security context as its pod's
/// server.
fn exporter(name: &str, image: &str, port: u16, health_path: &str, env: Vec<EnvVar>) -> Container {
    let quantities = |cpu: &str, memory: &str| {
        Some(BTreeMap::from([
            ("cpu".to_owned(), Quantity(cpu.into())),
            ("memory".to_owned(), Quantity(memory.into())),
        ]))
    };
    let probe = Probe {
        http_get: Some(HTTPGetAction {
            path: Some(health_path.into()),
            port: IntOrString::String(METRICS_PORT.into()),
            ..HTTPGetAction::default()
        }),
        period_seconds: Some(10),
        timeout_seconds: Some(2),
        ..Probe::default()
    };
    Container {
        name: name.into(),
        image: Some(image.into()),
        env: Some(env),
        ports: Some(vec![ContainerPort {
            name: Some(METRICS_PORT.into()),
            container_port: port.into(),
            ..ContainerPort::default()
        }]),
        resources: Some(ResourceRequirements {
            requests: quantities("10m", "32Mi"),
            limits: quantities("100m", "64Mi"),
            ..ResourceRequirements::default()
        }),
        readiness_probe: Some(probe.clone()),
        liveness_probe: Some(Probe { failure_threshold: Some(6), ..probe }),
        security_context: Some(security::container(true)),
        ..Container::default()
    }
}

/// The Redis exporter beside a lock node, logged in with the node's
/// password (from the credentials Secret, never in argv).
pub fn redis_exporter(valid: &ValidatedCluster) -> Container {
    exporter(
        "redis-exporter",
        &valid.spec().monitoring.redis_exporter_image,
        REDIS_EXPORTER_PORT,
        "/health",
        vec![
            plain("REDIS_ADDR", format!("redis://localhost:{}", redis::PORT)),
            secret_env("REDIS_PASSWORD", &valid.names.credentials(), REDIS_PASSWORD),
        ],
    )
}

/// The PostgreSQL exporter beside a builtin server, connecting to it over
/// loopback as the database's owner (its statistics views and replication
/// functions need no more).
pub fn postgres_exporter(valid: &ValidatedCluster) -> Container {
    exporter(
        "postgres-exporter",
        &valid.spec().monitoring.postgres_exporter_image,
        POSTGRES_EXPORTER_PORT,
        "/",
        vec![
            plain(
                "DATA_SOURCE_URI",
                format!("localhost:{}/{}?sslmode=disable", postgres::PORT, postgres::DATABASE),
            ),
            plain("DATA_SOURCE_USER", postgres::USER),
            secret_env("DATA_SOURCE_PASS", &valid.names.credentials(), POSTGRES_PASSWORD),
        ],
    )
}

#[cfg(test)]
mod tests;

//! What every scraped target shares, below the builders that add one: the
//! metrics ports, the exporter sidecar, the `payrail_cluster` label and the
//! monitoring objects' metadata. The services' builders add their exporter
//! from here, and `monitoring` points the `PodMonitor`s at them.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Container, ContainerPort, EnvVar, HTTPGetAction, Probe, ResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::meta::{Component, meta};
use super::security;
use crate::owner::Owner;
use crate::prometheus::RelabelConfig;
use crate::reconcile::validate::ValidatedCluster;

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

/// A monitoring object's metadata: the usual one, plus the labels a
/// Prometheus selects its monitors and rules by (never over ours).
pub fn monitoring_meta(valid: &ValidatedCluster, name: String) -> ObjectMeta {
    let mut meta = meta(&valid.owner, name, Component::Monitoring);
    let labels = meta.labels.get_or_insert_with(BTreeMap::new);
    for (key, value) in &valid.monitoring_settings.labels {
        labels.entry(key.clone()).or_insert_with(|| value.clone());
    }
    meta
}

/// An exporter sidecar: its port, probes on `health_path`, small
/// resources, and the same locked-down security context as its pod's
/// server.
pub fn exporter(name: &str, image: &str, port: u16, health_path: &str, env: Vec<EnvVar>) -> Container {
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

/// Names the target's cluster, and (from the pod's label) its component.
pub fn relabelings(owner: &Owner, component: bool) -> Vec<RelabelConfig> {
    let mut relabelings = vec![RelabelConfig {
        action: Some("replace".into()),
        target_label: Some(CLUSTER_LABEL.into()),
        replacement: Some(owner.name.clone()),
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

//! `Child`: one object a cluster is made of, of any kind the operator
//! builds, applies and prunes.

use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{ConfigMap, Secret, Service};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Serialize;

/// One object to apply.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Child {
    Secret(Box<Secret>),
    ConfigMap(Box<ConfigMap>),
    Service(Box<Service>),
    StatefulSet(Box<StatefulSet>),
    Deployment(Box<Deployment>),
    PodDisruptionBudget(Box<PodDisruptionBudget>),
    NetworkPolicy(Box<NetworkPolicy>),
    /// CloudNativePG's kinds (`postgres.provider: cnpg`).
    CnpgCluster(Box<crate::cnpg::Cluster>),
    ScheduledBackup(Box<crate::cnpg::ScheduledBackup>),
    Pooler(Box<crate::cnpg::Pooler>),
    ObjectStore(Box<crate::cnpg::ObjectStore>),
    /// The Prometheus Operator's kinds (`monitoring.enabled`).
    PodMonitor(Box<crate::prometheus::PodMonitor>),
    PrometheusRule(Box<crate::prometheus::PrometheusRule>),
}

impl Child {
    /// Every kind a child can be.
    pub const KINDS: [&'static str; 13] = [
        "Secret",
        "ConfigMap",
        "Service",
        "StatefulSet",
        "Deployment",
        "PodDisruptionBudget",
        "NetworkPolicy",
        "Cluster",
        "ScheduledBackup",
        "Pooler",
        "ObjectStore",
        "PodMonitor",
        "PrometheusRule",
    ];

    pub fn kind(&self) -> &'static str {
        match self {
            Child::Secret(_) => "Secret",
            Child::ConfigMap(_) => "ConfigMap",
            Child::Service(_) => "Service",
            Child::StatefulSet(_) => "StatefulSet",
            Child::Deployment(_) => "Deployment",
            Child::PodDisruptionBudget(_) => "PodDisruptionBudget",
            Child::NetworkPolicy(_) => "NetworkPolicy",
            Child::CnpgCluster(_) => "Cluster",
            Child::ScheduledBackup(_) => "ScheduledBackup",
            Child::Pooler(_) => "Pooler",
            Child::ObjectStore(_) => "ObjectStore",
            Child::PodMonitor(_) => "PodMonitor",
            Child::PrometheusRule(_) => "PrometheusRule",
        }
    }

    pub fn meta(&self) -> &ObjectMeta {
        match self {
            Child::Secret(o) => &o.metadata,
            Child::ConfigMap(o) => &o.metadata,
            Child::Service(o) => &o.metadata,
            Child::StatefulSet(o) => &o.metadata,
            Child::Deployment(o) => &o.metadata,
            Child::PodDisruptionBudget(o) => &o.metadata,
            Child::NetworkPolicy(o) => &o.metadata,
            Child::CnpgCluster(o) => &o.metadata,
            Child::ScheduledBackup(o) => &o.metadata,
            Child::Pooler(o) => &o.metadata,
            Child::ObjectStore(o) => &o.metadata,
            Child::PodMonitor(o) => &o.metadata,
            Child::PrometheusRule(o) => &o.metadata,
        }
    }

    pub fn name(&self) -> &str {
        self.meta().name.as_deref().unwrap_or_default()
    }
}

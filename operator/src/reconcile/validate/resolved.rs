//! The typed settings a [`super::ValidatedCluster`] carries: each
//! component's part of the spec, taken once it passed validation, so the
//! builders read these and never the `PaymentCluster` itself. Groups of
//! numbers the schema already types and ranges (the worker's tuning, the
//! limits, webhooks, tracing) are kept as the CRD declares them.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ResourceRequirements;
use payrail_common::telemetry::LogFormat;

use crate::crd::{
    AntiAffinity, AppLimits, CurrencyCode, SecretKeyRef, StorageSpec, TracingSettings, WebhookSettings,
    WorkerSpec,
};

/// The payment app's Deployment and environment.
#[derive(Debug, Clone, PartialEq)]
pub struct AppSettings {
    pub image: String,
    pub replicas: i32,
    pub resources: ResourceRequirements,
    pub worker: WorkerSpec,
    pub shutdown_timeout_seconds: i32,
    /// The user's tokens Secret; `None` when the operator generates one.
    pub api_tokens_secret: Option<SecretKeyRef>,
    /// A code the app takes (validate checked it against ISO 4217).
    pub default_currency: CurrencyCode,
    pub log_format: LogFormat,
    pub limits: AppLimits,
    pub webhooks: WebhookSettings,
    pub tracing: Option<TracingSettings>,
}

/// The Redis nodes of the lock quorum.
#[derive(Debug, Clone, PartialEq)]
pub struct RedisSettings {
    pub image: String,
    /// Odd, 1 to 7.
    pub nodes: i32,
    pub storage: StorageSpec,
    pub resources: ResourceRequirements,
}

/// The broker: one node, or three in one cluster.
#[derive(Debug, Clone, PartialEq)]
pub struct RabbitmqSettings {
    pub image: String,
    /// 1 or 3.
    pub replicas: i32,
    pub storage: StorageSpec,
    pub resources: ResourceRequirements,
}

/// What every PostgreSQL server the operator runs (its own or CNPG's)
/// gets, whoever runs it.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerSettings {
    pub storage: StorageSpec,
    pub resources: ResourceRequirements,
}

/// The Prometheus Operator's objects and the exporters, read only when
/// monitoring is on.
#[derive(Debug, Clone, PartialEq)]
pub struct MonitoringSettings {
    /// Labels a Prometheus selects the PodMonitors and rules by.
    pub labels: BTreeMap<String, String>,
    pub redis_exporter_image: String,
    pub postgres_exporter_image: String,
}

/// Where pods go and what outlives the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placement {
    pub anti_affinity: AntiAffinity,
    /// Volumes (and the credentials they were written with) are deleted
    /// with the cluster.
    pub delete_volumes_on_delete: bool,
    pub network_policies: bool,
}

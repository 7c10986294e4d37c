//! The `PaymentCluster` custom resource: what a platform team writes, and
//! the status the operator reports back.
//!
//! Every field has a default, so a minimal resource is a name and nothing
//! else. Ranges and shapes are in the schema (checked by the API server);
//! what a schema cannot say is checked in [`PaymentClusterSpec::problems`].

// Each printer column repeats `type_ = ...`, which clippy takes for a
// duplicated attribute.
#![allow(clippy::duplicated_attributes)]

use k8s_openapi::api::core::v1::ResourceRequirements;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

pub const GROUP: &str = "payrail.dev";

#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[kube(
    group = "payrail.dev",
    version = "v1alpha1",
    kind = "PaymentCluster",
    namespaced,
    shortname = "paycl",
    category = "payrail",
    status = "PaymentClusterStatus",
    doc = "A payrail payment stack: the app, a 3-node Redis lock, RabbitMQ and PostgreSQL with a read replica",
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Reason",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].reason"
    ),
    printcolumn(name = "App", type_ = "string", json_path = ".status.app.summary"),
    printcolumn(name = "Redis", type_ = "string", json_path = ".status.redis.summary"),
    printcolumn(name = "Postgres", type_ = "string", json_path = ".status.postgres.summary"),
    printcolumn(name = "API", type_ = "string", json_path = ".status.apiService", priority = "1"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
pub struct PaymentClusterSpec {
    #[serde(default)]
    pub app: AppSpec,
    #[serde(default)]
    pub redis: RedisSpec,
    #[serde(default)]
    pub rabbitmq: RabbitmqSpec,
    #[serde(default)]
    pub postgres: PostgresSpec,
    /// Delete the data volumes (PostgreSQL, RabbitMQ, Redis) when this resource is deleted.
    /// Off by default: volumes outlive the cluster, so a mistaken delete loses no money.
    #[serde(default)]
    pub delete_volumes_on_delete: bool,
}

#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AppSpec {
    /// The payment-app image.
    #[serde(default = "default_app_image")]
    #[x_kube(validation = Rule::new("self != ''").message("image must not be empty"))]
    pub image: String,
    /// API and worker replicas; each runs `payment-app all`.
    #[serde(default = "default_app_replicas")]
    #[schemars(range(min = 1, max = 100))]
    pub replicas: i32,
    /// CPU and memory for each app container.
    #[serde(default = "default_app_resources")]
    pub resources: ResourceRequirements,
    #[serde(default)]
    pub worker: WorkerSpec,
    /// A Secret holding the API bearer tokens (comma-separated) under `key`.
    /// When absent, the operator generates a token into `<name>-credentials`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_tokens_secret: Option<SecretKeyRef>,
    /// `text` or `json`.
    #[serde(default = "default_log_format")]
    #[x_kube(validation = Rule::new("self == 'text' || self == 'json'").message("logFormat is text or json"))]
    pub log_format: String,
}

#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SecretKeyRef {
    #[x_kube(validation = Rule::new("self != ''").message("name must not be empty"))]
    pub name: String,
    #[serde(default = "default_tokens_key")]
    pub key: String,
}

/// Worker tuning, passed to payment-app as its environment.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct WorkerSpec {
    /// Lock-queue messages (each one payment or a group) a lock worker holds unacknowledged.
    #[serde(default = "default_lock_prefetch")]
    #[schemars(range(min = 1, max = 65535))]
    pub lock_prefetch: i32,
    /// Settle-queue messages (each a locked batch) a settle worker holds unacknowledged.
    #[serde(default = "default_settle_prefetch")]
    #[schemars(range(min = 1, max = 65535))]
    pub settle_prefetch: i32,
    /// Most settle messages applied in one transaction.
    #[serde(default = "default_settle_batch_max")]
    #[schemars(range(min = 1, max = 1000))]
    pub settle_batch_max: i32,
    #[serde(default = "default_lock_ttl_ms")]
    #[schemars(range(min = 100, max = 600000))]
    pub lock_ttl_ms: i32,
}

#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RedisSpec {
    #[serde(default = "default_redis_image")]
    #[x_kube(validation = Rule::new("self != ''").message("image must not be empty"))]
    pub image: String,
    /// Independent Redis nodes for the Redlock quorum: an odd number, so a majority is clear.
    #[serde(default = "default_redis_nodes")]
    #[schemars(range(min = 1, max = 7))]
    #[x_kube(validation = Rule::new("self % 2 == 1").message("nodes must be odd (1, 3, 5 or 7)"))]
    pub nodes: i32,
    #[serde(default = "default_small_storage")]
    pub storage: StorageSpec,
}

#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RabbitmqSpec {
    #[serde(default = "default_rabbitmq_image")]
    #[x_kube(validation = Rule::new("self != ''").message("image must not be empty"))]
    pub image: String,
    #[serde(default = "default_storage")]
    pub storage: StorageSpec,
}

#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PostgresSpec {
    #[serde(default = "default_postgres_image")]
    #[x_kube(validation = Rule::new("self != ''").message("image must not be empty"))]
    pub image: String,
    #[serde(default = "default_storage")]
    pub storage: StorageSpec,
    /// Run a streaming read replica; the app sends client reads to it.
    #[serde(default = "default_true")]
    pub read_replica: bool,
}

#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct StorageSpec {
    /// Volume size, a Kubernetes quantity such as `10Gi`.
    #[x_kube(validation = Rule::new("quantity(self).isGreaterThan(quantity('0'))").message("size must be a positive quantity"))]
    pub size: String,
    /// StorageClass of the volume; the cluster default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class: Option<String>,
}

fn default_app_image() -> String {
    "ghcr.io/payrail/payment-app:0.1.0".into()
}
fn default_app_replicas() -> i32 {
    3
}
fn default_app_resources() -> ResourceRequirements {
    use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
    let quantities = |cpu: &str, memory: &str| {
        [("cpu".to_owned(), Quantity(cpu.into())), ("memory".to_owned(), Quantity(memory.into()))].into()
    };
    ResourceRequirements {
        requests: Some(quantities("250m", "256Mi")),
        limits: Some(quantities("1", "512Mi")),
        ..ResourceRequirements::default()
    }
}
fn default_log_format() -> String {
    "json".into()
}
fn default_tokens_key() -> String {
    "api-tokens".into()
}
// The same defaults as payment-app's own (LOCK_PREFETCH, SETTLE_PREFETCH,
// SETTLE_BATCH_MAX): a settle message carries a whole locked batch, so a
// few of them already make a large transaction.
fn default_lock_prefetch() -> i32 {
    1024
}
fn default_settle_prefetch() -> i32 {
    64
}
fn default_settle_batch_max() -> i32 {
    16
}
fn default_lock_ttl_ms() -> i32 {
    30_000
}
fn default_redis_image() -> String {
    "redis:7.2".into()
}
fn default_redis_nodes() -> i32 {
    3
}
fn default_rabbitmq_image() -> String {
    "rabbitmq:3.13".into()
}
fn default_postgres_image() -> String {
    "postgres:16".into()
}
fn default_true() -> bool {
    true
}
fn default_storage() -> StorageSpec {
    StorageSpec { size: "10Gi".into(), storage_class: None }
}
fn default_small_storage() -> StorageSpec {
    StorageSpec { size: "1Gi".into(), storage_class: None }
}

impl Default for AppSpec {
    fn default() -> Self {
        AppSpec {
            image: default_app_image(),
            replicas: default_app_replicas(),
            resources: default_app_resources(),
            worker: WorkerSpec::default(),
            api_tokens_secret: None,
            log_format: default_log_format(),
        }
    }
}

impl Default for WorkerSpec {
    fn default() -> Self {
        WorkerSpec {
            lock_prefetch: default_lock_prefetch(),
            settle_prefetch: default_settle_prefetch(),
            settle_batch_max: default_settle_batch_max(),
            lock_ttl_ms: default_lock_ttl_ms(),
        }
    }
}

impl Default for RedisSpec {
    fn default() -> Self {
        RedisSpec {
            image: default_redis_image(),
            nodes: default_redis_nodes(),
            storage: default_small_storage(),
        }
    }
}

impl Default for RabbitmqSpec {
    fn default() -> Self {
        RabbitmqSpec { image: default_rabbitmq_image(), storage: default_storage() }
    }
}

impl Default for PostgresSpec {
    fn default() -> Self {
        PostgresSpec { image: default_postgres_image(), storage: default_storage(), read_replica: true }
    }
}

/// What the operator reports.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PaymentClusterStatus {
    /// The spec generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready`, `Progressing` and `Degraded`, with reasons.
    #[serde(default)]
    pub conditions: Vec<Condition>,
    #[serde(default)]
    pub app: ComponentStatus,
    #[serde(default)]
    pub redis: ComponentStatus,
    #[serde(default)]
    pub rabbitmq: ComponentStatus,
    /// Primary and replica together.
    #[serde(default)]
    pub postgres: ComponentStatus,
    /// The Service that serves the payment API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_service: Option<String>,
}

/// Ready and desired pods of one component.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ComponentStatus {
    pub ready: i32,
    pub desired: i32,
    /// `ready/desired`, for `kubectl get`.
    pub summary: String,
}

impl ComponentStatus {
    pub fn new(ready: i32, desired: i32) -> Self {
        ComponentStatus { ready, desired, summary: format!("{ready}/{desired}") }
    }

    pub fn is_ready(&self) -> bool {
        self.ready >= self.desired
    }
}

impl PaymentClusterSpec {
    /// What the schema cannot check. An empty list means the spec is valid.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        for (what, storage) in [
            ("redis.storage.size", &self.redis.storage),
            ("rabbitmq.storage.size", &self.rabbitmq.storage),
            ("postgres.storage.size", &self.postgres.storage),
        ] {
            if !is_quantity(&storage.size) {
                problems.push(format!("{what} {:?} is not a size such as 10Gi", storage.size));
            }
        }
        if self.redis.nodes % 2 == 0 || !(1..=7).contains(&self.redis.nodes) {
            problems.push(format!("redis.nodes must be odd, 1 to 7 (got {})", self.redis.nodes));
        }
        if !(1..=100).contains(&self.app.replicas) {
            problems.push(format!("app.replicas must be 1 to 100 (got {})", self.app.replicas));
        }
        if !matches!(self.app.log_format.as_str(), "text" | "json") {
            problems.push(format!("app.logFormat must be text or json (got {:?})", self.app.log_format));
        }
        for (what, image) in [
            ("app.image", &self.app.image),
            ("redis.image", &self.redis.image),
            ("rabbitmq.image", &self.rabbitmq.image),
            ("postgres.image", &self.postgres.image),
        ] {
            if image.trim().is_empty() || image.contains(char::is_whitespace) {
                problems.push(format!("{what} {image:?} is not an image reference"));
            }
        }
        if self.app.worker.lock_ttl_ms < 1000 {
            problems.push(format!(
                "app.worker.lockTtlMs {} is below 1000: locks would expire under normal settles",
                self.app.worker.lock_ttl_ms
            ));
        }
        problems
    }
}

/// A positive Kubernetes quantity with a binary or decimal suffix, or none.
fn is_quantity(s: &str) -> bool {
    let digits_end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (number, suffix) = s.split_at(digits_end);
    !number.is_empty()
        && number.bytes().any(|b| b != b'0')
        && ["", "Ki", "Mi", "Gi", "Ti", "Pi", "k", "M", "G", "T", "P"].contains(&suffix)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_minimal_spec_is_all_defaults_and_valid() {
        let spec: PaymentClusterSpec = serde_json::from_str("{}").expect("parses");
        assert_eq!(spec.app.replicas, 3);
        assert_eq!(spec.redis.nodes, 3);
        assert!(spec.postgres.read_replica);
        assert!(!spec.delete_volumes_on_delete);
        assert!(spec.problems().is_empty(), "{:?}", spec.problems());
    }

    #[test]
    fn problems_name_each_bad_field() {
        let mut spec = PaymentClusterSpec::default();
        spec.redis.nodes = 4;
        spec.postgres.storage.size = "ten gigs".into();
        spec.app.image = "payrail app".into();
        spec.app.worker.lock_ttl_ms = 200;
        let problems = spec.problems().join("\n");
        for needle in ["redis.nodes", "postgres.storage.size", "app.image", "lockTtlMs"] {
            assert!(problems.contains(needle), "{needle} missing from:\n{problems}");
        }
    }

    #[test]
    fn quantities() {
        for ok in ["1Gi", "10Gi", "512Mi", "1", "100G"] {
            assert!(is_quantity(ok), "{ok}");
        }
        for bad in ["", "Gi", "0Gi", "1.5Gi", "1gb", "-1Gi", " 1Gi"] {
            assert!(!is_quantity(bad), "{bad}");
        }
    }
}

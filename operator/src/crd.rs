//! The `PaymentCluster` custom resource: what a platform team writes, and
//! the status the operator reports back.
//!
//! Every field has a default, so a minimal resource is a name and nothing
//! else. Ranges, shapes and the fields that may never change are in the
//! schema (checked by the API server, CEL rules included); what a schema
//! cannot say is checked in [`crate::validate`].

// Each printer column repeats `type_ = ...`, which clippy takes for a
// duplicated attribute.
#![allow(clippy::duplicated_attributes)]

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ResourceRequirements;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use payrail_common::telemetry::LogFormat;
use payrail_common::{defaults, settings};
use serde::{Deserialize, Serialize};

use crate::image;

pub const GROUP: &str = "payrail.dev";

#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
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
    printcolumn(
        name = "Backups",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"BackupsHealthy\")].status"
    ),
    printcolumn(name = "RabbitMQ", type_ = "string", json_path = ".status.rabbitmq.summary", priority = "1"),
    printcolumn(name = "API", type_ = "string", json_path = ".status.apiService", priority = "1"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.postgres.provider == oldSelf.postgres.provider").message("postgres.provider cannot change on a live cluster: the data stays with the server it is on. To move, create a new PaymentCluster with the new provider, copy the data (pg_dump/pg_restore, or CNPG's bootstrap.initdb.import from the old server), then move clients and delete the old one: docs/operator.md, \"Moving between providers\""))]
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
    /// How strictly the Redis nodes and the PostgreSQL primary and replica are kept on
    /// different nodes: `Required` (the default; pods wait for a node of their own) or
    /// `Preferred` (for one-node clusters: spread when possible).
    #[serde(default)]
    pub anti_affinity: AntiAffinity,
    /// NetworkPolicies that let only the app's pods reach PostgreSQL, RabbitMQ and Redis.
    #[serde(default = "default_true")]
    pub network_policies: bool,
    /// Prometheus Operator objects (PodMonitors, a PrometheusRule) and the metrics
    /// exporters beside Redis and PostgreSQL. Off by default.
    #[serde(default)]
    pub monitoring: MonitoringSpec,
}

/// What a cluster's Prometheus (run by the Prometheus Operator) scrapes and alerts on.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct MonitoringSpec {
    /// Make PodMonitors for the app, RabbitMQ's Prometheus plugin, a Redis exporter beside
    /// each lock node and PostgreSQL's metrics, and a PrometheusRule with payrail's alerts.
    /// Needs the Prometheus Operator's kinds in the cluster. When absent, the operator's
    /// default: off, unless its chart's `monitoring.clusterDefault` turns it on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Labels added to the PodMonitors and the PrometheusRule, for a Prometheus whose
    /// `podMonitorSelector` and `ruleSelector` pick objects by label (such as
    /// `release: kube-prometheus-stack`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// The Redis exporter run beside each lock node.
    #[serde(default = "default_redis_exporter_image")]
    #[x_kube(validation = Rule::new(image::FORM_RULE).message(image::FORM_MESSAGE))]
    #[x_kube(validation = Rule::new(image::DIGEST_RULE).message(image::DIGEST_MESSAGE))]
    #[schemars(length(max = image::MAX_LENGTH))]
    pub redis_exporter_image: String,
    /// The PostgreSQL exporter run beside the builtin primary and replica (CloudNativePG
    /// serves its own metrics).
    #[serde(default = "default_postgres_exporter_image")]
    #[x_kube(validation = Rule::new(image::FORM_RULE).message(image::FORM_MESSAGE))]
    #[x_kube(validation = Rule::new(image::DIGEST_RULE).message(image::DIGEST_MESSAGE))]
    #[schemars(length(max = image::MAX_LENGTH))]
    pub postgres_exporter_image: String,
}

/// How pods that must not share a node are placed.
#[derive(schemars::JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum AntiAffinity {
    /// Never on the same node: a pod with no node of its own stays Pending.
    #[default]
    Required,
    /// On different nodes when the scheduler can; together otherwise.
    Preferred,
}

/// What keeps a restarted Redis node from forgetting locks it granted.
#[derive(schemars::JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum RedisCrashSafety {
    /// A node that served before waits longer than the longest lock lifetime before it
    /// serves again, so every lock it may have forgotten has expired (`appendfsync everysec`).
    #[default]
    DelayedRestart,
    /// Every write is on disk before Redis answers (`appendfsync always`); a node serves
    /// again at once after a restart.
    FsyncAlways,
}

#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!has(self.maxReplicas) || self.replicas <= self.maxReplicas").message("app.replicas cannot be above app.maxReplicas: PostgreSQL's max_connections is sized for app.maxReplicas; raise it first (that restarts PostgreSQL once)"))]
pub struct AppSpec {
    /// The payment-app image. Every image field takes `repository:tag`, and
    /// `repository[:tag]@sha256:<digest>`, which production should use: a tag can be moved.
    #[serde(default = "default_app_image")]
    #[x_kube(validation = Rule::new(image::FORM_RULE).message(image::FORM_MESSAGE))]
    #[x_kube(validation = Rule::new(image::DIGEST_RULE).message(image::DIGEST_MESSAGE))]
    #[schemars(length(max = image::MAX_LENGTH))]
    pub image: String,
    /// API and worker replicas; each runs `payment-app all`.
    #[serde(default = "default_app_replicas")]
    #[schemars(range(min = 1, max = 100))]
    pub replicas: i32,
    /// The most replicas the app may be scaled to. PostgreSQL's `max_connections`
    /// is sized for this many app pods, not for `replicas`, so scaling the app up to it
    /// never restarts PostgreSQL. When absent: 10, or `replicas` when that is more
    /// (or `replicas` itself when `postgres.maxConnections` is set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 100))]
    pub max_replicas: Option<i32>,
    /// CPU and memory for each app container.
    #[serde(default = "default_app_resources")]
    pub resources: ResourceRequirements,
    #[serde(default)]
    pub worker: WorkerSpec,
    /// PostgreSQL connections in each pool of each app pod (`DB_POOL_SIZE`); the
    /// operator sizes PostgreSQL's `max_connections` from it.
    #[serde(default = "default_db_pool_size")]
    #[schemars(range(min = settings::DB_POOL_SIZE.min, max = settings::DB_POOL_SIZE.max))]
    pub db_pool_size: i32,
    /// The longest an app pod takes to stop (`SHUTDOWN_TIMEOUT_SECS`); the pod's grace
    /// period is this plus a margin.
    #[serde(default = "default_shutdown_timeout_seconds")]
    #[schemars(range(min = settings::SHUTDOWN_TIMEOUT_SECS.min, max = settings::SHUTDOWN_TIMEOUT_SECS.max))]
    pub shutdown_timeout_seconds: i32,
    /// A Secret holding the API bearer tokens (comma-separated) under `key`.
    /// When absent, the operator generates a token into `<name>-credentials`.
    /// Label it `payrail.dev/watch` for a change to roll the app at once
    /// (unlabelled, within 5 minutes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_tokens_secret: Option<SecretKeyRef>,
    /// ISO 4217 code of the currency of accounts opened without one (`DEFAULT_CURRENCY`).
    /// Changing it affects only accounts opened afterwards.
    #[serde(default = "default_currency")]
    pub default_currency: CurrencyCode,
    /// Per-token and issuance limits. A token's scopes are written with the token in the
    /// tokens Secret (`TOKEN=read+pay`), never here.
    #[serde(default)]
    pub limits: AppLimits,
    /// Webhook delivery settings.
    #[serde(default)]
    pub webhooks: WebhookSettings,
    /// OpenTelemetry traces over OTLP/HTTP; off when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracing: Option<TracingSettings>,
    /// `text` or `json`.
    #[serde(default = "default_log_format")]
    pub log_format: LogFormat,
}

/// An ISO 4217 currency code that has a minor unit: what payment-app
/// accepts as `DEFAULT_CURRENCY`. The schema lists every such code (from
/// the same `iso_currency` table the app reads), so the API server refuses
/// `usd`, an unknown `XYZ` and gold `XAU` itself, before a pod could fail to
/// start on them. Deserialized as any string, not refused: a resource stored
/// under an older, looser schema must still reach validate, which reports
/// it on the resource rather than failing the operator's whole watch.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(transparent)]
pub struct CurrencyCode(pub String);

impl CurrencyCode {
    /// Every code the schema admits, in alphabetical order: the three-letter
    /// codes ISO 4217 knows that have an exponent (`iso_currency` has no
    /// iterator without another dependency; 26^3 lookups run once per CRD).
    pub fn known() -> Vec<String> {
        let letters = b'A'..=b'Z';
        letters
            .clone()
            .flat_map(|a| letters.clone().flat_map(move |b| (b'A'..=b'Z').map(move |c| [a, b, c])))
            .filter_map(|code| String::from_utf8(code.to_vec()).ok())
            .filter(|code| CurrencyCode(code.clone()).is_known())
            .collect()
    }

    /// Whether the app would take it: a known code with a minor unit.
    pub fn is_known(&self) -> bool {
        iso_currency::Currency::from_code(&self.0).and_then(|c| c.exponent()).is_some()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl schemars::JsonSchema for CurrencyCode {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "CurrencyCode".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({"type": "string", "enum": CurrencyCode::known()})
    }
}

#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SecretKeyRef {
    #[x_kube(validation = Rule::new("self != ''").message("name must not be empty"))]
    pub name: String,
    #[serde(default = "default_tokens_key")]
    pub key: String,
}

/// Limits on what API clients may do, passed to payment-app as its environment.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AppLimits {
    /// Requests per second each API token may make, sustained (`API_RATE_PER_SEC`).
    #[serde(default = "default_api_rate_per_sec")]
    #[schemars(range(min = settings::API_RATE_PER_SEC.min, max = settings::API_RATE_PER_SEC.max))]
    pub api_rate_per_sec: i32,
    /// Requests each token may make at once above its rate (`API_RATE_BURST`).
    #[serde(default = "default_api_rate_burst")]
    #[schemars(range(min = settings::API_RATE_BURST.min, max = settings::API_RATE_BURST.max))]
    pub api_rate_burst: i32,
    /// Most requests one token may have in flight (`HTTP_MAX_IN_FLIGHT_PER_TOKEN`); by default
    /// all the slots with one token, three quarters with several.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = settings::HTTP_MAX_IN_FLIGHT_PER_TOKEN.min, max = settings::HTTP_MAX_IN_FLIGHT_PER_TOKEN.max))]
    pub max_in_flight_per_token: Option<i32>,
    /// Largest initial balance an account may be opened with (`MAX_ACCOUNT_ISSUANCE`).
    #[serde(default = "default_max_account_issuance")]
    #[x_kube(validation = Rule::new(settings::AMOUNT_RULE).message(settings::AMOUNT_MESSAGE))]
    pub max_account_issuance: String,
    /// Most money issued in all (`MAX_TOTAL_ISSUANCE`).
    #[serde(default = "default_max_total_issuance")]
    #[x_kube(validation = Rule::new(settings::AMOUNT_RULE).message(settings::AMOUNT_MESSAGE))]
    pub max_total_issuance: String,
    /// Longest a payment waits for a locked account row, in milliseconds
    /// (`INTAKE_LOCK_TIMEOUT_MS`).
    #[serde(default = "default_intake_lock_timeout_ms")]
    #[schemars(range(min = settings::INTAKE_LOCK_TIMEOUT_MS.min, max = settings::INTAKE_LOCK_TIMEOUT_MS.max))]
    pub intake_lock_timeout_ms: i32,
}

/// Webhook delivery settings, passed to payment-app as its environment.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct WebhookSettings {
    /// Accept `http://` endpoint URLs (`WEBHOOK_ALLOW_HTTP`).
    #[serde(default)]
    pub allow_http: bool,
    /// Deliver to private, loopback and link-local addresses, such as receivers inside the
    /// cluster (`WEBHOOK_ALLOW_PRIVATE`).
    #[serde(default)]
    pub allow_private: bool,
    /// Most webhook endpoints (`WEBHOOK_MAX_ENDPOINTS`).
    #[serde(default = "default_webhook_max_endpoints")]
    #[schemars(range(min = settings::WEBHOOK_MAX_ENDPOINTS.min, max = settings::WEBHOOK_MAX_ENDPOINTS.max))]
    pub max_endpoints: i32,
    /// Longest one delivery may take, in milliseconds (`WEBHOOK_TIMEOUT_MS`).
    #[serde(default = "default_webhook_timeout_ms")]
    #[schemars(range(min = settings::WEBHOOK_TIMEOUT_MS.min, max = settings::WEBHOOK_TIMEOUT_MS.max))]
    pub timeout_ms: i32,
}

/// Where payment-app exports its traces, passed to it as the standard
/// OpenTelemetry variables.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TracingSettings {
    /// The OTLP/HTTP collector's base URL, such as `http://otel-collector:4318`
    /// (`OTEL_EXPORTER_OTLP_ENDPOINT`; spans go to `/v1/traces` under it).
    #[x_kube(validation = Rule::new("self.startsWith('http://') || self.startsWith('https://')").message("otlpEndpoint is an http:// or https:// URL"))]
    pub otlp_endpoint: String,
    /// `http/protobuf` or `http/json` (`OTEL_EXPORTER_OTLP_PROTOCOL`).
    #[serde(default = "default_otlp_protocol")]
    #[x_kube(validation = Rule::new("self == 'http/protobuf' || self == 'http/json'").message("protocol is http/protobuf or http/json"))]
    pub protocol: String,
    /// The traces' `service.name` (`OTEL_SERVICE_NAME`); `payment-app` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_name: Option<String>,
    /// Which traces are kept (`OTEL_TRACES_SAMPLER`), such as `parentbased_traceidratio`;
    /// the SDK's default (`parentbased_always_on`) when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self in ['always_on', 'always_off', 'traceidratio', 'parentbased_always_on', 'parentbased_always_off', 'parentbased_traceidratio']").message("sampler is one of OpenTelemetry's standard samplers"))]
    pub sampler: Option<String>,
    /// The sampler's argument (`OTEL_TRACES_SAMPLER_ARG`), such as `0.1` for a ratio.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sampler_arg: Option<String>,
}

fn default_otlp_protocol() -> String {
    "http/protobuf".to_owned()
}

/// Worker tuning, passed to payment-app as its environment.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct WorkerSpec {
    /// Lock-queue messages (each one payment or a group) a lock worker holds unacknowledged.
    #[serde(default = "default_lock_prefetch")]
    #[schemars(range(min = settings::LOCK_PREFETCH.min, max = settings::LOCK_PREFETCH.max))]
    pub lock_prefetch: i32,
    /// Settle-queue messages (each a locked batch) a settle worker holds unacknowledged.
    #[serde(default = "default_settle_prefetch")]
    #[schemars(range(min = settings::SETTLE_PREFETCH.min, max = settings::SETTLE_PREFETCH.max))]
    pub settle_prefetch: i32,
    /// Most settle messages applied in one transaction.
    #[serde(default = "default_settle_batch_max")]
    #[schemars(range(min = settings::SETTLE_BATCH_MAX.min, max = settings::SETTLE_BATCH_MAX.max))]
    pub settle_batch_max: i32,
    /// Lifetime of an account lock in milliseconds (`LOCK_TTL_MS`).
    #[serde(default = "default_lock_ttl_ms")]
    #[schemars(range(min = settings::LOCK_TTL_MS.min, max = settings::LOCK_TTL_MS.max))]
    pub lock_ttl_ms: i32,
}

#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RedisSpec {
    #[serde(default = "default_redis_image")]
    #[x_kube(validation = Rule::new(image::FORM_RULE).message(image::FORM_MESSAGE))]
    #[x_kube(validation = Rule::new(image::DIGEST_RULE).message(image::DIGEST_MESSAGE))]
    #[schemars(length(max = image::MAX_LENGTH))]
    pub image: String,
    /// Independent Redis nodes for the Redlock quorum: an odd number, so a majority is clear.
    #[serde(default = "default_redis_nodes")]
    #[schemars(range(min = 1, max = 7))]
    #[x_kube(validation = Rule::new("self % 2 == 1").message("nodes must be odd (1, 3, 5 or 7)"))]
    pub nodes: i32,
    #[serde(default = "default_small_storage")]
    pub storage: StorageSpec,
    /// CPU and memory of each Redis node.
    #[serde(default = "default_redis_resources")]
    pub resources: ResourceRequirements,
    /// `DelayedRestart` (the default) or `FsyncAlways`: see docs/operator.md.
    #[serde(default)]
    pub crash_safety: RedisCrashSafety,
}

#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RabbitmqSpec {
    #[serde(default = "default_rabbitmq_image")]
    #[x_kube(validation = Rule::new(image::FORM_RULE).message(image::FORM_MESSAGE))]
    #[x_kube(validation = Rule::new(image::DIGEST_RULE).message(image::DIGEST_MESSAGE))]
    #[schemars(length(max = image::MAX_LENGTH))]
    pub image: String,
    /// Broker nodes: 1, or 3 forming one cluster whose quorum queues keep a replica on
    /// each node, so losing one node loses no message and stops nothing.
    #[serde(default = "default_rabbitmq_replicas")]
    #[x_kube(validation = Rule::new("self == 1 || self == 3").message("rabbitmq.replicas is 1 or 3"))]
    #[x_kube(validation = Rule::new("self >= oldSelf").message("rabbitmq.replicas cannot go from 3 to 1: node 0 would start again as a single broker under another node name, an empty broker on its old volume, while the queues of the cluster stay on volumes no broker reads. Keep 3 nodes: docs/operator.md, \"RabbitMQ: one broker or three\""))]
    pub replicas: i32,
    #[serde(default = "default_storage")]
    pub storage: StorageSpec,
    /// CPU and memory of the broker.
    #[serde(default = "default_rabbitmq_resources")]
    pub resources: ResourceRequirements,
}

/// Who runs PostgreSQL.
#[derive(schemars::JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum PostgresProvider {
    /// The operator's own primary and read replica (StatefulSets): no failover and no
    /// backups, for trying payrail out, development and test clusters. The default only so
    /// that a first cluster needs nothing else installed.
    #[default]
    Builtin,
    /// A CloudNativePG `Cluster`: failover, backups, point-in-time recovery. The production
    /// path.
    Cnpg,
    /// A server the operator does not run, reached through `postgres.external`.
    External,
}

#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("(self.provider == 'external') == has(self.external)").message("postgres.external is set exactly when postgres.provider is external"))]
#[x_kube(validation = Rule::new("!has(self.backup) || self.provider == 'cnpg'").message("postgres.backup needs postgres.provider cnpg: the builtin servers have no backups, and an external server's are its owner's"))]
pub struct PostgresSpec {
    /// `builtin` (the default: the operator's own primary and read replica, with no failover
    /// and no backups, for trying payrail out), `cnpg` (CloudNativePG: failover, backups,
    /// point-in-time recovery; use it in production) or `external`; fixed once the cluster
    /// exists.
    #[serde(default)]
    pub provider: PostgresProvider,
    #[serde(default = "default_postgres_image")]
    #[x_kube(validation = Rule::new(image::FORM_RULE).message(image::FORM_MESSAGE))]
    #[x_kube(validation = Rule::new(image::DIGEST_RULE).message(image::DIGEST_MESSAGE))]
    #[schemars(length(max = image::MAX_LENGTH))]
    pub image: String,
    #[serde(default = "default_storage")]
    pub storage: StorageSpec,
    /// Run a streaming read replica; the app sends client reads to it.
    #[serde(default = "default_true")]
    pub read_replica: bool,
    /// CPU and memory of the primary and of the replica, each.
    #[serde(default = "default_postgres_resources")]
    pub resources: ResourceRequirements,
    /// `max_connections` of the primary and the replica. When absent, the operator sizes
    /// it from the app pods (replicas, one starting and one stopping) times `app.dbPoolSize`, times the
    /// PgBouncer instances when the app writes through `cnpg.pooler`, plus a reserve; when
    /// set, a value that cannot hold those is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 20, max = 10000))]
    pub max_connections: Option<i32>,
    /// The `cnpg` provider's cluster.
    #[serde(default)]
    pub cnpg: CnpgSpec,
    /// Continuous WAL archiving and scheduled base backups to an S3-compatible object
    /// store (`cnpg` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup: Option<BackupSpec>,
    /// The `external` provider's server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external: Option<ExternalPostgresSpec>,
}

/// A CloudNativePG cluster (`postgres.provider: cnpg`).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CnpgSpec {
    /// PostgreSQL instances: one primary and `instances - 1` streaming replicas that CNPG
    /// fails over to; the app reads from the replicas when there are any.
    #[serde(default = "default_cnpg_instances")]
    #[schemars(range(min = 1, max = 9))]
    pub instances: i32,
    /// The PostgreSQL image CNPG runs; CNPG's default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new(image::FORM_RULE).message(image::FORM_MESSAGE))]
    #[x_kube(validation = Rule::new(image::DIGEST_RULE).message(image::DIGEST_MESSAGE))]
    #[schemars(length(max = image::MAX_LENGTH))]
    pub image_name: Option<String>,
    /// A PgBouncer `Pooler` (session mode) in front of the primary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pooler: Option<PoolerSettings>,
}

#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PoolerSettings {
    /// PgBouncer pods.
    #[serde(default = "default_pooler_instances")]
    #[schemars(range(min = 1, max = 10))]
    pub instances: i32,
}

/// Backups of a CNPG cluster, through CNPG's Barman Cloud plugin.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct BackupSpec {
    /// When base backups run: CNPG's cron format, six fields with seconds first.
    #[serde(default = "default_backup_schedule")]
    #[x_kube(validation = Rule::new("self.matches('^[^ ]+( [^ ]+){5}$')").message("schedule has six fields, seconds first, such as '0 0 2 * * *'"))]
    pub schedule: String,
    /// How far back recovery must reach (`30d`, `4w`, `6m`): older base backups and WAL
    /// are deleted.
    #[serde(default = "default_retention_policy")]
    #[x_kube(validation = Rule::new("self.matches('^[1-9][0-9]*[dwm]$')").message("retentionPolicy is a number and d, w or m, such as 30d"))]
    pub retention_policy: String,
    pub object_store: ObjectStoreSpec,
    /// Scheduled snapshots of the instances' volumes as well (a VolumeSnapshotClass is needed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_snapshot: Option<VolumeSnapshotSpec>,
}

/// An S3-compatible bucket.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ObjectStoreSpec {
    #[x_kube(validation = Rule::new("self != ''").message("bucket must not be empty"))]
    pub bucket: String,
    /// A folder in the bucket; base backups and WAL go under `<path>/<cluster>-postgres/`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The endpoint of an S3-compatible store (MinIO, Ceph, ...); AWS S3 when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_url: Option<String>,
    pub credentials_secret: S3CredentialsRef,
}

/// A Secret in the cluster's namespace holding the object store's keys.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct S3CredentialsRef {
    #[x_kube(validation = Rule::new("self != ''").message("name must not be empty"))]
    pub name: String,
    #[serde(default = "default_access_key_id_key")]
    pub access_key_id_key: String,
    #[serde(default = "default_secret_access_key_key")]
    pub secret_access_key_key: String,
    /// The key of the region, when the store needs one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region_key: Option<String>,
}

#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct VolumeSnapshotSpec {
    /// The VolumeSnapshotClass of the snapshots.
    #[x_kube(validation = Rule::new("self != ''").message("className must not be empty"))]
    pub class_name: String,
    /// When snapshots are taken, in the same six-field format.
    #[serde(default = "default_snapshot_schedule")]
    #[x_kube(validation = Rule::new("self.matches('^[^ ]+( [^ ]+){5}$')").message("schedule has six fields, seconds first, such as '0 0 3 * * *'"))]
    pub schedule: String,
}

/// A PostgreSQL server the operator does not run (`postgres.provider: external`).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ExternalPostgresSpec {
    /// A Secret in the cluster's namespace holding `DATABASE_URL` and, optionally,
    /// `DATABASE_READ_URL` (a read replica's URL). Label it `payrail.dev/watch`
    /// for a change to roll the app at once (unlabelled, within 5 minutes).
    #[x_kube(validation = Rule::new("self != ''").message("secretName must not be empty"))]
    pub secret_name: String,
    /// A Secret holding the CA certificate that signed the server's certificate: the app
    /// then connects with `sslmode=verify-full` against it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_secret: Option<CaSecretRef>,
}

#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CaSecretRef {
    #[x_kube(validation = Rule::new("self != ''").message("name must not be empty"))]
    pub name: String,
    #[serde(default = "default_ca_key")]
    pub key: String,
}

#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.storageClass) == has(oldSelf.storageClass) && (!has(self.storageClass) || self.storageClass == oldSelf.storageClass)").message("storageClass cannot change: volumes keep the class they were created with"))]
pub struct StorageSpec {
    /// Volume size, a Kubernetes quantity such as `10Gi`. It may grow (the operator
    /// expands the existing volumes, where the StorageClass allows it) but never shrink.
    #[x_kube(validation = Rule::new("isQuantity(self) && quantity(self).isGreaterThan(quantity('0'))").message("size must be a positive quantity such as 10Gi"))]
    pub size: String,
    /// StorageClass of the volume; the cluster default when absent. Fixed once created.
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
    resources(("250m", "256Mi"), ("1", "512Mi"))
}
/// Requests and limits, each as (cpu, memory).
fn resources(requests: (&str, &str), limits: (&str, &str)) -> ResourceRequirements {
    use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
    let quantities = |(cpu, memory): (&str, &str)| {
        [("cpu".to_owned(), Quantity(cpu.into())), ("memory".to_owned(), Quantity(memory.into()))].into()
    };
    ResourceRequirements {
        requests: Some(quantities(requests)),
        limits: Some(quantities(limits)),
        ..ResourceRequirements::default()
    }
}
fn default_redis_resources() -> ResourceRequirements {
    resources(("100m", "128Mi"), ("500m", "256Mi"))
}
fn default_rabbitmq_resources() -> ResourceRequirements {
    resources(("250m", "512Mi"), ("1", "1Gi"))
}
fn default_postgres_resources() -> ResourceRequirements {
    resources(("250m", "512Mi"), ("2", "2Gi"))
}
// payment-app's own defaults and ranges, from the one place both programs
// read them (`payrail_common::settings`). The schema's integers are i32;
// the asserts prove each bound fits, so the casts cannot wrap.
const _: () = assert!(settings::DB_POOL_SIZE.max <= i32::MAX as u32);
const _: () = assert!(settings::SHUTDOWN_TIMEOUT_SECS.max <= i32::MAX as u64);
const _: () = assert!(settings::LOCK_TTL_MS.max <= i32::MAX as u64);
const _: () = assert!(settings::API_RATE_PER_SEC.max <= i32::MAX as u32);
const _: () = assert!(settings::API_RATE_BURST.max <= i32::MAX as u32);
const _: () = assert!(settings::INTAKE_LOCK_TIMEOUT_MS.max <= i32::MAX as u64);
const _: () = assert!(settings::WEBHOOK_TIMEOUT_MS.max <= i32::MAX as u64);
fn default_api_rate_per_sec() -> i32 {
    settings::API_RATE_PER_SEC.default as i32
}
fn default_api_rate_burst() -> i32 {
    settings::API_RATE_BURST.default as i32
}
fn default_currency() -> CurrencyCode {
    CurrencyCode(defaults::DEFAULT_CURRENCY.to_owned())
}
fn default_max_account_issuance() -> String {
    settings::MAX_ACCOUNT_ISSUANCE.default.to_owned()
}
fn default_max_total_issuance() -> String {
    settings::MAX_TOTAL_ISSUANCE.default.to_owned()
}
fn default_intake_lock_timeout_ms() -> i32 {
    settings::INTAKE_LOCK_TIMEOUT_MS.default as i32
}
fn default_webhook_max_endpoints() -> i32 {
    settings::WEBHOOK_MAX_ENDPOINTS.default.into()
}
fn default_webhook_timeout_ms() -> i32 {
    settings::WEBHOOK_TIMEOUT_MS.default as i32
}
fn default_db_pool_size() -> i32 {
    settings::DB_POOL_SIZE.default as i32
}
fn default_shutdown_timeout_seconds() -> i32 {
    settings::SHUTDOWN_TIMEOUT_SECS.default as i32
}
fn default_log_format() -> LogFormat {
    LogFormat::Json
}
fn default_tokens_key() -> String {
    "api-tokens".into()
}
fn default_lock_prefetch() -> i32 {
    settings::LOCK_PREFETCH.default.into()
}
fn default_settle_prefetch() -> i32 {
    settings::SETTLE_PREFETCH.default.into()
}
fn default_settle_batch_max() -> i32 {
    settings::SETTLE_BATCH_MAX.default.into()
}
fn default_lock_ttl_ms() -> i32 {
    settings::LOCK_TTL_MS.default as i32
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
fn default_rabbitmq_replicas() -> i32 {
    1
}
fn default_cnpg_instances() -> i32 {
    2
}
fn default_pooler_instances() -> i32 {
    2
}
fn default_backup_schedule() -> String {
    "0 0 2 * * *".into()
}
fn default_snapshot_schedule() -> String {
    "0 0 3 * * *".into()
}
fn default_retention_policy() -> String {
    "30d".into()
}
fn default_access_key_id_key() -> String {
    "ACCESS_KEY_ID".into()
}
fn default_secret_access_key_key() -> String {
    "ACCESS_SECRET_KEY".into()
}
fn default_ca_key() -> String {
    "ca.crt".into()
}
fn default_postgres_image() -> String {
    "postgres:16".into()
}
fn default_redis_exporter_image() -> String {
    "oliver006/redis_exporter:v1.67.0".into()
}
fn default_postgres_exporter_image() -> String {
    "quay.io/prometheuscommunity/postgres-exporter:v0.16.0".into()
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

// The same values serde fills in for absent fields.
impl Default for PaymentClusterSpec {
    fn default() -> Self {
        PaymentClusterSpec {
            app: AppSpec::default(),
            redis: RedisSpec::default(),
            rabbitmq: RabbitmqSpec::default(),
            postgres: PostgresSpec::default(),
            delete_volumes_on_delete: false,
            anti_affinity: AntiAffinity::default(),
            network_policies: true,
            monitoring: MonitoringSpec::default(),
        }
    }
}

impl Default for MonitoringSpec {
    fn default() -> Self {
        MonitoringSpec {
            enabled: None,
            labels: BTreeMap::new(),
            redis_exporter_image: default_redis_exporter_image(),
            postgres_exporter_image: default_postgres_exporter_image(),
        }
    }
}

impl Default for AppSpec {
    fn default() -> Self {
        AppSpec {
            image: default_app_image(),
            replicas: default_app_replicas(),
            max_replicas: None,
            resources: default_app_resources(),
            worker: WorkerSpec::default(),
            db_pool_size: default_db_pool_size(),
            shutdown_timeout_seconds: default_shutdown_timeout_seconds(),
            api_tokens_secret: None,
            default_currency: default_currency(),
            limits: AppLimits::default(),
            webhooks: WebhookSettings::default(),
            tracing: None,
            log_format: default_log_format(),
        }
    }
}

impl Default for AppLimits {
    fn default() -> Self {
        AppLimits {
            api_rate_per_sec: default_api_rate_per_sec(),
            api_rate_burst: default_api_rate_burst(),
            max_in_flight_per_token: None,
            max_account_issuance: default_max_account_issuance(),
            max_total_issuance: default_max_total_issuance(),
            intake_lock_timeout_ms: default_intake_lock_timeout_ms(),
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
            resources: default_redis_resources(),
            crash_safety: RedisCrashSafety::default(),
        }
    }
}

impl Default for RabbitmqSpec {
    fn default() -> Self {
        RabbitmqSpec {
            image: default_rabbitmq_image(),
            replicas: default_rabbitmq_replicas(),
            storage: default_storage(),
            resources: default_rabbitmq_resources(),
        }
    }
}

impl Default for PostgresSpec {
    fn default() -> Self {
        PostgresSpec {
            provider: PostgresProvider::default(),
            image: default_postgres_image(),
            storage: default_storage(),
            read_replica: true,
            resources: default_postgres_resources(),
            max_connections: None,
            cnpg: CnpgSpec::default(),
            backup: None,
            external: None,
        }
    }
}

impl Default for WebhookSettings {
    fn default() -> Self {
        WebhookSettings {
            allow_http: false,
            allow_private: false,
            max_endpoints: default_webhook_max_endpoints(),
            timeout_ms: default_webhook_timeout_ms(),
        }
    }
}

impl Default for CnpgSpec {
    fn default() -> Self {
        CnpgSpec { instances: default_cnpg_instances(), image_name: None, pooler: None }
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
    /// Primary and replica together (the builtin servers), or CNPG's ready and desired
    /// instances.
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

#[cfg(test)]
mod tests {
    use serde::de::DeserializeOwned;
    use serde_json::json;

    use super::*;

    /// `T::default()` is what the CRD publishes as the default of a whole
    /// absent object, and the API server validates it against the fields'
    /// own ranges: it must be exactly what serde fills in field by field.
    fn default_is_serdes<T: Default + DeserializeOwned + PartialEq + std::fmt::Debug>() {
        let filled: T = serde_json::from_value(json!({})).expect("every field has a default");
        assert_eq!(T::default(), filled, "{}", std::any::type_name::<T>());
    }

    #[test]
    fn every_default_object_is_what_serde_fills_in() {
        default_is_serdes::<PaymentClusterSpec>();
        default_is_serdes::<MonitoringSpec>();
        default_is_serdes::<AppSpec>();
        default_is_serdes::<AppLimits>();
        default_is_serdes::<WorkerSpec>();
        default_is_serdes::<WebhookSettings>();
        default_is_serdes::<RedisSpec>();
        default_is_serdes::<RabbitmqSpec>();
        default_is_serdes::<PostgresSpec>();
        default_is_serdes::<CnpgSpec>();
    }
}

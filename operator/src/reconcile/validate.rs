//! The validate step: a `PaymentCluster` as written becomes a
//! [`ValidatedCluster`], or the list of everything wrong with it. Builders
//! take only the validated value, so nothing past this point re-checks a
//! field or decides a derived number a second time.
//!
//! The CRD schema (ranges, CEL rules) refuses most bad specs before the
//! operator sees them; this repeats the rules a controller cannot trust to
//! have been enforced (a CRD applied late, or an older one), and adds what a
//! schema cannot say: the PostgreSQL connection budget.

use kube::ResourceExt;
use payrail_common::settings;

use crate::crd::{
    BackupSpec, CaSecretRef, PaymentCluster, PaymentClusterSpec, PostgresProvider, PostgresSpec,
    RedisCrashSafety,
};
use crate::error::InvalidSpec;
use crate::image;
use crate::names::Names;
use crate::owner::Owner;

mod resolved;
pub use resolved::{
    AppSettings, MonitoringSettings, Placement, RabbitmqSettings, RedisSettings, ServerSettings,
};

/// App pods the Deployment may run above `replicas` during a rollout
/// (its `maxSurge`): each holds its own connection pools.
pub const APP_SURGE: i32 = 1;
/// App pods that may still be stopping, their pools open, beside the
/// `replicas` + [`APP_SURGE`] running ones: the Deployment no longer counts
/// a pod once it is terminating, and starts the next new pod at once. Its
/// `minReadySeconds` is the pod's whole grace period, so a new pod counts
/// as available (and the next old pod is stopped) only once the pod it
/// replaced has had all its time to stop: a rollout has at most
/// `maxSurge` pods stopping at a time. (A drain evicts app pods one at a
/// time too, and its replacement pods are among `replicas`.)
pub const APP_STOPPING: i32 = APP_SURGE;
/// Connections PostgreSQL keeps for everything that is not an app pool:
/// its `superuser_reserved_connections` (3, which CNPG's instance manager
/// and metrics exporter use, connecting as the superuser), an operator's
/// `psql`, the `payment-app audit` run from `kubectl exec`, monitoring.
/// Streaming replicas need none: WAL senders have slots of their own
/// (`max_wal_senders`) since PostgreSQL 12.
pub const RESERVED_CONNECTIONS: i32 = 10;
/// Server connections a PgBouncer instance of CNPG's Pooler opens besides
/// its pools: the one it runs its `auth_query` on (as
/// `cnpg_pooler_pgbouncer`, in the `postgres` database) when clients log in.
pub const POOLER_AUTH_CONNECTIONS: i32 = 1;
/// The app replicas PostgreSQL's derived `max_connections` covers when the
/// spec names no `app.maxReplicas`: scaling the app within it (a routine
/// edit) does not restart PostgreSQL.
pub const DEFAULT_MAX_APP_REPLICAS: i32 = 10;
/// The most `max_connections` the operator derives: each connection is a
/// PostgreSQL process, and past this a pooler is the answer, not more.
pub const MAX_CONNECTIONS_CAP: i32 = 10_000;
/// Seconds added to the app's own shutdown bound for the pod's grace
/// period: the kubelet's SIGKILL must come after payment-app gave up.
pub const SHUTDOWN_MARGIN_SECONDS: i32 = 10;
/// Seconds a stopping app pod keeps serving before it gets SIGTERM (its
/// preStop sleep). The kubelet and the endpoints controller learn of the
/// stop at the same moment; kube-proxy, Ingress controllers and load
/// balancers keep sending new connections for a few seconds more, and a
/// pod that stopped accepting at once refused them in every rollout.
pub const APP_PRESTOP_SECONDS: i32 = 5;

/// What the operator decides for every cluster that leaves it unsaid
/// (`payment-operator run`'s settings, from its chart's values).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OperatorDefaults {
    /// `monitoring.enabled` of a spec that does not set it.
    pub monitoring: bool,
}

/// A spec that passed validation, with every number derived from it: the
/// owner its children point at and each component's typed settings, never
/// the `PaymentCluster` itself, so nothing past validate reads the raw spec.
#[derive(Debug, Clone)]
pub struct ValidatedCluster {
    pub owner: Owner,
    pub names: Names,
    /// Whether the monitoring objects are built: the spec's
    /// `monitoring.enabled`, or the operator's default when it is absent.
    pub monitoring: bool,
    pub monitoring_settings: MonitoringSettings,
    pub app: AppSettings,
    pub redis: RedisSettings,
    pub rabbitmq: RabbitmqSettings,
    /// The storage and resources of the servers the operator runs
    /// (builtin or CNPG); unread with an external server.
    pub postgres_server: ServerSettings,
    pub placement: Placement,
    /// Who runs PostgreSQL, with the settings only that provider reads.
    pub postgres: PostgresPlan,
    pub connections: ConnectionBudget,
    /// How long a restarted Redis node that served before waits before it
    /// serves again; `None` when every write is fsynced instead.
    pub redis_restart_delay_seconds: Option<i32>,
    /// How long a Redis node that starts on an empty volume waits, whatever
    /// the crash safety: it may be a node whose volume was lost after it
    /// granted locks, and it remembers none of them.
    pub redis_empty_volume_delay_seconds: i32,
    /// `max_slot_wal_keep_size` of the primary, in MB: how much WAL a
    /// replica's slot may hold back before the primary lets it go.
    pub max_slot_wal_keep_mb: u64,
    /// The app pod's `terminationGracePeriodSeconds`.
    pub app_grace_period_seconds: i64,
}

/// Who runs PostgreSQL, decided once here: `postgres.provider` and the
/// settings that only make sense with it (`postgres.external`,
/// `postgres.cnpg`, `postgres.backup`, `postgres.readReplica`) become one
/// value, so a builder cannot read a provider's settings without being in
/// that provider's arm. `reconcile::build::postgres` is where it is matched.
#[derive(Debug, Clone, PartialEq)]
pub enum PostgresPlan {
    Builtin(BuiltinPlan),
    Cnpg(CnpgPlan),
    External(ExternalPlan),
}

/// The operator's own primary (and replica) StatefulSets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltinPlan {
    /// Whether a streaming read replica runs beside the primary.
    pub read_replica: bool,
    /// The PostgreSQL image both servers run.
    pub image: String,
}

/// A CloudNativePG `Cluster`.
#[derive(Debug, Clone, PartialEq)]
pub struct CnpgPlan {
    /// PostgreSQL instances: a primary and `instances - 1` replicas.
    pub instances: i32,
    /// PgBouncer instances of the Pooler the app writes through, if any.
    pub pooler_instances: Option<i32>,
    /// WAL archiving and base backups, when the spec asks for them (boxed:
    /// the other plans are a few words).
    pub backup: Option<Box<BackupSpec>>,
    /// The PostgreSQL image CNPG runs; CNPG's own default when `None`.
    pub image_name: Option<String>,
}

/// A server the operator does not run.
#[derive(Debug, Clone, PartialEq)]
pub struct ExternalPlan {
    /// The Secret holding `DATABASE_URL` (and maybe `DATABASE_READ_URL`).
    pub secret_name: String,
    /// The CA that signed the server's certificate, when TLS is verified.
    pub ca_secret: Option<CaSecretRef>,
}

impl PostgresPlan {
    /// The plan of a spec, or why it has none: `postgres.external` is set
    /// exactly with the `external` provider (the CRD's CEL rule says so too).
    fn resolve(postgres: &PostgresSpec) -> Result<Self, String> {
        match (postgres.provider, &postgres.external) {
            (PostgresProvider::External, None) => {
                Err("postgres.provider external needs postgres.external.secretName".into())
            }
            (PostgresProvider::Builtin | PostgresProvider::Cnpg, Some(_)) => {
                Err("postgres.external is set, but postgres.provider is not external".into())
            }
            (PostgresProvider::External, Some(external)) if external.secret_name.trim().is_empty() => {
                Err("postgres.external.secretName must not be empty".into())
            }
            (PostgresProvider::External, Some(external)) => Ok(PostgresPlan::External(ExternalPlan {
                secret_name: external.secret_name.clone(),
                ca_secret: external.ca_secret.clone(),
            })),
            (PostgresProvider::Builtin, None) => Ok(PostgresPlan::Builtin(BuiltinPlan {
                read_replica: postgres.read_replica,
                image: postgres.image.clone(),
            })),
            (PostgresProvider::Cnpg, None) => Ok(PostgresPlan::Cnpg(CnpgPlan {
                instances: postgres.cnpg.instances,
                pooler_instances: postgres.cnpg.pooler.as_ref().map(|p| p.instances),
                backup: postgres.backup.clone().map(Box::new),
                image_name: postgres.cnpg.image_name.clone(),
            })),
        }
    }

    /// The provider as the spec names it (for messages).
    pub fn provider(&self) -> PostgresProvider {
        match self {
            PostgresPlan::Builtin(_) => PostgresProvider::Builtin,
            PostgresPlan::Cnpg(_) => PostgresProvider::Cnpg,
            PostgresPlan::External(_) => PostgresProvider::External,
        }
    }
}

/// PostgreSQL connections: what the app pods can hold at once, and the
/// server setting that admits them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionBudget {
    /// `DB_POOL_SIZE` of each app pod.
    pub pool_size: i32,
    /// App pods at the height of a rollout of the largest app the spec
    /// allows: its most replicas, the surge pod and the pod still stopping.
    pub app_pods: i32,
    /// PgBouncer instances the app writes through (CNPG's Pooler); 0 when
    /// it connects to PostgreSQL directly.
    pub poolers: i32,
    /// `max_connections` of the primary and the replica (a standby must
    /// allow at least as many as its primary, or it refuses to start).
    pub max_connections: i32,
}

impl ConnectionBudget {
    /// Connections the app pods can open on one server. Each pod has one
    /// pool per server (the primary's, and the replica's when there is one;
    /// without a replica payment-app shares one pool for both), and its lock
    /// and settle workers draw from that pool, so workers add none.
    pub fn app_connections(&self) -> i32 {
        self.app_pods * self.pool_size
    }

    /// Server connections the app's side can hold on the primary. Direct,
    /// its pools. Through the Pooler, every PgBouncer instance may hold one
    /// for each app connection: each instance pools on its own, the Service
    /// spreads clients over the instances as it likes, and in session mode
    /// a client that finds its instance's pool full waits until another
    /// disconnects, which sqlx's long-lived pools seldom do; so each
    /// instance's pool is the whole app's (and an instance keeps idle server
    /// connections for `server_idle_timeout` after their clients moved to
    /// another). Each also runs its auth query on one connection.
    pub fn primary_connections(&self) -> i32 {
        match self.poolers {
            0 => self.app_connections(),
            poolers => poolers * (self.app_connections() + POOLER_AUTH_CONNECTIONS),
        }
    }

    /// The budget of the largest app the spec allows, not of the app as it
    /// is now: `max_connections` is a server argument, so a budget that
    /// followed `app.replicas` restarted primary and replica whenever the
    /// app was scaled. The largest app is `app.maxReplicas`; without it,
    /// the replicas a fixed `postgres.maxConnections` was checked against
    /// until now, or [`DEFAULT_MAX_APP_REPLICAS`] (more when `replicas` is).
    fn plan(spec: &PaymentClusterSpec) -> Result<Self, String> {
        let pool_size = spec.app.db_pool_size;
        let (largest, which) = match (spec.app.max_replicas, spec.postgres.max_connections) {
            (Some(max), _) => (max, "app.maxReplicas"),
            (None, Some(_)) => (spec.app.replicas, "app.replicas"),
            (None, None) if spec.app.replicas > DEFAULT_MAX_APP_REPLICAS => {
                (spec.app.replicas, "app.replicas")
            }
            (None, None) => (DEFAULT_MAX_APP_REPLICAS, "the default app.maxReplicas"),
        };
        let app_pods = largest + APP_SURGE + APP_STOPPING;
        let poolers = match (spec.postgres.provider, &spec.postgres.cnpg.pooler) {
            (PostgresProvider::Cnpg, Some(pooler)) => pooler.instances,
            _ => 0,
        };
        let budget = ConnectionBudget { pool_size, app_pods, poolers, max_connections: 0 };
        let needed = budget.primary_connections() + RESERVED_CONNECTIONS;
        let explain = || {
            let app = format!(
                "{app_pods} app pods ({which} {largest} + {APP_SURGE} starting and {APP_STOPPING} stopping during a rollout) x app.dbPoolSize {pool_size}"
            );
            let through = match poolers {
                0 => app,
                _ => format!(
                    "{poolers} PgBouncer instances (postgres.cnpg.pooler.instances) x ({app} + {POOLER_AUTH_CONNECTIONS} for its auth query)"
                ),
            };
            format!("{through} + {RESERVED_CONNECTIONS} reserved = {needed}")
        };
        let max_connections = match spec.postgres.max_connections {
            Some(set) if set < needed => {
                return Err(format!(
                    "postgres.maxConnections {set} is below what the app can open: {}; raise it or lower app.dbPoolSize",
                    explain()
                ));
            }
            Some(set) => set,
            None if needed > MAX_CONNECTIONS_CAP => {
                return Err(format!(
                    "the app would need more than {MAX_CONNECTIONS_CAP} PostgreSQL connections: {}; lower app.dbPoolSize, app.maxReplicas or postgres.cnpg.pooler.instances",
                    explain()
                ));
            }
            None => needed,
        };
        Ok(ConnectionBudget { max_connections, ..budget })
    }
}

/// The validate step, with the operator's defaults all off (as `render`
/// shows a cluster).
pub fn validate(cluster: &PaymentCluster) -> Result<ValidatedCluster, InvalidSpec> {
    validate_with(cluster, &OperatorDefaults::default())
}

/// The validate step, with what the operator was told to default to.
pub fn validate_with(
    cluster: &PaymentCluster,
    defaults: &OperatorDefaults,
) -> Result<ValidatedCluster, InvalidSpec> {
    let spec = &cluster.spec;
    let mut problems = count_and_size_problems(spec);
    // As the currency below: the schema holds them to this since issue 28.
    for (what, value) in [
        ("app.limits.maxAccountIssuance", &spec.app.limits.max_account_issuance),
        ("app.limits.maxTotalIssuance", &spec.app.limits.max_total_issuance),
    ] {
        if !settings::is_amount_setting(value) {
            problems.push(format!("{what} {value:?}: {}", settings::AMOUNT_MESSAGE));
        }
    }
    // The schema lists the codes; a resource stored under an older schema
    // may still hold another.
    if !spec.app.default_currency.is_known() {
        problems.push(format!(
            "app.defaultCurrency must be an ISO 4217 code with a minor unit, like USD (got {:?})",
            spec.app.default_currency.as_str()
        ));
    }
    let images = [
        ("app.image", Some(&spec.app.image)),
        ("redis.image", Some(&spec.redis.image)),
        ("rabbitmq.image", Some(&spec.rabbitmq.image)),
        ("postgres.image", Some(&spec.postgres.image)),
        ("postgres.cnpg.imageName", spec.postgres.cnpg.image_name.as_ref()),
        ("monitoring.redisExporterImage", Some(&spec.monitoring.redis_exporter_image)),
        ("monitoring.postgresExporterImage", Some(&spec.monitoring.postgres_exporter_image)),
    ];
    for (what, reference) in images.into_iter().filter_map(|(what, image)| Some((what, image?))) {
        if let Some(problem) = image::problem(reference) {
            problems.push(format!("{what} {reference:?}: {problem}"));
        }
    }
    if !(MIN_LOCK_TTL_MS..=MAX_LOCK_TTL_MS).contains(&spec.app.worker.lock_ttl_ms) {
        problems.push(format!(
            "app.worker.lockTtlMs {} is outside {MIN_LOCK_TTL_MS} to {MAX_LOCK_TTL_MS}: below it, locks would expire under normal settles",
            spec.app.worker.lock_ttl_ms
        ));
    }
    let (postgres, data_tier) = data_tier_problems(spec);
    problems.extend(data_tier);
    for key in spec.monitoring.labels.keys() {
        if !is_label_key(key) {
            problems.push(format!("monitoring.labels key {key:?} is not a label key such as release"));
        }
    }
    let connections = ConnectionBudget::plan(spec).map_err(|problem| problems.push(problem)).ok();
    match (connections, postgres) {
        (Some(connections), Some(postgres)) if problems.is_empty() => {
            Ok(resolve(cluster, defaults, postgres, connections))
        }
        _ => {
            tracing::debug!(cluster = %cluster.name_any(), ?problems, "invalid spec");
            Err(InvalidSpec(problems))
        }
    }
}

/// The counts, sizes and ranges of the spec that the schema also states:
/// a resource stored under an older schema may hold others.
fn count_and_size_problems(spec: &PaymentClusterSpec) -> Vec<String> {
    let mut problems = Vec::new();
    for (what, storage) in [
        ("redis.storage.size", &spec.redis.storage),
        ("rabbitmq.storage.size", &spec.rabbitmq.storage),
        ("postgres.storage.size", &spec.postgres.storage),
    ] {
        if !is_quantity(&storage.size) {
            problems.push(format!("{what} {:?} is not a positive size such as 10Gi", storage.size));
        }
    }
    if spec.redis.nodes % 2 == 0 || !(1..=7).contains(&spec.redis.nodes) {
        problems.push(format!("redis.nodes must be odd, 1 to 7 (got {})", spec.redis.nodes));
    }
    if !(1..=100).contains(&spec.app.replicas) {
        problems.push(format!("app.replicas must be 1 to 100 (got {})", spec.app.replicas));
    }
    match spec.app.max_replicas {
        Some(max) if !(1..=100).contains(&max) => {
            problems.push(format!("app.maxReplicas must be 1 to 100 (got {max})"))
        }
        Some(max) if spec.app.replicas > max => problems.push(format!(
            "app.replicas {} is above app.maxReplicas {max}: PostgreSQL's max_connections is sized for app.maxReplicas; raise it first",
            spec.app.replicas
        )),
        _ => {}
    }
    let pool = settings::DB_POOL_SIZE;
    if !(pool.min..=pool.max).contains(&u32::try_from(spec.app.db_pool_size).unwrap_or(0)) {
        problems.push(format!(
            "app.dbPoolSize must be {} to {} (got {})",
            pool.min, pool.max, spec.app.db_pool_size
        ));
    }
    let shutdown = settings::SHUTDOWN_TIMEOUT_SECS;
    if !(shutdown.min..=shutdown.max).contains(&u64::try_from(spec.app.shutdown_timeout_seconds).unwrap_or(0))
    {
        problems.push(format!(
            "app.shutdownTimeoutSeconds must be {} to {} (got {})",
            shutdown.min, shutdown.max, spec.app.shutdown_timeout_seconds
        ));
    }
    problems
}

/// A valid spec's settings, resolved: what the builders read instead of
/// the spec.
fn resolve(
    cluster: &PaymentCluster,
    defaults: &OperatorDefaults,
    postgres: PostgresPlan,
    connections: ConnectionBudget,
) -> ValidatedCluster {
    let spec = &cluster.spec;
    ValidatedCluster {
        owner: Owner::of(cluster),
        names: Names::of(cluster),
        postgres,
        monitoring: spec.monitoring.enabled.unwrap_or(defaults.monitoring),
        monitoring_settings: MonitoringSettings {
            labels: spec.monitoring.labels.clone(),
            redis_exporter_image: spec.monitoring.redis_exporter_image.clone(),
            postgres_exporter_image: spec.monitoring.postgres_exporter_image.clone(),
        },
        app: AppSettings {
            image: spec.app.image.clone(),
            replicas: spec.app.replicas,
            resources: spec.app.resources.clone(),
            worker: spec.app.worker.clone(),
            shutdown_timeout_seconds: spec.app.shutdown_timeout_seconds,
            api_tokens_secret: spec.app.api_tokens_secret.clone(),
            default_currency: spec.app.default_currency.clone(),
            log_format: spec.app.log_format,
            limits: spec.app.limits.clone(),
            webhooks: spec.app.webhooks.clone(),
            tracing: spec.app.tracing.clone(),
        },
        redis: RedisSettings {
            image: spec.redis.image.clone(),
            nodes: spec.redis.nodes,
            storage: spec.redis.storage.clone(),
            resources: spec.redis.resources.clone(),
        },
        rabbitmq: RabbitmqSettings {
            image: spec.rabbitmq.image.clone(),
            replicas: spec.rabbitmq.replicas,
            storage: spec.rabbitmq.storage.clone(),
            resources: spec.rabbitmq.resources.clone(),
        },
        postgres_server: ServerSettings {
            storage: spec.postgres.storage.clone(),
            resources: spec.postgres.resources.clone(),
        },
        placement: Placement {
            anti_affinity: spec.anti_affinity,
            delete_volumes_on_delete: spec.delete_volumes_on_delete,
            network_policies: spec.network_policies,
        },
        connections,
        redis_restart_delay_seconds: match spec.redis.crash_safety {
            RedisCrashSafety::DelayedRestart => {
                Some(redis_restart_delay_seconds(spec.app.worker.lock_ttl_ms))
            }
            RedisCrashSafety::FsyncAlways => None,
        },
        redis_empty_volume_delay_seconds: redis_restart_delay_seconds(spec.app.worker.lock_ttl_ms),
        max_slot_wal_keep_mb: max_slot_wal_keep_mb(&spec.postgres.storage.size),
        // The preStop sleep is part of the grace period.
        app_grace_period_seconds: i64::from(
            APP_PRESTOP_SECONDS + spec.app.shutdown_timeout_seconds + SHUTDOWN_MARGIN_SECONDS,
        ),
    }
}

/// The rules of the PostgreSQL providers and of RabbitMQ's size (the CRD
/// states them too, as CEL rules).
fn data_tier_problems(spec: &PaymentClusterSpec) -> (Option<PostgresPlan>, Vec<String>) {
    let (postgres, mut problems) = (&spec.postgres, Vec::new());
    let plan = PostgresPlan::resolve(postgres).map_err(|problem| problems.push(problem)).ok();
    if !(1..=9).contains(&postgres.cnpg.instances) {
        problems.push(format!("postgres.cnpg.instances must be 1 to 9 (got {})", postgres.cnpg.instances));
    }
    if let Some(pooler) = postgres.cnpg.pooler.as_ref().filter(|p| !(1..=10).contains(&p.instances)) {
        problems.push(format!("postgres.cnpg.pooler.instances must be 1 to 10 (got {})", pooler.instances));
    }
    if let Some(backup) = &postgres.backup {
        if postgres.provider != PostgresProvider::Cnpg {
            problems.push("postgres.backup needs postgres.provider cnpg".into());
        }
        let schedules = std::iter::once(("postgres.backup.schedule", &backup.schedule)).chain(
            backup.volume_snapshot.as_ref().map(|s| ("postgres.backup.volumeSnapshot.schedule", &s.schedule)),
        );
        for (what, schedule) in schedules {
            if schedule.split(' ').filter(|f| !f.is_empty()).count() != 6 || schedule.contains("  ") {
                problems.push(format!(
                    "{what} {schedule:?} is not CNPG's six-field schedule (seconds first, such as '0 0 2 * * *')"
                ));
            }
        }
        if !is_retention(&backup.retention_policy) {
            problems.push(format!(
                "postgres.backup.retentionPolicy {:?} is not a recovery window such as 30d, 4w or 6m",
                backup.retention_policy
            ));
        }
        if backup.object_store.bucket.trim().is_empty() {
            problems.push("postgres.backup.objectStore.bucket must not be empty".into());
        }
    }
    if !matches!(spec.rabbitmq.replicas, 1 | 3) {
        problems.push(format!("rabbitmq.replicas must be 1 or 3 (got {})", spec.rabbitmq.replicas));
    }
    (plan, problems)
}

/// A Kubernetes label key: an optional DNS prefix and `/`, then a name of
/// at most 63 letters, digits, `-`, `_` and `.`, alphanumeric at both ends.
fn is_label_key(key: &str) -> bool {
    let (prefix, name) = key.rsplit_once('/').map_or((None, key), |(p, n)| (Some(p), n));
    let edges = |s: &str| {
        s.starts_with(|c: char| c.is_ascii_alphanumeric()) && s.ends_with(|c: char| c.is_ascii_alphanumeric())
    };
    let name_ok = (1..=63).contains(&name.len())
        && edges(name)
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    let prefix_ok = prefix.is_none_or(|p| {
        (1..=253).contains(&p.len())
            && p.split('.').all(|part| {
                !part.is_empty()
                    && edges(part)
                    && part.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            })
    });
    name_ok && prefix_ok
}

/// A recovery window as CNPG's retention policy takes it: `30d`, `4w`, `6m`.
fn is_retention(text: &str) -> bool {
    let (number, unit) = text.split_at(text.len().saturating_sub(1));
    matches!(unit, "d" | "w" | "m")
        && !number.is_empty()
        && !number.starts_with('0')
        && number.bytes().all(|b| b.is_ascii_digit())
}

/// The schema's range of `app.worker.lockTtlMs`, which is payment-app's
/// own (`payrail_common::settings`), so a spec the API server admits is
/// never refused here nor by the app. Both fit an i32 (asserted in `crd`).
pub const MIN_LOCK_TTL_MS: i32 = settings::LOCK_TTL_MS.min as i32;
pub const MAX_LOCK_TTL_MS: i32 = settings::LOCK_TTL_MS.max as i32;

/// A lock granted just before a crash lives at most `lockTtlMs`; a node
/// that waits longer than that (plus a second for clock drift between the
/// app pods and the node) cannot hand out a lock another worker still holds.
pub fn redis_restart_delay_seconds(lock_ttl_ms: i32) -> i32 {
    (lock_ttl_ms + 999) / 1000 + 1
}

/// A quarter of the volume: a replica that has been away longer than that
/// much WAL is re-cloned rather than allowed to fill the primary's disk.
fn max_slot_wal_keep_mb(size: &str) -> u64 {
    let bytes = parse_quantity(size).unwrap_or(0.0);
    ((bytes / 4.0 / 1_048_576.0) as u64).max(64)
}

/// A Kubernetes quantity (`10Gi`, `1.5Gi`, `500M`, `1e9`), in its base
/// unit (bytes for storage): the grammar of `resource.Quantity`, which is
/// also what the schema's CEL `quantity()` parses.
pub fn parse_quantity(text: &str) -> Option<f64> {
    let (sign, rest) = match text.strip_prefix('-') {
        Some(rest) => (-1.0, rest),
        None => (1.0, text.strip_prefix('+').unwrap_or(text)),
    };
    let number_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
    let (number, suffix) = rest.split_at(number_end);
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty() && fraction.is_empty() || fraction.contains('.') {
        return None;
    }
    let value: f64 = format!("{}.{}", if whole.is_empty() { "0" } else { whole }, fraction).parse().ok()?;
    let multiplier = match suffix {
        "" => 1.0,
        "Ki" => 1024f64,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        "n" => 1e-9,
        "u" => 1e-6,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        exponent => {
            let digits = exponent.strip_prefix(['e', 'E'])?;
            let unsigned = digits.strip_prefix(['+', '-']).unwrap_or(digits);
            if unsigned.is_empty() || !unsigned.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            10f64.powi(digits.parse().ok()?)
        }
    };
    Some(sign * value * multiplier)
}

/// What the schema's size rule admits: a quantity greater than zero.
pub fn is_quantity(text: &str) -> bool {
    parse_quantity(text).is_some_and(|v| v > 0.0)
}

#[cfg(test)]
mod tests;

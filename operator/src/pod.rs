//! What runs inside the pods the operator creates: the PostgreSQL,
//! RabbitMQ and Redis scripts, server settings and probe commands. Kept
//! here, apart from the object builders, so a test can run exactly these
//! against this machine's own `postgres`, `rabbitmq-server` and
//! `redis-server` (`tests/it/pod_scripts.rs`, `postgres_pods.rs`,
//! `rabbitmq_pod.rs`).

/// Run once by the primary's entrypoint: the replication role and its
/// `pg_hba.conf` line.
pub const POSTGRES_PRIMARY_INIT: &str = include_str!("../pod/postgres-primary-init.sh");

/// The primary's init container, before the image could initialise an
/// empty volume: refuses while the read replica answers, since then the
/// cluster has data and the volume was lost, not new.
pub const POSTGRES_PRIMARY_GUARD: &str = include_str!("../pod/postgres-primary-guard.sh");

/// The replica's init container: `pg_basebackup` into an empty volume,
/// with a replication slot on the primary; a fresh copy again when the
/// replica's slot is gone or was given up (the replica can no longer
/// follow), but never over a copy of another database than the primary's.
pub const POSTGRES_REPLICA_BOOTSTRAP: &str = include_str!("../pod/postgres-replica-bootstrap.sh");

/// The RabbitMQ init container: the Erlang cookie from the Secret, put
/// where Erlang reads it with the owner-only mode it demands, at every
/// start (an fsGroup mount loosens it each time).
pub const RABBITMQ_ERLANG_COOKIE: &str = include_str!("../pod/rabbitmq-erlang-cookie.sh");

/// A RabbitMQ cluster node's preStop hook: wait until every quorum queue
/// keeps a majority without the node, then drain it; at once instead when
/// the file `DELETING_MARK` holds the operator's mark (the whole cluster
/// is being deleted), even if the mark arrives while it waits.
pub const RABBITMQ_PRE_STOP: &str = include_str!("../pod/rabbitmq-pre-stop.sh");

/// The annotation the operator puts on the RabbitMQ pods of a
/// `PaymentCluster` being deleted, before it lets the deletion proceed;
/// the pods see it through a downward API volume (`RABBITMQ_PRE_STOP`).
pub const RABBITMQ_DELETING_ANNOTATION: &str = "payrail.dev/cluster-deleting";

/// Starts a Redis lock node, after waiting out every lock it may have
/// forgotten: when it served before and `RESTART_DELAY_SECONDS` is set,
/// and on an empty volume (`EMPTY_VOLUME_DELAY_SECONDS`).
pub const REDIS_START: &str = include_str!("../pod/redis-start.sh");

/// The role the replica streams with.
pub const REPLICATION_USER: &str = "replicator";

/// The physical replication slot of the read replica on the primary.
pub const REPLICA_SLOT: &str = "payrail_replica";

/// Server settings that depend on the spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PostgresSettings {
    /// Primary and replica alike: a standby refuses to start with fewer
    /// than its primary.
    pub max_connections: i32,
    /// WAL a replication slot may hold back, in MB, before the primary
    /// gives the slot up (and the replica is cloned again).
    pub max_slot_wal_keep_mb: u64,
}

/// Server settings shared by primary and replica, as `postgres` arguments.
/// Streaming needs `wal_level=replica` and WAL senders on the primary; a
/// standby serves reads with `hot_standby`. WAL is kept for the replica by
/// its slot, bounded by `max_slot_wal_keep_size` so a replica that is gone
/// for long cannot fill the primary's disk.
pub fn postgres_args(settings: &PostgresSettings) -> Vec<String> {
    [
        "listen_addresses=*".to_owned(),
        format!("max_connections={}", settings.max_connections),
        "wal_level=replica".to_owned(),
        "max_wal_senders=10".to_owned(),
        "max_replication_slots=10".to_owned(),
        format!("max_slot_wal_keep_size={}MB", settings.max_slot_wal_keep_mb),
        "hot_standby=on".to_owned(),
        "password_encryption=scram-sha-256".to_owned(),
    ]
    .into_iter()
    .flat_map(|setting| ["-c".to_owned(), setting])
    .collect()
}

/// What a probe asks of a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    /// Accepts and serves connections: readiness, and the end of start-up.
    Serves,
    /// The server process answers at all, even "starting up" during crash
    /// recovery: liveness, which must never kill a recovering server.
    Alive,
    /// Serves, and its WAL receiver streams from the primary: a replica's
    /// readiness. A replica whose slot the primary gave up (or that cannot
    /// reach its primary) still accepts connections and answers with ever
    /// older data; not streaming, it leaves its Service instead.
    Streams,
}

/// The probe command of a PostgreSQL container. `pg_isready` exits 0 when
/// the server accepts connections, 1 when it answers but rejects them
/// (crash recovery, a standby without hot standby) and 2 when nothing
/// answers; only the last means the server is gone.
pub fn postgres_probe(probe: Probe) -> Vec<String> {
    let check = "pg_isready -q -h 127.0.0.1 -U \"$POSTGRES_USER\" -d \"$POSTGRES_DB\"";
    let script = match probe {
        Probe::Serves => check.to_owned(),
        Probe::Alive => format!("{check}; [ $? -le 1 ]"),
        // Over the Unix socket, where the image trusts local connections
        // (no password in a probe); `pg_stat_wal_receiver` has a row only
        // while a receiver runs, `streaming` once the primary sends WAL.
        Probe::Streams => format!(
            "{check} && [ \"$(psql -XAtq -U \"$POSTGRES_USER\" -d \"$POSTGRES_DB\" -c 'SELECT status FROM pg_stat_wal_receiver')\" = streaming ]"
        ),
    };
    vec!["sh".into(), "-c".into(), script]
}

/// The probe command of a Redis node; the password comes from the
/// container's `REDISCLI_AUTH`, never from the command line. A node loading
/// its append-only file answers `LOADING`: alive, but not serving yet.
pub fn redis_probe(probe: Probe) -> Vec<String> {
    let script = match probe {
        // A lock node follows no primary: serving is all there is.
        Probe::Serves | Probe::Streams => "redis-cli ping | grep -q PONG",
        Probe::Alive => "redis-cli ping | grep -Eq 'PONG|LOADING'",
    };
    vec!["sh".into(), "-c".into(), script.into()]
}

/// The configuration file of one Redis lock node: data on the volume (an
/// append-only file, so a restarted node still knows the locks it granted)
/// and no replication: Redlock wants nodes that fail on their own. The
/// password is in `auth_include`, a file from the credentials Secret, so it
/// is in neither this file (a ConfigMap) nor the command line. Kept in a
/// file rather than arguments so no `yes`/`no` value passes through YAML,
/// where older parsers read them as booleans.
pub fn redis_conf(data_dir: &str, port: u16, fsync_always: bool, auth_include: &str) -> String {
    let fsync = if fsync_always { "always" } else { "everysec" };
    format!(
        "# payrail lock node (generated by payment-operator)\n\
         port {port}\n\
         bind 0.0.0.0\n\
         dir {data_dir}\n\
         appendonly yes\n\
         appendfsync {fsync}\n\
         save \"\"\n\
         include {auth_include}\n"
    )
}

/// The line of the Redis password file that `redis_conf` includes.
pub fn redis_auth_conf(password: &str) -> String {
    format!("requirepass {password}\n")
}

/// The share of a RabbitMQ container's memory limit the broker may use
/// before it blocks publishers: the rest is the Erlang runtime's own
/// overhead and garbage collection, which a broker using all of its limit
/// would push into the kernel's OOM killer instead of flow control.
pub const RABBITMQ_MEMORY_SHARE: f64 = 0.6;

/// `vm_memory_high_watermark.absolute` for a container limit of
/// `limit_bytes`: the broker cannot see its cgroup limit reliably, and
/// would otherwise size itself from the node's memory.
pub fn rabbitmq_watermark(limit_bytes: f64) -> u64 {
    (limit_bytes * RABBITMQ_MEMORY_SHARE) as u64
}

/// The broker's own settings (`rabbitmq.conf` syntax), read after the
/// image's defaults. With `nodes` (every node's name), the nodes form one
/// cluster from that list (classic config peer discovery; RabbitMQ takes a
/// lock among them, so nodes starting together form one cluster, not two),
/// stop serving on the minority side of a partition (with three nodes a
/// lone node pauses rather than accept messages the other two never see),
/// and grow each quorum queue to a member on every node, including queues
/// declared before every node had joined.
pub fn rabbitmq_conf(nodes: &[String], watermark_bytes: Option<u64>) -> String {
    let mut conf = String::from("# payrail broker (generated by payment-operator)\n");
    if let Some(bytes) = watermark_bytes {
        conf.push_str(&format!("vm_memory_high_watermark.absolute = {bytes}\n"));
    }
    if !nodes.is_empty() {
        conf.push_str("cluster_formation.peer_discovery_backend = classic_config\n");
        for (i, node) in nodes.iter().enumerate() {
            conf.push_str(&format!("cluster_formation.classic_config.nodes.{} = {node}\n", i + 1));
        }
        conf.push_str("cluster_partition_handling = pause_minority\n");
        conf.push_str("quorum_queue.continuous_membership_reconciliation.enabled = true\n");
        conf.push_str(&format!(
            "quorum_queue.continuous_membership_reconciliation.target_group_size = {}\n",
            nodes.len()
        ));
    }
    conf
}

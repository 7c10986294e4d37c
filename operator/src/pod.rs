//! What runs inside the pods the operator creates: the PostgreSQL scripts
//! and the server arguments. Kept here, apart from the object builders, so
//! a test can run exactly these against this machine's own `postgres` and
//! `redis-server` (`tests/pod_scripts.rs`).

/// Run once by the primary's entrypoint: the replication role and its
/// `pg_hba.conf` line.
pub const POSTGRES_PRIMARY_INIT: &str = include_str!("../pod/postgres-primary-init.sh");

/// The replica's init container: `pg_basebackup` into an empty volume.
pub const POSTGRES_REPLICA_BOOTSTRAP: &str = include_str!("../pod/postgres-replica-bootstrap.sh");

/// The role the replica streams with.
pub const REPLICATION_USER: &str = "replicator";

/// Server settings shared by primary and replica, as `postgres` arguments.
/// Streaming needs `wal_level=replica` and WAL senders on the primary; a
/// standby serves reads with `hot_standby`.
pub fn postgres_args() -> Vec<String> {
    [
        "listen_addresses=*",
        "wal_level=replica",
        "max_wal_senders=10",
        "max_replication_slots=10",
        "wal_keep_size=512MB",
        "hot_standby=on",
        "password_encryption=scram-sha-256",
    ]
    .iter()
    .flat_map(|setting| ["-c".to_owned(), (*setting).to_owned()])
    .collect()
}

/// `redis-server` arguments for one lock node: data on the volume (an
/// append-only file, so a restarted node still knows the locks it granted),
/// a password, and no replication: Redlock wants independent nodes.
/// `password` is the literal the pod expands from its environment.
pub fn redis_args(data_dir: &str, port: u16, password: &str) -> Vec<String> {
    [
        "--port",
        &port.to_string(),
        "--bind",
        "0.0.0.0",
        "--protected-mode",
        "no",
        "--dir",
        data_dir,
        "--appendonly",
        "yes",
        "--appendfsync",
        "everysec",
        "--save",
        "",
        "--requirepass",
        password,
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect()
}

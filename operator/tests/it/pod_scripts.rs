//! The scripts, settings and probes the builders put into PostgreSQL and
//! Redis pods, run for real against this machine's own `postgres` and
//! `redis-server`: a primary initialised the way the image does it, the
//! primary's init script, the replica's `pg_basebackup` bootstrap with its
//! replication slot, streaming, a re-clone once the slot is given up, the
//! probes during recovery, and a Redis node started by its start script
//! with its password from a file. A typo in any of them fails here, not in
//! a cluster. Every server runs on a free port of its own and is stopped
//! when its test ends.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use payrail_common::testing::free_port;
use payrail_operator::pod::{self, PostgresSettings, Probe};

/// The pod's settings, with a small WAL allowance so a test can make a
/// replica fall behind for good with a few segments.
const SETTINGS: PostgresSettings = PostgresSettings { max_connections: 50, max_slot_wal_keep_mb: 32 };

/// The binaries of the PostgreSQL this machine runs, found the one way the
/// scripts find them (`pg_bin` in scripts/lib.sh).
fn pg_bin() -> PathBuf {
    let lib = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/lib.sh");
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!("source {} && pg_bin", lib.display()))
        .output()
        .expect("bash runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    PathBuf::from(String::from_utf8(out.stdout).expect("utf8").trim())
}

/// Runs a command as the `postgres` user (PostgreSQL refuses root), with
/// the server binaries first on PATH, as in the image.
pub(crate) fn as_postgres(program: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    let path = format!("{}:/usr/bin:/bin", pg_bin().display());
    let mut cmd = Command::new("runuser");
    cmd.args(["-u", "postgres", "--", "env", &format!("PATH={path}")]);
    for (k, v) in env {
        cmd.arg(format!("{k}={v}"));
    }
    cmd.arg(program).args(args);
    cmd.output().unwrap()
}

pub(crate) fn ok(out: Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A scratch directory the postgres user owns, removed with its servers.
pub(crate) struct Scratch {
    pub(crate) dir: PathBuf,
    servers: Vec<PathBuf>,
}

impl Scratch {
    pub(crate) fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("payrail-pod-{}-{}", std::process::id(), free_port()));
        std::fs::create_dir_all(&dir).unwrap();
        ok(
            Command::new("chown").args(["postgres:postgres", dir.to_str().unwrap()]).output().unwrap(),
            "chown",
        );
        Scratch { dir, servers: Vec::new() }
    }

    pub(crate) fn path(&self, name: &str) -> String {
        self.dir.join(name).to_str().unwrap().to_owned()
    }

    /// Starts a server on `data` with exactly the pod's arguments, plus a
    /// port and a socket directory of the test's own.
    fn start(&mut self, data: &str, port: u16) {
        self.start_with(data, port, &[]);
    }

    fn start_with(&mut self, data: &str, port: u16, extra: &[&str]) {
        let mut args: Vec<String> = pod::postgres_args(&SETTINGS);
        args.extend(extra.iter().flat_map(|e| ["-c".to_owned(), (*e).to_owned()]));
        self.start_args(data, port, &args);
    }

    /// Starts a server on `data` with `args` (a pod's `postgres`
    /// arguments), plus a port and a socket directory of the test's own.
    pub(crate) fn start_args(&mut self, data: &str, port: u16, args: &[String]) {
        let mut options = args.to_vec();
        options.extend([
            "-c".into(),
            format!("port={port}"),
            "-c".into(),
            format!("unix_socket_directories={}", self.dir.display()),
        ]);
        let options = options
            .iter()
            .map(|o| if o.contains('*') { format!("'{o}'") } else { o.clone() })
            .collect::<Vec<_>>()
            .join(" ");
        let log = format!("{data}.log");
        ok(
            as_postgres("pg_ctl", &["-D", data, "-l", &log, "-o", &options, "-w", "-t", "60", "start"], &[]),
            "pg_ctl start",
        );
        if !self.servers.contains(&PathBuf::from(data)) {
            self.servers.push(PathBuf::from(data));
        }
    }

    pub(crate) fn stop(&self, data: &str) {
        ok(as_postgres("pg_ctl", &["-D", data, "-m", "fast", "-w", "stop"], &[]), "pg_ctl stop");
    }

    fn sql(&self, port: u16, user: &str, sql: &str) -> String {
        ok(self.psql(port, user, "postgres", sql), sql).trim().to_owned()
    }

    /// `sql` run by psql against the server on `port` (its socket is in
    /// this directory), unchecked: waits poll with it.
    pub(crate) fn psql(&self, port: u16, user: &str, database: &str, sql: &str) -> Output {
        let port = port.to_string();
        as_postgres(
            "psql",
            &["-h", self.dir.to_str().unwrap(), "-p", &port, "-U", user, "-d", database, "-XAtc", sql],
            &[],
        )
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        for data in &self.servers {
            let _ = as_postgres("pg_ctl", &["-D", data.to_str().unwrap(), "-m", "immediate", "stop"], &[]);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn write_script(scratch: &Scratch, name: &str, text: &str) -> String {
    let path = scratch.path(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// A primary initialised as the postgres image does it (the app's
/// superuser, password auth over TCP) and set up by the pod's init script,
/// with the replica's bootstrap environment beside it.
struct Pair {
    scratch: Scratch,
    replica: String,
    primary_port: u16,
    replica_port: u16,
    bootstrap: String,
    bootstrap_env: Vec<(String, String)>,
}

const REPLICATION_PASSWORD: &str = "s3cret-replication";

impl Pair {
    fn new() -> Self {
        let mut scratch = Scratch::new();
        let (primary, replica) = (scratch.path("primary"), scratch.path("replica"));
        let (primary_port, replica_port) = (free_port(), free_port());
        let pwfile = write_script(&scratch, "pw", "app-password\n");
        ok(
            as_postgres(
                "initdb",
                &[
                    "-D",
                    &primary,
                    "-U",
                    "payrail",
                    "--auth-local=trust",
                    "--auth-host=scram-sha-256",
                    &format!("--pwfile={pwfile}"),
                ],
                &[],
            ),
            "initdb",
        );
        scratch.start(&primary, primary_port);
        // The init script, as the entrypoint runs it (twice: a restart of
        // the entrypoint must not trip over its own role).
        let init = write_script(&scratch, "init.sh", pod::POSTGRES_PRIMARY_INIT);
        let port = primary_port.to_string();
        let env = [
            ("PGDATA", primary.as_str()),
            ("POSTGRES_USER", "payrail"),
            ("REPLICATION_USER", pod::REPLICATION_USER),
            ("REPLICATION_PASSWORD", REPLICATION_PASSWORD),
            ("PGHOST", scratch.dir.to_str().unwrap()),
            ("PGPORT", port.as_str()),
        ];
        ok(as_postgres("bash", &[&init], &env), "primary init");
        ok(as_postgres("bash", &[&init], &env), "primary init again");
        let bootstrap = write_script(&scratch, "bootstrap.sh", pod::POSTGRES_REPLICA_BOOTSTRAP);
        let bootstrap_env = [
            ("PGDATA", replica.as_str()),
            ("PRIMARY_HOST", "127.0.0.1"),
            ("PRIMARY_PORT", port.as_str()),
            ("REPLICATION_USER", pod::REPLICATION_USER),
            ("REPLICATION_PASSWORD", REPLICATION_PASSWORD),
            ("REPLICA_SLOT", pod::REPLICA_SLOT),
            ("WAIT_SECONDS", "20"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        Pair { scratch, replica, primary_port, replica_port, bootstrap, bootstrap_env }
    }

    /// Runs the replica's init container; returns what it printed.
    fn bootstrap(&self) -> String {
        let env: Vec<(&str, &str)> =
            self.bootstrap_env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        ok(as_postgres("bash", &[&self.bootstrap], &env), "replica bootstrap")
    }

    fn primary_sql(&self, sql: &str) -> String {
        self.scratch.sql(self.primary_port, "payrail", sql)
    }

    /// Waits until the replica shows `n` in table `streamed`.
    fn wait_for_row(&self, n: i32) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let sql = format!("SELECT count(*) FROM streamed WHERE n = {n}");
        loop {
            let out = self.scratch.psql(self.replica_port, "payrail", "postgres", &sql);
            if out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "1" {
                return;
            }
            assert!(Instant::now() < deadline, "row {n} never reached the replica");
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// A bootstrapped pair with the replica running and streaming: the
    /// table `streamed` with its first row has reached it.
    fn streaming() -> Self {
        let mut pair = Pair::new();
        pair.bootstrap();
        pair.scratch.start(&pair.replica, pair.replica_port);
        pair.primary_sql("CREATE TABLE streamed (n int); INSERT INTO streamed VALUES (1)");
        pair.wait_for_row(1);
        pair
    }

    /// With the replica stopped, writes rows 2 to 7 and more WAL than
    /// max_slot_wal_keep_size (32 MB), so the primary gives the replica's
    /// slot up rather than fill its disk.
    fn lose_the_slot(&self) {
        self.scratch.stop(&self.replica);
        for n in 2..8 {
            self.primary_sql(&format!("INSERT INTO streamed VALUES ({n}); SELECT pg_switch_wal()"));
        }
        self.primary_sql("CHECKPOINT");
        assert_eq!(
            self.primary_sql(&format!(
                "SELECT wal_status FROM pg_replication_slots WHERE slot_name = '{}'",
                pod::REPLICA_SLOT
            )),
            "lost",
            "the primary gave the slot up rather than fill its disk"
        );
    }
}

#[test]
fn the_replica_bootstraps_from_the_primary_and_streams_through_its_slot() {
    let mut pair = Pair::new();
    assert_eq!(pair.primary_sql("SELECT rolreplication FROM pg_roles WHERE rolname = 'replicator'"), "t");

    let out = pair.bootstrap();
    assert!(out.contains("replica copied"), "{out}");
    assert!(Path::new(&pair.replica).join("standby.signal").exists(), "pg_basebackup -R made it a standby");
    let (replica, replica_port) = (pair.replica.clone(), pair.replica_port);
    pair.scratch.start(&replica, replica_port);
    assert_eq!(pair.scratch.sql(replica_port, "payrail", "SELECT pg_is_in_recovery()"), "t");
    pair.primary_sql("CREATE TABLE streamed (n int); INSERT INTO streamed VALUES (42)");
    pair.wait_for_row(42);
    assert_eq!(pair.primary_sql("SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'"), "1");
    // Bug 4: it streams through its own physical slot, so the primary keeps
    // the WAL it has not received yet.
    assert_eq!(
        pair.primary_sql(&format!(
            "SELECT slot_type || ' ' || active FROM pg_replication_slots WHERE slot_name = '{}'",
            pod::REPLICA_SLOT
        )),
        "physical true"
    );

    // A restarted replica pod runs the bootstrap again: with its slot kept,
    // it must leave the copy alone and catch up.
    pair.scratch.stop(&replica);
    pair.primary_sql("INSERT INTO streamed VALUES (43); SELECT pg_switch_wal()");
    let out = pair.bootstrap();
    assert!(out.contains("already holds a replica"), "{out}");
    pair.scratch.start(&replica, replica_port);
    pair.wait_for_row(43);
}

// Bug 4: a replica away for longer than the primary keeps WAL for it is
// cloned again, instead of crash-looping until someone deletes its volume.
#[test]
fn a_replica_that_can_no_longer_follow_is_cloned_again() {
    let mut pair = Pair::streaming();
    let (replica, replica_port) = (pair.replica.clone(), pair.replica_port);
    pair.lose_the_slot();

    let out = pair.bootstrap();
    assert!(out.contains("re-cloning") && out.contains("replica copied"), "{out}");
    pair.scratch.start(&replica, replica_port);
    pair.wait_for_row(7);
    assert_eq!(
        pair.primary_sql(&format!(
            "SELECT active FROM pg_replication_slots WHERE slot_name = '{}'",
            pod::REPLICA_SLOT
        )),
        "t"
    );
}

// Issue 25, item 6: the operator restarts a replica that does not stream,
// and its bootstrap copies the whole database again; a replica that keeps
// losing its slot (too little WAL kept for the write load) must not turn
// that into a copy loop: the next re-clone waits, longer each time.
#[test]
fn a_replica_that_keeps_losing_its_slot_is_copied_again_at_a_growing_pace() {
    let mut pair = Pair::streaming();
    let (replica, replica_port) = (pair.replica.clone(), pair.replica_port);
    pair.lose_the_slot();
    let copying = Instant::now();
    let first = pair.bootstrap();
    assert!(first.contains("re-cloning") && !first.contains("waiting"), "{first}");
    pair.scratch.start(&replica, replica_port);
    pair.wait_for_row(7);

    pair.lose_the_slot();
    // A pace of a few seconds more than this test took since the copy
    // began (in a cluster, five minutes).
    let pace = copying.elapsed().as_secs() + 3;
    pair.bootstrap_env.push(("RECLONE_BACKOFF_SECONDS".into(), pace.to_string()));
    let second = pair.bootstrap();
    assert!(second.contains("re-clone 2 in a row") && second.contains("waiting"), "{second}");
    assert!(second.contains("replica copied"), "{second}");
    let noted = std::fs::read_to_string(pair.scratch.path("payrail-reclones")).unwrap();
    assert_eq!(noted.split_whitespace().nth(1), Some("2"), "{noted}");
}

// Bug 5: during recovery PostgreSQL answers but rejects connections: not
// ready, but alive, so liveness must not restart it.
#[test]
fn the_liveness_probe_spares_a_server_that_is_recovering() {
    let mut pair = Pair::new();
    pair.bootstrap();
    let (replica, replica_port) = (pair.replica.clone(), pair.replica_port);
    // A standby without hot standby answers exactly as a server in crash
    // recovery does: "the database system is starting up".
    pair.scratch.start_with(&replica, replica_port, &["hot_standby=off"]);
    let probe = |port: u16, which: Probe| probe(&pair.scratch, port, which);
    assert!(probe(replica_port, Probe::Alive), "alive while recovering");
    assert!(!probe(replica_port, Probe::Serves), "not ready while recovering");
    assert!(probe(pair.primary_port, Probe::Serves) && probe(pair.primary_port, Probe::Alive));
    pair.scratch.stop(&replica);
    assert!(!probe(replica_port, Probe::Alive), "a server that is gone is not alive");
}

/// Runs a probe command of the PostgreSQL container against the server on
/// `port`, as the kubelet would in the pod (its socket directory is the
/// scratch directory here; in the pod, the image's default).
fn probe(scratch: &Scratch, port: u16, which: Probe) -> bool {
    let command = pod::postgres_probe(which);
    let port = port.to_string();
    let env = [
        ("PGPORT", port.as_str()),
        ("PGHOST", scratch.dir.to_str().unwrap()),
        ("POSTGRES_USER", "payrail"),
        ("POSTGRES_DB", "postgres"),
    ];
    let args: Vec<&str> = command[1..].iter().map(String::as_str).collect();
    as_postgres(&command[0], &args, &env).status.success()
}

// Issue 25 item 6: a replica whose slot the primary gave up, started again
// (a container restart runs no init container), accepts connections and
// answers with the data it had, for good: `pg_isready` says it serves. The
// replica's readiness asks whether it streams.
#[test]
fn a_replica_whose_slot_was_given_up_is_not_ready() {
    let mut pair = Pair::streaming();
    let (replica, replica_port) = (pair.replica.clone(), pair.replica_port);
    let streams = |pair: &Pair| probe(&pair.scratch, pair.replica_port, Probe::Streams);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !streams(&pair) {
        assert!(Instant::now() < deadline, "a streaming replica is ready");
        std::thread::sleep(Duration::from_millis(200));
    }

    pair.lose_the_slot();
    pair.scratch.start(&replica, replica_port);

    // It serves, stale: the rows written while it was away never come.
    let count = || pair.scratch.sql(replica_port, "payrail", "SELECT count(*) FROM streamed");
    assert!(probe(&pair.scratch, replica_port, Probe::Serves), "pg_isready: serving");
    for _ in 0..20 {
        assert_eq!(count(), "1", "the replica caught up after all");
        assert!(!streams(&pair), "a replica that can no longer follow is not ready");
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn a_replica_bootstrap_gives_up_when_the_primary_never_comes() {
    let scratch = Scratch::new();
    let port = free_port().to_string();
    let out = as_postgres(
        "bash",
        &[&write_script(&scratch, "bootstrap.sh", pod::POSTGRES_REPLICA_BOOTSTRAP)],
        &[
            ("PGDATA", &scratch.path("replica")),
            ("PRIMARY_HOST", "127.0.0.1"),
            ("PRIMARY_PORT", &port),
            ("REPLICATION_USER", pod::REPLICATION_USER),
            ("REPLICATION_PASSWORD", "x"),
            ("REPLICA_SLOT", pod::REPLICA_SLOT),
            ("WAIT_SECONDS", "3"),
        ],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not ready in time"));
}

/// A Redis node started the way its pod starts it: the start script, the
/// node's configuration file, its password in an included file.
struct RedisNode {
    child: std::process::Child,
    port: u16,
    log: String,
}

impl RedisNode {
    fn start(data: &str, delay_seconds: u32, fsync_always: bool) -> RedisNode {
        Self::start_with(data, delay_seconds, fsync_always, &[])
    }

    /// With more of the container's variables.
    fn start_with(data: &str, delay_seconds: u32, fsync_always: bool, env: &[(&str, &str)]) -> RedisNode {
        std::fs::create_dir_all(data).unwrap();
        let port = free_port();
        let auth = format!("{data}/../auth.conf");
        std::fs::write(&auth, pod::redis_auth_conf("node-secret")).unwrap();
        let conf = format!("{data}/../redis.conf");
        std::fs::write(&conf, pod::redis_conf(data, port, fsync_always, &auth)).unwrap();
        let log = format!("{data}/../start.log");
        let child = Command::new("sh")
            .args(["-c", pod::REDIS_START])
            .env("REDIS_CONF", &conf)
            .env("DATA_DIR", data)
            .env("RESTART_DELAY_SECONDS", delay_seconds.to_string())
            .envs(env.iter().copied())
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        RedisNode { child, port, log }
    }

    fn cli(&self, args: &[&str]) -> String {
        let port = self.port.to_string();
        let out = Command::new("redis-cli")
            .args(["-p", &port])
            .args(args)
            .env("REDISCLI_AUTH", "node-secret")
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    fn wait_serving(&self, within: Duration) {
        let deadline = Instant::now() + within;
        while self.cli(&["ping"]) != "PONG" {
            assert!(Instant::now() < deadline, "redis did not serve within {within:?}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for RedisNode {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// Bug 7: the password comes from a file, never the command line.
#[test]
fn a_redis_node_takes_its_password_from_a_file_and_keeps_its_locks() {
    let scratch = Scratch::new();
    let data = scratch.path("redis/data");
    let node = RedisNode::start(&data, 0, false);
    node.wait_serving(Duration::from_secs(10));
    let port = node.port.to_string();
    let unauthenticated = Command::new("redis-cli").args(["-p", &port, "set", "k", "v"]).output().unwrap();
    assert!(String::from_utf8_lossy(&unauthenticated.stdout).contains("NOAUTH"), "the password is required");
    assert_eq!(node.cli(&["set", "k", "v"]), "OK");
    // What `ps` shows of the server: its command line, without the password.
    let cmdline = std::fs::read(format!("/proc/{}/cmdline", node.child.id())).unwrap();
    let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
    assert!(cmdline.contains("redis-server") && !cmdline.contains("node-secret"), "{cmdline}");
    assert_eq!(node.cli(&["config", "get", "appendonly"]).lines().last(), Some("yes"));
    assert_eq!(node.cli(&["config", "get", "appendfsync"]).lines().last(), Some("everysec"));
    // The lock survives a restart: the append-only file is on the volume.
    assert!(Path::new(&data).join("appendonlydir").exists());
}

// Bug 8: a node that served before waits out the longest lock before it
// serves again; one that fsyncs every write does not wait.
#[test]
fn a_restarted_redis_node_waits_out_every_lock_it_may_have_forgotten() {
    let scratch = Scratch::new();
    let data = scratch.path("redis/data");
    // An empty volume waits too (see below); not what this test is about.
    let first = RedisNode::start_with(&data, 3, false, &[("EMPTY_VOLUME_DELAY_SECONDS", "0")]);
    first.wait_serving(Duration::from_secs(2));
    assert_eq!(first.cli(&["set", "lock", "token", "PX", "3000"]), "OK");
    drop(first); // killed: a crash

    let restarted = RedisNode::start(&data, 3, false);
    std::thread::sleep(Duration::from_millis(1500));
    assert_ne!(restarted.cli(&["ping"]), "PONG", "serving before the delay is over");
    restarted.wait_serving(Duration::from_secs(10));
    assert!(std::fs::read_to_string(&restarted.log).unwrap().contains("waiting 3s"));
    drop(restarted);

    let always = RedisNode::start(&data, 0, true);
    always.wait_serving(Duration::from_secs(2));
    assert_eq!(always.cli(&["config", "get", "appendfsync"]).lines().last(), Some("always"));
}

// Issue 25, item 11: a node whose volume was lost (a deleted claim, a dead
// local disk) starts on an empty one, remembering none of the locks it
// granted; it only waited when Redis 7's `appendonlydir` was there. It
// cannot tell that from a new cluster's first start, so both wait, in both
// crash-safety modes (fsyncing every grant does not bring back a volume).
#[test]
fn a_redis_node_on_an_empty_volume_waits_out_every_lock_it_may_have_granted() {
    let scratch = Scratch::new();
    let fsync_always_waits: &[(&str, &str)] = &[("EMPTY_VOLUME_DELAY_SECONDS", "3")];
    for (name, delay, fsync_always, env) in
        [("delayed restart", 3, false, &[][..]), ("fsync always", 0, true, fsync_always_waits)]
    {
        let data = scratch.path(&format!("redis-{}/data", name.replace(' ', "-")));
        let node = RedisNode::start_with(&data, delay, fsync_always, env);
        std::thread::sleep(Duration::from_millis(1500));
        assert_ne!(node.cli(&["ping"]), "PONG", "{name}: serving before the delay is over");
        node.wait_serving(Duration::from_secs(10));
        assert!(std::fs::read_to_string(&node.log).unwrap().contains("empty volume"), "{name}");
    }
}

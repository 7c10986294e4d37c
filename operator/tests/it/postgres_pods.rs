//! The builtin PostgreSQL pods as the builders make them, started here
//! against this machine's `postgres`: their init containers in order, then
//! the image's entrypoint (initdb on an empty volume, then each script the
//! pod mounts in /docker-entrypoint-initdb.d), a failed container started
//! again as the kubelet would. A lost volume is applied by the test: the
//! server gone, the directory emptied, as a new claim comes up.
//!
//! What a user must never see: a primary that lost its volume starting as
//! an empty database while the replica holds the ledger, and a replica
//! replacing its copy of the ledger with a copy of another database.

use std::path::Path;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Container, Pod, PodSpec};
use payrail_common::testing::free_port;
use payrail_operator::pod::REPLICA_SLOT;
use payrail_operator::reconcile::build::Component;
use payrail_operator::reconcile::replica;

use crate::built_pods::Built;
use crate::pod_scripts::{Scratch, as_postgres, ok};

const PRIMARY: &str = "mini-postgres";
const REPLICA: &str = "mini-postgres-ro";
/// How often the emulated kubelet starts a failing container before the
/// test looks: a crash loop shows by the second try.
const TRIES: usize = 2;

/// One PostgreSQL pod's volume and address here.
#[derive(Clone)]
struct Node {
    /// The volume, as mounted at /var/lib/postgresql/data.
    volume: String,
    pgdata: String,
    port: u16,
    termination_log: String,
}

/// What a pod start did: every try of every container, with its output.
#[derive(Default)]
struct Started {
    log: String,
    /// Every container ran to the end and the server runs.
    running: bool,
    /// The server ran at the first try of each container.
    first_try: bool,
}

struct Cluster {
    built: Built,
    scratch: Scratch,
    primary: Node,
    replica: Node,
}

impl Cluster {
    fn new() -> Self {
        Cluster::of(serde_json::json!({}))
    }

    /// The cluster of `spec` (JSON), nothing started.
    fn of(spec: serde_json::Value) -> Self {
        let scratch = Scratch::new();
        let node = |statefulset: &'static str| {
            let volume = scratch.path(statefulset);
            ok(as_postgres("mkdir", &["-p", &volume], &[]), "mkdir");
            Node {
                pgdata: format!("{volume}/pgdata"),
                volume,
                port: free_port(),
                termination_log: scratch.path(&format!("{statefulset}.termination-log")),
            }
        };
        let (primary, replica) = (node(PRIMARY), node(REPLICA));
        Cluster { built: Built::from_spec(spec), scratch, primary, replica }
    }

    /// A first start of both pods, and a ledger row that reached the replica.
    fn with_ledger() -> Self {
        Cluster::with_ledger_of(serde_json::json!({}))
    }

    fn with_ledger_of(spec: serde_json::Value) -> Self {
        let mut cluster = Cluster::of(spec);
        let primary = cluster.start(PRIMARY);
        assert!(primary.running, "{}", primary.log);
        let replica = cluster.start(REPLICA);
        assert!(replica.running, "{}", replica.log);
        cluster.sql(PRIMARY, "CREATE TABLE ledger (n int); INSERT INTO ledger VALUES (42)");
        cluster.wait_for_ledger(REPLICA);
        cluster
    }

    fn node(&self, statefulset: &str) -> &Node {
        if statefulset == PRIMARY { &self.primary } else { &self.replica }
    }

    /// What differs here from a cluster: paths, addresses and a short wait.
    fn env(&self, node: &Node, container: &Container) -> Vec<(String, String)> {
        let (primary_port, replica_port) = (self.primary.port.to_string(), self.replica.port.to_string());
        let mut env = self.built.env(
            container,
            &[
                ("PGDATA", &node.pgdata),
                ("PRIMARY_HOST", "127.0.0.1"),
                ("PRIMARY_PORT", &primary_port),
                ("REPLICA_HOST", "127.0.0.1"),
                ("REPLICA_PORT", &replica_port),
            ],
        );
        // Where the kubelet reads a stopped container's reason.
        env.push(("TERMINATION_LOG".into(), node.termination_log.clone()));
        env.push(("WAIT_SECONDS".into(), "10".into()));
        env
    }

    /// Starts the pod of `statefulset` as its spec says, each container
    /// tried up to [`TRIES`] times as the kubelet restarts a failed one.
    fn start(&mut self, statefulset: &'static str) -> Started {
        let pod = self.built.pod(statefulset);
        let mut started = Started { first_try: true, ..Started::default() };
        for init in pod.init_containers.iter().flatten() {
            let ran =
                (1..=TRIES).any(|n| started.record(&init.name, n, self.run_init(statefulset, &pod, init)));
            if !ran {
                return started;
            }
        }
        let main = pod.containers.iter().find(|c| c.name == "postgres").expect("postgres").clone();
        started.running =
            (1..=TRIES).any(|n| started.record("postgres", n, self.entrypoint(statefulset, &pod, &main)));
        started
    }

    /// The kubelet restarting the server container of `statefulset` (a
    /// crash, an OOM kill): the container again, not its init containers.
    fn restart_container(&mut self, statefulset: &'static str) -> Result<String, String> {
        let pod = self.built.pod(statefulset);
        let main = pod.containers.iter().find(|c| c.name == "postgres").expect("postgres").clone();
        self.entrypoint(statefulset, &pod, &main)
    }

    /// The server container's readiness probe, run as the kubelet runs it
    /// (the socket directory and port are this test's).
    fn ready(&self, statefulset: &str) -> bool {
        let pod = self.built.pod(statefulset);
        let main = pod.containers.iter().find(|c| c.name == "postgres").expect("postgres");
        let probe =
            main.readiness_probe.as_ref().and_then(|p| p.exec.as_ref()).and_then(|e| e.command.clone());
        let command = probe.expect("an exec readiness probe");
        let node = self.node(statefulset);
        let mut env = self.env(node, main);
        env.push(("PGHOST".into(), self.scratch.dir.to_str().unwrap().into()));
        env.push(("PGPORT".into(), node.port.to_string()));
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let args: Vec<&str> = command[1..].iter().map(String::as_str).collect();
        as_postgres(&command[0], &args, &env).status.success()
    }

    fn run_init(&self, statefulset: &str, pod: &PodSpec, init: &Container) -> Result<String, String> {
        let node = self.node(statefulset);
        let (interpreter, text) = self.built.script(pod, init);
        let file = self.scratch.path(&format!("{statefulset}-{}.sh", init.name));
        std::fs::write(&file, text).unwrap();
        let env = self.env(node, init);
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        outcome(as_postgres(&interpreter, &[&file], &env))
    }

    /// The postgres image's entrypoint: on a volume without a database,
    /// initdb with the superuser's password, password authentication over
    /// TCP, the app's database, then every script mounted in
    /// /docker-entrypoint-initdb.d, a failing one failing the container;
    /// then the server with the container's arguments.
    fn entrypoint(&mut self, statefulset: &str, pod: &PodSpec, main: &Container) -> Result<String, String> {
        let node = self.node(statefulset).clone();
        let args = main.args.clone().unwrap_or_default();
        let env = self.env(&node, main);
        let var = |name: &str| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).unwrap();
        let mut out = String::new();
        if Path::new(&node.pgdata).join("PG_VERSION").exists() {
            self.scratch.start_args(&node.pgdata, node.port, &args);
            return Ok("database found; server started".into());
        }
        let pwfile = self.scratch.path(&format!("{statefulset}.pw"));
        std::fs::write(&pwfile, format!("{}\n", var("POSTGRES_PASSWORD"))).unwrap();
        let user = var("POSTGRES_USER");
        let initdb = as_postgres(
            "initdb",
            &[
                "-D",
                &node.pgdata,
                "-U",
                &user,
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                &format!("--pwfile={pwfile}"),
            ],
            &[],
        );
        out.push_str(&outcome(initdb)?);
        let hba = format!("{}/pg_hba.conf", node.pgdata);
        let mut text = std::fs::read_to_string(&hba).unwrap();
        text.push_str("host all all all scram-sha-256\n");
        std::fs::write(&hba, text).unwrap();
        self.scratch.start_args(&node.pgdata, node.port, &args);
        self.sql_in(statefulset, "postgres", &format!("CREATE DATABASE {}", var("POSTGRES_DB")));
        let port = node.port.to_string();
        let mut script_env = env.clone();
        script_env.push(("PGHOST".into(), self.scratch.dir.to_str().unwrap().into()));
        script_env.push(("PGPORT".into(), port));
        let script_env: Vec<(&str, &str)> =
            script_env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        for (name, text) in self.built.dir(pod, main, "/docker-entrypoint-initdb.d") {
            let file = self.scratch.path(&format!("{statefulset}-initdb-{name}"));
            std::fs::write(&file, text).unwrap();
            match outcome(as_postgres("bash", &[&file], &script_env)) {
                Ok(o) => out.push_str(&format!("{name}: {o}")),
                Err(e) => {
                    // The entrypoint exits: the server it started goes with it.
                    self.scratch.stop(&node.pgdata);
                    return Err(format!("{out}{name}: {e}"));
                }
            }
        }
        Ok(out)
    }

    /// What a lost volume looks like to the next pod: the server gone, the
    /// directory a new, empty claim.
    fn lose_volume(&self, statefulset: &str) {
        let node = self.node(statefulset);
        let _ = as_postgres("pg_ctl", &["-D", &node.pgdata, "-m", "immediate", "stop"], &[]);
        std::fs::remove_dir_all(&node.volume).unwrap();
        ok(as_postgres("mkdir", &["-p", &node.volume], &[]), "mkdir");
    }

    fn sql(&self, statefulset: &str, sql: &str) -> String {
        self.sql_in(statefulset, "payrail", sql)
    }

    fn sql_in(&self, statefulset: &str, database: &str, sql: &str) -> String {
        let out = self.scratch.psql(self.node(statefulset).port, "payrail", database, sql);
        ok(out, sql).trim().to_owned()
    }

    fn wait_for_ledger(&self, statefulset: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let out =
                self.scratch.psql(self.node(statefulset).port, "payrail", "payrail", "SELECT n FROM ledger");
            if out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "42" {
                return;
            }
            assert!(Instant::now() < deadline, "the ledger never reached {statefulset}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The identifier initdb gave the database on `statefulset`'s volume.
    fn system_id(&self, statefulset: &str) -> String {
        let out = ok(
            as_postgres("pg_controldata", &[&self.node(statefulset).pgdata], &[("LC_ALL", "C")]),
            "pg_controldata",
        );
        out.lines()
            .find_map(|l| l.strip_prefix("Database system identifier:"))
            .expect("an identifier")
            .trim()
            .to_owned()
    }

    fn termination_log(&self, statefulset: &str) -> String {
        std::fs::read_to_string(&self.node(statefulset).termination_log).unwrap_or_default()
    }
}

impl Started {
    /// Notes one try of container `name`; true when it succeeded.
    fn record(&mut self, name: &str, attempt: usize, result: Result<String, String>) -> bool {
        let (mark, out, ran) = match result {
            Ok(out) => ("", out, true),
            Err(out) => (", failed", out, false),
        };
        self.log.push_str(&format!("[{name}, try {attempt}{mark}]\n{out}\n"));
        self.first_try &= ran;
        ran
    }
}

fn outcome(out: std::process::Output) -> Result<String, String> {
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    if out.status.success() { Ok(text) } else { Err(text) }
}

// Issue 25, item 8: the whole scripts ConfigMap was mounted as
// /docker-entrypoint-initdb.d, so the replica's bootstrap ran on the
// primary's first start and failed it (`PRIMARY_HOST`): a crash before the
// cluster ever served.
#[test]
fn a_new_cluster_starts_at_the_first_try_and_the_replica_follows() {
    let mut cluster = Cluster::new();
    let primary = cluster.start(PRIMARY);
    assert!(primary.running && primary.first_try, "the primary's first start:\n{}", primary.log);
    assert_eq!(cluster.sql(PRIMARY, "SELECT rolreplication FROM pg_roles WHERE rolname = 'replicator'"), "t");
    let replica = cluster.start(REPLICA);
    assert!(replica.running && replica.first_try, "the replica's first start:\n{}", replica.log);
    cluster.sql(PRIMARY, "CREATE TABLE ledger (n int); INSERT INTO ledger VALUES (42)");
    cluster.wait_for_ledger(REPLICA);
    assert_eq!(cluster.system_id(REPLICA), cluster.system_id(PRIMARY));
}

// Issue 25, item 1: the primary's volume is lost (a PVC deleted, a local
// volume gone with its node) while the replica still serves the ledger.
// The image would initdb the new, empty volume and the app would write to
// an empty database; the primary must refuse instead, and say why.
#[test]
fn a_primary_that_lost_its_volume_does_not_start_empty_while_the_replica_holds_the_ledger() {
    let mut cluster = Cluster::with_ledger();
    let ledger = cluster.system_id(REPLICA);
    cluster.lose_volume(PRIMARY);

    let primary = cluster.start(PRIMARY);
    assert!(
        !Path::new(&cluster.primary.pgdata).join("PG_VERSION").exists(),
        "an empty database was initialised in the ledger's place:\n{}",
        primary.log
    );
    assert!(!primary.running, "{}", primary.log);
    assert!(
        primary.log.contains("refusing to initialise") && primary.log.contains(&ledger),
        "{}",
        primary.log
    );
    let reason = cluster.termination_log(PRIMARY);
    assert!(reason.contains("refusing to initialise") && reason.contains("docs/operator.md"), "{reason}");
    // The replica was left alone and still serves the ledger.
    assert_eq!(cluster.sql(REPLICA, "SELECT n FROM ledger"), "42");
}

// Issue 25, item 1: the same loss while the replica is down too (both pods
// on a node that went away): nothing can tell the primary there was data,
// and it starts empty. The replica then finds a primary that is another
// database, with no slot for it. It used to re-clone: delete its copy, the
// last one of the ledger, and copy the empty database. It must keep its
// copy and stop, saying why.
#[test]
fn a_replica_never_replaces_its_copy_with_another_database() {
    let mut cluster = Cluster::with_ledger();
    let ledger = cluster.system_id(REPLICA);
    cluster.scratch.stop(&cluster.replica.pgdata);
    cluster.lose_volume(PRIMARY);
    let primary = cluster.start(PRIMARY);
    assert!(primary.running, "{}", primary.log);
    assert_ne!(cluster.system_id(PRIMARY), ledger, "the primary is a new database");

    let replica = cluster.start(REPLICA);
    assert_eq!(cluster.system_id(REPLICA), ledger, "the replica's copy was replaced:\n{}", replica.log);
    assert!(!replica.running, "{}", replica.log);
    assert!(replica.log.contains("different database"), "{}", replica.log);
    let reason = cluster.termination_log(REPLICA);
    assert!(reason.contains("different database") && reason.contains("docs/operator.md"), "{reason}");
    // Everything is still there: started by hand, it serves the ledger.
    let (pgdata, port) = (cluster.replica.pgdata.clone(), cluster.replica.port);
    let args = cluster.built.pod(REPLICA).containers[0].args.clone().unwrap_or_default();
    cluster.scratch.start_args(&pgdata, port, &args);
    assert_eq!(cluster.sql(REPLICA, "SELECT n FROM ledger"), "42");
}

// The recovery docs/operator.md gives for the refusal above: the replica's
// database copied onto the primary's volume with `pg_basebackup`; then the
// primary starts with the ledger and the replica, finding the same
// database without its slot, copies it again and streams.
#[test]
fn a_primary_gets_the_ledger_back_from_the_replica_as_the_docs_say() {
    let mut cluster = Cluster::with_ledger();
    let ledger = cluster.system_id(REPLICA);
    cluster.lose_volume(PRIMARY);
    assert!(!cluster.start(PRIMARY).running);

    // The docs' commands: `pg_basebackup` to stdout in the replica's
    // server container (its environment), `tar` into the primary's volume
    // in a pod that mounts it, then `standby.signal` removed: a copy of a
    // standby is a standby until told otherwise.
    let server = cluster.built.pod(REPLICA).containers[0].clone();
    let mut env = cluster.env(&cluster.replica, &server);
    env.push(("PGPORT".into(), cluster.replica.port.to_string()));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let pgdata = cluster.primary.pgdata.clone();
    let copy = format!(
        "set -o pipefail; mkdir -m 700 {pgdata} &&
         PGPASSWORD=$REPLICATION_PASSWORD pg_basebackup -h 127.0.0.1 -U $REPLICATION_USER -D - -Ft -X fetch |
         tar -xf - -C {pgdata} && rm {pgdata}/standby.signal"
    );
    ok(as_postgres("bash", &["-c", &copy], &env), "the copy from the replica");

    let primary = cluster.start(PRIMARY);
    assert!(primary.running && primary.first_try, "{}", primary.log);
    assert_eq!(cluster.system_id(PRIMARY), ledger);
    assert_eq!(cluster.sql(PRIMARY, "SELECT pg_is_in_recovery()"), "f", "a primary, not a standby");
    assert_eq!(cluster.sql(PRIMARY, "SELECT n FROM ledger"), "42");

    cluster.scratch.stop(&cluster.replica.pgdata);
    let replica = cluster.start(REPLICA);
    assert!(replica.running, "{}", replica.log);
    assert!(replica.log.contains("re-cloning"), "{}", replica.log);
    cluster.sql(PRIMARY, "DELETE FROM ledger; INSERT INTO ledger VALUES (42)");
    cluster.wait_for_ledger(REPLICA);
}

/// A PostgreSQL pod of `statefulset` as the kubelet reports it: its server
/// started, `ready` (what its readiness probe said) since `seconds` ago.
fn reported(statefulset: &str, component: &str, ready: bool, seconds: i64) -> Pod {
    let since = k8s_openapi::jiff::Timestamp::now().as_second() - seconds;
    let since = k8s_openapi::jiff::Timestamp::from_second(since).unwrap().to_string();
    serde_json::from_value(serde_json::json!({
        "metadata": {"name": format!("{statefulset}-0"), "uid": format!("{statefulset}-uid"),
                     "labels": {"app.kubernetes.io/component": component}},
        "status": {
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" },
                            "lastTransitionTime": since}],
            "containerStatuses": [{"name": "postgres", "image": "postgres", "imageID": "", "ready": ready,
                                   "restartCount": 1, "started": true, "state": {"running": {}}}],
        },
    }))
    .unwrap()
}

// Issue 25, item 6: the replica is away (its node rebooting) while the
// primary writes more WAL than it keeps for it, and the primary gives its
// slot up. Back, with its container restarted (no init container runs),
// it served the ledger as it was, out of its Service, for good: someone
// had to notice and delete the pod. Now the operator does, from what the
// kubelet reports (not streaming for five minutes while the primary
// serves), and the new pod's bootstrap copies the primary again: streaming,
// with every row written meanwhile, and nobody did anything.
#[test]
fn a_replica_whose_slot_was_given_up_streams_again_without_a_human() {
    // The smallest volume: a primary keeps 64 MB of WAL for its replica.
    let mut cluster =
        Cluster::with_ledger_of(serde_json::json!({"postgres": {"storage": {"size": "256Mi"}}}));
    let ledger = cluster.system_id(PRIMARY);
    cluster.scratch.stop(&cluster.replica.pgdata);
    for n in 1..=8 {
        cluster.sql(PRIMARY, &format!("INSERT INTO ledger VALUES ({n}); SELECT pg_switch_wal()"));
    }
    cluster.sql(PRIMARY, "CHECKPOINT");
    assert_eq!(
        cluster.sql(
            PRIMARY,
            &format!("SELECT wal_status FROM pg_replication_slots WHERE slot_name = '{REPLICA_SLOT}'")
        ),
        "lost"
    );
    cluster.restart_container(REPLICA).expect("the replica's server starts");
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        assert!(!cluster.ready(REPLICA), "a replica that cannot follow is ready");
        std::thread::sleep(Duration::from_millis(500));
    }
    assert_eq!(cluster.sql(REPLICA, "SELECT count(*) FROM ledger"), "1", "stale: only the first row");

    // What the operator reads: the primary ready for long, the replica's
    // probe failing since its start, five minutes ago.
    let pods = [
        reported(PRIMARY, Component::PostgresPrimary.label(), cluster.ready(PRIMARY), 3_600),
        reported(REPLICA, Component::PostgresReplica.label(), cluster.ready(REPLICA), replica::RESTART_AFTER),
    ];
    let verdict = replica::not_streaming(&pods, k8s_openapi::jiff::Timestamp::now()).expect("not streaming");
    assert!(verdict.restart_due() && verdict.pod == "mini-postgres-ro-0", "{verdict:?}");

    // Deleted, its StatefulSet starts it anew: init container first.
    cluster.scratch.stop(&cluster.replica.pgdata);
    let replica = cluster.start(REPLICA);
    assert!(replica.running, "{}", replica.log);
    assert!(replica.log.contains("re-cloning"), "{}", replica.log);
    assert_eq!(cluster.system_id(REPLICA), ledger);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !cluster.ready(REPLICA) {
        assert!(Instant::now() < deadline, "the replica never streamed again:\n{}", replica.log);
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(cluster.sql(REPLICA, "SELECT count(*) FROM ledger"), "9", "every row written meanwhile");
    assert!(
        replica::not_streaming(
            &[
                reported(PRIMARY, Component::PostgresPrimary.label(), true, 3_600),
                reported(REPLICA, Component::PostgresReplica.label(), cluster.ready(REPLICA), 1),
            ],
            k8s_openapi::jiff::Timestamp::now()
        )
        .is_none()
    );
}

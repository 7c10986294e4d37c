//! The scripts and arguments the builders put into PostgreSQL and Redis
//! pods, run for real against this machine's own `postgres` and
//! `redis-server`: a primary initialised the way the image does it, the
//! primary's init script, the replica's `pg_basebackup` bootstrap, streaming
//! to the replica, and a Redis node with the node arguments. A typo in any of
//! them fails here, not in a cluster.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use payrail_operator::pod;

fn pg_bin() -> PathBuf {
    let mut versions: Vec<_> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL is installed")
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    versions.sort_by_key(|v| v.parse::<u32>().unwrap_or(0));
    Path::new("/usr/lib/postgresql").join(versions.last().expect("a version")).join("bin")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Runs a command as the `postgres` user (PostgreSQL refuses root), with
/// the server binaries first on PATH, as in the image.
fn as_postgres(program: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    let path = format!("{}:/usr/bin:/bin", pg_bin().display());
    let mut cmd = Command::new("runuser");
    cmd.args(["-u", "postgres", "--", "env", &format!("PATH={path}")]);
    for (k, v) in env {
        cmd.arg(format!("{k}={v}"));
    }
    cmd.arg(program).args(args);
    cmd.output().unwrap()
}

fn ok(out: Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A scratch directory the postgres user owns, removed with its servers.
struct Scratch {
    dir: PathBuf,
    servers: Vec<PathBuf>,
}

impl Scratch {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("payrail-pod-{}-{}", std::process::id(), free_port()));
        std::fs::create_dir_all(&dir).unwrap();
        ok(
            Command::new("chown").args(["postgres:postgres", dir.to_str().unwrap()]).output().unwrap(),
            "chown",
        );
        Scratch { dir, servers: Vec::new() }
    }

    fn path(&self, name: &str) -> String {
        self.dir.join(name).to_str().unwrap().to_owned()
    }

    /// Starts a server on `data` with exactly the pod's arguments, plus a
    /// port and a socket directory of the test's own.
    fn start(&mut self, data: &str, port: u16) {
        let mut options: Vec<String> = pod::postgres_args();
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
        self.servers.push(PathBuf::from(data));
    }

    fn sql(&self, port: u16, user: &str, sql: &str) -> String {
        let port = port.to_string();
        let out = as_postgres(
            "psql",
            &["-h", self.dir.to_str().unwrap(), "-p", &port, "-U", user, "-d", "postgres", "-Atc", sql],
            &[],
        );
        ok(out, sql).trim().to_owned()
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

#[test]
fn the_replica_bootstraps_from_the_primary_and_streams() {
    let mut scratch = Scratch::new();
    let (primary, replica) = (scratch.path("primary"), scratch.path("replica"));
    let (primary_port, replica_port) = (free_port(), free_port());
    let password = "s3cret-replication";

    // The primary, initialised as the postgres image does it: the app's
    // superuser, password auth over TCP.
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

    // The init script, as the entrypoint runs it (twice: a restart of the
    // entrypoint must not trip over its own role).
    let init = write_script(&scratch, "init.sh", pod::POSTGRES_PRIMARY_INIT);
    let env = [
        ("PGDATA", primary.as_str()),
        ("POSTGRES_USER", "payrail"),
        ("REPLICATION_USER", pod::REPLICATION_USER),
        ("REPLICATION_PASSWORD", password),
        ("PGHOST", scratch.dir.to_str().unwrap()),
    ];
    let port = primary_port.to_string();
    let env: Vec<(&str, &str)> = env.iter().copied().chain([("PGPORT", port.as_str())]).collect();
    ok(as_postgres("bash", &[&init], &env), "primary init");
    ok(as_postgres("bash", &[&init], &env), "primary init again");
    assert_eq!(
        scratch.sql(
            primary_port,
            "payrail",
            "SELECT rolreplication FROM pg_roles WHERE rolname = 'replicator'"
        ),
        "t"
    );

    // The replica's init container on an empty volume.
    let bootstrap = write_script(&scratch, "bootstrap.sh", pod::POSTGRES_REPLICA_BOOTSTRAP);
    let primary_port_text = primary_port.to_string();
    let bootstrap_env = [
        ("PGDATA", replica.as_str()),
        ("PRIMARY_HOST", "127.0.0.1"),
        ("PRIMARY_PORT", primary_port_text.as_str()),
        ("REPLICATION_USER", pod::REPLICATION_USER),
        ("REPLICATION_PASSWORD", password),
        ("WAIT_SECONDS", "20"),
    ];
    let out = ok(as_postgres("bash", &[&bootstrap], &bootstrap_env), "replica bootstrap");
    assert!(out.contains("replica copied"), "{out}");
    assert!(Path::new(&replica).join("standby.signal").exists(), "pg_basebackup -R made it a standby");
    scratch.start(&replica, replica_port);

    assert_eq!(scratch.sql(replica_port, "payrail", "SELECT pg_is_in_recovery()"), "t");
    scratch.sql(primary_port, "payrail", "CREATE TABLE streamed (n int); INSERT INTO streamed VALUES (42)");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = as_postgres(
            "psql",
            &[
                "-h",
                scratch.dir.to_str().unwrap(),
                "-p",
                &replica_port.to_string(),
                "-U",
                "payrail",
                "-d",
                "postgres",
                "-Atc",
                "SELECT n FROM streamed",
            ],
            &[],
        );
        if out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "42" {
            break;
        }
        assert!(Instant::now() < deadline, "the row never reached the replica");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(
        scratch.sql(
            primary_port,
            "payrail",
            "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'"
        ),
        "1"
    );

    // A restarted replica pod runs the bootstrap again: it must leave the
    // copy alone.
    let out = ok(as_postgres("bash", &[&bootstrap], &bootstrap_env), "bootstrap on a full volume");
    assert!(out.contains("already holds a replica"), "{out}");
    assert_eq!(scratch.sql(replica_port, "payrail", "SELECT n FROM streamed"), "42");
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
            ("WAIT_SECONDS", "3"),
        ],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not ready in time"));
}

#[test]
fn a_redis_node_runs_with_the_pod_arguments() {
    let scratch = Scratch::new();
    let data = scratch.path("redis");
    std::fs::create_dir_all(&data).unwrap();
    let port = free_port();
    let conf = format!("{data}/redis.conf");
    std::fs::write(&conf, pod::redis_conf(&data, port)).unwrap();
    let mut args = pod::redis_args(&conf, "node-secret");
    args.extend(["--daemonize".into(), "yes".into(), "--pidfile".into(), format!("{data}/redis.pid")]);
    ok(Command::new("redis-server").args(&args).output().unwrap(), "redis-server");
    let cli = |args: &[&str]| {
        let port = port.to_string();
        let mut all = vec!["-p", &port, "--no-auth-warning"];
        all.extend_from_slice(args);
        Command::new("redis-cli").args(&all).output().unwrap()
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while String::from_utf8_lossy(&cli(&["-a", "node-secret", "ping"]).stdout).trim() != "PONG" {
        assert!(Instant::now() < deadline, "redis did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    let unauthenticated = String::from_utf8_lossy(&cli(&["set", "k", "v"]).stdout).into_owned();
    assert!(unauthenticated.contains("NOAUTH"), "the password is required: {unauthenticated}");
    assert_eq!(String::from_utf8_lossy(&cli(&["-a", "node-secret", "set", "k", "v"]).stdout).trim(), "OK");
    let appendonly =
        String::from_utf8_lossy(&cli(&["-a", "node-secret", "config", "get", "appendonly"]).stdout)
            .into_owned();
    assert!(appendonly.contains("yes"), "{appendonly}");
    let _ = cli(&["-a", "node-secret", "shutdown", "nosave"]);
    // The lock survives a restart: the append-only file is on the volume.
    let files: Vec<String> =
        std::fs::read_dir(&data).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    assert!(files.iter().any(|f| f.starts_with("appendonly")), "{files:?}");
}

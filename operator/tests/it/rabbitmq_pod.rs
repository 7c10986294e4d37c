//! The RabbitMQ pod as the builders make it, started here with this
//! machine's `rabbitmq-server` the way the image starts it: `HOME` and the
//! data on the volume, the container's environment and configuration file,
//! its init containers first, and ready when its readiness probe passes. The
//! test applies what the kubelet does at every mount of the volume of a
//! pod with an `fsGroup`: group read-write on every file in it.

use std::io::Read;
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Container, PodSpec};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use payrail_common::testing::free_port;

use crate::built_pods::Built;

const RMQ_BIN: &str = "/usr/lib/rabbitmq/bin";
/// A broker replaying its store takes a while on a busy machine.
const BOOT: Duration = Duration::from_secs(120);

/// One broker pod's volume, name and ports here.
struct Broker {
    built: Built,
    pod: PodSpec,
    dir: PathBuf,
    node: String,
    port: u16,
    dist_port: u16,
    server: Option<Child>,
}

/// What a pod start did.
struct Started {
    log: String,
    /// The readiness probe passed.
    serving: bool,
}

impl Broker {
    fn new() -> Self {
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("payrail-rabbitmq-{}-{port}", std::process::id()));
        std::fs::create_dir_all(dir.join("volume")).unwrap();
        run("chown", &["-R", "rabbitmq:rabbitmq", dir.to_str().unwrap()]);
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::write(dir.join("enabled_plugins"), "[].\n").unwrap();
        let built = Built::from_spec(serde_json::json!({}));
        let pod = built.pod("mini-rabbitmq");
        Broker {
            built,
            pod,
            node: format!("payrail-pod-{port}@localhost"),
            dir,
            port,
            dist_port: free_port(),
            server: None,
        }
    }

    fn path(&self, name: &str) -> String {
        self.dir.join(name).to_str().unwrap().to_owned()
    }

    fn main(&self) -> Container {
        self.pod.containers.iter().find(|c| c.name == "rabbitmq").expect("rabbitmq").clone()
    }

    /// The container's environment, with what differs here: the image's
    /// `HOME` (its data directory, the volume), and a node name, ports and
    /// paths of this test's own.
    fn env(&self, container: &Container) -> Vec<(String, String)> {
        let mut env = self.built.env(container, &[]);
        env.extend(
            [
                ("HOME", self.path("volume")),
                ("PATH", format!("{RMQ_BIN}:/usr/bin:/bin")),
                ("RABBITMQ_NODENAME", self.node.clone()),
                ("RABBITMQ_NODE_IP_ADDRESS", "127.0.0.1".into()),
                ("RABBITMQ_NODE_PORT", self.port.to_string()),
                ("RABBITMQ_DIST_PORT", self.dist_port.to_string()),
                ("RABBITMQ_MNESIA_BASE", self.path("volume/mnesia")),
                ("RABBITMQ_CONFIG_FILE", self.path("payrail.conf")),
                ("RABBITMQ_ENABLED_PLUGINS_FILE", self.path("enabled_plugins")),
                ("RABBITMQ_LOG_BASE", self.path("log")),
                ("RABBITMQ_PID_FILE", self.path("pid")),
                ("ERL_CRASH_DUMP", self.path("erl_crash.dump")),
            ]
            .map(|(k, v)| (k.to_owned(), v)),
        );
        env
    }

    fn as_rabbitmq(&self, container: &Container, program: &str, args: &[&str]) -> Command {
        self.as_rabbitmq_with(container, &[], program, args)
    }

    /// As [`Self::as_rabbitmq`], with `more` variables of the test's own
    /// (last, so they override the container's).
    fn as_rabbitmq_with(
        &self,
        container: &Container,
        more: &[(&str, &str)],
        program: &str,
        args: &[&str],
    ) -> Command {
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", "rabbitmq", "--", "env", "-i"]);
        cmd.args(self.env(container).iter().map(|(k, v)| format!("{k}={v}")));
        cmd.args(more.iter().map(|(k, v)| format!("{k}={v}")));
        cmd.arg(program).args(args).current_dir(&self.dir);
        cmd
    }

    /// Starts the preStop hook of a node of `three` (a cluster of three
    /// brokers) against this broker, as the kubelet runs it, with the
    /// downward API file of its deletion mark at `mark`.
    fn pre_stop(&self, three: &Built, mark: &str) -> Hook {
        let pod = three.pod("mini-rabbitmq");
        let main = pod.containers.iter().find(|c| c.name == "rabbitmq").expect("rabbitmq");
        let hook = main.lifecycle.as_ref().and_then(|l| l.pre_stop.as_ref()).expect("a preStop hook");
        let command = hook.exec.as_ref().and_then(|e| e.command.clone()).expect("an exec hook");
        let args: Vec<&str> = command[1..].iter().map(String::as_str).collect();
        let child = self
            .as_rabbitmq_with(main, &[("DELETING_MARK", mark)], &command[0], &args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .unwrap();
        Hook(child)
    }

    /// Starts the pod: each init container once, then the server, until
    /// its readiness probe passes or the server exits.
    fn start(&mut self) -> Started {
        let mut log = String::new();
        for init in self.pod.init_containers.clone().iter().flatten() {
            let (interpreter, text) = self.built.script(&self.pod, init);
            let file = self.path(&format!("{}.sh", init.name));
            std::fs::write(&file, text).unwrap();
            let out = self.as_rabbitmq(init, &interpreter, &[&file]).output().unwrap();
            log.push_str(&format!("[{}]\n{}", init.name, text_of(&out)));
            if !out.status.success() {
                return Started { log, serving: false };
            }
        }
        let main = self.main();
        // The broker's configuration file, as the pod mounts it.
        let conf = self.built.file(&self.pod, &main, "/etc/rabbitmq/conf.d/20-payrail.conf").expect("config");
        std::fs::write(self.path("payrail.conf"), conf).unwrap();
        let out = std::fs::File::create(self.path("server.out")).unwrap();
        let server = self
            .as_rabbitmq(&main, &format!("{RMQ_BIN}/rabbitmq-server"), &[])
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .stdin(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap();
        self.server = Some(server);
        // The readiness probe: the AMQP port (this test's own) accepts.
        let probe = main.readiness_probe.and_then(|p| p.tcp_socket).expect("a TCP readiness probe");
        assert_eq!(probe.port, IntOrString::String("amqp".into()));
        let deadline = Instant::now() + BOOT;
        let serving = loop {
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                break true;
            }
            let exited = self.server.as_mut().is_some_and(|s| s.try_wait().unwrap().is_some());
            if exited || Instant::now() > deadline {
                break false;
            }
            std::thread::sleep(Duration::from_millis(500));
        };
        log.push_str(&format!("[rabbitmq]\n{}", std::fs::read_to_string(self.path("server.out")).unwrap()));
        Started { log, serving }
    }

    fn ctl(&self, args: &[&str]) -> String {
        let out = self.as_rabbitmq(&self.main(), "rabbitmqctl", args).output().unwrap();
        assert!(out.status.success(), "rabbitmqctl {args:?}: {}", text_of(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Stops the broker as the kubelet does a pod: SIGTERM, then waits.
    fn stop(&mut self) {
        if let Some(mut server) = self.server.take() {
            if server.try_wait().unwrap().is_some() {
                return;
            }
            run("kill", &["-TERM", "--", &format!("-{}", server.id())]);
            let deadline = Instant::now() + Duration::from_secs(60);
            while server.try_wait().unwrap().is_none() {
                assert!(Instant::now() < deadline, "the broker did not stop");
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    }

    /// What the kubelet does to a volume at every mount for a pod with an
    /// `fsGroup` (pkg/volume/volume_linux.go): the group made the fsGroup,
    /// read-write added for owner and group, directories also setgid.
    fn mount_with_fs_group(&self) {
        let volume = self.path("volume");
        run("chgrp", &["-R", "rabbitmq", &volume]);
        run("find", &[&volume, "-type", "f", "-exec", "chmod", "ug+rw", "{}", "+"]);
        run("find", &[&volume, "-type", "d", "-exec", "chmod", "ug+rwx,g+s", "{}", "+"]);
    }

    fn cookie_mode(&self) -> u32 {
        std::fs::metadata(self.path("volume/.erlang.cookie")).unwrap().permissions().mode() & 0o777
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        // Only a server still running: the group of one already reaped
        // may be someone else's by now.
        if let Some(mut server) = self.server.take()
            && server.try_wait().ok().flatten().is_none()
        {
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", server.id())])
                .stderr(Stdio::null())
                .status();
            let _ = server.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A running preStop hook, killed with what it started if the test ends
/// first.
struct Hook(Child);

impl Hook {
    /// Whether it has ended by `within`; its output when it has.
    fn ended_within(&mut self, within: Duration) -> Option<(bool, String)> {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Some(status) = self.0.try_wait().unwrap() {
                let mut out = String::new();
                if let Some(mut pipe) = self.0.stdout.take() {
                    let _ = pipe.read_to_string(&mut out);
                }
                if let Some(mut pipe) = self.0.stderr.take() {
                    let _ = pipe.read_to_string(&mut out);
                }
                return Some((status.success(), out));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        None
    }
}

impl Drop for Hook {
    fn drop(&mut self) {
        if self.0.try_wait().ok().flatten().is_none() {
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", self.0.id())])
                .stderr(Stdio::null())
                .status();
            let _ = self.0.wait();
        }
    }
}

fn run(program: &str, args: &[&str]) {
    let out = Command::new(program).args(args).output().unwrap();
    assert!(out.status.success(), "{program} {args:?}: {}", text_of(&out));
}

fn text_of(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

// Issue 25, item 2: the Erlang cookie lives on the volume, and the kubelet
// makes it group-readable at every mount of a pod with an fsGroup; Erlang
// then refuses it ("must be accessible by owner only"), so every rolling
// update, drain or eviction left the broker crash-looping.
#[test]
fn a_broker_pod_starts_again_after_its_volume_is_mounted_with_an_fs_group() {
    let mut broker = Broker::new();
    let first = broker.start();
    assert!(first.serving, "the first start:\n{}", first.log);
    broker.ctl(&["await_startup"]);
    broker.ctl(&["add_vhost", "kept-on-the-volume"]);
    broker.stop();

    broker.mount_with_fs_group();
    assert_eq!(broker.cookie_mode() & 0o060, 0o060, "the kubelet's chmod reached the cookie");
    let again = broker.start();
    assert!(again.serving, "the pod, created again, did not start:\n{}", again.log);
    broker.ctl(&["await_startup"]);
    assert!(broker.ctl(&["list_vhosts"]).contains("kept-on-the-volume"), "the same broker, its data kept");
    assert_eq!(broker.cookie_mode() & 0o077, 0, "the cookie is its owner's only");
}

/// A quorum queue, with a member on every node of the cluster.
const QUORUM_QUEUE: &str = "rabbit_amqqueue:declare(rabbit_misc:r(<<\"/\">>, queue, <<\"payrail-quorum\">>), \
     true, false, [{<<\"x-queue-type\">>, longstr, <<\"quorum\">>}], none, <<\"payrail-test\">>).";

// Issue 25, item 9: every node of a 3-node RabbitMQ waited up to 10
// minutes for quorum in its preStop hook also when the whole
// PaymentCluster was deleted (no majority is left to keep: every node is
// going). The operator marks the pods first. Here two brokers started from
// the pod spec form a cluster and hold a quorum queue with a member on
// each, so stopping either takes it below its majority; the hook of a
// 3-node pod, run with the real `rabbitmq-upgrade` against one of them,
// waits unmarked, ends as soon as the mark arrives, and does not wait at
// all when it finds the mark.
#[test]
fn a_cluster_nodes_pre_stop_waits_for_quorum_unless_its_cluster_is_being_deleted() {
    let (mut first, mut second) = (Broker::new(), Broker::new());
    for broker in [&mut first, &mut second] {
        let started = broker.start();
        assert!(started.serving, "{}", started.log);
        broker.ctl(&["await_startup"]);
    }
    // Both took the cookie from the same Secret: they may cluster.
    second.ctl(&["stop_app"]);
    second.ctl(&["join_cluster", &first.node]);
    second.ctl(&["start_app"]);
    let quorum_kept = || {
        let check = ["await_online_quorum_plus_one", "-t", "3"];
        first.as_rabbitmq(&first.main(), "rabbitmq-upgrade", &check).output().unwrap().status.success()
    };
    assert!(quorum_kept(), "no quorum queue yet: nothing to wait for");
    first.ctl(&["eval", QUORUM_QUEUE]);
    assert!(!quorum_kept(), "stopping either node now takes the queue below its majority");

    let three = Built::from_spec(serde_json::json!({"rabbitmq": {"replicas": 3}}));
    // The kubelet projects an annotation the pod does not have as an
    // empty file.
    let mark = first.path("cluster-deleting");
    std::fs::write(&mark, "").unwrap();
    let mut waiting = first.pre_stop(&three, &mark);
    assert_eq!(waiting.ended_within(Duration::from_secs(10)), None, "it did not wait for quorum");
    std::fs::write(&mark, "true").unwrap();
    let (ok, out) = waiting.ended_within(Duration::from_secs(10)).expect("the mark ended the wait");
    assert!(ok && out.contains("being deleted"), "{out}");

    let (ok, out) = first
        .pre_stop(&three, &mark)
        .ended_within(Duration::from_secs(5))
        .expect("a marked node stops without waiting");
    assert!(ok && out.contains("being deleted"), "{out}");
    second.stop();
    first.stop();
}

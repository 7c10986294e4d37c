//! Services of a test's own on other loopback ports, started by the
//! project's scripts, for tests that stop and start them (the shared ones
//! are never touched).

use std::path::PathBuf;
use std::process::Command;

use uuid::Uuid;

use super::env::{run, script};

/// Extra Redis nodes started by `scripts/redis-nodes`, stopped on drop.
pub struct RedisNodes {
    pub dir: PathBuf,
    pub urls: Vec<String>,
}

impl RedisNodes {
    pub fn start(n: usize) -> Self {
        let dir = std::env::temp_dir().join(format!("payrail-redis-{}", Uuid::new_v4().simple()));
        let out =
            run(script("redis-nodes").to_str().unwrap(), &["start", dir.to_str().unwrap(), &n.to_string()]);
        let urls = out.trim().split(',').map(str::to_owned).collect();
        RedisNodes { dir, urls }
    }

    pub fn stop_one(&self, i: usize) {
        run(
            script("redis-nodes").to_str().unwrap(),
            &["stop-one", self.dir.to_str().unwrap(), &i.to_string()],
        );
    }

    pub fn start_one(&self, i: usize) {
        run(
            script("redis-nodes").to_str().unwrap(),
            &["start-one", self.dir.to_str().unwrap(), &i.to_string()],
        );
    }
}

impl Drop for RedisNodes {
    fn drop(&mut self) {
        let _ = Command::new(script("redis-nodes")).args(["stop", self.dir.to_str().unwrap()]).output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A separate RabbitMQ cluster (of three nodes unless asked) started by
/// `scripts/rabbitmq-nodes` (the shared broker on 5672 is not touched),
/// stopped and deleted on drop.
pub struct RabbitNodes {
    pub dir: PathBuf,
    /// One AMQP URL per node, in node order (node 1 first).
    pub urls: Vec<String>,
}

impl RabbitNodes {
    pub fn start() -> Self {
        Self::start_n(3)
    }

    /// A cluster of `n` nodes (one: a private broker a test may restart).
    pub fn start_n(n: usize) -> Self {
        let dir = std::env::temp_dir().join(format!("payrail-rabbitmq-{}", Uuid::new_v4().simple()));
        let mut nodes = RabbitNodes { dir, urls: Vec::new() };
        // Dropped on a failed start too, so a half-made cluster is stopped.
        let out = nodes.run_script(&["start", &n.to_string()]);
        nodes.urls = out.trim().split(',').map(str::to_owned).collect();
        nodes
    }

    fn run_script(&self, args: &[&str]) -> String {
        let mut all = vec![args[0], self.dir.to_str().unwrap()];
        all.extend_from_slice(&args[1..]);
        run(script("rabbitmq-nodes").to_str().unwrap(), &all)
    }

    /// The 1-based number of the node whose URL has this port.
    pub fn node_with_port(&self, port: u16) -> Option<usize> {
        self.urls.iter().position(|u| u.contains(&format!(":{port}/"))).map(|i| i + 1)
    }

    pub fn stop_one(&self, i: usize) {
        self.run_script(&["stop-one", &i.to_string()]);
    }

    pub fn start_one(&self, i: usize) {
        self.run_script(&["start-one", &i.to_string()]);
    }

    /// `rabbitmqctl` against node `i` of this cluster.
    pub fn ctl(&self, i: usize, args: &[&str]) -> String {
        let id = std::fs::read_to_string(self.dir.join("cluster.id")).unwrap();
        let node = format!("{}-{i}@localhost", id.trim());
        let mut all = vec!["-q", "-n", &node];
        all.extend_from_slice(args);
        run("rabbitmqctl", &all)
    }
}

impl Drop for RabbitNodes {
    fn drop(&mut self) {
        let _ = Command::new(script("rabbitmq-nodes")).args(["stop", self.dir.to_str().unwrap()]).output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

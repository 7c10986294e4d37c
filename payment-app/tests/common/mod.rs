//! Shared test harness: each test gets its own PostgreSQL database, its own
//! RabbitMQ vhost and its own Redis key prefix, against the real services
//! on this machine, and runs the real `payment-app` binary.
//!
//! A service that is down fails the test: nothing here skips.

#![allow(dead_code)] // each test binary uses a part of it

use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use uuid::Uuid;

pub const PG_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
pub const AMQP_BASE: &str = "amqp://guest:guest@127.0.0.1:5672";
pub const REDIS_URL: &str = "redis://127.0.0.1:6379/3";
/// The token every test app accepts.
pub const TOKEN: &str = "test-token-1";

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_payment-app")
}

fn run(program: &str, args: &[&str]) -> String {
    let out =
        Command::new(program).args(args).output().unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A fresh, isolated set of names on the shared services. The database is
/// not created here: `payment-app all` must create it itself.
pub struct TestEnv {
    pub name: String,
    pub database_url: String,
    pub amqp_url: String,
    pub vhost: String,
    pub redis_urls: String,
    pub key_prefix: String,
    pub dir: PathBuf,
}

impl TestEnv {
    pub fn new() -> Self {
        let name = format!("payrail_test_{}", Uuid::new_v4().simple());
        let vhost = name.clone();
        run("rabbitmqctl", &["-q", "add_vhost", &vhost]);
        run("rabbitmqctl", &["-q", "set_permissions", "-p", &vhost, "guest", ".*", ".*", ".*"]);
        let dir = std::env::temp_dir().join(&name);
        std::fs::create_dir_all(&dir).unwrap();
        TestEnv {
            database_url: format!("postgres://postgres@127.0.0.1:5432/{name}"),
            amqp_url: format!("{AMQP_BASE}/{vhost}"),
            vhost,
            redis_urls: REDIS_URL.to_owned(),
            key_prefix: name.clone(),
            dir,
            name,
        }
    }

    /// The app binary with this environment's connection settings.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(bin());
        cmd.args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("RUST_LOG", "info")
            .env("DATABASE_URL", &self.database_url)
            .env("AMQP_URL", &self.amqp_url)
            .env("REDIS_URLS", &self.redis_urls)
            .env("REDIS_KEY_PREFIX", &self.key_prefix)
            .env("API_TOKENS", format!("{TOKEN},test-token-2"));
        cmd
    }

    /// Runs `payment-app audit --json`; returns the exit code and report.
    pub fn audit(&self) -> (i32, Value) {
        let out = self.command(&["audit", "--json"]).output().unwrap();
        let report = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        (out.status.code().unwrap_or(-1), report)
    }

    pub async fn pg(&self) -> sqlx::PgPool {
        sqlx::PgPool::connect(&self.database_url).await.unwrap()
    }
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        let _ = Command::new("rabbitmqctl").args(["-q", "delete_vhost", &self.vhost]).output();
        let _ = Command::new("psql")
            .args([PG_ADMIN_URL, "-q", "-c", &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name)])
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A publisher into the environment's vhost, with the app's topology.
pub async fn publisher(env: &TestEnv) -> payment_app::broker::Publisher {
    let topology =
        payment_app::broker::Topology { retry_delay: Duration::from_millis(100), delivery_limit: 20 };
    let broker =
        payment_app::broker::Broker::connect(&env.amqp_url, "test", topology, Duration::from_secs(5))
            .await
            .unwrap();
    payment_app::broker::Publisher::new(&broker)
}

/// An HTTP client that sends `token` as its bearer token.
pub fn client(token: Option<&str>) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some(token) = token {
        headers.insert("authorization", format!("Bearer {token}").parse().unwrap());
    }
    reqwest::Client::builder().timeout(Duration::from_secs(20)).default_headers(headers).build().unwrap()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A running `payment-app` process, stopped with SIGKILL if dropped.
pub struct App {
    child: std::process::Child,
    pub base: String,
    pub log: PathBuf,
    pub http: reqwest::Client,
}

impl App {
    /// Starts `payment-app all` (or `args`) and waits until it serves.
    pub async fn start(env: &TestEnv, extra_env: &[(&str, &str)]) -> App {
        Self::start_with(env, &["all"], extra_env).await
    }

    pub async fn start_with(env: &TestEnv, args: &[&str], extra_env: &[(&str, &str)]) -> App {
        let port = free_port();
        let log = env.dir.join(format!("app-{port}.log"));
        let mut cmd = env.command(args);
        cmd.env("HTTP_ADDR", format!("127.0.0.1:{port}"));
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        let file = std::fs::File::create(&log).unwrap();
        cmd.stdout(Stdio::from(file.try_clone().unwrap())).stderr(Stdio::from(file));
        let child = cmd.spawn().unwrap();
        let app = App { child, base: format!("http://127.0.0.1:{port}"), log, http: client(Some(TOKEN)) };
        app.wait_healthy().await;
        app
    }

    async fn wait_healthy(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(r) = self.http.get(format!("{}/healthz", self.base)).send().await
                && r.status().is_success()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("payment-app did not become healthy; log:\n{}", self.log_text());
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM, then waits for the exit.
    pub fn terminate(mut self) -> ExitStatus {
        run("kill", &["-TERM", &self.child.id().to_string()]);
        let deadline = Instant::now() + Duration::from_secs(40);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "payment-app ignored SIGTERM; log:\n{}", self.log_text());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let r = self.http.post(format!("{}{path}", self.base)).json(&body).send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let r = self.http.get(format!("{}{path}", self.base)).send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn account(&self, initial_balance: &str) -> String {
        let (status, body) =
            self.post("/api/v1/accounts", json!({ "initial_balance": initial_balance })).await;
        assert_eq!(status, 201, "{body}");
        body["id"].as_str().unwrap().to_owned()
    }

    pub async fn pay(&self, from: &str, to: &str, amount: &str) -> (u16, Value) {
        self.post("/api/v1/payment", json!({ "from_account": from, "to_account": to, "amount": amount }))
            .await
    }

    pub async fn balance(&self, account: &str) -> String {
        let (status, body) = self.get(&format!("/api/v1/accounts/{account}")).await;
        assert_eq!(status, 200, "{body}");
        body["balance"].as_str().unwrap().to_owned()
    }

    /// Polls until every payment is `done` or `failed`; returns them.
    pub async fn wait_terminal(&self, ids: &[String], within: Duration) -> Vec<Value> {
        let deadline = Instant::now() + within;
        let mut terminal = Vec::with_capacity(ids.len());
        for id in ids {
            loop {
                let (status, body) = self.get(&format!("/api/v1/payment/{id}")).await;
                assert_eq!(status, 200, "{body}");
                if body["status"] != "pending" {
                    terminal.push(body);
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "payment {id} still pending; log tail:\n{}",
                    self.log_tail()
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        terminal
    }

    /// Warnings and errors the app logged, for failure messages.
    pub fn log_problems(&self) -> String {
        let text = self.log_text();
        let lines: Vec<&str> = text.lines().filter(|l| l.contains("WARN") || l.contains("ERROR")).collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    pub fn log_tail(&self) -> String {
        let text = self.log_text();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}

impl Drop for App {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Extra Redis nodes started by `scripts/redis-nodes`, stopped on drop.
pub struct RedisNodes {
    pub dir: PathBuf,
    pub urls: Vec<String>,
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/redis-nodes")
}

impl RedisNodes {
    pub fn start(n: usize) -> Self {
        let dir = std::env::temp_dir().join(format!("payrail-redis-{}", Uuid::new_v4().simple()));
        let out = run(script().to_str().unwrap(), &["start", dir.to_str().unwrap(), &n.to_string()]);
        let urls = out.trim().split(',').map(str::to_owned).collect();
        RedisNodes { dir, urls }
    }

    pub fn stop_one(&self, i: usize) {
        run(script().to_str().unwrap(), &["stop-one", self.dir.to_str().unwrap(), &i.to_string()]);
    }

    pub fn start_one(&self, i: usize) {
        run(script().to_str().unwrap(), &["start-one", self.dir.to_str().unwrap(), &i.to_string()]);
    }
}

impl Drop for RedisNodes {
    fn drop(&mut self) {
        let _ = Command::new(script()).args(["stop", self.dir.to_str().unwrap()]).output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

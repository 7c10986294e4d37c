//! Shared test harness: each test gets its own PostgreSQL database, its own
//! RabbitMQ vhost and its own Redis key prefix, against the real services
//! on this machine, and runs the real `payment-app` binary.
//!
//! A service that is down fails the test: nothing here skips.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use uuid::Uuid;

pub const PG_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
pub const AMQP_BASE: &str = "amqp://guest:guest@127.0.0.1:5672";
pub const REDIS_URL: &str = "redis://127.0.0.1:6379/3";
/// The token every test app accepts.
pub const TOKEN: &str = "test-token-0000001";

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
            .env("API_TOKENS", format!("{TOKEN},test-token-0000002"));
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
        // KEEP_TEST_ENV=1 leaves the database, vhost and logs of every
        // test for a post-mortem (the path is printed).
        if std::env::var_os("KEEP_TEST_ENV").is_some() {
            eprintln!(
                "kept test environment {}: database {}, vhost {}",
                self.dir.display(),
                self.name,
                self.vhost
            );
            return;
        }
        let _ = Command::new("rabbitmqctl").args(["-q", "delete_vhost", &self.vhost]).output();
        let _ = Command::new("psql")
            .args([PG_ADMIN_URL, "-q", "-c", &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name)])
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A publisher into the environment's vhost, with the app's topology.
pub async fn publisher(env: &TestEnv) -> payment_app::broker::Publisher {
    let config = payment_app::broker::BrokerConfig {
        urls: vec![env.amqp_url.parse().unwrap()],
        topology: payment_app::broker::Topology {
            retry_delay: Duration::from_millis(100),
            delivery_limit: 20,
        },
        timeout: Duration::from_secs(5),
    };
    let broker = payment_app::broker::Broker::connect(&config, "test").await.unwrap();
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

fn spawn(command: &mut Command, log: &Path, append: bool) -> std::process::Child {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(append)
        .write(true)
        .truncate(!append)
        .open(log)
        .unwrap();
    command.stdout(Stdio::from(file.try_clone().unwrap())).stderr(Stdio::from(file));
    command.spawn().unwrap()
}

/// A running `payment-app` process, stopped with SIGKILL if dropped.
pub struct App {
    child: std::process::Child,
    pub base: String,
    pub log: PathBuf,
    pub http: reqwest::Client,
    /// How it was started, to start it again on the same port.
    command: Command,
}

impl App {
    /// Starts `payment-app all` and waits until it serves.
    pub async fn start(env: &TestEnv, extra_env: &[(&str, &str)]) -> App {
        Self::start_with(env, &["all"], extra_env).await
    }

    pub async fn start_with(env: &TestEnv, args: &[&str], extra_env: &[(&str, &str)]) -> App {
        let port = payrail_common::testing::free_port();
        let log = env.dir.join(format!("app-{port}.log"));
        let mut command = env.command(args);
        command.env("HTTP_ADDR", format!("127.0.0.1:{port}"));
        for (k, v) in extra_env {
            command.env(k, v);
        }
        let child = spawn(&mut command, &log, false);
        let app =
            App { child, base: format!("http://127.0.0.1:{port}"), log, http: client(Some(TOKEN)), command };
        app.wait_healthy().await;
        app
    }

    /// SIGKILL: the process dies wherever it is, nothing is cleaned up.
    pub fn kill9(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// Starts the same command again on the same port, appending to the
    /// same log, after `kill9` or `terminate`.
    pub async fn restart(&mut self) {
        self.child = spawn(&mut self.command, &self.log, true);
        self.wait_healthy().await;
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
    pub fn terminate(&mut self) -> ExitStatus {
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

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts").join(name)
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

/// A steady stream of payments among `accounts`, as careful clients send
/// them: each payment has its own idempotency key and is retried with it
/// on 5xx answers and connection errors until it gets a definite answer.
pub struct Traffic {
    stop: Arc<AtomicBool>,
    accepted: Arc<Mutex<Vec<String>>>,
    refunds: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<usize>,
}

/// What the clients saw.
#[derive(Debug)]
pub struct TrafficReport {
    /// Ids of payments answered 202.
    pub accepted: Vec<String>,
    /// Payments (keys) sent.
    pub sent: usize,
    /// Ids of refunds answered 202.
    pub refunds: Vec<String>,
}

/// What the traffic does with a payment once it is accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FollowUp {
    None,
    /// A manual payment, captured in part once authorized.
    Capture,
    /// A manual payment, voided once authorized.
    Void,
    /// A manual payment left to expire (its hold lasts 3 s).
    Expire,
    /// An automatic payment, refunded in part once done.
    Refund,
}

impl FollowUp {
    /// One payment in four is manual (captured, voided or left to expire in
    /// turn), one in four is refunded once done.
    fn of(sent: usize) -> FollowUp {
        match (sent % 4, sent / 4 % 3) {
            (1, _) => FollowUp::Refund,
            (3, 0) => FollowUp::Capture,
            (3, 1) => FollowUp::Void,
            (3, _) => FollowUp::Expire,
            _ => FollowUp::None,
        }
    }

    fn manual(self) -> bool {
        matches!(self, FollowUp::Capture | FollowUp::Void | FollowUp::Expire)
    }
}

impl Traffic {
    /// One new payment every `every`, amounts 1.00 to 9.00; a quarter of
    /// them manual (then captured, voided or left to expire) and a quarter
    /// refunded in part once done, so faults meet every kind of work settle
    /// does.
    pub fn start(base: &str, accounts: &[String], every: Duration) -> Traffic {
        let stop = Arc::new(AtomicBool::new(false));
        let accepted = Arc::new(Mutex::new(Vec::new()));
        let refunds = Arc::new(Mutex::new(Vec::new()));
        let (base, accounts) = (base.to_owned(), accounts.to_vec());
        let task = tokio::spawn({
            let (stop, accepted, refunds) = (stop.clone(), accepted.clone(), refunds.clone());
            async move {
                let http = client(Some(TOKEN));
                let mut clients = tokio::task::JoinSet::new();
                let mut sent = 0usize;
                while !stop.load(Ordering::Relaxed) {
                    let from = sent % accounts.len();
                    let to = (from + 1 + sent / accounts.len() % (accounts.len() - 1)) % accounts.len();
                    let follow_up = FollowUp::of(sent);
                    let mut body = json!({
                        "from_account": accounts[from],
                        "to_account": accounts[to],
                        "amount": format!("{}.00", 1 + sent % 9),
                    });
                    if follow_up.manual() {
                        body["capture"] = json!("manual");
                        body["hold_expires_in_secs"] = json!(3);
                    }
                    let (http, base, accepted, refunds) =
                        (http.clone(), base.clone(), accepted.clone(), refunds.clone());
                    clients.spawn(async move {
                        let id = send_until_answered(&http, &base, body, &accepted).await;
                        follow(&http, &base, &id, follow_up, &refunds).await;
                    });
                    sent += 1;
                    tokio::time::sleep(every).await;
                }
                while let Some(done) = clients.join_next().await {
                    done.unwrap();
                }
                sent
            }
        });
        Traffic { stop, accepted, refunds, task }
    }

    pub fn accepted_so_far(&self) -> usize {
        self.accepted.lock().unwrap().len()
    }

    /// Ids of the payments answered 202 so far.
    pub fn accepted_ids(&self) -> Vec<String> {
        self.accepted.lock().unwrap().clone()
    }

    /// Stops sending new payments, at once; [`Traffic::stop`] then waits
    /// for the clients. Several streams are halted together before any is
    /// waited for, or the others keep sending while the first drains.
    pub fn halt(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    /// Stops sending new payments and waits for every client's answer and
    /// follow-up.
    pub async fn stop(self) -> TrafficReport {
        self.halt();
        let sent = self.task.await.unwrap();
        let accepted = std::mem::take(&mut *self.accepted.lock().unwrap());
        let refunds = std::mem::take(&mut *self.refunds.lock().unwrap());
        TrafficReport { accepted, sent, refunds }
    }
}

/// Answers a client rides out by trying again: a fault (5xx) or a 429,
/// which records nothing. Under load a token's in-flight limit is reached
/// now and then (the polling follow-ups count against it too).
fn retryable(status: u16) -> bool {
    status >= 500 || status == 429
}

/// POSTs `body` until a definite answer, with one Idempotency-Key for
/// every try; returns the id of what was created.
async fn post_until_answered(http: &reqwest::Client, url: &str, body: &Value, what: &str) -> String {
    let key = Uuid::new_v4().to_string();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let sent = http.post(url).header("idempotency-key", &key).json(body).send().await;
        if let Ok(r) = sent {
            let status = r.status().as_u16();
            if status == 202 {
                let json: Value = r.json().await.unwrap();
                return json["id"].as_str().unwrap().to_owned();
            }
            assert!(
                retryable(status),
                "a {what} was refused with {status}: {}",
                r.text().await.unwrap_or_default()
            );
        }
        assert!(Instant::now() < deadline, "no definite answer for {what} {key} in 120 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn send_until_answered(
    http: &reqwest::Client,
    base: &str,
    body: Value,
    accepted: &Mutex<Vec<String>>,
) -> String {
    let id = post_until_answered(http, &format!("{base}/api/v1/payment"), &body, "payment").await;
    accepted.lock().unwrap().push(id.clone());
    id
}

/// Polls a payment (riding out faults) until its status is no longer
/// `pending`.
async fn settled_status(http: &reqwest::Client, base: &str, id: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Ok(r) = http.get(format!("{base}/api/v1/payment/{id}")).send().await
            && r.status() == 200
        {
            let json: Value = r.json().await.unwrap();
            let status = json["status"].as_str().unwrap().to_owned();
            if status != "pending" {
                return status;
            }
        }
        assert!(Instant::now() < deadline, "payment {id} still pending after 120 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn follow(
    http: &reqwest::Client,
    base: &str,
    id: &str,
    follow_up: FollowUp,
    refunds: &Mutex<Vec<String>>,
) {
    let action = match follow_up {
        FollowUp::None | FollowUp::Expire => return,
        FollowUp::Refund => {
            if settled_status(http, base, id).await == "done" {
                let url = format!("{base}/api/v1/payment/{id}/refunds");
                let refund = post_until_answered(http, &url, &json!({"amount": "0.50"}), "refund").await;
                refunds.lock().unwrap().push(refund);
            }
            return;
        }
        FollowUp::Capture => "capture",
        FollowUp::Void => "void",
    };
    if settled_status(http, base, id).await != "authorized" {
        return;
    }
    // Capture and void take no Idempotency-Key: after a lost answer, a
    // retry's 409 `invalid_state` means the first one (or the expiry) stood.
    let body = if action == "capture" { json!({"amount": "0.50"}) } else { json!({}) };
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Ok(r) = http.post(format!("{base}/api/v1/payment/{id}/{action}")).json(&body).send().await {
            let status = r.status().as_u16();
            if status == 202 || status == 409 {
                return;
            }
            assert!(
                retryable(status),
                "a {action} was refused with {status}: {}",
                r.text().await.unwrap_or_default()
            );
        }
        assert!(Instant::now() < deadline, "no definite answer to the {action} of {id} in 120 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// After a fault: every payment answered 202 ends `done` or `failed`, no
/// payment at all is left `pending` (including any whose answer was lost),
/// nothing was created twice, and the audit passes.
#[allow(clippy::print_stdout)] // a summary for --nocapture runs
pub async fn assert_all_settled(app: &App, env: &TestEnv, report: &TrafficReport) {
    assert!(!report.accepted.is_empty(), "the traffic got no payment through");
    app.wait_terminal(&report.accepted, Duration::from_secs(120)).await;
    let pg = env.pg().await;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        // Nothing pending, no hold left open (the traffic's last ones
        // expire 3 s after their authorization), no refund pending.
        let (pending, authorized, refunds): (i64, i64, i64) = sqlx::query_as(
            "SELECT (SELECT count(*) FROM payments WHERE status = 'pending'),
                    (SELECT count(*) FROM payments WHERE status = 'authorized'),
                    (SELECT count(*) FROM refunds WHERE status = 'pending')",
        )
        .fetch_one(&pg)
        .await
        .unwrap();
        if pending + authorized + refunds == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{pending} payments still pending, {authorized} authorized, {refunds} refunds pending; log:\n{}",
            app.log_problems()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let payments: i64 = sqlx::query_scalar("SELECT count(*) FROM payments").fetch_one(&pg).await.unwrap();
    assert_eq!(payments as usize, report.sent, "one payment per key sent, each exactly once");
    let refunds: i64 = sqlx::query_scalar("SELECT count(*) FROM refunds").fetch_one(&pg).await.unwrap();
    assert_eq!(refunds as usize, report.refunds.len(), "one refund per key answered 202, each exactly once");
    let ends: Vec<(String, i64)> =
        sqlx::query_as("SELECT status, count(*) FROM payments GROUP BY status ORDER BY status")
            .fetch_all(&pg)
            .await
            .unwrap();
    let (code, audit) = env.audit();
    assert_eq!(code, 0, "{audit}");
    // What the fault looked like from inside, for whoever runs with --nocapture.
    let log = app.log_text();
    let mut seen: Vec<String> = log
        .lines()
        .filter(|l| l.contains("WARN") || l.contains("ERROR") || l.contains("relay re-queued"))
        .map(|l| l.split_once(": ").map_or(l, |(_, m)| m).chars().take(110).collect())
        .collect();
    seen.sort();
    seen.dedup_by(|a, b| a.get(..40) == b.get(..40));
    println!(
        "{} payments sent, {} answered 202, all settled ({ends:?}), {} refunds; the app logged:\n  {}",
        report.sent,
        report.accepted.len(),
        report.refunds.len(),
        seen.join("\n  ")
    );
}

/// Another session's `SELECT … FOR UPDATE` on an account's row, held until
/// the returned transaction is rolled back or dropped: what blocks every
/// insert of a payment on that account.
pub async fn hold_account_row(
    pg: &sqlx::PgPool,
    account: &str,
) -> sqlx::Transaction<'static, sqlx::Postgres> {
    let mut holder = pg.begin().await.unwrap();
    sqlx::query("SELECT id FROM accounts WHERE id = $1::uuid FOR UPDATE")
        .bind(account)
        .execute(&mut *holder)
        .await
        .unwrap();
    holder
}

/// Waits until the database has no payment `pending` (read there: polling
/// thousands of payments through the API would measure the API).
pub async fn wait_none_pending(env: &TestEnv, app: &App, within: Duration) {
    let pg = env.pg().await;
    let deadline = Instant::now() + within;
    loop {
        let pending: i64 = sqlx::query_scalar("SELECT count(*) FROM payments WHERE status = 'pending'")
            .fetch_one(&pg)
            .await
            .unwrap();
        if pending == 0 {
            return;
        }
        assert!(Instant::now() < deadline, "{pending} payments still pending; log:\n{}", app.log_tail());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

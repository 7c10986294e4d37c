//! A running `payment-app` process of the test's own, and HTTP clients for
//! it: `api`, payrail's own Rust client (payment-app's tests use what
//! integrators use, so a client that drifts from the server fails here), and
//! `http`, plain reqwest for what the client refuses to send (malformed
//! bodies, missing headers) or does not show (headers of the answer).

use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use payrail_client::RetryPolicy;
use payrail_client::types::{CreateAccount, CreatePayment, PaymentView};
use serde_json::{Value, json};

use super::env::{TestEnv, run};
use super::{TOKEN, poll_within};

/// An HTTP client that sends `token` as its bearer token.
pub fn client(token: Option<&str>) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some(token) = token {
        headers.insert("authorization", format!("Bearer {token}").parse().unwrap());
    }
    reqwest::Client::builder().timeout(Duration::from_secs(20)).default_headers(headers).build().unwrap()
}

/// payrail-client making one attempt per call, as `http` does: a test sees
/// every 429 and 503 the server answers, and counts requests as the server
/// does.
fn api_client(base: &str, token: &str) -> payrail_client::Client {
    let once = RetryPolicy { max_attempts: 1, timeout: Duration::from_secs(20), ..RetryPolicy::default() };
    payrail_client::Client::with_policy(base, token, once).unwrap()
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
    /// payrail-client with the all-scopes token.
    pub api: payrail_client::Client,
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
        let base = format!("http://127.0.0.1:{port}");
        let api = api_client(&base, TOKEN);
        let app = App { child, base, log, http: client(Some(TOKEN)), api, command };
        app.wait_healthy().await;
        app
    }

    /// payrail-client with another of the app's tokens (a narrower scope).
    pub fn api_as(&self, token: &str) -> payrail_client::Client {
        api_client(&self.base, token)
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
        let healthz = format!("{}/healthz", self.base);
        poll_within(Duration::from_secs(30), || async {
            match self.http.get(&healthz).send().await {
                Ok(r) if r.status().is_success() => Ok(()),
                Ok(r) => Err(r.status().to_string()),
                Err(e) => Err(e.to_string()),
            }
        })
        .await
        .unwrap_or_else(|seen| {
            panic!("payment-app did not become healthy ({seen}); log:\n{}", self.log_text())
        });
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
        let body = CreateAccount { initial_balance: Some(initial_balance.to_owned()), ..Default::default() };
        self.api.create_account(&body, None).await.unwrap().id.to_string()
    }

    pub async fn pay(&self, from: &str, to: &str, amount: &str) -> (u16, Value) {
        self.post("/api/v1/payment", json!({ "from_account": from, "to_account": to, "amount": amount }))
            .await
    }

    /// Sends a payment through the client, checks that it was answered 202,
    /// and returns it as accepted.
    pub async fn accept(&self, body: &CreatePayment) -> PaymentView {
        let accepted = self.api.create_payment_with_meta(body, None).await.unwrap();
        assert_eq!(accepted.status, reqwest::StatusCode::ACCEPTED, "{accepted:?}");
        accepted.value
    }

    /// [`App::accept`], then the payment once it is terminal.
    pub async fn settled(&self, body: &CreatePayment, within: Duration) -> PaymentView {
        let id = self.accept(body).await.id;
        self.api
            .wait_until_terminal(id, within)
            .await
            .unwrap_or_else(|e| panic!("payment {id}: {e}; log tail:\n{}", self.log_tail()))
    }

    pub async fn balance(&self, account: &str) -> String {
        self.api.get_account(account.parse().unwrap()).await.unwrap().balance.to_string()
    }

    /// Polls until every payment is `done` or `failed`; returns them.
    pub async fn wait_terminal(&self, ids: &[String], within: Duration) -> Vec<Value> {
        let deadline = Instant::now() + within;
        let mut terminal = Vec::with_capacity(ids.len());
        for id in ids {
            let left = deadline.saturating_duration_since(Instant::now());
            let payment = poll_within(left, || async {
                let (status, body) = self.get(&format!("/api/v1/payment/{id}")).await;
                assert_eq!(status, 200, "{body}");
                if body["status"] == "pending" { Err(body.to_string()) } else { Ok(body) }
            })
            .await
            .unwrap_or_else(|_| panic!("payment {id} still pending; log tail:\n{}", self.log_tail()));
            terminal.push(payment);
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

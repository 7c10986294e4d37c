//! Fault tests: under a steady stream of payments over a few hot accounts,
//! kill the app with SIGKILL, and stop and start RabbitMQ, Redis and
//! PostgreSQL. After each, every accepted payment is `done` or `failed`,
//! nothing is applied twice and the audit passes.
//!
//! These restart the machine's shared services, so they are `#[ignore]`d
//! in a plain `cargo test` and run by `scripts/test` after every other
//! test, one at a time (`--ignored --test-threads=1`). Each restores the
//! service it stopped, also when it fails.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::{App, TestEnv, Traffic, assert_all_settled};

/// Fast relay and short waits, so recovery happens within the test.
const FAST: &[(&str, &str)] =
    &[("RELAY_AFTER_SECS", "2"), ("RELAY_INTERVAL_SECS", "1"), ("BROKER_TIMEOUT_MS", "2000")];

fn sh(script: &str) -> bool {
    Command::new("bash").args(["-c", script]).status().is_ok_and(|s| s.success())
}

/// Starts the service again when dropped, whatever happened in between.
struct Restore(&'static str);

impl Drop for Restore {
    fn drop(&mut self) {
        assert!(sh(self.0), "could not restore a service with: {}", self.0);
    }
}

async fn hot_accounts(app: &App) -> Vec<String> {
    let mut accounts = Vec::new();
    for _ in 0..4 {
        accounts.push(app.account("500.00").await);
    }
    accounts
}

async fn traffic_for(traffic: &Traffic, at_least: usize, within: Duration) {
    let start = traffic.accepted_so_far();
    let deadline = Instant::now() + within;
    while traffic.accepted_so_far() < start + at_least {
        assert!(Instant::now() < deadline, "traffic stalled at {}", traffic.accepted_so_far());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
#[ignore = "restarts shared services: run by scripts/test, serially, after the other tests"]
async fn sigkill_mid_flight_then_restart() {
    let env = TestEnv::new();
    let mut app = App::start(&env, FAST).await;
    let traffic = Traffic::start(&app.base, &hot_accounts(&app).await, Duration::from_millis(10));
    traffic_for(&traffic, 100, Duration::from_secs(30)).await;
    app.kill9();
    tokio::time::sleep(Duration::from_secs(1)).await;
    app.restart().await;
    traffic_for(&traffic, 100, Duration::from_secs(60)).await;
    let report = traffic.stop().await;
    assert_all_settled(&app, &env, &report).await;
}

#[tokio::test]
#[ignore = "restarts shared services: run by scripts/test, serially, after the other tests"]
async fn rabbitmq_stopped_and_started() {
    let env = TestEnv::new();
    let app = App::start(&env, FAST).await;
    let traffic = Traffic::start(&app.base, &hot_accounts(&app).await, Duration::from_millis(10));
    traffic_for(&traffic, 50, Duration::from_secs(30)).await;
    {
        let _restore = Restore("rabbitmqctl -q start_app");
        assert!(sh("rabbitmqctl -q stop_app"));
        // The API keeps accepting: payments are committed, the relay queues them later.
        traffic_for(&traffic, 30, Duration::from_secs(30)).await;
        let (_, ready) = app.get("/readyz").await;
        assert_eq!(ready["status"], "degraded", "{ready}");
        assert_ne!(ready["rabbitmq"], "ok");
    }
    traffic_for(&traffic, 50, Duration::from_secs(60)).await;
    let report = traffic.stop().await;
    assert_all_settled(&app, &env, &report).await;
    assert!(app.log_text().contains("lost the broker; reconnecting"));
}

#[tokio::test]
#[ignore = "restarts shared services: run by scripts/test, serially, after the other tests"]
async fn redis_restarted() {
    let env = TestEnv::new();
    let app = App::start(&env, FAST).await;
    let traffic = Traffic::start(&app.base, &hot_accounts(&app).await, Duration::from_millis(10));
    traffic_for(&traffic, 50, Duration::from_secs(30)).await;
    {
        let _restore = Restore(
            "redis-cli -p 6379 ping >/dev/null 2>&1 || \
             redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save '' --appendonly no; \
             for i in $(seq 50); do redis-cli -p 6379 ping >/dev/null 2>&1 && exit 0; sleep 0.1; done; exit 1",
        );
        assert!(sh("redis-cli -p 6379 shutdown nosave; sleep 2"));
        // Payments keep being accepted; they wait for their lock.
        traffic_for(&traffic, 30, Duration::from_secs(30)).await;
    }
    traffic_for(&traffic, 50, Duration::from_secs(60)).await;
    let report = traffic.stop().await;
    assert_all_settled(&app, &env, &report).await;
}

#[tokio::test]
#[ignore = "restarts shared services: run by scripts/test, serially, after the other tests"]
async fn postgres_restarted() {
    let env = TestEnv::new();
    let app = App::start(&env, FAST).await;
    let traffic = Traffic::start(&app.base, &hot_accounts(&app).await, Duration::from_millis(10));
    traffic_for(&traffic, 50, Duration::from_secs(30)).await;
    {
        let _restore = Restore(
            "pg_isready -q -h 127.0.0.1 || pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql | head -n1) main start",
        );
        // While it restarts, the API answers 503 and clients retry with their keys.
        assert!(sh("pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql | head -n1) main restart"));
    }
    traffic_for(&traffic, 100, Duration::from_secs(60)).await;
    let report = traffic.stop().await;
    assert_all_settled(&app, &env, &report).await;
}

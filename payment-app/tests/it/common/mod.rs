//! Shared test harness: each test gets its own PostgreSQL database, its own
//! RabbitMQ vhost and its own Redis key prefix, against the real services
//! on this machine, and runs the real `payment-app` binary.
//!
//! A service that is down fails the test: nothing here skips.

use std::future::Future;
use std::time::{Duration, Instant};

mod api;
mod app;
mod db;
mod env;
mod nodes;
mod traffic;

pub use api::{payment, refusal, refused};
pub use app::{App, client};
pub use db::{hold_account_row, wait_none_pending};
pub use env::{TestEnv, bin, publisher};
pub use nodes::{RabbitNodes, RedisNodes};
pub use traffic::{Traffic, TrafficReport, assert_all_settled};

pub const PG_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
pub const AMQP_BASE: &str = "amqp://guest:guest@127.0.0.1:5672";
pub const REDIS_URL: &str = "redis://127.0.0.1:6379/3";
/// The token every test app accepts.
pub const TOKEN: &str = "test-token-0000001";

/// How often [`eventually`] asks again.
const POLL: Duration = Duration::from_millis(50);

/// Asks `probe` every 50 ms until it answers `Ok`, and returns that; panics
/// once `within` has passed, with `what` and the last `Err` (what the probe
/// saw). The one polling loop of these tests: every wait for something
/// asynchronous to happen goes through it or [`poll_within`].
pub async fn eventually<T, F, Fut>(within: Duration, what: &str, probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    poll_within(within, probe)
        .await
        .unwrap_or_else(|seen| panic!("{what}: not within {within:?}; last seen: {seen}"))
}

/// [`eventually`] for a caller that adds to the failure message what is
/// too dear to make on every try (an app's log): `Err` with the last thing
/// the probe saw once `within` has passed.
pub async fn poll_within<T, F, Fut>(within: Duration, mut probe: F) -> Result<T, String>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let deadline = Instant::now() + within;
    loop {
        match probe().await {
            Ok(value) => return Ok(value),
            Err(seen) if Instant::now() >= deadline => return Err(seen),
            Err(_) => tokio::time::sleep(POLL).await,
        }
    }
}

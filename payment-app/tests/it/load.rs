//! The acceptance run of the payment flow: a fresh database (that
//! `payment-app all` creates), a fresh vhost and a Redis database index;
//! 3,000 random payments from 64 concurrent clients among 40 accounts. All
//! must end `done` or `failed`, balances must add up through the API, and
//! `payment-app audit` must exit 0.

use std::time::{Duration, Instant};

use crate::common::{App, TestEnv};
use futures_util::{StreamExt, stream};
use serde_json::Value;

const PAYMENTS: usize = 3_000;
const CLIENTS: usize = 64;
const ACCOUNTS: usize = 40;
const INITIAL: &str = "100.00";

/// A small deterministic generator: random enough to mix directions,
/// amounts and collisions, and the same on every run.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, below: usize) -> usize {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((self.0 >> 33) % below as u64) as usize
    }
}

#[tokio::test]
async fn three_thousand_random_payments_from_64_clients_all_settle() {
    let mut env = TestEnv::new();
    env.redis_urls = "redis://127.0.0.1:6379/4".to_owned();
    let app = App::start(&env, &[]).await;

    let mut accounts = Vec::new();
    for _ in 0..ACCOUNTS {
        accounts.push(app.account(INITIAL).await);
    }
    let mut rng = Lcg(2026);
    let plan: Vec<(usize, usize, String)> = (0..PAYMENTS)
        .map(|_| {
            let from = rng.next(ACCOUNTS);
            let to = (from + 1 + rng.next(ACCOUNTS - 1)) % ACCOUNTS;
            // Up to 60.00 from 100.00 accounts: plenty of overdraft attempts.
            let cents = 1 + rng.next(6_000);
            (from, to, format!("{}.{:02}", cents / 100, cents % 100))
        })
        .collect();

    let started = Instant::now();
    let responses: Vec<(u16, Value)> = stream::iter(&plan)
        .map(|(from, to, amount)| app.pay(&accounts[*from], &accounts[*to], amount))
        .buffer_unordered(CLIENTS)
        .collect()
        .await;
    let accepted_in = started.elapsed();
    let ids: Vec<String> = responses
        .iter()
        .map(|(status, body)| {
            assert_eq!(*status, 202, "{body}\n{}", app.log_problems());
            body["id"].as_str().unwrap().to_owned()
        })
        .collect();

    let settled = app.wait_terminal(&ids, Duration::from_secs(300)).await;
    let all_terminal_in = started.elapsed();
    let done = settled.iter().filter(|p| p["status"] == "done").count();
    let failed = settled.iter().filter(|p| p["failure_reason"] == "insufficient_funds").count();
    assert_eq!(done + failed, PAYMENTS, "every payment is done or failed for insufficient funds");

    let mut total_cents = 0i64;
    for account in &accounts {
        let balance = app.balance(account).await;
        let (units, cents) = balance.split_once('.').unwrap();
        total_cents += units.parse::<i64>().unwrap() * 100 + cents.parse::<i64>().unwrap();
    }
    assert_eq!(total_cents, ACCOUNTS as i64 * 10_000, "money is conserved through the API");

    let (code, report) = env.audit();
    assert_eq!(code, 0, "{report}");
    // Reported, not asserted: timings belong to the benchmark.
    println!(
        "{PAYMENTS} payments ({done} done, {failed} failed) from {CLIENTS} clients over {ACCOUNTS} accounts: \
         all accepted in {:.2}s, all terminal in {:.2}s",
        accepted_in.as_secs_f64(),
        all_terminal_in.as_secs_f64()
    );
}

//! `payment-app bench-seed-ledger`: a large ledger made fast, for measuring
//! what a ledger's size costs (audit, statements, reads).
//!
//! The rows are planned here, purely, and written by `COPY` in
//! [`crate::db::seed`]. They hold every audit invariant by construction:
//! each account's issuance is a ledger entry and part of `issuance_total`;
//! a payment is `done` only if its payer's running balance covers it, with
//! its debit and credit, else `failed` (`insufficient_funds`) with no entry,
//! exactly as settlement decides; each payment has its `payment.created`
//! event and one end event; every balance is the sum of its account's
//! entries. Nothing is left pending, so `open_payments` stays empty.
//!
//! The seed is history: its rows are dated over the `days` before the seed
//! ends short of now, and its ids are UUID v7s of those times. The audit
//! counts what is newer than its checkpoint's time (less a margin for
//! commits in flight) as new work, so an incremental audit after a seed
//! re-reads none of it; the statements see the payments spread over days.

use std::fmt::Write as _;

use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, Utc};

use indicatif::{ProgressBar, ProgressStyle};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use sqlx::PgPool;
use uuid::{NoContext, Timestamp, Uuid};

use crate::db;
use crate::error::Result;

/// What to seed.
#[derive(Debug, Clone, Copy)]
pub struct SeedPlan {
    pub payments: u64,
    pub accounts: u32,
    /// Each account's issuance, in minor units.
    pub initial_balance: i64,
    /// Payments per `COPY` round (one round per chunk, all in one transaction).
    pub chunk: u32,
    pub seed: u64,
    /// When the accounts open; the payments follow, `step` apart.
    pub start: DateTime<Utc>,
    pub step: chrono::Duration,
}

impl SeedPlan {
    /// `payments` spread evenly over `days` that end `before_now` ago.
    pub fn spread(
        payments: u64,
        days: u32,
        before_now: chrono::Duration,
    ) -> (DateTime<Utc>, chrono::Duration) {
        let span = chrono::Duration::days(i64::from(days));
        let step = span / i32::try_from(payments.max(1)).unwrap_or(i32::MAX);
        (Utc::now() - before_now - span, step)
    }

    fn at(&self, number: u64) -> DateTime<Utc> {
        self.start + self.step * i32::try_from(number + 1).unwrap_or(i32::MAX)
    }
}

/// A UUID v7 of `at`, as if made then.
fn id_at(at: DateTime<Utc>) -> Uuid {
    Uuid::new_v7(Timestamp::from_unix(NoContext, at.timestamp().max(0) as u64, at.timestamp_subsec_nanos()))
}

fn text(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// The rows of one chunk, in `COPY … FROM STDIN` text format.
#[derive(Debug, Default)]
pub struct Chunk {
    pub payments: String,
    pub entries: String,
    pub events: String,
    pub payment_count: u64,
    pub done: u64,
}

/// The seeded accounts and their running balances: the generator's state
/// between chunks.
#[derive(Debug)]
pub struct Ledger {
    pub accounts: Vec<Uuid>,
    pub balances: Vec<i64>,
    plan: SeedPlan,
    rng: SmallRng,
}

impl Ledger {
    pub fn new(plan: &SeedPlan) -> Self {
        let accounts = (0..plan.accounts).map(|_| id_at(plan.start)).collect();
        Ledger {
            accounts,
            balances: vec![plan.initial_balance; plan.accounts as usize],
            plan: *plan,
            rng: SmallRng::seed_from_u64(plan.seed),
        }
    }

    /// Accounts as `COPY` rows (id, balance 0: the balances are set from
    /// the entries once every chunk is written) and their issuance entries.
    pub fn accounts_rows(&self) -> (String, String) {
        let (mut accounts, mut entries) = (String::new(), String::new());
        let (at, issued) = (text(self.plan.start), self.plan.initial_balance);
        for id in &self.accounts {
            let _ = writeln!(accounts, "{id}\t0\tUSD\t{at}");
            let _ = writeln!(entries, "{id}\t\\N\tissuance\t{issued}\tUSD\t{at}\t{issued}");
        }
        (accounts, entries)
    }

    /// The next `count` payments, numbered from `first_number`, each made
    /// and settled at its time in the plan. About one in fifty asks for more than any
    /// balance holds, so the mix has failures; one in ten carries metadata.
    pub fn chunk(&mut self, count: u64, first_number: u64) -> Chunk {
        let mut chunk = Chunk { payment_count: count, ..Chunk::default() };
        let n = self.accounts.len();
        for number in first_number..first_number + count {
            let from = self.rng.random_range(0..n);
            let to = (from + self.rng.random_range(1..n)) % n;
            let amount: i64 =
                if self.rng.random_ratio(1, 50) { i64::MAX / 4 } else { self.rng.random_range(1..=10_000) };
            let (payer, payee) = (self.accounts[from], self.accounts[to]);
            let made = self.plan.at(number);
            let (id, at) = (id_at(made), text(made));
            let metadata =
                if number % 10 == 0 { format!("{{\"order\": \"o-{number}\"}}") } else { "{}".to_owned() };
            let covered = self.balances[from] >= amount;
            let (status, reason) = if covered { ("done", "\\N") } else { ("failed", "insufficient_funds") };
            let _ = writeln!(
                chunk.payments,
                "{id}\t{payer}\t{payee}\t{amount}\t{status}\t{reason}\tUSD\t{metadata}\t{at}\t{at}"
            );
            let _ =
                writeln!(chunk.events, "{}\tpayment.created\t{id}\tpending\t\\N\t{at}\t{at}", id_at(made));
            let _ = writeln!(
                chunk.events,
                "{}\tpayment.{status}\t{id}\t{status}\t{reason}\t{at}\t{at}",
                id_at(made)
            );
            if covered {
                self.balances[from] -= amount;
                self.balances[to] += amount;
                chunk.done += 1;
                // Each entry's balance after it: entries are written in the
                // order of their times, which is each account's order.
                let (payer_after, payee_after) = (self.balances[from], self.balances[to]);
                let _ =
                    writeln!(chunk.entries, "{payer}\t{id}\tdebit\t{}\tUSD\t{at}\t{payer_after}", -amount);
                let _ = writeln!(chunk.entries, "{payee}\t{id}\tcredit\t{amount}\tUSD\t{at}\t{payee_after}");
            }
        }
        chunk
    }
}

/// What a seed wrote.
#[derive(Debug)]
pub struct Seeded {
    pub payments: u64,
    pub done: u64,
    pub elapsed: Duration,
}

/// Writes `plan` in one transaction, a chunk at a time, with a bar on
/// standard error when `progress`.
pub async fn run(primary: &PgPool, plan: SeedPlan, progress: bool) -> Result<Seeded> {
    let started = Instant::now();
    let bar = if progress { ProgressBar::new(plan.payments) } else { ProgressBar::hidden() };
    bar.set_style(
        ProgressStyle::with_template("seed-ledger [{bar:30}] {pos}/{len} payments, {per_sec}, eta {eta}")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    let mut ledger = Ledger::new(&plan);
    let mut tx = primary.begin().await?;
    let (accounts, issuance) = ledger.accounts_rows();
    db::seed::accounts(&mut tx, &accounts, &issuance, plan.initial_balance * i64::from(plan.accounts))
        .await?;
    let (mut written, mut done) = (0, 0);
    while written < plan.payments {
        let count = u64::from(plan.chunk).min(plan.payments - written);
        let chunk = ledger.chunk(count, written);
        db::seed::chunk(&mut tx, &chunk.payments, &chunk.entries, &chunk.events).await?;
        written += count;
        done += chunk.done;
        bar.set_position(written);
    }
    db::seed::balances(&mut tx, &ledger.accounts, &ledger.balances).await?;
    tx.commit().await?;
    bar.finish_and_clear();
    Ok(Seeded { payments: written, done, elapsed: started.elapsed() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> SeedPlan {
        let (start, step) = SeedPlan::spread(5_000, 2, chrono::Duration::minutes(10));
        SeedPlan { payments: 5_000, accounts: 7, initial_balance: 20_000, chunk: 1_000, seed: 1, start, step }
    }

    #[test]
    fn payments_are_dated_in_order_over_the_days_before_now() {
        let plan = plan();
        let (first, last) = (plan.at(0), plan.at(4_999));
        assert!(first < last && last <= Utc::now() - chrono::Duration::minutes(10), "{first} .. {last}");
        assert!(last - first > chrono::Duration::hours(47), "{first} .. {last}");
        let (a, b) = (id_at(first), id_at(last));
        assert!(a < b, "ids ordered by time");
        let ms = b.get_timestamp().unwrap().to_unix();
        assert_eq!(ms.0 as i64, last.timestamp(), "the id carries the payment's time");
    }

    #[test]
    fn money_is_conserved_and_no_balance_goes_negative() {
        let plan = plan();
        let mut ledger = Ledger::new(&plan);
        let (mut done, mut entries) = (0, 0);
        for c in 0..5 {
            let chunk = ledger.chunk(1_000, c * 1_000);
            done += chunk.done;
            entries += chunk.entries.lines().count() as u64;
            assert_eq!(chunk.payments.lines().count(), 1_000);
            assert_eq!(chunk.events.lines().count(), 2_000, "created and one end per payment");
        }
        assert_eq!(entries, 2 * done, "a debit and a credit per done payment, none for a failed one");
        assert!(done > 0 && done < 5_000, "a mix of done and failed: {done}");
        assert_eq!(ledger.balances.iter().sum::<i64>(), 7 * 20_000);
        assert!(ledger.balances.iter().all(|b| *b >= 0), "{:?}", ledger.balances);
    }

    #[test]
    fn failed_payments_carry_their_reason_and_no_entries() {
        let mut ledger = Ledger::new(&plan());
        let chunk = ledger.chunk(2_000, 0);
        let failed: Vec<&str> = chunk.payments.lines().filter(|l| l.contains("\tfailed\t")).collect();
        assert!(!failed.is_empty());
        for line in failed {
            assert!(line.contains("\tinsufficient_funds\t"), "{line}");
            let id = line.split('\t').next().unwrap();
            assert!(!chunk.entries.contains(id), "a failed payment has no entry: {id}");
        }
    }
}

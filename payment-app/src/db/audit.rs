//! The read-only queries behind `payment-app audit`. Each returns the
//! offending rows (a few, for the report) and how many there are.

use std::time::Duration;

use sqlx::PgPool;
use uuid::Uuid;

use crate::error::Result;

/// Examples shown per violated check.
const EXAMPLES: i64 = 5;

/// Rows that break one invariant: how many, and a few of them as text.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Violations {
    pub count: i64,
    pub examples: Vec<String>,
}

pub async fn negative_balances(pool: &PgPool) -> Result<Violations> {
    let rows: Vec<(Uuid, i64, i64)> = sqlx::query_as(
        "SELECT id, balance, count(*) OVER () FROM accounts WHERE balance < 0 ORDER BY id LIMIT $1",
    )
    .bind(EXAMPLES)
    .fetch_all(pool)
    .await?;
    Ok(collect(rows, |(id, balance, _)| format!("account {id}: balance {balance} minor units")))
}

pub async fn balances_off_ledger(pool: &PgPool) -> Result<Violations> {
    let rows: Vec<(Uuid, i64, i64, i64)> = sqlx::query_as(
        "WITH sums AS (SELECT account_id, sum(amount)::bigint AS total FROM ledger_entries GROUP BY account_id) \
         SELECT a.id, a.balance, COALESCE(s.total, 0), count(*) OVER () \
         FROM accounts a LEFT JOIN sums s ON s.account_id = a.id \
         WHERE a.balance <> COALESCE(s.total, 0) ORDER BY a.id LIMIT $1",
    )
    .bind(EXAMPLES)
    .fetch_all(pool)
    .await?;
    Ok(collect(rows, |(id, balance, ledger, _)| {
        format!("account {id}: balance {balance}, ledger sum {ledger} (minor units)")
    }))
}

/// Sum of all balances and sum of all issuance, in minor units.
pub async fn money_totals(pool: &PgPool) -> Result<(i64, i64)> {
    let totals = sqlx::query_as(
        "SELECT (SELECT COALESCE(sum(balance), 0)::bigint FROM accounts), \
                (SELECT COALESCE(sum(amount), 0)::bigint FROM ledger_entries WHERE kind = 'issuance')",
    )
    .fetch_one(pool)
    .await?;
    Ok(totals)
}

/// Payments whose ledger entries do not match their status: a `done` one
/// needs exactly its debit of the payer and its credit of the payee for
/// its amount; any other needs none.
pub async fn payments_off_ledger(pool: &PgPool) -> Result<Violations> {
    let rows: Vec<(Uuid, String, i64, i64)> = sqlx::query_as(
        "SELECT p.id, p.status, count(l.id), count(*) OVER () \
         FROM payments p LEFT JOIN ledger_entries l ON l.payment_id = p.id \
         GROUP BY p.id \
         HAVING CASE WHEN p.status = 'done' THEN \
                  count(l.id) <> 2 \
                  OR count(*) FILTER (WHERE l.kind = 'debit' AND l.account_id = p.from_account AND l.amount = -p.amount) <> 1 \
                  OR count(*) FILTER (WHERE l.kind = 'credit' AND l.account_id = p.to_account AND l.amount = p.amount) <> 1 \
                ELSE count(l.id) <> 0 END \
         ORDER BY p.id LIMIT $1",
    )
    .bind(EXAMPLES)
    .fetch_all(pool)
    .await?;
    Ok(collect(rows, |(id, status, entries, _)| {
        format!("payment {id}: {status} with {entries} ledger entries")
    }))
}

pub async fn stuck_pending(pool: &PgPool, older_than: Duration) -> Result<Violations> {
    let rows: Vec<(Uuid, f64, i64)> = sqlx::query_as(
        "SELECT id, extract(epoch FROM now() - created_at)::float8, count(*) OVER () FROM payments \
         WHERE status = 'pending' AND created_at < now() - make_interval(secs => $1) \
         ORDER BY created_at LIMIT $2",
    )
    .bind(older_than.as_secs_f64())
    .bind(EXAMPLES)
    .fetch_all(pool)
    .await?;
    Ok(collect(rows, |(id, age, _)| format!("payment {id}: pending for {age:.0}s")))
}

pub async fn payment_counts(pool: &PgPool) -> Result<Vec<(String, i64)>> {
    let rows = sqlx::query_as("SELECT status, count(*) FROM payments GROUP BY status ORDER BY status")
        .fetch_all(pool)
        .await?;
    Ok(rows)
}

/// Every query above puts the total count (a window count) last in each row.
fn collect<R: TotalLast>(rows: Vec<R>, describe: impl Fn(&R) -> String) -> Violations {
    Violations {
        count: rows.first().map_or(0, TotalLast::total),
        examples: rows.iter().map(describe).collect(),
    }
}

trait TotalLast {
    fn total(&self) -> i64;
}

impl<A, B> TotalLast for (A, B, i64) {
    fn total(&self) -> i64 {
        self.2
    }
}

impl<A, B, C> TotalLast for (A, B, C, i64) {
    fn total(&self) -> i64 {
        self.3
    }
}

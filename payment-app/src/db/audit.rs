//! The read-only queries behind `payment-app audit`. Each returns the
//! offending rows (a few, for the report) and how many there are.

use std::time::Duration;

use sqlx::PgPool;

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
    let rows = sqlx::query!(
        r#"SELECT id, balance, count(*) OVER () AS "total!" FROM accounts WHERE balance < 0 ORDER BY id LIMIT $1"#,
        EXAMPLES,
    )
    .fetch_all(pool)
    .await?;
    Ok(Violations {
        count: rows.first().map_or(0, |r| r.total),
        examples: rows
            .iter()
            .map(|r| format!("account {}: balance {} minor units", r.id, r.balance))
            .collect(),
    })
}

pub async fn balances_off_ledger(pool: &PgPool) -> Result<Violations> {
    let rows = sqlx::query!(
        r#"WITH sums AS (SELECT account_id, sum(amount)::bigint AS total FROM ledger_entries GROUP BY account_id)
           SELECT a.id, a.balance, COALESCE(s.total, 0) AS "ledger!", count(*) OVER () AS "total!"
           FROM accounts a LEFT JOIN sums s ON s.account_id = a.id
           WHERE a.balance <> COALESCE(s.total, 0) ORDER BY a.id LIMIT $1"#,
        EXAMPLES,
    )
    .fetch_all(pool)
    .await?;
    Ok(Violations {
        count: rows.first().map_or(0, |r| r.total),
        examples: rows
            .iter()
            .map(|r| {
                format!("account {}: balance {}, ledger sum {} (minor units)", r.id, r.balance, r.ledger)
            })
            .collect(),
    })
}

/// Sum of all balances and sum of all issuance, in minor units.
pub async fn money_totals(pool: &PgPool) -> Result<(i64, i64)> {
    let totals = sqlx::query!(
        r#"SELECT (SELECT COALESCE(sum(balance), 0)::bigint FROM accounts) AS "balances!",
                  (SELECT COALESCE(sum(amount), 0)::bigint FROM ledger_entries WHERE kind = 'issuance') AS "issuance!""#,
    )
    .fetch_one(pool)
    .await?;
    Ok((totals.balances, totals.issuance))
}

/// Payments whose ledger entries do not match their status: a `done` one
/// needs exactly its debit of the payer and its credit of the payee for
/// its amount; any other needs none.
pub async fn payments_off_ledger(pool: &PgPool) -> Result<Violations> {
    let rows = sqlx::query!(
        r#"SELECT p.id, p.status, count(l.id) AS "entries!", count(*) OVER () AS "total!"
           FROM payments p LEFT JOIN ledger_entries l ON l.payment_id = p.id
           GROUP BY p.id
           HAVING CASE WHEN p.status = 'done' THEN
                    count(l.id) <> 2
                    OR count(*) FILTER (WHERE l.kind = 'debit' AND l.account_id = p.from_account AND l.amount = -p.amount) <> 1
                    OR count(*) FILTER (WHERE l.kind = 'credit' AND l.account_id = p.to_account AND l.amount = p.amount) <> 1
                  ELSE count(l.id) <> 0 END
           ORDER BY p.id LIMIT $1"#,
        EXAMPLES,
    )
    .fetch_all(pool)
    .await?;
    Ok(Violations {
        count: rows.first().map_or(0, |r| r.total),
        examples: rows
            .iter()
            .map(|r| format!("payment {}: {} with {} ledger entries", r.id, r.status, r.entries))
            .collect(),
    })
}

pub async fn stuck_pending(pool: &PgPool, older_than: Duration) -> Result<Violations> {
    let rows = sqlx::query!(
        r#"SELECT id, extract(epoch FROM now() - created_at)::float8 AS "age!", count(*) OVER () AS "total!"
           FROM payments
           WHERE status = 'pending' AND created_at < now() - make_interval(secs => $1)
           ORDER BY created_at LIMIT $2"#,
        older_than.as_secs_f64(),
        EXAMPLES,
    )
    .fetch_all(pool)
    .await?;
    Ok(Violations {
        count: rows.first().map_or(0, |r| r.total),
        examples: rows.iter().map(|r| format!("payment {}: pending for {:.0}s", r.id, r.age)).collect(),
    })
}

pub async fn payment_counts(pool: &PgPool) -> Result<Vec<(String, i64)>> {
    let rows =
        sqlx::query!(r#"SELECT status, count(*) AS "count!" FROM payments GROUP BY status ORDER BY status"#)
            .fetch_all(pool)
            .await?;
    Ok(rows.into_iter().map(|r| (r.status, r.count)).collect())
}

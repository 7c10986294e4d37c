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
        r#"WITH sums AS (SELECT account_id, sum(amount) AS total FROM ledger_entries GROUP BY account_id)
           SELECT a.id, a.balance, COALESCE(s.total, 0)::text AS "ledger!", count(*) OVER () AS "total!"
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

/// The sum of all balances, the sum of all issuance in the ledger, and the
/// running total of issuance that the total limit is checked against, in
/// minor units. Sums are numeric, shown as text: a sum of balances that each
/// fit a bigint need not fit one itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MoneyTotals {
    pub balances: String,
    pub issuance: String,
    pub issuance_total: String,
    /// Whether balances equal issuance (compared in the database, as numbers).
    pub conserved: bool,
    /// Whether the running total equals the ledger's issuance.
    pub total_kept: bool,
}

pub async fn money_totals(pool: &PgPool) -> Result<MoneyTotals> {
    let row = sqlx::query!(
        r#"SELECT b.total::text AS "balances!", i.total::text AS "issuance!", t.total::text AS "issuance_total!",
                  b.total = i.total AS "conserved!", t.total = i.total AS "total_kept!"
           FROM (SELECT COALESCE(sum(balance), 0) AS total FROM accounts) AS b,
                (SELECT COALESCE(sum(amount), 0) AS total FROM ledger_entries WHERE kind = 'issuance') AS i,
                issuance_total AS t"#,
    )
    .fetch_one(pool)
    .await?;
    Ok(MoneyTotals {
        balances: row.balances,
        issuance: row.issuance,
        issuance_total: row.issuance_total,
        conserved: row.conserved,
        total_kept: row.total_kept,
    })
}

/// Currencies whose accounts' balances do not add up to the issuance in
/// that currency: money conserved in each currency on its own, as no
/// payment converts.
pub async fn currencies_not_conserved(pool: &PgPool) -> Result<Violations> {
    let rows = sqlx::query!(
        r#"WITH b AS (SELECT currency, sum(balance) AS total FROM accounts GROUP BY currency),
                i AS (SELECT a.currency, sum(l.amount) AS total
                      FROM ledger_entries l JOIN accounts a ON a.id = l.account_id
                      WHERE l.kind = 'issuance' GROUP BY a.currency)
           SELECT COALESCE(b.currency, i.currency) AS "currency!", COALESCE(b.total, 0)::text AS "balances!",
                  COALESCE(i.total, 0)::text AS "issuance!", count(*) OVER () AS "total!"
           FROM b FULL JOIN i ON i.currency = b.currency
           WHERE COALESCE(b.total, 0) <> COALESCE(i.total, 0)
           ORDER BY 1 LIMIT $1"#,
        EXAMPLES,
    )
    .fetch_all(pool)
    .await?;
    Ok(Violations {
        count: rows.first().map_or(0, |r| r.total),
        examples: rows
            .iter()
            .map(|r| {
                format!("{}: balances {}, issuance {} (minor units)", r.currency, r.balances, r.issuance)
            })
            .collect(),
    })
}

/// Ledger entries and payments that cross currencies: an entry in another
/// currency than its account's or its payment's, or a payment whose
/// accounts are not both in its currency. The foreign keys refuse all of
/// these; this finds them should the keys ever have been dropped.
pub async fn currency_crossings(pool: &PgPool) -> Result<Violations> {
    let rows = sqlx::query!(
        r#"SELECT what AS "what!", count(*) OVER () AS "total!" FROM (
               SELECT format('ledger entry %s: %s on account %s in %s', l.id, l.currency, a.id, a.currency) AS what
               FROM ledger_entries l JOIN accounts a ON a.id = l.account_id
               WHERE l.currency <> a.currency
               UNION ALL
               SELECT format('ledger entry %s: %s for payment %s in %s', l.id, l.currency, p.id, p.currency)
               FROM ledger_entries l JOIN payments p ON p.id = l.payment_id
               WHERE l.currency <> p.currency
               UNION ALL
               SELECT format('payment %s in %s between accounts in %s and %s', p.id, p.currency, f.currency, t.currency)
               FROM payments p JOIN accounts f ON f.id = p.from_account JOIN accounts t ON t.id = p.to_account
               WHERE p.currency <> f.currency OR p.currency <> t.currency
           ) AS found ORDER BY 1 LIMIT $1"#,
        EXAMPLES,
    )
    .fetch_all(pool)
    .await?;
    Ok(Violations {
        count: rows.first().map_or(0, |r| r.total),
        examples: rows.into_iter().map(|r| r.what).collect(),
    })
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

/// The triggers that keep the ledger append-only and settled payments
/// frozen, each missing or disabled one by name.
pub async fn missing_guards(pool: &PgPool) -> Result<Violations> {
    let missing = sqlx::query_scalar!(
        r#"SELECT g.name AS "name!"
           FROM unnest(ARRAY['ledger_entries_append_only', 'ledger_entries_no_truncate',
                             'payments_terminal_frozen', 'payments_terminal_undeletable']) AS g(name)
           WHERE NOT EXISTS (SELECT 1 FROM pg_trigger t WHERE t.tgname = g.name AND t.tgenabled <> 'D')
           ORDER BY g.name"#,
    )
    .fetch_all(pool)
    .await?;
    Ok(Violations { count: missing.len() as i64, examples: missing })
}

/// What `role` may do beyond what payment-app needs: each excess by name.
/// A role that does not exist is one excess too (the app cannot connect).
pub async fn app_role_excess(pool: &PgPool, role: &str) -> Result<Violations> {
    let excess = sqlx::query_scalar!(
        r#"WITH r AS (SELECT * FROM pg_roles WHERE rolname = $1)
           SELECT what AS "what!" FROM (
               SELECT 'role does not exist' AS what WHERE NOT EXISTS (SELECT 1 FROM r)
               UNION ALL SELECT 'superuser' FROM r WHERE rolsuper
               UNION ALL SELECT 'may create roles' FROM r WHERE rolcreaterole
               UNION ALL SELECT 'owns ' || c.relname FROM pg_class c JOIN r ON c.relowner = r.oid
                   WHERE c.relnamespace = 'public'::regnamespace
               UNION ALL SELECT 'may ' || p.privilege || ' ' || p.tbl FROM r,
                   (VALUES ('UPDATE', 'ledger_entries'), ('DELETE', 'ledger_entries'),
                           ('TRUNCATE', 'ledger_entries'), ('DELETE', 'payments'),
                           ('TRUNCATE', 'payments'), ('DELETE', 'accounts')) AS p(privilege, tbl)
                   WHERE has_table_privilege(r.oid, ('public.' || p.tbl)::regclass, p.privilege)
               UNION ALL SELECT 'may create in schema public' FROM r
                   WHERE has_schema_privilege(r.oid, 'public', 'CREATE')
           ) AS found ORDER BY what"#,
        role,
    )
    .fetch_all(pool)
    .await?;
    Ok(Violations { count: excess.len() as i64, examples: excess })
}

pub async fn payment_counts(pool: &PgPool) -> Result<Vec<(String, i64)>> {
    let rows =
        sqlx::query!(r#"SELECT status, count(*) AS "count!" FROM payments GROUP BY status ORDER BY status"#)
            .fetch_all(pool)
            .await?;
    Ok(rows.into_iter().map(|r| (r.status, r.count)).collect())
}

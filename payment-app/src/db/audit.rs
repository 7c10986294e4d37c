//! The read-only queries behind `payment-app audit`. Each returns the
//! offending rows (a few, for the report) and how many there are.
//!
//! Each query over history takes a [`Scope`]: everything (`audit --full`),
//! or what came after a checkpoint, whose sums stand in for the entries up
//! to it. The checks that are cheap at any size (negative balances, holds,
//! stuck payments, guards) read what they always read. All run on one
//! connection, so the audit's statement timeout is set once for the run.

use std::time::Duration;

use sqlx::PgConnection;
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

/// What one run checks of the history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    /// Every payment and refund, every entry (`after_entry` 0, no base).
    pub full: bool,
    /// Entries with a greater id are new; those up to it are summed in the
    /// checkpoint (`audit_checkpoint_accounts`, `issuance`).
    pub after_entry: i64,
    /// Issuance per currency up to `after_entry`: `{"USD": "100"}`.
    pub issuance: serde_json::Value,
    /// Payments with an id from this one on are in scope as one range of
    /// the primary key (ids are UUID v7: the payments made since the
    /// checkpoint, read in order rather than looked up one by one; max
    /// when `full`).
    pub new_from: Uuid,
    /// The other payments to check, all older than `new_from` (those with
    /// entries after the checkpoint, or open when it was taken), and the
    /// refunds to check (both ignored when `full`).
    pub payments: Vec<Uuid>,
    pub refunds: Vec<Uuid>,
    /// The smallest payment in scope, of `refunds`, and the smallest id
    /// their events can have: each query also bounds its table's primary
    /// key by it, so the planner reads only the new end of it (nil when
    /// `full`).
    pub payments_from: Uuid,
    pub refunds_from: Uuid,
    pub events_from: Uuid,
}

impl Scope {
    pub fn full() -> Self {
        Scope {
            full: true,
            after_entry: 0,
            issuance: serde_json::json!({}),
            new_from: Uuid::max(),
            payments: Vec::new(),
            refunds: Vec::new(),
            payments_from: Uuid::nil(),
            refunds_from: Uuid::nil(),
            events_from: Uuid::nil(),
        }
    }
}

/// The payments and refunds that came or changed after a checkpoint: those
/// with entries after `after_entry`, those made since `new_from` (a UUID v7
/// bound, time-ordered), and those still open when it was taken. A payment
/// settled before the checkpoint cannot change after it (the database
/// freezes it), so these are all that new work can have touched. The
/// payments made since `new_from` are not listed: the scope takes them as
/// one range ([`Scope::new_from`]); only the older ones are.
pub async fn scope_since(
    conn: &mut PgConnection,
    after_entry: i64,
    new_from: Uuid,
    open_payments: &[Uuid],
    open_refunds: &[Uuid],
) -> Result<(Vec<Uuid>, Vec<Uuid>)> {
    let refunds = sqlx::query_scalar!(
        r#"SELECT refund_id AS "id!" FROM ledger_entries WHERE id > $1 AND refund_id IS NOT NULL
           UNION SELECT id FROM refunds WHERE id >= $2
           UNION SELECT unnest($3::uuid[])"#,
        after_entry,
        new_from,
        open_refunds,
    )
    .fetch_all(&mut *conn)
    .await?;
    let payments = sqlx::query_scalar!(
        r#"SELECT id AS "id!" FROM (
               SELECT payment_id AS id FROM ledger_entries WHERE id > $1 AND payment_id IS NOT NULL
               UNION SELECT unnest($3::uuid[])
               UNION SELECT payment_id FROM refunds WHERE id = ANY($4)) AS older
           WHERE id < $2"#,
        after_entry,
        new_from,
        open_payments,
        &refunds,
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok((payments, refunds))
}

/// Accounts whose balance is below zero by more than their credit limit
/// (or whose limit is negative): the database's constraints refuse both,
/// this finds them should the constraints ever have been dropped.
pub async fn balances_past_credit(conn: &mut PgConnection) -> Result<Violations> {
    let rows = sqlx::query!(
        r#"SELECT id, balance, credit_limit, count(*) OVER () AS "total!" FROM accounts
           WHERE balance < -credit_limit OR credit_limit < 0 ORDER BY id LIMIT $1"#,
        EXAMPLES,
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(Violations {
        count: rows.first().map_or(0, |r| r.total),
        examples: rows
            .iter()
            .map(|r| {
                format!(
                    "account {}: balance {}, credit limit {} (minor units)",
                    r.id, r.balance, r.credit_limit
                )
            })
            .collect(),
    })
}

/// Accounts whose balance is not the sum of their entries other than holds
/// and releases, or whose held amount is not the sum of those. Within a
/// scope, the sums up to the checkpoint are the checkpoint's.
pub async fn balances_off_ledger(conn: &mut PgConnection, scope: &Scope) -> Result<Violations> {
    let rows = sqlx::query!(
        r#"WITH sums AS (
               SELECT account_id, sum(total) AS total, sum(held) AS held FROM (
                   SELECT account_id, total, held FROM audit_checkpoint_accounts WHERE NOT $2
                   UNION ALL
                   SELECT account_id,
                          CASE WHEN kind IN ('hold', 'release') THEN 0 ELSE amount END::numeric,
                          CASE WHEN kind IN ('hold', 'release') THEN amount ELSE 0 END::numeric
                   FROM ledger_entries WHERE id > $3) AS parts
               GROUP BY account_id)
           SELECT a.id, a.balance, a.held, COALESCE(s.total, 0)::text AS "ledger!",
                  COALESCE(s.held, 0)::text AS "ledger_held!", count(*) OVER () AS "total!"
           FROM accounts a LEFT JOIN sums s ON s.account_id = a.id
           WHERE a.balance <> COALESCE(s.total, 0) OR a.held <> COALESCE(s.held, 0) ORDER BY a.id LIMIT $1"#,
        EXAMPLES,
        scope.full,
        scope.after_entry,
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(Violations {
        count: rows.first().map_or(0, |r| r.total),
        examples: rows
            .iter()
            .map(|r| {
                format!(
                    "account {}: balance {}, ledger sum {}; held {}, ledger held {} (minor units)",
                    r.id, r.balance, r.ledger, r.held, r.ledger_held
                )
            })
            .collect(),
    })
}

/// Entries whose `balance_after` or `held_after` does not follow from the
/// entry before it on the same account (in the account's order,
/// `created_at` then `id`): the previous one's (zero for the first) plus
/// the amount, on the held amount for a `hold` or `release` and on the
/// balance for every other kind. Within a scope, only the entries after the
/// checkpoint are checked, each against its predecessor wherever that is
/// (one lookup in `ledger_entries_by_account`); those up to it were checked
/// by the run that wrote the checkpoint.
pub async fn balance_chain_broken(conn: &mut PgConnection, scope: &Scope) -> Result<Violations> {
    let rows = sqlx::query!(
        r#"SELECT l.id, l.account_id, l.balance_after, l.held_after, prev.balance_after AS "previous?",
                  prev.held_after AS "previous_held?", count(*) OVER () AS "total!"
           FROM ledger_entries l
           LEFT JOIN LATERAL (
               SELECT p.balance_after, p.held_after FROM ledger_entries p
               WHERE p.account_id = l.account_id AND (p.created_at, p.id) < (l.created_at, l.id)
               ORDER BY p.created_at DESC, p.id DESC LIMIT 1) prev ON true
           WHERE l.id > $2
             AND (l.balance_after IS DISTINCT FROM COALESCE(prev.balance_after, 0)
                      + CASE WHEN l.kind IN ('hold', 'release') THEN 0 ELSE l.amount END
                  OR l.held_after IS DISTINCT FROM COALESCE(prev.held_after, 0)
                      + CASE WHEN l.kind IN ('hold', 'release') THEN l.amount ELSE 0 END)
           ORDER BY l.id LIMIT $1"#,
        EXAMPLES,
        scope.after_entry,
    )
    .fetch_all(&mut *conn)
    .await?;
    let previous = |p: Option<i64>| p.map_or_else(|| "none".to_owned(), |p| p.to_string());
    Ok(Violations {
        count: rows.first().map_or(0, |r| r.total),
        examples: rows
            .iter()
            .map(|r| {
                format!(
                    "entry {} of account {}: balance_after {}, previous {}; held_after {}, previous {} \
                     (minor units)",
                    r.id,
                    r.account_id,
                    r.balance_after,
                    previous(r.previous),
                    r.held_after,
                    previous(r.previous_held)
                )
            })
            .collect(),
    })
}

/// The sum of all balances, the sum of all issuance in the ledger, the
/// credit granted (every account's limit) and used (every balance below
/// zero), and the running total of issuance that the total limit is
/// checked against, in minor units. Sums are numeric, shown as text: a sum
/// of balances that each fit a bigint need not fit one itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MoneyTotals {
    pub balances: String,
    pub issuance: String,
    pub credit_limits: String,
    pub credit_used: String,
    pub issuance_total: String,
    /// Whether balances equal issuance (compared in the database, as
    /// numbers): what accounts below zero owe is what others hold past
    /// issuance, so credit moves money without making any.
    pub conserved: bool,
    /// Whether the running total equals the ledger's issuance plus the
    /// credit limits (counted like issuance).
    pub total_kept: bool,
}

pub async fn money_totals(conn: &mut PgConnection, scope: &Scope) -> Result<MoneyTotals> {
    let row = sqlx::query!(
        r#"SELECT b.total::text AS "balances!", i.total::text AS "issuance!", b.credit::text AS "credit_limits!",
                  b.used::text AS "credit_used!", t.total::text AS "issuance_total!",
                  b.total = i.total AS "conserved!", t.total = i.total + b.credit AS "total_kept!"
           FROM (SELECT COALESCE(sum(balance), 0) AS total, COALESCE(sum(credit_limit), 0) AS credit,
                        COALESCE(sum(-balance) FILTER (WHERE balance < 0), 0) AS used FROM accounts) AS b,
                (SELECT COALESCE((SELECT sum(value::numeric) FROM jsonb_each_text($1::jsonb)), 0)
                        + COALESCE((SELECT sum(amount) FROM ledger_entries WHERE kind = 'issuance' AND id > $2), 0)
                        AS total) AS i,
                issuance_total AS t"#,
        scope.issuance,
        scope.after_entry,
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok(MoneyTotals {
        balances: row.balances,
        issuance: row.issuance,
        credit_limits: row.credit_limits,
        credit_used: row.credit_used,
        issuance_total: row.issuance_total,
        conserved: row.conserved,
        total_kept: row.total_kept,
    })
}

/// Currencies whose accounts' balances do not add up to the issuance in
/// that currency: money conserved in each currency on its own, as no
/// payment converts.
pub async fn currencies_not_conserved(conn: &mut PgConnection, scope: &Scope) -> Result<Violations> {
    let rows = sqlx::query!(
        r#"WITH b AS (SELECT currency, sum(balance) AS total FROM accounts GROUP BY currency),
                i AS (SELECT currency, sum(amount) AS total FROM (
                          SELECT key AS currency, value::numeric AS amount FROM jsonb_each_text($2::jsonb)
                          UNION ALL
                          SELECT a.currency, l.amount
                          FROM ledger_entries l JOIN accounts a ON a.id = l.account_id
                          WHERE l.kind = 'issuance' AND l.id > $3) AS parts
                      GROUP BY currency)
           SELECT COALESCE(b.currency, i.currency) AS "currency!", COALESCE(b.total, 0)::text AS "balances!",
                  COALESCE(i.total, 0)::text AS "issuance!", count(*) OVER () AS "total!"
           FROM b FULL JOIN i ON i.currency = b.currency
           WHERE COALESCE(b.total, 0) <> COALESCE(i.total, 0)
           ORDER BY 1 LIMIT $1"#,
        EXAMPLES,
        scope.issuance,
        scope.after_entry,
    )
    .fetch_all(&mut *conn)
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
/// currency than its account's or its payment's (a refund's entry, its
/// refund's payment's), or a payment whose
/// accounts are not both in its currency. The foreign keys refuse all of
/// these; this finds them should the keys ever have been dropped.
pub async fn currency_crossings(conn: &mut PgConnection, scope: &Scope) -> Result<Violations> {
    let rows = sqlx::query!(
        r#"SELECT what AS "what!", count(*) OVER () AS "total!" FROM (
               SELECT format('ledger entry %s: %s on account %s in %s', l.id, l.currency, a.id, a.currency) AS what
               FROM ledger_entries l JOIN accounts a ON a.id = l.account_id
               WHERE l.currency <> a.currency AND l.id > $2
               UNION ALL
               SELECT format('ledger entry %s: %s for payment %s in %s', l.id, l.currency, p.id, p.currency)
               FROM ledger_entries l JOIN payments p ON p.id = l.payment_id
               WHERE l.currency <> p.currency AND l.id > $2
               UNION ALL
               SELECT format('ledger entry %s: %s for refund %s of payment %s in %s', l.id, l.currency, r.id, p.id, p.currency)
               FROM ledger_entries l JOIN refunds r ON r.id = l.refund_id JOIN payments p ON p.id = r.payment_id
               WHERE l.currency <> p.currency AND l.id > $2
               UNION ALL
               SELECT format('payment %s in %s between accounts in %s and %s', p.id, p.currency, f.currency, t.currency)
               FROM (SELECT * FROM payments WHERE $3
                     UNION ALL
                     SELECT * FROM payments WHERE NOT $3 AND id >= $5
                     UNION ALL
                     SELECT q.* FROM unnest($4::uuid[]) AS s(id)
                     CROSS JOIN LATERAL (SELECT * FROM payments WHERE payments.id = s.id OFFSET 0) AS q
                     WHERE NOT $3) AS p
               JOIN accounts f ON f.id = p.from_account JOIN accounts t ON t.id = p.to_account
               WHERE p.currency <> f.currency OR p.currency <> t.currency
           ) AS found ORDER BY 1 LIMIT $1"#,
        EXAMPLES,
        scope.after_entry,
        scope.full,
        &scope.payments,
        scope.new_from,
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(Violations {
        count: rows.first().map_or(0, |r| r.total),
        examples: rows.into_iter().map(|r| r.what).collect(),
    })
}

/// Linked sets (an atomic batch's payments) whose members do not share one
/// status, or whose failed members do not share one reason: settle moves a
/// set in one statement, so a set is uniform at every moment.
pub async fn linked_sets_split(conn: &mut PgConnection, scope: &Scope) -> Result<Violations> {
    let rows = sqlx::query!(
        r#"SELECT link_id AS "link_id!", string_agg(DISTINCT status, ', ') AS "statuses!",
                  count(*) AS "members!", count(*) OVER () AS "total!"
           FROM payments
           WHERE link_id IS NOT NULL
             AND ($2 OR link_id = ANY(ARRAY(SELECT link_id FROM payments
                                           WHERE (id = ANY($3) OR id >= $5) AND id >= $4
                                             AND link_id IS NOT NULL)))
           GROUP BY link_id
           HAVING count(DISTINCT status) > 1 OR count(DISTINCT COALESCE(failure_reason, '')) > 1
           ORDER BY link_id LIMIT $1"#,
        EXAMPLES,
        scope.full,
        &scope.payments,
        scope.payments_from,
        scope.new_from,
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(Violations {
        count: rows.first().map_or(0, |r| r.total),
        examples: rows
            .iter()
            .map(|r| format!("linked set {} of {} payments: {}", r.link_id, r.members, r.statuses))
            .collect(),
    })
}

/// Payments whose ledger entries do not match their status. An automatic
/// payment `done` has exactly its debit of the payer and its credit of the
/// payee for its amount. A manual one has its hold of the amount on the
/// payer once authorized; then, voided or expired (or failed at capture),
/// the release of it too; captured (`done`), the release, the capture of
/// `amount_captured` from the payer and its credit to the payee. Any other
/// payment has none.
pub async fn payments_off_ledger(conn: &mut PgConnection, scope: &Scope) -> Result<Violations> {
    let rows = sqlx::query!(
        r#"WITH e AS (
               SELECT p.id, p.status, p.capture AS mode, count(l.id) AS entries,
                      count(*) FILTER (WHERE l.kind = 'debit' AND l.account_id = p.from_account AND l.amount = -p.amount) AS debit,
                      count(*) FILTER (WHERE l.kind = 'credit' AND l.account_id = p.to_account AND l.amount = COALESCE(p.amount_captured, p.amount)) AS credit,
                      count(*) FILTER (WHERE l.kind = 'hold' AND l.account_id = p.from_account AND l.amount = p.amount) AS hold,
                      count(*) FILTER (WHERE l.kind = 'release' AND l.account_id = p.from_account AND l.amount = -p.amount) AS release,
                      count(*) FILTER (WHERE l.kind = 'capture' AND l.account_id = p.from_account AND l.amount = -p.amount_captured) AS captures
               FROM (SELECT * FROM payments WHERE $2
                     UNION ALL
                     SELECT * FROM payments WHERE NOT $2 AND id >= $4
                     UNION ALL
                     SELECT q.* FROM unnest($3::uuid[]) AS s(id)
                     CROSS JOIN LATERAL (SELECT * FROM payments WHERE payments.id = s.id OFFSET 0) AS q
                     WHERE NOT $2) AS p
               LEFT JOIN ledger_entries l ON l.payment_id = p.id
               GROUP BY p.id, p.status, p.capture, p.from_account, p.to_account, p.amount, p.amount_captured)
           SELECT id AS "id!", status AS "status!", entries AS "entries!", count(*) OVER () AS "total!" FROM e
           WHERE NOT CASE
               WHEN mode = 'automatic' AND status = 'done' THEN entries = 2 AND debit = 1 AND credit = 1
               WHEN mode = 'automatic' THEN entries = 0
               WHEN status = 'authorized' THEN entries = 1 AND hold = 1
               WHEN status = 'done' THEN entries = 4 AND hold = 1 AND release = 1 AND captures = 1 AND credit = 1
               WHEN status IN ('voided', 'expired') OR (status = 'failed' AND hold = 1)
                   THEN entries = 2 AND hold = 1 AND release = 1
               ELSE entries = 0 END
           ORDER BY id LIMIT $1"#,
        EXAMPLES,
        scope.full,
        &scope.payments,
        scope.new_from,
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(Violations {
        count: rows.first().map_or(0, |r| r.total),
        examples: rows
            .iter()
            .map(|r| format!("payment {}: {} with {} ledger entries", r.id, r.status, r.entries))
            .collect(),
    })
}

/// Accounts holding more than their balance and credit cover (available
/// below zero), or
/// whose held amount is not the sum of their open authorizations. Those
/// are found among the payments in flight (`open_payments`): no index
/// names `status`, and a scan of all payments for them took 3.9 s of an
/// incremental audit at a million payments (BENCHMARKS.md).
pub async fn holds_off(conn: &mut PgConnection) -> Result<Violations> {
    let rows = sqlx::query!(
        r#"WITH open AS (
               SELECT p.from_account AS id, sum(p.amount) AS held
               FROM open_payments o JOIN payments p ON p.id = o.id
               WHERE p.status = 'authorized' GROUP BY p.from_account)
           SELECT a.id, a.balance, a.held, a.credit_limit, COALESCE(o.held, 0)::text AS "open!",
                  count(*) OVER () AS "total!"
           FROM accounts a LEFT JOIN open o ON o.id = a.id
           WHERE a.held::numeric > a.balance::numeric + a.credit_limit OR a.held <> COALESCE(o.held, 0)
           ORDER BY a.id LIMIT $1"#,
        EXAMPLES,
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(Violations {
        count: rows.first().map_or(0, |r| r.total),
        examples: rows
            .iter()
            .map(|r| {
                format!(
                    "account {}: balance {}, credit limit {}, held {}, open authorizations {} (minor units)",
                    r.id, r.balance, r.credit_limit, r.held, r.open
                )
            })
            .collect(),
    })
}

/// Payments that captured more than they authorized, or whose refunds (not
/// failed) pass what they captured, or that have refunds without being
/// `done`.
pub async fn refunds_off(conn: &mut PgConnection, scope: &Scope) -> Result<Violations> {
    let rows = sqlx::query!(
        r#"WITH r AS (
               SELECT payment_id, sum(amount) FILTER (WHERE status = 'done') AS done,
                      sum(amount) FILTER (WHERE status <> 'failed') AS kept
               FROM refunds WHERE ($2 OR payment_id = ANY($3) OR payment_id >= $5) AND payment_id >= $4 GROUP BY payment_id)
           SELECT p.id AS "id!", p.status AS "status!", p.amount AS "amount!", p.amount_captured, COALESCE(r.done, 0)::text AS "refunded!",
                  COALESCE(r.kept, 0)::text AS "kept!", count(*) OVER () AS "total!"
           FROM (SELECT * FROM payments WHERE $2
                     UNION ALL
                     SELECT * FROM payments WHERE NOT $2 AND id >= $5
                     UNION ALL
                     SELECT q.* FROM unnest($3::uuid[]) AS s(id)
                     CROSS JOIN LATERAL (SELECT * FROM payments WHERE payments.id = s.id OFFSET 0) AS q
                     WHERE NOT $2) AS p
           LEFT JOIN r ON r.payment_id = p.id
           WHERE (p.amount_captured > p.amount
                  OR COALESCE(r.kept, 0) > COALESCE(p.amount_captured, p.amount)
                  OR (r.payment_id IS NOT NULL AND p.status <> 'done'))
           ORDER BY p.id LIMIT $1"#,
        EXAMPLES,
        scope.full,
        &scope.payments,
        scope.payments_from,
        scope.new_from,
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(Violations {
        count: rows.first().map_or(0, |r| r.total),
        examples: rows
            .iter()
            .map(|r| {
                format!(
                    "payment {} ({}): amount {}, captured {:?}, refunded {}, refunds not failed {}",
                    r.id, r.status, r.amount, r.amount_captured, r.refunded, r.kept
                )
            })
            .collect(),
    })
}

/// Refunds whose ledger entries do not match their status: a `done` one has
/// exactly its debit of the payee and its credit of the payer; any other
/// none.
pub async fn refunds_off_ledger(conn: &mut PgConnection, scope: &Scope) -> Result<Violations> {
    let rows = sqlx::query!(
        r#"SELECT r.id, r.status, count(l.id) AS "entries!", count(*) OVER () AS "total!"
           FROM refunds r JOIN payments p ON p.id = r.payment_id
           LEFT JOIN ledger_entries l ON l.refund_id = r.id
           WHERE ($2 OR r.id = ANY($3)) AND r.id >= $4
           GROUP BY r.id, r.status, r.amount, p.from_account, p.to_account
           HAVING CASE WHEN r.status = 'done' THEN
                    count(l.id) <> 2
                    OR count(*) FILTER (WHERE l.kind = 'refund_debit' AND l.account_id = p.to_account AND l.amount = -r.amount) <> 1
                    OR count(*) FILTER (WHERE l.kind = 'refund_credit' AND l.account_id = p.from_account AND l.amount = r.amount) <> 1
                  ELSE count(l.id) <> 0 END
           ORDER BY r.id LIMIT $1"#,
        EXAMPLES,
        scope.full,
        &scope.refunds,
        scope.refunds_from,
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(Violations {
        count: rows.first().map_or(0, |r| r.total),
        examples: rows
            .iter()
            .map(|r| format!("refund {}: {} with {} ledger entries", r.id, r.status, r.entries))
            .collect(),
    })
}

/// Payments and refunds whose ends were not reached exactly once, as their
/// events record them: more than one end event, an end event that is not
/// their status, or (for those recorded with events, i.e. a
/// `payment.created` one or any refund) a terminal status without its end
/// event. An authorization is an end of `pending` too: at most one each.
/// Within a scope, the events read are those made since `events_from` (by
/// id): a payment's or refund's events are made after it.
pub async fn ends_off(conn: &mut PgConnection, scope: &Scope) -> Result<Violations> {
    let rows = sqlx::query!(
        r#"WITH ends AS MATERIALIZED (
               SELECT payment_id AS id, 'payment' AS what,
                      count(*) FILTER (WHERE type IN ('payment.done', 'payment.captured', 'payment.failed',
                                                      'payment.voided', 'payment.expired')) AS ends,
                      count(*) FILTER (WHERE type = 'payment.authorized') AS authorized,
                      count(*) FILTER (WHERE type = 'payment.created') AS created,
                      max(status) FILTER (WHERE type IN ('payment.done', 'payment.captured', 'payment.failed',
                                                         'payment.voided', 'payment.expired')) AS ended
               FROM events WHERE refund_id IS NULL AND id >= $5
               GROUP BY payment_id
               UNION ALL
               SELECT refund_id, 'refund', count(*), 0, 1, max(status)
               FROM events WHERE refund_id IS NOT NULL AND id >= $5
               GROUP BY refund_id),
           found AS (
               SELECT p.id, 'payment' AS what, p.status, COALESCE(e.ends, 0) AS ends,
                      COALESCE(e.authorized, 0) AS authorized, COALESCE(e.created, 0) AS created, e.ended
               FROM (SELECT * FROM payments WHERE $2
                     UNION ALL
                     SELECT * FROM payments WHERE NOT $2 AND id >= $7
                     UNION ALL
                     SELECT q.* FROM unnest($3::uuid[]) AS s(id)
                     CROSS JOIN LATERAL (SELECT * FROM payments WHERE payments.id = s.id OFFSET 0) AS q
                     WHERE NOT $2) AS p
               LEFT JOIN ends e ON e.id = p.id AND e.what = 'payment'
               UNION ALL
               SELECT r.id, 'refund', r.status, COALESCE(e.ends, 0), 0, 1, e.ended
               FROM refunds r LEFT JOIN ends e ON e.id = r.id AND e.what = 'refund'
               WHERE ($2 OR r.id = ANY($4)) AND r.id >= $6)
           SELECT id AS "id!", what AS "what!", status AS "status!", ends AS "ends!", count(*) OVER () AS "total!"
           FROM found
           WHERE ends > 1 OR authorized > 1
              OR (ends = 1 AND ended <> status)
              OR (created > 0 AND status NOT IN ('pending', 'authorized') AND ends = 0)
           ORDER BY id LIMIT $1"#,
        EXAMPLES,
        scope.full,
        &scope.payments,
        &scope.refunds,
        scope.events_from,
        scope.refunds_from,
        scope.new_from,
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(Violations {
        count: rows.first().map_or(0, |r| r.total),
        examples: rows
            .iter()
            .map(|r| format!("{} {}: {} with {} end events", r.what, r.id, r.status, r.ends))
            .collect(),
    })
}

/// Pending payments older than `older_than`, found among the payments in
/// flight (`open_payments`, kept by triggers that [`missing_guards`]
/// checks): no index names `status`, and this runs at every audit.
pub async fn stuck_pending(conn: &mut PgConnection, older_than: Duration) -> Result<Violations> {
    let rows = sqlx::query!(
        r#"SELECT p.id, extract(epoch FROM now() - p.created_at)::float8 AS "age!", count(*) OVER () AS "total!"
           FROM open_payments o JOIN payments p ON p.id = o.id
           WHERE p.status = 'pending' AND p.created_at < now() - make_interval(secs => $1)
           ORDER BY p.created_at LIMIT $2"#,
        older_than.as_secs_f64(),
        EXAMPLES,
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(Violations {
        count: rows.first().map_or(0, |r| r.total),
        examples: rows.iter().map(|r| format!("payment {}: pending for {:.0}s", r.id, r.age)).collect(),
    })
}

/// The triggers that keep the ledger append-only and settled payments
/// frozen, and those that keep `open_payments` (what the relay and the
/// stuck-payment check read), each missing or disabled one by name.
pub async fn missing_guards(conn: &mut PgConnection) -> Result<Violations> {
    let missing = sqlx::query_scalar!(
        r#"SELECT g.name AS "name!"
           FROM unnest(ARRAY['ledger_entries_append_only', 'ledger_entries_no_truncate',
                             'payments_terminal_frozen', 'payments_terminal_undeletable',
                             'refunds_terminal_frozen', 'refunds_never_deleted',
                             'payments_open_on_insert', 'payments_open_on_update']) AS g(name)
           WHERE NOT EXISTS (SELECT 1 FROM pg_trigger t WHERE t.tgname = g.name AND t.tgenabled <> 'D')
           ORDER BY g.name"#,
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(Violations { count: missing.len() as i64, examples: missing })
}

/// What `role` may do beyond what payment-app needs: each excess by name.
/// A role that does not exist is one excess too (the app cannot connect).
pub async fn app_role_excess(conn: &mut PgConnection, role: &str) -> Result<Violations> {
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
                           ('TRUNCATE', 'payments'), ('DELETE', 'accounts'),
                           ('DELETE', 'refunds'), ('UPDATE', 'account_daily'),
                           ('SELECT', 'audit_checkpoints'), ('UPDATE', 'audit_checkpoints'),
                           ('UPDATE', 'audit_checkpoint_accounts')) AS p(privilege, tbl)
                   WHERE has_table_privilege(r.oid, ('public.' || p.tbl)::regclass, p.privilege)
               UNION ALL SELECT 'may create in schema public' FROM r
                   WHERE has_schema_privilege(r.oid, 'public', 'CREATE')
           ) AS found ORDER BY what"#,
        role,
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(Violations { count: excess.len() as i64, examples: excess })
}

/// Payments by status: all of them, or those in the scope.
pub async fn payment_counts(conn: &mut PgConnection, scope: &Scope) -> Result<Vec<(String, i64)>> {
    let rows = sqlx::query!(
        r#"SELECT p.status AS "status!", count(*) AS "count!"
           FROM (SELECT * FROM payments WHERE $1
                     UNION ALL
                     SELECT * FROM payments WHERE NOT $1 AND id >= $3
                     UNION ALL
                     SELECT q.* FROM unnest($2::uuid[]) AS s(id)
                     CROSS JOIN LATERAL (SELECT * FROM payments WHERE payments.id = s.id OFFSET 0) AS q
                     WHERE NOT $1) AS p
           GROUP BY p.status ORDER BY p.status"#,
        scope.full,
        &scope.payments,
        scope.new_from,
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows.into_iter().map(|r| (r.status, r.count)).collect())
}

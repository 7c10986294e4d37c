//! An account's ledger entries as balance transactions: its history page by
//! page, and its balance at an instant. Both read the index
//! `ledger_entries_by_account` (account, created_at, id), the order in
//! which each entry's `balance_after` follows from the one before; the
//! balance at an instant also reads the credit limit then from
//! `credit_limit_changes_by_account`.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use crate::domain::{AccountId, PaymentId, RefundId};
use crate::error::Result;

/// One entry, as stored. Not the API's `EntryView`: that one shows
/// money in the account's currency, which the entry row does not hold
/// (the caller reads it once per page), and the console's balance chart
/// works on the minor units.
#[derive(Debug, Clone)]
pub struct Entry {
    pub id: i64,
    pub kind: String,
    pub payment_id: Option<PaymentId>,
    pub refund_id: Option<RefundId>,
    /// Signed minor units: negative for what leaves the account (or, for a
    /// `release`, its held amount).
    pub amount: i64,
    pub balance_after: i64,
    /// What was held on the account right after it (never negative).
    pub held_after: i64,
    pub created_at: DateTime<Utc>,
}

/// Which way a page runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    OldestFirst,
    NewestFirst,
}

/// Up to `limit` entries of `account` after the entry `after` (exclusive,
/// in `order`), or from the first (or latest) one. An `after` that is not
/// one of the account's entries gives an empty page: the cursor is looked
/// up with the account, never alone.
pub async fn page(
    pool: &PgPool,
    account: AccountId,
    after: Option<i64>,
    order: Order,
    limit: i64,
) -> Result<Vec<Entry>> {
    let account = account.as_uuid();
    // Two statements rather than one with a direction parameter: each is
    // an index range scan in its own direction.
    let rows =
        match order {
            Order::OldestFirst => sqlx::query_as!(
                Entry,
                r#"SELECT id, kind, payment_id AS "payment_id: PaymentId", refund_id AS "refund_id: RefundId",
                      amount, balance_after, held_after, created_at
               FROM ledger_entries
               WHERE account_id = $1
                 AND ($2::bigint IS NULL OR (created_at, id) >
                      (SELECT c.created_at, c.id FROM ledger_entries c WHERE c.id = $2 AND c.account_id = $1))
               ORDER BY created_at, id LIMIT $3"#,
                account,
                after,
                limit,
            )
            .fetch_all(pool)
            .await?,
            Order::NewestFirst => sqlx::query_as!(
                Entry,
                r#"SELECT id, kind, payment_id AS "payment_id: PaymentId", refund_id AS "refund_id: RefundId",
                      amount, balance_after, held_after, created_at
               FROM ledger_entries
               WHERE account_id = $1
                 AND ($2::bigint IS NULL OR (created_at, id) <
                      (SELECT c.created_at, c.id FROM ledger_entries c WHERE c.id = $2 AND c.account_id = $1))
               ORDER BY created_at DESC, id DESC LIMIT $3"#,
                account,
                after,
                limit,
            )
            .fetch_all(pool)
            .await?,
        };
    Ok(rows)
}

/// An account's balance, held amount and credit limit at an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BalanceAt {
    pub balance: i64,
    pub held: i64,
    pub credit_limit: i64,
}

/// An account's balance, held amount and credit limit at an instant, if it
/// existed then: the `balance_after` and `held_after` of its last entry at
/// or before `at` (zero when it had none yet), found by one lookup in
/// `ledger_entries_by_account`, and the limit from one more lookup in
/// `credit_limit_changes_by_account`: the `old_limit` of the first change
/// after `at` (what the limit was until then), or today's limit when it
/// has not changed since. `None` when the account does not exist or was
/// opened after `at`.
///
/// Changes made before credit limit changes were recorded (migration
/// 20261208200000) have no row: for instants before the first recorded
/// change the answer is the limit that change started from.
pub async fn balance_at(pool: &PgPool, account: AccountId, at: DateTime<Utc>) -> Result<Option<BalanceAt>> {
    let account: Uuid = account.as_uuid();
    let found = sqlx::query_as!(
        BalanceAt,
        r#"SELECT COALESCE(l.balance_after, 0) AS "balance!", COALESCE(l.held_after, 0) AS "held!",
                  COALESCE((SELECT c.old_limit FROM credit_limit_changes c
                            WHERE c.account_id = a.id AND c.changed_at > $2
                            ORDER BY c.changed_at LIMIT 1), a.credit_limit) AS "credit_limit!"
           FROM accounts a
           LEFT JOIN LATERAL (
               SELECT e.balance_after, e.held_after FROM ledger_entries e
               WHERE e.account_id = a.id AND e.created_at <= $2
               ORDER BY e.created_at DESC, e.id DESC LIMIT 1) l ON true
           WHERE a.id = $1 AND a.created_at <= $2"#,
        account,
        at,
    )
    .fetch_optional(pool)
    .await?;
    Ok(found)
}

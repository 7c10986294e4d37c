//! An account's ledger entries as balance transactions: its history page by
//! page, and its balance at an instant. Both read the index
//! `ledger_entries_by_account` (account, created_at, id), the order in
//! which each entry's `balance_after` follows from the one before.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use crate::domain::{AccountId, PaymentId, RefundId};
use crate::error::Result;

/// One entry, as stored.
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
                      amount, balance_after, created_at
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
                      amount, balance_after, created_at
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

/// An account's balance at an instant, if it existed then: the
/// `balance_after` of its last entry at or before `at` (zero when it had
/// none yet), read from the index alone; `None` when the account does not
/// exist or was opened after `at`.
pub async fn balance_at(pool: &PgPool, account: AccountId, at: DateTime<Utc>) -> Result<Option<i64>> {
    let account: Uuid = account.as_uuid();
    let balance = sqlx::query_scalar!(
        r#"SELECT COALESCE((SELECT l.balance_after FROM ledger_entries l
                            WHERE l.account_id = a.id AND l.created_at <= $2
                            ORDER BY l.created_at DESC, l.id DESC LIMIT 1), 0) AS "balance!"
           FROM accounts a WHERE a.id = $1 AND a.created_at <= $2"#,
        account,
        at,
    )
    .fetch_optional(pool)
    .await?;
    Ok(balance)
}

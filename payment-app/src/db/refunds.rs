//! Refunds: recording one under its payment's row lock, reading them back,
//! and the relay's sweep of pending ones. Settle applies them
//! (`db::settle`).

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::{Connection, PgConnection, PgPool};

use super::accounts::currency_from_db;
use crate::domain::refund::{self, RefundStatus};
use crate::domain::{AccountId, Amount, Currency, FailureReason, LinkId, PaymentId, PaymentStatus, RefundId};
use crate::error::{Error, Result};
use crate::events::RefundView;
use crate::messages::PaymentRoute;

/// A refund as the code past the database works with it. Not the API's
/// [`RefundView`], into which it turns: the amount here is minor units,
/// which the refund rules compare, where the view shows money in its
/// currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refund {
    pub id: RefundId,
    pub payment_id: PaymentId,
    pub amount: Amount,
    /// Its payment's.
    pub currency: Currency,
    pub reason: Option<String>,
    pub status: RefundStatus,
    pub failure_reason: Option<FailureReason>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Refund> for RefundView {
    fn from(r: Refund) -> Self {
        RefundView {
            id: r.id,
            payment_id: r.payment_id,
            amount: r.currency.money(r.amount),
            currency: r.currency,
            reason: r.reason,
            status: r.status,
            failure_reason: r.failure_reason,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

struct RefundRow {
    id: RefundId,
    payment_id: PaymentId,
    amount: i64,
    currency: String,
    reason: Option<String>,
    status: String,
    failure_reason: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl TryFrom<RefundRow> for Refund {
    type Error = Error;

    fn try_from(row: RefundRow) -> Result<Self> {
        let corrupt = |what: &str| Error::Corrupt(format!("refund {}: {what}", row.id));
        let failure_reason = match row.failure_reason.as_deref() {
            None => None,
            Some(r) => Some(FailureReason::from_db(r).ok_or_else(|| corrupt("unknown failure reason"))?),
        };
        Ok(Refund {
            id: row.id,
            payment_id: row.payment_id,
            amount: Amount::from_minor(row.amount).ok_or_else(|| corrupt("negative amount"))?,
            currency: currency_from_db(&row.currency)?,
            reason: row.reason,
            status: RefundStatus::from_db(&row.status).ok_or_else(|| corrupt("unknown status"))?,
            failure_reason,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

/// Records a refund of `payment_id` as `pending` (`amount` `None`: all
/// that is left), and returns it with the payment's route to queue.
///
/// The payment's row is locked first (`FOR NO KEY UPDATE`, as settle locks
/// it), so concurrent refunds of one payment are decided one after another,
/// each counting the pending refunds before it: together they never pass
/// what the payment moved. In a transaction of its own, or a savepoint of
/// the caller's (the idempotency key's).
pub async fn create(
    conn: &mut PgConnection,
    payment_id: PaymentId,
    amount: Option<Amount>,
    reason: Option<&str>,
) -> Result<(Refund, PaymentRoute)> {
    let mut tx = conn.begin().await?;
    let payment = sqlx::query!(
        r#"SELECT status, from_account AS "from_account: AccountId", to_account AS "to_account: AccountId",
                  currency, COALESCE(amount_captured, amount) AS "captured!"
           FROM payments WHERE id = $1 FOR NO KEY UPDATE"#,
        payment_id.as_uuid(),
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(Error::UnknownPayment(payment_id))?;
    let committed = sqlx::query_scalar!(
        r#"SELECT COALESCE(sum(amount), 0)::bigint AS "committed!" FROM refunds
           WHERE payment_id = $1 AND status <> 'failed'"#,
        payment_id.as_uuid(),
    )
    .fetch_one(&mut *tx)
    .await?;
    let corrupt = |what: &str| Error::Corrupt(format!("payment {payment_id}: {what}"));
    let status = PaymentStatus::from_db(&payment.status).ok_or_else(|| corrupt("unknown status"))?;
    let captured = Amount::from_minor(payment.captured).ok_or_else(|| corrupt("negative amount"))?;
    let committed = Amount::from_minor(committed).ok_or_else(|| corrupt("negative refunds"))?;
    let amount = refund::refund_amount(status, captured, committed, amount)?;
    let row = sqlx::query_as!(
        RefundRow,
        r#"INSERT INTO refunds (id, payment_id, amount, reason) VALUES ($1, $2, $3, $4)
           RETURNING id AS "id: RefundId", payment_id AS "payment_id: PaymentId", amount,
                     $5::text AS "currency!", reason, status, failure_reason, created_at, updated_at"#,
        RefundId::new().as_uuid(),
        payment_id.as_uuid(),
        amount.minor(),
        reason,
        payment.currency,
    )
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    let route = PaymentRoute {
        payment_id,
        from_account: payment.from_account,
        to_account: payment.to_account,
        link: None,
    };
    Ok((row.try_into()?, route))
}

pub async fn get(pool: &PgPool, id: RefundId) -> Result<Option<Refund>> {
    let row = sqlx::query_as!(
        RefundRow,
        r#"SELECT r.id AS "id: RefundId", r.payment_id AS "payment_id: PaymentId", r.amount, p.currency,
                  r.reason, r.status, r.failure_reason, r.created_at, r.updated_at
           FROM refunds r JOIN payments p ON p.id = r.payment_id WHERE r.id = $1"#,
        id.as_uuid(),
    )
    .fetch_optional(pool)
    .await?;
    row.map(Refund::try_from).transpose()
}

/// Every refund of a payment, oldest first.
pub async fn of_payment(pool: &PgPool, payment_id: PaymentId) -> Result<Vec<Refund>> {
    let rows = sqlx::query_as!(
        RefundRow,
        r#"SELECT r.id AS "id: RefundId", r.payment_id AS "payment_id: PaymentId", r.amount, p.currency,
                  r.reason, r.status, r.failure_reason, r.created_at, r.updated_at
           FROM refunds r JOIN payments p ON p.id = r.payment_id WHERE r.payment_id = $1 ORDER BY r.id"#,
        payment_id.as_uuid(),
    )
    .fetch_all(pool)
    .await?;
    rows.into_iter().map(Refund::try_from).collect()
}

/// Claims up to `limit` refunds pending for longer than `stale_after` (and
/// not relayed within it), stamps them, and returns their payments' routes:
/// settle applies a payment's pending refunds whenever the payment comes by.
pub async fn claim_stale(primary: &PgPool, stale_after: Duration, limit: i64) -> Result<Vec<PaymentRoute>> {
    let routes = sqlx::query_as!(
        PaymentRoute,
        r#"WITH stale AS (
             SELECT id FROM refunds
             WHERE status = 'pending' AND created_at < now() - make_interval(secs => $1)
               AND (relayed_at IS NULL OR relayed_at < now() - make_interval(secs => $1))
             ORDER BY created_at LIMIT $2
             FOR NO KEY UPDATE SKIP LOCKED),
           claimed AS (
             UPDATE refunds r SET relayed_at = now() FROM stale WHERE r.id = stale.id RETURNING r.payment_id)
         SELECT DISTINCT p.id AS "payment_id!: PaymentId", p.from_account AS "from_account!: AccountId",
                p.to_account AS "to_account!: AccountId", p.link_id AS "link?: LinkId"
         FROM claimed JOIN payments p ON p.id = claimed.payment_id"#,
        stale_after.as_secs_f64(),
        limit,
    )
    .fetch_all(primary)
    .await?;
    Ok(routes)
}

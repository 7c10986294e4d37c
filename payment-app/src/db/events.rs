//! Reading events back: the feed, one event, and the events a delivery
//! sends. Events are written by the statements that change what they
//! record (`payments::insert`, `settle`, `accounts::create` and `update`
//! for a credit limit), never on their own.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use super::accounts::{currency_from_db, metadata_from_db};
use crate::domain::refund::RefundStatus;
use crate::domain::{
    AccountId, Amount, Capture, EventId, EventType, FailureReason, PaymentId, PaymentStatus, RefundId,
};
use crate::error::{Error, Result};
use crate::events::{CreditLimitChangeView, Event, EventData, PaymentView, RefundView};

/// An event joined with what it is about: the payment fields that never
/// change (a payment or refund event), its refund, or its credit limit
/// change (an account event: no payment).
struct EventRow {
    id: EventId,
    kind: String,
    created_at: DateTime<Utc>,
    payment_id: Option<PaymentId>,
    from_account: Option<AccountId>,
    to_account: Option<AccountId>,
    amount: Option<i64>,
    currency: Option<String>,
    description: Option<String>,
    status: Option<String>,
    failure_reason: Option<String>,
    metadata: Option<serde_json::Value>,
    payment_created_at: Option<DateTime<Utc>>,
    payment_updated_at: Option<DateTime<Utc>>,
    capture: Option<String>,
    hold_secs: Option<i32>,
    hold_expires_at: Option<DateTime<Utc>>,
    amount_captured: Option<i64>,
    refund_id: Option<RefundId>,
    refund_amount: Option<i64>,
    refund_reason: Option<String>,
    refund_created_at: Option<DateTime<Utc>>,
    limit_account: Option<AccountId>,
    old_limit: Option<i64>,
    new_limit: Option<i64>,
    changed_at: Option<DateTime<Utc>>,
}

impl TryFrom<EventRow> for Event {
    type Error = Error;

    fn try_from(row: EventRow) -> Result<Self> {
        let corrupt = |what: &str| Error::Corrupt(format!("event {}: {what}", row.id));
        let kind = row.kind.parse::<EventType>().map_err(|_| corrupt("unknown type"))?;
        let currency = currency_from_db(row.currency.as_deref().ok_or_else(|| corrupt("no subject"))?)?;
        let money = |minor: Option<i64>, what: &str| {
            minor.and_then(Amount::from_minor).map(|a| currency.money(a)).ok_or_else(|| corrupt(what))
        };
        let Some(payment_id) = row.payment_id else {
            let data = EventData::CreditLimit(CreditLimitChangeView {
                account_id: row.limit_account.ok_or_else(|| corrupt("credit limit change missing"))?,
                currency,
                old_credit_limit: money(row.old_limit, "old credit limit")?,
                new_credit_limit: money(row.new_limit, "new credit limit")?,
                changed_at: row.changed_at.ok_or_else(|| corrupt("credit limit change missing"))?,
            });
            return Ok(Event { id: row.id, kind, created_at: row.created_at, data });
        };
        let failure_reason = match row.failure_reason.as_deref() {
            None => None,
            Some(reason) => {
                Some(FailureReason::from_db(reason).ok_or_else(|| corrupt("unknown failure reason"))?)
            }
        };
        let status = row.status.as_deref().ok_or_else(|| corrupt("no status"))?;
        let updated_at = row.payment_updated_at.ok_or_else(|| corrupt("no updated_at"))?;
        let data = match row.refund_id {
            Some(refund_id) => EventData::Refund(RefundView {
                id: refund_id,
                payment_id,
                amount: money(row.refund_amount, "refund amount")?,
                currency,
                reason: row.refund_reason,
                status: RefundStatus::from_db(status).ok_or_else(|| corrupt("unknown refund status"))?,
                failure_reason,
                created_at: row.refund_created_at.ok_or_else(|| corrupt("refund missing"))?,
                updated_at,
            }),
            None => EventData::Payment(PaymentView {
                id: payment_id,
                from_account: row.from_account.ok_or_else(|| corrupt("payment missing"))?,
                to_account: row.to_account.ok_or_else(|| corrupt("payment missing"))?,
                amount: money(row.amount, "negative amount")?,
                currency,
                payment_description: row.description,
                status: PaymentStatus::from_db(status).ok_or_else(|| corrupt("unknown status"))?,
                failure_reason,
                metadata: metadata_from_db(row.metadata.as_ref().ok_or_else(|| corrupt("payment missing"))?)?,
                created_at: row.payment_created_at.ok_or_else(|| corrupt("payment missing"))?,
                updated_at,
                capture: Capture::from_db(row.capture.as_deref().unwrap_or_default(), row.hold_secs)
                    .ok_or_else(|| corrupt("unknown capture"))?
                    .mode(),
                hold_expires_at: row.hold_expires_at,
                amount_captured: match row.amount_captured {
                    None => None,
                    Some(minor) => Some(money(Some(minor), "negative capture")?),
                },
                // Refunds come after every event of their payment.
                amount_refunded: currency.money(Amount::ZERO),
            }),
        };
        Ok(Event { id: row.id, kind, created_at: row.created_at, data })
    }
}

/// Events after `after` (from the first without it), oldest first.
pub async fn list_after(pool: &PgPool, after: Option<EventId>, limit: i64) -> Result<Vec<Event>> {
    let rows = sqlx::query_as!(
        EventRow,
        r#"SELECT e.id AS "id: EventId", e.type AS kind, e.created_at, p.id AS "payment_id?: PaymentId",
                  p.from_account AS "from_account?: AccountId", p.to_account AS "to_account?: AccountId",
                  p.amount AS "amount?", COALESCE(p.currency, a.currency) AS "currency?", p.description,
                  e.status, e.failure_reason, p.metadata AS "metadata?",
                  p.created_at AS "payment_created_at?", e.payment_updated_at, p.capture AS "capture?",
                  p.hold_secs,
                  CASE WHEN e.status IN ('pending', 'failed') THEN NULL ELSE p.hold_expires_at END AS hold_expires_at,
                  CASE WHEN e.status = 'done' THEN COALESCE(p.amount_captured, p.amount) END AS amount_captured,
                  e.refund_id AS "refund_id: RefundId", r.amount AS "refund_amount?", r.reason AS refund_reason,
                  r.created_at AS "refund_created_at?", c.account_id AS "limit_account?: AccountId",
                  c.old_limit AS "old_limit?", c.new_limit AS "new_limit?",
                  c.changed_at AS "changed_at?"
           FROM events e LEFT JOIN payments p ON p.id = e.payment_id LEFT JOIN refunds r ON r.id = e.refund_id
           LEFT JOIN credit_limit_changes c ON c.id = e.id AND e.payment_id IS NULL
           LEFT JOIN accounts a ON a.id = c.account_id
           WHERE e.id > $1 ORDER BY e.id LIMIT $2"#,
        after.map_or(Uuid::nil(), |id| id.as_uuid()),
        limit,
    )
    .fetch_all(pool)
    .await?;
    rows.into_iter().map(Event::try_from).collect()
}

/// The events among `ids`, in no particular order.
pub async fn get_many(pool: &PgPool, ids: &[EventId]) -> Result<Vec<Event>> {
    let ids: Vec<Uuid> = ids.iter().map(EventId::as_uuid).collect();
    let rows = sqlx::query_as!(
        EventRow,
        r#"SELECT e.id AS "id: EventId", e.type AS kind, e.created_at, p.id AS "payment_id?: PaymentId",
                  p.from_account AS "from_account?: AccountId", p.to_account AS "to_account?: AccountId",
                  p.amount AS "amount?", COALESCE(p.currency, a.currency) AS "currency?", p.description,
                  e.status, e.failure_reason, p.metadata AS "metadata?",
                  p.created_at AS "payment_created_at?", e.payment_updated_at, p.capture AS "capture?",
                  p.hold_secs,
                  CASE WHEN e.status IN ('pending', 'failed') THEN NULL ELSE p.hold_expires_at END AS hold_expires_at,
                  CASE WHEN e.status = 'done' THEN COALESCE(p.amount_captured, p.amount) END AS amount_captured,
                  e.refund_id AS "refund_id: RefundId", r.amount AS "refund_amount?", r.reason AS refund_reason,
                  r.created_at AS "refund_created_at?", c.account_id AS "limit_account?: AccountId",
                  c.old_limit AS "old_limit?", c.new_limit AS "new_limit?",
                  c.changed_at AS "changed_at?"
           FROM events e LEFT JOIN payments p ON p.id = e.payment_id LEFT JOIN refunds r ON r.id = e.refund_id
           LEFT JOIN credit_limit_changes c ON c.id = e.id AND e.payment_id IS NULL
           LEFT JOIN accounts a ON a.id = c.account_id
           WHERE e.id = ANY($1)"#,
        &ids,
    )
    .fetch_all(pool)
    .await?;
    rows.into_iter().map(Event::try_from).collect()
}

pub async fn get(pool: &PgPool, id: EventId) -> Result<Option<Event>> {
    Ok(get_many(pool, &[id]).await?.into_iter().next())
}

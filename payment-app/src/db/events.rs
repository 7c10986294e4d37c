//! Reading events back: the feed, one event, and the events a delivery
//! sends. Events are written by the statements that change payments
//! (`payments::insert`, `settle`), never on their own.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use super::accounts::{currency_from_db, metadata_from_db};
use crate::domain::refund::RefundStatus;
use crate::domain::{
    AccountId, Amount, Capture, EventId, EventType, FailureReason, PaymentId, PaymentStatus, RefundId,
};
use crate::error::{Error, Result};
use crate::events::{Event, EventData, PaymentView, RefundView};

/// An event joined with the payment fields that never change.
struct EventRow {
    id: EventId,
    kind: String,
    created_at: DateTime<Utc>,
    payment_id: PaymentId,
    from_account: AccountId,
    to_account: AccountId,
    amount: i64,
    currency: String,
    description: Option<String>,
    status: String,
    failure_reason: Option<String>,
    metadata: serde_json::Value,
    payment_created_at: DateTime<Utc>,
    payment_updated_at: DateTime<Utc>,
    capture: String,
    hold_secs: Option<i32>,
    hold_expires_at: Option<DateTime<Utc>>,
    amount_captured: Option<i64>,
    refund_id: Option<RefundId>,
    refund_amount: Option<i64>,
    refund_reason: Option<String>,
    refund_created_at: Option<DateTime<Utc>>,
}

impl TryFrom<EventRow> for Event {
    type Error = Error;

    fn try_from(row: EventRow) -> Result<Self> {
        let corrupt = |what: &str| Error::Corrupt(format!("event {}: {what}", row.id));
        let failure_reason = match row.failure_reason.as_deref() {
            None => None,
            Some(reason) => {
                Some(FailureReason::from_db(reason).ok_or_else(|| corrupt("unknown failure reason"))?)
            }
        };
        let currency = currency_from_db(&row.currency)?;
        let kind = row.kind.parse::<EventType>().map_err(|_| corrupt("unknown type"))?;
        let data = match row.refund_id {
            Some(refund_id) => EventData::Refund(RefundView {
                id: refund_id,
                payment_id: row.payment_id,
                amount: currency.money(
                    row.refund_amount.and_then(Amount::from_minor).ok_or_else(|| corrupt("refund amount"))?,
                ),
                currency,
                reason: row.refund_reason,
                status: RefundStatus::from_db(&row.status).ok_or_else(|| corrupt("unknown refund status"))?,
                failure_reason,
                created_at: row.refund_created_at.ok_or_else(|| corrupt("refund missing"))?,
                updated_at: row.payment_updated_at,
            }),
            None => EventData::Payment(PaymentView {
                id: row.payment_id,
                from_account: row.from_account,
                to_account: row.to_account,
                amount: currency
                    .money(Amount::from_minor(row.amount).ok_or_else(|| corrupt("negative amount"))?),
                currency,
                payment_description: row.description,
                status: PaymentStatus::from_db(&row.status).ok_or_else(|| corrupt("unknown status"))?,
                failure_reason,
                metadata: metadata_from_db(&row.metadata)?,
                created_at: row.payment_created_at,
                updated_at: row.payment_updated_at,
                capture: Capture::from_db(&row.capture, row.hold_secs)
                    .ok_or_else(|| corrupt("unknown capture"))?
                    .mode(),
                hold_expires_at: row.hold_expires_at,
                amount_captured: match row.amount_captured {
                    None => None,
                    Some(minor) => Some(
                        currency.money(Amount::from_minor(minor).ok_or_else(|| corrupt("negative capture"))?),
                    ),
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
        r#"SELECT e.id AS "id: EventId", e.type AS kind, e.created_at, p.id AS "payment_id: PaymentId",
                  p.from_account AS "from_account: AccountId", p.to_account AS "to_account: AccountId",
                  p.amount, p.currency, p.description, e.status, e.failure_reason,
                  p.metadata, p.created_at AS payment_created_at, e.payment_updated_at, p.capture, p.hold_secs,
                  CASE WHEN e.status IN ('pending', 'failed') THEN NULL ELSE p.hold_expires_at END AS hold_expires_at,
                  CASE WHEN e.status = 'done' THEN COALESCE(p.amount_captured, p.amount) END AS amount_captured,
                  e.refund_id AS "refund_id: RefundId", r.amount AS "refund_amount?", r.reason AS refund_reason,
                  r.created_at AS "refund_created_at?"
           FROM events e JOIN payments p ON p.id = e.payment_id LEFT JOIN refunds r ON r.id = e.refund_id
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
        r#"SELECT e.id AS "id: EventId", e.type AS kind, e.created_at, p.id AS "payment_id: PaymentId",
                  p.from_account AS "from_account: AccountId", p.to_account AS "to_account: AccountId",
                  p.amount, p.currency, p.description, e.status, e.failure_reason,
                  p.metadata, p.created_at AS payment_created_at, e.payment_updated_at, p.capture, p.hold_secs,
                  CASE WHEN e.status IN ('pending', 'failed') THEN NULL ELSE p.hold_expires_at END AS hold_expires_at,
                  CASE WHEN e.status = 'done' THEN COALESCE(p.amount_captured, p.amount) END AS amount_captured,
                  e.refund_id AS "refund_id: RefundId", r.amount AS "refund_amount?", r.reason AS refund_reason,
                  r.created_at AS "refund_created_at?"
           FROM events e JOIN payments p ON p.id = e.payment_id LEFT JOIN refunds r ON r.id = e.refund_id
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

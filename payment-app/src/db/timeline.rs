//! One payment's life as the console shows it: its events, its ledger
//! entries, and its webhook deliveries with their attempts. Client reads:
//! callers run them through [`super::Db::read`].
//!
//! No index is added for them, on purpose: each would cost every payment
//! a write on the hot path for a page an operator opens now and then.
//! Instead each query walks an index that exists:
//! - events by their primary key within the payment's own time window
//!   (event ids are UUID v7, made when the payment changed), filtered by
//!   payment: the rows read are the events of those few seconds;
//! - entries by `ledger_entries_one_side_per_payment`;
//! - deliveries and attempts through each endpoint (few) and then the
//!   endpoint's own keys, attempts from the payment's first event on.

use chrono::{DateTime, Duration, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use crate::domain::search::first_id_at;
use crate::domain::{AccountId, EndpointId, EventId, PaymentId, RefundId};
use crate::error::Result;
use crate::messages::TraceId;

/// The trace id intake recorded with payment `id` (traces on), if any.
/// One primary-key read of one column.
pub async fn trace_id(pool: &PgPool, id: PaymentId) -> Result<Option<TraceId>> {
    let stored: Option<Option<Vec<u8>>> = sqlx::query_scalar("SELECT trace_id FROM payments WHERE id = $1")
        .bind(id.as_uuid())
        .fetch_optional(pool)
        .await?;
    Ok(stored.flatten().as_deref().and_then(TraceId::from_bytes))
}

/// How far outside `[created_at, updated_at]` an event's id may be dated:
/// ids are made by the app's clock, the times by PostgreSQL's.
const CLOCK_SLACK: Duration = Duration::seconds(2);

/// The most rows of each kind one page shows.
const MAX_ROWS: i64 = 200;

#[derive(Debug, Clone)]
pub struct TimelineEvent {
    pub id: EventId,
    pub kind: String,
    pub status: String,
    pub failure_reason: Option<String>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct PaymentEntry {
    pub id: i64,
    pub account_id: AccountId,
    pub kind: String,
    pub refund_id: Option<RefundId>,
    /// Signed minor units.
    pub amount: i64,
    pub balance_after: i64,
    pub created_at: DateTime<Utc>,
}

/// One event's delivery to one endpoint.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub endpoint_id: EndpointId,
    pub url: String,
    pub event_id: EventId,
    pub state: String,
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct DeliveryAttempt {
    pub endpoint_id: EndpointId,
    pub event_id: EventId,
    pub attempt: i32,
    pub attempted_at: DateTime<Utc>,
    pub status_code: Option<i32>,
    pub error: Option<String>,
    pub duration_ms: i32,
    pub next_retry_at: Option<DateTime<Utc>>,
}

/// The ids an event made between `from` and `to` can have, with
/// [`CLOCK_SLACK`] either side.
fn id_window(from: DateTime<Utc>, to: DateTime<Utc>) -> (Uuid, Uuid) {
    let lower = first_id_at(from - CLOCK_SLACK).unwrap_or(Uuid::nil());
    let upper = first_id_at(to + CLOCK_SLACK).unwrap_or(Uuid::max());
    (lower, upper)
}

/// The payment's events made while it changed (`created_at` to
/// `updated_at`), oldest first.
pub async fn events(
    pool: &PgPool,
    payment: PaymentId,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
) -> Result<Vec<TimelineEvent>> {
    let (lower, upper) = id_window(created_at, updated_at);
    let rows = sqlx::query_as!(
        TimelineEvent,
        // A payment's events always carry its status (`events_subject`).
        r#"SELECT id AS "id: EventId", type AS kind, status AS "status!", failure_reason, created_at FROM events
           WHERE id >= $2 AND id < $3 AND payment_id = $1 ORDER BY id LIMIT $4"#,
        payment.as_uuid(),
        lower,
        upper,
        MAX_ROWS,
    )
    .fetch_all(pool)
    .await?;
    Ok(rows)
}

/// Every ledger entry of the payment and its refunds, in the order they
/// were made.
pub async fn entries(pool: &PgPool, payment: PaymentId) -> Result<Vec<PaymentEntry>> {
    let rows = sqlx::query_as!(
        PaymentEntry,
        r#"SELECT id, account_id AS "account_id: AccountId", kind, refund_id AS "refund_id: RefundId", amount,
                  balance_after, created_at
           FROM ledger_entries WHERE payment_id = $1 ORDER BY created_at, id LIMIT $2"#,
        payment.as_uuid(),
        MAX_ROWS,
    )
    .fetch_all(pool)
    .await?;
    Ok(rows)
}

/// The deliveries of `events` to every endpoint, by endpoint.
pub async fn deliveries(pool: &PgPool, events: &[EventId]) -> Result<Vec<Delivery>> {
    let ids: Vec<Uuid> = events.iter().map(EventId::as_uuid).collect();
    let rows = sqlx::query_as!(
        Delivery,
        r#"SELECT w.id AS "endpoint_id!: EndpointId", w.url AS "url!", d.event_id AS "event_id!: EventId",
                  d.state AS "state!", d.attempts AS "attempts!", d.next_attempt_at AS "next_attempt_at!"
           FROM webhook_endpoints w JOIN webhook_deliveries d ON d.endpoint_id = w.id AND d.event_id = ANY($1)
           ORDER BY w.id, d.event_id LIMIT $2"#,
        &ids,
        MAX_ROWS,
    )
    .fetch_all(pool)
    .await?;
    Ok(rows)
}

/// The attempts to deliver `events`, made at or after `since`, oldest first.
pub async fn attempts(
    pool: &PgPool,
    events: &[EventId],
    since: DateTime<Utc>,
) -> Result<Vec<DeliveryAttempt>> {
    let ids: Vec<Uuid> = events.iter().map(EventId::as_uuid).collect();
    let (lower, _) = id_window(since, since);
    let rows = sqlx::query_as!(
        DeliveryAttempt,
        r#"SELECT a.endpoint_id AS "endpoint_id!: EndpointId", a.event_id AS "event_id!: EventId",
                  a.attempt AS "attempt!", a.attempted_at AS "attempted_at!", a.status_code, a.error,
                  a.duration_ms AS "duration_ms!", a.next_retry_at
           FROM webhook_endpoints w JOIN webhook_attempts a ON a.endpoint_id = w.id AND a.id >= $2
           WHERE a.event_id = ANY($1) ORDER BY a.id LIMIT $3"#,
        &ids,
        lower,
        MAX_ROWS,
    )
    .fetch_all(pool)
    .await?;
    Ok(rows)
}

//! Payments: recording accepted ones (with their `payment.created` event)
//! and reading them back.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};

use uuid::Uuid;

use serde_json::Value;

use super::accounts::{currency_from_db, metadata_from_db};
use super::tx::begin_bounded_tx;
use crate::domain::hold::{self, Requested};
use crate::domain::{
    AccountId, Amount, Capture, Currency, EventId, FailureReason, LinkId, Metadata, MetadataError,
    MetadataPatch, NewPayment, PaymentId, PaymentStatus,
};
use crate::error::{Error, Result};
use crate::events::PaymentView;
use crate::messages::{PaymentRoute, TraceParent};

/// A payment as the code past the database works with it. Not the API's
/// [`PaymentView`], into which it turns: amounts here are minor units and
/// the capture is the parsed [`Capture`] that settle and holds decide on,
/// where the view shows money in its currency and only the capture mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payment {
    pub id: PaymentId,
    pub from_account: AccountId,
    pub to_account: AccountId,
    pub amount: Amount,
    pub currency: Currency,
    pub description: Option<String>,
    pub status: PaymentStatus,
    pub failure_reason: Option<FailureReason>,
    pub metadata: Metadata,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub capture: Capture,
    pub hold_expires_at: Option<DateTime<Utc>>,
    pub amount_captured: Option<Amount>,
    /// The sum of its refunds that are `done`.
    pub amount_refunded: Amount,
}

impl From<Payment> for PaymentView {
    fn from(p: Payment) -> Self {
        PaymentView {
            id: p.id,
            from_account: p.from_account,
            to_account: p.to_account,
            amount: p.currency.money(p.amount),
            currency: p.currency,
            payment_description: p.description,
            status: p.status,
            failure_reason: p.failure_reason,
            metadata: p.metadata,
            created_at: p.created_at,
            updated_at: p.updated_at,
            capture: p.capture.mode(),
            hold_expires_at: p.hold_expires_at,
            amount_captured: p.amount_captured.map(|a| p.currency.money(a)),
            amount_refunded: p.currency.money(p.amount_refunded),
        }
    }
}

/// A `payments` row as the queries here select it (`FromRow` for the one
/// search that cannot be a checked macro: `db::statements::payments`).
#[derive(sqlx::FromRow)]
pub(crate) struct PaymentRow {
    pub(crate) id: PaymentId,
    pub(crate) from_account: AccountId,
    pub(crate) to_account: AccountId,
    pub(crate) amount: i64,
    pub(crate) currency: String,
    pub(crate) description: Option<String>,
    pub(crate) status: String,
    pub(crate) failure_reason: Option<String>,
    pub(crate) metadata: Value,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) updated_at: DateTime<Utc>,
    pub(crate) capture: String,
    pub(crate) hold_secs: Option<i32>,
    pub(crate) hold_expires_at: Option<DateTime<Utc>>,
    pub(crate) amount_captured: Option<i64>,
    pub(crate) amount_refunded: i64,
}

impl TryFrom<PaymentRow> for Payment {
    type Error = Error;

    fn try_from(row: PaymentRow) -> Result<Self> {
        let corrupt = |what: &str| Error::Corrupt(format!("payment {}: {what}", row.id));
        let amount = Amount::from_minor(row.amount).ok_or_else(|| corrupt("negative amount"))?;
        let status = PaymentStatus::from_db(&row.status).ok_or_else(|| corrupt("unknown status"))?;
        let failure_reason = match row.failure_reason.as_deref() {
            None => None,
            Some(reason) => {
                Some(FailureReason::from_db(reason).ok_or_else(|| corrupt("unknown failure reason"))?)
            }
        };
        let capture =
            Capture::from_db(&row.capture, row.hold_secs).ok_or_else(|| corrupt("unknown capture"))?;
        let amount_captured = match row.amount_captured {
            // An automatic payment moves its whole amount: settle leaves it
            // NULL (so did payments done before captures existed).
            None if status == PaymentStatus::Done => Some(amount),
            None => None,
            Some(minor) => {
                Some(Amount::from_minor(minor).ok_or_else(|| corrupt("negative amount captured"))?)
            }
        };
        Ok(Payment {
            id: row.id,
            from_account: row.from_account,
            to_account: row.to_account,
            amount,
            currency: currency_from_db(&row.currency)?,
            description: row.description,
            status,
            failure_reason,
            metadata: metadata_from_db(&row.metadata)?,
            created_at: row.created_at,
            updated_at: row.updated_at,
            capture,
            hold_expires_at: row.hold_expires_at,
            amount_captured,
            amount_refunded: Amount::from_minor(row.amount_refunded)
                .ok_or_else(|| corrupt("negative refunds"))?,
        })
    }
}

/// A payment being recorded, with the span of the request that accepted
/// it (`None` with traces off), whose trace id is recorded with it. They
/// travel as one value, never as lists side by side, so that no payment
/// can be recorded with another's trace.
#[derive(Debug, Clone)]
pub struct Accepted {
    pub payment: NewPayment,
    pub traceparent: Option<TraceParent>,
}

impl Accepted {
    /// A payment recorded without a trace id (traces off).
    pub fn untraced(payment: NewPayment) -> Accepted {
        Accepted { payment, traceparent: None }
    }

    /// The trace id to record in `payments.trace_id`, as bytes.
    fn trace_bytes(&self) -> Option<Vec<u8>> {
        self.traceparent.map(|tp| tp.trace_id().as_bytes().to_vec())
    }
}

/// Records an accepted payment as `pending`, with its `payment.created`
/// event and that event's deliveries (webhooks, and `event_publications` for
/// the `payrail.events` exchange), in one statement: the event exists
/// exactly when the payment does. The foreign keys are what checks that
/// both accounts exist, in the same round trip. Its trace id is recorded
/// when it has one (without, the column stays NULL).
pub async fn insert(tx: &mut PgConnection, accepted: &Accepted) -> Result<Payment> {
    let payment = &accepted.payment;
    let row = sqlx::query_as!(
        PaymentRow,
        r#"WITH p AS (
               INSERT INTO payments (id, from_account, to_account, amount, currency, description, metadata,
                                     capture, hold_secs, trace_id)
               VALUES ($1, $2, $3, $4, $7, $5, $8, $9, $10, $11)
               RETURNING id, from_account, to_account, amount, currency, description, status, failure_reason,
                         metadata, created_at, updated_at, capture, hold_secs, hold_expires_at, amount_captured),
           e AS (
               INSERT INTO events (id, type, payment_id, status, failure_reason, payment_updated_at)
               SELECT $6, 'payment.created', id, status, failure_reason, updated_at FROM p
               RETURNING id, type, payment_id),
           d AS (
               INSERT INTO webhook_deliveries (endpoint_id, event_id, subject_id)
               SELECT w.id, e.id, e.payment_id FROM e
               JOIN webhook_endpoints w ON w.events IS NULL OR e.type = ANY (w.events)),
           a AS (INSERT INTO event_publications (first_event, event_ids)
                 SELECT ids[1], ids FROM (SELECT array_agg(id ORDER BY id) AS ids FROM e) s WHERE ids IS NOT NULL)
           SELECT id AS "id!: PaymentId", from_account AS "from_account!: AccountId",
                  to_account AS "to_account!: AccountId", amount AS "amount!", currency AS "currency!",
                  description, status AS "status!", failure_reason, metadata AS "metadata!",
                  created_at AS "created_at!", updated_at AS "updated_at!",
                  capture AS "capture!", hold_secs, hold_expires_at, amount_captured,
                  0::bigint AS "amount_refunded!"
           FROM p"#,
        payment.id.as_uuid(),
        payment.from_account.as_uuid(),
        payment.to_account.as_uuid(),
        payment.amount.minor(),
        payment.description.as_deref(),
        EventId::new().as_uuid(),
        payment.currency.code(),
        payment.metadata.to_json(),
        payment.capture.as_str(),
        payment.capture.hold_secs().map(|s| s as i32),
        accepted.trace_bytes(),
    )
    .fetch_one(tx)
    .await;
    match row {
        Ok(row) => row.try_into(),
        // foreign_key_violation: the constraint name says which side.
        Err(sqlx::Error::Database(db)) if db.code().as_deref() == Some("23503") => {
            let missing = if db.constraint() == Some("payments_to_account_fkey") {
                payment.to_account
            } else {
                payment.from_account
            };
            Err(Error::UnknownAccount(missing))
        }
        Err(e) => Err(e.into()),
    }
}

/// Bounds how long the caller's transaction waits for a row lock. Recording
/// a payment takes a share lock on both account rows (the foreign keys):
/// without a bound, one account row held by another session would hold the
/// payment, and every payment grouped with it, until the request timed out
/// with its outcome unknown. With it, the wait ends in a definite rollback.
pub async fn bound_lock_wait(tx: &mut PgConnection, lock_timeout: Duration) -> Result<()> {
    let millis = lock_timeout.as_millis().max(1).to_string();
    sqlx::query_scalar!(r#"SELECT set_config('lock_timeout', $1, true) AS "set!""#, millis)
        .fetch_one(tx)
        .await?;
    Ok(())
}

/// Records one accepted payment in a transaction of its own.
pub async fn insert_alone(primary: &PgPool, accepted: &Accepted, lock_timeout: Duration) -> Result<Payment> {
    let mut tx = begin_bounded_tx(primary, lock_timeout).await?;
    let recorded = insert(&mut tx, accepted).await?;
    tx.commit().await?;
    Ok(recorded)
}

/// Records several accepted payments as `pending` with one statement (one
/// round trip, one commit). All or none: if one payment names an unknown
/// account, the statement fails as a whole and nothing is recorded; the
/// caller then records them one by one to find out which. Rows come back in
/// no particular order.
pub async fn insert_many(
    pool: &PgPool,
    accepted: &[Accepted],
    lock_timeout: Duration,
) -> Result<Vec<Payment>> {
    let mut tx = begin_bounded_tx(pool, lock_timeout).await?;
    let rows = insert_rows(&mut tx, accepted, None).await?;
    tx.commit().await?;
    Ok(rows)
}

/// Records payments as `pending` with one statement in the caller's
/// transaction, as [`insert_many`] does; `link` (an atomic batch's) is set
/// on every one. Rows come back in no particular order. Payments without a
/// trace id leave the column NULL.
pub async fn insert_rows(
    tx: &mut PgConnection,
    accepted: &[Accepted],
    link: Option<LinkId>,
) -> Result<Vec<Payment>> {
    let payments: Vec<&NewPayment> = accepted.iter().map(|a| &a.payment).collect();
    let descriptions: Vec<Option<String>> = payments.iter().map(|p| p.description.clone()).collect();
    // With traces off, an empty array (`unnest` pads it with NULLs): not
    // even NULLs go over the wire.
    let traces: Vec<Option<Vec<u8>>> = if accepted.iter().any(|a| a.traceparent.is_some()) {
        accepted.iter().map(Accepted::trace_bytes).collect()
    } else {
        Vec::new()
    };
    // Each payment's `payment.created` event and its deliveries are written
    // by the same statement, as in `insert`.
    let event_ids: Vec<Uuid> = payments.iter().map(|_| EventId::new().as_uuid()).collect();
    let rows = sqlx::query_as!(
        PaymentRow,
        r#"WITH input AS (
               SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::int8[], $5::text[], $6::uuid[],
                                    $7::text[], $8::jsonb[], $9::text[], $10::int4[], $12::bytea[])
                   AS t(id, from_account, to_account, amount, description, event_id, currency, metadata,
                        capture, hold_secs, trace_id)),
           p AS (
               INSERT INTO payments (id, from_account, to_account, amount, currency, description, metadata,
                                     capture, hold_secs, link_id, trace_id)
               SELECT id, from_account, to_account, amount, currency, description, metadata, capture, hold_secs,
                      $11::uuid, trace_id
               FROM input
               RETURNING id, from_account, to_account, amount, currency, description, status, failure_reason,
                         metadata, created_at, updated_at, capture, hold_secs, hold_expires_at, amount_captured),
           e AS (
               INSERT INTO events (id, type, payment_id, status, failure_reason, payment_updated_at)
               SELECT input.event_id, 'payment.created', p.id, p.status, p.failure_reason, p.updated_at
               FROM p JOIN input USING (id)
               RETURNING id, type, payment_id),
           d AS (
               INSERT INTO webhook_deliveries (endpoint_id, event_id, subject_id)
               SELECT w.id, e.id, e.payment_id FROM e
               JOIN webhook_endpoints w ON w.events IS NULL OR e.type = ANY (w.events)),
           a AS (INSERT INTO event_publications (first_event, event_ids)
                 SELECT ids[1], ids FROM (SELECT array_agg(id ORDER BY id) AS ids FROM e) s WHERE ids IS NOT NULL)
           SELECT id AS "id!: PaymentId", from_account AS "from_account!: AccountId",
                  to_account AS "to_account!: AccountId", amount AS "amount!", currency AS "currency!",
                  description, status AS "status!", failure_reason, metadata AS "metadata!",
                  created_at AS "created_at!", updated_at AS "updated_at!",
                  capture AS "capture!", hold_secs, hold_expires_at, amount_captured,
                  0::bigint AS "amount_refunded!"
           FROM p"#,
        &payments.iter().map(|p| p.id.as_uuid()).collect::<Vec<_>>(),
        &payments.iter().map(|p| p.from_account.as_uuid()).collect::<Vec<_>>(),
        &payments.iter().map(|p| p.to_account.as_uuid()).collect::<Vec<_>>(),
        &payments.iter().map(|p| p.amount.minor()).collect::<Vec<_>>(),
        &descriptions as &[Option<String>],
        &event_ids,
        &payments.iter().map(|p| p.currency.code()).collect::<Vec<_>>() as &[&str],
        &payments.iter().map(|p| p.metadata.to_json()).collect::<Vec<_>>(),
        &payments.iter().map(|p| p.capture.as_str()).collect::<Vec<_>>() as &[&str],
        &payments.iter().map(|p| p.capture.hold_secs().map(|s| s as i32)).collect::<Vec<_>>() as &[Option<i32>],
        link.map(|l| l.as_uuid()),
        &traces as &[Option<Vec<u8>>],
    )
    .fetch_all(&mut *tx)
    .await?;
    rows.into_iter().map(Payment::try_from).collect()
}

pub async fn get(pool: &PgPool, id: PaymentId) -> Result<Option<Payment>> {
    let row = sqlx::query_as!(
        PaymentRow,
        r#"SELECT id AS "id: PaymentId", from_account AS "from_account: AccountId",
                  to_account AS "to_account: AccountId", amount, currency, description, status,
                  failure_reason, metadata, created_at, updated_at, capture, hold_secs, hold_expires_at,
                  amount_captured,
                  (SELECT COALESCE(sum(r.amount), 0)::bigint FROM refunds r
                   WHERE r.payment_id = payments.id AND r.status = 'done') AS "amount_refunded!"
           FROM payments WHERE id = $1"#,
        id.as_uuid(),
    )
    .fetch_optional(pool)
    .await?;
    row.map(Payment::try_from).transpose()
}

/// Applies a metadata change in one statement, whatever the payment's
/// status (the database lets a settled payment's metadata change, and
/// nothing else of it); `None` for an unknown payment. Refused, changing
/// nothing, when the map would pass the most keys it may hold.
pub async fn update_metadata(
    primary: &PgPool,
    id: PaymentId,
    patch: &MetadataPatch,
) -> Result<Option<Payment>> {
    let row = sqlx::query_as!(
        PaymentRow,
        r#"UPDATE payments SET metadata = (metadata || $2::jsonb) - $3::text[], updated_at = now()
           WHERE id = $1
             AND (SELECT count(*) FROM jsonb_object_keys((metadata || $2::jsonb) - $3::text[])) <= $4
           RETURNING id AS "id: PaymentId", from_account AS "from_account: AccountId",
                     to_account AS "to_account: AccountId", amount, currency, description, status,
                     failure_reason, metadata, created_at, updated_at, capture, hold_secs, hold_expires_at,
                     amount_captured,
                     (SELECT COALESCE(sum(r.amount), 0)::bigint FROM refunds r
                      WHERE r.payment_id = payments.id AND r.status = 'done') AS "amount_refunded!""#,
        id.as_uuid(),
        patch.set(),
        &patch.removed(),
        crate::domain::MAX_METADATA_KEYS as i64,
    )
    .fetch_optional(primary)
    .await?;
    match row {
        Some(row) => row.try_into().map(Some),
        None if get(primary, id).await?.is_some() => Err(Error::Metadata(MetadataError::TooManyKeys)),
        None => Ok(None),
    }
}

/// Stamps payments whose settle message the broker is about to
/// dead-letter, so that the relay stops sending them round (pending ones,
/// and authorizations whose capture, void or expiry cannot be applied).
pub async fn mark_dead_lettered(primary: &PgPool, ids: &[PaymentId]) -> Result<()> {
    let ids: Vec<_> = ids.iter().map(|id| id.as_uuid()).collect();
    sqlx::query!(
        "UPDATE payments SET dead_lettered_at = now() WHERE id = ANY($1) AND status IN ('pending', 'authorized')",
        &ids as &[Uuid],
    )
    .execute(primary)
    .await?;
    Ok(())
}

/// Clears the stamp of payments being replayed from the dead-letter queue:
/// should the replayed message be lost, the relay covers them again.
pub async fn clear_dead_lettered(primary: &PgPool, ids: &[PaymentId]) -> Result<()> {
    let ids: Vec<_> = ids.iter().map(|id| id.as_uuid()).collect();
    sqlx::query!(
        "UPDATE payments SET dead_lettered_at = NULL WHERE id = ANY($1) AND status IN ('pending', 'authorized')",
        &ids as &[Uuid]
    )
    .execute(primary)
    .await?;
    Ok(())
}

/// The accounts of each of these payments that exists, as recorded.
pub async fn routes(pool: &PgPool, ids: &[PaymentId]) -> Result<Vec<PaymentRoute>> {
    let ids: Vec<_> = ids.iter().map(|id| id.as_uuid()).collect();
    let routes = sqlx::query_as!(
        PaymentRoute,
        r#"SELECT id AS "payment_id: PaymentId", from_account AS "from_account: AccountId",
                  to_account AS "to_account: AccountId", link_id AS "link?: LinkId"
           FROM payments WHERE id = ANY($1)"#,
        &ids as &[Uuid],
    )
    .fetch_all(pool)
    .await?;
    Ok(routes)
}

/// Records a capture or void of an authorization, to be applied by settle,
/// if `request_hold` allows it on the payment as it is under its row lock
/// (see `domain::settlement::request_hold`): the first one recorded is the
/// only one. `capture` is the amount to capture (`None`: all); `void`
/// asks for a void instead.
pub async fn request_hold(
    primary: &PgPool,
    id: PaymentId,
    void: bool,
    capture: Option<Amount>,
) -> Result<Payment> {
    let mut tx = primary.begin().await?;
    let row = sqlx::query!(
        r#"SELECT status, amount, requested_action IS NOT NULL AS "requested!",
                  COALESCE(hold_expires_at <= now(), false) AS "expired!"
           FROM payments WHERE id = $1 FOR NO KEY UPDATE"#,
        id.as_uuid(),
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(Error::UnknownPayment(id))?;
    let corrupt = |what: &str| Error::Corrupt(format!("payment {id}: {what}"));
    let status = PaymentStatus::from_db(&row.status).ok_or_else(|| corrupt("unknown status"))?;
    let authorized = Amount::from_minor(row.amount).ok_or_else(|| corrupt("negative amount"))?;
    let requested = hold::request_hold(status, authorized, row.requested, row.expired, void, capture)?;
    let (action, amount) = match requested {
        Requested::Void => ("void", None),
        Requested::Capture(amount) => ("capture", Some(amount.minor())),
    };
    let row = sqlx::query_as!(
        PaymentRow,
        r#"UPDATE payments SET requested_action = $2, requested_amount = $3, action_requested_at = now()
           WHERE id = $1
           RETURNING id AS "id: PaymentId", from_account AS "from_account: AccountId",
                     to_account AS "to_account: AccountId", amount, currency, description, status,
                     failure_reason, metadata, created_at, updated_at, capture, hold_secs, hold_expires_at,
                     amount_captured, 0::bigint AS "amount_refunded!""#,
        id.as_uuid(),
        action,
        amount,
    )
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    row.try_into()
}

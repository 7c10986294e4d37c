//! Webhook endpoints, their deliveries and the record of every attempt.
//!
//! Deliveries are claimed with a lease: the claiming statement locks due
//! rows with `FOR UPDATE SKIP LOCKED` (so instances sharing the table
//! never claim the same row at once) and marks them `leased_until`, which
//! keeps them out of every other claim while the attempt is in flight, and
//! hands them back by itself if the worker dies mid-attempt.

use std::time::Duration;

use chrono::{DateTime, Utc};
use secrecy::SecretString;
use sqlx::PgPool;

use payrail_types::AttemptView;

use crate::domain::{AttemptId, EndpointDescription, EndpointId, EventId, EventType, WebhookUrl};
use crate::error::{Error, Result};
use crate::events::Subscription;

/// An endpoint as it is shown: never with its secret. Not the API's
/// `EndpointView`, which lists event names: the workers match events
/// against the parsed `Subscription`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub id: EndpointId,
    pub url: String,
    pub subscription: Subscription,
    pub description: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// An endpoint to register.
#[derive(Debug)]
pub struct NewEndpoint {
    pub url: WebhookUrl,
    pub subscription: Subscription,
    pub description: Option<EndpointDescription>,
    pub secret: SecretString,
}

struct EndpointRow {
    id: EndpointId,
    url: String,
    events: Option<Vec<String>>,
    description: Option<String>,
    created_at: DateTime<Utc>,
}

impl TryFrom<EndpointRow> for Endpoint {
    type Error = Error;

    fn try_from(row: EndpointRow) -> Result<Self> {
        let subscription = match row.events {
            None => Subscription::All,
            Some(names) => Subscription::Only(
                names
                    .iter()
                    .map(|n| n.parse::<EventType>())
                    .collect::<Result<_, _>>()
                    .map_err(|e| Error::Corrupt(format!("webhook endpoint {}: {e}", row.id)))?,
            ),
        };
        Ok(Endpoint {
            id: row.id,
            url: row.url,
            subscription,
            description: row.description,
            created_at: row.created_at,
        })
    }
}

fn event_names(subscription: &Subscription) -> Option<Vec<String>> {
    match subscription {
        Subscription::All => None,
        Subscription::Only(types) => Some(types.iter().map(|t| t.as_str().to_owned()).collect()),
    }
}

/// Registers an endpoint unless `max` are registered already (`None`).
/// Creates are serialised by a transaction-scoped advisory lock, so two at
/// once cannot both pass the count.
pub async fn create(primary: &PgPool, new: &NewEndpoint, max: i64) -> Result<Option<Endpoint>> {
    use secrecy::ExposeSecret;
    let mut tx = primary.begin().await?;
    sqlx::query!("SELECT pg_advisory_xact_lock(hashtext('payrail.webhook_endpoints'))")
        .execute(&mut *tx)
        .await?;
    let count = sqlx::query_scalar!(r#"SELECT count(*) AS "count!" FROM webhook_endpoints"#)
        .fetch_one(&mut *tx)
        .await?;
    if count >= max {
        tx.rollback().await?;
        return Ok(None);
    }
    let row = sqlx::query_as!(
        EndpointRow,
        r#"INSERT INTO webhook_endpoints (id, url, events, description, secret)
           VALUES ($1, $2, $3, $4, $5)
           RETURNING id AS "id: EndpointId", url, events, description, created_at"#,
        EndpointId::new().as_uuid(),
        new.url.as_str(),
        event_names(&new.subscription) as Option<Vec<String>>,
        new.description.as_ref().map(EndpointDescription::as_str),
        new.secret.expose_secret(),
    )
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    row.try_into().map(Some)
}

/// A page of endpoints, newest first, after `cursor` (an endpoint id).
pub async fn list(pool: &PgPool, cursor: Option<EndpointId>, limit: i64) -> Result<Vec<Endpoint>> {
    let rows = sqlx::query_as!(
        EndpointRow,
        r#"SELECT id AS "id: EndpointId", url, events, description, created_at FROM webhook_endpoints
           WHERE ($1::uuid IS NULL OR id < $1) ORDER BY id DESC LIMIT $2"#,
        cursor.map(|c| c.as_uuid()),
        limit,
    )
    .fetch_all(pool)
    .await?;
    rows.into_iter().map(Endpoint::try_from).collect()
}

pub async fn get(pool: &PgPool, id: EndpointId) -> Result<Option<Endpoint>> {
    let row = sqlx::query_as!(
        EndpointRow,
        r#"SELECT id AS "id: EndpointId", url, events, description, created_at FROM webhook_endpoints
           WHERE id = $1"#,
        id.as_uuid(),
    )
    .fetch_optional(pool)
    .await?;
    row.map(Endpoint::try_from).transpose()
}

/// Removes an endpoint; its pending deliveries and its attempts go with it
/// (`ON DELETE CASCADE`). Whether it existed.
pub async fn delete(primary: &PgPool, id: EndpointId) -> Result<bool> {
    let deleted =
        sqlx::query!("DELETE FROM webhook_endpoints WHERE id = $1", id.as_uuid()).execute(primary).await?;
    Ok(deleted.rows_affected() == 1)
}

/// What a rotation came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rotated {
    /// The new secret is in place; the one it replaced signs until then.
    Until(DateTime<Utc>),
    /// `max_retired` rotated-out secrets still sign; the first of them
    /// stops at the time given. Nothing changed.
    TooMany {
        max_retired: i64,
        first_expires: DateTime<Utc>,
    },
    NoSuchEndpoint,
}

/// Gives an endpoint `secret`; its current one is retired and signs beside
/// it for `overlap`, as do the secrets retired before and not yet expired
/// (each until its own time). At most `max_retired` retired secrets sign at
/// once: a rotation past them is refused, since dropping one would break
/// the promise its rotation made. The endpoint's row lock serialises
/// rotations of one endpoint, so two at once cannot both pass the count.
pub async fn rotate_secret(
    primary: &PgPool,
    id: EndpointId,
    secret: &SecretString,
    overlap: Duration,
    max_retired: i64,
) -> Result<Rotated> {
    use secrecy::ExposeSecret;
    let mut tx = primary.begin().await?;
    let exists =
        sqlx::query_scalar!("SELECT id FROM webhook_endpoints WHERE id = $1 FOR UPDATE", id.as_uuid())
            .fetch_optional(&mut *tx)
            .await?;
    if exists.is_none() {
        return Ok(Rotated::NoSuchEndpoint);
    }
    sqlx::query!(
        "DELETE FROM webhook_retired_secrets WHERE endpoint_id = $1 AND expires_at <= now()",
        id.as_uuid()
    )
    .execute(&mut *tx)
    .await?;
    let retired = sqlx::query!(
        r#"SELECT count(*) AS "count!", min(expires_at) AS first_expires
           FROM webhook_retired_secrets WHERE endpoint_id = $1"#,
        id.as_uuid()
    )
    .fetch_one(&mut *tx)
    .await?;
    if let Some(first_expires) = retired.first_expires
        && retired.count >= max_retired
    {
        return Ok(Rotated::TooMany { max_retired, first_expires });
    }
    let expires = sqlx::query_scalar!(
        r#"WITH old AS (SELECT secret FROM webhook_endpoints WHERE id = $1),
           retire AS (
               INSERT INTO webhook_retired_secrets (endpoint_id, secret, expires_at)
               SELECT $1, old.secret, now() + make_interval(secs => $3) FROM old
               RETURNING expires_at)
           UPDATE webhook_endpoints SET secret = $2 WHERE id = $1
           RETURNING (SELECT expires_at FROM retire) AS "expires!""#,
        id.as_uuid(),
        secret.expose_secret(),
        overlap.as_secs_f64(),
    )
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Rotated::Until(expires))
}

/// A delivery taken by one worker: what to send where, signed with what.
#[derive(Debug)]
pub struct Claimed {
    pub endpoint_id: EndpointId,
    pub event_id: EventId,
    /// Attempts made before this one.
    pub attempts: i32,
    pub url: String,
    /// The current secret, then the retired ones that still sign, the
    /// most recently retired first.
    pub secrets: Vec<SecretString>,
}

/// Claims up to `limit` due deliveries, at most `per_endpoint` in flight
/// per endpoint (counting those in flight already, on any instance), and
/// leases them for `lease`. A delivery waits while an earlier event of the
/// same subject (the payment, or the account for `account.*` events) is
/// still pending for the same endpoint, so each endpoint gets a payment's
/// (or an account's) events in order. Each endpoint is looked at on its own
/// (the lateral join), so one with a deep backlog cannot crowd out the rest.
///
/// Every step is written so that its plan cannot depend on statistics: the
/// table is young and grows by thousands of rows a second under load, and
/// plans chosen on "this table is empty" joined every due delivery with
/// every pending one (150 ms a claim at 2,000 pending; deliveries slowed to
/// a few a second). So: "earlier event still pending" is asked as "is this
/// the first pending event of its subject", a scalar subquery run per
/// candidate as one probe of `webhook_deliveries_order` (a `NOT EXISTS`
/// became an anti-join on `endpoint_id` alone); the claimed rows are
/// updated by `ctid`, which they keep while this statement holds their row
/// locks; and the leases in flight are counted from an index of leased rows
/// only.
pub async fn claim(primary: &PgPool, limit: i64, per_endpoint: i64, lease: Duration) -> Result<Vec<Claimed>> {
    // Planned anew on every call, for the same reason: the connection's
    // cached generic plan, made while the table was nearly empty, stayed in
    // use as it grew (it still took 100-400 ms a claim with the query as
    // written here). Claims are few, planning is cheap.
    let mut tx = primary.begin().await?;
    sqlx::query!("SET LOCAL plan_cache_mode = force_custom_plan").execute(&mut *tx).await?;
    let rows = sqlx::query!(
        r#"WITH in_flight AS (
               SELECT endpoint_id, count(*) AS n FROM webhook_deliveries
               WHERE state = 'pending' AND leased_until IS NOT NULL AND leased_until > now()
               GROUP BY endpoint_id),
           picked AS (
               SELECT due.row_id
               FROM webhook_endpoints w
               LEFT JOIN in_flight f ON f.endpoint_id = w.id
               CROSS JOIN LATERAL (
                   SELECT d.ctid AS row_id, d.next_attempt_at FROM webhook_deliveries d
                   WHERE d.endpoint_id = w.id AND d.state = 'pending' AND d.next_attempt_at <= now()
                     AND (d.leased_until IS NULL OR d.leased_until <= now())
                     AND d.event_id = (
                         SELECT first.event_id FROM webhook_deliveries first
                         WHERE first.endpoint_id = d.endpoint_id AND first.subject_id = d.subject_id
                           AND first.state = 'pending'
                         ORDER BY first.event_id LIMIT 1)
                   ORDER BY d.next_attempt_at
                   LIMIT greatest($2 - coalesce(f.n, 0), 0)
                   FOR UPDATE OF d SKIP LOCKED) due
               ORDER BY due.next_attempt_at
               LIMIT $1)
           UPDATE webhook_deliveries d
           SET leased_until = now() + make_interval(secs => $3)
           FROM webhook_endpoints w
           WHERE d.ctid = ANY (ARRAY(SELECT row_id FROM picked)) AND w.id = d.endpoint_id
           RETURNING d.endpoint_id AS "endpoint_id: EndpointId", d.event_id AS "event_id: EventId",
                     d.attempts, w.url, w.secret,
                     ARRAY(SELECT r.secret FROM webhook_retired_secrets r
                           WHERE r.endpoint_id = w.id AND r.expires_at > now()
                           ORDER BY r.expires_at DESC) AS "retired!""#,
        limit,
        per_endpoint,
        lease.as_secs_f64(),
    )
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(rows
        .into_iter()
        .map(|row| Claimed {
            endpoint_id: row.endpoint_id,
            event_id: row.event_id,
            attempts: row.attempts,
            url: row.url,
            secrets: std::iter::once(row.secret).chain(row.retired).map(SecretString::from).collect(),
        })
        .collect())
}

/// How one attempt ended, for the delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    Delivered,
    RetryIn(Duration),
    GiveUp,
}

/// One attempt, as recorded.
#[derive(Debug, Clone)]
pub struct AttemptRecord {
    pub endpoint_id: EndpointId,
    pub event_id: EventId,
    /// 1 for the first attempt.
    pub attempt: i32,
    pub status_code: Option<u16>,
    pub error: Option<String>,
    pub duration: Duration,
    pub next: Next,
}

/// Records an attempt and moves its delivery on (delivered, due again
/// later, or given up), releasing the lease, in one statement. An endpoint
/// deleted meanwhile leaves nothing to record.
pub async fn finish_attempt(primary: &PgPool, a: &AttemptRecord) -> Result<()> {
    let (state, retry_in) = match a.next {
        Next::Delivered => ("delivered", None),
        Next::RetryIn(delay) => ("pending", Some(delay.as_secs_f64())),
        Next::GiveUp => ("failed", None),
    };
    sqlx::query!(
        r#"WITH attempt AS (
               INSERT INTO webhook_attempts
                   (id, endpoint_id, event_id, attempt, status_code, error, duration_ms, next_retry_at)
               SELECT $1, $2, $3, $4, $5, $6, $7, now() + make_interval(secs => $9)
               WHERE EXISTS (SELECT 1 FROM webhook_endpoints WHERE id = $2))
           UPDATE webhook_deliveries
           SET state = $8, attempts = $4, leased_until = NULL,
               next_attempt_at = coalesce(now() + make_interval(secs => $9), next_attempt_at)
           WHERE endpoint_id = $2 AND event_id = $3 AND state = 'pending'"#,
        AttemptId::new().as_uuid(),
        a.endpoint_id.as_uuid(),
        a.event_id.as_uuid(),
        a.attempt,
        a.status_code.map(i32::from),
        a.error.as_deref(),
        i32::try_from(a.duration.as_millis()).unwrap_or(i32::MAX),
        state,
        retry_in,
    )
    .execute(primary)
    .await?;
    Ok(())
}

/// An endpoint's attempts, newest first, after `cursor` (an attempt id).
/// Read straight into the API's shape: its fields are the columns as
/// stored, so a row struct of our own would only be copied field by field.
pub async fn attempts(
    pool: &PgPool,
    endpoint: EndpointId,
    cursor: Option<AttemptId>,
    limit: i64,
) -> Result<Vec<AttemptView>> {
    let rows = sqlx::query_as!(
        AttemptView,
        r#"SELECT id AS "id: AttemptId", event_id AS "event_id: EventId", attempt, attempted_at,
                  status_code, error, duration_ms, next_retry_at
           FROM webhook_attempts
           WHERE endpoint_id = $1 AND ($2::uuid IS NULL OR id < $2)
           ORDER BY id DESC LIMIT $3"#,
        endpoint.as_uuid(),
        cursor.map(|c| c.as_uuid()),
        limit,
    )
    .fetch_all(pool)
    .await?;
    Ok(rows)
}

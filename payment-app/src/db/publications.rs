//! The outbox of the `payrail.events` exchange (`event_publications`):
//! one row per event still owed to the broker, written with the event (see
//! `payments::insert` and `settle`), deleted once the broker confirmed it.

use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::domain::EventId;
use crate::error::Result;

/// Takes the publisher's turn for this transaction: one instance publishes
/// at a time, so the feed's order per payment is the order sent (two
/// instances each sending part of a backlog could interleave a payment's
/// events). `false` when another instance has it.
pub async fn try_lead(tx: &mut PgConnection) -> Result<bool> {
    let led = sqlx::query_scalar!(
        r#"SELECT pg_try_advisory_xact_lock(hashtext('payrail.event_publications')) AS "led!""#
    )
    .fetch_one(tx)
    .await?;
    Ok(led)
}

/// Up to `limit` events owed, in the feed's order (event id).
pub async fn owed(tx: &mut PgConnection, limit: i64) -> Result<Vec<EventId>> {
    let ids = sqlx::query_scalar!(
        r#"SELECT event_id AS "id: EventId" FROM event_publications ORDER BY event_id LIMIT $1"#,
        limit
    )
    .fetch_all(tx)
    .await?;
    Ok(ids)
}

/// Marks `ids` published (the broker confirmed them).
pub async fn published(tx: &mut PgConnection, ids: &[EventId]) -> Result<()> {
    let ids: Vec<Uuid> = ids.iter().map(EventId::as_uuid).collect();
    sqlx::query!("DELETE FROM event_publications WHERE event_id = ANY($1)", &ids).execute(tx).await?;
    Ok(())
}

/// What is owed: how many events, and the oldest of them.
pub async fn backlog(pool: &PgPool) -> Result<(i64, Option<EventId>)> {
    let row = sqlx::query!(
        r#"SELECT (SELECT count(*) FROM event_publications) AS "owed!",
                  (SELECT event_id FROM event_publications ORDER BY event_id LIMIT 1) AS "oldest: EventId""#
    )
    .fetch_one(pool)
    .await?;
    Ok((row.owed, row.oldest))
}

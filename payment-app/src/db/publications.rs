//! The outbox of the `payrail.events` exchange (`event_publications`): one
//! row per statement that wrote events still owed to the broker, listing
//! them, written with the events (see `payments::insert` and `settle`),
//! deleted once the broker confirmed all of them.

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

/// What the oldest rows of the outbox owe: their keys, and their events in
/// the feed's order (event id).
#[derive(Debug, Default)]
pub struct Owed {
    pub rows: Vec<Uuid>,
    pub events: Vec<EventId>,
}

/// The oldest rows owed, as many as hold `limit` events (at least one row:
/// a row is never split, so a client's batch of 1,000 payments is sent as
/// one even when `limit` is smaller).
pub async fn owed(tx: &mut PgConnection, limit: i64) -> Result<Owed> {
    let rows = sqlx::query!(
        r#"SELECT first_event AS "first_event!", event_ids AS "event_ids!" FROM (
               SELECT first_event, event_ids,
                      sum(cardinality(event_ids)) OVER (ORDER BY first_event) - cardinality(event_ids) AS before
               FROM event_publications ORDER BY first_event LIMIT $1) oldest
           WHERE before < $1 ORDER BY first_event"#,
        limit
    )
    .fetch_all(tx)
    .await?;
    let mut owed = Owed::default();
    for row in rows {
        owed.rows.push(row.first_event);
        owed.events.extend(row.event_ids.into_iter().map(EventId::from_uuid));
    }
    // Rows are read in the order of their first events; two statements'
    // events may interleave, and the feed's order is the ids'.
    owed.events.sort_by_key(EventId::as_uuid);
    Ok(owed)
}

/// Marks the outbox rows `rows` published (the broker confirmed all their events).
pub async fn published(tx: &mut PgConnection, rows: &[Uuid]) -> Result<()> {
    sqlx::query!("DELETE FROM event_publications WHERE first_event = ANY($1)", rows).execute(tx).await?;
    Ok(())
}

/// What is owed: how many events, and the oldest of them.
pub async fn backlog(pool: &PgPool) -> Result<(i64, Option<EventId>)> {
    let row = sqlx::query!(
        r#"SELECT (SELECT coalesce(sum(cardinality(event_ids)), 0)::bigint FROM event_publications) AS "owed!",
                  (SELECT first_event FROM event_publications ORDER BY first_event LIMIT 1) AS "oldest: EventId""#
    )
    .fetch_one(pool)
    .await?;
    Ok((row.owed, row.oldest))
}

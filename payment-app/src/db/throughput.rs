//! Payments settled per minute, for the console's system page: a rollup
//! (`settled_per_minute`) that a background job (`worker::throughput`)
//! keeps from the events settle already writes, and the page reads.
//!
//! Why a rollup kept apart from settle: counting the window's events at
//! each page load cost what the window held (350 ms at 574,136 events in
//! 15 minutes), growing with the rate; a counter bumped by settle would add
//! a write, and a hot row, to every settle transaction. The job instead
//! reads the events after its position by their primary key, so a run
//! costs what was written since the last one, and the page reads 15 rows.

use chrono::{DateTime, Duration, DurationRound, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use crate::domain::search::first_id_at;
use crate::error::Result;

/// How far behind PostgreSQL's clock the job stays. Event ids are made by
/// the app's clock just before settle's statement and become visible at its
/// commit: an event is counted once its id is this old, so one that
/// commits later than this after its id was made (a transaction stalled
/// that long, or a clock that far off) is past the position and never
/// counted. Settle's statements are bounded by the statement timeout.
pub const LAG: Duration = Duration::seconds(10);

/// Most events one run reads; a run that reads this many is followed by
/// another at once.
pub const RUN_LIMIT: i64 = 50_000;

/// Minutes kept: a day, 1,440 rows at most.
pub const KEEP: Duration = Duration::days(1);

/// One run's work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Run {
    /// Another instance holds the position.
    Busy,
    /// `read` events were read (those past the position, up to the
    /// horizon or the limit).
    Counted { read: i64 },
}

/// Adds the events written since the last run to their minutes, up to
/// [`LAG`] before now, at most `limit` of them, and moves the position on;
/// removes minutes older than [`KEEP`]. On the primary, in one transaction:
/// a run that fails counts nothing.
pub async fn roll_up(primary: &PgPool, limit: i64) -> Result<Run> {
    let mut tx = primary.begin().await?;
    let position: Option<(Uuid, DateTime<Utc>)> =
        sqlx::query_as("SELECT last_event_id, now() FROM settled_per_minute_position FOR UPDATE SKIP LOCKED")
            .fetch_optional(&mut *tx)
            .await?;
    let Some((last, now)) = position else {
        return Ok(Run::Busy);
    };
    let horizon_at = now - LAG;
    // Every id below this was made before the horizon.
    let horizon = first_id_at(horizon_at).unwrap_or(Uuid::nil());
    if horizon <= last {
        return Ok(Run::Counted { read: 0 });
    }
    let (read, max_id): (i64, Option<Uuid>) = sqlx::query_as(
        "WITH batch AS (
             SELECT id, type, created_at FROM events
             WHERE id > $1 AND id < $2 ORDER BY id LIMIT $3),
         counted AS (
             SELECT date_trunc('minute', created_at) AS minute,
                    count(*) FILTER (WHERE type IN ('payment.done', 'payment.captured')) AS done,
                    count(*) FILTER (WHERE type = 'payment.failed') AS failed
             FROM batch WHERE type IN ('payment.done', 'payment.captured', 'payment.failed')
             GROUP BY 1),
         added AS (
             INSERT INTO settled_per_minute AS m (minute, done, failed)
             SELECT minute, done, failed FROM counted
             ON CONFLICT (minute) DO UPDATE
             SET done = m.done + EXCLUDED.done, failed = m.failed + EXCLUDED.failed)
         SELECT (SELECT count(*) FROM batch), (SELECT id FROM batch ORDER BY id DESC LIMIT 1)",
    )
    .bind(last)
    .bind(horizon)
    .bind(limit)
    .fetch_one(&mut *tx)
    .await?;
    // A full batch stops at its last id; otherwise every id below the
    // horizon is counted.
    let (to_id, to_at) = match max_id {
        Some(id) if read >= limit => (id, id_time(id).unwrap_or(horizon_at)),
        _ => (Uuid::from_u128(horizon.as_u128() - 1), horizon_at),
    };
    sqlx::query("UPDATE settled_per_minute_position SET last_event_id = $1, counted_to = $2")
        .bind(to_id)
        .bind(to_at)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM settled_per_minute WHERE minute < $1")
        .bind(now - KEEP)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Run::Counted { read })
}

/// The time a UUID v7 was made at (its first 48 bits, in milliseconds).
fn id_time(id: Uuid) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp_millis(i64::try_from(id.as_u128() >> 80).ok()?)
}

/// How many payments settled (done, or captured, and failed) in one
/// minute, UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Minute {
    /// The minute's start.
    pub at: DateTime<Utc>,
    pub done: i64,
    pub failed: i64,
}

/// The last minutes as the rollup has them, and up to when it counted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Throughput {
    /// Every minute of the window, oldest first, a minute with none
    /// included.
    pub minutes: Vec<Minute>,
    /// Events up to this time are counted; later ones not yet.
    pub counted_to: DateTime<Utc>,
}

/// Payments settled in each of the `minutes` minutes up to `now`'s (the
/// last one still running): at most `minutes` rows of the rollup, by its
/// primary key, and its position.
pub async fn settled_per_minute(pool: &PgPool, now: DateTime<Utc>, minutes: u32) -> Result<Throughput> {
    let start = window_start(now, minutes);
    let rows: Vec<(DateTime<Utc>, i64, i64)> = sqlx::query_as(
        "SELECT minute, done, failed FROM settled_per_minute WHERE minute >= $1 ORDER BY minute LIMIT $2",
    )
    .bind(start)
    .bind(i64::from(minutes.max(1)))
    .fetch_all(pool)
    .await?;
    let counted_to: DateTime<Utc> =
        sqlx::query_scalar("SELECT counted_to FROM settled_per_minute_position").fetch_one(pool).await?;
    Ok(Throughput { minutes: fill(start, minutes, &rows), counted_to })
}

/// The first minute of a window of `minutes` that ends with `now`'s.
fn window_start(now: DateTime<Utc>, minutes: u32) -> DateTime<Utc> {
    let minute = now.duration_trunc(Duration::minutes(1)).unwrap_or(now);
    minute - Duration::minutes(i64::from(minutes.max(1)) - 1)
}

/// Every minute of the window, with the counts `rows` has for it.
fn fill(start: DateTime<Utc>, minutes: u32, rows: &[(DateTime<Utc>, i64, i64)]) -> Vec<Minute> {
    (0..i64::from(minutes.max(1)))
        .map(|i| {
            let at = start + Duration::minutes(i);
            let (done, failed) =
                rows.iter().find(|(m, _, _)| *m == at).map_or((0, 0), |(_, done, failed)| (*done, *failed));
            Minute { at, done, failed }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    #[test]
    fn the_window_ends_with_the_running_minute_and_has_every_minute() {
        let now = at("2026-12-07T19:52:41.5Z");
        assert_eq!(window_start(now, 15), at("2026-12-07T19:38:00Z"));
        assert_eq!(window_start(now, 1), at("2026-12-07T19:52:00Z"));
        let rows = [(at("2026-12-07T19:40:00Z"), 7, 1), (at("2026-12-07T19:52:00Z"), 3, 0)];
        let minutes = fill(window_start(now, 15), 15, &rows);
        assert_eq!(minutes.len(), 15);
        assert_eq!(minutes[0], Minute { at: at("2026-12-07T19:38:00Z"), done: 0, failed: 0 });
        assert_eq!(minutes[2], Minute { at: at("2026-12-07T19:40:00Z"), done: 7, failed: 1 });
        assert_eq!(minutes[14], Minute { at: at("2026-12-07T19:52:00Z"), done: 3, failed: 0 });
        assert_eq!(minutes.iter().map(|m| m.done).sum::<i64>(), 10);
    }

    #[test]
    fn an_ids_time_is_its_first_48_bits() {
        let t = at("2026-12-07T19:52:41.5Z");
        assert_eq!(id_time(first_id_at(t).unwrap()), Some(t));
    }
}

//! What is still open, for the console's system page: how many payments
//! are pending or authorized (counted up to a cap, so a deep backlog costs
//! a bounded read) and how long the oldest pending one has waited. Both
//! read `open_payments`, which holds only open payments, never history.
//! And what settled in the last minutes, from the events of those minutes.

use chrono::{DateTime, DurationRound, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use crate::domain::search::first_id_at;
use crate::error::Result;

/// The most open payments counted; past it the page says "more than".
pub const COUNT_CAP: i64 = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backlog {
    /// Open payments, at most [`COUNT_CAP`] + 1.
    pub open: i64,
    /// When the oldest payment still `pending` was accepted.
    pub oldest_pending: Option<DateTime<Utc>>,
}

pub async fn backlog(pool: &PgPool) -> Result<Backlog> {
    let open = sqlx::query_scalar!(
        r#"SELECT count(*) AS "count!" FROM (SELECT 1 FROM open_payments LIMIT $1) o"#,
        COUNT_CAP + 1
    )
    .fetch_one(pool)
    .await?;
    // open_payments in id (= creation) order: the first pending one is the oldest.
    let oldest_pending = sqlx::query_scalar!(
        "SELECT p.created_at FROM open_payments o JOIN payments p ON p.id = o.id
         WHERE p.status = 'pending' ORDER BY o.id LIMIT 1"
    )
    .fetch_optional(pool)
    .await?;
    Ok(Backlog { open, oldest_pending })
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

/// How far an event's id may be dated before its `created_at`: ids are
/// made by the app's clock, the times by PostgreSQL's.
const CLOCK_SLACK: chrono::Duration = chrono::Duration::seconds(2);

/// Payments settled in each of the `minutes` minutes up to `now`'s (the
/// last one still running), oldest first, a minute with none included.
///
/// Counted from the events settle already writes (`payment.done`,
/// `payment.captured`, `payment.failed`), so nothing is counted on the hot
/// path. The events are read by their primary key from the window's
/// start (event ids are UUID v7), so the rows read are the window's events
/// whatever the history's size; each minute is grouped by the event's
/// `created_at`, the time its settle committed.
pub async fn settled_per_minute(pool: &PgPool, now: DateTime<Utc>, minutes: u32) -> Result<Vec<Minute>> {
    let start = window_start(now, minutes);
    let lower = first_id_at(start - CLOCK_SLACK).unwrap_or(Uuid::nil());
    let rows: Vec<(DateTime<Utc>, i64, i64)> = sqlx::query_as(
        "SELECT date_trunc('minute', created_at) AS minute,
                count(*) FILTER (WHERE type IN ('payment.done', 'payment.captured')) AS done,
                count(*) FILTER (WHERE type = 'payment.failed') AS failed
         FROM events
         WHERE id >= $1 AND created_at >= $2
           AND type IN ('payment.done', 'payment.captured', 'payment.failed')
         GROUP BY 1",
    )
    .bind(lower)
    .bind(start)
    .fetch_all(pool)
    .await?;
    Ok(fill(start, minutes, &rows))
}

/// The first minute of a window of `minutes` that ends with `now`'s.
fn window_start(now: DateTime<Utc>, minutes: u32) -> DateTime<Utc> {
    let minute = now.duration_trunc(chrono::Duration::minutes(1)).unwrap_or(now);
    minute - chrono::Duration::minutes(i64::from(minutes.max(1)) - 1)
}

/// Every minute of the window, with the counts `rows` has for it.
fn fill(start: DateTime<Utc>, minutes: u32, rows: &[(DateTime<Utc>, i64, i64)]) -> Vec<Minute> {
    (0..i64::from(minutes.max(1)))
        .map(|i| {
            let at = start + chrono::Duration::minutes(i);
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
}

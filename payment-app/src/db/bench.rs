//! The benchmark's reads: how its payments are doing.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use crate::error::Result;

/// A payment that left `pending`, with the database's own timestamps.
#[derive(Debug)]
pub struct Terminal {
    pub status: String,
    pub failure_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// How many of `ids` are still pending (by primary key, so cheap).
pub async fn pending_among(primary: &PgPool, ids: &[Uuid]) -> Result<i64> {
    let pending = sqlx::query_scalar!(
        r#"SELECT count(*) AS "pending!" FROM payments WHERE id = ANY($1) AND status = 'pending'"#,
        ids,
    )
    .fetch_one(primary)
    .await?;
    Ok(pending)
}

pub async fn terminal_among(primary: &PgPool, ids: &[Uuid]) -> Result<Vec<Terminal>> {
    let rows = sqlx::query_as!(
        Terminal,
        "SELECT status, failure_reason, created_at, updated_at FROM payments \
         WHERE id = ANY($1) AND status IN ('done', 'failed')",
        ids,
    )
    .fetch_all(primary)
    .await?;
    Ok(rows)
}

/// One second of a run, as the database saw it.
#[derive(Debug)]
pub struct RunSecond {
    pub accepted: i64,
    pub settled: i64,
    /// Accept→terminal p99 of the payments accepted in this second.
    pub p99_ms: f64,
}

/// Every payment of the database, second by second from the first accept:
/// how many were accepted and how many settled in each second, and the
/// accept→terminal p99 of that second's accepted payments (ms).
pub async fn per_second(primary: &PgPool) -> Result<Vec<RunSecond>> {
    let rows = sqlx::query!(
        r#"WITH origin AS (SELECT min(created_at) AS t0 FROM payments),
           accepted AS (
               SELECT floor(extract(epoch FROM created_at - t0))::int AS s, count(*) AS n,
                      percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM updated_at - created_at))
                          FILTER (WHERE status IN ('done', 'failed')) AS p99
               FROM payments, origin GROUP BY 1),
           settled AS (
               SELECT floor(extract(epoch FROM updated_at - t0))::int AS s, count(*) AS n
               FROM payments, origin WHERE status IN ('done', 'failed') GROUP BY 1)
           SELECT COALESCE(accepted.n, 0) AS "accepted!", COALESCE(settled.n, 0) AS "settled!",
                  COALESCE(1000 * accepted.p99, 0) AS "p99_ms!"
           FROM generate_series(0, (SELECT max(s) FROM (SELECT s FROM accepted UNION ALL SELECT s FROM settled) x)) g(s)
           LEFT JOIN accepted USING (s) LEFT JOIN settled USING (s)
           ORDER BY g.s"#,
    )
    .fetch_all(primary)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| RunSecond { accepted: r.accepted, settled: r.settled, p99_ms: r.p99_ms })
        .collect())
}

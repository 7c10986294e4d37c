//! What is still open, for the console's system page: how many payments
//! are pending or authorized (counted up to a cap, so a deep backlog costs
//! a bounded read) and how long the oldest pending one has waited. Both
//! read `open_payments`, which holds only open payments, never history.
//! (What settled in the last minutes is `throughput`.)

use chrono::{DateTime, Utc};
use sqlx::PgPool;

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

//! Retention: what is removed once it is old enough, a bounded batch per
//! statement (short transactions, no long lock on a busy table), oldest
//! first. Events and attempts go by id (UUID v7: time-ordered, so "older
//! than" is a range of the primary key); idempotency keys by their age
//! index.

use std::time::Duration;

use sqlx::PgPool;

use crate::error::Result;

/// Removes up to `batch` events made more than `days` days ago, with their
/// webhook deliveries; returns how many events went. Through the function
/// the migrations define: the app role may not delete events itself.
pub async fn forget_events(primary: &PgPool, days: u32, batch: u32) -> Result<u64> {
    let gone = sqlx::query_scalar!(
        r#"SELECT payrail_forget_events($1, $2) AS "gone!""#,
        i32::try_from(days).unwrap_or(i32::MAX),
        i32::try_from(batch).unwrap_or(i32::MAX),
    )
    .fetch_one(primary)
    .await?;
    Ok(u64::try_from(gone).unwrap_or(0))
}

/// Removes up to `batch` webhook delivery attempts made more than `days`
/// days ago; returns how many went.
pub async fn forget_attempts(primary: &PgPool, days: u32, batch: u32) -> Result<u64> {
    let gone = sqlx::query!(
        "DELETE FROM webhook_attempts WHERE id IN ( \
             SELECT id FROM webhook_attempts \
             WHERE id < payrail_first_uuid_at(now() - make_interval(days => $1)) ORDER BY id LIMIT $2)",
        i32::try_from(days).unwrap_or(i32::MAX),
        i64::from(batch),
    )
    .execute(primary)
    .await?;
    Ok(gone.rows_affected())
}

/// Removes up to `batch` idempotency keys older than `keep`; returns how
/// many went.
pub async fn forget_keys(primary: &PgPool, keep: Duration, batch: u32) -> Result<u64> {
    let gone = sqlx::query!(
        "DELETE FROM idempotency_keys WHERE ctid IN ( \
             SELECT ctid FROM idempotency_keys WHERE created_at < now() - make_interval(secs => $1) \
             ORDER BY created_at LIMIT $2)",
        keep.as_secs_f64(),
        i64::from(batch),
    )
    .execute(primary)
    .await?;
    Ok(gone.rows_affected())
}

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

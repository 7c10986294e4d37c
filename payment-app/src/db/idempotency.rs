//! Idempotency keys: claiming one, recording the answer, reading it back,
//! and forgetting old ones.

use std::time::Duration;

use serde_json::Value;
use sqlx::{PgConnection, PgPool};

use crate::error::Result;

/// A key's first use, as recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded {
    pub request: Value,
    pub status: u16,
    pub response: Value,
}

/// Claims `key` in the caller's transaction. Returns `false` when it is
/// already taken; a concurrent claim of the same key waits here until the
/// first transaction ends, so only one of them ever creates anything.
pub async fn claim(tx: &mut PgConnection, scope: &str, key: &str, request: &Value) -> Result<bool> {
    let claimed = sqlx::query(
        "INSERT INTO idempotency_keys (scope, key, request, status, response) \
         VALUES ($1, $2, $3, 0, 'null') ON CONFLICT DO NOTHING",
    )
    .bind(scope)
    .bind(key)
    .bind(request)
    .execute(&mut *tx)
    .await?;
    Ok(claimed.rows_affected() == 1)
}

/// Records the answer to a claimed key, in the same transaction.
pub async fn record(
    tx: &mut PgConnection,
    scope: &str,
    key: &str,
    status: u16,
    response: &Value,
) -> Result<()> {
    sqlx::query("UPDATE idempotency_keys SET status = $3, response = $4 WHERE scope = $1 AND key = $2")
        .bind(scope)
        .bind(key)
        .bind(i16::try_from(status).unwrap_or(i16::MAX))
        .bind(response)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

pub async fn get(primary: &PgPool, scope: &str, key: &str) -> Result<Option<Recorded>> {
    let row: Option<(Value, i16, Value)> = sqlx::query_as(
        "SELECT request, status, response FROM idempotency_keys WHERE scope = $1 AND key = $2",
    )
    .bind(scope)
    .bind(key)
    .fetch_optional(primary)
    .await?;
    Ok(row.map(|(request, status, response)| Recorded {
        request,
        status: u16::try_from(status).unwrap_or_default(),
        response,
    }))
}

/// Deletes keys older than `keep`, a bounded number per call; returns how
/// many.
pub async fn forget_older_than(primary: &PgPool, keep: Duration) -> Result<u64> {
    let deleted = sqlx::query(
        "DELETE FROM idempotency_keys WHERE ctid IN ( \
             SELECT ctid FROM idempotency_keys WHERE created_at < now() - make_interval(secs => $1) LIMIT 10000)",
    )
    .bind(keep.as_secs_f64())
    .execute(primary)
    .await?;
    Ok(deleted.rows_affected())
}

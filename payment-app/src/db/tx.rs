//! Transactions whose lock waits are bounded: settle, intake and credit
//! changes each wait for row locks at most a set time, and a longer wait
//! fails (and is retried by its caller) rather than holding a connection.

use std::time::Duration;

use sqlx::PgPool;

use crate::error::Result;

/// A transaction whose lock waits end after `lock_timeout`, begun in one
/// round trip (`BEGIN` and `SET LOCAL` sent together).
pub async fn begin_bounded_tx(
    primary: &PgPool,
    lock_timeout: Duration,
) -> Result<sqlx::Transaction<'static, sqlx::Postgres>> {
    let begin = format!("BEGIN; SET LOCAL lock_timeout = {}", lock_timeout.as_millis().max(1));
    Ok(primary.begin_with(begin).await?)
}

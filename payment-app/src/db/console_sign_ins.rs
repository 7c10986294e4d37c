//! Failed console sign-ins per client address, shared by every API
//! process through the primary (see the migration
//! `console_sign_in_failures`). The rule (how long a client waits after how
//! many failures) is not here: the caller passes it in, and it sees the
//! client's record and PostgreSQL's clock, the one every process shares.

use std::net::IpAddr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use crate::error::Result;

/// A client's failed sign-ins as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failures {
    pub count: u32,
    pub last: DateTime<Utc>,
}

/// How the table is kept bounded.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    /// A client's failures are forgotten this long after its last one.
    pub forget_after: Duration,
    /// Clients remembered at once; past it the longest-idle are forgotten.
    pub max_clients: i64,
}

/// Lets `client` try a token now, counting the try as a failure until
/// [`succeeded`] says otherwise; or returns how long it must wait (nothing
/// counted), as `wait` decides from its record and the database's time.
///
/// The client's row is locked while `wait` decides and the try is counted,
/// so tries arriving at once, through one process or several, are counted
/// one after the other and none slips past the allowance. Returns the
/// client's failures, this try included.
pub async fn admit(
    primary: &PgPool,
    client: IpAddr,
    bounds: Bounds,
    wait: impl FnOnce(Option<Failures>, DateTime<Utc>) -> Option<Duration>,
) -> Result<std::result::Result<u32, Duration>> {
    let client = client.to_string();
    let mut tx = primary.begin().await?;
    sqlx::query(
        "DELETE FROM console_sign_in_failures WHERE last_failed_at < now() - make_interval(secs => $1)",
    )
    .bind(bounds.forget_after.as_secs_f64())
    .execute(&mut *tx)
    .await?;
    // A new client's row exists (and is locked) before its record is read:
    // a concurrent first try waits here, then reads this one's count.
    let added = sqlx::query(
        "INSERT INTO console_sign_in_failures (client, failures, last_failed_at) VALUES ($1, 0, now())
         ON CONFLICT (client) DO NOTHING",
    )
    .bind(&client)
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    let (count, last, now): (i32, DateTime<Utc>, DateTime<Utc>) = sqlx::query_as(
        "SELECT failures, last_failed_at, now() FROM console_sign_in_failures WHERE client = $1 FOR UPDATE",
    )
    .bind(&client)
    .fetch_one(&mut *tx)
    .await?;
    let record = (count > 0).then(|| Failures { count: u32::try_from(count).unwrap_or(0), last });
    if let Some(wait) = wait(record, now) {
        tx.rollback().await?;
        return Ok(Err(wait));
    }
    let failures: i32 = sqlx::query_scalar(
        "UPDATE console_sign_in_failures SET failures = failures + 1, last_failed_at = now()
         WHERE client = $1 RETURNING failures",
    )
    .bind(&client)
    .fetch_one(&mut *tx)
    .await?;
    if added {
        sqlx::query(
            "DELETE FROM console_sign_in_failures WHERE client IN (
                 SELECT client FROM console_sign_in_failures ORDER BY last_failed_at DESC OFFSET $1)",
        )
        .bind(bounds.max_clients)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(Ok(u32::try_from(failures).unwrap_or(u32::MAX)))
}

/// A right token from `client`: its failures are forgotten, everywhere.
pub async fn succeeded(primary: &PgPool, client: IpAddr) -> Result<()> {
    sqlx::query("DELETE FROM console_sign_in_failures WHERE client = $1")
        .bind(client.to_string())
        .execute(primary)
        .await?;
    Ok(())
}

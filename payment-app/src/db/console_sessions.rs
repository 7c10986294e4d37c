//! The console's sessions, shared by every API process through the
//! primary (a session must be found by the next request, whichever
//! replica it reaches, so these never read the read replica). Rows are
//! keyed by the SHA-256 of the session id; see the migration
//! `console_sessions` for what is kept and why.

use std::time::Duration;

use sqlx::PgPool;

use crate::error::Result;

/// A session as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSession {
    /// The token's place in `API_TOKENS`.
    pub token: usize,
    /// The scopes' names, as the token had them at sign-in.
    pub scopes: Vec<String>,
    /// SHA-256 of the session id and the token.
    pub binding: [u8; 32],
}

/// Records a session that lasts `lifetime` from now (PostgreSQL's clock,
/// the one every process reads it by), and removes the expired ones.
pub async fn open(
    pool: &PgPool,
    id_hash: &[u8; 32],
    session: &StoredSession,
    lifetime: Duration,
) -> Result<()> {
    let mut tx = pool.begin().await?;
    sqlx::query("DELETE FROM console_sessions WHERE expires_at <= now()").execute(&mut *tx).await?;
    sqlx::query(
        "INSERT INTO console_sessions (id_hash, token, scopes, binding, expires_at)
         VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5))",
    )
    .bind(&id_hash[..])
    .bind(i32::try_from(session.token).unwrap_or(i32::MAX))
    .bind(&session.scopes)
    .bind(&session.binding[..])
    .bind(lifetime.as_secs_f64())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The live session `id_hash` names; `None` when unknown, signed out or
/// expired.
pub async fn get(pool: &PgPool, id_hash: &[u8; 32]) -> Result<Option<StoredSession>> {
    let row: Option<(i32, Vec<String>, Vec<u8>)> = sqlx::query_as(
        "SELECT token, scopes, binding FROM console_sessions WHERE id_hash = $1 AND expires_at > now()",
    )
    .bind(&id_hash[..])
    .fetch_optional(pool)
    .await?;
    Ok(row.and_then(|(token, scopes, binding)| {
        Some(StoredSession { token: usize::try_from(token).ok()?, scopes, binding: binding.try_into().ok()? })
    }))
}

/// Ends the session `id_hash` names, for every process at once.
pub async fn close(pool: &PgPool, id_hash: &[u8; 32]) -> Result<()> {
    sqlx::query("DELETE FROM console_sessions WHERE id_hash = $1").bind(&id_hash[..]).execute(pool).await?;
    Ok(())
}

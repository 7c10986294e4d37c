//! Creating at most once per `Idempotency-Key`: a client that retries a
//! create with the same key and the same request gets the first answer
//! back, and nothing is created twice, also when the retries arrive at the
//! same time. The same key with a different request is refused. Keys are
//! remembered for [`KEY_WINDOW`](crate::domain::KEY_WINDOW), then forgotten.
//!
//! The key is claimed in the same transaction that creates the resource, so
//! the key and what it created commit (or vanish) together.

use std::collections::{HashMap, HashSet};

use serde_json::Value;
use sqlx::{PgConnection, PgPool};

use crate::domain::IdempotencyKey;
use crate::error::{Error, Result};

/// What a create under a key came to.
#[derive(Debug)]
pub enum Idempotent<T> {
    /// Created now.
    Created(T),
    /// The key was used before with this request: the snapshot of what it
    /// created then, as it was.
    Replayed(Value),
    /// The key was used before with a different request.
    KeyReused,
}

/// Runs `create` in a transaction, at most once per `(scope, key)`.
///
/// `request` is the parsed, normalised request, compared with the one the
/// key was first used with. `snapshot` renders what was created as a retry
/// is to get it back; it is stored with the key. Without a key, `create`
/// simply runs on a connection of its own.
pub async fn once<T>(
    primary: &PgPool,
    scope: &str,
    key: Option<&IdempotencyKey>,
    request: &Value,
    create: impl AsyncFnOnce(&mut PgConnection) -> Result<T>,
    snapshot: impl Fn(&T) -> Value,
) -> Result<Idempotent<T>> {
    let Some(key) = key else {
        // No key, nothing to keep atomic with: `create` makes its own
        // transaction if it needs one.
        let mut conn = primary.acquire().await?;
        return Ok(Idempotent::Created(create(&mut conn).await?));
    };
    let mut tx = primary.begin().await?;
    if claim(&mut tx, scope, key.as_str(), request).await? {
        let created = create(&mut tx).await?;
        record(&mut tx, scope, key.as_str(), &snapshot(&created)).await?;
        tx.commit().await?;
        return Ok(Idempotent::Created(created));
    }
    tx.rollback().await?;
    let recorded = get(primary, scope, key.as_str()).await?.ok_or_else(|| {
        Error::Corrupt(format!("idempotency key {scope}/{} vanished after its claim", key.as_str()))
    })?;
    if recorded.request == *request {
        Ok(Idempotent::Replayed(recorded.snapshot))
    } else {
        Ok(Idempotent::KeyReused)
    }
}

/// A key's first use, as recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded {
    pub request: Value,
    pub snapshot: Value,
}

/// Claims many keys of `scope` in the caller's transaction with one
/// statement, each with its request; returns the keys claimed now. The
/// others were taken already (their first use is read with
/// [`get_many`]). Keys are claimed in sorted order, so two transactions
/// claiming overlapping keys wait on each other in one order and never
/// deadlock; as with [`once`], a key another transaction is claiming waits
/// here until that transaction ends. `keys` must be distinct.
pub async fn claim_many(
    tx: &mut PgConnection,
    scope: &str,
    keys: &[(&str, &Value)],
) -> Result<HashSet<String>> {
    let mut sorted: Vec<&(&str, &Value)> = keys.iter().collect();
    sorted.sort_unstable_by_key(|(key, _)| *key);
    let names: Vec<&str> = sorted.iter().map(|(key, _)| *key).collect();
    let requests: Vec<Value> = sorted.iter().map(|(_, request)| (*request).clone()).collect();
    let claimed = sqlx::query_scalar!(
        "INSERT INTO idempotency_keys (scope, key, request, response) \
         SELECT $1, key, request, 'null' FROM unnest($2::text[], $3::jsonb[]) WITH ORDINALITY AS t(key, request, n) \
         ORDER BY n ON CONFLICT DO NOTHING RETURNING key",
        scope,
        &names as &[&str],
        &requests,
    )
    .fetch_all(&mut *tx)
    .await?;
    Ok(claimed.into_iter().collect())
}

/// Records what each claimed key created (`(key, snapshot)`), in the
/// caller's transaction, with one statement.
pub async fn record_many(tx: &mut PgConnection, scope: &str, snapshots: &[(&str, Value)]) -> Result<()> {
    let keys: Vec<&str> = snapshots.iter().map(|(key, _)| *key).collect();
    let values: Vec<Value> = snapshots.iter().map(|(_, snapshot)| snapshot.clone()).collect();
    sqlx::query!(
        "UPDATE idempotency_keys k SET response = t.snapshot \
         FROM unnest($2::text[], $3::jsonb[]) AS t(key, snapshot) WHERE k.scope = $1 AND k.key = t.key",
        scope,
        &keys as &[&str],
        &values,
    )
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// The first use of each of `keys` that is recorded, by key. Read in the
/// caller's transaction after [`claim_many`]: a key it found taken was
/// committed by then, so this statement sees it.
pub async fn get_many(
    tx: &mut PgConnection,
    scope: &str,
    keys: &[&str],
) -> Result<HashMap<String, Recorded>> {
    let rows = sqlx::query!(
        r#"SELECT key, request, response AS snapshot FROM idempotency_keys WHERE scope = $1 AND key = ANY($2)"#,
        scope,
        keys as &[&str],
    )
    .fetch_all(&mut *tx)
    .await?;
    Ok(rows.into_iter().map(|r| (r.key, Recorded { request: r.request, snapshot: r.snapshot })).collect())
}

/// Claims `key` in the caller's transaction. Returns `false` when it is
/// already taken; a concurrent claim of the same key waits here until the
/// first transaction ends, so only one of them ever creates anything.
async fn claim(tx: &mut PgConnection, scope: &str, key: &str, request: &Value) -> Result<bool> {
    let claimed = sqlx::query!(
        "INSERT INTO idempotency_keys (scope, key, request, response) \
         VALUES ($1, $2, $3, 'null') ON CONFLICT DO NOTHING",
        scope,
        key,
        request,
    )
    .execute(&mut *tx)
    .await?;
    Ok(claimed.rows_affected() == 1)
}

/// Records what a claimed key created, in the same transaction.
async fn record(tx: &mut PgConnection, scope: &str, key: &str, snapshot: &Value) -> Result<()> {
    sqlx::query!(
        "UPDATE idempotency_keys SET response = $3 WHERE scope = $1 AND key = $2",
        scope,
        key,
        snapshot,
    )
    .execute(&mut *tx)
    .await?;
    Ok(())
}

async fn get(primary: &PgPool, scope: &str, key: &str) -> Result<Option<Recorded>> {
    let row = sqlx::query_as!(
        Recorded,
        r#"SELECT request, response AS snapshot FROM idempotency_keys WHERE scope = $1 AND key = $2"#,
        scope,
        key,
    )
    .fetch_optional(primary)
    .await?;
    Ok(row)
}

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
    let claim = claim_each(&mut tx, scope, &[Some((key.as_str(), request))]).await?.pop();
    match claim {
        Some(Claim::New) => {
            let created = create(&mut tx).await?;
            record_many(&mut tx, scope, &[(key.as_str(), snapshot(&created))]).await?;
            tx.commit().await?;
            Ok(Idempotent::Created(created))
        }
        Some(Claim::Replayed(first)) => {
            tx.rollback().await?;
            Ok(Idempotent::Replayed(first))
        }
        Some(Claim::KeyReused) => {
            tx.rollback().await?;
            Ok(Idempotent::KeyReused)
        }
        None => Err(Error::Corrupt(format!("idempotency key {scope}/{} was not claimed", key.as_str()))),
    }
}

/// What a request's key found when it was claimed.
#[derive(Debug, Clone, PartialEq)]
pub enum Claim {
    /// Claimed now (or the request has no key): create it, and record what
    /// was created with [`record_many`] in the same transaction.
    New,
    /// Taken by the same request before: the snapshot of what it created.
    Replayed(Value),
    /// Taken by a different request.
    KeyReused,
}

/// The one primitive behind every create under a key, single or many:
/// claims the key of each keyed request in the caller's transaction and
/// tells, in order, what each found. Two statements whatever the number of
/// keys: the claim ([`claim_many`], which waits for a concurrent claim of
/// the same key until its transaction ends, so only one ever creates), and
/// one read of the keys found taken. `requests` holds each item's key and
/// request, `None` for an item without a key; keys must be distinct.
pub async fn claim_each(
    tx: &mut PgConnection,
    scope: &str,
    requests: &[Option<(&str, &Value)>],
) -> Result<Vec<Claim>> {
    let keyed: Vec<(&str, &Value)> = requests.iter().flatten().copied().collect();
    if keyed.is_empty() {
        return Ok(requests.iter().map(|_| Claim::New).collect());
    }
    let claimed = claim_many(tx, scope, &keyed).await?;
    let taken: Vec<&str> = keyed.iter().map(|(key, _)| *key).filter(|key| !claimed.contains(*key)).collect();
    let mut recorded = if taken.is_empty() { HashMap::new() } else { get_many(tx, scope, &taken).await? };
    requests
        .iter()
        .map(|request| {
            let Some((key, request)) = request else { return Ok(Claim::New) };
            if claimed.contains(*key) {
                return Ok(Claim::New);
            }
            let first = recorded.remove(*key).ok_or_else(|| {
                Error::Corrupt(format!("idempotency key {scope}/{key} vanished after its claim"))
            })?;
            Ok(if first.request == **request { Claim::Replayed(first.snapshot) } else { Claim::KeyReused })
        })
        .collect()
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
async fn claim_many(tx: &mut PgConnection, scope: &str, keys: &[(&str, &Value)]) -> Result<HashSet<String>> {
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
async fn get_many(tx: &mut PgConnection, scope: &str, keys: &[&str]) -> Result<HashMap<String, Recorded>> {
    let rows = sqlx::query!(
        r#"SELECT key, request, response AS snapshot FROM idempotency_keys WHERE scope = $1 AND key = ANY($2)"#,
        scope,
        keys as &[&str],
    )
    .fetch_all(&mut *tx)
    .await?;
    Ok(rows.into_iter().map(|r| (r.key, Recorded { request: r.request, snapshot: r.snapshot })).collect())
}

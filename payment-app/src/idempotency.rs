//! `Idempotency-Key`: a client that retries a create with the same key and
//! the same request gets the first answer back, and nothing is created
//! twice, also when the retries arrive at the same time. The same key with a
//! different request is refused. Keys are remembered for [`KEY_WINDOW`].
//!
//! The key is claimed in the same transaction that creates the resource, so
//! the key and what it created commit (or vanish) together.

use std::time::Duration;

use serde_json::Value;
use sqlx::{PgConnection, PgPool};

use crate::db;
use crate::error::{Error, Result};

/// How long a key is remembered. A retry after that creates anew.
pub const KEY_WINDOW: Duration = Duration::from_secs(24 * 60 * 60);

/// Longest key accepted, in bytes.
pub const MAX_KEY_LEN: usize = 255;

/// A client's idempotency key: 1 to 255 visible ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Idempotency-Key must be 1 to {MAX_KEY_LEN} visible ASCII characters")]
pub struct KeyError;

impl IdempotencyKey {
    pub fn parse(s: &str) -> Result<Self, KeyError> {
        let valid = !s.is_empty() && s.len() <= MAX_KEY_LEN && s.bytes().all(|b| b.is_ascii_graphic());
        if valid { Ok(IdempotencyKey(s.to_owned())) } else { Err(KeyError) }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What a create under a key came to.
#[derive(Debug)]
pub enum Once<T> {
    /// Created now.
    Created(T),
    /// The key was used before with this request: its first answer.
    Replayed { status: u16, body: Value },
    /// The key was used before with a different request.
    KeyReused,
}

/// Runs `create` in a transaction, at most once per `(scope, key)`.
///
/// `request` is the parsed, normalised request, compared with the one the
/// key was first used with. `answer` renders what a fresh create returns to
/// the client; it is stored and replayed to retries. Without a key, `create`
/// simply runs in a transaction.
pub async fn once<T>(
    primary: &PgPool,
    scope: &str,
    key: Option<&IdempotencyKey>,
    request: &Value,
    create: impl AsyncFnOnce(&mut PgConnection) -> Result<T>,
    answer: impl Fn(&T) -> (u16, Value),
) -> Result<Once<T>> {
    let Some(key) = key else {
        // No key, nothing to keep atomic with: `create` runs on a plain
        // connection and makes its own transaction if it needs one.
        let mut conn = primary.acquire().await?;
        return Ok(Once::Created(create(&mut conn).await?));
    };
    let mut tx = primary.begin().await?;
    if db::idempotency::claim(&mut tx, scope, key.as_str(), request).await? {
        let created = create(&mut tx).await?;
        let (status, body) = answer(&created);
        db::idempotency::record(&mut tx, scope, key.as_str(), status, &body).await?;
        tx.commit().await?;
        return Ok(Once::Created(created));
    }
    tx.rollback().await?;
    let recorded = db::idempotency::get(primary, scope, key.as_str()).await?.ok_or_else(|| {
        Error::Corrupt(format!("idempotency key {scope}/{} vanished after its claim", key.as_str()))
    })?;
    if recorded.request == *request {
        Ok(Once::Replayed { status: recorded.status, body: recorded.response })
    } else {
        Ok(Once::KeyReused)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_visible_ascii_up_to_255_bytes() {
        assert!(IdempotencyKey::parse("order-42/retry:1").is_ok());
        assert!(IdempotencyKey::parse(&"k".repeat(MAX_KEY_LEN)).is_ok());
        for bad in ["", " ", "two words", "tab\there", "é", "\u{7f}"] {
            assert_eq!(IdempotencyKey::parse(bad), Err(KeyError), "{bad:?}");
        }
        assert_eq!(IdempotencyKey::parse(&"k".repeat(MAX_KEY_LEN + 1)), Err(KeyError));
    }
}

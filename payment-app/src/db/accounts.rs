//! Accounts and their issuance.

use chrono::{DateTime, Utc};
use sqlx::{Connection, PgConnection, PgPool};

use crate::domain::issuance::IssuanceRefused;
use uuid::Uuid;

use serde_json::Value;

use crate::domain::search::AccountFilter;
use crate::domain::{AccountId, Amount, Currency, Metadata, MetadataError, MetadataPatch};
use crate::error::{Error, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: AccountId,
    pub currency: Currency,
    /// Posted: the sum of the account's entries other than holds.
    pub balance: Amount,
    /// Held for open authorizations: the sum of its hold and release
    /// entries. Never more than `balance`.
    pub held: Amount,
    pub metadata: Metadata,
    pub created_at: DateTime<Utc>,
}

impl Account {
    /// What payments may spend: balance minus held.
    pub fn available(&self) -> Amount {
        self.balance.checked_sub(self.held).unwrap_or(Amount::ZERO)
    }
}

struct AccountRow {
    id: AccountId,
    currency: String,
    balance: i64,
    held: i64,
    metadata: Value,
    created_at: DateTime<Utc>,
}

/// Metadata read back from the database, where only valid maps are.
pub(crate) fn metadata_from_db(value: &Value) -> Result<Metadata> {
    Metadata::from_db(value).ok_or_else(|| Error::Corrupt(format!("metadata {value} is not a valid map")))
}

/// A currency code read back from the database, where only codes payrail
/// accepted can be.
pub(crate) fn currency_from_db(code: &str) -> Result<Currency> {
    Currency::parse(code).map_err(|e| Error::Corrupt(format!("currency {code:?}: {e}")))
}

impl TryFrom<AccountRow> for Account {
    type Error = Error;

    fn try_from(row: AccountRow) -> Result<Self> {
        let balance = Amount::from_minor(row.balance).ok_or_else(|| {
            Error::Corrupt(format!("account {} has negative balance {}", row.id, row.balance))
        })?;
        let held = Amount::from_minor(row.held).filter(|held| *held <= balance).ok_or_else(|| {
            Error::Corrupt(format!("account {} holds {} of {}", row.id, row.held, row.balance))
        })?;
        Ok(Account {
            id: row.id,
            currency: currency_from_db(&row.currency)?,
            balance,
            held,
            metadata: metadata_from_db(&row.metadata)?,
            created_at: row.created_at,
        })
    }
}

/// Opens an account. A non-zero initial balance is issuance: it is written
/// to the ledger in the same transaction, so total money stays accounted for,
/// and it raises the running total of issuance, refused when that would
/// pass `total_limit`. The account and its issuance commit together: in a
/// transaction of its own, or a savepoint when the caller already has one
/// open.
pub async fn create(
    conn: &mut PgConnection,
    id: AccountId,
    currency: Currency,
    initial_balance: Amount,
    metadata: &Metadata,
    total_limit: Amount,
) -> Result<Account> {
    let mut tx = conn.begin().await?;
    if !initial_balance.is_zero() {
        // One conditional UPDATE checks and raises the total: concurrent
        // openings queue on the row, and none can pass the limit together.
        let raised = sqlx::query!(
            "UPDATE issuance_total SET total = total + $1::bigint WHERE total + $1::bigint <= $2::bigint",
            initial_balance.minor(),
            total_limit.minor(),
        )
        .execute(&mut *tx)
        .await?;
        if raised.rows_affected() == 0 {
            return Err(Error::IssuanceRefused(IssuanceRefused::Total(total_limit)));
        }
    }
    let row = sqlx::query_as!(
        AccountRow,
        r#"INSERT INTO accounts (id, currency, balance, metadata) VALUES ($1, $2, $3, $4)
           RETURNING id AS "id: AccountId", currency, balance, held, metadata, created_at"#,
        id.as_uuid(),
        currency.code(),
        initial_balance.minor(),
        metadata.to_json(),
    )
    .fetch_one(&mut *tx)
    .await?;
    if !initial_balance.is_zero() {
        // The account's first entry: its balance after is what it issues,
        // dated with the account, so the balance at the instant the account
        // was opened is its initial balance.
        sqlx::query!(
            "INSERT INTO ledger_entries (account_id, currency, kind, amount, balance_after, created_at) \
             VALUES ($1, $2, 'issuance', $3, $3, $4)",
            id.as_uuid(),
            currency.code(),
            initial_balance.minor(),
            row.created_at,
        )
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    row.try_into()
}

pub async fn get(pool: &PgPool, id: AccountId) -> Result<Option<Account>> {
    let row = sqlx::query_as!(
        AccountRow,
        r#"SELECT id AS "id: AccountId", currency, balance, held, metadata, created_at FROM accounts WHERE id = $1"#,
        id.as_uuid(),
    )
    .fetch_optional(pool)
    .await?;
    row.map(Account::try_from).transpose()
}

/// The currency of each of these accounts that exists. An account's
/// currency never changes (the foreign keys on it refuse that), so any
/// copy of it, on the replica or in a cache, stays true.
pub async fn currencies(pool: &PgPool, ids: &[AccountId]) -> Result<Vec<(AccountId, Currency)>> {
    let ids: Vec<Uuid> = ids.iter().map(AccountId::as_uuid).collect();
    let rows = sqlx::query!(
        r#"SELECT id AS "id: AccountId", currency FROM accounts WHERE id = ANY($1)"#,
        &ids as &[Uuid],
    )
    .fetch_all(pool)
    .await?;
    rows.into_iter().map(|row| Ok((row.id, currency_from_db(&row.currency)?))).collect()
}

/// Applies a metadata change in one statement (so concurrent changes of
/// different keys both land); `None` for an unknown account. Refused,
/// changing nothing, when the map would pass the most keys it may hold.
pub async fn update_metadata(
    primary: &PgPool,
    id: AccountId,
    patch: &MetadataPatch,
) -> Result<Option<Account>> {
    let row = sqlx::query_as!(
        AccountRow,
        r#"UPDATE accounts SET metadata = (metadata || $2::jsonb) - $3::text[]
           WHERE id = $1
             AND (SELECT count(*) FROM jsonb_object_keys((metadata || $2::jsonb) - $3::text[])) <= $4
           RETURNING id AS "id: AccountId", currency, balance, held, metadata, created_at"#,
        id.as_uuid(),
        patch.set(),
        &patch.removed(),
        crate::domain::MAX_METADATA_KEYS as i64,
    )
    .fetch_optional(primary)
    .await?;
    match row {
        Some(row) => row.try_into().map(Some),
        None if get(primary, id).await?.is_some() => Err(Error::Metadata(MetadataError::TooManyKeys)),
        None => Ok(None),
    }
}

/// Up to `limit` accounts that pass `filter`, older than `before`, newest
/// first (keyset on the time-ordered id). By metadata, its GIN index serves
/// (`metadata <> '{}'` lets the partial index apply); by currency alone,
/// `(currency, id)`; else the primary key.
pub async fn list(
    pool: &PgPool,
    filter: &AccountFilter,
    before: Option<AccountId>,
    limit: i64,
) -> Result<Vec<Account>> {
    let before = before.map_or(Uuid::max(), |id| id.as_uuid());
    let currency = filter.currency.map(Currency::code);
    let rows = match (filter.metadata.as_ref().map(Metadata::to_json), currency) {
        (Some(metadata), currency) => {
            sqlx::query_as!(
                AccountRow,
                r#"SELECT id AS "id: AccountId", currency, balance, held, metadata, created_at FROM accounts
                   WHERE metadata @> $1 AND metadata <> '{}' AND ($2::text IS NULL OR currency = $2) AND id < $3
                   ORDER BY id DESC LIMIT $4"#,
                metadata,
                currency,
                before,
                limit,
            )
            .fetch_all(pool)
            .await?
        }
        (None, Some(currency)) => {
            sqlx::query_as!(
                AccountRow,
                r#"SELECT id AS "id: AccountId", currency, balance, held, metadata, created_at FROM accounts
                   WHERE currency = $1 AND id < $2 ORDER BY id DESC LIMIT $3"#,
                currency,
                before,
                limit,
            )
            .fetch_all(pool)
            .await?
        }
        (None, None) => {
            sqlx::query_as!(
                AccountRow,
                r#"SELECT id AS "id: AccountId", currency, balance, held, metadata, created_at FROM accounts
                   WHERE id < $1 ORDER BY id DESC LIMIT $2"#,
                before,
                limit,
            )
            .fetch_all(pool)
            .await?
        }
    };
    rows.into_iter().map(Account::try_from).collect()
}

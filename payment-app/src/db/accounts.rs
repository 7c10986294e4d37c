//! Accounts, their issuance and their credit limits.

use chrono::{DateTime, Utc};
use sqlx::{Connection, PgConnection, PgPool};

use crate::domain::issuance::IssuanceRefused;
use uuid::Uuid;

use serde_json::Value;

use crate::domain::search::AccountFilter;
use crate::domain::settlement::AccountState;
use crate::domain::{AccountId, Amount, Currency, EventId, Metadata, MetadataError, MetadataPatch};
use crate::error::{Error, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: AccountId,
    pub currency: Currency,
    /// Posted: the sum of the account's entries other than holds. Signed:
    /// below zero while the account spends its credit, never below
    /// `-credit_limit`.
    pub balance: i64,
    /// Held for open authorizations: the sum of its hold and release
    /// entries. Never more than `balance + credit_limit`.
    pub held: Amount,
    /// How far below zero its balance may go.
    pub credit_limit: Amount,
    pub metadata: Metadata,
    pub created_at: DateTime<Utc>,
}

impl Account {
    /// What payments may spend: balance plus credit limit, minus held (the
    /// rule settle decides by).
    pub fn available(&self) -> Amount {
        AccountState { balance: self.balance, held: self.held, credit_limit: self.credit_limit }.available()
    }
}

struct AccountRow {
    id: AccountId,
    currency: String,
    balance: i64,
    held: i64,
    credit_limit: i64,
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
        let corrupt = || {
            Error::Corrupt(format!(
                "account {}: balance {}, held {}, credit limit {}",
                row.id, row.balance, row.held, row.credit_limit
            ))
        };
        let credit_limit = Amount::from_minor(row.credit_limit).ok_or_else(corrupt)?;
        let held = Amount::from_minor(row.held).ok_or_else(corrupt)?;
        let covered = i128::from(row.held.max(0)) <= i128::from(row.balance) + i128::from(row.credit_limit);
        if row.balance < -row.credit_limit || !covered {
            return Err(corrupt());
        }
        Ok(Account {
            id: row.id,
            currency: currency_from_db(&row.currency)?,
            balance: row.balance,
            held,
            credit_limit,
            metadata: metadata_from_db(&row.metadata)?,
            created_at: row.created_at,
        })
    }
}

/// What an account is opened with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Opening {
    pub currency: Currency,
    pub initial_balance: Amount,
    pub credit_limit: Amount,
}

/// Raises (or, for a negative `by`, lowers) the running total of issuance,
/// credit limits included; refused when a raise would pass `total_limit`.
/// One conditional UPDATE checks and raises it: concurrent changes queue on
/// the row, and none can pass the limit together.
async fn raise_issuance_total(tx: &mut PgConnection, by: i64, total_limit: Amount) -> Result<()> {
    if by == 0 {
        return Ok(());
    }
    let raised = sqlx::query!(
        "UPDATE issuance_total SET total = total + $1::bigint WHERE $1::bigint < 0 OR total + $1::bigint <= $2::bigint",
        by,
        total_limit.minor(),
    )
    .execute(&mut *tx)
    .await?;
    if raised.rows_affected() == 0 {
        return Err(Error::IssuanceRefused(IssuanceRefused::Total(total_limit)));
    }
    Ok(())
}

/// Opens an account. A non-zero initial balance is issuance: it is written
/// to the ledger in the same transaction, so total money stays accounted for,
/// and it raises the running total of issuance, as a credit limit does,
/// refused when that would pass `total_limit`. A credit limit is recorded
/// as a change from 0 at the opening, with its event. The account, its
/// issuance and its limit's event commit together: in a transaction of its
/// own, or a savepoint when the caller already has one open.
pub async fn create(
    conn: &mut PgConnection,
    id: AccountId,
    opening: Opening,
    metadata: &Metadata,
    total_limit: Amount,
) -> Result<Account> {
    let Opening { currency, initial_balance, credit_limit } = opening;
    let mut tx = conn.begin().await?;
    let issued = initial_balance
        .checked_add(credit_limit)
        .ok_or(Error::IssuanceRefused(IssuanceRefused::Total(total_limit)))?;
    raise_issuance_total(&mut tx, issued.minor(), total_limit).await?;
    let row = sqlx::query_as!(
        AccountRow,
        r#"INSERT INTO accounts (id, currency, balance, credit_limit, metadata) VALUES ($1, $2, $3, $4, $5)
           RETURNING id AS "id: AccountId", currency, balance, held, credit_limit, metadata, created_at"#,
        id.as_uuid(),
        currency.code(),
        initial_balance.minor(),
        credit_limit.minor(),
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
    if !credit_limit.is_zero() {
        record_credit_limit(&mut tx, id, 0, credit_limit.minor(), Some(row.created_at)).await?;
    }
    tx.commit().await?;
    row.try_into()
}

/// Records a change of `account`'s credit limit from `old` to `new`: the
/// row of its history (`credit_limit_changes`, what `balance?at=` reads)
/// and the `account.credit_limit_changed` event that announces it, with
/// the event's webhook deliveries and its `payrail.events` publication,
/// in one statement of the caller's transaction, which holds the account's
/// row lock. The event's id is made here, under that lock, so an account's
/// changes are in id order: the feed's order, and the order its webhook
/// deliveries wait for each other in (their subject is the account).
///
/// The change takes effect at `at` (an account opened with a limit: its
/// opening), or else now, once the lock is held (`clock_timestamp()`, not
/// the transaction's start, which may be from before a wait for the lock).
async fn record_credit_limit(
    tx: &mut PgConnection,
    account: AccountId,
    old: i64,
    new: i64,
    at: Option<DateTime<Utc>>,
) -> Result<()> {
    sqlx::query!(
        r#"WITH c AS (
               INSERT INTO credit_limit_changes (id, account_id, old_limit, new_limit, changed_at)
               VALUES ($1, $2, $3, $4, COALESCE($5, clock_timestamp()))
               RETURNING id, changed_at),
           e AS (
               INSERT INTO events (id, type, created_at)
               SELECT id, 'account.credit_limit_changed', changed_at FROM c
               RETURNING id, type),
           d AS (
               INSERT INTO webhook_deliveries (endpoint_id, event_id, subject_id)
               SELECT w.id, e.id, $2 FROM e
               JOIN webhook_endpoints w ON w.events IS NULL OR e.type = ANY (w.events))
           INSERT INTO event_publications (first_event, event_ids) SELECT id, ARRAY[id] FROM e"#,
        EventId::new().as_uuid(),
        account.as_uuid(),
        old,
        new,
        at,
    )
    .execute(tx)
    .await?;
    Ok(())
}

pub async fn get<'e, E>(pool: E, id: AccountId) -> Result<Option<Account>>
where
    E: sqlx::PgExecutor<'e>,
{
    let row = sqlx::query_as!(
        AccountRow,
        r#"SELECT id AS "id: AccountId", currency, balance, held, credit_limit, metadata, created_at FROM accounts WHERE id = $1"#,
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

/// The longest a credit limit change waits for its account's row (settle
/// holds it for a moment per batch); then 503 `account_busy`.
const CREDIT_LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

/// A change of an account: its metadata, its credit limit, or both.
#[derive(Debug, Clone, Copy)]
pub struct AccountChange<'a> {
    pub metadata: Option<&'a MetadataPatch>,
    pub credit_limit: Option<Amount>,
}

/// Applies a change of an account in one transaction; `None` for an
/// unknown account. A new credit limit is refused when the account already
/// uses more credit than it (spent past zero, plus held: available would
/// go below zero), and moves the running total of issuance by the
/// difference (a raise refused past `total_limit`). It is decided under
/// the account's row lock, the one settle takes, so no payment can spend
/// credit between the check and the change; the database's constraints
/// refuse it too. A limit that changes is recorded with its event (see
/// `record_credit_limit`); the same limit sent again records nothing.
pub async fn update(
    primary: &PgPool,
    id: AccountId,
    change: AccountChange<'_>,
    total_limit: Amount,
) -> Result<Option<Account>> {
    let Some(credit_limit) = change.credit_limit else {
        return match change.metadata {
            Some(patch) => update_metadata(&mut *primary.acquire().await?, id, patch).await,
            None => get(primary, id).await,
        };
    };
    let mut tx = super::tx::begin_bounded_tx(primary, CREDIT_LOCK_WAIT).await?;
    let Some(row) = sqlx::query!(
        r#"SELECT balance, held, credit_limit, currency FROM accounts WHERE id = $1 FOR NO KEY UPDATE"#,
        id.as_uuid(),
    )
    .fetch_optional(&mut *tx)
    .await?
    else {
        return Ok(None);
    };
    let used = i128::from(row.held) - i128::from(row.balance);
    if used > i128::from(credit_limit.minor()) {
        let used = i64::try_from(used).ok().and_then(Amount::from_minor).unwrap_or(Amount::ZERO);
        return Err(Error::CreditLimitBelowUsed { used: currency_from_db(&row.currency)?.money(used) });
    }
    raise_issuance_total(&mut tx, credit_limit.minor() - row.credit_limit, total_limit).await?;
    if credit_limit.minor() != row.credit_limit {
        sqlx::query!(
            "UPDATE accounts SET credit_limit = $2 WHERE id = $1",
            id.as_uuid(),
            credit_limit.minor()
        )
        .execute(&mut *tx)
        .await?;
        record_credit_limit(&mut tx, id, row.credit_limit, credit_limit.minor(), None).await?;
    }
    let account = match change.metadata {
        Some(patch) => update_metadata(&mut tx, id, patch).await?,
        None => get(&mut *tx, id).await?,
    };
    tx.commit().await?;
    Ok(account)
}

/// Applies a metadata change in one statement (so concurrent changes of
/// different keys both land); `None` for an unknown account. Refused,
/// changing nothing, when the map would pass the most keys it may hold.
async fn update_metadata(
    conn: &mut PgConnection,
    id: AccountId,
    patch: &MetadataPatch,
) -> Result<Option<Account>> {
    let row = sqlx::query_as!(
        AccountRow,
        r#"UPDATE accounts SET metadata = (metadata || $2::jsonb) - $3::text[]
           WHERE id = $1
             AND (SELECT count(*) FROM jsonb_object_keys((metadata || $2::jsonb) - $3::text[])) <= $4
           RETURNING id AS "id: AccountId", currency, balance, held, credit_limit, metadata, created_at"#,
        id.as_uuid(),
        patch.set(),
        &patch.removed(),
        crate::domain::MAX_METADATA_KEYS as i64,
    )
    .fetch_optional(&mut *conn)
    .await?;
    match row {
        Some(row) => row.try_into().map(Some),
        None if get(&mut *conn, id).await?.is_some() => Err(Error::Metadata(MetadataError::TooManyKeys)),
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
                r#"SELECT id AS "id: AccountId", currency, balance, held, credit_limit, metadata, created_at FROM accounts
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
                r#"SELECT id AS "id: AccountId", currency, balance, held, credit_limit, metadata, created_at FROM accounts
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
                r#"SELECT id AS "id: AccountId", currency, balance, held, credit_limit, metadata, created_at FROM accounts
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

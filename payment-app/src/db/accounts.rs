//! Accounts and their issuance.

use chrono::{DateTime, Utc};
use sqlx::{Connection, PgConnection, PgPool};

use crate::domain::issuance::IssuanceRefused;
use crate::domain::{AccountId, Amount};
use crate::error::{Error, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: AccountId,
    /// Posted: the sum of the account's entries other than holds.
    pub balance: Amount,
    /// Held for open authorizations: the sum of its hold and release
    /// entries. Never more than `balance`.
    pub held: Amount,
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
    balance: i64,
    held: i64,
    created_at: DateTime<Utc>,
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
        Ok(Account { id: row.id, balance, held, created_at: row.created_at })
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
    initial_balance: Amount,
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
        r#"INSERT INTO accounts (id, balance) VALUES ($1, $2) RETURNING id AS "id: AccountId", balance, held, created_at"#,
        id.as_uuid(),
        initial_balance.minor(),
    )
    .fetch_one(&mut *tx)
    .await?;
    if !initial_balance.is_zero() {
        sqlx::query!(
            "INSERT INTO ledger_entries (account_id, kind, amount) VALUES ($1, 'issuance', $2)",
            id.as_uuid(),
            initial_balance.minor(),
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
        r#"SELECT id AS "id: AccountId", balance, held, created_at FROM accounts WHERE id = $1"#,
        id.as_uuid(),
    )
    .fetch_optional(pool)
    .await?;
    row.map(Account::try_from).transpose()
}

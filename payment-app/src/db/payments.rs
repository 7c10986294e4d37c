//! Payments: recording accepted ones and reading them back.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};

use crate::domain::{AccountId, Amount, FailureReason, NewPayment, PaymentId, PaymentStatus};
use crate::error::{Error, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payment {
    pub id: PaymentId,
    pub from_account: AccountId,
    pub to_account: AccountId,
    pub amount: Amount,
    pub description: Option<String>,
    pub status: PaymentStatus,
    pub failure_reason: Option<FailureReason>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
pub(crate) struct PaymentRow {
    id: PaymentId,
    from_account: AccountId,
    to_account: AccountId,
    amount: i64,
    description: Option<String>,
    status: String,
    failure_reason: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

pub(crate) const COLUMNS: &str =
    "id, from_account, to_account, amount, description, status, failure_reason, created_at, updated_at";

impl TryFrom<PaymentRow> for Payment {
    type Error = Error;

    fn try_from(row: PaymentRow) -> Result<Self> {
        let corrupt = |what: &str| Error::Corrupt(format!("payment {}: {what}", row.id));
        let amount = Amount::from_minor(row.amount).ok_or_else(|| corrupt("negative amount"))?;
        let status = PaymentStatus::from_db(&row.status).ok_or_else(|| corrupt("unknown status"))?;
        let failure_reason = match row.failure_reason.as_deref() {
            None => None,
            Some(reason) => {
                Some(FailureReason::from_db(reason).ok_or_else(|| corrupt("unknown failure reason"))?)
            }
        };
        Ok(Payment {
            id: row.id,
            from_account: row.from_account,
            to_account: row.to_account,
            amount,
            description: row.description,
            status,
            failure_reason,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

/// Records an accepted payment as `pending`. The foreign keys are what
/// checks that both accounts exist, in the same round trip.
pub async fn insert(tx: &mut PgConnection, payment: &NewPayment) -> Result<Payment> {
    let sql = format!(
        "INSERT INTO payments (id, from_account, to_account, amount, description) \
         VALUES ($1, $2, $3, $4, $5) RETURNING {COLUMNS}"
    );
    let row: Result<PaymentRow, sqlx::Error> = sqlx::query_as(&sql)
        .bind(payment.id.as_uuid())
        .bind(payment.from_account.as_uuid())
        .bind(payment.to_account.as_uuid())
        .bind(payment.amount.minor())
        .bind(payment.description.as_deref())
        .fetch_one(tx)
        .await;
    match row {
        Ok(row) => row.try_into(),
        // foreign_key_violation: the constraint name says which side.
        Err(sqlx::Error::Database(db)) if db.code().as_deref() == Some("23503") => {
            let missing = if db.constraint() == Some("payments_to_account_fkey") {
                payment.to_account
            } else {
                payment.from_account
            };
            Err(Error::UnknownAccount(missing))
        }
        Err(e) => Err(e.into()),
    }
}

/// Records one accepted payment in a transaction of its own.
pub async fn insert_alone(primary: &PgPool, payment: &NewPayment) -> Result<Payment> {
    let mut conn = primary.acquire().await?;
    insert(&mut conn, payment).await
}

/// Records several accepted payments as `pending` with one statement (one
/// round trip, one commit). All or none: if one payment names an unknown
/// account, the statement fails as a whole and nothing is recorded; the
/// caller then records them one by one to find out which. Rows come back in
/// no particular order.
pub async fn insert_many(pool: &PgPool, payments: &[NewPayment]) -> Result<Vec<Payment>> {
    let sql = format!(
        "INSERT INTO payments (id, from_account, to_account, amount, description) \
         SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::int8[], $5::text[]) \
         RETURNING {COLUMNS}"
    );
    let rows: Vec<PaymentRow> = sqlx::query_as(&sql)
        .bind(payments.iter().map(|p| p.id.as_uuid()).collect::<Vec<_>>())
        .bind(payments.iter().map(|p| p.from_account.as_uuid()).collect::<Vec<_>>())
        .bind(payments.iter().map(|p| p.to_account.as_uuid()).collect::<Vec<_>>())
        .bind(payments.iter().map(|p| p.amount.minor()).collect::<Vec<_>>())
        .bind(payments.iter().map(|p| p.description.as_deref()).collect::<Vec<_>>())
        .fetch_all(pool)
        .await?;
    rows.into_iter().map(Payment::try_from).collect()
}

pub async fn get(pool: &PgPool, id: PaymentId) -> Result<Option<Payment>> {
    let sql = format!("SELECT {COLUMNS} FROM payments WHERE id = $1");
    let row: Option<PaymentRow> = sqlx::query_as(&sql).bind(id.as_uuid()).fetch_optional(pool).await?;
    row.map(Payment::try_from).transpose()
}

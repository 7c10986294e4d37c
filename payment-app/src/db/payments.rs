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

/// A `payments` row as the queries here select it.
pub(crate) struct PaymentRow {
    pub(crate) id: PaymentId,
    pub(crate) from_account: AccountId,
    pub(crate) to_account: AccountId,
    pub(crate) amount: i64,
    pub(crate) description: Option<String>,
    pub(crate) status: String,
    pub(crate) failure_reason: Option<String>,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) updated_at: DateTime<Utc>,
}

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
    let row = sqlx::query_as!(
        PaymentRow,
        r#"INSERT INTO payments (id, from_account, to_account, amount, description)
           VALUES ($1, $2, $3, $4, $5)
           RETURNING id AS "id: PaymentId", from_account AS "from_account: AccountId",
                     to_account AS "to_account: AccountId", amount, description, status, failure_reason,
                     created_at, updated_at"#,
        payment.id.as_uuid(),
        payment.from_account.as_uuid(),
        payment.to_account.as_uuid(),
        payment.amount.minor(),
        payment.description.as_deref(),
    )
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
    let descriptions: Vec<Option<String>> = payments.iter().map(|p| p.description.clone()).collect();
    let rows = sqlx::query_as!(
        PaymentRow,
        r#"INSERT INTO payments (id, from_account, to_account, amount, description)
           SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::int8[], $5::text[])
           RETURNING id AS "id: PaymentId", from_account AS "from_account: AccountId",
                     to_account AS "to_account: AccountId", amount, description, status, failure_reason,
                     created_at, updated_at"#,
        &payments.iter().map(|p| p.id.as_uuid()).collect::<Vec<_>>(),
        &payments.iter().map(|p| p.from_account.as_uuid()).collect::<Vec<_>>(),
        &payments.iter().map(|p| p.to_account.as_uuid()).collect::<Vec<_>>(),
        &payments.iter().map(|p| p.amount.minor()).collect::<Vec<_>>(),
        &descriptions as &[Option<String>],
    )
    .fetch_all(pool)
    .await?;
    rows.into_iter().map(Payment::try_from).collect()
}

pub async fn get(pool: &PgPool, id: PaymentId) -> Result<Option<Payment>> {
    let row = sqlx::query_as!(
        PaymentRow,
        r#"SELECT id AS "id: PaymentId", from_account AS "from_account: AccountId",
                  to_account AS "to_account: AccountId", amount, description, status, failure_reason,
                  created_at, updated_at
           FROM payments WHERE id = $1"#,
        id.as_uuid(),
    )
    .fetch_optional(pool)
    .await?;
    row.map(Payment::try_from).transpose()
}

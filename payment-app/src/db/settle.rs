//! Applying payments to the ledger: the only code that moves money.
//!
//! One transaction applies a whole batch with a fixed number of statements,
//! whatever its size. Safety does not depend on the Redis lock: payments
//! are re-read and locked here, only those still `pending` are applied, and
//! rows are locked in id order (payments first, then accounts), so
//! concurrent batches cannot deadlock and a redelivered message finds its
//! payment already terminal and changes nothing.

use std::collections::BTreeMap;

use sqlx::PgPool;
use uuid::Uuid;

use crate::domain::settlement::{self, Outcome, PendingPayment, Plan};
use crate::domain::{AccountId, Amount, EventId, PaymentId, PaymentStatus};
use crate::error::{Error, Result};

/// What one batch did.
#[derive(Debug, Default)]
pub struct Settled {
    /// Payments this batch moved out of `pending`, with their outcome.
    pub applied: Vec<(PendingPayment, Outcome)>,
    /// Ids that were not `pending` any more (or unknown): redeliveries.
    pub skipped: Vec<PaymentId>,
    /// The accounts of every payment found, as the database has them: what
    /// the batch's lock is released on, whatever the message claimed.
    pub routes: BTreeMap<PaymentId, [AccountId; 2]>,
}

struct PendingRow {
    id: PaymentId,
    from_account: AccountId,
    to_account: AccountId,
    amount: i64,
    status: String,
}

/// Settles every still-pending payment among `ids` in one transaction.
pub async fn settle_batch(primary: &PgPool, ids: &[PaymentId]) -> Result<Settled> {
    let ids: Vec<Uuid> = ids.iter().map(PaymentId::as_uuid).collect();
    let mut tx = primary.begin().await?;

    // No status predicate in SQL: with one, a generic plan may walk the
    // partial index of pending payments (a whole backlog) instead of
    // looking the batch up by primary key. Status is checked after the row
    // lock, on the row's latest version.
    let rows = sqlx::query_as!(
        PendingRow,
        r#"SELECT id AS "id: PaymentId", from_account AS "from_account: AccountId",
                  to_account AS "to_account: AccountId", amount, status
           FROM payments WHERE id = ANY($1) ORDER BY id FOR NO KEY UPDATE"#,
        &ids,
    )
    .fetch_all(&mut *tx)
    .await?;
    let routes = rows.iter().map(|row| (row.id, [row.from_account, row.to_account])).collect();
    let pending = rows
        .into_iter()
        .filter(|row| row.status == PaymentStatus::Pending.as_str())
        .map(|row| {
            let amount = Amount::from_minor(row.amount)
                .ok_or_else(|| Error::Corrupt(format!("payment {} has a negative amount", row.id)))?;
            Ok(PendingPayment {
                id: row.id,
                from_account: row.from_account,
                to_account: row.to_account,
                amount,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let skipped = ids
        .iter()
        .filter(|id| !pending.iter().any(|p| p.id.as_uuid() == **id))
        .map(|id| PaymentId::from_uuid(*id))
        .collect();
    if pending.is_empty() {
        tx.rollback().await?;
        return Ok(Settled { applied: Vec::new(), skipped, routes });
    }

    let mut account_ids: Vec<Uuid> =
        pending.iter().flat_map(|p| [p.from_account.as_uuid(), p.to_account.as_uuid()]).collect();
    account_ids.sort_unstable();
    account_ids.dedup();
    let balances = sqlx::query!(
        r#"SELECT id AS "id: AccountId", balance FROM accounts WHERE id = ANY($1) ORDER BY id FOR NO KEY UPDATE"#,
        &account_ids,
    )
    .fetch_all(&mut *tx)
    .await?;
    let balances = balances
        .into_iter()
        .map(|row| (row.id, row.balance))
        .map(|(id, minor)| {
            let amount = Amount::from_minor(minor)
                .ok_or_else(|| Error::Corrupt(format!("account {id} has a negative balance")))?;
            Ok((id, amount))
        })
        .collect::<Result<BTreeMap<_, _>>>()?;

    let plan = settlement::plan(balances, &pending)?;
    write_plan(&mut tx, &plan).await?;
    tx.commit().await?;
    Ok(Settled { applied: plan.outcomes, skipped, routes })
}

async fn write_plan(tx: &mut sqlx::PgConnection, plan: &Plan) -> Result<()> {
    if !plan.balances.is_empty() {
        write_balances(tx, plan).await?;
        write_entries(tx, plan).await?;
    }
    write_outcomes(tx, plan).await
}

async fn write_balances(tx: &mut sqlx::PgConnection, plan: &Plan) -> Result<()> {
    let (ids, balances): (Vec<Uuid>, Vec<i64>) =
        plan.balances.iter().map(|(id, amount)| (id.as_uuid(), amount.minor())).unzip();
    sqlx::query!(
        "UPDATE accounts SET balance = new.balance \
         FROM UNNEST($1::uuid[], $2::bigint[]) AS new(id, balance) WHERE accounts.id = new.id",
        &ids,
        &balances,
    )
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// The debit and the credit of every payment that is done.
async fn write_entries(tx: &mut sqlx::PgConnection, plan: &Plan) -> Result<()> {
    let mut accounts = Vec::new();
    let mut payments = Vec::new();
    let mut kinds: Vec<&str> = Vec::new();
    let mut amounts = Vec::new();
    for payment in plan.done() {
        let minor = payment.amount.minor();
        for (account, kind, amount) in
            [(payment.from_account, "debit", -minor), (payment.to_account, "credit", minor)]
        {
            accounts.push(account.as_uuid());
            payments.push(payment.id.as_uuid());
            kinds.push(kind);
            amounts.push(amount);
        }
    }
    // Each entry is in its payment's currency; the foreign keys hold the
    // account to it as well, so no entry can move money across currencies.
    sqlx::query!(
        "INSERT INTO ledger_entries (account_id, payment_id, kind, amount, currency) \
         SELECT new.*, p.currency \
         FROM UNNEST($1::uuid[], $2::uuid[], $3::text[], $4::bigint[]) AS new(account_id, payment_id, kind, amount) \
         JOIN payments p ON p.id = new.payment_id",
        &accounts,
        &payments,
        &kinds as &[&str],
        &amounts,
    )
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Moves every planned payment out of `pending`, to its outcome, and
/// records the event of each.
async fn write_outcomes(tx: &mut sqlx::PgConnection, plan: &Plan) -> Result<()> {
    let mut ids = Vec::with_capacity(plan.outcomes.len());
    let mut statuses: Vec<&str> = Vec::with_capacity(plan.outcomes.len());
    let mut reasons: Vec<Option<&str>> = Vec::with_capacity(plan.outcomes.len());
    for (payment, outcome) in &plan.outcomes {
        ids.push(payment.id.as_uuid());
        match outcome {
            Outcome::Done => {
                statuses.push(PaymentStatus::Done.as_str());
                reasons.push(None);
            }
            Outcome::Failed(reason) => {
                statuses.push(PaymentStatus::Failed.as_str());
                reasons.push(Some(reason.as_str()));
            }
        }
    }
    // Each payment's `payment.done`/`payment.failed` event and its webhook
    // deliveries are written by the same statement that moves it: the
    // event commits exactly when the status change does.
    let event_ids: Vec<Uuid> = ids.iter().map(|_| EventId::new().as_uuid()).collect();
    let moved = sqlx::query_scalar!(
        r#"WITH moved AS (
               UPDATE payments SET status = new.status, failure_reason = new.reason, updated_at = now()
               FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::uuid[]) AS new(id, status, reason, event_id)
               WHERE payments.id = new.id AND payments.status = 'pending'
               RETURNING payments.id, payments.status, payments.failure_reason, payments.updated_at,
                         new.event_id),
           e AS (
               INSERT INTO events (id, type, payment_id, status, failure_reason, payment_updated_at)
               SELECT event_id, 'payment.' || status, id, status, failure_reason, updated_at FROM moved
               RETURNING id, type, payment_id),
           d AS (
               INSERT INTO webhook_deliveries (endpoint_id, event_id, payment_id)
               SELECT w.id, e.id, e.payment_id FROM e
               JOIN webhook_endpoints w ON w.events IS NULL OR e.type = ANY (w.events))
           SELECT count(*) AS "moved!" FROM moved"#,
        &ids,
        &statuses as &[&str],
        &reasons as &[Option<&str>],
        &event_ids,
    )
    .fetch_one(&mut *tx)
    .await?;
    // The rows are locked FOR UPDATE above, so every one must still be pending.
    if moved != ids.len() as i64 {
        return Err(Error::Corrupt(format!(
            "settle expected to move {} payments out of pending, moved {}",
            ids.len(),
            moved
        )));
    }
    Ok(())
}

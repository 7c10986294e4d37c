//! The seeded ledger's writes (see `bench::seed`): `COPY` per chunk, all in
//! one transaction, so an interrupted seed leaves nothing behind.

use sqlx::{PgConnection, Postgres, Transaction};
use uuid::Uuid;

use crate::error::Result;

async fn copy(conn: &mut PgConnection, statement: &str, rows: &str) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut copy = conn.copy_in_raw(statement).await?;
    copy.send(rows.as_bytes()).await?;
    copy.finish().await?;
    Ok(())
}

/// The accounts and their issuance entries; raises `issuance_total` by
/// their sum. A seed may exceed the server's issuance limit: it is a
/// benchmark's ledger, not a client's request.
pub async fn accounts(
    tx: &mut Transaction<'_, Postgres>,
    accounts: &str,
    entries: &str,
    issued: i64,
) -> Result<()> {
    // No statement timeout: a large seed's COPYs run for as long as they need.
    sqlx::query("SET LOCAL statement_timeout = 0").execute(&mut **tx).await?;
    copy(tx, "COPY accounts (id, balance, currency, created_at) FROM STDIN", accounts).await?;
    copy(
        tx,
        "COPY ledger_entries (account_id, payment_id, kind, amount, currency, created_at, balance_after) FROM STDIN",
        entries,
    )
    .await?;
    sqlx::query("UPDATE issuance_total SET total = total + $1::bigint")
        .bind(issued)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// One chunk's payments, their ledger entries and their events.
pub async fn chunk(
    tx: &mut Transaction<'_, Postgres>,
    payments: &str,
    entries: &str,
    events: &str,
) -> Result<()> {
    copy(
        tx,
        "COPY payments (id, from_account, to_account, amount, status, failure_reason, currency, metadata, created_at, updated_at) \
         FROM STDIN",
        payments,
    )
    .await?;
    copy(
        tx,
        "COPY ledger_entries (account_id, payment_id, kind, amount, currency, created_at, balance_after) FROM STDIN",
        entries,
    )
    .await?;
    copy(tx, "COPY events (id, type, payment_id, status, failure_reason, payment_updated_at, created_at) FROM STDIN", events).await?;
    Ok(())
}

/// Sets each seeded account's balance to the one the generator kept, which
/// is the sum of its entries (the audit compares the two).
pub async fn balances(tx: &mut Transaction<'_, Postgres>, ids: &[Uuid], balances: &[i64]) -> Result<()> {
    sqlx::query("UPDATE accounts a SET balance = b.balance FROM unnest($1::uuid[], $2::bigint[]) AS b(id, balance) WHERE a.id = b.id")
        .bind(ids)
        .bind(balances)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

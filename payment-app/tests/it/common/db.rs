//! Reading and holding the test database directly.

use std::time::Duration;

use super::app::App;
use super::env::TestEnv;
use super::poll_within;

/// Another session's `SELECT … FOR UPDATE` on an account's row, held until
/// the returned transaction is rolled back or dropped: what blocks every
/// insert of a payment on that account.
pub async fn hold_account_row(
    pg: &sqlx::PgPool,
    account: &str,
) -> sqlx::Transaction<'static, sqlx::Postgres> {
    let mut holder = pg.begin().await.unwrap();
    sqlx::query("SELECT id FROM accounts WHERE id = $1::uuid FOR UPDATE")
        .bind(account)
        .execute(&mut *holder)
        .await
        .unwrap();
    holder
}

/// Waits until the database has no payment `pending` (read there: polling
/// thousands of payments through the API would measure the API).
pub async fn wait_none_pending(env: &TestEnv, app: &App, within: Duration) {
    let pg = env.pg().await;
    poll_within(within, || async {
        let pending: i64 = sqlx::query_scalar("SELECT count(*) FROM payments WHERE status = 'pending'")
            .fetch_one(&pg)
            .await
            .unwrap();
        if pending == 0 { Ok(()) } else { Err(format!("{pending} payments still pending")) }
    })
    .await
    .unwrap_or_else(|seen| panic!("{seen}; log:\n{}", app.log_tail()));
}

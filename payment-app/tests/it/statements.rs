//! Statements: an account's payments by keyset pages, and per-day totals
//! kept by an incremental refresh, run by one instance at a time.

use std::time::Duration;

use crate::common::{App, TestEnv, eventually, payment, refused};
use futures_util::TryStreamExt;
use payrail_client::types::{ErrorCode, PaymentId};
use serde_json::Value;

const WITHIN: Duration = Duration::from_secs(60);

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn an_accounts_payments_come_in_stable_keyset_pages() {
    let env = TestEnv::new();
    let app = App::start(&env, &[]).await;
    let (a, b, c) = (app.account("100.00").await, app.account("100.00").await, app.account("100.00").await);
    let mut made = Vec::new();
    for (from, to) in [(&a, &b), (&b, &a), (&a, &c), (&c, &b), (&c, &a), (&a, &b), (&b, &a)] {
        let (status, body) = app.pay(from, to, "1.00").await;
        assert_eq!(status, 202);
        made.push(id(&body));
    }
    app.wait_terminal(&made, WITHIN).await;
    // a's payments: every one but c -> b, newest first.
    let mut expected: Vec<String> =
        made.iter().enumerate().filter(|(i, _)| *i != 3).map(|(_, p)| p.clone()).collect();
    expected.reverse();

    let page = |cursor: Option<String>| {
        let app = &app;
        let a = a.clone();
        async move {
            let path = match cursor {
                Some(c) => format!("/api/v1/accounts/{a}/payments?limit=4&cursor={c}"),
                None => format!("/api/v1/accounts/{a}/payments?limit=4"),
            };
            let (status, body) = app.get(&path).await;
            assert_eq!(status, 200, "{body}");
            body
        }
    };
    let first = page(None).await;
    // A payment made between pages shows on no later page.
    let (_, newer) = app.pay(&b, &a, "1.00").await;
    let second = page(first["next_cursor"].as_str().map(str::to_owned)).await;
    assert!(second["next_cursor"].is_null(), "the last page says so: {second}");
    let seen: Vec<String> =
        [&first, &second].iter().flat_map(|p| p["payments"].as_array().unwrap().iter().map(id)).collect();
    assert_eq!(seen, expected);
    assert!(!seen.contains(&id(&newer)));
    let fresh = page(None).await;
    assert_eq!(id(&fresh["payments"][0]), id(&newer), "newest first");

    for (query, code) in
        [("limit=0", "invalid_query"), ("limit=501", "invalid_query"), ("cursor=nope", "invalid_query")]
    {
        let (status, body) = app.get(&format!("/api/v1/accounts/{a}/payments?{query}")).await;
        assert_eq!((status, body["error"]["code"].as_str()), (400, Some(code)), "{query}");
    }
    let unknown = uuid::Uuid::now_v7().to_string().parse().unwrap();
    let listed = app.api.account_payments(unknown, &[]).try_collect::<Vec<_>>().await;
    assert_eq!(refused(listed), (404, ErrorCode::NotFound));
}

#[tokio::test]
async fn the_statement_sums_each_day_from_the_refreshed_view() {
    let env = TestEnv::new();
    let app = App::start(&env, &[("STATEMENT_REFRESH_SECS", "1")]).await;
    let (a, b) = (app.account("100.00").await, app.account("0").await);
    let app = &app;
    let pay = |from: &str, to: &str, amount: &str| {
        let body = payment(from, to, amount);
        async move { app.accept(&body).await.id }
    };
    let settle = |id: PaymentId| async move { app.api.wait_until_terminal(id, WITHIN).await.unwrap() };
    let p1 = pay(&a, &b, "30.00").await;
    let p2 = pay(&a, &b, "500.00").await; // fails: no ledger entries
    settle(p1).await;
    let p3 = pay(&b, &a, "5.00").await;
    settle(p2).await;
    settle(p3).await;
    let settled_by = chrono::Utc::now();

    // Wait for a refresh after the last settlement.
    let (a, b) = (a.parse().unwrap(), b.parse().unwrap());
    let statement = eventually(WITHIN, "a refresh after the last settlement", || async {
        let statement = app.api.statement(a, None, None).await.unwrap();
        if statement.as_of > settled_by { Ok(statement) } else { Err(format!("{statement:?}")) }
    })
    .await;
    assert_eq!(statement.days.len(), 1, "{statement:?}");
    let today = &statement.days[0];
    assert_eq!(today.day, chrono::Utc::now().date_naive());
    assert_eq!(
        (today.debits.to_string(), today.credits.to_string()),
        ("30.00".to_owned(), "105.00".to_owned()),
        "issuance counts as credit"
    );
    assert_eq!(today.entries, 3);
    assert_eq!(today.closing_balance.to_string(), "75.00");
    assert_eq!(app.balance(&a.to_string()).await, "75.00", "the statement closes on the balance");

    let for_b = app.api.statement(b, None, None).await.unwrap();
    assert_eq!(for_b.days[0].closing_balance.to_string(), "25.00");
    let day = |text: &str| chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").ok();
    let backwards = app.api.statement(a, day("2026-02-01"), day("2026-01-01")).await;
    assert_eq!(refused(backwards), (400, ErrorCode::InvalidQuery));
    let empty = app.api.statement(a, day("2020-01-01"), day("2020-01-31")).await.unwrap();
    assert_eq!(empty.days.len(), 0);
}

#[tokio::test]
async fn one_instance_refreshes_the_view_at_a_time() {
    let env = TestEnv::new();
    let migrate = env.command(&["migrate"]).output().unwrap();
    assert!(migrate.status.success());
    let pg = env.pg().await;
    let mut holder = pg.acquire().await.unwrap();
    let taken: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock(hashtext('payrail.account_daily'))")
        .fetch_one(&mut *holder)
        .await
        .unwrap();
    assert!(taken);
    assert!(
        payment_app::db::statements::refresh_daily(&pg).await.unwrap().is_none(),
        "someone else is refreshing"
    );
    sqlx::query("SELECT pg_advisory_unlock(hashtext('payrail.account_daily'))")
        .execute(&mut *holder)
        .await
        .unwrap();
    assert!(payment_app::db::statements::refresh_daily(&pg).await.unwrap().is_some());
}

/// The per-day totals as the materialized view computed them, from all of
/// history: what the incremental refresh must always equal.
const FULL_COMPUTATION: &str = "
    SELECT account_id, day, debits, credits, entries,
           sum(credits - debits) OVER (PARTITION BY account_id ORDER BY day) AS closing_balance
    FROM (SELECT account_id, (created_at AT TIME ZONE 'UTC')::date AS day,
                 COALESCE(sum(-amount) FILTER (WHERE amount < 0), 0) AS debits,
                 COALESCE(sum(amount) FILTER (WHERE amount > 0), 0) AS credits,
                 count(*) AS entries
          FROM ledger_entries WHERE kind NOT IN ('hold', 'release')
          GROUP BY 1, 2) AS per_day";

/// Each row of the totals with its row version (`xmin`, which changes
/// whenever the row is written).
async fn rows(
    pg: &sqlx::PgPool,
) -> std::collections::BTreeMap<(uuid::Uuid, chrono::NaiveDate), (String, String)> {
    let rows: Vec<(uuid::Uuid, chrono::NaiveDate, String, String)> = sqlx::query_as(
        "SELECT account_id, day, xmin::text, \
                format('%s/%s/%s/%s', debits, credits, entries, closing_balance) FROM account_daily",
    )
    .fetch_all(pg)
    .await
    .unwrap();
    rows.into_iter().map(|(a, d, x, v)| ((a, d), (x, v))).collect()
}

async fn assert_equals_full_computation(pg: &sqlx::PgPool) {
    let differ: i64 = sqlx::query_scalar(&format!(
        "SELECT count(*) FROM ((SELECT account_id, day, debits, credits, entries, closing_balance FROM account_daily
                                EXCEPT {FULL_COMPUTATION})
                               UNION ALL
                               ({FULL_COMPUTATION} EXCEPT
                                SELECT account_id, day, debits, credits, entries, closing_balance FROM account_daily)) AS d"
    ))
    .fetch_one(pg)
    .await
    .unwrap();
    assert_eq!(differ, 0, "the totals differ from the full computation");
}

/// A refresh adds the entries written since the last one to their days and
/// moves closing balances on from there: other days are not written, nor
/// read again (an old entry changed behind the guard stays uncounted),
/// and the totals are always what the full computation gives.
#[tokio::test]
async fn a_refresh_touches_only_the_days_that_changed() {
    use payment_app::db::statements::refresh_daily;

    let env = TestEnv::new();
    let pg = env.migrated_pg().await;
    let accounts: Vec<uuid::Uuid> = (0..3).map(|_| uuid::Uuid::now_v7()).collect();
    for account in &accounts {
        sqlx::query("INSERT INTO accounts (id, balance) VALUES ($1, 0)")
            .bind(account)
            .execute(&pg)
            .await
            .unwrap();
    }
    // `amount` minor units to `account`, written `days_ago` days ago (a
    // signed entry of its own kind: the totals do not look at payments).
    let entry = |account: uuid::Uuid, amount: i64, days_ago: i32| {
        let pg = pg.clone();
        async move {
            sqlx::query(
                "INSERT INTO ledger_entries (account_id, kind, amount, balance_after, created_at) \
                 VALUES ($1, 'issuance', $2, $2, now() - make_interval(days => $3))",
            )
            .bind(account)
            .bind(amount)
            .bind(days_ago)
            .execute(&pg)
            .await
            .unwrap();
        }
    };
    // History: ten days of every account, several entries a day.
    for days_ago in 1..=10 {
        for (i, account) in accounts.iter().enumerate() {
            for n in 1..=3 {
                entry(*account, (i as i64 + 1) * 100 + n, days_ago).await;
            }
        }
    }
    assert_eq!(refresh_daily(&pg).await.unwrap(), Some(30));
    assert_equals_full_computation(&pg).await;
    let before = rows(&pg).await;
    assert_eq!(before.len(), 30);

    // New work: today on the first account, and one entry dated three days
    // back on the second (a transaction that began before midnight commits
    // after it): its day and the days after it change, nothing else.
    entry(accounts[0], 7, 0).await;
    entry(accounts[0], 8, 0).await;
    entry(accounts[1], 9, 3).await;
    let changed = refresh_daily(&pg).await.unwrap();
    assert_eq!(changed, Some(2), "one day added, one day of history changed");
    assert_equals_full_computation(&pg).await;
    let after = rows(&pg).await;
    assert_eq!(after.len(), 31);
    let today = chrono::Utc::now().date_naive();
    let three_days_ago = today - chrono::Days::new(3);
    for ((account, day), (xmin, values)) in &before {
        let (xmin_after, values_after) = &after[&(*account, *day)];
        let should_change = *account == accounts[1] && *day >= three_days_ago;
        assert_eq!(
            xmin != xmin_after,
            should_change,
            "{account} {day}: {values} -> {values_after} (written again: {})",
            xmin != xmin_after
        );
    }
    // Nothing new: nothing written.
    assert_eq!(refresh_daily(&pg).await.unwrap(), Some(0));
    assert_eq!(rows(&pg).await, after);

    // A refresh reads only what came after the last: an old entry changed
    // behind the append-only guard is not read again, so its day stays as
    // it was (the audit is what finds such an edit), while today's moves.
    sqlx::query("ALTER TABLE ledger_entries DISABLE TRIGGER ledger_entries_append_only")
        .execute(&pg)
        .await
        .unwrap();
    sqlx::query("UPDATE ledger_entries SET amount = amount + 1000 WHERE account_id = $1 AND created_at < now() - interval '9 days'")
        .bind(accounts[2])
        .execute(&pg)
        .await
        .unwrap();
    sqlx::query("ALTER TABLE ledger_entries ENABLE TRIGGER ledger_entries_append_only")
        .execute(&pg)
        .await
        .unwrap();
    entry(accounts[2], 5, 0).await;
    assert_eq!(refresh_daily(&pg).await.unwrap(), Some(1));
    let last = rows(&pg).await;
    let ten_days_ago = today - chrono::Days::new(10);
    assert_eq!(
        last[&(accounts[2], ten_days_ago)],
        after[&(accounts[2], ten_days_ago)],
        "the old day was not recomputed"
    );
    assert_eq!(last.len(), 32);
}

//! Statements: an account's payments by keyset pages, and per-day totals
//! from the materialized view, refreshed by one instance at a time.

use std::time::{Duration, Instant};

use crate::common::{App, TestEnv};
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
    let (status, _) = app.get(&format!("/api/v1/accounts/{}/payments", uuid::Uuid::now_v7())).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn the_statement_sums_each_day_from_the_refreshed_view() {
    let env = TestEnv::new();
    let app = App::start(&env, &[("STATEMENT_REFRESH_SECS", "1")]).await;
    let a = app.account("100.00").await;
    let b = app.account("0").await;
    let (_, p1) = app.pay(&a, &b, "30.00").await;
    let (_, p2) = app.pay(&a, &b, "500.00").await; // fails: no ledger entries
    app.wait_terminal(&[id(&p1)], WITHIN).await;
    let (_, p3) = app.pay(&b, &a, "5.00").await;
    app.wait_terminal(&[id(&p2), id(&p3)], WITHIN).await;
    let settled_by = chrono::Utc::now();

    // Wait for a refresh after the last settlement.
    let deadline = Instant::now() + WITHIN;
    let statement = loop {
        let (status, body) = app.get(&format!("/api/v1/accounts/{a}/statement")).await;
        assert_eq!(status, 200, "{body}");
        let as_of: chrono::DateTime<chrono::Utc> = body["as_of"].as_str().unwrap().parse().unwrap();
        if as_of > settled_by {
            break body;
        }
        assert!(Instant::now() < deadline, "the view was not refreshed: {body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let days = statement["days"].as_array().unwrap();
    assert_eq!(days.len(), 1, "{statement}");
    let today = &days[0];
    assert_eq!(today["day"], chrono::Utc::now().date_naive().to_string());
    assert_eq!(
        (today["debits"].as_str(), today["credits"].as_str()),
        (Some("30.00"), Some("105.00")),
        "issuance counts as credit"
    );
    assert_eq!(today["entries"], 3);
    assert_eq!(today["closing_balance"], "75.00");
    assert_eq!(app.balance(&a).await, "75.00", "the statement closes on the balance");

    let (_, for_b) = app.get(&format!("/api/v1/accounts/{b}/statement")).await;
    assert_eq!(for_b["days"][0]["closing_balance"], "25.00");
    let (status, body) =
        app.get(&format!("/api/v1/accounts/{a}/statement?from=2026-02-01&to=2026-01-01")).await;
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("invalid_query")));
    let (_, empty) = app.get(&format!("/api/v1/accounts/{a}/statement?from=2020-01-01&to=2020-01-31")).await;
    assert_eq!(empty["days"].as_array().unwrap().len(), 0);
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
    assert!(!payment_app::db::statements::refresh_daily(&pg).await.unwrap(), "someone else is refreshing");
    sqlx::query("SELECT pg_advisory_unlock(hashtext('payrail.account_daily'))")
        .execute(&mut *holder)
        .await
        .unwrap();
    assert!(payment_app::db::statements::refresh_daily(&pg).await.unwrap());
}

//! Searching payments and accounts: every filter, their combinations,
//! keyset pages that stay put while payments arrive, and bad filters
//! refused with the usual error shape.

use std::collections::BTreeSet;
use std::time::Duration;

use futures_util::TryStreamExt;
use payrail_client::types::{AccountView, CreateAccount, CreatePayment};
use serde_json::{Value, json};

use crate::common::{App, TestEnv, poll_within};

const SETTLE_WITHIN: Duration = Duration::from_secs(60);

fn id(body: &Value) -> String {
    body["id"].as_str().unwrap_or_else(|| panic!("no id in {body}")).to_owned()
}

/// Opens an account through the client; `body` is `POST /accounts`'s JSON.
async fn open(app: &App, body: Value) -> String {
    let body: CreateAccount = serde_json::from_value(body).unwrap();
    app.api.create_account(&body, None).await.unwrap().id.to_string()
}

async fn pay(app: &App, from: &str, to: &str, amount: &str, metadata: Value) -> String {
    let body = CreatePayment {
        from_account: from.to_owned(),
        to_account: to.to_owned(),
        amount: amount.to_owned(),
        metadata: Some(metadata),
        ..CreatePayment::default()
    };
    app.api.create_payment(&body, None).await.unwrap().id.to_string()
}

/// Every account that passes `filters`, page after page, newest first.
async fn accounts(app: &App, filters: &[(&str, String)]) -> Vec<AccountView> {
    app.api.accounts(filters).try_collect().await.unwrap()
}

/// The ids a search answers (one page), in order.
async fn search(app: &App, query: &str) -> Vec<String> {
    let (status, body) = app.get(&format!("/api/v1/payments?{query}")).await;
    assert_eq!(status, 200, "{query}: {body}");
    body["payments"].as_array().unwrap().iter().map(id).collect()
}

#[tokio::test]
async fn payments_are_found_by_every_filter_and_their_combinations() {
    let env = TestEnv::new();
    let app = App::start(&env, &[]).await;
    let a = open(&app, json!({"initial_balance": "10.00"})).await;
    let b = open(&app, json!({})).await;
    let c = open(&app, json!({"initial_balance": "10.00"})).await;
    let before = chrono::Utc::now() - chrono::Duration::seconds(1);

    let p1 = pay(&app, &a, &b, "1.00", json!({"order": "o-1", "shop": "s-1"})).await;
    let p2 = pay(&app, &c, &a, "2.00", json!({"order": "o-2", "shop": "s-1"})).await;
    let p3 = pay(&app, &b, &c, "50.00", json!({})).await; // b cannot cover it: failed
    let p4 = pay(&app, &c, &b, "3.00", json!({"shop": "s-2"})).await;
    app.wait_terminal(&[p1.clone(), p2.clone(), p3.clone(), p4.clone()], SETTLE_WITHIN).await;
    let after = chrono::Utc::now() + chrono::Duration::seconds(1);
    let t = |at: chrono::DateTime<chrono::Utc>| at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);

    let newest_first = |ids: &[&String]| ids.iter().rev().map(|s| (*s).clone()).collect::<Vec<_>>();
    assert_eq!(search(&app, "").await, newest_first(&[&p1, &p2, &p3, &p4]));
    assert_eq!(search(&app, &format!("account={a}")).await, newest_first(&[&p1, &p2]), "from or to");
    assert_eq!(search(&app, "status=failed").await, [p3.as_str()]);
    assert_eq!(search(&app, "status=done").await, newest_first(&[&p1, &p2, &p4]));
    assert_eq!(search(&app, "metadata[shop]=s-1").await, newest_first(&[&p1, &p2]));
    assert_eq!(search(&app, "metadata[shop]=s-1&metadata[order]=o-2").await, [p2.as_str()]);
    assert_eq!(search(&app, "metadata[shop]=nothing").await, Vec::<String>::new());
    assert_eq!(search(&app, &format!("account={b}&status=done")).await, newest_first(&[&p1, &p4]));
    assert_eq!(search(&app, &format!("account={c}&metadata[shop]=s-2")).await, [p4.as_str()]);
    assert_eq!(search(&app, "status=done&metadata[shop]=s-1").await, newest_first(&[&p1, &p2]));
    let range = format!("created_gte={}&created_lt={}", t(before), t(after));
    assert_eq!(search(&app, &range).await.len(), 4);
    assert_eq!(search(&app, &format!("created_gte={}", t(after))).await, Vec::<String>::new());
    assert_eq!(search(&app, &format!("created_lt={}", t(before))).await, Vec::<String>::new());
    assert_eq!(
        search(&app, &format!("account={a}&status=done&metadata[shop]=s-1&{range}&limit=1")).await,
        [p2.as_str()]
    );

    // Each payment in a search reads as GET shows it.
    let (_, page) = app.get("/api/v1/payments?metadata[order]=o-1").await;
    let (_, one) = app.get(&format!("/api/v1/payment/{p1}")).await;
    assert_eq!(page["payments"][0], one);
}

#[tokio::test]
async fn search_pages_stay_put_while_payments_arrive() {
    let env = TestEnv::new();
    let app = App::start(&env, &[]).await;
    let a = open(&app, json!({"initial_balance": "100.00"})).await;
    let b = open(&app, json!({})).await;
    let mut made = Vec::new();
    for _ in 0..7 {
        made.push(pay(&app, &a, &b, "0.01", json!({"batch": "first"})).await);
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let query = match &cursor {
            Some(c) => format!("/api/v1/payments?metadata[batch]=first&account={a}&limit=3&cursor={c}"),
            None => format!("/api/v1/payments?metadata[batch]=first&account={a}&limit=3"),
        };
        let (status, page) = app.get(&query).await;
        assert_eq!(status, 200, "{page}");
        seen.extend(page["payments"].as_array().unwrap().iter().map(id));
        // Newer payments arriving between pages change no later page.
        pay(&app, &a, &b, "0.01", json!({"batch": "first"})).await;
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    made.reverse();
    assert_eq!(seen, made, "every payment once, newest first");
}

#[tokio::test]
async fn accounts_are_found_by_currency_and_metadata() {
    let env = TestEnv::new();
    let app = App::start(&env, &[]).await;
    let usd = open(&app, json!({"metadata": {"customer": "c-1"}})).await;
    let yen = open(&app, json!({"currency": "JPY", "metadata": {"customer": "c-1"}})).await;
    let yen2 = open(&app, json!({"currency": "JPY"})).await;

    let ids = |found: Vec<AccountView>| found.into_iter().map(|a| a.id.to_string()).collect::<Vec<_>>();
    assert_eq!(ids(accounts(&app, &[]).await), [yen2.clone(), yen.clone(), usd.clone()]);
    let jpy = accounts(&app, &[("currency", "JPY".into())]).await;
    assert_eq!(jpy.iter().map(|a| a.currency.to_string()).collect::<Vec<_>>(), ["JPY", "JPY"]);
    assert_eq!(ids(jpy), [yen2.clone(), yen.clone()]);
    let customer = ("metadata[customer]", "c-1".to_owned());
    assert_eq!(ids(accounts(&app, std::slice::from_ref(&customer)).await), [yen.clone(), usd.clone()]);
    let usd_customer = accounts(&app, &[customer, ("currency", "USD".into())]).await;
    assert_eq!(ids(usd_customer), [usd.as_str()]);
    // One page at a time (raw: the pages themselves are under test).
    let ids = |body: &Value| body["accounts"].as_array().unwrap().iter().map(id).collect::<Vec<_>>();
    let (_, first) = app.get("/api/v1/accounts?limit=2").await;
    let cursor = first["next_cursor"].as_str().unwrap();
    let (_, second) = app.get(&format!("/api/v1/accounts?limit=2&cursor={cursor}")).await;
    assert_eq!((ids(&second), &second["next_cursor"]), (vec![usd.clone()], &Value::Null));
}

#[tokio::test]
async fn bad_filters_are_refused_with_the_usual_error_shape() {
    let env = TestEnv::new();
    let app = App::start(&env, &[]).await;
    let queries = [
        "/api/v1/payments?status=settled",
        "/api/v1/payments?account=not-an-id",
        "/api/v1/payments?account=6f1c6b2e-3b0e-4c53-9a52-7d0b1c1c1c1c",
        "/api/v1/payments?created_gte=yesterday",
        "/api/v1/payments?created_lt=2026-12-02",
        "/api/v1/payments?metadata[has%20space]=x",
        "/api/v1/payments?metadata[]=x",
        "/api/v1/payments?stauts=done",
        "/api/v1/payments?limit=0",
        "/api/v1/payments?limit=501",
        "/api/v1/payments?cursor=abc",
        "/api/v1/accounts?currency=usd",
        "/api/v1/accounts?currency=XAU",
        "/api/v1/accounts?status=done",
    ];
    let mut codes = BTreeSet::new();
    for query in queries {
        let (status, body) = app.get(query).await;
        let code = body["error"]["code"].as_str().unwrap_or_default().to_owned();
        assert_eq!(status, 400, "{query}: {body}");
        assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{query}: {body}");
        codes.insert(code);
    }
    assert_eq!(codes, BTreeSet::from(["invalid_query".to_owned()]));
}

/// The statuses of holds are filters like the others, and a bad status
/// names every status there is.
#[tokio::test]
async fn authorized_voided_and_expired_payments_are_found_by_status() {
    let env = TestEnv::new();
    let app = App::start(&env, &[("RELAY_INTERVAL_SECS", "1")]).await;
    let a = open(&app, json!({"initial_balance": "10.00"})).await;
    let b = open(&app, json!({})).await;
    let manual = |amount: &str, hold_secs: u64| {
        json!({"from_account": a, "to_account": b, "amount": amount, "capture": "manual",
               "hold_expires_in_secs": hold_secs})
    };
    let mut ids = Vec::new();
    for (amount, hold_secs) in [("1.00", 3600), ("2.00", 3600), ("3.00", 1)] {
        let (status, body) = app.post("/api/v1/payment", manual(amount, hold_secs)).await;
        assert_eq!(status, 202, "{body}");
        ids.push(id(&body));
    }
    let [held, voided, expired] = [ids[0].clone(), ids[1].clone(), ids[2].clone()];
    app.wait_terminal(&ids, SETTLE_WITHIN).await;
    let (status, body) = app.post(&format!("/api/v1/payment/{voided}/void"), json!({})).await;
    assert_eq!(status, 202, "{body}");
    let wanted = |status: &str, id: &String| (status.to_owned(), vec![id.clone()]);
    for (status, found) in
        [wanted("authorized", &held), wanted("voided", &voided), wanted("expired", &expired)]
    {
        poll_within(SETTLE_WITHIN, || async {
            let got = search(&app, &format!("status={status}")).await;
            if got == found { Ok(()) } else { Err(format!("{got:?}")) }
        })
        .await
        .unwrap_or_else(|got| panic!("status={status} finds {got}; log:\n{}", app.log_tail()));
    }
    assert_eq!(search(&app, &format!("account={a}&status=authorized")).await, [held]);

    let (status, body) = app.get("/api/v1/payments?status=settled").await;
    assert_eq!(status, 400, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    for name in ["pending", "authorized", "done", "failed", "voided", "expired"] {
        assert!(message.contains(name), "{message}");
    }
}

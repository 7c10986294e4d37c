//! A currency per account: amounts with the currency's decimals, money that
//! never crosses currencies (refused at request time, and by the database
//! should anything get past that), and the default currency setting.

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::{App, TestEnv};

const SETTLE_WITHIN: Duration = Duration::from_secs(60);

async fn open(app: &App, currency: &str, initial_balance: &str) -> Value {
    let (status, body) =
        app.post("/api/v1/accounts", json!({"currency": currency, "initial_balance": initial_balance})).await;
    assert_eq!(status, 201, "{body}");
    body
}

fn id(body: &Value) -> String {
    body["id"].as_str().unwrap_or_else(|| panic!("no id in {body}")).to_owned()
}

async fn count(env: &TestEnv, table: &str) -> i64 {
    sqlx::query_scalar(&format!("SELECT count(*) FROM {table}")).fetch_one(&env.pg().await).await.unwrap()
}

#[tokio::test]
async fn amounts_have_their_currencys_decimals_end_to_end() {
    let env = TestEnv::new();
    let app = App::start(&env, &[]).await;

    let yen = open(&app, "JPY", "1500").await;
    assert_eq!((yen["currency"].as_str(), yen["balance"].as_str()), (Some("JPY"), Some("1500")));
    let yen_payee = open(&app, "JPY", "0").await;
    let dinar = open(&app, "BHD", "1.5").await;
    assert_eq!((dinar["currency"].as_str(), dinar["balance"].as_str()), (Some("BHD"), Some("1.500")));
    let dinar_payee = open(&app, "BHD", "0").await;

    let (status, body) = app.pay(&id(&yen), &id(&yen_payee), "1000").await;
    assert_eq!(status, 202, "{body}");
    assert_eq!((body["amount"].as_str(), body["currency"].as_str()), (Some("1000"), Some("JPY")));
    let (status, body2) = app.pay(&id(&dinar), &id(&dinar_payee), "0.255").await;
    assert_eq!(status, 202, "{body2}");
    assert_eq!((body2["amount"].as_str(), body2["currency"].as_str()), (Some("0.255"), Some("BHD")));

    let settled = app.wait_terminal(&[id(&body), id(&body2)], SETTLE_WITHIN).await;
    assert!(settled.iter().all(|p| p["status"] == "done"), "{settled:?}");
    assert_eq!(settled[0]["amount"], "1000");
    assert_eq!(app.balance(&id(&yen)).await, "500");
    assert_eq!(app.balance(&id(&yen_payee)).await, "1000");
    assert_eq!(app.balance(&id(&dinar)).await, "1.245");
    assert_eq!(app.balance(&id(&dinar_payee)).await, "0.255");

    // The event of the payment shows it as GET does.
    let (status, events) = app.get("/api/v1/events").await;
    assert_eq!(status, 200, "{events}");
    let data: Vec<&Value> = events["events"].as_array().unwrap().iter().map(|e| &e["data"]).collect();
    assert!(data.iter().any(|d| d["currency"] == "BHD" && d["amount"] == "0.255"), "{events}");

    let (code, report) = env.audit();
    assert_eq!(code, 0, "{report}");
}

#[tokio::test]
async fn too_many_decimals_for_the_currency_are_refused_and_nothing_is_recorded() {
    let env = TestEnv::new();
    let app = App::start(&env, &[]).await;
    let yen = open(&app, "JPY", "100").await;
    let yen_payee = open(&app, "JPY", "0").await;
    let dollars = open(&app, "USD", "1").await;
    let dollar_payee = open(&app, "USD", "0").await;
    let (payments, entries) = (count(&env, "payments").await, count(&env, "ledger_entries").await);

    for (from, to, amount) in
        [(&yen, &yen_payee, "1.5"), (&yen, &yen_payee, "1.0"), (&dollars, &dollar_payee, "0.001")]
    {
        let (status, body) = app.pay(&id(from), &id(to), amount).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (422, Some("invalid_amount")),
            "{amount}: {body}"
        );
    }
    for (currency, balance) in [("JPY", "1.5"), ("USD", "1.001"), ("BHD", "1.0001")] {
        let (status, body) =
            app.post("/api/v1/accounts", json!({"currency": currency, "initial_balance": balance})).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (422, Some("invalid_amount")),
            "{currency}: {body}"
        );
    }
    assert_eq!(count(&env, "payments").await, payments);
    assert_eq!(count(&env, "ledger_entries").await, entries);
    assert_eq!(count(&env, "accounts").await, 4);
}

#[tokio::test]
async fn a_payment_across_currencies_is_refused_and_nothing_is_recorded() {
    let env = TestEnv::new();
    let app = App::start(&env, &[]).await;
    let dollars = open(&app, "USD", "100.00").await;
    let euros = open(&app, "EUR", "100.00").await;
    let yen = open(&app, "JPY", "100").await;

    for (from, to) in [(&dollars, &euros), (&euros, &dollars), (&yen, &dollars)] {
        let (status, body) = app.pay(&id(from), &id(to), "1").await;
        assert_eq!((status, body["error"]["code"].as_str()), (422, Some("currency_mismatch")), "{body}");
        // With an Idempotency-Key too (the other way of recording).
        let r = app
            .http
            .post(format!("{}/api/v1/payment", app.base))
            .header("idempotency-key", format!("k-{}", id(from)))
            .json(&json!({"from_account": id(from), "to_account": id(to), "amount": "1"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 422);
    }
    assert_eq!(count(&env, "payments").await, 0);
    assert_eq!(count(&env, "idempotency_keys WHERE scope = 'payment'").await, 0);
    assert_eq!(app.balance(&id(&dollars)).await, "100.00");
    assert_eq!(app.balance(&id(&euros)).await, "100.00");
}

#[tokio::test]
async fn bad_currency_codes_are_refused() {
    let env = TestEnv::new();
    let app = App::start(&env, &[]).await;
    for code in ["usd", "US", "DOLLAR", "ABC", "XAU", "XXX", ""] {
        let (status, body) = app.post("/api/v1/accounts", json!({"currency": code})).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (422, Some("invalid_currency")),
            "{code:?}: {body}"
        );
    }
    for currency in [json!(840), json!(null), json!(["USD"])] {
        let (status, body) = app.post("/api/v1/accounts", json!({"currency": currency})).await;
        // null is the same as absent; anything else is not a string.
        if currency.is_null() {
            assert_eq!(status, 201, "{body}");
        } else {
            assert_eq!((status, body["error"]["code"].as_str()), (422, Some("invalid_body")), "{body}");
        }
    }
    assert_eq!(count(&env, "accounts").await, 1);
}

#[tokio::test]
async fn accounts_are_in_the_default_currency_unless_they_say() {
    let env = TestEnv::new();
    let app = App::start(&env, &[]).await;
    let (status, body) = app.post("/api/v1/accounts", json!({"initial_balance": "2.50"})).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!((body["currency"].as_str(), body["balance"].as_str()), (Some("USD"), Some("2.50")));
    drop(app);

    let app = App::start(&env, &[("DEFAULT_CURRENCY", "JPY")]).await;
    let (status, body) = app.post("/api/v1/accounts", json!({"initial_balance": "250"})).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!((body["currency"].as_str(), body["balance"].as_str()), (Some("JPY"), Some("250")));
    let (_, body) = app.get(&format!("/api/v1/accounts/{}", id(&body))).await;
    assert_eq!(body["currency"], "JPY");
    drop(app);

    let out = env.command(&["api"]).env("DEFAULT_CURRENCY", "XAU").output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("XAU"), "{}", String::from_utf8_lossy(&out.stderr));
}

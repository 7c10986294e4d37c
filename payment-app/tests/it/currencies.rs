//! A currency per account: amounts with the currency's decimals, money that
//! never crosses currencies (refused at request time, and by the database
//! should anything get past that), and the default currency setting.

use std::time::Duration;

use payrail_client::types::CreateAccount;
use serde_json::{Value, json};

use crate::common::{App, TestEnv, poll_within};

const SETTLE_WITHIN: Duration = Duration::from_secs(60);

/// An account opened through the client, as JSON for the assertions.
async fn open(app: &App, currency: &str, initial_balance: &str) -> Value {
    let body = CreateAccount {
        currency: Some(currency.to_owned()),
        initial_balance: Some(initial_balance.to_owned()),
        ..CreateAccount::default()
    };
    json!(app.api.create_account(&body, None).await.unwrap())
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

/// Polls until the payment (or refund, by `path`) is no longer `status`.
async fn wait_past(app: &App, path: &str, status: &str) -> Value {
    poll_within(SETTLE_WITHIN, || async {
        let (code, body) = app.get(path).await;
        assert_eq!(code, 200, "{body}");
        if body["status"] == status { Err(String::new()) } else { Ok(body) }
    })
    .await
    .unwrap_or_else(|_| panic!("{path} still {status}; log:\n{}", app.log_tail()))
}

async fn authorize(app: &App, from: &Value, to: &Value, amount: &str) -> String {
    let body = json!({"from_account": id(from), "to_account": id(to), "amount": amount, "capture": "manual"});
    let (status, body) = app.post("/api/v1/payment", body).await;
    assert_eq!(status, 202, "{body}");
    let payment = id(&body);
    let authorized = wait_past(app, &format!("/api/v1/payment/{payment}"), "pending").await;
    assert_eq!(authorized["status"], "authorized", "{authorized}");
    payment
}

async fn patch_metadata(app: &App, payment: &str, metadata: Value) -> (u16, Value) {
    let r = app
        .http
        .patch(format!("{}/api/v1/payment/{payment}", app.base))
        .json(&json!({ "metadata": metadata }))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

/// A hold, its capture and a refund are in the payment's currency: their
/// amounts are parsed and shown with its decimals, and every ledger entry
/// settle writes for them is in it (written, not the column's default).
#[tokio::test]
async fn holds_captures_and_refunds_stay_in_their_payments_currency() {
    let env = TestEnv::new();
    let app = App::start(&env, &[]).await;
    let (dinar, dinar_payee) = (open(&app, "BHD", "10").await, open(&app, "BHD", "0").await);
    let (yen, yen_payee) = (open(&app, "JPY", "1500").await, open(&app, "JPY", "0").await);

    let bhd = authorize(&app, &dinar, &dinar_payee, "2.5").await;
    let (_, payer) = app.get(&format!("/api/v1/accounts/{}", id(&dinar))).await;
    assert_eq!(
        (payer["balance"].as_str(), payer["available_balance"].as_str()),
        (Some("10.000"), Some("7.500")),
        "{payer}"
    );
    // Metadata stays the client's to change while authorized.
    let (status, body) = patch_metadata(&app, &bhd, json!({"order": "o-1"})).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("authorized")), "{body}");

    // More decimals than the dinar has: refused, nothing recorded.
    let (status, body) =
        app.post(&format!("/api/v1/payment/{bhd}/capture"), json!({"amount": "1.2345"})).await;
    assert_eq!((status, body["error"]["code"].as_str()), (422, Some("invalid_amount")), "{body}");
    let (status, body) = app.post(&format!("/api/v1/payment/{bhd}/capture"), json!({"amount": "1.25"})).await;
    assert_eq!(status, 202, "{body}");
    let captured = wait_past(&app, &format!("/api/v1/payment/{bhd}"), "authorized").await;
    assert_eq!(
        (
            captured["status"].as_str(),
            captured["amount"].as_str(),
            captured["amount_captured"].as_str(),
            captured["amount_refunded"].as_str(),
        ),
        (Some("done"), Some("2.500"), Some("1.250"), Some("0.000")),
        "{captured}"
    );
    assert_eq!(app.balance(&id(&dinar)).await, "8.750");
    assert_eq!(app.balance(&id(&dinar_payee)).await, "1.250");
    let (status, body) = patch_metadata(&app, &bhd, json!({"order": null, "invoice": "i-9"})).await;
    assert_eq!((status, body["metadata"].clone()), (200, json!({"invoice": "i-9"})), "{body}");

    let (status, body) =
        app.post(&format!("/api/v1/payment/{bhd}/refunds"), json!({"amount": "0.0001"})).await;
    assert_eq!((status, body["error"]["code"].as_str()), (422, Some("invalid_amount")), "{body}");
    let (status, refund) =
        app.post(&format!("/api/v1/payment/{bhd}/refunds"), json!({"amount": "0.125"})).await;
    assert_eq!(status, 202, "{refund}");
    assert_eq!(
        (refund["amount"].as_str(), refund["currency"].as_str()),
        (Some("0.125"), Some("BHD")),
        "{refund}"
    );
    let refund = wait_past(&app, &format!("/api/v1/refunds/{}", id(&refund)), "pending").await;
    assert_eq!(
        (refund["status"].as_str(), refund["amount"].as_str(), refund["currency"].as_str()),
        (Some("done"), Some("0.125"), Some("BHD")),
        "{refund}"
    );
    let (_, payment) = app.get(&format!("/api/v1/payment/{bhd}")).await;
    assert_eq!(payment["amount_refunded"], "0.125", "{payment}");
    assert_eq!(app.balance(&id(&dinar)).await, "8.875");

    // The yen has no decimals at all.
    let jpy = authorize(&app, &yen, &yen_payee, "1000").await;
    let (status, body) = app.post(&format!("/api/v1/payment/{jpy}/capture"), json!({"amount": "1.5"})).await;
    assert_eq!((status, body["error"]["code"].as_str()), (422, Some("invalid_amount")), "{body}");
    let (status, body) = app.post(&format!("/api/v1/payment/{jpy}/capture"), json!({"amount": "600"})).await;
    assert_eq!(status, 202, "{body}");
    let captured = wait_past(&app, &format!("/api/v1/payment/{jpy}"), "authorized").await;
    assert_eq!(captured["amount_captured"], "600", "{captured}");
    let (status, body) = app.post(&format!("/api/v1/payment/{jpy}/refunds"), json!({"amount": "0.5"})).await;
    assert_eq!((status, body["error"]["code"].as_str()), (422, Some("invalid_amount")), "{body}");
    let (status, refund) = app.post(&format!("/api/v1/payment/{jpy}/refunds"), json!({})).await;
    assert_eq!(status, 202, "{refund}");
    assert_eq!(
        (refund["amount"].as_str(), refund["currency"].as_str()),
        (Some("600"), Some("JPY")),
        "{refund}"
    );
    let refund = wait_past(&app, &format!("/api/v1/refunds/{}", id(&refund)), "pending").await;
    assert_eq!(refund["status"], "done", "{refund}");
    assert_eq!(
        (app.balance(&id(&yen)).await, app.balance(&id(&yen_payee)).await),
        ("1500".into(), "0".into())
    );

    // Every entry settle wrote is in its payment's currency.
    let entries: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT kind, currency, count(*) FROM ledger_entries WHERE kind <> 'issuance'
         GROUP BY kind, currency ORDER BY currency, kind",
    )
    .fetch_all(&env.pg().await)
    .await
    .unwrap();
    let expected: Vec<(String, String, i64)> = ["BHD", "JPY"]
        .into_iter()
        .flat_map(|c| {
            ["capture", "credit", "hold", "refund_credit", "refund_debit", "release"]
                .map(|kind| (kind.to_owned(), c.to_owned(), 1))
        })
        .collect();
    assert_eq!(entries, expected);

    // The events say what GET says.
    let (_, page) = app.get("/api/v1/events?limit=500").await;
    let events = page["events"].as_array().unwrap();
    let of = |kind: &str, payment: &str| {
        events
            .iter()
            .find(|e| e["type"] == kind && (e["data"]["id"] == payment || e["data"]["payment_id"] == payment))
            .unwrap_or_else(|| panic!("no {kind} of {payment} in {page}"))["data"]
            .clone()
    };
    let event = of("payment.captured", &bhd);
    assert_eq!(
        (event["amount_captured"].as_str(), event["currency"].as_str()),
        (Some("1.250"), Some("BHD")),
        "{event}"
    );
    let event = of("refund.done", &bhd);
    let (_, listed) = app.get(&format!("/api/v1/payment/{bhd}/refunds")).await;
    assert_eq!(event, listed["refunds"][0], "{event}");
    let event = of("refund.done", &jpy);
    assert_eq!((event["amount"].as_str(), event["currency"].as_str()), (Some("600"), Some("JPY")), "{event}");

    let (code, report) = env.audit();
    assert_eq!(code, 0, "{report}");
}

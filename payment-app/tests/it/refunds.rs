//! Refunds through the real pipeline: recorded under the payment's row
//! lock, applied by settle from the payee back to the payer, never more in
//! all than the payment moved, also when requested all at once.

use std::time::Duration;

use futures_util::future::join_all;
use serde_json::{Value, json};

use crate::common::{App, TestEnv, poll_within};

const WITHIN: Duration = Duration::from_secs(60);

fn id(body: &Value) -> String {
    body["id"].as_str().unwrap_or_else(|| panic!("no id in {body}")).to_owned()
}

async fn refund(app: &App, payment: &str, body: Value) -> (u16, Value) {
    app.post(&format!("/api/v1/payment/{payment}/refunds"), body).await
}

/// Polls until the refund is no longer `pending`.
async fn wait_refund(app: &App, refund: &str) -> Value {
    poll_within(WITHIN, || async {
        let (status, body) = app.get(&format!("/api/v1/refunds/{refund}")).await;
        assert_eq!(status, 200, "{body}");
        if body["status"] == "pending" { Err(String::new()) } else { Ok(body) }
    })
    .await
    .unwrap_or_else(|_| panic!("refund {refund} still pending; log:\n{}", app.log_tail()))
}

async fn done_payment(app: &App, from: &str, to: &str, amount: &str) -> String {
    let (status, body) = app.pay(from, to, amount).await;
    assert_eq!(status, 202, "{body}");
    let done = app.wait_terminal(&[id(&body)], WITHIN).await;
    assert_eq!(done[0]["status"], "done", "{}", done[0]);
    id(&body)
}

#[tokio::test]
async fn refunds_move_money_back_until_the_payment_is_refunded() {
    let env = TestEnv::new();
    let app = App::start(&env, &[]).await;
    let (a, b, c) = (app.account("100.00").await, app.account("0").await, app.account("0").await);
    let paid = done_payment(&app, &a, &b, "80.00").await;

    let (status, first) =
        refund(&app, &paid, json!({"amount": "30.00", "reason": "damaged in transit"})).await;
    assert_eq!(status, 202, "{first}");
    assert_eq!(
        (first["status"].as_str(), first["amount"].as_str(), first["payment_id"].as_str()),
        (Some("pending"), Some("30.00"), Some(paid.as_str()))
    );
    assert_eq!(first["reason"], "damaged in transit");
    let first = wait_refund(&app, &id(&first)).await;
    assert_eq!(first["status"], "done", "{first}");
    assert_eq!((app.balance(&a).await, app.balance(&b).await), ("50.00".to_owned(), "50.00".to_owned()));
    let (_, payment) = app.get(&format!("/api/v1/payment/{paid}")).await;
    assert_eq!(payment["amount_refunded"], "30.00", "{payment}");

    // More than is left is refused at once; no amount means all that is left.
    let (status, body) = refund(&app, &paid, json!({"amount": "50.01"})).await;
    assert_eq!((status, body["error"]["code"].as_str()), (422, Some("refund_exceeds_payment")), "{body}");
    // An Idempotency-Key makes a retry answer the same refund.
    let keyed = |body: Value| {
        app.http
            .post(format!("{}/api/v1/payment/{paid}/refunds", app.base))
            .header("idempotency-key", "refund-rest-1")
            .json(&body)
            .send()
    };
    let rest = keyed(json!({})).await.unwrap();
    assert_eq!(rest.status(), 202);
    let rest: Value = rest.json().await.unwrap();
    let again = keyed(json!({})).await.unwrap();
    assert_eq!(again.status(), 202);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    let again: Value = again.json().await.unwrap();
    assert_eq!((id(&again), again["amount"].as_str()), (id(&rest), Some("50.00")));
    assert_eq!(wait_refund(&app, &id(&rest)).await["status"], "done");
    let (status, body) = refund(&app, &paid, json!({})).await;
    assert_eq!((status, body["error"]["code"].as_str()), (422, Some("refund_exceeds_payment")), "{body}");

    let (_, list) = app.get(&format!("/api/v1/payment/{paid}/refunds")).await;
    let amounts: Vec<&str> =
        list["refunds"].as_array().unwrap().iter().map(|r| r["amount"].as_str().unwrap()).collect();
    assert_eq!(amounts, ["30.00", "50.00"]);
    let (_, payment) = app.get(&format!("/api/v1/payment/{paid}")).await;
    assert_eq!(payment["amount_refunded"], "80.00");
    assert_eq!((app.balance(&a).await, app.balance(&b).await), ("100.00".to_owned(), "0.00".to_owned()));

    // The payee spent it: the refund is accepted, then fails.
    let second = done_payment(&app, &a, &b, "10.00").await;
    done_payment(&app, &b, &c, "10.00").await;
    let (status, body) = refund(&app, &second, json!({"amount": "1.00"})).await;
    assert_eq!(status, 202, "{body}");
    let failed = wait_refund(&app, &id(&body)).await;
    assert_eq!(
        (failed["status"].as_str(), failed["failure_reason"].as_str()),
        (Some("failed"), Some("insufficient_funds"))
    );
    // A failed refund does not count: once the payee has it again, it goes through.
    done_payment(&app, &c, &b, "10.00").await;
    let (status, body) = refund(&app, &second, json!({})).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(wait_refund(&app, &id(&body)).await["amount"], "10.00");

    let pg = env.pg().await;
    let events: Vec<String> =
        sqlx::query_scalar("SELECT type FROM events WHERE type LIKE 'refund.%' ORDER BY id")
            .fetch_all(&pg)
            .await
            .unwrap();
    assert_eq!(events, ["refund.done", "refund.done", "refund.failed", "refund.done"]);
    let (code, report) = env.audit();
    assert_eq!(code, 0, "{report}");
}

#[tokio::test]
async fn only_done_payments_are_refunded_and_bad_refunds_record_nothing() {
    let env = TestEnv::new();
    let app = App::start(&env, &[]).await;
    let (a, b) = (app.account("5.00").await, app.account("0").await);

    let (_, failed) = app.pay(&a, &b, "6.00").await;
    let failed = id(&failed);
    app.wait_terminal(std::slice::from_ref(&failed), WITHIN).await;
    let (_, held) = app
        .post(
            "/api/v1/payment",
            json!({"from_account": a, "to_account": b, "amount": "1", "capture": "manual"}),
        )
        .await;
    let held = id(&held);
    app.wait_terminal(std::slice::from_ref(&held), WITHIN).await;
    for payment in [&failed, &held] {
        let (status, body) = refund(&app, payment, json!({})).await;
        assert_eq!((status, body["error"]["code"].as_str()), (409, Some("invalid_state")), "{body}");
    }
    let unknown = uuid::Uuid::now_v7();
    let (status, body) = refund(&app, &unknown.to_string(), json!({})).await;
    assert_eq!((status, body["error"]["code"].as_str()), (404, Some("not_found")), "{body}");
    let (status, _) = app.get(&format!("/api/v1/refunds/{unknown}")).await;
    assert_eq!(status, 404);

    let paid = done_payment(&app, &a, &b, "1.00").await;
    for (body, code) in [
        (json!({"amount": "0"}), "invalid_amount"),
        (json!({"amount": "0.001"}), "invalid_amount"),
        (json!({"amount": "-1"}), "invalid_amount"),
        (json!({"reason": "x".repeat(501)}), "invalid_body"),
        (json!({"amount": "1.01"}), "refund_exceeds_payment"),
    ] {
        let (status, answer) = refund(&app, &paid, body.clone()).await;
        assert_eq!((status, answer["error"]["code"].as_str()), (422, Some(code)), "{body}: {answer}");
    }
    let refunds: i64 =
        sqlx::query_scalar("SELECT count(*) FROM refunds").fetch_one(&env.pg().await).await.unwrap();
    assert_eq!(refunds, 0);
}

/// 200 partial refunds of 0.75 of one 100.00 payment at once (150.00 in
/// all): 133 are accepted (99.75), the rest refused at the request, and
/// exactly what was accepted goes back to the payer.
#[tokio::test]
async fn concurrent_partial_refunds_never_pass_the_payment() {
    let env = TestEnv::new();
    // 200 requests at once from one address open up to 200 connections;
    // the default per-client cap (128) would close the rest as accepted.
    // This test is about the refund limit under a race, not that cap.
    let app = App::start(&env, &[("HTTP_MAX_CONNECTIONS_PER_CLIENT", "256")]).await;
    let (a, b) = (app.account("100.00").await, app.account("0").await);
    let paid = done_payment(&app, &a, &b, "100.00").await;

    let answers = join_all((0..200).map(|_| refund(&app, &paid, json!({"amount": "0.75"})))).await;
    let mut accepted = Vec::new();
    for (status, body) in &answers {
        match status {
            202 => accepted.push(id(body)),
            422 => assert_eq!(body["error"]["code"], "refund_exceeds_payment", "{body}"),
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!(accepted.len(), 133);
    for refund in &accepted {
        assert_eq!(wait_refund(&app, refund).await["status"], "done");
    }
    let (_, payment) = app.get(&format!("/api/v1/payment/{paid}")).await;
    assert_eq!(payment["amount_refunded"], "99.75", "{payment}");
    assert_eq!((app.balance(&a).await, app.balance(&b).await), ("99.75".to_owned(), "0.25".to_owned()));
    let (code, report) = env.audit();
    assert_eq!(code, 0, "{report}");
}

/// Settle checks the limit again: refunds that reach the ledger past the
/// API's check (written straight into the table here) fail with
/// `refund_exceeds_payment` once the payment is used up, and a duplicate
/// message moves nothing twice.
#[tokio::test]
async fn settle_enforces_the_limit_again_and_applies_each_refund_once() {
    let env = TestEnv::new();
    let app = App::start(&env, &[]).await;
    let (a, b) = (app.account("10.00").await, app.account("0").await);
    let paid = done_payment(&app, &a, &b, "10.00").await;

    let pg = env.pg().await;
    let ids: Vec<String> = (0..3).map(|_| uuid::Uuid::now_v7().to_string()).collect();
    for refund in &ids {
        sqlx::query("INSERT INTO refunds (id, payment_id, amount) VALUES ($1::uuid, $2::uuid, 600)")
            .bind(refund)
            .bind(&paid)
            .execute(&pg)
            .await
            .unwrap();
    }
    let publisher = crate::common::publisher(&env).await;
    let message = json!({"payments": [{"payment_id": paid, "from_account": a, "to_account": b}]});
    for _ in 0..3 {
        publisher.publish(payment_app::broker::LOCK_QUEUE, &message).await.unwrap();
    }
    let ends: Vec<(String, Value)> = {
        let mut ends = Vec::new();
        for refund in &ids {
            let body = wait_refund(&app, refund).await;
            ends.push((body["status"].as_str().unwrap().to_owned(), body["failure_reason"].clone()));
        }
        ends
    };
    assert_eq!(ends[0], ("done".to_owned(), Value::Null));
    for end in &ends[1..] {
        assert_eq!(end, &("failed".to_owned(), json!("refund_exceeds_payment")));
    }
    assert_eq!((app.balance(&a).await, app.balance(&b).await), ("6.00".to_owned(), "4.00".to_owned()));
    let (code, report) = env.audit();
    assert_eq!(code, 0, "{report}");
}

//! Holds: manual payments authorized on the available balance, then
//! captured, voided or expired, through the real pipeline; and the race
//! between captures, voids and expiry of one authorization.

use std::time::Duration;

use futures_util::future::join_all;
use payrail_client::Error;
use payrail_client::types::{CreatePayment, ErrorBody, ErrorDetail, PaymentId};
use serde_json::{Value, json};

use crate::common::{App, TestEnv, eventually, poll_within};

const WITHIN: Duration = Duration::from_secs(60);
/// The relay (the expiry's clock) looks every second in these tests.
const FAST_RELAY: [(&str, &str); 1] = [("RELAY_INTERVAL_SECS", "1")];

fn id(body: &Value) -> String {
    body["id"].as_str().unwrap_or_else(|| panic!("no id in {body}")).to_owned()
}

/// A manual payment through the client: 202 and the payment, or the
/// error's status and body. (JSON, for the assertions below.)
async fn authorize(app: &App, from: &str, to: &str, amount: &str, hold_secs: Option<u64>) -> (u16, Value) {
    let body = CreatePayment {
        from_account: from.to_owned(),
        to_account: to.to_owned(),
        amount: amount.to_owned(),
        capture: Some("manual".into()),
        hold_expires_in_secs: hold_secs.map(|s| i64::try_from(s).unwrap()),
        ..CreatePayment::default()
    };
    match app.api.create_payment(&body, None).await {
        Ok(payment) => (202, json!(payment)),
        Err(Error::Api { status, code: Some(code), message, .. }) => {
            (status.as_u16(), json!(ErrorBody { error: ErrorDetail { code, message } }))
        }
        Err(e) => panic!("no answer: {e}"),
    }
}

/// Polls (through the client) until the payment's status is none of
/// `passing`.
async fn wait_past(app: &App, id: &str, passing: &[&str]) -> Value {
    let id: PaymentId = id.parse().unwrap();
    poll_within(WITHIN, || async {
        let payment = app.api.get_payment(id).await.unwrap();
        let status = payment.status.to_string();
        if passing.contains(&status.as_str()) { Err(status) } else { Ok(json!(payment)) }
    })
    .await
    .unwrap_or_else(|status| panic!("payment {id} still {status}; log:\n{}", app.log_tail()))
}

async fn account(app: &App, id: &str) -> Value {
    json!(app.api.get_account(id.parse().unwrap()).await.unwrap())
}

async fn payment_count(env: &TestEnv) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM payments").fetch_one(&env.pg().await).await.unwrap()
}

#[tokio::test]
async fn a_manual_payment_holds_then_a_partial_capture_moves_only_what_is_captured() {
    let env = TestEnv::new();
    let app = App::start(&env, &[]).await;
    let (a, b) = (app.account("100.00").await, app.account("0").await);

    let (status, body) = authorize(&app, &a, &b, "70.00", None).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["capture"], "manual");
    let pid = id(&body);
    let authorized = wait_past(&app, &pid, &["pending"]).await;
    assert_eq!(authorized["status"], "authorized", "{authorized}");
    let expires: chrono::DateTime<chrono::Utc> =
        authorized["hold_expires_at"].as_str().unwrap().parse().unwrap();
    let week = chrono::Duration::days(7);
    assert!((expires - chrono::Utc::now() - week).num_seconds().abs() < 60, "{expires}");
    let payer = account(&app, &a).await;
    assert_eq!(
        (payer["balance"].as_str(), payer["available_balance"].as_str()),
        (Some("100.00"), Some("30.00"))
    );

    // An automatic payment is decided on what is available, not the balance.
    let (_, over) = app.pay(&a, &b, "30.01").await;
    let over = app.wait_terminal(&[id(&over)], WITHIN).await;
    assert_eq!(
        (over[0]["status"].as_str(), over[0]["failure_reason"].as_str()),
        (Some("failed"), Some("insufficient_funds"))
    );
    // So is another manual one.
    let (_, second) = authorize(&app, &a, &b, "30.01", None).await;
    let second = wait_past(&app, &id(&second), &["pending"]).await;
    assert_eq!(second["failure_reason"], "insufficient_funds", "{second}");

    // More than authorized is refused at once; 25 of the 70 is captured.
    let (status, refused) =
        app.post(&format!("/api/v1/payment/{pid}/capture"), json!({"amount": "70.01"})).await;
    assert_eq!(
        (status, refused["error"]["code"].as_str()),
        (422, Some("amount_exceeds_authorization")),
        "{refused}"
    );
    let (status, accepted) =
        app.post(&format!("/api/v1/payment/{pid}/capture"), json!({"amount": "25.00"})).await;
    assert_eq!(status, 202, "{accepted}");
    let done = wait_past(&app, &pid, &["authorized"]).await;
    assert_eq!(
        (done["status"].as_str(), done["amount_captured"].as_str()),
        (Some("done"), Some("25.00")),
        "{done}"
    );
    let (payer, payee) = (account(&app, &a).await, account(&app, &b).await);
    assert_eq!(
        (payer["balance"].as_str(), payer["available_balance"].as_str()),
        (Some("75.00"), Some("75.00"))
    );
    assert_eq!(
        (payee["balance"].as_str(), payee["available_balance"].as_str()),
        (Some("25.00"), Some("25.00"))
    );

    // The feed (and so the webhooks) tells each step, with the payment as
    // it was then; a refund's event carries the refund.
    let (status, refund) =
        app.post(&format!("/api/v1/payment/{pid}/refunds"), json!({"amount": "5.00"})).await;
    assert_eq!(status, 202, "{refund}");
    let events = eventually(WITHIN, "the payment's four events", || async {
        let (_, page) = app.get("/api/v1/events?limit=500").await;
        let events: Vec<Value> = page["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["data"]["id"] == pid.as_str() || e["data"]["payment_id"] == pid.as_str())
            .cloned()
            .collect();
        if events.len() == 4 { Ok(events) } else { Err(format!("{events:?}")) }
    })
    .await;
    let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["payment.created", "payment.authorized", "payment.captured", "refund.done"]);
    assert_eq!(events[1]["data"]["status"], "authorized");
    assert_eq!(events[1]["data"]["amount_captured"], Value::Null);
    assert_eq!(events[2]["data"]["amount_captured"], "25.00");
    assert_eq!(
        (events[3]["data"]["id"].as_str(), events[3]["data"]["amount"].as_str()),
        (refund["id"].as_str(), Some("5.00"))
    );
    let (_, payment) = app.get(&format!("/api/v1/payment/{pid}")).await;
    assert_eq!(payment["amount_refunded"], "5.00", "{payment}");

    // Counted apart from payments: a manual payment is settled once.
    let metrics = app.http.get(format!("{}/metrics", app.base)).send().await.unwrap().text().await.unwrap();
    for line in [
        r#"payrail_payments_settled_total{outcome="authorized",reason=""} 1"#,
        r#"payrail_authorizations_closed_total{outcome="captured",reason=""} 1"#,
        r#"payrail_refunds_settled_total{outcome="done",reason=""} 1"#,
    ] {
        assert!(metrics.lines().any(|l| l == line), "no {line} in:\n{metrics}");
    }

    // Done: neither a second capture nor a void.
    for action in ["capture", "void"] {
        let (status, body) = app.post(&format!("/api/v1/payment/{pid}/{action}"), json!({})).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (409, Some("invalid_state")),
            "{action}: {body}"
        );
    }
    let (code, report) = env.audit();
    assert_eq!(code, 0, "{report}");
}

#[tokio::test]
async fn a_void_releases_the_hold_and_an_unused_hold_expires() {
    let env = TestEnv::new();
    let app = App::start(&env, &FAST_RELAY).await;
    let (a, b) = (app.account("10.00").await, app.account("0").await);

    let (_, voided) = authorize(&app, &a, &b, "4.00", None).await;
    let voided = id(&voided);
    assert_eq!(wait_past(&app, &voided, &["pending"]).await["status"], "authorized");
    assert_eq!(account(&app, &a).await["available_balance"], "6.00");
    // The rest, held for a second.
    let (_, expiring) = authorize(&app, &a, &b, "6.00", Some(1)).await;
    let expiring = id(&expiring);

    let (status, body) = app.post(&format!("/api/v1/payment/{voided}/void"), json!(null)).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(wait_past(&app, &voided, &["authorized"]).await["status"], "voided");
    let gone = wait_past(&app, &expiring, &["pending", "authorized"]).await;
    assert_eq!(gone["status"], "expired", "{gone}");
    assert_eq!(gone["amount_captured"], Value::Null);

    let payer = account(&app, &a).await;
    assert_eq!(
        (payer["balance"].as_str(), payer["available_balance"].as_str()),
        (Some("10.00"), Some("10.00"))
    );
    assert_eq!(account(&app, &b).await["balance"], "0.00");
    // Too late: the hold has gone.
    let (status, body) = app.post(&format!("/api/v1/payment/{expiring}/capture"), json!({})).await;
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("invalid_state")), "{body}");
    let (code, report) = env.audit();
    assert_eq!(code, 0, "{report}");
}

#[tokio::test]
async fn bad_holds_and_captures_are_refused_with_nothing_recorded() {
    let env = TestEnv::new();
    let app = App::start(&env, &[]).await;
    let (a, b) = (app.account("10.00").await, app.account("0").await);

    let bad = [
        json!({"from_account": a, "to_account": b, "amount": "1", "capture": "manual", "hold_expires_in_secs": 0}),
        json!({"from_account": a, "to_account": b, "amount": "1", "capture": "manual", "hold_expires_in_secs": 2_592_001}),
        json!({"from_account": a, "to_account": b, "amount": "1", "capture": "manual", "hold_expires_in_secs": -5}),
        json!({"from_account": a, "to_account": b, "amount": "1", "hold_expires_in_secs": 60}),
        json!({"from_account": a, "to_account": b, "amount": "1", "capture": "later"}),
    ];
    for body in bad {
        let (status, answer) = app.post("/api/v1/payment", body.clone()).await;
        assert_eq!(
            (status, answer["error"]["code"].as_str()),
            (422, Some("invalid_capture")),
            "{body}: {answer}"
        );
    }
    assert_eq!(payment_count(&env).await, 0);

    // The longest hold is accepted; under an Idempotency-Key (recorded
    // apart from the groups), a retry gets the same manual payment back.
    let keyed = || {
        app.http
            .post(format!("{}/api/v1/payment", app.base))
            .header("idempotency-key", "hold-longest")
            .json(&json!({"from_account": a, "to_account": b, "amount": "1", "capture": "manual", "hold_expires_in_secs": 2_592_000}))
            .send()
    };
    let first: Value = keyed().await.unwrap().json().await.unwrap();
    let again = keyed().await.unwrap();
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    let again: Value = again.json().await.unwrap();
    assert_eq!((id(&again), again["capture"].as_str()), (id(&first), Some("manual")));
    let held = wait_past(&app, &id(&first), &["pending"]).await;
    let expires: chrono::DateTime<chrono::Utc> = held["hold_expires_at"].as_str().unwrap().parse().unwrap();
    assert!((expires - chrono::Utc::now() - chrono::Duration::days(30)).num_seconds().abs() < 60, "{held}");
    // The same key with automatic capture is another request.
    let (status, body) = {
        let r = app
            .http
            .post(format!("{}/api/v1/payment", app.base))
            .header("idempotency-key", "hold-longest")
            .json(&json!({"from_account": a, "to_account": b, "amount": "1"}))
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json::<Value>().await.unwrap())
    };
    assert_eq!((status, body["error"]["code"].as_str()), (422, Some("idempotency_key_reused")), "{body}");

    // Capture or void of a payment that is not authorized, or unknown.
    let (_, auto) = app.pay(&a, &b, "1").await;
    let auto = id(&auto);
    app.wait_terminal(std::slice::from_ref(&auto), WITHIN).await;
    for action in ["capture", "void"] {
        let (status, body) = app.post(&format!("/api/v1/payment/{auto}/{action}"), json!({})).await;
        assert_eq!((status, body["error"]["code"].as_str()), (409, Some("invalid_state")), "{body}");
        let unknown = uuid::Uuid::now_v7();
        let (status, body) = app.post(&format!("/api/v1/payment/{unknown}/{action}"), json!({})).await;
        assert_eq!((status, body["error"]["code"].as_str()), (404, Some("not_found")), "{body}");
    }
    let (status, body) = app.post(&format!("/api/v1/payment/{auto}/capture"), json!({"amount": "0"})).await;
    assert_eq!((status, body["error"]["code"].as_str()), (422, Some("invalid_amount")), "{body}");
    let (code, report) = env.audit();
    assert_eq!(code, 0, "{report}");
}

/// Captures, voids and the expiry of one authorization, all at once, for
/// several authorizations with requests sent before, at and after their
/// expiry: exactly one end is applied to each, and that end is the one
/// its answers announced.
#[tokio::test]
async fn concurrent_captures_voids_and_expiries_of_one_authorization_end_it_exactly_once() {
    let env = TestEnv::new();
    let app = App::start(&env, &FAST_RELAY).await;
    let (a, b) = (app.account("100.00").await, app.account("0").await);

    const HOLDS: usize = 6;
    let mut ids = Vec::new();
    for _ in 0..HOLDS {
        let (status, body) = authorize(&app, &a, &b, "10.00", Some(2)).await;
        assert_eq!(status, 202, "{body}");
        ids.push(id(&body));
    }
    let mut authorized = Vec::new();
    for pid in &ids {
        let body = wait_past(&app, pid, &["pending"]).await;
        assert_eq!(body["status"], "authorized", "{body}");
        authorized.push(
            body["hold_expires_at"].as_str().unwrap().parse::<chrono::DateTime<chrono::Utc>>().unwrap(),
        );
    }

    // Each authorization is raced at a different moment around its expiry.
    let races = ids.iter().zip(&authorized).enumerate().map(|(i, (pid, expires))| {
        let app = &app;
        async move {
            let offset = chrono::Duration::milliseconds(-1500 + 600 * i as i64);
            let wait = (*expires + offset - chrono::Utc::now()).to_std().unwrap_or_default();
            tokio::time::sleep(wait).await;
            let requests = (0..20).map(|n| async move {
                let (action, body) =
                    if n % 2 == 0 { ("capture", json!({"amount": "7.00"})) } else { ("void", json!({})) };
                let (status, answer) = app.post(&format!("/api/v1/payment/{pid}/{action}"), body).await;
                assert!(status == 202 || status == 409, "{action}: {status} {answer}");
                (action, status)
            });
            let answers = join_all(requests).await;
            let accepted: Vec<&str> = answers.iter().filter(|(_, s)| *s == 202).map(|(a, _)| *a).collect();
            assert!(accepted.len() <= 1, "{pid}: several requests accepted: {accepted:?}");
            (pid.clone(), accepted.first().copied())
        }
    });
    let raced = join_all(races).await;

    let mut captured_total = 0;
    let mut ends = Vec::new();
    for (pid, winner) in raced {
        let body = wait_past(&app, &pid, &["pending", "authorized"]).await;
        let end = body["status"].as_str().unwrap().to_owned();
        match winner {
            Some("capture") => assert_eq!(end, "done", "{body}"),
            Some("void") => assert_eq!(end, "voided", "{body}"),
            _ => assert_eq!(end, "expired", "{body}"),
        }
        if end == "done" {
            assert_eq!(body["amount_captured"], "7.00");
            captured_total += 700;
        }
        ends.push(end);
    }
    // Every end moved money (or released it) once: the ledger agrees.
    let pg = env.pg().await;
    let (balance, held): (i64, i64) =
        sqlx::query_as("SELECT balance, held FROM accounts WHERE id = $1::uuid")
            .bind(&a)
            .fetch_one(&pg)
            .await
            .unwrap();
    assert_eq!((balance, held), (10_000 - captured_total, 0), "ends: {ends:?}");
    let payee: i64 = sqlx::query_scalar("SELECT balance FROM accounts WHERE id = $1::uuid")
        .bind(&b)
        .fetch_one(&pg)
        .await
        .unwrap();
    assert_eq!(payee, captured_total);
    let events: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM events WHERE type IN ('payment.captured', 'payment.voided', 'payment.expired')",
    )
    .fetch_one(&pg)
    .await
    .unwrap();
    assert_eq!(events, HOLDS as i64, "one end event per authorization");
    let (code, report) = env.audit();
    assert_eq!(code, 0, "{report}");
}

fn failed_checks(report: &Value) -> Vec<String> {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["ok"] == false)
        .map(|c| c["name"].as_str().unwrap().to_owned())
        .collect()
}

/// The audit's checks of holds, captures, refunds and ends each catch the
/// damage they are about (written past settle, straight into the tables).
#[tokio::test]
async fn the_audit_catches_holds_refunds_and_ends_that_do_not_add_up() {
    let env = TestEnv::new();
    let app = App::start(&env, &[]).await;
    let (a, b) = (app.account("10.00").await, app.account("0").await);
    let (_, held) = authorize(&app, &a, &b, "3.00", None).await;
    let held = id(&held);
    assert_eq!(wait_past(&app, &held, &["pending"]).await["status"], "authorized");
    let (_, paid) = app.pay(&a, &b, "5.00").await;
    let paid = id(&paid);
    app.wait_terminal(std::slice::from_ref(&paid), WITHIN).await;
    let (status, body) =
        app.post(&format!("/api/v1/payment/{paid}/refunds"), json!({"amount": "1.00"})).await;
    assert_eq!(status, 202, "{body}");
    let (code, report) = env.audit();
    assert_eq!(code, 0, "{report}");

    let pg = env.pg().await;
    // A hold no authorization explains.
    sqlx::query("UPDATE accounts SET held = held + 100 WHERE id = $1::uuid")
        .bind(&a)
        .execute(&pg)
        .await
        .unwrap();
    let (_, report) = env.audit();
    assert_eq!(failed_checks(&report), ["balances_match_ledger", "holds_match"], "{report}");
    sqlx::query("UPDATE accounts SET held = held - 100 WHERE id = $1::uuid")
        .bind(&a)
        .execute(&pg)
        .await
        .unwrap();

    // A refund past the payment, done without its entries.
    sqlx::query(
        "INSERT INTO refunds (id, payment_id, amount, status) VALUES ($1::uuid, $2::uuid, 450, 'done')",
    )
    .bind(uuid::Uuid::now_v7().to_string())
    .bind(&paid)
    .execute(&pg)
    .await
    .unwrap();
    // And a second end of a payment.
    sqlx::query(
        "INSERT INTO events (id, type, payment_id, status, payment_updated_at) \
         VALUES ($1::uuid, 'payment.voided', $2::uuid, 'voided', now())",
    )
    .bind(uuid::Uuid::now_v7().to_string())
    .bind(&paid)
    .execute(&pg)
    .await
    .unwrap();
    let (code, report) = env.audit();
    assert_eq!(code, 1, "{report}");
    assert_eq!(
        failed_checks(&report),
        ["refunds_within_payment", "refunds_match_ledger", "ends_reached_once"],
        "{report}"
    );
}

/// Manual payments, captures, voids, expiries and refunds in flight when
/// the process is killed (`kill -9`): after a restart every one of them
/// reaches its end, once, and the audit holds.
#[tokio::test]
async fn holds_captures_and_refunds_survive_a_kill_9() {
    let env = TestEnv::new();
    let fast = [("RELAY_INTERVAL_SECS", "1"), ("RELAY_AFTER_SECS", "1")];
    let mut app = App::start(&env, &fast).await;
    let accounts = [app.account("100.00").await, app.account("100.00").await, app.account("100.00").await];
    let pair = |i: usize| (&accounts[i % 3], &accounts[(i + 1) % 3]);

    let mut manual = Vec::new();
    let mut automatic = Vec::new();
    for i in 0..30 {
        let (from, to) = pair(i);
        let (status, body) = authorize(&app, from, to, "1.00", Some(2)).await;
        assert_eq!(status, 202, "{body}");
        manual.push(id(&body));
        let (status, body) = app.pay(from, to, "2.00").await;
        assert_eq!(status, 202, "{body}");
        automatic.push(id(&body));
    }
    for pid in &manual {
        wait_past(&app, pid, &["pending"]).await;
    }
    for pid in &automatic {
        wait_past(&app, pid, &["pending"]).await;
    }
    // Captures, voids and refunds all at once, and the process killed
    // while they are being settled; a third of the holds are left to expire.
    let requests = manual.iter().enumerate().filter(|(i, _)| i % 3 != 2).map(|(i, pid)| {
        let action = if i % 3 == 0 { "capture" } else { "void" };
        app.http.post(format!("{}/api/v1/payment/{pid}/{action}", app.base)).json(&json!({})).send()
    });
    let refunds = automatic.iter().map(|pid| {
        app.http
            .post(format!("{}/api/v1/payment/{pid}/refunds", app.base))
            .json(&json!({"amount": "0.50"}))
            .send()
    });
    let (answers, refund_answers) = tokio::join!(join_all(requests), join_all(refunds));
    app.kill9();
    let accepted = answers.iter().filter(|r| r.as_ref().is_ok_and(|r| r.status() == 202)).count();
    let refunds_accepted =
        refund_answers.iter().filter(|r| r.as_ref().is_ok_and(|r| r.status() == 202)).count();
    assert!(
        accepted > 0 && refunds_accepted > 0,
        "{accepted} hold requests, {refunds_accepted} refunds accepted"
    );
    app.restart().await;

    for pid in manual.iter().chain(&automatic) {
        let body = wait_past(&app, pid, &["pending", "authorized"]).await;
        assert!(
            ["done", "voided", "expired", "failed"].contains(&body["status"].as_str().unwrap()),
            "{body}"
        );
    }
    let pg = env.pg().await;
    poll_within(WITHIN, || async {
        let pending: i64 = sqlx::query_scalar("SELECT count(*) FROM refunds WHERE status = 'pending'")
            .fetch_one(&pg)
            .await
            .unwrap();
        if pending == 0 { Ok(()) } else { Err(format!("{pending} refunds still pending")) }
    })
    .await
    .unwrap_or_else(|seen| panic!("{seen}; log:\n{}", app.log_tail()));
    let refunds: i64 = sqlx::query_scalar("SELECT count(*) FROM refunds").fetch_one(&pg).await.unwrap();
    assert!(refunds >= refunds_accepted as i64, "every accepted refund was recorded");
    let (total, held): (i64, i64) =
        sqlx::query_as("SELECT sum(balance)::bigint, sum(held)::bigint FROM accounts")
            .fetch_one(&pg)
            .await
            .unwrap();
    assert_eq!((total, held), (30_000, 0), "money conserved, nothing left held");
    let (code, report) = env.audit();
    assert_eq!(code, 0, "{report}");
}

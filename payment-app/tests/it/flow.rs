//! The payment flow end to end: the real binary against the real
//! PostgreSQL, RabbitMQ and Redis, each test in its own database and vhost.

use std::time::Duration;

use crate::common::{App, RedisNodes, TestEnv, payment, poll_within, refusal, refused};
use futures_util::{StreamExt, stream};
use payrail_client::types::{CreateAccount, CreatePayment, ErrorCode, FailureReason, PaymentStatus};
use reqwest::StatusCode;
use serde_json::{Value, json};

const SETTLE_WITHIN: Duration = Duration::from_secs(60);

fn id(body: &Value) -> String {
    body["id"].as_str().unwrap_or_else(|| panic!("no id in {body}")).to_owned()
}

async fn payment_count(env: &TestEnv) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM payments").fetch_one(&env.pg().await).await.unwrap()
}

#[tokio::test]
async fn a_payment_settles_and_moves_money() {
    let env = TestEnv::new();
    let app = App::start(&env, &[]).await;
    let a = app.account("100.00").await;
    let b = app.account("0").await;

    let description = Some("this is a payment desc.".to_owned());
    let accepted =
        app.accept(&CreatePayment { payment_description: description, ..payment(&a, &b, "99.01") }).await;
    assert_eq!(accepted.status, PaymentStatus::Pending);
    assert_eq!(accepted.amount.to_string(), "99.01");
    assert_eq!(accepted.payment_description.as_deref(), Some("this is a payment desc."));

    let done = app.api.wait_until_terminal(accepted.id, SETTLE_WITHIN).await.unwrap();
    assert_eq!(done.status, PaymentStatus::Done, "{done:?}");
    assert_eq!(done.failure_reason, None);
    assert_eq!(app.balance(&a).await, "0.99");
    assert_eq!(app.balance(&b).await, "99.01");

    let (code, report) = env.audit();
    assert_eq!(code, 0, "{report}");
}

#[tokio::test]
async fn a_payment_the_payer_cannot_cover_fails_with_insufficient_funds() {
    let env = TestEnv::new();
    let app = App::start(&env, &[]).await;
    let a = app.account("10.00").await;
    let b = app.account("0").await;

    let failed = app.settled(&payment(&a, &b, "10.01"), SETTLE_WITHIN).await;
    assert_eq!(failed.status, PaymentStatus::Failed);
    assert_eq!(failed.failure_reason, Some(FailureReason::InsufficientFunds));
    assert_eq!(app.balance(&a).await, "10.00");
    assert_eq!(app.balance(&b).await, "0.00");

    // Exactly the balance is enough.
    let done = app.settled(&payment(&a, &b, "10"), SETTLE_WITHIN).await;
    assert_eq!(done.status, PaymentStatus::Done);
    assert_eq!(app.balance(&a).await, "0.00");

    let (code, report) = env.audit();
    assert_eq!(code, 0, "{report}");
}

#[tokio::test]
async fn unknown_accounts_are_refused_and_nothing_is_recorded() {
    let env = TestEnv::new();
    let app = App::start(&env, &[]).await;
    let known = app.account("5.00").await;
    let unknown = uuid::Uuid::now_v7().to_string();

    for (from, to) in [(&unknown, &known), (&known, &unknown)] {
        let (status, code, message) = refusal(app.api.create_payment(&payment(from, to, "1.00"), None).await);
        assert_eq!((status, code), (422, ErrorCode::UnknownAccount));
        assert!(message.contains(unknown.as_str()), "{message}");
    }
    let not_found = (404, ErrorCode::NotFound);
    assert_eq!(refused(app.api.get_account(unknown.parse().unwrap()).await), not_found);
    assert_eq!(refused(app.api.get_payment(unknown.parse().unwrap()).await), not_found);
    assert_eq!(payment_count(&env).await, 0);
}

/// Payments arriving together are recorded with one insert; when one of a
/// group names an unknown account, only that one is refused.
#[tokio::test]
async fn an_unknown_account_in_a_group_refuses_only_its_payment() {
    let env = TestEnv::new();
    // One group written at a time, so concurrent requests pile into groups.
    let app =
        App::start(&env, &[("INTAKE_GROUPS_IN_FLIGHT", "1"), ("RUST_LOG", "info,payment_app::intake=debug")])
            .await;
    let a = app.account("1000.00").await;
    let b = app.account("0").await;
    let unknown = uuid::Uuid::now_v7().to_string();

    let answers: Vec<(bool, _)> = stream::iter(0..300)
        .map(|i| {
            let (app, a, b, unknown) = (&app, &a, &b, &unknown);
            async move {
                let bad = i % 10 == 0;
                let to = if bad { unknown } else { b };
                (bad, app.api.create_payment_with_meta(&payment(a, to, "1.00"), None).await)
            }
        })
        .buffer_unordered(64)
        .collect()
        .await;
    let mut accepted = Vec::new();
    for (bad, answer) in answers {
        if bad {
            assert_eq!(refused(answer), (422, ErrorCode::UnknownAccount));
        } else {
            let answer = answer.unwrap();
            assert_eq!(answer.status, StatusCode::ACCEPTED, "{answer:?}");
            accepted.push(answer.value.id.to_string());
        }
    }
    // The unknown account is refused when intake looks up the accounts'
    // currencies, before any group is formed: no group insert fails on it.
    assert!(
        !app.log_text().contains("group insert failed; recording its payments one by one"),
        "a group held an unknown account:\n{}",
        app.log_tail()
    );
    for payment in app.wait_terminal(&accepted, SETTLE_WITHIN).await {
        assert_eq!(payment["status"], "done", "{payment}");
    }
    assert_eq!(payment_count(&env).await, 270);
    assert_eq!(app.balance(&b).await, "270.00");
    let (code, report) = env.audit();
    assert_eq!(code, 0, "{report}");
}

#[tokio::test]
async fn bad_requests_get_one_json_error_shape_and_record_nothing() {
    let env = TestEnv::new();
    let app = App::start(&env, &[]).await;
    let a = app.account("5.00").await;
    let b = app.account("0").await;
    let pay = |amount: Value| json!({"from_account": a, "to_account": b, "amount": amount});

    let cases: Vec<(&str, String, u16, &str)> = vec![
        ("not JSON", "{".into(), 400, "malformed_json"),
        ("empty body", String::new(), 400, "malformed_json"),
        ("trailing garbage", format!("{} x", pay(json!("1"))), 400, "malformed_json"),
        ("an array", "[]".into(), 422, "invalid_body"),
        ("a string", "\"pay\"".into(), 422, "invalid_body"),
        ("a number", "12".into(), 422, "invalid_body"),
        ("null", "null".into(), 422, "invalid_body"),
        ("null amount", pay(Value::Null).to_string(), 422, "invalid_body"),
        ("numeric account id", json!({"from_account": 1, "to_account": b, "amount": "1"}).to_string(), 422, "invalid_body"),
        ("numeric description", json!({"from_account": a, "to_account": b, "amount": "1", "payment_description": 5}).to_string(), 422, "invalid_body"),
        ("missing amount", json!({"from_account": a, "to_account": b}).to_string(), 422, "invalid_body"),
        ("unknown field", json!({"from_account": a, "to_account": b, "amount": "1", "ammount": "2"}).to_string(), 422, "invalid_body"),
        ("number amount", pay(json!(1.5)).to_string(), 422, "invalid_body"),
        ("zero", pay(json!("0.00")).to_string(), 422, "invalid_amount"),
        ("negative", pay(json!("-1.00")).to_string(), 422, "invalid_amount"),
        ("three decimals", pay(json!("1.001")).to_string(), 422, "invalid_amount"),
        ("exponent", pay(json!("1e2")).to_string(), 422, "invalid_amount"),
        ("spaces", pay(json!(" 1.00")).to_string(), 422, "invalid_amount"),
        ("NaN", pay(json!("NaN")).to_string(), 422, "invalid_amount"),
        ("Infinity", pay(json!("Infinity")).to_string(), 422, "invalid_amount"),
        ("empty amount", pay(json!("")).to_string(), 422, "invalid_amount"),
        ("comma decimal", pay(json!("1,50")).to_string(), 422, "invalid_amount"),
        ("overflow", pay(json!("92233720368547758.08")).to_string(), 422, "invalid_amount"),
        ("non-UUID id", json!({"from_account": "abc", "to_account": b, "amount": "1"}).to_string(), 422, "invalid_account_id"),
        ("UUID v4 id", json!({"from_account": a, "to_account": uuid::Uuid::new_v4(), "amount": "1"}).to_string(), 422, "invalid_account_id"),
        ("equal accounts", json!({"from_account": a, "to_account": a, "amount": "1"}).to_string(), 422, "same_account"),
        (
            "long description",
            json!({"from_account": a, "to_account": b, "amount": "1", "payment_description": "x".repeat(1001)}).to_string(),
            422,
            "description_too_long",
        ),
        ("too large", format!("{{\"pad\": \"{}\"}}", "x".repeat(70 * 1024)), 413, "payload_too_large"),
    ];
    for (name, body, status, code) in cases {
        let r = app
            .http
            .post(format!("{}/api/v1/payment", app.base))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), status, "{name}");
        let json: Value = r.json().await.unwrap();
        assert_eq!(json["error"]["code"], code, "{name}: {json}");
        assert!(json["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{name}: {json}");
    }

    let r = app
        .http
        .post(format!("{}/api/v1/payment", app.base))
        .body(pay(json!("1")).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 415, "no content type");
    let (status, body) = app.get("/api/v1/payment/not-an-id").await;
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("invalid_id")));
    let unknown = uuid::Uuid::now_v7().to_string().parse().unwrap();
    assert_eq!(refused(app.api.get_payment(unknown).await), (404, ErrorCode::NotFound));
    let (status, body) = app.get("/no/such/route").await;
    assert_eq!((status, body["error"]["code"].as_str()), (404, Some("route_not_found")));
    let three_decimals = CreateAccount { initial_balance: Some("1.234".into()), ..Default::default() };
    assert_eq!(refused(app.api.create_account(&three_decimals, None).await), (422, ErrorCode::InvalidAmount));

    assert_eq!(payment_count(&env).await, 0);
    assert_eq!(app.balance(&a).await, "5.00");
}

#[tokio::test]
async fn an_account_can_be_opened_with_an_empty_body() {
    let env = TestEnv::new();
    let app = App::start(&env, &[]).await;
    let r = app.http.post(format!("{}/api/v1/accounts", app.base)).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["balance"], "0.00");
    assert_eq!(location, format!("/api/v1/accounts/{}", id(&body)));
}

/// Overdraft races and A→B / B→A cycles over a few accounts: every payment
/// ends terminal, no balance goes negative, and money adds up.
///
/// The cycles alone prove no race: settled one after another in the order
/// sent, none of their payments is short of money, and on a slow machine
/// (CI's, once) they did settle nearly in order, so "some failed" did not
/// hold. Two payers that only ever pay out make the race certain: each holds
/// 10.00 and sends three 7.00 payments among the others, so exactly one of
/// its three can be done, whichever order they settle in.
#[tokio::test]
async fn concurrent_payments_over_few_accounts_settle_exactly_once() {
    let env = TestEnv::new();
    let app = App::start(&env, &[("LOCK_RETRY_DELAY_MS", "20")]).await;
    let mut accounts = Vec::new();
    for _ in 0..4 {
        accounts.push(app.account("10.00").await);
    }
    let payers = [app.account("10.00").await, app.account("10.00").await];
    // 240 payments among the four (alternating directions make A→B / B→A
    // cycles, and 7.00 out of 10.00 races overdrafts), with each payer's
    // three spread through them; 32 clients at once.
    let mut orders: Vec<(&str, &str, &str)> = (0..240usize)
        .map(|i| {
            let from = &accounts[i % 4];
            let to = &accounts[if i % 8 < 4 { (i + 1) % 4 } else { (i + 3) % 4 }];
            (from.as_str(), to.as_str(), if i % 3 == 0 { "7.00" } else { "1.25" })
        })
        .collect();
    for (k, payer) in payers.iter().enumerate() {
        for n in 0..3 {
            orders.insert(40 * (2 * n + k) + 7, (payer.as_str(), accounts[(n + k) % 4].as_str(), "7.00"));
        }
    }
    let app = &app;
    let responses: Vec<(usize, u16, Value)> = stream::iter(orders.iter().enumerate())
        .map(|(at, (from, to, amount))| async move {
            let (status, body) = app.pay(from, to, amount).await;
            (at, status, body)
        })
        .buffer_unordered(32)
        .collect()
        .await;
    let mut ids = vec![String::new(); orders.len()];
    for (at, status, body) in &responses {
        assert_eq!(*status, 202, "{body}");
        ids[*at] = id(body);
    }
    // A bound on liveness: 246 payments over six accounts settle at most
    // three at a time, each behind a lock, a quorum-queue write and a commit;
    // 3 s here, but CI once failed this test at the 60 s the others use
    // (its message was not kept: scripts/test now prints it at the end).
    let settled = app.wait_terminal(&ids, 3 * SETTLE_WITHIN).await;
    assert!(settled.iter().all(|p| p["status"] == "done" || p["failure_reason"] == "insufficient_funds"));
    for payer in &payers {
        let outcomes: Vec<&Value> =
            settled.iter().filter(|p| p["from_account"] == payer.as_str()).map(|p| &p["status"]).collect();
        assert_eq!(outcomes.len(), 3);
        assert_eq!(outcomes.iter().filter(|s| **s == "done").count(), 1, "payer {payer}: {outcomes:?}");
        assert_eq!(app.balance(payer).await, "3.00");
    }

    let mut total = 0.0;
    for account in accounts.iter().chain(&payers) {
        total += app.balance(account).await.parse::<f64>().unwrap();
    }
    assert_eq!(format!("{total:.2}"), "60.00");
    let (code, report) = env.audit();
    assert_eq!(code, 0, "{report}");
}

/// A settle message delivered again after its payment is done (a broker
/// redelivery, a duplicate publish) must change nothing.
#[tokio::test]
async fn a_redelivered_settle_message_does_not_apply_twice() {
    let env = TestEnv::new();
    let app = App::start(&env, &[]).await;
    let a = app.account("50.00").await;
    let b = app.account("0").await;
    let (_, body) = app.pay(&a, &b, "20.00").await;
    let payment = id(&body);
    app.wait_terminal(std::slice::from_ref(&payment), SETTLE_WITHIN).await;

    let publisher = crate::common::publisher(&env).await;
    let duplicate = json!({
        "payments": [{"payment_id": payment, "from_account": a, "to_account": b}],
        "lock_token": uuid::Uuid::new_v4(),
    });
    for _ in 0..3 {
        publisher.publish(payment_app::broker::SETTLE_QUEUE, &duplicate).await.unwrap();
    }
    // Settle logs each duplicate it finds already settled.
    let ignored = |log: String| {
        log.lines().filter(|l| l.contains("redelivery ignored") && l.contains(&payment)).count()
    };
    poll_within(SETTLE_WITHIN, || async {
        let seen = ignored(app.log_text());
        if seen >= 3 { Ok(()) } else { Err(format!("{seen} redeliveries logged as ignored")) }
    })
    .await
    .unwrap_or_else(|seen| panic!("{seen}, not 3; log:\n{}", app.log_tail()));
    assert_eq!(app.balance(&a).await, "30.00");
    assert_eq!(app.balance(&b).await, "20.00");
    let (code, report) = env.audit();
    assert_eq!(code, 0, "{report}");
}

/// SIGTERM stops intake and exits cleanly; what was accepted but not yet
/// settled is settled by the next start.
#[tokio::test]
async fn sigterm_stops_cleanly_and_nothing_accepted_is_lost() {
    let env = TestEnv::new();
    let mut app = App::start(&env, &[]).await;
    let a = app.account("100.00").await;
    let b = app.account("100.00").await;
    let mut ids = Vec::new();
    for i in 0..60 {
        let (from, to) = if i % 2 == 0 { (&a, &b) } else { (&b, &a) };
        let (status, body) = app.pay(from, to, "3.00").await;
        assert_eq!(status, 202, "{body}");
        ids.push(id(&body));
    }
    let status = app.terminate();
    assert!(status.success(), "exit status {status:?}");

    app.restart().await;
    let settled = app.wait_terminal(&ids, SETTLE_WITHIN).await;
    assert!(settled.iter().all(|p| p["status"] == "done"), "every payment is covered");
    assert_eq!(app.balance(&a).await, "100.00");
    let (code, report) = env.audit();
    assert_eq!(code, 0, "{report}");
}

/// The lock over three Redis nodes: payments flow with all up and with one
/// down; with two down no lock is granted and payments wait, then finish
/// once a node is back.
#[tokio::test]
async fn three_redis_nodes_tolerate_one_down_and_wait_out_two() {
    let nodes = RedisNodes::start(3);
    let mut env = TestEnv::new();
    env.redis_urls = nodes.urls.join(",");
    let app = App::start(&env, &[("LOCK_RETRY_DELAY_MS", "50"), ("REDIS_TIMEOUT_MS", "100")]).await;
    let a = app.account("100.00").await;
    let b = app.account("100.00").await;
    let round = |n: usize| {
        let (a, b, app) = (a.clone(), b.clone(), &app);
        async move {
            let mut ids = Vec::new();
            for i in 0..n {
                let (from, to) = if i % 2 == 0 { (&a, &b) } else { (&b, &a) };
                let (status, body) = app.pay(from, to, "1.00").await;
                assert_eq!(status, 202, "{body}");
                ids.push(id(&body));
            }
            ids
        }
    };

    let ids = round(10).await;
    assert!(app.wait_terminal(&ids, SETTLE_WITHIN).await.iter().all(|p| p["status"] == "done"));

    nodes.stop_one(1);
    let ids = round(10).await;
    assert!(app.wait_terminal(&ids, SETTLE_WITHIN).await.iter().all(|p| p["status"] == "done"));

    nodes.stop_one(2);
    let waiting = round(6).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    for payment in &waiting {
        let payment = app.api.get_payment(payment.parse().unwrap()).await.unwrap();
        assert_eq!(payment.status, PaymentStatus::Pending, "no lock can be granted with one node of three");
    }
    nodes.start_one(2);
    let settled = app.wait_terminal(&waiting, SETTLE_WITHIN).await;
    assert!(settled.iter().all(|p| p["status"] == "done"));
    assert_eq!(app.balance(&a).await, "100.00");
    let (code, report) = env.audit();
    assert_eq!(code, 0, "{report}");
}

/// Every response carries an `x-request-id`: the client's own, echoed, or a
/// fresh one, so a client and an operator can name the same request.
#[tokio::test]
async fn request_ids_are_echoed_or_made() {
    let env = TestEnv::new();
    let app = App::start(&env, &[]).await;
    let r = app
        .http
        .get(format!("{}/healthz", app.base))
        .header("x-request-id", "client-chosen-42")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "client-chosen-42");
    let r = app.http.post(format!("{}/api/v1/accounts", app.base)).send().await.unwrap();
    let made = r.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert!(uuid::Uuid::parse_str(&made).is_ok(), "{made}");
    let r = app.http.get(format!("{}/no/such/route", app.base)).send().await.unwrap();
    assert!(r.headers().contains_key("x-request-id"), "errors carry one too");
}

//! What payrail promises a client beyond the happy path: idempotent
//! retries, access control, readiness, the relay, dead letters and locks
//! that expire under slow work. Each test has its own database and vhost.

use std::time::Duration;

use crate::common::{App, TOKEN, TestEnv, client, eventually, payment, poll_within, refused};
use futures_util::future::join_all;
use payrail_client::Error;
use payrail_client::types::{CreateAccount, CreatePayment, ErrorCode, PaymentStatus};
use reqwest::StatusCode;
use serde_json::{Value, json};

const SETTLE_WITHIN: Duration = Duration::from_secs(60);

async fn count(env: &TestEnv, table: &str) -> i64 {
    sqlx::query_scalar(&format!("SELECT count(*) FROM {table}")).fetch_one(&env.pg().await).await.unwrap()
}

#[tokio::test]
async fn a_retried_payment_with_the_same_key_is_made_once() {
    let env = TestEnv::new();
    let app = App::start(&env, &[]).await;
    let a = app.account("100.00").await;
    let b = app.account("0").await;
    let rent =
        |amount: &str| CreatePayment { payment_description: Some("rent".into()), ..payment(&a, &b, amount) };

    let first = app.api.create_payment_with_meta(&rent("10.00"), Some("key-1")).await.unwrap();
    assert_eq!((first.status, first.replayed), (StatusCode::ACCEPTED, false), "{first:?}");
    // Field order and number formatting do not make it a different request
    // (sent by hand: the client always writes the fields in one order).
    let same = json!({"payment_description": "rent", "amount": "10.0", "to_account": b, "from_account": a});
    let r = app
        .http
        .post(format!("{}/api/v1/payment", app.base))
        .header("idempotency-key", "key-1")
        .json(&same)
        .send()
        .await
        .unwrap();
    assert_eq!(
        (r.status().as_u16(), r.headers().get("idempotent-replayed")),
        (202, Some(&"true".parse().unwrap()))
    );
    let again: Value = r.json().await.unwrap();
    assert_eq!(again, serde_json::to_value(&first.value).unwrap(), "the first answer, as it was");
    let again = app.api.create_payment_with_meta(&rent("10.00"), Some("key-1")).await.unwrap();
    assert_eq!((again.status, again.replayed, &again.value), (StatusCode::ACCEPTED, true, &first.value));

    let other = app.api.create_payment(&rent("11.00"), Some("key-1")).await;
    assert_eq!(refused(other), (422, ErrorCode::IdempotencyKeyReused));

    let bad = app.api.create_payment(&rent("10.00"), Some("has space")).await;
    assert_eq!(refused(bad), (400, ErrorCode::InvalidIdempotencyKey));

    app.api.wait_until_terminal(first.value.id, SETTLE_WITHIN).await.unwrap();
    assert_eq!(count(&env, "payments").await, 1);
    assert_eq!(app.balance(&a).await, "90.00");
}

#[tokio::test]
async fn concurrent_retries_with_one_key_create_one_payment() {
    let env = TestEnv::new();
    let app = App::start(&env, &[]).await;
    let a = app.account("100.00").await;
    let b = app.account("0").await;
    let body = payment(&a, &b, "1.00");
    let answers = join_all((0..16).map(|_| app.api.create_payment_with_meta(&body, Some("same-key")))).await;
    let answers: Vec<_> = answers.into_iter().map(Result::unwrap).collect();
    let ids: std::collections::HashSet<_> = answers.iter().map(|r| (r.status, r.value.id)).collect();
    assert_eq!(ids.len(), 1, "every retry got the same 202 and id: {ids:?}");
    assert_eq!(ids.iter().next().unwrap().0, StatusCode::ACCEPTED);
    assert_eq!(answers.iter().filter(|r| !r.replayed).count(), 1);
    assert_eq!(count(&env, "payments").await, 1);

    // Accounts honour keys too.
    let open = CreateAccount { initial_balance: Some("5".into()), ..Default::default() };
    let answers = join_all((0..8).map(|_| app.api.create_account_with_meta(&open, Some("acct")))).await;
    let answers: Vec<_> = answers.into_iter().map(Result::unwrap).collect();
    assert!(answers.iter().all(|r| r.status == StatusCode::CREATED && r.value.id == answers[0].value.id));
    assert_eq!(count(&env, "accounts").await, 3);
    let (code, report) = env.audit();
    assert_eq!(code, 0, "{report}");
}

#[tokio::test]
async fn the_api_needs_a_valid_token_and_records_nothing_without_one() {
    let env = TestEnv::new();
    let app = App::start(&env, &[]).await;
    let a = app.account("10.00").await;
    let b = app.account("0").await;
    let body = json!({"from_account": a, "to_account": b, "amount": "1.00"});

    for token in [None, Some("wrong"), Some("")] {
        let http = client(token);
        let r = http.post(format!("{}/api/v1/payment", app.base)).json(&body).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 401, "{token:?}");
        assert_eq!(r.headers()["www-authenticate"], "Bearer");
        let json: Value = r.json().await.unwrap();
        assert_eq!(json["error"]["code"], "unauthorized");
        let r = http.get(format!("{}/api/v1/accounts/{a}", app.base)).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 401);
        let r = http.post(format!("{}/api/v1/accounts", app.base)).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 401);
    }
    assert_eq!(count(&env, "payments").await, 0);
    assert_eq!(count(&env, "accounts").await, 2);

    // The second configured token works as well as the first.
    let r = client(Some("test-token-0000002"))
        .post(format!("{}/api/v1/payment", app.base))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 202);

    // Probes stay open; neither the log nor a response shows a token.
    let open = client(None);
    assert_eq!(open.get(format!("{}/healthz", app.base)).send().await.unwrap().status().as_u16(), 200);
    let r = open.get(format!("{}/readyz", app.base)).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let ready: Value = r.json().await.unwrap();
    assert_eq!(
        ready,
        json!({"status": "ready", "postgres": "ok", "rabbitmq": "ok", "redis": "1/1 nodes", "statements": "ok"})
    );
    assert!(!app.log_text().contains(TOKEN), "a token leaked into the log");
}

#[tokio::test]
async fn without_api_tokens_a_token_is_generated_and_printed_once() {
    let env = TestEnv::new();
    let app = App::start(&env, &[("API_TOKENS", "")]).await;
    let log = app.log_text();
    let line = log.lines().find(|l| l.contains("generated token")).expect("the token is printed");
    let token = line.rsplit(' ').next().unwrap();
    assert_eq!(log.matches(token).count(), 2, "printed once, with a curl example: {log}");
    let r = client(Some(token)).post(format!("{}/api/v1/accounts", app.base)).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let r = client(Some(TOKEN)).post(format!("{}/api/v1/accounts", app.base)).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 401);
}

/// The process died between commit and publish: the payment is committed
/// `pending` with no message anywhere. The relay finds it and queues it.
#[tokio::test]
async fn the_relay_queues_a_payment_the_broker_never_got() {
    let env = TestEnv::new();
    let app = App::start(&env, &[("RELAY_AFTER_SECS", "1"), ("RELAY_INTERVAL_SECS", "1")]).await;
    let a = app.account("10.00").await;
    let b = app.account("0").await;
    let orphan = uuid::Uuid::now_v7();
    sqlx::query(
        "INSERT INTO payments (id, from_account, to_account, amount) VALUES ($1, $2::uuid, $3::uuid, 250)",
    )
    .bind(orphan)
    .bind(&a)
    .bind(&b)
    .execute(&env.pg().await)
    .await
    .unwrap();
    let settled = app.wait_terminal(&[orphan.to_string()], SETTLE_WITHIN).await;
    assert_eq!(settled[0]["status"], "done");
    assert_eq!(app.balance(&b).await, "2.50");
    assert!(app.log_text().contains("relay re-queued stale pending payments"));
    let (code, report) = env.audit();
    assert_eq!(code, 0, "{report}");
}

/// A lock far shorter than the work: settle is held up on the accounts'
/// rows, locks expire, and more payments on the same accounts are let
/// through. Each still applies exactly once and none overdraws.
#[tokio::test]
async fn locks_that_expire_under_slow_settles_change_nothing() {
    let env = TestEnv::new();
    let app = App::start(
        &env,
        // The shortest lock the app accepts (payrail_common::settings::LOCK_TTL_MS).
        &[("LOCK_TTL_MS", "1000"), ("REDIS_TIMEOUT_MS", "20"), ("LOCK_RETRY_DELAY_MS", "20")],
    )
    .await;
    let a = app.account("10.00").await;
    let b = app.account("10.00").await;

    // Hold both account rows for 3 s, three times the 1 s lock.
    let pg = env.pg().await;
    let mut blocker = pg.begin().await.unwrap();
    sqlx::query("SELECT 1 FROM accounts WHERE id IN ($1::uuid, $2::uuid) FOR NO KEY UPDATE")
        .bind(&a)
        .bind(&b)
        .execute(&mut *blocker)
        .await
        .unwrap();
    let mut ids = Vec::new();
    for i in 0..40 {
        let (from, to) = if i % 2 == 0 { (&a, &b) } else { (&b, &a) };
        let (status, body) = app.pay(from, to, "4.00").await;
        assert_eq!(status, 202, "{body}");
        ids.push(body["id"].as_str().unwrap().to_owned());
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    blocker.commit().await.unwrap();

    let settled = app.wait_terminal(&ids, SETTLE_WITHIN).await;
    assert!(settled.iter().all(|p| p["status"] == "done" || p["failure_reason"] == "insufficient_funds"));
    let (code, report) = env.audit();
    assert_eq!(code, 0, "{report}");
    let total: f64 =
        [app.balance(&a).await, app.balance(&b).await].iter().map(|s| s.parse::<f64>().unwrap()).sum();
    assert_eq!(format!("{total:.2}"), "20.00");
}

/// Past `HTTP_MAX_IN_FLIGHT` requests at once, the API refuses at once
/// with 503 `overloaded` and `Retry-After`, records nothing, and keeps the
/// probes answering; the requests it took complete.
#[tokio::test]
async fn requests_past_the_in_flight_limit_are_refused_and_record_nothing() {
    let env = TestEnv::new();
    let app = App::start(&env, &[("HTTP_MAX_IN_FLIGHT", "1")]).await;
    let a = app.account("10.00").await;
    let b = app.account("0").await;

    // Holding the payer's row makes the payment's insert wait (its foreign
    // key check needs a share lock), so one request stays in flight.
    let pg = env.pg().await;
    let mut blocker = pg.begin().await.unwrap();
    sqlx::query("SELECT 1 FROM accounts WHERE id = $1::uuid FOR UPDATE")
        .bind(&a)
        .execute(&mut *blocker)
        .await
        .unwrap();
    let first = tokio::spawn({
        let (api, body) = (app.api.clone(), payment(&a, &b, "1.00"));
        async move { api.create_payment_with_meta(&body, None).await.map(|r| r.status.as_u16()).unwrap() }
    });
    let waiting = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'";
    eventually(Duration::from_secs(5), "the first payment waits for the held row", || async {
        let n = sqlx::query_scalar::<_, i64>(waiting).fetch_one(&pg).await.unwrap();
        if n > 0 { Ok(()) } else { Err("no session waits for a lock".to_owned()) }
    })
    .await;

    match app.api.create_payment(&payment(&a, &b, "2.00"), None).await {
        Err(Error::Api { status, code, retry_after, .. }) => {
            assert_eq!((status.as_u16(), code, retry_after), (503, Some(ErrorCode::Overloaded), Some(1)));
        }
        other => panic!("expected 503 overloaded, got {other:?}"),
    }
    let (status, _) = app.get("/healthz").await;
    assert_eq!(status, 200, "probes are not limited");
    // The refusal is counted by its code, which the operator's alert reads.
    let metrics = app.http.get(format!("{}/metrics", app.base)).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains(r#"payrail_api_errors_total{code="overloaded"} 1"#), "{metrics}");

    blocker.commit().await.unwrap();
    assert_eq!(first.await.unwrap(), 202);
    assert_eq!(count(&env, "payments").await, 1, "the refused payment recorded nothing");
}

fn dead_letters(env: &TestEnv, args: &[&str]) -> String {
    let out = env.command(&[&["dead-letters"], args].concat()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Malformed messages and a payment settle cannot apply end in the
/// dead-letter queue, where they can be listed; the relay leaves a
/// dead-lettered payment there instead of re-queueing it again and again;
/// once the cause is fixed, replaying the payment settles it.
#[tokio::test]
async fn poison_messages_are_dead_lettered_left_alone_and_can_be_replayed() {
    let env = TestEnv::new();
    let fast_relay = [("DELIVERY_LIMIT", "3"), ("RELAY_AFTER_SECS", "1"), ("RELAY_INTERVAL_SECS", "1")];
    let app = App::start(&env, &fast_relay).await;
    let publisher = crate::common::publisher(&env).await;
    publisher.publish_raw("payrail.lock", b"not json", Default::default()).await.unwrap();
    publisher.publish_raw("payrail.settle", br#"{"payment_id": 7}"#, Default::default()).await.unwrap();

    // A payment whose settlement the database refuses, whatever settle
    // does: the cause an operator would have to fix.
    let pg = env.pg().await;
    sqlx::raw_sql(
        "CREATE FUNCTION poison() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
           IF NEW.description = 'poison' AND NEW.status <> 'pending' THEN RAISE EXCEPTION 'poisoned'; END IF; \
           RETURN NEW; END $$; \
         CREATE TRIGGER poison BEFORE UPDATE ON payments FOR EACH ROW EXECUTE FUNCTION poison();",
    )
    .execute(&pg)
    .await
    .unwrap();
    let a = app.account("5.00").await;
    let b = app.account("0").await;
    let body = CreatePayment { payment_description: Some("poison".into()), ..payment(&a, &b, "1.00") };
    let accepted = app.accept(&body).await;
    let poisoned = accepted.id.to_string();

    let letters = poll_within(SETTLE_WITHIN, || async {
        let letters: Vec<Value> = serde_json::from_str(&dead_letters(&env, &["list", "--json"])).unwrap();
        if letters.len() >= 3 { Ok(letters) } else { Err(format!("{letters:?}")) }
    })
    .await
    .unwrap_or_else(|letters| panic!("three dead letters expected: {letters}\n{}", app.log_problems()));
    let payment_letter = letters.iter().find(|l| l["payment_id"] == poisoned.as_str()).expect("the payment");
    assert_eq!(payment_letter["queue"], "payrail.settle");
    assert_eq!(payment_letter["reason"], "delivery_limit");
    assert_eq!(letters.iter().filter(|l| l["payment_id"].is_null() && l["reason"] == "rejected").count(), 2);
    assert!(app.log_problems().contains(&format!("payment_id={poisoned}")), "the failure names the payment");

    // The relay runs every second for payments pending over a second: it
    // must not send the dead-lettered payment round again.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let letters: Vec<Value> = serde_json::from_str(&dead_letters(&env, &["list", "--json"])).unwrap();
    assert_eq!(letters.len(), 3, "the relay re-queued a dead-lettered payment: {letters:?}");
    assert_eq!(app.api.get_payment(accepted.id).await.unwrap().status, PaymentStatus::Pending);

    // Fix the cause, then replay just that payment.
    sqlx::raw_sql("DROP TRIGGER poison ON payments").execute(&pg).await.unwrap();
    assert!(dead_letters(&env, &["replay", "--payment-id", &poisoned]).contains("replayed 1 dead letters"));
    let settled = app.wait_terminal(&[poisoned], SETTLE_WITHIN).await;
    assert_eq!(settled[0]["status"], "done");
    assert_eq!(app.balance(&b).await, "1.00");
    let remaining: Vec<Value> = serde_json::from_str(&dead_letters(&env, &["list", "--json"])).unwrap();
    assert_eq!(remaining.len(), 2, "the malformed ones stay: they are no payment");
}

/// SIGTERM under load: intake stops, work in hand is finished and acked,
/// the process exits on its own within the shutdown bound, and after a
/// restart every payment the clients were promised is settled.
#[tokio::test]
async fn sigterm_under_load_loses_nothing() {
    let env = TestEnv::new();
    let mut app = App::start(&env, &[("SHUTDOWN_TIMEOUT_SECS", "10")]).await;
    let mut accounts = Vec::new();
    for _ in 0..4 {
        accounts.push(app.account("500.00").await);
    }
    let traffic = crate::common::Traffic::start(&app.base, &accounts, Duration::from_millis(5));
    let accepted = |n: usize| {
        let traffic = &traffic;
        move || async move {
            let so_far = traffic.accepted_so_far();
            if so_far >= n { Ok(()) } else { Err(format!("{so_far} accepted")) }
        }
    };
    eventually(Duration::from_secs(60), "150 payments accepted", accepted(150)).await;
    let asked = std::time::Instant::now();
    let status = app.terminate();
    assert!(status.success(), "exit status {status:?}\n{}", app.log_problems());
    assert!(asked.elapsed() < Duration::from_secs(12), "took {:?}", asked.elapsed());
    assert!(app.log_text().contains("shutdown requested"));
    app.restart().await;
    eventually(Duration::from_secs(60), "250 payments accepted, across the restart", accepted(250)).await;
    let report = traffic.stop().await;
    crate::common::assert_all_settled(&app, &env, &report).await;
}

/// `/metrics` is open and counts what happened: requests by route and
/// status, payments accepted and settled by outcome, lock attempts, settle
/// batch sizes, pool connections.
#[tokio::test]
async fn metrics_count_requests_payments_and_locks() {
    let env = TestEnv::new();
    let app = App::start(&env, &[]).await;
    let a = app.account("10.00").await;
    let b = app.account("0").await;
    let (_, ok) = app.pay(&a, &b, "4.00").await;
    let (_, too_much) = app.pay(&a, &b, "40.00").await;
    let (status, _) = app.pay(&a, &a, "1.00").await;
    assert_eq!(status, 422);
    let ids = [ok["id"].as_str().unwrap().to_owned(), too_much["id"].as_str().unwrap().to_owned()];
    app.wait_terminal(&ids, SETTLE_WITHIN).await;

    let r = client(None).get(format!("{}/metrics", app.base)).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200, "open without a token");
    let text = r.text().await.unwrap();
    for line in [
        r#"payrail_http_requests_total{route="/api/v1/payment",status="202"} 2"#,
        r#"payrail_http_requests_total{route="/api/v1/payment",status="422"} 1"#,
        r#"payrail_http_requests_total{route="/api/v1/accounts",status="201"} 2"#,
        "payrail_payments_accepted_total 2",
        // One at a time, so each went alone.
        "payrail_intake_group_payments_count 2",
        r#"payrail_payments_settled_total{outcome="done",reason=""} 1"#,
        r#"payrail_payments_settled_total{outcome="failed",reason="insufficient_funds"} 1"#,
    ] {
        assert!(text.lines().any(|l| l == line), "missing {line:?} in:\n{text}");
    }
    for prefix in [
        r#"payrail_lock_attempts_total{outcome="granted"}"#,
        r#"payrail_http_request_duration_seconds_bucket{le="#,
        "payrail_settle_batch_payments_count",
        "payrail_lock_wait_seconds_count",
        r#"payrail_queue_deliveries_total{queue="payrail.lock"}"#,
        r#"payrail_db_connections{pool="primary",state="open"}"#,
    ] {
        assert!(text.contains(prefix), "missing {prefix:?} in:\n{text}");
    }
}
